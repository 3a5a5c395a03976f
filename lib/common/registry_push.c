/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Uploads to a registry (OCI distribution spec, "Pushing blobs" and
 * "Pushing manifests"): a HEAD to skip blobs the repository has, a
 * cross-repository mount, monolithic (POST, then PUT with the digest) and
 * chunked (PATCH with Content-Range) uploads, and manifest PUTs. Pushes go
 * to the first host whose hosts.toml capabilities include push. A failed
 * upload starts over with a new session, since a registry may have dropped
 * the old one.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "registry_int.h"

#define UPLOAD_BODY_MAX (64 * 1024)

static struct reg_endpoint *
push_endpoint(struct ck_registry *reg, struct ck_err **errp)
{
	size_t i;

	for (i = 0; i < reg->n_hosts; i++)
		if (reg->hosts[i].caps & CK_HOST_PUSH)
			return &reg->eps[i];
	ck_err_set(errp, 0, "no host of registry '%s' has the 'push' "
		   "capability in its hosts.toml", reg->ns);
	return NULL;
}

/* The registry's own URL for path, without the ?ns= of a mirror. */
static char *
push_url(const struct ck_registry *reg, const struct reg_endpoint *ep,
	 const char *path)
{
	return ck_asprintf("%s/%s/%s", ep->base, reg->repo, path);
}

int
ck_registry_blob_exists(struct ck_registry *reg, const char *digest,
			struct ck_err **errp)
{
	struct reg_endpoint *ep = push_endpoint(reg, errp);
	char *path, *subject;
	struct reg_response r = { 0 };
	struct reg_request rq = {
		.method = "HEAD", .ep = ep, .scope = reg->push_scope,
		.follow = 1,
	};
	int rc;

	if (ep == NULL)
		return -1;
	path = ck_asprintf("blobs/%s", digest);
	rq.url = push_url(reg, ep, path);
	rc = reg_request(reg, &reg->main, &rq, &r, errp);
	if (rc == 0 && r.status != 200 && r.status != 404) {
		subject = ck_asprintf("blob '%s'", digest);
		rc = reg_status_error(reg, ep, &r, subject, NULL, errp);
		free(subject);
	}
	if (rc == 0)
		rc = r.status == 200;
	reg_response_free(&r);
	free(rq.url);
	free(path);
	return rc;
}

/* Ends an upload session the registry opened but we do not use. */
static void
cancel_upload(struct ck_registry *reg, struct reg_endpoint *ep,
	      const char *url)
{
	struct reg_response r = { 0 };
	struct reg_request rq = {
		.method = "DELETE", .ep = ep, .scope = reg->push_scope,
		.no_retry = 1,
	};
	struct ck_err *e = NULL;

	rq.url = (char *)url;
	if (reg_request(reg, &reg->main, &rq, &r, &e) < 0 ||
	    (r.status != 204 && r.status != 202 && r.status != 200))
		ck_log(CK_LOG_DEBUG, "could not cancel an upload session: %s",
		       e ? e->msg : "unexpected status");
	ck_err_free(&e);
	reg_response_free(&r);
}

static char *
escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0), *copy;

	if (e == NULL)
		CK_BUG("curl_easy_escape failed");
	copy = ck_xstrdup(e);
	curl_free(e);
	return copy;
}

/* The absolute URL in the Location of r, the response to request url. */
static char *
location(const char *url, const struct reg_response *r, const char *what,
	 struct ck_err **errp)
{
	char *next = r->location ? reg_resolve_url(url, r->location) : NULL;

	if (next == NULL)
		ck_err_set(errp, 0, "registry returned no valid Location for "
			   "%s", what);
	return next;
}

int
ck_registry_mount_blob(struct ck_registry *reg, const char *digest,
		       const char *from, struct ck_err **errp)
{
	struct reg_endpoint *ep = push_endpoint(reg, errp);
	char *scope, *path, *d, *f, *next;
	struct reg_response r = { .body_max = UPLOAD_BODY_MAX };
	struct reg_request rq = {
		.method = "POST", .ep = ep, .body_max = UPLOAD_BODY_MAX,
	};
	int rc;

	if (ep == NULL)
		return -1;
	scope = ck_asprintf("%s repository:%s:pull", reg->push_scope, from);
	d = escape(digest);
	f = escape(from);
	path = ck_asprintf("blobs/uploads/?mount=%s&from=%s", d, f);
	rq.url = push_url(reg, ep, path);
	rq.scope = scope;
	rc = reg_request(reg, &reg->main, &rq, &r, errp);
	if (rc == 0 && r.status == 201) {
		rc = 1;
	} else if (rc == 0 && r.status == 202) {
		/* The registry opened an upload instead of mounting. */
		next = location(rq.url, &r, "an upload", NULL);
		if (next != NULL)
			cancel_upload(reg, ep, next);
		free(next);
	} else if (rc == 0) {
		ck_log(CK_LOG_DEBUG, "mount of '%s' from '%s' returned HTTP "
		       "%ld", digest, from, r.status);
	}
	reg_response_free(&r);
	free(rq.url);
	free(path);
	free(d);
	free(f);
	free(scope);
	return rc;
}

struct upload {
	struct ck_registry *reg;
	struct reg_endpoint *ep;
	const char *digest;
	int fd;
	int64_t size;
	const struct ck_push_blob_opts *opts;
	struct ck_xfer x;
	int64_t base;		/* bytes sent in earlier chunks */
	int retryable;		/* the last failure may pass on a new
				 * attempt */
};

static void
report(struct upload *u, enum ck_xfer_state state)
{
	u->x.state = state;
	if (u->opts && u->opts->progress)
		u->opts->progress(u->opts->progress_arg, &u->x);
}

static void
on_sent(void *arg, int64_t sent)
{
	struct upload *u = arg;

	u->x.done = u->base + sent;
	report(u, CK_XFER_ACTIVE);
}

static int
upload_status_error(struct upload *u, const struct reg_response *r,
		    const char *step, struct ck_err **errp)
{
	char *subject = ck_asprintf("%s of blob '%s'", step, u->digest);

	reg_status_error(u->reg, u->ep, r, subject, NULL, errp);
	free(subject);
	return -1;
}

/* Sends one request of an upload; returns its status, or -1. */
static long
send_step(struct upload *u, struct reg_request *rq, struct ck_err **errp)
{
	struct reg_response r = { .body_max = UPLOAD_BODY_MAX };
	long status, delay;
	char *next;
	int rc;

	rq->ep = u->ep;
	rq->scope = u->reg->push_scope;
	rq->body_max = UPLOAD_BODY_MAX;
	rc = reg_exchange(u->reg, &u->reg->main, rq, &r, errp);
	u->retryable = rc == REG_TRANSIENT ||
		       (rc == 0 && reg_should_retry(u->reg, 1, 0, &r, &delay));
	if (rc < 0) {
		reg_response_free(&r);
		return -1;
	}
	status = r.status;
	if ((status == 201 || status == 202) && r.location != NULL) {
		next = location(rq->url, &r, "an upload", errp);
		if (next != NULL) {
			free(rq->url);
			rq->url = next;
		} else {
			status = -1;
		}
	} else if (status == 202) {
		status = ck_err_set(errp, 0, "registry returned no Location "
				    "for an upload of blob '%s'", u->digest);
	} else if (status != 201) {
		upload_status_error(u, &r, rq->upload && rq->upload->len ?
				    "upload" : "start of upload", errp);
		status = -1;
	}
	if (status == 201 && r.digest != NULL && strcmp(r.digest,
							u->digest) != 0)
		status = ck_err_set(errp, 0, "registry stored blob '%s' as "
				    "'%s'", u->digest, r.digest);
	reg_response_free(&r);
	return status;
}

static char *
with_digest(const char *url, const char *digest)
{
	char *d = escape(digest);
	char *s = ck_asprintf("%s%cdigest=%s", url, strchr(url, '?') ? '&' :
			      '?', d);

	free(d);
	return s;
}

/* PATCHes the blob in chunks, each with its Content-Range, then closes
 * the upload with an empty PUT. */
static int
send_chunks(struct upload *u, char **url, struct ck_err **errp)
{
	int64_t chunk = u->opts->chunk_size, off;
	struct reg_upload body = { .fd = u->fd, .progress = on_sent,
				   .progress_arg = u };
	struct reg_request rq = { .method = "PATCH", .upload = &body };
	char range[80];
	long st = 0;

	rq.url = *url;
	*url = NULL;
	rq.headers = curl_slist_append(NULL, "Content-Type: "
				       "application/octet-stream");
	for (off = 0; off < u->size; off += chunk) {
		body.offset = off;
		body.len = u->size - off < chunk ? u->size - off : chunk;
		u->base = off;
		snprintf(range, sizeof(range), "Content-Range: %" PRId64 "-%"
			 PRId64, off, off + body.len - 1);
		curl_slist_free_all(rq.headers);
		rq.headers = curl_slist_append(NULL, "Content-Type: "
					       "application/octet-stream");
		rq.headers = curl_slist_append(rq.headers, range);
		st = send_step(u, &rq, errp);
		if (st < 0)
			break;
		if (st != 202) {
			st = ck_err_set(errp, 0, "registry returned HTTP %ld "
					"to a chunk of blob '%s'", st,
					u->digest);
			break;
		}
	}
	curl_slist_free_all(rq.headers);
	*url = rq.url;
	return st < 0 ? -1 : 0;
}

static int
finish_upload(struct upload *u, const char *url, int with_body,
	      struct ck_err **errp)
{
	struct reg_upload body = { .fd = u->fd, .len = with_body ? u->size : 0,
				   .progress = on_sent, .progress_arg = u };
	struct reg_request rq = { .method = "PUT", .upload = &body };
	long st;

	u->base = 0;
	rq.url = with_digest(url, u->digest);
	rq.headers = curl_slist_append(NULL, "Content-Type: "
				       "application/octet-stream");
	st = send_step(u, &rq, errp);
	curl_slist_free_all(rq.headers);
	free(rq.url);
	if (st < 0)
		return -1;
	if (st != 201)
		return ck_err_set(errp, 0, "registry returned HTTP %ld to the "
				  "end of the upload of blob '%s'", st,
				  u->digest);
	return 0;
}

/* One whole upload: POST for a session, the data, the final PUT. */
static int
upload_once(struct upload *u, struct ck_err **errp)
{
	struct reg_request rq = { .method = "POST" };
	int chunked = u->opts && u->opts->chunk_size > 0 &&
		      u->size > u->opts->chunk_size;
	long st;
	int rc;

	rq.url = push_url(u->reg, u->ep, "blobs/uploads/");
	st = send_step(u, &rq, errp);
	if (st >= 0 && st != 202)
		st = ck_err_set(errp, 0, "registry returned HTTP %ld to the "
				"start of an upload", st);
	if (st < 0) {
		free(rq.url);
		return -1;
	}
	if (chunked)
		rc = send_chunks(u, &rq.url, errp) < 0 ? -1 :
		     finish_upload(u, rq.url, 0, errp);
	else
		rc = finish_upload(u, rq.url, 1, errp);
	free(rq.url);
	return rc;
}

int
ck_registry_push_blob(struct ck_registry *reg, const char *digest, int fd,
		      int64_t size, const struct ck_push_blob_opts *opts,
		      struct ck_err **errp)
{
	struct upload u = {
		.reg = reg, .digest = digest, .fd = fd, .size = size,
		.opts = opts,
	};
	int attempt;
	long delay;

	u.ep = push_endpoint(reg, errp);
	if (u.ep == NULL)
		return -1;
	u.x.index = opts ? opts->index : 0;
	u.x.digest = digest;
	u.x.total = size;
	for (attempt = 1;; attempt++) {
		ck_err_free(errp);
		u.x.done = 0;
		report(&u, CK_XFER_ACTIVE);
		u.retryable = 0;
		if (upload_once(&u, errp) == 0)
			break;
		if (!u.retryable ||
		    !reg_should_retry(reg, attempt, REG_TRANSIENT, NULL,
				      &delay)) {
			report(&u, CK_XFER_FAILED);
			return -1;
		}
		ck_log(CK_LOG_INFO, "upload of blob '%s' failed: %s; "
		       "retrying in %ld ms", digest, (*errp)->msg, delay);
		report(&u, CK_XFER_RETRYING);
		reg_sleep_ms(delay);
	}
	u.x.done = size;
	report(&u, CK_XFER_DONE);
	return 0;
}

int
ck_registry_put_manifest(struct ck_registry *reg, const char *reference,
			 const char *media_type, const char *data, size_t len,
			 struct ck_err **errp)
{
	struct reg_endpoint *ep = push_endpoint(reg, errp);
	struct reg_upload body = { .data = data, .len = (int64_t)len };
	struct reg_response r = { .body_max = UPLOAD_BODY_MAX };
	struct reg_request rq = {
		.method = "PUT", .ep = ep, .scope = reg->push_scope,
		.upload = &body, .body_max = UPLOAD_BODY_MAX,
	};
	char *path, *ctype, *want, *subject;
	int rc;

	if (ep == NULL)
		return -1;
	want = ck_sha256_bytes(data, len);
	path = ck_asprintf("manifests/%s", reference);
	ctype = ck_asprintf("Content-Type: %s", media_type);
	rq.url = push_url(reg, ep, path);
	rq.headers = curl_slist_append(NULL, ctype);
	rc = reg_request(reg, &reg->main, &rq, &r, errp);
	if (rc == 0 && r.status != 201 && r.status != 200) {
		subject = ck_asprintf("upload of manifest '%s'", reference);
		rc = reg_status_error(reg, ep, &r, subject, NULL, errp);
		free(subject);
	} else if (rc == 0 && r.digest != NULL && strcmp(r.digest, want)) {
		rc = ck_err_set(errp, 0, "registry stored manifest '%s' as "
				"'%s', but its content hashes to '%s'",
				reference, r.digest, want);
	}
	reg_response_free(&r);
	curl_slist_free_all(rq.headers);
	free(rq.url);
	free(ctype);
	free(path);
	free(want);
	return rc;
}
