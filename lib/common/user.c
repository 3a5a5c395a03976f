/* SPDX-License-Identifier: Apache-2.0 */
/*
 * User resolution for specs. The image's /etc/passwd and /etc/group are
 * opened with RESOLVE_IN_ROOT, so an absolute symlink such as
 * /etc/passwd -> /usr/share/passwd resolves inside the image, and no
 * symlink can reach a file of the host.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "spec.h"
#include "util.h"

#define IMAGE_FILE_MAX (16 * 1024 * 1024)

/* Opens path inside rootfs; O_NONBLOCK keeps a FIFO from blocking. */
static int
open_in_image(const char *rootfs, const char *path)
{
	struct open_how how = {
		.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int root, fd;

	if (rootfs == NULL) {
		errno = ENOENT;
		return -1;
	}
	root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -1;
	fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	close(root);
	return fd;
}

/* Fails when the image's path exists but cannot be a passwd or group
 * file: a device, a FIFO, a directory, a symlink loop, or huge. */
static int
check_image_file(const char *rootfs, const char *path, struct ck_err **errp)
{
	struct stat st;
	int fd = open_in_image(rootfs, path);

	if (fd < 0) {
		if (errno == ENOENT || rootfs == NULL)
			return 0;
		return ck_err_set(errp, errno, "open the image's '%s'", path);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > IMAGE_FILE_MAX) {
		close(fd);
		return ck_err_setc(errp, CK_E_INVALID, 0, "the image's '%s' "
				   "is not a regular file of at most %d MiB",
				   path, IMAGE_FILE_MAX >> 20);
	}
	close(fd);
	return 0;
}

static FILE *
open_image_file(const char *rootfs, const char *path)
{
	struct stat st;
	int fd = open_in_image(rootfs, path);
	FILE *f;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > IMAGE_FILE_MAX) {
		close(fd);
		return NULL;
	}
	f = fdopen(fd, "r");
	if (f == NULL)
		close(fd);
	return f;
}

static int
parse_uint(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 0xfffffffeUL)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Splits a passwd or group line into at most max colon-separated fields. */
static int
split_fields(char *line, char **f, int max)
{
	int n = 0;

	line[strcspn(line, "\n")] = '\0';
	if (*line == '\0' || *line == '#')
		return 0;
	f[n++] = line;
	while (n < max && (line = strchr(line, ':')) != NULL) {
		*line++ = '\0';
		f[n++] = line;
	}
	return n;
}

/* Finds the passwd entry whose name (or, numerically, uid) is key. */
static int
find_passwd(const char *rootfs, const char *key, char **name, unsigned *uid,
	    unsigned *gid)
{
	FILE *f = open_image_file(rootfs, "/etc/passwd");
	char *line = NULL, *fl[7];
	size_t cap = 0;
	unsigned want, u, g;
	int numeric = parse_uint(key, &want) == 0, found = 0;

	while (f && !found && getline(&line, &cap, f) >= 0) {
		if (split_fields(line, fl, 7) < 4 || parse_uint(fl[2], &u) ||
		    parse_uint(fl[3], &g))
			continue;
		if (numeric ? u == want : strcmp(fl[0], key) == 0) {
			*name = ck_xstrdup(fl[0]);
			*uid = u;
			*gid = g;
			found = 1;
		}
	}
	free(line);
	if (f)
		fclose(f);
	return found;
}

static int
find_group(const char *rootfs, const char *key, unsigned *gid)
{
	FILE *f = open_image_file(rootfs, "/etc/group");
	char *line = NULL, *fl[4];
	size_t cap = 0;
	unsigned g;
	int found = 0;

	while (f && !found && getline(&line, &cap, f) >= 0) {
		if (split_fields(line, fl, 4) < 3 || parse_uint(fl[2], &g))
			continue;
		if (strcmp(fl[0], key) == 0) {
			*gid = g;
			found = 1;
		}
	}
	free(line);
	if (f)
		fclose(f);
	return found;
}

static int
is_member(char *members, const char *name)
{
	char *save = NULL, *m;

	for (m = strtok_r(members, ",", &save); m;
	     m = strtok_r(NULL, ",", &save))
		if (strcmp(m, name) == 0)
			return 1;
	return 0;
}

/* Collects the gids of the groups that list name as a member. */
static void
find_additional(const char *rootfs, const char *name, struct ck_user *u)
{
	FILE *f = open_image_file(rootfs, "/etc/group");
	char *line = NULL, *fl[4];
	size_t cap = 0, i;
	unsigned g;

	while (f && getline(&line, &cap, f) >= 0) {
		if (split_fields(line, fl, 4) < 4 || parse_uint(fl[2], &g) ||
		    !is_member(fl[3], name))
			continue;
		for (i = 0; i < u->n_groups && u->groups[i] != g; i++)
			;
		if (i < u->n_groups)
			continue;
		u->groups = ck_xrealloc(u->groups,
					(u->n_groups + 1) * sizeof(unsigned));
		u->groups[u->n_groups++] = g;
	}
	free(line);
	if (f)
		fclose(f);
}

static int
resolve_user(const char *rootfs, const char *user, struct ck_user *u,
	     char **name, struct ck_err **errp)
{
	unsigned gid = 0;

	if (find_passwd(rootfs, user, name, &u->uid, &gid)) {
		u->gid = gid;
		return 0;
	}
	if (parse_uint(user, &u->uid) == 0) {
		/* A numeric uid without a passwd entry runs with gid 0,
		 * as Docker does. */
		u->gid = 0;
		return 0;
	}
	return ck_err_setc(errp, CK_E_NOTFOUND, 0, "user '%s' not found in "
			   "the image's /etc/passwd; use a numeric uid or add "
			   "the user to the image", user);
}

int
ck_user_resolve(const char *rootfs, const char *spec, struct ck_user *u,
		struct ck_err **errp)
{
	char *copy = ck_xstrdup(spec && *spec ? spec : "0");
	char *group = strchr(copy, ':');
	char *name = NULL;
	int rc = -1;

	memset(u, 0, sizeof(*u));
	if (check_image_file(rootfs, "/etc/passwd", errp) < 0 ||
	    check_image_file(rootfs, "/etc/group", errp) < 0)
		goto out;
	if (group)
		*group++ = '\0';
	if (*copy == '\0' || (group && *group == '\0')) {
		ck_err_setc(errp, CK_E_INVALID, 0, "invalid user '%s': use "
			    "user, uid, user:group or uid:gid", spec);
		goto out;
	}
	if (resolve_user(rootfs, copy, u, &name, errp) < 0)
		goto out;
	if (group && parse_uint(group, &u->gid) < 0 &&
	    !find_group(rootfs, group, &u->gid)) {
		ck_err_setc(errp, CK_E_NOTFOUND, 0, "group '%s' not found in "
			    "the image's /etc/group; use a numeric gid or add "
			    "the group to the image", group);
		goto out;
	}
	/* As in containerd since 1.6.18, the primary group is listed among
	 * the additional ones, so that a process that drops groups keeps
	 * it. A uid without a passwd entry gets none. */
	if (name) {
		u->groups = ck_xmalloc(sizeof(unsigned));
		u->groups[u->n_groups++] = u->gid;
		find_additional(rootfs, name, u);
	}
	rc = 0;
out:
	free(name);
	free(copy);
	return rc;
}

void
ck_user_free(struct ck_user *u)
{
	free(u->groups);
	memset(u, 0, sizeof(*u));
}
