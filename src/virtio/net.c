/*
 * virtio-net (virtio 1.2 section 5.1) on a tap device, served in userspace
 * (these hosts have no vhost-net).  Two queues: 0 receive (backend ->
 * guest), 1 transmit (guest -> backend).  No control queue.
 *
 * Every packet in either direction starts with the 12-byte
 * virtio_net_hdr_v1.  The tap is opened with IFF_VNET_HDR and a header size
 * of 12, so the tap itself reads and writes that header: packets move
 * between guest memory and the tap with one readv/writev each, no copy.
 *
 * Transmit (on a kick of queue 1): every available chain is one packet, the
 * header and frame in its device-readable buffers.  The header is copied
 * out once (the guest may change its memory meanwhile), checked against the
 * negotiated offloads and written with the frame in one writev.  Malformed
 * chains are dropped and counted, never fatal.
 *
 * Receive (when the tap is readable): chains are popped into a stash of
 * receive buffers until they cover the largest frame (mergeable buffers)
 * or one chain (otherwise), and one packet is read with readv straight
 * into them, with a bounce buffer as the last iovec.
 *   - MRG_RXBUF: the packet fills as many chains as it needs; num_buffers
 *     in the first one says how many.  If the stash was smaller than the
 *     packet (the guest is short of buffers), the rest lands in the bounce
 *     buffer and is copied out when the guest adds buffers.
 *   - without it: a packet larger than the chain is dropped.
 * When the guest has no buffers, reading stops (packets wait in the tap)
 * until it adds some: we ask for a kick on queue 0 then.  A wakeup handles
 * at most RX_BUDGET packets, then yields to the I/O thread's other work
 * through the resume eventfd (transmit and receive stay fair).
 *
 * Offloads: the host features CSUM, HOST_TSO4/6 and HOST_UFO need nothing
 * of us (the tap accepts such headers); GUEST_CSUM, GUEST_TSO4/6 and
 * GUEST_UFO are offered only as far as the tap accepts TUNSETOFFLOAD, and on
 * DRIVER_OK the tap is told what the guest accepted, so it never hands the
 * guest a packet it cannot take.  Interrupts: one per batch, only when the
 * driver wants one (EVENT_IDX via virtio_notify_queue).
 */
#include "virtio/net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "virtio/virtio.h"

#define NET_QUEUE_SIZE  256
#define NET_RX_QUEUE    0
#define NET_TX_QUEUE    1
#define NET_MAX_PACKET  (VIRTIO_NET_HDR_LEN + VIRTIO_NET_MAX_FRAME)
#define NET_CHAIN_IOV   64     /* buffers per chain we accept (Linux uses <= 19) */
#define NET_RX_IOV      960    /* stashed rx buffers; + bounce stays < UIO_MAXIOV */
#define RX_BUDGET       256    /* packets per wakeup */
#define TX_BUDGET       256    /* chains per wakeup */
#define NET_MIN_MTU     68

/* Config space (section 5.1.4), little-endian. */
struct virtio_net_config {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
} __attribute__((packed));

/* A receive chain taken from the guest, not yet returned. */
struct rx_chain {
	uint16_t head;
	uint16_t iov_count;
	uint32_t iov_first;      /* index into net.rx_iov */
	uint32_t len;            /* writable bytes */
	uint32_t used;           /* bytes of the current packet placed in it */
};

struct net {
	struct virtio_device dev;        /* first */
	char name[32];
	int fd;                          /* tap (or test socket), non-blocking */
	bool is_tap;
	int resume_fd;                   /* eventfd: come back for more work */
	unsigned tap_offloads;           /* TUN_F_* the tap accepts */
	struct virtio_net_config config;
	struct virtio_net_stats stats;

	/* Receive stash: chains [rx_first, rx_end) own rx_iov[.. rx_iov_end). */
	struct rx_chain rx_chain[NET_QUEUE_SIZE];
	unsigned rx_first, rx_end;
	unsigned rx_iov_end;
	uint64_t rx_stash_bytes;         /* writable bytes of the stashed chains */
	struct iovec rx_iov[NET_RX_IOV + 1];   /* + the bounce buffer */
	uint8_t *bounce;                 /* NET_MAX_PACKET bytes */

	/* A packet partly placed in chains [rx_first, rx_first+pend_chains),
	 * the rest (pend_left bytes at bounce+pend_off) waiting for buffers. */
	bool rx_pending;
	unsigned pend_chains;
	size_t pend_off, pend_left, pend_total;

	bool rx_want_buffers;            /* stopped until the guest adds rx buffers */
	bool rx_resume, tx_resume;       /* budget ran out: continue on resume_fd */
	bool rx_error_logged, tx_error_logged;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- option parsing ------------------------------------------------------ */

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &end) != 6 || strlen(s) != 17)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	if (mac[0] & 1)  /* multicast/broadcast bit */
		return -1;
	for (int i = 0; i < 6; i++)
		if (mac[i])
			return 0;
	return -1;  /* all zeroes */
}

int virtio_net_parse(const char *spec, struct net_options *o, char *err, size_t errlen)
{
	char *copy, *save = NULL;
	int rc = -1;

	memset(o, 0, sizeof(*o));
	copy = strdup(spec);
	if (!copy)
		return fail(err, errlen, "out of memory");
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (!strncmp(tok, "tap=", 4)) {
			const char *name = tok + 4;
			size_t len = strlen(name);

			if (!len || len >= IFNAMSIZ || strpbrk(name, "/: \t\n") ||
			    !strcmp(name, ".") || !strcmp(name, "..")) {
				fail(err, errlen, "bad tap name '%s' (1-%d characters, no '/', ':' "
				     "or spaces)", name, IFNAMSIZ - 1);
				goto out;
			}
			memcpy(o->tap, name, len + 1);
		} else if (!strncmp(tok, "mac=", 4)) {
			if (parse_mac(tok + 4, o->mac)) {
				fail(err, errlen, "bad mac '%s' (expected a unicast address like "
				     "52:54:00:12:34:56)", tok + 4);
				goto out;
			}
			o->mac_set = true;
		} else if (!strncmp(tok, "mtu=", 4)) {
			if (parse_uint(tok + 4, NET_MIN_MTU, 65535, &v)) {
				fail(err, errlen, "bad mtu '%s' (expected %d..65535)", tok + 4,
				     NET_MIN_MTU);
				goto out;
			}
			o->mtu = (uint16_t)v;
		} else {
			fail(err, errlen, "unknown option '%s' (expected tap=NAME, mac=MAC, mtu=N)",
			     tok);
			goto out;
		}
	}
	if (!o->tap[0]) {
		fail(err, errlen, "tap=NAME is required");
		goto out;
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

/* ---- iovec helpers --------------------------------------------------------- */

/* Copy len bytes of src to offset off of the buffers iov[0..n).  Returns bytes copied. */
static size_t iov_write(const struct iovec *iov, unsigned n, size_t off, const void *src,
			size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < n && done < len; i++) {
		size_t seg = iov[i].iov_len, chunk;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		chunk = seg - off < len - done ? seg - off : len - done;
		memcpy((uint8_t *)iov[i].iov_base + off, (const uint8_t *)src + done, chunk);
		done += chunk;
		off = 0;
	}
	return done;
}

/* ---- transmit ---------------------------------------------------------------- */

/* Is this header one the negotiated features allow the driver to send? */
static bool tx_header_ok(const struct net *n, const struct virtio_net_hdr_v1 *h)
{
	const struct virtio_device *dev = &n->dev;

	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !virtio_has_feature(dev, VIRTIO_NET_F_CSUM))
		return false;
	switch (h->gso_type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return true;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return virtio_has_feature(dev, VIRTIO_NET_F_HOST_TSO4);
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return virtio_has_feature(dev, VIRTIO_NET_F_HOST_TSO6);
	case VIRTIO_NET_HDR_GSO_UDP:
		return virtio_has_feature(dev, VIRTIO_NET_F_HOST_UFO);
	default:
		return false;  /* ECN and unknown types: not offered */
	}
}

/* Why this chain cannot be sent, or NULL if it can. */
static const char *tx_check(const struct net *n, const struct virtq_chain *c,
			    struct virtio_net_hdr_v1 *hdr)
{
	if (c->truncated)
		return "chain has too many buffers";
	if (c->readable_len < VIRTIO_NET_HDR_LEN)
		return "chain shorter than the 12-byte header";
	if (c->readable_len > NET_MAX_PACKET)
		return "packet larger than 64 KiB + header";
	virtq_chain_read(c, 0, hdr, sizeof(*hdr));  /* our copy; the guest's may change */
	if (!tx_header_ok(n, hdr))
		return "header uses an offload that was not negotiated";
	return NULL;
}

/* Send one chain's packet to the backend (or drop it). */
static void tx_one(struct net *n, const struct virtq_chain *c)
{
	struct virtio_net_hdr_v1 hdr;
	struct iovec out[NET_CHAIN_IOV + 1];
	unsigned nout = 1;
	size_t skip = VIRTIO_NET_HDR_LEN;
	const char *why = tx_check(n, c, &hdr);
	ssize_t w;

	if (why) {
		n->stats.tx_dropped++;
		log_debug(n->dev.name, "tx: dropped a packet: %s", why);
		return;
	}
	hdr.num_buffers = 0;
	out[0].iov_base = &hdr;
	out[0].iov_len = VIRTIO_NET_HDR_LEN;
	for (unsigned i = 0; i < c->nr_readable; i++) {
		size_t len = c->iov[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		out[nout].iov_base = (uint8_t *)c->iov[i].iov_base + skip;
		out[nout].iov_len = len - skip;
		nout++;
		skip = 0;
	}
	do
		w = writev(n->fd, out, (int)nout);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		if (!n->tx_error_logged && errno != EAGAIN && errno != ENOBUFS)
			log_warn(n->dev.name, "tx: backend write failed: %s (logged once)",
				 strerror(errno));
		n->tx_error_logged = true;
		n->stats.tx_dropped++;
		return;
	}
	n->stats.tx_packets++;
	n->stats.tx_bytes += c->readable_len - VIRTIO_NET_HDR_LEN;
}

static void net_tx(struct net *n)
{
	struct virtqueue *vq = &n->dev.vqs[NET_TX_QUEUE];
	struct iovec iov[NET_CHAIN_IOV];
	struct virtq_chain c = { .iov = iov, .max_iov = NET_CHAIN_IOV };
	unsigned budget = TX_BUDGET;
	uint64_t one = 1;

	n->tx_resume = false;
	if (!vq->active || !virtio_device_running(&n->dev))
		return;
	do {
		virtq_disable_notify(vq);
		while (budget && virtq_pop(vq, &c) == 1) {
			tx_one(n, &c);
			virtq_push(vq, c.head, 0);
			budget--;
		}
		if (!budget) {
			/* More may be waiting: let the other work run, then continue. */
			n->tx_resume = true;
			if (write(n->resume_fd, &one, sizeof(one)) < 0)
				n->tx_resume = false;
			break;
		}
	} while (virtq_enable_notify(vq));
	virtio_notify_queue(&n->dev, vq);
}

/* ---- receive ------------------------------------------------------------------ */

/* Move the stashed chains and their buffers to the front of the arrays. */
static void rx_compact(struct net *n)
{
	unsigned count = n->rx_end - n->rx_first, iov0;

	if (!count) {
		n->rx_first = n->rx_end = n->rx_iov_end = 0;
		return;
	}
	if (!n->rx_first)
		return;
	iov0 = n->rx_chain[n->rx_first].iov_first;
	memmove(n->rx_iov, n->rx_iov + iov0, (n->rx_iov_end - iov0) * sizeof(struct iovec));
	memmove(n->rx_chain, n->rx_chain + n->rx_first, count * sizeof(struct rx_chain));
	for (unsigned i = 0; i < count; i++)
		n->rx_chain[i].iov_first -= iov0;
	n->rx_iov_end -= iov0;
	n->rx_first = 0;
	n->rx_end = count;
}

/*
 * Take receive chains from the guest until the stash holds `target` bytes
 * or one more chain than `min_chains`, whichever the caller needs; returns
 * true if anything was returned to the guest (unusable chains).
 */
static bool rx_refill(struct net *n, uint64_t target, unsigned min_chains)
{
	struct virtqueue *vq = &n->dev.vqs[NET_RX_QUEUE];
	bool pushed = false;

	while (n->rx_stash_bytes < target || n->rx_end - n->rx_first < min_chains) {
		struct virtq_chain c;
		struct rx_chain *rc;

		if (n->rx_end == NET_QUEUE_SIZE || NET_RX_IOV - n->rx_iov_end < NET_CHAIN_IOV)
			rx_compact(n);
		if (n->rx_end == NET_QUEUE_SIZE || NET_RX_IOV - n->rx_iov_end < NET_CHAIN_IOV)
			break;
		c.iov = n->rx_iov + n->rx_iov_end;
		c.max_iov = NET_CHAIN_IOV;
		if (virtq_pop(vq, &c) != 1)
			break;
		if (c.truncated || c.writable_len < VIRTIO_NET_HDR_LEN) {
			/* Unusable: give it back empty (the driver drops a 0-byte packet). */
			n->stats.rx_bad_buffers++;
			virtq_push(vq, c.head, 0);
			pushed = true;
			continue;
		}
		/* Keep only the writable buffers (the readable ones come first). */
		memmove(c.iov, c.iov + c.nr_readable, c.nr_writable * sizeof(struct iovec));
		rc = &n->rx_chain[n->rx_end++];
		rc->head = c.head;
		rc->iov_first = n->rx_iov_end;
		rc->iov_count = c.nr_writable;
		rc->len = c.writable_len > NET_MAX_PACKET ? NET_MAX_PACKET : (uint32_t)c.writable_len;
		rc->used = 0;
		n->rx_iov_end += c.nr_writable;
		n->rx_stash_bytes += rc->len;
	}
	return pushed;
}

/* Hand the first k stashed chains (one packet of `total` bytes) to the guest. */
static void rx_deliver(struct net *n, unsigned k, size_t total)
{
	struct virtqueue *vq = &n->dev.vqs[NET_RX_QUEUE];
	struct rx_chain *first = &n->rx_chain[n->rx_first];
	const struct iovec *iov = n->rx_iov + first->iov_first;
	uint16_t nbuf = (uint16_t)k;

	/* The tap leaves num_buffers alone; say how many chains the packet spans. */
	iov_write(iov, first->iov_count, offsetof(struct virtio_net_hdr_v1, num_buffers),
		  &nbuf, sizeof(nbuf));
	if (!virtio_has_feature(&n->dev, VIRTIO_NET_F_GUEST_CSUM)) {
		uint8_t zero = 0;  /* no checksum hints for a driver that did not ask */
		iov_write(iov, first->iov_count, 0, &zero, 1);
	}
	/* All k at once: a driver polling the ring must not see part of the packet. */
	uint16_t heads[NET_QUEUE_SIZE];
	uint32_t lens[NET_QUEUE_SIZE];
	for (unsigned i = 0; i < k; i++) {
		struct rx_chain *rc = &n->rx_chain[n->rx_first + i];
		heads[i] = rc->head;
		lens[i] = rc->used;
		n->rx_stash_bytes -= rc->len;
	}
	virtq_push_many(vq, heads, lens, k);
	n->rx_first += k;
	n->stats.rx_packets++;
	n->stats.rx_bytes += total - VIRTIO_NET_HDR_LEN;
}

/* Place the rest of a pending packet; false if the guest lacks buffers. */
static bool rx_finish_pending(struct net *n, bool *pushed)
{
	while (n->pend_left) {
		struct rx_chain *rc;
		size_t l;

		if (n->rx_first + n->pend_chains == n->rx_end) {
			*pushed |= rx_refill(n, n->rx_stash_bytes + n->pend_left, n->pend_chains + 1);
			if (n->rx_first + n->pend_chains == n->rx_end)
				return false;
		}
		rc = &n->rx_chain[n->rx_first + n->pend_chains];
		l = n->pend_left < rc->len ? n->pend_left : rc->len;
		iov_write(n->rx_iov + rc->iov_first, rc->iov_count, 0, n->bounce + n->pend_off, l);
		rc->used = (uint32_t)l;
		n->pend_off += l;
		n->pend_left -= l;
		n->pend_chains++;
	}
	rx_deliver(n, n->pend_chains, n->pend_total);
	n->rx_pending = false;
	*pushed = true;
	return true;
}

/* Read one packet from the backend.  1 handled, 0 backend empty, -1 wait for buffers. */
static int rx_one(struct net *n, bool *pushed)
{
	bool mergeable = virtio_has_feature(&n->dev, VIRTIO_NET_F_MRG_RXBUF);
	struct rx_chain *first;
	struct iovec tmp[NET_CHAIN_IOV + 1], *iov;
	unsigned niov;
	ssize_t r;

	*pushed |= rx_refill(n, mergeable ? NET_MAX_PACKET : 0, 1);
	if (n->rx_first == n->rx_end)
		return -1;
	first = &n->rx_chain[n->rx_first];
	if (mergeable) {
		/* All stashed buffers in order, then the bounce buffer. */
		iov = n->rx_iov + first->iov_first;
		niov = n->rx_iov_end - first->iov_first;
	} else {
		iov = tmp;
		niov = first->iov_count;
		memcpy(tmp, n->rx_iov + first->iov_first, niov * sizeof(struct iovec));
	}
	iov[niov].iov_base = n->bounce;
	iov[niov].iov_len = NET_MAX_PACKET;
	niov++;
	do
		r = readv(n->fd, iov, (int)niov);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno != EAGAIN && !n->rx_error_logged) {
			log_warn(n->dev.name, "rx: backend read failed: %s (logged once)",
				 strerror(errno));
			n->rx_error_logged = true;
		}
		return 0;  /* EAGAIN, or a broken backend: wait for the next wakeup */
	}
	if (r < VIRTIO_NET_HDR_LEN) {
		if (r == 0)
			return 0;  /* end of file (a test socket): nothing to read */
		n->stats.rx_dropped++;
		return 1;
	}

	size_t total = (size_t)r, left = total;
	unsigned k = 0;

	if (!mergeable) {
		if (total > first->len) {
			n->stats.rx_dropped++;  /* larger than the guest's buffer */
			return 1;
		}
		first->used = (uint32_t)total;
		rx_deliver(n, 1, total);
		*pushed = true;
		return 1;
	}
	for (unsigned i = n->rx_first; i < n->rx_end && left; i++, k++) {
		struct rx_chain *rc = &n->rx_chain[i];
		rc->used = left < rc->len ? (uint32_t)left : rc->len;
		left -= rc->used;
	}
	if (!left) {
		rx_deliver(n, k, total);
		*pushed = true;
		return 1;
	}
	/* The guest's buffers were too few: the tail waits in the bounce buffer. */
	n->rx_pending = true;
	n->pend_chains = k;
	n->pend_off = 0;
	n->pend_left = left;
	n->pend_total = total;
	return rx_finish_pending(n, pushed) ? 1 : -1;
}

static void net_rx(struct net *n)
{
	struct virtqueue *vq = &n->dev.vqs[NET_RX_QUEUE];
	bool pushed = false;
	uint64_t one = 1;

	n->rx_resume = false;
	if (!vq->active || !virtio_device_running(&n->dev))
		return;
	for (;;) {
		unsigned budget = RX_BUDGET;
		int r = 1;

		n->rx_want_buffers = false;
		virtq_disable_notify(vq);
		if (n->rx_pending && !rx_finish_pending(n, &pushed))
			r = -1;
		while (r == 1 && budget--)
			r = rx_one(n, &pushed);
		if (r == 1) {
			/* Budget spent with packets left: continue after other work. */
			n->rx_resume = true;
			if (write(n->resume_fd, &one, sizeof(one)) < 0)
				n->rx_resume = false;
			break;
		}
		if (r == 0)
			break;
		/* Out of buffers: ask for a kick when the guest adds some. */
		n->rx_want_buffers = true;
		n->stats.rx_stalls++;
		if (!virtq_enable_notify(vq))
			break;
	}
	if (pushed)
		virtio_notify_queue(&n->dev, vq);
}

/* ---- device ops ------------------------------------------------------------------ */

static void net_queue_notify(struct virtio_device *dev, struct virtqueue *vq)
{
	struct net *n = (struct net *)dev;

	if (vq->index == NET_TX_QUEUE)
		net_tx(n);
	else if (n->rx_want_buffers || n->rx_pending)
		net_rx(n);
	else
		virtq_disable_notify(vq);  /* we read when the tap has data; no kicks needed */
}

static void net_backend_readable(struct virtio_device *dev, void *opaque)
{
	(void)opaque;
	net_rx((struct net *)dev);
}

static void net_resume(struct virtio_device *dev, void *opaque)
{
	struct net *n = (struct net *)dev;
	uint64_t v;

	(void)opaque;
	if (read(n->resume_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	if (n->tx_resume)
		net_tx(n);
	if (n->rx_resume)
		net_rx(n);
}

static void net_config_read(struct virtio_device *dev, uint32_t off, void *data, uint32_t len)
{
	struct net *n = (struct net *)dev;
	virtio_config_copy(&n->config, sizeof(n->config), off, data, len);
}

/* TUN_F_* for the features the driver accepted (what the tap may send it). */
static unsigned offloads_for(const struct virtio_device *dev)
{
	unsigned f = 0;

	if (!virtio_has_feature(dev, VIRTIO_NET_F_GUEST_CSUM))
		return 0;
	f |= TUN_F_CSUM;
	if (virtio_has_feature(dev, VIRTIO_NET_F_GUEST_TSO4))
		f |= TUN_F_TSO4;
	if (virtio_has_feature(dev, VIRTIO_NET_F_GUEST_TSO6))
		f |= TUN_F_TSO6;
	if (virtio_has_feature(dev, VIRTIO_NET_F_GUEST_UFO))
		f |= TUN_F_UFO;
	return f;
}

static void set_tap_offloads(struct net *n, unsigned f)
{
	if (n->is_tap && ioctl(n->fd, TUNSETOFFLOAD, (unsigned long)(f & n->tap_offloads)) < 0)
		log_warn(n->dev.name, "TUNSETOFFLOAD 0x%x: %s", f, strerror(errno));
}

static void rx_clear(struct net *n)
{
	n->rx_first = n->rx_end = n->rx_iov_end = 0;
	n->rx_stash_bytes = 0;
	n->rx_pending = false;
	n->pend_chains = 0;
	n->pend_off = n->pend_left = n->pend_total = 0;
	n->rx_want_buffers = n->rx_resume = n->tx_resume = false;
}

static int net_activate(struct virtio_device *dev)
{
	struct net *n = (struct net *)dev;
	uint64_t one = 1;

	rx_clear(n);
	set_tap_offloads(n, offloads_for(dev));
	/* Packets may already wait in the tap (its edge is gone): look once
	 * from the I/O thread, and read on when the guest posts buffers. */
	n->rx_want_buffers = true;
	n->rx_resume = true;
	if (write(n->resume_fd, &one, sizeof(one)) < 0)
		n->rx_resume = false;
	log_debug(dev->name, "driver ok: features 0x%llx, %s receive buffers, offloads 0x%x",
		  (unsigned long long)dev->driver_features,
		  virtio_has_feature(dev, VIRTIO_NET_F_MRG_RXBUF) ? "mergeable" : "single-chain",
		  offloads_for(dev) & n->tap_offloads);
	return 0;
}

static void net_reset(struct virtio_device *dev)
{
	struct net *n = (struct net *)dev;

	/* Popped chains are forgotten: the driver reclaims all its buffers. */
	rx_clear(n);
	set_tap_offloads(n, 0);
}

/*
 * Are the stashed chains the last ones taken from the ring, in order (no
 * unusable chain was returned between them)?  Then the ring's next index
 * can simply move back over them.  Checked against the avail ring itself.
 */
static bool rx_stash_is_ring_tail(const struct net *n, const struct virtqueue *vq)
{
	unsigned k = n->rx_end - n->rx_first;
	uint16_t idx = (uint16_t)(vq->last_avail_idx - k);

	if (k > vq->size)
		return false;
	for (unsigned i = n->rx_first; i < n->rx_end; i++, idx++) {
		uint16_t head = __atomic_load_n(&vq->avail->ring[idx & (vq->size - 1)], __ATOMIC_RELAXED);
		if (head != n->rx_chain[i].head)
			return false;
	}
	return true;
}

void virtio_net_return_rx_buffers(struct virtio_device *dev)
{
	struct net *n = (struct net *)dev;
	struct virtqueue *vq = &dev->vqs[NET_RX_QUEUE];
	unsigned k = n->rx_end - n->rx_first;

	if (vq->active && k) {
		if (n->rx_pending)
			n->stats.rx_dropped++;  /* the packet that was waiting for buffers */
		if (rx_stash_is_ring_tail(n, vq)) {
			/* Not taken after all: the guest never sees a difference. */
			vq->last_avail_idx = (uint16_t)(vq->last_avail_idx - k);
			vq->in_flight = vq->in_flight >= k ? (uint16_t)(vq->in_flight - k) : 0;
		} else {
			for (unsigned i = n->rx_first; i < n->rx_end; i++)
				virtq_push(vq, n->rx_chain[i].head, 0);
			virtio_notify_queue(dev, vq);
		}
	}
	rx_clear(n);
	n->rx_want_buffers = true;  /* read the tap again once the ring runs */
}

static void net_destroy(struct virtio_device *dev)
{
	struct net *n = (struct net *)dev;
	const struct virtio_net_stats *st = &n->stats;

	if (st->rx_packets || st->tx_packets || st->rx_dropped || st->tx_dropped)
		log_info(dev->name, "rx %llu packets %llu bytes, tx %llu packets %llu bytes, "
			 "dropped rx %llu tx %llu, bad rx buffers %llu, rx waits for buffers %llu, "
			 "interrupts %llu (%llu suppressed), kicks %llu",
			 (unsigned long long)st->rx_packets, (unsigned long long)st->rx_bytes,
			 (unsigned long long)st->tx_packets, (unsigned long long)st->tx_bytes,
			 (unsigned long long)st->rx_dropped, (unsigned long long)st->tx_dropped,
			 (unsigned long long)st->rx_bad_buffers, (unsigned long long)st->rx_stalls,
			 (unsigned long long)dev->stats.irqs,
			 (unsigned long long)dev->stats.irqs_suppressed,
			 (unsigned long long)dev->stats.kicks);
	if (n->fd >= 0)
		close(n->fd);
	if (n->resume_fd >= 0)
		close(n->resume_fd);
	free(n->bounce);
	free(n);
}

static const struct virtio_device_ops net_ops = {
	.queue_notify = net_queue_notify,
	.config_read = net_config_read,
	.activate = net_activate,
	.reset = net_reset,
	.destroy = net_destroy,
};

const struct virtio_net_stats *virtio_net_stats(const struct virtio_device *dev)
{
	/* a network device served elsewhere (vhost-user proxy) has no model here */
	if (dev->ops != &net_ops)
		return NULL;
	return &((const struct net *)dev)->stats;
}

/* ---- construction ---------------------------------------------------------------- */

/* The tap's MTU (0 if unknown). */
static unsigned tap_mtu(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unsigned mtu = 0;

	if (s < 0)
		return 0;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(s, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0)
		mtu = (unsigned)ifr.ifr_mtu;
	close(s);
	return mtu;
}

/* Which TUN_F_* offload sets does this tap accept?  Tried from most to least. */
static unsigned probe_tap_offloads(int fd)
{
	static const unsigned sets[] = {
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO,
		TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
		TUN_F_CSUM,
	};
	unsigned ok = 0;

	for (size_t i = 0; i < ARRAY_SIZE(sets); i++)
		if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)sets[i]) == 0) {
			ok = sets[i];
			break;
		}
	if (ioctl(fd, TUNSETOFFLOAD, 0UL) < 0)
		ok = 0;
	return ok;
}

struct virtio_device *virtio_net_create_fd(const struct net_options *o, int fd, bool is_tap,
					   const struct guest_mem *mem, const char *name,
					   char *err, size_t errlen)
{
	struct net *n = calloc(1, sizeof(*n));
	struct virtio_device *dev;
	unsigned mtu;
	int fl;

	if (!n) {
		close(fd);
		fail(err, errlen, "out of memory");
		return NULL;
	}
	dev = &n->dev;
	n->fd = fd;
	n->is_tap = is_tap;
	n->resume_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	n->bounce = malloc(NET_MAX_PACKET);
	snprintf(n->name, sizeof(n->name), "%s", name ? name : "net");
	fl = fcntl(fd, F_GETFL);
	if (n->resume_fd < 0 || !n->bounce || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		fail(err, errlen, "cannot set up the network device: %s", strerror(errno));
		goto fail;
	}

	dev->name = n->name;
	dev->device_id = VIRTIO_ID_NET;
	dev->config_size = sizeof(n->config);
	dev->nr_queues = 2;
	dev->queue_max_size = NET_QUEUE_SIZE;
	dev->ops = &net_ops;
	dev->mem = mem;
	dev->priv = n;
	dev->fds[0] = (struct virtio_fd_handler){ .fd = fd, .events = 0x001 /* EPOLLIN */,
						  .handler = net_backend_readable };
	dev->fds[1] = (struct virtio_fd_handler){ .fd = n->resume_fd, .events = 0x001,
						  .handler = net_resume };
	dev->nr_fds = 2;

	n->tap_offloads = is_tap ? probe_tap_offloads(fd)
				 : TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_UFO;
	dev->host_features = VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
			     VIRTIO_BIT(VIRTIO_NET_F_MTU) | VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) |
			     VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |
			     VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO);
	if (n->tap_offloads & TUN_F_CSUM)
		dev->host_features |= VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM);
	if (n->tap_offloads & TUN_F_TSO4)
		dev->host_features |= VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |
				      VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6);
	if (n->tap_offloads & TUN_F_UFO)
		dev->host_features |= VIRTIO_BIT(VIRTIO_NET_F_GUEST_UFO);

	if (o->mac_set) {
		memcpy(n->config.mac, o->mac, 6);
	} else {
		if (getrandom(n->config.mac, 6, 0) != 6)
			memcpy(n->config.mac, "\x52\x54\x00\x12\x34\x56", 6);
		n->config.mac[0] = (uint8_t)((n->config.mac[0] & 0xfe) | 0x02);  /* local, unicast */
	}
	n->config.status = VIRTIO_NET_S_LINK_UP;
	n->config.max_virtqueue_pairs = 1;
	mtu = o->mtu;
	if (!mtu && is_tap)
		mtu = tap_mtu(o->tap);
	if (mtu < NET_MIN_MTU || mtu > 65535)
		mtu = 1500;
	n->config.mtu = (uint16_t)mtu;

	if (virtio_device_init(dev)) {
		fail(err, errlen, "internal error: bad device parameters");
		goto fail;
	}
	log_info(dev->name, "%s%s: mac %02x:%02x:%02x:%02x:%02x:%02x, mtu %u, tap offloads 0x%x",
		 is_tap ? "tap " : "fd backend", is_tap ? o->tap : "",
		 n->config.mac[0], n->config.mac[1], n->config.mac[2], n->config.mac[3],
		 n->config.mac[4], n->config.mac[5], mtu, n->tap_offloads);
	return dev;
fail:
	net_destroy(dev);
	return NULL;
}

/* Open or create tap `ifname` for virtio-net framing.  fd or -1 with err. */
static int tap_open(const char *ifname, char *err, size_t errlen)
{
	struct ifreq ifr = { 0 };
	int fd, hdr = VIRTIO_NET_HDR_LEN;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, "cannot open /dev/net/tun: %s%s", strerror(errno),
			    errno == ENOENT ? " (load the tun module)" : "");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		close(fd);
		if (e == EPERM)
			return fail(err, errlen, "tap %s: permission denied (needs CAP_NET_ADMIN, or "
				    "a persistent tap owned by this user)", ifname);
		if (e == EBUSY)
			return fail(err, errlen, "tap %s is in use by another process", ifname);
		if (e == EINVAL)
			return fail(err, errlen, "%s exists and is not a tap device (or is a "
				    "multi-queue tap)", ifname);
		return fail(err, errlen, "cannot attach to tap %s: %s", ifname, strerror(e));
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		int e = errno;
		close(fd);
		return fail(err, errlen, "tap %s: cannot set the 12-byte virtio-net header: %s",
			    ifname, strerror(e));
	}
	return fd;
}

struct virtio_device *virtio_net_create(const struct net_options *o, const struct guest_mem *mem,
					const char *name, char *err, size_t errlen)
{
	int fd = tap_open(o->tap, err, errlen);

	if (fd < 0)
		return NULL;
	return virtio_net_create_fd(o, fd, true, mem, name, err, errlen);
}
