/*
 * The ISA ib700 watchdog (what Linux's stock `ib700wdt` module drives; no
 * PCI, no ACPI, fixed ports).  Protocol as the driver uses it:
 *
 *   out 0x443, CODE   start the watchdog, or pet it: the countdown restarts
 *                     with the hardware timeout of CODE (low 4 bits), which
 *                     is 30 - 2 * CODE seconds (code 0 = 30 s ... 15 = 0 s);
 *   out 0x441, any    stop it.
 *
 * Reads return all-ones (the card has nothing to read).  This file is the
 * model only: no KVM, no clock of its own.  The VMM feeds it port writes
 * with the current time (CLOCK_MONOTONIC ns) and asks watchdog_expired()
 * from its main loop; the action (reset, poweroff, ...) is the VMM's.
 *
 * The host may configure its own timeout (`--watchdog-timeout`, the guide's
 * `watchdog-timeout = 60`): then every pet restarts a countdown of that many
 * seconds whatever code the guest wrote (the hardware table ends at 30 s,
 * so a 60 s timeout is only possible this way).  Without it the guest's
 * choice from the table applies; a 0 s choice is raised to 1 s.
 */
#ifndef CAPVM_X86_WATCHDOG_H
#define CAPVM_X86_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>

#define WATCHDOG_PORT_STOP  0x441
#define WATCHDOG_PORT_START 0x443
#define WATCHDOG_MAX_TIMEOUT_S 3600

enum watchdog_action {
	WATCHDOG_RESET,     /* restart the VM (like --reboot=restart) */
	WATCHDOG_POWEROFF,  /* capvm exits with status 6; the supervisor does not restart it */
	WATCHDOG_RESTART,   /* capvm exits with status 7; the supervisor restarts it by policy */
	WATCHDOG_NONE,      /* log and emit the event only; the countdown stops */
};

struct watchdog {
	enum watchdog_action action;
	unsigned config_timeout_s;   /* 0: use the guest's choice */
	bool armed;
	unsigned guest_code;         /* last code written to 0x443 */
	uint64_t deadline_ns;        /* when armed */
	uint64_t pets, fires;
};

/* "reset", "poweroff", "restart", "none" -> action; -1 if unknown. */
int watchdog_parse_action(const char *s);
const char *watchdog_action_name(enum watchdog_action a);

void watchdog_init(struct watchdog *w, enum watchdog_action action, unsigned config_timeout_s);
/* The hardware timeout of a code written to 0x443 (seconds, 0..30). */
unsigned watchdog_code_seconds(unsigned code);
/* The countdown in force: configured or the guest's. */
unsigned watchdog_timeout_s(const struct watchdog *w);
/* Is port one of ours? */
bool watchdog_owns_port(uint16_t port);
void watchdog_io_write(struct watchdog *w, uint16_t port, uint8_t value, uint64_t now_ns);
uint8_t watchdog_io_read(struct watchdog *w, uint16_t port);
/*
 * True once when the armed countdown has run out at now_ns: the watchdog
 * is then disarmed (the guest must start it again) and fires is counted.
 */
bool watchdog_expired(struct watchdog *w, uint64_t now_ns);
/* Milliseconds until the deadline (0 if past), or -1 when not armed. */
int64_t watchdog_ms_left(const struct watchdog *w, uint64_t now_ns);

#endif
