/*
 * Unit tests for src/arch/x86/acpi.c and aml.c: table checksums and
 * lengths, the pointer chain RSDP -> XSDT -> FADT/MADT -> DSDT, the MADT
 * for several CPU counts, the virtio-mmio devices in the DSDT, rejection of
 * bad configs and small buffers, AML encodings, and a decompile of every
 * table with ACPICA's iasl (skipped if iasl is not installed).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "common/log.h"
#include "common/util.h"
#include "unit/test.h"

static uint8_t tables[ACPI_TABLES_MAX];
static size_t tables_len;
static uint64_t rsdp_gpa;

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static struct acpi_config make_config(int cpus, int devs)
{
	struct acpi_config c;
	memset(&c, 0, sizeof(c));
	c.nr_cpus = cpus;
	c.nr_mmio_devs = devs;
	for (int i = 0; i < devs; i++) {
		c.mmio_devs[i].base = VIRTIO_MMIO_BASE + (uint64_t)i * VIRTIO_MMIO_STRIDE;
		c.mmio_devs[i].size = VIRTIO_MMIO_STRIDE;
		/* as the VMM assigns them: 16..23, then 5.. skipping IRQ_GED */
		static const uint32_t gsis[ACPI_MAX_MMIO_DEVS] = {
			16, 17, 18, 19, 20, 21, 22, 23, 5, 6, 7, 8, 10, 11, 12, 13 };
		c.mmio_devs[i].gsi = gsis[i];
	}
	return c;
}

static int build(const struct acpi_config *c)
{
	memset(tables, 0xcc, sizeof(tables));
	tables_len = acpi_build(c, tables, ACPI_TABLES_GPA, sizeof(tables), &rsdp_gpa);
	return tables_len ? 0 : -1;
}

/* Pointer to a table at guest address gpa, or NULL if it is not wholly
 * inside what acpi_build wrote. */
static const uint8_t *at(uint64_t gpa, size_t min_len)
{
	if (gpa < ACPI_TABLES_GPA || !range_within(gpa - ACPI_TABLES_GPA, min_len, tables_len))
		return NULL;
	return tables + (gpa - ACPI_TABLES_GPA);
}

/* A table with a standard header, checked for signature, length and
 * checksum; NULL if anything is wrong. */
static const uint8_t *table(uint64_t gpa, const char *sig)
{
	const uint8_t *t = at(gpa, 36);
	if (!t || memcmp(t, sig, 4))
		return NULL;
	uint32_t len = le32(t + 4);
	if (len < 36 || !at(gpa, len) || sum8(t, len) != 0)
		return NULL;
	return t;
}

static const uint8_t *xsdt(void)
{
	const uint8_t *r = at(rsdp_gpa, 36);
	return r ? table(le64(r + 24), "XSDT") : NULL;
}

/* Find the table with this signature through the XSDT. */
static const uint8_t *find_table(const char *sig)
{
	const uint8_t *x = xsdt();
	if (!x)
		return NULL;
	uint32_t n = (le32(x + 4) - 36) / 8;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *t = at(le64(x + 36 + 8 * i), 36);
		if (t && !memcmp(t, sig, 4))
			return table(le64(x + 36 + 8 * i), sig);
	}
	return NULL;
}

static const uint8_t *dsdt(void)
{
	const uint8_t *f = find_table("FACP");
	return f ? table(le64(f + 140), "DSDT") : NULL;
}

TEST(rsdp)
{
	struct acpi_config c = make_config(2, 4);
	CHECK(build(&c) == 0);
	CHECK(tables_len <= ACPI_TABLES_MAX);
	CHECK_EQ(rsdp_gpa % 16, 0);
	const uint8_t *r = at(rsdp_gpa, 36);
	CHECK(r != NULL);
	if (!r)
		return;
	CHECK(!memcmp(r, "RSD PTR ", 8));
	CHECK_EQ(r[15], 2);
	CHECK_EQ(sum8(r, 20), 0);
	CHECK_EQ(le32(r + 20), 36);
	CHECK_EQ(sum8(r, 36), 0);
	CHECK(xsdt() != NULL);
}

TEST(xsdt_entries)
{
	struct acpi_config c = make_config(2, 4);
	CHECK(build(&c) == 0);
	const uint8_t *x = xsdt();
	CHECK(x != NULL);
	if (!x)
		return;
	CHECK_EQ(le32(x + 4), 36 + 2 * 8);
	const uint8_t *a = at(le64(x + 36), 36), *b = at(le64(x + 44), 36);
	CHECK(a && !memcmp(a, "FACP", 4));
	CHECK(b && !memcmp(b, "APIC", 4));
	/* every table checksums and lies inside the buffer */
	CHECK(table(le64(x + 36), "FACP") != NULL);
	CHECK(table(le64(x + 44), "APIC") != NULL);
	CHECK(dsdt() != NULL);
	const uint8_t *f = find_table("FACP");
	CHECK_EQ(le64(x + 36) % 16, 0);
	CHECK_EQ(le64(x + 44) % 16, 0);
	CHECK(f && le64(f + 140) % 16 == 0);
	CHECK_EQ((uint64_t)(x - tables + ACPI_TABLES_GPA) % 16, 0);
}

TEST(fadt_fields)
{
	struct acpi_config c = make_config(1, 1);
	CHECK(build(&c) == 0);
	const uint8_t *f = find_table("FACP");
	CHECK(f != NULL);
	if (!f)
		return;
	CHECK_EQ(le32(f + 4), 276);
	CHECK_EQ(f[8], 6);
	uint32_t flags = le32(f + 112);
	CHECK(flags & (1u << 20));          /* HW_REDUCED_ACPI */
	CHECK(flags & (1u << 10));          /* RESET_REG_SUP */
	uint16_t boot = le16(f + 109);
	CHECK(!(boot & (1u << 5)));         /* CMOS RTC is present */
	CHECK(!(boot & (1u << 3)));         /* MSI is fine */
	CHECK(boot & (1u << 2));            /* no VGA */
	/* RESET_REG: System I/O, 8 bits, offset 0, PORT_ACPI_RESET */
	CHECK_EQ(f[116], 1); CHECK_EQ(f[117], 8); CHECK_EQ(f[118], 0);
	CHECK_EQ(le64(f + 120), PORT_ACPI_RESET);
	CHECK_EQ(f[128], ACPI_RESET_VALUE);
	/* SLEEP_CONTROL_REG / SLEEP_STATUS_REG */
	CHECK_EQ(f[244], 1); CHECK_EQ(f[245], 8);
	CHECK_EQ(le64(f + 248), PORT_ACPI_SLEEP_CTL);
	CHECK_EQ(f[256], 1); CHECK_EQ(f[257], 8);
	CHECK_EQ(le64(f + 260), PORT_ACPI_SLEEP_STS);
	/* DSDT pointers agree */
	CHECK_EQ(le32(f + 40), le64(f + 140));
	/* no PM blocks, no SCI */
	CHECK_EQ(le16(f + 46), 0);
	CHECK_EQ(le32(f + 56), 0);
	CHECK_EQ(le32(f + 64), 0);
	CHECK_EQ(le32(f + 76), 0);
}

static void check_madt(int cpus)
{
	struct acpi_config c = make_config(cpus, 2);
	CHECK(build(&c) == 0);
	const uint8_t *m = find_table("APIC");
	CHECK(m != NULL);
	if (!m)
		return;
	uint32_t len = le32(m + 4);
	CHECK_EQ(le32(m + 36), LAPIC_GPA);
	int lapics = 0, ioapics = 0, isos = 0, nmis = 0;
	for (uint32_t off = 44; off < len;) {
		uint8_t type = m[off], elen = m[off + 1];
		CHECK(elen >= 2 && off + elen <= len);
		if (elen < 2 || off + elen > len)
			return;
		switch (type) {
		case 0:
			CHECK_EQ(elen, 8);
			CHECK_EQ(m[off + 2], lapics);       /* processor UID */
			CHECK_EQ(m[off + 3], lapics);       /* APIC ID */
			CHECK_EQ(le32(m + off + 4) & 1, 1); /* enabled */
			lapics++;
			break;
		case 1:
			CHECK_EQ(elen, 12);
			CHECK_EQ(le32(m + off + 4), IOAPIC_GPA);
			CHECK_EQ(le32(m + off + 8), 0);
			ioapics++;
			break;
		case 2:
			CHECK_EQ(elen, 10);
			CHECK_EQ(m[off + 2], 0);
			CHECK_EQ(m[off + 3], 0);
			CHECK_EQ(le32(m + off + 4), 2);
			CHECK_EQ(le16(m + off + 8), 0x5);   /* edge, active high */
			isos++;
			break;
		case 4:
			CHECK_EQ(elen, 6);
			CHECK_EQ(m[off + 2], 0xff);
			CHECK_EQ(m[off + 5], 1);            /* LINT1 */
			nmis++;
			break;
		default:
			CHECK(!"unexpected MADT entry");
		}
		off += elen;
	}
	CHECK_EQ(lapics, cpus);
	CHECK_EQ(ioapics, 1);
	CHECK_EQ(isos, 1);
	CHECK_EQ(nmis, 1);
}

TEST(madt_1_cpu) { check_madt(1); }
TEST(madt_2_cpus) { check_madt(2); }
TEST(madt_8_cpus) { check_madt(8); }
TEST(madt_255_cpus) { check_madt(255); }

/* The byte pattern acpi.c must emit for one device's _CRS contents. */
static size_t mmio_crs_pattern(uint8_t *p, const struct acpi_mmio_dev *d)
{
	size_t n = 0;
	p[n++] = 0x86; p[n++] = 9; p[n++] = 0; p[n++] = 1;   /* Memory32Fixed RW */
	for (int i = 0; i < 4; i++) p[n++] = (uint8_t)(d->base >> (8 * i));
	for (int i = 0; i < 4; i++) p[n++] = (uint8_t)(d->size >> (8 * i));
	p[n++] = 0x89; p[n++] = 6; p[n++] = 0;                 /* Extended IRQ */
	p[n++] = 0x03;                                         /* consumer, edge, high, excl */
	p[n++] = 1;
	for (int i = 0; i < 4; i++) p[n++] = (uint8_t)(d->gsi >> (8 * i));
	return n;
}

static int count_occurrences(const uint8_t *hay, size_t hlen, const void *needle, size_t nlen)
{
	int count = 0;
	const uint8_t *p = hay;
	while (p < hay + hlen) {
		const uint8_t *q = memmem(p, (size_t)(hay + hlen - p), needle, nlen);
		if (!q)
			break;
		count++;
		p = q + 1;
	}
	return count;
}

static void check_dsdt_devices(int ndevs)
{
	struct acpi_config c = make_config(2, ndevs);
	/* not all the same size, and above the first GSIs too */
	if (ndevs > 1)
		c.mmio_devs[ndevs - 1].size = 0x200;
	CHECK(build(&c) == 0);
	const uint8_t *d = dsdt();
	CHECK(d != NULL);
	if (!d)
		return;
	size_t len = le32(d + 4);
	CHECK_EQ(count_occurrences(d, len, "LNRO0005", 9), ndevs);
	for (int i = 0; i < ndevs; i++) {
		uint8_t pat[32];
		size_t n = mmio_crs_pattern(pat, &c.mmio_devs[i]);
		CHECK_EQ(count_occurrences(d, len, pat, n), 1);
		char name[5];
		snprintf(name, sizeof(name), "VR%02d", i);
		CHECK_EQ(count_occurrences(d, len, name, 4), 1);
	}
	CHECK_EQ(count_occurrences(d, len, "_S5_", 4), 1);
	CHECK_EQ(count_occurrences(d, len, "QEMU0001", 9), 1);
	CHECK_EQ(count_occurrences(d, len, "ACPI0013", 9), 1);
}

TEST(dsdt_no_devices) { check_dsdt_devices(0); }
TEST(dsdt_4_devices) { check_dsdt_devices(4); }
TEST(dsdt_16_devices) { check_dsdt_devices(16); }

TEST(rejects_bad_configs)
{
	struct acpi_config c;
	uint64_t r = 0;
	log_set_quiet(1);
	c = make_config(0, 1);
	CHECK_EQ(acpi_build(&c, tables, ACPI_TABLES_GPA, sizeof(tables), &r), 0);
	c = make_config(-1, 1);
	CHECK_EQ(acpi_build(&c, tables, ACPI_TABLES_GPA, sizeof(tables), &r), 0);
	c = make_config(256, 1);
	CHECK_EQ(acpi_build(&c, tables, ACPI_TABLES_GPA, sizeof(tables), &r), 0);
	c = make_config(1, 1);
	c.nr_mmio_devs = ACPI_MAX_MMIO_DEVS + 1;
	CHECK_EQ(acpi_build(&c, tables, ACPI_TABLES_GPA, sizeof(tables), &r), 0);
	c.nr_mmio_devs = -1;
	CHECK_EQ(acpi_build(&c, tables, ACPI_TABLES_GPA, sizeof(tables), &r), 0);
	c = make_config(1, 2);
	c.mmio_devs[1].gsi = c.mmio_devs[0].gsi;           /* shared GSI */
	CHECK_EQ(acpi_build(&c, tables, ACPI_TABLES_GPA, sizeof(tables), &r), 0);
	c = make_config(1, 2);
	c.mmio_devs[1].base = c.mmio_devs[0].base + 0x800; /* overlap */
	CHECK_EQ(acpi_build(&c, tables, ACPI_TABLES_GPA, sizeof(tables), &r), 0);
	c = make_config(1, 1);
	c.mmio_devs[0].gsi = 24;                           /* no such pin */
	CHECK_EQ(acpi_build(&c, tables, ACPI_TABLES_GPA, sizeof(tables), &r), 0);
	c.mmio_devs[0].gsi = IRQ_GED;
	CHECK_EQ(acpi_build(&c, tables, ACPI_TABLES_GPA, sizeof(tables), &r), 0);
	c.mmio_devs[0].gsi = IRQ_COM1;
	CHECK_EQ(acpi_build(&c, tables, ACPI_TABLES_GPA, sizeof(tables), &r), 0);
	c = make_config(1, 1);
	c.mmio_devs[0].size = 0;
	CHECK_EQ(acpi_build(&c, tables, ACPI_TABLES_GPA, sizeof(tables), &r), 0);
	c.mmio_devs[0].size = 0x1000;
	c.mmio_devs[0].base = 0xfffff800;                  /* crosses 4 GiB */
	CHECK_EQ(acpi_build(&c, tables, ACPI_TABLES_GPA, sizeof(tables), &r), 0);
	c.mmio_devs[0].base = UINT64_MAX - 10;             /* wraps */
	CHECK_EQ(acpi_build(&c, tables, ACPI_TABLES_GPA, sizeof(tables), &r), 0);
	c = make_config(1, 1);
	CHECK_EQ(acpi_build(NULL, tables, ACPI_TABLES_GPA, sizeof(tables), &r), 0);
	CHECK_EQ(acpi_build(&c, NULL, ACPI_TABLES_GPA, sizeof(tables), &r), 0);
	CHECK_EQ(acpi_build(&c, tables, ACPI_TABLES_GPA, sizeof(tables), NULL), 0);
	/* tables must lie below 4 GiB */
	CHECK_EQ(acpi_build(&c, tables, 0xffffff00ULL, sizeof(tables), &r), 0);
	CHECK_EQ(acpi_build(&c, tables, UINT64_MAX - 8, sizeof(tables), &r), 0);
	/* and the good config still works */
	CHECK(acpi_build(&c, tables, ACPI_TABLES_GPA, sizeof(tables), &r) > 0);
	log_set_quiet(0);
}

/* Every buffer size short of what is needed fails, without writing past
 * the end (an exact-size heap buffer lets ASan see any overrun). */
TEST(rejects_small_buffers)
{
	struct acpi_config c = make_config(8, 16);
	uint64_t r;
	size_t need = acpi_build(&c, tables, ACPI_TABLES_GPA, sizeof(tables), &r);
	CHECK(need > 0);
	log_set_quiet(1);
	for (size_t size = 0; size < need; size++) {
		uint8_t *b = malloc(size ? size : 1);
		if (!b)
			break;
		size_t got = acpi_build(&c, b, ACPI_TABLES_GPA, size, &r);
		free(b);
		if (got != 0) {
			CHECK_EQ(got, 0);
			break;
		}
	}
	uint8_t *b = malloc(need);
	CHECK(b && acpi_build(&c, b, ACPI_TABLES_GPA, need, &r) == need);
	free(b);
	log_set_quiet(0);
}

/* An unaligned buffer address still gets a 16-byte aligned RSDP. */
TEST(unaligned_base)
{
	struct acpi_config c = make_config(2, 2);
	uint64_t r;
	size_t n = acpi_build(&c, tables, ACPI_TABLES_GPA + 4, sizeof(tables), &r);
	CHECK(n > 0);
	CHECK_EQ(r % 16, 0);
	CHECK(r >= ACPI_TABLES_GPA + 4 && r < ACPI_TABLES_GPA + 4 + n);
}

/* ------------------------------ AML encoder ------------------------------ */

static size_t emit(uint8_t *out, size_t cap, void (*fn)(struct aml *))
{
	struct aml a;
	aml_init(&a, out, cap);
	fn(&a);
	return aml_ok(&a) ? a.len : 0;
}

static void emit_ints(struct aml *a)
{
	aml_integer(a, 0); aml_integer(a, 1); aml_integer(a, 0x12);
	aml_integer(a, 0x1234); aml_integer(a, 0x12345678);
	aml_integer(a, 0x123456789aULL);
}

TEST(aml_integers)
{
	uint8_t out[64];
	const uint8_t want[] = { 0x00, 0x01, 0x0a, 0x12, 0x0b, 0x34, 0x12,
		0x0c, 0x78, 0x56, 0x34, 0x12,
		0x0e, 0x9a, 0x78, 0x56, 0x34, 0x12, 0, 0, 0 };
	size_t n = emit(out, sizeof(out), emit_ints);
	CHECK_EQ(n, sizeof(want));
	CHECK(!memcmp(out, want, sizeof(want)));
}

static void emit_names(struct aml *a)
{
	aml_name_string(a, "_HID");
	aml_name_string(a, "\\_SB.PWRB");
	aml_name_string(a, "RTC");
	aml_name_string(a, "\\A.B.C");
	aml_eisaid(a, "PNP0501");
}

TEST(aml_names_and_eisaid)
{
	uint8_t out[64];
	const uint8_t want[] = { '_', 'H', 'I', 'D',
		0x5c, 0x2e, '_', 'S', 'B', '_', 'P', 'W', 'R', 'B',
		'R', 'T', 'C', '_',
		0x5c, 0x2f, 3, 'A', '_', '_', '_', 'B', '_', '_', '_', 'C', '_', '_', '_',
		0x0c, 0x41, 0xd0, 0x05, 0x01 };
	size_t n = emit(out, sizeof(out), emit_names);
	CHECK_EQ(n, sizeof(want));
	CHECK(!memcmp(out, want, sizeof(want)));

	struct aml a;
	const char *bad[] = { "abcd", "TOOLONG", "1ABC", "A..B", "A.", "" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		aml_init(&a, out, sizeof(out));
		aml_name_string(&a, bad[i]);
		/* "" is the NullName, the only valid one of these */
		CHECK(aml_ok(&a) == (bad[i][0] == 0));
	}
	aml_init(&a, out, sizeof(out));
	aml_eisaid(&a, "pnp0501");
	CHECK(!aml_ok(&a));
}

/* PkgLength: 1 byte up to 63, 2 bytes up to 4095, 3 bytes beyond. */
static size_t package_with_body(uint8_t *out, size_t cap, size_t body)
{
	struct aml a;
	aml_init(&a, out, cap);
	aml_mark m = aml_if_begin(&a);
	for (size_t i = 0; i < body; i++)
		aml_byte(&a, 0xa3);   /* Noop */
	aml_end(&a, m);
	return aml_ok(&a) ? a.len : 0;
}

TEST(aml_pkglength)
{
	static uint8_t out[70000];
	/* body 62: total 63, one byte */
	CHECK_EQ(package_with_body(out, sizeof(out), 62), 1 + 1 + 62);
	CHECK_EQ(out[1], 63);
	/* body 63: total 65, two bytes: lead 0x40 | (65 & 15), then 65 >> 4 */
	CHECK_EQ(package_with_body(out, sizeof(out), 63), 1 + 2 + 63);
	CHECK_EQ(out[1], 0x41); CHECK_EQ(out[2], 4);
	/* body 4093: total 4095, still two bytes */
	CHECK_EQ(package_with_body(out, sizeof(out), 4093), 1 + 2 + 4093);
	CHECK_EQ(out[1], 0x40 | 0xf); CHECK_EQ(out[2], 0xff);
	/* body 4094: 4096 does not fit two bytes; three: total 4097 */
	CHECK_EQ(package_with_body(out, sizeof(out), 4094), 1 + 3 + 4094);
	CHECK_EQ(out[1], 0x80 | 1); CHECK_EQ(out[2], 0); CHECK_EQ(out[3], 1);
	/* no room to insert the PkgLength: fails cleanly */
	CHECK_EQ(package_with_body(out, 1 + 63, 63), 0);
}

static void emit_resources(struct aml *a)
{
	aml_mark m = aml_resources_begin(a);
	aml_res_io(a, 0x3f8, 0x3f8, 0, 8);
	aml_res_irq_noflags(a, 4);
	aml_resources_end(a, m);
}

TEST(aml_resource_template)
{
	uint8_t out[64];
	size_t n = emit(out, sizeof(out), emit_resources);
	/* Buffer(PkgLength, BufferSize 13) { IO, IRQ, EndTag } */
	CHECK_EQ(n, 1 + 1 + 2 + 13);
	CHECK_EQ(out[0], 0x11);
	CHECK_EQ(out[1], 1 + 2 + 13);
	CHECK_EQ(out[2], 0x0a); CHECK_EQ(out[3], 13);
	const uint8_t io[] = { 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x00, 0x08 };
	CHECK(!memcmp(out + 4, io, sizeof(io)));
	const uint8_t irq[] = { 0x22, 0x10, 0x00 };
	CHECK(!memcmp(out + 12, irq, sizeof(irq)));
	CHECK_EQ(out[15], 0x79);
	CHECK_EQ(sum8(out + 4, 13), 0);
}

/* --------------------------------- iasl ---------------------------------- */

static char *find_tool(const char *tool)
{
	const char *path = getenv("PATH");
	char *copy = strdup(path ? path : "/usr/bin:/bin");
	char *res = NULL, *save = NULL;
	for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *cand;
		if (asprintf(&cand, "%s/%s", dir, tool) < 0)
			break;
		if (access(cand, X_OK) == 0) {
			res = cand;
			break;
		}
		free(cand);
	}
	free(copy);
	return res;
}

static int write_blob(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(p, 1, n, f);
	return (fclose(f) == 0 && w == n) ? 0 : -1;
}

static char *slurp(const char *path)
{
	void *buf;
	size_t len;
	if (read_file(path, &buf, &len) < 0)
		return NULL;
	char *s = realloc(buf, len + 1);
	if (!s) {
		free(buf);
		return NULL;
	}
	s[len] = 0;
	return s;
}

/* Runs "iasl -d NAME.dat" in dir; returns its .dsl text (malloc'd) if iasl
 * exited 0 and reported no errors, else NULL after printing why. */
static char *iasl_decompile(const char *iasl, const char *dir, const char *name)
{
	char *cmd = NULL, *log = NULL, *dsl = NULL, *out = NULL, *text = NULL;
	if (asprintf(&cmd, "cd '%s' && '%s' -d %s.dat > %s.log 2>&1", dir, iasl, name, name) < 0 ||
	    asprintf(&log, "%s/%s.log", dir, name) < 0 ||
	    asprintf(&dsl, "%s/%s.dsl", dir, name) < 0)
		goto out;
	int st = system(cmd);
	out = slurp(log);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		printf("  iasl -d %s failed (status %d):\n%s\n", name, st, out ? out : "");
		goto out;
	}
	/* iasl reports problems as "Error"/"Warning" lines; none expected */
	if (!out || strstr(out, "Error") || strstr(out, "Warning") ||
	    strstr(out, "Invalid") || strstr(out, "Incorrect checksum")) {
		printf("  iasl -d %s complained:\n%s\n", name, out ? out : "(no output)");
		goto out;
	}
	text = slurp(dsl);
	if (!text)
		printf("  iasl -d %s: no %s\n", name, dsl);
	else if (strstr(text, "Incorrect checksum") || strstr(text, "**** ")) {
		printf("  iasl -d %s: decompiled text flags a problem:\n%s\n", name, text);
		free(text);
		text = NULL;
	}
out:
	free(cmd); free(log); free(dsl); free(out);
	return text;
}

/* Runs a shell command; returns its output (malloc'd) and sets *ok if it
 * exited 0. */
static char *run(const char *dir, const char *cmdline, const char *logname, bool *ok)
{
	char *cmd = NULL, *log = NULL, *out = NULL;
	*ok = false;
	if (asprintf(&log, "%s/%s", dir, logname) < 0)
		return NULL;
	if (asprintf(&cmd, "cd '%s' && %s > '%s' 2>&1", dir, cmdline, log) < 0) {
		free(log);
		return NULL;
	}
	int st = system(cmd);
	*ok = st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	out = slurp(log);
	free(cmd);
	free(log);
	return out;
}

/* Recompile NAME.dsl (iasl's decompile) to re_NAME.aml; returns the AML
 * (malloc'd, *len set) if iasl reported no errors or warnings. */
static uint8_t *iasl_recompile(const char *iasl, const char *dir, const char *name,
			       size_t *len)
{
	char *cmd = NULL, *path = NULL;
	void *aml = NULL;
	bool ok;
	if (asprintf(&cmd, "'%s' -p re_%s %s.dsl", iasl, name, name) < 0)
		return NULL;
	char *out = run(dir, cmd, "recompile.log", &ok);
	if (!ok || !out || !strstr(out, "Compilation successful") ||
	    !strstr(out, "0 Errors, 0 Warnings")) {
		printf("  iasl could not recompile %s.dsl:\n%s\n", name, out ? out : "");
	} else if (asprintf(&path, "%s/re_%s.aml", dir, name) < 0 ||
		   read_file(path, &aml, len) < 0) {
		printf("  no recompiled re_%s.aml\n", name);
		aml = NULL;
	}
	free(cmd); free(out); free(path);
	return aml;
}

/* The same table, except the fields iasl fills in itself: checksum (9),
 * compiler ID and revision (28..35). */
static bool same_table_data(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		if (i == 9 || (i >= 28 && i < 36))
			continue;
		if (a[i] != b[i]) {
			printf("  byte %zu differs: 0x%02x vs 0x%02x\n", i, a[i], b[i]);
			return false;
		}
	}
	return true;
}

/* iasl 20200925's disassembler does not accept an RSDP file, so describe
 * ours to iasl's data-table compiler and require the same 36 bytes,
 * checksums included. */
static void check_rsdp_with_iasl(const char *iasl, const char *dir, const uint8_t *r)
{
	char *src = NULL, *path = NULL, *cmd = NULL;
	void *aml = NULL;
	size_t len = 0;
	bool ok;
	if (asprintf(&src,
		     "[0008] Signature : \"RSD PTR \"\n"
		     "[0001] Checksum : 00\n"
		     "[0006] Oem ID : \"%.6s\"\n"
		     "[0001] Revision : %02X\n"
		     "[0004] RSDT Address : %08X\n"
		     "[0004] Length : %08X\n"
		     "[0008] XSDT Address : %016llX\n"
		     "[0001] Extended Checksum : 00\n"
		     "[0003] Reserved : 000000\n",
		     (const char *)r + 9, r[15], le32(r + 16), le32(r + 20),
		     (unsigned long long)le64(r + 24)) < 0 ||
	    asprintf(&path, "%s/rsdp_ref.asl", dir) < 0 ||
	    asprintf(&cmd, "'%s' rsdp_ref.asl", iasl) < 0) {
		CHECK(!"out of memory");
		goto out;
	}
	CHECK(write_blob(path, src, strlen(src)) == 0);
	char *log = run(dir, cmd, "rsdp_ref.log", &ok);
	if (!ok)
		printf("  iasl rsdp_ref.asl failed:\n%s\n", log ? log : "");
	CHECK(ok);
	free(log);
	free(path);
	path = NULL;
	if (asprintf(&path, "%s/rsdp_ref.aml", dir) < 0 || read_file(path, &aml, &len) < 0) {
		CHECK(!"no rsdp_ref.aml");
		goto out;
	}
	CHECK_EQ(len, 36);
	CHECK(len == 36 && !memcmp(aml, r, 36));
out:
	free(src); free(path); free(cmd); free(aml);
}

TEST(iasl_decompile)
{
	char *iasl = find_tool("iasl");
	if (!iasl)
		SKIP("iasl not installed (Debian package acpica-tools)");
	char dir[] = "/tmp/capvm-acpi-XXXXXX";
	if (!mkdtemp(dir)) {
		free(iasl);
		CHECK(!"mkdtemp failed");
		return;
	}
	struct acpi_config c = make_config(2, 4);
	CHECK(build(&c) == 0);
	const uint8_t *r = at(rsdp_gpa, 36);
	CHECK(r != NULL);
	if (r)
		check_rsdp_with_iasl(iasl, dir, r);

	struct { const char *name; const uint8_t *t; } blobs[] = {
		{ "xsdt", xsdt() },
		{ "facp", find_table("FACP") },
		{ "apic", find_table("APIC") },
		{ "dsdt", dsdt() },
	};
	for (size_t i = 0; i < ARRAY_SIZE(blobs); i++) {
		const char *name = blobs[i].name;
		CHECK(blobs[i].t != NULL);
		if (!blobs[i].t)
			continue;
		size_t len = le32(blobs[i].t + 4);
		char *path;
		CHECK(asprintf(&path, "%s/%s.dat", dir, name) > 0);
		CHECK(write_blob(path, blobs[i].t, len) == 0);
		free(path);
		char *text = iasl_decompile(iasl, dir, name);
		CHECK(text != NULL);
		if (!text)
			continue;
		if (!strcmp(name, "dsdt")) {
			CHECK(strstr(text, "LNRO0005") != NULL);
			CHECK(strstr(text, "_S5") != NULL);
			CHECK(strstr(text, "QEMU0001") != NULL);
			CHECK(strstr(text, "ACPI0013") != NULL);
			CHECK(strstr(text, "PNP0501") != NULL);
			CHECK(strstr(text, "PNP0B00") != NULL);
			CHECK(strstr(text, "PNP0C0C") != NULL);
			CHECK(strstr(text, "If ((Arg0 == 0x09))") != NULL);
			CHECK(strstr(text, "Notify (\\_SB.PWRB, 0x80)") != NULL);
			CHECK(strstr(text, "Memory32Fixed (ReadWrite,") != NULL);
			CHECK(strstr(text, "0xD0003000,") != NULL);    /* 4th device */
			CHECK(strstr(text, "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )") != NULL);
			CHECK(strstr(text, "0x00000013,") != NULL);    /* GSI 19 */
		}
		if (!strcmp(name, "facp")) {
			CHECK(strstr(text, "Hardware Reduced (V5) : 1") != NULL);
			CHECK(strstr(text, "CMOS RTC Not Present (V5) : 0") != NULL);
			CHECK(strstr(text, "Reset Register Supported (V2) : 1") != NULL);
		}
		if (!strcmp(name, "apic"))
			CHECK(strstr(text, "[Local APIC NMI]") != NULL);
		free(text);

		/* iasl's text must compile back; data tables to the same bytes */
		size_t relen = 0;
		uint8_t *re = iasl_recompile(iasl, dir, name, &relen);
		CHECK(re != NULL);
		if (re && strcmp(name, "dsdt"))
			CHECK(same_table_data(blobs[i].t, len, re, relen));
		free(re);
	}
	/* keep the directory for inspection if something failed */
	if (!test_case_failed) {
		char *cmd;
		if (asprintf(&cmd, "rm -rf '%s'", dir) > 0) {
			if (system(cmd) != 0)
				printf("  could not remove %s\n", dir);
			free(cmd);
		}
	} else {
		printf("  iasl files kept in %s\n", dir);
	}
	free(iasl);
}

static int count_str(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/*
 * Load the tables into ACPICA's interpreter (acpiexec, the code Linux
 * runs) and evaluate what the guest will: \_S5, the GED's _EVT for its own
 * and another GSI (only its own must notify the power button), and a
 * virtio device's _CRS through ACPICA's resource manager.
 */
TEST(acpiexec_namespace)
{
	char *acpiexec = find_tool("acpiexec");
	if (!acpiexec)
		SKIP("acpiexec not installed (Debian package acpica-tools)");
	char dir[] = "/tmp/capvm-acpi-XXXXXX";
	if (!mkdtemp(dir)) {
		free(acpiexec);
		CHECK(!"mkdtemp failed");
		return;
	}
	struct acpi_config c = make_config(2, 4);
	CHECK(build(&c) == 0);
	const struct { const char *name; const uint8_t *t; } blobs[] = {
		{ "dsdt", dsdt() }, { "facp", find_table("FACP") }, { "apic", find_table("APIC") },
	};
	for (size_t i = 0; i < ARRAY_SIZE(blobs); i++) {
		char *path;
		CHECK(blobs[i].t != NULL);
		if (!blobs[i].t || asprintf(&path, "%s/%s.dat", dir, blobs[i].name) < 0)
			goto out;
		CHECK(write_blob(path, blobs[i].t, le32(blobs[i].t + 4)) == 0);
		free(path);
	}
	char *cmd;
	bool ok;
	if (asprintf(&cmd, "'%s' -b 'evaluate \\_SB.GED._EVT 5; evaluate \\_SB.GED._EVT %d; "
		     "evaluate \\_S5; evaluate \\_SB.PEVT._STA; resources \\_SB.VR03' "
		     "dsdt.dat facp.dat apic.dat", acpiexec, IRQ_GED) < 0)
		goto out;
	char *o = run(dir, cmd, "acpiexec.log", &ok);
	free(cmd);
	CHECK(ok && o);
	if (o) {
		CHECK(strstr(o, "Table [DSDT: CAPVMTBL]") != NULL);
		CHECK_EQ(count_str(o, "Received a Device Notify on [PWRB]"), 1);
		CHECK(strstr(o, "[PWRB]") && strstr(strstr(o, "[PWRB]"), "Value 0x80"));
		CHECK(strstr(o, "[Package] Contains 4 Elements") != NULL);
		CHECK(strstr(o, "[Integer] = 0000000000000005") != NULL);
		CHECK(strstr(o, "[Integer] = 000000000000000F") != NULL);
		CHECK(strstr(o, "Address : D0003000") != NULL);
		CHECK(strstr(o, "Address Length : 00001000") != NULL);
		CHECK(strstr(o, "Triggering : Edge") != NULL);
		CHECK(strstr(o, "Dword00 : 00000013") != NULL);
		CHECK(!strstr(o, "ACPI Error") && !strstr(o, "Exception") &&
		      !strstr(o, "failed with status"));
		if (test_case_failed)
			printf("%s\n", o);
	}
	free(o);
out:
	if (!test_case_failed) {
		if (asprintf(&cmd, "rm -rf '%s'", dir) > 0) {
			if (system(cmd) != 0)
				printf("  could not remove %s\n", dir);
			free(cmd);
		}
	} else {
		printf("  files kept in %s\n", dir);
	}
	free(acpiexec);
}

/*
 * "test_acpi --write-tables FILE GPA CPUS DEVS" writes the tables for that
 * config, built for guest address GPA, to FILE (used by
 * tests/e2e/acpi_stock_kernel.sh to boot a stock kernel on them).
 */
static int write_tables(char **argv)
{
	uint64_t gpa, cpus, devs, r;
	if (parse_uint(argv[1], 0, UINT32_MAX, &gpa) < 0 ||
	    parse_uint(argv[2], 1, 255, &cpus) < 0 ||
	    parse_uint(argv[3], 0, ACPI_MAX_MMIO_DEVS, &devs) < 0) {
		fprintf(stderr, "usage: test_acpi --write-tables FILE GPA CPUS DEVS\n");
		return 2;
	}
	struct acpi_config c = make_config((int)cpus, (int)devs);
	size_t n = acpi_build(&c, tables, gpa, sizeof(tables), &r);
	if (!n || write_blob(argv[0], tables, n) < 0) {
		fprintf(stderr, "cannot build or write the tables\n");
		return 1;
	}
	printf("rsdp=0x%llx size=%zu\n", (unsigned long long)r, n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && !strcmp(argv[1], "--write-tables"))
		return write_tables(argv + 2);
	RUN(rsdp);
	RUN(xsdt_entries);
	RUN(fadt_fields);
	RUN(madt_1_cpu);
	RUN(madt_2_cpus);
	RUN(madt_8_cpus);
	RUN(madt_255_cpus);
	RUN(dsdt_no_devices);
	RUN(dsdt_4_devices);
	RUN(dsdt_16_devices);
	RUN(rejects_bad_configs);
	RUN(rejects_small_buffers);
	RUN(unaligned_base);
	RUN(aml_integers);
	RUN(aml_names_and_eisaid);
	RUN(aml_pkglength);
	RUN(aml_resource_template);
	RUN(iasl_decompile);
	RUN(acpiexec_namespace);
	return test_exit();
}
