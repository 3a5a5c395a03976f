/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unpacking through the cunpack binary, for the tools that unpack only
 * when an image is not unpacked yet (ccontainer create, crun-task run).
 * Linking the layer applier into them would load libarchive and the
 * libraries it needs (libxml2, ICU, libstdc++) at every start. That cost
 * about 2 ms per run on a 2-core VM. A run that needs the applier pays
 * for one more exec instead.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layers.h"
#include "unpack.h"
#include "util.h"

/* Finds another ckit tool: next to this binary (installed), in the build
 * tree (tools/<name>/<name>), else by PATH. */
static char *
tool_path(const char *name)
{
	char self[PATH_MAX], *dir, *p;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return ck_xstrdup(name);
	self[n] = '\0';
	dir = dirname(self);
	p = ck_asprintf("%s/%s", dir, name);
	if (access(p, X_OK) == 0)
		return p;
	free(p);
	p = ck_asprintf("%s/../%s/%s", dir, name, name);
	if (access(p, X_OK) == 0)
		return p;
	free(p);
	return ck_xstrdup(name);
}

static int
run_cunpack(const struct ck_store *st, const struct ck_snapshotter *sn,
	    const struct ck_image *img, int quiet, struct ck_err **errp)
{
	char *path = tool_path("cunpack");
	/* The digest pins the manifest resolved here: a cpull that moves
	 * the tag meanwhile makes cunpack fail instead of unpacking the
	 * image the tag names then. */
	char *ref = ck_asprintf("%s@%s", img->name, img->manifest.digest);
	const char *argv[10];
	size_t n = 0;
	int status, rc;
	pid_t pid;

	argv[n++] = path;
	if (quiet)
		argv[n++] = "-q";
	argv[n++] = "--root";
	argv[n++] = st->root;
	argv[n++] = "-n";
	argv[n++] = st->ns;
	argv[n++] = "--snapshotter";
	argv[n++] = sn->name;
	argv[n++] = ref;
	argv[n] = NULL;
	pid = fork();

	if (pid < 0) {
		free(ref);
		free(path);
		return ck_err_set(errp, errno, "fork");
	}
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		sigset_t none;

		/* The caller may hold stop signals while it prepares. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);

		/* stdout carries the chain ID, computed here already. */
		if (fd >= 0)
			dup2(fd, STDOUT_FILENO);
		execvp(path, (char *const *)argv);
		fprintf(stderr, "%s: exec '%s': %s\n", ck_log_tool(), path,
			strerror(errno));
		_exit(127);
	}
	rc = ck_wait_pid(pid, &status);
	free(ref);
	free(path);
	if (rc < 0)
		return ck_err_set(errp, errno, "wait for cunpack");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return ck_err_set(errp, 0, "cannot run cunpack; install it "
				  "next to %s or in PATH", ck_log_tool());
	return ck_err_set(errp, 0, "cunpack failed with status %d",
			  WIFEXITED(status) ? WEXITSTATUS(status) :
			  128 + WTERMSIG(status));
}

int
ck_unpack_with_tool(const struct ck_store *st,
		    const struct ck_snapshotter *sn,
		    const struct ck_image *img, int quiet, char **chain_id,
		    struct ck_err **errp)
{
	char *id = ck_image_chain_id(st, img, errp);
	int exists;

	*chain_id = NULL;
	if (id == NULL)
		return -1;
	exists = ck_sn_exists(sn, id, errp);
	if (exists == 0) {
		exists = run_cunpack(st, sn, img, quiet, errp);
		if (exists == 0)
			exists = ck_sn_exists(sn, id, errp);
	}
	if (exists == 0)
		ck_err_setc(errp, CK_E_NOTFOUND, 0, "snapshot '%s' not found "
			    "after cunpack", id);
	if (exists <= 0) {
		free(id);
		return ck_err_wrap(errp, "unpack image '%s'", img->name);
	}
	*chain_id = id;
	return 0;
}
