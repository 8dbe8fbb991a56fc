/*
 * virtio-blk requests for the synthetic driver (virtio_driver.h): builds
 * the header / data / status layout a guest's virtio_blk driver uses, in
 * guest memory, and puts it on queue 0.  Used by the blk unit test, the
 * blk fuzzer and bench/blk-path.
 */
#ifndef CAPVM_TESTS_VIRTIO_BLK_DRIVER_H
#define CAPVM_TESTS_VIRTIO_BLK_DRIVER_H

#include "virtio_driver.h"

#define VBLK_T_IN           0
#define VBLK_T_OUT          1
#define VBLK_T_FLUSH        4
#define VBLK_T_GET_ID       8
#define VBLK_T_DISCARD      11
#define VBLK_T_WRITE_ZEROES 13
#define VBLK_S_OK     0
#define VBLK_S_IOERR  1
#define VBLK_S_UNSUPP 2

#define VBLK_F_RO           5
#define VBLK_F_DISCARD      13
#define VBLK_F_WRITE_ZEROES 14

struct vblk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* One request's guest memory: header, status (data is the caller's). */
struct vblk_req {
	uint64_t hdr_gpa;
	uint64_t status_gpa;
	int head;
};

/*
 * Queue a request: header (readable), then data_len bytes at data_gpa
 * (writable for IN/GET_ID, readable otherwise; none if data_len is 0),
 * then a status byte.  The status byte is preset to 0xff.  indirect: use
 * an indirect table.  Returns the head or -1.
 */
static inline int vblk_queue(struct vdrv *d, struct vblk_req *r, uint32_t type, uint64_t sector,
			     uint64_t data_gpa, uint32_t data_len, bool indirect)
{
	struct vblk_hdr *h;
	struct vdrv_buf b[3];
	unsigned n = 0;
	bool dev_writes = type == VBLK_T_IN || type == VBLK_T_GET_ID;

	if (!r->hdr_gpa) {
		r->hdr_gpa = vdrv_alloc(d, sizeof(*h), 16);
		r->status_gpa = vdrv_alloc(d, 1, 1);
	}
	h = vdrv_ptr(d, r->hdr_gpa);
	h->type = type;
	h->reserved = 0;
	h->sector = sector;
	*(uint8_t *)vdrv_ptr(d, r->status_gpa) = 0xff;
	b[n++] = (struct vdrv_buf){ r->hdr_gpa, sizeof(*h), false };
	if (data_len)
		b[n++] = (struct vdrv_buf){ data_gpa, data_len, dev_writes };
	b[n++] = (struct vdrv_buf){ r->status_gpa, 1, true };
	r->head = vdrv_add_chain(d, 0, b, n, indirect);
	return r->head;
}

static inline uint8_t vblk_status(struct vdrv *d, const struct vblk_req *r)
{
	return *(uint8_t *)vdrv_ptr(d, r->status_gpa);
}

/* Queue, kick, wait for the completion; returns the status byte (0xff: none). */
static inline int vblk_do(struct vdrv *d, struct vblk_req *r, uint32_t type, uint64_t sector,
			  uint64_t data_gpa, uint32_t data_len, uint32_t *used_len)
{
	uint32_t id, len;

	if (vblk_queue(d, r, type, sector, data_gpa, data_len, false) < 0)
		return -1;
	vdrv_kick(d, 0);
	if (!vdrv_wait_used(d, 0, &id, &len, 2000))
		return -1;
	if (used_len)
		*used_len = len;
	return vblk_status(d, r);
}

#endif
