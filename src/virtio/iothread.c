/*
 * One I/O thread per virtio device (see iothread.h): epoll over the queue
 * kick eventfds, the device's extra fds and a stop eventfd.
 */
#include "virtio/iothread.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "virtio/virtio.h"

/* epoll data tags: which fd fired */
#define TAG_KICK  0x10000u  /* | queue index */
#define TAG_FD    0x20000u  /* | index into dev->fds */
#define TAG_STOP  0x30000u

struct iothread {
	struct virtio_device *dev;
	int kick_fds[VIRTIO_MAX_QUEUES];
	int nr_kick;
	int epfd;
	int stop_fd;
	pthread_t thread;
	bool started;
};

static int add_fd(int epfd, int fd, uint32_t events, uint32_t tag)
{
	struct epoll_event ev = { .events = events, .data.u32 = tag };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

struct iothread *iothread_create(struct virtio_device *dev, const int *kick_fds, int nr_kick)
{
	struct iothread *iot = calloc(1, sizeof(*iot));

	if (!iot || nr_kick < 0 || nr_kick > VIRTIO_MAX_QUEUES)
		goto fail_free;
	iot->dev = dev;
	iot->nr_kick = nr_kick;
	iot->epfd = epoll_create1(EPOLL_CLOEXEC);
	iot->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (iot->epfd < 0 || iot->stop_fd < 0)
		goto fail;
	if (add_fd(iot->epfd, iot->stop_fd, EPOLLIN, TAG_STOP))
		goto fail;
	for (int q = 0; q < nr_kick; q++) {
		iot->kick_fds[q] = kick_fds[q];
		if (kick_fds[q] >= 0 && add_fd(iot->epfd, kick_fds[q], EPOLLIN, TAG_KICK | (uint32_t)q))
			goto fail;
	}
	for (int i = 0; i < dev->nr_fds && i < VIRTIO_MAX_FDS; i++) {
		struct virtio_fd_handler *h = &dev->fds[i];
		if (add_fd(iot->epfd, h->fd, h->events | EPOLLET, TAG_FD | (uint32_t)i))
			goto fail;
	}
	return iot;
fail:
	log_error(dev->name, "cannot set up I/O thread: %s", strerror(errno));
	if (iot->epfd >= 0)
		close(iot->epfd);
	if (iot->stop_fd >= 0)
		close(iot->stop_fd);
fail_free:
	free(iot);
	return NULL;
}

static void handle_kick(struct iothread *iot, unsigned q)
{
	struct virtio_device *dev = iot->dev;
	uint64_t count;

	/* Drain the eventfd: several kicks are one notification for us. */
	if (read(iot->kick_fds[q], &count, sizeof(count)) < 0)
		return;
	pthread_mutex_lock(&dev->lock);
	if (q < dev->nr_queues && dev->vqs[q].active && virtio_device_running(dev)) {
		dev->stats.kicks++;
		dev->ops->queue_notify(dev, &dev->vqs[q]);
	}
	pthread_mutex_unlock(&dev->lock);
}

/* Handle the events of one epoll_wait; false when asked to stop. */
static bool dispatch(struct iothread *iot, const struct epoll_event *evs, int n)
{
	struct virtio_device *dev = iot->dev;

	for (int i = 0; i < n; i++) {
		uint32_t tag = evs[i].data.u32, idx = tag & 0xffff;

		switch (tag & ~0xffffu) {
		case TAG_STOP:
			return false;
		case TAG_KICK:
			handle_kick(iot, idx);
			break;
		case TAG_FD:
			pthread_mutex_lock(&dev->lock);
			dev->fds[idx].handler(dev, dev->fds[idx].opaque);
			pthread_mutex_unlock(&dev->lock);
			break;
		}
	}
	return true;
}

static void *iothread_main(void *arg)
{
	struct iothread *iot = arg;
	struct epoll_event evs[16];

	for (;;) {
		int n = epoll_wait(iot->epfd, evs, 16, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error(iot->dev->name, "I/O thread: epoll_wait: %s", strerror(errno));
			return NULL;
		}
		if (!dispatch(iot, evs, n))
			return NULL;
	}
}

int iothread_run_once(struct iothread *iot, int timeout_ms)
{
	struct epoll_event evs[16];
	int n = epoll_wait(iot->epfd, evs, 16, timeout_ms);

	if (n > 0)
		dispatch(iot, evs, n);
	return n < 0 ? (errno == EINTR ? 0 : -1) : n;
}

/* --io-affinity: the CPUs of every I/O thread (process-wide, set before they start) */
static cpu_set_t io_cpus;
static bool io_cpus_set;

void iothread_set_affinity(const int *cpus, int n)
{
	CPU_ZERO(&io_cpus);
	for (int i = 0; i < n; i++)
		if (cpus[i] >= 0 && cpus[i] < CPU_SETSIZE)
			CPU_SET(cpus[i], &io_cpus);
	io_cpus_set = n > 0;
}

int iothread_start(struct iothread *iot)
{
	pthread_attr_t attr;
	char name[16];
	int err;

	if (iot->started)
		return 0;
	pthread_attr_init(&attr);
	if (io_cpus_set && (err = pthread_attr_setaffinity_np(&attr, sizeof(io_cpus), &io_cpus)))
		log_warn(iot->dev->name, "cannot pin the I/O thread: %s", strerror(err));
	err = pthread_create(&iot->thread, &attr, iothread_main, iot);
	pthread_attr_destroy(&attr);
	if (err) {
		log_error(iot->dev->name, "cannot start I/O thread: %s", strerror(err));
		return -1;
	}
	snprintf(name, sizeof(name), "io-%s", iot->dev->name ? iot->dev->name : "virtio");
	pthread_setname_np(iot->thread, name);
	iot->started = true;
	return 0;
}

void iothread_destroy(struct iothread *iot)
{
	uint64_t one = 1;

	if (!iot)
		return;
	if (iot->started) {
		if (write(iot->stop_fd, &one, sizeof(one)) < 0)
			log_error(iot->dev->name, "cannot stop I/O thread: %s", strerror(errno));
		pthread_join(iot->thread, NULL);
	}
	close(iot->epfd);
	close(iot->stop_fd);
	free(iot);
}
