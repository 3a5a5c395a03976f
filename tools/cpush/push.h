/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cpush's push: upload an image of the store to a registry, blobs first,
 * then manifests, then the tag, so the tag never names a manifest whose
 * blobs the registry lacks.
 */
#ifndef CPUSH_PUSH_H
#define CPUSH_PUSH_H

#include <stdint.h>

#include "auth.h"
#include "err.h"

struct push_opts {
	const char *source;	/* image record in the store */
	const char *dest;	/* reference to push to */
	const char *root;	/* NULL: $CKIT_ROOT or the default */
	const char *ns;		/* NULL: $CKIT_NAMESPACE or "default" */
	const char *hosts_dir;	/* NULL: see hosts.h */
	const struct ck_creds *creds;	/* --user, or NULL */
	int plain_http;
	int64_t chunk_size;	/* 0: monolithic uploads */
	int progress;		/* progress lines on stderr */
};

struct push_result {
	char *name;		/* normalised destination name */
	char *digest;		/* digest of what the name now points to */
	char *media_type;
	int64_t size;		/* bytes of every blob of the image */
	int manifests;		/* manifests and indexes pushed */
	int uploaded;		/* blobs uploaded */
	int mounted;		/* blobs mounted from the source repository */
	int existing;		/* blobs the repository had */
	int64_t bytes_uploaded;
};

int push_image(const struct push_opts *opts, struct push_result *res,
	       struct ck_err **errp);
void push_result_free(struct push_result *res);

#endif
