/* SPDX-License-Identifier: Apache-2.0 */
/* SHA-256 content digests through OpenSSL's EVP interface. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "util.h"

struct ck_sha256 {
	EVP_MD_CTX *ctx;
};

struct ck_sha256 *
ck_sha256_new(void)
{
	struct ck_sha256 *h = ck_xmalloc(sizeof(*h));

	h->ctx = EVP_MD_CTX_new();
	if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
		CK_BUG("EVP_DigestInit_ex failed");
	return h;
}

void
ck_sha256_update(struct ck_sha256 *h, const void *data, size_t len)
{
	if (EVP_DigestUpdate(h->ctx, data, len) != 1)
		CK_BUG("EVP_DigestUpdate failed");
}

char *
ck_sha256_final(struct ck_sha256 *h)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;
	char *s;

	if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != 32)
		CK_BUG("EVP_DigestFinal_ex failed");
	EVP_MD_CTX_free(h->ctx);
	free(h);
	s = ck_xmalloc(7 + 64 + 1);
	memcpy(s, "sha256:", 7);
	for (i = 0; i < n; i++)
		sprintf(s + 7 + 2 * i, "%02x", md[i]);
	return s;
}

char *
ck_sha256_bytes(const void *data, size_t len)
{
	struct ck_sha256 *h = ck_sha256_new();

	ck_sha256_update(h, data, len);
	return ck_sha256_final(h);
}

int
ck_digest_check(const char *digest, struct ck_err **errp)
{
	const char *hex;
	size_t i;

	if (!ck_has_prefix(digest, "sha256:"))
		return ck_err_setc(errp, CK_E_INVALID, 0,
				   "invalid digest '%s': expected "
				   "'sha256:' and 64 hex digits", digest);
	hex = digest + 7;
	for (i = 0; hex[i]; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') ||
		      (hex[i] >= 'a' && hex[i] <= 'f')))
			break;
	if (i != 64 || hex[i] != '\0')
		return ck_err_setc(errp, CK_E_INVALID, 0,
				   "invalid digest '%s': expected "
				   "'sha256:' and 64 hex digits", digest);
	return 0;
}

const char *
ck_digest_hex(const char *digest)
{
	return digest + 7;
}
