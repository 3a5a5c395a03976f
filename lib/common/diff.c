/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer diffs. libarchive writes a pax tar into a sink that hashes it
 * (the diff ID), compresses it with zlib or libzstd, hashes the result
 * (the blob digest) and writes it out. Entries are written in sorted
 * order, directories before their contents, and an inode with several
 * links is written once and then as hardlinks to that first path.
 */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "diff.h"
#include "digest.h"
#include "util.h"

#define OUT_SIZE (256 * 1024)
#define XATTR_OPAQUE "trusted.overlay.opaque"

struct sink {
	int fd;
	enum ck_diff_compression comp;
	z_stream z;
	ZSTD_CCtx *zc;
	struct ck_sha256 *tar_hash;
	struct ck_sha256 *blob_hash;
	int64_t size;
	unsigned char *out;
	struct ck_err *err;
};

struct link {
	dev_t dev;
	ino_t ino;
	char *path;
};

struct differ {
	struct archive *ar;
	struct sink sink;
	int upper;
	struct link *links;
	size_t n_links;
};

static int
put(struct sink *s, const void *data, size_t len)
{
	const char *p = data;

	ck_sha256_update(s->blob_hash, data, len);
	s->size += (int64_t)len;
	while (len > 0) {
		ssize_t n = write(s->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ck_err_set(&s->err, errno, "write the layer");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
put_gzip(struct sink *s, const void *data, size_t len, int flush)
{
	int r;

	s->z.next_in = (unsigned char *)data;
	s->z.avail_in = (unsigned)len;
	do {
		s->z.next_out = s->out;
		s->z.avail_out = OUT_SIZE;
		r = deflate(&s->z, flush);
		if (r == Z_STREAM_ERROR)
			return ck_err_set(&s->err, 0, "gzip failed");
		if (put(s, s->out, OUT_SIZE - s->z.avail_out) < 0)
			return -1;
	} while (s->z.avail_out == 0 || (flush == Z_FINISH &&
					 r != Z_STREAM_END));
	return 0;
}

static int
put_zstd(struct sink *s, const void *data, size_t len, int end)
{
	ZSTD_inBuffer in = { data, len, 0 };
	size_t left;

	do {
		ZSTD_outBuffer o = { s->out, OUT_SIZE, 0 };

		left = ZSTD_compressStream2(s->zc, &o, &in,
					    end ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(left))
			return ck_err_set(&s->err, 0, "zstd: %s",
					  ZSTD_getErrorName(left));
		if (put(s, s->out, o.pos) < 0)
			return -1;
	} while (in.pos < in.size || (end && left > 0));
	return 0;
}

static la_ssize_t
sink_write(struct archive *ar, void *data, const void *buf, size_t len)
{
	struct differ *d = data;
	struct sink *s = &d->sink;
	int rc;

	ck_sha256_update(s->tar_hash, buf, len);
	if (s->comp == CK_DIFF_GZIP)
		rc = put_gzip(s, buf, len, Z_NO_FLUSH);
	else if (s->comp == CK_DIFF_ZSTD)
		rc = put_zstd(s, buf, len, 0);
	else
		rc = put(s, buf, len);
	if (rc < 0) {
		archive_set_error(ar, s->err->errnum, "%s", s->err->msg);
		return -1;
	}
	return (la_ssize_t)len;
}

static int
sink_open(struct sink *s, int fd, enum ck_diff_compression comp,
	  struct ck_err **errp)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->comp = comp;
	s->out = ck_xmalloc(OUT_SIZE);
	s->tar_hash = ck_sha256_new();
	s->blob_hash = ck_sha256_new();
	if (comp == CK_DIFF_GZIP &&
	    deflateInit2(&s->z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return ck_err_set(errp, 0, "gzip: cannot initialise zlib");
	if (comp == CK_DIFF_ZSTD) {
		s->zc = ZSTD_createCCtx();
		if (s->zc == NULL)
			return ck_err_set(errp, ENOMEM, "zstd");
		ZSTD_CCtx_setParameter(s->zc, ZSTD_c_compressionLevel, 3);
	}
	return 0;
}

static int
sink_finish(struct sink *s, struct ck_diff_result *res, struct ck_err **errp)
{
	int rc = 0;

	if (s->comp == CK_DIFF_GZIP)
		rc = put_gzip(s, NULL, 0, Z_FINISH);
	else if (s->comp == CK_DIFF_ZSTD)
		rc = put_zstd(s, NULL, 0, 1);
	if (rc < 0)
		return ck_err_set(errp, s->err->errnum, "%s", s->err->msg);
	res->diff_id = ck_sha256_final(s->tar_hash);
	res->digest = ck_sha256_final(s->blob_hash);
	s->tar_hash = s->blob_hash = NULL;
	res->size = s->size;
	return 0;
}

static void
sink_free(struct sink *s)
{
	if (s->comp == CK_DIFF_GZIP)
		deflateEnd(&s->z);
	ZSTD_freeCCtx(s->zc);
	if (s->tar_hash)
		free(ck_sha256_final(s->tar_hash));
	if (s->blob_hash)
		free(ck_sha256_final(s->blob_hash));
	free(s->out);
	ck_err_free(&s->err);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns the sorted names in the directory fd, NULL-terminated, or an
 * empty list when fd is -1. */
static char **
list_names(int fd, struct ck_err **errp)
{
	char **v = ck_xcalloc(1, sizeof(char *));
	size_t n = 0;
	struct dirent *de;
	int dfd = fd < 0 ? -1 : openat(fd, ".", O_RDONLY | O_DIRECTORY |
				       O_CLOEXEC);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);

	if (fd >= 0 && d == NULL) {
		if (dfd >= 0)
			close(dfd);
		ck_err_set(errp, errno, "open directory");
		free(v);
		return NULL;
	}
	while (d && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		v = ck_xrealloc(v, (n + 2) * sizeof(char *));
		v[n++] = ck_xstrdup(de->d_name);
		v[n] = NULL;
	}
	if (d)
		closedir(d);
	qsort(v, n, sizeof(char *), cmp_names);
	return v;
}

/* Appends the xattrs of name in dir to b as key, NUL, 8-byte length and
 * value, in the order listxattr gives them, without overlay's own. */
static void
read_xattrs(int dir, const char *name, struct ck_buf *b)
{
	char proc[64], names[4096], value[65536];
	int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	ssize_t len;
	char *k;

	if (fd < 0)
		return;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	len = listxattr(proc, names, sizeof(names));
	for (k = names; len > 0 && k < names + len; k += strlen(k) + 1) {
		ssize_t n;
		uint64_t size;

		if (ck_has_prefix(k, "trusted.overlay."))
			continue;
		n = getxattr(proc, k, value, sizeof(value));
		if (n < 0)
			continue;
		size = (uint64_t)n;
		ck_buf_add(b, k, strlen(k) + 1);
		ck_buf_add(b, &size, sizeof(size));
		ck_buf_add(b, value, (size_t)n);
	}
	close(fd);
}

static void
add_xattrs(struct archive_entry *e, int dir, const char *name)
{
	struct ck_buf b = { 0 };
	size_t off = 0;

	read_xattrs(dir, name, &b);
	while (off < b.len) {
		const char *key = b.data + off;
		uint64_t size;

		off += strlen(key) + 1;
		memcpy(&size, b.data + off, sizeof(size));
		off += sizeof(size);
		archive_entry_xattr_add_entry(e, key, b.data + off,
					      (size_t)size);
		off += (size_t)size;
	}
	ck_buf_free(&b);
}

static int
xattrs_differ(int a, int b, const char *name)
{
	struct ck_buf x = { 0 }, y = { 0 };
	int differ;

	read_xattrs(a, name, &x);
	read_xattrs(b, name, &y);
	differ = x.len != y.len || (x.len && memcmp(x.data, y.data, x.len));
	ck_buf_free(&x);
	ck_buf_free(&y);
	return differ;
}

static int
write_header(struct differ *d, struct archive_entry *e, const char *path,
	     struct ck_err **errp)
{
	if (archive_write_header(d->ar, e) != ARCHIVE_OK)
		return ck_err_set(errp, CK_ARCHIVE_ERRNO(d->ar), "write '%s': %s",
				  path, archive_error_string(d->ar));
	return 0;
}

static int
write_whiteout(struct differ *d, const char *dir, const char *name,
	       struct ck_err **errp)
{
	struct archive_entry *e = archive_entry_new();
	char *path = *dir ? ck_asprintf("%s/.wh.%s", dir, name) :
		ck_asprintf(".wh.%s", name);
	int rc;

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0);
	archive_entry_set_size(e, 0);
	rc = write_header(d, e, path, errp);
	archive_entry_free(e);
	free(path);
	return rc;
}

static int
write_data(struct differ *d, int dir, const char *name, const char *path,
	   struct ck_err **errp)
{
	char *buf;
	ssize_t n;
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return ck_err_set(errp, errno, "open '%s'", path);
	buf = ck_xmalloc(OUT_SIZE);
	while ((n = read(fd, buf, OUT_SIZE)) > 0)
		if (archive_write_data(d->ar, buf, (size_t)n) != n)
			break;
	free(buf);
	close(fd);
	if (n != 0)
		return ck_err_set(errp, n < 0 ? errno :
				  CK_ARCHIVE_ERRNO(d->ar), "write '%s'", path);
	return 0;
}

/* Returns the first path written for the inode of st, or records path
 * as that first one. */
static const char *
known_link(struct differ *d, const struct stat *st, const char *path)
{
	size_t i;

	if (S_ISDIR(st->st_mode) || st->st_nlink < 2)
		return NULL;
	for (i = 0; i < d->n_links; i++)
		if (d->links[i].dev == st->st_dev &&
		    d->links[i].ino == st->st_ino)
			return d->links[i].path;
	d->links = ck_xrealloc(d->links, (d->n_links + 1) * sizeof(*d->links));
	d->links[d->n_links].dev = st->st_dev;
	d->links[d->n_links].ino = st->st_ino;
	d->links[d->n_links++].path = ck_xstrdup(path);
	return NULL;
}

static void
fill_entry(struct archive_entry *e, int dir, const char *name,
	   const struct stat *st)
{
	char target[4096];
	ssize_t n;

	archive_entry_copy_stat(e, st);
	archive_entry_set_atime(e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
	archive_entry_unset_ctime(e);
	archive_entry_unset_birthtime(e);
	archive_entry_set_ino64(e, 0);
	archive_entry_set_dev(e, 0);
	archive_entry_set_nlink(e, 1);
	if (S_ISLNK(st->st_mode) &&
	    (n = readlinkat(dir, name, target, sizeof(target) - 1)) >= 0) {
		target[n] = '\0';
		archive_entry_copy_symlink(e, target);
	}
	if (!S_ISREG(st->st_mode))
		archive_entry_set_size(e, 0);
	add_xattrs(e, dir, name);
}

/* Adds the data regions of a file with holes to e, so that the pax
 * writer stores a GNU sparse map and leaves the holes out. */
static void
add_sparse_map(struct archive_entry *e, int dir, const char *name,
	       const struct stat *st)
{
	off_t data = 0, hole;
	int fd;

	if (st->st_blocks * 512 >= st->st_size)
		return;
	fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	while (data < st->st_size &&
	       (data = lseek(fd, data, SEEK_DATA)) >= 0) {
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			hole = st->st_size;
		archive_entry_sparse_add_entry(e, data, hole - data);
		data = hole;
	}
	close(fd);
}

static int
write_entry(struct differ *d, int dir, const char *name, const char *path,
	    const struct stat *st, struct ck_err **errp)
{
	struct archive_entry *e = archive_entry_new();
	const char *first = known_link(d, st, path);
	int rc;

	fill_entry(e, dir, name, st);
	archive_entry_set_pathname(e, path);
	if (first) {
		archive_entry_set_hardlink(e, first);
		archive_entry_set_size(e, 0);
	} else if (S_ISREG(st->st_mode)) {
		add_sparse_map(e, dir, name, st);
	}
	rc = write_header(d, e, path, errp);
	if (rc == 0 && first == NULL && S_ISREG(st->st_mode) &&
	    st->st_size > 0)
		rc = write_data(d, dir, name, path, errp);
	archive_entry_free(e);
	return rc;
}

static int
is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static int
is_opaque(int dir, const char *name)
{
	char proc[64], v[2];
	int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	int opaque;

	if (fd < 0)
		return 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	opaque = getxattr(proc, XATTR_OPAQUE, v, sizeof(v)) == 1 &&
		 v[0] == 'y';
	close(fd);
	return opaque;
}

static char *
child_path(const char *dir, const char *name)
{
	return *dir ? ck_asprintf("%s/%s", dir, name) : ck_xstrdup(name);
}

static int walk_upper(struct differ *d, int fd, const char *path,
		      struct ck_err **errp);

/* Writes one entry of an overlay upper dir and, for a directory, its
 * opaque marker and contents. */
static int
upper_entry(struct differ *d, int fd, const char *name, const char *dir,
	    struct ck_err **errp)
{
	struct stat st;
	char *path;
	int sub, rc;

	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return ck_err_set(errp, errno, "stat '%s'", name);
	if (is_whiteout(&st))
		return write_whiteout(d, dir, name, errp);
	path = child_path(dir, name);
	rc = write_entry(d, fd, name, path, &st, errp);
	if (rc == 0 && S_ISDIR(st.st_mode) && is_opaque(fd, name))
		rc = write_whiteout(d, path, ".wh..opq", errp);
	if (rc == 0 && S_ISDIR(st.st_mode)) {
		sub = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
			     O_CLOEXEC);
		rc = sub < 0 ? ck_err_set(errp, errno, "open '%s'", path) :
			walk_upper(d, sub, path, errp);
		if (sub >= 0)
			close(sub);
	}
	free(path);
	return rc;
}

static int
walk_upper(struct differ *d, int fd, const char *path, struct ck_err **errp)
{
	char **names = list_names(fd, errp);
	size_t i;
	int rc = names ? 0 : -1;

	for (i = 0; names && names[i]; i++) {
		if (rc == 0)
			rc = upper_entry(d, fd, names[i], path, errp);
		free(names[i]);
	}
	free(names);
	return rc;
}

static int
contents_differ(int a, int b, const char *name)
{
	char *x = ck_xmalloc(OUT_SIZE), *y = ck_xmalloc(OUT_SIZE);
	int fa = openat(a, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int fb = openat(b, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n, m;
	int differ = fa < 0 || fb < 0;

	while (!differ && (n = read(fa, x, OUT_SIZE)) > 0) {
		m = read(fb, y, (size_t)n);
		differ = m != n || memcmp(x, y, (size_t)n) != 0;
	}
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	free(x);
	free(y);
	return differ;
}

static int
links_differ(int a, int b, const char *name)
{
	char x[4096], y[4096];
	ssize_t n = readlinkat(a, name, x, sizeof(x));
	ssize_t m = readlinkat(b, name, y, sizeof(y));

	return n != m || n < 0 || memcmp(x, y, (size_t)n) != 0;
}

/* Returns whether name differs between the trees a (new) and b (parent). Files
 * with the same size and times are compared byte by byte only when the
 * times have no nanoseconds, as containerd's double walk does, because
 * such coarse times can hide a change. */
static int
entry_differs(int a, int b, const char *name, const struct stat *x,
	      const struct stat *y)
{
	if (x->st_mode != y->st_mode || x->st_uid != y->st_uid ||
	    x->st_gid != y->st_gid ||
	    x->st_mtim.tv_sec != y->st_mtim.tv_sec ||
	    x->st_mtim.tv_nsec != y->st_mtim.tv_nsec)
		return 1;
	if ((S_ISCHR(x->st_mode) || S_ISBLK(x->st_mode)) &&
	    x->st_rdev != y->st_rdev)
		return 1;
	if (S_ISREG(x->st_mode) && x->st_size != y->st_size)
		return 1;
	if (S_ISLNK(x->st_mode) && links_differ(a, b, name))
		return 1;
	if (xattrs_differ(a, b, name))
		return 1;
	return S_ISREG(x->st_mode) && x->st_mtim.tv_nsec == 0 &&
	       contents_differ(a, b, name);
}

static int walk_tree(struct differ *d, int fd, int pfd, const char *path,
		     struct ck_err **errp);

static int
tree_entry(struct differ *d, int fd, int pfd, const char *name,
	   const char *dir, struct ck_err **errp)
{
	struct stat st, pst;
	int have = pfd >= 0 && fstatat(pfd, name, &pst,
					 AT_SYMLINK_NOFOLLOW) == 0;
	char *path;
	int sub, psub = -1, rc = 0;

	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return ck_err_set(errp, errno, "stat '%s'", name);
	path = child_path(dir, name);
	if (!have || entry_differs(fd, pfd, name, &st, &pst))
		rc = write_entry(d, fd, name, path, &st, errp);
	if (rc == 0 && S_ISDIR(st.st_mode)) {
		sub = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW |
			     O_CLOEXEC);
		if (have && S_ISDIR(pst.st_mode))
			psub = openat(pfd, name, O_PATH | O_DIRECTORY |
				      O_NOFOLLOW | O_CLOEXEC);
		rc = sub < 0 ? ck_err_set(errp, errno, "open '%s'", path) :
			walk_tree(d, sub, psub, path, errp);
		if (sub >= 0)
			close(sub);
		if (psub >= 0)
			close(psub);
	}
	free(path);
	return rc;
}

/* Writes what the directory fd changes on pfd (-1 when the parent has no
 * such directory): whiteouts for names gone, then new and changed
 * entries. */
static int
walk_tree(struct differ *d, int fd, int pfd, const char *path,
	  struct ck_err **errp)
{
	char **names = list_names(fd, errp);
	char **old = names ? list_names(pfd, errp) : NULL;
	size_t i, j = 0;
	int rc = old ? 0 : -1;

	for (i = 0; old && old[i]; i++) {
		while (names[j] && strcmp(names[j], old[i]) < 0)
			j++;
		if (rc == 0 && (!names[j] || strcmp(names[j], old[i]) != 0))
			rc = write_whiteout(d, path, old[i], errp);
		free(old[i]);
	}
	for (i = 0; names && names[i]; i++) {
		if (rc == 0)
			rc = tree_entry(d, fd, pfd, names[i], path, errp);
		free(names[i]);
	}
	free(old);
	free(names);
	return rc;
}

static const char *
media_type(enum ck_diff_compression comp)
{
	if (comp == CK_DIFF_GZIP)
		return "application/vnd.oci.image.layer.v1.tar+gzip";
	if (comp == CK_DIFF_ZSTD)
		return "application/vnd.oci.image.layer.v1.tar+zstd";
	return "application/vnd.oci.image.layer.v1.tar";
}

static int
write_layer(struct differ *d, const char *dir, const char *parent,
	    struct ck_err **errp)
{
	int root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int proot = parent ? open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC) :
		-1;
	int rc;

	if (root < 0 || (parent && proot < 0))
		rc = ck_err_set(errp, errno, "open '%s'",
				root < 0 ? dir : parent);
	else if (d->upper)
		rc = walk_upper(d, root, "", errp);
	else
		rc = walk_tree(d, root, proot, "", errp);
	if (root >= 0)
		close(root);
	if (proot >= 0)
		close(proot);
	return rc;
}

int
ck_diff_write(const char *dir, const char *parent, int upper, int fd,
	      enum ck_diff_compression comp, struct ck_diff_result *res,
	      struct ck_err **errp)
{
	struct differ d = { 0 };
	size_t i;
	int rc;

	memset(res, 0, sizeof(*res));
	d.upper = upper;
	rc = sink_open(&d.sink, fd, comp, errp);
	d.ar = archive_write_new();
	archive_write_set_format_pax_restricted(d.ar);
	if (rc == 0 && archive_write_open(d.ar, &d, NULL, sink_write,
					  NULL) != ARCHIVE_OK)
		rc = ck_err_set(errp, 0, "write the layer: %s",
				archive_error_string(d.ar));
	if (rc == 0)
		rc = write_layer(&d, dir, parent, errp);
	if (rc == 0 && archive_write_close(d.ar) != ARCHIVE_OK)
		rc = ck_err_set(errp, CK_ARCHIVE_ERRNO(d.ar), "write the layer: "
				"%s", archive_error_string(d.ar));
	if (rc == 0)
		rc = sink_finish(&d.sink, res, errp);
	if (rc == 0)
		res->media_type = media_type(comp);
	archive_write_free(d.ar);
	sink_free(&d.sink);
	for (i = 0; i < d.n_links; i++)
		free(d.links[i].path);
	free(d.links);
	return rc;
}

void
ck_diff_result_free(struct ck_diff_result *res)
{
	free(res->digest);
	free(res->diff_id);
	memset(res, 0, sizeof(*res));
}
