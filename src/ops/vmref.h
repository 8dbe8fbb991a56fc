/*
 * Finding a running VM and talking to its monitor, for the operations
 * commands (`capvm image`, `capvm debug-bundle`).
 *
 * A VM is named through its supervisor: the control socket's
 * `status json` gives its state and VMM pid, and the VMM's own command
 * line (/proc/PID/cmdline, which the supervisor built from the
 * description) gives the monitor address, disk images, console and log
 * files exactly as the running process uses them.
 */
#ifndef CAPVM_OPS_VMREF_H
#define CAPVM_OPS_VMREF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OPS_MAX_DISKS 16

struct ops_vm {
	char name[128];
	char state[32];            /* supervisor state ("running", ...) or "" */
	int pid;                   /* VMM pid, 0 when not running */
	int restarts;
	char control[256];         /* control socket it was found through, or "" */
	char *monitor;             /* monitor address (capvm run syntax), or NULL */
	bool monitor_qmp;          /* that monitor speaks QMP */
	char *disks[OPS_MAX_DISKS]; /* image paths */
	bool disk_ro[OPS_MAX_DISKS];
	int n_disks;
	char *console_file;        /* --console file:PATH */
	char *console_log;         /* --console-log PATH */
	char *log;                 /* --log PATH */
};

void ops_vm_free(struct ops_vm *vm);

/*
 * Reads a whole file until EOF -- also /proc files, whose size is 0 --
 * into a malloc'd buffer with a NUL after the data; at most max bytes.
 * Returns 0, or -1 with errno set.
 */
int ops_read_all(const char *path, size_t max, void **buf, size_t *len);

/*
 * Control sockets to look at: control (when given), else every *.sock
 * in sup_control_dir() (/run/capvm for root).  Returns a NULL-terminated malloc'd array of
 * malloc'd paths (free with ops_free_list), never NULL.
 */
char **ops_control_sockets(const char *control);
void ops_free_list(char **list);

/* The supervisor's `status json` reply (malloc'd), or NULL with *err set. */
char *ops_status_json(const char *control, int *err);

/*
 * Finds VM name through the supervisor(s) (control NULL: all under
 * /run/capvm).  Returns 0, or -1 with a message in err: no supervisor,
 * unknown VM (the message lists the VMs that exist), VM not running.
 */
int ops_find_vm(const char *control, const char *name, struct ops_vm *vm, char *err,
		size_t errlen);

/* Reads the capvm run arguments of pid into vm (monitor, disks, files). */
int ops_vm_from_pid(int pid, struct ops_vm *vm);

/*
 * Runs one HMP command on the monitor at address (QMP sockets through
 * human-monitor-command) and returns its output without banner, echo and
 * prompts (malloc'd), or NULL with *err (-errno) set.  timeout_ms bounds
 * the whole conversation.
 */
char *ops_monitor_hmp(const char *address, bool qmp, const char *command, int timeout_ms,
		      int *err);

/* A file is in use when another process holds an OFD/POSIX lock on it
 * (capvm run locks its disk images).  Returns 1 in use, 0 free, -errno. */
int ops_image_in_use(const char *path);

#endif
