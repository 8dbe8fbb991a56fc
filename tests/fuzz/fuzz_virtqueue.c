/*
 * libFuzzer target: the split virtqueue and the virtio-mmio transport,
 * driven by hostile guest memory and register accesses (see
 * fuzz_virtio_harness.h for the input format).  The device is the echo
 * test device (tests/virtio_testdev.h), which writes every writable byte
 * it is given, so a buffer that escapes guest memory trips ASan.
 */
#include <stdlib.h>

#include "common/log.h"
#include "fuzz/fuzz_virtio_harness.h"
#include "virtio_testdev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run_device(struct fuzz_ctx *f)
{
	vdrv_poll(&f->d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_ctx f = { .run = run_device };
	struct testdev *td;
	const uint8_t *ops;
	size_t ops_len;

	log_set_level(LOG_ERROR);
	if (vdrv_init(&f.d, FUZZ_MEM_SIZE))
		return 0;
	td = testdev_create(&f.d.mem, 3, 64);
	if (!td) {
		free(f.d.ram);
		return 0;
	}
	vdrv_attach(&f.d, virtio_mmio_create(&td->dev, 0xd0000000, 16));
	if (!f.d.t) {
		virtio_device_destroy(&td->dev);
		free(f.d.ram);
		return 0;
	}
	ops = fuzz_load(&f, data, size, &ops_len);
	if (ops) {
		fuzz_bring_up(&f);
		/* always try the queue once, then the scripted accesses */
		vdrv_kick(&f.d, 0);
		run_device(&f);
		fuzz_run_ops(&f, ops, ops_len);
	}
	vdrv_destroy(&f.d);
	return 0;
}
