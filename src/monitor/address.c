/*
 * Parsing of monitor addresses: "unix:PATH", "tcp:HOST:PORT", a bare
 * path, each with ",option" suffixes (mode=, public=, and QEMU's
 * server/nowait/wait= which are accepted so command lines can be copied
 * from QEMU).  Only parsing here; monitor.c binds.
 */
#include "monitor/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int parse_option(const char *opt, size_t len, struct monitor_address *a,
			char *err, size_t errlen)
{
	char buf[64];

	if (len >= sizeof(buf))
		return fail(err, errlen, "monitor address: option too long: %.40s...", opt);
	memcpy(buf, opt, len);
	buf[len] = '\0';
	if (!strcmp(buf, "mode=hmp") || !strcmp(buf, "mode=readline"))
		a->proto = MONITOR_HMP;
	else if (!strcmp(buf, "mode=qmp") || !strcmp(buf, "mode=control"))
		a->proto = MONITOR_QMP;
	else if (!strcmp(buf, "public=on") || !strcmp(buf, "public=yes") || !strcmp(buf, "public"))
		a->public_ok = true;
	else if (!strcmp(buf, "public=off") || !strcmp(buf, "public=no"))
		a->public_ok = false;
	else if (!strcmp(buf, "server") || !strcmp(buf, "server=on") ||
		 !strcmp(buf, "nowait") || !strcmp(buf, "wait=off"))
		;       /* QEMU's chardev options; always true here */
	else
		return fail(err, errlen, "monitor address: unknown option '%s' "
			    "(known: mode=hmp|qmp, public=on)", buf);
	return 0;
}

static int parse_tcp(const char *hp, size_t len, struct monitor_address *a,
		     char *err, size_t errlen)
{
	const char *host = hp, *port;
	size_t hostlen;

	if (len > 0 && hp[0] == '[') {         /* [::1]:4444 */
		const char *close = memchr(hp, ']', len);

		if (!close || close + 1 >= hp + len || close[1] != ':')
			return fail(err, errlen, "monitor address: %s",
				    "bad IPv6 form (want tcp:[ADDR]:PORT)");
		host = hp + 1;
		hostlen = (size_t)(close - host);
		port = close + 2;
	} else {
		const char *colon = NULL;

		for (size_t i = 0; i < len; i++)
			if (hp[i] == ':')
				colon = hp + i;
		if (!colon)
			return fail(err, errlen, "monitor address: %s", "tcp needs HOST:PORT");
		hostlen = (size_t)(colon - hp);
		port = colon + 1;
	}
	size_t portlen = (size_t)(hp + len - port);

	if (hostlen >= sizeof(a->host))
		return fail(err, errlen, "monitor address: %s", "host name too long");
	if (portlen == 0 || portlen > 5)
		return fail(err, errlen, "monitor address: %s", "port must be 0-65535");
	unsigned long p = 0;

	for (size_t i = 0; i < portlen; i++) {
		if (port[i] < '0' || port[i] > '9')
			return fail(err, errlen, "monitor address: %s", "port must be 0-65535");
		p = p * 10 + (unsigned long)(port[i] - '0');
	}
	if (p > 65535)
		return fail(err, errlen, "monitor address: %s", "port must be 0-65535");
	memcpy(a->host, host, hostlen);
	a->host[hostlen] = '\0';
	snprintf(a->port, sizeof(a->port), "%lu", p);
	return 0;
}

int monitor_parse_address(const char *text, enum monitor_protocol default_proto,
			  struct monitor_address *a, char *err, size_t errlen)
{
	const char *comma, *main_part = text;
	size_t main_len;
	int ret;

	memset(a, 0, sizeof(*a));
	a->proto = default_proto;
	if (!text || !*text)
		return fail(err, errlen, "monitor address: %s", "empty");
	comma = strchr(text, ',');
	main_len = comma ? (size_t)(comma - text) : strlen(text);

	if (main_len >= 4 && !strncmp(text, "tcp:", 4)) {
		ret = parse_tcp(text + 4, main_len - 4, a, err, errlen);
		if (ret < 0)
			return ret;
	} else {
		if (main_len >= 5 && !strncmp(text, "unix:", 5)) {
			main_part = text + 5;
			main_len -= 5;
		} else if (memchr(text, ':', main_len) && !memchr(text, '/', main_len)) {
			/* "udp:..", "telnet:..": a typo, not a file name. */
			return fail(err, errlen, "monitor address: unknown type in '%.64s' "
				    "(want unix:PATH or tcp:HOST:PORT)", text);
		}
		if (main_len == 0)
			return fail(err, errlen, "monitor address: %s", "empty unix socket path");
		if (main_len >= sizeof(a->path))
			return fail(err, errlen, "monitor address: unix socket path longer than %s bytes",
				    "107");
		a->is_unix = true;
		memcpy(a->path, main_part, main_len);
		a->path[main_len] = '\0';
	}

	while (comma) {
		const char *opt = comma + 1;
		const char *next = strchr(opt, ',');
		size_t len = next ? (size_t)(next - opt) : strlen(opt);

		if (len > 0) {
			ret = parse_option(opt, len, a, err, errlen);
			if (ret < 0)
				return ret;
		}
		comma = next;
	}
	return 0;
}
