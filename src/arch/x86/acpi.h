/*
 * ACPI tables for a hardware-reduced x86 VM: RSDP, XSDT, FADT, DSDT, MADT.
 * The DSDT describes the serial port, the CMOS RTC, the virtio-mmio devices (_HID
 * LNRO0005, which is how a stock kernel without device tree finds them),
 * pvpanic, the power button on a generic event device, and \_S5 for
 * power-off through the FADT sleep control register.
 */
#ifndef CAPVM_X86_ACPI_H
#define CAPVM_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

#define ACPI_MAX_MMIO_DEVS 16

struct acpi_mmio_dev {
	uint64_t base;
	uint64_t size;
	uint32_t gsi;
};

struct acpi_config {
	int nr_cpus;                 /* 1..255; APIC IDs 0..nr_cpus-1 */
	int nr_mmio_devs;
	struct acpi_mmio_dev mmio_devs[ACPI_MAX_MMIO_DEVS];
	/* ranges of guest-physical memory that the guest must not use for RAM
	 * (dataports) are described in e820, not here */
};

/*
 * What the VMM must decode (details in docs/acpi.md):
 *  - PORT_ACPI_SLEEP_CTL, 8-bit write: bit 5 is SLP_EN, bits 4:2 SLP_TYP.
 *    A write with SLP_EN set and SLP_TYP == ACPI_S5_SLP_TYP means power
 *    off: Linux writes (ACPI_S5_SLP_TYP << 2) | 0x20 = 0x34.  Ignore other
 *    values (there are no other sleep states).
 *  - PORT_ACPI_SLEEP_STS, 8-bit: Linux writes 0x80 (clear WAK_STS) just
 *    before powering off; reads should return 0.
 *  - PORT_ACPI_RESET, 8-bit write of ACPI_RESET_VALUE means reset.
 *  - IRQ_GED pulsed (edge) = power button pressed (system_powerdown).
 *  - PORT_PVPANIC: reads return the supported events (bit 0 PANICKED,
 *    bit 1 CRASH_LOADED); a write of bit 0 (bit 1 instead when a kdump
 *    kernel is loaded, if reads offered it) means the guest panicked.
 */

/*
 * Build all tables into buf, which the guest will see at guest-physical
 * address buf_gpa.  Returns the number of bytes used and sets *rsdp_gpa,
 * or returns 0 if buf_size is too small or cfg is invalid.  Tables are
 * 16-byte aligned, the RSDP first; the whole range must lie below 4 GiB.
 * cfg is checked: 1..255 CPUs, up to ACPI_MAX_MMIO_DEVS devices, each
 * window non-empty, below 4 GiB and not overlapping another, distinct
 * GSIs below 24 other than 0, 2, IRQ_COM1 and IRQ_GED.
 */
size_t acpi_build(const struct acpi_config *cfg, void *buf, uint64_t buf_gpa,
		  size_t buf_size, uint64_t *rsdp_gpa);

#endif
