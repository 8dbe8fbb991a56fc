/*
 * libFuzzer target: a hostile vhost-user front-end against capvm's back-end
 * session (src/backend/vu_backend.c + vhost_user.c) serving the virtio-blk
 * model on a null disk.  The input is a sequence of messages:
 *
 *   [12-byte header][payload: min(hdr.size, rest, 272) bytes][1 byte fd mode]
 *
 * fd mode bit 0 set: attach the fds the request would expect (an eventfd for
 * SET_VRING_KICK/CALL/ERR, dups of a 64 KiB memfd "guest RAM" for each
 * region of SET_MEM_TABLE); bit 1: attach one fd too many.  The guest RAM is
 * filled from the input's first 64 bytes repeated, so rings built on it hold
 * arbitrary descriptors.  After each message any kick fd is signalled and
 * the device polled, so rings that start really run the blk model over the
 * mapped memory.  Everything ends with a disconnect, which must leave no
 * mapping and no fd behind.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/backend_blk.h"
#include "backend/vhost_user.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE (64 * 1024)

static struct vu_backend *vb;
static int ram_fd = -1;
static uint8_t *ram;

static void setup(void)
{
	struct blk_options o;
	char err[256];

	log_set_quiet(1);
	if (virtio_blk_parse("null,size=1M", &o, err, sizeof(err)) ||
	    !(vb = backend_blk_create(&o, err, sizeof(err)))) {
		fprintf(stderr, "fuzz_vhost_user setup: %s\n", err);
		abort();
	}
	ram_fd = memfd_create("fuzz-ram", MFD_CLOEXEC);
	if (ram_fd < 0 || ftruncate(ram_fd, RAM_SIZE))
		abort();
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, ram_fd, 0);
	if (ram == MAP_FAILED)
		abort();
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
			/* Keep a way to kick the ring this fd may become. */
			if (m.hdr.request == VHOST_USER_SET_VRING_KICK && nr_kicks < VHOST_USER_MAX_VRINGS)
				kick_fds[nr_kicks++] = dup(fd);
		}
		memset(&reply, 0, sizeof(reply));
		if (vu_backend_handle(vb, &m, &reply, err, sizeof(err)) < 0)
			break;  /* the real loop closes the connection here */
		vhost_user_msg_close_fds(&reply);  /* GET_INFLIGHT_FD answers with an fd */
		for (int i = 0; i < nr_kicks; i++) {
			uint64_t one = 1;
			if (kick_fds[i] >= 0 && write(kick_fds[i], &one, sizeof(one)) < 0)
				break;
		}
		vu_backend_poll_device(vb, 0);
	}
	vu_backend_disconnect(vb);
	for (int i = 0; i < nr_kicks; i++)
		if (kick_fds[i] >= 0)
			close(kick_fds[i]);
	if (vb->nr_maps != 0)
		abort();
	return 0;
}
