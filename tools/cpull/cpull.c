/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cpull: pull an image from a registry into the ckit content store and
 * record it in a namespace. stdout carries only the result line; logs,
 * progress and errors go to stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "pull.h"
#include "util.h"

enum {
	OPT_JSON = 256,
	OPT_ROOT,
	OPT_PLATFORM,
	OPT_ALL_PLATFORMS,
	OPT_PLAIN_HTTP,
	OPT_USER,
	OPT_HOSTS_DIR,
	OPT_MAX_CONCURRENT,
	OPT_SKIP_NONDIST,
};

#define MAX_CONCURRENT_LIMIT 32

struct options {
	struct pull_opts pull;
	const char *user;
	int quiet;
	int verbose;
	int json;
};

static const char usage_text[] =
"usage: cpull [-qv] [--all-platforms] [--skip-nondistributable] [--json]\n"
"             [--plain-http] [--hosts-dir <dir>]\n"
"             [--max-concurrent-downloads <n>] [--platform <platform>]...\n"
"             [--root <dir>] [--user <user>[:<password>]] [-n <namespace>]\n"
"             <reference>\n"
"Pull an image from a registry into the content store and print\n"
"NAME@DIGEST: the normalised name and the digest it resolved to.\n"
"\n"
"  -q, --quiet             print only errors on stderr\n"
"  -v, --verbose           print each step on stderr; twice for debug\n"
"      --all-platforms     pull every manifest of an index\n"
"      --skip-nondistributable\n"
"                          skip non-distributable layers that the registry\n"
"                          does not have, instead of failing\n"
"      --json              print one JSON object instead of NAME@DIGEST\n"
"      --plain-http        use HTTP, not HTTPS (loopback hosts always do)\n"
"      --hosts-dir <dir>   hosts.toml directory (default $CKIT_HOSTS_DIR,\n"
"                          else /etc/ckit/certs.d, then\n"
"                          /etc/containerd/certs.d)\n"
"      --max-concurrent-downloads <n>\n"
"                          blobs to download at once, 1 to 32 (default 3)\n"
"      --platform <platform>\n"
"                          os/arch[/variant] to pick from an index; given\n"
"                          more than once, pull each and record the first\n"
"                          (default $CKIT_PLATFORM, else this machine's)\n"
"      --root <dir>        store root (default $CKIT_ROOT, else\n"
"                          /var/lib/ckit)\n"
"      --user <user>[:<password>]\n"
"                          registry credentials; without a password,\n"
"                          $CKIT_PASSWORD (default: Docker's config.json)\n"
"  -n, --namespace <namespace>\n"
"                          namespace of the image record (default\n"
"                          $CKIT_NAMESPACE, else default)\n"
"  -h, --help              print this help and exit\n"
"\n"
"A reference is [host[:port]/]path[:tag][@sha256:<hex>]; a name without a\n"
"host is on docker.io, and a missing tag is latest.\n"
"\n"
"Exit status: 0 pulled, 1 failed, 2 usage error.\n";

/* Reads $CKIT_STALL_TIMEOUT, seconds a transfer may stay under 1 byte/s. */
static int
stall_timeout(long *secs, struct ck_err **errp)
{
	const char *s = getenv("CKIT_STALL_TIMEOUT");
	char *end;

	*secs = 0;
	if (s == NULL || *s == '\0')
		return 0;
	errno = 0;
	*secs = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || *secs <= 0 || *secs > 86400)
		return ck_err_setc(errp, CK_E_INVALID, 0, "invalid "
				   "CKIT_STALL_TIMEOUT '%s': expected seconds "
				   "from 1 to 86400", s);
	return 0;
}

/* Parses --max-concurrent-downloads, from 1 to MAX_CONCURRENT_LIMIT. */
static int
parse_count(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 ||
	    v > MAX_CONCURRENT_LIMIT)
		ck_cli_misuse("invalid --max-concurrent-downloads '%s': "
			      "expected a number from 1 to %d", s,
			      MAX_CONCURRENT_LIMIT);
	return (int)v;
}

static void
parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "plain-http", no_argument, NULL, OPT_PLAIN_HTTP },
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "all-platforms", no_argument, NULL, OPT_ALL_PLATFORMS },
		{ "skip-nondistributable", no_argument, NULL,
		  OPT_SKIP_NONDIST },
		{ "hosts-dir", required_argument, NULL, OPT_HOSTS_DIR },
		{ "max-concurrent-downloads", required_argument, NULL,
		  OPT_MAX_CONCURRENT },
		{ "user", required_argument, NULL, OPT_USER },
		{ "root", required_argument, NULL, OPT_ROOT },
		{ "namespace", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:qvn:h", longopts, NULL)) != -1) {
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
			o->pull.plain_http = 1;
			break;
		case OPT_PLATFORM:
			/* Each --platform takes an argv slot, so argc
			 * entries are enough. */
			if (o->pull.platforms == NULL)
				o->pull.platforms = ck_xcalloc(
					(size_t)argc, sizeof(char *));
			o->pull.platforms[o->pull.n_platforms++] = optarg;
			break;
		case OPT_ALL_PLATFORMS:
			o->pull.all_platforms = 1;
			break;
		case OPT_SKIP_NONDIST:
			o->pull.skip_nondistributable = 1;
			break;
		case OPT_HOSTS_DIR:
			o->pull.hosts_dir = optarg;
			break;
		case OPT_MAX_CONCURRENT:
			o->pull.max_concurrent = parse_count(optarg);
			break;
		case OPT_USER:
			o->user = optarg;
			break;
		case OPT_ROOT:
			o->pull.root = optarg;
			break;
		case 'n':
			o->pull.ns = optarg;
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
	if (optind == argc)
		ck_cli_misuse("missing image reference");
	if (argc - optind > 1)
		ck_cli_misuse("unexpected argument '%s': give one reference",
			    argv[optind + 1]);
	o->pull.reference = argv[optind];
}

static void
print_json(const struct pull_result *res)
{
	json_t *j = json_object(), *list = json_array();
	size_t i;

	json_object_set_new(j, "name", json_string(res->name));
	json_object_set_new(j, "digest", json_string(res->digest));
	json_object_set_new(j, "manifest", json_string(res->manifest));
	json_object_set_new(j, "platform", res->platform ?
			    json_string(res->platform) : json_null());
	for (i = 0; i < res->n_manifests; i++)
		json_array_append_new(list, json_pack("{s:s, s:o}", "digest",
			res->manifests[i].digest, "platform",
			res->manifests[i].platform ?
			json_string(res->manifests[i].platform) :
			json_null()));
	json_object_set_new(j, "manifests", list);
	json_object_set_new(j, "size", json_integer(res->size));
	ck_cli_print_json(j);
	json_decref(j);
}

static int
print_result(const struct options *o, const struct pull_result *res)
{
	if (!o->json)
		return ck_cli_print_ref(res->name, res->digest) < 0 ? 1 : 0;
	print_json(res);
	return ck_cli_flush_stdout() < 0 ? 1 : 0;
}

static int
run_pull(struct options *o)
{
	struct pull_result res;
	struct ck_creds creds = { 0 };
	struct ck_err *err = NULL;
	int status = 1;

	if (stall_timeout(&o->pull.stall_timeout, &err) < 0)
		goto out;
	if (o->user != NULL && ck_creds_from_user(o->user, &creds, &err) < 0)
		goto out;
	o->pull.creds = o->user ? &creds : NULL;
	o->pull.progress = ck_cli_progress(o->quiet);
	if (pull_image(&o->pull, &res, &err) < 0)
		goto out;
	status = print_result(o, &res);
	pull_result_free(&res);
out:
	if (err != NULL)
		ck_err_print("cpull", err);
	ck_err_free(&err);
	ck_creds_free(&creds);
	return status;
}

int
main(int argc, char **argv)
{
	struct options o = { 0 };
	int status;

	ck_log_init("cpull");
	parse_options(argc, argv, &o);
	ck_cli_set_verbosity(o.quiet, o.verbose);
	status = run_pull(&o);
	free(o.pull.platforms);
	return status;
}
