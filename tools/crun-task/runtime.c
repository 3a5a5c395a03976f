/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The runtime side of crun-task: `runc create`, `runc start`, waiting for
 * the container's init as its subreaper, and `runc delete`. The container
 * inherits crun-task's stdin, stdout and stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "task.h"
#include "util.h"

static const int forwarded[] = {
	SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH,
};

static void
signal_set(sigset_t *set)
{
	size_t i;

	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	for (i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(set, forwarded[i]);
}

static pid_t
spawn(char *const argv[], int quiet)
{
	sigset_t none;
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (quiet) {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
	}
	execvp(argv[0], argv);
	fprintf(stderr, "%s: exec '%s': %s\n", ck_log_tool(), argv[0],
		strerror(errno));
	_exit(EXIT_NOT_FOUND);
}

/* Waits for one child while the forwarded signals stay blocked. */
static int
wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status;
}

static int
runtime_call(const struct task_opts *o, const struct bundle *b,
	     const char *const *args, int quiet)
{
	char *log = ck_path_exists(b->dir) ?
		ck_asprintf("%s/runtime.log", b->dir) : ck_xstrdup("/dev/null");
	const char *argv[16];
	size_t n = 0;
	int status;

	argv[n++] = o->runtime;
	argv[n++] = "--root";
	argv[n++] = b->runtime_root;
	argv[n++] = "--log";
	argv[n++] = log;
	argv[n++] = "--log-format";
	argv[n++] = "json";
	for (; *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	status = wait_child(spawn((char *const *)argv, quiet));
	free(log);
	return status;
}

/* The last error the runtime logged, for messages and exit codes. */
static char *
runtime_error(const struct bundle *b)
{
	char *path = ck_asprintf("%s/runtime.log", b->dir);
	char *data = NULL, *line, *save = NULL, *msg = NULL;

	if (ck_read_file(path, 1 << 20, &data, NULL, NULL) == 0) {
		for (line = strtok_r(data, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			json_t *j = json_loads(line, 0, NULL);
			const char *lvl = json_string_value(
				json_object_get(j, "level"));
			const char *m = json_string_value(
				json_object_get(j, "msg"));

			if (lvl && m && strcmp(lvl, "error") == 0) {
				free(msg);
				msg = ck_xstrdup(m);
			}
			json_decref(j);
		}
	}
	free(data);
	free(path);
	return msg;
}

static int
create_failed(const struct bundle *b, int *exit_code, struct ck_err **errp)
{
	char *msg = runtime_error(b);

	*exit_code = EXIT_TASK_FAILED;
	if (msg && (strstr(msg, "executable file not found") ||
		    strstr(msg, "no such file or directory")))
		*exit_code = EXIT_NOT_FOUND;
	else if (msg && strstr(msg, "permission denied"))
		*exit_code = EXIT_CANNOT_INVOKE;
	ck_err_set(errp, 0, "runtime create failed: %s",
		   msg ? msg : "no message in the runtime's log");
	free(msg);
	return -1;
}

static pid_t
read_pid(const struct bundle *b)
{
	char *path = ck_asprintf("%s/init.pid", b->dir);
	char *data = NULL;
	pid_t pid = -1;

	if (ck_read_file(path, 64, &data, NULL, NULL) == 0)
		pid = (pid_t)atoi(data);
	free(data);
	free(path);
	return pid > 0 ? pid : -1;
}

/* Reaps children until init exits, forwarding signals to it. */
static int
supervise(pid_t init)
{
	sigset_t set;
	siginfo_t si;
	int status, result = -1;
	pid_t pid;

	signal_set(&set);
	while (result < 0) {
		if (sigwaitinfo(&set, &si) < 0)
			continue;
		if (si.si_signo != SIGCHLD) {
			kill(init, si.si_signo);
			continue;
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			if (pid == init)
				result = status;
		if (pid < 0 && errno == ECHILD && result < 0)
			return -1;
	}
	if (WIFSIGNALED(result))
		return 128 + WTERMSIG(result);
	return WEXITSTATUS(result);
}

int
task_exec(const struct task_opts *o, const struct bundle *b, int *exit_code,
	  struct ck_err **errp)
{
	char *pidfile = ck_asprintf("%s/init.pid", b->dir);
	const char *create[] = { "create", "--bundle", b->dir, "--pid-file",
				 pidfile, o->id, NULL };
	const char *start[] = { "start", o->id, NULL };
	sigset_t set;
	pid_t init;
	int status;

	*exit_code = EXIT_TASK_FAILED;
	signal_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* The container's init is runc's grandchild; as subreaper
	 * crun-task inherits it when `runc create` exits. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	status = runtime_call(o, b, create, 0);
	free(pidfile);
	if (status != 0)
		return create_failed(b, exit_code, errp);
	init = read_pid(b);
	if (init < 0)
		return ck_err_set(errp, 0, "runtime wrote no init pid");
	if (runtime_call(o, b, start, 0) != 0) {
		char *msg = runtime_error(b);

		ck_err_set(errp, 0, "runtime start failed: %s",
			   msg ? msg : "no message in the runtime's log");
		free(msg);
		kill(init, SIGKILL);
		return -1;
	}
	status = supervise(init);
	if (status < 0)
		return ck_err_set(errp, 0, "lost the container's init");
	return status;
}

void
task_runtime_delete(const struct task_opts *o, const struct bundle *b)
{
	const char *del[] = { "delete", "--force", o->id, NULL };

	runtime_call(o, b, del, 1);
}
