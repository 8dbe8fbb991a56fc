/*
 * virtio-console tests with the synthetic driver: output chains reach the
 * chardev (a file), input is delivered into receive buffers (also input
 * that arrived before the driver posted buffers), emergency writes, and a
 * full input ring drops and counts instead of blocking.
 */
#include "unit/test.h"
#include "virtio_driver.h"

#include <fcntl.h>
#include <stdio.h>

#include "common/chardev.h"
#include "common/log.h"
#include "common/util.h"
#include "virtio/console.h"

#define RXQ 0
#define TXQ 1

static struct vdrv d;
static struct virtio_device *dev;
static char path[64];

static int setup(void)
{
	char spec[80], err[256];

	snprintf(path, sizeof(path), "/tmp/capvm-test-console-%d.txt", (int)getpid());
	unlink(path);
	snprintf(spec, sizeof(spec), "file:%s", path);
	if (vdrv_init(&d, 1 << 20))
		return -1;
	dev = virtio_console_create(spec, &d.mem, "console-test", err, sizeof(err));
	if (!dev) {
		printf("  %s\n", err);
		return -1;
	}
	vdrv_attach(&d, virtio_mmio_create(dev, 0xd0000000, 16));
	if (!d.t || vdrv_negotiate(&d, ~0ULL) || vdrv_setup_queue(&d, RXQ, 16) ||
	    vdrv_setup_queue(&d, TXQ, 16) || vdrv_driver_ok(&d))
		return -1;
	vdrv_poll(&d);
	return 0;
}

static void teardown(void)
{
	vdrv_destroy(&d);
	unlink(path);
}

static size_t file_contents(char *buf, size_t len)
{
	void *data;
	size_t n = 0;

	if (read_file(path, &data, &n))
		return 0;
	if (n >= len)
		n = len - 1;
	memcpy(buf, data, n);
	buf[n] = 0;
	free(data);
	return n;
}

TEST(parse)
{
	char err[128];

	CHECK_EQ(virtio_console_parse("stdio", err, sizeof(err)), 0);
	CHECK_EQ(virtio_console_parse("file:/tmp/x", err, sizeof(err)), 0);
	CHECK_EQ(virtio_console_parse("unix:/tmp/s", err, sizeof(err)), 0);
	CHECK_EQ(virtio_console_parse("none", err, sizeof(err)), 0);
	CHECK_EQ(virtio_console_parse("file:", err, sizeof(err)), -1);
	CHECK_EQ(virtio_console_parse("tcp:1234", err, sizeof(err)), -1);
}

TEST(output_reaches_chardev)
{
	char got[128];
	uint32_t id = 0, len = 0;
	uint64_t a, b;

	CHECK(setup() == 0);
	CHECK_EQ(vdrv_read32(&d, VDRV_DEVICE_ID), 3);
	a = vdrv_alloc(&d, 16, 1);
	b = vdrv_alloc(&d, 16, 1);
	memcpy(vdrv_ptr(&d, a), "hello ", 6);
	memcpy(vdrv_ptr(&d, b), "hvc0\n", 5);
	struct vdrv_buf bufs[2] = { { a, 6, false }, { b, 5, false } };
	vdrv_add_chain(&d, TXQ, bufs, 2, false);
	vdrv_kick(&d, TXQ);
	CHECK(vdrv_wait_used(&d, TXQ, &id, &len, 1000));
	CHECK_EQ(len, 0);
	file_contents(got, sizeof(got));
	CHECK_STR(got, "hello hvc0\n");
	CHECK_EQ(virtio_console_stats(dev)->tx_bytes, 11);
	teardown();
}

TEST(emergency_write)
{
	char got[16];
	uint32_t c = 'E';

	CHECK(setup() == 0);
	vdrv_write32(&d, VDRV_CONFIG + 8, c);
	file_contents(got, sizeof(got));
	CHECK_STR(got, "E");
	teardown();
}

TEST(input_before_and_after_buffers)
{
	uint32_t id = 0, len = 0;
	uint64_t a, b;

	CHECK(setup() == 0);
	virtio_console_input(dev, (const uint8_t *)"early", 5);  /* no buffers yet */
	vdrv_poll(&d);
	CHECK(!vdrv_get_used(&d, RXQ, &id, &len));
	a = vdrv_alloc(&d, 64, 1);
	struct vdrv_buf ba = { a, 64, true };
	vdrv_add_chain(&d, RXQ, &ba, 1, false);
	vdrv_kick(&d, RXQ);
	CHECK(vdrv_wait_used(&d, RXQ, &id, &len, 1000));
	CHECK_EQ(len, 5);
	CHECK(!memcmp(vdrv_ptr(&d, a), "early", 5));
	/* Buffers posted first, input later. */
	b = vdrv_alloc(&d, 4, 1);
	struct vdrv_buf bb = { b, 4, true };
	vdrv_add_chain(&d, RXQ, &bb, 1, false);
	vdrv_add_chain(&d, RXQ, &bb, 1, false);
	vdrv_kick(&d, RXQ);
	vdrv_poll(&d);
	virtio_console_input(dev, (const uint8_t *)"abcdef", 6);
	CHECK(vdrv_wait_used(&d, RXQ, &id, &len, 1000));
	CHECK_EQ(len, 4);
	CHECK(vdrv_wait_used(&d, RXQ, &id, &len, 1000));
	CHECK_EQ(len, 2);
	CHECK(!memcmp(vdrv_ptr(&d, b), "efcd", 4));  /* same buffer reused: "ef" overwrote */
	CHECK_EQ(virtio_console_stats(dev)->rx_bytes, 11);
	teardown();
}

TEST(full_input_ring_drops)
{
	static uint8_t big[100 * 1024];

	CHECK(setup() == 0);
	virtio_console_input(dev, big, sizeof(big));
	CHECK_EQ(virtio_console_stats(dev)->rx_dropped, sizeof(big) - 64 * 1024);
	teardown();
}

int main(void)
{
	log_set_level(LOG_ERROR);
	RUN(parse);
	RUN(output_reaches_chardev);
	RUN(emergency_write);
	RUN(input_before_and_after_buffers);
	RUN(full_input_ring_drops);
	return test_exit();
}
