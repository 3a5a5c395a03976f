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
#include "digest.h"
#include "manifest.h"
#include "unpack.h"
#include "util.h"

struct layers {
	struct ck_manifest m;
	char **diff_ids;
	char **chain;
	size_t n;
};

static void
layers_free(struct layers *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->diff_ids[i]);
		free(l->chain[i]);
	}
	free(l->diff_ids);
	free(l->chain);
	ck_manifest_free(&l->m);
}

static int
read_diff_ids(json_t *cfg, struct layers *l, struct ck_err **errp)
{
	json_t *ids = json_object_get(json_object_get(cfg, "rootfs"),
				      "diff_ids");
	size_t i;

	if (!json_is_array(ids) || json_array_size(ids) != l->m.n_layers)
		return ck_err_setc(errp, CK_E_INVALID, 0,
				   "image config lists %zu diff IDs for %zu "
				   "layers", json_array_size(ids),
				   l->m.n_layers);
	l->diff_ids = ck_xcalloc(l->m.n_layers, sizeof(char *));
	l->chain = ck_xcalloc(l->m.n_layers, sizeof(char *));
	for (i = 0; i < l->m.n_layers; i++) {
		const char *d = json_string_value(json_array_get(ids, i));

		if (d == NULL || ck_digest_check(d, errp) < 0)
			return ck_err_setc(errp, CK_E_INVALID, 0,
					   "image config: invalid diff ID %zu",
					   i + 1);
		l->diff_ids[i] = ck_xstrdup(d);
		if (i == 0) {
			l->chain[i] = ck_xstrdup(d);
		} else {
			char *s = ck_asprintf("%s %s", l->chain[i - 1], d);

			l->chain[i] = ck_sha256_bytes(s, strlen(s));
			free(s);
		}
		l->n = i + 1;
	}
	return 0;
}

static int
load_layers(const struct ck_store *st, const struct ck_image *img,
	    struct layers *l, struct ck_err **errp)
{
	json_t *cfg;
	int rc;

	memset(l, 0, sizeof(*l));
	if (ck_manifest_load(st, img->manifest.digest, &l->m, errp) < 0)
		return ck_err_wrap(errp, "image '%s'", img->name);
	if (l->m.n_layers == 0) {
		layers_free(l);
		return ck_err_setc(errp, CK_E_INVALID, 0,
				   "image '%s' has no layers", img->name);
	}
	cfg = ck_config_load(st, img, errp);
	if (cfg == NULL) {
		layers_free(l);
		return -1;
	}
	rc = read_diff_ids(cfg, l, errp);
	json_decref(cfg);
	if (rc < 0) {
		ck_err_wrap(errp, "image '%s'", img->name);
		layers_free(l);
	}
	return rc;
}

char *
ck_image_chain_id(const struct ck_store *st, const struct ck_image *img,
		  struct ck_err **errp)
{
	struct layers l;
	char *id;

	if (load_layers(st, img, &l, errp) < 0)
		return NULL;
	id = ck_xstrdup(l.chain[l.n - 1]);
	layers_free(&l);
	return id;
}

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
	     struct layers *l, size_t i, struct ck_err **errp)
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
			rc = ck_sn_commit_layers(sn, l->chain[i], key,
						 &l->diff_ids[i], 1, errp);
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
	struct layers l;
	struct ck_snapshot s;
	size_t i;

	memset(res, 0, sizeof(*res));
	if (load_layers(st, img, &l, errp) < 0)
		return -1;
	if (ck_sn_cleanup(sn, errp) < 0) {
		layers_free(&l);
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
			layers_free(&l);
			return ck_err_wrap(errp, "unpack '%s'", img->name);
		}
		res->applied++;
	}
	res->layers = l.n;
	res->chain_id = ck_xstrdup(l.chain[l.n - 1]);
	layers_free(&l);
	return 0;
}

void
ck_unpack_result_free(struct ck_unpack_result *res)
{
	free(res->chain_id);
	memset(res, 0, sizeof(*res));
}
