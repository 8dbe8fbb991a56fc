/*
 * Unit tests of the monitor protocols without sockets: HMP and QMP
 * conversations fed through struct monitor_session (exact QEMU-style
 * output, partial input, malformed and oversized input) and the address
 * parser.  The socket layer is tested in test_monitor_socket.c.
 */
#include "monitor/internal.h"
#include "common/util.h"
#include "unit/test.h"
#include "unit/test_monitor_fake.h"

#include <stdlib.h>

#include <json-c/json.h>

static struct fake_vm vm;
static struct monitor_session sess;
static const struct monitor_version version = { 7, 2, 0, "capvm test" };
static char outbuf[MONITOR_MAX_OUTPUT + 1];

static void start(enum monitor_protocol proto, const struct monitor_ops *ops)
{
	fake_init(&vm);
	session_destroy(&sess);
	if (session_init(&sess, proto, ops, &vm, &version, "vm0") < 0)
		abort();
	session_greet(&sess);
}

/* Everything output since the last call, as a string. */
static const char *take(void)
{
	size_t n = sess.out.len;

	memcpy(outbuf, sess.out.data ? sess.out.data : "", n);
	outbuf[n] = '\0';
	mon_buf_consume(&sess.out, n);
	return outbuf;
}

static const char *feed(const char *text)
{
	session_feed(&sess, text, strlen(text));
	return take();
}

/* ---- HMP ---- */

/*
 * Feed HMP input and return the output after the echo of its first line
 * (QEMU's readline echoes each line); a missing echo is a failure.
 */
static const char *hmp(const char *text)
{
	char echo[512];
	size_t n = 0;
	const char *out;

	for (const char *p = text; *p && *p != '\n' && n < sizeof(echo) - 3; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '\t')
			c = ' ';
		if (c >= 0x20 && c != 0x7f)
			echo[n++] = (char)c;
	}
	memcpy(echo + n, "\r\n", 3);
	out = feed(text);
	if (strncmp(out, echo, strlen(echo)) != 0) {
		printf("  no echo \"%s\" in \"%s\"\n", echo, out);
		test_case_failed = 1;
		return out;
	}
	return out + strlen(echo);
}

TEST(hmp_banner_and_status)
{
	start(MONITOR_HMP, &fake_ops);
	const char *banner = take();

	CHECK(strstr(banner, "monitor") != NULL);
	CHECK(strstr(banner, "type 'help' for more information\r\n(qemu) ") != NULL);
	CHECK_STR(hmp("info status\n"), "VM status: running\r\n(qemu) ");
	CHECK_STR(hmp("info status\r\n"), "VM status: running\r\n(qemu) ");
}

TEST(hmp_stop_cont)
{
	start(MONITOR_HMP, &fake_ops);
	take();
	CHECK_STR(hmp("stop\n"), "(qemu) ");
	CHECK_EQ(vm.stops, 1);
	CHECK_STR(hmp("info status\n"), "VM status: paused\r\n(qemu) ");
	CHECK_STR(hmp("cont\n"), "(qemu) ");
	CHECK_STR(hmp("info status\n"), "VM status: running\r\n(qemu) ");
	CHECK_STR(hmp("s\n"), "(qemu) ");     /* QEMU's aliases */
	CHECK_STR(hmp("c\n"), "(qemu) ");
	CHECK_EQ(vm.stops, 2);
	CHECK_EQ(vm.conts, 2);
	vm.state = MONITOR_RUNSTATE_SHUTDOWN;
	CHECK_STR(hmp("info status\n"), "VM status: paused (shutdown)\r\n(qemu) ");
	CHECK_STR(hmp("cont\n"), "Error: Resetting the Virtual Machine is required\r\n(qemu) ");
	CHECK_STR(hmp("system_powerdown\n"), "(qemu) ");
	CHECK_STR(hmp("system_reset\n"), "(qemu) ");
	CHECK_EQ(vm.powerdowns, 1);
	CHECK_EQ(vm.resets, 1);
}

TEST(hmp_info_tables)
{
	start(MONITOR_HMP, &fake_ops);
	take();
	CHECK_STR(hmp("info cpus\n"),
		  "* CPU #0: thread_id=1234\r\n  CPU #1: thread_id=1235\r\n(qemu) ");
	CHECK_STR(hmp("info block\n"),
		  "virtio0: /var/lib/capvm/root.img (raw)\r\n"
		  "    Attached to:      virtio-mmio@0xd0000000\r\n"
		  "    Cache mode:       writeback\r\n"
		  "\r\n"
		  "virtio1: /srv/seed.iso (raw, read-only)\r\n"
		  "    Cache mode:       writeback, direct\r\n(qemu) ");
	CHECK_STR(hmp("info network\n"),
		  "net0: index=0,type=nic,model=virtio-net-device,macaddr=52:54:00:12:34:56\r\n"
		  " \\ hostnet0: index=0,type=tap,ifname=tap0\r\n(qemu) ");
	CHECK_STR(hmp("info counters\n"),
		  "vcpu0.exits: 42\r\nvirtio0.requests: 18446744073709551615\r\n(qemu) ");
	CHECK_STR(hmp("info stats\n"),
		  "vcpu0.exits: 42\r\nvirtio0.requests: 18446744073709551615\r\n(qemu) ");
	CHECK_STR(hmp("info version\n"), "7.2.0 (capvm test)\r\n(qemu) ");
	CHECK_STR(hmp("info name\n"), "vm0\r\n(qemu) ");
	const char *h = hmp("info\n");

	CHECK(strstr(h, "info status  -- show the current VM status (running|paused)\r\n") != NULL);
}

TEST(hmp_errors)
{
	start(MONITOR_HMP, &fake_ops);
	take();
	CHECK_STR(hmp("foo\n"), "unknown command: 'foo'\r\n(qemu) ");
	CHECK_STR(hmp("info foo\n"), "unknown command: 'info foo'\r\n(qemu) ");
	CHECK_STR(hmp("stop now\n"), "stop|s: extraneous characters at the end of line\r\n"
		  "Try \"help stop\" for more information\r\n(qemu) ");
	CHECK_EQ(vm.stops, 0);
	CHECK_STR(hmp("\n"), "(qemu) ");
	CHECK_STR(hmp("   \t \n"), "(qemu) ");
	CHECK_STR(hmp("a b c d e f g h i j k\n"), "unknown command: 'a'\r\n(qemu) ");
	CHECK_STR(hmp("info status a b c d e f g h i j\n"),
		  "info: extraneous characters at the end of line\r\n"
		  "Try \"help info\" for more information\r\n(qemu) ");
	const char *h = hmp("help\n");

	CHECK(strstr(h, "system_powerdown  -- send system power down event\r\n") != NULL);
	CHECK(strstr(h, "stop|s  -- stop emulation\r\n") != NULL);
	CHECK_STR(hmp("help stop\n"), "stop|s  -- stop emulation\r\n(qemu) ");
}

TEST(hmp_unsupported_ops)
{
	static const struct monitor_ops minimal = { .get_status = fake_status };

	start(MONITOR_HMP, &minimal);
	take();
	CHECK_STR(hmp("info cpus\n"), "Error: info cpus is not supported by this VM\r\n(qemu) ");
	CHECK_STR(hmp("stop\n"), "Error: stop is not supported by this VM\r\n(qemu) ");
	CHECK_STR(hmp("quit\n"), "Error: quit is not supported by this VM\r\n(qemu) ");
	CHECK(!sess.want_quit);
}

TEST(hmp_partial_input)
{
	const char *cmd = "info status\n";
	char all[256] = "";

	start(MONITOR_HMP, &fake_ops);
	take();
	for (size_t i = 0; cmd[i]; i++) {
		session_feed(&sess, cmd + i, 1);
		strcat(all, take());
	}
	CHECK_STR(all, "info status\r\nVM status: running\r\n(qemu) ");
	/* Two commands in one read. */
	CHECK_STR(hmp("stop\ninfo status\n"), "(qemu) info status\r\nVM status: paused\r\n(qemu) ");
	/* Control characters (telnet, arrows) are dropped. */
	CHECK_STR(hmp("in\x1b\x01""fo sta\x7ftus\n"), "VM status: paused\r\n(qemu) ");
}

TEST(hmp_long_line)
{
	size_t n = MONITOR_MAX_INPUT + 5000;
	char *big = malloc(n);

	start(MONITOR_HMP, &fake_ops);
	take();
	memset(big, 'a', n);
	session_feed(&sess, big, n);
	session_feed(&sess, big, n);
	free(big);
	const char *out = take();

	CHECK(strstr(out, "Error: command line longer than 65536 bytes, ignored\r\n") == out);
	CHECK(strstr(out + 1, "Error") == NULL);        /* reported once */
	CHECK_STR(feed("\ninfo status\n"), "(qemu) info status\r\nVM status: running\r\n(qemu) ");
	CHECK(!sess.want_close);
}

TEST(hmp_eof_and_quit)
{
	start(MONITOR_HMP, &fake_ops);
	take();
	session_feed(&sess, "info status", 11);
	CHECK_STR(take(), "");
	session_feed_eof(&sess);
	CHECK_STR(take(), "info status\r\nVM status: running\r\n");
	CHECK(sess.want_close);

	start(MONITOR_HMP, &fake_ops);
	take();
	CHECK_STR(hmp("quit\ninfo status\n"), "");   /* QEMU prints nothing */
	CHECK_STR(feed("info status\n"), "");
	CHECK(sess.want_quit);
	CHECK_EQ(vm.quits, 0);  /* the socket layer calls it after flushing */
}

/* ---- QMP ---- */

static const char *qmp(const char *text)
{
	return feed(text);
}

static void qmp_start_negotiated(void)
{
	start(MONITOR_QMP, &fake_ops);
	take();
	qmp("{\"execute\": \"qmp_capabilities\"}");
}

TEST(qmp_greeting)
{
	start(MONITOR_QMP, &fake_ops);
	CHECK_STR(take(), "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
		  "\"package\": \"capvm test\"}, \"capabilities\": []}}\r\n");
}

TEST(qmp_negotiation)
{
	start(MONITOR_QMP, &fake_ops);
	take();
	CHECK_STR(qmp("{\"execute\": \"query-status\", \"id\": 7}"),
		  "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting capabilities "
		  "negotiation with 'qmp_capabilities'\"}, \"id\": 7}\r\n");
	CHECK_STR(qmp("{\"execute\": \"no-such\"}"),
		  "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting capabilities "
		  "negotiation with 'qmp_capabilities'\"}}\r\n");
	CHECK_STR(qmp("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}"),
		  "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Capability oob not available\"}}\r\n");
	CHECK(!sess.negotiated);
	CHECK_STR(qmp("{\"execute\": \"qmp_capabilities\"}"), "{\"return\": {}}\r\n");
	CHECK(sess.negotiated);
	CHECK_STR(qmp("{\"execute\": \"qmp_capabilities\"}"),
		  "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Capabilities negotiation "
		  "is already complete, command ignored\"}}\r\n");
	/* QEMU's Python client sends single-quoted JSON sometimes. */
	CHECK_STR(qmp("{'execute': 'query-status'}"),
		  "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}\r\n");
}

TEST(qmp_commands)
{
	qmp_start_negotiated();
	CHECK_STR(qmp("{\"execute\": \"query-status\", \"id\": \"a1\"}"),
		  "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, "
		  "\"id\": \"a1\"}\r\n");
	CHECK_STR(qmp("{\"execute\": \"stop\", \"id\": {\"n\": [1, 2]}}"),
		  "{\"return\": {}, \"id\": {\"n\": [1, 2]}}\r\n");
	CHECK_STR(qmp("{\"execute\": \"query-status\"}"),
		  "{\"return\": {\"status\": \"paused\", \"singlestep\": false, \"running\": false}}\r\n");
	CHECK_STR(qmp("{\"execute\": \"cont\"}"), "{\"return\": {}}\r\n");
	CHECK_STR(qmp("{\"execute\": \"system_powerdown\"}"), "{\"return\": {}}\r\n");
	CHECK_STR(qmp("{\"execute\": \"system_reset\"}"), "{\"return\": {}}\r\n");
	CHECK_EQ(vm.stops, 1);
	CHECK_EQ(vm.conts, 1);
	CHECK_EQ(vm.powerdowns, 1);
	CHECK_EQ(vm.resets, 1);
	vm.state = MONITOR_RUNSTATE_SHUTDOWN;
	CHECK_STR(qmp("{\"execute\": \"cont\"}"),
		  "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Resetting the Virtual Machine "
		  "is required\"}}\r\n");
	CHECK_STR(qmp("{\"execute\": \"query-status\"}"),
		  "{\"return\": {\"status\": \"shutdown\", \"singlestep\": false, \"running\": false}}\r\n");
	CHECK_STR(qmp("{\"execute\": \"query-version\"}"),
		  "{\"return\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": "
		  "\"capvm test\"}}\r\n");
	CHECK_STR(qmp("{\"execute\": \"query-name\"}"), "{\"return\": {\"name\": \"vm0\"}}\r\n");
	CHECK_STR(qmp("{\"execute\": \"human-monitor-command\", \"arguments\": "
		      "{\"command-line\": \"info cpus\"}, \"id\": 3}"),
		  "{\"return\": \"* CPU #0: thread_id=1234\\r\\n  CPU #1: thread_id=1235\\r\\n\", "
		  "\"id\": 3}\r\n");
	CHECK_STR(qmp("{\"execute\": \"query-counters\"}"),
		  "{\"return\": [{\"name\": \"vcpu0.exits\", \"value\": 42}, {\"name\": "
		  "\"virtio0.requests\", \"value\": 18446744073709551615}]}\r\n");
}

/* Parse one reply line and return its "return" member (caller puts root). */
static struct json_object *parse_reply(const char *line, struct json_object **root)
{
	struct json_object *ret = NULL;

	*root = json_tokener_parse(line);
	if (*root)
		json_object_object_get_ex(*root, "return", &ret);
	return ret;
}

TEST(qmp_queries)
{
	struct json_object *root, *ret, *v, *ins;

	qmp_start_negotiated();
	ret = parse_reply(qmp("{\"execute\": \"query-cpus-fast\"}"), &root);
	CHECK(ret && json_object_array_length(ret) == 2);
	if (ret && json_object_array_length(ret) == 2) {
		struct json_object *c1 = json_object_array_get_idx(ret, 1);

		CHECK(json_object_object_get_ex(c1, "cpu-index", &v) && json_object_get_int(v) == 1);
		CHECK(json_object_object_get_ex(c1, "thread-id", &v) && json_object_get_int(v) == 1235);
		CHECK(json_object_object_get_ex(c1, "target", &v));
		CHECK(json_object_object_get_ex(c1, "qom-path", &v));
	}
	json_object_put(root);

	ret = parse_reply(qmp("{\"execute\": \"query-block\"}"), &root);
	CHECK(ret && json_object_array_length(ret) == 2);
	if (ret && json_object_array_length(ret) == 2) {
		struct json_object *b = json_object_array_get_idx(ret, 1);

		CHECK(json_object_object_get_ex(b, "device", &v) &&
		      !strcmp(json_object_get_string(v), "virtio1"));
		CHECK(json_object_object_get_ex(b, "inserted", &ins));
		CHECK(json_object_object_get_ex(ins, "file", &v) &&
		      !strcmp(json_object_get_string(v), "/srv/seed.iso"));
		CHECK(json_object_object_get_ex(ins, "ro", &v) && json_object_get_boolean(v));
		CHECK(json_object_object_get_ex(ins, "drv", &v) &&
		      !strcmp(json_object_get_string(v), "raw"));
	}
	json_object_put(root);

	ret = parse_reply(qmp("{\"execute\": \"query-commands\"}"), &root);
	CHECK(ret && json_object_array_length(ret) >= 13);
	const char *want[] = { "qmp_capabilities", "query-status", "query-cpus-fast", "query-block",
			       "stop", "cont", "system_powerdown", "system_reset", "quit",
			       "query-commands", "query-version" };

	for (size_t w = 0; ret && w < ARRAY_SIZE(want); w++) {
		bool found = false;

		for (size_t i = 0; i < json_object_array_length(ret); i++)
			if (json_object_object_get_ex(json_object_array_get_idx(ret, i), "name", &v) &&
			    !strcmp(json_object_get_string(v), want[w]))
				found = true;
		if (!found)
			printf("  query-commands lacks %s\n", want[w]);
		CHECK(found);
	}
	json_object_put(root);
}

TEST(qmp_request_errors)
{
	qmp_start_negotiated();
	CHECK_STR(qmp("{\"execute\": \"foo\", \"id\": 1}"),
		  "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command foo has not "
		  "been found\"}, \"id\": 1}\r\n");
	CHECK_STR(qmp("[1, 2]"),
		  "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input must be a JSON "
		  "object\"}}\r\n");
	CHECK_STR(qmp("{\"id\": 1}"),
		  "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input lacks member "
		  "'execute'\"}, \"id\": 1}\r\n");
	CHECK_STR(qmp("{\"execute\": 5}"),
		  "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input member 'execute' "
		  "must be a string\"}}\r\n");
	CHECK_STR(qmp("{\"execute\": \"stop\", \"arguments\": []}"),
		  "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input member "
		  "'arguments' must be an object\"}}\r\n");
	CHECK_STR(qmp("{\"execute\": \"stop\", \"bogus\": 1}"),
		  "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input member 'bogus' "
		  "is unexpected\"}}\r\n");
	CHECK_STR(qmp("{\"execute\": \"stop\", \"arguments\": {\"force\": true}}"),
		  "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'force' is "
		  "unexpected\"}}\r\n");
	CHECK_STR(qmp("{\"execute\": \"human-monitor-command\"}"),
		  "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'command-line' "
		  "is missing\"}}\r\n");
	CHECK_STR(qmp("null\n"),
		  "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input must be a JSON "
		  "object\"}}\r\n");
	CHECK_EQ(vm.stops, 0);
}

TEST(qmp_malformed_json_resyncs)
{
	qmp_start_negotiated();
	const char *out = qmp("{\"execute\": }\n{\"execute\": \"query-name\"}\n");

	CHECK(strncmp(out, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, ",
		      62) == 0);
	CHECK(strstr(out, "}}\r\n{\"return\": {\"name\": \"vm0\"}}\r\n") != NULL);
	/* An error without a newline: skipped until the newline arrives. */
	out = qmp("}}} garbage");
	CHECK(strstr(out, "JSON parse error") != NULL);
	CHECK_STR(qmp("{\"execute\": \"query-name\"}"), "");
	CHECK_STR(qmp("\n{\"execute\": \"query-name\"}"), "{\"return\": {\"name\": \"vm0\"}}\r\n");
	/* Invalid UTF-8 inside a string. */
	out = qmp("{\"execute\": \"\xff\xfe\"}\n");
	CHECK(strstr(out, "JSON parse error") != NULL);
	/* Too deep. */
	char deep[200];

	memset(deep, '[', 100);
	strcpy(deep + 100, "\n");
	out = qmp(deep);
	CHECK(strstr(out, "JSON parse error") != NULL);
	CHECK_STR(qmp("{\"execute\": \"query-name\"}"), "{\"return\": {\"name\": \"vm0\"}}\r\n");
	CHECK(!sess.want_close);
}

TEST(qmp_framing)
{
	const char *req = "{\"execute\": \"query-name\", \"id\": 1}";
	char all[256] = "";

	qmp_start_negotiated();
	/* One byte at a time. */
	for (size_t i = 0; req[i]; i++) {
		session_feed(&sess, req + i, 1);
		strcat(all, take());
	}
	CHECK_STR(all, "{\"return\": {\"name\": \"vm0\"}, \"id\": 1}\r\n");
	/* Two on one line, one over several lines, whitespace in between. */
	CHECK_STR(qmp("{\"execute\":\"query-name\"}{\"execute\":\"query-name\"}\r\n  \n"
		      "{\n\"execute\"\n:\n\"query-name\"\n}\n"),
		  "{\"return\": {\"name\": \"vm0\"}}\r\n{\"return\": {\"name\": \"vm0\"}}\r\n"
		  "{\"return\": {\"name\": \"vm0\"}}\r\n");
	/* Escapes in and out. */
	CHECK_STR(qmp("{\"execute\": \"query-name\", \"id\": \"a\\\"b\\\\c\\n\\u0001\"}"),
		  "{\"return\": {\"name\": \"vm0\"}, \"id\": \"a\\\"b\\\\c\\n\\u0001\"}\r\n");
}

TEST(qmp_oversized_input_closes)
{
	size_t n = MONITOR_MAX_INPUT + 100;
	char *big = malloc(n);

	qmp_start_negotiated();
	memset(big, 'a', n);
	memcpy(big, "{\"execute\": \"", 13);
	session_feed(&sess, big, n);
	free(big);
	CHECK_STR(take(), "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON input exceeds "
		  "the limit of 65536 bytes\"}}\r\n");
	CHECK(sess.want_close);
	CHECK_STR(qmp("\"}\n{\"execute\": \"stop\"}"), "");
	CHECK_EQ(vm.stops, 0);
}

TEST(qmp_eof_and_quit)
{
	qmp_start_negotiated();
	feed("{\"execute\": \"query-name\"");
	CHECK_STR(take(), "");
	session_feed_eof(&sess);
	CHECK(strstr(take(), "input ended inside a value") != NULL);
	CHECK(sess.want_close);

	qmp_start_negotiated();
	CHECK_STR(qmp("{\"execute\": \"quit\", \"id\": 9}{\"execute\": \"stop\"}"),
		  "{\"return\": {}, \"id\": 9}\r\n");
	CHECK(sess.want_quit);
	CHECK_EQ(vm.stops, 0);
}

TEST(qmp_events)
{
	struct json_object *data = json_tokener_parse("{\"guest\": true, \"reason\": \"guest-shutdown\"}");
	struct json_object *ev, *v, *ts;
	size_t len;
	char *line = qmp_format_event("SHUTDOWN", data, &len);

	json_object_put(data);
	CHECK(line != NULL);
	if (!line)
		return;
	CHECK_EQ(strlen(line), len);
	CHECK(len > 2 && !strcmp(line + len - 2, "\r\n"));
	CHECK(strncmp(line, "{\"timestamp\": {\"seconds\": ", 26) == 0);
	CHECK(strstr(line, "\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": "
		     "\"guest-shutdown\"}}") != NULL);
	ev = json_tokener_parse(line);
	CHECK(ev && json_object_object_get_ex(ev, "timestamp", &ts));
	CHECK(ev && json_object_object_get_ex(ts, "microseconds", &v) && json_object_get_int(v) < 1000000);
	json_object_put(ev);

	/* Only negotiated QMP sessions get events. */
	start(MONITOR_QMP, &fake_ops);
	take();
	session_push_event(&sess, line, len);
	CHECK_STR(take(), "");
	qmp("{\"execute\": \"qmp_capabilities\"}");
	session_push_event(&sess, line, len);
	CHECK_STR(take(), line);
	start(MONITOR_HMP, &fake_ops);
	take();
	session_push_event(&sess, line, len);
	CHECK_STR(take(), "");
	free(line);

	/* Bad event names and data are refused by monitor_emit_event. */
	CHECK_EQ(monitor_emit_event(NULL, "STOP", NULL), 0);
}

TEST(output_cap)
{
	struct mon_buf b = { 0 };
	char chunk[4096];

	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 300; i++)
		mon_buf_append(&b, chunk, sizeof(chunk));
	CHECK(b.overflow);
	CHECK(b.len <= MONITOR_MAX_OUTPUT);
	mon_buf_free(&b);
}

/* ---- addresses ---- */

/* block_resize over HMP (size with a suffix) and QMP (bytes), and its errors. */
TEST(block_resize)
{
	start(MONITOR_HMP, &fake_ops);
	take();
	CHECK_STR(hmp("block_resize virtio0 2G\n"), "(qemu) ");
	CHECK_STR(vm.resized_device, "virtio0");
	CHECK_EQ(vm.resized_size, 2ULL << 30);
	CHECK_STR(hmp("block_resize virtio0 1073741824\n"), "(qemu) ");
	CHECK_EQ(vm.resized_size, 1ULL << 30);
	CHECK_STR(hmp("block_resize virtio7 1G\n"), "Error: Device 'virtio7' not found\r\n(qemu) ");
	CHECK_STR(hmp("block_resize virtio0 lots\n"),
		  "Error: invalid size 'lots' (bytes, or with K, M, G, T)\r\n(qemu) ");
	CHECK_STR(hmp("block_resize virtio0\n"), "Error: usage: block_resize device size\r\n(qemu) ");

	qmp_start_negotiated();
	CHECK_STR(qmp("{\"execute\": \"block_resize\", \"arguments\": {\"device\": \"virtio0\", "
		      "\"size\": 4294967296}}"), "{\"return\": {}}\r\n");
	CHECK_EQ(vm.resized_size, 4ULL << 30);
	CHECK_STR(qmp("{\"execute\": \"block_resize\", \"arguments\": {\"device\": \"virtio0\"}}"),
		  "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'size' is missing\"}}\r\n");
	CHECK_STR(qmp("{\"execute\": \"block_resize\", \"arguments\": {\"device\": \"virtio0\", "
		      "\"size\": \"1G\"}}"),
		  "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid parameter type for "
		  "'size', expected: integer\"}}\r\n");
	CHECK_STR(qmp("{\"execute\": \"block_resize\", \"arguments\": {\"device\": \"nope\", "
		      "\"size\": 512}}"),
		  "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Device 'nope' not found\"}}\r\n");
}

TEST(address_parsing)
{
	struct monitor_address a;
	char err[256];

	CHECK_EQ(monitor_parse_address("unix:/run/vm0.sock", MONITOR_HMP, &a, err, sizeof(err)), 0);
	CHECK(a.is_unix);
	CHECK_STR(a.path, "/run/vm0.sock");
	CHECK_EQ(a.proto, MONITOR_HMP);

	CHECK_EQ(monitor_parse_address("/run/vm0.qmp,mode=qmp", MONITOR_HMP, &a, err, sizeof(err)), 0);
	CHECK(a.is_unix);
	CHECK_STR(a.path, "/run/vm0.qmp");
	CHECK_EQ(a.proto, MONITOR_QMP);

	CHECK_EQ(monitor_parse_address("unix:/x,mode=readline", MONITOR_QMP, &a, err, sizeof(err)), 0);
	CHECK_EQ(a.proto, MONITOR_HMP);
	CHECK_EQ(monitor_parse_address("unix:/x,mode=control", MONITOR_HMP, &a, err, sizeof(err)), 0);
	CHECK_EQ(a.proto, MONITOR_QMP);

	CHECK_EQ(monitor_parse_address("tcp:127.0.0.1:4444,server,nowait", MONITOR_HMP, &a, err,
				       sizeof(err)), 0);
	CHECK(!a.is_unix);
	CHECK_STR(a.host, "127.0.0.1");
	CHECK_STR(a.port, "4444");
	CHECK(!a.public_ok);

	CHECK_EQ(monitor_parse_address("tcp:[::1]:0", MONITOR_QMP, &a, err, sizeof(err)), 0);
	CHECK_STR(a.host, "::1");
	CHECK_STR(a.port, "0");
	CHECK_EQ(a.proto, MONITOR_QMP);

	CHECK_EQ(monitor_parse_address("tcp::4444,public=on", MONITOR_HMP, &a, err, sizeof(err)), 0);
	CHECK_STR(a.host, "");
	CHECK(a.public_ok);

	const char *bad[] = {
		"", "unix:", "tcp:", "tcp:127.0.0.1", "tcp:127.0.0.1:", "tcp:127.0.0.1:65536",
		"tcp:127.0.0.1:99x", "tcp:[::1:4444", "tcp:[::1]4444", "udp:127.0.0.1:4444",
		"unix:/x,mode=json", "unix:/x,bogus",
		("unix:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),       /* 108 bytes: too long */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		int ret = monitor_parse_address(bad[i], MONITOR_HMP, &a, err, sizeof(err));

		if (ret != -EINVAL || !err[0])
			printf("  accepted or no message: \"%s\"\n", bad[i]);
		CHECK_EQ(ret, -EINVAL);
	}
	CHECK_STR(monitor_runstate_name(MONITOR_RUNSTATE_RUNNING), "running");
	CHECK_STR(monitor_runstate_name(MONITOR_RUNSTATE_GUEST_PANICKED), "guest-panicked");
	CHECK_STR(monitor_runstate_name((enum monitor_runstate)999), "internal-error");
}

int main(void)
{
	RUN(hmp_banner_and_status);
	RUN(hmp_stop_cont);
	RUN(hmp_info_tables);
	RUN(hmp_errors);
	RUN(hmp_unsupported_ops);
	RUN(hmp_partial_input);
	RUN(hmp_long_line);
	RUN(hmp_eof_and_quit);
	RUN(qmp_greeting);
	RUN(qmp_negotiation);
	RUN(qmp_commands);
	RUN(qmp_queries);
	RUN(qmp_request_errors);
	RUN(qmp_malformed_json_resyncs);
	RUN(qmp_framing);
	RUN(qmp_oversized_input_closes);
	RUN(qmp_eof_and_quit);
	RUN(qmp_events);
	RUN(output_cap);
	RUN(block_resize);
	RUN(address_parsing);
	session_destroy(&sess);
	return test_exit();
}
