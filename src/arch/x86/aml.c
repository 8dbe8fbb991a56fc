/*
 * AML byte-code emitter (see aml.h).  Encodings follow the ACPI 6.x
 * specification, section 20 ("ACPI Machine Language Specification") for
 * the opcodes, PkgLength and NameString, and section 6.4 ("Resource Data
 * Types for ACPI") for the resource descriptors.
 */
#include "arch/x86/aml.h"

#include <string.h>

/* Opcodes (ACPI 6.x, 20.3) */
#define AML_ZERO_OP        0x00
#define AML_ONE_OP         0x01
#define AML_NAME_OP        0x08
#define AML_BYTE_PREFIX    0x0A
#define AML_WORD_PREFIX    0x0B
#define AML_DWORD_PREFIX   0x0C
#define AML_STRING_PREFIX  0x0D
#define AML_QWORD_PREFIX   0x0E
#define AML_SCOPE_OP       0x10
#define AML_BUFFER_OP      0x11
#define AML_PACKAGE_OP     0x12
#define AML_METHOD_OP      0x14
#define AML_DUAL_NAME      0x2E
#define AML_MULTI_NAME     0x2F
#define AML_EXT_OP_PREFIX  0x5B
#define AML_DEVICE_OP      0x82   /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR      0x5C
#define AML_PARENT_CHAR    0x5E
#define AML_ARG0_OP        0x68
#define AML_NOTIFY_OP      0x86
#define AML_LEQUAL_OP      0x93
#define AML_IF_OP          0xA0

/* Resource descriptor tags (ACPI 6.x, 6.4) */
#define RES_IRQ_NOFLAGS    0x22   /* small IRQ descriptor, 2 data bytes */
#define RES_IO             0x47   /* small I/O port descriptor, 7 data bytes */
#define RES_END_TAG        0x79   /* small end tag, 1 data byte (checksum) */
#define RES_MEMORY32_FIXED 0x86   /* large, 9 data bytes */
#define RES_EXT_INTERRUPT  0x89   /* large extended interrupt descriptor */

/* PkgLength can describe at most 2^28 - 1 bytes. */
#define AML_PKGLEN_MAX     ((1u << 28) - 1)

void aml_init(struct aml *a, void *mem, size_t cap)
{
	a->data = mem;
	a->len = 0;
	a->cap = cap;
	a->failed = false;
}

static bool aml_room(struct aml *a, size_t n)
{
	if (a->failed || n > a->cap - a->len) {
		a->failed = true;
		return false;
	}
	return true;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (!aml_room(a, n))
		return;
	memcpy(a->data + a->len, p, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

static void aml_le(struct aml *a, uint64_t v, unsigned nbytes)
{
	uint8_t b[8];
	for (unsigned i = 0; i < nbytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	aml_bytes(a, b, nbytes);
}

/* Insert n bytes at offset pos, moving what follows. */
static void aml_insert(struct aml *a, size_t pos, const uint8_t *p, size_t n)
{
	if (pos > a->len) {
		a->failed = true;
		return;
	}
	if (!aml_room(a, n))
		return;
	memmove(a->data + pos + n, a->data + pos, a->len - pos);
	memcpy(a->data + pos, p, n);
	a->len += n;
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, AML_ZERO_OP);
	} else if (v == 1) {
		aml_byte(a, AML_ONE_OP);
	} else if (v <= 0xff) {
		aml_byte(a, AML_BYTE_PREFIX);
		aml_le(a, v, 1);
	} else if (v <= 0xffff) {
		aml_byte(a, AML_WORD_PREFIX);
		aml_le(a, v, 2);
	} else if (v <= 0xffffffff) {
		aml_byte(a, AML_DWORD_PREFIX);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, AML_QWORD_PREFIX);
		aml_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	/* AML strings are ASCII 0x01..0x7F, NUL-terminated. */
	for (const char *c = s; *c; c++) {
		if ((unsigned char)*c > 0x7f) {
			a->failed = true;
			return;
		}
	}
	aml_byte(a, AML_STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_hex_upper(char c) { return is_digit(c) || (c >= 'A' && c <= 'F'); }

void aml_eisaid(struct aml *a, const char *id)
{
	/*
	 * A compressed EISA ID: three letters of five bits each (A = 1),
	 * then four hex digits, stored so that the bytes in memory read
	 * in that order (the DWORD is big-endian by field).
	 */
	if (strlen(id) != 7 || !is_upper(id[0]) || !is_upper(id[1]) ||
	    !is_upper(id[2])) {
		a->failed = true;
		return;
	}
	for (int i = 3; i < 7; i++) {
		if (!is_hex_upper(id[i])) {
			a->failed = true;
			return;
		}
	}
	unsigned c1 = (unsigned)(id[0] - 0x40), c2 = (unsigned)(id[1] - 0x40),
		 c3 = (unsigned)(id[2] - 0x40);
	unsigned hex[4];
	for (int i = 0; i < 4; i++) {
		char c = id[3 + i];
		hex[i] = is_digit(c) ? (unsigned)(c - '0') : (unsigned)(c - 'A' + 10);
	}
	uint8_t b[4] = {
		(uint8_t)((c1 << 2) | (c2 >> 3)),
		(uint8_t)(((c2 & 7) << 5) | c3),
		(uint8_t)((hex[0] << 4) | hex[1]),
		(uint8_t)((hex[2] << 4) | hex[3]),
	};
	/* iasl always writes EISAID() as a DWordConst; do the same. */
	aml_byte(a, AML_DWORD_PREFIX);
	aml_bytes(a, b, 4);
}

/* Parse one NameSeg of 1..4 characters into seg (padded with '_'). */
static bool name_seg(const char *s, size_t n, uint8_t seg[4])
{
	if (n < 1 || n > 4)
		return false;
	if (!is_upper(s[0]) && s[0] != '_')
		return false;
	for (size_t i = 0; i < 4; i++) {
		char c = i < n ? s[i] : '_';
		if (!is_upper(c) && !is_digit(c) && c != '_')
			return false;
		seg[i] = (uint8_t)c;
	}
	return true;
}

void aml_name_string(struct aml *a, const char *path)
{
	const char *p = path;
	uint8_t segs[255][4];
	unsigned nsegs = 0;

	if (*p == '\\') {
		aml_byte(a, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == '^') {
			aml_byte(a, AML_PARENT_CHAR);
			p++;
		}
	}
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (nsegs == 255 || !name_seg(p, n, segs[nsegs])) {
			a->failed = true;
			return;
		}
		nsegs++;
		p += n;
		if (*p == '.') {
			p++;
			if (!*p) {  /* trailing dot */
				a->failed = true;
				return;
			}
		}
	}
	if (nsegs == 0) {
		aml_byte(a, 0x00);          /* NullName */
		return;
	}
	if (nsegs == 2) {
		aml_byte(a, AML_DUAL_NAME);
	} else if (nsegs > 2) {
		aml_byte(a, AML_MULTI_NAME);
		aml_byte(a, (uint8_t)nsegs);
	}
	aml_bytes(a, segs, 4 * (size_t)nsegs);
}

void aml_name(struct aml *a, const char *name)
{
	aml_byte(a, AML_NAME_OP);
	aml_name_string(a, name);
}

void aml_name_integer(struct aml *a, const char *name, uint64_t v)
{
	aml_name(a, name);
	aml_integer(a, v);
}

void aml_name_string_obj(struct aml *a, const char *name, const char *s)
{
	aml_name(a, name);
	aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *name, const char *id)
{
	aml_name(a, name);
	aml_eisaid(a, id);
}

aml_mark aml_scope_begin(struct aml *a, const char *name)
{
	aml_byte(a, AML_SCOPE_OP);
	aml_mark m = a->len;
	aml_name_string(a, name);
	return m;
}

aml_mark aml_device_begin(struct aml *a, const char *name)
{
	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	aml_mark m = a->len;
	aml_name_string(a, name);
	return m;
}

aml_mark aml_method_begin(struct aml *a, const char *name, unsigned nargs,
			  bool serialized)
{
	aml_byte(a, AML_METHOD_OP);
	aml_mark m = a->len;
	aml_name_string(a, name);
	if (nargs > 7)
		a->failed = true;
	/* MethodFlags: bits 0-2 ArgCount, bit 3 SerializeFlag, SyncLevel 0 */
	aml_byte(a, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
	return m;
}

aml_mark aml_package_begin(struct aml *a, unsigned nelems)
{
	aml_byte(a, AML_PACKAGE_OP);
	aml_mark m = a->len;
	if (nelems > 255)
		a->failed = true;
	aml_byte(a, (uint8_t)nelems);
	return m;
}

aml_mark aml_if_begin(struct aml *a)
{
	aml_byte(a, AML_IF_OP);
	return a->len;
}

/*
 * PkgLength (20.2.4): the length of the package including the PkgLength
 * bytes themselves.  One byte holds up to 63; otherwise bits 7-6 of the
 * lead byte give the number of following bytes (1..3), its bits 3-0 are
 * the least significant nibble and the following bytes the rest.
 */
void aml_end(struct aml *a, aml_mark m)
{
	if (a->failed)
		return;
	if (m > a->len) {
		a->failed = true;
		return;
	}
	size_t body = a->len - m;
	uint8_t enc[4];
	size_t n;

	if (body + 1 <= 63) {
		n = 1;
		enc[0] = (uint8_t)(body + 1);
	} else {
		size_t total = 0;
		for (n = 2; n <= 4; n++) {
			total = body + n;
			if (total < ((size_t)1 << (4 + 8 * (n - 1))))
				break;
		}
		if (n > 4 || total > AML_PKGLEN_MAX) {
			a->failed = true;
			return;
		}
		enc[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0f));
		for (size_t i = 1; i < n; i++)
			enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	aml_insert(a, m, enc, n);
}

void aml_lequal(struct aml *a)
{
	aml_byte(a, AML_LEQUAL_OP);
}

void aml_arg(struct aml *a, unsigned n)
{
	if (n > 6) {
		a->failed = true;
		return;
	}
	aml_byte(a, (uint8_t)(AML_ARG0_OP + n));
}

void aml_notify(struct aml *a, const char *target, uint64_t value)
{
	aml_byte(a, AML_NOTIFY_OP);
	aml_name_string(a, target);
	aml_integer(a, value);
}

aml_mark aml_resources_begin(struct aml *a)
{
	aml_byte(a, AML_BUFFER_OP);
	return a->len;
}

void aml_resources_end(struct aml *a, aml_mark m)
{
	if (a->failed)
		return;
	if (m > a->len) {
		a->failed = true;
		return;
	}
	/* EndTag checksum: all descriptor bytes, tag included, sum to 0. */
	uint8_t sum = RES_END_TAG;
	for (size_t i = m; i < a->len; i++)
		sum = (uint8_t)(sum + a->data[i]);
	aml_byte(a, RES_END_TAG);
	aml_byte(a, (uint8_t)(0x100 - sum));
	if (a->failed)
		return;

	/* DefBuffer := BufferOp PkgLength BufferSize ByteList */
	struct aml size_enc;
	uint8_t tmp[9];
	aml_init(&size_enc, tmp, sizeof(tmp));
	aml_integer(&size_enc, a->len - m);
	aml_insert(a, m, tmp, size_enc.len);
	aml_end(a, m);
}

void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align,
		uint8_t len)
{
	aml_byte(a, RES_IO);
	aml_byte(a, 0x01);            /* Decode16: full 16-bit address decode */
	aml_le(a, min, 2);
	aml_le(a, max, 2);
	aml_byte(a, align);
	aml_byte(a, len);
}

void aml_res_irq_noflags(struct aml *a, unsigned irq)
{
	if (irq > 15) {
		a->failed = true;
		return;
	}
	aml_byte(a, RES_IRQ_NOFLAGS);
	aml_le(a, 1u << irq, 2);
}

void aml_res_memory32_fixed(struct aml *a, uint32_t base, uint32_t size,
			    bool read_write)
{
	aml_byte(a, RES_MEMORY32_FIXED);
	aml_le(a, 9, 2);              /* length of the data that follows */
	aml_byte(a, read_write ? 1 : 0);
	aml_le(a, base, 4);
	aml_le(a, size, 4);
}

void aml_res_interrupt(struct aml *a, bool edge, bool active_low, bool shared,
		       uint32_t gsi)
{
	aml_byte(a, RES_EXT_INTERRUPT);
	aml_le(a, 6, 2);              /* flags + table length + one DWORD */
	/* bit 0 consumer, bit 1 edge, bit 2 active low, bit 3 shared */
	aml_byte(a, (uint8_t)(0x01 | (edge ? 0x02 : 0) | (active_low ? 0x04 : 0) |
			      (shared ? 0x08 : 0)));
	aml_byte(a, 1);               /* interrupt table length */
	aml_le(a, gsi, 4);
}
