/*
 * The device side of vhost-user, for any capvm device model: a back-end
 * process serves one struct virtio_device (virtio/virtio.h) to one
 * front-end at a time over a unix socket.  Shared-memory mode: the
 * front-end's memory table (guest RAM as memfds) is mapped here and becomes
 * the device's struct guest_mem, so the device model is the very code that
 * runs inside the VMM.  Kicks arrive on the kick eventfds, interrupts go out
 * by writing the call eventfds.
 *
 *   struct vu_backend *vb = vu_backend_create(dev, &hooks);
 *   vu_backend_listen(vb, "/run/x.sock");   // serve until a signal
 *
 * vu_backend_handle() processes one already received message (the socket
 * loop uses it; so do the unit tests and the fuzzer).
 */
#ifndef CAPVM_BACKEND_VU_BACKEND_H
#define CAPVM_BACKEND_VU_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/vhost_user.h"
#include "backend/vu_inflight.h"
#include "virtio/guest_mem.h"

struct virtio_device;

/* Device-specific parts. */
struct vu_backend_hooks {
	/* Requests of the device still in flight (touching guest memory). */
	uint64_t (*in_flight)(struct virtio_device *dev);
	/*
	 * Ring q is about to stop (dev->lock held, nothing in flight): return
	 * buffers the model took from it but holds without a request (net's
	 * receive stash), so the index handed back covers only used entries.
	 * May be NULL.
	 */
	void (*ring_stopping)(struct virtio_device *dev, unsigned q);
};

struct vu_vring {
	int kick_fd, call_fd, err_fd;    /* -1 when none */
	bool enabled;                    /* SET_VRING_ENABLE (or implied) */
	bool started;                    /* the device model is using it */
	uint16_t num;
	bool addr_set;
	uint64_t desc_ua, avail_ua, used_ua;  /* front-end user addresses */
	uint16_t base;                   /* next avail index (SET_VRING_BASE) */
	uint16_t call_used;              /* used index at the last call-fd signal */
};

struct vu_mapping {
	void *addr;        /* mmap of the fd from offset 0 */
	uint64_t len;
	uint64_t gpa, size, user_addr;
};

struct vu_backend {
	struct virtio_device *dev;
	struct vu_backend_hooks hooks;
	struct guest_mem mem;            /* dev->mem points here */
	struct vu_mapping maps[VHOST_USER_MAX_REGIONS];
	int nr_maps;
	uint64_t features;               /* SET_FEATURES */
	uint64_t protocol_features;      /* SET_PROTOCOL_FEATURES */
	bool owner;
	struct vu_vring vrings[VHOST_USER_MAX_VRINGS];
	uint64_t messages;               /* requests handled (counter) */
	volatile int *stop;              /* vu_backend_listen's stop flag */
	int dev_epoll;                   /* the device's fds, edge-triggered */
	struct vu_inflight inflight;     /* SET_INFLIGHT_FD: survives our crash */
	/*
	 * Called by vu_backend_listen once the socket listens, before the
	 * first front-end (capvm backend enters its sandbox there); non-zero
	 * ends vu_backend_listen with -1.  May be NULL.
	 */
	int (*listening)(struct vu_backend *vb, int listen_fd, void *opaque);
	void *listening_opaque;
	/* When set, the session must end (protocol violation). */
	bool broken;
};

/* Protocol features we offer. */
#define VU_BACKEND_PROTOCOL_FEATURES \
	((1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | \
	 (1ull << VHOST_USER_PROTOCOL_F_CONFIG) | (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))

/* Wrap dev (its dev->mem is replaced by the back-end's view).  NULL on OOM. */
struct vu_backend *vu_backend_create(struct virtio_device *dev, const struct vu_backend_hooks *hooks);
/* Free vb (not the device). */
void vu_backend_destroy(struct vu_backend *vb);

/*
 * For a back-end command serving one model: wrap dev (NULL: its
 * constructor failed, err already says why) for any ring size the
 * front-end picks (up to VIRTQ_MAX_SIZE).  On failure dev is destroyed and
 * err says why.  vu_backend_destroy_model() frees both again.
 */
struct vu_backend *vu_backend_wrap_model(struct virtio_device *dev,
					 const struct vu_backend_hooks *hooks,
					 char *err, size_t errlen);
void vu_backend_destroy_model(struct vu_backend *vb);

/*
 * Handle one request (m's fds are consumed: kept or closed).  If a reply is
 * due, fills *reply and returns 1; returns 0 when there is nothing to send,
 * -1 when the request was invalid and the session must end (reason in err).
 */
int vu_backend_handle(struct vu_backend *vb, struct vhost_user_msg *m,
		      struct vhost_user_msg *reply, char *err, size_t errlen);

/*
 * Service pending kicks and device fds without blocking (used by the loop,
 * tests and the fuzzer).  Returns events handled.
 */
int vu_backend_poll_device(struct vu_backend *vb, int timeout_ms);

/* Front-end gone: stop rings, unmap memory, close fds, forget state. */
void vu_backend_disconnect(struct vu_backend *vb);

/*
 * Serve one connected front-end on sock until it disconnects or breaks the
 * protocol.  Returns 0 (clean end) or -1.
 */
int vu_backend_serve(struct vu_backend *vb, int sock);

/*
 * Listen on a unix socket at path (replacing a stale socket file) and serve
 * front-ends one after the other, until *stop becomes true (checked between
 * events; may be NULL).  Returns 0 or -1 (logged).
 */
int vu_backend_listen(struct vu_backend *vb, const char *path, volatile int *stop);

#endif
