/*
 * Unit tests for the x86 boot builders (src/arch/x86/boot.c): e820 maps,
 * bzImage boot_params, PVH start_info, and rejection of bad kernels.  Uses
 * synthetic kernels, and the real Debian kernel when build/guest/ has it.
 */
#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "common/util.h"
#include "unit/test.h"

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* A minimal bzImage: setup header + a 64 KiB payload. */
static uint8_t *fake_bzimage(size_t *size, uint16_t version, uint16_t xloadflags)
{
	size_t setup = 5 * 512, payload = 64 * 1024;
	uint8_t *k = calloc(1, setup + payload);
	k[0x1f1] = 4;                      /* setup_sects */
	k[0x1fe] = 0x55; k[0x1ff] = 0xaa;
	k[0x200] = 0xeb; k[0x201] = 0x6a;  /* jump over a 0x6a-byte header */
	memcpy(k + 0x202, "HdrS", 4);
	memcpy(k + 0x206, &version, 2);
	uint32_t max = 0x7fffffff, cmdsize = 2047, init = 1024 * 1024;
	memcpy(k + 0x22c, &max, 4);
	memcpy(k + 0x236, &xloadflags, 2);
	memcpy(k + 0x238, &cmdsize, 4);
	memcpy(k + 0x260, &init, 4);
	memset(k + setup, 0x90, payload);
	*size = setup + payload;
	return k;
}

/* A minimal ELF64 vmlinux with one PT_LOAD and a Xen PVH entry note. */
static uint8_t *fake_vmlinux(size_t *size, bool with_note)
{
	size_t sz = 8192;
	uint8_t *k = calloc(1, sz);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)k;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_machine = EM_X86_64;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 2;
	Elf64_Phdr *ph = (Elf64_Phdr *)(k + eh->e_phoff);
	ph[0].p_type = PT_LOAD;
	ph[0].p_offset = 4096;
	ph[0].p_paddr = 0x1000000;
	ph[0].p_filesz = 4096;
	ph[0].p_memsz = 8192;
	ph[1].p_type = PT_NOTE;
	ph[1].p_offset = 1024;
	ph[1].p_filesz = with_note ? 20 : 0;
	Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = 4, .n_type = 18 };
	memcpy(k + 1024, &nh, sizeof(nh));
	memcpy(k + 1024 + sizeof(nh), "Xen", 4);
	uint32_t entry = 0x1000123;
	memcpy(k + 1024 + sizeof(nh) + 4, &entry, 4);
	memset(k + 4096, 0xcc, 4096);
	*size = sz;
	return k;
}

TEST(e820_small_ram)
{
	struct e820_entry m[E820_MAX];
	int n = e820_build(256 * MiB, NULL, 0, m, E820_MAX);
	CHECK_EQ(n, 4);
	CHECK_EQ(m[0].addr, 0); CHECK_EQ(m[0].type, E820_RAM);
	CHECK_EQ(m[3].addr, KERNEL_LOAD_GPA);
	CHECK_EQ(m[3].addr + m[3].size, 256 * MiB);
	for (int i = 1; i < n; i++)
		CHECK(m[i].addr >= m[i - 1].addr + m[i - 1].size);
}

TEST(e820_hole_and_high_ram)
{
	struct e820_entry m[E820_MAX];
	struct boot_reserved r[2] = { { 0xC0200000, 2 * MiB }, { 0xC0000000, 1 * MiB } };
	int n = e820_build(4 * GiB, r, 2, m, E820_MAX);
	CHECK_EQ(n, 7);
	uint64_t ram = 0;
	for (int i = 0; i < n; i++) {
		if (m[i].type == E820_RAM)
			ram += m[i].size;
		if (i)
			CHECK(m[i].addr >= m[i - 1].addr + m[i - 1].size);
	}
	/* all RAM but the EBDA/ACPI holes below 1 MiB */
	CHECK_EQ(ram, 4 * GiB - (KERNEL_LOAD_GPA - EBDA_START));
	CHECK_EQ(m[n - 1].addr, HIGH_RAM_START);
	CHECK_EQ(m[n - 1].size, 1 * GiB);
	CHECK_EQ(m[n - 3].addr, 0xC0000000); /* sorted */
	CHECK_EQ(m[n - 3].type, E820_RESERVED);
	CHECK(e820_build(4 * GiB, r, 2, m, 3) < 0);
}

TEST(bzimage_boot_params)
{
	size_t ks;
	uint8_t *k = fake_bzimage(&ks, 0x20f, 1);
	uint8_t *ram = calloc(1, 64 * MiB);
	uint8_t initrd[8192];
	struct boot_entry e;
	char err[200];
	memset(initrd, 0xab, sizeof(initrd));
	struct boot_image img = { .ram = ram, .ram_size = 64 * MiB, .kernel = k, .kernel_size = ks,
				  .initrd = initrd, .initrd_size = sizeof(initrd),
				  .cmdline = "console=ttyS0", .rsdp_gpa = 0xE0000 };
	CHECK_EQ(boot_load(&img, &e, err, sizeof(err)), 0);
	CHECK_EQ(e.mode, BOOT_64BIT);
	CHECK_EQ(e.rip, KERNEL_LOAD_GPA + 0x200);
	CHECK_EQ(e.rsi, BOOT_PARAMS_GPA);
	const uint8_t *bp = ram + BOOT_PARAMS_GPA;
	CHECK_EQ(bp[0x210], 0xff);                    /* type_of_loader */
	CHECK(bp[0x211] & 0x81);                       /* loadflags */
	CHECK_EQ(rd32(bp + 0x228), BOOT_CMDLINE_GPA);
	CHECK_STR((char *)ram + BOOT_CMDLINE_GPA, "console=ttyS0");
	uint32_t at = rd32(bp + 0x218);
	CHECK_EQ(rd32(bp + 0x21c), sizeof(initrd));
	CHECK(at % 4096 == 0 && at + sizeof(initrd) <= 64 * MiB);
	CHECK(!memcmp(ram + at, initrd, sizeof(initrd)));
	CHECK_EQ(rd64(bp + 0x070), 0xE0000);          /* acpi_rsdp_addr */
	CHECK_EQ(bp[0x1e8], 4);                        /* e820 entries */
	CHECK_EQ(ram[KERNEL_LOAD_GPA], 0x90);
	free(ram);
	free(k);
}

TEST(bzimage_rejects)
{
	size_t ks;
	uint8_t *k = fake_bzimage(&ks, 0x20b, 1);    /* too old for 64-bit entry */
	uint8_t *ram = calloc(1, 64 * MiB);
	struct boot_entry e;
	char err[200] = "";
	struct boot_image img = { .ram = ram, .ram_size = 64 * MiB, .kernel = k, .kernel_size = ks };
	CHECK(boot_load(&img, &e, err, sizeof(err)) < 0);
	CHECK(strstr(err, "64-bit") != NULL);
	free(k);

	k = fake_bzimage(&ks, 0x20f, 1);
	img.kernel = k;
	char longline[3000];
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = 0;
	img.cmdline = longline;
	CHECK(boot_load(&img, &e, err, sizeof(err)) < 0);
	CHECK(strstr(err, "command line") != NULL);
	CHECK_EQ(boot_cmdline_max(k, ks), 2047);

	img.cmdline = NULL;
	img.initrd = ram;  /* any bytes */
	img.initrd_size = 63 * MiB;
	CHECK(boot_load(&img, &e, err, sizeof(err)) < 0);
	CHECK(strstr(err, "initrd") != NULL);

	uint8_t junk[8192] = { 1, 2, 3 };
	img.kernel = junk;
	img.kernel_size = sizeof(junk);
	img.initrd_size = 0;
	CHECK(boot_load(&img, &e, err, sizeof(err)) < 0);
	CHECK_EQ(boot_cmdline_max(junk, sizeof(junk)), -1);
	/* truncated setup header */
	img.kernel = k;
	img.kernel_size = 0x1000;
	k[0x1f1] = 60;
	CHECK(boot_load(&img, &e, err, sizeof(err)) < 0);
	free(k);
	free(ram);
}

TEST(pvh_start_info)
{
	size_t ks;
	uint8_t *k = fake_vmlinux(&ks, true);
	uint8_t *ram = calloc(1, 64 * MiB);
	uint8_t initrd[4096] = { 7 };
	struct boot_entry e;
	char err[200];
	struct boot_image img = { .ram = ram, .ram_size = 64 * MiB, .kernel = k, .kernel_size = ks,
				  .initrd = initrd, .initrd_size = sizeof(initrd), .cmdline = "quiet",
				  .rsdp_gpa = 0xE0000 };
	CHECK_EQ(boot_load(&img, &e, err, sizeof(err)), 0);
	CHECK_EQ(e.mode, BOOT_PVH32);
	CHECK_EQ(e.rip, 0x1000123);
	CHECK_EQ(e.rbx, PVH_START_INFO_GPA);
	const uint8_t *si = ram + PVH_START_INFO_GPA;
	CHECK_EQ(rd32(si), 0x336ec578u);
	CHECK_EQ(rd32(si + 4), 1);             /* version */
	CHECK_EQ(rd32(si + 12), 1);            /* nr_modules */
	CHECK_EQ(rd64(si + 24), BOOT_CMDLINE_GPA);
	CHECK_EQ(rd64(si + 32), 0xE0000);
	CHECK_EQ(rd32(si + 48), 4);            /* memmap entries */
	uint64_t mod = rd64(si + 16);
	CHECK(ram[rd64(ram + mod)] == 7);
	CHECK_EQ(ram[0x1000000], 0xcc);
	CHECK_EQ(ram[0x1000000 + 4096], 0);    /* bss zeroed */
	free(k);

	k = fake_vmlinux(&ks, false);
	img.kernel = k;
	CHECK(boot_load(&img, &e, err, sizeof(err)) < 0);
	CHECK(strstr(err, "PVH") != NULL);
	/* program headers pointing past the end of the file */
	((Elf64_Ehdr *)k)->e_phoff = ks - 8;
	CHECK(boot_load(&img, &e, err, sizeof(err)) < 0);
	free(k);
	free(ram);
}

/* The real Debian kernel, if the guest images were built. */
TEST(debian_kernel)
{
	const char *paths[] = { "build/guest/bzImage", "build/guest/vmlinux" };
	for (int i = 0; i < 2; i++) {
		void *k;
		size_t ks;
		if (read_file(paths[i], &k, &ks) < 0)
			SKIP("build/guest images not built (make images)");
		uint8_t *ram = calloc(1, 256 * MiB);
		struct boot_entry e;
		char err[200] = "";
		struct boot_image img = { .ram = ram, .ram_size = 256 * MiB, .kernel = k,
					  .kernel_size = ks, .cmdline = "console=ttyS0" };
		CHECK_EQ(boot_load(&img, &e, err, sizeof(err)), 0);
		CHECK_EQ(e.mode, i == 0 ? BOOT_64BIT : BOOT_PVH32);
		if (err[0])
			printf("  %s: %s\n", paths[i], err);
		free(ram);
		free(k);
	}
}

int main(void)
{
	RUN(e820_small_ram);
	RUN(e820_hole_and_high_ram);
	RUN(bzimage_boot_params);
	RUN(bzimage_rejects);
	RUN(pvh_start_info);
	RUN(debian_kernel);
	return test_exit();
}
