/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer application: a tar layer (gzip, zstd or uncompressed) applied to
 * an overlayfs upper directory, with OCI whiteouts turned into overlay
 * whiteouts. Every path is resolved inside the directory with openat2 and
 * RESOLVE_IN_ROOT, so no entry can create or change a file outside it.
 */
#ifndef CK_APPLY_H
#define CK_APPLY_H

#include <stdint.h>

#include "err.h"

struct ck_apply_stats {
	int64_t entries;
	int64_t bytes;	/* uncompressed tar bytes */
};

/*
 * Applies the layer blob at path to the directory dir, whose parent
 * layers' directories are lowers (nearest first, NULL-terminated). Fails
 * when the uncompressed stream does not hash to diff_id.
 */
int ck_apply_layer(const char *path, const char *dir, char *const *lowers,
		   const char *diff_id, struct ck_apply_stats *stats,
		   struct ck_err **errp);

#endif
