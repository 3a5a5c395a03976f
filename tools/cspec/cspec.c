/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cspec: write an OCI runtime spec (config.json) for an image of the
 * store to stdout.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "snapshot.h"
#include "spec.h"
#include "store.h"
#include "util.h"

struct options {
	const char *root;
	const char *ns;
	const char *snapshotter;
	const char *image;
	const char *rootfs;
	const char *output;
	char **env;
	size_t n_env;
	struct ck_spec_opts spec;
};

static void
usage(void)
{
	fputs("usage: cspec [-t] [--read-only] [--root <dir>] [-n <namespace>]\n"
	      "             [-e <key=value>]... [--cwd <dir>] [-u <user>]\n"
	      "             [--hostname <name>] [--id <id>] "
	      "[--entrypoint <path>]\n"
	      "             [--rootfs <dir>] [-o <file>] --image <reference> "
	      "[-- <arg>...]\n"
	      "Write an OCI runtime spec for an image to stdout.\n"
	      "Arguments after '--' replace the image's Cmd and keep its "
	      "Entrypoint;\n--entrypoint replaces the Entrypoint and drops "
	      "the Cmd. The image must be\nunpacked (cunpack) so that user "
	      "names can be looked up in it.\n"
	      "\n"
	      "  -t, --tty                allocate a terminal\n"
	      "      --read-only          mount the root filesystem read-only\n"
	      "  -e, --env <key=value>    set an environment variable "
	      "(repeatable)\n"
	      "      --cwd <dir>          working directory\n"
	      "  -u, --user <user>        user[:group], by name or number\n"
	      "      --hostname <name>    host name in the container\n"
	      "      --id <id>            container ID, for the cgroup path\n"
	      "      --entrypoint <path>  replace the image's Entrypoint\n"
	      "      --image <reference>  image ('-' or none: read from "
	      "stdin)\n"
	      "      --rootfs <dir>       root filesystem to use and to look "
	      "users up in\n"
	      "  -o, --output <file>      write to a file instead of stdout\n"
	      "      --root <dir>         store root (default $CKIT_ROOT or "
	      "/var/lib/ckit)\n"
	      "  -n, --namespace <ns>     namespace (default $CKIT_NAMESPACE "
	      "or default)\n"
	      "  -h, --help               show this help\n"
	      "\n"
	      "Exit status: 0 written, 1 failed, 2 usage error.\n", stdout);
}

enum {
	OPT_READ_ONLY = 256, OPT_CWD, OPT_HOSTNAME, OPT_ID, OPT_ENTRYPOINT,
	OPT_IMAGE, OPT_ROOTFS, OPT_ROOT, OPT_SNAPSHOTTER,
};

static const struct option longopts[] = {
	{ "tty", no_argument, NULL, 't' },
	{ "read-only", no_argument, NULL, OPT_READ_ONLY },
	{ "env", required_argument, NULL, 'e' },
	{ "cwd", required_argument, NULL, OPT_CWD },
	{ "user", required_argument, NULL, 'u' },
	{ "hostname", required_argument, NULL, OPT_HOSTNAME },
	{ "id", required_argument, NULL, OPT_ID },
	{ "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
	{ "image", required_argument, NULL, OPT_IMAGE },
	{ "rootfs", required_argument, NULL, OPT_ROOTFS },
	{ "output", required_argument, NULL, 'o' },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "namespace", required_argument, NULL, 'n' },
	{ "snapshotter", required_argument, NULL, OPT_SNAPSHOTTER },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void
add_env(struct options *o, const char *kv)
{
	if (strchr(kv, '=') == NULL || kv[0] == '=')
		ck_cli_misuse("invalid --env '%s': use KEY=VALUE", kv);
	o->env = ck_xrealloc(o->env, (o->n_env + 2) * sizeof(char *));
	o->env[o->n_env++] = (char *)kv;
	o->env[o->n_env] = NULL;
	o->spec.env = o->env;
}

static void
parse_option(struct options *o, int c)
{
	switch (c) {
	case 't': o->spec.tty = 1; break;
	case OPT_READ_ONLY: o->spec.read_only = 1; break;
	case 'e': add_env(o, optarg); break;
	case OPT_CWD: o->spec.cwd = optarg; break;
	case 'u': o->spec.user = optarg; break;
	case OPT_HOSTNAME: o->spec.hostname = optarg; break;
	case OPT_ID: o->spec.id = optarg; break;
	case OPT_ENTRYPOINT: o->spec.entrypoint = optarg; break;
	case OPT_IMAGE: o->image = optarg; break;
	case OPT_ROOTFS: o->rootfs = optarg; break;
	case 'o': o->output = optarg; break;
	case OPT_ROOT: o->root = optarg; break;
	case 'n': o->ns = optarg; break;
	case OPT_SNAPSHOTTER: o->snapshotter = optarg; break;
	case 'h': usage(); exit(0);
	default: CK_BUG("unhandled option");
	}
}

static void
parse_args(int argc, char **argv, struct options *o)
{
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+te:u:o:n:h", longopts,
				NULL)) != -1) {
		if (c == '?' || c == ':')
			ck_cli_misuse("invalid option '%s'", argv[optind - 1]);
		parse_option(o, c);
	}
	if (optind < argc) {
		if (strcmp(argv[optind - 1], "--") != 0)
			ck_cli_misuse("unexpected argument '%s'; put the "
				      "command after '--'", argv[optind]);
		o->spec.args = &argv[optind];
	}
	if (o->spec.cwd && o->spec.cwd[0] != '/')
		ck_cli_misuse("invalid --cwd '%s': use an absolute path",
			      o->spec.cwd);
}

static int
write_spec(const struct options *o, json_t *spec, struct ck_err **errp)
{
	char *text = json_dumps(spec, JSON_INDENT(2));
	size_t len = strlen(text);
	int rc = 0;

	text = ck_xrealloc(text, len + 2);
	text[len++] = '\n';
	text[len] = '\0';
	if (o->output != NULL)
		rc = ck_write_file_atomic(o->output, text, len, 0644, errp);
	else if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)
		rc = ck_err_set(errp, 0, "write to stdout failed");
	free(text);
	return rc;
}

static int
run_spec(struct options *o, struct ck_err **errp)
{
	struct ck_store st;
	struct ck_snapshotter sn;
	struct ck_image img = { 0 };
	json_t *spec = NULL;
	char *ref;
	int rc = -1;

	ref = ck_cli_ref(o->image, errp);
	if (ref == NULL)
		return -1;
	if (ck_store_open(&st, o->root, o->ns, errp) < 0) {
		free(ref);
		return -1;
	}
	o->spec.ns = st.ns;
	if (o->rootfs)
		o->spec.root_path = o->rootfs;
	if (ck_sn_open(&sn, &st, o->snapshotter, errp) == 0 &&
	    ck_image_resolve(&st, ref, &img, errp) == 0)
		spec = ck_spec_for_image(&st, &sn, &img, o->rootfs, &o->spec,
					 errp);
	if (spec != NULL)
		rc = write_spec(o, spec, errp);
	json_decref(spec);
	ck_image_free(&img);
	ck_sn_close(&sn);
	ck_store_close(&st);
	free(ref);
	return rc;
}

int
main(int argc, char **argv)
{
	struct options o = { 0 };
	struct ck_err *err = NULL;

	ck_log_init("cspec");
	parse_args(argc, argv, &o);
	if (run_spec(&o, &err) < 0) {
		ck_err_print("cspec", err);
		ck_err_free(&err);
		free(o.env);
		return 1;
	}
	free(o.env);
	return 0;
}
