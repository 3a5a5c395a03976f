/* SPDX-License-Identifier: Apache-2.0 */
/* Command-line helpers shared by the tools. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "spec.h"
#include "util.h"

void
ck_cli_misuse(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", ck_log_tool());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", ck_log_tool());
	exit(2);
}

static char *
trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && strchr(" \t\r\n", s[n - 1]))
		s[--n] = '\0';
	return s;
}

static char *
ref_from_json(const char *line, struct ck_err **errp)
{
	json_error_t jerr;
	json_t *j = json_loads(line, 0, &jerr);
	const char *name, *digest;
	char *ref = NULL;

	if (j == NULL) {
		ck_err_setc(errp, CK_E_INVALID, 0, "invalid JSON on stdin: "
			    "%d:%d: %s", jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	name = json_string_value(json_object_get(j, "name"));
	digest = json_string_value(json_object_get(j, "digest"));
	if (name == NULL)
		ck_err_setc(errp, CK_E_INVALID, 0,
			    "JSON on stdin has no \"name\"");
	else if (digest != NULL && strchr(name, '@') == NULL)
		ref = ck_asprintf("%s@%s", name, digest);
	else
		ref = ck_xstrdup(name);
	json_decref(j);
	return ref;
}

char *
ck_cli_ref(const char *arg, struct ck_err **errp)
{
	char *line = NULL, *s, *ref = NULL;
	size_t cap = 0;

	if (arg != NULL && strcmp(arg, "-") != 0)
		return ck_xstrdup(arg);
	while (getline(&line, &cap, stdin) >= 0) {
		s = trim(line);
		if (*s == '\0')
			continue;
		ref = *s == '{' ? ref_from_json(s, errp) : ck_xstrdup(s);
		free(line);
		return ref;
	}
	free(line);
	ck_err_setc(errp, CK_E_INVALID, 0, "no image reference given and "
		    "none on stdin; name the image or pipe cpull's output "
		    "in");
	return NULL;
}

int
ck_cli_progress(int quiet)
{
	return !quiet && isatty(STDERR_FILENO);
}

void
ck_cli_print_json(json_t *obj)
{
	json_dumpf(obj, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	fflush(stdout);
}

struct option *
ck_cli_join_options(const struct option *a, const struct option *b)
{
	size_t na = 0, nb = 0;
	struct option *all;

	while (a[na].name)
		na++;
	while (b[nb].name)
		nb++;
	all = ck_xcalloc(na + nb + 1, sizeof(*all));
	memcpy(all, a, na * sizeof(*all));
	memcpy(all + na, b, nb * sizeof(*all));
	return all;
}

void
ck_cli_bad_option(int c, char **argv)
{
	if (c == ':')
		ck_cli_misuse("option '%s' needs a value", argv[optind - 1]);
	ck_cli_misuse("invalid option '%s'", argv[optind - 1]);
}

int
ck_cli_check_skipped(size_t count, const char *what, struct ck_err **errp)
{
	if (count == 0)
		return 0;
	return ck_err_set(errp, 0, "%zu %s record%s could not be read and %s "
			  "left out (see the warnings above)", count, what,
			  count == 1 ? "" : "s", count == 1 ? "was" : "were");
}

int
ck_cli_list_without_store(struct ck_err **errp)
{
	if (ck_err_code(*errp) != CK_E_NOTFOUND)
		return 0;
	ck_log(CK_LOG_WARNING, "%s", (*errp)->msg);
	ck_err_free(errp);
	return 1;
}

int
ck_cli_flush_stdout(void)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	fprintf(stderr, "%s: write to stdout: %s\n", ck_log_tool(),
		strerror(errno));
	return -1;
}

void
ck_cli_spec_option(struct ck_spec_opts *o, int c, const char *arg,
		   int fail_code)
{
	struct ck_err *err = NULL;

	if (ck_spec_parse_option(o, c, arg, &err) == 0)
		return;
	if (err == NULL)
		CK_BUG("unhandled option");
	if (ck_err_code(err) == CK_E_INVALID)
		ck_cli_misuse("%s", err->msg);
	ck_err_print(ck_log_tool(), err);
	exit(fail_code);
}

void
ck_cli_option_error(const char *what, char **argv)
{
	const char *arg = argv[optind - 1];

	if (ck_has_prefix(arg, "--"))
		ck_cli_misuse("%s '%.*s'", what, (int)strcspn(arg, "="), arg);
	ck_cli_misuse("%s '-%c'", what, optopt);
}

void
ck_cli_set_verbosity(int quiet, int verbose)
{
	if (quiet)
		ck_log_set_level(CK_LOG_ERROR);
	else if (verbose == 1)
		ck_log_set_level(CK_LOG_INFO);
	else if (verbose > 1)
		ck_log_set_level(CK_LOG_DEBUG);
}

int
ck_cli_print_ref(const char *name, const char *digest)
{
	if (strchr(name, '@') != NULL)
		printf("%s\n", name);
	else
		printf("%s@%s\n", name, digest);
	return ck_cli_flush_stdout();
}
