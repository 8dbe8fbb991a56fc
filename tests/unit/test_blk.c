/*
 * virtio-blk tests: option parsing, config/features, and full request
 * round-trips (read, write, flush, discard, write-zeroes, get-id) against a
 * temporary image through the virtio-mmio registers, with hostile request
 * shapes (short headers, wrong directions, ranges past the end, read-only
 * writes), image locking, O_DIRECT, the null backend and reset with I/O in
 * flight.
 */
#include "unit/test.h"
#include "virtio_blk_driver.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "common/log.h"
#include "virtio/blk.h"
#include "virtio/coalesce.h"

#define IMG_SECTORS 2048  /* 1 MiB */

static char img[64];
static struct vdrv d;
static struct virtio_device *dev;

static void make_image(void)
{
	int fd;

	snprintf(img, sizeof(img), "/tmp/capvm-test-blk-XXXXXX");
	fd = mkstemp(img);
	if (fd >= 0) {
		if (ftruncate(fd, IMG_SECTORS * 512ULL) < 0)
			img[0] = '\0';
		close(fd);
	}
}

/* Create the device from "<image><opts>" (or opts itself if it is a null
 * backend spec) and bring it up. */
static int setup(const char *opts, uint64_t features)
{
	struct blk_options o;
	char spec[256], err[256];

	if (!strncmp(opts, "null", 4))
		snprintf(spec, sizeof(spec), "%s", opts);
	else
		snprintf(spec, sizeof(spec), "%s%s", img, opts);
	if (virtio_blk_parse(spec, &o, err, sizeof(err))) {
		printf("  parse: %s\n", err);
		return -1;
	}
	if (vdrv_init(&d, 4 << 20))
		return -1;
	dev = virtio_blk_create(&o, &d.mem, "blk-test", err, sizeof(err));
	if (!dev) {
		printf("  create: %s\n", err);
		free(d.ram);
		return -1;
	}
	vdrv_attach(&d, virtio_mmio_create(dev, 0xd0000000, 16));
	if (!d.t || vdrv_negotiate(&d, features) || vdrv_setup_queue(&d, 0, 128) ||
	    vdrv_driver_ok(&d))
		return -1;
	return 0;
}

static void fill(uint64_t gpa, uint32_t len, uint8_t seed)
{
	uint8_t *p = vdrv_ptr(&d, gpa);
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static bool file_matches(uint64_t off, const void *want, size_t len)
{
	uint8_t buf[16384];
	int fd = open(img, O_RDONLY);
	bool ok = fd >= 0 && len <= sizeof(buf) && pread(fd, buf, len, (off_t)off) == (ssize_t)len &&
		  !memcmp(buf, want, len);
	if (fd >= 0)
		close(fd);
	return ok;
}

static bool file_is_zero(uint64_t off, size_t len)
{
	static const uint8_t zero[16384];
	return file_matches(off, zero, len);
}

TEST(parse_options)
{
	struct blk_options o;
	char err[256];

	CHECK(virtio_blk_parse("/x/disk.img", &o, err, sizeof(err)) == 0);
	CHECK_STR(o.path, "/x/disk.img");
	CHECK(!o.readonly && !o.discard && o.cache == BLK_CACHE_WRITEBACK && !o.null_backend);
	CHECK_EQ(o.coalesce_us, BLK_COALESCE_DEFAULT_US);
	CHECK(virtio_blk_parse("/x/disk.img,coalesce=0", &o, err, sizeof(err)) == 0);
	CHECK_EQ(o.coalesce_us, 0);
	CHECK(virtio_blk_parse("d.img,ro,serial=SN-42,cache=none,discard=on", &o, err, sizeof(err)) == 0);
	CHECK(o.readonly && o.discard && o.cache == BLK_CACHE_NONE);
	CHECK_STR(o.serial, "SN-42");
	CHECK(virtio_blk_parse("null", &o, err, sizeof(err)) == 0);
	CHECK(o.null_backend);
	CHECK_EQ(o.null_size, 1ULL << 30);
	CHECK(virtio_blk_parse("null,size=4G", &o, err, sizeof(err)) == 0);
	CHECK_EQ(o.null_size, 4ULL << 30);
}

TEST(parse_errors)
{
	struct blk_options o;
	char err[256];

	CHECK(virtio_blk_parse("", &o, err, sizeof(err)) < 0);
	CHECK(virtio_blk_parse(NULL, &o, err, sizeof(err)) < 0);
	CHECK(virtio_blk_parse(",ro", &o, err, sizeof(err)) < 0);
	CHECK(strstr(err, "path") != NULL);
	CHECK(virtio_blk_parse("d.img,bogus", &o, err, sizeof(err)) < 0);
	CHECK(strstr(err, "bogus") != NULL);
	CHECK(virtio_blk_parse("d.img,cache=sometimes", &o, err, sizeof(err)) < 0);
	CHECK(strstr(err, "writeback or none") != NULL);
	CHECK(virtio_blk_parse("d.img,serial=123456789012345678901", &o, err, sizeof(err)) < 0);
	CHECK(strstr(err, "20") != NULL);
	CHECK(virtio_blk_parse("d.img,serial=a\tb", &o, err, sizeof(err)) < 0);
	CHECK(virtio_blk_parse("d.img,discard=maybe", &o, err, sizeof(err)) < 0);
	CHECK(virtio_blk_parse("d.img,ro=1", &o, err, sizeof(err)) < 0);
	CHECK(virtio_blk_parse("d.img,size=1G", &o, err, sizeof(err)) < 0);  /* only for null */
	CHECK(virtio_blk_parse("null,size=lots", &o, err, sizeof(err)) < 0);
	CHECK(virtio_blk_parse("d.img,coalesce=fast", &o, err, sizeof(err)) < 0);
	CHECK(virtio_blk_parse("d.img,coalesce=100001", &o, err, sizeof(err)) < 0);
	CHECK(virtio_blk_parse("d.img,coalesce=", &o, err, sizeof(err)) < 0);
}

TEST(missing_image_error)
{
	struct blk_options o;
	char err[256];
	struct guest_mem m = { 0 };

	CHECK(virtio_blk_parse("/nonexistent/capvm.img", &o, err, sizeof(err)) == 0);
	CHECK(virtio_blk_create(&o, &m, "blk", err, sizeof(err)) == NULL);
	CHECK(strstr(err, "/nonexistent/capvm.img") != NULL);
}

TEST(config_and_features)
{
	uint64_t cap;
	uint32_t seg_max, blk_size;

	CHECK(setup("", ~0ULL) == 0);
	virtio_mmio_read(d.t, VDRV_CONFIG + 0, &cap, 8);
	virtio_mmio_read(d.t, VDRV_CONFIG + 12, &seg_max, 4);
	virtio_mmio_read(d.t, VDRV_CONFIG + 20, &blk_size, 4);
	CHECK_EQ(cap, IMG_SECTORS);
	CHECK(seg_max >= 1 && seg_max <= 254);
	CHECK_EQ(blk_size, 512);
	CHECK(d.features & (1ULL << VBLK_F_WRITE_ZEROES));
	CHECK(!(d.features & (1ULL << VBLK_F_RO)));
	CHECK(!(d.features & (1ULL << VBLK_F_DISCARD)));
	CHECK_EQ(vdrv_read32(&d, VDRV_DEVICE_ID), 2);
	vdrv_destroy(&d);
}

TEST(write_read_roundtrip)
{
	struct vblk_req r = { 0 };
	uint64_t wbuf, rbuf;
	uint32_t len;

	CHECK(setup("", ~0ULL) == 0);
	wbuf = vdrv_alloc(&d, 8192, 4096);
	rbuf = vdrv_alloc(&d, 8192, 4096);
	fill(wbuf, 8192, 3);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_OUT, 8, wbuf, 8192, &len), VBLK_S_OK);
	CHECK_EQ(len, 1);
	CHECK(file_matches(8 * 512, vdrv_ptr(&d, wbuf), 8192));
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_IN, 8, rbuf, 8192, &len), VBLK_S_OK);
	CHECK_EQ(len, 8193);
	CHECK(!memcmp(vdrv_ptr(&d, rbuf), vdrv_ptr(&d, wbuf), 8192));
	/* last sector of the disk */
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_OUT, IMG_SECTORS - 1, wbuf, 512, NULL), VBLK_S_OK);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_FLUSH, 0, 0, 0, &len), VBLK_S_OK);
	CHECK_EQ(len, 1);
	const struct virtio_blk_stats *st = virtio_blk_stats(dev);
	CHECK_EQ(st->writes, 2);
	CHECK_EQ(st->reads, 1);
	CHECK_EQ(st->flushes, 1);
	CHECK_EQ(st->bytes_written, 8192 + 512);
	CHECK_EQ(st->bytes_read, 8192);
	CHECK_EQ(st->errors, 0);
	vdrv_destroy(&d);
}

/* Header and data in one descriptor, data split in odd pieces, indirect. */
TEST(free_framing)
{
	uint64_t g, st;
	uint32_t id, len;
	struct vblk_hdr *h;

	CHECK(setup("", ~0ULL) == 0);
	g = vdrv_alloc(&d, 16 + 1024, 16);
	st = vdrv_alloc(&d, 1, 1);
	h = vdrv_ptr(&d, g);
	*h = (struct vblk_hdr){ VBLK_T_OUT, 0, 100 };
	fill(g + 16, 1024, 9);
	struct vdrv_buf b[4] = { { g, 16 + 100, false }, { g + 116, 900, false },
				 { g + 1016, 24, false }, { st, 1, true } };
	vdrv_add_chain(&d, 0, b, 4, true);
	vdrv_kick(&d, 0);
	CHECK(vdrv_wait_used(&d, 0, &id, &len, 2000));
	CHECK_EQ(*(uint8_t *)vdrv_ptr(&d, st), VBLK_S_OK);
	CHECK(file_matches(100 * 512, vdrv_ptr(&d, g + 16), 1024));

	/* read back into data + status sharing one descriptor */
	uint64_t rd = vdrv_alloc(&d, 1025, 16);
	struct vdrv_buf r[2] = { { g, 16, false }, { rd, 1025, true } };
	h->type = VBLK_T_IN;
	vdrv_add_chain(&d, 0, r, 2, false);
	vdrv_kick(&d, 0);
	CHECK(vdrv_wait_used(&d, 0, &id, &len, 2000));
	CHECK_EQ(len, 1025);
	CHECK_EQ(((uint8_t *)vdrv_ptr(&d, rd))[1024], VBLK_S_OK);
	CHECK(!memcmp(vdrv_ptr(&d, rd), vdrv_ptr(&d, g + 16), 1024));
	vdrv_destroy(&d);
}

TEST(get_id)
{
	struct vblk_req r = { 0 };
	uint64_t idbuf;
	uint32_t len;

	CHECK(setup(",serial=capvm-serial-1", ~0ULL) == 0);
	idbuf = vdrv_alloc(&d, 20, 1);
	memset(vdrv_ptr(&d, idbuf), 0xee, 20);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_GET_ID, 0, idbuf, 20, &len), VBLK_S_OK);
	CHECK_EQ(len, 21);
	CHECK(!memcmp(vdrv_ptr(&d, idbuf), "capvm-serial-1\0\0\0\0\0\0", 20));
	vdrv_destroy(&d);
}

static uint64_t discard_seg(uint64_t sector, uint32_t n, uint32_t flags)
{
	uint64_t g = vdrv_alloc(&d, 16, 8);
	uint64_t *p = vdrv_ptr(&d, g);
	p[0] = sector;
	p[1] = (uint64_t)n | ((uint64_t)flags << 32);
	return g;
}

TEST(discard_and_write_zeroes)
{
	struct vblk_req r = { 0 };
	uint64_t wbuf;

	CHECK(setup(",discard=on", ~0ULL) == 0);
	CHECK(d.features & (1ULL << VBLK_F_DISCARD));
	wbuf = vdrv_alloc(&d, 16384, 4096);
	fill(wbuf, 16384, 1);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_OUT, 64, wbuf, 16384, NULL), VBLK_S_OK);
	CHECK(!file_is_zero(64 * 512, 16384));
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_DISCARD, 0, discard_seg(64, 8, 0), 16, NULL), VBLK_S_OK);
	CHECK(file_is_zero(64 * 512, 4096));
	CHECK(!file_is_zero(72 * 512, 4096));
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_WRITE_ZEROES, 0, discard_seg(72, 8, 0), 16, NULL), VBLK_S_OK);
	CHECK(file_is_zero(72 * 512, 4096));
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_WRITE_ZEROES, 0, discard_seg(80, 8, 1), 16, NULL), VBLK_S_OK);
	CHECK(file_is_zero(80 * 512, 4096));
	/* unmap flag on a discard, unknown flags: unsupported */
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_DISCARD, 0, discard_seg(64, 8, 1), 16, NULL), VBLK_S_UNSUPP);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_WRITE_ZEROES, 0, discard_seg(64, 8, 6), 16, NULL), VBLK_S_UNSUPP);
	/* beyond the end, overflowing */
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_DISCARD, 0, discard_seg(IMG_SECTORS - 4, 8, 0), 16, NULL), VBLK_S_IOERR);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_DISCARD, 0, discard_seg(~0ULL - 2, 8, 0), 16, NULL), VBLK_S_IOERR);
	/* wrong segment size */
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_DISCARD, 0, discard_seg(64, 8, 0), 8, NULL), VBLK_S_IOERR);
	CHECK_EQ(virtio_blk_stats(dev)->discards, 5);
	vdrv_destroy(&d);
}

TEST(discard_off_unsupported)
{
	struct vblk_req r = { 0 };

	CHECK(setup("", ~0ULL) == 0);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_DISCARD, 0, discard_seg(64, 8, 0), 16, NULL), VBLK_S_UNSUPP);
	vdrv_destroy(&d);
}

TEST(out_of_range)
{
	struct vblk_req r = { 0 };
	uint64_t buf;

	CHECK(setup("", ~0ULL) == 0);
	buf = vdrv_alloc(&d, 4096, 4096);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_IN, IMG_SECTORS, buf, 512, NULL), VBLK_S_IOERR);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_IN, IMG_SECTORS - 1, buf, 1024, NULL), VBLK_S_IOERR);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_OUT, ~0ULL, buf, 512, NULL), VBLK_S_IOERR);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_OUT, (~0ULL / 512) + 1, buf, 512, NULL), VBLK_S_IOERR);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_IN, 0, buf, 100, NULL), VBLK_S_IOERR);  /* not 512-multiple */
	CHECK_EQ(virtio_blk_stats(dev)->errors, 5);
	/* the device still works */
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_IN, 0, buf, 512, NULL), VBLK_S_OK);
	vdrv_destroy(&d);
}

TEST(readonly_refuses_writes)
{
	struct vblk_req r = { 0 };
	uint64_t buf;

	CHECK(setup(",ro,discard=on", ~0ULL) == 0);
	CHECK(d.features & (1ULL << VBLK_F_RO));
	CHECK(!(d.features & (1ULL << VBLK_F_DISCARD)));
	buf = vdrv_alloc(&d, 512, 512);
	fill(buf, 512, 5);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_OUT, 0, buf, 512, NULL), VBLK_S_IOERR);
	CHECK(file_is_zero(0, 512));
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_WRITE_ZEROES, 0, discard_seg(0, 8, 0), 16, NULL), VBLK_S_UNSUPP);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_IN, 0, buf, 512, NULL), VBLK_S_OK);
	vdrv_destroy(&d);
}

TEST(hostile_request_shapes)
{
	uint64_t hdr, data, st;
	uint32_t id, len;

	CHECK(setup("", ~0ULL) == 0);
	hdr = vdrv_alloc(&d, 16, 16);
	data = vdrv_alloc(&d, 512, 512);
	st = vdrv_alloc(&d, 1, 1);
	*(struct vblk_hdr *)vdrv_ptr(&d, hdr) = (struct vblk_hdr){ VBLK_T_IN, 0, 0 };
	uint8_t *status = vdrv_ptr(&d, st);

	/* header too short (8 readable bytes) */
	struct vdrv_buf s1[2] = { { hdr, 8, false }, { st, 1, true } };
	*status = 0xff;
	vdrv_add_chain(&d, 0, s1, 2, false);
	vdrv_kick(&d, 0);
	CHECK(vdrv_wait_used(&d, 0, &id, &len, 1000));
	CHECK_EQ(*status, VBLK_S_IOERR);

	/* header writable ("write-only header"): no readable header at all */
	struct vdrv_buf s2[2] = { { hdr, 16, true }, { st, 1, true } };
	*status = 0xff;
	vdrv_add_chain(&d, 0, s2, 2, false);
	vdrv_kick(&d, 0);
	CHECK(vdrv_wait_used(&d, 0, &id, &len, 1000));
	CHECK_EQ(*status, VBLK_S_IOERR);

	/* no writable status byte: completed with length 0, nothing written */
	struct vdrv_buf s3[2] = { { hdr, 16, false }, { data, 512, false } };
	vdrv_add_chain(&d, 0, s3, 2, false);
	vdrv_kick(&d, 0);
	CHECK(vdrv_wait_used(&d, 0, &id, &len, 1000));
	CHECK_EQ(len, 0);

	/* IN with the data readable (wrong direction) */
	struct vdrv_buf s4[3] = { { hdr, 16, false }, { data, 512, false }, { st, 1, true } };
	*status = 0xff;
	vdrv_add_chain(&d, 0, s4, 3, false);
	vdrv_kick(&d, 0);
	CHECK(vdrv_wait_used(&d, 0, &id, &len, 1000));
	CHECK_EQ(*status, VBLK_S_IOERR);

	/* OUT with the data writable (wrong direction) */
	((struct vblk_hdr *)vdrv_ptr(&d, hdr))->type = VBLK_T_OUT;
	struct vdrv_buf s5[3] = { { hdr, 16, false }, { data, 512, true }, { st, 1, true } };
	*status = 0xff;
	vdrv_add_chain(&d, 0, s5, 3, false);
	vdrv_kick(&d, 0);
	CHECK(vdrv_wait_used(&d, 0, &id, &len, 1000));
	CHECK_EQ(*status, VBLK_S_IOERR);

	/* FLUSH with data */
	((struct vblk_hdr *)vdrv_ptr(&d, hdr))->type = VBLK_T_FLUSH;
	*status = 0xff;
	vdrv_add_chain(&d, 0, s4, 3, false);
	vdrv_kick(&d, 0);
	CHECK(vdrv_wait_used(&d, 0, &id, &len, 1000));
	CHECK_EQ(*status, VBLK_S_IOERR);

	/* unknown type */
	((struct vblk_hdr *)vdrv_ptr(&d, hdr))->type = 0x1234;
	*status = 0xff;
	vdrv_add_chain(&d, 0, s1 + 0, 1, false);  /* just a readable 8 bytes: IOERR w/o status */
	struct vdrv_buf s6[2] = { { hdr, 16, false }, { st, 1, true } };
	vdrv_add_chain(&d, 0, s6, 2, false);
	vdrv_kick(&d, 0);
	CHECK(vdrv_wait_used(&d, 0, &id, &len, 1000));
	CHECK(vdrv_wait_used(&d, 0, &id, &len, 1000));
	CHECK_EQ(*status, VBLK_S_UNSUPP);

	/* too many segments for seg_max: IOERR, queue fine */
	{
		enum { N = 200 };
		struct vdrv_buf many[N + 2];
		many[0] = (struct vdrv_buf){ hdr, 16, false };
		for (int i = 1; i <= N; i++)
			many[i] = (struct vdrv_buf){ data, 512, true };
		many[N + 1] = (struct vdrv_buf){ st, 1, true };
		((struct vblk_hdr *)vdrv_ptr(&d, hdr))->type = VBLK_T_IN;
		vdrv_add_chain(&d, 0, many, N + 2, true);
		vdrv_kick(&d, 0);
		CHECK(vdrv_wait_used(&d, 0, &id, &len, 1000));
		CHECK_EQ(len, 0);
	}
	CHECK(!(vdrv_status(&d) & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
	vdrv_destroy(&d);
}

TEST(image_lock)
{
	struct blk_options o;
	char err[256], spec[128];
	struct guest_mem m = { 0 };
	struct virtio_device *a, *b;

	snprintf(spec, sizeof(spec), "%s", img);
	CHECK(virtio_blk_parse(spec, &o, err, sizeof(err)) == 0);
	a = virtio_blk_create(&o, &m, "blk-a", err, sizeof(err));
	CHECK(a != NULL);
	b = virtio_blk_create(&o, &m, "blk-b", err, sizeof(err));
	CHECK(b == NULL);
	CHECK(strstr(err, img) != NULL && strstr(err, "in use") != NULL);
	snprintf(spec, sizeof(spec), "%s,ro", img);
	CHECK(virtio_blk_parse(spec, &o, err, sizeof(err)) == 0);
	CHECK(virtio_blk_create(&o, &m, "blk-c", err, sizeof(err)) == NULL);  /* writer holds it */
	virtio_device_destroy(a);
	/* two readers are fine, a writer is then refused */
	a = virtio_blk_create(&o, &m, "blk-a", err, sizeof(err));
	b = virtio_blk_create(&o, &m, "blk-b", err, sizeof(err));
	CHECK(a && b);
	snprintf(spec, sizeof(spec), "%s", img);
	CHECK(virtio_blk_parse(spec, &o, err, sizeof(err)) == 0);
	CHECK(virtio_blk_create(&o, &m, "blk-c", err, sizeof(err)) == NULL);
	virtio_device_destroy(a);
	virtio_device_destroy(b);
}

TEST(null_backend)
{
	struct vblk_req r = { 0 };
	uint64_t buf;
	uint64_t cap;

	CHECK(setup("null,size=64M", ~0ULL) == 0);
	virtio_mmio_read(d.t, VDRV_CONFIG, &cap, 8);
	CHECK_EQ(cap, (64 << 20) / 512);
	buf = vdrv_alloc(&d, 4096, 4096);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_IN, 8, buf, 4096, NULL), VBLK_S_OK);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_OUT, 8, buf, 4096, NULL), VBLK_S_OK);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_FLUSH, 0, 0, 0, NULL), VBLK_S_OK);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_IN, cap, buf, 4096, NULL), VBLK_S_IOERR);
	CHECK_EQ(virtio_blk_stats(dev)->bytes_read, 4096);
	vdrv_destroy(&d);
}

TEST(cache_none)
{
	struct vblk_req r = { 0 };
	uint64_t wbuf, rbuf;

	CHECK(setup(",cache=none", ~0ULL) == 0);
	wbuf = vdrv_alloc(&d, 4096 + 512, 4096);
	rbuf = vdrv_alloc(&d, 4096 + 512, 4096);
	fill(wbuf, 4096, 11);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_OUT, 16, wbuf, 4096, NULL), VBLK_S_OK);
	CHECK(file_matches(16 * 512, vdrv_ptr(&d, wbuf), 4096));
	/* a buffer not aligned for O_DIRECT: served through the fallback */
	fill(wbuf + 3, 512, 12);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_OUT, 32, wbuf + 3, 512, NULL), VBLK_S_OK);
	CHECK(file_matches(32 * 512, vdrv_ptr(&d, wbuf + 3), 512));
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_IN, 32, rbuf + 5, 512, NULL), VBLK_S_OK);
	CHECK(!memcmp(vdrv_ptr(&d, rbuf + 5), vdrv_ptr(&d, wbuf + 3), 512));
	vdrv_destroy(&d);
}

TEST(batch_and_reset_with_io_in_flight)
{
	struct vblk_req r[64];
	uint64_t buf;
	uint32_t id, len;
	unsigned got = 0;

	CHECK(setup("", ~0ULL) == 0);
	buf = vdrv_alloc(&d, 64 * 4096, 4096);
	memset(r, 0, sizeof(r));
	for (int i = 0; i < 64; i++)
		CHECK(vblk_queue(&d, &r[i], i & 1 ? VBLK_T_OUT : VBLK_T_IN, (uint64_t)i * 8,
				 buf + (uint64_t)i * 4096, 4096, true) >= 0);
	vdrv_kick(&d, 0);
	for (int tries = 0; got < 64 && tries < 2000; tries++) {
		vdrv_poll_timeout(&d, 1);
		while (vdrv_get_used(&d, 0, &id, &len))
			got++;
	}
	CHECK_EQ(got, 64);
	for (int i = 0; i < 64; i++)
		CHECK_EQ(vblk_status(&d, &r[i]), VBLK_S_OK);

	/* submit a batch and reset before reaping: reset waits for the I/O */
	for (int i = 0; i < 32; i++)
		vblk_queue(&d, &r[i], VBLK_T_IN, (uint64_t)i * 8, buf + (uint64_t)i * 4096, 4096, true);
	vdrv_kick(&d, 0);
	vdrv_poll_timeout(&d, 0);  /* handles the kick: submits */
	CHECK(virtio_blk_stats(dev)->in_flight > 0 || virtio_blk_stats(dev)->reads >= 96);
	vdrv_write32(&d, VDRV_STATUS, 0);
	CHECK_EQ(virtio_blk_stats(dev)->in_flight, 0);
	/* and the device comes back */
	CHECK(vdrv_negotiate(&d, ~0ULL) == 0);
	CHECK(vdrv_setup_queue(&d, 0, 128) == 0);
	CHECK(vdrv_driver_ok(&d) == 0);
	struct vblk_req r2 = { 0 };
	CHECK_EQ(vblk_do(&d, &r2, VBLK_T_IN, 0, buf, 4096, NULL), VBLK_S_OK);
	vdrv_destroy(&d);
}

TEST(iothread_roundtrip)
{
	struct vblk_req r = { 0 };
	uint64_t buf;
	uint32_t id, len;
	int ok = 0;

	CHECK(setup("", ~0ULL) == 0);
	CHECK(virtio_mmio_start(d.t) == 0);
	buf = vdrv_alloc(&d, 4096, 4096);
	fill(buf, 4096, 77);
	vblk_queue(&d, &r, VBLK_T_OUT, 40, buf, 4096, false);
	vdrv_kick(&d, 0);
	for (int i = 0; i < 2000 && !ok; i++) {
		ok = vdrv_get_used(&d, 0, &id, &len);
		if (!ok)
			usleep(1000);
	}
	CHECK(ok);
	CHECK_EQ(vblk_status(&d, &r), VBLK_S_OK);
	CHECK(file_matches(40 * 512, vdrv_ptr(&d, buf), 4096));
	vdrv_destroy(&d);
}

/* QueueReady 0 while I/O is in flight, queue set up again: the old
 * completions must not land in the new ring. */
TEST(queue_taken_away_with_io_in_flight)
{
	struct vblk_req r[8];
	uint64_t buf;
	uint32_t id, len;

	CHECK(setup("", ~0ULL) == 0);
	buf = vdrv_alloc(&d, 8 * 4096, 4096);
	memset(r, 0, sizeof(r));
	for (int i = 0; i < 8; i++)
		vblk_queue(&d, &r[i], VBLK_T_IN, (uint64_t)i * 8, buf + (uint64_t)i * 4096, 4096, true);
	vdrv_kick(&d, 0);
	vdrv_poll_timeout(&d, 0);  /* submitted, maybe not completed */
	vdrv_write32(&d, VDRV_QUEUE_SEL, 0);
	vdrv_write32(&d, VDRV_QUEUE_READY, 0);
	CHECK(vdrv_setup_queue(&d, 0, 128) == 0);  /* fresh rings, ready again */
	for (int i = 0; i < 50; i++)
		vdrv_poll_timeout(&d, 2);  /* old completions arrive now */
	CHECK_EQ(virtio_blk_stats(dev)->in_flight, 0);
	CHECK(!vdrv_get_used(&d, 0, &id, &len));  /* nothing in the new ring */
	struct vblk_req r2 = { 0 };
	CHECK_EQ(vblk_do(&d, &r2, VBLK_T_IN, 0, buf, 4096, NULL), VBLK_S_OK);
	vdrv_destroy(&d);
}

/*
 * A hostile driver re-offers heads that are still in flight, so more
 * requests are outstanding than the device has slots: the device must stop
 * taking chains, resume when slots free up, and never break.
 */
TEST(more_requests_than_slots)
{
	struct vblk_req r[256];
	uint64_t buf;
	uint16_t used;

	CHECK(vdrv_init(&d, 8 << 20) == 0);
	{
		struct blk_options o;
		char err[256], spec[128];
		snprintf(spec, sizeof(spec), "%s", img);
		CHECK(virtio_blk_parse(spec, &o, err, sizeof(err)) == 0);
		dev = virtio_blk_create(&o, &d.mem, "blk-test", err, sizeof(err));
		CHECK(dev != NULL);
	}
	vdrv_attach(&d, virtio_mmio_create(dev, 0xd0000000, 16));
	CHECK(vdrv_negotiate(&d, ~0ULL) == 0);
	CHECK(vdrv_setup_queue(&d, 0, 256) == 0);
	CHECK(vdrv_driver_ok(&d) == 0);
	buf = vdrv_alloc(&d, 4096, 4096);
	memset(r, 0, sizeof(r));
	for (int i = 0; i < 256; i++)
		CHECK(vblk_queue(&d, &r[i], VBLK_T_IN, (uint64_t)i * 8, buf, 4096, true) >= 0);
	vdrv_kick(&d, 0);
	vdrv_poll_timeout(&d, 0);  /* the kick: 256 requests submitted */
	/* re-offer 10 heads still in flight */
	for (int i = 0; i < 10; i++)
		vdrv_publish(&d, 0, (uint16_t)r[i].head);
	vdrv_kick(&d, 0);
	for (int tries = 0; tries < 2000; tries++) {
		vdrv_poll_timeout(&d, 1);
		used = __atomic_load_n(&d.q[0].used->idx, __ATOMIC_ACQUIRE);
		if (used == 266 && virtio_blk_stats(dev)->in_flight == 0)
			break;
	}
	CHECK_EQ(__atomic_load_n(&d.q[0].used->idx, __ATOMIC_ACQUIRE), 266);
	CHECK_EQ(virtio_blk_stats(dev)->reads, 266);
	CHECK(!(vdrv_status(&d) & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
	vdrv_destroy(&d);
}

/* The I/O thread serves requests while the "vCPU" resets the device. */
TEST(reset_under_load_with_iothread)
{
	uint64_t buf;
	uint32_t id, len;

	CHECK(setup("", ~0ULL) == 0);
	CHECK(virtio_mmio_start(d.t) == 0);
	buf = vdrv_alloc(&d, 4096, 4096);
	for (int round = 0; round < 20; round++) {
		uint64_t mark = d.alloc_next;
		for (int i = 0; i < 40; i++) {
			struct vblk_req r = { 0 };
			if (vblk_queue(&d, &r, i & 1 ? VBLK_T_OUT : VBLK_T_IN, (uint64_t)i * 8, buf, 4096,
				       true) < 0)
				break;
			vdrv_kick(&d, 0);
		}
		usleep(200);
		while (vdrv_get_used(&d, 0, &id, &len))
			;
		/* reset mid-flight and bring the device up again */
		CHECK(vdrv_negotiate(&d, ~0ULL) == 0);
		d.alloc_next = mark;  /* reuse guest memory for the next round */
		CHECK(vdrv_setup_queue(&d, 0, 128) == 0);
		CHECK(vdrv_driver_ok(&d) == 0);
		CHECK_EQ(virtio_blk_stats(dev)->in_flight, 0);
	}
	CHECK(!(vdrv_status(&d) & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
	vdrv_destroy(&d);
}

/* Poll the device for about ms milliseconds (its timers fire meanwhile). */
/* Interrupt signals since the last call; acknowledges them as a driver would. */
static uint64_t take_irqs(void)
{
	uint64_t n = vdrv_irq_count(&d);

	if (n)
		vdrv_ack_irq(&d);
	return n;
}

static void poll_for(int ms)
{
	for (int i = 0; i < ms; i++)
		vdrv_poll_timeout(&d, 1);
	vdrv_poll(&d);
}

/*
 * Interrupt coalescing: a kick opens a window; requests the driver adds
 * before the device looks are taken without further kicks and share one
 * interrupt, raised as soon as the device runs idle (nothing in flight,
 * nothing queued) or the window's timer ends it; then kicks come back.  A
 * driver that sends one request at a time is served at once.  coalesce=0
 * interrupts for every kick.
 */
TEST(interrupt_coalescing)
{
	struct vblk_req r[8] = { 0 };
	uint64_t buf;
	uint32_t id, len;
	uint16_t *avail_event;

	CHECK(setup(",coalesce=40000", ~0ULL) == 0);  /* 40 ms: longer than any test step */
	buf = vdrv_alloc(&d, 8 * 4096, 4096);
	avail_event = virtq_avail_event(d.q[0].used, d.q[0].size);
	take_irqs();
	CHECK(vblk_queue(&d, &r[0], VBLK_T_IN, 0, buf, 4096, false) >= 0);
	vdrv_kick(&d, 0);
	/* the driver goes on queueing before the device has looked: no more kicks */
	for (int i = 1; i < 8; i++)
		CHECK(vblk_queue(&d, &r[i], VBLK_T_IN, (uint64_t)i * 8, buf + (uint64_t)i * 4096,
				 4096, false) >= 0);
	poll_for(20);  /* far shorter than the window: only running idle ends it */
	for (int i = 0; i < 8; i++)
		CHECK_EQ(vblk_status(&d, &r[i]), VBLK_S_OK);
	CHECK_EQ(take_irqs(), 1);               /* one interrupt for eight */
	for (int i = 0; i < 8; i++)
		CHECK(vdrv_get_used(&d, 0, &id, &len));
	CHECK_EQ(virtio_blk_stats(dev)->windows, 1);
	CHECK_EQ(virtio_blk_stats(dev)->window_requests, 8);
	CHECK_EQ(virtio_blk_stats(dev)->idle_window_ends, 1);
	/* the window is closed: kicks are wanted again */
	CHECK_EQ(__atomic_load_n(avail_event, __ATOMIC_ACQUIRE), d.q[0].avail_idx);

	/* one request at a time: windows shrink until requests are served at once */
	int immediate = 0;
	for (int round = 0; round < 20 && !immediate; round++) {
		take_irqs();
		CHECK(vblk_queue(&d, &r[0], VBLK_T_IN, 0, buf, 4096, false) >= 0);
		vdrv_kick(&d, 0);
		vdrv_poll(&d);
		if (take_irqs() == 1) {
			immediate = 1;
		} else {
			poll_for(60);
			CHECK_EQ(take_irqs(), 1);
		}
		CHECK(vdrv_get_used(&d, 0, &id, &len));
	}
	CHECK(immediate);
	vdrv_destroy(&d);

	/* coalesce=0: every kick gets its interrupt at once */
	CHECK(setup(",coalesce=0", ~0ULL) == 0);
	buf = vdrv_alloc(&d, 4096, 4096);
	take_irqs();
	CHECK(vblk_queue(&d, &r[0], VBLK_T_IN, 0, buf, 4096, false) >= 0);
	vdrv_kick(&d, 0);
	vdrv_poll(&d);
	CHECK_EQ(take_irqs(), 1);
	CHECK_EQ(virtio_blk_stats(dev)->windows, 0);
	vdrv_destroy(&d);
}

/*
 * The hold rule of coalesce.c, driven directly: at the timer the interrupt
 * stays held while more than a quarter of the deepest queue seen since the
 * device ran idle is in flight, and for at most COALESCE_HOLD_WINDOWS
 * windows; a window stays open (kicks off) while requests are in flight;
 * running idle resets the depth.
 */
TEST(coalesce_hold_rules)
{
	uint64_t windows = 0, requests = 0, idle_ends = 0, holds = 0;
	struct coalesce c;
	int held;

	CHECK(coalesce_init(&c, 1000000, &windows, &requests, &idle_ends, &holds) == 0);  /* 1 s: never fires here */
	CHECK(coalesce_kick(&c));
	coalesce_took(&c, 32);
	CHECK(coalesce_open(&c));
	CHECK(coalesce_hold(&c, 32));         /* a deep queue: hold */
	CHECK(coalesce_hold(&c, 9));          /* 9 > 32 / 4 still busy */
	CHECK(!coalesce_hold(&c, 8));         /* a quarter left: signal now */
	CHECK_EQ(holds, 2);
	CHECK(coalesce_next(&c, true, 8));    /* still busy: the window stays, kicks off */
	CHECK(c.open);
	/* the hold is bounded even when the device stays busy */
	for (held = 0; held < 100 && coalesce_hold(&c, 32); held++)
		;
	CHECK(held > 0 && held <= COALESCE_HOLD_WINDOWS);
	CHECK(coalesce_next(&c, true, 32));
	/* a shallow queue is never held: one request in flight */
	coalesce_end_idle(&c);
	CHECK_EQ(idle_ends, 1);
	CHECK(coalesce_kick(&c));
	CHECK(coalesce_open(&c));
	CHECK(!coalesce_hold(&c, 1));
	/* idle and nothing new: the window closes, kicks come back */
	CHECK(!coalesce_next(&c, true, 0));
	CHECK(!c.open);
	/* a device that is not running never holds on to a window */
	CHECK(coalesce_open(&c));
	CHECK(!coalesce_next(&c, false, 5));
	coalesce_destroy(&c);
}

/*
 * block_resize: growing the disk extends the image file, puts the new
 * capacity in config space, bumps the config generation and raises a
 * configuration-change interrupt; the new sectors are readable.  Shrinking,
 * a size that is not a multiple of 512 and a read-only disk are refused.
 */
TEST(resize)
{
	struct vblk_req r = { 0 };
	char err[256];
	uint64_t cap, buf;
	uint32_t gen;
	struct stat st;

	CHECK(setup("", ~0ULL) == 0);
	gen = vdrv_read32(&d, VDRV_CONFIG_GENERATION);
	vdrv_ack_irq(&d);
	CHECK_EQ(virtio_blk_resize(dev, (IMG_SECTORS + 2048) * 512ULL, err, sizeof(err)), 0);
	virtio_mmio_read(d.t, VDRV_CONFIG + 0, &cap, 8);
	CHECK_EQ(cap, IMG_SECTORS + 2048);
	CHECK(vdrv_read32(&d, VDRV_CONFIG_GENERATION) != gen);
	CHECK(vdrv_read32(&d, VDRV_INTERRUPT_STATUS) & 2);   /* configuration change */
	CHECK(stat(img, &st) == 0 && (uint64_t)st.st_size == (IMG_SECTORS + 2048) * 512ULL);
	buf = vdrv_alloc(&d, 4096, 4096);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_IN, IMG_SECTORS + 2040, buf, 4096, NULL), VBLK_S_OK);
	CHECK_EQ(vblk_do(&d, &r, VBLK_T_IN, IMG_SECTORS + 2048, buf, 512, NULL), VBLK_S_IOERR);
	/* the same size again: nothing to do, no interrupt */
	vdrv_ack_irq(&d);
	gen = vdrv_read32(&d, VDRV_CONFIG_GENERATION);
	CHECK_EQ(virtio_blk_resize(dev, (IMG_SECTORS + 2048) * 512ULL, err, sizeof(err)), 0);
	CHECK_EQ(vdrv_read32(&d, VDRV_CONFIG_GENERATION), gen);
	CHECK_EQ(virtio_blk_resize(dev, IMG_SECTORS * 512ULL, err, sizeof(err)), -1);  /* shrink */
	CHECK(strstr(err, "shrinking") != NULL);
	CHECK_EQ(virtio_blk_resize(dev, (IMG_SECTORS + 4096) * 512ULL + 1, err, sizeof(err)), -1);
	CHECK_EQ(virtio_blk_resize(dev, 0, err, sizeof(err)), -1);
	virtio_mmio_read(d.t, VDRV_CONFIG + 0, &cap, 8);
	CHECK_EQ(cap, IMG_SECTORS + 2048);
	vdrv_destroy(&d);
	CHECK(truncate(img, IMG_SECTORS * 512ULL) == 0);

	CHECK(setup(",ro", ~0ULL) == 0);
	CHECK_EQ(virtio_blk_resize(dev, (IMG_SECTORS + 2048) * 512ULL, err, sizeof(err)), -1);
	CHECK(strstr(err, "read-only") != NULL);
	vdrv_destroy(&d);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	make_image();
	if (!img[0]) {
		printf("SKIP blk: cannot create a temporary image\n");
		return 0;
	}
	RUN(parse_options);
	RUN(parse_errors);
	RUN(missing_image_error);
	RUN(config_and_features);
	RUN(write_read_roundtrip);
	RUN(free_framing);
	RUN(get_id);
	RUN(discard_and_write_zeroes);
	RUN(discard_off_unsupported);
	RUN(out_of_range);
	RUN(readonly_refuses_writes);
	RUN(hostile_request_shapes);
	RUN(image_lock);
	RUN(null_backend);
	RUN(cache_none);
	RUN(batch_and_reset_with_io_in_flight);
	RUN(iothread_roundtrip);
	RUN(queue_taken_away_with_io_in_flight);
	RUN(more_requests_than_slots);
	RUN(reset_under_load_with_iothread);
	RUN(interrupt_coalescing);
	RUN(coalesce_hold_rules);
	RUN(resize);
	unlink(img);
	return test_exit();
}
