/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer application for the overlayfs snapshotter.
 *
 * The blob is decompressed by one libarchive reader (raw format, any
 * filter) whose output is hashed for the diff ID and fed to a second
 * reader that parses the tar. Entries are written into the upper
 * directory only through descriptors: each entry's parent is resolved
 * from the upper directory with RESOLVE_IN_ROOT, and the entry itself is
 * made with *at calls on a single name that is never "." or "..".
 */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "apply.h"
#include "digest.h"
#include "util.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define XATTR_OPAQUE "trusted.overlay.opaque"
#define READ_BLOCK (128 * 1024)

struct dir_time {
	char *path;
	struct timespec times[2];
};

struct applier {
	int root;		/* O_PATH descriptor of the upper dir */
	char *const *lowers;
	struct archive *outer;	/* decompresses */
	struct archive *inner;	/* parses the tar */
	struct ck_sha256 *hash;
	char *buf;
	int64_t bytes;
	struct dir_time *dirs;
	size_t n_dirs;
};

static int
open_in_root(int root, const char *path, int flags, struct ck_err **errp)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	do
		fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	if (fd < 0 && errp != NULL)
		ck_err_set(errp, errno, "open '%s'", path);
	return fd;
}

/* Cleans a tar path the way filepath.Join("/", name) does: "..", "." and
 * empty components vanish, and ".." never climbs above the root. */
static char *
clean_path(const char *name)
{
	char *out = ck_xmalloc(strlen(name) + 1);
	const char *p = name;
	size_t len = 0;

	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (len > 0)
				out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	out[len] = '\0';
	return out;
}

/* Copies a missing parent directory's owner and mode from the nearest
 * lower layer that has it, as overlayfs copy-up would. */
static void
parent_meta(struct applier *a, const char *path, struct stat *st)
{
	size_t i;

	st->st_mode = S_IFDIR | 0755;
	st->st_uid = 0;
	st->st_gid = 0;
	for (i = 0; a->lowers && a->lowers[i]; i++) {
		int lr = open(a->lowers[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		int fd;

		if (lr < 0)
			continue;
		fd = open_in_root(lr, path, O_PATH, NULL);
		close(lr);
		if (fd < 0)
			continue;
		if (fstat(fd, st) == 0 && S_ISDIR(st->st_mode)) {
			close(fd);
			return;
		}
		close(fd);
		break;
	}
	st->st_mode = S_IFDIR | 0755;
}

/* Opens the directory path inside the root, creating missing parts. */
static int
open_parent(struct applier *a, const char *path, struct ck_err **errp)
{
	char *prefix;
	size_t i, n = strlen(path);
	int fd;

	if (n == 0)
		return fcntl(a->root, F_DUPFD_CLOEXEC, 0);
	fd = open_in_root(a->root, path, O_PATH | O_DIRECTORY, NULL);
	if (fd >= 0 || errno != ENOENT)
		goto out;
	prefix = ck_xstrdup(path);
	for (i = 0; i <= n; i++) {
		struct stat st;
		char *slash, *base;
		int pfd;

		if (prefix[i] != '/' && prefix[i] != '\0')
			continue;
		prefix[i] = '\0';
		fd = open_in_root(a->root, prefix, O_PATH | O_DIRECTORY, NULL);
		if (fd >= 0 || errno != ENOENT)
			goto next;
		slash = strrchr(prefix, '/');
		base = slash ? slash + 1 : prefix;
		if (slash)
			*slash = '\0';
		pfd = open_in_root(a->root, slash ? prefix : ".",
				   O_PATH | O_DIRECTORY, NULL);
		if (slash)
			*slash = '/';
		if (pfd < 0)
			break;
		parent_meta(a, prefix, &st);
		if (mkdirat(pfd, base, st.st_mode & 07777) < 0 &&
		    errno != EEXIST) {
			close(pfd);
			break;
		}
		if (fchownat(pfd, base, st.st_uid, st.st_gid,
			     AT_SYMLINK_NOFOLLOW) < 0 ||
		    fchmodat(pfd, base, st.st_mode & 07777, 0) < 0) {
			close(pfd);
			break;
		}
		close(pfd);
		fd = open_in_root(a->root, prefix, O_PATH | O_DIRECTORY, NULL);
next:
		if (i < n)
			prefix[i] = '/';
		if (fd < 0)
			break;
		if (i < n)
			close(fd);
	}
	free(prefix);
out:
	if (fd < 0)
		ck_err_set(errp, errno, "open parent '%s'", path);
	return fd;
}

static int
remove_existing(int dir, const char *name, struct ck_err **errp)
{
	if (ck_rm_rf_at(dir, name, errp) < 0)
		return -1;
	return 0;
}

static int
set_xattrs(struct archive_entry *e, int dir, const char *name, int fd,
	   struct ck_err **errp)
{
	const char *key;
	const void *val;
	size_t size;
	char *proc = NULL;
	int rc = 0;

	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &key, &val, &size) == ARCHIVE_OK) {
		/* Overlay's own attributes would let a layer forge
		 * whiteouts and redirects in the merged view. */
		if (ck_has_prefix(key, "trusted.overlay."))
			continue;
		if (fd >= 0) {
			rc = fsetxattr(fd, key, val, size, 0);
		} else {
			if (proc == NULL)
				proc = ck_asprintf("/proc/self/fd/%d/%s", dir,
						   name);
			rc = lsetxattr(proc, key, val, size, 0);
		}
		if (rc < 0) {
			ck_err_set(errp, errno, "set xattr '%s'", key);
			break;
		}
	}
	free(proc);
	return rc;
}

static int
write_data(struct applier *a, int fd, struct archive_entry *e,
	   struct ck_err **errp)
{
	const void *block;
	size_t size;
	int64_t offset;
	int r;

	while ((r = archive_read_data_block(a->inner, &block, &size,
					    &offset)) == ARCHIVE_OK) {
		const char *p = block;

		while (size > 0) {
			ssize_t n = pwrite(fd, p, size, offset);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				return ck_err_set(errp, errno, "write");
			}
			p += n;
			size -= (size_t)n;
			offset += n;
		}
	}
	if (r != ARCHIVE_EOF)
		return ck_err_set(errp, archive_errno(a->inner), "read: %s",
				  archive_error_string(a->inner));
	/* Sparse files end in a hole that no block covers. */
	if (ftruncate(fd, archive_entry_size(e)) < 0)
		return ck_err_set(errp, errno, "truncate");
	return 0;
}

static int
make_file(struct applier *a, int dir, const char *name,
	  struct archive_entry *e, struct ck_err **errp)
{
	int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			O_CLOEXEC, 0600);
	int rc;

	if (fd < 0)
		return ck_err_set(errp, errno, "create");
	rc = write_data(a, fd, e, errp);
	if (rc == 0)
		rc = set_xattrs(e, dir, name, fd, errp);
	close(fd);
	return rc;
}

static int
copy_xattrs(int from, int to, struct ck_err **errp)
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

static int
copy_contents(int from, int to, const struct stat *st, struct ck_err **errp)
{
	struct timespec ts[2] = { st->st_atim, st->st_mtim };
	off_t left = st->st_size;

	while (left > 0) {
		ssize_t n = copy_file_range(from, NULL, to, NULL,
					    (size_t)left, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return ck_err_set(errp, n < 0 ? errno : EIO, "copy");
		left -= n;
	}
	if (fchown(to, st->st_uid, st->st_gid) < 0 ||
	    fchmod(to, st->st_mode & 07777) < 0)
		return ck_err_set(errp, errno, "copy owner and mode");
	if (copy_xattrs(from, to, errp) < 0)
		return -1;
	if (futimens(to, ts) < 0)
		return ck_err_set(errp, errno, "copy times");
	return 0;
}

/* Copies the regular file path from the nearest lower layer that has it
 * into the upper directory, as overlayfs copy-up would. */
static int
copy_up(struct applier *a, int tdir, const char *tbase, const char *path,
	struct ck_err **errp)
{
	struct stat st;
	size_t i;
	int from = -1, to, rc;

	for (i = 0; a->lowers && a->lowers[i] && from < 0; i++) {
		int lr = open(a->lowers[i], O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (lr < 0)
			continue;
		from = open_in_root(lr, path, O_RDONLY | O_NOFOLLOW, NULL);
		close(lr);
	}
	if (from < 0)
		return ck_err_set(errp, ENOENT, "hardlink target '%s'", path);
	if (fstat(from, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(from);
		return ck_err_set(errp, EINVAL, "hardlink target '%s' is not "
				  "a regular file", path);
	}
	to = openat(tdir, tbase, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	if (to < 0) {
		close(from);
		return ck_err_set(errp, errno, "copy up '%s'", path);
	}
	rc = copy_contents(from, to, &st, errp);
	close(from);
	close(to);
	return rc < 0 ? ck_err_wrap(errp, "copy up '%s'", path) : 0;
}

/* Links name to another file of the layer. A target that lives only in
 * a lower layer is copied up first, so the link stays inside the upper
 * directory. */
static int
make_hardlink(struct applier *a, int dir, const char *name,
	      const char *target, struct ck_err **errp)
{
	char *t = clean_path(target);
	char *slash = strrchr(t, '/');
	const char *tbase = slash ? slash + 1 : t;
	int tdir, rc;

	if (*t == '\0') {
		free(t);
		return ck_err_set(errp, EINVAL, "hardlink to the root");
	}
	if (slash)
		*slash = '\0';
	tdir = open_parent(a, slash ? t : "", errp);
	if (slash)
		*slash = '/';
	if (tdir < 0) {
		free(t);
		return ck_err_wrap(errp, "hardlink target '%s'", target);
	}
	rc = linkat(tdir, tbase, dir, name, 0);
	if (rc < 0 && errno == ENOENT && a->lowers && a->lowers[0]) {
		rc = copy_up(a, tdir, tbase, t, errp);
		if (rc == 0 && linkat(tdir, tbase, dir, name, 0) < 0)
			rc = ck_err_set(errp, errno, "hardlink to '%s'",
					target);
	} else if (rc < 0) {
		rc = ck_err_set(errp, errno, "hardlink to '%s'", target);
	}
	close(tdir);
	free(t);
	return rc;
}

static int
make_entry(struct applier *a, int dir, const char *name,
	   struct archive_entry *e, struct ck_err **errp)
{
	mode_t type = archive_entry_filetype(e);
	const char *link = archive_entry_hardlink(e);

	if (link != NULL)
		return make_hardlink(a, dir, name, link, errp);
	switch (type) {
	case AE_IFREG:
		return make_file(a, dir, name, e, errp);
	case AE_IFLNK:
		if (symlinkat(archive_entry_symlink(e) ?
			      archive_entry_symlink(e) : "", dir, name) < 0)
			return ck_err_set(errp, errno, "symlink");
		return 0;
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		if (mknodat(dir, name, type | 0600,
			    makedev(archive_entry_rdevmajor(e),
				    archive_entry_rdevminor(e))) < 0)
			return ck_err_set(errp, errno, "mknod");
		return 0;
	default:
		return ck_err_set(errp, 0, "unsupported entry type 0%o",
				  (unsigned)type);
	}
}

static int
set_meta(int dir, const char *name, struct archive_entry *e,
	 struct ck_err **errp)
{
	struct timespec ts[2];
	mode_t type = archive_entry_filetype(e);

	if (fchownat(dir, name, (uid_t)archive_entry_uid(e),
		     (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
		return ck_err_set(errp, errno, "chown");
	/* chown clears set-user-ID bits, so the mode comes after it. */
	if (type != AE_IFLNK &&
	    fchmodat(dir, name, archive_entry_perm(e) & 07777, 0) < 0)
		return ck_err_set(errp, errno, "chmod");
	if (type == AE_IFDIR)
		return 0;
	ts[0].tv_sec = archive_entry_atime_is_set(e) ?
		archive_entry_atime(e) : archive_entry_mtime(e);
	ts[0].tv_nsec = archive_entry_atime_is_set(e) ?
		archive_entry_atime_nsec(e) : archive_entry_mtime_nsec(e);
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	if (utimensat(dir, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return ck_err_set(errp, errno, "set times");
	return 0;
}

static int
make_dir(struct applier *a, int dir, const char *name, const char *path,
	 struct archive_entry *e, int was_whiteout, struct ck_err **errp)
{
	struct dir_time *dt;

	if (mkdirat(dir, name, 0700) < 0 && errno != EEXIST)
		return ck_err_set(errp, errno, "mkdir");
	/* A directory that replaces a whiteout made in this layer must
	 * hide what lower layers have under that name. */
	if (was_whiteout) {
		char *proc = ck_asprintf("/proc/self/fd/%d/%s", dir, name);
		int rc = lsetxattr(proc, XATTR_OPAQUE, "y", 1, 0);

		free(proc);
		if (rc < 0)
			return ck_err_set(errp, errno, "set opaque");
	}
	if (set_xattrs(e, dir, name, -1, errp) < 0)
		return -1;
	a->dirs = ck_xrealloc(a->dirs, (a->n_dirs + 1) * sizeof(*a->dirs));
	dt = &a->dirs[a->n_dirs++];
	dt->path = ck_xstrdup(path);
	dt->times[0].tv_sec = archive_entry_mtime(e);
	dt->times[0].tv_nsec = archive_entry_mtime_nsec(e);
	dt->times[1] = dt->times[0];
	return 0;
}

static int
whiteout(int dir, const char *base, struct ck_err **errp)
{
	const char *name = base + strlen(WH_PREFIX);
	char *proc;
	int rc;

	if (strcmp(base, WH_OPAQUE) == 0) {
		proc = ck_asprintf("/proc/self/fd/%d", dir);
		rc = setxattr(proc, XATTR_OPAQUE, "y", 1, 0);
		free(proc);
		if (rc < 0)
			return ck_err_set(errp, errno, "set opaque");
		return 0;
	}
	if (*name == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return ck_err_set(errp, EINVAL, "invalid whiteout");
	if (remove_existing(dir, name, errp) < 0)
		return -1;
	if (mknodat(dir, name, S_IFCHR | 0, makedev(0, 0)) < 0)
		return ck_err_set(errp, errno, "make whiteout");
	return 0;
}

static int
is_whiteout_node(int dir, const char *name)
{
	struct stat st;

	return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

/* Prepares the place for a new entry: a directory over a directory is
 * kept and merged, anything else is removed first. */
static int
clear_place(int dir, const char *name, int is_dir, int *was_whiteout,
	    struct ck_err **errp)
{
	struct stat st;

	*was_whiteout = 0;
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 :
			ck_err_set(errp, errno, "stat");
	if (is_dir && S_ISDIR(st.st_mode))
		return 0;
	*was_whiteout = is_whiteout_node(dir, name);
	return remove_existing(dir, name, errp);
}

static int
apply_entry(struct applier *a, struct archive_entry *e, struct ck_err **errp)
{
	char *path = clean_path(archive_entry_pathname(e));
	char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	int is_dir = archive_entry_filetype(e) == AE_IFDIR &&
		     archive_entry_hardlink(e) == NULL;
	int dir, wh, rc;

	if (*path == '\0') {
		free(path);
		return 0;
	}
	if (slash)
		*slash = '\0';
	dir = open_parent(a, slash ? path : "", errp);
	if (slash)
		*slash = '/';
	if (dir < 0) {
		free(path);
		return -1;
	}
	if (ck_has_prefix(base, WH_PREFIX)) {
		rc = whiteout(dir, base, errp);
	} else {
		rc = clear_place(dir, base, is_dir, &wh, errp);
		if (rc == 0 && is_dir)
			rc = make_dir(a, dir, base, path, e, wh, errp);
		else if (rc == 0)
			rc = make_entry(a, dir, base, e, errp);
		if (rc == 0 && archive_entry_hardlink(e) == NULL)
			rc = set_meta(dir, base, e, errp);
	}
	close(dir);
	if (rc < 0)
		ck_err_wrap(errp, "entry '%s'", archive_entry_pathname(e));
	free(path);
	return rc;
}

/* Sets directory times last, deepest first, because creating entries
 * inside a directory changes its modification time. */
static int
finish_dirs(struct applier *a, struct ck_err **errp)
{
	size_t i;
	int rc = 0;

	for (i = a->n_dirs; i-- > 0;) {
		struct dir_time *dt = &a->dirs[i];
		int fd = rc ? -1 : open_in_root(a->root, dt->path,
						O_PATH | O_DIRECTORY, errp);

		if (fd >= 0) {
			char *proc = ck_asprintf("/proc/self/fd/%d", fd);

			if (utimensat(AT_FDCWD, proc, dt->times, 0) < 0)
				rc = ck_err_set(errp, errno,
						"set times of '%s'", dt->path);
			free(proc);
			close(fd);
		} else if (!rc) {
			rc = -1;
		}
		free(dt->path);
	}
	free(a->dirs);
	a->dirs = NULL;
	a->n_dirs = 0;
	return rc;
}

static ssize_t
inner_read(struct archive *ar, void *data, const void **buf)
{
	struct applier *a = data;
	la_ssize_t n = archive_read_data(a->outer, a->buf, READ_BLOCK);

	if (n < 0) {
		archive_set_error(ar, archive_errno(a->outer), "%s",
				  archive_error_string(a->outer));
		return -1;
	}
	ck_sha256_update(a->hash, a->buf, (size_t)n);
	a->bytes += n;
	*buf = a->buf;
	return n;
}

static int
open_readers(struct applier *a, const char *path, struct ck_err **errp)
{
	struct archive_entry *raw;

	a->outer = archive_read_new();
	archive_read_support_filter_all(a->outer);
	archive_read_support_format_raw(a->outer);
	if (archive_read_open_filename(a->outer, path, READ_BLOCK) !=
	    ARCHIVE_OK ||
	    archive_read_next_header(a->outer, &raw) != ARCHIVE_OK)
		return ck_err_set(errp, archive_errno(a->outer),
				  "decompress: %s",
				  archive_error_string(a->outer));
	a->inner = archive_read_new();
	archive_read_support_format_tar(a->inner);
	if (archive_read_open(a->inner, a, NULL, inner_read, NULL) !=
	    ARCHIVE_OK)
		return ck_err_set(errp, 0, "not a tar archive: %s",
				  archive_error_string(a->inner));
	return 0;
}

static int
read_entries(struct applier *a, struct ck_apply_stats *stats,
	     struct ck_err **errp)
{
	struct archive_entry *e;
	int r;

	while ((r = archive_read_next_header(a->inner, &e)) == ARCHIVE_OK) {
		if (apply_entry(a, e, errp) < 0)
			return -1;
		stats->entries++;
	}
	if (r != ARCHIVE_EOF)
		return ck_err_set(errp, 0, "not a valid tar archive: %s",
				  archive_error_string(a->inner));
	/* The diff ID covers the whole stream, padding after the tar's
	 * end marker included. */
	while ((r = (int)inner_read(a->inner, a, &(const void *){ 0 })) > 0)
		;
	if (r < 0)
		return ck_err_set(errp, 0, "decompress: %s",
				  archive_error_string(a->outer));
	return 0;
}

int
ck_apply_layer(const char *path, const char *dir, char *const *lowers,
	       const char *diff_id, struct ck_apply_stats *stats,
	       struct ck_err **errp)
{
	struct applier a = { .root = -1, .lowers = lowers };
	struct ck_apply_stats local = { 0 };
	char *got;
	int rc;

	stats = stats ? stats : &local;
	a.buf = ck_xmalloc(READ_BLOCK);
	a.hash = ck_sha256_new();
	a.root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (a.root < 0)
		rc = ck_err_set(errp, errno, "open '%s'", dir);
	else
		rc = open_readers(&a, path, errp);
	if (rc == 0)
		rc = read_entries(&a, stats, errp);
	if (finish_dirs(&a, rc ? NULL : errp) < 0)
		rc = -1;
	got = ck_sha256_final(a.hash);
	if (rc == 0 && diff_id != NULL && strcmp(got, diff_id) != 0)
		rc = ck_err_set(errp, 0, "uncompressed content hashes to "
				"'%s', but the image config says '%s'", got,
				diff_id);
	stats->bytes = a.bytes;
	free(got);
	if (a.inner)
		archive_read_free(a.inner);
	if (a.outer)
		archive_read_free(a.outer);
	if (a.root >= 0)
		close(a.root);
	free(a.buf);
	return rc;
}
