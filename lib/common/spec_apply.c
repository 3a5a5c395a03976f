/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The options of cspec and crun-task run applied to a spec that already
 * has the defaults and the image config. Capabilities are settled
 * before seccomp, because the default profile depends on them.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "seccomp_profile.h"
#include "spec.h"
#include "util.h"

static int
list_has(json_t *list, const char *s)
{
	size_t i;

	for (i = 0; i < json_array_size(list); i++)
		if (strcmp(json_string_value(json_array_get(list, i)), s) == 0)
			return 1;
	return 0;
}

static void
list_remove(json_t *list, const char *s)
{
	size_t i;

	for (i = json_array_size(list); i-- > 0;)
		if (strcmp(json_string_value(json_array_get(list, i)), s) == 0)
			json_array_remove(list, i);
}

/* Every capability this kernel and libcap know, as "CAP_*" names. */
static json_t *
all_caps(void)
{
	json_t *list = json_array();
	cap_value_t v;

	for (v = 0; v < (cap_value_t)cap_max_bits(); v++) {
		char *name = cap_to_name(v), *p;

		if (name == NULL)
			break;
		for (p = name; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		if (ck_has_prefix(name, "CAP_"))
			json_array_append_new(list, json_string(name));
		cap_free(name);
	}
	return list;
}

/* Drops first, then adds, so "--cap-drop ALL --cap-add X" leaves X. */
static json_t *
final_caps(json_t *caps, const struct ck_spec_opts *o)
{
	size_t i;

	if (o->privileged || list_has(o->cap_add, "ALL")) {
		json_decref(caps);
		caps = all_caps();
	}
	if (list_has(o->cap_drop, "ALL"))
		json_array_clear(caps);
	for (i = 0; i < json_array_size(o->cap_add); i++) {
		const char *c = json_string_value(json_array_get(o->cap_add, i));

		if (strcmp(c, "ALL") != 0 && !list_has(caps, c))
			json_array_append_new(caps, json_string(c));
	}
	for (i = 0; i < json_array_size(o->cap_drop); i++)
		list_remove(caps, json_string_value(json_array_get(o->cap_drop,
								   i)));
	return caps;
}

static void
apply_caps(json_t *proc, const struct ck_spec_opts *o)
{
	json_t *set = json_object_get(proc, "capabilities");
	json_t *caps = final_caps(json_deep_copy(json_object_get(set,
							       "bounding")), o);

	json_object_set(set, "bounding", caps);
	json_object_set_new(set, "permitted", json_deep_copy(caps));
	json_object_set_new(set, "effective", json_deep_copy(caps));
	json_decref(caps);
}

static void
drop_namespace(json_t *lx, const char *type)
{
	json_t *list = json_object_get(lx, "namespaces");
	size_t i;

	for (i = json_array_size(list); i-- > 0;)
		if (strcmp(json_string_value(json_object_get(
			json_array_get(list, i), "type")), type) == 0)
			json_array_remove(list, i);
}

/* Adds m, replacing a mount with the same destination. */
static void
put_mount(json_t *mounts, json_t *m)
{
	const char *dst = json_string_value(json_object_get(m, "destination"));
	size_t i;

	for (i = 0; i < json_array_size(mounts); i++) {
		json_t *old = json_array_get(mounts, i);

		if (strcmp(json_string_value(json_object_get(old,
				"destination")), dst) == 0) {
			json_array_set(mounts, i, m);
			return;
		}
	}
	json_array_append(mounts, m);
}

static void
bind_host_file(json_t *mounts, const char *path)
{
	json_t *m = json_pack("{s:s, s:s, s:s, s:[ss]}", "destination", path,
			      "type", "bind", "source", path, "options",
			      "rbind", "ro");

	put_mount(mounts, m);
	json_decref(m);
}

static void
apply_namespaces(json_t *spec, const struct ck_spec_opts *o)
{
	json_t *lx = json_object_get(spec, "linux");

	if (o->net_host) {
		drop_namespace(lx, "network");
		/* The host's network comes with its name files, as ctr
		 * run --net-host does. */
		bind_host_file(json_object_get(spec, "mounts"), "/etc/hosts");
		bind_host_file(json_object_get(spec, "mounts"),
			       "/etc/resolv.conf");
	}
	if (o->pid_host)
		drop_namespace(lx, "pid");
	if (o->ipc_host)
		drop_namespace(lx, "ipc");
}

static json_t *
resources(json_t *lx)
{
	json_t *r = json_object_get(lx, "resources");

	if (r == NULL) {
		r = json_object();
		json_object_set_new(lx, "resources", r);
	}
	return r;
}

static void
apply_resources(json_t *lx, const struct ck_spec_opts *o)
{
	json_t *r = resources(lx);

	if (o->memory_limit > 0)
		json_object_set_new(r, "memory", json_pack("{s:I}", "limit",
				    (json_int_t)o->memory_limit));
	if (o->cpu_quota > 0 || o->cpu_shares > 0) {
		json_t *cpu = json_object();

		if (o->cpu_quota > 0) {
			json_object_set_new(cpu, "quota",
					    json_integer(o->cpu_quota));
			json_object_set_new(cpu, "period",
					    json_integer(100000));
		}
		if (o->cpu_shares > 0)
			json_object_set_new(cpu, "shares",
					    json_integer(o->cpu_shares));
		json_object_set_new(r, "cpu", cpu);
	}
	if (o->pids_limit > 0)
		json_object_set_new(r, "pids", json_pack("{s:I}", "limit",
				    (json_int_t)o->pids_limit));
	if (o->cgroup)
		json_object_set_new(lx, "cgroupsPath",
				    json_string(o->cgroup));
}

static void
add_device(json_t *lx, json_t *dev)
{
	json_t *devs = json_object_get(lx, "devices");
	json_t *rules = json_object_get(resources(lx), "devices");

	if (devs == NULL) {
		devs = json_array();
		json_object_set_new(lx, "devices", devs);
	}
	json_array_append_new(devs, json_pack("{s:O, s:O, s:O, s:O, s:O}",
			      "path", json_object_get(dev, "path"),
			      "type", json_object_get(dev, "type"),
			      "major", json_object_get(dev, "major"),
			      "minor", json_object_get(dev, "minor"),
			      "fileMode", json_object_get(dev, "fileMode")));
	json_array_append_new(rules, json_pack("{s:b, s:O, s:O, s:O, s:O}",
			      "allow", 1, "type", json_object_get(dev, "type"),
			      "major", json_object_get(dev, "major"),
			      "minor", json_object_get(dev, "minor"),
			      "access", json_object_get(dev, "access")));
}

/* Adds every device node under dir, as containerd's WithHostDevices. */
static void
add_host_devices(json_t *lx, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d)) != NULL) {
		char *path = ck_asprintf("%s/%s", dir, de->d_name);
		struct stat st;

		if (de->d_name[0] == '.' || strcmp(path, "/dev/pts") == 0 ||
		    strcmp(path, "/dev/shm") == 0 ||
		    strcmp(path, "/dev/mqueue") == 0 ||
		    strcmp(path, "/dev/console") == 0 ||
		    lstat(path, &st) < 0) {
			free(path);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			add_host_devices(lx, path);
		} else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
			json_t *dev = json_pack(
				"{s:s, s:s, s:I, s:I, s:i, s:s}", "path", path,
				"type", S_ISCHR(st.st_mode) ? "c" : "b",
				"major", (json_int_t)major(st.st_rdev),
				"minor", (json_int_t)minor(st.st_rdev),
				"fileMode", (int)(st.st_mode & 0777),
				"access", "rwm");

			add_device(lx, dev);
			json_decref(dev);
		}
		free(path);
	}
	if (d)
		closedir(d);
}

/* All capabilities and devices, /sys writable, nothing masked, as ctr
 * run --privileged (WithPrivileged, WithAllDevicesAllowed,
 * WithHostDevices). */
static void
apply_privileged(json_t *spec)
{
	json_t *lx = json_object_get(spec, "linux");
	json_t *mounts = json_object_get(spec, "mounts");
	size_t i;

	json_object_del(lx, "maskedPaths");
	json_object_del(lx, "readonlyPaths");
	for (i = 0; i < json_array_size(mounts); i++) {
		json_t *m = json_array_get(mounts, i);

		if (strcmp(json_string_value(json_object_get(m, "type")),
			   "sysfs") == 0)
			list_remove(json_object_get(m, "options"), "ro");
	}
	json_object_set_new(resources(lx), "devices",
			    json_pack("[{s:b, s:s}]", "allow", 1, "access",
				      "rwm"));
	add_host_devices(lx, "/dev");
}

static void
apply_rlimits(json_t *proc, const struct ck_spec_opts *o)
{
	json_t *list = json_object_get(proc, "rlimits");
	size_t i, j;

	for (i = 0; i < json_array_size(o->rlimits); i++) {
		json_t *r = json_array_get(o->rlimits, i);
		const char *type = json_string_value(json_object_get(r,
								     "type"));

		for (j = json_array_size(list); j-- > 0;)
			if (strcmp(json_string_value(json_object_get(
				json_array_get(list, j), "type")), type) == 0)
				json_array_remove(list, j);
		json_array_append(list, r);
	}
}

static void
apply_security(json_t *spec, const struct ck_spec_opts *o)
{
	json_t *proc = json_object_get(spec, "process");
	json_t *lx = json_object_get(spec, "linux");
	json_t *caps = json_object_get(json_object_get(proc, "capabilities"),
				       "bounding");

	json_object_set_new(proc, "noNewPrivileges",
			    json_boolean(!o->new_privileges));
	if (o->apparmor)
		json_object_set_new(proc, "apparmorProfile",
				    json_string(o->apparmor));
	if (o->privileged || o->no_seccomp)
		return;
	json_object_set_new(lx, "seccomp", o->seccomp ?
			    json_deep_copy(o->seccomp) :
			    ck_seccomp_default(caps));
}

void
ck_spec_apply_options(json_t *spec, const struct ck_spec_opts *o)
{
	json_t *proc = json_object_get(spec, "process");
	json_t *lx = json_object_get(spec, "linux");
	const char *k;
	json_t *v;
	size_t i;

	apply_caps(proc, o);
	apply_namespaces(spec, o);
	if (o->privileged)
		apply_privileged(spec);
	for (i = 0; i < json_array_size(o->mounts); i++)
		put_mount(json_object_get(spec, "mounts"),
			  json_array_get(o->mounts, i));
	for (i = 0; i < json_array_size(o->devices); i++)
		add_device(lx, json_array_get(o->devices, i));
	apply_rlimits(proc, o);
	apply_resources(lx, o);
	if (o->sysctls)
		json_object_set(lx, "sysctl", o->sysctls);
	json_object_foreach(o->annotations, k, v) {
		if (json_object_get(spec, "annotations") == NULL)
			json_object_set_new(spec, "annotations", json_object());
		json_object_set(json_object_get(spec, "annotations"), k, v);
	}
	apply_security(spec, o);
}
