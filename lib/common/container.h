/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container records: namespaces/<ns>/containers/<id>.json, each naming
 * the image, the snapshot and snapshotter, and the runtime. A record is
 * created before its snapshot and removed after it, so every container
 * snapshot has an owner that `crun-task delete` can find.
 */
#ifndef CK_CONTAINER_H
#define CK_CONTAINER_H

#include "err.h"
#include "store.h"

struct ck_container {
	char *id;
	char *image;		/* image name */
	char *snapshotter;
	char *snapshot_key;
	char *runtime;
	char *created;
};

int ck_container_id_check(const char *id, struct ck_err **errp);
/* Creates the record; fails with CK_E_EXISTS when the ID is taken. */
int ck_container_create(const struct ck_store *st,
			const struct ck_container *c, struct ck_err **errp);
int ck_container_get(const struct ck_store *st, const char *id,
		     struct ck_container *c, struct ck_err **errp);
int ck_container_remove(const struct ck_store *st, const char *id,
			struct ck_err **errp);
void ck_container_free(struct ck_container *c);

#endif
