/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cspec: write an OCI runtime spec (config.json) for an image of the
 * store to stdout.
 */
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
#include "snapshot.h"
#include "spec.h"
#include "store.h"
#include "util.h"

struct options {
	const char *root;
	const char *ns;
	const char *snapshotter;
	const char *image;
	const char *rootfs;
	const char *output;
	struct ck_spec_opts spec;
};

static void
usage(void)
{
	printf("usage: cspec [options] [--image <reference>] [-- <arg>...]\n"
	       "Write an OCI runtime spec for an image to stdout. The image "
	       "must be unpacked.\nArguments after '--' replace Cmd and keep "
	       "Entrypoint. Without --image, the\nreference is read from "
	       "stdin, as cunpack prints it with --json.\n\n"
	       "%s"
	       "      --id <id>             container ID, for the cgroup "
	       "path\n"
	       "      --rootfs <dir>        root to use and to look users "
	       "up in\n"
	       "      --snapshot <key>      snapshot to look users up in\n"
	       "  -o, --output <file>       write to a file instead of "
	       "stdout\n"
	       "  -v, --verbose             report ports and volumes the "
	       "spec leaves out\n"
	       "      --root <dir>, -n <ns>, --snapshotter <name>  store, "
	       "namespace, snapshotter\n"
	       "  -h, --help                show this help\n\n"
	       "Exit status: 0 written, 1 failed, 2 usage error.\n",
	       ck_spec_help);
}

enum {
	OPT_ID = 256, OPT_IMAGE, OPT_ROOTFS, OPT_SNAPSHOT, OPT_ROOT,
	OPT_SNAPSHOTTER,
};

static const struct option own_options[] = {
	{ "id", required_argument, NULL, OPT_ID },
	{ "image", required_argument, NULL, OPT_IMAGE },
	{ "rootfs", required_argument, NULL, OPT_ROOTFS },
	{ "snapshot", required_argument, NULL, OPT_SNAPSHOT },
	{ "output", required_argument, NULL, 'o' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "namespace", required_argument, NULL, 'n' },
	{ "snapshotter", required_argument, NULL, OPT_SNAPSHOTTER },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void
parse_option(struct options *o, int c)
{
	switch (c) {
	case OPT_ID: o->spec.id = optarg; return;
	case OPT_IMAGE: o->image = optarg; return;
	case OPT_ROOTFS: o->rootfs = optarg; return;
	case OPT_SNAPSHOT: o->spec.snapshot = optarg; return;
	case 'o': o->output = optarg; return;
	case 'v': ck_log_set_level(ck_log_get_level() + 1); return;
	case OPT_ROOT: o->root = optarg; return;
	case 'n': o->ns = optarg; return;
	case OPT_SNAPSHOTTER: o->snapshotter = optarg; return;
	case 'h': usage(); exit(ck_cli_flush_stdout() < 0);
	}
	ck_cli_spec_option(&o->spec, c, optarg, 1);
}

static void
parse_args(int argc, char **argv, struct options *o)
{
	struct option *longopts = ck_cli_join_options(own_options,
						      ck_spec_longopts);
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:te:u:o:n:vh", longopts,
				NULL)) != -1) {
		if (c == '?' || c == ':')
			ck_cli_bad_option(c, argv);
		parse_option(o, c);
	}
	free(longopts);
	if (o->spec.id && ck_container_id_check(o->spec.id, NULL) < 0)
		ck_cli_misuse("invalid --id '%s': use 1 to 76 letters, digits, "
			      "'.', '_' and '-'", o->spec.id);
	if (o->rootfs && !ck_is_dir(o->rootfs))
		ck_cli_misuse("invalid --rootfs '%s': not a directory",
			      o->rootfs);
	if (optind < argc) {
		if (strcmp(argv[optind - 1], "--") != 0)
			ck_cli_misuse("unexpected argument '%s'; put the "
				      "command after '--'", argv[optind]);
		o->spec.args = &argv[optind];
	}
}

/* Writes to -o's path. A regular file (or a new one) is replaced
 * atomically, and a symlink is followed. A device or FIFO (/dev/stdout)
 * is written to as it is, never replaced. */
static int
write_output(const char *path, const char *text, size_t len,
	     struct ck_err **errp)
{
	char *real = realpath(path, NULL);
	const char *target = real ? real : path;
	struct stat st;
	int fd, rc = 0;

	if (stat(target, &st) < 0 || S_ISREG(st.st_mode)) {
		rc = ck_write_file_atomic(target, text, len, 0644, errp);
	} else if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
		fd = open(target, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, text, len) != (ssize_t)len)
			rc = ck_err_set(errp, errno, "write '%s'", path);
		if (fd >= 0)
			close(fd);
	} else {
		rc = ck_err_setc(errp, CK_E_INVALID, 0, "invalid --output "
				 "'%s': not a file, a device or a FIFO", path);
	}
	free(real);
	return rc;
}

static int
write_spec(const struct options *o, json_t *spec, struct ck_err **errp)
{
	char *text = json_dumps(spec, JSON_INDENT(2));
	size_t len = strlen(text);
	int rc = 0;

	text = ck_xrealloc(text, len + 2);
	text[len++] = '\n';
	text[len] = '\0';
	if (o->output != NULL)
		rc = write_output(o->output, text, len, errp);
	else if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)
		rc = ck_err_set(errp, errno, "write the spec to stdout");
	free(text);
	return rc;
}

static int
run_spec(struct options *o, struct ck_err **errp)
{
	struct ck_store st;
	struct ck_snapshotter sn;
	struct ck_image img = { 0 };
	json_t *spec = NULL;
	char *ref;
	int rc = -1;

	ref = ck_cli_ref(o->image, errp);
	if (ref == NULL)
		return -1;
	if (ck_store_open_existing(&st, o->root, o->ns, errp) < 0) {
		free(ref);
		return -1;
	}
	o->spec.ns = st.ns;
	if (o->rootfs)
		o->spec.root_path = o->rootfs;
	if (ck_sn_open(&sn, &st, o->snapshotter, errp) == 0 &&
	    ck_image_resolve(&st, ref, &img, errp) == 0)
		spec = ck_spec_for_image(&st, &sn, &img, o->rootfs, &o->spec,
					 errp);
	if (spec != NULL)
		rc = write_spec(o, spec, errp);
	json_decref(spec);
	ck_image_free(&img);
	ck_sn_close(&sn);
	ck_store_close(&st);
	free(ref);
	return rc;
}

int
main(int argc, char **argv)
{
	struct options o = { 0 };
	struct ck_err *err = NULL;
	int rc = 0;

	ck_log_init("cspec");
	parse_args(argc, argv, &o);
	if (run_spec(&o, &err) < 0) {
		ck_err_print("cspec", err);
		ck_err_free(&err);
		rc = 1;
	}
	ck_spec_opts_free(&o.spec);
	return rc;
}
