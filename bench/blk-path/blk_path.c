/*
 * blk-path: how many 4 KiB virtio-blk requests per second one core can
 * serve through capvm's real device path (virtio-mmio transport, split
 * virtqueue with EVENT_IDX and indirect descriptors, blk request parsing,
 * io_uring), without KVM.  A synthetic driver in the same thread plays the
 * guest: it keeps the queue full of 4 KiB reads (header, data, status in an
 * indirect table, as Linux's virtio_blk lays them out), re-queues each
 * completion at once and kicks once per batch.  The device runs in the same
 * thread through virtio_mmio_poll(), i.e. exactly what the I/O thread runs.
 *
 *   blk-path [--backend null|IMAGE] [--requests N] [--queue N] [--bs BYTES] [--write]
 *
 * Prints requests/s of wall time, requests per CPU-second of the process
 * (user+sys, all threads: "per core"), and the share of CPU spent on the
 * device side.  See bench/blk-path/run.sh and docs/performance.md.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "virtio/blk.h"
#include "virtio_blk_driver.h"

static double now_s(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double process_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	fprintf(stderr, "usage: blk-path [--backend null|IMAGE] [--requests N] [--queue N] "
		"[--bs BYTES] [--write]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *backend = "null";
	uint64_t total = 2000000, bs = 4096, qsize = 256, capacity_sectors;
	bool write_mode = false;
	static const struct option longopts[] = {
		{ "backend", required_argument, 0, 'b' }, { "requests", required_argument, 0, 'n' },
		{ "queue", required_argument, 0, 'q' }, { "bs", required_argument, 0, 's' },
		{ "write", no_argument, 0, 'w' }, { 0, 0, 0, 0 } };
	int c;

	while ((c = getopt_long(argc, argv, "b:n:q:s:w", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': backend = optarg; break;
		case 'n': if (parse_uint(optarg, 1, UINT64_MAX, &total)) usage(); break;
		case 'q': if (parse_uint(optarg, 1, 256, &qsize) || (qsize & (qsize - 1))) usage(); break;
		case 's': if (parse_size(optarg, 1, &bs) || !bs || bs % 512 || bs > (1 << 20)) usage(); break;
		case 'w': write_mode = true; break;
		default: usage();
		}
	}
	log_set_level(LOG_WARN);

	struct vdrv d;
	struct blk_options o;
	char err[256], spec[4200];
	struct virtio_device *dev;

	snprintf(spec, sizeof(spec), "%s", backend);
	if (virtio_blk_parse(spec, &o, err, sizeof(err))) {
		fprintf(stderr, "blk-path: %s\n", err);
		return 1;
	}
	/* guest memory: rings + per-slot header, table, status, data */
	if (vdrv_init(&d, (uint64_t)qsize * (bs + 4096) + (1 << 20)))
		return 1;
	dev = virtio_blk_create(&o, &d.mem, "blk-bench", err, sizeof(err));
	if (!dev) {
		fprintf(stderr, "blk-path: %s\n", err);
		return 1;
	}
	vdrv_attach(&d, virtio_mmio_create(dev, 0xd0000000, 16));
	if (!d.t || vdrv_negotiate(&d, ~0ULL) || vdrv_setup_queue(&d, 0, (uint16_t)qsize) ||
	    vdrv_driver_ok(&d)) {
		fprintf(stderr, "blk-path: device bring-up failed\n");
		return 1;
	}
	virtio_mmio_read(d.t, VDRV_CONFIG, &capacity_sectors, 8);
	uint64_t span = capacity_sectors * 512 / bs;  /* request slots on the disk */
	if (span == 0) {
		fprintf(stderr, "blk-path: image smaller than one request\n");
		return 1;
	}

	/* Slot i uses descriptor i (indirect) -> table of header, data, status. */
	struct vdrv_queue *q = &d.q[0];
	struct vblk_hdr **hdrs = calloc(qsize, sizeof(*hdrs));
	uint64_t next_block = 0;
	for (unsigned i = 0; i < qsize; i++) {
		uint64_t hdr = vdrv_alloc(&d, 16, 16), st = vdrv_alloc(&d, 1, 1);
		uint64_t data = vdrv_alloc(&d, bs, 4096), tbl = vdrv_alloc(&d, 48, 16);
		struct virtq_desc *t = vdrv_ptr(&d, tbl);

		hdrs[i] = vdrv_ptr(&d, hdr);
		*hdrs[i] = (struct vblk_hdr){ write_mode ? VBLK_T_OUT : VBLK_T_IN, 0, 0 };
		t[0] = (struct virtq_desc){ hdr, 16, VIRTQ_DESC_F_NEXT, 1 };
		t[1] = (struct virtq_desc){ data, (uint32_t)bs,
					    (uint16_t)(VIRTQ_DESC_F_NEXT | (write_mode ? 0 : VIRTQ_DESC_F_WRITE)), 2 };
		t[2] = (struct virtq_desc){ st, 1, VIRTQ_DESC_F_WRITE, 0 };
		q->desc[i] = (struct virtq_desc){ tbl, 48, VIRTQ_DESC_F_INDIRECT, 0 };
	}

	uint64_t submitted = 0, completed = 0, kicks = 0, errors = 0;
	double dev_cpu = 0;
	double t0 = now_s(CLOCK_MONOTONIC), c0 = process_cpu_s();
	bool use_thread_clock = true;

	/* fill the ring */
	for (unsigned i = 0; i < qsize && submitted < total; i++, submitted++) {
		hdrs[i]->sector = (next_block++ % span) * (bs / 512);
		q->avail->ring[q->avail_idx++ & (qsize - 1)] = (uint16_t)i;
	}
	__atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_RELEASE);

	while (completed < total) {
		double d0 = use_thread_clock ? now_s(CLOCK_THREAD_CPUTIME_ID) : 0;
		vdrv_kick(&d, 0);
		kicks++;
		/* null backend: all done in the kick; file: wait for io_uring */
		if (vdrv_poll_timeout(&d, o.null_backend ? 0 : 100) < 0)
			break;
		while (vdrv_poll_timeout(&d, 0) > 0)
			;
		dev_cpu += now_s(CLOCK_THREAD_CPUTIME_ID) - d0;

		/* harvest and re-queue (the driver's interrupt handler + submit path) */
		uint16_t used_idx = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
		while (q->last_used != used_idx) {
			struct virtq_used_elem e = q->used->ring[q->last_used++ & (qsize - 1)];
			uint16_t id = (uint16_t)e.id;
			uint8_t *status = vdrv_ptr(&d, ((struct virtq_desc *)vdrv_ptr(&d, q->desc[id].addr))[2].addr);

			errors += *status != VBLK_S_OK;
			completed++;
			if (submitted < total) {
				hdrs[id]->sector = (next_block++ % span) * (bs / 512);
				q->avail->ring[q->avail_idx++ & (qsize - 1)] = id;
				submitted++;
			}
		}
		*virtq_used_event(q->avail, (uint16_t)qsize) = q->last_used;
		__atomic_store_n(&q->avail->idx, q->avail_idx, __ATOMIC_RELEASE);
	}

	double wall = now_s(CLOCK_MONOTONIC) - t0, cpu = process_cpu_s() - c0;
	const struct virtio_blk_stats *st = virtio_blk_stats(dev);
	printf("blk-path backend=%s bs=%llu queue=%llu %s requests=%llu errors=%llu kicks=%llu\n",
	       o.null_backend ? "null" : backend, (unsigned long long)bs, (unsigned long long)qsize,
	       write_mode ? "write" : "read", (unsigned long long)completed,
	       (unsigned long long)(errors + st->errors), (unsigned long long)kicks);
	printf("  wall %.3f s  cpu %.3f s (device side %.3f s)\n", wall, cpu, dev_cpu);
	printf("  %.0f req/s wall, %.0f req/s per core (all CPU), %.0f req/s per core (device side only)\n",
	       (double)completed / wall, (double)completed / cpu, (double)completed / dev_cpu);
	printf("  irqs raised %llu, suppressed %llu\n", (unsigned long long)dev->stats.irqs,
	       (unsigned long long)dev->stats.irqs_suppressed);
	vdrv_destroy(&d);
	free(hdrs);
	return errors ? 1 : 0;
}
