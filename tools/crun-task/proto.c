/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shim's socket and its frames. The socket's address goes through
 * /proc/self/fd/<dir>/shim.sock, so a long state directory path never
 * exceeds the 108 bytes of a socket address.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "task.h"
#include "util.h"

int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
read_full(int fd, void *data, size_t len)
{
	char *p = data;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? 0 : -1;
		p += n;
		len -= (size_t)n;
	}
	return 1;
}

int
frame_send(int fd, int type, const void *data, size_t len)
{
	unsigned char head[5];
	uint32_t n = htonl((uint32_t)len);

	head[0] = (unsigned char)type;
	memcpy(head + 1, &n, 4);
	if (write_all(fd, head, 5) < 0)
		return -1;
	return len ? write_all(fd, data, len) : 0;
}

int
frame_recv(int fd, char *buf, size_t *len)
{
	unsigned char head[5];
	uint32_t n;
	int rc = read_full(fd, head, 5);

	if (rc <= 0)
		return rc;
	memcpy(&n, head + 1, 4);
	n = ntohl(n);
	if (n > FRAME_MAX)
		return -1;
	if (n > 0 && read_full(fd, buf, n) <= 0)
		return -1;
	*len = n;
	return head[0];
}

int
shim_connect(const struct bundle *b, struct ck_err **errp)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int dir, fd;

	dir = open(b->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return ck_err_set(errp, errno, "open '%s'", b->dir);
	snprintf(addr.sun_path, sizeof(addr.sun_path),
		 "/proc/self/fd/%d/shim.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr,
			      sizeof(addr)) < 0) {
		ck_err_set(errp, errno, "connect to the task's shim");
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	close(dir);
	return fd;
}

int
shim_alive(const struct bundle *b)
{
	char *path = bundle_path(b, "shim.lock");
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	int alive = 0;

	free(path);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		alive = 1;
	close(fd);
	return alive;
}
