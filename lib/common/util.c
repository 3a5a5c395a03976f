/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Memory, string, file and lock helpers shared by every tool. Writes that
 * other processes may read go through ck_write_file_atomic, so a reader
 * sees the old file or the new one, never a torn one.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

void *
ck_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		CK_BUG("out of memory");
	return p;
}

void *
ck_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		CK_BUG("out of memory");
	return p;
}

void *
ck_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		CK_BUG("out of memory");
	return p;
}

char *
ck_xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		CK_BUG("out of memory");
	return p;
}

char *
ck_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		CK_BUG("out of memory");
	return p;
}

char *
ck_vasprintf(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		CK_BUG("out of memory");
	return s;
}

char *
ck_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = ck_vasprintf(fmt, ap);
	va_end(ap);
	return s;
}

int
ck_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int
ck_has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);

	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

void
ck_buf_add(struct ck_buf *b, const void *data, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + len + 1)
			cap *= 2;
		b->data = ck_xrealloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
ck_buf_addf(struct ck_buf *b, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = ck_vasprintf(fmt, ap);
	va_end(ap);
	ck_buf_add(b, s, strlen(s));
	free(s);
}

void
ck_buf_free(struct ck_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int
ck_mkdir_p(const char *path, mode_t mode, struct ck_err **errp)
{
	char *p = ck_xstrdup(path);
	char *s;

	for (s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			ck_err_set(errp, errno, "mkdir '%s'", p);
			free(p);
			return -1;
		}
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST) {
		ck_err_set(errp, errno, "mkdir '%s'", p);
		free(p);
		return -1;
	}
	free(p);
	return 0;
}

int
ck_read_file(const char *path, size_t max, char **data, size_t *len,
	     struct ck_err **errp)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return ck_err_set(errp, errno, "open '%s'", path);
	return ck_read_fd(fd, path, max, data, len, errp);
}

const char *
ck_find_control(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	/* C1 controls, U+0080 to U+009F, are 0xc2 0x80 to 0xc2 0x9f. */
	for (; *p; p++)
		if (*p < 0x20 || *p == 0x7f ||
		    (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return (const char *)p;
	return NULL;
}

/* Returns the length of the UTF-8 sequence at s and sets *cp to its code
 * point, or returns 0 when it is not valid UTF-8 (overlong forms and
 * surrogates included). */
static size_t
utf8_length(const unsigned char *s, unsigned *cp)
{
	size_t n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		*cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		*cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		*cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && *cp < 0x800) || (n == 4 && *cp < 0x10000) ||
	    (*cp >= 0xd800 && *cp <= 0xdfff) || *cp > 0x10ffff)
		return 0;
	return n;
}

int
ck_check_text(const char *what, const char *s, struct ck_err **errp)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned cp;
	size_t n;

	if (*p == '\0')
		return ck_err_setc(errp, CK_E_INVALID, 0, "invalid %s: empty",
				   what);
	for (; *p; p += n) {
		n = utf8_length(p, &cp);
		if (n == 0)
			return ck_err_setc(errp, CK_E_INVALID, 0, "invalid %s: "
					   "it is not valid UTF-8", what);
		if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
			return ck_err_setc(errp, CK_E_INVALID, 0, "invalid %s: "
					   "it contains control character "
					   "U+%04X; use printable characters",
					   what, cp);
	}
	return 0;
}

const char *
ck_file_type_name(mode_t mode)
{
	if (S_ISDIR(mode))
		return "directory";
	if (S_ISFIFO(mode))
		return "FIFO";
	if (S_ISSOCK(mode))
		return "socket";
	if (S_ISCHR(mode))
		return "character device";
	if (S_ISBLK(mode))
		return "block device";
	if (S_ISLNK(mode))
		return "symbolic link";
	return "regular file";
}

static int
not_regular(const char *path, mode_t mode, struct ck_err **errp)
{
	return ck_err_set(errp, 0, "'%s' is a %s, not a regular file; remove "
			  "it by hand", path, ck_file_type_name(mode));
}

static int
dangling(const char *path, struct ck_err **errp)
{
	return ck_err_set(errp, 0, "'%s' is a symbolic link to a missing "
			  "file; remove it by hand", path);
}

int
ck_stat_regular(const char *path, struct stat *sb, struct ck_err **errp)
{
	if (stat(path, sb) == 0)
		return S_ISREG(sb->st_mode) ? 1 :
			not_regular(path, sb->st_mode, errp);
	if (errno != ENOENT)
		return ck_err_set(errp, errno, "stat '%s'", path);
	if (lstat(path, sb) < 0)
		return errno == ENOENT ? 0 :
			ck_err_set(errp, errno, "stat '%s'", path);
	if (S_ISLNK(sb->st_mode))
		return dangling(path, errp);
	/* Another process made the file since the stat. */
	return S_ISREG(sb->st_mode) ? 1 : not_regular(path, sb->st_mode, errp);
}

int
ck_read_regular(const char *path, size_t max, char **data, size_t *len,
		struct ck_err **errp)
{
	struct stat st;
	int fd, open_errno;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		open_errno = errno;
		if (lstat(path, &st) == 0) {
			if (S_ISLNK(st.st_mode) && open_errno == ENOENT)
				return dangling(path, errp);
			if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
				return not_regular(path, st.st_mode, errp);
		}
		return ck_err_set(errp, open_errno, "open '%s'", path);
	}
	if (fstat(fd, &st) < 0) {
		ck_err_set(errp, errno, "stat '%s'", path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return not_regular(path, st.st_mode, errp);
	}
	return ck_read_fd(fd, path, max, data, len, errp);
}

int
ck_read_fd(int fd, const char *path, size_t max, char **data, size_t *len,
	   struct ck_err **errp)
{
	struct ck_buf b = { 0 };
	char chunk[65536];
	ssize_t n;

	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ck_err_set(errp, errno, "read '%s'", path);
			goto fail;
		}
		if (max && b.len + (size_t)n > max) {
			ck_err_set(errp, EFBIG, "read '%s'", path);
			goto fail;
		}
		ck_buf_add(&b, chunk, (size_t)n);
	}
	close(fd);
	if (b.data == NULL)
		ck_buf_add(&b, "", 0);
	*data = b.data;
	if (len)
		*len = b.len;
	return 0;
fail:
	close(fd);
	ck_buf_free(&b);
	return -1;
}

static int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
ck_fsync_dir(const char *dir, struct ck_err **errp)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return ck_err_set(errp, errno, "open '%s'", dir);
	if (fsync(fd) < 0) {
		close(fd);
		return ck_err_set(errp, errno, "fsync '%s'", dir);
	}
	close(fd);
	return 0;
}

enum { WRITE_SYNC = 1, WRITE_NOREPLACE = 2 };

/* Renames from to to unless to exists (EEXIST). Filesystems without
 * RENAME_NOREPLACE (NFS, some FUSE) get a link and an unlink instead. */
static int
rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (link(from, to) < 0)
		return -1;
	unlink(from);
	return 0;
}

static int
write_replace(const char *path, const void *data, size_t len, mode_t mode,
	      int flags, struct ck_err **errp)
{
	int sync = flags & WRITE_SYNC, rc;
	char *rnd = ck_random_hex(6);
	char *tmp = ck_asprintf("%s.tmp-%s", path, rnd);
	char *dir = ck_xstrdup(path);
	char *slash;
	int fd;

	free(rnd);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		ck_err_set(errp, errno, "create '%s'", tmp);
		goto fail;
	}
	if (write_all(fd, data, len) < 0 || (sync && fsync(fd) < 0)) {
		ck_err_set(errp, errno, "write '%s'", tmp);
		close(fd);
		unlink(tmp);
		goto fail;
	}
	close(fd);
	if (flags & WRITE_NOREPLACE)
		rc = rename_noreplace(tmp, path);
	else
		rc = rename(tmp, path);
	if (rc < 0 && errno == EEXIST && (flags & WRITE_NOREPLACE)) {
		/* Another process wrote the file first. */
		unlink(tmp);
		free(tmp);
		free(dir);
		return 0;
	}
	if (rc < 0) {
		ck_err_set(errp, errno, "rename '%s' to '%s'", tmp, path);
		unlink(tmp);
		goto fail;
	}
	slash = strrchr(dir, '/');
	if (sync && slash != NULL) {
		*slash = '\0';
		if (ck_fsync_dir(*dir ? dir : "/", errp) < 0)
			goto fail;
	}
	free(tmp);
	free(dir);
	return 0;
fail:
	free(tmp);
	free(dir);
	return -1;
}

int
ck_write_file_atomic(const char *path, const void *data, size_t len,
		     mode_t mode, struct ck_err **errp)
{
	return write_replace(path, data, len, mode, WRITE_SYNC, errp);
}

int
ck_write_file_replace(const char *path, const void *data, size_t len,
		      mode_t mode, struct ck_err **errp)
{
	return write_replace(path, data, len, mode, 0, errp);
}

int
ck_write_file_new(const char *path, const void *data, size_t len,
		  mode_t mode, struct ck_err **errp)
{
	return write_replace(path, data, len, mode, WRITE_NOREPLACE, errp);
}

int
ck_wait_pid(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

int
ck_rm_rf_at(int parent, const char *name, struct ck_err **errp)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return ck_err_set(errp, errno, "remove '%s'", name);
	fd = openat(parent, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ck_err_set(errp, errno, "open '%s'", name);
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return ck_err_set(errp, errno, "opendir '%s'", name);
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (ck_rm_rf_at(dirfd(d), de->d_name, errp) < 0) {
			closedir(d);
			return ck_err_wrap(errp, "'%s'", name);
		}
	}
	closedir(d);
	if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return ck_err_set(errp, errno, "rmdir '%s'", name);
	return 0;
}

int
ck_rm_rf(const char *path, struct ck_err **errp)
{
	return ck_rm_rf_at(AT_FDCWD, path, errp);
}

int
ck_path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

void
ck_format_size(char *buf, size_t n, int64_t bytes)
{
	static const char *units[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, n, "%lld B", (long long)bytes);
		return;
	}
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(buf, n, "%.1f %s", v, units[u]);
}

int
ck_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *
ck_random_hex(size_t bytes)
{
	unsigned char raw[32];
	char *s;
	size_t i;

	if (bytes > sizeof(raw))
		bytes = sizeof(raw);
	if (getrandom(raw, bytes, 0) != (ssize_t)bytes)
		CK_BUG("getrandom failed");
	s = ck_xmalloc(bytes * 2 + 1);
	for (i = 0; i < bytes; i++)
		sprintf(s + 2 * i, "%02x", raw[i]);
	return s;
}

int
ck_lock(const char *path, int nonblock, struct ck_err **errp)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		return ck_err_set(errp, errno, "open lock '%s'", path);
	while (flock(fd, LOCK_EX | (nonblock ? LOCK_NB : 0)) < 0) {
		if (errno == EINTR)
			continue;
		ck_err_setc(errp, errno == EWOULDBLOCK ? CK_E_BUSY : 0, errno,
			    "lock '%s'", path);
		close(fd);
		return -1;
	}
	return fd;
}

void
ck_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}

static const char *log_tool = "ckit";
static int log_level = CK_LOG_WARNING;

void
ck_log_init(const char *tool)
{
	const char *dbg = getenv("CKIT_DEBUG");

	log_tool = tool;
	if (dbg != NULL && *dbg != '\0' && strcmp(dbg, "0") != 0)
		log_level = CK_LOG_DEBUG;
}

void
ck_log_set_level(int level)
{
	if (log_level < CK_LOG_DEBUG || level > log_level)
		log_level = level;
}

int
ck_log_get_level(void)
{
	return log_level;
}

const char *
ck_log_tool(void)
{
	return log_tool;
}

void
ck_log(int level, const char *fmt, ...)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	va_list ap;

	if (level > log_level)
		return;
	fprintf(stderr, "%s: %s: ", log_tool, names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
