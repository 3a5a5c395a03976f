/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers every tool uses: memory that aborts on exhaustion, strings,
 * whole-file reads, atomic writes (temp file, fsync, rename, fsync of the
 * directory), file locks, recursive removal and logging.
 */
#ifndef CK_UTIL_H
#define CK_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "err.h"

#define CK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void *ck_xmalloc(size_t n);
void *ck_xcalloc(size_t n, size_t size);
void *ck_xrealloc(void *p, size_t n);
char *ck_xstrdup(const char *s);
char *ck_xstrndup(const char *s, size_t n);
char *ck_asprintf(const char *fmt, ...) CK_PRINTF(1, 2);
char *ck_vasprintf(const char *fmt, va_list ap);
int ck_has_prefix(const char *s, const char *prefix);
int ck_has_suffix(const char *s, const char *suffix);

/* A growable byte buffer, always NUL-terminated. */
struct ck_buf {
	char *data;
	size_t len;
	size_t cap;
};
void ck_buf_add(struct ck_buf *b, const void *data, size_t len);
void ck_buf_addf(struct ck_buf *b, const char *fmt, ...) CK_PRINTF(2, 3);
void ck_buf_free(struct ck_buf *b);

int ck_mkdir_p(const char *path, mode_t mode, struct ck_err **errp);
int ck_read_file(const char *path, size_t max, char **data, size_t *len,
		 struct ck_err **errp);
/* Returns the first control character in s (below 0x20, 0x7f, or a C1
 * control in UTF-8), or NULL. Names and values with one would break
 * tab-separated output or carry terminal escapes. */
const char *ck_find_control(const char *s);
/* Checks that s, a name or value called what in the error, is not empty,
 * is valid UTF-8 and has no control characters (C0, DEL or C1). */
int ck_check_text(const char *what, const char *s, struct ck_err **errp);
/* Returns the name of mode's file type, such as "FIFO". */
const char *ck_file_type_name(mode_t mode);
/* Returns 1 and fills sb when path is a regular file or a symbolic link
 * to one, 0 when nothing has its name, and -1 with an error for anything
 * else: another type of file, a link to nothing, a failed stat. */
int ck_stat_regular(const char *path, struct stat *sb, struct ck_err **errp);
/* Reads a file of ckit's own, which must be a regular file or a symlink
 * to one. A FIFO or a directory under its name is an error, and the
 * open uses O_NONBLOCK so that a FIFO fails at once. ENOENT is classed
 * CK_E_NOTFOUND. */
int ck_read_regular(const char *path, size_t max, char **data, size_t *len,
		    struct ck_err **errp);
/* Reads fd to its end and closes it; path names it in errors. */
int ck_read_fd(int fd, const char *path, size_t max, char **data,
	       size_t *len, struct ck_err **errp);
int ck_write_file_atomic(const char *path, const void *data, size_t len,
			 mode_t mode, struct ck_err **errp);
/* Like ck_write_file_atomic without the fsyncs: readers still see the
 * old file or the new one, but a crash of the machine may lose both.
 * For run-time state that does not outlive the machine ($CKIT_STATE). */
int ck_write_file_replace(const char *path, const void *data, size_t len,
			  mode_t mode, struct ck_err **errp);
/* Writes path whole, without fsyncs, unless it exists: then it is left
 * as it is and the call succeeds. */
int ck_write_file_new(const char *path, const void *data, size_t len,
		      mode_t mode, struct ck_err **errp);
/* Waits for the child pid, again after signals, and stores its status as
 * waitpid does; returns -1 with errno set when waiting fails. */
int ck_wait_pid(pid_t pid, int *status);
int ck_fsync_dir(const char *dir, struct ck_err **errp);
int ck_rm_rf(const char *path, struct ck_err **errp);
int ck_rm_rf_at(int dirfd, const char *name, struct ck_err **errp);
int ck_path_exists(const char *path);
int ck_is_dir(const char *path);
/* Writes bytes as "512 B" or "1.5 MiB" for progress lines. */
void ck_format_size(char *buf, size_t n, int64_t bytes);
char *ck_random_hex(size_t bytes);

/*
 * Opens (creating) a lock file and takes an exclusive flock on it. Returns
 * the descriptor; closing it releases the lock. With nonblock set, a held
 * lock fails with errno EWOULDBLOCK instead of waiting.
 */
int ck_lock(const char *path, int nonblock, struct ck_err **errp);
void ck_unlock(int fd);

/* Logging to stderr as "tool: level: message". */
enum ck_log_level {
	CK_LOG_ERROR = 0,
	CK_LOG_WARNING,
	CK_LOG_INFO,
	CK_LOG_DEBUG,
};
void ck_log_init(const char *tool);
void ck_log_set_level(int level);
int ck_log_get_level(void);
const char *ck_log_tool(void);
void ck_log(int level, const char *fmt, ...) CK_PRINTF(2, 3);

#endif
