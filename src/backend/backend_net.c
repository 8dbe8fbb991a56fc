/*
 * vhost-user-net back-end: the same virtio-net model the VMM runs in-process
 * (virtio/net.c: one tap opened with IFF_VNET_HDR, offloads told to the tap
 * with TUNSETOFFLOAD, mergeable receive buffers), wrapped in a vhost-user
 * session.  With vhost-user the back-end owns the virtio-net header: the
 * front-end (QEMU's -netdev vhost-user, or capvm's proxy) only moves rings,
 * so the 12-byte virtio_net_hdr_v1 of VERSION_1 is read and written here,
 * exactly as inside the VMM.
 *
 * The model needs no in-flight hook: every packet is copied to or from the
 * tap synchronously inside its callbacks, so nothing touches guest memory
 * once a callback returns.  It does hold receive buffers between packets
 * (its stash); when the front-end stops the receive ring while the guest
 * lives on (QEMU's stop/cont, a reconnect), they are handed back first.
 */
#include "backend/backend_net.h"

#include "virtio/virtio.h"

/* Queue 0 is the receive queue (virtio 1.2 section 5.1.2). */
static void net_ring_stopping(struct virtio_device *dev, unsigned q)
{
	if (q == 0)
		virtio_net_return_rx_buffers(dev);
}

/* The device needs a memory view at creation; the session replaces it. */
static const struct guest_mem no_memory;

static struct vu_backend *wrap(struct virtio_device *dev, char *err, size_t errlen)
{
	static const struct vu_backend_hooks hooks = { .ring_stopping = net_ring_stopping };

	return vu_backend_wrap_model(dev, &hooks, err, errlen);
}

struct vu_backend *backend_net_create(const struct net_options *o, char *err, size_t errlen)
{
	return wrap(virtio_net_create(o, &no_memory, "vu-net", err, errlen), err, errlen);
}

struct vu_backend *backend_net_create_fd(const struct net_options *o, int fd, char *err,
					 size_t errlen)
{
	return wrap(virtio_net_create_fd(o, fd, false, &no_memory, "vu-net", err, errlen), err, errlen);
}

void backend_net_destroy(struct vu_backend *vb)
{
	vu_backend_destroy_model(vb);
}
