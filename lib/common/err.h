/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error objects for lib/common: a library function that fails stores errno
 * and a message in *errp and returns -1 or NULL; only a tool's main prints
 * the error and chooses the exit code.
 */
#ifndef CK_ERR_H
#define CK_ERR_H

#include <stdio.h>

struct ck_err {
	int errnum;	/* errno at the failure, or 0 */
	int code;	/* optional class, CK_E_* */
	char *msg;
};

/* Classes that let a tool pick an exit code without parsing messages. */
enum {
	CK_E_GENERIC = 0,
	CK_E_NOTFOUND,	/* a named object does not exist */
	CK_E_EXISTS,	/* a named object already exists */
	CK_E_INVALID,	/* input is malformed */
	CK_E_BUSY,	/* the object is in use */
	CK_E_DAMAGED,	/* a stored record is empty or not JSON */
};

#define CK_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* libarchive's errno for its last error, or 0 when it has none (it
 * reports -1 then, which strerror would print as "Unknown error -1").
 * For ck_err_set; the caller includes archive.h. */
#define CK_ARCHIVE_ERRNO(a) (archive_errno(a) > 0 ? archive_errno(a) : 0)

int ck_err_set(struct ck_err **errp, int errnum, const char *fmt, ...)
	CK_PRINTF(3, 4);
int ck_err_setc(struct ck_err **errp, int code, int errnum,
		const char *fmt, ...) CK_PRINTF(4, 5);
int ck_err_wrap(struct ck_err **errp, const char *fmt, ...) CK_PRINTF(2, 3);
int ck_err_code(const struct ck_err *err);
/* Moves err into *errp when errp is set and *errp is empty, and frees
 * it otherwise, so the first error is kept. Returns -1 when err is set,
 * else 0. */
int ck_err_pass(struct ck_err **errp, struct ck_err *err);
void ck_err_free(struct ck_err **errp);
void ck_err_print(const char *tool, const struct ck_err *err);
/* Returns the message with the errno text, as ck_err_print prints it. */
char *ck_err_text(const struct ck_err *err);

#define CK_BUG(msg)                                                          \
	ck_bug(__FILE__, __LINE__, (msg))
_Noreturn void ck_bug(const char *file, int line, const char *msg);

#endif
