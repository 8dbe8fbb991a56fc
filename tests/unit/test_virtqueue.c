/*
 * Split-virtqueue tests: well-formed chains (direct, indirect, mixed,
 * zero-length buffers) and every kind of hostile driver input the device
 * must refuse by entering DEVICE_NEEDS_RESET without touching memory
 * outside guest RAM; recovery after reset; interrupt suppression
 * (NO_INTERRUPT, EVENT_IDX) and kick suppression.
 */
#include "unit/test.h"
#include "virtio_driver.h"
#include "virtio_testdev.h"

#include "common/log.h"

#define RAM_SIZE (8ULL << 20)
#define QSIZE 16
#define ALL_FEATURES (~0ULL)
#define NO_EVENT_IDX (~(1ULL << VIRTIO_F_EVENT_IDX))

static struct vdrv d;
static struct testdev *td;

static int setup_q(uint64_t features, uint16_t qsize)
{
	if (vdrv_init(&d, RAM_SIZE))
		return -1;
	td = testdev_create(&d.mem, 2, 256);
	if (!td)
		return -1;
	vdrv_attach(&d, virtio_mmio_create(&td->dev, 0xd0000000, 16));
	if (!d.t || vdrv_negotiate(&d, features) || vdrv_setup_queue(&d, 0, qsize) ||
	    vdrv_driver_ok(&d))
		return -1;
	return 0;
}

static int setup(uint64_t features) { return setup_q(features, QSIZE); }

static void teardown(void) { vdrv_destroy(&d); }

static void run(void)
{
	vdrv_kick(&d, 0);
	vdrv_poll(&d);
}

static bool needs_reset(void)
{
	return vdrv_status(&d) & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
}

/* Write descriptor i of queue 0 directly (hostile driver). */
static void set_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	d.q[0].desc[i] = (struct virtq_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

static uint64_t buf(uint32_t len) { return vdrv_alloc(&d, len, 8); }

TEST(basic_chain)
{
	CHECK(setup(ALL_FEATURES) == 0);
	struct vdrv_buf b[3] = { { buf(16), 16, false }, { buf(100), 100, false }, { buf(64), 64, true } };
	uint32_t id, len;
	int head = vdrv_add_chain(&d, 0, b, 3, false);

	run();
	CHECK(vdrv_get_used(&d, 0, &id, &len));
	CHECK_EQ(id, head);
	CHECK_EQ(len, 64);
	CHECK_EQ(td->last.nr_readable, 2);
	CHECK_EQ(td->last.nr_writable, 1);
	CHECK_EQ(td->last.readable_len, 116);
	CHECK_EQ(td->last.writable_len, 64);
	CHECK_EQ(((uint8_t *)vdrv_ptr(&d, b[2].gpa))[63], 0xab);
	CHECK(!needs_reset());
	teardown();
}

TEST(indirect_chain)
{
	CHECK(setup(ALL_FEATURES) == 0);
	struct vdrv_buf b[4] = { { buf(16), 16, false }, { buf(8), 8, false },
				 { buf(32), 32, true }, { buf(1), 1, true } };
	uint32_t id, len;

	vdrv_add_chain(&d, 0, b, 4, true);
	run();
	CHECK(vdrv_get_used(&d, 0, &id, &len));
	CHECK_EQ(len, 33);
	CHECK_EQ(td->last.nr_readable, 2);
	CHECK_EQ(td->last.nr_writable, 2);
	CHECK(!needs_reset());
	teardown();
}

TEST(many_chains_wrap_ring)
{
	CHECK(setup(ALL_FEATURES) == 0);
	uint64_t g = buf(64);
	uint32_t id, len;
	unsigned got = 0;

	/* 5 rounds of a full ring: indices wrap past the queue size. */
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < QSIZE; i++) {
			struct vdrv_buf b = { g, 64, true };
			CHECK(vdrv_add_chain(&d, 0, &b, 1, false) >= 0);
		}
		run();
		while (vdrv_get_used(&d, 0, &id, &len))
			got++;
	}
	CHECK_EQ(got, 5 * QSIZE);
	CHECK(!needs_reset());
	teardown();
}

TEST(zero_length_buffers)
{
	CHECK(setup(ALL_FEATURES) == 0);
	/* zero-length buffers anywhere, even at an address outside RAM: ignored */
	set_desc(0, buf(8), 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, 0xdead0000000ULL, 0, VIRTQ_DESC_F_NEXT, 2);
	set_desc(2, buf(8), 0, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
	set_desc(3, buf(8), 8, VIRTQ_DESC_F_WRITE, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(!needs_reset());
	CHECK_EQ(td->chains, 1);
	CHECK_EQ(td->last.nr_readable, 1);
	CHECK_EQ(td->last.nr_writable, 1);
	teardown();
}

TEST(descriptor_loop)
{
	CHECK(setup(ALL_FEATURES) == 0);
	set_desc(0, buf(8), 8, VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, buf(8), 8, VIRTQ_DESC_F_NEXT, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(needs_reset());
	CHECK_EQ(td->chains, 0);
	CHECK_EQ(td->last_pop, -1);
	teardown();
}

TEST(self_loop)
{
	CHECK(setup(ALL_FEATURES) == 0);
	set_desc(3, buf(8), 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
	vdrv_publish(&d, 0, 3);
	run();
	CHECK(needs_reset());
	teardown();
}

TEST(head_index_beyond_queue)
{
	CHECK(setup(ALL_FEATURES) == 0);
	vdrv_publish(&d, 0, QSIZE);
	run();
	CHECK(needs_reset());
	teardown();
}

TEST(next_index_beyond_queue)
{
	CHECK(setup(ALL_FEATURES) == 0);
	set_desc(0, buf(8), 8, VIRTQ_DESC_F_NEXT, 0xffff);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(needs_reset());
	teardown();
}

TEST(address_outside_ram)
{
	CHECK(setup(ALL_FEATURES) == 0);
	set_desc(0, 0x1000, 8, VIRTQ_DESC_F_WRITE, 0);  /* below the RAM base */
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(needs_reset());
	teardown();
}

TEST(address_straddles_ram_end)
{
	CHECK(setup(ALL_FEATURES) == 0);
	set_desc(0, VDRV_GPA_BASE + RAM_SIZE - 8, 16, VIRTQ_DESC_F_WRITE, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(needs_reset());
	teardown();
}

TEST(address_at_ram_end_ok)
{
	CHECK(setup(ALL_FEATURES) == 0);
	set_desc(0, VDRV_GPA_BASE + RAM_SIZE - 16, 16, VIRTQ_DESC_F_WRITE, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(!needs_reset());
	CHECK_EQ(td->chains, 1);
	teardown();
}

TEST(address_length_overflow)
{
	CHECK(setup(ALL_FEATURES) == 0);
	set_desc(0, 0xffffffffffffff00ULL, 0x1000, VIRTQ_DESC_F_WRITE, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(needs_reset());
	teardown();
}

/* Two adjacent memory regions: a buffer may not span both (no assumption
 * that they are contiguous in the host). */
TEST(buffer_straddles_two_regions)
{
	static uint8_t second[4096];

	CHECK(setup(ALL_FEATURES) == 0);
	guest_mem_add(&d.mem, VDRV_GPA_BASE + RAM_SIZE, sizeof(second), second);
	set_desc(0, VDRV_GPA_BASE + RAM_SIZE - 8, 16, VIRTQ_DESC_F_WRITE, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(needs_reset());
	teardown();
}

TEST(buffer_in_second_region_ok)
{
	static uint8_t second[4096];

	CHECK(setup(ALL_FEATURES) == 0);
	guest_mem_add(&d.mem, VDRV_GPA_BASE + RAM_SIZE, sizeof(second), second);
	set_desc(0, VDRV_GPA_BASE + RAM_SIZE + 8, 16, VIRTQ_DESC_F_WRITE, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(!needs_reset());
	CHECK_EQ(second[8], 0xab);
	teardown();
}

TEST(readable_after_writable)
{
	CHECK(setup(ALL_FEATURES) == 0);
	set_desc(0, buf(8), 8, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	set_desc(1, buf(8), 8, 0, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(needs_reset());
	teardown();
}

/* Write an indirect table at gpa with n entries; returns gpa. */
static uint64_t table(unsigned n)
{
	uint64_t t = vdrv_alloc(&d, 16ULL * n, 16);
	uint64_t b = buf(8);
	struct virtq_desc *p = vdrv_ptr(&d, t);

	for (unsigned i = 0; i < n; i++)
		p[i] = (struct virtq_desc){ b, 8, (uint16_t)(VIRTQ_DESC_F_WRITE |
				(i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)), (uint16_t)(i + 1) };
	return t;
}

TEST(nested_indirect)
{
	CHECK(setup(ALL_FEATURES) == 0);
	uint64_t inner = table(2), outer = vdrv_alloc(&d, 16, 16);
	struct virtq_desc *p = vdrv_ptr(&d, outer);

	*p = (struct virtq_desc){ inner, 32, VIRTQ_DESC_F_INDIRECT, 0 };
	set_desc(0, outer, 16, VIRTQ_DESC_F_INDIRECT, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(needs_reset());
	teardown();
}

TEST(indirect_with_next)
{
	CHECK(setup(ALL_FEATURES) == 0);
	set_desc(0, table(2), 32, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, buf(8), 8, VIRTQ_DESC_F_WRITE, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(needs_reset());
	teardown();
}

TEST(indirect_len_not_multiple_of_16)
{
	CHECK(setup(ALL_FEATURES) == 0);
	set_desc(0, table(2), 24, VIRTQ_DESC_F_INDIRECT, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(needs_reset());
	teardown();
}

TEST(indirect_zero_len)
{
	CHECK(setup(ALL_FEATURES) == 0);
	set_desc(0, table(1), 0, VIRTQ_DESC_F_INDIRECT, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(needs_reset());
	teardown();
}

TEST(indirect_oversized)
{
	CHECK(setup(ALL_FEATURES) == 0);
	uint64_t t = table(VIRTQ_MAX_SIZE + 1);

	set_desc(0, t, 16 * (VIRTQ_MAX_SIZE + 1), VIRTQ_DESC_F_INDIRECT, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(needs_reset());
	teardown();
}

TEST(indirect_max_size_ok)
{
	CHECK(setup(ALL_FEATURES) == 0);
	td->max_iov = TESTDEV_MAX_IOV;
	set_desc(0, table(VIRTQ_MAX_SIZE), 16 * VIRTQ_MAX_SIZE, VIRTQ_DESC_F_INDIRECT, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(!needs_reset());
	CHECK_EQ(td->chains, 1);
	CHECK(td->last.truncated);  /* 1024 buffers > the device's 64 */
	CHECK_EQ(td->last.nr_writable, TESTDEV_MAX_IOV);
	CHECK_EQ(td->last.writable_len, 8 * VIRTQ_MAX_SIZE);
	teardown();
}

TEST(indirect_table_outside_ram)
{
	CHECK(setup(ALL_FEATURES) == 0);
	set_desc(0, VDRV_GPA_BASE + RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(needs_reset());
	teardown();
}

TEST(indirect_loop)
{
	CHECK(setup(ALL_FEATURES) == 0);
	uint64_t t = table(4);
	struct virtq_desc *p = vdrv_ptr(&d, t);

	p[3].flags |= VIRTQ_DESC_F_NEXT;
	p[3].next = 1;
	set_desc(0, t, 64, VIRTQ_DESC_F_INDIRECT, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(needs_reset());
	teardown();
}

TEST(indirect_next_beyond_table)
{
	CHECK(setup(ALL_FEATURES) == 0);
	uint64_t t = table(4);
	struct virtq_desc *p = vdrv_ptr(&d, t);

	p[3].flags |= VIRTQ_DESC_F_NEXT;
	p[3].next = 4;
	set_desc(0, t, 64, VIRTQ_DESC_F_INDIRECT, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(needs_reset());
	teardown();
}

TEST(indirect_not_negotiated)
{
	CHECK(setup(~(1ULL << VIRTIO_F_INDIRECT_DESC)) == 0);
	set_desc(0, table(2), 32, VIRTQ_DESC_F_INDIRECT, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(needs_reset());
	teardown();
}

TEST(total_length_overflow)
{
	CHECK(setup(ALL_FEATURES) == 0);
	/* 1024 descriptors of 7 MiB each = 7 GiB > 4 GiB: lengths must not wrap. */
	uint64_t t = vdrv_alloc(&d, 16 * 1024, 16);
	struct virtq_desc *p = vdrv_ptr(&d, t);

	for (unsigned i = 0; i < 1024; i++)
		p[i] = (struct virtq_desc){ VDRV_GPA_BASE, 7u << 20, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
					    (uint16_t)(i + 1) };
	p[1023].flags = VIRTQ_DESC_F_WRITE;
	set_desc(0, t, 16 * 1024, VIRTQ_DESC_F_INDIRECT, 0);
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(needs_reset());
	teardown();
}

TEST(avail_idx_jump)
{
	CHECK(setup(ALL_FEATURES) == 0);
	__atomic_store_n(&d.q[0].avail->idx, QSIZE + 1, __ATOMIC_RELEASE);
	run();
	CHECK(needs_reset());
	CHECK_EQ(td->chains, 0);
	teardown();
}

TEST(avail_idx_full_ring_ok)
{
	CHECK(setup(ALL_FEATURES) == 0);
	uint64_t g = buf(8);

	for (int i = 0; i < QSIZE; i++) {
		struct vdrv_buf b = { g, 8, true };
		vdrv_add_chain(&d, 0, &b, 1, false);
	}
	run();
	CHECK(!needs_reset());
	CHECK_EQ(td->chains, QSIZE);
	teardown();
}

TEST(truncated_chain_not_broken)
{
	CHECK(setup(ALL_FEATURES) == 0);
	struct vdrv_buf b[4] = { { buf(8), 8, false }, { buf(8), 8, false },
				 { buf(8), 8, true }, { buf(8), 8, true } };
	td->max_iov = 2;
	vdrv_add_chain(&d, 0, b, 4, false);
	run();
	CHECK(!needs_reset());
	CHECK(td->last.truncated);
	CHECK_EQ(td->last.nr_readable + td->last.nr_writable, 2);
	CHECK_EQ(td->last.writable_len, 16);
	teardown();
}

TEST(ring_outside_ram)
{
	CHECK(vdrv_init(&d, RAM_SIZE) == 0);
	td = testdev_create(&d.mem, 1, 256);
	vdrv_attach(&d, virtio_mmio_create(&td->dev, 0xd0000000, 16));
	CHECK(vdrv_negotiate(&d, ALL_FEATURES) == 0);
	/* used ring straddles the end of RAM */
	vdrv_setup_queue_at(&d, 0, 16, VDRV_GPA_BASE, VDRV_GPA_BASE + 0x1000,
			    VDRV_GPA_BASE + RAM_SIZE - 64);
	CHECK(vdrv_driver_ok(&d) != 0);
	CHECK(needs_reset());
	teardown();
}

TEST(ring_misaligned)
{
	CHECK(vdrv_init(&d, RAM_SIZE) == 0);
	td = testdev_create(&d.mem, 1, 256);
	vdrv_attach(&d, virtio_mmio_create(&td->dev, 0xd0000000, 16));
	CHECK(vdrv_negotiate(&d, ALL_FEATURES) == 0);
	vdrv_setup_queue_at(&d, 0, 16, VDRV_GPA_BASE + 8, VDRV_GPA_BASE + 0x1000,
			    VDRV_GPA_BASE + 0x2000);
	CHECK(vdrv_driver_ok(&d) != 0);
	CHECK(needs_reset());
	teardown();
}

TEST(queue_size_not_power_of_2)
{
	CHECK(setup_q(ALL_FEATURES, 12) != 0);
	CHECK(needs_reset());
	teardown();
}

TEST(queue_size_above_max)
{
	CHECK(setup_q(ALL_FEATURES, 512) != 0);  /* device max is 256 */
	CHECK(needs_reset());
	teardown();
}

/* A broken queue: status, config interrupt, counted once; reset recovers. */
TEST(needs_reset_and_recovery)
{
	struct vdrv d2;
	struct testdev *td2;
	uint32_t id, len;

	CHECK(setup(ALL_FEATURES) == 0);
	/* a second, healthy device */
	CHECK(vdrv_init(&d2, 1 << 20) == 0);
	td2 = testdev_create(&d2.mem, 1, 256);
	vdrv_attach(&d2, virtio_mmio_create(&td2->dev, 0xd0001000, 17));
	CHECK(vdrv_negotiate(&d2, ALL_FEATURES) == 0);
	CHECK(vdrv_setup_queue(&d2, 0, 16) == 0);
	CHECK(vdrv_driver_ok(&d2) == 0);

	vdrv_ack_irq(&d);
	set_desc(0, buf(8), 8, VIRTQ_DESC_F_NEXT, 0);  /* loop */
	vdrv_publish(&d, 0, 0);
	run();
	CHECK(needs_reset());
	CHECK(vdrv_ack_irq(&d) & VIRTIO_ISR_CONFIG_CHANGE);
	CHECK_EQ(td->dev.stats.needs_reset, 1);
	/* further kicks do nothing and do not count again */
	run();
	CHECK_EQ(td->dev.stats.needs_reset, 1);
	CHECK_EQ(td->chains, 0);

	/* the other device is unaffected */
	struct vdrv_buf b2 = { vdrv_alloc(&d2, 8, 8), 8, true };
	vdrv_add_chain(&d2, 0, &b2, 1, false);
	vdrv_kick(&d2, 0);
	vdrv_poll(&d2);
	CHECK(vdrv_get_used(&d2, 0, &id, &len));
	vdrv_destroy(&d2);

	/* the driver resets and re-initialises: works again */
	CHECK(vdrv_negotiate(&d, ALL_FEATURES) == 0);
	CHECK(!needs_reset());
	CHECK(vdrv_setup_queue(&d, 0, QSIZE) == 0);
	CHECK(vdrv_driver_ok(&d) == 0);
	struct vdrv_buf b = { buf(8), 8, true };
	vdrv_add_chain(&d, 0, &b, 1, false);
	run();
	CHECK(vdrv_get_used(&d, 0, &id, &len));
	CHECK_EQ(len, 8);
	CHECK_EQ(td->dev.stats.resets >= 1, 1);
	teardown();
}

TEST(no_interrupt_flag)
{
	CHECK(setup(NO_EVENT_IDX) == 0);
	struct vdrv_buf b = { buf(8), 8, true };

	vdrv_irq_count(&d);
	d.q[0].avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	vdrv_add_chain(&d, 0, &b, 1, false);
	run();
	CHECK_EQ(vdrv_irq_count(&d), 0);
	d.q[0].avail->flags = 0;
	vdrv_add_chain(&d, 0, &b, 1, false);
	run();
	CHECK_EQ(vdrv_irq_count(&d), 1);
	teardown();
}

TEST(event_idx_suppression)
{
	CHECK(setup(ALL_FEATURES) == 0);
	struct vdrv_buf b = { buf(8), 8, true };
	uint16_t *used_event = virtq_used_event(d.q[0].avail, QSIZE);
	uint32_t id, len;

	CHECK(d.features & (1ULL << VIRTIO_F_EVENT_IDX));
	vdrv_ack_irq(&d);
	/* first completion: interrupt (nothing signalled yet) */
	vdrv_add_chain(&d, 0, &b, 1, false);
	run();
	CHECK_EQ(vdrv_irq_count(&d), 1);
	vdrv_ack_irq(&d);
	/* the driver wants an interrupt only after used idx passes 5 */
	*used_event = 5;
	for (int i = 0; i < 3; i++) {
		vdrv_add_chain(&d, 0, &b, 1, false);
		run();
	}
	CHECK_EQ(vdrv_irq_count(&d), 0);  /* used idx 1..4: no interrupt */
	for (int i = 0; i < 3; i++) {
		vdrv_add_chain(&d, 0, &b, 1, false);
		run();
	}
	CHECK_EQ(vdrv_irq_count(&d), 1);  /* crossing 5 -> 6 */
	CHECK(td->dev.stats.irqs_suppressed >= 4);
	while (vdrv_get_used(&d, 0, &id, &len))
		;
	/* avail_event tells the driver where to kick next */
	CHECK_EQ(*virtq_avail_event(d.q[0].used, QSIZE), 7);
	teardown();
}

TEST(used_no_notify_flag)
{
	CHECK(setup(NO_EVENT_IDX) == 0);
	struct vdrv_buf b = { buf(8), 8, true };

	vdrv_add_chain(&d, 0, &b, 1, false);
	run();
	/* after processing, kicks are re-enabled */
	CHECK_EQ(d.q[0].used->flags & VIRTQ_USED_F_NO_NOTIFY, 0);
	teardown();
}

TEST(queue_not_ready_ignored)
{
	CHECK(setup(ALL_FEATURES) == 0);
	/* queue 1 was never set up: a kick on it does nothing */
	vdrv_kick(&d, 1);
	vdrv_kick(&d, 7);
	vdrv_kick(&d, 1000);
	vdrv_poll(&d);
	CHECK(!needs_reset());
	CHECK_EQ(td->chains, 0);
	teardown();
}

int main(void)
{
	log_set_level(LOG_ERROR);  /* the hostile cases log warnings by design */
	RUN(basic_chain);
	RUN(indirect_chain);
	RUN(many_chains_wrap_ring);
	RUN(zero_length_buffers);
	RUN(descriptor_loop);
	RUN(self_loop);
	RUN(head_index_beyond_queue);
	RUN(next_index_beyond_queue);
	RUN(address_outside_ram);
	RUN(address_straddles_ram_end);
	RUN(address_at_ram_end_ok);
	RUN(address_length_overflow);
	RUN(buffer_straddles_two_regions);
	RUN(buffer_in_second_region_ok);
	RUN(readable_after_writable);
	RUN(nested_indirect);
	RUN(indirect_with_next);
	RUN(indirect_len_not_multiple_of_16);
	RUN(indirect_zero_len);
	RUN(indirect_oversized);
	RUN(indirect_max_size_ok);
	RUN(indirect_table_outside_ram);
	RUN(indirect_loop);
	RUN(indirect_next_beyond_table);
	RUN(indirect_not_negotiated);
	RUN(total_length_overflow);
	RUN(avail_idx_jump);
	RUN(avail_idx_full_ring_ok);
	RUN(truncated_chain_not_broken);
	RUN(ring_outside_ram);
	RUN(ring_misaligned);
	RUN(queue_size_not_power_of_2);
	RUN(queue_size_above_max);
	RUN(needs_reset_and_recovery);
	RUN(no_interrupt_flag);
	RUN(event_idx_suppression);
	RUN(used_no_notify_flag);
	RUN(queue_not_ready_ignored);
	return test_exit();
}
