/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Path resolution for layer application. Paths are resolved from the
 * snapshot directory with RESOLVE_IN_ROOT, so symlinks and ".." never
 * leave it. In overlay mode a missing parent directory is copied up from
 * the nearest lower layer that shows it, as overlayfs would: a directory
 * with its owner, mode, xattrs and times, a symlink with its target.
 */
#define _GNU_SOURCE
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

#include "apply_int.h"
#include "util.h"

#define XATTR_OPAQUE "trusted.overlay.opaque"
#define MAX_LINK_DEPTH 40

int
open_in_root(int root, const char *path, int flags, int resolve,
	     struct ck_err **errp)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = (uint64_t)resolve | RESOLVE_NO_MAGICLINKS,
	};
	int fd;

	if (*path == '\0')
		path = ".";
	do
		fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	if (fd < 0 && errp != NULL)
		ck_err_set(errp, errno, "open '%s'", path);
	return fd;
}

/* Cleans a tar path the way filepath.Join("/", name) does: "..", "." and
 * empty components vanish, and ".." never climbs above the root. */
char *
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

static char *
join_path(const char *dir, const char *name)
{
	return *dir ? ck_asprintf("%s/%s", dir, name) : ck_xstrdup(name);
}

/* Returns the path of the directory fd relative to the root. */
static char *
path_of(struct applier *a, int fd, struct ck_err **errp)
{
	char proc[64], buf[4096];
	size_t n = strlen(a->root_path);
	ssize_t len;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	len = readlink(proc, buf, sizeof(buf) - 1);
	if (len < 0) {
		ck_err_set(errp, errno, "readlink '%s'", proc);
		return NULL;
	}
	buf[len] = '\0';
	if (strcmp(buf, a->root_path) == 0)
		return ck_xstrdup("");
	if (strncmp(buf, a->root_path, n) != 0 || buf[n] != '/') {
		ck_err_set(errp, 0, "'%s' is outside the snapshot", buf);
		return NULL;
	}
	return ck_xstrdup(buf + n + 1);
}

static int
is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static int
is_opaque(int fd)
{
	char proc[64], v[2];

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	return getxattr(proc, XATTR_OPAQUE, v, sizeof(v)) == 1 && v[0] == 'y';
}

/* Returns whether lower layer lr hides path from the layers below it: a prefix
 * of path there is a whiteout, not a directory, or an opaque directory. */
static int
lower_hides(int lr, const char *path)
{
	char *p = ck_xstrdup(path);
	size_t i, n = strlen(p);
	int hides = 0;

	for (i = 0; i <= n && !hides; i++) {
		struct stat st;
		int fd;

		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		fd = open_in_root(lr, p, O_PATH | O_NOFOLLOW,
				  RESOLVE_NO_SYMLINKS, NULL);
		if (i < n)
			p[i] = '/';
		if (fd < 0)
			break;
		if (fstat(fd, &st) == 0)
			hides = !S_ISDIR(st.st_mode) || is_whiteout(&st) ||
				(i < n && is_opaque(fd));
		close(fd);
	}
	free(p);
	return hides;
}

int
lower_open(struct applier *a, const char *path)
{
	size_t i;

	for (i = 0; i < a->n_lowers; i++) {
		struct stat st;
		int fd = open_in_root(a->lowers[i], path, O_PATH | O_NOFOLLOW,
				      RESOLVE_NO_SYMLINKS, NULL);

		if (fd >= 0 && fstat(fd, &st) == 0 && !is_whiteout(&st))
			return fd;
		if (fd >= 0) {
			close(fd);
			return -1;
		}
		if (lower_hides(a->lowers[i], path))
			return -1;
	}
	return -1;
}

/* Copies xattrs between two descriptors, which may be O_PATH ones: the
 * /proc/self/fd links lead to the files themselves, symlinks included. */
int
copy_xattrs(int from, int to, struct ck_err **errp)
{
	char proc[64], dst[64], names[4096], value[65536];
	ssize_t len;
	char *k;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", from);
	snprintf(dst, sizeof(dst), "/proc/self/fd/%d", to);
	len = listxattr(proc, names, sizeof(names));
	if (len < 0)
		return errno == ENOTSUP ? 0 :
			ck_err_set(errp, errno, "list xattrs");
	for (k = names; k < names + len; k += strlen(k) + 1) {
		ssize_t n;

		if (ck_has_prefix(k, "trusted.overlay."))
			continue;
		n = getxattr(proc, k, value, sizeof(value));
		if (n < 0 || setxattr(dst, k, value, (size_t)n, 0) < 0)
			return ck_err_set(errp, errno, "copy xattr '%s'", k);
	}
	return 0;
}

void
record_dir_time(struct applier *a, const char *path,
		const struct timespec *atime, const struct timespec *mtime)
{
	struct dir_time *dt;

	if (a->n_dirs == a->cap_dirs) {
		a->cap_dirs = a->cap_dirs ? a->cap_dirs * 2 : 64;
		a->dirs = ck_xrealloc(a->dirs, a->cap_dirs * sizeof(*a->dirs));
	}
	dt = &a->dirs[a->n_dirs++];
	dt->path = ck_xstrdup(path);
	dt->times[0] = *atime;
	dt->times[1] = *mtime;
}

/* Copies the lower entry lfd (a directory or a symlink) to base in pfd,
 * with owner, mode, xattrs and, for later, times. */
static int
copy_up_entry(struct applier *a, int pfd, const char *base, const char *path,
	      int lfd, const struct stat *st, struct ck_err **errp)
{
	char target[4096];
	ssize_t n;
	int fd, rc;

	if (S_ISLNK(st->st_mode)) {
		n = readlinkat(lfd, "", target, sizeof(target) - 1);
		if (n < 0)
			return ck_err_set(errp, errno, "readlink");
		target[n] = '\0';
		if (symlinkat(target, pfd, base) < 0)
			return ck_err_set(errp, errno, "symlink");
	} else if (mkdirat(pfd, base, st->st_mode & 07777) < 0) {
		return ck_err_set(errp, errno, "mkdir");
	}
	if (fchownat(pfd, base, st->st_uid, st->st_gid,
		     AT_SYMLINK_NOFOLLOW) < 0 ||
	    (S_ISDIR(st->st_mode) &&
	     fchmodat(pfd, base, st->st_mode & 07777, 0) < 0))
		return ck_err_set(errp, errno, "copy owner and mode");
	fd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ck_err_set(errp, errno, "open");
	rc = copy_xattrs(lfd, fd, errp);
	close(fd);
	if (rc < 0)
		return -1;
	if (S_ISDIR(st->st_mode)) {
		record_dir_time(a, path, &st->st_atim, &st->st_mtim);
	} else {
		struct timespec ts[2] = { st->st_atim, st->st_mtim };

		if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
			return ck_err_set(errp, errno, "copy times");
	}
	return 0;
}

/* Creates the missing directory base in pfd, whose path is path: a copy
 * of the lower layers' entry in overlay mode, else mode 0755 as
 * containerd and umoci make missing parents. */
static int
make_missing(struct applier *a, int pfd, const char *base, const char *path,
	     struct ck_err **errp)
{
	struct stat st;
	int lfd = a->mode == CK_APPLY_OVERLAY ? lower_open(a, path) : -1;
	int rc;

	if (lfd < 0) {
		if (mkdirat(pfd, base, 0755) < 0)
			return ck_err_set(errp, errno, "mkdir '%s'", path);
		if (a->mode == CK_APPLY_PLAIN)
			pathset_add_tree(&a->applied, path);
		return 0;
	}
	if (fstat(lfd, &st) < 0) {
		rc = ck_err_set(errp, errno, "stat lower '%s'", path);
	} else if (!S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode)) {
		rc = ck_err_set(errp, ENOTDIR, "'%s' in a lower layer", path);
	} else {
		rc = copy_up_entry(a, pfd, base, path, lfd, &st, errp);
		if (rc < 0)
			ck_err_wrap(errp, "copy up '%s'", path);
	}
	close(lfd);
	return rc;
}

static int open_dir_depth(struct applier *a, const char *path, int depth,
			  struct ck_err **errp);

/* Opens the directory a symlink base in pfd points to, making it. */
static int
follow_link(struct applier *a, int pfd, const char *base, int depth,
	    struct ck_err **errp)
{
	char target[4096], *dir, *joined, *clean;
	ssize_t n = readlinkat(pfd, base, target, sizeof(target) - 1);
	int fd;

	if (n < 0)
		return ck_err_set(errp, errno, "readlink '%s'", base);
	target[n] = '\0';
	dir = path_of(a, pfd, errp);
	if (dir == NULL)
		return -1;
	joined = target[0] == '/' ? ck_xstrdup(target) :
		ck_asprintf("%s/%s", dir, target);
	clean = clean_path(joined);
	fd = open_dir_depth(a, clean, depth + 1, errp);
	free(clean);
	free(joined);
	free(dir);
	return fd;
}

/* Opens base in the directory pfd as a directory, making it if missing.
 * path names it for lower-layer lookups. */
static int
open_child(struct applier *a, int pfd, const char *base, const char *path,
	   int depth, struct ck_err **errp)
{
	struct stat st;
	int fd;

	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return ck_err_set(errp, errno, "stat '%s'", path);
		if (make_missing(a, pfd, base, path, errp) < 0)
			return -1;
		if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return ck_err_set(errp, errno, "stat '%s'", path);
	}
	if (S_ISLNK(st.st_mode))
		return follow_link(a, pfd, base, depth, errp);
	if (!S_ISDIR(st.st_mode))
		return ck_err_set(errp, ENOTDIR, "open '%s'", path);
	fd = openat(pfd, base, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ck_err_set(errp, errno, "open '%s'", path);
	return fd;
}

static int
open_dir_depth(struct applier *a, const char *path, int depth,
	       struct ck_err **errp)
{
	char *parent, *slash;
	int fd, pfd;

	fd = open_in_root(a->root, path, O_PATH | O_DIRECTORY,
			  RESOLVE_IN_ROOT, NULL);
	if (fd >= 0 || errno != ENOENT) {
		if (fd < 0)
			ck_err_set(errp, errno, "open '%s'", path);
		return fd;
	}
	if (depth > MAX_LINK_DEPTH)
		return ck_err_set(errp, ELOOP, "open '%s'", path);
	parent = ck_xstrdup(path);
	slash = strrchr(parent, '/');
	if (slash)
		*slash = '\0';
	pfd = slash ? open_dir_depth(a, parent, depth, errp) :
		fcntl(a->root, F_DUPFD_CLOEXEC, 0);
	if (pfd >= 0) {
		fd = open_child(a, pfd, slash ? slash + 1 : path, path, depth,
				errp);
		close(pfd);
	}
	free(parent);
	return pfd < 0 ? -1 : fd;
}

/* In plain mode, remembers the times of an existing directory before
 * this layer changes its entries, so that they can be put back, as
 * umoci does. */
static void
keep_dir_time(struct applier *a, int fd, const char *path)
{
	struct stat st;

	if (a->mode != CK_APPLY_PLAIN || pathset_has(&a->timed, path) ||
	    fstat(fd, &st) < 0)
		return;
	pathset_add(&a->timed, path);
	record_dir_time(a, path, &st.st_atim, &st.st_mtim);
}

int
open_dir(struct applier *a, const char *path, struct ck_err **errp)
{
	struct stat st;
	int fd;

	if (a->cache_path && strcmp(a->cache_path, path) == 0)
		return a->cache_fd;
	fd = open_dir_depth(a, path, 0, errp);
	if (fd < 0)
		return ck_err_wrap(errp, "parent directory");
	drop_cache(a);
	keep_dir_time(a, fd, path);
	a->cache_path = ck_xstrdup(path);
	a->cache_fd = fd;
	a->cache_gid = fstat(fd, &st) == 0 && (st.st_mode & S_ISGID) ?
		(int64_t)st.st_gid : -1;
	return fd;
}

void
drop_cache(struct applier *a)
{
	if (a->cache_path == NULL)
		return;
	close(a->cache_fd);
	free(a->cache_path);
	a->cache_path = NULL;
	a->cache_fd = -1;
}

static int
copy_regular(int from, int to, const struct stat *st, struct ck_err **errp)
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

/* Copies the regular file tbase in tdir from the lower layers into the
 * upper directory, as overlayfs copy-up would, so that a hardlink to it
 * stays inside the upper directory. */
int
copy_up(struct applier *a, int tdir, const char *tbase, struct ck_err **errp)
{
	struct stat st;
	char proc[64], *dir, *path;
	int lfd, from, to, rc;

	dir = path_of(a, tdir, errp);
	if (dir == NULL)
		return -1;
	path = join_path(dir, tbase);
	free(dir);
	lfd = lower_open(a, path);
	from = -1;
	if (lfd >= 0) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", lfd);
		from = open(proc, O_RDONLY | O_CLOEXEC);
		close(lfd);
	}
	if (from < 0 || fstat(from, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (from >= 0)
			close(from);
		if (lfd < 0)
			rc = ck_err_setc(errp, CK_E_NOTFOUND, 0, "hardlink "
					 "target '%s' not found", path);
		else
			rc = ck_err_setc(errp, CK_E_INVALID, 0, "hardlink "
					 "target '%s' is not a regular file",
					 path);
		free(path);
		return rc;
	}
	to = openat(tdir, tbase, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	rc = to < 0 ? ck_err_set(errp, errno, "create") :
		copy_regular(from, to, &st, errp);
	if (rc < 0)
		ck_err_wrap(errp, "copy up '%s'", path);
	close(from);
	if (to >= 0)
		close(to);
	free(path);
	return rc;
}

/* Opens the directory path with an uncached descriptor of the caller's:
 * in overlay mode missing parts are copied up, in plain mode they are
 * an error. */
int
open_dir_owned(struct applier *a, const char *path, struct ck_err **errp)
{
	if (a->mode == CK_APPLY_OVERLAY)
		return open_dir_depth(a, path, 0, errp);
	return open_in_root(a->root, path, O_PATH | O_DIRECTORY,
			    RESOLVE_IN_ROOT, errp);
}

/* Hashes the first n bytes of s. */
static size_t
hash_path_n(const char *s, size_t n)
{
	size_t h = 1469598103934665603ULL;

	while (n-- > 0)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static size_t
hash_path(const char *s)
{
	return hash_path_n(s, strlen(s));
}

/* Returns whether the set has the first n bytes of path. */
static int
pathset_has_n(const struct pathset *s, const char *path, size_t n)
{
	size_t j;

	if (s->cap == 0)
		return 0;
	j = hash_path_n(path, n) & (s->cap - 1);
	while (s->slots[j]) {
		if (strncmp(s->slots[j], path, n) == 0 &&
		    s->slots[j][n] == '\0')
			return 1;
		j = (j + 1) & (s->cap - 1);
	}
	return 0;
}

static void
pathset_grow(struct pathset *s)
{
	struct pathset bigger = { 0 };
	size_t i;

	bigger.cap = s->cap ? s->cap * 2 : 1024;
	bigger.slots = ck_xcalloc(bigger.cap, sizeof(char *));
	for (i = 0; i < s->cap; i++) {
		size_t j;

		if (s->slots[i] == NULL)
			continue;
		j = hash_path(s->slots[i]) & (bigger.cap - 1);
		while (bigger.slots[j])
			j = (j + 1) & (bigger.cap - 1);
		bigger.slots[j] = s->slots[i];
	}
	bigger.n = s->n;
	free(s->slots);
	*s = bigger;
}

/* Adds path; returns 1 when it was new. */
int
pathset_add(struct pathset *s, const char *path)
{
	size_t j;

	if ((s->n + 1) * 2 > s->cap)
		pathset_grow(s);
	j = hash_path(path) & (s->cap - 1);
	while (s->slots[j]) {
		if (strcmp(s->slots[j], path) == 0)
			return 0;
		j = (j + 1) & (s->cap - 1);
	}
	s->slots[j] = ck_xstrdup(path);
	s->n++;
	return 1;
}

/* Adds path and its parent directories. Most entries are new names in a
 * directory the set has, so the parents are copied only when needed. */
void
pathset_add_tree(struct pathset *s, const char *path)
{
	const char *slash = strrchr(path, '/');
	char *p;
	int added;

	if (!pathset_add(s, path) || slash == NULL ||
	    pathset_has_n(s, path, (size_t)(slash - path)))
		return;
	p = ck_xstrndup(path, (size_t)(slash - path));
	added = pathset_add(s, p);
	while (added && (slash = strrchr(p, '/')) != NULL) {
		p[slash - p] = '\0';
		added = pathset_add(s, p);
	}
	free(p);
}

int
pathset_has(const struct pathset *s, const char *path)
{
	size_t j;

	if (s->cap == 0)
		return 0;
	j = hash_path(path) & (s->cap - 1);
	while (s->slots[j]) {
		if (strcmp(s->slots[j], path) == 0)
			return 1;
		j = (j + 1) & (s->cap - 1);
	}
	return 0;
}

void
pathset_free(struct pathset *s)
{
	size_t i;

	for (i = 0; i < s->cap; i++)
		free(s->slots[i]);
	free(s->slots);
	memset(s, 0, sizeof(*s));
}
