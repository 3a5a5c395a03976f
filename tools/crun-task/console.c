/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pseudo-terminals of tasks run with -t: runc sends the master over a
 * console socket to the shim, which copies between it and an attached
 * crun-task. That crun-task puts its own terminal in raw mode and passes
 * window-size changes on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "task.h"
#include "util.h"

int
console_listen(const char *path, struct ck_err **errp)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path))
		return ck_err_set(errp, ENAMETOOLONG, "console socket '%s'",
				  path);
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ck_err_set(errp, errno, "console socket");
	unlink(path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(fd, 1) < 0) {
		close(fd);
		return ck_err_set(errp, errno, "console socket '%s'", path);
	}
	return fd;
}

/* Receives the master descriptor that runc sends with SCM_RIGHTS. */
int
console_receive(int sock, struct ck_err **errp)
{
	char name[4096], control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = name, .iov_len = sizeof(name) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct cmsghdr *cm;
	int conn, fd = -1;

	conn = accept4(sock, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		return ck_err_set(errp, errno, "accept on console socket");
	if (recvmsg(conn, &msg, MSG_CMSG_CLOEXEC) < 0) {
		close(conn);
		return ck_err_set(errp, errno, "receive console");
	}
	close(conn);
	cm = CMSG_FIRSTHDR(&msg);
	if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (fd < 0)
		return ck_err_set(errp, 0, "the runtime sent no console");
	return fd;
}

void
console_resize(int master)
{
	struct winsize ws;

	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
		ioctl(master, TIOCSWINSZ, &ws);
}

void
console_set_size(int master, unsigned rows, unsigned cols)
{
	struct winsize ws = { .ws_row = (unsigned short)rows,
			      .ws_col = (unsigned short)cols };

	ioctl(master, TIOCSWINSZ, &ws);
}

int
console_raw(struct termios *saved)
{
	struct termios raw;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, saved) < 0)
		return 0;
	raw = *saved;
	cfmakeraw(&raw);
	if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) < 0)
		return 0;
	return 1;
}

void
console_restore(const struct termios *saved)
{
	tcsetattr(STDIN_FILENO, TCSADRAIN, saved);
}
