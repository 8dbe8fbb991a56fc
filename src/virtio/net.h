/*
 * virtio-net device model (device id 1) with a tap backend.  See net.c and
 * docs/virtio.md ("net").
 *
 *   struct net_options o;
 *   char err[256];
 *   if (virtio_net_parse("tap=tap0,mac=52:54:00:12:34:56", &o, err, sizeof(err))) ...
 *   struct virtio_device *dev = virtio_net_create(&o, mem, "net0", err, sizeof(err));
 *   struct virtio_mmio *t = virtio_mmio_create(dev, base, gsi);
 *
 * The backend is a file descriptor that carries one packet per read/write,
 * each prefixed by the 12-byte virtio_net_hdr_v1: a tap opened with
 * IFF_VNET_HDR and TUNSETVNETHDRSZ 12 (virtio_net_create), or, for tests,
 * any datagram socket that follows the same framing (virtio_net_create_fd).
 */
#ifndef CAPVM_VIRTIO_NET_H
#define CAPVM_VIRTIO_NET_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/guest_mem.h"

/* Parsed --net tap=NAME[,mac=MAC][,mtu=N] */
struct net_options {
	char tap[IFNAMSIZ];
	uint8_t mac[6];
	bool mac_set;         /* else a random locally administered MAC */
	uint16_t mtu;         /* 0: the tap's MTU (1500 for a non-tap fd) */
};

/* Per-device counters (read by the monitor; updated by the I/O thread). */
struct virtio_net_stats {
	uint64_t rx_packets, rx_bytes;   /* backend -> guest, bytes without header */
	uint64_t tx_packets, tx_bytes;   /* guest -> backend */
	uint64_t rx_dropped;             /* read from the backend, not delivered */
	uint64_t tx_dropped;             /* malformed chains, backend write errors */
	uint64_t rx_bad_buffers;         /* rx chains unusable (too short, too many segments) */
	uint64_t rx_stalls;              /* times rx waited for the guest's buffers */
};

/* virtio_net_hdr_v1 (virtio 1.2 section 5.1.6), 12 bytes with VERSION_1. */
struct virtio_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};
#define VIRTIO_NET_HDR_LEN 12
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE  0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP   3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN   0x80

/* Feature bits (section 5.1.3) */
#define VIRTIO_NET_F_CSUM       0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU        3
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_UFO  10
#define VIRTIO_NET_F_HOST_TSO4  11
#define VIRTIO_NET_F_HOST_TSO6  12
#define VIRTIO_NET_F_HOST_UFO   14
#define VIRTIO_NET_F_MRG_RXBUF  15
#define VIRTIO_NET_F_STATUS     16

#define VIRTIO_NET_S_LINK_UP 1

/* The largest frame the backend may hand us: 64 KiB GSO + Ethernet + VLAN. */
#define VIRTIO_NET_MAX_FRAME (65536 + 14 + 4)

/*
 * Parse a --net option string.  Returns 0, or -1 with a message in err
 * (e.g. "unknown option 'foo' (expected tap=, mac=, mtu=)").
 */
int virtio_net_parse(const char *spec, struct net_options *o, char *err, size_t errlen);

/*
 * Open (or create) the tap named in o with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR
 * and a 12-byte vnet header, and return the device.  NULL with a message
 * in err (e.g. no permission, tap busy).
 */
struct virtio_device *virtio_net_create(const struct net_options *o, const struct guest_mem *mem,
					const char *name, char *err, size_t errlen);

/*
 * The same device on an fd that already speaks the framing above (the
 * device takes ownership and makes it non-blocking).  is_tap: the fd is a
 * tap, so offloads are negotiated with TUNSETOFFLOAD; otherwise the
 * backend is taken to accept and produce checksum/GSO headers as is.
 */
struct virtio_device *virtio_net_create_fd(const struct net_options *o, int fd, bool is_tap,
					   const struct guest_mem *mem, const char *name,
					   char *err, size_t errlen);

/*
 * Hand back the receive buffers the device holds (taken from the ring with
 * no packet in them yet, or a packet only partly placed).  Usually they are
 * the last chains taken, and the ring's next index moves back over them;
 * otherwise each becomes a used entry of length 0, which the driver drops
 * as an empty packet.  For a transport that stops the receive ring while the
 * driver keeps using it (a vhost-user back-end on GET_VRING_BASE, e.g.
 * QEMU's stop/cont): else those buffers would be lost to the driver.
 * dev->lock held.
 */
void virtio_net_return_rx_buffers(struct virtio_device *dev);

/* The device's counters; NULL if dev is not this model (a vhost-user proxy). */
const struct virtio_net_stats *virtio_net_stats(const struct virtio_device *dev);

#endif
