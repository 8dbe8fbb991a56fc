/*
 * Shared libFuzzer harness for virtio device models: the input is the
 * guest's memory plus a sequence of register accesses and kicks, replayed
 * against a device behind the real virtio-mmio transport.
 *
 * Input layout (little-endian):
 *   u8  features   bit0 EVENT_IDX, bit1 INDIRECT_DESC, bit2 device flag
 *                  (fuzz_blk: read-only), bit3 skip queue set-up
 *   u8  qsize      bit7 clear: queue size 1 << (qsize % 7)  (1..64)
 *                  bit7 set:   queue size qsize & 0x7f (maybe invalid)
 *   u16 mem_len    bytes of guest memory that follow (rest stays zero)
 *   mem_len bytes  copied to guest memory offset 0; the rings live at
 *                  FUZZ_DESC (0x000), FUZZ_AVAIL (0x400), FUZZ_USED (0x600)
 *   then 8-byte ops {u8 op; u8 arg; u16 off; u32 val}:
 *     0 register write    off % 0x200 (4 bytes; arg&3 picks width 1/2/4/8)
 *     1 register read     off % 0x200, width by arg
 *     2 kick queue arg % 3 and run the device until idle
 *     3 memory write      u32 val at off (guest memory offset)
 *     4 publish           avail->idx = val, kick queue 0, run
 *     5 reset and bring the device up again
 * Guest memory is FUZZ_MEM_SIZE bytes of its own malloc, so any access past
 * it is caught by AddressSanitizer.
 */
#ifndef CAPVM_FUZZ_VIRTIO_HARNESS_H
#define CAPVM_FUZZ_VIRTIO_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "virtio_driver.h"

#define FUZZ_MEM_SIZE 0x10000
#define FUZZ_DESC  0x000
#define FUZZ_AVAIL 0x400
#define FUZZ_USED  0x600

struct fuzz_ctx {
	struct vdrv d;
	uint8_t features;
	uint16_t qsize;
	/* run the device until it has nothing in flight */
	void (*run)(struct fuzz_ctx *f);
};

static inline void fuzz_bring_up(struct fuzz_ctx *f)
{
	uint64_t want = (1ULL << VIRTIO_F_VERSION_1) | 0xffffffULL;  /* all device bits */

	if (f->features & 1)
		want |= 1ULL << VIRTIO_F_EVENT_IDX;
	if (f->features & 2)
		want |= 1ULL << VIRTIO_F_INDIRECT_DESC;
	if (vdrv_negotiate(&f->d, want))
		return;
	if (!(f->features & 8))
		vdrv_setup_queue_at(&f->d, 0, f->qsize, VDRV_GPA_BASE + FUZZ_DESC,
				    VDRV_GPA_BASE + FUZZ_AVAIL, VDRV_GPA_BASE + FUZZ_USED);
	vdrv_driver_ok(&f->d);
}

/* Parse the header and memory image; returns the ops (and their length). */
static inline const uint8_t *fuzz_load(struct fuzz_ctx *f, const uint8_t *data, size_t size,
				       size_t *ops_len)
{
	uint16_t mem_len;

	*ops_len = 0;
	if (size < 4)
		return NULL;
	f->features = data[0];
	f->qsize = (data[1] & 0x80) ? (data[1] & 0x7f) : (uint16_t)(1u << ((data[1] & 0x7f) % 7));
	memcpy(&mem_len, data + 2, 2);
	data += 4;
	size -= 4;
	if (mem_len > size)  /* mem_len <= 0xffff < FUZZ_MEM_SIZE */
		mem_len = (uint16_t)size;
	memcpy(f->d.ram, data, mem_len);
	*ops_len = size - mem_len;
	return data + mem_len;
}

static inline void fuzz_run_ops(struct fuzz_ctx *f, const uint8_t *ops, size_t len)
{
	static const unsigned widths[4] = { 1, 2, 4, 8 };

	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint8_t op = ops[i], arg = ops[i + 1];
		uint16_t off;
		uint32_t val;
		uint64_t buf = 0;

		memcpy(&off, ops + i + 2, 2);
		memcpy(&val, ops + i + 4, 4);
		switch (op % 6) {
		case 0:
			buf = val;
			virtio_mmio_write(f->d.t, off % 0x200, &buf, widths[arg & 3]);
			break;
		case 1:
			virtio_mmio_read(f->d.t, off % 0x200, &buf, widths[arg & 3]);
			break;
		case 2:
			vdrv_kick(&f->d, arg % 3);
			f->run(f);
			break;
		case 3:
			if (off <= FUZZ_MEM_SIZE - 4)
				memcpy(f->d.ram + off, &val, 4);
			break;
		case 4:
			__atomic_store_n((uint16_t *)(f->d.ram + FUZZ_AVAIL + 2), (uint16_t)val,
					 __ATOMIC_RELEASE);
			vdrv_kick(&f->d, 0);
			f->run(f);
			break;
		case 5:
			fuzz_bring_up(f);
			break;
		}
	}
	vdrv_ack_irq(&f->d);
}

#endif
