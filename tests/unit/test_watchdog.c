/*
 * Unit tests of the ib700 watchdog model (src/arch/x86/watchdog.c): the
 * timeout codes, start/pet/stop through the ports, expiry exactly at the
 * deadline and only once, a configured timeout overriding the guest's.
 */
#include "arch/x86/watchdog.h"
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
	return test_exit();
}
