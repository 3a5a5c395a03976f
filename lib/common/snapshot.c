/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshot records and the overlayfs, btrfs and native snapshotters. A
 * snapshot's directories are created before its record, and its record
 * is removed before its directories, so a record always names complete
 * directories. Directories without a record are left over from a crash
 * and unused.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "digest.h"
#include "snapshot.h"
#include "snapshot_int.h"
#include "util.h"

static const char *kind_names[] = { "", "committed", "active", "view" };
static const char *type_names[] = { "", "overlayfs", "btrfs", "native" };

static enum ck_sn_type
type_of(const char *name)
{
	int t;

	for (t = CK_SN_OVERLAY; t <= CK_SN_NATIVE; t++)
		if (strcmp(name, type_names[t]) == 0)
			return (enum ck_sn_type)t;
	return 0;
}

/* Returns the snapshotter to use when none is named. */
static char *
default_name(const struct ck_store *st)
{
	const char *env = getenv("CKIT_SNAPSHOTTER");
	struct ck_err *err = NULL;
	char *path, *data = NULL;
	size_t len;

	if (env && *env)
		return ck_xstrdup(env);
	path = ck_asprintf("%s/snapshots/default", st->root);
	if (ck_read_regular(path, 64, &data, &len, &err) < 0 &&
	    ck_err_code(err) != CK_E_NOTFOUND) {
		char *text = ck_err_text(err);

		ck_log(CK_LOG_WARNING, "ignoring the store's default "
		       "snapshotter: %s", text);
		free(text);
	} else if (data != NULL) {
		data[strcspn(data, "\n")] = '\0';
		if (type_of(data) == 0) {
			ck_log(CK_LOG_WARNING, "ignoring unknown snapshotter "
			       "'%s' in '%s'", data, path);
			free(data);
			data = NULL;
		}
	}
	ck_err_free(&err);
	free(path);
	return data ? data : ck_xstrdup("overlayfs");
}

/* Records sn as the store's default unless it has one already. The
 * file goes beside sn->dir, <root>/snapshots/<name>. */
static void
keep_default(const struct ck_snapshotter *sn)
{
	char *path = ck_asprintf("%.*s/default",
				 (int)(strrchr(sn->dir, '/') - sn->dir),
				 sn->dir);
	char *text = ck_asprintf("%s\n", sn->name);

	if (!ck_path_exists(path))
		ck_write_file_atomic(path, text, strlen(text), 0644, NULL);
	free(text);
	free(path);
}

int
ck_sn_known(const char *name)
{
	return name != NULL && type_of(name) != 0;
}

int
ck_sn_open(struct ck_snapshotter *sn, const struct ck_store *st,
	   const char *name, struct ck_err **errp)
{
	char *chosen, *p;
	int rc;

	memset(sn, 0, sizeof(*sn));
	chosen = name && *name ? ck_xstrdup(name) : default_name(st);
	sn->type = type_of(chosen);
	if (sn->type == 0) {
		rc = ck_err_setc(errp, CK_E_INVALID, 0, "unknown snapshotter "
				 "'%s': use 'overlayfs', 'btrfs' or 'native'",
				 chosen);
		free(chosen);
		return rc;
	}
	sn->name = chosen;
	sn->dir = ck_asprintf("%s/snapshots/%s", st->root, chosen);
	/* overlayfs mount options separate options with ',' and lower
	 * directories with ':', and cannot escape either in a path. */
	if (sn->type == CK_SN_OVERLAY && strpbrk(st->root, ",:") != NULL) {
		rc = ck_err_setc(errp, CK_E_INVALID, 0, "store root '%s' "
				 "contains ',' or ':', which overlayfs mount "
				 "options cannot carry; use a --root without "
				 "them, or the native snapshotter", st->root);
		ck_sn_close(sn);
		return rc;
	}
	p = ck_asprintf("%s/meta", sn->dir);
	rc = ck_mkdir_p(p, 0700, errp);
	free(p);
	if (rc == 0) {
		p = ck_asprintf("%s/snapshots", sn->dir);
		rc = ck_mkdir_p(p, 0700, errp);
		free(p);
	}
	if (rc == 0 && sn->type == CK_SN_BTRFS)
		rc = ck_btrfs_check(sn->dir, errp);
	if (rc < 0)
		ck_sn_close(sn);
	return rc;
}

void
ck_sn_close(struct ck_snapshotter *sn)
{
	free(sn->name);
	free(sn->dir);
	memset(sn, 0, sizeof(*sn));
}

static char *
meta_path(const struct ck_snapshotter *sn, const char *key)
{
	char *d = ck_sha256_bytes(key, strlen(key));
	char *p = ck_asprintf("%s/meta/%s.json", sn->dir, ck_digest_hex(d));

	free(d);
	return p;
}

static int
lock_sn(const struct ck_snapshotter *sn, struct ck_err **errp)
{
	char *p = ck_asprintf("%s/lock", sn->dir);
	int fd = ck_lock(p, 0, errp);

	free(p);
	return fd;
}

/* Returns the strings of the array ids, NULL-terminated, or NULL when
 * ids is not an array of strings. */
static char **
parse_diff_ids(json_t *ids)
{
	char **v;
	size_t i, n = json_array_size(ids);

	if (!json_is_array(ids))
		return NULL;
	for (i = 0; i < n; i++)
		if (!json_is_string(json_array_get(ids, i)))
			return NULL;
	v = ck_xcalloc(n + 1, sizeof(*v));
	for (i = 0; i < n; i++)
		v[i] = ck_xstrdup(json_string_value(json_array_get(ids, i)));
	return v;
}

static int
parse_record(json_t *j, struct ck_snapshot *s)
{
	const char *key = json_string_value(json_object_get(j, "key"));
	const char *id = json_string_value(json_object_get(j, "id"));
	const char *kind = json_string_value(json_object_get(j, "kind"));
	const char *parent = json_string_value(json_object_get(j, "parent"));
	const char *created = json_string_value(json_object_get(j,
								"created"));
	int k;

	memset(s, 0, sizeof(*s));
	if (!key || !id || !kind)
		return -1;
	for (k = CK_SNAP_COMMITTED; k <= CK_SNAP_VIEW; k++)
		if (strcmp(kind, kind_names[k]) == 0)
			s->kind = (enum ck_snap_kind)k;
	if (s->kind == 0 || strchr(id, '/') || id[0] == '.')
		return -1;
	s->key = ck_xstrdup(key);
	s->id = ck_xstrdup(id);
	s->parent = parent ? ck_xstrdup(parent) : NULL;
	s->created = created ? ck_xstrdup(created) : NULL;
	s->diff_ids = parse_diff_ids(json_object_get(j, "diff_ids"));
	return 0;
}

static int
read_record(const char *path, struct ck_snapshot *s, struct ck_err **errp)
{
	json_t *j = ck_record_load(path, errp);
	int rc;

	if (j == NULL)
		return -1;
	rc = parse_record(j, s);
	json_decref(j);
	if (rc < 0)
		return ck_err_setc(errp, CK_E_INVALID, 0, "invalid snapshot "
				   "record '%s'", path);
	return 0;
}

int
ck_sn_stat(const struct ck_snapshotter *sn, const char *key,
	   struct ck_snapshot *s, struct ck_err **errp)
{
	char *p = meta_path(sn, key);
	int rc = read_record(p, s, errp);

	free(p);
	if (rc < 0 && ck_err_code(errp ? *errp : NULL) == CK_E_NOTFOUND)
		return ck_err_setc(errp, CK_E_NOTFOUND, 0,
				   "snapshot '%s' not found", key);
	/* A record copied by hand under another key's name: not this
	 * snapshot, so csnapshot rm KEY may remove the copy. */
	if (rc == 0 && strcmp(s->key, key) != 0) {
		rc = ck_err_setc(errp, CK_E_INVALID, 0, "the record under the "
				 "name of snapshot '%s' contains snapshot '%s' "
				 "(remove it with 'csnapshot rm %s')", key,
				 s->key, key);
		ck_snapshot_free(s);
		return rc;
	}
	return rc;
}

int
ck_sn_exists(const struct ck_snapshotter *sn, const char *key,
	     struct ck_err **errp)
{
	struct ck_snapshot s;
	struct ck_err *err = NULL;

	if (ck_sn_stat(sn, key, &s, &err) == 0) {
		ck_snapshot_free(&s);
		return 1;
	}
	if (ck_err_code(err) == CK_E_NOTFOUND) {
		ck_err_free(&err);
		return 0;
	}
	if (ck_err_code(err) == CK_E_DAMAGED)
		ck_err_wrap(&err, "snapshot '%s' (remove it with 'csnapshot "
			    "rm %s')", key, key);
	return ck_err_pass(errp, err);
}

/* Writes text to a new temporary file next to path, without a sync, and
 * returns its name. */
static char *
write_temp(const char *path, const char *text, struct ck_err **errp)
{
	char *rnd = ck_random_hex(6);
	char *tmp = ck_asprintf("%s.tmp-%s", path, rnd);
	size_t len = strlen(text);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	free(rnd);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
		ck_err_set(errp, errno, "write '%s'", tmp);
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		free(tmp);
		return NULL;
	}
	close(fd);
	return tmp;
}

/* Writes path by rename, without the fsyncs of ck_write_file_atomic. */
static int
write_quick(const char *path, const char *text, struct ck_err **errp)
{
	char *tmp = write_temp(path, text, errp);
	int rc = 0;

	if (tmp == NULL)
		return -1;
	if (rename(tmp, path) < 0) {
		rc = ck_err_set(errp, errno, "write '%s'", path);
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

/* Returns the JSON text of the record of s. */
static char *
record_text(const struct ck_snapshot *s)
{
	json_t *j = json_object();
	char *text;

	json_object_set_new(j, "key", json_string(s->key));
	json_object_set_new(j, "id", json_string(s->id));
	json_object_set_new(j, "kind", json_string(kind_names[s->kind]));
	if (s->parent)
		json_object_set_new(j, "parent", json_string(s->parent));
	if (s->created)
		json_object_set_new(j, "created", json_string(s->created));
	if (s->diff_ids) {
		json_t *ids = json_array();
		size_t i;

		for (i = 0; s->diff_ids[i]; i++)
			json_array_append_new(ids, json_string(s->diff_ids[i]));
		json_object_set_new(j, "diff_ids", ids);
	}
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return text;
}

/* Writes the record of s, fsynced when durable is set. The record of an
 * unpack's extract snapshot needs no fsync, because after a crash its
 * directories are unused either way. */
static int
write_record(const struct ck_snapshotter *sn, const struct ck_snapshot *s,
	     int durable, struct ck_err **errp)
{
	char *p = meta_path(sn, s->key);
	char *text = record_text(s);
	int rc;

	rc = durable ? ck_write_file_atomic(p, text, strlen(text), 0600, errp) :
		write_quick(p, text, errp);
	free(text);
	free(p);
	return rc;
}

/* Makes the fs dir of a new snapshot: empty, or for btrfs and native a
 * snapshot or copy of the parent's. */
static int
make_fs(const struct ck_snapshotter *sn, const char *dir,
	const char *parent_id, enum ck_snap_kind kind, struct ck_err **errp)
{
	char *fs = ck_asprintf("%s/fs", dir);
	char *from = parent_id ? ck_asprintf("%s/snapshots/%s/fs", sn->dir,
					     parent_id) : NULL;
	int rc;

	if (sn->type == CK_SN_BTRFS) {
		rc = ck_btrfs_create(dir, from, kind == CK_SNAP_VIEW, errp);
	} else if (mkdir(fs, 0755) < 0) {
		rc = ck_err_set(errp, errno, "mkdir '%s'", fs);
	} else {
		rc = sn->type == CK_SN_NATIVE && from ?
			ck_native_copy(from, fs, errp) : 0;
	}
	free(from);
	free(fs);
	return rc;
}

static int
make_dirs(const struct ck_snapshotter *sn, const char *id,
	  const char *parent_id, enum ck_snap_kind kind, struct ck_err **errp)
{
	char *dir = ck_asprintf("%s/snapshots/%s", sn->dir, id);
	char *work = ck_asprintf("%s/work", dir);
	int rc = 0;

	if (mkdir(dir, 0700) < 0)
		rc = ck_err_set(errp, errno, "mkdir '%s'", dir);
	if (rc == 0)
		rc = make_fs(sn, dir, parent_id, kind, errp);
	if (rc == 0 && sn->type == CK_SN_OVERLAY && mkdir(work, 0700) < 0)
		rc = ck_err_set(errp, errno, "mkdir '%s'", work);
	if (rc < 0 && sn->type == CK_SN_BTRFS)
		ck_btrfs_destroy(dir, NULL);
	if (rc < 0)
		ck_rm_rf(dir, NULL);
	free(work);
	free(dir);
	return rc;
}

/* Checks a new snapshot key: non-empty UTF-8 without control characters,
 * which would break the lines of `csnapshot ls`. */
static int
check_key(const char *key, struct ck_err **errp)
{
	return ck_check_text("snapshot key", key ? key : "", errp);
}

int
ck_sn_prepare(const struct ck_snapshotter *sn, const char *key,
	      const char *parent, enum ck_snap_kind kind, int *fill_lock,
	      struct ck_err **errp)
{
	struct ck_snapshot s = { 0 }, ps;
	int lock, rc = -1, dirs_made, exists;

	if (check_key(key, errp) < 0)
		return -1;
	lock = lock_sn(sn, errp);
	if (lock < 0)
		return -1;
	exists = ck_sn_exists(sn, key, errp);
	if (exists != 0) {
		if (exists > 0)
			ck_err_setc(errp, CK_E_EXISTS, 0,
				    "snapshot '%s' already exists", key);
		goto out;
	}
	memset(&ps, 0, sizeof(ps));
	if (parent != NULL) {
		if (ck_sn_stat(sn, parent, &ps, errp) < 0)
			goto out;
		/* An unpack stacks its extract snapshots, which it holds
		 * locked, before it commits them all. */
		rc = ps.kind == CK_SNAP_COMMITTED ||
			(fill_lock != NULL && ps.kind == CK_SNAP_ACTIVE &&
			 ck_has_prefix(parent, "extract-")) ? 0 :
			ck_err_setc(errp, CK_E_INVALID, 0, "parent '%s' is "
				    "not a committed snapshot", parent);
		if (rc < 0) {
			ck_snapshot_free(&ps);
			goto out;
		}
	}
	s.key = (char *)key;
	s.parent = (char *)parent;
	s.kind = kind;
	s.id = ck_random_hex(8);
	s.created = ck_now_rfc3339();
	/* NOTE: a native snapshot copies its parent here, under the
	 * snapshotter's lock, so other tools wait for the copy. */
	rc = make_dirs(sn, s.id, ps.id, kind, errp);
	ck_snapshot_free(&ps);
	dirs_made = rc == 0;
	if (rc == 0 && fill_lock != NULL) {
		*fill_lock = ck_sn_lock_fill(sn, &s, errp);
		rc = *fill_lock < 0 ? -1 : 0;
	}
	if (rc == 0)
		rc = write_record(sn, &s, fill_lock == NULL && !sn->no_sync,
				  errp);
	/* An unpack's extract snapshot counts once it is committed. */
	if (rc == 0 && fill_lock == NULL)
		keep_default(sn);
	if (rc < 0 && fill_lock != NULL && *fill_lock >= 0) {
		ck_unlock(*fill_lock);
		*fill_lock = -1;
	}
	/* Removes the new directories unless their record exists, as it
	 * does when only the fsync after its rename failed, or may exist. */
	if (rc < 0 && dirs_made && ck_sn_exists(sn, key, NULL) == 0) {
		char *dir = ck_asprintf("%s/snapshots/%s", sn->dir, s.id);

		if (sn->type == CK_SN_BTRFS)
			ck_btrfs_destroy(dir, NULL);
		ck_rm_rf(dir, NULL);
		free(dir);
	}
	free(s.id);
	free(s.created);
out:
	ck_unlock(lock);
	return rc;
}

int
ck_sn_freeze(const struct ck_snapshotter *sn, const char *key,
	     const char *frozen, int *fill_lock, struct ck_err **errp)
{
	struct ck_snapshot s = { 0 }, w;
	int lock, rc = -1;

	*fill_lock = -1;
	if (sn->type != CK_SN_BTRFS)
		return ck_err_setc(errp, CK_E_INVALID, 0, "snapshotter '%s' "
				   "cannot freeze a snapshot", sn->name);
	lock = lock_sn(sn, errp);
	if (lock < 0)
		return -1;
	if (ck_sn_stat(sn, key, &w, errp) < 0)
		goto out;
	rc = ck_sn_exists(sn, frozen, errp);
	if (rc != 0) {
		if (rc > 0)
			ck_err_setc(errp, CK_E_EXISTS, 0,
				    "snapshot '%s' already exists", frozen);
		rc = -1;
		goto out_w;
	}
	s.key = (char *)frozen;
	s.parent = w.parent;
	s.kind = CK_SNAP_ACTIVE;
	s.id = ck_random_hex(8);
	s.created = ck_now_rfc3339();
	/* A view's fs is a read-only snapshot of its parent's. */
	rc = make_dirs(sn, s.id, w.id, CK_SNAP_VIEW, errp);
	if (rc == 0) {
		*fill_lock = ck_sn_lock_fill(sn, &s, errp);
		rc = *fill_lock < 0 ? -1 : 0;
	}
	if (rc == 0)
		rc = write_record(sn, &s, 0, errp);
	if (rc == 0) {
		w.parent = ck_xstrdup(frozen);
		rc = write_record(sn, &w, 0, errp);
		if (rc < 0) {
			char *meta = meta_path(sn, frozen);

			unlink(meta);
			free(meta);
		}
	} else {
		w.parent = NULL;
	}
	if (rc < 0) {
		char *dir = ck_asprintf("%s/snapshots/%s", sn->dir, s.id);

		ck_btrfs_destroy(dir, NULL);
		ck_rm_rf(dir, NULL);
		free(dir);
		if (*fill_lock >= 0)
			ck_unlock(*fill_lock);
		*fill_lock = -1;
	}
	free(s.parent);
	free(s.id);
	free(s.created);
out_w:
	ck_snapshot_free(&w);
out:
	ck_unlock(lock);
	return rc;
}

/*
 * Returns 1 when a record names key as its parent, else 0, and sets
 * *id_shared when another key's record names the directories id. A
 * record that cannot be read might be a child: then the result is -1,
 * with the error. A damaged record does not count: a crash leaves one
 * only where no fsync was made, on snapshots unused after a crash.
 */
static int
has_children(const struct ck_snapshotter *sn, const char *key,
	     const char *id, int *id_shared, struct ck_err **errp)
{
	char *dir = ck_asprintf("%s/meta", sn->dir), *own = meta_path(sn, key);
	struct dirent *de;
	DIR *d = opendir(dir);
	int found = d ? 0 : ck_err_set(errp, errno, "open '%s'", dir);

	*id_shared = 0;
	while (d && found == 0 && (de = readdir(d)) != NULL) {
		struct ck_snapshot s;
		struct ck_err *err = NULL;
		char *p;

		if (!ck_has_suffix(de->d_name, ".json"))
			continue;
		p = ck_asprintf("%s/%s", dir, de->d_name);
		if (strcmp(p, own) == 0) {
			/* The record of key itself, possibly the damaged one. */
		} else if (read_record(p, &s, &err) == 0) {
			if (s.parent && strcmp(s.parent, key) == 0)
				found = 1;
			if (strcmp(s.id, id) == 0 && strcmp(s.key, key) != 0)
				*id_shared = 1;
			ck_snapshot_free(&s);
		} else if (ck_err_code(err) != CK_E_DAMAGED &&
			   ck_err_code(err) != CK_E_NOTFOUND) {
			found = ck_err_pass(errp, err);
			err = NULL;
		}
		ck_err_free(&err);
		free(p);
	}
	if (d)
		closedir(d);
	free(own);
	free(dir);
	return found;
}

/* Removes a damaged record; reason is the message of the failed read. */
static void
drop_damaged(const char *path, const char *reason)
{
	ck_log(CK_LOG_WARNING, "removing a damaged snapshot record (%s); "
	       "its directories go with it", reason);
	unlink(path);
}

static void sweep_orphans(const struct ck_snapshotter *sn);

static int
remove_locked(const struct ck_snapshotter *sn, const char *key,
	      struct ck_err **errp)
{
	struct ck_snapshot s;
	struct ck_err *err = NULL;
	char *meta, *dir;
	int shared, children, rc = 0;

	if (ck_sn_stat(sn, key, &s, &err) < 0) {
		/* The caller named this record, so one that is JSON but
		 * not a snapshot record is removed too. */
		if (ck_err_code(err) != CK_E_DAMAGED &&
		    ck_err_code(err) != CK_E_INVALID)
			return ck_err_pass(errp, err);
		children = has_children(sn, key, "", &shared, errp);
		if (children != 0) {
			ck_err_free(&err);
			return children < 0 ? -1 : ck_err_setc(errp, CK_E_BUSY,
				0, "snapshot '%s' has children; remove them "
				"first", key);
		}
		meta = meta_path(sn, key);
		drop_damaged(meta, err->msg);
		ck_err_free(&err);
		free(meta);
		sweep_orphans(sn);
		return 0;
	}
	children = has_children(sn, key, s.id, &shared, errp);
	if (children != 0) {
		ck_snapshot_free(&s);
		return children < 0 ? -1 : ck_err_setc(errp, CK_E_BUSY, 0,
			"snapshot '%s' has children; remove them first", key);
	}
	meta = meta_path(sn, key);
	if (unlink(meta) < 0)
		rc = ck_err_set(errp, errno, "remove '%s'", meta);
	dir = ck_asprintf("%s/snapshots/%s", sn->dir, s.id);
	if (rc == 0 && !shared && sn->type == CK_SN_BTRFS)
		rc = ck_btrfs_destroy(dir, errp);
	if (rc == 0 && !shared)
		rc = ck_rm_rf(dir, errp);
	free(dir);
	free(meta);
	ck_snapshot_free(&s);
	return rc;
}

int
ck_sn_remove(const struct ck_snapshotter *sn, const char *key,
	     struct ck_err **errp)
{
	int lock = lock_sn(sn, errp);
	int rc;

	if (lock < 0)
		return -1;
	rc = remove_locked(sn, key, errp);
	ck_unlock(lock);
	return rc;
}

int
ck_sn_set_parent(const struct ck_snapshotter *sn, const char *key,
		 const char *parent, struct ck_err **errp)
{
	struct ck_snapshot s;
	int lock = lock_sn(sn, errp);
	int rc;

	if (lock < 0)
		return -1;
	if (ck_sn_stat(sn, key, &s, errp) < 0) {
		ck_unlock(lock);
		return -1;
	}
	if (s.kind != CK_SNAP_ACTIVE) {
		rc = ck_err_setc(errp, CK_E_INVALID, 0,
				 "snapshot '%s' is not active", key);
	} else {
		free(s.parent);
		s.parent = parent ? ck_xstrdup(parent) : NULL;
		rc = write_record(sn, &s, 0, errp);
	}
	ck_snapshot_free(&s);
	ck_unlock(lock);
	return rc;
}

int
ck_sn_commit(const struct ck_snapshotter *sn, const char *name,
	     const char *key, struct ck_err **errp)
{
	return ck_sn_commit_layers(sn, name, key, NULL, 0, errp);
}

int
ck_sn_commit_layers(const struct ck_snapshotter *sn, const char *name,
		    const char *key, char *const *diff_ids, size_t n,
		    struct ck_err **errp)
{
	struct ck_snapshot s;
	char *meta;
	size_t i;
	int lock, rc = -1;

	if (check_key(name, errp) < 0)
		return -1;
	lock = lock_sn(sn, errp);
	if (lock < 0)
		return -1;
	if (ck_sn_stat(sn, key, &s, errp) < 0)
		goto out;
	if (s.kind != CK_SNAP_ACTIVE) {
		ck_err_setc(errp, CK_E_INVALID, 0,
			    "snapshot '%s' is not active", key);
		ck_snapshot_free(&s);
		goto out;
	}
	rc = ck_sn_exists(sn, name, errp);
	if (rc != 0) {
		ck_snapshot_free(&s);
		rc = rc > 0 ? remove_locked(sn, key, errp) : -1;
		goto out;
	}
	if (sn->type == CK_SN_BTRFS) {
		char *fs = ck_sn_fs_dir(sn, &s);

		rc = ck_btrfs_set_readonly(fs, errp);
		free(fs);
		if (rc < 0) {
			ck_snapshot_free(&s);
			goto out;
		}
	}
	free(s.key);
	s.key = ck_xstrdup(name);
	s.kind = CK_SNAP_COMMITTED;
	if (diff_ids != NULL) {
		ck_strv_free(s.diff_ids);
		s.diff_ids = ck_xcalloc(n + 1, sizeof(*s.diff_ids));
		for (i = 0; i < n; i++)
			s.diff_ids[i] = ck_xstrdup(diff_ids[i]);
	}
	/* The new record goes in before the old one goes, so the
	 * directories always have a record. remove_locked keeps
	 * directories whose id another record still names. */
	rc = write_record(sn, &s, 1, errp);
	meta = meta_path(sn, key);
	if (rc == 0 && unlink(meta) < 0)
		rc = ck_err_set(errp, errno, "remove '%s'", meta);
	free(meta);
	ck_snapshot_free(&s);
	if (rc == 0)
		keep_default(sn);
out:
	ck_unlock(lock);
	return rc;
}

/* Returns the first of the n leading snapshots of the chain that cannot
 * be committed, or n, and makes each one read-only and writes its new
 * record to a temporary file in tmps[i]. dup[i] is set when names[i]
 * exists already. */
static size_t
prepare_chain(const struct ck_snapshotter *sn, char *const *names,
	      char *const *keys, char *const *diff_ids, size_t n,
	      char **tmps, int *dup, struct ck_err **errp)
{
	struct ck_snapshot s;
	char *fs, *text, *meta;
	size_t i;

	for (i = 0; i < n; i++) {
		if (ck_sn_stat(sn, keys[i], &s, errp) < 0)
			return i;
		if (s.kind != CK_SNAP_ACTIVE) {
			ck_err_setc(errp, CK_E_INVALID, 0,
				    "snapshot '%s' is not active", keys[i]);
			ck_snapshot_free(&s);
			return i;
		}
		dup[i] = ck_sn_exists(sn, names[i], errp);
		if (dup[i] != 0) {
			ck_snapshot_free(&s);
			if (dup[i] < 0)
				return i;
			continue;
		}
		fs = ck_sn_fs_dir(sn, &s);
		if (sn->type == CK_SN_BTRFS &&
		    ck_btrfs_set_readonly(fs, errp) < 0) {
			free(fs);
			ck_snapshot_free(&s);
			return i;
		}
		free(fs);
		free(s.key);
		s.key = ck_xstrdup(names[i]);
		s.kind = CK_SNAP_COMMITTED;
		if (i > 0) {
			free(s.parent);
			s.parent = ck_xstrdup(names[i - 1]);
		}
		ck_strv_free(s.diff_ids);
		s.diff_ids = ck_xcalloc(2, sizeof(*s.diff_ids));
		s.diff_ids[0] = ck_xstrdup(diff_ids[i]);
		text = record_text(&s);
		meta = meta_path(sn, names[i]);
		tmps[i] = write_temp(meta, text, errp);
		free(meta);
		free(text);
		ck_snapshot_free(&s);
		if (tmps[i] == NULL)
			return i;
	}
	return n;
}

/* Syncs the filesystem that contains dir, or only dir itself when whole
 * is 0. */
static int
sync_meta(const char *dir, int whole, struct ck_err **errp)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0 || (whole ? syncfs(fd) : fsync(fd)) < 0)
		rc = ck_err_set(errp, errno, "sync '%s'", dir);
	if (fd >= 0)
		close(fd);
	return rc;
}

size_t
ck_sn_commit_chain(const struct ck_snapshotter *sn, char *const *names,
		   char *const *keys, char *const *diff_ids, size_t n,
		   struct ck_err **errp)
{
	char **tmps = ck_xcalloc(n, sizeof(*tmps));
	int *dup = ck_xcalloc(n, sizeof(*dup));
	char *metadir = ck_asprintf("%s/meta", sn->dir), *meta;
	struct ck_err *err = NULL;
	size_t ok = 0, i;
	int lock = lock_sn(sn, &err);

	if (lock < 0)
		goto out;
	ok = prepare_chain(sn, names, keys, diff_ids, n, tmps, dup, &err);
	/* One sync puts the layers' files and the new records on disk.
	 * The renames then go in order, and one more sync keeps them. */
	if (ok > 0 && !sn->no_sync &&
	    sync_meta(metadir, 1, err ? NULL : &err) < 0)
		ok = 0;
	for (i = 0; i < ok; i++) {
		if (tmps[i] == NULL)
			continue;
		meta = meta_path(sn, names[i]);
		if (rename(tmps[i], meta) < 0) {
			ck_err_set(err ? NULL : &err, errno, "rename '%s'",
				   tmps[i]);
			ok = i;
		}
		free(meta);
	}
	/* A failed sync here leaves the renames in place, so only the
	 * durability of the records is in doubt. */
	if (ok > 0 && !sn->no_sync)
		sync_meta(metadir, 0, err ? NULL : &err);
	/* The extract records are removed last, because until then each
	 * names its directories. Children go before their parents. */
	for (i = ok; i-- > 0;) {
		if (dup[i]) {
			remove_locked(sn, keys[i], NULL);
			continue;
		}
		meta = meta_path(sn, keys[i]);
		if (unlink(meta) < 0 && errno != ENOENT)
			ck_err_set(err ? NULL : &err, errno, "remove '%s'",
				   meta);
		free(meta);
	}
	ck_unlock(lock);
out:
	for (i = 0; i < n; i++) {
		if (i >= ok && tmps[i] != NULL)
			unlink(tmps[i]);
		free(tmps[i]);
	}
	if (ok < n && err == NULL)
		ck_err_set(&err, 0, "commit of snapshot '%s' failed",
			   keys[ok]);
	ck_err_pass(errp, err);
	free(tmps);
	free(dup);
	free(metadir);
	if (ok > 0)
		keep_default(sn);
	return ok;
}

char *
ck_sn_fs_dir(const struct ck_snapshotter *sn, const struct ck_snapshot *s)
{
	return ck_asprintf("%s/snapshots/%s/fs", sn->dir, s->id);
}

char **
ck_sn_lowers(const struct ck_snapshotter *sn, const char *key,
	     struct ck_err **errp)
{
	struct ck_snapshot s;
	char **v = ck_xcalloc(1, sizeof(*v));
	char *parent = NULL;
	size_t n = 0;

	if (ck_sn_stat(sn, key, &s, errp) < 0) {
		free(v);
		return NULL;
	}
	parent = s.parent ? ck_xstrdup(s.parent) : NULL;
	ck_snapshot_free(&s);
	while (parent != NULL) {
		if (ck_sn_stat(sn, parent, &s, errp) < 0) {
			ck_err_wrap(errp, "parent of '%s'", key);
			free(parent);
			ck_strv_free(v);
			return NULL;
		}
		v = ck_xrealloc(v, (n + 2) * sizeof(*v));
		v[n++] = ck_sn_fs_dir(sn, &s);
		v[n] = NULL;
		free(parent);
		parent = s.parent ? ck_xstrdup(s.parent) : NULL;
		ck_snapshot_free(&s);
	}
	return v;
}

static void
set_mount(struct ck_mount *m, const char *type, char *source, char *options)
{
	m->type = ck_xstrdup(type);
	m->source = source;
	m->options = options;
}

int
ck_sn_mounts(const struct ck_snapshotter *sn, const char *key,
	     struct ck_mount *m, struct ck_err **errp)
{
	struct ck_snapshot s;
	struct ck_buf lower = { 0 };
	char **lowers;
	size_t n;

	memset(m, 0, sizeof(*m));
	if (ck_sn_stat(sn, key, &s, errp) < 0)
		return -1;
	if (sn->type != CK_SN_OVERLAY) {
		set_mount(m, "bind", ck_sn_fs_dir(sn, &s),
			  ck_xstrdup(s.kind == CK_SNAP_ACTIVE ? "rw,rbind" :
				     "ro,rbind"));
		ck_snapshot_free(&s);
		return 0;
	}
	lowers = ck_sn_lowers(sn, key, errp);
	if (lowers == NULL) {
		ck_snapshot_free(&s);
		return -1;
	}
	for (n = 0; lowers[n]; n++)
		ck_buf_addf(&lower, "%s%s", n ? ":" : "", lowers[n]);
	if (s.kind == CK_SNAP_COMMITTED || (s.kind == CK_SNAP_VIEW && n < 2)) {
		/* overlayfs needs two lower dirs without an upper dir */
		set_mount(m, "bind", s.kind == CK_SNAP_COMMITTED ?
			  ck_sn_fs_dir(sn, &s) : ck_xstrdup(n ? lowers[0] :
			  ck_sn_fs_dir(sn, &s)), ck_xstrdup("ro,rbind"));
	} else if (s.kind == CK_SNAP_VIEW) {
		set_mount(m, "overlay", ck_xstrdup("overlay"),
			  ck_asprintf("lowerdir=%s", lower.data));
	} else if (n == 0) {
		set_mount(m, "bind", ck_sn_fs_dir(sn, &s),
			  ck_xstrdup("rw,rbind"));
	} else {
		set_mount(m, "overlay", ck_xstrdup("overlay"),
			  ck_asprintf("index=off,workdir=%s/snapshots/%s/work,"
				      "upperdir=%s/snapshots/%s/fs,lowerdir=%s",
				      sn->dir, s.id, sn->dir, s.id,
				      lower.data));
	}
	ck_buf_free(&lower);
	ck_strv_free(lowers);
	ck_snapshot_free(&s);
	return 0;
}

char *
ck_sn_relative_options(const struct ck_snapshotter *sn, const char *options)
{
	char *prefix = ck_asprintf("%s/snapshots/", sn->dir);
	size_t n = strlen(prefix);
	struct ck_buf b = { 0 };
	const char *p = options, *hit;

	while ((hit = strstr(p, prefix)) != NULL) {
		ck_buf_add(&b, p, (size_t)(hit - p));
		p = hit + n;
	}
	ck_buf_add(&b, p, strlen(p));
	free(prefix);
	return b.data;
}

/*
 * Mounts overlayfs with options. The kernel copies at most one page of
 * mount options, and under the default root each absolute lowerdir path
 * takes 59 bytes, so about 69 layers fill a 4 KiB page. Longer options
 * get paths relative to the snapshots directory, and the mount runs from
 * there, as containerd's mount helper does.
 */
static int
mount_overlay(const struct ck_snapshotter *sn, const char *target,
	      unsigned long flags, const char *options, struct ck_err **errp)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *rel, *abs_target, *dir;
	int cwd, rc, saved;

	if (strlen(options) < page)
		return mount("overlay", target, "overlay", flags, options) < 0 ?
			ck_err_set(errp, errno, "mount overlay on '%s'",
				   target) : 0;
	rel = ck_sn_relative_options(sn, options);
	if (strlen(rel) >= page) {
		free(rel);
		return ck_err_setc(errp, CK_E_INVALID, 0, "overlay mount "
				   "options of %zu bytes pass the limit of "
				   "%zu: too many layers", strlen(options),
				   page - 1);
	}
	abs_target = realpath(target, NULL);
	dir = ck_asprintf("%s/snapshots", sn->dir);
	cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	rc = abs_target && cwd >= 0 && chdir(dir) == 0 ?
		mount("overlay", abs_target, "overlay", flags, rel) : -1;
	saved = errno;
	if (cwd >= 0 && fchdir(cwd) < 0)
		ck_log(CK_LOG_WARNING, "cannot return to the working "
		       "directory: %s", strerror(errno));
	if (rc < 0)
		ck_err_set(errp, saved, "mount overlay on '%s' from '%s'",
			   target, dir);
	if (cwd >= 0)
		close(cwd);
	free(dir);
	free(abs_target);
	free(rel);
	return rc < 0 ? -1 : 0;
}

static char *
read_boot_id(void)
{
	char *id = NULL;

	if (ck_read_file("/proc/sys/kernel/random/boot_id", 64, &id, NULL,
			 NULL) < 0)
		return NULL;
	return id;
}

/*
 * Removes the marker that a volatile overlay mount leaves in the work
 * directory of the snapshot in dir. The kernel does not mount that upper
 * directory again while the marker exists, because after a crash its
 * files may be incomplete. The boot ID saved at mount time shows whether
 * the machine restarted since, and only then is the mount rejected.
 */
static int
clear_volatile(const char *dir, const char *key, struct ck_err **errp)
{
	char *marker = ck_asprintf("%s/work/work/incompat/volatile", dir);
	char *saved_path = ck_asprintf("%s/volatile-boot", dir);
	char *saved = NULL, *now = NULL;
	int rc = 0;

	if (ck_path_exists(marker)) {
		ck_read_file(saved_path, 64, &saved, NULL, NULL);
		now = read_boot_id();
		if (saved && now && strcmp(saved, now) == 0)
			rc = ck_rm_rf(marker, errp);
		else
			rc = ck_err_setc(errp, CK_E_INVALID, 0, "snapshot '%s' "
					 "was mounted volatile before the "
					 "machine restarted, so its files may "
					 "be incomplete; remove it", key);
	}
	free(saved);
	free(now);
	free(saved_path);
	free(marker);
	return rc;
}

/* Saves the boot ID beside the snapshot in dir before a volatile mount. */
static int
mark_volatile(const char *dir)
{
	char *path = ck_asprintf("%s/volatile-boot", dir);
	char *now = read_boot_id();
	int rc = -1;

	if (now != NULL)
		rc = ck_write_file_replace(path, now, strlen(now), 0600, NULL);
	free(now);
	free(path);
	return rc;
}

/* Mounts the overlay of an active snapshot, which has an upper dir. */
static int
mount_upper(const struct ck_snapshotter *sn, const char *key,
	    const struct ck_mount *m, const char *target, int flags,
	    struct ck_err **errp)
{
	struct ck_snapshot s;
	char *dir, *opts;
	int rc;

	if (ck_sn_stat(sn, key, &s, errp) < 0)
		return -1;
	dir = ck_asprintf("%s/snapshots/%s", sn->dir, s.id);
	ck_snapshot_free(&s);
	rc = clear_volatile(dir, key, errp);
	if (rc == 0 && (flags & CK_MOUNT_VOLATILE) && mark_volatile(dir) == 0) {
		/* Kernels before 5.10 reject the option: mount without. */
		opts = ck_asprintf("volatile,%s", m->options);
		rc = mount_overlay(sn, target, 0, opts, NULL);
		free(opts);
		if (rc < 0)
			rc = mount_overlay(sn, target, 0, m->options, errp);
	} else if (rc == 0) {
		rc = mount_overlay(sn, target, 0, m->options, errp);
	}
	free(dir);
	return rc;
}

int
ck_sn_mount(const struct ck_snapshotter *sn, const char *key,
	    const char *target, struct ck_err **errp)
{
	return ck_sn_mount_flags(sn, key, target, 0, errp);
}

int
ck_sn_mount_flags(const struct ck_snapshotter *sn, const char *key,
		  const char *target, int flags, struct ck_err **errp)
{
	struct ck_mount m;
	int rc = 0;

	if (ck_sn_mounts(sn, key, &m, errp) < 0)
		return -1;
	if (strcmp(m.type, "bind") == 0) {
		if (mount(m.source, target, NULL, MS_BIND | MS_REC, NULL) < 0)
			rc = ck_err_set(errp, errno, "bind mount '%s' on '%s'",
					m.source, target);
		else if (ck_has_prefix(m.options, "ro") &&
			 mount(NULL, target, NULL,
			       MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
			rc = ck_err_set(errp, errno, "remount '%s' read-only",
					target);
	} else if (strstr(m.options, "upperdir=") != NULL) {
		rc = mount_upper(sn, key, &m, target, flags, errp);
	} else {
		rc = mount_overlay(sn, target, 0, m.options, errp);
	}
	ck_mount_free(&m);
	return rc;
}

int
ck_sn_lock_fill(const struct ck_snapshotter *sn, const struct ck_snapshot *s,
		struct ck_err **errp)
{
	char *p = ck_asprintf("%s/snapshots/%s/lock", sn->dir, s->id);
	int fd = ck_lock(p, 1, errp);

	free(p);
	return fd;
}

int
ck_sn_hold(const struct ck_snapshotter *sn, const char *key, int *fd,
	   struct ck_err **errp)
{
	struct ck_snapshot s;

	*fd = -1;
	if (!ck_has_prefix(key, "extract-") ||
	    ck_sn_stat(sn, key, &s, NULL) < 0)
		return 0;
	if (s.kind == CK_SNAP_ACTIVE) {
		*fd = ck_sn_lock_fill(sn, &s, NULL);
		if (*fd < 0) {
			ck_snapshot_free(&s);
			return ck_err_setc(errp, CK_E_BUSY, 0, "snapshot '%s' "
					   "is being filled by a running "
					   "unpack", key);
		}
	}
	ck_snapshot_free(&s);
	return 0;
}

static int
has_id(char *const *ids, const char *id)
{
	for (; ids && *ids; ids++)
		if (strcmp(*ids, id) == 0)
			return 1;
	return 0;
}

/* Removes the snapshot directories that no record names: a kill between
 * making a snapshot's directories and writing its record leaves one.
 * The caller holds the snapshotter's lock, under which every snapshot is
 * made and removed, and passes the ids of all records. */
static void
remove_orphans(const struct ck_snapshotter *sn, char *const *ids)
{
	char *dir = ck_asprintf("%s/snapshots", sn->dir);
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d)) != NULL) {
		char *path;

		if (de->d_name[0] == '.' || strlen(de->d_name) != 16 ||
		    strspn(de->d_name, "0123456789abcdef") != 16 ||
		    has_id(ids, de->d_name))
			continue;
		path = ck_asprintf("%s/%s", dir, de->d_name);
		ck_log(CK_LOG_INFO, "removing snapshot directory '%s' that "
		       "no record names", path);
		if (sn->type != CK_SN_BTRFS ||
		    ck_btrfs_destroy(path, NULL) == 0)
			ck_rm_rf(path, NULL);
		free(path);
	}
	if (d)
		closedir(d);
	free(dir);
}

/* An extract snapshot that ck_sn_cleanup found abandoned. */
struct abandoned {
	char *key;		/* NULL once removed */
	char *parent;
	int fd;			/* its fill lock, taken by the cleanup */
};

static int
is_parent_of_any(const char *key, const struct abandoned *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].key && v[i].parent && strcmp(v[i].parent, key) == 0)
			return 1;
	return 0;
}

/*
 * Removes the n abandoned extract snapshots of v and drops their locks.
 * An unpack stacks its extract snapshots, so a killed one may leave a
 * chain of them. Each round removes those that no other abandoned one
 * names as its parent. Returns -1, with the first error, if any removal
 * failed.
 */
static int
remove_abandoned(const struct ck_snapshotter *sn, struct abandoned *v,
		 size_t n, struct ck_err **errp)
{
	size_t i;
	int rc = 0, progress;

	do {
		progress = 0;
		for (i = 0; i < n; i++) {
			struct ck_err *err = NULL;

			if (v[i].key == NULL ||
			    is_parent_of_any(v[i].key, v, n))
				continue;
			if (remove_locked(sn, v[i].key, &err) == 0) {
				ck_log(CK_LOG_INFO, "removed unfinished "
				       "snapshot '%s'", v[i].key);
				progress = 1;
			} else if (ck_err_code(err) == CK_E_BUSY) {
				/* A child that is not abandoned keeps it. */
				ck_err_free(&err);
				continue;
			} else {
				rc = ck_err_pass(errp, err);
			}
			free(v[i].key);
			v[i].key = NULL;
			ck_unlock(v[i].fd);
		}
	} while (progress);
	for (i = 0; i < n; i++) {
		if (v[i].key != NULL)
			ck_unlock(v[i].fd);
		free(v[i].key);
		free(v[i].parent);
	}
	return rc;
}

/*
 * Reads every record of sn and returns the ids they name in *ids, or
 * -1 when a record could not be read, which would make its directories
 * look like orphans. Damaged records go, unless a readable record names
 * them as its parent, and so do the temporary files of killed writes:
 * the caller holds the snapshotter's lock, which every writer holds.
 * With v set, the extract snapshots whose fill lock is free, that is
 * whose writer died, are added to *v with the lock taken.
 */
static int
scan_records(const struct ck_snapshotter *sn, char ***ids,
	     struct abandoned **v, size_t *n)
{
	char *dir = ck_asprintf("%s/meta", sn->dir);
	DIR *d = opendir(dir);
	struct dirent *de;
	char **damaged = NULL, **reasons = NULL, **parents = NULL;
	size_t n_ids = 0, n_damaged = 0, n_parents = 0, i;
	int rc = d ? 0 : -1;

	*ids = NULL;
	while (d && (de = readdir(d)) != NULL) {
		struct ck_snapshot s;
		struct ck_err *err = NULL;
		char *p;
		int fd;

		if (strstr(de->d_name, ".json.tmp-") != NULL) {
			unlinkat(dirfd(d), de->d_name, 0);
			continue;
		}
		if (!ck_has_suffix(de->d_name, ".json"))
			continue;
		p = ck_asprintf("%s/%s", dir, de->d_name);
		if (read_record(p, &s, &err) < 0) {
			if (ck_err_code(err) == CK_E_DAMAGED) {
				damaged = ck_xrealloc(damaged, (n_damaged + 1) *
						      sizeof(*damaged));
				reasons = ck_xrealloc(reasons, (n_damaged + 1) *
						      sizeof(*reasons));
				reasons[n_damaged] = ck_xstrdup(err->msg);
				damaged[n_damaged++] = p;
			} else {
				rc = -1;
				free(p);
			}
			ck_err_free(&err);
			continue;
		}
		free(p);
		if (s.parent != NULL) {
			parents = ck_xrealloc(parents, (n_parents + 2) *
					      sizeof(*parents));
			parents[n_parents++] = meta_path(sn, s.parent);
			parents[n_parents] = NULL;
		}
		*ids = ck_xrealloc(*ids, (n_ids + 2) * sizeof(**ids));
		(*ids)[n_ids++] = ck_xstrdup(s.id);
		(*ids)[n_ids] = NULL;
		if (v && s.kind == CK_SNAP_ACTIVE &&
		    ck_has_prefix(s.key, "extract-") &&
		    (fd = ck_sn_lock_fill(sn, &s, NULL)) >= 0) {
			*v = ck_xrealloc(*v, (*n + 1) * sizeof(**v));
			(*v)[*n].key = ck_xstrdup(s.key);
			(*v)[*n].parent = s.parent ? ck_xstrdup(s.parent) :
				NULL;
			(*v)[(*n)++].fd = fd;
		}
		ck_snapshot_free(&s);
	}
	if (d)
		closedir(d);
	for (i = 0; i < n_damaged; i++) {
		/* A parent's directories are its children's lower layers:
		 * they stay, so no directory may count as an orphan. */
		if (has_id(parents, damaged[i]))
			rc = -1;
		else
			drop_damaged(damaged[i], reasons[i]);
		free(damaged[i]);
		free(reasons[i]);
	}
	ck_strv_free(parents);
	free(damaged);
	free(reasons);
	free(dir);
	return rc;
}

/* Removes the snapshot directories that no record names, unless a
 * record cannot be read. The caller holds the snapshotter's lock. */
static void
sweep_orphans(const struct ck_snapshotter *sn)
{
	char **ids;

	if (scan_records(sn, &ids, NULL, NULL) == 0)
		remove_orphans(sn, ids);
	ck_strv_free(ids);
}

/*
 * Removes extract snapshots whose writer died. This runs under the
 * snapshotter's lock, like every removal. A writer takes its fill lock
 * before the record appears and drops it only after the record is gone,
 * so a record whose fill lock is free belongs to a writer that died.
 * Without the snapshotter's lock, a record read just before its writer
 * committed would look abandoned a moment later. Temporary record files,
 * damaged records and snapshot directories that no record names go too.
 */
int
ck_sn_cleanup(const struct ck_snapshotter *sn, struct ck_err **errp)
{
	struct abandoned *v = NULL;
	char **ids;
	size_t n = 0;
	int lock = lock_sn(sn, errp), rc;

	if (lock < 0)
		return -1;
	if (scan_records(sn, &ids, &v, &n) == 0)
		remove_orphans(sn, ids);
	ck_strv_free(ids);
	rc = remove_abandoned(sn, v, n, errp);
	free(v);
	ck_unlock(lock);
	return rc;
}

void
ck_snapshot_free(struct ck_snapshot *s)
{
	free(s->key);
	free(s->id);
	free(s->parent);
	free(s->created);
	ck_strv_free(s->diff_ids);
	memset(s, 0, sizeof(*s));
}

void
ck_mount_free(struct ck_mount *m)
{
	free(m->type);
	free(m->source);
	free(m->options);
	memset(m, 0, sizeof(*m));
}

void
ck_strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

int
ck_sn_mount_view(const struct ck_snapshotter *sn, const char *key,
		 const char *target, struct ck_err **errp)
{
	struct ck_snapshot s;
	struct ck_buf lower = { 0 };
	char **lowers, *top;
	size_t i;
	int rc = 0;

	if (ck_sn_stat(sn, key, &s, errp) < 0)
		return -1;
	lowers = ck_sn_lowers(sn, key, errp);
	top = ck_sn_fs_dir(sn, &s);
	ck_snapshot_free(&s);
	if (lowers == NULL) {
		free(top);
		return -1;
	}
	ck_buf_addf(&lower, "lowerdir=%s", top);
	for (i = 0; lowers[i]; i++)
		ck_buf_addf(&lower, ":%s", lowers[i]);
	if (i == 0 || sn->type != CK_SN_OVERLAY) {
		if (mount(top, target, NULL, MS_BIND, NULL) < 0 ||
		    mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY,
			  NULL) < 0)
			rc = ck_err_set(errp, errno, "bind mount '%s'", top);
	} else {
		rc = mount_overlay(sn, target, MS_RDONLY, lower.data, errp);
	}
	ck_buf_free(&lower);
	ck_strv_free(lowers);
	free(top);
	return rc;
}

static int
cmp_keys(const void *a, const void *b)
{
	return strcmp(((const struct ck_snapshot *)a)->key,
		      ((const struct ck_snapshot *)b)->key);
}

/* Fails, and frees s, when the record at path contains a key whose
 * record belongs under another name: a record copied or renamed by hand. */
static int
misplaced(const struct ck_snapshotter *sn, const char *path,
	  struct ck_snapshot *s, struct ck_err **errp)
{
	char *expected = meta_path(sn, s->key);
	struct ck_snapshot there = { 0 };
	int rc = 0;

	if (strcmp(expected, path) == 0) {
		free(expected);
		return 0;
	}
	/* A record renamed by hand goes back to its name. A copy beside
	 * the record it copies is removed, and the next cleanup sweeps
	 * the directories that no record names. Two records of one key
	 * that name different directories need a person to choose. */
	if (!ck_path_exists(expected))
		rc = ck_err_setc(errp, CK_E_INVALID, 0, "'%s' contains the "
				 "record of snapshot '%s', which belongs in "
				 "'%s'; move it there by hand", path, s->key,
				 expected);
	else if (read_record(expected, &there, NULL) == 0 &&
		 strcmp(there.id, s->id) != 0)
		rc = ck_err_setc(errp, CK_E_INVALID, 0, "'%s' contains a "
				 "record of snapshot '%s' with directory '%s', "
				 "and '%s' one with directory '%s'; remove the "
				 "record you do not want by hand (the next "
				 "cleanup removes its directory)", path, s->key,
				 s->id, expected, there.id);
	else
		rc = ck_err_setc(errp, CK_E_INVALID, 0, "'%s' contains the "
				 "record of snapshot '%s', which is in '%s'; "
				 "remove '%s' by hand", path, s->key, expected,
				 path);
	ck_snapshot_free(&there);
	ck_snapshot_free(s);
	free(expected);
	return rc;
}

int
ck_sn_list(const struct ck_snapshotter *sn, struct ck_snapshot **list,
	   size_t *n, size_t *skipped, struct ck_err **errp)
{
	char *dir = ck_asprintf("%s/meta", sn->dir);
	struct ck_err *err = NULL;
	struct dirent *de;
	DIR *d = opendir(dir);

	*list = NULL;
	*n = 0;
	*skipped = 0;
	if (d == NULL) {
		ck_err_set(errp, errno, "open '%s'", dir);
		free(dir);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct ck_snapshot s;
		char *p;

		if (!ck_has_suffix(de->d_name, ".json"))
			continue;
		p = ck_asprintf("%s/%s", dir, de->d_name);
		if (read_record(p, &s, &err) == 0 &&
		    misplaced(sn, p, &s, &err) == 0) {
			*list = ck_xrealloc(*list, (*n + 1) * sizeof(s));
			(*list)[(*n)++] = s;
		} else if (ck_err_code(err) != CK_E_NOTFOUND) {
			/* A record removed since readdir is not a problem. */
			char *text = ck_err_text(err);

			ck_log(CK_LOG_WARNING, "skipping a snapshot record: %s",
			       text);
			free(text);
			(*skipped)++;
		}
		ck_err_free(&err);
		free(p);
	}
	closedir(d);
	free(dir);
	if (*n > 0)
		qsort(*list, *n, sizeof(**list), cmp_keys);
	return 0;
}

void
ck_snapshot_list_free(struct ck_snapshot *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		ck_snapshot_free(&list[i]);
	free(list);
}

const char *
ck_sn_kind_name(enum ck_snap_kind kind)
{
	return kind >= CK_SNAP_COMMITTED && kind <= CK_SNAP_VIEW ?
		kind_names[kind] : "unknown";
}
