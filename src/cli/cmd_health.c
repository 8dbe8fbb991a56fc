/*
 * capvm health: is every VM of a running system healthy?  A drop-in for
 * the production guide's `check_vm` script, and the source of capvm's
 * Prometheus metrics.
 *
 * Where the data comes from:
 *   - the supervisor's control socket (`status json`): each VM's state
 *     (running, restarting, failed, stopped, ...), uptime, restarts, last
 *     exit, monitor address;
 *   - each running VM's monitor, when it has one (HMP, or QMP through
 *     human-monitor-command): `info status` (running / paused) and
 *     `info counters` (exits, watchdog, per-device requests, bytes, errors,
 *     needs-reset events).
 * A VM is healthy when the supervisor says running and its monitor (if
 * any answers) does not say paused.  Exit statuses: see health_usage().
 *
 * --prometheus FILE writes the metrics in Prometheus' text format (written
 * to FILE.tmp, then renamed, so a node_exporter textfile collector never
 * reads half a file); --serve ADDR:PORT answers HTTP GETs on a loopback
 * address with the same text, gathered afresh per request.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/commands.h"
#include "common/util.h"
#include "system/supervisor.h"
#include "system/sysdesc.h"

enum {
	HEALTH_OK = 0,          /* every named VM is healthy */
	HEALTH_UNHEALTHY = 1,   /* at least one is not */
	HEALTH_USAGE = 2,       /* bad command line */
	HEALTH_NO_SUPERVISOR = 3, /* no supervisor answers, or a bad reply */
	HEALTH_UNKNOWN_VM = 4,  /* a named VM is not in the system */
	HEALTH_WRITE_ERROR = 5, /* the --prometheus file could not be written */
};

#define MAX_COUNTERS 256
#define MONITOR_REPLY_MAX (256 * 1024)
#define MONITOR_TIMEOUT_MS 3000

struct counter {
	char name[64];
	uint64_t value;
};

struct vm_health {
	char name[64];
	char state[24];          /* supervisor's, or "paused" from the monitor */
	char last_exit[96];
	char monitor[256];
	uint64_t uptime_ms;
	int restarts;
	bool monitor_ok;         /* the monitor answered */
	bool healthy;
	int n_counters;
	struct counter counters[MAX_COUNTERS];
};

static void health_usage(FILE *f)
{
	fprintf(f,
"usage: capvm health [--control PATH] [--prometheus FILE] [--serve ADDR:PORT] [VM...]\n"
"\n"
"Print the state of each VM and device domain (back-end) of a running system\n"
"(all, or the ones named) and exit 0 only when every one is healthy: running,\n"
"and not paused.\n"
"\n"
"  --control PATH       the supervisor's control socket (default: the only\n"
"                       socket in " SUP_CONTROL_DIR "/, or $XDG_RUNTIME_DIR/capvm/\n"
"                       when not root)\n"
"  --prometheus FILE    also write the metrics in Prometheus text format to\n"
"                       FILE (- for stdout); written atomically\n"
"  --serve ADDR:PORT    serve the metrics over HTTP on a loopback address\n"
"                       (e.g. 127.0.0.1:9100) until interrupted\n"
"  -q, --quiet          print nothing; only the exit status\n"
"\n"
"Exit status: 0 all healthy, 1 some VM not healthy (failed, restarting,\n"
"starting, waiting, stopped, exited, paused), 2 usage error, 3 no supervisor answers on the\n"
"control socket, 4 a named VM is not in the system, 5 the --prometheus file\n"
"could not be written.\n");
}

static const char *counter_get(const struct vm_health *h, const char *name, uint64_t *v)
{
	for (int i = 0; i < h->n_counters; i++)
		if (!strcmp(h->counters[i].name, name)) {
			*v = h->counters[i].value;
			return h->counters[i].name;
		}
	return NULL;
}

/* ---- talking to a VM's monitor ---- */

/* Sends req, then reads until the peer closes or MONITOR_TIMEOUT_MS. */
static char *monitor_converse(const struct sd_monitor_addr *a, const char *req)
{
	int fd = sd_monitor_connect(a, MONITOR_TIMEOUT_MS);
	size_t len = 0, cap = 4096;
	char *buf;
	uint64_t deadline = now_ns() + MONITOR_TIMEOUT_MS * 1000000ULL;

	if (fd < 0)
		return NULL;
	buf = malloc(cap);
	if (!buf || write_all(fd, req, strlen(req)) < 0) {
		free(buf);
		close(fd);
		return NULL;
	}
	shutdown(fd, SHUT_WR);  /* the monitor answers what it read, then sees EOF */
	for (;;) {
		uint64_t now = now_ns();
		if (now >= deadline)
			break;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, (int)((deadline - now) / 1000000) + 1) <= 0)
			break;
		if (len + 1 >= cap) {
			if (cap >= MONITOR_REPLY_MAX)
				break;
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

/* QMP replies: the "return" strings of human-monitor-command, joined. */
static char *qmp_human_text(const char *reply)
{
	size_t len = 0;
	char *out = calloc(1, 1);
	const char *line = reply;

	while (out && line && *line) {
		const char *nl = strchr(line, '\n');
		size_t ll = nl ? (size_t)(nl - line) : strlen(line);
		char *copy = strndup(line, ll);
		json_object *o = copy ? json_tokener_parse(copy) : NULL, *ret;
		if (o && json_object_object_get_ex(o, "return", &ret) &&
		    json_object_is_type(ret, json_type_string)) {
			const char *t = json_object_get_string(ret);
			char *n = realloc(out, len + strlen(t) + 2);
			if (n) {
				out = n;
				memcpy(out + len, t, strlen(t));
				len += strlen(t);
				out[len++] = '\n';
				out[len] = '\0';
			}
		}
		json_object_put(o);
		free(copy);
		line = nl ? nl + 1 : NULL;
	}
	return out;
}

/* Fills state (paused?) and counters from the VM's monitor. */
static void query_monitor(struct vm_health *h)
{
	struct sd_monitor_addr a;
	char *reply, *text;

	if (!h->monitor[0] || sd_monitor_parse(h->monitor, &a) < 0)
		return;
	if (a.qmp) {
		reply = monitor_converse(&a,
			"{\"execute\":\"qmp_capabilities\"}\n"
			"{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"info status\"}}\n"
			"{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"info counters\"}}\n");
		text = reply ? qmp_human_text(reply) : NULL;
		free(reply);
	} else {
		text = monitor_converse(&a, "info status\ninfo counters\n");
	}
	if (!text)
		return;
	for (char *save = NULL, *l = strtok_r(text, "\r\n", &save); l; l = strtok_r(NULL, "\r\n", &save)) {
		char name[64], *st;
		unsigned long long v;
		while (!strncmp(l, "(qemu) ", 7))  /* HMP prompts before an answer */
			l += 7;
		if ((st = strstr(l, "VM status: "))) {
			h->monitor_ok = true;
			if (!strncmp(st + 11, "paused", 6))
				snprintf(h->state, sizeof(h->state), "paused");
		} else if (sscanf(l, "%63[A-Za-z0-9_.-]: %llu", name, &v) == 2 &&
			   h->n_counters < MAX_COUNTERS) {
			snprintf(h->counters[h->n_counters].name, sizeof(h->counters[0].name), "%s", name);
			h->counters[h->n_counters].value = v;
			h->n_counters++;
		}
	}
	free(text);
}

/* ---- the supervisor ---- */

static const char *default_control(char *buf, size_t len)
{
	glob_t g;
	const char *r = NULL;
	char pattern[600];

	snprintf(pattern, sizeof(pattern), "%s/*.sock", sup_control_dir());
	if (glob(pattern, 0, NULL, &g) == 0) {
		if (g.gl_pathc == 1) {
			snprintf(buf, len, "%s", g.gl_pathv[0]);
			r = buf;
		}
		globfree(&g);
	}
	return r;
}

static void json_str(json_object *o, const char *key, char *out, size_t len)
{
	json_object *v;
	out[0] = '\0';
	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
		snprintf(out, len, "%s", json_object_get_string(v));
}

/* Returns the number of VMs, or -1 (message printed). */
static int gather(const char *control, struct vm_health **out, bool quiet)
{
	char *reply = NULL;
	size_t rlen = 0;
	FILE *f = open_memstream(&reply, &rlen);
	int r, n = 0;

	*out = NULL;
	if (!f)
		return -1;
	r = sup_request(control, "status json", f);
	fclose(f);
	if (r < 0) {
		if (!quiet)
			fprintf(stderr, "capvm health: no supervisor answers on %s: %s\n", control,
				strerror(-r));
		free(reply);
		return -1;
	}
	json_object *arr = json_tokener_parse(reply);
	if (!arr || !json_object_is_type(arr, json_type_array)) {
		if (!quiet)
			fprintf(stderr, "capvm health: unexpected reply from %s: %.200s\n", control,
				reply ? reply : "");
		json_object_put(arr);
		free(reply);
		return -1;
	}
	size_t count = json_object_array_length(arr);
	struct vm_health *hs = calloc(count ? count : 1, sizeof(*hs));
	for (size_t i = 0; hs && i < count; i++) {
		json_object *o = json_object_array_get_idx(arr, i), *v;
		struct vm_health *h = &hs[n++];
		json_str(o, "name", h->name, sizeof(h->name));
		json_str(o, "state", h->state, sizeof(h->state));
		json_str(o, "last_exit", h->last_exit, sizeof(h->last_exit));
		json_str(o, "monitor", h->monitor, sizeof(h->monitor));
		if (json_object_object_get_ex(o, "uptime_ms", &v))
			h->uptime_ms = (uint64_t)json_object_get_int64(v);
		if (json_object_object_get_ex(o, "restarts", &v))
			h->restarts = json_object_get_int(v);
		if (!strcmp(h->state, "running"))
			query_monitor(h);
		h->healthy = !strcmp(h->state, "running");
	}
	json_object_put(arr);
	free(reply);
	*out = hs;
	return hs ? n : -1;
}

/* ---- output ---- */

static void print_table(struct vm_health *hs, int n, const bool *want)
{
	printf("%-16s %-11s %-10s %-8s %-22s %-11s %-13s %s\n", "NAME", "STATE", "UPTIME",
	       "RESTARTS", "WATCHDOG", "NEEDS_RESET", "BOUNCE_STALLS", "HEALTH");
	for (int i = 0; i < n; i++) {
		struct vm_health *h = &hs[i];
		char up[32] = "-", wd[48] = "n/a";
		uint64_t armed, timeout, fired, v, needs_reset = 0;
		if (!want[i])
			continue;
		if (!strcmp(h->state, "running") || !strcmp(h->state, "paused")) {
			uint64_t s = h->uptime_ms / 1000;
			snprintf(up, sizeof(up), "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 3600,
				 s / 60 % 60, s % 60);
		}
		if (counter_get(h, "watchdog.armed", &armed) && counter_get(h, "watchdog.timeout_s", &timeout) &&
		    counter_get(h, "watchdog.fired", &fired))
			snprintf(wd, sizeof(wd), "%s %" PRIu64 "s, fired %" PRIu64,
				 armed ? "armed" : "off", timeout, fired);
		for (int c = 0; c < h->n_counters; c++) {
			const char *dot = strrchr(h->counters[c].name, '.');
			if (dot && !strcmp(dot, ".needs_reset"))
				needs_reset += h->counters[c].value;
		}
		char nr[24] = "n/a";
		if (counter_get(h, "vm.exits", &v))
			snprintf(nr, sizeof(nr), "%" PRIu64, needs_reset);
		printf("%-16s %-11s %-10s %-8d %-22s %-11s %-13s %s", h->name, h->state, up,
		       h->restarts, wd, nr, "n/a", h->healthy ? "ok" : "NOT OK");
		if (!h->healthy && h->last_exit[0])
			printf(" (%s)", h->last_exit);
		else if (h->healthy && h->monitor[0] && !h->monitor_ok)
			printf(" (monitor did not answer)");
		printf("\n");
	}
}

/* Prometheus names for the per-device counters of `info counters`. */
static const struct { const char *field, *metric, *label; } dev_metrics[] = {
	{ "reads", "capvm_device_requests_total", "op=\"read\"" },
	{ "writes", "capvm_device_requests_total", "op=\"write\"" },
	{ "flushes", "capvm_device_requests_total", "op=\"flush\"" },
	{ "discards", "capvm_device_requests_total", "op=\"discard\"" },
	{ "bytes_read", "capvm_device_bytes_total", "direction=\"read\"" },
	{ "bytes_written", "capvm_device_bytes_total", "direction=\"written\"" },
	{ "errors", "capvm_device_errors_total", NULL },
	{ "needs_reset", "capvm_device_needs_reset_total", NULL },
	{ "resets", "capvm_device_resets_total", NULL },
	{ "kicks", "capvm_device_kicks_total", NULL },
	{ "irqs", "capvm_device_interrupts_total", NULL },
	{ "irqs_suppressed", "capvm_device_interrupts_suppressed_total", NULL },
};

static const struct { const char *counter, *metric, *help; } vm_metrics[] = {
	{ "vm.exits", "capvm_vm_exits_total", "KVM exits handled in user space" },
	{ "vm.exits.io", "capvm_vm_io_exits_total", "port I/O exits" },
	{ "vm.exits.mmio", "capvm_vm_mmio_exits_total", "MMIO exits" },
	{ "watchdog.armed", "capvm_watchdog_armed", "1 while the guest's watchdog counts down" },
	{ "watchdog.timeout_s", "capvm_watchdog_timeout_seconds", "watchdog countdown in force" },
	{ "watchdog.pets", "capvm_watchdog_pets_total", "watchdog starts and pets" },
	{ "watchdog.fired", "capvm_watchdog_fired_total", "watchdog expiries in this VMM process" },
};

static void write_metrics(FILE *f, struct vm_health *hs, int n, const bool *want)
{
	static const char *const states[] = { "running", "paused", "starting", "waiting", "restarting", "stopping",
					      "stopped", "exited", "failed" };

	fprintf(f, "# HELP capvm_vm_up 1 when the VM is running and healthy\n# TYPE capvm_vm_up gauge\n");
	for (int i = 0; i < n; i++)
		if (want[i])
			fprintf(f, "capvm_vm_up{vm=\"%s\"} %d\n", hs[i].name, hs[i].healthy);
	fprintf(f, "# HELP capvm_vm_state the VM's state (1 for the current one)\n# TYPE capvm_vm_state gauge\n");
	for (int i = 0; i < n; i++)
		for (size_t s = 0; want[i] && s < ARRAY_SIZE(states); s++)
			fprintf(f, "capvm_vm_state{vm=\"%s\",state=\"%s\"} %d\n", hs[i].name, states[s],
				!strcmp(hs[i].state, states[s]));
	fprintf(f, "# HELP capvm_vm_uptime_seconds time since the VMM process started\n# TYPE capvm_vm_uptime_seconds gauge\n");
	for (int i = 0; i < n; i++)
		if (want[i])
			fprintf(f, "capvm_vm_uptime_seconds{vm=\"%s\"} %.3f\n", hs[i].name,
				(double)hs[i].uptime_ms / 1000.0);
	fprintf(f, "# HELP capvm_vm_restarts_total restarts by the supervisor\n# TYPE capvm_vm_restarts_total counter\n");
	for (int i = 0; i < n; i++)
		if (want[i])
			fprintf(f, "capvm_vm_restarts_total{vm=\"%s\"} %d\n", hs[i].name, hs[i].restarts);
	for (size_t m = 0; m < ARRAY_SIZE(vm_metrics); m++) {
		bool head = false;
		for (int i = 0; i < n; i++) {
			uint64_t v;
			if (!want[i] || !counter_get(&hs[i], vm_metrics[m].counter, &v))
				continue;
			if (!head)
				fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", vm_metrics[m].metric,
					vm_metrics[m].help, vm_metrics[m].metric,
					strstr(vm_metrics[m].metric, "_total") ? "counter" : "gauge");
			head = true;
			fprintf(f, "%s{vm=\"%s\"} %" PRIu64 "\n", vm_metrics[m].metric, hs[i].name, v);
		}
	}
	/* device counters: "DEVICE.FIELD" where DEVICE has no dot */
	const char *done[ARRAY_SIZE(dev_metrics)] = { 0 };
	for (size_t m = 0; m < ARRAY_SIZE(dev_metrics); m++) {
		bool head = false;
		for (size_t k = 0; k < m; k++)
			if (done[k] && !strcmp(done[k], dev_metrics[m].metric))
				head = true;  /* same metric, other label: HELP already written */
		done[m] = dev_metrics[m].metric;
		for (int i = 0; i < n; i++) {
			for (int c = 0; want[i] && c < hs[i].n_counters; c++) {
				const char *name = hs[i].counters[c].name, *dot = strchr(name, '.');
				if (!dot || strcmp(dot + 1, dev_metrics[m].field) ||
				    !strncmp(name, "vm.", 3) || !strncmp(name, "watchdog.", 9))
					continue;
				if (!head)
					fprintf(f, "# TYPE %s counter\n", dev_metrics[m].metric);
				head = true;
				fprintf(f, "%s{vm=\"%s\",device=\"%.*s\"%s%s} %" PRIu64 "\n",
					dev_metrics[m].metric, hs[i].name, (int)(dot - name), name,
					dev_metrics[m].label ? "," : "",
					dev_metrics[m].label ? dev_metrics[m].label : "",
					hs[i].counters[c].value);
			}
		}
	}
}

static int write_metrics_file(const char *path, struct vm_health *hs, int n, const bool *want)
{
	char tmp[4096];
	FILE *f;

	if (!strcmp(path, "-")) {
		write_metrics(stdout, hs, n, want);
		return 0;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	write_metrics(f, hs, n, want);
	if (fflush(f) != 0 || ferror(f)) {
		int e = errno;
		fclose(f);
		unlink(tmp);
		return -e;
	}
	fclose(f);
	if (rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return -e;
	}
	return 0;
}

/* Which VMs the user named (all when none); -1 if one is unknown. */
static int select_vms(struct vm_health *hs, int n, char **names, int n_names, bool *want,
		      bool quiet)
{
	for (int i = 0; i < n; i++)
		want[i] = n_names == 0;
	for (int k = 0; k < n_names; k++) {
		bool found = false;
		for (int i = 0; i < n; i++)
			if (!strcmp(hs[i].name, names[k]))
				want[i] = found = true;
		if (!found) {
			if (!quiet)
				fprintf(stderr, "capvm health: no VM named '%s' in this system\n", names[k]);
			return -1;
		}
	}
	return 0;
}

/* ---- --serve: a tiny HTTP endpoint on loopback ---- */

static int serve_metrics(const char *addr, const char *control, char **names, int n_names)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	uint64_t port;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int lfd, one = 1;

	if (!colon || (size_t)(colon - addr) >= sizeof(host) ||
	    parse_uint(colon + 1, 1, 65535, &port)) {
		fprintf(stderr, "capvm health: --serve %s: expected ADDR:PORT\n", addr);
		return HEALTH_USAGE;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 || (ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "capvm health: --serve %s: only IPv4 loopback addresses (127.x.x.x)\n",
			addr);
		return HEALTH_USAGE;
	}
	sa.sin_port = htons((uint16_t)port);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 8) < 0) {
		fprintf(stderr, "capvm health: cannot listen on %s: %s\n", addr, strerror(errno));
		if (lfd >= 0)
			close(lfd);
		return HEALTH_NO_SUPERVISOR;
	}
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "capvm health: serving metrics on http://%s/metrics\n", addr);
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		char req[1024];
		if (c < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		/* read the request head (bounded, briefly); any path gets the metrics */
		struct pollfd p = { .fd = c, .events = POLLIN };
		if (poll(&p, 1, 2000) == 1 && read(c, req, sizeof(req)) > 0) {
			struct vm_health *hs = NULL;
			int n = gather(control, &hs, true);
			char *body = NULL;
			size_t blen = 0;
			FILE *m = open_memstream(&body, &blen);
			if (m) {
				if (n >= 0) {
					bool *want = calloc((size_t)n + 1, sizeof(bool));
					if (want && select_vms(hs, n, names, n_names, want, true) == 0)
						write_metrics(m, hs, n, want);
					free(want);
				}
				fclose(m);
			}
			dprintf(c, "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4\r\n"
				"Content-Length: %zu\r\nConnection: close\r\n\r\n",
				n >= 0 ? "200 OK" : "503 Service Unavailable", body ? blen : 0);
			if (body)
				write_all(c, body, blen);
			free(body);
			free(hs);
		}
		close(c);
	}
	close(lfd);
	return HEALTH_NO_SUPERVISOR;
}

int cmd_health(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control", required_argument, NULL, 'c' },
		{ "prometheus", required_argument, NULL, 'p' },
		{ "serve", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *control = NULL, *prom = NULL, *serve = NULL;
	char control_buf[4096];
	bool quiet = false;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': control = optarg; break;
		case 'p': prom = optarg; break;
		case 's': serve = optarg; break;
		case 'q': quiet = true; break;
		case 'h': health_usage(stdout); return 0;
		default:
			health_usage(stderr);
			return HEALTH_USAGE;
		}
	}
	if (!control && !(control = default_control(control_buf, sizeof(control_buf)))) {
		fprintf(stderr, "capvm health: which system?  No single control socket in %s/; "
			"give --control PATH\n", sup_control_dir());
		return HEALTH_USAGE;
	}
	if (serve)
		return serve_metrics(serve, control, argv + optind, argc - optind);

	struct vm_health *hs = NULL;
	int n = gather(control, &hs, quiet);
	if (n < 0)
		return HEALTH_NO_SUPERVISOR;
	bool *want = calloc((size_t)n + 1, sizeof(bool));
	int status = HEALTH_OK;
	if (!want || select_vms(hs, n, argv + optind, argc - optind, want, quiet) < 0) {
		status = HEALTH_UNKNOWN_VM;
		goto out;
	}
	for (int i = 0; i < n; i++)
		if (want[i] && !hs[i].healthy)
			status = HEALTH_UNHEALTHY;
	if (!quiet && !(prom && !strcmp(prom, "-")))
		print_table(hs, n, want);
	if (prom) {
		int r = write_metrics_file(prom, hs, n, want);
		if (r < 0) {
			fprintf(stderr, "capvm health: cannot write %s: %s\n", prom, strerror(-r));
			status = HEALTH_WRITE_ERROR;
		}
	}
out:
	free(want);
	free(hs);
	return status;
}
