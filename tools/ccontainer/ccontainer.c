/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ccontainer: container records in a namespace, as `ctr containers` keeps
 * them in containerd: create, ls, info, label and rm. The records live
 * in the store and change through lib/common/container.c only.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccontainer.h"
#include "cli.h"
#include "container.h"
#include "util.h"

static void
usage(void)
{
	fputs("usage: ccontainer create [--view] [--snapshot <key>] "
	      "[--spec <file>]\n"
	      "           [--runtime <name>] [--label <key=value>]... "
	      "[<spec option>]...\n"
	      "           <image> <id> [<arg>...]\n"
	      "       ccontainer ls [-q] [--json] "
	      "[--filter label.<key>[=<value>]]...\n"
	      "       ccontainer info <id>\n"
	      "       ccontainer label <id> [<key>=[<value>]]...\n"
	      "       ccontainer rm [--keep-snapshot] <id>...\n"
	      "Keep container records: image, snapshot, runtime spec, "
	      "runtime and labels.\n"
	      "create unpacks the image if needed and builds the spec as "
	      "cspec does, with\ncspec's spec options; <arg>... replace "
	      "the image's Cmd.\n"
	      "      --view              share the image read-only, no "
	      "writable snapshot\n"
	      "      --image <image>     the image, in place of the first "
	      "operand\n"
	      "      --snapshot <key>    snapshot key (default "
	      "<namespace>/<id>)\n"
	      "      --spec <file>       store this spec instead ('-' "
	      "reads stdin)\n"
	      "      --runtime <name>    runtime (default runc)\n"
	      "      --label <key=value> set a label; 'label <id> <key>=' "
	      "removes one\n"
	      "  -q, --quiet             ls: IDs only, not ID, image and "
	      "runtime by tabs\n"
	      "      --json              ls: one JSON object per line\n"
	      "      --filter <filter>   ls: only containers with every "
	      "filter's label\n"
	      "      --keep-snapshot     rm: leave the snapshot\n"
	      "      --root <dir>, -n <ns>, --snapshotter <name>\n"
	      "                          store root, namespace, "
	      "snapshotter\n"
	      "  -h, --help              show this help\n"
	      "Exit status: 0 done, 1 failed, 2 usage error.\n", stdout);
}

enum {
	OPT_ROOT = 256, OPT_SNAPSHOTTER, OPT_IMAGE, OPT_SNAPSHOT, OPT_SPEC,
	OPT_RUNTIME, OPT_LABEL, OPT_VIEW, OPT_JSON, OPT_FILTER, OPT_KEEP,
};

#define COMMON_OPTIONS                                                       \
	{ "root", required_argument, NULL, OPT_ROOT },                       \
	{ "namespace", required_argument, NULL, 'n' },                       \
	{ "help", no_argument, NULL, 'h' }

static const struct option global_options[] = {
	COMMON_OPTIONS,
	{ NULL, 0, NULL, 0 },
};

static const struct option create_options[] = {
	COMMON_OPTIONS,
	{ "snapshotter", required_argument, NULL, OPT_SNAPSHOTTER },
	{ "image", required_argument, NULL, OPT_IMAGE },
	{ "snapshot", required_argument, NULL, OPT_SNAPSHOT },
	{ "spec", required_argument, NULL, OPT_SPEC },
	{ "runtime", required_argument, NULL, OPT_RUNTIME },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "view", no_argument, NULL, OPT_VIEW },
	{ NULL, 0, NULL, 0 },
};

static const struct option ls_options[] = {
	COMMON_OPTIONS,
	{ "quiet", no_argument, NULL, 'q' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "filter", required_argument, NULL, OPT_FILTER },
	{ NULL, 0, NULL, 0 },
};

static const struct option rm_options[] = {
	COMMON_OPTIONS,
	{ "keep-snapshot", no_argument, NULL, OPT_KEEP },
	{ NULL, 0, NULL, 0 },
};

/* Handles --root, -n and -h, and returns 0 for any other option. */
static int
common_option(struct options *o, int c, const char *arg)
{
	switch (c) {
	case OPT_ROOT: o->root = arg; return 1;
	case 'n': o->ns = arg; return 1;
	case 'h': usage(); exit(0);
	}
	return 0;
}

static void
check_id(const char *id)
{
	struct ck_err *err = NULL;

	if (ck_container_id_check(id, &err) < 0)
		ck_cli_misuse("%s", err->msg);
}

/* Splits a key=value operand; the value is NULL without '='. */
static void
split_label(const char *arg, char **key, char **value)
{
	const char *eq = strchr(arg, '=');

	*key = eq ? ck_xstrndup(arg, (size_t)(eq - arg)) : ck_xstrdup(arg);
	*value = eq ? ck_xstrdup(eq + 1) : NULL;
}

static void
add_create_label(struct options *o, const char *arg)
{
	struct ck_err *err = NULL;
	char *key, *value;

	split_label(arg, &key, &value);
	if (value == NULL || *value == '\0')
		ck_cli_misuse("invalid label '%s': use --label key=value "
			      "with a value", arg);
	if (ck_container_label_check(key, value, &err) < 0)
		ck_cli_misuse("%s", err->msg);
	if (o->labels == NULL)
		o->labels = json_object();
	json_object_set_new(o->labels, key, json_string(value));
	free(key);
	free(value);
}

static void
create_option(struct options *o, int c, const char *arg)
{
	struct ck_err *err = NULL;
	int rc;

	switch (c) {
	case OPT_SNAPSHOTTER: o->snapshotter = arg; return;
	case OPT_IMAGE: o->image = arg; return;
	case OPT_SNAPSHOT: o->snapshot = arg; return;
	case OPT_SPEC: o->spec_file = arg; return;
	case OPT_RUNTIME:
		if (ck_check_text("runtime", arg, &err) < 0)
			ck_cli_misuse("%s", err->msg);
		o->runtime = arg;
		return;
	case OPT_LABEL: add_create_label(o, arg); return;
	case OPT_VIEW: o->view = 1; return;
	}
	rc = ck_spec_parse_option(&o->spec, c, arg, &err);
	if (rc == 0) {
		o->spec_options = 1;
		return;
	}
	if (rc > 0)
		CK_BUG("unhandled option");
	if (ck_err_code(err) == CK_E_INVALID)
		ck_cli_misuse("%s", err->msg);
	ck_err_print("ccontainer", err);
	exit(1);
}

static void
parse_create(int argc, char **argv, struct options *o)
{
	struct option *longopts;
	struct ck_err *err = NULL;
	int c;

	longopts = ck_cli_join_options(create_options, ck_spec_longopts);
	while ((c = getopt_long(argc, argv, "+te:u:n:h", longopts,
				NULL)) != -1) {
		if (c == '?' || c == ':')
			ck_cli_misuse("invalid option '%s'", argv[optind - 1]);
		if (!common_option(o, c, optarg))
			create_option(o, c, optarg);
	}
	free(longopts);
	if (o->image == NULL && optind < argc)
		o->image = argv[optind++];
	if (o->image == NULL || optind >= argc)
		ck_cli_misuse("create needs an image and a container ID");
	o->id = argv[optind++];
	check_id(o->id);
	if (optind < argc)
		o->spec.args = &argv[optind];
	if (o->spec_file && (o->spec_options || o->spec.args))
		ck_cli_misuse("--spec cannot be combined with spec options "
			      "or arguments; give them to cspec");
	if (o->snapshot != NULL &&
	    ck_check_text("snapshot key", o->snapshot, &err) < 0)
		ck_cli_misuse("%s", err->msg);
}

static void
add_filter(struct options *o, const char *arg)
{
	struct label_filter *f;

	if (!ck_has_prefix(arg, "label.") || arg[6] == '\0' || arg[6] == '=')
		ck_cli_misuse("invalid filter '%s': use label.<key> or "
			      "label.<key>=<value>", arg);
	o->filters = ck_xrealloc(o->filters, (o->n_filters + 1) *
				 sizeof(*o->filters));
	f = &o->filters[o->n_filters++];
	split_label(arg + 6, &f->key, &f->value);
}

static void
parse_ls(int argc, char **argv, struct options *o)
{
	int c;

	while ((c = getopt_long(argc, argv, "qn:h", ls_options,
				NULL)) != -1) {
		if (c == '?' || c == ':')
			ck_cli_misuse("invalid option '%s'", argv[optind - 1]);
		if (common_option(o, c, optarg))
			continue;
		if (c == 'q')
			o->quiet = 1;
		else if (c == OPT_JSON)
			o->json = 1;
		else
			add_filter(o, optarg);
	}
	if (optind < argc)
		ck_cli_misuse("ls takes no operands; filter with --filter");
	if (o->quiet && o->json)
		ck_cli_misuse("-q and --json cannot be combined");
}

static void
add_label_operand(struct options *o, const char *arg)
{
	struct ck_err *err = NULL;
	size_t n = o->n_labels;
	char *key, *value;

	split_label(arg, &key, &value);
	if (value == NULL)
		ck_cli_misuse("invalid label '%s': use key=value, or key= to "
			      "remove it", arg);
	if (ck_container_label_check(key, value, &err) < 0)
		ck_cli_misuse("%s", err->msg);
	o->label_keys = ck_xrealloc(o->label_keys, (n + 1) * sizeof(char *));
	o->label_values = ck_xrealloc(o->label_values,
				      (n + 1) * sizeof(char *));
	o->label_keys[n] = key;
	o->label_values[n] = value;
	o->n_labels++;
}

/* Parses info, label and rm, whose operands start with IDs. */
static void
parse_ids(const char *cmd, int argc, char **argv, struct options *o)
{
	int c, i;

	while ((c = getopt_long(argc, argv, "n:h", strcmp(cmd, "rm") == 0 ?
				rm_options : global_options, NULL)) != -1) {
		if (c == '?' || c == ':')
			ck_cli_misuse("invalid option '%s'", argv[optind - 1]);
		if (!common_option(o, c, optarg))
			o->keep_snapshot = 1;
	}
	if (optind >= argc)
		ck_cli_misuse("%s needs a container ID", cmd);
	if (strcmp(cmd, "rm") != 0 && strcmp(cmd, "label") != 0 &&
	    argc - optind > 1)
		ck_cli_misuse("%s takes one container ID", cmd);
	o->ids = &argv[optind];
	o->n_ids = strcmp(cmd, "label") == 0 ? 1 : (size_t)(argc - optind);
	for (i = 0; i < (int)o->n_ids; i++)
		check_id(o->ids[i]);
	for (i = optind + (int)o->n_ids; i < argc; i++)
		add_label_operand(o, argv[i]);
}

static const char *
parse_args(int argc, char **argv, struct options *o)
{
	const char *cmd;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+n:h", global_options,
				NULL)) != -1) {
		if (c == '?' || c == ':')
			ck_cli_misuse("invalid option '%s'", argv[optind - 1]);
		common_option(o, c, optarg);
	}
	if (optind >= argc)
		ck_cli_misuse("missing command: use create, ls, info, label "
			      "or rm");
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	/* glibc restarts its scan of a new argv when optind is 0. */
	optind = 0;
	if (strcmp(cmd, "create") == 0)
		parse_create(argc, argv, o);
	else if (strcmp(cmd, "ls") == 0)
		parse_ls(argc, argv, o);
	else if (strcmp(cmd, "info") == 0 || strcmp(cmd, "label") == 0 ||
		 strcmp(cmd, "rm") == 0)
		parse_ids(cmd, argc, argv, o);
	else
		ck_cli_misuse("unknown command '%s': use create, ls, info, "
			      "label or rm", cmd);
	return cmd;
}

static int
fail(struct ck_err **errp)
{
	ck_err_print("ccontainer", *errp);
	ck_err_free(errp);
	return 1;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Prints the labels as key=value lines, sorted by key. */
static void
print_labels(json_t *labels)
{
	size_t i, n = json_object_size(labels);
	const char **keys = ck_xcalloc(n, sizeof(*keys));
	const char *key;
	json_t *value;

	i = 0;
	json_object_foreach(labels, key, value)
		keys[i++] = key;
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (i = 0; i < n; i++)
		printf("%s=%s\n", keys[i], json_string_value(
			json_object_get(labels, keys[i])));
	free(keys);
}

static int
cmd_label(const struct options *o, const struct ck_store *st)
{
	struct ck_container c;
	struct ck_err *err = NULL;
	int rc;

	if (o->n_labels == 0)
		rc = ck_container_get(st, o->ids[0], &c, &err);
	else
		rc = ck_container_set_labels(st, o->ids[0], o->label_keys,
					     o->label_values, o->n_labels, &c,
					     &err);
	if (rc < 0)
		return fail(&err);
	print_labels(c.labels);
	ck_container_free(&c);
	return 0;
}

static int
cmd_info(const struct options *o, const struct ck_store *st)
{
	struct ck_container c;
	struct ck_err *err = NULL;
	json_t *j, *spec;

	if (ck_container_get(st, o->ids[0], &c, &err) < 0)
		return fail(&err);
	spec = ck_container_spec_load(st, c.id, &err);
	if (spec == NULL && ck_err_code(err) != CK_E_NOTFOUND) {
		ck_container_free(&c);
		return fail(&err);
	}
	ck_err_free(&err);
	j = ck_container_to_json(&c);
	json_object_set_new(j, "spec", spec ? spec : json_null());
	json_dumpf(j, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(j);
	ck_container_free(&c);
	return 0;
}

static int
cmd_rm(const struct options *o, const struct ck_store *st)
{
	struct ck_err *err = NULL;
	size_t i;
	int rc = 0;

	/* Each ID is tried, as rm(1) does, and any failure sets the
	 * exit status. */
	for (i = 0; i < o->n_ids; i++) {
		if (ck_container_delete(st, o->ids[i], o->keep_snapshot,
					&err) < 0) {
			ck_err_wrap(&err, "remove container '%s'", o->ids[i]);
			rc = fail(&err);
		}
	}
	return rc;
}

static void
options_free(struct options *o)
{
	size_t i;

	for (i = 0; i < o->n_filters; i++) {
		free(o->filters[i].key);
		free(o->filters[i].value);
	}
	free(o->filters);
	for (i = 0; i < o->n_labels; i++) {
		free(o->label_keys[i]);
		free(o->label_values[i]);
	}
	free(o->label_keys);
	free(o->label_values);
	json_decref(o->labels);
	ck_spec_opts_free(&o->spec);
}

int
main(int argc, char **argv)
{
	struct options o = { .runtime = "runc" };
	struct ck_store st;
	struct ck_err *err = NULL;
	const char *cmd;
	int rc;

	ck_log_init("ccontainer");
	cmd = parse_args(argc, argv, &o);
	if (strcmp(cmd, "create") == 0) {
		rc = cmd_create(&o);
	} else if (ck_store_open_existing(&st, o.root, o.ns, &err) < 0) {
		rc = strcmp(cmd, "ls") == 0 &&
			ck_cli_list_without_store(&err) ? 0 : fail(&err);
	} else {
		if (strcmp(cmd, "ls") == 0)
			rc = cmd_ls(&o, &st);
		else if (strcmp(cmd, "info") == 0)
			rc = cmd_info(&o, &st);
		else if (strcmp(cmd, "label") == 0)
			rc = cmd_label(&o, &st);
		else
			rc = cmd_rm(&o, &st);
		ck_store_close(&st);
	}
	options_free(&o);
	if (ck_cli_flush_stdout() < 0 && rc == 0)
		rc = 1;
	return rc;
}
