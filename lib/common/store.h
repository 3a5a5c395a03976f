/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The content store and namespace records under $CKIT_ROOT.
 *
 *   content/blobs/sha256/<hex>   blobs, always whole and verified
 *   content/ingest/<hex>.partial a blob being written, under flock
 *   content/ingest/<hex>.staged  verified, fsynced, waiting for commit
 *   namespaces/<ns>/index.json   the image records, an OCI image index
 *   namespaces/<ns>/blobs        symlink to content/blobs
 *
 * A blob enters blobs/ only by rename after its digest and size verify.
 */
#ifndef CK_STORE_H
#define CK_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

#define CK_DEFAULT_ROOT "/var/lib/ckit"
#define CK_DEFAULT_STATE "/run/ckit"
#define CK_DEFAULT_NAMESPACE "default"

struct ck_store {
	char *root;	/* $CKIT_ROOT */
	char *ns;	/* namespace name */
	char *content;	/* <root>/content */
	char *ns_dir;	/* <root>/namespaces/<ns> */
	/* Container records and specs are written without fsync: for a
	 * container removed when its task exits, which a crash leaves
	 * behind either way. A damaged record is skipped and removable. */
	int no_sync;
};

struct ck_descriptor {
	char *media_type;
	char *digest;
	int64_t size;
};

/* Opens (creating as needed) the store; NULL root or ns take $CKIT_ROOT
 * and $CKIT_NAMESPACE or the defaults. */
int ck_store_open(struct ck_store *st, const char *root, const char *ns,
		  struct ck_err **errp);
/* Opens the store as ck_store_open does if it exists, and fails with
 * CK_E_NOTFOUND, creating nothing, when it does not. A namespace that
 * does not exist is not made either: it reads as empty. For commands
 * that need something in the store, so that a mistyped root or
 * namespace is not made into an empty one. */
int ck_store_open_existing(struct ck_store *st, const char *root,
			   const char *ns, struct ck_err **errp);
void ck_store_close(struct ck_store *st);
int ck_namespace_check(const char *ns, struct ck_err **errp);
const char *ck_state_dir(void);

char *ck_store_blob_path(const struct ck_store *st, const char *digest);
int ck_store_blob_exists(const struct ck_store *st, const char *digest);
/* The size of a stored or staged blob, or -1 when there is none. */
int64_t ck_store_blob_size(const struct ck_store *st, const char *digest);
/* Reads a small blob (at most max bytes) and verifies its digest. */
int ck_store_blob_read(const struct ck_store *st, const char *digest,
		       size_t max, char **data, size_t *len,
		       struct ck_err **errp);

/*
 * Writing a blob. ck_ingest_open returns NULL with *ready set and no error
 * when the blob is already stored or staged. Otherwise it holds an
 * exclusive lock on the ingest file until ck_ingest_close or
 * ck_ingest_abort, so two writers of one blob never interleave; the second
 * waits and then finds the blob ready. size is -1 when unknown.
 */
struct ck_ingest;
struct ck_ingest *ck_ingest_open(const struct ck_store *st,
				 const char *digest, int64_t size, int *ready,
				 struct ck_err **errp);
int ck_ingest_write(struct ck_ingest *in, const void *data, size_t len,
		    struct ck_err **errp);
/*
 * Like ck_ingest_open, but keeps the bytes that an interrupted writer left
 * in the partial file and hashes them again, so that a download can resume
 * at ck_ingest_written. A partial file longer than size starts over. The
 * final digest check in ck_ingest_close still covers every byte.
 */
struct ck_ingest *ck_ingest_open_resume(const struct ck_store *st,
					const char *digest, int64_t size,
					int *ready, struct ck_err **errp);
/* Drops what was written so far, to restart a download. */
int ck_ingest_reset(struct ck_ingest *in, struct ck_err **errp);
int64_t ck_ingest_written(const struct ck_ingest *in);
/* Checks size and digest once all bytes are written. On a mismatch it
 * removes the data and frees in. On success in stays open for
 * ck_ingest_close. */
int ck_ingest_verify(struct ck_ingest *in, struct ck_err **errp);
/* Verifies size and digest unless ck_ingest_verify did, fsyncs and
 * stages the blob. On a mismatch the data is removed. Frees in in every
 * case. */
int ck_ingest_close(struct ck_ingest *in, struct ck_err **errp);
void ck_ingest_abort(struct ck_ingest *in);
/* Releases the lock but keeps the partial file, for a later
 * ck_ingest_open_resume. Frees in. */
void ck_ingest_suspend(struct ck_ingest *in);
/* Verifies and stages a blob held in memory. */
int ck_store_stage_bytes(const struct ck_store *st, const char *digest,
			 const void *data, size_t len, struct ck_err **errp);
/* Moves a staged blob into blobs/; a blob already there is success. */
int ck_store_commit(const struct ck_store *st, const char *digest,
		    struct ck_err **errp);
/*
 * Commits several blobs with one fsync of blobs/ at the end, for blobs
 * that nothing in blobs/ points to yet: until that fsync, a crash may
 * keep any subset of them, and each one that is kept is whole.
 */
int ck_store_commit_all(const struct ck_store *st, const char *const *digests,
			size_t n, struct ck_err **errp);

/* An image record: a name in a namespace and what it points to. */
struct ck_image {
	char *name;			/* normalised reference, the key */
	struct ck_descriptor target;	/* what the name resolved to */
	struct ck_descriptor manifest;	/* the platform manifest chosen */
	char *platform;			/* "os/arch[/variant]" of manifest */
	char *created;			/* RFC 3339 UTC */
};

int ck_image_put(const struct ck_store *st, const struct ck_image *img,
		 struct ck_err **errp);
/* Looks up a user's reference: a short or full name, or the NAME@DIGEST
 * that cpull prints; fails with CK_E_NOTFOUND when no record matches. */
int ck_image_resolve(const struct ck_store *st, const char *ref,
		     struct ck_image *img, struct ck_err **errp);
int ck_image_list(const struct ck_store *st, struct ck_image **imgs,
		  size_t *n, struct ck_err **errp);
int ck_image_remove(const struct ck_store *st, const char *name,
		    struct ck_err **errp);
void ck_image_free(struct ck_image *img);
void ck_image_list_free(struct ck_image *imgs, size_t n);

void ck_descriptor_free(struct ck_descriptor *d);
void ck_descriptor_copy(struct ck_descriptor *dst,
			const struct ck_descriptor *src);
/* Reads mediaType, digest and size from a JSON descriptor and checks them. */
int ck_descriptor_from_json(json_t *j, struct ck_descriptor *d,
			    struct ck_err **errp);
char *ck_now_rfc3339(void);

/* Reads the JSON record at path. Fails with CK_E_NOTFOUND when there is
 * none and with CK_E_DAMAGED when it was read but is empty or not JSON,
 * which only a crash leaves. An error opening or reading it (EMFILE,
 * EIO) gets no class, because the file may be whole. */
json_t *ck_record_load(const char *path, struct ck_err **errp);
/* The largest JSON file that ck_record_load and ck_json_load_regular
 * read, so no larger record may be written. */
#define CK_JSON_MAX (16 << 20)
/* Loads the JSON of a file of ckit's own through ck_read_regular, so a
 * FIFO under its name fails at once. */
json_t *ck_json_load_regular(const char *path, struct ck_err **errp);

#endif
