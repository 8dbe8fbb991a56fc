/*
 * QMP, the QEMU Machine Protocol: request checking, capabilities
 * negotiation, the commands capvm implements, replies and events in
 * QEMU's wire format, so existing QMP clients work unchanged.
 *
 *   -> {"execute": "query-status", "id": 1}
 *   <- {"return": {"status": "running", "singlestep": false, "running": true}, "id": 1}
 *   <- {"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}
 *   <- {"error": {"class": "CommandNotFound", "desc": "..."}}
 *
 * Error texts follow QEMU's where clients may match on them.  Every line
 * the server writes ends in "\r\n", like QEMU's.
 */
#include "monitor/internal.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

struct qmp_error {
	const char *klass;      /* NULL: no error */
	char desc[300];
};

static void set_error(struct qmp_error *e, const char *klass, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_error(struct qmp_error *e, const char *klass, const char *fmt, ...)
{
	va_list ap;

	e->klass = klass;
	va_start(ap, fmt);
	vsnprintf(e->desc, sizeof(e->desc), fmt, ap);
	va_end(ap);
}

/* ---- JSON output in QEMU's spacing ---- */

static void write_json_string(struct mon_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;         /* bytes copied verbatim, pending */

	mon_buf_append(b, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7];
		size_t n = 0;

		if (c == '"' || c == '\\') {
			esc[0] = '\\'; esc[1] = (char)c; n = 2;
		} else if (c == '\n') {
			esc[0] = '\\'; esc[1] = 'n'; n = 2;
		} else if (c == '\r') {
			esc[0] = '\\'; esc[1] = 'r'; n = 2;
		} else if (c == '\t') {
			esc[0] = '\\'; esc[1] = 't'; n = 2;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
		}
		if (n == 0) {
			run++;
			continue;
		}
		mon_buf_append(b, s + i - run, run);
		run = 0;
		mon_buf_append(b, esc, n);
	}
	mon_buf_append(b, s + len - run, run);
	mon_buf_append(b, "\"", 1);
}

void qmp_write_json(struct mon_buf *b, struct json_object *o)
{
	bool first = true;

	switch (json_object_get_type(o)) {
	case json_type_null:
		mon_buf_append(b, "null", 4);
		break;
	case json_type_object:
		mon_buf_append(b, "{", 1);
		json_object_object_foreach(o, key, val) {
			if (!first)
				mon_buf_append(b, ", ", 2);
			first = false;
			write_json_string(b, key, strlen(key));
			mon_buf_append(b, ": ", 2);
			qmp_write_json(b, val);
		}
		mon_buf_append(b, "}", 1);
		break;
	case json_type_array:
		mon_buf_append(b, "[", 1);
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			if (i)
				mon_buf_append(b, ", ", 2);
			qmp_write_json(b, json_object_array_get_idx(o, i));
		}
		mon_buf_append(b, "]", 1);
		break;
	case json_type_string:
		write_json_string(b, json_object_get_string(o), (size_t)json_object_get_string_len(o));
		break;
	default: {       /* numbers and booleans */
		const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

		mon_buf_append(b, t, strlen(t));
		break;
	}
	}
}

static void send_reply(struct monitor_session *s, struct json_object *rsp)
{
	if (s->before_reply)
		s->before_reply(s->before_reply_ctx);
	qmp_write_json(&s->out, rsp);
	mon_buf_append(&s->out, "\r\n", 2);
}

static struct json_object *error_object(const char *klass, const char *desc)
{
	struct json_object *err = json_object_new_object();

	json_object_object_add(err, "class", json_object_new_string(klass));
	json_object_object_add(err, "desc", json_object_new_string(desc));
	return err;
}

void qmp_reply_error(struct monitor_session *s, const char *klass, const char *desc)
{
	struct json_object *rsp = json_object_new_object();

	json_object_object_add(rsp, "error", error_object(klass, desc));
	send_reply(s, rsp);
	json_object_put(rsp);
}

char *qmp_format_event(const char *name, struct json_object *data, size_t *len)
{
	struct json_object *ev = json_object_new_object();
	struct json_object *ts = json_object_new_object();
	struct mon_buf b = { 0 };
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	json_object_object_add(ts, "seconds", json_object_new_int64(now.tv_sec));
	json_object_object_add(ts, "microseconds", json_object_new_int64(now.tv_nsec / 1000));
	json_object_object_add(ev, "timestamp", ts);
	json_object_object_add(ev, "event", json_object_new_string(name));
	if (data)
		json_object_object_add(ev, "data", json_object_get(data));
	qmp_write_json(&b, ev);
	mon_buf_append(&b, "\r\n", 3);       /* with a terminating NUL */
	json_object_put(ev);
	if (b.overflow) {
		mon_buf_free(&b);
		return NULL;
	}
	*len = b.len - 1;
	return b.data;
}

/* ---- commands ---- */

typedef struct json_object *(*qmp_fn)(struct monitor_session *s, struct json_object *args,
				      struct qmp_error *e);

static struct json_object *not_supported(struct qmp_error *e, const char *cmd)
{
	set_error(e, "GenericError", "'%s' is not supported by this VM", cmd);
	return NULL;
}

typedef int (*action_fn)(void *opaque, char *err, size_t errlen);

static struct json_object *run_action(struct monitor_session *s, struct qmp_error *e,
				      action_fn fn, const char *cmd)
{
	char err[256] = "";
	int ret;

	if (!fn)
		return not_supported(e, cmd);
	ret = fn(s->opaque, err, sizeof(err));
	if (ret < 0) {
		set_error(e, "GenericError", "%s", monitor_errmsg(ret, err));
		return NULL;
	}
	return json_object_new_object();
}

static struct json_object *qmp_stop(struct monitor_session *s, struct json_object *args,
				    struct qmp_error *e)
{
	return run_action(s, e, s->ops->stop, "stop");
}

static struct json_object *qmp_cont(struct monitor_session *s, struct json_object *args,
				    struct qmp_error *e)
{
	return run_action(s, e, s->ops->cont, "cont");
}

static struct json_object *qmp_powerdown(struct monitor_session *s, struct json_object *args,
					 struct qmp_error *e)
{
	return run_action(s, e, s->ops->system_powerdown, "system_powerdown");
}

static struct json_object *qmp_reset(struct monitor_session *s, struct json_object *args,
				     struct qmp_error *e)
{
	return run_action(s, e, s->ops->system_reset, "system_reset");
}

static struct json_object *qmp_quit(struct monitor_session *s, struct json_object *args,
				    struct qmp_error *e)
{
	if (!s->ops->quit)
		return not_supported(e, "quit");
	/* The reply goes out first; the socket layer then calls ops->quit. */
	s->want_quit = true;
	return json_object_new_object();
}

static struct json_object *qmp_capabilities(struct monitor_session *s, struct json_object *args,
					    struct qmp_error *e)
{
	struct json_object *enable;

	if (s->negotiated) {
		set_error(e, "CommandNotFound",
			  "Capabilities negotiation is already complete, command ignored");
		return NULL;
	}
	/* We offer no capabilities (no out-of-band execution). */
	if (args && json_object_object_get_ex(args, "enable", &enable)) {
		if (!json_object_is_type(enable, json_type_array)) {
			set_error(e, "GenericError",
				  "Invalid parameter type for 'enable', expected: array");
			return NULL;
		}
		if (json_object_array_length(enable) > 0) {
			struct json_object *cap = json_object_array_get_idx(enable, 0);

			if (json_object_is_type(cap, json_type_string))
				set_error(e, "GenericError", "Capability %.64s not available",
					  json_object_get_string(cap));
			else
				set_error(e, "GenericError",
					  "Invalid parameter type for 'enable[0]', expected: string");
			return NULL;
		}
	}
	s->negotiated = true;
	return json_object_new_object();
}

static struct json_object *qmp_query_status(struct monitor_session *s, struct json_object *args,
					    struct qmp_error *e)
{
	enum monitor_runstate st = s->ops->get_status(s->opaque);
	struct json_object *ret = json_object_new_object();

	json_object_object_add(ret, "status", json_object_new_string(monitor_runstate_name(st)));
	json_object_object_add(ret, "singlestep", json_object_new_boolean(0));
	json_object_object_add(ret, "running", json_object_new_boolean(st == MONITOR_RUNSTATE_RUNNING));
	return ret;
}

static struct json_object *qmp_query_cpus_fast(struct monitor_session *s, struct json_object *args,
					       struct qmp_error *e)
{
	struct monitor_cpu *cpus;
	struct json_object *ret;
	int n;

	if (!s->ops->query_cpus)
		return not_supported(e, "query-cpus-fast");
	cpus = calloc(MONITOR_MAX_CPUS, sizeof(*cpus));
	if (!cpus) {
		set_error(e, "GenericError", "out of memory");
		return NULL;
	}
	n = s->ops->query_cpus(s->opaque, cpus, MONITOR_MAX_CPUS);
	if (n < 0) {
		set_error(e, "GenericError", "%s", monitor_errmsg(n, NULL));
		free(cpus);
		return NULL;
	}
	ret = json_object_new_array();
	for (int i = 0; i < n && i < MONITOR_MAX_CPUS; i++) {
		struct json_object *c = json_object_new_object();
		struct json_object *props = json_object_new_object();
		char path[64];

		/* One core per vCPU in one socket: QEMU's default topology
		 * for -smp N (since 6.2). */
		snprintf(path, sizeof(path), "/machine/unattached/device[%d]", cpus[i].index);
		json_object_object_add(c, "cpu-index", json_object_new_int(cpus[i].index));
		json_object_object_add(c, "qom-path", json_object_new_string(path));
		json_object_object_add(c, "thread-id", json_object_new_int64(cpus[i].thread_id));
		json_object_object_add(props, "core-id", json_object_new_int(cpus[i].index));
		json_object_object_add(props, "thread-id", json_object_new_int(0));
		json_object_object_add(props, "socket-id", json_object_new_int(0));
		json_object_object_add(c, "props", props);
		json_object_object_add(c, "target", json_object_new_string("x86_64"));
		json_object_array_add(ret, c);
	}
	free(cpus);
	return ret;
}

static struct json_object *qmp_query_block(struct monitor_session *s, struct json_object *args,
					   struct qmp_error *e)
{
	struct monitor_block *blk;
	struct json_object *ret;
	int n;

	if (!s->ops->query_block)
		return not_supported(e, "query-block");
	blk = calloc(MONITOR_MAX_BLOCKS, sizeof(*blk));
	if (!blk) {
		set_error(e, "GenericError", "out of memory");
		return NULL;
	}
	n = s->ops->query_block(s->opaque, blk, MONITOR_MAX_BLOCKS);
	if (n < 0) {
		set_error(e, "GenericError", "%s", monitor_errmsg(n, NULL));
		free(blk);
		return NULL;
	}
	ret = json_object_new_array();
	for (int i = 0; i < n && i < MONITOR_MAX_BLOCKS; i++) {
		struct monitor_block *b = &blk[i];
		struct json_object *info = json_object_new_object();
		struct json_object *ins = json_object_new_object();
		struct json_object *image = json_object_new_object();
		struct json_object *cache = json_object_new_object();
		const char *fmt;

		b->device[sizeof(b->device) - 1] = '\0';
		b->file[sizeof(b->file) - 1] = '\0';
		b->format[sizeof(b->format) - 1] = '\0';
		b->attached_to[sizeof(b->attached_to) - 1] = '\0';
		fmt = b->format[0] ? b->format : "raw";

		/* The members QEMU's BlockInfo / BlockDeviceInfo require. */
		json_object_object_add(image, "virtual-size", json_object_new_uint64(b->size));
		json_object_object_add(image, "filename", json_object_new_string(b->file));
		json_object_object_add(image, "format", json_object_new_string(fmt));
		json_object_object_add(image, "dirty-flag", json_object_new_boolean(0));
		json_object_object_add(cache, "no-flush", json_object_new_boolean(0));
		json_object_object_add(cache, "direct", json_object_new_boolean(b->direct));
		json_object_object_add(cache, "writeback", json_object_new_boolean(1));

		json_object_object_add(ins, "iops_rd", json_object_new_int(0));
		json_object_object_add(ins, "detect_zeroes", json_object_new_string("off"));
		json_object_object_add(ins, "image", image);
		json_object_object_add(ins, "iops_wr", json_object_new_int(0));
		json_object_object_add(ins, "ro", json_object_new_boolean(b->read_only));
		json_object_object_add(ins, "node-name", json_object_new_string(b->device));
		json_object_object_add(ins, "backing_file_depth", json_object_new_int(0));
		json_object_object_add(ins, "drv", json_object_new_string(fmt));
		json_object_object_add(ins, "iops", json_object_new_int(0));
		json_object_object_add(ins, "bps_wr", json_object_new_int(0));
		json_object_object_add(ins, "write_threshold", json_object_new_int(0));
		json_object_object_add(ins, "encrypted", json_object_new_boolean(0));
		json_object_object_add(ins, "bps", json_object_new_int(0));
		json_object_object_add(ins, "bps_rd", json_object_new_int(0));
		json_object_object_add(ins, "cache", cache);
		json_object_object_add(ins, "file", json_object_new_string(b->file));

		json_object_object_add(info, "io-status", json_object_new_string("ok"));
		json_object_object_add(info, "device", json_object_new_string(b->device));
		json_object_object_add(info, "locked", json_object_new_boolean(0));
		json_object_object_add(info, "removable", json_object_new_boolean(0));
		json_object_object_add(info, "inserted", ins);
		if (b->attached_to[0])
			json_object_object_add(info, "qdev", json_object_new_string(b->attached_to));
		json_object_object_add(info, "type", json_object_new_string("unknown"));
		json_object_array_add(ret, info);
	}
	free(blk);
	return ret;
}

static struct json_object *qmp_query_counters(struct monitor_session *s, struct json_object *args,
					      struct qmp_error *e)
{
	struct monitor_counter *ctr;
	struct json_object *ret;
	int n;

	if (!s->ops->query_counters)
		return not_supported(e, "query-counters");
	ctr = calloc(MONITOR_MAX_COUNTERS, sizeof(*ctr));
	if (!ctr) {
		set_error(e, "GenericError", "out of memory");
		return NULL;
	}
	n = s->ops->query_counters(s->opaque, ctr, MONITOR_MAX_COUNTERS);
	if (n < 0) {
		set_error(e, "GenericError", "%s", monitor_errmsg(n, NULL));
		free(ctr);
		return NULL;
	}
	ret = json_object_new_array();
	for (int i = 0; i < n && i < MONITOR_MAX_COUNTERS; i++) {
		struct json_object *c = json_object_new_object();

		ctr[i].name[sizeof(ctr[i].name) - 1] = '\0';
		json_object_object_add(c, "name", json_object_new_string(ctr[i].name));
		json_object_object_add(c, "value", json_object_new_uint64(ctr[i].value));
		json_object_array_add(ret, c);
	}
	free(ctr);
	return ret;
}

static struct json_object *qmp_query_version(struct monitor_session *s, struct json_object *args,
					     struct qmp_error *e)
{
	struct json_object *ret = json_object_new_object();
	struct json_object *qemu = json_object_new_object();

	json_object_object_add(qemu, "micro", json_object_new_int(s->version->micro));
	json_object_object_add(qemu, "minor", json_object_new_int(s->version->minor));
	json_object_object_add(qemu, "major", json_object_new_int(s->version->major));
	json_object_object_add(ret, "qemu", qemu);
	json_object_object_add(ret, "package", json_object_new_string(s->version->package));
	return ret;
}

static struct json_object *qmp_query_name(struct monitor_session *s, struct json_object *args,
					  struct qmp_error *e)
{
	struct json_object *ret = json_object_new_object();

	if (s->vm_name)
		json_object_object_add(ret, "name", json_object_new_string(s->vm_name));
	return ret;
}

static struct json_object *qmp_query_commands(struct monitor_session *s, struct json_object *args,
					      struct qmp_error *e);

/* block_resize {"device": "virtio0", "size": BYTES} (QEMU's node-name is not used here). */
static struct json_object *qmp_block_resize(struct monitor_session *s, struct json_object *args,
					    struct qmp_error *e)
{
	struct json_object *dev, *size;
	char err[256] = "";
	int ret;

	if (!s->ops->block_resize)
		return not_supported(e, "block_resize");
	if (!args || !json_object_object_get_ex(args, "device", &dev)) {
		set_error(e, "GenericError", "Parameter 'device' is missing");
		return NULL;
	}
	if (!json_object_object_get_ex(args, "size", &size)) {
		set_error(e, "GenericError", "Parameter 'size' is missing");
		return NULL;
	}
	if (!json_object_is_type(dev, json_type_string)) {
		set_error(e, "GenericError", "Invalid parameter type for 'device', expected: string");
		return NULL;
	}
	if (!json_object_is_type(size, json_type_int) || json_object_get_int64(size) < 0) {
		set_error(e, "GenericError", "Invalid parameter type for 'size', expected: integer");
		return NULL;
	}
	ret = s->ops->block_resize(s->opaque, json_object_get_string(dev),
				   (uint64_t)json_object_get_int64(size), err, sizeof(err));
	if (ret < 0) {
		set_error(e, "GenericError", "%s", monitor_errmsg(ret, err));
		return NULL;
	}
	return json_object_new_object();
}

/* HMP over QMP, as `virsh qemu-monitor-command --hmp` uses it. */
static struct json_object *qmp_hmp_command(struct monitor_session *s, struct json_object *args,
					   struct qmp_error *e)
{
	struct json_object *cmdline, *ret;
	struct mon_buf out = { 0 };
	const char *text;
	char *line;
	size_t len, n = 0;

	if (!args || !json_object_object_get_ex(args, "command-line", &cmdline)) {
		set_error(e, "GenericError", "Parameter 'command-line' is missing");
		return NULL;
	}
	if (!json_object_is_type(cmdline, json_type_string)) {
		set_error(e, "GenericError",
			  "Invalid parameter type for 'command-line', expected: string");
		return NULL;
	}
	text = json_object_get_string(cmdline);
	len = (size_t)json_object_get_string_len(cmdline);
	line = malloc(len + 1);
	if (!line) {
		set_error(e, "GenericError", "out of memory");
		return NULL;
	}
	/* The same cleaning the HMP line reader applies. */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\t' || c == '\n')
			c = ' ';
		if (c < 0x20 || c == 0x7f)
			continue;
		line[n++] = (char)c;
	}
	hmp_execute(s, line, n, &out);
	free(line);
	if (out.overflow) {
		mon_buf_free(&out);
		set_error(e, "GenericError", "command output too large");
		return NULL;
	}
	ret = json_object_new_string_len(out.data ? out.data : "", (int)out.len);
	mon_buf_free(&out);
	return ret;
}

static const char *const no_params[] = { NULL };
static const char *const capabilities_params[] = { "enable", NULL };
static const char *const hmp_params[] = { "command-line", "cpu-index", NULL };
static const char *const block_resize_params[] = { "device", "size", NULL };

struct qmp_cmd {
	const char *name;
	qmp_fn fn;
	const char *const *params;      /* accepted argument names */
};

static const struct qmp_cmd qmp_cmds[] = {
	{ "qmp_capabilities", qmp_capabilities, capabilities_params },
	{ "query-status", qmp_query_status, no_params },
	{ "query-cpus-fast", qmp_query_cpus_fast, no_params },
	{ "query-block", qmp_query_block, no_params },
	{ "query-version", qmp_query_version, no_params },
	{ "query-name", qmp_query_name, no_params },
	{ "query-commands", qmp_query_commands, no_params },
	{ "query-counters", qmp_query_counters, no_params },       /* capvm */
	{ "block_resize", qmp_block_resize, block_resize_params },
	{ "stop", qmp_stop, no_params },
	{ "cont", qmp_cont, no_params },
	{ "system_powerdown", qmp_powerdown, no_params },
	{ "system_reset", qmp_reset, no_params },
	{ "quit", qmp_quit, no_params },
	{ "human-monitor-command", qmp_hmp_command, hmp_params },
};

static struct json_object *qmp_query_commands(struct monitor_session *s, struct json_object *args,
					      struct qmp_error *e)
{
	struct json_object *ret = json_object_new_array();

	for (size_t i = 0; i < ARRAY_SIZE(qmp_cmds); i++) {
		struct json_object *c = json_object_new_object();

		json_object_object_add(c, "name", json_object_new_string(qmp_cmds[i].name));
		json_object_array_add(ret, c);
	}
	return ret;
}

static bool param_known(const struct qmp_cmd *c, const char *name)
{
	for (const char *const *p = c->params; *p; p++)
		if (!strcmp(*p, name))
			return true;
	return false;
}

/* QEMU's checks of the request object itself. */
static bool check_request(struct json_object *req, struct qmp_error *e)
{
	bool has_execute = false;

	if (!json_object_is_type(req, json_type_object)) {
		set_error(e, "GenericError", "QMP input must be a JSON object");
		return false;
	}
	json_object_object_foreach(req, key, val) {
		if (!strcmp(key, "execute")) {
			if (!json_object_is_type(val, json_type_string)) {
				set_error(e, "GenericError", "QMP input member 'execute' must be a string");
				return false;
			}
			has_execute = true;
		} else if (!strcmp(key, "arguments")) {
			if (!json_object_is_type(val, json_type_object)) {
				set_error(e, "GenericError",
					  "QMP input member 'arguments' must be an object");
				return false;
			}
		} else if (strcmp(key, "id") != 0) {
			set_error(e, "GenericError", "QMP input member '%.64s' is unexpected", key);
			return false;
		}
	}
	if (!has_execute) {
		set_error(e, "GenericError", "QMP input lacks member 'execute'");
		return false;
	}
	return true;
}

void qmp_handle_request(struct monitor_session *s, struct json_object *req)
{
	struct qmp_error e = { 0 };
	struct json_object *ret = NULL, *id = NULL, *args = NULL, *exec, *rsp;
	const struct qmp_cmd *cmd = NULL;
	const char *name;

	if (json_object_is_type(req, json_type_object))
		json_object_object_get_ex(req, "id", &id);
	if (!check_request(req, &e))
		goto reply;
	json_object_object_get_ex(req, "execute", &exec);
	json_object_object_get_ex(req, "arguments", &args);
	name = json_object_get_string(exec);
	for (size_t i = 0; i < ARRAY_SIZE(qmp_cmds); i++)
		if (!strcmp(qmp_cmds[i].name, name))
			cmd = &qmp_cmds[i];
	/* Before negotiation only qmp_capabilities exists. */
	if (!s->negotiated && (!cmd || cmd->fn != qmp_capabilities)) {
		set_error(&e, "CommandNotFound",
			  "Expecting capabilities negotiation with 'qmp_capabilities'");
		goto reply;
	}
	if (!cmd) {
		set_error(&e, "CommandNotFound", "The command %.64s has not been found", name);
		goto reply;
	}
	if (args) {
		json_object_object_foreach(args, key, val) {
			(void)val;
			if (!param_known(cmd, key)) {
				set_error(&e, "GenericError", "Parameter '%.64s' is unexpected", key);
				goto reply;
			}
		}
	}
	ret = cmd->fn(s, args, &e);
	if (!ret && !e.klass)
		set_error(&e, "GenericError", "command failed");
reply:
	rsp = json_object_new_object();
	if (e.klass) {
		json_object_object_add(rsp, "error", error_object(e.klass, e.desc));
		json_object_put(ret);
	} else {
		json_object_object_add(rsp, "return", ret);
	}
	if (id)
		json_object_object_add(rsp, "id", json_object_get(id));
	send_reply(s, rsp);
	json_object_put(rsp);
}
