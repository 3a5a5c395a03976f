/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csnapshot: manage snapshots the way `ctr snapshots` does, on the
 * store's records directly. A snapshot that has children or that a
 * container record names (crun-task writes snapshot_key and
 * snapshotter) is never removed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "container.h"
#include "csnapshot.h"
#include "util.h"

static void
usage(void)
{
	fputs("usage: csnapshot [--json] [--root <dir>] [-n <namespace>]\n"
	      "                 [--snapshotter <name>] <command> [<args>]\n"
	      "Manage snapshots: committed layers, writable snapshots and "
	      "views.\n"
	      "\n"
	      "  prepare <key> [<parent>]   make a writable snapshot\n"
	      "  view <key> <parent>        make a read-only view\n"
	      "  commit <name> <key>        commit the writable snapshot "
	      "<key> as <name>\n"
	      "  rm <key>...                remove snapshots\n"
	      "  ls                         list key, parent and kind\n"
	      "  info <key>                 print a snapshot's record as "
	      "JSON\n"
	      "  mounts <key> [<target>]    print the mount command (with "
	      "--json, the\n"
	      "                             OCI runtime spec mount)\n"
	      "  usage [<key>]              print bytes and inodes used\n"
	      "  diff [-o <file>] [--store] [--compress <alg>] <key>\n"
	      "                             write the layer <key> adds to "
	      "its parent and\n"
	      "                             print its digest and diff ID\n"
	      "\n"
	      "      --json               print JSON objects, one per line\n"
	      "      --root <dir>         store root (default $CKIT_ROOT or "
	      "/var/lib/ckit)\n"
	      "  -n, --namespace <ns>     namespace (default $CKIT_NAMESPACE "
	      "or default)\n"
	      "      --snapshotter <name> overlayfs, btrfs or native (default "
	      "the store's)\n"
	      "  -o, --output <file>      diff: write the layer to <file>\n"
	      "      --store              diff: put the layer in the content "
	      "store\n"
	      "      --compress <alg>     diff: gzip (default), zstd or none\n"
	      "  -h, --help               show this help\n"
	      "\n"
	      "Exit status: 0 done, 1 failed, 2 usage error.\n", stdout);
}

static enum ck_diff_compression
parse_compress(const char *s)
{
	if (strcmp(s, "gzip") == 0)
		return CK_DIFF_GZIP;
	if (strcmp(s, "zstd") == 0)
		return CK_DIFF_ZSTD;
	if (strcmp(s, "none") == 0)
		return CK_DIFF_NONE;
	ck_cli_misuse("invalid compression '%s': use gzip, zstd or none", s);
}

static void
parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_ROOT = 256, OPT_SNAPSHOTTER, OPT_JSON, OPT_STORE,
	       OPT_COMPRESS };
	static const struct option longopts[] = {
		{ "root", required_argument, NULL, OPT_ROOT },
		{ "namespace", required_argument, NULL, 'n' },
		{ "snapshotter", required_argument, NULL, OPT_SNAPSHOTTER },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "output", required_argument, NULL, 'o' },
		{ "store", no_argument, NULL, OPT_STORE },
		{ "compress", required_argument, NULL, OPT_COMPRESS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->compress = CK_DIFF_GZIP;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "n:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_ROOT: o->root = optarg; break;
		case 'n': o->ns = optarg; break;
		case OPT_SNAPSHOTTER: o->snapshotter = optarg; break;
		case OPT_JSON: o->json = 1; break;
		case 'o': o->output = optarg; break;
		case OPT_STORE: o->store = 1; break;
		case OPT_COMPRESS: o->compress = parse_compress(optarg); break;
		case 'h': usage(); exit(0);
		default:
			ck_cli_misuse("invalid option '%s'", argv[optind - 1]);
		}
	}
	o->args = argv + optind;
	o->n_args = argc - optind;
	if (o->n_args == 0)
		ck_cli_misuse("missing command");
}

static json_t *
snapshot_json(const struct ctx *c, const struct ck_snapshot *s)
{
	json_t *j = json_pack("{s:s, s:s, s:s}", "key", s->key, "kind",
			      ck_sn_kind_name(s->kind), "snapshotter",
			      c->sn.name);

	if (s->parent)
		json_object_set_new(j, "parent", json_string(s->parent));
	return j;
}

static int
cmd_prepare(struct ctx *c, enum ck_snap_kind kind, struct ck_err **errp)
{
	const char *key = c->o->args[1];
	const char *parent = c->o->n_args > 2 ? c->o->args[2] : NULL;
	struct ck_snapshot s;

	if (ck_sn_prepare(&c->sn, key, parent, kind, NULL, errp) < 0)
		return -1;
	if (c->o->json && ck_sn_stat(&c->sn, key, &s, errp) == 0) {
		json_t *j = snapshot_json(c, &s);

		ck_cli_print_json(j);
		json_decref(j);
		ck_snapshot_free(&s);
	}
	return 0;
}

static int
cmd_commit(struct ctx *c, struct ck_err **errp)
{
	int fd, rc;

	/* ck_sn_commit drops key when name exists, for concurrent unpacks;
	 * a person asking for a commit gets an error instead. */
	rc = ck_sn_exists(&c->sn, c->o->args[1], errp);
	if (rc != 0)
		return rc < 0 ? -1 : ck_err_setc(errp, CK_E_EXISTS, 0,
			"snapshot '%s' already exists", c->o->args[1]);
	if (ck_sn_hold(&c->sn, c->o->args[2], &fd, errp) < 0)
		return -1;
	rc = ck_sn_commit(&c->sn, c->o->args[1], c->o->args[2], errp);
	ck_unlock(fd);
	return rc;
}

static int
cmd_rm(struct ctx *c, struct ck_err **errp)
{
	int i, failed = 0;

	for (i = 1; i < c->o->n_args; i++) {
		const char *key = c->o->args[i];
		struct ck_err *err = NULL;
		char *user = ck_container_using(&c->st, c->sn.name, key, NULL,
						&err);
		/* user is "<ns>/<id>" */
		char *id = user ? strchr(user, '/') : NULL;
		int fd = -1;

		if (err)
			ck_err_wrap(&err, "snapshot '%s' kept", key);
		else if (user)
			ck_err_setc(&err, CK_E_BUSY, 0, "snapshot '%s' is "
				    "used by container '%s'; remove the "
				    "container with 'ccontainer -n %.*s rm %s'",
				    key, user, id ? (int)(id - user) : 0, user,
				    id ? id + 1 : user);
		else if (ck_sn_hold(&c->sn, key, &fd, &err) == 0)
			ck_sn_remove(&c->sn, key, &err);
		ck_unlock(fd);
		if (err) {
			ck_err_print("csnapshot", err);
			ck_err_free(&err);
			failed++;
		}
		free(user);
	}
	if (failed)
		return ck_err_set(errp, 0, "%d of %d snapshots not removed",
				  failed, c->o->n_args - 1);
	return 0;
}

static int
cmd_ls(struct ctx *c, struct ck_err **errp)
{
	struct ck_snapshot *list;
	size_t i, n, skipped;

	if (ck_sn_list(&c->sn, &list, &n, &skipped, errp) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (c->o->json) {
			json_t *j = snapshot_json(c, &list[i]);

			ck_cli_print_json(j);
			json_decref(j);
		} else {
			printf("%s\t%s\t%s\n", list[i].key,
			       list[i].parent ? list[i].parent : "",
			       ck_sn_kind_name(list[i].kind));
		}
	}
	ck_snapshot_list_free(list, n);
	return ck_cli_check_skipped(skipped, "snapshot", errp);
}

static int
cmd_info(struct ctx *c, struct ck_err **errp)
{
	struct ck_snapshot s;
	char *path;
	json_t *j;

	if (ck_sn_stat(&c->sn, c->o->args[1], &s, errp) < 0)
		return -1;
	j = snapshot_json(c, &s);
	json_object_set_new(j, "id", json_string(s.id));
	if (s.created)
		json_object_set_new(j, "created", json_string(s.created));
	path = ck_sn_fs_dir(&c->sn, &s);
	json_object_set_new(j, "path", json_string(path));
	free(path);
	if (s.diff_ids) {
		json_t *ids = json_array();
		size_t i;

		for (i = 0; s.diff_ids[i]; i++)
			json_array_append_new(ids, json_string(s.diff_ids[i]));
		json_object_set_new(j, "diff_ids", ids);
	}
	ck_cli_print_json(j);
	json_decref(j);
	ck_snapshot_free(&s);
	return 0;
}

/* Prints the mount command. Overlay options longer than the kernel's
 * one page get paths relative to the snapshots directory and a cd
 * there, as ck_sn_mount does; the target must then be absolute. */
static void
print_mount_command(const struct ctx *c, const struct ck_mount *m,
		    const char *target)
{
	char *rel;

	if (strcmp(m->type, "bind") == 0) {
		printf("mount -o %s %s %s\n", m->options, m->source, target);
		return;
	}
	if (strlen(m->options) < (size_t)sysconf(_SC_PAGESIZE)) {
		printf("mount -t %s -o %s %s %s\n", m->type, m->options,
		       m->source, target);
		return;
	}
	rel = ck_sn_relative_options(&c->sn, m->options);
	printf("(cd %s/snapshots && mount -t %s -o %s %s %s)\n", c->sn.dir,
	       m->type, rel, m->source, target);
	free(rel);
}

static void
print_mount(const struct ctx *c, const struct ck_mount *m, const char *target)
{
	json_t *j, *opts;
	char *copy, *tok, *save = NULL;

	if (!c->o->json) {
		print_mount_command(c, m, target);
		return;
	}
	opts = json_array();
	copy = ck_xstrdup(m->options);
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save))
		json_array_append_new(opts, json_string(tok));
	free(copy);
	j = json_pack("{s:s, s:s, s:s, s:o}", "destination", target, "type",
		      m->type, "source", m->source, "options", opts);
	ck_cli_print_json(j);
	json_decref(j);
}

static int
cmd_mounts(struct ctx *c, struct ck_err **errp)
{
	struct ck_mount m;

	if (ck_sn_mounts(&c->sn, c->o->args[1], &m, errp) < 0)
		return -1;
	print_mount(c, &m, c->o->n_args > 2 ? c->o->args[2] : "/mnt");
	ck_mount_free(&m);
	return 0;
}

/* Inodes seen by a usage count, so hardlinks count once. */
struct inodes {
	ino_t *v;
	size_t n;
	size_t cap;
};

static int
inodes_add(struct inodes *s, ino_t ino)
{
	size_t j;

	if ((s->n + 1) * 2 > s->cap) {
		struct inodes bigger = { 0 };
		size_t i;

		bigger.cap = s->cap ? s->cap * 2 : 1024;
		bigger.v = ck_xcalloc(bigger.cap, sizeof(ino_t));
		for (i = 0; i < s->cap; i++)
			if (s->v[i])
				inodes_add(&bigger, s->v[i]);
		free(s->v);
		*s = bigger;
	}
	for (j = (size_t)ino * 2654435761u & (s->cap - 1); s->v[j];
	     j = (j + 1) & (s->cap - 1))
		if (s->v[j] == ino)
			return 0;
	s->v[j] = ino;
	s->n++;
	return 1;
}

static void
count_dir(int fd, struct inodes *seen, int64_t *bytes)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;

	if (d == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		int sub;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    fstatat(dirfd(d), de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (inodes_add(seen, st.st_ino))
			*bytes += (int64_t)st.st_blocks * 512;
		if (!S_ISDIR(st.st_mode))
			continue;
		sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY |
			     O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0)
			count_dir(sub, seen, bytes);
	}
	closedir(d);
}

/* Prints the disk space and inodes of a snapshot's own files: the upper
 * dir for overlayfs, the whole tree for btrfs and native. */
static void
print_usage(struct ctx *c, const struct ck_snapshot *s)
{
	struct inodes seen = { 0 };
	char *dir = ck_sn_fs_dir(&c->sn, s);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int64_t bytes = 0;

	if (fd >= 0)
		count_dir(fd, &seen, &bytes);
	if (c->o->json) {
		json_t *j = json_pack("{s:s, s:I, s:I}", "key", s->key, "size",
				      (json_int_t)bytes, "inodes",
				      (json_int_t)seen.n);

		ck_cli_print_json(j);
		json_decref(j);
	} else {
		printf("%s\t%lld\t%zu\n", s->key, (long long)bytes, seen.n);
	}
	free(seen.v);
	free(dir);
}

static int
cmd_usage(struct ctx *c, struct ck_err **errp)
{
	struct ck_snapshot *list, s;
	size_t i, n, skipped;

	if (c->o->n_args > 1) {
		if (ck_sn_stat(&c->sn, c->o->args[1], &s, errp) < 0)
			return -1;
		print_usage(c, &s);
		ck_snapshot_free(&s);
		return 0;
	}
	if (ck_sn_list(&c->sn, &list, &n, &skipped, errp) < 0)
		return -1;
	for (i = 0; i < n; i++)
		print_usage(c, &list[i]);
	ck_snapshot_list_free(list, n);
	return ck_cli_check_skipped(skipped, "snapshot", errp);
}

static int
run_prepare(struct ctx *c, struct ck_err **errp)
{
	return cmd_prepare(c, CK_SNAP_ACTIVE, errp);
}

static int
run_view(struct ctx *c, struct ck_err **errp)
{
	return cmd_prepare(c, CK_SNAP_VIEW, errp);
}

/* A command's behaviour when the store does not exist. */
enum no_store {
	NO_STORE_CREATE = 0,	/* creates it */
	NO_STORE_FAIL,		/* fails, creating nothing */
	NO_STORE_EMPTY,		/* lists nothing, after a warning */
};

static const struct command {
	const char *name;
	int min_args;		/* operands after the command */
	int max_args;		/* -1: any number */
	int (*run)(struct ctx *c, struct ck_err **errp);
	enum no_store no_store;
} commands[] = {
	{ "prepare", 1, 2, run_prepare, NO_STORE_CREATE },
	{ "view", 2, 2, run_view, NO_STORE_CREATE },
	{ "commit", 2, 2, cmd_commit, NO_STORE_FAIL },
	{ "rm", 1, -1, cmd_rm, NO_STORE_FAIL },
	{ "ls", 0, 0, cmd_ls, NO_STORE_EMPTY },
	{ "info", 1, 1, cmd_info, NO_STORE_FAIL },
	{ "mounts", 1, 2, cmd_mounts, NO_STORE_FAIL },
	{ "usage", 0, 1, cmd_usage, NO_STORE_EMPTY },
	{ "diff", 1, 1, cmd_diff, NO_STORE_FAIL },
};

static const struct command *
find_command(const struct options *o)
{
	const char *name = o->args[0];
	int n = o->n_args - 1;
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct command *cmd = &commands[i];

		if (strcmp(cmd->name, name) != 0)
			continue;
		if (n < cmd->min_args || (cmd->max_args >= 0 &&
					  n > cmd->max_args))
			ck_cli_misuse("wrong number of arguments for '%s'",
				      name);
		if (cmd->run == cmd_diff && !o->output && !o->store)
			ck_cli_misuse("diff needs -o <file>, --store or both");
		return cmd;
	}
	ck_cli_misuse("unknown command '%s'", name);
}

static int
run_command(const struct options *o, const struct command *cmd,
	    struct ck_err **errp)
{
	struct ctx c = { .o = o };
	int rc;

	if (cmd->no_store == NO_STORE_CREATE)
		rc = ck_store_open(&c.st, o->root, o->ns, errp);
	else
		rc = ck_store_open_existing(&c.st, o->root, o->ns, errp);
	/* usage KEY names a snapshot, which a missing store lacks. */
	if (rc < 0 && cmd->no_store == NO_STORE_EMPTY && o->n_args == 1 &&
	    ck_cli_list_without_store(errp))
		return 0;
	if (rc < 0)
		return -1;
	rc = ck_sn_open(&c.sn, &c.st, o->snapshotter, errp);
	if (rc == 0) {
		rc = cmd->run(&c, errp);
		ck_sn_close(&c.sn);
	}
	ck_store_close(&c.st);
	return rc;
}

int
main(int argc, char **argv)
{
	struct options o = { 0 };
	struct ck_err *err = NULL;
	const struct command *cmd;

	ck_log_init("csnapshot");
	parse_args(argc, argv, &o);
	cmd = find_command(&o);
	if (run_command(&o, cmd, &err) < 0) {
		ck_err_print("csnapshot", err);
		ck_err_free(&err);
		ck_cli_flush_stdout();
		return 1;
	}
	return ck_cli_flush_stdout() < 0 ? 1 : 0;
}
