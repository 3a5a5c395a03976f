/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image unpacking. Each layer is applied into an "extract-" snapshot that
 * its writer holds locked, then committed under its chain ID; a layer
 * already committed is skipped. A killed unpack leaves only an unlocked
 * extract snapshot, which the next unpack removes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "layers.h"
#include "digest.h"
#include "manifest.h"
#include "unpack.h"
#include "util.h"

static int
apply_into(const struct ck_store *st, const struct ck_snapshotter *sn,
	   const char *key, const struct ck_descriptor *layer,
	   const char *diff_id, struct ck_err **errp)
{
	struct ck_apply_opts opts = { 0 };
	struct ck_snapshot s;
	char **lowers, *dir, *blob;
	int rc, fd;

	if (ck_layer_compression(layer->media_type) == CK_COMP_UNKNOWN)
		return ck_err_setc(errp, CK_E_INVALID, 0,
				   "unsupported layer media type '%s'",
				   layer->media_type);
	if (!ck_store_blob_exists(st, layer->digest))
		return ck_err_setc(errp, CK_E_NOTFOUND, 0, "blob is not in "
				   "the store; pull the image again");
	if (ck_sn_stat(sn, key, &s, errp) < 0)
		return -1;
	lowers = ck_sn_lowers(sn, key, errp);
	if (lowers == NULL) {
		ck_snapshot_free(&s);
		return -1;
	}
	dir = ck_sn_fs_dir(sn, &s);
	blob = ck_store_blob_path(st, layer->digest);
	opts.mode = sn->type == CK_SN_OVERLAY ? CK_APPLY_OVERLAY :
		CK_APPLY_PLAIN;
	opts.lowers = lowers;
	opts.digest = layer->digest;
	opts.diff_id = diff_id;
	rc = ck_apply_layer(blob, dir, &opts, NULL, errp);
	if (rc == 0 && !sn->no_sync) {
		/* The layer must be on disk before its snapshot is
		 * committed, or a crash could leave a committed,
		 * incomplete layer. */
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || syncfs(fd) < 0)
			rc = ck_err_set(errp, errno, "sync '%s'", dir);
		if (fd >= 0)
			close(fd);
	}
	free(blob);
	free(dir);
	ck_strv_free(lowers);
	ck_snapshot_free(&s);
	return rc;
}

static int
unpack_layer(const struct ck_store *st, const struct ck_snapshotter *sn,
	     struct ck_layers *l, size_t i, struct ck_err **errp)
{
	char *rnd = ck_random_hex(4);
	char *key = ck_asprintf("extract-%d-%s %s", (int)getpid(), rnd,
				l->chain[i]);
	int lock = -1, rc;

	free(rnd);
	rc = ck_sn_prepare(sn, key, i ? l->chain[i - 1] : NULL,
			   CK_SNAP_ACTIVE, &lock, errp);
	if (rc == 0) {
		rc = apply_into(st, sn, key, &l->m.layers[i],
				l->diff_ids[i], errp);
		if (rc == 0)
			rc = ck_sn_commit(sn, l->chain[i], key, errp);
		else
			ck_sn_remove(sn, key, NULL);
	}
	ck_unlock(lock);
	free(key);
	if (rc < 0)
		ck_err_wrap(errp, "layer %zu '%s'", i + 1,
			    l->m.layers[i].digest);
	return rc;
}

int
ck_unpack_image(const struct ck_store *st, const struct ck_snapshotter *sn,
		const struct ck_image *img, ck_unpack_progress_fn progress,
		void *arg, struct ck_unpack_result *res, struct ck_err **errp)
{
	struct ck_layers l;
	struct ck_snapshot s;
	size_t i;

	memset(res, 0, sizeof(*res));
	if (ck_layers_load(st, img, &l, errp) < 0)
		return -1;
	if (ck_sn_cleanup(sn, errp) < 0) {
		ck_layers_free(&l);
		return -1;
	}
	for (i = 0; i < l.n; i++) {
		if (ck_sn_stat(sn, l.chain[i], &s, NULL) == 0) {
			ck_snapshot_free(&s);
			continue;
		}
		if (progress)
			progress(i, l.n, l.m.layers[i].digest, arg);
		if (unpack_layer(st, sn, &l, i, errp) < 0) {
			ck_layers_free(&l);
			return ck_err_wrap(errp, "unpack '%s'", img->name);
		}
		res->applied++;
	}
	res->layers = l.n;
	res->chain_id = ck_xstrdup(l.chain[l.n - 1]);
	ck_layers_free(&l);
	return 0;
}

void
ck_unpack_result_free(struct ck_unpack_result *res)
{
	free(res->chain_id);
	memset(res, 0, sizeof(*res));
}
