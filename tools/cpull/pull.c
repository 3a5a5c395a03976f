/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cpull's pull. Every blob of every chosen platform manifest is staged and
 * verified before the first commit. Commits go, for each manifest, layers,
 * config, manifest, and then the index, so a reader that finds a manifest
 * or index in content/blobs/ finds all it points to.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "digest.h"
#include "manifest.h"
#include "platform.h"
#include "pull.h"
#include "ref.h"
#include "registry.h"
#include "store.h"
#include "util.h"

/* A platform manifest being pulled. */
struct chosen {
	struct ck_descriptor desc;
	char *platform;		/* as the index writes it, or NULL */
	char *data;		/* the manifest's bytes */
	size_t len;
	struct ck_manifest m;
};

struct pull {
	const struct pull_opts *opts;
	struct ck_ref ref;
	char *name;			/* ck_ref_name of the reference */
	struct ck_store st;
	int have_store;
	struct ck_registry *reg;
	struct ck_platform *want;	/* --platform values, or the default */
	size_t n_want;
	struct ck_descriptor target;	/* what the reference resolved to */
	int target_is_index;
	struct chosen *chosen;		/* [0] is the one recorded */
	size_t n_chosen;
	char **skipped;			/* non-distributable layers left out */
	size_t n_skipped;
};

static int
parse_wanted(struct pull *p, const struct pull_opts *opts,
	     struct ck_err **errp)
{
	size_t i;

	p->want = ck_xcalloc(opts->n_platforms + 1, sizeof(*p->want));
	if (opts->n_platforms == 0) {
		p->n_want = 1;
		return ck_platform_default(&p->want[0], errp);
	}
	for (i = 0; i < opts->n_platforms; i++) {
		if (ck_platform_parse(opts->platforms[i], &p->want[i],
				      errp) < 0)
			return -1;
		p->n_want++;
	}
	return 0;
}

static int
pull_open(struct pull *p, const struct pull_opts *opts, struct ck_err **errp)
{
	struct ck_registry_opts ro = {
		.plain_http = opts->plain_http,
		.stall_timeout = opts->stall_timeout,
		.user_agent = "ckit-cpull",
		.hosts_dir = opts->hosts_dir,
		.creds = opts->creds,
	};

	p->opts = opts;
	if (ck_ref_parse(opts->reference, &p->ref, errp) < 0)
		return -1;
	p->name = ck_ref_name(&p->ref);
	if (parse_wanted(p, opts, errp) < 0)
		return -1;
	if (ck_store_open(&p->st, opts->root, opts->ns, errp) < 0)
		return -1;
	p->have_store = 1;
	p->reg = ck_registry_open(&p->ref, &ro, errp);
	return p->reg == NULL ? -1 : 0;
}

static void
pull_close(struct pull *p)
{
	size_t i;

	ck_registry_close(p->reg);
	if (p->have_store)
		ck_store_close(&p->st);
	for (i = 0; i < p->n_want; i++)
		ck_platform_free(&p->want[i]);
	free(p->want);
	ck_descriptor_free(&p->target);
	for (i = 0; i < p->n_chosen; i++) {
		ck_descriptor_free(&p->chosen[i].desc);
		ck_manifest_free(&p->chosen[i].m);
		free(p->chosen[i].data);
		free(p->chosen[i].platform);
	}
	free(p->chosen);
	for (i = 0; i < p->n_skipped; i++)
		free(p->skipped[i]);
	free(p->skipped);
	free(p->name);
	ck_ref_free(&p->ref);
}

/* The body's own mediaType field, or NULL when it has none. */
static char *
body_media_type(const char *data, size_t len)
{
	json_t *j = json_loadb(data, len, 0, NULL);
	json_t *mt = json_object_get(j, "mediaType");
	char *s = NULL;

	if (json_is_string(mt) && *json_string_value(mt) != '\0')
		s = ck_xstrdup(json_string_value(mt));
	json_decref(j);
	return s;
}

/*
 * Finds a manifest's kind and media type. The body's mediaType field wins,
 * then a Content-Type of the same kind, then the body's shape, which gives
 * the OCI types.
 */
static int
classify(const char *subject, const struct ck_registry_manifest *rm,
	 char **media_type, struct ck_err **errp)
{
	char *sniffed = NULL, *own = body_media_type(rm->data, rm->len);
	enum ck_kind kind = ck_manifest_sniff(rm->data, rm->len, &sniffed);

	*media_type = NULL;
	if (kind == CK_KIND_SCHEMA1 ||
	    ck_media_type_kind(rm->content_type) == CK_KIND_SCHEMA1)
		ck_err_setc(errp, CK_E_INVALID, 0, "%s is a Docker schema 1 "
			    "manifest, which is not supported; push the image "
			    "again with a current Docker or skopeo to convert "
			    "it to schema 2", subject);
	else if (kind == CK_KIND_UNKNOWN)
		ck_err_setc(errp, CK_E_INVALID, 0, "%s: the registry returned "
			    "neither a manifest nor an index", subject);
	else if (own == NULL &&
		 ck_media_type_kind(rm->content_type) == kind)
		*media_type = ck_xstrdup(rm->content_type);
	else
		*media_type = ck_xstrdup(sniffed);
	free(sniffed);
	free(own);
	return *media_type == NULL ? -1 : (int)kind;
}

/* Checks the body against the requested digest, else against the
 * registry's Docker-Content-Digest. got is the digest of the body. */
static int
check_target_digest(const struct pull *p,
		    const struct ck_registry_manifest *rm, const char *got,
		    struct ck_err **errp)
{
	if (p->ref.digest != NULL && strcmp(got, p->ref.digest) != 0)
		return ck_err_set(errp, 0, "manifest of '%s' failed "
				  "verification: expected '%s', got content "
				  "that hashes to '%s'", p->name,
				  p->ref.digest, got);
	if (p->ref.digest == NULL && rm->digest != NULL &&
	    ck_has_prefix(rm->digest, "sha256:") &&
	    strcmp(got, rm->digest) != 0)
		return ck_err_set(errp, 0, "manifest of '%s' failed "
				  "verification: the registry sent "
				  "Docker-Content-Digest '%s', but the content "
				  "hashes to '%s'", p->name, rm->digest, got);
	return 0;
}

/* Returns whether the namespace has a record of the image's name. */
static int
has_record(const struct pull *p)
{
	struct ck_image img;

	if (ck_image_resolve(&p->st, p->name, &img, NULL) < 0)
		return 0;
	ck_image_free(&img);
	return 1;
}

/*
 * Fetches what a tag names. A HEAD resolves the tag at a host that may
 * resolve, and the manifest then comes from the store, or by digest from
 * a host that may pull. A registry that rejects HEAD, or sends no digest,
 * returns the manifest to a GET of the tag.
 *
 * A name the namespace has no record of takes one GET of the tag
 * instead, one round trip fewer, when the first host may both resolve
 * and pull. Registries that limit pulls count a GET of a manifest and
 * not a HEAD, so a re-pull of an unchanged image still costs none. A
 * pull-only mirror ahead of the resolving host keeps the HEAD, so that
 * the manifest comes from the mirror.
 */
static int
fetch_tag(struct pull *p, struct ck_registry_manifest *rm,
	  struct ck_err **errp)
{
	struct ck_descriptor d;
	int rc = 0;

	if (ck_registry_resolver_pulls(p->reg) && !has_record(p)) {
		ck_log(CK_LOG_DEBUG, "no record of '%s'; fetching the tag",
		       p->name);
		return ck_registry_get_manifest(p->reg, p->ref.tag, rm, errp);
	}
	if (ck_registry_resolve(p->reg, p->ref.tag, &d, rm, errp) < 0)
		return -1;
	if (rm->data == NULL && ck_store_blob_exists(&p->st, d.digest)) {
		ck_log(CK_LOG_INFO, "manifest '%s' is already in the store",
		       d.digest);
		rc = ck_store_blob_read(&p->st, d.digest, CK_MANIFEST_MAX,
					&rm->data, &rm->len, errp);
		rm->content_type = ck_xstrdup(d.media_type);
	} else if (rm->data == NULL) {
		rc = ck_registry_get_manifest(p->reg, d.digest, rm, errp);
	}
	/* The body must hash to the digest the tag resolved to. */
	if (rc == 0 && rm->digest == NULL)
		rm->digest = ck_xstrdup(d.digest);
	ck_descriptor_free(&d);
	return rc;
}

/* Fetches and verifies what the reference names. */
static int
resolve_target(struct pull *p, struct ck_registry_manifest *rm,
	       struct ck_err **errp)
{
	char *got, *subject, *media_type = NULL;
	int kind, rc;

	if (p->ref.digest == NULL)
		rc = fetch_tag(p, rm, errp);
	else
		rc = ck_registry_get_manifest(p->reg, p->ref.digest, rm, errp);
	if (rc < 0)
		return -1;
	got = ck_sha256_bytes(rm->data, rm->len);
	if (check_target_digest(p, rm, got, errp) < 0) {
		free(got);
		return -1;
	}
	subject = ck_asprintf("image '%s'", p->name);
	kind = classify(subject, rm, &media_type, errp);
	free(subject);
	if (kind < 0) {
		free(got);
		return -1;
	}
	p->target.media_type = media_type;
	p->target.digest = got;
	p->target.size = (int64_t)rm->len;
	p->target_is_index = kind == CK_KIND_INDEX;
	ck_log(CK_LOG_INFO, "resolved '%s' to '%s' (%s)", p->name, got,
	       media_type);
	return 0;
}

/* Adds an index entry to the manifests to pull, unless it is there. */
static void
add_chosen(struct pull *p, const struct ck_platform_entry *e)
{
	struct chosen *c;
	size_t i;

	for (i = 0; i < p->n_chosen; i++)
		if (strcmp(p->chosen[i].desc.digest, e->desc.digest) == 0)
			return;
	p->chosen = ck_xrealloc(p->chosen, (p->n_chosen + 1) *
				sizeof(*p->chosen));
	c = &p->chosen[p->n_chosen++];
	memset(c, 0, sizeof(*c));
	ck_descriptor_copy(&c->desc, &e->desc);
	c->platform = e->text ? ck_xstrdup(e->text) : NULL;
	ck_log(CK_LOG_INFO, "chose manifest '%s' for platform '%s'",
	       c->desc.digest, c->platform ? c->platform : "none");
}

/*
 * Chooses for --all-platforms. The manifest for the first wanted platform
 * goes first, as the one recorded, or the first usable one when none
 * matches. Then comes every other manifest in index order, attestations
 * too. Nested indexes are skipped.
 */
static int
choose_all(struct pull *p, const struct ck_platform_entry *e, size_t n,
	   struct ck_err **errp)
{
	char *want = ck_platform_format(&p->want[0]);
	size_t i, best;

	if (ck_platform_select(&p->want[0], 0, e, n, &best, NULL) < 0) {
		for (best = 0; best < n; best++)
			if (ck_platform_entry_usable(&e[best]))
				break;
		if (best < n)
			ck_log(CK_LOG_WARNING, "image '%s' has no manifest "
			       "for platform '%s'; recording '%s'", p->name,
			       want, e[best].text);
	}
	if (best < n)
		add_chosen(p, &e[best]);
	else
		ck_log(CK_LOG_WARNING, "image '%s' lists no manifest for a "
		       "platform; recording the first manifest", p->name);
	free(want);
	for (i = 0; i < n; i++) {
		if (e[i].desc.media_type[0] == '\0' ||
		    ck_media_type_kind(e[i].desc.media_type) ==
		    CK_KIND_MANIFEST)
			add_chosen(p, &e[i]);
		else
			ck_log(CK_LOG_WARNING, "image '%s': skipping entry "
			       "'%s' of type '%s', which is not a manifest",
			       p->name, e[i].desc.digest,
			       e[i].desc.media_type);
	}
	if (p->n_chosen == 0)
		return ck_err_setc(errp, CK_E_NOTFOUND, 0, "image '%s': the "
				   "index lists no manifest", p->name);
	return 0;
}

/* Names the image in a no-match error and the option that picks another
 * platform. */
static void
no_match_hint(const struct pull *p, struct ck_err **errp)
{
	char *msg;

	if (errp == NULL || *errp == NULL)
		return;
	msg = ck_xstrdup((*errp)->msg);
	ck_err_setc(errp, CK_E_NOTFOUND, 0, "image '%s': %s; choose one with "
		    "--platform", p->name, msg);
	free(msg);
}

/* Picks the manifests to pull: the best match for each wanted platform,
 * or every manifest. */
static int
choose_manifests(struct pull *p, const char *data, size_t len,
		 struct ck_err **errp)
{
	struct ck_platform_entry *e;
	size_t n, i, best;
	int rc = 0;

	if (ck_platform_index_parse(data, len, &e, &n, errp) < 0)
		return ck_err_wrap(errp, "image '%s'", p->name);
	if (p->opts->all_platforms)
		rc = choose_all(p, e, n, errp);
	for (i = 0; i < p->n_want && !p->opts->all_platforms; i++) {
		rc = ck_platform_select(&p->want[i], 0, e, n, &best, errp);
		if (rc < 0) {
			no_match_hint(p, errp);
			break;
		}
		add_chosen(p, &e[best]);
	}
	ck_platform_entries_free(e, n);
	return rc;
}

/* Verifies bytes held in memory against their descriptor. */
static int
check_bytes(const char *kind, const struct ck_descriptor *d,
	    const char *data, size_t len, struct ck_err **errp)
{
	char *got = ck_sha256_bytes(data, len);
	int rc = 0;

	if (strcmp(got, d->digest) != 0)
		rc = ck_err_set(errp, 0, "%s '%s' failed verification: its "
				"content hashes to '%s'", kind, d->digest, got);
	else if ((int64_t)len != d->size)
		rc = ck_err_set(errp, 0, "%s '%s' has %zu bytes, but its "
				"descriptor says %lld", kind, d->digest, len,
				(long long)d->size);
	free(got);
	return rc;
}

/* Fetches a chosen platform manifest, unless the store has it. An index
 * entry without a mediaType takes the manifest's own. */
static int
fetch_platform_manifest(struct pull *p, struct chosen *c,
			struct ck_err **errp)
{
	struct ck_registry_manifest rm = { 0 };
	struct ck_descriptor *d = &c->desc;
	char *subject = ck_asprintf("manifest '%s'", d->digest), *mt = NULL;
	int rc = -1;

	if (ck_store_blob_exists(&p->st, d->digest)) {
		ck_log(CK_LOG_INFO, "%s is already in the store", subject);
		rc = ck_store_blob_read(&p->st, d->digest, CK_MANIFEST_MAX,
					&rm.data, &rm.len, errp);
	} else if (ck_registry_get_manifest(p->reg, d->digest, &rm,
					    errp) == 0) {
		rc = 0;
	}
	if (rc == 0)
		rc = check_bytes("manifest", d, rm.data, rm.len, errp);
	if (rc == 0 && classify(subject, &rm, &mt, errp) != CK_KIND_MANIFEST)
		rc = mt ? ck_err_setc(errp, CK_E_INVALID, 0, "%s: a nested "
				      "index is not supported", subject) : -1;
	if (rc == 0)
		rc = ck_store_stage_bytes(&p->st, d->digest, rm.data, rm.len,
					  errp);
	if (rc == 0) {
		c->data = rm.data;
		c->len = rm.len;
		rm.data = NULL;
	}
	if (rc == 0 && d->media_type[0] == '\0') {
		free(d->media_type);
		d->media_type = mt;
		mt = NULL;
	}
	ck_registry_manifest_free(&rm);
	free(subject);
	free(mt);
	return rc;
}

static int
write_memory(void *arg, const void *data, size_t len, struct ck_err **errp)
{
	struct ck_buf *b = arg;

	if (b->len + len > CK_MANIFEST_MAX)
		return ck_err_set(errp, 0, "image config is larger than %d "
				  "bytes", CK_MANIFEST_MAX);
	ck_buf_add(b, data, len);
	return 0;
}

/* Reads a verified copy of the config into cfg from blobs/, or from the
 * ingest, where an earlier pull that failed left it staged. */
static int
read_stored_config(struct pull *p, const struct ck_descriptor *d,
		   struct ck_buf *cfg)
{
	char *staged = ck_asprintf("%s/ingest/%s.staged", p->st.content,
				   ck_digest_hex(d->digest));
	char *data = NULL;
	size_t len;
	int rc;

	rc = ck_store_blob_read(&p->st, d->digest, CK_MANIFEST_MAX, &data,
				&len, NULL);
	if (rc < 0 && ck_read_file(staged, CK_MANIFEST_MAX, &data, &len,
				   NULL) == 0)
		rc = check_bytes("config", d, data, len, NULL);
	if (rc == 0)
		ck_buf_add(cfg, data, len);
	free(data);
	free(staged);
	return rc;
}

/* Loads a config that the fetch staged or found stored. It is fetched
 * again only if a concurrent pull commits it while both reads run. */
static int
load_config(struct pull *p, const struct ck_descriptor *d,
	    struct ck_buf *cfg, struct ck_err **errp)
{
	ck_buf_free(cfg);
	if (read_stored_config(p, d, cfg) == 0 ||
	    read_stored_config(p, d, cfg) == 0)
		return 0;
	ck_buf_free(cfg);
	if (ck_registry_get_blob(p->reg, d->digest, write_memory, cfg,
				 errp) < 0)
		return ck_err_wrap(errp, "config");
	ck_buf_add(cfg, "", 0);
	return check_bytes("config", d, cfg->data, cfg->len, errp);
}

/* Whether any wanted platform runs have. */
static int
wanted(const struct pull *p, const struct ck_platform *have)
{
	size_t i;

	for (i = 0; i < p->n_want; i++)
		if (ck_platform_match(&p->want[i], have, 0))
			return 1;
	return 0;
}

/* Takes the platform of a manifest without an index from its config. */
static void
platform_from_config(struct pull *p, struct chosen *c,
		     const struct ck_buf *cfg)
{
	json_t *j = json_loadb(cfg->data, cfg->len, 0, NULL);
	const char *os = json_string_value(json_object_get(j, "os"));
	const char *arch = json_string_value(json_object_get(j,
							     "architecture"));
	const char *variant = json_string_value(json_object_get(j, "variant"));
	struct ck_platform have;

	if (os != NULL && arch != NULL && *os != '\0' && *arch != '\0')
		c->platform = variant && *variant ?
			ck_asprintf("%s/%s/%s", os, arch, variant) :
			ck_asprintf("%s/%s", os, arch);
	json_decref(j);
	if (c->platform == NULL) {
		ck_log(CK_LOG_WARNING, "image '%s' does not name its platform",
		       p->name);
		return;
	}
	if (ck_platform_parse(c->platform, &have, NULL) == 0) {
		if (!wanted(p, &have)) {
			char *want = ck_platform_format(&p->want[0]);

			ck_log(CK_LOG_WARNING, "image '%s' is for platform "
			       "'%s', not for '%s'", p->name, c->platform,
			       want);
			free(want);
		}
		ck_platform_free(&have);
	}
}

/* The blobs to fetch, each once, and their progress labels. */
struct fetch_list {
	struct ck_blob_job *jobs;
	char **labels;
	size_t n;
};

static int
is_nondistributable(const char *media_type)
{
	return media_type != NULL &&
	       (strstr(media_type, ".foreign.") != NULL ||
		strstr(media_type, ".nondistributable.") != NULL);
}

static void
add_job(struct fetch_list *fl, const struct ck_descriptor *d, char *label)
{
	size_t i;

	for (i = 0; i < fl->n; i++) {
		if (strcmp(fl->jobs[i].desc->digest, d->digest) == 0) {
			free(label);
			return;
		}
	}
	fl->jobs = ck_xrealloc(fl->jobs, (fl->n + 1) * sizeof(*fl->jobs));
	fl->labels = ck_xrealloc(fl->labels, (fl->n + 1) *
				 sizeof(*fl->labels));
	memset(&fl->jobs[fl->n], 0, sizeof(fl->jobs[fl->n]));
	fl->jobs[fl->n].desc = d;
	fl->jobs[fl->n].nondistributable = is_nondistributable(d->media_type);
	fl->labels[fl->n++] = label;
}

/* Lists the config and layers of every chosen manifest. */
static void
list_blobs(const struct pull *p, struct fetch_list *fl)
{
	const struct chosen *c;
	char prefix[24] = "";
	size_t k, i;

	for (k = 0; k < p->n_chosen; k++) {
		c = &p->chosen[k];
		if (p->n_chosen > 1)
			snprintf(prefix, sizeof(prefix), "m%zu ", k + 1);
		add_job(fl, &c->m.config, ck_asprintf("%sconfig", prefix));
		for (i = 0; i < c->m.n_layers; i++)
			add_job(fl, &c->m.layers[i], ck_asprintf(
				"%slayer %zu/%zu", prefix, i + 1,
				c->m.n_layers));
	}
}

static int
is_skipped(const struct pull *p, const char *digest)
{
	size_t i;

	for (i = 0; i < p->n_skipped; i++)
		if (strcmp(p->skipped[i], digest) == 0)
			return 1;
	return 0;
}

/* Logs what each blob's download came to, and keeps the skipped ones. */
static void
note_results(struct pull *p, const struct fetch_list *fl)
{
	const struct ck_blob_job *j;
	size_t i;

	for (i = 0; i < fl->n; i++) {
		j = &fl->jobs[i];
		if (j->state == CK_XFER_DONE)
			ck_log(CK_LOG_INFO, "fetched %s '%s' (%lld bytes)",
			       fl->labels[i], j->desc->digest,
			       (long long)j->desc->size);
		else if (j->state == CK_XFER_EXISTS)
			ck_log(CK_LOG_INFO, "%s '%s' is already in the store",
			       fl->labels[i], j->desc->digest);
		if (j->state != CK_XFER_SKIPPED)
			continue;
		p->skipped = ck_xrealloc(p->skipped, (p->n_skipped + 1) *
					 sizeof(*p->skipped));
		p->skipped[p->n_skipped++] = ck_xstrdup(j->desc->digest);
	}
}

/* A blob found in the store was verified against its digest when it
 * entered. Its size must also match this manifest's descriptor, or the
 * manifest is wrong. */
static int
check_sizes(const struct fetch_list *fl, const struct ck_store *st,
	    struct ck_err **errp)
{
	size_t i;

	for (i = 0; i < fl->n; i++) {
		const struct ck_descriptor *d = fl->jobs[i].desc;
		int64_t have;

		if (fl->jobs[i].state == CK_XFER_SKIPPED)
			continue;
		have = ck_store_blob_size(st, d->digest);
		if (have >= 0 && have != d->size)
			return ck_err_setc(errp, CK_E_INVALID, 0, "%s '%s': "
					   "the manifest says %lld bytes, but "
					   "the blob has %lld",
					   fl->labels[i], d->digest,
					   (long long)d->size,
					   (long long)have);
	}
	return 0;
}

/* An image config must be a JSON object with a rootfs.diff_ids list, or
 * cunpack cannot use the image. cunpack checks the list against the
 * layers it applies: a skipped foreign layer may still be listed. */
static int
check_config(const struct chosen *c, const struct ck_buf *cfg,
	     struct ck_err **errp)
{
	json_t *j = json_loadb(cfg->data, cfg->len, 0, NULL);
	json_t *ids = json_object_get(json_object_get(j, "rootfs"),
				      "diff_ids");
	int ok = json_is_object(j) && json_is_array(ids);

	json_decref(j);
	if (ok)
		return 0;
	return ck_err_setc(errp, CK_E_INVALID, 0, "invalid image config '%s': "
			   "it must be a JSON object with a rootfs.diff_ids "
			   "list", c->m.config.digest);
}

/* Checks each chosen manifest's config, and takes the platform of a
 * manifest that no index describes from it. */
static int
read_platforms(struct pull *p, struct ck_err **errp)
{
	struct ck_buf cfg = { 0 };
	struct chosen *c;
	size_t k;

	for (k = 0; k < p->n_chosen; k++) {
		c = &p->chosen[k];
		/* Attestations (--all-platforms) carry no image config. */
		if (c->platform && ck_has_prefix(c->platform, "unknown/"))
			continue;
		if (c->m.config.size > CK_MANIFEST_MAX)
			return ck_err_setc(errp, CK_E_INVALID, 0, "image config "
					   "'%s' is larger than %d bytes",
					   c->m.config.digest,
					   CK_MANIFEST_MAX);
		if (load_config(p, &c->m.config, &cfg, errp) < 0 ||
		    check_config(c, &cfg, errp) < 0) {
			ck_buf_free(&cfg);
			return -1;
		}
		if (!p->target_is_index)
			platform_from_config(p, c, &cfg);
		ck_buf_free(&cfg);
	}
	return 0;
}

/* Downloads every config and layer, several at once. */
static int
fetch_blobs(struct pull *p, struct ck_err **errp)
{
	struct fetch_list fl = { 0 };
	struct ck_fetch_opts fo = {
		.max_concurrent = p->opts->max_concurrent,
		.skip_nondistributable = p->opts->skip_nondistributable,
	};
	struct progress *pg;
	size_t i;
	int rc;

	list_blobs(p, &fl);
	pg = progress_new(p->opts->progress, (const char *const *)fl.labels,
			  fl.jobs, fl.n);
	if (pg != NULL) {
		fo.progress = progress_update;
		fo.progress_arg = pg;
	}
	rc = ck_registry_fetch_blobs(p->reg, &p->st, fl.jobs, fl.n, &fo, errp);
	progress_free(pg);
	note_results(p, &fl);
	if (rc == 0)
		rc = check_sizes(&fl, &p->st, errp);
	for (i = 0; i < fl.n; i++)
		free(fl.labels[i]);
	free(fl.labels);
	free(fl.jobs);
	if (rc == 0)
		rc = read_platforms(p, errp);
	return rc;
}

/*
 * Commits what fetch staged in three steps, each with one fsync of
 * blobs/: the layers and configs, then the manifests, then the index.
 * So a reader that finds a manifest or index in content/blobs/ finds all
 * it points to.
 */
static int
commit_blobs(struct pull *p, struct ck_err **errp)
{
	const char **list = NULL;
	const struct chosen *c;
	size_t i, k, n = 0;
	int rc;

	for (k = 0; k < p->n_chosen; k++) {
		c = &p->chosen[k];
		list = ck_xrealloc(list, (n + c->m.n_layers + 1) *
				   sizeof(*list));
		for (i = 0; i < c->m.n_layers; i++)
			if (!is_skipped(p, c->m.layers[i].digest))
				list[n++] = c->m.layers[i].digest;
		list[n++] = c->m.config.digest;
	}
	rc = ck_store_commit_all(&p->st, list, n, errp);
	for (k = 0, n = 0; rc == 0 && k < p->n_chosen; k++)
		list[n++] = p->chosen[k].desc.digest;
	if (rc == 0)
		rc = ck_store_commit_all(&p->st, list, n, errp);
	free(list);
	if (rc == 0 && p->target_is_index)
		rc = ck_store_commit(&p->st, p->target.digest, errp);
	return rc;
}

static int
record_image(struct pull *p, struct ck_err **errp)
{
	struct ck_image img = {
		.name = p->name,
		.target = p->target,
		.manifest = p->chosen[0].desc,
		.platform = p->chosen[0].platform,
		.created = ck_now_rfc3339(),
	};
	int rc = ck_image_put(&p->st, &img, errp);

	free(img.created);
	if (rc < 0)
		return ck_err_wrap(errp, "record image '%s' in namespace '%s'",
				   p->name, p->st.ns);
	return 0;
}

/* Adds d's size to *size unless its digest is in seen already. */
static void
count_blob(const struct ck_descriptor *d, const char ***seen, size_t *n,
	   int64_t *size)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp((*seen)[i], d->digest) == 0)
			return;
	*seen = ck_xrealloc(*seen, (*n + 1) * sizeof(**seen));
	(*seen)[(*n)++] = d->digest;
	*size += d->size;
}

/* Bytes of the image's blobs, each distinct digest counted once. */
static int64_t
image_size(const struct pull *p)
{
	const char **seen = NULL;
	int64_t size = 0;
	size_t n = 0, i, k;

	if (p->target_is_index)
		count_blob(&p->target, &seen, &n, &size);
	for (k = 0; k < p->n_chosen; k++) {
		count_blob(&p->chosen[k].desc, &seen, &n, &size);
		count_blob(&p->chosen[k].m.config, &seen, &n, &size);
		for (i = 0; i < p->chosen[k].m.n_layers; i++)
			count_blob(&p->chosen[k].m.layers[i], &seen, &n,
				   &size);
	}
	free(seen);
	return size;
}

static void
fill_result(const struct pull *p, struct pull_result *res)
{
	size_t i;

	res->name = ck_xstrdup(p->name);
	res->digest = ck_xstrdup(p->target.digest);
	res->manifest = ck_xstrdup(p->chosen[0].desc.digest);
	res->platform = p->chosen[0].platform ?
			ck_xstrdup(p->chosen[0].platform) : NULL;
	res->manifests = ck_xcalloc(p->n_chosen, sizeof(*res->manifests));
	for (i = 0; i < p->n_chosen; i++) {
		res->manifests[i].digest = ck_xstrdup(p->chosen[i].desc.digest);
		res->manifests[i].platform = p->chosen[i].platform ?
			ck_xstrdup(p->chosen[i].platform) : NULL;
	}
	res->n_manifests = p->n_chosen;
	res->size = image_size(p);
}

/* Fetches, stages and parses each chosen platform manifest. */
static int
fetch_manifests(struct pull *p, struct ck_err **errp)
{
	struct chosen *c;
	size_t i;

	for (i = 0; i < p->n_chosen; i++) {
		c = &p->chosen[i];
		if (fetch_platform_manifest(p, c, errp) < 0)
			return -1;
		if (ck_manifest_parse(c->data, c->len, &c->m, errp) < 0)
			return ck_err_wrap(errp, "manifest '%s'",
					   c->desc.digest);
	}
	return 0;
}

/* Finds the platform manifests and keeps their bytes in p->chosen. */
static int
resolve_manifests(struct pull *p, struct ck_err **errp)
{
	struct ck_registry_manifest rm = { 0 };
	struct chosen *c;
	int rc = resolve_target(p, &rm, errp);

	if (rc == 0 && p->target_is_index) {
		rc = choose_manifests(p, rm.data, rm.len, errp);
		if (rc == 0)
			rc = fetch_manifests(p, errp);
	} else if (rc == 0) {
		p->chosen = ck_xcalloc(1, sizeof(*p->chosen));
		p->n_chosen = 1;
		c = &p->chosen[0];
		ck_descriptor_copy(&c->desc, &p->target);
		c->data = ck_xmalloc(rm.len + 1);
		memcpy(c->data, rm.data, rm.len + 1);
		c->len = rm.len;
		if (ck_manifest_parse(c->data, c->len, &c->m, errp) < 0)
			rc = ck_err_wrap(errp, "manifest '%s'",
					 c->desc.digest);
	}
	/* Staged only now, so that an index without a usable platform or
	 * an invalid manifest leaves nothing behind. */
	if (rc == 0)
		rc = ck_store_stage_bytes(&p->st, p->target.digest, rm.data,
					  rm.len, errp);
	ck_registry_manifest_free(&rm);
	return rc;
}

int
pull_image(const struct pull_opts *opts, struct pull_result *res,
	   struct ck_err **errp)
{
	struct pull p = { 0 };
	int rc;

	memset(res, 0, sizeof(*res));
	rc = pull_open(&p, opts, errp);
	if (rc == 0)
		rc = resolve_manifests(&p, errp);
	if (rc == 0)
		rc = fetch_blobs(&p, errp);
	if (rc == 0)
		rc = commit_blobs(&p, errp);
	if (rc == 0)
		rc = record_image(&p, errp);
	if (rc == 0)
		fill_result(&p, res);
	pull_close(&p);
	return rc;
}

void
pull_result_free(struct pull_result *res)
{
	size_t i;

	free(res->name);
	free(res->digest);
	free(res->manifest);
	free(res->platform);
	for (i = 0; i < res->n_manifests; i++) {
		free(res->manifests[i].digest);
		free(res->manifests[i].platform);
	}
	free(res->manifests);
	memset(res, 0, sizeof(*res));
}
