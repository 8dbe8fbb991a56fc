/*
 * The monitor's socket layer: listening sockets (unix and TCP), up to
 * MONITOR_MAX_CLIENTS connections, and one thread that runs a poll loop
 * over them.  Each connection is a struct monitor_session (session.c)
 * that turns input bytes into output bytes; this file only moves bytes,
 * delivers queued events and enforces time and size limits.  Nothing here
 * ever blocks on a client, except the bounded wait that flushes the reply
 * to `quit` before the VMM is asked to exit.
 */
#include "monitor/internal.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#ifndef CAPVM_VERSION
#define CAPVM_VERSION "unknown"
#endif

#define MAX_PENDING_EVENTS   1024
#define CLOSE_FLUSH_NS       (2000ULL * 1000 * 1000)   /* after EOF/error */
#define DRAIN_NS             (1000ULL * 1000 * 1000)
#define QUIT_FLUSH_MS        1000
#define DESTROY_FLUSH_MS     200
#define READ_CHUNK           16384

struct listener {
	int fd;
	enum monitor_protocol proto;
	bool is_unix;
	char path[108];
	dev_t dev;              /* of the socket file we created */
	ino_t ino;
	char bound[320];        /* actual address, for monitor_listener_address */
};

struct client {
	int fd;
	struct monitor_session sess;
	const struct listener *via;
	bool read_eof;
	bool dead;              /* socket error: close now */
	bool quit_done;
	bool draining;          /* our side shut, discarding input */
	uint64_t deadline_ns;   /* 0, or when to give up flushing */
	unsigned int id;
};

struct event_item {
	struct event_item *next;
	char *line;
	size_t len;
};

struct monitor {
	const struct monitor_ops *ops;
	void *opaque;
	char vm_name[64];
	bool has_name;
	struct monitor_version version;

	struct listener listeners[MONITOR_MAX_LISTENERS];
	size_t nlisteners;
	struct client *clients[MONITOR_MAX_CLIENTS];
	unsigned int next_client_id;

	int wake_fd;
	pthread_t thread;
	bool started;
	atomic_bool stopping;

	pthread_mutex_t lock;   /* protects the event queue and running */
	bool running;           /* thread is accepting events */
	struct event_item *ev_head, *ev_tail;
	size_t ev_count;
};

static const char *const runstate_names[MONITOR_RUNSTATE__COUNT] = {
	[MONITOR_RUNSTATE_PRELAUNCH] = "prelaunch",
	[MONITOR_RUNSTATE_RUNNING] = "running",
	[MONITOR_RUNSTATE_PAUSED] = "paused",
	[MONITOR_RUNSTATE_SHUTDOWN] = "shutdown",
	[MONITOR_RUNSTATE_INTERNAL_ERROR] = "internal-error",
	[MONITOR_RUNSTATE_GUEST_PANICKED] = "guest-panicked",
	[MONITOR_RUNSTATE_WATCHDOG] = "watchdog",
	[MONITOR_RUNSTATE_IO_ERROR] = "io-error",
	[MONITOR_RUNSTATE_SUSPENDED] = "suspended",
	[MONITOR_RUNSTATE_DEBUG] = "debug",
};

const char *monitor_runstate_name(enum monitor_runstate state)
{
	if ((unsigned int)state >= MONITOR_RUNSTATE__COUNT)
		return "internal-error";
	return runstate_names[state];
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

struct monitor *monitor_create(const struct monitor_ops *ops, void *opaque,
			       const char *vm_name, char *err, size_t errlen)
{
	struct monitor *mon;

	if (!ops || !ops->get_status) {
		set_err(err, errlen, "monitor: ops->get_status is required");
		return NULL;
	}
	mon = calloc(1, sizeof(*mon));
	if (!mon) {
		set_err(err, errlen, "monitor: out of memory");
		return NULL;
	}
	mon->ops = ops;
	mon->opaque = opaque;
	if (vm_name && *vm_name) {
		snprintf(mon->vm_name, sizeof(mon->vm_name), "%s", vm_name);
		mon->has_name = true;
	}
	/* QMP clients check the version for features: claim the QEMU
	 * release whose protocol this follows. */
	mon->version.major = 7;
	mon->version.minor = 2;
	mon->version.micro = 0;
	snprintf(mon->version.package, sizeof(mon->version.package), "capvm %s", CAPVM_VERSION);
	pthread_mutex_init(&mon->lock, NULL);
	atomic_init(&mon->stopping, false);
	mon->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (mon->wake_fd < 0) {
		set_err(err, errlen, "monitor: eventfd: %s", strerror(errno));
		pthread_mutex_destroy(&mon->lock);
		free(mon);
		return NULL;
	}
	return mon;
}

/* ---- listening ---- */

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

static void format_bound(struct listener *l, const struct monitor_address *a)
{
	const char *mode = l->proto == MONITOR_QMP ? "qmp" : "hmp";

	if (l->is_unix) {
		snprintf(l->bound, sizeof(l->bound), "unix:%s,mode=%s", a->path, mode);
		return;
	}
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned int port = 0;

	if (getsockname(l->fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
			port = ntohs(in->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
			port = ntohs(in6->sin6_port);
		}
	}
	snprintf(l->bound, sizeof(l->bound), ss.ss_family == AF_INET6 ? "tcp:[%s]:%u,mode=%s%s"
		 : "tcp:%s:%u,mode=%s%s", host, port, mode, a->public_ok ? ",public=on" : "");
}

static int listen_unix(struct listener *l, const struct monitor_address *a,
		       char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ret;

	memcpy(sun.sun_path, a->path, strlen(a->path) + 1);
	/* Replace a stale socket left by a dead VMM, never a live one or a
	 * file that is not a socket. */
	if (lstat(a->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			set_err(err, errlen, "monitor: %s exists and is not a socket", a->path);
			return -EEXIST;
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			goto sock_fail;
		ret = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 ? 0 : errno;
		close(fd);
		if (ret == 0) {
			set_err(err, errlen, "monitor: another process is listening on %s", a->path);
			return -EADDRINUSE;
		}
		if (ret != ECONNREFUSED) {      /* cannot tell it is stale */
			set_err(err, errlen, "monitor: %s exists and cannot be checked: %s",
				a->path, strerror(ret));
			return -EADDRINUSE;
		}
		unlink(a->path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto sock_fail;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		ret = -errno;
		set_err(err, errlen, "monitor: bind %s: %s", a->path, strerror(errno));
		close(fd);
		return ret;
	}
	/* Owner only: the monitor controls the VM.  Nobody can connect
	 * before listen(), so the permission change is not racy. */
	if (chmod(a->path, 0600) < 0 || lstat(a->path, &st) < 0 || listen(fd, 8) < 0) {
		ret = -errno;
		set_err(err, errlen, "monitor: set up %s: %s", a->path, strerror(errno));
		unlink(a->path);
		close(fd);
		return ret;
	}
	l->fd = fd;
	l->is_unix = true;
	snprintf(l->path, sizeof(l->path), "%s", a->path);
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return 0;
sock_fail:
	ret = -errno;
	set_err(err, errlen, "monitor: socket: %s", strerror(errno));
	return ret;
}

static int listen_tcp(struct listener *l, const struct monitor_address *a,
		      char *err, size_t errlen)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
	}, *res, *ai;
	int ret, fd = -1, one = 1, last_errno = EADDRNOTAVAIL;

	ret = getaddrinfo(a->host[0] ? a->host : NULL, a->port, &hints, &res);
	if (ret) {
		set_err(err, errlen, "monitor: tcp:%s:%s: %s", a->host, a->port, gai_strerror(ret));
		return -EINVAL;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		if (!a->public_ok && !is_loopback(ai->ai_addr)) {
			freeaddrinfo(res);
			set_err(err, errlen, "monitor: tcp:%s:%s is not a loopback address; "
				"add ,public=on to expose the monitor to the network",
				a->host[0] ? a->host : "*", a->port);
			return -EPERM;
		}
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    ai->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 8) == 0)
			break;
		last_errno = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		set_err(err, errlen, "monitor: listen on tcp:%s:%s: %s", a->host, a->port,
			strerror(last_errno));
		return -last_errno;
	}
	l->fd = fd;
	l->is_unix = false;
	return 0;
}

int monitor_listen(struct monitor *mon, const char *address,
		   enum monitor_protocol default_proto, char *err, size_t errlen)
{
	struct monitor_address a;
	struct listener *l;
	int ret;

	if (mon->started) {
		set_err(err, errlen, "monitor: listeners must be added before start");
		return -EBUSY;
	}
	if (mon->nlisteners == MONITOR_MAX_LISTENERS) {
		set_err(err, errlen, "monitor: at most %d listening addresses", MONITOR_MAX_LISTENERS);
		return -ENOSPC;
	}
	ret = monitor_parse_address(address, default_proto, &a, err, errlen);
	if (ret < 0)
		return ret;
	l = &mon->listeners[mon->nlisteners];
	memset(l, 0, sizeof(*l));
	l->proto = a.proto;
	ret = a.is_unix ? listen_unix(l, &a, err, errlen) : listen_tcp(l, &a, err, errlen);
	if (ret < 0)
		return ret;
	format_bound(l, &a);
	mon->nlisteners++;
	log_info("monitor", "%s monitor listening on %s", l->proto == MONITOR_QMP ? "QMP" : "HMP",
		 l->bound);
	return 0;
}

int monitor_listener_address(const struct monitor *mon, size_t i, char *buf, size_t len)
{
	if (i >= mon->nlisteners)
		return -ENOENT;
	snprintf(buf, len, "%s", mon->listeners[i].bound);
	return 0;
}

/* ---- events ---- */

static bool valid_event_name(const char *name)
{
	size_t n = 0;

	for (; name[n]; n++) {
		char c = name[n];

		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
		if (n == 64)
			return false;
	}
	return n > 0;
}

int monitor_emit_event(struct monitor *mon, const char *name, const char *data_json)
{
	struct json_object *data = NULL;
	struct event_item *ev;
	char *line;
	size_t len;
	int ret = 0;

	if (!mon)
		return 0;
	if (!name || !valid_event_name(name))
		return -EINVAL;
	if (data_json) {
		enum json_tokener_error jerr;

		data = json_tokener_parse_verbose(data_json, &jerr);
		if (!data || !json_object_is_type(data, json_type_object)) {
			json_object_put(data);
			return -EINVAL;
		}
	}
	line = qmp_format_event(name, data, &len);
	json_object_put(data);
	if (!line)
		return -ENOMEM;
	ev = malloc(sizeof(*ev));
	if (!ev) {
		free(line);
		return -ENOMEM;
	}
	ev->next = NULL;
	ev->line = line;
	ev->len = len;

	pthread_mutex_lock(&mon->lock);
	if (!mon->running) {
		/* No thread, so no client: nobody to tell. */
		ret = 1;
	} else if (mon->ev_count >= MAX_PENDING_EVENTS) {
		ret = -ENOSPC;
	} else {
		if (mon->ev_tail)
			mon->ev_tail->next = ev;
		else
			mon->ev_head = ev;
		mon->ev_tail = ev;
		mon->ev_count++;
	}
	pthread_mutex_unlock(&mon->lock);
	if (ret != 0) {
		free(line);
		free(ev);
		if (ret == -ENOSPC)
			log_warn("monitor", "event %s dropped: %d events pending", name, MAX_PENDING_EVENTS);
		return ret < 0 ? ret : 0;
	}
	uint64_t one = 1;

	if (write(mon->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("monitor", "wake monitor thread: %s", strerror(errno));
	return 0;
}

/* Hand every queued event to every negotiated QMP client. */
static void deliver_events(void *ctx)
{
	struct monitor *mon = ctx;
	struct event_item *ev;

	pthread_mutex_lock(&mon->lock);
	ev = mon->ev_head;
	mon->ev_head = mon->ev_tail = NULL;
	mon->ev_count = 0;
	pthread_mutex_unlock(&mon->lock);
	while (ev) {
		struct event_item *next = ev->next;

		for (size_t i = 0; i < MONITOR_MAX_CLIENTS; i++)
			if (mon->clients[i])
				session_push_event(&mon->clients[i]->sess, ev->line, ev->len);
		free(ev->line);
		free(ev);
		ev = next;
	}
}

/* ---- clients ---- */

/* Send what the session has queued, without blocking. */
static void client_write(struct client *c)
{
	struct mon_buf *out = &c->sess.out;

	while (out->len > 0 && !c->dead) {
		ssize_t n = send(c->fd, out->data, out->len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			mon_buf_consume(out, (size_t)n);
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			return;
		} else {
			c->dead = true;         /* EPIPE, ECONNRESET... */
		}
	}
}

/* Wait up to ms for the client's output to drain (quit, shutdown). */
static void client_flush_wait(struct client *c, int ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000;

	client_write(c);
	while (c->sess.out.len > 0 && !c->dead) {
		uint64_t now = now_ns();
		struct pollfd p = { .fd = c->fd, .events = POLLOUT };

		if (now >= end)
			break;
		if (poll(&p, 1, (int)((end - now) / 1000000) + 1) < 0 && errno != EINTR)
			break;
		client_write(c);
	}
}

static void client_close(struct monitor *mon, size_t slot)
{
	struct client *c = mon->clients[slot];

	log_debug("monitor", "client %u disconnected", c->id);
	close(c->fd);
	session_destroy(&c->sess);
	free(c);
	mon->clients[slot] = NULL;
}

static void refuse_client(int fd, enum monitor_protocol proto)
{
	static const char hmp_msg[] = "Error: too many monitor connections\r\n";
	static const char qmp_msg[] =
		"{\"error\": {\"class\": \"GenericError\", \"desc\": \"too many monitor connections\"}}\r\n";
	const char *msg = proto == MONITOR_QMP ? qmp_msg : hmp_msg;
	size_t len = proto == MONITOR_QMP ? sizeof(qmp_msg) - 1 : sizeof(hmp_msg) - 1;

	/* Best effort: a fresh socket buffer takes this whole. */
	if (send(fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("monitor", "refusal not sent: %s", strerror(errno));
	close(fd);
}

static void accept_clients(struct monitor *mon, struct listener *l)
{
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		size_t slot;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("monitor", "accept on %s: %s", l->bound, strerror(errno));
			return;
		}
		for (slot = 0; slot < MONITOR_MAX_CLIENTS; slot++)
			if (!mon->clients[slot])
				break;
		if (slot == MONITOR_MAX_CLIENTS) {
			log_warn("monitor", "refusing a connection on %s: %d clients already",
				 l->bound, MONITOR_MAX_CLIENTS);
			refuse_client(fd, l->proto);
			continue;
		}
		struct client *c = calloc(1, sizeof(*c));

		if (!c || session_init(&c->sess, l->proto, mon->ops, mon->opaque, &mon->version,
				       mon->has_name ? mon->vm_name : NULL) < 0) {
			if (c)
				session_destroy(&c->sess);
			free(c);
			log_warn("monitor", "out of memory for a new client");
			close(fd);
			continue;
		}
		if (!l->is_unix) {
			int one = 1;

			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		c->fd = fd;
		c->via = l;
		c->id = ++mon->next_client_id;
		c->sess.before_reply = deliver_events;
		c->sess.before_reply_ctx = mon;
		mon->clients[slot] = c;
		log_debug("monitor", "client %u connected on %s", c->id, l->bound);
		session_greet(&c->sess);
		client_write(c);
	}
}

static void client_service(struct monitor *mon, struct client *c, short revents)
{
	if ((revents & (POLLIN | POLLHUP | POLLERR)) && !c->read_eof) {
		char buf[READ_CHUNK];
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0) {
			if (!c->draining)
				session_feed(&c->sess, buf, (size_t)n);
		} else if (n == 0) {
			c->read_eof = true;
			session_feed_eof(&c->sess);
		} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			c->dead = true;
		}
	}
	if (c->sess.want_quit && !c->quit_done) {
		char err[256] = "";
		int ret;

		/* The reply must be out before the VMM goes away. */
		c->quit_done = true;
		client_flush_wait(c, QUIT_FLUSH_MS);
		log_info("monitor", "quit requested by client %u", c->id);
		ret = mon->ops->quit(mon->opaque, err, sizeof(err));
		if (ret < 0)
			log_error("monitor", "quit failed: %s", monitor_errmsg(ret, err));
	}
	client_write(c);
}

/* Should this client be closed now? */
static bool client_finished(struct client *c, uint64_t now)
{
	if (c->dead || c->sess.out.overflow)
		return true;
	if (c->draining)
		return c->read_eof || now >= c->deadline_ns;
	if (c->read_eof || c->sess.want_close) {
		if (c->sess.out.len == 0) {
			if (c->read_eof)
				return true;
			/* We end the conversation (oversized input) while the
			 * client may still be sending.  Closing with unread
			 * input would make TCP reset the connection and lose
			 * the error reply just sent: close our side, swallow
			 * its input for a moment, then close. */
			shutdown(c->fd, SHUT_WR);
			c->draining = true;
			c->deadline_ns = now + DRAIN_NS;
			return false;
		}
		if (!c->deadline_ns)
			c->deadline_ns = now + CLOSE_FLUSH_NS;
		return now >= c->deadline_ns;
	}
	return false;
}

static void *monitor_thread(void *arg)
{
	struct monitor *mon = arg;
	struct pollfd pfd[1 + MONITOR_MAX_LISTENERS + MONITOR_MAX_CLIENTS];
	size_t slot_of[MONITOR_MAX_CLIENTS];

	while (!atomic_load(&mon->stopping)) {
		size_t n = 0, first_client, nclients = 0;
		int timeout = -1;

		pfd[n++] = (struct pollfd){ .fd = mon->wake_fd, .events = POLLIN };
		for (size_t i = 0; i < mon->nlisteners; i++)
			pfd[n++] = (struct pollfd){ .fd = mon->listeners[i].fd, .events = POLLIN };
		first_client = n;
		for (size_t i = 0; i < MONITOR_MAX_CLIENTS; i++) {
			struct client *c = mon->clients[i];
			short ev = 0;

			if (!c)
				continue;
			if (!c->read_eof && (!c->sess.want_close || c->draining))
				ev |= POLLIN;
			if (c->sess.out.len > 0)
				ev |= POLLOUT;
			if (c->deadline_ns)
				timeout = 100;  /* re-check the flush deadline */
			slot_of[nclients++] = i;
			pfd[n++] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		if (poll(pfd, n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			log_error("monitor", "poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents & POLLIN) {
			uint64_t v;

			if (read(mon->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("monitor", "read wake fd: %s", strerror(errno));
		}
		deliver_events(mon);
		for (size_t i = 0; i < mon->nlisteners; i++)
			if (pfd[1 + i].revents & POLLIN)
				accept_clients(mon, &mon->listeners[i]);
		uint64_t now = now_ns();

		for (size_t k = 0; k < nclients; k++) {
			size_t slot = slot_of[k];
			struct client *c = mon->clients[slot];

			if (!c)
				continue;
			if (pfd[first_client + k].revents)
				client_service(mon, c, pfd[first_client + k].revents);
			else
				client_write(c);        /* events just delivered */
			if (client_finished(c, now))
				client_close(mon, slot);
		}
	}

	/* Stopping: hand out what is queued, give clients a moment to read
	 * it, then close them. */
	deliver_events(mon);
	pthread_mutex_lock(&mon->lock);
	mon->running = false;
	pthread_mutex_unlock(&mon->lock);
	uint64_t end = now_ns() + (uint64_t)DESTROY_FLUSH_MS * 1000000;

	for (size_t i = 0; i < MONITOR_MAX_CLIENTS; i++) {
		uint64_t now = now_ns();

		if (mon->clients[i])
			client_flush_wait(mon->clients[i], now < end ? (int)((end - now) / 1000000) : 0);
	}
	for (size_t i = 0; i < MONITOR_MAX_CLIENTS; i++)
		if (mon->clients[i])
			client_close(mon, i);
	return NULL;
}

int monitor_start(struct monitor *mon)
{
	int ret;

	if (mon->started)
		return -EBUSY;
	sigset_t all, old;

	pthread_mutex_lock(&mon->lock);
	mon->running = true;
	pthread_mutex_unlock(&mon->lock);
	/* The thread blocks every signal, so signals meant for the VMM
	 * (SIGTERM, SIGHUP, vCPU kicks) never land on it. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&mon->thread, NULL, monitor_thread, mon);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret == 0)
		pthread_setname_np(mon->thread, "monitor");
	if (ret) {
		pthread_mutex_lock(&mon->lock);
		mon->running = false;
		pthread_mutex_unlock(&mon->lock);
		return -ret;
	}
	mon->started = true;
	return 0;
}

void monitor_destroy(struct monitor *mon)
{
	if (!mon)
		return;
	if (mon->started) {
		uint64_t one = 1;

		if (pthread_equal(pthread_self(), mon->thread)) {
			/* A callback called us: joining ourselves would hang. */
			log_error("monitor", "monitor_destroy called from a monitor callback; ignored");
			return;
		}
		atomic_store(&mon->stopping, true);
		if (write(mon->wake_fd, &one, sizeof(one)) < 0)
			log_warn("monitor", "wake monitor thread: %s", strerror(errno));
		pthread_join(mon->thread, NULL);
	}
	for (size_t i = 0; i < MONITOR_MAX_CLIENTS; i++)
		if (mon->clients[i])
			client_close(mon, i);
	for (size_t i = 0; i < mon->nlisteners; i++) {
		struct listener *l = &mon->listeners[i];
		struct stat st;

		close(l->fd);
		/* Remove our socket file, not one another process made since. */
		if (l->is_unix && lstat(l->path, &st) == 0 && st.st_dev == l->dev &&
		    st.st_ino == l->ino)
			unlink(l->path);
	}
	while (mon->ev_head) {
		struct event_item *next = mon->ev_head->next;

		free(mon->ev_head->line);
		free(mon->ev_head);
		mon->ev_head = next;
	}
	close(mon->wake_fd);
	pthread_mutex_destroy(&mon->lock);
	free(mon);
}
