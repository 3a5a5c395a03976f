/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shim: one per task, forked by the crun-task that creates it and
 * moved to a session of its own, so that it outlives that crun-task and
 * the terminal's signals do not reach it. It runs `runc create` (and
 * `runc start`), reaps the container's init as subreaper, copies the
 * task's output to its log and to attached clients, and writes the exit
 * status to status.json by rename before it sends the status to anyone.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "task.h"
#include "util.h"

#define MAX_CLIENTS 32

struct client {
	int fd;
	int attached;	/* receives output */
};

struct shim {
	const struct task_opts *o;
	const struct bundle *b;
	enum stdio_mode mode;
	int sync_fd;
	int listen_fd;
	int sig_fd;
	int out_fd;	/* stdout pipe, or the terminal's master */
	int err_fd;
	int in_fd;	/* stdin pipe, or the master again */
	int log_fd;
	struct client clients[MAX_CLIENTS];
	size_t n_clients;
	pid_t init;
	int exited;
	int status;	/* as waitpid returns it */
	int start;	/* start the task as well as create it */
};

/* Tells the starting crun-task one line; it may be gone already. */
static void
tell(struct shim *s, const char *fmt, ...)
{
	va_list ap;
	char *line;

	if (s->sync_fd < 0)
		return;
	va_start(ap, fmt);
	line = ck_vasprintf(fmt, ap);
	va_end(ap);
	if (write_all(s->sync_fd, line, strlen(line)) < 0) {
		close(s->sync_fd);
		s->sync_fd = -1;
	}
	free(line);
}

/*
 * Kills and reaps the shim's children, for up to 2 s. A runtime killed
 * part way leaves its hooks and the container's init to the shim, their
 * subreaper. Once reaped, they are out of the task's cgroups.
 */
static void
reap_children(void)
{
	int round;

	for (round = 0; round < 200; round++) {
		int killed = kill_children(getpid());

		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (killed == 0 && waitpid(-1, NULL, WNOHANG) < 0 &&
		    errno == ECHILD)
			return;
		usleep(10000);
	}
}

static _Noreturn void
fail(struct shim *s, struct ck_err *err)
{
	int code = ck_err_code(err);
	char *text = ck_err_text(err);

	reap_children();
	tell(s, "error %d %s\n", code >= EXIT_TASK_FAILED ? code :
	     EXIT_TASK_FAILED, text);
	_exit(1);
}

static int
listen_socket(const struct bundle *b, struct ck_err **errp)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char *path = bundle_path(b, "shim.sock");
	int dir, fd;

	unlink(path);
	free(path);
	dir = open(b->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return ck_err_set(errp, errno, "open '%s'", b->dir);
	snprintf(addr.sun_path, sizeof(addr.sun_path),
		 "/proc/self/fd/%d/shim.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(fd, 16) < 0) {
		ck_err_set(errp, errno, "shim socket in '%s'", b->dir);
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	close(dir);
	return fd;
}

/* Takes the shim lock and records the pid. Later calls test the lock
 * to learn whether the shim lives. */
static void
claim(struct shim *s)
{
	struct ck_err *err = NULL;
	char *path = bundle_path(s->b, "shim.lock");
	char *pid = ck_asprintf("%d\n", (int)getpid());
	int fd = ck_lock(path, 1, &err);

	free(path);
	path = bundle_path(s->b, "shim.pid");
	if (fd < 0 || ck_write_file_replace(path, pid, strlen(pid), 0644,
					   &err) < 0)
		fail(s, err);
	free(pid);
	free(path);
}

static void
null_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* Gives the shim's stdio to pipes whose other ends runc passes to the
 * container; the shim keeps the ends it reads and writes. */
static void
setup_pipes(struct shim *s)
{
	struct ck_err *err = NULL;
	int in[2], out[2], errp[2];

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
	    pipe2(errp, O_CLOEXEC) < 0) {
		ck_err_set(&err, errno, "pipe");
		fail(s, err);
	}
	dup2(in[0], STDIN_FILENO);
	dup2(out[1], STDOUT_FILENO);
	dup2(errp[1], STDERR_FILENO);
	close(in[0]);
	close(out[1]);
	close(errp[1]);
	s->in_fd = in[1];
	s->out_fd = out[0];
	s->err_fd = errp[0];
}

static char *
console_path(const struct bundle *b)
{
	char *path = bundle_path(b, "console.sock");
	char *dir;

	if (strlen(path) < sizeof(((struct sockaddr_un *)0)->sun_path))
		return path;
	free(path);
	dir = ck_xstrdup("/tmp/ckit-console-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		free(dir);
		return NULL;
	}
	path = ck_asprintf("%s/console.sock", dir);
	free(dir);
	return path;
}

static void
create_with_terminal(struct shim *s)
{
	struct ck_err *err = NULL;
	char *path = console_path(s->b);
	int sock = path ? console_listen(path, &err) : -1;

	if (sock < 0) {
		if (err == NULL)
			ck_err_set(&err, errno, "console socket");
		fail(s, err);
	}
	s->init = runtime_create(s->o, s->b, path, s->start, &err);
	if (s->init > 0)
		s->out_fd = console_receive(sock, &err);
	close(sock);
	unlink(path);
	if (strncmp(path, "/tmp/ckit-console-", 18) == 0)
		rmdir(dirname(path));
	free(path);
	if (s->init < 0 || s->out_fd < 0)
		fail(s, err);
	s->in_fd = dup(s->out_fd);
}

/* runc prints its error to its stderr as well as to its log, and in
 * the caller's own stdio that stderr is the caller's. The error that
 * goes back then names the step without the same text again. */
static void
drop_shown_message(struct shim *s, struct ck_err **err)
{
	char *msg;
	int code = ck_err_code(*err);

	if (strcmp(s->o->runtime, "runc") != 0)
		return;
	msg = runtime_error(s->b);
	if (msg == NULL)
		return;
	free(msg);
	ck_err_free(err);
	ck_err_setc(err, code, 0, "runtime %s failed: see runc's message "
		    "above", s->start ? "run" : "create");
}

static void
create_task(struct shim *s)
{
	struct ck_err *err = NULL;

	if (s->mode == STDIO_TTY) {
		create_with_terminal(s);
		null_stdio();
		return;
	}
	if (s->mode == STDIO_PIPES)
		setup_pipes(s);
	s->init = runtime_create(s->o, s->b, NULL, s->start, &err);
	null_stdio();
	if (s->init < 0 && s->mode == STDIO_INHERIT)
		drop_shown_message(s, &err);
	if (s->init < 0)
		fail(s, err);
}

static void
broadcast(struct shim *s, int type, const void *data, size_t len)
{
	size_t i;

	for (i = 0; i < s->n_clients; i++) {
		struct client *c = &s->clients[i];

		if (c->fd >= 0 && (c->attached || type == FRAME_EXIT) &&
		    frame_send(c->fd, type, data, len) < 0) {
			close(c->fd);
			c->fd = -1;
		}
	}
}

/* Copies what one output descriptor has; closes it at its end. */
static void
pump(struct shim *s, int *fd, int type)
{
	char buf[FRAME_MAX];
	ssize_t n = read(*fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(*fd);
		if (s->in_fd == *fd)
			s->in_fd = -1;
		*fd = -1;
		return;
	}
	if (s->log_fd >= 0 && write_all(s->log_fd, buf, (size_t)n) < 0) {
		close(s->log_fd);
		s->log_fd = -1;
	}
	broadcast(s, type, buf, (size_t)n);
}

static void
accept_client(struct shim *s)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	size_t i;

	if (fd < 0)
		return;
	for (i = 0; i < s->n_clients && s->clients[i].fd >= 0; i++)
		;
	if (i == MAX_CLIENTS) {
		close(fd);
		return;
	}
	s->clients[i] = (struct client){ .fd = fd };
	if (i == s->n_clients)
		s->n_clients++;
}

static void
client_input(struct shim *s, struct client *c)
{
	char buf[FRAME_MAX];
	size_t len = 0;
	int type = frame_recv(c->fd, buf, &len);

	if (type == FRAME_ATTACH) {
		c->attached = 1;
		frame_send(c->fd, FRAME_ATTACHED, NULL, 0);
	} else if (type == FRAME_WAIT) {
		c->attached = 0;
	} else if (type == FRAME_STDIN && s->in_fd >= 0) {
		write_all(s->in_fd, buf, len);
	} else if (type == FRAME_CLOSE_STDIN && s->mode == STDIO_PIPES &&
		   s->in_fd >= 0) {
		close(s->in_fd);
		s->in_fd = -1;
	} else if (type == FRAME_CLOSE_STDIN && s->in_fd >= 0) {
		/* A terminal has no end of input; its EOF character makes
		 * the reader's read return 0, as typing it would. */
		write_all(s->in_fd, "\004", 1);
	} else if (type == FRAME_RESIZE && len == 4 && s->mode == STDIO_TTY &&
		   s->out_fd >= 0) {
		unsigned char *p = (unsigned char *)buf;

		console_set_size(s->out_fd, (unsigned)(p[0] << 8 | p[1]),
				 (unsigned)(p[2] << 8 | p[3]));
	} else if (type <= 0) {
		close(c->fd);
		c->fd = -1;
	}
}

static void
reap(struct shim *s)
{
	struct signalfd_siginfo si;
	int status;
	pid_t pid;

	while (read(s->sig_fd, &si, sizeof(si)) == sizeof(si))
		;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == s->init) {
			s->status = status;
			s->exited = 1;
		}
	}
}

static size_t
fill_polls(struct shim *s, struct pollfd *p, int timeout_only)
{
	size_t n = 0, i;

	p[n++] = (struct pollfd){ .fd = s->sig_fd, .events = POLLIN };
	p[n++] = (struct pollfd){ .fd = timeout_only ? -1 : s->listen_fd,
				  .events = POLLIN };
	p[n++] = (struct pollfd){ .fd = s->out_fd, .events = POLLIN };
	p[n++] = (struct pollfd){ .fd = s->err_fd, .events = POLLIN };
	for (i = 0; i < s->n_clients; i++)
		p[n++] = (struct pollfd){ .fd = s->clients[i].fd,
					  .events = POLLIN };
	return n;
}

static void
handle_polls(struct shim *s, struct pollfd *p)
{
	size_t i;

	if (p[0].revents & POLLIN)
		reap(s);
	/* Clients first: an attach that came with new output gets it. */
	for (i = 0; i < s->n_clients; i++)
		if (p[4 + i].revents & (POLLIN | POLLHUP | POLLERR))
			client_input(s, &s->clients[i]);
	if (p[1].revents & POLLIN)
		accept_client(s);
	if (p[2].revents & (POLLIN | POLLHUP | POLLERR))
		pump(s, &s->out_fd, FRAME_STDOUT);
	if (p[3].revents & (POLLIN | POLLHUP | POLLERR))
		pump(s, &s->err_fd, FRAME_STDERR);
}

static void
serve(struct shim *s)
{
	struct pollfd p[4 + MAX_CLIENTS];
	int rounds = 0;

	while (!s->exited) {
		if (poll(p, fill_polls(s, p, 0), -1) > 0)
			handle_polls(s, p);
	}
	/* Output written just before init exited is still in the pipes;
	 * drain it, but do not wait long for descendants that keep them
	 * open. A terminal passes output to its master through a kernel
	 * work queue, late on a busy machine, so its master is read until
	 * it reports the end (EIO), for at most 5 s. */
	while ((s->out_fd >= 0 || s->err_fd >= 0) && rounds++ < 100) {
		int n = poll(p, fill_polls(s, p, 1), 50);

		if (n < 0 || (n == 0 && s->mode != STDIO_TTY))
			break;
		if (n > 0)
			handle_polls(s, p);
	}
}

static int
exit_code(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static void
record_exit(struct shim *s, int code)
{
	char *path = bundle_path(s->b, "status.json");
	char *when = ck_now_rfc3339();
	json_t *j = json_pack("{s:s, s:i, s:i, s:s}", "id", s->o->id, "pid",
			      (int)s->init, "exit_status", code, "exited_at",
			      when);
	char *text = json_dumps(j, JSON_COMPACT);

	ck_write_file_replace(path, text, strlen(text), 0644, NULL);
	free(text);
	json_decref(j);
	free(when);
	free(path);
}

static void
finish(struct shim *s)
{
	int code = exit_code(s->status);
	uint32_t net = htonl((uint32_t)code);
	char *sock = bundle_path(s->b, "shim.sock");

	record_exit(s, code);
	unlink(sock);
	free(sock);
	broadcast(s, FRAME_EXIT, &net, 4);
	tell(s, "exit %d\n", code);
}

static void
open_log(struct shim *s)
{
	char *path = bundle_path(s->b, "log");

	s->log_fd = s->mode == STDIO_INHERIT ? -1 :
		open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	free(path);
}

/* Closes every descriptor the shim inherited but 0-2 and the two it
 * uses. A lock that the starting crun-task held (the namespace lock)
 * would otherwise stay held for the task's whole life. */
static void
close_inherited(int keep1, int keep2)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int *fds = NULL;
	size_t n = 0, i;

	while (d && (de = readdir(d)) != NULL) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] == '.' || fd <= 2 || fd == keep1 ||
		    fd == keep2 || fd == dirfd(d))
			continue;
		fds = ck_xrealloc(fds, (n + 1) * sizeof(*fds));
		fds[n++] = fd;
	}
	if (d)
		closedir(d);
	for (i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
}

static _Noreturn void
run_shim(const struct task_opts *o, const struct bundle *b,
	 const struct shim_start *how, int start, int sync_fd)
{
	struct shim s = {
		.o = o, .b = b, .mode = how->mode, .sync_fd = sync_fd,
		.out_fd = -1, .err_fd = -1, .in_fd = -1, .log_fd = -1,
	};
	struct ck_err *err = NULL;
	sigset_t set;

	close_inherited(sync_fd, how->client_fd);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	s.sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	claim(&s);
	s.listen_fd = listen_socket(b, &err);
	if (s.listen_fd < 0)
		fail(&s, err);
	if (how->client_fd >= 0)
		s.clients[s.n_clients++] = (struct client){
			.fd = how->client_fd, .attached = 1 };
	open_log(&s);
	s.start = start;
	create_task(&s);
	tell(&s, "%s %d\n", start ? "started" : "created", (int)s.init);
	serve(&s);
	finish(&s);
	_exit(0);
}

pid_t
shim_spawn(const struct task_opts *o, const struct bundle *b,
	   const struct shim_start *how, int start, int *sync_fd,
	   int *exit_code_out, struct ck_err **errp)
{
	char line[4096];
	int sync[2], code = EXIT_TASK_FAILED, init = -1;
	ssize_t n;
	pid_t pid;

	*exit_code_out = EXIT_TASK_FAILED;
	if (pipe2(sync, O_CLOEXEC) < 0)
		return ck_err_set(errp, errno, "pipe");
	pid = fork();
	if (pid < 0)
		return ck_err_set(errp, errno, "fork the shim");
	if (pid == 0) {
		close(sync[0]);
		setsid();
		run_shim(o, b, how, start, sync[1]);
	}
	close(sync[1]);
	if (how->client_fd >= 0)
		close(how->client_fd);
	*sync_fd = sync[0];
	n = read(sync[0], line, sizeof(line) - 1);
	line[n > 0 ? n : 0] = '\0';
	if (sscanf(line, "started %d", &init) == 1 ||
	    sscanf(line, "created %d", &init) == 1)
		return init;
	if (sscanf(line, "error %d", &code) == 1 && strchr(line + 6, ' ')) {
		line[strcspn(line, "\n")] = '\0';
		*exit_code_out = code;
		return ck_err_set(errp, 0, "%s", strchr(line + 6, ' ') + 1);
	}
	return ck_err_set(errp, 0, "the shim exited before the task was "
			  "created");
}

int
shim_read_exit(int sync_fd)
{
	char line[256];
	size_t len = 0;
	int code;

	for (;;) {
		ssize_t n = read(sync_fd, line + len, sizeof(line) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		line[len] = '\0';
		if (strchr(line, '\n'))
			break;
	}
	line[len] = '\0';
	if (sscanf(line, "exit %d", &code) == 1)
		return code;
	return -1;
}
