/*
 * Unit tests of vhost-user inflight tracking (src/backend/vu_inflight.c and
 * its tracker hooks in the virtqueue): the shared file's creation and the
 * checks on what a front-end hands back, a back-end "crash" with requests
 * taken but not completed (a second back-end state maps the same file and
 * must hand exactly those heads to the device again, oldest first, and
 * continue the avail ring after them), a crash between publishing
 * used->idx and clearing the flag (repaired, not redone), a tampered file,
 * GET/SET_INFLIGHT_FD through the back-end session with the blk model, and
 * capvm's front-end (vu_frontend) asking a back-end for an area over a
 * socketpair and handing it back.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/backend_blk.h"
#include "backend/vu_backend.h"
#include "backend/vu_frontend.h"
#include "backend/vu_inflight.h"
#include "common/log.h"
#include "test.h"
#include "virtio/virtio.h"

/* ---- a bare device with one queue, rings laid out by hand ---------------- */

#define QSIZE     8
#define RAM_GPA   0x10000ull
#define RAM_SIZE  0x10000u
#define DESC_OFF  0x0
#define AVAIL_OFF 0x1000
#define USED_OFF  0x2000
#define BUF_OFF   0x3000

struct rig {
	struct virtio_device dev;
	struct guest_mem mem;
	uint8_t *ram;
	uint16_t avail_idx;
};

static void noop_notify(struct virtio_device *dev, struct virtqueue *vq) { }
static void noop_config(struct virtio_device *dev, uint32_t off, void *data, uint32_t len) { }
static const struct virtio_device_ops noop_ops = {
	.queue_notify = noop_notify, .config_read = noop_config,
};

static struct virtq_avail *avail_of(struct rig *g) { return (struct virtq_avail *)(g->ram + AVAIL_OFF); }
static struct virtq_used *used_of(struct rig *g) { return (struct virtq_used *)(g->ram + USED_OFF); }

static int rig_init(struct rig *g)
{
	memset(g, 0, sizeof(*g));
	g->ram = calloc(1, RAM_SIZE);
	if (!g->ram)
		return -1;
	guest_mem_add(&g->mem, RAM_GPA, RAM_SIZE, g->ram);
	g->dev.name = "inflight-test";
	g->dev.nr_queues = 1;
	g->dev.queue_max_size = QSIZE;
	g->dev.ops = &noop_ops;
	g->dev.mem = &g->mem;
	return virtio_device_init(&g->dev);
}

static void rig_free(struct rig *g)
{
	pthread_mutex_destroy(&g->dev.lock);
	free(g->ram);
}

/* (Re)start queue 0 as a new back-end would: activate, then take used->idx. */
static struct virtqueue *rig_activate(struct rig *g)
{
	struct virtqueue *vq = &g->dev.vqs[0];

	virtq_reset(vq);
	vq->size = QSIZE;
	vq->desc_gpa = RAM_GPA + DESC_OFF;
	vq->avail_gpa = RAM_GPA + AVAIL_OFF;
	vq->used_gpa = RAM_GPA + USED_OFF;
	vq->ready = true;
	if (virtq_activate(vq, QSIZE))
		return NULL;
	vq->used_idx = used_of(g)->idx;
	return vq;
}

/* The driver offers head h: one 16-byte writable buffer. */
static void rig_offer(struct rig *g, uint16_t h)
{
	struct virtq_desc *d = (struct virtq_desc *)(g->ram + DESC_OFF);

	d[h] = (struct virtq_desc){ RAM_GPA + BUF_OFF + 16u * h, 16, VIRTQ_DESC_F_WRITE, 0 };
	avail_of(g)->ring[g->avail_idx % QSIZE] = h;
	g->avail_idx++;
	__atomic_store_n(&avail_of(g)->idx, g->avail_idx, __ATOMIC_RELEASE);
}

static int pop_head(struct virtqueue *vq)
{
	struct iovec iov[4];
	struct virtq_chain c = { .iov = iov, .max_iov = 4 };

	return virtq_pop(vq, &c) == 1 ? c.head : -1;
}

/* A fresh inflight file for one queue of QSIZE, mapped into inf. */
static int inflight_setup(struct vu_inflight *inf, int *fd_out)
{
	/* The front-end announces 4; the driver's ring is larger (QSIZE), as with QEMU's virtio-mmio. */
	struct vhost_user_inflight d = { .num_queues = 1, .queue_size = 4 };
	char err[256];
	int fd = vu_inflight_create_fd(1, 4, 1, QSIZE, &d.mmap_size, err, sizeof(err));

	if (fd < 0) {
		printf("  create: %s\n", err);
		return -1;
	}
	memset(inf, 0, sizeof(*inf));
	if (vu_inflight_map(inf, fd, &d, 1, QSIZE, err, sizeof(err))) {
		printf("  map: %s\n", err);
		close(fd);
		return -1;
	}
	*fd_out = fd;
	return 0;
}

static int remap(struct vu_inflight *inf, int fd)
{
	struct vhost_user_inflight d = { .num_queues = 1, .queue_size = QSIZE,
					 .mmap_size = vu_inflight_queue_bytes(QSIZE) };
	char err[256];

	memset(inf, 0, sizeof(*inf));
	return vu_inflight_map(inf, fd, &d, 1, QSIZE, err, sizeof(err));
}

TEST(create_and_validate)
{
	struct vu_inflight inf = { 0 };
	struct vhost_user_inflight d = { .num_queues = 2, .queue_size = 128 };
	char err[256];
	int fd;

	CHECK_EQ(vu_inflight_queue_bytes(128), 16 + 16 * 128 + 48);  /* aligned to 64 */
	fd = vu_inflight_create_fd(2, 128, 8, 256, &d.mmap_size, err, sizeof(err));
	CHECK(fd >= 0);
	CHECK_EQ(d.mmap_size, 2 * vu_inflight_queue_bytes(256));  /* areas for the device's max */
	if (fd < 0)
		return;
	CHECK_EQ(vu_inflight_map(&inf, fd, &d, 8, 256, err, sizeof(err)), 0);
	CHECK(inf.map != NULL && inf.num_queues == 2 && inf.queue_size == 256);
	CHECK_EQ(vu_inflight_count(&inf, 0), 0);

	/* Shapes we refuse, at creation and when handed back. */
	uint64_t sz;
	CHECK_EQ(vu_inflight_create_fd(0, 128, 8, 256, &sz, err, sizeof(err)), -1);
	CHECK_EQ(vu_inflight_create_fd(9, 128, 8, 256, &sz, err, sizeof(err)), -1);
	CHECK_EQ(vu_inflight_create_fd(2, 100, 8, 256, &sz, err, sizeof(err)), -1);
	CHECK_EQ(vu_inflight_create_fd(2, 512, 8, 256, &sz, err, sizeof(err)), -1);
	CHECK_EQ(vu_inflight_create_fd(2, 0, 8, 256, &sz, err, sizeof(err)), -1);
	struct vhost_user_inflight bad = d;
	bad.num_queues = 3;                                 /* file too small for 3 */
	CHECK_EQ(vu_inflight_map(&inf, fd, &bad, 8, 256, err, sizeof(err)), -1);
	CHECK(inf.map == NULL);
	bad = d;
	bad.num_queues = 2;
	bad.mmap_offset = UINT64_MAX - 10;                  /* offset + size overflows */
	CHECK_EQ(vu_inflight_map(&inf, fd, &bad, 8, 256, err, sizeof(err)), -1);
	bad = d;
	bad.mmap_offset = 4096;                             /* beyond the end of the fd */
	CHECK_EQ(vu_inflight_map(&inf, fd, &bad, 8, 256, err, sizeof(err)), -1);
	bad = d;
	bad.mmap_size = UINT64_MAX;
	CHECK_EQ(vu_inflight_map(&inf, fd, &bad, 8, 256, err, sizeof(err)), -1);
	bad = d;
	bad.num_queues = 2;
	CHECK_EQ(vu_inflight_map(&inf, fd, &bad, 1, 256, err, sizeof(err)), -1);  /* device has 1 ring */
	close(fd);

	/* A file that is not sealed against shrinking could SIGBUS us. */
	fd = memfd_create("unsealed", MFD_CLOEXEC);
	CHECK(fd >= 0 && ftruncate(fd, (off_t)d.mmap_size) == 0);
	CHECK_EQ(vu_inflight_map(&inf, fd, &d, 8, 256, err, sizeof(err)), -1);
	close(fd);
	vu_inflight_unmap(&inf);
}

TEST(crash_resubmits_taken_heads)
{
	struct rig g;
	struct vu_inflight inf1, inf2;
	struct virtqueue *vq;
	uint16_t last_avail = 0xffff;
	char err[256];
	int fd = -1;

	if (rig_init(&g) || inflight_setup(&inf1, &fd)) {
		test_case_failed = 1;
		return;
	}
	vq = rig_activate(&g);
	CHECK(vq != NULL);
	CHECK_EQ(vu_inflight_ring_start(&inf1, 0, vq, QSIZE, vq->used_idx, &last_avail, err, sizeof(err)), 1);
	CHECK_EQ(last_avail, 0);
	vq->last_avail_idx = last_avail;
	for (uint16_t h = 0; h < 5; h++)
		rig_offer(&g, h);
	for (int i = 0; i < 5; i++)
		CHECK_EQ(pop_head(vq), i);
	CHECK_EQ(vu_inflight_count(&inf1, 0), 5);
	virtq_push(vq, 3, 16);                              /* completions out of order */
	virtq_push(vq, 1, 16);
	CHECK_EQ(vu_inflight_count(&inf1, 0), 3);
	CHECK_EQ(used_of(&g)->idx, 2);

	/* "Crash": inf1 is abandoned as it is; a new back-end maps the same file. */
	CHECK_EQ(remap(&inf2, fd), 0);
	vq = rig_activate(&g);
	CHECK_EQ(vu_inflight_ring_start(&inf2, 0, vq, QSIZE, vq->used_idx, &last_avail, err, sizeof(err)), 1);
	CHECK_EQ(last_avail, 5);                            /* used 2 + 3 taken */
	vq->last_avail_idx = last_avail;
	CHECK_EQ(pop_head(vq), 0);                          /* oldest first */
	CHECK_EQ(pop_head(vq), 2);
	CHECK_EQ(pop_head(vq), 4);
	CHECK_EQ(pop_head(vq), -1);                         /* nothing new: ring empty */
	rig_offer(&g, 5);
	CHECK_EQ(pop_head(vq), 5);
	CHECK_EQ(vu_inflight_count(&inf2, 0), 4);
	virtq_push(vq, 4, 16);
	virtq_push(vq, 0, 16);
	virtq_push(vq, 5, 16);
	virtq_push(vq, 2, 16);
	CHECK_EQ(vu_inflight_count(&inf2, 0), 0);
	CHECK_EQ(used_of(&g)->idx, 6);
	/* A third start after a clean stop has nothing to redo. */
	vu_inflight_ring_stop(&inf2, 0, vq);
	CHECK(vq->tracker == NULL);
	vq = rig_activate(&g);
	CHECK_EQ(vu_inflight_ring_start(&inf2, 0, vq, QSIZE, vq->used_idx, &last_avail, err, sizeof(err)), 1);
	CHECK_EQ(last_avail, 6);
	vu_inflight_unmap(&inf1);
	vu_inflight_unmap(&inf2);
	close(fd);
	rig_free(&g);
}

TEST(crash_after_used_index_is_repaired)
{
	struct rig g;
	struct vu_inflight inf1, inf2;
	struct virtqueue *vq;
	uint16_t last_avail;
	char err[256];
	int fd = -1;

	if (rig_init(&g) || inflight_setup(&inf1, &fd)) {
		test_case_failed = 1;
		return;
	}
	vq = rig_activate(&g);
	CHECK_EQ(vu_inflight_ring_start(&inf1, 0, vq, QSIZE, vq->used_idx, &last_avail, err, sizeof(err)), 1);
	vq->last_avail_idx = last_avail;
	rig_offer(&g, 6);
	rig_offer(&g, 2);
	CHECK_EQ(pop_head(vq), 6);
	CHECK_EQ(pop_head(vq), 2);
	/* Die after used->idx covers head 2 but before its flag is cleared. */
	struct virtq_tracker dying = *vq->tracker;
	dying.pushed = NULL;
	vq->tracker = &dying;
	virtq_push(vq, 2, 16);
	CHECK_EQ(used_of(&g)->idx, 1);
	CHECK_EQ(vu_inflight_count(&inf1, 0), 2);

	CHECK_EQ(remap(&inf2, fd), 0);
	vq = rig_activate(&g);
	CHECK_EQ(vu_inflight_ring_start(&inf2, 0, vq, QSIZE, vq->used_idx, &last_avail, err, sizeof(err)), 1);
	CHECK_EQ(vu_inflight_count(&inf2, 0), 1);           /* head 2 is done */
	CHECK_EQ(last_avail, 2);
	vq->last_avail_idx = last_avail;
	CHECK_EQ(pop_head(vq), 6);
	CHECK_EQ(pop_head(vq), -1);
	vu_inflight_unmap(&inf1);
	vu_inflight_unmap(&inf2);
	close(fd);
	rig_free(&g);
}

TEST(tampered_file)
{
	struct rig g;
	struct vu_inflight inf;
	struct virtqueue *vq;
	uint16_t last_avail = 0;
	char err[256];
	int fd = -1;

	if (rig_init(&g) || inflight_setup(&inf, &fd)) {
		test_case_failed = 1;
		return;
	}
	struct vu_inflight_queue *a = (struct vu_inflight_queue *)inf.base;
	vq = rig_activate(&g);
	/* Ring larger than the area: refused. */
	CHECK_EQ(vu_inflight_ring_start(&inf, 0, vq, QSIZE * 2, 0, &last_avail, err, sizeof(err)), -1);
	/* Wrong version or size in the header: refused. */
	a->version = 7;
	CHECK_EQ(vu_inflight_ring_start(&inf, 0, vq, QSIZE, 0, &last_avail, err, sizeof(err)), -1);
	a->version = VU_INFLIGHT_VERSION;
	a->desc_num = QSIZE * 4;
	CHECK_EQ(vu_inflight_ring_start(&inf, 0, vq, QSIZE, 0, &last_avail, err, sizeof(err)), -1);
	a->desc_num = QSIZE;
	/* Flags that are not 0/1, heads beyond a smaller ring, a bogus last_batch_head. */
	a->desc[1].inflight = 9;
	a->desc[7].inflight = 1;
	a->desc[3].inflight = 1;
	a->last_batch_head = 0xffff;
	a->used_idx = 1234;
	CHECK_EQ(vu_inflight_ring_start(&inf, 0, vq, 4, 0, &last_avail, err, sizeof(err)), 1);
	CHECK_EQ(last_avail, 1);                            /* only head 3 counts */
	CHECK_EQ(vu_inflight_count(&inf, 0), 1);
	CHECK_EQ(a->used_idx, 0);
	/* No area for this ring: untouched. */
	CHECK_EQ(vu_inflight_ring_start(&inf, 1, vq, QSIZE, 0, &last_avail, err, sizeof(err)), 0);
	vu_inflight_ring_stop(&inf, 0, vq);
	vu_inflight_unmap(&inf);
	close(fd);
	rig_free(&g);
}

/* ---- GET/SET_INFLIGHT_FD through the back-end session -------------------- */

static struct vhost_user_msg msg(uint32_t req, uint32_t size)
{
	struct vhost_user_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VHOST_USER_VERSION;
	m.hdr.size = size;
	return m;
}

TEST(session_messages)
{
	struct vhost_user_msg *m = calloc(1, sizeof(*m)), *r = calloc(1, sizeof(*r));
	struct blk_options o;
	struct vu_backend *vb = NULL;
	char image[64], err[256];
	int img;

	snprintf(image, sizeof(image), "/tmp/capvm-test-inflight-%d.img", (int)getpid());
	img = open(image, O_CREAT | O_RDWR | O_TRUNC, 0600);
	CHECK(img >= 0 && ftruncate(img, 1 << 20) == 0);
	close(img);
	if (!m || !r || virtio_blk_parse(image, &o, err, sizeof(err)) ||
	    !(vb = backend_blk_create(&o, err, sizeof(err)))) {
		printf("  setup: %s\n", err);
		test_case_failed = 1;
		goto out;
	}
	CHECK(VU_BACKEND_PROTOCOL_FEATURES & (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD));
	*m = msg(VHOST_USER_SET_PROTOCOL_FEATURES, 8);
	m->p.u64 = VU_BACKEND_PROTOCOL_FEATURES;
	CHECK_EQ(vu_backend_handle(vb, m, r, err, sizeof(err)), 0);

	*m = msg(VHOST_USER_GET_INFLIGHT_FD, sizeof(struct vhost_user_inflight));
	m->p.inflight.num_queues = 1;
	m->p.inflight.queue_size = 128;
	CHECK_EQ(vu_backend_handle(vb, m, r, err, sizeof(err)), 1);
	CHECK_EQ(r->hdr.size, 24);
	CHECK_EQ(r->nr_fds, 1);
	CHECK_EQ(r->p.inflight.mmap_size, vu_inflight_queue_bytes(vb->dev->queue_max_size));
	CHECK_EQ(r->p.inflight.mmap_offset, 0);
	int fd = r->nr_fds == 1 ? r->fds[0] : -1;
	struct vhost_user_inflight desc = r->p.inflight;

	/* Too many queues: a reply without an area, not a broken session. */
	*m = msg(VHOST_USER_GET_INFLIGHT_FD, sizeof(struct vhost_user_inflight));
	m->p.inflight.num_queues = 5;
	m->p.inflight.queue_size = 128;
	CHECK_EQ(vu_backend_handle(vb, m, r, err, sizeof(err)), 1);
	CHECK_EQ(r->p.inflight.mmap_size, 0);
	CHECK_EQ(r->nr_fds, 0);

	/* SET with the file: accepted (acked). */
	*m = msg(VHOST_USER_SET_INFLIGHT_FD, sizeof(struct vhost_user_inflight));
	m->hdr.flags |= VHOST_USER_FLAG_NEED_REPLY;
	m->p.inflight = desc;
	m->fds[0] = fd >= 0 ? dup(fd) : -1;
	m->nr_fds = 1;
	CHECK_EQ(vu_backend_handle(vb, m, r, err, sizeof(err)), 1);
	CHECK_EQ(r->p.u64, 0);
	CHECK(vb->inflight.map != NULL);

	/* SET claiming a larger area than the file: NACK, mapping dropped. */
	*m = msg(VHOST_USER_SET_INFLIGHT_FD, sizeof(struct vhost_user_inflight));
	m->hdr.flags |= VHOST_USER_FLAG_NEED_REPLY;
	m->p.inflight = desc;
	m->p.inflight.mmap_size = desc.mmap_size * 64;
	m->fds[0] = fd >= 0 ? dup(fd) : -1;
	m->nr_fds = 1;
	CHECK_EQ(vu_backend_handle(vb, m, r, err, sizeof(err)), 1);
	CHECK(r->p.u64 != 0);
	CHECK(vb->inflight.map == NULL);

	/* SET without an fd, or with a wrong payload size: the session ends. */
	*m = msg(VHOST_USER_SET_INFLIGHT_FD, sizeof(struct vhost_user_inflight));
	m->p.inflight = desc;
	CHECK_EQ(vu_backend_handle(vb, m, r, err, sizeof(err)), -1);
	*m = msg(VHOST_USER_GET_INFLIGHT_FD, 16);
	CHECK_EQ(vu_backend_handle(vb, m, r, err, sizeof(err)), -1);
	if (fd >= 0)
		close(fd);
out:
	backend_blk_destroy(vb);
	unlink(image);
	free(m);
	free(r);
}

/* ---- the front-end side over a socketpair --------------------------------- */

struct serve_arg {
	struct vu_backend *vb;
	int sock;
};

static void *serve_thread(void *p)
{
	struct serve_arg *a = p;
	vu_backend_serve(a->vb, a->sock);
	return NULL;
}

TEST(frontend_get_and_set)
{
	struct vu_frontend f = { .sock = -1 };
	struct vhost_user_inflight d;
	struct blk_options o;
	struct serve_arg arg = { 0 };
	pthread_t th;
	bool started = false;
	char image[64], err[256] = "";
	int sv[2] = { -1, -1 }, fd = -1, img;

	snprintf(image, sizeof(image), "/tmp/capvm-test-inflight-fe-%d.img", (int)getpid());
	img = open(image, O_CREAT | O_RDWR | O_TRUNC, 0600);
	CHECK(img >= 0 && ftruncate(img, 1 << 20) == 0);
	close(img);
	if (virtio_blk_parse(image, &o, err, sizeof(err)) || !(arg.vb = backend_blk_create(&o, err, sizeof(err))) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		printf("  setup: %s\n", err);
		test_case_failed = 1;
		goto out;
	}
	arg.sock = sv[1];
	started = pthread_create(&th, NULL, serve_thread, &arg) == 0;
	CHECK(started);
	CHECK_EQ(vu_frontend_attach(&f, sv[0], err, sizeof(err)), 0);
	CHECK(f.protocol_features & (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD));
	CHECK_EQ(vu_frontend_get_inflight(&f, 1, 128, &d, &fd, err, sizeof(err)), 0);
	CHECK(fd >= 0);
	CHECK_EQ(d.num_queues, 1);
	CHECK_EQ(d.queue_size, 128);
	CHECK(d.mmap_size >= vu_inflight_queue_bytes(128));
	if (fd >= 0) {
		CHECK_EQ(vu_frontend_set_inflight(&f, fd, &d, err, sizeof(err)), 0);
		/* A description larger than the file is refused (REPLY_ACK). */
		struct vhost_user_inflight big = d;
		big.mmap_size *= 64;
		CHECK_EQ(vu_frontend_set_inflight(&f, fd, &big, err, sizeof(err)), -1);
	}
	/* More queues than the device has: no area, not an error. */
	int fd2 = -2;
	CHECK_EQ(vu_frontend_get_inflight(&f, 4, 128, &d, &fd2, err, sizeof(err)), 0);
	CHECK_EQ(fd2, -1);
out:
	if (f.sock >= 0)
		vu_frontend_close(&f);     /* the back-end sees the end of the session */
	else if (sv[0] >= 0)
		close(sv[0]);
	if (started)
		pthread_join(th, NULL);
	if (sv[1] >= 0)
		close(sv[1]);
	if (fd >= 0)
		close(fd);
	backend_blk_destroy(arg.vb);
	unlink(image);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	RUN(create_and_validate);
	RUN(crash_resubmits_taken_heads);
	RUN(crash_after_used_index_is_repaired);
	RUN(tampered_file);
	RUN(session_messages);
	RUN(frontend_get_and_set);
	return test_exit();
}
