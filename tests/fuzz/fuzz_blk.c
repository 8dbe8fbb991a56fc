/*
 * libFuzzer target: virtio-blk request parsing and completion, behind the
 * real virtio-mmio transport and virtqueue, against a small image file in
 * /dev/shm (tmpfs: flushes are cheap, O_DIRECT is refused so the fallback
 * runs) served through io_uring (see fuzz_virtio_harness.h for the input
 * format; feature bit 2 opens the image read-only).  Requests that pass
 * the checks really reach the file, so a bad range or iovec shows up as an
 * ASan report or an io_uring error.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"
#include "fuzz/fuzz_virtio_harness.h"
#include "virtio/blk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IMG_SIZE (256 * 1024)

static struct virtio_device *cur_dev;
static char img[4][64];  /* one image per slot: the images carry OFD locks */

static void cleanup(void)
{
	for (int i = 0; i < 4; i++)
		if (img[i][0])
			unlink(img[i]);
}

static void run_device(struct fuzz_ctx *f)
{
	vdrv_poll(&f->d);
	for (int i = 0; i < 1000 && virtio_blk_stats(cur_dev)->in_flight; i++)
		vdrv_poll_timeout(&f->d, 10);
}

/*
 * One device per option combination (read-only x cache=none), created on
 * first use and kept: each input starts with a driver reset, as a guest
 * reboot would, which is what a long-lived device sees.  Creating io_uring
 * and eventfds per input would make the fuzzer several times slower.
 */
struct slot {
	struct vdrv d;
	struct virtio_device *dev;
};
static struct slot slots[4];
static bool cleanup_registered;

static struct slot *get_slot(unsigned idx)
{
	struct slot *s = &slots[idx];
	struct blk_options o;
	char spec[128], err[256];

	int fd;

	if (s->dev)
		return s;
	snprintf(img[idx], sizeof(img[idx]), "/dev/shm/capvm-fuzz-blk-%d-%u.img", (int)getpid(), idx);
	fd = open(img[idx], O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, IMG_SIZE) < 0)
		abort();
	close(fd);
	if (!cleanup_registered) {
		atexit(cleanup);
		cleanup_registered = true;
	}
	snprintf(spec, sizeof(spec), "%s,serial=fuzz%s%s", img[idx], (idx & 1) ? ",ro" : ",discard=on",
		 (idx & 2) ? ",cache=none" : "");
	if (virtio_blk_parse(spec, &o, err, sizeof(err)) || vdrv_init(&s->d, FUZZ_MEM_SIZE))
		abort();
	s->dev = virtio_blk_create(&o, &s->d.mem, "blk-fuzz", err, sizeof(err));
	if (!s->dev) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	/* The device holds the image open: remove the name now, so nothing is
	 * left behind however the fuzzer exits (libFuzzer skips atexit). */
	unlink(img[idx]);
	img[idx][0] = '\0';
	vdrv_attach(&s->d, virtio_mmio_create(s->dev, 0xd0000000, 16));
	if (!s->d.t)
		abort();
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_ctx f = { .run = run_device };
	struct slot *s;
	const uint8_t *ops;
	size_t ops_len;

	log_set_level(LOG_ERROR);
	if (size < 1)
		return 0;
	s = get_slot(((data[0] & 4) ? 1 : 0) | ((data[0] & 0x10) ? 2 : 0));
	cur_dev = s->dev;
	vdrv_write32(&s->d, VDRV_STATUS, 0);  /* reset: drains earlier I/O */
	memset(s->d.ram, 0, FUZZ_MEM_SIZE);
	f.d = s->d;
	ops = fuzz_load(&f, data, size, &ops_len);
	if (ops) {
		fuzz_bring_up(&f);
		vdrv_kick(&f.d, 0);
		run_device(&f);
		fuzz_run_ops(&f, ops, ops_len);
	}
	vdrv_write32(&f.d, VDRV_STATUS, 0);
	vdrv_poll(&f.d);  /* drain kicks and completions of this input */
	return 0;
}
