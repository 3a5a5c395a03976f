/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshots: committed layers, writable snapshots and read-only views
 * under $CKIT_ROOT/snapshots/<snapshotter>/, as containerd's snapshotters
 * keep them. Committed layers are keyed by chain ID so images share them.
 *
 *   meta/<sha256 of key>.json   one record per snapshot
 *   snapshots/<id>/fs           the snapshot's files: the overlay upper
 *                               dir, a btrfs subvolume or a full copy
 *   snapshots/<id>/work         overlay work dir
 *   snapshots/<id>/lock         held by the process filling the snapshot
 *
 * Records change only under the snapshotter's lock and by rename.
 */
#ifndef CK_SNAPSHOT_H
#define CK_SNAPSHOT_H

#include "err.h"
#include "store.h"

enum ck_snap_kind {
	CK_SNAP_COMMITTED = 1,
	CK_SNAP_ACTIVE,
	CK_SNAP_VIEW,
};

enum ck_sn_type {
	CK_SN_OVERLAY = 1,	/* layers as overlayfs upper dirs */
	CK_SN_BTRFS,		/* btrfs subvolumes and snapshots */
	CK_SN_NATIVE,		/* full copies of the parent */
};

/* Whether an unpack applies its missing layers into one snapshot. */
enum ck_sn_flatten {
	CK_FLATTEN_DEFAULT = 0,	/* native flattens, btrfs and overlayfs not */
	CK_FLATTEN_ON,		/* btrfs and native only */
	CK_FLATTEN_OFF,
};

struct ck_snapshotter {
	char *name;		/* "overlayfs", "btrfs" or "native" */
	char *dir;		/* <root>/snapshots/<name> */
	enum ck_sn_type type;
	/* Unpack commits layers without syncfs, and new snapshots get
	 * records without fsync, which a crash may damage. The next
	 * cleanup or removal drops a damaged record. */
	int no_sync;
	enum ck_sn_flatten flatten;	/* unpack's layers per snapshot */
};

struct ck_snapshot {
	char *key;
	char *id;
	char *parent;	/* key of the parent, or NULL */
	enum ck_snap_kind kind;
	char *created;
	/* Diff IDs of the layers an unpack applied on the parent, oldest
	 * first, NULL-terminated. NULL when no unpack committed it. */
	char **diff_ids;
};

/* A mount in the shape of an OCI runtime spec mount. */
struct ck_mount {
	char *type;
	char *source;
	char *options;	/* comma-separated */
};

/*
 * Opens the snapshotter name. A NULL or empty name takes
 * $CKIT_SNAPSHOTTER, else the store's default (snapshots/default), else
 * overlayfs. The first snapshotter that keeps a snapshot in a store (a
 * commit, or a prepare other than an unpack's) becomes its default, so
 * later tools find the same snapshots.
 */
int ck_sn_open(struct ck_snapshotter *sn, const struct ck_store *st,
	       const char *name, struct ck_err **errp);
void ck_sn_close(struct ck_snapshotter *sn);
/* Returns whether name is a snapshotter's name. */
int ck_sn_known(const char *name);
int ck_sn_stat(const struct ck_snapshotter *sn, const char *key,
	       struct ck_snapshot *s, struct ck_err **errp);
/* Returns 1 when key has a readable record and 0 when it has none. A
 * record that is damaged or cannot be read gives -1 with the error,
 * because the snapshot may exist. */
int ck_sn_exists(const struct ck_snapshotter *sn, const char *key,
		 struct ck_err **errp);
/* With fill_lock set, the new snapshot's fill lock is taken before its
 * record appears and its descriptor stored there, and the parent may be
 * an active "extract-" snapshot as well as a committed one. */
int ck_sn_prepare(const struct ck_snapshotter *sn, const char *key,
		  const char *parent, enum ck_snap_kind kind, int *fill_lock,
		  struct ck_err **errp);
/* Commits the active snapshot key as name. When name already exists (a
 * concurrent unpack committed the same chain) key is removed instead. */
int ck_sn_commit(const struct ck_snapshotter *sn, const char *name,
		 const char *key, struct ck_err **errp);
/* Commits like ck_sn_commit and records the diff IDs of the n layers
 * that key holds on top of its parent. */
int ck_sn_commit_layers(const struct ck_snapshotter *sn, const char *name,
			const char *key, char *const *diff_ids, size_t n,
			struct ck_err **errp);
/*
 * btrfs only: makes frozen, an active snapshot whose files are a read-only
 * snapshot of the active snapshot key's, and puts it between key and its
 * parent. An unpack applies layer after layer in one subvolume and freezes
 * each finished layer. *fill_lock receives frozen's fill lock.
 */
int ck_sn_freeze(const struct ck_snapshotter *sn, const char *key,
		 const char *frozen, int *fill_lock, struct ck_err **errp);
/*
 * Commits the first n active snapshots keys[i] of a stacked chain, each
 * the child of the one before, as names[i] with the diff ID diff_ids[i].
 * The records go in under one lock with one sync before their renames and
 * one after, in place of two fsyncs each. A name that exists already
 * (a concurrent unpack committed it) has its key removed instead.
 * Returns how many leading snapshots it committed, and sets *errp when
 * that is fewer than n or the last sync failed.
 */
size_t ck_sn_commit_chain(const struct ck_snapshotter *sn,
			  char *const *names, char *const *keys,
			  char *const *diff_ids, size_t n,
			  struct ck_err **errp);
/* Changes the parent that the record of the active snapshot key names,
 * without a sync: for an unpack's extract snapshots, whose parent is
 * committed under another key while they wait. */
int ck_sn_set_parent(const struct ck_snapshotter *sn, const char *key,
		     const char *parent, struct ck_err **errp);
/* Removes a snapshot that has no children. */
int ck_sn_remove(const struct ck_snapshotter *sn, const char *key,
		 struct ck_err **errp);
char *ck_sn_fs_dir(const struct ck_snapshotter *sn,
		   const struct ck_snapshot *s);
/* Lists the fs dirs of key's parents, nearest first, NULL-terminated.
 * Only overlayfs snapshots need them: the others hold full trees. */
char **ck_sn_lowers(const struct ck_snapshotter *sn, const char *key,
		    struct ck_err **errp);
/* Describes the mount of key with absolute paths. ck_sn_mount mounts
 * it, with relative overlay paths when the options would pass the
 * kernel's page-size limit. */
int ck_sn_mounts(const struct ck_snapshotter *sn, const char *key,
		 struct ck_mount *m, struct ck_err **errp);
/* Returns mount options with every "<dir>/snapshots/" taken out, for a
 * mount made from the snapshots directory (options over one page). */
char *ck_sn_relative_options(const struct ck_snapshotter *sn,
			     const char *options);
int ck_sn_mount(const struct ck_snapshotter *sn, const char *key,
		const char *target, struct ck_err **errp);
/* Mounts like ck_sn_mount. With CK_MOUNT_VOLATILE a writable overlay
 * snapshot gets overlayfs's volatile option: fsync in it returns at once,
 * and its unmount does not sync the filesystem under it. For snapshots
 * thrown away after use (crun-task run --rm). */
#define CK_MOUNT_VOLATILE 1
int ck_sn_mount_flags(const struct ck_snapshotter *sn, const char *key,
		      const char *target, int flags, struct ck_err **errp);
/* Mounts a read-only view of the committed snapshot key on target. */
int ck_sn_mount_view(const struct ck_snapshotter *sn, const char *key,
		     const char *target, struct ck_err **errp);
/* Removes unfinished snapshots whose writer has gone (killed mid-unpack). */
int ck_sn_cleanup(const struct ck_snapshotter *sn, struct ck_err **errp);
/* Takes, in *fd, the fill lock of key when it is an active "extract-"
 * snapshot, for a change from outside the unpack (csnapshot rm, commit).
 * Fails with CK_E_BUSY while a running unpack fills it. Sets *fd to -1
 * when key needs no lock. */
int ck_sn_hold(const struct ck_snapshotter *sn, const char *key, int *fd,
	       struct ck_err **errp);
/* Locks an active snapshot for its filler; see ck_sn_cleanup. */
int ck_sn_lock_fill(const struct ck_snapshotter *sn,
		    const struct ck_snapshot *s, struct ck_err **errp);

/* Lists every snapshot record that can be read, sorted by key. Each
 * record that cannot be read gets a warning and is counted in *skipped. */
int ck_sn_list(const struct ck_snapshotter *sn, struct ck_snapshot **list,
	       size_t *n, size_t *skipped, struct ck_err **errp);
void ck_snapshot_list_free(struct ck_snapshot *list, size_t n);
const char *ck_sn_kind_name(enum ck_snap_kind kind);

void ck_snapshot_free(struct ck_snapshot *s);
void ck_mount_free(struct ck_mount *m);
void ck_strv_free(char **v);

#endif
