/*
 * 16550A UART model (see serial.h).
 *
 * Transmission is immediate, so THR is always empty; what matters is the
 * interrupt logic Linux's 8250 driver relies on for tty output: with
 * IER.THRI set the UART must raise "THR empty" once per write (and when
 * THRI is first enabled); reading IIR while that is the pending cause
 * clears it.  Received bytes wait in a small FIFO; when it is full, input is
 * dropped (a console, not a modem).  The line level is recomputed after
 * every change and handed to set_irq (the IOAPIC pin is edge-triggered, so
 * each 0->1 transition is one interrupt).
 */
#include "arch/x86/serial.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RX_FIFO_SIZE 1024

#define UART_RX  0  /* DLAB=0 read */
#define UART_TX  0  /* DLAB=0 write */
#define UART_IER 1
#define UART_IIR 2  /* read */
#define UART_FCR 2  /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI  0x01
#define IER_THRI 0x02
#define IIR_NO_INT 0x01
#define IIR_THRI   0x02
#define IIR_RDI    0x04
#define IIR_FIFO   0xc0
#define LCR_DLAB 0x80
#define LSR_DR   0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_LOOP 0x10
#define MSR_DCD  0x80
#define MSR_DSR  0x20
#define MSR_CTS  0x10

struct serial {
	pthread_mutex_t lock;
	struct chardev *out;
	void (*set_irq)(void *opaque, int level);
	void *opaque;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thri_pending;
	int irq_level;
	uint8_t rx[RX_FIFO_SIZE];
	unsigned rx_head, rx_count;
};

struct serial *serial_create(struct chardev *out, void (*set_irq)(void *opaque, int level),
			     void *opaque)
{
	struct serial *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->out = out;
	s->set_irq = set_irq;
	s->opaque = opaque;
	s->dll = 12;  /* 9600 baud, as firmware leaves it */
	return s;
}

/* Called with the lock held. */
static void serial_update_irq(struct serial *s)
{
	int level = ((s->ier & IER_RDI) && s->rx_count) || ((s->ier & IER_THRI) && s->thri_pending);

	if (level != s->irq_level) {
		s->irq_level = level;
		s->set_irq(s->opaque, level);
	}
}

uint8_t serial_read(struct serial *s, unsigned offset)
{
	uint8_t v = 0;

	pthread_mutex_lock(&s->lock);
	switch (offset) {
	case UART_RX:
		if (s->lcr & LCR_DLAB) {
			v = s->dll;
		} else if (s->rx_count) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % RX_FIFO_SIZE;
			s->rx_count--;
		}
		break;
	case UART_IER:
		v = (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
		break;
	case UART_IIR:
		if ((s->ier & IER_RDI) && s->rx_count) {
			v = IIR_RDI;
		} else if ((s->ier & IER_THRI) && s->thri_pending) {
			v = IIR_THRI;
			s->thri_pending = false;  /* reading IIR acknowledges THRE */
		} else {
			v = IIR_NO_INT;
		}
		if (s->fcr & 1)
			v |= IIR_FIFO;
		break;
	case UART_LCR:
		v = s->lcr;
		break;
	case UART_MCR:
		v = s->mcr;
		break;
	case UART_LSR:
		v = LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0);
		break;
	case UART_MSR:
		v = (s->mcr & MCR_LOOP) ? (uint8_t)((s->mcr & 0x0f) << 4) : (MSR_DCD | MSR_DSR | MSR_CTS);
		break;
	case UART_SCR:
		v = s->scr;
		break;
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return v;
}

void serial_write(struct serial *s, unsigned offset, uint8_t value)
{
	pthread_mutex_lock(&s->lock);
	switch (offset) {
	case UART_TX:
		if (s->lcr & LCR_DLAB) {
			s->dll = value;
			break;
		}
		if (!(s->mcr & MCR_LOOP))
			chardev_write(s->out, &value, 1);
		s->thri_pending = true;
		break;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = value;
			break;
		}
		/* enabling THRI with an empty THR raises THRE at once */
		if (!(s->ier & IER_THRI) && (value & IER_THRI))
			s->thri_pending = true;
		s->ier = value & 0x0f;
		break;
	case UART_FCR:
		s->fcr = value;
		if (value & 0x02) {  /* clear receive FIFO */
			s->rx_count = 0;
			s->rx_head = 0;
		}
		break;
	case UART_LCR:
		s->lcr = value;
		break;
	case UART_MCR:
		s->mcr = value & 0x1f;
		break;
	case UART_SCR:
		s->scr = value;
		break;
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

void serial_input(void *serial, const uint8_t *buf, size_t len)
{
	struct serial *s = serial;

	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < len && s->rx_count < RX_FIFO_SIZE; i++) {
		s->rx[(s->rx_head + s->rx_count) % RX_FIFO_SIZE] = buf[i];
		s->rx_count++;
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}
