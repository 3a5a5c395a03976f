/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blob downloads into the store's ingest, several at once. Each worker
 * thread has its own libcurl handle and hashes the bytes as they stream
 * to disk, so memory does not grow with the blob. A download that breaks
 * resumes with "Range: bytes=<n>-", where n is the size of the partial
 * file. Only a 206 whose Content-Range starts at n is appended, and any
 * other response starts the blob over. The digest check at close covers
 * every byte, so a wrong byte from any attempt fails the blob instead of
 * staging it. A verified blob goes to a closing thread, which fsyncs and
 * stages it while its worker starts the next download.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest.h"
#include "registry_int.h"

#define PROGRESS_INTERVAL_MS 100

/* A verified blob waiting for its fsync and its move to .staged. */
struct closing {
	struct ck_ingest *in;
	struct ck_blob_job *job;
	struct ck_xfer x;
	struct closing *next;
};

struct fetch {
	struct ck_registry *reg;
	const struct ck_store *st;
	struct ck_blob_job *jobs;
	size_t n;
	const struct ck_fetch_opts *opts;
	pthread_mutex_t lock;		/* next, failed, err */
	pthread_mutex_t progress_lock;	/* one progress call at a time */
	size_t next;
	int failed;
	struct ck_err *err;
	/* The closing thread's queue, under lock. */
	pthread_cond_t closing_cv;	/* a blob was queued, or the end */
	pthread_cond_t closing_room;	/* a blob left the queue */
	struct closing *closing_head, **closing_tail;
	size_t n_closing, max_closing;	/* queued, and the most queued */
	int closer_running;	/* the closing thread was started */
	int workers_done;	/* no more blobs will be queued */
};

/* One blob's download. */
struct download {
	struct fetch *f;
	struct ck_blob_job *job;
	struct ck_ingest *in;
	struct ck_xfer x;
	int64_t high;		/* most bytes held at any time */
	int64_t last_ms;
	int restart;		/* the range the registry sent was wrong */
	int sink_failed;	/* writing to the ingest failed */
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
report(struct download *d, enum ck_xfer_state state, int force)
{
	const struct ck_fetch_opts *o = d->f->opts;
	int64_t t;

	d->x.state = state;
	if (o == NULL || o->progress == NULL)
		return;
	t = now_ms();
	if (!force && t - d->last_ms < PROGRESS_INTERVAL_MS)
		return;
	d->last_ms = t;
	pthread_mutex_lock(&d->f->progress_lock);
	o->progress(o->progress_arg, &d->x);
	pthread_mutex_unlock(&d->f->progress_lock);
}

/* "bytes <start>-<end>/<size>" → start, or -1. */
static int64_t
range_start(const char *content_range)
{
	const char *p;
	char *end;
	long long v;

	if (content_range == NULL || !ck_has_prefix(content_range, "bytes "))
		return -1;
	p = content_range + 6;
	errno = 0;
	v = strtoll(p, &end, 10);
	if (errno != 0 || end == p || *end != '-' || v < 0)
		return -1;
	return v;
}

static int
restart_from_zero(struct download *d, struct ck_err **errp)
{
	if (ck_ingest_reset(d->in, errp) < 0)
		return -1;
	d->x.done = 0;
	d->x.resumed = 0;
	return 0;
}

/* Runs before the first byte of a 2xx body: a 206 must continue exactly
 * where the ingest ends, and a 200 replaces what it holds. */
static int
sink_begin(void *arg, long status, const char *content_range,
	   struct ck_err **errp)
{
	struct download *d = arg;
	int64_t held = ck_ingest_written(d->in), start;

	if (status == 206) {
		start = range_start(content_range);
		if (held > 0 && start == held)
			return 0;
		/* fetch_at starts the blob over after this. */
		d->restart = 1;
		return ck_err_set(errp, 0, "registry sent a range starting at "
				  "%" PRId64 " for blob '%s', which holds "
				  "%" PRId64 " bytes", start, d->x.digest,
				  held);
	}
	if (held > 0 && restart_from_zero(d, errp) < 0) {
		d->sink_failed = 1;
		return -1;
	}
	return 0;
}

static int
sink_write(void *arg, const void *data, size_t len, struct ck_err **errp)
{
	struct download *d = arg;

	if (ck_ingest_write(d->in, data, len, errp) < 0) {
		d->sink_failed = 1;
		return -1;
	}
	d->x.done += (int64_t)len;
	if (d->x.done > d->high)
		d->high = d->x.done;
	report(d, CK_XFER_ACTIVE, 0);
	return 0;
}

static char *
range_header(int64_t from)
{
	return ck_asprintf("Range: bytes=%" PRId64 "-", from);
}

/* Sends one GET of the blob from the bytes held, at endpoint ep. */
static int
attempt(struct download *d, struct reg_conn *c, struct reg_endpoint *ep,
	struct reg_response *r, struct ck_err **errp)
{
	struct ck_registry *reg = d->f->reg;
	char *path = ck_asprintf("blobs/%s", d->x.digest), *range = NULL;
	struct reg_sink sink = {
		.begin = sink_begin, .write = sink_write, .arg = d,
	};
	struct reg_request rq = {
		.method = "GET", .ep = ep, .scope = reg->pull_scope,
		.follow = 1, .sink = &sink,
	};
	int64_t held = ck_ingest_written(d->in);
	int rc;

	rq.url = reg_url(reg, ep, path);
	if (held > 0) {
		range = range_header(held);
		rq.headers = curl_slist_append(NULL, range);
		ck_log(CK_LOG_INFO, "resuming blob '%s' at byte %" PRId64,
		       d->x.digest, held);
	}
	r->began = 0;
	r->received = 0;
	d->restart = 0;
	rc = reg_exchange(reg, c, &rq, r, errp);
	curl_slist_free_all(rq.headers);
	free(range);
	free(rq.url);
	free(path);
	return rc;
}

/* Whether the bytes held make up the whole blob. */
static int
complete(const struct download *d)
{
	return d->job->desc->size < 0 ||
	       ck_ingest_written(d->in) >= d->job->desc->size;
}

/* Names a blob that stayed incomplete, with the last failure if any. */
static void
incomplete_error(const struct download *d, struct ck_err **errp)
{
	if (errp != NULL && *errp != NULL)
		ck_err_wrap(errp, "blob '%s' is truncated: got %" PRId64
			    " of %" PRId64 " bytes", d->x.digest,
			    ck_ingest_written(d->in), d->job->desc->size);
	else
		ck_err_set(errp, 0, "blob '%s' is truncated: got %" PRId64
			   " of %" PRId64 " bytes", d->x.digest,
			   ck_ingest_written(d->in), d->job->desc->size);
}

enum outcome {
	OUT_DONE,	/* the ingest holds the whole blob */
	OUT_MISSING,	/* 404 at this host */
	OUT_FAILED,	/* *errp set; try the next host */
	OUT_FATAL,	/* *errp set; no other host helps */
};

static enum outcome
status_outcome(struct download *d, struct reg_endpoint *ep,
	       const struct reg_response *r, struct ck_err **errp)
{
	char *subject = ck_asprintf("blob '%s'", d->x.digest);
	enum outcome out = r->status == 404 ? OUT_MISSING : OUT_FAILED;

	reg_status_error(d->f->reg, ep, r, subject, NULL, errp);
	free(subject);
	return out;
}

/*
 * Downloads from one host until the ingest contains the whole blob. Bytes
 * beyond the most ever held reset the attempt count, so a connection that
 * keeps breaking still finishes a large blob; a restart at byte 0 counts
 * as progress only past that mark.
 */
static enum outcome
fetch_at(struct download *d, struct reg_conn *c, struct reg_endpoint *ep,
	 struct ck_err **errp)
{
	struct ck_registry *reg = d->f->reg;
	struct reg_response r = { 0 };
	enum outcome out = OUT_FAILED;
	int tries = 0, rc;
	int64_t before;
	long delay;

	for (;;) {
		before = d->high;
		ck_err_free(errp);
		rc = attempt(d, c, ep, &r, errp);
		if (rc == 0 && (r.status == 200 || r.status == 206) &&
		    complete(d)) {
			out = OUT_DONE;
			break;
		}
		if (rc == 0 && r.status == 404) {
			out = status_outcome(d, ep, &r, errp);
			break;
		}
		if (rc == 0 && r.status == 416) {
			rc = restart_from_zero(d, errp);
			if (rc < 0) {
				out = OUT_FATAL;
				break;
			}
		} else if (rc == -1 && !d->restart) {
			out = d->sink_failed ? OUT_FATAL : OUT_FAILED;
			break;
		} else if (rc == 0 && r.status != 200 && r.status != 206 &&
			   !reg_should_retry(reg, tries + 1, 0, &r, &delay)) {
			out = status_outcome(d, ep, &r, errp);
			break;
		}
		if (d->restart && restart_from_zero(d, errp) < 0) {
			out = OUT_FATAL;
			break;
		}
		if (d->high > before) {
			tries = 0;
		} else if (++tries >= reg->max_attempts) {
			if (!complete(d))
				incomplete_error(d, errp);
			break;
		}
		if (!reg_should_retry(reg, tries + 1, rc == 0 ? 0 :
				      REG_TRANSIENT, &r, &delay))
			delay = reg->retry_delay_ms;
		if (d->high > before)
			delay = reg->retry_delay_ms / 2;
		report(d, CK_XFER_RETRYING, 1);
		ck_log(CK_LOG_INFO, "blob '%s': %s; retrying in %ld ms",
		       d->x.digest, errp && *errp ? (*errp)->msg :
		       "incomplete transfer", delay);
		reg_sleep_ms(delay);
	}
	reg_response_free(&r);
	return out;
}

/* Tries the hosts that may pull, in order. The bytes held carry over
 * from one host to the next, since a digest names the same bytes
 * everywhere. */
static enum outcome
fetch_any(struct download *d, struct reg_conn *c, struct ck_err **errp)
{
	struct ck_registry *reg = d->f->reg;
	enum outcome out = OUT_FAILED, first = OUT_MISSING;
	struct ck_err *first_err = NULL;
	size_t i;

	for (i = 0; i < reg->n_hosts; i++) {
		if (!(reg->hosts[i].caps & CK_HOST_PULL))
			continue;
		out = fetch_at(d, c, &reg->eps[i], errp);
		if (out == OUT_DONE || out == OUT_FATAL)
			break;
		if (reg->n_hosts > 1 && errp && *errp)
			ck_log(CK_LOG_INFO, "host '%s' failed: %s",
			       reg->hosts[i].host, (*errp)->msg);
		if (first_err == NULL && out != OUT_MISSING && errp) {
			first_err = *errp;
			*errp = NULL;
			first = out;
		}
	}
	if (out != OUT_DONE && out != OUT_FATAL && first_err != NULL) {
		ck_err_free(errp);
		*errp = first_err;
		return first;
	}
	ck_err_free(&first_err);
	return out;
}

static int
skip_nondistributable(struct download *d, struct ck_err **errp)
{
	if (!d->f->opts || !d->f->opts->skip_nondistributable)
		return ck_err_wrap(errp, "non-distributable layer '%s' is "
				   "not at the registry, only at the URLs in "
				   "its descriptor; pass "
				   "--skip-nondistributable to skip it",
				   d->x.digest);
	ck_log(CK_LOG_WARNING, "skipping non-distributable layer '%s', "
	       "which the registry does not have", d->x.digest);
	ck_err_free(errp);
	ck_ingest_abort(d->in);
	d->in = NULL;
	d->job->state = CK_XFER_SKIPPED;
	report(d, CK_XFER_SKIPPED, 1);
	return 0;
}

/* Closes the ingest, which verifies and stages the blob. When bytes from
 * an earlier run were part of it and it fails, the blob is fetched once
 * more from byte 0. */
static int
finish(struct download *d, struct reg_conn *c, struct ck_err **errp)
{
	int ready, rc, resumed = d->x.resumed > 0;

	if (ck_ingest_verify(d->in, errp) == 0)
		return 0;
	d->in = NULL;
	if (!resumed)
		return -1;
	ck_log(CK_LOG_WARNING, "%s, with bytes kept from an earlier "
	       "download; fetching it again from the start", (*errp)->msg);
	ck_err_free(errp);
	d->in = ck_ingest_open(d->f->st, d->x.digest, d->job->desc->size,
			       &ready, errp);
	if (d->in == NULL)
		return ready ? 0 : -1;
	d->x.done = d->x.resumed = d->high = 0;
	if (fetch_any(d, c, errp) != OUT_DONE)
		return -1;
	rc = ck_ingest_verify(d->in, errp);
	if (rc < 0)
		d->in = NULL;
	return rc;
}

/* Marks the blob fetched, once it is staged. */
static int
stage_done(struct download *d)
{
	d->job->state = CK_XFER_DONE;
	ck_log(CK_LOG_INFO, "fetched blob '%s' (%" PRId64 " bytes)",
	       d->job->desc->digest, d->job->desc->size);
	report(d, CK_XFER_DONE, 1);
	return 0;
}

/* Hands the verified blob to the closing thread, or stages it here when
 * that thread did not start. */
static int
queue_close(struct download *d, struct ck_err **errp)
{
	struct fetch *f = d->f;
	struct closing *item;
	int rc;

	if (!f->closer_running) {
		rc = ck_ingest_close(d->in, errp);
		d->in = NULL;
		return rc < 0 ? -1 : stage_done(d);
	}
	item = ck_xcalloc(1, sizeof(*item));
	item->in = d->in;
	item->job = d->job;
	item->x = d->x;
	d->in = NULL;
	pthread_mutex_lock(&f->lock);
	/* Each queued blob keeps its descriptor and lock, so a worker
	 * waits while the queue is full. */
	while (f->n_closing >= f->max_closing)
		pthread_cond_wait(&f->closing_room, &f->lock);
	*f->closing_tail = item;
	f->closing_tail = &item->next;
	f->n_closing++;
	pthread_cond_signal(&f->closing_cv);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static void record_failure(struct fetch *f, struct download *d,
			   struct ck_err *e);

/* The closing thread: fsyncs and stages each queued blob in turn, until
 * the workers are done and the queue is empty. */
static void *
closer(void *arg)
{
	struct fetch *f = arg;
	struct ck_err *e = NULL;
	struct download d;
	struct closing *item;

	for (;;) {
		pthread_mutex_lock(&f->lock);
		while (f->closing_head == NULL && !f->workers_done)
			pthread_cond_wait(&f->closing_cv, &f->lock);
		item = f->closing_head;
		pthread_mutex_unlock(&f->lock);
		if (item == NULL)
			break;
		memset(&d, 0, sizeof(d));
		d.f = f;
		d.job = item->job;
		d.x = item->x;
		if (ck_ingest_close(item->in, &e) < 0)
			record_failure(f, &d, e);
		else
			stage_done(&d);
		e = NULL;
		/* The blob leaves the queue once its descriptor is closed. */
		pthread_mutex_lock(&f->lock);
		f->closing_head = item->next;
		if (f->closing_head == NULL)
			f->closing_tail = &f->closing_head;
		f->n_closing--;
		pthread_cond_signal(&f->closing_room);
		pthread_mutex_unlock(&f->lock);
		free(item);
	}
	return NULL;
}

static int
download(struct download *d, struct reg_conn *c, struct ck_err **errp)
{
	const struct ck_descriptor *desc = d->job->desc;
	enum outcome out;
	int ready;

	d->in = ck_ingest_open_resume(d->f->st, desc->digest, desc->size,
				      &ready, errp);
	if (d->in == NULL && ready) {
		d->x.done = desc->size;
		d->job->state = CK_XFER_EXISTS;
		report(d, CK_XFER_EXISTS, 1);
		return 0;
	}
	if (d->in == NULL)
		return -1;
	d->x.done = d->x.resumed = d->high = ck_ingest_written(d->in);
	report(d, CK_XFER_ACTIVE, 1);
	/* A partial file with every byte, left by a writer killed before
	 * it staged the blob, needs no request, because the digest check
	 * decides. docker-registry answers a Range request from its end
	 * with a malformed 416. */
	if (d->x.resumed > 0 && d->x.resumed == desc->size)
		out = OUT_DONE;
	else
		out = fetch_any(d, c, errp);
	if (out == OUT_MISSING && d->job->nondistributable)
		return skip_nondistributable(d, errp);
	if (out != OUT_DONE) {
		ck_ingest_suspend(d->in);
		d->in = NULL;
		return -1;
	}
	if (finish(d, c, errp) < 0) {
		/* finish leaves d->in open only after a failed fetch. */
		ck_ingest_suspend(d->in);
		d->in = NULL;
		return -1;
	}
	/* A blob that finish found stored meanwhile has no ingest. */
	if (d->in == NULL)
		return stage_done(d);
	return queue_close(d, errp);
}

static void
record_failure(struct fetch *f, struct download *d, struct ck_err *e)
{
	pthread_mutex_lock(&f->lock);
	if (!f->failed) {
		f->failed = 1;
		f->err = e;
		e = NULL;
	}
	pthread_mutex_unlock(&f->lock);
	ck_err_free(&e);
	d->job->state = CK_XFER_FAILED;
	report(d, CK_XFER_FAILED, 1);
}

static void *
worker(void *arg)
{
	struct fetch *f = arg;
	struct reg_conn c = { 0 };
	struct ck_err *e = NULL;
	struct download d;
	size_t i;

	if (reg_conn_init(&c, &e) < 0) {
		pthread_mutex_lock(&f->lock);
		if (!f->failed) {
			f->failed = 1;
			f->err = e;
		} else {
			ck_err_free(&e);
		}
		pthread_mutex_unlock(&f->lock);
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&f->lock);
		i = f->failed ? f->n : f->next++;
		pthread_mutex_unlock(&f->lock);
		if (i >= f->n)
			break;
		memset(&d, 0, sizeof(d));
		d.f = f;
		d.job = &f->jobs[i];
		d.x.index = i;
		d.x.digest = d.job->desc->digest;
		d.x.total = d.job->desc->size;
		if (download(&d, &c, &e) < 0)
			record_failure(f, &d, e);
		e = NULL;
	}
	reg_conn_cleanup(&c);
	return NULL;
}

static int
check_jobs(struct ck_blob_job *jobs, size_t n, struct ck_err **errp)
{
	size_t i;

	for (i = 0; i < n; i++) {
		jobs[i].state = CK_XFER_WAITING;
		if (ck_digest_check(jobs[i].desc->digest, errp) < 0)
			return -1;
	}
	return 0;
}

int
ck_registry_fetch_blobs(struct ck_registry *reg, const struct ck_store *st,
			struct ck_blob_job *jobs, size_t n,
			const struct ck_fetch_opts *opts, struct ck_err **errp)
{
	struct fetch f = {
		.reg = reg, .st = st, .jobs = jobs, .n = n, .opts = opts,
	};
	size_t want = opts && opts->max_concurrent > 0 ?
		      (size_t)opts->max_concurrent : CK_REGISTRY_CONCURRENCY;
	pthread_t *threads, closing;
	size_t i, started = 0;
	int rc;

	if (check_jobs(jobs, n, errp) < 0)
		return -1;
	if (want > n)
		want = n;
	pthread_mutex_init(&f.lock, NULL);
	pthread_mutex_init(&f.progress_lock, NULL);
	pthread_cond_init(&f.closing_cv, NULL);
	pthread_cond_init(&f.closing_room, NULL);
	f.closing_tail = &f.closing_head;
	/* Two queued blobs overlap a fsync with the next downloads. More
	 * would only keep descriptors open while the disk is the limit. */
	f.max_closing = 2;
	rc = pthread_create(&closing, NULL, closer, &f);
	if (rc == 0)
		f.closer_running = 1;
	else
		ck_log(CK_LOG_WARNING, "cannot start the thread that stages "
		       "blobs: %s", strerror(rc));
	threads = ck_xcalloc(want ? want : 1, sizeof(*threads));
	for (i = 0; i < want; i++) {
		rc = pthread_create(&threads[i], NULL, worker, &f);
		if (rc != 0) {
			ck_log(CK_LOG_WARNING, "cannot start download thread: "
			       "%s", strerror(rc));
			break;
		}
		started++;
	}
	/* Without any thread, the downloads run here. */
	if (started == 0 && n > 0)
		worker(&f);
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	if (f.closer_running) {
		pthread_mutex_lock(&f.lock);
		f.workers_done = 1;
		pthread_cond_signal(&f.closing_cv);
		pthread_mutex_unlock(&f.lock);
		pthread_join(closing, NULL);
	}
	pthread_cond_destroy(&f.closing_cv);
	pthread_cond_destroy(&f.closing_room);
	pthread_mutex_destroy(&f.lock);
	pthread_mutex_destroy(&f.progress_lock);
	if (f.failed) {
		ck_err_free(errp);
		if (errp != NULL)
			*errp = f.err;
		else
			ck_err_free(&f.err);
		return -1;
	}
	return 0;
}
