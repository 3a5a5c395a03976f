/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OCI runtime's command line: create, start, state and delete. Each
 * call logs to the task's runtime.log in JSON, from which errors are
 * read back for messages and exit codes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "task.h"
#include "util.h"

char *
bundle_path(const struct bundle *b, const char *name)
{
	return ck_asprintf("%s/%s", b->dir, name);
}

void
bundle_save_runtime(const struct task_opts *o, const struct bundle *b)
{
	char *path = bundle_path(b, "runtime");

	ck_write_file_replace(path, o->runtime, strlen(o->runtime), 0644,
			      NULL);
	free(path);
}

void
bundle_load_runtime(struct task_opts *o, const struct bundle *b)
{
	char *path = bundle_path(b, "runtime");
	char *data = NULL;

	if (o->runtime_default &&
	    ck_read_file(path, 4096, &data, NULL, NULL) == 0 && *data)
		o->runtime = data;	/* kept for the process's life */
	else
		free(data);
	free(path);
}

static pid_t
spawn(char *const argv[], int quiet, int out_fd)
{
	sigset_t none;
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (out_fd >= 0)
		dup2(out_fd, STDOUT_FILENO);
	if (quiet) {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (fd >= 0) {
			if (out_fd < 0)
				dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
	}
	execvp(argv[0], argv);
	fprintf(stderr, "%s: exec '%s': %s\n", ck_log_tool(), argv[0],
		strerror(errno));
	_exit(EXIT_NOT_FOUND);
}

static int
wait_child(pid_t pid)
{
	int status;

	if (pid < 0 || ck_wait_pid(pid, &status) < 0)
		return -1;
	return status;
}

static int
call(const struct task_opts *o, const struct bundle *b,
     const char *const *args, int quiet, int out_fd)
{
	char *log = ck_path_exists(b->dir) ? bundle_path(b, "runtime.log") :
		ck_xstrdup("/dev/null");
	const char *argv[24];
	size_t n = 0;
	int status;

	argv[n++] = o->runtime;
	argv[n++] = "--root";
	argv[n++] = b->runtime_root;
	argv[n++] = "--log";
	argv[n++] = log;
	argv[n++] = "--log-format";
	argv[n++] = "json";
	for (; *args && n < 23; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	status = wait_child(spawn((char *const *)argv, quiet, out_fd));
	free(log);
	return status;
}

int
runtime_call(const struct task_opts *o, const struct bundle *b,
	     const char *const *args, int quiet)
{
	return call(o, b, args, quiet, -1);
}

char *
runtime_error(const struct bundle *b)
{
	char *path = bundle_path(b, "runtime.log");
	char *data = NULL, *line, *save = NULL, *msg = NULL;

	if (ck_read_file(path, 1 << 20, &data, NULL, NULL) == 0) {
		for (line = strtok_r(data, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			json_t *j = json_loads(line, 0, NULL);
			const char *lvl = json_string_value(
				json_object_get(j, "level"));
			const char *m = json_string_value(
				json_object_get(j, "msg"));

			if (lvl && m && strcmp(lvl, "error") == 0) {
				free(msg);
				msg = ck_xstrdup(m);
			}
			json_decref(j);
		}
	}
	free(data);
	free(path);
	return msg;
}

int
runtime_exit_code(const char *msg)
{
	if (msg && (strstr(msg, "executable file not found") ||
		    strstr(msg, "no such file or directory")))
		return EXIT_NOT_FOUND;
	if (msg && strstr(msg, "permission denied"))
		return EXIT_CANNOT_INVOKE;
	return EXIT_TASK_FAILED;
}

pid_t
read_pid_file(const struct bundle *b, const char *name)
{
	char *path = bundle_path(b, name);
	char *data = NULL;
	pid_t pid = -1;

	if (ck_read_file(path, 64, &data, NULL, NULL) == 0)
		pid = (pid_t)atoi(data);
	free(data);
	free(path);
	return pid > 0 ? pid : -1;
}

static int
runtime_failed(const struct bundle *b, const char *step, struct ck_err **errp)
{
	char *msg = runtime_error(b);

	ck_err_setc(errp, runtime_exit_code(msg), 0, "runtime %s failed: %s",
		    step, msg ? msg : "no message in the runtime's log");
	free(msg);
	return -1;
}

pid_t
runtime_create(const struct task_opts *o, const struct bundle *b,
	       const char *console_socket, int start, struct ck_err **errp)
{
	char *pidfile = bundle_path(b, "init.pid");
	const char *args[11] = { start ? "run" : "create", "--bundle", b->dir,
				 "--pid-file", pidfile };
	size_t n = 5;
	pid_t init;

	/* run --detach is create and start in one call of the runtime,
	 * one start of its binary fewer. */
	if (start)
		args[n++] = "--detach";
	if (console_socket) {
		args[n++] = "--console-socket";
		args[n++] = console_socket;
	}
	args[n++] = o->id;
	args[n] = NULL;
	if (call(o, b, args, 0, -1) != 0) {
		free(pidfile);
		runtime_failed(b, args[0], errp);
		return -1;
	}
	free(pidfile);
	init = read_pid_file(b, "init.pid");
	if (init < 0)
		ck_err_set(errp, 0, "the runtime wrote no init pid");
	return init;
}

int
runtime_start(const struct task_opts *o, const struct bundle *b,
	      struct ck_err **errp)
{
	const char *args[] = { "start", o->id, NULL };

	if (call(o, b, args, 0, -1) == 0)
		return 0;
	return runtime_failed(b, "start", errp);
}

/* Returns whether runc's saved config leaves `runc delete` nothing to
 * do but remove the cgroups and the state directory. That needs no
 * poststop hooks, no systemd unit, no Intel RDT group, and a PID
 * namespace of the container's own, so that init's exit ended every
 * process in it. */
static int
runc_state_plain(json_t *state)
{
	json_t *config = json_object_get(state, "config");
	json_t *poststop = json_object_get(json_object_get(config, "Hooks"),
					   "poststop");
	json_t *ns, *v;
	const char *rdt = json_string_value(json_object_get(state,
							    "intel_rdt_path"));
	size_t i;
	int own_pid = 0;

	if (!json_is_object(config) || json_array_size(poststop) > 0 ||
	    json_is_true(json_object_get(json_object_get(config, "cgroups"),
					 "Systemd")) || (rdt && *rdt))
		return 0;
	ns = json_object_get(config, "namespaces");
	json_array_foreach(ns, i, v) {
		const char *type = json_string_value(json_object_get(v,
								     "type"));
		const char *path = json_string_value(json_object_get(v,
								     "path"));

		if (type && strcmp(type, "NEWPID") == 0 && (!path || !*path))
			own_pid = 1;
	}
	return own_pid;
}

/* Returns whether runc's delete of a task with this spec has nothing
 * to do once its init exited: the spec's side of runc_state_plain.
 * crun-task never passes runc --systemd-cgroup. */
int
runtime_spec_plain(json_t *spec)
{
	json_t *lx = json_object_get(spec, "linux"), *v;
	size_t i;

	if (json_array_size(json_object_get(json_object_get(spec, "hooks"),
					    "poststop")) > 0 ||
	    json_object_get(lx, "intelRdt") != NULL)
		return 0;
	json_array_foreach(json_object_get(lx, "namespaces"), i, v) {
		const char *type = json_string_value(json_object_get(v,
								     "type"));
		const char *path = json_string_value(json_object_get(v,
								     "path"));

		if (type && strcmp(type, "pid") == 0 && (!path || !*path))
			return 1;
	}
	return 0;
}

/* Deletes a stopped task of runc itself (from PATH: a wrapper given by
 * its path may do more in its delete) without starting runc: removes
 * its cgroups, then its state directory. Returns -1 when
 * runc_state_plain rejects the state or a cgroup stays; runc's own
 * delete is then needed. The caller knows that the task's init exited.
 */
int
runtime_delete_stopped(const struct task_opts *o, const struct bundle *b)
{
	char *dir = ck_asprintf("%s/%s", b->runtime_root, o->id);
	char *path = ck_asprintf("%s/state.json", dir);
	json_t *state = NULL, *v;
	const char *key;
	int rc = -1;

	if (strcmp(o->runtime, "runc") != 0)
		goto out;
	state = ck_json_load_regular(path, NULL);
	if (!runc_state_plain(state) ||
	    !json_is_object(json_object_get(state, "cgroup_paths")))
		goto out;
	json_object_foreach(json_object_get(state, "cgroup_paths"), key, v) {
		const char *cgroup = json_string_value(v);

		if (cgroup == NULL || cgroup[0] != '/' ||
		    strstr(cgroup, "/../") ||
		    (rmdir(cgroup) < 0 && errno != ENOENT))
			goto out;
	}
	rc = ck_rm_rf(dir, NULL);
out:
	json_decref(state);
	free(path);
	free(dir);
	return rc;
}

int
kill_children(pid_t pid)
{
	char *path = ck_asprintf("/proc/%d/task/%d/children", (int)pid,
				 (int)pid);
	FILE *f = fopen(path, "re");
	int child, n = 0;

	while (f && fscanf(f, "%d", &child) == 1)
		if (child > 0 && kill(child, SIGKILL) == 0)
			n++;
	if (f)
		fclose(f);
	free(path);
	return n;
}

/* Returns the directories that the cgroup path names in every cgroup
 * hierarchy mounted here, from /proc/self/mountinfo. */
static char **
cgroup_dirs(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char **dirs = ck_xcalloc(1, sizeof(*dirs)), *line = NULL;
	size_t n = 0, cap = 0;

	/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS... - FSTYPE SOURCE ... */
	while (f && getline(&line, &cap, f) > 0) {
		char point[4096], fstype[64];
		const char *dash = strstr(line, " - ");

		if (dash == NULL ||
		    sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 ||
		    sscanf(dash + 3, "%63s", fstype) != 1 ||
		    (strcmp(fstype, "cgroup") != 0 &&
		     strcmp(fstype, "cgroup2") != 0))
			continue;
		dirs = ck_xrealloc(dirs, (n + 2) * sizeof(*dirs));
		dirs[n++] = ck_asprintf("%s%s", point, path);
		dirs[n] = NULL;
	}
	if (f)
		fclose(f);
	free(line);
	return dirs;
}

char *
runtime_spec_cgroups(const struct bundle *b)
{
	char *config = bundle_path(b, "config.json"), *path = NULL;
	json_t *spec = ck_json_load_regular(config, NULL);
	const char *p = json_string_value(json_object_get(
		json_object_get(spec, "linux"), "cgroupsPath"));

	if (p && p[0] == '/' && !strstr(p, "/.."))
		path = ck_xstrdup(p);
	json_decref(spec);
	free(config);
	return path;
}

void
runtime_remove_cgroups(const char *path)
{
	char **dirs, **d;
	int i;

	if (path == NULL)
		return;
	dirs = cgroup_dirs(path);
	/* A process killed a moment ago may still be leaving. */
	for (d = dirs; *d; d++)
		for (i = 0; i < 20 && rmdir(*d) < 0 && errno == EBUSY; i++)
			usleep(10000);
	ck_strv_free(dirs);
}

void
runtime_delete(const struct task_opts *o, const struct bundle *b)
{
	const char *args[] = { "delete", "--force", o->id, NULL };
	int status;

	if (read_status_file(b, &status) == 0 &&
	    runtime_delete_stopped(o, b) == 0)
		return;
	call(o, b, args, 1, -1);
}

char *
runtime_output(const struct task_opts *o, const struct bundle *b,
	       const char *const *args)
{
	char *path = bundle_path(b, "output.tmp");
	char *data = NULL;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0 && call(o, b, args, 1, fd) != 0) {
		close(fd);
		fd = -1;
	}
	if (fd >= 0) {
		close(fd);
		if (ck_read_file(path, 1 << 20, &data, NULL, NULL) < 0)
			data = NULL;
	}
	unlink(path);
	free(path);
	return data;
}

char *
runtime_status(const struct task_opts *o, const struct bundle *b, pid_t *pid)
{
	const char *args[] = { "state", o->id, NULL };
	char *data = runtime_output(o, b, args), *status = NULL;
	json_t *j = data ? json_loads(data, 0, NULL) : NULL;

	if (json_is_string(json_object_get(j, "status")))
		status = ck_xstrdup(json_string_value(json_object_get(j,
								    "status")));
	if (pid)
		*pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
	json_decref(j);
	free(data);
	return status;
}
