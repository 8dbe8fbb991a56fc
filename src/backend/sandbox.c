/*
 * The sandbox of a vhost-user back-end (see sandbox.h for the steps).
 *
 * The allow-list was found by reading the serving loop's code paths (blk,
 * net, inflight memfds, hostile front-ends), checked by tracing (strace -f)
 * test_sandbox's data-path test, and proven by the e2e tests in which QEMU
 * guests use sandboxed back-ends (a missing call kills them).  It is kept to
 * what the serving loop calls after the image, the tap and the listening
 * socket are open: socket/bind/connect, open/openat, execve,
 * clone/fork, ptrace, kill, mount, and every other call are absent.  Where
 * an argument filter is cheap it is there: mmap/mprotect never with
 * PROT_EXEC, sendto only on the connected socket (no address), fcntl and
 * ioctl only with the commands used.
 *
 * io_uring operations do not pass through seccomp (the kernel runs them on
 * the back-end's behalf); the empty root and the private network namespace
 * are what leave an IORING_OP_OPENAT or IORING_OP_SOCKET nothing to reach.
 */
#include "backend/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <linux/securebits.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define COMP "sandbox"
#define NOBODY 65534

/* Set by backend_sandbox_fork: the namespaces it created. */
static bool in_own_user_namespace, in_own_pid_namespace;

/* ------------------------------------------------------------ seccomp */

/* System calls allowed without an argument filter. */
static const int plain_allowed[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(close),
	SCMP_SYS(poll), SCMP_SYS(ppoll),
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl),
	SCMP_SYS(accept4), SCMP_SYS(recvmsg), SCMP_SYS(sendmsg),
	SCMP_SYS(munmap), SCMP_SYS(madvise), SCMP_SYS(brk), SCMP_SYS(mremap),
	SCMP_SYS(io_uring_enter),
	SCMP_SYS(fstat), SCMP_SYS(newfstatat),
	SCMP_SYS(timerfd_settime),
	/* the inflight area (GET_INFLIGHT_FD) is a sealed memfd */
	SCMP_SYS(memfd_create), SCMP_SYS(ftruncate),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
	SCMP_SYS(futex), SCMP_SYS(getpid), SCMP_SYS(gettid),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(restart_syscall),
	SCMP_SYS(sigaltstack),  /* only the process's own signal stack (ASan builds) */
	SCMP_SYS(exit), SCMP_SYS(exit_group),
};

/* fcntl commands used: flags, and the seals of the inflight memfd. */
static const int fcntl_allowed[] = {
	F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_ADD_SEALS, F_GET_SEALS,
};

/* One argument comparison (libseccomp's SCMP_An macros leave fields out). */
static struct scmp_arg_cmp arg_is(unsigned arg, enum scmp_compare op, scmp_datum_t a, scmp_datum_t b)
{
	return (struct scmp_arg_cmp){ .arg = arg, .op = op, .datum_a = a, .datum_b = b };
}

static int rule(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned n,
		const struct scmp_arg_cmp *cmp, char *err, size_t errlen)
{
	int rc = seccomp_rule_add_array(ctx, action, nr, n, cmp);
	if (rc < 0) {
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		err_fail(err, errlen, "seccomp rule for %s: %s", name ? name : "?", strerror(-rc));
		free(name);
		return -1;
	}
	return 0;
}

/* The serving loop's filter; NULL with err.  *count: rules added. */
static scmp_filter_ctx build_filter(bool tap, int *count, char *err, size_t errlen)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int n = 0, rc;

	if (!ctx) {
		err_fail(err, errlen, "seccomp_init failed");
		return NULL;
	}
	/* The kernel logs the denied call (audit type=1326: syscall=N). */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	if (rc < 0) {
		err_fail(err, errlen, "seccomp: cannot ask for logging: %s", strerror(-rc));
		goto fail;
	}
	for (size_t i = 0; i < ARRAY_SIZE(plain_allowed); i++, n++)
		if (rule(ctx, SCMP_ACT_ALLOW, plain_allowed[i], 0, NULL, err, errlen))
			goto fail;

	/* Memory: never executable. */
	struct scmp_arg_cmp no_exec = arg_is(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
	if (rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, &no_exec, err, errlen) ||
	    rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, &no_exec, err, errlen))
		goto fail;
	n += 2;

	/* send()/recv() on the connected socket: no address. */
	struct scmp_arg_cmp no_addr = arg_is(4, SCMP_CMP_EQ, 0, 0);
	if (rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendto), 1, &no_addr, err, errlen) ||
	    rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(recvfrom), 1, &no_addr, err, errlen))
		goto fail;
	n += 2;

	for (size_t i = 0; i < ARRAY_SIZE(fcntl_allowed); i++, n++) {
		struct scmp_arg_cmp cmd = arg_is(1, SCMP_CMP_EQ, (scmp_datum_t)fcntl_allowed[i], 0);
		if (rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1, &cmd, err, errlen))
			goto fail;
	}

	/* abort() after a failed assertion: SIGABRT to ourselves, not SIGSYS. */
	struct scmp_arg_cmp self_abort[2] = {
		arg_is(0, SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0),
		arg_is(2, SCMP_CMP_EQ, SIGABRT, 0),
	};
	if (rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 2, self_abort, err, errlen))
		goto fail;
	n++;

	/* The tap's offloads follow the features the driver accepts. */
	if (tap) {
		struct scmp_arg_cmp cmd = arg_is(1, SCMP_CMP_MASKED_EQ, 0xffffffffu, TUNSETOFFLOAD);
		if (rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, &cmd, err, errlen))
			goto fail;
		n++;
	}

	/*
	 * vu_backend_listen removes its socket file when it ends; in the empty
	 * root there is nothing to remove (the parent does it), so the call
	 * fails instead of killing a back-end that is shutting down cleanly.
	 */
	if (rule(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unlink), 0, NULL, err, errlen) ||
	    rule(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unlinkat), 0, NULL, err, errlen))
		goto fail;

	*count = n;
	return ctx;
fail:
	seccomp_release(ctx);
	return NULL;
}

int backend_sandbox_filter_check(bool tap, char *err, size_t errlen)
{
	int n;
	scmp_filter_ctx ctx = build_filter(tap, &n, err, errlen);

	if (!ctx)
		return -1;
	seccomp_release(ctx);
	return 0;
}

/* no_new_privs, then the filter; *count: allowed rules. */
static int load_filter(bool tap, int *count, char *err, size_t errlen)
{
	scmp_filter_ctx ctx;
	int rc;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return err_fail(err, errlen, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	ctx = build_filter(tap, count, err, errlen);
	if (!ctx)
		return -1;
	/* libseccomp sets no_new_privs itself too (SCMP_FLTATR_CTL_NNP). */
	rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0)
		return err_fail(err, errlen, "loading the seccomp filter: %s", strerror(-rc));
	return 0;
}

int backend_sandbox_load_filter(bool tap, char *err, size_t errlen)
{
	int n;

	return load_filter(tap, &n, err, errlen);
}

void backend_sandbox_test_hook(void)
{
	const char *name = getenv(BACKEND_SANDBOX_TEST_ENV);
	int nr;

	if (!name || !*name)
		return;
	nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR) {
		log_error(COMP, "%s=%s: no such system call", BACKEND_SANDBOX_TEST_ENV, name);
		return;
	}
	log_warn(COMP, "test hook: calling %s (%d), which the sandbox forbids", name, nr);
	long r = syscall(nr, 0L, 0L, 0L, 0L, 0L, 0L);
	log_error(COMP, "test hook: %s returned %ld (errno %d) instead of killing the back-end",
		  name, r, r < 0 ? errno : 0);
}

/* -------------------------------------------------------------- fds */

void backend_sandbox_close_inherited(void)
{
	/* close_range(2) exists since Linux 5.9; fall back to a loop. */
	if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
		return;
	long max = sysconf(_SC_OPEN_MAX);
	for (long fd = 3; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
		close((int)fd);
}

static bool fd_is_kept(const struct backend_sandbox_opts *o, int fd, const struct stat *st,
		       const struct stat *keep_st, const bool *keep_ok)
{
	if (fd <= 2)
		return true;
	for (int i = 0; i < o->nr_keep_fds; i++)
		if (o->keep_fds[i] == fd)
			return true;
	for (int i = 0; i < o->nr_keep_files; i++)
		if (keep_ok[i] && keep_st[i].st_dev == st->st_dev && keep_st[i].st_ino == st->st_ino)
			return true;
	return false;
}

/*
 * Every open fd must be stdio, named by the caller, on a named file, or an
 * anonymous inode (eventfd, timerfd, epoll, io_uring: they reach nothing
 * outside the process).  *listed gets "0 1 2 3 ...".
 */
static int check_fds(const struct backend_sandbox_opts *o, char *listed, size_t listedlen,
		     char *err, size_t errlen)
{
	struct stat keep_st[BACKEND_SANDBOX_MAX_KEEP];
	bool keep_ok[BACKEND_SANDBOX_MAX_KEEP] = { false };
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t off = 0;
	int rc = 0;

	if (!d)
		return err_fail(err, errlen, "cannot list /proc/self/fd: %s", strerror(errno));
	for (int i = 0; i < o->nr_keep_files && i < BACKEND_SANDBOX_MAX_KEEP; i++)
		keep_ok[i] = o->keep_files[i] && stat(o->keep_files[i], &keep_st[i]) == 0;
	listed[0] = '\0';
	while ((e = readdir(d))) {
		char *end, link[32], target[256];
		long fd = strtol(e->d_name, &end, 10);
		struct stat st;
		ssize_t n;

		if (e->d_name[0] == '.' || *end || fd < 0 || fd > INT32_MAX || fd == dirfd(d))
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%ld", fd);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		if (fstat((int)fd, &st)) {
			rc = err_fail(err, errlen, "fd %ld: fstat: %s", fd, strerror(errno));
			break;
		}
		if (!fd_is_kept(o, (int)fd, &st, keep_st, keep_ok) &&
		    strncmp(target, "anon_inode:", 11) != 0) {
			rc = err_fail(err, errlen, "fd %ld (%s) is open but the back-end does not need it",
				      fd, target);
			break;
		}
		if (off < listedlen) {
			int w = snprintf(listed + off, listedlen - off, "%s%ld", off ? " " : "", fd);
			off += w > 0 ? (size_t)w : 0;
		}
	}
	closedir(d);
	return rc;
}

/* ------------------------------------------------------- namespaces */

/* Make an empty read-only tmpfs the root of a new mount namespace. */
static int empty_root(const char **how, char *err, size_t errlen)
{
	/* Any existing directory will do as the mount point: it is private. */
	static const char *const dirs[] = { "/tmp", "/mnt", "/proc" };
	const char *dir = NULL;
	struct stat st;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return err_fail(err, errlen, "making mounts private: %s", strerror(errno));
	for (size_t i = 0; i < ARRAY_SIZE(dirs) && !dir; i++)
		if (stat(dirs[i], &st) == 0 && S_ISDIR(st.st_mode))
			dir = dirs[i];
	if (!dir)
		return err_fail(err, errlen, "no directory to mount the empty root on");
	if (mount("capvm-sandbox", dir, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "size=4k,nr_inodes=1,mode=0555"))
		return err_fail(err, errlen, "mounting an empty tmpfs on %s: %s", dir, strerror(errno));
	if (chdir(dir))
		return err_fail(err, errlen, "chdir %s: %s", dir, strerror(errno));
	/* pivot_root(".", "."): the old root ends up on top, then goes. */
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		if (umount2(".", MNT_DETACH))
			return err_fail(err, errlen, "detaching the old root: %s", strerror(errno));
		*how = "pivot_root";
	} else if (errno == EINVAL) {
		/*
		 * The root is the initramfs (rootfs), which cannot be pivoted
		 * away: move the tmpfs over it and chroot, as switch_root does.
		 * With no capabilities and no directory fds there is no way back.
		 */
		if (mount(".", "/", NULL, MS_MOVE, NULL) || chroot("."))
			return err_fail(err, errlen, "moving the empty root over the initramfs: %s",
					strerror(errno));
		*how = "move+chroot";
	} else {
		return err_fail(err, errlen, "pivot_root: %s", strerror(errno));
	}
	if (chdir("/"))
		return err_fail(err, errlen, "chdir /: %s", strerror(errno));
	return 0;
}

/* Write s to path (the user namespace maps). */
static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* Unprivileged: a user namespace where we are root, mapped to ourselves. */
static int own_user_namespace(char *err, size_t errlen)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];

	if (unshare(CLONE_NEWUSER))
		return err_fail(err, errlen, "not root and no user namespace (unshare: %s); "
				"run as root or with --no-sandbox", strerror(errno));
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	if (write_file("/proc/self/uid_map", map))
		return err_fail(err, errlen, "writing uid_map: %s", strerror(errno));
	if (write_file("/proc/self/setgroups", "deny") && errno != ENOENT)
		return err_fail(err, errlen, "writing setgroups: %s", strerror(errno));
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	if (write_file("/proc/self/gid_map", map))
		return err_fail(err, errlen, "writing gid_map: %s", strerror(errno));
	in_own_user_namespace = true;
	return 0;
}

/* ----------------------------------------------------- capabilities */

/* Become nobody (if real root), then empty every capability set. */
static int drop_privileges(const char **who, char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct none[2] = { { 0 } };

	/* Setuid keeps no capability and root gains none back (exec is not allowed anyway). */
	if (prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_SETUID_FIXUP |
		  SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_NOROOT | SECBIT_NOROOT_LOCKED, 0, 0, 0))
		return err_fail(err, errlen, "PR_SET_SECUREBITS: %s", strerror(errno));
	for (unsigned long cap = 0; ; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
			continue;
		if (errno == EINVAL && cap > 0)
			break;  /* past the last capability this kernel knows */
		return err_fail(err, errlen, "dropping capability %lu from the bounding set: %s",
				cap, strerror(errno));
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return err_fail(err, errlen, "clearing ambient capabilities: %s", strerror(errno));
	*who = "uid unchanged";
	if (!in_own_user_namespace && getuid() == 0) {
		/* Its files are open already; as nobody it owns nothing else. */
		if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
		    setresuid(NOBODY, NOBODY, NOBODY))
			return err_fail(err, errlen, "becoming uid/gid %d: %s", NOBODY, strerror(errno));
		*who = "uid/gid 65534";
		/*
		 * The uid change cleared the parent-death signal set after the
		 * fork: set it again, or a back-end whose reporting parent is
		 * killed keeps serving (and keeps its image locked).
		 */
		if (in_own_pid_namespace && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0))
			return err_fail(err, errlen, "PR_SET_PDEATHSIG: %s", strerror(errno));
	}
	if (syscall(SYS_capset, &hdr, none))
		return err_fail(err, errlen, "capset: %s", strerror(errno));
	return 0;
}

/* ------------------------------------------------------------ enter */

int backend_sandbox_enter(const struct backend_sandbox_opts *o, char *err, size_t errlen)
{
	const char *root_how = "none", *who = "";
	char fds[256];
	int rules = 0;

	if (o->nr_keep_fds < 0 || o->nr_keep_fds > BACKEND_SANDBOX_MAX_KEEP ||
	    o->nr_keep_files < 0 || o->nr_keep_files > BACKEND_SANDBOX_MAX_KEEP)
		return err_fail(err, errlen, "too many fds or files to keep");
	if (check_fds(o, fds, sizeof(fds), err, errlen))
		return -1;
	/* glibc reads /etc/localtime on first use (log time stamps): now, not later. */
	tzset();
	if (o->namespaces) {
		/*
		 * A tap fd keeps working from another network namespace (it is
		 * bound to its device, not looked up by name), so net gets one
		 * too; the listening unix socket is already bound.
		 */
		if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS))
			return err_fail(err, errlen, "unshare (mount, net, ipc, uts): %s", strerror(errno));
		if (empty_root(&root_how, err, errlen))
			return -1;
	}
	if (drop_privileges(&who, err, errlen))
		return -1;
	if (load_filter(o->tap, &rules, err, errlen))
		return -1;
	char where[160];
	if (o->namespaces)
		snprintf(where, sizeof(where), "new %s%smount/net/ipc/uts namespaces, empty read-only root (%s)",
			 in_own_user_namespace ? "user/" : "", in_own_pid_namespace ? "pid/" : "", root_how);
	else
		snprintf(where, sizeof(where), "no new namespaces");
	log_info(o->name ? o->name : COMP,
		 "sandbox entered: %s; %s, no capabilities, no_new_privs, seccomp allow-list "
		 "(%d rules, other system calls kill the back-end); open fds: %s",
		 where, who, rules, fds);
	backend_sandbox_test_hook();
	return 0;
}

/* ------------------------------------------------------------- fork */

static volatile pid_t sandboxed_child;

/*
 * The child is init of its PID namespace: it gets only signals it has a
 * handler for (SIGINT, SIGTERM), so a hangup is passed on as SIGTERM.
 */
static void forward_signal(int sig)
{
	if (sandboxed_child > 0)
		kill(sandboxed_child, sig == SIGHUP ? SIGTERM : sig);
}

int backend_sandbox_fork(const char *name, const char *socket_path, char *err, size_t errlen)
{
	pid_t pid;
	int status;

	if (geteuid() != 0 && own_user_namespace(err, errlen))
		return -1;
	/* The next child is the first process (pid 1) of the new namespace. */
	if (unshare(CLONE_NEWPID))
		return err_fail(err, errlen, "unshare (pid namespace): %s", strerror(errno));
	/*
	 * The parent is outside our pid namespace (kill(parent, 0) and getppid()
	 * cannot see it): it holds the write end of a pipe, so a read end that
	 * reports a hang-up means it is gone.
	 */
	int alive[2];
	if (pipe2(alive, O_CLOEXEC))
		return err_fail(err, errlen, "pipe: %s", strerror(errno));
	/*
	 * A SIGTERM that arrives right after the fork must reach the child, not
	 * kill the parent with the default action: hold the signals until the
	 * parent's forwarding handlers are in place.
	 */
	sigset_t forwarded, old_mask;
	sigemptyset(&forwarded);
	sigaddset(&forwarded, SIGINT);
	sigaddset(&forwarded, SIGTERM);
	sigaddset(&forwarded, SIGHUP);
	sigprocmask(SIG_BLOCK, &forwarded, &old_mask);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		sigprocmask(SIG_SETMASK, &old_mask, NULL);
		close(alive[0]);
		close(alive[1]);
		return err_fail(err, errlen, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		struct pollfd pfd = { .fd = alive[0], .events = POLLIN };

		sigprocmask(SIG_SETMASK, &old_mask, NULL);
		in_own_pid_namespace = true;
		close(alive[1]);
		/* Do not outlive the parent that reports on us (even if it is gone already). */
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLHUP))
			_exit(1);
		close(alive[0]);
		return 0;
	}
	close(alive[0]);  /* the write end stays open (close-on-exec) until we exit */

	sandboxed_child = pid;
	struct sigaction sa = { .sa_handler = forward_signal, .sa_flags = SA_RESTART };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			log_error(name, "waiting for the back-end (pid %d): %s", (int)pid, strerror(errno));
			_exit(1);
		}
	if (socket_path)
		unlink(socket_path);
	/*
	 * _exit: nothing of ours is buffered (log lines are single writes), and
	 * atexit work such as LeakSanitizer's cannot fork any more in a
	 * process whose pid namespace for children has died with the child.
	 */
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) {
		log_error(name, "backend killed by seccomp (SIGSYS): a system call outside the "
			  "allow-list (the kernel log names it: audit type=1326 ... syscall=N)");
		_exit(BACKEND_SANDBOX_EXIT_SECCOMP);
	}
	if (WIFSIGNALED(status)) {
		log_error(name, "backend killed by signal %d (%s)", WTERMSIG(status),
			  strsignal(WTERMSIG(status)));
		_exit(128 + WTERMSIG(status));
	}
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}
