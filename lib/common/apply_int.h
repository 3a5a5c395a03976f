/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of layer application shared by apply.c (entries, whiteouts)
 * and apply_path.c (path resolution, overlay copy-up, path sets). Not
 * for use outside these two files.
 */
#ifndef CK_APPLY_INT_H
#define CK_APPLY_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "apply.h"

/* A set of cleaned entry paths, open addressing. */
struct pathset {
	char **slots;
	size_t cap;
	size_t n;
};

struct dir_time {
	char *path;
	struct timespec times[2];
};

struct applier {
	enum ck_apply_mode mode;
	int root;		/* O_PATH descriptor of the snapshot dir */
	char *root_path;	/* its canonical path */
	int *lowers;		/* overlay: O_PATH descriptors, nearest first */
	size_t n_lowers;
	struct ck_layer_stream *stream;
	struct archive *tar;
	struct dir_time *dirs;	/* directory times to set at the end */
	size_t n_dirs;
	size_t cap_dirs;
	struct pathset applied;	/* paths this layer made, and their parents */
	struct pathset timed;	/* plain: directories in dirs */
	char *cache_path;	/* the last parent directory opened */
	int cache_fd;
	int64_t cache_gid;	/* its gid when set-group-ID, else -1 */
	int xattr_warned;
};

int open_in_root(int root, const char *path, int flags, int resolve,
		 struct ck_err **errp);
char *clean_path(const char *name);
/* Returns the directory path inside the root, made as overlayfs copy-up
 * would when missing; the descriptor belongs to a's cache. */
int open_dir(struct applier *a, const char *path, struct ck_err **errp);
void drop_cache(struct applier *a);
/* Opens path in the nearest lower layer that has it and no higher layer
 * hides, with O_PATH | O_NOFOLLOW; -1 when no layer shows it. */
int lower_open(struct applier *a, const char *path);
int open_dir_owned(struct applier *a, const char *path, struct ck_err **errp);
int copy_up(struct applier *a, int tdir, const char *tbase,
	    struct ck_err **errp);
int copy_xattrs(int from, int to, struct ck_err **errp);
void record_dir_time(struct applier *a, const char *path,
		     const struct timespec *atime,
		     const struct timespec *mtime);

int pathset_add(struct pathset *s, const char *path);
void pathset_add_tree(struct pathset *s, const char *path);
int pathset_has(const struct pathset *s, const char *path);
void pathset_free(struct pathset *s);

#endif
