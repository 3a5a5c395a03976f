/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image references in the Docker grammar, normalised as containerd does:
 * "busybox" is "docker.io/library/busybox:latest".
 */
#ifndef CK_REF_H
#define CK_REF_H

#include "err.h"

struct ck_ref {
	char *domain;	/* "docker.io", "127.0.0.1:5000" */
	char *path;	/* "library/busybox" */
	char *tag;	/* "latest", or NULL when only a digest is given */
	char *digest;	/* "sha256:<hex>" or NULL */
};

/* Parses and normalises s; a tag of "latest" is added when neither a tag
 * nor a digest is given. */
int ck_ref_parse(const char *s, struct ck_ref *ref, struct ck_err **errp);
void ck_ref_free(struct ck_ref *ref);

/* "domain/path:tag", "domain/path@digest" or "domain/path:tag@digest":
 * the key of an image record. */
char *ck_ref_name(const struct ck_ref *ref);
/* "domain/path" */
char *ck_ref_repository(const struct ck_ref *ref);
/* The host to contact: "registry-1.docker.io" for "docker.io". */
const char *ck_ref_registry_host(const struct ck_ref *ref);
/* The tag or digest to ask the registry for; the digest wins. */
const char *ck_ref_object(const struct ck_ref *ref);

#endif
