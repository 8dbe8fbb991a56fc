/*
 * Isolated mode of the vhost-user proxy (see vu_proxy.h): the back-end's
 * memory table is only a bounce window, a memfd the VMM creates (sealed
 * against resizing, so the back-end cannot make our mapping fault).  The
 * guest's rings and buffers stay private to the VMM.
 *
 * Window layout (addresses the back-end sees start at BOUNCE_BASE):
 *
 *   [queue 0 shadow ring: 2 pages] ... [queue N-1] [data pages ...]
 *
 * Guest kick (I/O thread): each chain the guest made available is popped
 * (validated by the virtqueue code), its buffers get window space in one
 * run of pages (small buffers packed 64-byte aligned, larger ones keeping
 * their offset within a page: see buf_place), the readable ones are
 * copied in, and a chain of shadow descriptors pointing there is put on the
 * shadow ring (data buffers that land end to end share one: joins_previous);
 * then the back-end's kick eventfd is signalled.  When the
 * window or the shadow descriptors run out, the chain waits (one per
 * queue) until completions free space: a "bounce window full" wait, counted
 * and logged (rate-limited).
 *
 * Back-end call (I/O thread): for each used entry, the writable buffers of
 * the request are copied from the window back to the guest's buffers and
 * the chains of one call are completed on the guest's ring together
 * (one used-index update); then the guest is
 * interrupted if it wants to be (the guest's EVENT_IDX is handled by the
 * VMM's own virtqueue code).
 *
 * Towards the back-end the shadow rings use EVENT_IDX when it offers it:
 * we kick only when its avail_event asks (kick_backend), and our
 * used_event (want_call) asks for a call at its next completion, or, while
 * a coalescing window is open, only once it has finished everything it was
 * given; the window's timer takes what it finished before that.
 *
 * Interrupt coalescing (coalesce=USEC; disks default to 200, see run_devices.c):
 * the relay batches the guest's interrupts by the rules of virtio-blk
 * (coalesce.h: the interrupt also stays held at the window's timer while the
 * back-end is busy).  A guest kick opens a window: the guest's kicks stay off,
 * its interrupt is held; each back-end call completes to the guest's ring
 * at once and relays what the guest queued meanwhile; the timer takes
 * what the back-end finished without calling, raises one interrupt for
 * the window (unless the busy rule holds it), and the window ends at once when nothing is
 * left at the back-end and nothing is queued.  Without it every back-end
 * call became a guest interrupt and every batch of requests a guest kick,
 * each a VM exit and a thread wake-up more than in shared mode, where the
 * back-end's own coalescing reaches the guest directly.
 *
 * The back-end is untrusted: it can write anything anywhere in the window,
 * rings included.  Only used entries are read back; their ids are checked
 * against our own bookkeeping (kept outside the window) and their lengths
 * are clamped.  A bad entry ends the session.
 *
 * Crash survival: every request in flight is in our bookkeeping (struct
 * bounce_req: the guest's buffers, its window pages, its order), and the
 * guest's chain stays unfinished until we complete it.  When the back-end
 * dies and a new one connects (proxy_retry), bounce_resume clears the
 * shadow rings, copies the readable buffers in again and re-posts every
 * outstanding request in its original order to the new back-end, which
 * starts at ring index 0.  No inflight area is needed from the back-end.
 */
#include "backend/vu_proxy_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define BOUNCE_BASE       0x40000000ULL  /* window address in the back-end's table */
#define BOUNCE_PAGE       4096u
#define BOUNCE_RING_BYTES (2 * BOUNCE_PAGE)  /* one shadow ring of PROXY_QUEUE_MAX */
#define BOUNCE_ALIGN      64u
#define BOUNCE_FULL_LOG_INTERVAL_NS (10ULL * 1000000000ULL)

/* A ring of PROXY_QUEUE_MAX: desc (4096) | avail (518) at +4096 | used (2054) at +5120. */
_Static_assert(VIRTQ_DESC_BYTES(PROXY_QUEUE_MAX) <= BOUNCE_PAGE, "desc table");
_Static_assert(VIRTQ_AVAIL_BYTES(PROXY_QUEUE_MAX) <= 1024, "avail ring");
_Static_assert(BOUNCE_PAGE + 1024 + VIRTQ_USED_BYTES(PROXY_QUEUE_MAX) <= BOUNCE_RING_BYTES, "used");

static void kick_backend(struct vu_proxy *p, struct bounce_queue *bq, bool always);
static void post_req(struct vu_proxy *p, struct bounce_queue *bq, const struct bounce_req *tmpl);

static uint64_t round_up64(uint64_t v) { return (v + BOUNCE_ALIGN - 1) & ~(uint64_t)(BOUNCE_ALIGN - 1); }

/*
 * Where a buffer goes in the window, the running offset being off (offsets
 * relative to a page boundary).  Small buffers (request headers, status
 * bytes) are packed 64-byte aligned; larger ones keep their offset within a
 * 4 KiB page, so a sector-aligned guest buffer stays sector-aligned for a
 * back-end doing O_DIRECT I/O (unaligned buffers make it fall back to
 * slower buffered I/O, or fail).
 */
static uint64_t buf_place(uint64_t off, const struct iovec *v)
{
	uint64_t in_page = (uintptr_t)v->iov_base & (BOUNCE_PAGE - 1), o;

	if (v->iov_len < 512)
		return round_up64(off);
	o = (off & ~(uint64_t)(BOUNCE_PAGE - 1)) + in_page;
	return o < off ? o + BOUNCE_PAGE : o;
}

/*
 * Does buffer v, placed at off, extend the shadow descriptor of the buffer
 * before it (prev, which ended at prev_end)?  Data buffers (512 bytes and
 * more) of the same direction that the placement put end to end share one
 * descriptor: Linux hands a 128 KiB request over as 32 page-sized buffers,
 * which would otherwise take 34 shadow descriptors, so that a 256-entry
 * shadow ring held only 7 such requests, and the back-end would walk and
 * submit 32 iovecs where one does.  Headers and status bytes keep their
 * own descriptors, the layout every virtio-blk back-end expects.
 */
static bool joins_previous(const struct iovec *prev, bool prev_writable, uint64_t prev_end,
			   uint32_t desc_len, const struct iovec *v, bool writable, uint64_t off)
{
	return prev && prev->iov_len >= 512 && v->iov_len >= 512 && prev_writable == writable &&
	       off == prev_end && (uint64_t)desc_len + v->iov_len <= UINT32_MAX;
}

/*
 * The window bytes (from a page start) and shadow descriptors a chain of
 * nbuf buffers, the first nr_readable readable, takes (post_req lays it out
 * the same way).
 */
static unsigned chain_layout(const struct iovec *iov, unsigned nr_readable, unsigned nbuf,
			     uint64_t *bytes)
{
	uint64_t off = 0, end = 0;
	uint32_t desc_len = 0;
	unsigned ndesc = 0;

	for (unsigned i = 0; i < nbuf; i++) {  /* <= 256 x (4 GiB + 4 KiB): no overflow */
		off = buf_place(off, &iov[i]);
		if (joins_previous(i ? &iov[i - 1] : NULL, i && i - 1 >= nr_readable, end, desc_len,
				   &iov[i], i >= nr_readable, off)) {
			desc_len += (uint32_t)iov[i].iov_len;
		} else {
			ndesc++;
			desc_len = (uint32_t)iov[i].iov_len;
		}
		off += iov[i].iov_len;
		end = off;
	}
	*bytes = off;
	return ndesc;
}

/* ---- window pages ---------------------------------------------------------- */

static bool page_used(const struct vu_proxy *p, uint32_t i)
{
	return p->page_map[i / 64] & (1ULL << (i % 64));
}

static void pages_mark(struct vu_proxy *p, uint32_t first, uint32_t n, bool used)
{
	for (uint32_t i = first; i < first + n; i++) {
		if (used)
			p->page_map[i / 64] |= 1ULL << (i % 64);
		else
			p->page_map[i / 64] &= ~(1ULL << (i % 64));
	}
}

/*
 * n contiguous free pages, first fit; -1 if none.  First fit keeps reusing
 * the same low pages, so the window's working set is about what is in
 * flight: each page touched for the first time costs a page fault in the
 * VMM and another in the back-end (expensive under nested paging), which a
 * next-fit search cycling through the whole window paid on every pass.
 */
static int64_t pages_alloc(struct vu_proxy *p, uint32_t n)
{
	uint32_t total = p->nr_pages, run = 0, run_start = 0;

	for (uint32_t i = 0; i < total; i++) {
		if (i % 64 == 0 && p->page_map[i / 64] == ~0ULL && total - i >= 64) {
			i += 63;       /* a full word: skip it */
			run = 0;
			continue;
		}
		if (page_used(p, i)) {
			run = 0;
			continue;
		}
		if (run++ == 0)
			run_start = i;
		if (run == n) {
			pages_mark(p, run_start, n, true);
			return run_start;
		}
	}
	return -1;
}

/* ---- set-up ---------------------------------------------------------------- */

void bounce_init_fields(struct vu_proxy *p)
{
	p->win_fd = -1;
	p->win = NULL;
}

/*
 * A new bounce window: a sealed memfd of bounce= bytes, mapped; it replaces
 * the current one (if any).  0, or -1 with the reason in err (the current
 * window then stays).
 */
static int window_map(struct vu_proxy *p, char *err, size_t errlen)
{
	char name[64];
	uint8_t *win;
	int fd;

	snprintf(name, sizeof(name), "capvm-bounce-%s", p->dev.name ? p->dev.name : "dev");
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)p->opts.bounce_size) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		err_fail(err, errlen, "memfd: %s", strerror(errno));
		goto fail;
	}
	win = mmap(NULL, p->opts.bounce_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (win == MAP_FAILED) {
		err_fail(err, errlen, "mmap: %s", strerror(errno));
		goto fail;
	}
	if (p->win)
		munmap(p->win, p->win_size);
	if (p->win_fd >= 0)
		close(p->win_fd);
	p->win = win;
	p->win_fd = fd;
	p->win_size = p->opts.bounce_size;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

int bounce_create(struct vu_proxy *p, char *err, size_t errlen)
{
	struct virtio_device *dev = &p->dev;
	uint64_t rings = (uint64_t)dev->nr_queues * BOUNCE_RING_BYTES;

	if (p->opts.bounce_size <= rings + BOUNCE_PAGE)
		return err_fail(err, errlen, "window of %llu bytes is too small",
				(unsigned long long)p->opts.bounce_size);
	if (window_map(p, err, errlen))
		return -1;
	p->data_off = rings;
	p->nr_pages = (uint32_t)((p->win_size - rings) / BOUNCE_PAGE);
	p->page_map = calloc((p->nr_pages + 63) / 64, sizeof(uint64_t));
	if (!p->page_map)
		return err_fail(err, errlen, "out of memory");
	for (unsigned q = 0; q < dev->nr_queues; q++) {
		struct bounce_queue *bq = calloc(1, sizeof(*bq));
		if (!bq)
			return err_fail(err, errlen, "out of memory");
		p->bq[q] = bq;
		bq->ring_off = (uint64_t)q * BOUNCE_RING_BYTES;
		bq->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		bq->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (coalesce_init(&bq->coal, p->opts.coalesce_us, &p->stats.windows,
				  &p->stats.window_requests, &p->stats.idle_window_ends,
				  &p->stats.held_windows))
			return err_fail(err, errlen, "queue %u: coalescing timer: %s", q, strerror(errno));
		if (coalesce_fd(&bq->coal) >= 0) {
			struct epoll_event tev = { .events = EPOLLIN, .data.u32 = PROXY_TAG_WINDOW | q };
			if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, coalesce_fd(&bq->coal), &tev))
				return err_fail(err, errlen, "epoll: %s", strerror(errno));
		}
		bq->waiting_iov = calloc(PROXY_MAX_IOV, sizeof(struct iovec));
		bq->pop_iov = calloc(PROXY_MAX_IOV, sizeof(struct iovec));
		if (bq->kick_fd < 0 || bq->call_fd < 0 || !bq->waiting_iov || !bq->pop_iov)
			return err_fail(err, errlen, "queue %u: %s", q, strerror(errno));
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = PROXY_TAG_CALL | q };
		if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, bq->call_fd, &ev))
			return err_fail(err, errlen, "epoll: %s", strerror(errno));
	}
	log_info(dev->name, "bounce window %llu MiB (%u data pages) for the back-end",
		 (unsigned long long)(p->win_size >> 20), p->nr_pages);
	return 0;
}

/* Forget every relayed request (the back-end no longer touches them). */
static void queue_clear(struct bounce_queue *bq)
{
	for (unsigned i = 0; i < PROXY_QUEUE_MAX; i++) {
		free(bq->req[i].iov);
		bq->req[i] = (struct bounce_req){ 0 };
	}
	bq->has_waiting = false;
	bq->running = false;
	coalesce_reset(&bq->coal);
}

void bounce_reset(struct vu_proxy *p)
{
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (p->bq[q])
			queue_clear(p->bq[q]);
	if (p->page_map)
		memset(p->page_map, 0, (p->nr_pages + 63) / 64 * sizeof(uint64_t));
}

/* An empty shadow ring for a queue of vq->size: cleared, indices 0, all descriptors free. */
static void ring_init(struct vu_proxy *p, struct bounce_queue *bq, const struct virtqueue *vq)
{
	uint8_t *ring = p->win + bq->ring_off;

	memset(ring, 0, BOUNCE_RING_BYTES);
	bq->size = vq->size;
	bq->desc = (struct virtq_desc *)ring;
	bq->avail = (struct virtq_avail *)(ring + BOUNCE_PAGE);
	bq->used = (struct virtq_used *)(ring + BOUNCE_PAGE + 1024);
	bq->avail_idx = bq->last_used = bq->kicked_idx = 0;
	for (uint16_t i = 0; i < bq->size; i++)
		bq->desc_next[i] = (uint16_t)(i + 1);
	bq->free_head = 0;
	bq->nr_free = bq->size;
}

/* Features and memory table (the window) for the back-end. */
static int backend_setup(struct vu_proxy *p, char *err, size_t errlen)
{
	/*
	 * Split rings towards the back-end, no indirect tables; EVENT_IDX when
	 * it offers it (fewer kicks and calls between it and us).
	 */
	bool event_idx = p->backend_features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	uint64_t features = (p->dev.driver_features & p->backend_features & 0xffffffULL) |
			    VIRTIO_BIT(VIRTIO_F_VERSION_1) |
			    (event_idx ? VIRTIO_BIT(VIRTIO_F_EVENT_IDX) : 0);
	struct vhost_user_mem_region region = { .guest_phys_addr = BOUNCE_BASE,
		.memory_size = p->win_size, .userspace_addr = BOUNCE_BASE, .mmap_offset = 0 };

	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (p->bq[q])
			p->bq[q]->event_idx = event_idx;
	if (vu_frontend_set_features(&p->fe, features, err, errlen) ||
	    vu_frontend_set_mem_table(&p->fe, &region, &p->win_fd, 1, err, errlen))
		return -1;
	return 0;
}

/* Hand the back-end shadow ring q (starting at index 0). */
static int ring_start(struct vu_proxy *p, unsigned q, char *err, size_t errlen)
{
	struct bounce_queue *bq = p->bq[q];
	struct vu_frontend_vring r = { .num = bq->size, .base = 0,
		.desc = BOUNCE_BASE + bq->ring_off,
		.avail = BOUNCE_BASE + bq->ring_off + BOUNCE_PAGE,
		.used = BOUNCE_BASE + bq->ring_off + BOUNCE_PAGE + 1024,
		.kick_fd = bq->kick_fd, .call_fd = bq->call_fd };

	if (vu_frontend_start_vring(&p->fe, q, &r, err, errlen))
		return -1;
	bq->running = true;
	p->started[q] = true;
	return 0;
}

int bounce_activate(struct vu_proxy *p, char *err, size_t errlen)
{
	struct virtio_device *dev = &p->dev;

	bounce_reset(p);
	if (backend_setup(p, err, errlen))
		return -1;
	for (unsigned q = 0; q < dev->nr_queues; q++) {
		if (!dev->vqs[q].active || !p->bq[q])
			continue;
		ring_init(p, p->bq[q], &dev->vqs[q]);
		if (ring_start(p, q, err, errlen))
			return -1;
	}
	return 0;
}

/*
 * The back-end went away: stop reading its shadow rings.  Used entries it
 * wrote that we had not read yet are dropped; their requests stay
 * outstanding (guest chains held, window pages kept) for bounce_resume.
 */
void bounce_backend_lost(struct vu_proxy *p)
{
	char err[128];

	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (p->bq[q])
			p->bq[q]->running = false;
	/*
	 * The next back-end gets a window of its own: the old one may still be
	 * alive (a protocol error closes the connection, it does not end the
	 * process) and go on writing into what it mapped.  Nothing in the old
	 * window is needed: the replay copies the readable buffers again.
	 */
	if (window_map(p, err, sizeof(err)))
		log_warn(p->dev.name, "no fresh bounce window for the next back-end (%s): "
			 "it shares the old one", err);
}

/*
 * Re-post the outstanding requests of a queue on a fresh shadow ring, in
 * their original order, each with its readable buffers copied again from
 * the guest (the old back-end may have written anything into the window).
 * They keep their window pages; only their shadow descriptors change.
 * Requests from before a queue reset (another epoch) are dropped, not
 * redone.  Returns how many were re-posted.
 */
static unsigned queue_replay(struct vu_proxy *p, struct bounce_queue *bq, const struct virtqueue *vq)
{
	struct bounce_req old[PROXY_QUEUE_MAX];
	unsigned n = 0, replayed = 0;

	for (unsigned i = 0; i < PROXY_QUEUE_MAX; i++) {
		if (!bq->req[i].busy)
			continue;
		/* insertion by seq: at most 256, and usually few */
		unsigned j = n++;
		for (; j > 0 && old[j - 1].seq > bq->req[i].seq; j--)
			old[j] = old[j - 1];
		old[j] = bq->req[i];
		bq->req[i] = (struct bounce_req){ 0 };
	}
	ring_init(p, bq, vq);
	for (unsigned i = 0; i < n; i++) {
		/* (the descriptor check cannot fail: they all fitted on this ring before) */
		if (old[i].epoch != vq->epoch || old[i].nr_desc > bq->nr_free) {
			pages_mark(p, old[i].first_page, old[i].nr_pages, false);
			free(old[i].iov);
			continue;
		}
		post_req(p, bq, &old[i]);
		replayed++;
	}
	return replayed;
}

/*
 * A new back-end after the old one went away (proxy_retry, the device still
 * running): set it up like bounce_activate, but on each queue's fresh shadow
 * ring first replay what the old back-end had not completed (*replayed says
 * how many), then kick, then relay what the guest queued meanwhile and any
 * request that waited for window space.  Completions the old back-end had
 * not yet signalled are redone: redoing a blk read, write or flush is
 * harmless; net rx buffers are simply offered again, and a tx packet in
 * flight may be sent twice (the network may duplicate packets anyway).
 * Can be called again after a failure: it starts from the bookkeeping
 * each time.
 */
int bounce_resume(struct vu_proxy *p, unsigned *replayed, char *err, size_t errlen)
{
	struct virtio_device *dev = &p->dev;
	unsigned n = 0;

	*replayed = 0;
	if (backend_setup(p, err, errlen))
		return -1;
	for (unsigned q = 0; q < dev->nr_queues; q++) {
		if (!dev->vqs[q].active || !p->bq[q])
			continue;
		n += queue_replay(p, p->bq[q], &dev->vqs[q]);
		if (ring_start(p, q, err, errlen)) {
			bounce_backend_lost(p);
			return -1;
		}
	}
	p->stats.replayed += n;
	*replayed = n;
	for (unsigned q = 0; q < dev->nr_queues; q++) {
		if (!p->bq[q] || !p->bq[q]->running)
			continue;
		kick_backend(p, p->bq[q], true);  /* a new back-end: whatever its ring says */
		bounce_guest_kick(p, &dev->vqs[q]);
	}
	return 0;
}

void bounce_destroy(struct vu_proxy *p)
{
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		struct bounce_queue *bq = p->bq[q];
		if (!bq)
			continue;
		queue_clear(bq);
		coalesce_destroy(&bq->coal);
		if (bq->kick_fd >= 0)
			close(bq->kick_fd);
		if (bq->call_fd >= 0)
			close(bq->call_fd);
		free(bq->waiting_iov);
		free(bq->pop_iov);
		free(bq);
		p->bq[q] = NULL;
	}
	if (p->win)
		munmap(p->win, p->win_size);
	p->win = NULL;
	if (p->win_fd >= 0)
		close(p->win_fd);
	p->win_fd = -1;
	free(p->page_map);
	p->page_map = NULL;
}

/* ---- guest -> back-end ----------------------------------------------------- */

static void log_window_full(struct vu_proxy *p)
{
	uint64_t now = now_ns();

	if (now < p->full_logged_ns)
		return;
	p->full_logged_ns = now + BOUNCE_FULL_LOG_INTERVAL_NS;
	log_warn(p->dev.name, "bounce window full: requests wait for completions (%llu waits "
		 "so far; a larger bounce= avoids them)",
		 (unsigned long long)p->stats.bounce_full_waits);
}

/*
 * Put request r (its iov, nr_readable, nr_writable, nr_desc from chain_layout
 * and window pages set) on the shadow ring: copy its readable buffers into its pages and chain
 * shadow descriptors from the free list (the caller checked there are
 * enough) pointing there.  It becomes bq->req[head].
 */
static void post_req(struct vu_proxy *p, struct bounce_queue *bq, const struct bounce_req *tmpl)
{
	unsigned nbuf = (unsigned)tmpl->nr_readable + tmpl->nr_writable;
	uint16_t head = bq->free_head, d = head, last = head;
	uint64_t off = p->data_off + (uint64_t)tmpl->first_page * BOUNCE_PAGE, writable_len = 0, end = 0;
	struct bounce_req *r = &bq->req[head];
	unsigned ndesc = 0;

	*r = *tmpl;
	r->busy = true;
	r->seq = bq->next_seq++;
	for (unsigned i = 0; i < nbuf; i++) {
		const struct iovec *v = &r->iov[i];
		bool writable = i >= r->nr_readable;
		if (i == r->nr_readable)
			r->win_writable_off = off;  /* copy_back places them the same way */
		off = buf_place(off, v);
		if (writable) {
			writable_len += v->iov_len;
		} else {
			memcpy(p->win + off, v->iov_base, v->iov_len);
			p->stats.bytes_to_backend += v->iov_len;
		}
		if (joins_previous(i ? &r->iov[i - 1] : NULL, i && i - 1 >= r->nr_readable, end,
				   bq->desc[last].len, v, writable, off)) {
			bq->desc[last].len += (uint32_t)v->iov_len;
		} else {
			if (ndesc++) {  /* link the previous descriptor to this one */
				bq->desc[last].flags |= VIRTQ_DESC_F_NEXT;
				bq->desc[last].next = d;
			}
			bq->desc[d] = (struct virtq_desc){ .addr = BOUNCE_BASE + off,
				.len = (uint32_t)v->iov_len,
				.flags = writable ? VIRTQ_DESC_F_WRITE : 0 };
			last = d;
			d = bq->desc_next[d];
		}
		off += v->iov_len;
		end = off;
	}
	r->nr_desc = (uint16_t)ndesc;
	r->writable_len = writable_len;
	bq->free_head = bq->desc_next[last];
	bq->nr_free = (uint16_t)(bq->nr_free - ndesc);
	bq->avail->ring[bq->avail_idx & (bq->size - 1)] = head;
	bq->avail_idx++;
	__atomic_store_n(&bq->avail->idx, bq->avail_idx, __ATOMIC_RELEASE);
}

/*
 * Relay one chain: 1 when it is on the shadow ring, 0 when the window or
 * the shadow descriptors are full (try again after completions), -1 when
 * it can never fit (the device then needs a reset).
 */
static int relay_chain(struct vu_proxy *p, struct bounce_queue *bq, const struct virtq_chain *c,
		       uint32_t epoch)
{
	unsigned nbuf = (unsigned)c->nr_readable + c->nr_writable, ndesc;
	uint64_t bytes;

	if (nbuf == 0 || nbuf > bq->size) {
		virtio_device_needs_reset(&p->dev, "request with %u buffers (1..%u can be relayed)",
					  nbuf, bq->size);
		return -1;
	}
	ndesc = chain_layout(c->iov, c->nr_readable, nbuf, &bytes);
	uint64_t pages = (bytes + BOUNCE_PAGE - 1) / BOUNCE_PAGE;
	if (pages > p->nr_pages) {
		virtio_device_needs_reset(&p->dev, "request of %llu bytes does not fit the %llu MiB "
					  "bounce window", (unsigned long long)bytes,
					  (unsigned long long)(p->win_size >> 20));
		return -1;
	}
	if (bq->nr_free < ndesc)
		return 0;
	int64_t first = pages_alloc(p, (uint32_t)pages);
	if (first < 0)
		return 0;
	/* All its buffers, kept until it completes: a replay copies the readable ones again. */
	struct iovec *iov = malloc(nbuf * sizeof(*iov));
	if (!iov) {
		pages_mark(p, (uint32_t)first, (uint32_t)pages, false);
		return 0;
	}
	memcpy(iov, c->iov, nbuf * sizeof(*iov));
	struct bounce_req r = { .guest_head = c->head, .first_page = (uint32_t)first,
		.nr_pages = (uint32_t)pages, .nr_readable = c->nr_readable,
		.nr_writable = c->nr_writable, .nr_desc = (uint16_t)ndesc, .iov = iov, .epoch = epoch };
	post_req(p, bq, &r);
	p->stats.requests++;
	return 1;
}

/* Take the guest's available chains onto the shadow ring; how many moved. */
static unsigned relay_available(struct vu_proxy *p, struct bounce_queue *bq, struct virtqueue *vq)
{
	unsigned moved = 0;
	int rc;

	for (;;) {
		if (bq->has_waiting) {
			rc = relay_chain(p, bq, &bq->waiting, bq->waiting_epoch);
			if (rc == 0)
				return moved;
			bq->has_waiting = false;
			if (rc < 0)
				return moved;
			moved++;
			continue;
		}
		struct virtq_chain c = { .iov = bq->pop_iov, .max_iov = PROXY_MAX_IOV };
		if (virtq_pop(vq, &c) != 1)
			return moved;
		if (c.truncated) {
			virtio_device_needs_reset(&p->dev, "request with more than %d buffers",
						  PROXY_MAX_IOV);
			return moved;
		}
		rc = relay_chain(p, bq, &c, vq->epoch);
		if (rc < 0)
			return moved;
		if (rc == 0) {
			/* keep it (its guest buffers stay valid until we complete it) */
			memcpy(bq->waiting_iov, c.iov, (size_t)(c.nr_readable + c.nr_writable) *
			       sizeof(struct iovec));
			bq->waiting = c;
			bq->waiting.iov = bq->waiting_iov;
			bq->waiting_epoch = vq->epoch;
			bq->has_waiting = true;
			p->stats.bounce_full_waits++;
			log_window_full(p);
			return moved;
		}
		moved++;
	}
}

/*
 * Tell the back-end about what was put on its ring since the last kick:
 * with EVENT_IDX only if its avail_event lies among the new entries (a
 * back-end busy in a window of its own leaves it behind and picks new
 * requests up by itself), else always.
 */
static void kick_backend(struct vu_proxy *p, struct bounce_queue *bq, bool always)
{
	uint16_t old = bq->kicked_idx, event;
	uint64_t one = 1;

	bq->kicked_idx = bq->avail_idx;
	if (bq->event_idx && !always) {
		/* our avail->idx store before reading its wish (it does the reverse) */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		event = __atomic_load_n(virtq_avail_event(bq->used, bq->size), __ATOMIC_RELAXED);
		if ((uint16_t)(bq->avail_idx - event - 1) >= (uint16_t)(bq->avail_idx - old))
			return;
	}
	p->stats.backend_kicks++;
	if (write(bq->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error("vhost-user", "cannot kick the back-end: %s", strerror(errno));
}

/*
 * With EVENT_IDX, tell the back-end when to call (used_event): in an open
 * window only when it has finished everything it was given (the window's
 * timer takes what it finished before; the relay's busy rule needs that
 * count), else at its next completion.  True if it got there already,
 * before it could see the new wish: take its completions now.
 */
static bool want_call(struct bounce_queue *bq)
{
	uint16_t event, used;

	if (!bq->event_idx || !bq->running)
		return false;
	event = bq->coal.open ? (uint16_t)(bq->avail_idx - 1) : bq->last_used;
	__atomic_store_n(virtq_used_event(bq->avail, bq->size), event, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	used = __atomic_load_n(&bq->used->idx, __ATOMIC_ACQUIRE);
	/* used entries past event (nothing in flight: event is behind, never reached) */
	return bq->avail_idx != bq->last_used &&
	       (uint16_t)(used - bq->last_used) > (uint16_t)(event - bq->last_used);
}

/* In a coalescing window: relay what the guest queued, counted in the window. */
static void window_take(struct vu_proxy *p, struct bounce_queue *bq, struct virtqueue *vq)
{
	unsigned n = relay_available(p, bq, vq);

	coalesce_took(&bq->coal, n);
	if (n)
		kick_backend(p, bq, false);
}

void bounce_guest_kick(struct vu_proxy *p, struct virtqueue *vq)
{
	struct bounce_queue *bq = vq->index < VIRTIO_MAX_QUEUES ? p->bq[vq->index] : NULL;
	bool moved = false;

	if (!bq || !bq->running || p->fe.sock < 0)
		return;
	if (coalesce_kick(&bq->coal)) {
		/* a window: kicks stay off, the interrupt waits (see the top of the file) */
		virtq_disable_notify(vq);
		window_take(p, bq, vq);
		if (coalesce_open(&bq->coal))
			return;
		/* no timer: serve it the plain way */
	}
	for (;;) {
		virtq_disable_notify(vq);
		moved |= relay_available(p, bq, vq) > 0;
		if (bq->has_waiting || !virtio_device_running(&p->dev)) {
			virtq_enable_notify(vq);
			break;
		}
		if (!virtq_enable_notify(vq))
			break;
	}
	if (moved)
		kick_backend(p, bq, false);
}

/* ---- back-end -> guest ----------------------------------------------------- */

/* Give a finished request's descriptors and pages back. */
static void release_req(struct vu_proxy *p, struct bounce_queue *bq, uint16_t head)
{
	struct bounce_req *r = &bq->req[head];
	uint16_t d = head;

	for (unsigned i = 1; i < r->nr_desc; i++)
		d = bq->desc_next[d];
	bq->desc_next[d] = bq->free_head;  /* the chain's tail links to the old free list */
	bq->free_head = head;
	bq->nr_free = (uint16_t)(bq->nr_free + r->nr_desc);
	pages_mark(p, r->first_page, r->nr_pages, false);
	free(r->iov);
	*r = (struct bounce_req){ 0 };
}

/* Copy the writable part of a request from the window to the guest. */
static void copy_back(struct vu_proxy *p, const struct bounce_req *r)
{
	uint64_t off = r->win_writable_off;
	const struct iovec *wiov = r->iov + r->nr_readable;

	/*
	 * All of it, whatever length the back-end reported: in shared mode the
	 * back-end writes guest buffers directly, and a virtio-blk status byte
	 * must arrive even from a back-end that under-reports.
	 */
	for (unsigned i = 0; i < r->nr_writable; i++) {
		off = buf_place(off, &wiov[i]);
		memcpy(wiov[i].iov_base, p->win + off, wiov[i].iov_len);
		off += wiov[i].iov_len;
	}
	p->stats.bytes_from_backend += r->writable_len;
}

/*
 * Take what the back-end put on shadow ring bq's used ring to the guest's
 * ring (copies back, one used-index update).  True if any request finished
 * (the guest is then due an interrupt).  A back-end that breaks the rules
 * ends the session (what it completed correctly before still counts).
 */
static bool take_used(struct vu_proxy *p, struct bounce_queue *bq, struct virtqueue *vq)
{
	unsigned ndone = 0;
	bool pushed = false;

	uint16_t used_idx = __atomic_load_n(&bq->used->idx, __ATOMIC_ACQUIRE);
	if ((uint16_t)(used_idx - bq->last_used) > bq->size - bq->nr_free) {
		p->stats.backend_errors++;
		proxy_disconnected(p, "moved its used index past the requests it was given");
		return false;
	}
	while (bq->last_used != used_idx) {
		struct virtq_used_elem *e = &bq->used->ring[bq->last_used & (bq->size - 1)];
		uint32_t id = __atomic_load_n(&e->id, __ATOMIC_RELAXED);
		uint32_t len = __atomic_load_n(&e->len, __ATOMIC_RELAXED);
		if (id >= bq->size || !bq->req[id].busy) {
			p->stats.backend_errors++;
			proxy_disconnected(p, "completed a request it was not given");
			break;  /* the ones before it still go to the guest */
		}
		struct bounce_req *r = &bq->req[id];
		/*
		 * Only requests of the queue's current epoch go back to the guest:
		 * after a queue reset the buffers of older ones are the driver's again.
		 */
		if (r->epoch == vq->epoch && ndone < PROXY_QUEUE_MAX) {
			copy_back(p, r);
			bq->done_head[ndone] = r->guest_head;
			bq->done_len[ndone++] = len < r->writable_len ? len : (uint32_t)r->writable_len;
		}
		bq->last_used++;
		release_req(p, bq, (uint16_t)id);
		pushed = true;
	}
	/*
	 * One used-index update for everything this call completed: a net
	 * packet spread over several mergeable buffers must reach the guest
	 * whole (a polling driver would drop a partial one).
	 */
	if (ndone)
		virtq_push_many(vq, bq->done_head, bq->done_len, ndone);
	return pushed;
}

/* Completions were taken to the guest's ring: its interrupt, or the window's rules. */
static void completed(struct vu_proxy *p, struct bounce_queue *bq, struct virtqueue *vq)
{
	if (bq->coal.open) {
		/* the interrupt waits for the window's end; start what came meanwhile */
		if (bq->running)
			window_take(p, bq, vq);
		if (bq->nr_free == bq->size && !bq->has_waiting && !virtq_has_avail(vq)) {
			/* nothing left at the back-end: the driver waits for this interrupt */
			coalesce_end_idle(&bq->coal);
			virtio_notify_queue(&p->dev, vq);
			if (virtq_enable_notify(vq))
				bounce_guest_kick(p, vq);  /* raced with the driver: serve it */
		}
		return;
	}
	virtio_notify_queue(&p->dev, vq);
	/* Space was freed: relay what waited, and what the guest added meanwhile. */
	if (bq->has_waiting || virtq_has_avail(vq))
		bounce_guest_kick(p, vq);
}

/*
 * Take the back-end's completions, then tell it when to call next; again
 * if it got there before it could see that (want_call).
 */
static void take_completions(struct vu_proxy *p, struct bounce_queue *bq, struct virtqueue *vq)
{
	do {
		if (take_used(p, bq, vq))
			completed(p, bq, vq);
	} while (want_call(bq));
}

void bounce_backend_call(struct vu_proxy *p, unsigned q)
{
	struct bounce_queue *bq = q < VIRTIO_MAX_QUEUES ? p->bq[q] : NULL;
	struct virtqueue *vq = &p->dev.vqs[q < VIRTIO_MAX_QUEUES ? q : 0];
	uint64_t count;

	if (!bq)
		return;
	if (read(bq->call_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return;
	if (!bq->running || !vq->active)
		return;
	p->stats.backend_calls++;
	take_completions(p, bq, vq);
}

/* The window's timer: take what came, then hold, or interrupt and go on or close. */
static void window_timer(struct vu_proxy *p, struct bounce_queue *bq, struct virtqueue *vq)
{
	unsigned in_flight;
	bool running;

	running = bq->running && p->fe.sock >= 0 && vq->active && virtio_device_running(&p->dev);
	/*
	 * What the back-end finished but has not called about yet: a back-end
	 * that coalesces its own calls (capvm's blk does, for a guest it serves
	 * directly) would otherwise hold the window's completions for its own
	 * window too, and its busy rule would keep them back while the relay's
	 * rule sees nothing in flight.
	 */
	if (running && take_used(p, bq, vq)) {
		p->stats.timer_takes++;
		running = bq->running && p->fe.sock >= 0;
	}
	if (running)
		window_take(p, bq, vq);
	/* requests at the back-end: posted on the shadow ring, not yet used */
	in_flight = (uint16_t)(bq->avail_idx - bq->last_used);
	if (running && coalesce_hold(&bq->coal, in_flight))
		return;  /* busy: the completions wait for more */
	virtio_notify_queue(&p->dev, vq);  /* one interrupt for the whole window */
	if (coalesce_next(&bq->coal, running, in_flight))
		return;
	/* closed: kicks back on (a back-end that is away turns them on when it is back) */
	if (running && virtq_enable_notify(vq))
		bounce_guest_kick(p, vq);  /* raced with the driver: serve it */
}

/* Queue q's coalescing timer fired (I/O thread): the end of its window. */
void bounce_window_end(struct vu_proxy *p, unsigned q)
{
	struct bounce_queue *bq = q < VIRTIO_MAX_QUEUES ? p->bq[q] : NULL;
	struct virtqueue *vq = &p->dev.vqs[q < VIRTIO_MAX_QUEUES ? q : 0];

	if (!bq || !coalesce_expired(&bq->coal))
		return;
	window_timer(p, bq, vq);
	/* the window may have closed or moved on: when the back-end is to call now */
	if (vq->active && want_call(bq))
		take_completions(p, bq, vq);
}

