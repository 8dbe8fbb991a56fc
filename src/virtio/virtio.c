/*
 * The transport-independent virtio core (see virtio.h): device init and
 * reset, DEVICE_NEEDS_RESET handling, interrupt decisions, config helpers.
 */
#include "virtio/virtio.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"

int virtio_device_init(struct virtio_device *dev)
{
	uint16_t qmax = dev->queue_max_size;

	if (dev->nr_queues == 0 || dev->nr_queues > VIRTIO_MAX_QUEUES ||
	    !qmax || (qmax & (qmax - 1)) || qmax > VIRTQ_MAX_SIZE || !dev->ops ||
	    !dev->ops->queue_notify || !dev->ops->config_read || !dev->mem)
		return -1;
	/* Keep our own copy: callers may pass a temporary buffer. */
	snprintf(dev->name_storage, sizeof(dev->name_storage), "%s", dev->name ? dev->name : "virtio");
	dev->name = dev->name_storage;
	dev->host_features |= VIRTIO_BIT(VIRTIO_F_VERSION_1) |
			      VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |
			      VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	dev->driver_features = 0;
	dev->status = 0;
	dev->config_generation = 0;
	dev->needs_reset_logged = false;
	memset(&dev->stats, 0, sizeof(dev->stats));
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		dev->vqs[q].dev = dev;
		dev->vqs[q].index = (uint16_t)q;
		virtq_reset(&dev->vqs[q]);
	}
	if (pthread_mutex_init(&dev->lock, NULL))
		return -1;
	return 0;
}

void virtio_device_destroy(struct virtio_device *dev)
{
	if (!dev)
		return;
	pthread_mutex_destroy(&dev->lock);
	if (dev->ops && dev->ops->destroy)
		dev->ops->destroy(dev);
}

void virtio_raise_irq(struct virtio_device *dev, uint32_t isr_bits)
{
	__atomic_fetch_add(&dev->stats.irqs, 1, __ATOMIC_RELAXED);
	if (dev->raise_irq)
		dev->raise_irq(dev, isr_bits);
}

void virtio_device_needs_reset(struct virtio_device *dev, const char *fmt, ...)
{
	uint32_t old = __atomic_fetch_or(&dev->status, VIRTIO_STATUS_DEVICE_NEEDS_RESET,
					 __ATOMIC_ACQ_REL);

	if (!(old & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
		__atomic_fetch_add(&dev->stats.needs_reset, 1, __ATOMIC_RELAXED);
	if (!dev->needs_reset_logged) {
		char why[256];
		va_list ap;

		dev->needs_reset_logged = true;
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		log_warn(dev->name ? dev->name : "virtio",
			 "guest driver broke the virtio protocol, device needs reset: %s", why);
	}
	if (!(old & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
		virtio_raise_irq(dev, VIRTIO_ISR_CONFIG_CHANGE);
}

bool virtio_notify_queue(struct virtio_device *dev, struct virtqueue *vq)
{
	if (!virtq_should_notify(vq)) {
		dev->stats.irqs_suppressed++;
		return false;
	}
	virtio_raise_irq(dev, VIRTIO_ISR_USED_BUFFER);
	return true;
}

void virtio_config_changed(struct virtio_device *dev)
{
	__atomic_fetch_add(&dev->config_generation, 1, __ATOMIC_RELEASE);
	virtio_raise_irq(dev, VIRTIO_ISR_CONFIG_CHANGE);
}

void virtio_device_reset(struct virtio_device *dev)
{
	if (dev->ops->reset)
		dev->ops->reset(dev);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		virtq_reset(&dev->vqs[q]);
	dev->driver_features = 0;
	dev->needs_reset_logged = false;
	__atomic_store_n(&dev->status, 0, __ATOMIC_RELEASE);
	dev->stats.resets++;
}

int virtio_device_activate(struct virtio_device *dev)
{
	for (unsigned q = 0; q < dev->nr_queues; q++) {
		struct virtqueue *vq = &dev->vqs[q];
		if (vq->ready && virtq_activate(vq, dev->queue_max_size))
			return -1;
	}
	if (dev->ops->activate && dev->ops->activate(dev)) {
		virtio_device_needs_reset(dev, "device refused activation");
		return -1;
	}
	return 0;
}

void virtio_config_copy(const void *config, uint32_t config_size,
			uint32_t off, void *data, uint32_t len)
{
	memset(data, 0, len);
	if (off < config_size)
		memcpy(data, (const uint8_t *)config + off,
		       len < config_size - off ? len : config_size - off);
}
