/*
 * virtio-rng tests: buffers get filled with random bytes, readable buffers
 * are left alone, large requests are capped, the device id is 4.
 */
#include "unit/test.h"
#include "virtio_driver.h"

#include "common/log.h"
#include "virtio/rng.h"

static struct vdrv d;
static struct virtio_device *dev;

static int setup(void)
{
	if (vdrv_init(&d, 1 << 20))
		return -1;
	dev = virtio_rng_create(&d.mem, "rng-test");
	if (!dev)
		return -1;
	vdrv_attach(&d, virtio_mmio_create(dev, 0xd0000000, 16));
	if (!d.t || vdrv_negotiate(&d, ~0ULL) || vdrv_setup_queue(&d, 0, 16) || vdrv_driver_ok(&d))
		return -1;
	return 0;
}

TEST(device_id)
{
	CHECK(setup() == 0);
	CHECK_EQ(vdrv_read32(&d, VDRV_DEVICE_ID), 4);
	vdrv_destroy(&d);
}

TEST(fills_writable_buffers)
{
	uint64_t a, b;
	uint32_t id, len;
	int nonzero = 0;

	CHECK(setup() == 0);
	a = vdrv_alloc(&d, 64, 8);
	b = vdrv_alloc(&d, 64, 8);
	struct vdrv_buf bufs[2] = { { a, 64, true }, { b, 64, true } };
	vdrv_add_chain(&d, 0, bufs, 2, false);
	vdrv_kick(&d, 0);
	CHECK(vdrv_wait_used(&d, 0, &id, &len, 1000));
	CHECK_EQ(len, 128);
	for (int i = 0; i < 64; i++)
		nonzero += ((uint8_t *)vdrv_ptr(&d, a))[i] != 0 && ((uint8_t *)vdrv_ptr(&d, b))[i] != 0;
	CHECK(nonzero > 32);  /* random, not zeroes */
	CHECK_EQ(virtio_rng_stats(dev)->bytes, 128);
	vdrv_destroy(&d);
}

TEST(readable_only_chain)
{
	uint64_t a;
	uint32_t id, len;

	CHECK(setup() == 0);
	a = vdrv_alloc(&d, 64, 8);
	struct vdrv_buf buf = { a, 64, false };
	vdrv_add_chain(&d, 0, &buf, 1, false);
	vdrv_kick(&d, 0);
	CHECK(vdrv_wait_used(&d, 0, &id, &len, 1000));
	CHECK_EQ(len, 0);
	CHECK_EQ(((uint8_t *)vdrv_ptr(&d, a))[0], 0);
	vdrv_destroy(&d);
}

TEST(large_request_capped)
{
	uint64_t a;
	uint32_t id, len;

	CHECK(setup() == 0);
	a = vdrv_alloc(&d, 256 * 1024, 8);
	struct vdrv_buf buf = { a, 256 * 1024, true };
	vdrv_add_chain(&d, 0, &buf, 1, false);
	vdrv_kick(&d, 0);
	CHECK(vdrv_wait_used(&d, 0, &id, &len, 1000));
	CHECK_EQ(len, 64 * 1024);
	vdrv_destroy(&d);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	RUN(device_id);
	RUN(fills_writable_buffers);
	RUN(readable_only_chain);
	RUN(large_request_capped);
	return test_exit();
}
