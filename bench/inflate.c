/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Times gzip decompression of one file with zlib (what libarchive uses),
 * ISA-L's streaming igzip and libdeflate, for bench/unpack.sh. libdeflate
 * has no streaming interface, so it gets the whole file and the whole
 * output in memory, which a layer applier cannot afford for large layers.
 *
 *   usage: inflate zlib|isal|libdeflate FILE.gz
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define CHUNK (256 * 1024)

static unsigned char out[CHUNK];

static size_t
run_zlib(const unsigned char *in, size_t len)
{
	z_stream z = { 0 };
	size_t total = 0;
	int r;

	inflateInit2(&z, 16 + MAX_WBITS);
	z.next_in = (unsigned char *)in;
	z.avail_in = (unsigned)len;
	do {
		z.next_out = out;
		z.avail_out = CHUNK;
		r = inflate(&z, Z_NO_FLUSH);
		total += CHUNK - z.avail_out;
	} while (r == Z_OK);
	inflateEnd(&z);
	return r == Z_STREAM_END ? total : 0;
}

static size_t
run_isal(const unsigned char *in, size_t len)
{
	struct inflate_state s;
	size_t total = 0;

	isal_inflate_init(&s);
	s.crc_flag = ISAL_GZIP;
	s.next_in = (unsigned char *)in;
	s.avail_in = (uint32_t)len;
	do {
		s.next_out = out;
		s.avail_out = CHUNK;
		if (isal_inflate(&s) != ISAL_DECOMP_OK)
			return 0;
		total += CHUNK - s.avail_out;
	} while (s.block_state != ISAL_BLOCK_FINISH);
	return total;
}

static size_t
run_libdeflate(const unsigned char *in, size_t len)
{
	struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
	/* The gzip trailer stores the size modulo 2^32. */
	size_t cap = in[len - 4] | in[len - 3] << 8 | in[len - 2] << 16 |
		     (size_t)in[len - 1] << 24;
	void *buf = malloc(cap);
	size_t got = 0;

	if (libdeflate_gzip_decompress(d, in, len, buf, cap, &got) !=
	    LIBDEFLATE_SUCCESS)
		got = 0;
	free(buf);
	libdeflate_free_decompressor(d);
	return got;
}

int
main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct stat st;
	unsigned char *in;
	size_t n;
	int fd;

	if (argc != 3 || (fd = open(argv[2], O_RDONLY)) < 0 ||
	    fstat(fd, &st) < 0) {
		fputs("usage: inflate zlib|isal|libdeflate FILE.gz\n", stderr);
		return 2;
	}
	in = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	madvise(in, (size_t)st.st_size, MADV_WILLNEED);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (strcmp(argv[1], "zlib") == 0)
		n = run_zlib(in, (size_t)st.st_size);
	else if (strcmp(argv[1], "isal") == 0)
		n = run_isal(in, (size_t)st.st_size);
	else
		n = run_libdeflate(in, (size_t)st.st_size);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (n == 0) {
		fprintf(stderr, "inflate: %s failed\n", argv[1]);
		return 1;
	}
	printf("%s\t%zu bytes\t%.3f s\n", argv[1], n,
	       (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
