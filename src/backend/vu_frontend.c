/*
 * vhost-user front-end session (see vu_frontend.h).  Requests without a
 * reply of their own ask for a REPLY_ACK when it was negotiated, so a
 * refusal (bad ring address, region the back-end cannot map) surfaces as an
 * error here instead of a silent dead ring.  Replies are validated before
 * use: a reply to another request, of the wrong size or carrying fds ends
 * the session.
 */
#include "backend/vu_frontend.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include "common/util.h"

static void msg_init(struct vhost_user_msg *m, uint32_t req, uint32_t size)
{
	memset(m, 0, sizeof(*m));
	m->hdr.request = req;
	m->hdr.flags = VHOST_USER_VERSION;
	m->hdr.size = size;
}

/* Receive the reply to req; its payload must be exactly `size` bytes. */
static int recv_reply(struct vu_frontend *f, uint32_t req, uint32_t size,
		      struct vhost_user_msg *reply, char *err, size_t errlen)
{
	char name[32];
	const char *rn = vhost_user_request_name(req, name, sizeof(name));
	int rc = vhost_user_recv(f->sock, reply, err, errlen);

	if (rc == 0)
		return err_fail(err, errlen, "%s: back-end closed the connection", rn);
	if (rc < 0)
		return -1;
	if (reply->nr_fds) {
		vhost_user_msg_close_fds(reply);
		return err_fail(err, errlen, "%s: reply carries file descriptors", rn);
	}
	if (reply->hdr.request != req ||
	    (reply->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    !(reply->hdr.flags & VHOST_USER_FLAG_REPLY))
		return err_fail(err, errlen, "%s: unexpected reply (request %u, flags 0x%x)", rn,
			    reply->hdr.request, reply->hdr.flags);
	if (reply->hdr.size != size)
		return err_fail(err, errlen, "%s: reply of %u bytes (expected %u)", rn, reply->hdr.size, size);
	return 0;
}

/* Send m; wait for an ack if REPLY_ACK was negotiated. */
static int send_set(struct vu_frontend *f, struct vhost_user_msg *m, char *err, size_t errlen)
{
	struct vhost_user_msg reply;
	char name[32];
	const char *rn = vhost_user_request_name(m->hdr.request, name, sizeof(name));
	bool ack = f->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK);

	if (ack)
		m->hdr.flags |= VHOST_USER_FLAG_NEED_REPLY;
	if (vhost_user_send(f->sock, m))
		return err_fail(err, errlen, "%s: %s", rn, strerror(errno));
	if (!ack)
		return 0;
	if (recv_reply(f, m->hdr.request, sizeof(uint64_t), &reply, err, errlen))
		return -1;
	if (reply.p.u64)
		return err_fail(err, errlen, "%s: refused by the back-end", rn);
	return 0;
}

static int get_u64(struct vu_frontend *f, uint32_t req, uint64_t *v, char *err, size_t errlen)
{
	struct vhost_user_msg m, reply;

	msg_init(&m, req, 0);
	if (vhost_user_send(f->sock, &m))
		return err_fail(err, errlen, "sending: %s", strerror(errno));
	if (recv_reply(f, req, sizeof(uint64_t), &reply, err, errlen))
		return -1;
	*v = reply.p.u64;
	return 0;
}

int vu_frontend_attach(struct vu_frontend *f, int sock, char *err, size_t errlen)
{
	struct vhost_user_msg m;
	uint64_t offered = 0, v;

	memset(f, 0, sizeof(*f));
	f->sock = sock;
	f->nr_queues = 1;
	if (get_u64(f, VHOST_USER_GET_FEATURES, &f->features, err, errlen))
		return -1;
	if (f->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)) {
		if (get_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES, &offered, err, errlen))
			return -1;
		msg_init(&m, VHOST_USER_SET_PROTOCOL_FEATURES, sizeof(uint64_t));
		m.p.u64 = offered & VU_FRONTEND_PROTOCOL_FEATURES;
		if (send_set(f, &m, err, errlen))  /* no ack yet: not negotiated before this */
			return -1;
		f->protocol_features = m.p.u64;
	}
	if (f->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_MQ)) {
		if (get_u64(f, VHOST_USER_GET_QUEUE_NUM, &v, err, errlen))
			return -1;
		if (v == 0 || v > VHOST_USER_MAX_VRINGS)
			return err_fail(err, errlen, "back-end has %llu queues (1..%d supported)",
				    (unsigned long long)v, VHOST_USER_MAX_VRINGS);
		f->nr_queues = (uint32_t)v;
	}
	msg_init(&m, VHOST_USER_SET_OWNER, 0);
	return send_set(f, &m, err, errlen);
}

int vu_frontend_connect(struct vu_frontend *f, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int sock;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_fail(err, errlen, "socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return err_fail(err, errlen, "socket: %s", strerror(errno));
	struct timeval tv = { .tv_sec = VU_FRONTEND_TIMEOUT_S };
	setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(sock, (struct sockaddr *)&sa, sizeof(sa))) {
		err_fail(err, errlen, "connecting to %s: %s", path, strerror(errno));
		close(sock);
		return -1;
	}
	if (vu_frontend_attach(f, sock, err, errlen)) {
		close(sock);
		f->sock = -1;
		return -1;
	}
	return 0;
}

void vu_frontend_close(struct vu_frontend *f)
{
	if (f->sock >= 0)
		close(f->sock);
	f->sock = -1;
}

int vu_frontend_get_config(struct vu_frontend *f, uint32_t off, void *buf, uint32_t len,
			   char *err, size_t errlen)
{
	struct vhost_user_msg m, reply;

	if (!(f->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_CONFIG)))
		return err_fail(err, errlen, "back-end does not offer its config space");
	if (len > VHOST_USER_MAX_CONFIG_SIZE || off > VHOST_USER_MAX_CONFIG_SIZE - len)
		return err_fail(err, errlen, "config range %u+%u too large", off, len);
	msg_init(&m, VHOST_USER_GET_CONFIG, VHOST_USER_CONFIG_HDR_SIZE + len);
	m.p.config.offset = off;
	m.p.config.size = len;
	if (vhost_user_send(f->sock, &m))
		return err_fail(err, errlen, "GET_CONFIG: %s", strerror(errno));
	if (recv_reply(f, VHOST_USER_GET_CONFIG, VHOST_USER_CONFIG_HDR_SIZE + len, &reply, err, errlen))
		return -1;
	if (reply.p.config.size != len)
		return err_fail(err, errlen, "GET_CONFIG: reply for %u bytes (asked %u)", reply.p.config.size, len);
	memcpy(buf, reply.p.config.region, len);
	return 0;
}

int vu_frontend_set_features(struct vu_frontend *f, uint64_t features, char *err, size_t errlen)
{
	struct vhost_user_msg m;

	msg_init(&m, VHOST_USER_SET_FEATURES, sizeof(uint64_t));
	/* Keep protocol features on: rings then start disabled until enabled. */
	m.p.u64 = features | (f->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES));
	return send_set(f, &m, err, errlen);
}

int vu_frontend_get_inflight(struct vu_frontend *f, uint16_t nr_queues, uint16_t queue_size,
			     struct vhost_user_inflight *d, int *fd, char *err, size_t errlen)
{
	struct vhost_user_msg m, reply;
	int rc;

	*fd = -1;
	if (!(f->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)))
		return 0;
	msg_init(&m, VHOST_USER_GET_INFLIGHT_FD, sizeof(m.p.inflight));
	m.p.inflight.num_queues = nr_queues;
	m.p.inflight.queue_size = queue_size;
	if (vhost_user_send(f->sock, &m))
		return err_fail(err, errlen, "GET_INFLIGHT_FD: %s", strerror(errno));
	/* (recv_reply refuses fds; this reply may carry one) */
	rc = vhost_user_recv(f->sock, &reply, err, errlen);
	if (rc == 0)
		return err_fail(err, errlen, "GET_INFLIGHT_FD: back-end closed the connection");
	if (rc < 0)
		return -1;
	if (reply.hdr.request != VHOST_USER_GET_INFLIGHT_FD ||
	    (reply.hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    !(reply.hdr.flags & VHOST_USER_FLAG_REPLY) || reply.hdr.size != sizeof(reply.p.inflight) ||
	    reply.nr_fds > 1 || (reply.nr_fds == 1) != (reply.p.inflight.mmap_size != 0)) {
		vhost_user_msg_close_fds(&reply);
		return err_fail(err, errlen, "GET_INFLIGHT_FD: malformed reply");
	}
	if (reply.nr_fds == 0)
		return 0;  /* the back-end has no area for us */
	*d = reply.p.inflight;
	d->num_queues = nr_queues;  /* what we asked for, as SET_INFLIGHT_FD repeats it */
	d->queue_size = queue_size;
	*fd = reply.fds[0];
	return 0;
}

int vu_frontend_set_inflight(struct vu_frontend *f, int fd, const struct vhost_user_inflight *d,
			     char *err, size_t errlen)
{
	struct vhost_user_msg m;

	if (!(f->protocol_features & (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)))
		return err_fail(err, errlen, "SET_INFLIGHT_FD: the back-end does not offer INFLIGHT_SHMFD");
	msg_init(&m, VHOST_USER_SET_INFLIGHT_FD, sizeof(m.p.inflight));
	m.p.inflight = *d;
	m.fds[0] = fd;
	m.nr_fds = 1;
	return send_set(f, &m, err, errlen);
}

int vu_frontend_set_mem_table(struct vu_frontend *f, const struct vhost_user_mem_region *regions,
			      const int *fds, unsigned n, char *err, size_t errlen)
{
	struct vhost_user_msg m;

	if (n == 0 || n > VHOST_USER_MAX_REGIONS)
		return err_fail(err, errlen, "%u memory regions (1..%d)", n, VHOST_USER_MAX_REGIONS);
	msg_init(&m, VHOST_USER_SET_MEM_TABLE,
		 VHOST_USER_MEM_TABLE_HDR_SIZE + n * (uint32_t)sizeof(regions[0]));
	m.p.mem.nregions = n;
	memcpy(m.p.mem.regions, regions, n * sizeof(regions[0]));
	memcpy(m.fds, fds, n * sizeof(int));
	m.nr_fds = (int)n;
	return send_set(f, &m, err, errlen);
}

int vu_frontend_start_vring(struct vu_frontend *f, unsigned q, const struct vu_frontend_vring *r,
			    char *err, size_t errlen)
{
	struct vhost_user_msg m;

	if (q >= f->nr_queues)
		return err_fail(err, errlen, "ring %u: back-end has %u", q, f->nr_queues);
	msg_init(&m, VHOST_USER_SET_VRING_NUM, sizeof(m.p.state));
	m.p.state = (struct vhost_user_vring_state){ q, r->num };
	if (send_set(f, &m, err, errlen))
		return -1;
	msg_init(&m, VHOST_USER_SET_VRING_BASE, sizeof(m.p.state));
	m.p.state = (struct vhost_user_vring_state){ q, r->base };
	if (send_set(f, &m, err, errlen))
		return -1;
	msg_init(&m, VHOST_USER_SET_VRING_ADDR, sizeof(m.p.addr));
	m.p.addr = (struct vhost_user_vring_addr){ .index = q, .desc_user_addr = r->desc,
		.used_user_addr = r->used, .avail_user_addr = r->avail };
	if (send_set(f, &m, err, errlen))
		return -1;
	msg_init(&m, VHOST_USER_SET_VRING_CALL, sizeof(uint64_t));
	m.p.u64 = q | (r->call_fd < 0 ? VHOST_USER_VRING_NOFD : 0);
	if (r->call_fd >= 0) {
		m.fds[0] = r->call_fd;
		m.nr_fds = 1;
	}
	if (send_set(f, &m, err, errlen))
		return -1;
	msg_init(&m, VHOST_USER_SET_VRING_KICK, sizeof(uint64_t));
	m.p.u64 = q;
	m.fds[0] = r->kick_fd;
	m.nr_fds = 1;
	if (send_set(f, &m, err, errlen))
		return -1;
	if (!(f->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)))
		return 0;  /* the ring is enabled from the start */
	msg_init(&m, VHOST_USER_SET_VRING_ENABLE, sizeof(m.p.state));
	m.p.state = (struct vhost_user_vring_state){ q, 1 };
	return send_set(f, &m, err, errlen);
}

int vu_frontend_stop_vring(struct vu_frontend *f, unsigned q, uint16_t *base, char *err, size_t errlen)
{
	struct vhost_user_msg m, reply;

	msg_init(&m, VHOST_USER_GET_VRING_BASE, sizeof(m.p.state));
	m.p.state.index = q;
	if (vhost_user_send(f->sock, &m))
		return err_fail(err, errlen, "GET_VRING_BASE: %s", strerror(errno));
	if (recv_reply(f, VHOST_USER_GET_VRING_BASE, sizeof(reply.p.state), &reply, err, errlen))
		return -1;
	if (reply.p.state.index != q || reply.p.state.num > UINT16_MAX)
		return err_fail(err, errlen, "GET_VRING_BASE: reply for ring %u, index %u", reply.p.state.index,
			    reply.p.state.num);
	*base = (uint16_t)reply.p.state.num;
	return 0;
}
