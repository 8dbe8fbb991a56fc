/*
 * Inflight I/O tracking for vhost-user back-ends (see vu_inflight.h): the
 * shared file's creation and validation, the per-ring recovery after a
 * back-end restart, and the virtqueue tracker that keeps the file current
 * as the device model takes and completes chains.
 *
 * Ordering.  The file must describe the ring correctly at every instant the
 * process could die, so every store to it is an atomic store in program
 * order (the file survives the process, not the machine: no flushes).  On a
 * pop: counter, then flag.  On a push: last_batch_head before the used
 * element; after used->idx is published, clear the flag, then record the
 * used index.  A restart that finds the recorded used index behind
 * used->idx knows the push of last_batch_head completed and clears its flag.
 */
#include "backend/vu_inflight.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define COMP "inflight"
/* Far more than 8 rings of 1024 heads need; refuse anything larger. */
#define INFLIGHT_MAX_BYTES (16u << 20)

#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define LOAD(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)

size_t vu_inflight_queue_bytes(uint16_t queue_size)
{
	size_t bytes = sizeof(struct vu_inflight_queue) +
		       (size_t)queue_size * sizeof(struct vu_inflight_desc);

	return (bytes + VU_INFLIGHT_ALIGN - 1) & ~(size_t)(VU_INFLIGHT_ALIGN - 1);
}

static bool is_power_of_2(uint32_t x) { return x && !(x & (x - 1)); }

/* Common checks of the front-end's queue count and size. */
static int check_shape(uint16_t num_queues, uint16_t queue_size, unsigned max_queues,
		       uint16_t max_size, char *err, size_t errlen)
{
	if (max_queues > VHOST_USER_MAX_VRINGS)
		max_queues = VHOST_USER_MAX_VRINGS;
	if (!is_power_of_2(max_size) || max_size > VIRTQ_MAX_SIZE)
		return err_fail(err, errlen, "inflight: device queue size %u unusable", max_size);
	if (num_queues == 0 || num_queues > max_queues)
		return err_fail(err, errlen, "inflight: %u queues (1..%u allowed)", num_queues, max_queues);
	if (!is_power_of_2(queue_size) || queue_size > max_size || queue_size > VIRTQ_MAX_SIZE)
		return err_fail(err, errlen, "inflight: queue size %u is not a power of 2 <= %u",
				queue_size, max_size < VIRTQ_MAX_SIZE ? max_size : VIRTQ_MAX_SIZE);
	return 0;
}

int vu_inflight_create_fd(uint16_t num_queues, uint16_t queue_size, unsigned max_queues,
			  uint16_t max_size, uint64_t *mmap_size, char *err, size_t errlen)
{
	size_t qbytes, len;
	uint8_t *p;
	int fd;

	if (check_shape(num_queues, queue_size, max_queues, max_size, err, errlen))
		return -1;
	/*
	 * Areas for the largest ring the device accepts, not for queue_size:
	 * front-ends announce their own queue size here, yet the driver may set
	 * a larger ring (QEMU's virtio-mmio offers 1024 whatever the device's
	 * queue size is).
	 */
	qbytes = vu_inflight_queue_bytes(max_size);
	len = qbytes * num_queues;  /* <= 8 * (16 + 16 * 1024 + 63): no overflow */
	fd = memfd_create("capvm-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return err_fail(err, errlen, "inflight: memfd_create: %s", strerror(errno));
	if (ftruncate(fd, (off_t)len) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		err_fail(err, errlen, "inflight: sizing the memfd: %s", strerror(errno));
		close(fd);
		return -1;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		err_fail(err, errlen, "inflight: mmap: %s", strerror(errno));
		close(fd);
		return -1;
	}
	/* The memfd starts zeroed: mark every ring's area as made for max_size heads. */
	for (unsigned q = 0; q < num_queues; q++) {
		struct vu_inflight_queue *a = (struct vu_inflight_queue *)(p + q * qbytes);
		a->desc_num = max_size;
		a->version = VU_INFLIGHT_VERSION;
	}
	munmap(p, len);
	*mmap_size = len;
	return fd;
}

static void ring_forget(struct vu_inflight_ring *r)
{
	free(r->resubmit);
	*r = (struct vu_inflight_ring){ 0 };
}

void vu_inflight_unmap(struct vu_inflight *inf)
{
	for (unsigned q = 0; q < VHOST_USER_MAX_VRINGS; q++)
		ring_forget(&inf->rings[q]);
	if (inf->map)
		munmap(inf->map, inf->map_len);
	*inf = (struct vu_inflight){ 0 };
}

int vu_inflight_map(struct vu_inflight *inf, int fd, const struct vhost_user_inflight *d,
		    unsigned max_queues, uint16_t max_size, char *err, size_t errlen)
{
	struct stat st;
	uint64_t need, end;
	int seals;
	void *p;

	vu_inflight_unmap(inf);
	if (check_shape(d->num_queues, d->queue_size, max_queues, max_size, err, errlen))
		return -1;
	need = (uint64_t)vu_inflight_queue_bytes(max_size) * d->num_queues;
	if (d->mmap_size < need || d->mmap_size > INFLIGHT_MAX_BYTES)
		return err_fail(err, errlen, "inflight: mmap_size %llu (need %llu..%u for %u queues of %u)",
				(unsigned long long)d->mmap_size, (unsigned long long)need,
				INFLIGHT_MAX_BYTES, d->num_queues, d->queue_size);
	if (d->mmap_offset > INFLIGHT_MAX_BYTES - d->mmap_size)
		return err_fail(err, errlen, "inflight: mmap_offset %llu too large",
				(unsigned long long)d->mmap_offset);
	end = d->mmap_offset + d->mmap_size;
	if (fstat(fd, &st) || st.st_size < 0 || (uint64_t)st.st_size < end)
		return err_fail(err, errlen, "inflight: the fd is smaller than offset + size (%llu)",
				(unsigned long long)end);
	/* A file that could shrink under our mapping would kill us with SIGBUS. */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		return err_fail(err, errlen, "inflight: the fd is not sealed against shrinking");
	p = mmap(NULL, (size_t)end, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return err_fail(err, errlen, "inflight: mmap: %s", strerror(errno));
	inf->map = p;
	inf->map_len = (size_t)end;
	inf->base = (uint8_t *)p + d->mmap_offset;
	inf->num_queues = d->num_queues;
	inf->queue_size = max_size;
	return 0;
}

/* ---------------------------------------------------------------- tracker */

static bool track_resubmit(void *opaque, uint16_t *head)
{
	struct vu_inflight_ring *r = opaque;

	if (r->next_resubmit >= r->nr_resubmit)
		return false;
	*head = r->resubmit[r->next_resubmit++];
	if (r->next_resubmit == r->nr_resubmit) {
		free(r->resubmit);
		r->resubmit = NULL;
		r->nr_resubmit = r->next_resubmit = 0;
	}
	return true;
}

static void track_popped(void *opaque, uint16_t head)
{
	struct vu_inflight_ring *r = opaque;
	struct vu_inflight_desc *d;

	if (!r->area || head >= r->desc_num)
		return;
	d = &r->area->desc[head];
	STORE(&d->counter, r->counter++);
	STORE(&d->inflight, 1);
}

static void track_pushing(void *opaque, uint16_t head)
{
	struct vu_inflight_ring *r = opaque;

	if (r->area && head < r->desc_num)
		STORE(&r->area->last_batch_head, head);
}

static void track_pushed(void *opaque, uint16_t head, uint16_t used_idx)
{
	struct vu_inflight_ring *r = opaque;

	if (!r->area || head >= r->desc_num)
		return;
	STORE(&r->area->desc[head].inflight, 0);
	STORE(&r->area->used_idx, used_idx);
}

static const struct virtq_tracker inflight_tracker = {
	.resubmit = track_resubmit,
	.popped = track_popped,
	.pushing = track_pushing,
	.pushed = track_pushed,
};

/* ------------------------------------------------------------ ring start */

struct flagged {
	uint64_t counter;
	uint16_t head;
};

static int by_counter(const void *a, const void *b)
{
	const struct flagged *x = a, *y = b;

	return x->counter < y->counter ? -1 : x->counter > y->counter;
}

static struct vu_inflight_queue *area_of(const struct vu_inflight *inf, unsigned q)
{
	return (struct vu_inflight_queue *)(inf->base + q * vu_inflight_queue_bytes(inf->queue_size));
}

int vu_inflight_ring_start(struct vu_inflight *inf, unsigned q, struct virtqueue *vq,
			   uint16_t ring_num, uint16_t used_idx, uint16_t *last_avail,
			   char *err, size_t errlen)
{
	struct vu_inflight_ring *r;
	struct vu_inflight_queue *a;
	struct flagged *list;
	uint16_t version, desc_num, lbh;
	unsigned n = 0, bogus = 0;

	if (!inf->map || q >= inf->num_queues || q >= VHOST_USER_MAX_VRINGS)
		return 0;
	r = &inf->rings[q];
	ring_forget(r);
	a = area_of(inf, q);
	/* Read the header once; the front-end (or a past bug) may have changed it. */
	version = LOAD(&a->version);
	desc_num = LOAD(&a->desc_num);
	if (version != VU_INFLIGHT_VERSION || desc_num != inf->queue_size)
		return err_fail(err, errlen, "ring %u: inflight area has version %u for %u heads "
				"(expected %u for %u)", q, version, desc_num, VU_INFLIGHT_VERSION,
				inf->queue_size);
	if (ring_num > desc_num)
		return err_fail(err, errlen, "ring %u: size %u is larger than its inflight area (%u)",
				q, ring_num, desc_num);

	/* The previous back-end died after publishing used->idx, before clearing the flag. */
	if (LOAD(&a->used_idx) != used_idx) {
		lbh = LOAD(&a->last_batch_head);
		if (lbh < desc_num)
			STORE(&a->desc[lbh].inflight, 0);
		STORE(&a->used_idx, used_idx);
	}

	list = calloc(desc_num, sizeof(*list));
	if (!list)
		return err_fail(err, errlen, "ring %u: out of memory", q);
	for (uint16_t h = 0; h < desc_num; h++) {
		uint8_t flag = LOAD(&a->desc[h].inflight);
		if (!flag)
			continue;
		if (flag != 1 || h >= ring_num) {
			/* Not a state we write: the driver cannot own such a head. */
			STORE(&a->desc[h].inflight, 0);
			bogus++;
			continue;
		}
		list[n].counter = LOAD(&a->desc[h].counter);
		list[n].head = h;
		n++;
	}
	if (bogus)
		log_warn(COMP, "ring %u: cleared %u invalid inflight entries", q, bogus);
	qsort(list, n, sizeof(*list), by_counter);
	r->counter = n ? list[n - 1].counter + 1 : 0;
	if (n) {
		r->resubmit = malloc(n * sizeof(*r->resubmit));
		if (!r->resubmit) {
			free(list);
			return err_fail(err, errlen, "ring %u: out of memory", q);
		}
		for (unsigned i = 0; i < n; i++)
			r->resubmit[i] = list[i].head;
		r->nr_resubmit = n;
		log_info(COMP, "ring %u: %u request(s) in flight before the restart, submitting them again",
			 q, n);
	}
	free(list);
	r->area = a;
	r->desc_num = desc_num;
	*last_avail = (uint16_t)(used_idx + n);
	vq->tracker = &inflight_tracker;
	vq->tracker_opaque = r;
	return 1;
}

void vu_inflight_ring_stop(struct vu_inflight *inf, unsigned q, struct virtqueue *vq)
{
	if (vq->tracker == &inflight_tracker) {
		vq->tracker = NULL;
		vq->tracker_opaque = NULL;
	}
	if (q < VHOST_USER_MAX_VRINGS)
		ring_forget(&inf->rings[q]);
}

unsigned vu_inflight_count(const struct vu_inflight *inf, unsigned q)
{
	const struct vu_inflight_queue *a;
	unsigned n = 0;

	if (!inf->map || q >= inf->num_queues)
		return 0;
	a = area_of(inf, q);
	for (uint16_t h = 0; h < inf->queue_size; h++)
		n += LOAD(&a->desc[h].inflight) == 1;
	return n;
}
