/*
 * vhost-user message framing over a unix socket (see vhost_user.h): the
 * 12-byte header travels with the fds in one recvmsg(), the payload follows.
 * Every length and count the peer sends is checked before it is used.
 */
#include "backend/vhost_user.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "common/util.h"

_Static_assert(sizeof(struct vhost_user_hdr) == VHOST_USER_HDR_SIZE, "header layout");
_Static_assert(sizeof(struct vhost_user_vring_addr) == 40, "vring addr layout");
_Static_assert(sizeof(struct vhost_user_mem_region) == 32, "region layout");
_Static_assert(sizeof(struct vhost_user_mem_table) ==
	       VHOST_USER_MEM_TABLE_HDR_SIZE + 32 * VHOST_USER_MAX_REGIONS, "mem table layout");

const char *vhost_user_request_name(uint32_t request, char *buf, size_t len)
{
	static const char *const names[] = {
		[VHOST_USER_GET_FEATURES] = "GET_FEATURES",
		[VHOST_USER_SET_FEATURES] = "SET_FEATURES",
		[VHOST_USER_SET_OWNER] = "SET_OWNER",
		[VHOST_USER_RESET_OWNER] = "RESET_OWNER",
		[VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
		[VHOST_USER_SET_LOG_BASE] = "SET_LOG_BASE",
		[VHOST_USER_SET_LOG_FD] = "SET_LOG_FD",
		[VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM",
		[VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
		[VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE",
		[VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
		[VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
		[VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
		[VHOST_USER_SET_VRING_ERR] = "SET_VRING_ERR",
		[VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
		[VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
		[VHOST_USER_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
		[VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
		[VHOST_USER_GET_CONFIG] = "GET_CONFIG",
		[VHOST_USER_SET_CONFIG] = "SET_CONFIG",
		[VHOST_USER_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
		[VHOST_USER_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
		[VHOST_USER_RESET_DEVICE] = "RESET_DEVICE",
		[VHOST_USER_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
	};

	if (request < sizeof(names) / sizeof(names[0]) && names[request])
		return names[request];
	snprintf(buf, len, "request %u", request);
	return buf;
}

void vhost_user_msg_close_fds(struct vhost_user_msg *m)
{
	for (int i = 0; i < m->nr_fds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nr_fds = 0;
}

/* Read exactly len bytes (the payload); -1 on error or early EOF. */
static int read_exact(int sock, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = recv(sock, (char *)buf + done, len - done, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

int vhost_user_recv(int sock, struct vhost_user_msg *m, char *err, size_t errlen)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = &m->hdr, .iov_len = sizeof(m->hdr) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	ssize_t n;

	memset(m, 0, sizeof(*m));
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n < 0)
		return err_fail(err, errlen, "recvmsg: %s", strerror(errno));

	/* Collect the fds first, so that every error path can close them. */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (m->nr_fds < VHOST_USER_MAX_FDS)
				m->fds[m->nr_fds++] = fd;
			else
				close(fd);  /* cannot happen with our buffer size; be safe */
		}
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		vhost_user_msg_close_fds(m);
		return err_fail(err, errlen, "too many file descriptors with one message");
	}
	/* A stream socket may deliver the header in pieces. */
	if ((size_t)n < sizeof(m->hdr) &&
	    read_exact(sock, (char *)&m->hdr + n, sizeof(m->hdr) - (size_t)n)) {
		vhost_user_msg_close_fds(m);
		return err_fail(err, errlen, "truncated message header");
	}
	if (m->hdr.size > VHOST_USER_PAYLOAD_MAX) {
		vhost_user_msg_close_fds(m);
		return err_fail(err, errlen, "payload of %u bytes is larger than any request (%zu)",
			    m->hdr.size, VHOST_USER_PAYLOAD_MAX);
	}
	if (m->hdr.size && read_exact(sock, &m->p, m->hdr.size)) {
		vhost_user_msg_close_fds(m);
		return err_fail(err, errlen, "truncated payload (%u bytes announced)", m->hdr.size);
	}
	return 1;
}

int vhost_user_send(int sock, const struct vhost_user_msg *m)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct iovec iov[2] = {
		{ .iov_base = (void *)&m->hdr, .iov_len = sizeof(m->hdr) },
		{ .iov_base = (void *)&m->p, .iov_len = m->hdr.size },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	size_t total = sizeof(m->hdr) + m->hdr.size;
	ssize_t n;

	if (m->hdr.size > VHOST_USER_PAYLOAD_MAX || m->nr_fds < 0 || m->nr_fds > VHOST_USER_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	if (m->nr_fds) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)m->nr_fds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)m->nr_fds);
		memcpy(CMSG_DATA(c), m->fds, sizeof(int) * (size_t)m->nr_fds);
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	/* Rare partial send: push the rest without the fds (already sent). */
	size_t done = (size_t)n;
	while (done < total) {
		const char *src;
		size_t len;
		if (done < sizeof(m->hdr)) {
			src = (const char *)&m->hdr + done;
			len = sizeof(m->hdr) - done;
		} else {
			src = (const char *)&m->p + (done - sizeof(m->hdr));
			len = total - done;
		}
		n = send(sock, src, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

void vhost_user_reply_init(struct vhost_user_msg *reply, const struct vhost_user_msg *req,
			   uint32_t size)
{
	memset(reply, 0, sizeof(*reply));
	reply->hdr.request = req->hdr.request;
	reply->hdr.flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY;
	reply->hdr.size = size;
}

/* Payload sizes: exact, or "none" (0, some front-ends send a u64 anyway). */
enum payload_kind { P_NONE, P_U64, P_STATE, P_ADDR, P_MEM, P_CONFIG, P_INFLIGHT, P_UNKNOWN };

static enum payload_kind payload_of(uint32_t request)
{
	switch (request) {
	case VHOST_USER_GET_FEATURES:
	case VHOST_USER_GET_PROTOCOL_FEATURES:
	case VHOST_USER_SET_OWNER:
	case VHOST_USER_RESET_OWNER:
	case VHOST_USER_GET_QUEUE_NUM:
	case VHOST_USER_RESET_DEVICE:
	case VHOST_USER_GET_MAX_MEM_SLOTS:
		return P_NONE;
	case VHOST_USER_SET_FEATURES:
	case VHOST_USER_SET_PROTOCOL_FEATURES:
	case VHOST_USER_SET_VRING_KICK:
	case VHOST_USER_SET_VRING_CALL:
	case VHOST_USER_SET_VRING_ERR:
		return P_U64;
	case VHOST_USER_SET_VRING_NUM:
	case VHOST_USER_SET_VRING_BASE:
	case VHOST_USER_GET_VRING_BASE:
	case VHOST_USER_SET_VRING_ENABLE:
		return P_STATE;
	case VHOST_USER_SET_VRING_ADDR:
		return P_ADDR;
	case VHOST_USER_SET_MEM_TABLE:
		return P_MEM;
	case VHOST_USER_GET_CONFIG:
	case VHOST_USER_SET_CONFIG:
		return P_CONFIG;
	case VHOST_USER_GET_INFLIGHT_FD:
	case VHOST_USER_SET_INFLIGHT_FD:
		return P_INFLIGHT;
	default:
		return P_UNKNOWN;
	}
}

/* Does [a, a+len) fit in 64 bits? */
static bool range_ok(uint64_t a, uint64_t len)
{
	return len <= UINT64_MAX - a;
}

static int check_mem_table(const struct vhost_user_msg *m, char *err, size_t errlen)
{
	const struct vhost_user_mem_table *t = &m->p.mem;

	if (m->hdr.size < VHOST_USER_MEM_TABLE_HDR_SIZE)
		return err_fail(err, errlen, "memory table: payload of %u bytes", m->hdr.size);
	if (t->nregions == 0 || t->nregions > VHOST_USER_MAX_REGIONS)
		return err_fail(err, errlen, "memory table: %u regions (1..%d allowed)",
			    t->nregions, VHOST_USER_MAX_REGIONS);
	if (m->hdr.size != VHOST_USER_MEM_TABLE_HDR_SIZE + t->nregions * sizeof(t->regions[0]))
		return err_fail(err, errlen, "memory table: payload of %u bytes for %u regions",
			    m->hdr.size, t->nregions);
	if ((uint32_t)m->nr_fds != t->nregions)
		return err_fail(err, errlen, "memory table: %d fds for %u regions", m->nr_fds, t->nregions);
	for (uint32_t i = 0; i < t->nregions; i++) {
		const struct vhost_user_mem_region *r = &t->regions[i];

		if (r->memory_size == 0)
			return err_fail(err, errlen, "memory region %u is empty", i);
		if (!range_ok(r->guest_phys_addr, r->memory_size) ||
		    !range_ok(r->userspace_addr, r->memory_size) ||
		    !range_ok(r->mmap_offset, r->memory_size) ||
		    r->mmap_offset + r->memory_size > (uint64_t)INT64_MAX)
			return err_fail(err, errlen, "memory region %u: address + size overflows", i);
		for (uint32_t j = 0; j < i; j++) {
			const struct vhost_user_mem_region *o = &t->regions[j];
			if (r->guest_phys_addr < o->guest_phys_addr + o->memory_size &&
			    o->guest_phys_addr < r->guest_phys_addr + r->memory_size)
				return err_fail(err, errlen, "memory regions %u and %u overlap", j, i);
			if (r->userspace_addr < o->userspace_addr + o->memory_size &&
			    o->userspace_addr < r->userspace_addr + r->memory_size)
				return err_fail(err, errlen, "memory regions %u and %u overlap in user addresses",
					    j, i);
		}
	}
	return 0;
}

int vhost_user_check_request(const struct vhost_user_msg *m, unsigned max_vrings,
			     char *err, size_t errlen)
{
	uint32_t req = m->hdr.request;
	char name[32];
	const char *rn = vhost_user_request_name(req, name, sizeof(name));
	int want_fds = 0;

	if ((m->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION)
		return err_fail(err, errlen, "%s: protocol version %u (expected 1)", rn,
			    m->hdr.flags & VHOST_USER_VERSION_MASK);
	if (m->hdr.flags & VHOST_USER_FLAG_REPLY)
		return err_fail(err, errlen, "%s: a request with the reply flag", rn);
	if (m->hdr.size > VHOST_USER_PAYLOAD_MAX)
		return err_fail(err, errlen, "%s: payload too large", rn);
	if (max_vrings > VHOST_USER_MAX_VRINGS)
		max_vrings = VHOST_USER_MAX_VRINGS;

	switch (payload_of(req)) {
	case P_UNKNOWN:
		return err_fail(err, errlen, "unsupported %s", rn);
	case P_NONE:
		if (m->hdr.size != 0 && m->hdr.size != sizeof(uint64_t))
			return err_fail(err, errlen, "%s: payload of %u bytes (expected none)", rn, m->hdr.size);
		break;
	case P_U64:
		if (m->hdr.size != sizeof(uint64_t))
			return err_fail(err, errlen, "%s: payload of %u bytes (expected 8)", rn, m->hdr.size);
		if (req == VHOST_USER_SET_VRING_KICK || req == VHOST_USER_SET_VRING_CALL ||
		    req == VHOST_USER_SET_VRING_ERR) {
			uint64_t v = m->p.u64;
			if (v & ~(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD))
				return err_fail(err, errlen, "%s: unknown bits in 0x%llx", rn,
					    (unsigned long long)v);
			if ((v & VHOST_USER_VRING_IDX_MASK) >= max_vrings)
				return err_fail(err, errlen, "%s: ring %llu (have %u)", rn,
					    (unsigned long long)(v & VHOST_USER_VRING_IDX_MASK), max_vrings);
			want_fds = (v & VHOST_USER_VRING_NOFD) ? 0 : 1;
		}
		break;
	case P_STATE:
		if (m->hdr.size != sizeof(struct vhost_user_vring_state))
			return err_fail(err, errlen, "%s: payload of %u bytes (expected 8)", rn, m->hdr.size);
		if (m->p.state.index >= max_vrings)
			return err_fail(err, errlen, "%s: ring %u (have %u)", rn, m->p.state.index, max_vrings);
		if (req == VHOST_USER_SET_VRING_ENABLE && m->p.state.num > 1)
			return err_fail(err, errlen, "%s: value %u (expected 0 or 1)", rn, m->p.state.num);
		if ((req == VHOST_USER_SET_VRING_BASE) && m->p.state.num > UINT16_MAX)
			return err_fail(err, errlen, "%s: index %u does not fit a split ring", rn,
				    m->p.state.num);
		break;
	case P_ADDR:
		if (m->hdr.size != sizeof(struct vhost_user_vring_addr))
			return err_fail(err, errlen, "%s: payload of %u bytes (expected 40)", rn, m->hdr.size);
		if (m->p.addr.index >= max_vrings)
			return err_fail(err, errlen, "%s: ring %u (have %u)", rn, m->p.addr.index, max_vrings);
		break;
	case P_MEM:
		if (check_mem_table(m, err, errlen))
			return -1;
		want_fds = (int)m->p.mem.nregions;
		break;
	case P_CONFIG:
		if (m->hdr.size < VHOST_USER_CONFIG_HDR_SIZE)
			return err_fail(err, errlen, "%s: payload of %u bytes", rn, m->hdr.size);
		if (m->p.config.size > VHOST_USER_MAX_CONFIG_SIZE ||
		    m->p.config.offset > VHOST_USER_MAX_CONFIG_SIZE - m->p.config.size)
			return err_fail(err, errlen, "%s: offset %u size %u outside the %d-byte config space",
				    rn, m->p.config.offset, m->p.config.size, VHOST_USER_MAX_CONFIG_SIZE);
		if (m->hdr.size != VHOST_USER_CONFIG_HDR_SIZE + m->p.config.size)
			return err_fail(err, errlen, "%s: payload of %u bytes for %u config bytes", rn,
				    m->hdr.size, m->p.config.size);
		break;
	case P_INFLIGHT:
		/* Sizes and counts are checked by the back-end against its device. */
		if (m->hdr.size != sizeof(struct vhost_user_inflight))
			return err_fail(err, errlen, "%s: payload of %u bytes (expected %zu)", rn,
				    m->hdr.size, sizeof(struct vhost_user_inflight));
		want_fds = req == VHOST_USER_SET_INFLIGHT_FD ? 1 : 0;
		break;
	}
	if (m->nr_fds != want_fds)
		return err_fail(err, errlen, "%s: %d file descriptors (expected %d)", rn, m->nr_fds, want_fds);
	return 0;
}
