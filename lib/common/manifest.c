/* SPDX-License-Identifier: Apache-2.0 */
/* Parsing of manifests, indexes and image configs (OCI and Docker v2). */
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "util.h"

enum ck_kind
ck_media_type_kind(const char *mt)
{
	if (mt == NULL)
		return CK_KIND_UNKNOWN;
	if (strcmp(mt, CK_MT_OCI_MANIFEST) == 0 ||
	    strcmp(mt, CK_MT_DOCKER_MANIFEST) == 0)
		return CK_KIND_MANIFEST;
	if (strcmp(mt, CK_MT_OCI_INDEX) == 0 ||
	    strcmp(mt, CK_MT_DOCKER_LIST) == 0)
		return CK_KIND_INDEX;
	if (strcmp(mt, CK_MT_DOCKER_SCHEMA1) == 0 ||
	    strcmp(mt, CK_MT_DOCKER_SCHEMA1_SIGNED) == 0)
		return CK_KIND_SCHEMA1;
	return CK_KIND_UNKNOWN;
}

enum ck_compression
ck_layer_compression(const char *mt)
{
	static const struct {
		const char *type;
		enum ck_compression comp;
	} table[] = {
		{ "application/vnd.oci.image.layer.v1.tar", CK_COMP_NONE },
		{ "application/vnd.oci.image.layer.v1.tar+gzip", CK_COMP_GZIP },
		{ "application/vnd.oci.image.layer.v1.tar+zstd", CK_COMP_ZSTD },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar",
		  CK_COMP_NONE },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		  CK_COMP_GZIP },
		{ "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
		  CK_COMP_ZSTD },
		{ "application/vnd.docker.image.rootfs.diff.tar", CK_COMP_NONE },
		{ "application/vnd.docker.image.rootfs.diff.tar.gzip",
		  CK_COMP_GZIP },
		{ "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
		  CK_COMP_GZIP },
		{ "application/vnd.docker.image.rootfs.diff.tar.zstd",
		  CK_COMP_ZSTD },
	};
	size_t i;

	if (mt == NULL)
		return CK_COMP_UNKNOWN;
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(mt, table[i].type) == 0)
			return table[i].comp;
	return CK_COMP_UNKNOWN;
}

enum ck_kind
ck_manifest_sniff(const char *data, size_t len, char **media_type)
{
	json_t *j = json_loadb(data, len, 0, NULL);
	json_t *mt, *sv;
	enum ck_kind kind = CK_KIND_UNKNOWN;

	if (media_type)
		*media_type = NULL;
	if (!json_is_object(j)) {
		json_decref(j);
		return CK_KIND_UNKNOWN;
	}
	mt = json_object_get(j, "mediaType");
	sv = json_object_get(j, "schemaVersion");
	if (json_is_string(mt)) {
		kind = ck_media_type_kind(json_string_value(mt));
		if (media_type && kind != CK_KIND_UNKNOWN)
			*media_type = ck_xstrdup(json_string_value(mt));
	} else if (json_integer_value(sv) == 1) {
		kind = CK_KIND_SCHEMA1;
	} else if (json_is_array(json_object_get(j, "manifests"))) {
		kind = CK_KIND_INDEX;
		if (media_type)
			*media_type = ck_xstrdup(CK_MT_OCI_INDEX);
	} else if (json_is_object(json_object_get(j, "config"))) {
		kind = CK_KIND_MANIFEST;
		if (media_type)
			*media_type = ck_xstrdup(CK_MT_OCI_MANIFEST);
	}
	json_decref(j);
	return kind;
}

static json_t *
load_json(const char *data, size_t len, const char *what,
	  struct ck_err **errp)
{
	json_error_t jerr;
	json_t *j = json_loadb(data, len, 0, &jerr);

	if (j == NULL) {
		ck_err_setc(errp, CK_E_INVALID, 0, "invalid %s: %d:%d: %s",
			    what, jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		ck_err_setc(errp, CK_E_INVALID, 0,
			    "invalid %s: not a JSON object", what);
		return NULL;
	}
	return j;
}

int
ck_manifest_parse(const char *data, size_t len, struct ck_manifest *m,
		  struct ck_err **errp)
{
	json_t *j, *layers;
	size_t i;

	memset(m, 0, sizeof(*m));
	j = load_json(data, len, "manifest", errp);
	if (j == NULL)
		return -1;
	if (ck_descriptor_from_json(json_object_get(j, "config"), &m->config,
				    errp) < 0) {
		json_decref(j);
		return ck_err_wrap(errp, "invalid manifest: config");
	}
	layers = json_object_get(j, "layers");
	if (!json_is_array(layers)) {
		json_decref(j);
		ck_manifest_free(m);
		return ck_err_setc(errp, CK_E_INVALID, 0,
				   "invalid manifest: no 'layers' array");
	}
	m->layers = ck_xcalloc(json_array_size(layers) + 1,
			       sizeof(*m->layers));
	for (i = 0; i < json_array_size(layers); i++) {
		if (ck_descriptor_from_json(json_array_get(layers, i),
					    &m->layers[i], errp) < 0) {
			json_decref(j);
			ck_manifest_free(m);
			return ck_err_wrap(errp, "invalid manifest: layer %zu",
					   i + 1);
		}
		m->n_layers++;
	}
	json_decref(j);
	return 0;
}

int
ck_manifest_load(const struct ck_store *st, const char *digest,
		 struct ck_manifest *m, struct ck_err **errp)
{
	char *data;
	size_t len;
	int rc;

	if (ck_store_blob_read(st, digest, CK_MANIFEST_MAX, &data, &len,
			       errp) < 0)
		return ck_err_wrap(errp, "manifest");
	rc = ck_manifest_parse(data, len, m, errp);
	free(data);
	if (rc < 0)
		ck_err_wrap(errp, "manifest '%s'", digest);
	return rc;
}

void
ck_manifest_free(struct ck_manifest *m)
{
	size_t i;

	ck_descriptor_free(&m->config);
	for (i = 0; i < m->n_layers; i++)
		ck_descriptor_free(&m->layers[i]);
	free(m->layers);
	memset(m, 0, sizeof(*m));
}

static char *
entry_platform(json_t *p)
{
	const char *os = json_string_value(json_object_get(p, "os"));
	const char *arch = json_string_value(json_object_get(p,
							     "architecture"));
	const char *var = json_string_value(json_object_get(p, "variant"));

	if (os == NULL || arch == NULL)
		return NULL;
	if (var != NULL && *var != '\0')
		return ck_asprintf("%s/%s/%s", os, arch, var);
	return ck_asprintf("%s/%s", os, arch);
}

int
ck_index_parse(const char *data, size_t len, struct ck_index_entry **entries,
	       size_t *n, struct ck_err **errp)
{
	json_t *j, *list;
	size_t i;

	*entries = NULL;
	*n = 0;
	j = load_json(data, len, "index", errp);
	if (j == NULL)
		return -1;
	list = json_object_get(j, "manifests");
	if (!json_is_array(list)) {
		json_decref(j);
		return ck_err_setc(errp, CK_E_INVALID, 0,
				   "invalid index: no 'manifests' array");
	}
	*entries = ck_xcalloc(json_array_size(list) + 1, sizeof(**entries));
	for (i = 0; i < json_array_size(list); i++) {
		json_t *e = json_array_get(list, i);
		struct ck_index_entry *ie = &(*entries)[*n];

		if (ck_descriptor_from_json(e, &ie->desc, errp) < 0) {
			json_decref(j);
			ck_index_free(*entries, *n);
			*entries = NULL;
			*n = 0;
			return ck_err_wrap(errp, "invalid index: entry %zu",
					   i + 1);
		}
		ie->platform = entry_platform(json_object_get(e, "platform"));
		(*n)++;
	}
	json_decref(j);
	return 0;
}

void
ck_index_free(struct ck_index_entry *entries, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		ck_descriptor_free(&entries[i].desc);
		free(entries[i].platform);
	}
	free(entries);
}

json_t *
ck_config_load(const struct ck_store *st, const struct ck_image *img,
	       struct ck_err **errp)
{
	struct ck_manifest m;
	json_t *cfg;
	char *data;
	size_t len;

	if (ck_manifest_load(st, img->manifest.digest, &m, errp) < 0)
		return NULL;
	if (ck_store_blob_read(st, m.config.digest, CK_MANIFEST_MAX, &data,
			       &len, errp) < 0) {
		ck_err_wrap(errp, "config of image '%s'", img->name);
		ck_manifest_free(&m);
		return NULL;
	}
	ck_manifest_free(&m);
	cfg = load_json(data, len, "image config", errp);
	free(data);
	if (cfg == NULL)
		ck_err_wrap(errp, "image '%s'", img->name);
	return cfg;
}
