/*
 * Interrupt coalescing window (see coalesce.h for the rules): a timerfd and
 * the bookkeeping of the window's length, shared by the devices that batch
 * their interrupts.
 */
#include "virtio/coalesce.h"

#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

int coalesce_init(struct coalesce *c, uint32_t max_us, uint64_t *windows, uint64_t *requests,
		  uint64_t *idle_ends, uint64_t *holds)
{
	*c = (struct coalesce){ .timer_fd = -1, .max_us = max_us, .us = max_us,
		.windows = windows, .requests = requests, .idle_ends = idle_ends, .holds = holds };
	if (!max_us)
		return 0;
	c->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	return c->timer_fd < 0 ? -1 : 0;
}

void coalesce_destroy(struct coalesce *c)
{
	if (c->timer_fd >= 0)
		close(c->timer_fd);
	c->timer_fd = -1;
}

static void arm(struct coalesce *c, uint32_t us)
{
	struct itimerspec its = { .it_value = { .tv_sec = us / 1000000,
						.tv_nsec = (long)(us % 1000000) * 1000 } };
	if (timerfd_settime(c->timer_fd, 0, &its, NULL) < 0) {
		/* cannot happen with valid values; never leave completions unsignalled */
		log_warn("coalesce", "cannot arm the coalescing timer: %s", strerror(errno));
		c->us = 0;
	}
}

static void disarm(struct coalesce *c)
{
	struct itimerspec off = { 0 };

	if (c->timer_fd >= 0)
		timerfd_settime(c->timer_fd, 0, &off, NULL);
}

bool coalesce_kick(struct coalesce *c)
{
	if (c->timer_fd < 0)
		return false;
	if (c->open)
		return true;
	if (c->immediate_kicks) {
		c->immediate_kicks--;
		return false;
	}
	return true;
}

void coalesce_took(struct coalesce *c, unsigned n)
{
	c->new_reqs += n;
	*c->requests += n;
}

bool coalesce_open(struct coalesce *c)
{
	if (c->open)
		return true;
	c->open = true;
	c->new_reqs = 0;  /* the requests that open it are not new */
	(*c->windows)++;
	arm(c, c->us);
	if (c->us)
		return true;
	c->open = false;  /* timer failed */
	c->us = COALESCE_MIN_US;
	return false;
}

bool coalesce_expired(struct coalesce *c)
{
	counter_fd_take(c->timer_fd);
	return c->open;
}

static uint32_t longer(const struct coalesce *c)
{
	return c->us * 2 > c->max_us ? c->max_us : c->us * 2;
}

bool coalesce_hold(struct coalesce *c, unsigned in_flight)
{
	unsigned low;

	if (in_flight > c->peak)
		c->peak = in_flight;
	low = c->peak / COALESCE_LOW_DIV;
	if (low < 1)
		low = 1;
	/*
	 * The driver refills only when it sees completions: signal while a
	 * quarter of its queue is still at the device, so that it never runs
	 * dry waiting for the driver.
	 */
	if (in_flight <= low || (uint64_t)c->held_us + c->us > (uint64_t)COALESCE_HOLD_WINDOWS * c->max_us)
		return false;
	c->held_us += c->us;
	c->us = longer(c);
	arm(c, c->us);
	if (!c->us)
		return false;  /* timer failed: never hold without one */
	(*c->holds)++;
	return true;
}

bool coalesce_next(struct coalesce *c, bool running, unsigned in_flight)
{
	c->held_us = 0;  /* the interrupt went: a new hold starts from here */
	if (running && (c->new_reqs || in_flight)) {
		/*
		 * The driver is streaming requests, or the device is still busy
		 * and picks up new ones at each completion: keep batching, longer.
		 */
		c->us = longer(c);
		c->new_reqs = 0;
		arm(c, c->us);
		if (c->us)
			return true;
	}
	c->open = false;
	c->peak = 0;  /* nothing in flight: the device ran idle */
	c->us /= 2;
	if (c->us < COALESCE_MIN_US) {
		/* one request at a time: serve the next kicks without a window */
		c->us = COALESCE_MIN_US;
		c->immediate_kicks = COALESCE_PROBE_KICKS;
	}
	return false;
}

void coalesce_end_idle(struct coalesce *c)
{
	disarm(c);
	c->open = false;
	c->peak = 0;
	c->held_us = 0;
	(*c->idle_ends)++;
}

void coalesce_reset(struct coalesce *c)
{
	disarm(c);
	c->open = false;
	c->us = c->max_us;
	c->new_reqs = 0;
	c->immediate_kicks = 0;
	c->peak = 0;
	c->held_us = 0;
}
