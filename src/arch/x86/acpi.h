/*
 * ACPI tables for a hardware-reduced x86 VM: RSDP, XSDT, FADT, DSDT, MADT.
 * The DSDT describes the serial port, the virtio-mmio devices (_HID
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
 * Build all tables into buf, which the guest will see at guest-physical
 * address buf_gpa.  Returns the number of bytes used and sets *rsdp_gpa,
 * or returns 0 if buf_size is too small or cfg is invalid.
 */
size_t acpi_build(const struct acpi_config *cfg, void *buf, uint64_t buf_gpa,
		  size_t buf_size, uint64_t *rsdp_gpa);

#endif
