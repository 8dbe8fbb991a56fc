/*
 * Loading a Linux kernel into guest memory: the 64-bit boot protocol for a
 * bzImage (boot_params "zero page", e820 map, command line, initrd) and the
 * PVH entry of an ELF vmlinux (hvm_start_info).  Pure memory layout work: no
 * KVM here, so the builders are unit-tested directly.
 */
#ifndef CAPVM_X86_BOOT_H
#define CAPVM_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#define E820_RAM      1
#define E820_RESERVED 2
#define E820_ACPI     3
#define E820_MAX      64

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/* A guest-physical range the guest must not use as RAM (dataports). */
struct boot_reserved {
	uint64_t gpa;
	uint64_t size;
};

struct boot_image {
	uint8_t *ram;            /* host mapping of guest RAM (low part at gpa 0) */
	uint64_t ram_size;       /* bytes of guest RAM */
	const void *kernel;      /* file contents */
	size_t kernel_size;
	const void *initrd;      /* may be NULL */
	size_t initrd_size;
	const char *cmdline;     /* may be NULL */
	uint64_t rsdp_gpa;       /* 0 if none */
	const struct boot_reserved *reserved;
	int nr_reserved;
};

enum boot_mode { BOOT_64BIT, BOOT_PVH32 };

/* Where and how the boot vCPU starts. */
struct boot_entry {
	enum boot_mode mode;
	uint64_t rip;
	uint64_t rsi;  /* 64-bit: boot_params gpa */
	uint64_t rbx;  /* PVH: hvm_start_info gpa */
	const char *format;  /* "bzImage" or "vmlinux (PVH)" */
};

/* Guest RAM below the MMIO hole (the rest lives at 4 GiB). */
uint64_t boot_low_ram_end(uint64_t ram_size);
/* Guest-physical address of RAM byte `offset` of the ram mapping. */
uint64_t boot_ram_offset_to_gpa(uint64_t ram_size, uint64_t offset);

/*
 * Fill the e820 map for ram_size bytes of RAM and the reserved ranges.
 * Returns the number of entries (sorted by address), or -1.
 */
int e820_build(uint64_t ram_size, const struct boot_reserved *res, int nr_res,
	       struct e820_entry *out, int max);

/*
 * Load the kernel (bzImage or PVH vmlinux), initrd and command line into
 * guest RAM and write the boot structures.  On error returns -1 with a
 * one-line message in err.
 */
int boot_load(const struct boot_image *img, struct boot_entry *entry,
	      char *err, size_t errlen);

/* Longest command line the kernel accepts (excluding NUL), or -1 if the
 * file is no kernel we can boot. */
long boot_cmdline_max(const void *kernel, size_t size);

#endif
