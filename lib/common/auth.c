/* SPDX-License-Identifier: Apache-2.0 */
/*
 * WWW-Authenticate parsing and credential lookup for the registry client.
 * Secrets are wiped with explicit_bzero before their memory is freed, and
 * no message built here contains one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "auth.h"
#include "util.h"

#define CONFIG_MAX (4 * 1024 * 1024)
#define HELPER_OUTPUT_MAX (64 * 1024)
#define HELPER_TIMEOUT_MS 30000
#define DOCKER_HUB_SERVER "https://index.docker.io/v1/"

extern char **environ;

static int
is_tchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int
is_token68_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || (c && strchr("-._~+/", c));
}

static const char *
skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static char *
lower_dup(const char *s, size_t n)
{
	char *d = ck_xstrndup(s, n);
	size_t i;

	for (i = 0; d[i]; i++)
		if (d[i] >= 'A' && d[i] <= 'Z')
			d[i] = (char)(d[i] - 'A' + 'a');
	return d;
}

/* Reads a quoted-string at *p (on the opening quote). NULL when the
 * closing quote is missing. */
static char *
read_quoted(const char **p)
{
	struct ck_buf b = { 0 };
	const char *s = *p + 1;

	ck_buf_add(&b, "", 0);
	for (; *s && *s != '"'; s++) {
		if (*s == '\\') {
			if (s[1] == '\0')
				break;
			s++;
		}
		ck_buf_add(&b, s, 1);
	}
	if (*s != '"') {
		ck_buf_free(&b);
		return NULL;
	}
	*p = s + 1;
	return b.data;
}

/* Whether p starts a bare scope action, such as "push" in the unquoted
 * "scope=repository:app:pull,push": a word that ends the list or is
 * followed by another comma, not by "=" or a parameter. */
static size_t
scope_action_len(const char *p)
{
	size_t n = 0;

	while ((p[n] >= 'a' && p[n] <= 'z') || p[n] == '*')
		n++;
	if (n == 0)
		return 0;
	if (p[n] == '\0' || p[n] == ',')
		return n;
	return 0;
}

/*
 * Reads an unquoted value: up to the next comma or blank, which also
 * accepts an unquoted URL. An unquoted scope keeps the comma-separated
 * actions that follow it.
 */
static char *
read_unquoted(const char **p, const char *name)
{
	const char *s = *p;
	size_t n;

	s += strcspn(s, ", \t");
	while (strcmp(name, "scope") == 0 && *s == ',' &&
	       (n = scope_action_len(s + 1)) > 0)
		s += 1 + n;
	n = (size_t)(s - *p);
	*p = s;
	return ck_xstrndup(s - n, n);
}

static void
add_param(struct ck_auth_challenge *c, char *name, char *value)
{
	if (ck_auth_param(c, name) != NULL) {
		free(name);
		free(value);
		return;
	}
	c->params = ck_xrealloc(c->params,
				(c->n_params + 1) * sizeof(*c->params));
	c->params[c->n_params].name = name;
	c->params[c->n_params].value = value;
	c->n_params++;
}

static struct ck_auth_challenge *
add_challenge(struct ck_auth_challenge **list, size_t *n, char *scheme)
{
	struct ck_auth_challenge *c;

	*list = ck_xrealloc(*list, (*n + 1) * sizeof(**list));
	c = &(*list)[(*n)++];
	memset(c, 0, sizeof(*c));
	c->scheme = scheme;
	return c;
}

/* Reads "token68" right after a scheme when it is the only value there. */
static const char *
read_token68(const char *p, struct ck_auth_challenge *c)
{
	const char *s = p, *end;

	while (is_token68_char((unsigned char)*s))
		s++;
	if (s == p)
		return p;
	while (*s == '=')
		s++;
	end = skip_ows(s);
	if (*end != '\0' && *end != ',')
		return p;
	c->token68 = ck_xstrndup(p, (size_t)(s - p));
	return end;
}

void
ck_auth_parse(const char *value, struct ck_auth_challenge **list,
	      size_t *n)
{
	struct ck_auth_challenge *cur = NULL;
	const char *p = value, *start;
	char *name, *v;

	while (*p) {
		p = skip_ows(p);
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p == '\0')
			break;
		start = p;
		while (is_tchar((unsigned char)*p))
			p++;
		if (p == start)
			return;
		name = lower_dup(start, (size_t)(p - start));
		p = skip_ows(p);
		if (*p != '=' || cur == NULL) {
			/* A name without "=" starts a new challenge. */
			cur = add_challenge(list, n, name);
			if (*p != ',' && *p != '\0')
				p = read_token68(p, cur);
			continue;
		}
		p = skip_ows(p + 1);
		v = *p == '"' ? read_quoted(&p) : read_unquoted(&p, name);
		if (v == NULL) {
			free(name);
			return;
		}
		add_param(cur, name, v);
		p = skip_ows(p);
		if (*p != ',' && *p != '\0')
			return;
	}
}

const char *
ck_auth_param(const struct ck_auth_challenge *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->n_params; i++)
		if (strcasecmp(c->params[i].name, name) == 0)
			return c->params[i].value;
	return NULL;
}

const struct ck_auth_challenge *
ck_auth_find(const struct ck_auth_challenge *list, size_t n,
	     const char *scheme)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i].scheme, scheme) == 0)
			return &list[i];
	return NULL;
}

void
ck_auth_free(struct ck_auth_challenge *list, size_t n)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < list[i].n_params; j++) {
			free(list[i].params[j].name);
			free(list[i].params[j].value);
		}
		free(list[i].params);
		free(list[i].scheme);
		free(list[i].token68);
	}
	free(list);
}

static void
free_secret(char *s)
{
	if (s == NULL)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

void
ck_creds_free(struct ck_creds *c)
{
	free(c->username);
	free_secret(c->secret);
	free(c->source);
	memset(c, 0, sizeof(*c));
}

void
ck_creds_copy(struct ck_creds *dst, const struct ck_creds *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->username = src->username ? ck_xstrdup(src->username) : NULL;
	dst->secret = src->secret ? ck_xstrdup(src->secret) : NULL;
	dst->identity_token = src->identity_token;
	dst->source = src->source ? ck_xstrdup(src->source) : NULL;
}

int
ck_creds_from_user(const char *user, struct ck_creds *c,
		   struct ck_err **errp)
{
	const char *colon = strchr(user, ':');
	const char *pass;

	memset(c, 0, sizeof(*c));
	if (colon == user || *user == '\0')
		return ck_err_setc(errp, CK_E_INVALID, 0, "invalid --user: "
				   "expected USER or USER:PASSWORD");
	if (colon != NULL) {
		c->username = ck_xstrndup(user, (size_t)(colon - user));
		c->secret = ck_xstrdup(colon + 1);
	} else {
		pass = getenv("CKIT_PASSWORD");
		if (pass == NULL)
			return ck_err_setc(errp, CK_E_INVALID, 0, "no password "
					   "for user '%s': give --user "
					   "USER:PASSWORD or set CKIT_PASSWORD",
					   user);
		c->username = ck_xstrdup(user);
		c->secret = ck_xstrdup(pass);
	}
	c->source = ck_xstrdup("--user");
	return 0;
}

static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
ck_base64_encode(const void *data, size_t len)
{
	const unsigned char *in = data;
	char *out = ck_xmalloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;
	unsigned v;

	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		*o++ = b64_chars[v >> 18 & 63];
		*o++ = b64_chars[v >> 12 & 63];
		*o++ = b64_chars[v >> 6 & 63];
		*o++ = b64_chars[v & 63];
	}
	if (i < len) {
		v = (unsigned)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		*o++ = b64_chars[v >> 18 & 63];
		*o++ = b64_chars[v >> 12 & 63];
		*o++ = i + 1 < len ? b64_chars[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

int
ck_base64_decode(const char *s, char **out, size_t *len)
{
	size_t n = strlen(s), i, bits = 0, o = 0;
	unsigned acc = 0;
	const char *pos;
	char *buf;

	while (n > 0 && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return -1;
	buf = ck_xmalloc(n / 4 * 3 + 3);
	for (i = 0; i < n; i++) {
		pos = s[i] ? strchr(b64_chars, s[i]) : NULL;
		if (pos == NULL) {
			explicit_bzero(buf, n / 4 * 3 + 3);
			free(buf);
			return -1;
		}
		acc = acc << 6 | (unsigned)(pos - b64_chars);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (char)(acc >> bits & 0xff);
		}
	}
	buf[o] = '\0';
	*out = buf;
	*len = o;
	return 0;
}

/* "https://host:port/v1/" → "host:port", lower case. */
static char *
config_key_host(const char *key)
{
	const char *p = key;

	if (strncasecmp(p, "https://", 8) == 0)
		p += 8;
	else if (strncasecmp(p, "http://", 7) == 0)
		p += 7;
	return lower_dup(p, strcspn(p, "/"));
}

static int
is_docker_hub(const char *host)
{
	return strcasecmp(host, "docker.io") == 0 ||
	       strcasecmp(host, "index.docker.io") == 0 ||
	       strcasecmp(host, "registry-1.docker.io") == 0;
}

/* Whether a config.json key names host, as Docker's CLI compares them. */
static int
key_matches(const char *key, const char *host)
{
	char *k = config_key_host(key);
	int rc = strcasecmp(k, host) == 0 ||
		 (is_docker_hub(host) && is_docker_hub(k));

	free(k);
	return rc;
}

static json_t *
find_entry(json_t *obj, const char *host)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v)
		if (key_matches(key, host))
			return v;
	return NULL;
}

/* Takes "auth" (base64 of user:password), else username and password,
 * else identitytoken, from one "auths" entry. */
static int
creds_from_entry(json_t *e, const char *path, const char *host,
		 struct ck_creds *c, struct ck_err **errp)
{
	const char *auth = json_string_value(json_object_get(e, "auth"));
	const char *user = json_string_value(json_object_get(e, "username"));
	const char *pass = json_string_value(json_object_get(e, "password"));
	const char *id = json_string_value(json_object_get(e,
							   "identitytoken"));
	char *plain, *colon;
	size_t len;

	if (auth != NULL && *auth != '\0') {
		if (ck_base64_decode(auth, &plain, &len) < 0)
			plain = NULL;
		colon = plain ? strchr(plain, ':') : NULL;
		if (colon == NULL || strlen(plain) != len) {
			free_secret(plain);
			return ck_err_setc(errp, CK_E_INVALID, 0, "invalid "
					   "\"auth\" for '%s' in '%s': "
					   "expected base64 of USER:PASSWORD",
					   host, path);
		}
		c->username = ck_xstrndup(plain, (size_t)(colon - plain));
		c->secret = ck_xstrdup(colon + 1);
		free_secret(plain);
	} else if (user != NULL && pass != NULL && *user != '\0') {
		c->username = ck_xstrdup(user);
		c->secret = ck_xstrdup(pass);
	}
	if (id != NULL && *id != '\0') {
		free_secret(c->secret);
		c->secret = ck_xstrdup(id);
		c->identity_token = 1;
	}
	if (c->secret != NULL)
		c->source = ck_xstrdup(path);
	return 0;
}

/* Writes input to fd and closes it. A helper that exits without reading
 * gives EPIPE, which is ignored because its exit status reports the outcome. */
static void
write_all(int fd, const char *input)
{
	size_t left = strlen(input);
	ssize_t n;

	while (left > 0) {
		n = write(fd, input, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		input += n;
		left -= (size_t)n;
	}
	close(fd);
}

/* Reads fd to its end within HELPER_TIMEOUT_MS. Returns -1 on timeout. */
static int
read_output(int fd, struct ck_buf *out)
{
	struct timespec start, now;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[4096];
	ssize_t n;
	long elapsed;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed = (now.tv_sec - start.tv_sec) * 1000 +
			  (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed >= HELPER_TIMEOUT_MS)
			return -1;
		if (poll(&pfd, 1, (int)(HELPER_TIMEOUT_MS - elapsed)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		if (out->len + (size_t)n <= HELPER_OUTPUT_MAX)
			ck_buf_add(out, buf, (size_t)n);
	}
}

/* Runs "docker-credential-<name> get" with server on stdin. Returns the
 * exit status, or -1 with *errp set. */
static int
run_helper(const char *prog, const char *server, struct ck_buf *out,
	   struct ck_err **errp)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { (char *)prog, "get", NULL };
	int in[2], outp[2], status, timed_out;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0)
		return ck_err_set(errp, errno, "pipe");
	if (pipe2(outp, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return ck_err_set(errp, errno, "pipe");
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	errno = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(outp[1]);
	if (errno != 0) {
		int e = errno;

		close(in[1]);
		close(outp[0]);
		return ck_err_set(errp, e, "run credential helper '%s'", prog);
	}
	/* A helper that dies before reading must not kill us with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	write_all(in[1], server);
	timed_out = read_output(outp[0], out) < 0;
	close(outp[0]);
	if (timed_out)
		kill(pid, SIGKILL);
	ck_wait_pid(pid, &status);
	if (timed_out)
		return ck_err_set(errp, 0, "credential helper '%s' did not "
				  "finish within %d seconds", prog,
				  HELPER_TIMEOUT_MS / 1000);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Copies the helper's first output line with control bytes replaced,
 * for an error message. Helpers print their errors on stdout. */
static char *
helper_message(const struct ck_buf *out)
{
	size_t n = out->len ? strcspn(out->data, "\n") : 0, i;
	char *s = ck_xstrndup(out->len ? out->data : "", n > 200 ? 200 : n);

	for (i = 0; s[i]; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			s[i] = '?';
	return s;
}

static int
creds_from_helper(const char *name, const char *host, struct ck_creds *c,
		  struct ck_err **errp)
{
	char *prog, *msg;
	const char *server = is_docker_hub(host) ? DOCKER_HUB_SERVER : host;
	const char *user, *secret;
	struct ck_buf out = { 0 };
	json_t *j;
	int st;

	if (*name == '\0' || strspn(name, "abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
	    != strlen(name))
		return ck_err_setc(errp, CK_E_INVALID, 0, "invalid credential "
				   "helper name '%s' for '%s'", name, host);
	prog = ck_asprintf("docker-credential-%s", name);
	st = run_helper(prog, server, &out, errp);
	if (st != 0) {
		msg = helper_message(&out);
		if (st > 0 && strstr(msg, "credentials not found") != NULL)
			st = 0;
		else if (st > 0)
			ck_err_set(errp, 0, "credential helper '%s' failed "
				   "for '%s' with status %d: %s", prog, host,
				   st, msg);
		free(msg);
		if (out.data)
			explicit_bzero(out.data, out.len);
		ck_buf_free(&out);
		free(prog);
		return st == 0 ? 0 : -1;
	}
	j = json_loadb(out.data ? out.data : "", out.len, 0, NULL);
	if (out.data)
		explicit_bzero(out.data, out.len);
	ck_buf_free(&out);
	user = json_string_value(json_object_get(j, "Username"));
	secret = json_string_value(json_object_get(j, "Secret"));
	if (secret == NULL || *secret == '\0') {
		json_decref(j);
		ck_err_set(errp, 0, "credential helper '%s' returned no "
			   "\"Secret\" for '%s'", prog, host);
		free(prog);
		return -1;
	}
	if (user == NULL || *user == '\0' || strcmp(user, "<token>") == 0) {
		c->identity_token = 1;
	} else {
		c->username = ck_xstrdup(user);
	}
	c->secret = ck_xstrdup(secret);
	c->source = ck_asprintf("credential helper '%s'", prog);
	/* jansson keeps the secret in its own copy; wipe it too. */
	explicit_bzero((char *)secret, strlen(secret));
	json_decref(j);
	free(prog);
	return 0;
}

static char *
config_path(void)
{
	const char *dir = getenv("DOCKER_CONFIG"), *home = getenv("HOME");

	if (dir != NULL && *dir != '\0')
		return ck_asprintf("%s/config.json", dir);
	if (home != NULL && *home != '\0')
		return ck_asprintf("%s/.docker/config.json", home);
	return NULL;
}

static int
lookup_in_config(json_t *cfg, const char *path, const char *host,
		 struct ck_creds *c, struct ck_err **errp)
{
	json_t *helper = find_entry(json_object_get(cfg, "credHelpers"), host);
	json_t *store = json_object_get(cfg, "credsStore");
	json_t *entry = find_entry(json_object_get(cfg, "auths"), host);

	if (json_is_string(helper))
		return creds_from_helper(json_string_value(helper), host, c,
					 errp);
	if (json_is_string(store) && *json_string_value(store) != '\0') {
		if (creds_from_helper(json_string_value(store), host, c,
				      errp) < 0)
			return -1;
		if (c->secret != NULL)
			return 0;
	}
	if (json_is_object(entry))
		return creds_from_entry(entry, path, host, c, errp);
	return 0;
}

int
ck_creds_lookup(const char *host, struct ck_creds *c, struct ck_err **errp)
{
	char *path = config_path(), *data = NULL;
	json_error_t jerr;
	json_t *cfg;
	size_t len;
	int rc;

	memset(c, 0, sizeof(*c));
	if (path == NULL)
		return 0;
	if (ck_read_file(path, CONFIG_MAX, &data, &len, errp) < 0) {
		rc = errp && *errp && (*errp)->errnum == ENOENT ? 0 : -1;
		if (rc == 0)
			ck_err_free(errp);
		free(path);
		return rc;
	}
	cfg = json_loadb(data, len, 0, &jerr);
	explicit_bzero(data, len);
	free(data);
	if (!json_is_object(cfg)) {
		ck_err_setc(errp, CK_E_INVALID, 0, "invalid Docker config "
			    "'%s': %d:%d: %s", path, jerr.line, jerr.column,
			    cfg ? "expected an object" : jerr.text);
		json_decref(cfg);
		free(path);
		return -1;
	}
	rc = lookup_in_config(cfg, path, host, c, errp);
	json_decref(cfg);
	if (rc < 0)
		ck_creds_free(c);
	free(path);
	return rc;
}
