/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A client for the registry HTTP API v2 (OCI distribution spec) on libcurl:
 * manifests into memory, blobs streamed to a callback, bearer tokens and
 * Basic credentials. The hosts of a registry
 * (mirrors first, then the server) and their TLS settings come from a
 * hosts directory (hosts.h). Redirects are followed here, not by libcurl,
 * and credentials go only to the host they belong to.
 */
#ifndef CK_REGISTRY_H
#define CK_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "err.h"
#include "ref.h"
#include "store.h"

#define CK_REGISTRY_CONNECT_TIMEOUT 30	/* seconds */
#define CK_REGISTRY_STALL_TIMEOUT 30	/* seconds */
#define CK_REGISTRY_ATTEMPTS 5		/* per request, for transient
					 * failures */
#define CK_REGISTRY_RETRY_DELAY_MS 200	/* first backoff, doubled up to
					 * 5 s */
#define CK_REGISTRY_RETRY_AFTER_MAX 60	/* seconds of Retry-After honoured */

struct ck_registry_opts {
	int plain_http;		/* HTTP for hosts without a scheme */
	long connect_timeout;	/* seconds; 0 takes the default */
	long stall_timeout;	/* seconds under 1 byte/s before a transfer
				 * fails; 0 takes the default */
	const char *user_agent;	/* NULL for "ckit" */
	const char *hosts_dir;	/* NULL: see struct ck_hosts_opts */
	const struct ck_creds *creds;	/* --user for every host of the
					 * registry; NULL: Docker's config */
	int max_attempts;	/* 0 takes CK_REGISTRY_ATTEMPTS */
};

struct ck_registry;

/* Reads the hosts configuration and prepares requests for ref's
 * repository. Nothing is sent yet. */
struct ck_registry *ck_registry_open(const struct ck_ref *ref,
				     const struct ck_registry_opts *opts,
				     struct ck_err **errp);
void ck_registry_close(struct ck_registry *reg);
/* "host[:port]" of the registry's server entry, for messages. */
const char *ck_registry_host(const struct ck_registry *reg);
/* Whether host ("localhost", "127.0.0.1:5000", "[::1]") is loopback.
 * Loopback registries are contacted over plain HTTP unless a hosts.toml
 * names an https:// URL. */
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
 * CK_MANIFEST_MAX bytes, from the hosts that may resolve tags or pull by
 * digest. Nothing is verified here. A 404 fails with CK_E_NOTFOUND.
 */
int ck_registry_get_manifest(struct ck_registry *reg, const char *object,
			     struct ck_registry_manifest *m,
			     struct ck_err **errp);
void ck_registry_manifest_free(struct ck_registry_manifest *m);

/*
 * Resolves object to a descriptor with HEAD on the hosts that may resolve.
 * A registry that rejects HEAD, or answers without Docker-Content-Digest,
 * gets a GET, and the digest is that of the body. A 404 fails with
 * CK_E_NOTFOUND.
 */
int ck_registry_resolve(struct ck_registry *reg, const char *object,
			struct ck_descriptor *d, struct ck_err **errp);

/* Receives a blob's bytes as they arrive. Returning -1 stops the fetch. */
typedef int (*ck_registry_write_fn)(void *arg, const void *data, size_t len,
				    struct ck_err **errp);

/*
 * Streams the blob to write without keeping it in memory. The caller
 * verifies size and digest. A failure is retried only before the first
 * byte reaches write. A 404 fails with CK_E_NOTFOUND.
 */
int ck_registry_get_blob(struct ck_registry *reg, const char *digest,
			 ck_registry_write_fn write, void *arg,
			 struct ck_err **errp);

#endif
