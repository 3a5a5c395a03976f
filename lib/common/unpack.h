/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unpacking an image: its layers applied in order into committed
 * snapshots keyed by chain ID, shared by every image with the same layers.
 * A flattened unpack commits one snapshot for all the missing layers.
 */
#ifndef CK_UNPACK_H
#define CK_UNPACK_H

#include "err.h"
#include "snapshot.h"
#include "store.h"

struct ck_unpack_result {
	char *chain_id;		/* the top layer's chain ID */
	size_t layers;
	size_t applied;		/* layers above the deepest one unpacked */
};

/* Called before each layer is applied; i counts from 0. */
typedef void (*ck_unpack_progress_fn)(size_t i, size_t n, const char *digest,
				      void *arg);

/* Unpacks img into sn, flattened or not as sn->flatten sets, and fails
 * with CK_E_INVALID when CK_FLATTEN_ON is set on overlayfs. */
int ck_unpack_image(const struct ck_store *st, const struct ck_snapshotter *sn,
		    const struct ck_image *img, ck_unpack_progress_fn progress,
		    void *arg, struct ck_unpack_result *res,
		    struct ck_err **errp);
void ck_unpack_result_free(struct ck_unpack_result *res);
/* Makes sure the image is unpacked, running the cunpack binary when it
 * is not, and sets *chain_id to its top layer's chain ID. With quiet,
 * cunpack shows no progress. */
int ck_unpack_with_tool(const struct ck_store *st,
			const struct ck_snapshotter *sn,
			const struct ck_image *img, int quiet, char **chain_id,
			struct ck_err **errp);

#endif
