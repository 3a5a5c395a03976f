/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error objects: set, wrap with context, print. The message is stored
 * without the errno text, which ck_err_print appends once.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "util.h"

static int
set_va(struct ck_err **errp, int code, int errnum, const char *fmt,
       va_list ap)
{
	struct ck_err *err;

	if (errp == NULL)
		return -1;
	if (*errp != NULL)
		ck_err_free(errp);
	err = ck_xmalloc(sizeof(*err));
	err->errnum = errnum;
	err->code = code;
	err->msg = ck_vasprintf(fmt, ap);
	*errp = err;
	return -1;
}

int
ck_err_set(struct ck_err **errp, int errnum, const char *fmt, ...)
{
	va_list ap;
	int code = errnum == ENOENT ? CK_E_NOTFOUND : CK_E_GENERIC;

	va_start(ap, fmt);
	set_va(errp, code, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

int
ck_err_setc(struct ck_err **errp, int code, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_va(errp, code, errnum, fmt, ap);
	va_end(ap);
	return -1;
}

int
ck_err_wrap(struct ck_err **errp, const char *fmt, ...)
{
	va_list ap;
	char *prefix, *msg;

	if (errp == NULL || *errp == NULL)
		return -1;
	va_start(ap, fmt);
	prefix = ck_vasprintf(fmt, ap);
	va_end(ap);
	msg = ck_asprintf("%s: %s", prefix, (*errp)->msg);
	free(prefix);
	free((*errp)->msg);
	(*errp)->msg = msg;
	return -1;
}

int
ck_err_pass(struct ck_err **errp, struct ck_err *err)
{
	if (err == NULL)
		return 0;
	if (errp != NULL && *errp == NULL)
		*errp = err;
	else
		ck_err_free(&err);
	return -1;
}

int
ck_err_code(const struct ck_err *err)
{
	return err == NULL ? CK_E_GENERIC : err->code;
}

void
ck_err_free(struct ck_err **errp)
{
	if (errp == NULL || *errp == NULL)
		return;
	free((*errp)->msg);
	free(*errp);
	*errp = NULL;
}

char *
ck_err_text(const struct ck_err *err)
{
	if (err == NULL)
		return ck_xstrdup("unknown error");
	if (err->errnum != 0)
		return ck_asprintf("%s: %s", err->msg, strerror(err->errnum));
	return ck_xstrdup(err->msg);
}

void
ck_err_print(const char *tool, const struct ck_err *err)
{
	if (err == NULL) {
		fprintf(stderr, "%s: unknown error\n", tool);
		return;
	}
	if (err->errnum != 0)
		fprintf(stderr, "%s: %s: %s\n", tool, err->msg,
			strerror(err->errnum));
	else
		fprintf(stderr, "%s: %s\n", tool, err->msg);
}

void
ck_bug(const char *file, int line, const char *msg)
{
	fprintf(stderr, "BUG: %s:%d: %s\n", file, line, msg);
	abort();
}
