/*
 * capvm-hostile: a hostile virtio-blk driver, run inside a capvm guest.
 *
 * It drives one virtio-mmio block device directly through /dev/mem, without
 * the kernel's driver, and feeds it malformed split virtqueues: descriptor
 * loops, indices beyond the queue size, addresses outside guest RAM or
 * straddling its end, length overflows, nested and oversized indirect tables,
 * readable-after-writable chains, a write-only request header, bad queue
 * sizes and misplaced rings.  For each attack it checks what the issue asks
 * of the VMM: the device reports DEVICE_NEEDS_RESET (status bit 0x40) with a
 * config-change interrupt (InterruptStatus bit 0x2), and after a reset
 * (status 0) the same device serves well-formed requests again (GET_ID
 * returns the serial, a 512-byte read of sector 0 completes with status OK
 * and returns the image's first bytes).
 *
 * The device must not be bound by the guest kernel (the test unbinds it from
 * the virtio-mmio driver first) and the rings live in a physical range that
 * the kernel does not use: the test reserves it on the kernel command line
 * (memmap=SIZE$ADDR, plus iomem=relaxed for the device window).  See
 * docs/hostile-guest.md.
 *
 * Output: one line per attack, "CAPVM-HOSTILE <attack> ok" or
 * "CAPVM-HOSTILE <attack> FAIL <why>", then "CAPVM-HOSTILE done ok=N fail=M
 * needs_reset=R" (R: attacks the device answered with DEVICE_NEEDS_RESET,
 * each of which the VMM should have logged once).
 * Exit status 0 when every attack passed, 1 otherwise, 2 on a usage or set-up
 * error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* virtio-mmio registers (virtio 1.2 section 4.2.2). */
#define REG_MAGIC            0x000
#define REG_VERSION          0x004
#define REG_DEVICE_ID        0x008
#define REG_DEVICE_FEATURES  0x010
#define REG_DEVICE_FEAT_SEL  0x014
#define REG_DRIVER_FEATURES  0x020
#define REG_DRIVER_FEAT_SEL  0x024
#define REG_QUEUE_SEL        0x030
#define REG_QUEUE_NUM_MAX    0x034
#define REG_QUEUE_NUM        0x038
#define REG_QUEUE_READY      0x044
#define REG_QUEUE_NOTIFY     0x050
#define REG_INTERRUPT_STATUS 0x060
#define REG_INTERRUPT_ACK    0x064
#define REG_STATUS           0x070
#define REG_QUEUE_DESC_LOW   0x080
#define REG_QUEUE_DESC_HIGH  0x084
#define REG_QUEUE_AVAIL_LOW  0x090
#define REG_QUEUE_AVAIL_HIGH 0x094
#define REG_QUEUE_USED_LOW   0x0a0
#define REG_QUEUE_USED_HIGH  0x0a4

#define MMIO_MAGIC 0x74726976u  /* "virt" */
#define MMIO_SIZE  0x1000

#define ST_ACKNOWLEDGE  0x01
#define ST_DRIVER       0x02
#define ST_DRIVER_OK    0x04
#define ST_FEATURES_OK  0x08
#define ST_NEEDS_RESET  0x40
#define ISR_USED        0x1
#define ISR_CONFIG      0x2

#define F_INDIRECT_DESC 28
#define F_VERSION_1     32

#define DESC_F_NEXT     1
#define DESC_F_WRITE    2
#define DESC_F_INDIRECT 4

#define BLK_T_IN     0
#define BLK_T_GET_ID 8
#define BLK_S_OK     0
#define BLK_S_IOERR  1
#define BLK_ID_BYTES 20

#define QSIZE 8  /* the queue size the attacks use (power of 2, small) */

struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; } __attribute__((packed));
struct blk_hdr { uint32_t type, reserved; uint64_t sector; } __attribute__((packed));

/*
 * Layout of the scratch range (guest-physical, reserved from the kernel).
 * Offsets are page-aligned so every structure is naturally aligned.
 */
#define OFF_DESC     0x0000
#define OFF_AVAIL    0x1000
#define OFF_USED     0x2000
#define OFF_HDR      0x3000
#define OFF_STATUS   0x3100
#define OFF_DATA     0x4000   /* 4 KiB */
#define OFF_INDIRECT 0x10000  /* indirect tables, up to 0x90000 bytes */
#define SCRATCH_MIN  0x100000

static volatile uint32_t *regs;   /* the device's register window */
static uint8_t *scratch;          /* host view of the scratch range */
static uint64_t scratch_gpa;      /* its guest-physical address */
static uint64_t ram_end;          /* first byte above guest RAM */
static const char *want_serial;   /* expected GET_ID answer, or NULL */
static const char *want_sector0;  /* expected first bytes of sector 0, or NULL */
static int timeout_ms = 5000;
static int resets_seen;           /* attacks that ended in DEVICE_NEEDS_RESET */

static uint32_t rd(unsigned off) { return regs[off / 4]; }

/*
 * InterruptStatus bits seen since the last set-up.  Reads accumulate: capvm
 * may clear the register on read (when it defers InterruptACK writes), so
 * a bit seen once must not be lost by the next poll.
 */
static uint32_t isr_seen;
static uint32_t read_isr(void)
{
	isr_seen |= rd(REG_INTERRUPT_STATUS);
	return isr_seen;
}
static void wr(unsigned off, uint32_t v) { __sync_synchronize(); regs[off / 4] = v; }

static uint64_t gpa(unsigned off) { return scratch_gpa + off; }
static struct desc *descs(void) { return (struct desc *)(scratch + OFF_DESC); }
static volatile uint16_t *avail(void) { return (volatile uint16_t *)(scratch + OFF_AVAIL); }
static volatile uint16_t *used_idx(void) { return (volatile uint16_t *)(scratch + OFF_USED + 2); }
static volatile uint32_t *used_elem(unsigned i) /* {id, len} */
{
	return (volatile uint32_t *)(scratch + OFF_USED + 4 + 8 * (i % QSIZE));
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Why the current attack failed (first reason only). */
static char why[256];
static bool failed;
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	if (failed)
		return;
	failed = true;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
}

/* Reset the device and wait until it reads back status 0. */
static bool device_reset(void)
{
	wr(REG_STATUS, 0);
	for (int t = 0; t < timeout_ms; t++) {
		if (rd(REG_STATUS) == 0)
			return true;
		sleep_ms(1);
	}
	fail("status still 0x%x after reset", rd(REG_STATUS));
	return false;
}

/*
 * Clear the rings and buffers of the scratch range.  Only with the device
 * reset (device_setup_ex does it): zeroing the rings of a live queue would
 * itself be an attack (the avail index going backwards), which a device that
 * polls its queue (say, at the end of an interrupt-coalescing window)
 * rightly answers with DEVICE_NEEDS_RESET, one the attack count does not
 * expect.
 */
static void scratch_clear(void)
{
	memset(scratch, 0, OFF_INDIRECT + 0x90000);
	__sync_synchronize();
}

struct queue_cfg {
	uint32_t num;              /* QueueNum */
	uint64_t desc, avail, used; /* ring addresses */
};

static struct queue_cfg good_queue(void)
{
	return (struct queue_cfg){ QSIZE, gpa(OFF_DESC), gpa(OFF_AVAIL), gpa(OFF_USED) };
}

/*
 * Reset, clear the scratch range, negotiate VERSION_1 + INDIRECT_DESC, set up queue 0 with q and set
 * DRIVER_OK (unless !driver_ok).  Returns false (and fail()s) if the handshake went wrong before
 * DRIVER_OK; the status after DRIVER_OK is for the caller to judge.
 */
static bool device_setup_ex(struct queue_cfg q, bool driver_ok)
{
	uint32_t st, feat_hi;

	if (!device_reset())
		return false;
	scratch_clear();
	wr(REG_INTERRUPT_ACK, ISR_USED | ISR_CONFIG);
	isr_seen = 0;
	wr(REG_STATUS, ST_ACKNOWLEDGE);
	wr(REG_STATUS, ST_ACKNOWLEDGE | ST_DRIVER);
	wr(REG_DEVICE_FEAT_SEL, 1);
	feat_hi = rd(REG_DEVICE_FEATURES);
	if (!(feat_hi & (1u << (F_VERSION_1 - 32)))) {
		fail("device does not offer VERSION_1 (features[63:32] 0x%x)", feat_hi);
		return false;
	}
	wr(REG_DRIVER_FEAT_SEL, 0);
	wr(REG_DRIVER_FEATURES, 1u << F_INDIRECT_DESC);
	wr(REG_DRIVER_FEAT_SEL, 1);
	wr(REG_DRIVER_FEATURES, 1u << (F_VERSION_1 - 32));
	wr(REG_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK);
	st = rd(REG_STATUS);
	if (!(st & ST_FEATURES_OK)) {
		fail("FEATURES_OK refused (status 0x%x)", st);
		return false;
	}
	wr(REG_QUEUE_SEL, 0);
	if (rd(REG_QUEUE_NUM_MAX) < QSIZE) {
		fail("QueueNumMax %u < %u", rd(REG_QUEUE_NUM_MAX), QSIZE);
		return false;
	}
	if (rd(REG_QUEUE_READY)) {
		fail("queue 0 ready right after reset");
		return false;
	}
	wr(REG_QUEUE_NUM, q.num);
	wr(REG_QUEUE_DESC_LOW, (uint32_t)q.desc);
	wr(REG_QUEUE_DESC_HIGH, (uint32_t)(q.desc >> 32));
	wr(REG_QUEUE_AVAIL_LOW, (uint32_t)q.avail);
	wr(REG_QUEUE_AVAIL_HIGH, (uint32_t)(q.avail >> 32));
	wr(REG_QUEUE_USED_LOW, (uint32_t)q.used);
	wr(REG_QUEUE_USED_HIGH, (uint32_t)(q.used >> 32));
	wr(REG_QUEUE_READY, 1);
	if (driver_ok)
		wr(REG_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	return true;
}

static bool device_setup(struct queue_cfg q) { return device_setup_ex(q, true); }

/* Put head in avail ring slot `slot`, then set avail idx to idx. */
static void publish(uint16_t slot, uint16_t head, uint16_t idx)
{
	avail()[2 + slot % QSIZE] = head;
	__sync_synchronize();
	avail()[1] = idx;
	__sync_synchronize();
}

static void kick(uint32_t queue) { wr(REG_QUEUE_NOTIFY, queue); }

/* Wait for DEVICE_NEEDS_RESET and the config interrupt bit. */
static bool wait_needs_reset(void)
{
	uint32_t st = 0, isr = 0;

	for (int t = 0; t < timeout_ms; t++) {
		st = rd(REG_STATUS);
		isr = read_isr();
		if ((st & ST_NEEDS_RESET) && (isr & ISR_CONFIG))
			break;
		sleep_ms(1);
	}
	if (!(st & ST_NEEDS_RESET)) {
		fail("no DEVICE_NEEDS_RESET after %d ms (status 0x%x, isr 0x%x, used idx %u)",
		     timeout_ms, st, isr, *used_idx());
		return false;
	}
	if (!(isr & ISR_CONFIG)) {
		fail("DEVICE_NEEDS_RESET without the config interrupt bit (isr 0x%x)", isr);
		return false;
	}
	wr(REG_INTERRUPT_ACK, isr);
	resets_seen++;
	return true;
}

/* Wait until used idx reaches want; false on timeout. */
static bool wait_used(uint16_t want)
{
	for (int t = 0; t < timeout_ms; t++) {
		if (*used_idx() == want)
			return true;
		if (rd(REG_STATUS) & ST_NEEDS_RESET)
			break;
		sleep_ms(1);
	}
	return false;
}

/* A well-formed request: header (readable), data (writable), status (writable). */
static void make_request(uint32_t type, uint32_t data_len)
{
	struct blk_hdr *h = (struct blk_hdr *)(scratch + OFF_HDR);
	struct desc *d = descs();

	h->type = type;
	h->reserved = 0;
	h->sector = 0;
	memset(scratch + OFF_DATA, 0xee, 4096);
	scratch[OFF_STATUS] = 0xff;
	d[0] = (struct desc){ gpa(OFF_HDR), sizeof(*h), DESC_F_NEXT, 1 };
	d[1] = (struct desc){ gpa(OFF_DATA), data_len, DESC_F_WRITE | DESC_F_NEXT, 2 };
	d[2] = (struct desc){ gpa(OFF_STATUS), 1, DESC_F_WRITE, 0 };
}

/* Submit the chain at head 0 as the n-th request and wait for it. */
static bool submit_wait(uint16_t n, const char *what)
{
	publish((uint16_t)(n - 1), 0, n);
	kick(0);
	if (!wait_used(n)) {
		fail("%s: no completion (status 0x%x, used idx %u)", what, rd(REG_STATUS), *used_idx());
		return false;
	}
	if (scratch[OFF_STATUS] != BLK_S_OK) {
		fail("%s completed with status %u", what, scratch[OFF_STATUS]);
		return false;
	}
	return true;
}

/*
 * After an attack: reset and check that the device works again: GET_ID then
 * a 512-byte read of sector 0, both with status OK.
 */
static bool device_works(void)
{
	char id[BLK_ID_BYTES + 1] = { 0 };

	if (!device_setup(good_queue()))
		return false;
	if (rd(REG_STATUS) & ST_NEEDS_RESET) {
		fail("device needs reset right after a clean set-up (status 0x%x)", rd(REG_STATUS));
		return false;
	}
	make_request(BLK_T_GET_ID, BLK_ID_BYTES);
	if (!submit_wait(1, "GET_ID after reset"))
		return false;
	memcpy(id, scratch + OFF_DATA, BLK_ID_BYTES);
	if (want_serial && strcmp(id, want_serial)) {
		fail("GET_ID after reset returned '%s', wanted '%s'", id, want_serial);
		return false;
	}
	make_request(BLK_T_IN, 512);
	if (!submit_wait(2, "sector-0 read after reset"))
		return false;
	if (used_elem(1)[1] != 513) {
		fail("sector-0 read: used length %u, wanted 513", used_elem(1)[1]);
		return false;
	}
	if (want_sector0 && memcmp(scratch + OFF_DATA, want_sector0, strlen(want_sector0))) {
		fail("sector-0 read after reset returned other bytes than '%s'", want_sector0);
		return false;
	}
	return true;
}

/* ---- The attacks.  Each fills the rings and returns what it expects. ---- */

enum expect {
	EXPECT_NEEDS_RESET,      /* the device must enter DEVICE_NEEDS_RESET */
	EXPECT_IOERR_OR_RESET,   /* a bad request: IOERR completion or needs-reset */
	EXPECT_HARMLESS,         /* must be ignored: no needs-reset, device keeps going */
	EXPECT_QUIET_AFTER_RESET, /* the fill reset the device: no memory writes after it */
	EXPECT_COMPLETES_OK,     /* the published request completes with status OK */
};

struct attack {
	const char *name;
	struct queue_cfg (*queue)(void);  /* NULL: the good queue */
	void (*fill)(void);               /* fill descriptors and avail ring, NULL: none */
	bool kick;                        /* kick queue 0 after filling */
	enum expect expect;
	bool no_driver_ok;                /* stop the handshake before DRIVER_OK */
};

static struct desc *ind(void) { return (struct desc *)(scratch + OFF_INDIRECT); }
static uint64_t ind_gpa(void) { return gpa(OFF_INDIRECT); }
static void one_head(uint16_t head) { publish(0, head, 1); }

/* A valid GET_ID chain whose descriptors we then spoil. */
static void base_chain(void) { make_request(BLK_T_GET_ID, BLK_ID_BYTES); }

static void fill_loop2(void)
{
	base_chain();
	descs()[1].next = 0;  /* 0 -> 1 -> 0 -> ... */
	descs()[1].flags = DESC_F_NEXT;  /* readable, so ordering is not what fails */
	one_head(0);
}
static void fill_self_loop(void)
{
	base_chain();
	descs()[0].next = 0;
	one_head(0);
}
static void fill_loop_full(void)
{
	/* A ring of all QSIZE descriptors, each pointing at the next. */
	for (unsigned i = 0; i < QSIZE; i++)
		descs()[i] = (struct desc){ gpa(OFF_HDR), 16, DESC_F_NEXT, (uint16_t)((i + 1) % QSIZE) };
	one_head(3);
}
static void fill_next_beyond(void)
{
	base_chain();
	descs()[1].next = QSIZE + 5;
	one_head(0);
}
static void fill_next_ffff(void)
{
	base_chain();
	descs()[0].next = 0xffff;
	one_head(0);
}
static void fill_head_beyond(void) { base_chain(); one_head(QSIZE); }
static void fill_head_ffff(void) { base_chain(); one_head(0xffff); }
static void fill_avail_jump(void)
{
	base_chain();
	publish(0, 0, QSIZE + 1);  /* more new entries than the queue holds */
}
static void fill_avail_jump_far(void)
{
	base_chain();
	publish(0, 0, 0x8000);
}
static void fill_buf_outside(void)
{
	base_chain();
	descs()[1].addr = ram_end + 0x100000;  /* hole above RAM */
	one_head(0);
}
static void fill_buf_mmio(void)
{
	base_chain();
	descs()[1].addr = 0xd0000000;  /* virtio-mmio windows: not guest RAM */
	one_head(0);
}
static void fill_buf_top(void)
{
	base_chain();
	descs()[1].addr = 0xfffffffffffff000ull;
	descs()[1].len = 0x2000;  /* wraps past 2^64 */
	one_head(0);
}
static void fill_buf_straddle(void)
{
	base_chain();
	descs()[1].addr = ram_end - 8;
	descs()[1].len = 16;
	one_head(0);
}
static void fill_hdr_straddle(void)
{
	base_chain();
	descs()[0].addr = ram_end - 4;  /* readable header crossing the end of RAM */
	one_head(0);
}
static void fill_len_huge(void)
{
	base_chain();
	descs()[1].len = 0xffffffffu;  /* 4 GiB from inside RAM: beyond its end */
	one_head(0);
}
static void fill_len_sum_overflow(void)
{
	/*
	 * Each buffer lies inside RAM, but together they exceed what a 32-bit
	 * used length can describe: an indirect table of writable buffers of
	 * up to 240 MiB each (all the same RAM), 6 GiB in total.
	 */
	struct desc *t = ind();
	uint32_t big = 0xf000000;
	unsigned n;

	if (ram_end < (uint64_t)big + 0x1000)
		big = (uint32_t)(ram_end - 0x1000) & ~0xfffu;
	n = (unsigned)((0x180000000ull + big - 1) / big);
	if (n > 1000)
		n = 1000;
	t[0] = (struct desc){ gpa(OFF_HDR), 16, DESC_F_NEXT, 1 };
	for (unsigned i = 1; i < n; i++)
		t[i] = (struct desc){ 0x1000, big, DESC_F_WRITE | DESC_F_NEXT, (uint16_t)(i + 1) };
	t[n - 1].flags = DESC_F_WRITE;
	*(struct blk_hdr *)(scratch + OFF_HDR) = (struct blk_hdr){ BLK_T_IN, 0, 0 };
	descs()[0] = (struct desc){ ind_gpa(), n * 16, DESC_F_INDIRECT, 0 };
	one_head(0);
}
static void fill_read_after_write(void)
{
	base_chain();
	descs()[0].flags |= DESC_F_WRITE;   /* header writable ... */
	descs()[1].flags &= ~DESC_F_WRITE;  /* ... then a readable buffer */
	one_head(0);
}
static void fill_write_only_hdr(void)
{
	base_chain();
	descs()[0].flags |= DESC_F_WRITE;   /* header in a write-only buffer */
	one_head(0);
}
static void fill_indirect_nested(void)
{
	struct desc *t = ind();

	base_chain();
	t[0] = (struct desc){ ind_gpa() + 0x1000, 48, DESC_F_INDIRECT, 0 };
	memcpy(t + 256, descs(), 48);
	descs()[0] = (struct desc){ ind_gpa(), 16, DESC_F_INDIRECT, 0 };
	one_head(0);
}
static void fill_indirect_loop(void)
{
	struct desc *t = ind();

	base_chain();
	memcpy(t, descs(), 3 * sizeof(*t));
	t[1].next = 0;
	t[1].flags = DESC_F_NEXT;
	descs()[0] = (struct desc){ ind_gpa(), 48, DESC_F_INDIRECT, 0 };
	one_head(0);
}
static void fill_indirect_next_beyond(void)
{
	struct desc *t = ind();

	base_chain();
	memcpy(t, descs(), 3 * sizeof(*t));
	t[1].next = 3;  /* table has 3 entries */
	descs()[0] = (struct desc){ ind_gpa(), 48, DESC_F_INDIRECT, 0 };
	one_head(0);
}
static void fill_indirect_len_odd(void)
{
	base_chain();
	memcpy(ind(), descs(), 48);
	descs()[0] = (struct desc){ ind_gpa(), 47, DESC_F_INDIRECT, 0 };
	one_head(0);
}
static void fill_indirect_len_zero(void)
{
	base_chain();
	descs()[0] = (struct desc){ ind_gpa(), 0, DESC_F_INDIRECT, 0 };
	one_head(0);
}
static void fill_indirect_oversized(void)
{
	base_chain();
	memcpy(ind(), descs(), 48);
	/* 32769 entries: more than any queue may have (the spec's maximum). */
	descs()[0] = (struct desc){ ind_gpa(), 32769 * 16, DESC_F_INDIRECT, 0 };
	one_head(0);
}
static void fill_indirect_outside(void)
{
	base_chain();
	descs()[0] = (struct desc){ ram_end - 16, 48, DESC_F_INDIRECT, 0 };
	one_head(0);
}
static void fill_indirect_and_next(void)
{
	base_chain();
	memcpy(ind(), descs(), 48);
	descs()[0] = (struct desc){ ind_gpa(), 48, DESC_F_INDIRECT | DESC_F_NEXT, 1 };
	one_head(0);
}
static void fill_bogus_notify(void)
{
	base_chain();  /* written but never published */
	kick(7);       /* queues the device does not have */
	kick(0xffffffffu);
	kick(0);       /* nothing new in the avail ring */
}

static void fill_kick_before_driver_ok(void)
{
	base_chain();  /* published and kicked, but the driver never said DRIVER_OK */
	one_head(0);
}

/*
 * QSIZE 4 KiB reads (one indirect table each) kicked and, at once, a device
 * reset.  Once the reset reads back 0 the device must not write guest memory
 * any more: a late completion would land in buffers the driver reuses.
 */
#define RIF_DATA   OFF_INDIRECT             /* QSIZE * 4 KiB of data */
#define RIF_TABLES (OFF_INDIRECT + 0x8000)  /* QSIZE tables of 3 descriptors */
#define RIF_HDRS   (OFF_INDIRECT + 0x9000)
#define RIF_STATUS (OFF_INDIRECT + 0x9800)
static void fill_reset_in_flight(void)
{
	for (unsigned i = 0; i < QSIZE; i++) {
		struct desc *t = (struct desc *)(scratch + RIF_TABLES) + 3 * i;
		struct blk_hdr *h = (struct blk_hdr *)(scratch + RIF_HDRS) + i;

		*h = (struct blk_hdr){ BLK_T_IN, 0, 8 * i };
		t[0] = (struct desc){ gpa(RIF_HDRS) + 16 * i, 16, DESC_F_NEXT, 1 };
		t[1] = (struct desc){ gpa(RIF_DATA) + 0x1000 * i, 0x1000, DESC_F_WRITE | DESC_F_NEXT, 2 };
		t[2] = (struct desc){ gpa(RIF_STATUS) + i, 1, DESC_F_WRITE, 0 };
		descs()[i] = (struct desc){ gpa(RIF_TABLES) + 48 * i, 48, DESC_F_INDIRECT, 0 };
		avail()[2 + i] = (uint16_t)i;
	}
	__sync_synchronize();
	avail()[1] = QSIZE;
	kick(0);
	device_reset();
}

/* After fill_reset_in_flight: nothing may change in the rings or buffers. */
static void check_quiet_after_reset(void)
{
	uint8_t *data = scratch + RIF_DATA, *used = scratch + OFF_USED;
	const size_t used_bytes = 4 + 8 * QSIZE;

	memset(data, 0x5a, 0x8000);
	memset(used, 0x5a, used_bytes);
	memset(scratch + RIF_STATUS, 0x5a, QSIZE);
	__sync_synchronize();
	sleep_ms(300);
	for (size_t i = 0; i < 0x8000; i++)
		if (data[i] != 0x5a) {
			fail("data buffer byte %zu changed after the reset", i);
			return;
		}
	for (size_t i = 0; i < used_bytes; i++)
		if (used[i] != 0x5a) {
			fail("used ring byte %zu changed after the reset", i);
			return;
		}
	for (size_t i = 0; i < QSIZE; i++)
		if (scratch[RIF_STATUS + i] != 0x5a) {
			fail("status byte %zu changed after the reset", i);
			return;
		}
}

/* Writes to odd places, odd widths, read-only and frozen registers. */
static void fill_register_garbage(void)
{
	volatile uint8_t *b = (volatile uint8_t *)regs;
	volatile uint16_t *h = (volatile uint16_t *)regs;
	uint32_t st = rd(REG_STATUS);

	wr(0x0a8, 0xdeadbeef);        /* unknown offsets */
	wr(0x0c4, 0xffffffff);
	wr(0x0fc, 1);                 /* ConfigGeneration is read-only */
	wr(0xffc, 0xffffffff);        /* config space far beyond its size */
	(void)rd(0xffc);
	b[REG_STATUS] = 0;            /* 1-byte write: must not reset */
	(void)h[1];                   /* 2-byte read of the magic */
	(void)b[REG_QUEUE_NOTIFY + 1];
	wr(REG_DEVICE_FEAT_SEL, 0xffffffff);
	if (rd(REG_DEVICE_FEATURES))
		fail("DeviceFeatures[sel 0xffffffff] is not 0");
	wr(REG_QUEUE_SEL, 99);        /* a queue the device does not have */
	if (rd(REG_QUEUE_NUM_MAX))
		fail("QueueNumMax of queue 99 is not 0");
	wr(REG_QUEUE_READY, 1);
	wr(REG_QUEUE_NUM, 0xffffffff);
	wr(REG_QUEUE_SEL, 0);
	wr(REG_STATUS, ST_ACKNOWLEDGE);  /* clearing bits without a reset */
	if (rd(REG_STATUS) != st)
		fail("status changed from 0x%x to 0x%x without a reset", st, rd(REG_STATUS));
	base_chain();                 /* never published */
}

/* Feature negotiation the device must refuse. */
static void fill_bad_features(void)
{
	static const uint32_t bad_hi[] = {
		0xffffffffu,                        /* bits the device never offered */
		0,                                  /* no VERSION_1 (legacy) */
	};

	for (unsigned i = 0; i < sizeof(bad_hi) / sizeof(bad_hi[0]) && !failed; i++) {
		if (!device_reset())
			return;
		wr(REG_STATUS, ST_ACKNOWLEDGE);
		wr(REG_STATUS, ST_ACKNOWLEDGE | ST_DRIVER);
		wr(REG_DRIVER_FEAT_SEL, 0);
		wr(REG_DRIVER_FEATURES, 1u << F_INDIRECT_DESC);
		wr(REG_DRIVER_FEAT_SEL, 1);
		wr(REG_DRIVER_FEATURES, bad_hi[i]);
		wr(REG_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK);
		if (rd(REG_STATUS) & ST_FEATURES_OK)
			fail("FEATURES_OK accepted with driver features[63:32] 0x%x", bad_hi[i]);
		wr(REG_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
		if (rd(REG_STATUS) & ST_DRIVER_OK)
			fail("DRIVER_OK accepted without FEATURES_OK (features[63:32] 0x%x)", bad_hi[i]);
	}
	/* Unknown feature words (sel 2..) must make FEATURES_OK fail too. */
	if (!failed && device_reset()) {
		wr(REG_STATUS, ST_ACKNOWLEDGE | ST_DRIVER);
		wr(REG_DRIVER_FEAT_SEL, 1);
		wr(REG_DRIVER_FEATURES, 1u << (F_VERSION_1 - 32));
		wr(REG_DRIVER_FEAT_SEL, 2);
		wr(REG_DRIVER_FEATURES, 1);
		wr(REG_STATUS, ST_ACKNOWLEDGE | ST_DRIVER | ST_FEATURES_OK);
		if (rd(REG_STATUS) & ST_FEATURES_OK)
			fail("FEATURES_OK accepted with a bit in feature word 2");
	}
}

/*
 * Moving a live queue's rings (outside RAM) and resizing it: the device must
 * ignore it (the configuration is frozen while the queue is ready) and keep
 * serving the rings it was given.
 */
static void fill_move_live_queue(void)
{
	wr(REG_QUEUE_SEL, 0);
	wr(REG_QUEUE_NUM, 3);
	wr(REG_QUEUE_DESC_LOW, (uint32_t)ram_end);
	wr(REG_QUEUE_DESC_HIGH, 0xffffffff);
	wr(REG_QUEUE_AVAIL_LOW, 0xd0000000);
	wr(REG_QUEUE_USED_LOW, 2);
	wr(REG_QUEUE_READY, 1);      /* again: no re-activation with the new values */
	base_chain();
	one_head(0);
}

/*
 * Take the live queue away (QueueReady 0), point its descriptor table
 * across the end of RAM and make it ready again while DRIVER_OK is set: the
 * re-activation must check the rings like the first one.
 */
static void fill_requeue_outside(void)
{
	wr(REG_QUEUE_SEL, 0);
	wr(REG_QUEUE_READY, 0);
	wr(REG_QUEUE_DESC_LOW, (uint32_t)(ram_end - 64));
	wr(REG_QUEUE_DESC_HIGH, (uint32_t)((ram_end - 64) >> 32));
	wr(REG_QUEUE_READY, 1);
}

static struct queue_cfg q_size_3(void) { struct queue_cfg q = good_queue(); q.num = 3; return q; }
static struct queue_cfg q_size_0(void) { struct queue_cfg q = good_queue(); q.num = 0; return q; }
static struct queue_cfg q_size_huge(void) { struct queue_cfg q = good_queue(); q.num = 0x8000; return q; }
static struct queue_cfg q_desc_outside(void)
{
	struct queue_cfg q = good_queue();
	q.desc = ram_end - 64;  /* 8 * 16 bytes: straddles the end of RAM */
	return q;
}
static struct queue_cfg q_used_mmio(void)
{
	struct queue_cfg q = good_queue();
	q.used = 0xd0000000;
	return q;
}
static struct queue_cfg q_avail_far(void)
{
	struct queue_cfg q = good_queue();
	q.avail = 0x7ffffffffffff000ull;
	return q;
}
static struct queue_cfg q_desc_misaligned(void)
{
	struct queue_cfg q = good_queue();
	q.desc += 8;  /* descriptor tables are 16-byte aligned */
	return q;
}

static const struct attack attacks[] = {
	{ "desc-loop",              NULL, fill_loop2,              true, EXPECT_NEEDS_RESET, false },
	{ "desc-self-loop",         NULL, fill_self_loop,          true, EXPECT_NEEDS_RESET, false },
	{ "desc-loop-whole-table",  NULL, fill_loop_full,          true, EXPECT_NEEDS_RESET, false },
	{ "next-beyond-queue",      NULL, fill_next_beyond,        true, EXPECT_NEEDS_RESET, false },
	{ "next-0xffff",            NULL, fill_next_ffff,          true, EXPECT_NEEDS_RESET, false },
	{ "head-beyond-queue",      NULL, fill_head_beyond,        true, EXPECT_NEEDS_RESET, false },
	{ "head-0xffff",            NULL, fill_head_ffff,          true, EXPECT_NEEDS_RESET, false },
	{ "avail-idx-jump",         NULL, fill_avail_jump,         true, EXPECT_NEEDS_RESET, false },
	{ "avail-idx-jump-far",     NULL, fill_avail_jump_far,     true, EXPECT_NEEDS_RESET, false },
	{ "buffer-outside-ram",     NULL, fill_buf_outside,        true, EXPECT_NEEDS_RESET, false },
	{ "buffer-in-mmio-window",  NULL, fill_buf_mmio,           true, EXPECT_NEEDS_RESET, false },
	{ "buffer-wraps-2^64",      NULL, fill_buf_top,            true, EXPECT_NEEDS_RESET, false },
	{ "buffer-straddles-ram-end", NULL, fill_buf_straddle,     true, EXPECT_NEEDS_RESET, false },
	{ "header-straddles-ram-end", NULL, fill_hdr_straddle,     true, EXPECT_NEEDS_RESET, false },
	{ "length-4g-overflow",     NULL, fill_len_huge,           true, EXPECT_NEEDS_RESET, false },
	{ "length-sum-over-4g",     NULL, fill_len_sum_overflow,   true, EXPECT_NEEDS_RESET, false },
	{ "readable-after-writable", NULL, fill_read_after_write,  true, EXPECT_NEEDS_RESET, false },
	{ "write-only-header",      NULL, fill_write_only_hdr,     true, EXPECT_IOERR_OR_RESET, false },
	{ "indirect-nested",        NULL, fill_indirect_nested,    true, EXPECT_NEEDS_RESET, false },
	{ "indirect-loop",          NULL, fill_indirect_loop,      true, EXPECT_NEEDS_RESET, false },
	{ "indirect-next-beyond",   NULL, fill_indirect_next_beyond, true, EXPECT_NEEDS_RESET, false },
	{ "indirect-len-not-x16",   NULL, fill_indirect_len_odd,   true, EXPECT_NEEDS_RESET, false },
	{ "indirect-len-zero",      NULL, fill_indirect_len_zero,  true, EXPECT_NEEDS_RESET, false },
	{ "indirect-oversized",     NULL, fill_indirect_oversized, true, EXPECT_NEEDS_RESET, false },
	{ "indirect-outside-ram",   NULL, fill_indirect_outside,   true, EXPECT_NEEDS_RESET, false },
	{ "indirect-with-next",     NULL, fill_indirect_and_next,  true, EXPECT_NEEDS_RESET, false },
	{ "queue-size-3",           q_size_3,         NULL,        false, EXPECT_NEEDS_RESET, false },
	{ "queue-size-0",           q_size_0,         NULL,        false, EXPECT_NEEDS_RESET, false },
	{ "queue-size-beyond-max",  q_size_huge,      NULL,        false, EXPECT_NEEDS_RESET, false },
	{ "ring-straddles-ram-end", q_desc_outside,   NULL,        false, EXPECT_NEEDS_RESET, false },
	{ "used-ring-in-mmio",      q_used_mmio,      NULL,        false, EXPECT_NEEDS_RESET, false },
	{ "avail-ring-far-away",    q_avail_far,      NULL,        false, EXPECT_NEEDS_RESET, false },
	{ "desc-ring-misaligned",   q_desc_misaligned, NULL,       false, EXPECT_NEEDS_RESET, false },
	{ "notify-bogus-queue",     NULL, fill_bogus_notify,       false, EXPECT_HARMLESS, false },
	{ "kick-before-driver-ok",  NULL, fill_kick_before_driver_ok, true, EXPECT_HARMLESS, true },
	{ "reset-with-io-in-flight", NULL, fill_reset_in_flight,   false, EXPECT_QUIET_AFTER_RESET, false },
	{ "register-garbage",       NULL, fill_register_garbage,   false, EXPECT_HARMLESS, false },
	{ "features-not-offered",   NULL, fill_bad_features,       false, EXPECT_HARMLESS, true },
	{ "move-live-queue",        NULL, fill_move_live_queue,    true, EXPECT_COMPLETES_OK, false },
	{ "requeue-outside-ram",    NULL, fill_requeue_outside,    false, EXPECT_NEEDS_RESET, false },
};

/* Run one attack; prints its line; returns true on ok. */
static bool run_attack(const struct attack *a)
{
	failed = false;
	why[0] = 0;
	if (!device_setup_ex(a->queue ? a->queue() : good_queue(), !a->no_driver_ok))
		goto out;
	if (a->fill)
		a->fill();
	if (a->kick)
		kick(0);

	switch (a->expect) {
	case EXPECT_NEEDS_RESET:
		wait_needs_reset();
		break;
	case EXPECT_IOERR_OR_RESET:
		for (int t = 0; t < timeout_ms; t++) {
			if (*used_idx() == 1 || (rd(REG_STATUS) & ST_NEEDS_RESET))
				break;
			sleep_ms(1);
		}
		if (rd(REG_STATUS) & ST_NEEDS_RESET)
			wait_needs_reset();
		else if (*used_idx() != 1)
			fail("neither a completion nor DEVICE_NEEDS_RESET (status 0x%x)", rd(REG_STATUS));
		else if (scratch[OFF_STATUS] == BLK_S_OK)
			fail("malformed request completed with status OK");
		break;
	case EXPECT_HARMLESS:
		sleep_ms(200);
		if (rd(REG_STATUS) & ST_NEEDS_RESET)
			fail("device entered DEVICE_NEEDS_RESET (status 0x%x)", rd(REG_STATUS));
		else if (*used_idx() != 0)
			fail("device completed a request it should have ignored");
		break;
	case EXPECT_QUIET_AFTER_RESET:
		if (!failed)
			check_quiet_after_reset();
		break;
	case EXPECT_COMPLETES_OK:
		if (!wait_used(1))
			fail("no completion (status 0x%x, used idx %u)", rd(REG_STATUS), *used_idx());
		else if (scratch[OFF_STATUS] != BLK_S_OK)
			fail("completed with status %u", scratch[OFF_STATUS]);
		break;
	}
	if (!failed)
		device_works();
out:
	if (failed)
		printf("CAPVM-HOSTILE %s FAIL %s\n", a->name, why);
	else
		printf("CAPVM-HOSTILE %s ok\n", a->name);
	fflush(stdout);
	return !failed;
}

/* Highest end of a top-level "System RAM" range in /proc/iomem. */
static uint64_t iomem_ram_end(void)
{
	FILE *f = fopen("/proc/iomem", "r");
	char line[256];
	uint64_t end = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		if (line[0] != ' ' && strstr(line, ": System RAM") &&
		    sscanf(line, "%llx-%llx", &a, &b) == 2 && b + 1 > end)
			end = b + 1;
	}
	fclose(f);
	return end;
}

static void *map_phys(int fd, uint64_t addr, size_t len, const char *what)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)addr);

	if (p == MAP_FAILED) {
		fprintf(stderr, "capvm-hostile: cannot map %s at 0x%" PRIx64 " through /dev/mem: %s "
			"(reserved with memmap=, booted with iomem=relaxed?)\n", what, addr, strerror(errno));
		return NULL;
	}
	return p;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: capvm-hostile --base ADDR --scratch ADDR[,SIZE] [--ram-end ADDR]\n"
		"                     [--serial S] [--sector0 TEXT] [--only NAME] [--timeout-ms N] [--list]\n"
		"  --base      guest-physical base of the virtio-mmio block device to attack\n"
		"              (not bound by the guest kernel)\n"
		"  --scratch   reserved guest-physical RAM for the rings (memmap=SIZE$ADDR), SIZE >= 1M\n"
		"  --ram-end   first address above guest RAM (default: from /proc/iomem)\n"
		"  --serial    expected GET_ID answer after each reset\n"
		"  --sector0   expected first bytes of sector 0 after each reset\n");
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || end == s || (*end && *end != ','))
		return false;
	*v = x;
	return true;
}

int main(int argc, char **argv)
{
	uint64_t base = 0, scratch_size = 0x200000;
	const char *only = NULL;
	int fd, ok = 0, bad = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--list")) {
			for (size_t k = 0; k < sizeof(attacks) / sizeof(attacks[0]); k++)
				puts(attacks[k].name);
			return 0;
		}
		if (!v) {
			usage();
			return 2;
		}
		i++;
		if (!strcmp(a, "--base") && parse_u64(v, &base)) {
		} else if (!strcmp(a, "--scratch") && parse_u64(v, &scratch_gpa)) {
			const char *c = strchr(v, ',');
			if (c && !parse_u64(c + 1, &scratch_size)) {
				usage();
				return 2;
			}
		} else if (!strcmp(a, "--ram-end") && parse_u64(v, &ram_end)) {
		} else if (!strcmp(a, "--serial")) {
			want_serial = v;
		} else if (!strcmp(a, "--sector0")) {
			want_sector0 = v;
		} else if (!strcmp(a, "--only")) {
			only = v;
		} else if (!strcmp(a, "--timeout-ms")) {
			timeout_ms = atoi(v);
			if (timeout_ms < 1 || timeout_ms > 600000) {
				usage();
				return 2;
			}
		} else {
			usage();
			return 2;
		}
	}
	if (!base || (base & 0xfff) || !scratch_gpa || (scratch_gpa & 0xfff) ||
	    scratch_size < SCRATCH_MIN || scratch_gpa + scratch_size < scratch_gpa) {
		usage();
		return 2;
	}
	if (!ram_end)
		ram_end = iomem_ram_end();
	if (ram_end < scratch_gpa + scratch_size) {
		fprintf(stderr, "capvm-hostile: RAM end 0x%" PRIx64 " unknown or below the scratch range\n",
			ram_end);
		return 2;
	}

	fd = open("/dev/mem", O_RDWR | O_SYNC);
	if (fd < 0) {
		fprintf(stderr, "capvm-hostile: /dev/mem: %s\n", strerror(errno));
		return 2;
	}
	regs = map_phys(fd, base, MMIO_SIZE, "the device window");
	scratch = map_phys(fd, scratch_gpa, scratch_size, "the scratch range");
	if (!regs || !scratch)
		return 2;
	if (rd(REG_MAGIC) != MMIO_MAGIC || rd(REG_VERSION) != 2 || rd(REG_DEVICE_ID) != 2) {
		fprintf(stderr, "capvm-hostile: no virtio-mmio v2 block device at 0x%" PRIx64
			" (magic 0x%x version %u device %u)\n", base, rd(REG_MAGIC), rd(REG_VERSION),
			rd(REG_DEVICE_ID));
		return 2;
	}
	if (rd(REG_STATUS) != 0)
		fprintf(stderr, "capvm-hostile: warning: device status 0x%x, a driver may still own it\n",
			rd(REG_STATUS));
	printf("CAPVM-HOSTILE start base=0x%" PRIx64 " scratch=0x%" PRIx64 "+0x%" PRIx64
	       " ram_end=0x%" PRIx64 "\n", base, scratch_gpa, scratch_size, ram_end);

	/* The device must work before we attack it, or nothing below means much. */
	failed = false;
	if (device_works()) {
		printf("CAPVM-HOSTILE baseline ok\n");
	} else {
		printf("CAPVM-HOSTILE baseline FAIL %s\n", why);
		bad++;
	}
	for (size_t k = 0; k < sizeof(attacks) / sizeof(attacks[0]); k++) {
		if (only && strcmp(only, attacks[k].name))
			continue;
		if (run_attack(&attacks[k]))
			ok++;
		else
			bad++;
	}
	failed = false;
	device_reset();
	printf("CAPVM-HOSTILE done ok=%d fail=%d needs_reset=%d\n", ok, bad, resets_seen);
	return bad ? 1 : 0;
}
