/*
 * CMOS RTC model (see rtc.h).  Registers 0-9 and 0x32 (century) are the
 * time of day, computed from the host clock at each read; register A never
 * shows "update in progress", so the guest's read loop finishes at once.
 * Time registers follow register B's binary/BCD and 12/24-hour bits.
 */
#include "arch/x86/rtc.h"

#include <string.h>
#include <time.h>

#define REG_SEC   0x00
#define REG_MIN   0x02
#define REG_HOUR  0x04
#define REG_WDAY  0x06
#define REG_MDAY  0x07
#define REG_MON   0x08
#define REG_YEAR  0x09
#define REG_A     0x0a
#define REG_B     0x0b
#define REG_C     0x0c
#define REG_D     0x0d
#define REG_CENTURY 0x32

#define B_SET     0x80
#define B_24H     0x02
#define B_BINARY  0x04

void rtc_init(struct rtc *r)
{
	memset(r, 0, sizeof(*r));
	r->cmos[REG_A] = 0x26;          /* 32.768 kHz divider, 1024 Hz rate */
	r->cmos[REG_B] = B_24H;         /* BCD, 24-hour */
	r->cmos[REG_D] = 0x80;          /* valid RAM and time */
}

static uint8_t to_bcd(unsigned v) { return (uint8_t)(((v / 10) << 4) | (v % 10)); }
static unsigned from_bcd(uint8_t v) { return (v >> 4) * 10 + (v & 0x0f); }

static uint8_t rtc_encode(const struct rtc *r, unsigned v)
{
	return (r->cmos[REG_B] & B_BINARY) ? (uint8_t)v : to_bcd(v);
}

static unsigned rtc_decode(const struct rtc *r, uint8_t v)
{
	return (r->cmos[REG_B] & B_BINARY) ? v : from_bcd(v);
}

static void rtc_now(const struct rtc *r, struct tm *tm)
{
	time_t t = time(NULL) + r->offset_s;
	gmtime_r(&t, tm);
}

uint8_t rtc_read(struct rtc *r, unsigned port)
{
	struct tm tm;
	unsigned reg = r->index & 0x7f;

	if (port == 0)
		return r->index;
	rtc_now(r, &tm);
	switch (reg) {
	case REG_SEC: return rtc_encode(r, (unsigned)tm.tm_sec);
	case REG_MIN: return rtc_encode(r, (unsigned)tm.tm_min);
	case REG_HOUR:
		if (r->cmos[REG_B] & B_24H)
			return rtc_encode(r, (unsigned)tm.tm_hour);
		else {
			unsigned h = (unsigned)tm.tm_hour % 12;
			return (uint8_t)(rtc_encode(r, h ? h : 12) | (tm.tm_hour >= 12 ? 0x80 : 0));
		}
	case REG_WDAY: return rtc_encode(r, (unsigned)tm.tm_wday + 1);
	case REG_MDAY: return rtc_encode(r, (unsigned)tm.tm_mday);
	case REG_MON: return rtc_encode(r, (unsigned)tm.tm_mon + 1);
	case REG_YEAR: return rtc_encode(r, (unsigned)tm.tm_year % 100);
	case REG_CENTURY: return rtc_encode(r, (unsigned)(tm.tm_year + 1900) / 100);
	case REG_A: return r->cmos[REG_A] & 0x7f;  /* UIP never set */
	case REG_C: return 0;                      /* no interrupt flags */
	default: return r->cmos[reg];
	}
}

/* The guest sets the clock: remember the difference from the host clock. */
static void rtc_set_field(struct rtc *r, unsigned reg, uint8_t value)
{
	struct tm tm;
	time_t host = time(NULL);
	time_t cur = host + r->offset_s;
	unsigned v = rtc_decode(r, reg == REG_HOUR ? (value & 0x7f) : value);

	gmtime_r(&cur, &tm);
	switch (reg) {
	case REG_SEC: tm.tm_sec = (int)v; break;
	case REG_MIN: tm.tm_min = (int)v; break;
	case REG_HOUR: tm.tm_hour = (int)v; break;
	case REG_MDAY: tm.tm_mday = (int)v; break;
	case REG_MON: tm.tm_mon = (int)v - 1; break;
	case REG_YEAR: tm.tm_year = (tm.tm_year / 100) * 100 + (int)v; break;
	default: return;
	}
	time_t t = timegm(&tm);
	if (t != (time_t)-1)
		r->offset_s = (int64_t)(t - host);
}

void rtc_write(struct rtc *r, unsigned port, uint8_t value)
{
	unsigned reg = r->index & 0x7f;

	if (port == 0) {
		r->index = value;
		return;
	}
	switch (reg) {
	case REG_SEC: case REG_MIN: case REG_HOUR: case REG_MDAY: case REG_MON: case REG_YEAR:
		rtc_set_field(r, reg, value);
		break;
	case REG_C: case REG_D:
		break;  /* read-only */
	default:
		r->cmos[reg] = value;
	}
}
