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
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
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

/* Reaps exited children; returns 1 once init is among them. */
static int
reap(pid_t init, int *result)
{
	int status, done = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (pid == init) {
			*result = status;
			done = 1;
		}
	return done;
}

/*
 * Waits for init to exit, forwarding signals to it and, with a terminal,
 * copying between the caller's stdio and the master. Output still in the
 * master when init exits is copied before returning.
 */
static int
supervise(pid_t init, int master)
{
	struct pollfd p[3];
	struct signalfd_siginfo si;
	sigset_t set;
	int sfd, result = 0, done = 0, in_open = master >= 0;

	signal_set(&set);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		return -1;
	done = reap(init, &result);
	while (!done) {
		p[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = master, .events = POLLIN };
		p[2] = (struct pollfd){ .fd = in_open ? STDIN_FILENO : -1,
					.events = POLLIN };
		if (poll(p, 3, -1) < 0)
			continue;
		if ((p[1].revents & (POLLIN | POLLHUP)) &&
		    !console_copy(master, STDOUT_FILENO))
			master = -1;
		if ((p[2].revents & (POLLIN | POLLHUP)) &&
		    !console_copy(STDIN_FILENO, master))
			in_open = 0;
		if (!(p[0].revents & POLLIN) ||
		    read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGCHLD)
			done = reap(init, &result);
		else if (si.ssi_signo == SIGWINCH && master >= 0)
			console_resize(master);
		else
			kill(init, (int)si.ssi_signo);
	}
	while (master >= 0 && poll(&(struct pollfd){ .fd = master,
		.events = POLLIN }, 1, 0) > 0 && console_copy(master,
		STDOUT_FILENO))
		;
	close(sfd);
	if (WIFSIGNALED(result))
		return 128 + WTERMSIG(result);
	return WEXITSTATUS(result);
}

static int
start_task(const struct task_opts *o, const struct bundle *b, pid_t init,
	   struct ck_err **errp)
{
	const char *start[] = { "start", o->id, NULL };
	char *msg;

	if (runtime_call(o, b, start, 0) == 0)
		return 0;
	msg = runtime_error(b);
	ck_err_set(errp, 0, "runtime start failed: %s",
		   msg ? msg : "no message in the runtime's log");
	free(msg);
	kill(init, SIGKILL);
	return -1;
}

/* Creates the container; with a terminal, returns its master in *master. */
static pid_t
create_task(const struct task_opts *o, const struct bundle *b, int *master,
	    int *exit_code, struct ck_err **errp)
{
	char *pidfile = ck_asprintf("%s/init.pid", b->dir);
	char *sockpath = ck_asprintf("%s/console.sock", b->dir);
	const char *create[10] = { "create", "--bundle", b->dir,
				   "--pid-file", pidfile };
	size_t n = 5;
	int sock = -1, status;
	pid_t init = -1;

	if (o->terminal) {
		sock = console_listen(sockpath, errp);
		if (sock < 0)
			goto out;
		create[n++] = "--console-socket";
		create[n++] = sockpath;
	}
	create[n++] = o->id;
	create[n] = NULL;
	status = runtime_call(o, b, create, 0);
	if (status != 0) {
		create_failed(b, exit_code, errp);
		goto out;
	}
	init = read_pid(b);
	if (init < 0)
		ck_err_set(errp, 0, "runtime wrote no init pid");
	else if (o->terminal && (*master = console_receive(sock, errp)) < 0)
		init = -1;
out:
	if (sock >= 0)
		close(sock);
	free(sockpath);
	free(pidfile);
	return init;
}

int
task_exec(const struct task_opts *o, const struct bundle *b, int *exit_code,
	  struct ck_err **errp)
{
	struct termios saved;
	sigset_t set;
	pid_t init;
	int status, master = -1, raw = 0;

	*exit_code = EXIT_TASK_FAILED;
	signal_set(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	/* The container's init is runc's grandchild; as subreaper
	 * crun-task inherits it when `runc create` exits. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	init = create_task(o, b, &master, exit_code, errp);
	if (init < 0)
		return -1;
	if (master >= 0) {
		console_resize(master);
		raw = console_raw(&saved);
	}
	status = start_task(o, b, init, errp);
	if (status == 0)
		status = supervise(init, master);
	if (raw)
		console_restore(&saved);
	if (master >= 0)
		close(master);
	if (status < 0 && (errp == NULL || *errp == NULL))
		ck_err_set(errp, 0, "lost the container's init");
	return status;
}

void
task_runtime_delete(const struct task_opts *o, const struct bundle *b)
{
	const char *del[] = { "delete", "--force", o->id, NULL };

	runtime_call(o, b, del, 1);
}
