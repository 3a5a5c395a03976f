/* SPDX-License-Identifier: Apache-2.0 */
/* ccontainer internals: the parsed command line and one function per
 * command, each returning the exit status. */
#ifndef CCONTAINER_H
#define CCONTAINER_H

#include <stddef.h>

#include "spec.h"
#include "store.h"

/* A label filter of ls: the key, and the value it must have or NULL
 * when the key only has to be there. */
struct label_filter {
	char *key;
	char *value;
};

struct options {
	const char *root;
	const char *ns;
	const char *snapshotter;

	/* create */
	const char *image;
	const char *id;
	const char *snapshot;
	const char *spec_file;
	const char *runtime;
	int view;
	int spec_options;	/* a spec option was given */
	json_t *labels;		/* object of --label pairs */
	struct ck_spec_opts spec;

	/* ls */
	int quiet;
	int json;
	struct label_filter *filters;
	size_t n_filters;

	/* info, label, rm */
	char **ids;
	size_t n_ids;
	char **label_keys;	/* label: key=value operands, split */
	char **label_values;	/* NULL or "" removes the key */
	size_t n_labels;
	int keep_snapshot;
};

int cmd_create(struct options *o);
int cmd_ls(const struct options *o, const struct ck_store *st);

#endif
