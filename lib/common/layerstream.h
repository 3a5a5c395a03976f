/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decompression of a layer blob on a thread of its own, so that the next
 * chunk is decompressed while the caller applies the current one. The
 * format is taken from the first bytes (gzip, zstd or plain tar), not
 * from the media type. Both the blob and the uncompressed stream are
 * hashed, so the caller can check the layer's digest and diff ID.
 */
#ifndef CK_LAYERSTREAM_H
#define CK_LAYERSTREAM_H

#include <stdint.h>
#include <sys/types.h>

#include "err.h"

enum ck_stream_format {
	CK_STREAM_TAR = 1,
	CK_STREAM_GZIP,
	CK_STREAM_ZSTD,
};

struct ck_layer_stream;

/* Opens the blob at path and starts its decompression thread. */
struct ck_layer_stream *ck_layer_stream_open(const char *path,
					     struct ck_err **errp);
/*
 * Returns the length of the next chunk of uncompressed bytes and points
 * *buf at it, 0 at the end of the stream, or -1. The chunk stays valid
 * until the next call.
 */
ssize_t ck_layer_stream_read(struct ck_layer_stream *ls, const void **buf,
			     struct ck_err **errp);
/* Reads the rest of the stream and returns the blob's digest, the
 * uncompressed stream's digest (the diff ID) and its length. */
int ck_layer_stream_finish(struct ck_layer_stream *ls, char **digest,
			   char **diff_id, int64_t *size,
			   struct ck_err **errp);
enum ck_stream_format ck_layer_stream_format(struct ck_layer_stream *ls);
/* Stops the thread, if it still runs, and frees ls. */
void ck_layer_stream_free(struct ck_layer_stream *ls);

#endif
