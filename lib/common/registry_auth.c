/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registry authentication: handles a 401 from an origin with HTTP Basic or
 * with a bearer token from the challenge's realm (Docker's token protocol,
 * GET with Basic credentials or anonymous; POST with an identity token).
 * Tokens are cached per origin and scope until they expire, so a pull
 * requests one token per scope. Neither a secret nor a token is ever
 * logged, and credentials go over plain HTTP only to loopback hosts or
 * with --plain-http.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "registry_int.h"

#define TOKEN_BODY_MAX (1024 * 1024)
#define TOKEN_DEFAULT_TTL 60	/* seconds, when expires_in is missing */
#define ISSUED_AT_SKEW_MAX 300	/* seconds of clock skew trusted */

void
reg_free_secret(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static time_t
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Called with reg->lock held. */
static struct reg_origin *
find_origin(struct ck_registry *reg, const char *origin, int create)
{
	struct reg_origin *o;
	size_t i;

	for (i = 0; i < reg->n_origins; i++)
		if (strcmp(reg->origins[i].origin, origin) == 0)
			return &reg->origins[i];
	if (!create)
		return NULL;
	reg->origins = ck_xrealloc(reg->origins, (reg->n_origins + 1) *
				   sizeof(*reg->origins));
	o = &reg->origins[reg->n_origins++];
	memset(o, 0, sizeof(*o));
	o->origin = ck_xstrdup(origin);
	return o;
}

/* Called with reg->lock held. */
static struct reg_token *
find_token(struct ck_registry *reg, const char *origin, const char *scope)
{
	size_t i;

	for (i = 0; i < reg->n_tokens; i++)
		if (strcmp(reg->tokens[i].origin, origin) == 0 &&
		    strcmp(reg->tokens[i].scope, scope ? scope : "") == 0)
			return &reg->tokens[i];
	return NULL;
}

static void
store_token(struct ck_registry *reg, const char *origin, const char *scope,
	    char *value, time_t expires)
{
	struct reg_token *t;

	pthread_mutex_lock(&reg->lock);
	t = find_token(reg, origin, scope);
	if (t == NULL) {
		reg->tokens = ck_xrealloc(reg->tokens, (reg->n_tokens + 1) *
					  sizeof(*reg->tokens));
		t = &reg->tokens[reg->n_tokens++];
		t->origin = ck_xstrdup(origin);
		t->scope = ck_xstrdup(scope ? scope : "");
	} else {
		reg_free_secret(t->value);
	}
	t->value = value;
	t->expires = expires;
	pthread_mutex_unlock(&reg->lock);
}

void
reg_auth_free(struct ck_registry *reg)
{
	size_t i;

	for (i = 0; i < reg->n_origins; i++) {
		free(reg->origins[i].origin);
		free(reg->origins[i].realm);
		free(reg->origins[i].service);
		ck_creds_free(&reg->origins[i].creds);
	}
	free(reg->origins);
	for (i = 0; i < reg->n_tokens; i++) {
		free(reg->tokens[i].origin);
		free(reg->tokens[i].scope);
		reg_free_secret(reg->tokens[i].value);
	}
	free(reg->tokens);
}

/* One scope, "repository:<name>:<actions>": the resource and its actions. */
struct scope {
	char *resource;		/* "repository:<name>" */
	char *actions;		/* "pull,push" */
};

static void
add_action(struct scope *sc, const char *action, size_t n)
{
	const char *p = sc->actions;
	size_t m;
	char *joined;

	while (*p) {
		m = strcspn(p, ",");
		if (m == n && strncmp(p, action, n) == 0)
			return;
		p += m + (p[m] == ',');
	}
	joined = ck_asprintf("%s%s%.*s", sc->actions, *sc->actions ? "," : "",
			     (int)n, action);
	free(sc->actions);
	sc->actions = joined;
}

/* Adds one scope word to the list, merging its actions into a scope of
 * the same resource. */
static void
add_scope(struct scope **list, size_t *n, const char *word, size_t len)
{
	const char *colon = memrchr(word, ':', len), *p, *end = word + len;
	char *resource;
	size_t i, m;

	if (colon == NULL)
		colon = end;
	resource = ck_xstrndup(word, (size_t)(colon - word));
	for (i = 0; i < *n; i++)
		if (strcmp((*list)[i].resource, resource) == 0)
			break;
	if (i == *n) {
		*list = ck_xrealloc(*list, (*n + 1) * sizeof(**list));
		(*list)[i].resource = resource;
		(*list)[i].actions = ck_xstrdup("");
		(*n)++;
	} else {
		free(resource);
	}
	for (p = colon < end ? colon + 1 : end; p < end; p += m + 1) {
		m = strcspn(p, ",");
		if (p + m > end)
			m = (size_t)(end - p);
		if (m > 0)
			add_action(&(*list)[i], p, m);
	}
}

/* The scopes of a and then b, space-separated, with the actions of one
 * resource merged: "repository:x:pull" and "repository:x:pull,push" give
 * "repository:x:pull,push". */
static char *
scope_union(const char *a, const char *b)
{
	const char *lists[2] = { a, b }, *p;
	struct scope *list = NULL;
	struct ck_buf out = { 0 };
	size_t n = 0, len, i;

	for (i = 0; i < 2; i++) {
		for (p = lists[i]; p != NULL && *p; p += len) {
			p += strspn(p, " ");
			len = strcspn(p, " ");
			if (len > 0)
				add_scope(&list, &n, p, len);
		}
	}
	ck_buf_add(&out, "", 0);
	for (i = 0; i < n; i++) {
		ck_buf_addf(&out, "%s%s%s%s", i ? " " : "", list[i].resource,
			    *list[i].actions ? ":" : "", list[i].actions);
		free(list[i].resource);
		free(list[i].actions);
	}
	free(list);
	return out.data;
}

/* "host[:port]" of an origin, without the scheme's default port, as
 * Docker's config.json names hosts. */
static char *
origin_host(const char *origin)
{
	const char *h = strstr(origin, "://");
	const char *port;
	size_t n;

	h = h ? h + 3 : origin;
	port = strrchr(h, ':');
	n = strlen(h);
	if (port != NULL && ((ck_has_prefix(origin, "https:") &&
			      strcmp(port, ":443") == 0) ||
			     (ck_has_prefix(origin, "http:") &&
			      strcmp(port, ":80") == 0)))
		n = (size_t)(port - h);
	return ck_xstrndup(h, n);
}

static char *
basic_header(const struct ck_creds *cr)
{
	char *plain = ck_asprintf("%s:%s", cr->username, cr->secret);
	char *b64 = ck_base64_encode(plain, strlen(plain));
	char *line = ck_asprintf("Authorization: Basic %s", b64);

	reg_free_secret(plain);
	reg_free_secret(b64);
	return line;
}

/* Remaining lifetime of a token, from expires_in and issued_at. */
static time_t
token_ttl(json_t *j)
{
	json_t *e = json_object_get(j, "expires_in");
	const char *issued = json_string_value(json_object_get(j,
							       "issued_at"));
	long ttl = json_is_integer(e) && json_integer_value(e) > 0 ?
		   (long)json_integer_value(e) : TOKEN_DEFAULT_TTL;
	struct tm tm = { 0 };
	long age;

	if (issued != NULL && strptime(issued, "%Y-%m-%dT%H:%M:%S", &tm)) {
		age = (long)(time(NULL) - timegm(&tm));
		/* A clock far off from the server's is not trusted. */
		if (age > 0 && age < ISSUED_AT_SKEW_MAX)
			ttl -= age;
	}
	/* Leave a margin for the time the next request takes. */
	ttl -= ttl / 10 < 10 ? ttl / 10 : 10;
	return ttl > 0 ? ttl : 0;
}

/* Takes "token", or "access_token" as OAuth 2 servers name it. */
static int
parse_token(const char *host, const char *body, size_t len, char **token,
	    time_t *expires, struct ck_err **errp)
{
	json_t *j = json_loadb(body ? body : "", len, 0, NULL);
	json_t *t = json_object_get(j, "token");
	const char *s;
	size_t i;

	if (!json_is_string(t) || *json_string_value(t) == '\0')
		t = json_object_get(j, "access_token");
	if (!json_is_string(t) || *json_string_value(t) == '\0') {
		json_decref(j);
		return ck_err_set(errp, 0, "token server '%s' returned no "
				  "token", host);
	}
	s = json_string_value(t);
	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			break;
	if (s[i] != '\0') {
		json_decref(j);
		return ck_err_set(errp, 0, "token server '%s' returned a "
				  "token with invalid characters", host);
	}
	*token = ck_xstrdup(s);
	*expires = mono_now() + token_ttl(j);
	explicit_bzero((char *)s, strlen(s));
	json_decref(j);
	return 0;
}

struct token_call {
	const char *realm;
	const char *service;
	const char *scope;	/* space-separated */
	const struct ck_creds *creds;
	const char *repo;
};

static void
add_query(struct ck_buf *b, const char *name, const char *value)
{
	char *esc = curl_easy_escape(NULL, value, 0);

	if (esc == NULL)
		CK_BUG("curl_easy_escape failed");
	ck_buf_addf(b, "%s%s=%s", b->len ? "&" : "", name, esc);
	curl_free(esc);
}

/* service=…&scope=…&scope=… for the GET, or the form for the POST. */
static char *
token_query(const struct token_call *tc, int form)
{
	struct ck_buf b = { 0 };
	const char *p;
	char *one;
	size_t n;

	ck_buf_add(&b, "", 0);
	if (tc->service != NULL)
		add_query(&b, "service", tc->service);
	if (form) {
		if (tc->scope != NULL && *tc->scope)
			add_query(&b, "scope", tc->scope);
		add_query(&b, "client_id", "ckit");
		add_query(&b, "grant_type", "refresh_token");
		add_query(&b, "refresh_token", tc->creds->secret);
		return b.data;
	}
	for (p = tc->scope; p != NULL && *p; p += n) {
		p += strspn(p, " ");
		n = strcspn(p, " ");
		if (n == 0)
			break;
		one = ck_xstrndup(p, n);
		add_query(&b, "scope", one);
		free(one);
	}
	return b.data;
}

static int
token_status_error(const struct token_call *tc, const char *host,
		   long status, struct ck_err **errp)
{
	const struct ck_creds *cr = tc->creds;

	if ((status == 401 || status == 403) && cr != NULL && cr->secret)
		return ck_err_set(errp, 0, "token server '%s' rejected %s%s%s "
				  "(HTTP %ld); check the credentials from %s",
				  host, cr->username ? "the credentials of "
				  "user '" : "the identity token",
				  cr->username ? cr->username : "",
				  cr->username ? "'" : "", status, cr->source);
	if (status == 401 || status == 403)
		return ck_err_set(errp, 0, "token server '%s' returned HTTP "
				  "%ld for anonymous access to '%s': the "
				  "repository may be private; give "
				  "credentials with --user or docker login",
				  host, status, tc->repo);
	return ck_err_set(errp, 0, "token server '%s' returned HTTP %ld",
			  host, status);
}

/* Refuses to send a secret in clear text to a host other than loopback,
 * unless --plain-http allows it. */
static int
check_secret_transport(const struct ck_registry *reg, const char *url,
		       const struct ck_creds *cr, struct ck_err **errp)
{
	char *host;
	int rc = 0;

	if (cr == NULL || cr->secret == NULL || reg->plain_http ||
	    !ck_has_prefix(url, "http:"))
		return 0;
	host = reg_url_host(url);
	if (!ck_registry_host_is_loopback(host))
		rc = ck_err_set(errp, 0, "not sending credentials to '%s' "
				"over plain HTTP; use HTTPS or --plain-http",
				host);
	free(host);
	return rc;
}

static int
fetch_token(struct ck_registry *reg, struct reg_conn *c,
	    const struct token_call *tc, char **token, time_t *expires,
	    struct ck_err **errp)
{
	int post = tc->creds && tc->creds->secret && tc->creds->identity_token;
	char *query = token_query(tc, post), *host = reg_url_host(tc->realm);
	struct reg_response r = { .body_max = TOKEN_BODY_MAX };
	struct reg_request rq = {
		.method = post ? "POST" : "GET", .follow = 1,
		.body_max = TOKEN_BODY_MAX, .no_challenge = 1,
	};
	int rc = -1;

	rq.url = post || *query == '\0' ? ck_xstrdup(tc->realm) :
		 ck_asprintf("%s%c%s", tc->realm,
			     strchr(tc->realm, '?') ? '&' : '?', query);
	rq.auth_origin = reg_url_origin(tc->realm);
	if (post)
		rq.postfields = query;
	else if (tc->creds && tc->creds->secret && tc->creds->username)
		rq.auth = basic_header(tc->creds);
	ck_log(CK_LOG_INFO, "fetching a token from '%s'%s", host,
	       tc->creds && tc->creds->secret ? " with credentials" :
	       " anonymously");
	if (check_secret_transport(reg, tc->realm, tc->creds, errp) < 0)
		;
	else if (reg_request(reg, c, &rq, &r, errp) < 0)
		ck_err_wrap(errp, "token for registry '%s'", reg->host);
	else if (r.status != 200)
		token_status_error(tc, host, r.status, errp);
	else
		rc = parse_token(host, r.body.data, r.body.len, token,
				 expires, errp);
	if (r.body.data != NULL)
		explicit_bzero(r.body.data, r.body.len);
	reg_response_free(&r);
	reg_free_secret((char *)rq.auth);
	free((char *)rq.auth_origin);
	reg_free_secret(query);
	free(rq.url);
	free(host);
	return rc;
}

/* Whether the cache has a token for origin and scope that has not
 * expired and is not the rejected one, sent as Authorization line sent. */
static int
have_fresh_token(struct ck_registry *reg, const char *origin,
		 const char *scope, const char *sent)
{
	const char *prefix = "Authorization: Bearer ";
	struct reg_token *t;
	int rc;

	pthread_mutex_lock(&reg->lock);
	t = find_token(reg, origin, scope);
	rc = t != NULL && t->expires > mono_now() &&
	     !(sent != NULL && ck_has_prefix(sent, prefix) &&
	       strcmp(sent + strlen(prefix), t->value) == 0);
	pthread_mutex_unlock(&reg->lock);
	return rc;
}

/* Fetches and caches a token for scope at origin, from what the origin
 * challenged with before, unless another thread has just done so. */
static int
refresh_token(struct ck_registry *reg, struct reg_conn *c, const char *origin,
	      const char *scope, const char *challenge_scope,
	      const char *sent, struct ck_err **errp)
{
	struct token_call tc = { .repo = reg->repo };
	struct ck_creds creds;
	struct reg_origin *o;
	char *realm, *service, *all, *token = NULL;
	time_t expires = 0;
	int rc;

	pthread_mutex_lock(&reg->lock);
	o = find_origin(reg, origin, 0);
	realm = ck_xstrdup(o->realm);
	service = o->service ? ck_xstrdup(o->service) : NULL;
	ck_creds_copy(&creds, &o->creds);
	pthread_mutex_unlock(&reg->lock);

	all = scope_union(challenge_scope, scope);
	tc.realm = realm;
	tc.service = service;
	tc.scope = all;
	tc.creds = &creds;
	/* One token request at a time, so the threads of a concurrent pull
	 * that all need a token share the one the first thread fetched. */
	pthread_mutex_lock(&reg->auth_lock);
	if (have_fresh_token(reg, origin, scope, sent))
		rc = 1;
	else
		rc = fetch_token(reg, c, &tc, &token, &expires, errp);
	if (rc == 0)
		store_token(reg, origin, scope, token, expires);
	pthread_mutex_unlock(&reg->auth_lock);
	ck_creds_free(&creds);
	free(realm);
	free(service);
	free(all);
	return rc < 0 ? -1 : 0;
}

char *
reg_auth_header(struct ck_registry *reg, struct reg_conn *c,
		const char *origin, const struct reg_endpoint *ep,
		const char *scope)
{
	struct reg_origin *o;
	struct reg_token *t;
	char *line = NULL;
	enum reg_scheme scheme;

	(void)ep;
	pthread_mutex_lock(&reg->lock);
	o = find_origin(reg, origin, 0);
	scheme = o ? o->scheme : REG_AUTH_NONE;
	if (scheme == REG_AUTH_BASIC && o->creds.secret && o->creds.username)
		line = basic_header(&o->creds);
	t = scheme == REG_AUTH_BEARER ? find_token(reg, origin, scope) : NULL;
	if (t != NULL && t->expires > mono_now())
		line = ck_asprintf("Authorization: Bearer %s", t->value);
	pthread_mutex_unlock(&reg->lock);
	if (line != NULL || scheme != REG_AUTH_BEARER)
		return line;
	/* The origin wants a token, and none is valid for this scope: ask
	 * before the request, not after a 401. A failure here is reported
	 * by the 401 that follows. */
	if (refresh_token(reg, c, origin, scope, NULL, NULL, NULL) < 0)
		return NULL;
	pthread_mutex_lock(&reg->lock);
	t = find_token(reg, origin, scope);
	if (t != NULL)
		line = ck_asprintf("Authorization: Bearer %s", t->value);
	pthread_mutex_unlock(&reg->lock);
	return line;
}

static int
valid_realm(const struct ck_registry *reg, const char *realm,
	    struct ck_err **errp)
{
	char *p;

	if (ck_has_prefix(realm, "https://") ||
	    ck_has_prefix(realm, "http://"))
		return 0;
	p = reg_printable(realm, REG_DETAIL_MAX);
	ck_err_set(errp, 0, "registry '%s' sent an invalid token realm '%s'",
		   reg->host, p);
	free(p);
	return -1;
}

/* Records the challenge of origin, and its credentials the first time. */
static int
remember_origin(struct ck_registry *reg, const char *origin,
		const struct reg_endpoint *ep, enum reg_scheme scheme,
		const struct ck_auth_challenge *ch, struct ck_err **errp)
{
	struct ck_creds found = { 0 };
	struct reg_origin *o;
	char *host;
	int have;

	pthread_mutex_lock(&reg->lock);
	have = find_origin(reg, origin, 0) != NULL;
	pthread_mutex_unlock(&reg->lock);
	/* A host a redirect led to gets its own credentials, if Docker's
	 * config has any, never the registry's. */
	if (!have && ep == NULL) {
		host = origin_host(origin);
		if (ck_creds_lookup(host, &found, errp) < 0) {
			free(host);
			return -1;
		}
		free(host);
	} else if (!have) {
		ck_creds_copy(&found, &ep->creds);
	}
	pthread_mutex_lock(&reg->lock);
	o = find_origin(reg, origin, 1);
	if (!have) {
		ck_creds_free(&o->creds);
		o->creds = found;
	} else {
		ck_creds_free(&found);
	}
	o->scheme = scheme;
	if (scheme == REG_AUTH_BEARER) {
		free(o->realm);
		free(o->service);
		o->realm = ck_xstrdup(ck_auth_param(ch, "realm"));
		o->service = ck_auth_param(ch, "service") ?
			     ck_xstrdup(ck_auth_param(ch, "service")) : NULL;
	}
	pthread_mutex_unlock(&reg->lock);
	return 0;
}

static int
basic_ready(struct ck_registry *reg, const char *origin,
	    struct ck_err **errp)
{
	struct reg_origin *o;
	char *host = origin_host(origin);
	int ok;

	pthread_mutex_lock(&reg->lock);
	o = find_origin(reg, origin, 0);
	ok = o->creds.secret != NULL && o->creds.username != NULL;
	pthread_mutex_unlock(&reg->lock);
	if (!ok)
		ck_err_set(errp, 0, "registry '%s' requires a user name and "
			   "password (HTTP Basic); give them with --user or "
			   "docker login", host);
	free(host);
	return ok ? 0 : -1;
}

int
reg_authenticate(struct ck_registry *reg, struct reg_conn *c,
		 const char *origin, const struct reg_endpoint *ep,
		 const struct reg_response *r, const char *scope,
		 const char *sent, struct ck_err **errp)
{
	struct ck_auth_challenge *list = NULL;
	const struct ck_auth_challenge *bearer, *basic;
	size_t n = 0, i;
	int rc;

	for (i = 0; i < r->n_challenges; i++)
		ck_auth_parse(r->challenges[i], &list, &n);
	bearer = ck_auth_find(list, n, "bearer");
	if (bearer != NULL && ck_auth_param(bearer, "realm") == NULL)
		bearer = NULL;
	basic = ck_auth_find(list, n, "basic");
	if (bearer != NULL) {
		rc = valid_realm(reg, ck_auth_param(bearer, "realm"), errp);
		if (rc == 0)
			rc = remember_origin(reg, origin, ep, REG_AUTH_BEARER,
					     bearer, errp);
		if (rc == 0)
			rc = refresh_token(reg, c, origin, scope,
					   ck_auth_param(bearer, "scope"),
					   sent, errp);
	} else if (basic != NULL) {
		rc = remember_origin(reg, origin, ep, REG_AUTH_BASIC, basic,
				     errp);
		if (rc == 0)
			rc = basic_ready(reg, origin, errp);
	} else {
		char *host = origin_host(origin);

		rc = ck_err_set(errp, 0, "registry '%s' requires "
				"authentication but sent no Bearer or Basic "
				"challenge", host);
		free(host);
	}
	ck_auth_free(list, n);
	return rc;
}
