/*
 * A small emitter of ACPI Machine Language (AML) byte code, enough to build
 * the DSDT that acpi.c needs: scopes, devices, names, integers, strings,
 * EISA IDs, packages, simple methods (If/LEqual/Notify) and resource
 * templates (I/O ports, IRQs, fixed 32-bit memory, extended interrupts).
 *
 * The emitter writes into a caller-supplied fixed buffer and never
 * allocates.  Any error (buffer full, malformed name) sets a sticky flag
 * that the caller checks once at the end with aml_ok().
 *
 * Nested objects with a PkgLength (Scope, Device, Method, Package, If,
 * Buffer) are written as "begin ... end": begin returns a mark, end
 * computes the length of what was written since and inserts the PkgLength
 * encoding (1 to 4 bytes) in front of it.
 */
#ifndef CAPVM_X86_AML_H
#define CAPVM_X86_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *data;
	size_t len;
	size_t cap;
	bool failed;
};

/* Mark returned by the *_begin functions, consumed by the matching end. */
typedef size_t aml_mark;

void aml_init(struct aml *a, void *mem, size_t cap);
static inline bool aml_ok(const struct aml *a) { return !a->failed; }

/* Raw bytes. */
void aml_byte(struct aml *a, uint8_t b);
void aml_bytes(struct aml *a, const void *p, size_t n);

/* Data objects. */
void aml_integer(struct aml *a, uint64_t v);   /* shortest encoding */
void aml_string(struct aml *a, const char *s); /* StringPrefix ... NUL */
void aml_eisaid(struct aml *a, const char *id);/* "PNP0501" -> DWordConst */
/* NameString: "\\_SB.PWRB", "_HID", "VR00"; segments shorter than four
 * characters are padded with '_'. */
void aml_name_string(struct aml *a, const char *path);

/* Name(name, <object written next by the caller>) */
void aml_name(struct aml *a, const char *name);
/* Shorthands for Name(name, Integer/String/EISAID). */
void aml_name_integer(struct aml *a, const char *name, uint64_t v);
void aml_name_string_obj(struct aml *a, const char *name, const char *s);
void aml_name_eisaid(struct aml *a, const char *name, const char *id);

/* Scope(name) { ... }, Device(name) { ... } */
aml_mark aml_scope_begin(struct aml *a, const char *name);
aml_mark aml_device_begin(struct aml *a, const char *name);
/* Method(name, nargs, NotSerialized or Serialized) { ... } */
aml_mark aml_method_begin(struct aml *a, const char *name, unsigned nargs,
			  bool serialized);
/* Package(nelems) { ... } */
aml_mark aml_package_begin(struct aml *a, unsigned nelems);
/* If (<predicate written next>) { ... } */
aml_mark aml_if_begin(struct aml *a);
/* Closes Scope, Device, Method, Package and If. */
void aml_end(struct aml *a, aml_mark m);

/* Expressions and statements used inside methods. */
void aml_lequal(struct aml *a);           /* LEqual(<op1>, <op2>) follow */
void aml_arg(struct aml *a, unsigned n);  /* Arg0..Arg6 */
void aml_notify(struct aml *a, const char *target, uint64_t value);

/*
 * ResourceTemplate() { ... }: a Buffer holding resource descriptors and an
 * EndTag whose checksum byte makes the descriptors sum to zero.
 */
aml_mark aml_resources_begin(struct aml *a);
void aml_resources_end(struct aml *a, aml_mark m);
/* IO(Decode16, min, max, align, len) */
void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align,
		uint8_t len);
/* IRQNoFlags() { irq } (ISA IRQ 0..15, edge, active high) */
void aml_res_irq_noflags(struct aml *a, unsigned irq);
/* Memory32Fixed(ReadWrite or ReadOnly, base, size) */
void aml_res_memory32_fixed(struct aml *a, uint32_t base, uint32_t size,
			    bool read_write);
/* Interrupt(ResourceConsumer, Edge|Level, ActiveHigh|ActiveLow,
 *           Exclusive|Shared) { gsi } */
void aml_res_interrupt(struct aml *a, bool edge, bool active_low, bool shared,
		       uint32_t gsi);

#endif
