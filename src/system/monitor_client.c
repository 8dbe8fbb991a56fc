/*
 * Connecting to a VM's monitor socket as a client: the supervisor (power
 * button on `system down`), `capvm health` and `capvm image` all talk to
 * the HMP/QMP sockets that `capvm run --monitor/--qmp` opens.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "system/sysdesc.h"

/* Connect with a bounded wait (TCP), then make the socket blocking. */
static int connect_bounded(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	if (connect(fd, sa, len) < 0) {
		if (errno != EINPROGRESS)
			return -errno;
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int err = 0;
		socklen_t elen = sizeof(err);
		if (poll(&p, 1, timeout_ms) != 1)
			return -ETIMEDOUT;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			return -errno;
		if (err)
			return -err;
	}
	return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

int sd_monitor_connect(const struct sd_monitor_addr *a, int timeout_ms)
{
	int fd, r;

	if (a->is_unix) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		if (strlen(a->path) >= sizeof(sa.sun_path))
			return -ENAMETOOLONG;
		memcpy(sa.sun_path, a->path, strlen(a->path) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		r = connect_bounded(fd, (struct sockaddr *)&sa, sizeof(sa), timeout_ms);
	} else {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
		if (getaddrinfo(a->host[0] ? a->host : "127.0.0.1", a->port, &hints, &ai) != 0)
			return -EHOSTUNREACH;
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			r = -errno;
			freeaddrinfo(ai);
			return r;
		}
		r = connect_bounded(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms);
		freeaddrinfo(ai);
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}
