/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crun-task wait, kill, ls, ps, pause, resume, exec, attach and metrics:
 * the commands that work on a task that exists.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "container.h"
#include "task.h"
#include "util.h"

/* Opens the store only to learn the namespace, and the task's bundle. */
static int
find_task(struct task_opts *o, struct bundle *b, char **ns,
	  struct ck_err **errp)
{
	struct ck_store st;

	if (ck_container_id_check(o->id, errp) < 0 ||
	    ck_store_open_existing(&st, o->root, o->ns, errp) < 0)
		return -1;
	bundle_init(b, st.ns, o->id);
	if (ns)
		*ns = ck_xstrdup(st.ns);
	if (!ck_path_exists(b->dir)) {
		ck_err_setc(errp, CK_E_NOTFOUND, 0, "task '%s' not found in "
			    "namespace '%s'", o->id, st.ns);
		bundle_free(b);
		ck_store_close(&st);
		return -1;
	}
	ck_store_close(&st);
	bundle_load_runtime(o, b);
	return 0;
}

int
task_wait(struct task_opts *o, struct ck_err **errp)
{
	struct bundle b;
	int status;

	if (find_task(o, &b, NULL, errp) < 0)
		return -1;
	status = task_wait_status(&b, 1, errp);
	if (status < 0) {
		char *state = runtime_status(o, &b, NULL);

		if (state)
			ck_err_wrap(errp, "task '%s' is %s", o->id, state);
		free(state);
	} else {
		printf("%d\n", status);
	}
	bundle_free(&b);
	return status < 0 ? -1 : 0;
}

int
task_parse_signal(const char *s)
{
	static const struct { const char *name; int sig; } names[] = {
		{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
		{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
		{ "TERM", SIGTERM }, { "STOP", SIGSTOP }, { "CONT", SIGCONT },
		{ "ALRM", SIGALRM }, { "WINCH", SIGWINCH },
	};
	char *end;
	long n;
	size_t i;

	if (ck_has_prefix(s, "SIG"))
		s += 3;
	n = strtol(s, &end, 10);
	if (*s && *end == '\0')
		return n > 0 && n < 65 ? (int)n : -1;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].sig;
	return -1;
}

int
task_kill(struct task_opts *o, struct ck_err **errp)
{
	const char *args[6];
	char num[16];
	struct bundle b;
	int sig = task_parse_signal(o->signal ? o->signal : "TERM");
	size_t n = 0;
	int rc = 0;

	if (sig < 0)
		return ck_err_setc(errp, CK_E_INVALID, 0, "invalid signal "
				   "'%s': use a name such as TERM or a number",
				   o->signal);
	if (find_task(o, &b, NULL, errp) < 0)
		return -1;
	snprintf(num, sizeof(num), "%d", sig);
	args[n++] = "kill";
	if (o->all)
		args[n++] = "--all";
	args[n++] = o->id;
	args[n++] = num;
	args[n] = NULL;
	if (runtime_call(o, &b, args, 1) != 0) {
		char *msg = runtime_error(&b);

		rc = ck_err_set(errp, 0, "kill task '%s': %s", o->id,
				msg ? msg : "the runtime failed");
		free(msg);
	}
	bundle_free(&b);
	return rc;
}

/* One task's line for ls: status from its exit file, else the runtime. */
static json_t *
task_info(const struct task_opts *o, const char *ns, const char *id)
{
	struct task_opts one = *o;
	struct bundle b;
	char *state = NULL;
	pid_t pid;
	int status = -1;
	json_t *j;

	one.id = id;
	bundle_init(&b, ns, id);
	bundle_load_runtime(&one, &b);
	pid = read_pid_file(&b, "init.pid");
	if (read_status_file(&b, &status) == 0)
		state = ck_xstrdup("stopped");
	else
		state = runtime_status(&one, &b, NULL);
	j = json_pack("{s:s, s:i, s:s}", "id", id, "pid", pid > 0 ? pid : 0,
		      "status", state ? state : "unknown");
	if (status >= 0)
		json_object_set_new(j, "exit_status", json_integer(status));
	if (status < 0 && !shim_alive(&b))
		json_object_set_new(j, "shim", json_string("gone"));
	free(state);
	bundle_free(&b);
	return j;
}

int
task_list(const struct task_opts *o, struct ck_err **errp)
{
	struct ck_store st;
	struct dirent *de;
	char *dir;
	DIR *d;

	/* A task needs a container record, so a store that does not exist
	 * has no tasks. */
	if (ck_store_open_existing(&st, o->root, o->ns, errp) < 0)
		return ck_cli_list_without_store(errp) ? 0 : -1;
	dir = ck_asprintf("%s/%s", ck_state_dir(), st.ns);
	d = opendir(dir);
	while (d && (de = readdir(d)) != NULL) {
		json_t *j;

		if (de->d_name[0] == '.' ||
		    ck_container_id_check(de->d_name, NULL) < 0)
			continue;
		if (o->quiet) {
			printf("%s\n", de->d_name);
			continue;
		}
		j = task_info(o, st.ns, de->d_name);
		if (o->json)
			ck_cli_print_json(j);
		else if (json_object_get(j, "exit_status"))
			printf("%s\t%d\t%s\t%d\n", de->d_name,
			       (int)json_integer_value(json_object_get(j, "pid")),
			       json_string_value(json_object_get(j, "status")),
			       (int)json_integer_value(json_object_get(j,
				       "exit_status")));
		else
			printf("%s\t%d\t%s\t-\n", de->d_name,
			       (int)json_integer_value(json_object_get(j, "pid")),
			       json_string_value(json_object_get(j, "status")));
		json_decref(j);
	}
	if (d)
		closedir(d);
	free(dir);
	ck_store_close(&st);
	return 0;
}

static void
print_process(int pid)
{
	char *path = ck_asprintf("/proc/%d/cmdline", pid);
	char *data = NULL;
	size_t len = 0, i;

	if (ck_read_file(path, 4096, &data, &len, NULL) < 0 || len == 0) {
		free(data);
		data = ck_xstrdup("?");
		len = 2;
	}
	for (i = 0; i + 1 < len; i++)
		if (data[i] == '\0')
			data[i] = ' ';
	printf("%d\t%s\n", pid, data);
	free(data);
	free(path);
}

int
task_ps(struct task_opts *o, struct ck_err **errp)
{
	const char *args[] = { "ps", "--format", "json", o->id, NULL };
	struct bundle b;
	char *out;
	json_t *pids;
	size_t i;

	if (find_task(o, &b, NULL, errp) < 0)
		return -1;
	out = runtime_output(o, &b, args);
	pids = out ? json_loads(out, 0, NULL) : NULL;
	free(out);
	if (!json_is_array(pids)) {
		json_decref(pids);
		bundle_free(&b);
		return ck_err_set(errp, 0, "list processes of task '%s': the "
				  "runtime failed; is it running?", o->id);
	}
	for (i = 0; i < json_array_size(pids); i++)
		print_process((int)json_integer_value(json_array_get(pids, i)));
	json_decref(pids);
	bundle_free(&b);
	return 0;
}

int
task_pause(struct task_opts *o, int pause, struct ck_err **errp)
{
	const char *args[] = { pause ? "pause" : "resume", o->id, NULL };
	struct bundle b;
	int rc = 0;

	if (find_task(o, &b, NULL, errp) < 0)
		return -1;
	if (runtime_call(o, &b, args, 1) != 0) {
		char *msg = runtime_error(&b);

		rc = ck_err_set(errp, 0, "%s task '%s': %s", args[0], o->id,
				msg ? msg : "the runtime failed");
		free(msg);
	}
	bundle_free(&b);
	return rc;
}

/* The process of an exec: the task's own process settings (user, env,
 * capabilities, cwd) with the new arguments. */
static int
write_process(struct task_opts *o, const struct bundle *b, const char *path,
	      struct ck_err **errp)
{
	char *cfg = bundle_path(b, "config.json");
	json_t *spec = ck_json_load_regular(cfg, NULL);
	json_t *proc = json_deep_copy(json_object_get(spec, "process"));
	json_t *args = json_array(), *env;
	char *text;
	size_t i;
	int rc;

	free(cfg);
	json_decref(spec);
	if (!json_is_object(proc))
		return ck_err_set(errp, 0, "task '%s' has no readable "
				  "config.json", o->id);
	for (i = 0; o->args[i]; i++)
		json_array_append_new(args, json_string(o->args[i]));
	json_object_set_new(proc, "args", args);
	json_object_set_new(proc, "terminal", json_boolean(o->spec.tty));
	env = json_object_get(proc, "env");
	for (i = 0; o->spec.env && o->spec.env[i]; i++)
		json_array_append_new(env, json_string(o->spec.env[i]));
	if (o->spec.cwd)
		json_object_set_new(proc, "cwd", json_string(o->spec.cwd));
	text = json_dumps(proc, JSON_COMPACT);
	rc = ck_write_file_replace(path, text, strlen(text), 0600, errp);
	free(text);
	json_decref(proc);
	return rc;
}

int
task_exec(struct task_opts *o, struct ck_err **errp)
{
	const char *args[10];
	struct bundle b;
	char *name, *path;
	size_t n = 0;
	int status;

	if (find_task(o, &b, NULL, errp) < 0)
		return -EXIT_TASK_FAILED;
	name = ck_asprintf("exec-%s.json", o->exec_id);
	path = bundle_path(&b, name);
	free(name);
	status = write_process(o, &b, path, errp);
	if (status == 0) {
		args[n++] = "exec";
		args[n++] = "--process";
		args[n++] = path;
		if (o->spec.tty)
			args[n++] = "--tty";
		args[n++] = o->id;
		args[n] = NULL;
		/* runc exec waits for the process and exits with its
		 * status; its own failures exit 255 and are logged. */
		status = runtime_call(o, &b, args, 0);
		status = WIFSIGNALED(status) ? 128 + WTERMSIG(status) :
			WEXITSTATUS(status);
		if (status == 255) {
			char *msg = runtime_error(&b);

			if (msg) {
				ck_err_set(errp, 0, "exec in task '%s': %s",
					   o->id, msg);
				status = -runtime_exit_code(msg);
			}
			free(msg);
		}
	} else {
		status = -EXIT_TASK_FAILED;
	}
	unlink(path);
	free(path);
	bundle_free(&b);
	return status;
}

int
task_attach(struct task_opts *o, struct ck_err **errp)
{
	struct termios saved;
	struct bundle b;
	char *cfg;
	json_t *spec;
	int fd, tty, raw = 0, status;

	if (find_task(o, &b, NULL, errp) < 0)
		return -EXIT_TASK_FAILED;
	cfg = bundle_path(&b, "config.json");
	spec = ck_json_load_regular(cfg, NULL);
	free(cfg);
	tty = json_is_true(json_object_get(json_object_get(spec, "process"),
					   "terminal"));
	json_decref(spec);
	fd = shim_connect(&b, errp);
	if (fd < 0) {
		status = task_wait_status(&b, 0, NULL);
		if (status >= 0)
			ck_err_set(errp, 0, "task '%s' has exited with status "
				   "%d", o->id, status);
		bundle_free(&b);
		return -EXIT_TASK_FAILED;
	}
	if (tty)
		raw = console_raw(&saved);
	status = client_attach(fd, tty, 1, read_pid_file(&b, "init.pid"));
	if (raw)
		console_restore(&saved);
	close(fd);
	if (status < 0)
		ck_err_set(errp, 0, "task '%s': the shim went away", o->id);
	bundle_free(&b);
	return status < 0 ? -EXIT_TASK_FAILED : status;
}

/* The cgroup directory of pid for a v1 controller, or for v2 with
 * controller NULL. */
static char *
cgroup_dir(pid_t pid, const char *controller)
{
	char *path = ck_asprintf("/proc/%d/cgroup", (int)pid);
	char *line = NULL, *dir = NULL;
	size_t cap = 0;
	FILE *f = fopen(path, "r");

	while (f && getline(&line, &cap, f) > 0 && dir == NULL) {
		char *ctl = strchr(line, ':'), *p;

		if (ctl == NULL || (p = strchr(ctl + 1, ':')) == NULL)
			continue;
		*p++ = '\0';
		p[strcspn(p, "\n")] = '\0';
		if (controller == NULL && strcmp(ctl + 1, "") == 0)
			dir = ck_asprintf("/sys/fs/cgroup/unified%s", p);
		else if (controller && strstr(ctl + 1, controller))
			dir = ck_asprintf("/sys/fs/cgroup/%s%s", controller,
					  p);
	}
	if (f)
		fclose(f);
	free(line);
	free(path);
	return dir;
}

static json_t *
cgroup_value(pid_t pid, const char *controller, const char *file)
{
	char *dir = cgroup_dir(pid, controller);
	char *path = dir ? ck_asprintf("%s/%s", dir, file) : NULL;
	char *data = NULL;
	json_t *v = json_null();

	if (path && ck_read_file(path, 4096, &data, NULL, NULL) == 0) {
		char *end;
		long long n = strtoll(data, &end, 10);

		if (end != data)
			v = json_integer(n);
	}
	free(data);
	free(path);
	free(dir);
	return v;
}

int
task_metrics(struct task_opts *o, struct ck_err **errp)
{
	struct bundle b;
	pid_t init;
	json_t *j;

	if (find_task(o, &b, NULL, errp) < 0)
		return -1;
	init = read_pid_file(&b, "init.pid");
	if (init <= 0 || kill(init, 0) < 0) {
		bundle_free(&b);
		return ck_err_set(errp, 0, "task '%s' is not running", o->id);
	}
	j = json_pack("{s:s, s:i, s:{s:o}, s:{s:o, s:o}, s:{s:o, s:o}}",
		      "id", o->id, "pid", (int)init,
		      "cpu", "usage_ns", cgroup_value(init, "cpuacct",
						      "cpuacct.usage"),
		      "memory", "usage_bytes", cgroup_value(init, "memory",
						"memory.usage_in_bytes"),
		      "limit_bytes", cgroup_value(init, "memory",
						  "memory.limit_in_bytes"),
		      "pids", "current", cgroup_value(init, "pids",
						      "pids.current"),
		      "limit", cgroup_value(init, "pids", "pids.max"));
	ck_cli_print_json(j);
	json_decref(j);
	bundle_free(&b);
	return 0;
}
