/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image records. A namespace's index.json is an OCI image index whose
 * entries are the records: each points at the chosen platform manifest
 * and names the image in "org.opencontainers.image.ref.name", so skopeo
 * and umoci read a namespace directory as an OCI image layout. The digest
 * the name resolved to (often an index) is kept in ckit annotations.
 * Changes run under namespaces/<ns>/lock and replace the file by rename.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "ref.h"
#include "store.h"
#include "util.h"

#define A_REF_NAME "org.opencontainers.image.ref.name"
#define A_CTR_NAME "io.containerd.image.name"
#define A_TARGET_DIGEST "io.ckit.image.target.digest"
#define A_TARGET_TYPE "io.ckit.image.target.mediatype"
#define A_TARGET_SIZE "io.ckit.image.target.size"
#define A_CREATED "io.ckit.image.created"

static json_t *
load_index(const struct ck_store *st, struct ck_err **errp)
{
	char *path = ck_asprintf("%s/index.json", st->ns_dir);
	json_error_t jerr;
	json_t *idx;

	/* Only a namespace that does not exist lacks its index. */
	if (!ck_path_exists(st->ns_dir)) {
		free(path);
		return json_pack("{s:i, s:[]}", "schemaVersion", 2,
				 "manifests");
	}
	idx = json_load_file(path, 0, &jerr);
	if (idx == NULL) {
		ck_err_set(errp, 0, "read '%s': %d:%d: %s", path, jerr.line,
			   jerr.column, jerr.text);
		free(path);
		return NULL;
	}
	if (!json_is_array(json_object_get(idx, "manifests"))) {
		ck_err_set(errp, 0, "read '%s': no 'manifests' array", path);
		json_decref(idx);
		free(path);
		return NULL;
	}
	free(path);
	return idx;
}

static int
save_index(const struct ck_store *st, json_t *idx, struct ck_err **errp)
{
	char *path = ck_asprintf("%s/index.json", st->ns_dir);
	char *text = json_dumps(idx, JSON_COMPACT);
	int rc;

	if (text == NULL)
		CK_BUG("json_dumps failed");
	rc = ck_write_file_atomic(path, text, strlen(text), 0644, errp);
	free(text);
	free(path);
	return rc;
}

static const char *
annotation(json_t *entry, const char *key)
{
	json_t *v = json_object_get(json_object_get(entry, "annotations"),
				    key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *
platform_json(const char *platform)
{
	json_t *p = json_object();
	char *copy = ck_xstrdup(platform);
	char *arch = strchr(copy, '/');
	char *variant = NULL;

	if (arch != NULL) {
		*arch++ = '\0';
		variant = strchr(arch, '/');
		if (variant != NULL)
			*variant++ = '\0';
	}
	json_object_set_new(p, "architecture", json_string(arch ? arch : ""));
	json_object_set_new(p, "os", json_string(copy));
	if (variant != NULL)
		json_object_set_new(p, "variant", json_string(variant));
	free(copy);
	return p;
}

static json_t *
image_to_json(const struct ck_image *img)
{
	json_t *e = json_object();
	json_t *a = json_object();
	char size[32];

	json_object_set_new(e, "mediaType",
			    json_string(img->manifest.media_type));
	json_object_set_new(e, "digest", json_string(img->manifest.digest));
	json_object_set_new(e, "size", json_integer(img->manifest.size));
	if (img->platform != NULL)
		json_object_set_new(e, "platform",
				    platform_json(img->platform));
	snprintf(size, sizeof(size), "%lld", (long long)img->target.size);
	json_object_set_new(a, A_REF_NAME, json_string(img->name));
	json_object_set_new(a, A_CTR_NAME, json_string(img->name));
	json_object_set_new(a, A_TARGET_DIGEST,
			    json_string(img->target.digest));
	json_object_set_new(a, A_TARGET_TYPE,
			    json_string(img->target.media_type));
	json_object_set_new(a, A_TARGET_SIZE, json_string(size));
	if (img->created != NULL)
		json_object_set_new(a, A_CREATED, json_string(img->created));
	json_object_set_new(e, "annotations", a);
	return e;
}

static int
image_from_json(json_t *e, struct ck_image *img, struct ck_err **errp)
{
	const char *name = annotation(e, A_REF_NAME);
	const char *td = annotation(e, A_TARGET_DIGEST);
	const char *tt = annotation(e, A_TARGET_TYPE);
	const char *ts = annotation(e, A_TARGET_SIZE);
	json_t *p = json_object_get(e, "platform");

	memset(img, 0, sizeof(*img));
	if (name == NULL)
		return ck_err_set(errp, 0, "image record without a name");
	if (ck_descriptor_from_json(e, &img->manifest, errp) < 0)
		return ck_err_wrap(errp, "image record '%s'", name);
	img->name = ck_xstrdup(name);
	if (td != NULL && ck_digest_check(td, NULL) == 0) {
		img->target.digest = ck_xstrdup(td);
		img->target.media_type = ck_xstrdup(tt ? tt : "");
		img->target.size = ts ? strtoll(ts, NULL, 10) : 0;
	} else {
		ck_descriptor_copy(&img->target, &img->manifest);
	}
	if (json_is_object(p)) {
		const char *os = json_string_value(json_object_get(p, "os"));
		const char *arch = json_string_value(
			json_object_get(p, "architecture"));
		const char *var = json_string_value(
			json_object_get(p, "variant"));

		if (os && arch)
			img->platform = var && *var ?
				ck_asprintf("%s/%s/%s", os, arch, var) :
				ck_asprintf("%s/%s", os, arch);
	}
	if (annotation(e, A_CREATED))
		img->created = ck_xstrdup(annotation(e, A_CREATED));
	return 0;
}

static int
lock_namespace(const struct ck_store *st, struct ck_err **errp)
{
	char *path = ck_asprintf("%s/lock", st->ns_dir);
	int fd = ck_lock(path, 0, errp);

	free(path);
	return fd;
}

/* Replaces or (with img NULL) removes the record called name. */
static int
update_index(const struct ck_store *st, const char *name,
	     const struct ck_image *img, struct ck_err **errp)
{
	json_t *idx, *list, *e;
	size_t i;
	int lock, rc, found = 0;

	lock = lock_namespace(st, errp);
	if (lock < 0)
		return -1;
	idx = load_index(st, errp);
	if (idx == NULL) {
		ck_unlock(lock);
		return -1;
	}
	list = json_object_get(idx, "manifests");
	for (i = 0; i < json_array_size(list); i++) {
		const char *n = annotation(json_array_get(list, i),
					   A_REF_NAME);

		if (n != NULL && strcmp(n, name) == 0) {
			json_array_remove(list, i);
			found = 1;
			break;
		}
	}
	if (img != NULL) {
		e = image_to_json(img);
		json_array_append_new(list, e);
	}
	if (img == NULL && !found)
		rc = ck_err_setc(errp, CK_E_NOTFOUND, 0,
				 "image '%s' not found in namespace '%s'",
				 name, st->ns);
	else
		rc = save_index(st, idx, errp);
	json_decref(idx);
	ck_unlock(lock);
	return rc;
}

int
ck_image_put(const struct ck_store *st, const struct ck_image *img,
	     struct ck_err **errp)
{
	return update_index(st, img->name, img, errp);
}

int
ck_image_remove(const struct ck_store *st, const char *name,
		struct ck_err **errp)
{
	return update_index(st, name, NULL, errp);
}

int
ck_image_list(const struct ck_store *st, struct ck_image **imgs, size_t *n,
	      struct ck_err **errp)
{
	json_t *idx = load_index(st, errp);
	json_t *list;
	size_t i, k = 0;

	if (idx == NULL)
		return -1;
	list = json_object_get(idx, "manifests");
	*imgs = ck_xcalloc(json_array_size(list) + 1, sizeof(**imgs));
	for (i = 0; i < json_array_size(list); i++) {
		if (image_from_json(json_array_get(list, i), &(*imgs)[k],
				    NULL) == 0)
			k++;
	}
	*n = k;
	json_decref(idx);
	return 0;
}

static int
digest_matches(const struct ck_image *img, const char *digest)
{
	return strcmp(img->target.digest, digest) == 0 ||
	       strcmp(img->manifest.digest, digest) == 0;
}

/*
 * Picks the record a parsed reference means: the exact name first, then
 * for NAME:TAG@DIGEST the record NAME:TAG if it points at DIGEST, then for
 * a digest alone any record of the repository that points at it.
 */
static struct ck_image *
match_ref(struct ck_image *imgs, size_t n, const struct ck_ref *ref)
{
	char *full = ck_ref_name(ref);
	char *repo = ck_ref_repository(ref);
	char *tagged = ref->tag ? ck_asprintf("%s:%s", repo, ref->tag) : NULL;
	struct ck_image *hit = NULL;
	size_t i;

	for (i = 0; i < n && !hit; i++)
		if (strcmp(imgs[i].name, full) == 0)
			hit = &imgs[i];
	for (i = 0; i < n && !hit && ref->digest && tagged; i++)
		if (strcmp(imgs[i].name, tagged) == 0 &&
		    digest_matches(&imgs[i], ref->digest))
			hit = &imgs[i];
	for (i = 0; i < n && !hit && ref->digest && !ref->tag; i++)
		if (ck_has_prefix(imgs[i].name, repo) &&
		    strchr(":@", imgs[i].name[strlen(repo)]) &&
		    digest_matches(&imgs[i], ref->digest))
			hit = &imgs[i];
	free(full);
	free(repo);
	free(tagged);
	return hit;
}

int
ck_image_resolve(const struct ck_store *st, const char *s,
		 struct ck_image *img, struct ck_err **errp)
{
	struct ck_image *imgs, *hit;
	struct ck_ref ref;
	size_t n;

	memset(img, 0, sizeof(*img));
	if (ck_ref_parse(s, &ref, errp) < 0)
		return -1;
	if (ck_image_list(st, &imgs, &n, errp) < 0) {
		ck_ref_free(&ref);
		return -1;
	}
	hit = match_ref(imgs, n, &ref);
	if (hit != NULL) {
		*img = *hit;
		memset(hit, 0, sizeof(*hit));
	}
	ck_image_list_free(imgs, n);
	ck_ref_free(&ref);
	if (hit == NULL)
		return ck_err_setc(errp, CK_E_NOTFOUND, 0,
				   "image '%s' not found in namespace '%s'; "
				   "pull it with cpull", s, st->ns);
	return 0;
}

void
ck_image_free(struct ck_image *img)
{
	free(img->name);
	ck_descriptor_free(&img->target);
	ck_descriptor_free(&img->manifest);
	free(img->platform);
	free(img->created);
	memset(img, 0, sizeof(*img));
}

void
ck_image_list_free(struct ck_image *imgs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		ck_image_free(&imgs[i]);
	free(imgs);
}
