/*
 * Internals of the monitor shared by its files, the unit tests and the
 * fuzz target: the per-connection protocol state machine (struct
 * monitor_session: bytes in, bytes out, no sockets), the HMP and QMP
 * command handlers, and the address parser.
 */
#ifndef CAPVM_MONITOR_INTERNAL_H
#define CAPVM_MONITOR_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "monitor/monitor.h"

struct json_object;
struct json_tokener;

/* Output a client has not read yet; beyond this it is disconnected. */
#define MONITOR_MAX_OUTPUT (1024 * 1024)
/* Deepest JSON nesting accepted in QMP input. */
#define MONITOR_MAX_JSON_DEPTH 32

/* A growable byte buffer with a hard cap. */
struct mon_buf {
	char *data;
	size_t len, cap;
	bool overflow;          /* an append hit MONITOR_MAX_OUTPUT */
};

void mon_buf_append(struct mon_buf *b, const char *data, size_t len);
/* Append text, turning each "\n" into "\r\n" as QEMU's monitor does. */
void mon_buf_puts_crlf(struct mon_buf *b, const char *text);
void mon_buf_printf_crlf(struct mon_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Drop the first n bytes. */
void mon_buf_consume(struct mon_buf *b, size_t n);
void mon_buf_free(struct mon_buf *b);

struct monitor_session {
	enum monitor_protocol proto;
	const struct monitor_ops *ops;
	void *opaque;
	const struct monitor_version *version;
	const char *vm_name;

	/* HMP: the line being collected. */
	char *line;
	size_t line_len;
	/* HMP: rest of an over-long line; QMP: rest of a line after a
	 * JSON syntax error.  Input is dropped up to the next newline. */
	bool discarding;

	/* QMP: incremental JSON parser and bytes in the current value. */
	struct json_tokener *tok;
	size_t value_bytes;
	bool negotiated;

	struct mon_buf out;     /* bytes for the client */

	/* Requests to the socket layer. */
	bool want_close;        /* close once out is flushed */
	bool want_quit;         /* flush out, then call ops->quit */

	/* Called before each command reply is queued, so that events the
	 * command caused precede its reply (the server drains its queue). */
	void (*before_reply)(void *ctx);
	void *before_reply_ctx;
};

/* Returns 0 or -ENOMEM. */
int session_init(struct monitor_session *s, enum monitor_protocol proto,
		 const struct monitor_ops *ops, void *opaque,
		 const struct monitor_version *version, const char *vm_name);
/* Queue the greeting: HMP banner and prompt, or the QMP greeting. */
void session_greet(struct monitor_session *s);
/* Process bytes from the client; replies go to s->out. */
void session_feed(struct monitor_session *s, const char *data, size_t len);
/* The client closed its sending side: run a final unterminated line. */
void session_feed_eof(struct monitor_session *s);
/* Queue a formatted event line (with "\r\n") if this is a QMP session
 * past capabilities negotiation. */
void session_push_event(struct monitor_session *s, const char *line, size_t len);
void session_destroy(struct monitor_session *s);

/* HMP: run one command line (no newline), appending its output to out. */
void hmp_execute(struct monitor_session *s, const char *line, size_t len,
		 struct mon_buf *out);
/* QMP: handle one parsed request; queues the reply to s->out. */
void qmp_handle_request(struct monitor_session *s, struct json_object *req);
/* QMP: queue an error reply without id (JSON syntax errors etc.). */
void qmp_reply_error(struct monitor_session *s, const char *klass, const char *desc);
/* Append o as JSON the way QEMU writes it: {"a": 1, "b": [2, 3]} */
void qmp_write_json(struct mon_buf *b, struct json_object *o);
/* Build an event line ending in "\r\n" (NUL-terminated, *len excludes
 * the NUL); malloc'd, NULL on error.  data may be NULL. */
char *qmp_format_event(const char *name, struct json_object *data, size_t *len);

/* Message for a failed callback: err if set, else strerror(-ret). */
const char *monitor_errmsg(int ret, const char *err);

struct monitor_address {
	bool is_unix;
	char path[108];         /* unix: socket path */
	char host[256];         /* tcp: "" means every interface */
	char port[8];           /* tcp: decimal, "0" for an ephemeral port */
	enum monitor_protocol proto;
	bool public_ok;         /* public=on */
};

/* Parse an address string (syntax in monitor.h).  Returns 0 or -EINVAL
 * with a message in err. */
int monitor_parse_address(const char *text, enum monitor_protocol default_proto,
			  struct monitor_address *addr, char *err, size_t errlen);

#endif
