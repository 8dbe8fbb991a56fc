/*
 * State shared by vu_proxy.c (control path, shared mode) and
 * vu_proxy_bounce.c (isolated mode's relay through the bounce window).
 * Not for other users: see vu_proxy.h.
 */
#ifndef CAPVM_BACKEND_VU_PROXY_INTERNAL_H
#define CAPVM_BACKEND_VU_PROXY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backend/vu_frontend.h"
#include "backend/vu_proxy.h"
#include "virtio/coalesce.h"
#include "virtio/virtio.h"

#define PROXY_QUEUE_MAX 256           /* QueueNumMax offered to the guest */
#define PROXY_MAX_IOV   PROXY_QUEUE_MAX /* buffers in one relayed request */

/* Tags in the proxy's epoll set. */
#define PROXY_TAG_SOCKET 1u
#define PROXY_TAG_RETRY  2u           /* the reconnect timerfd */
#define PROXY_TAG_CALL   0x100u       /* | queue index */
#define PROXY_TAG_WINDOW 0x200u       /* | queue index: its coalescing timer */

/* Isolated mode: one request relayed through the window. */
struct bounce_req {
	bool busy;
	uint16_t guest_head;          /* chain on the guest's ring */
	uint16_t nr_desc;             /* shadow descriptors it holds */
	uint32_t first_page, nr_pages;/* its data in the window */
	uint16_t nr_readable, nr_writable;
	uint64_t writable_len;
	uint64_t win_writable_off;    /* where the writable ones start in the window */
	struct iovec *iov;            /* the guest's buffers: readable, then writable */
	uint32_t epoch;               /* vq->epoch when popped */
	uint64_t seq;                 /* order on the shadow ring (replayed in this order) */
};

/* Isolated mode: the shadow ring of one queue, inside the window. */
struct bounce_queue {
	bool running;
	uint16_t size;
	uint64_t ring_off;            /* desc table offset in the window */
	struct virtq_desc *desc;      /* in the window (the back-end can write it) */
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t avail_idx;           /* our copy: next avail slot */
	uint64_t next_seq;            /* bounce_req.seq of the next request */
	uint16_t last_used;           /* next used entry we read */
	/*
	 * Our own links between shadow descriptors (free list, and each
	 * request's chain): the copies in the window are the back-end's to
	 * scribble on, so we never read them back.
	 */
	uint16_t free_head;
	uint16_t nr_free;
	uint16_t desc_next[PROXY_QUEUE_MAX];
	struct bounce_req req[PROXY_QUEUE_MAX];  /* by shadow head */
	int kick_fd, call_fd;         /* ours, given to the back-end */
	/*
	 * EVENT_IDX on the shadow ring (when the back-end offers it): we kick
	 * only when the back-end's avail_event asks for it, and tell it with
	 * used_event when to call (see want_call).
	 */
	bool event_idx;
	uint16_t kicked_idx;          /* avail_idx at the last kick decision */
	/* A chain popped from the guest that waits for window space. */
	bool has_waiting;
	struct virtq_chain waiting;
	struct iovec *waiting_iov;    /* [PROXY_MAX_IOV] */
	uint32_t waiting_epoch;
	struct iovec *pop_iov;        /* [PROXY_MAX_IOV], scratch for virtq_pop */
	struct coalesce coal;         /* the guest's interrupts (coalesce=; disks default to 200) */
	/* Completions of one back-end call, published to the guest together. */
	uint16_t done_head[PROXY_QUEUE_MAX];
	uint32_t done_len[PROXY_QUEUE_MAX];
};

struct vu_proxy {
	struct virtio_device dev;     /* first: dev->priv == the proxy */
	struct vu_proxy_options opts;
	struct vu_frontend fe;        /* fe.sock < 0 while disconnected */
	bool connected_once;
	uint64_t backend_features;
	uint32_t want_config_size, min_config_size;
	uint8_t config[VHOST_USER_MAX_CONFIG_SIZE];
	int epfd;                     /* the socket and the call fds */
	bool started[VIRTIO_MAX_QUEUES];

	/* crash survival (see proxy_disconnected) */
	int inflight_fd;              /* shared: the back-end's inflight area, kept across back-ends */
	struct vhost_user_inflight inflight;
	int retry_fd;                 /* timerfd: reconnect attempts while the back-end is gone */
	uint64_t lost_ns;             /* when it went away; 0 when not waiting for it */
	bool resuming;                /* restarting rings the guest is using */

	/* shared mode */
	struct vu_proxy_ram ram;
	int kick_fds[VIRTIO_MAX_QUEUES];  /* the transport's (KVM ioeventfds) */
	int irq_fd;                       /* the transport's (KVM irqfd) */

	/* isolated mode */
	int win_fd;                   /* the bounce window memfd */
	uint8_t *win;
	uint64_t win_size;
	uint64_t data_off;            /* window pages start here */
	uint32_t nr_pages;
	uint64_t *page_map;           /* bit set = page in use */
	uint64_t full_logged_ns;      /* rate-limits the "window full" log */
	struct bounce_queue *bq[VIRTIO_MAX_QUEUES];

	struct vu_proxy_stats stats;
};

static inline struct vu_proxy *proxy_of(struct virtio_device *dev)
{
	return (struct vu_proxy *)dev->priv;
}

/* vu_proxy.c: the back-end is gone (log, close, needs-reset). */
void proxy_disconnected(struct vu_proxy *p, const char *why);

/* vu_proxy_bounce.c */
void bounce_init_fields(struct vu_proxy *p);
int bounce_create(struct vu_proxy *p, char *err, size_t errlen);
int bounce_activate(struct vu_proxy *p, char *err, size_t errlen);
void bounce_backend_lost(struct vu_proxy *p);
int bounce_resume(struct vu_proxy *p, unsigned *replayed, char *err, size_t errlen);
void bounce_reset(struct vu_proxy *p);
void bounce_guest_kick(struct vu_proxy *p, struct virtqueue *vq);
void bounce_backend_call(struct vu_proxy *p, unsigned q);
void bounce_window_end(struct vu_proxy *p, unsigned q);
void bounce_destroy(struct vu_proxy *p);

#endif
