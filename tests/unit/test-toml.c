/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table-driven tests of the TOML reader. Each valid document is printed in
 * a compact canonical form (tables as {k=v,…} in file order, strings in
 * double quotes with \n and \" escaped, arrays as […]) and compared; each
 * invalid one must fail with the expected "file:line:column: message".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toml.h"
#include "util.h"

static const struct {
	const char *input;
	const char *dump;	/* NULL: must be rejected */
	const char *error;	/* expected error text after "t.toml:" */
} cases[] = {
	/* Valid documents. */
	{ "", "{}", NULL },
	{ "# only a comment\n\n", "{}", NULL },
	{ "a = 1\nb = -2\nc = +3\n", "{a=1,b=-2,c=3}", NULL },
	{ "big = 9_223_372_036_854_775_807\nsmall = -9223372036854775808\n",
	  "{big=9223372036854775807,small=-9223372036854775808}", NULL },
	{ "h = 0xdead_BEEF\no = 0o755\nb = 0b1010\n",
	  "{h=3735928559,o=493,b=10}", NULL },
	{ "t = true\nf = false\n", "{t=true,f=false}", NULL },
	{ "s = \"tab\\there \\\"q\\\" \\\\ \\u00e9 \\U0001F600\"\n",
	  "{s=\"tab\there \\\"q\\\" \\ \xc3\xa9 \xf0\x9f\x98\x80\"}", NULL },
	{ "s = 'C:\\path\\no escapes'\n", "{s=\"C:\\path\\no escapes\"}",
	  NULL },
	{ "s = \"\"\"\nline1\nline2\\\n    joined\"\"\"\n",
	  "{s=\"line1\\nline2joined\"}", NULL },
	{ "s = '''\nraw \\n\n'''\n", "{s=\"raw \\n\\n\"}", NULL },
	{ "s = \"\"\"two \"\"quotes\"\"\"\"\"\n",
	  "{s=\"two \\\"\\\"quotes\\\"\\\"\"}", NULL },
	{ "empty = \"\"\nlit = ''\n", "{empty=\"\",lit=\"\"}", NULL },
	{ "\"quoted key\" = 1\n'lit.key' = 2\n",
	  "{quoted key=1,lit.key=2}", NULL },
	{ "a.b.c = 1\na.b.d = 2\n", "{a={b={c=1,d=2}}}", NULL },
	{ "a . \"b.c\" = 1\n", "{a={b.c=1}}", NULL },
	{ "server = \"https://r.example\"\n"
	  "[host.\"https://m1:5000\"]\n  capabilities = [\"pull\", "
	  "\"resolve\"]\n  skip_verify = true\n"
	  "[host.\"http://m2\"]\n  ca = \"ca.pem\"\n",
	  "{server=\"https://r.example\",host={https://m1:5000={capabilities="
	  "[\"pull\",\"resolve\"],skip_verify=true},http://m2={ca=\"ca.pem\"}}}",
	  NULL },
	{ "client = [[\"cert\", \"key\"], [\"pem\", \"\"]]\n",
	  "{client=[[\"cert\",\"key\"],[\"pem\",\"\"]]}", NULL },
	{ "a = [\n  1, # one\n  2,\n]\n", "{a=[1,2]}", NULL },
	{ "a = []\nb = [ [ ], [1, \"x\"] ]\n", "{a=[],b=[[],[1,\"x\"]]}",
	  NULL },
	{ "t = { x = 1, y.z = \"s\" }\n", "{t={x=1,y={z=\"s\"}}}", NULL },
	{ "[a.b]\nx = 1\n[a]\ny = 2\n", "{a={b={x=1},y=2}}", NULL },
	{ "[[p]]\nn = 1\n[[p]]\nn = 2\n[p.sub]\nk = 3\n",
	  "{p=[{n=1},{n=2,sub={k=3}}]}", NULL },
	{ "a = 1\r\nb = 2\r\n", "{a=1,b=2}", NULL },
	{ "\xef\xbb\xbf" "a = 1", "{a=1}", NULL },
	{ "[t]   # comment after a header\nk=1# no space\n", "{t={k=1}}",
	  NULL },
	{ "[fruit]\napple.color = \"red\"\n[fruit.apple.texture]\n"
	  "smooth = true\n",
	  "{fruit={apple={color=\"red\",texture={smooth=true}}}}", NULL },

	/* Malformed documents. */
	{ "a = 1\na = 2\n", NULL, "2:1: key 'a' is already defined" },
	{ "[t]\n[t]\n", NULL, "2:1: table 't' is already defined" },
	{ "a.b = 1\n[a]\n", NULL, "2:1: table 'a' is already defined" },
	{ "a = 1\n[a.b]\n", NULL,
	  "2:1: key 'a' is not a table that can be extended" },
	{ "a = \"open\n", NULL,
	  "1:10: string not closed before the end of the line" },
	{ "a = \"bad \\q\"\n", NULL,
	  "1:10: invalid escape sequence in a string" },
	{ "a = \"\\uD800\"\n", NULL,
	  "1:6: invalid unicode escape: not a Unicode scalar value" },
	{ "a = \"\\u12\"\n", NULL,
	  "1:10: invalid unicode escape: expected 4 hex digits" },
	{ "a = 1.5\n", NULL, "1:5: floats and dates are not supported" },
	{ "d = 1979-05-27\n", NULL,
	  "1:5: floats and dates are not supported" },
	{ "x = inf\n", NULL, "1:5: floats and dates are not supported" },
	{ "a = 012\n", NULL,
	  "1:5: leading zeros are not allowed in an integer" },
	{ "a = 1__0\n", NULL, "1:7: invalid underscore in a number" },
	{ "a = 9223372036854775808\n", NULL, "1:5: integer out of range" },
	{ "a = yes\n", NULL, "1:5: invalid value: expected a string, an "
	  "integer, a boolean, an array or an inline table" },
	{ "a =\n", NULL, "1:4: missing value" },
	{ "a 1\n", NULL, "1:3: expected '=' after a key" },
	{ "= 1\n", NULL, "1:1: invalid character '=' in a key" },
	{ "a = 1 b = 2\n", NULL, "1:7: expected the end of the line" },
	{ "a = [1 2]\n", NULL, "1:8: expected ',' or ']' in an array" },
	{ "a = [1,\n", NULL, "2:1: missing value" },
	{ "[a\n", NULL, "1:3: expected ']' after a table name" },
	{ "[[a]\n", NULL, "1:4: expected ']]' after a table name" },
	{ "a = [1]\n[[a]]\n", NULL, "2:1: key 'a' is already defined and is "
	  "not an array of tables" },
	{ "t = {a = 1,}\n", NULL, "1:12: trailing comma in an inline table" },
	{ "t = {a = 1}\n[t.b]\n", NULL,
	  "2:1: key 't' is not a table that can be extended" },
	{ "a = \"x\" # bell \x07\n", NULL, "1:16: control character in a "
	  "comment" },
	{ "a = 1\rb = 2\n", NULL, "1:6: carriage return without a line feed" },
	{ "a = \"\xc3\x28\"\n", NULL, "1:6: invalid UTF-8" },
	{ "a = '''never closed\n", NULL, "1:5: string not closed" },
	{ "\"\"\"k\"\"\" = 1\n", NULL,
	  "1:1: a key cannot be a multi-line string" },
	{ "[a]\nb.c = 1\n[a]\n", NULL, "3:1: table 'a' is already defined" },
};

static void dump(const struct ck_toml *v, struct ck_buf *b);

static void
dump_string(const char *s, struct ck_buf *b)
{
	ck_buf_add(b, "\"", 1);
	for (; *s; s++) {
		if (*s == '"')
			ck_buf_add(b, "\\\"", 2);
		else if (*s == '\n')
			ck_buf_add(b, "\\n", 2);
		else
			ck_buf_add(b, s, 1);
	}
	ck_buf_add(b, "\"", 1);
}

static void
dump(const struct ck_toml *v, struct ck_buf *b)
{
	size_t i, n = ck_toml_len(v);

	switch (ck_toml_type(v)) {
	case CK_TOML_TABLE:
		ck_buf_add(b, "{", 1);
		for (i = 0; i < n; i++) {
			ck_buf_addf(b, "%s%s=", i ? "," : "",
				    ck_toml_key(v, i));
			dump(ck_toml_at(v, i), b);
		}
		ck_buf_add(b, "}", 1);
		break;
	case CK_TOML_ARRAY:
		ck_buf_add(b, "[", 1);
		for (i = 0; i < n; i++) {
			if (i)
				ck_buf_add(b, ",", 1);
			dump(ck_toml_at(v, i), b);
		}
		ck_buf_add(b, "]", 1);
		break;
	case CK_TOML_STRING:
		dump_string(ck_toml_string(v), b);
		break;
	case CK_TOML_INTEGER:
		ck_buf_addf(b, "%lld", (long long)ck_toml_integer(v));
		break;
	case CK_TOML_BOOLEAN:
		ck_buf_addf(b, "%s", ck_toml_boolean(v) ? "true" : "false");
		break;
	}
}

static int
run_case(size_t i)
{
	struct ck_err *err = NULL;
	struct ck_toml *doc;
	struct ck_buf got = { 0 };
	char *want_err;
	int ok;

	doc = ck_toml_parse(cases[i].input, strlen(cases[i].input), "t.toml",
			    &err);
	if (cases[i].dump != NULL) {
		if (doc != NULL)
			dump(doc, &got);
		ok = doc != NULL && strcmp(got.data, cases[i].dump) == 0;
		if (!ok)
			printf("case %zu: expected %s\n  got %s\n", i,
			       cases[i].dump, doc ? got.data : err->msg);
	} else {
		want_err = ck_asprintf("t.toml:%s", cases[i].error);
		ok = doc == NULL && strcmp(err->msg, want_err) == 0;
		if (!ok)
			printf("case %zu: expected error %s\n  got %s\n", i,
			       want_err, doc ? "a document" : err->msg);
		free(want_err);
	}
	ck_buf_free(&got);
	ck_toml_free(doc);
	ck_err_free(&err);
	return ok;
}

/* The accessors on a parsed hosts.toml, as lib/common/hosts.c uses them. */
static int
check_accessors(void)
{
	static const char doc_text[] =
		"server = \"https://a\"\n[host.\"https://m\"]\nca = \"x\"\n";
	struct ck_toml *doc = ck_toml_parse(doc_text, strlen(doc_text), NULL,
					    NULL);
	const struct ck_toml *hosts = ck_toml_get(doc, "host");
	const struct ck_toml *m = ck_toml_get(hosts, "https://m");
	int ok = doc != NULL && ck_toml_len(hosts) == 1 &&
		 strcmp(ck_toml_key(hosts, 0), "https://m") == 0 &&
		 ck_toml_line(m) == 2 && ck_toml_column(m) == 1 &&
		 strcmp(ck_toml_string(ck_toml_get(m, "ca")), "x") == 0 &&
		 ck_toml_line(ck_toml_get(m, "ca")) == 3 &&
		 ck_toml_column(ck_toml_get(m, "ca")) == 6 &&
		 ck_toml_get(doc, "missing") == NULL &&
		 ck_toml_get(ck_toml_get(doc, "server"), "x") == NULL &&
		 ck_toml_at(hosts, 1) == NULL;

	if (!ok)
		printf("accessors: unexpected result\n");
	ck_toml_free(doc);
	return ok;
}

int
main(void)
{
	size_t i, n = sizeof(cases) / sizeof(cases[0]), failed = 0;

	for (i = 0; i < n; i++)
		if (!run_case(i))
			failed++;
	if (!check_accessors())
		failed++;
	printf("test-toml: %zu cases, %zu failed\n", n + 1, failed);
	return failed ? 1 : 0;
}
