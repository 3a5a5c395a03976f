/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer diffs, the inverse of layer application: an OCI layer tar of
 * what a snapshot changes on its parent. An overlay upper dir is read
 * as it is, and its overlay whiteouts and opaque dirs become OCI
 * whiteouts. A full tree (btrfs, native) is compared with its parent's.
 */
#ifndef CK_DIFF_H
#define CK_DIFF_H

#include <stdint.h>

#include "err.h"

enum ck_diff_compression {
	CK_DIFF_NONE = 1,
	CK_DIFF_GZIP,
	CK_DIFF_ZSTD,
};

struct ck_diff_result {
	char *digest;		/* of the blob as written */
	char *diff_id;		/* of the uncompressed tar */
	int64_t size;		/* blob bytes */
	const char *media_type;
};

/*
 * Writes the layer of dir to fd. With upper set, dir is an overlay upper
 * dir. Otherwise dir is a full tree compared with parent, which is NULL
 * for a snapshot without a parent.
 */
int ck_diff_write(const char *dir, const char *parent, int upper, int fd,
		  enum ck_diff_compression comp, struct ck_diff_result *res,
		  struct ck_err **errp);
void ck_diff_result_free(struct ck_diff_result *res);

#endif
