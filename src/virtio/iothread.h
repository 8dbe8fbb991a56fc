/*
 * The I/O thread of a virtio device.  Each device gets its own thread
 * (virtio_mmio_start() creates it): it sleeps in epoll_wait on the device's
 * queue kick eventfds and its extra fds (dev->fds, e.g. io_uring's
 * completion eventfd), and calls the device's queue_notify / fd handlers
 * with dev->lock held.  One thread per device keeps a slow device (a disk
 * doing fsync) from delaying another (the console) and lets the scheduler
 * spread devices over CPUs; idle threads cost only a sleeping task.
 */
#ifndef CAPVM_VIRTIO_IOTHREAD_H
#define CAPVM_VIRTIO_IOTHREAD_H

struct virtio_device;
struct iothread;

/*
 * Prepare a thread serving dev: kick_fds[q] (q < nr_kick; -1 = none) and
 * dev->fds[].  Nothing runs until iothread_start().  NULL on failure.
 */
struct iothread *iothread_create(struct virtio_device *dev, const int *kick_fds, int nr_kick);
/*
 * Pin the I/O threads started from now on to these CPUs (capvm run
 * --io-affinity), e.g. away from the vCPUs; n == 0 lifts it.  Their
 * io_uring workers inherit it.
 */
void iothread_set_affinity(const int *cpus, int n);
/* Start the thread (name shows in /proc as "io-<dev name>").  0 or -1. */
int iothread_start(struct iothread *iot);
/*
 * Without a thread: wait up to timeout_ms (0 = just look, -1 = forever) for
 * the device's fds and handle what fired, in the calling thread.  For unit
 * tests, fuzzers and benchmarks; never while the thread runs.  Returns the
 * number of events handled or -1.
 */
int iothread_run_once(struct iothread *iot, int timeout_ms);
/* Stop and join the thread (if started) and free iot. */
void iothread_destroy(struct iothread *iot);

#endif
