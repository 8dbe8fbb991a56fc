/*
 * vhost-user back-end session (see vu_backend.h): turns the front-end's
 * requests into the state a capvm device model expects from a transport --
 * a guest_mem built from the memory table, virtqueues set up from the vring
 * messages, kicks from eventfds, interrupts to eventfds -- and runs the
 * device model's callbacks in this (single) thread.
 *
 * Rings.  A ring starts when it has a size, addresses, a kick fd, the memory
 * table is known and it is enabled (rings start disabled once
 * VHOST_USER_F_PROTOCOL_FEATURES is negotiated, enabled otherwise).  It stops
 * on GET_VRING_BASE (or disable, memory-table change, disconnect): we first
 * wait for the device's in-flight requests, so that the index we hand back
 * covers every request whose buffers we touched.
 */
#include "backend/vu_backend.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "virtio/virtio.h"
#include "common/util.h"

#define COMP "vhost-user"
#define DRAIN_TIMEOUT_MS 30000

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * Interrupt hook (dev->raise_irq).  The device-model interface does not say
 * which queue completed, so every started ring whose used index moved since
 * its last call is signalled: exact for single-queue devices (blk); for net,
 * a tx completion no longer wakes the rx ring (at worst a ring whose driver
 * asked for no interrupt yet gets one along with another ring's).
 * Config-change interrupts would need the back-end request channel (not
 * offered); they are dropped.
 */
static void vu_raise_irq(struct virtio_device *dev, uint32_t isr_bits)
{
	struct vu_backend *vb = dev->transport;
	uint64_t one = 1;

	if (!(isr_bits & VIRTIO_ISR_USED_BUFFER))
		return;
	for (unsigned q = 0; q < dev->nr_queues && q < VHOST_USER_MAX_VRINGS; q++) {
		struct vu_vring *r = &vb->vrings[q];
		uint16_t used = dev->vqs[q].used_idx;
		if (!r->started || r->call_fd < 0 || used == r->call_used)
			continue;
		r->call_used = used;
		if (write(r->call_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn(dev->name, "writing the call eventfd of ring %u: %s", q, strerror(errno));
	}
}

struct vu_backend *vu_backend_create(struct virtio_device *dev, const struct vu_backend_hooks *hooks)
{
	struct vu_backend *vb = calloc(1, sizeof(*vb));

	if (!vb)
		return NULL;
	/*
	 * The device's own fds (tap, completion eventfds) are edge-triggered by
	 * contract (virtio.h): a net model leaves packets in the tap while the
	 * guest has no buffers, which a level-triggered poll would spin on.
	 */
	vb->dev_epoll = epoll_create1(EPOLL_CLOEXEC);
	if (vb->dev_epoll < 0) {
		free(vb);
		return NULL;
	}
	for (int i = 0; i < dev->nr_fds && i < VIRTIO_MAX_FDS; i++) {
		struct epoll_event ev = { .events = dev->fds[i].events | EPOLLET, .data.u32 = (uint32_t)i };
		if (epoll_ctl(vb->dev_epoll, EPOLL_CTL_ADD, dev->fds[i].fd, &ev)) {
			log_error(dev->name, "epoll_ctl on device fd %d: %s", dev->fds[i].fd, strerror(errno));
			close(vb->dev_epoll);
			free(vb);
			return NULL;
		}
	}
	vb->dev = dev;
	if (hooks)
		vb->hooks = *hooks;
	for (unsigned q = 0; q < VHOST_USER_MAX_VRINGS; q++)
		vb->vrings[q].kick_fd = vb->vrings[q].call_fd = vb->vrings[q].err_fd = -1;
	dev->mem = &vb->mem;
	dev->transport = vb;
	dev->raise_irq = vu_raise_irq;
	return vb;
}

static unsigned nr_vrings(const struct vu_backend *vb)
{
	return vb->dev->nr_queues < VHOST_USER_MAX_VRINGS ? vb->dev->nr_queues : VHOST_USER_MAX_VRINGS;
}

static bool any_started(const struct vu_backend *vb)
{
	for (unsigned q = 0; q < nr_vrings(vb); q++)
		if (vb->vrings[q].started)
			return true;
	return false;
}

/* Front-end user address -> guest-physical address, the whole range inside one region. */
static int ua_to_gpa(const struct vu_backend *vb, uint64_t ua, uint64_t len, uint64_t *gpa)
{
	for (int i = 0; i < vb->nr_maps; i++) {
		const struct vu_mapping *m = &vb->maps[i];
		if (ua >= m->user_addr && ua - m->user_addr < m->size &&
		    len <= m->size - (ua - m->user_addr)) {
			*gpa = m->gpa + (ua - m->user_addr);
			return 0;
		}
	}
	return -1;
}

/* Run the device's extra fds (completions) and wait until nothing is in flight. */
static void drain(struct vu_backend *vb)
{
	struct virtio_device *dev = vb->dev;
	struct timespec start, now;

	if (!vb->hooks.in_flight)
		return;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (vb->hooks.in_flight(dev)) {
		struct pollfd pfd[VIRTIO_MAX_FDS];
		int n = 0;

		for (int i = 0; i < dev->nr_fds && i < VIRTIO_MAX_FDS; i++)
			pfd[n++] = (struct pollfd){ .fd = dev->fds[i].fd, .events = POLLIN };
		if (poll(pfd, (nfds_t)n, 100) < 0 && errno != EINTR)
			break;
		pthread_mutex_lock(&dev->lock);
		for (int i = 0; i < n; i++)
			if (pfd[i].revents)
				dev->fds[i].handler(dev, dev->fds[i].opaque);
		pthread_mutex_unlock(&dev->lock);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >
		    DRAIN_TIMEOUT_MS) {
			log_error(dev->name, "%llu requests still in flight after %d s; stopping the ring anyway",
				  (unsigned long long)vb->hooks.in_flight(dev), DRAIN_TIMEOUT_MS / 1000);
			break;
		}
	}
}

/* Stop ring q (if started) after draining; its next avail index goes to base. */
static void ring_stop(struct vu_backend *vb, unsigned q)
{
	struct virtio_device *dev = vb->dev;
	struct vu_vring *r = &vb->vrings[q];

	if (!r->started)
		return;
	drain(vb);
	pthread_mutex_lock(&dev->lock);
	/* completions whose interrupt the model still holds (coalescing) */
	vu_raise_irq(dev, VIRTIO_ISR_USED_BUFFER);
	if (vb->hooks.ring_stopping)
		vb->hooks.ring_stopping(dev, q);
	r->base = dev->vqs[q].last_avail_idx;
	vu_inflight_ring_stop(&vb->inflight, q, &dev->vqs[q]);
	virtq_deactivate(&dev->vqs[q]);
	dev->vqs[q].ready = false;
	r->started = false;
	if (!any_started(vb)) {
		/* Nothing runs: a later start begins from a clean device status. */
		__atomic_store_n(&dev->status, 0, __ATOMIC_RELEASE);
		dev->needs_reset_logged = false;
	}
	pthread_mutex_unlock(&dev->lock);
	log_debug(dev->name, "ring %u stopped at avail index %u", q, r->base);
}

/* Start ring q if everything it needs is there.  0 (started or not ready) or -1. */
static int ring_try_start(struct vu_backend *vb, unsigned q, char *err, size_t errlen)
{
	struct virtio_device *dev = vb->dev;
	struct vu_vring *r = &vb->vrings[q];
	struct virtqueue *vq = &dev->vqs[q];
	uint64_t desc, avail, used;
	bool first;
	int rc = 0;

	if (r->started || !r->num || !r->addr_set || r->kick_fd < 0 || !vb->nr_maps || !r->enabled)
		return 0;
	if (ua_to_gpa(vb, r->desc_ua, VIRTQ_DESC_BYTES(r->num), &desc) ||
	    ua_to_gpa(vb, r->avail_ua, VIRTQ_AVAIL_BYTES(r->num), &avail) ||
	    ua_to_gpa(vb, r->used_ua, VIRTQ_USED_BYTES(r->num), &used))
		return err_fail(err, errlen, "ring %u: addresses outside the memory table", q);

	first = !any_started(vb);
	pthread_mutex_lock(&dev->lock);
	if (first) {
		dev->driver_features = vb->features & ~VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
		__atomic_store_n(&dev->status, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK, __ATOMIC_RELEASE);
		dev->needs_reset_logged = false;
	}
	vq->size = r->num;
	vq->desc_gpa = desc;
	vq->avail_gpa = avail;
	vq->used_gpa = used;
	vq->ready = true;
	if (virtq_activate(vq, dev->queue_max_size)) {
		rc = err_fail(err, errlen, "ring %u: rejected by the virtqueue checks (see log)", q);
	} else {
		/* Resume where the previous owner of the ring stopped. */
		vq->last_avail_idx = r->base;
		vq->used_idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
		r->call_used = vq->used_idx;
		/* With an inflight area, requests a crashed back-end took are redone first. */
		char why[256];
		if (vu_inflight_ring_start(&vb->inflight, q, vq, r->num, vq->used_idx,
					   &vq->last_avail_idx, why, sizeof(why)) < 0)
			log_warn(dev->name, "ring %u runs without inflight tracking: %s", q, why);
		if (first && dev->ops->activate && dev->ops->activate(dev))
			rc = err_fail(err, errlen, "device refused activation");
	}
	if (rc) {
		vu_inflight_ring_stop(&vb->inflight, q, vq);
		virtq_deactivate(vq);
		vq->ready = false;
		if (first)
			__atomic_store_n(&dev->status, 0, __ATOMIC_RELEASE);
	} else {
		r->started = true;
		/* Requests queued before the ring started may have no kick pending. */
		dev->ops->queue_notify(dev, vq);
	}
	pthread_mutex_unlock(&dev->lock);
	if (!rc)
		log_debug(dev->name, "ring %u started: size %u, avail index %u", q, r->num, r->base);
	return rc;
}

static void unmap_memory(struct vu_backend *vb)
{
	for (int i = 0; i < vb->nr_maps; i++)
		munmap(vb->maps[i].addr, vb->maps[i].len);
	vb->nr_maps = 0;
	memset(&vb->mem, 0, sizeof(vb->mem));
}

/* SET_MEM_TABLE (already validated): map every region; fds consumed. */
static int set_mem_table(struct vu_backend *vb, struct vhost_user_msg *m, char *err, size_t errlen)
{
	const struct vhost_user_mem_table *t = &m->p.mem;
	bool was_started[VHOST_USER_MAX_VRINGS] = { false };
	int rc = 0;

	for (unsigned q = 0; q < nr_vrings(vb); q++) {
		was_started[q] = vb->vrings[q].started;
		ring_stop(vb, q);
	}
	unmap_memory(vb);
	for (uint32_t i = 0; i < t->nregions && !rc; i++) {
		const struct vhost_user_mem_region *r = &t->regions[i];
		uint64_t len = r->mmap_offset + r->memory_size;  /* checked: no overflow */
		struct stat st;
		void *p;

		if (fstat(m->fds[i], &st) || (uint64_t)st.st_size < len) {
			rc = err_fail(err, errlen, "memory region %u: fd is smaller than offset + size", i);
			break;
		}
		if (len > SIZE_MAX) {
			rc = err_fail(err, errlen, "memory region %u too large", i);
			break;
		}
		p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fds[i], 0);
		if (p == MAP_FAILED) {
			rc = err_fail(err, errlen, "memory region %u: mmap: %s", i, strerror(errno));
			break;
		}
		vb->maps[vb->nr_maps++] = (struct vu_mapping){
			.addr = p, .len = len, .gpa = r->guest_phys_addr,
			.size = r->memory_size, .user_addr = r->userspace_addr,
		};
		guest_mem_add(&vb->mem, r->guest_phys_addr, r->memory_size, (uint8_t *)p + r->mmap_offset);
	}
	vhost_user_msg_close_fds(m);
	if (rc) {
		unmap_memory(vb);
		return -1;
	}
	log_info(vb->dev->name, "memory table: %u region(s)", t->nregions);
	for (unsigned q = 0; q < nr_vrings(vb); q++)
		if (was_started[q] && ring_try_start(vb, q, err, errlen))
			rc = -1;
	return rc;
}

static void reset_rings(struct vu_backend *vb)
{
	for (unsigned q = 0; q < VHOST_USER_MAX_VRINGS; q++) {
		struct vu_vring *r = &vb->vrings[q];
		if (q < nr_vrings(vb))
			ring_stop(vb, q);
		close_fd(&r->kick_fd);
		close_fd(&r->call_fd);
		close_fd(&r->err_fd);
		*r = (struct vu_vring){ .kick_fd = -1, .call_fd = -1, .err_fd = -1 };
	}
}

void vu_backend_disconnect(struct vu_backend *vb)
{
	reset_rings(vb);
	unmap_memory(vb);
	vu_inflight_unmap(&vb->inflight);
	vb->features = vb->protocol_features = 0;
	vb->owner = false;
	vb->broken = false;
}

void vu_backend_destroy(struct vu_backend *vb)
{
	if (!vb)
		return;
	vu_backend_disconnect(vb);
	close(vb->dev_epoll);
	free(vb);
}

struct vu_backend *vu_backend_wrap_model(struct virtio_device *dev,
					 const struct vu_backend_hooks *hooks,
					 char *err, size_t errlen)
{
	struct vu_backend *vb;

	if (!dev)
		return NULL;
	/*
	 * Over vhost-user the front-end picks the ring size (QEMU's virtio-mmio
	 * guests use 1024), not the model's QueueNumMax.  The models cope: blk
	 * stalls the ring until request slots free up, net's receive stash is
	 * bounded by its own array.
	 */
	dev->queue_max_size = VIRTQ_MAX_SIZE;
	vb = vu_backend_create(dev, hooks);
	if (!vb) {
		snprintf(err, errlen, "cannot set up the vhost-user session (out of memory or fds)");
		virtio_device_destroy(dev);
	}
	return vb;
}

void vu_backend_destroy_model(struct vu_backend *vb)
{
	struct virtio_device *dev;

	if (!vb)
		return;
	dev = vb->dev;
	vu_backend_destroy(vb);
	virtio_device_destroy(dev);
}

static bool has_reply(uint32_t request)
{
	switch (request) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_GET_MAX_MEM_SLOTS:
	case VHOST_USER_GET_INFLIGHT_FD:
		return true;
	default:
		return false;
	}
}

/* New rings are enabled from the start unless protocol features were negotiated. */
static bool rings_start_enabled(const struct vu_backend *vb)
{
	return !(vb->features & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
}

/* Requests with no reply of their own.  0 or -1 (err; the session goes on). */
static int handle_set(struct vu_backend *vb, struct vhost_user_msg *m, char *err, size_t errlen)
{
	struct virtio_device *dev = vb->dev;
	uint64_t offered = dev->host_features | VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	unsigned q;
	struct vu_vring *r;

	switch (m->hdr.request) {
	case VHOST_USER_SET_OWNER:
		vb->owner = true;
		return 0;
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_RESET_DEVICE:
		reset_rings(vb);
		vb->features = 0;
		vb->owner = false;
		return 0;
	case VHOST_USER_SET_FEATURES:
		if (m->p.u64 & ~offered)
			return err_fail(err, errlen, "features 0x%llx were not offered (0x%llx)",
				    (unsigned long long)m->p.u64, (unsigned long long)offered);
		vb->features = m->p.u64;
		if (rings_start_enabled(vb))
			for (q = 0; q < nr_vrings(vb); q++)
				vb->vrings[q].enabled = true;
		return 0;
	case VHOST_USER_SET_PROTOCOL_FEATURES:
		if (m->p.u64 & ~VU_BACKEND_PROTOCOL_FEATURES)
			return err_fail(err, errlen, "protocol features 0x%llx were not offered",
				    (unsigned long long)m->p.u64);
		vb->protocol_features = m->p.u64;
		return 0;
	case VHOST_USER_SET_MEM_TABLE:
		return set_mem_table(vb, m, err, errlen);
	case VHOST_USER_SET_CONFIG:
		return err_fail(err, errlen, "the device's config space is read-only");
	case VHOST_USER_SET_INFLIGHT_FD:
		if (any_started(vb))
			return err_fail(err, errlen, "inflight area change while rings run");
		/* The fd is closed by our caller; the mapping stays. */
		if (vu_inflight_map(&vb->inflight, m->fds[0], &m->p.inflight, nr_vrings(vb),
				    dev->queue_max_size, err, errlen))
			return -1;
		log_info(dev->name, "inflight area: %u ring(s) of %u heads", vb->inflight.num_queues,
			 vb->inflight.queue_size);
		return 0;
	default:
		break;
	}

	/* Per-ring requests; the index was checked against nr_vrings. */
	if (m->hdr.request == VHOST_USER_SET_VRING_KICK || m->hdr.request == VHOST_USER_SET_VRING_CALL ||
	    m->hdr.request == VHOST_USER_SET_VRING_ERR)
		q = (unsigned)(m->p.u64 & VHOST_USER_VRING_IDX_MASK);
	else if (m->hdr.request == VHOST_USER_SET_VRING_ADDR)
		q = m->p.addr.index;
	else
		q = m->p.state.index;
	if (q >= nr_vrings(vb))
		return err_fail(err, errlen, "ring %u does not exist", q);
	r = &vb->vrings[q];

	switch (m->hdr.request) {
	case VHOST_USER_SET_VRING_NUM: {
		uint32_t num = m->p.state.num;
		if (r->started)
			return err_fail(err, errlen, "ring %u: size change while running", q);
		if (!num || (num & (num - 1)) || num > dev->queue_max_size)
			return err_fail(err, errlen, "ring %u: size %u is not a power of 2 <= %u", q, num,
				    dev->queue_max_size);
		r->num = (uint16_t)num;
		return 0;
	}
	case VHOST_USER_SET_VRING_ADDR:
		if (r->started)
			return err_fail(err, errlen, "ring %u: address change while running", q);
		r->desc_ua = m->p.addr.desc_user_addr;
		r->avail_ua = m->p.addr.avail_user_addr;
		r->used_ua = m->p.addr.used_user_addr;
		r->addr_set = true;
		return ring_try_start(vb, q, err, errlen);
	case VHOST_USER_SET_VRING_BASE:
		if (r->started)
			return err_fail(err, errlen, "ring %u: base change while running", q);
		r->base = (uint16_t)m->p.state.num;
		return 0;
	case VHOST_USER_SET_VRING_KICK:
		close_fd(&r->kick_fd);
		if (m->nr_fds) {
			r->kick_fd = m->fds[0];
			m->nr_fds = 0;
		}
		if (r->kick_fd < 0) {
			ring_stop(vb, q);
			return err_fail(err, errlen, "ring %u: polling mode (no kick fd) is not supported", q);
		}
		if (rings_start_enabled(vb))
			r->enabled = true;
		return ring_try_start(vb, q, err, errlen);
	case VHOST_USER_SET_VRING_CALL:
		close_fd(&r->call_fd);
		if (m->nr_fds) {
			r->call_fd = m->fds[0];
			m->nr_fds = 0;
		}
		return 0;
	case VHOST_USER_SET_VRING_ERR:
		close_fd(&r->err_fd);
		if (m->nr_fds) {
			r->err_fd = m->fds[0];
			m->nr_fds = 0;
		}
		return 0;
	case VHOST_USER_SET_VRING_ENABLE:
		r->enabled = m->p.state.num != 0;
		if (!r->enabled) {
			ring_stop(vb, q);
			return 0;
		}
		return ring_try_start(vb, q, err, errlen);
	default:
		return err_fail(err, errlen, "unexpected request %u", m->hdr.request);
	}
}

/* Requests that have a reply of their own: fill reply. */
static void handle_get(struct vu_backend *vb, struct vhost_user_msg *m, struct vhost_user_msg *reply)
{
	struct virtio_device *dev = vb->dev;

	switch (m->hdr.request) {
	case VHOST_USER_GET_FEATURES:
		vhost_user_reply_init(reply, m, sizeof(uint64_t));
		reply->p.u64 = dev->host_features | VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
		break;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		vhost_user_reply_init(reply, m, sizeof(uint64_t));
		reply->p.u64 = VU_BACKEND_PROTOCOL_FEATURES;
		break;
	case VHOST_USER_GET_QUEUE_NUM:
		vhost_user_reply_init(reply, m, sizeof(uint64_t));
		reply->p.u64 = nr_vrings(vb);
		break;
	case VHOST_USER_GET_MAX_MEM_SLOTS:
		vhost_user_reply_init(reply, m, sizeof(uint64_t));
		reply->p.u64 = VHOST_USER_MAX_REGIONS;
		break;
	case VHOST_USER_GET_VRING_BASE: {
		unsigned q = m->p.state.index;
		struct vu_vring *r = &vb->vrings[q];
		ring_stop(vb, q);
		close_fd(&r->kick_fd);  /* the ring stays stopped until a new kick fd */
		vhost_user_reply_init(reply, m, sizeof(struct vhost_user_vring_state));
		reply->p.state.index = q;
		reply->p.state.num = r->base;
		break;
	}
	case VHOST_USER_GET_INFLIGHT_FD: {
		char why[256];
		uint64_t size = 0;
		int fd = vu_inflight_create_fd(m->p.inflight.num_queues, m->p.inflight.queue_size,
					       nr_vrings(vb), dev->queue_max_size, &size, why, sizeof(why));
		/* A zero mmap_size without an fd tells the front-end: no inflight area. */
		vhost_user_reply_init(reply, m, sizeof(struct vhost_user_inflight));
		reply->p.inflight = m->p.inflight;
		reply->p.inflight.mmap_offset = 0;
		reply->p.inflight.mmap_size = size;
		if (fd >= 0) {
			reply->fds[0] = fd;
			reply->nr_fds = 1;
		} else {
			log_warn(dev->name, "GET_INFLIGHT_FD: %s", why);
		}
		break;
	}
	case VHOST_USER_GET_CONFIG: {
		uint32_t off = m->p.config.offset, size = m->p.config.size;  /* checked: <= 256 */
		vhost_user_reply_init(reply, m, VHOST_USER_CONFIG_HDR_SIZE + size);
		reply->p.config.offset = off;
		reply->p.config.size = size;
		reply->p.config.flags = m->p.config.flags;
		pthread_mutex_lock(&dev->lock);
		for (uint32_t i = 0; i < size; i++)
			if (off + i < dev->config_size)
				dev->ops->config_read(dev, off + i, &reply->p.config.region[i], 1);
		pthread_mutex_unlock(&dev->lock);
		break;
	}
	}
}

int vu_backend_handle(struct vu_backend *vb, struct vhost_user_msg *m,
		      struct vhost_user_msg *reply, char *err, size_t errlen)
{
	char name[32];
	const char *rn = vhost_user_request_name(m->hdr.request, name, sizeof(name));
	int rc;

	vb->messages++;
	if (vhost_user_check_request(m, nr_vrings(vb), err, errlen)) {
		vhost_user_msg_close_fds(m);
		vb->broken = true;
		return -1;
	}
	if (has_reply(m->hdr.request)) {
		handle_get(vb, m, reply);
		vhost_user_msg_close_fds(m);
		return 1;
	}
	char why[256] = "";
	rc = handle_set(vb, m, why, sizeof(why));
	vhost_user_msg_close_fds(m);  /* whatever the handler did not keep */
	if (rc)
		log_warn(vb->dev->name, "%s failed: %s", rn, why);
	if ((m->hdr.flags & VHOST_USER_FLAG_NEED_REPLY) &&
	    (vb->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK))) {
		vhost_user_reply_init(reply, m, sizeof(uint64_t));
		reply->p.u64 = rc ? 1 : 0;
		return 1;
	}
	return 0;
}

/* Fill pfd with the kick fds of started rings and the device fds. */
static int device_pollfds(struct vu_backend *vb, struct pollfd *pfd, int *what)
{
	struct virtio_device *dev = vb->dev;
	int n = 0;

	for (unsigned q = 0; q < nr_vrings(vb); q++)
		if (vb->vrings[q].started && vb->vrings[q].kick_fd >= 0) {
			pfd[n] = (struct pollfd){ .fd = vb->vrings[q].kick_fd, .events = POLLIN };
			what[n++] = (int)q;
		}
	if (dev->nr_fds > 0) {
		pfd[n] = (struct pollfd){ .fd = vb->dev_epoll, .events = POLLIN };
		what[n++] = VHOST_USER_MAX_VRINGS;
	}
	return n;
}

/* Handle what poll() reported on the device fds. */
static int device_events(struct vu_backend *vb, const struct pollfd *pfd, const int *what, int n)
{
	struct virtio_device *dev = vb->dev;
	int handled = 0;

	for (int i = 0; i < n; i++) {
		if (!pfd[i].revents)
			continue;
		handled++;
		pthread_mutex_lock(&dev->lock);
		if (what[i] < VHOST_USER_MAX_VRINGS) {
			unsigned q = (unsigned)what[i];
			uint64_t cnt;
			if (read(pfd[i].fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
				log_warn(dev->name, "reading the kick eventfd of ring %u: %s", q, strerror(errno));
			if (vb->vrings[q].started) {
				dev->stats.kicks++;
				dev->ops->queue_notify(dev, &dev->vqs[q]);
			}
		} else {
			struct epoll_event ev[VIRTIO_MAX_FDS];
			int got = epoll_wait(vb->dev_epoll, ev, VIRTIO_MAX_FDS, 0);
			for (int k = 0; k < got; k++) {
				uint32_t f = ev[k].data.u32;
				if (f < (uint32_t)dev->nr_fds)
					dev->fds[f].handler(dev, dev->fds[f].opaque);
			}
		}
		pthread_mutex_unlock(&dev->lock);
	}
	return handled;
}

int vu_backend_poll_device(struct vu_backend *vb, int timeout_ms)
{
	struct pollfd pfd[VHOST_USER_MAX_VRINGS + VIRTIO_MAX_FDS];
	int what[VHOST_USER_MAX_VRINGS + VIRTIO_MAX_FDS];
	int n = device_pollfds(vb, pfd, what);

	if (poll(pfd, (nfds_t)n, timeout_ms) <= 0)
		return 0;
	return device_events(vb, pfd, what, n);
}

int vu_backend_serve(struct vu_backend *vb, int sock)
{
	struct pollfd pfd[1 + VHOST_USER_MAX_VRINGS + VIRTIO_MAX_FDS];
	int what[1 + VHOST_USER_MAX_VRINGS + VIRTIO_MAX_FDS];
	struct vhost_user_msg *m = malloc(sizeof(*m)), *reply = malloc(sizeof(*reply));
	int rc = 0;

	if (!m || !reply) {
		free(m);
		free(reply);
		return -1;
	}
	for (;;) {
		char err[256];
		int n;

		pfd[0] = (struct pollfd){ .fd = sock, .events = POLLIN };
		n = device_pollfds(vb, pfd + 1, what + 1);
		if (poll(pfd, (nfds_t)n + 1, -1) < 0) {
			if (errno == EINTR) {
				if (vb->stop && *vb->stop)
					break;  /* asked to stop (signal) */
				continue;
			}
			rc = -1;
			break;
		}
		device_events(vb, pfd + 1, what + 1, n);
		if (!pfd[0].revents)
			continue;
		int got = vhost_user_recv(sock, m, err, sizeof(err));
		if (got == 0) {
			log_info(vb->dev->name, "front-end disconnected");
			break;
		}
		if (got < 0) {
			log_error(vb->dev->name, "closing the connection: %s", err);
			rc = -1;
			break;
		}
		char name[32];
		log_debug(vb->dev->name, "<- %s", vhost_user_request_name(m->hdr.request, name, sizeof(name)));
		int h = vu_backend_handle(vb, m, reply, err, sizeof(err));
		if (h < 0) {
			log_error(vb->dev->name, "closing the connection: front-end broke the protocol: %s", err);
			rc = -1;
			break;
		}
		if (h > 0 && vhost_user_send(sock, reply)) {
			log_error(vb->dev->name, "sending a reply: %s", strerror(errno));
			vhost_user_msg_close_fds(reply);
			rc = -1;
			break;
		}
		if (h > 0)
			vhost_user_msg_close_fds(reply);  /* our copies of the fds it carried */
	}
	vu_backend_disconnect(vb);
	free(m);
	free(reply);
	return rc;
}

int vu_backend_listen(struct vu_backend *vb, const char *path, volatile int *stop)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lsock;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error(COMP, "socket path too long: %s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lsock < 0) {
		log_error(COMP, "socket: %s", strerror(errno));
		return -1;
	}
	unlink(path);  /* a stale socket from an earlier run */
	if (bind(lsock, (struct sockaddr *)&sa, sizeof(sa)) || listen(lsock, 1)) {
		log_error(COMP, "listening on %s: %s", path, strerror(errno));
		close(lsock);
		return -1;
	}
	vb->stop = stop;
	if (vb->listening && vb->listening(vb, lsock, vb->listening_opaque)) {
		close(lsock);
		unlink(path);
		return -1;
	}
	log_info(vb->dev->name, "vhost-user back-end listening on %s", path);
	while (!stop || !*stop) {
		int sock = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
		if (sock < 0) {
			if (errno == EINTR)
				continue;
			log_error(COMP, "accept: %s", strerror(errno));
			break;
		}
		log_info(vb->dev->name, "front-end connected");
		vu_backend_serve(vb, sock);
		close(sock);
	}
	close(lsock);
	unlink(path);
	return 0;
}
