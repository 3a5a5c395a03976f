/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cpush: push an image of the ckit store to a registry. stdout carries
 * only the result line; logs, progress and errors go to stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "push.h"
#include "util.h"

enum {
	OPT_JSON = 256,
	OPT_ROOT,
	OPT_PLAIN_HTTP,
	OPT_USER,
	OPT_HOSTS_DIR,
	OPT_CHUNK_SIZE,
};

struct options {
	struct push_opts push;
	const char *user;
	int quiet;
	int verbose;
	int json;
};

static const char usage_text[] =
"usage: cpush [-qv] [--json] [--plain-http] [--chunk-size <bytes>]\n"
"             [--hosts-dir <dir>] [--user <user>[:<password>]]\n"
"             [--root <dir>] [-n <namespace>] <source> [<destination>]\n"
"Push an image of the content store to a registry and print NAME@DIGEST:\n"
"the normalised destination and the digest it now names. With one\n"
"reference, the image of that name is pushed to the registry it names.\n"
"\n"
"  -q, --quiet             print only errors on stderr\n"
"  -v, --verbose           print each step on stderr; twice for debug\n"
"      --json              print one JSON object instead of NAME@DIGEST\n"
"      --plain-http        use HTTP, not HTTPS (loopback hosts always do)\n"
"      --chunk-size <bytes>\n"
"                          upload blobs larger than this in chunks of\n"
"                          this many bytes (suffix k, M or G; default:\n"
"                          one request per blob)\n"
"      --hosts-dir <dir>   hosts.toml directory (default $CKIT_HOSTS_DIR,\n"
"                          else /etc/ckit/certs.d, then\n"
"                          /etc/containerd/certs.d)\n"
"      --user <user>[:<password>]\n"
"                          registry credentials; without a password,\n"
"                          $CKIT_PASSWORD (default: Docker's config.json)\n"
"      --root <dir>        store root (default $CKIT_ROOT, else\n"
"                          /var/lib/ckit)\n"
"  -n, --namespace <namespace>\n"
"                          namespace of the image record (default\n"
"                          $CKIT_NAMESPACE, else default)\n"
"  -h, --help              print this help and exit\n"
"\n"
"Exit status: 0 pushed, 1 failed, 2 usage error.\n";

/* Parses "<n>[k|M|G]" bytes, from 1 KiB to 1 GiB. */
static int64_t
parse_size(const char *s)
{
	char *end;
	long long v;
	int64_t mult = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || v <= 0)
		return -1;
	if (*end == 'k' || *end == 'K')
		mult = 1024;
	else if (*end == 'M')
		mult = 1024 * 1024;
	else if (*end == 'G')
		mult = 1024 * 1024 * 1024;
	if (mult > 1)
		end++;
	if (*end != '\0' || v > (1LL << 30) / mult)
		return -1;
	v *= mult;
	return v < 1024 ? -1 : v;
}

static void
set_option(struct options *o, int c, char **argv)
{
	switch (c) {
	case 'q':
		o->quiet = 1;
		break;
	case 'v':
		o->verbose++;
		break;
	case OPT_JSON:
		o->json = 1;
		break;
	case OPT_PLAIN_HTTP:
		o->push.plain_http = 1;
		break;
	case OPT_CHUNK_SIZE:
		o->push.chunk_size = parse_size(optarg);
		if (o->push.chunk_size < 0)
			ck_cli_misuse("invalid --chunk-size '%s': expected "
				      "bytes from 1k to 1G", optarg);
		break;
	case OPT_HOSTS_DIR:
		o->push.hosts_dir = optarg;
		break;
	case OPT_USER:
		o->user = optarg;
		break;
	case OPT_ROOT:
		o->push.root = optarg;
		break;
	case 'n':
		o->push.ns = optarg;
		break;
	case 'h':
		fputs(usage_text, stdout);
		exit(0);
	case ':':
		ck_cli_option_error("missing argument for option", argv);
	default:
		ck_cli_option_error("unknown option", argv);
	}
}

static void
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "plain-http", no_argument, NULL, OPT_PLAIN_HTTP },
		{ "chunk-size", required_argument, NULL, OPT_CHUNK_SIZE },
		{ "hosts-dir", required_argument, NULL, OPT_HOSTS_DIR },
		{ "user", required_argument, NULL, OPT_USER },
		{ "root", required_argument, NULL, OPT_ROOT },
		{ "namespace", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:qvn:h", longopts, NULL)) != -1)
		set_option(o, c, argv);
	if (optind == argc)
		ck_cli_misuse("missing image reference");
	if (argc - optind > 2)
		ck_cli_misuse("unexpected argument '%s': give a source and at "
			      "most one destination", argv[optind + 2]);
	o->push.source = argv[optind];
	o->push.dest = argc - optind == 2 ? argv[optind + 1] : argv[optind];
}

static void
print_json(const struct push_result *res)
{
	json_t *j = json_object();

	json_object_set_new(j, "name", json_string(res->name));
	json_object_set_new(j, "digest", json_string(res->digest));
	json_object_set_new(j, "media_type", json_string(res->media_type));
	json_object_set_new(j, "size", json_integer(res->size));
	json_object_set_new(j, "manifests", json_integer(res->manifests));
	json_object_set_new(j, "blobs_uploaded", json_integer(res->uploaded));
	json_object_set_new(j, "blobs_mounted", json_integer(res->mounted));
	json_object_set_new(j, "blobs_existing", json_integer(res->existing));
	json_object_set_new(j, "bytes_uploaded",
			    json_integer(res->bytes_uploaded));
	ck_cli_print_json(j);
	json_decref(j);
}

static int
print_result(const struct options *o, const struct push_result *res)
{
	if (!o->json)
		return ck_cli_print_ref(res->name, res->digest) < 0 ? 1 : 0;
	print_json(res);
	return ck_cli_flush_stdout() < 0 ? 1 : 0;
}

static int
run_push(struct options *o)
{
	struct push_result res;
	struct ck_creds creds = { 0 };
	struct ck_err *err = NULL;
	int status = 1;

	if (o->user != NULL && ck_creds_from_user(o->user, &creds, &err) < 0)
		goto out;
	o->push.creds = o->user ? &creds : NULL;
	o->push.progress = ck_cli_progress(o->quiet);
	if (push_image(&o->push, &res, &err) < 0)
		goto out;
	status = print_result(o, &res);
	push_result_free(&res);
out:
	if (err != NULL)
		ck_err_print("cpush", err);
	ck_err_free(&err);
	ck_creds_free(&creds);
	return status;
}

int
main(int argc, char **argv)
{
	struct options o = { 0 };

	ck_log_init("cpush");
	parse_options(argc, argv, &o);
	ck_cli_set_verbosity(o.quiet, o.verbose);
	return run_push(&o);
}
