/*
 * virtio-rng (entropy device, id 4): fills the guest's buffers from the
 * host's getrandom().
 */
#ifndef CAPVM_VIRTIO_RNG_H
#define CAPVM_VIRTIO_RNG_H

#include <stdint.h>

#include "virtio/guest_mem.h"

struct virtio_device;

struct virtio_rng_stats {
	uint64_t requests;
	uint64_t bytes;
};

/* The device, named `name` in logs; NULL on failure. */
struct virtio_device *virtio_rng_create(const struct guest_mem *mem, const char *name);
const struct virtio_rng_stats *virtio_rng_stats(const struct virtio_device *dev);

#endif
