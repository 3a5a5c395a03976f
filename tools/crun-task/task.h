/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crun-task internals. A task is supervised by a shim: a process forked
 * by the crun-task that starts it, in a session of its own, which runs
 * the runtime, reaps the container's init as subreaper, keeps its stdio
 * and records its exit status. The shim outlives that crun-task; later
 * calls find it through files in the task's state directory.
 */
#ifndef CRUN_TASK_H
#define CRUN_TASK_H

#include <stdint.h>
#include <sys/types.h>
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
	int runtime_default;	/* --runtime was not given */
	const char *spec_file;
	const char *image;	/* NULL: the container exists already */
	const char *id;
	const char *exec_id;
	const char *signal;	/* kill -s */
	int rm;
	int detach;
	int force;
	int all;
	int json;
	int quiet;
	int terminal;		/* the task's spec asks for a terminal */
	char **args;		/* exec command */
	struct ck_spec_opts spec;
};

/* The task's state directory, $CKIT_STATE/<ns>/<id>:
 *   config.json, rootfs/   the bundle
 *   init.pid               the container's init, written by runc
 *   shim.pid, shim.lock    the shim, which keeps the lock locked while it lives
 *   shim.sock              where attach and wait reach the shim
 *   status.json            the exit status, written once by the shim
 *   log                    a detached task's output
 *   runtime.log            the runtime's own messages (JSON lines) */
struct bundle {
	char *dir;
	char *rootfs;
	char *runtime_root;	/* $CKIT_STATE/runc/<ns>, runc's --root */
};

void bundle_init(struct bundle *b, const char *ns, const char *id);
void bundle_free(struct bundle *b);
char *bundle_path(const struct bundle *b, const char *name);
/* The runtime a task was made with, kept in its state directory so
 * that later calls without --runtime use the same one. */
void bundle_save_runtime(const struct task_opts *o, const struct bundle *b);
void bundle_load_runtime(struct task_opts *o, const struct bundle *b);

/* The connection of the container's stdio. */
enum stdio_mode {
	STDIO_INHERIT,	/* the starting crun-task's own descriptors */
	STDIO_PIPES,	/* pipes held by the shim, logged, attachable */
	STDIO_TTY,	/* a pseudo-terminal held by the shim */
};

/* runtime.c: the OCI runtime's command line. */
int runtime_call(const struct task_opts *o, const struct bundle *b,
		 const char *const *args, int quiet);
char *runtime_error(const struct bundle *b);
int runtime_exit_code(const char *msg);
/* Creates the task, and with start set starts it too (run --detach);
 * returns the init pid. */
pid_t runtime_create(const struct task_opts *o, const struct bundle *b,
		     const char *console_socket, int start,
		     struct ck_err **errp);
int runtime_start(const struct task_opts *o, const struct bundle *b,
		  struct ck_err **errp);
void runtime_delete(const struct task_opts *o, const struct bundle *b);
int runtime_spec_plain(json_t *spec);
/* Sends SIGKILL to the children of process pid; returns how many. */
int kill_children(pid_t pid);
/* The cgroup path of the task's spec (linux.cgroupsPath), or NULL. */
char *runtime_spec_cgroups(const struct bundle *b);
/* Removes the empty cgroup path in every cgroup hierarchy. runc makes a
 * task's cgroups before its hooks run, so a task killed while it was
 * starting leaves them, and no runc state names them. */
void runtime_remove_cgroups(const char *path);
int runtime_delete_stopped(const struct task_opts *o, const struct bundle *b);
/* The runtime's stdout for a command, or NULL when it failed. */
char *runtime_output(const struct task_opts *o, const struct bundle *b,
		     const char *const *args);
/* "created", "running", "paused", "stopped", or NULL when unknown. */
char *runtime_status(const struct task_opts *o, const struct bundle *b,
		     pid_t *pid);
pid_t read_pid_file(const struct bundle *b, const char *name);

/* console.c: pseudo-terminals. */
int console_listen(const char *path, struct ck_err **errp);
int console_receive(int sock, struct ck_err **errp);
void console_resize(int master);
void console_set_size(int master, unsigned rows, unsigned cols);
int console_raw(struct termios *saved);
void console_restore(const struct termios *saved);
int write_all(int fd, const void *data, size_t len);

/* proto.c: frames between the shim and its clients: a type byte, a
 * 32-bit big-endian length, then the data. */
enum frame_type {
	FRAME_ATTACH = 'A',	/* client: stream the task's stdio to me */
	FRAME_ATTACHED = 'a',	/* shim: output from now on goes to you */
	FRAME_WAIT = 'W',	/* client: send me the exit status */
	FRAME_STDIN = 'i',
	FRAME_CLOSE_STDIN = 'c',
	FRAME_RESIZE = 'r',	/* rows and columns, 16 bits each */
	FRAME_STDOUT = 'o',
	FRAME_STDERR = 'e',
	FRAME_EXIT = 'x',	/* the exit status, 32 bits */
};
#define FRAME_MAX (1 << 16)
int frame_send(int fd, int type, const void *data, size_t len);
/* Reads one frame into buf (FRAME_MAX bytes); returns its type, 0 at
 * end of stream, -1 on error. */
int frame_recv(int fd, char *buf, size_t *len);
int shim_connect(const struct bundle *b, struct ck_err **errp);
/* Whether a shim holds the task's lock. */
int shim_alive(const struct bundle *b);

/* shim.c */
struct shim_start {
	enum stdio_mode mode;
	int client_fd;		/* attached from the start, or -1 */
};
/* Forks the shim, which creates the task; with start set it also starts
 * it. Returns the init pid once the runtime created the task. */
pid_t shim_spawn(const struct task_opts *o, const struct bundle *b,
		 const struct shim_start *how, int start, int *sync_fd,
		 int *exit_code, struct ck_err **errp);
/* Reads the exit status the shim sends on the sync pipe; -1 when the
 * shim went away without one. */
int shim_read_exit(int sync_fd);

/* client.c */
/* Attaches this terminal or these pipes to a task and returns its exit
 * status when it ends. */
int client_attach(int fd, int tty, int forward_stdin, pid_t init);
int task_wait_status(const struct bundle *b, int block,
		     struct ck_err **errp);
int read_status_file(const struct bundle *b, int *status);

/* run.c */
int task_run(struct task_opts *o, struct ck_err **errp);
int task_create(struct task_opts *o, struct ck_err **errp);
int task_start(struct task_opts *o, struct ck_err **errp);
int task_delete(struct task_opts *o, struct ck_err **errp);

/* cmds.c */
/* A signal name ("TERM", "SIGTERM") or number; -1 when invalid. */
int task_parse_signal(const char *s);
int task_wait(struct task_opts *o, struct ck_err **errp);
int task_kill(struct task_opts *o, struct ck_err **errp);
int task_list(const struct task_opts *o, struct ck_err **errp);
int task_ps(struct task_opts *o, struct ck_err **errp);
int task_pause(struct task_opts *o, int pause, struct ck_err **errp);
int task_exec(struct task_opts *o, struct ck_err **errp);
int task_attach(struct task_opts *o, struct ck_err **errp);
int task_metrics(struct task_opts *o, struct ck_err **errp);

#endif
