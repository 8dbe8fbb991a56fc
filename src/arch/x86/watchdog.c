/*
 * The ib700 watchdog model (see watchdog.h): start/pet/stop through two
 * ports, a deadline in CLOCK_MONOTONIC nanoseconds, expiry checked by the
 * VMM's main loop.  Kept free of KVM so it can be unit-tested.
 */
#include "arch/x86/watchdog.h"

#include <string.h>

static const char *const action_names[] = {
	[WATCHDOG_RESET] = "reset", [WATCHDOG_POWEROFF] = "poweroff",
	[WATCHDOG_RESTART] = "restart", [WATCHDOG_NONE] = "none",
};

int watchdog_parse_action(const char *s)
{
	for (int i = 0; i < (int)(sizeof(action_names) / sizeof(action_names[0])); i++)
		if (s && !strcmp(s, action_names[i]))
			return i;
	return -1;
}

const char *watchdog_action_name(enum watchdog_action a)
{
	return (unsigned)a < sizeof(action_names) / sizeof(action_names[0]) ? action_names[a] : "?";
}

void watchdog_init(struct watchdog *w, enum watchdog_action action, unsigned config_timeout_s)
{
	memset(w, 0, sizeof(*w));
	w->action = action;
	w->config_timeout_s = config_timeout_s > WATCHDOG_MAX_TIMEOUT_S ? WATCHDOG_MAX_TIMEOUT_S
									: config_timeout_s;
}

unsigned watchdog_code_seconds(unsigned code)
{
	return 30 - 2 * (code & 0xf);
}

unsigned watchdog_timeout_s(const struct watchdog *w)
{
	if (w->config_timeout_s)
		return w->config_timeout_s;
	unsigned s = watchdog_code_seconds(w->guest_code);
	return s ? s : 1;
}

bool watchdog_owns_port(uint16_t port)
{
	return port == WATCHDOG_PORT_STOP || port == WATCHDOG_PORT_START;
}

void watchdog_io_write(struct watchdog *w, uint16_t port, uint8_t value, uint64_t now_ns)
{
	if (port == WATCHDOG_PORT_STOP) {
		w->armed = false;
	} else if (port == WATCHDOG_PORT_START) {
		w->guest_code = value & 0xf;
		w->armed = true;
		w->pets++;
		/* at most an hour ahead: cannot overflow 64-bit nanoseconds */
		w->deadline_ns = now_ns + (uint64_t)watchdog_timeout_s(w) * 1000000000ULL;
	}
}

uint8_t watchdog_io_read(struct watchdog *w, uint16_t port)
{
	(void)w;
	(void)port;
	return 0xff;
}

bool watchdog_expired(struct watchdog *w, uint64_t now_ns)
{
	if (!w->armed || now_ns < w->deadline_ns)
		return false;
	w->armed = false;
	w->fires++;
	return true;
}

int64_t watchdog_ms_left(const struct watchdog *w, uint64_t now_ns)
{
	if (!w->armed)
		return -1;
	if (now_ns >= w->deadline_ns)
		return 0;
	/* round up so a wake-up is never early */
	return (int64_t)((w->deadline_ns - now_ns + 999999) / 1000000);
}
