/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hosts.toml reading, as containerd 1.6 lays it out: the directory of a
 * registry is <dir>/<host>_<port>_, <dir>/<host>:<port> or <dir>/_default,
 * tried in that order. Relative paths in a hosts.toml are relative to its
 * directory. Wrong types fail with the file, line and column; unknown keys
 * only warn, so that a file written for a newer containerd still works.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "hosts.h"
#include "registry.h"
#include "toml.h"
#include "util.h"

struct hosts_file {
	const char *path;	/* hosts.toml, for messages */
	const char *dir;	/* its directory */
	const char *ns;
	int plain_http;
};

static int
type_error(const struct hosts_file *f, const struct ck_toml *v,
	   const char *key, const char *expected, struct ck_err **errp)
{
	return ck_err_setc(errp, CK_E_INVALID, 0, "%s:%d:%d: invalid '%s': "
			   "expected %s, got %s", f->path, ck_toml_line(v),
			   ck_toml_column(v), key, expected,
			   ck_toml_type_name(ck_toml_type(v)));
}

static char *
abs_path(const struct hosts_file *f, const char *p)
{
	return p[0] == '/' ? ck_xstrdup(p) : ck_asprintf("%s/%s", f->dir, p);
}

static void
add_string(char ***list, size_t *n, char *s)
{
	*list = ck_xrealloc(*list, (*n + 1) * sizeof(**list));
	(*list)[(*n)++] = s;
}

char *
ck_hosts_caps_string(int caps)
{
	struct ck_buf b = { 0 };

	ck_buf_add(&b, "", 0);
	if (caps & CK_HOST_PULL)
		ck_buf_addf(&b, "pull");
	if (caps & CK_HOST_RESOLVE)
		ck_buf_addf(&b, "%sresolve", b.len ? ", " : "");
	if (caps & CK_HOST_PUSH)
		ck_buf_addf(&b, "%spush", b.len ? ", " : "");
	return b.data;
}

static int
read_caps(const struct hosts_file *f, const struct ck_toml *v,
	  struct ck_host *h, struct ck_err **errp)
{
	const struct ck_toml *item;
	const char *s;
	size_t i;

	if (v == NULL) {
		h->caps = CK_HOST_PULL | CK_HOST_RESOLVE | CK_HOST_PUSH;
		return 0;
	}
	if (ck_toml_type(v) != CK_TOML_ARRAY)
		return type_error(f, v, "capabilities", "an array of strings",
				  errp);
	h->caps = 0;
	for (i = 0; i < ck_toml_len(v); i++) {
		item = ck_toml_at(v, i);
		if (ck_toml_type(item) != CK_TOML_STRING)
			return type_error(f, item, "capabilities", "a string",
					  errp);
		s = ck_toml_string(item);
		if (strcasecmp(s, "pull") == 0)
			h->caps |= CK_HOST_PULL;
		else if (strcasecmp(s, "resolve") == 0)
			h->caps |= CK_HOST_RESOLVE;
		else if (strcasecmp(s, "push") == 0)
			h->caps |= CK_HOST_PUSH;
		else
			return ck_err_setc(errp, CK_E_INVALID, 0, "%s:%d:%d: "
					   "unknown capability '%s': expected "
					   "pull, resolve or push", f->path,
					   ck_toml_line(item),
					   ck_toml_column(item), s);
	}
	return 0;
}

static int
read_ca(const struct hosts_file *f, const struct ck_toml *v,
	struct ck_host *h, struct ck_err **errp)
{
	const struct ck_toml *item;
	size_t i;

	if (v == NULL)
		return 0;
	if (ck_toml_type(v) == CK_TOML_STRING) {
		add_string(&h->ca, &h->n_ca, abs_path(f, ck_toml_string(v)));
		return 0;
	}
	if (ck_toml_type(v) != CK_TOML_ARRAY)
		return type_error(f, v, "ca", "a string or an array of strings",
				  errp);
	for (i = 0; i < ck_toml_len(v); i++) {
		item = ck_toml_at(v, i);
		if (ck_toml_type(item) != CK_TOML_STRING)
			return type_error(f, item, "ca", "a string", errp);
		add_string(&h->ca, &h->n_ca,
			   abs_path(f, ck_toml_string(item)));
	}
	return 0;
}

/* Takes the first pair of "client": a file, or a [cert, key] pair. */
static int
read_client(const struct hosts_file *f, const struct ck_toml *v,
	    struct ck_host *h, struct ck_err **errp)
{
	const struct ck_toml *first, *cert, *key;

	if (v == NULL)
		return 0;
	first = ck_toml_type(v) == CK_TOML_ARRAY ? ck_toml_at(v, 0) : v;
	if (first == NULL)
		return 0;
	if (ck_toml_type(first) == CK_TOML_STRING) {
		h->client_cert = abs_path(f, ck_toml_string(first));
	} else if (ck_toml_type(first) == CK_TOML_ARRAY &&
		   ck_toml_len(first) == 2 &&
		   ck_toml_type(cert = ck_toml_at(first, 0)) ==
			   CK_TOML_STRING &&
		   ck_toml_type(key = ck_toml_at(first, 1)) ==
			   CK_TOML_STRING) {
		h->client_cert = abs_path(f, ck_toml_string(cert));
		if (*ck_toml_string(key) != '\0')
			h->client_key = abs_path(f, ck_toml_string(key));
	} else {
		return type_error(f, first, "client", "a file or a [cert, key] "
				  "pair of files", errp);
	}
	if (ck_toml_type(v) == CK_TOML_ARRAY && ck_toml_len(v) > 1)
		ck_log(CK_LOG_WARNING, "%s: only the first client certificate "
		       "is used", f->path);
	return 0;
}

static int
read_headers(const struct hosts_file *f, const struct ck_toml *v,
	     struct ck_host *h, struct ck_err **errp)
{
	const struct ck_toml *val, *item;
	const char *name;
	size_t i, j;

	if (v == NULL)
		return 0;
	if (ck_toml_type(v) != CK_TOML_TABLE)
		return type_error(f, v, "header", "a table", errp);
	for (i = 0; i < ck_toml_len(v); i++) {
		name = ck_toml_key(v, i);
		val = ck_toml_at(v, i);
		if (ck_toml_type(val) == CK_TOML_STRING) {
			add_string(&h->headers, &h->n_headers, ck_asprintf(
				"%s: %s", name, ck_toml_string(val)));
			continue;
		}
		if (ck_toml_type(val) != CK_TOML_ARRAY)
			return type_error(f, val, name, "a string or an array "
					  "of strings", errp);
		for (j = 0; j < ck_toml_len(val); j++) {
			item = ck_toml_at(val, j);
			if (ck_toml_type(item) != CK_TOML_STRING)
				return type_error(f, item, name, "a string",
						  errp);
			add_string(&h->headers, &h->n_headers, ck_asprintf(
				"%s: %s", name, ck_toml_string(item)));
		}
	}
	return 0;
}

static int
read_bool(const struct hosts_file *f, const struct ck_toml *v,
	  const char *key, int *out, struct ck_err **errp)
{
	if (v == NULL)
		return 0;
	if (ck_toml_type(v) != CK_TOML_BOOLEAN)
		return type_error(f, v, key, "a boolean", errp);
	*out = ck_toml_boolean(v);
	return 0;
}

static const char *const known_keys[] = {
	"server", "host", "capabilities", "ca", "client", "skip_verify",
	"header", "override_path", NULL,
};

static void
warn_unknown_keys(const struct hosts_file *f, const struct ck_toml *t,
		  int top)
{
	const char *key;
	size_t i, k;

	for (i = 0; i < ck_toml_len(t); i++) {
		key = ck_toml_key(t, i);
		for (k = top ? 0 : 2; known_keys[k]; k++)
			if (strcmp(key, known_keys[k]) == 0)
				break;
		if (known_keys[k] == NULL)
			ck_log(CK_LOG_WARNING, "%s:%d:%d: key '%s' is not "
			       "supported and is ignored", f->path,
			       ck_toml_line(ck_toml_at(t, i)),
			       ck_toml_column(ck_toml_at(t, i)), key);
	}
}

/*
 * Splits "scheme://host/path" (scheme optional) into h. The API root gets
 * "/v2" appended unless it ends in "/v2" or override_path is set.
 */
static int
parse_server(const struct hosts_file *f, const char *url, int override,
	     struct ck_host *h, struct ck_err **errp)
{
	const char *p = strstr(url, "://"), *host = p ? p + 3 : url;
	size_t hlen = strcspn(host, "/?#");
	char *path;
	size_t n;

	if (p != NULL && !(p - url == 4 && strncasecmp(url, "http", 4) == 0) &&
	    !(p - url == 5 && strncasecmp(url, "https", 5) == 0))
		return ck_err_setc(errp, CK_E_INVALID, 0, "%s: invalid host "
				   "'%s': the scheme must be http or https",
				   f->path, url);
	if (hlen == 0 || host[hlen] == '?' || host[hlen] == '#')
		return ck_err_setc(errp, CK_E_INVALID, 0, "%s: invalid host "
				   "'%s': expected [scheme://]host[:port]"
				   "[/path]", f->path, url);
	h->host = ck_xstrndup(host, hlen);
	if (p != NULL)
		h->scheme = strncasecmp(url, "https", 5) == 0 ?
			    ck_xstrdup("https") : ck_xstrdup("http");
	else
		h->scheme = ck_xstrdup(f->plain_http ||
				       ck_registry_host_is_loopback(h->host) ?
				       "http" : "https");
	path = ck_xstrdup(host + hlen);
	n = strlen(path);
	while (n > 0 && path[n - 1] == '/')
		path[--n] = '\0';
	if (!override && !ck_has_suffix(path, "/v2")) {
		h->path = ck_asprintf("%s/v2", path);
		free(path);
	} else {
		h->path = path;
	}
	return 0;
}

static int
read_entry(const struct hosts_file *f, const char *server,
	   const struct ck_toml *t, struct ck_host *h, struct ck_err **errp)
{
	int override = 0;

	memset(h, 0, sizeof(*h));
	if (read_bool(f, ck_toml_get(t, "override_path"), "override_path",
		      &override, errp) < 0 ||
	    (server != NULL && parse_server(f, server, override, h, errp) < 0) ||
	    read_caps(f, ck_toml_get(t, "capabilities"), h, errp) < 0 ||
	    read_ca(f, ck_toml_get(t, "ca"), h, errp) < 0 ||
	    read_client(f, ck_toml_get(t, "client"), h, errp) < 0 ||
	    read_bool(f, ck_toml_get(t, "skip_verify"), "skip_verify",
		      &h->skip_verify, errp) < 0 ||
	    read_headers(f, ck_toml_get(t, "header"), h, errp) < 0)
		return -1;
	h->config = ck_xstrdup(f->path);
	return 0;
}

static void
host_free(struct ck_host *h)
{
	size_t i;

	free(h->scheme);
	free(h->host);
	free(h->path);
	for (i = 0; i < h->n_ca; i++)
		free(h->ca[i]);
	free(h->ca);
	free(h->client_cert);
	free(h->client_key);
	for (i = 0; i < h->n_headers; i++)
		free(h->headers[i]);
	free(h->headers);
	free(h->config);
}

void
ck_hosts_free(struct ck_host *hosts, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		host_free(&hosts[i]);
	free(hosts);
}

static struct ck_host *
push_host(struct ck_host **hosts, size_t *n)
{
	*hosts = ck_xrealloc(*hosts, (*n + 1) * sizeof(**hosts));
	memset(&(*hosts)[*n], 0, sizeof(**hosts));
	return &(*hosts)[(*n)++];
}

/* The mirrors in file order, then the server entry, whose host is NULL
 * when the file names no server. */
static int
read_hosts_toml(const struct hosts_file *f, struct ck_host **hosts,
		size_t *n, struct ck_err **errp)
{
	struct ck_toml *doc = ck_toml_load(f->path, errp);
	const struct ck_toml *table, *server;
	size_t i;
	int rc = 0;

	if (doc == NULL)
		return -1;
	warn_unknown_keys(f, doc, 1);
	table = ck_toml_get(doc, "host");
	if (table != NULL && ck_toml_type(table) != CK_TOML_TABLE)
		rc = type_error(f, table, "host", "a table", errp);
	for (i = 0; rc == 0 && i < ck_toml_len(table); i++) {
		if (ck_toml_type(ck_toml_at(table, i)) != CK_TOML_TABLE) {
			rc = type_error(f, ck_toml_at(table, i), "host",
					"a table", errp);
			break;
		}
		warn_unknown_keys(f, ck_toml_at(table, i), 0);
		rc = read_entry(f, ck_toml_key(table, i), ck_toml_at(table, i),
				push_host(hosts, n), errp);
	}
	server = ck_toml_get(doc, "server");
	if (rc == 0 && server != NULL && ck_toml_type(server) !=
	    CK_TOML_STRING)
		rc = type_error(f, server, "server", "a string", errp);
	if (rc == 0)
		rc = read_entry(f, server ? ck_toml_string(server) : NULL, doc,
				push_host(hosts, n), errp);
	ck_toml_free(doc);
	return rc;
}

/* Docker's layout: *.crt are CAs, and each *.cert goes with the *.key of
 * the same name. Returns 0 with nothing added when there are none. */
static int
read_cert_files(const struct hosts_file *f, struct ck_host **hosts,
		size_t *n, struct ck_err **errp)
{
	struct dirent **ents;
	struct ck_host h = { 0 };
	char *name, *key;
	int count, i;

	count = scandir(f->dir, &ents, NULL, alphasort);
	if (count < 0)
		return ck_err_set(errp, errno, "read hosts directory '%s'",
				  f->dir);
	for (i = 0; i < count; i++) {
		name = ents[i]->d_name;
		if (ck_has_suffix(name, ".crt")) {
			add_string(&h.ca, &h.n_ca, abs_path(f, name));
		} else if (ck_has_suffix(name, ".cert") &&
			   h.client_cert == NULL) {
			h.client_cert = abs_path(f, name);
			key = ck_asprintf("%s/%.*s.key", f->dir,
					  (int)(strlen(name) - 5), name);
			if (ck_path_exists(key))
				h.client_key = key;
			else
				free(key);
		}
		free(ents[i]);
	}
	free(ents);
	if (h.n_ca == 0 && h.client_cert == NULL)
		return 0;
	h.caps = CK_HOST_PULL | CK_HOST_RESOLVE | CK_HOST_PUSH;
	*push_host(hosts, n) = h;
	return 0;
}

static int
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The directory of ns under root, or NULL. */
static char *
find_host_dir(const char *root, const char *ns)
{
	const char *colon = strrchr(ns, ':');
	char *p;

	if (colon != NULL && colon != ns && strchr(colon, ']') == NULL) {
		p = ck_asprintf("%s/%.*s_%s_", root, (int)(colon - ns), ns,
				colon + 1);
		if (is_dir(p))
			return p;
		free(p);
	}
	p = ck_asprintf("%s/%s", root, ns);
	if (is_dir(p))
		return p;
	free(p);
	p = ck_asprintf("%s/_default", root);
	if (is_dir(p))
		return p;
	free(p);
	return NULL;
}

static char *
choose_dir(const char *ns, const struct ck_hosts_opts *opts)
{
	const char *env = getenv("CKIT_HOSTS_DIR");
	char *dir;

	if (opts && opts->dir && *opts->dir)
		return find_host_dir(opts->dir, ns);
	if (env != NULL && *env != '\0')
		return find_host_dir(env, ns);
	dir = find_host_dir(CK_HOSTS_DIR, ns);
	return dir ? dir : find_host_dir(CK_HOSTS_DIR_CONTAINERD, ns);
}

/* Fills in the server entry when the configuration named no server. A
 * loopback host is spoken to in plain HTTP, unless the configuration
 * gives it a CA or a client certificate (as Docker's ca.crt and
 * client.cert files do), which only TLS uses. */
static void
default_server(struct ck_host *h, const char *ns, int plain_http)
{
	const char *host = strcmp(ns, "docker.io") == 0 ?
			   "registry-1.docker.io" : ns;
	int tls_files = h->n_ca > 0 || h->client_cert != NULL;
	int plain = plain_http ||
		    (ck_registry_host_is_loopback(host) && !tls_files);

	h->host = ck_xstrdup(host);
	h->scheme = ck_xstrdup(plain ? "http" : "https");
	h->path = ck_xstrdup("/v2");
	h->caps = CK_HOST_PULL | CK_HOST_RESOLVE | CK_HOST_PUSH;
}

static int
load_dir(const char *dir, const char *ns, const struct ck_hosts_opts *opts,
	 struct ck_host **hosts, size_t *n, struct ck_err **errp)
{
	struct hosts_file f = {
		.dir = dir, .ns = ns, .plain_http = opts && opts->plain_http,
	};
	char *path = ck_asprintf("%s/hosts.toml", dir);
	int rc;

	f.path = path;
	if (ck_path_exists(path)) {
		ck_log(CK_LOG_DEBUG, "reading '%s'", path);
		rc = read_hosts_toml(&f, hosts, n, errp);
	} else {
		rc = read_cert_files(&f, hosts, n, errp);
	}
	free(path);
	return rc;
}

int
ck_hosts_resolve(const char *ns, const struct ck_hosts_opts *opts,
		 struct ck_host **hosts, size_t *n, struct ck_err **errp)
{
	char *dir = choose_dir(ns, opts);
	const char *own = strcmp(ns, "docker.io") == 0 ?
			  "registry-1.docker.io" : ns;
	struct ck_host *last;
	size_t i;

	*hosts = NULL;
	*n = 0;
	if (dir != NULL && load_dir(dir, ns, opts, hosts, n, errp) < 0) {
		ck_err_wrap(errp, "hosts configuration of '%s'", ns);
		ck_hosts_free(*hosts, *n);
		*hosts = NULL;
		*n = 0;
		free(dir);
		return -1;
	}
	free(dir);
	if (*n == 0)
		push_host(hosts, n);
	last = &(*hosts)[*n - 1];
	if (last->host == NULL) {
		free(last->scheme);
		free(last->path);
		last->scheme = last->path = NULL;
		default_server(last, ns, opts && opts->plain_http);
	}
	for (i = 0; i < *n; i++)
		(*hosts)[i].mirror = strcasecmp((*hosts)[i].host, ns) != 0 &&
				     strcasecmp((*hosts)[i].host, own) != 0;
	return 0;
}
