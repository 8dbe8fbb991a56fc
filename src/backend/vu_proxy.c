/*
 * The VMM side of a vhost-user device (see vu_proxy.h): a struct
 * virtio_device on the virtio-mmio transport whose queues a back-end
 * process serves.
 *
 * Control path.  vu_proxy_connect() is the whole handshake (connect,
 * features, protocol features, queue count, owner, config space); it is
 * called at creation and again after a back-end went away, when the guest
 * resets the device.  DRIVER_OK (proxy_activate) sends SET_FEATURES, the
 * memory table and the rings; a device reset (proxy_reset) stops the rings
 * with GET_VRING_BASE, which the back-end answers only when no request
 * touches guest memory any more.  These requests run on the vCPU thread
 * that wrote the status register, with dev->lock held, and have a socket
 * timeout (VU_FRONTEND_TIMEOUT_S) so a hung back-end cannot hold a vCPU
 * forever.
 *
 * Watching the back-end.  The proxy owns a small epoll set (the socket, and
 * in isolated mode the back-end's call eventfds) that it gives the device's
 * I/O thread as one extra fd.  When the socket reports EOF (the back-end
 * died) the proxy waits for the supervisor to restart it and resumes the
 * rings (proxy_disconnected), or the device goes to DEVICE_NEEDS_RESET
 * with one clear log line.
 *
 * The isolated mode's relay (shadow rings in the bounce window) lives in
 * vu_proxy_bounce.c.
 */
#include "backend/vu_proxy.h"
#include "backend/vu_proxy_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "virtio/blk.h"

/* Feature bits the guest may see in shared mode: the device's own bits
 * (0-23), indirect descriptors, EVENT_IDX and VERSION_1.  Packed rings,
 * ACCESS_PLATFORM, notification data, ... are not passed on. */
#define PROXY_DEVICE_FEATURES   0xffffffULL
#define PROXY_TRANSPORT_FEATURES (VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | \
				  VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_VERSION_1))

static const struct virtio_device_ops proxy_ops;

/* ---- parsing ------------------------------------------------------------- */

int vu_proxy_parse(const char *spec, struct vu_proxy_options *o, char *err, size_t errlen)
{
	static const char prefix[] = "vhost-user=";
	char *copy, *save = NULL, *tok;
	int rc = 1;

	if (strncmp(spec, prefix, sizeof(prefix) - 1))
		return 0;
	memset(o, 0, sizeof(*o));
	o->mem = VU_PROXY_MEM_ISOLATED;  /* the back-end sees only its bounce window */
	o->bounce_size = VU_PROXY_BOUNCE_DEFAULT;
	o->reconnect_s = VU_PROXY_RECONNECT_DEFAULT_S;
	copy = strdup(spec + sizeof(prefix) - 1);
	if (!copy)
		return err_fail(err, errlen, "out of memory");
	tok = strtok_r(copy, ",", &save);
	if (!tok || !*tok || spec[sizeof(prefix) - 1] == ',') {
		rc = err_fail(err, errlen, "vhost-user= needs a socket path");
		goto out;
	}
	if (strlen(tok) >= sizeof(o->socket)) {
		rc = err_fail(err, errlen, "socket path longer than %zu bytes: %s",
			      sizeof(o->socket) - 1, tok);
		goto out;
	}
	strcpy(o->socket, tok);
	bool bounce_given = false;
	uint64_t v;
	while ((tok = strtok_r(NULL, ",", &save))) {
		if (!strcmp(tok, "mem=shared")) {
			o->mem = VU_PROXY_MEM_SHARED;
		} else if (!strcmp(tok, "mem=isolated")) {
			o->mem = VU_PROXY_MEM_ISOLATED;
		} else if (!strncmp(tok, "bounce=", 7)) {
			if (parse_size(tok + 7, 1, &o->bounce_size) || o->bounce_size < VU_PROXY_BOUNCE_MIN ||
			    o->bounce_size > VU_PROXY_BOUNCE_MAX || o->bounce_size % 4096) {
				rc = err_fail(err, errlen, "bounce=%s: expected a size from 1M to 1G, "
					      "a multiple of 4 KiB (e.g. 64M)", tok + 7);
				goto out;
			}
			bounce_given = true;
		} else if (!strncmp(tok, "reconnect=", 10)) {
			if (parse_uint(tok + 10, 0, VU_PROXY_RECONNECT_MAX_S, &v)) {
				rc = err_fail(err, errlen, "reconnect=%s: expected seconds from 0 to %d",
					      tok + 10, VU_PROXY_RECONNECT_MAX_S);
				goto out;
			}
			o->reconnect_s = (unsigned)v;
		} else if (!strncmp(tok, "coalesce=", 9)) {
			if (parse_uint(tok + 9, 0, BLK_COALESCE_MAX_US, &v)) {
				rc = err_fail(err, errlen, "coalesce=%s: expected microseconds, 0 (off) to %d",
					      tok + 9, BLK_COALESCE_MAX_US);
				goto out;
			}
			o->coalesce_us = (uint32_t)v;
			o->coalesce_given = true;
		} else {
			rc = err_fail(err, errlen, "unknown vhost-user option '%s' (expected "
				      "mem=shared|isolated, bounce=SIZE, reconnect=SECONDS, coalesce=USEC, "
				      "irq=N)", tok);
			goto out;
		}
	}
	if (bounce_given && o->mem != VU_PROXY_MEM_ISOLATED)
		rc = err_fail(err, errlen, "bounce= applies to mem=isolated only");
	else if (o->coalesce_given && o->mem != VU_PROXY_MEM_ISOLATED)
		rc = err_fail(err, errlen, "coalesce= applies to mem=isolated only (in shared mode "
			      "the back-end signals the guest itself)");
out:
	free(copy);
	return rc;
}

/* ---- connection ---------------------------------------------------------- */

static void set_needs_reset(struct vu_proxy *p)
{
	struct virtio_device *dev = &p->dev;
	uint32_t old = __atomic_fetch_or(&dev->status, VIRTIO_STATUS_DEVICE_NEEDS_RESET,
					 __ATOMIC_ACQ_REL);

	if (!(old & VIRTIO_STATUS_DEVICE_NEEDS_RESET)) {
		__atomic_fetch_add(&dev->stats.needs_reset, 1, __ATOMIC_RELAXED);
		if (old & VIRTIO_STATUS_DRIVER_OK)
			virtio_raise_irq(dev, VIRTIO_ISR_CONFIG_CHANGE);
	}
}

/* Arm (period_ms > 0) or disarm (0) the reconnect timer. */
static void retry_timer(struct vu_proxy *p, unsigned period_ms)
{
	struct itimerspec its = { 0 };

	if (p->retry_fd < 0)
		return;
	if (period_ms) {
		its.it_value.tv_nsec = (long)period_ms * 1000000L;
		its.it_interval = its.it_value;
	}
	timerfd_settime(p->retry_fd, 0, &its, NULL);
}

static void close_connection(struct vu_proxy *p)
{
	epoll_ctl(p->epfd, EPOLL_CTL_DEL, p->fe.sock, NULL);
	vu_frontend_close(&p->fe);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		p->started[q] = false;
}

/*
 * The back-end went away.  With a running device and reconnect= not 0,
 * wait for the supervisor to restart it: retry every 200 ms (proxy_retry).
 * Shared mode gives the new back-end the kept inflight area and the rings;
 * it redoes what the old one left unfinished.  Isolated mode keeps its own
 * bookkeeping of every request in flight (outside the window) and replays
 * them on fresh shadow rings (bounce_resume).  The guest sees a pause.
 * Otherwise, or after reconnect= seconds, the device needs a reset (the
 * guest's driver then resets it, and a reset reconnects).  Never blocks: a
 * vCPU waits for nothing here.
 */
void proxy_disconnected(struct vu_proxy *p, const char *why)
{
	bool running = virtio_status(&p->dev) & VIRTIO_STATUS_DRIVER_OK;

	if (p->fe.sock < 0)
		return;
	close_connection(p);
	if (p->opts.mem == VU_PROXY_MEM_ISOLATED)
		bounce_backend_lost(p);
	__atomic_fetch_add(&p->stats.disconnects, 1, __ATOMIC_RELAXED);
	if (running && p->opts.reconnect_s && p->retry_fd >= 0) {
		log_warn(p->dev.name, "vhost-user back-end %s: %s; waiting up to %u s for it to come back",
			 p->opts.socket, why, p->opts.reconnect_s);
		p->lost_ns = now_ns();
		retry_timer(p, 200);
		return;
	}
	log_error(p->dev.name, "vhost-user back-end %s: %s; the device needs a reset "
		  "(capvm reconnects when the guest resets it)", p->opts.socket, why);
	set_needs_reset(p);
}

/*
 * Connect and negotiate.  The first time, the device takes its shape from
 * the back-end; on a reconnect the back-end must offer at least what the
 * guest may already have seen.  0 or -1 with the reason in err.
 */
static int vu_proxy_connect(struct vu_proxy *p, char *err, size_t errlen)
{
	struct virtio_device *dev = &p->dev;
	uint8_t config[VHOST_USER_MAX_CONFIG_SIZE];
	/* a reconnect reads what the guest has been reading */
	uint32_t config_size = p->connected_once ? dev->config_size : p->want_config_size;

	/* (vu_frontend_connect puts a timeout on every request) */
	if (vu_frontend_connect(&p->fe, p->opts.socket, err, errlen))
		return -1;
	if (!(p->fe.features & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		err_fail(err, errlen, "back-end does not offer VIRTIO_F_VERSION_1");
		goto fail;
	}
	if (p->fe.nr_queues > VIRTIO_MAX_QUEUES) {
		err_fail(err, errlen, "back-end has %u queues (at most %d)", p->fe.nr_queues,
			 VIRTIO_MAX_QUEUES);
		goto fail;
	}
	/* Some back-ends refuse a config read longer than their structure. */
	while (vu_frontend_get_config(&p->fe, 0, config, config_size, err, errlen)) {
		if (p->fe.sock < 0 || config_size <= p->min_config_size || p->connected_once)
			goto fail;
		config_size = p->min_config_size;
	}
	if (p->connected_once) {
		if ((dev->host_features & PROXY_DEVICE_FEATURES & ~p->fe.features) ||
		    p->fe.nr_queues < dev->nr_queues) {
			err_fail(err, errlen, "the back-end now offers less than before "
				 "(features 0x%llx, %u queues)", (unsigned long long)p->fe.features,
				 p->fe.nr_queues);
			goto fail;
		}
	} else {
		p->backend_features = p->fe.features;
		dev->nr_queues = (uint16_t)p->fe.nr_queues;
		dev->config_size = config_size;
	}
	memcpy(p->config, config, config_size);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u32 = PROXY_TAG_SOCKET };
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->fe.sock, &ev)) {
		err_fail(err, errlen, "epoll: %s", strerror(errno));
		goto fail;
	}
	p->connected_once = true;
	__atomic_fetch_add(&p->stats.connects, 1, __ATOMIC_RELAXED);
	return 0;
fail:
	vu_frontend_close(&p->fe);
	return -1;
}

/* A request failed: a dead or broken connection ends the session. */
static int request_failed(struct vu_proxy *p, const char *what, const char *err)
{
	char why[384];

	snprintf(why, sizeof(why), "%s: %s", what, err);
	proxy_disconnected(p, why);
	return -1;
}

/* ---- shared mode --------------------------------------------------------- */

static int shared_activate(struct vu_proxy *p, char *err, size_t errlen)
{
	struct virtio_device *dev = &p->dev;
	struct vhost_user_mem_region regions[VU_PROXY_MAX_RAM_SLOTS];
	int fds[VU_PROXY_MAX_RAM_SLOTS];

	for (int i = 0; i < p->ram.nr_slots; i++) {
		/* The back-end's "user addresses" are guest-physical: 1:1. */
		regions[i] = (struct vhost_user_mem_region){ .guest_phys_addr = p->ram.slots[i].gpa,
			.memory_size = p->ram.slots[i].size, .userspace_addr = p->ram.slots[i].gpa,
			.mmap_offset = p->ram.slots[i].fd_offset };
		fds[i] = p->ram.fd;
	}
	if (vu_frontend_set_features(&p->fe, dev->driver_features, err, errlen))
		return -1;
	/* The inflight area: asked for once, handed to every back-end after that. */
	if (p->inflight_fd < 0 &&
	    vu_frontend_get_inflight(&p->fe, dev->nr_queues, PROXY_QUEUE_MAX, &p->inflight,
				     &p->inflight_fd, err, errlen))
		return -1;
	if (p->inflight_fd >= 0) {
		if (!(p->fe.protocol_features & (1ull << VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)))
			log_warn(dev->name, "the back-end no longer offers an inflight area: requests "
				 "in flight when it went away may be lost");
		else if (vu_frontend_set_inflight(&p->fe, p->inflight_fd, &p->inflight, err, errlen))
			return -1;
	}
	if (vu_frontend_set_mem_table(&p->fe, regions, fds, (unsigned)p->ram.nr_slots, err, errlen))
		return -1;
	for (unsigned q = 0; q < dev->nr_queues; q++) {
		struct virtqueue *vq = &dev->vqs[q];
		if (!vq->active)
			continue;
		/* A new back-end after a crash: continue after what the guest got back. */
		uint16_t base = p->resuming ? __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE)
					    : vq->last_avail_idx;
		struct vu_frontend_vring r = { .num = vq->size, .base = base,
			.desc = vq->desc_gpa, .avail = vq->avail_gpa, .used = vq->used_gpa,
			.kick_fd = p->kick_fds[q], .call_fd = p->irq_fd };
		if (r.kick_fd < 0 || r.call_fd < 0)
			return err_fail(err, errlen, "queue %u has no transport eventfds", q);
		if (vu_frontend_start_vring(&p->fe, q, &r, err, errlen))
			return -1;
		p->started[q] = true;
	}
	return 0;
}

/* The reconnect timer fired: try the back-end again, or give up after the bound. */
static void proxy_retry(struct vu_proxy *p)
{
	struct virtio_device *dev = &p->dev;
	uint64_t ticks, waited_ms;
	char err[256] = "";
	unsigned replayed = 0;
	int rc;

	if (read(p->retry_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_warn(dev->name, "reading the reconnect timer: %s", strerror(errno));
	if (!p->lost_ns)
		return;
	waited_ms = (now_ns() - p->lost_ns) / 1000000u;
	if (p->fe.sock < 0 && vu_proxy_connect(p, err, sizeof(err)) == 0) {
		p->resuming = true;
		rc = p->opts.mem == VU_PROXY_MEM_SHARED ? shared_activate(p, err, sizeof(err))
							: bounce_resume(p, &replayed, err, sizeof(err));
		p->resuming = false;
		if (!rc) {
			retry_timer(p, 0);
			p->lost_ns = 0;
			if (p->opts.mem == VU_PROXY_MEM_SHARED)
				log_info(dev->name, "vhost-user back-end %s is back after %llu ms; "
					 "rings resumed", p->opts.socket, (unsigned long long)waited_ms);
			else
				log_info(dev->name, "vhost-user back-end %s is back after %llu ms; "
					 "rings resumed, %u request(s) replayed", p->opts.socket,
					 (unsigned long long)waited_ms, replayed);
			return;
		}
		close_connection(p);  /* not ready yet: next tick */
	}
	if (waited_ms >= (uint64_t)p->opts.reconnect_s * 1000u) {
		retry_timer(p, 0);
		p->lost_ns = 0;
		log_error(dev->name, "vhost-user back-end %s did not come back within %u s (%s); "
			  "the device needs a reset", p->opts.socket, p->opts.reconnect_s,
			  err[0] ? err : "no answer");
		set_needs_reset(p);
	}
}

/* ---- device ops ---------------------------------------------------------- */

static int proxy_activate(struct virtio_device *dev)
{
	struct vu_proxy *p = proxy_of(dev);
	char err[256];
	int rc;

	if (p->fe.sock < 0 && vu_proxy_connect(p, err, sizeof(err))) {
		log_error(dev->name, "vhost-user back-end %s unavailable: %s", p->opts.socket, err);
		return -1;
	}
	rc = p->opts.mem == VU_PROXY_MEM_SHARED ? shared_activate(p, err, sizeof(err))
						: bounce_activate(p, err, sizeof(err));
	if (rc)
		return request_failed(p, "starting the device", err);
	log_info(dev->name, "vhost-user back-end %s running (%s memory, features 0x%llx)",
		 p->opts.socket, p->opts.mem == VU_PROXY_MEM_SHARED ? "shared" : "isolated",
		 (unsigned long long)dev->driver_features);
	return 0;
}

static void proxy_reset(struct virtio_device *dev)
{
	struct vu_proxy *p = proxy_of(dev);
	char err[256];

	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES && p->fe.sock >= 0; q++) {
		uint16_t base;
		if (!p->started[q])
			continue;
		if (vu_frontend_stop_vring(&p->fe, q, &base, err, sizeof(err))) {
			request_failed(p, "stopping a ring", err);
			break;
		}
		p->started[q] = false;
	}
	if (p->opts.mem == VU_PROXY_MEM_ISOLATED)
		bounce_reset(p);
	/* A reset device starts afresh: no requests to redo, no back-end to wait for. */
	retry_timer(p, 0);
	p->lost_ns = 0;
	if (p->inflight_fd >= 0) {
		close(p->inflight_fd);
		p->inflight_fd = -1;
	}
	/* After the back-end went away, a guest reset is the time to come back. */
	if (p->fe.sock < 0 && p->connected_once) {
		if (vu_proxy_connect(p, err, sizeof(err)))
			log_warn(dev->name, "vhost-user back-end %s still unavailable: %s",
				 p->opts.socket, err);
		else
			log_info(dev->name, "vhost-user back-end %s reconnected", p->opts.socket);
	}
}

static void proxy_queue_notify(struct virtio_device *dev, struct virtqueue *vq)
{
	struct vu_proxy *p = proxy_of(dev);

	if (p->opts.mem == VU_PROXY_MEM_ISOLATED)
		bounce_guest_kick(p, vq);
	/* shared mode: the back-end reads the kick eventfds, never the VMM */
}

static void proxy_config_read(struct virtio_device *dev, uint32_t off, void *data, uint32_t len)
{
	struct vu_proxy *p = proxy_of(dev);
	virtio_config_copy(p->config, dev->config_size, off, data, len);
}

/* The I/O thread: something in the proxy's epoll set is ready. */
static void proxy_events(struct virtio_device *dev, void *opaque)
{
	struct vu_proxy *p = opaque;
	struct epoll_event evs[VIRTIO_MAX_QUEUES + 1];
	int n;

	(void)dev;
	while ((n = epoll_wait(p->epfd, evs, VIRTIO_MAX_QUEUES + 1, 0)) > 0) {
		for (int i = 0; i < n; i++) {
			uint32_t tag = evs[i].data.u32;
			if (tag == PROXY_TAG_SOCKET) {
				char c;
				ssize_t r = recv(p->fe.sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);
				if (r < 0 && (errno == EAGAIN || errno == EINTR))
					continue;
				proxy_disconnected(p, r == 0 ? "closed the connection"
						   : r > 0 ? "sent a message nobody asked for"
						   : strerror(errno));
			} else if (tag == PROXY_TAG_RETRY) {
				proxy_retry(p);
			} else if ((tag & ~0xffu) == PROXY_TAG_CALL) {
				bounce_backend_call(p, tag & 0xff);
			} else if ((tag & ~0xffu) == PROXY_TAG_WINDOW) {
				bounce_window_end(p, tag & 0xff);
			}
		}
	}
}

static void proxy_destroy(struct virtio_device *dev)
{
	struct vu_proxy *p = proxy_of(dev);

	vu_frontend_close(&p->fe);
	bounce_destroy(p);
	if (p->epfd >= 0)
		close(p->epfd);
	if (p->retry_fd >= 0)
		close(p->retry_fd);
	if (p->inflight_fd >= 0)
		close(p->inflight_fd);
	free(p);
}

static const struct virtio_device_ops proxy_ops = {
	.queue_notify = proxy_queue_notify,
	.config_read = proxy_config_read,
	.activate = proxy_activate,
	.reset = proxy_reset,
	.destroy = proxy_destroy,
};

/* ---- creation ------------------------------------------------------------ */

struct virtio_device *vu_proxy_create(const struct vu_proxy_options *o, uint32_t device_id,
				      const struct guest_mem *mem, const struct vu_proxy_ram *ram,
				      const char *name, char *err, size_t errlen)
{
	struct vu_proxy *p = calloc(1, sizeof(*p));
	struct virtio_device *dev;
	char why[256];

	if (!p) {
		err_fail(err, errlen, "out of memory");
		return NULL;
	}
	dev = &p->dev;
	p->opts = *o;
	p->fe.sock = -1;
	p->irq_fd = -1;
	p->inflight_fd = -1;
	p->retry_fd = -1;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		p->kick_fds[q] = -1;
	bounce_init_fields(p);
	/* What the guest's driver reads; the protocol has no device type. */
	switch (device_id) {
	case VIRTIO_ID_BLOCK:
		p->want_config_size = 60;   /* struct virtio_blk_config up to write_zeroes */
		p->min_config_size = 36;    /* ... up to num_queues */
		break;
	case VIRTIO_ID_NET:
		p->want_config_size = 12;   /* mac, status, max_virtqueue_pairs, mtu */
		p->min_config_size = 8;     /* mac, status */
		break;
	default:
		err_fail(err, errlen, "%s: vhost-user device type %u not supported", name, device_id);
		free(p);
		return NULL;
	}
	if (o->mem == VU_PROXY_MEM_SHARED) {
		if (!ram || ram->fd < 0 || ram->nr_slots < 1 || ram->nr_slots > VU_PROXY_MAX_RAM_SLOTS) {
			err_fail(err, errlen, "%s: vhost-user with mem=shared needs guest RAM in a memfd "
				 "(--mem-shared)", name);
			free(p);
			return NULL;
		}
		p->ram = *ram;
	}
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0) {
		err_fail(err, errlen, "%s: epoll: %s", name, strerror(errno));
		free(p);
		return NULL;
	}
	if (o->reconnect_s) {
		struct epoll_event rev = { .events = EPOLLIN, .data.u32 = PROXY_TAG_RETRY };
		p->retry_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (p->retry_fd < 0 || epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->retry_fd, &rev)) {
			err_fail(err, errlen, "%s: reconnect timer: %s", name, strerror(errno));
			goto fail;
		}
	}
	dev->name = name;
	dev->device_id = device_id;
	dev->queue_max_size = PROXY_QUEUE_MAX;
	dev->ops = &proxy_ops;
	dev->mem = mem;
	dev->priv = p;
	if (vu_proxy_connect(p, why, sizeof(why))) {
		err_fail(err, errlen, "%s: vhost-user back-end %s: %s", name, o->socket, why);
		goto fail;
	}
	if (o->mem == VU_PROXY_MEM_ISOLATED && bounce_create(p, why, sizeof(why))) {
		err_fail(err, errlen, "%s: bounce window: %s", name, why);
		goto fail;
	}
	dev->fds[0] = (struct virtio_fd_handler){ .fd = p->epfd, .events = EPOLLIN,
		.handler = proxy_events, .opaque = p };
	dev->nr_fds = 1;
	if (virtio_device_init(dev)) {
		err_fail(err, errlen, "%s: back-end has %u queues", name, dev->nr_queues);
		goto fail;
	}
	/* virtio_device_init added the transport bits we serve; now the real set. */
	if (o->mem == VU_PROXY_MEM_SHARED)
		dev->host_features = p->backend_features & (PROXY_DEVICE_FEATURES | PROXY_TRANSPORT_FEATURES);
	else  /* the VMM serves the guest's ring itself: its own ring features */
		dev->host_features = (p->backend_features & PROXY_DEVICE_FEATURES) |
				     PROXY_TRANSPORT_FEATURES;
	log_info(dev->name, "vhost-user back-end %s: features 0x%llx, %u queue(s), %s memory",
		 o->socket, (unsigned long long)p->backend_features, dev->nr_queues,
		 o->mem == VU_PROXY_MEM_SHARED ? "shared" : "isolated");
	return dev;
fail:
	vu_frontend_close(&p->fe);
	bounce_destroy(p);
	close(p->epfd);
	if (p->retry_fd >= 0)
		close(p->retry_fd);
	free(p);
	return NULL;
}

bool vu_proxy_is(const struct virtio_device *dev)
{
	return dev && dev->ops == &proxy_ops;
}

bool vu_proxy_external_queues(const struct virtio_device *dev)
{
	return vu_proxy_is(dev) && ((const struct vu_proxy *)dev->priv)->opts.mem == VU_PROXY_MEM_SHARED;
}

void vu_proxy_set_transport_fds(struct virtio_device *dev, const int *kick_fds, int irq_fd)
{
	struct vu_proxy *p = proxy_of(dev);

	pthread_mutex_lock(&dev->lock);
	for (unsigned q = 0; q < dev->nr_queues; q++)
		p->kick_fds[q] = kick_fds[q];
	p->irq_fd = irq_fd;
	pthread_mutex_unlock(&dev->lock);
}

const struct vu_proxy_stats *vu_proxy_stats(const struct virtio_device *dev)
{
	return &((const struct vu_proxy *)dev->priv)->stats;
}
