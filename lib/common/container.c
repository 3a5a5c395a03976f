/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Container records, spec files and the journal that makes creating and
 * deleting a container safe against kills. Every file here is written
 * atomically under the namespace lock. A spec file or a container
 * snapshot always has a record or a journal entry naming it, so nothing
 * is left without an owner that the next change can find.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container.h"
#include "util.h"

/* containerd's limit on a label's key and value together. */
#define LABEL_MAX 4096

int
ck_container_id_check(const char *id, struct ck_err **errp)
{
	size_t i, n = strlen(id);

	if (n == 0 || n > 76)
		goto bad;
	for (i = 0; i < n; i++) {
		char c = id[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') ||
		    (i > 0 && (c == '-' || c == '_' || c == '.')))
			continue;
		goto bad;
	}
	return 0;
bad:
	return ck_err_setc(errp, CK_E_INVALID, 0,
			   "invalid container ID '%s': use 1 to 76 letters, "
			   "digits, '.', '_' and '-', starting with a letter "
			   "or digit", id);
}

int
ck_container_label_check(const char *key, const char *value,
			 struct ck_err **errp)
{
	json_t *utf8;

	if (*key == '\0')
		return ck_err_setc(errp, CK_E_INVALID, 0, "invalid label "
				   "'=%s': the key is empty", value);
	if (strlen(key) + strlen(value) > LABEL_MAX)
		return ck_err_setc(errp, CK_E_INVALID, 0, "invalid label "
				   "'%.40s...': key and value exceed %d bytes",
				   key, LABEL_MAX);
	if (ck_find_control(key) || ck_find_control(value))
		return ck_err_setc(errp, CK_E_INVALID, 0, "invalid label "
				   "'%s': control characters are not allowed",
				   key);
	utf8 = json_pack("{s:s}", key, value);
	if (utf8 == NULL)
		return ck_err_setc(errp, CK_E_INVALID, 0, "invalid label "
				   "'%s': not valid UTF-8", key);
	json_decref(utf8);
	return 0;
}

static char *
containers_dir(const struct ck_store *st)
{
	return ck_asprintf("%s/containers", st->ns_dir);
}

static char *
record_path(const struct ck_store *st, const char *id)
{
	return ck_asprintf("%s/containers/%s.json", st->ns_dir, id);
}

char *
ck_container_spec_path(const struct ck_store *st, const char *id)
{
	return ck_asprintf("%s/containers/specs/%s.json", st->ns_dir, id);
}

static char *
journal_dir(const struct ck_store *st)
{
	return ck_asprintf("%s/containers/journal", st->ns_dir);
}

static char *
journal_path(const struct ck_store *st, const char *id)
{
	return ck_asprintf("%s/containers/journal/%s.json", st->ns_dir, id);
}

static int
make_dirs(const struct ck_store *st, struct ck_err **errp)
{
	char *specs = ck_asprintf("%s/containers/specs", st->ns_dir);
	char *journal = journal_dir(st);
	int rc;

	rc = ck_mkdir_p(specs, 0700, errp);
	if (rc == 0)
		rc = ck_mkdir_p(journal, 0700, errp);
	free(journal);
	free(specs);
	return rc;
}

/* Fails with CK_E_NOTFOUND, as for a missing record, when st's namespace
 * does not exist, so that a change to container id does not make it. */
static int
check_namespace(const struct ck_store *st, const char *id,
		struct ck_err **errp)
{
	if (ck_path_exists(st->ns_dir))
		return 0;
	return ck_err_setc(errp, CK_E_NOTFOUND, 0, "container '%s' not "
			   "found in namespace '%s'", id, st->ns);
}

int
ck_container_lock(const struct ck_store *st, struct ck_err **errp)
{
	char *path = ck_asprintf("%s/lock", st->ns_dir);
	int fd = ck_lock(path, 0, errp);

	free(path);
	return fd;
}

static void
set_str(json_t *j, const char *key, const char *value)
{
	if (value != NULL)
		json_object_set_new(j, key, json_string(value));
}

static const char *
kind_name(enum ck_snap_kind kind)
{
	return kind == CK_SNAP_VIEW ? "view" : "active";
}

json_t *
ck_container_to_json(const struct ck_container *c)
{
	json_t *j = json_object();

	set_str(j, "id", c->id);
	set_str(j, "image", c->image);
	set_str(j, "manifest_digest", c->manifest_digest);
	set_str(j, "snapshotter", c->snapshotter);
	set_str(j, "snapshot_key", c->snapshot_key);
	if (c->snapshot_kind != 0)
		set_str(j, "snapshot_kind", kind_name(c->snapshot_kind));
	set_str(j, "runtime", c->runtime);
	if (c->labels != NULL)
		json_object_set_new(j, "labels", json_deep_copy(c->labels));
	set_str(j, "created", c->created);
	return j;
}

static char *
get_str(json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));

	return s ? ck_xstrdup(s) : NULL;
}

static int
labels_from_json(json_t *labels, struct ck_container *c)
{
	const char *key;
	json_t *value;

	if (labels == NULL)
		return 0;
	if (!json_is_object(labels))
		return -1;
	json_object_foreach(labels, key, value)
		if (!json_is_string(value) ||
		    ck_container_label_check(key, json_string_value(value),
					     NULL) < 0)
			return -1;
	c->labels = json_deep_copy(labels);
	return 0;
}

/* Fields every record has; manifest_digest came later and is optional. */
static const char *const required_fields[] = {
	"id", "image", "snapshotter", "snapshot_key", "runtime", "created",
};

/* Returns the name of a field of j that is missing, not a string, empty,
 * or a string with a control character (which would break the lines of
 * `ccontainer ls`), or names no snapshotter, or NULL. */
static const char *
bad_field(json_t *j)
{
	static const char *const optional[] = { "manifest_digest",
						"snapshot_kind" };
	const char *s;
	size_t i;

	for (i = 0; i < CK_ARRAY_SIZE(required_fields); i++) {
		s = json_string_value(json_object_get(j, required_fields[i]));
		if (s == NULL || ck_check_text("field", s, NULL) < 0)
			return required_fields[i];
	}
	for (i = 0; i < CK_ARRAY_SIZE(optional); i++) {
		json_t *v = json_object_get(j, optional[i]);

		if (v != NULL && (!json_is_string(v) ||
				  ck_check_text("field", json_string_value(v),
						NULL) < 0))
			return optional[i];
	}
	s = json_string_value(json_object_get(j, "snapshotter"));
	if (!ck_sn_known(s))
		return "snapshotter";
	return NULL;
}

/* Fills c from the record j. When j is not a valid record, fails with
 * CK_E_INVALID and a message that starts with label, the record's name. */
static int
container_from_json(json_t *j, struct ck_container *c, const char *label,
		    struct ck_err **errp)
{
	const char *kind, *field;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(j))
		return ck_err_setc(errp, CK_E_INVALID, 0, "%s is invalid: it "
				   "is not a JSON object", label);
	field = bad_field(j);
	if (field != NULL)
		goto fail;
	kind = json_string_value(json_object_get(j, "snapshot_kind"));
	c->id = get_str(j, "id");
	c->image = get_str(j, "image");
	c->manifest_digest = get_str(j, "manifest_digest");
	c->snapshotter = get_str(j, "snapshotter");
	c->snapshot_key = get_str(j, "snapshot_key");
	c->runtime = get_str(j, "runtime");
	c->created = get_str(j, "created");
	if (kind == NULL || strcmp(kind, "active") == 0)
		c->snapshot_kind = CK_SNAP_ACTIVE;
	else if (strcmp(kind, "view") == 0)
		c->snapshot_kind = CK_SNAP_VIEW;
	field = "snapshot_kind";
	if (c->snapshot_kind == 0)
		goto fail;
	field = "labels";
	if (labels_from_json(json_object_get(j, "labels"), c) < 0)
		goto fail;
	return 0;
fail:
	ck_container_free(c);
	return ck_err_setc(errp, CK_E_INVALID, 0, "%s is invalid: bad field "
			   "%s", label, field);
}

static int
read_record(const struct ck_store *st, const char *id,
	    struct ck_container *c, struct ck_err **errp)
{
	char *path = record_path(st, id);
	struct ck_err *err = NULL;
	char *label;
	json_t *j;
	int rc;

	memset(c, 0, sizeof(*c));
	j = ck_record_load(path, &err);
	free(path);
	if (j == NULL && ck_err_code(err) == CK_E_NOTFOUND) {
		ck_err_free(&err);
		return ck_err_setc(errp, CK_E_NOTFOUND, 0, "container '%s' "
				   "not found in namespace '%s'", id, st->ns);
	}
	if (j == NULL)
		return ck_err_pass(errp, err);
	label = ck_asprintf("container record '%s'", id);
	rc = container_from_json(j, c, label, errp);
	free(label);
	json_decref(j);
	if (rc < 0)
		return -1;
	if (strcmp(c->id, id) != 0) {
		ck_err_setc(errp, CK_E_INVALID, 0, "container record '%s' "
			    "names another ID, '%s'", id, c->id);
		ck_container_free(c);
		return -1;
	}
	return 0;
}

/* A record leaves this much of CK_JSON_MAX to the journal entry that
 * wraps it. */
#define JOURNAL_ROOM 4096

static int
write_json(const char *path, json_t *j, size_t flags, mode_t mode,
	   int sync, size_t max, struct ck_err **errp)
{
	char *text = json_dumps(j, flags);
	int rc;

	if (text == NULL)
		return ck_err_set(errp, 0, "encode '%s' as JSON", path);
	if (strlen(text) > max) {
		rc = ck_err_setc(errp, CK_E_INVALID, 0, "'%s' would take %zu "
				 "bytes, more than the %zu bytes a record may "
				 "take; use fewer or shorter labels", path,
				 strlen(text), max);
		free(text);
		return rc;
	}
	rc = sync ? ck_write_file_atomic(path, text, strlen(text), mode, errp) :
		ck_write_file_replace(path, text, strlen(text), mode, errp);
	free(text);
	return rc;
}

static int
write_record(const struct ck_store *st, const struct ck_container *c,
	     struct ck_err **errp)
{
	char *path = record_path(st, c->id);
	json_t *j = ck_container_to_json(c);
	int rc = write_json(path, j, JSON_COMPACT, 0644, !st->no_sync,
			    CK_JSON_MAX - JOURNAL_ROOM, errp);

	json_decref(j);
	free(path);
	return rc;
}

/* Unlinks path, which may be missing, and syncs its directory so that
 * the removal survives a crash before the next step. */
static int
unlink_synced(const char *path, struct ck_err **errp)
{
	char *dir;
	int rc;

	if (unlink(path) < 0) {
		if (errno == ENOENT)
			return 0;
		return ck_err_set(errp, errno, "remove '%s'", path);
	}
	dir = ck_xstrdup(path);
	*strrchr(dir, '/') = '\0';
	rc = ck_fsync_dir(dir, errp);
	free(dir);
	return rc;
}

/* ---- journal ---- */

enum journal_op { JOURNAL_CREATE, JOURNAL_DELETE };

static int
journal_write(const struct ck_store *st, enum journal_op op,
	      const struct ck_container *c, int keep_snapshot,
	      struct ck_err **errp)
{
	char *path = journal_path(st, c->id);
	json_t *j;
	int rc;

	j = json_pack("{s:s, s:b, s:o}", "op", op == JOURNAL_CREATE ?
		      "create" : "delete", "keep_snapshot", keep_snapshot,
		      "record", ck_container_to_json(c));
	/* Always synced: a recovery after a crash relies on the entry. */
	rc = write_json(path, j, JSON_COMPACT, 0600, 1, CK_JSON_MAX, errp);
	json_decref(j);
	free(path);
	return rc;
}

/*
 * Removes the temporary files that ck_write_file_atomic left in dir when
 * killed, all of them or those whose names start with prefix. The
 * caller holds the namespace lock, so it must pick only files that
 * writers under that lock make. crun-task writes its spec files, and
 * formerly <id>.spec.json files beside the records, without the lock;
 * their temporary files are left alone.
 */
static void
remove_temp_files(const char *dir, const char *prefix)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	while (d && (de = readdir(d)) != NULL)
		if ((prefix == NULL || ck_has_prefix(de->d_name, prefix)) &&
		    strstr(de->d_name, ".json.tmp-") != NULL &&
		    strstr(de->d_name, ".spec.json.tmp-") == NULL)
			unlinkat(dirfd(d), de->d_name, 0);
	if (d)
		closedir(d);
}

/*
 * Removes the container's snapshot (unless keep_snapshot) and spec file;
 * either may be missing. A snapshot of another kind under the key was
 * not made for this container and stays.
 * NOTE: a create may be killed before its snapshot step. A snapshot of
 * the same key and kind that another tool makes before the recovery is
 * then removed too, because snapshot records name no owner.
 */
static int
drop_pieces(const struct ck_store *st, const struct ck_container *c,
	    int keep_snapshot, struct ck_err **errp)
{
	struct ck_snapshotter sn;
	struct ck_snapshot s;
	struct ck_err *err = NULL;
	char *spec, *dir, *prefix;
	int rc = 0;

	if (!keep_snapshot && c->snapshot_key != NULL) {
		if (ck_sn_open(&sn, st, c->snapshotter, errp) < 0)
			return -1;
		if (ck_sn_stat(&sn, c->snapshot_key, &s, &err) == 0) {
			if (s.kind == c->snapshot_kind)
				rc = ck_sn_remove(&sn, c->snapshot_key, errp);
			ck_snapshot_free(&s);
		} else if (ck_err_code(err) == CK_E_DAMAGED ||
			   ck_err_code(err) == CK_E_INVALID) {
			/* A crash leaves a damaged record where it was written
			 * without fsync, for a container removed at exit. */
			rc = ck_sn_remove(&sn, c->snapshot_key, errp);
		} else if (ck_err_code(err) != CK_E_NOTFOUND) {
			/* The snapshot may be there: the journal entry stays
			 * for the next rm to finish. */
			rc = ck_err_pass(errp, err);
			err = NULL;
		}
		ck_err_free(&err);
		ck_sn_close(&sn);
		if (rc < 0)
			return ck_err_wrap(errp, "remove snapshot of container "
					   "'%s'", c->id);
	}
	spec = ck_container_spec_path(st, c->id);
	rc = unlink_synced(spec, errp);
	free(spec);
	/* A killed spec write of this container leaves a temporary file.
	 * No one else writes this ID's spec: crun-task does so only for a
	 * record it has just made, after recovering this ID's entry. */
	dir = ck_asprintf("%s/containers/specs", st->ns_dir);
	prefix = ck_asprintf("%s.json.tmp-", c->id);
	remove_temp_files(dir, prefix);
	free(prefix);
	free(dir);
	return rc;
}

/* The operation of id's journal entry, or -1 when there is none. */
static int
journal_op(const struct ck_store *st, const char *id)
{
	char *path = journal_path(st, id);
	json_t *j = ck_json_load_regular(path, NULL);
	const char *op = json_string_value(json_object_get(j, "op"));
	int rc = -1;

	if (op != NULL)
		rc = strcmp(op, "create") == 0 ? JOURNAL_CREATE :
			JOURNAL_DELETE;
	json_decref(j);
	free(path);
	return rc;
}

/*
 * Finishes or undoes the change that the journal entry of id describes.
 * The caller holds the namespace lock, which the writer of the entry held
 * until it removed the entry, so that writer is gone. A create without
 * its record is undone, and a delete whose record is gone is finished.
 * An entry whose record is still there is only dropped, because that
 * create finished or that delete had not yet begun.
 */
static int
journal_recover(const struct ck_store *st, const char *id,
		struct ck_err **errp)
{
	char *path = journal_path(st, id), *rec_path = record_path(st, id);
	struct ck_container c;
	struct ck_err *err = NULL;
	char *label;
	json_t *j;
	int rc = 0;

	/* ck_record_load fails at once on a FIFO under the entry's name,
	 * where json_load_file would block every create and rm. */
	j = ck_record_load(path, &err);
	if (j == NULL) {
		if (ck_err_code(err) != CK_E_NOTFOUND)
			rc = ck_err_pass(errp, err);
		else
			ck_err_free(&err);
		goto out;
	}
	label = ck_asprintf("the record in journal entry '%s'", path);
	rc = container_from_json(json_object_get(j, "record"), &c, label,
				 errp);
	free(label);
	if (rc < 0)
		goto out;
	if (strcmp(c.id, id) != 0) {
		rc = ck_err_set(errp, 0, "journal entry '%s' names another "
				"container, '%s'", path, c.id);
		ck_container_free(&c);
		goto out;
	}
	if (!ck_path_exists(rec_path)) {
		ck_log(CK_LOG_INFO, "finishing the interrupted %s of "
		       "container '%s'", journal_op(st, id) == JOURNAL_CREATE ?
		       "create" : "delete", id);
		rc = drop_pieces(st, &c, json_is_true(json_object_get(
				 j, "keep_snapshot")), errp);
	}
	if (rc == 0)
		rc = unlink_synced(path, errp);
	ck_container_free(&c);
out:
	json_decref(j);
	free(rec_path);
	free(path);
	return rc;
}

/* Recovers every journal entry of the namespace under the namespace lock,
 * which the caller holds. An entry that cannot be recovered is logged and
 * stops neither the others nor the caller's own change. */
static void
journal_recover_all(const struct ck_store *st)
{
	char *dir = journal_dir(st), *sub;
	struct dirent *de;
	DIR *d = opendir(dir);

	while (d && (de = readdir(d)) != NULL) {
		struct ck_err *err = NULL;
		char *id;

		if (!ck_has_suffix(de->d_name, ".json"))
			continue;
		id = ck_xstrndup(de->d_name, strlen(de->d_name) - 5);
		if (ck_container_id_check(id, NULL) == 0 &&
		    journal_recover(st, id, &err) < 0) {
			char *text = ck_err_text(err);

			ck_log(CK_LOG_WARNING, "%s", text);
			free(text);
			ck_err_free(&err);
		}
		free(id);
	}
	if (d)
		closedir(d);
	remove_temp_files(dir, NULL);
	sub = containers_dir(st);
	remove_temp_files(sub, NULL);
	free(sub);
	free(dir);
}

/* ---- records alone, as crun-task uses them ---- */

int
ck_container_create(const struct ck_store *st, const struct ck_container *c,
		    struct ck_err **errp)
{
	char *path = record_path(st, c->id);
	char *journal = journal_path(st, c->id);
	int lock = -1, rc = -1;

	if (ck_container_id_check(c->id, errp) < 0 ||
	    make_dirs(st, errp) < 0)
		goto out;
	lock = ck_container_lock(st, errp);
	if (lock < 0)
		goto out;
	if (ck_path_exists(journal) && journal_recover(st, c->id, errp) < 0)
		goto out;
	if (ck_path_exists(path)) {
		ck_err_setc(errp, CK_E_EXISTS, 0, "container '%s' already "
			    "exists in namespace '%s'; remove it with "
			    "'ccontainer rm %s'", c->id, st->ns, c->id);
		goto out;
	}
	rc = write_record(st, c, errp);
out:
	ck_unlock(lock);
	free(journal);
	free(path);
	return rc;
}

int
ck_container_get(const struct ck_store *st, const char *id,
		 struct ck_container *c, struct ck_err **errp)
{
	memset(c, 0, sizeof(*c));
	if (ck_container_id_check(id, errp) < 0)
		return -1;
	return read_record(st, id, c, errp);
}

int
ck_container_remove(const struct ck_store *st, const char *id,
		    struct ck_err **errp)
{
	char *path, *spec;
	int rc = 0;

	if (ck_container_id_check(id, errp) < 0)
		return -1;
	path = record_path(st, id);
	if (unlink(path) < 0 && errno != ENOENT)
		rc = ck_err_set(errp, errno, "remove '%s'", path);
	spec = ck_container_spec_path(st, id);
	if (rc == 0 && unlink(spec) < 0 && errno != ENOENT)
		rc = ck_err_set(errp, errno, "remove '%s'", spec);
	free(spec);
	free(path);
	return rc;
}

void
ck_container_free(struct ck_container *c)
{
	free(c->id);
	free(c->image);
	free(c->manifest_digest);
	free(c->snapshotter);
	free(c->snapshot_key);
	free(c->runtime);
	json_decref(c->labels);
	free(c->created);
	memset(c, 0, sizeof(*c));
}

/* ---- whole containers ---- */

/* Checks, under the namespace lock, that neither the ID nor the snapshot
 * key is taken. */
static int
check_free(const struct ck_store *st, const struct ck_snapshotter *sn,
	   const struct ck_container *c, struct ck_err **errp)
{
	char *path = record_path(st, c->id);
	int record_exists = ck_path_exists(path), exists;

	free(path);
	if (record_exists)
		return ck_err_setc(errp, CK_E_EXISTS, 0, "container '%s' "
				   "already exists in namespace '%s'", c->id,
				   st->ns);
	exists = ck_sn_exists(sn, c->snapshot_key, errp);
	if (exists > 0)
		return ck_err_setc(errp, CK_E_EXISTS, 0, "snapshot '%s' "
				   "already exists", c->snapshot_key);
	return exists < 0 ? -1 : 0;
}

int
ck_container_spec_write(const struct ck_store *st, const char *id,
			json_t *spec, struct ck_err **errp)
{
	char *path = ck_container_spec_path(st, id);
	int rc = write_json(path, spec, JSON_INDENT(1), 0600, !st->no_sync,
			    CK_JSON_MAX, errp);

	free(path);
	return rc;
}

/* Undoes a ck_container_new that failed after writing its journal entry;
 * when that fails too, the entry stays for the next recovery. */
static void
undo_new(const struct ck_store *st, const struct ck_container *c,
	 int snapshot_made)
{
	char *journal = journal_path(st, c->id);

	if (drop_pieces(st, c, !snapshot_made, NULL) == 0)
		unlink_synced(journal, NULL);
	free(journal);
}

int
ck_container_new(const struct ck_store *st, const struct ck_snapshotter *sn,
		 const struct ck_container *c, const char *parent,
		 json_t *spec, struct ck_err **errp)
{
	struct ck_container rec = *c;
	char *journal = journal_path(st, c->id);
	int lock = -1, rc = -1, made = 0;

	rec.snapshotter = sn->name;
	if (rec.snapshot_kind == 0)
		rec.snapshot_kind = CK_SNAP_ACTIVE;
	if (ck_container_id_check(c->id, errp) < 0 ||
	    make_dirs(st, errp) < 0)
		goto out;
	lock = ck_container_lock(st, errp);
	if (lock < 0)
		goto out;
	journal_recover_all(st);
	if (check_free(st, sn, &rec, errp) < 0 ||
	    journal_write(st, JOURNAL_CREATE, &rec, 0, errp) < 0)
		goto out;
	rc = ck_container_spec_write(st, rec.id, spec, errp);
	if (rc == 0)
		rc = ck_sn_prepare(sn, rec.snapshot_key, parent,
				   rec.snapshot_kind, NULL, errp);
	made = rc == 0;
	if (rc == 0)
		rc = write_record(st, &rec, errp);
	/* Once the record is written the container is whole; an entry
	 * left beside it is dropped by the next recovery. */
	if (rc == 0)
		unlink_synced(journal, NULL);
	else
		undo_new(st, &rec, made);
out:
	ck_unlock(lock);
	free(journal);
	return rc;
}

/* ---- tasks ---- */

static char *
task_dir(const struct ck_store *st, const char *id)
{
	return ck_asprintf("%s/%s/%s", ck_state_dir(), st->ns, id);
}

/* Runs argv with stdin and stderr on /dev/null and returns its exit
 * status, or -1 when it did not run. Its stdout, at most 64 KiB, is
 * stored in *out. */
static int
run_capture(char *const argv[], char **out)
{
	struct ck_buf buf = { 0 };
	char chunk[4096];
	int pipefd[2], status, null;
	ssize_t n;
	pid_t pid;

	*out = NULL;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		null = open("/dev/null", O_RDWR | O_CLOEXEC);
		dup2(null, STDIN_FILENO);
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	while (pid > 0 && (n = read(pipefd[0], chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || buf.len + (size_t)n > 65536)
			break;
		ck_buf_add(&buf, chunk, (size_t)n);
	}
	close(pipefd[0]);
	/* NOTE: a caller that reaps with waitpid(-1) at the same time can
	 * take this status, and then the runtime's output is ignored. */
	if (pid > 0 && ck_wait_pid(pid, &status) < 0)
		pid = -1;
	if (pid < 0) {
		ck_buf_free(&buf);
		return -1;
	}
	*out = buf.data ? buf.data : ck_xstrdup("");
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The task's status as the runtime reports it, or NULL. */
static char *
runtime_status(const struct ck_store *st, const char *runtime,
	       const char *id)
{
	char *root = ck_asprintf("%s/runc/%s", ck_state_dir(), st->ns);
	char *argv[] = { (char *)runtime, "--root", root, "state",
			 (char *)id, NULL };
	char *out, *status = NULL;
	json_t *j;

	if (run_capture(argv, &out) == 0) {
		j = json_loads(out, 0, NULL);
		if (json_string_value(json_object_get(j, "status")))
			status = ck_xstrdup(json_string_value(
				json_object_get(j, "status")));
		json_decref(j);
	}
	free(out);
	free(root);
	return status;
}

/* Reads the state and start time (seconds since the epoch) of pid from
 * /proc; fails when it is gone. */
static int
proc_stat(pid_t pid, char *state, long long *start)
{
	char path[64], *data = NULL, *p;
	unsigned long long ticks;
	long long btime = -1;
	int i, rc = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (ck_read_file(path, 4096, &data, NULL, NULL) < 0)
		return -1;
	/* The command name (field 2) is in parentheses and may hold
	 * spaces. After it come the state (field 3) and, as field 22, the
	 * start time in clock ticks since boot. */
	p = strrchr(data, ')');
	if (p != NULL && sscanf(p + 2, "%c", state) == 1) {
		/* Each step moves p to the space before field i + 1. */
		for (i = 2; i < 22 && p != NULL; i++)
			p = strchr(p + 1, ' ');
		if (p != NULL && sscanf(p + 1, "%llu", &ticks) == 1)
			rc = 0;
	}
	free(data);
	if (rc == 0 && ck_read_file("/proc/stat", 1 << 20, &data, NULL,
				    NULL) == 0) {
		p = strstr(data, "\nbtime ");
		if (p != NULL)
			btime = atoll(p + 7);
		free(data);
	}
	if (rc < 0 || btime < 0)
		return -1;
	*start = btime + (long long)(ticks / (unsigned long long)
				     sysconf(_SC_CLK_TCK));
	return 0;
}

/* The pid that init.pid names, when that process lives and is the one
 * the runtime started; 0 otherwise. */
static pid_t
live_init_pid(const struct ck_store *st, const char *id)
{
	char *path = ck_asprintf("%s/%s/%s/init.pid", ck_state_dir(), st->ns,
				 id);
	char *data = NULL, state;
	long long start;
	struct stat sb;
	pid_t pid = 0;

	if (stat(path, &sb) == 0 &&
	    ck_read_file(path, 64, &data, NULL, NULL) == 0)
		pid = (pid_t)atoi(data);
	free(data);
	free(path);
	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
		return 0;
	if (proc_stat(pid, &state, &start) < 0 || state == 'Z' ||
	    state == 'X')
		return 0;
	/* A process that started after init.pid was written has reused
	 * the pid; btime has whole seconds, hence the second of slack. */
	if (start > (long long)sb.st_mtim.tv_sec + 1)
		return 0;
	return pid;
}

/* See ck_container_task_running. The runtime's status wins over a stale
 * init.pid, and a live init counts when the runtime reports no status. */
static int
task_running(const struct ck_store *st, const char *id, const char *runtime)
{
	char *dir = task_dir(st, id), *status;
	int running = 0;

	if (ck_path_exists(dir)) {
		status = runtime_status(st, runtime ? runtime : "runc", id);
		if (status != NULL)
			running = strcmp(status, "stopped") != 0;
		else
			running = live_init_pid(st, id) != 0;
		free(status);
	}
	free(dir);
	return running;
}

int
ck_container_task_running(const struct ck_store *st, const char *id)
{
	struct ck_container c;
	int running;

	if (ck_container_id_check(id, NULL) < 0)
		return 0;
	if (read_record(st, id, &c, NULL) < 0)
		return task_running(st, id, NULL);
	running = task_running(st, id, c.runtime);
	ck_container_free(&c);
	return running;
}

/* Whether a process holds the lock file at path (a crun-task shim). */
static int
lock_held(const char *path)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	int held;

	if (fd < 0)
		return 0;
	held = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

/*
 * Removes the state that a stopped task left in $CKIT_STATE/<ns>/<id>
 * (a crun-task killed before its cleanup): the runtime's record of it,
 * the root filesystem mount and the directory. The directory is removed
 * only once rootfs is no mount point, or the removal would reach into
 * the container's snapshot.
 */
static int
remove_task_state(const struct ck_store *st, const struct ck_container *c,
		  struct ck_err **errp)
{
	char *dir = task_dir(st, c->id);
	char *rootfs = ck_asprintf("%s/rootfs", dir);
	char *shim = ck_asprintf("%s/shim.lock", dir);
	char *root = ck_asprintf("%s/runc/%s", ck_state_dir(), st->ns);
	char *argv[] = { c->runtime ? c->runtime : "runc", "--root", root,
			 "delete", "--force", c->id, NULL };
	struct statx stx;
	char *out;
	int rc = 0;

	if (!ck_path_exists(dir))
		goto out;
	if (lock_held(shim)) {
		rc = ck_err_setc(errp, CK_E_BUSY, 0, "container '%s' has a "
				 "stopped task that crun-task still holds; "
				 "delete the task with 'crun-task delete %s' "
				 "first", c->id, c->id);
		goto out;
	}
	run_capture(argv, &out);
	free(out);
	while (umount2(rootfs, MNT_DETACH) == 0)
		;
	if (statx(AT_FDCWD, rootfs, AT_SYMLINK_NOFOLLOW, 0, &stx) == 0 &&
	    (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
		rc = ck_err_set(errp, 0, "'%s' is still a mount point", rootfs);
	else
		rc = ck_rm_rf(dir, errp);
out:
	free(root);
	free(shim);
	free(rootfs);
	free(dir);
	return rc;
}

/*
 * Removes a record that exists but cannot be read, and its spec. Nothing
 * names the container's snapshot any more, so the snapshot stays and a
 * warning names the key it would have had. The caller has taken the
 * namespace lock and passes the read error in *errp.
 */
static int
drop_damaged(const struct ck_store *st, const char *id, const char *path,
	     struct ck_err **errp)
{
	struct ck_container c = { .id = (char *)id };
	char *spec;
	int rc;

	if (task_running(st, id, NULL)) {
		ck_err_free(errp);
		return ck_err_setc(errp, CK_E_BUSY, 0, "container '%s' has a "
				   "running task; stop the task first", id);
	}
	ck_log(CK_LOG_WARNING, "the record of container '%s' is damaged "
	       "(%s); removing it and its spec. Its snapshot, if any, is "
	       "kept: unless the container was made with --snapshot, "
	       "'csnapshot rm %s/%s' removes it", id, (*errp)->msg, st->ns,
	       id);
	ck_err_free(errp);
	if (remove_task_state(st, &c, errp) < 0 ||
	    unlink_synced(path, errp) < 0)
		return -1;
	spec = ck_container_spec_path(st, id);
	rc = unlink_synced(spec, errp);
	free(spec);
	return rc;
}

char *
ck_container_using(const struct ck_store *st, const char *snapshotter,
		   const char *key, const char *except, struct ck_err **errp)
{
	char *base = ck_asprintf("%s/namespaces", st->root);
	DIR *nd = opendir(base);
	struct dirent *ns, *de;
	char *found = NULL;

	while (nd && !found && !*errp && (ns = readdir(nd)) != NULL) {
		char *dir = ck_asprintf("%s/%s/containers", base, ns->d_name);
		DIR *d = ns->d_name[0] == '.' ? NULL : opendir(dir);

		while (d && !found && !*errp && (de = readdir(d)) != NULL) {
			char *p = ck_asprintf("%s/%s", dir, de->d_name);
			struct ck_err *err = NULL;
			json_t *j = ck_has_suffix(de->d_name, ".json") ?
				ck_record_load(p, &err) : NULL;
			const char *k = json_string_value(
				json_object_get(j, "snapshot_key"));
			const char *sn = json_string_value(
				json_object_get(j, "snapshotter"));
			/* The file's name, not the ID inside, which a copy
			 * made by hand may share. */
			char *user = ck_asprintf("%s/%.*s", ns->d_name,
						 (int)strlen(de->d_name) - 5,
						 de->d_name);

			if (k && strcmp(k, key) == 0 &&
			    strcmp(sn ? sn : "overlayfs", snapshotter) == 0 &&
			    (except == NULL || strcmp(user, except) != 0)) {
				found = user;
				user = NULL;
			}
			if (err && ck_err_code(err) != CK_E_NOTFOUND &&
			    ck_err_code(err) != CK_E_DAMAGED) {
				ck_err_pass(errp, err);
				err = NULL;
			}
			ck_err_free(&err);
			json_decref(j);
			free(user);
			free(p);
		}
		if (d)
			closedir(d);
		free(dir);
	}
	if (nd)
		closedir(nd);
	free(base);
	return found;
}

/* Returns whether the snapshot of c must stay when c is removed: another
 * container's record names it too (a record copied by hand), or a record
 * that cannot be read might. */
static int
snapshot_shared(const struct ck_store *st, const struct ck_container *c)
{
	struct ck_err *err = NULL;
	char *self = ck_asprintf("%s/%s", st->ns, c->id);
	char *user = ck_container_using(st, c->snapshotter, c->snapshot_key,
					self, &err);
	int shared = user != NULL || err != NULL;

	if (user != NULL)
		ck_log(CK_LOG_WARNING, "keeping snapshot '%s' of container "
		       "'%s': container '%s' uses it too", c->snapshot_key,
		       c->id, user);
	else if (err != NULL)
		ck_log(CK_LOG_WARNING, "keeping snapshot '%s' of container "
		       "'%s': another container may use it (%s)",
		       c->snapshot_key, c->id, err->msg);
	ck_err_free(&err);
	free(user);
	free(self);
	return shared;
}

int
ck_container_delete(const struct ck_store *st, const char *id,
		    int keep_snapshot, struct ck_err **errp)
{
	struct ck_container c = { 0 };
	char *path = record_path(st, id), *journal = journal_path(st, id);
	int lock = -1, rc = -1, interrupted;

	if (ck_container_id_check(id, errp) < 0 ||
	    check_namespace(st, id, errp) < 0 || make_dirs(st, errp) < 0)
		goto out;
	lock = ck_container_lock(st, errp);
	if (lock < 0)
		goto out;
	/* A delete of this ID that was killed after its point of no
	 * return counts as done once the recovery has finished it. */
	interrupted = journal_op(st, id) == JOURNAL_DELETE &&
		!ck_path_exists(path);
	journal_recover_all(st);
	if (interrupted && !ck_path_exists(journal) && !ck_path_exists(path)) {
		rc = 0;
		goto out;
	}
	if (read_record(st, id, &c, errp) < 0) {
		/* A record that could not be opened or read is not
		 * damaged, so it stays. */
		if (ck_err_code(*errp) == CK_E_DAMAGED ||
		    ck_err_code(*errp) == CK_E_INVALID)
			rc = drop_damaged(st, id, path, errp);
		goto out;
	}
	if (task_running(st, id, c.runtime)) {
		ck_err_setc(errp, CK_E_BUSY, 0, "container '%s' has a running "
			    "task; stop the task first", id);
		goto out;
	}
	if (!keep_snapshot && c.snapshot_key != NULL)
		keep_snapshot = snapshot_shared(st, &c);
	if (remove_task_state(st, &c, errp) < 0 ||
	    journal_write(st, JOURNAL_DELETE, &c, keep_snapshot, errp) < 0)
		goto out;
	/* Removing the record is the point of no return: from here on
	 * the journal entry finishes the delete after a kill. */
	if (unlink_synced(path, errp) < 0) {
		unlink_synced(journal, NULL);
		goto out;
	}
	rc = drop_pieces(st, &c, keep_snapshot, errp);
	if (rc == 0)
		rc = unlink_synced(journal, errp);
out:
	ck_unlock(lock);
	ck_container_free(&c);
	free(journal);
	free(path);
	return rc;
}

/* ---- listing and labels ---- */

static int
cmp_id(const void *a, const void *b)
{
	return strcmp(((const struct ck_container *)a)->id,
		      ((const struct ck_container *)b)->id);
}

/* Returns whether <name>.json is a runtime spec that crun-task kept
 * beside the records before specs/ existed: <id>.spec.json, with
 * ociVersion and no ID. A container may be named "x.spec" too. */
static int
old_spec_file(const struct ck_store *st, const char *name)
{
	char *path;
	json_t *j;
	int is_spec;

	if (!ck_has_suffix(name, ".spec"))
		return 0;
	path = record_path(st, name);
	j = ck_record_load(path, NULL);
	free(path);
	is_spec = json_is_string(json_object_get(j, "ociVersion")) &&
		  json_object_get(j, "id") == NULL;
	json_decref(j);
	return is_spec;
}

int
ck_container_list(const struct ck_store *st, struct ck_container **v,
		  size_t *n, size_t *skipped, struct ck_err **errp)
{
	char *dir = containers_dir(st);
	struct dirent *de;
	DIR *d = opendir(dir);

	*v = NULL;
	*n = 0;
	*skipped = 0;
	if (d == NULL && errno != ENOENT) {
		ck_err_set(errp, errno, "open '%s'", dir);
		free(dir);
		return -1;
	}
	while (d && (de = readdir(d)) != NULL) {
		struct ck_err *err = NULL;
		char *id;

		if (!ck_has_suffix(de->d_name, ".json"))
			continue;
		id = ck_xstrndup(de->d_name, strlen(de->d_name) - 5);
		*v = ck_xrealloc(*v, (*n + 1) * sizeof(**v));
		/* Other JSON files, such as the <id>.spec.json files that
		 * crun-task wrote before specs/ existed, are no records and
		 * are skipped quietly. */
		if (ck_container_id_check(id, NULL) < 0) {
			/* not a record */
		} else if (read_record(st, id, &(*v)[*n], &err) == 0) {
			(*n)++;
		} else if (ck_err_code(err) == CK_E_INVALID &&
			   old_spec_file(st, id)) {
			/* a spec file of an older crun-task */
		} else if (ck_err_code(err) != CK_E_NOTFOUND) {
			/* A record removed since readdir is no container. */
			char *text = ck_err_text(err);
			int code = ck_err_code(err);

			/* rm drops a damaged or invalid record. */
			if (code == CK_E_DAMAGED || code == CK_E_INVALID)
				ck_log(CK_LOG_WARNING, "skipping container "
				       "'%s': %s; remove it with 'ccontainer "
				       "rm %s'", id, text, id);
			else
				ck_log(CK_LOG_WARNING, "skipping container "
				       "'%s': %s", id, text);
			free(text);
			(*skipped)++;
		}
		ck_err_free(&err);
		free(id);
	}
	if (d)
		closedir(d);
	free(dir);
	if (*n > 1)
		qsort(*v, *n, sizeof(**v), cmp_id);
	return 0;
}

void
ck_container_list_free(struct ck_container *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		ck_container_free(&v[i]);
	free(v);
}

int
ck_container_set_labels(const struct ck_store *st, const char *id,
			char *const *keys, char *const *values, size_t n,
			struct ck_container *c, struct ck_err **errp)
{
	int lock, rc = -1;
	size_t i;

	memset(c, 0, sizeof(*c));
	if (ck_container_id_check(id, errp) < 0 ||
	    check_namespace(st, id, errp) < 0)
		return -1;
	for (i = 0; i < n; i++)
		if (ck_container_label_check(keys[i], values[i] ? values[i] :
					     "", errp) < 0)
			return -1;
	lock = ck_container_lock(st, errp);
	if (lock < 0)
		return -1;
	if (read_record(st, id, c, errp) < 0)
		goto out;
	if (c->labels == NULL)
		c->labels = json_object();
	for (i = 0; i < n; i++) {
		if (values[i] == NULL || *values[i] == '\0')
			json_object_del(c->labels, keys[i]);
		else
			json_object_set_new(c->labels, keys[i],
					    json_string(values[i]));
	}
	rc = write_record(st, c, errp);
out:
	if (rc < 0)
		ck_container_free(c);
	ck_unlock(lock);
	return rc;
}

json_t *
ck_container_spec_load(const struct ck_store *st, const char *id,
		       struct ck_err **errp)
{
	char *path = ck_container_spec_path(st, id);
	struct ck_err *err = NULL;
	json_t *spec = ck_json_load_regular(path, &err);

	if (spec == NULL && ck_err_code(err) == CK_E_NOTFOUND) {
		ck_err_free(&err);
		ck_err_setc(errp, CK_E_NOTFOUND, 0, "container '%s' has no "
			    "spec file", id);
	} else if (spec == NULL) {
		ck_err_pass(errp, err);
	}
	free(path);
	return spec;
}
