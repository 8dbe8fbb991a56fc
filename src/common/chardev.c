/* Character backends for consoles (see chardev.h). */
#include "common/chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

enum chardev_kind { CHARDEV_NONE, CHARDEV_STDIO, CHARDEV_FILE, CHARDEV_UNIX };

struct chardev {
	enum chardev_kind kind;
	int out_fd;              /* stdio/file: where output goes */
	int in_fd;               /* stdio: stdin */
	int listen_fd;           /* unix */
	_Atomic int client_fd;   /* unix: connected client or -1 */
	char path[108];
	chardev_input_fn input;
	void *opaque;
	pthread_t thread;
	int thread_started;
	int stop_pipe[2];
	struct termios saved_tio;
	int tio_saved;
	int log_fd;              /* copy of the output, or -1 */
};

struct chardev *chardev_open(const char *spec, char *err, size_t errlen)
{
	struct chardev *c = calloc(1, sizeof(*c));

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->out_fd = c->in_fd = c->listen_fd = c->log_fd = -1;
	c->client_fd = -1;
	c->stop_pipe[0] = c->stop_pipe[1] = -1;

	if (!strcmp(spec, "none")) {
		c->kind = CHARDEV_NONE;
	} else if (!strcmp(spec, "stdio")) {
		c->kind = CHARDEV_STDIO;
		c->out_fd = STDOUT_FILENO;
		c->in_fd = STDIN_FILENO;
	} else if (!strncmp(spec, "file:", 5) && spec[5]) {
		c->kind = CHARDEV_FILE;
		c->out_fd = open(spec + 5, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (c->out_fd < 0) {
			snprintf(err, errlen, "cannot open console file %s: %s", spec + 5, strerror(errno));
			free(c);
			return NULL;
		}
	} else if (!strncmp(spec, "unix:", 5) && spec[5]) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		if (strlen(spec + 5) >= sizeof(sa.sun_path)) {
			snprintf(err, errlen, "console socket path too long: %s", spec + 5);
			free(c);
			return NULL;
		}
		c->kind = CHARDEV_UNIX;
		snprintf(c->path, sizeof(c->path), "%s", spec + 5);
		memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
		c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		unlink(c->path);
		if (c->listen_fd < 0 || bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(c->listen_fd, 1) < 0) {
			snprintf(err, errlen, "cannot listen on console socket %s: %s", c->path,
				 strerror(errno));
			if (c->listen_fd >= 0)
				close(c->listen_fd);
			free(c);
			return NULL;
		}
	} else {
		snprintf(err, errlen, "bad console '%s' (expected stdio, file:PATH, unix:PATH or none)",
			 spec);
		free(c);
		return NULL;
	}
	return c;
}

static void *chardev_input_thread(void *arg)
{
	struct chardev *c = arg;
	uint8_t buf[256];

	for (;;) {
		struct pollfd p[2] = { { .fd = c->stop_pipe[0], .events = POLLIN } };
		int fd = c->kind == CHARDEV_STDIO ? c->in_fd
			 : (c->client_fd >= 0 ? c->client_fd : c->listen_fd);
		p[1].fd = fd;
		p[1].events = POLLIN;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		if (!p[1].revents)
			continue;
		if (fd == c->listen_fd) {
			int cfd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (cfd >= 0)
				c->client_fd = cfd;
			continue;
		}
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (c->kind == CHARDEV_UNIX) {
				c->client_fd = -1;
				close(fd);
				continue;
			}
			break;  /* stdin closed: no more input */
		}
		c->input(c->opaque, buf, (size_t)n);
	}
	return NULL;
}

int chardev_start_input(struct chardev *c, chardev_input_fn fn, void *opaque)
{
	if (c->kind != CHARDEV_STDIO && c->kind != CHARDEV_UNIX)
		return 0;
	c->input = fn;
	c->opaque = opaque;
	if (c->kind == CHARDEV_STDIO && isatty(c->in_fd) && tcgetattr(c->in_fd, &c->saved_tio) == 0) {
		struct termios raw = c->saved_tio;
		/* raw input so the guest's shell gets every key; keep ^C as SIGINT */
		raw.c_lflag &= ~(unsigned)(ICANON | ECHO);
		raw.c_iflag &= ~(unsigned)(ICRNL);
		c->tio_saved = 1;
		tcsetattr(c->in_fd, TCSANOW, &raw);
	}
	if (pipe2(c->stop_pipe, O_CLOEXEC) < 0)
		return -errno;
	if (pthread_create(&c->thread, NULL, chardev_input_thread, c))
		return -1;
	c->thread_started = 1;
	return 0;
}

int chardev_set_log(struct chardev *c, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

	if (fd < 0)
		return -errno;
	if (c->log_fd >= 0)
		close(c->log_fd);
	c->log_fd = fd;
	return 0;
}

void chardev_write(struct chardev *c, const void *buf, size_t len)
{
	int fd;

	if (c->log_fd >= 0)
		write_all(c->log_fd, buf, len);

	switch (c->kind) {
	case CHARDEV_NONE:
		return;
	case CHARDEV_UNIX:
		fd = c->client_fd;
		if (fd >= 0 && send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN)
			c->client_fd = -1;   /* the input thread closes it on EOF */
		return;
	default:
		write_all(c->out_fd, buf, len);
	}
}

void chardev_close(struct chardev *c)
{
	if (!c)
		return;
	if (c->thread_started) {
		if (write(c->stop_pipe[1], "x", 1) < 0) {
			/* the thread also ends on stdin EOF */
		}
		pthread_join(c->thread, NULL);
	}
	if (c->stop_pipe[0] >= 0) {
		close(c->stop_pipe[0]);
		close(c->stop_pipe[1]);
	}
	if (c->tio_saved)
		tcsetattr(c->in_fd, TCSANOW, &c->saved_tio);
	if (c->kind == CHARDEV_FILE)
		close(c->out_fd);
	if (c->log_fd >= 0)
		close(c->log_fd);
	if (c->kind == CHARDEV_UNIX) {
		if (c->client_fd >= 0)
			close(c->client_fd);
		close(c->listen_fd);
		unlink(c->path);
	}
	free(c);
}
