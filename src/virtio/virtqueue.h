/*
 * Split virtqueues (virtio 1.2 section 2.7), device side, with
 * VIRTIO_F_INDIRECT_DESC and VIRTIO_F_EVENT_IDX.
 *
 * A device model takes descriptor chains off the available ring with
 * virtq_pop(), which validates the whole chain and returns it as a list of
 * host buffers inside guest memory: the device-readable ones first, then the
 * device-writable ones.  When done it returns the chain with virtq_push()
 * (saying how many bytes it wrote), and after a batch calls
 * virtio_notify_queue() (virtio/virtio.h), which interrupts the driver only
 * if the driver asked for it.
 *
 * Typical queue handler:
 *
 *   struct iovec iov[N]; struct virtq_chain c = { .iov = iov, .max_iov = N };
 *   do {
 *       virtq_disable_notify(vq);
 *       while (virtq_pop(vq, &c) == 1) {
 *           ... read c.iov[0 .. c.nr_readable), write the rest ...
 *           virtq_push(vq, c.head, bytes_written);
 *       }
 *   } while (virtq_enable_notify(vq));   // more arrived while we worked?
 *   virtio_notify_queue(dev, vq);
 *
 * Everything the guest wrote is treated as hostile: indices, addresses,
 * lengths, flags, chain shapes.  A rule violation puts the whole device in
 * DEVICE_NEEDS_RESET (virtio_device_needs_reset) and virtq_pop() returns -1
 * from then on, until the driver resets the device.
 *
 * Not thread-safe: one thread at a time per queue (dev->lock, see virtio.h).
 */
#ifndef CAPVM_VIRTQUEUE_H
#define CAPVM_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define VIRTQ_MAX_SIZE 1024  /* largest queue size we accept (spec max 32768) */

/* Descriptor flags */
#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
/* Available ring flags */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
/* Used ring flags */
#define VIRTQ_USED_F_NO_NOTIFY 1

/* Guest-memory layouts (little-endian; x86 only, so no byte swapping). */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];  /* [size], then uint16_t used_event (EVENT_IDX) */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[];  /* [size], then uint16_t avail_event */
};

/* The EVENT_IDX fields after the rings. */
static inline uint16_t *virtq_used_event(struct virtq_avail *avail, uint16_t size)
{
	return &avail->ring[size];
}

static inline uint16_t *virtq_avail_event(struct virtq_used *used, uint16_t size)
{
	return (uint16_t *)((uint8_t *)used + 4 + 8 * (size_t)size);
}

/* Ring sizes in bytes for a queue of `size` entries (with the event field). */
#define VIRTQ_DESC_BYTES(size)  (16ULL * (size))
#define VIRTQ_AVAIL_BYTES(size) (6ULL + 2ULL * (size))
#define VIRTQ_USED_BYTES(size)  (6ULL + 8ULL * (size))

struct virtio_device;

/*
 * Optional observer of a queue's chains, for vhost-user back-ends that keep
 * an inflight table which outlives their process (backend/vu_inflight.h).
 * Each hook may be NULL.  resubmit: a head to hand out again before new
 * avail entries (true with *head set); popped: a chain was taken, before
 * the device sees it; pushing: just before its used element is written;
 * pushed: after used->idx (now used_idx) was published.
 */
struct virtq_tracker {
	bool (*resubmit)(void *opaque, uint16_t *head);
	void (*popped)(void *opaque, uint16_t head);
	void (*pushing)(void *opaque, uint16_t head);
	void (*pushed)(void *opaque, uint16_t head, uint16_t used_idx);
};

struct virtqueue {
	struct virtio_device *dev;
	uint16_t index;              /* queue number within the device */

	/* Driver-written configuration (through the transport registers). */
	uint16_t size;               /* QueueNum; 0 = not configured */
	bool ready;                  /* QueueReady */
	uint64_t desc_gpa, avail_gpa, used_gpa;

	/* Valid while the queue is active (virtq_activate succeeded). */
	bool active;
	bool event_idx;              /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;               /* VIRTIO_F_INDIRECT_DESC negotiated */
	struct virtq_desc *desc;     /* host pointers into guest memory */
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t last_avail_idx;     /* next avail entry we will take */
	uint16_t used_idx;           /* next used entry we will fill (shadow) */
	uint16_t signalled_used;     /* used_idx at the last interrupt */
	bool signalled_used_valid;
	uint16_t in_flight;          /* popped, not yet pushed */

	/*
	 * Bumped whenever the queue is (re)activated, deactivated or reset.
	 * A device that completes work asynchronously records it when it
	 * pops a chain and drops the completion if it changed meanwhile.
	 */
	uint32_t epoch;

	/* Counters (read by the monitor; written only by the queue's thread). */
	uint64_t popped;
	uint64_t pushed;

	/* Set by the transport after virtq_activate (NULL: none); cleared by reset. */
	const struct virtq_tracker *tracker;
	void *tracker_opaque;
};

/*
 * One validated descriptor chain.  The caller provides iov[max_iov]; the
 * buffers are stored readable first (iov[0 .. nr_readable)), then writable
 * (iov[nr_readable .. nr_readable + nr_writable)).  Zero-length descriptors
 * are checked but not stored.  If the chain has more buffers than max_iov it
 * is still consumed and validated, `truncated` is set and only the first
 * max_iov are stored: the device should fail that request (the guest
 * ignored a limit such as seg_max), but the queue is not broken.
 */
struct virtq_chain {
	struct iovec *iov;
	unsigned max_iov;
	uint16_t head;               /* pass to virtq_push() */
	uint16_t nr_readable;
	uint16_t nr_writable;
	bool truncated;
	uint64_t readable_len;       /* total bytes (all buffers, even if truncated) */
	uint64_t writable_len;
};

/* Reset vq to the unconfigured state (transport reset). */
void virtq_reset(struct virtqueue *vq);
/* The driver took the queue away (QueueReady = 0): stop using it. */
void virtq_deactivate(struct virtqueue *vq);

/*
 * Check the driver's configuration (size a power of 2 <= max_size, each ring
 * wholly inside guest memory and aligned) and start using the queue.
 * Returns 0, or -1 after calling virtio_device_needs_reset() with the cause.
 */
int virtq_activate(struct virtqueue *vq, uint16_t max_size);

/*
 * Take the next available chain.  Returns 1 (chain filled in), 0 (ring
 * empty) or -1 (queue broken: device needs reset; or queue not active).
 */
int virtq_pop(struct virtqueue *vq, struct virtq_chain *chain);

/* Put back the chain with head `head`: the device wrote `written` bytes. */
void virtq_push(struct virtqueue *vq, uint16_t head, uint32_t written);

/*
 * Put back n chains that the driver must see together (a packet spread
 * over several mergeable receive buffers): all used elements are written,
 * then the used index is published once, so a driver polling the ring
 * never finds only the first of them.  With a tracker (inflight table)
 * they are pushed one by one, as its crash repair expects.
 */
void virtq_push_many(struct virtqueue *vq, const uint16_t *heads, const uint32_t *written,
		     unsigned n);

/*
 * Should the driver be interrupted for the used entries pushed since the
 * last interrupt?  EVENT_IDX-aware.  virtio_notify_queue() uses this; it
 * records the answer, so call it once per interrupt decision.
 */
bool virtq_should_notify(struct virtqueue *vq);

/*
 * Ask the driver not to kick (we are polling the ring anyway), and to kick
 * again.  virtq_enable_notify returns true if buffers became available in
 * the meantime: the caller must then process them (or it may miss a kick).
 */
void virtq_disable_notify(struct virtqueue *vq);
bool virtq_enable_notify(struct virtqueue *vq);

/* Are there available chains we have not popped?  (false if broken) */
bool virtq_has_avail(struct virtqueue *vq);

/* Copy out of / into a chain's buffers (readable resp. writable part),
 * starting at byte offset `off` within that part.  Return bytes copied. */
size_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *dst, size_t len);
size_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *src, size_t len);

#endif
