/*
 * libFuzzer target: a hostile vhost-user front-end against capvm's back-end
 * session (src/backend/vu_backend.c + vhost_user.c) serving the virtio-blk
 * model on a null disk.  The input is a sequence of messages:
 *
 *   [12-byte header][payload: min(hdr.size, rest, 272) bytes][1 byte fd mode]
 *
 * fd mode bit 0 set: attach the fds the request would expect (an eventfd for
 * SET_VRING_KICK/CALL/ERR, dups of a 64 KiB memfd "guest RAM" for each
 * region of SET_MEM_TABLE); bit 1: attach one fd too many.  The guest RAM is
 * filled from the input's first 64 bytes repeated, so rings built on it hold
 * arbitrary descriptors.  After each message any kick fd is signalled and
 * the device polled, so rings that start really run the blk model over the
 * mapped memory.  Everything ends with a disconnect, which must leave no
 * mapping and no fd behind.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend/backend_blk.h"
#include "common/log.h"
#include "fuzz_vhost_user_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vu_backend *vb;
static struct fuzz_vu fz;

static void setup(void)
{
	struct blk_options o;
	char err[256];

	log_set_quiet(1);
	if (virtio_blk_parse("null,size=1M", &o, err, sizeof(err)) ||
	    !(vb = backend_blk_create(&o, err, sizeof(err)))) {
		fprintf(stderr, "fuzz_vhost_user setup: %s\n", err);
		abort();
	}
	fuzz_vu_setup(&fz);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vhost_user_msg m, reply;
	size_t pos = 0;
	uint8_t mode;

	if (!vb)
		setup();
	fuzz_vu_begin(&fz, data, size);
	while (fuzz_vu_next(&fz, data, size, &pos, &m, &mode)) {
		char err[256];

		memset(&reply, 0, sizeof(reply));
		if (vu_backend_handle(vb, &m, &reply, err, sizeof(err)) < 0)
			break;  /* the real loop closes the connection here */
		vhost_user_msg_close_fds(&reply);  /* GET_INFLIGHT_FD answers with an fd */
		fuzz_vu_kick_all(&fz);
		vu_backend_poll_device(vb, 0);
	}
	vu_backend_disconnect(vb);
	fuzz_vu_end(&fz);
	if (vb->nr_maps != 0)
		abort();
	return 0;
}
