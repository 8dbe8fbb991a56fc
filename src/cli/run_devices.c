/* The virtio devices of `capvm run` (see run_devices.h). */
#include "cli/run_devices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/vm.h"
#include "virtio/console.h"
#include "virtio/mmio.h"
#include "virtio/rng.h"
#include "virtio/virtio.h"

/*
 * Take ",irq=N" out of a device spec (the line the system description
 * named for it); the rest goes to the device's own parser.
 */
static int take_irq(const char *spec, char *rest, size_t restlen, uint32_t *irq,
		    char *err, size_t errlen)
{
	char *copy = strdup(spec), *save = NULL;
	size_t n = 0;

	if (!copy)
		return -1;
	*irq = 0;
	rest[0] = 0;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "irq=", 4)) {
			char *end;
			unsigned long v = strtoul(tok + 4, &end, 0);
			if (*end || !vm_gsi_usable((uint32_t)v)) {
				snprintf(err, errlen, "irq=%s: not an interrupt line a device can have "
					 "(5-7, 10-23)", tok + 4);
				free(copy);
				return -1;
			}
			*irq = (uint32_t)v;
			continue;
		}
		n += (size_t)snprintf(rest + n, n < restlen ? restlen - n : 0, "%s%s", n ? "," : "", tok);
	}
	free(copy);
	if (n >= restlen) {
		snprintf(err, errlen, "device options too long");
		return -1;
	}
	return 0;
}

int run_devices_parse_disk(struct run_devices *d, const char *spec, char *err, size_t errlen)
{
	if (d->nr_disks >= RUN_MAX_DISKS) {
		snprintf(err, errlen, "at most %d disks", RUN_MAX_DISKS);
		return -1;
	}
	char rest[4096 + 256];
	if (take_irq(spec, rest, sizeof(rest), &d->disk_irq[d->nr_disks], err, errlen) < 0)
		return -1;
	int vu = vu_proxy_parse(rest, &d->disk_vu[d->nr_disks], err, errlen);
	if (vu < 0)
		return -1;
	if (vu > 0) {
		struct blk_options *o = &d->disks[d->nr_disks];
		struct vu_proxy_options *vo = &d->disk_vu[d->nr_disks];
		const char *sock = vo->socket;
		/* a disk streams at queue depth > 1: the relay coalesces by default */
		if (vo->mem == VU_PROXY_MEM_ISOLATED && !vo->coalesce_given)
			vo->coalesce_us = BLK_COALESCE_DEFAULT_US;
		memset(o, 0, sizeof(*o));
		memcpy(o->path, "vhost-user:", 11);
		memcpy(o->path + 11, sock, strlen(sock) + 1);  /* < 108 bytes: fits */
		d->disk_vhost_user[d->nr_disks++] = true;
		return 0;
	}
	if (virtio_blk_parse(rest, &d->disks[d->nr_disks], err, errlen) < 0)
		return -1;
	d->disk_vhost_user[d->nr_disks++] = false;
	return 0;
}

bool run_devices_need_shared_ram(const struct run_devices *d)
{
	for (int i = 0; i < d->nr_disks; i++)
		if (d->disk_vhost_user[i] && d->disk_vu[i].mem == VU_PROXY_MEM_SHARED)
			return true;
	for (int i = 0; i < d->nr_nets; i++)
		if (d->net_vhost_user[i] && d->net_vu[i].mem == VU_PROXY_MEM_SHARED)
			return true;
	return false;
}

int run_devices_parse_net(struct run_devices *d, const char *spec, char *err, size_t errlen)
{
	if (d->nr_nets >= RUN_MAX_NETS) {
		snprintf(err, errlen, "at most %d network devices", RUN_MAX_NETS);
		return -1;
	}
	char rest[1024];
	if (take_irq(spec, rest, sizeof(rest), &d->net_irq[d->nr_nets], err, errlen) < 0)
		return -1;
	int vu = vu_proxy_parse(rest, &d->net_vu[d->nr_nets], err, errlen);
	if (vu < 0)
		return -1;
	if (vu > 0) {
		memset(&d->nets[d->nr_nets], 0, sizeof(d->nets[0]));
		d->net_vhost_user[d->nr_nets++] = true;
		return 0;
	}
	if (virtio_net_parse(rest, &d->nets[d->nr_nets], err, errlen) < 0)
		return -1;
	d->net_vhost_user[d->nr_nets++] = false;
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
			      uint32_t want_gsi, char *err, size_t errlen)
{
	bool external = vu_proxy_external_queues(dev);
	uint64_t base;
	uint32_t gsi;

	if (vm_alloc_mmio_slot(vm, want_gsi, &base, &gsi) < 0) {
		snprintf(err, errlen, "%s: no free virtio-mmio slot or interrupt line", dev->name);
		return -1;
	}
	struct virtio_mmio *t = external ? virtio_mmio_create_external(dev, base, gsi)
					 : virtio_mmio_create(dev, base, gsi);
	if (!t) {
		snprintf(err, errlen, "cannot create the virtio-mmio transport for %s", dev->name);
		virtio_device_destroy(dev);
		return -1;
	}
	/* shared-memory vhost-user: the back-end gets the KVM eventfds */
	if (external)
		vu_proxy_set_transport_fds(dev, t->kick_fd, t->irq_fd);
	d->transports[d->nr_transports++] = t;
	return vm_add_virtio(vm, t, err, errlen);
}

/* A disk or network device served by a vhost-user back-end (backend/vu_proxy.h). */
static struct virtio_device *create_vhost_user(const struct vu_proxy_options *o, uint32_t device_id,
					       struct vm *vm, const struct guest_mem *mem,
					       const char *name, char *err, size_t errlen)
{
	struct vu_proxy_ram ram = { .fd = -1 };
	struct vm_ram_slot slots[VU_PROXY_MAX_RAM_SLOTS];

	if (o->mem == VU_PROXY_MEM_SHARED) {
		int n = vm_ram_slots(vm, slots, VU_PROXY_MAX_RAM_SLOTS, &ram.fd);
		for (int s = 0; s < n; s++) {
			ram.slots[s].gpa = slots[s].gpa;
			ram.slots[s].size = slots[s].size;
			ram.slots[s].fd_offset = slots[s].fd_offset;
		}
		ram.nr_slots = n > 0 ? n : 0;
	}
	return vu_proxy_create(o, device_id, mem, &ram, name, err, errlen);
}

int run_devices_create(struct run_devices *d, struct vm *vm, char *err, size_t errlen)
{
	const struct guest_mem *mem = vm_guest_mem(vm);
	char name[32];

	/* named lines first, so that no automatic assignment takes them */
	for (int i = 0; i < d->nr_disks + d->nr_nets; i++) {
		uint32_t irq = i < d->nr_disks ? d->disk_irq[i] : d->net_irq[i - d->nr_disks];
		if (irq && vm_reserve_gsi(vm, irq) < 0) {
			snprintf(err, errlen, "interrupt line %u is named for two devices", irq);
			return -1;
		}
	}
	for (int i = 0; i < d->nr_disks; i++) {
		snprintf(name, sizeof(name), "blk%d", i);
		struct virtio_device *dev;
		if (d->disk_vhost_user[i])
			dev = create_vhost_user(&d->disk_vu[i], VIRTIO_ID_BLOCK, vm, mem, name, err, errlen);
		else
			dev = virtio_blk_create(&d->disks[i], mem, name, err, errlen);
		if (!dev || run_devices_attach(d, vm, dev, d->disk_irq[i], err, errlen) < 0)
			return -1;
	}
	for (int i = 0; i < d->nr_nets; i++) {
		snprintf(name, sizeof(name), "net%d", i);
		struct virtio_device *dev;
		if (d->net_vhost_user[i])
			dev = create_vhost_user(&d->net_vu[i], VIRTIO_ID_NET, vm, mem, name, err, errlen);
		else
			dev = virtio_net_create(&d->nets[i], mem, name, err, errlen);
		if (!dev || run_devices_attach(d, vm, dev, d->net_irq[i], err, errlen) < 0)
			return -1;
	}
	for (int i = 0; i < d->nr_vconsoles; i++) {
		snprintf(name, sizeof(name), "console%d", i);
		struct virtio_device *dev = virtio_console_create(d->vconsoles[i], mem, name, err, errlen);
		if (!dev || run_devices_attach(d, vm, dev, 0, err, errlen) < 0)
			return -1;
	}
	if (d->rng) {
		struct virtio_device *dev = virtio_rng_create(mem, "rng0");
		if (!dev) {
			snprintf(err, errlen, "cannot create the virtio-rng device");
			return -1;
		}
		if (run_devices_attach(d, vm, dev, 0, err, errlen) < 0)
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
