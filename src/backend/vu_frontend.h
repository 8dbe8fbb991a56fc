/*
 * The front-end side of vhost-user: what the VMM (capvm run --disk
 * vhost-user=SOCK, through backend/vu_proxy.c) uses to hand a device's
 * data path to a back-end process.  Synchronous request/reply over one unix socket; every
 * reply is checked (reply flag, request code, exact size) because the
 * back-end is untrusted too.
 *
 *   struct vu_frontend f;
 *   vu_frontend_connect(&f, path, err, n);      // + GET/SET_PROTOCOL_FEATURES, SET_OWNER
 *   vu_frontend_get_config(&f, 0, cfg, 60, ...);
 *   vu_frontend_set_features(&f, features, ...);
 *   vu_frontend_set_mem_table(&f, regions, fds, n, ...);
 *   vu_frontend_start_vring(&f, 0, &ring, ...);  // kick = ioeventfd, call = irqfd
 *   ...
 *   vu_frontend_stop_vring(&f, 0, &base, ...);
 *   vu_frontend_close(&f);
 */
#ifndef CAPVM_BACKEND_VU_FRONTEND_H
#define CAPVM_BACKEND_VU_FRONTEND_H

#include <stddef.h>
#include <stdint.h>

#include "backend/vhost_user.h"

struct vu_frontend {
	int sock;
	uint64_t features;            /* offered by the back-end (GET_FEATURES) */
	uint64_t protocol_features;   /* negotiated */
	uint32_t nr_queues;           /* GET_QUEUE_NUM, or 1 without MQ */
};

/* A ring as the front-end describes it (addresses in the back-end's table). */
struct vu_frontend_vring {
	uint16_t num, base;
	uint64_t desc, avail, used;   /* "user addresses" of the memory table */
	int kick_fd, call_fd;
};

/* Protocol features we ask for (those the back-end offers, of these). */
#define VU_FRONTEND_PROTOCOL_FEATURES \
	((1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | \
	 (1ull << VHOST_USER_PROTOCOL_F_CONFIG) | (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))

/*
 * Every request and reply on a connection made by vu_frontend_connect times
 * out after this long (a back-end may take 30 s to drain its requests before
 * it answers GET_VRING_BASE), so a hung back-end cannot block the caller
 * (a vCPU thread, in the VMM) forever.
 */
#define VU_FRONTEND_TIMEOUT_S 40

/* Connect to path and negotiate; or adopt an already connected sock. 0 / -1. */
int vu_frontend_connect(struct vu_frontend *f, const char *path, char *err, size_t errlen);
int vu_frontend_attach(struct vu_frontend *f, int sock, char *err, size_t errlen);
void vu_frontend_close(struct vu_frontend *f);

int vu_frontend_get_config(struct vu_frontend *f, uint32_t off, void *buf, uint32_t len,
			   char *err, size_t errlen);
int vu_frontend_set_features(struct vu_frontend *f, uint64_t features, char *err, size_t errlen);

/*
 * Inflight area (crash survival, see backend/vu_inflight.h).  get: ask the
 * back-end for one (nr_queues rings of queue_size); 0 with *fd = -1 when
 * INFLIGHT_SHMFD was not negotiated or the back-end has none, 0 with *fd
 * (ours to keep and close) and *d filled in, or -1.  set: hand a kept area
 * to a (new) back-end before its rings start; the fd stays the caller's.
 */
int vu_frontend_get_inflight(struct vu_frontend *f, uint16_t nr_queues, uint16_t queue_size,
			     struct vhost_user_inflight *d, int *fd, char *err, size_t errlen);
int vu_frontend_set_inflight(struct vu_frontend *f, int fd, const struct vhost_user_inflight *d,
			     char *err, size_t errlen);
/* regions[i] is backed by fds[i] (not closed here).  n <= 8. */
int vu_frontend_set_mem_table(struct vu_frontend *f, const struct vhost_user_mem_region *regions,
			      const int *fds, unsigned n, char *err, size_t errlen);
int vu_frontend_start_vring(struct vu_frontend *f, unsigned q, const struct vu_frontend_vring *r,
			    char *err, size_t errlen);
/* Stop ring q; *base is where the back-end stopped (next avail index). */
int vu_frontend_stop_vring(struct vu_frontend *f, unsigned q, uint16_t *base, char *err, size_t errlen);

#endif
