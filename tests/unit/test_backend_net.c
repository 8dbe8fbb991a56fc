/*
 * What `capvm backend net` adds to the virtio-net model: handing back the
 * receive buffers the model holds when a vhost-user front-end stops the
 * receive ring while the guest lives on (QEMU's stop/cont, a reconnect).
 * The model runs on the synthetic driver (tests/virtio_driver.h) with a
 * SOCK_SEQPACKET socketpair as its tap, as in test_net.c; the stop is what
 * vu_backend's ring_stopping hook does: virtio_net_return_rx_buffers()
 * under dev->lock.  Also the batch push of a packet spread over several
 * mergeable buffers (virtq_push_many).
 */
#include "unit/test.h"
#include "virtio_driver.h"

#include <sys/socket.h>

#include "common/log.h"
#include "virtio/net.h"
#include "virtio/virtio.h"

#define RXQ 0
#define TXQ 1

static struct vdrv d;
static struct virtio_device *dev;
static int peer = -1;   /* the "host network" end of the socketpair */

static int setup(void)
{
	struct net_options o;
	char err[256];
	int sv[2];

	if (vdrv_init(&d, 4 << 20) || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -1;
	if (virtio_net_parse("tap=test0,mac=52:54:00:aa:bb:cc", &o, err, sizeof(err)))
		return -1;
	dev = virtio_net_create_fd(&o, sv[0], false, &d.mem, "net-test", err, sizeof(err));
	if (!dev) {
		printf("  %s\n", err);
		return -1;
	}
	peer = sv[1];
	vdrv_attach(&d, virtio_mmio_create(dev, 0xd0000000, 16));
	if (!d.t || vdrv_negotiate(&d, ~0ULL) || vdrv_setup_queue(&d, RXQ, 128) ||
	    vdrv_setup_queue(&d, TXQ, 64) || vdrv_driver_ok(&d))
		return -1;
	vdrv_poll(&d);
	return 0;
}

static void teardown(void)
{
	vdrv_destroy(&d);
	close(peer);
	peer = -1;
}

static void host_send(size_t len)
{
	static uint8_t buf[VIRTIO_NET_HDR_LEN + 8192];

	memset(buf, 0, sizeof(buf));
	CHECK_EQ(send(peer, buf, VIRTIO_NET_HDR_LEN + len, 0), (long long)(VIRTIO_NET_HDR_LEN + len));
}

/* Post n writable receive buffers of `size` bytes; returns the first head. */
static int post_rx(unsigned n, uint32_t size)
{
	int first = -1;

	for (unsigned i = 0; i < n; i++) {
		struct vdrv_buf b = { vdrv_alloc(&d, size, 16), size, true };
		int head = vdrv_add_chain(&d, RXQ, &b, 1, false);
		CHECK(head >= 0);
		if (first < 0)
			first = head;
	}
	return first;
}

/* What vu_backend does before GET_VRING_BASE answers for the receive ring. */
static void stop_rx_ring(void)
{
	pthread_mutex_lock(&dev->lock);
	virtio_net_return_rx_buffers(dev);
	pthread_mutex_unlock(&dev->lock);
}

TEST(stash_is_rewound)
{
	struct virtqueue *vq;
	uint32_t id = 0, len = 0;
	int first;

	CHECK(setup() == 0);
	vq = &dev->vqs[RXQ];
	first = post_rx(100, 1536);
	vdrv_kick(&d, RXQ);
	host_send(100);
	vdrv_poll(&d);
	CHECK(vdrv_get_used(&d, RXQ, &id, &len));
	CHECK_EQ(id, (uint32_t)first);
	CHECK_EQ(len, 112);
	/* The model took ~64 KiB of buffers ahead for the next packet. */
	CHECK(vq->last_avail_idx > 20);
	stop_rx_ring();
	/* Only the used chain counts as taken; nothing else was completed. */
	CHECK_EQ(vq->last_avail_idx, 1);
	CHECK_EQ(vq->in_flight, 0);
	CHECK(!vdrv_get_used(&d, RXQ, &id, &len));
	/* The buffers are still the guest's: the next packet lands in the second one. */
	host_send(200);
	vdrv_poll(&d);
	CHECK(vdrv_get_used(&d, RXQ, &id, &len));
	CHECK_EQ(len, 212);
	CHECK_EQ(virtio_net_stats(dev)->rx_packets, 2);
	teardown();
}

TEST(stash_with_gap_returned_empty)
{
	struct virtqueue *vq;
	struct vdrv_buf ro;
	uint32_t id = 0, len = 0, empty = 0, full = 0;
	uint16_t before;

	CHECK(setup() == 0);
	vq = &dev->vqs[RXQ];
	post_rx(2, 1536);
	/* An unusable chain (device-readable only) between good ones. */
	ro = (struct vdrv_buf){ vdrv_alloc(&d, 64, 16), 64, false };
	CHECK(vdrv_add_chain(&d, RXQ, &ro, 1, false) >= 0);
	post_rx(60, 1536);
	vdrv_kick(&d, RXQ);
	host_send(100);
	vdrv_poll(&d);
	while (vdrv_get_used(&d, RXQ, &id, &len))
		len ? full++ : empty++;
	CHECK_EQ(full, 1);
	CHECK_EQ(empty, 1);       /* the unusable chain */
	CHECK_EQ(virtio_net_stats(dev)->rx_bad_buffers, 1);
	before = vq->last_avail_idx;
	stop_rx_ring();
	/* Not the ring's tail in order: each held chain comes back used, empty. */
	CHECK_EQ(vq->last_avail_idx, before);
	empty = 0;
	while (vdrv_get_used(&d, RXQ, &id, &len)) {
		CHECK_EQ(len, 0);
		empty++;
	}
	CHECK_EQ(empty, (uint32_t)(before - 2));  /* all taken but the used one and the unusable one */
	CHECK_EQ(vq->in_flight, 0);
	teardown();
}

TEST(pending_packet_rewound)
{
	struct virtqueue *vq;
	uint32_t id = 0, len = 0;

	CHECK(setup() == 0);
	vq = &dev->vqs[RXQ];
	post_rx(1, 1536);
	vdrv_kick(&d, RXQ);
	host_send(2000);          /* needs two buffers; the guest has one */
	vdrv_poll(&d);
	CHECK(!vdrv_get_used(&d, RXQ, &id, &len));
	CHECK_EQ(vq->last_avail_idx, 1);
	stop_rx_ring();
	CHECK_EQ(vq->last_avail_idx, 0);
	CHECK_EQ(virtio_net_stats(dev)->rx_dropped, 1);
	/* Later packets still arrive once the guest has buffers. */
	post_rx(4, 1536);
	vdrv_kick(&d, RXQ);
	host_send(300);
	vdrv_poll(&d);
	CHECK(vdrv_get_used(&d, RXQ, &id, &len));
	CHECK_EQ(len, 312);
	teardown();
}

TEST(nothing_held_is_a_no_op)
{
	uint32_t id = 0, len = 0;

	CHECK(setup() == 0);
	stop_rx_ring();
	CHECK_EQ(dev->vqs[RXQ].last_avail_idx, 0);
	CHECK(!vdrv_get_used(&d, RXQ, &id, &len));
	teardown();
}

/*
 * A packet over three buffers goes back as one virtq_push_many batch: the
 * elements, their lengths and the in-flight count are right.  (That the
 * index is published once needs a concurrent reader to observe; the e2e
 * isolated-mode run is where the split showed.)
 */
TEST(mergeable_packet_pushed_as_one_batch)
{
	struct virtqueue *vq;
	uint32_t id = 0, len = 0, total = 0;
	uint16_t before;

	CHECK(setup() == 0);
	vq = &dev->vqs[RXQ];
	post_rx(40, 1536);
	vdrv_kick(&d, RXQ);
	host_send(1000);              /* warm up: the stash is taken */
	vdrv_poll(&d);
	CHECK(vdrv_get_used(&d, RXQ, &id, &len));
	before = vq->used->idx;
	host_send(2000 + 2000);       /* needs three 1536-byte buffers */
	vdrv_poll(&d);
	CHECK_EQ((uint16_t)(vq->used->idx - before), 3);
	for (int i = 0; i < 3; i++) {
		CHECK(vdrv_get_used(&d, RXQ, &id, &len));
		total += len;
	}
	CHECK_EQ(total, 4012);
	CHECK_EQ(vq->in_flight, vq->last_avail_idx - vq->used_idx);
	teardown();
}

int main(void)
{
	log_set_level(LOG_ERROR);
	RUN(stash_is_rewound);
	RUN(stash_with_gap_returned_empty);
	RUN(pending_packet_rewound);
	RUN(nothing_held_is_a_no_op);
	RUN(mergeable_packet_pushed_as_one_batch);
	return test_exit();
}
