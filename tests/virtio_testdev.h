/*
 * A minimal virtio device for tests and fuzzers of the virtqueue and
 * transport code: every chain it pops is recorded (shape and lengths),
 * its writable bytes are filled with 0xab and it is pushed back with the
 * writable length.  Device id 0x7e57 (not a real device), one or two
 * queues, 8 bytes of config space (a counter readable and writable).
 */
#ifndef CAPVM_TESTS_VIRTIO_TESTDEV_H
#define CAPVM_TESTS_VIRTIO_TESTDEV_H

#include <stdlib.h>
#include <string.h>

#include "virtio/virtio.h"

#define TESTDEV_MAX_IOV 64

struct testdev {
	struct virtio_device dev;   /* first */
	uint64_t config;
	unsigned chains;            /* chains popped in total */
	int last_pop;               /* last virtq_pop() result that ended a batch */
	struct virtq_chain last;    /* shape of the last chain */
	struct iovec iov[TESTDEV_MAX_IOV];
	unsigned max_iov;           /* tests may lower it (truncation) */
	unsigned resets;
};

static inline void testdev_notify(struct virtio_device *dev, struct virtqueue *vq)
{
	struct testdev *t = (struct testdev *)dev;
	struct virtq_chain c = { .iov = t->iov, .max_iov = t->max_iov };
	int r;

	do {
		virtq_disable_notify(vq);
		while ((r = virtq_pop(vq, &c)) == 1) {
			for (unsigned i = c.nr_readable; i < (unsigned)c.nr_readable + c.nr_writable; i++)
				memset(c.iov[i].iov_base, 0xab, c.iov[i].iov_len);
			t->chains++;
			t->last = c;
			virtq_push(vq, c.head, (uint32_t)c.writable_len);
		}
		t->last_pop = r;
	} while (virtq_enable_notify(vq));
	virtio_notify_queue(dev, vq);
}

static inline void testdev_config_read(struct virtio_device *dev, uint32_t off, void *data, uint32_t len)
{
	struct testdev *t = (struct testdev *)dev;
	virtio_config_copy(&t->config, sizeof(t->config), off, data, len);
}

static inline void testdev_config_write(struct virtio_device *dev, uint32_t off, const void *data, uint32_t len)
{
	struct testdev *t = (struct testdev *)dev;
	memcpy((uint8_t *)&t->config + off, data, len);  /* transport checked the range */
}

static inline void testdev_reset(struct virtio_device *dev) { ((struct testdev *)dev)->resets++; }
static inline void testdev_destroy(struct virtio_device *dev) { free(dev); }

static const struct virtio_device_ops testdev_ops = {
	.queue_notify = testdev_notify,
	.config_read = testdev_config_read,
	.config_write = testdev_config_write,
	.reset = testdev_reset,
	.destroy = testdev_destroy,
};

static inline struct testdev *testdev_create(const struct guest_mem *mem, uint16_t nr_queues,
					     uint16_t qmax)
{
	struct testdev *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->dev.name = "testdev";
	t->dev.device_id = 0x7e57;
	t->dev.host_features = 1ULL << 0;  /* one device feature bit, for negotiation tests */
	t->dev.config_size = sizeof(t->config);
	t->dev.nr_queues = nr_queues;
	t->dev.queue_max_size = qmax;
	t->dev.ops = &testdev_ops;
	t->dev.mem = mem;
	t->max_iov = TESTDEV_MAX_IOV;
	if (virtio_device_init(&t->dev)) {
		free(t);
		return NULL;
	}
	return t;
}

#endif
