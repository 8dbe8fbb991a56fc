/*
 * Interrupt coalescing window: the timer and the rules that decide when a
 * device holds its used-buffer interrupt and leaves the driver's kicks off,
 * so that several completions share one interrupt.  Used by virtio-blk
 * (blk.c) and by the isolated vhost-user relay (vu_proxy_bounce.c), which
 * do the queue work themselves; this file only keeps the window's state.
 * The rules are described at the top of blk.c and in docs/virtio.md:
 *
 *   - a kick opens a window (a timer of the current length, at most the
 *     configured USEC); while it is open the device leaves kicks off and
 *     holds the interrupt;
 *   - at the timer, while the device is busy with at least a quarter of
 *     the deepest queue it has seen since it last ran idle, the interrupt
 *     stays held (up to COALESCE_HOLD_WINDOWS × USEC in all): the driver
 *     still has work at the device, so its completions can wait and be
 *     signalled together;
 *   - otherwise one interrupt; if requests came in the window or some are
 *     still in flight, another window twice as long (up to USEC): the
 *     device picks up new requests at each completion and each timer tick
 *     and needs no kicks; else the window closes and the next one is half
 *     as long;
 *   - a window shorter than COALESCE_MIN_US is not worth a timer: the next
 *     COALESCE_PROBE_KICKS kicks are served at once, then a short window
 *     is tried again;
 *   - the device ends a window at once when it runs idle (nothing in
 *     flight, nothing queued): the driver waits for that interrupt.
 *
 * All calls come from the device's I/O thread with dev->lock held.
 */
#ifndef CAPVM_VIRTIO_COALESCE_H
#define CAPVM_VIRTIO_COALESCE_H

#include <stdbool.h>
#include <stdint.h>

#define COALESCE_MIN_US      10   /* shorter windows are not worth a timer */
#define COALESCE_PROBE_KICKS 16   /* kicks served at once after a quiet spell */
#define COALESCE_HOLD_WINDOWS 16  /* longest hold of one interrupt, in USEC units */
#define COALESCE_LOW_DIV     4    /* busy = more than 1/4 of the peak in flight */

struct coalesce {
	int timer_fd;              /* window timer; -1 when coalescing is off */
	bool open;
	uint32_t max_us;           /* coalesce=USEC */
	uint32_t us;               /* length of the next window */
	unsigned new_reqs;         /* requests taken since the window (re)opened */
	unsigned immediate_kicks;  /* kicks to serve without a window */
	unsigned peak;             /* most requests in flight since the device ran idle */
	uint32_t held_us;          /* how long the timer has held the interrupt */
	/* the owner's counters (its stats, read by the monitor) */
	uint64_t *windows;         /* windows opened */
	uint64_t *requests;        /* requests taken while a window was open */
	uint64_t *idle_ends;       /* windows ended early: the device ran idle */
	uint64_t *holds;           /* timer periods the interrupt stayed held: device busy */
};

/*
 * Coalescing with windows of at most max_us (0: off, no timer).  The
 * counters are the owner's.  0, or -1 with errno (no timer fd).
 */
int coalesce_init(struct coalesce *c, uint32_t max_us, uint64_t *windows, uint64_t *requests,
		  uint64_t *idle_ends, uint64_t *holds);
void coalesce_destroy(struct coalesce *c);

/* The timer fd to watch (EPOLLIN), -1 when off. */
static inline int coalesce_fd(const struct coalesce *c) { return c->timer_fd; }

/*
 * A kick: true if it belongs to a window (one is open, or the caller is to
 * open one with coalesce_open after taking the requests with kicks off);
 * false to serve it the plain way, interrupt at once.
 */
bool coalesce_kick(struct coalesce *c);

/* n requests were taken while in window mode. */
void coalesce_took(struct coalesce *c, unsigned n);

/*
 * Open a window unless one is open.  True if a window is open now (the
 * caller holds the interrupt); false if the timer could not be armed
 * (then interrupt at once).
 */
bool coalesce_open(struct coalesce *c);

/*
 * The timer fd is readable: drain it.  True if a window is open (its end
 * is due: take what was queued, one interrupt, then coalesce_next).
 */
bool coalesce_expired(struct coalesce *c);

/*
 * At the timer, after taking what was queued, with in_flight requests at
 * the back-end: true if the interrupt stays held (the device is busy and
 * the hold is short enough; the timer is armed again), false if it is due.
 */
bool coalesce_hold(struct coalesce *c, unsigned in_flight);

/*
 * After the interrupt that ends a window: true if another window started
 * (requests came in this one or are still in flight, and the device runs);
 * false if the window closed and the caller must turn kicks back on.
 */
bool coalesce_next(struct coalesce *c, bool running, unsigned in_flight);

/* The device ran idle in an open window: close it (caller: interrupt, kicks on). */
void coalesce_end_idle(struct coalesce *c);

/* Device reset: no window, full length again. */
void coalesce_reset(struct coalesce *c);

#endif
