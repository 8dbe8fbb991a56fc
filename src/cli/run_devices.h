/*
 * The virtio devices of `capvm run`: each device flag's spec is checked
 * while the command line is parsed (so bad input fails before KVM is
 * touched), then the devices are created, given a virtio-mmio slot and wired
 * into the VM, started before boot and destroyed after the VM ends.
 * To add a device kind: a parse step (run_devices_parse_*) and a create step
 * in run_devices_create().
 */
#ifndef CAPVM_RUN_DEVICES_H
#define CAPVM_RUN_DEVICES_H

#include <stdbool.h>
#include <stddef.h>

#include "backend/vu_proxy.h"
#include "virtio/blk.h"
#include "virtio/net.h"

#define RUN_MAX_DISKS 8
#define RUN_MAX_NETS 4
#define RUN_MAX_VCONSOLES 2

struct vm;
struct virtio_mmio;
struct virtio_device;

struct run_devices {
	int nr_disks;
	struct blk_options disks[RUN_MAX_DISKS];
	/* --disk vhost-user=SOCK: served by a back-end process (disks[i] then
	 * only names the socket, for the monitor) */
	bool disk_vhost_user[RUN_MAX_DISKS];
	struct vu_proxy_options disk_vu[RUN_MAX_DISKS];
	bool rng;
	int nr_nets;
	struct net_options nets[RUN_MAX_NETS];
	/* --net vhost-user=SOCK: served by a back-end process (capvm backend net) */
	bool net_vhost_user[RUN_MAX_NETS];
	struct vu_proxy_options net_vu[RUN_MAX_NETS];
	int nr_vconsoles;
	const char *vconsoles[RUN_MAX_VCONSOLES];  /* chardev specs */

	/* interrupt lines named with ,irq=N (0: assigned automatically) */
	uint32_t disk_irq[RUN_MAX_DISKS];
	uint32_t net_irq[RUN_MAX_NETS];

	int nr_transports;
	struct virtio_mmio *transports[16];
};

/* --disk SPEC: returns 0 or -1 with a message in err. */
int run_devices_parse_disk(struct run_devices *d, const char *spec, char *err, size_t errlen);
/*
 * Does a device need guest RAM in a memfd (a vhost-user disk or network
 * device with mem=shared)?  capvm run then turns --mem-shared on by itself.
 */
bool run_devices_need_shared_ram(const struct run_devices *d);
/* --net SPEC and --virtio-console SPEC: 0 or -1 with a message in err. */
int run_devices_parse_net(struct run_devices *d, const char *spec, char *err, size_t errlen);
int run_devices_parse_vconsole(struct run_devices *d, const char *spec, char *err, size_t errlen);
/* Create every device and wire it into vm (before boot). */
int run_devices_create(struct run_devices *d, struct vm *vm, char *err, size_t errlen);
/* Start their I/O threads (just before the vCPUs run). */
int run_devices_start(struct run_devices *d, char *err, size_t errlen);
void run_devices_destroy(struct run_devices *d);

#endif
