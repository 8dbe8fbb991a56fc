/*
 * libFuzzer target: virtio-net's transmit and receive paths behind the real
 * virtio-mmio transport and virtqueue code, with hostile guest memory and
 * rings and packets of any size arriving from the "tap" (a SOCK_SEQPACKET
 * socketpair with the same framing).  Guest memory is a malloc'd buffer of
 * FUZZ_MEM_SIZE, so any access outside it is an ASan report.
 *
 * Input layout (little-endian):
 *   u8  flags    bit0 EVENT_IDX, bit1 INDIRECT_DESC, bit2 MRG_RXBUF,
 *                bit3 GUEST_CSUM+TSO, bit4 HOST offloads, bit5 skip queue set-up
 *   u8  qsize    bit7 clear: 1 << (qsize % 7) (1..64); set: qsize & 0x7f (maybe invalid)
 *   u16 mem_len  bytes of guest memory that follow
 *   mem_len bytes copied to guest memory offset 0.  Queue 0 (rx) rings at
 *                0x000/0x400/0x600, queue 1 (tx) at 0x800/0xc00/0xe00
 *   then 8-byte ops {u8 op; u8 arg; u16 off; u32 val}:
 *     0 register write  off % 0x200, width 1/2/4/8 by arg & 3
 *     1 register read   off % 0x200
 *     2 kick queue arg % 3, run the device
 *     3 memory write    u32 val at guest offset off
 *     4 publish         queue arg & 1: avail->idx = val, kick, run
 *     5 reset and bring the device up again
 *     6 the tap sends a packet of (val % 70000) bytes (header from off/arg), run
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "common/log.h"
#include "virtio_driver.h"
#include "virtio/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MEM_SIZE 0x10000
static const uint64_t ring_off[2][3] = { { 0x000, 0x400, 0x600 }, { 0x800, 0xc00, 0xe00 } };

static struct vdrv d;
static struct virtio_device *dev;
static int dev_fd = -1, peer = -1;
static uint8_t flags;
static uint16_t qsize;
static uint8_t pkt[VIRTIO_NET_HDR_LEN + 70000];

static void setup_once(void)
{
	struct net_options o;
	char err[256];
	int sv[2];

	if (dev)
		return;
	log_set_level(LOG_ERROR);
	if (vdrv_init(&d, FUZZ_MEM_SIZE) || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) ||
	    virtio_net_parse("tap=fuzz0,mac=02:00:00:00:00:01", &o, err, sizeof(err)))
		abort();
	/* Room for big packets in both directions. */
	int sz = 4 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	dev = virtio_net_create_fd(&o, sv[0], false, &d.mem, "net-fuzz", err, sizeof(err));
	if (!dev) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	dev_fd = sv[0];
	peer = sv[1];
	vdrv_attach(&d, virtio_mmio_create(dev, 0xd0000000, 16));
	if (!d.t)
		abort();
}

/* Throw away whatever is queued on either end of the socketpair. */
static void drain(int fd)
{
	static uint8_t buf[VIRTIO_NET_HDR_LEN + 70000];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
}

static void run(void)
{
	vdrv_poll(&d);
	drain(peer);
}

static void bring_up(void)
{
	uint64_t want = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_NET_F_MAC) |
			(1ULL << VIRTIO_NET_F_STATUS) | (1ULL << VIRTIO_NET_F_MTU);

	if (flags & 1)
		want |= 1ULL << VIRTIO_F_EVENT_IDX;
	if (flags & 2)
		want |= 1ULL << VIRTIO_F_INDIRECT_DESC;
	if (flags & 4)
		want |= 1ULL << VIRTIO_NET_F_MRG_RXBUF;
	if (flags & 8)
		want |= (1ULL << VIRTIO_NET_F_GUEST_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_TSO4) |
			(1ULL << VIRTIO_NET_F_GUEST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_UFO);
	if (flags & 16)
		want |= (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_HOST_TSO4) |
			(1ULL << VIRTIO_NET_F_HOST_TSO6) | (1ULL << VIRTIO_NET_F_HOST_UFO);
	if (vdrv_negotiate(&d, want))
		return;
	if (!(flags & 32))
		for (int q = 0; q < 2; q++)
			vdrv_setup_queue_at(&d, (unsigned)q, qsize, VDRV_GPA_BASE + ring_off[q][0],
					    VDRV_GPA_BASE + ring_off[q][1], VDRV_GPA_BASE + ring_off[q][2]);
	vdrv_driver_ok(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned widths[4] = { 1, 2, 4, 8 };
	uint16_t mem_len;

	setup_once();
	vdrv_write32(&d, VDRV_STATUS, 0);
	vdrv_poll(&d);
	drain(dev_fd);
	drain(peer);
	memset(d.ram, 0, FUZZ_MEM_SIZE);
	if (size < 4)
		return 0;
	flags = data[0];
	qsize = (data[1] & 0x80) ? (data[1] & 0x7f) : (uint16_t)(1u << ((data[1] & 0x7f) % 7));
	memcpy(&mem_len, data + 2, 2);
	data += 4;
	size -= 4;
	if (mem_len > size)
		mem_len = (uint16_t)size;
	memcpy(d.ram, data, mem_len);
	data += mem_len;
	size -= mem_len;
	bring_up();
	run();

	for (size_t i = 0; i + 8 <= size; i += 8) {
		uint8_t op = data[i], arg = data[i + 1];
		uint16_t off;
		uint32_t val;
		uint64_t buf = 0;
		size_t len;

		memcpy(&off, data + i + 2, 2);
		memcpy(&val, data + i + 4, 4);
		switch (op % 7) {
		case 0:
			buf = val;
			virtio_mmio_write(d.t, off % 0x200, &buf, widths[arg & 3]);
			break;
		case 1:
			virtio_mmio_read(d.t, off % 0x200, &buf, widths[arg & 3]);
			break;
		case 2:
			vdrv_kick(&d, arg % 3);
			run();
			break;
		case 3:
			if (off <= FUZZ_MEM_SIZE - 4)
				memcpy(d.ram + off, &val, 4);
			break;
		case 4:
			__atomic_store_n((uint16_t *)(d.ram + ring_off[arg & 1][1] + 2), (uint16_t)val,
					 __ATOMIC_RELEASE);
			vdrv_kick(&d, arg & 1);
			run();
			break;
		case 5:
			bring_up();
			run();
			break;
		case 6:
			len = val % sizeof(pkt);
			memset(pkt, (int)arg, sizeof(pkt) < len + 1 ? sizeof(pkt) : len + 1);
			memcpy(pkt, &off, 2);   /* flags, gso_type from the input */
			send(peer, pkt, len, MSG_DONTWAIT);
			run();
			break;
		}
	}
	vdrv_ack_irq(&d);
	return 0;
}
