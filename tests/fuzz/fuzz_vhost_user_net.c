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
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backend/backend_net.h"
#include "backend/vhost_user.h"
#include "common/log.h"
#include "virtio/virtio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE (64 * 1024)

static struct vu_backend *vb;
static int ram_fd = -1, net_fd = -1;
static uint8_t *ram;

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
	ram_fd = memfd_create("fuzz-ram", MFD_CLOEXEC);
	if (ram_fd < 0 || ftruncate(ram_fd, RAM_SIZE))
		abort();
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, ram_fd, 0);
	if (ram == MAP_FAILED)
		abort();
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
	int kick_fds[VHOST_USER_MAX_VRINGS];
	int nr_kicks = 0;
	size_t pos = 0;

	if (!vb)
		setup();
	for (size_t i = 0; i < RAM_SIZE; i++)
		ram[i] = size ? data[i % (size < 64 ? size : 64)] : 0;

	while (size - pos >= VHOST_USER_HDR_SIZE) {
		char err[256];
		size_t len;
		uint8_t mode = 0;
		int want = 0;

		memset(&m, 0, sizeof(m));
		memcpy(&m.hdr, data + pos, VHOST_USER_HDR_SIZE);
		pos += VHOST_USER_HDR_SIZE;
		len = m.hdr.size;
		if (len > size - pos)
			len = size - pos;
		if (len > VHOST_USER_PAYLOAD_MAX)
			len = VHOST_USER_PAYLOAD_MAX;
		memcpy(&m.p, data + pos, len);
		pos += len;
		if (pos < size)
			mode = data[pos++];
		/* A real socket delivers exactly hdr.size bytes or fails. */
		if (m.hdr.size > VHOST_USER_PAYLOAD_MAX)
			break;

		if (m.hdr.request == VHOST_USER_SET_MEM_TABLE)
			want = m.p.mem.nregions <= VHOST_USER_MAX_FDS ? (int)m.p.mem.nregions : VHOST_USER_MAX_FDS;
		else if (m.hdr.request >= VHOST_USER_SET_VRING_KICK && m.hdr.request <= VHOST_USER_SET_VRING_ERR)
			want = 1;
		if (!(mode & 1))
			want = 0;
		if ((mode & 2) && want < VHOST_USER_MAX_FDS)
			want++;
		for (int i = 0; i < want; i++) {
			int fd = m.hdr.request == VHOST_USER_SET_MEM_TABLE ? dup(ram_fd)
									  : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (fd < 0)
				break;
			m.fds[m.nr_fds++] = fd;
			if (m.hdr.request == VHOST_USER_SET_VRING_KICK && nr_kicks < VHOST_USER_MAX_VRINGS)
				kick_fds[nr_kicks++] = dup(fd);
		}
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
		for (int i = 0; i < nr_kicks; i++) {
			uint64_t one = 1;
			if (kick_fds[i] >= 0 && write(kick_fds[i], &one, sizeof(one)) < 0)
				break;
		}
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
	for (int i = 0; i < nr_kicks; i++)
		if (kick_fds[i] >= 0)
			close(kick_fds[i]);
	if (vb->nr_maps != 0)
		abort();
	return 0;
}
