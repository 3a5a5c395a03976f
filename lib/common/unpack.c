/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image unpacking. Layers are applied into "extract-" snapshots, locked
 * by their writer, which are then committed under the chain IDs of their
 * top layers. Each layer gets its own snapshot unless the unpack is
 * flattened, which puts all the layers not yet unpacked into one
 * snapshot. Layers up to the deepest chain ID already committed are
 * skipped. A killed unpack leaves only unlocked extract snapshots, which
 * the next unpack removes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "digest.h"
#include "layers.h"
#include "manifest.h"
#include "unpack.h"
#include "util.h"

/* Applies layer i of l into dir, the fs dir of an active snapshot whose
 * parents' dirs are lowers. */
static int
apply_layer(const struct ck_store *st, const struct ck_snapshotter *sn,
	    const struct ck_layers *l, size_t i, const char *dir,
	    char *const *lowers, struct ck_err **errp)
{
	const struct ck_descriptor *layer = &l->m.layers[i];
	struct ck_apply_opts opts = { 0 };
	char *blob;
	int rc;

	if (ck_layer_compression(layer->media_type) == CK_COMP_UNKNOWN)
		return ck_err_setc(errp, CK_E_INVALID, 0,
				   "unsupported layer media type '%s'",
				   layer->media_type);
	if (!ck_store_blob_exists(st, layer->digest))
		return ck_err_setc(errp, CK_E_NOTFOUND, 0, "blob is not in "
				   "the store; pull the image again");
	blob = ck_store_blob_path(st, layer->digest);
	opts.mode = sn->type == CK_SN_OVERLAY ? CK_APPLY_OVERLAY :
		CK_APPLY_PLAIN;
	opts.lowers = lowers;
	opts.digest = layer->digest;
	opts.diff_id = l->diff_ids[i];
	rc = ck_apply_layer(blob, dir, &opts, NULL, errp);
	free(blob);
	return rc;
}

/* Flushes the filesystem of dir. A snapshot's layers must be on disk
 * before it is committed, or a crash could leave a committed, incomplete
 * layer. */
static int
sync_dir(const char *dir, struct ck_err **errp)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0 || syncfs(fd) < 0)
		rc = ck_err_set(errp, errno, "sync '%s'", dir);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* While layers are applied, a thread flushes the snapshot's filesystem
 * every FLUSH_MS, so that the disk writes while the applier works and
 * the final sync has little left to write. */
#define FLUSH_MS 50

struct flusher {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int fd;
	int stop;
	int running;
};

static void *
flush_loop(void *arg)
{
	struct flusher *f = arg;
	struct timespec t;

	pthread_mutex_lock(&f->lock);
	while (!f->stop) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		t.tv_nsec += FLUSH_MS * 1000000L;
		if (t.tv_nsec >= 1000000000L) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000L;
		}
		if (pthread_cond_timedwait(&f->cond, &f->lock, &t) !=
		    ETIMEDOUT || f->stop)
			continue;
		pthread_mutex_unlock(&f->lock);
		syncfs(f->fd);
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* Starts flushing the filesystem of dir. If the thread cannot start,
 * the final sync still writes everything. */
static void
flusher_start(struct flusher *f, const char *dir)
{
	pthread_condattr_t attr;
	sigset_t all, saved;

	memset(f, 0, sizeof(*f));
	f->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->fd < 0)
		return;
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cond, &attr);
	pthread_condattr_destroy(&attr);
	/* Signals stay with the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	f->running = pthread_create(&f->thread, NULL, flush_loop, f) == 0;
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
}

static void
flusher_stop(struct flusher *f)
{
	if (f->running) {
		pthread_mutex_lock(&f->lock);
		f->stop = 1;
		pthread_cond_signal(&f->cond);
		pthread_mutex_unlock(&f->lock);
		pthread_join(f->thread, NULL);
	}
	if (f->fd >= 0) {
		pthread_cond_destroy(&f->cond);
		pthread_mutex_destroy(&f->lock);
		close(f->fd);
	}
	f->running = 0;
	f->fd = -1;
}

/* Applies the layers of l with indexes first to end - 1, in order, into
 * the active snapshot key. With sync set, flushes the filesystem while
 * it works and syncs it once at the end. */
static int
fill_snapshot(const struct ck_store *st, const struct ck_snapshotter *sn,
	      const char *key, const struct ck_layers *l, size_t first,
	      size_t end, int sync, ck_unpack_progress_fn progress, void *arg,
	      struct ck_err **errp)
{
	struct ck_snapshot s;
	struct flusher flush;
	char **lowers, *dir;
	size_t i;
	int rc = 0;

	if (ck_sn_stat(sn, key, &s, errp) < 0)
		return -1;
	lowers = ck_sn_lowers(sn, key, errp);
	if (lowers == NULL) {
		ck_snapshot_free(&s);
		return -1;
	}
	dir = ck_sn_fs_dir(sn, &s);
	if (sync)
		flusher_start(&flush, dir);
	for (i = first; rc == 0 && i < end; i++) {
		if (progress)
			progress(i, l->n, l->m.layers[i].digest, arg);
		rc = apply_layer(st, sn, l, i, dir, lowers, errp);
		if (rc < 0)
			ck_err_wrap(errp, "layer %zu '%s'", i + 1,
				    l->m.layers[i].digest);
	}
	if (sync)
		flusher_stop(&flush);
	if (rc == 0 && sync)
		rc = sync_dir(dir, errp);
	free(dir);
	ck_strv_free(lowers);
	ck_snapshot_free(&s);
	return rc;
}

/*
 * Applies the layers of l with indexes first to end - 1 into one
 * "extract-" snapshot on the snapshot of layer first - 1, and commits it
 * under the chain ID of layer end - 1. Layers first to end - 2 get no
 * snapshot of their own.
 */
static int
unpack_layers(const struct ck_store *st, const struct ck_snapshotter *sn,
	      const struct ck_layers *l, size_t first, size_t end,
	      ck_unpack_progress_fn progress, void *arg, struct ck_err **errp)
{
	const char *name = l->chain[end - 1];
	char *rnd = ck_random_hex(4);
	char *key = ck_asprintf("extract-%d-%s %s", (int)getpid(), rnd, name);
	int lock = -1, rc;

	free(rnd);
	rc = ck_sn_prepare(sn, key, first ? l->chain[first - 1] : NULL,
			   CK_SNAP_ACTIVE, &lock, errp);
	if (rc == 0) {
		rc = fill_snapshot(st, sn, key, l, first, end, !sn->no_sync,
				   progress, arg, errp);
		if (rc == 0)
			rc = ck_sn_commit_layers(sn, name, key,
						 l->diff_ids + first,
						 end - first, errp);
		else
			ck_sn_remove(sn, key, NULL);
	}
	ck_unlock(lock);
	free(key);
	return rc;
}

/*
 * The btrfs form of unpack_chain. Every layer is applied in one writable
 * subvolume, the one committed last, and each finished layer below it is
 * frozen as a read-only snapshot. So each layer costs one snapshot
 * instead of a snapshot and a change to read-only, each of which commits
 * a btrfs transaction. All records go in with one sync at the end.
 */
static int
unpack_rolling(const struct ck_store *st, const struct ck_snapshotter *sn,
	       const struct ck_layers *l, size_t first, size_t end,
	       ck_unpack_progress_fn progress, void *arg,
	       struct ck_err **errp)
{
	size_t n = end - first, top = n - 1, frozen = 0, done = 0, i;
	char **keys = ck_xcalloc(n, sizeof(*keys));
	int *locks = ck_xcalloc(n, sizeof(*locks));
	char *rnd = ck_random_hex(4);
	struct flusher flush;
	struct ck_err *err = NULL;
	int rc = 0, filled = 0;

	for (i = 0; i < n; i++) {
		keys[i] = ck_asprintf("extract-%d-%s %s", (int)getpid(), rnd,
				      l->chain[first + i]);
		locks[i] = -1;
	}
	if (ck_sn_prepare(sn, keys[top], first ? l->chain[first - 1] : NULL,
			  CK_SNAP_ACTIVE, &locks[top], &err) < 0)
		goto out;
	if (!sn->no_sync)
		flusher_start(&flush, sn->dir);
	for (i = 0; i < n; i++) {
		if (fill_snapshot(st, sn, keys[top], l, first + i,
				  first + i + 1, 0, progress, arg, &err) < 0)
			break;
		if (i == top) {
			filled = 1;
			break;
		}
		if (ck_sn_freeze(sn, keys[top], keys[i], &locks[i], &err) < 0)
			break;
		frozen = i + 1;
	}
	if (!sn->no_sync)
		flusher_stop(&flush);
	/* The working subvolume contains a whole layer above the frozen
	 * ones only when every layer was applied. */
	done = ck_sn_commit_chain(sn, l->chain + first, keys,
				  l->diff_ids + first, filled ? n : frozen,
				  err ? NULL : &err);
	for (i = 0; i < done; i++) {
		ck_unlock(locks[i]);
		locks[i] = -1;
	}
	/* Removes what was not committed, the working subvolume first. */
	if (done < n) {
		ck_sn_remove(sn, keys[top], NULL);
		for (i = frozen; i-- > done;)
			ck_sn_remove(sn, keys[i], NULL);
	}
out:
	for (i = 0; i < n; i++) {
		ck_unlock(locks[i]);
		free(keys[i]);
	}
	rc = ck_err_pass(errp, err);
	free(locks);
	free(keys);
	free(rnd);
	return rc;
}

/*
 * Applies the layers of l with indexes first to end - 1, each into an
 * "extract-" snapshot on the one before. Then syncs once and commits them
 * in order under their chain IDs, so a deep image costs one sync instead
 * of one per layer. Each child is pointed at its parent's chain ID before
 * the parent is committed. So a parent whose chain ID another unpack
 * committed first can be dropped. After a failed layer, the layers before
 * it are still committed.
 */
static int
unpack_chain(const struct ck_store *st, const struct ck_snapshotter *sn,
	     const struct ck_layers *l, size_t first, size_t end,
	     ck_unpack_progress_fn progress, void *arg, struct ck_err **errp)
{
	size_t n = end - first, prepared = 0, applied = 0, i;
	char **keys = ck_xcalloc(n, sizeof(*keys));
	int *locks = ck_xcalloc(n, sizeof(*locks));
	char *rnd = ck_random_hex(4);
	struct flusher flush;
	struct ck_err *err = NULL;
	int rc = 0;

	if (!sn->no_sync)
		flusher_start(&flush, sn->dir);
	for (i = 0; i < n; i++) {
		size_t at = first + i;
		const char *parent = i ? keys[i - 1] :
			first ? l->chain[first - 1] : NULL;

		keys[i] = ck_asprintf("extract-%d-%s %s", (int)getpid(), rnd,
				      l->chain[at]);
		locks[i] = -1;
		if (ck_sn_prepare(sn, keys[i], parent, CK_SNAP_ACTIVE,
				  &locks[i], &err) < 0)
			break;
		prepared = i + 1;
		if (fill_snapshot(st, sn, keys[i], l, at, at + 1, 0, progress,
				  arg, &err) < 0)
			break;
		applied = i + 1;
	}
	if (!sn->no_sync) {
		flusher_stop(&flush);
		if (applied > 0 && sync_dir(sn->dir, err ? NULL : &err) < 0)
			applied = 0;
	}
	for (i = 0; i < applied; i++) {
		size_t at = first + i;
		int child = i + 1 < prepared;

		/* A child that cannot be pointed at its parent's chain ID
		 * ends the commits after that parent. */
		if (child && ck_sn_set_parent(sn, keys[i + 1], l->chain[at],
					      err ? NULL : &err) < 0)
			applied = i + 1;
		if (ck_sn_commit_layers(sn, l->chain[at], keys[i],
					l->diff_ids + at, 1,
					err ? NULL : &err) < 0)
			break;
		ck_unlock(locks[i]);
		free(keys[i]);
		keys[i] = NULL;
	}
	/* Removes what was not committed, children first. */
	for (i = n; i-- > 0;) {
		if (keys[i] != NULL && i < prepared) {
			ck_sn_remove(sn, keys[i], NULL);
			ck_unlock(locks[i]);
		}
		free(keys[i]);
	}
	rc = ck_err_pass(errp, err);
	free(locks);
	free(keys);
	free(rnd);
	return rc;
}

/* Returns how many layers one unpack_chain may stack, at most 64. Each
 * stacked layer keeps a descriptor for its fill lock until the commits,
 * so a deep image goes in parts that fit the open-file limit. */
static size_t
chain_length(void)
{
	struct rlimit r;
	size_t spare;

	if (getrlimit(RLIMIT_NOFILE, &r) < 0 || r.rlim_cur == RLIM_INFINITY)
		return 64;
	/* The applier and the flusher need descriptors of their own. */
	spare = r.rlim_cur > 64 ? (size_t)(r.rlim_cur - 32) / 2 : 4;
	return spare < 64 ? spare : 64;
}

/* Returns the number of leading layers of l that need no unpacking, up to
 * the deepest one whose chain ID has a snapshot, or -1 when a record
 * cannot be read. A lower chain ID may have none, because a flattened
 * unpack commits only its top one. */
static ssize_t
count_unpacked(const struct ck_snapshotter *sn, const struct ck_layers *l,
	       struct ck_err **errp)
{
	size_t i;
	int rc = 0;

	for (i = l->n; i > 0; i--) {
		rc = ck_sn_exists(sn, l->chain[i - 1], errp);
		if (rc != 0)
			break;
	}
	return rc < 0 ? -1 : (ssize_t)i;
}

static int
should_flatten(const struct ck_snapshotter *sn, struct ck_err **errp)
{
	switch (sn->flatten) {
	case CK_FLATTEN_ON:
		if (sn->type == CK_SN_OVERLAY)
			return ck_err_setc(errp, CK_E_INVALID, 0,
					   "snapshotter '%s' keeps one layer "
					   "per snapshot; only btrfs and "
					   "native can flatten", sn->name);
		return 1;
	case CK_FLATTEN_OFF:
		return 0;
	default:
		return sn->type == CK_SN_NATIVE;
	}
}

int
ck_unpack_image(const struct ck_store *st, const struct ck_snapshotter *sn,
		const struct ck_image *img, ck_unpack_progress_fn progress,
		void *arg, struct ck_unpack_result *res, struct ck_err **errp)
{
	struct ck_layers l;
	ssize_t unpacked;
	size_t start;
	int flatten, rc = 0;

	memset(res, 0, sizeof(*res));
	flatten = should_flatten(sn, errp);
	if (flatten < 0)
		return -1;
	if (ck_layers_load(st, img, &l, errp) < 0)
		return -1;
	if (ck_sn_cleanup(sn, errp) < 0) {
		ck_layers_free(&l);
		return -1;
	}
	unpacked = count_unpacked(sn, &l, errp);
	if (unpacked < 0) {
		ck_layers_free(&l);
		return ck_err_wrap(errp, "unpack '%s'", img->name);
	}
	start = (size_t)unpacked;
	if (flatten) {
		if (start < l.n)
			rc = unpack_layers(st, sn, &l, start, l.n, progress,
					   arg, errp);
	} else {
		size_t step = chain_length(), from, end;

		for (from = start; rc == 0 && from < l.n; from = end) {
			end = l.n - from > step ? from + step : l.n;
			rc = sn->type == CK_SN_BTRFS ?
				unpack_rolling(st, sn, &l, from, end,
					       progress, arg, errp) :
				unpack_chain(st, sn, &l, from, end, progress,
					     arg, errp);
		}
	}
	if (rc < 0) {
		ck_layers_free(&l);
		return ck_err_wrap(errp, "unpack '%s'", img->name);
	}
	res->layers = l.n;
	res->applied = l.n - start;
	res->chain_id = ck_xstrdup(l.chain[l.n - 1]);
	ck_layers_free(&l);
	return 0;
}

void
ck_unpack_result_free(struct ck_unpack_result *res)
{
	free(res->chain_id);
	memset(res, 0, sizeof(*res));
}
