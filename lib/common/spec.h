/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI runtime spec generation from an image config, with the defaults
 * containerd gives a container (namespaces, mounts, capabilities, masked
 * paths) and the overrides of `ctr run`.
 */
#ifndef CK_SPEC_H
#define CK_SPEC_H

#include <jansson.h>

#include "err.h"
#include "snapshot.h"
#include "store.h"

struct ck_spec_opts {
	char **args;		/* replace Cmd; NULL keeps the image's */
	const char *entrypoint;	/* replaces Entrypoint; "" clears it */
	char **env;		/* KEY=VALUE, replacing by key */
	const char *cwd;
	const char *user;
	const char *hostname;
	const char *id;		/* container ID, for the cgroup path */
	const char *ns;		/* namespace, for the cgroup path */
	const char *root_path;	/* root.path, default "rootfs" */
	int tty;
	int read_only;
};

/*
 * Builds the spec. rootfs is the container's root directory, used to
 * look up user and group names; it may be NULL when the user is numeric.
 */
json_t *ck_spec_build(json_t *config, const char *rootfs,
		      const struct ck_spec_opts *o, struct ck_err **errp);

/* User and group resolution against rootfs's /etc/passwd and /etc/group,
 * read as if chrooted there. */
struct ck_user {
	unsigned uid;
	unsigned gid;
	unsigned *groups;	/* additional gids */
	size_t n_groups;
};
int ck_user_resolve(const char *rootfs, const char *spec, struct ck_user *u,
		    struct ck_err **errp);
void ck_user_free(struct ck_user *u);

/*
 * Builds the spec for an image of the store. Without rootfs, the image's
 * unpacked layers are mounted read-only in a private mount namespace of
 * the calling process to read /etc/passwd and /etc/group.
 */
json_t *ck_spec_for_image(const struct ck_store *st,
			  const struct ck_snapshotter *sn,
			  const struct ck_image *img, const char *rootfs,
			  const struct ck_spec_opts *o, struct ck_err **errp);

#endif
