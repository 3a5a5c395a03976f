/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ccontainer ls: the namespace's containers, sorted by ID, that carry
 * every label the filters name. Records are read without the namespace
 * lock; each one is replaced by rename, so a reader sees it whole.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ccontainer.h"
#include "cli.h"
#include "container.h"

static int
matches(const struct options *o, const struct ck_container *c)
{
	size_t i;

	for (i = 0; i < o->n_filters; i++) {
		const struct label_filter *f = &o->filters[i];
		const char *v = json_string_value(json_object_get(c->labels,
								  f->key));

		if (v == NULL || (f->value != NULL && strcmp(v, f->value) != 0))
			return 0;
	}
	return 1;
}

static void
print_one(const struct options *o, const struct ck_container *c)
{
	json_t *j;

	if (o->quiet) {
		printf("%s\n", c->id);
	} else if (o->json) {
		j = ck_container_to_json(c);
		ck_cli_print_json(j);
		json_decref(j);
	} else {
		printf("%s\t%s\t%s\n", c->id, c->image ? c->image : "-",
		       c->runtime ? c->runtime : "-");
	}
}

int
cmd_ls(const struct options *o, const struct ck_store *st)
{
	struct ck_container *v;
	struct ck_err *err = NULL;
	size_t i, n, skipped;

	if (ck_container_list(st, &v, &n, &skipped, &err) < 0) {
		ck_err_print("ccontainer", err);
		ck_err_free(&err);
		return 1;
	}
	/* The header is for people: a pipe gets data lines only. */
	if (!o->quiet && !o->json && isatty(STDOUT_FILENO))
		printf("CONTAINER\tIMAGE\tRUNTIME\n");
	for (i = 0; i < n; i++)
		if (matches(o, &v[i]))
			print_one(o, &v[i]);
	ck_container_list_free(v, n);
	if (ck_cli_check_skipped(skipped, "container", &err) < 0) {
		ck_err_print("ccontainer", err);
		ck_err_free(&err);
		return 1;
	}
	return 0;
}
