/*
 * Unit tests of the monitor over real sockets: a monitor with fake VM ops
 * on a temporary unix socket and on TCP 127.0.0.1 with an ephemeral port;
 * HMP and QMP conversations, events from another thread, many clients,
 * clients that vanish mid-command, oversized input, quit ordering, socket
 * file handling, and `nc` as the issue describes (skipped without nc).
 */
#include "monitor/internal.h"
#include "common/util.h"
#include "unit/test.h"
#include "unit/test_monitor_fake.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char tmpdir[64];
static struct fake_vm vm;

struct conn {
	int fd;
	char buf[256 * 1024];
	size_t len;
	bool eof;
};

static struct conn *conn_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct conn *c = calloc(1, sizeof(*c));

	if (strlen(path) >= sizeof(sun.sun_path)) {
		free(c);
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		return NULL;
	}
	return c;
}

static struct conn *conn_tcp(int port)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct conn *c = calloc(1, sizeof(*c));

	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&in, sizeof(in)) < 0) {
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		return NULL;
	}
	return c;
}

static void conn_close(struct conn *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

static void conn_send(struct conn *c, const char *text)
{
	if (c && write_all(c->fd, text, strlen(text)) < 0)
		printf("  send failed\n");
}

/*
 * Read until needle appears; return everything up to and including it
 * (a static string) and keep the rest.  NULL on timeout or EOF.
 */
static const char *conn_until(struct conn *c, const char *needle, int timeout_ms)
{
	static char got[sizeof(((struct conn *)0)->buf) + 1];
	uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000;

	if (!c)
		return NULL;
	for (;;) {
		char *hit;

		c->buf[c->len] = '\0';
		hit = strstr(c->buf, needle);
		if (hit) {
			size_t n = (size_t)(hit - c->buf) + strlen(needle);

			memcpy(got, c->buf, n);
			got[n] = '\0';
			memmove(c->buf, c->buf + n, c->len - n);
			c->len -= n;
			return got;
		}
		uint64_t now = now_ns();
		struct pollfd p = { .fd = c->fd, .events = POLLIN };

		if (now >= end || c->eof || c->len + 1 >= sizeof(c->buf))
			return NULL;
		if (poll(&p, 1, (int)((end - now) / 1000000) + 1) <= 0)
			continue;
		ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);

		if (n <= 0)
			c->eof = true;
		else
			c->len += (size_t)n;
	}
}

/* True if the server closes the connection within timeout_ms. */
static bool conn_sees_eof(struct conn *c, int timeout_ms)
{
	conn_until(c, "\x01never\x02", timeout_ms);
	return c && c->eof;
}

static struct monitor *new_monitor(void)
{
	char err[256] = "";
	struct monitor *mon;

	fake_init(&vm);
	mon = monitor_create(&fake_ops, &vm, "vm0", err, sizeof(err));
	if (!mon)
		printf("  monitor_create: %s\n", err);
	vm.mon = mon;
	return mon;
}

static int listen_or_print(struct monitor *mon, const char *addr, enum monitor_protocol p)
{
	char err[256] = "";
	int ret = monitor_listen(mon, addr, p, err, sizeof(err));

	if (ret < 0)
		printf("  monitor_listen %s: %s\n", addr, err);
	return ret;
}

static int bound_port(struct monitor *mon, size_t i)
{
	char addr[320];
	const char *colon;

	if (monitor_listener_address(mon, i, addr, sizeof(addr)) < 0)
		return -1;
	colon = strrchr(addr, ':');
	return colon ? atoi(colon + 1) : -1;
}

static void hmp_conversation(struct conn *c)
{
	const char *r;

	CHECK(conn_until(c, "(qemu) ", 5000) != NULL);
	conn_send(c, "info status\n");
	r = conn_until(c, "(qemu) ", 5000);
	CHECK_STR(r, "info status\r\nVM status: running\r\n(qemu) ");
	conn_send(c, "stop\n");
	CHECK_STR(conn_until(c, "(qemu) ", 5000), "stop\r\n(qemu) ");
	conn_send(c, "info status\n");
	CHECK_STR(conn_until(c, "(qemu) ", 5000), "info status\r\nVM status: paused\r\n(qemu) ");
	conn_send(c, "cont\ninfo status\n");
	CHECK_STR(conn_until(c, "(qemu) ", 5000), "cont\r\n(qemu) ");
	CHECK_STR(conn_until(c, "(qemu) ", 5000), "info status\r\nVM status: running\r\n(qemu) ");
	conn_send(c, "info cpus\n");
	CHECK_STR(conn_until(c, "(qemu) ", 5000),
		  "info cpus\r\n* CPU #0: thread_id=1234\r\n  CPU #1: thread_id=1235\r\n(qemu) ");
}

TEST(hmp_over_unix_and_tcp)
{
	char path[128];
	struct monitor *mon = new_monitor();
	struct stat st;

	snprintf(path, sizeof(path), "%s/hmp.sock", tmpdir);
	CHECK(mon != NULL);
	if (!mon)
		return;
	CHECK_EQ(listen_or_print(mon, path, MONITOR_HMP), 0);
	CHECK_EQ(listen_or_print(mon, "tcp:127.0.0.1:0", MONITOR_HMP), 0);
	CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600);
	CHECK_EQ(monitor_start(mon), 0);

	struct conn *u = conn_unix(path);
	struct conn *t = conn_tcp(bound_port(mon, 1));

	CHECK(u && t);
	hmp_conversation(u);
	hmp_conversation(t);
	CHECK_EQ(vm.stops, 2);
	conn_close(u);
	conn_close(t);
	monitor_destroy(mon);
	CHECK(stat(path, &st) < 0);     /* socket file removed */
}

/* Read one "\r\n"-terminated QMP line. */
static const char *qmp_line(struct conn *c)
{
	return conn_until(c, "\r\n", 5000);
}

static void qmp_conversation(struct conn *c)
{
	const char *l = qmp_line(c);

	CHECK(l && !strncmp(l, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "
			    "\"major\": 7}, \"package\": \"capvm ", 80));
	CHECK(l && strstr(l, "\"capabilities\": []}}\r\n"));
	conn_send(c, "{\"execute\": \"query-status\"}\n");
	CHECK_STR(qmp_line(c), "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting "
		  "capabilities negotiation with 'qmp_capabilities'\"}}\r\n");
	conn_send(c, "{\"execute\": \"qmp_capabilities\"}\n");
	CHECK_STR(qmp_line(c), "{\"return\": {}}\r\n");
	conn_send(c, "{\"execute\": \"query-status\", \"id\": 1}\n");
	CHECK_STR(qmp_line(c), "{\"return\": {\"status\": \"running\", \"singlestep\": false, "
		  "\"running\": true}, \"id\": 1}\r\n");
	/* The STOP event the VMM emits inside stop precedes the reply. */
	conn_send(c, "{\"execute\": \"stop\", \"id\": 2}\n");
	l = qmp_line(c);
	CHECK(l && !strncmp(l, "{\"timestamp\": {\"seconds\": ", 26) &&
	      strstr(l, "\"event\": \"STOP\"}\r\n"));
	CHECK_STR(qmp_line(c), "{\"return\": {}, \"id\": 2}\r\n");
	conn_send(c, "{\"execute\": \"cont\"}");
	l = qmp_line(c);
	CHECK(l && strstr(l, "\"event\": \"RESUME\"}\r\n"));
	CHECK_STR(qmp_line(c), "{\"return\": {}}\r\n");
	conn_send(c, "{\"execute\": \"system_reset\"}");
	l = qmp_line(c);
	CHECK(l && strstr(l, "\"event\": \"RESET\", \"data\": {\"guest\": false, \"reason\": "
			  "\"host-qmp-system-reset\"}}\r\n"));
	CHECK_STR(qmp_line(c), "{\"return\": {}}\r\n");
	conn_send(c, "{\"execute\": \"system_powerdown\"}");
	l = qmp_line(c);
	CHECK(l && strstr(l, "\"event\": \"POWERDOWN\"}\r\n"));
	CHECK_STR(qmp_line(c), "{\"return\": {}}\r\n");
	conn_send(c, "{\"execute\": \"query-cpus-fast\"}");
	l = qmp_line(c);
	CHECK(l && strstr(l, "\"thread-id\": 1235"));
	conn_send(c, "{\"execute\": \"query-block\"}");
	l = qmp_line(c);
	CHECK(l && strstr(l, "\"device\": \"virtio0\""));
	conn_send(c, "{\"execute\": \"nope\"}");
	CHECK_STR(qmp_line(c), "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command "
		  "nope has not been found\"}}\r\n");
	conn_send(c, "{\"execute\" oops}\n");
	l = qmp_line(c);
	CHECK(l && strstr(l, "JSON parse error"));
	conn_send(c, "{\"execute\": \"query-name\"}");
	CHECK_STR(qmp_line(c), "{\"return\": {\"name\": \"vm0\"}}\r\n");
}

TEST(qmp_over_unix_and_tcp)
{
	char path[128], addr[160];
	struct monitor *mon = new_monitor();

	if (!mon)
		return;
	snprintf(path, sizeof(path), "%s/qmp.sock", tmpdir);
	snprintf(addr, sizeof(addr), "unix:%s", path);
	CHECK_EQ(listen_or_print(mon, addr, MONITOR_QMP), 0);
	CHECK_EQ(listen_or_print(mon, "tcp:127.0.0.1:0,mode=qmp", MONITOR_HMP), 0);
	CHECK_EQ(monitor_start(mon), 0);
	struct conn *u = conn_unix(path);
	struct conn *t = conn_tcp(bound_port(mon, 1));

	CHECK(u && t);
	qmp_conversation(u);
	qmp_conversation(t);
	conn_close(u);
	conn_close(t);
	monitor_destroy(mon);
}

struct emitter_arg {
	struct monitor *mon;
	int count;
};

static void *emitter(void *p)
{
	struct emitter_arg *a = p;

	for (int i = 0; i < a->count; i++)
		monitor_emit_event(a->mon, "WATCHDOG", "{\"action\": \"pause\"}");
	return NULL;
}

TEST(events_from_other_threads)
{
	char path[128];
	struct monitor *mon = new_monitor();

	if (!mon)
		return;
	snprintf(path, sizeof(path), "%s/ev.sock", tmpdir);
	CHECK_EQ(listen_or_print(mon, path, MONITOR_QMP), 0);
	CHECK_EQ(monitor_start(mon), 0);

	struct conn *neg = conn_unix(path), *raw = conn_unix(path);

	qmp_line(neg);
	qmp_line(raw);
	conn_send(neg, "{\"execute\": \"qmp_capabilities\"}");
	CHECK_STR(qmp_line(neg), "{\"return\": {}}\r\n");
	CHECK_EQ(monitor_emit_event(mon, "SHUTDOWN", "{\"guest\": true, \"reason\": \"guest-shutdown\"}"), 0);
	const char *l = qmp_line(neg);

	CHECK(l && strstr(l, "\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": "
			  "\"guest-shutdown\"}}\r\n"));
	CHECK_EQ(monitor_emit_event(mon, "bad name", NULL), -EINVAL);
	CHECK_EQ(monitor_emit_event(mon, "STOP", "[1]"), -EINVAL);
	CHECK_EQ(monitor_emit_event(mon, "STOP", "{broken"), -EINVAL);

	/* Four threads, 100 events each: all arrive, whole lines. */
	pthread_t th[4];
	struct emitter_arg arg = { mon, 100 };

	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, emitter, &arg);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	int got = 0;

	while ((l = conn_until(neg, "\r\n", 5000)) && strstr(l, "\"event\": \"WATCHDOG\", \"data\": "
							   "{\"action\": \"pause\"}}\r\n"))
		if (++got == 400)
			break;
	CHECK_EQ(got, 400);
	/* The un-negotiated client got no event. */
	conn_send(raw, "{\"execute\": \"qmp_capabilities\"}");
	CHECK_STR(qmp_line(raw), "{\"return\": {}}\r\n");

	/* Events queued just before destroy are still delivered. */
	monitor_emit_event(mon, "SHUTDOWN", "{\"guest\": false, \"reason\": \"host-qmp-quit\"}");
	monitor_destroy(mon);
	l = qmp_line(neg);
	CHECK(l && strstr(l, "\"reason\": \"host-qmp-quit\""));
	CHECK(conn_sees_eof(neg, 5000));
	conn_close(neg);
	conn_close(raw);
}

TEST(client_limit_and_vanishing_clients)
{
	char path[128];
	struct monitor *mon = new_monitor();
	struct conn *c[MONITOR_MAX_CLIENTS + 1];

	if (!mon)
		return;
	snprintf(path, sizeof(path), "%s/many.sock", tmpdir);
	CHECK_EQ(listen_or_print(mon, path, MONITOR_HMP), 0);
	CHECK_EQ(monitor_start(mon), 0);
	for (int i = 0; i < MONITOR_MAX_CLIENTS; i++) {
		c[i] = conn_unix(path);
		CHECK(conn_until(c[i], "(qemu) ", 5000) != NULL);
	}
	/* One too many: told so and closed. */
	c[MONITOR_MAX_CLIENTS] = conn_unix(path);
	CHECK_STR(conn_until(c[MONITOR_MAX_CLIENTS], "\r\n", 5000),
		  "Error: too many monitor connections\r\n");
	CHECK(conn_sees_eof(c[MONITOR_MAX_CLIENTS], 5000));
	conn_close(c[MONITOR_MAX_CLIENTS]);

	/* Clients that leave mid-command, one abruptly with unread output. */
	conn_send(c[0], "info sta");
	conn_close(c[0]);
	conn_send(c[1], "info block\ninfo block\ninfo block\n");
	conn_close(c[1]);

	/* Their slots become free again (retry while the server has not
	 * noticed yet), the others still work. */
	c[0] = NULL;
	for (int tries = 0; tries < 50 && !c[0]; tries++) {
		struct conn *n = conn_unix(path);
		const char *greet = conn_until(n, "(qemu) ", 5000);

		if (greet && strstr(greet, "monitor")) {
			c[0] = n;
		} else {
			conn_close(n);
			usleep(100 * 1000);
		}
	}
	CHECK(c[0] != NULL);
	if (!c[0])
		return;
	conn_send(c[0], "info status\n");
	CHECK_STR(conn_until(c[0], "(qemu) ", 5000), "info status\r\nVM status: running\r\n(qemu) ");
	conn_send(c[5], "info status\n");
	CHECK_STR(conn_until(c[5], "(qemu) ", 5000), "info status\r\nVM status: running\r\n(qemu) ");

	/* Half-closed client (echo | nc -N): gets its answer, then EOF. */
	conn_send(c[2], "info status");
	shutdown(c[2]->fd, SHUT_WR);
	CHECK_STR(conn_until(c[2], "\r\n", 5000), "info status\r\n");
	CHECK_STR(conn_until(c[2], "\r\n", 5000), "VM status: running\r\n");
	CHECK(conn_sees_eof(c[2], 5000));

	for (int i = 0; i < MONITOR_MAX_CLIENTS; i++)
		if (i != 1)
			conn_close(c[i]);
	monitor_destroy(mon);
}

TEST(oversized_input)
{
	char path[128], qpath[128];
	struct monitor *mon = new_monitor();
	size_t n = 3 * MONITOR_MAX_INPUT;
	char *big = malloc(n + 1);

	if (!mon || !big)
		return;
	snprintf(path, sizeof(path), "%s/big.sock", tmpdir);
	snprintf(qpath, sizeof(qpath), "%s/bigq.sock", tmpdir);
	CHECK_EQ(listen_or_print(mon, path, MONITOR_HMP), 0);
	CHECK_EQ(listen_or_print(mon, qpath, MONITOR_QMP), 0);
	CHECK_EQ(listen_or_print(mon, "tcp:127.0.0.1:0", MONITOR_QMP), 0);
	CHECK_EQ(monitor_start(mon), 0);

	/* HMP: one error, the connection survives. */
	struct conn *h = conn_unix(path);

	conn_until(h, "(qemu) ", 5000);
	memset(big, 'x', n);
	big[n] = '\0';
	conn_send(h, big);
	conn_send(h, "\ninfo status\n");
	CHECK_STR(conn_until(h, "(qemu) ", 5000),
		  "Error: command line longer than 65536 bytes, ignored\r\n(qemu) ");
	CHECK_STR(conn_until(h, "(qemu) ", 5000), "info status\r\nVM status: running\r\n(qemu) ");

	/* QMP: error reply, then the server closes. */
	struct conn *q = conn_unix(qpath);

	qmp_line(q);
	conn_send(q, "{\"execute\": \"qmp_capabilities\"}");
	qmp_line(q);
	memcpy(big, "{\"execute\": \"", 13);
	conn_send(q, big);
	CHECK_STR(qmp_line(q), "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON input "
		  "exceeds the limit of 65536 bytes\"}}\r\n");
	CHECK(conn_sees_eof(q, 5000));

	/* Same over TCP, where closing on unread input would reset the
	 * connection and lose the reply: the server drains first. */
	struct conn *t = conn_tcp(bound_port(mon, 2));

	qmp_line(t);
	conn_send(t, "{\"execute\": \"qmp_capabilities\"}");
	qmp_line(t);
	conn_send(t, big);
	CHECK_STR(qmp_line(t), "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON input "
		  "exceeds the limit of 65536 bytes\"}}\r\n");
	CHECK(conn_sees_eof(t, 5000));
	free(big);
	conn_close(h);
	conn_close(q);
	conn_close(t);
	monitor_destroy(mon);
}

TEST(quit_replies_first)
{
	char path[128];
	struct monitor *mon = new_monitor();

	if (!mon)
		return;
	snprintf(path, sizeof(path), "%s/quit.sock", tmpdir);
	CHECK_EQ(listen_or_print(mon, path, MONITOR_QMP), 0);
	CHECK_EQ(monitor_start(mon), 0);
	struct conn *q = conn_unix(path);

	qmp_line(q);
	conn_send(q, "{\"execute\": \"qmp_capabilities\"}{\"execute\": \"quit\", \"id\": \"bye\"}");
	CHECK_STR(qmp_line(q), "{\"return\": {}}\r\n");
	CHECK_STR(qmp_line(q), "{\"return\": {}, \"id\": \"bye\"}\r\n");
	for (int i = 0; i < 500 && fake_get(&vm, &vm.quits) == 0; i++)
		usleep(10 * 1000);
	CHECK_EQ(fake_get(&vm, &vm.quits), 1);
	/* The VMM tells clients it is going, then destroys the monitor. */
	monitor_emit_event(mon, "SHUTDOWN", "{\"guest\": false, \"reason\": \"host-qmp-quit\"}");
	monitor_destroy(mon);
	const char *l = qmp_line(q);

	CHECK(l && strstr(l, "SHUTDOWN"));
	CHECK(conn_sees_eof(q, 5000));
	conn_close(q);

	/* `echo quit | nc -N`: HMP quit from a client that leaves at once
	 * is still honoured. */
	mon = new_monitor();
	if (!mon)
		return;
	snprintf(path, sizeof(path), "%s/quit-hmp.sock", tmpdir);
	CHECK_EQ(listen_or_print(mon, path, MONITOR_HMP), 0);
	CHECK_EQ(monitor_start(mon), 0);
	q = conn_unix(path);
	conn_send(q, "quit\n");
	conn_close(q);
	for (int i = 0; i < 500 && fake_get(&vm, &vm.quits) == 0; i++)
		usleep(10 * 1000);
	CHECK_EQ(fake_get(&vm, &vm.quits), 1);
	monitor_destroy(mon);
}

TEST(socket_files_and_addresses)
{
	char path[128], err[256];
	struct monitor *a = new_monitor(), *b;
	int fd;

	if (!a)
		return;
	b = monitor_create(&fake_ops, &vm, NULL, err, sizeof(err));
	snprintf(path, sizeof(path), "%s/files.sock", tmpdir);

	/* A stale socket (its process died) is replaced. */
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	memcpy(sun.sun_path, path, strlen(path) + 1);    /* short: tmpdir is */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	close(fd);
	CHECK_EQ(listen_or_print(a, path, MONITOR_HMP), 0);
	/* A live one is not. */
	CHECK_EQ(monitor_listen(b, path, MONITOR_HMP, err, sizeof(err)), -EADDRINUSE);
	CHECK(strstr(err, "another process is listening") != NULL);
	/* Nor is a regular file. */
	char file[140];

	snprintf(file, sizeof(file), "%s/regular", tmpdir);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	close(fd);
	CHECK_EQ(monitor_listen(b, file, MONITOR_HMP, err, sizeof(err)), -EEXIST);
	CHECK(access(file, F_OK) == 0);
	unlink(file);

	/* Non-loopback TCP needs public=on (refused before binding). */
	CHECK_EQ(monitor_listen(b, "tcp:0.0.0.0:0", MONITOR_HMP, err, sizeof(err)), -EPERM);
	CHECK(strstr(err, "public=on") != NULL);
	CHECK_EQ(monitor_listen(b, "tcp::0", MONITOR_HMP, err, sizeof(err)), -EPERM);
	CHECK_EQ(monitor_listen(b, "tcp:192.0.2.1:0", MONITOR_HMP, err, sizeof(err)), -EPERM);
	CHECK_EQ(monitor_listen(b, "tcp:localhost:0", MONITOR_QMP, err, sizeof(err)), 0);
	CHECK_EQ(monitor_listen(b, "udp:1.2.3.4:5", MONITOR_HMP, err, sizeof(err)), -EINVAL);

	char bound[320];

	CHECK_EQ(monitor_listener_address(a, 0, bound, sizeof(bound)), 0);
	CHECK(strstr(bound, "unix:") == bound && strstr(bound, ",mode=hmp"));
	CHECK_EQ(monitor_listener_address(b, 0, bound, sizeof(bound)), 0);
	CHECK(strstr(bound, "tcp:") == bound && strstr(bound, ",mode=qmp"));
	CHECK_EQ(monitor_listener_address(b, 5, bound, sizeof(bound)), -ENOENT);

	/* Destroying a monitor that never started is fine. */
	monitor_destroy(b);
	monitor_destroy(a);
	CHECK(access(path, F_OK) < 0);
	monitor_destroy(NULL);
	CHECK(monitor_create(&(struct monitor_ops){ 0 }, NULL, NULL, err, sizeof(err)) == NULL);
}

/* Run a shell pipeline; return its stdout (static), NULL on failure. */
static const char *shell(const char *cmd)
{
	static char out[4096];
	FILE *p = popen(cmd, "r");
	size_t n;

	if (!p)
		return NULL;
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	pclose(p);
	return out;
}

TEST(netcat_one_liners)
{
	char path[128], cmd[512];
	struct monitor *mon;
	const char *out;

	if (system("command -v nc >/dev/null 2>&1") != 0)
		SKIP("nc not installed");
	mon = new_monitor();
	if (!mon)
		return;
	snprintf(path, sizeof(path), "%s/nc.sock", tmpdir);
	CHECK_EQ(listen_or_print(mon, path, MONITOR_HMP), 0);
	CHECK_EQ(listen_or_print(mon, "tcp:127.0.0.1:0", MONITOR_HMP), 0);
	CHECK_EQ(listen_or_print(mon, "tcp:127.0.0.1:0,mode=qmp", MONITOR_HMP), 0);
	CHECK_EQ(monitor_start(mon), 0);

	/* The example: echo "info status" | nc localhost PORT */
	snprintf(cmd, sizeof(cmd), "echo 'info status' | timeout 5 nc -N localhost %d | tr -d '\\r'",
		 bound_port(mon, 1));
	out = shell(cmd);
	CHECK(out && strstr(out, "\nVM status: running\n"));
	snprintf(cmd, sizeof(cmd), "echo 'info status' | timeout 5 nc -N -U %s | tr -d '\\r'", path);
	out = shell(cmd);
	CHECK(out && strstr(out, "\nVM status: running\n"));
	snprintf(cmd, sizeof(cmd), "printf '%%s\\n' '{\"execute\":\"qmp_capabilities\"}' "
		 "'{\"execute\":\"query-status\"}' | timeout 5 nc -N 127.0.0.1 %d", bound_port(mon, 2));
	out = shell(cmd);
	CHECK(out && strstr(out, "{\"return\": {\"status\": \"running\", \"singlestep\": false, "
			     "\"running\": true}}\r\n"));
	monitor_destroy(mon);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/capvm-mon-test.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(hmp_over_unix_and_tcp);
	RUN(qmp_over_unix_and_tcp);
	RUN(events_from_other_threads);
	RUN(client_limit_and_vanishing_clients);
	RUN(oversized_input);
	RUN(quit_replies_first);
	RUN(socket_files_and_addresses);
	RUN(netcat_one_liners);
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("  could not remove %s\n", tmpdir);
	return test_exit();
}
