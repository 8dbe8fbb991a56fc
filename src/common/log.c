/*
 * Structured logging (see log.h).  Lines look like
 *   2026-11-24T10:00:00.123Z info vm0 blk: message
 * A single write(2) per line keeps lines from different threads whole.
 */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char log_vm[64] = "-";
static char log_path[4096];
static int log_fd = -1;
static int log_quiet;
static enum log_level log_min = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_vm(const char *vm_name)
{
	snprintf(log_vm, sizeof(log_vm), "%s", vm_name && *vm_name ? vm_name : "-");
}

void log_set_level(enum log_level min) { log_min = min; }
void log_set_quiet(int quiet) { log_quiet = quiet; }

int log_set_file(const char *path)
{
	int fd = -1;

	if (path) {
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (fd < 0)
			return -errno;
	}
	pthread_mutex_lock(&log_lock);
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	snprintf(log_path, sizeof(log_path), "%s", path ? path : "");
	pthread_mutex_unlock(&log_lock);
	return 0;
}

void log_reopen(void)
{
	char path[sizeof(log_path)];

	pthread_mutex_lock(&log_lock);
	memcpy(path, log_path, sizeof(path));
	pthread_mutex_unlock(&log_lock);
	if (path[0])
		log_set_file(path);
}

void log_vmsg(enum log_level lvl, const char *component, const char *fmt, va_list ap)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	int n, m;

	if (lvl < log_min)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s %s: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec / 1000000, level_names[lvl], log_vm,
		     component ? component : "capvm");
	if (n < 0)
		return;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';

	if (!log_quiet && write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nothing sensible to do if stderr is gone */
	}
	pthread_mutex_lock(&log_lock);
	if (log_fd >= 0 && write(log_fd, line, (size_t)n) < 0) {
		/* ditto */
	}
	pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level lvl, const char *component, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, component, fmt, ap);
	va_end(ap);
}
