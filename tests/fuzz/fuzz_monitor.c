/*
 * libFuzzer target for the monitor protocols, without sockets: the input
 * drives one struct monitor_session (HMP line parser or QMP JSON
 * framing, request checks and every command, with fake VM ops) fed in
 * chunks of varying size, then end of input; the input also goes through
 * the address parser.
 *
 * Input layout: byte 0 bit 0 = protocol (0 HMP, 1 QMP), bit 1 = start
 * QMP already negotiated; byte 1 seeds the chunk sizes; the rest is what
 * the client sends.
 */
#include "monitor/internal.h"
#include "unit/test_monitor_fake.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct monitor_version version = { 7, 2, 0, "capvm fuzz" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fake_vm vm;
	struct monitor_session s;
	struct monitor_address addr;
	char err[256], text[512];
	size_t pos = 2, step;

	if (size < 2)
		return 0;
	fake_init(&vm);
	if (session_init(&s, (data[0] & 1) ? MONITOR_QMP : MONITOR_HMP, &fake_ops, &vm,
			 &version, "fuzz") < 0)
		return 0;
	session_greet(&s);
	if (data[0] & 2)
		session_feed(&s, "{\"execute\": \"qmp_capabilities\"}\n", 33);
	step = data[1];
	while (pos < size) {
		size_t chunk = 1 + (step % 97);

		if (chunk > size - pos)
			chunk = size - pos;
		session_feed(&s, (const char *)data + pos, chunk);
		mon_buf_consume(&s.out, s.out.len);     /* the client reads it */
		pos += chunk;
		step = step * 31 + 7;
	}
	session_feed_eof(&s);
	session_destroy(&s);

	/* Addresses: the first bytes of the payload as a string. */
	size_t n = size - 2 < sizeof(text) - 1 ? size - 2 : sizeof(text) - 1;

	memcpy(text, data + 2, n);
	text[n] = '\0';
	monitor_parse_address(text, MONITOR_HMP, &addr, err, sizeof(err));
	return 0;
}
