/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crun-task run, create, start and delete. A run makes, in this order,
 * the container record, its writable snapshot, the task's bundle with the
 * mounted root filesystem and config.json, and then the shim. Teardown
 * goes the other way and tolerates any part missing, so whatever a kill
 * interrupts, `crun-task delete` and `ccontainer rm` finish it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "container.h"
#include "manifest.h"
#include "snapshot.h"
#include "task.h"
#include "unpack.h"
#include "util.h"

struct ctx {
	struct ck_store st;
	struct ck_snapshotter sn;
	struct bundle b;
	struct ck_container c;	/* the container record */
	int made_container;	/* this call created the record */
	int made_snapshot;	/* ... and its snapshot */
	int started;		/* the task ran: the container is in use */
	int spec_plain;		/* see runtime_spec_plain */
	int lock;		/* namespace lock while a task is made */
};

void
bundle_init(struct bundle *b, const char *ns, const char *id)
{
	b->dir = ck_asprintf("%s/%s/%s", ck_state_dir(), ns, id);
	b->rootfs = ck_asprintf("%s/rootfs", b->dir);
	b->runtime_root = ck_asprintf("%s/runc/%s", ck_state_dir(), ns);
}

void
bundle_free(struct bundle *b)
{
	free(b->dir);
	free(b->rootfs);
	free(b->runtime_root);
	memset(b, 0, sizeof(*b));
}

/* Opens the store and names the task's bundle; a spec built for the
 * task gets the cgroup path and host name from its ID. */
static int
ctx_open(struct ctx *x, struct task_opts *o, struct ck_err **errp)
{
	memset(x, 0, sizeof(*x));
	x->lock = -1;
	if (ck_container_id_check(o->id, errp) < 0 ||
	    ck_store_open_existing(&x->st, o->root, o->ns, errp) < 0)
		return -1;
	bundle_init(&x->b, x->st.ns, o->id);
	bundle_load_runtime(o, &x->b);
	o->spec.ns = x->st.ns;
	o->spec.id = o->id;
	if (o->spec.hostname == NULL)
		o->spec.hostname = o->id;
	return 0;
}

static void
ctx_close(struct ctx *x)
{
	ck_unlock(x->lock);
	ck_container_free(&x->c);
	ck_sn_close(&x->sn);
	bundle_free(&x->b);
	ck_store_close(&x->st);
}

static json_t *
load_spec_file(const char *path, struct ck_err **errp)
{
	json_error_t jerr;
	json_t *spec = strcmp(path, "-") == 0 ?
		json_loadf(stdin, 0, &jerr) : json_load_file(path, 0, &jerr);

	if (spec == NULL || !json_is_object(spec)) {
		json_decref(spec);
		ck_err_setc(errp, CK_E_INVALID, 0, "invalid spec '%s': %d:%d: "
			    "%s", path, jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	return spec;
}

/* The spec: --spec, else the one stored with the container, else one
 * built from the image with the options given. */
static json_t *
task_spec(struct task_opts *o, struct ctx *x, struct ck_err **errp)
{
	char *stored = ck_container_spec_path(&x->st, o->id);
	struct ck_image img;
	json_t *spec = NULL, *cfg;

	if (o->spec_file) {
		spec = load_spec_file(o->spec_file, errp);
	} else if (!x->made_container && ck_path_exists(stored)) {
		spec = load_spec_file(stored, errp);
	} else if (ck_image_resolve(&x->st, x->c.image, &img, errp) == 0) {
		cfg = ck_config_load(&x->st, &img, errp);
		spec = cfg ? ck_spec_build(cfg, x->b.rootfs, &o->spec, errp) :
			NULL;
		json_decref(cfg);
		ck_image_free(&img);
	}
	free(stored);
	return spec;
}

static int
write_config(struct task_opts *o, struct ctx *x, struct ck_err **errp)
{
	json_t *spec = task_spec(o, x, errp), *lx;
	char *path, *text;
	int rc, ro;

	if (spec == NULL)
		return -1;
	if (x->made_container &&
	    ck_container_spec_write(&x->st, x->c.id, spec, errp) < 0) {
		json_decref(spec);
		return -1;
	}
	/* A spec from cspec without --id names no cgroup; without one, runc
	 * would put tasks of the same ID in two namespaces in one cgroup. */
	lx = json_object_get(spec, "linux");
	if (json_is_object(lx) && json_object_get(lx, "cgroupsPath") == NULL)
		json_object_set_new(lx, "cgroupsPath", json_sprintf(
			"/ckit/%s/%s", x->st.ns, o->id));
	ro = o->spec.read_only || json_is_true(json_object_get(
		json_object_get(spec, "root"), "readonly"));
	json_object_set_new(spec, "root", json_pack("{s:s, s:b}", "path",
			    x->b.rootfs, "readonly", ro));
	x->spec_plain = runtime_spec_plain(spec);
	o->terminal = json_is_true(json_object_get(
		json_object_get(spec, "process"), "terminal"));
	path = bundle_path(&x->b, "config.json");
	text = json_dumps(spec, JSON_INDENT(1));
	rc = ck_write_file_replace(path, text, strlen(text), 0644, errp);
	free(text);
	free(path);
	json_decref(spec);
	return rc;
}

/* Makes the container record and its snapshot for run IMAGE ID. */
static int
make_container(struct task_opts *o, struct ctx *x, struct ck_err **errp)
{
	struct ck_image img;
	char *chain_id;
	int rc;

	if (ck_image_resolve(&x->st, o->image, &img, errp) < 0)
		return -1;
	rc = ck_unpack_with_tool(&x->st, &x->sn, &img, 1, &chain_id, errp);
	/* A container removed when its task exits gets its records
	 * without fsync, because a crash leaves it behind either way.
	 * The tools skip a damaged record and can remove it. */
	if (o->rm && !o->detach)
		x->st.no_sync = x->sn.no_sync = 1;
	if (rc == 0) {
		x->c.id = ck_xstrdup(o->id);
		x->c.image = ck_xstrdup(img.name);
		x->c.snapshotter = ck_xstrdup(x->sn.name);
		x->c.snapshot_key = ck_asprintf("%s/%s", x->st.ns, o->id);
		x->c.runtime = ck_xstrdup(o->runtime);
		x->c.created = ck_now_rfc3339();
		rc = ck_container_create(&x->st, &x->c, errp);
		if (rc == 0) {
			x->made_container = 1;
			rc = ck_sn_prepare(&x->sn, x->c.snapshot_key,
					   chain_id, CK_SNAP_ACTIVE, NULL,
					   errp);
			x->made_snapshot = rc == 0;
		}
		free(chain_id);
	}
	ck_image_free(&img);
	return rc;
}

/* Finds the container record, or makes it when an image is given. */
static int
get_container(struct task_opts *o, struct ctx *x, struct ck_err **errp)
{
	int rc;

	if (o->image != NULL) {
		if (ck_sn_open(&x->sn, &x->st, o->snapshotter, errp) < 0)
			return -1;
		return make_container(o, x, errp);
	}
	/* A namespace that does not exist has no container, and its lock
	 * would make it. */
	if (!ck_path_exists(x->st.ns_dir))
		return ck_container_get(&x->st, o->id, &x->c, errp);
	/* ccontainer rm takes this lock too, so it cannot remove the
	 * snapshot between here and the runtime's init.pid. */
	x->lock = ck_container_lock(&x->st, errp);
	if (x->lock < 0)
		return -1;
	rc = ck_container_get(&x->st, o->id, &x->c, errp);
	if (rc == 0)
		rc = ck_sn_open(&x->sn, &x->st, o->snapshotter ?
				o->snapshotter : x->c.snapshotter, errp);
	if (rc == 0 && x->c.runtime && o->runtime_default)
		o->runtime = x->c.runtime;
	return rc;
}

static int
make_bundle(struct task_opts *o, struct ctx *x, struct ck_err **errp)
{
	struct bundle *b = &x->b;

	if (ck_path_exists(b->dir))
		return ck_err_setc(errp, CK_E_EXISTS, 0, "task '%s' already "
				   "exists; delete it with 'crun-task delete "
				   "%s'", o->id, o->id);
	if (ck_mkdir_p(b->runtime_root, 0700, errp) < 0 ||
	    ck_mkdir_p(b->dir, 0700, errp) < 0)
		return -1;
	if (mkdir(b->rootfs, 0755) < 0 && errno != EEXIST)
		return ck_err_set(errp, errno, "mkdir '%s'", b->rootfs);
	bundle_save_runtime(o, b);
	if (ck_sn_mount_flags(&x->sn, x->c.snapshot_key, b->rootfs,
			      o->rm ? CK_MOUNT_VOLATILE : 0, errp) < 0)
		return -1;
	return write_config(o, x, errp);
}

static void
unmount_rootfs(const struct bundle *b)
{
	if (umount2(b->rootfs, MNT_DETACH) < 0 && errno != EINVAL &&
	    errno != ENOENT)
		ck_log(CK_LOG_WARNING, "unmount '%s': %s", b->rootfs,
		       strerror(errno));
}

/* Removes the task: the runtime's state, the mount and the bundle. */
static void
remove_task(const struct task_opts *o, const struct bundle *b)
{
	runtime_delete(o, b);
	unmount_rootfs(b);
	ck_rm_rf(b->dir, NULL);
}

/* Removes the container's snapshot, unless the snapshot existed before
 * this call made the container. */
static int
remove_snapshot(struct ctx *x, struct ck_err **errp)
{
	int exists;

	if (x->c.snapshot_key == NULL ||
	    !(x->made_snapshot || !x->made_container))
		return 0;
	exists = ck_sn_exists(&x->sn, x->c.snapshot_key, errp);
	if (exists > 0)
		return ck_sn_remove(&x->sn, x->c.snapshot_key, errp);
	return exists;
}

/* Warns that the container stays, with the reason in err. */
static void
warn_kept(const struct ctx *x, struct ck_err *err)
{
	ck_log(CK_LOG_WARNING, "container '%s' is kept: %s; remove it with "
	       "'ccontainer rm %s'", x->c.id, err->msg, x->c.id);
	ck_err_free(&err);
}

static void
remove_container(struct ctx *x)
{
	struct ck_err *err = NULL;

	if (x->c.id == NULL)
		return;
	if (remove_snapshot(x, &err) < 0 ||
	    ck_container_remove(&x->st, x->c.id, &err) < 0)
		warn_kept(x, err);
}

/* The runtime's delete of a stopped task, done without the runtime. */
struct quick_delete {
	const struct task_opts *o;
	const struct bundle *b;
	int rc;
};

static void *
delete_stopped(void *arg)
{
	struct quick_delete *d = arg;

	d->rc = runtime_delete_stopped(d->o, d->b);
	return NULL;
}

/*
 * Removes the task, whose init exited, and its container. Sometimes
 * runc's delete would only remove the task's cgroups (one directory per
 * controller on cgroup v1) and runc's state. Then a thread removes those
 * while the mount and the snapshot go, because no process of the task
 * is left to use them. The bundle goes after runc's state, so that a
 * kill leaves a task that crun-task delete finds.
 */
static void
remove_task_container(const struct task_opts *o, struct ctx *x)
{
	struct quick_delete d = { .o = o, .b = &x->b, .rc = -1 };
	struct ck_err *err = NULL;
	pthread_t t;
	int snapshot_gone;

	if (!x->spec_plain || strcmp(o->runtime, "runc") != 0 ||
	    pthread_create(&t, NULL, delete_stopped, &d) != 0) {
		remove_task(o, &x->b);
		remove_container(x);
		return;
	}
	unmount_rootfs(&x->b);
	snapshot_gone = x->c.id != NULL && remove_snapshot(x, &err) == 0;
	pthread_join(t, NULL);
	if (d.rc < 0)
		runtime_delete(o, &x->b);
	ck_rm_rf(x->b.dir, NULL);
	if (snapshot_gone && ck_container_remove(&x->st, x->c.id, &err) < 0)
		snapshot_gone = 0;
	if (!snapshot_gone && x->c.id != NULL)
		warn_kept(x, err);
}

static enum stdio_mode
stdio_mode(const struct task_opts *o, int detach)
{
	if (o->terminal)
		return STDIO_TTY;
	return detach ? STDIO_PIPES : STDIO_INHERIT;
}

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

/* Holds back the signals that stop crun-task while it prepares a task,
 * so a signal cannot leave half of it behind. */
static void
hold_signals(sigset_t *set)
{
	size_t i;

	sigemptyset(set);
	for (i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		sigaddset(set, stop_signals[i]);
	sigprocmask(SIG_BLOCK, set, NULL);
}

/* Returns a stop signal that arrived meanwhile, or 0. */
static int
signal_pending(void)
{
	sigset_t pending;
	size_t i;

	sigpending(&pending);
	for (i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		if (sigismember(&pending, stop_signals[i]))
			return stop_signals[i];
	return 0;
}

/* Waits for the exit status on the sync pipe, forwarding signals. */
static int
wait_inherit(int sync_fd, pid_t init)
{
	struct signalfd_siginfo si;
	struct pollfd p[2];
	sigset_t set;
	int sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	for (;;) {
		p[0] = (struct pollfd){ .fd = sync_fd, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents & POLLIN &&
		    read(sfd, &si, sizeof(si)) == sizeof(si))
			kill(init, (int)si.ssi_signo);
		if (p[0].revents & (POLLIN | POLLHUP))
			break;
	}
	close(sfd);
	return shim_read_exit(sync_fd);
}

/* Runs the task's shim and, unless detached, stays attached until the
 * task exits; returns its exit status, or 0 when detached. */
static int
launch(struct task_opts *o, struct ctx *x, int start, int detach,
       int *code, struct ck_err **errp)
{
	struct shim_start how = { .mode = stdio_mode(o, detach),
				  .client_fd = -1 };
	struct termios saved;
	int pair[2] = { -1, -1 }, sync_fd = -1, status, raw = 0;
	pid_t init;

	if (!detach && how.mode == STDIO_TTY) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
			       pair) < 0)
			return ck_err_set(errp, errno, "socketpair");
		how.client_fd = pair[1];
	}
	init = shim_spawn(o, &x->b, &how, start, &sync_fd, code, errp);
	x->started = init > 0;
	ck_unlock(x->lock);
	x->lock = -1;
	if (init < 0 || detach) {
		if (pair[0] >= 0)
			close(pair[0]);
		if (sync_fd >= 0)
			close(sync_fd);
		return init < 0 ? -1 : 0;
	}
	if (how.mode == STDIO_TTY) {
		raw = console_raw(&saved);
		status = client_attach(pair[0], 1, 1, init);
		if (raw)
			console_restore(&saved);
		close(pair[0]);
	} else {
		status = wait_inherit(sync_fd, init);
	}
	close(sync_fd);
	if (status < 0 && read_status_file(&x->b, &status) < 0)
		return ck_err_set(errp, 0, "lost the task: its shim exited "
				  "without an exit status");
	return status;
}

/* Runs the task of `run`, or of `start` on a container without a task;
 * verb names the command in errors. */
static int
run(struct task_opts *o, const char *verb, struct ck_err **errp)
{
	struct ctx x;
	sigset_t held;
	int status = -1, code = EXIT_TASK_FAILED, have = 0, bundled = 0, sig;
	int drop_task, drop_container;

	hold_signals(&held);
	if (ctx_open(&x, o, errp) < 0)
		return -EXIT_TASK_FAILED;
	have = get_container(o, &x, errp) == 0;
	if (have && !ck_path_exists(x.b.dir)) {
		bundled = 1;
		if (make_bundle(o, &x, errp) < 0) {
			/* the error is set */
		} else if ((sig = signal_pending()) != 0) {
			ck_err_set(errp, 0, "interrupted by signal %d before "
				   "the task started", sig);
			code = 128 + sig;
		} else {
			status = launch(o, &x, 1, o->detach, &code, errp);
		}
	} else if (have) {
		make_bundle(o, &x, errp);
	}
	/* Undo only what this call made: a task or container that
	 * existed before belongs to someone else. */
	drop_task = bundled && (status < 0 || !o->detach);
	/* A task whose shim was lost has run: its container stays,
	 * with what it wrote, unless --rm was given. */
	drop_container = (status < 0 && x.made_container && !x.started) ||
		(o->rm && !o->detach && (status >= 0 || x.started));
	if (drop_task && drop_container && status >= 0) {
		remove_task_container(o, &x);
	} else {
		if (drop_task)
			remove_task(o, &x.b);
		if (drop_container)
			remove_container(&x);
	}
	if (status < 0)
		ck_err_wrap(errp, "%s container '%s'", verb, o->id);
	ctx_close(&x);
	return status < 0 ? -code : status;
}

int
task_run(struct task_opts *o, struct ck_err **errp)
{
	return run(o, "run", errp);
}

int
task_create(struct task_opts *o, struct ck_err **errp)
{
	struct ctx x;
	int status = -1, code = EXIT_TASK_FAILED, have;

	if (ctx_open(&x, o, errp) < 0)
		return -EXIT_TASK_FAILED;
	have = get_container(o, &x, errp) == 0;
	if (have && ck_path_exists(x.b.dir)) {
		make_bundle(o, &x, errp);
	} else if (have) {
		if (make_bundle(o, &x, errp) == 0)
			status = launch(o, &x, 0, 1, &code, errp);
		if (status < 0)
			remove_task(o, &x.b);
	}
	if (status < 0 && x.made_container)
		remove_container(&x);
	if (status < 0)
		ck_err_wrap(errp, "create task '%s'", o->id);
	ctx_close(&x);
	return status < 0 ? -code : 0;
}

/* Attaches and waits until the shim confirms it. */
static int
attach_confirmed(int fd)
{
	char buf[FRAME_MAX];
	size_t len;

	if (frame_send(fd, FRAME_ATTACH, NULL, 0) < 0)
		return -1;
	return frame_recv(fd, buf, &len) == FRAME_ATTACHED ? 0 : -1;
}

/* Starts a created task, attached unless detached. */
static int
start_created(struct task_opts *o, struct ctx *x, struct ck_err **errp)
{
	struct termios saved;
	pid_t init = read_pid_file(&x->b, "init.pid");
	int fd = -1, status = 0, raw = 0, tty;
	char *cfg = bundle_path(&x->b, "config.json");
	json_t *spec = ck_json_load_regular(cfg, NULL);

	free(cfg);
	tty = json_is_true(json_object_get(json_object_get(spec, "process"),
					   "terminal"));
	json_decref(spec);
	if (!o->detach) {
		fd = shim_connect(&x->b, errp);
		if (fd < 0)
			return -1;
		/* Attached before the start, so no output is missed. */
		if (attach_confirmed(fd) < 0) {
			close(fd);
			return ck_err_set(errp, errno, "attach to task '%s'",
					  o->id);
		}
	}
	if (runtime_start(o, &x->b, errp) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (fd < 0)
		return 0;
	if (tty)
		raw = console_raw(&saved);
	status = client_attach(fd, tty, 1, init);
	if (raw)
		console_restore(&saved);
	close(fd);
	if (status < 0 && read_status_file(&x->b, &status) < 0)
		return ck_err_set(errp, 0, "lost the task: its shim exited");
	return status;
}

int
task_start(struct task_opts *o, struct ck_err **errp)
{
	struct ctx x;
	char *state;
	int status;

	if (ctx_open(&x, o, errp) < 0)
		return -EXIT_TASK_FAILED;
	if (!ck_path_exists(x.b.dir)) {
		/* start alone creates the task as well, as run ID does. */
		ctx_close(&x);
		o->image = NULL;
		return run(o, "start", errp);
	}
	state = shim_alive(&x.b) ? runtime_status(o, &x.b, NULL) : NULL;
	if (state == NULL || strcmp(state, "created") != 0) {
		ck_err_setc(errp, CK_E_INVALID, 0, "task '%s' is %s, not "
			    "created; only a created task can be started",
			    o->id, state ? state : "not running");
		free(state);
		ctx_close(&x);
		return -EXIT_TASK_FAILED;
	}
	free(state);
	status = start_created(o, &x, errp);
	if (status >= 0 && !o->detach && o->rm) {
		remove_task(o, &x.b);
		if (ck_container_get(&x.st, o->id, &x.c, NULL) == 0 &&
		    ck_sn_open(&x.sn, &x.st, x.c.snapshotter, NULL) == 0)
			remove_container(&x);
	}
	ctx_close(&x);
	return status < 0 ? -EXIT_TASK_FAILED : status;
}

/* Waits up to 5 s for the task's shim to exit; returns whether it did. */
static int
wait_shim_exit(const struct bundle *b)
{
	int i;

	for (i = 0; i < 100 && shim_alive(b); i++)
		usleep(50000);
	return !shim_alive(b);
}

/* Kills a running task for delete --force and waits for its shim to
 * record the exit. */
static int
force_stop(const struct task_opts *o, const struct bundle *b)
{
	const char *args[] = { "kill", "--all", o->id, "KILL", NULL };

	runtime_call(o, b, args, 1);
	if (wait_shim_exit(b))
		return 0;
	ck_log(CK_LOG_WARNING, "task '%s': the shim did not exit", o->id);
	return -1;
}

/* Kills the runtime of a task that is starting, so that its shim reaps
 * what the runtime started and exits. If the shim does not exit, its
 * whole process group is killed. Then removes the task's cgroups, which
 * the runtime made and no runtime state names yet. */
static void
kill_starting(const struct bundle *b)
{
	pid_t shim = read_pid_file(b, "shim.pid");
	/* Read first: the crun-task that started the task removes the
	 * bundle once its shim is gone. */
	char *cgroups = runtime_spec_cgroups(b);

	if (shim <= 0 || kill_children(shim) == 0 || !wait_shim_exit(b)) {
		if (shim > 0)
			kill(-shim, SIGKILL);
		wait_shim_exit(b);
	}
	runtime_remove_cgroups(cgroups);
	free(cgroups);
}

int
task_delete(struct task_opts *o, struct ck_err **errp)
{
	struct ctx x;
	char *state = NULL;
	int rc = 0, status;

	if (ctx_open(&x, o, errp) < 0)
		return -1;
	if (!ck_path_exists(x.b.dir)) {
		rc = ck_err_setc(errp, CK_E_NOTFOUND, 0, "task '%s' not found "
				 "in namespace '%s'", o->id, x.st.ns);
		goto out;
	}
	/* runc state reports whether the task runs, also when its shim
	 * has gone. */
	state = runtime_status(o, &x.b, NULL);
	/* No runtime state, a live shim and no exit status: the runtime
	 * is still creating the task, for example in a slow hook. */
	if (state == NULL && shim_alive(&x.b) &&
	    read_status_file(&x.b, &status) < 0)
		state = ck_xstrdup("starting");
	if (state && strcmp(state, "stopped") != 0 && !o->force) {
		rc = ck_err_setc(errp, CK_E_BUSY, 0, "task '%s' is %s; stop "
				 "it first or use --force", o->id, state);
		goto out;
	}
	if (state && strcmp(state, "starting") == 0)
		kill_starting(&x.b);
	else if (state && strcmp(state, "stopped") != 0)
		force_stop(o, &x.b);
	remove_task(o, &x.b);
out:
	free(state);
	ctx_close(&x);
	return rc;
}
