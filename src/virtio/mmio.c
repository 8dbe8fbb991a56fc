/*
 * virtio-mmio transport, version 2 (virtio 1.2 section 4.2.2): the register
 * window a guest driver uses to discover, negotiate and configure a device.
 *
 * Register accesses come from vCPU threads; queue processing happens on the
 * device's I/O thread.  Everything that changes device or queue state takes
 * dev->lock.  InterruptStatus is an atomic word: I/O threads set bits
 * (virtio_raise_irq), vCPUs read and acknowledge them, without the lock.
 *
 * Every value the driver writes is checked: feature bits the device did not
 * offer refuse FEATURES_OK, queue configuration is frozen once a queue is
 * ready, and accesses of the wrong width or at unknown offsets are ignored
 * (reads return 0) and logged, rate-limited.
 *
 * External queues (virtio_mmio_create_external): a vhost-user back-end in
 * shared-memory mode serves the rings itself with our kick and irq
 * eventfds, so the I/O thread skips the kick fds and InterruptStatus
 * always reports a used buffer.
 */
#include "virtio/mmio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "virtio/iothread.h"
#include "virtio/virtio.h"

#define VIRTIO_MMIO_MAGIC  0x74726976  /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x4d564143  /* "CAVM" */

/* Register offsets (section 4.2.2). */
enum {
	REG_MAGIC = 0x000, REG_VERSION = 0x004, REG_DEVICE_ID = 0x008,
	REG_VENDOR_ID = 0x00c, REG_DEVICE_FEATURES = 0x010,
	REG_DEVICE_FEATURES_SEL = 0x014, REG_DRIVER_FEATURES = 0x020,
	REG_DRIVER_FEATURES_SEL = 0x024, REG_QUEUE_SEL = 0x030,
	REG_QUEUE_NUM_MAX = 0x034, REG_QUEUE_NUM = 0x038, REG_QUEUE_READY = 0x044,
	REG_QUEUE_NOTIFY = 0x050, REG_INTERRUPT_STATUS = 0x060,
	REG_INTERRUPT_ACK = 0x064, REG_STATUS = 0x070,
	REG_QUEUE_DESC_LOW = 0x080, REG_QUEUE_DESC_HIGH = 0x084,
	REG_QUEUE_DRIVER_LOW = 0x090, REG_QUEUE_DRIVER_HIGH = 0x094,
	REG_QUEUE_DEVICE_LOW = 0x0a0, REG_QUEUE_DEVICE_HIGH = 0x0a4,
	REG_SHM_SEL = 0x0ac, REG_SHM_LEN_LOW = 0x0b0, REG_SHM_LEN_HIGH = 0x0b4,
	REG_SHM_BASE_LOW = 0x0b8, REG_SHM_BASE_HIGH = 0x0bc,
	REG_QUEUE_RESET = 0x0c0, REG_CONFIG_GENERATION = 0x0fc,
	REG_CONFIG = 0x100,
};

/* Ignored accesses: log the first few, then a summary at most every 10 s. */
#define BAD_ACCESS_LOG_BURST 10
#define BAD_ACCESS_LOG_INTERVAL_NS (10ULL * 1000000000ULL)

struct mmio_state {
	struct virtio_mmio pub;          /* must be first: priv points back here */
	uint32_t isr;                    /* InterruptStatus, atomic */
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	uint64_t driver_features;        /* as written, before FEATURES_OK */
	uint64_t bad_accesses;           /* counted, for the logs */
	uint64_t bad_logged;             /* bad_accesses at the last summary */
	uint64_t bad_next_log_ns;        /* no summary before this time */
	struct iothread *iot;
};

static struct mmio_state *state_of(const struct virtio_mmio *t)
{
	return (struct mmio_state *)t->priv;
}

static void bad_access(struct mmio_state *s, const char *what, uint64_t off, unsigned len)
{
	const char *name = s->pub.dev->name;
	uint64_t n = __atomic_fetch_add(&s->bad_accesses, 1, __ATOMIC_RELAXED);
	uint64_t next, now;

	if (n < BAD_ACCESS_LOG_BURST) {
		log_warn(name, "ignored guest %s of %u bytes at register offset 0x%llx%s", what,
			 len, (unsigned long long)off,
			 n + 1 == BAD_ACCESS_LOG_BURST ? " (further ones summarised every 10 s)" : "");
		if (n + 1 == BAD_ACCESS_LOG_BURST) {
			__atomic_store_n(&s->bad_logged, n + 1, __ATOMIC_RELAXED);
			__atomic_store_n(&s->bad_next_log_ns, now_ns() + BAD_ACCESS_LOG_INTERVAL_NS,
					 __ATOMIC_RELAXED);
		}
		return;
	}
	/* One thread (vCPU) wins the right to log the summary for this interval. */
	now = now_ns();
	next = __atomic_load_n(&s->bad_next_log_ns, __ATOMIC_RELAXED);
	if (now < next || !__atomic_compare_exchange_n(&s->bad_next_log_ns, &next,
						       now + BAD_ACCESS_LOG_INTERVAL_NS, false,
						       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	log_warn(name, "ignored %llu more bad guest register accesses (last: %s of %u bytes "
		 "at offset 0x%llx)",
		 (unsigned long long)(n + 1 - __atomic_exchange_n(&s->bad_logged, n + 1, __ATOMIC_RELAXED)),
		 what, len, (unsigned long long)off);
}

/* Interrupt hook installed in dev->raise_irq; any thread. */
static void mmio_raise_irq(struct virtio_device *dev, uint32_t bits)
{
	struct mmio_state *s = dev->transport;
	uint32_t old = __atomic_fetch_or(&s->isr, bits, __ATOMIC_ACQ_REL);
	uint64_t one = 1;

	/*
	 * If all these bits were already pending, the guest has not yet read
	 * InterruptStatus: its handler will run (and see our new used entries,
	 * published before this point), so no second signal is needed.
	 */
	if ((old & bits) == bits)
		return;
	if (write(s->pub.irq_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error(dev->name, "cannot signal interrupt: %s", strerror(errno));
}

uint32_t virtio_mmio_isr(const struct virtio_mmio *t)
{
	return __atomic_load_n(&state_of(t)->isr, __ATOMIC_ACQUIRE);
}

static struct virtqueue *selected_queue(struct mmio_state *s)
{
	struct virtio_device *dev = s->pub.dev;
	return s->queue_sel < dev->nr_queues ? &dev->vqs[s->queue_sel] : NULL;
}

static uint32_t read_reg(struct mmio_state *s, uint64_t off)
{
	struct virtio_device *dev = s->pub.dev;
	struct virtqueue *vq;

	switch (off) {
	case REG_MAGIC:       return VIRTIO_MMIO_MAGIC;
	case REG_VERSION:     return 2;
	case REG_DEVICE_ID:   return dev->device_id;
	case REG_VENDOR_ID:   return VIRTIO_MMIO_VENDOR;
	case REG_DEVICE_FEATURES:
		if (s->device_features_sel > 1)
			return 0;
		return (uint32_t)(dev->host_features >> (32 * s->device_features_sel));
	case REG_QUEUE_NUM_MAX:
		return selected_queue(s) ? dev->queue_max_size : 0;
	case REG_QUEUE_READY:
		vq = selected_queue(s);
		return vq ? vq->ready : 0;
	case REG_INTERRUPT_STATUS:
		return __atomic_load_n(&s->isr, __ATOMIC_ACQUIRE) |
		       (s->pub.external_queues ? VIRTIO_ISR_USED_BUFFER : 0);
	case REG_STATUS:
		return virtio_status(dev);
	case REG_SHM_LEN_LOW: case REG_SHM_LEN_HIGH:
	case REG_SHM_BASE_LOW: case REG_SHM_BASE_HIGH:
		return 0xffffffff;  /* no shared memory regions */
	case REG_CONFIG_GENERATION:
		return __atomic_load_n(&dev->config_generation, __ATOMIC_ACQUIRE);
	default:
		bad_access(s, "read", off, 4);
		return 0;
	}
}

/* Can the driver still change the queue's configuration? */
static struct virtqueue *configurable_queue(struct mmio_state *s)
{
	struct virtqueue *vq = selected_queue(s);
	return vq && !vq->ready ? vq : NULL;
}

static void set_low(uint64_t *v, uint32_t x) { *v = (*v & ~0xffffffffULL) | x; }
static void set_high(uint64_t *v, uint32_t x) { *v = (*v & 0xffffffffULL) | ((uint64_t)x << 32); }

static void write_status(struct mmio_state *s, uint32_t val)
{
	struct virtio_device *dev = s->pub.dev;
	uint32_t old = virtio_status(dev), new;

	if (val == 0) {
		virtio_device_reset(dev);
		s->device_features_sel = s->driver_features_sel = s->queue_sel = 0;
		s->driver_features = 0;
		__atomic_store_n(&s->isr, 0, __ATOMIC_RELEASE);
		return;
	}
	val &= 0xff;
	/* The driver may only add bits; NEEDS_RESET is the device's. */
	if ((old & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) & ~val) {
		bad_access(s, "status write clearing bits", REG_STATUS, 4);
		return;
	}
	new = (val & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) | (old & VIRTIO_STATUS_DEVICE_NEEDS_RESET);

	if ((new & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		uint64_t f = s->driver_features;
		if ((f & ~dev->host_features) || !(f & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
			log_warn(dev->name, "driver features 0x%llx refused (offered 0x%llx, "
				 "VERSION_1 required)", (unsigned long long)f,
				 (unsigned long long)dev->host_features);
			new &= ~VIRTIO_STATUS_FEATURES_OK;
		} else {
			dev->driver_features = f;
		}
	}
	if ((new & VIRTIO_STATUS_DRIVER_OK) && !(new & VIRTIO_STATUS_FEATURES_OK))
		new &= ~VIRTIO_STATUS_DRIVER_OK;  /* out of order: ignore DRIVER_OK */
	/* Publish the status first: activation may add DEVICE_NEEDS_RESET. */
	__atomic_store_n(&dev->status, new, __ATOMIC_RELEASE);
	if ((new & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK))
		virtio_device_activate(dev);
}

static void write_reg(struct mmio_state *s, uint64_t off, uint32_t val)
{
	struct virtio_device *dev = s->pub.dev;
	struct virtqueue *vq;

	switch (off) {
	case REG_DEVICE_FEATURES_SEL:
		s->device_features_sel = val;
		return;
	case REG_DRIVER_FEATURES:
		if (virtio_status(dev) & VIRTIO_STATUS_FEATURES_OK)
			return;  /* frozen after negotiation */
		if (s->driver_features_sel == 0)
			set_low(&s->driver_features, val);
		else if (s->driver_features_sel == 1)
			set_high(&s->driver_features, val);
		else if (val)
			s->driver_features |= 1ULL << 63;  /* unknown bits: make it refused */
		return;
	case REG_DRIVER_FEATURES_SEL:
		s->driver_features_sel = val;
		return;
	case REG_QUEUE_SEL:
		s->queue_sel = val;
		return;
	case REG_QUEUE_NUM:
		if ((vq = configurable_queue(s)))
			vq->size = val > 0xffff ? 0 : (uint16_t)val;  /* checked at activation */
		return;
	case REG_QUEUE_READY:
		vq = selected_queue(s);
		if (!vq)
			return;
		if (val == 0) {
			/* Driver takes the queue away (e.g. on driver unload). */
			virtq_deactivate(vq);
		} else if (!vq->ready) {
			vq->ready = true;
			if (virtio_status(dev) & VIRTIO_STATUS_DRIVER_OK)
				virtq_activate(vq, dev->queue_max_size);
		}
		return;
	case REG_STATUS:
		write_status(s, val);
		return;
	case REG_QUEUE_DESC_LOW:    if ((vq = configurable_queue(s))) set_low(&vq->desc_gpa, val); return;
	case REG_QUEUE_DESC_HIGH:   if ((vq = configurable_queue(s))) set_high(&vq->desc_gpa, val); return;
	case REG_QUEUE_DRIVER_LOW:  if ((vq = configurable_queue(s))) set_low(&vq->avail_gpa, val); return;
	case REG_QUEUE_DRIVER_HIGH: if ((vq = configurable_queue(s))) set_high(&vq->avail_gpa, val); return;
	case REG_QUEUE_DEVICE_LOW:  if ((vq = configurable_queue(s))) set_low(&vq->used_gpa, val); return;
	case REG_QUEUE_DEVICE_HIGH: if ((vq = configurable_queue(s))) set_high(&vq->used_gpa, val); return;
	case REG_SHM_SEL:
		return;
	default:
		bad_access(s, "write", off, 4);
		return;
	}
}

void virtio_mmio_read(struct virtio_mmio *t, uint64_t off, void *data, unsigned len)
{
	struct mmio_state *s = state_of(t);
	struct virtio_device *dev = t->dev;
	uint32_t v;

	memset(data, 0, len);
	if (len != 1 && len != 2 && len != 4 && len != 8) {
		bad_access(s, "read", off, len);
		return;
	}
	if (off >= REG_CONFIG && off < VIRTIO_MMIO_SIZE) {
		uint64_t coff = off - REG_CONFIG;
		if (coff >= dev->config_size || len > dev->config_size - coff) {
			bad_access(s, "config read", off, len);
			return;
		}
		pthread_mutex_lock(&dev->lock);
		dev->ops->config_read(dev, (uint32_t)coff, data, len);
		pthread_mutex_unlock(&dev->lock);
		return;
	}
	if (len != 4 || (off & 3)) {
		bad_access(s, "read", off, len);
		return;
	}
	if (off == REG_INTERRUPT_STATUS) {  /* hot: no lock */
		if (t->isr_read_clears)
			v = __atomic_exchange_n(&s->isr, 0, __ATOMIC_ACQ_REL);
		else
			v = __atomic_load_n(&s->isr, __ATOMIC_ACQUIRE);
		if (t->external_queues)
			v |= VIRTIO_ISR_USED_BUFFER;  /* the back-end signalled irq_fd */
	} else {
		pthread_mutex_lock(&dev->lock);
		v = read_reg(s, off);
		pthread_mutex_unlock(&dev->lock);
	}
	memcpy(data, &v, 4);
}

void virtio_mmio_write(struct virtio_mmio *t, uint64_t off, const void *data, unsigned len)
{
	struct mmio_state *s = state_of(t);
	struct virtio_device *dev = t->dev;
	uint32_t v;

	if (off >= REG_CONFIG && off < VIRTIO_MMIO_SIZE &&
	    (len == 1 || len == 2 || len == 4 || len == 8)) {
		uint64_t coff = off - REG_CONFIG;
		if (coff >= dev->config_size || len > dev->config_size - coff || !dev->ops->config_write) {
			bad_access(s, "config write", off, len);
			return;
		}
		pthread_mutex_lock(&dev->lock);
		dev->ops->config_write(dev, (uint32_t)coff, data, len);
		pthread_mutex_unlock(&dev->lock);
		return;
	}
	if (len != 4 || (off & 3)) {
		bad_access(s, "write", off, len);
		return;
	}
	memcpy(&v, data, 4);
	switch (off) {
	case REG_QUEUE_NOTIFY:
		/* Only reached without ioeventfd: forward to the I/O thread. */
		if (v < (uint32_t)t->nr_queues && t->kick_fd[v] >= 0) {
			uint64_t one = 1;
			if (write(t->kick_fd[v], &one, sizeof(one)) < 0 && errno != EAGAIN)
				log_error(dev->name, "cannot forward queue notify: %s", strerror(errno));
		}
		return;
	case REG_INTERRUPT_ACK:
		if (!t->isr_read_clears)
			__atomic_fetch_and(&s->isr, ~v, __ATOMIC_ACQ_REL);
		return;
	default:
		pthread_mutex_lock(&dev->lock);
		write_reg(s, off, v);
		pthread_mutex_unlock(&dev->lock);
	}
}

static struct virtio_mmio *mmio_create(struct virtio_device *dev, uint64_t base, uint32_t gsi,
				       bool external_queues)
{
	struct mmio_state *s = calloc(1, sizeof(*s));
	struct virtio_mmio *t;

	if (!s) {
		log_error(dev->name, "out of memory");
		return NULL;
	}
	t = &s->pub;
	t->base = base;
	t->gsi = gsi;
	t->dev = dev;
	t->priv = s;
	t->nr_queues = dev->nr_queues;
	t->external_queues = external_queues;
	for (int q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
		t->kick_fd[q] = -1;
	t->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->irq_fd < 0)
		goto fail;
	for (int q = 0; q < t->nr_queues; q++) {
		t->kick_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->kick_fd[q] < 0)
			goto fail;
	}
	/* External queues: the back-end alone reads the kick fds. */
	s->iot = iothread_create(dev, t->kick_fd, external_queues ? 0 : t->nr_queues);
	if (!s->iot)
		goto fail;
	dev->transport = s;
	dev->raise_irq = mmio_raise_irq;
	return t;
fail:
	log_error(dev->name, "cannot create virtio-mmio transport: %s", strerror(errno));
	for (int q = 0; q < t->nr_queues; q++)
		if (t->kick_fd[q] >= 0)
			close(t->kick_fd[q]);
	if (t->irq_fd >= 0)
		close(t->irq_fd);
	free(s);
	return NULL;
}

struct virtio_mmio *virtio_mmio_create(struct virtio_device *dev, uint64_t base, uint32_t gsi)
{
	return mmio_create(dev, base, gsi, false);
}

struct virtio_mmio *virtio_mmio_create_external(struct virtio_device *dev, uint64_t base,
						uint32_t gsi)
{
	return mmio_create(dev, base, gsi, true);
}

int virtio_mmio_start(struct virtio_mmio *t)
{
	return iothread_start(state_of(t)->iot);
}

int virtio_mmio_poll(struct virtio_mmio *t, int timeout_ms)
{
	return iothread_run_once(state_of(t)->iot, timeout_ms);
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
	struct mmio_state *s;
	struct virtio_device *dev;

	if (!t)
		return;
	s = state_of(t);
	dev = t->dev;
	iothread_destroy(s->iot);
	/* Let in-flight work finish against guest memory before freeing. */
	pthread_mutex_lock(&dev->lock);
	if (dev->ops->reset)
		dev->ops->reset(dev);
	pthread_mutex_unlock(&dev->lock);
	virtio_device_destroy(dev);
	for (int q = 0; q < t->nr_queues; q++)
		close(t->kick_fd[q]);
	close(t->irq_fd);
	free(s);
}
