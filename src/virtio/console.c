/*
 * virtio-console (virtio 1.2 section 5.3), single port, no MULTIPORT: the
 * guest's driver makes port 0 its hvc0.  Queue 0 (receiveq) carries input
 * to the guest, queue 1 (transmitq) the guest's output.
 *
 * Output: each transmit chain's readable bytes are written to the chardev
 * in order (on the device's I/O thread; a blocking file write only delays
 * this device).
 *
 * Input arrives on the chardev's own thread.  It must not touch the queues
 * (dev->lock belongs to the I/O thread and the vCPUs), so it appends to a
 * byte ring under a small mutex of its own and signals an eventfd that the
 * I/O thread polls; the I/O thread moves the bytes into the guest's receive
 * buffers.  When the guest has no buffers the bytes wait in the ring (we ask
 * for a kick); when the ring is full, further input is dropped and counted.
 *
 * Config space: cols, rows, max_nr_ports, emerg_wr.  EMERG_WRITE is offered:
 * a byte written to emerg_wr goes straight to the chardev (early output).
 */
#include "virtio/console.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/chardev.h"
#include "common/log.h"
#include "virtio/virtio.h"

#define CONSOLE_QUEUE_SIZE 64
#define CONSOLE_RX_QUEUE   0
#define CONSOLE_TX_QUEUE   1
#define CONSOLE_MAX_IOV    16
#define CONSOLE_RING_SIZE  (64 * 1024)    /* buffered input, power of 2 */
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

struct virtio_console_config {
	uint16_t cols;
	uint16_t rows;
	uint32_t max_nr_ports;
	uint32_t emerg_wr;
} __attribute__((packed));

struct console {
	struct virtio_device dev;        /* first */
	char name[32];
	struct chardev *cd;
	int input_fd;                    /* eventfd: input is waiting in the ring */
	struct virtio_console_config config;
	struct virtio_console_stats stats;
	bool rx_want_buffers;

	/* Input ring, filled by the chardev thread, drained by the I/O thread. */
	pthread_mutex_t ring_lock;
	uint8_t *ring;
	size_t ring_head, ring_tail;     /* free-running; head - tail = bytes held */
};

/* ---- input (chardev thread) ------------------------------------------------ */

void virtio_console_input(struct virtio_device *dev, const uint8_t *buf, size_t len)
{
	struct console *c = (struct console *)dev;
	uint64_t one = 1;
	size_t room, take;

	pthread_mutex_lock(&c->ring_lock);
	room = CONSOLE_RING_SIZE - (c->ring_head - c->ring_tail);
	take = len < room ? len : room;
	for (size_t i = 0; i < take; i++)
		c->ring[(c->ring_head + i) & (CONSOLE_RING_SIZE - 1)] = buf[i];
	c->ring_head += take;
	if (take < len)
		__atomic_fetch_add(&c->stats.rx_dropped, len - take, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&c->ring_lock);
	if (take && write(c->input_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn(c->dev.name, "cannot signal console input: %s", strerror(errno));
}

static void chardev_input(void *opaque, const uint8_t *buf, size_t len)
{
	virtio_console_input(opaque, buf, len);
}

/* ---- queues (I/O thread, dev->lock held) ------------------------------------- */

/* Move buffered input into the guest's receive buffers. */
static void console_rx(struct console *c)
{
	struct virtqueue *vq = &c->dev.vqs[CONSOLE_RX_QUEUE];
	struct iovec iov[CONSOLE_MAX_IOV];
	struct virtq_chain ch = { .iov = iov, .max_iov = CONSOLE_MAX_IOV };
	bool pushed = false;

	c->rx_want_buffers = false;
	if (!vq->active || !virtio_device_running(&c->dev))
		return;
	pthread_mutex_lock(&c->ring_lock);
	while (c->ring_head != c->ring_tail) {
		size_t written = 0;
		int r;

		virtq_disable_notify(vq);
		r = virtq_pop(vq, &ch);
		if (r == 0 && virtq_enable_notify(vq))
			continue;  /* buffers arrived while we re-armed */
		if (r != 1) {
			c->rx_want_buffers = r == 0;  /* wait for the guest's kick */
			break;
		}
		for (unsigned i = ch.nr_readable; i < (unsigned)ch.nr_readable + ch.nr_writable; i++) {
			uint8_t *p = iov[i].iov_base;
			size_t j = 0;

			for (; j < iov[i].iov_len && c->ring_head != c->ring_tail; j++)
				p[j] = c->ring[c->ring_tail++ & (CONSOLE_RING_SIZE - 1)];
			written += j;
			if (c->ring_head == c->ring_tail)
				break;
		}
		c->stats.rx_bytes += written;
		virtq_push(vq, ch.head, (uint32_t)written);
		pushed = true;
	}
	pthread_mutex_unlock(&c->ring_lock);
	if (pushed)
		virtio_notify_queue(&c->dev, vq);
}

/* Write the guest's output to the chardev. */
static void console_tx(struct console *c, struct virtqueue *vq)
{
	struct iovec iov[CONSOLE_MAX_IOV];
	struct virtq_chain ch = { .iov = iov, .max_iov = CONSOLE_MAX_IOV };

	do {
		virtq_disable_notify(vq);
		while (virtq_pop(vq, &ch) == 1) {
			/* A chain with more buffers than we keep: the stored ones are
			 * written, the rest is lost (Linux sends one buffer per chain). */
			for (unsigned i = 0; i < ch.nr_readable; i++) {
				chardev_write(c->cd, iov[i].iov_base, iov[i].iov_len);
				c->stats.tx_bytes += iov[i].iov_len;
			}
			virtq_push(vq, ch.head, 0);
		}
	} while (virtq_enable_notify(vq));
	virtio_notify_queue(&c->dev, vq);
}

static void console_queue_notify(struct virtio_device *dev, struct virtqueue *vq)
{
	struct console *c = (struct console *)dev;

	if (vq->index == CONSOLE_TX_QUEUE)
		console_tx(c, vq);
	else if (c->rx_want_buffers)
		console_rx(c);
	else
		virtq_disable_notify(vq);
}

static void console_input_ready(struct virtio_device *dev, void *opaque)
{
	struct console *c = (struct console *)dev;
	uint64_t v;

	(void)opaque;
	if (read(c->input_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	console_rx(c);
}

static void console_config_read(struct virtio_device *dev, uint32_t off, void *data, uint32_t len)
{
	struct console *c = (struct console *)dev;
	virtio_config_copy(&c->config, sizeof(c->config), off, data, len);
}

static void console_config_write(struct virtio_device *dev, uint32_t off, const void *data,
				 uint32_t len)
{
	struct console *c = (struct console *)dev;

	/* emerg_wr: the low byte is one character of output. */
	if (off == offsetof(struct virtio_console_config, emerg_wr) &&
	    virtio_has_feature(dev, VIRTIO_CONSOLE_F_EMERG_WRITE)) {
		chardev_write(c->cd, data, 1);
		c->stats.tx_bytes++;
	}
	(void)len;
}

static int console_activate(struct virtio_device *dev)
{
	struct console *c = (struct console *)dev;
	uint64_t one = 1;

	/* Input that came before the driver: deliver once buffers are posted. */
	c->rx_want_buffers = true;
	if (write(c->input_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -1;
	return 0;
}

static void console_reset(struct virtio_device *dev)
{
	((struct console *)dev)->rx_want_buffers = false;
}

static void console_destroy(struct virtio_device *dev)
{
	struct console *c = (struct console *)dev;

	chardev_close(c->cd);  /* joins the input thread first */
	if (c->input_fd >= 0)
		close(c->input_fd);
	pthread_mutex_destroy(&c->ring_lock);
	free(c->ring);
	free(c);
}

static const struct virtio_device_ops console_ops = {
	.queue_notify = console_queue_notify,
	.config_read = console_config_read,
	.config_write = console_config_write,
	.activate = console_activate,
	.reset = console_reset,
	.destroy = console_destroy,
};

const struct virtio_console_stats *virtio_console_stats(const struct virtio_device *dev)
{
	return &((const struct console *)dev)->stats;
}

/* ---- construction --------------------------------------------------------------- */

int virtio_console_parse(const char *spec, char *err, size_t errlen)
{
	if (!strcmp(spec, "stdio") || !strcmp(spec, "none") ||
	    (!strncmp(spec, "file:", 5) && spec[5]) || (!strncmp(spec, "unix:", 5) && spec[5]))
		return 0;
	snprintf(err, errlen, "bad console '%s' (expected stdio, file:PATH, unix:PATH or none)", spec);
	return -1;
}

struct virtio_device *virtio_console_create_chardev(struct chardev *cd, int start_input,
						    const struct guest_mem *mem, const char *name,
						    char *err, size_t errlen)
{
	struct console *c = calloc(1, sizeof(*c));
	struct virtio_device *dev;

	if (!c) {
		chardev_close(cd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	dev = &c->dev;
	c->cd = cd;
	c->input_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c->ring = malloc(CONSOLE_RING_SIZE);
	pthread_mutex_init(&c->ring_lock, NULL);
	snprintf(c->name, sizeof(c->name), "%s", name ? name : "console");
	if (c->input_fd < 0 || !c->ring) {
		snprintf(err, errlen, "cannot set up the console device: %s", strerror(errno));
		goto fail;
	}
	dev->name = c->name;
	dev->device_id = VIRTIO_ID_CONSOLE;
	dev->config_size = sizeof(c->config);
	dev->nr_queues = 2;
	dev->queue_max_size = CONSOLE_QUEUE_SIZE;
	dev->ops = &console_ops;
	dev->mem = mem;
	dev->priv = c;
	dev->host_features = VIRTIO_BIT(VIRTIO_CONSOLE_F_EMERG_WRITE);
	dev->fds[0] = (struct virtio_fd_handler){ .fd = c->input_fd, .events = 0x001 /* EPOLLIN */,
						  .handler = console_input_ready };
	dev->nr_fds = 1;
	c->config.max_nr_ports = 1;
	if (virtio_device_init(dev)) {
		snprintf(err, errlen, "internal error: bad device parameters");
		goto fail;
	}
	if (start_input && chardev_start_input(cd, chardev_input, dev) < 0) {
		snprintf(err, errlen, "cannot start reading console input");
		goto fail;
	}
	return dev;
fail:
	console_destroy(dev);
	return NULL;
}

struct virtio_device *virtio_console_create(const char *spec, const struct guest_mem *mem,
					    const char *name, char *err, size_t errlen)
{
	struct chardev *cd = chardev_open(spec, err, errlen);

	if (!cd)
		return NULL;
	return virtio_console_create_chardev(cd, 1, mem, name, err, errlen);
}
