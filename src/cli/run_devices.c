/* The virtio devices of `capvm run` (see run_devices.h). */
#include "cli/run_devices.h"

#include <stdio.h>
#include <string.h>

#include "arch/x86/vm.h"
#include "virtio/console.h"
#include "virtio/mmio.h"
#include "virtio/rng.h"
#include "virtio/virtio.h"

int run_devices_parse_disk(struct run_devices *d, const char *spec, char *err, size_t errlen)
{
	if (d->nr_disks >= RUN_MAX_DISKS) {
		snprintf(err, errlen, "at most %d disks", RUN_MAX_DISKS);
		return -1;
	}
	if (virtio_blk_parse(spec, &d->disks[d->nr_disks], err, errlen) < 0)
		return -1;
	d->nr_disks++;
	return 0;
}

int run_devices_parse_net(struct run_devices *d, const char *spec, char *err, size_t errlen)
{
	if (d->nr_nets >= RUN_MAX_NETS) {
		snprintf(err, errlen, "at most %d network devices", RUN_MAX_NETS);
		return -1;
	}
	if (virtio_net_parse(spec, &d->nets[d->nr_nets], err, errlen) < 0)
		return -1;
	d->nr_nets++;
	return 0;
}

int run_devices_parse_vconsole(struct run_devices *d, const char *spec, char *err, size_t errlen)
{
	if (d->nr_vconsoles >= RUN_MAX_VCONSOLES) {
		snprintf(err, errlen, "at most %d virtio consoles", RUN_MAX_VCONSOLES);
		return -1;
	}
	if (virtio_console_parse(spec, err, errlen) < 0)
		return -1;
	d->vconsoles[d->nr_vconsoles++] = spec;
	return 0;
}

/* Put a device model on the next virtio-mmio slot of the VM. */
static int run_devices_attach(struct run_devices *d, struct vm *vm, struct virtio_device *dev,
			      char *err, size_t errlen)
{
	uint64_t base;
	uint32_t gsi;

	if (vm_alloc_mmio_slot(vm, &base, &gsi) < 0) {
		snprintf(err, errlen, "too many virtio devices");
		return -1;
	}
	struct virtio_mmio *t = virtio_mmio_create(dev, base, gsi);
	if (!t) {
		snprintf(err, errlen, "cannot create the virtio-mmio transport for %s", dev->name);
		return -1;
	}
	d->transports[d->nr_transports++] = t;
	return vm_add_virtio(vm, t, err, errlen);
}

int run_devices_create(struct run_devices *d, struct vm *vm, char *err, size_t errlen)
{
	const struct guest_mem *mem = vm_guest_mem(vm);
	char name[32];

	for (int i = 0; i < d->nr_disks; i++) {
		snprintf(name, sizeof(name), "blk%d", i);
		struct virtio_device *dev = virtio_blk_create(&d->disks[i], mem, name, err, errlen);
		if (!dev || run_devices_attach(d, vm, dev, err, errlen) < 0)
			return -1;
	}
	for (int i = 0; i < d->nr_nets; i++) {
		snprintf(name, sizeof(name), "net%d", i);
		struct virtio_device *dev = virtio_net_create(&d->nets[i], mem, name, err, errlen);
		if (!dev || run_devices_attach(d, vm, dev, err, errlen) < 0)
			return -1;
	}
	for (int i = 0; i < d->nr_vconsoles; i++) {
		snprintf(name, sizeof(name), "console%d", i);
		struct virtio_device *dev = virtio_console_create(d->vconsoles[i], mem, name, err, errlen);
		if (!dev || run_devices_attach(d, vm, dev, err, errlen) < 0)
			return -1;
	}
	if (d->rng) {
		struct virtio_device *dev = virtio_rng_create(mem, "rng0");
		if (!dev) {
			snprintf(err, errlen, "cannot create the virtio-rng device");
			return -1;
		}
		if (run_devices_attach(d, vm, dev, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int run_devices_start(struct run_devices *d, char *err, size_t errlen)
{
	for (int i = 0; i < d->nr_transports; i++)
		if (virtio_mmio_start(d->transports[i]) < 0) {
			snprintf(err, errlen, "cannot start the I/O thread of %s",
				 d->transports[i]->dev->name);
			return -1;
		}
	return 0;
}

void run_devices_destroy(struct run_devices *d)
{
	for (int i = 0; i < d->nr_transports; i++)
		virtio_mmio_destroy(d->transports[i]);
	d->nr_transports = 0;
}
