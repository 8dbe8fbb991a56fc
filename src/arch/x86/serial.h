/*
 * 16550A-compatible UART (the PC's COM1 at 0x3f8, IRQ 4): the guest's
 * early and main console.  No KVM here: the VMM forwards port accesses and
 * gives a callback that sets the interrupt line level.
 */
#ifndef CAPVM_X86_SERIAL_H
#define CAPVM_X86_SERIAL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/chardev.h"

struct serial;

struct serial *serial_create(struct chardev *out, void (*set_irq)(void *opaque, int level),
			     void *opaque);
/* offset 0..7 from the base port */
uint8_t serial_read(struct serial *s, unsigned offset);
void serial_write(struct serial *s, unsigned offset, uint8_t value);
/* Bytes typed by the user (any thread). */
void serial_input(void *serial, const uint8_t *buf, size_t len);
void serial_destroy(struct serial *s);

#endif
