/*
 * virtio-blk device model: a raw image file (or a null backend for
 * benchmarks) served through io_uring.  See blk.c and docs/virtio.md.
 *
 *   struct blk_options o;
 *   char err[256];
 *   if (virtio_blk_parse(optarg, &o, err, sizeof(err))) { fprintf(stderr, "--disk: %s\n", err); ... }
 *   struct virtio_device *dev = virtio_blk_create(&o, mem, "blk0", err, sizeof(err));
 *   struct virtio_mmio *t = virtio_mmio_create(dev, base, gsi);
 */
#ifndef CAPVM_VIRTIO_BLK_H
#define CAPVM_VIRTIO_BLK_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/guest_mem.h"

#define VIRTIO_BLK_ID_BYTES 20

enum blk_cache { BLK_CACHE_WRITEBACK, BLK_CACHE_NONE };

/*
 * Interrupt coalescing default (coalesce=USEC): the longest a completion
 * waits for others to share its interrupt (16 × as long while the device
 * is busy).  See "Interrupt coalescing" in blk.c and docs/virtio.md.
 */
#define BLK_COALESCE_DEFAULT_US 200
#define BLK_COALESCE_MAX_US     100000

/* Parsed --disk path[,ro][,serial=S][,cache=writeback|none][,discard=on|off][,coalesce=USEC] */
struct blk_options {
	char path[PATH_MAX];
	bool null_backend;        /* path "null": no I/O, for benchmarks */
	uint64_t null_size;       /* capacity of the null backend (size=, default 1G) */
	bool readonly;
	char serial[VIRTIO_BLK_ID_BYTES + 1];
	enum blk_cache cache;
	bool discard;
	uint32_t coalesce_us;     /* 0: interrupt at once; else longest window (µs) */
};

/* Per-device counters (read by the monitor; updated by the I/O thread). */
struct virtio_blk_stats {
	uint64_t reads, writes, flushes, discards, write_zeroes, get_ids;
	uint64_t bytes_read, bytes_written;
	uint64_t errors;          /* requests completed with IOERR */
	uint64_t unsupported;     /* requests completed with UNSUPP */
	uint64_t in_flight;       /* requests submitted to the backend, not completed */
	uint64_t windows;         /* coalescing windows opened */
	uint64_t window_requests; /* requests taken while a window was open */
	uint64_t idle_window_ends; /* windows ended early: the device ran idle */
	uint64_t held_windows;    /* window timers that held the interrupt: device busy */
};

/*
 * Parse a --disk option string.  Returns 0, or -1 with a message in err
 * (e.g. "unknown option 'foo' (expected ro, serial=, cache=, discard=)").
 */
int virtio_blk_parse(const char *spec, struct blk_options *o, char *err, size_t errlen);

/*
 * Open the image (taking an OFD lock: shared for ro, exclusive for rw, so a
 * second capvm cannot open it for writing), set up io_uring and return the
 * device.  `name` is used in logs ("blk0").  NULL with a message in err.
 */
struct virtio_device *virtio_blk_create(const struct blk_options *o, const struct guest_mem *mem,
					const char *name, char *err, size_t errlen);

/*
 * Grow the disk to bytes (a multiple of 512; shrinking and read-only disks
 * are refused): extends a regular image file, updates the capacity in
 * config space and raises a configuration-change interrupt.  Any thread.
 * 0, or -1 with a message in err.
 */
int virtio_blk_resize(struct virtio_device *dev, uint64_t bytes, char *err, size_t errlen);

/* The device's counters; NULL if dev did not come from virtio_blk_create. */
const struct virtio_blk_stats *virtio_blk_stats(const struct virtio_device *dev);

#endif
