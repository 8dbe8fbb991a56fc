/*
 * Meaning of a system description: turns the raw declarations and settings
 * of a struct sd_doc into a checked struct sd_system.  Every attribute has
 * a type and a range; every reference (connection end, setting target) must
 * name something declared; guest-physical ranges, IRQ lines, CPUs and
 * memory budgets are checked against each other and against the host.  All
 * problems found are reported (each with file:line:column), so that a user
 * fixes a description in one round; the caller starts nothing if any error
 * was reported.
 */
#include "system/sysdesc.h"

#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "common/util.h"
#include "system/sched.h"

#define PAGE_SIZE_4K 4096ULL
#define LARGE_PAGE   (2ULL << 20)
#define MAX_RAM      (1ULL << 40)
#define MAX_DELAY_MS (3600ULL * 1000)

/* ---- small helpers ---- */

static char *xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");
	if (!p)
		abort();
	return p;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

#define ERR(loc, ...)  sd_diag_add(v->diags, SD_ERROR, (loc), __VA_ARGS__)
#define WARN(loc, ...) sd_diag_add(v->diags, SD_WARNING, (loc), __VA_ARGS__)

struct validator {
	const struct sd_doc *doc;
	const struct sd_host *host;
	struct sd_system *sys;
	struct sd_diags *diags;
	/* where each dataport and its ends were named, for messages */
	struct sd_loc *conn_locs;
};

static const char *vtype_name(const struct sd_value *val)
{
	switch (val->type) {
	case SD_V_INT: return val->suffix[0] ? "a number with a unit" : "a number";
	case SD_V_BOOL: return "a boolean";
	case SD_V_STR: return "a string";
	case SD_V_LIST: return "a list";
	}
	return "?";
}

static const char *dir_of(const struct validator *v, const char *file)
{
	for (size_t i = 0; i < v->doc->n_files; i++)
		if (v->doc->files[i] == file)
			return v->doc->dirs[i];
	return ".";
}

static bool file_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * Input files (kernel, initrd, disk images) are looked up relative to the
 * description file's directory, then relative to build/guest/ (where the
 * image scripts put them).  The first that exists wins.
 */
static char *absolute(char *p)
{
	char *r = realpath(p, NULL);

	if (!r)
		return p;
	free(p);
	return r;
}

static char *resolve_input(const struct validator *v, const struct sd_loc *loc, const char *path)
{
	char *a, *b;

	if (path[0] == '/')
		return xstrdup(path);
	a = xasprintf("%s/%s", dir_of(v, loc->file), path);
	if (file_exists(a))
		return absolute(a);
	b = xasprintf("build/guest/%s", path);
	if (file_exists(b)) {
		free(a);
		return absolute(b);
	}
	free(b);
	return a;
}

/* ---- typed readers for values; each reports its own error ---- */

static bool want_uint(struct validator *v, const struct sd_setting *s, uint64_t min,
		      uint64_t max, uint64_t *out)
{
	const struct sd_value *val = &s->val;

	if (val->type != SD_V_INT || val->suffix[0]) {
		ERR(val->loc, "%s.%s must be a number, not %s", s->target, s->attr, vtype_name(val));
		return false;
	}
	if (val->neg || val->num < min || val->num > max) {
		ERR(val->loc, "%s.%s = %s%llu is out of range (%llu-%llu)", s->target, s->attr,
		    val->neg ? "-" : "", (unsigned long long)val->num,
		    (unsigned long long)min, (unsigned long long)max);
		return false;
	}
	*out = val->num;
	return true;
}

/* Bytes; suffixes K, M, G, T (optionally KiB/KB forms); a bare number is bytes. */
static bool value_size(struct validator *v, const struct sd_setting *s,
		       const struct sd_value *val, uint64_t *out)
{
	static const struct { const char *sfx; uint64_t mul; } units[] = {
		{ "", 1 }, { "B", 1 },
		{ "K", KiB }, { "KB", KiB }, { "KiB", KiB },
		{ "M", MiB }, { "MB", MiB }, { "MiB", MiB },
		{ "G", GiB }, { "GB", GiB }, { "GiB", GiB },
		{ "T", 1024 * GiB }, { "TB", 1024 * GiB }, { "TiB", 1024 * GiB },
	};

	if (val->type != SD_V_INT) {
		ERR(val->loc, "%s.%s must be a size (e.g. 512M), not %s", s->target, s->attr,
		    vtype_name(val));
		return false;
	}
	if (val->neg) {
		ERR(val->loc, "%s.%s: a size cannot be negative", s->target, s->attr);
		return false;
	}
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcasecmp(val->suffix, units[i].sfx))
			continue;
		if (val->num > UINT64_MAX / units[i].mul) {
			ERR(val->loc, "%s.%s: size too large", s->target, s->attr);
			return false;
		}
		*out = val->num * units[i].mul;
		return true;
	}
	ERR(val->loc, "%s.%s: unknown size unit '%s' (use K, M, G or T)", s->target, s->attr,
	    val->suffix);
	return false;
}

static bool want_size(struct validator *v, const struct sd_setting *s, uint64_t *out)
{
	return value_size(v, s, &s->val, out);
}

/* Milliseconds; suffixes ms, s, min, h; a bare number is seconds (as systemd). */
static bool want_duration(struct validator *v, const struct sd_setting *s, uint64_t *ms)
{
	static const struct { const char *sfx; uint64_t mul; } units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "min", 60000 }, { "h", 3600000 },
	};
	const struct sd_value *val = &s->val;

	if (val->type != SD_V_INT || val->neg) {
		ERR(val->loc, "%s.%s must be a duration (e.g. 500ms, 10s), not %s", s->target,
		    s->attr, val->neg ? "a negative number" : vtype_name(val));
		return false;
	}
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (strcmp(val->suffix, units[i].sfx))
			continue;
		if (val->num > MAX_DELAY_MS / units[i].mul) {
			ERR(val->loc, "%s.%s: duration too long (at most 1h)", s->target, s->attr);
			return false;
		}
		*ms = val->num * units[i].mul;
		return true;
	}
	ERR(val->loc, "%s.%s: unknown time unit '%s' (use ms, s, min or h)", s->target, s->attr,
	    val->suffix);
	return false;
}

static bool want_bool(struct validator *v, const struct sd_setting *s, bool *out)
{
	if (s->val.type != SD_V_BOOL) {
		ERR(s->val.loc, "%s.%s must be true or false, not %s", s->target, s->attr,
		    vtype_name(&s->val));
		return false;
	}
	*out = s->val.b;
	return true;
}

static bool want_str(struct validator *v, const struct sd_setting *s, bool nonempty, char **out)
{
	if (s->val.type != SD_V_STR) {
		ERR(s->val.loc, "%s.%s must be a string, not %s", s->target, s->attr,
		    vtype_name(&s->val));
		return false;
	}
	if (nonempty && !s->val.str[0]) {
		ERR(s->val.loc, "%s.%s must not be empty", s->target, s->attr);
		return false;
	}
	free(*out);
	*out = xstrdup(s->val.str);
	return true;
}

/* Adds CPU c to the VM's affinity, checking it against the host. */
static bool add_cpu(struct validator *v, struct sd_vm *vm, const struct sd_loc *loc, uint64_t c)
{
	if (c >= SD_MAX_CPUS || (v->host->n_cpus > 0 &&
				 (c >= (uint64_t)v->host->n_cpus || !v->host->online[c]))) {
		ERR(*loc, "%s._affinity: CPU %llu does not exist on this host (online CPUs: %d)",
		    vm->name, (unsigned long long)c, v->host->n_cpus);
		return false;
	}
	for (int i = 0; i < vm->n_affinity; i++)
		if (vm->affinity[i] == (int)c)
			return true;
	vm->affinity[vm->n_affinity++] = (int)c;
	return true;
}

/* _affinity: a CPU number, a list of CPU numbers, or a string "0-3,6". */
static bool want_cpus(struct validator *v, struct sd_vm *vm, const struct sd_setting *s)
{
	const struct sd_value *val = &s->val;

	vm->n_affinity = 0;
	if (val->type == SD_V_INT && !val->suffix[0] && !val->neg)
		return add_cpu(v, vm, &val->loc, val->num);
	if (val->type == SD_V_LIST) {
		if (val->n_items == 0) {
			ERR(val->loc, "%s._affinity: empty CPU list", vm->name);
			return false;
		}
		for (size_t i = 0; i < val->n_items; i++) {
			const struct sd_value *it = &val->items[i];
			if (it->type != SD_V_INT || it->suffix[0] || it->neg) {
				ERR(it->loc, "%s._affinity: list items must be CPU numbers, not %s",
				    vm->name, vtype_name(it));
				return false;
			}
			if (!add_cpu(v, vm, &it->loc, it->num))
				return false;
		}
		return true;
	}
	if (val->type == SD_V_STR) {
		const char *p = val->str;
		if (!*p)
			goto bad;
		while (*p) {
			char *end;
			unsigned long lo, hi;
			if (!isdigit((unsigned char)*p))
				goto bad;
			lo = strtoul(p, &end, 10);
			hi = lo;
			p = end;
			if (*p == '-') {
				p++;
				if (!isdigit((unsigned char)*p))
					goto bad;
				hi = strtoul(p, &end, 10);
				p = end;
			}
			if (hi < lo || hi >= SD_MAX_CPUS) {
				if (hi >= SD_MAX_CPUS)
					return add_cpu(v, vm, &val->loc, hi);
				goto bad;
			}
			for (unsigned long c = lo; c <= hi; c++)
				if (!add_cpu(v, vm, &val->loc, c))
					return false;
			if (*p == ',')
				p++;
			else if (*p)
				goto bad;
		}
		return true;
	}
bad:
	ERR(val->loc, "%s._affinity must be a CPU number, a list [0, 1] or a string \"0-3\"",
	    vm->name);
	return false;
}

/* ---- devices and IRQs ---- */

static bool irq_allowed(uint64_t irq)
{
	/* IOAPIC pins 0..23; 0-4 and 8 are legacy (timer, keyboard, cascade,
	 * COM2, COM1, RTC), 9 is the ACPI power button (GED). */
	return irq >= 5 && irq <= 23 && irq != 8 && irq != IRQ_GED;
}

/*
 * Checks one --disk/--net option string and builds what capvm run gets:
 * for a disk the image path first (resolved like the kernel; "path=" and
 * "file=" keys accepted and dropped; "null" is capvm run's storage-less
 * disk), then the other options unchanged.  "irq=N" names the device's
 * interrupt line; it stays in the string for capvm run.
 */
static bool add_device(struct validator *v, struct sd_vm *vm, enum sd_dev_kind kind,
		       const struct sd_setting *s, const struct sd_value *it)
{
	struct sd_device *d;
	char *copy, *tok, *save = NULL, *path = NULL, *rest;
	size_t rest_len = 0;
	bool ok = true, keyed;

	if (it->type != SD_V_STR || !it->str[0]) {
		ERR(it->loc, "%s.%s: each %s must be a non-empty option string, not %s", vm->name,
		    s->attr, kind == SD_DEV_DISK ? "disk" : "network device",
		    it->type == SD_V_STR ? "an empty string" : vtype_name(it));
		return false;
	}
	if (vm->n_devs >= SD_MAX_DEVICES) {
		ERR(it->loc, "%s: too many devices (limit %d)", vm->name, SD_MAX_DEVICES);
		return false;
	}
	d = &vm->devs[vm->n_devs];
	memset(d, 0, sizeof(*d));
	d->kind = kind;
	d->loc = it->loc;
	d->irq_auto = true;
	d->dd = -1;
	keyed = !strncmp(it->str, "path=", 5) || !strncmp(it->str, "file=", 5) ||
		strstr(it->str, ",path=") || strstr(it->str, ",file=");
	copy = xstrdup(it->str);
	rest = calloc(1, strlen(it->str) + 1);
	if (!rest)
		abort();
	for (tok = strtok_r(copy, ",", &save); tok && ok; tok = strtok_r(NULL, ",", &save)) {
		const char *val = strchr(tok, '=');
		bool first = tok == copy;
		if (!strncmp(tok, "irq=", 4)) {
			uint64_t irq;
			if (parse_uint(tok + 4, 0, 255, &irq) < 0 || !irq_allowed(irq)) {
				ERR(it->loc, "%s: invalid IRQ '%s' (allowed: 5-7, 10-23)", vm->name,
				    tok + 4);
				ok = false;
				break;
			}
			d->irq = (int)irq;
			d->irq_auto = false;
			continue;
		}
		/* the image: a bare first item, or path=/file= anywhere */
		if (kind == SD_DEV_DISK && !path &&
		    ((!val && first && !keyed) || !strncmp(tok, "path=", 5) ||
		     !strncmp(tok, "file=", 5))) {
			const char *p = val ? val + 1 : tok;
			if (!strcmp(p, "null")) {
				path = xstrdup(p);
				continue;
			}
			path = resolve_input(v, &it->loc, p);
			if (v->host->check_files && !file_exists(path)) {
				ERR(it->loc, "%s: disk image '%s' not found (looked for %s)", vm->name,
				    p, path);
				ok = false;
			}
			continue;
		}
		if (rest_len)
			rest[rest_len++] = ',';
		memcpy(rest + rest_len, tok, strlen(tok) + 1);
		rest_len += strlen(tok);
	}
	free(copy);
	if (ok && kind == SD_DEV_DISK && !path) {
		ERR(it->loc, "%s: disk option string has no image path", vm->name);
		ok = false;
	}
	if (ok && kind != SD_DEV_DISK && !rest_len) {
		ERR(it->loc, "%s: network option string has no options (e.g. \"tap=tap0\")",
		    vm->name);
		ok = false;
	}
	if (!ok) {
		free(path);
		free(rest);
		return false;
	}
	if (path) {
		d->spec = rest_len ? xasprintf("%s,%s", path, rest) : xstrdup(path);
		free(rest);
	} else {
		d->spec = rest;
	}
	free(path);
	vm->n_devs++;
	return true;
}

/* rng = true; virtio_console = "SPEC"; -- devices without options */
static void set_simple_device(struct validator *v, struct sd_vm *vm, enum sd_dev_kind kind,
			      const char *spec, bool present, struct sd_loc loc)
{
	for (int i = 0; i < vm->n_devs; i++) {
		if (vm->devs[i].kind == kind) {
			free(vm->devs[i].spec);
			memmove(&vm->devs[i], &vm->devs[i + 1],
				(size_t)(vm->n_devs - i - 1) * sizeof(vm->devs[0]));
			vm->n_devs--;
			break;
		}
	}
	if (!present)
		return;
	if (vm->n_devs >= SD_MAX_DEVICES) {
		ERR(loc, "%s: too many devices (limit %d)", vm->name, SD_MAX_DEVICES);
		return;
	}
	memset(&vm->devs[vm->n_devs], 0, sizeof(vm->devs[0]));
	vm->devs[vm->n_devs].kind = kind;
	vm->devs[vm->n_devs].spec = xstrdup(spec);
	vm->devs[vm->n_devs].irq_auto = true;
	vm->devs[vm->n_devs].loc = loc;
	vm->devs[vm->n_devs].dd = -1;
	vm->n_devs++;
}

static bool want_devices(struct validator *v, struct sd_vm *vm, const struct sd_setting *s,
			 enum sd_dev_kind kind)
{
	const struct sd_value *val = &s->val;
	bool ok = true;

	/* a later setting replaces the earlier list of this kind */
	for (int i = 0; i < vm->n_devs;) {
		if (vm->devs[i].kind == kind) {
			free(vm->devs[i].spec);
			memmove(&vm->devs[i], &vm->devs[i + 1], (size_t)(vm->n_devs - i - 1) *
				sizeof(vm->devs[0]));
			vm->n_devs--;
		} else {
			i++;
		}
	}
	if (val->type == SD_V_STR)
		return add_device(v, vm, kind, s, val);
	if (val->type != SD_V_LIST) {
		ERR(val->loc, "%s.%s must be a list of option strings, not %s", vm->name, s->attr,
		    vtype_name(val));
		return false;
	}
	for (size_t i = 0; i < val->n_items; i++)
		ok = add_device(v, vm, kind, s, &val->items[i]) && ok;
	return ok;
}

/* Named IRQs must be unique per VM; the rest get free lines, 16-23 first. */
static void assign_irqs(struct validator *v, struct sd_vm *vm)
{
	/* the order capvm run gives lines to the devices it attaches */
	static const int order[] = { 16, 17, 18, 19, 20, 21, 22, 23, 5, 6, 7, 10, 11, 12, 13, 14, 15 };
	const struct sd_device *owner[24] = { 0 };

	/* capvm run attaches disks, then network devices, then virtio consoles,
	 * then the rng: keep the same order (stable) so the lines match */
	for (int i = 1; i < vm->n_devs; i++) {
		struct sd_device t = vm->devs[i];
		int j = i;
		for (; j > 0 && vm->devs[j - 1].kind > t.kind; j--)
			vm->devs[j] = vm->devs[j - 1];
		vm->devs[j] = t;
	}

	for (int i = 0; i < vm->n_devs; i++) {
		struct sd_device *d = &vm->devs[i];
		if (d->irq_auto)
			continue;
		if (owner[d->irq]) {
			ERR(d->loc, "%s: IRQ %d is used twice (also by the device at %s:%d:%d)",
			    vm->name, d->irq, owner[d->irq]->loc.file, owner[d->irq]->loc.line,
			    owner[d->irq]->loc.col);
			continue;
		}
		owner[d->irq] = d;
	}
	for (int i = 0; i < vm->n_devs; i++) {
		struct sd_device *d = &vm->devs[i];
		if (!d->irq_auto)
			continue;
		for (size_t k = 0; k < ARRAY_SIZE(order); k++) {
			if (!owner[order[k]]) {
				d->irq = order[k];
				owner[order[k]] = d;
				break;
			}
		}
	}
}

/* ---- attribute table ---- */

enum attr_for { FOR_VM = 1, FOR_DD = 2, FOR_BOTH = 3 };

static const struct { const char *name; enum attr_for who; } vm_attrs[] = {
	{ "_priority", FOR_BOTH }, { "_affinity", FOR_BOTH }, { "simple_untyped24_pool", FOR_BOTH },
	{ "ram_large_pages", FOR_VM }, { "realtime", FOR_BOTH },
	{ "kernel", FOR_VM }, { "initrd", FOR_VM }, { "cmdline", FOR_VM }, { "ram", FOR_VM },
	{ "cpus", FOR_VM }, { "disks", FOR_VM }, { "net", FOR_VM }, { "rng", FOR_VM },
	{ "virtio_console", FOR_VM }, { "console", FOR_VM },
	{ "console_log", FOR_VM }, { "monitor", FOR_VM }, { "monitor_remote", FOR_VM },
	{ "log", FOR_BOTH }, { "restart", FOR_BOTH }, { "restart_delay", FOR_BOTH },
	{ "restart_burst", FOR_BOTH }, { "restart_interval", FOR_BOTH }, { "device", FOR_DD },
	{ "blk_image", FOR_DD }, { "net_tap", FOR_DD }, { "memory", FOR_DD },
	{ "bounce_window", FOR_DD }, { "irq", FOR_DD },
	{ "watchdog_action", FOR_VM }, { "watchdog_timeout", FOR_VM }, { "on_failure", FOR_BOTH },
};

static bool loopback_host(const char *h)
{
	return !strcmp(h, "localhost") || !strcmp(h, "::1") || !strncmp(h, "127.", 4);
}

int sd_monitor_parse(const char *text, struct sd_monitor_addr *a)
{
	const char *comma = strchr(text, ',');
	size_t len = comma ? (size_t)(comma - text) : strlen(text);
	uint64_t port;
	char portbuf[8];

	memset(a, 0, sizeof(*a));
	if (len > 4 && !strncmp(text, "tcp:", 4)) {
		const char *hp = text + 4, *end = text + len, *colon = NULL;
		size_t hostlen;
		if (hp[0] == '[') {
			const char *close = memchr(hp, ']', (size_t)(end - hp));
			if (!close || close + 1 >= end || close[1] != ':')
				return -1;
			hostlen = (size_t)(close - hp - 1);
			memcpy(a->host, hp + 1, hostlen < sizeof(a->host) ? hostlen : 0);
			colon = close + 1;
		} else {
			for (const char *c = hp; c < end; c++)
				if (*c == ':')
					colon = c;
			if (!colon)
				return -1;
			hostlen = (size_t)(colon - hp);
			memcpy(a->host, hp, hostlen < sizeof(a->host) ? hostlen : 0);
		}
		if (hostlen >= sizeof(a->host) || (size_t)(end - colon - 1) >= sizeof(portbuf))
			return -1;
		memcpy(portbuf, colon + 1, (size_t)(end - colon - 1));
		portbuf[end - colon - 1] = 0;
		if (parse_uint(portbuf, 1, 65535, &port) < 0 || portbuf[0] == '0')
			return -1;
		snprintf(a->port, sizeof(a->port), "%llu", (unsigned long long)port);
	} else {
		const char *path = text;
		if (len > 5 && !strncmp(text, "unix:", 5)) {
			path += 5;
			len -= 5;
		} else if (!memchr(text, '/', len)) {
			return -1;
		}
		if (len == 0 || len >= sizeof(a->path))
			return -1;
		a->is_unix = true;
		memcpy(a->path, path, len);
	}
	while (comma) {
		const char *opt = comma + 1;
		size_t n;
		comma = strchr(opt, ',');
		n = comma ? (size_t)(comma - opt) : strlen(opt);
		if ((n == 8 && !strncmp(opt, "mode=qmp", 8)) || (n == 12 && !strncmp(opt, "mode=control", 12)))
			a->qmp = true;
		else if ((n == 9 && !strncmp(opt, "public=on", 9)) || (n == 10 && !strncmp(opt, "public=yes", 10)))
			a->public_ok = true;
	}
	return 0;
}

static bool check_monitor(struct validator *v, struct sd_vm *vm, const struct sd_setting *s,
			  bool remote_ok)
{
	struct sd_monitor_addr a;

	if (sd_monitor_parse(vm->monitor, &a) < 0) {
		ERR(s->val.loc, "%s.monitor must be \"unix:PATH\" or \"tcp:127.0.0.1:PORT\"",
		    vm->name);
		return false;
	}
	if (!a.is_unix && !remote_ok && !a.public_ok && !loopback_host(a.host)) {
		ERR(s->val.loc, "%s.monitor listens on a non-loopback address; set "
		    "%s.monitor_remote = true if that is really wanted", vm->name, vm->name);
		return false;
	}
	if (!a.is_unix && remote_ok && !a.public_ok && !loopback_host(a.host)) {
		/* capvm run wants public=on for a non-loopback address */
		char *m = xasprintf("%s,public=on", vm->monitor);
		free(vm->monitor);
		vm->monitor = m;
	}
	return true;
}

static bool check_console(struct validator *v, struct sd_vm *vm, const struct sd_setting *s)
{
	const char *c = vm->console;

	if (!strcmp(c, "stdio") || !strcmp(c, "none") ||
	    (!strncmp(c, "file:", 5) && c[5]) || (!strncmp(c, "unix:", 5) && c[5]))
		return true;
	ERR(s->val.loc, "%s.console must be \"stdio\", \"none\", \"file:PATH\" or \"unix:PATH\"",
	    vm->name);
	return false;
}

static struct sd_dp_map *find_end(struct sd_vm *vm, const char *end)
{
	for (int i = 0; i < vm->n_dps; i++)
		if (!strcmp(vm->dps[i].end, end))
			return &vm->dps[i];
	return NULL;
}

/*
 * blk_image = "PATH[,ro][,serial=S][,cache=...]": the image and options of
 * `capvm backend blk --image`.  The path is resolved like a disk's and
 * must exist ("null" is the disk without storage); the options are checked
 * by the back-end itself.
 */
static void set_dd_image(struct validator *v, struct sd_vm *dd, const struct sd_setting *s,
			 const char *text)
{
	size_t plen = strcspn(text, ",");
	char *path, *res;

	if (!strncmp(text, "vhost-user=", 11) || plen == 0) {
		ERR(s->val.loc, "%s.blk_image must start with the image path", dd->name);
		return;
	}
	path = xasprintf("%.*s", (int)plen, text);
	/* "null": capvm's disk without storage (null[,size=S]), no file */
	res = strcmp(path, "null") ? resolve_input(v, &s->val.loc, path) : xstrdup(path);
	if (strcmp(path, "null") && v->host->check_files && !file_exists(res))
		ERR(s->val.loc, "%s.blk_image: file '%s' not found (looked for %s)", dd->name, path,
		    res);
	free(dd->dd_image);
	dd->dd_image = xasprintf("%s%s", res, text + plen);
	if (!dd->device_loc.file)
		dd->device_loc = s->val.loc;
	free(path);
	free(res);
}

/* The settings applied to one VM or device domain. */
static void apply_vm_setting(struct validator *v, struct sd_vm *vm, const struct sd_setting *s,
			     bool *remote_ok, const struct sd_setting **monitor_set)
{
	const char *a = s->attr;
	uint64_t n;
	size_t alen = strlen(a);
	bool known = false;

	for (size_t i = 0; i < ARRAY_SIZE(vm_attrs); i++) {
		if (strcmp(a, vm_attrs[i].name))
			continue;
		known = true;
		if (!(vm_attrs[i].who & (vm->kind == SD_KIND_VM ? FOR_VM : FOR_DD))) {
			ERR(s->attr_loc, "attribute '%s' does not apply to a %s (%s)", a,
			    sd_kind_name(vm->kind), vm->name);
			return;
		}
	}
	/* END_paddr: guest-physical address of this VM's end of a dataport */
	if (!known && alen > 6 && !strcmp(a + alen - 6, "_paddr")) {
		char end[256];
		struct sd_dp_map *m;
		snprintf(end, sizeof(end), "%.*s", (int)(alen - 6), a);
		m = find_end(vm, end);
		if (!m) {
			ERR(s->attr_loc, "unknown attribute '%s': %s has no dataport end '%s'", a,
			    vm->name, end);
			return;
		}
		if (m->dp->bounce) {
			ERR(s->attr_loc, "%s: '%s' is the bounce window of a device domain; it is "
			    "not mapped into the guest, so it has no address", vm->name, m->dp->name);
			return;
		}
		if (!want_uint(v, s, 0, UINT64_MAX, &n))
			return;
		if (n % PAGE_SIZE_4K) {
			ERR(s->val.loc, "%s.%s = 0x%llx is not page-aligned (4 KiB)", vm->name, a,
			    (unsigned long long)n);
			return;
		}
		if (n < DATAPORT_BASE || n >= DATAPORT_LIMIT) {
			ERR(s->val.loc, "%s.%s = 0x%llx is outside the dataport window "
			    "[0x%llx, 0x%llx)", vm->name, a, (unsigned long long)n,
			    DATAPORT_BASE, DATAPORT_LIMIT);
			return;
		}
		m->gpa = n;
		m->gpa_auto = false;
		m->gpa_loc = s->val.loc;
		return;
	}
	if (!known) {
		ERR(s->attr_loc, "unknown attribute '%s' for %s %s", a, sd_kind_name(vm->kind),
		    vm->name);
		return;
	}

	if (!strcmp(a, "_priority")) {
		if (want_uint(v, s, 0, 255, &n))
			vm->priority = (int)n;
	} else if (!strcmp(a, "_affinity")) {
		want_cpus(v, vm, s);
	} else if (!strcmp(a, "simple_untyped24_pool")) {
		if (want_uint(v, s, 1, MAX_RAM / SD_BUDGET_UNIT, &n)) {
			vm->budget = n * SD_BUDGET_UNIT;
			vm->budget_set = true;
			vm->budget_loc = s->val.loc;
		}
	} else if (!strcmp(a, "ram_large_pages")) {
		want_bool(v, s, &vm->large_pages);
	} else if (!strcmp(a, "realtime")) {
		want_bool(v, s, &vm->realtime);
	} else if (!strcmp(a, "kernel") || !strcmp(a, "initrd")) {
		char *p = NULL;
		if (want_str(v, s, true, &p)) {
			char *res = resolve_input(v, &s->val.loc, p);
			if (v->host->check_files && !file_exists(res))
				ERR(s->val.loc, "%s.%s: file '%s' not found (looked for %s)",
				    vm->name, a, p, res);
			free(a[0] == 'k' ? vm->kernel : vm->initrd);
			*(a[0] == 'k' ? &vm->kernel : &vm->initrd) = res;
		}
		free(p);
	} else if (!strcmp(a, "cmdline")) {
		if (want_str(v, s, false, &vm->cmdline) &&
		    strlen(vm->cmdline) >= BOOT_CMDLINE_MAX)
			ERR(s->val.loc, "%s.cmdline is too long (limit %llu bytes)", vm->name,
			    BOOT_CMDLINE_MAX - 1);
	} else if (!strcmp(a, "ram")) {
		if (!want_size(v, s, &n))
			return;
		if (n < SD_MIN_RAM)
			ERR(s->val.loc, "%s.ram = %llu bytes is too small (at least 16M%s)",
			    vm->name, (unsigned long long)n,
			    s->val.suffix[0] ? "" : "; a bare number is bytes, did you mean "
			    "a unit like 512M?");
		else if (n > MAX_RAM)
			ERR(s->val.loc, "%s.ram is too large (at most 1T)", vm->name);
		else if (n % MiB)
			ERR(s->val.loc, "%s.ram must be a whole number of MiB", vm->name);
		else
			vm->ram = n;
	} else if (!strcmp(a, "cpus")) {
		if (want_uint(v, s, 1, 255, &n))
			vm->cpus = (int)n;
	} else if (!strcmp(a, "disks")) {
		want_devices(v, vm, s, SD_DEV_DISK);
	} else if (!strcmp(a, "net")) {
		want_devices(v, vm, s, SD_DEV_NET);
	} else if (!strcmp(a, "console")) {
		if (want_str(v, s, true, &vm->console))
			check_console(v, vm, s);
	} else if (!strcmp(a, "rng")) {
		bool on;
		if (want_bool(v, s, &on))
			set_simple_device(v, vm, SD_DEV_RNG, "", on, s->val.loc);
	} else if (!strcmp(a, "virtio_console")) {
		char *p = NULL;
		if (want_str(v, s, true, &p)) {
			if (!strcmp(p, "stdio") || !strcmp(p, "none") ||
			    (!strncmp(p, "file:", 5) && p[5]) || (!strncmp(p, "unix:", 5) && p[5]))
				set_simple_device(v, vm, SD_DEV_VCONSOLE, p, true, s->val.loc);
			else
				ERR(s->val.loc, "%s.virtio_console must be \"stdio\", \"none\", "
				    "\"file:PATH\" or \"unix:PATH\"", vm->name);
		}
		free(p);
	} else if (!strcmp(a, "console_log")) {
		want_str(v, s, true, &vm->console_log);
	} else if (!strcmp(a, "monitor")) {
		if (want_str(v, s, true, &vm->monitor))
			*monitor_set = s;
	} else if (!strcmp(a, "monitor_remote")) {
		want_bool(v, s, remote_ok);
	} else if (!strcmp(a, "log")) {
		want_str(v, s, true, &vm->log);
	} else if (!strcmp(a, "restart")) {
		char *p = NULL;
		if (!want_str(v, s, true, &p))
			return;
		if (!strcmp(p, "never") || !strcmp(p, "no"))
			vm->restart = SD_RESTART_NEVER;
		else if (!strcmp(p, "on-failure"))
			vm->restart = SD_RESTART_ON_FAILURE;
		else if (!strcmp(p, "always"))
			vm->restart = SD_RESTART_ALWAYS;
		else
			ERR(s->val.loc, "%s.restart must be \"never\", \"on-failure\" or \"always\"",
			    vm->name);
		free(p);
	} else if (!strcmp(a, "restart_delay")) {
		want_duration(v, s, &vm->restart_delay_ms);
	} else if (!strcmp(a, "restart_interval")) {
		want_duration(v, s, &vm->restart_interval_ms);
	} else if (!strcmp(a, "restart_burst")) {
		if (want_uint(v, s, 0, 1000, &n))
			vm->restart_burst = (int)n;
	} else if (!strcmp(a, "device")) {
		if (want_str(v, s, true, &vm->dd_device)) {
			vm->device_loc = s->val.loc;
			if (strcmp(vm->dd_device, "blk") && strcmp(vm->dd_device, "net"))
				ERR(s->val.loc, "unknown device kind '%s' for device domain %s "
				    "(known: blk, net)", vm->dd_device, vm->name);
		}
	} else if (!strcmp(a, "blk_image")) {
		char *p = NULL;
		if (want_str(v, s, true, &p))
			set_dd_image(v, vm, s, p);
		free(p);
	} else if (!strcmp(a, "net_tap")) {
		/* "NAME[,mac=MAC]...": the --tap of capvm backend net */
		if (want_str(v, s, true, &vm->dd_tap)) {
			size_t nlen = strcspn(vm->dd_tap, ",");
			if (nlen == 0 || nlen >= 16 || strcspn(vm->dd_tap, "/ \t") < nlen)
				ERR(s->val.loc, "%s.net_tap: '%.*s' is not a network interface name "
				    "(1 to 15 characters, no '/' or spaces)", vm->name, (int)nlen,
				    vm->dd_tap);
			if (!vm->device_loc.file)
				vm->device_loc = s->val.loc;
		}
	} else if (!strcmp(a, "memory")) {
		char *p = NULL;
		if (want_str(v, s, true, &p)) {
			if (!strcmp(p, "isolated"))
				vm->dd_shared = false;
			else if (!strcmp(p, "shared"))
				vm->dd_shared = true;
			else
				ERR(s->val.loc, "%s.memory must be \"isolated\" (the back-end sees only "
				    "its bounce window) or \"shared\" (it maps all guest RAM)",
				    vm->name);
		}
		free(p);
	} else if (!strcmp(a, "bounce_window")) {
		if (!want_size(v, s, &n))
			return;
		if (n < SD_MIN_BOUNCE || n > SD_MAX_BOUNCE || n % PAGE_SIZE_4K)
			ERR(s->val.loc, "%s.bounce_window must be a multiple of 4K from 1M to 256M "
			    "(the seL4 guide uses 32M, 64M or 128M)", vm->name);
		else {
			vm->bounce = n;
			vm->bounce_set = true;
			vm->bounce_loc = s->val.loc;
		}
	} else if (!strcmp(a, "irq")) {
		if (want_uint(v, s, 0, 255, &n)) {
			if (!irq_allowed(n))
				ERR(s->val.loc, "%s: invalid IRQ '%llu' (allowed: 5-7, 10-23)",
				    vm->name, (unsigned long long)n);
			else
				vm->dd_irq = (int)n;
		}
	} else if (!strcmp(a, "watchdog_action")) {
		/* the names of arch/x86/watchdog.h (docs/operations.md) */
		if (want_str(v, s, true, &vm->watchdog_action) &&
		    strcmp(vm->watchdog_action, "reset") && strcmp(vm->watchdog_action, "poweroff") &&
		    strcmp(vm->watchdog_action, "restart") && strcmp(vm->watchdog_action, "none"))
			ERR(s->val.loc, "%s.watchdog_action must be \"reset\", \"poweroff\", "
			    "\"restart\" or \"none\"", vm->name);
	} else if (!strcmp(a, "watchdog_timeout")) {
		uint64_t ms = 0;
		if (want_duration(v, s, &ms)) {
			if (ms < 1000 || ms > 3600000 || ms % 1000)
				ERR(s->val.loc, "%s.watchdog_timeout must be whole seconds from 1s to 1h",
				    vm->name);
			else
				vm->watchdog_timeout_s = (unsigned)(ms / 1000);
		}
	} else if (!strcmp(a, "on_failure")) {
		want_str(v, s, true, &vm->on_failure);
	}
}

/* ---- dataports ---- */

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static void place_dataports(struct validator *v, struct sd_vm *vm)
{
	/* explicit addresses: must fit the window and not overlap */
	for (int i = 0; i < vm->n_dps; i++) {
		struct sd_dp_map *m = &vm->dps[i];
		if (m->gpa_auto || !m->dp->size || m->dp->bounce)
			continue;
		if (!range_within(m->gpa, m->dp->size, DATAPORT_LIMIT)) {
			ERR(m->gpa_loc, "%s: dataport '%s' at 0x%llx (size 0x%llx) runs past the end "
			    "of the dataport window (0x%llx)", vm->name, m->dp->name,
			    (unsigned long long)m->gpa, (unsigned long long)m->dp->size,
			    DATAPORT_LIMIT);
			m->dp->size = 0; /* reported; keep it out of later checks */
			continue;
		}
		for (int j = 0; j < i; j++) {
			struct sd_dp_map *o = &vm->dps[j];
			if (o->gpa_auto || !o->dp->size || o->dp->bounce)
				continue;
			if (ranges_overlap(m->gpa, m->dp->size, o->gpa, o->dp->size))
				ERR(m->gpa_loc, "%s: dataport '%s' [0x%llx, 0x%llx) overlaps dataport "
				    "'%s' [0x%llx, 0x%llx)", vm->name, m->dp->name,
				    (unsigned long long)m->gpa,
				    (unsigned long long)(m->gpa + m->dp->size), o->dp->name,
				    (unsigned long long)o->gpa,
				    (unsigned long long)(o->gpa + o->dp->size));
		}
	}
	/* the others: first fit, 2 MiB-aligned when they are that big */
	for (int i = 0; i < vm->n_dps; i++) {
		struct sd_dp_map *m = &vm->dps[i];
		uint64_t align, size = m->dp->size, at;
		bool placed = false;
		if (!m->gpa_auto || !size || m->dp->bounce)
			continue;
		align = size >= LARGE_PAGE ? LARGE_PAGE : PAGE_SIZE_4K;
		for (at = DATAPORT_BASE; range_within(at, size, DATAPORT_LIMIT);) {
			bool clash = false;
			for (int j = 0; j < vm->n_dps; j++) {
				struct sd_dp_map *o = &vm->dps[j];
				if (j == i || !o->dp->size || o->dp->bounce || (o->gpa_auto && j > i))
					continue;
				if (ranges_overlap(at, size, o->gpa, o->dp->size)) {
					at = ALIGN_UP(o->gpa + o->dp->size, align);
					clash = true;
					break;
				}
			}
			if (!clash) {
				placed = true;
				break;
			}
		}
		if (!placed) {
			ERR(m->gpa_loc, "%s: no room for dataport '%s' (0x%llx bytes) in the dataport "
			    "window [0x%llx, 0x%llx)", vm->name, m->dp->name,
			    (unsigned long long)size, DATAPORT_BASE, DATAPORT_LIMIT);
			continue;
		}
		m->gpa = at;
	}
}

/* ---- the whole system ---- */

static struct sd_vm *find_vm(struct sd_system *sys, const char *name)
{
	for (size_t i = 0; i < sys->n_vms; i++)
		if (!strcmp(sys->vms[i].name, name))
			return &sys->vms[i];
	return NULL;
}

static struct sd_dataport *find_dp(struct sd_system *sys, const char *name)
{
	for (size_t i = 0; i < sys->n_dps; i++)
		if (!strcmp(sys->dps[i].name, name))
			return &sys->dps[i];
	return NULL;
}

static void vm_defaults(struct sd_vm *vm)
{
	vm->ram = 256 * MiB;
	vm->cpus = 1;
	vm->priority = -1;
	vm->restart = SD_RESTART_NEVER;
	vm->restart_delay_ms = 1000;
	vm->restart_burst = 5;
	vm->restart_interval_ms = 10000;
	vm->console = xstrdup("stdio");
	vm->cmdline = xstrdup(SD_DEFAULT_CMDLINE);
}

/* Names of components and connections share one namespace. */
static const struct sd_loc *name_taken(const struct sd_doc *doc, const char *name, size_t comps,
				       size_t conns)
{
	for (size_t i = 0; i < comps; i++)
		if (!strcmp(doc->comps[i].name, name))
			return &doc->comps[i].loc;
	for (size_t i = 0; i < conns; i++)
		if (!strcmp(doc->conns[i].name, name))
			return &doc->conns[i].loc;
	return NULL;
}

/*
 * A connection with a device domain on one end: the other end must be a
 * VM (the device slot is the VM's interface name), and a device domain
 * serves one device of one VM.
 */
static bool connect_device_domain(struct validator *v, const struct sd_connection *c,
				  struct sd_vm *vms[2])
{
	const struct sd_endpoint *ends[2] = { &c->from, &c->to };
	struct sd_system *sys = v->sys;

	if (vms[0]->kind == SD_KIND_VM && vms[1]->kind == SD_KIND_VM)
		return true;
	if (vms[0]->kind == SD_KIND_DEVICE_DOMAIN && vms[1]->kind == SD_KIND_DEVICE_DOMAIN) {
		ERR(c->to.loc, "connection '%s' joins two device domains (%s, %s); the other side "
		    "of a device domain must be a VM", c->name, vms[0]->name, vms[1]->name);
		return false;
	}
	for (int e = 0; e < 2; e++) {
		const struct sd_vm *dd = vms[e];
		if (dd->kind != SD_KIND_DEVICE_DOMAIN || !dd->dd_dp)
			continue;
		ERR(ends[e]->loc, "device domain %s already serves %s (connection '%s' at %s:%d:%d); "
		    "a device domain serves one device of one VM", dd->name,
		    sys->vms[dd->dd_vm].name, dd->dd_dp->name, dd->dd_dp->loc.file,
		    dd->dd_dp->loc.line, dd->dd_dp->loc.col);
		return false;
	}
	return true;
}

static void declare(struct validator *v)
{
	const struct sd_doc *doc = v->doc;
	struct sd_system *sys = v->sys;

	sys->vms = calloc(doc->n_comps ? doc->n_comps : 1, sizeof(*sys->vms));
	sys->dps = calloc(doc->n_conns ? doc->n_conns : 1, sizeof(*sys->dps));
	if (!sys->vms || !sys->dps)
		abort();
	for (size_t i = 0; i < doc->n_comps; i++) {
		const struct sd_component *c = &doc->comps[i];
		const struct sd_loc *prev = name_taken(doc, c->name, i, 0);
		struct sd_vm *vm;
		enum sd_kind kind;

		if (!strcmp(c->type, "VM")) {
			kind = SD_KIND_VM;
		} else if (!strcmp(c->type, "DeviceDomain")) {
			kind = SD_KIND_DEVICE_DOMAIN;
		} else {
			ERR(c->type_loc, "unknown component type '%s' (known: VM, DeviceDomain)",
			    c->type);
			continue;
		}
		if (prev) {
			ERR(c->loc, "duplicate name '%s' (first declared at %s:%d:%d)", c->name,
			    prev->file, prev->line, prev->col);
			continue;
		}
		if (sys->n_vms >= SD_MAX_VMS) {
			ERR(c->loc, "too many components (limit %d)", SD_MAX_VMS);
			continue;
		}
		vm = &sys->vms[sys->n_vms++];
		vm->name = xstrdup(c->name);
		vm->kind = kind;
		vm->loc = c->loc;
		vm->budget_loc = c->loc;
		vm_defaults(vm);
		vm->dd_vm = -1;
	}
	for (size_t i = 0; i < doc->n_conns; i++) {
		const struct sd_connection *c = &doc->conns[i];
		const struct sd_loc *prev = name_taken(doc, c->name, doc->n_comps, i);
		const struct sd_endpoint *ends[2] = { &c->from, &c->to };
		struct sd_vm *vms[2];
		struct sd_dataport *dp;
		bool ok = true;

		if (strcmp(c->type, "seL4SharedData")) {
			ERR(c->type_loc, "unknown connection type '%s' (known: seL4SharedData)",
			    c->type);
			continue;
		}
		if (prev) {
			ERR(c->loc, "duplicate name '%s' (first declared at %s:%d:%d)", c->name,
			    prev->file, prev->line, prev->col);
			continue;
		}
		for (int e = 0; e < 2; e++) {
			vms[e] = find_vm(sys, ends[e]->comp);
			if (!vms[e]) {
				ERR(ends[e]->loc, "connection '%s' refers to undeclared component '%s'",
				    c->name, ends[e]->comp);
				ok = false;
			} else if (find_end(vms[e], ends[e]->end)) {
				const struct sd_dataport *o = find_end(vms[e], ends[e]->end)->dp;
				int dd = sys->vms[o->vm[0]].kind == SD_KIND_DEVICE_DOMAIN ? o->vm[0]
											  : o->vm[1];
				if (o->bounce && vms[e]->kind == SD_KIND_VM)
					ERR(ends[e]->loc, "%s.%s is already served by device domain %s "
					    "(connection '%s'); one device slot has one back-end",
					    ends[e]->comp, ends[e]->end, sys->vms[dd].name, o->name);
				else
					ERR(ends[e]->loc, "%s.%s is already the end of dataport '%s'",
					    ends[e]->comp, ends[e]->end, o->name);
				ok = false;
			} else if (vms[e]->n_dps >= SD_MAX_DATAPORTS) {
				ERR(ends[e]->loc, "%s: too many dataports (limit %d)", vms[e]->name,
				    SD_MAX_DATAPORTS);
				ok = false;
			}
		}
		if (ok && vms[0] == vms[1]) {
			ERR(c->to.loc, "dataport '%s' connects %s to itself", c->name, vms[0]->name);
			ok = false;
		}
		if (ok && !connect_device_domain(v, c, vms))
			ok = false;
		if (!ok)
			continue;
		dp = &sys->dps[sys->n_dps++];
		dp->name = xstrdup(c->name);
		dp->loc = c->loc;
		dp->size_loc = c->loc;
		dp->bounce = vms[0]->kind == SD_KIND_DEVICE_DOMAIN ||
			     vms[1]->kind == SD_KIND_DEVICE_DOMAIN;
		for (int e = 0; e < 2; e++)
			if (vms[e]->kind == SD_KIND_DEVICE_DOMAIN) {
				vms[e]->dd_vm = (int)(vms[1 - e] - sys->vms);
				vms[e]->dd_dp = dp;
			}
		for (int e = 0; e < 2; e++) {
			struct sd_dp_map *m = &vms[e]->dps[vms[e]->n_dps++];
			dp->vm[e] = (int)(vms[e] - sys->vms);
			m->dp = dp;
			m->end = xstrdup(ends[e]->end);
			m->gpa_auto = true;
			m->gpa_loc = c->loc;
		}
	}
}

static void apply_settings(struct validator *v)
{
	const struct sd_doc *doc = v->doc;
	struct sd_system *sys = v->sys;
	bool *remote_ok = calloc(sys->n_vms + 1, sizeof(bool));
	const struct sd_setting **monitor_set = calloc(sys->n_vms + 1, sizeof(*monitor_set));

	if (!remote_ok || !monitor_set)
		abort();
	for (size_t i = 0; i < doc->n_sets; i++) {
		const struct sd_setting *s = &doc->sets[i];
		struct sd_vm *vm = find_vm(sys, s->target);
		struct sd_dataport *dp;

		if (vm) {
			size_t k = (size_t)(vm - sys->vms);
			apply_vm_setting(v, vm, s, &remote_ok[k], &monitor_set[k]);
			continue;
		}
		dp = find_dp(sys, s->target);
		if (dp) {
			uint64_t n;
			if (strcmp(s->attr, "size")) {
				ERR(s->attr_loc, "unknown attribute '%s' for dataport %s (known: size)",
				    s->attr, dp->name);
			} else if (want_size(v, s, &n)) {
				if (n == 0 || n % PAGE_SIZE_4K)
					ERR(s->val.loc, "%s.size must be a non-zero multiple of 4K",
					    dp->name);
				else if (n > DATAPORT_LIMIT - DATAPORT_BASE)
					ERR(s->val.loc, "%s.size is larger than the dataport window "
					    "(256M)", dp->name);
				else {
					dp->size = n;
					dp->size_set = true;
					dp->size_loc = s->val.loc;
				}
			}
			continue;
		}
		if (name_taken(doc, s->target, doc->n_comps, doc->n_conns))
			continue; /* a declaration that failed; already reported */
		ERR(s->loc, "'%s' is not a declared component or connection", s->target);
	}
	/* checks that need the final value of two settings */
	for (size_t k = 0; k < sys->n_vms; k++)
		if (monitor_set[k])
			check_monitor(v, &sys->vms[k], monitor_set[k], remote_ok[k]);
	free(remote_ok);
	free(monitor_set);
}

/*
 * After all settings: what a device domain serves (blk image or tap), its
 * bounce window against its connection's size, and the device it adds to
 * the VM it serves (a --disk/--net vhost-user= of that VM's capvm run).
 */
static void finish_device_domain(struct validator *v, struct sd_vm *dd)
{
	struct sd_system *sys = v->sys;
	struct sd_loc where = dd->device_loc.file ? dd->device_loc : dd->loc;
	struct sd_dataport *dp = dd->dd_dp;
	struct sd_vm *vm;
	struct sd_device *d;

	if (dd->dd_image && dd->dd_tap) {
		ERR(where, "device domain %s sets both blk_image and net_tap; it serves one device",
		    dd->name);
		return;
	}
	if (dd->dd_device && !strcmp(dd->dd_device, "net") && dd->dd_image) {
		ERR(where, "device domain %s: device = \"net\" but blk_image is set", dd->name);
		return;
	}
	if (dd->dd_device && !strcmp(dd->dd_device, "blk") && dd->dd_tap) {
		ERR(where, "device domain %s: device = \"blk\" but net_tap is set", dd->name);
		return;
	}
	if (dd->dd_image) {
		dd->dd_kind = SD_DD_BLK;
	} else if (dd->dd_tap) {
		dd->dd_kind = SD_DD_NET;
	} else if (dd->dd_device && !strcmp(dd->dd_device, "blk")) {
		ERR(where, "device domain %s (blk) has no image (set %s.blk_image = \"disk.img\";)",
		    dd->name, dd->name);
		return;
	} else if (dd->dd_device && !strcmp(dd->dd_device, "net")) {
		ERR(where, "device domain %s (net) has no tap device (set %s.net_tap = \"tap0\";)",
		    dd->name, dd->name);
		return;
	} else if (!dd->dd_device) {
		ERR(where, "device domain %s serves no device (set %s.blk_image = \"disk.img\"; or "
		    "%s.net_tap = \"tap0\";)", dd->name, dd->name, dd->name);
		return;
	} else {
		return; /* unknown device kind: reported with the setting */
	}
	if (!dp) {
		ERR(dd->loc, "device domain %s is not connected to a VM (add connection "
		    "seL4SharedData NAME(from %s.dma, to VM.%s0);)", dd->name, dd->name,
		    dd->dd_kind == SD_DD_BLK ? "disk" : "net");
		return;
	}
	vm = &sys->vms[dd->dd_vm];
	if (dd->dd_shared) {
		/* the back-end maps guest RAM; there is no window to size */
		if (dd->bounce_set)
			WARN(dd->bounce_loc, "%s.bounce_window has no effect with memory = \"shared\"",
			     dd->name);
		if (dp->size_set)
			WARN(dp->size_loc, "%s.size has no effect: device domain %s uses memory = "
			     "\"shared\"", dp->name, dd->name);
		dd->bounce = 0;
		dp->size = 0;
	} else {
		if (!dd->bounce_set)
			dd->bounce = dp->size_set ? dp->size : SD_DEFAULT_BOUNCE;
		if (!dp->size_set) {
			dp->size = dd->bounce;
		} else if (dp->size < dd->bounce) {
			ERR(dp->size_loc, "dataport '%s' (%llu KiB) is too small for the bounce window "
			    "of %s (%s.bounce_window = %llu KiB)", dp->name,
			    (unsigned long long)(dp->size >> 10), dd->name, dd->name,
			    (unsigned long long)(dd->bounce >> 10));
			return;
		} else if (dp->size > dd->bounce) {
			WARN(dp->size_loc, "dataport '%s' is larger than the bounce window of %s; "
			     "only %llu KiB are used", dp->name, dd->name,
			     (unsigned long long)(dd->bounce >> 10));
			dp->size = dd->bounce;
		}
	}
	if (vm->n_devs >= SD_MAX_DEVICES) {
		ERR(dp->loc, "%s: too many devices (limit %d)", vm->name, SD_MAX_DEVICES);
		return;
	}
	d = &vm->devs[vm->n_devs++];
	memset(d, 0, sizeof(*d));
	d->kind = dd->dd_kind == SD_DD_BLK ? SD_DEV_DISK : SD_DEV_NET;
	d->spec = xstrdup("");   /* built by the supervisor: it knows the socket */
	d->dd = (int)(dd - sys->vms);
	d->loc = dp->loc;
	d->irq = dd->dd_irq;
	d->irq_auto = dd->dd_irq == 0;
}

static void check_vm(struct validator *v, struct sd_vm *vm)
{
	uint64_t dps = 0, ram = vm->kind == SD_KIND_VM ? vm->ram : 0;

	if (vm->kind == SD_KIND_VM && !vm->kernel)
		ERR(vm->loc, "VM %s has no kernel (set %s.kernel = \"PATH\";)", vm->name, vm->name);
	if (vm->large_pages && vm->ram % LARGE_PAGE)
		ERR(vm->loc, "%s: ram_large_pages needs ram to be a multiple of 2M", vm->name);
	if (vm->realtime && vm->priority < 0)
		ERR(vm->loc, "%s: realtime = true needs a _priority", vm->name);
	place_dataports(v, vm);
	assign_irqs(v, vm);
	for (int i = 0; i < vm->n_dps; i++)
		dps += vm->dps[i].dp->size;
	/* a shared-mode back-end maps the guest's RAM, and pages it touches
	 * first are charged to its cgroup: give it room for them (the host
	 * total then counts that RAM twice, which errs on the safe side) */
	if (vm->kind == SD_KIND_DEVICE_DOMAIN && vm->dd_shared && vm->dd_vm >= 0)
		ram = v->sys->vms[vm->dd_vm].ram;
	vm->need = ram + dps + SD_VMM_OVERHEAD;
	if (!vm->budget_set) {
		vm->budget = ALIGN_UP(vm->need, SD_BUDGET_UNIT);
	} else if (vm->need > vm->budget) {
		ERR(vm->budget_loc, "%s needs %llu MiB (ram %llu MiB + dataports %llu MiB + VMM "
		    "%llu MiB) but simple_untyped24_pool = %llu allows %llu MiB", vm->name,
		    (unsigned long long)(vm->need >> 20), (unsigned long long)(ram >> 20),
		    (unsigned long long)(dps >> 20), SD_VMM_OVERHEAD >> 20,
		    (unsigned long long)(vm->budget / SD_BUDGET_UNIT),
		    (unsigned long long)(vm->budget >> 20));
	}
}

int sd_validate(const struct sd_doc *doc, const struct sd_host *host, struct sd_system *sys,
		struct sd_diags *diags)
{
	struct validator vv = { .doc = doc, .host = host, .sys = sys, .diags = diags }, *v = &vv;
	size_t errors_before = diags->n_errors;
	uint64_t total = 0;
	int n_stdio = 0;

	memset(sys, 0, sizeof(*sys));
	if (doc->n_files) {
		const char *base = strrchr(doc->files[0], '/');
		char *dot;
		sys->name = xstrdup(base ? base + 1 : doc->files[0]);
		dot = strrchr(sys->name, '.');
		if (dot && dot != sys->name)
			*dot = 0;
	} else {
		sys->name = xstrdup("system");
	}
	if (doc->n_comps == 0) {
		struct sd_loc l = { doc->n_files ? doc->files[0] : "<input>", 1, 1 };
		ERR(l, "the description declares no components");
	}
	declare(v);
	apply_settings(v);
	for (size_t i = 0; i < sys->n_vms; i++)
		if (sys->vms[i].kind == SD_KIND_DEVICE_DOMAIN)
			finish_device_domain(v, &sys->vms[i]);
	for (size_t i = 0; i < sys->n_dps; i++)
		if (!sys->dps[i].size && !sys->dps[i].bounce)
			ERR(sys->dps[i].loc, "dataport '%s' has no size (set %s.size = 2M;)",
			    sys->dps[i].name, sys->dps[i].name);
	for (size_t i = 0; i < sys->n_vms; i++) {
		struct sd_vm *vm = &sys->vms[i];
		check_vm(v, vm);
		if (vm->kind == SD_KIND_VM && !strcmp(vm->console, "stdio"))
			n_stdio++;
		for (size_t j = 0; j < i && vm->monitor; j++)
			if (sys->vms[j].monitor && !strcmp(sys->vms[j].monitor, vm->monitor))
				ERR(vm->loc, "%s and %s use the same monitor address %s",
				    sys->vms[j].name, vm->name, vm->monitor);
		total += vm->budget;
		if (host->mem_bytes && total > host->mem_bytes)
			ERR(vm->budget_loc, "the memory budgets of the VMs up to %s add up to %llu MiB, "
			    "more than the host's %llu MiB", vm->name,
			    (unsigned long long)(total >> 20),
			    (unsigned long long)(host->mem_bytes >> 20));
	}
	if (n_stdio > 1) {
		struct sd_loc l = { doc->n_files ? doc->files[0] : "<input>", 1, 1 };
		WARN(l, "%d VMs share the supervisor's terminal as console (set console = "
		     "\"file:PATH\" to separate them)", n_stdio);
	}
	return diags->n_errors > errors_before ? -1 : 0;
}

void sd_system_free(struct sd_system *sys)
{
	for (size_t i = 0; i < sys->n_vms; i++) {
		struct sd_vm *vm = &sys->vms[i];
		free(vm->name); free(vm->kernel); free(vm->initrd); free(vm->cmdline);
		free(vm->console); free(vm->console_log); free(vm->monitor); free(vm->log);
		free(vm->watchdog_action); free(vm->on_failure);
		free(vm->dd_device); free(vm->dd_image); free(vm->dd_tap);
		for (int d = 0; d < vm->n_devs; d++)
			free(vm->devs[d].spec);
		for (int d = 0; d < vm->n_dps; d++)
			free(vm->dps[d].end);
	}
	for (size_t i = 0; i < sys->n_dps; i++)
		free(sys->dps[i].name);
	for (size_t i = 0; i < sys->n_files; i++)
		free(sys->files[i]);
	free(sys->files);
	free(sys->vms);
	free(sys->dps);
	free(sys->name);
	free(sys->runtime_dir);
	memset(sys, 0, sizeof(*sys));
}

/* ---- host, loading, printing ---- */

void sd_host_probe(struct sd_host *h)
{
	char line[4096], *p;
	struct sysinfo si;
	FILE *f;

	memset(h, 0, sizeof(*h));
	h->check_files = true;
	/* "0-3,6,8-9"; sysfs sizes read as 4096, so no read_file() here */
	f = fopen("/sys/devices/system/cpu/online", "re");
	if (f) {
		if (fgets(line, sizeof(line), f)) {
			for (p = line; isdigit((unsigned char)*p);) {
				unsigned long lo = strtoul(p, &p, 10), hi = lo;
				if (*p == '-')
					hi = strtoul(p + 1, &p, 10);
				for (unsigned long c = lo; c <= hi && c < SD_MAX_CPUS; c++) {
					h->online[c] = 1;
					if ((int)c >= h->n_cpus)
						h->n_cpus = (int)c + 1;
				}
				if (*p == ',')
					p++;
			}
		}
		fclose(f);
	}
	if (h->n_cpus == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		h->n_cpus = n > 0 && n < SD_MAX_CPUS ? (int)n : 1;
		for (int c = 0; c < h->n_cpus; c++)
			h->online[c] = 1;
	}
	if (sysinfo(&si) == 0)
		h->mem_bytes = (uint64_t)si.totalram * si.mem_unit;
}

int sd_load(char *const *files, int n_files, const struct sd_host *host, struct sd_system *sys,
	    struct sd_diags *diags)
{
	struct sd_doc doc;
	int r = 0;

	memset(&doc, 0, sizeof(doc));
	memset(sys, 0, sizeof(*sys));
	for (int i = 0; i < n_files; i++)
		if (sd_parse_file(&doc, files[i], diags) < 0)
			r = -1;
	if (r == 0)
		r = sd_validate(&doc, host, sys, diags);
	/* locations in diags point into doc's file names: sys keeps them */
	for (size_t i = 0; i < doc.n_files; i++)
		free(doc.dirs[i]);
	free(doc.dirs);
	doc.dirs = NULL;
	sys->files = doc.files;
	sys->n_files = doc.n_files;
	doc.n_files = 0;
	doc.files = NULL;
	sd_doc_free(&doc);
	return r;
}

const char *sd_restart_name(enum sd_restart r)
{
	switch (r) {
	case SD_RESTART_NEVER: return "never";
	case SD_RESTART_ON_FAILURE: return "on-failure";
	case SD_RESTART_ALWAYS: return "always";
	}
	return "?";
}

const char *sd_kind_name(enum sd_kind k)
{
	return k == SD_KIND_VM ? "VM" : "DeviceDomain";
}

const char *sd_dd_kind_name(enum sd_dd_kind k)
{
	return k == SD_DD_BLK ? "blk" : k == SD_DD_NET ? "net" : "-";
}

static void print_size(FILE *f, uint64_t b)
{
	if (b % MiB == 0)
		fprintf(f, "%llu MiB", (unsigned long long)(b >> 20));
	else if (b % KiB == 0)
		fprintf(f, "%llu KiB", (unsigned long long)(b >> 10));
	else
		fprintf(f, "%llu bytes", (unsigned long long)b);
}

void sd_system_print(const struct sd_system *sys, FILE *f)
{
	fprintf(f, "system %s: %zu component%s, %zu dataport%s\n", sys->name, sys->n_vms,
		sys->n_vms == 1 ? "" : "s", sys->n_dps, sys->n_dps == 1 ? "" : "s");
	for (size_t i = 0; i < sys->n_vms; i++) {
		const struct sd_vm *vm = &sys->vms[i];
		struct sd_sched sc;

		/* device domains start first, then the VMs, each in declaration order */
		size_t order = 1;
		for (size_t j = 0; j < sys->n_vms; j++)
			if (sys->vms[j].kind == SD_KIND_DEVICE_DOMAIN ? (vm->kind == SD_KIND_VM || j < i)
								     : (vm->kind == SD_KIND_VM && j < i))
				order++;
		fprintf(f, "\n%s (%s, start #%zu)\n", vm->name, sd_kind_name(vm->kind), order);
		if (vm->kind == SD_KIND_VM) {
			fprintf(f, "  kernel     %s\n", vm->kernel ? vm->kernel : "-");
			fprintf(f, "  initrd     %s\n", vm->initrd ? vm->initrd : "-");
			fprintf(f, "  cmdline    \"%s\"\n", vm->cmdline);
			fprintf(f, "  ram        ");
			print_size(f, vm->ram);
			fprintf(f, "%s, %d vCPU%s\n", vm->large_pages ? " on 2 MiB pages" : "",
				vm->cpus, vm->cpus == 1 ? "" : "s");
		} else {
			fprintf(f, "  device     %s %s\n", sd_dd_kind_name(vm->dd_kind),
				vm->dd_image ? vm->dd_image : vm->dd_tap ? vm->dd_tap : "-");
			fprintf(f, "  serves     %s", vm->dd_vm >= 0 ? sys->vms[vm->dd_vm].name : "-");
			if (vm->dd_dp)
				fprintf(f, " (connection %s)", vm->dd_dp->name);
			fprintf(f, "\n  memory     %s", vm->dd_shared ? "shared (maps all guest RAM)"
				: "isolated, bounce window ");
			if (!vm->dd_shared)
				print_size(f, vm->bounce);
			fprintf(f, "\n");
		}
		fprintf(f, "  budget     ");
		print_size(f, vm->budget);
		fprintf(f, " (%s), needs ", vm->budget_set ? "simple_untyped24_pool" : "derived");
		print_size(f, vm->need);
		fprintf(f, "\n  cpus       ");
		if (!vm->n_affinity)
			fprintf(f, "any");
		for (int c = 0; c < vm->n_affinity; c++)
			fprintf(f, "%s%d", c ? "," : "pinned to ", vm->affinity[c]);
		sd_sched_for(vm->priority, vm->realtime, &sc);
		if (vm->priority < 0)
			fprintf(f, "\n  priority   default (SCHED_OTHER, nice 0)\n");
		else if (sc.policy == SCHED_OTHER)
			fprintf(f, "\n  priority   %d -> SCHED_OTHER, nice %d\n", vm->priority, sc.nice);
		else
			fprintf(f, "\n  priority   %d -> SCHED_FIFO %d\n", vm->priority, sc.rt_prio);
		for (int d = 0; d < vm->n_devs; d++) {
			static const char *const kinds[] = { "disk", "net", "vconsole", "rng" };
			const struct sd_device *dev = &vm->devs[d];
			fprintf(f, "  %-10s ", kinds[dev->kind]);
			if (dev->dd >= 0)
				fprintf(f, "vhost-user, served by device domain %s ",
					sys->vms[dev->dd].name);
			fprintf(f, "%s%s(IRQ %d%s)\n", dev->spec, dev->spec[0] ? " " : "", dev->irq,
				dev->irq_auto ? ", assigned" : "");
		}
		for (int d = 0; d < vm->n_dps; d++) {
			const struct sd_dataport *dp = vm->dps[d].dp;
			int peer = sys->vms + dp->vm[0] == vm ? dp->vm[1] : dp->vm[0];
			if (dp->bounce) {
				fprintf(f, "  bounce     %s (end %s), ", dp->name, vm->dps[d].end);
				if (dp->size)
					print_size(f, dp->size);
				else
					fprintf(f, "none (shared memory)");
				fprintf(f, ", with %s; not mapped into the guest\n",
					sys->vms[peer].name);
				continue;
			}
			fprintf(f, "  dataport   %s (end %s) at 0x%llx, ", dp->name, vm->dps[d].end,
				(unsigned long long)vm->dps[d].gpa);
			print_size(f, dp->size);
			fprintf(f, ", shared with %s\n", sys->vms[peer].name);
		}
		if (vm->kind == SD_KIND_VM) {
			fprintf(f, "  console    %s%s%s\n", vm->console,
				vm->console_log ? ", copy in " : "",
				vm->console_log ? vm->console_log : "");
			fprintf(f, "  monitor    %s\n", vm->monitor ? vm->monitor : "none");
		}
		fprintf(f, "  restart    %s", sd_restart_name(vm->restart));
		if (vm->restart != SD_RESTART_NEVER)
			fprintf(f, " after %llums, at most %d in %llums",
				(unsigned long long)vm->restart_delay_ms, vm->restart_burst,
				(unsigned long long)vm->restart_interval_ms);
		fprintf(f, "\n");
		if (vm->log)
			fprintf(f, "  log        %s\n", vm->log);
	}
}
