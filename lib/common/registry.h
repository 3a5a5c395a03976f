/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A client for the registry HTTP API v2 (OCI distribution spec) on libcurl:
 * manifests into memory, blobs streamed to a callback, anonymous bearer
 * tokens. Redirects are followed here, not by libcurl, and the
 * Authorization header goes only to the registry's own scheme, host and port.
 */
#ifndef CK_REGISTRY_H
#define CK_REGISTRY_H

#include <stddef.h>

#include "err.h"
#include "ref.h"

#define CK_REGISTRY_CONNECT_TIMEOUT 30	/* seconds */
#define CK_REGISTRY_STALL_TIMEOUT 30	/* seconds */

struct ck_registry_opts {
	int plain_http;		/* HTTP for hosts other than loopback */
	long connect_timeout;	/* seconds; 0 takes the default */
	long stall_timeout;	/* seconds under 1 byte/s before a transfer
				 * fails; 0 takes the default */
	const char *user_agent;	/* NULL for "ckit" */
};

struct ck_registry;

/* Prepares requests for ref's repository. Nothing is sent yet. */
struct ck_registry *ck_registry_open(const struct ck_ref *ref,
				     const struct ck_registry_opts *opts,
				     struct ck_err **errp);
void ck_registry_close(struct ck_registry *reg);
/* "host[:port]" the requests go to. */
const char *ck_registry_host(const struct ck_registry *reg);
/* Whether host ("localhost", "127.0.0.1:5000", "[::1]") is loopback.
 * Loopback registries are always contacted over plain HTTP. */
int ck_registry_host_is_loopback(const char *host);

/* A manifest or index as the registry sent it. */
struct ck_registry_manifest {
	char *data;
	size_t len;
	char *content_type;	/* media type without parameters, or NULL */
	char *digest;		/* Docker-Content-Digest header, or NULL */
};

/*
 * Fetches the manifest that object (a tag or a digest) names, at most
 * CK_MANIFEST_MAX bytes. Nothing is verified here. A 404 fails with
 * CK_E_NOTFOUND.
 */
int ck_registry_get_manifest(struct ck_registry *reg, const char *object,
			     struct ck_registry_manifest *m,
			     struct ck_err **errp);
void ck_registry_manifest_free(struct ck_registry_manifest *m);

/* Receives a blob's bytes as they arrive. Returning -1 stops the fetch. */
typedef int (*ck_registry_write_fn)(void *arg, const void *data, size_t len,
				    struct ck_err **errp);

/*
 * Streams the blob to write without keeping it in memory. The caller
 * verifies size and digest. A 404 fails with CK_E_NOTFOUND.
 */
int ck_registry_get_blob(struct ck_registry *reg, const char *digest,
			 ck_registry_write_fn write, void *arg,
			 struct ck_err **errp);

#endif
