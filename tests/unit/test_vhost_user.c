/*
 * Unit tests of the vhost-user protocol layer (src/backend/vhost_user.c) and
 * the back-end session (src/backend/vu_backend.c): message validation
 * against hostile front-ends, framing over a socketpair with fd passing,
 * and a whole session driving capvm's virtio-blk model through a memfd
 * "guest RAM" -- a write request, a read request, the call eventfd firing
 * and GET_VRING_BASE reporting the ring position; the VMM's proxy device
 * in both memory modes, and isolated mode's replay after a back-end crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend/backend_blk.h"
#include "backend/vhost_user.h"
#include "backend/vu_frontend.h"
#include "backend/vu_proxy.h"
#include "cli/run_devices.h"
#include "common/log.h"
#include "common/util.h"
#include "test.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"
#include "virtio/virtio.h"

static struct vhost_user_msg msg(uint32_t req, uint32_t size)
{
	struct vhost_user_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VHOST_USER_VERSION;
	m.hdr.size = size;
	return m;
}

static int check(const struct vhost_user_msg *m)
{
	char err[256];
	return vhost_user_check_request(m, 1, err, sizeof(err));
}

TEST(check_header)
{
	struct vhost_user_msg m = msg(VHOST_USER_GET_FEATURES, 0);

	CHECK_EQ(check(&m), 0);
	m.hdr.flags = 2;                                  /* version 2 */
	CHECK_EQ(check(&m), -1);
	m.hdr.flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
	CHECK_EQ(check(&m), -1);
	m = msg(VHOST_USER_GET_FEATURES, 4);              /* odd payload */
	CHECK_EQ(check(&m), -1);
	m = msg(99, 0);                                   /* unknown request */
	CHECK_EQ(check(&m), -1);
	m = msg(VHOST_USER_SET_LOG_BASE, 8);              /* not offered */
	CHECK_EQ(check(&m), -1);
	m = msg(VHOST_USER_GET_FEATURES, 0);
	m.nr_fds = 1;                                     /* stray fd */
	m.fds[0] = -1;
	CHECK_EQ(check(&m), -1);
}

TEST(check_vring_messages)
{
	struct vhost_user_msg m = msg(VHOST_USER_SET_VRING_NUM, 8);

	m.p.state.index = 0;
	m.p.state.num = 128;
	CHECK_EQ(check(&m), 0);
	m.p.state.index = 1;                              /* only one ring */
	CHECK_EQ(check(&m), -1);
	m = msg(VHOST_USER_SET_VRING_NUM, 4);
	CHECK_EQ(check(&m), -1);
	m = msg(VHOST_USER_SET_VRING_BASE, 8);
	m.p.state.num = 70000;                            /* > 16 bits */
	CHECK_EQ(check(&m), -1);
	m = msg(VHOST_USER_SET_VRING_ENABLE, 8);
	m.p.state.num = 2;
	CHECK_EQ(check(&m), -1);
	m = msg(VHOST_USER_SET_VRING_ADDR, 40);
	CHECK_EQ(check(&m), 0);
	m.p.addr.index = 7;
	CHECK_EQ(check(&m), -1);
	m = msg(VHOST_USER_SET_VRING_ADDR, 32);
	CHECK_EQ(check(&m), -1);

	m = msg(VHOST_USER_SET_VRING_KICK, 8);
	m.p.u64 = 0;                                      /* ring 0, needs an fd */
	CHECK_EQ(check(&m), -1);
	m.nr_fds = 1;
	m.fds[0] = 0;
	CHECK_EQ(check(&m), 0);
	m.p.u64 = VHOST_USER_VRING_NOFD;                  /* no fd announced, one sent */
	CHECK_EQ(check(&m), -1);
	m.nr_fds = 0;
	CHECK_EQ(check(&m), 0);
	m.p.u64 = 1ull << 40;                             /* unknown bits */
	CHECK_EQ(check(&m), -1);
	m.p.u64 = 5 | VHOST_USER_VRING_NOFD;              /* ring 5 */
	CHECK_EQ(check(&m), -1);
}

static struct vhost_user_msg mem_table(uint32_t n)
{
	struct vhost_user_msg m = msg(VHOST_USER_SET_MEM_TABLE,
				      VHOST_USER_MEM_TABLE_HDR_SIZE + 32 * (n > 8 ? 8 : n));
	m.p.mem.nregions = n;
	for (uint32_t i = 0; i < n && i < 8; i++) {
		m.p.mem.regions[i].guest_phys_addr = (uint64_t)i << 32;
		m.p.mem.regions[i].memory_size = 1 << 20;
		m.p.mem.regions[i].userspace_addr = 0x7f0000000000ull + ((uint64_t)i << 32);
		m.p.mem.regions[i].mmap_offset = 0;
		m.fds[i] = 0;
	}
	m.nr_fds = (int)(n > 8 ? 8 : n);
	return m;
}

TEST(check_mem_table)
{
	struct vhost_user_msg m = mem_table(2);

	CHECK_EQ(check(&m), 0);
	m = mem_table(8);
	CHECK_EQ(check(&m), 0);
	m = mem_table(9);                                 /* too many regions */
	CHECK_EQ(check(&m), -1);
	m = mem_table(0);
	CHECK_EQ(check(&m), -1);
	m = mem_table(2);
	m.nr_fds = 1;                                     /* fd count mismatch */
	CHECK_EQ(check(&m), -1);
	m = mem_table(2);
	m.hdr.size += 32;                                 /* size mismatch */
	CHECK_EQ(check(&m), -1);
	m = mem_table(1);
	m.p.mem.regions[0].memory_size = 0;
	CHECK_EQ(check(&m), -1);
	m = mem_table(1);
	m.p.mem.regions[0].guest_phys_addr = UINT64_MAX - 10;   /* wraps */
	CHECK_EQ(check(&m), -1);
	m = mem_table(1);
	m.p.mem.regions[0].mmap_offset = UINT64_MAX - 100;
	CHECK_EQ(check(&m), -1);
	m = mem_table(1);
	m.p.mem.regions[0].userspace_addr = UINT64_MAX;
	CHECK_EQ(check(&m), -1);
	m = mem_table(2);
	m.p.mem.regions[1].guest_phys_addr = 4096;        /* overlaps region 0 */
	CHECK_EQ(check(&m), -1);
	m = mem_table(2);
	m.p.mem.regions[1].userspace_addr = m.p.mem.regions[0].userspace_addr + 4096;
	CHECK_EQ(check(&m), -1);
}

TEST(check_config)
{
	struct vhost_user_msg m = msg(VHOST_USER_GET_CONFIG, VHOST_USER_CONFIG_HDR_SIZE + 60);

	m.p.config.size = 60;
	CHECK_EQ(check(&m), 0);
	m.p.config.offset = 200;                          /* 200 + 60 > 256 */
	CHECK_EQ(check(&m), -1);
	m.p.config.offset = UINT32_MAX;                   /* overflow */
	CHECK_EQ(check(&m), -1);
	m = msg(VHOST_USER_GET_CONFIG, VHOST_USER_CONFIG_HDR_SIZE + 60);
	m.p.config.size = 300;
	CHECK_EQ(check(&m), -1);
	m.p.config.size = 10;                             /* size != payload */
	CHECK_EQ(check(&m), -1);
	m = msg(VHOST_USER_GET_CONFIG, 8);
	CHECK_EQ(check(&m), -1);
}

TEST(framing_with_fds)
{
	int sv[2], efd = eventfd(0, EFD_CLOEXEC);
	struct vhost_user_msg m = msg(VHOST_USER_SET_VRING_CALL, 8), r;
	char err[256];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	m.p.u64 = 0;
	m.fds[0] = efd;
	m.nr_fds = 1;
	CHECK_EQ(vhost_user_send(sv[0], &m), 0);
	CHECK_EQ(vhost_user_recv(sv[1], &r, err, sizeof(err)), 1);
	CHECK_EQ(r.hdr.request, VHOST_USER_SET_VRING_CALL);
	CHECK_EQ(r.hdr.size, 8);
	CHECK_EQ(r.nr_fds, 1);
	if (r.nr_fds == 1) {
		uint64_t one = 1, got = 0;
		CHECK(write(r.fds[0], &one, 8) == 8);         /* the same eventfd */
		CHECK(read(efd, &got, 8) == 8 && got == 1);
		CHECK(fcntl(r.fds[0], F_GETFD) & FD_CLOEXEC);
	}
	vhost_user_msg_close_fds(&r);

	/* An announced payload larger than any request ends the session. */
	struct vhost_user_hdr big = { VHOST_USER_SET_MEM_TABLE, VHOST_USER_VERSION, 100000 };
	CHECK(write(sv[0], &big, sizeof(big)) == sizeof(big));
	CHECK_EQ(vhost_user_recv(sv[1], &r, err, sizeof(err)), -1);
	/* A truncated payload is an error too, and EOF is a clean 0. */
	struct vhost_user_hdr part = { VHOST_USER_SET_FEATURES, VHOST_USER_VERSION, 8 };
	CHECK(write(sv[0], &part, sizeof(part)) == sizeof(part));
	CHECK(write(sv[0], "abc", 3) == 3);
	close(sv[0]);
	CHECK_EQ(vhost_user_recv(sv[1], &r, err, sizeof(err)), -1);
	CHECK_EQ(vhost_user_recv(sv[1], &r, err, sizeof(err)), 0);
	close(sv[1]);
	close(efd);
}

/* ---- a whole session against the blk model ------------------------------ */

#define RAM_SIZE   (1u << 20)
#define RAM_GPA    0x100000ull          /* guest-physical base */
#define RAM_UA     0x7f1200000000ull    /* the "front-end's" address of it */
#define QSIZE      16
#define DESC_OFF   0x0
#define AVAIL_OFF  0x1000
#define USED_OFF   0x2000
#define HDR_OFF    0x3000
#define DATA_OFF   0x4000
#define STATUS_OFF 0x5000

struct session {
	struct vu_backend *vb;
	uint8_t *ram;
	int kick, call;
	char image[64];
};

static int handle(struct session *s, struct vhost_user_msg *m, struct vhost_user_msg *reply)
{
	char err[256];
	return vu_backend_handle(s->vb, m, reply, err, sizeof(err));
}

static void push_request(struct session *s, uint16_t avail_idx, uint32_t type, uint64_t sector)
{
	struct virtq_desc *d = (struct virtq_desc *)(s->ram + DESC_OFF);
	struct virtq_avail *a = (struct virtq_avail *)(s->ram + AVAIL_OFF);
	uint32_t hdr[4] = { type, 0, (uint32_t)sector, (uint32_t)(sector >> 32) };

	memcpy(s->ram + HDR_OFF, hdr, sizeof(hdr));
	d[0] = (struct virtq_desc){ RAM_GPA + HDR_OFF, 16, VIRTQ_DESC_F_NEXT, 1 };
	d[1] = (struct virtq_desc){ RAM_GPA + DATA_OFF, 512,
				    VIRTQ_DESC_F_NEXT | (type == 0 ? VIRTQ_DESC_F_WRITE : 0), 2 };
	d[2] = (struct virtq_desc){ RAM_GPA + STATUS_OFF, 1, VIRTQ_DESC_F_WRITE, 0 };
	s->ram[STATUS_OFF] = 0xff;
	a->ring[avail_idx % QSIZE] = 0;
	__atomic_store_n(&a->idx, (uint16_t)(avail_idx + 1), __ATOMIC_RELEASE);
}

/* Kick, then let the back-end run until the used index reaches want. */
static bool complete(struct session *s, uint16_t want)
{
	struct virtq_used *u = (struct virtq_used *)(s->ram + USED_OFF);
	uint64_t one = 1;

	if (write(s->kick, &one, 8) != 8)
		return false;
	for (int i = 0; i < 200 && __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) != want; i++)
		vu_backend_poll_device(s->vb, 10);
	return u->idx == want;
}

TEST(session_blk_over_memfd)
{
	struct session s = { .kick = -1, .call = -1 };
	struct vhost_user_msg *m = calloc(1, sizeof(*m)), *r = calloc(1, sizeof(*r));
	struct blk_options o;
	char err[256];
	int ram_fd;

	snprintf(s.image, sizeof(s.image), "/tmp/capvm-test-vu-%d.img", (int)getpid());
	int img = open(s.image, O_CREAT | O_RDWR | O_TRUNC, 0600);
	CHECK(img >= 0 && ftruncate(img, 1 << 20) == 0);
	close(img);
	CHECK(virtio_blk_parse(s.image, &o, err, sizeof(err)) == 0);
	s.vb = backend_blk_create(&o, err, sizeof(err));
	ram_fd = memfd_create("ram", MFD_CLOEXEC);
	if (!s.vb || ram_fd < 0 || ftruncate(ram_fd, RAM_SIZE) || !m || !r) {
		printf("  setup: %s\n", s.vb ? strerror(errno) : err);
		test_case_failed = 1;
		goto out;
	}
	s.ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, ram_fd, 0);
	CHECK(s.ram != MAP_FAILED);

	*m = msg(VHOST_USER_GET_FEATURES, 0);
	CHECK_EQ(handle(&s, m, r), 1);
	CHECK(r->hdr.flags == (VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY) && r->hdr.size == 8);
	CHECK(r->p.u64 & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	CHECK(r->p.u64 & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	uint64_t features = r->p.u64 & ~VIRTIO_BIT(VIRTIO_F_EVENT_IDX);

	*m = msg(VHOST_USER_GET_PROTOCOL_FEATURES, 0);
	CHECK_EQ(handle(&s, m, r), 1);
	CHECK_EQ(r->p.u64, VU_BACKEND_PROTOCOL_FEATURES);
	*m = msg(VHOST_USER_SET_PROTOCOL_FEATURES, 8);
	m->p.u64 = VU_BACKEND_PROTOCOL_FEATURES;
	CHECK_EQ(handle(&s, m, r), 0);
	*m = msg(VHOST_USER_SET_PROTOCOL_FEATURES, 8);
	m->p.u64 = 1ull << 20;                            /* not offered: NACK */
	m->hdr.flags |= VHOST_USER_FLAG_NEED_REPLY;
	CHECK_EQ(handle(&s, m, r), 1);
	CHECK(r->p.u64 != 0);

	*m = msg(VHOST_USER_GET_QUEUE_NUM, 0);
	CHECK_EQ(handle(&s, m, r), 1);
	CHECK_EQ(r->p.u64, 1);

	*m = msg(VHOST_USER_GET_CONFIG, VHOST_USER_CONFIG_HDR_SIZE + 8);
	m->p.config.size = 8;
	CHECK_EQ(handle(&s, m, r), 1);
	uint64_t capacity;
	memcpy(&capacity, r->p.config.region, 8);
	CHECK_EQ(capacity, 2048);                         /* 1 MiB in sectors */

	*m = msg(VHOST_USER_SET_OWNER, 0);
	CHECK_EQ(handle(&s, m, r), 0);
	*m = msg(VHOST_USER_SET_FEATURES, 8);
	m->p.u64 = features;
	m->hdr.flags |= VHOST_USER_FLAG_NEED_REPLY;
	CHECK_EQ(handle(&s, m, r), 1);
	CHECK_EQ(r->p.u64, 0);

	*m = mem_table(1);
	m->p.mem.regions[0] = (struct vhost_user_mem_region){ RAM_GPA, RAM_SIZE, RAM_UA, 0 };
	m->fds[0] = dup(ram_fd);
	m->hdr.flags |= VHOST_USER_FLAG_NEED_REPLY;
	CHECK_EQ(handle(&s, m, r), 1);
	CHECK_EQ(r->p.u64, 0);

	*m = msg(VHOST_USER_SET_VRING_NUM, 8);
	m->p.state = (struct vhost_user_vring_state){ 0, QSIZE };
	CHECK_EQ(handle(&s, m, r), 0);
	*m = msg(VHOST_USER_SET_VRING_BASE, 8);
	m->p.state = (struct vhost_user_vring_state){ 0, 0 };
	CHECK_EQ(handle(&s, m, r), 0);
	*m = msg(VHOST_USER_SET_VRING_ADDR, 40);
	m->p.addr = (struct vhost_user_vring_addr){ .index = 0, .desc_user_addr = RAM_UA + DESC_OFF,
		.used_user_addr = RAM_UA + USED_OFF, .avail_user_addr = RAM_UA + AVAIL_OFF };
	CHECK_EQ(handle(&s, m, r), 0);
	s.kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s.call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	*m = msg(VHOST_USER_SET_VRING_CALL, 8);
	m->fds[0] = dup(s.call);
	m->nr_fds = 1;
	CHECK_EQ(handle(&s, m, r), 0);
	*m = msg(VHOST_USER_SET_VRING_KICK, 8);
	m->fds[0] = dup(s.kick);
	m->nr_fds = 1;
	CHECK_EQ(handle(&s, m, r), 0);
	CHECK(!s.vb->vrings[0].started);                  /* disabled until enabled */
	*m = msg(VHOST_USER_SET_VRING_ENABLE, 8);
	m->p.state = (struct vhost_user_vring_state){ 0, 1 };
	CHECK_EQ(handle(&s, m, r), 0);
	CHECK(s.vb->vrings[0].started);

	/* write sector 3, then read it back */
	memset(s.ram + DATA_OFF, 0x5a, 512);
	push_request(&s, 0, 1 /* VIRTIO_BLK_T_OUT */, 3);
	CHECK(complete(&s, 1));
	CHECK_EQ(s.ram[STATUS_OFF], 0);
	memset(s.ram + DATA_OFF, 0, 512);
	push_request(&s, 1, 0 /* VIRTIO_BLK_T_IN */, 3);
	CHECK(complete(&s, 2));
	CHECK_EQ(s.ram[STATUS_OFF], 0);
	CHECK(s.ram[DATA_OFF] == 0x5a && s.ram[DATA_OFF + 511] == 0x5a);
	/* the blk model coalesces interrupts: the call comes when its window ends */
	uint64_t calls = 0;
	for (int i = 0; i < 100 && read(s.call, &calls, 8) != 8; i++)
		vu_backend_poll_device(s.vb, 10);
	CHECK(calls >= 1);

	*m = msg(VHOST_USER_GET_VRING_BASE, 8);
	m->p.state.index = 0;
	CHECK_EQ(handle(&s, m, r), 1);
	CHECK_EQ(r->p.state.num, 2);
	CHECK(!s.vb->vrings[0].started);

	/* Ring addresses outside the table are refused, not used. */
	*m = msg(VHOST_USER_SET_VRING_ADDR, 40);
	m->p.addr = (struct vhost_user_vring_addr){ .index = 0, .desc_user_addr = RAM_UA + RAM_SIZE - 8,
		.used_user_addr = RAM_UA + USED_OFF, .avail_user_addr = RAM_UA + AVAIL_OFF };
	m->hdr.flags |= VHOST_USER_FLAG_NEED_REPLY;
	CHECK_EQ(handle(&s, m, r), 1);
	*m = msg(VHOST_USER_SET_VRING_KICK, 8);
	m->fds[0] = dup(s.kick);
	m->nr_fds = 1;
	m->hdr.flags |= VHOST_USER_FLAG_NEED_REPLY;
	CHECK_EQ(handle(&s, m, r), 1);
	CHECK(r->p.u64 != 0);
	CHECK(!s.vb->vrings[0].started);

	/* A memory table whose fd is smaller than it claims is refused. */
	*m = mem_table(1);
	m->p.mem.regions[0] = (struct vhost_user_mem_region){ RAM_GPA, 2 * RAM_SIZE, RAM_UA, 0 };
	m->fds[0] = dup(ram_fd);
	m->hdr.flags |= VHOST_USER_FLAG_NEED_REPLY;
	CHECK_EQ(handle(&s, m, r), 1);
	CHECK(r->p.u64 != 0);
	CHECK_EQ(s.vb->nr_maps, 0);

	int fd = open(s.image, O_RDONLY);
	uint8_t sector[512] = { 0 };
	CHECK(fd >= 0 && pread(fd, sector, 512, 3 * 512) == 512);
	CHECK(sector[0] == 0x5a && sector[511] == 0x5a);
	close(fd);
out:
	backend_blk_destroy(s.vb);
	if (s.ram && s.ram != MAP_FAILED)
		munmap(s.ram, RAM_SIZE);
	if (ram_fd >= 0)
		close(ram_fd);
	if (s.kick >= 0)
		close(s.kick);
	if (s.call >= 0)
		close(s.call);
	unlink(s.image);
	free(m);
	free(r);
}


/* ---- front-end and back-end over a real socket -------------------------- */

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

TEST(frontend_drives_backend)
{
	struct session s = { .kick = -1, .call = -1 };
	struct blk_options o;
	struct vu_frontend f = { .sock = -1 };
	struct serve_arg arg;
	pthread_t th;
	char err[256];
	int sv[2], ram_fd = -1;
	bool thread_started = false;

	snprintf(s.image, sizeof(s.image), "/tmp/capvm-test-vuf-%d.img", (int)getpid());
	int img = open(s.image, O_CREAT | O_RDWR | O_TRUNC, 0600);
	CHECK(img >= 0 && ftruncate(img, 1 << 20) == 0);
	close(img);
	CHECK(virtio_blk_parse(s.image, &o, err, sizeof(err)) == 0);
	s.vb = backend_blk_create(&o, err, sizeof(err));
	ram_fd = memfd_create("ram", MFD_CLOEXEC);
	if (!s.vb || ram_fd < 0 || ftruncate(ram_fd, RAM_SIZE) ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		printf("  setup: %s\n", s.vb ? strerror(errno) : err);
		test_case_failed = 1;
		goto out;
	}
	s.ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, ram_fd, 0);
	arg = (struct serve_arg){ s.vb, sv[1] };
	thread_started = pthread_create(&th, NULL, serve_thread, &arg) == 0;
	CHECK(thread_started);

	CHECK_EQ(vu_frontend_attach(&f, sv[0], err, sizeof(err)), 0);
	CHECK_EQ(f.protocol_features, VU_FRONTEND_PROTOCOL_FEATURES);
	CHECK_EQ(f.nr_queues, 1);
	uint64_t capacity = 0;
	CHECK_EQ(vu_frontend_get_config(&f, 0, &capacity, 8, err, sizeof(err)), 0);
	CHECK_EQ(capacity, 2048);
	CHECK_EQ(vu_frontend_set_features(&f, f.features & VIRTIO_BIT(VIRTIO_F_VERSION_1), err, sizeof(err)), 0);
	/* features the back-end never offered are refused through REPLY_ACK */
	CHECK_EQ(vu_frontend_set_features(&f, 1ull << 60, err, sizeof(err)), -1);

	/* guest-physical addresses used as the "user addresses" (what the VMM will do) */
	struct vhost_user_mem_region region = { RAM_GPA, RAM_SIZE, RAM_GPA, 0 };
	CHECK_EQ(vu_frontend_set_mem_table(&f, &region, &ram_fd, 1, err, sizeof(err)), 0);
	s.kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s.call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct vu_frontend_vring ring = { .num = QSIZE, .base = 0, .desc = RAM_GPA + DESC_OFF,
		.avail = RAM_GPA + AVAIL_OFF, .used = RAM_GPA + USED_OFF,
		.kick_fd = s.kick, .call_fd = s.call };
	CHECK_EQ(vu_frontend_start_vring(&f, 0, &ring, err, sizeof(err)), 0);
	/* reconfiguring a running ring is refused (REPLY_ACK), the ring keeps running */
	CHECK_EQ(vu_frontend_start_vring(&f, 0, &ring, err, sizeof(err)), -1);

	memset(s.ram + DATA_OFF, 0xa5, 512);
	push_request(&s, 0, 1 /* VIRTIO_BLK_T_OUT */, 7);
	uint64_t one = 1, calls = 0;
	CHECK(write(s.kick, &one, 8) == 8);
	/* the back-end thread completes the request and signals the call fd */
	struct virtq_used *used = (struct virtq_used *)(s.ram + USED_OFF);
	for (int i = 0; i < 1000 && __atomic_load_n(&used->idx, __ATOMIC_ACQUIRE) != 1; i++)
		usleep(10000);
	CHECK_EQ(used->idx, 1);
	struct pollfd pfd = { .fd = s.call, .events = POLLIN };
	CHECK(poll(&pfd, 1, 10000) == 1);
	CHECK(read(s.call, &calls, 8) == 8 && calls >= 1);
	CHECK_EQ(s.ram[STATUS_OFF], 0);

	uint16_t base = 0;
	CHECK_EQ(vu_frontend_stop_vring(&f, 0, &base, err, sizeof(err)), 0);
	CHECK_EQ(base, 1);
	uint8_t sector[512] = { 0 };
	int fd = open(s.image, O_RDONLY);
	CHECK(fd >= 0 && pread(fd, sector, 512, 7 * 512) == 512 && sector[0] == 0xa5);
	if (fd >= 0)
		close(fd);
	if (test_case_failed)
		printf("  last error: %s\n", err);
out:
	vu_frontend_close(&f);                             /* the back-end sees EOF */
	if (thread_started)
		pthread_join(th, NULL);
	else if (f.sock < 0 && sv[0] >= 0)
		close(sv[0]);
	close(sv[1]);
	backend_blk_destroy(s.vb);
	if (s.ram && s.ram != MAP_FAILED)
		munmap(s.ram, RAM_SIZE);
	if (ram_fd >= 0)
		close(ram_fd);
	if (s.kick >= 0)
		close(s.kick);
	if (s.call >= 0)
		close(s.call);
	unlink(s.image);
}

/* ---- the VMM's proxy device (backend/vu_proxy.c) ------------------------ */

struct listen_arg {
	struct vu_backend *vb;
	int listen_fd;
	int conn;                     /* the accepted connection, -1 before */
};

/* Serve one front-end that connects to the listening socket. */
static void *accept_serve_thread(void *p)
{
	struct listen_arg *a = p;
	int c = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	__atomic_store_n(&a->conn, c, __ATOMIC_RELEASE);
	if (c >= 0)
		vu_backend_serve(a->vb, c);
	return NULL;
}

static void mmio_w(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	virtio_mmio_write(t, off, &v, 4);
}

static uint32_t mmio_r(struct virtio_mmio *t, uint64_t off)
{
	uint32_t v = 0;
	virtio_mmio_read(t, off, &v, 4);
	return v;
}

/*
 * The guest's side through the virtio-mmio registers: negotiate VERSION_1
 * and the feature bits 0..31 in features_lo, set up queue 0 in s->ram,
 * DRIVER_OK.
 */
static void guest_driver_init_features(struct virtio_mmio *t, uint32_t qsize, uint32_t features_lo)
{
	mmio_w(t, 0x70, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	mmio_w(t, 0x24, 0);
	mmio_w(t, 0x20, features_lo);
	mmio_w(t, 0x24, 1);
	mmio_w(t, 0x20, 1);                               /* VERSION_1 */
	mmio_w(t, 0x70, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	mmio_w(t, 0x30, 0);
	mmio_w(t, 0x38, qsize);
	mmio_w(t, 0x80, (uint32_t)(RAM_GPA + DESC_OFF));
	mmio_w(t, 0x90, (uint32_t)(RAM_GPA + AVAIL_OFF));
	mmio_w(t, 0xa0, (uint32_t)(RAM_GPA + USED_OFF));
	mmio_w(t, 0x44, 1);
	mmio_w(t, 0x70, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
	       VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

/* The same, VERSION_1 only. */
static void guest_driver_init_size(struct virtio_mmio *t, uint32_t qsize)
{
	guest_driver_init_features(t, qsize, 0);
}

static void guest_driver_init(struct virtio_mmio *t)
{
	guest_driver_init_size(t, QSIZE);
}

/* Wait (running the device's I/O in this thread) until used->idx == want. */
static bool proxy_wait_used(struct virtio_mmio *t, uint8_t *ram, uint16_t want)
{
	struct virtq_used *u = (struct virtq_used *)(ram + USED_OFF);

	for (int i = 0; i < 500 && __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) != want; i++)
		virtio_mmio_poll(t, 10);
	return u->idx == want;
}

/*
 * The back-end side of a proxy test: capvm's blk back-end on a 1 MiB image
 * /tmp/capvm-test-TAG-PID.img (sector 12 filled with 0x33 when fill12),
 * a listening socket for it at po->socket, and guest RAM as a memfd in
 * *ram_fd mapped at s->ram (added to mem).  False, with the reason
 * printed, when something could not be set up.
 */
static bool proxy_backend_setup(struct session *s, struct listen_arg *arg,
				struct vu_proxy_options *po, struct guest_mem *mem, int *ram_fd,
				const char *tag, bool fill12)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct blk_options o;
	char err[256] = "";
	uint8_t sector[512];
	int img;

	snprintf(s->image, sizeof(s->image), "/tmp/capvm-test-%s-%d.img", tag, (int)getpid());
	snprintf(po->socket, sizeof(po->socket), "/tmp/capvm-test-%s-%d.sock", tag, (int)getpid());
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", po->socket);
	img = open(s->image, O_CREAT | O_RDWR | O_TRUNC, 0600);
	CHECK(img >= 0 && ftruncate(img, 1 << 20) == 0);
	memset(sector, 0x33, sizeof(sector));
	if (fill12)
		CHECK(pwrite(img, sector, 512, 12 * 512) == 512);  /* what a read request gets */
	if (img >= 0)
		close(img);
	CHECK(virtio_blk_parse(s->image, &o, err, sizeof(err)) == 0);
	s->vb = backend_blk_create(&o, err, sizeof(err));
	*ram_fd = memfd_create("capvm-guest-ram", MFD_CLOEXEC);
	arg->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(po->socket);
	if (!s->vb || *ram_fd < 0 || ftruncate(*ram_fd, RAM_SIZE) || arg->listen_fd < 0 ||
	    bind(arg->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(arg->listen_fd, 1)) {
		printf("  setup: %s\n", s->vb ? strerror(errno) : err);
		test_case_failed = 1;
		return false;
	}
	s->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, *ram_fd, 0);
	guest_mem_add(mem, RAM_GPA, RAM_SIZE, s->ram);
	arg->vb = s->vb;
	return true;
}

/* Undoes proxy_backend_setup (after the serving thread has ended). */
static void proxy_backend_teardown(struct session *s, struct listen_arg *arg,
				   const struct vu_proxy_options *po, int ram_fd)
{
	if (arg->listen_fd >= 0)
		close(arg->listen_fd);
	unlink(po->socket);
	backend_blk_destroy(s->vb);
	if (s->ram && s->ram != MAP_FAILED)
		munmap(s->ram, RAM_SIZE);
	if (ram_fd >= 0)
		close(ram_fd);
}

/* The back-end dies: its connection is shut down and its thread ended. */
static void proxy_backend_dies(struct listen_arg *arg, pthread_t th, bool *thread_started)
{
	int conn = __atomic_load_n(&arg->conn, __ATOMIC_ACQUIRE);

	if (conn >= 0)
		shutdown(conn, SHUT_RDWR);
	if (*thread_started)
		pthread_join(th, NULL);
	*thread_started = false;
	if (conn >= 0)
		close(conn);
	arg->conn = -1;
}

static void proxy_session(enum vu_proxy_mem mode)
{
	struct session s = { .kick = -1, .call = -1 };
	struct vu_proxy_options po = { .mem = mode, .bounce_size = 1 << 20 };
	struct guest_mem mem = { 0 };
	struct virtio_mmio *t = NULL;
	struct listen_arg arg = { .listen_fd = -1, .conn = -1 };
	pthread_t th;
	bool thread_started = false;
	char err[256] = "";
	int ram_fd = -1;

	if (!proxy_backend_setup(&s, &arg, &po, &mem, &ram_fd, "vup", false))
		goto out;
	thread_started = pthread_create(&th, NULL, accept_serve_thread, &arg) == 0;
	CHECK(thread_started);

	struct vu_proxy_ram ram = { .fd = ram_fd, .nr_slots = 1 };
	ram.slots[0].gpa = RAM_GPA;
	ram.slots[0].size = RAM_SIZE;
	struct virtio_device *dev = vu_proxy_create(&po, VIRTIO_ID_BLOCK, &mem, &ram, "vup0", err,
						    sizeof(err));
	CHECK(dev != NULL);
	if (!dev)
		goto out;
	CHECK(vu_proxy_is(dev));
	CHECK_EQ(vu_proxy_external_queues(dev), mode == VU_PROXY_MEM_SHARED);
	t = mode == VU_PROXY_MEM_SHARED ? virtio_mmio_create_external(dev, 0x1000, 5)
					: virtio_mmio_create(dev, 0x1000, 5);
	CHECK(t != NULL);
	if (!t)
		goto out;
	if (mode == VU_PROXY_MEM_SHARED)
		vu_proxy_set_transport_fds(dev, t->kick_fd, t->irq_fd);
	/* the config space is the back-end's: capacity 2048 sectors */
	CHECK_EQ(mmio_r(t, 0x100), 2048);
	CHECK_EQ(mmio_r(t, 0x008), VIRTIO_ID_BLOCK);
	mmio_w(t, 0x14, 1);
	CHECK(mmio_r(t, 0x10) & 1);                       /* VERSION_1 offered */
	guest_driver_init(t);
	CHECK_EQ(virtio_status(dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);

	/* write sector 5 through the proxy, then read it back */
	memset(s.ram + DATA_OFF, 0x3c, 512);
	push_request(&s, 0, 1 /* VIRTIO_BLK_T_OUT */, 5);
	mmio_w(t, 0x50, 0);                               /* QueueNotify -> kick fd */
	CHECK(proxy_wait_used(t, s.ram, 1));
	CHECK_EQ(s.ram[STATUS_OFF], 0);
	memset(s.ram + DATA_OFF, 0, 512);
	push_request(&s, 1, 0 /* VIRTIO_BLK_T_IN */, 5);
	mmio_w(t, 0x50, 0);
	CHECK(proxy_wait_used(t, s.ram, 2));
	CHECK_EQ(s.ram[STATUS_OFF], 0);
	CHECK(s.ram[DATA_OFF] == 0x3c && s.ram[DATA_OFF + 511] == 0x3c);
	/* the interrupt eventfd fired; InterruptStatus says "used buffer" */
	uint64_t irqs = 0;
	CHECK(read(t->irq_fd, &irqs, 8) == 8 && irqs >= 1);
	CHECK(mmio_r(t, 0x60) & VIRTIO_ISR_USED_BUFFER);
	if (mode == VU_PROXY_MEM_ISOLATED) {
		const struct vu_proxy_stats *st = vu_proxy_stats(dev);
		CHECK_EQ(st->requests, 2);
		CHECK(st->bytes_to_backend >= 512 + 32);
		CHECK(st->bytes_from_backend >= 512 + 2);
		/* the back-end never mapped guest RAM: only the window */
		CHECK_EQ(s.vb->nr_maps, 1);
		/*
		 * Two 600 KiB writes at once: the 1 MiB window holds one, the
		 * other waits for its completion (a "window full" wait).
		 */
		struct virtq_desc *d = (struct virtq_desc *)(s.ram + DESC_OFF);
		struct virtq_avail *a = (struct virtq_avail *)(s.ram + AVAIL_OFF);
		uint32_t hdr[4] = { 1 /* VIRTIO_BLK_T_OUT */, 0, 512, 0 };  /* sector 512 */
		memcpy(s.ram + HDR_OFF, hdr, 16);
		memcpy(s.ram + HDR_OFF + 16, hdr, 16);
		memset(s.ram + 0x6000, 0x77, 600 << 10);
		for (int r = 0; r < 2; r++) {
			d[3 * r] = (struct virtq_desc){ RAM_GPA + HDR_OFF + 16 * r, 16, VIRTQ_DESC_F_NEXT,
							(uint16_t)(3 * r + 1) };
			d[3 * r + 1] = (struct virtq_desc){ RAM_GPA + 0x6000, 600 << 10, VIRTQ_DESC_F_NEXT,
							    (uint16_t)(3 * r + 2) };
			d[3 * r + 2] = (struct virtq_desc){ RAM_GPA + STATUS_OFF + r, 1, VIRTQ_DESC_F_WRITE, 0 };
			s.ram[STATUS_OFF + r] = 0xff;
			a->ring[(2 + r) % QSIZE] = (uint16_t)(3 * r);
		}
		__atomic_store_n(&a->idx, 4, __ATOMIC_RELEASE);
		mmio_w(t, 0x50, 0);
		CHECK(proxy_wait_used(t, s.ram, 4));
		CHECK(s.ram[STATUS_OFF] == 0 && s.ram[STATUS_OFF + 1] == 0);
		CHECK_EQ(st->bounce_full_waits, 1);
		CHECK_EQ(st->requests, 4);
	}
	/* a guest reset stops the ring (GET_VRING_BASE), and the device works again */
	mmio_w(t, 0x70, 0);
	CHECK_EQ(virtio_status(dev), 0);
	memset(s.ram + USED_OFF, 0, 0x1000);
	memset(s.ram + AVAIL_OFF, 0, 0x1000);
	guest_driver_init(t);
	CHECK_EQ(virtio_status(dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	push_request(&s, 0, 0 /* VIRTIO_BLK_T_IN */, 5);
	mmio_w(t, 0x50, 0);
	CHECK(proxy_wait_used(t, s.ram, 1));
	CHECK_EQ(s.ram[STATUS_OFF], 0);

	/* The back-end goes away: needs-reset (no vCPU waits), counted. */
	CHECK(__atomic_load_n(&arg.conn, __ATOMIC_ACQUIRE) >= 0);
	proxy_backend_dies(&arg, th, &thread_started);
	for (int i = 0; i < 100 && !(virtio_status(dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET); i++)
		virtio_mmio_poll(t, 10);
	CHECK(virtio_status(dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK_EQ(vu_proxy_stats(dev)->disconnects, 1);
	/* A new back-end listens; the guest's reset reconnects, and it works again. */
	thread_started = pthread_create(&th, NULL, accept_serve_thread, &arg) == 0;
	CHECK(thread_started);
	mmio_w(t, 0x70, 0);
	CHECK_EQ(vu_proxy_stats(dev)->connects, 2);
	memset(s.ram + USED_OFF, 0, 0x1000);
	memset(s.ram + AVAIL_OFF, 0, 0x1000);
	guest_driver_init(t);
	CHECK_EQ(virtio_status(dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	push_request(&s, 0, 0 /* VIRTIO_BLK_T_IN */, 5);
	s.ram[DATA_OFF] = 0;
	mmio_w(t, 0x50, 0);
	CHECK(proxy_wait_used(t, s.ram, 1));
	CHECK_EQ(s.ram[STATUS_OFF], 0);
	CHECK_EQ(s.ram[DATA_OFF], 0x3c);
	if (test_case_failed)
		printf("  last error: %s\n", err);
out:
	virtio_mmio_destroy(t);                            /* closes the connection */
	if (thread_started)
		pthread_join(th, NULL);
	proxy_backend_teardown(&s, &arg, &po, ram_fd);
	unlink(s.image);
}

TEST(proxy_shared_memory)
{
	proxy_session(VU_PROXY_MEM_SHARED);
}

TEST(proxy_isolated_bounce_window)
{
	proxy_session(VU_PROXY_MEM_ISOLATED);
}

/*
 * A back-end that answers the control messages but never serves its rings
 * (it never reads a kick): requests given to it stay in flight until the
 * test "kills" it by shutting its connection down.
 */
static void *accept_stall_thread(void *p)
{
	struct listen_arg *a = p;
	struct vhost_user_msg *m = malloc(sizeof(*m)), *reply = malloc(sizeof(*reply));
	char err[256];
	int c = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	__atomic_store_n(&a->conn, c, __ATOMIC_RELEASE);
	while (c >= 0 && m && reply && vhost_user_recv(c, m, err, sizeof(err)) > 0) {
		int h = vu_backend_handle(a->vb, m, reply, err, sizeof(err));
		if (h < 0 || (h > 0 && vhost_user_send(c, reply)))
			break;
		if (h > 0)
			vhost_user_msg_close_fds(reply);
	}
	free(m);
	free(reply);
	return NULL;
}

/* Request i of the replay test: descriptors 3i..3i+2, own header, 512-byte buffer, status. */
#define REPLAY_DATA(i)   (0x8000u + 0x1000u * (i))
#define REPLAY_STATUS(i) (STATUS_OFF + 0x10u * (i))
static void replay_push(uint8_t *ram, unsigned i, uint32_t type, uint64_t sector)
{
	struct virtq_desc *d = (struct virtq_desc *)(ram + DESC_OFF);
	struct virtq_avail *a = (struct virtq_avail *)(ram + AVAIL_OFF);
	uint32_t hdr[4] = { type, 0, (uint32_t)sector, (uint32_t)(sector >> 32) };
	uint16_t h = (uint16_t)(3 * i);

	memcpy(ram + HDR_OFF + 16 * i, hdr, sizeof(hdr));
	d[h] = (struct virtq_desc){ RAM_GPA + HDR_OFF + 16 * i, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(h + 1) };
	d[h + 1] = (struct virtq_desc){ RAM_GPA + REPLAY_DATA(i), 512,
					VIRTQ_DESC_F_NEXT | (type == 0 ? VIRTQ_DESC_F_WRITE : 0),
					(uint16_t)(h + 2) };
	d[h + 2] = (struct virtq_desc){ RAM_GPA + REPLAY_STATUS(i), 1, VIRTQ_DESC_F_WRITE, 0 };
	ram[REPLAY_STATUS(i)] = 0xff;
	a->ring[i % QSIZE] = h;
	__atomic_store_n(&a->idx, (uint16_t)(i + 1), __ATOMIC_RELEASE);
}

/*
 * An isolated-mode proxy for a blk back-end (at po->socket) on a virtio-mmio
 * transport, the guest's driver set up: the transport, or NULL (*dev set
 * when the device came up).
 */
static struct virtio_mmio *isolated_proxy_start(struct vu_proxy_options *po, struct guest_mem *mem,
						const char *name, struct virtio_device **dev,
						char *err, size_t errlen)
{
	struct virtio_mmio *t;

	*dev = vu_proxy_create(po, VIRTIO_ID_BLOCK, mem, NULL, name, err, errlen);
	CHECK(*dev != NULL);
	if (!*dev)
		return NULL;
	t = virtio_mmio_create(*dev, 0x1000, 5);
	CHECK(t != NULL);
	if (t)
		guest_driver_init(t);
	return t;
}

/* The end of an isolated-proxy test: transport, device, back-end thread, files. */
static void isolated_proxy_end(struct virtio_mmio *t, struct virtio_device *dev, struct session *s,
			       struct listen_arg *arg, const struct vu_proxy_options *po, int ram_fd,
			       pthread_t th, bool thread_started)
{
	virtio_mmio_destroy(t);
	if (!t && dev)
		virtio_device_destroy(dev);
	if (thread_started) {
		int c = __atomic_load_n(&arg->conn, __ATOMIC_ACQUIRE);
		if (c >= 0)
			shutdown(c, SHUT_RDWR);
		pthread_join(th, NULL);
	}
	proxy_backend_teardown(s, arg, po, ram_fd);
	unlink(s->image);
}

/*
 * Isolated mode, reconnect=2: three requests (two writes, one read) are in
 * flight at a back-end that dies after scribbling over the whole window; a
 * fourth arrives while it is gone.  The new back-end gets the three
 * replayed in order (readable buffers copied again from the guest), then
 * the fourth; all complete with the right data, and the guest never saw
 * needs-reset.  Lost again, a guest reset during the wait ends the wait.
 * Then a back-end that never returns: needs-reset after the bound, not
 * before.
 */
TEST(proxy_isolated_replay)
{
	struct session s = { .kick = -1, .call = -1 };
	struct vu_proxy_options po = { .mem = VU_PROXY_MEM_ISOLATED, .bounce_size = 1 << 20,
				       .reconnect_s = 2 };
	struct guest_mem mem = { 0 };
	struct virtio_mmio *t = NULL;
	struct listen_arg arg = { .listen_fd = -1, .conn = -1 };
	struct virtio_device *dev = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pthread_t th = 0;
	bool thread_started = false;
	char err[256] = "";
	uint8_t sector[512];
	int ram_fd = -1, img = -1;

	if (!proxy_backend_setup(&s, &arg, &po, &mem, &ram_fd, "vur", true))
		goto out;
	img = open(s.image, O_RDONLY);  /* to look for the writes afterwards */
	CHECK(img >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", po.socket);  /* for the re-listen */
	thread_started = pthread_create(&th, NULL, accept_stall_thread, &arg) == 0;
	CHECK(thread_started);
	t = isolated_proxy_start(&po, &mem, "vur0", &dev, err, sizeof(err));
	if (!t)
		goto out;
	const struct vu_proxy_stats *st = vu_proxy_stats(dev);

	/* Three requests reach the stalling back-end and stay there. */
	memset(s.ram + REPLAY_DATA(0), 0x11, 512);
	memset(s.ram + REPLAY_DATA(1), 0x22, 512);
	memset(s.ram + REPLAY_DATA(2), 0, 512);
	replay_push(s.ram, 0, 1 /* OUT */, 10);
	replay_push(s.ram, 1, 1 /* OUT */, 11);
	replay_push(s.ram, 2, 0 /* IN */, 12);
	mmio_w(t, 0x50, 0);
	for (int i = 0; i < 100 && st->requests < 3; i++)
		virtio_mmio_poll(t, 10);
	CHECK_EQ(st->requests, 3);
	CHECK_EQ(((struct virtq_used *)(s.ram + USED_OFF))->idx, 0);
	/* It scribbles over the whole window (data and rings), then dies. */
	CHECK_EQ(s.vb->nr_maps, 1);
	if (s.vb->nr_maps == 1)
		memset(s.vb->maps[0].addr, 0xee, s.vb->maps[0].len);
	CHECK(__atomic_load_n(&arg.conn, __ATOMIC_ACQUIRE) >= 0);
	proxy_backend_dies(&arg, th, &thread_started);
	vu_backend_disconnect(s.vb);
	for (int i = 0; i < 100 && st->disconnects < 1; i++)
		virtio_mmio_poll(t, 10);
	CHECK_EQ(st->disconnects, 1);
	CHECK_EQ(virtio_status(dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);

	/* A fourth request while no back-end is there: it waits. */
	memset(s.ram + REPLAY_DATA(3), 0x44, 512);
	replay_push(s.ram, 3, 1 /* OUT */, 13);
	mmio_w(t, 0x50, 0);
	virtio_mmio_poll(t, 10);
	CHECK_EQ(st->requests, 3);

	/* The restarted back-end: the three are replayed, then the fourth relayed. */
	arg.conn = -1;
	thread_started = pthread_create(&th, NULL, accept_serve_thread, &arg) == 0;
	CHECK(thread_started);
	struct virtq_used *u = (struct virtq_used *)(s.ram + USED_OFF);
	for (int i = 0; i < 300 && __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) != 4; i++)
		virtio_mmio_poll(t, 10);
	CHECK_EQ(u->idx, 4);
	CHECK_EQ(st->connects, 2);
	CHECK_EQ(st->replayed, 3);
	CHECK_EQ(st->requests, 4);
	CHECK_EQ(st->backend_errors, 0);
	CHECK_EQ(virtio_status(dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(s.ram[REPLAY_STATUS(i)], 0);
	/* each of the four completed once (in any order: the back-end's I/O may reorder) */
	unsigned seen = 0;
	for (unsigned i = 0; i < 4; i++)
		if (u->ring[i].id % 3 == 0 && u->ring[i].id < 12)
			seen |= 1u << (u->ring[i].id / 3);
	CHECK_EQ(seen, 0xf);
	CHECK(s.ram[REPLAY_DATA(2)] == 0x33 && s.ram[REPLAY_DATA(2) + 511] == 0x33);
	static const uint8_t want[3] = { 0x11, 0x22, 0x44 };
	static const uint64_t at[3] = { 10, 11, 13 };
	for (int i = 0; i < 3; i++) {
		memset(sector, 0, sizeof(sector));
		CHECK(pread(img, sector, 512, (off_t)at[i] * 512) == 512);
		CHECK(sector[0] == want[i] && sector[511] == want[i]);
	}

	/*
	 * Lost again, and no socket to come back to; the guest resets the
	 * device during the wait: that ends the wait (no needs-reset once the
	 * bound has passed).
	 */
	close(arg.listen_fd);
	arg.listen_fd = -1;
	unlink(po.socket);
	proxy_backend_dies(&arg, th, &thread_started);
	for (int i = 0; i < 100 && st->disconnects < 2; i++)
		virtio_mmio_poll(t, 10);
	CHECK_EQ(st->disconnects, 2);
	mmio_w(t, 0x70, 0);
	uint64_t t0 = now_ns();
	while (now_ns() - t0 < 2500000000ull)
		virtio_mmio_poll(t, 10);
	CHECK_EQ(virtio_status(dev), 0);

	/* Back again for a guest that starts over; then a back-end that never returns. */
	arg.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(arg.listen_fd >= 0 && bind(arg.listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	      listen(arg.listen_fd, 1) == 0);
	arg.conn = -1;
	thread_started = pthread_create(&th, NULL, accept_serve_thread, &arg) == 0;
	CHECK(thread_started);
	memset(s.ram + USED_OFF, 0, 0x1000);
	memset(s.ram + AVAIL_OFF, 0, 0x1000);
	guest_driver_init(t);
	CHECK_EQ(virtio_status(dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	replay_push(s.ram, 0, 0 /* IN */, 13);
	mmio_w(t, 0x50, 0);
	CHECK(proxy_wait_used(t, s.ram, 1));
	CHECK_EQ(s.ram[REPLAY_DATA(0)], 0x44);
	close(arg.listen_fd);
	arg.listen_fd = -1;
	unlink(po.socket);
	proxy_backend_dies(&arg, th, &thread_started);
	t0 = now_ns();
	for (int i = 0; i < 600 && !(virtio_status(dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET); i++)
		virtio_mmio_poll(t, 10);
	uint64_t waited_ms = (now_ns() - t0) / 1000000u;
	CHECK(virtio_status(dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	CHECK(waited_ms >= 1500 && waited_ms < 5000);
	CHECK_EQ(st->disconnects, 3);
	CHECK_EQ(st->replayed, 3);
	if (test_case_failed)
		printf("  last error: %s (waited %llu ms)\n", err, (unsigned long long)waited_ms);
out:
	isolated_proxy_end(t, dev, &s, &arg, &po, ram_fd, th, thread_started);
	if (img >= 0)
		close(img);
}

/* Interrupts signalled on the transport's irqfd since the last call. */
static uint64_t irqs_taken(struct virtio_mmio *t)
{
	uint64_t n = 0;

	if (read(t->irq_fd, &n, sizeof(n)) != sizeof(n))
		n = 0;
	return n;
}

/*
 * Isolated mode, coalesce=20 ms (the relay's interrupt coalescing).
 * With a back-end that holds its requests (timer path): a kick opens a
 * window, the guest's kicks go off and no interrupt comes before the
 * timer; a request the guest adds meanwhile (without a kick) is relayed at
 * the timer, which ends the window and, the driver having streamed, opens
 * another; while the back-end still holds both the timer holds the
 * interrupt (held_windows) and kicks stay off: the relay picks up new
 * requests at each back-end call and timer.  With capvm's blk back-end (idle path): four reads
 * in one kick complete with ONE interrupt, the window ending as soon as
 * nothing is left at the back-end, kicks back on, data right.
 */
static void coalescing_session(bool stalling)
{
	struct session s = { .kick = -1, .call = -1 };
	struct vu_proxy_options po = { .mem = VU_PROXY_MEM_ISOLATED, .bounce_size = 1 << 20,
				       .coalesce_us = 20000 };
	struct guest_mem mem = { 0 };
	struct virtio_mmio *t = NULL;
	struct listen_arg arg = { .listen_fd = -1, .conn = -1 };
	struct virtio_device *dev = NULL;
	pthread_t th = 0;
	bool thread_started = false;
	char err[256] = "";
	int ram_fd = -1;

	if (!proxy_backend_setup(&s, &arg, &po, &mem, &ram_fd, stalling ? "vcs" : "vci", true))
		goto out;
	thread_started = pthread_create(&th, NULL, stalling ? accept_stall_thread : accept_serve_thread,
					&arg) == 0;
	CHECK(thread_started);
	t = isolated_proxy_start(&po, &mem, "vuc0", &dev, err, sizeof(err));
	if (!t)
		goto out;
	const struct vu_proxy_stats *st = vu_proxy_stats(dev);
	struct virtq_used *u = (struct virtq_used *)(s.ram + USED_OFF);
	irqs_taken(t);
	if (stalling) {
		replay_push(s.ram, 0, 0 /* VIRTIO_BLK_T_IN */, 12);
		mmio_w(t, 0x50, 0);
		virtio_mmio_poll(t, 5);
		CHECK_EQ(st->windows, 1);
		CHECK_EQ(st->requests, 1);
		CHECK(__atomic_load_n(&u->flags, __ATOMIC_ACQUIRE) & VIRTQ_USED_F_NO_NOTIFY);
		CHECK_EQ(irqs_taken(t), 0);
		replay_push(s.ram, 1, 0, 12);              /* kicks are off: no kick */
		for (int i = 0; i < 10 && st->requests < 2; i++)
			virtio_mmio_poll(t, 10);
		CHECK_EQ(st->requests, 2);                 /* taken at the timer */
		CHECK_EQ(st->windows, 1);                  /* the window goes on */
		CHECK(__atomic_load_n(&u->flags, __ATOMIC_ACQUIRE) & VIRTQ_USED_F_NO_NOTIFY);
		/* both still at the back-end: the device is busy, kicks stay off */
		for (int i = 0; i < 20 && !st->held_windows; i++)
			virtio_mmio_poll(t, 10);
		CHECK(st->held_windows >= 1);
		CHECK(__atomic_load_n(&u->flags, __ATOMIC_ACQUIRE) & VIRTQ_USED_F_NO_NOTIFY);
		CHECK_EQ(irqs_taken(t), 0);
		CHECK_EQ(st->idle_window_ends, 0);
		CHECK_EQ(st->window_requests, 2);
		CHECK_EQ(u->idx, 0);                       /* nothing completed: the back-end holds them */
		/*
		 * EVENT_IDX on the shadow ring (capvm's back-end offers it): the
		 * second request needed no kick (the back-end, which never took
		 * the first, left avail_event at 0), and in the window the relay
		 * asks for a call only once both are done (used_event 1).
		 */
		struct virtqueue *bvq = &s.vb->dev->vqs[0];
		CHECK(bvq->event_idx);
		CHECK_EQ(st->backend_kicks, 1);
		CHECK_EQ(*virtq_used_event(bvq->avail, bvq->size), 1);
		/* The back-end finishes the first without calling: the window's timer takes it. */
		struct iovec biov[4];
		struct virtq_chain bc = { .iov = biov, .max_iov = 4 };
		CHECK_EQ(virtq_pop(bvq, &bc), 1);
		CHECK_EQ(bc.nr_writable, 2);
		memset(biov[1].iov_base, 0x5a, biov[1].iov_len);
		*(uint8_t *)biov[2].iov_base = 0;          /* VIRTIO_BLK_S_OK */
		virtq_push(bvq, bc.head, (uint32_t)(biov[1].iov_len + 1));
		for (int i = 0; i < 20 && !st->timer_takes; i++)
			virtio_mmio_poll(t, 10);
		CHECK_EQ(st->timer_takes, 1);
		CHECK_EQ(st->backend_calls, 0);
		CHECK_EQ(__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE), 1);
		CHECK(s.ram[REPLAY_STATUS(0)] == 0 && s.ram[REPLAY_DATA(0)] == 0x5a &&
		      s.ram[REPLAY_DATA(0) + 511] == 0x5a);
	} else {
		for (unsigned i = 0; i < 4; i++)
			replay_push(s.ram, i, 0 /* VIRTIO_BLK_T_IN */, 12);
		mmio_w(t, 0x50, 0);
		CHECK(proxy_wait_used(t, s.ram, 4));
		for (unsigned i = 0; i < 4; i++)
			CHECK(s.ram[REPLAY_STATUS(i)] == 0 && s.ram[REPLAY_DATA(i)] == 0x33 &&
			      s.ram[REPLAY_DATA(i) + 511] == 0x33);
		CHECK_EQ(irqs_taken(t), 1);
		CHECK_EQ(st->windows, 1);
		CHECK_EQ(st->window_requests, 4);
		CHECK_EQ(st->idle_window_ends, 1);
		CHECK_EQ(__atomic_load_n(&u->flags, __ATOMIC_ACQUIRE) & VIRTQ_USED_F_NO_NOTIFY, 0);
		virtio_mmio_poll(t, 30);                   /* no late interrupt from the timer */
		CHECK_EQ(irqs_taken(t), 0);
	}
	CHECK_EQ(virtio_status(dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	if (test_case_failed)
		printf("  last error: %s\n", err);
out:
	isolated_proxy_end(t, dev, &s, &arg, &po, ram_fd, th, thread_started);
}

TEST(proxy_isolated_coalescing_timer)
{
	coalescing_session(true);
}

TEST(proxy_isolated_coalescing_idle)
{
	coalescing_session(false);
}

/*
 * Isolated mode under a random load, checking the relay's copies byte by
 * byte: rounds of up to 16 reads in flight at once, each with 1..4 data
 * buffers of random sizes at random offsets (the request headers and
 * status bytes packed, the data keeping its in-page offset in the window,
 * as buf_place does), completed by capvm's blk back-end in whatever order
 * its I/O finishes.  Every other byte of guest RAM holds a guard pattern:
 * a copy back to anything but a chain's own writable buffers, or of the
 * wrong length, shows up as a changed guard byte; the data must be the
 * image's bytes at the request's sector.  Run with the relay's interrupt
 * coalescing on (1 MiB window) and off (small window).  With a window smaller than what
 * is in flight, requests also wait for window space (below bounce='s
 * minimum: the proxy itself takes any window that holds one request).
 */
#define STRESS_QSIZE  128
#define STRESS_REQS   16
#define STRESS_SLOT(i) (0x8000u + 0xf000u * (i))   /* 60 KiB of RAM per request */
#define STRESS_GUARD  0xa5
static uint8_t stress_image_byte(uint64_t off) { return (uint8_t)(off * 131 + (off >> 9) * 7 + 1); }

static uint32_t stress_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* Fill image with stress_image_byte and write it to the back-end's image file. */
static void stress_image_write(const char *path, uint8_t *image, size_t size)
{
	int img;

	for (uint32_t i = 0; i < size; i++)
		image[i] = stress_image_byte(i);
	img = open(path, O_WRONLY);
	CHECK(img >= 0 && pwrite(img, image, size, 0) == (ssize_t)size);
	if (img >= 0)
		close(img);
}

static void proxy_isolated_stress(uint64_t bounce_size, uint32_t coalesce_us)
{
	struct session s = { .kick = -1, .call = -1 };
	struct vu_proxy_options po = { .mem = VU_PROXY_MEM_ISOLATED, .bounce_size = bounce_size,
				       .coalesce_us = coalesce_us };
	struct guest_mem mem = { 0 };
	struct virtio_mmio *t = NULL;
	struct listen_arg arg = { .listen_fd = -1, .conn = -1 };
	pthread_t th;
	bool thread_started = false;
	char err[256] = "";
	int ram_fd = -1;
	uint32_t rnd = 0x12345678;
	static uint8_t expect[RAM_SIZE];   /* what guest RAM must hold after a round */
	static uint8_t image[1 << 20];

	if (!proxy_backend_setup(&s, &arg, &po, &mem, &ram_fd, "vus", false))
		goto out;
	stress_image_write(s.image, image, sizeof(image));
	thread_started = pthread_create(&th, NULL, accept_serve_thread, &arg) == 0;
	CHECK(thread_started);
	struct virtio_device *dev = vu_proxy_create(&po, VIRTIO_ID_BLOCK, &mem, NULL, "vus0", err,
						    sizeof(err));
	CHECK(dev != NULL);
	if (!dev)
		goto out;
	t = virtio_mmio_create(dev, 0x1000, 5);
	CHECK(t != NULL);
	if (!t)
		goto out;
	memset(s.ram + DESC_OFF, 0, HDR_OFF - DESC_OFF);
	guest_driver_init_size(t, STRESS_QSIZE);
	CHECK_EQ(virtio_status(dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);

	struct virtq_desc *d = (struct virtq_desc *)(s.ram + DESC_OFF);
	struct virtq_avail *a = (struct virtq_avail *)(s.ram + AVAIL_OFF);
	struct virtq_used *u = (struct virtq_used *)(s.ram + USED_OFF);
	uint16_t idx = 0;
	uint32_t want_len[STRESS_QSIZE];
	unsigned rounds = 0;

	for (unsigned round = 0; round < 300 && !test_case_failed; round++, rounds++) {
		unsigned nreq = 1 + stress_rand(&rnd) % STRESS_REQS;
		uint16_t next_desc = 0;

		/* everything from the headers up is guard, except what the round sets */
		memset(s.ram + HDR_OFF, STRESS_GUARD, RAM_SIZE - HDR_OFF);
		memcpy(expect, s.ram, RAM_SIZE);
		for (unsigned r = 0; r < nreq; r++) {
			uint32_t sectors = 1 + stress_rand(&rnd) % 112;      /* up to 56 KiB */
			uint64_t sector = stress_rand(&rnd) % (2048 - sectors);
			uint32_t len = sectors * 512, nseg = 1 + stress_rand(&rnd) % 4;
			uint32_t pos = STRESS_SLOT(r) + stress_rand(&rnd) % 2048, done = 0;
			uint32_t hdr[4] = { 0 /* IN */, 0, (uint32_t)sector, 0 };
			uint16_t head = next_desc;

			memcpy(s.ram + HDR_OFF + 16 * r, hdr, 16);
			memcpy(expect + HDR_OFF + 16 * r, hdr, 16);
			d[next_desc] = (struct virtq_desc){ RAM_GPA + HDR_OFF + 16 * r, 16, VIRTQ_DESC_F_NEXT,
							    (uint16_t)(next_desc + 1) };
			next_desc++;
			for (uint32_t g = 0; g < nseg; g++) {
				uint32_t seg = g + 1 == nseg ? len - done
					       : (len - done) / (nseg - g) + stress_rand(&rnd) % 64;
				if (seg > len - done)
					seg = len - done;
				if (seg == 0)
					continue;
				d[next_desc] = (struct virtq_desc){ RAM_GPA + pos, seg,
					VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, (uint16_t)(next_desc + 1) };
				next_desc++;
				memcpy(expect + pos, image + sector * 512 + done, seg);
				done += seg;
				pos += seg + stress_rand(&rnd) % 200;  /* ends within the slot */
			}
			d[next_desc] = (struct virtq_desc){ RAM_GPA + STATUS_OFF + 0x10 * r, 1,
							    VIRTQ_DESC_F_WRITE, 0 };
			next_desc++;
			expect[STATUS_OFF + 0x10 * r] = 0;   /* VIRTIO_BLK_S_OK */
			want_len[head] = len + 1;
			a->ring[(uint16_t)(idx + r) % STRESS_QSIZE] = head;
		}
		__atomic_store_n(&a->idx, (uint16_t)(idx + nreq), __ATOMIC_RELEASE);
		mmio_w(t, 0x50, 0);
		idx = (uint16_t)(idx + nreq);
		for (int i = 0; i < 500 && __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) != idx; i++)
			virtio_mmio_poll(t, 10);
		CHECK_EQ(u->idx, idx);
		for (unsigned r = 0; r < nreq; r++) {
			struct virtq_used_elem e = u->ring[(uint16_t)(idx - nreq + r) % STRESS_QSIZE];
			CHECK(e.id < STRESS_QSIZE && e.len == want_len[e.id]);
		}
		/* the rings changed (used entries, indices): compare from the headers up */
		for (uint32_t i = HDR_OFF; i < RAM_SIZE; i++) {
			if (s.ram[i] != expect[i]) {
				printf("  round %u: guest RAM 0x%x is 0x%02x, want 0x%02x\n",
				       round, i, s.ram[i], expect[i]);
				test_case_failed = 1;
				break;
			}
		}
	}
	const struct vu_proxy_stats *st = vu_proxy_stats(dev);
	CHECK_EQ(st->backend_errors, 0);
	CHECK_EQ(virtio_status(dev) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
	printf("  %u rounds, %llu requests, %llu window-full waits\n", rounds,
	       (unsigned long long)st->requests, (unsigned long long)st->bounce_full_waits);
	if (test_case_failed)
		printf("  last error: %s\n", err);
out:
	virtio_mmio_destroy(t);
	if (thread_started)
		pthread_join(th, NULL);
	proxy_backend_teardown(&s, &arg, &po, ram_fd);
	unlink(s.image);
}

/*
 * Isolated mode: requests whose data comes as page-sized buffers, the way
 * Linux hands over a large read from a user buffer.  The relay lays such
 * buffers end to end in the window and gives the back-end one shadow
 * descriptor for them, so two reads of 12 pages (14 buffers each, in
 * indirect tables) share a 16-entry shadow ring without waiting; each
 * page comes back to its own guest buffer.
 */
#define SEG_PAGES   12
#define SEG_DATA(r, g) (0x8000u + 0x1000u * (2 * SEG_PAGES * (r) + 2 * (g)))  /* a page's gap each */
#define SEG_TABLE(r) (0x6000u + 0x200u * (r))
TEST(proxy_isolated_page_segments)
{
	struct session s = { .kick = -1, .call = -1 };
	struct vu_proxy_options po = { .mem = VU_PROXY_MEM_ISOLATED, .bounce_size = 1 << 20 };
	struct guest_mem mem = { 0 };
	struct listen_arg arg = { .listen_fd = -1, .conn = -1 };
	struct virtio_device *dev = NULL;
	struct virtio_mmio *t = NULL;
	pthread_t th = 0;
	bool thread_started = false;
	char err[256] = "";
	int ram_fd = -1;
	static uint8_t image[1 << 20];

	if (!proxy_backend_setup(&s, &arg, &po, &mem, &ram_fd, "vsg", false))
		goto out;
	stress_image_write(s.image, image, sizeof(image));
	thread_started = pthread_create(&th, NULL, accept_serve_thread, &arg) == 0;
	CHECK(thread_started);
	dev = vu_proxy_create(&po, VIRTIO_ID_BLOCK, &mem, NULL, "vsg0", err, sizeof(err));
	CHECK(dev != NULL);
	if (!dev)
		goto out;
	t = virtio_mmio_create(dev, 0x1000, 5);
	CHECK(t != NULL);
	if (!t)
		goto out;
	guest_driver_init_features(t, QSIZE, 1u << 28);  /* indirect tables */
	CHECK(mmio_r(t, 0x70) & VIRTIO_STATUS_FEATURES_OK);

	struct virtq_desc *d = (struct virtq_desc *)(s.ram + DESC_OFF);
	struct virtq_avail *a = (struct virtq_avail *)(s.ram + AVAIL_OFF);
	for (unsigned r = 0; r < 2; r++) {
		struct virtq_desc *tbl = (struct virtq_desc *)(s.ram + SEG_TABLE(r));
		uint32_t hdr[4] = { 0 /* IN */, 0, (uint32_t)(64 + 100 * r), 0 };

		memcpy(s.ram + HDR_OFF + 16 * r, hdr, sizeof(hdr));
		tbl[0] = (struct virtq_desc){ RAM_GPA + HDR_OFF + 16 * r, 16, VIRTQ_DESC_F_NEXT, 1 };
		for (unsigned g = 0; g < SEG_PAGES; g++) {
			memset(s.ram + SEG_DATA(r, g), 0xee, 4096);
			tbl[1 + g] = (struct virtq_desc){ RAM_GPA + SEG_DATA(r, g), 4096,
				VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, (uint16_t)(2 + g) };
		}
		s.ram[STATUS_OFF + 0x10 * r] = 0xff;
		tbl[1 + SEG_PAGES] = (struct virtq_desc){ RAM_GPA + STATUS_OFF + 0x10 * r, 1,
							  VIRTQ_DESC_F_WRITE, 0 };
		d[r] = (struct virtq_desc){ RAM_GPA + SEG_TABLE(r), 16 * (SEG_PAGES + 2),
					    VIRTQ_DESC_F_INDIRECT, 0 };
		a->ring[r] = (uint16_t)r;
	}
	__atomic_store_n(&a->idx, 2, __ATOMIC_RELEASE);
	mmio_w(t, 0x50, 0);
	CHECK(proxy_wait_used(t, s.ram, 2));
	for (unsigned r = 0; r < 2; r++) {
		CHECK_EQ(s.ram[STATUS_OFF + 0x10 * r], 0);
		for (unsigned g = 0; g < SEG_PAGES; g++)
			CHECK(memcmp(s.ram + SEG_DATA(r, g), image + (64 + 100 * r) * 512 + 4096 * g,
				     4096) == 0);
	}
	const struct vu_proxy_stats *st = vu_proxy_stats(dev);
	CHECK_EQ(st->requests, 2);
	CHECK_EQ(st->bounce_full_waits, 0);  /* 3 shadow descriptors each, not 14 */
	CHECK_EQ(st->backend_errors, 0);
out:
	isolated_proxy_end(t, dev, &s, &arg, &po, ram_fd, th, thread_started);
}

TEST(proxy_isolated_stress_1m)
{
	proxy_isolated_stress(1 << 20, 200);  /* with the relay's coalescing (disks' default) */
}

TEST(proxy_isolated_stress_small_window)
{
	proxy_isolated_stress(192 << 10, 0);  /* 46 data pages: requests of up to 16 wait often */
}

TEST(proxy_parse)
{
	struct vu_proxy_options o;
	char err[256];

	CHECK_EQ(vu_proxy_parse("disk.img", &o, err, sizeof(err)), 0);
	CHECK_EQ(vu_proxy_parse("vhost-user=/run/a.sock", &o, err, sizeof(err)), 1);
	CHECK(!strcmp(o.socket, "/run/a.sock") && o.mem == VU_PROXY_MEM_ISOLATED);  /* the default */
	CHECK_EQ(vu_proxy_parse("vhost-user=/s,mem=shared", &o, err, sizeof(err)), 1);
	CHECK(o.mem == VU_PROXY_MEM_SHARED);
	CHECK_EQ(vu_proxy_parse("vhost-user=/s,bounce=128M", &o, err, sizeof(err)), 1);
	CHECK(o.mem == VU_PROXY_MEM_ISOLATED && o.bounce_size == (128u << 20));
	CHECK_EQ(vu_proxy_parse("vhost-user=/s,mem=isolated,bounce=32M", &o, err, sizeof(err)), 1);
	CHECK(o.mem == VU_PROXY_MEM_ISOLATED && o.bounce_size == (32u << 20));
	CHECK_EQ(vu_proxy_parse("vhost-user=/s,mem=isolated", &o, err, sizeof(err)), 1);
	CHECK_EQ(o.bounce_size, VU_PROXY_BOUNCE_DEFAULT);
	CHECK_EQ(vu_proxy_parse("vhost-user=", &o, err, sizeof(err)), -1);
	CHECK_EQ(vu_proxy_parse("vhost-user=,mem=shared", &o, err, sizeof(err)), -1);
	CHECK_EQ(vu_proxy_parse("vhost-user=/s,mem=other", &o, err, sizeof(err)), -1);
	CHECK_EQ(vu_proxy_parse("vhost-user=/s,mem=shared,bounce=64M", &o, err, sizeof(err)), -1);
	CHECK_EQ(vu_proxy_parse("vhost-user=/s,mem=isolated,bounce=100", &o, err, sizeof(err)), -1);
	CHECK_EQ(vu_proxy_parse("vhost-user=/s,mem=isolated,bounce=4G", &o, err, sizeof(err)), -1);
	CHECK_EQ(vu_proxy_parse("vhost-user=/s", &o, err, sizeof(err)), 1);
	CHECK(o.coalesce_us == 0 && !o.coalesce_given);  /* the device kind picks the default */
	CHECK_EQ(vu_proxy_parse("vhost-user=/s,coalesce=0", &o, err, sizeof(err)), 1);
	CHECK(o.coalesce_us == 0 && o.coalesce_given);
	CHECK_EQ(vu_proxy_parse("vhost-user=/s,mem=isolated,coalesce=500", &o, err, sizeof(err)), 1);
	CHECK_EQ(o.coalesce_us, 500);
	CHECK_EQ(vu_proxy_parse("vhost-user=/s,coalesce=", &o, err, sizeof(err)), -1);
	CHECK_EQ(vu_proxy_parse("vhost-user=/s,coalesce=5ms", &o, err, sizeof(err)), -1);
	CHECK_EQ(vu_proxy_parse("vhost-user=/s,coalesce=100001", &o, err, sizeof(err)), -1);
	CHECK_EQ(vu_proxy_parse("vhost-user=/s,mem=shared,coalesce=100", &o, err, sizeof(err)), -1);
	char longpath[200];
	memset(longpath, 'a', sizeof(longpath));
	memcpy(longpath, "vhost-user=", 11);
	longpath[sizeof(longpath) - 1] = 0;
	CHECK_EQ(vu_proxy_parse(longpath, &o, err, sizeof(err)), -1);
}

/* The relay's coalescing defaults: on for isolated disks, off for networks. */
TEST(proxy_coalesce_defaults)
{
	static struct run_devices d;
	char err[256];

	CHECK_EQ(run_devices_parse_disk(&d, "vhost-user=/a", err, sizeof(err)), 0);
	CHECK_EQ(d.disk_vu[0].coalesce_us, BLK_COALESCE_DEFAULT_US);
	CHECK_EQ(run_devices_parse_disk(&d, "vhost-user=/b,coalesce=0", err, sizeof(err)), 0);
	CHECK_EQ(d.disk_vu[1].coalesce_us, 0);
	CHECK_EQ(run_devices_parse_disk(&d, "vhost-user=/c,mem=isolated,coalesce=50", err, sizeof(err)), 0);
	CHECK_EQ(d.disk_vu[2].coalesce_us, 50);
	CHECK_EQ(run_devices_parse_disk(&d, "vhost-user=/d,mem=shared", err, sizeof(err)), 0);
	CHECK_EQ(d.disk_vu[3].coalesce_us, 0);  /* the back-end signals the guest itself */
	CHECK_EQ(run_devices_parse_net(&d, "vhost-user=/e", err, sizeof(err)), 0);
	CHECK_EQ(d.net_vu[0].coalesce_us, 0);
}

int main(void)
{
	log_set_quiet(1);
	RUN(check_header);
	RUN(check_vring_messages);
	RUN(check_mem_table);
	RUN(check_config);
	RUN(framing_with_fds);
	RUN(session_blk_over_memfd);
	RUN(frontend_drives_backend);
	RUN(proxy_parse);
	RUN(proxy_coalesce_defaults);
	RUN(proxy_shared_memory);
	RUN(proxy_isolated_bounce_window);
	RUN(proxy_isolated_replay);
	RUN(proxy_isolated_coalescing_timer);
	RUN(proxy_isolated_coalescing_idle);
	RUN(proxy_isolated_page_segments);
	RUN(proxy_isolated_stress_1m);
	RUN(proxy_isolated_stress_small_window);
	return test_exit();
}
