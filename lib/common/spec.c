/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Runtime spec generation. The defaults follow containerd 1.6's
 * populateDefaultUnixSpec and WithDefaultUnixDevices; the image config is
 * applied as WithImageConfig does.
 */
#include <stdlib.h>
#include <string.h>

#include "spec.h"
#include "util.h"

#define DEFAULT_PATH \
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *default_caps[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER",
	"CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
	"CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE", NULL,
};

static const char *masked_paths[] = {
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
	"/proc/sched_debug", "/sys/firmware", "/proc/scsi", NULL,
};

static const char *readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
	"/proc/sysrq-trigger", NULL,
};

static json_t *
strv_json(const char *const *v)
{
	json_t *a = json_array();

	for (; v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

static json_t *
default_mounts(void)
{
	return json_pack(
		"[{s:s,s:s,s:s,s:[sss]},"
		" {s:s,s:s,s:s,s:[ssss]},"
		" {s:s,s:s,s:s,s:[ssssss]},"
		" {s:s,s:s,s:s,s:[sssss]},"
		" {s:s,s:s,s:s,s:[sss]},"
		" {s:s,s:s,s:s,s:[ssss]},"
		" {s:s,s:s,s:s,s:[ssss]}]",
		"destination", "/proc", "type", "proc", "source", "proc",
		"options", "nosuid", "noexec", "nodev",
		"destination", "/dev", "type", "tmpfs", "source", "tmpfs",
		"options", "nosuid", "strictatime", "mode=755", "size=65536k",
		"destination", "/dev/pts", "type", "devpts", "source", "devpts",
		"options", "nosuid", "noexec", "newinstance", "ptmxmode=0666",
		"mode=0620", "gid=5",
		"destination", "/dev/shm", "type", "tmpfs", "source", "shm",
		"options", "nosuid", "noexec", "nodev", "mode=1777",
		"size=65536k",
		"destination", "/dev/mqueue", "type", "mqueue", "source",
		"mqueue", "options", "nosuid", "noexec", "nodev",
		"destination", "/sys", "type", "sysfs", "source", "sysfs",
		"options", "nosuid", "noexec", "nodev", "ro",
		"destination", "/run", "type", "tmpfs", "source", "tmpfs",
		"options", "nosuid", "strictatime", "mode=755", "size=65536k");
}

static json_t *
device_rule(int allow, const char *type, int major, int minor)
{
	json_t *d = json_pack("{s:b, s:s}", "allow", allow, "access", "rwm");

	if (type)
		json_object_set_new(d, "type", json_string(type));
	if (major >= 0)
		json_object_set_new(d, "major", json_integer(major));
	if (minor >= 0)
		json_object_set_new(d, "minor", json_integer(minor));
	return d;
}

/* Denies every device, then allows the ones runc creates in /dev. */
static json_t *
default_devices(void)
{
	static const int allowed[][2] = {
		{ 1, 3 }, { 1, 5 }, { 1, 7 }, { 1, 8 }, { 1, 9 },
		{ 5, 0 }, { 5, 1 }, { 5, 2 }, { 136, -1 },
	};
	json_t *a = json_array();
	size_t i;

	json_array_append_new(a, device_rule(0, NULL, -1, -1));
	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		json_array_append_new(a, device_rule(1, "c", allowed[i][0],
						     allowed[i][1]));
	return a;
}

static json_t *
default_linux(const struct ck_spec_opts *o)
{
	json_t *l = json_object();

	json_object_set_new(l, "maskedPaths", strv_json(masked_paths));
	json_object_set_new(l, "readonlyPaths", strv_json(readonly_paths));
	json_object_set_new(l, "resources",
			    json_pack("{s:o}", "devices", default_devices()));
	json_object_set_new(l, "namespaces", json_pack(
		"[{s:s},{s:s},{s:s},{s:s},{s:s}]", "type", "pid",
		"type", "ipc", "type", "uts", "type", "mount",
		"type", "network"));
	if (o->id)
		json_object_set_new(l, "cgroupsPath", json_sprintf(
			"/ckit/%s/%s", o->ns ? o->ns : "default", o->id));
	return l;
}

static json_t *
default_process(void)
{
	return json_pack(
		"{s:b, s:{s:i,s:i}, s:s, s:{s:o,s:o,s:o},"
		" s:[{s:s,s:i,s:i}], s:b}",
		"terminal", 0, "user", "uid", 0, "gid", 0, "cwd", "/",
		"capabilities", "bounding", strv_json(default_caps),
		"permitted", strv_json(default_caps),
		"effective", strv_json(default_caps),
		"rlimits", "type", "RLIMIT_NOFILE", "hard", 1024, "soft", 1024,
		"noNewPrivileges", 1);
}

/* Sets KEY=VALUE in the env array, replacing an entry with the same key. */
static void
env_set(json_t *env, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
	size_t i;

	for (i = 0; i < json_array_size(env); i++) {
		const char *e = json_string_value(json_array_get(env, i));

		if (e && strncmp(e, kv, klen) == 0 &&
		    (e[klen] == '=' || e[klen] == '\0')) {
			json_array_set_new(env, i, json_string(kv));
			return;
		}
	}
	json_array_append_new(env, json_string(kv));
}

static json_t *
build_env(json_t *cfg, const struct ck_spec_opts *o)
{
	json_t *env = json_array();
	json_t *img = json_object_get(cfg, "Env");
	size_t i;

	json_array_append_new(env, json_string(DEFAULT_PATH));
	for (i = 0; i < json_array_size(img); i++)
		if (json_is_string(json_array_get(img, i)))
			env_set(env, json_string_value(json_array_get(img, i)));
	for (i = 0; o->env && o->env[i]; i++)
		env_set(env, o->env[i]);
	return env;
}

/*
 * Arguments as Docker builds them: Entrypoint then Cmd. Arguments given
 * by the caller replace Cmd and keep Entrypoint; a given entrypoint
 * replaces Entrypoint and drops the image's Cmd.
 */
static json_t *
build_args(json_t *cfg, const struct ck_spec_opts *o, struct ck_err **errp)
{
	json_t *args;
	json_t *ep = json_object_get(cfg, "Entrypoint");
	json_t *cmd = json_object_get(cfg, "Cmd");
	size_t i;

	if ((ep && !json_is_array(ep) && !json_is_null(ep)) ||
	    (cmd && !json_is_array(cmd) && !json_is_null(cmd))) {
		ck_err_setc(errp, CK_E_INVALID, 0, "invalid image config: "
			    "Entrypoint and Cmd must be arrays of strings");
		return NULL;
	}
	args = json_array();
	if (o->entrypoint) {
		if (*o->entrypoint)
			json_array_append_new(args,
					      json_string(o->entrypoint));
		cmd = NULL;
	} else {
		for (i = 0; i < json_array_size(ep); i++)
			json_array_append(args, json_array_get(ep, i));
	}
	if (o->args) {
		for (i = 0; o->args[i]; i++)
			json_array_append_new(args, json_string(o->args[i]));
	} else {
		for (i = 0; i < json_array_size(cmd); i++)
			json_array_append(args, json_array_get(cmd, i));
	}
	/* An entrypoint of [""] means none. */
	while (json_array_size(args) > 0 &&
	       strcmp(json_string_value(json_array_get(args, 0)) ?: "", "") ==
		       0)
		json_array_remove(args, 0);
	if (json_array_size(args) == 0) {
		json_decref(args);
		ck_err_setc(errp, CK_E_INVALID, 0, "no command to run: the "
			    "image has neither Entrypoint nor Cmd, and none "
			    "was given");
		return NULL;
	}
	return args;
}

static int
set_user(json_t *proc, const char *rootfs, const char *user,
	 struct ck_err **errp)
{
	struct ck_user u;
	json_t *ju, *groups;
	size_t i;

	if (ck_user_resolve(rootfs, user, &u, errp) < 0)
		return -1;
	ju = json_pack("{s:I, s:I}", "uid", (json_int_t)u.uid, "gid",
		       (json_int_t)u.gid);
	if (u.n_groups > 0) {
		groups = json_array();
		for (i = 0; i < u.n_groups; i++)
			json_array_append_new(groups,
					      json_integer(u.groups[i]));
		json_object_set_new(ju, "additionalGids", groups);
	}
	json_object_set_new(proc, "user", ju);
	ck_user_free(&u);
	return 0;
}

static void
set_annotations(json_t *spec, json_t *cfg)
{
	json_t *labels = json_object_get(cfg, "Labels");
	json_t *sig = json_object_get(cfg, "StopSignal");
	json_t *ann = json_object();
	const char *k;
	json_t *v;

	json_object_foreach(labels, k, v)
		if (json_is_string(v))
			json_object_set(ann, k, v);
	if (json_is_string(sig))
		json_object_set(ann, "org.opencontainers.image.stopSignal",
				sig);
	if (json_object_size(ann) > 0)
		json_object_set_new(spec, "annotations", ann);
	else
		json_decref(ann);
}

static int
apply_process(json_t *proc, json_t *cfg, const char *rootfs,
	      const struct ck_spec_opts *o, struct ck_err **errp)
{
	json_t *wd = json_object_get(cfg, "WorkingDir");
	json_t *user = json_object_get(cfg, "User");
	json_t *args = build_args(cfg, o, errp);

	if (args == NULL)
		return -1;
	json_object_set_new(proc, "args", args);
	json_object_set_new(proc, "env", build_env(cfg, o));
	if (o->cwd)
		json_object_set_new(proc, "cwd", json_string(o->cwd));
	else if (json_is_string(wd) && json_string_value(wd)[0] == '/')
		json_object_set(proc, "cwd", wd);
	else if (json_is_string(wd) && *json_string_value(wd))
		/* The runtime takes only absolute paths; a relative
		 * WorkingDir is relative to the root. */
		json_object_set_new(proc, "cwd", json_sprintf("/%s",
				    json_string_value(wd)));
	if (o->tty)
		json_object_set_new(proc, "terminal", json_true());
	return set_user(proc, rootfs, o->user ? o->user :
			json_is_string(user) ? json_string_value(user) : "",
			errp);
}

/* Ports and volumes belong to the network and storage setup, so the
 * spec leaves them out; -v reports them. */
static void
report_unused(json_t *cfg)
{
	const char *name[] = { "ExposedPorts", "Volumes" };
	const char *what[] = { "exposes port", "declares volume" };
	const char *k;
	json_t *v;
	size_t i;

	for (i = 0; i < 2; i++)
		json_object_foreach(json_object_get(cfg, name[i]), k, v)
			ck_log(CK_LOG_INFO, "image %s '%s'; the spec does "
			       "not act on it", what[i], k);
}

json_t *
ck_spec_build(json_t *image, const char *rootfs, const struct ck_spec_opts *o,
	      struct ck_err **errp)
{
	json_t *cfg = json_object_get(image, "config");
	json_t *spec, *proc;

	proc = default_process();
	if (apply_process(proc, cfg, rootfs, o, errp) < 0) {
		json_decref(proc);
		return NULL;
	}
	spec = json_pack("{s:s, s:o, s:{s:s, s:b}, s:o, s:o}",
			 "ociVersion", "1.0.2-dev", "process", proc,
			 "root", "path", o->root_path ? o->root_path : "rootfs",
			 "readonly", o->read_only, "mounts", default_mounts(),
			 "linux", default_linux(o));
	if (o->hostname)
		json_object_set_new(spec, "hostname",
				    json_string(o->hostname));
	set_annotations(spec, cfg);
	report_unused(cfg);
	ck_spec_apply_options(spec, o);
	return spec;
}
