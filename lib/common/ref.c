/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reference parsing. The grammar follows the distribution project's
 * reference package: an optional domain (a first component holding '.' or
 * ':' or equal to "localhost"), lower-case path components joined by '/',
 * an optional ":tag" and an optional "@sha256:<hex>".
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "ref.h"
#include "util.h"

#define NAME_MAX_LEN 255

static int
is_alnum_lower(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* component: [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)* */
static int
valid_component(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || !is_alnum_lower((unsigned char)s[0]))
		return 0;
	while (i < n) {
		size_t sep;

		while (i < n && is_alnum_lower((unsigned char)s[i]))
			i++;
		if (i == n)
			return 1;
		sep = i;
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < n && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return 0;
		}
		if (i == n || !is_alnum_lower((unsigned char)s[i]) || i == sep)
			return 0;
	}
	return 1;
}

/* domain: host components of [A-Za-z0-9-] joined by '.', optional :port;
 * a bracketed IPv6 address is accepted too. */
static int
valid_domain(const char *s)
{
	const char *colon;
	size_t i, n;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL || end == s + 1)
			return 0;
		for (i = 1; s + i < end; i++)
			if (!isxdigit((unsigned char)s[i]) && s[i] != ':')
				return 0;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (!colon && end[1] != '\0')
			return 0;
	} else {
		colon = strchr(s, ':');
		n = colon ? (size_t)(colon - s) : strlen(s);
		if (n == 0 || s[0] == '.' || s[0] == '-' ||
		    s[n - 1] == '.' || s[n - 1] == '-')
			return 0;
		for (i = 0; i < n; i++)
			if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
			    s[i] != '-')
				return 0;
	}
	if (colon != NULL) {
		if (colon[1] == '\0')
			return 0;
		for (i = 1; colon[i]; i++)
			if (!isdigit((unsigned char)colon[i]))
				return 0;
	}
	return 1;
}

static int
valid_tag(const char *t)
{
	size_t i;

	if (!(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return 0;
	for (i = 1; t[i]; i++)
		if (!(isalnum((unsigned char)t[i]) || t[i] == '_' ||
		      t[i] == '.' || t[i] == '-'))
			return 0;
	return i <= 128;
}

static int
split_domain(struct ck_ref *ref, const char *name, struct ck_err **errp)
{
	const char *slash = strchr(name, '/');
	char *first;

	if (slash == NULL) {
		ref->domain = ck_xstrdup("docker.io");
		ref->path = ck_asprintf("library/%s", name);
		return 0;
	}
	first = ck_xstrndup(name, (size_t)(slash - name));
	if (strchr(first, '.') == NULL && strchr(first, ':') == NULL &&
	    strcmp(first, "localhost") != 0 && first[0] != '[') {
		free(first);
		ref->domain = ck_xstrdup("docker.io");
		ref->path = ck_xstrdup(name);
		return 0;
	}
	if (!valid_domain(first)) {
		ck_err_setc(errp, CK_E_INVALID, 0,
			    "invalid registry host '%s'", first);
		free(first);
		return -1;
	}
	if (strcmp(first, "index.docker.io") == 0) {
		free(first);
		first = ck_xstrdup("docker.io");
	}
	ref->domain = first;
	if (strcmp(first, "docker.io") == 0 && strchr(slash + 1, '/') == NULL)
		ref->path = ck_asprintf("library/%s", slash + 1);
	else
		ref->path = ck_xstrdup(slash + 1);
	return 0;
}

static int
check_path(const char *s, const char *path, struct ck_err **errp)
{
	const char *p = path;

	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		size_t i;

		for (i = 0; i < n; i++)
			if (isupper((unsigned char)p[i]))
				return ck_err_setc(errp, CK_E_INVALID, 0,
						   "invalid reference '%s': "
						   "repository name must be "
						   "lower-case", s);
		if (!valid_component(p, n))
			return ck_err_setc(errp, CK_E_INVALID, 0,
					   "invalid reference '%s': bad "
					   "repository name component '%.*s'",
					   s, (int)n, p);
		if (slash == NULL)
			return 0;
		p = slash + 1;
	}
}

int
ck_ref_parse(const char *s, struct ck_ref *ref, struct ck_err **errp)
{
	char *copy, *at, *name, *colon, *slash;

	memset(ref, 0, sizeof(*ref));
	if (*s == '\0')
		return ck_err_setc(errp, CK_E_INVALID, 0,
				   "invalid reference '': empty");
	copy = ck_xstrdup(s);
	at = strchr(copy, '@');
	if (at != NULL) {
		*at = '\0';
		if (ck_digest_check(at + 1, errp) < 0) {
			ck_err_wrap(errp, "invalid reference '%s'", s);
			goto fail;
		}
		ref->digest = ck_xstrdup(at + 1);
	}
	name = copy;
	slash = strrchr(name, '/');
	colon = strrchr(name, ':');
	if (colon != NULL && (slash == NULL || colon > slash)) {
		*colon = '\0';
		if (!valid_tag(colon + 1)) {
			ck_err_setc(errp, CK_E_INVALID, 0,
				    "invalid reference '%s': bad tag '%s'", s,
				    colon + 1);
			goto fail;
		}
		ref->tag = ck_xstrdup(colon + 1);
	}
	if (*name == '\0') {
		ck_err_setc(errp, CK_E_INVALID, 0,
			    "invalid reference '%s': missing repository name",
			    s);
		goto fail;
	}
	if (split_domain(ref, name, errp) < 0) {
		ck_err_wrap(errp, "invalid reference '%s'", s);
		goto fail;
	}
	if (check_path(s, ref->path, errp) < 0)
		goto fail;
	if (strlen(ref->domain) + 1 + strlen(ref->path) > NAME_MAX_LEN) {
		ck_err_setc(errp, CK_E_INVALID, 0,
			    "invalid reference '%s': name longer than %d "
			    "characters", s, NAME_MAX_LEN);
		goto fail;
	}
	if (ref->tag == NULL && ref->digest == NULL)
		ref->tag = ck_xstrdup("latest");
	free(copy);
	return 0;
fail:
	free(copy);
	ck_ref_free(ref);
	return -1;
}

void
ck_ref_free(struct ck_ref *ref)
{
	free(ref->domain);
	free(ref->path);
	free(ref->tag);
	free(ref->digest);
	memset(ref, 0, sizeof(*ref));
}

char *
ck_ref_name(const struct ck_ref *ref)
{
	if (ref->tag && ref->digest)
		return ck_asprintf("%s/%s:%s@%s", ref->domain, ref->path,
				   ref->tag, ref->digest);
	if (ref->digest)
		return ck_asprintf("%s/%s@%s", ref->domain, ref->path,
				   ref->digest);
	return ck_asprintf("%s/%s:%s", ref->domain, ref->path, ref->tag);
}

char *
ck_ref_repository(const struct ck_ref *ref)
{
	return ck_asprintf("%s/%s", ref->domain, ref->path);
}

const char *
ck_ref_registry_host(const struct ck_ref *ref)
{
	if (strcmp(ref->domain, "docker.io") == 0)
		return "registry-1.docker.io";
	return ref->domain;
}

const char *
ck_ref_object(const struct ck_ref *ref)
{
	return ref->digest ? ref->digest : ref->tag;
}
