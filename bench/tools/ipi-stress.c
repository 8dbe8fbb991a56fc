/*
 * bench/tools/ipi-stress.c: cross-CPU wake-up load for the test host.
 *
 * Usage: ipi-stress [-p PAIRS] [-a CPU] [-b CPU] [-m] [-q]
 *
 * Starts PAIRS (default 1) pairs of threads that pass a token back and forth
 * through two eventfds as fast as they can; the first thread of each pair is
 * pinned to CPU -a (default 0), the second to CPU -b (default 1).  Each side
 * blocks in read() until the other writes, so every hop wakes a thread that
 * sleeps on the other CPU: a remote wake-up (a reschedule IPI, unless that
 * CPU happens to be busy).  This is the kind of load capvm's isolated-memory
 * relay adds (kick -> relay thread -> back-end -> relay -> irqfd) without any
 * VMM involved, so that it can be put next to a VMM that does not relay.
 *
 * With -m one more thread, on CPU -a, maps a page, touches it and unmaps it
 * in a loop: while a pair's thread on CPU -b runs in the same address
 * space, each munmap needs a TLB shootdown (a flush IPI) to that CPU.  It
 * runs as SCHED_IDLE (only when CPU -a has nothing else to do), so that it
 * does not hold up the ping-pong's wake-ups on that CPU.
 *
 * Runs until SIGTERM or SIGINT, then prints one line with the hop count (and
 * the unmap count) and the elapsed time, and exits 0.  -q: no start line.
 * A benchmark helper, not part of capvm.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAIRS 64

struct side {
	int cpu;
	int in_fd;              /* read the token from here */
	int out_fd;             /* pass it on here */
	int starts;             /* this side sends the first token */
	atomic_ulong hops;      /* tokens passed on */
};

static atomic_ulong unmaps;

static void pin(int cpu)
{
	cpu_set_t set;
	int err;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (err) {
		fprintf(stderr, "ipi-stress: cannot pin a thread to CPU %d: %s\n", cpu, strerror(err));
		exit(1);
	}
}

/* pass: one token out; exits the process on an eventfd error. */
static void pass(int fd)
{
	uint64_t one = 1;

	while (write(fd, &one, sizeof(one)) != sizeof(one)) {
		if (errno != EINTR) {
			perror("ipi-stress: eventfd write");
			exit(1);
		}
	}
}

static void *ping_pong(void *arg)
{
	struct side *s = arg;
	uint64_t v;

	pin(s->cpu);
	if (s->starts)
		pass(s->out_fd);
	for (;;) {
		if (read(s->in_fd, &v, sizeof(v)) != sizeof(v)) {
			if (errno == EINTR)
				continue;
			perror("ipi-stress: eventfd read");
			exit(1);
		}
		pass(s->out_fd);
		atomic_fetch_add_explicit(&s->hops, 1, memory_order_relaxed);
	}
	return NULL;
}

static void *map_unmap(void *arg)
{
	long page = sysconf(_SC_PAGESIZE);

	struct sched_param none = { .sched_priority = 0 };

	pin(*(int *)arg);
	pthread_setschedparam(pthread_self(), SCHED_IDLE, &none);
	for (;;) {
		volatile char *p = mmap(NULL, page, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("ipi-stress: mmap");
			exit(1);
		}
		p[0] = 1;
		munmap((void *)p, page);
		atomic_fetch_add_explicit(&unmaps, 1, memory_order_relaxed);
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int number(const char *s, int max)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0 || v > max) {
		fprintf(stderr, "ipi-stress: bad number '%s'\n", s);
		exit(2);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	static struct side sides[2 * MAX_PAIRS];
	int pairs = 1, cpu_a = 0, cpu_b = 1, mapper = 0, quiet = 0, opt, i, sig;
	unsigned long hops = 0;
	pthread_t t;
	sigset_t stop;
	double start;

	while ((opt = getopt(argc, argv, "p:a:b:mq")) != -1) {
		switch (opt) {
		case 'p': pairs = number(optarg, MAX_PAIRS); break;
		case 'a': cpu_a = number(optarg, CPU_SETSIZE - 1); break;
		case 'b': cpu_b = number(optarg, CPU_SETSIZE - 1); break;
		case 'm': mapper = 1; break;
		case 'q': quiet = 1; break;
		default:
			fprintf(stderr, "usage: %s [-p PAIRS] [-a CPU] [-b CPU] [-m] [-q]\n", argv[0]);
			return 2;
		}
	}
	if (pairs < 1) {
		fprintf(stderr, "ipi-stress: -p must be at least 1\n");
		return 2;
	}

	/* The threads inherit this mask: only main() takes the stop signal. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);

	start = now_s();
	for (i = 0; i < pairs; i++) {
		int ab = eventfd(0, EFD_CLOEXEC), ba = eventfd(0, EFD_CLOEXEC);

		if (ab < 0 || ba < 0) {
			perror("ipi-stress: eventfd");
			return 1;
		}
		sides[2 * i] = (struct side){ .cpu = cpu_a, .in_fd = ba, .out_fd = ab, .starts = 1 };
		sides[2 * i + 1] = (struct side){ .cpu = cpu_b, .in_fd = ab, .out_fd = ba };
		if (pthread_create(&t, NULL, ping_pong, &sides[2 * i]) ||
		    pthread_create(&t, NULL, ping_pong, &sides[2 * i + 1])) {
			fprintf(stderr, "ipi-stress: cannot start threads\n");
			return 1;
		}
	}
	if (mapper && pthread_create(&t, NULL, map_unmap, &cpu_a)) {
		fprintf(stderr, "ipi-stress: cannot start the mapper thread\n");
		return 1;
	}
	if (!quiet) {
		printf("ipi-stress: %d pair(s) CPU %d <-> CPU %d%s, pid %d\n", pairs, cpu_a, cpu_b,
		       mapper ? ", mmap/munmap on CPU a" : "", (int)getpid());
		fflush(stdout);
	}

	while (sigwait(&stop, &sig) != 0)
		;
	for (i = 0; i < 2 * pairs; i++)
		hops += atomic_load_explicit(&sides[i].hops, memory_order_relaxed);
	printf("ipi-stress: %lu hops, %lu unmaps in %.1f s (signal %d)\n", hops,
	       atomic_load_explicit(&unmaps, memory_order_relaxed), now_s() - start, sig);
	fflush(stdout);
	return 0;
}
