/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An image's layers with their diff IDs and chain IDs, read from its
 * manifest and config in the store. Kept apart from the unpacker so that
 * tools that only need chain IDs do not link the layer applier.
 */
#ifndef CK_LAYERS_H
#define CK_LAYERS_H

#include "manifest.h"
#include "store.h"

struct ck_layers {
	struct ck_manifest m;
	char **diff_ids;
	char **chain;
	size_t n;
};

int ck_layers_load(const struct ck_store *st, const struct ck_image *img,
		   struct ck_layers *l, struct ck_err **errp);
void ck_layers_free(struct ck_layers *l);
/* Computes the chain ID of an image's top layer without unpacking. */
char *ck_image_chain_id(const struct ck_store *st, const struct ck_image *img,
			struct ck_err **errp);

#endif
