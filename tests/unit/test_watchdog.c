/*
 * Unit tests of the ib700 watchdog model (src/arch/x86/watchdog.c): the
 * timeout codes, start/pet/stop through the ports, expiry exactly at the
 * deadline and only once, a configured timeout overriding the guest's.
 * Also the system-description attributes of the watchdog and on_failure,
 * and the `capvm run` flags the supervisor builds from them.
 */
#include <stdlib.h>

#include "arch/x86/watchdog.h"
#include "system/supervisor.h"
#include "system/sysdesc.h"
#include "unit/test.h"

#define S 1000000000ULL

TEST(timeout_codes)
{
	CHECK_EQ(watchdog_code_seconds(0), 30);
	CHECK_EQ(watchdog_code_seconds(1), 28);
	CHECK_EQ(watchdog_code_seconds(14), 2);
	CHECK_EQ(watchdog_code_seconds(15), 0);
	CHECK_EQ(watchdog_code_seconds(0x1f), 0);  /* high bits ignored */
	CHECK_EQ(watchdog_code_seconds(0xf0), 30);
}

TEST(actions)
{
	CHECK_EQ(watchdog_parse_action("reset"), WATCHDOG_RESET);
	CHECK_EQ(watchdog_parse_action("poweroff"), WATCHDOG_POWEROFF);
	CHECK_EQ(watchdog_parse_action("restart"), WATCHDOG_RESTART);
	CHECK_EQ(watchdog_parse_action("none"), WATCHDOG_NONE);
	CHECK_EQ(watchdog_parse_action("Reset"), -1);
	CHECK_EQ(watchdog_parse_action(""), -1);
	CHECK_EQ(watchdog_parse_action(NULL), -1);
	CHECK_STR(watchdog_action_name(WATCHDOG_POWEROFF), "poweroff");
	CHECK_STR(watchdog_action_name((enum watchdog_action)42), "?");
}

TEST(ports)
{
	CHECK(watchdog_owns_port(0x441));
	CHECK(watchdog_owns_port(0x443));
	CHECK(!watchdog_owns_port(0x442));
	CHECK(!watchdog_owns_port(0x440));
	struct watchdog w;
	watchdog_init(&w, WATCHDOG_RESET, 0);
	CHECK_EQ(watchdog_io_read(&w, 0x443), 0xff);
}

TEST(not_armed_never_fires)
{
	struct watchdog w;
	watchdog_init(&w, WATCHDOG_RESET, 0);
	CHECK(!watchdog_expired(&w, 0));
	CHECK(!watchdog_expired(&w, 1000 * S));
	CHECK_EQ(watchdog_ms_left(&w, 0), -1);
	/* a stop before any start is harmless */
	watchdog_io_write(&w, 0x441, 0x5a, 10 * S);
	CHECK(!watchdog_expired(&w, 1000 * S));
}

TEST(start_pet_expire)
{
	struct watchdog w;
	watchdog_init(&w, WATCHDOG_POWEROFF, 0);
	watchdog_io_write(&w, 0x443, 10, 100 * S);  /* code 10 = 10 s */
	CHECK(w.armed);
	CHECK_EQ(watchdog_timeout_s(&w), 10);
	CHECK_EQ(watchdog_ms_left(&w, 100 * S), 10000);
	CHECK(!watchdog_expired(&w, 109 * S));
	/* a pet restarts the countdown */
	watchdog_io_write(&w, 0x443, 10, 109 * S);
	CHECK(!watchdog_expired(&w, 118 * S));
	CHECK(!watchdog_expired(&w, 119 * S - 1));
	CHECK_EQ(watchdog_ms_left(&w, 119 * S - 1), 1);  /* rounded up */
	CHECK(watchdog_expired(&w, 119 * S));
	CHECK_EQ(w.fires, 1);
	/* fires once, then stays disarmed until started again */
	CHECK(!watchdog_expired(&w, 200 * S));
	CHECK_EQ(w.fires, 1);
	CHECK_EQ(w.pets, 2);
	watchdog_io_write(&w, 0x443, 14, 300 * S);  /* 2 s */
	CHECK(watchdog_expired(&w, 302 * S));
	CHECK_EQ(w.fires, 2);
}

TEST(stop)
{
	struct watchdog w;
	watchdog_init(&w, WATCHDOG_RESET, 0);
	watchdog_io_write(&w, 0x443, 0, 0);
	watchdog_io_write(&w, 0x441, 0, 5 * S);
	CHECK(!w.armed);
	CHECK(!watchdog_expired(&w, 100 * S));
	CHECK_EQ(w.fires, 0);
}

TEST(zero_code_is_one_second)
{
	struct watchdog w;
	watchdog_init(&w, WATCHDOG_RESET, 0);
	watchdog_io_write(&w, 0x443, 15, 0);
	CHECK_EQ(watchdog_timeout_s(&w), 1);
	CHECK(!watchdog_expired(&w, S - 1));
	CHECK(watchdog_expired(&w, S));
}

TEST(configured_timeout_overrides)
{
	struct watchdog w;
	watchdog_init(&w, WATCHDOG_RESTART, 60);
	watchdog_io_write(&w, 0x443, 14, 0);  /* guest asks 2 s */
	CHECK_EQ(w.guest_code, 14);
	CHECK_EQ(watchdog_timeout_s(&w), 60);
	CHECK(!watchdog_expired(&w, 59 * S));
	CHECK(watchdog_expired(&w, 60 * S));
	/* absurd configuration is capped */
	watchdog_init(&w, WATCHDOG_NONE, 4000000000u);
	CHECK_EQ(watchdog_timeout_s(&w), WATCHDOG_MAX_TIMEOUT_S);
	watchdog_io_write(&w, 0x443, 0, UINT64_MAX - 3700 * S);
	CHECK(w.deadline_ns > UINT64_MAX - 3700 * S);  /* no wrap-around */
}

/* Validates one description text; returns the number of errors. */
static size_t load(const char *text, struct sd_system *sys, struct sd_doc *doc,
		   struct sd_diags *diags)
{
	struct sd_host h = { .n_cpus = 4, .mem_bytes = 8ULL << 30 };
	for (int i = 0; i < 4; i++)
		h.online[i] = 1;
	memset(sys, 0, sizeof(*sys));
	memset(doc, 0, sizeof(*doc));
	memset(diags, 0, sizeof(*diags));
	if (sd_parse_buffer(doc, "w.camkes", "/nonexistent", text, strlen(text), diags) == 0)
		sd_validate(doc, &h, sys, diags);
	return diags->n_errors;
}

static void unload(struct sd_system *sys, struct sd_doc *doc, struct sd_diags *diags)
{
	sd_system_free(sys);
	sd_doc_free(doc);
	sd_diag_free(diags);
}

static bool argv_has(char **argv, const char *a, const char *b)
{
	for (int i = 0; argv[i]; i++)
		if (!strcmp(argv[i], a) && (!b || (argv[i + 1] && !strcmp(argv[i + 1], b))))
			return true;
	return false;
}

TEST(sysdesc_attributes)
{
	struct sd_system sys;
	struct sd_doc doc;
	struct sd_diags d;
	char **argv;

	CHECK_EQ(load("assembly { composition { component VM a; } configuration {\n"
		      " a.kernel = \"/k\"; a.console = \"none\";\n"
		      " a.watchdog_action = \"restart\"; a.watchdog_timeout = 60s;\n"
		      " a.on_failure = \"logger $CAPVM_VM\"; } }", &sys, &doc, &d), 0);
	CHECK_STR(sys.vms[0].watchdog_action, "restart");
	CHECK_EQ(sys.vms[0].watchdog_timeout_s, 60);
	CHECK_STR(sys.vms[0].on_failure, "logger $CAPVM_VM");
	argv = sup_build_argv(&sys, 0, NULL, NULL);
	CHECK(argv_has(argv, "--watchdog", "restart"));
	CHECK(argv_has(argv, "--watchdog-timeout", "60"));
	sup_free_argv(argv);
	unload(&sys, &doc, &d);

	/* without them: no flags */
	CHECK_EQ(load("assembly { composition { component VM a; } configuration {\n"
		      " a.kernel = \"/k\"; a.console = \"none\"; } }", &sys, &doc, &d), 0);
	argv = sup_build_argv(&sys, 0, NULL, NULL);
	CHECK(!argv_has(argv, "--watchdog", NULL));
	CHECK(!argv_has(argv, "--watchdog-timeout", NULL));
	sup_free_argv(argv);
	unload(&sys, &doc, &d);
}

TEST(sysdesc_bad_attributes)
{
	static const char *const bad[] = {
		"a.watchdog_action = \"reboot\";",
		"a.watchdog_action = 3;",
		"a.watchdog_timeout = 0s;",
		"a.watchdog_timeout = 1500ms;",
		"a.watchdog_timeout = 2h;",
		"a.watchdog_timeout = \"60\";",
		"a.on_failure = \"\";",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sd_system sys;
		struct sd_doc doc;
		struct sd_diags d;
		char text[512];
		snprintf(text, sizeof(text), "assembly { composition { component VM a; } "
			 "configuration {\n a.kernel = \"/k\"; a.console = \"none\";\n %s } }", bad[i]);
		size_t errors = load(text, &sys, &doc, &d);
		if (errors == 0)
			printf("  accepted: %s\n", bad[i]);
		CHECK(errors > 0);
		const struct sd_diag *e = sd_diag_first_error(&d);
		CHECK(e && e->loc.line == 3);
		unload(&sys, &doc, &d);
	}
}

int main(void)
{
	RUN(timeout_codes);
	RUN(actions);
	RUN(ports);
	RUN(not_armed_never_fires);
	RUN(start_pet_expire);
	RUN(stop);
	RUN(zero_code_is_one_second);
	RUN(configured_timeout_overrides);
	RUN(sysdesc_attributes);
	RUN(sysdesc_bad_attributes);
	return test_exit();
}
