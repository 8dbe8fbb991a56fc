/*
 * virtio-blk (virtio 1.2 section 5.2): one request queue, a raw image file
 * served through io_uring, or a null backend that completes every request
 * without I/O (for benchmarks).
 *
 * A request is one descriptor chain:
 *   device-readable:  16-byte header {le32 type; le32 reserved; le64 sector}
 *                     then, for OUT/DISCARD/WRITE_ZEROES, the data
 *   device-writable:  for IN/GET_ID the data, then the 1-byte status
 * Framing is free: the header, data and status may be split over or share
 * descriptors, so the data is described by slicing the chain's buffers.
 *
 * Request life: the queue handler (I/O thread, on a kick) pops every
 * available chain, checks it (types, directions, lengths, sector ranges),
 * turns each valid one into one io_uring SQE and submits them all with a
 * single io_uring_submit.  Invalid requests complete at once with IOERR or
 * UNSUPP.  Completions arrive on io_uring's eventfd, which the I/O thread
 * polls; the handler writes the status byte, pushes the used entries and
 * interrupts the driver once per batch (if it wants one).
 *
 * Durability: a write completes to the guest only when io_uring reports the
 * write done; FLUSH is an fdatasync (IORING_FSYNC_DATASYNC) submitted after
 * every write the guest has seen complete, so it covers them.
 *
 * Interrupt coalescing (coalesce=USEC, on by default).  Each virtio-mmio
 * interrupt costs the guest about four VM exits (injection, InterruptStatus
 * read, InterruptACK write, EOI) and each kick one, so at queue depth > 1
 * the device batches: a kick opens a *window*, a timer of at most USEC
 * microseconds.  While it is open the device leaves the driver's kicks off
 * (EVENT_IDX: avail_event is not moved) and holds the used-buffer interrupt;
 * completions still go to the used ring at once.  When the timer fires the
 * device takes what the driver queued meanwhile and
 *   - while it is busy (more than a quarter of the deepest queue it has seen
 *     since it last ran idle is still in flight) holds the interrupt for
 *     another period, up to COALESCE_HOLD_WINDOWS × USEC in all: the driver
 *     refills its queue only when it sees completions, so they are signalled
 *     together while the device still has work;
 *   - otherwise raises one interrupt for everything completed, and if new
 *     requests came in the window or some are still in flight, opens
 *     another (twice as long, up to USEC): the device picks up new requests
 *     at each completion and timer, keep batching;
 *   - otherwise closes it (half as long next time) and turns kicks back on.
 * A driver that sends one request at a time (queue depth 1) only ever sees
 * quiet windows, so the window shrinks below COALESCE_MIN_US and the
 * device then serves the next COALESCE_PROBE_KICKS kicks at once, with
 * no added latency, before it tries a short window again.
 * Two rules keep the window from costing throughput when requests are long
 * (128 KiB sequential reads): each completion event also takes what the
 * driver queued since (no request waits for the timer to be started), and
 * a window ends at once, interrupt and kicks back on, when the device runs
 * idle (nothing in flight, nothing queued): the driver is then waiting for
 * this interrupt to send more, so holding it only adds latency.
 * The window's timer and length live in coalesce.c (the isolated vhost-user
 * relay uses the same rules).
 *
 * The image carries an OFD lock (read lock for ro, write lock for rw): a
 * second capvm opening it for writing gets a clear error.
 */
#include "virtio/blk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/fs.h>

#include "common/log.h"
#include "common/util.h"
#include "virtio/coalesce.h"
#include "virtio/virtio.h"

/* Feature bits (section 5.2.3) */
#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (section 5.2.6) */
#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK           0
#define VIRTIO_BLK_S_IOERR        1
#define VIRTIO_BLK_S_UNSUPP       2
#define VIRTIO_BLK_WZ_F_UNMAP     1

#define SECTOR_SIZE     512ULL
#define BLK_QUEUE_SIZE  256
#define BLK_SEG_MAX     126          /* data segments per request we accept */
#define BLK_CHAIN_MAX   (BLK_SEG_MAX + 2)  /* + header + status descriptors */
#define BLK_MAX_DISCARD_SECTORS 0x400000u  /* 2 GiB per discard/zeroes request */
#define NULL_DEFAULT_SIZE (1ULL << 30)

struct virtio_blk_config {
	uint64_t capacity;            /* in 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	struct { uint16_t cylinders; uint8_t heads; uint8_t sectors; } geometry;
	uint32_t blk_size;
	struct { uint8_t physical_block_exp, alignment_offset; uint16_t min_io_size;
		 uint32_t opt_io_size; } topology;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

/* Offsets fixed by the spec (section 5.2.4). */
_Static_assert(__builtin_offsetof(struct virtio_blk_config, blk_size) == 20, "blk_size");
_Static_assert(__builtin_offsetof(struct virtio_blk_config, num_queues) == 34, "num_queues");
_Static_assert(__builtin_offsetof(struct virtio_blk_config, max_discard_sectors) == 36, "discard");
_Static_assert(__builtin_offsetof(struct virtio_blk_config, write_zeroes_may_unmap) == 56, "wz");
_Static_assert(sizeof(struct virtio_blk_config) == 60, "config size");

struct blk_req_header {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct blk_discard_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

/* One request handed to io_uring; its slot index is the SQE's user_data. */
struct blk_req {
	struct virtqueue *vq;
	uint32_t vq_epoch;            /* vq->epoch when popped */
	uint16_t head;
	uint8_t type;
	uint8_t *status;              /* host pointer to the guest's status byte */
	uint32_t data_len;            /* bytes expected from the backend */
	uint64_t pos;                 /* byte offset in the image (IN/OUT) */
	uint16_t nseg;
	bool retried;                 /* resubmitted without O_DIRECT */
	struct iovec iov[BLK_SEG_MAX];
	struct blk_req *next_free;
};

struct blk {
	struct virtio_device dev;     /* first: the model is found from dev */
	struct blk_options opt;
	char name[32];                /* dev->name points here: callers pass stack buffers */
	struct virtio_blk_config config;
	uint64_t capacity;            /* sectors */
	int fd;                       /* image (-1 for the null backend) */
	int fd_buffered;              /* same image without O_DIRECT (fallback), or -1 */
	bool ring_ok;
	struct io_uring ring;
	int ring_efd;                 /* io_uring completion eventfd */
	unsigned pending_sqes;        /* prepared, not yet submitted */
	struct blk_req reqs[BLK_QUEUE_SIZE];
	struct blk_req *free_reqs;
	bool stalled;                 /* queue handler stopped: no free request slot */
	bool resetting;               /* draining for a reset: complete nothing */
	/* interrupt coalescing (see the top of the file) */
	struct coalesce coal;
	struct iovec chain_iov[BLK_CHAIN_MAX];
	struct virtio_blk_stats stats;
};

static struct blk *blk_of(struct virtio_device *dev) { return (struct blk *)dev; }

/* ---- option parsing ---------------------------------------------------- */

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

int virtio_blk_parse(const char *spec, struct blk_options *o, char *err, size_t errlen)
{
	char buf[PATH_MAX + 256], *save = NULL, *tok;
	bool first = true;

	memset(o, 0, sizeof(*o));
	o->cache = BLK_CACHE_WRITEBACK;
	o->coalesce_us = BLK_COALESCE_DEFAULT_US;
	if (!spec || !*spec)
		return fail(err, errlen, "empty disk specification (expected path[,ro]"
			    "[,serial=S][,cache=writeback|none][,discard=on|off])");
	if (strlen(spec) >= sizeof(buf))
		return fail(err, errlen, "disk specification too long");
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save), first = false) {
		char *val = strchr(tok, '=');

		if (first) {
			if (spec[0] == ',')
				break;  /* reported below: no path */
			if (strlen(tok) >= sizeof(o->path))
				return fail(err, errlen, "image path too long");
			strcpy(o->path, tok);
			o->null_backend = !strcmp(tok, "null");
			continue;
		}
		if (val)
			*val++ = '\0';
		if (!strcmp(tok, "ro") && !val) {
			o->readonly = true;
		} else if (!strcmp(tok, "serial") && val) {
			if (strlen(val) > VIRTIO_BLK_ID_BYTES)
				return fail(err, errlen, "serial '%s' is longer than %d characters",
					    val, VIRTIO_BLK_ID_BYTES);
			for (const char *p = val; *p; p++)
				if (*p < 0x20 || *p > 0x7e)
					return fail(err, errlen, "serial must be printable ASCII");
			strcpy(o->serial, val);
		} else if (!strcmp(tok, "cache") && val) {
			if (!strcmp(val, "writeback"))
				o->cache = BLK_CACHE_WRITEBACK;
			else if (!strcmp(val, "none"))
				o->cache = BLK_CACHE_NONE;
			else
				return fail(err, errlen, "cache=%s: expected writeback or none", val);
		} else if (!strcmp(tok, "discard") && val) {
			if (!strcmp(val, "on"))
				o->discard = true;
			else if (!strcmp(val, "off"))
				o->discard = false;
			else
				return fail(err, errlen, "discard=%s: expected on or off", val);
		} else if (!strcmp(tok, "coalesce") && val) {
			char *end;
			unsigned long us = strtoul(val, &end, 10);
			if (!*val || *end || us > BLK_COALESCE_MAX_US)
				return fail(err, errlen, "coalesce=%s: expected microseconds, 0 (off) to %d",
					    val, BLK_COALESCE_MAX_US);
			o->coalesce_us = (uint32_t)us;
		} else if (!strcmp(tok, "size") && val && o->null_backend) {
			if (parse_size(val, 1, &o->null_size) || o->null_size < SECTOR_SIZE)
				return fail(err, errlen, "size=%s: expected a size such as 4G", val);
		} else {
			return fail(err, errlen, "unknown option '%s%s%s' (expected ro, serial=, "
				    "cache=writeback|none, discard=on|off, coalesce=USEC)", tok, val ? "=" : "",
				    val ? val : "");
		}
	}
	if (!o->path[0])
		return fail(err, errlen, "no image path before the options");
	if (o->null_backend && !o->null_size)
		o->null_size = NULL_DEFAULT_SIZE;
	return 0;
}

/* ---- request processing ------------------------------------------------- */

/*
 * Describe bytes [off, off+len) of iov[0..n) in out[0..max).  Returns the
 * number of entries or -1 if they do not fit.
 */
static int iov_slice(const struct iovec *iov, unsigned n, uint64_t off, uint64_t len,
		     struct iovec *out, unsigned max)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n && len; i++) {
		uint64_t seg = iov[i].iov_len, chunk;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		chunk = seg - off < len ? seg - off : len;
		if (k == max)
			return -1;
		out[k].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[k].iov_len = chunk;
		k++;
		len -= chunk;
		off = 0;
	}
	return (int)k;
}

static void count_status(struct blk *b, uint8_t status)
{
	if (status == VIRTIO_BLK_S_IOERR)
		b->stats.errors++;
	else if (status == VIRTIO_BLK_S_UNSUPP)
		b->stats.unsupported++;
}

/* Complete a request now: status byte (if we found one) and used entry. */
static void complete_now(struct blk *b, struct virtqueue *vq, uint16_t head,
			 uint8_t *status, uint8_t value, uint32_t written)
{
	if (status) {
		__atomic_store_n(status, value, __ATOMIC_RELAXED);
		written++;
	}
	count_status(b, value);
	virtq_push(vq, head, status ? written : 0);
}

static bool range_ok(struct blk *b, uint64_t sector, uint64_t bytes)
{
	return bytes % SECTOR_SIZE == 0 && range_within(sector, bytes / SECTOR_SIZE, b->capacity);
}

static struct io_uring_sqe *get_sqe(struct blk *b)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

	if (!sqe) {  /* cannot happen (ring sized for every slot), but be safe */
		io_uring_submit(&b->ring);
		b->pending_sqes = 0;
		sqe = io_uring_get_sqe(&b->ring);
	}
	return sqe;
}

/* Check one popped chain and either complete it now or queue its SQE. */
static void handle_request(struct blk *b, struct virtqueue *vq, struct virtq_chain *c)
{
	struct blk_req_header hdr;
	struct blk_req *req;
	struct io_uring_sqe *sqe;
	uint8_t *status = NULL;
	uint64_t data_len;
	int nseg;

	/* The status byte is the last writable byte. */
	if (c->nr_writable && !c->truncated) {
		struct iovec *last = &c->iov[c->nr_readable + c->nr_writable - 1];
		status = (uint8_t *)last->iov_base + last->iov_len - 1;
	}
	if (!status || c->readable_len < sizeof(hdr)) {
		complete_now(b, vq, c->head, status, VIRTIO_BLK_S_IOERR, 0);
		return;
	}
	virtq_chain_read(c, 0, &hdr, sizeof(hdr));  /* copy once, use the copy */

	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		bool is_read = hdr.type == VIRTIO_BLK_T_IN;
		uint64_t pos;

		b->stats.reads += is_read;
		b->stats.writes += !is_read;
		if (is_read) {
			/* header only readable; data then status writable */
			data_len = c->writable_len - 1;
			if (c->readable_len != sizeof(hdr))
				goto ioerr;
		} else {
			data_len = c->readable_len - sizeof(hdr);
			if (c->writable_len != 1)
				goto ioerr;
			if (b->opt.readonly)
				goto ioerr;
		}
		if (!range_ok(b, hdr.sector, data_len) || data_len == 0)
			goto ioerr;
		pos = hdr.sector * SECTOR_SIZE;
		if (b->fd < 0) {  /* null backend */
			if (is_read)
				b->stats.bytes_read += data_len;
			else
				b->stats.bytes_written += data_len;
			complete_now(b, vq, c->head, status, VIRTIO_BLK_S_OK,
				     is_read ? (uint32_t)data_len : 0);
			return;
		}
		req = b->free_reqs;
		b->free_reqs = req->next_free;
		if (is_read)
			nseg = iov_slice(c->iov + c->nr_readable, c->nr_writable, 0, data_len,
					 req->iov, BLK_SEG_MAX);
		else
			nseg = iov_slice(c->iov, c->nr_readable, sizeof(hdr), data_len,
					 req->iov, BLK_SEG_MAX);
		if (nseg <= 0) {
			req->next_free = b->free_reqs;
			b->free_reqs = req;
			goto ioerr;
		}
		req->pos = pos;
		req->nseg = (uint16_t)nseg;
		req->retried = false;
		sqe = get_sqe(b);
		if (is_read)
			io_uring_prep_readv(sqe, b->fd, req->iov, (unsigned)nseg, pos);
		else
			io_uring_prep_writev(sqe, b->fd, req->iov, (unsigned)nseg, pos);
		break;
	}
	case VIRTIO_BLK_T_FLUSH:
		b->stats.flushes++;
		if (c->readable_len != sizeof(hdr) || c->writable_len != 1)
			goto ioerr;
		if (b->fd < 0) {
			complete_now(b, vq, c->head, status, VIRTIO_BLK_S_OK, 0);
			return;
		}
		data_len = 0;
		req = b->free_reqs;
		b->free_reqs = req->next_free;
		sqe = get_sqe(b);
		io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
		break;
	case VIRTIO_BLK_T_GET_ID: {
		char id[VIRTIO_BLK_ID_BYTES] = { 0 };
		size_t n;

		b->stats.get_ids++;
		if (c->readable_len != sizeof(hdr) || c->writable_len < 2)
			goto ioerr;
		memcpy(id, b->opt.serial, strnlen(b->opt.serial, sizeof(id)));
		n = c->writable_len - 1 < sizeof(id) ? c->writable_len - 1 : sizeof(id);
		virtq_chain_write(c, 0, id, n);
		complete_now(b, vq, c->head, status, VIRTIO_BLK_S_OK, (uint32_t)n);
		return;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		bool discard = hdr.type == VIRTIO_BLK_T_DISCARD;
		struct blk_discard_seg seg;
		int mode;

		b->stats.discards += discard;
		b->stats.write_zeroes += !discard;
		if ((discard && !b->opt.discard) || b->opt.readonly) {
			complete_now(b, vq, c->head, status, VIRTIO_BLK_S_UNSUPP, 0);
			return;
		}
		/* We advertise max_*_seg = 1: exactly one segment. */
		if (c->readable_len != sizeof(hdr) + sizeof(seg) || c->writable_len != 1)
			goto ioerr;
		virtq_chain_read(c, sizeof(hdr), &seg, sizeof(seg));
		if ((discard && seg.flags) || (!discard && (seg.flags & ~VIRTIO_BLK_WZ_F_UNMAP))) {
			complete_now(b, vq, c->head, status, VIRTIO_BLK_S_UNSUPP, 0);
			return;
		}
		if (seg.num_sectors > BLK_MAX_DISCARD_SECTORS ||
		    !range_within(seg.sector, seg.num_sectors, b->capacity))
			goto ioerr;
		if (b->fd < 0 || seg.num_sectors == 0) {
			complete_now(b, vq, c->head, status, VIRTIO_BLK_S_OK, 0);
			return;
		}
		mode = discard || ((seg.flags & VIRTIO_BLK_WZ_F_UNMAP) && b->opt.discard)
			? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
			: FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
		data_len = 0;
		req = b->free_reqs;
		b->free_reqs = req->next_free;
		sqe = get_sqe(b);
		io_uring_prep_fallocate(sqe, b->fd, mode, seg.sector * SECTOR_SIZE,
					(uint64_t)seg.num_sectors * SECTOR_SIZE);
		break;
	}
	default:
		complete_now(b, vq, c->head, status, VIRTIO_BLK_S_UNSUPP, 0);
		return;
	}

	req->vq = vq;
	req->vq_epoch = vq->epoch;
	req->head = c->head;
	req->type = (uint8_t)hdr.type;
	req->status = status;
	req->data_len = (uint32_t)data_len;
	io_uring_sqe_set_data(sqe, req);
	b->pending_sqes++;
	b->stats.in_flight++;
	return;
ioerr:
	complete_now(b, vq, c->head, status, VIRTIO_BLK_S_IOERR, 0);
}

/* Pop and start (or complete) every request the driver has made available. */
static unsigned take_requests(struct blk *b, struct virtqueue *vq)
{
	struct virtq_chain c = { .iov = b->chain_iov, .max_iov = BLK_CHAIN_MAX };
	unsigned n = 0;

	for (;;) {
		/*
		 * Each request to a real backend needs a slot.  A driver that
		 * re-offers in-flight heads could run us out: then stop here
		 * and resume when completions free slots.
		 */
		b->stalled = b->fd >= 0 && !b->free_reqs;
		if (b->stalled || virtq_pop(vq, &c) != 1)
			break;
		handle_request(b, vq, &c);
		n++;
	}
	return n;
}

static void submit_pending(struct blk *b)
{
	if (b->pending_sqes) {
		io_uring_submit(&b->ring);  /* one system call for the whole batch */
		b->pending_sqes = 0;
	}
}

/* While a window is open: take (and submit) what the driver queued, counted as new. */
static void window_take(struct blk *b, struct virtqueue *vq)
{
	unsigned n = take_requests(b, vq);

	submit_pending(b);
	coalesce_took(&b->coal, n);
}

static void blk_queue_notify(struct virtio_device *dev, struct virtqueue *vq)
{
	struct blk *b = blk_of(dev);
	bool more;

	if (coalesce_kick(&b->coal)) {
		/* coalescing: kicks stay off and the interrupt waits for the timer */
		virtq_disable_notify(vq);
		window_take(b, vq);
		if (coalesce_open(&b->coal))
			return;
		/* timer failed: fall through, interrupt now */
	}
	do {
		virtq_disable_notify(vq);
		take_requests(b, vq);
		more = !b->stalled && virtq_enable_notify(vq);
	} while (more);
	submit_pending(b);
	virtio_notify_queue(dev, vq);
}

/* Turn one CQE into a completed request. */
static void complete_cqe(struct blk *b, struct io_uring_cqe *cqe)
{
	struct blk_req *req = io_uring_cqe_get_data(cqe);
	uint8_t status = VIRTIO_BLK_S_OK;
	uint32_t written = 0;
	int res = cqe->res;

	if (b->resetting)
		goto done;
	/*
	 * O_DIRECT needs sector-aligned guest buffers; if the kernel refuses a
	 * request, redo it through the page cache rather than fail the guest.
	 */
	if (res == -EINVAL && b->fd_buffered >= 0 && !req->retried &&
	    (req->type == VIRTIO_BLK_T_IN || req->type == VIRTIO_BLK_T_OUT)) {
		struct io_uring_sqe *sqe = get_sqe(b);

		req->retried = true;
		log_debug(b->dev.name, "O_DIRECT refused a request (unaligned buffer?), "
			  "retrying it through the page cache");
		if (req->type == VIRTIO_BLK_T_IN)
			io_uring_prep_readv(sqe, b->fd_buffered, req->iov, req->nseg, req->pos);
		else
			io_uring_prep_writev(sqe, b->fd_buffered, req->iov, req->nseg, req->pos);
		io_uring_sqe_set_data(sqe, req);
		b->pending_sqes++;
		return;
	}
	if (res < 0 || (req->data_len && (uint32_t)res != req->data_len)) {
		status = VIRTIO_BLK_S_IOERR;
		log_warn(b->dev.name, "%s request failed: %s", req->type == VIRTIO_BLK_T_IN ? "read" :
			 req->type == VIRTIO_BLK_T_OUT ? "write" : "flush/discard",
			 res < 0 ? strerror(-res) : "short transfer");
	} else if (req->type == VIRTIO_BLK_T_IN) {
		written = req->data_len;
		b->stats.bytes_read += req->data_len;
	} else if (req->type == VIRTIO_BLK_T_OUT) {
		b->stats.bytes_written += req->data_len;
	}
	/* A queue taken away (or reset and set up again) meanwhile gets nothing. */
	if (req->vq->active && req->vq->epoch == req->vq_epoch)
		complete_now(b, req->vq, req->head, req->status, status, written);
done:
	b->stats.in_flight--;
	req->next_free = b->free_reqs;
	b->free_reqs = req;
}

/* Reap all available completions; returns the number reaped. */
static unsigned reap(struct blk *b)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&b->ring, head, cqe) {
		complete_cqe(b, cqe);
		n++;
	}
	io_uring_cq_advance(&b->ring, n);
	submit_pending(b);  /* O_DIRECT retries */
	return n;
}

/*
 * Close the open window: disarm its timer, one interrupt for what completed,
 * kicks back on (serving a driver that queued meanwhile).  For a window that
 * ends because the device ran idle; the window's length stays as it is.
 */
static void window_close_idle(struct blk *b, struct virtqueue *vq)
{
	coalesce_end_idle(&b->coal);
	virtio_notify_queue(&b->dev, vq);
	if (virtq_enable_notify(vq))
		blk_queue_notify(&b->dev, vq);  /* raced with the driver: serve it */
}

/* io_uring's eventfd fired (I/O thread, dev->lock held). */
static void blk_completion(struct virtio_device *dev, void *opaque)
{
	struct blk *b = blk_of(dev);
	struct virtqueue *vq = &dev->vqs[0];
	bool running = vq->active && virtio_device_running(dev);

	(void)opaque;
	counter_fd_take(b->ring_efd);
	if (!reap(b))
		return;
	if (b->stalled && running) {
		blk_queue_notify(dev, vq);  /* slots are free again: resume */
	} else if (!b->coal.open) {
		virtio_notify_queue(dev, vq);
	} else if (running) {
		window_take(b, vq);  /* start what came meanwhile, without waiting for the timer */
		if (!b->stats.in_flight && !b->stalled)
			window_close_idle(b, vq);
	}
}

/* The coalescing window's timer fired (I/O thread, dev->lock held). */
static void blk_window_end(struct virtio_device *dev, void *opaque)
{
	struct blk *b = blk_of(dev);
	struct virtqueue *vq = &dev->vqs[0];
	bool running = vq->active && virtio_device_running(dev);

	(void)opaque;
	if (!coalesce_expired(&b->coal))
		return;
	if (b->ring_ok)
		reap(b);
	if (running)
		window_take(b, vq);
	if (running && coalesce_hold(&b->coal, b->stats.in_flight))
		return;  /* busy: the completions wait for more */
	virtio_notify_queue(dev, vq);  /* one interrupt for the whole window */
	if (coalesce_next(&b->coal, running, b->stats.in_flight))
		return;
	if (running && virtq_enable_notify(vq))
		blk_queue_notify(dev, vq);  /* raced with the driver: serve it */
}

/* ---- device ops ----------------------------------------------------------- */

static void blk_config_read(struct virtio_device *dev, uint32_t off, void *data, uint32_t len)
{
	struct blk *b = blk_of(dev);
	virtio_config_copy(&b->config, sizeof(b->config), off, data, len);
}

/* Driver reset: wait for in-flight I/O (it writes guest memory), drop it. */
static void blk_reset(struct virtio_device *dev)
{
	struct blk *b = blk_of(dev);

	b->resetting = true;
	while (b->ring_ok && b->stats.in_flight) {
		struct io_uring_cqe *cqe;

		submit_pending(b);
		if (io_uring_wait_cqe(&b->ring, &cqe) < 0)
			break;
		reap(b);
	}
	b->resetting = false;
	b->stalled = false;
	coalesce_reset(&b->coal);
}

static void blk_destroy(struct virtio_device *dev)
{
	struct blk *b = blk_of(dev);

	if (b->ring_ok)
		io_uring_queue_exit(&b->ring);
	if (b->ring_efd >= 0)
		close(b->ring_efd);
	coalesce_destroy(&b->coal);
	if (b->fd >= 0)
		close(b->fd);
	if (b->fd_buffered >= 0)
		close(b->fd_buffered);
	free(b);
}

static const struct virtio_device_ops blk_ops = {
	.queue_notify = blk_queue_notify,
	.config_read = blk_config_read,
	.reset = blk_reset,
	.destroy = blk_destroy,
};

/*
 * Grow the disk (monitor block_resize): a regular file is extended to the
 * new size (sparse), a block device must already be that large.  The new
 * capacity goes into config space and the driver gets a configuration
 * change interrupt; Linux's virtio_blk then re-reads the capacity.
 * Shrinking is refused: the guest may have data past the new end.
 */
int virtio_blk_resize(struct virtio_device *dev, uint64_t bytes, char *err, size_t errlen)
{
	struct blk *b;
	struct stat st;
	uint64_t have;
	int rc = -1;

	if (dev->ops != &blk_ops)
		return fail(err, errlen, "not a virtio-blk device of this VMM");
	b = blk_of(dev);
	if (bytes == 0 || bytes % SECTOR_SIZE)
		return fail(err, errlen, "size %llu is not a positive multiple of 512 bytes",
			    (unsigned long long)bytes);
	pthread_mutex_lock(&dev->lock);
	if (b->opt.readonly) {
		fail(err, errlen, "%s is read-only", b->name);
		goto out;
	}
	if (bytes / SECTOR_SIZE < b->capacity) {
		fail(err, errlen, "shrinking %s from %llu to %llu bytes is not supported (the guest "
		     "may have data past the new end)", b->name,
		     (unsigned long long)(b->capacity * SECTOR_SIZE), (unsigned long long)bytes);
		goto out;
	}
	if (!b->opt.null_backend) {
		if (fstat(b->fd, &st) < 0) {
			fail(err, errlen, "cannot stat %s: %s", b->opt.path, strerror(errno));
			goto out;
		}
		if (S_ISBLK(st.st_mode)) {
			if (ioctl(b->fd, BLKGETSIZE64, &have) < 0 || have < bytes) {
				fail(err, errlen, "block device %s is smaller than %llu bytes", b->opt.path,
				     (unsigned long long)bytes);
				goto out;
			}
		} else if ((uint64_t)st.st_size < bytes &&
			   (bytes > (uint64_t)INT64_MAX || ftruncate(b->fd, (off_t)bytes) < 0)) {
			fail(err, errlen, "cannot grow %s to %llu bytes: %s", b->opt.path,
			     (unsigned long long)bytes, strerror(errno));
			goto out;
		}
	}
	rc = 0;
	if (bytes / SECTOR_SIZE == b->capacity)
		goto out;
	log_info(b->name, "resized from %llu to %llu bytes", (unsigned long long)(b->capacity * SECTOR_SIZE),
		 (unsigned long long)bytes);
	b->capacity = bytes / SECTOR_SIZE;
	b->config.capacity = b->capacity;
	virtio_config_changed(dev);
out:
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

const struct virtio_blk_stats *virtio_blk_stats(const struct virtio_device *dev)
{
	/* a block device served elsewhere (vhost-user proxy) has no model here */
	if (dev->ops != &blk_ops)
		return NULL;
	return &((const struct blk *)dev)->stats;
}

/* ---- construction ----------------------------------------------------------- */

static int open_image(struct blk *b, char *err, size_t errlen)
{
	const struct blk_options *o = &b->opt;
	int flags = (o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct flock lk = { .l_type = o->readonly ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET };
	struct stat st;
	uint64_t size;

	if (o->cache == BLK_CACHE_NONE) {
		b->fd = open(o->path, flags | O_DIRECT);
		if (b->fd < 0 && errno == EINVAL)
			log_warn(b->dev.name, "%s: file system refuses O_DIRECT, using cache=writeback",
				 o->path);
	}
	if (b->fd < 0)
		b->fd = open(o->path, flags);
	else
		b->fd_buffered = open(o->path, flags);  /* for unaligned requests */
	if (b->fd < 0)
		return fail(err, errlen, "cannot open disk image %s: %s", o->path, strerror(errno));
	if (fcntl(b->fd, F_OFD_SETLK, &lk) < 0) {
		if (errno == EAGAIN || errno == EACCES)
			return fail(err, errlen, "disk image %s is in use by another process "
				    "(locked for %s)", o->path, o->readonly ? "writing" : "reading or writing");
		return fail(err, errlen, "cannot lock disk image %s: %s", o->path, strerror(errno));
	}
	if (fstat(b->fd, &st) < 0)
		return fail(err, errlen, "cannot stat disk image %s: %s", o->path, strerror(errno));
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &size) < 0)
			return fail(err, errlen, "cannot get the size of %s: %s", o->path, strerror(errno));
	} else if (S_ISREG(st.st_mode)) {
		size = (uint64_t)st.st_size;
	} else {
		return fail(err, errlen, "disk image %s is not a regular file or block device", o->path);
	}
	if (size % SECTOR_SIZE)
		log_warn(b->dev.name, "%s: size %llu is not a multiple of 512; the last %llu bytes "
			 "are not visible", o->path, (unsigned long long)size,
			 (unsigned long long)(size % SECTOR_SIZE));
	b->capacity = size / SECTOR_SIZE;
	if (b->capacity == 0)
		return fail(err, errlen, "disk image %s is smaller than one 512-byte sector", o->path);
	return 0;
}

/*
 * io_uring with its completion eventfd, restricted to the operations this
 * model submits (IORING_REGISTER_RESTRICTIONS): a sandboxed back-end's
 * seccomp filter does not see io_uring operations, so without this a
 * compromised back-end could open files or sockets through the ring.
 */
static int setup_ring(struct blk *b, char *err, size_t errlen)
{
	static const uint8_t allowed_ops[] = { IORING_OP_READV, IORING_OP_WRITEV,
					       IORING_OP_FSYNC, IORING_OP_FALLOCATE };
	struct io_uring_restriction res[sizeof(allowed_ops)];
	bool restricted = true;

	if (io_uring_queue_init(BLK_QUEUE_SIZE, &b->ring, IORING_SETUP_R_DISABLED) < 0) {
		restricted = false;  /* a kernel before 5.10 */
		if (io_uring_queue_init(BLK_QUEUE_SIZE, &b->ring, 0) < 0)
			return fail(err, errlen, "cannot set up io_uring for %s", b->opt.path);
	}
	b->ring_ok = true;
	b->ring_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->ring_efd < 0 || io_uring_register_eventfd(&b->ring, b->ring_efd) < 0)
		return fail(err, errlen, "cannot set up io_uring completion eventfd");
	if (!restricted) {
		log_warn(b->dev.name, "io_uring without operation restrictions (kernel too old)");
		return 0;
	}
	memset(res, 0, sizeof(res));
	for (size_t i = 0; i < sizeof(allowed_ops); i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = allowed_ops[i];
	}
	/*
	 * No register operation is listed: none is allowed from now on.  Raw
	 * system calls: Debian's liburing 2.3 leaves io_uring_register_restrictions()
	 * and io_uring_enable_rings() out of its shared library's symbol map.
	 */
	if (syscall(__NR_io_uring_register, b->ring.ring_fd, IORING_REGISTER_RESTRICTIONS,
		    res, (unsigned)sizeof(allowed_ops)) < 0 ||
	    syscall(__NR_io_uring_register, b->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS,
		    NULL, 0) < 0)
		return fail(err, errlen, "cannot restrict io_uring to block operations");
	return 0;
}

struct virtio_device *virtio_blk_create(const struct blk_options *o, const struct guest_mem *mem,
					const char *name, char *err, size_t errlen)
{
	struct blk *b = calloc(1, sizeof(*b));
	struct virtio_device *dev;
	struct virtio_blk_config *cfg;

	if (!b) {
		fail(err, errlen, "out of memory");
		return NULL;
	}
	b->opt = *o;
	b->fd = b->fd_buffered = b->ring_efd = b->coal.timer_fd = -1;
	dev = &b->dev;
	snprintf(b->name, sizeof(b->name), "%s", name ? name : "blk");
	dev->name = b->name;
	dev->device_id = VIRTIO_ID_BLOCK;
	dev->config_size = sizeof(b->config);
	dev->nr_queues = 1;
	dev->queue_max_size = BLK_QUEUE_SIZE;
	dev->ops = &blk_ops;
	dev->mem = mem;
	dev->priv = b;

	if (o->null_backend) {
		b->capacity = o->null_size / SECTOR_SIZE;
	} else {
		if (open_image(b, err, errlen))
			goto fail;
		if (setup_ring(b, err, errlen) < 0)
			goto fail;
		dev->fds[0] = (struct virtio_fd_handler){ .fd = b->ring_efd, .events = 0x001 /* EPOLLIN */,
							  .handler = blk_completion };
		dev->nr_fds = 1;
	}
	if (coalesce_init(&b->coal, o->coalesce_us, &b->stats.windows, &b->stats.window_requests,
			  &b->stats.idle_window_ends, &b->stats.held_windows)) {
		fail(err, errlen, "cannot create the coalescing timer: %s", strerror(errno));
		goto fail;
	}
	if (coalesce_fd(&b->coal) >= 0)
		dev->fds[dev->nr_fds++] = (struct virtio_fd_handler){
			.fd = coalesce_fd(&b->coal), .events = 0x001 /* EPOLLIN */, .handler = blk_window_end };
	for (int i = 0; i < BLK_QUEUE_SIZE; i++) {
		b->reqs[i].next_free = b->free_reqs;
		b->free_reqs = &b->reqs[i];
	}

	dev->host_features = VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
			     VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
	if (o->readonly)
		dev->host_features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	else
		dev->host_features |= VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	if (o->discard && !o->readonly)
		dev->host_features |= VIRTIO_BIT(VIRTIO_BLK_F_DISCARD);

	cfg = &b->config;
	cfg->capacity = b->capacity;
	cfg->seg_max = BLK_SEG_MAX;
	cfg->blk_size = 512;
	cfg->num_queues = 1;
	cfg->max_discard_sectors = BLK_MAX_DISCARD_SECTORS;
	cfg->max_discard_seg = 1;
	cfg->discard_sector_alignment = 1;
	cfg->max_write_zeroes_sectors = BLK_MAX_DISCARD_SECTORS;
	cfg->max_write_zeroes_seg = 1;
	cfg->write_zeroes_may_unmap = o->discard;

	if (virtio_device_init(dev)) {
		fail(err, errlen, "internal error: bad device parameters");
		goto fail;
	}
	log_info(name, "%s: %llu sectors%s%s%s, interrupt coalescing %s%.0u%s",
		 o->null_backend ? "null backend" : o->path,
		 (unsigned long long)b->capacity, o->readonly ? ", read-only" : "",
		 o->cache == BLK_CACHE_NONE ? ", cache=none" : "",
		 (dev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD)) ? ", discard" : "",
		 o->coalesce_us ? "up to " : "off", o->coalesce_us, o->coalesce_us ? " us" : "");
	return dev;
fail:
	blk_destroy(dev);
	return NULL;
}
