/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cunpack: apply an image's layers into committed snapshots and print the
 * top chain ID; optionally prepare a writable snapshot on top of it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "snapshot.h"
#include "store.h"
#include "unpack.h"
#include "util.h"

struct options {
	const char *root;
	const char *ns;
	const char *snapshotter;
	const char *prepare;
	const char *ref;
	int quiet;
	int json;
	int no_sync;
	enum ck_sn_flatten flatten;
};

static void
usage(void)
{
	fputs("usage: cunpack [-qv] [--json] [--no-sync] [--[no-]flatten] "
	      "[--root <dir>]\n"
	      "               [-n <namespace>] [--snapshotter <name>] "
	      "[--prepare <key>]\n"
	      "               [<reference> | -]\n"
	      "Apply an image's layers into snapshots and print the chain ID "
	      "of the top layer.\n"
	      "The reference is read from stdin when it is '-' or missing, "
	      "so\n'cpull REF | cunpack' works.\n"
	      "\n"
	      "  -q, --quiet              no progress, no warnings\n"
	      "  -v, --verbose            more messages on stderr\n"
	      "      --json               print one JSON object instead\n"
	      "      --no-sync            commit layers without waiting for "
	      "them to reach\n"
	      "                           the disk (a crash can leave a "
	      "broken layer)\n"
	      "      --flatten            apply the missing layers into one "
	      "snapshot (btrfs\n"
	      "                           or native; the default on native)\n"
	      "      --no-flatten         commit one snapshot per layer\n"
	      "      --root <dir>         store root (default $CKIT_ROOT or "
	      "/var/lib/ckit)\n"
	      "  -n, --namespace <ns>     namespace (default $CKIT_NAMESPACE "
	      "or default)\n"
	      "      --snapshotter <name> overlayfs, btrfs or native (default "
	      "the store's,\n"
	      "                           else overlayfs)\n"
	      "      --prepare <key>      also prepare a writable snapshot "
	      "<key> on the image\n"
	      "  -h, --help               show this help\n"
	      "\n"
	      "Exit status: 0 unpacked, 1 failed, 2 usage error.\n", stdout);
}

static void
parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-sync", no_argument, NULL, 'S' },
		{ "flatten", no_argument, NULL, 'F' },
		{ "no-flatten", no_argument, NULL, 'N' },
		{ "root", required_argument, NULL, 'r' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "snapshotter", required_argument, NULL, 's' },
		{ "prepare", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:qvn:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'q': o->quiet = 1; ck_log_set_level(CK_LOG_ERROR); break;
		case 'v': ck_log_set_level(ck_log_get_level() + 1); break;
		case 'j': o->json = 1; break;
		case 'S': o->no_sync = 1; break;
		case 'F': o->flatten = CK_FLATTEN_ON; break;
		case 'N': o->flatten = CK_FLATTEN_OFF; break;
		case 'r': o->root = optarg; break;
		case 'n': o->ns = optarg; break;
		case 's': o->snapshotter = optarg; break;
		case 'p': o->prepare = optarg; break;
		case 'h': usage(); exit(ck_cli_flush_stdout() < 0);
		default:
			ck_cli_bad_option(c, argv);
		}
	}
	if (argc - optind > 1)
		ck_cli_misuse("too many arguments");
	o->ref = optind < argc ? argv[optind] : NULL;
}

/* Exits 2 when --flatten is given for a snapshotter that keeps one
 * layer per snapshot. */
static void
check_flatten(const struct options *o, const char *snapshotter)
{
	if (o->flatten == CK_FLATTEN_ON && snapshotter &&
	    strcmp(snapshotter, "overlayfs") == 0)
		ck_cli_misuse("--flatten needs the btrfs or native snapshotter, "
			      "not '%s'", snapshotter);
}

static void
progress(size_t i, size_t n, const char *digest, void *arg)
{
	(void)arg;
	fprintf(stderr, "cunpack: applying layer %zu/%zu %.19s\n", i + 1, n,
		digest);
}

static void
print_result(const struct options *o, const struct ck_image *img,
	     const struct ck_snapshotter *sn,
	     const struct ck_unpack_result *res)
{
	json_t *j;

	if (!o->json) {
		printf("%s\n", res->chain_id);
		return;
	}
	j = json_pack("{s:s, s:s, s:s, s:I, s:I}", "name", img->name,
		      "digest", img->target.digest, "chain_id", res->chain_id,
		      "layers", (json_int_t)res->layers,
		      "applied", (json_int_t)res->applied);
	json_object_set_new(j, "snapshotter", json_string(sn->name));
	if (o->prepare)
		json_object_set_new(j, "snapshot", json_string(o->prepare));
	ck_cli_print_json(j);
	json_decref(j);
}

static int
run_unpack(const struct options *o, struct ck_err **errp)
{
	struct ck_store st;
	struct ck_snapshotter sn;
	struct ck_image img = { 0 };
	struct ck_unpack_result res = { 0 };
	char *ref;
	int rc = -1;

	/* A usage error, so checked before anything is opened. */
	check_flatten(o, o->snapshotter);
	ref = ck_cli_ref(o->ref, errp);
	if (ref == NULL)
		return -1;
	if (ck_store_open_existing(&st, o->root, o->ns, errp) < 0) {
		free(ref);
		return -1;
	}
	if (ck_sn_open(&sn, &st, o->snapshotter, errp) < 0)
		goto out_store;
	check_flatten(o, sn.name);
	sn.no_sync = o->no_sync;
	sn.flatten = o->flatten;
	if (ck_image_resolve(&st, ref, &img, errp) < 0)
		goto out;
	if (ck_unpack_image(&st, &sn, &img, ck_cli_progress(o->quiet) ?
			    progress : NULL, NULL, &res, errp) < 0)
		goto out;
	if (o->prepare && ck_sn_prepare(&sn, o->prepare, res.chain_id,
					CK_SNAP_ACTIVE, NULL, errp) < 0)
		goto out;
	print_result(o, &img, &sn, &res);
	rc = 0;
out:
	ck_unpack_result_free(&res);
	ck_image_free(&img);
	ck_sn_close(&sn);
out_store:
	ck_store_close(&st);
	free(ref);
	return rc;
}

int
main(int argc, char **argv)
{
	struct options o = { 0 };
	struct ck_err *err = NULL;

	ck_log_init("cunpack");
	parse_args(argc, argv, &o);
	if (run_unpack(&o, &err) < 0) {
		ck_err_print("cunpack", err);
		ck_err_free(&err);
		return 1;
	}
	return ck_cli_flush_stdout() < 0 ? 1 : 0;
}
