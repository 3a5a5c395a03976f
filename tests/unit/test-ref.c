/* SPDX-License-Identifier: Apache-2.0 */
/* Table-driven tests of reference parsing and normalisation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "util.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const struct {
	const char *input;
	const char *name;	/* NULL: must be rejected */
	const char *host;
} cases[] = {
	{ "busybox", "docker.io/library/busybox:latest",
	  "registry-1.docker.io" },
	{ "busybox:1.36", "docker.io/library/busybox:1.36",
	  "registry-1.docker.io" },
	{ "library/busybox", "docker.io/library/busybox:latest", NULL },
	{ "user/app:v1", "docker.io/user/app:v1", NULL },
	{ "docker.io/busybox", "docker.io/library/busybox:latest", NULL },
	{ "index.docker.io/busybox", "docker.io/library/busybox:latest",
	  NULL },
	{ "docker.io/user/app", "docker.io/user/app:latest", NULL },
	{ "localhost/app", "localhost/app:latest", "localhost" },
	{ "localhost:5000/app:t", "localhost:5000/app:t", "localhost:5000" },
	{ "127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000/a/b/c:t",
	  "127.0.0.1:5000" },
	{ "[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000" },
	{ "quay.io/org/app@sha256:" D64, "quay.io/org/app@sha256:" D64,
	  "quay.io" },
	{ "app:v1@sha256:" D64, "docker.io/library/app:v1@sha256:" D64,
	  NULL },
	{ "a.b/c_d/e__f/g-h/i--j/k.l", "a.b/c_d/e__f/g-h/i--j/k.l:latest",
	  NULL },
	{ "app:_tag.1-x", "docker.io/library/app:_tag.1-x", NULL },
	{ "", NULL, NULL },
	{ "Busybox", NULL, NULL },
	{ "busybox:", NULL, NULL },
	{ "busybox:-bad", NULL, NULL },
	{ "busy box", NULL, NULL },
	{ "busybox@sha256:abc", NULL, NULL },
	{ "busybox@md5:" D64, NULL, NULL },
	{ "/busybox", NULL, NULL },
	{ "busybox/", NULL, NULL },
	{ "a//b", NULL, NULL },
	{ "a/_b", NULL, NULL },
	{ "a/b_", NULL, NULL },
	{ "a/b___c", NULL, NULL },
	{ "host:port/app", NULL, NULL },
	{ "-host.io/app", NULL, NULL },
	{ "app:" "t23456789012345678901234567890123456789012345678901234567890"
	  "12345678901234567890123456789012345678901234567890123456789012345"
	  "67890", NULL, NULL },
};

int
main(void)
{
	size_t i, failed = 0;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ck_err *err = NULL;
		struct ck_ref ref;
		int rc = ck_ref_parse(cases[i].input, &ref, &err);
		char *name;

		if (cases[i].name == NULL) {
			if (rc == 0) {
				printf("FAIL '%s': accepted\n", cases[i].input);
				failed++;
				ck_ref_free(&ref);
			}
			ck_err_free(&err);
			continue;
		}
		if (rc < 0) {
			printf("FAIL '%s': %s\n", cases[i].input, err->msg);
			ck_err_free(&err);
			failed++;
			continue;
		}
		name = ck_ref_name(&ref);
		if (strcmp(name, cases[i].name) != 0) {
			printf("FAIL '%s': name '%s', expected '%s'\n",
			       cases[i].input, name, cases[i].name);
			failed++;
		}
		if (cases[i].host &&
		    strcmp(ck_ref_registry_host(&ref), cases[i].host) != 0) {
			printf("FAIL '%s': host '%s', expected '%s'\n",
			       cases[i].input, ck_ref_registry_host(&ref),
			       cases[i].host);
			failed++;
		}
		free(name);
		ck_ref_free(&ref);
	}
	printf("test-ref: %zu cases, %zu failed\n",
	       sizeof(cases) / sizeof(cases[0]), failed);
	return failed ? 1 : 0;
}
