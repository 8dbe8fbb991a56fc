/*
 * libFuzzer target: a hostile vhost-user front-end against `capvm backend
 * net`'s session: vu_backend serving the virtio-net model (with the
 * back-end's ring_stopping hook, backend/backend_net.c) whose tap is a
 * SOCK_SEQPACKET socketpair; the other end plays the network.  The input is
 * the message sequence of fuzz_vhost_user.c:
 *
 *   [12-byte header][payload: min(hdr.size, rest, 272) bytes][1 byte mode]
 *
 * mode bit 0: attach the fds the request expects (eventfds, dups of a
 * 64 KiB memfd "guest RAM"); bit 1: one fd too many; bit 2: the network
 * sends a packet of 12 + (mode >> 3) * 97 bytes (taken from the input) into
 * the back-end.  Guest RAM is the input's first 64 bytes repeated, so rings
 * hold arbitrary descriptors.  After each message the kick fds are
 * signalled and the device polled: started rings really transmit and
 * receive, and GET_VRING_BASE / disable / memory-table changes hand the
 * receive stash back.  Ends with a disconnect that must leave no mapping.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "backend/backend_net.h"
#include "common/log.h"
#include "fuzz_vhost_user_harness.h"
#include "virtio/virtio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vu_backend *vb;
static struct fuzz_vu fz;
static int net_fd = -1;

static void setup(void)
{
	struct net_options o;
	char err[256];
	int sv[2];

	log_set_quiet(1);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) ||
	    virtio_net_parse("tap=fuzz0,mac=52:54:00:12:34:56", &o, err, sizeof(err)) ||
	    !(vb = backend_net_create_fd(&o, sv[0], err, sizeof(err)))) {
		fprintf(stderr, "fuzz_vhost_user_net setup: %s\n", err);
		abort();
	}
	net_fd = sv[1];
	fuzz_vu_setup(&fz);
}

/* Throw away what the back-end transmitted (keeps its socket writable). */
static void drain_network(void)
{
	static uint8_t buf[70000];

	while (recv(net_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vhost_user_msg m, reply;
	size_t pos = 0;
	uint8_t mode;

	if (!vb)
		setup();
	fuzz_vu_begin(&fz, data, size);
	while (fuzz_vu_next(&fz, data, size, &pos, &m, &mode)) {
		char err[256];

		memset(&reply, 0, sizeof(reply));
		if (vu_backend_handle(vb, &m, &reply, err, sizeof(err)) < 0)
			break;  /* the real loop closes the connection here */
		vhost_user_msg_close_fds(&reply);
		if (mode & 4) {
			/* A packet from the network: header + frame, from the input. */
			static uint8_t pkt[12 + 31 * 97];
			size_t plen = 12 + (size_t)(mode >> 3) * 97;
			for (size_t i = 0; i < plen; i++)
				pkt[i] = data[(pos + i) % size];
			if (send(net_fd, pkt, plen, MSG_DONTWAIT) < 0) {
				/* the back-end's socket is full: fine, packets wait or drop */
			}
		}
		fuzz_vu_kick_all(&fz);
		vu_backend_poll_device(vb, 0);
		drain_network();
	}
	vu_backend_disconnect(vb);
	/* Packets left for the next input would make runs depend on each other. */
	{
		static uint8_t buf[70000];
		while (recv(vb->dev->fds[0].fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
	}
	drain_network();
	fuzz_vu_end(&fz);
	if (vb->nr_maps != 0)
		abort();
	return 0;
}
