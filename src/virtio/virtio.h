/*
 * The device-model interface: what a virtio device (blk, rng, net, console,
 * ...) provides to the transport, and what the transport and the virtio core
 * provide to the device.  Device models never include KVM headers; they see
 * guest memory through struct guest_mem and talk to the guest only through
 * virtqueues (virtio/virtqueue.h), their config space and interrupts.
 *
 * Life cycle (what the VMM, a backend process or a test does):
 *
 *   struct virtio_device *dev = virtio_blk_create(&opts, mem, &err);  // a model
 *   struct virtio_mmio *t = virtio_mmio_create(dev, base, gsi);       // transport
 *   ... register t->kick_fd[q] as ioeventfds and t->irq_fd as irqfd ...
 *   virtio_mmio_start(t);      // starts the device's I/O thread
 *   ... vCPUs call virtio_mmio_read()/virtio_mmio_write() ...
 *   virtio_mmio_destroy(t);    // stops the I/O thread, destroys the device
 *
 * Threads and locking.  Each device has one mutex, dev->lock.  Every call
 * into the device's ops (queue_notify, fd handlers, activate, reset,
 * config_read/config_write) is made with dev->lock held, by the I/O thread
 * (queue_notify, fd handlers) or by a vCPU thread (register accesses).  So a
 * device model needs no locking of its own for state it touches only from
 * its ops.  Interrupt raising (virtio_raise_irq and friends) is lock-free and
 * may be called from any thread.
 *
 * Broken guests.  When a virtqueue finds the driver broke the rules (bad
 * index, loop, address outside guest memory, ...) it calls
 * virtio_device_needs_reset(): the device status gets DEVICE_NEEDS_RESET
 * (0x40), a config-change interrupt is raised, the event is counted and
 * logged once.  All queues of the device stop processing until the driver
 * resets the device (writes status 0); then it works again.  Other devices
 * are not affected.  A device model may call it too (e.g. a malformed
 * request that the spec says is fatal).
 */
#ifndef CAPVM_VIRTIO_H
#define CAPVM_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/guest_mem.h"
#include "virtio/virtqueue.h"

/* Device IDs (virtio 1.2 section 5). */
#define VIRTIO_ID_NET      1
#define VIRTIO_ID_BLOCK    2
#define VIRTIO_ID_CONSOLE  3
#define VIRTIO_ID_RNG      4
#define VIRTIO_ID_VSOCK    19

/* Device status bits (section 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE        0x01
#define VIRTIO_STATUS_DRIVER             0x02
#define VIRTIO_STATUS_DRIVER_OK          0x04
#define VIRTIO_STATUS_FEATURES_OK        0x08
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED             0x80

/* Transport-independent feature bits (section 6). */
#define VIRTIO_F_INDIRECT_DESC   28   /* VIRTIO_RING_F_INDIRECT_DESC */
#define VIRTIO_F_EVENT_IDX       29   /* VIRTIO_RING_F_EVENT_IDX */
#define VIRTIO_F_VERSION_1       32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED     34

#define VIRTIO_BIT(b) (1ULL << (b))

/* Interrupt status bits (virtio-mmio InterruptStatus). */
#define VIRTIO_ISR_USED_BUFFER   0x1
#define VIRTIO_ISR_CONFIG_CHANGE 0x2

#define VIRTIO_MAX_QUEUES 8    /* == VIRTIO_MMIO_MAX_QUEUES */
#define VIRTIO_MAX_FDS    4    /* extra fds a device can ask its I/O thread to poll */

struct virtio_device;

/*
 * What a device model implements.  All callbacks run with dev->lock held.
 * Only queue_notify and config_read are mandatory.
 */
struct virtio_device_ops {
	/*
	 * The driver kicked queue vq (or the I/O thread polls after activate).
	 * Pop chains with virtq_pop(), complete them with virtq_push(), then
	 * call virtio_notify_queue() to interrupt the driver if it wants one.
	 * Runs on the device's I/O thread.
	 */
	void (*queue_notify)(struct virtio_device *dev, struct virtqueue *vq);
	/*
	 * Config space access, off/len already checked to lie within
	 * [0, config_size).  len is 1, 2, 4 or 8.  Values are little-endian.
	 * config_write may be NULL (writes ignored).
	 */
	void (*config_read)(struct virtio_device *dev, uint32_t off, void *data, uint32_t len);
	void (*config_write)(struct virtio_device *dev, uint32_t off, const void *data, uint32_t len);
	/*
	 * The driver set DRIVER_OK: dev->driver_features is final and the
	 * ready queues are set up.  Return 0, or -1 to refuse (the device then
	 * reports DEVICE_NEEDS_RESET).  May be NULL.
	 */
	int (*activate)(struct virtio_device *dev);
	/*
	 * The driver reset the device (status 0).  Finish or cancel in-flight
	 * work that touches guest memory before returning: after reset the
	 * driver reuses its buffers.  May be NULL.
	 */
	void (*reset)(struct virtio_device *dev);
	/* Free the model's state (dev itself included).  May be NULL. */
	void (*destroy)(struct virtio_device *dev);
};

/*
 * A file descriptor the device's I/O thread polls besides the kick fds, e.g.
 * an io_uring completion eventfd or a tap fd.  Registered edge-triggered
 * (EPOLLET) with `events`: the handler must consume everything available,
 * or retry later itself (e.g. when the guest adds rx buffers).
 */
struct virtio_fd_handler {
	int fd;
	uint32_t events;  /* EPOLLIN, EPOLLOUT, ... */
	void (*handler)(struct virtio_device *dev, void *opaque);
	void *opaque;
};

/* Counters common to every device (read by the monitor). */
struct virtio_counters {
	uint64_t kicks;              /* queue_notify calls */
	uint64_t irqs;               /* interrupts raised (used + config) */
	uint64_t irqs_suppressed;    /* used-buffer interrupts the driver did not want */
	uint64_t needs_reset;        /* times the device entered DEVICE_NEEDS_RESET */
	uint64_t resets;             /* driver resets */
};

struct virtio_device {
	/* --- filled in by the device model before the transport is created --- */
	const char *name;            /* "blk0", for logs and the monitor */
	uint32_t device_id;          /* VIRTIO_ID_* */
	uint64_t host_features;      /* offered; virtio_device_init adds VERSION_1 etc. */
	uint32_t config_size;        /* bytes of device config space */
	uint16_t nr_queues;          /* <= VIRTIO_MAX_QUEUES */
	uint16_t queue_max_size;     /* QueueNumMax, power of 2, <= VIRTQ_MAX_SIZE */
	const struct virtio_device_ops *ops;
	const struct guest_mem *mem; /* what the device may reach of the guest */
	void *priv;                  /* the model's own state */
	struct virtio_fd_handler fds[VIRTIO_MAX_FDS];
	int nr_fds;

	/* --- managed by the transport and the virtio core --- */
	uint64_t driver_features;    /* accepted by the driver; final once FEATURES_OK */
	uint32_t status;             /* device status; atomic access (__atomic_*) */
	uint32_t config_generation;  /* bumped by virtio_config_changed() */
	struct virtqueue vqs[VIRTIO_MAX_QUEUES];
	pthread_mutex_t lock;        /* see "Threads and locking" above */
	bool needs_reset_logged;     /* log the first cause only, until reset */
	struct virtio_counters stats;
	char name_storage[32];       /* virtio_device_init copies name here */

	/* Set by the transport: deliver isr_bits to the guest (any thread). */
	void (*raise_irq)(struct virtio_device *dev, uint32_t isr_bits);
	void *transport;
};

/*
 * Initialise the common part of dev: zeroes the managed fields, sets up the
 * lock and the virtqueues, and adds VERSION_1, INDIRECT_DESC and EVENT_IDX
 * to host_features.  Call from the model's constructor after filling the
 * model fields.  Returns 0 or -1 (bad nr_queues / queue_max_size).
 */
int virtio_device_init(struct virtio_device *dev);
/* Destroy dev through ops->destroy (or free nothing if NULL). */
void virtio_device_destroy(struct virtio_device *dev);

/* Did the driver accept feature bit `bit`? */
static inline bool virtio_has_feature(const struct virtio_device *dev, unsigned bit)
{
	return bit < 64 && (dev->driver_features & VIRTIO_BIT(bit));
}

/* Current device status (atomic read). */
static inline uint32_t virtio_status(const struct virtio_device *dev)
{
	return __atomic_load_n(&dev->status, __ATOMIC_ACQUIRE);
}

/* True when DRIVER_OK is set and DEVICE_NEEDS_RESET is not: queues may run. */
static inline bool virtio_device_running(const struct virtio_device *dev)
{
	uint32_t s = virtio_status(dev);
	return (s & VIRTIO_STATUS_DRIVER_OK) && !(s & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

/*
 * The guest broke the protocol: set DEVICE_NEEDS_RESET, raise a
 * config-change interrupt, count it, log `fmt` once (until the next reset).
 */
void virtio_device_needs_reset(struct virtio_device *dev, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * After virtq_push()es on vq: raise a used-buffer interrupt unless the
 * driver suppressed it (VRING_AVAIL_F_NO_INTERRUPT, or EVENT_IDX's
 * used_event).  Returns true if an interrupt was raised.
 */
bool virtio_notify_queue(struct virtio_device *dev, struct virtqueue *vq);

/* The device changed its config space: bump the generation, interrupt. */
void virtio_config_changed(struct virtio_device *dev);

/* Raw: set isr_bits in InterruptStatus and signal the guest. */
void virtio_raise_irq(struct virtio_device *dev, uint32_t isr_bits);

/* Called by the transport (dev->lock held): full device reset. */
void virtio_device_reset(struct virtio_device *dev);
/* Called by the transport on DRIVER_OK (dev->lock held).  0 or -1. */
int virtio_device_activate(struct virtio_device *dev);

/* Little-endian config-space helper: copy [off, off+len) of a config struct. */
void virtio_config_copy(const void *config, uint32_t config_size,
			uint32_t off, void *data, uint32_t len);

#endif
