/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer decompression on a producer thread. The producer fills a ring of
 * NCHUNKS buffers and the consumer (the tar reader) uses at most one of
 * them at a time, so the producer never writes a buffer that the
 * consumer still reads. gzip is inflated with ISA-L's streaming igzip,
 * which inflated the Debian bookworm layer about twice as fast as zlib
 * (bench/inflate.c), and zstd with libzstd.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "digest.h"
#include "layerstream.h"
#include "util.h"

#define NCHUNKS 4
#define CHUNK_SIZE (1024 * 1024)
#define IN_SIZE (256 * 1024)

struct decoder {
	enum ck_stream_format format;
	struct inflate_state *gz;
	ZSTD_DCtx *zstd;
	size_t zstd_left;	/* last ZSTD_decompressStream hint */
	int zstd_full;		/* its last call filled the output */
	unsigned char *in;
	size_t in_len;
	size_t in_pos;
	int eof;		/* the blob is read to its end */
	int ended;		/* no more output */
};

struct ck_layer_stream {
	int fd;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *chunks[NCHUNKS];
	size_t lens[NCHUNKS];
	unsigned head;		/* next chunk for the consumer */
	unsigned tail;		/* next chunk for the producer */
	int held;		/* the consumer holds chunks[head] */
	int done;		/* the producer has stopped */
	int cancel;
	struct ck_err *err;	/* the producer's error */
	struct decoder dec;
	struct ck_sha256 *blob_hash;
	struct ck_sha256 *tar_hash;
	int64_t tar_bytes;
};

static int
read_input(struct ck_layer_stream *ls, struct ck_err **errp)
{
	struct decoder *d = &ls->dec;
	ssize_t n;

	do
		n = read(ls->fd, d->in, IN_SIZE);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return ck_err_set(errp, errno, "read layer blob");
	ck_sha256_update(ls->blob_hash, d->in, (size_t)n);
	d->in_len = (size_t)n;
	d->in_pos = 0;
	if (n == 0)
		d->eof = 1;
	return 0;
}

/* Hashes whatever follows the compressed stream, which the blob digest
 * covers but the tar does not. */
static int
drain_input(struct ck_layer_stream *ls, struct ck_err **errp)
{
	while (!ls->dec.eof)
		if (read_input(ls, errp) < 0)
			return -1;
	ls->dec.ended = 1;
	return 0;
}

static int
decode_tar(struct ck_layer_stream *ls, char *out, size_t space, size_t *got,
	   struct ck_err **errp)
{
	struct decoder *d = &ls->dec;
	size_t n = d->in_len - d->in_pos;
	ssize_t r;

	if (n > 0) {
		n = n < space ? n : space;
		memcpy(out, d->in + d->in_pos, n);
		d->in_pos += n;
		*got = n;
		return 0;
	}
	do
		r = read(ls->fd, out, space);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return ck_err_set(errp, errno, "read layer blob");
	ck_sha256_update(ls->blob_hash, out, (size_t)r);
	*got = (size_t)r;
	if (r == 0)
		d->eof = d->ended = 1;
	return 0;
}

/* Starts the next gzip member, as gzip -d does for concatenated files,
 * or ends the stream when no member follows. */
static int
next_gzip_member(struct ck_layer_stream *ls, struct ck_err **errp)
{
	struct decoder *d = &ls->dec;

	if (d->in_pos == d->in_len && read_input(ls, errp) < 0)
		return -1;
	if (d->in_len - d->in_pos >= 2 && d->in[d->in_pos] == 0x1f &&
	    d->in[d->in_pos + 1] == 0x8b) {
		isal_inflate_reset(d->gz);
		d->gz->crc_flag = ISAL_GZIP;
		return 0;
	}
	return drain_input(ls, errp);
}

static int
decode_gzip(struct ck_layer_stream *ls, char *out, size_t space,
	    size_t *got, struct ck_err **errp)
{
	struct decoder *d = &ls->dec;
	struct inflate_state *s = d->gz;
	int r;

	if (d->in_pos == d->in_len && !d->eof && read_input(ls, errp) < 0)
		return -1;
	s->next_in = d->in + d->in_pos;
	s->avail_in = (uint32_t)(d->in_len - d->in_pos);
	s->next_out = (unsigned char *)out;
	s->avail_out = (uint32_t)space;
	r = isal_inflate(s);
	d->in_pos = d->in_len - s->avail_in;
	*got = space - s->avail_out;
	if (r < 0)
		return ck_err_set(errp, 0, "invalid gzip data (igzip error "
				  "%d)", r);
	if (s->block_state == ISAL_BLOCK_FINISH)
		return next_gzip_member(ls, errp);
	if (d->eof && *got == 0 && d->in_pos == d->in_len)
		return ck_err_set(errp, 0, "unexpected end of gzip data");
	return 0;
}

static int
decode_zstd(struct ck_layer_stream *ls, char *out, size_t space,
	    size_t *got, struct ck_err **errp)
{
	struct decoder *d = &ls->dec;
	ZSTD_inBuffer in;
	ZSTD_outBuffer o = { out, space, 0 };
	size_t r;

	if (d->in_pos == d->in_len && !d->eof && read_input(ls, errp) < 0)
		return -1;
	if (d->in_pos == d->in_len && d->eof && !d->zstd_full) {
		if (d->zstd_left != 0)
			return ck_err_set(errp, 0,
					  "unexpected end of zstd data");
		d->ended = 1;
		*got = 0;
		return 0;
	}
	in.src = d->in;
	in.size = d->in_len;
	in.pos = d->in_pos;
	r = ZSTD_decompressStream(d->zstd, &o, &in);
	if (ZSTD_isError(r))
		return ck_err_set(errp, 0, "invalid zstd data: %s",
				  ZSTD_getErrorName(r));
	d->zstd_left = r;
	d->zstd_full = o.pos == o.size;
	d->in_pos = in.pos;
	*got = o.pos;
	return 0;
}

/* Fills one chunk; returns its length in *len, and 1 once the stream
 * has ended, 0 while it goes on, -1 on error. */
static int
fill_chunk(struct ck_layer_stream *ls, char *out, size_t *len,
	   struct ck_err **errp)
{
	struct decoder *d = &ls->dec;
	size_t n = 0, got;
	int r = 0;

	while (n < CHUNK_SIZE && !d->ended && r == 0 && !ls->cancel) {
		got = 0;
		if (d->format == CK_STREAM_GZIP)
			r = decode_gzip(ls, out + n, CHUNK_SIZE - n, &got, errp);
		else if (d->format == CK_STREAM_ZSTD)
			r = decode_zstd(ls, out + n, CHUNK_SIZE - n, &got, errp);
		else
			r = decode_tar(ls, out + n, CHUNK_SIZE - n, &got, errp);
		n += got;
	}
	ck_sha256_update(ls->tar_hash, out, n);
	ls->tar_bytes += (int64_t)n;
	*len = n;
	return r < 0 ? -1 : d->ended;
}

static void *
produce(void *arg)
{
	struct ck_layer_stream *ls = arg;
	struct ck_err *err = NULL;
	unsigned slot;
	size_t len = 0;
	int r;

	do {
		pthread_mutex_lock(&ls->mu);
		while (ls->tail - ls->head == NCHUNKS && !ls->cancel)
			pthread_cond_wait(&ls->cv, &ls->mu);
		slot = ls->tail % NCHUNKS;
		pthread_mutex_unlock(&ls->mu);
		r = ls->cancel ? 1 : fill_chunk(ls, ls->chunks[slot], &len,
						&err);

		pthread_mutex_lock(&ls->mu);
		if (r >= 0 && !ls->cancel && len > 0) {
			ls->lens[slot] = len;
			ls->tail++;
		}
		if (r != 0) {
			ls->done = 1;
			ls->err = err;
		}
		pthread_cond_broadcast(&ls->cv);
		pthread_mutex_unlock(&ls->mu);
	} while (r == 0);
	return NULL;
}

static int
init_decoder(struct ck_layer_stream *ls, struct ck_err **errp)
{
	struct decoder *d = &ls->dec;
	const unsigned char *m;

	d->in = ck_xmalloc(IN_SIZE);
	m = d->in;
	if (read_input(ls, errp) < 0)
		return -1;
	if (d->in_len >= 2 && m[0] == 0x1f && m[1] == 0x8b) {
		d->format = CK_STREAM_GZIP;
		d->gz = ck_xmalloc(sizeof(*d->gz));
		isal_inflate_init(d->gz);
		d->gz->crc_flag = ISAL_GZIP;
	} else if (d->in_len >= 4 && m[0] == 0x28 && m[1] == 0xb5 &&
		   m[2] == 0x2f && m[3] == 0xfd) {
		d->format = CK_STREAM_ZSTD;
		d->zstd = ZSTD_createDCtx();
		if (d->zstd == NULL)
			return ck_err_set(errp, ENOMEM, "zstd");
	} else {
		d->format = CK_STREAM_TAR;
	}
	return 0;
}

struct ck_layer_stream *
ck_layer_stream_open(const char *path, struct ck_err **errp)
{
	struct ck_layer_stream *ls = ck_xcalloc(1, sizeof(*ls));
	size_t i;
	int r;

	pthread_mutex_init(&ls->mu, NULL);
	pthread_cond_init(&ls->cv, NULL);
	ls->blob_hash = ck_sha256_new();
	ls->tar_hash = ck_sha256_new();
	ls->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ls->fd < 0) {
		ck_err_set(errp, errno, "open '%s'", path);
		ck_layer_stream_free(ls);
		return NULL;
	}
	posix_fadvise(ls->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (i = 0; i < NCHUNKS; i++)
		ls->chunks[i] = ck_xmalloc(CHUNK_SIZE);
	if (init_decoder(ls, errp) < 0) {
		ck_layer_stream_free(ls);
		return NULL;
	}
	r = pthread_create(&ls->thread, NULL, produce, ls);
	if (r != 0) {
		ck_err_set(errp, r, "start the decompression thread");
		ck_layer_stream_free(ls);
		return NULL;
	}
	ls->started = 1;
	return ls;
}

ssize_t
ck_layer_stream_read(struct ck_layer_stream *ls, const void **buf,
		     struct ck_err **errp)
{
	ssize_t n = 0;

	pthread_mutex_lock(&ls->mu);
	if (ls->held) {
		ls->head++;
		ls->held = 0;
		pthread_cond_broadcast(&ls->cv);
	}
	while (ls->head == ls->tail && !ls->done)
		pthread_cond_wait(&ls->cv, &ls->mu);
	if (ls->head != ls->tail) {
		ls->held = 1;
		*buf = ls->chunks[ls->head % NCHUNKS];
		n = (ssize_t)ls->lens[ls->head % NCHUNKS];
	} else if (ls->err != NULL) {
		n = ck_err_set(errp, ls->err->errnum, "%s", ls->err->msg);
	}
	pthread_mutex_unlock(&ls->mu);
	return n;
}

int
ck_layer_stream_finish(struct ck_layer_stream *ls, char **digest,
		       char **diff_id, int64_t *size, struct ck_err **errp)
{
	const void *buf;
	ssize_t n;

	while ((n = ck_layer_stream_read(ls, &buf, errp)) > 0)
		;
	if (n < 0)
		return -1;
	pthread_join(ls->thread, NULL);
	ls->started = 0;
	*digest = ck_sha256_final(ls->blob_hash);
	*diff_id = ck_sha256_final(ls->tar_hash);
	ls->blob_hash = ls->tar_hash = NULL;
	*size = ls->tar_bytes;
	return 0;
}

enum ck_stream_format
ck_layer_stream_format(struct ck_layer_stream *ls)
{
	return ls->dec.format;
}

void
ck_layer_stream_free(struct ck_layer_stream *ls)
{
	size_t i;

	if (ls == NULL)
		return;
	if (ls->started) {
		pthread_mutex_lock(&ls->mu);
		ls->cancel = 1;
		pthread_cond_broadcast(&ls->cv);
		pthread_mutex_unlock(&ls->mu);
		pthread_join(ls->thread, NULL);
	}
	if (ls->fd >= 0)
		close(ls->fd);
	for (i = 0; i < NCHUNKS; i++)
		free(ls->chunks[i]);
	free(ls->dec.in);
	free(ls->dec.gz);
	ZSTD_freeDCtx(ls->dec.zstd);
	ck_err_free(&ls->err);
	/* ck_sha256_final is the only way to free a hash. */
	if (ls->blob_hash)
		free(ck_sha256_final(ls->blob_hash));
	if (ls->tar_hash)
		free(ck_sha256_final(ls->tar_hash));
	pthread_mutex_destroy(&ls->mu);
	pthread_cond_destroy(&ls->cv);
	free(ls);
}
