/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csnapshot: the options and commands shared by csnapshot.c (options,
 * snapshot records, mounts, usage) and diff.c (layers from snapshots).
 */
#ifndef CSNAPSHOT_H
#define CSNAPSHOT_H

#include "diff.h"
#include "snapshot.h"
#include "store.h"

struct options {
	const char *root;
	const char *ns;
	const char *snapshotter;
	const char *output;		/* diff -o */
	enum ck_diff_compression compress;
	int store;			/* diff --store */
	int json;
	char **args;			/* the command and its operands */
	int n_args;
};

/* An open store and snapshotter, for one command. */
struct ctx {
	const struct options *o;
	struct ck_store st;
	struct ck_snapshotter sn;
};

int cmd_diff(struct ctx *c, struct ck_err **errp);

#endif
