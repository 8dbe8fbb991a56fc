/*
 * One KVM virtual machine: guest memory, vCPU threads and their run loop,
 * the legacy PC devices (UART, RTC, i8042 reset, pvpanic, ACPI power
 * registers) and the virtio-mmio windows.  capvm runs one VM per process.
 */
#ifndef CAPVM_X86_VM_H
#define CAPVM_X86_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/boot.h"
#include "common/chardev.h"

/* capvm's exit statuses (documented in docs/run.md and `capvm run --help`). */
enum vm_exit_status {
	VM_EXIT_POWEROFF = 0,  /* guest powered off, or stopped by SIGTERM/SIGINT/quit */
	VM_EXIT_ERROR = 1,     /* could not start: bad input, no usable KVM */
	VM_EXIT_USAGE = 2,     /* bad command line */
	VM_EXIT_REBOOT = 3,    /* guest asked for a reboot (without --reboot=restart) */
	VM_EXIT_PANIC = 4,     /* guest kernel panicked (pvpanic) */
	VM_EXIT_CRASH = 5,     /* triple fault, KVM internal error, failed entry */
	VM_EXIT_WATCHDOG = 6,  /* watchdog fired, action poweroff (not restarted) */
	VM_EXIT_WATCHDOG_RESTART = 7, /* watchdog fired, action restart (supervisor restarts) */
};

#define VM_MAX_CPUS 255
#define VM_MAX_DATAPORTS 8

struct vm_dataport {
	const char *name;
	uint64_t gpa;
	uint64_t size;
	int fd;          /* memfd (shared with other VMs) */
	void *host;      /* set by vm_create */
};

struct vm_config {
	const char *name;
	uint64_t mem_size;
	int nr_cpus;
	bool hugepages;
	bool mem_shared;             /* guest RAM in a memfd (for vhost-user shared mode) */
	const char *kernel_path;
	const char *initrd_path;
	const char *cmdline;
	struct chardev *console;     /* serial console */
	int nr_dataports;
	struct vm_dataport dataports[VM_MAX_DATAPORTS];
	/* vCPU placement: -1 entries end the list */
	int affinity[VM_MAX_CPUS + 1];
	int nr_affinity;
	int priority;                /* seL4 scale 0..255, -1 = leave as is */
	int watchdog_action;         /* enum watchdog_action (0 = reset) */
	unsigned watchdog_timeout_s; /* 0: the guest's choice (arch/x86/watchdog.h) */
};

struct vm;
struct virtio_mmio;

/* Open KVM and create the VM with its memory and vCPUs (not yet running). */
struct vm *vm_create(const struct vm_config *cfg, char *err, size_t errlen);
/* Can a virtio device have this interrupt line (GSI)? */
bool vm_gsi_usable(uint32_t gsi);
/* Keep a line for a device that names it (before any vm_alloc_mmio_slot). */
int vm_reserve_gsi(struct vm *vm, uint32_t gsi);
/*
 * Next free virtio-mmio slot: its base address and interrupt line, want_gsi
 * if not 0 (it must have been reserved) or else the next free line.
 */
int vm_alloc_mmio_slot(struct vm *vm, uint32_t want_gsi, uint64_t *base, uint32_t *gsi);
/* Wire a transport: ioeventfds, irqfd, MMIO dispatch, ACPI (before vm_boot). */
int vm_add_virtio(struct vm *vm, struct virtio_mmio *t, char *err, size_t errlen);
/* The guest memory view for device models. */
struct guest_mem *vm_guest_mem(struct vm *vm);
/*
 * Guest RAM as a shareable file, for vhost-user back-ends (shared mode):
 * fills up to max slots (guest-physical start, size, offset in the memfd)
 * and returns how many, with the memfd in *fd (still owned by the VM); -1
 * when guest RAM is not in a memfd (no --mem-shared).  Dataports are not
 * listed.
 */
struct vm_ram_slot {
	uint64_t gpa, size, fd_offset;
};
int vm_ram_slots(struct vm *vm, struct vm_ram_slot *slots, int max, int *fd);
/* Load the kernel, build ACPI tables and boot; then wait until the VM ends.
 * Returns an enum vm_exit_status. */
int vm_boot_and_run(struct vm *vm, char *err, size_t errlen);
void vm_destroy(struct vm *vm);

/* Requests from other threads (monitor, signals). */
void vm_request_exit(struct vm *vm, int status, const char *why);
void vm_power_button(struct vm *vm);
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
bool vm_is_paused(struct vm *vm);
int vm_nr_cpus(struct vm *vm);
int vm_vcpu_tid(struct vm *vm, int i);
/* Exit counters (for the monitor and benchmarks). */
struct vm_stats {
	uint64_t exits, io_exits, mmio_exits, other_exits;
};
void vm_get_stats(struct vm *vm, struct vm_stats *st);

/* The ib700 watchdog (arch/x86/watchdog.h). */
struct vm_watchdog_state {
	bool armed;
	unsigned timeout_s;          /* countdown in force */
	unsigned guest_timeout_s;    /* what the guest's code asks for */
	int64_t ms_left;             /* -1 when not armed */
	uint64_t pets, fires;
	const char *action;
};
void vm_get_watchdog(struct vm *vm, struct vm_watchdog_state *st);
/* Called (from the main thread) when the watchdog fires, before the action. */
void vm_set_watchdog_hook(struct vm *vm, void (*fn)(void *opaque, const char *action),
			  void *opaque);
/* Did the VM end because the watchdog's action is reset (restart the VM)? */
bool vm_watchdog_reset(struct vm *vm);

/* Is /dev/kvm usable for a stock guest?  Fills a one-line description. */
int vm_probe_kvm(char *desc, size_t len);

#endif
