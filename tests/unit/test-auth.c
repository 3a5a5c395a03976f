/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table-driven tests of WWW-Authenticate parsing and base64. Each parsed
 * header list is printed as "scheme{name=value,…}" per challenge, with
 * token68 as "scheme[token]", and compared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "util.h"

static const struct {
	const char *headers[3];	/* one or more WWW-Authenticate values */
	const char *want;
} cases[] = {
	{ { "Bearer realm=\"https://auth.example/token\",service=\"reg\","
	    "scope=\"repository:lib/app:pull,push\"" },
	  "bearer{realm=https://auth.example/token,service=reg,"
	  "scope=repository:lib/app:pull,push}" },
	{ { "Basic realm=\"a, b=c\", Bearer realm=\"http://t/x\"" },
	  "basic{realm=a, b=c} bearer{realm=http://t/x}" },
	{ { "Basic realm=\"r\"", "Bearer realm=\"http://t\",scope=\"s\"" },
	  "basic{realm=r} bearer{realm=http://t,scope=s}" },
	{ { "bearer service=\"quote \\\" and \\\\ slash\",realm=\"x\"" },
	  "bearer{service=quote \" and \\ slash,realm=x}" },
	{ { "Bearer realm=\"\",error=\"\"" }, "bearer{realm=,error=}" },
	{ { "Bearer realm=http://127.0.0.1:5/token?kind=a ,service=s" },
	  "bearer{realm=http://127.0.0.1:5/token?kind=a,service=s}" },
	{ { "Bearer realm=\"x\",scope=repository:a:pull,push" },
	  "bearer{realm=x,scope=repository:a:pull,push}" },
	{ { "Bearer realm=\"x\",scope=\"repository:a:pull "
	    "repository:b:pull,push\"" },
	  "bearer{realm=x,scope=repository:a:pull repository:b:pull,push}" },
	{ { "Negotiate abc123==, Basic realm=\"r\"" },
	  "negotiate[abc123==] basic{realm=r}" },
	{ { "Basic" }, "basic{}" },
	{ { "Basic, Bearer realm=x" }, "basic{} bearer{realm=x}" },
	{ { "Bearer REALM=\"x\"   ,   Service = \"y\"" },
	  "bearer{realm=x,service=y}" },
	{ { "Bearer realm=\"x\", realm=\"second\"" }, "bearer{realm=x}" },
	{ { "Bearer realm=\"unterminated" }, "bearer{}" },
	{ { "Bearer realm=\"x\" junk, Basic" }, "bearer{realm=x}" },
	{ { "" }, "" },
	{ { ", ,Bearer realm=\"x\"" }, "bearer{realm=x}" },
};

static char *
render(const struct ck_auth_challenge *list, size_t n)
{
	struct ck_buf b = { 0 };
	size_t i, j;

	ck_buf_add(&b, "", 0);
	for (i = 0; i < n; i++) {
		ck_buf_addf(&b, "%s%s", i ? " " : "", list[i].scheme);
		if (list[i].token68 != NULL) {
			ck_buf_addf(&b, "[%s]", list[i].token68);
			continue;
		}
		ck_buf_add(&b, "{", 1);
		for (j = 0; j < list[i].n_params; j++)
			ck_buf_addf(&b, "%s%s=%s", j ? "," : "",
				    list[i].params[j].name,
				    list[i].params[j].value);
		ck_buf_add(&b, "}", 1);
	}
	return b.data;
}

static int
check_base64(void)
{
	static const char *plain[] = { "", "f", "fo", "foo", "foob",
				       "user:p@ss:word" };
	static const char *coded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==",
				       "dXNlcjpwQHNzOndvcmQ=" };
	char *enc, *dec;
	size_t i, len;
	int ok = 1;

	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		enc = ck_base64_encode(plain[i], strlen(plain[i]));
		if (strcmp(enc, coded[i]) != 0 ||
		    ck_base64_decode(coded[i], &dec, &len) < 0 ||
		    len != strlen(plain[i]) || strcmp(dec, plain[i]) != 0) {
			printf("base64: case %zu failed\n", i);
			ok = 0;
		} else {
			free(dec);
		}
		free(enc);
	}
	if (ck_base64_decode("a*b=", &dec, &len) == 0) {
		printf("base64: invalid input accepted\n");
		free(dec);
		ok = 0;
	}
	return ok;
}

int
main(void)
{
	size_t i, j, n = sizeof(cases) / sizeof(cases[0]), failed = 0;
	struct ck_auth_challenge *list;
	size_t count;
	char *got;

	for (i = 0; i < n; i++) {
		list = NULL;
		count = 0;
		for (j = 0; j < 3 && cases[i].headers[j]; j++)
			ck_auth_parse(cases[i].headers[j], &list, &count);
		got = render(list, count);
		if (strcmp(got, cases[i].want) != 0) {
			printf("case %zu: expected %s\n  got %s\n", i,
			       cases[i].want, got);
			failed++;
		}
		free(got);
		ck_auth_free(list, count);
	}
	if (!check_base64())
		failed++;
	printf("test-auth: %zu cases, %zu failed\n", n + 1, failed);
	return failed ? 1 : 0;
}
