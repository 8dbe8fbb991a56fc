/*
 * The human monitor (HMP): QEMU's text commands and output formats, so
 * scripts written against QEMU's `-monitor` keep working:
 *   info status   -> "VM status: running" / "VM status: paused" /
 *                    "VM status: paused (shutdown)"
 *   info cpus     -> "* CPU #0: thread_id=1234"
 *   info block, info network, info counters, info version, info name
 *   stop, cont, system_powerdown, system_reset, quit, help
 * Unknown commands get QEMU's "unknown command: 'xyz'".
 */
#include "monitor/internal.h"
#include "common/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HMP_MAX_ARGS 8

struct hmp_args {
	const char *argv[HMP_MAX_ARGS];
	size_t arglen[HMP_MAX_ARGS];
	int argc;
	bool too_many;
};

struct hmp_cmd {
	const char *names;      /* "stop|s": name and aliases */
	const char *params;     /* for help */
	const char *help;
	int max_args;           /* arguments after the name */
	void (*run)(struct monitor_session *s, const struct hmp_args *a, struct mon_buf *out);
};

/* Does the token equal one of the '|'-separated names? */
static bool name_matches(const char *names, const char *tok, size_t len)
{
	while (*names) {
		const char *bar = strchr(names, '|');
		size_t n = bar ? (size_t)(bar - names) : strlen(names);

		if (n == len && !memcmp(names, tok, len))
			return true;
		if (!bar)
			break;
		names = bar + 1;
	}
	return false;
}

/* Print the first name of a "stop|s" list. */
static int primary_len(const char *names)
{
	const char *bar = strchr(names, '|');

	return bar ? (int)(bar - names) : (int)strlen(names);
}

static void print_error(struct mon_buf *out, int ret, const char *err)
{
	mon_buf_printf_crlf(out, "Error: %s\n", monitor_errmsg(ret, err));
}

static void not_supported(struct mon_buf *out, const char *what)
{
	mon_buf_printf_crlf(out, "Error: %s is not supported by this VM\n", what);
}

typedef int (*action_fn)(void *opaque, char *err, size_t errlen);

static void run_action(struct monitor_session *s, struct mon_buf *out,
		       action_fn fn, const char *name)
{
	char err[256] = "";
	int ret;

	if (!fn) {
		not_supported(out, name);
		return;
	}
	ret = fn(s->opaque, err, sizeof(err));
	if (ret < 0)
		print_error(out, ret, err);
}

static void hmp_stop(struct monitor_session *s, const struct hmp_args *a, struct mon_buf *out)
{
	run_action(s, out, s->ops->stop, "stop");
}

static void hmp_cont(struct monitor_session *s, const struct hmp_args *a, struct mon_buf *out)
{
	run_action(s, out, s->ops->cont, "cont");
}

static void hmp_powerdown(struct monitor_session *s, const struct hmp_args *a, struct mon_buf *out)
{
	run_action(s, out, s->ops->system_powerdown, "system_powerdown");
}

static void hmp_reset(struct monitor_session *s, const struct hmp_args *a, struct mon_buf *out)
{
	run_action(s, out, s->ops->system_reset, "system_reset");
}

static void hmp_quit(struct monitor_session *s, const struct hmp_args *a, struct mon_buf *out)
{
	/* As in QEMU, quit prints nothing; the VMM exits and the connection
	 * closes.  The socket layer calls ops->quit after flushing. */
	if (!s->ops->quit) {
		not_supported(out, "quit");
		return;
	}
	s->want_quit = true;
}

static void info_status(struct monitor_session *s, struct mon_buf *out)
{
	enum monitor_runstate st = s->ops->get_status(s->opaque);
	bool running = st == MONITOR_RUNSTATE_RUNNING;

	/* QEMU: "running", "paused", or "paused (<state>)" for the others. */
	mon_buf_printf_crlf(out, "VM status: %s", running ? "running" : "paused");
	if (!running && st != MONITOR_RUNSTATE_PAUSED)
		mon_buf_printf_crlf(out, " (%s)", monitor_runstate_name(st));
	mon_buf_puts_crlf(out, "\n");
}

static void info_cpus(struct monitor_session *s, struct mon_buf *out)
{
	struct monitor_cpu *cpus;
	int n;

	if (!s->ops->query_cpus) {
		not_supported(out, "info cpus");
		return;
	}
	cpus = calloc(MONITOR_MAX_CPUS, sizeof(*cpus));
	if (!cpus) {
		print_error(out, -ENOMEM, NULL);
		return;
	}
	n = s->ops->query_cpus(s->opaque, cpus, MONITOR_MAX_CPUS);
	if (n < 0)
		print_error(out, n, NULL);
	/* The first vCPU is the monitor's current one, marked '*'. */
	for (int i = 0; i < n && i < MONITOR_MAX_CPUS; i++)
		mon_buf_printf_crlf(out, "%c CPU #%d: thread_id=%" PRId64 "\n",
				    i == 0 ? '*' : ' ', cpus[i].index, cpus[i].thread_id);
	free(cpus);
}

/* Copy a callback-filled fixed string, making sure it is terminated. */
#define TERMINATE(field) ((field)[sizeof(field) - 1] = '\0')

static void info_block(struct monitor_session *s, struct mon_buf *out)
{
	struct monitor_block *blk;
	int n;

	if (!s->ops->query_block) {
		not_supported(out, "info block");
		return;
	}
	blk = calloc(MONITOR_MAX_BLOCKS, sizeof(*blk));
	if (!blk) {
		print_error(out, -ENOMEM, NULL);
		return;
	}
	n = s->ops->query_block(s->opaque, blk, MONITOR_MAX_BLOCKS);
	if (n < 0)
		print_error(out, n, NULL);
	for (int i = 0; i < n && i < MONITOR_MAX_BLOCKS; i++) {
		struct monitor_block *b = &blk[i];

		TERMINATE(b->device);
		TERMINATE(b->file);
		TERMINATE(b->format);
		TERMINATE(b->attached_to);
		if (i > 0)
			mon_buf_puts_crlf(out, "\n");
		mon_buf_printf_crlf(out, "%s: %s (%s%s)\n", b->device, b->file,
				    b->format[0] ? b->format : "raw",
				    b->read_only ? ", read-only" : "");
		if (b->attached_to[0])
			mon_buf_printf_crlf(out, "    Attached to:      %s\n", b->attached_to);
		mon_buf_printf_crlf(out, "    Cache mode:       writeback%s\n",
				    b->direct ? ", direct" : "");
	}
	free(blk);
}

static void info_network(struct monitor_session *s, struct mon_buf *out)
{
	struct monitor_nic *nics;
	int n;

	if (!s->ops->query_network) {
		not_supported(out, "info network");
		return;
	}
	nics = calloc(MONITOR_MAX_NICS, sizeof(*nics));
	if (!nics) {
		print_error(out, -ENOMEM, NULL);
		return;
	}
	n = s->ops->query_network(s->opaque, nics, MONITOR_MAX_NICS);
	if (n < 0)
		print_error(out, n, NULL);
	for (int i = 0; i < n && i < MONITOR_MAX_NICS; i++) {
		struct monitor_nic *c = &nics[i];

		TERMINATE(c->name);
		TERMINATE(c->model);
		TERMINATE(c->mac);
		TERMINATE(c->backend_name);
		TERMINATE(c->backend_type);
		TERMINATE(c->backend_info);
		/* QEMU: the NIC, then its backend indented with " \ ". */
		mon_buf_printf_crlf(out, "%s: index=%d,type=nic,model=%s,macaddr=%s\n",
				    c->name, i, c->model, c->mac);
		if (c->backend_name[0] || c->backend_type[0])
			mon_buf_printf_crlf(out, " \\ %s: index=%d,type=%s%s%s\n",
					    c->backend_name[0] ? c->backend_name : c->name, i,
					    c->backend_type[0] ? c->backend_type : "unknown",
					    c->backend_info[0] ? "," : "", c->backend_info);
	}
	free(nics);
}

static void info_counters(struct monitor_session *s, struct mon_buf *out)
{
	struct monitor_counter *ctr;
	int n;

	if (!s->ops->query_counters) {
		not_supported(out, "info counters");
		return;
	}
	ctr = calloc(MONITOR_MAX_COUNTERS, sizeof(*ctr));
	if (!ctr) {
		print_error(out, -ENOMEM, NULL);
		return;
	}
	n = s->ops->query_counters(s->opaque, ctr, MONITOR_MAX_COUNTERS);
	if (n < 0)
		print_error(out, n, NULL);
	for (int i = 0; i < n && i < MONITOR_MAX_COUNTERS; i++) {
		TERMINATE(ctr[i].name);
		mon_buf_printf_crlf(out, "%s: %" PRIu64 "\n", ctr[i].name, ctr[i].value);
	}
	free(ctr);
}

static void info_version(struct monitor_session *s, struct mon_buf *out)
{
	mon_buf_printf_crlf(out, "%d.%d.%d (%s)\n", s->version->major, s->version->minor,
			    s->version->micro, s->version->package);
}

static void info_name(struct monitor_session *s, struct mon_buf *out)
{
	if (s->vm_name)
		mon_buf_printf_crlf(out, "%s\n", s->vm_name);
}

struct info_cmd {
	const char *names;
	const char *help;
	void (*run)(struct monitor_session *s, struct mon_buf *out);
};

static const struct info_cmd info_cmds[] = {
	{ "block", "show the block devices", info_block },
	{ "counters|stats", "show the VM's counters (name: value)", info_counters },
	{ "cpus", "show infos for each CPU", info_cpus },
	{ "name", "show the current VM name", info_name },
	{ "network", "show the network state", info_network },
	{ "status", "show the current VM status (running|paused)", info_status },
	{ "version", "show the version of QEMU (the QMP level) and capvm", info_version },
};

static void info_help(struct mon_buf *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(info_cmds); i++)
		mon_buf_printf_crlf(out, "info %.*s  -- %s\n", primary_len(info_cmds[i].names),
				    info_cmds[i].names, info_cmds[i].help);
}

static void hmp_info(struct monitor_session *s, const struct hmp_args *a, struct mon_buf *out)
{
	if (a->argc < 2) {
		info_help(out);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(info_cmds); i++) {
		if (name_matches(info_cmds[i].names, a->argv[1], a->arglen[1])) {
			info_cmds[i].run(s, out);
			return;
		}
	}
	/* QEMU quotes the whole command for an unknown subcommand. */
	mon_buf_printf_crlf(out, "unknown command: 'info %.*s'\n",
			    (int)(a->arglen[1] > 256 ? 256 : a->arglen[1]), a->argv[1]);
}

/* block_resize DEVICE SIZE: SIZE in bytes or with a K/M/G/T suffix, as in QEMU. */
static void hmp_block_resize(struct monitor_session *s, const struct hmp_args *a, struct mon_buf *out)
{
	char dev[64], size_text[32], err[256] = "";
	uint64_t size;
	int ret;

	if (!s->ops->block_resize) {
		not_supported(out, "block_resize");
		return;
	}
	if (a->argc < 3 || a->arglen[1] >= sizeof(dev) || a->arglen[2] >= sizeof(size_text)) {
		mon_buf_printf_crlf(out, "Error: usage: block_resize device size\n");
		return;
	}
	memcpy(dev, a->argv[1], a->arglen[1]);
	dev[a->arglen[1]] = 0;
	memcpy(size_text, a->argv[2], a->arglen[2]);
	size_text[a->arglen[2]] = 0;
	if (parse_size(size_text, 1, &size)) {
		mon_buf_printf_crlf(out, "Error: invalid size '%s' (bytes, or with K, M, G, T)\n",
				    size_text);
		return;
	}
	ret = s->ops->block_resize(s->opaque, dev, size, err, sizeof(err));
	if (ret < 0)
		print_error(out, ret, err);
}

static void hmp_help(struct monitor_session *s, const struct hmp_args *a, struct mon_buf *out);

static const struct hmp_cmd hmp_cmds[] = {
	{ "block_resize", "device size", "resize a block image (grow only)", 2, hmp_block_resize },
	{ "cont|c", "", "resume emulation", 0, hmp_cont },
	{ "help|?", "[cmd]", "show the help", 1, hmp_help },
	{ "info", "[subcommand]", "show various information about the system state", 1, hmp_info },
	{ "quit|q", "", "quit the emulator", 0, hmp_quit },
	{ "stop|s", "", "stop emulation", 0, hmp_stop },
	{ "system_powerdown", "", "send system power down event", 0, hmp_powerdown },
	{ "system_reset", "", "reset the system", 0, hmp_reset },
};

static void hmp_help(struct monitor_session *s, const struct hmp_args *a, struct mon_buf *out)
{
	if (a->argc >= 2 && name_matches("info", a->argv[1], a->arglen[1])) {
		info_help(out);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(hmp_cmds); i++) {
		if (a->argc >= 2 && !name_matches(hmp_cmds[i].names, a->argv[1], a->arglen[1]))
			continue;
		mon_buf_printf_crlf(out, "%s %s -- %s\n", hmp_cmds[i].names, hmp_cmds[i].params,
				    hmp_cmds[i].help);
	}
}

static void split_args(const char *line, size_t len, struct hmp_args *a)
{
	size_t i = 0;

	memset(a, 0, sizeof(*a));
	while (i < len) {
		while (i < len && line[i] == ' ')
			i++;
		if (i == len)
			break;
		size_t start = i;

		while (i < len && line[i] != ' ')
			i++;
		if (a->argc == HMP_MAX_ARGS) {
			a->too_many = true;
			break;
		}
		a->argv[a->argc] = line + start;
		a->arglen[a->argc] = i - start;
		a->argc++;
	}
}

void hmp_execute(struct monitor_session *s, const char *line, size_t len, struct mon_buf *out)
{
	struct hmp_args a;

	split_args(line, len, &a);
	if (a.argc == 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(hmp_cmds); i++) {
		const struct hmp_cmd *c = &hmp_cmds[i];

		if (!name_matches(c->names, a.argv[0], a.arglen[0]))
			continue;
		if (a.too_many || a.argc - 1 > c->max_args) {
			mon_buf_printf_crlf(out, "%s: extraneous characters at the end of line\n"
					    "Try \"help %.*s\" for more information\n",
					    c->names, primary_len(c->names), c->names);
			return;
		}
		c->run(s, &a, out);
		return;
	}
	/* Long garbage is cut so the reply stays small. */
	mon_buf_printf_crlf(out, "unknown command: '%.*s'\n",
			    (int)(a.arglen[0] > 256 ? 256 : a.arglen[0]), a.argv[0]);
}
