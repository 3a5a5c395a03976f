/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registry authentication inputs: WWW-Authenticate challenges (RFC 7235)
 * and credentials from --user, Docker's config.json and Docker credential
 * helpers. A secret lives only in a struct ck_creds and is wiped when it
 * is freed; nothing here logs or prints one.
 */
#ifndef CK_AUTH_H
#define CK_AUTH_H

#include <stddef.h>

#include "err.h"

struct ck_auth_param {
	char *name;	/* lower case */
	char *value;	/* quotes and escapes removed */
};

/* One challenge: "Bearer realm=\"…\",service=\"…\"". */
struct ck_auth_challenge {
	char *scheme;	/* lower case: "bearer", "basic", … */
	struct ck_auth_param *params;
	size_t n_params;
	char *token68;	/* a token68 instead of parameters, or NULL */
};

/*
 * Appends the challenges of one WWW-Authenticate value to *list. A value
 * may hold several challenges, separated by commas like the parameters.
 * Parsing stops at the first malformed element and keeps what came before.
 */
void ck_auth_parse(const char *value, struct ck_auth_challenge **list,
		   size_t *n);
/* The value of parameter name (any case) of c, or NULL. */
const char *ck_auth_param(const struct ck_auth_challenge *c,
			  const char *name);
/* The first challenge of scheme (lower case) in list, or NULL. */
const struct ck_auth_challenge *ck_auth_find(
	const struct ck_auth_challenge *list, size_t n, const char *scheme);
void ck_auth_free(struct ck_auth_challenge *list, size_t n);

/* Credentials for one registry host. */
struct ck_creds {
	char *username;		/* NULL with an identity token */
	char *secret;		/* password, or the identity token */
	int identity_token;	/* secret is an OAuth 2 refresh token */
	char *source;		/* where they came from, for messages */
};

/*
 * Parses --user USER[:PASSWORD]. Without ":PASSWORD" the password is
 * $CKIT_PASSWORD; nothing is read from the terminal.
 */
int ck_creds_from_user(const char *user, struct ck_creds *c,
		       struct ck_err **errp);
/*
 * Looks up the credentials of host ("127.0.0.1:5000", "docker.io") in
 * $DOCKER_CONFIG/config.json, else ~/.docker/config.json: credHelpers,
 * then credsStore, then auths. Returns 0 with c->secret NULL when there
 * are none, and -1 when the file or a helper fails.
 */
int ck_creds_lookup(const char *host, struct ck_creds *c,
		    struct ck_err **errp);
void ck_creds_copy(struct ck_creds *dst, const struct ck_creds *src);
void ck_creds_free(struct ck_creds *c);

/* Standard base64 with padding. */
char *ck_base64_encode(const void *data, size_t len);
/* Decodes standard base64; padding is optional. Returns -1 on bad input.
 * *out is NUL-terminated. */
int ck_base64_decode(const char *s, char **out, size_t *len);

#endif
