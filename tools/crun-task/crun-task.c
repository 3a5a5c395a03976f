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
	fputs("usage: crun-task run [--rm] [-t] [--read-only] [options] "
	      "<image> <id> [<arg>...]\n"
	      "       crun-task delete [options] <id>\n"
	      "Run a container from an image through runc, attached to this "
	      "terminal or pipe.\n"
	      "run unpacks the image if needed, prepares a writable snapshot, "
	      "writes the\nbundle and exits with the container's status. "
	      "Arguments after <id> replace\nthe image's Cmd and keep its "
	      "Entrypoint.\n"
	      "\n"
	      "      --rm                 remove the container and its "
	      "snapshot on exit\n"
	      "  -t, --tty                give the container a terminal\n"
	      "      --read-only          mount the root filesystem read-only\n"
	      "  -e, --env <key=value>    set an environment variable "
	      "(repeatable)\n"
	      "      --cwd <dir>          working directory\n"
	      "  -u, --user <user>        user[:group], by name or number\n"
	      "      --entrypoint <path>  replace the image's Entrypoint\n"
	      "      --spec <file>        use this runtime spec (from cspec) "
	      "instead\n"
	      "      --runtime <path>     OCI runtime binary (default runc)\n"
	      "      --root <dir>         store root (default $CKIT_ROOT or "
	      "/var/lib/ckit)\n"
	      "  -n, --namespace <ns>     namespace (default $CKIT_NAMESPACE "
	      "or default)\n"
	      "  -h, --help               show this help\n"
	      "\n"
	      "Task state lives in $CKIT_STATE (default /run/ckit).\n"
	      "Exit status: the container's exit status, 128+N when signal N "
	      "ended it;\n125 crun-task failed, 126 the command cannot be "
	      "run, 127 the command\nwas not found, 2 usage error; delete "
	      "exits 0 or 1.\n", stdout);
}

enum {
	OPT_RM = 256, OPT_READ_ONLY, OPT_CWD, OPT_ENTRYPOINT, OPT_SPEC,
	OPT_RUNTIME, OPT_ROOT, OPT_SNAPSHOTTER,
};

static const struct option longopts[] = {
	{ "rm", no_argument, NULL, OPT_RM },
	{ "tty", no_argument, NULL, 't' },
	{ "read-only", no_argument, NULL, OPT_READ_ONLY },
	{ "env", required_argument, NULL, 'e' },
	{ "cwd", required_argument, NULL, OPT_CWD },
	{ "user", required_argument, NULL, 'u' },
	{ "entrypoint", required_argument, NULL, OPT_ENTRYPOINT },
	{ "spec", required_argument, NULL, OPT_SPEC },
	{ "runtime", required_argument, NULL, OPT_RUNTIME },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "namespace", required_argument, NULL, 'n' },
	{ "snapshotter", required_argument, NULL, OPT_SNAPSHOTTER },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static char **envv;
static size_t n_env;

static void
parse_option(struct task_opts *o, int c)
{
	switch (c) {
	case OPT_RM: o->rm = 1; break;
	case 't': o->spec.tty = 1; break;
	case OPT_READ_ONLY: o->spec.read_only = 1; break;
	case 'e':
		if (strchr(optarg, '=') == NULL || optarg[0] == '=')
			ck_cli_misuse("invalid --env '%s': use KEY=VALUE",
				      optarg);
		envv = ck_xrealloc(envv, (n_env + 2) * sizeof(char *));
		envv[n_env++] = optarg;
		envv[n_env] = NULL;
		o->spec.env = envv;
		break;
	case OPT_CWD: o->spec.cwd = optarg; break;
	case 'u': o->spec.user = optarg; break;
	case OPT_ENTRYPOINT: o->spec.entrypoint = optarg; break;
	case OPT_SPEC: o->spec_file = optarg; break;
	case OPT_RUNTIME: o->runtime = optarg; break;
	case OPT_ROOT: o->root = optarg; break;
	case 'n': o->ns = optarg; break;
	case OPT_SNAPSHOTTER: o->snapshotter = optarg; break;
	case 'h': usage(); exit(0);
	default: CK_BUG("unhandled option");
	}
}

static const char *
parse_args(int argc, char **argv, struct task_opts *o)
{
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
	opterr = 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "+te:u:n:h", longopts,
				NULL)) != -1) {
		if (c == '?' || c == ':')
			ck_cli_misuse("invalid option '%s'", argv[optind - 1]);
		parse_option(o, c);
	}
	if (o->spec.cwd && o->spec.cwd[0] != '/')
		ck_cli_misuse("invalid --cwd '%s': use an absolute path",
			      o->spec.cwd);
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
	free(envv);
	return rc;
}
