/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TOML reader. One pass over the text builds a tree of ck_toml nodes.
 * Each table records how it came to exist (a [header], a path to a header,
 * a dotted key, an inline table), because TOML 1.0 lets only some of
 * those be extended or defined again; every other redefinition fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "toml.h"
#include "util.h"

#define TOML_FILE_MAX (1024 * 1024)
#define DEPTH_MAX 64

/* How a table was made, which decides what may add to it later. */
enum origin {
	ORIGIN_VALUE = 0,	/* not a table, or an array value */
	ORIGIN_IMPLICIT,	/* a prefix of a [header]; may be defined once */
	ORIGIN_HEADER,		/* defined by a [header] */
	ORIGIN_DOTTED,		/* made by a dotted key */
	ORIGIN_INLINE,		/* an inline table: closed for good */
	ORIGIN_AOT,		/* an array of tables, or one of its tables */
};

struct ck_toml {
	enum ck_toml_type type;
	enum origin origin;
	int section;		/* for ORIGIN_DOTTED: the header it is under */
	int line, column;
	char *str;
	int64_t integer;
	int boolean;
	char **keys;		/* tables only */
	struct ck_toml **items;
	size_t n, cap;
};

struct parser {
	const char *name;
	const char *s, *p, *end;
	int line;
	const char *line_start;
	int section;		/* counts headers, for dotted-key tables */
	int depth;
	struct ck_err **errp;
};

static int CK_PRINTF(3, 4)
fail_at(struct parser *ps, const char *at, const char *fmt, ...)
{
	const char *q;
	int line = 1, col = 1;
	va_list ap;
	char *msg;

	for (q = ps->s; q < at && q < ps->end; q++) {
		if (*q == '\n') {
			line++;
			col = 1;
		} else if (((unsigned char)*q & 0xc0) != 0x80) {
			col++;
		}
	}
	va_start(ap, fmt);
	msg = ck_vasprintf(fmt, ap);
	va_end(ap);
	ck_err_setc(ps->errp, CK_E_INVALID, 0, "%s:%d:%d: %s", ps->name, line,
		    col, msg);
	free(msg);
	return -1;
}

#define fail(ps, ...) fail_at((ps), (ps)->p, __VA_ARGS__)

static struct ck_toml *
node_new(struct parser *ps, enum ck_toml_type type, const char *at)
{
	struct ck_toml *v = ck_xcalloc(1, sizeof(*v));
	const char *q;

	v->type = type;
	v->line = 1;
	v->column = 1;
	for (q = ps->s; q < at; q++) {
		if (*q == '\n') {
			v->line++;
			v->column = 1;
		} else if (((unsigned char)*q & 0xc0) != 0x80) {
			v->column++;
		}
	}
	return v;
}

void
ck_toml_free(struct ck_toml *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->n; i++) {
		if (v->keys)
			free(v->keys[i]);
		ck_toml_free(v->items[i]);
	}
	free(v->keys);
	free(v->items);
	free(v->str);
	free(v);
}

static void
node_append(struct ck_toml *parent, char *key, struct ck_toml *v)
{
	if (parent->n == parent->cap) {
		parent->cap = parent->cap ? parent->cap * 2 : 4;
		parent->items = ck_xrealloc(parent->items, parent->cap *
					    sizeof(*parent->items));
		if (parent->type == CK_TOML_TABLE)
			parent->keys = ck_xrealloc(parent->keys, parent->cap *
						   sizeof(*parent->keys));
	}
	if (parent->type == CK_TOML_TABLE)
		parent->keys[parent->n] = key;
	parent->items[parent->n++] = v;
}

static struct ck_toml *
table_lookup(const struct ck_toml *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->keys[i], key) == 0)
			return t->items[i];
	return NULL;
}

/* Checks that the text is UTF-8 without NUL bytes and that every CR
 * starts a CRLF, so later steps can work on bytes. */
static int
check_text(struct parser *ps)
{
	const unsigned char *q = (const unsigned char *)ps->s;
	const unsigned char *end = (const unsigned char *)ps->end;
	unsigned c, need, cp, min;

	while (q < end) {
		c = *q;
		if (c == 0)
			return fail_at(ps, (const char *)q, "NUL byte");
		if (c == '\r' && (q + 1 == end || q[1] != '\n'))
			return fail_at(ps, (const char *)q, "carriage return "
				       "without a line feed");
		if (c < 0x80) {
			q++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			need = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return fail_at(ps, (const char *)q, "invalid UTF-8");
		}
		if ((size_t)(end - q) <= need)
			return fail_at(ps, (const char *)q, "invalid UTF-8");
		for (unsigned i = 1; i <= need; i++) {
			if ((q[i] & 0xc0) != 0x80)
				return fail_at(ps, (const char *)q,
					       "invalid UTF-8");
			cp = cp << 6 | (q[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return fail_at(ps, (const char *)q, "invalid UTF-8");
		q += need + 1;
	}
	return 0;
}

static int
at_end(const struct parser *ps)
{
	return ps->p >= ps->end;
}

static char
peek(const struct parser *ps)
{
	return at_end(ps) ? '\0' : *ps->p;
}

static void
skip_ws(struct parser *ps)
{
	while (!at_end(ps) && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

static int
is_newline(const struct parser *ps)
{
	return peek(ps) == '\n' ||
	       (peek(ps) == '\r' && ps->p + 1 < ps->end && ps->p[1] == '\n');
}

static void
skip_newline(struct parser *ps)
{
	if (peek(ps) == '\r')
		ps->p++;
	ps->p++;
}

/* Skips a comment to the end of its line. Control characters other than
 * tab are not allowed in comments. */
static int
skip_comment(struct parser *ps)
{
	unsigned char c;

	if (peek(ps) != '#')
		return 0;
	for (ps->p++; !at_end(ps) && !is_newline(ps); ps->p++) {
		c = (unsigned char)*ps->p;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(ps, "control character in a comment");
	}
	return 0;
}

/* Skips blanks, comments and newlines, as allowed inside arrays. */
static int
skip_ws_nl(struct parser *ps)
{
	for (;;) {
		skip_ws(ps);
		if (skip_comment(ps) < 0)
			return -1;
		if (!is_newline(ps))
			return 0;
		skip_newline(ps);
	}
}

static void
put_utf8(struct ck_buf *b, unsigned long cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	ck_buf_add(b, u, n);
}

static int
read_unicode_escape(struct parser *ps, int digits, struct ck_buf *b)
{
	const char *start = ps->p - 2;
	unsigned long cp = 0;
	int i, c;

	for (i = 0; i < digits; i++) {
		c = (unsigned char)peek(ps);
		if (c >= '0' && c <= '9')
			cp = cp * 16 + (unsigned long)(c - '0');
		else if (c >= 'a' && c <= 'f')
			cp = cp * 16 + (unsigned long)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			cp = cp * 16 + (unsigned long)(c - 'A' + 10);
		else
			return fail(ps, "invalid unicode escape: expected %d "
				    "hex digits", digits);
		ps->p++;
	}
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return fail_at(ps, start, "invalid unicode escape: not a "
			       "Unicode scalar value");
	put_utf8(b, cp);
	return 0;
}

static int
read_escape(struct parser *ps, struct ck_buf *b)
{
	static const char from[] = "btnfr\"\\";
	static const char to[] = "\b\t\n\f\r\"\\";
	const char *hit;
	char c;

	ps->p++;
	c = peek(ps);
	if (c != '\0' && (hit = strchr(from, c)) != NULL) {
		ck_buf_add(b, &to[hit - from], 1);
		ps->p++;
		return 0;
	}
	if (c == 'u' || c == 'U') {
		ps->p++;
		return read_unicode_escape(ps, c == 'u' ? 4 : 8, b);
	}
	ps->p--;
	return fail(ps, "invalid escape sequence in a string");
}

static int
check_string_char(struct parser *ps, int multiline)
{
	unsigned char c = (unsigned char)*ps->p;

	if (multiline && is_newline(ps))
		return 0;
	if ((c < 0x20 && c != '\t') || c == 0x7f)
		return fail(ps, multiline || c != '\n' ?
			    "control character in a string" :
			    "string not closed before the end of the line");
	return 0;
}

/* After a line-ending backslash in a multi-line basic string, skips the
 * blanks and newlines that follow. Returns 1 when it was one. */
static int
line_ending_backslash(struct parser *ps)
{
	const char *q = ps->p + 1;

	while (q < ps->end && (*q == ' ' || *q == '\t'))
		q++;
	if (q >= ps->end || (*q != '\n' && *q != '\r'))
		return 0;
	ps->p = q;
	while (!at_end(ps) && (is_newline(ps) || peek(ps) == ' ' ||
			       peek(ps) == '\t')) {
		if (is_newline(ps))
			skip_newline(ps);
		else
			ps->p++;
	}
	return 1;
}

/* Counts the run of quote characters at p, for the end of a multi-line
 * string, where up to two quotes may precede the closing three. */
static size_t
quote_run(const struct parser *ps, char q)
{
	size_t n = 0;

	while (ps->p + n < ps->end && ps->p[n] == q)
		n++;
	return n;
}

static int
read_string(struct parser *ps, char **out)
{
	char q = peek(ps);
	int literal = q == '\'';
	int multi = ps->end - ps->p >= 3 && ps->p[1] == q && ps->p[2] == q;
	const char *start = ps->p;
	struct ck_buf b = { 0 };
	size_t run;

	ck_buf_add(&b, "", 0);
	ps->p += multi ? 3 : 1;
	if (multi && is_newline(ps))
		skip_newline(ps);
	for (;;) {
		if (at_end(ps)) {
			ck_buf_free(&b);
			return fail_at(ps, start, "string not closed");
		}
		if (*ps->p == q) {
			run = multi ? quote_run(ps, q) : 1;
			if (!multi || run >= 3) {
				if (run > 5) {
					ck_buf_free(&b);
					return fail(ps, "too many quotes at "
						    "the end of a string");
				}
				ck_buf_add(&b, ps->p, run - (multi ? 3 : 1));
				ps->p += run;
				break;
			}
			ck_buf_add(&b, ps->p, run);
			ps->p += run;
			continue;
		}
		if (!literal && *ps->p == '\\') {
			if (multi && line_ending_backslash(ps))
				continue;
			if (read_escape(ps, &b) < 0) {
				ck_buf_free(&b);
				return -1;
			}
			continue;
		}
		if (check_string_char(ps, multi) < 0) {
			ck_buf_free(&b);
			return -1;
		}
		if (multi && is_newline(ps)) {
			ck_buf_add(&b, "\n", 1);
			skip_newline(ps);
			continue;
		}
		ck_buf_add(&b, ps->p++, 1);
	}
	*out = b.data;
	return 0;
}

static int
is_bare_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int
read_simple_key(struct parser *ps, char **out)
{
	const char *start = ps->p;
	char c = peek(ps);

	if (c == '"' || c == '\'') {
		if (ps->end - ps->p >= 3 && ps->p[1] == c && ps->p[2] == c)
			return fail(ps, "a key cannot be a multi-line string");
		return read_string(ps, out);
	}
	while (!at_end(ps) && is_bare_key_char(*ps->p))
		ps->p++;
	if (ps->p == start)
		return fail(ps, c == '\0' || c == '\n' || c == '\r' ?
			    "expected a key" :
			    "invalid character '%c' in a key", c);
	*out = ck_xstrndup(start, (size_t)(ps->p - start));
	return 0;
}

struct key {
	char **parts;
	size_t n;
	const char *at;
};

static void
key_free(struct key *k)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		free(k->parts[i]);
	free(k->parts);
	memset(k, 0, sizeof(*k));
}

/* Reads a dotted key: simple keys joined by dots with optional blanks. */
static int
read_key(struct parser *ps, struct key *k)
{
	char *part;

	memset(k, 0, sizeof(*k));
	k->at = ps->p;
	for (;;) {
		skip_ws(ps);
		if (read_simple_key(ps, &part) < 0) {
			key_free(k);
			return -1;
		}
		k->parts = ck_xrealloc(k->parts, (k->n + 1) *
				       sizeof(*k->parts));
		k->parts[k->n++] = part;
		skip_ws(ps);
		if (peek(ps) != '.')
			return 0;
		ps->p++;
	}
}

/* "a.b.c" for messages, with the first n parts of k. */
static char *
key_name(const struct key *k, size_t n)
{
	struct ck_buf b = { 0 };
	size_t i;

	ck_buf_add(&b, "", 0);
	for (i = 0; i < n; i++)
		ck_buf_addf(&b, "%s%s", i ? "." : "", k->parts[i]);
	return b.data;
}

static int parse_value(struct parser *ps, struct ck_toml **out);

static int
unsupported_number(struct parser *ps, const char *start)
{
	return fail_at(ps, start, "floats and dates are not supported");
}

/* Reads digits of base with single underscores between them. */
static int
read_digits(struct parser *ps, int base, uint64_t max, uint64_t *v)
{
	const char *start = ps->p;
	int d, prev_digit = 0;
	char c;

	*v = 0;
	for (; !at_end(ps); ps->p++) {
		c = *ps->p;
		if (c == '_') {
			if (!prev_digit)
				return fail(ps, "invalid underscore in a "
					    "number");
			prev_digit = 0;
			continue;
		}
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			break;
		if (d >= base)
			break;
		if (*v > (max - (uint64_t)d) / (uint64_t)base)
			return fail_at(ps, start, "integer out of range");
		*v = *v * (uint64_t)base + (uint64_t)d;
		prev_digit = 1;
	}
	if (ps->p == start || !prev_digit)
		return fail(ps, "invalid number");
	return 0;
}

static int
parse_integer(struct parser *ps, struct ck_toml **out)
{
	const char *start = ps->p;
	int neg = 0, base = 10;
	uint64_t v, max = INT64_MAX;
	char c;

	if (peek(ps) == '+' || peek(ps) == '-') {
		neg = peek(ps) == '-';
		ps->p++;
	}
	if (peek(ps) == '0' && ps->p + 1 < ps->end && ps->p == start &&
	    strchr("xob", ps->p[1]) != NULL && ps->p[1] != '\0') {
		base = ps->p[1] == 'x' ? 16 : ps->p[1] == 'o' ? 8 : 2;
		ps->p += 2;
	} else if (peek(ps) == 'i' || peek(ps) == 'n') {
		return unsupported_number(ps, start);
	} else if (peek(ps) == '0' && ps->p + 1 < ps->end &&
		   (ps->p[1] >= '0' && ps->p[1] <= '9')) {
		/* "1979-05-27" and "07:32" are dates, "012" is invalid. */
		const char *q = ps->p;

		while (q < ps->end && *q >= '0' && *q <= '9')
			q++;
		if (q < ps->end && (*q == '-' || *q == ':'))
			return unsupported_number(ps, start);
		return fail(ps, "leading zeros are not allowed in an "
			    "integer");
	}
	if (neg)
		max = (uint64_t)INT64_MAX + 1;
	if (read_digits(ps, base, max, &v) < 0)
		return -1;
	c = peek(ps);
	if (base == 10 && (c == '.' || c == 'e' || c == 'E' || c == '-' ||
			   c == ':'))
		return unsupported_number(ps, start);
	*out = node_new(ps, CK_TOML_INTEGER, start);
	(*out)->integer = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static int
parse_array(struct parser *ps, struct ck_toml **out)
{
	struct ck_toml *arr = node_new(ps, CK_TOML_ARRAY, ps->p), *item;

	ps->p++;
	for (;;) {
		if (skip_ws_nl(ps) < 0)
			goto fail;
		if (peek(ps) == ']')
			break;
		if (parse_value(ps, &item) < 0)
			goto fail;
		node_append(arr, NULL, item);
		if (skip_ws_nl(ps) < 0)
			goto fail;
		if (peek(ps) == ',') {
			ps->p++;
			continue;
		}
		if (peek(ps) != ']') {
			fail(ps, "expected ',' or ']' in an array");
			goto fail;
		}
		break;
	}
	ps->p++;
	*out = arr;
	return 0;
fail:
	ck_toml_free(arr);
	return -1;
}

static int set_keyval(struct parser *ps, struct ck_toml *table,
		      enum origin dotted);

static int
parse_inline_table(struct parser *ps, struct ck_toml **out)
{
	struct ck_toml *t = node_new(ps, CK_TOML_TABLE, ps->p);

	t->origin = ORIGIN_INLINE;
	ps->p++;
	skip_ws(ps);
	if (peek(ps) == '}') {
		ps->p++;
		*out = t;
		return 0;
	}
	for (;;) {
		skip_ws(ps);
		if (set_keyval(ps, t, ORIGIN_INLINE) < 0)
			goto fail;
		skip_ws(ps);
		if (peek(ps) == '}')
			break;
		if (peek(ps) != ',') {
			fail(ps, "expected ',' or '}' in an inline table");
			goto fail;
		}
		ps->p++;
		skip_ws(ps);
		if (peek(ps) == '}') {
			fail(ps, "trailing comma in an inline table");
			goto fail;
		}
	}
	ps->p++;
	*out = t;
	return 0;
fail:
	ck_toml_free(t);
	return -1;
}

static int
parse_word(struct parser *ps, struct ck_toml **out)
{
	const char *start = ps->p;
	size_t n = 0;

	while (ps->p + n < ps->end && ps->p[n] >= 'a' && ps->p[n] <= 'z')
		n++;
	if ((n == 4 && memcmp(start, "true", 4) == 0) ||
	    (n == 5 && memcmp(start, "false", 5) == 0)) {
		*out = node_new(ps, CK_TOML_BOOLEAN, start);
		(*out)->boolean = n == 4;
		ps->p += n;
		return 0;
	}
	if ((n == 3 && (memcmp(start, "inf", 3) == 0 ||
			memcmp(start, "nan", 3) == 0)))
		return unsupported_number(ps, start);
	return fail(ps, "invalid value: expected a string, an integer, a "
		    "boolean, an array or an inline table");
}

static int
parse_value(struct parser *ps, struct ck_toml **out)
{
	const char *start = ps->p;
	char c = peek(ps);
	char *s;
	int rc;

	if (++ps->depth > DEPTH_MAX) {
		ps->depth--;
		return fail(ps, "values nested more than %d deep", DEPTH_MAX);
	}
	if (c == '"' || c == '\'') {
		rc = read_string(ps, &s);
		if (rc == 0) {
			*out = node_new(ps, CK_TOML_STRING, start);
			(*out)->str = s;
		}
	} else if (c == '[') {
		rc = parse_array(ps, out);
	} else if (c == '{') {
		rc = parse_inline_table(ps, out);
	} else if ((c >= '0' && c <= '9') || c == '+' || c == '-') {
		rc = parse_integer(ps, out);
	} else if (c == '\0' || c == '\n' || c == '\r' || c == '#') {
		rc = fail(ps, "missing value");
	} else {
		rc = parse_word(ps, out);
	}
	ps->depth--;
	return rc;
}

/*
 * Walks the first n-1 parts of a dotted key from table, creating tables
 * as it goes. A dotted key may extend only tables that dotted keys of the
 * same section made.
 */
static struct ck_toml *
walk_dotted(struct parser *ps, struct ck_toml *t, const struct key *k,
	    enum origin origin)
{
	struct ck_toml *next;
	char *name;
	size_t i;

	for (i = 0; i + 1 < k->n; i++) {
		next = table_lookup(t, k->parts[i]);
		if (next == NULL) {
			next = node_new(ps, CK_TOML_TABLE, k->at);
			next->origin = origin == ORIGIN_INLINE ? ORIGIN_INLINE :
				       ORIGIN_DOTTED;
			next->section = ps->section;
			node_append(t, ck_xstrdup(k->parts[i]), next);
		} else if (next->type != CK_TOML_TABLE ||
			   (origin != ORIGIN_INLINE &&
			    (next->origin != ORIGIN_DOTTED ||
			     next->section != ps->section))) {
			name = key_name(k, i + 1);
			fail_at(ps, k->at, "key '%s' is already defined", name);
			free(name);
			return NULL;
		}
		t = next;
	}
	return t;
}

/* Reads "key = value" and stores it in table. */
static int
set_keyval(struct parser *ps, struct ck_toml *table, enum origin origin)
{
	struct ck_toml *t, *v;
	struct key k;
	char *name;

	if (read_key(ps, &k) < 0)
		return -1;
	if (peek(ps) != '=') {
		key_free(&k);
		return fail(ps, "expected '=' after a key");
	}
	ps->p++;
	skip_ws(ps);
	t = walk_dotted(ps, table, &k, origin);
	if (t == NULL || parse_value(ps, &v) < 0) {
		key_free(&k);
		return -1;
	}
	if (table_lookup(t, k.parts[k.n - 1]) != NULL) {
		name = key_name(&k, k.n);
		fail_at(ps, k.at, "key '%s' is already defined", name);
		free(name);
		ck_toml_free(v);
		key_free(&k);
		return -1;
	}
	node_append(t, k.parts[k.n - 1], v);
	k.n--;
	key_free(&k);
	return 0;
}

/* Walks a header's path except its last part; arrays of tables lead to
 * their last table. */
static struct ck_toml *
walk_header(struct parser *ps, struct ck_toml *t, const struct key *k)
{
	struct ck_toml *next;
	char *name;
	size_t i;

	for (i = 0; i + 1 < k->n; i++) {
		next = table_lookup(t, k->parts[i]);
		if (next == NULL) {
			next = node_new(ps, CK_TOML_TABLE, k->at);
			next->origin = ORIGIN_IMPLICIT;
			node_append(t, ck_xstrdup(k->parts[i]), next);
		} else if (next->type == CK_TOML_ARRAY &&
			   next->origin == ORIGIN_AOT) {
			next = next->items[next->n - 1];
		} else if (next->type != CK_TOML_TABLE ||
			   next->origin == ORIGIN_INLINE) {
			name = key_name(k, i + 1);
			fail_at(ps, k->at, "key '%s' is not a table that can "
				"be extended", name);
			free(name);
			return NULL;
		}
		t = next;
	}
	return t;
}

static struct ck_toml *
define_table(struct parser *ps, struct ck_toml *parent, const struct key *k)
{
	const char *last = k->parts[k->n - 1];
	struct ck_toml *t = table_lookup(parent, last);
	char *name;

	if (t == NULL) {
		t = node_new(ps, CK_TOML_TABLE, k->at);
		node_append(parent, ck_xstrdup(last), t);
	} else if (t->type != CK_TOML_TABLE || t->origin != ORIGIN_IMPLICIT) {
		name = key_name(k, k->n);
		fail_at(ps, k->at, "table '%s' is already defined", name);
		free(name);
		return NULL;
	}
	t->origin = ORIGIN_HEADER;
	return t;
}

static struct ck_toml *
append_table(struct parser *ps, struct ck_toml *parent, const struct key *k)
{
	const char *last = k->parts[k->n - 1];
	struct ck_toml *arr = table_lookup(parent, last), *t;
	char *name;

	if (arr == NULL) {
		arr = node_new(ps, CK_TOML_ARRAY, k->at);
		arr->origin = ORIGIN_AOT;
		node_append(parent, ck_xstrdup(last), arr);
	} else if (arr->type != CK_TOML_ARRAY || arr->origin != ORIGIN_AOT) {
		name = key_name(k, k->n);
		fail_at(ps, k->at, "key '%s' is already defined and is not "
			"an array of tables", name);
		free(name);
		return NULL;
	}
	t = node_new(ps, CK_TOML_TABLE, k->at);
	t->origin = ORIGIN_AOT;
	node_append(arr, NULL, t);
	return t;
}

/* Reads "[a.b]" or "[[a.b]]" and returns the table that follows it. */
static struct ck_toml *
parse_header(struct parser *ps, struct ck_toml *root)
{
	int aot = ps->end - ps->p >= 2 && ps->p[1] == '[';
	struct ck_toml *parent, *t = NULL;
	const char *start = ps->p;
	struct key k;

	ps->p += aot ? 2 : 1;
	if (read_key(ps, &k) < 0)
		return NULL;
	k.at = start;
	if (peek(ps) != ']' || (aot && (ps->end - ps->p < 2 ||
					ps->p[1] != ']'))) {
		fail(ps, aot ? "expected ']]' after a table name" :
		     "expected ']' after a table name");
		key_free(&k);
		return NULL;
	}
	ps->p += aot ? 2 : 1;
	parent = walk_header(ps, root, &k);
	if (parent != NULL)
		t = aot ? append_table(ps, parent, &k) :
			  define_table(ps, parent, &k);
	key_free(&k);
	ps->section++;
	return t;
}

/* After a statement, only blanks and a comment may end the line. */
static int
end_of_line(struct parser *ps)
{
	skip_ws(ps);
	if (skip_comment(ps) < 0)
		return -1;
	if (at_end(ps))
		return 0;
	if (!is_newline(ps))
		return fail(ps, "expected the end of the line");
	skip_newline(ps);
	return 0;
}

struct ck_toml *
ck_toml_parse(const char *data, size_t len, const char *name,
	      struct ck_err **errp)
{
	struct parser ps = {
		.name = name ? name : "<input>",
		.s = data, .p = data, .end = data + len, .errp = errp,
	};
	struct ck_toml *root, *cur;
	int rc = 0;

	if (check_text(&ps) < 0)
		return NULL;
	root = node_new(&ps, CK_TOML_TABLE, data);
	root->origin = ORIGIN_HEADER;
	cur = root;
	/* A byte order mark may start the file. */
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		ps.p += 3;
	while (rc == 0 && !at_end(&ps)) {
		skip_ws(&ps);
		if (peek(&ps) == '[') {
			cur = parse_header(&ps, root);
			rc = cur == NULL ? -1 : 0;
		} else if (peek(&ps) != '#' && !is_newline(&ps) &&
			   !at_end(&ps)) {
			rc = set_keyval(&ps, cur, ORIGIN_DOTTED);
		}
		if (rc == 0)
			rc = end_of_line(&ps);
	}
	if (rc < 0) {
		ck_toml_free(root);
		return NULL;
	}
	return root;
}

struct ck_toml *
ck_toml_load(const char *path, struct ck_err **errp)
{
	struct ck_toml *doc;
	char *data;
	size_t len;

	if (ck_read_file(path, TOML_FILE_MAX, &data, &len, errp) < 0)
		return NULL;
	doc = ck_toml_parse(data, len, path, errp);
	free(data);
	return doc;
}

enum ck_toml_type
ck_toml_type(const struct ck_toml *v)
{
	return v->type;
}

const char *
ck_toml_type_name(enum ck_toml_type type)
{
	switch (type) {
	case CK_TOML_TABLE:
		return "table";
	case CK_TOML_ARRAY:
		return "array";
	case CK_TOML_STRING:
		return "string";
	case CK_TOML_INTEGER:
		return "integer";
	case CK_TOML_BOOLEAN:
		return "boolean";
	}
	return "?";
}

int
ck_toml_line(const struct ck_toml *v)
{
	return v->line;
}

int
ck_toml_column(const struct ck_toml *v)
{
	return v->column;
}

const struct ck_toml *
ck_toml_get(const struct ck_toml *table, const char *key)
{
	if (table == NULL || table->type != CK_TOML_TABLE)
		return NULL;
	return table_lookup(table, key);
}

size_t
ck_toml_len(const struct ck_toml *v)
{
	if (v == NULL || (v->type != CK_TOML_TABLE &&
			  v->type != CK_TOML_ARRAY))
		return 0;
	return v->n;
}

const struct ck_toml *
ck_toml_at(const struct ck_toml *v, size_t i)
{
	return i < ck_toml_len(v) ? v->items[i] : NULL;
}

const char *
ck_toml_key(const struct ck_toml *table, size_t i)
{
	if (table == NULL || table->type != CK_TOML_TABLE || i >= table->n)
		return NULL;
	return table->keys[i];
}

const char *
ck_toml_string(const struct ck_toml *v)
{
	return v->str;
}

int64_t
ck_toml_integer(const struct ck_toml *v)
{
	return v->integer;
}

int
ck_toml_boolean(const struct ck_toml *v)
{
	return v->boolean;
}
