/*
 * Split virtqueues, device side (see virtqueue.h).  The driver runs on
 * other CPUs at the same time and may be hostile, so:
 *   - every guest value is read once into a local copy and checked there;
 *   - avail->idx is read with acquire ordering (the ring entries and
 *     descriptors it publishes are read after it), used->idx is written
 *     with release ordering (after the used elements), and the
 *     "should I notify?" checks sit behind full fences, as the spec's
 *     memory-ordering notes require;
 *   - any rule violation breaks the device (virtio_device_needs_reset) and
 *     is never acted upon.
 */
#include "virtio/virtqueue.h"

#include <string.h>

#include "common/util.h"
#include "virtio/virtio.h"

/* Single reads/writes of guest-shared fields (no tearing, no refetch). */
#define READ_ONCE_U16(p)     __atomic_load_n((p), __ATOMIC_RELAXED)
#define WRITE_ONCE_U16(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define WRITE_ONCE_U32(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

void virtq_reset(struct virtqueue *vq)
{
	struct virtio_device *dev = vq->dev;
	uint16_t index = vq->index;
	uint32_t epoch = vq->epoch;

	memset(vq, 0, sizeof(*vq));
	vq->dev = dev;
	vq->index = index;
	vq->epoch = epoch + 1;
}

void virtq_deactivate(struct virtqueue *vq)
{
	vq->ready = false;
	vq->active = false;
	vq->epoch++;
}

static bool is_power_of_2(uint32_t x) { return x && !(x & (x - 1)); }

/* Host pointer to a ring of `bytes` at gpa, aligned to `align`, or NULL. */
static void *ring_ptr(struct virtqueue *vq, uint64_t gpa, uint64_t bytes, uint64_t align)
{
	if (gpa & (align - 1))
		return NULL;
	return guest_mem_ptr(vq->dev->mem, gpa, bytes);
}

int virtq_activate(struct virtqueue *vq, uint16_t max_size)
{
	struct virtio_device *dev = vq->dev;
	uint16_t size = vq->size;

	vq->active = false;
	if (!is_power_of_2(size) || size > max_size || size > VIRTQ_MAX_SIZE) {
		virtio_device_needs_reset(dev, "queue %u: size %u is not a power of 2 <= %u",
					  vq->index, size, max_size);
		return -1;
	}
	vq->desc = ring_ptr(vq, vq->desc_gpa, VIRTQ_DESC_BYTES(size), 16);
	vq->avail = ring_ptr(vq, vq->avail_gpa, VIRTQ_AVAIL_BYTES(size), 2);
	vq->used = ring_ptr(vq, vq->used_gpa, VIRTQ_USED_BYTES(size), 4);
	if (!vq->desc || !vq->avail || !vq->used) {
		virtio_device_needs_reset(dev, "queue %u: ring outside guest memory or misaligned "
					  "(desc 0x%llx avail 0x%llx used 0x%llx, size %u)",
					  vq->index, (unsigned long long)vq->desc_gpa,
					  (unsigned long long)vq->avail_gpa,
					  (unsigned long long)vq->used_gpa, size);
		return -1;
	}
	vq->event_idx = virtio_has_feature(dev, VIRTIO_F_EVENT_IDX);
	vq->indirect = virtio_has_feature(dev, VIRTIO_F_INDIRECT_DESC);
	/* The driver initialises the rings; our shadow indices start at 0. */
	vq->last_avail_idx = 0;
	vq->used_idx = 0;
	vq->signalled_used_valid = false;
	vq->in_flight = 0;
	vq->epoch++;
	vq->active = true;
	return 0;
}

static bool vq_usable(struct virtqueue *vq)
{
	return vq->active &&
	       !(virtio_status(vq->dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

/* Mark the queue's device broken; always returns -1 for the caller. */
#define vq_fail(vq, ...) \
	(virtio_device_needs_reset((vq)->dev, __VA_ARGS__), -1)

/* Store one buffer of the chain (if there is room). */
static void chain_add(struct virtq_chain *c, void *host, uint32_t len)
{
	unsigned n = (unsigned)c->nr_readable + c->nr_writable;

	if (n >= c->max_iov) {
		c->truncated = true;
		return;
	}
	c->iov[n].iov_base = host;
	c->iov[n].iov_len = len;
}

int virtq_pop(struct virtqueue *vq, struct virtq_chain *c)
{
	const struct guest_mem *mem = vq->dev->mem;
	uint16_t size = vq->size, avail_idx, head, idx;
	const uint8_t *table;  /* descriptor table, possibly unaligned (indirect) */
	uint32_t table_len, count = 0;
	bool in_indirect = false, seen_writable = false, resubmitted = false;

	if (!vq_usable(vq))
		return -1;

	if (vq->tracker && vq->tracker->resubmit &&
	    vq->tracker->resubmit(vq->tracker_opaque, &head)) {
		/* A chain taken before a back-end restart, not completed. */
		resubmitted = true;
		if (head >= size)
			return vq_fail(vq, "queue %u: resubmitted head %u >= size %u",
				       vq->index, head, size);
	} else {
		avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
		if (avail_idx == vq->last_avail_idx)
			return 0;
		if ((uint16_t)(avail_idx - vq->last_avail_idx) > size)
			return vq_fail(vq, "queue %u: avail idx %u jumped more than the queue size %u "
				       "past %u", vq->index, avail_idx, size, vq->last_avail_idx);

		head = READ_ONCE_U16(&vq->avail->ring[vq->last_avail_idx & (size - 1)]);
		if (head >= size)
			return vq_fail(vq, "queue %u: avail ring entry %u is head %u >= size %u",
				       vq->index, vq->last_avail_idx, head, size);
	}

	c->head = head;
	c->nr_readable = c->nr_writable = 0;
	c->truncated = false;
	c->readable_len = c->writable_len = 0;

	table = (const uint8_t *)vq->desc;
	table_len = size;
	idx = head;
	for (;;) {
		struct virtq_desc d;
		void *host;

		/* A chain visits each descriptor of its table at most once. */
		if (++count > table_len)
			return vq_fail(vq, "queue %u: chain at head %u is longer than its "
				       "table (%u descriptors): loop", vq->index, head, table_len);
		memcpy(&d, table + (size_t)idx * sizeof(d), sizeof(d));  /* read once, use the copy */
		__atomic_signal_fence(__ATOMIC_SEQ_CST);

		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (!vq->indirect)
				return vq_fail(vq, "queue %u: indirect descriptor but "
					       "INDIRECT_DESC not negotiated", vq->index);
			if (in_indirect)
				return vq_fail(vq, "queue %u: nested indirect table", vq->index);
			if (d.flags & VIRTQ_DESC_F_NEXT)
				return vq_fail(vq, "queue %u: descriptor has both INDIRECT and NEXT",
					       vq->index);
			if (d.len == 0 || d.len % sizeof(struct virtq_desc) ||
			    d.len / sizeof(struct virtq_desc) > VIRTQ_MAX_SIZE)
				return vq_fail(vq, "queue %u: indirect table length %u is not a "
					       "non-zero multiple of 16 up to %u entries",
					       vq->index, d.len, VIRTQ_MAX_SIZE);
			table = guest_mem_ptr(mem, d.addr, d.len);
			if (!table)
				return vq_fail(vq, "queue %u: indirect table 0x%llx+%u outside "
					       "guest memory", vq->index,
					       (unsigned long long)d.addr, d.len);
			table_len = d.len / sizeof(struct virtq_desc);
			in_indirect = true;
			count = 0;
			idx = 0;
			continue;
		}

		if (d.len) {
			host = guest_mem_ptr(mem, d.addr, d.len);
			if (!host)
				return vq_fail(vq, "queue %u: buffer 0x%llx+%u outside guest memory",
					       vq->index, (unsigned long long)d.addr, d.len);
			if (d.flags & VIRTQ_DESC_F_WRITE) {
				chain_add(c, host, d.len);
				c->nr_writable += !c->truncated;
				c->writable_len += d.len;
				seen_writable = true;
			} else {
				if (seen_writable)
					return vq_fail(vq, "queue %u: readable buffer after a "
						       "writable one", vq->index);
				chain_add(c, host, d.len);
				c->nr_readable += !c->truncated;
				c->readable_len += d.len;
			}
			/* Used lengths are 32 bits: refuse chains that cannot be described. */
			if (c->readable_len + c->writable_len > UINT32_MAX)
				return vq_fail(vq, "queue %u: chain at head %u longer than 4 GiB",
					       vq->index, head);
		} else if (d.flags & VIRTQ_DESC_F_WRITE) {
			seen_writable = true;
		} else if (seen_writable) {
			return vq_fail(vq, "queue %u: readable buffer after a writable one",
				       vq->index);
		}

		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		idx = d.next;
		if (idx >= table_len)
			return vq_fail(vq, "queue %u: next index %u >= table size %u",
				       vq->index, idx, table_len);
	}

	if (!resubmitted)
		vq->last_avail_idx++;
	vq->in_flight++;
	vq->popped++;
	if (vq->tracker && vq->tracker->popped)
		vq->tracker->popped(vq->tracker_opaque, head);
	return 1;
}

void virtq_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	struct virtq_used_elem *e;

	if (!vq->active)
		return;
	if (vq->tracker && vq->tracker->pushing)
		vq->tracker->pushing(vq->tracker_opaque, head);
	e = &vq->used->ring[vq->used_idx & (vq->size - 1)];
	WRITE_ONCE_U32(&e->id, head);
	WRITE_ONCE_U32(&e->len, written);
	vq->used_idx++;
	/* Publish the element before the index that covers it. */
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
	if (vq->tracker && vq->tracker->pushed)
		vq->tracker->pushed(vq->tracker_opaque, head, vq->used_idx);
	if (vq->in_flight)
		vq->in_flight--;
	vq->pushed++;
}

void virtq_push_many(struct virtqueue *vq, const uint16_t *heads, const uint32_t *written,
		     unsigned n)
{
	if (!vq->active)
		return;
	if (vq->tracker || n > vq->size) {
		for (unsigned i = 0; i < n; i++)
			virtq_push(vq, heads[i], written[i]);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		struct virtq_used_elem *e = &vq->used->ring[(uint16_t)(vq->used_idx + i) & (vq->size - 1)];
		WRITE_ONCE_U32(&e->id, heads[i]);
		WRITE_ONCE_U32(&e->len, written[i]);
	}
	vq->used_idx = (uint16_t)(vq->used_idx + n);
	/* Publish the elements before the index that covers them. */
	__atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
	vq->in_flight = vq->in_flight >= n ? (uint16_t)(vq->in_flight - n) : 0;
	vq->pushed += n;
}

bool virtq_should_notify(struct virtqueue *vq)
{
	uint16_t old, new = vq->used_idx;
	bool valid;

	if (!vq->active)
		return false;
	/* Our used->idx store must be visible before we read the driver's wishes. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	old = vq->signalled_used;
	valid = vq->signalled_used_valid;
	vq->signalled_used = new;
	vq->signalled_used_valid = true;
	if (valid && old == new)
		return false;  /* nothing new since the last interrupt */
	if (vq->event_idx) {
		uint16_t used_event = READ_ONCE_U16(virtq_used_event(vq->avail, vq->size));
		if (!valid)
			return true;
		/* Interrupt iff used_event lies in (old, new]: the spec's vring_need_event. */
		return (uint16_t)(new - used_event - 1) < (uint16_t)(new - old);
	}
	return !(READ_ONCE_U16(&vq->avail->flags) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

void virtq_disable_notify(struct virtqueue *vq)
{
	/* With EVENT_IDX, not moving avail_event forward is enough. */
	if (vq->active && !vq->event_idx)
		WRITE_ONCE_U16(&vq->used->flags, VIRTQ_USED_F_NO_NOTIFY);
}

bool virtq_enable_notify(struct virtqueue *vq)
{
	if (!vq_usable(vq))
		return false;
	if (vq->event_idx)
		WRITE_ONCE_U16(virtq_avail_event(vq->used, vq->size), vq->last_avail_idx);
	else
		WRITE_ONCE_U16(&vq->used->flags, 0);
	/* The re-arm must be visible before we look at avail->idx again. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) != vq->last_avail_idx;
}

bool virtq_has_avail(struct virtqueue *vq)
{
	if (!vq_usable(vq))
		return false;
	return __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) != vq->last_avail_idx;
}

/* Copy between a flat buffer and part of a chain's iovecs [first, first+n). */
static size_t chain_copy(const struct iovec *iov, unsigned n, uint64_t off,
			 void *buf, size_t len, bool to_chain)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t seg = iov[i].iov_len, chunk;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		chunk = seg - off;
		if (chunk > len - done)
			chunk = len - done;
		if (to_chain)
			memcpy((uint8_t *)iov[i].iov_base + off, (uint8_t *)buf + done, chunk);
		else
			memcpy((uint8_t *)buf + done, (uint8_t *)iov[i].iov_base + off, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

size_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *dst, size_t len)
{
	return chain_copy(c->iov, c->nr_readable, off, dst, len, false);
}

size_t virtq_chain_write(const struct virtq_chain *c, uint64_t off, const void *src, size_t len)
{
	return chain_copy(c->iov + c->nr_readable, c->nr_writable, off, (void *)src, len, true);
}
