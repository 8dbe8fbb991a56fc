/*
 * vhost-user protocol messages (QEMU's docs/interop/vhost-user.rst) and the
 * unix-socket transport that carries them, with file descriptors passed as
 * SCM_RIGHTS ancillary data.  Used by capvm's back-ends (capvm backend ...)
 * and, later, by the VMM as a front-end.
 *
 * The peer is untrusted: vhost_user_recv() bounds the payload size and the
 * number of fds, and vhost_user_check_request() validates every field a
 * front-end sends before a back-end acts on it (payload size per request,
 * fd count, ring index, memory-table region count and overflow).
 */
#ifndef CAPVM_BACKEND_VHOST_USER_H
#define CAPVM_BACKEND_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Requests, front-end to back-end. */
enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
	VHOST_USER_GET_INFLIGHT_FD = 31,
	VHOST_USER_SET_INFLIGHT_FD = 32,
	VHOST_USER_RESET_DEVICE = 34,
	VHOST_USER_GET_MAX_MEM_SLOTS = 36,
	VHOST_USER_REQUEST_MAX = 41,
};

/* Header flags. */
#define VHOST_USER_VERSION          0x1   /* bits 0-1 */
#define VHOST_USER_VERSION_MASK     0x3
#define VHOST_USER_FLAG_REPLY       (1u << 2)
#define VHOST_USER_FLAG_NEED_REPLY  (1u << 3)

/* Virtio feature bit that announces the protocol-feature negotiation. */
#define VHOST_USER_F_PROTOCOL_FEATURES 30

/* Protocol feature bits. */
#define VHOST_USER_PROTOCOL_F_MQ             0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK      3
#define VHOST_USER_PROTOCOL_F_CONFIG         9
#define VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD 12

/* SET_VRING_KICK/CALL/ERR payload: ring index in bits 0-7, "no fd" flag. */
#define VHOST_USER_VRING_IDX_MASK   0xffull
#define VHOST_USER_VRING_NOFD       (1ull << 8)

#define VHOST_USER_MAX_REGIONS      8     /* memory regions in SET_MEM_TABLE */
#define VHOST_USER_MAX_VRINGS       8     /* rings we ever serve */
#define VHOST_USER_MAX_FDS          8     /* fds accepted with one message */
#define VHOST_USER_MAX_CONFIG_SIZE  256
#define VHOST_USER_HDR_SIZE         12

struct vhost_user_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;    /* payload bytes that follow */
};

struct vhost_user_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vhost_user_vring_addr {
	uint32_t index;
	uint32_t flags;         /* bit 0: log the used ring (unsupported) */
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
};

struct vhost_user_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;  /* the front-end's address; rings are given in these */
	uint64_t mmap_offset;     /* where the region starts in the passed fd */
};

struct vhost_user_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_mem_region regions[VHOST_USER_MAX_REGIONS];
};

struct vhost_user_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VHOST_USER_MAX_CONFIG_SIZE];
};

/* GET_INFLIGHT_FD / SET_INFLIGHT_FD payload (with the front-end's padding: 24 bytes). */
struct vhost_user_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
};

#define VHOST_USER_CONFIG_HDR_SIZE 12
#define VHOST_USER_MEM_TABLE_HDR_SIZE 8

union vhost_user_payload {
	uint64_t u64;
	struct vhost_user_vring_state state;
	struct vhost_user_vring_addr addr;
	struct vhost_user_mem_table mem;
	struct vhost_user_config config;
	struct vhost_user_inflight inflight;
	uint8_t raw[VHOST_USER_CONFIG_HDR_SIZE + VHOST_USER_MAX_CONFIG_SIZE];
};

#define VHOST_USER_PAYLOAD_MAX sizeof(union vhost_user_payload)

/* One message with the fds that came with it (owned by whoever holds it). */
struct vhost_user_msg {
	struct vhost_user_hdr hdr;
	union vhost_user_payload p;
	int fds[VHOST_USER_MAX_FDS];
	int nr_fds;
};

/* Name of a request for logs ("SET_MEM_TABLE", or "request 99"). */
const char *vhost_user_request_name(uint32_t request, char *buf, size_t len);

/*
 * Receive one message from sock (blocking).  Returns 1 with m filled in, 0
 * when the peer closed the connection cleanly, or -1 on a transport error or
 * a message that cannot be framed (payload larger than any request, too many
 * fds, truncated control data); the reason goes to err.  Fds that came with a
 * rejected message are closed.  Received fds are close-on-exec.
 */
int vhost_user_recv(int sock, struct vhost_user_msg *m, char *err, size_t errlen);

/* Send header + hdr.size payload bytes + fds[0..nr_fds).  0 or -1 (errno). */
int vhost_user_send(int sock, const struct vhost_user_msg *m);

/* Close the fds a message carries (and forget them). */
void vhost_user_msg_close_fds(struct vhost_user_msg *m);

/*
 * Validate a request from a front-end against the protocol: version bits,
 * no REPLY flag, payload size for this request, fd count, ring index below
 * max_vrings, memory table (1..8 regions, one fd each, non-empty, no
 * address overflow, no overlapping guest-physical ranges), config
 * offset/size within 256 bytes.  Unknown requests are rejected.  0 or -1
 * with the reason in err.  Does not modify m.
 */
int vhost_user_check_request(const struct vhost_user_msg *m, unsigned max_vrings,
			     char *err, size_t errlen);

/*
 * Prepare `reply` as the answer to `req` with a payload of `size` bytes
 * (the caller fills reply->p).
 */
void vhost_user_reply_init(struct vhost_user_msg *reply, const struct vhost_user_msg *req,
			   uint32_t size);

#endif
