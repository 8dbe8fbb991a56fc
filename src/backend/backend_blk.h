/*
 * The vhost-user-blk back-end: capvm's virtio-blk device model (virtio/blk.c)
 * served over vhost-user (backend/vu_backend.h) by `capvm backend blk`.
 */
#ifndef CAPVM_BACKEND_BLK_H
#define CAPVM_BACKEND_BLK_H

#include <stddef.h>

#include "backend/vu_backend.h"
#include "virtio/blk.h"

/* Open the image described by o and wrap the device.  NULL with err. */
struct vu_backend *backend_blk_create(const struct blk_options *o, char *err, size_t errlen);
/* Destroy the back-end and its device. */
void backend_blk_destroy(struct vu_backend *vb);

#endif
