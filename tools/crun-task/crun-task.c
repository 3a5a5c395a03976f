/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crun-task: run containers from images of the store as tasks through an
 * OCI runtime (runc by default), each supervised by a shim that keeps
 * its stdio and exit status after the calling crun-task has gone.
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
	printf("usage: crun-task run [--rm] [-d] [options] <image> <id> "
	       "[<arg>...]\n"
	       "       crun-task run|create|start [options] <id>\n"
	       "       crun-task wait|attach|ps|pause|resume|metrics <id>\n"
	       "       crun-task kill [-s <signal>] [--all] <id>\n"
	       "       crun-task delete [--force] <id>\n"
	       "       crun-task exec --exec-id <name> [-t] <id> <cmd>...\n"
	       "       crun-task ls [-q] [--json]\n"
	       "Run containers as tasks through runc. A task's shim keeps "
	       "its stdio and exit\nstatus after crun-task exits. Arguments "
	       "after <id> replace the image's Cmd.\n\n"
	       "      --rm                  remove the container when the "
	       "task exits\n"
	       "  -d, --detach              start in the background; its "
	       "output goes to a log\n"
	       "      --spec <file>         use this runtime spec (from "
	       "cspec)\n"
	       "      --runtime <path>      OCI runtime binary (default "
	       "runc)\n"
	       "%s"
	       "      --root <dir>, -n <ns>, --snapshotter <name>  store, "
	       "namespace, snapshotter\n\n"
	       "Exit status: run, start, exec and attach exit with the "
	       "task's status (128+N\nfor signal N), 125 when crun-task "
	       "failed, 126 when the command cannot run,\n127 when it was "
	       "not found; other commands 0 or 1; 2 for a usage error.\n",
	       ck_spec_help);
}

enum {
	OPT_RM = 256, OPT_SPEC, OPT_RUNTIME, OPT_ROOT, OPT_SNAPSHOTTER,
	OPT_FORCE, OPT_ALL, OPT_JSON, OPT_EXEC_ID,
};

static const struct option own_options[] = {
	{ "rm", no_argument, NULL, OPT_RM },
	{ "detach", no_argument, NULL, 'd' },
	{ "spec", required_argument, NULL, OPT_SPEC },
	{ "runtime", required_argument, NULL, OPT_RUNTIME },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "namespace", required_argument, NULL, 'n' },
	{ "snapshotter", required_argument, NULL, OPT_SNAPSHOTTER },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "signal", required_argument, NULL, 's' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "quiet", no_argument, NULL, 'q' },
	{ "exec-id", required_argument, NULL, OPT_EXEC_ID },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void
parse_option(struct task_opts *o, int c)
{
	switch (c) {
	case OPT_RM: o->rm = 1; return;
	case 'd': o->detach = 1; return;
	case OPT_SPEC: o->spec_file = optarg; return;
	case OPT_RUNTIME: o->runtime = optarg; o->runtime_default = 0; return;
	case OPT_ROOT: o->root = optarg; return;
	case 'n': o->ns = optarg; return;
	case OPT_SNAPSHOTTER: o->snapshotter = optarg; return;
	case OPT_FORCE: o->force = 1; return;
	case OPT_ALL: o->all = 1; return;
	case 's': o->signal = optarg; return;
	case OPT_JSON: o->json = 1; return;
	case 'q': o->quiet = 1; return;
	case OPT_EXEC_ID: o->exec_id = optarg; return;
	case 'h': usage(); exit(ck_cli_flush_stdout() < 0);
	}
	ck_cli_spec_option(&o->spec, c, optarg, EXIT_TASK_FAILED);
}

static const char *const commands[] = {
	"run", "create", "start", "wait", "kill", "delete", "ls", "ps",
	"pause", "resume", "exec", "attach", "metrics", NULL,
};

static void
parse_operands(const char *cmd, int n, char **v, struct task_opts *o)
{
	if (strcmp(cmd, "ls") == 0) {
		if (n != 0)
			ck_cli_misuse("ls takes no arguments");
		return;
	}
	if (strcmp(cmd, "exec") == 0) {
		if (o->exec_id == NULL || n < 2)
			ck_cli_misuse("exec needs --exec-id, a task ID and a "
				      "command");
		o->id = v[0];
		o->args = &v[1];
		return;
	}
	if ((strcmp(cmd, "run") == 0 || strcmp(cmd, "create") == 0) &&
	    n >= 2) {
		o->image = v[0];
		o->id = v[1];
		o->spec.args = n > 2 ? &v[2] : NULL;
		return;
	}
	if (n != 1)
		ck_cli_misuse("%s takes one task ID", cmd);
	o->id = v[0];
}

static const char *
parse_args(int argc, char **argv, struct task_opts *o)
{
	struct option *longopts;
	size_t i;
	int c;

	if (argc < 2)
		ck_cli_misuse("missing command");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage();
		exit(ck_cli_flush_stdout() < 0);
	}
	for (i = 0; commands[i] && strcmp(commands[i], argv[1]); i++)
		;
	if (commands[i] == NULL)
		ck_cli_misuse("unknown command '%s'", argv[1]);
	longopts = ck_cli_join_options(own_options, ck_spec_longopts);
	opterr = 0;
	optind = 2;
	while ((c = getopt_long(argc, argv, "+:dqs:te:u:n:h", longopts,
				NULL)) != -1) {
		if (c == '?' || c == ':')
			ck_cli_bad_option(c, argv);
		parse_option(o, c);
	}
	free(longopts);
	if (o->rm && o->detach)
		ck_cli_misuse("--rm and --detach cannot be used together");
	if (o->spec_file && (o->spec.n_set > 0 || argc - optind > 2))
		ck_cli_misuse("--spec takes the whole spec; do not combine it "
			      "with spec options or a command");
	if (o->signal && task_parse_signal(o->signal) < 0)
		ck_cli_misuse("invalid signal '%s': use a name such as TERM "
			      "or a number", o->signal);
	parse_operands(argv[1], argc - optind, &argv[optind], o);
	return argv[1];
}

/* Commands whose status is the task's; a negative result is -code. */
static int
run_task_command(const char *cmd, struct task_opts *o, struct ck_err **errp)
{
	if (strcmp(cmd, "run") == 0)
		return task_run(o, errp);
	if (strcmp(cmd, "create") == 0)
		return task_create(o, errp);
	if (strcmp(cmd, "start") == 0)
		return task_start(o, errp);
	if (strcmp(cmd, "exec") == 0)
		return task_exec(o, errp);
	return task_attach(o, errp);
}

static int
run_command(const char *cmd, struct task_opts *o, struct ck_err **errp)
{
	int rc;

	if (!strcmp(cmd, "run") || !strcmp(cmd, "create") ||
	    !strcmp(cmd, "start") || !strcmp(cmd, "exec") ||
	    !strcmp(cmd, "attach")) {
		rc = run_task_command(cmd, o, errp);
		return rc < 0 ? -rc : rc;
	}
	if (strcmp(cmd, "wait") == 0)
		rc = task_wait(o, errp);
	else if (strcmp(cmd, "kill") == 0)
		rc = task_kill(o, errp);
	else if (strcmp(cmd, "delete") == 0)
		rc = task_delete(o, errp);
	else if (strcmp(cmd, "ls") == 0)
		rc = task_list(o, errp);
	else if (strcmp(cmd, "ps") == 0)
		rc = task_ps(o, errp);
	else if (strcmp(cmd, "metrics") == 0)
		rc = task_metrics(o, errp);
	else
		rc = task_pause(o, strcmp(cmd, "pause") == 0, errp);
	return rc < 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	struct task_opts o = { .runtime = "runc", .runtime_default = 1 };
	struct ck_err *err = NULL;
	const char *cmd;
	int rc;

	ck_log_init("crun-task");
	cmd = parse_args(argc, argv, &o);
	rc = run_command(cmd, &o, &err);
	if (err != NULL)
		ck_err_print("crun-task", err);
	ck_err_free(&err);
	ck_spec_opts_free(&o.spec);
	if (ck_cli_flush_stdout() < 0 && rc == 0)
		rc = 1;
	return rc;
}
