/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Platforms as "os/arch[/variant]", normalised as containerd does, and the
 * choice of one manifest from an index.
 */
#ifndef CK_PLATFORM_H
#define CK_PLATFORM_H

#include "err.h"

struct ck_platform {
	char *os;
	char *arch;
	char *variant;	/* NULL when none or the default one */
};

int ck_platform_parse(const char *s, struct ck_platform *p,
		      struct ck_err **errp);
char *ck_platform_format(const struct ck_platform *p);
void ck_platform_free(struct ck_platform *p);
/* The platform this machine runs, or $CKIT_PLATFORM when set. */
int ck_platform_default(struct ck_platform *p, struct ck_err **errp);
/*
 * Ranks how well have suits want: 0 when it cannot run, else a larger
 * number for a better match (the exact variant ranks highest).
 */
int ck_platform_rank(const struct ck_platform *want,
		     const struct ck_platform *have);

#endif
