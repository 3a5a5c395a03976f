/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registry HTTP API v2 client on libcurl: hosts, requests, redirects,
 * retries and manifests. libcurl follows no redirect itself. Each hop is a
 * new request, and credentials are added only when the hop's scheme, host
 * and port equal those of the host they belong to, so a storage backend
 * behind a redirect never receives them. libcurl 7.88 would also drop a
 * custom Authorization header on such a hop, but before 7.83 it kept it
 * when only the port or scheme changed (CVE-2022-27776).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "digest.h"
#include "manifest.h"
#include "registry_int.h"

#define MAX_REDIRECTS 5
#define RECV_BUFFER_SIZE (256L * 1024)
#define RETRY_DELAY_MAX_MS 5000

/* Every manifest type cpull understands, on HEAD and GET alike, so that
 * a registry never falls back to schema 1 for a client it thinks old. */
static const char accept_manifests[] =
	"Accept: " CK_MT_OCI_MANIFEST ", " CK_MT_OCI_INDEX ", "
	CK_MT_DOCKER_MANIFEST ", " CK_MT_DOCKER_LIST;

char *
reg_printable(const char *s, size_t max)
{
	size_t n = strnlen(s, max), i;
	char *p = ck_xstrndup(s, n);

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] >= 0x7f)
			p[i] = '?';
	return p;
}

int
ck_registry_host_is_loopback(const char *host)
{
	unsigned char addr[sizeof(struct in6_addr)];
	const char *end;
	char *name;
	int rc;

	if (host[0] == '[') {
		end = strchr(host, ']');
		name = end ? ck_xstrndup(host + 1, (size_t)(end - host - 1)) :
			     ck_xstrdup(host);
	} else {
		end = strchr(host, ':');
		name = end ? ck_xstrndup(host, (size_t)(end - host)) :
			     ck_xstrdup(host);
	}
	if (strcasecmp(name, "localhost") == 0)
		rc = 1;
	else if (inet_pton(AF_INET, name, addr) == 1)
		rc = addr[0] == 127;
	else if (inet_pton(AF_INET6, name, addr) == 1)
		rc = IN6_IS_ADDR_LOOPBACK((struct in6_addr *)addr);
	else
		rc = 0;
	free(name);
	return rc;
}

/* Adds the loopback names to the user's no_proxy list, because a proxy
 * cannot reach this machine's loopback. CIDR needs libcurl 7.86. */
static char *
noproxy_list(void)
{
	const char *env = getenv("no_proxy");

	if (env == NULL || *env == '\0')
		env = getenv("NO_PROXY");
	if (env != NULL && strcmp(env, "*") == 0)
		return ck_xstrdup("*");
	if (env != NULL && *env != '\0')
		return ck_asprintf("%s,localhost,127.0.0.0/8,::1", env);
	return ck_xstrdup("localhost,127.0.0.0/8,::1");
}

/* "host[:port]" of url, for messages. The rest of a redirect URL may
 * carry a signature, which must not be printed. */
char *
reg_url_host(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *s;

	if (u == NULL)
		CK_BUG("curl_url failed");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		curl_url_cleanup(u);
		return ck_xstrdup("?");
	}
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
		s = ck_asprintf("%s:%s", host, port);
	else
		s = ck_xstrdup(host);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return s;
}

/* "scheme://host:port" with the default port filled in, or NULL. */
char *
reg_url_origin(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *s = NULL;

	if (u == NULL)
		CK_BUG("curl_url failed");
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
		    CURLUE_OK) {
		for (char *q = host; *q; q++)
			if (*q >= 'A' && *q <= 'Z')
				*q = (char)(*q - 'A' + 'a');
		s = ck_asprintf("%s://%s:%s", scheme, host, port);
	}
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return s;
}

char *
reg_resolve_url(const char *base, const char *location)
{
	CURLU *u = curl_url();
	char *out = NULL, *s = NULL;

	if (u == NULL)
		CK_BUG("curl_url failed");
	if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, location, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK)
		s = ck_xstrdup(out);
	curl_free(out);
	curl_url_cleanup(u);
	return s;
}

char *
reg_url(const struct ck_registry *reg, const struct reg_endpoint *ep,
	const char *path)
{
	char *url = ck_asprintf("%s/%s/%s", ep->base, reg->repo, path);
	char *ns, *withns;

	if (!ep->h->mirror)
		return url;
	ns = curl_easy_escape(NULL, reg->ns, 0);
	if (ns == NULL)
		CK_BUG("curl_easy_escape failed");
	withns = ck_asprintf("%s%cns=%s", url, strchr(url, '?') ? '&' : '?',
			     ns);
	curl_free(ns);
	free(url);
	return withns;
}

int
reg_conn_init(struct reg_conn *c, struct ck_err **errp)
{
	c->curl = curl_easy_init();
	if (c->curl == NULL)
		return ck_err_set(errp, 0, "libcurl: cannot create a handle");
	return 0;
}

void
reg_conn_cleanup(struct reg_conn *c)
{
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
}

/* The system CA bundle followed by the hosts.toml CAs, because a CA
 * option adds to the system store in containerd; libcurl's CAINFO
 * would replace it. */
static int
build_ca_bundle(struct reg_endpoint *ep, struct reg_conn *c,
		struct ck_err **errp)
{
	struct ck_buf b = { 0 };
	char *sys = NULL, *data;
	size_t i, len;

	if (ep->h->n_ca == 0)
		return 0;
	if (curl_easy_getinfo(c->curl, CURLINFO_CAINFO, &sys) == CURLE_OK &&
	    sys != NULL && ck_read_file(sys, 16 << 20, &data, &len,
					NULL) == 0) {
		ck_buf_add(&b, data, len);
		ck_buf_add(&b, "\n", 1);
		free(data);
	}
	for (i = 0; i < ep->h->n_ca; i++) {
		if (ck_read_file(ep->h->ca[i], 16 << 20, &data, &len,
				 errp) < 0) {
			ck_buf_free(&b);
			return ck_err_wrap(errp, "CA of host '%s' in '%s'",
					   ep->h->host, ep->h->config);
		}
		ck_buf_add(&b, data, len);
		ck_buf_add(&b, "\n", 1);
		free(data);
	}
	ep->ca_bundle = b.data;
	ep->ca_len = b.len;
	return 0;
}

static int
init_endpoint(struct ck_registry *reg, struct reg_endpoint *ep,
	      const struct ck_host *h, const struct ck_creds *user,
	      struct ck_err **errp)
{
	size_t i;

	ep->h = h;
	ep->base = ck_asprintf("%s://%s%s", h->scheme, h->host, h->path);
	ep->origin = reg_url_origin(ep->base);
	if (ep->origin == NULL)
		return ck_err_setc(errp, CK_E_INVALID, 0, "invalid registry "
				   "host '%s'", h->host);
	for (i = 0; i < h->n_headers; i++) {
		ep->headers = curl_slist_append(ep->headers, h->headers[i]);
		if (ep->headers == NULL)
			CK_BUG("curl_slist_append failed");
	}
	if (build_ca_bundle(ep, &reg->main, errp) < 0)
		return -1;
	if (user != NULL) {
		ck_creds_copy(&ep->creds, user);
		return 0;
	}
	/* Docker's config names a registry by its namespace, "docker.io",
	 * and a mirror by its own host. */
	return ck_creds_lookup(h->mirror ? h->host : reg->ns, &ep->creds,
			       errp);
}

static void
free_endpoint(struct reg_endpoint *ep)
{
	free(ep->base);
	free(ep->origin);
	ck_creds_free(&ep->creds);
	if (ep->ca_bundle != NULL)
		free(ep->ca_bundle);
	curl_slist_free_all(ep->headers);
}

static int
global_init(struct ck_err **errp)
{
	static int ready;

	if (ready)
		return 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return ck_err_set(errp, 0, "libcurl initialisation failed");
	ready = 1;
	return 0;
}

static void
init_settings(struct ck_registry *reg, const struct ck_registry_opts *o)
{
	const char *delay = getenv("CKIT_RETRY_DELAY_MS");

	reg->plain_http = o && o->plain_http;
	reg->noproxy = noproxy_list();
	reg->user_agent = ck_xstrdup(o && o->user_agent ? o->user_agent :
				     "ckit");
	reg->connect_timeout = o && o->connect_timeout > 0 ?
			       o->connect_timeout :
			       CK_REGISTRY_CONNECT_TIMEOUT;
	reg->stall_timeout = o && o->stall_timeout > 0 ? o->stall_timeout :
			     CK_REGISTRY_STALL_TIMEOUT;
	reg->max_attempts = o && o->max_attempts > 0 ? o->max_attempts :
			    CK_REGISTRY_ATTEMPTS;
	reg->retry_delay_ms = CK_REGISTRY_RETRY_DELAY_MS;
	/* NOTE: CKIT_RETRY_DELAY_MS exists for tests that would otherwise
	 * wait through real backoff; it is not documented for users. */
	if (delay != NULL && *delay != '\0' && atol(delay) >= 0)
		reg->retry_delay_ms = atol(delay);
	pthread_mutex_init(&reg->lock, NULL);
	pthread_mutex_init(&reg->auth_lock, NULL);
}

struct ck_registry *
ck_registry_open(const struct ck_ref *ref, const struct ck_registry_opts *opts,
		 struct ck_err **errp)
{
	struct ck_hosts_opts ho = {
		.dir = opts ? opts->hosts_dir : NULL,
		.plain_http = opts && opts->plain_http,
	};
	struct ck_registry *reg;
	size_t i;

	if (global_init(errp) < 0)
		return NULL;
	reg = ck_xcalloc(1, sizeof(*reg));
	init_settings(reg, opts);
	reg->ns = ck_xstrdup(ref->domain);
	reg->repo = ck_xstrdup(ref->path);
	reg->pull_scope = ck_asprintf("repository:%s:pull", ref->path);
	reg->push_scope = ck_asprintf("repository:%s:pull,push", ref->path);
	if (reg_conn_init(&reg->main, errp) < 0 ||
	    ck_hosts_resolve(ref->domain, &ho, &reg->hosts, &reg->n_hosts,
			     errp) < 0)
		goto fail;
	reg->host = ck_xstrdup(reg->hosts[reg->n_hosts - 1].host);
	reg->eps = ck_xcalloc(reg->n_hosts, sizeof(*reg->eps));
	for (i = 0; i < reg->n_hosts; i++)
		if (init_endpoint(reg, &reg->eps[i], &reg->hosts[i],
				  opts ? opts->creds : NULL, errp) < 0)
			goto fail;
	for (i = 0; i + 1 < reg->n_hosts; i++)
		ck_log(CK_LOG_DEBUG, "registry '%s': host %s", reg->ns,
		       reg->eps[i].base);
	return reg;
fail:
	ck_registry_close(reg);
	return NULL;
}

void
ck_registry_close(struct ck_registry *reg)
{
	size_t i;

	if (reg == NULL)
		return;
	reg_conn_cleanup(&reg->main);
	if (reg->eps != NULL)
		for (i = 0; i < reg->n_hosts; i++)
			free_endpoint(&reg->eps[i]);
	free(reg->eps);
	ck_hosts_free(reg->hosts, reg->n_hosts);
	reg_auth_free(reg);
	pthread_mutex_destroy(&reg->lock);
	pthread_mutex_destroy(&reg->auth_lock);
	free(reg->ns);
	free(reg->repo);
	free(reg->host);
	free(reg->noproxy);
	free(reg->user_agent);
	free(reg->pull_scope);
	free(reg->push_scope);
	free(reg);
}

const char *
ck_registry_host(const struct ck_registry *reg)
{
	return reg->host;
}

void
ck_registry_set_push(struct ck_registry *reg)
{
	free(reg->pull_scope);
	reg->pull_scope = ck_xstrdup(reg->push_scope);
}

void
reg_response_reset(struct reg_response *r)
{
	size_t i;

	r->status = 0;
	free(r->content_type);
	free(r->digest);
	free(r->location);
	free(r->content_range);
	free(r->range);
	free(r->retry_after);
	r->content_type = r->digest = r->location = NULL;
	r->content_range = r->range = r->retry_after = NULL;
	r->content_length = -1;
	for (i = 0; i < r->n_challenges; i++)
		free(r->challenges[i]);
	free(r->challenges);
	r->challenges = NULL;
	r->n_challenges = 0;
	ck_buf_free(&r->body);
	r->too_large = 0;
}

void
reg_response_free(struct reg_response *r)
{
	reg_response_reset(r);
	ck_err_free(&r->sink_err);
}

static char *
header_value(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);
	const char *v, *end = line + len;

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	for (v = line + n + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
			   end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return ck_xstrndup(v, (size_t)(end - v));
}

static void
set_header(char **slot, char *v)
{
	free(*slot);
	*slot = v;
}

static size_t
on_header(char *line, size_t size, size_t n, void *userdata)
{
	struct reg_response *r = userdata;
	size_t len = size * n;
	char *v;

	/* A new status line starts a new set of headers (1xx responses). */
	if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
		reg_response_reset(r);
		return len;
	}
	if ((v = header_value(line, len, "Content-Type")) != NULL) {
		v[strcspn(v, "; \t")] = '\0';
		set_header(&r->content_type, v);
	} else if ((v = header_value(line, len, "Docker-Content-Digest"))) {
		set_header(&r->digest, v);
	} else if ((v = header_value(line, len, "Location")) != NULL) {
		set_header(&r->location, v);
	} else if ((v = header_value(line, len, "Content-Range")) != NULL) {
		set_header(&r->content_range, v);
	} else if ((v = header_value(line, len, "Range")) != NULL) {
		set_header(&r->range, v);
	} else if ((v = header_value(line, len, "Retry-After")) != NULL) {
		set_header(&r->retry_after, v);
	} else if ((v = header_value(line, len, "Content-Length")) != NULL) {
		r->content_length = strtoll(v, NULL, 10);
		free(v);
	} else if ((v = header_value(line, len, "WWW-Authenticate"))) {
		r->challenges = ck_xrealloc(r->challenges, (r->n_challenges +
				1) * sizeof(*r->challenges));
		r->challenges[r->n_challenges++] = v;
	}
	return len;
}

static int
is_content(long status)
{
	return status >= 200 && status < 300;
}

static size_t
on_body(char *data, size_t size, size_t n, void *userdata)
{
	struct reg_response *r = userdata;
	size_t len = size * n;
	long status = 0;

	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
	if (is_content(status) && r->sink != NULL) {
		if (!r->began && r->sink->begin != NULL &&
		    r->sink->begin(r->sink->arg, status, r->content_range,
				   &r->sink_err) < 0)
			return 0;
		r->began = 1;
		if (r->sink->write(r->sink->arg, data, len, &r->sink_err) < 0)
			return 0;
		r->received += (int64_t)len;
		return len;
	}
	if (is_content(status) && r->body.len + len > r->body_max) {
		r->too_large = 1;
		return 0;
	}
	/* The start of an error body is enough for its message. */
	if (!is_content(status) && r->body.len + len > REG_ERROR_BODY_MAX)
		return len;
	ck_buf_add(&r->body, data, len);
	return len;
}

static size_t
on_read(char *buf, size_t size, size_t n, void *userdata)
{
	struct reg_upload *up = userdata;
	size_t want = size * n;
	int64_t left = up->len - up->pos;
	ssize_t got;

	if ((int64_t)want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	if (up->data != NULL) {
		memcpy(buf, up->data + up->pos, want);
		got = (ssize_t)want;
	} else {
		do
			got = pread(up->fd, buf, want, up->offset + up->pos);
		while (got < 0 && errno == EINTR);
		if (got <= 0)
			return CURL_READFUNC_ABORT;
	}
	up->pos += got;
	if (up->progress != NULL)
		up->progress(up->progress_arg, up->pos);
	return (size_t)got;
}

static int
on_seek(void *userdata, curl_off_t offset, int origin)
{
	struct reg_upload *up = userdata;

	if (origin != SEEK_SET || offset < 0 || offset > up->len)
		return CURL_SEEKFUNC_CANTSEEK;
	up->pos = offset;
	return CURL_SEEKFUNC_OK;
}

static void
set_method(CURL *h, struct reg_request *rq)
{
	const char *m = rq->method;

	if (strcmp(m, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (rq->upload != NULL) {
		rq->upload->pos = 0;
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
				 (curl_off_t)rq->upload->len);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, rq->upload);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, rq->upload);
		if (strcmp(m, "PUT") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
	} else if (strcmp(m, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->postfields ?
				 rq->postfields : "");
	} else if (strcmp(m, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m);
	}
}

/* TLS settings of the endpoint, for hops to the endpoint's origin. */
static void
set_tls(CURL *h, const struct reg_endpoint *ep)
{
	struct curl_blob ca;

	if (ep->h->skip_verify) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (ep->ca_bundle != NULL) {
		ca.data = ep->ca_bundle;
		ca.len = ep->ca_len;
		ca.flags = CURL_BLOB_NOCOPY;
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
	}
	if (ep->h->client_cert != NULL) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, ep->h->client_cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, ep->h->client_key ?
				 ep->h->client_key : ep->h->client_cert);
	}
}

static void
set_options(struct ck_registry *reg, struct reg_conn *c,
	    struct reg_request *rq, const char *url, struct curl_slist *hdrs,
	    struct reg_response *r, int at_registry)
{
	CURL *h = c->curl;

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, reg->user_agent);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_NOPROXY, reg->noproxy);
	curl_easy_setopt(h, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	/* Larger reads mean fewer callbacks, writes and hash updates per
	 * blob; it costs this much memory per download. */
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, RECV_BUFFER_SIZE);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, reg->connect_timeout);
	/* A transfer that stalls fails instead of hanging for ever. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, reg->stall_timeout);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	set_method(h, rq);
	if (at_registry)
		set_tls(h, rq->ep);
}

/* Whether a libcurl failure may pass on another attempt. */
static int
is_transient(CURLcode rc)
{
	/* A refused connection is not retried: nothing listens there, and a
	 * mirror that is down should not delay the fallback to the next. A
	 * stalled transfer already waited out CKIT_STALL_TIMEOUT. */
	switch (rc) {
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static int
transfer_error(struct reg_conn *c, CURLcode rc, const char *url,
	       struct reg_response *r, struct ck_err **errp)
{
	const char *text = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
	char *host = reg_url_host(url);

	if (rc == CURLE_WRITE_ERROR && r->sink_err != NULL) {
		ck_err_free(errp);
		if (errp != NULL)
			*errp = r->sink_err;
		else
			ck_err_free(&r->sink_err);
		r->sink_err = NULL;
	} else if (rc == CURLE_WRITE_ERROR && r->too_large) {
		ck_err_setc(errp, CK_E_INVALID, 0, "response from '%s' is "
			    "larger than %zu bytes", host, r->body_max);
	} else if (rc == CURLE_COULDNT_RESOLVE_HOST) {
		ck_err_set(errp, 0, "could not resolve host '%s': check the "
			   "registry name and the DNS settings", host);
	} else if (rc == CURLE_COULDNT_CONNECT) {
		ck_err_set(errp, 0, "could not connect to '%s': %s; check the "
			   "host, the port and that the registry is running",
			   host, text);
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		ck_err_set(errp, 0, "transfer from '%s' timed out: %s", host,
			   text);
	} else if (rc == CURLE_PEER_FAILED_VERIFICATION) {
		ck_err_set(errp, 0, "TLS certificate of '%s' is not trusted: "
			   "%s; add its CA to the system certificate store "
			   "or give it as 'ca' in the host's hosts.toml",
			   host, text);
	} else if (rc == CURLE_SSL_CONNECT_ERROR) {
		ck_err_set(errp, 0, "TLS connection to '%s' failed: %s; use "
			   "--plain-http only if the registry serves plain "
			   "HTTP", host, text);
	} else if (rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CACERT_BADFILE) {
		ck_err_set(errp, 0, "TLS files for '%s' are unusable: %s",
			   host, text);
	} else {
		ck_err_set(errp, 0, "request to '%s' failed: %s", host, text);
	}
	free(host);
	return is_transient(rc) && r->sink_err == NULL ? REG_TRANSIENT : -1;
}

/* Logs the method and the URL without its query, which may carry a
 * signature, and never the Authorization header. */
static void
log_request(const char *method, const char *url, const char *auth)
{
	size_t n = strcspn(url, "?");

	if (ck_log_get_level() < CK_LOG_DEBUG)
		return;
	ck_log(CK_LOG_DEBUG, "%s %.*s%s%s", method, (int)n, url,
	       url[n] ? "?…" : "", auth == NULL ? "" :
	       ck_has_prefix(auth, "Authorization: Basic") ?
	       " (with credentials)" : " (with token)");
}

/* Sends one request to url with the Authorization line auth, if any. */
static int
perform(struct ck_registry *reg, struct reg_conn *c, struct reg_request *rq,
	const char *url, const char *auth, int at_registry,
	struct reg_response *r, struct ck_err **errp)
{
	struct curl_slist *hdrs = NULL, *h;
	CURLcode rc;

	for (h = rq->headers; h != NULL; h = h->next)
		hdrs = curl_slist_append(hdrs, h->data);
	for (h = at_registry ? rq->ep->headers : NULL; h; h = h->next)
		hdrs = curl_slist_append(hdrs, h->data);
	if (auth != NULL)
		hdrs = curl_slist_append(hdrs, auth);
	if ((rq->headers || auth || (at_registry && rq->ep->headers)) &&
	    hdrs == NULL)
		CK_BUG("curl_slist_append failed");
	r->curl = c->curl;
	r->sink = rq->sink;
	r->body_max = rq->body_max;
	set_options(reg, c, rq, url, hdrs, r, at_registry);
	c->errbuf[0] = '\0';
	log_request(rq->method, url, auth);
	rc = curl_easy_perform(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK)
		return transfer_error(c, rc, url, r, errp);
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
	ck_log(CK_LOG_DEBUG, "HTTP %ld", r->status);
	return 0;
}

static int
is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 ||
	       status == 307 || status == 308;
}

/* The Authorization line for one hop: a fixed one for its origin, else
 * whatever the hop's origin asked for before. */
static char *
hop_auth(struct ck_registry *reg, struct reg_conn *c,
	 const struct reg_request *rq, const char *origin,
	 const struct reg_endpoint *ep)
{
	if (rq->no_challenge)
		return rq->auth && rq->auth_origin &&
		       strcmp(origin, rq->auth_origin) == 0 ?
		       ck_xstrdup(rq->auth) : NULL;
	return reg_auth_header(reg, c, origin, ep, rq->scope);
}

static int
next_hop(struct ck_registry *reg, struct reg_response *r, char **url,
	 int hops, struct ck_err **errp)
{
	char *next;

	if (hops == MAX_REDIRECTS)
		return ck_err_set(errp, 0, "more than %d redirects from "
				  "registry '%s'", MAX_REDIRECTS, reg->host);
	if (r->location == NULL || (next = reg_resolve_url(*url,
							   r->location)) ==
	    NULL)
		return ck_err_set(errp, 0, "redirect without a valid Location "
				  "from registry '%s'", reg->host);
	free(*url);
	*url = next;
	return 0;
}

int
reg_exchange(struct ck_registry *reg, struct reg_conn *c,
	     struct reg_request *rq, struct reg_response *r,
	     struct ck_err **errp)
{
	char *url = ck_xstrdup(rq->url), *origin = NULL, *auth;
	int hops = 0, authed = 0, rc;

	for (;;) {
		free(origin);
		origin = reg_url_origin(url);
		if (origin == NULL) {
			rc = ck_err_set(errp, 0, "invalid URL from registry "
					"'%s'", reg->host);
			break;
		}
		r->at_registry = rq->ep && strcmp(origin, rq->ep->origin) == 0;
		reg_response_reset(r);
		auth = hop_auth(reg, c, rq, origin,
				r->at_registry ? rq->ep : NULL);
		rc = perform(reg, c, rq, url, auth, r->at_registry, r, errp);
		if (rc == 0 && r->status == 401 && !authed &&
		    !rq->no_challenge) {
			authed = 1;
			rc = reg_authenticate(reg, c, origin, r->at_registry ?
					      rq->ep : NULL, r, rq->scope, auth,
					      errp);
			reg_free_secret(auth);
			if (rc < 0)
				break;
			continue;
		}
		reg_free_secret(auth);
		if (rc < 0)
			break;
		if (!rq->follow || !is_redirect(r->status))
			break;
		rc = next_hop(reg, r, &url, hops++, errp);
		if (rc < 0)
			break;
		authed = 0;
	}
	free(origin);
	free(url);
	return rc;
}

void
reg_sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Seconds of a Retry-After header: a number or an HTTP date. -1 if
 * neither. */
static long
retry_after_seconds(const char *v)
{
	struct tm tm = { 0 };
	char *end;
	long s;
	time_t t;

	if (v == NULL)
		return -1;
	s = strtol(v, &end, 10);
	if (end != v && *end == '\0' && s >= 0)
		return s;
	if (strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm) == NULL)
		return -1;
	t = timegm(&tm) - time(NULL);
	return t < 0 ? 0 : (long)t;
}

int
reg_should_retry(const struct ck_registry *reg, int attempt, int rc,
		 const struct reg_response *r, long *delay_ms)
{
	long after;
	int shift = attempt - 1 < 10 ? attempt - 1 : 10;

	if (attempt >= reg->max_attempts || rc == -1)
		return 0;
	*delay_ms = reg->retry_delay_ms << shift;
	if (*delay_ms > RETRY_DELAY_MAX_MS)
		*delay_ms = RETRY_DELAY_MAX_MS;
	if (rc == REG_TRANSIENT)
		return 1;
	if (r->status == 429 || r->status == 503) {
		after = retry_after_seconds(r->retry_after);
		if (after > CK_REGISTRY_RETRY_AFTER_MAX)
			return 0;
		if (after >= 0)
			*delay_ms = after * 1000;
		return 1;
	}
	return r->status == 408 || r->status == 500 || r->status == 502 ||
	       r->status == 504;
}

int
reg_request(struct ck_registry *reg, struct reg_conn *c,
	    struct reg_request *rq, struct reg_response *r,
	    struct ck_err **errp)
{
	long delay;
	int attempt, rc;

	for (attempt = 1;; attempt++) {
		r->began = 0;
		r->received = 0;
		rc = reg_exchange(reg, c, rq, r, errp);
		if (rq->no_retry || r->began ||
		    !reg_should_retry(reg, attempt, rc, r, &delay))
			break;
		if (rc < 0 && errp != NULL && *errp != NULL)
			ck_log(CK_LOG_INFO, "%s; retrying in %ld ms",
			       (*errp)->msg, delay);
		else
			ck_log(CK_LOG_INFO, "registry '%s' returned HTTP %ld; "
			       "retrying in %ld ms", reg->host, r->status,
			       delay);
		ck_err_free(errp);
		reg_sleep_ms(delay);
	}
	return rc < 0 ? -1 : 0;
}

/* The first message of a registry's {"errors": [...]} body, or NULL. */
static char *
registry_detail(const struct reg_response *r)
{
	json_t *j, *e, *msg;
	char *s = NULL;

	if (r->body.len == 0)
		return NULL;
	j = json_loadb(r->body.data, r->body.len, 0, NULL);
	e = json_array_get(json_object_get(j, "errors"), 0);
	msg = json_object_get(e, "message");
	if (!json_is_string(msg))
		msg = json_object_get(e, "code");
	if (json_is_string(msg) && *json_string_value(msg) != '\0')
		s = reg_printable(json_string_value(msg), REG_DETAIL_MAX);
	json_decref(j);
	return s;
}

int
reg_status_error(const struct ck_registry *reg, const struct reg_endpoint *ep,
		 const struct reg_response *r, const char *subject,
		 const char *hint, struct ck_err **errp)
{
	const char *host = ep ? ep->h->host : reg->host;
	char *detail = registry_detail(r);
	char *extra = detail ? ck_asprintf(" (%s)", detail) : ck_xstrdup("");
	const struct ck_creds *cr = ep ? &ep->creds : NULL;

	if (r->status == 404)
		ck_err_setc(errp, CK_E_NOTFOUND, 0, "%s of repository '%s' "
			    "not found at registry '%s'%s%s", subject,
			    reg->repo, host, extra, hint ? hint : "");
	else if ((r->status == 401 || r->status == 403) && cr && cr->secret)
		ck_err_set(errp, 0, "registry '%s' denied access to %s of "
			   "repository '%s' for %s%s%s: check the credentials "
			   "from %s and the user's permissions", host,
			   subject, reg->repo, cr->username ? "user " :
			   "the identity token", cr->username ? cr->username :
			   "", extra, cr->source);
	else if (r->status == 401 || r->status == 403)
		ck_err_set(errp, 0, "registry '%s' denied anonymous access to "
			   "repository '%s'%s: it may be private or not "
			   "exist; give credentials with --user or docker "
			   "login", host, reg->repo, extra);
	else if (r->status == 429)
		ck_err_set(errp, 0, "registry '%s' rejected the request: too "
			   "many requests (HTTP 429)%s; wait and try again",
			   host, extra);
	else
		ck_err_set(errp, 0, "registry '%s' returned HTTP %ld for %s "
			   "of repository '%s'%s", host, r->status, subject,
			   reg->repo, extra);
	free(detail);
	free(extra);
	return -1;
}

/*
 * Tries the hosts with capability cap in order until one succeeds. A 404
 * or another failure moves on to the next host; the error returned is the
 * first that was not a 404, else the last 404.
 */
typedef int (*host_fn)(struct ck_registry *reg, struct reg_endpoint *ep,
		       void *arg, struct ck_err **errp);

static int
try_hosts(struct ck_registry *reg, int cap, host_fn fn, void *arg,
	  struct ck_err **errp)
{
	struct ck_err *first = NULL, *last = NULL;
	size_t i;
	int tried = 0;

	for (i = 0; i < reg->n_hosts; i++) {
		if (!(reg->hosts[i].caps & cap))
			continue;
		tried++;
		ck_err_free(&last);
		if (fn(reg, &reg->eps[i], arg, &last) == 0) {
			ck_err_free(&first);
			return 0;
		}
		if (reg->n_hosts > 1 && last != NULL)
			ck_log(CK_LOG_INFO, "host '%s' failed: %s",
			       reg->hosts[i].host, last->msg);
		if (first == NULL && ck_err_code(last) != CK_E_NOTFOUND) {
			first = last;
			last = NULL;
		}
	}
	if (!tried) {
		char *caps = ck_hosts_caps_string(cap);

		ck_err_set(errp, 0, "no host of registry '%s' has the '%s' "
			   "capability in its hosts.toml", reg->ns, caps);
		free(caps);
		return -1;
	}
	ck_err_free(errp);
	if (errp != NULL)
		*errp = first ? first : last;
	if (first != NULL)
		ck_err_free(&last);
	return -1;
}

static int
object_cap(const char *object)
{
	return ck_has_prefix(object, "sha256:") ? CK_HOST_PULL :
	       CK_HOST_RESOLVE;
}

static int
manifest_error(const struct ck_registry *reg, const struct reg_endpoint *ep,
	       const struct reg_response *r, const char *object,
	       struct ck_err **errp)
{
	int is_digest = ck_has_prefix(object, "sha256:");
	char *subject = ck_asprintf("%s '%s'", is_digest ? "manifest" : "tag",
				    object);

	reg_status_error(reg, ep, r, subject, is_digest ? NULL :
			 "; check the repository name and the tag", errp);
	free(subject);
	return -1;
}

struct manifest_call {
	const char *object;
	struct ck_registry_manifest *m;
};

static int
get_manifest_at(struct ck_registry *reg, struct reg_endpoint *ep, void *arg,
		struct ck_err **errp)
{
	struct manifest_call *mc = arg;
	char *path = ck_asprintf("manifests/%s", mc->object);
	struct reg_response r = { .body_max = CK_MANIFEST_MAX };
	struct reg_request rq = {
		.method = "GET", .ep = ep, .scope = reg->pull_scope,
		.follow = 1, .body_max = CK_MANIFEST_MAX,
	};
	int rc;

	rq.url = reg_url(reg, ep, path);
	rq.headers = curl_slist_append(NULL, accept_manifests);
	rc = reg_request(reg, &reg->main, &rq, &r, errp);
	if (rc == 0 && r.status != 200)
		rc = manifest_error(reg, ep, &r, mc->object, errp);
	if (rc == 0) {
		mc->m->data = r.body.data ? r.body.data : ck_xstrdup("");
		mc->m->len = r.body.len;
		mc->m->content_type = r.content_type;
		mc->m->digest = r.digest;
		memset(&r.body, 0, sizeof(r.body));
		r.content_type = NULL;
		r.digest = NULL;
	}
	reg_response_free(&r);
	curl_slist_free_all(rq.headers);
	free(rq.url);
	free(path);
	return rc;
}

int
ck_registry_get_manifest(struct ck_registry *reg, const char *object,
			 struct ck_registry_manifest *m, struct ck_err **errp)
{
	struct manifest_call mc = { .object = object, .m = m };

	memset(m, 0, sizeof(*m));
	return try_hosts(reg, object_cap(object), get_manifest_at, &mc, errp);
}

void
ck_registry_manifest_free(struct ck_registry_manifest *m)
{
	free(m->data);
	free(m->content_type);
	free(m->digest);
	memset(m, 0, sizeof(*m));
}

struct resolve_call {
	const char *object;
	struct ck_descriptor *d;
	struct ck_registry_manifest *m;	/* or NULL */
};

/* HEAD, and GET when HEAD gives no digest or the registry rejects it:
 * some return 405, and storage behind a redirect may return 403 to a
 * HEAD because its URL signature covers only GET. */
static int
resolve_at(struct ck_registry *reg, struct reg_endpoint *ep, void *arg,
	   struct ck_err **errp)
{
	struct resolve_call *rc_ = arg;
	char *path = ck_asprintf("manifests/%s", rc_->object);
	struct reg_response r = { 0 };
	struct reg_request rq = {
		.method = "HEAD", .ep = ep, .scope = reg->pull_scope,
		.follow = 1,
	};
	struct manifest_call mc;
	struct ck_registry_manifest m = { 0 };
	int rc;

	rq.url = reg_url(reg, ep, path);
	rq.headers = curl_slist_append(NULL, accept_manifests);
	rc = reg_request(reg, &reg->main, &rq, &r, errp);
	if (rc == 0 && r.status == 200 && r.digest != NULL &&
	    ck_digest_check(r.digest, NULL) == 0 && r.content_length >= 0) {
		rc_->d->digest = ck_xstrdup(r.digest);
		rc_->d->media_type = ck_xstrdup(r.content_type ?
						r.content_type : "");
		rc_->d->size = r.content_length;
	} else if (rc == 0 && r.status == 404) {
		rc = manifest_error(reg, ep, &r, rc_->object, errp);
	} else if (rc == 0) {
		ck_log(CK_LOG_DEBUG, "HEAD gave HTTP %ld%s; using GET",
		       r.status, r.status == 200 ? " without a digest" : "");
		mc.object = rc_->object;
		mc.m = &m;
		rc = get_manifest_at(reg, ep, &mc, errp);
		if (rc == 0) {
			rc_->d->digest = ck_sha256_bytes(m.data, m.len);
			rc_->d->media_type = ck_xstrdup(m.content_type ?
							m.content_type : "");
			rc_->d->size = (int64_t)m.len;
		}
		if (rc == 0 && rc_->m != NULL) {
			*rc_->m = m;
			memset(&m, 0, sizeof(m));
		}
		ck_registry_manifest_free(&m);
	}
	reg_response_free(&r);
	curl_slist_free_all(rq.headers);
	free(rq.url);
	free(path);
	return rc;
}

int
ck_registry_resolver_pulls(const struct ck_registry *reg)
{
	size_t i;

	for (i = 0; i < reg->n_hosts; i++) {
		int caps = reg->hosts[i].caps & (CK_HOST_PULL | CK_HOST_RESOLVE);

		if (caps != 0)
			return caps == (CK_HOST_PULL | CK_HOST_RESOLVE);
	}
	return 0;
}

int
ck_registry_resolve(struct ck_registry *reg, const char *object,
		    struct ck_descriptor *d, struct ck_registry_manifest *m,
		    struct ck_err **errp)
{
	struct resolve_call rc = { .object = object, .d = d, .m = m };

	memset(d, 0, sizeof(*d));
	if (m != NULL)
		memset(m, 0, sizeof(*m));
	return try_hosts(reg, object_cap(object), resolve_at, &rc, errp);
}

struct legacy_sink {
	ck_registry_write_fn write;
	void *arg;
};

static int
legacy_write(void *arg, const void *data, size_t len, struct ck_err **errp)
{
	struct legacy_sink *ls = arg;

	return ls->write(ls->arg, data, len, errp);
}

struct blob_call {
	const char *digest;
	struct reg_sink *sink;
	int *began;
};

static int
get_blob_at(struct ck_registry *reg, struct reg_endpoint *ep, void *arg,
	    struct ck_err **errp)
{
	struct blob_call *bc = arg;
	char *path = ck_asprintf("blobs/%s", bc->digest), *subject;
	struct reg_response r = { 0 };
	struct reg_request rq = {
		.method = "GET", .ep = ep, .scope = reg->pull_scope,
		.follow = 1, .sink = bc->sink,
	};
	int rc;

	/* Bytes already handed on cannot be taken back: no other host. */
	if (*bc->began)
		return ck_err_set(errp, 0, "blob '%s' failed part way",
				  bc->digest);
	rq.url = reg_url(reg, ep, path);
	rc = reg_request(reg, &reg->main, &rq, &r, errp);
	*bc->began = r.began;
	if (rc == 0 && r.status != 200) {
		subject = ck_asprintf("blob '%s'", bc->digest);
		rc = reg_status_error(reg, ep, &r, subject, NULL, errp);
		free(subject);
	}
	reg_response_free(&r);
	free(rq.url);
	free(path);
	return rc;
}

int
ck_registry_get_blob(struct ck_registry *reg, const char *digest,
		     ck_registry_write_fn write, void *arg,
		     struct ck_err **errp)
{
	struct legacy_sink ls = { .write = write, .arg = arg };
	struct reg_sink sink = { .write = legacy_write, .arg = &ls };
	int began = 0;
	struct blob_call bc = { .digest = digest, .sink = &sink,
				.began = &began };

	return try_hosts(reg, CK_HOST_PULL, get_blob_at, &bc, errp);
}
