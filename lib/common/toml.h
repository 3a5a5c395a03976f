/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A strict reader for the part of TOML 1.0 that ckit's configuration files
 * use: tables, arrays of tables, inline tables, dotted and quoted keys,
 * basic and literal strings (one line or several), integers, booleans and
 * arrays. Floats and dates are rejected as unsupported, not misread. Errors
 * read "file:line:column: message". Tables keep their keys in file order.
 */
#ifndef CK_TOML_H
#define CK_TOML_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum ck_toml_type {
	CK_TOML_TABLE,
	CK_TOML_ARRAY,
	CK_TOML_STRING,
	CK_TOML_INTEGER,
	CK_TOML_BOOLEAN,
};

struct ck_toml;

/* Parses a document; name is the file name used in error messages. */
struct ck_toml *ck_toml_parse(const char *data, size_t len, const char *name,
			      struct ck_err **errp);
/* Reads and parses a file of at most 1 MiB. */
struct ck_toml *ck_toml_load(const char *path, struct ck_err **errp);
void ck_toml_free(struct ck_toml *doc);

enum ck_toml_type ck_toml_type(const struct ck_toml *v);
/* "table", "array", "string", "integer" or "boolean". */
const char *ck_toml_type_name(enum ck_toml_type type);
/* Line and column (from 1) where v's value starts. */
int ck_toml_line(const struct ck_toml *v);
int ck_toml_column(const struct ck_toml *v);

/* The value of key in table, or NULL (also when table is NULL or not a
 * table). */
const struct ck_toml *ck_toml_get(const struct ck_toml *table,
				  const char *key);
/* The number of keys of a table or items of an array, else 0. */
size_t ck_toml_len(const struct ck_toml *v);
/* Item i of an array, or the value of key i of a table. */
const struct ck_toml *ck_toml_at(const struct ck_toml *v, size_t i);
/* Key i of a table. */
const char *ck_toml_key(const struct ck_toml *table, size_t i);

/* The value of a string, integer or boolean. Callers check the type. */
const char *ck_toml_string(const struct ck_toml *v);
int64_t ck_toml_integer(const struct ck_toml *v);
int ck_toml_boolean(const struct ck_toml *v);

#endif
