/*
 * MC146818 CMOS real-time clock at ports 0x70/0x71.  Without it a stock
 * guest polls these ports thousands of times at boot (DESIGN.md).  The clock
 * reads the host's time; the guest may set it, which we keep as an offset.
 * No interrupts (the guest uses kvm-clock and the LAPIC timer).
 */
#ifndef CAPVM_X86_RTC_H
#define CAPVM_X86_RTC_H

#include <stdint.h>

struct rtc {
	uint8_t index;
	uint8_t cmos[128];
	int64_t offset_s;  /* guest time - host time */
};

void rtc_init(struct rtc *r);
/* port 0 = index (0x70), 1 = data (0x71) */
uint8_t rtc_read(struct rtc *r, unsigned port);
void rtc_write(struct rtc *r, unsigned port, uint8_t value);

#endif
