/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registry hosts, read from a hosts directory in containerd's format:
 * <dir>/<host>/hosts.toml, or Docker's certificate files (*.crt, *.cert
 * and *.key) in <dir>/<host>/. The result lists, in the order to try them,
 * the mirrors ([host."…"] tables) and then the server, each with its
 * capabilities and TLS settings.
 */
#ifndef CK_HOSTS_H
#define CK_HOSTS_H

#include <stddef.h>

#include "err.h"

#define CK_HOSTS_DIR "/etc/ckit/certs.d"
#define CK_HOSTS_DIR_CONTAINERD "/etc/containerd/certs.d"

enum {
	CK_HOST_PULL = 1,	/* fetch blobs and manifests by digest */
	CK_HOST_RESOLVE = 2,	/* turn a tag into a digest */
	CK_HOST_PUSH = 4,
};

struct ck_host {
	char *scheme;		/* "https" or "http" */
	char *host;		/* "host[:port]" */
	char *path;		/* API root: "/v2", or as given with
				 * override_path */
	int caps;		/* CK_HOST_* */
	int skip_verify;	/* no check of the certificate and name */
	char **ca;		/* extra CA files, absolute paths */
	size_t n_ca;
	char *client_cert;	/* PEM file, or NULL */
	char *client_key;	/* NULL when client_cert holds the key */
	char **headers;		/* "Name: value" lines */
	size_t n_headers;
	int mirror;		/* not the registry's own host: requests
				 * carry ?ns=<registry> */
	char *config;		/* the file the entry came from, or NULL */
};

struct ck_hosts_opts {
	const char *dir;	/* NULL: $CKIT_HOSTS_DIR, else CK_HOSTS_DIR,
				 * then CK_HOSTS_DIR_CONTAINERD */
	int plain_http;		/* HTTP for hosts given without a scheme */
};

/*
 * Lists the hosts for registry namespace ns ("docker.io",
 * "127.0.0.1:5000"). Without a configuration the list is the registry
 * alone, with every capability. Hosts given without a scheme use HTTPS,
 * or HTTP when they are loopback or opts->plain_http is set.
 */
int ck_hosts_resolve(const char *ns, const struct ck_hosts_opts *opts,
		     struct ck_host **hosts, size_t *n, struct ck_err **errp);
void ck_hosts_free(struct ck_host *hosts, size_t n);
/* "pull, resolve" for messages. */
char *ck_hosts_caps_string(int caps);

#endif
