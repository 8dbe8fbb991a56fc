/*
 * The vhost-user-net back-end: capvm's virtio-net device model (virtio/net.c,
 * a tap with IFF_VNET_HDR and offloads) served over vhost-user
 * (backend/vu_backend.h) by `capvm backend net`.
 */
#ifndef CAPVM_BACKEND_NET_H
#define CAPVM_BACKEND_NET_H

#include <stddef.h>

#include "backend/vu_backend.h"
#include "virtio/net.h"

/* Open the tap described by o and wrap the device.  NULL with err. */
struct vu_backend *backend_net_create(const struct net_options *o, char *err, size_t errlen);
/*
 * The same on an fd that already speaks the tap's framing (tests and
 * fuzzers: a SOCK_SEQPACKET socketpair); the device owns fd, also on failure.
 */
struct vu_backend *backend_net_create_fd(const struct net_options *o, int fd, char *err,
					 size_t errlen);
/* Destroy the back-end and its device (closes the tap). */
void backend_net_destroy(struct vu_backend *vb);

#endif
