/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client side of a task's shim: attach (stdio and terminal size
 * both ways, signals to the task) and wait (the exit status, from
 * status.json once the shim wrote it).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <jansson.h>

#include "task.h"
#include "util.h"

static const int forwarded[] = {
	SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH,
};

static int
forward_signals(void)
{
	sigset_t set;
	size_t i;

	sigemptyset(&set);
	for (i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

static void
send_size(int fd)
{
	struct winsize ws;
	unsigned char p[4];

	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
		return;
	p[0] = (unsigned char)(ws.ws_row >> 8);
	p[1] = (unsigned char)ws.ws_row;
	p[2] = (unsigned char)(ws.ws_col >> 8);
	p[3] = (unsigned char)ws.ws_col;
	frame_send(fd, FRAME_RESIZE, p, 4);
}

static void
on_signal(int sfd, int fd, pid_t init)
{
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGWINCH)
		send_size(fd);
	else if (init > 0)
		kill(init, (int)si.ssi_signo);
}

/* Sends what stdin has; returns 0 at its end. */
static int
on_stdin(int fd)
{
	char buf[FRAME_MAX];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	if (n <= 0) {
		frame_send(fd, FRAME_CLOSE_STDIN, NULL, 0);
		return 0;
	}
	frame_send(fd, FRAME_STDIN, buf, (size_t)n);
	return 1;
}

/* Handles one frame from the shim; returns the exit status once it
 * comes, -1 when the shim went away, -2 to go on. */
static int
on_frame(int fd)
{
	char buf[FRAME_MAX];
	size_t len = 0;
	uint32_t net;
	int type = frame_recv(fd, buf, &len);

	if (type == FRAME_ATTACHED)
		return -2;
	if (type == FRAME_STDOUT)
		write_all(STDOUT_FILENO, buf, len);
	else if (type == FRAME_STDERR)
		write_all(STDERR_FILENO, buf, len);
	else if (type == FRAME_EXIT && len == 4) {
		memcpy(&net, buf, 4);
		return (int)ntohl(net);
	} else if (type <= 0)
		return -1;
	return -2;
}

int
client_attach(int fd, int tty, int forward_stdin, pid_t init)
{
	struct pollfd p[3];
	int sfd = forward_signals(), rc = -2;

	/* A task that has exited already has sent its output and exit
	 * status before its shim closed the socket: this send then fails,
	 * and the frames are read all the same. */
	frame_send(fd, FRAME_ATTACH, NULL, 0);
	if (tty)
		send_size(fd);
	while (rc == -2) {
		p[0] = (struct pollfd){ .fd = fd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = forward_stdin ? STDIN_FILENO : -1,
					.events = POLLIN };
		p[2] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		if (poll(p, 3, -1) < 0)
			continue;
		if (p[2].revents & POLLIN)
			on_signal(sfd, fd, init);
		if ((p[1].revents & (POLLIN | POLLHUP)) && !on_stdin(fd))
			forward_stdin = 0;
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
			rc = on_frame(fd);
	}
	close(sfd);
	return rc;
}

int
read_status_file(const struct bundle *b, int *status)
{
	char *path = bundle_path(b, "status.json");
	json_t *j = ck_json_load_regular(path, NULL);
	json_t *v = json_object_get(j, "exit_status");
	int rc = json_is_integer(v) ? 0 : -1;

	if (rc == 0)
		*status = (int)json_integer_value(v);
	json_decref(j);
	free(path);
	return rc;
}

int
task_wait_status(const struct bundle *b, int block, struct ck_err **errp)
{
	char buf[FRAME_MAX];
	size_t len;
	uint32_t net;
	int status, fd, type;

	if (read_status_file(b, &status) == 0)
		return status;
	if (!block)
		return -2;
	fd = shim_connect(b, NULL);
	if (fd >= 0 && frame_send(fd, FRAME_WAIT, NULL, 0) == 0) {
		while ((type = frame_recv(fd, buf, &len)) > 0)
			if (type == FRAME_EXIT && len == 4)
				break;
		close(fd);
		if (type == FRAME_EXIT && len == 4) {
			memcpy(&net, buf, 4);
			return (int)ntohl(net);
		}
	} else if (fd >= 0) {
		close(fd);
	}
	/* The shim may have finished between the two looks. */
	if (read_status_file(b, &status) == 0)
		return status;
	return ck_err_set(errp, 0, "the task's shim is gone and recorded no "
			  "exit status");
}
