/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cplatform: print this machine's platform, normalise and match platform
 * specifiers, and choose or list the manifests of an image index. Every
 * choice goes through ck_platform_select, as cpull's does, so 'cplatform
 * select' shows what cpull would fetch.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "manifest.h"
#include "platform.h"
#include "store.h"
#include "util.h"

enum {
	OPT_JSON = 256,
	OPT_STRICT,
	OPT_PLATFORM,
	OPT_ROOT,
};

/* Options that only some commands take, as bits of struct command. */
enum {
	TAKES_JSON = 1 << 0,
	TAKES_STRICT = 1 << 1,
	TAKES_PLATFORM = 1 << 2,
};

struct options {
	const char *root;
	const char *ns;
	const char *platform;
	int json;
	int strict;
	unsigned given;		/* TAKES_* bits of the options given */
	char **args;		/* operands after the command */
	int n_args;
};

static const char usage_text[] =
"usage: cplatform host [--json]\n"
"       cplatform parse [--json] <platform>...\n"
"       cplatform match [--strict] <want> <have>\n"
"       cplatform select [--strict] [--platform <platform>] [<reference>]\n"
"       cplatform ls [--json] <reference>\n"
"Print this machine's platform, normalise and match platforms, and choose\n"
"a manifest from an image index (on stdin, or an image's in the store).\n"
"\n"
"      --json              print JSON, one object per line\n"
"      --strict            match the platform only, no lower variant\n"
"      --platform <platform>\n"
"                          platform to select (default $CKIT_PLATFORM,\n"
"                          else this machine's)\n"
"      --root <dir>        store root (default $CKIT_ROOT, else\n"
"                          /var/lib/ckit)\n"
"  -n, --namespace <namespace>\n"
"                          namespace (default $CKIT_NAMESPACE, else default)\n"
"  -h, --help              print this help and exit\n"
"\n"
"A platform is os/arch[/variant], or a bare os or arch: linux/arm/v7,\n"
"amd64. match exits 0 when an image for <have> runs as <want>.\n"
"\n"
"Exit status: 0 done or matched, 1 no match or failure, 2 usage error.\n";

/* Names the option getopt_long rejected. For a short option in a bundle
 * such as "-hz", argv contains the bundle and optopt the letter. */
static _Noreturn void
option_error(const char *what, char **argv)
{
	const char *arg = argv[optind - 1];

	if (ck_has_prefix(arg, "--"))
		ck_cli_misuse("%s '%.*s'", what, (int)strcspn(arg, "="), arg);
	ck_cli_misuse("%s '-%c'", what, optopt);
}

/* stdout is flushed first, so that a message follows the lines printed
 * before it also when both streams go to one terminal or file. */
static void
print_error(struct ck_err **err)
{
	fflush(stdout);
	ck_err_print("cplatform", *err);
	ck_err_free(err);
}

/* Writes stdout out and reports a failed write, such as a closed pipe. */
static int
flush_stdout(void)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "cplatform: write to stdout failed: %s\n",
			strerror(errno));
		return 1;
	}
	return 0;
}

static void
print_platform(const struct options *o, const struct ck_platform *p)
{
	json_t *j;
	char *s;

	if (o->json) {
		j = ck_platform_to_json(p);
		ck_cli_print_json(j);
		json_decref(j);
		return;
	}
	s = ck_platform_format_all(p);
	printf("%s\n", s);
	free(s);
}

/* ------------------------------------------------------------ commands */

static int
run_host(const struct options *o)
{
	struct ck_platform p;
	struct ck_err *err = NULL;

	if (ck_platform_host(&p, &err) < 0) {
		print_error(&err);
		return 1;
	}
	print_platform(o, &p);
	ck_platform_free(&p);
	return flush_stdout();
}

/* Prints each specifier normalised; a malformed one is reported and the
 * rest are still printed. */
static int
run_parse(const struct options *o)
{
	struct ck_platform p;
	struct ck_err *err = NULL;
	int i, status = 0;

	for (i = 0; i < o->n_args; i++) {
		if (ck_platform_parse(o->args[i], &p, &err) < 0) {
			print_error(&err);
			status = 1;
			continue;
		}
		print_platform(o, &p);
		ck_platform_free(&p);
	}
	return flush_stdout() || status;
}

static int
run_match(const struct options *o)
{
	struct ck_platform want, have;
	struct ck_err *err = NULL;
	int match;

	if (ck_platform_parse(o->args[0], &want, &err) < 0) {
		print_error(&err);
		return 1;
	}
	if (ck_platform_parse(o->args[1], &have, &err) < 0) {
		ck_platform_free(&want);
		print_error(&err);
		return 1;
	}
	match = ck_platform_match(&want, &have, o->strict);
	ck_platform_free(&want);
	ck_platform_free(&have);
	return match ? 0 : 1;
}

/* Reads stdin whole, up to the size of a manifest. */
static int
read_stdin(char **data, size_t *len, struct ck_err **errp)
{
	struct ck_buf b = { 0 };
	char chunk[65536];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		if (b.len + n > CK_MANIFEST_MAX) {
			ck_buf_free(&b);
			return ck_err_setc(errp, CK_E_INVALID, 0, "stdin: an "
					   "index is at most %d bytes",
					   CK_MANIFEST_MAX);
		}
		ck_buf_add(&b, chunk, n);
	}
	if (ferror(stdin)) {
		ck_buf_free(&b);
		return ck_err_set(errp, errno, "read stdin");
	}
	ck_buf_add(&b, "", 0);
	*data = b.data;
	*len = b.len;
	return 0;
}

/* The entries of an image without an index: its one manifest, with the
 * platform of its record. */
static int
record_entries(const struct ck_image *img, struct ck_platform_entry **e,
	       size_t *n, struct ck_err **errp)
{
	json_t *idx = json_object(), *desc = json_object(), *list;
	struct ck_platform p;
	char *data;
	int rc;

	json_object_set_new(desc, "mediaType",
			    json_string(img->manifest.media_type));
	json_object_set_new(desc, "digest", json_string(img->manifest.digest));
	json_object_set_new(desc, "size", json_integer(img->manifest.size));
	if (img->platform && ck_platform_parse(img->platform, &p, NULL) == 0) {
		json_object_set_new(desc, "platform", ck_platform_to_json(&p));
		ck_platform_free(&p);
	}
	list = json_array();
	json_array_append_new(list, desc);
	json_object_set_new(idx, "manifests", list);
	data = json_dumps(idx, JSON_COMPACT);
	json_decref(idx);
	rc = ck_platform_index_parse(data, strlen(data), e, n, errp);
	free(data);
	return rc;
}

/*
 * Resolves ref in the store and reads the entries of its index, or its
 * one manifest when the name resolved to a manifest. On success the store
 * stays open and img filled for the caller to release.
 */
static int
image_entries(const struct options *o, const char *ref,
	      struct ck_store *st, struct ck_image *img,
	      struct ck_platform_entry **e, size_t *n, struct ck_err **errp)
{
	char *data;
	size_t len;
	int rc;

	if (ck_store_open_existing(st, o->root, o->ns, errp) < 0)
		return -1;
	rc = ck_image_resolve(st, ref, img, errp);
	if (rc == 0 &&
	    ck_media_type_kind(img->target.media_type) != CK_KIND_INDEX) {
		rc = record_entries(img, e, n, errp);
	} else if (rc == 0) {
		rc = ck_store_blob_read(st, img->target.digest,
					CK_MANIFEST_MAX, &data, &len, errp);
		if (rc == 0) {
			rc = ck_platform_index_parse(data, len, e, n, errp);
			free(data);
		}
		if (rc < 0)
			ck_err_wrap(errp, "index of image '%s'", img->name);
	}
	if (rc < 0) {
		ck_image_free(img);
		ck_store_close(st);
	}
	return rc;
}

static int
select_from(const struct options *o, struct ck_platform_entry *e,
	    size_t n, struct ck_err **errp)
{
	struct ck_platform want;
	size_t best;
	int rc;

	if (o->platform != NULL)
		rc = ck_platform_parse(o->platform, &want, errp);
	else
		rc = ck_platform_default(&want, errp);
	if (rc < 0)
		return -1;
	rc = ck_platform_select(&want, o->strict, e, n, &best, errp);
	ck_platform_free(&want);
	if (rc == 0)
		ck_cli_print_json(e[best].json);
	return rc;
}

static int
run_select(const struct options *o)
{
	const char *ref = o->n_args ? o->args[0] : NULL;
	struct ck_platform_entry *e = NULL;
	struct ck_image img = { 0 };
	struct ck_store st;
	struct ck_err *err = NULL;
	char *data = NULL;
	size_t n = 0, len;
	int rc;

	if (ref == NULL || strcmp(ref, "-") == 0) {
		rc = read_stdin(&data, &len, &err);
		if (rc == 0 && ck_platform_index_parse(data, len, &e, &n,
						       &err) < 0)
			rc = ck_err_wrap(&err, "stdin");
		if (rc == 0)
			rc = select_from(o, e, n, &err);
		free(data);
	} else {
		rc = image_entries(o, ref, &st, &img, &e, &n, &err);
		if (rc == 0) {
			if (select_from(o, e, n, &err) < 0)
				rc = ck_err_wrap(&err, "image '%s'", img.name);
			ck_store_close(&st);
			ck_image_free(&img);
		}
	}
	ck_platform_entries_free(e, n);
	if (rc < 0) {
		print_error(&err);
		return 1;
	}
	return flush_stdout();
}

static void
print_entry_json(const struct ck_platform_entry *e, int current,
		 int stored)
{
	json_t *j = json_object(), *features = json_array();
	char *platform = NULL;
	size_t i;

	if (e->has_platform)
		platform = ck_platform_format(&e->platform);
	for (i = 0; i < e->platform.n_os_features; i++)
		json_array_append_new(features,
				      json_string(e->platform.os_features[i]));
	json_object_set_new(j, "platform", platform ? json_string(platform) :
				json_null());
	json_object_set_new(j, "os_version", e->platform.os_version ?
			    json_string(e->platform.os_version) : json_null());
	json_object_set_new(j, "os_features", features);
	json_object_set_new(j, "media_type", json_string(e->desc.media_type));
	json_object_set_new(j, "digest", json_string(e->desc.digest));
	json_object_set_new(j, "size", json_integer(e->desc.size));
	json_object_set_new(j, "current", json_boolean(current));
	json_object_set_new(j, "stored", json_boolean(stored));
	ck_cli_print_json(j);
	json_decref(j);
	free(platform);
}

/* platform, digest, size, current, stored, os.version, os.features */
static void
print_entry_line(const struct ck_platform_entry *e, int current,
		 int stored)
{
	char *platform = e->has_platform ? ck_platform_format(&e->platform) :
					   ck_xstrdup("-");
	size_t i;

	printf("%s\t%s\t%lld\t%s\t%s\t%s\t", platform, e->desc.digest,
	       (long long)e->desc.size, current ? "*" : "-",
	       stored ? "stored" : "missing",
	       e->platform.os_version ? e->platform.os_version : "-");
	for (i = 0; i < e->platform.n_os_features; i++)
		printf("%s%s", i ? "," : "", e->platform.os_features[i]);
	printf("%s\n", e->platform.n_os_features ? "" : "-");
	free(platform);
}

static int
run_ls(const struct options *o)
{
	struct ck_platform_entry *e = NULL;
	struct ck_image img = { 0 };
	struct ck_store st;
	struct ck_err *err = NULL;
	char *ref = ck_cli_ref(o->args[0], &err);
	size_t n = 0, i;
	int current, stored;

	if (ref == NULL || image_entries(o, ref, &st, &img, &e, &n,
					 &err) < 0) {
		free(ref);
		print_error(&err);
		return 1;
	}
	for (i = 0; i < n; i++) {
		current = strcmp(e[i].desc.digest, img.manifest.digest) == 0;
		stored = ck_store_blob_exists(&st, e[i].desc.digest);
		if (o->json)
			print_entry_json(&e[i], current, stored);
		else
			print_entry_line(&e[i], current, stored);
	}
	ck_platform_entries_free(e, n);
	ck_store_close(&st);
	ck_image_free(&img);
	free(ref);
	return flush_stdout();
}

/* ------------------------------------------------------------ options */

static const struct command {
	const char *name;
	int (*run)(const struct options *o);
	unsigned takes;		/* TAKES_* */
	int min_args;
	int max_args;		/* -1: any number */
	const char *missing;	/* message for too few operands */
} commands[] = {
	{ "host", run_host, TAKES_JSON, 0, 0, NULL },
	{ "parse", run_parse, TAKES_JSON, 1, -1, "missing platform" },
	{ "match", run_match, TAKES_STRICT, 2, 2,
	  "match needs <want> and <have>" },
	{ "select", run_select, TAKES_STRICT | TAKES_PLATFORM, 0, 1, NULL },
	{ "ls", run_ls, TAKES_JSON, 1, 1, "missing image reference" },
};

static const char *const option_names[] = {
	"--json", "--strict", "--platform",
};

static const struct command *
find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	ck_cli_misuse("unknown command '%s'", name);
}

/* Checks the options and operand count that the command takes. */
static void
check_usage(const struct command *c, const struct options *o)
{
	size_t i;

	for (i = 0; i < sizeof(option_names) / sizeof(option_names[0]); i++)
		if ((o->given & (1u << i)) && !(c->takes & (1u << i)))
			ck_cli_misuse("option '%s' does not apply to '%s'",
				      option_names[i], c->name);
	if (o->n_args < c->min_args)
		ck_cli_misuse("%s", c->missing);
	if (c->max_args >= 0 && o->n_args > c->max_args)
		ck_cli_misuse("unexpected argument '%s' for '%s'",
			      o->args[c->max_args], c->name);
}

static const struct command *
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "strict", no_argument, NULL, OPT_STRICT },
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "root", required_argument, NULL, OPT_ROOT },
		{ "namespace", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct command *c;
	int opt;

	/* Options may come before or after the command, as getopt_long
	 * permutes the operands to the end. */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":n:h", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_JSON:
			o->json = 1;
			o->given |= TAKES_JSON;
			break;
		case OPT_STRICT:
			o->strict = 1;
			o->given |= TAKES_STRICT;
			break;
		case OPT_PLATFORM:
			o->platform = optarg;
			o->given |= TAKES_PLATFORM;
			break;
		case OPT_ROOT:
			o->root = optarg;
			break;
		case 'n':
			o->ns = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case ':':
			option_error("missing argument for option", argv);
		default:
			option_error("unknown option", argv);
		}
	}
	if (optind == argc)
		ck_cli_misuse("missing command: host, parse, match, select "
			      "or ls");
	c = find_command(argv[optind]);
	o->args = argv + optind + 1;
	o->n_args = argc - optind - 1;
	check_usage(c, o);
	return c;
}

int
main(int argc, char **argv)
{
	struct options o = { 0 };
	const struct command *c;

	ck_log_init("cplatform");
	c = parse_options(argc, argv, &o);
	return c->run(&o);
}
