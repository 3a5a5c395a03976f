/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The native snapshotter's tree copy, for filesystems without overlayfs
 * or btrfs. A child snapshot starts as a full copy of its parent, so the
 * copy keeps everything that layer application and a diff compare:
 * owners, modes, times, xattrs, hardlinks, device nodes and holes. File
 * data is cloned (FICLONE) where the filesystem can share extents.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "snapshot_int.h"
#include "util.h"

/* Inodes with more than one link, and where the copy put them first. */
struct link_map {
	struct link {
		dev_t dev;
		ino_t ino;
		char *path;	/* relative to the copy's root */
	} *links;
	size_t n;
	int to_root;
};

/* Copies xattrs from the path src to the path dst without following a
 * final symlink. */
static int
copy_xattrs_path(const char *src, const char *dst, struct ck_err **errp)
{
	char names[4096], value[65536];
	ssize_t len = llistxattr(src, names, sizeof(names));
	char *k;

	if (len < 0)
		return errno == ENOTSUP ? 0 :
			ck_err_set(errp, errno, "list xattrs");
	for (k = names; k < names + len; k += strlen(k) + 1) {
		ssize_t n = lgetxattr(src, k, value, sizeof(value));

		if (n < 0 || lsetxattr(dst, k, value, (size_t)n, 0) < 0)
			return ck_err_set(errp, errno, "copy xattr '%s'", k);
	}
	return 0;
}

static int
copy_xattrs_fd(int from, int to, struct ck_err **errp)
{
	char names[4096], value[65536];
	ssize_t len = flistxattr(from, names, sizeof(names));
	char *k;

	if (len < 0)
		return errno == ENOTSUP ? 0 :
			ck_err_set(errp, errno, "list xattrs");
	for (k = names; k < names + len; k += strlen(k) + 1) {
		ssize_t n = fgetxattr(from, k, value, sizeof(value));

		if (n < 0 || fsetxattr(to, k, value, (size_t)n, 0) < 0)
			return ck_err_set(errp, errno, "copy xattr '%s'", k);
	}
	return 0;
}

/* Copies data segment by segment, so holes stay holes. */
static int
copy_data(int from, int to, off_t size, struct ck_err **errp)
{
	off_t data = 0, hole;

	if (ioctl(to, FICLONE, from) == 0)
		return 0;
	while (data < size) {
		data = lseek(from, data, SEEK_DATA);
		if (data < 0)
			break;
		hole = lseek(from, data, SEEK_HOLE);
		if (hole < 0)
			hole = size;
		while (data < hole) {
			loff_t in = data, out = data;
			ssize_t n = copy_file_range(from, &in, to, &out,
						    (size_t)(hole - data), 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return ck_err_set(errp, n < 0 ? errno : EIO,
						  "copy data");
			data += n;
		}
	}
	if (ftruncate(to, size) < 0)
		return ck_err_set(errp, errno, "truncate");
	return 0;
}

/* Sets owner, mode, xattrs and times of the open copy to, in that
 * order, because chown clears set-user-ID bits and security.capability. */
static int
copy_meta(int from, int to, const struct stat *st, struct ck_err **errp)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };

	if (fchown(to, st->st_uid, st->st_gid) < 0)
		return ck_err_set(errp, errno, "chown");
	if (fchmod(to, st->st_mode & 07777) < 0)
		return ck_err_set(errp, errno, "chmod");
	if (copy_xattrs_fd(from, to, errp) < 0)
		return -1;
	if (futimens(to, ts) < 0)
		return ck_err_set(errp, errno, "set times");
	return 0;
}

/* Sets the metadata of name in to, a symlink or a device node, which
 * are not opened. */
static int
copy_meta_at(int from, int to, const char *name, const struct stat *st,
	     struct ck_err **errp)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	char src[4200], dst[4200];

	if (fchownat(to, name, st->st_uid, st->st_gid,
		     AT_SYMLINK_NOFOLLOW) < 0)
		return ck_err_set(errp, errno, "chown");
	if (!S_ISLNK(st->st_mode) &&
	    fchmodat(to, name, st->st_mode & 07777, 0) < 0)
		return ck_err_set(errp, errno, "chmod");
	snprintf(src, sizeof(src), "/proc/self/fd/%d/%s", from, name);
	snprintf(dst, sizeof(dst), "/proc/self/fd/%d/%s", to, name);
	if (copy_xattrs_path(src, dst, errp) < 0)
		return -1;
	if (utimensat(to, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return ck_err_set(errp, errno, "set times");
	return 0;
}

static int copy_dir(struct link_map *m, int from, int to, const char *path,
		    struct ck_err **errp);

/* Links name to the copy of an inode that was copied before. */
static int
link_known(struct link_map *m, const struct stat *st, int to,
	   const char *name, const char *path, int *done,
	   struct ck_err **errp)
{
	size_t i;

	*done = 0;
	if (S_ISDIR(st->st_mode) || st->st_nlink < 2)
		return 0;
	for (i = 0; i < m->n; i++) {
		if (m->links[i].dev != st->st_dev ||
		    m->links[i].ino != st->st_ino)
			continue;
		*done = 1;
		if (linkat(m->to_root, m->links[i].path, to, name, 0) < 0)
			return ck_err_set(errp, errno, "link '%s'", path);
		return 0;
	}
	m->links = ck_xrealloc(m->links, (m->n + 1) * sizeof(*m->links));
	m->links[m->n].dev = st->st_dev;
	m->links[m->n].ino = st->st_ino;
	m->links[m->n++].path = ck_xstrdup(path);
	return 0;
}

static int
copy_file(int from, int to, const char *name, const struct stat *st,
	  struct ck_err **errp)
{
	int in = openat(from, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int out = openat(to, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			 O_CLOEXEC, 0600);
	int rc = in < 0 || out < 0 ? ck_err_set(errp, errno, "open") :
		copy_data(in, out, st->st_size, errp);

	if (rc == 0)
		rc = copy_meta(in, out, st, errp);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

static int
copy_subdir(struct link_map *m, int from, int to, const char *name,
	    const char *path, const struct stat *st, struct ck_err **errp)
{
	int src, dst, rc;

	if (mkdirat(to, name, 0700) < 0)
		return ck_err_set(errp, errno, "mkdir");
	src = openat(from, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		     O_CLOEXEC);
	dst = openat(to, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		     O_CLOEXEC);
	rc = src < 0 || dst < 0 ? ck_err_set(errp, errno, "open") :
		copy_dir(m, src, dst, path, errp);
	if (rc == 0)
		rc = copy_meta(src, dst, st, errp);
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	return rc;
}

static int
copy_node(int from, int to, const char *name, const struct stat *st,
	  struct ck_err **errp)
{
	char target[4096];
	ssize_t n;

	if (S_ISLNK(st->st_mode)) {
		n = readlinkat(from, name, target, sizeof(target) - 1);
		if (n < 0)
			return ck_err_set(errp, errno, "readlink");
		target[n] = '\0';
		if (symlinkat(target, to, name) < 0)
			return ck_err_set(errp, errno, "symlink");
	} else if (mknodat(to, name, st->st_mode & S_IFMT, st->st_rdev) < 0) {
		return ck_err_set(errp, errno, "mknod");
	}
	return copy_meta_at(from, to, name, st, errp);
}

static int
copy_entry(struct link_map *m, int from, int to, const char *name,
	   const char *path, struct ck_err **errp)
{
	struct stat st;
	int linked;

	if (fstatat(from, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return ck_err_set(errp, errno, "stat");
	if (link_known(m, &st, to, name, path, &linked, errp) < 0)
		return -1;
	if (linked)
		return 0;
	if (S_ISREG(st.st_mode))
		return copy_file(from, to, name, &st, errp);
	if (S_ISDIR(st.st_mode))
		return copy_subdir(m, from, to, name, path, &st, errp);
	return copy_node(from, to, name, &st, errp);
}

static int
copy_dir(struct link_map *m, int from, int to, const char *path,
	 struct ck_err **errp)
{
	int fd = openat(from, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;
	int rc = 0;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return ck_err_set(errp, errno, "open '%s'", path);
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		char *child;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		child = *path ? ck_asprintf("%s/%s", path, de->d_name) :
			ck_xstrdup(de->d_name);
		rc = copy_entry(m, dirfd(d), to, de->d_name, child, errp);
		if (rc < 0)
			ck_err_wrap(errp, "'%s'", child);
		free(child);
	}
	closedir(d);
	return rc;
}

int
ck_native_copy(const char *from, const char *to, struct ck_err **errp)
{
	struct link_map m = { 0 };
	struct stat st;
	int src = open(from, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int dst = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t i;
	int rc;

	m.to_root = dst;
	if (src < 0 || dst < 0 || fstat(src, &st) < 0)
		rc = ck_err_set(errp, errno, "open '%s'", src < 0 ? from : to);
	else
		rc = copy_dir(&m, src, dst, "", errp);
	if (rc == 0)
		rc = copy_meta(src, dst, &st, errp);
	if (rc < 0)
		ck_err_wrap(errp, "copy '%s' to '%s'", from, to);
	for (i = 0; i < m.n; i++)
		free(m.links[i].path);
	free(m.links);
	if (src >= 0)
		close(src);
	if (dst >= 0)
		close(dst);
	return rc;
}
