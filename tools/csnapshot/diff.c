/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csnapshot diff: the layer a snapshot adds to its parent, written to a
 * file and/or into the content store. A blob enters the store as any
 * blob does: staged after its digest is known, then committed by rename.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "csnapshot.h"
#include "util.h"

/* Copies the finished layer file into the content store. */
static int
store_blob(struct ctx *c, int fd, const struct ck_diff_result *res,
	   struct ck_err **errp)
{
	struct ck_ingest *in;
	char *buf;
	ssize_t n = 0;
	int ready = 0, rc = 0;

	in = ck_ingest_open(&c->st, res->digest, res->size, &ready, errp);
	if (in == NULL)
		return ready ? 0 : -1;
	buf = ck_xmalloc(1 << 20);
	if (lseek(fd, 0, SEEK_SET) < 0)
		rc = ck_err_set(errp, errno, "seek");
	while (rc == 0 && (n = read(fd, buf, 1 << 20)) > 0)
		rc = ck_ingest_write(in, buf, (size_t)n, errp);
	free(buf);
	if (rc == 0 && n < 0)
		rc = ck_err_set(errp, errno, "read the layer");
	if (rc < 0) {
		ck_ingest_abort(in);
		return -1;
	}
	if (ck_ingest_close(in, errp) < 0)
		return -1;
	return ck_store_commit(&c->st, res->digest, errp);
}

/* Opens where the layer goes: -o's file, or an unlinked temporary file
 * in the store's ingest directory when only --store is given. */
static int
open_output(struct ctx *c, struct ck_err **errp)
{
	char *dir;
	int fd;

	if (c->o->output) {
		fd = open(c->o->output, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
			  0644);
		if (fd < 0)
			ck_err_set(errp, errno, "create '%s'", c->o->output);
		return fd;
	}
	dir = ck_asprintf("%s/ingest", c->st.content);
	if (ck_mkdir_p(dir, 0700, errp) < 0) {
		free(dir);
		return -1;
	}
	fd = open(dir, O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
	if (fd < 0)
		ck_err_set(errp, errno, "create a temporary file in '%s'", dir);
	free(dir);
	return fd;
}

static void
print_result(const struct options *o, const struct ck_diff_result *res)
{
	json_t *j;

	if (!o->json) {
		printf("%s\t%s\n", res->digest, res->diff_id);
		return;
	}
	j = json_pack("{s:s, s:s, s:s, s:I}", "digest", res->digest,
		      "diff_id", res->diff_id, "media_type", res->media_type,
		      "size", (json_int_t)res->size);
	ck_cli_print_json(j);
	json_decref(j);
}

/* Stores the fs dir of the parent of s in *dir, or NULL when s has no
 * parent. */
static int
parent_dir(struct ctx *c, const struct ck_snapshot *s, char **dir,
	   struct ck_err **errp)
{
	struct ck_snapshot p;

	*dir = NULL;
	if (s->parent == NULL)
		return 0;
	if (ck_sn_stat(&c->sn, s->parent, &p, errp) < 0)
		return ck_err_wrap(errp, "parent of '%s'", s->key);
	*dir = ck_sn_fs_dir(&c->sn, &p);
	ck_snapshot_free(&p);
	return 0;
}

int
cmd_diff(struct ctx *c, struct ck_err **errp)
{
	struct ck_diff_result res = { 0 };
	struct ck_snapshot s;
	char *dir = NULL, *parent = NULL;
	int fd = -1, rc;

	if (ck_sn_stat(&c->sn, c->o->args[1], &s, errp) < 0)
		return -1;
	rc = parent_dir(c, &s, &parent, errp);
	dir = ck_sn_fs_dir(&c->sn, &s);
	if (rc == 0)
		fd = open_output(c, errp);
	if (fd >= 0)
		rc = ck_diff_write(dir, parent, c->sn.type == CK_SN_OVERLAY,
				   fd, c->o->compress, &res, errp);
	else
		rc = -1;
	/* fsync of a device or pipe (-o /dev/null) fails with EINVAL. */
	if (rc == 0 && c->o->output && fsync(fd) < 0 && errno != EINVAL)
		rc = ck_err_set(errp, errno, "fsync '%s'", c->o->output);
	if (rc == 0 && c->o->store)
		rc = store_blob(c, fd, &res, errp);
	if (rc == 0)
		print_result(c->o, &res);
	else
		ck_err_wrap(errp, "diff '%s'", s.key);
	if (fd >= 0)
		close(fd);
	ck_diff_result_free(&res);
	ck_snapshot_free(&s);
	free(parent);
	free(dir);
	return rc;
}
