/*
 * One monitor connection as a state machine without sockets: bytes from
 * the client go in through session_feed(), replies come out in s->out.
 * The socket layer (monitor.c), the unit tests and the fuzzer all drive
 * it the same way.
 *
 * Framing:
 *  - HMP is line based; each complete line is echoed back (as QEMU's
 *    readline does) before its output.  A line longer than MONITOR_MAX_INPUT gets one
 *    error message and is skipped up to its newline (the client stays
 *    connected).  Control characters are dropped, "\r" ends nothing.
 *  - QMP is a stream of JSON values, as in QEMU: several per line or one
 *    over many lines both work.  json-c's incremental tokener finds their
 *    ends.  A syntax error gets an error reply and input is skipped to the
 *    next newline; a value larger than MONITOR_MAX_INPUT gets an error
 *    reply and the connection is closed (there is no safe place to resume
 *    inside an unfinished value).
 */
#include "monitor/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#ifndef CAPVM_VERSION
#define CAPVM_VERSION "unknown"
#endif

/* ---- output buffer ---- */

void mon_buf_append(struct mon_buf *b, const char *data, size_t len)
{
	if (b->overflow || len == 0)
		return;
	if (len > MONITOR_MAX_OUTPUT || b->len > MONITOR_MAX_OUTPUT - len) {
		b->overflow = true;
		return;
	}
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + len)
			cap *= 2;
		p = realloc(b->data, cap);
		if (!p) {
			b->overflow = true;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

void mon_buf_puts_crlf(struct mon_buf *b, const char *text)
{
	const char *nl;

	while ((nl = strchr(text, '\n'))) {
		mon_buf_append(b, text, (size_t)(nl - text));
		mon_buf_append(b, "\r\n", 2);
		text = nl + 1;
	}
	mon_buf_append(b, text, strlen(text));
}

void mon_buf_printf_crlf(struct mon_buf *b, const char *fmt, ...)
{
	va_list ap;
	char *text;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->overflow = true;
		return;
	}
	mon_buf_puts_crlf(b, text);
	free(text);
}

void mon_buf_consume(struct mon_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void mon_buf_free(struct mon_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

const char *monitor_errmsg(int ret, const char *err)
{
	if (err && *err)
		return err;
	return strerror(ret < 0 ? -ret : ret);
}

/* ---- session ---- */

int session_init(struct monitor_session *s, enum monitor_protocol proto,
		 const struct monitor_ops *ops, void *opaque,
		 const struct monitor_version *version, const char *vm_name)
{
	memset(s, 0, sizeof(*s));
	s->proto = proto;
	s->ops = ops;
	s->opaque = opaque;
	s->version = version;
	s->vm_name = vm_name;
	if (proto == MONITOR_HMP) {
		s->line = malloc(MONITOR_MAX_INPUT);
		if (!s->line)
			return -ENOMEM;
	} else {
		s->tok = json_tokener_new_ex(MONITOR_MAX_JSON_DEPTH);
		if (!s->tok)
			return -ENOMEM;
		json_tokener_set_flags(s->tok, JSON_TOKENER_VALIDATE_UTF8);
	}
	return 0;
}

void session_destroy(struct monitor_session *s)
{
	free(s->line);
	if (s->tok)
		json_tokener_free(s->tok);
	mon_buf_free(&s->out);
	memset(s, 0, sizeof(*s));
}

static const char hmp_prompt[] = "(qemu) ";

void session_greet(struct monitor_session *s)
{
	if (s->proto == MONITOR_HMP) {
		/* QEMU: "QEMU 7.2.0 monitor - type 'help' for more information" */
		mon_buf_printf_crlf(&s->out, "%s%s monitor%s%s - type 'help' for more information\n",
				    s->version->package[0] ? "" : "capvm ",
				    s->version->package[0] ? s->version->package : CAPVM_VERSION,
				    s->vm_name ? " for " : "", s->vm_name ? s->vm_name : "");
		mon_buf_append(&s->out, hmp_prompt, sizeof(hmp_prompt) - 1);
		return;
	}
	/* {"QMP": {"version": {"qemu": {...}, "package": ""}, "capabilities": []}} */
	struct json_object *greeting = json_object_new_object();
	struct json_object *qmp = json_object_new_object();
	struct json_object *ver = json_object_new_object();
	struct json_object *qemu = json_object_new_object();

	json_object_object_add(qemu, "micro", json_object_new_int(s->version->micro));
	json_object_object_add(qemu, "minor", json_object_new_int(s->version->minor));
	json_object_object_add(qemu, "major", json_object_new_int(s->version->major));
	json_object_object_add(ver, "qemu", qemu);
	json_object_object_add(ver, "package", json_object_new_string(s->version->package));
	json_object_object_add(qmp, "version", ver);
	json_object_object_add(qmp, "capabilities", json_object_new_array());
	json_object_object_add(greeting, "QMP", qmp);
	qmp_write_json(&s->out, greeting);
	mon_buf_append(&s->out, "\r\n", 2);
	json_object_put(greeting);
}

void session_push_event(struct monitor_session *s, const char *line, size_t len)
{
	if (s->proto == MONITOR_QMP && s->negotiated && !s->want_close)
		mon_buf_append(&s->out, line, len);
}

/* A session stops taking commands once it quit or is being closed. */
static bool session_done(const struct monitor_session *s)
{
	return s->want_close || s->want_quit || s->out.overflow;
}

static void hmp_run_line(struct monitor_session *s)
{
	/* Echo the line as QEMU's readline does, so `nc` transcripts read
	 * "(qemu) info status" / "VM status: running" on separate lines. */
	mon_buf_append(&s->out, s->line, s->line_len);
	mon_buf_append(&s->out, "\r\n", 2);
	hmp_execute(s, s->line, s->line_len, &s->out);
	s->line_len = 0;
	if (!session_done(s))
		mon_buf_append(&s->out, hmp_prompt, sizeof(hmp_prompt) - 1);
}

static void hmp_feed(struct monitor_session *s, const char *data, size_t len)
{
	for (size_t i = 0; i < len && !session_done(s); i++) {
		unsigned char c = (unsigned char)data[i];

		if (c == '\n') {
			if (s->discarding) {
				s->discarding = false;
				s->line_len = 0;
				mon_buf_append(&s->out, hmp_prompt, sizeof(hmp_prompt) - 1);
			} else {
				hmp_run_line(s);
			}
			continue;
		}
		if (s->discarding)
			continue;
		if (c == '\t')
			c = ' ';
		if (c < 0x20 || c == 0x7f)
			continue;       /* \r, telnet noise, escape sequences */
		if (s->line_len >= MONITOR_MAX_INPUT) {
			mon_buf_printf_crlf(&s->out, "Error: command line longer than %d bytes, ignored\n",
					    MONITOR_MAX_INPUT);
			s->discarding = true;
			continue;
		}
		s->line[s->line_len++] = (char)c;
	}
}

static bool is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void qmp_feed(struct monitor_session *s, const char *data, size_t len)
{
	size_t pos = 0;

	while (pos < len && !session_done(s)) {
		if (s->discarding) {
			const char *nl = memchr(data + pos, '\n', len - pos);

			if (!nl)
				return;
			pos = (size_t)(nl - data) + 1;
			s->discarding = false;
			continue;
		}
		/* Whitespace between values does not count as a value. */
		if (s->value_bytes == 0) {
			while (pos < len && is_json_space(data[pos]))
				pos++;
			if (pos == len)
				return;
		}

		/* Never feed more than the limit allows, so an endless value
		 * is caught without buffering it. */
		size_t room = MONITOR_MAX_INPUT - s->value_bytes;
		size_t chunk = len - pos;
		bool over = false;

		if (chunk > room) {
			chunk = room;
			over = true;
		}
		struct json_object *obj = json_tokener_parse_ex(s->tok, data + pos, (int)chunk);
		enum json_tokener_error jerr = json_tokener_get_error(s->tok);
		size_t used = json_tokener_get_parse_end(s->tok);

		if (used > chunk)       /* never trust it past what we gave */
			used = chunk;
		if (jerr == json_tokener_continue) {
			s->value_bytes += chunk;
			pos += chunk;
			if (over || s->value_bytes >= MONITOR_MAX_INPUT) {
				char desc[96];

				snprintf(desc, sizeof(desc), "JSON input exceeds the limit of %d bytes",
					 MONITOR_MAX_INPUT);
				qmp_reply_error(s, "GenericError", desc);
				s->want_close = true;
			}
			continue;
		}
		json_tokener_reset(s->tok);
		s->value_bytes = 0;
		if (jerr != json_tokener_success) {
			char desc[160];

			snprintf(desc, sizeof(desc), "JSON parse error, %s", json_tokener_error_desc(jerr));
			qmp_reply_error(s, "GenericError", desc);
			/* Resume after the next newline following the error. */
			const char *nl = memchr(data + pos + used, '\n', len - pos - used);

			if (nl) {
				pos = (size_t)(nl - data) + 1;
			} else {
				pos = len;
				s->discarding = true;
			}
			continue;
		}
		pos += used;
		qmp_handle_request(s, obj);    /* obj is NULL for "null" */
		json_object_put(obj);
		if (used == 0)
			break;          /* defensive: no progress, stop here */
	}
}

void session_feed(struct monitor_session *s, const char *data, size_t len)
{
	if (s->proto == MONITOR_HMP)
		hmp_feed(s, data, len);
	else
		qmp_feed(s, data, len);
}

void session_feed_eof(struct monitor_session *s)
{
	if (session_done(s))
		return;
	if (s->proto == MONITOR_HMP) {
		/* `printf "info status" | nc` without a final newline. */
		if (!s->discarding && s->line_len > 0) {
			mon_buf_append(&s->out, s->line, s->line_len);
			mon_buf_append(&s->out, "\r\n", 2);
			hmp_execute(s, s->line, s->line_len, &s->out);
			s->line_len = 0;
		}
	} else if (s->value_bytes > 0) {
		/* A value cut short: let the tokener finish it if it can
		 * (a bare number), else report the truncation. */
		struct json_object *obj = json_tokener_parse_ex(s->tok, " ", 1);

		if (obj) {
			qmp_handle_request(s, obj);
			json_object_put(obj);
		} else {
			qmp_reply_error(s, "GenericError", "JSON parse error, input ended inside a value");
		}
		json_tokener_reset(s->tok);
		s->value_bytes = 0;
	}
	s->want_close = true;
}
