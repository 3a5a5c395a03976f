/* SPDX-License-Identifier: Apache-2.0 */
/* Container records, written atomically under the namespace lock. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "container.h"
#include "util.h"

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

static char *
record_path(const struct ck_store *st, const char *id)
{
	return ck_asprintf("%s/containers/%s.json", st->ns_dir, id);
}

static void
set_str(json_t *j, const char *key, const char *value)
{
	if (value != NULL)
		json_object_set_new(j, key, json_string(value));
}

int
ck_container_create(const struct ck_store *st, const struct ck_container *c,
		    struct ck_err **errp)
{
	char *dir = ck_asprintf("%s/containers", st->ns_dir);
	char *lockp = ck_asprintf("%s/lock", st->ns_dir);
	char *path = record_path(st, c->id);
	json_t *j = json_object();
	char *text = NULL;
	int lock = -1, rc = -1;

	if (ck_container_id_check(c->id, errp) < 0 ||
	    ck_mkdir_p(dir, 0711, errp) < 0)
		goto out;
	lock = ck_lock(lockp, 0, errp);
	if (lock < 0)
		goto out;
	if (ck_path_exists(path)) {
		ck_err_setc(errp, CK_E_EXISTS, 0, "container '%s' already "
			    "exists in namespace '%s'; remove it with "
			    "'crun-task delete %s'", c->id, st->ns, c->id);
		goto out;
	}
	set_str(j, "id", c->id);
	set_str(j, "image", c->image);
	set_str(j, "snapshotter", c->snapshotter);
	set_str(j, "snapshot_key", c->snapshot_key);
	set_str(j, "runtime", c->runtime);
	set_str(j, "created", c->created);
	text = json_dumps(j, JSON_COMPACT);
	rc = ck_write_file_atomic(path, text, strlen(text), 0644, errp);
out:
	ck_unlock(lock);
	json_decref(j);
	free(text);
	free(path);
	free(lockp);
	free(dir);
	return rc;
}

static char *
get_str(json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));

	return s ? ck_xstrdup(s) : NULL;
}

int
ck_container_get(const struct ck_store *st, const char *id,
		 struct ck_container *c, struct ck_err **errp)
{
	char *path;
	json_error_t jerr;
	json_t *j;

	memset(c, 0, sizeof(*c));
	if (ck_container_id_check(id, errp) < 0)
		return -1;
	path = record_path(st, id);
	j = json_load_file(path, 0, &jerr);
	if (j == NULL) {
		if (access(path, F_OK) < 0)
			ck_err_setc(errp, CK_E_NOTFOUND, 0, "container '%s' "
				    "not found in namespace '%s'", id, st->ns);
		else
			ck_err_set(errp, 0, "read '%s': %d:%d: %s", path,
				   jerr.line, jerr.column, jerr.text);
		free(path);
		return -1;
	}
	free(path);
	c->id = get_str(j, "id");
	c->image = get_str(j, "image");
	c->snapshotter = get_str(j, "snapshotter");
	c->snapshot_key = get_str(j, "snapshot_key");
	c->runtime = get_str(j, "runtime");
	c->created = get_str(j, "created");
	json_decref(j);
	if (c->id == NULL || strcmp(c->id, id) != 0) {
		ck_container_free(c);
		return ck_err_set(errp, 0, "container record '%s' is invalid",
				  id);
	}
	return 0;
}

int
ck_container_remove(const struct ck_store *st, const char *id,
		    struct ck_err **errp)
{
	char *path;
	int rc = 0;

	if (ck_container_id_check(id, errp) < 0)
		return -1;
	path = record_path(st, id);
	if (unlink(path) < 0 && errno != ENOENT)
		rc = ck_err_set(errp, errno, "remove '%s'", path);
	free(path);
	return rc;
}

void
ck_container_free(struct ck_container *c)
{
	free(c->id);
	free(c->image);
	free(c->snapshotter);
	free(c->snapshot_key);
	free(c->runtime);
	free(c->created);
	memset(c, 0, sizeof(*c));
}
