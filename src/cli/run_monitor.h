/*
 * The monitor of `capvm run`: QEMU-compatible HMP and QMP sockets
 * (src/monitor/) answering from this VM and its devices.
 */
#ifndef CAPVM_RUN_MONITOR_H
#define CAPVM_RUN_MONITOR_H

#include <stdbool.h>
#include <stddef.h>

struct vm;
struct run_devices;
struct monitor;

struct run_monitor {
	struct monitor *mon;
	struct vm *vm;
	struct run_devices *devs;
	bool reset_requested;   /* system_reset: restart the VM whatever --reboot says */
	bool quit_requested;
	int nr_addrs;
	const char *addrs[4];
	bool qmp[4];
};

/* Remember --monitor / --qmp addresses while parsing flags. */
int run_monitor_add_address(struct run_monitor *m, const char *addr, bool qmp);
/* Create and start (no-op without addresses).  0 or -1 with err. */
int run_monitor_start(struct run_monitor *m, struct vm *vm, struct run_devices *devs,
		      const char *vm_name, char *err, size_t errlen);
/* Send the event that matches how the VM ended, then close the monitor. */
void run_monitor_finish(struct run_monitor *m, int exit_status);

#endif
