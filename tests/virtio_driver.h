/*
 * A synthetic virtio driver for unit tests, fuzzers and benchmarks: it
 * plays the guest.  "Guest memory" is a malloc'd buffer mapped at a
 * guest-physical base (VDRV_GPA_BASE) through a struct guest_mem; the driver
 * talks to the device only through the virtio-mmio registers, lays out
 * split rings in that memory like Linux does, and can be told to break any
 * rule (tests poke d->q[n].desc / avail directly for hostile cases).
 *
 * The device runs in the calling thread: vdrv_kick() writes QueueNotify,
 * vdrv_poll() runs the device's pending work (virtio_mmio_poll), so tests
 * are deterministic and single-threaded.
 *
 *   struct vdrv d;
 *   vdrv_init(&d, 1 << 20);
 *   struct virtio_device *dev = virtio_rng_create(&d.mem, "rng0");
 *   vdrv_attach(&d, virtio_mmio_create(dev, 0xd0000000, 16));
 *   vdrv_negotiate(&d, ~0ULL);            // accept every offered feature
 *   vdrv_setup_queue(&d, 0, 16);
 *   vdrv_driver_ok(&d);
 *   uint64_t buf = vdrv_alloc(&d, 64, 8);
 *   struct vdrv_buf b = { buf, 64, true };
 *   vdrv_add_chain(&d, 0, &b, 1, false);
 *   vdrv_kick(&d, 0); vdrv_poll(&d);
 *   uint32_t id, len; vdrv_get_used(&d, 0, &id, &len);
 *   vdrv_destroy(&d);
 *
 * Header-only (static inline) so every user just includes it.
 */
#ifndef CAPVM_TESTS_VIRTIO_DRIVER_H
#define CAPVM_TESTS_VIRTIO_DRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtio/guest_mem.h"
#include "virtio/mmio.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

#define VDRV_GPA_BASE 0x40000000ULL

/* virtio-mmio register offsets, as a driver sees them */
#define VDRV_MAGIC            0x000
#define VDRV_VERSION          0x004
#define VDRV_DEVICE_ID        0x008
#define VDRV_DEVICE_FEATURES  0x010
#define VDRV_DEVICE_FEATURES_SEL 0x014
#define VDRV_DRIVER_FEATURES  0x020
#define VDRV_DRIVER_FEATURES_SEL 0x024
#define VDRV_QUEUE_SEL        0x030
#define VDRV_QUEUE_NUM_MAX    0x034
#define VDRV_QUEUE_NUM        0x038
#define VDRV_QUEUE_READY      0x044
#define VDRV_QUEUE_NOTIFY     0x050
#define VDRV_INTERRUPT_STATUS 0x060
#define VDRV_INTERRUPT_ACK    0x064
#define VDRV_STATUS           0x070
#define VDRV_QUEUE_DESC_LOW   0x080
#define VDRV_QUEUE_DESC_HIGH  0x084
#define VDRV_QUEUE_DRIVER_LOW 0x090
#define VDRV_QUEUE_DRIVER_HIGH 0x094
#define VDRV_QUEUE_DEVICE_LOW 0x0a0
#define VDRV_QUEUE_DEVICE_HIGH 0x0a4
#define VDRV_CONFIG_GENERATION 0x0fc
#define VDRV_CONFIG           0x100

struct vdrv_queue {
	uint16_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct virtq_desc *desc;     /* driver's view of the rings */
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t free_head;          /* free descriptor list, linked by desc.next */
	uint16_t num_free;
	uint16_t avail_idx;          /* next avail slot we fill */
	uint16_t last_used;          /* next used entry we read */
	uint16_t chain_len[VIRTQ_MAX_SIZE];  /* descriptors per head, to free them */
};

struct vdrv {
	uint8_t *ram;
	uint64_t ram_size;
	uint64_t alloc_next;         /* bump allocator, offset into ram */
	struct guest_mem mem;
	struct virtio_mmio *t;
	uint64_t features;           /* negotiated */
	struct vdrv_queue q[VIRTIO_MAX_QUEUES];
};

static inline int vdrv_init(struct vdrv *d, uint64_t ram_size)
{
	memset(d, 0, sizeof(*d));
	if (posix_memalign((void **)&d->ram, 4096, ram_size))
		return -1;
	memset(d->ram, 0, ram_size);
	d->ram_size = ram_size;
	guest_mem_add(&d->mem, VDRV_GPA_BASE, ram_size, d->ram);
	return 0;
}

static inline void vdrv_attach(struct vdrv *d, struct virtio_mmio *t) { d->t = t; }

static inline void vdrv_destroy(struct vdrv *d)
{
	virtio_mmio_destroy(d->t);
	free(d->ram);
	d->t = NULL;
	d->ram = NULL;
}

/* Host pointer for a guest-physical address inside our RAM. */
static inline void *vdrv_ptr(struct vdrv *d, uint64_t gpa)
{
	return d->ram + (gpa - VDRV_GPA_BASE);
}

/* Allocate len bytes of guest memory aligned to align; returns the gpa (0 if full). */
static inline uint64_t vdrv_alloc(struct vdrv *d, uint64_t len, uint64_t align)
{
	uint64_t off = (d->alloc_next + align - 1) & ~(align - 1);

	if (off > d->ram_size || len > d->ram_size - off)
		return 0;
	d->alloc_next = off + len;
	return VDRV_GPA_BASE + off;
}

static inline uint32_t vdrv_read32(struct vdrv *d, uint64_t off)
{
	uint32_t v;
	virtio_mmio_read(d->t, off, &v, 4);
	return v;
}

static inline void vdrv_write32(struct vdrv *d, uint64_t off, uint32_t v)
{
	virtio_mmio_write(d->t, off, &v, 4);
}

static inline uint32_t vdrv_status(struct vdrv *d) { return vdrv_read32(d, VDRV_STATUS); }

/* Reset, then ACKNOWLEDGE|DRIVER, accept offered & wanted, FEATURES_OK. 0 or -1. */
static inline int vdrv_negotiate(struct vdrv *d, uint64_t wanted)
{
	uint64_t offered;

	vdrv_write32(d, VDRV_STATUS, 0);
	vdrv_write32(d, VDRV_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	vdrv_write32(d, VDRV_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vdrv_write32(d, VDRV_DEVICE_FEATURES_SEL, 0);
	offered = vdrv_read32(d, VDRV_DEVICE_FEATURES);
	vdrv_write32(d, VDRV_DEVICE_FEATURES_SEL, 1);
	offered |= (uint64_t)vdrv_read32(d, VDRV_DEVICE_FEATURES) << 32;
	d->features = offered & wanted;
	vdrv_write32(d, VDRV_DRIVER_FEATURES_SEL, 0);
	vdrv_write32(d, VDRV_DRIVER_FEATURES, (uint32_t)d->features);
	vdrv_write32(d, VDRV_DRIVER_FEATURES_SEL, 1);
	vdrv_write32(d, VDRV_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
	vdrv_write32(d, VDRV_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		     VIRTIO_STATUS_FEATURES_OK);
	return (vdrv_status(d) & VIRTIO_STATUS_FEATURES_OK) ? 0 : -1;
}

/* Program queue q's registers with explicit ring addresses; QueueReady=1. */
static inline void vdrv_setup_queue_at(struct vdrv *d, unsigned q, uint16_t size,
				       uint64_t desc, uint64_t avail, uint64_t used)
{
	vdrv_write32(d, VDRV_QUEUE_SEL, q);
	vdrv_write32(d, VDRV_QUEUE_NUM, size);
	vdrv_write32(d, VDRV_QUEUE_DESC_LOW, (uint32_t)desc);
	vdrv_write32(d, VDRV_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	vdrv_write32(d, VDRV_QUEUE_DRIVER_LOW, (uint32_t)avail);
	vdrv_write32(d, VDRV_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
	vdrv_write32(d, VDRV_QUEUE_DEVICE_LOW, (uint32_t)used);
	vdrv_write32(d, VDRV_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
	vdrv_write32(d, VDRV_QUEUE_READY, 1);
}

/* Allocate rings for queue q in guest memory and set them up.  0 or -1. */
static inline int vdrv_setup_queue(struct vdrv *d, unsigned q, uint16_t size)
{
	struct vdrv_queue *vq = &d->q[q];

	memset(vq, 0, sizeof(*vq));
	vq->size = size;
	vq->desc_gpa = vdrv_alloc(d, VIRTQ_DESC_BYTES(size), 16);
	vq->avail_gpa = vdrv_alloc(d, VIRTQ_AVAIL_BYTES(size), 2);
	vq->used_gpa = vdrv_alloc(d, VIRTQ_USED_BYTES(size), 4);
	if (!vq->desc_gpa || !vq->avail_gpa || !vq->used_gpa)
		return -1;
	vq->desc = vdrv_ptr(d, vq->desc_gpa);
	vq->avail = vdrv_ptr(d, vq->avail_gpa);
	vq->used = vdrv_ptr(d, vq->used_gpa);
	memset(vq->desc, 0, VIRTQ_DESC_BYTES(size));
	memset(vq->avail, 0, VIRTQ_AVAIL_BYTES(size));
	memset(vq->used, 0, VIRTQ_USED_BYTES(size));
	for (uint16_t i = 0; i < size; i++)
		vq->desc[i].next = (uint16_t)(i + 1);
	vq->free_head = 0;
	vq->num_free = size;
	vdrv_setup_queue_at(d, q, size, vq->desc_gpa, vq->avail_gpa, vq->used_gpa);
	return 0;
}

static inline int vdrv_driver_ok(struct vdrv *d)
{
	vdrv_write32(d, VDRV_STATUS, vdrv_status(d) | VIRTIO_STATUS_DRIVER_OK);
	return (vdrv_status(d) & VIRTIO_STATUS_DRIVER_OK) &&
	       !(vdrv_status(d) & VIRTIO_STATUS_DEVICE_NEEDS_RESET) ? 0 : -1;
}

struct vdrv_buf {
	uint64_t gpa;
	uint32_t len;
	bool writable;   /* device-writable */
};

/* Make head visible in the avail ring (release ordering, like a driver). */
static inline void vdrv_publish(struct vdrv *d, unsigned q, uint16_t head)
{
	struct vdrv_queue *vq = &d->q[q];

	vq->avail->ring[vq->avail_idx & (vq->size - 1)] = head;
	vq->avail_idx++;
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
}

/*
 * Put a chain of n buffers on queue q.  indirect: one descriptor pointing
 * at a table (allocated from guest memory) holding the n buffers.
 * Returns the head, or -1 if the ring is full.
 */
static inline int vdrv_add_chain(struct vdrv *d, unsigned q, const struct vdrv_buf *bufs,
				 unsigned n, bool indirect)
{
	struct vdrv_queue *vq = &d->q[q];
	unsigned need = indirect ? 1 : n;
	uint16_t head, idx;

	if (n == 0 || vq->num_free < need)
		return -1;
	head = idx = vq->free_head;
	if (indirect) {
		uint64_t tgpa = vdrv_alloc(d, 16ULL * n, 16);
		struct virtq_desc *t;

		if (!tgpa)
			return -1;
		t = vdrv_ptr(d, tgpa);
		for (unsigned i = 0; i < n; i++) {
			t[i].addr = bufs[i].gpa;
			t[i].len = bufs[i].len;
			t[i].flags = (uint16_t)((bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
						(i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
			t[i].next = (uint16_t)(i + 1);
		}
		vq->free_head = vq->desc[idx].next;
		vq->desc[idx].addr = tgpa;
		vq->desc[idx].len = 16 * n;
		vq->desc[idx].flags = VIRTQ_DESC_F_INDIRECT;
	} else {
		/* Chain order follows the free list, so the next links are already right. */
		for (unsigned i = 0; i < n; i++) {
			vq->desc[idx].addr = bufs[i].gpa;
			vq->desc[idx].len = bufs[i].len;
			vq->desc[idx].flags = (uint16_t)((bufs[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
							 (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
			idx = vq->desc[idx].next;
		}
		vq->free_head = idx;
	}
	vq->num_free = (uint16_t)(vq->num_free - need);
	vq->chain_len[head] = (uint16_t)need;
	vdrv_publish(d, q, head);
	return head;
}

static inline void vdrv_kick(struct vdrv *d, unsigned q)
{
	vdrv_write32(d, VDRV_QUEUE_NOTIFY, q);
}

/* Run the device's pending work in this thread (waits up to timeout_ms). */
static inline int vdrv_poll_timeout(struct vdrv *d, int timeout_ms)
{
	return virtio_mmio_poll(d->t, timeout_ms);
}

static inline void vdrv_poll(struct vdrv *d)
{
	while (vdrv_poll_timeout(d, 0) > 0)
		;
}

/* Take one used entry of queue q; frees its descriptors.  1 or 0 (none). */
static inline int vdrv_get_used(struct vdrv *d, unsigned q, uint32_t *id, uint32_t *len)
{
	struct vdrv_queue *vq = &d->q[q];
	uint16_t used_idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	struct virtq_used_elem e;
	uint16_t head, n, last;

	if (used_idx == vq->last_used)
		return 0;
	e = vq->used->ring[vq->last_used & (vq->size - 1)];
	vq->last_used++;
	/* Like Linux: ask for an interrupt at the next used entry (EVENT_IDX). */
	__atomic_store_n(virtq_used_event(vq->avail, vq->size), vq->last_used, __ATOMIC_RELEASE);
	*id = e.id;
	*len = e.len;
	/* Free the chain: walk n descriptors by their next links, splice them in. */
	head = (uint16_t)(e.id % vq->size);
	n = vq->chain_len[head] ? vq->chain_len[head] : 1;
	last = head;
	for (uint16_t i = 1; i < n; i++)
		last = vq->desc[last].next;
	vq->desc[last].next = vq->free_head;
	vq->free_head = head;
	vq->num_free = (uint16_t)(vq->num_free + n);
	vq->chain_len[head] = 0;
	return 1;
}

/* Poll the device until a used entry appears on q (up to ~timeout_ms). */
static inline int vdrv_wait_used(struct vdrv *d, unsigned q, uint32_t *id, uint32_t *len,
				 int timeout_ms)
{
	for (int i = 0; i <= timeout_ms; i++) {
		vdrv_poll(d);
		if (vdrv_get_used(d, q, id, len))
			return 1;
		vdrv_poll_timeout(d, 1);
	}
	return 0;
}

/* Read and acknowledge InterruptStatus, and drain irq_fd.  Returns the ISR. */
static inline uint32_t vdrv_ack_irq(struct vdrv *d)
{
	uint32_t isr = vdrv_read32(d, VDRV_INTERRUPT_STATUS);
	uint64_t cnt;

	vdrv_write32(d, VDRV_INTERRUPT_ACK, isr);
	if (read(d->t->irq_fd, &cnt, sizeof(cnt)) < 0)
		cnt = 0;
	return isr;
}

/* Number of interrupt signals (irq_fd writes) since the last call. */
static inline uint64_t vdrv_irq_count(struct vdrv *d)
{
	uint64_t cnt = 0;

	if (read(d->t->irq_fd, &cnt, sizeof(cnt)) < 0)
		cnt = 0;
	return cnt;
}

#endif
