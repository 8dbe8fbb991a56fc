/*
 * The sandbox of a vhost-user back-end process (`capvm backend blk|net`).
 *
 * A back-end parses what a hostile front-end sends and touches guest memory,
 * so once its image (or tap) is open and its socket listens it gives up
 * everything else, in this order:
 *
 *   1. fds: only stdin/stdout/stderr, the fds the caller names, fds on the
 *      files the caller names (the image) and anonymous-inode fds (eventfd,
 *      timerfd, epoll, io_uring) may be open; anything else is an error;
 *   2. namespaces: new mount (root = an empty read-only tmpfs, through
 *      pivot_root), network (only a down loopback), IPC and UTS namespaces;
 *   3. identity: started as real root, it becomes nobody (65534) with no
 *      supplementary groups; securebits locked so it never regains caps;
 *   4. capabilities: bounding, ambient, effective, permitted and inheritable
 *      sets emptied;
 *   5. PR_SET_NO_NEW_PRIVS;
 *   6. a seccomp allow-list (libseccomp): the system calls of the serving
 *      loop only; any other call kills the whole process with SIGSYS and
 *      the kernel logs it (SCMP_FLTATR_CTL_LOG).
 *
 * The PID namespace needs a fork: backend_sandbox_fork() makes the serving
 * process the first process of a new PID namespace and keeps the caller as
 * a small parent that holds nothing, forwards SIGINT/SIGTERM, and reports
 * how the back-end ended (a seccomp kill is logged by name).
 */
#ifndef CAPVM_BACKEND_SANDBOX_H
#define CAPVM_BACKEND_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>

/* Exit status of the parent when the back-end was killed by seccomp. */
#define BACKEND_SANDBOX_EXIT_SECCOMP 159   /* 128 + SIGSYS, as a shell shows it */

/* Test hook: after entering, call this forbidden system call (by name). */
#define BACKEND_SANDBOX_TEST_ENV "CAPVM_BACKEND_TEST_SYSCALL"

#define BACKEND_SANDBOX_MAX_KEEP 8

struct backend_sandbox_opts {
	const char *name;                    /* for log lines: "vu-blk" */
	int keep_fds[BACKEND_SANDBOX_MAX_KEEP];  /* fds to keep (e.g. the listening socket) */
	int nr_keep_fds;
	/* Files whose fds may stay open (the image); matched by device and inode. */
	const char *keep_files[BACKEND_SANDBOX_MAX_KEEP];
	int nr_keep_files;
	bool tap;                            /* allow the tap ioctl (TUNSETOFFLOAD) */
	bool namespaces;                     /* unshare (false only for unit tests) */
};

/*
 * Enter the sandbox (see above).  0 on success (one log line says what was
 * entered), -1 with the reason in err.  On failure the process may be half
 * sandboxed: it must exit.
 */
int backend_sandbox_enter(const struct backend_sandbox_opts *o, char *err, size_t errlen);

/*
 * Build the seccomp filter of the serving loop without loading it (unit
 * tests).  0 or -1 with err.
 */
int backend_sandbox_filter_check(bool tap, char *err, size_t errlen);

/*
 * Load just the seccomp filter (and no_new_privs) into this process (unit
 * tests: a child then calls a forbidden system call).  0 or -1 with err.
 */
int backend_sandbox_load_filter(bool tap, char *err, size_t errlen);

/*
 * If BACKEND_SANDBOX_TEST_ENV names a system call, make it (it must kill the
 * process).  Returns only when the variable is unset or the call was not
 * killed (then it logs an error).
 */
void backend_sandbox_test_hook(void);

/*
 * Close inherited fds (every fd above 2): everything the back-end holds
 * afterwards, it opened itself.
 */
void backend_sandbox_close_inherited(void);

/*
 * Fork the back-end into a new PID namespace.  Returns 0 in the child (which
 * goes on to open its device, listen and enter the sandbox).  In the parent
 * it does not return: it forwards SIGINT/SIGTERM to the child, waits, logs
 * how the child ended, unlinks socket_path (the child cannot: its root is
 * empty) and exits with the child's status (BACKEND_SANDBOX_EXIT_SECCOMP
 * after a seccomp kill, 128+N after another signal N).  Returns -1 with err
 * if the namespace or the fork fails.
 */
int backend_sandbox_fork(const char *name, const char *socket_path, char *err, size_t errlen);

#endif
