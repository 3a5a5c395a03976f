// SPDX-License-Identifier: Apache-2.0
/*
 * create-floor: the file-system work that any extractor of a layer has to
 * do, timed without the reading, decompressing and parsing around it.
 *
 * usage: create-floor [-j THREADS] [-s] TAR DIR
 *
 * Loads the directories and regular files of the uncompressed tar TAR
 * into memory. Then, timed, it creates the directories under DIR (which
 * must exist) and each file with open, pwrite, futimens and close. The
 * files are spread over THREADS threads by directory (default 1). With
 * -s, a syncfs ends the timed part. Prints the timed part in seconds.
 * Other entry types are skipped. Owners and modes are those of the
 * creating process, so the work is a lower bound for an extraction
 * that sets them. Meant for the benchmark's own layers: names are not
 * checked against escapes from DIR, every directory needs its own
 * entry, and file contents are held in memory.
 */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <err.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct item {
	char *path;
	char *data;
	size_t size;
	struct timespec mtime;
	unsigned dir_slot;
};

static struct item *files;
static size_t nfiles;
static char **dirs;
static size_t ndirs;
static int root_fd;
static unsigned nthreads = 1;

static void *append(void *v, size_t n, size_t size)
{
	if ((n & (n - 1)) == 0) {
		v = realloc(v, (n ? n * 2 : 16) * size);
		if (!v)
			err(1, "realloc");
	}
	return v;
}

static void load(const char *tar)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int r;

	archive_read_support_format_tar(a);
	if (archive_read_open_filename(a, tar, 1 << 20) != ARCHIVE_OK)
		errx(1, "%s: %s", tar, archive_error_string(a));
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *p = archive_entry_pathname(e);
		mode_t type = archive_entry_filetype(e);

		while (p[0] == '.' && p[1] == '/')
			p += 2;
		if (type == AE_IFDIR) {
			dirs = append(dirs, ndirs, sizeof(*dirs));
			dirs[ndirs++] = strdup(p);
		} else if (type == AE_IFREG) {
			struct item *it;
			la_ssize_t got;

			files = append(files, nfiles, sizeof(*files));
			it = &files[nfiles++];
			it->path = strdup(p);
			it->size = (size_t)archive_entry_size(e);
			it->data = malloc(it->size ? it->size : 1);
			if (!it->path || !it->data)
				err(1, "malloc");
			got = archive_read_data(a, it->data, it->size);
			if (got < 0 || (size_t)got != it->size)
				errx(1, "%s: short read of %s", tar, p);
			it->mtime.tv_sec = archive_entry_mtime(e);
			it->mtime.tv_nsec = archive_entry_mtime_nsec(e);
			/* The files of one directory go to one thread, so
			 * their order within it is kept. */
			it->dir_slot = 0;
			for (const char *c = p; *c && strchr(c, '/'); c++)
				it->dir_slot = it->dir_slot * 31 + (unsigned char)*c;
		}
	}
	if (r != ARCHIVE_EOF)
		errx(1, "%s: %s", tar, archive_error_string(a));
	archive_read_free(a);
}

static void *create_files(void *arg)
{
	unsigned t = (unsigned)(size_t)arg;

	for (size_t i = 0; i < nfiles; i++) {
		struct item *it = &files[i];
		struct timespec times[2];
		int fd;

		if (it->dir_slot % nthreads != t)
			continue;
		fd = openat(root_fd, it->path,
			    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0)
			err(1, "create %s", it->path);
		for (size_t done = 0; done < it->size;) {
			ssize_t n = pwrite(fd, it->data + done,
					   it->size - done, (off_t)done);

			if (n <= 0)
				err(1, "write %s", it->path);
			done += (size_t)n;
		}
		times[0] = times[1] = it->mtime;
		if (futimens(fd, times) < 0)
			err(1, "futimens %s", it->path);
		close(fd);
	}
	return NULL;
}

static _Noreturn void usage(void)
{
	errx(2, "usage: create-floor [-j THREADS] [-s] TAR DIR");
}

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	pthread_t threads[64];
	int opt, do_sync = 0;

	while ((opt = getopt(argc, argv, "j:s")) != -1) {
		switch (opt) {
		case 'j':
			nthreads = (unsigned)atoi(optarg);
			if (nthreads < 1 || nthreads > 64)
				errx(2, "-j takes 1 to 64, not '%s'", optarg);
			break;
		case 's':
			do_sync = 1;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	load(argv[optind]);
	root_fd = open(argv[optind + 1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0)
		err(1, "%s", argv[optind + 1]);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < ndirs; i++)
		if (dirs[i][0] && mkdirat(root_fd, dirs[i], 0755) < 0)
			err(1, "mkdir %s", dirs[i]);
	for (unsigned t = 0; t < nthreads; t++)
		if (pthread_create(&threads[t], NULL, create_files,
				   (void *)(size_t)t))
			errx(1, "pthread_create failed");
	for (unsigned t = 0; t < nthreads; t++)
		pthread_join(threads[t], NULL);
	if (do_sync && syncfs(root_fd) < 0)
		err(1, "syncfs");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%.3f\n", (double)(t1.tv_sec - t0.tv_sec) +
				 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
