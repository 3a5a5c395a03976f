/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container records, as containerd keeps them: metadata naming an image,
 * a snapshot, a runtime spec, a runtime and labels. Under
 * namespaces/<ns>/containers/:
 *
 *   <id>.json           the record; present only for a complete container
 *   specs/<id>.json     the container's runtime spec
 *   journal/<id>.json   a create or delete that has not finished
 *
 * ck_container_new and ck_container_delete change a container under the
 * namespace lock and write its journal entry before anything else, so a
 * process killed half-way leaves an entry that the next ck_container_new,
 * ck_container_delete or ck_container_create finishes or undoes.
 * ck_container_create and ck_container_remove touch the record alone;
 * crun-task creates the record before its snapshot with them and removes
 * it after.
 */
#ifndef CK_CONTAINER_H
#define CK_CONTAINER_H

#include <jansson.h>

#include "err.h"
#include "snapshot.h"
#include "store.h"

struct ck_container {
	char *id;
	char *image;		/* image name */
	char *manifest_digest;	/* the image's platform manifest, or NULL */
	char *snapshotter;
	char *snapshot_key;
	enum ck_snap_kind snapshot_kind; /* ACTIVE or VIEW; 0 reads as ACTIVE */
	char *runtime;
	json_t *labels;		/* object of strings, or NULL for none */
	char *created;		/* RFC 3339 UTC */
};

int ck_container_id_check(const char *id, struct ck_err **errp);
/* Checks one label: a key of 1 or more bytes, key and value together at
 * most 4096 bytes, as containerd allows, valid UTF-8 and no control
 * characters, so that `key=value` fits on one line. */
int ck_container_label_check(const char *key, const char *value,
			     struct ck_err **errp);

/* Creates the record; fails with CK_E_EXISTS when the ID is taken. */
int ck_container_create(const struct ck_store *st,
			const struct ck_container *c, struct ck_err **errp);
/* Fails with CK_E_NOTFOUND when there is no record. */
int ck_container_get(const struct ck_store *st, const char *id,
		     struct ck_container *c, struct ck_err **errp);
/* Removes the record and the spec file, whatever else is left. */
int ck_container_remove(const struct ck_store *st, const char *id,
			struct ck_err **errp);
void ck_container_free(struct ck_container *c);

/*
 * Creates a container: the spec file, a new snapshot c->snapshot_key of
 * kind c->snapshot_kind on the committed snapshot parent, then the record.
 * Fails with CK_E_EXISTS when the ID or the snapshot key is taken.
 */
int ck_container_new(const struct ck_store *st,
		     const struct ck_snapshotter *sn,
		     const struct ck_container *c, const char *parent,
		     json_t *spec, struct ck_err **errp);
/*
 * Returns "<namespace>/<id>" of a container, in any namespace of st's
 * root, whose record names snapshot key of snapshotter, skipping the
 * container except ("<namespace>/<id>", or NULL). Returns NULL when
 * there is none. A record that cannot be read might name it: then *errp is set
 * and NULL returned. A damaged record names nothing.
 */
char *ck_container_using(const struct ck_store *st, const char *snapshotter,
			 const char *key, const char *except,
			 struct ck_err **errp);
/*
 * Deletes a container: the record, then its snapshot (unless
 * keep_snapshot) and spec file. Fails with CK_E_BUSY while its task runs
 * and with CK_E_NOTFOUND when there is no record. The state a task left
 * in $CKIT_STATE/<ns>/<id> after it stopped is removed first.
 */
int ck_container_delete(const struct ck_store *st, const char *id,
			int keep_snapshot, struct ck_err **errp);
/* Lists the records sorted by ID. Each record that cannot be read gets
 * a warning and is counted in *skipped. */
int ck_container_list(const struct ck_store *st, struct ck_container **v,
		      size_t *n, size_t *skipped, struct ck_err **errp);
void ck_container_list_free(struct ck_container *v, size_t n);
/*
 * Sets labels under the namespace lock: values[i] NULL or "" removes
 * keys[i]. On success *c contains the updated record.
 */
int ck_container_set_labels(const struct ck_store *st, const char *id,
			    char *const *keys, char *const *values, size_t n,
			    struct ck_container *c, struct ck_err **errp);

char *ck_container_spec_path(const struct ck_store *st, const char *id);
/* Writes the spec file of container id, mode 0600. */
int ck_container_spec_write(const struct ck_store *st, const char *id,
			    json_t *spec, struct ck_err **errp);
/* Reads the spec file; fails with CK_E_NOTFOUND when there is none (a
 * record crun-task made). */
json_t *ck_container_spec_load(const struct ck_store *st, const char *id,
			       struct ck_err **errp);
/* The record as JSON, with snake_case keys as stored. */
json_t *ck_container_to_json(const struct ck_container *c);

/*
 * Whether the container's task runs. Only a task with a state directory
 * $CKIT_STATE/<ns>/<id> can run. The runtime (the record's, else runc) is
 * asked with `state` under --root $CKIT_STATE/runc/<ns>, and any status
 * but "stopped" counts as running. When the runtime reports no status,
 * the task runs when init.pid in that directory names a live process
 * that is not a zombie and started before the file was written. Returns 1 or 0.
 * The runtime is waited for by its pid, so the caller must not reap
 * children with waitpid(-1) meanwhile.
 */
int ck_container_task_running(const struct ck_store *st, const char *id);

/*
 * Takes the namespace lock that ck_container_new, ck_container_delete,
 * ck_container_set_labels and ck_container_create take; ck_unlock
 * releases it. A tool that starts a task for an existing container holds
 * it from reading the record until the runtime has written init.pid, so
 * that a delete cannot remove the snapshot in between. Calling those four
 * while holding it deadlocks.
 */
int ck_container_lock(const struct ck_store *st, struct ck_err **errp);

#endif
