/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parsing of the spec options that cspec and crun-task run share, in the
 * shape of `ctr run`'s flags. Every value is checked here, so a bad one
 * fails before anything is written or started.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "spec.h"
#include "util.h"

enum {
	O_READ_ONLY = CK_SPEC_OPT_BASE, O_CWD, O_HOSTNAME, O_ENTRYPOINT,
	O_ENV_FILE, O_MOUNT, O_CAP_ADD, O_CAP_DROP, O_PRIVILEGED, O_NET_HOST,
	O_PID_HOST, O_IPC_HOST, O_NO_NEW_PRIVS, O_NEW_PRIVS, O_RLIMIT,
	O_MEMORY, O_CPUS, O_CPU_SHARES, O_PIDS, O_CGROUP, O_ANNOTATION,
	O_SECCOMP, O_NO_SECCOMP, O_APPARMOR, O_SYSCTL, O_DEVICE,
};

const struct option ck_spec_longopts[] = {
	{ "tty", no_argument, NULL, 't' },
	{ "env", required_argument, NULL, 'e' },
	{ "user", required_argument, NULL, 'u' },
	{ "read-only", no_argument, NULL, O_READ_ONLY },
	{ "cwd", required_argument, NULL, O_CWD },
	{ "hostname", required_argument, NULL, O_HOSTNAME },
	{ "entrypoint", required_argument, NULL, O_ENTRYPOINT },
	{ "env-file", required_argument, NULL, O_ENV_FILE },
	{ "mount", required_argument, NULL, O_MOUNT },
	{ "cap-add", required_argument, NULL, O_CAP_ADD },
	{ "cap-drop", required_argument, NULL, O_CAP_DROP },
	{ "privileged", no_argument, NULL, O_PRIVILEGED },
	{ "net-host", no_argument, NULL, O_NET_HOST },
	{ "pid-host", no_argument, NULL, O_PID_HOST },
	{ "ipc-host", no_argument, NULL, O_IPC_HOST },
	{ "no-new-privileges", no_argument, NULL, O_NO_NEW_PRIVS },
	{ "allow-new-privileges", no_argument, NULL, O_NEW_PRIVS },
	{ "rlimit", required_argument, NULL, O_RLIMIT },
	{ "memory-limit", required_argument, NULL, O_MEMORY },
	{ "cpus", required_argument, NULL, O_CPUS },
	{ "cpu-shares", required_argument, NULL, O_CPU_SHARES },
	{ "pids-limit", required_argument, NULL, O_PIDS },
	{ "cgroup", required_argument, NULL, O_CGROUP },
	{ "annotation", required_argument, NULL, O_ANNOTATION },
	{ "seccomp-profile", required_argument, NULL, O_SECCOMP },
	{ "no-seccomp", no_argument, NULL, O_NO_SECCOMP },
	{ "apparmor-profile", required_argument, NULL, O_APPARMOR },
	{ "sysctl", required_argument, NULL, O_SYSCTL },
	{ "device", required_argument, NULL, O_DEVICE },
	{ NULL, 0, NULL, 0 },
};

const char ck_spec_help[] =
	"  -t, --tty                 give the container a terminal\n"
	"  -e, --env <key=value>     set a variable; --env-file <file> reads "
	"them\n"
	"  -u, --user <user>         user[:group], by name or number\n"
	"      --cwd <dir>           working directory\n"
	"      --entrypoint <path>   replace Entrypoint (drops Cmd)\n"
	"      --hostname <name>     host name in the container\n"
	"      --read-only           read-only root filesystem\n"
	"      --mount <spec>        type=bind,src=<path>,dst=<path>"
	"[,options=ro:rbind]\n"
	"      --cap-add, --cap-drop <cap>  add or drop a capability "
	"(or ALL)\n"
	"      --privileged          all capabilities and devices, no "
	"seccomp\n"
	"      --net-host, --pid-host, --ipc-host  share that host "
	"namespace\n"
	"      --allow-new-privileges  let setuid and file capabilities "
	"work\n"
	"      --rlimit <type=soft[:hard]>  e.g. nofile=4096:8192\n"
	"      --memory-limit <bytes>, --cpus <n>, --cpu-shares <n>, "
	"--pids-limit <n>\n"
	"      --cgroup <path>       cgroup path of the container\n"
	"      --annotation <k=v>, --sysctl <k=v>, --device <path[:rwm]>\n"
	"      --seccomp-profile <file>, --no-seccomp, "
	"--apparmor-profile <name>\n";

static int
invalid(struct ck_err **errp, const char *opt, const char *arg,
	const char *hint)
{
	return ck_err_setc(errp, CK_E_INVALID, 0, "invalid %s '%s': %s", opt,
			   arg, hint);
}

static void
add_env(struct ck_spec_opts *o, const char *kv)
{
	o->env = ck_xrealloc(o->env, (o->n_env + 2) * sizeof(char *));
	o->env[o->n_env++] = ck_xstrdup(kv);
	o->env[o->n_env] = NULL;
}

/* Reads KEY=VALUE lines; blank lines and '#' comments are skipped, and a
 * line with a name alone takes the value from this environment. */
static int
read_env_file(struct ck_spec_opts *o, const char *path, struct ck_err **errp)
{
	char *data, *line, *save = NULL;
	size_t lineno = 0;

	if (ck_read_file(path, 1 << 20, &data, NULL, errp) < 0)
		return ck_err_wrap(errp, "--env-file");
	for (line = strtok_r(data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		while (isspace((unsigned char)*line))
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		if (*line == '=') {
			free(data);
			return ck_err_set(errp, 0, "--env-file '%s': line "
					  "%zu: missing variable name", path,
					  lineno);
		}
		if (strchr(line, '=') == NULL) {
			const char *v = getenv(line);
			char *kv = ck_asprintf("%s=%s", line, v ? v : "");

			add_env(o, kv);
			free(kv);
		} else {
			add_env(o, line);
		}
	}
	free(data);
	return 0;
}

static int
key_value(json_t **obj, const char *opt, const char *arg,
	  struct ck_err **errp)
{
	const char *eq = strchr(arg, '=');
	char *key;

	if (eq == NULL || eq == arg)
		return invalid(errp, opt, arg, "use KEY=VALUE");
	if (*obj == NULL)
		*obj = json_object();
	key = ck_xstrndup(arg, (size_t)(eq - arg));
	json_object_set_new(*obj, key, json_string(eq + 1));
	free(key);
	return 0;
}

/* "net_admin", "NET_ADMIN" and "CAP_NET_ADMIN" are one capability. */
static int
add_cap(json_t **list, const char *opt, const char *arg, struct ck_err **errp)
{
	char *name;
	size_t i;
	cap_value_t v;

	if (*list == NULL)
		*list = json_array();
	if (strcasecmp(arg, "ALL") == 0) {
		json_array_append_new(*list, json_string("ALL"));
		return 0;
	}
	name = ck_has_prefix(arg, "CAP_") || ck_has_prefix(arg, "cap_") ?
		ck_xstrdup(arg) : ck_asprintf("CAP_%s", arg);
	for (i = 0; name[i]; i++)
		name[i] = (char)toupper((unsigned char)name[i]);
	if (cap_from_name(name, &v) < 0) {
		free(name);
		return invalid(errp, opt, arg, "not a capability name; see "
			       "capabilities(7)");
	}
	json_array_append_new(*list, json_string(name));
	free(name);
	return 0;
}

static int
parse_int(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0)
		return -1;
	*out = v;
	return 0;
}

/* Bytes with an optional k, m or g suffix (powers of 1024). */
static int
parse_size(const char *s, int64_t *out)
{
	char *end;
	double v;
	int64_t mult = 1;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v <= 0)
		return -1;
	switch (tolower((unsigned char)*end)) {
	case 'k': mult = 1024; end++; break;
	case 'm': mult = 1024 * 1024; end++; break;
	case 'g': mult = 1024 * 1024 * 1024; end++; break;
	}
	if (tolower((unsigned char)*end) == 'b')
		end++;
	if (*end)
		return -1;
	*out = (int64_t)(v * (double)mult);
	return 0;
}

static const char *const rlimit_names[] = {
	"AS", "CORE", "CPU", "DATA", "FSIZE", "LOCKS", "MEMLOCK", "MSGQUEUE",
	"NICE", "NOFILE", "NPROC", "RSS", "RTPRIO", "RTTIME", "SIGPENDING",
	"STACK", NULL,
};

static int
rlimit_type(const char *arg, size_t len, char **out)
{
	char *type = ck_xstrndup(arg, len), *p;
	const char *base;
	size_t i;

	for (p = type; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	base = ck_has_prefix(type, "RLIMIT_") ? type + 7 : type;
	for (i = 0; rlimit_names[i]; i++) {
		if (strcmp(rlimit_names[i], base) == 0) {
			*out = ck_asprintf("RLIMIT_%s", base);
			free(type);
			return 0;
		}
	}
	free(type);
	return -1;
}

static int
parse_rlimit(struct ck_spec_opts *o, const char *arg, struct ck_err **errp)
{
	const char *eq = strchr(arg, '=');
	char *type = NULL, *soft_s;
	char *colon;
	int64_t soft, hard;
	int bad;

	if (eq == NULL || rlimit_type(arg, (size_t)(eq - arg), &type) < 0)
		return invalid(errp, "--rlimit", arg, "use TYPE=SOFT[:HARD] "
			       "with a type such as nofile or nproc");
	soft_s = ck_xstrdup(eq + 1);
	colon = strchr(soft_s, ':');
	if (colon)
		*colon++ = '\0';
	bad = parse_int(soft_s, &soft) < 0 ||
	      (colon ? parse_int(colon, &hard) < 0 : (hard = soft, 0)) ||
	      hard < soft;
	free(soft_s);
	if (bad) {
		free(type);
		return invalid(errp, "--rlimit", arg, "limits are whole "
			       "numbers and SOFT may not exceed HARD");
	}
	if (o->rlimits == NULL)
		o->rlimits = json_array();
	json_array_append_new(o->rlimits, json_pack("{s:s, s:I, s:I}",
			      "type", type, "soft", (json_int_t)soft, "hard",
			      (json_int_t)hard));
	free(type);
	return 0;
}

/* Splits "type=bind,src=/a,dst=/b,options=rbind:ro" into an OCI mount. */
static int
parse_mount(struct ck_spec_opts *o, const char *arg, struct ck_err **errp)
{
	char *copy = ck_xstrdup(arg), *save = NULL, *field;
	const char *type = NULL, *src = NULL, *dst = NULL, *opts = NULL;
	json_t *m, *list;

	for (field = strtok_r(copy, ",", &save); field;
	     field = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(field, '=');

		if (eq == NULL)
			goto bad;
		*eq++ = '\0';
		if (strcmp(field, "type") == 0)
			type = eq;
		else if (!strcmp(field, "src") || !strcmp(field, "source"))
			src = eq;
		else if (!strcmp(field, "dst") || !strcmp(field, "destination")
			 || !strcmp(field, "target"))
			dst = eq;
		else if (strcmp(field, "options") == 0)
			opts = eq;
		else
			goto bad;
	}
	if (type == NULL || !*type || src == NULL || dst == NULL ||
	    dst[0] != '/')
		goto bad;
	list = json_array();
	if (opts != NULL) {
		char *ocopy = ck_xstrdup(opts), *osave = NULL, *opt;

		for (opt = strtok_r(ocopy, ":", &osave); opt;
		     opt = strtok_r(NULL, ":", &osave))
			json_array_append_new(list, json_string(opt));
		free(ocopy);
	}
	m = json_pack("{s:s, s:s, s:s, s:o}", "destination", dst, "type", type,
		      "source", src, "options", list);
	if (o->mounts == NULL)
		o->mounts = json_array();
	json_array_append_new(o->mounts, m);
	free(copy);
	return 0;
bad:
	free(copy);
	return invalid(errp, "--mount", arg, "use type=<type>,src=<path>,"
		       "dst=<absolute path>[,options=<opt>:<opt>]");
}

/* A host device, by path, with cgroup permissions (default rwm). */
static int
parse_device(struct ck_spec_opts *o, const char *arg, struct ck_err **errp)
{
	char *path = ck_xstrdup(arg), *perms = strchr(path, ':');
	struct stat st;
	json_t *d;

	if (perms)
		*perms++ = '\0';
	if (perms && (!*perms || strspn(perms, "rwm") != strlen(perms))) {
		free(path);
		return invalid(errp, "--device", arg, "permissions are some "
			       "of r, w and m");
	}
	if (stat(path, &st) < 0 || !(S_ISCHR(st.st_mode) ||
				     S_ISBLK(st.st_mode))) {
		free(path);
		return invalid(errp, "--device", arg, "not a device node on "
			       "this host");
	}
	d = json_pack("{s:s, s:s, s:I, s:I, s:i, s:s}", "path", path,
		      "type", S_ISCHR(st.st_mode) ? "c" : "b",
		      "major", (json_int_t)major(st.st_rdev),
		      "minor", (json_int_t)minor(st.st_rdev),
		      "fileMode", (int)(st.st_mode & 0777),
		      "access", perms ? perms : "rwm");
	if (o->devices == NULL)
		o->devices = json_array();
	json_array_append_new(o->devices, d);
	free(path);
	return 0;
}

static int
load_seccomp(struct ck_spec_opts *o, const char *path, struct ck_err **errp)
{
	json_error_t jerr;
	json_t *p = json_load_file(path, 0, &jerr);

	if (p == NULL || !json_is_object(p) ||
	    !json_is_string(json_object_get(p, "defaultAction"))) {
		json_decref(p);
		return ck_err_set(errp, 0, "invalid --seccomp-profile "
				  "'%s': %s", path, p ? "needs an object with "
				  "defaultAction" : jerr.text);
	}
	json_decref(o->seccomp);
	o->seccomp = p;
	return 0;
}

static int
parse_number(int64_t *out, const char *opt, const char *arg,
	     struct ck_err **errp)
{
	if (parse_int(arg, out) < 0)
		return invalid(errp, opt, arg, "use a whole number");
	return 0;
}

static int
parse_cpus(struct ck_spec_opts *o, const char *arg, struct ck_err **errp)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || v <= 0 || v > 1024)
		return invalid(errp, "--cpus", arg, "use a number of CPUs "
			       "such as 0.5 or 2");
	o->cpu_quota = (int64_t)(v * 100000);
	return 0;
}

static int
parse_value_option(struct ck_spec_opts *o, int val, const char *arg,
		   struct ck_err **errp)
{
	switch (val) {
	case 'e':
		if (strchr(arg, '=') == NULL || arg[0] == '=')
			return invalid(errp, "--env", arg, "use KEY=VALUE");
		add_env(o, arg);
		return 0;
	case 'u': o->user = arg; return 0;
	case O_CWD:
		if (arg[0] != '/')
			return invalid(errp, "--cwd", arg,
				       "use an absolute path");
		o->cwd = arg;
		return 0;
	case O_HOSTNAME:
		if (*arg == '\0' || strlen(arg) > 64 ||
		    strspn(arg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR"
			   "STUVWXYZ0123456789.-") != strlen(arg))
			return invalid(errp, "--hostname", arg, "use 1 to 64 "
				       "letters, digits, '.' and '-'");
		o->hostname = arg;
		return 0;
	case O_ENTRYPOINT: o->entrypoint = arg; return 0;
	case O_ENV_FILE: return read_env_file(o, arg, errp);
	case O_MOUNT: return parse_mount(o, arg, errp);
	case O_CAP_ADD: return add_cap(&o->cap_add, "--cap-add", arg, errp);
	case O_CAP_DROP:
		return add_cap(&o->cap_drop, "--cap-drop", arg, errp);
	case O_RLIMIT: return parse_rlimit(o, arg, errp);
	case O_MEMORY:
		if (parse_size(arg, &o->memory_limit) < 0)
			return invalid(errp, "--memory-limit", arg, "use "
				       "bytes, optionally with k, m or g");
		return 0;
	case O_CPUS: return parse_cpus(o, arg, errp);
	case O_CPU_SHARES:
		return parse_number(&o->cpu_shares, "--cpu-shares", arg, errp);
	case O_PIDS:
		return parse_number(&o->pids_limit, "--pids-limit", arg, errp);
	case O_CGROUP: o->cgroup = arg; return 0;
	case O_ANNOTATION:
		return key_value(&o->annotations, "--annotation", arg, errp);
	case O_SECCOMP: return load_seccomp(o, arg, errp);
	case O_APPARMOR: o->apparmor = arg; return 0;
	case O_SYSCTL: return key_value(&o->sysctls, "--sysctl", arg, errp);
	case O_DEVICE: return parse_device(o, arg, errp);
	}
	return 1;
}

static int
parse_flag(struct ck_spec_opts *o, int val)
{
	switch (val) {
	case 't': o->tty = 1; return 0;
	case O_READ_ONLY: o->read_only = 1; return 0;
	case O_PRIVILEGED: o->privileged = 1; return 0;
	case O_NET_HOST: o->net_host = 1; return 0;
	case O_PID_HOST: o->pid_host = 1; return 0;
	case O_IPC_HOST: o->ipc_host = 1; return 0;
	case O_NO_NEW_PRIVS: o->new_privileges = 0; return 0;
	case O_NEW_PRIVS: o->new_privileges = 1; return 0;
	case O_NO_SECCOMP: o->no_seccomp = 1; return 0;
	}
	return 1;
}

int
ck_spec_parse_option(struct ck_spec_opts *o, int val, const char *arg,
		     struct ck_err **errp)
{
	int rc = parse_flag(o, val);

	if (rc == 1)
		rc = parse_value_option(o, val, arg, errp);
	if (rc == 0)
		o->n_set++;
	return rc;
}

void
ck_spec_opts_free(struct ck_spec_opts *o)
{
	size_t i;

	for (i = 0; i < o->n_env; i++)
		free(o->env[i]);
	free(o->env);
	o->env = NULL;
	o->n_env = 0;
	json_decref(o->mounts);
	json_decref(o->cap_add);
	json_decref(o->cap_drop);
	json_decref(o->rlimits);
	json_decref(o->annotations);
	json_decref(o->sysctls);
	json_decref(o->devices);
	json_decref(o->seccomp);
	o->mounts = o->cap_add = o->cap_drop = o->rlimits = NULL;
	o->annotations = o->sysctls = o->devices = o->seccomp = NULL;
}
