/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The default seccomp profile. Its allow-list and its conditional rules
 * follow containerd's default profile (contrib/seccomp). Everything not
 * listed fails with EPERM. Some syscalls are allowed only with the
 * capability that guards them, clone may not create namespaces without
 * CAP_SYS_ADMIN, and personality is limited to the standard personas.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp_profile.h"
#include "util.h"

/* CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
 * CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET */
#define CLONE_NS_FLAGS 0x7e020000ULL

static const char *const allowed[] = {
	"accept", "accept4", "access", "alarm", "bind", "brk", "capget",
	"capset", "chdir", "chmod", "chown", "chown32", "clock_getres",
	"clock_getres_time64", "clock_gettime", "clock_gettime64",
	"clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
	"connect", "copy_file_range", "creat", "dup", "dup2", "dup3",
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
	"epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old",
	"eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group",
	"faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
	"fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown", "fchown32",
	"fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr",
	"flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64",
	"fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
	"ftruncate64", "futex", "futex_time64", "futex_waitv", "futimesat",
	"getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
	"geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
	"getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp",
	"getpid", "getppid", "getpriority", "getrandom", "getresgid",
	"getresgid32", "getresuid", "getresuid32", "getrlimit",
	"get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
	"get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32",
	"getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
	"inotify_rm_watch", "io_cancel", "ioctl", "io_destroy",
	"io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get",
	"ioprio_set", "io_setup", "io_submit", "ipc", "kill",
	"landlock_add_rule", "landlock_create_ruleset",
	"landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link",
	"linkat", "listen", "listxattr", "llistxattr", "_llseek",
	"lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise",
	"membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
	"mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap",
	"mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
	"mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
	"mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget",
	"msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
	"name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open",
	"openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal",
	"pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
	"ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
	"prlimit64", "process_mrelease", "pselect6", "pselect6_time64",
	"pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
	"readlinkat", "readv", "recv", "recvfrom", "recvmmsg",
	"recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr",
	"rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
	"rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
	"rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
	"rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity",
	"sched_getattr", "sched_getparam", "sched_get_priority_max",
	"sched_get_priority_min", "sched_getscheduler",
	"sched_rr_get_interval", "sched_rr_get_interval_time64",
	"sched_setaffinity", "sched_setattr", "sched_setparam",
	"sched_setscheduler", "sched_yield", "seccomp", "select", "semctl",
	"semget", "semop", "semtimedop", "semtimedop_time64", "send",
	"sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid",
	"setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
	"setgroups", "setgroups32", "setitimer", "setpgid", "setpriority",
	"setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
	"setresuid32", "setreuid", "setreuid32", "setrlimit",
	"set_robust_list", "setsid", "setsockopt", "set_thread_area",
	"set_tid_address", "setuid", "setuid32", "setxattr", "shmat",
	"shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd",
	"signalfd4", "sigprocmask", "sigreturn", "socket", "socketcall",
	"socketpair", "splice", "stat", "stat64", "statfs", "statfs64",
	"statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs",
	"sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
	"timer_getoverrun", "timer_gettime", "timer_gettime64",
	"timer_settime", "timer_settime64", "timerfd_create",
	"timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
	"timerfd_settime64", "times", "tkill", "truncate", "truncate64",
	"ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime",
	"utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice",
	"wait4", "waitid", "waitpid", "write", "writev", NULL,
};

/* Syscalls allowed only when the bounding set has a capability. */
static const struct {
	const char *cap;
	const char *names[14];
} by_cap[] = {
	{ "CAP_DAC_READ_SEARCH", { "open_by_handle_at" } },
	{ "CAP_SYS_ADMIN", { "bpf", "clone", "clone3", "fanotify_init",
			     "fsconfig", "fsmount", "fsopen", "fspick",
			     "lookup_dcookie", "mount", "mount_setattr",
			     "move_mount", "open_tree", "perf_event_open" } },
	{ "CAP_SYS_ADMIN", { "quotactl", "quotactl_fd", "setdomainname",
			     "sethostname", "setns", "syslog", "umount",
			     "umount2", "unshare" } },
	{ "CAP_SYS_BOOT", { "reboot" } },
	{ "CAP_SYS_CHROOT", { "chroot" } },
	{ "CAP_SYS_MODULE", { "delete_module", "init_module",
			      "finit_module" } },
	{ "CAP_SYS_PACCT", { "acct" } },
	{ "CAP_SYS_PTRACE", { "kcmp", "pidfd_getfd", "process_madvise",
			      "process_vm_readv", "process_vm_writev",
			      "ptrace" } },
	{ "CAP_SYS_RAWIO", { "iopl", "ioperm" } },
	{ "CAP_SYS_TIME", { "settimeofday", "stime", "clock_settime",
			    "clock_settime64", "adjtimex", "clock_adjtime",
			    "clock_adjtime64" } },
	{ "CAP_SYS_TTY_CONFIG", { "vhangup" } },
	{ "CAP_SYS_NICE", { "get_mempolicy", "mbind", "set_mempolicy" } },
	{ "CAP_SYSLOG", { "syslog" } },
	{ "CAP_BPF", { "bpf" } },
	{ "CAP_PERFMON", { "perf_event_open" } },
};

struct arch_set {
	const char *machine;	/* uname -m */
	const char *names[4];	/* SCMP_ARCH_* */
	const char *extra[6];	/* arch-only syscalls */
	int clone_flags_arg;	/* which clone argument holds the flags */
};

static const struct arch_set arch_sets[] = {
	{ "x86_64", { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32" },
	  { "arch_prctl", "modify_ldt" }, 0 },
	{ "aarch64", { "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64" },
	  { "arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2",
	    "breakpoint", "cacheflush", "set_tls" }, 0 },
	{ "s390x", { "SCMP_ARCH_S390", "SCMP_ARCH_S390X" },
	  { "s390_pci_mmio_read", "s390_pci_mmio_write",
	    "s390_runtime_instr" }, 1 },
	{ "ppc64le", { "SCMP_ARCH_PPC64LE" }, { "sync_file_range2" }, 0 },
	{ "riscv64", { "SCMP_ARCH_RISCV64" }, { "riscv_flush_icache" }, 0 },
};

static const struct arch_set *
host_arch(void)
{
	static const struct arch_set none = { "", { NULL }, { NULL }, 0 };
	struct utsname u;
	size_t i;

	if (uname(&u) == 0)
		for (i = 0; i < sizeof(arch_sets) / sizeof(arch_sets[0]); i++)
			if (strcmp(u.machine, arch_sets[i].machine) == 0)
				return &arch_sets[i];
	return &none;
}

static uint32_t
arch_token(const char *scmp_name)
{
	/* libseccomp names architectures without the SCMP_ARCH_ prefix,
	 * in lower case. */
	char name[32];
	size_t i;

	snprintf(name, sizeof(name), "%s", scmp_name + strlen("SCMP_ARCH_"));
	for (i = 0; name[i]; i++)
		if (name[i] >= 'A' && name[i] <= 'Z')
			name[i] = (char)(name[i] - 'A' + 'a');
	return seccomp_arch_resolve_name(name);
}

#ifdef __x86_64__
/* Returns whether the kernel runs x32 syscalls: getpid with the x32 bit
 * set fails with ENOSYS when it does not. Under a seccomp filter, which
 * may kill on a foreign architecture, the probe runs in a child. */
static int
x32_enabled(void)
{
	static int known = -1;
	int status;
	pid_t pid;

	if (known >= 0)
		return known;
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 0)
		return known = syscall(0x40000000L | SYS_getpid) >= 0;
	pid = fork();
	if (pid == 0)
		_exit(syscall(0x40000000L | SYS_getpid) >= 0 ? 0 : 1);
	known = 0;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		known = 1;
	return known;
}
#endif

/* Returns whether the profile lists architecture scmp_name. x32 is
 * listed only where the kernel runs x32 syscalls, because elsewhere they
 * fail with ENOSYS under any filter, and each listed architecture makes
 * the filter that runc compiles at every start larger and slower. */
static int
arch_wanted(const char *scmp_name)
{
#ifdef __x86_64__
	if (strcmp(scmp_name, "SCMP_ARCH_X32") == 0)
		return x32_enabled();
#endif
	(void)scmp_name;
	return 1;
}

/* Whether libseccomp resolves name on one of the profile's
 * architectures. */
static int
syscall_known(const struct arch_set *a, const char *name)
{
	size_t i;

	for (i = 0; a->names[i]; i++) {
		uint32_t token = arch_token(a->names[i]);

		if (!arch_wanted(a->names[i]))
			continue;
		if (token != 0 &&
		    seccomp_syscall_resolve_name_arch(token, name) !=
			    __NR_SCMP_ERROR)
			return 1;
	}
	return 0;
}

/* Appends the names that resolve on the architectures and that no
 * earlier rule allowed; seen records the names added so far. */
static void
add_names(json_t *list, const struct arch_set *a, const char *const *names,
	  json_t *seen)
{
	size_t i;

	for (i = 0; names[i]; i++) {
		if (json_object_get(seen, names[i]) ||
		    !syscall_known(a, names[i]))
			continue;
		json_object_set_new(seen, names[i], json_true());
		json_array_append_new(list, json_string(names[i]));
	}
}

static json_t *
rule(json_t *names, const char *action, json_t *args)
{
	json_t *r = json_pack("{s:o, s:s}", "names", names, "action", action);

	if (args != NULL)
		json_object_set_new(r, "args", args);
	return r;
}

static int
has_cap(json_t *caps, const char *cap)
{
	size_t i;

	for (i = 0; i < json_array_size(caps); i++)
		if (strcmp(json_string_value(json_array_get(caps, i)) ?: "",
			   cap) == 0)
			return 1;
	return 0;
}

/* personality(2) is allowed only for PER_LINUX, PER_LINUX32 and the
 * query value 0xffffffff. */
static void
add_personality(json_t *rules)
{
	static const unsigned long personas[] = { 0x0, 0x8, 0xffffffff };
	size_t i;

	for (i = 0; i < 3; i++)
		json_array_append_new(rules, rule(
			json_pack("[s]", "personality"), "SCMP_ACT_ALLOW",
			json_pack("[{s:i, s:I, s:s}]", "index", 0, "value",
				  (json_int_t)personas[i], "op",
				  "SCMP_CMP_EQ")));
}

/* Without CAP_SYS_ADMIN, clone may not create namespaces and clone3,
 * whose flags seccomp cannot inspect, fails with ENOSYS so that libc
 * falls back to clone. */
static void
add_clone_rules(json_t *rules, const struct arch_set *a)
{
	json_t *r;

	json_array_append_new(rules, rule(
		json_pack("[s]", "clone"), "SCMP_ACT_ALLOW",
		json_pack("[{s:i, s:I, s:I, s:s}]", "index",
			  a->clone_flags_arg, "value",
			  (json_int_t)CLONE_NS_FLAGS, "valueTwo", (json_int_t)0,
			  "op", "SCMP_CMP_MASKED_EQ")));
	if (!syscall_known(a, "clone3"))
		return;
	r = rule(json_pack("[s]", "clone3"), "SCMP_ACT_ERRNO", NULL);
	json_object_set_new(r, "errnoRet", json_integer(ENOSYS));
	json_array_append_new(rules, r);
}

json_t *
ck_seccomp_default(json_t *caps)
{
	const struct arch_set *a = host_arch();
	json_t *rules = json_array();
	json_t *names = json_array();
	json_t *arches = json_array();
	json_t *seen = json_object();
	size_t i;

	add_names(names, a, allowed, seen);
	add_names(names, a, a->extra, seen);
	json_array_append_new(rules, rule(names, "SCMP_ACT_ALLOW", NULL));
	add_personality(rules);
	for (i = 0; i < sizeof(by_cap) / sizeof(by_cap[0]); i++) {
		if (!has_cap(caps, by_cap[i].cap))
			continue;
		names = json_array();
		add_names(names, a, by_cap[i].names, seen);
		if (json_array_size(names) > 0)
			json_array_append_new(rules, rule(names,
							  "SCMP_ACT_ALLOW",
							  NULL));
		else
			json_decref(names);
	}
	json_decref(seen);
	if (!has_cap(caps, "CAP_SYS_ADMIN"))
		add_clone_rules(rules, a);
	for (i = 0; a->names[i]; i++)
		if (arch_wanted(a->names[i]))
			json_array_append_new(arches,
					      json_string(a->names[i]));
	return json_pack("{s:s, s:o, s:o}", "defaultAction", "SCMP_ACT_ERRNO",
			 "architectures", arches, "syscalls", rules);
}
