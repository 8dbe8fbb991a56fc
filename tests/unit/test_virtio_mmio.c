/*
 * virtio-mmio transport tests: identification registers, feature
 * negotiation (refusals), status rules, reset, queue registers, interrupt
 * status/ack, config space, bad widths and offsets, the I/O thread.
 */
#include "unit/test.h"
#include "virtio_driver.h"
#include "virtio_testdev.h"

#include <poll.h>

#include "common/log.h"

static struct vdrv d;
static struct testdev *td;

static int setup(void)
{
	if (vdrv_init(&d, 1 << 20))
		return -1;
	td = testdev_create(&d.mem, 2, 128);
	if (!td)
		return -1;
	vdrv_attach(&d, virtio_mmio_create(&td->dev, 0xd0000000, 16));
	return d.t ? 0 : -1;
}

static void write_features(uint64_t f)
{
	vdrv_write32(&d, VDRV_DRIVER_FEATURES_SEL, 0);
	vdrv_write32(&d, VDRV_DRIVER_FEATURES, (uint32_t)f);
	vdrv_write32(&d, VDRV_DRIVER_FEATURES_SEL, 1);
	vdrv_write32(&d, VDRV_DRIVER_FEATURES, (uint32_t)(f >> 32));
}

#define ACK_DRIVER (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)

TEST(identification)
{
	CHECK(setup() == 0);
	CHECK_EQ(vdrv_read32(&d, VDRV_MAGIC), 0x74726976);
	CHECK_EQ(vdrv_read32(&d, VDRV_VERSION), 2);
	CHECK_EQ(vdrv_read32(&d, VDRV_DEVICE_ID), 0x7e57);
	CHECK(d.t->kick_fd[0] >= 0 && d.t->kick_fd[1] >= 0 && d.t->kick_fd[2] == -1);
	CHECK(d.t->irq_fd >= 0);
	CHECK_EQ(d.t->nr_queues, 2);
	CHECK_EQ(d.t->base, 0xd0000000);
	CHECK_EQ(d.t->gsi, 16);
	vdrv_destroy(&d);
}

TEST(device_features)
{
	CHECK(setup() == 0);
	vdrv_write32(&d, VDRV_DEVICE_FEATURES_SEL, 0);
	uint32_t lo = vdrv_read32(&d, VDRV_DEVICE_FEATURES);
	vdrv_write32(&d, VDRV_DEVICE_FEATURES_SEL, 1);
	uint32_t hi = vdrv_read32(&d, VDRV_DEVICE_FEATURES);
	vdrv_write32(&d, VDRV_DEVICE_FEATURES_SEL, 2);
	CHECK_EQ(vdrv_read32(&d, VDRV_DEVICE_FEATURES), 0);
	CHECK(lo & 1);                                  /* the device's own bit */
	CHECK(lo & (1u << VIRTIO_F_INDIRECT_DESC));
	CHECK(lo & (1u << VIRTIO_F_EVENT_IDX));
	CHECK(hi & 1);                                  /* VERSION_1 */
	vdrv_destroy(&d);
}

TEST(features_ok_accepts_subset)
{
	CHECK(setup() == 0);
	CHECK(vdrv_negotiate(&d, 1ULL << VIRTIO_F_VERSION_1) == 0);
	CHECK_EQ(td->dev.driver_features, 1ULL << VIRTIO_F_VERSION_1);
	vdrv_destroy(&d);
}

TEST(features_ok_refuses_unoffered)
{
	CHECK(setup() == 0);
	vdrv_write32(&d, VDRV_STATUS, ACK_DRIVER);
	write_features((1ULL << VIRTIO_F_VERSION_1) | (1ULL << 5));  /* bit 5 not offered */
	vdrv_write32(&d, VDRV_STATUS, ACK_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	CHECK_EQ(vdrv_status(&d) & VIRTIO_STATUS_FEATURES_OK, 0);
	CHECK_EQ(td->dev.driver_features, 0);
	vdrv_destroy(&d);
}

TEST(features_ok_requires_version_1)
{
	CHECK(setup() == 0);
	vdrv_write32(&d, VDRV_STATUS, ACK_DRIVER);
	write_features(1);
	vdrv_write32(&d, VDRV_STATUS, ACK_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	CHECK_EQ(vdrv_status(&d) & VIRTIO_STATUS_FEATURES_OK, 0);
	vdrv_destroy(&d);
}

TEST(features_high_select_refused)
{
	CHECK(setup() == 0);
	vdrv_write32(&d, VDRV_STATUS, ACK_DRIVER);
	write_features(1ULL << VIRTIO_F_VERSION_1);
	vdrv_write32(&d, VDRV_DRIVER_FEATURES_SEL, 7);
	vdrv_write32(&d, VDRV_DRIVER_FEATURES, 1);  /* bit 224: never offered */
	vdrv_write32(&d, VDRV_STATUS, ACK_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	CHECK_EQ(vdrv_status(&d) & VIRTIO_STATUS_FEATURES_OK, 0);
	vdrv_destroy(&d);
}

TEST(features_frozen_after_features_ok)
{
	CHECK(setup() == 0);
	CHECK(vdrv_negotiate(&d, 1ULL << VIRTIO_F_VERSION_1) == 0);
	write_features(~0ULL);
	CHECK_EQ(td->dev.driver_features, 1ULL << VIRTIO_F_VERSION_1);
	vdrv_destroy(&d);
}

TEST(driver_ok_needs_features_ok)
{
	CHECK(setup() == 0);
	vdrv_write32(&d, VDRV_STATUS, ACK_DRIVER);
	vdrv_write32(&d, VDRV_STATUS, ACK_DRIVER | VIRTIO_STATUS_DRIVER_OK);
	CHECK_EQ(vdrv_status(&d) & VIRTIO_STATUS_DRIVER_OK, 0);
	vdrv_destroy(&d);
}

TEST(status_cannot_clear_bits)
{
	CHECK(setup() == 0);
	CHECK(vdrv_negotiate(&d, ~0ULL) == 0);
	vdrv_write32(&d, VDRV_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	CHECK(vdrv_status(&d) & VIRTIO_STATUS_FEATURES_OK);
	vdrv_destroy(&d);
}

TEST(reset_clears_everything)
{
	CHECK(setup() == 0);
	CHECK(vdrv_negotiate(&d, ~0ULL) == 0);
	CHECK(vdrv_setup_queue(&d, 0, 64) == 0);
	CHECK(vdrv_driver_ok(&d) == 0);
	virtio_raise_irq(&td->dev, VIRTIO_ISR_USED_BUFFER);
	CHECK_EQ(vdrv_read32(&d, VDRV_INTERRUPT_STATUS), 1);
	unsigned resets_before = td->resets;
	vdrv_write32(&d, VDRV_STATUS, 0);
	CHECK_EQ(vdrv_status(&d), 0);
	CHECK_EQ(vdrv_read32(&d, VDRV_INTERRUPT_STATUS), 0);
	CHECK_EQ(td->dev.driver_features, 0);
	vdrv_write32(&d, VDRV_QUEUE_SEL, 0);
	CHECK_EQ(vdrv_read32(&d, VDRV_QUEUE_READY), 0);
	CHECK(!td->dev.vqs[0].active);
	CHECK_EQ(td->dev.vqs[0].size, 0);
	CHECK_EQ(td->dev.vqs[0].desc_gpa, 0);
	CHECK_EQ(td->resets, resets_before + 1);
	vdrv_destroy(&d);
}

TEST(queue_registers)
{
	CHECK(setup() == 0);
	vdrv_write32(&d, VDRV_QUEUE_SEL, 1);
	CHECK_EQ(vdrv_read32(&d, VDRV_QUEUE_NUM_MAX), 128);
	vdrv_write32(&d, VDRV_QUEUE_SEL, 2);  /* beyond nr_queues */
	CHECK_EQ(vdrv_read32(&d, VDRV_QUEUE_NUM_MAX), 0);
	vdrv_write32(&d, VDRV_QUEUE_NUM, 16);
	vdrv_write32(&d, VDRV_QUEUE_READY, 1);
	CHECK_EQ(vdrv_read32(&d, VDRV_QUEUE_READY), 0);
	vdrv_write32(&d, VDRV_QUEUE_SEL, 0xffffffff);
	vdrv_write32(&d, VDRV_QUEUE_DESC_LOW, 0x1234);
	CHECK_EQ(vdrv_read32(&d, VDRV_QUEUE_NUM_MAX), 0);
	vdrv_destroy(&d);
}

TEST(queue_config_frozen_when_ready)
{
	CHECK(setup() == 0);
	CHECK(vdrv_negotiate(&d, ~0ULL) == 0);
	CHECK(vdrv_setup_queue(&d, 0, 64) == 0);
	vdrv_write32(&d, VDRV_QUEUE_SEL, 0);
	vdrv_write32(&d, VDRV_QUEUE_NUM, 8);
	vdrv_write32(&d, VDRV_QUEUE_DESC_LOW, 0);
	CHECK_EQ(td->dev.vqs[0].size, 64);
	CHECK_EQ(td->dev.vqs[0].desc_gpa, d.q[0].desc_gpa);
	/* QueueReady 0 takes the queue away, then it can be reconfigured */
	vdrv_write32(&d, VDRV_QUEUE_READY, 0);
	CHECK_EQ(vdrv_read32(&d, VDRV_QUEUE_READY), 0);
	vdrv_write32(&d, VDRV_QUEUE_NUM, 8);
	CHECK_EQ(td->dev.vqs[0].size, 8);
	vdrv_destroy(&d);
}

TEST(queue_num_too_big_refused)
{
	CHECK(setup() == 0);
	CHECK(vdrv_negotiate(&d, ~0ULL) == 0);
	vdrv_write32(&d, VDRV_QUEUE_SEL, 0);
	vdrv_write32(&d, VDRV_QUEUE_NUM, 0x10000);  /* does not fit 16 bits */
	vdrv_write32(&d, VDRV_QUEUE_READY, 1);
	CHECK(vdrv_driver_ok(&d) != 0);
	CHECK(vdrv_status(&d) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	vdrv_destroy(&d);
}

TEST(interrupt_status_and_ack)
{
	CHECK(setup() == 0);
	vdrv_irq_count(&d);
	virtio_raise_irq(&td->dev, VIRTIO_ISR_USED_BUFFER);
	CHECK_EQ(vdrv_irq_count(&d), 1);
	virtio_raise_irq(&td->dev, VIRTIO_ISR_USED_BUFFER);
	CHECK_EQ(vdrv_irq_count(&d), 0);  /* still pending: no second signal */
	virtio_config_changed(&td->dev);
	CHECK_EQ(vdrv_irq_count(&d), 1);
	CHECK_EQ(vdrv_read32(&d, VDRV_INTERRUPT_STATUS), 3);
	CHECK_EQ(vdrv_read32(&d, VDRV_CONFIG_GENERATION), 1);
	vdrv_write32(&d, VDRV_INTERRUPT_ACK, 1);
	CHECK_EQ(vdrv_read32(&d, VDRV_INTERRUPT_STATUS), 2);
	vdrv_write32(&d, VDRV_INTERRUPT_ACK, 2);
	CHECK_EQ(vdrv_read32(&d, VDRV_INTERRUPT_STATUS), 0);
	CHECK_EQ(virtio_mmio_isr(d.t), 0);
	vdrv_destroy(&d);
}

/* The VMM's coalesced-ACK mode: reading InterruptStatus clears it. */
TEST(interrupt_status_read_clears)
{
	CHECK(setup() == 0);
	d.t->isr_read_clears = true;
	vdrv_irq_count(&d);
	virtio_raise_irq(&td->dev, VIRTIO_ISR_USED_BUFFER);
	CHECK_EQ(vdrv_irq_count(&d), 1);
	CHECK_EQ(vdrv_read32(&d, VDRV_INTERRUPT_STATUS), 1);
	CHECK_EQ(vdrv_read32(&d, VDRV_INTERRUPT_STATUS), 0);
	virtio_raise_irq(&td->dev, VIRTIO_ISR_USED_BUFFER);
	CHECK_EQ(vdrv_irq_count(&d), 1);  /* cleared by the read: a new signal */
	vdrv_write32(&d, VDRV_INTERRUPT_ACK, 1);  /* a late ACK must not clear it */
	CHECK_EQ(virtio_mmio_isr(d.t), 1);
	vdrv_destroy(&d);
}

TEST(config_space)
{
	uint8_t b;
	uint16_t w;
	uint64_t q;
	uint32_t v;

	CHECK(setup() == 0);
	td->config = 0x1122334455667788ULL;
	virtio_mmio_read(d.t, VDRV_CONFIG + 1, &b, 1);
	CHECK_EQ(b, 0x77);
	virtio_mmio_read(d.t, VDRV_CONFIG + 2, &w, 2);
	CHECK_EQ(w, 0x5566);
	virtio_mmio_read(d.t, VDRV_CONFIG, &q, 8);
	CHECK_EQ(q, 0x1122334455667788ULL);
	/* beyond config_size (8) or straddling it: 0, ignored */
	v = 0xffffffff;
	virtio_mmio_read(d.t, VDRV_CONFIG + 6, &v, 4);
	CHECK_EQ(v, 0);
	virtio_mmio_read(d.t, VDRV_CONFIG + 0xe00, &v, 4);
	CHECK_EQ(v, 0);
	w = 0xbeef;
	virtio_mmio_write(d.t, VDRV_CONFIG + 0, &w, 2);
	CHECK_EQ(td->config, 0x112233445566beefULL);
	virtio_mmio_write(d.t, VDRV_CONFIG + 7, &w, 2);  /* straddles: ignored */
	CHECK_EQ(td->config, 0x112233445566beefULL);
	vdrv_destroy(&d);
}

TEST(bad_width_and_offset)
{
	uint8_t b = 0xff;
	uint16_t w = 0xffff;
	uint64_t q = ~0ULL;
	uint8_t odd[3] = { 1, 2, 3 };
	uint32_t v = 0xffffffff;

	CHECK(setup() == 0);
	virtio_mmio_read(d.t, VDRV_MAGIC, &b, 1);
	CHECK_EQ(b, 0);
	virtio_mmio_read(d.t, VDRV_MAGIC, &w, 2);
	CHECK_EQ(w, 0);
	virtio_mmio_read(d.t, VDRV_MAGIC, &q, 8);
	CHECK_EQ(q, 0);
	virtio_mmio_read(d.t, VDRV_MAGIC, odd, 3);
	CHECK(odd[0] == 0 && odd[1] == 0 && odd[2] == 0);
	virtio_mmio_read(d.t, 0x002, &v, 4);   /* misaligned */
	CHECK_EQ(v, 0);
	v = 0xffffffff;
	virtio_mmio_read(d.t, 0x0f0, &v, 4);   /* unknown */
	CHECK_EQ(v, 0);
	/* writes of the wrong width / to read-only or unknown registers: no effect */
	b = 0;
	virtio_mmio_write(d.t, VDRV_STATUS, &b, 1);
	vdrv_write32(&d, VDRV_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	b = 0;
	virtio_mmio_write(d.t, VDRV_STATUS, &b, 1);  /* 1-byte reset attempt: ignored */
	CHECK_EQ(vdrv_status(&d), VIRTIO_STATUS_ACKNOWLEDGE);
	vdrv_write32(&d, VDRV_MAGIC, 0);
	vdrv_write32(&d, 0x0f0, 0);
	vdrv_write32(&d, 0xffc, 0);
	CHECK_EQ(vdrv_read32(&d, VDRV_MAGIC), 0x74726976);
	virtio_mmio_read(d.t, 0x100000, &v, 4);  /* outside the window */
	CHECK_EQ(v, 0);
	vdrv_destroy(&d);
}

TEST(iothread_serves_kicks)
{
	uint32_t id, len;
	int got = 0;

	CHECK(setup() == 0);
	CHECK(vdrv_negotiate(&d, ~0ULL) == 0);
	CHECK(vdrv_setup_queue(&d, 0, 64) == 0);
	CHECK(vdrv_driver_ok(&d) == 0);
	CHECK(virtio_mmio_start(d.t) == 0);
	for (int i = 0; i < 200; i++) {
		struct vdrv_buf b = { vdrv_alloc(&d, 16, 8), 16, true };
		while (vdrv_add_chain(&d, 0, &b, 1, false) < 0) {
			/* ring full: wait for completions */
			struct pollfd p = { .fd = d.t->irq_fd, .events = POLLIN };
			poll(&p, 1, 100);
			vdrv_ack_irq(&d);
			while (vdrv_get_used(&d, 0, &id, &len))
				got++;
		}
		vdrv_kick(&d, 0);
	}
	for (int tries = 0; got < 200 && tries < 1000; tries++) {
		struct pollfd p = { .fd = d.t->irq_fd, .events = POLLIN };
		poll(&p, 1, 10);
		vdrv_ack_irq(&d);
		while (vdrv_get_used(&d, 0, &id, &len))
			got++;
	}
	CHECK_EQ(got, 200);
	vdrv_destroy(&d);  /* stops the thread */
}

/*
 * A device whose queues another process serves (vhost-user, shared
 * memory): the I/O thread leaves the kick fds alone, and InterruptStatus
 * always says "used buffer" (the back-end signals irq_fd directly).
 */
TEST(external_queues)
{
	CHECK(vdrv_init(&d, 1 << 20) == 0);
	td = testdev_create(&d.mem, 2, 128);
	CHECK(td != NULL);
	vdrv_attach(&d, virtio_mmio_create_external(&td->dev, 0xd0000000, 16));
	CHECK(d.t != NULL && d.t->external_queues);
	CHECK(vdrv_negotiate(&d, ~0ULL) == 0);
	CHECK(vdrv_setup_queue(&d, 0, 64) == 0);
	CHECK(vdrv_driver_ok(&d) == 0);
	CHECK_EQ(vdrv_read32(&d, VDRV_INTERRUPT_STATUS), VIRTIO_ISR_USED_BUFFER);
	vdrv_kick(&d, 0);
	CHECK_EQ(virtio_mmio_poll(d.t, 0), 0);     /* not the VMM's to take */
	struct pollfd p = { .fd = d.t->kick_fd[0], .events = POLLIN };
	CHECK_EQ(poll(&p, 1, 0), 1);               /* still there for the back-end */
	CHECK_EQ(td->dev.stats.kicks, 0);
	virtio_config_changed(&td->dev);
	CHECK_EQ(vdrv_read32(&d, VDRV_INTERRUPT_STATUS), VIRTIO_ISR_USED_BUFFER | VIRTIO_ISR_CONFIG_CHANGE);
	vdrv_destroy(&d);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	RUN(identification);
	RUN(device_features);
	RUN(features_ok_accepts_subset);
	RUN(features_ok_refuses_unoffered);
	RUN(features_ok_requires_version_1);
	RUN(features_high_select_refused);
	RUN(features_frozen_after_features_ok);
	RUN(driver_ok_needs_features_ok);
	RUN(status_cannot_clear_bits);
	RUN(reset_clears_everything);
	RUN(queue_registers);
	RUN(queue_config_frozen_when_ready);
	RUN(queue_num_too_big_refused);
	RUN(interrupt_status_and_ack);
	RUN(interrupt_status_read_clears);
	RUN(config_space);
	RUN(bad_width_and_offset);
	RUN(iothread_serves_kicks);
	RUN(external_queues);
	return test_exit();
}
