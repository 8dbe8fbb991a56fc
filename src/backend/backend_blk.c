/*
 * vhost-user-blk back-end: the same virtio-blk model the VMM runs in-process
 * (virtio/blk.c, io_uring on a raw image), wrapped in a vhost-user session.
 * The only block-specific part of the session is how to tell that no request
 * still touches guest memory (before a ring stops).
 */
#include "backend/backend_blk.h"

#include "virtio/virtio.h"

static uint64_t blk_in_flight(struct virtio_device *dev)
{
	return virtio_blk_stats(dev)->in_flight;
}

struct vu_backend *backend_blk_create(const struct blk_options *o, char *err, size_t errlen)
{
	/* The device needs a memory view at creation; the session replaces it. */
	static const struct guest_mem no_memory;
	static const struct vu_backend_hooks hooks = { .in_flight = blk_in_flight };

	return vu_backend_wrap_model(virtio_blk_create(o, &no_memory, "vu-blk", err, errlen),
				     &hooks, err, errlen);
}

void backend_blk_destroy(struct vu_backend *vb)
{
	vu_backend_destroy_model(vb);
}
