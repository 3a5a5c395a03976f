/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 content digests in the OCI form "sha256:<64 lower-case hex>",
 * computed incrementally with nettle.
 */
#ifndef CK_DIGEST_H
#define CK_DIGEST_H

#include <stddef.h>

#include "err.h"

struct ck_sha256;

struct ck_sha256 *ck_sha256_new(void);
void ck_sha256_update(struct ck_sha256 *h, const void *data, size_t len);
/* Finishes the hash; returns "sha256:<hex>" and frees h. */
char *ck_sha256_final(struct ck_sha256 *h);
char *ck_sha256_bytes(const void *data, size_t len);

/* Checks the syntax of "sha256:<hex>"; other algorithms are rejected. */
int ck_digest_check(const char *digest, struct ck_err **errp);
/* Returns the hex part of a checked digest. */
const char *ck_digest_hex(const char *digest);

#endif
