/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer application. The blob is decompressed and hashed on a thread of
 * its own (layerstream.c) while libarchive parses the tar here. Each
 * entry's parent is resolved inside the snapshot directory (apply_path.c)
 * and the entry is made with *at calls on one name that is never "." or
 * "..". Metadata goes on in the order that keeps it: owner, then mode
 * (chown clears set-user-ID bits), then xattrs with security.capability
 * last (chown and writes clear it), then times. Directory times are set
 * after the whole layer, because adding entries changes them.
 */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "apply_int.h"
#include "layerstream.h"
#include "util.h"

#define WH_PREFIX ".wh."
#define WH_META_PREFIX ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"
#define XATTR_OPAQUE "trusted.overlay.opaque"
#define XATTR_CAPS "security.capability"

/* The place of a new entry: its parent directory and its name. */
struct place {
	int dir;		/* borrowed from the applier's cache */
	const char *base;
	const char *path;	/* cleaned path inside the root */
};

static int
set_xattr_one(struct applier *a, const struct place *p, int fd,
	      const char *key, const void *val, size_t size,
	      struct ck_err **errp)
{
	char proc[64];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (setxattr(proc, key, val, size, 0) == 0)
		return 0;
	/* containerd skips xattrs that the filesystem does not support;
	 * user.* xattrs on symlinks are not allowed by Linux at all. */
	if (errno == ENOTSUP || errno == EPERM) {
		if (!a->xattr_warned++)
			ck_log(CK_LOG_WARNING, "'%s': xattr '%s' not set: %s",
			       p->path, key, strerror(errno));
		return 0;
	}
	return ck_err_set(errp, errno, "set xattr '%s'", key);
}

/* Sets the entry's xattrs, security.capability last, through fd, which
 * may be an O_PATH descriptor. Overlay's own attributes are dropped:
 * they would let a layer forge whiteouts and redirects in the merged
 * view. */
static int
set_xattrs(struct applier *a, struct archive_entry *e, const struct place *p,
	   int fd, struct ck_err **errp)
{
	const char *key;
	const void *val;
	size_t size;
	int pass;

	if (archive_entry_xattr_count(e) == 0)
		return 0;
	for (pass = 0; pass < 2; pass++) {
		archive_entry_xattr_reset(e);
		while (archive_entry_xattr_next(e, &key, &val, &size) ==
		       ARCHIVE_OK) {
			if (ck_has_prefix(key, "trusted.overlay.") ||
			    (strcmp(key, XATTR_CAPS) == 0) != pass)
				continue;
			if (set_xattr_one(a, p, fd, key, val, size, errp) < 0)
				return -1;
		}
	}
	return 0;
}

static void
entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	} else {
		ts[0] = ts[1];
	}
}

/* Sets owner, mode, xattrs and, except for directories, times of an
 * entry that is not a regular file. */
static int
set_meta(struct applier *a, struct archive_entry *e, const struct place *p,
	 struct ck_err **errp)
{
	struct timespec ts[2];
	mode_t type = archive_entry_filetype(e);

	if (fchownat(p->dir, p->base, (uid_t)archive_entry_uid(e),
		     (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
		return ck_err_set(errp, errno, "chown");
	if (type != AE_IFLNK &&
	    fchmodat(p->dir, p->base, archive_entry_perm(e) & 07777, 0) < 0)
		return ck_err_set(errp, errno, "chmod");
	if (archive_entry_xattr_count(e) > 0) {
		int fd = openat(p->dir, p->base, O_PATH | O_NOFOLLOW |
				O_CLOEXEC);
		int rc = fd < 0 ? ck_err_set(errp, errno, "open") :
			set_xattrs(a, e, p, fd, errp);

		if (fd >= 0)
			close(fd);
		if (rc < 0)
			return -1;
	}
	if (type == AE_IFDIR)
		return 0;
	entry_times(e, ts);
	if (utimensat(p->dir, p->base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return ck_err_set(errp, errno, "set times");
	return 0;
}

static int
write_data(struct applier *a, int fd, struct archive_entry *e,
	   struct ck_err **errp)
{
	const void *block;
	size_t size;
	int64_t offset;
	int r;

	while ((r = archive_read_data_block(a->tar, &block, &size,
					    &offset)) == ARCHIVE_OK) {
		const char *b = block;

		while (size > 0) {
			ssize_t n = pwrite(fd, b, size, offset);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return ck_err_set(errp, errno, "write");
			b += n;
			size -= (size_t)n;
			offset += n;
		}
	}
	if (r != ARCHIVE_EOF)
		return ck_err_set(errp, CK_ARCHIVE_ERRNO(a->tar), "read: %s",
				  archive_error_string(a->tar));
	/* A sparse file may end in a hole that no block covers. */
	if (archive_entry_sparse_count(e) > 0 &&
	    ftruncate(fd, archive_entry_size(e)) < 0)
		return ck_err_set(errp, errno, "truncate");
	return 0;
}

/* Returns whether a new file needs a chown: one made by root is root's already,
 * unless its directory is set-group-ID. */
static int
needs_chown(const struct applier *a, struct archive_entry *e)
{
	return archive_entry_uid(e) != 0 || archive_entry_gid(e) != 0 ||
	       a->cache_gid >= 0;
}

/* Sets a new regular file's metadata through its descriptor. A file
 * that needs no chown was created with its final mode. */
static int
set_file_meta(struct applier *a, struct archive_entry *e,
	      const struct place *p, int fd, struct ck_err **errp)
{
	struct timespec ts[2];

	if (needs_chown(a, e)) {
		if (fchown(fd, (uid_t)archive_entry_uid(e),
			   (gid_t)archive_entry_gid(e)) < 0)
			return ck_err_set(errp, errno, "chown");
		if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
			return ck_err_set(errp, errno, "chmod");
	}
	if (set_xattrs(a, e, p, fd, errp) < 0)
		return -1;
	entry_times(e, ts);
	if (futimens(fd, ts) < 0)
		return ck_err_set(errp, errno, "set times");
	return 0;
}

/* Makes a regular file. Without a chown to come it is created with its
 * final mode (the umask is 0 meanwhile), which saves a chmod per file.
 * Root may write it whatever its mode is. */
static int
make_file(struct applier *a, struct archive_entry *e, const struct place *p,
	  struct ck_err **errp)
{
	mode_t mode = needs_chown(a, e) ? 0600 : archive_entry_perm(e) & 07777;
	int fd = openat(p->dir, p->base, O_WRONLY | O_CREAT | O_EXCL |
			O_NOFOLLOW | O_CLOEXEC, mode);
	int rc;

	if (fd < 0)
		return ck_err_set(errp, errno, "create");
	rc = write_data(a, fd, e, errp);
	if (rc == 0)
		rc = set_file_meta(a, e, p, fd, errp);
	close(fd);
	return rc;
}

/* Links the entry to another file of the snapshot. In overlay mode a
 * target that only a lower layer has is copied up first, so that the
 * link stays inside the upper directory. */
static int
make_hardlink(struct applier *a, const struct place *p, const char *target,
	      struct ck_err **errp)
{
	char *t = clean_path(target), *slash = strrchr(t, '/');
	const char *tbase = slash ? slash + 1 : t;
	int tdir, rc;

	if (*t == '\0') {
		free(t);
		return ck_err_set(errp, EINVAL, "hardlink to the root");
	}
	if (slash)
		*slash = '\0';
	tdir = open_dir_owned(a, slash ? t : "", errp);
	if (tdir < 0) {
		free(t);
		return ck_err_wrap(errp, "hardlink target '%s'", target);
	}
	rc = linkat(tdir, tbase, p->dir, p->base, 0);
	if (rc < 0 && errno == ENOENT && a->mode == CK_APPLY_OVERLAY) {
		rc = copy_up(a, tdir, tbase, errp);
		if (rc == 0 && linkat(tdir, tbase, p->dir, p->base, 0) < 0)
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
make_node(struct applier *a, struct archive_entry *e, const struct place *p,
	  struct ck_err **errp)
{
	mode_t type = archive_entry_filetype(e);
	const char *link = archive_entry_symlink(e);

	switch (type) {
	case AE_IFREG:
		return make_file(a, e, p, errp);
	case AE_IFLNK:
		if (symlinkat(link ? link : "", p->dir, p->base) < 0)
			return ck_err_set(errp, errno, "symlink");
		break;
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		if (mknodat(p->dir, p->base, type | 0600,
			    makedev(archive_entry_rdevmajor(e),
				    archive_entry_rdevminor(e))) < 0)
			return ck_err_set(errp, errno, "mknod");
		break;
	default:
		return ck_err_set(errp, 0, "unsupported entry type 0%o",
				  (unsigned)type);
	}
	return set_meta(a, e, p, errp);
}

/* Makes the directory base in dir, or dir itself, opaque. */
static int
set_opaque(int dir, const char *base, struct ck_err **errp)
{
	char proc[64];
	int fd = base ? openat(dir, base, O_PATH | O_DIRECTORY | O_NOFOLLOW |
			       O_CLOEXEC) : dir;
	int rc;

	if (fd < 0)
		return ck_err_set(errp, errno, "open");
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	rc = setxattr(proc, XATTR_OPAQUE, "y", 1, 0);
	if (base)
		close(fd);
	return rc < 0 ? ck_err_set(errp, errno, "set opaque") : 0;
}

static int
make_dir(struct applier *a, struct archive_entry *e, const struct place *p,
	 int was_whiteout, struct ck_err **errp)
{
	struct timespec ts[2];

	if (mkdirat(p->dir, p->base, 0700) < 0 && errno != EEXIST)
		return ck_err_set(errp, errno, "mkdir");
	/* A directory that replaces a whiteout made in this layer must
	 * hide what lower layers have under that name. */
	if (was_whiteout && set_opaque(p->dir, p->base, errp) < 0)
		return -1;
	if (set_meta(a, e, p, errp) < 0)
		return -1;
	entry_times(e, ts);
	record_dir_time(a, p->path, &ts[1], &ts[1]);
	if (a->mode == CK_APPLY_PLAIN)
		pathset_add(&a->timed, p->path);
	return 0;
}

static int
is_whiteout_node(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

/* Prepares the place for a new entry: a directory over a directory is
 * kept and merged, anything else is removed first. */
static int
clear_place(const struct place *p, int is_dir, int *was_whiteout,
	    struct ck_err **errp)
{
	struct stat st;

	*was_whiteout = 0;
	if (fstatat(p->dir, p->base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : ck_err_set(errp, errno, "stat");
	if (is_dir && S_ISDIR(st.st_mode))
		return 0;
	*was_whiteout = is_whiteout_node(&st);
	return ck_rm_rf_at(p->dir, p->base, errp);
}

static int remove_lower_entries(struct applier *a, int dir, const char *path,
				struct ck_err **errp);

/* Returns whether de is a directory; some filesystems leave d_type
 * unknown. */
static int
is_dir_entry(int dir, const struct dirent *de)
{
	struct stat st;

	if (de->d_type != DT_UNKNOWN)
		return de->d_type == DT_DIR;
	return fstatat(dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISDIR(st.st_mode);
}

static int
remove_lower_child(struct applier *a, int dir, const char *name,
		   const char *path, struct ck_err **errp)
{
	int fd = openat(dir, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
			O_CLOEXEC);
	int rc;

	if (fd < 0)
		return ck_err_set(errp, errno, "open '%s'", path);
	rc = remove_lower_entries(a, fd, path, errp);
	close(fd);
	return rc;
}

/* Removes what lower layers have in the directory dir (plain mode): every
 * entry that this layer did not make, at any depth. */
static int
remove_lower_entries(struct applier *a, int dir, const char *path,
		     struct ck_err **errp)
{
	int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
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
		if (!pathset_has(&a->applied, child))
			rc = ck_rm_rf_at(dirfd(d), de->d_name, errp);
		else if (is_dir_entry(dirfd(d), de))
			rc = remove_lower_child(a, dirfd(d), de->d_name, child,
						errp);
		free(child);
	}
	closedir(d);
	return rc;
}

/* Removes the overlay whiteouts in dir, which an opaque dir needs no
 * more. overlayfs lists a directory without lower layers as it is, so
 * a whiteout left there would show up as a name that cannot be opened. */
static int
remove_whiteouts(int dir, struct ck_err **errp)
{
	int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	int rc = 0;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return ck_err_set(errp, errno, "open directory");
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_type == DT_CHR &&
		    fstatat(dirfd(d), de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == 0 &&
		    is_whiteout_node(&st) &&
		    unlinkat(dirfd(d), de->d_name, 0) < 0)
			rc = ck_err_set(errp, errno, "remove '%s'",
					de->d_name);
	}
	closedir(d);
	return rc;
}

/* Makes an overlay whiteout for name in dir, unless no lower layer
 * shows that path: then the whiteout is a no-op, and one in a directory
 * that has no lower layers would show up in listings. */
static int
overlay_whiteout(struct applier *a, int dir, const char *parent,
		 const char *name, struct ck_err **errp)
{
	char *path = *parent ? ck_asprintf("%s/%s", parent, name) :
		ck_xstrdup(name);
	char proc[64], v[2];
	int lfd = lower_open(a, path);

	free(path);
	if (lfd < 0)
		return 0;
	close(lfd);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dir);
	if (getxattr(proc, XATTR_OPAQUE, v, sizeof(v)) == 1 && v[0] == 'y')
		return 0;
	if (mknodat(dir, name, S_IFCHR | 0, makedev(0, 0)) < 0)
		return ck_err_set(errp, errno, "make whiteout");
	return 0;
}

/*
 * A whiteout applies to lower layers only (OCI image spec): what this
 * layer made at name stays. A directory of this layer's own loses what
 * lower layers have in it, as with an opaque marker inside it, and any
 * other entry of its own already hides the lower one. Returns 1 when
 * name is this layer's, 0 when it is not, -1 on error.
 */
static int
whiteout_own_entry(struct applier *a, int dir, const char *parent,
		   const char *name, struct ck_err **errp)
{
	char *path = *parent ? ck_asprintf("%s/%s", parent, name) :
		ck_xstrdup(name);
	struct stat st;
	int fd, rc = 1;

	if (!pathset_has(&a->applied, path) ||
	    fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		free(path);
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		free(path);
		return 1;
	}
	fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0) {
		rc = ck_err_set(errp, errno, "open '%s'", path);
	} else if (a->mode == CK_APPLY_OVERLAY) {
		if (set_opaque(fd, NULL, errp) < 0 ||
		    remove_whiteouts(fd, errp) < 0)
			rc = -1;
	} else if (remove_lower_entries(a, fd, path, errp) < 0) {
		rc = -1;
	}
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

/* Applies an OCI whiteout entry base in the directory dir, whose path is
 * parent. The whiteout of a name that does not exist is a no-op. */
static int
apply_whiteout(struct applier *a, int dir, const char *parent,
	       const char *base, struct ck_err **errp)
{
	const char *name = base + strlen(WH_PREFIX);
	struct place p = { dir, name, parent };
	int wh, rc;

	if (strcmp(base, WH_OPAQUE) == 0 && a->mode == CK_APPLY_OVERLAY)
		return set_opaque(dir, NULL, errp) < 0 ? -1 :
			remove_whiteouts(dir, errp);
	if (strcmp(base, WH_OPAQUE) == 0)
		return remove_lower_entries(a, dir, parent, errp);
	if (ck_has_prefix(base, WH_META_PREFIX)) {
		/* Other .wh..wh. names are aufs metadata, which containerd
		 * and umoci skip too. */
		ck_log(CK_LOG_DEBUG, "skipping '%s/%s'", parent, base);
		return 0;
	}
	if (*name == '\0' || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return ck_err_setc(errp, CK_E_INVALID, 0,
				   "invalid whiteout name '%s'", base);
	rc = whiteout_own_entry(a, dir, parent, name, errp);
	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (clear_place(&p, 0, &wh, errp) < 0)
		return -1;
	if (a->mode == CK_APPLY_OVERLAY)
		return overlay_whiteout(a, dir, parent, name, errp);
	return 0;
}

static int
make_object(struct applier *a, struct archive_entry *e, const struct place *p,
	    struct ck_err **errp)
{
	const char *link = archive_entry_hardlink(e);

	return link ? make_hardlink(a, p, link, errp) : make_node(a, e, p, errp);
}

/* Makes an entry that is not a directory. Most entries have new names,
 * so the place is cleared only when making the entry finds a name
 * there, which saves a stat per entry. */
static int
replace_object(struct applier *a, struct archive_entry *e,
	       const struct place *p, struct ck_err **errp)
{
	struct ck_err *err = NULL;
	int wh, rc = make_object(a, e, p, &err);

	if (rc < 0 && err && err->errnum == EEXIST) {
		ck_err_free(&err);
		rc = clear_place(p, 0, &wh, &err);
		if (rc == 0)
			rc = make_object(a, e, p, &err);
	}
	if (rc < 0 && errp != NULL) {
		ck_err_free(errp);
		*errp = err;
	} else {
		ck_err_free(&err);
	}
	return rc;
}

static int
apply_object(struct applier *a, struct archive_entry *e,
	     const struct place *p, struct ck_err **errp)
{
	int is_dir = archive_entry_filetype(e) == AE_IFDIR &&
		     archive_entry_hardlink(e) == NULL;
	int wh, rc;

	if (is_dir) {
		rc = clear_place(p, 1, &wh, errp);
		if (rc == 0)
			rc = make_dir(a, e, p, wh, errp);
	} else {
		rc = replace_object(a, e, p, errp);
	}
	if (rc == 0)
		pathset_add_tree(&a->applied, p->path);
	return rc;
}

static int
apply_entry(struct applier *a, struct archive_entry *e, struct ck_err **errp)
{
	const char *name = archive_entry_pathname(e);
	char *path, *slash;
	struct place p;
	int rc;

	if (name == NULL)
		return ck_err_setc(errp, CK_E_INVALID, 0,
				   "tar entry without a name");
	path = clean_path(name);
	slash = strrchr(path, '/');
	p.base = slash ? slash + 1 : path;
	p.path = path;
	if (*path == '\0') {
		free(path);
		return 0;
	}
	if (slash)
		*slash = '\0';
	p.dir = open_dir(a, slash ? path : "", errp);
	if (p.dir >= 0 && ck_has_prefix(p.base, WH_PREFIX)) {
		rc = apply_whiteout(a, p.dir, slash ? path : "", p.base, errp);
	} else if (p.dir >= 0) {
		if (slash)
			*slash = '/';
		rc = apply_object(a, e, &p, errp);
	} else {
		rc = -1;
	}
	if (rc < 0)
		ck_err_wrap(errp, "entry '%s'", name);
	free(path);
	return rc;
}

/* Sets directory times after the whole layer. A path that is no longer
 * a directory was replaced later in the layer and is skipped. */
static int
finish_dirs(struct applier *a, struct ck_err **errp)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < a->n_dirs; i++) {
		struct dir_time *dt = &a->dirs[i];
		int fd = rc ? -1 : open_in_root(a->root, dt->path,
						O_PATH | O_DIRECTORY |
						O_NOFOLLOW, RESOLVE_IN_ROOT,
						NULL);

		if (fd >= 0) {
			char proc[64];

			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
			if (utimensat(AT_FDCWD, proc, dt->times, 0) < 0)
				rc = ck_err_set(errp, errno,
						"set times of '%s'", dt->path);
			close(fd);
		}
		free(dt->path);
	}
	free(a->dirs);
	a->dirs = NULL;
	a->n_dirs = a->cap_dirs = 0;
	return rc;
}

static la_ssize_t
tar_read(struct archive *ar, void *data, const void **buf)
{
	struct applier *a = data;
	struct ck_err *err = NULL;
	ssize_t n = ck_layer_stream_read(a->stream, buf, &err);

	if (n < 0) {
		archive_set_error(ar, err->errnum, "%s", err->msg);
		ck_err_free(&err);
	}
	return n;
}

static int
read_entries(struct applier *a, struct ck_apply_stats *stats,
	     struct ck_err **errp)
{
	struct archive_entry *e;
	int r;

	a->tar = archive_read_new();
	archive_read_support_format_tar(a->tar);
	/* A zero-byte layer has no entries: Go's archive/tar, which
	 * containerd and umoci use, returns io.EOF on it at once. */
	archive_read_support_format_empty(a->tar);
	if (archive_read_open(a->tar, a, NULL, tar_read, NULL) != ARCHIVE_OK)
		return ck_err_set(errp, 0, "not a tar archive: %s",
				  archive_error_string(a->tar));
	while ((r = archive_read_next_header(a->tar, &e)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN) {
		if (apply_entry(a, e, errp) < 0)
			return -1;
		stats->entries++;
	}
	if (r != ARCHIVE_EOF)
		return ck_err_set(errp, 0, "not a valid tar archive: %s",
				  archive_error_string(a->tar));
	return 0;
}

static int
check_digests(struct applier *a, const struct ck_apply_opts *o,
	      struct ck_apply_stats *stats, struct ck_err **errp)
{
	char *digest = NULL, *diff_id = NULL;
	int rc;

	rc = ck_layer_stream_finish(a->stream, &digest, &diff_id,
				    &stats->bytes, errp);
	if (rc == 0 && o->digest && strcmp(digest, o->digest) != 0)
		rc = ck_err_set(errp, 0, "the blob hashes to '%s', but the "
				"manifest says '%s'", digest, o->digest);
	if (rc == 0 && o->diff_id && strcmp(diff_id, o->diff_id) != 0)
		rc = ck_err_set(errp, 0, "uncompressed content hashes to "
				"'%s', but the image config says '%s'",
				diff_id, o->diff_id);
	free(digest);
	free(diff_id);
	return rc;
}

static int
open_applier(struct applier *a, const char *dir, const struct ck_apply_opts *o,
	     struct ck_err **errp)
{
	size_t i;

	a->mode = o->mode;
	a->cache_fd = -1;
	a->root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (a->root < 0)
		return ck_err_set(errp, errno, "open '%s'", dir);
	a->root_path = realpath(dir, NULL);
	if (a->root_path == NULL)
		return ck_err_set(errp, errno, "realpath '%s'", dir);
	for (i = 0; o->mode == CK_APPLY_OVERLAY && o->lowers &&
	     o->lowers[i]; i++) {
		int fd = open(o->lowers[i], O_PATH | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0)
			return ck_err_set(errp, errno, "open lower '%s'",
					  o->lowers[i]);
		a->lowers = ck_xrealloc(a->lowers, (i + 1) * sizeof(int));
		a->lowers[i] = fd;
		a->n_lowers = i + 1;
	}
	return 0;
}

static void
close_applier(struct applier *a)
{
	size_t i;

	drop_cache(a);
	for (i = 0; i < a->n_dirs; i++)
		free(a->dirs[i].path);
	free(a->dirs);
	for (i = 0; i < a->n_lowers; i++)
		close(a->lowers[i]);
	free(a->lowers);
	pathset_free(&a->applied);
	pathset_free(&a->timed);
	if (a->tar)
		archive_read_free(a->tar);
	ck_layer_stream_free(a->stream);
	if (a->root >= 0)
		close(a->root);
	free(a->root_path);
}

int
ck_apply_layer(const char *path, const char *dir,
	       const struct ck_apply_opts *o, struct ck_apply_stats *stats,
	       struct ck_err **errp)
{
	struct applier a = { .root = -1 };
	struct ck_apply_stats local = { 0 };
	mode_t mask;
	int rc;

	stats = stats ? stats : &local;
	rc = open_applier(&a, dir, o, errp);
	if (rc == 0) {
		a.stream = ck_layer_stream_open(path, errp);
		rc = a.stream ? 0 : -1;
	}
	/* Modes come from the tar alone. */
	mask = umask(0);
	if (rc == 0)
		rc = read_entries(&a, stats, errp);
	umask(mask);
	drop_cache(&a);
	if (rc == 0)
		rc = finish_dirs(&a, errp);
	if (rc == 0)
		rc = check_digests(&a, o, stats, errp);
	close_applier(&a);
	return rc;
}
