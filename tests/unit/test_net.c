/*
 * virtio-net tests with the synthetic driver (tests/virtio_driver.h).  The
 * tap is replaced by a SOCK_SEQPACKET socketpair that keeps the same framing
 * (12-byte virtio_net_hdr_v1 + frame per message): the test plays the host
 * network on the other end.  Covers option parsing, config space, transmit
 * (gather, hostile chains), receive (mergeable buffers, single chains,
 * waiting for buffers, a packet spilling over when buffers run short,
 * unusable buffers) and reset.
 */
#include "unit/test.h"
#include "virtio_driver.h"

#include <sys/socket.h>

#include "common/log.h"
#include "virtio/net.h"

#define RXQ 0
#define TXQ 1
#define ALL_BUT(bit) (~0ULL & ~(1ULL << (bit)))

static struct vdrv d;
static struct virtio_device *dev;
static int peer = -1;   /* the "host network" end of the socketpair */

static int setup(uint64_t features)
{
	struct net_options o;
	char err[256];
	int sv[2];

	if (vdrv_init(&d, 4 << 20) || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -1;
	if (virtio_net_parse("tap=test0,mac=52:54:00:aa:bb:cc,mtu=9000", &o, err, sizeof(err)))
		return -1;
	dev = virtio_net_create_fd(&o, sv[0], false, &d.mem, "net-test", err, sizeof(err));
	if (!dev) {
		printf("  %s\n", err);
		return -1;
	}
	peer = sv[1];
	vdrv_attach(&d, virtio_mmio_create(dev, 0xd0000000, 16));
	if (!d.t || vdrv_negotiate(&d, features) || vdrv_setup_queue(&d, RXQ, 64) ||
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

/* Send a frame of `len` bytes (pattern seeded by `seed`) from the host side. */
static void host_send(size_t len, uint8_t seed)
{
	static uint8_t buf[VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME];

	memset(buf, 0, VIRTIO_NET_HDR_LEN);
	buf[0] = VIRTIO_NET_HDR_F_DATA_VALID;
	buf[10] = 0x77;  /* num_buffers: the device must overwrite it */
	for (size_t i = 0; i < len; i++)
		buf[VIRTIO_NET_HDR_LEN + i] = (uint8_t)(seed + i * 7);
	CHECK_EQ(send(peer, buf, VIRTIO_NET_HDR_LEN + len, 0), (long long)(VIRTIO_NET_HDR_LEN + len));
}

/* Post n receive buffers of `size` bytes; returns the gpa of the first. */
static uint64_t post_rx(unsigned n, uint32_t size)
{
	uint64_t first = 0;

	for (unsigned i = 0; i < n; i++) {
		uint64_t gpa = vdrv_alloc(&d, size, 16);
		struct vdrv_buf b = { gpa, size, true };
		if (!first)
			first = gpa;
		CHECK(vdrv_add_chain(&d, RXQ, &b, 1, false) >= 0);
	}
	return first;
}

TEST(parse)
{
	struct net_options o;
	char err[256];

	CHECK_EQ(virtio_net_parse("tap=tap0", &o, err, sizeof(err)), 0);
	CHECK_STR(o.tap, "tap0");
	CHECK(!o.mac_set);
	CHECK_EQ(o.mtu, 0);
	CHECK_EQ(virtio_net_parse("tap=t1,mac=02:00:00:00:00:01,mtu=1400", &o, err, sizeof(err)), 0);
	CHECK(o.mac_set && o.mac[0] == 2 && o.mac[5] == 1);
	CHECK_EQ(o.mtu, 1400);
	CHECK_EQ(virtio_net_parse("mac=02:00:00:00:00:01", &o, err, sizeof(err)), -1);
	CHECK(strstr(err, "tap=NAME is required") != NULL);
	CHECK_EQ(virtio_net_parse("tap=", &o, err, sizeof(err)), -1);
	CHECK_EQ(virtio_net_parse("tap=averyveryverylongname", &o, err, sizeof(err)), -1);
	CHECK_EQ(virtio_net_parse("tap=a/b", &o, err, sizeof(err)), -1);
	CHECK_EQ(virtio_net_parse("tap=t,mac=01:00:00:00:00:01", &o, err, sizeof(err)), -1);
	CHECK_EQ(virtio_net_parse("tap=t,mac=00:00:00:00:00:00", &o, err, sizeof(err)), -1);
	CHECK_EQ(virtio_net_parse("tap=t,mac=02:00:00:00:00", &o, err, sizeof(err)), -1);
	CHECK_EQ(virtio_net_parse("tap=t,mac=02:00:00:00:00:01:02", &o, err, sizeof(err)), -1);
	CHECK_EQ(virtio_net_parse("tap=t,mtu=67", &o, err, sizeof(err)), -1);
	CHECK_EQ(virtio_net_parse("tap=t,mtu=65536", &o, err, sizeof(err)), -1);
	CHECK_EQ(virtio_net_parse("tap=t,mtu=abc", &o, err, sizeof(err)), -1);
	CHECK_EQ(virtio_net_parse("tap=t,vhost=on", &o, err, sizeof(err)), -1);
	CHECK(strstr(err, "unknown option 'vhost=on'") != NULL);
}

TEST(config_and_features)
{
	uint8_t cfg[12];

	CHECK(setup(~0ULL) == 0);
	CHECK_EQ(vdrv_read32(&d, VDRV_DEVICE_ID), 1);
	for (int i = 0; i < 12; i++)
		virtio_mmio_read(d.t, VDRV_CONFIG + i, &cfg[i], 1);
	CHECK(!memcmp(cfg, "\x52\x54\x00\xaa\xbb\xcc", 6));
	CHECK_EQ(cfg[6] | cfg[7] << 8, VIRTIO_NET_S_LINK_UP);
	CHECK_EQ(cfg[8] | cfg[9] << 8, 1);           /* max_virtqueue_pairs */
	CHECK_EQ(cfg[10] | cfg[11] << 8, 9000);      /* mtu */
	CHECK(d.features & (1ULL << VIRTIO_NET_F_MRG_RXBUF));
	CHECK(d.features & (1ULL << VIRTIO_NET_F_GUEST_TSO4));
	CHECK(d.features & (1ULL << VIRTIO_NET_F_HOST_TSO4));
	CHECK(d.features & (1ULL << VIRTIO_NET_F_MAC));
	CHECK(d.features & (1ULL << VIRTIO_NET_F_STATUS));
	CHECK(d.features & (1ULL << VIRTIO_F_EVENT_IDX));
	teardown();
}

TEST(tx_gathers_header_and_frame)
{
	uint8_t got[4096];
	uint32_t id = 0, len = 0;
	uint64_t h = 0, a = 0, b = 0;

	CHECK(setup(~0ULL) == 0);
	h = vdrv_alloc(&d, 12, 4);
	a = vdrv_alloc(&d, 100, 4);
	b = vdrv_alloc(&d, 900, 4);
	memset(vdrv_ptr(&d, h), 0, 12);
	memset(vdrv_ptr(&d, a), 0x11, 100);
	memset(vdrv_ptr(&d, b), 0x22, 900);
	struct vdrv_buf bufs[3] = { { h, 12, false }, { a, 100, false }, { b, 900, false } };
	vdrv_add_chain(&d, TXQ, bufs, 3, false);
	vdrv_add_chain(&d, TXQ, bufs, 3, true);   /* the same packet through an indirect table */
	vdrv_kick(&d, TXQ);
	CHECK(vdrv_wait_used(&d, TXQ, &id, &len, 1000));
	CHECK(vdrv_wait_used(&d, TXQ, &id, &len, 1000));
	for (int i = 0; i < 2; i++) {
		ssize_t n = recv(peer, got, sizeof(got), MSG_DONTWAIT);
		CHECK_EQ(n, 1012);
		CHECK(got[12] == 0x11 && got[111] == 0x11 && got[112] == 0x22 && got[1011] == 0x22);
	}
	CHECK_EQ(virtio_net_stats(dev)->tx_packets, 2);
	CHECK_EQ(virtio_net_stats(dev)->tx_bytes, 2000);
	CHECK_EQ(virtio_net_stats(dev)->tx_dropped, 0);
	teardown();
}

TEST(tx_hostile_chains_dropped)
{
	uint8_t got[128];
	uint32_t id = 0, len = 0;
	uint64_t p;
	uint8_t *hdr;

	CHECK(setup(ALL_BUT(VIRTIO_NET_F_HOST_TSO6)) == 0);
	p = vdrv_alloc(&d, 70000, 16);
	hdr = vdrv_ptr(&d, p);
	memset(hdr, 0, 70000);
	/* 1: shorter than the header; 2: write-only; 3: over 64 KiB + header;
	 * 4: GSO TCPv6 without HOST_TSO6; 5: a good one. */
	struct vdrv_buf shortb = { p, 8, false }, wonly = { p, 100, true },
			big = { p, 70000, false }, good = { p, 60, false };
	vdrv_add_chain(&d, TXQ, &shortb, 1, false);
	vdrv_add_chain(&d, TXQ, &wonly, 1, false);
	vdrv_add_chain(&d, TXQ, &big, 1, false);
	vdrv_kick(&d, TXQ);
	vdrv_poll(&d);
	hdr[1] = VIRTIO_NET_HDR_GSO_TCPV6;
	vdrv_add_chain(&d, TXQ, &good, 1, false);
	vdrv_kick(&d, TXQ);
	vdrv_poll(&d);
	hdr[1] = VIRTIO_NET_HDR_GSO_NONE;
	vdrv_add_chain(&d, TXQ, &good, 1, false);
	vdrv_kick(&d, TXQ);
	vdrv_poll(&d);
	for (int i = 0; i < 5; i++) {
		CHECK(vdrv_get_used(&d, TXQ, &id, &len));
		CHECK_EQ(len, 0);
	}
	CHECK_EQ(recv(peer, got, sizeof(got), MSG_DONTWAIT), 60);
	CHECK_EQ(recv(peer, got, sizeof(got), MSG_DONTWAIT), -1);
	CHECK_EQ(virtio_net_stats(dev)->tx_dropped, 4);
	CHECK_EQ(virtio_net_stats(dev)->tx_packets, 1);
	CHECK(!(vdrv_status(&d) & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
	teardown();
}

TEST(rx_mergeable_spans_buffers)
{
	uint32_t id = 0, len = 0, total = 0;
	uint64_t first;
	uint8_t *p;

	CHECK(setup(~0ULL) == 0);
	first = post_rx(40, 1536);   /* contiguous: the packet reads back in order */
	vdrv_kick(&d, RXQ);
	vdrv_poll(&d);
	host_send(4000, 3);
	vdrv_poll(&d);
	for (int i = 0; i < 3; i++) {
		CHECK(vdrv_get_used(&d, RXQ, &id, &len));
		total += len;
	}
	CHECK_EQ(total, 4012);
	CHECK(!vdrv_get_used(&d, RXQ, &id, &len));
	p = vdrv_ptr(&d, first);
	CHECK_EQ(p[10] | p[11] << 8, 3);             /* num_buffers */
	CHECK_EQ(p[0], VIRTIO_NET_HDR_F_DATA_VALID);  /* GUEST_CSUM negotiated: kept */
	CHECK_EQ(p[12], 3);
	CHECK_EQ(p[1536], (uint8_t)(3 + (1536 - 12) * 7));  /* second buffer continues */
	CHECK_EQ(virtio_net_stats(dev)->rx_packets, 1);
	CHECK_EQ(virtio_net_stats(dev)->rx_bytes, 4000);
	/* A second, small packet takes the next buffer. */
	host_send(60, 9);
	vdrv_poll(&d);
	CHECK(vdrv_get_used(&d, RXQ, &id, &len));
	CHECK_EQ(len, 72);
	teardown();
}

TEST(rx_single_chain_mode)
{
	uint32_t id = 0, len = 0;
	uint64_t first;
	uint8_t *p;

	CHECK(setup(ALL_BUT(VIRTIO_NET_F_MRG_RXBUF) & ~(1ULL << VIRTIO_NET_F_GUEST_CSUM)) == 0);
	first = post_rx(2, 2048);
	vdrv_kick(&d, RXQ);
	host_send(1000, 1);
	host_send(3000, 2);   /* larger than a buffer: dropped */
	host_send(500, 3);
	vdrv_poll(&d);
	CHECK(vdrv_get_used(&d, RXQ, &id, &len));
	CHECK_EQ(len, 1012);
	p = vdrv_ptr(&d, first);
	CHECK_EQ(p[10] | p[11] << 8, 1);
	CHECK_EQ(p[0], 0);     /* no GUEST_CSUM: no checksum hints */
	CHECK(vdrv_get_used(&d, RXQ, &id, &len));
	CHECK_EQ(len, 512);
	CHECK_EQ(virtio_net_stats(dev)->rx_dropped, 1);
	CHECK_EQ(virtio_net_stats(dev)->rx_packets, 2);
	teardown();
}

TEST(rx_waits_for_buffers)
{
	uint32_t id = 0, len = 0;

	CHECK(setup(~0ULL) == 0);
	host_send(100, 1);
	host_send(200, 2);
	vdrv_poll(&d);
	CHECK(!vdrv_get_used(&d, RXQ, &id, &len));
	CHECK(virtio_net_stats(dev)->rx_stalls >= 1);
	post_rx(1, 1536);
	vdrv_kick(&d, RXQ);
	vdrv_poll(&d);
	CHECK(vdrv_get_used(&d, RXQ, &id, &len));
	CHECK_EQ(len, 112);
	CHECK(!vdrv_get_used(&d, RXQ, &id, &len));
	post_rx(4, 1536);
	vdrv_kick(&d, RXQ);
	vdrv_poll(&d);
	CHECK(vdrv_get_used(&d, RXQ, &id, &len));
	CHECK_EQ(len, 212);
	teardown();
}

TEST(rx_packet_spills_until_buffers_arrive)
{
	uint32_t id = 0, len = 0, total = 0;
	uint64_t first;
	uint8_t *p;

	CHECK(setup(~0ULL) == 0);
	first = post_rx(2, 1536);
	vdrv_kick(&d, RXQ);
	host_send(5000, 5);   /* needs 4 buffers; the guest has 2 */
	vdrv_poll(&d);
	CHECK(!vdrv_get_used(&d, RXQ, &id, &len));
	post_rx(3, 1536);
	vdrv_kick(&d, RXQ);
	vdrv_poll(&d);
	for (int i = 0; i < 4; i++) {
		CHECK(vdrv_get_used(&d, RXQ, &id, &len));
		total += len;
	}
	CHECK_EQ(total, 5012);
	p = vdrv_ptr(&d, first);
	CHECK_EQ(p[10] | p[11] << 8, 4);
	CHECK_EQ(virtio_net_stats(dev)->rx_packets, 1);
	teardown();
}

TEST(rx_unusable_buffers_returned_empty)
{
	uint32_t id = 0, len = 0;
	uint64_t tiny;

	CHECK(setup(~0ULL) == 0);
	tiny = vdrv_alloc(&d, 8, 8);
	struct vdrv_buf small = { tiny, 8, true }, ro = { tiny, 8, false };
	vdrv_add_chain(&d, RXQ, &small, 1, false);   /* shorter than the header */
	vdrv_add_chain(&d, RXQ, &ro, 1, false);      /* nothing writable */
	post_rx(1, 1536);
	vdrv_kick(&d, RXQ);
	host_send(100, 1);
	vdrv_poll(&d);
	CHECK(vdrv_get_used(&d, RXQ, &id, &len));
	CHECK_EQ(len, 0);
	CHECK(vdrv_get_used(&d, RXQ, &id, &len));
	CHECK_EQ(len, 0);
	CHECK(vdrv_get_used(&d, RXQ, &id, &len));
	CHECK_EQ(len, 112);
	CHECK_EQ(virtio_net_stats(dev)->rx_bad_buffers, 2);
	CHECK(!(vdrv_status(&d) & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
	teardown();
}

TEST(reset_with_pending_packet_then_works)
{
	uint32_t id = 0, len = 0;

	CHECK(setup(~0ULL) == 0);
	post_rx(1, 1536);
	vdrv_kick(&d, RXQ);
	host_send(3000, 1);   /* spills, waits */
	vdrv_poll(&d);
	CHECK(!vdrv_get_used(&d, RXQ, &id, &len));
	/* The driver resets and starts over with fresh rings. */
	CHECK(vdrv_negotiate(&d, ~0ULL) == 0);
	CHECK(vdrv_setup_queue(&d, RXQ, 64) == 0);
	CHECK(vdrv_setup_queue(&d, TXQ, 64) == 0);
	CHECK(vdrv_driver_ok(&d) == 0);
	post_rx(4, 1536);
	vdrv_kick(&d, RXQ);
	host_send(100, 2);
	vdrv_poll(&d);
	CHECK(vdrv_get_used(&d, RXQ, &id, &len));
	CHECK_EQ(len, 112);
	teardown();
}

TEST(rx_batch_interrupts_once)
{
	uint32_t id = 0, len = 0;
	int got = 0;

	CHECK(setup(~0ULL) == 0);
	post_rx(32, 1536);
	vdrv_kick(&d, RXQ);
	vdrv_poll(&d);
	vdrv_irq_count(&d);
	for (int i = 0; i < 16; i++)
		host_send(64, (uint8_t)i);
	vdrv_poll(&d);
	while (vdrv_get_used(&d, RXQ, &id, &len))
		got++;
	CHECK_EQ(got, 16);
	CHECK(vdrv_irq_count(&d) <= 2);
	teardown();
}

int main(void)
{
	log_set_level(LOG_ERROR);
	RUN(parse);
	RUN(config_and_features);
	RUN(tx_gathers_header_and_frame);
	RUN(tx_hostile_chains_dropped);
	RUN(rx_mergeable_spans_buffers);
	RUN(rx_single_chain_mode);
	RUN(rx_waits_for_buffers);
	RUN(rx_packet_spills_until_buffers_arrive);
	RUN(rx_unusable_buffers_returned_empty);
	RUN(reset_with_pending_packet_then_works);
	RUN(rx_batch_interrupts_once);
	return test_exit();
}
