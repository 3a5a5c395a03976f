/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crun-task run and delete. run makes, in this order, the container
 * record, its writable snapshot, the bundle with the mounted root
 * filesystem and config.json, then the task; delete undoes them in the
 * reverse order and tolerates any of them missing, so a run killed at
 * any point is cleaned up by `crun-task delete ID`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container.h"
#include "manifest.h"
#include "snapshot.h"
#include "task.h"
#include "unpack.h"
#include "util.h"

void
bundle_init(struct bundle *b, const char *ns, const char *id)
{
	b->dir = ck_asprintf("%s/%s/%s", ck_state_dir(), ns, id);
	b->rootfs = ck_asprintf("%s/rootfs", b->dir);
	b->runtime_root = ck_asprintf("%s/runc/%s", ck_state_dir(), ns);
}

void
bundle_free(struct bundle *b)
{
	free(b->dir);
	free(b->rootfs);
	free(b->runtime_root);
	memset(b, 0, sizeof(*b));
}

static char *
snapshot_key(const struct ck_store *st, const char *id)
{
	return ck_asprintf("%s/%s", st->ns, id);
}

static json_t *
load_spec_file(const char *path, struct ck_err **errp)
{
	json_error_t jerr;
	json_t *spec = strcmp(path, "-") == 0 ?
		json_loadf(stdin, 0, &jerr) : json_load_file(path, 0, &jerr);

	if (spec == NULL || !json_is_object(spec)) {
		json_decref(spec);
		ck_err_setc(errp, CK_E_INVALID, 0, "invalid spec '%s': %d:%d: "
			    "%s", path, jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	return spec;
}

/* Writes config.json: the given spec file or one built from the image;
 * either way the root is the mounted snapshot. */
static int
write_config(struct task_opts *o, const struct ck_store *st,
	     const struct ck_image *img, const struct bundle *b,
	     struct ck_err **errp)
{
	json_t *spec, *cfg;
	char *path, *text;
	int rc;

	if (o->spec_file) {
		spec = load_spec_file(o->spec_file, errp);
	} else {
		cfg = ck_config_load(st, img, errp);
		spec = cfg ? ck_spec_build(cfg, b->rootfs, &o->spec, errp) :
			NULL;
		json_decref(cfg);
	}
	if (spec == NULL)
		return -1;
	json_object_set_new(spec, "root", json_pack("{s:s, s:b}", "path",
			    b->rootfs, "readonly", o->spec.read_only));
	o->terminal = json_is_true(json_object_get(
		json_object_get(spec, "process"), "terminal"));
	path = ck_asprintf("%s/config.json", b->dir);
	text = json_dumps(spec, JSON_INDENT(1));
	rc = ck_write_file_atomic(path, text, strlen(text), 0644, errp);
	free(text);
	free(path);
	json_decref(spec);
	return rc;
}

static int
make_bundle(const struct ck_snapshotter *sn, const char *key,
	    const struct bundle *b, struct ck_err **errp)
{
	if (ck_mkdir_p(b->runtime_root, 0700, errp) < 0 ||
	    ck_mkdir_p(b->dir, 0700, errp) < 0)
		return -1;
	if (mkdir(b->rootfs, 0755) < 0 && errno != EEXIST)
		return ck_err_set(errp, errno, "mkdir '%s'", b->rootfs);
	return ck_sn_mount(sn, key, b->rootfs, errp);
}

static int
prepare(struct task_opts *o, const struct ck_store *st,
	const struct ck_snapshotter *sn, const struct bundle *b,
	struct ck_err **errp)
{
	struct ck_container c = { 0 };
	struct ck_unpack_result res;
	struct ck_image img;
	char *key = snapshot_key(st, o->id);
	int rc = -1;

	if (ck_image_resolve(st, o->image, &img, errp) < 0) {
		free(key);
		return -1;
	}
	if (ck_unpack_image(st, sn, &img, NULL, NULL, &res, errp) < 0)
		goto out;
	c.id = (char *)o->id;
	c.image = img.name;
	c.snapshotter = sn->name;
	c.snapshot_key = key;
	c.runtime = (char *)o->runtime;
	c.created = ck_now_rfc3339();
	rc = ck_container_create(st, &c, errp);
	free(c.created);
	if (rc == 0)
		rc = ck_sn_prepare(sn, key, res.chain_id, CK_SNAP_ACTIVE, NULL,
				   errp);
	if (rc == 0)
		rc = make_bundle(sn, key, b, errp);
	if (rc == 0)
		rc = write_config(o, st, &img, b, errp);
	ck_unpack_result_free(&res);
out:
	ck_image_free(&img);
	free(key);
	return rc;
}

static void
remove_bundle(const struct bundle *b)
{
	if (umount2(b->rootfs, MNT_DETACH) < 0 && errno != EINVAL &&
	    errno != ENOENT)
		ck_log(CK_LOG_WARNING, "unmount '%s': %s", b->rootfs,
		       strerror(errno));
	ck_rm_rf(b->dir, NULL);
}

/* Removes what run made for the container, newest first. */
static int
cleanup(const struct task_opts *o, const struct ck_store *st,
	const struct ck_snapshotter *sn, const struct bundle *b, int all,
	struct ck_err **errp)
{
	struct ck_snapshot s;
	char *key = snapshot_key(st, o->id);
	int rc = 0;

	task_runtime_delete(o, b);
	remove_bundle(b);
	if (all && ck_sn_stat(sn, key, &s, NULL) == 0) {
		ck_snapshot_free(&s);
		rc = ck_sn_remove(sn, key, errp);
	}
	if (all && rc == 0)
		rc = ck_container_remove(st, o->id, errp);
	free(key);
	return rc;
}

static int
open_all(const struct task_opts *o, struct ck_store *st,
	 struct ck_snapshotter *sn, struct ck_err **errp)
{
	if (ck_container_id_check(o->id, errp) < 0 ||
	    ck_store_open(st, o->root, o->ns, errp) < 0)
		return -1;
	if (ck_sn_open(sn, st, o->snapshotter, errp) < 0) {
		ck_store_close(st);
		return -1;
	}
	return 0;
}

int
task_run(struct task_opts *o, struct ck_err **errp)
{
	struct ck_store st;
	struct ck_snapshotter sn;
	struct bundle b;
	int status = -1, code = EXIT_TASK_FAILED, made;

	if (open_all(o, &st, &sn, errp) < 0)
		return -EXIT_TASK_FAILED;
	o->spec.ns = st.ns;
	o->spec.id = o->id;
	if (o->spec.hostname == NULL)
		o->spec.hostname = o->id;
	bundle_init(&b, st.ns, o->id);
	made = prepare(o, &st, &sn, &b, errp);
	if (made == 0)
		status = task_exec(o, &b, &code, errp);
	/* A failed run never leaves a half-made container behind; a
	 * record made by an earlier run is not this run's to remove. */
	if (made < 0 && ck_err_code(*errp) == CK_E_EXISTS) {
		bundle_free(&b);
		ck_sn_close(&sn);
		ck_store_close(&st);
		return -EXIT_TASK_FAILED;
	}
	cleanup(o, &st, &sn, &b, o->rm || status < 0, NULL);
	if (status < 0)
		ck_err_wrap(errp, "run container '%s'", o->id);
	bundle_free(&b);
	ck_sn_close(&sn);
	ck_store_close(&st);
	return status < 0 ? -code : status;
}

int
task_delete(const struct task_opts *o, struct ck_err **errp)
{
	struct ck_store st;
	struct ck_snapshotter sn;
	struct ck_container c;
	struct bundle b;
	int rc;

	if (open_all(o, &st, &sn, errp) < 0)
		return -1;
	rc = ck_container_get(&st, o->id, &c, errp);
	if (rc == 0) {
		bundle_init(&b, st.ns, o->id);
		rc = cleanup(o, &st, &sn, &b, 1, errp);
		bundle_free(&b);
		ck_container_free(&c);
	}
	if (rc < 0)
		ck_err_wrap(errp, "delete container '%s'", o->id);
	ck_sn_close(&sn);
	ck_store_close(&st);
	return rc;
}
