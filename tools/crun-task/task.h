/* SPDX-License-Identifier: Apache-2.0 */
/* crun-task internals: the run and delete commands and the runtime calls. */
#ifndef CRUN_TASK_H
#define CRUN_TASK_H

#include <termios.h>

#include "err.h"
#include "spec.h"
#include "store.h"

/* Exit codes that follow chroot(1) and podman run. */
#define EXIT_TASK_FAILED 125
#define EXIT_CANNOT_INVOKE 126
#define EXIT_NOT_FOUND 127

struct task_opts {
	const char *root;
	const char *ns;
	const char *snapshotter;
	const char *runtime;	/* runc binary */
	const char *spec_file;
	const char *image;
	const char *id;
	int rm;
	int terminal;		/* the written spec asks for a terminal */
	struct ck_spec_opts spec;
};

struct bundle {
	char *dir;		/* $CKIT_STATE/<ns>/<id> */
	char *rootfs;		/* <dir>/rootfs */
	char *runtime_root;	/* $CKIT_STATE/runc/<ns> */
};

/* Runs the container in b through the runtime with the caller's stdio
 * and returns its exit status (128+N for signal N), or -1 with *exit_code
 * set to the code crun-task should exit with. */
int task_exec(const struct task_opts *o, const struct bundle *b,
	      int *exit_code, struct ck_err **errp);
/* console.c: the pseudo-terminal of a task run with -t. */
int console_listen(const char *path, struct ck_err **errp);
int console_receive(int sock, struct ck_err **errp);
void console_resize(int master);
int console_raw(struct termios *saved);
void console_restore(const struct termios *saved);
int console_copy(int from, int to);

void task_runtime_delete(const struct task_opts *o, const struct bundle *b);

int task_run(struct task_opts *o, struct ck_err **errp);
int task_delete(const struct task_opts *o, struct ck_err **errp);

void bundle_init(struct bundle *b, const char *ns, const char *id);
void bundle_free(struct bundle *b);

#endif
