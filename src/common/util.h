/*
 * Small helpers shared by every part of capvm: size parsing, overflow-safe
 * range checks, reading whole files, fd helpers.
 */
#ifndef CAPVM_UTIL_H
#define CAPVM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define KiB (1024ULL)
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)

#define ALIGN_UP(x, a)   (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))

/*
 * Parse "256M", "1G", "4096", "0x1000", "64K" into bytes.  A bare number is
 * bytes unless default_unit says otherwise (e.g. MiB for --mem).  Returns 0
 * or -1 (bad syntax or overflow).
 */
int parse_size(const char *s, uint64_t default_unit, uint64_t *out);
/* Parse an unsigned integer (decimal or 0x hex) in [min, max]. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* true if [start, start+len) lies within [0, limit) without overflow. */
static inline bool range_within(uint64_t start, uint64_t len, uint64_t limit)
{
	return start <= limit && len <= limit - start;
}

/* Read a whole file into a malloc'd buffer.  Returns 0 or -errno. */
int read_file(const char *path, void **buf, size_t *len);
/* write()/read() the whole buffer, retrying on EINTR/short transfers. */
int write_all(int fd, const void *buf, size_t len);
int read_all(int fd, void *buf, size_t len);
/*
 * Format a one-line error into err (if err and errlen are non-zero) and
 * return -1, for the "return err_fail(err, errlen, ...)" pattern.
 */
int err_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Monotonic time in nanoseconds. */
uint64_t now_ns(void);
/*
 * Take the count of a non-blocking eventfd or timerfd: one read takes all of
 * it (the counter goes back to 0), so a second read would only fail with
 * EAGAIN.  Returns the count, 0 if there was none.
 */
uint64_t counter_fd_take(int fd);

#endif
