/*
 * virtio-mmio transport (version 2), the contract between the VMM and the
 * device models.  This layer knows nothing about KVM: the VMM
 *   - forwards MMIO reads/writes inside [base, base+VIRTIO_MMIO_SIZE) to
 *     virtio_mmio_read()/virtio_mmio_write();
 *   - registers kick_fd[q] as a KVM ioeventfd on base+0x50 (QueueNotify),
 *     4 bytes, datamatch q, so queue kicks never stop a vCPU thread;
 *   - registers irq_fd as a KVM irqfd on gsi (edge-triggered), so the device
 *     raises its interrupt from its I/O thread by writing irq_fd.
 * Without ioeventfd (unit tests), a QueueNotify write through
 * virtio_mmio_write() signals kick_fd[q] itself.
 */
#ifndef CAPVM_VIRTIO_MMIO_H
#define CAPVM_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/guest_mem.h"

#define VIRTIO_MMIO_SIZE        0x1000  /* one page per device */
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x50
#define VIRTIO_MMIO_INTERRUPT_ACK 0x64
#define VIRTIO_MMIO_MAX_QUEUES  8

struct virtio_device;  /* device model (virtio/virtio.h) */

struct virtio_mmio {
	uint64_t base;                 /* guest-physical base of the window */
	uint32_t gsi;                  /* interrupt line */
	int kick_fd[VIRTIO_MMIO_MAX_QUEUES]; /* eventfds, -1 when unused */
	int nr_queues;
	int irq_fd;                    /* eventfd */
	/*
	 * Reading InterruptStatus clears it and InterruptACK is ignored.  The
	 * VMM sets this when it lets KVM queue ACK writes (coalesced MMIO) so
	 * they cost no exit: a late ACK must not clear a newer event.  For a
	 * driver that reads the status once and acknowledges what it read
	 * (Linux does), the effect is the same as the specified behaviour.
	 */
	bool isr_read_clears;
	/*
	 * The device's queues are served by another process that reads
	 * kick_fd[q] and writes irq_fd itself (vhost-user, shared memory):
	 * see virtio_mmio_create_external().
	 */
	bool external_queues;
	struct virtio_device *dev;
	/* transport state lives in the implementation (mmio.c) */
	void *priv;
};

/* Access from a vCPU (or a test).  off is relative to base; len 1, 2, 4 or 8. */
void virtio_mmio_read(struct virtio_mmio *t, uint64_t off, void *data, unsigned len);
void virtio_mmio_write(struct virtio_mmio *t, uint64_t off, const void *data, unsigned len);

/*
 * Create the transport for dev (set up by a device model, see virtio.h):
 * allocates kick_fd[0..nr_queues) and irq_fd (non-blocking eventfds).  The
 * transport takes ownership of dev.  Returns NULL on failure (logged).
 */
struct virtio_mmio *virtio_mmio_create(struct virtio_device *dev, uint64_t base, uint32_t gsi);
/*
 * The same for a device whose queues another process serves (a vhost-user
 * back-end in shared-memory mode): that process gets kick_fd[q] and irq_fd,
 * so the I/O thread does not poll the kick fds (it still serves dev->fds),
 * and since the back-end signals irq_fd without setting InterruptStatus, a
 * read of InterruptStatus always includes the used-buffer bit (Linux's
 * virtio_mmio handler only looks at its rings when that bit is set; a ring
 * without new used entries is skipped).
 */
struct virtio_mmio *virtio_mmio_create_external(struct virtio_device *dev, uint64_t base,
						uint32_t gsi);
/*
 * Start the device's I/O thread (one thread per device; see iothread.h),
 * which waits on the kick fds and the device's extra fds.  Call after the
 * VMM registered the eventfds with KVM.  Returns 0 or -1.
 */
int virtio_mmio_start(struct virtio_mmio *t);
/*
 * Instead of virtio_mmio_start(): run the device's pending work (kicks,
 * completions) in the calling thread, waiting up to timeout_ms.  For tests,
 * fuzzers and benchmarks.  Returns events handled or -1.
 */
int virtio_mmio_poll(struct virtio_mmio *t, int timeout_ms);
/* Stop the I/O thread, destroy the device, close the fds, free t. */
void virtio_mmio_destroy(struct virtio_mmio *t);

/* Current InterruptStatus (for tests and the monitor). */
uint32_t virtio_mmio_isr(const struct virtio_mmio *t);

#endif
