/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI runtime spec generation from an image config, with the defaults
 * containerd gives a container (namespaces, mounts, capabilities, masked
 * paths) and the overrides of `ctr run`.
 */
#ifndef CK_SPEC_H
#define CK_SPEC_H

#include <getopt.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "snapshot.h"
#include "store.h"

struct ck_spec_opts {
	char **args;		/* replace Cmd; NULL keeps the image's */
	const char *entrypoint;	/* replaces Entrypoint; "" clears it */
	char **env;		/* KEY=VALUE, replacing by key; NULL-ended */
	const char *cwd;
	const char *user;
	const char *hostname;
	const char *id;		/* container ID, for the cgroup path */
	const char *ns;		/* namespace, for the cgroup path */
	const char *root_path;	/* root.path, default "rootfs" */
	const char *snapshot;	/* snapshot key to look users up in */
	int tty;
	int read_only;

	/* Set by ck_spec_parse_option; freed by ck_spec_opts_free. */
	size_t n_env;
	json_t *mounts;		/* OCI mounts to add */
	json_t *cap_add;	/* "CAP_*" names or "ALL" */
	json_t *cap_drop;
	json_t *rlimits;	/* OCI rlimit objects */
	json_t *annotations;	/* object */
	json_t *sysctls;	/* object */
	json_t *devices;	/* OCI device objects from the host */
	json_t *seccomp;	/* a profile from --seccomp-profile */
	const char *apparmor;
	const char *cgroup;	/* cgroupsPath */
	int64_t memory_limit;	/* bytes, 0 for none */
	int64_t cpu_quota;	/* microseconds per 100 ms period, 0 none */
	int64_t cpu_shares;
	int64_t pids_limit;
	int privileged;
	int net_host;
	int pid_host;
	int ipc_host;
	int no_seccomp;
	int new_privileges;	/* allow setuid and file capabilities */
	int n_set;		/* options given through ck_spec_parse_option */
};

/* Options shared by cspec and crun-task run; their values start at
 * CK_SPEC_OPT_BASE, and 't', 'e' and 'u' stand for -t, -e and -u. */
#define CK_SPEC_OPT_BASE 0x1000
extern const struct option ck_spec_longopts[];
extern const char ck_spec_help[];
/* Stores one option; fails with CK_E_INVALID naming a bad value.
 * Returns 1 when val is not a spec option. */
int ck_spec_parse_option(struct ck_spec_opts *o, int val, const char *arg,
			 struct ck_err **errp);
void ck_spec_opts_free(struct ck_spec_opts *o);
/* Applies the options to a spec that has the defaults and the image's
 * settings. ck_spec_build calls it last. */
void ck_spec_apply_options(json_t *spec, const struct ck_spec_opts *o);

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
