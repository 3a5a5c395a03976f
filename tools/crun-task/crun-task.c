/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crun-task: run containers from images of the store through an OCI
 * runtime (runc by default), with the caller's stdio and exit status.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "task.h"
#include "util.h"

static void
usage(void)
{
	printf("usage: crun-task run [--rm] [options] <image> <id> "
	       "[<arg>...]\n"
	       "       crun-task delete [options] <id>\n"
	       "Run a container from an image through runc, attached to "
	       "this terminal or pipe.\nrun unpacks the image if needed and "
	       "exits with the container's status.\nArguments after <id> "
	       "replace the image's Cmd and keep its Entrypoint.\n\n"
	       "      --rm                  remove the container and its "
	       "snapshot on exit\n"
	       "      --spec <file>         use this runtime spec (from "
	       "cspec) instead\n"
	       "      --runtime <path>      OCI runtime binary (default "
	       "runc)\n"
	       "%s"
	       "      --root <dir>, -n <ns>, --snapshotter <name>  store, "
	       "namespace, snapshotter\n"
	       "  -h, --help                show this help\n\n"
	       "Exit status: the container's, 128+N for signal N; 125 "
	       "crun-task failed,\n126 command not runnable, 127 command "
	       "not found, 2 usage; delete: 0 or 1.\n",
	       ck_spec_help);
}

enum {
	OPT_RM = 256, OPT_SPEC, OPT_RUNTIME, OPT_ROOT, OPT_SNAPSHOTTER,
};

static const struct option own_options[] = {
	{ "rm", no_argument, NULL, OPT_RM },
	{ "spec", required_argument, NULL, OPT_SPEC },
	{ "runtime", required_argument, NULL, OPT_RUNTIME },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "namespace", required_argument, NULL, 'n' },
	{ "snapshotter", required_argument, NULL, OPT_SNAPSHOTTER },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void
parse_option(struct task_opts *o, int c)
{
	struct ck_err *err = NULL;

	switch (c) {
	case OPT_RM: o->rm = 1; return;
	case OPT_SPEC: o->spec_file = optarg; return;
	case OPT_RUNTIME: o->runtime = optarg; return;
	case OPT_ROOT: o->root = optarg; return;
	case 'n': o->ns = optarg; return;
	case OPT_SNAPSHOTTER: o->snapshotter = optarg; return;
	case 'h': usage(); exit(0);
	}
	if (ck_spec_parse_option(&o->spec, c, optarg, &err) == 0)
		return;
	if (err == NULL)
		CK_BUG("unhandled option");
	if (ck_err_code(err) == CK_E_INVALID)
		ck_cli_misuse("%s", err->msg);
	ck_err_print("crun-task", err);
	exit(EXIT_TASK_FAILED);
}

static const char *
parse_args(int argc, char **argv, struct task_opts *o)
{
	struct option *longopts;
	const char *cmd;
	int c;

	if (argc < 2)
		ck_cli_misuse("missing command: use 'run' or 'delete'");
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		usage();
		exit(0);
	}
	if (strcmp(cmd, "run") != 0 && strcmp(cmd, "delete") != 0)
		ck_cli_misuse("unknown command '%s': use 'run' or 'delete'",
			      cmd);
	longopts = ck_cli_join_options(own_options, ck_spec_longopts);
	opterr = 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "+te:u:n:h", longopts,
				NULL)) != -1) {
		if (c == '?' || c == ':')
			ck_cli_misuse("invalid option '%s'", argv[optind - 1]);
		parse_option(o, c);
	}
	free(longopts);
	if (strcmp(cmd, "delete") == 0) {
		if (argc - optind != 1)
			ck_cli_misuse("delete takes one container ID");
		o->id = argv[optind];
		return cmd;
	}
	if (argc - optind < 2)
		ck_cli_misuse("run needs an image and a container ID");
	o->image = argv[optind];
	o->id = argv[optind + 1];
	if (argc - optind > 2)
		o->spec.args = &argv[optind + 2];
	return cmd;
}

int
main(int argc, char **argv)
{
	struct task_opts o = { .runtime = "runc" };
	struct ck_err *err = NULL;
	const char *cmd;
	int rc;

	ck_log_init("crun-task");
	cmd = parse_args(argc, argv, &o);
	if (strcmp(cmd, "delete") == 0) {
		rc = task_delete(&o, &err) < 0 ? 1 : 0;
	} else {
		rc = task_run(&o, &err);
		if (rc < 0)
			rc = -rc;
	}
	if (err != NULL)
		ck_err_print("crun-task", err);
	ck_err_free(&err);
	ck_spec_opts_free(&o.spec);
	return rc;
}
