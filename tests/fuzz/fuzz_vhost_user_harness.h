/*
 * Shared libFuzzer harness for capvm's vhost-user back-end sessions
 * (fuzz_vhost_user.c: the blk model, fuzz_vhost_user_net.c: the net model):
 * a 64 KiB memfd "guest RAM" and the reading of the input as a sequence of
 * front-end messages:
 *
 *   [12-byte header][payload: min(hdr.size, rest, 272) bytes][1 byte mode]
 *
 * mode bit 0: attach the fds the request expects (an eventfd for
 * SET_VRING_KICK/CALL/ERR, dups of the RAM memfd for each region of
 * SET_MEM_TABLE); bit 1: one fd too many; the targets may give the other
 * bits meanings of their own.  Kick fds are kept so the target can signal
 * every ring that may have started.
 */
#ifndef CAPVM_FUZZ_VHOST_USER_HARNESS_H
#define CAPVM_FUZZ_VHOST_USER_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/vhost_user.h"

#define FUZZ_VU_RAM_SIZE (64 * 1024)

struct fuzz_vu {
	int ram_fd;
	uint8_t *ram;
	int kick_fds[VHOST_USER_MAX_VRINGS];
	int nr_kicks;
};

/* Once per process: the guest-RAM memfd, mapped. */
static inline void fuzz_vu_setup(struct fuzz_vu *f)
{
	f->ram_fd = memfd_create("fuzz-ram", MFD_CLOEXEC);
	if (f->ram_fd < 0 || ftruncate(f->ram_fd, FUZZ_VU_RAM_SIZE))
		abort();
	f->ram = mmap(NULL, FUZZ_VU_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->ram_fd, 0);
	if (f->ram == MAP_FAILED)
		abort();
	f->nr_kicks = 0;
}

/* Per input: RAM is the input's first 64 bytes repeated (rings hold anything). */
static inline void fuzz_vu_begin(struct fuzz_vu *f, const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < FUZZ_VU_RAM_SIZE; i++)
		f->ram[i] = size ? data[i % (size < 64 ? size : 64)] : 0;
	f->nr_kicks = 0;
}

/*
 * The next message at *pos into m, with its fds, and its mode byte; false
 * when the input is used up or the message could not come from a socket.
 */
static inline bool fuzz_vu_next(struct fuzz_vu *f, const uint8_t *data, size_t size, size_t *pos,
				struct vhost_user_msg *m, uint8_t *mode)
{
	size_t len;
	int want = 0;

	if (size - *pos < VHOST_USER_HDR_SIZE)
		return false;
	memset(m, 0, sizeof(*m));
	memcpy(&m->hdr, data + *pos, VHOST_USER_HDR_SIZE);
	*pos += VHOST_USER_HDR_SIZE;
	len = m->hdr.size;
	if (len > size - *pos)
		len = size - *pos;
	if (len > VHOST_USER_PAYLOAD_MAX)
		len = VHOST_USER_PAYLOAD_MAX;
	memcpy(&m->p, data + *pos, len);
	*pos += len;
	*mode = *pos < size ? data[(*pos)++] : 0;
	/* A real socket delivers exactly hdr.size bytes or fails. */
	if (m->hdr.size > VHOST_USER_PAYLOAD_MAX)
		return false;

	if (m->hdr.request == VHOST_USER_SET_MEM_TABLE)
		want = m->p.mem.nregions <= VHOST_USER_MAX_FDS ? (int)m->p.mem.nregions
							       : VHOST_USER_MAX_FDS;
	else if (m->hdr.request >= VHOST_USER_SET_VRING_KICK &&
		 m->hdr.request <= VHOST_USER_SET_VRING_ERR)
		want = 1;
	if (!(*mode & 1))
		want = 0;
	if ((*mode & 2) && want < VHOST_USER_MAX_FDS)
		want++;
	for (int i = 0; i < want; i++) {
		int fd = m->hdr.request == VHOST_USER_SET_MEM_TABLE ? dup(f->ram_fd)
								     : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0)
			break;
		m->fds[m->nr_fds++] = fd;
		/* Keep a way to kick the ring this fd may become. */
		if (m->hdr.request == VHOST_USER_SET_VRING_KICK && f->nr_kicks < VHOST_USER_MAX_VRINGS)
			f->kick_fds[f->nr_kicks++] = dup(fd);
	}
	return true;
}

/* Signal every kick fd handed over so far. */
static inline void fuzz_vu_kick_all(struct fuzz_vu *f)
{
	for (int i = 0; i < f->nr_kicks; i++) {
		uint64_t one = 1;
		if (f->kick_fds[i] >= 0 && write(f->kick_fds[i], &one, sizeof(one)) < 0)
			break;
	}
}

/* Per input, after the disconnect: close the kept kick fds. */
static inline void fuzz_vu_end(struct fuzz_vu *f)
{
	for (int i = 0; i < f->nr_kicks; i++)
		if (f->kick_fds[i] >= 0)
			close(f->kick_fds[i]);
	f->nr_kicks = 0;
}

#endif
