/*
 * The supervisor: starts every VM of a validated system as its own
 * `capvm run` process and every device domain as its own `capvm backend`
 * process (those first), applies CPU pinning, scheduling and the memory
 * budget, creates the dataports (sealed memfds handed to exactly the two
 * VMs named on the connection), restarts VMs and back-ends by policy, and
 * answers `capvm system status/down` on a control unix socket.  See
 * docs/supervisor.md.
 */
#ifndef CAPVM_SYSTEM_SUPERVISOR_H
#define CAPVM_SYSTEM_SUPERVISOR_H

#include <stdbool.h>
#include <stdio.h>

#include "system/sysdesc.h"

/* Environment variable naming a program to exec instead of capvm itself
 * (tests use a shell script standing in for `capvm run`). */
#define SUP_VMM_ENV "CAPVM_SYSTEM_VMM"
#define SUP_CONTROL_DIR "/run/capvm"
#define SUP_DEFAULT_STOP_TIMEOUT_MS 30000

struct sup_options {
	const char *control_path;   /* NULL: SUP_CONTROL_DIR/<system>.sock */
	const char *log_path;       /* supervisor log file (NULL: stderr only) */
	const char *vmm_path;       /* NULL: $CAPVM_SYSTEM_VMM or /proc/self/exe */
	unsigned stop_timeout_ms;   /* system down: wait this long, then SIGKILL */
	unsigned dd_ready_timeout_ms; /* a device domain's socket must accept within
				       * this (0: SD_DD_READY_TIMEOUT_MS) */
};

/* Directory of control sockets: SUP_CONTROL_DIR for root, else
 * $XDG_RUNTIME_DIR/capvm when that is set. */
const char *sup_control_dir(void);
/* Default control socket of a system; returns a malloc'd path. */
char *sup_default_control(const char *system_name);

/*
 * The arguments of the `capvm run` process for VM i (argv[0] = "capvm",
 * argv[1] = "run", NULL-terminated, malloc'd; free with sup_free_argv).
 * dp_fds[d] is the fd of dataport d of sys (NULL: print "fd=N" as a
 * placeholder, for --dry-run).  default_log is the --log of a VM without
 * its own `log` attribute (NULL: none).
 */
char **sup_build_argv(const struct sd_system *sys, size_t i, const int *dp_fds,
		      const char *default_log);
void sup_free_argv(char **argv);

/*
 * Device domains: sup_build_argv() of a DeviceDomain gives its back-end's
 * command line (`capvm backend blk --socket SOCK --image IMAGE`, or `net
 * --tap TAP`).  Their sockets live in the runtime directory: sys->runtime_dir,
 * or by default <control dir>/<system name> (both malloc'd).
 */
char *sup_runtime_dir(const struct sd_system *sys);
char *sup_dd_socket(const struct sd_system *sys, size_t i);

/* Runs the system until every VM has stopped for good or it is told to
 * stop: device domains first (each VM waits until the sockets of its
 * device domains accept), VMs after; on the way down VMs first, device
 * domains last.  Returns the process exit status (0: all VMs ended
 * cleanly). */
int supervisor_run(const struct sd_system *sys, const struct sup_options *opt);

/*
 * Sends request ("status", "status json" or "down") to the supervisor at
 * control_path and copies its reply to out.  Returns 0, or -errno when no
 * supervisor answers.
 */
int sup_request(const char *control_path, const char *request, FILE *out);

#endif
