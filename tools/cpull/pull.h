/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cpull's pull: resolve a reference at its registry, stage every blob of
 * the chosen platforms, then commit them and record the image. A pull that
 * fails leaves no blob in content/blobs/ and no image record.
 */
#ifndef CPULL_PULL_H
#define CPULL_PULL_H

#include <stdint.h>

#include "auth.h"
#include "err.h"
#include "registry.h"

struct pull_opts {
	const char *reference;
	const char *root;	/* NULL: $CKIT_ROOT or the default */
	const char *ns;		/* NULL: $CKIT_NAMESPACE or "default" */
	/* Platforms to pull from an index, the first one recorded. With
	 * none, $CKIT_PLATFORM or this machine's is taken. */
	char **platforms;
	size_t n_platforms;
	int all_platforms;	/* every manifest of an index */
	int plain_http;
	int progress;		/* a progress line per blob on stderr */
	long stall_timeout;	/* seconds; 0 takes the default */
	const char *hosts_dir;	/* NULL: see hosts.h */
	const struct ck_creds *creds;	/* --user, or NULL */
	int max_concurrent;	/* parallel downloads; 0 takes the default */
	int skip_nondistributable;	/* skip foreign layers the registry
					 * does not have */
};

/* A platform manifest that the pull stored. */
struct pull_manifest {
	char *digest;
	char *platform;		/* "os/arch[/variant]", or NULL */
};

struct pull_result {
	char *name;		/* normalised reference, the record's key */
	char *digest;		/* what the reference resolved to */
	char *manifest;		/* digest of the recorded manifest */
	char *platform;		/* its "os/arch[/variant]", or NULL */
	/* Every manifest pulled, the recorded one first. */
	struct pull_manifest *manifests;
	size_t n_manifests;
	int64_t size;		/* bytes of all the image's blobs */
};

int pull_image(const struct pull_opts *opts, struct pull_result *res,
	       struct ck_err **errp);
void pull_result_free(struct pull_result *res);

/* Progress lines on stderr, one per blob; NULL when disabled. */
struct progress;
struct progress *progress_new(int enabled, const char *const *labels,
			      const struct ck_blob_job *jobs, size_t n);
/* A ck_registry_progress_fn; arg is the struct progress, or NULL. */
void progress_update(void *arg, const struct ck_xfer *x);
/* Draws the final state and frees pg. */
void progress_free(struct progress *pg);

#endif
