/*
 * Kernel loading for x86_64 guests (see boot.h).
 *
 * bzImage, Linux x86 boot protocol >= 2.12 with the 64-bit entry: the
 * protected-mode part of the file is copied to 1 MiB, a boot_params page is
 * built from the file's setup header plus our e820 map, command line, initrd
 * and RSDP address, and the boot vCPU starts in long mode at load+0x200 with
 * RSI pointing at boot_params (cpu.c sets up paging and segments).
 *
 * vmlinux, PVH: an ELF64 file whose Xen ELF note type 18 (PHYS32_ENTRY) names
 * a 32-bit entry point.  PT_LOAD segments go to their physical addresses,
 * hvm_start_info (version 1, with a memory map) goes at PVH_START_INFO_GPA,
 * and the vCPU starts in flat 32-bit protected mode with EBX pointing at it.
 *
 * Every offset and size read from the kernel file is checked against the
 * file and against guest RAM before use.
 */
#include "arch/x86/boot.h"

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "common/util.h"

/* boot_params / setup header offsets (Documentation/arch/x86/boot.rst). */
#define BP_ACPI_RSDP_ADDR   0x070
#define BP_EXT_RAMDISK_IMG  0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES     0x1e8
#define BP_HDR              0x1f1   /* setup header starts here */
#define HDR_SETUP_SECTS     0x1f1
#define HDR_BOOT_FLAG       0x1fe
#define HDR_JUMP            0x200
#define HDR_MAGIC           0x202
#define HDR_VERSION         0x206
#define HDR_TYPE_OF_LOADER  0x210
#define HDR_LOADFLAGS       0x211
#define HDR_RAMDISK_IMAGE   0x218
#define HDR_RAMDISK_SIZE    0x21c
#define HDR_HEAP_END_PTR    0x224
#define HDR_CMD_LINE_PTR    0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_XLOADFLAGS      0x236
#define HDR_CMDLINE_SIZE    0x238
#define HDR_INIT_SIZE       0x260
#define BP_E820_TABLE       0x2d0
#define BP_E820_MAX         128
#define BP_SIZE             4096

#define LOADFLAG_LOADED_HIGH  0x01
#define LOADFLAG_CAN_USE_HEAP 0x80
#define XLF_KERNEL_64         0x01

#define PVH_MAGIC            0x336ec578u
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define PVH_CMDLINE_MAX      2047   /* x86 COMMAND_LINE_SIZE - 1 */

static uint32_t get_u32(const uint8_t *p, size_t off)
{
	uint32_t v;
	memcpy(&v, p + off, 4);
	return v;
}

static uint16_t get_u16(const uint8_t *p, size_t off)
{
	uint16_t v;
	memcpy(&v, p + off, 2);
	return v;
}

static void put_u32(uint8_t *p, size_t off, uint32_t v) { memcpy(p + off, &v, 4); }
static void put_u64(uint8_t *p, size_t off, uint64_t v) { memcpy(p + off, &v, 8); }

uint64_t boot_low_ram_end(uint64_t ram_size)
{
	return ram_size < MMIO_HOLE_START ? ram_size : MMIO_HOLE_START;
}

uint64_t boot_ram_offset_to_gpa(uint64_t ram_size, uint64_t offset)
{
	uint64_t low = boot_low_ram_end(ram_size);
	return offset < low ? offset : HIGH_RAM_START + (offset - low);
}

static int e820_add(struct e820_entry *out, int n, int max, uint64_t addr, uint64_t size,
		    uint32_t type)
{
	if (!size)
		return n;
	if (n < 0 || n >= max)
		return -1;
	out[n].addr = addr;
	out[n].size = size;
	out[n].type = type;
	return n + 1;
}

static int e820_cmp(const void *a, const void *b)
{
	const struct e820_entry *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int e820_build(uint64_t ram_size, const struct boot_reserved *res, int nr_res,
	       struct e820_entry *out, int max)
{
	uint64_t low = boot_low_ram_end(ram_size);
	int n = 0;

	if (ram_size < KERNEL_LOAD_GPA)
		return -1;
	n = e820_add(out, n, max, 0, EBDA_START, E820_RAM);
	n = e820_add(out, n, max, EBDA_START, 0xA0000 - EBDA_START, E820_RESERVED);
	n = e820_add(out, n, max, ACPI_TABLES_GPA, ACPI_TABLES_MAX, E820_RESERVED);
	n = e820_add(out, n, max, KERNEL_LOAD_GPA, low - KERNEL_LOAD_GPA, E820_RAM);
	for (int i = 0; i < nr_res; i++)
		n = e820_add(out, n, max, res[i].gpa, res[i].size, E820_RESERVED);
	if (ram_size > low)
		n = e820_add(out, n, max, HIGH_RAM_START, ram_size - low, E820_RAM);
	if (n > 0)
		qsort(out, (size_t)n, sizeof(*out), e820_cmp);
	return n;
}

static int fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -1;
}

static bool is_bzimage(const uint8_t *k, size_t size)
{
	return size >= 0x1000 && get_u16(k, HDR_BOOT_FLAG) == 0xAA55 &&
	       !memcmp(k + HDR_MAGIC, "HdrS", 4);
}

static bool is_elf64(const uint8_t *k, size_t size)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)k;
	return size >= sizeof(Elf64_Ehdr) && !memcmp(eh->e_ident, ELFMAG, SELFMAG) &&
	       eh->e_ident[EI_CLASS] == ELFCLASS64 && eh->e_machine == EM_X86_64;
}

long boot_cmdline_max(const void *kernel, size_t size)
{
	const uint8_t *k = kernel;

	if (is_bzimage(k, size)) {
		/* cmdline_size exists from protocol 2.06; older means 255 */
		if (get_u16(k, HDR_VERSION) < 0x206)
			return 255;
		return (long)get_u32(k, HDR_CMDLINE_SIZE);
	}
	if (is_elf64(k, size))
		return PVH_CMDLINE_MAX;
	return -1;
}

/*
 * Place the initrd as high as possible in low RAM, below `limit`, above
 * `kernel_end`, page aligned.  Returns its gpa or 0 if it does not fit.
 */
static uint64_t place_initrd(const struct boot_image *img, uint64_t kernel_end, uint64_t limit)
{
	uint64_t top = boot_low_ram_end(img->ram_size);

	if (top > limit)
		top = limit;
	if (img->initrd_size > top)
		return 0;
	uint64_t addr = ALIGN_DOWN(top - img->initrd_size, 4096);
	if (addr < ALIGN_UP(kernel_end, 4096))
		return 0;
	return addr;
}

static int write_cmdline(const struct boot_image *img, long max, char *err, size_t errlen)
{
	const char *c = img->cmdline ? img->cmdline : "";
	size_t len = strlen(c);

	if (max < 0 || len > (size_t)max || len >= BOOT_CMDLINE_MAX) {
		snprintf(err, errlen, "command line is %zu bytes; this kernel accepts at most %ld",
			 len, max);
		return -1;
	}
	memcpy(img->ram + BOOT_CMDLINE_GPA, c, len + 1);
	return 0;
}

static int load_bzimage(const struct boot_image *img, struct boot_entry *entry,
			char *err, size_t errlen)
{
	const uint8_t *k = img->kernel;
	uint8_t *bp = img->ram + BOOT_PARAMS_GPA;
	struct e820_entry map[BP_E820_MAX];
	uint16_t version = get_u16(k, HDR_VERSION);
	unsigned setup_sects = k[HDR_SETUP_SECTS] ? k[HDR_SETUP_SECTS] : 4;
	size_t setup_size = ((size_t)setup_sects + 1) * 512;
	size_t hdr_end = 0x202 + k[HDR_JUMP + 1];  /* jump offset = header length */
	uint64_t low = boot_low_ram_end(img->ram_size);

	if (version < 0x20c || !(get_u16(k, HDR_XLOADFLAGS) & XLF_KERNEL_64))
		return fail(err, errlen, "bzImage has no 64-bit entry point (boot protocol 2.12+ needed)");
	if (setup_size >= img->kernel_size || hdr_end > setup_size || hdr_end > 0x290)
		return fail(err, errlen, "bzImage setup header is malformed");

	size_t payload = img->kernel_size - setup_size;
	uint64_t init_size = get_u32(k, HDR_INIT_SIZE);
	uint64_t kernel_end = KERNEL_LOAD_GPA + (init_size > payload ? init_size : payload);
	if (kernel_end > low)
		return fail(err, errlen, "kernel does not fit in guest RAM (increase --mem)");
	memcpy(img->ram + KERNEL_LOAD_GPA, k + setup_size, payload);

	memset(bp, 0, BP_SIZE);
	memcpy(bp + BP_HDR, k + BP_HDR, hdr_end - BP_HDR);
	bp[HDR_TYPE_OF_LOADER] = 0xff;
	bp[HDR_LOADFLAGS] |= LOADFLAG_LOADED_HIGH | LOADFLAG_CAN_USE_HEAP;
	bp[HDR_HEAP_END_PTR] = 0x00;
	bp[HDR_HEAP_END_PTR + 1] = 0xfe;  /* 0xfe00 */

	if (write_cmdline(img, boot_cmdline_max(k, img->kernel_size), err, errlen))
		return -1;
	put_u32(bp, HDR_CMD_LINE_PTR, (uint32_t)BOOT_CMDLINE_GPA);

	if (img->initrd_size) {
		uint64_t limit = (uint64_t)get_u32(k, HDR_INITRD_ADDR_MAX) + 1;
		uint64_t at = place_initrd(img, kernel_end, limit);
		if (!at)
			return fail(err, errlen, "initrd does not fit in guest RAM (increase --mem)");
		memcpy(img->ram + at, img->initrd, img->initrd_size);
		put_u32(bp, HDR_RAMDISK_IMAGE, (uint32_t)at);
		put_u32(bp, HDR_RAMDISK_SIZE, (uint32_t)img->initrd_size);
		put_u32(bp, BP_EXT_RAMDISK_IMG, (uint32_t)(at >> 32));
		put_u32(bp, BP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)img->initrd_size >> 32));
	}
	put_u32(bp, BP_EXT_CMD_LINE_PTR, 0);
	if (img->rsdp_gpa)
		put_u64(bp, BP_ACPI_RSDP_ADDR, img->rsdp_gpa);

	int n = e820_build(img->ram_size, img->reserved, img->nr_reserved, map, BP_E820_MAX);
	if (n < 0)
		return fail(err, errlen, "too many memory map entries");
	for (int i = 0; i < n; i++) {
		uint8_t *e = bp + BP_E820_TABLE + (size_t)i * 20;
		put_u64(e, 0, map[i].addr);
		put_u64(e, 8, map[i].size);
		put_u32(e, 16, map[i].type);
	}
	bp[BP_E820_ENTRIES] = (uint8_t)n;

	entry->mode = BOOT_64BIT;
	entry->rip = KERNEL_LOAD_GPA + 0x200;
	entry->rsi = BOOT_PARAMS_GPA;
	entry->rbx = 0;
	entry->format = "bzImage";
	return 0;
}

/* Find the PVH entry in the ELF notes; 0 if absent. */
static uint64_t find_pvh_entry(const uint8_t *k, size_t size, const Elf64_Ehdr *eh)
{
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, k + eh->e_phoff + (size_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_NOTE || !range_within(ph.p_offset, ph.p_filesz, size))
			continue;
		uint64_t off = ph.p_offset, end = ph.p_offset + ph.p_filesz;
		while (end - off >= sizeof(Elf64_Nhdr)) {
			Elf64_Nhdr nh;
			memcpy(&nh, k + off, sizeof(nh));
			uint64_t name_off = off + sizeof(nh);
			uint64_t desc_off = name_off + ALIGN_UP((uint64_t)nh.n_namesz, 4);
			uint64_t next = desc_off + ALIGN_UP((uint64_t)nh.n_descsz, 4);
			if (next > end || next <= off)
				break;
			if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
			    !memcmp(k + name_off, "Xen", 4) && nh.n_descsz >= 4)
				return get_u32(k, desc_off);
			off = next;
		}
	}
	return 0;
}

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

static int load_pvh(const struct boot_image *img, struct boot_entry *entry,
		    char *err, size_t errlen)
{
	const uint8_t *k = img->kernel;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)k;
	uint64_t low = boot_low_ram_end(img->ram_size), kernel_end = 0;

	if (eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    !range_within(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), img->kernel_size))
		return fail(err, errlen, "ELF program headers are malformed");
	uint64_t pvh_entry = find_pvh_entry(k, img->kernel_size, eh);
	if (!pvh_entry)
		return fail(err, errlen, "ELF file has no PVH entry note (not a Linux vmlinux built with CONFIG_PVH)");

	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, k + eh->e_phoff + (size_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD)
			continue;
		if (!range_within(ph.p_offset, ph.p_filesz, img->kernel_size) ||
		    ph.p_filesz > ph.p_memsz)
			return fail(err, errlen, "ELF segment lies outside the file");
		if (ph.p_paddr < KERNEL_LOAD_GPA || !range_within(ph.p_paddr, ph.p_memsz, low))
			return fail(err, errlen, "kernel does not fit in guest RAM (increase --mem)");
		memcpy(img->ram + ph.p_paddr, k + ph.p_offset, ph.p_filesz);
		memset(img->ram + ph.p_paddr + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
		if (ph.p_paddr + ph.p_memsz > kernel_end)
			kernel_end = ph.p_paddr + ph.p_memsz;
	}
	if (!kernel_end)
		return fail(err, errlen, "ELF file has no loadable segments");

	if (write_cmdline(img, PVH_CMDLINE_MAX, err, errlen))
		return -1;

	struct hvm_start_info si = {
		.magic = PVH_MAGIC,
		.version = 1,
		.cmdline_paddr = BOOT_CMDLINE_GPA,
		.rsdp_paddr = img->rsdp_gpa,
	};
	uint64_t modlist_gpa = PVH_START_INFO_GPA + sizeof(si);
	uint64_t memmap_gpa = modlist_gpa + sizeof(struct hvm_modlist_entry);

	if (img->initrd_size) {
		/* the kernel's brk and early allocations live after _end; keep a margin */
		uint64_t at = place_initrd(img, kernel_end + 16 * MiB, 4 * GiB);
		if (!at)
			return fail(err, errlen, "initrd does not fit in guest RAM (increase --mem)");
		memcpy(img->ram + at, img->initrd, img->initrd_size);
		struct hvm_modlist_entry mod = { .paddr = at, .size = img->initrd_size };
		memcpy(img->ram + modlist_gpa, &mod, sizeof(mod));
		si.nr_modules = 1;
		si.modlist_paddr = modlist_gpa;
	}

	struct e820_entry map[E820_MAX];
	int n = e820_build(img->ram_size, img->reserved, img->nr_reserved, map, E820_MAX);
	if (n < 0)
		return fail(err, errlen, "too many memory map entries");
	if (memmap_gpa + (uint64_t)n * sizeof(struct hvm_memmap_entry) > BOOT_PARAMS_GPA)
		return fail(err, errlen, "too many memory map entries");
	for (int i = 0; i < n; i++) {
		struct hvm_memmap_entry me = { map[i].addr, map[i].size, map[i].type, 0 };
		memcpy(img->ram + memmap_gpa + (size_t)i * sizeof(me), &me, sizeof(me));
	}
	si.memmap_paddr = memmap_gpa;
	si.memmap_entries = (uint32_t)n;
	memcpy(img->ram + PVH_START_INFO_GPA, &si, sizeof(si));

	entry->mode = BOOT_PVH32;
	entry->rip = pvh_entry;
	entry->rbx = PVH_START_INFO_GPA;
	entry->rsi = 0;
	entry->format = "vmlinux (PVH)";
	return 0;
}

int boot_load(const struct boot_image *img, struct boot_entry *entry, char *err, size_t errlen)
{
	const uint8_t *k = img->kernel;

	if (img->ram_size < 16 * MiB)
		return fail(err, errlen, "guest RAM must be at least 16 MiB");
	if (is_bzimage(k, img->kernel_size))
		return load_bzimage(img, entry, err, errlen);
	if (is_elf64(k, img->kernel_size))
		return load_pvh(img, entry, err, errlen);
	return fail(err, errlen, "not a bzImage or an x86_64 ELF vmlinux");
}
