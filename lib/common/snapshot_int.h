/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backends of the btrfs and native snapshotters, for snapshot.c only.
 * Both keep a full tree in snapshots/<id>/fs: a btrfs subvolume that is
 * a snapshot of the parent's, or a plain copy of the parent's tree.
 */
#ifndef CK_SNAPSHOT_INT_H
#define CK_SNAPSHOT_INT_H

#include "err.h"

/* Fails unless dir is on a btrfs filesystem. */
int ck_btrfs_check(const char *dir, struct ck_err **errp);
/* Makes dir/fs: a new subvolume, or a snapshot of the subvolume parent,
 * read-only when readonly is set. */
int ck_btrfs_create(const char *dir, const char *parent, int readonly,
		    struct ck_err **errp);
int ck_btrfs_set_readonly(const char *subvol, struct ck_err **errp);
/* Deletes the subvolume dir/fs if there is one. */
int ck_btrfs_destroy(const char *dir, struct ck_err **errp);

/* Copies the tree from into the existing empty directory to, keeping
 * owners, modes, times, xattrs, hardlinks, device nodes and holes. */
int ck_native_copy(const char *from, const char *to, struct ck_err **errp);

#endif
