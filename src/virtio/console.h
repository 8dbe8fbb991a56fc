/*
 * virtio-console device model (device id 3): one port, the guest's hvc0,
 * connected to a character backend (common/chardev.h: stdio, file:PATH,
 * unix:PATH, none).  See console.c.
 *
 *   struct virtio_device *dev = virtio_console_create("file:/tmp/hvc0.txt", mem,
 *                                                     "console0", err, sizeof(err));
 */
#ifndef CAPVM_VIRTIO_CONSOLE_H
#define CAPVM_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "virtio/guest_mem.h"

struct chardev;

struct virtio_console_stats {
	uint64_t rx_bytes;        /* backend -> guest */
	uint64_t tx_bytes;        /* guest -> backend */
	uint64_t rx_dropped;      /* input lost: the guest did not read it in time */
};

/* Check a --virtio-console SPEC without opening anything.  0 or -1 with err. */
int virtio_console_parse(const char *spec, char *err, size_t errlen);

/*
 * Open the chardev `spec` and return the device, which owns it.  NULL with
 * a message in err.
 */
struct virtio_device *virtio_console_create(const char *spec, const struct guest_mem *mem,
					    const char *name, char *err, size_t errlen);

/*
 * The same on an open chardev (owned by the device from now on; closed on
 * destroy, also on failure).  Input is read from it only if start_input.
 */
struct virtio_device *virtio_console_create_chardev(struct chardev *cd, int start_input,
						    const struct guest_mem *mem, const char *name,
						    char *err, size_t errlen);

/*
 * Feed input bytes as the chardev's input thread does (any thread).  For
 * tests and for callers with their own input source.
 */
void virtio_console_input(struct virtio_device *dev, const uint8_t *buf, size_t len);

const struct virtio_console_stats *virtio_console_stats(const struct virtio_device *dev);

#endif
