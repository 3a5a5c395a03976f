/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The btrfs snapshotter's subvolume operations, through the ioctls of
 * <linux/btrfs.h> as containerd's btrfs snapshotter uses them: a
 * snapshot's fs is a subvolume, a child starts as a writable snapshot of
 * its parent's subvolume, and a committed one is made read-only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "snapshot_int.h"

/* The root directory of every btrfs subvolume has this inode number. */
#define SUBVOL_ROOT_INO 256

int
ck_btrfs_check(const char *dir, struct ck_err **errp)
{
	struct statfs sfs;

	if (statfs(dir, &sfs) < 0)
		return ck_err_set(errp, errno, "statfs '%s'", dir);
	if (sfs.f_type != BTRFS_SUPER_MAGIC)
		return ck_err_setc(errp, CK_E_INVALID, 0, "snapshotter 'btrfs' "
				   "needs '%s' on a btrfs filesystem; use "
				   "--root on btrfs or another snapshotter",
				   dir);
	return 0;
}

int
ck_btrfs_create(const char *dir, const char *parent, int readonly,
		struct ck_err **errp)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int pfd = -1, rc;

	if (dfd < 0)
		return ck_err_set(errp, errno, "open '%s'", dir);
	if (parent == NULL) {
		struct btrfs_ioctl_vol_args args = { 0 };

		strcpy(args.name, "fs");
		rc = ioctl(dfd, BTRFS_IOC_SUBVOL_CREATE, &args);
	} else {
		struct btrfs_ioctl_vol_args_v2 args = { 0 };

		pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		args.fd = pfd;
		args.flags = readonly ? BTRFS_SUBVOL_RDONLY : 0;
		strcpy(args.name, "fs");
		rc = pfd < 0 ? -1 : ioctl(dfd, BTRFS_IOC_SNAP_CREATE_V2, &args);
	}
	if (rc < 0)
		ck_err_set(errp, errno, "%s '%s/fs'", parent ?
			   "snapshot subvolume" : "create subvolume", dir);
	if (pfd >= 0)
		close(pfd);
	close(dfd);
	return rc < 0 ? -1 : 0;
}

int
ck_btrfs_set_readonly(const char *subvol, struct ck_err **errp)
{
	int fd = open(subvol, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	__u64 flags = 0;
	int rc;

	if (fd < 0)
		return ck_err_set(errp, errno, "open '%s'", subvol);
	rc = ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags);
	/* Setting the flag commits a transaction, so a read-only subvolume
	 * is left as it is. */
	if (rc == 0 && !(flags & BTRFS_SUBVOL_RDONLY)) {
		flags |= BTRFS_SUBVOL_RDONLY;
		rc = ioctl(fd, BTRFS_IOC_SUBVOL_SETFLAGS, &flags);
	}
	if (rc < 0)
		ck_err_set(errp, errno, "make '%s' read-only", subvol);
	close(fd);
	return rc < 0 ? -1 : 0;
}

int
ck_btrfs_destroy(const char *dir, struct ck_err **errp)
{
	struct btrfs_ioctl_vol_args args = { 0 };
	struct stat st;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (dfd < 0)
		return errno == ENOENT ? 0 :
			ck_err_set(errp, errno, "open '%s'", dir);
	if (fstatat(dfd, "fs", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode) && st.st_ino == SUBVOL_ROOT_INO) {
		strcpy(args.name, "fs");
		if (ioctl(dfd, BTRFS_IOC_SNAP_DESTROY, &args) < 0)
			rc = ck_err_set(errp, errno, "delete subvolume "
					"'%s/fs'", dir);
	}
	close(dfd);
	return rc;
}
