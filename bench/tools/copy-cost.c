/*
 * bench/tools/copy-cost.c: what one copy of a request's data costs here.
 *
 * Usage: copy-cost [BYTES [ROUNDS]]   (defaults 131072 and 500)
 *
 * Times copying BYTES from a shared memfd mapping (as the isolated relay's
 * bounce window is) to private anonymous memory (as guest RAM is to the
 * relay), ROUNDS times at offsets spread over 32 MiB, two ways:
 *   memcpy   what the relay's copy_back does (glibc picks the method);
 *   pread    the kernel copying from the memfd's pages (as the loop device
 *            copies an image's pages into a request's buffer).
 * Prints one line per way with the mean microseconds per copy.  In the
 * test host (`scripts/testhost.sh --cpus 2 build/bench/copy-cost`) this
 * shows what emulation does to a copy, next to the same binary on the
 * machine itself (docs/performance.md, seventh session).
 * A benchmark helper, not part of capvm.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SPAN (32u << 20)

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	size_t bytes = argc > 1 ? strtoul(argv[1], NULL, 0) : 131072;
	long rounds = argc > 2 ? strtol(argv[2], NULL, 0) : 500;
	int fd = memfd_create("copy-cost", 0);
	unsigned char *window, *ram;
	double t0;

	if (bytes == 0 || bytes > SPAN || rounds <= 0) {
		fprintf(stderr, "usage: copy-cost [BYTES (1..%u) [ROUNDS]]\n", SPAN);
		return 2;
	}
	if (fd < 0 || ftruncate(fd, SPAN)) {
		perror("memfd");
		return 1;
	}
	window = mmap(NULL, SPAN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ram = mmap(NULL, SPAN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (window == MAP_FAILED || ram == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(window, 0x5a, SPAN);  /* both touched first: no page faults in the timing */
	memset(ram, 0, SPAN);
	size_t slots = SPAN / bytes;

	t0 = now_us();
	for (long i = 0; i < rounds; i++) {
		size_t off = (size_t)i % slots * bytes;
		memcpy(ram + off, window + off, bytes);
	}
	printf("memcpy %zu bytes: %.1f us per copy\n", bytes, (now_us() - t0) / (double)rounds);
	t0 = now_us();
	for (long i = 0; i < rounds; i++) {
		size_t off = (size_t)i % slots * bytes;
		if (pread(fd, ram + off, bytes, (off_t)off) != (ssize_t)bytes) {
			perror("pread");
			return 1;
		}
	}
	printf("pread  %zu bytes: %.1f us per copy\n", bytes, (now_us() - t0) / (double)rounds);
	return 0;
}
