/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Platform names and matching. Aliases are normalised as containerd's
 * platforms package does, so "x86_64" and "amd64" compare equal, and a
 * default variant ("arm64/v8", "amd64/v1") is dropped.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "platform.h"
#include "util.h"

static char *
lower(const char *s)
{
	char *p = ck_xstrdup(s), *c;

	for (c = p; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return p;
}

static void
normalise(struct ck_platform *p)
{
	static const struct {
		const char *from, *arch, *variant;
	} alias[] = {
		{ "x86_64", "amd64", NULL },	{ "x86-64", "amd64", NULL },
		{ "aarch64", "arm64", NULL },	{ "armhf", "arm", "v7" },
		{ "armel", "arm", "v6" },	{ "i386", "386", NULL },
		{ "i686", "386", NULL },
	};
	size_t i;

	for (i = 0; i < sizeof(alias) / sizeof(alias[0]); i++) {
		if (strcmp(p->arch, alias[i].from) != 0)
			continue;
		free(p->arch);
		p->arch = ck_xstrdup(alias[i].arch);
		if (alias[i].variant && p->variant == NULL)
			p->variant = ck_xstrdup(alias[i].variant);
	}
	if (p->variant && p->variant[0] >= '0' && p->variant[0] <= '9') {
		char *v = ck_asprintf("v%s", p->variant);

		free(p->variant);
		p->variant = v;
	}
	if (p->variant &&
	    ((strcmp(p->arch, "arm64") == 0 && strcmp(p->variant, "v8") == 0) ||
	     (strcmp(p->arch, "amd64") == 0 && strcmp(p->variant, "v1") == 0))) {
		free(p->variant);
		p->variant = NULL;
	}
	if (strcmp(p->arch, "arm") == 0 && p->variant == NULL)
		p->variant = ck_xstrdup("v7");
}

static int
valid_part(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '-' || *s == '.'))
			return 0;
	return 1;
}

int
ck_platform_parse(const char *s, struct ck_platform *p, struct ck_err **errp)
{
	char *copy = lower(s);
	char *parts[4] = { 0 };
	char *save = NULL, *tok;
	int n = 0, i;

	memset(p, 0, sizeof(*p));
	/* strtok_r skips empty fields, which would read "linux//" as the
	 * one-part "linux". */
	if (*copy == '/' || strstr(copy, "//") != NULL ||
	    (*copy != '\0' && copy[strlen(copy) - 1] == '/'))
		goto bad;
	for (tok = strtok_r(copy, "/", &save); tok && n < 4;
	     tok = strtok_r(NULL, "/", &save))
		parts[n++] = tok;
	if (n == 0 || n > 3 || tok != NULL)
		goto bad;
	for (i = 0; i < n; i++)
		if (!valid_part(parts[i]))
			goto bad;
	if (n == 1) {
		p->os = ck_xstrdup("linux");
		p->arch = ck_xstrdup(parts[0]);
	} else {
		p->os = ck_xstrdup(parts[0]);
		p->arch = ck_xstrdup(parts[1]);
		if (n == 3)
			p->variant = ck_xstrdup(parts[2]);
	}
	free(copy);
	normalise(p);
	return 0;
bad:
	free(copy);
	return ck_err_setc(errp, CK_E_INVALID, 0,
			   "invalid platform '%s': expected 'os/arch', "
			   "'os/arch/variant' or 'arch'", s);
}

char *
ck_platform_format(const struct ck_platform *p)
{
	if (p->variant)
		return ck_asprintf("%s/%s/%s", p->os, p->arch, p->variant);
	return ck_asprintf("%s/%s", p->os, p->arch);
}

void
ck_platform_free(struct ck_platform *p)
{
	free(p->os);
	free(p->arch);
	free(p->variant);
	memset(p, 0, sizeof(*p));
}

int
ck_platform_default(struct ck_platform *p, struct ck_err **errp)
{
	const char *env = getenv("CKIT_PLATFORM");
	struct utsname u;

	if (env != NULL && *env != '\0') {
		if (ck_platform_parse(env, p, errp) < 0)
			return ck_err_wrap(errp, "CKIT_PLATFORM");
		return 0;
	}
	if (uname(&u) < 0)
		CK_BUG("uname failed");
	memset(p, 0, sizeof(*p));
	p->os = ck_xstrdup("linux");
	p->arch = lower(u.machine);
	if (strncmp(p->arch, "armv", 4) == 0) {
		p->variant = ck_asprintf("v%c", p->arch[4]);
		free(p->arch);
		p->arch = ck_xstrdup("arm");
	}
	normalise(p);
	return 0;
}

/* "v7" -> 7; no variant -> dflt. */
static int
variant_level(const char *v, int dflt)
{
	if (v == NULL)
		return dflt;
	if (v[0] == 'v' && v[1] >= '0' && v[1] <= '9')
		return atoi(v + 1);
	return -1;
}

int
ck_platform_rank(const struct ck_platform *want,
		 const struct ck_platform *have)
{
	int w, h;

	if (strcmp(want->os, have->os) != 0)
		return 0;
	if (strcmp(want->arch, have->arch) == 0) {
		if ((want->variant == NULL && have->variant == NULL) ||
		    (want->variant && have->variant &&
		     strcmp(want->variant, have->variant) == 0))
			return 100;
		/* A lower variant runs on a higher one (arm v6 on v7,
		 * amd64 v2 on v3); the closest ranks highest. */
		w = variant_level(want->variant, 1);
		h = variant_level(have->variant, 1);
		if (w > 0 && h > 0 && h <= w)
			return 50 - (w - h);
		return 0;
	}
	/* arm64 runs 32-bit arm binaries. */
	if (strcmp(want->arch, "arm64") == 0 && strcmp(have->arch, "arm") == 0)
		return 10 + variant_level(have->variant, 7);
	return 0;
}
