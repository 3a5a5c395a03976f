/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer application: a tar layer (gzip, zstd or uncompressed, detected
 * from its bytes) applied to a snapshot directory. Every path is resolved
 * inside the directory with openat2 and RESOLVE_IN_ROOT, so no entry can
 * create or change a file outside it.
 */
#ifndef CK_APPLY_H
#define CK_APPLY_H

#include <stdint.h>

#include "err.h"

enum ck_apply_mode {
	/* dir is an empty overlay upper dir over lowers: OCI whiteouts
	 * become overlay whiteouts and opaque directories */
	CK_APPLY_OVERLAY = 1,
	/* dir is a full copy of the parent: whiteouts delete */
	CK_APPLY_PLAIN,
};

struct ck_apply_opts {
	enum ck_apply_mode mode;
	char *const *lowers;	/* overlay: the parents' dirs, nearest first,
				   NULL-terminated */
	const char *digest;	/* expected blob digest, or NULL */
	const char *diff_id;	/* expected uncompressed digest, or NULL */
};

struct ck_apply_stats {
	int64_t entries;
	int64_t bytes;		/* uncompressed tar bytes */
};

/*
 * Applies the layer blob at path to the directory dir. Fails when the
 * blob or its uncompressed stream does not hash to the expected digest;
 * the caller then removes dir, which may hold part of the layer.
 */
int ck_apply_layer(const char *path, const char *dir,
		   const struct ck_apply_opts *o, struct ck_apply_stats *stats,
		   struct ck_err **errp);

#endif
