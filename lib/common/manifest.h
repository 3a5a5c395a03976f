/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI and Docker schema 2 manifests, indexes and image configs: media
 * types, parsing and the platform-manifest choice shared by every tool.
 */
#ifndef CK_MANIFEST_H
#define CK_MANIFEST_H

#include <jansson.h>

#include "err.h"
#include "store.h"

#define CK_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define CK_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define CK_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define CK_MT_DOCKER_MANIFEST \
	"application/vnd.docker.distribution.manifest.v2+json"
#define CK_MT_DOCKER_LIST \
	"application/vnd.docker.distribution.manifest.list.v2+json"
#define CK_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define CK_MT_DOCKER_SCHEMA1 \
	"application/vnd.docker.distribution.manifest.v1+json"
#define CK_MT_DOCKER_SCHEMA1_SIGNED \
	"application/vnd.docker.distribution.manifest.v1+prettyjws"

#define CK_MANIFEST_MAX (4 * 1024 * 1024)

enum ck_kind {
	CK_KIND_UNKNOWN = 0,
	CK_KIND_MANIFEST,
	CK_KIND_INDEX,
	CK_KIND_SCHEMA1,
};

/* Layer compression, from the layer's media type. */
enum ck_compression {
	CK_COMP_UNKNOWN = 0,
	CK_COMP_NONE,
	CK_COMP_GZIP,
	CK_COMP_ZSTD,
};

enum ck_kind ck_media_type_kind(const char *media_type);
enum ck_compression ck_layer_compression(const char *media_type);
/* Kind of a manifest body, from its mediaType field or its shape, for
 * registries that send no useful Content-Type. */
enum ck_kind ck_manifest_sniff(const char *data, size_t len,
			       char **media_type);

struct ck_manifest {
	struct ck_descriptor config;
	struct ck_descriptor *layers;
	size_t n_layers;
};

int ck_manifest_parse(const char *data, size_t len, struct ck_manifest *m,
		      struct ck_err **errp);
int ck_manifest_load(const struct ck_store *st, const char *digest,
		     struct ck_manifest *m, struct ck_err **errp);
void ck_manifest_free(struct ck_manifest *m);

struct ck_index_entry {
	struct ck_descriptor desc;
	char *platform;		/* "os/arch[/variant]", or NULL */
};

int ck_index_parse(const char *data, size_t len,
		   struct ck_index_entry **entries, size_t *n,
		   struct ck_err **errp);
void ck_index_free(struct ck_index_entry *entries, size_t n);

/* Loads an image's config blob as JSON and checks it is an object. */
json_t *ck_config_load(const struct ck_store *st, const struct ck_image *img,
		       struct ck_err **errp);

#endif
