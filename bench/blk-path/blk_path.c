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
 *   blk-path [--backend null|IMAGE] [--requests N] [--queue N] [--depth N] [--segments N]
 *            [--bs BYTES] [--write]
 *   blk-path --vhost-user 'SOCKET[,bounce=SIZE][,coalesce=USEC]' [--backend-pid PID] ...
 *
 * Prints requests/s of wall time, requests per CPU-second of the process
 * (user+sys, all threads: "per core"), and the share of CPU spent on the
 * device side.  See bench/blk-path/run.sh and docs/performance.md.
 *
 * --depth keeps only N requests in flight (default: the queue size);
 * --segments splits each request's data into N buffers (bs/N bytes each,
 * one page apart), as Linux does for a large request whose pages are not
 * physically contiguous (a 128 KiB read from a user buffer: 32 of 4 KiB).
 *
 * With --vhost-user the device is the isolated-mode relay (vu_proxy) in
 * front of a vhost-user back-end already listening on SOCKET (run.sh starts
 * `capvm backend blk`): the same path a VM's isolated disk takes, minus
 * KVM.  --backend-pid then also reports the back-end's CPU per request,
 * read from /proc, so its per-request cost can be measured on this machine.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "backend/vu_proxy.h"
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

/* utime+stime of process pid in seconds (0 when it cannot be read). */
static double one_pid_cpu_s(long pid)
{
	char path[64], buf[1024];
	unsigned long ut = 0, st = 0;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');  /* the name may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/*
 * The same for pid and its children: `capvm backend` forks its sandboxed
 * server, which does the work.
 */
static double pid_cpu_s(long pid)
{
	char path[64];
	double sum = one_pid_cpu_s(pid);
	long child;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", pid, pid);
	f = fopen(path, "r");
	if (!f)
		return sum;
	while (fscanf(f, "%ld", &child) == 1)
		sum += one_pid_cpu_s(child);
	fclose(f);
	return sum;
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
	fprintf(stderr, "usage: blk-path [--backend null|IMAGE | --vhost-user 'SOCKET[,bounce=SIZE]"
		"[,coalesce=USEC]' [--backend-pid PID]] [--requests N] [--queue N] [--depth N] [--segments N] "
		"[--bs BYTES] [--write]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *backend = "null", *vhost_user = NULL;
	uint64_t backend_pid = 0, total = 2000000, bs = 4096, qsize = 256, depth = 0, segs = 1, capacity_sectors;
	bool write_mode = false;
	static const struct option longopts[] = {
		{ "backend", required_argument, 0, 'b' }, { "requests", required_argument, 0, 'n' },
		{ "queue", required_argument, 0, 'q' }, { "bs", required_argument, 0, 's' },
		{ "write", no_argument, 0, 'w' }, { "vhost-user", required_argument, 0, 'u' },
		{ "backend-pid", required_argument, 0, 'p' }, { "depth", required_argument, 0, 'd' },
		{ "segments", required_argument, 0, 'g' }, { 0, 0, 0, 0 } };
	int c;

	while ((c = getopt_long(argc, argv, "b:n:q:s:wu:p:d:g:", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': backend = optarg; break;
		case 'n': if (parse_uint(optarg, 1, UINT64_MAX, &total)) usage(); break;
		case 'q': if (parse_uint(optarg, 1, 256, &qsize) || (qsize & (qsize - 1))) usage(); break;
		case 's': if (parse_size(optarg, 1, &bs) || !bs || bs % 512 || bs > (1 << 20)) usage(); break;
		case 'w': write_mode = true; break;
		case 'u': vhost_user = optarg; break;
		case 'd': if (parse_uint(optarg, 1, 256, &depth)) usage(); break;
		case 'g': if (parse_uint(optarg, 1, 64, &segs)) usage(); break;
		case 'p': if (parse_uint(optarg, 1, INT32_MAX, &backend_pid)) usage(); break;
		default: usage();
		}
	}
	log_set_level(LOG_WARN);
	if (!depth || depth > qsize)
		depth = qsize;
	if (bs % segs || (bs / segs) % 512) {
		fprintf(stderr, "blk-path: --bs %llu does not split into %llu segments of whole sectors\n",
			(unsigned long long)bs, (unsigned long long)segs);
		return 2;
	}

	struct vdrv d;
	struct blk_options o;
	char err[256] = "", spec[4200];
	struct virtio_device *dev;
	struct vu_proxy_options vo;

	snprintf(spec, sizeof(spec), "%s", vhost_user ? "null" : backend);
	if (virtio_blk_parse(spec, &o, err, sizeof(err))) {
		fprintf(stderr, "blk-path: %s\n", err);
		return 1;
	}
	if (vhost_user) {
		snprintf(spec, sizeof(spec), "vhost-user=%s", vhost_user);
		err[0] = 0;
		if (vu_proxy_parse(spec, &vo, err, sizeof(err)) != 1 || vo.mem != VU_PROXY_MEM_ISOLATED) {
			fprintf(stderr, "blk-path: --vhost-user %s: %s\n", vhost_user,
				err[0] ? err : "only the isolated memory mode (no guest-RAM file here)");
			return 1;
		}
		if (!vo.coalesce_given)
			vo.coalesce_us = BLK_COALESCE_DEFAULT_US;  /* what `capvm run --disk` picks */
		o.null_backend = false;  /* completions come from another process: wait for them */
	}
	/* guest memory: rings + per-slot header, table, status, data */
	if (vdrv_init(&d, depth * (segs * (bs / segs + 4096) + 4096) + (1 << 20)))
		return 1;
	dev = vhost_user ? vu_proxy_create(&vo, VIRTIO_ID_BLOCK, &d.mem, NULL, "blk-bench", err, sizeof(err))
			 : virtio_blk_create(&o, &d.mem, "blk-bench", err, sizeof(err));
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
	uint64_t next_block = 0, seg_len = bs / segs;
	uint16_t data_flags = (uint16_t)(VIRTQ_DESC_F_NEXT | (write_mode ? 0 : VIRTQ_DESC_F_WRITE));
	unsigned nd = (unsigned)segs + 2;
	for (unsigned i = 0; i < depth; i++) {
		uint64_t hdr = vdrv_alloc(&d, 16, 16), st = vdrv_alloc(&d, 1, 1);
		uint64_t tbl = vdrv_alloc(&d, 16 * nd, 16);
		struct virtq_desc *t = vdrv_ptr(&d, tbl);

		hdrs[i] = vdrv_ptr(&d, hdr);
		*hdrs[i] = (struct vblk_hdr){ write_mode ? VBLK_T_OUT : VBLK_T_IN, 0, 0 };
		t[0] = (struct virtq_desc){ hdr, 16, VIRTQ_DESC_F_NEXT, 1 };
		for (unsigned s = 0; s < segs; s++) {
			/* a page's gap after each segment: the buffers are not contiguous */
			uint64_t data = vdrv_alloc(&d, seg_len + (segs > 1 ? 4096 : 0), 4096);
			t[1 + s] = (struct virtq_desc){ data, (uint32_t)seg_len, data_flags, (uint16_t)(2 + s) };
		}
		t[nd - 1] = (struct virtq_desc){ st, 1, VIRTQ_DESC_F_WRITE, 0 };
		q->desc[i] = (struct virtq_desc){ tbl, 16 * nd, VIRTQ_DESC_F_INDIRECT, 0 };
	}

	uint64_t submitted = 0, completed = 0, kicks = 0, errors = 0;
	double dev_cpu = 0;
	double t0 = now_s(CLOCK_MONOTONIC), c0 = process_cpu_s();
	double b0 = backend_pid ? pid_cpu_s((long)backend_pid) : 0;
	bool use_thread_clock = true;

	/* fill the ring */
	for (unsigned i = 0; i < depth && submitted < total; i++, submitted++) {
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
			uint8_t *status = vdrv_ptr(&d, ((struct virtq_desc *)vdrv_ptr(&d, q->desc[id].addr))[nd - 1].addr);

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
	double backend_cpu = backend_pid ? pid_cpu_s((long)backend_pid) - b0 : 0;
	uint64_t dev_errors = vhost_user ? vu_proxy_stats(dev)->backend_errors : virtio_blk_stats(dev)->errors;
	printf("blk-path backend=%s bs=%llu queue=%llu depth=%llu segments=%llu %s requests=%llu errors=%llu kicks=%llu\n",
	       vhost_user ? "vhost-user-isolated" : o.null_backend ? "null" : backend,
	       (unsigned long long)bs, (unsigned long long)qsize, (unsigned long long)depth,
	       (unsigned long long)segs, write_mode ? "write" : "read", (unsigned long long)completed,
	       (unsigned long long)(errors + dev_errors), (unsigned long long)kicks);
	printf("  wall %.3f s  cpu %.3f s (device side %.3f s)\n", wall, cpu, dev_cpu);
	printf("  %.0f req/s wall, %.0f req/s per core (all CPU), %.0f req/s per core (device side only)\n",
	       (double)completed / wall, (double)completed / cpu, (double)completed / dev_cpu);
	if (vhost_user) {
		const struct vu_proxy_stats *ps = vu_proxy_stats(dev);
		printf("  relay: %.1f us CPU/request (this process), backend kicks %.3f/request, calls %.3f/request, "
		       "timer takes %llu, window-full waits %llu\n",
		       cpu * 1e6 / (double)completed, (double)ps->backend_kicks / (double)completed,
		       (double)ps->backend_calls / (double)completed, (unsigned long long)ps->timer_takes,
		       (unsigned long long)ps->bounce_full_waits);
	}
	if (backend_pid)
		printf("  back-end: %.1f us CPU/request (pid %ld and its children, /proc, 10 ms ticks)\n",
		       backend_cpu * 1e6 / (double)completed, (long)backend_pid);
	printf("  irqs raised %llu, suppressed %llu\n", (unsigned long long)dev->stats.irqs,
	       (unsigned long long)dev->stats.irqs_suppressed);
	vdrv_destroy(&d);
	free(hdrs);
	return errors ? 1 : 0;
}
