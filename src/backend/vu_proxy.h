/*
 * A virtio device of the VMM whose work is done by a vhost-user back-end
 * process (capvm run --disk vhost-user=SOCK): the proxy sits on the normal
 * virtio-mmio transport, takes its features, queue count and config space
 * from the back-end, and hands the back-end the rings when the guest's
 * driver is ready.  Two memory modes:
 *
 *  - shared: the back-end maps guest RAM (the VM's memfd, --mem-shared)
 *    and gets the transport's own kick eventfds (KVM ioeventfds) and
 *    interrupt eventfd (KVM irqfd), so the data path never enters the VMM.
 *    Create the transport with virtio_mmio_create_external() and pass its
 *    fds with vu_proxy_set_transport_fds().
 *
 *  - isolated: the back-end maps only a bounce window (a memfd of
 *    bounce_size bytes, like a SWIOTLB pool), never guest RAM.  The proxy
 *    is an ordinary device for the transport: on a guest kick it copies each
 *    request's buffers into the window and queues it on a shadow ring there;
 *    when the back-end signals, it copies the results back into the guest's
 *    buffers and completes them on the guest's ring.  When the window is
 *    full, requests wait for completions ("bounce window full" waits).
 *
 * Both modes survive a back-end crash (reconnect=SECONDS): shared mode with
 * the back-end's inflight area, isolated mode by replaying the requests the
 * VMM relayed and has not completed (see proxy_disconnected).
 *
 * No KVM headers here: the VM's RAM layout comes in as struct vu_proxy_ram.
 */
#ifndef CAPVM_BACKEND_VU_PROXY_H
#define CAPVM_BACKEND_VU_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/guest_mem.h"

enum vu_proxy_mem { VU_PROXY_MEM_SHARED, VU_PROXY_MEM_ISOLATED };

#define VU_PROXY_BOUNCE_DEFAULT (64ULL << 20)
#define VU_PROXY_BOUNCE_MIN     (1ULL << 20)
#define VU_PROXY_BOUNCE_MAX     (1ULL << 30)

struct vu_proxy_options {
	char socket[108];             /* unix socket path (sun_path size) */
	enum vu_proxy_mem mem;
	uint64_t bounce_size;         /* isolated mode: window bytes */
	/* how long to retry a back-end that went away (0: needs-reset at once) */
	unsigned reconnect_s;
	/*
	 * isolated mode: longest interrupt-coalescing window of the relay in µs
	 * (0: off).  vu_proxy_parse leaves it 0 when coalesce= is not given;
	 * `--disk` then picks BLK_COALESCE_DEFAULT_US (run_devices.c), `--net`
	 * keeps 0 (a network device's receive buffers never run idle).
	 */
	uint32_t coalesce_us;
	bool coalesce_given;          /* coalesce= was given */
};

#define VU_PROXY_RECONNECT_DEFAULT_S 10
#define VU_PROXY_RECONNECT_MAX_S     3600

/*
 * "vhost-user=PATH[,mem=shared|isolated][,bounce=SIZE][,reconnect=SECONDS][,coalesce=USEC]" (the part of a
 * --disk spec after irq= was taken out).  Returns 1 if spec is a
 * vhost-user spec and parsed, 0 if it is not one (starts otherwise), -1
 * with a message in err if it is one but bad.
 */
int vu_proxy_parse(const char *spec, struct vu_proxy_options *o, char *err, size_t errlen);

/* Guest RAM as a file (shared mode): one entry per RAM slot. */
#define VU_PROXY_MAX_RAM_SLOTS 4
struct vu_proxy_ram {
	int fd;                       /* the guest-RAM memfd, -1 if none */
	int nr_slots;
	struct { uint64_t gpa, size, fd_offset; } slots[VU_PROXY_MAX_RAM_SLOTS];
};

/*
 * Connect to the back-end, negotiate and read its config space; device_id
 * says what the back-end serves (the protocol cannot tell).  ram is needed
 * (fd >= 0) in shared mode only.  mem is the guest memory the device may
 * reach.  NULL with a message in err.
 */
struct virtio_device *vu_proxy_create(const struct vu_proxy_options *o, uint32_t device_id,
				      const struct guest_mem *mem, const struct vu_proxy_ram *ram,
				      const char *name, char *err, size_t errlen);

/* Is dev a proxy?  Does its back-end serve the queues itself (shared mode)? */
bool vu_proxy_is(const struct virtio_device *dev);
bool vu_proxy_external_queues(const struct virtio_device *dev);

/* Shared mode: the transport's eventfds (kick_fds[0..nr_queues), irq_fd). */
void vu_proxy_set_transport_fds(struct virtio_device *dev, const int *kick_fds, int irq_fd);

/* Counters (read by the monitor without the lock; approximate). */
struct vu_proxy_stats {
	uint64_t connects;            /* successful handshakes */
	uint64_t disconnects;         /* back-end went away */
	uint64_t requests;            /* isolated: requests relayed */
	uint64_t bounce_full_waits;   /* isolated: a request waited for window space */
	uint64_t bytes_to_backend;    /* isolated: copied into the window */
	uint64_t bytes_from_backend;  /* isolated: copied back to the guest */
	uint64_t backend_errors;      /* isolated: bad used entries from the back-end */
	uint64_t replayed;            /* isolated: requests re-posted to a reconnected back-end */
	uint64_t windows;             /* isolated: coalescing windows opened */
	uint64_t window_requests;     /* isolated: requests relayed while a window was open */
	uint64_t idle_window_ends;    /* isolated: windows ended early, nothing left at the back-end */
	uint64_t held_windows;        /* isolated: window timers that held the interrupt (busy) */
	uint64_t backend_kicks;       /* isolated: kicks sent to the back-end (eventfd writes) */
	uint64_t backend_calls;       /* isolated: calls received from the back-end (wake-ups) */
	uint64_t timer_takes;         /* isolated: window timers that found completions not called about */
};
const struct vu_proxy_stats *vu_proxy_stats(const struct virtio_device *dev);

#endif
