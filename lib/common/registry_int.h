/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals shared by registry.c (requests, redirects, retries, errors),
 * registry_auth.c (challenges and tokens), registry_blob.c (downloads)
 * and registry_push.c (uploads). Only lib/common/registry*.c include it.
 *
 * Threads: each thread sends its requests on its own struct reg_conn. The
 * token cache and the per-origin challenges in struct ck_registry are
 * guarded by ck_registry.lock; everything else there is set at open and
 * read-only afterwards.
 */
#ifndef CK_REGISTRY_INT_H
#define CK_REGISTRY_INT_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>

#include "auth.h"
#include "hosts.h"
#include "registry.h"
#include "util.h"

#define REG_ERROR_BODY_MAX (64 * 1024)
#define REG_DETAIL_MAX 200

/* One host of the registry, as hosts.toml lists it. */
struct reg_endpoint {
	const struct ck_host *h;
	char *base;		/* "https://host:port/v2" */
	char *origin;		/* "https://host:port", default port filled */
	struct ck_creds creds;	/* --user, else Docker's config; secret NULL
				 * when there are none */
	char *ca_bundle;	/* system CAs plus h->ca, or NULL */
	size_t ca_len;
	struct curl_slist *headers;	/* hosts.toml [header] */
};

/* A handle per thread. */
struct reg_conn {
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
};

enum reg_scheme {
	REG_AUTH_NONE = 0,
	REG_AUTH_BASIC,
	REG_AUTH_BEARER,
};

/* What one origin (scheme://host:port) asked for in its last 401. */
struct reg_origin {
	char *origin;
	enum reg_scheme scheme;
	char *realm;		/* bearer */
	char *service;		/* bearer, may be NULL */
	struct ck_creds creds;	/* for this origin; secret NULL: anonymous */
	int basic_failed;	/* Basic credentials were rejected once */
};

struct reg_token {
	char *origin;
	char *scope;
	char *value;
	time_t expires;		/* CLOCK_MONOTONIC seconds */
};

struct ck_registry {
	char *ns;		/* "docker.io", "127.0.0.1:5000" */
	char *repo;		/* "test/busybox" */
	char *host;		/* host of the server entry, for messages */
	struct ck_host *hosts;
	size_t n_hosts;
	struct reg_endpoint *eps;	/* one per hosts[i], same order */
	int plain_http;
	char *noproxy;
	char *user_agent;
	long connect_timeout;
	long stall_timeout;
	int max_attempts;
	long retry_delay_ms;
	char *pull_scope;	/* "repository:<repo>:pull" */
	char *push_scope;	/* "repository:<repo>:pull,push" */
	struct reg_conn main;	/* the opening thread's handle */

	pthread_mutex_t lock;	/* origins and tokens */
	pthread_mutex_t auth_lock;	/* one token request at a time */
	struct reg_origin *origins;
	size_t n_origins;
	struct reg_token *tokens;
	size_t n_tokens;
};

/* Receives a 2xx body. begin runs before the first byte, with the status
 * and Content-Range; either returning -1 stops the transfer. */
struct reg_sink {
	int (*begin)(void *arg, long status, const char *content_range,
		     struct ck_err **errp);
	int (*write)(void *arg, const void *data, size_t len,
		     struct ck_err **errp);
	void *arg;
};

/* Sends a request body from memory or from a segment of a file. */
struct reg_upload {
	const char *data;	/* NULL: read fd */
	int fd;
	int64_t offset;		/* of the segment in fd */
	int64_t len;
	int64_t pos;		/* bytes sent in this attempt */
	void (*progress)(void *arg, int64_t sent);
	void *progress_arg;
};

struct reg_request {
	const char *method;	/* "GET", "HEAD", "PUT", "POST", "PATCH" */
	char *url;
	const struct reg_endpoint *ep;	/* the registry host of url, or
					 * NULL for a token server */
	const char *scope;	/* token scope(s), space-separated */
	struct curl_slist *headers;	/* Accept, Content-Type, Range… */
	int follow;		/* follow redirects (GET and HEAD) */
	int no_challenge;	/* no 401 flow: send auth (or nothing) */
	const char *auth;	/* with no_challenge, an Authorization line
				 * sent only to auth_origin, or NULL */
	const char *auth_origin;
	struct reg_upload *upload;
	const char *postfields;	/* a form body for POST */
	struct reg_sink *sink;	/* NULL: a 2xx body goes to memory */
	size_t body_max;	/* limit of a 2xx body in memory */
	int no_retry;		/* one attempt only */
};

struct reg_response {
	long status;
	int at_registry;	/* the last hop went to the endpoint */
	char *content_type;	/* without parameters */
	char *digest;		/* Docker-Content-Digest */
	char *location;
	char *content_range;
	char *range;		/* upload progress, "0-1234" */
	char *retry_after;
	int64_t content_length;	/* -1 when not sent */
	char **challenges;	/* WWW-Authenticate values */
	size_t n_challenges;
	struct ck_buf body;	/* 2xx without a sink, or an error body */
	size_t body_max;
	int too_large;
	int began;		/* the sink's begin ran */
	int64_t received;	/* 2xx body bytes in this attempt */
	struct reg_sink *sink;
	struct ck_err *sink_err;
	CURL *curl;
};

/* registry.c */
int reg_conn_init(struct reg_conn *c, struct ck_err **errp);
void reg_conn_cleanup(struct reg_conn *c);
void reg_response_reset(struct reg_response *r);
void reg_response_free(struct reg_response *r);
/*
 * Sends rq once, following redirects and answering one 401 per hop.
 * Returns 0 with r->status set, -1 on a failure not worth retrying, or
 * REG_TRANSIENT (also with *errp set) on a network failure that another
 * attempt may not have.
 */
#define REG_TRANSIENT (-2)
int reg_exchange(struct ck_registry *reg, struct reg_conn *c,
		 struct reg_request *rq, struct reg_response *r,
		 struct ck_err **errp);
/* reg_exchange with retries of transient failures, with backoff. */
int reg_request(struct ck_registry *reg, struct reg_conn *c,
		struct reg_request *rq, struct reg_response *r,
		struct ck_err **errp);
/* Whether the result rc of reg_exchange, or the status it got, is worth
 * another attempt; sets *delay_ms. attempt counts from 1. */
int reg_should_retry(const struct ck_registry *reg, int attempt, int rc,
		     const struct reg_response *r, long *delay_ms);
void reg_sleep_ms(long ms);
/* The error for a status the caller did not expect. */
int reg_status_error(const struct ck_registry *reg,
		     const struct reg_endpoint *ep,
		     const struct reg_response *r, const char *subject,
		     const char *hint, struct ck_err **errp);
/* "<base>/<repo>/<path>", with ?ns= for a mirror. */
char *reg_url(const struct ck_registry *reg, const struct reg_endpoint *ep,
	      const char *path);
/* Resolves a Location against the URL it came from. */
char *reg_resolve_url(const char *base, const char *location);
char *reg_url_origin(const char *url);
char *reg_url_host(const char *url);
char *reg_printable(const char *s, size_t max);

/* registry_auth.c */
/* The Authorization header line to send to origin, or NULL. */
char *reg_auth_header(struct ck_registry *reg, struct reg_conn *c,
		      const char *origin, const struct reg_endpoint *ep,
		      const char *scope);
/* Handles a 401 from origin to a request that carried the Authorization
 * line sent (or NULL): stores the challenge and fetches a token, or
 * checks that there are credentials for Basic. */
int reg_authenticate(struct ck_registry *reg, struct reg_conn *c,
		     const char *origin, const struct reg_endpoint *ep,
		     const struct reg_response *r, const char *scope,
		     const char *sent, struct ck_err **errp);
void reg_auth_free(struct ck_registry *reg);
void reg_free_secret(char *s);

#endif
