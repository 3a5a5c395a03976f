/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table-driven tests of lib/common/platform.c: parsing and normalising
 * specifiers, matching, the choice from an index, the x86-64 levels and
 * the arm variant read from /proc/cpuinfo text.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "platform.h"
#include "util.h"

static size_t failed, total;

static void CK_PRINTF(1, 2)
fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failed++;
}

static const char *
or_null(const char *s)
{
	return s ? s : "(null)";
}

/* expected: the normalised form as ck_platform_format_all writes it, or
 * NULL when the specifier must be rejected. */
static const struct {
	const char *input;
	const char *expected;
} parse_cases[] = {
	{ "linux/amd64", "linux/amd64" },
	{ "LINUX/AMD64", "linux/amd64" },
	{ "linux/x86_64", "linux/amd64" },
	{ "linux/x86-64", "linux/amd64" },
	{ "x86_64", "linux/amd64" },
	{ "amd64", "linux/amd64" },
	{ "linux/amd64/v1", "linux/amd64" },
	{ "linux/x86_64/v1", "linux/amd64" },
	{ "linux/amd64/v3", "linux/amd64/v3" },
	{ "linux/amd64/V2", "linux/amd64/v2" },
	{ "linux/aarch64", "linux/arm64" },
	{ "aarch64", "linux/arm64" },
	{ "linux/aarch64/8", "linux/arm64" },
	{ "aarch64/8", "linux/arm64" },
	{ "arm64/v8", "linux/arm64" },
	{ "amd64/v1", "linux/amd64" },
	{ "x86_64/v3", "linux/amd64/v3" },
	{ "arm/v7", "linux/arm/v7" },
	{ "arm/6", "linux/arm/v6" },
	{ "linux/arm64/v8/x", NULL },
	{ "linux/arm64/v8", "linux/arm64" },
	{ "linux/arm64/8", "linux/arm64" },
	{ "linux/arm64/v8.2", "linux/arm64/v8.2" },
	{ "linux/arm64/v9", "linux/arm64/v9" },
	{ "linux/armhf", "linux/arm/v7" },
	{ "armhf", "linux/arm/v7" },
	{ "linux/armhf/v6", "linux/arm/v7" },
	{ "linux/armel", "linux/arm/v6" },
	{ "armel", "linux/arm/v6" },
	{ "linux/arm", "linux/arm/v7" },
	{ "arm", "linux/arm/v7" },
	{ "linux/arm/7", "linux/arm/v7" },
	{ "linux/arm/6", "linux/arm/v6" },
	{ "linux/arm/5", "linux/arm/v5" },
	{ "linux/arm/8", "linux/arm/v8" },
	{ "linux/arm/v6", "linux/arm/v6" },
	{ "linux/i386", "linux/386" },
	{ "i386", "linux/386" },
	{ "linux/i386/v2", "linux/386" },
	{ "386", "linux/386" },
	{ "s390x", "linux/s390x" },
	{ "linux/ppc64le", "linux/ppc64le" },
	{ "freebsd/riscv64", "freebsd/riscv64" },
	{ "macos/arm64", "darwin/arm64" },
	{ "linux/mips64le/r6", "linux/mips64le/r6" },
	{ "linux/made_up-arch.1", "linux/made_up-arch.1" },
	{ "windows(10.0.17763)/amd64", "windows(10.0.17763)/amd64" },
	{ "windows(10.0.17763+win32k)/amd64",
	  "windows(10.0.17763+win32k)/amd64" },
	{ "windows(+b+a+b)/amd64", "windows(+a+b)/amd64" },
	{ "windows(1%2B0)/amd64", "windows(1%2B0)/amd64" },
	{ "windows()/amd64", "windows/amd64" },
	/* malformed */
	{ "", NULL },
	{ "/", NULL },
	{ "linux/", NULL },
	{ "/amd64", NULL },
	{ "linux//v7", NULL },
	{ "linux/amd64/", NULL },
	{ "linux/amd64/v2/x", NULL },
	{ "a/b/c/d/e", NULL },
	{ "lin ux/amd64", NULL },
	{ "linux/amd*64", NULL },
	{ "linux/amd64/v2!", NULL },
	{ "linux/amd64/v\xc3\xa9", NULL },
	{ "linux.x/amd64", NULL },
	{ "foo", NULL },
	{ "amd64(1)", NULL },
	{ "windows(10.0/amd64", NULL },
	{ "windows(10.0)x/amd64", NULL },
	{ "windows(%zz)/amd64", NULL },
	{ "windows(%0a)/amd64", NULL },
	{ "windows(1%2)/amd64", NULL },
	{ "windows(1+)/amd64", NULL },
	{ "windows(1 0)/amd64", NULL },
};

static void
test_parse(void)
{
	size_t i;

	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		struct ck_err *err = NULL;
		struct ck_platform p;
		const char *in = parse_cases[i].input;
		const char *want = parse_cases[i].expected;
		int rc = ck_platform_parse(in, &p, &err);
		char *got;

		total++;
		if (want == NULL) {
			if (rc == 0) {
				got = ck_platform_format_all(&p);
				fail("parse '%s': accepted as '%s'", in, got);
				free(got);
				ck_platform_free(&p);
			} else if (strstr(err->msg, "invalid platform '") ==
				   NULL) {
				fail("parse '%s': message '%s' does not name "
				     "it", in, err->msg);
			}
			ck_err_free(&err);
			continue;
		}
		if (rc < 0) {
			fail("parse '%s': %s", in, err->msg);
			ck_err_free(&err);
			continue;
		}
		got = ck_platform_format_all(&p);
		if (strcmp(got, want) != 0)
			fail("parse '%s': got '%s', expected '%s'", in, got,
			     want);
		free(got);
		ck_platform_free(&p);
	}
}

/* A bare operating system takes this machine's architecture. */
static void
test_bare_os(void)
{
	struct ck_platform p, host;
	char *got, *want;

	total++;
	if (ck_platform_parse("linux", &p, NULL) < 0 ||
	    ck_platform_host(&host, NULL) < 0) {
		fail("parse 'linux': failed");
		return;
	}
	got = ck_platform_format(&p);
	want = ck_platform_format(&host);
	if (strcmp(got, want) != 0)
		fail("parse 'linux': got '%s', expected the host's '%s'", got,
		     want);
	free(got);
	free(want);
	ck_platform_free(&p);
	ck_platform_free(&host);
}

static const struct {
	const char *want;
	const char *have;
	int strict;
	int match;
} match_cases[] = {
	/* amd64 levels against each other, both directions */
	{ "linux/amd64/v3", "linux/amd64", 0, 1 },
	{ "linux/amd64/v3", "linux/amd64/v1", 0, 1 },
	{ "linux/amd64/v3", "linux/amd64/v2", 0, 1 },
	{ "linux/amd64/v3", "linux/amd64/v3", 0, 1 },
	{ "linux/amd64/v3", "linux/amd64/v4", 0, 0 },
	{ "linux/amd64/v4", "linux/amd64/v3", 0, 1 },
	{ "linux/amd64/v4", "linux/amd64", 0, 1 },
	{ "linux/amd64/v2", "linux/amd64/v3", 0, 0 },
	{ "linux/amd64/v2", "linux/amd64", 0, 1 },
	{ "linux/amd64", "linux/amd64/v2", 0, 0 },
	{ "linux/amd64", "linux/amd64/v1", 0, 1 },
	{ "linux/amd64", "linux/386", 0, 1 },
	{ "linux/x86_64", "linux/amd64", 0, 1 },
	{ "linux/386", "linux/amd64", 0, 0 },
	/* arm64 against arm v5 to v8 */
	{ "linux/arm64", "linux/arm/v8", 0, 1 },
	{ "linux/arm64", "linux/arm/v7", 0, 1 },
	{ "linux/arm64", "linux/arm/v6", 0, 1 },
	{ "linux/arm64", "linux/arm/v5", 0, 1 },
	{ "linux/arm64", "linux/arm", 0, 1 },
	{ "linux/arm64/v8", "linux/arm64", 0, 1 },
	{ "linux/arm64", "linux/arm64/v8", 0, 1 },
	{ "linux/aarch64", "linux/arm64/v8", 0, 1 },
	{ "linux/arm64", "linux/amd64", 0, 0 },
	{ "linux/arm64/v8.2", "linux/arm64/v8.1", 0, 1 },
	{ "linux/arm64/v8.2", "linux/arm64", 0, 1 },
	{ "linux/arm64/v8.1", "linux/arm64/v8.2", 0, 0 },
	{ "linux/arm64/v9", "linux/arm64/v8.5", 0, 1 },
	{ "linux/arm64/v9", "linux/arm64/v8.6", 0, 0 },
	{ "linux/arm64/v9.1", "linux/arm64/v9", 0, 1 },
	/* 32-bit arm */
	{ "linux/arm/v7", "linux/arm/v6", 0, 1 },
	{ "linux/arm/v7", "linux/arm/v5", 0, 1 },
	{ "linux/arm/v7", "linux/arm/v8", 0, 0 },
	{ "linux/arm/v7", "linux/arm64", 0, 0 },
	{ "linux/arm/v8", "linux/arm/v7", 0, 1 },
	{ "linux/arm/v8", "linux/arm/v5", 0, 1 },
	{ "linux/arm/v6", "linux/arm/v7", 0, 0 },
	{ "linux/arm/v6", "linux/armel", 0, 1 },
	{ "linux/armhf", "linux/arm", 0, 1 },
	/* strict against non-strict */
	{ "linux/amd64/v3", "linux/amd64/v2", 1, 0 },
	{ "linux/amd64/v3", "linux/amd64/v3", 1, 1 },
	{ "linux/amd64", "linux/amd64/v1", 1, 1 },
	{ "linux/amd64", "linux/386", 1, 0 },
	{ "linux/arm64", "linux/arm/v7", 1, 0 },
	{ "linux/arm64", "linux/arm64/v8", 1, 1 },
	{ "linux/arm/v7", "linux/arm/v6", 1, 0 },
	{ "linux/arm/v7", "linux/arm", 1, 1 },
	{ "linux/armhf", "linux/arm/7", 1, 1 },
	/* os and os.features */
	{ "linux/amd64", "windows/amd64", 0, 0 },
	{ "windows/amd64", "linux/amd64", 0, 0 },
	{ "windows(+a+b)/amd64", "windows(+a)/amd64", 0, 1 },
	{ "windows(+a+b)/amd64", "windows(+b+a)/amd64", 1, 1 },
	{ "windows(+a)/amd64", "windows(+a+b)/amd64", 0, 0 },
	{ "windows/amd64", "windows(+c)/amd64", 0, 0 },
	{ "windows(1.0)/amd64", "windows(2.0)/amd64", 0, 1 },
};

static void
test_match(void)
{
	size_t i;

	for (i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		struct ck_platform want, have;
		int got;

		total++;
		if (ck_platform_parse(match_cases[i].want, &want, NULL) < 0 ||
		    ck_platform_parse(match_cases[i].have, &have, NULL) < 0) {
			fail("match '%s' '%s': parse failed",
			     match_cases[i].want, match_cases[i].have);
			continue;
		}
		got = ck_platform_match(&want, &have, match_cases[i].strict);
		if (got != match_cases[i].match)
			fail("match '%s' '%s' (%s): wrong result",
			     match_cases[i].want, match_cases[i].have,
			     match_cases[i].strict ? "strict" : "not strict");
		if (!match_cases[i].strict &&
		    (ck_platform_rank(&want, &have) > 0) != got)
			fail("rank '%s' '%s': disagrees with match",
			     match_cases[i].want, match_cases[i].have);
		ck_platform_free(&want);
		ck_platform_free(&have);
	}
}

/*
 * entries: the index's platforms, comma-separated; "-" is an entry
 * without a platform and a leading "@" a nested index. expected: the
 * 0-based position chosen, or -1 for no match.
 */
static const struct {
	const char *want;
	int strict;
	const char *entries;
	int expected;
} select_cases[] = {
	{ "linux/amd64/v4", 0, "linux/amd64,linux/amd64/v2,linux/amd64/v3",
	  2 },
	{ "linux/amd64/v4", 0, "linux/amd64/v3", 0 },
	{ "linux/amd64/v2", 0, "linux/amd64/v3", -1 },
	{ "linux/amd64/v3", 0, "linux/amd64/v4,linux/amd64/v2,linux/amd64",
	  1 },
	{ "linux/amd64/v2", 0, "linux/386,linux/amd64", 1 },
	{ "linux/amd64", 0, "linux/arm64,linux/386", 1 },
	{ "linux/amd64/v3", 1, "linux/amd64,linux/amd64/v2", -1 },
	{ "linux/amd64/v3", 1, "linux/amd64,linux/amd64/v3", 1 },
	{ "linux/arm64", 0, "linux/arm/v6,linux/arm/v7,linux/arm64", 2 },
	{ "linux/arm64", 0, "linux/arm/v6,linux/arm/v7", 1 },
	{ "linux/arm64", 1, "linux/arm/v6,linux/arm/v7", -1 },
	{ "linux/arm64/v8", 0, "linux/amd64,linux/arm64", 1 },
	{ "linux/arm/v7", 0, "linux/arm/v5,linux/arm/v6", 1 },
	{ "linux/amd64", 0, "unknown/unknown,-,linux/amd64", 2 },
	{ "linux/amd64", 0, "@linux/amd64,linux/amd64", 1 },
	{ "linux/amd64", 0, "linux/amd64,linux/amd64", 0 },
	{ "linux/amd64", 0, "unknown/unknown,-", -1 },
	{ "linux/amd64", 0, "", -1 },
};

/* Builds an index with one entry per comma-separated platform. */
static char *
make_index(const char *list)
{
	json_t *idx = json_object(), *manifests = json_array(), *e;
	char *copy = ck_xstrdup(list), *save = NULL, *tok, *out;
	struct ck_platform p;
	char digest[80];
	int n = 0;

	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save), n++) {
		int nested = *tok == '@';

		e = json_object();
		json_object_set_new(e, "mediaType", json_string(nested ?
			"application/vnd.oci.image.index.v1+json" :
			"application/vnd.oci.image.manifest.v1+json"));
		snprintf(digest, sizeof(digest), "sha256:%064d", n);
		json_object_set_new(e, "digest", json_string(digest));
		json_object_set_new(e, "size", json_integer(100 + n));
		if (strcmp(tok, "unknown/unknown") == 0)
			json_object_set_new(e, "platform", json_pack(
				"{s:s, s:s}", "os", "unknown",
				"architecture", "unknown"));
		else if (strcmp(tok, "-") != 0 &&
			 ck_platform_parse(tok + nested, &p, NULL) == 0) {
			json_object_set_new(e, "platform",
					    ck_platform_to_json(&p));
			ck_platform_free(&p);
		}
		json_array_append_new(manifests, e);
	}
	json_object_set_new(idx, "schemaVersion", json_integer(2));
	json_object_set_new(idx, "manifests", manifests);
	out = json_dumps(idx, JSON_COMPACT);
	json_decref(idx);
	free(copy);
	return out;
}

static void
test_select(void)
{
	size_t i, n, best;

	for (i = 0; i < sizeof(select_cases) / sizeof(select_cases[0]); i++) {
		struct ck_platform_entry *e;
		struct ck_platform want;
		struct ck_err *err = NULL;
		char *idx = make_index(select_cases[i].entries);
		int rc;

		total++;
		if (ck_platform_parse(select_cases[i].want, &want, NULL) < 0 ||
		    ck_platform_index_parse(idx, strlen(idx), &e, &n,
					    NULL) < 0) {
			fail("select '%s' from '%s': setup failed",
			     select_cases[i].want, select_cases[i].entries);
			free(idx);
			continue;
		}
		rc = ck_platform_select(&want, select_cases[i].strict, e, n,
					&best, &err);
		if (select_cases[i].expected < 0 && rc == 0)
			fail("select '%s' from '%s': chose '%s'",
			     select_cases[i].want, select_cases[i].entries,
			     e[best].text);
		else if (select_cases[i].expected >= 0 &&
			 (rc < 0 || best != (size_t)select_cases[i].expected))
			fail("select '%s' from '%s': %s",
			     select_cases[i].want, select_cases[i].entries,
			     rc < 0 ? err->msg : e[best].text);
		ck_err_free(&err);
		ck_platform_entries_free(e, n);
		ck_platform_free(&want);
		free(idx);
	}
}

/* The no-match message names the request and every usable platform once. */
static void
test_no_match_message(void)
{
	const char *list = "linux/arm64/v8,linux/arm64,unknown/unknown,"
			   "linux/s390x,-";
	const char *expected = "no manifest for platform 'linux/amd64'; the "
			       "index offers linux/arm64, linux/s390x";
	char *idx = make_index(list);
	struct ck_platform_entry *e;
	struct ck_platform want;
	struct ck_err *err = NULL;
	size_t n, best;

	total++;
	ck_platform_parse("linux/amd64", &want, NULL);
	ck_platform_index_parse(idx, strlen(idx), &e, &n, NULL);
	if (ck_platform_select(&want, 0, e, n, &best, &err) == 0)
		fail("no-match message: '%s' chose '%s'", list,
		     e[best].text);
	else if (strcmp(err->msg, expected) != 0)
		fail("no-match message: got '%s', expected '%s'", err->msg,
		     expected);
	ck_err_free(&err);
	ck_platform_entries_free(e, n);
	ck_platform_free(&want);
	free(idx);
}

#define V2_L1 (1u << 0 | 1u << 9 | 1u << 13 | 1u << 19 | 1u << 20 | 1u << 23)
#define V3_L1 (1u << 12 | 1u << 22 | 1u << 27 | 1u << 28 | 1u << 29)
#define V3_L7 (1u << 3 | 1u << 5 | 1u << 8)
#define V4_L7 (1u << 16 | 1u << 17 | 1u << 28 | 1u << 30 | 1u << 31)
#define ALL_L1 (V2_L1 | V3_L1)
#define ALL_L7 (V3_L7 | V4_L7)
#define ALL_E1 (1u << 0 | 1u << 5)
#define ALL_XCR0 0xe7u

static const struct {
	const char *name;
	struct ck_x86_features f;
	int level;
} x86_cases[] = {
	{ "nothing", { 0, 0, 0, 0 }, 1 },
	{ "every feature", { ALL_L1, ALL_L7, ALL_E1, ALL_XCR0 }, 4 },
	{ "v2 only", { V2_L1, 0, 1u << 0, 0 }, 2 },
	{ "v2 without SSE3", { V2_L1 & ~(1u << 0), 0, 1u << 0, 0 }, 1 },
	{ "v2 without SSSE3", { V2_L1 & ~(1u << 9), 0, 1u << 0, 0 }, 1 },
	{ "v2 without CMPXCHG16B", { V2_L1 & ~(1u << 13), 0, 1u, 0 }, 1 },
	{ "v2 without SSE4.1", { V2_L1 & ~(1u << 19), 0, 1u << 0, 0 }, 1 },
	{ "v2 without SSE4.2", { V2_L1 & ~(1u << 20), 0, 1u << 0, 0 }, 1 },
	{ "v2 without POPCNT", { V2_L1 & ~(1u << 23), 0, 1u << 0, 0 }, 1 },
	{ "v2 without LAHF-SAHF", { V2_L1, 0, 0, 0 }, 1 },
	{ "v3", { ALL_L1, V3_L7, ALL_E1, 0x7 }, 3 },
	{ "v3 without AVX", { ALL_L1 & ~(1u << 28), V3_L7, ALL_E1, 7 }, 2 },
	{ "v3 without F16C", { ALL_L1 & ~(1u << 29), V3_L7, ALL_E1, 7 }, 2 },
	{ "v3 without FMA", { ALL_L1 & ~(1u << 12), V3_L7, ALL_E1, 7 }, 2 },
	{ "v3 without MOVBE", { ALL_L1 & ~(1u << 22), V3_L7, ALL_E1, 7 }, 2 },
	{ "v3 without OSXSAVE", { ALL_L1 & ~(1u << 27), V3_L7, ALL_E1, 7 },
	  2 },
	{ "v3 without AVX2", { ALL_L1, V3_L7 & ~(1u << 5), ALL_E1, 7 }, 2 },
	{ "v3 without BMI1", { ALL_L1, V3_L7 & ~(1u << 3), ALL_E1, 7 }, 2 },
	{ "v3 without BMI2", { ALL_L1, V3_L7 & ~(1u << 8), ALL_E1, 7 }, 2 },
	{ "v3 without LZCNT", { ALL_L1, V3_L7, 1u << 0, 7 }, 2 },
	{ "v3 without YMM state", { ALL_L1, V3_L7, ALL_E1, 0x3 }, 2 },
	{ "v3 without XMM state", { ALL_L1, V3_L7, ALL_E1, 0x5 }, 2 },
	{ "v4 without AVX512F", { ALL_L1, ALL_L7 & ~(1u << 16), ALL_E1,
				  ALL_XCR0 }, 3 },
	{ "v4 without AVX512DQ", { ALL_L1, ALL_L7 & ~(1u << 17), ALL_E1,
				   ALL_XCR0 }, 3 },
	{ "v4 without AVX512CD", { ALL_L1, ALL_L7 & ~(1u << 28), ALL_E1,
				   ALL_XCR0 }, 3 },
	{ "v4 without AVX512BW", { ALL_L1, ALL_L7 & ~(1u << 30), ALL_E1,
				   ALL_XCR0 }, 3 },
	{ "v4 without AVX512VL", { ALL_L1, ALL_L7 & ~(1u << 31), ALL_E1,
				   ALL_XCR0 }, 3 },
	{ "v4 without opmask state", { ALL_L1, ALL_L7, ALL_E1, 0xc7 }, 3 },
	{ "v4 without ZMM_Hi256 state", { ALL_L1, ALL_L7, ALL_E1, 0xa7 }, 3 },
	{ "v4 without Hi16_ZMM state", { ALL_L1, ALL_L7, ALL_E1, 0x67 }, 3 },
	{ "AVX-512 without v3", { V2_L1, ALL_L7, ALL_E1, ALL_XCR0 }, 2 },
};

static void
test_x86_levels(void)
{
	size_t i;
	char got[16], want[16];

	for (i = 0; i < sizeof(x86_cases) / sizeof(x86_cases[0]); i++) {
		int level = ck_platform_x86_level(&x86_cases[i].f);

		total++;
		snprintf(got, sizeof(got), "v%d", level);
		snprintf(want, sizeof(want), "v%d", x86_cases[i].level);
		if (level != x86_cases[i].level)
			fail("x86 level (%s): got %s, expected %s",
			     x86_cases[i].name, got, want);
	}
}

static const struct {
	const char *cpuinfo;
	const char *machine;
	const char *variant;
} arm_cases[] = {
	{ "processor\t: 0\nCPU architecture: 7\nCPU variant\t: 0x0\n",
	  "armv7l", "v7" },
	{ "CPU architecture: 8\n", "armv8l", "v8" },
	{ "CPU architecture: AArch64\n", "aarch64", "v8" },
	{ "model name\t: ARMv6-compatible processor rev 7 (v6l)\n"
	  "CPU architecture: 7\n", "armv6l", "v6" },
	{ "cpu architecture : 6TEJ\n", "armv6l", "v6" },
	{ "CPU architecture: 5TE\n", "armv5tel", "v5" },
	{ "CPU architecture: ?(12)\n", "armv7l", "v7" },
	{ "processor\t: 0\n", "armv7l", "v7" },
	{ "CPU architecture: odd\n", "armv6l", "v6" },
	{ NULL, "armv5tel", "v5" },
	{ "processor\t: 0\n", "arm", NULL },
};

static void
test_arm_variants(void)
{
	size_t i;

	for (i = 0; i < sizeof(arm_cases) / sizeof(arm_cases[0]); i++) {
		char *got = ck_platform_arm_variant(arm_cases[i].cpuinfo,
						    arm_cases[i].machine);
		const char *want = arm_cases[i].variant;

		total++;
		if ((got == NULL) != (want == NULL) ||
		    (got && strcmp(got, want) != 0))
			fail("arm variant (%s): got '%s', expected '%s'",
			     arm_cases[i].machine, or_null(got),
			     or_null(want));
		free(got);
	}
}

/* On x86-64 the host's variant is the CPUID level, v1 left out. */
static void
test_host(void)
{
	struct ck_platform host;
	struct ck_x86_features f;
	struct utsname u;
	char want[16];

	total++;
	if (ck_platform_host(&host, NULL) < 0 || uname(&u) < 0) {
		fail("host: detection failed");
		return;
	}
	if (strcmp(u.machine, "x86_64") == 0 &&
	    ck_platform_x86_read(&f) == 0) {
		snprintf(want, sizeof(want), "v%d",
			 ck_platform_x86_level(&f));
		if (strcmp(host.arch, "amd64") != 0 ||
		    strcmp(host.variant ? host.variant : "v1", want) != 0)
			fail("host: got '%s/%s', expected amd64 %s",
			     host.arch, or_null(host.variant), want);
	}
	ck_platform_free(&host);
}

int
main(void)
{
	test_parse();
	test_bare_os();
	test_match();
	test_select();
	test_no_match_message();
	test_x86_levels();
	test_arm_variants();
	test_host();
	printf("test-platform: %zu cases, %zu failed\n", total, failed);
	return failed ? 1 : 0;
}
