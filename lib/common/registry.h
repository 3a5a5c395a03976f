/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A client for the registry HTTP API v2 (OCI distribution spec) on libcurl:
 * manifests into memory, blobs streamed into the store or to a callback,
 * uploads, bearer tokens and Basic credentials. The hosts of a registry
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
#define CK_REGISTRY_CONCURRENCY 3	/* default parallel downloads */

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

/* Returns whether the first host that may resolve tags or pull is one
 * that may do both, so that the manifest a tag names can come from it. */
int ck_registry_resolver_pulls(const struct ck_registry *reg);
/*
 * Resolves object to a descriptor with HEAD on the hosts that may resolve.
 * A registry that rejects HEAD, or responds without Docker-Content-Digest,
 * gets a GET: d->digest is then the digest of the body, and m, unless
 * NULL, receives the manifest so that it need not be fetched again
 * (m->data is NULL after a HEAD). A 404 fails with CK_E_NOTFOUND.
 */
int ck_registry_resolve(struct ck_registry *reg, const char *object,
			struct ck_descriptor *d,
			struct ck_registry_manifest *m, struct ck_err **errp);

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

/* The state of a download or upload, for progress displays. */
enum ck_xfer_state {
	CK_XFER_WAITING = 0,
	CK_XFER_ACTIVE,
	CK_XFER_RETRYING,	/* a failure; the next attempt resumes */
	CK_XFER_DONE,
	CK_XFER_EXISTS,		/* already in the store, or at the registry */
	CK_XFER_MOUNTED,	/* mounted from another repository */
	CK_XFER_SKIPPED,	/* a non-distributable layer, not fetched */
	CK_XFER_FAILED,
};

struct ck_xfer {
	size_t index;		/* in the job list */
	const char *digest;
	int64_t total;		/* bytes, or -1 */
	int64_t done;
	int64_t resumed;	/* bytes that were already held */
	enum ck_xfer_state state;
};

/* Called for every change of a transfer, one call at a time, from any
 * thread. */
typedef void (*ck_registry_progress_fn)(void *arg, const struct ck_xfer *x);

struct ck_blob_job {
	const struct ck_descriptor *desc;
	int nondistributable;	/* a foreign layer: a registry without it
				 * is an error unless allowed */
	enum ck_xfer_state state;	/* on return: DONE, EXISTS, SKIPPED or
					 * FAILED */
};

struct ck_fetch_opts {
	int max_concurrent;	/* 0 takes CK_REGISTRY_CONCURRENCY */
	int skip_nondistributable;	/* skip foreign layers the registry
					 * does not have */
	ck_registry_progress_fn progress;
	void *progress_arg;
};

/*
 * Downloads the blobs of jobs into the store's ingest, several at once,
 * and stages each one whose size and digest verify. Blobs already stored
 * or staged are not fetched. An interrupted download resumes with a Range
 * request from the bytes the ingest holds, in this run or the next one.
 * After the first failure no further download starts; those under way
 * finish, and every blob staged stays staged for the next run.
 */
int ck_registry_fetch_blobs(struct ck_registry *reg, const struct ck_store *st,
			    struct ck_blob_job *jobs, size_t n,
			    const struct ck_fetch_opts *opts,
			    struct ck_err **errp);

/*
 * Uploads. A registry handle opened for push requests the push scope.
 * ck_registry_blob_exists returns 1 when the repository has the blob, 0
 * when it has not, -1 on error.
 */
void ck_registry_set_push(struct ck_registry *reg);
int ck_registry_blob_exists(struct ck_registry *reg, const char *digest,
			    struct ck_err **errp);
/* Mounts a blob from repository from (a path on the same registry).
 * Returns 1 when mounted, 0 when the registry did not mount it. */
int ck_registry_mount_blob(struct ck_registry *reg, const char *digest,
			   const char *from, struct ck_err **errp);

struct ck_push_blob_opts {
	int64_t chunk_size;	/* 0: one PUT; else PATCH chunks of this
				 * size */
	ck_registry_progress_fn progress;
	void *progress_arg;
	size_t index;		/* passed back in struct ck_xfer */
};

/* Uploads size bytes of fd, from offset 0, as blob digest. */
int ck_registry_push_blob(struct ck_registry *reg, const char *digest,
			  int fd, int64_t size,
			  const struct ck_push_blob_opts *opts,
			  struct ck_err **errp);
/* PUTs a manifest under reference (a tag or its digest) and checks the
 * Docker-Content-Digest the registry returns, if any. */
int ck_registry_put_manifest(struct ck_registry *reg, const char *reference,
			     const char *media_type, const char *data,
			     size_t len, struct ck_err **errp);

#endif
