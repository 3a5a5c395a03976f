/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Platforms ("os/arch[/variant]") parsed and normalised as containerd's
 * platforms package does, the host's platform, and the choice of manifests
 * from an image index. Every tool that picks a platform manifest (cpull,
 * cplatform) goes through ck_platform_select, so they all choose alike.
 */
#ifndef CK_PLATFORM_H
#define CK_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "store.h"

/* Always normalised: lower-case os, arch and variant, aliases resolved. */
struct ck_platform {
	char *os;
	char *arch;
	char *variant;		/* NULL when none or the default one */
	char *os_version;	/* the OCI "os.version", or NULL */
	char **os_features;	/* the OCI "os.features", sorted, unique */
	size_t n_os_features;
};

/*
 * Parses a specifier: "os", "arch", "os/arch", "arch/variant" or
 * "os/arch/variant", where os may carry "(version+feature...)". A bare
 * word that is a known operating system takes this machine's architecture
 * and variant. Any other bare word must be a known architecture and gets
 * os "linux". Two parts are "arch/variant" on linux when the first is a
 * known architecture and not a known operating system.
 */
int ck_platform_parse(const char *s, struct ck_platform *p,
		      struct ck_err **errp);
/* Reads an OCI platform object: os, architecture, variant, os.version,
 * os.features. */
int ck_platform_from_json(json_t *j, struct ck_platform *p,
			  struct ck_err **errp);
/* Returns a new OCI platform object. */
json_t *ck_platform_to_json(const struct ck_platform *p);
/* "os/arch[/variant]" */
char *ck_platform_format(const struct ck_platform *p);
/* "os(version+features)/arch[/variant]", the parenthesis only when set. */
char *ck_platform_format_all(const struct ck_platform *p);
void ck_platform_copy(struct ck_platform *dst, const struct ck_platform *src);
void ck_platform_free(struct ck_platform *p);

/* The platform this machine runs: kernel architecture, and the variant
 * from CPUID (amd64) or /proc/cpuinfo (arm). */
int ck_platform_host(struct ck_platform *p, struct ck_err **errp);
/* $CKIT_PLATFORM when set, else ck_platform_host. */
int ck_platform_default(struct ck_platform *p, struct ck_err **errp);

/* The CPUID and XCR0 bits that decide the x86-64 microarchitecture level. */
struct ck_x86_features {
	uint32_t leaf1_ecx;	/* CPUID.01H:ECX */
	uint32_t leaf7_ebx;	/* CPUID.(EAX=07H,ECX=0):EBX */
	uint32_t ext1_ecx;	/* CPUID.80000001H:ECX */
	uint64_t xcr0;		/* XGETBV(0), or 0 without OSXSAVE */
};

/* Fills f from this CPU; returns -1 on a CPU that is not x86. */
int ck_platform_x86_read(struct ck_x86_features *f);
/* The x86-64 psABI level, 1 to 4, that the features provide. */
int ck_platform_x86_level(const struct ck_x86_features *f);
/*
 * Returns the arm variant ("v5" to "v8") from the text of /proc/cpuinfo,
 * else from the kernel's machine name ("armv7l"), else NULL.
 */
char *ck_platform_arm_variant(const char *cpuinfo, const char *machine);

/*
 * Whether an image for have runs where want is requested. Unless strict,
 * want also runs lower variants: amd64/vN runs vN-1 down to amd64 and
 * 386, arm/vN runs vN-1 down to v5, arm64 runs arm/v8 down to v5.
 */
int ck_platform_match(const struct ck_platform *want,
		      const struct ck_platform *have, int strict);
/*
 * Ranks how well have suits want, not strictly: 0 when it cannot run, else
 * a larger number for a closer match, so that the highest variant not
 * above the requested one ranks highest.
 */
int ck_platform_rank(const struct ck_platform *want,
		     const struct ck_platform *have);

/* One entry of an image index or Docker manifest list. */
struct ck_platform_entry {
	struct ck_descriptor desc;
	json_t *json;			/* the entry as the index has it */
	int has_platform;		/* 0: no valid "platform" object */
	struct ck_platform platform;	/* normalised, when has_platform */
	char *text;			/* "os/arch[/variant]" as written */
};

int ck_platform_index_parse(const char *data, size_t len,
			    struct ck_platform_entry **entries, size_t *n,
			    struct ck_err **errp);
void ck_platform_entries_free(struct ck_platform_entry *entries, size_t n);
/* Whether an entry may be chosen: a manifest, not a nested index, with a
 * platform that is not unknown/unknown (attestations). */
int ck_platform_entry_usable(const struct ck_platform_entry *e);
/*
 * Sets *best to the usable entry that ranks highest for want, the first
 * one on a tie. On no match fails with CK_E_NOTFOUND and a message that
 * lists every platform the index offers.
 */
int ck_platform_select(const struct ck_platform *want, int strict,
		       const struct ck_platform_entry *entries, size_t n,
		       size_t *best, struct ck_err **errp);

#endif
