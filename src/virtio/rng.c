/*
 * virtio-rng (virtio 1.2 section 5.4): one request queue; each chain is a
 * set of device-writable buffers that we fill with random bytes from
 * getrandom() (the host kernel's CSPRNG, never blocking once seeded).
 * Readable buffers in a chain are ignored.  Requests are capped at 64 KiB
 * per chain so a guest cannot make one chain cost us unbounded work.
 */
#include "virtio/rng.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "common/log.h"
#include "virtio/virtio.h"

#define RNG_QUEUE_SIZE 64
#define RNG_MAX_IOV    16
#define RNG_MAX_BYTES  (64 * 1024)

struct rng {
	struct virtio_device dev;  /* first */
	struct virtio_rng_stats stats;
};

/* Fill len bytes at p; returns bytes filled. */
static size_t fill_random(uint8_t *p, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = getrandom(p + done, len - done, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		done += (size_t)n;
	}
	return done;
}

static void rng_queue_notify(struct virtio_device *dev, struct virtqueue *vq)
{
	struct rng *r = (struct rng *)dev;
	struct iovec iov[RNG_MAX_IOV];
	struct virtq_chain c = { .iov = iov, .max_iov = RNG_MAX_IOV };

	do {
		virtq_disable_notify(vq);
		while (virtq_pop(vq, &c) == 1) {
			size_t budget = RNG_MAX_BYTES, written = 0;

			for (unsigned i = c.nr_readable; i < (unsigned)c.nr_readable + c.nr_writable; i++) {
				size_t want = iov[i].iov_len < budget ? iov[i].iov_len : budget;
				size_t got = fill_random(iov[i].iov_base, want);

				written += got;
				budget -= got;
				if (got < want || !budget)
					break;
			}
			r->stats.requests++;
			r->stats.bytes += written;
			virtq_push(vq, c.head, (uint32_t)written);
		}
	} while (virtq_enable_notify(vq));
	virtio_notify_queue(dev, vq);
}

static void rng_config_read(struct virtio_device *dev, uint32_t off, void *data, uint32_t len)
{
	(void)dev; (void)off; (void)data; (void)len;  /* no config space */
}

static void rng_destroy(struct virtio_device *dev)
{
	free(dev);
}

static const struct virtio_device_ops rng_ops = {
	.queue_notify = rng_queue_notify,
	.config_read = rng_config_read,
	.destroy = rng_destroy,
};

struct virtio_device *virtio_rng_create(const struct guest_mem *mem, const char *name)
{
	struct rng *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->dev.name = name;
	r->dev.device_id = VIRTIO_ID_RNG;
	r->dev.nr_queues = 1;
	r->dev.queue_max_size = RNG_QUEUE_SIZE;
	r->dev.ops = &rng_ops;
	r->dev.mem = mem;
	r->dev.priv = r;
	if (virtio_device_init(&r->dev)) {
		free(r);
		return NULL;
	}
	return &r->dev;
}

const struct virtio_rng_stats *virtio_rng_stats(const struct virtio_device *dev)
{
	return &((const struct rng *)dev)->stats;
}
