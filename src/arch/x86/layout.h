/*
 * The guest-physical and I/O-port map of a capvm x86 VM.  Everything that
 * the boot code, the ACPI tables and the device emulation must agree on
 * lives here.
 *
 *   0x0000_0000  real-mode area: boot_params (zero page), command line,
 *                PVH start_info, boot page tables, GDT
 *   0x000E_0000  ACPI tables (RSDP is found here by the guest's BIOS-area scan
 *                too, but we pass its address explicitly)
 *   0x0010_0000  kernel (bzImage protected-mode part / vmlinux segments)
 *   ...          RAM up to min(mem, MMIO_HOLE_START), the rest above 4 GiB
 *   0xC000_0000  dataports (system description), up to DATAPORT_LIMIT
 *   0xD000_0000  virtio-mmio devices, one 4 KiB page each
 *   0xFEC0_0000  IOAPIC;  0xFEE0_0000 local APIC
 */
#ifndef CAPVM_X86_LAYOUT_H
#define CAPVM_X86_LAYOUT_H

#define BOOT_PARAMS_GPA      0x7000ULL   /* struct boot_params (zero page) */
#define PVH_START_INFO_GPA   0x6000ULL   /* struct hvm_start_info + memmap */
#define BOOT_CMDLINE_GPA     0x20000ULL  /* kernel command line */
#define BOOT_CMDLINE_MAX     0x10000ULL  /* 64 KiB including the NUL */
#define BOOT_GDT_GPA         0x500ULL
#define BOOT_PML4_GPA        0x9000ULL   /* identity page tables for 64-bit entry */
#define BOOT_PDPT_GPA        0xA000ULL
#define BOOT_PD_GPA          0xB000ULL   /* 4 pages: 4 GiB of 2 MiB pages */
#define BOOT_STACK_GPA       0x8ff0ULL
#define ACPI_TABLES_GPA      0xE0000ULL
#define ACPI_TABLES_MAX      0x1F000ULL  /* 0xE0000 .. 0xFEFFF */
#define RESET_VECTOR_GPA     0xFFFF0ULL  /* F000:FFF0, where a real-mode reboot jumps */
#define EBDA_START           0x9FC00ULL  /* low RAM ends here in the e820 map */
#define KERNEL_LOAD_GPA      0x100000ULL

#define MMIO_HOLE_START      0xC0000000ULL /* RAM above this moves to 4 GiB */
#define HIGH_RAM_START       0x100000000ULL
#define DATAPORT_BASE        0xC0000000ULL
#define DATAPORT_LIMIT       0xD0000000ULL
#define VIRTIO_MMIO_BASE     0xD0000000ULL
#define VIRTIO_MMIO_STRIDE   0x1000ULL
#define VIRTIO_MMIO_MAX_DEVS 16
#define IOAPIC_GPA           0xFEC00000ULL
#define LAPIC_GPA            0xFEE00000ULL

/* I/O ports */
#define PORT_RTC_INDEX       0x70
#define PORT_RTC_DATA        0x71
#define PORT_I8042_CMD       0x64
#define PORT_COM1            0x3f8
#define PORT_PVPANIC         0x505
#define PORT_ACPI_SLEEP_CTL  0x600   /* FADT sleep control register (1 byte) */
#define PORT_ACPI_SLEEP_STS  0x601   /* FADT sleep status register (1 byte) */
#define PORT_ACPI_RESET      0x602   /* FADT reset register (1 byte) */
#define ACPI_RESET_VALUE     0x42
#define ACPI_S5_SLP_TYP      5       /* value of SLP_TYP for \_S5 */

/* Interrupt lines (IOAPIC pins = GSIs) */
#define IRQ_COM1             4
#define IRQ_GED              9       /* ACPI generic event device: power button */
#define GSI_VIRTIO_FIRST     16      /* virtio-mmio devices get 16..23, then 5.. */

#endif
