/*
 * capvm run: boot one VM from command-line flags (QEMU/kvmtool style).
 * Parses and checks the flags, creates the VM and its devices, runs it and
 * turns how it ended into capvm's exit status (see usage below).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86/layout.h"
#include "arch/x86/vm.h"
#include "arch/x86/watchdog.h"
#include "cli/commands.h"
#include "cli/run_devices.h"
#include "cli/run_monitor.h"
#include "common/chardev.h"
#include "common/log.h"
#include "common/util.h"
#include "virtio/iothread.h"

static void run_usage(FILE *f)
{
	fprintf(f,
"usage: capvm run --kernel FILE [options]\n"
"\n"
"Boot one Linux VM on KVM.\n"
"\n"
"  --kernel FILE        bzImage (64-bit boot protocol) or ELF vmlinux (PVH entry)\n"
"  --initrd FILE        initial ramdisk\n"
"  --cmdline STR        kernel command line\n"
"  --mem SIZE           guest RAM, e.g. 256M, 1G (default 256M; bare number = MiB)\n"
"  --cpus N             vCPUs (default 1)\n"
"  --hugepages          back guest RAM with 2 MiB hugepages (falls back to THP)\n"
"  --console SPEC       serial console: stdio (default), file:PATH, unix:PATH, none\n"
"  --console-log PATH   also append the console output to PATH\n"
"  --name NAME          VM name for logs and the monitor\n"
"  --reboot ACTION      on guest reboot: exit (default, status 3) or restart\n"
"  --log FILE           also append log lines to FILE (reopened on SIGHUP)\n"
"  --affinity LIST      pin vCPU threads: CPU list like 0,2-3 (one CPU per vCPU\n"
"                       when the list is long enough, else all vCPUs share it)\n"
"  --io-affinity LIST   pin the device I/O threads (and their io_uring workers)\n"
"                       to a CPU list, e.g. the CPUs the vCPUs do not use\n"
"  --priority N         seL4-style priority 0..255 for vCPU threads (nice 19..-20)\n"
"  --dataport NAME,gpa=ADDR,size=SIZE,fd=N|path=FILE\n"
"                       map a shared memory object into the guest (repeatable)\n"
"  --mem-shared         keep guest RAM in a memfd (needed by shared-memory backends)\n"
"  --watchdog ACTION    when the guest's ib700 watchdog (ib700wdt) runs out: reset\n"
"                       (default: restart the VM), poweroff (exit status 6),\n"
"                       restart (exit status 7: the supervisor restarts it), none\n"
"  --watchdog-timeout S countdown in seconds (1-3600) instead of the guest's\n"
"                       choice (the ib700 table ends at 30 s); see docs/operations.md\n"
"\n"
"Devices (virtio-mmio, announced to the guest in ACPI):\n"
"  --disk PATH[,ro][,serial=S][,cache=writeback|none][,discard=on][,coalesce=USEC]\n"
"                       virtio-blk on a raw image (repeatable); PATH null[,size=N]\n"
"                       is a device without storage, for benchmarks; coalesce:\n"
"                       longest interrupt-coalescing window in us (default 200,\n"
"                       0 = off); a busy device holds an interrupt up to 16 windows\n"
"  --disk vhost-user=SOCK[,mem=shared|isolated][,bounce=SIZE][,reconnect=SECONDS]\n"
"                 [,coalesce=USEC]\n"
"                       virtio-blk served by a vhost-user back-end (capvm backend blk,\n"
"                       qemu-storage-daemon); mem=isolated (the default): the\n"
"                       back-end sees only a bounce window (bounce=, default 64M);\n"
"                       mem=shared: all guest RAM (implies --mem-shared);\n"
"                       reconnect: how long to wait for a restarted back-end\n"
"                       (either mode; default 10, 0 = needs-reset at once);\n"
"                       coalesce: the isolated relay's interrupt-coalescing\n"
"                       window in us (--disk: default 200; --net: default 0;\n"
"                       0 = off)\n"
"                       (,irq=N on --disk/--net names the interrupt line)\n"
"  --rng                virtio-rng fed from getrandom()\n"
"  --net tap=NAME[,mac=MAC][,mtu=N]\n"
"                       virtio-net on tap NAME (attached, or created if missing;\n"
"                       needs CAP_NET_ADMIN or a tap owned by you); repeatable\n"
"  --net vhost-user=SOCK[,mem=shared|isolated][,bounce=SIZE]\n"
"                       virtio-net served by a vhost-user back-end (capvm backend\n"
"                       net); memory modes as for --disk vhost-user=\n"
"  --virtio-console SPEC\n"
"                       virtio-console: the guest's hvc0 on stdio, file:PATH,\n"
"                       unix:PATH or none (--console stays the serial port)\n"
"  --monitor ADDR       QEMU-style human monitor on unix:PATH or tcp:127.0.0.1:PORT\n"
"                       (e.g. echo \"info status\" | nc -U PATH); repeatable\n"
"  --qmp ADDR           QMP (JSON) monitor on unix:PATH or tcp:127.0.0.1:PORT\n"
"                       (system_reset restarts the VM; clients reconnect)\n"
"  -q, --quiet          log only warnings and errors\n"
"  -v, --verbose        also log debug details (exit counts per port, ...)\n"
"\n"
"Exit status: 0 guest powered off (or stopped by SIGTERM/SIGINT), 1 error\n"
"(bad input, no usable KVM), 2 usage error, 3 guest rebooted, 4 guest\n"
"panicked (pvpanic), 5 guest crashed (triple fault, KVM internal error),\n"
"6 watchdog fired (--watchdog poweroff), 7 watchdog fired (--watchdog restart).\n");
}

/* "0,2-3" -> list; returns count or -1. */
static int parse_cpu_list(const char *s, int *out, int max)
{
	int n = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	char *copy = strdup(s), *save = NULL;

	if (!copy)
		return -1;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t a, b;
		char *dash = strchr(tok, '-');
		if (dash) {
			*dash = 0;
			if (parse_uint(tok, 0, 4095, &a) || parse_uint(dash + 1, a, 4095, &b))
				goto bad;
		} else {
			if (parse_uint(tok, 0, 4095, &a))
				goto bad;
			b = a;
		}
		for (uint64_t c = a; c <= b; c++) {
			if ((long)c >= ncpu || n >= max)
				goto bad;
			out[n++] = (int)c;
		}
	}
	free(copy);
	return n;
bad:
	free(copy);
	return -1;
}

static int parse_dataport(const char *spec, struct vm_dataport *d, char *err, size_t errlen)
{
	char *copy = strdup(spec), *save = NULL;
	uint64_t v;
	const char *path = NULL;
	int fd = -1;

	if (!copy)
		return -1;
	memset(d, 0, sizeof(*d));
	d->fd = -1;
	char *tok = strtok_r(copy, ",", &save);
	if (!tok || strchr(tok, '=')) {
		snprintf(err, errlen, "--dataport %s: must start with a name", spec);
		goto bad;
	}
	d->name = strdup(tok);
	while ((tok = strtok_r(NULL, ",", &save))) {
		char *eq = strchr(tok, '=');
		if (!eq)
			goto badkey;
		*eq = 0;
		const char *val = eq + 1;
		if (!strcmp(tok, "gpa") && !parse_uint(val, 0, UINT64_MAX, &v))
			d->gpa = v;
		else if (!strcmp(tok, "size") && !parse_size(val, 1, &v))
			d->size = v;
		else if (!strcmp(tok, "fd") && !parse_uint(val, 3, 65535, &v))
			fd = (int)v;
		else if (!strcmp(tok, "path"))
			path = val;
		else
			goto badkey;
	}
	if (!d->size || d->size % 4096 || d->gpa % 4096 || d->gpa < DATAPORT_BASE ||
	    !range_within(d->gpa - DATAPORT_BASE, d->size, DATAPORT_LIMIT - DATAPORT_BASE)) {
		snprintf(err, errlen, "--dataport %s: gpa and size must be page-aligned and lie in "
			 "[0x%llx, 0x%llx)", spec, DATAPORT_BASE, DATAPORT_LIMIT);
		goto bad;
	}
	if (path) {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)d->size) < 0) {
			snprintf(err, errlen, "--dataport %s: cannot open %s: %s", spec, path, strerror(errno));
			goto bad;
		}
	} else if (fd < 0) {
		snprintf(err, errlen, "--dataport %s: needs fd=N or path=FILE", spec);
		goto bad;
	} else {
		struct stat st;
		if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < d->size) {
			snprintf(err, errlen, "--dataport %s: fd %d is not open or smaller than size", spec, fd);
			goto bad;
		}
	}
	d->fd = fd;
	free(copy);
	return 0;
badkey:
	snprintf(err, errlen, "--dataport %s: expected NAME,gpa=ADDR,size=SIZE,fd=N|path=FILE", spec);
bad:
	free(copy);
	return -1;
}

/*
 * What can be said about the kernel, initrd and command line without KVM:
 * is it a kernel we can boot, does the command line fit, could the initrd
 * fit in RAM.  (boot_load() checks the exact placement later.)
 */
static int precheck_images(const struct vm_config *cfg)
{
	void *k = NULL;
	size_t ksize = 0;
	struct stat st;
	int r = read_file(cfg->kernel_path, &k, &ksize);

	if (r < 0) {
		fprintf(stderr, "capvm run: cannot read kernel %s: %s\n", cfg->kernel_path, strerror(-r));
		return -1;
	}
	long max = boot_cmdline_max(k, ksize);
	free(k);
	if (max < 0) {
		fprintf(stderr, "capvm run: %s is not a bzImage or an x86_64 ELF vmlinux\n",
			cfg->kernel_path);
		return -1;
	}
	size_t len = cfg->cmdline ? strlen(cfg->cmdline) : 0;
	if (len > (size_t)max) {
		fprintf(stderr, "capvm run: --cmdline is %zu bytes; this kernel accepts at most %ld\n",
			len, max);
		return -1;
	}
	if (cfg->initrd_path) {
		if (stat(cfg->initrd_path, &st) < 0 || !S_ISREG(st.st_mode)) {
			fprintf(stderr, "capvm run: cannot read initrd %s: %s\n", cfg->initrd_path,
				S_ISDIR(st.st_mode) ? "is a directory" : strerror(errno));
			return -1;
		}
		if ((uint64_t)st.st_size + ksize + 8 * MiB > boot_low_ram_end(cfg->mem_size)) {
			fprintf(stderr, "capvm run: initrd %s (%llu MiB) does not fit in %llu MiB of "
				"guest RAM with the kernel; raise --mem\n", cfg->initrd_path,
				(unsigned long long)st.st_size / MiB,
				(unsigned long long)cfg->mem_size / MiB);
			return -1;
		}
	}
	return 0;
}

enum {
	OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_MEM, OPT_CPUS, OPT_HUGEPAGES, OPT_CONSOLE,
	OPT_NAME, OPT_REBOOT, OPT_LOG, OPT_AFFINITY, OPT_IO_AFFINITY, OPT_PRIORITY, OPT_DATAPORT, OPT_MEM_SHARED,
	OPT_DISK, OPT_RNG, OPT_MONITOR, OPT_QMP, OPT_CONSOLE_LOG,
	OPT_NET, OPT_VCONSOLE, OPT_WATCHDOG, OPT_WATCHDOG_TIMEOUT,
};

static const struct option run_options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "hugepages", no_argument, NULL, OPT_HUGEPAGES },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "console-log", required_argument, NULL, OPT_CONSOLE_LOG },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "reboot", required_argument, NULL, OPT_REBOOT },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "affinity", required_argument, NULL, OPT_AFFINITY },
	{ "io-affinity", required_argument, NULL, OPT_IO_AFFINITY },
	{ "priority", required_argument, NULL, OPT_PRIORITY },
	{ "dataport", required_argument, NULL, OPT_DATAPORT },
	{ "mem-shared", no_argument, NULL, OPT_MEM_SHARED },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "rng", no_argument, NULL, OPT_RNG },
	{ "net", required_argument, NULL, OPT_NET },
	{ "virtio-console", required_argument, NULL, OPT_VCONSOLE },
	{ "monitor", required_argument, NULL, OPT_MONITOR },
	{ "qmp", required_argument, NULL, OPT_QMP },
	{ "watchdog", required_argument, NULL, OPT_WATCHDOG },
	{ "watchdog-timeout", required_argument, NULL, OPT_WATCHDOG_TIMEOUT },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "capvm run: ");
	fprintf(stderr, "%s", fmt);
	if (arg)
		fprintf(stderr, " '%s'", arg);
	fprintf(stderr, " (see capvm run --help)\n");
	return VM_EXIT_USAGE;
}

int cmd_run(int argc, char **argv)
{
	struct vm_config cfg = { .mem_size = 256 * MiB, .nr_cpus = 1, .priority = -1 };
	static struct run_devices devs;
	static struct run_monitor mon;
	const char *console_spec = "stdio", *log_path = NULL, *console_log = NULL;
	bool restart_on_reboot = false;
	char err[512] = "";
	uint64_t v;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "qvh", run_options, NULL)) != -1) {
		switch (opt) {
		case OPT_KERNEL: cfg.kernel_path = optarg; break;
		case OPT_INITRD: cfg.initrd_path = optarg; break;
		case OPT_CMDLINE: cfg.cmdline = optarg; break;
		case OPT_MEM:
			if (parse_size(optarg, MiB, &v) || v < 16 * MiB || v > 1024 * GiB || v % (2 * MiB)) {
				fprintf(stderr, "capvm run: --mem %s: expected a size from 16M to 1024G, "
					"a multiple of 2M\n", optarg);
				return VM_EXIT_ERROR;
			}
			cfg.mem_size = v;
			break;
		case OPT_CPUS:
			if (parse_uint(optarg, 1, VM_MAX_CPUS, &v)) {
				fprintf(stderr, "capvm run: --cpus %s: expected a number from 1 to %d\n",
					optarg, VM_MAX_CPUS);
				return VM_EXIT_ERROR;
			}
			cfg.nr_cpus = (int)v;
			break;
		case OPT_HUGEPAGES: cfg.hugepages = true; break;
		case OPT_CONSOLE: console_spec = optarg; break;
		case OPT_CONSOLE_LOG: console_log = optarg; break;
		case OPT_NAME: cfg.name = optarg; break;
		case OPT_REBOOT:
			if (!strcmp(optarg, "restart"))
				restart_on_reboot = true;
			else if (strcmp(optarg, "exit"))
				return usage_error("--reboot takes exit or restart, not", optarg);
			break;
		case OPT_LOG: log_path = optarg; break;
		case OPT_AFFINITY:
			cfg.nr_affinity = parse_cpu_list(optarg, cfg.affinity, VM_MAX_CPUS);
			if (cfg.nr_affinity <= 0) {
				fprintf(stderr, "capvm run: --affinity %s: expected CPUs of this host "
					"(0-%ld), like 0,2-3\n", optarg, sysconf(_SC_NPROCESSORS_CONF) - 1);
				return VM_EXIT_ERROR;
			}
			break;
		case OPT_IO_AFFINITY: {
			int cpus[VM_MAX_CPUS], n = parse_cpu_list(optarg, cpus, VM_MAX_CPUS);
			if (n <= 0) {
				fprintf(stderr, "capvm run: --io-affinity %s: expected CPUs of this host "
					"(0-%ld), like 0,2-3\n", optarg, sysconf(_SC_NPROCESSORS_CONF) - 1);
				return VM_EXIT_ERROR;
			}
			iothread_set_affinity(cpus, n);
			break;
		}
		case OPT_PRIORITY:
			if (parse_uint(optarg, 0, 255, &v)) {
				fprintf(stderr, "capvm run: --priority %s: expected 0..255\n", optarg);
				return VM_EXIT_ERROR;
			}
			cfg.priority = (int)v;
			break;
		case OPT_DATAPORT:
			if (cfg.nr_dataports >= VM_MAX_DATAPORTS) {
				fprintf(stderr, "capvm run: at most %d dataports\n", VM_MAX_DATAPORTS);
				return VM_EXIT_ERROR;
			}
			if (parse_dataport(optarg, &cfg.dataports[cfg.nr_dataports], err, sizeof(err))) {
				fprintf(stderr, "capvm run: %s\n", err);
				return VM_EXIT_ERROR;
			}
			cfg.nr_dataports++;
			break;
		case OPT_MEM_SHARED: cfg.mem_shared = true; break;
		case OPT_DISK:
			if (run_devices_parse_disk(&devs, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "capvm run: --disk %s: %s\n", optarg, err);
				return VM_EXIT_ERROR;
			}
			break;
		case OPT_RNG: devs.rng = true; break;
		case OPT_NET:
		case OPT_VCONSOLE:
			if ((opt == OPT_NET ? run_devices_parse_net : run_devices_parse_vconsole)
			    (&devs, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "capvm run: --%s %s: %s\n",
					opt == OPT_NET ? "net" : "virtio-console", optarg, err);
				return VM_EXIT_ERROR;
			}
			break;
		case OPT_MONITOR:
		case OPT_QMP:
			if (run_monitor_add_address(&mon, optarg, opt == OPT_QMP) < 0) {
				fprintf(stderr, "capvm run: at most 4 monitor addresses\n");
				return VM_EXIT_ERROR;
			}
			break;
		case OPT_WATCHDOG:
			if (watchdog_parse_action(optarg) < 0)
				return usage_error("--watchdog takes reset, poweroff, restart or none, not",
						   optarg);
			cfg.watchdog_action = watchdog_parse_action(optarg);
			break;
		case OPT_WATCHDOG_TIMEOUT:
			if (parse_uint(optarg, 1, WATCHDOG_MAX_TIMEOUT_S, &v)) {
				fprintf(stderr, "capvm run: --watchdog-timeout %s: expected seconds "
					"from 1 to %d\n", optarg, WATCHDOG_MAX_TIMEOUT_S);
				return VM_EXIT_ERROR;
			}
			cfg.watchdog_timeout_s = (unsigned)v;
			break;
		case 'q': log_set_level(LOG_WARN); break;
		case 'v': log_set_level(LOG_DEBUG); break;
		case 'h': run_usage(stdout); return 0;
		default: return usage_error("bad option", NULL);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument", argv[optind]);
	if (!cfg.kernel_path)
		return usage_error("--kernel is required", NULL);
	if (run_devices_need_shared_ram(&devs))
		cfg.mem_shared = true;  /* a vhost-user back-end maps guest RAM */

	log_set_vm(cfg.name ? cfg.name : "vm");
	if (log_path && log_set_file(log_path) < 0) {
		fprintf(stderr, "capvm run: cannot open log file %s: %s\n", log_path, strerror(errno));
		return VM_EXIT_ERROR;
	}
	/* Cheap checks first, so bad input never gets as far as KVM. */
	if (access(cfg.kernel_path, R_OK) < 0) {
		fprintf(stderr, "capvm run: cannot read kernel %s: %s\n", cfg.kernel_path, strerror(errno));
		return VM_EXIT_ERROR;
	}
	if (cfg.initrd_path && access(cfg.initrd_path, R_OK) < 0) {
		fprintf(stderr, "capvm run: cannot read initrd %s: %s\n", cfg.initrd_path, strerror(errno));
		return VM_EXIT_ERROR;
	}

	if (precheck_images(&cfg) < 0)
		return VM_EXIT_ERROR;

	cfg.console = chardev_open(console_spec, err, sizeof(err));
	if (!cfg.console) {
		fprintf(stderr, "capvm run: %s\n", err);
		return VM_EXIT_ERROR;
	}
	if (console_log && chardev_set_log(cfg.console, console_log) < 0) {
		fprintf(stderr, "capvm run: cannot open console log %s: %s\n", console_log,
			strerror(errno));
		chardev_close(cfg.console);
		return VM_EXIT_ERROR;
	}
	struct vm *vm = vm_create(&cfg, err, sizeof(err));
	if (!vm) {
		fprintf(stderr, "capvm run: %s\n", err);
		chardev_close(cfg.console);
		return VM_EXIT_ERROR;
	}
	int status;
	if (run_devices_create(&devs, vm, err, sizeof(err)) < 0 ||
	    run_devices_start(&devs, err, sizeof(err)) < 0 ||
	    run_monitor_start(&mon, vm, &devs, cfg.name, err, sizeof(err)) < 0)
		status = VM_EXIT_ERROR;
	else
		status = vm_boot_and_run(vm, err, sizeof(err));
	if (status == VM_EXIT_ERROR && err[0])
		fprintf(stderr, "capvm run: %s\n", err);
	bool watchdog_reset = vm_watchdog_reset(vm);
	run_monitor_finish(&mon, status);
	run_devices_destroy(&devs);
	vm_destroy(vm);
	chardev_close(cfg.console);
	if (status == VM_EXIT_REBOOT && (restart_on_reboot || mon.reset_requested || watchdog_reset)) {
		log_info("vm", watchdog_reset ? "watchdog fired: restarting (--watchdog reset)"
					      : "guest rebooted: restarting (--reboot=restart)");
		execv("/proc/self/exe", argv - 1);
		log_error("vm", "cannot restart: %s", strerror(errno));
		return VM_EXIT_ERROR;
	}
	return status;
}
