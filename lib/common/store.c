/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The content store: blob ingest, verification and commit. A blob becomes
 * visible in content/blobs/ only by rename after its size and digest
 * verify and its data is fsynced, so a reader never sees a partial blob.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "store.h"
#include "util.h"

#define OCI_LAYOUT "{\"imageLayoutVersion\":\"1.0.0\"}"
#define INGEST_FLUSH_BYTES (8 << 20)

struct ck_ingest {
	const struct ck_store *st;
	char *digest;
	char *partial;	/* ingest/<hex>.partial */
	int64_t size;
	int64_t written;
	int64_t flushed;	/* bytes handed to writeback so far */
	int fd;
	int verified;	/* size and digest checked, no more writes */
	struct ck_sha256 *hash;
};

int
ck_namespace_check(const char *ns, struct ck_err **errp)
{
	size_t i, n = strlen(ns);

	if (n == 0 || n > 76 || !((ns[0] >= 'a' && ns[0] <= 'z') ||
				  (ns[0] >= '0' && ns[0] <= '9')))
		goto bad;
	for (i = 0; i < n; i++)
		if (!((ns[i] >= 'a' && ns[i] <= 'z') ||
		      (ns[i] >= '0' && ns[i] <= '9') || ns[i] == '-' ||
		      ns[i] == '_' || ns[i] == '.'))
			goto bad;
	return 0;
bad:
	return ck_err_setc(errp, CK_E_INVALID, 0,
			   "invalid namespace '%s': use 1 to 76 of a-z, 0-9, "
			   "'.', '_' and '-', starting with a letter or digit",
			   ns);
}

const char *
ck_state_dir(void)
{
	const char *s = getenv("CKIT_STATE");

	return s && *s ? s : CK_DEFAULT_STATE;
}

/*
 * Writes one of a new store's fixed files, oci-layout or an empty
 * index.json, unless another process did first. The file is not synced,
 * which saves a new store six fsyncs. A crash can leave it empty, so an
 * empty file is written again here.
 */
static int
ensure_file(const struct ck_store *st, const char *path, const char *text,
	    struct ck_err **errp)
{
	struct stat sb;
	char *lockp;
	int lock, rc;

	/* Only an empty regular file is written again: whatever else has
	 * the name is not replaced. */
	rc = ck_stat_regular(path, &sb, errp);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return ck_write_file_new(path, text, strlen(text), 0644, errp);
	if (sb.st_size > 0)
		return 0;
	/* Every change of index.json takes the namespace lock, so under it
	 * an index that another process filled in meanwhile is not replaced. */
	lockp = ck_asprintf("%s/lock", st->ns_dir);
	lock = ck_lock(lockp, 0, errp);
	free(lockp);
	if (lock < 0)
		return -1;
	rc = 0;
	if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == 0)
		rc = ck_write_file_replace(path, text, strlen(text), 0644,
					   errp);
	ck_unlock(lock);
	return rc;
}

static int
init_namespace(struct ck_store *st, struct ck_err **errp)
{
	char *p;
	int rc = 0;

	if (ck_mkdir_p(st->ns_dir, 0711, errp) < 0)
		return -1;
	p = ck_asprintf("%s/oci-layout", st->ns_dir);
	rc = ensure_file(st, p, OCI_LAYOUT "\n", errp);
	free(p);
	if (rc < 0)
		return -1;
	p = ck_asprintf("%s/index.json", st->ns_dir);
	rc = ensure_file(st, p, "{\"schemaVersion\":2,\"manifests\":[]}\n",
			 errp);
	free(p);
	if (rc < 0)
		return -1;
	p = ck_asprintf("%s/blobs", st->ns_dir);
	if (symlink("../../content/blobs", p) < 0 && errno != EEXIST)
		rc = ck_err_set(errp, errno, "symlink '%s'", p);
	free(p);
	return rc;
}

static const char *
env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v && *v ? v : fallback;
}

/* Fills in st's names from root and ns, or from the environment and the
 * defaults when they are NULL. */
static int
store_names(struct ck_store *st, const char *root, const char *ns,
	    struct ck_err **errp)
{
	memset(st, 0, sizeof(*st));
	/* An empty variable counts as unset; an empty option value is an
	 * error that the checks below report. */
	if (root == NULL)
		root = env_or("CKIT_ROOT", CK_DEFAULT_ROOT);
	if (ns == NULL)
		ns = env_or("CKIT_NAMESPACE", CK_DEFAULT_NAMESPACE);
	if (ck_namespace_check(ns, errp) < 0)
		return -1;
	if (root[0] != '/')
		return ck_err_setc(errp, CK_E_INVALID, 0,
				   "invalid store root '%s': use an absolute "
				   "path", root);
	st->root = ck_xstrdup(root);
	st->ns = ck_xstrdup(ns);
	st->content = ck_asprintf("%s/content", root);
	st->ns_dir = ck_asprintf("%s/namespaces/%s", root, ns);
	return 0;
}

/* Creates what st's store lacks and repairs its fixed files, those of
 * the namespace only with make_ns. Closes st when that fails. */
static int
store_init(struct ck_store *st, int make_ns, struct ck_err **errp)
{
	char *p;
	int rc;

	p = ck_asprintf("%s/blobs/sha256", st->content);
	rc = ck_mkdir_p(p, 0711, errp);
	free(p);
	if (rc < 0)
		goto fail;
	p = ck_asprintf("%s/ingest", st->content);
	rc = ck_mkdir_p(p, 0700, errp);
	free(p);
	if (rc < 0)
		goto fail;
	/* The namespace first: its lock guards the repair of empty files. */
	if (make_ns && init_namespace(st, errp) < 0)
		goto fail;
	p = ck_asprintf("%s/oci-layout", st->content);
	rc = ensure_file(st, p, OCI_LAYOUT "\n", errp);
	free(p);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	ck_err_wrap(errp, "open store '%s'", st->root);
	ck_store_close(st);
	return -1;
}

int
ck_store_open(struct ck_store *st, const char *root, const char *ns,
	      struct ck_err **errp)
{
	if (store_names(st, root, ns, errp) < 0)
		return -1;
	return store_init(st, 1, errp);
}

int
ck_store_open_existing(struct ck_store *st, const char *root,
		       const char *ns, struct ck_err **errp)
{
	struct stat sb;
	int rc;

	if (store_names(st, root, ns, errp) < 0)
		return -1;
	if (stat(st->content, &sb) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			rc = ck_err_setc(errp, CK_E_NOTFOUND, 0, "no store at "
					 "'%s': pull an image into it with "
					 "cpull, or check --root and "
					 "$CKIT_ROOT", st->root);
		else
			rc = ck_err_set(errp, errno, "open store '%s'",
					st->root);
		ck_store_close(st);
		return rc;
	}
	/* A namespace that does not exist has nothing in it: a command that
	 * only reads it does not make it, so a mistyped -n leaves no trace. */
	return store_init(st, ck_path_exists(st->ns_dir), errp);
}

void
ck_store_close(struct ck_store *st)
{
	free(st->root);
	free(st->ns);
	free(st->content);
	free(st->ns_dir);
	memset(st, 0, sizeof(*st));
}

char *
ck_store_blob_path(const struct ck_store *st, const char *digest)
{
	return ck_asprintf("%s/blobs/sha256/%s", st->content,
			   ck_digest_hex(digest));
}

static char *
staged_path(const struct ck_store *st, const char *digest)
{
	return ck_asprintf("%s/ingest/%s.staged", st->content,
			   ck_digest_hex(digest));
}

int
ck_store_blob_exists(const struct ck_store *st, const char *digest)
{
	char *p;
	int rc;

	if (ck_digest_check(digest, NULL) < 0)
		return 0;
	p = ck_store_blob_path(st, digest);
	rc = ck_path_exists(p);
	free(p);
	return rc;
}

int
ck_store_blob_read(const struct ck_store *st, const char *digest,
		   size_t max, char **data, size_t *len, struct ck_err **errp)
{
	char *path, *got;
	size_t n;

	if (ck_digest_check(digest, errp) < 0)
		return -1;
	path = ck_store_blob_path(st, digest);
	if (ck_read_file(path, max, data, &n, errp) < 0) {
		free(path);
		if (errp && *errp && (*errp)->errnum == ENOENT)
			return ck_err_setc(errp, CK_E_NOTFOUND, 0,
					   "blob '%s' is not in the store",
					   digest);
		return -1;
	}
	free(path);
	got = ck_sha256_bytes(*data, n);
	if (strcmp(got, digest) != 0) {
		ck_err_set(errp, 0, "blob '%s' is damaged: its content "
			   "hashes to '%s'", digest, got);
		free(got);
		free(*data);
		*data = NULL;
		return -1;
	}
	free(got);
	if (len)
		*len = n;
	return 0;
}

int64_t
ck_store_blob_size(const struct ck_store *st, const char *digest)
{
	struct stat sb;
	char *path;
	int64_t size = -1;

	if (ck_digest_check(digest, NULL) < 0)
		return -1;
	path = ck_store_blob_path(st, digest);
	if (stat(path, &sb) == 0)
		size = sb.st_size;
	free(path);
	if (size < 0) {
		path = staged_path(st, digest);
		if (stat(path, &sb) == 0)
			size = sb.st_size;
		free(path);
	}
	return size;
}

static int
blob_ready(const struct ck_store *st, const char *digest)
{
	char *p = staged_path(st, digest);
	int rc = ck_path_exists(p) || ck_store_blob_exists(st, digest);

	free(p);
	return rc;
}

static int rehash(struct ck_ingest *in, struct ck_err **errp);

/* Whether fd is the file now at path. */
static int
same_file(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static struct ck_ingest *
ingest_open(const struct ck_store *st, const char *digest, int64_t size,
	    int *ready, int resume, struct ck_err **errp)
{
	struct ck_ingest *in;
	int fd;

	*ready = 0;
	if (ck_digest_check(digest, errp) < 0)
		return NULL;
	if (blob_ready(st, digest)) {
		*ready = 1;
		return NULL;
	}
	in = ck_xcalloc(1, sizeof(*in));
	in->st = st;
	in->digest = ck_xstrdup(digest);
	in->size = size;
	in->fd = -1;
	in->partial = ck_asprintf("%s/ingest/%s.partial", st->content,
				  ck_digest_hex(digest));
	/* The lock must be on the file that is still called .partial: a
	 * writer that held it before renamed its file to .staged. */
	for (;;) {
		fd = ck_lock(in->partial, 0, errp);
		if (fd < 0)
			goto fail;
		if (same_file(fd, in->partial))
			break;
		ck_unlock(fd);
	}
	in->fd = fd;
	/* Another writer may have finished while this one waited. */
	if (blob_ready(st, digest)) {
		*ready = 1;
		ck_ingest_abort(in);
		return NULL;
	}
	if ((resume ? rehash(in, errp) : ck_ingest_reset(in, errp)) < 0)
		goto fail;
	return in;
fail:
	ck_ingest_abort(in);
	return NULL;
}

struct ck_ingest *
ck_ingest_open(const struct ck_store *st, const char *digest, int64_t size,
	       int *ready, struct ck_err **errp)
{
	return ingest_open(st, digest, size, ready, 0, errp);
}

struct ck_ingest *
ck_ingest_open_resume(const struct ck_store *st, const char *digest,
		      int64_t size, int *ready, struct ck_err **errp)
{
	return ingest_open(st, digest, size, ready, 1, errp);
}

/* Hashes the bytes an earlier writer left and positions at their end.
 * They were written in order from byte 0 while that writer held the
 * lock, so they are a prefix of the blob unless the network gave wrong
 * bytes, which the digest check at close catches. */
static int
rehash(struct ck_ingest *in, struct ck_err **errp)
{
	char buf[64 * 1024];
	struct stat sb;
	ssize_t n;

	if (fstat(in->fd, &sb) < 0)
		return ck_err_set(errp, errno, "stat '%s'", in->partial);
	if (sb.st_size == 0 || (in->size >= 0 && sb.st_size > in->size))
		return ck_ingest_reset(in, errp);
	if (lseek(in->fd, 0, SEEK_SET) < 0)
		return ck_err_set(errp, errno, "seek '%s'", in->partial);
	in->hash = ck_sha256_new();
	in->written = 0;
	in->flushed = 0;
	for (;;) {
		n = read(in->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ck_err_set(errp, errno, "read '%s'",
					  in->partial);
		if (n == 0)
			break;
		ck_sha256_update(in->hash, buf, (size_t)n);
		in->written += n;
	}
	return 0;
}

int
ck_ingest_reset(struct ck_ingest *in, struct ck_err **errp)
{
	if (ftruncate(in->fd, 0) < 0 || lseek(in->fd, 0, SEEK_SET) < 0)
		return ck_err_set(errp, errno, "truncate '%s'", in->partial);
	if (in->hash)
		free(ck_sha256_final(in->hash));
	in->hash = ck_sha256_new();
	in->written = 0;
	in->flushed = 0;
	in->verified = 0;
	return 0;
}

int64_t
ck_ingest_written(const struct ck_ingest *in)
{
	return in->written;
}

int
ck_ingest_write(struct ck_ingest *in, const void *data, size_t len,
		struct ck_err **errp)
{
	const char *p = data;
	size_t left = len;

	if (in->verified)
		return ck_err_set(errp, 0, "blob '%s': write after "
				  "verification", in->digest);
	if (in->size >= 0 && in->written + (int64_t)len > in->size)
		return ck_err_set(errp, 0, "blob '%s': more data than the "
				  "expected %lld bytes", in->digest,
				  (long long)in->size);
	while (left > 0) {
		ssize_t n = write(in->fd, p, left);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ck_err_set(errp, errno, "write '%s'",
					  in->partial);
		}
		p += n;
		left -= (size_t)n;
	}
	ck_sha256_update(in->hash, data, len);
	in->written += (int64_t)len;
	/* Start writeback while the download goes on, so the fsync at
	 * close finds little left to write. Failure here changes nothing,
	 * since the fsync at close still checks every byte reached disk. */
	if (in->written - in->flushed >= INGEST_FLUSH_BYTES) {
		sync_file_range(in->fd, in->flushed, in->written - in->flushed,
				SYNC_FILE_RANGE_WRITE);
		in->flushed = in->written;
	}
	return 0;
}

static void
ingest_free(struct ck_ingest *in)
{
	if (in->hash)
		free(ck_sha256_final(in->hash));
	free(in->digest);
	free(in->partial);
	free(in);
}

void
ck_ingest_suspend(struct ck_ingest *in)
{
	if (in == NULL)
		return;
	if (in->fd >= 0)
		ck_unlock(in->fd);
	in->fd = -1;
	ingest_free(in);
}

void
ck_ingest_abort(struct ck_ingest *in)
{
	if (in == NULL)
		return;
	if (in->fd >= 0) {
		/* A partial file is kept only while its writer has it locked. A
		 * file renamed away meanwhile is another writer's blob. */
		if (same_file(in->fd, in->partial) && ftruncate(in->fd, 0) == 0)
			unlink(in->partial);
		ck_unlock(in->fd);
	}
	ingest_free(in);
}

int
ck_ingest_verify(struct ck_ingest *in, struct ck_err **errp)
{
	char *got;

	if (in->verified)
		return 0;
	if (in->size >= 0 && in->written != in->size) {
		ck_err_set(errp, 0, "blob '%s' is truncated: got %lld of "
			   "%lld bytes", in->digest, (long long)in->written,
			   (long long)in->size);
		ck_ingest_abort(in);
		return -1;
	}
	got = ck_sha256_final(in->hash);
	in->hash = NULL;
	if (strcmp(got, in->digest) != 0) {
		ck_err_set(errp, 0, "blob '%s' failed verification: its "
			   "content hashes to '%s'", in->digest, got);
		free(got);
		ck_ingest_abort(in);
		return -1;
	}
	free(got);
	in->verified = 1;
	return 0;
}

int
ck_ingest_close(struct ck_ingest *in, struct ck_err **errp)
{
	char *staged;
	int rc = -1;

	if (ck_ingest_verify(in, errp) < 0)
		return -1;
	if (fsync(in->fd) < 0) {
		ck_err_set(errp, errno, "fsync '%s'", in->partial);
		ck_ingest_abort(in);
		return -1;
	}
	staged = staged_path(in->st, in->digest);
	if (rename(in->partial, staged) < 0)
		ck_err_set(errp, errno, "rename '%s'", in->partial);
	else
		rc = 0;
	free(staged);
	ck_unlock(in->fd);
	in->fd = -1;
	ingest_free(in);
	return rc;
}

int
ck_store_stage_bytes(const struct ck_store *st, const char *digest,
		     const void *data, size_t len, struct ck_err **errp)
{
	struct ck_ingest *in;
	int ready;

	in = ck_ingest_open(st, digest, (int64_t)len, &ready, errp);
	if (in == NULL)
		return ready ? 0 : -1;
	if (ck_ingest_write(in, data, len, errp) < 0) {
		ck_ingest_abort(in);
		return -1;
	}
	return ck_ingest_close(in, errp);
}

/* Renames a staged blob into blobs/. Returns 1 when it did, 0 when the
 * blob was there already. */
static int
move_staged(const struct ck_store *st, const char *digest,
	    struct ck_err **errp)
{
	char *staged, *blob;
	int rc = 1;

	if (ck_digest_check(digest, errp) < 0)
		return -1;
	staged = staged_path(st, digest);
	blob = ck_store_blob_path(st, digest);
	if (rename(staged, blob) < 0) {
		if (errno != ENOENT || !ck_path_exists(blob))
			rc = ck_err_set(errp, errno, "commit blob '%s'",
					digest);
		else
			rc = 0;
	}
	free(staged);
	free(blob);
	return rc;
}

static int
sync_blobs_dir(const struct ck_store *st, struct ck_err **errp)
{
	char *dir = ck_asprintf("%s/blobs/sha256", st->content);
	int rc = ck_fsync_dir(dir, errp);

	free(dir);
	return rc;
}

int
ck_store_commit(const struct ck_store *st, const char *digest,
		struct ck_err **errp)
{
	int rc = move_staged(st, digest, errp);

	if (rc > 0)
		rc = sync_blobs_dir(st, errp);
	return rc < 0 ? -1 : 0;
}

int
ck_store_commit_all(const struct ck_store *st, const char *const *digests,
		    size_t n, struct ck_err **errp)
{
	size_t i;
	int rc, moved = 0;

	for (i = 0; i < n; i++) {
		rc = move_staged(st, digests[i], errp);
		if (rc < 0)
			return -1;
		moved |= rc;
	}
	return moved ? sync_blobs_dir(st, errp) : 0;
}

void
ck_descriptor_free(struct ck_descriptor *d)
{
	free(d->media_type);
	free(d->digest);
	memset(d, 0, sizeof(*d));
}

void
ck_descriptor_copy(struct ck_descriptor *dst, const struct ck_descriptor *src)
{
	dst->media_type = src->media_type ? ck_xstrdup(src->media_type) : NULL;
	dst->digest = src->digest ? ck_xstrdup(src->digest) : NULL;
	dst->size = src->size;
}

int
ck_descriptor_from_json(json_t *j, struct ck_descriptor *d,
			struct ck_err **errp)
{
	json_t *mt = json_object_get(j, "mediaType");
	json_t *dg = json_object_get(j, "digest");
	json_t *sz = json_object_get(j, "size");

	memset(d, 0, sizeof(*d));
	if (!json_is_object(j) || !json_is_string(dg) ||
	    !json_is_integer(sz) || json_integer_value(sz) < 0)
		return ck_err_setc(errp, CK_E_INVALID, 0,
				   "invalid descriptor: needs a digest and a "
				   "size");
	if (ck_digest_check(json_string_value(dg), errp) < 0)
		return -1;
	d->media_type = ck_xstrdup(json_is_string(mt) ?
				   json_string_value(mt) : "");
	d->digest = ck_xstrdup(json_string_value(dg));
	d->size = json_integer_value(sz);
	return 0;
}

char *
ck_now_rfc3339(void)
{
	char buf[64];
	struct tm tm;
	time_t t = time(NULL);

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return ck_xstrdup(buf);
}

/* Loads the JSON of the regular file at path; text that is not JSON
 * fails with class code. */
static json_t *
load_json(const char *path, int code, struct ck_err **errp)
{
	json_error_t jerr;
	json_t *j;
	char *data;
	size_t len;

	if (ck_read_regular(path, CK_JSON_MAX, &data, &len, errp) < 0)
		return NULL;
	j = json_loadb(data, len, 0, &jerr);
	free(data);
	if (j == NULL)
		ck_err_setc(errp, code, 0, "read '%s': %d:%d: %s", path,
			    jerr.line, jerr.column, jerr.text);
	return j;
}

json_t *
ck_json_load_regular(const char *path, struct ck_err **errp)
{
	return load_json(path, CK_E_GENERIC, errp);
}

/* Only a regular file that reads whole and is empty or not JSON is
 * damaged, because a crash leaves such a record. Anything else under a
 * record's name (a FIFO, a directory) fails without a class, which stops
 * removals and sweeps as an I/O error does. */
json_t *
ck_record_load(const char *path, struct ck_err **errp)
{
	return load_json(path, CK_E_DAMAGED, errp);
}
