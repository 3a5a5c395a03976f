/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registry HTTP API v2 client on libcurl. libcurl follows no redirect
 * itself. Each hop is a new request, and the bearer token is added only
 * when the hop's scheme, host and port equal the registry's, so a storage
 * backend behind a redirect never receives it. libcurl 7.88 would also drop
 * a custom Authorization header on such a hop, but before 7.83 it kept it
 * when only the port or scheme changed (CVE-2022-27776).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "manifest.h"
#include "registry.h"
#include "util.h"

#define MAX_REDIRECTS 5
#define ERROR_BODY_MAX (64 * 1024)
#define TOKEN_BODY_MAX (1024 * 1024)
#define DETAIL_MAX 200

static const char accept_manifests[] =
	"Accept: " CK_MT_OCI_MANIFEST ", " CK_MT_OCI_INDEX ", "
	CK_MT_DOCKER_MANIFEST ", " CK_MT_DOCKER_LIST;

struct ck_registry {
	CURL *curl;
	char *host;		/* "127.0.0.1:5000" */
	char *repo;		/* "test/busybox" */
	char *base;		/* "http://127.0.0.1:5000" */
	char *token;		/* bearer token, once fetched */
	char *noproxy;
	char *user_agent;
	long connect_timeout;
	long stall_timeout;
	char errbuf[CURL_ERROR_SIZE];
};

/* One HTTP exchange: the status, the headers used here, and the body. */
struct response {
	CURL *curl;
	long status;
	int at_registry;	/* the last hop went to the registry's origin */
	char *content_type;
	char *digest;
	struct ck_buf challenge;	/* WWW-Authenticate values */
	struct ck_buf body;	/* error bodies, and 2xx without a sink */
	size_t body_max;	/* limit of a 2xx body kept in memory */
	int too_large;
	ck_registry_write_fn write;	/* receives 2xx bodies when set */
	void *arg;
	struct ck_err *write_err;
};

static void
response_reset(struct response *r)
{
	r->status = 0;
	free(r->content_type);
	free(r->digest);
	r->content_type = NULL;
	r->digest = NULL;
	ck_buf_free(&r->challenge);
	ck_buf_free(&r->body);
	r->too_large = 0;
}

static void
response_free(struct response *r)
{
	response_reset(r);
	ck_err_free(&r->write_err);
}

/* Copies s with control and non-ASCII bytes replaced, because registries
 * and servers are not trusted to put only text on our terminal. */
static char *
printable(const char *s, size_t max)
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

struct ck_registry *
ck_registry_open(const struct ck_ref *ref, const struct ck_registry_opts *opts,
		 struct ck_err **errp)
{
	static int curl_ready;
	struct ck_registry *reg;
	const char *host = ck_ref_registry_host(ref);
	int plain;

	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			ck_err_set(errp, 0, "libcurl initialisation failed");
			return NULL;
		}
		curl_ready = 1;
	}
	reg = ck_xcalloc(1, sizeof(*reg));
	reg->curl = curl_easy_init();
	if (reg->curl == NULL) {
		free(reg);
		ck_err_set(errp, 0, "libcurl: cannot create a handle");
		return NULL;
	}
	plain = (opts && opts->plain_http) ||
		ck_registry_host_is_loopback(host);
	reg->host = ck_xstrdup(host);
	reg->repo = ck_xstrdup(ref->path);
	reg->base = ck_asprintf("%s://%s", plain ? "http" : "https", host);
	reg->noproxy = noproxy_list();
	reg->user_agent = ck_xstrdup(opts && opts->user_agent ?
				     opts->user_agent : "ckit");
	reg->connect_timeout = opts && opts->connect_timeout > 0 ?
			       opts->connect_timeout :
			       CK_REGISTRY_CONNECT_TIMEOUT;
	reg->stall_timeout = opts && opts->stall_timeout > 0 ?
			     opts->stall_timeout : CK_REGISTRY_STALL_TIMEOUT;
	return reg;
}

void
ck_registry_close(struct ck_registry *reg)
{
	if (reg == NULL)
		return;
	curl_easy_cleanup(reg->curl);
	if (reg->token) {
		explicit_bzero(reg->token, strlen(reg->token));
		free(reg->token);
	}
	free(reg->host);
	free(reg->repo);
	free(reg->base);
	free(reg->noproxy);
	free(reg->user_agent);
	free(reg);
}

const char *
ck_registry_host(const struct ck_registry *reg)
{
	return reg->host;
}

/* "host[:port]" of url, for messages. The rest of a redirect URL may
 * carry a signature, which must not be printed. */
static char *
url_host(const char *url)
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
static char *
url_origin(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *s = NULL;

	if (u == NULL)
		CK_BUG("curl_url failed");
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
		    CURLUE_OK)
		s = ck_asprintf("%s://%s:%s", scheme, host, port);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return s;
}

static int
same_origin(const char *a, const char *b)
{
	char *oa = url_origin(a), *ob = url_origin(b);
	int rc = oa && ob && strcasecmp(oa, ob) == 0;

	free(oa);
	free(ob);
	return rc;
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

static size_t
on_header(char *line, size_t size, size_t n, void *userdata)
{
	struct response *r = userdata;
	size_t len = size * n;
	char *v;

	/* A new status line starts a new set of headers (1xx responses). */
	if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
		response_reset(r);
		return len;
	}
	if ((v = header_value(line, len, "Content-Type")) != NULL) {
		v[strcspn(v, "; \t")] = '\0';
		free(r->content_type);
		r->content_type = v;
	} else if ((v = header_value(line, len, "Docker-Content-Digest"))) {
		free(r->digest);
		r->digest = v;
	} else if ((v = header_value(line, len, "WWW-Authenticate"))) {
		if (r->challenge.len > 0)
			ck_buf_add(&r->challenge, ", ", 2);
		ck_buf_add(&r->challenge, v, strlen(v));
		free(v);
	}
	return len;
}

static size_t
on_body(char *data, size_t size, size_t n, void *userdata)
{
	struct response *r = userdata;
	size_t len = size * n;
	long status = 0;

	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
	/* Only a 200 body is content. 3xx and error bodies are not. */
	if (status == 200 && r->write != NULL)
		return r->write(r->arg, data, len, &r->write_err) < 0 ? 0 : len;
	if (status == 200 && r->body.len + len > r->body_max) {
		r->too_large = 1;
		return 0;
	}
	/* The start of an error body is enough for its message. */
	if (status != 200 && r->body.len + len > ERROR_BODY_MAX)
		return len;
	ck_buf_add(&r->body, data, len);
	return len;
}

static void
set_options(struct ck_registry *reg, const char *url, struct curl_slist *hdrs,
	    struct response *r)
{
	CURL *c = reg->curl;

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, reg->errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, reg->user_agent);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_NOPROXY, reg->noproxy);
	curl_easy_setopt(c, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, reg->connect_timeout);
	/* A transfer that stalls fails instead of hanging for ever. */
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, reg->stall_timeout);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
}

static int
transfer_error(struct ck_registry *reg, CURLcode rc, const char *url,
	       struct response *r, struct ck_err **errp)
{
	const char *text = reg->errbuf[0] ? reg->errbuf :
			   curl_easy_strerror(rc);
	char *host = url_host(url);

	if (rc == CURLE_WRITE_ERROR && r->write_err != NULL) {
		ck_err_free(errp);
		if (errp != NULL)
			*errp = r->write_err;
		else
			ck_err_free(&r->write_err);
		r->write_err = NULL;
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
			   "%s; add its CA to the system certificate store",
			   host, text);
	} else if (rc == CURLE_SSL_CONNECT_ERROR) {
		ck_err_set(errp, 0, "TLS connection to '%s' failed: %s; use "
			   "--plain-http only if the registry serves plain "
			   "HTTP", host, text);
	} else {
		ck_err_set(errp, 0, "request to '%s' failed: %s", host, text);
	}
	free(host);
	return -1;
}

static void
log_request(const char *url, int with_token)
{
	size_t n = strcspn(url, "?");

	if (ck_log_get_level() < CK_LOG_DEBUG)
		return;
	ck_log(CK_LOG_DEBUG, "GET %.*s%s%s", (int)n, url,
	       url[n] ? "?…" : "", with_token ? " (with token)" : "");
}

/* Sends one GET. with_token adds the bearer token, if there is one. */
static int
perform(struct ck_registry *reg, const char *url, const char *accept,
	int with_token, struct response *r, struct ck_err **errp)
{
	struct curl_slist *hdrs = NULL;
	char *auth = NULL;
	CURLcode rc;

	if (accept != NULL)
		hdrs = curl_slist_append(hdrs, accept);
	if (with_token && reg->token != NULL) {
		auth = ck_asprintf("Authorization: Bearer %s", reg->token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	if ((accept != NULL || auth != NULL) && hdrs == NULL)
		CK_BUG("curl_slist_append failed");
	r->curl = reg->curl;
	set_options(reg, url, hdrs, r);
	reg->errbuf[0] = '\0';
	log_request(url, auth != NULL);
	rc = curl_easy_perform(reg->curl);
	curl_easy_setopt(reg->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	if (auth != NULL) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	if (rc != CURLE_OK)
		return transfer_error(reg, rc, url, r, errp);
	curl_easy_getinfo(reg->curl, CURLINFO_RESPONSE_CODE, &r->status);
	ck_log(CK_LOG_DEBUG, "HTTP %ld", r->status);
	return 0;
}

static int
is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 ||
	       status == 307 || status == 308;
}

/* Sends a GET and follows up to MAX_REDIRECTS redirects. */
static int
fetch(struct ck_registry *reg, const char *url, const char *accept,
      struct response *r, struct ck_err **errp)
{
	char *cur = ck_xstrdup(url), *next = NULL;
	int hops;

	for (hops = 0;; hops++) {
		r->at_registry = same_origin(reg->base, cur);
		response_reset(r);
		if (perform(reg, cur, accept, r->at_registry, r, errp) < 0)
			break;
		if (!is_redirect(r->status)) {
			free(cur);
			return 0;
		}
		if (hops == MAX_REDIRECTS) {
			ck_err_set(errp, 0, "more than %d redirects from "
				   "registry '%s'", MAX_REDIRECTS, reg->host);
			break;
		}
		if (curl_easy_getinfo(reg->curl, CURLINFO_REDIRECT_URL,
				      &next) != CURLE_OK || next == NULL) {
			ck_err_set(errp, 0, "redirect without a Location from "
				   "registry '%s'", reg->host);
			break;
		}
		free(cur);
		cur = ck_xstrdup(next);
	}
	free(cur);
	return -1;
}

struct challenge {
	int bearer;	/* the parameters belong to a Bearer challenge */
	char *realm;
	char *service;
	char *scope;
};

static int
is_tchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Reads an RFC 7230 quoted-string at *p, or an unquoted value up to the
 * next comma or blank, which also accepts an unquoted URL. */
static char *
read_value(const char **p)
{
	struct ck_buf b = { 0 };
	const char *s = *p;

	if (*s != '"') {
		s += strcspn(s, ", \t");
		ck_buf_add(&b, *p, (size_t)(s - *p));
		*p = s;
		return b.data;
	}
	for (s++; *s && *s != '"'; s++) {
		if (*s == '\\' && s[1] != '\0')
			s++;
		ck_buf_add(&b, s, 1);
	}
	ck_buf_add(&b, "", 0);
	*p = *s == '"' ? s + 1 : s;
	return b.data;
}

static void
set_param(struct challenge *ch, const char *name, char *value)
{
	char **slot = NULL;

	if (ch->bearer && strcasecmp(name, "realm") == 0)
		slot = &ch->realm;
	else if (ch->bearer && strcasecmp(name, "service") == 0)
		slot = &ch->service;
	else if (ch->bearer && strcasecmp(name, "scope") == 0)
		slot = &ch->scope;
	if (slot != NULL && *slot == NULL) {
		*slot = value;
		return;
	}
	free(value);
}

/*
 * Parses WWW-Authenticate values and keeps the realm, service and scope of
 * the first Bearer challenge. RFC 7235 separates challenges by commas.
 * Each is a scheme followed by name=value parameters, and a quoted value
 * may contain commas and backslash escapes.
 */
static void
parse_challenge(const char *header, struct challenge *ch)
{
	const char *p = header, *start;
	int seen_bearer = 0;
	char *name;

	memset(ch, 0, sizeof(*ch));
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		start = p;
		while (is_tchar((unsigned char)*p))
			p++;
		if (p == start) {
			if (*p)
				p++;
			continue;
		}
		name = ck_xstrndup(start, (size_t)(p - start));
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '=') {
			for (p++; *p == ' ' || *p == '\t'; p++)
				;
			set_param(ch, name, read_value(&p));
		} else {
			/* A name without '=' starts a new challenge. */
			ch->bearer = !seen_bearer &&
				     strcasecmp(name, "Bearer") == 0;
			seen_bearer |= ch->bearer;
		}
		free(name);
	}
}

static void
challenge_free(struct challenge *ch)
{
	free(ch->realm);
	free(ch->service);
	free(ch->scope);
	memset(ch, 0, sizeof(*ch));
}

static char *
token_url(struct ck_registry *reg, const struct challenge *ch)
{
	char *scope = ch->scope ? ck_xstrdup(ch->scope) :
		      ck_asprintf("repository:%s:pull", reg->repo);
	char *esc_scope = curl_easy_escape(reg->curl, scope, 0);
	char *esc_service = ch->service ?
			    curl_easy_escape(reg->curl, ch->service, 0) : NULL;
	char sep = strchr(ch->realm, '?') ? '&' : '?';
	char *url;

	if (esc_scope == NULL || (ch->service && esc_service == NULL))
		CK_BUG("curl_easy_escape failed");
	if (esc_service != NULL)
		url = ck_asprintf("%s%cservice=%s&scope=%s", ch->realm, sep,
				  esc_service, esc_scope);
	else
		url = ck_asprintf("%s%cscope=%s", ch->realm, sep, esc_scope);
	curl_free(esc_scope);
	curl_free(esc_service);
	free(scope);
	return url;
}

/* Takes "token", or "access_token" as OAuth 2 servers name it. */
static int
parse_token(struct ck_registry *reg, const char *realm, const char *body,
	    size_t len, struct ck_err **errp)
{
	json_t *j = json_loadb(body, len, 0, NULL);
	json_t *t = json_object_get(j, "token");
	const char *s;
	size_t i;

	if (!json_is_string(t) || *json_string_value(t) == '\0')
		t = json_object_get(j, "access_token");
	if (!json_is_string(t) || *json_string_value(t) == '\0') {
		json_decref(j);
		return ck_err_set(errp, 0, "token server '%s' returned no "
				  "token", realm);
	}
	s = json_string_value(t);
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			break;
	if (s[i] == '\0')
		reg->token = ck_xstrdup(s);
	json_decref(j);
	if (reg->token == NULL)
		return ck_err_set(errp, 0, "token server '%s' returned a "
				  "token with invalid characters", realm);
	return 0;
}

static int
fetch_token(struct ck_registry *reg, const struct challenge *ch,
	    struct ck_err **errp)
{
	struct response r = { .body_max = TOKEN_BODY_MAX };
	char *url = token_url(reg, ch);
	char *host = url_host(ch->realm);
	int rc = -1;

	ck_log(CK_LOG_INFO, "fetching an anonymous token from '%s'", host);
	if (fetch(reg, url, NULL, &r, errp) < 0)
		ck_err_wrap(errp, "token for registry '%s'", reg->host);
	else if (r.status != 200)
		ck_err_set(errp, 0, "token server '%s' returned HTTP %ld for "
			   "anonymous access to '%s'", host, r.status,
			   reg->repo);
	else
		rc = parse_token(reg, host, r.body.data, r.body.len, errp);
	response_free(&r);
	free(host);
	free(url);
	return rc;
}

/* Fetches a token for the challenge of a 401 from the registry. */
static int
authenticate(struct ck_registry *reg, const struct response *r,
	     struct ck_err **errp)
{
	struct challenge ch;
	int rc;

	if (reg->token != NULL) {
		explicit_bzero(reg->token, strlen(reg->token));
		free(reg->token);
		reg->token = NULL;
	}
	parse_challenge(r->challenge.data ? r->challenge.data : "", &ch);
	if (ch.realm == NULL) {
		challenge_free(&ch);
		return ck_err_set(errp, 0, "registry '%s' requires "
				  "credentials, and cpull supports only "
				  "anonymous bearer tokens", reg->host);
	}
	if (!ck_has_prefix(ch.realm, "https://") &&
	    !ck_has_prefix(ch.realm, "http://")) {
		char *realm = printable(ch.realm, DETAIL_MAX);

		ck_err_set(errp, 0, "registry '%s' sent an invalid token "
			   "realm '%s'", reg->host, realm);
		free(realm);
		challenge_free(&ch);
		return -1;
	}
	rc = fetch_token(reg, &ch, errp);
	challenge_free(&ch);
	return rc;
}

/* The first message of a registry's {"errors": [...]} body, or NULL. */
static char *
registry_detail(const struct response *r)
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
		s = printable(json_string_value(msg), DETAIL_MAX);
	json_decref(j);
	return s;
}

static int
status_error(struct ck_registry *reg, const struct response *r,
	     const char *subject, const char *hint, struct ck_err **errp)
{
	char *detail = registry_detail(r);
	char *extra = detail ? ck_asprintf(" (%s)", detail) : ck_xstrdup("");

	if (r->status == 404)
		ck_err_setc(errp, CK_E_NOTFOUND, 0, "%s of repository '%s' "
			    "not found at registry '%s'%s%s", subject,
			    reg->repo, reg->host, extra, hint ? hint : "");
	else if (r->status == 401 || r->status == 403)
		ck_err_set(errp, 0, "registry '%s' denied anonymous access to "
			   "repository '%s'%s: it may be private or not "
			   "exist", reg->host, reg->repo, extra);
	else if (r->status == 429)
		ck_err_set(errp, 0, "registry '%s' rejected the request: too "
			   "many requests (HTTP 429)%s; wait and try again",
			   reg->host, extra);
	else
		ck_err_set(errp, 0, "registry '%s' returned HTTP %ld for %s "
			   "of repository '%s'%s", reg->host, r->status,
			   subject, reg->repo, extra);
	free(detail);
	free(extra);
	return -1;
}

/* GETs /v2/<repo>/<path>, and again with a token after a 401. */
static int
request(struct ck_registry *reg, const char *path, const char *accept,
	struct response *r, struct ck_err **errp)
{
	char *url = ck_asprintf("%s/v2/%s/%s", reg->base, reg->repo, path);
	int authed = 0, rc;

	for (;;) {
		rc = fetch(reg, url, accept, r, errp);
		if (rc < 0 || r->status != 401 || !r->at_registry || authed)
			break;
		authed = 1;
		rc = authenticate(reg, r, errp);
		if (rc < 0)
			break;
	}
	free(url);
	return rc;
}

int
ck_registry_get_manifest(struct ck_registry *reg, const char *object,
			 struct ck_registry_manifest *m, struct ck_err **errp)
{
	struct response r = { .body_max = CK_MANIFEST_MAX };
	int is_digest = ck_has_prefix(object, "sha256:");
	char *path = ck_asprintf("manifests/%s", object);
	char *subject;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = request(reg, path, accept_manifests, &r, errp);
	free(path);
	if (rc == 0 && r.status != 200) {
		subject = ck_asprintf("%s '%s'", is_digest ? "manifest" : "tag",
				      object);
		rc = status_error(reg, &r, subject, is_digest ? NULL :
				  "; check the repository name and the tag",
				  errp);
		free(subject);
	}
	if (rc == 0) {
		m->data = r.body.data ? r.body.data : ck_xstrdup("");
		m->len = r.body.len;
		m->content_type = r.content_type;
		m->digest = r.digest;
		memset(&r.body, 0, sizeof(r.body));
		r.content_type = NULL;
		r.digest = NULL;
	}
	response_free(&r);
	return rc;
}

void
ck_registry_manifest_free(struct ck_registry_manifest *m)
{
	free(m->data);
	free(m->content_type);
	free(m->digest);
	memset(m, 0, sizeof(*m));
}

int
ck_registry_get_blob(struct ck_registry *reg, const char *digest,
		     ck_registry_write_fn write, void *arg,
		     struct ck_err **errp)
{
	struct response r = { .write = write, .arg = arg };
	char *path = ck_asprintf("blobs/%s", digest);
	char *subject;
	int rc;

	rc = request(reg, path, NULL, &r, errp);
	free(path);
	if (rc == 0 && r.status != 200) {
		subject = ck_asprintf("blob '%s'", digest);
		rc = status_error(reg, &r, subject, NULL, errp);
		free(subject);
	}
	response_free(&r);
	return rc;
}
