/*
 * ACPI tables for a capvm x86 guest (see acpi.h and docs/acpi.md).
 *
 * A stock Linux kernel without device tree learns about everything that is
 * not PC-standard from ACPI: here the virtio-mmio devices (_HID LNRO0005),
 * pvpanic, the power button and how to power off and reset.  The platform
 * is "hardware-reduced" ACPI (FADT flag HW_REDUCED_ACPI): no PM1/GPE blocks,
 * no SCI, no PM timer, no FACS; power-off and reset go through the FADT's
 * sleep control and reset registers, which are byte-wide I/O ports that
 * the VMM decodes.  Layout in the buffer, each table 16-byte aligned:
 *
 *   RSDP -> XSDT -> { FADT -> DSDT, MADT }
 *
 * Everything is built into the caller's buffer without allocation; the
 * writer records overflow instead of failing at each step, and
 * acpi_build() returns 0 if anything did not fit or the config is bad.
 */
#include "arch/x86/acpi.h"

#include <string.h>

#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "common/log.h"
#include "common/util.h"

#define ACPI_OEM_ID        "CAPVM "     /* 6 bytes */
#define ACPI_OEM_TABLE_ID  "CAPVMTBL"   /* 8 bytes */
#define ACPI_OEM_REVISION  1
#define ACPI_CREATOR_ID    "CAPV"       /* 4 bytes */
#define ACPI_CREATOR_REV   1
#define ACPI_HYPERVISOR_ID "CAPVM   "   /* FADT Hypervisor Vendor Identity */

#define ACPI_HEADER_SIZE   36
#define RSDP_SIZE          36
#define FADT_SIZE          276          /* ACPI 6.0+ FADT */
#define FADT_REVISION      6
#define FADT_MINOR_REVISION 3           /* ACPI 6.3 layout (unchanged in 6.5) */
#define MADT_REVISION      5
#define DSDT_REVISION      2            /* 2+: AML integers are 64-bit */

/* KVM's in-kernel IOAPIC has 24 pins, GSIs 0..23. */
#define IOAPIC_PINS        24
/* The IOAPIC ID: KVM's IOAPIC resets its ID register to 0 (as QEMU's pc
 * machine also declares); IOAPIC and local APIC IDs are separate
 * namespaces on xAPIC systems, so 0 does not clash with CPU 0. */
#define IOAPIC_ID          0

/* FADT Flags (ACPI 6.x, table 5.10) */
#define FADT_F_WBINVD          (1u << 0)
#define FADT_F_RESET_REG_SUP   (1u << 10)
#define FADT_F_HW_REDUCED_ACPI (1u << 20)
/* FADT IAPC_BOOT_ARCH (table 5.11) */
#define FADT_BOOT_VGA_NOT_PRESENT (1u << 2)
/* The century register of the CMOS RTC (src/arch/x86/rtc.c implements it). */
#define CMOS_CENTURY_REG   0x32

/* Generic Address Structure address space IDs and access sizes */
#define GAS_SYSTEM_IO      1
#define GAS_ACCESS_BYTE    1

/* MADT (table 5.43 ff.) */
#define MADT_LOCAL_APIC    0
#define MADT_IO_APIC       1
#define MADT_INT_OVERRIDE  2
#define MADT_LAPIC_NMI     4
#define MADT_LAPIC_ENABLED 1u
/* MPS INTI flags: polarity bits 1:0 (01 = active high), trigger bits 3:2
 * (01 = edge) */
#define MPS_INTI_EDGE_HIGH 0x0005
#define ACPI_ALL_PROCESSORS 0xff

/* -------- a bounded little-endian writer over the output buffer -------- */

struct writer {
	uint8_t *buf;
	size_t size;
	size_t pos;
	bool overflow;
};

/* Reserve n zeroed bytes at the current position; NULL on overflow. */
static uint8_t *w_reserve(struct writer *w, size_t n)
{
	if (w->overflow || n > w->size - w->pos) {
		w->overflow = true;
		return NULL;
	}
	uint8_t *p = w->buf + w->pos;
	memset(p, 0, n);
	w->pos += n;
	return p;
}

/* Pad so that the next table starts at a 16-byte aligned guest address. */
static void w_align(struct writer *w, uint64_t buf_gpa)
{
	uint64_t gpa = buf_gpa + w->pos;
	size_t pad = (size_t)(ALIGN_UP(gpa, 16) - gpa);
	w_reserve(w, pad);
}

static void put8(uint8_t *p, size_t off, uint8_t v) { p[off] = v; }
static void put16(uint8_t *p, size_t off, uint16_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, size_t off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[off + i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, size_t off, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[off + i] = (uint8_t)(v >> (8 * i));
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)(0x100 - sum);
}

/* Standard table header; length and checksum are filled by finish_table. */
static void put_header(uint8_t *t, const char sig[4], uint8_t revision)
{
	memcpy(t, sig, 4);
	put8(t, 8, revision);
	memcpy(t + 10, ACPI_OEM_ID, 6);
	memcpy(t + 16, ACPI_OEM_TABLE_ID, 8);
	put32(t, 24, ACPI_OEM_REVISION);
	memcpy(t + 28, ACPI_CREATOR_ID, 4);
	put32(t, 32, ACPI_CREATOR_REV);
}

static void finish_table(uint8_t *t, size_t len)
{
	put32(t, 4, (uint32_t)len);
	t[9] = 0;
	t[9] = checksum(t, len);
}

/* Generic Address Structure for a byte-wide I/O port. */
static void put_gas_io8(uint8_t *p, size_t off, uint16_t port)
{
	put8(p, off + 0, GAS_SYSTEM_IO);
	put8(p, off + 1, 8);                /* register bit width */
	put8(p, off + 2, 0);                /* bit offset */
	put8(p, off + 3, GAS_ACCESS_BYTE);
	put64(p, off + 4, port);
}

/* ------------------------------- config ------------------------------- */

static bool gsi_reserved(uint32_t gsi)
{
	/* 0: PIT/timer, 2: IRQ0's override target, the UART, the GED */
	return gsi == 0 || gsi == 2 || gsi == IRQ_COM1 || gsi == IRQ_GED;
}

static bool config_valid(const struct acpi_config *cfg)
{
	/* APIC IDs 0..nr_cpus-1 must stay below the xAPIC broadcast ID 0xff */
	if (cfg->nr_cpus < 1 || cfg->nr_cpus > 255) {
		log_error("acpi", "invalid CPU count %d (1..255)", cfg->nr_cpus);
		return false;
	}
	if (cfg->nr_mmio_devs < 0 || cfg->nr_mmio_devs > ACPI_MAX_MMIO_DEVS) {
		log_error("acpi", "invalid virtio-mmio device count %d (0..%d)",
			  cfg->nr_mmio_devs, ACPI_MAX_MMIO_DEVS);
		return false;
	}
	for (int i = 0; i < cfg->nr_mmio_devs; i++) {
		const struct acpi_mmio_dev *d = &cfg->mmio_devs[i];
		/* Memory32Fixed: the whole window must lie below 4 GiB */
		if (d->size == 0 || !range_within(d->base, d->size, 4 * GiB)) {
			log_error("acpi", "virtio-mmio device %d: bad window "
				  "0x%llx+0x%llx", i, (unsigned long long)d->base,
				  (unsigned long long)d->size);
			return false;
		}
		if (d->gsi >= IOAPIC_PINS || gsi_reserved(d->gsi)) {
			log_error("acpi", "virtio-mmio device %d: GSI %u unusable",
				  i, d->gsi);
			return false;
		}
		for (int j = 0; j < i; j++) {
			const struct acpi_mmio_dev *e = &cfg->mmio_devs[j];
			if (e->gsi == d->gsi) {
				log_error("acpi", "virtio-mmio devices %d and %d "
					  "share GSI %u", j, i, d->gsi);
				return false;
			}
			if (d->base < e->base + e->size && e->base < d->base + d->size) {
				log_error("acpi", "virtio-mmio devices %d and %d "
					  "overlap", j, i);
				return false;
			}
		}
	}
	return true;
}

/* -------------------------------- DSDT -------------------------------- */

static void dsdt_com1(struct aml *a)
{
	aml_mark dev = aml_device_begin(a, "COM1");
	aml_name_eisaid(a, "_HID", "PNP0501");
	aml_name_integer(a, "_UID", 0);
	aml_name(a, "_CRS");
	aml_mark crs = aml_resources_begin(a);
	aml_res_io(a, PORT_COM1, PORT_COM1, 0, 8);
	aml_res_irq_noflags(a, IRQ_COM1);
	aml_resources_end(a, crs);
	aml_end(a, dev);
}

/*
 * The CMOS RTC as a PNP device.  Linux's rtc_cmos binds to PNP0B00
 * through PNPACPI; without it, x86 registers a fallback platform device
 * anyway (unless the FADT says "no CMOS RTC"), so this mainly makes the
 * RTC visible in the namespace.  No IRQ: the VMM's RTC raises none.
 */
static void dsdt_rtc(struct aml *a)
{
	aml_mark dev = aml_device_begin(a, "RTC");
	aml_name_eisaid(a, "_HID", "PNP0B00");
	aml_name(a, "_CRS");
	aml_mark crs = aml_resources_begin(a);
	aml_res_io(a, PORT_RTC_INDEX, PORT_RTC_INDEX, 1, 2);
	aml_resources_end(a, crs);
	aml_end(a, dev);
}

/* pvpanic, bound by Linux's pvpanic-mmio driver (ACPI id QEMU0001). */
static void dsdt_pvpanic(struct aml *a)
{
	aml_mark dev = aml_device_begin(a, "PEVT");
	aml_name_string_obj(a, "_HID", "QEMU0001");
	aml_name_integer(a, "_STA", 0x0f);
	aml_name(a, "_CRS");
	aml_mark crs = aml_resources_begin(a);
	aml_res_io(a, PORT_PVPANIC, PORT_PVPANIC, 1, 1);
	aml_resources_end(a, crs);
	aml_end(a, dev);
}

/*
 * Power button: a Generic Event Device whose interrupt IRQ_GED runs
 * _EVT(gsi), which notifies the PNP0C0C button device with 0x80 ("button
 * pressed"); Linux's button driver turns that into KEY_POWER.
 */
static void dsdt_power_button(struct aml *a)
{
	aml_mark dev = aml_device_begin(a, "GED");
	aml_name_string_obj(a, "_HID", "ACPI0013");
	aml_name_integer(a, "_UID", 0);
	aml_name(a, "_CRS");
	aml_mark crs = aml_resources_begin(a);
	aml_res_interrupt(a, true, false, false, IRQ_GED);
	aml_resources_end(a, crs);
	aml_mark evt = aml_method_begin(a, "_EVT", 1, false);
	aml_mark cond = aml_if_begin(a);
	aml_lequal(a);
	aml_arg(a, 0);
	aml_integer(a, IRQ_GED);
	aml_notify(a, "\\_SB.PWRB", 0x80);
	aml_end(a, cond);
	aml_end(a, evt);
	aml_end(a, dev);

	dev = aml_device_begin(a, "PWRB");
	aml_name_eisaid(a, "_HID", "PNP0C0C");
	aml_name_integer(a, "_UID", 0);
	aml_end(a, dev);
}

static void dsdt_virtio_mmio(struct aml *a, int index, const struct acpi_mmio_dev *d)
{
	char name[5] = { 'V', 'R', (char)('0' + index / 10), (char)('0' + index % 10), 0 };
	aml_mark dev = aml_device_begin(a, name);
	aml_name_string_obj(a, "_HID", "LNRO0005");
	aml_name_integer(a, "_UID", (uint64_t)index);
	aml_name_integer(a, "_CCA", 1);       /* cache-coherent DMA */
	aml_name(a, "_CRS");
	aml_mark crs = aml_resources_begin(a);
	aml_res_memory32_fixed(a, (uint32_t)d->base, (uint32_t)d->size, true);
	/* Edge: the VMM signals by pulsing the line (KVM irqfd). */
	aml_res_interrupt(a, true, false, false, d->gsi);
	aml_resources_end(a, crs);
	aml_end(a, dev);
}

/* Writes the AML body of the DSDT; returns its length, 0 if it did not fit. */
static size_t dsdt_body(const struct acpi_config *cfg, uint8_t *mem, size_t cap)
{
	struct aml a;
	aml_init(&a, mem, cap);

	aml_mark sb = aml_scope_begin(&a, "\\_SB");
	dsdt_com1(&a);
	dsdt_rtc(&a);
	dsdt_pvpanic(&a);
	dsdt_power_button(&a);
	for (int i = 0; i < cfg->nr_mmio_devs; i++)
		dsdt_virtio_mmio(&a, i, &cfg->mmio_devs[i]);
	aml_end(&a, sb);

	/* \_S5: SLP_TYP for the sleep control register (only the first value
	 * is used on hardware-reduced platforms), then reserved values. */
	aml_name(&a, "\\_S5");
	aml_mark pkg = aml_package_begin(&a, 4);
	aml_integer(&a, ACPI_S5_SLP_TYP);
	aml_integer(&a, 0);
	aml_integer(&a, 0);
	aml_integer(&a, 0);
	aml_end(&a, pkg);

	return aml_ok(&a) ? a.len : 0;
}

/* ------------------------------- tables ------------------------------- */

static uint8_t *build_dsdt(struct writer *w, const struct acpi_config *cfg)
{
	if (w->overflow || w->size - w->pos < ACPI_HEADER_SIZE) {
		w->overflow = true;
		return NULL;
	}
	uint8_t *t = w->buf + w->pos;
	size_t body = dsdt_body(cfg, t + ACPI_HEADER_SIZE,
				w->size - w->pos - ACPI_HEADER_SIZE);
	if (!body) {
		w->overflow = true;
		return NULL;
	}
	memset(t, 0, ACPI_HEADER_SIZE);
	w->pos += ACPI_HEADER_SIZE + body;
	put_header(t, "DSDT", DSDT_REVISION);
	finish_table(t, ACPI_HEADER_SIZE + body);
	return t;
}

static uint8_t *build_fadt(struct writer *w, uint64_t dsdt_gpa)
{
	uint8_t *t = w_reserve(w, FADT_SIZE);
	if (!t)
		return NULL;
	put_header(t, "FACP", FADT_REVISION);
	put32(t, 40, (uint32_t)dsdt_gpa);      /* DSDT (32-bit) */
	put8(t, 45, 0);                        /* Preferred_PM_Profile: unspecified */
	put8(t, 108, CMOS_CENTURY_REG);        /* CENTURY */
	/* IAPC_BOOT_ARCH: no VGA.  Not set on purpose: "CMOS RTC not present"
	 * (we emulate it), "MSI not supported", "8042" (only the reset line of
	 * port 0x64 exists; Linux then skips probing for a keyboard). */
	put16(t, 109, FADT_BOOT_VGA_NOT_PRESENT);
	put32(t, 112, FADT_F_WBINVD | FADT_F_RESET_REG_SUP | FADT_F_HW_REDUCED_ACPI);
	put_gas_io8(t, 116, PORT_ACPI_RESET);  /* RESET_REG */
	put8(t, 128, ACPI_RESET_VALUE);        /* RESET_VALUE */
	put8(t, 131, FADT_MINOR_REVISION);
	put64(t, 140, dsdt_gpa);               /* X_DSDT */
	put_gas_io8(t, 244, PORT_ACPI_SLEEP_CTL);  /* SLEEP_CONTROL_REG */
	put_gas_io8(t, 256, PORT_ACPI_SLEEP_STS);  /* SLEEP_STATUS_REG */
	memcpy(t + 268, ACPI_HYPERVISOR_ID, 8);
	finish_table(t, FADT_SIZE);
	return t;
}

static uint8_t *build_madt(struct writer *w, int nr_cpus)
{
	size_t len = ACPI_HEADER_SIZE + 8 + 8 * (size_t)nr_cpus + 12 + 10 + 6;
	uint8_t *t = w_reserve(w, len);
	if (!t)
		return NULL;
	put_header(t, "APIC", MADT_REVISION);
	put32(t, 36, (uint32_t)LAPIC_GPA);
	/* Flags: PCAT_COMPAT off.  KVM does have an 8259 pair, but a
	 * hardware-reduced guest never uses it (Linux installs its null
	 * legacy PIC); every interrupt goes through the IOAPIC. */
	put32(t, 40, 0);
	size_t off = 44;
	for (int i = 0; i < nr_cpus; i++) {
		put8(t, off + 0, MADT_LOCAL_APIC);
		put8(t, off + 1, 8);
		put8(t, off + 2, (uint8_t)i);            /* ACPI processor UID */
		put8(t, off + 3, (uint8_t)i);            /* APIC ID */
		put32(t, off + 4, MADT_LAPIC_ENABLED);
		off += 8;
	}
	put8(t, off + 0, MADT_IO_APIC);
	put8(t, off + 1, 12);
	put8(t, off + 2, IOAPIC_ID);
	put32(t, off + 4, (uint32_t)IOAPIC_GPA);
	put32(t, off + 8, 0);                            /* GSI base */
	off += 12;
	/* ISA IRQ 0 (PIT) is wired to IOAPIC pin 2, as on PC hardware. */
	put8(t, off + 0, MADT_INT_OVERRIDE);
	put8(t, off + 1, 10);
	put8(t, off + 2, 0);                             /* bus: ISA */
	put8(t, off + 3, 0);                             /* source IRQ */
	put32(t, off + 4, 2);                            /* GSI */
	put16(t, off + 8, MPS_INTI_EDGE_HIGH);
	off += 10;
	/* NMI arrives on LINT1 of every local APIC. */
	put8(t, off + 0, MADT_LAPIC_NMI);
	put8(t, off + 1, 6);
	put8(t, off + 2, ACPI_ALL_PROCESSORS);
	put16(t, off + 3, 0);                            /* conforms to bus */
	put8(t, off + 5, 1);                             /* LINT1 */
	finish_table(t, len);
	return t;
}

static uint8_t *build_xsdt(struct writer *w, const uint64_t *entries, size_t n)
{
	size_t len = ACPI_HEADER_SIZE + 8 * n;
	uint8_t *t = w_reserve(w, len);
	if (!t)
		return NULL;
	put_header(t, "XSDT", 1);
	for (size_t i = 0; i < n; i++)
		put64(t, ACPI_HEADER_SIZE + 8 * i, entries[i]);
	finish_table(t, len);
	return t;
}

static void fill_rsdp(uint8_t *r, uint64_t xsdt_gpa)
{
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, ACPI_OEM_ID, 6);
	put8(r, 15, 2);                        /* revision 2: has XSDT */
	put32(r, 16, 0);                       /* no RSDT */
	put32(r, 20, RSDP_SIZE);
	put64(r, 24, xsdt_gpa);
	r[8] = checksum(r, 20);                /* ACPI 1.0 part */
	r[32] = checksum(r, RSDP_SIZE);        /* whole structure */
}

size_t acpi_build(const struct acpi_config *cfg, void *buf, uint64_t buf_gpa,
		  size_t buf_size, uint64_t *rsdp_gpa)
{
	if (!cfg || !buf || !rsdp_gpa || !config_valid(cfg))
		return 0;

	struct writer w = { .buf = buf, .size = buf_size };
	/* The RSDP must be 16-byte aligned; the tables follow it. */
	w_align(&w, buf_gpa);
	uint8_t *rsdp = w_reserve(&w, RSDP_SIZE);

	w_align(&w, buf_gpa);
	uint64_t dsdt_gpa = buf_gpa + w.pos;
	build_dsdt(&w, cfg);

	w_align(&w, buf_gpa);
	uint64_t fadt_gpa = buf_gpa + w.pos;
	build_fadt(&w, dsdt_gpa);

	w_align(&w, buf_gpa);
	uint64_t madt_gpa = buf_gpa + w.pos;
	build_madt(&w, cfg->nr_cpus);

	w_align(&w, buf_gpa);
	uint64_t xsdt_gpa = buf_gpa + w.pos;
	const uint64_t entries[] = { fadt_gpa, madt_gpa };
	build_xsdt(&w, entries, ARRAY_SIZE(entries));

	if (w.overflow) {
		log_error("acpi", "tables do not fit in %zu bytes", buf_size);
		return 0;
	}
	/* The FADT's 32-bit DSDT pointer needs the tables below 4 GiB. */
	if (!range_within(buf_gpa, w.pos, 4 * GiB)) {
		log_error("acpi", "tables at 0x%llx must lie below 4 GiB",
			  (unsigned long long)buf_gpa);
		return 0;
	}
	fill_rsdp(rsdp, xsdt_gpa);
	*rsdp_gpa = buf_gpa + (uint64_t)(rsdp - (uint8_t *)buf);
	return w.pos;
}
