/*
 * The monitor socket: QEMU-compatible human monitor (HMP) and machine
 * protocol (QMP) for one VM, so that `echo "info status" | nc ...` and
 * existing QMP clients work against capvm.
 *
 * The module knows nothing about KVM.  The VMM hands it a table of
 * callbacks (struct monitor_ops) and one or more listening addresses; the
 * monitor then runs its own thread with a poll loop, so a slow or hostile
 * client never blocks a vCPU thread.
 *
 * Threading contract:
 *  - Every callback in monitor_ops is called from the monitor thread, one
 *    at a time (never concurrently with another callback of the same
 *    monitor).  The VMM must make them safe against its own threads
 *    (vCPUs, main loop): take its locks, or post a request and wait.
 *    Callbacks should return promptly; while one runs, no client is served.
 *  - Callbacks must not call monitor_destroy() (it joins the monitor
 *    thread).  They may call monitor_emit_event().
 *  - monitor_emit_event() may be called from any thread at any time after
 *    monitor_create() and before monitor_destroy().  It is not
 *    async-signal-safe.
 *  - The monitor never emits events on its own: the VMM emits STOP when it
 *    has paused, RESUME when it resumes, SHUTDOWN/RESET/POWERDOWN when they
 *    happen, whatever caused them (monitor command, guest, watchdog).  An
 *    event emitted from inside a command callback reaches clients before
 *    that command's reply, as in QEMU.
 *
 * Addresses (see docs/monitor.md):
 *   unix:PATH[,opts]           unix socket (created 0600; a stale socket
 *                              file is replaced, a live one is refused)
 *   tcp:HOST:PORT[,opts]       TCP; HOST must be loopback unless public=on;
 *                              "tcp::PORT" means every interface
 *   PATH                       same as unix:PATH
 * opts: mode=hmp|readline|qmp|control   protocol on this socket
 *       public=on                       allow a non-loopback TCP address
 *       server, nowait, server=on, wait=off   accepted and ignored (QEMU)
 */
#ifndef CAPVM_MONITOR_H
#define CAPVM_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of one HMP line or one QMP JSON value; longer input is refused. */
#define MONITOR_MAX_INPUT       (64 * 1024)
/* Clients served at once over all listeners of one monitor. */
#define MONITOR_MAX_CLIENTS     8
#define MONITOR_MAX_LISTENERS   4
/* Upper bounds of what a query callback may report. */
#define MONITOR_MAX_CPUS        256
#define MONITOR_MAX_BLOCKS      64
#define MONITOR_MAX_NICS        64
#define MONITOR_MAX_COUNTERS    512

enum monitor_protocol {
	MONITOR_HMP,    /* QEMU's human monitor: text lines, "(qemu) " prompt */
	MONITOR_QMP,    /* QEMU Machine Protocol: JSON */
};

/* The VM's run state; names (monitor_runstate_name) are QEMU's RunState. */
enum monitor_runstate {
	MONITOR_RUNSTATE_PRELAUNCH,      /* "prelaunch": created, not started */
	MONITOR_RUNSTATE_RUNNING,        /* "running" */
	MONITOR_RUNSTATE_PAUSED,         /* "paused": stopped by stop */
	MONITOR_RUNSTATE_SHUTDOWN,       /* "shutdown": guest powered off */
	MONITOR_RUNSTATE_INTERNAL_ERROR, /* "internal-error": VMM/KVM failure */
	MONITOR_RUNSTATE_GUEST_PANICKED, /* "guest-panicked" */
	MONITOR_RUNSTATE_WATCHDOG,       /* "watchdog": paused by watchdog */
	MONITOR_RUNSTATE_IO_ERROR,       /* "io-error": paused on a disk error */
	MONITOR_RUNSTATE_SUSPENDED,      /* "suspended": guest ACPI S3 */
	MONITOR_RUNSTATE_DEBUG,          /* "debug": stopped by a debugger */
	MONITOR_RUNSTATE__COUNT
};

const char *monitor_runstate_name(enum monitor_runstate state);

struct monitor_cpu {
	int index;              /* vCPU number, 0-based */
	int64_t thread_id;      /* host thread id (gettid()) of its thread */
	bool halted;            /* informative; may stay false */
};

struct monitor_block {
	char device[64];        /* "virtio0": the name users refer to */
	char file[4096];        /* image path on the host */
	char format[16];        /* "raw"; empty means "raw" */
	uint64_t size;          /* virtual size in bytes */
	bool read_only;
	bool direct;            /* opened with O_DIRECT (cache=none) */
	char attached_to[128];  /* optional: "virtio-mmio@0xd0000000" */
};

struct monitor_nic {
	char name[64];          /* "net0" */
	char model[64];         /* "virtio-net-device" */
	char mac[18];           /* "52:54:00:12:34:56" */
	char backend_name[64];  /* "hostnet0" (optional) */
	char backend_type[32];  /* "tap", "user", "backend"... (optional) */
	char backend_info[256]; /* "ifname=tap0" (optional) */
};

struct monitor_counter {
	char name[64];          /* "vcpu0.exits.mmio": [A-Za-z0-9_.-] */
	uint64_t value;
};

/*
 * Commands return 0 on success or a negative errno; on failure they may
 * put a human-readable reason into err (NUL-terminated, at most errlen
 * bytes), otherwise strerror(-ret) is shown.
 * Queries fill up to max entries and return how many (>= 0) or -errno.
 * Every member except get_status may be NULL: the command then answers
 * "... is not supported by this VM".
 */
struct monitor_ops {
	enum monitor_runstate (*get_status)(void *opaque);
	int (*stop)(void *opaque, char *err, size_t errlen);
	int (*cont)(void *opaque, char *err, size_t errlen);
	/* ACPI power button: a request, returns before the guest reacts. */
	int (*system_powerdown)(void *opaque, char *err, size_t errlen);
	int (*system_reset)(void *opaque, char *err, size_t errlen);
	/* Ask the VMM to exit.  Called after the reply has been sent (or the
	 * client has gone); must only request the exit, not perform it. */
	int (*quit)(void *opaque, char *err, size_t errlen);
	int (*query_cpus)(void *opaque, struct monitor_cpu *cpus, size_t max);
	int (*query_block)(void *opaque, struct monitor_block *blocks, size_t max);
	int (*query_network)(void *opaque, struct monitor_nic *nics, size_t max);
	int (*query_counters)(void *opaque, struct monitor_counter *counters, size_t max);
	/* Grow block device `device` (a query-block name) to size bytes. */
	int (*block_resize)(void *opaque, const char *device, uint64_t size, char *err, size_t errlen);
};

/* What the QMP greeting and query-version report. */
struct monitor_version {
	int major, minor, micro;   /* QMP compatibility level: QEMU 7.2.0 */
	char package[64];          /* "capvm <git describe>" */
};

struct monitor;

/*
 * Create a monitor for one VM.  ops and opaque must outlive it.  vm_name
 * (may be NULL) only appears in the HMP banner and logs.  Returns NULL and
 * a message in err on failure.
 */
struct monitor *monitor_create(const struct monitor_ops *ops, void *opaque,
			       const char *vm_name, char *err, size_t errlen);

/*
 * Listen on ADDRESS (syntax above).  default_proto applies when the
 * address has no mode= option: the VMM passes MONITOR_HMP for --monitor
 * and MONITOR_QMP for --qmp.  Only before monitor_start().  Returns 0 or
 * -errno with a message in err.
 */
int monitor_listen(struct monitor *mon, const char *address,
		   enum monitor_protocol default_proto, char *err, size_t errlen);

/*
 * The address listener i (0-based, in monitor_listen order) is bound to,
 * in the same syntax with the actual port ("tcp:127.0.0.1:40123,mode=qmp").
 * Returns 0, or -ENOENT if there is no such listener.
 */
int monitor_listener_address(const struct monitor *mon, size_t i,
			     char *buf, size_t len);

/* Start the monitor thread.  Returns 0 or -errno. */
int monitor_start(struct monitor *mon);

/*
 * Queue a QMP event for every connected, negotiated QMP client.  name is
 * an upper-case event name ("SHUTDOWN"); data_json is a JSON object text
 * ("{\"guest\": true, \"reason\": \"guest-shutdown\"}") or NULL for none.
 * The timestamp is taken now.  Safe from any thread; mon may be NULL (then
 * it does nothing).  Returns 0, -EINVAL for a bad name or data, -ENOMEM,
 * or -ENOSPC when too many events are pending (the event is dropped).
 */
int monitor_emit_event(struct monitor *mon, const char *name, const char *data_json);

/*
 * Stop the thread (after delivering queued events and pending replies for
 * at most ~200 ms), close every socket, remove unix socket files it
 * created and free everything.  Not from a monitor callback.  NULL is ok.
 */
void monitor_destroy(struct monitor *mon);

#endif
