/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layers, diff IDs and chain IDs of an image in the store.
 */
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "layers.h"
#include "util.h"

void
ck_layers_free(struct ck_layers *l)
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
read_diff_ids(json_t *cfg, struct ck_layers *l, struct ck_err **errp)
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

		if (d == NULL)
			return ck_err_setc(errp, CK_E_INVALID, 0,
					   "image config: diff ID %zu is not a "
					   "string", i + 1);
		if (ck_digest_check(d, errp) < 0)
			return ck_err_wrap(errp, "image config: diff ID %zu",
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

int
ck_layers_load(const struct ck_store *st, const struct ck_image *img,
	    struct ck_layers *l, struct ck_err **errp)
{
	json_t *cfg;
	int rc;

	memset(l, 0, sizeof(*l));
	if (ck_manifest_load(st, img->manifest.digest, &l->m, errp) < 0)
		return ck_err_wrap(errp, "image '%s'", img->name);
	if (l->m.n_layers == 0) {
		ck_layers_free(l);
		return ck_err_setc(errp, CK_E_INVALID, 0,
				   "image '%s' has no layers", img->name);
	}
	cfg = ck_config_load(st, img, errp);
	if (cfg == NULL) {
		ck_layers_free(l);
		return -1;
	}
	rc = read_diff_ids(cfg, l, errp);
	json_decref(cfg);
	if (rc < 0) {
		ck_err_wrap(errp, "image '%s'", img->name);
		ck_layers_free(l);
	}
	return rc;
}

char *
ck_image_chain_id(const struct ck_store *st, const struct ck_image *img,
		  struct ck_err **errp)
{
	struct ck_layers l;
	char *id;

	if (ck_layers_load(st, img, &l, errp) < 0)
		return NULL;
	id = ck_xstrdup(l.chain[l.n - 1]);
	ck_layers_free(&l);
	return id;
}

