/*
 * Inflight I/O tracking for vhost-user back-ends (the vhost-user protocol's
 * VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD, split rings only), so that a
 * back-end that crashes and is restarted loses no request.
 *
 * The back-end creates a shared memory file (GET_INFLIGHT_FD) and the
 * front-end keeps it across back-end restarts, handing it to each new
 * back-end process with SET_INFLIGHT_FD.  Per ring, the file holds one flag
 * per descriptor head: set when the back-end takes a chain off the avail
 * ring, cleared after the chain is on the used ring.  A restarted back-end
 * hands the flagged heads to the device model again (oldest first) and
 * continues the avail ring at used index + number of flagged heads.  The
 * last head being completed and the used index as the tracker last saw it
 * are recorded too, so a crash between publishing used->idx and clearing
 * the flag is repaired instead of completing that request twice.
 *
 * The file's layout is private to the back-end (the front-end only stores
 * the fd); we follow the split-ring layout of the specification.  The
 * front-end is not trusted: sizes, counts, the fd's length and every field
 * read back from the file are checked before use.
 */
#ifndef CAPVM_BACKEND_VU_INFLIGHT_H
#define CAPVM_BACKEND_VU_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/vhost_user.h"
#include "virtio/virtqueue.h"

/* One descriptor head's state in the file (16 bytes). */
struct vu_inflight_desc {
	uint8_t inflight;      /* 1: taken, not yet completed */
	uint8_t padding[5];
	uint16_t next;         /* unused for split rings */
	uint64_t counter;      /* order in which heads were taken */
};

/* One ring's area in the file: this header, then desc[desc_num]. */
struct vu_inflight_queue {
	uint64_t features;
	uint16_t version;          /* VU_INFLIGHT_VERSION once initialised */
	uint16_t desc_num;         /* the queue size the area was made for */
	uint16_t last_batch_head;  /* head whose used element is being written */
	uint16_t used_idx;         /* used->idx after the last completed push */
	struct vu_inflight_desc desc[];
};

#define VU_INFLIGHT_VERSION 1
#define VU_INFLIGHT_ALIGN   64

/* What a ring knows about its area while it runs (back-end private). */
struct vu_inflight_ring {
	struct vu_inflight_queue *area;   /* NULL: ring not tracked */
	uint16_t desc_num;                /* checked copy of area->desc_num */
	uint64_t counter;                 /* next counter value */
	uint16_t *resubmit;               /* heads to hand out again, oldest first */
	unsigned nr_resubmit, next_resubmit;
};

struct vu_inflight {
	void *map;              /* the whole mapping (NULL: no inflight fd) */
	size_t map_len;
	uint8_t *base;          /* map + mmap_offset */
	uint16_t num_queues;
	uint16_t queue_size;    /* heads per ring area (the device's max_size) */
	struct vu_inflight_ring rings[VHOST_USER_MAX_VRINGS];
};

/* Bytes of one ring's area for queue_size heads (aligned to 64). */
size_t vu_inflight_queue_bytes(uint16_t queue_size);

/*
 * GET_INFLIGHT_FD: check num_queues (1..max_queues) and queue_size (power
 * of 2, 1..max_size), create a sealed-size memfd with one initialised area
 * per ring, each for max_size heads (the largest ring the device accepts:
 * the driver may pick a larger ring than the front-end's queue_size).
 * Returns the fd (the caller sends and closes it) with its length in
 * *mmap_size, or -1 with err.
 */
int vu_inflight_create_fd(uint16_t num_queues, uint16_t queue_size, unsigned max_queues,
			  uint16_t max_size, uint64_t *mmap_size, char *err, size_t errlen);

/*
 * SET_INFLIGHT_FD: validate the front-end's description against the fd and
 * our limits (areas of max_size heads, as vu_inflight_create_fd made them), map it (replacing an earlier mapping).  fd stays the caller's.
 * 0 or -1 with err (inf then has no mapping).
 */
int vu_inflight_map(struct vu_inflight *inf, int fd, const struct vhost_user_inflight *d,
		    unsigned max_queues, uint16_t max_size, char *err, size_t errlen);

/* Forget the mapping and every ring's state. */
void vu_inflight_unmap(struct vu_inflight *inf);

/*
 * Ring q (of ring_num entries) starts with used->idx at used_idx: repair a
 * push the previous back-end did not finish, collect the flagged heads for
 * resubmission and install the tracker on vq.  *last_avail becomes the avail
 * index to continue from (used_idx + flagged heads).  Returns 1 when the
 * ring is tracked, 0 when there is no inflight area (nothing changed), -1
 * on an area we cannot use (err).
 */
int vu_inflight_ring_start(struct vu_inflight *inf, unsigned q, struct virtqueue *vq,
			   uint16_t ring_num, uint16_t used_idx, uint16_t *last_avail,
			   char *err, size_t errlen);

/* Ring q stops: remove the tracker from vq and drop pending resubmissions. */
void vu_inflight_ring_stop(struct vu_inflight *inf, unsigned q, struct virtqueue *vq);

/* Heads of ring q flagged in flight right now (for tests and logs). */
unsigned vu_inflight_count(const struct vu_inflight *inf, unsigned q);

#endif
