/* SPDX-License-Identifier: Apache-2.0 */
/* Command-line helpers shared by the tools: misuse, stdin operands, JSON. */
#ifndef CK_CLI_H
#define CK_CLI_H

#include <getopt.h>

#include <jansson.h>

#include "err.h"

/* Prints "tool: message" and "Try 'tool --help'." and exits 2. */
_Noreturn void ck_cli_misuse(const char *fmt, ...) CK_PRINTF(1, 2);
/*
 * Returns the image reference given as arg, or read from the first
 * non-empty line of stdin when arg is NULL or "-". A JSON object line
 * (cpull --json) gives its "name" and "digest".
 */
char *ck_cli_ref(const char *arg, struct ck_err **errp);
/* Whether progress may be drawn: stderr is a terminal and not quiet. */
int ck_cli_progress(int quiet);
/* Exits 2 for getopt's '?' (unknown option) or ':' (missing value);
 * the option string must start with "+:" for the latter. */
_Noreturn void ck_cli_bad_option(int c, char **argv);
/* Fails after a listing that left out count unreadable records of kind
 * what, so that a script does not take a partial list for the whole. */
int ck_cli_check_skipped(size_t count, const char *what,
			 struct ck_err **errp);
/* Returns 1, after printing *errp as a warning and freeing it, when
 * *errp is ck_store_open_existing's report of a missing store, so that a
 * listing prints nothing and succeeds. Returns 0 for any other error. */
int ck_cli_list_without_store(struct ck_err **errp);
/* Flushes stdout; reports a write error (a full disk, a closed pipe)
 * and returns -1, so that a tool can exit 1 instead of 0. */
int ck_cli_flush_stdout(void);
struct ck_spec_opts;
/* Stores a spec option of cspec or crun-task run; a bad value exits 2,
 * another failure (an unreadable --env-file) exits fail_code. */
void ck_cli_spec_option(struct ck_spec_opts *o, int c, const char *arg,
			int fail_code);
/* Names the option getopt_long rejected and exits 2. For a short
 * option in a bundle such as "-qz", argv has the bundle and optopt the
 * letter. */
_Noreturn void ck_cli_option_error(const char *what, char **argv);
/* Sets the log level from -q and the count of -v. */
void ck_cli_set_verbosity(int quiet, int verbose);
/* Prints "NAME@DIGEST" (a name from a digest reference already ends in
 * "@<digest>"); returns -1 when stdout fails. */
int ck_cli_print_ref(const char *name, const char *digest);
/* Joins two getopt_long tables into a new one, to be freed. */
struct option *ck_cli_join_options(const struct option *a,
				   const struct option *b);
/* Writes one compact JSON object and a newline to stdout and flushes. */
void ck_cli_print_json(json_t *obj);

#endif
