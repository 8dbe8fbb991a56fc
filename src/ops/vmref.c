/*
 * Finding a running VM through its supervisor and talking to its monitor
 * (see vmref.h).  Everything read here -- the supervisor's JSON, a VMM's
 * command line, monitor output -- is parsed defensively: bounded copies,
 * unknown fields ignored.
 */
#include "ops/vmref.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/util.h"
#include "system/supervisor.h"
#include "system/sysdesc.h"

void ops_vm_free(struct ops_vm *vm)
{
	free(vm->monitor);
	for (int i = 0; i < vm->n_disks; i++)
		free(vm->disks[i]);
	free(vm->console_file);
	free(vm->console_log);
	free(vm->log);
	memset(vm, 0, sizeof(*vm));
}

int ops_read_all(const char *path, size_t max, void **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = max < 4096 ? max : 4096, n = 0;
	char *p;

	if (fd < 0)
		return -1;
	p = malloc(cap + 1);
	while (p) {
		ssize_t r;
		if (n == cap) {
			char *grown;
			if (cap >= max)
				break;
			cap = cap * 2 > max ? max : cap * 2;
			grown = realloc(p, cap + 1);
			if (!grown) {
				free(p);
				p = NULL;
				break;
			}
			p = grown;
		}
		r = read(fd, p + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(p);
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	p[n] = 0;
	*buf = p;
	*len = n;
	return 0;
}

void ops_free_list(char **list)
{
	for (char **p = list; p && *p; p++)
		free(*p);
	free(list);
}

char **ops_control_sockets(const char *control)
{
	char **list = calloc(2, sizeof(*list));
	size_t n = 0;
	DIR *d;
	struct dirent *e;

	if (!list)
		return NULL;
	if (control) {
		list[0] = strdup(control);
		return list;
	}
	d = opendir(sup_control_dir());
	while (d && (e = readdir(d))) {
		size_t l = strlen(e->d_name);
		char **grown;
		if (l < 6 || strcmp(e->d_name + l - 5, ".sock"))
			continue;
		grown = realloc(list, (n + 2) * sizeof(*list));
		if (!grown)
			break;
		list = grown;
		if (asprintf(&list[n], "%s/%s", sup_control_dir(), e->d_name) < 0)
			break;
		list[++n] = NULL;
	}
	if (d)
		closedir(d);
	return list;
}

char *ops_status_json(const char *control, int *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int r;

	if (!m) {
		*err = -ENOMEM;
		return NULL;
	}
	r = sup_request(control, "status json", m);
	fclose(m);
	if (r < 0 || !buf || !len || buf[0] != '[') {
		*err = r < 0 ? r : -EPROTO;
		free(buf);
		return NULL;
	}
	return buf;
}

static void set_str(char **dst, const char *src)
{
	free(*dst);
	*dst = strdup(src);
}

int ops_vm_from_pid(int pid, struct ops_vm *vm)
{
	char path[64], *buf = NULL;
	size_t len = 0;
	void *raw;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	if (ops_read_all(path, 1 << 20, &raw, &len) < 0)
		return -errno;
	buf = raw;
	/* argv: NUL-separated; options take their value as the next word */
	for (size_t i = 0; i < len;) {
		const char *arg = buf + i;
		size_t al = strnlen(arg, len - i);
		const char *val = NULL;
		if (i + al + 1 < len)
			val = buf + i + al + 1;
		i += al + 1;
		if (!val)
			break;
		if (!strcmp(arg, "--monitor") || !strcmp(arg, "--qmp")) {
			if (!vm->monitor) {
				set_str(&vm->monitor, val);
				vm->monitor_qmp = !strcmp(arg, "--qmp") || strstr(val, "mode=qmp") ||
						  strstr(val, "mode=control");
			}
		} else if (!strcmp(arg, "--disk") && vm->n_disks < OPS_MAX_DISKS) {
			const char *p = val;
			size_t pl;
			if (!strncmp(p, "path=", 5))
				p += 5;
			else if (!strncmp(p, "file=", 5))
				p += 5;
			pl = strcspn(p, ",");
			vm->disks[vm->n_disks] = strndup(p, pl);
			vm->disk_ro[vm->n_disks] = strstr(val, ",ro") || strstr(val, "readonly=on");
			if (vm->disks[vm->n_disks])
				vm->n_disks++;
		} else if (!strcmp(arg, "--console") && !strncmp(val, "file:", 5)) {
			set_str(&vm->console_file, val + 5);
		} else if (!strcmp(arg, "--console-log")) {
			set_str(&vm->console_log, val);
		} else if (!strcmp(arg, "--log")) {
			set_str(&vm->log, val);
		} else {
			continue;
		}
		i += strnlen(val, len - i) + 1;   /* the value was consumed */
	}
	free(buf);
	return 0;
}

/* Looks for name in one supervisor's status.  1 found, 0 not, -errno. */
static int find_in(const char *control, const char *name, struct ops_vm *vm, char *names,
		   size_t names_len)
{
	int err = 0, found = 0;
	char *js = ops_status_json(control, &err);
	json_object *arr;

	if (!js)
		return err;
	arr = json_tokener_parse(js);
	free(js);
	if (!arr || !json_object_is_type(arr, json_type_array)) {
		json_object_put(arr);
		return -EPROTO;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *o = json_object_array_get_idx(arr, i), *v;
		const char *n;
		if (!json_object_object_get_ex(o, "name", &v))
			continue;
		n = json_object_get_string(v);
		if (strlen(names) + strlen(n) + 3 < names_len) {
			if (names[0])
				strcat(names, ", ");
			strcat(names, n);
		}
		if (strcmp(n, name) || found)
			continue;
		found = 1;
		snprintf(vm->name, sizeof(vm->name), "%s", n);
		snprintf(vm->control, sizeof(vm->control), "%s", control);
		if (json_object_object_get_ex(o, "state", &v))
			snprintf(vm->state, sizeof(vm->state), "%s", json_object_get_string(v));
		if (json_object_object_get_ex(o, "pid", &v))
			vm->pid = json_object_get_int(v);
		if (json_object_object_get_ex(o, "restarts", &v))
			vm->restarts = json_object_get_int(v);
	}
	json_object_put(arr);
	return found;
}

int ops_find_vm(const char *control, const char *name, struct ops_vm *vm, char *err,
		size_t errlen)
{
	char **socks = ops_control_sockets(control);
	char names[512] = "";
	int found = 0, answered = 0, last_err = 0;

	memset(vm, 0, sizeof(*vm));
	for (char **s = socks; s && *s && !found; s++) {
		int r = find_in(*s, name, vm, names, sizeof(names));
		if (r < 0)
			last_err = r;
		else
			answered++;
		found = r > 0;
	}
	if (!found) {
		if (!answered)
			snprintf(err, errlen, "no supervisor answers%s%s%s%s (start one with `capvm "
				 "system up`, or give --control PATH)", control ? " at " : " under ",
				 control ? control : sup_control_dir(), last_err ? ": " : "",
				 last_err ? strerror(-last_err) : "");
		else
			snprintf(err, errlen, "unknown VM '%s' (the supervisor%s know%s: %s)", name,
				 answered > 1 ? "s" : "", answered > 1 ? "" : "s",
				 names[0] ? names : "no VMs");
		ops_free_list(socks);
		return -1;
	}
	ops_free_list(socks);
	if (vm->pid <= 0 || strcmp(vm->state, "running")) {
		snprintf(err, errlen, "VM '%s' is not running (state %s)", name,
			 vm->state[0] ? vm->state : "unknown");
		return -1;
	}
	if (ops_vm_from_pid(vm->pid, vm) < 0) {
		snprintf(err, errlen, "cannot read the command line of VM '%s' (pid %d): %s", name,
			 vm->pid, strerror(errno));
		return -1;
	}
	return 0;
}

/* Connects to a monitor address; returns a blocking fd or -errno. */
static int monitor_connect(const char *address)
{
	struct sd_monitor_addr a;

	if (sd_monitor_parse(address, &a) < 0)
		return -EINVAL;
	return sd_monitor_connect(&a, 1000);
}

/* Reads until EOF or the deadline into a malloc'd string. */
static char *read_until_eof(int fd, uint64_t deadline_ns, bool stop_at_return)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (!m)
		return NULL;
	for (;;) {
		uint64_t now = now_ns();
		char chunk[4096];
		ssize_t n;
		if (now >= deadline_ns || poll(&pfd, 1, (int)((deadline_ns - now) / 1000000 + 1)) != 1)
			break;
		n = read(fd, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		fwrite(chunk, 1, (size_t)n, m);
		fflush(m);
		if (stop_at_return && strstr(buf, "\"return\": \"") && memchr(chunk, '\n', (size_t)n))
			break;
	}
	fclose(m);
	return buf;
}

char *ops_monitor_hmp(const char *address, bool qmp, const char *command, int timeout_ms,
		      int *err)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	int fd = monitor_connect(address);
	char *raw, *out;

	if (fd < 0) {
		*err = fd;
		return NULL;
	}
	if (qmp) {
		json_object *cmd = json_object_new_object(), *args = json_object_new_object();
		char *req;
		json_object_object_add(args, "command-line", json_object_new_string(command));
		json_object_object_add(cmd, "execute", json_object_new_string("human-monitor-command"));
		json_object_object_add(cmd, "arguments", args);
		if (asprintf(&req, "{\"execute\":\"qmp_capabilities\"}\n%s\n",
			     json_object_to_json_string_ext(cmd, JSON_C_TO_STRING_PLAIN)) < 0)
			req = NULL;
		json_object_put(cmd);
		if (!req || write_all(fd, req, strlen(req)) < 0) {
			free(req);
			close(fd);
			*err = -EIO;
			return NULL;
		}
		free(req);
		raw = read_until_eof(fd, deadline, true);
		close(fd);
		out = NULL;
		/* one JSON object per line; the string "return" is our answer */
		for (char *line = raw ? strtok(raw, "\n") : NULL; line && !out; line = strtok(NULL, "\n")) {
			json_object *o = json_tokener_parse(line), *r;
			if (o && json_object_object_get_ex(o, "return", &r) &&
			    json_object_is_type(r, json_type_string))
				out = strdup(json_object_get_string(r));
			json_object_put(o);
		}
		free(raw);
		if (!out)
			*err = -EPROTO;
		return out;
	}
	if (write_all(fd, command, strlen(command)) < 0 || write_all(fd, "\n", 1) < 0) {
		close(fd);
		*err = -EIO;
		return NULL;
	}
	shutdown(fd, SHUT_WR);   /* the monitor answers, then closes */
	raw = read_until_eof(fd, deadline, false);
	close(fd);
	if (!raw) {
		*err = -ENOMEM;
		return NULL;
	}
	/* drop the banner (first line), the "(qemu) cmd" echo, prompts and \r */
	char *o = NULL;
	size_t ol = 0;
	FILE *m = open_memstream(&o, &ol);
	bool first = true;
	for (char *line = strtok(raw, "\n"); line && m; line = strtok(NULL, "\n")) {
		line[strcspn(line, "\r")] = 0;
		if (first) {
			first = false;
			if (strstr(line, " monitor for ") || strstr(line, "QEMU"))
				continue;
		}
		if (!strncmp(line, "(qemu)", 6))
			continue;
		fprintf(m, "%s\n", line);
	}
	if (m)
		fclose(m);
	free(raw);
	if (!o)
		*err = -ENOMEM;
	return o;
}

int ops_image_in_use(const char *path)
{
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = fcntl(fd, F_OFD_GETLK, &lk);
	if (r < 0)
		r = -errno;
	else
		r = lk.l_type != F_UNLCK;
	close(fd);
	return r;
}
