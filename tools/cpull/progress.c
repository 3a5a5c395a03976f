/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cpull's progress lines: one line per blob on stderr, redrawn in place at
 * most every 100 ms. cpull enables them only when stderr is a terminal.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pull.h"

#define REDRAW_MS 100

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
format_size(char *buf, size_t n, int64_t bytes)
{
	static const char *units[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(buf, n, "%" PRId64 " B", bytes);
		return;
	}
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(buf, n, "%.1f %s", v, units[u]);
}

static void
draw(const struct progress *pg, const char *state)
{
	char done[32], total[32];

	format_size(done, sizeof(done), pg->done);
	format_size(total, sizeof(total), pg->total);
	/* "sha256:" and 12 hex digits are enough to tell blobs apart. */
	fprintf(stderr, "\r%-10s %.19s %10s / %-10s %s\033[K", pg->label,
		pg->digest, done, total, state ? state : "");
	if (state != NULL)
		fputc('\n', stderr);
	fflush(stderr);
}

void
progress_start(struct progress *pg, int enabled, const char *label,
	       const char *digest, int64_t total)
{
	pg->enabled = enabled;
	pg->label = label;
	pg->digest = digest;
	pg->total = total;
	pg->done = 0;
	pg->last_ms = 0;
	if (pg->enabled)
		draw(pg, NULL);
}

void
progress_update(struct progress *pg, size_t len)
{
	int64_t t;

	pg->done += (int64_t)len;
	if (!pg->enabled)
		return;
	t = now_ms();
	if (t - pg->last_ms < REDRAW_MS)
		return;
	pg->last_ms = t;
	draw(pg, NULL);
}

void
progress_end(struct progress *pg, const char *state)
{
	if (!pg->enabled)
		return;
	/* A blob already in the store counts as complete. */
	if (strcmp(state, "exists") == 0)
		pg->done = pg->total;
	draw(pg, state);
}
