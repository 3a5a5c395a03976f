/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Platform specifiers, the host's platform and manifest choice, with the
 * semantics of containerd's platforms package. Aliases are normalised
 * ("x86_64" is "amd64", "armhf" is "arm/v7") and a default variant is
 * dropped ("arm64/v8" is "arm64"). A platform runs its own images and
 * those of the lower variants it can execute, the closest one preferred.
 * A struct ck_platform is normalised once, when it is made, so comparing
 * two of them is plain string equality.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "manifest.h"
#include "platform.h"
#include "util.h"

#define CPUINFO_MAX (4 * 1024 * 1024)

/* Go's list of operating systems and architectures (go/build's syslist),
 * which containerd uses to read a bare word. */
static const char *const known_os[] = {
	"aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos",
	"ios", "js", "linux", "nacl", "netbsd", "openbsd", "plan9", "solaris",
	"windows", "zos",
};

static const char *const known_arch[] = {
	"386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be",
	"ppc64", "ppc64le", "loong64", "mips", "mipsle", "mips64", "mips64le",
	"mips64p32", "mips64p32le", "ppc", "riscv", "riscv64", "s390",
	"s390x", "sparc", "sparc64", "wasm",
};

static int
in_list(const char *s, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

#define IN_LIST(s, list) in_list((s), (list), sizeof(list) / sizeof(list[0]))

static int
streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
lower_in_place(char *s)
{
	for (; s && *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static void
set_str(char **field, const char *value)
{
	free(*field);
	*field = value ? ck_xstrdup(value) : NULL;
}

/* ------------------------------------------------------------ normalise */

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
normalise_features(struct ck_platform *p)
{
	size_t i, out = 0;

	if (p->n_os_features == 0)
		return;
	qsort(p->os_features, p->n_os_features, sizeof(char *),
	      compare_strings);
	for (i = 0; i < p->n_os_features; i++) {
		if (out > 0 && strcmp(p->os_features[out - 1],
				      p->os_features[i]) == 0) {
			free(p->os_features[i]);
			continue;
		}
		p->os_features[out++] = p->os_features[i];
	}
	p->n_os_features = out;
	p->os_features[out] = NULL;
}

/* Turns variant "6" into "v6". */
static void
prefix_v(char **variant)
{
	char *v = ck_asprintf("v%s", *variant);

	free(*variant);
	*variant = v;
}

/* containerd's normalizeArch, which also fills arm's default v7. */
static void
normalise_arch(struct ck_platform *p)
{
	const char *v = p->variant;

	if (strcmp(p->arch, "i386") == 0) {
		set_str(&p->arch, "386");
		set_str(&p->variant, NULL);
	} else if (strcmp(p->arch, "x86_64") == 0 ||
		   strcmp(p->arch, "x86-64") == 0 ||
		   strcmp(p->arch, "amd64") == 0) {
		set_str(&p->arch, "amd64");
		if (streq(v, "v1"))
			set_str(&p->variant, NULL);
	} else if (strcmp(p->arch, "aarch64") == 0 ||
		   strcmp(p->arch, "arm64") == 0) {
		set_str(&p->arch, "arm64");
		if (streq(v, "8") || streq(v, "v8"))
			set_str(&p->variant, NULL);
	} else if (strcmp(p->arch, "armhf") == 0) {
		set_str(&p->arch, "arm");
		set_str(&p->variant, "v7");
	} else if (strcmp(p->arch, "armel") == 0) {
		set_str(&p->arch, "arm");
		set_str(&p->variant, "v6");
	} else if (strcmp(p->arch, "arm") == 0) {
		if (v == NULL || streq(v, "7"))
			set_str(&p->variant, "v7");
		else if (streq(v, "5") || streq(v, "6") || streq(v, "8"))
			prefix_v(&p->variant);
	}
}

static void
normalise(struct ck_platform *p)
{
	lower_in_place(p->os);
	lower_in_place(p->arch);
	lower_in_place(p->variant);
	if (p->variant && *p->variant == '\0')
		set_str(&p->variant, NULL);
	if (p->os_version && *p->os_version == '\0')
		set_str(&p->os_version, NULL);
	if (strcmp(p->os, "macos") == 0)
		set_str(&p->os, "darwin");
	normalise_arch(p);
	normalise_features(p);
}

/* ------------------------------------------------------------ parse */

/* Characters of a name in a specifier, after lower-casing. */
static int
name_chars_ok(const char *s, size_t n, int dot)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-' || (dot && s[i] == '.')))
			return 0;
	return 1;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decodes one os option (a version or a feature) of n bytes. "%XX"
 * escapes the characters that the syntax reserves: '%', '+', '(', ')'
 * and '/'. Returns NULL for a character outside [A-Za-z0-9_.%-], a bad
 * escape, or an escape that decodes to a control character.
 */
static char *
decode_option(const char *s, size_t n)
{
	char *out = ck_xmalloc(n + 1), *o = out;
	size_t i;
	int hi, lo;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			if (i + 2 >= n)
				goto bad;
			hi = hex_value(s[i + 1]);
			lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0 || hi * 16 + lo < 0x20 ||
			    hi * 16 + lo == 0x7f)
				goto bad;
			*o++ = (char)(hi * 16 + lo);
			i += 2;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			goto bad;
		*o++ = c;
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

static void
add_feature(struct ck_platform *p, char *feature)
{
	p->os_features = ck_xrealloc(p->os_features, (p->n_os_features + 2) *
				     sizeof(char *));
	p->os_features[p->n_os_features++] = feature;
	p->os_features[p->n_os_features] = NULL;
}

/*
 * Reads the first part of a specifier, "os" or "os(version+f1+f2)", into
 * p->os, p->os_version and p->os_features. Only the os is lower-cased:
 * the version and features keep their case, as in containerd.
 */
static const char *
parse_os_part(const char *part, size_t n, struct ck_platform *p)
{
	const char *open = memchr(part, '(', n), *opt, *end, *plus;
	size_t os_len = open ? (size_t)(open - part) : n;
	char *value;

	p->os = ck_xstrndup(part, os_len);
	lower_in_place(p->os);
	if (!name_chars_ok(p->os, os_len, 0))
		return "the operating system must be of a-z, 0-9, '_' and '-'";
	if (open == NULL)
		return NULL;
	if (part[n - 1] != ')')
		return "an os option list must end with ')'";
	opt = open + 1;
	end = part + n - 1;
	plus = memchr(opt, '+', (size_t)(end - opt));
	if (plus == NULL)
		plus = end;
	value = decode_option(opt, (size_t)(plus - opt));
	if (value == NULL)
		return "invalid os version";
	p->os_version = value;
	while (plus < end) {
		opt = plus + 1;
		plus = memchr(opt, '+', (size_t)(end - opt));
		if (plus == NULL)
			plus = end;
		value = plus > opt ? decode_option(opt, (size_t)(plus - opt)) :
				     NULL;
		if (value == NULL)
			return "invalid os feature";
		add_feature(p, value);
	}
	return NULL;
}

/* Splits s at '/' into at most 4 parts; returns how many it found. */
static int
split_parts(const char *s, const char *part[4], size_t len[4])
{
	int n = 0;

	for (;;) {
		const char *slash = strchr(s, '/');

		if (n == 4)
			return 5;
		part[n] = s;
		len[n] = slash ? (size_t)(slash - s) : strlen(s);
		n++;
		if (slash == NULL)
			return n;
		s = slash + 1;
	}
}

/* Reads a bare word: a known OS with this machine's architecture, else a
 * known architecture with os "linux". */
static const char *
parse_bare_word(struct ck_platform *p)
{
	struct ck_platform host;

	if (IN_LIST(p->os, known_os) || strcmp(p->os, "macos") == 0) {
		if (ck_platform_host(&host, NULL) < 0)
			return "cannot detect this machine's architecture";
		p->arch = host.arch;
		p->variant = host.variant;
		host.arch = host.variant = NULL;
		ck_platform_free(&host);
		return NULL;
	}
	if (p->os_version || p->n_os_features)
		return "an architecture takes no os options";
	p->arch = p->os;
	p->os = ck_xstrdup("linux");
	normalise_arch(p);
	if (!IN_LIST(p->arch, known_arch))
		return "not a known operating system or architecture";
	return NULL;
}

/* Whether the first part names an architecture and no known OS. */
static int
is_arch_not_os(const struct ck_platform *p)
{
	struct ck_platform a = { 0 };
	int arch;

	if (IN_LIST(p->os, known_os) || p->os_version || p->n_os_features)
		return 0;
	a.arch = ck_xstrdup(p->os);
	normalise_arch(&a);
	arch = IN_LIST(a.arch, known_arch);
	ck_platform_free(&a);
	return arch;
}

static const char *
parse_parts(const char *s, struct ck_platform *p)
{
	const char *part[4];
	size_t len[4];
	int n = split_parts(s, part, len), i;
	const char *reason;

	if (*s == '\0')
		return "empty";
	if (n > 3)
		return "expected 'os', 'arch', 'os/arch' or 'os/arch/variant'";
	for (i = 0; i < n; i++)
		if (len[i] == 0)
			return "empty field";
	reason = parse_os_part(part[0], len[0], p);
	if (reason != NULL)
		return reason;
	if (n == 1)
		return parse_bare_word(p);
	if (n == 2 && is_arch_not_os(p)) {
		/* "arm/v7", "aarch64/8": an architecture and its variant. */
		p->arch = p->os;
		p->os = ck_xstrdup("linux");
		p->variant = ck_xstrndup(part[1], len[1]);
	} else {
		p->arch = ck_xstrndup(part[1], len[1]);
		if (n == 3)
			p->variant = ck_xstrndup(part[2], len[2]);
	}
	lower_in_place(p->arch);
	lower_in_place(p->variant);
	if (!name_chars_ok(p->arch, strlen(p->arch), 1) ||
	    (p->variant &&
	     !name_chars_ok(p->variant, strlen(p->variant), 1)))
		return "architecture and variant must be of a-z, 0-9, '_', "
		       "'.' and '-'";
	return NULL;
}

int
ck_platform_parse(const char *s, struct ck_platform *p, struct ck_err **errp)
{
	const char *reason;

	memset(p, 0, sizeof(*p));
	reason = parse_parts(s, p);
	if (reason != NULL) {
		ck_platform_free(p);
		return ck_err_setc(errp, CK_E_INVALID, 0,
				   "invalid platform '%s': %s", s, reason);
	}
	normalise(p);
	return 0;
}

/* ------------------------------------------------------------ JSON */

static int
json_field_ok(const char *s, int dot)
{
	return s != NULL && name_chars_ok(s, strlen(s), dot);
}

/* Whether an os.version or os.feature is free of control characters,
 * which would break tab-separated output. */
static int
option_text_ok(const char *s)
{
	return ck_find_control(s) == NULL;
}

static int
features_from_json(json_t *list, struct ck_platform *p)
{
	size_t i;
	json_t *f;

	if (list == NULL)
		return 0;
	if (!json_is_array(list))
		return -1;
	json_array_foreach(list, i, f) {
		if (!json_is_string(f) || !option_text_ok(json_string_value(f)))
			return -1;
		add_feature(p, ck_xstrdup(json_string_value(f)));
	}
	return 0;
}

int
ck_platform_from_json(json_t *j, struct ck_platform *p, struct ck_err **errp)
{
	json_t *version = json_object_get(j, "os.version");
	json_t *variant = json_object_get(j, "variant");
	char *os = NULL, *arch = NULL;

	memset(p, 0, sizeof(*p));
	if (json_is_string(json_object_get(j, "os")))
		os = ck_xstrdup(json_string_value(json_object_get(j, "os")));
	if (json_is_string(json_object_get(j, "architecture")))
		arch = ck_xstrdup(json_string_value(
			json_object_get(j, "architecture")));
	lower_in_place(os);
	lower_in_place(arch);
	p->os = os;
	p->arch = arch;
	if (json_is_string(variant) && *json_string_value(variant) != '\0')
		p->variant = ck_xstrdup(json_string_value(variant));
	lower_in_place(p->variant);
	if (json_is_string(version))
		p->os_version = ck_xstrdup(json_string_value(version));
	if (!json_is_object(j) || !json_field_ok(p->os, 0) ||
	    !json_field_ok(p->arch, 1) ||
	    (p->variant && !json_field_ok(p->variant, 1)) ||
	    (variant && !json_is_string(variant)) ||
	    (version && !json_is_string(version)) ||
	    (p->os_version && !option_text_ok(p->os_version)) ||
	    features_from_json(json_object_get(j, "os.features"), p) < 0) {
		ck_platform_free(p);
		return ck_err_setc(errp, CK_E_INVALID, 0, "invalid platform "
				   "object: needs 'os' and 'architecture' of "
				   "a-z, 0-9, '_', '.' and '-'");
	}
	normalise(p);
	return 0;
}

json_t *
ck_platform_to_json(const struct ck_platform *p)
{
	json_t *j = json_object(), *features;
	size_t i;

	json_object_set_new(j, "architecture", json_string(p->arch));
	json_object_set_new(j, "os", json_string(p->os));
	if (p->os_version)
		json_object_set_new(j, "os.version",
				    json_string(p->os_version));
	if (p->n_os_features) {
		features = json_array();
		for (i = 0; i < p->n_os_features; i++)
			json_array_append_new(features,
					      json_string(p->os_features[i]));
		json_object_set_new(j, "os.features", features);
	}
	if (p->variant)
		json_object_set_new(j, "variant", json_string(p->variant));
	return j;
}

/* ------------------------------------------------------------ format */

char *
ck_platform_format(const struct ck_platform *p)
{
	if (p->variant)
		return ck_asprintf("%s/%s/%s", p->os, p->arch, p->variant);
	return ck_asprintf("%s/%s", p->os, p->arch);
}

/* Writes s with "%XX" for each byte outside [A-Za-z0-9_.-], which covers
 * the reserved '%', '+', '(', ')' and '/', so that the output parses. */
static void
add_encoded(struct ck_buf *b, const char *s)
{
	for (; *s; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("_.-", *s) != NULL)
			ck_buf_add(b, s, 1);
		else
			ck_buf_addf(b, "%%%02X", (unsigned char)*s);
	}
}

char *
ck_platform_format_all(const struct ck_platform *p)
{
	struct ck_buf b = { 0 };
	size_t i;

	ck_buf_addf(&b, "%s", p->os);
	if (p->os_version || p->n_os_features) {
		ck_buf_add(&b, "(", 1);
		if (p->os_version)
			add_encoded(&b, p->os_version);
		for (i = 0; i < p->n_os_features; i++) {
			ck_buf_add(&b, "+", 1);
			add_encoded(&b, p->os_features[i]);
		}
		ck_buf_add(&b, ")", 1);
	}
	ck_buf_addf(&b, "/%s", p->arch);
	if (p->variant)
		ck_buf_addf(&b, "/%s", p->variant);
	return b.data;
}

void
ck_platform_copy(struct ck_platform *dst, const struct ck_platform *src)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	dst->os = ck_xstrdup(src->os);
	dst->arch = ck_xstrdup(src->arch);
	set_str(&dst->variant, src->variant);
	set_str(&dst->os_version, src->os_version);
	for (i = 0; i < src->n_os_features; i++)
		add_feature(dst, ck_xstrdup(src->os_features[i]));
}

void
ck_platform_free(struct ck_platform *p)
{
	size_t i;

	free(p->os);
	free(p->arch);
	free(p->variant);
	free(p->os_version);
	for (i = 0; i < p->n_os_features; i++)
		free(p->os_features[i]);
	free(p->os_features);
	memset(p, 0, sizeof(*p));
}

/* ------------------------------------------------------------ host */

/* Feature bits of the x86-64 psABI levels (Intel SDM vol. 2A, CPUID). */
enum {
	L1_SSE3 = 1u << 0,
	L1_SSSE3 = 1u << 9,
	L1_FMA = 1u << 12,
	L1_CMPXCHG16B = 1u << 13,
	L1_SSE4_1 = 1u << 19,
	L1_SSE4_2 = 1u << 20,
	L1_MOVBE = 1u << 22,
	L1_POPCNT = 1u << 23,
	L1_OSXSAVE = 1u << 27,
	L1_AVX = 1u << 28,
	L1_F16C = 1u << 29,
};

#define L7_BMI1 (1u << 3)
#define L7_AVX2 (1u << 5)
#define L7_BMI2 (1u << 8)
#define L7_AVX512F (1u << 16)
#define L7_AVX512DQ (1u << 17)
#define L7_AVX512CD (1u << 28)
#define L7_AVX512BW (1u << 30)
#define L7_AVX512VL (1u << 31)
#define E1_LAHF_SAHF (1u << 0)
#define E1_LZCNT (1u << 5)
/* XCR0 state components the OS must enable: SSE and AVX registers for
 * v3, opmask, ZMM_Hi256 and Hi16_ZMM for v4. */
#define XCR0_AVX ((1u << 1) | (1u << 2))
#define XCR0_AVX512 ((1u << 5) | (1u << 6) | (1u << 7))

#define HAS(reg, bits) (((reg) & (bits)) == (bits))

int
ck_platform_x86_level(const struct ck_x86_features *f)
{
	if (!HAS(f->leaf1_ecx, L1_SSE3 | L1_SSSE3 | L1_CMPXCHG16B |
		 L1_SSE4_1 | L1_SSE4_2 | L1_POPCNT) ||
	    !HAS(f->ext1_ecx, E1_LAHF_SAHF))
		return 1;
	if (!HAS(f->leaf1_ecx, L1_AVX | L1_F16C | L1_FMA | L1_MOVBE |
		 L1_OSXSAVE) ||
	    !HAS(f->leaf7_ebx, L7_AVX2 | L7_BMI1 | L7_BMI2) ||
	    !HAS(f->ext1_ecx, E1_LZCNT) || !HAS(f->xcr0, XCR0_AVX))
		return 2;
	if (!HAS(f->leaf7_ebx, L7_AVX512F | L7_AVX512BW | L7_AVX512CD |
		 L7_AVX512DQ | L7_AVX512VL) ||
	    !HAS(f->xcr0, XCR0_AVX | XCR0_AVX512))
		return 3;
	return 4;
}

int
ck_platform_x86_read(struct ck_x86_features *f)
{
	memset(f, 0, sizeof(*f));
#if defined(__x86_64__) || defined(__i386__)
	unsigned int a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return -1;
	f->leaf1_ecx = c;
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d))
		f->leaf7_ebx = b;
	if (__get_cpuid(0x80000001, &a, &b, &c, &d))
		f->ext1_ecx = c;
	/* XGETBV faults unless the OS set CR4.OSXSAVE, which OSXSAVE
	 * reports. */
	if (f->leaf1_ecx & L1_OSXSAVE) {
		__asm__ __volatile__("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
		f->xcr0 = ((uint64_t)d << 32) | a;
	}
	return 0;
#else
	return -1;
#endif
}

/* The value of the first "key : value" line of cpuinfo whose key is key,
 * compared without case. */
static char *
cpuinfo_value(const char *cpuinfo, const char *key)
{
	const char *line = cpuinfo, *colon, *end, *k, *ke;

	for (; line && *line; line = *end ? end + 1 : end) {
		end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		colon = memchr(line, ':', (size_t)(end - line));
		if (colon == NULL)
			continue;
		for (k = line; k < colon && (*k == ' ' || *k == '\t'); k++)
			;
		for (ke = colon; ke > k && (ke[-1] == ' ' || ke[-1] == '\t');
		     ke--)
			;
		if ((size_t)(ke - k) != strlen(key) ||
		    strncasecmp(k, key, strlen(key)) != 0)
			continue;
		for (k = colon + 1; k < end && (*k == ' ' || *k == '\t'); k++)
			;
		for (ke = end; ke > k && strchr(" \t\r", ke[-1]); ke--)
			;
		return ck_xstrndup(k, (size_t)(ke - k));
	}
	return NULL;
}

/* The variant for a "CPU architecture" value, as containerd maps them. */
static const char *
arm_variant_of(const char *arch)
{
	static const struct {
		const char *value, *variant;
	} table[] = {
		{ "8", "v8" }, { "aarch64", "v8" },
		{ "7", "v7" }, { "7m", "v7" }, { "?(12)", "v7" },
		{ "?(13)", "v7" }, { "?(14)", "v7" }, { "?(15)", "v7" },
		{ "?(16)", "v7" }, { "?(17)", "v7" },
		{ "6", "v6" }, { "6tej", "v6" },
		{ "5", "v5" }, { "5t", "v5" }, { "5te", "v5" },
		{ "5tej", "v5" },
		{ "4", "v4" }, { "4t", "v4" }, { "3", "v3" },
	};
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcasecmp(arch, table[i].value) == 0)
			return table[i].variant;
	return NULL;
}

char *
ck_platform_arm_variant(const char *cpuinfo, const char *machine)
{
	char *arch = cpuinfo ? cpuinfo_value(cpuinfo, "CPU architecture") :
			       NULL;
	char *model = NULL;
	const char *v = NULL;

	if (arch != NULL) {
		v = arm_variant_of(arch);
		/* ARMv6 Raspberry Pi kernels report architecture 7. */
		model = cpuinfo_value(cpuinfo, "model name");
		if (streq(v, "v7") && model &&
		    strncasecmp(model, "armv6-compatible", 16) == 0)
			v = "v6";
	}
	free(arch);
	free(model);
	if (v == NULL && machine && strncasecmp(machine, "armv", 4) == 0 &&
	    machine[4] >= '3' && machine[4] <= '8')
		return ck_asprintf("v%c", machine[4]);
	return v ? ck_xstrdup(v) : NULL;
}

static void
host_x86_variant(struct ck_platform *p)
{
	struct ck_x86_features f;
	int level;

	if (ck_platform_x86_read(&f) < 0)
		return;
	level = ck_platform_x86_level(&f);
	if (level > 1)
		p->variant = ck_asprintf("v%d", level);
}

int
ck_platform_host(struct ck_platform *p, struct ck_err **errp)
{
	struct utsname u;
	char *cpuinfo = NULL;

	memset(p, 0, sizeof(*p));
	if (uname(&u) < 0)
		return ck_err_set(errp, errno, "uname");
	p->os = ck_xstrdup("linux");
	p->arch = ck_xstrdup(u.machine);
	lower_in_place(p->arch);
	if (strcmp(p->arch, "x86_64") == 0) {
		host_x86_variant(p);
	} else if (p->arch[0] == 'i' && strcmp(p->arch + 2, "86") == 0 &&
		   p->arch[1] >= '3' && p->arch[1] <= '6') {
		set_str(&p->arch, "386");
	} else if (strncmp(p->arch, "armv", 4) == 0) {
		/* An unreadable /proc/cpuinfo leaves the machine name. */
		ck_read_file("/proc/cpuinfo", CPUINFO_MAX, &cpuinfo, NULL,
			     NULL);
		p->variant = ck_platform_arm_variant(cpuinfo, p->arch);
		set_str(&p->arch, "arm");
		free(cpuinfo);
	}
	normalise(p);
	return 0;
}

int
ck_platform_default(struct ck_platform *p, struct ck_err **errp)
{
	const char *env = getenv("CKIT_PLATFORM");

	if (env != NULL && *env != '\0') {
		if (ck_platform_parse(env, p, errp) < 0)
			return ck_err_wrap(errp, "CKIT_PLATFORM");
		return 0;
	}
	return ck_platform_host(p, errp);
}

/* ------------------------------------------------------------ match */

/* A variant number above this max has no lower variants, which keeps a
 * walk short. */
#define VARIANT_MAX 99

/*
 * A walk through the platforms that want runs, best first (containerd's
 * platformVector), stopping at the first one equal to have.
 */
struct walk {
	const struct ck_platform *want;
	const struct ck_platform *have;
	int strict;
	int pos;	/* candidates tried so far */
	int found;	/* 1-based position of the match, 0 while none */
};

/* Whether have's features are a subset of want's; both lists are sorted. */
static int
features_subset(const struct ck_platform *want,
		const struct ck_platform *have)
{
	size_t i, j = 0;

	for (i = 0; i < have->n_os_features; i++) {
		while (j < want->n_os_features &&
		       strcmp(want->os_features[j], have->os_features[i]) < 0)
			j++;
		if (j == want->n_os_features ||
		    strcmp(want->os_features[j], have->os_features[i]) != 0)
			return 0;
		j++;
	}
	return 1;
}

/* NOTE: os.version takes no part, as in containerd for every os but
 * windows, whose images ckit cannot run. */
static void
try_candidate(struct walk *w, const char *arch, const char *variant)
{
	struct ck_platform c = { 0 };

	if (w->found)
		return;
	w->pos++;
	c.os = ck_xstrdup(w->want->os);
	c.arch = ck_xstrdup(arch);
	c.variant = variant ? ck_xstrdup(variant) : NULL;
	normalise_arch(&c);
	if (strcmp(c.os, w->have->os) == 0 &&
	    strcmp(c.arch, w->have->arch) == 0 &&
	    streq(c.variant, w->have->variant) &&
	    features_subset(w->want, w->have))
		w->found = w->pos;
	ck_platform_free(&c);
}

/* Returns N of "vN" or "vN.M" and sets *minor to M, or -1 when absent.
 * Returns -1 when v is neither form. */
static int
variant_number(const char *v, int *minor)
{
	char *end;
	long major, m = -1;

	*minor = -1;
	if (v == NULL || v[0] != 'v' || v[1] < '0' || v[1] > '9')
		return -1;
	major = strtol(v + 1, &end, 10);
	if (*end == '.' && end[1] >= '0' && end[1] <= '9')
		m = strtol(end + 1, &end, 10);
	if (*end != '\0' || major > VARIANT_MAX || m > VARIANT_MAX)
		return -1;
	*minor = (int)m;
	return (int)major;
}

static void
try_numbered(struct walk *w, const char *arch, int major, int minor)
{
	char v[32];

	if (minor > 0)
		snprintf(v, sizeof(v), "v%d.%d", major, minor);
	else
		snprintf(v, sizeof(v), "v%d", major);
	try_candidate(w, arch, v);
}

/* arm/vN runs vN-1 down to v5, after arm/vN itself when self is set. */
static void
walk_arm(struct walk *w, const char *variant, int self)
{
	int minor, n = variant_number(variant, &minor);

	if (self)
		try_candidate(w, "arm", variant);
	if (minor >= 0)
		return;
	for (n--; n >= 5; n--)
		try_numbered(w, "arm", n, 0);
}

/*
 * arm64/v8.x runs v8.(x-1) down to v8; arm64/v9.x runs v9.(x-1) down to
 * v9 and then v8.(x+5) down, because v9.0 branched from v8.5. Then comes
 * 32-bit arm from v8 down.
 */
static void
walk_arm64(struct walk *w)
{
	const char *variant = w->want->variant ? w->want->variant : "v8";
	int m, minor, major = variant_number(variant, &minor);

	if (minor < 0)
		minor = 0;
	if (major == 9) {
		for (m = minor - 1; m >= 0; m--)
			try_numbered(w, "arm64", 9, m);
		minor += 5;
		major = 8;
		try_numbered(w, "arm64", 8, minor);
	}
	if (major >= 8)
		for (m = minor - 1; m >= 0; m--)
			try_numbered(w, "arm64", major, m);
	if (ck_has_prefix(variant, "v8.") || ck_has_prefix(variant, "v9."))
		variant = "v8";
	walk_arm(w, variant, 1);
}

static void
walk_amd64(struct walk *w)
{
	int minor, n = variant_number(w->want->variant, &minor);

	if (w->want->variant == NULL)
		n = 1;
	for (n--; n >= 1 && minor < 0; n--)
		try_numbered(w, "amd64", n, 0);
	try_candidate(w, "386", NULL);
}

/* Returns the 1-based position of have among the platforms want runs, or
 * 0 when want cannot run it. */
static int
position(const struct ck_platform *want, const struct ck_platform *have,
	 int strict)
{
	struct walk w = { want, have, strict, 0, 0 };

	try_candidate(&w, want->arch, want->variant);
	if (strict || w.found)
		return w.found;
	if (strcmp(want->arch, "amd64") == 0)
		walk_amd64(&w);
	else if (strcmp(want->arch, "arm") == 0 && want->variant)
		walk_arm(&w, want->variant, 0);
	else if (strcmp(want->arch, "arm64") == 0)
		walk_arm64(&w);
	return w.found;
}

int
ck_platform_match(const struct ck_platform *want,
		  const struct ck_platform *have, int strict)
{
	return position(want, have, strict) > 0;
}

/* Positions stay far below this: at most a few hundred candidates. */
#define RANK_TOP 100000

int
ck_platform_rank(const struct ck_platform *want,
		 const struct ck_platform *have)
{
	int pos = position(want, have, 0);

	return pos ? RANK_TOP - pos : 0;
}

/* ------------------------------------------------------------ index */

/* "os/arch[/variant]" of an entry's platform object, as written. */
static char *
platform_text(json_t *j)
{
	const char *os = json_string_value(json_object_get(j, "os"));
	const char *arch = json_string_value(json_object_get(j,
							     "architecture"));
	const char *var = json_string_value(json_object_get(j, "variant"));

	if (os == NULL || arch == NULL)
		return NULL;
	if (var != NULL && *var != '\0')
		return ck_asprintf("%s/%s/%s", os, arch, var);
	return ck_asprintf("%s/%s", os, arch);
}

static int
entry_parse(json_t *j, struct ck_platform_entry *e, struct ck_err **errp)
{
	json_t *platform = json_object_get(j, "platform");

	if (ck_descriptor_from_json(j, &e->desc, errp) < 0)
		return -1;
	e->json = json_incref(j);
	if (platform != NULL &&
	    ck_platform_from_json(platform, &e->platform, NULL) == 0) {
		e->has_platform = 1;
		e->text = platform_text(platform);
	}
	return 0;
}

int
ck_platform_index_parse(const char *data, size_t len,
			struct ck_platform_entry **entries, size_t *n,
			struct ck_err **errp)
{
	json_error_t jerr;
	json_t *j = json_loadb(data, len, 0, &jerr), *list;
	size_t i;

	*entries = NULL;
	*n = 0;
	if (j == NULL)
		return ck_err_setc(errp, CK_E_INVALID, 0, "invalid index: "
				   "%d:%d: %s", jerr.line, jerr.column,
				   jerr.text);
	list = json_object_get(j, "manifests");
	if (!json_is_array(list)) {
		json_decref(j);
		return ck_err_setc(errp, CK_E_INVALID, 0,
				   "invalid index: no 'manifests' array");
	}
	*entries = ck_xcalloc(json_array_size(list) + 1, sizeof(**entries));
	for (i = 0; i < json_array_size(list); i++) {
		if (entry_parse(json_array_get(list, i), &(*entries)[i],
				errp) < 0) {
			ck_platform_entries_free(*entries, i + 1);
			*entries = NULL;
			json_decref(j);
			return ck_err_wrap(errp, "invalid index: entry %zu",
					   i + 1);
		}
		(*n)++;
	}
	json_decref(j);
	return 0;
}

void
ck_platform_entries_free(struct ck_platform_entry *entries, size_t n)
{
	size_t i;

	for (i = 0; entries && i < n; i++) {
		ck_descriptor_free(&entries[i].desc);
		json_decref(entries[i].json);
		ck_platform_free(&entries[i].platform);
		free(entries[i].text);
	}
	free(entries);
}

int
ck_platform_entry_usable(const struct ck_platform_entry *e)
{
	const char *mt = e->desc.media_type;

	if (!e->has_platform || strcmp(e->platform.os, "unknown") == 0 ||
	    strcmp(e->platform.arch, "unknown") == 0)
		return 0;
	/* An entry without a mediaType is read as a manifest. */
	return mt[0] == '\0' || ck_media_type_kind(mt) == CK_KIND_MANIFEST;
}

static int
same_platform(const struct ck_platform *a, const struct ck_platform *b)
{
	char *sa = ck_platform_format_all(a), *sb = ck_platform_format_all(b);
	int same = strcmp(sa, sb) == 0;

	free(sa);
	free(sb);
	return same;
}

static int
no_match(const struct ck_platform *want, int strict,
	 const struct ck_platform_entry *e, size_t n, struct ck_err **errp)
{
	struct ck_buf offered = { 0 };
	char *w = ck_platform_format_all(want), *s;
	size_t i, j;

	for (i = 0; i < n; i++) {
		if (!ck_platform_entry_usable(&e[i]))
			continue;
		s = ck_platform_format_all(&e[i].platform);
		for (j = 0; j < i; j++)
			if (ck_platform_entry_usable(&e[j]) &&
			    same_platform(&e[i].platform, &e[j].platform))
				break;
		if (j == i)
			ck_buf_addf(&offered, "%s%s", offered.len ? ", " : "",
				    s);
		free(s);
	}
	ck_err_setc(errp, CK_E_NOTFOUND, 0, "no manifest for platform '%s'%s; "
		    "%s%s", w, strict ? " (strict)" : "",
		    offered.len ? "the index offers " :
				  "the index offers no platform that can be "
				  "chosen",
		    offered.len ? offered.data : "");
	ck_buf_free(&offered);
	free(w);
	return -1;
}

int
ck_platform_select(const struct ck_platform *want, int strict,
		   const struct ck_platform_entry *entries, size_t n,
		   size_t *best, struct ck_err **errp)
{
	size_t i;
	int rank, best_rank = 0;

	for (i = 0; i < n; i++) {
		if (!ck_platform_entry_usable(&entries[i]))
			continue;
		rank = position(want, &entries[i].platform, strict);
		rank = rank ? RANK_TOP - rank : 0;
		if (rank > best_rank) {
			best_rank = rank;
			*best = i;
		}
	}
	if (best_rank == 0)
		return no_match(want, strict, entries, n, errp);
	return 0;
}
