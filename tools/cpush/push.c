/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cpush's push. An index is pushed whole when the store has every
 * platform manifest it lists with all their blobs. Otherwise only the
 * platform manifest that the image record chose is pushed. Blobs the
 * repository has are skipped, blobs of another repository on the same
 * registry are mounted, and the rest are uploaded from content/blobs/.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "manifest.h"
#include "push.h"
#include "ref.h"
#include "registry.h"
#include "store.h"
#include "util.h"

/* A manifest or index to PUT. */
struct doc {
	struct ck_descriptor desc;
	char *data;
	size_t len;
};

struct push {
	const struct push_opts *o;
	struct push_result *res;
	struct ck_store st;
	int have_store;
	struct ck_image img;
	struct ck_ref src;
	struct ck_ref dst;
	struct ck_registry *reg;
	struct doc *docs;	/* platform manifests, then the index */
	size_t n_docs;
	struct ck_descriptor *blobs;	/* configs and layers, each once */
	size_t n_blobs;
};

static void
push_close(struct push *p)
{
	size_t i;

	ck_registry_close(p->reg);
	for (i = 0; i < p->n_docs; i++) {
		ck_descriptor_free(&p->docs[i].desc);
		free(p->docs[i].data);
	}
	free(p->docs);
	for (i = 0; i < p->n_blobs; i++)
		ck_descriptor_free(&p->blobs[i]);
	free(p->blobs);
	ck_image_free(&p->img);
	ck_ref_free(&p->src);
	ck_ref_free(&p->dst);
	if (p->have_store)
		ck_store_close(&p->st);
}

static int
push_open(struct push *p, struct ck_err **errp)
{
	if (ck_store_open_existing(&p->st, p->o->root, p->o->ns, errp) < 0)
		return -1;
	p->have_store = 1;
	if (ck_ref_parse(p->o->dest, &p->dst, errp) < 0 ||
	    ck_image_resolve(&p->st, p->o->source, &p->img, errp) < 0)
		return -1;
	return ck_ref_parse(p->img.name, &p->src, errp);
}

static void
add_doc(struct push *p, const struct ck_descriptor *d, char *data,
	size_t len)
{
	struct doc *doc;

	p->docs = ck_xrealloc(p->docs, (p->n_docs + 1) * sizeof(*p->docs));
	doc = &p->docs[p->n_docs++];
	ck_descriptor_copy(&doc->desc, d);
	doc->data = data;
	doc->len = len;
}

/* The media type of a stored manifest whose descriptor lacks one. */
static void
fill_media_type(struct ck_descriptor *d, const char *data, size_t len)
{
	char *mt = NULL;

	if (d->media_type != NULL && *d->media_type != '\0')
		return;
	ck_manifest_sniff(data, len, &mt);
	free(d->media_type);
	d->media_type = mt ? mt : ck_xstrdup(CK_MT_OCI_MANIFEST);
}

static int
load_doc(struct push *p, const struct ck_descriptor *d, struct ck_err **errp)
{
	struct ck_descriptor copy;
	char *data;
	size_t len;

	if (ck_store_blob_read(&p->st, d->digest, CK_MANIFEST_MAX, &data,
			       &len, errp) < 0)
		return -1;
	ck_descriptor_copy(&copy, d);
	fill_media_type(&copy, data, len);
	add_doc(p, &copy, data, len);
	ck_descriptor_free(&copy);
	return 0;
}

static int
is_foreign(const char *media_type)
{
	return media_type != NULL &&
	       (strstr(media_type, ".foreign.") != NULL ||
		strstr(media_type, ".nondistributable.") != NULL);
}

static void
add_blob(struct push *p, const struct ck_descriptor *d)
{
	size_t i;

	for (i = 0; i < p->n_blobs; i++)
		if (strcmp(p->blobs[i].digest, d->digest) == 0)
			return;
	p->blobs = ck_xrealloc(p->blobs, (p->n_blobs + 1) * sizeof(*p->blobs));
	ck_descriptor_copy(&p->blobs[p->n_blobs++], d);
}

/* Adds the config and layers of a manifest. Returns 1 when one of them
 * is missing from the store. */
static int
add_manifest_blobs(struct push *p, const struct doc *doc, int check_only,
		   struct ck_err **errp)
{
	struct ck_manifest m;
	size_t i;
	int missing = 0;

	if (ck_manifest_parse(doc->data, doc->len, &m, errp) < 0)
		return ck_err_wrap(errp, "manifest '%s'", doc->desc.digest);
	if (!ck_store_blob_exists(&p->st, m.config.digest))
		missing = 1;
	for (i = 0; i < m.n_layers; i++)
		if (!ck_store_blob_exists(&p->st, m.layers[i].digest) &&
		    !is_foreign(m.layers[i].media_type))
			missing = 1;
	if (!check_only && !missing) {
		add_blob(p, &m.config);
		for (i = 0; i < m.n_layers; i++)
			if (ck_store_blob_exists(&p->st, m.layers[i].digest))
				add_blob(p, &m.layers[i]);
	}
	ck_manifest_free(&m);
	return missing;
}

/* Loads every platform manifest of the index; fails with CK_E_NOTFOUND
 * when the store lacks one of them or one of their blobs. */
static int
plan_index(struct push *p, struct ck_err **errp)
{
	struct ck_index_entry *e;
	char *data;
	size_t len, n, i;
	int rc = 0;

	if (ck_store_blob_read(&p->st, p->img.target.digest, CK_MANIFEST_MAX,
			       &data, &len, errp) < 0)
		return -1;
	if (ck_index_parse(data, len, &e, &n, errp) < 0) {
		free(data);
		return -1;
	}
	for (i = 0; rc == 0 && i < n; i++) {
		if (!ck_store_blob_exists(&p->st, e[i].desc.digest)) {
			rc = ck_err_setc(errp, CK_E_NOTFOUND, 0, "manifest "
					 "'%s' (%s) is not in the store",
					 e[i].desc.digest, e[i].platform ?
					 e[i].platform : "no platform");
			break;
		}
		rc = load_doc(p, &e[i].desc, errp);
		if (rc == 0 && add_manifest_blobs(p, &p->docs[p->n_docs - 1], 1,
						  errp) != 0)
			rc = ck_err_setc(errp, CK_E_NOTFOUND, 0, "blobs of "
					 "manifest '%s' are not in the store",
					 e[i].desc.digest);
	}
	ck_index_free(e, n);
	if (rc == 0)
		add_doc(p, &p->img.target, data, len);
	else
		free(data);
	return rc;
}

static void
clear_docs(struct push *p)
{
	size_t i;

	for (i = 0; i < p->n_docs; i++) {
		ck_descriptor_free(&p->docs[i].desc);
		free(p->docs[i].data);
	}
	p->n_docs = 0;
}

/* Decides what to push: the whole index, or the one platform manifest. */
static int
plan(struct push *p, struct ck_err **errp)
{
	struct ck_err *why = NULL;
	size_t i;
	int rc;

	if (ck_media_type_kind(p->img.target.media_type) == CK_KIND_INDEX) {
		if (plan_index(p, &why) == 0)
			goto blobs;
		if (ck_err_code(why) != CK_E_NOTFOUND) {
			ck_err_free(errp);
			*errp = why;
			return -1;
		}
		ck_log(CK_LOG_WARNING, "pushing only the %s manifest of "
		       "index '%s': %s", p->img.platform ? p->img.platform :
		       "chosen", p->img.target.digest, why->msg);
		ck_err_free(&why);
		clear_docs(p);
	}
	if (load_doc(p, &p->img.manifest, errp) < 0)
		return -1;
blobs:
	for (i = 0; i < p->n_docs; i++) {
		if (ck_media_type_kind(p->docs[i].desc.media_type) ==
		    CK_KIND_INDEX)
			continue;
		rc = add_manifest_blobs(p, &p->docs[i], 0, errp);
		if (rc < 0)
			return -1;
		if (rc > 0)
			return ck_err_setc(errp, CK_E_NOTFOUND, 0, "blobs of "
					   "manifest '%s' are not in the "
					   "store; pull the image again",
					   p->docs[i].desc.digest);
	}
	return 0;
}

static const char *
state_word(enum ck_xfer_state s)
{
	switch (s) {
	case CK_XFER_DONE:
		return "pushed";
	case CK_XFER_EXISTS:
		return "exists";
	case CK_XFER_MOUNTED:
		return "mounted";
	case CK_XFER_FAILED:
		return "failed";
	case CK_XFER_RETRYING:
		return "retrying";
	default:
		return NULL;
	}
}

/* Draws one blob's line on the terminal, in place until it ends. */
static void
draw(void *arg, const struct ck_xfer *x)
{
	const struct push *p = arg;
	const char *word = state_word(x->state);
	char done[32], total[32], label[32];

	if (!p->o->progress)
		return;
	ck_format_size(done, sizeof(done), x->done);
	ck_format_size(total, sizeof(total), x->total);
	snprintf(label, sizeof(label), "blob %zu/%zu", x->index + 1,
		 p->n_blobs);
	fprintf(stderr, "\r%-12s %.19s %10s / %-10s %s\033[K", label,
		x->digest, done, total, word ? word : "");
	if (word != NULL && x->state != CK_XFER_RETRYING)
		fputc('\n', stderr);
	fflush(stderr);
}

/* After a failed upload, replaces the error with a clearer one when the
 * store's copy of the blob does not hash to its name: registries reject
 * such an upload, and pushing again cannot help. */
static void
check_stored(int fd, const char *digest, struct ck_err **errp)
{
	struct ck_sha256 *h = ck_sha256_new();
	char buf[65536], *actual;
	off_t off = 0;
	ssize_t n;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		ck_sha256_update(h, buf, (size_t)n);
		off += n;
	}
	actual = ck_sha256_final(h);
	if (n == 0 && strcmp(actual, digest) != 0)
		ck_err_set(errp, 0, "the store's copy is damaged: its bytes "
			   "hash to '%s'; pull the image again before pushing "
			   "it", actual);
	free(actual);
}

static int
upload(struct push *p, size_t i, struct ck_err **errp)
{
	const struct ck_descriptor *d = &p->blobs[i];
	struct ck_push_blob_opts po = {
		.chunk_size = p->o->chunk_size, .progress = draw,
		.progress_arg = p, .index = i,
	};
	char *path = ck_store_blob_path(&p->st, d->digest);
	struct stat sb;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = ck_err_set(errp, errno, "open blob '%s'", path);
		free(path);
		return rc;
	}
	free(path);
	if (fstat(fd, &sb) < 0 || sb.st_size != d->size) {
		close(fd);
		return ck_err_set(errp, 0, "blob '%s' in the store has %lld "
				  "bytes, but its descriptor says %lld; pull "
				  "the image again before pushing it",
				  d->digest, (long long)sb.st_size,
				  (long long)d->size);
	}
	rc = ck_registry_push_blob(p->reg, d->digest, fd, d->size, &po, errp);
	if (rc < 0)
		check_stored(fd, d->digest, errp);
	close(fd);
	return rc;
}

/* Whether a mount from the source repository is worth trying. */
static int
can_mount(const struct push *p)
{
	return strcmp(p->src.domain, p->dst.domain) == 0 &&
	       strcmp(p->src.path, p->dst.path) != 0;
}

static int
push_blob(struct push *p, size_t i, struct ck_err **errp)
{
	const struct ck_descriptor *d = &p->blobs[i];
	struct ck_xfer x = { .index = i, .digest = d->digest,
			     .total = d->size, .done = d->size };
	int rc = ck_registry_blob_exists(p->reg, d->digest, errp);

	if (rc == 0 && can_mount(p))
		rc = ck_registry_mount_blob(p->reg, d->digest, p->src.path,
					    errp) > 0 ? 2 : 0;
	if (rc < 0)
		return ck_err_wrap(errp, "blob '%s'", d->digest);
	if (rc > 0) {
		x.state = rc == 2 ? CK_XFER_MOUNTED : CK_XFER_EXISTS;
		draw(p, &x);
		ck_log(CK_LOG_INFO, "blob '%s' %s", d->digest, rc == 2 ?
		       "mounted from the source repository" :
		       "is already in the repository");
		if (rc == 2)
			p->res->mounted++;
		else
			p->res->existing++;
		return 0;
	}
	if (upload(p, i, errp) < 0)
		return ck_err_wrap(errp, "blob '%s'", d->digest);
	ck_log(CK_LOG_INFO, "uploaded blob '%s' (%lld bytes)", d->digest,
	       (long long)d->size);
	p->res->uploaded++;
	p->res->bytes_uploaded += d->size;
	return 0;
}

/* PUTs the platform manifests by digest and the top one by the
 * destination's tag, or by its digest when the reference names one. */
static int
put_docs(struct push *p, struct ck_err **errp)
{
	const struct doc *top = &p->docs[p->n_docs - 1];
	const char *ref;
	size_t i;

	if (p->dst.digest != NULL && strcmp(p->dst.digest,
					    top->desc.digest) != 0)
		return ck_err_setc(errp, CK_E_INVALID, 0, "destination names "
				   "digest '%s', but the image to push is "
				   "'%s'", p->dst.digest, top->desc.digest);
	for (i = 0; i + 1 < p->n_docs; i++) {
		if (ck_registry_put_manifest(p->reg, p->docs[i].desc.digest,
					     p->docs[i].desc.media_type,
					     p->docs[i].data, p->docs[i].len,
					     errp) < 0)
			return -1;
		p->res->manifests++;
	}
	ref = p->dst.tag ? p->dst.tag : top->desc.digest;
	if (ck_registry_put_manifest(p->reg, ref, top->desc.media_type,
				     top->data, top->len, errp) < 0)
		return -1;
	p->res->manifests++;
	ck_log(CK_LOG_INFO, "pushed '%s' as '%s'", top->desc.digest, ref);
	return 0;
}

static void
fill_result(struct push *p)
{
	const struct doc *top = &p->docs[p->n_docs - 1];
	size_t i;

	p->res->name = ck_ref_name(&p->dst);
	p->res->digest = ck_xstrdup(top->desc.digest);
	p->res->media_type = ck_xstrdup(top->desc.media_type);
	for (i = 0; i < p->n_docs; i++)
		p->res->size += (int64_t)p->docs[i].len;
	for (i = 0; i < p->n_blobs; i++)
		p->res->size += p->blobs[i].size;
}

int
push_image(const struct push_opts *opts, struct push_result *res,
	   struct ck_err **errp)
{
	struct ck_registry_opts ro = {
		.plain_http = opts->plain_http,
		.user_agent = "ckit-cpush",
		.hosts_dir = opts->hosts_dir,
		.creds = opts->creds,
	};
	struct push p = { .o = opts, .res = res };
	size_t i;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = push_open(&p, errp);
	if (rc == 0)
		rc = plan(&p, errp);
	if (rc == 0) {
		p.reg = ck_registry_open(&p.dst, &ro, errp);
		rc = p.reg == NULL ? -1 : 0;
	}
	if (rc == 0)
		ck_registry_set_push(p.reg);
	for (i = 0; rc == 0 && i < p.n_blobs; i++)
		rc = push_blob(&p, i, errp);
	if (rc == 0)
		rc = put_docs(&p, errp);
	if (rc == 0)
		fill_result(&p);
	push_close(&p);
	return rc;
}

void
push_result_free(struct push_result *res)
{
	free(res->name);
	free(res->digest);
	free(res->media_type);
	memset(res, 0, sizeof(*res));
}
