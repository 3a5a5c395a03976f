/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cpull's progress display: one line per blob on stderr with bytes, total
 * and rate, redrawn in place at most every 100 ms while blobs download in
 * parallel. cpull enables it only when stderr is a terminal. An image with
 * more blobs than MAX_LINES gets one summary line instead, so the display
 * never scrolls out of the terminal.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pull.h"
#include "util.h"

#define REDRAW_MS 100
#define MAX_LINES 24

struct line {
	const char *label;
	const char *digest;
	int64_t total;
	int64_t done;
	int64_t resumed;	/* bytes held before this run's transfer */
	int64_t start_ms;	/* first byte of this run, or 0 */
	int64_t end_ms;
	enum ck_xfer_state state;
};

struct progress {
	struct line *lines;
	size_t n;
	int drawn;		/* lines printed so far */
	int64_t last_ms;
	int64_t start_ms;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *
state_word(enum ck_xfer_state s)
{
	switch (s) {
	case CK_XFER_WAITING:
		return "waiting";
	case CK_XFER_ACTIVE:
		return "";
	case CK_XFER_RETRYING:
		return "retrying";
	case CK_XFER_DONE:
		return "done";
	case CK_XFER_EXISTS:
		return "exists";
	case CK_XFER_MOUNTED:
		return "mounted";
	case CK_XFER_SKIPPED:
		return "skipped";
	case CK_XFER_FAILED:
		return "failed";
	}
	return "";
}

/* Bytes per second of this run's transfer into buf, or "" before any. */
static void
format_rate(char *buf, size_t n, int64_t bytes, int64_t start, int64_t end)
{
	char size[32];

	if (start == 0 || end <= start || bytes <= 0) {
		buf[0] = '\0';
		return;
	}
	ck_format_size(size, sizeof(size), bytes * 1000 / (end - start));
	snprintf(buf, n, "%s/s", size);
}

static void
draw_line(const struct line *l, int64_t t)
{
	char done[32], total[32], rate[40];
	int64_t end = l->end_ms ? l->end_ms : t;

	ck_format_size(done, sizeof(done), l->done);
	ck_format_size(total, sizeof(total), l->total);
	format_rate(rate, sizeof(rate), l->done - l->resumed, l->start_ms,
		    end);
	/* "sha256:" and 12 hex digits are enough to tell blobs apart. */
	fprintf(stderr, "\r%-12s %.19s %10s / %-10s %12s %s\033[K\n",
		l->label, l->digest, done, total, rate, state_word(l->state));
}

static void
draw_summary(const struct progress *pg, int64_t t)
{
	int64_t done = 0, total = 0, fresh = 0;
	size_t i, finished = 0;
	char d[32], tot[32], rate[40];

	for (i = 0; i < pg->n; i++) {
		done += pg->lines[i].done;
		total += pg->lines[i].total;
		fresh += pg->lines[i].done - pg->lines[i].resumed;
		finished += pg->lines[i].state >= CK_XFER_DONE;
	}
	ck_format_size(d, sizeof(d), done);
	ck_format_size(tot, sizeof(tot), total);
	format_rate(rate, sizeof(rate), fresh, pg->start_ms, t);
	fprintf(stderr, "\rblobs %zu/%zu %10s / %-10s %12s\033[K\n", finished,
		pg->n, d, tot, rate);
}

static void
draw(struct progress *pg)
{
	int64_t t = now_ms();
	size_t i;

	if (pg->drawn > 0)
		fprintf(stderr, "\033[%dA", pg->drawn);
	if (pg->n > MAX_LINES) {
		draw_summary(pg, t);
		pg->drawn = 1;
	} else {
		for (i = 0; i < pg->n; i++)
			draw_line(&pg->lines[i], t);
		pg->drawn = (int)pg->n;
	}
	fflush(stderr);
	pg->last_ms = t;
}

struct progress *
progress_new(int enabled, const char *const *labels,
	     const struct ck_blob_job *jobs, size_t n)
{
	struct progress *pg;
	size_t i;

	if (!enabled || n == 0)
		return NULL;
	pg = ck_xcalloc(1, sizeof(*pg));
	pg->lines = ck_xcalloc(n, sizeof(*pg->lines));
	pg->n = n;
	pg->start_ms = now_ms();
	for (i = 0; i < n; i++) {
		pg->lines[i].label = labels[i];
		pg->lines[i].digest = jobs[i].desc->digest;
		pg->lines[i].total = jobs[i].desc->size;
	}
	draw(pg);
	return pg;
}

void
progress_update(void *arg, const struct ck_xfer *x)
{
	struct progress *pg = arg;
	struct line *l;
	int64_t t;

	if (pg == NULL || x->index >= pg->n)
		return;
	l = &pg->lines[x->index];
	t = now_ms();
	if (x->state == CK_XFER_ACTIVE && l->start_ms == 0) {
		l->start_ms = t;
		l->resumed = x->resumed;
	}
	if (x->state >= CK_XFER_DONE && l->end_ms == 0)
		l->end_ms = t;
	l->done = x->done;
	l->state = x->state;
	if (x->state == CK_XFER_ACTIVE && t - pg->last_ms < REDRAW_MS)
		return;
	draw(pg);
}

void
progress_free(struct progress *pg)
{
	if (pg == NULL)
		return;
	draw(pg);
	free(pg->lines);
	free(pg);
}
