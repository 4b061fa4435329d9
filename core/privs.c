/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "core/privs.h"

#include <errno.h>
#include <pwd.h>

#include <cap-ng.h>
#include <seccomp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int cap_get(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};

	return syscall(SYS_capget, &hdr, data) < 0 ? -errno : 0;
}

static int cap_set(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};

	return syscall(SYS_capset, &hdr, data) < 0 ? -errno : 0;
}

int privs_pass_net_admin(void)
{
	struct __user_cap_data_struct data[2] = {{0}};
	const unsigned bit = 1u << (CAP_NET_ADMIN % 32);
	const unsigned word = CAP_NET_ADMIN / 32;
	int rc;

	if (geteuid() == 0)
		return 0;
	rc = cap_get(data);
	if (rc < 0)
		return rc;
	if (!(data[word].permitted & bit))
		return -EPERM;
	if (!(data[word].inheritable & bit)) {
		data[word].inheritable |= bit;
		rc = cap_set(data);
		if (rc < 0)
			return rc;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN, 0, 0) < 0)
		return -errno;
	return 0;
}

int privs_drop(const char *user)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int rc;

	if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return -ENOENT;
	if (pw.pw_uid == 0)
		return -EINVAL;
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_updatev(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_INHERITABLE,
			  CAP_NET_ADMIN, CAP_NET_BIND_SERVICE, -1) < 0)
		return -EINVAL;
	rc = capng_change_id((int)pw.pw_uid, (int)pw.pw_gid,
			     CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING);
	if (rc < 0)
		return -EPERM;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN, 0, 0) < 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

/* What the daemon (libev, liburcu, OpenSSL, libcurl, jansson) and the
 * iptables-restore children it runs need; names the kernel does not know on
 * this architecture are skipped. */
static const char *const allowed[] = {
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "open",
    "openat",
    "close",
    "close_range",
    "stat",
    "fstat",
    "lstat",
    "newfstatat",
    "statx",
    "lseek",
    "mmap",
    "munmap",
    "mprotect",
    "mremap",
    "madvise",
    "brk",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigaltstack",
    "ioctl",
    "access",
    "faccessat",
    "faccessat2",
    "pipe",
    "pipe2",
    "memfd_create", /* spawn_start: the tools' stdin and stdout */
    "select",
    "pselect6",
    "poll",
    "ppoll",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "dup",
    "dup2",
    "dup3",
    "nanosleep",
    "clock_nanosleep",
    "getpid",
    "gettid",
    "getppid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getgroups",
    "getresuid",
    "getresgid",
    "socket",
    "socketpair",
    "connect",
    "accept",
    "accept4",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "shutdown",
    "bind",
    "listen",
    "getsockname",
    "getpeername",
    "setsockopt",
    "getsockopt",
    "clone",
    "clone3",
    "fork",
    "vfork",
    "execve",
    "exit",
    "exit_group",
    "wait4",
    "waitid",
    "kill",
    "tgkill",
    "tkill",
    "uname",
    "fcntl",
    "flock",
    "fsync",
    "fdatasync",
    "ftruncate",
    "getdents64",
    "getcwd",
    "chdir",
    "rename",
    "renameat",
    "renameat2",
    "mkdir",
    "mkdirat",
    "unlink",
    "unlinkat",
    "readlink",
    "readlinkat",
    "chmod",
    "fchmod",
    "fchmodat",
    "chown",
    "fchown",
    "fchownat",
    "umask",
    "gettimeofday",
    "getrlimit",
    "setrlimit",
    "prlimit64",
    "getrusage",
    "sysinfo",
    "times",
    "prctl",
    "arch_prctl",
    "futex",
    "set_tid_address",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "sched_yield",
    "sched_getaffinity",
    "membarrier",
    "getrandom",
    "eventfd",
    "eventfd2",
    "signalfd",
    "signalfd4",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    "clock_gettime",
    "clock_getres",
    "time",
    "restart_syscall",
    "capget",
    "statfs",
    "fstatfs",
    "getpriority",
    "sched_getparam",
    "sched_getscheduler",
};

#if defined(__SANITIZE_ADDRESS__)
#define PRIVS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PRIVS_SANITIZER 1
#endif
#endif

int privs_seccomp(int kill)
{
	scmp_filter_ctx ctx;
	int rc = 0;

#ifdef PRIVS_SANITIZER
	/* The sanitizer runtimes make calls of their own (LeakSanitizer's
	 * ptrace, for one): a sanitizer build only logs. */
	kill = 0;
#endif
	ctx = seccomp_init(kill ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_LOG);

	if (!ctx)
		return -ENOMEM;
	/* Every thread: the verdict threads were started before the filter. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);

		if (nr == __NR_SCMP_ERROR)
			continue;
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (rc < 0)
			goto out;
	}
	rc = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	return rc;
}
