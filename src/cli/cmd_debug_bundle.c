/*
 * `capvm debug-bundle [DEST]`: collects what a maintainer needs to look at
 * a capvm host -- host and kernel facts, KVM and cgroup state, capvm's
 * version and build flags, each supervisor's status and system
 * description and `capvm health` (with its Prometheus metrics), each VM's
 * monitor `info` output (status, cpus, block, counters) and the tails of its logs and console -- into one
 * tar.gz (docs/operations.md, "debug bundle").
 *
 * It only ever copies named text sources (proc files, command output,
 * the tails of log files); it never opens guest memory or disk images, so
 * no guest data beyond what the guest printed on its console ends up in
 * the bundle.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "common/util.h"
#include "ops/vmref.h"
#include "system/supervisor.h"

#define PFX "capvm debug-bundle: "
#define TAIL_READ_MAX (4u << 20)   /* read at most the last 4 MiB of a log */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: capvm debug-bundle [--control PATH] [--lines N] [--description FILE]... [DEST]\n\n"
		"Writes DEST (default ./capvm-debug-HOST-TIME.tar.gz): host and kernel info,\n"
		"KVM and cgroup state, capvm version, every supervisor's status and system\n"
		"description, each running VM's monitor info (status, cpus, block, counters),\n"
		"the last N (default 200) lines of its logs and console.  Never guest memory\n"
		"or disk images.\n");
}

/* out = a "/" b; returns -1 (and an empty out) when it does not fit. */
static int path_join(char *out, size_t size, const char *a, const char *b)
{
	int n = snprintf(out, size, "%s/%s", a, b);
	if (n < 0 || (size_t)n >= size) {
		out[0] = 0;
		return -1;
	}
	return 0;
}

static FILE *open_out(const char *dir, const char *name)
{
	char p[PATH_MAX];
	return path_join(p, sizeof(p), dir, name) < 0 ? NULL : fopen(p, "w");
}

/* Copies a (small, text) file as is; a missing one is noted. */
static void copy_text(const char *dir, const char *name, const char *src)
{
	FILE *out = open_out(dir, name);
	void *buf;
	size_t len;

	if (!out)
		return;
	if (ops_read_all(src, 16u << 20, &buf, &len) == 0) {
		fwrite(buf, 1, len, out);
		free(buf);
	} else {
		fprintf(out, "(cannot read %s: %s)\n", src, strerror(errno));
	}
	fclose(out);
}

/* The last `lines` lines of src into dir/name. */
static void copy_tail(const char *dir, const char *name, const char *src, unsigned lines)
{
	int fd = open(src, O_RDONLY | O_CLOEXEC);
	FILE *out;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return;
	}
	out = open_out(dir, name);
	if (!out) {
		close(fd);
		return;
	}
	len = st.st_size > (off_t)TAIL_READ_MAX ? TAIL_READ_MAX : (size_t)st.st_size;
	buf = malloc(len + 1);
	if (buf && pread(fd, buf, len, st.st_size - (off_t)len) == (ssize_t)len) {
		size_t start = len;
		unsigned n = 0;
		/* walk back over `lines` newlines (a final newline does not count) */
		while (start > 0) {
			if (buf[start - 1] == '\n' && start != len && ++n >= lines)
				break;
			start--;
		}
		fprintf(out, "==> last %u lines of %s <==\n", lines, src);
		fwrite(buf + start, 1, len - start, out);
	}
	free(buf);
	close(fd);
	fclose(out);
}

static void host_info(const char *dir)
{
	struct utsname u;
	FILE *f = open_out(dir, "uname.txt");
	void *buf;
	size_t len;

	if (f && uname(&u) == 0)
		fprintf(f, "%s %s %s %s %s\n", u.sysname, u.nodename, u.release, u.version, u.machine);
	if (f)
		fclose(f);
	copy_text(dir, "kernel-cmdline.txt", "/proc/cmdline");
	copy_text(dir, "os-release.txt", "/etc/os-release");
	copy_text(dir, "meminfo.txt", "/proc/meminfo");
	copy_text(dir, "loadavg.txt", "/proc/loadavg");
	/* cpuinfo: count and the first CPU's block (all CPUs are alike) */
	f = open_out(dir, "cpuinfo.txt");
	if (f && ops_read_all("/proc/cpuinfo", 16u << 20, &buf, &len) == 0) {
		char *text = buf, *end = memmem(text, len, "\n\n", 2);
		int n = 0;
		for (char *p = text; (p = memmem(p, len - (size_t)(p - text), "processor\t", 10)); p++)
			n++;
		fprintf(f, "cpus: %d\n", n);
		fwrite(text, 1, end ? (size_t)(end - text) + 1 : len, f);
		free(buf);
	}
	if (f)
		fclose(f);
	/* KVM: the device, its modules and their parameters */
	f = open_out(dir, "kvm.txt");
	if (f) {
		struct stat st;
		fprintf(f, "/dev/kvm: %s\n", stat("/dev/kvm", &st) == 0 ? "present" : strerror(errno));
		if (ops_read_all("/proc/modules", 16u << 20, &buf, &len) == 0) {
			for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
				if (!strncmp(l, "kvm", 3) || strstr(l, "irqbypass"))
					fprintf(f, "module: %s\n", l);
			free(buf);
		}
		static const char *const mods[] = { "kvm", "kvm_intel", "kvm_amd" };
		for (size_t m = 0; m < 3; m++) {
			char p[128];
			DIR *d;
			struct dirent *e;
			snprintf(p, sizeof(p), "/sys/module/%s/parameters", mods[m]);
			d = opendir(p);
			while (d && (e = readdir(d))) {
				char fp[PATH_MAX], val[128] = "";
				FILE *pf;
				if (e->d_name[0] == '.')
					continue;
				snprintf(fp, sizeof(fp), "%s/%s", p, e->d_name);
				pf = fopen(fp, "r");
				if (pf && fgets(val, sizeof(val), pf))
					val[strcspn(val, "\n")] = 0;
				if (pf)
					fclose(pf);
				fprintf(f, "%s.%s = %s\n", mods[m], e->d_name, val);
			}
			if (d)
				closedir(d);
		}
		fclose(f);
	}
	/* cgroups: the mounts, our cgroup, the v2 controllers */
	f = open_out(dir, "cgroup.txt");
	if (f) {
		if (ops_read_all("/proc/mounts", 16u << 20, &buf, &len) == 0) {
			for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
				if (strstr(l, "cgroup"))
					fprintf(f, "mount: %s\n", l);
			free(buf);
		}
		fclose(f);
	}
	copy_text(dir, "cgroup-self.txt", "/proc/self/cgroup");
	copy_text(dir, "cgroup2-controllers.txt", "/sys/fs/cgroup/cgroup.controllers");
}

/* The supervisor's arguments: its description files and --log file. */
static void supervisor_files(int sup_pid, const char *dir, unsigned lines)
{
	char p[64], cwd[PATH_MAX] = "";
	void *raw;
	size_t len;
	ssize_t cl;
	bool after_up = false;
	int nd = 0;

	snprintf(p, sizeof(p), "/proc/%d/cwd", sup_pid);
	cl = readlink(p, cwd, sizeof(cwd) - 1);
	cwd[cl > 0 ? cl : 0] = 0;
	snprintf(p, sizeof(p), "/proc/%d/cmdline", sup_pid);
	if (ops_read_all(p, 16u << 20, &raw, &len) < 0)
		return;
	copy_text(dir, "supervisor-cmdline.txt", p);
	for (size_t i = 0; i < len;) {
		char *arg = (char *)raw + i, *next = NULL;
		size_t al = strnlen(arg, len - i);
		i += al + 1;
		if (i < len)
			next = (char *)raw + i;
		if (!strcmp(arg, "up")) {
			after_up = true;
		} else if (after_up && (!strcmp(arg, "--log") || !strcmp(arg, "--control") ||
					!strcmp(arg, "--stop-timeout")) && next) {
			if (!strcmp(arg, "--log")) {
				char fp[PATH_MAX];
				snprintf(fp, sizeof(fp), "%s%s%s", next[0] == '/' ? "" : cwd,
					 next[0] == '/' ? "" : "/", next);
				copy_tail(dir, "supervisor.log", fp, lines);
			}
			i += strnlen(next, len - i) + 1;
		} else if (after_up && arg[0] != '-') {
			char fp[PATH_MAX], name[64];
			snprintf(fp, sizeof(fp), "%s%s%s", arg[0] == '/' ? "" : cwd,
				 arg[0] == '/' ? "" : "/", arg);
			snprintf(name, sizeof(name), "description-%d.camkes", nd++);
			copy_text(dir, name, fp);
		}
	}
	free(raw);
}

static int parent_pid(int pid)
{
	char p[64], *buf;
	void *raw;
	size_t len;
	int ppid = 0;

	snprintf(p, sizeof(p), "/proc/%d/stat", pid);
	if (ops_read_all(p, 16u << 20, &raw, &len) < 0)
		return 0;
	buf = raw;
	/* "pid (comm) state ppid": comm may hold spaces and parentheses */
	char *close_paren = memrchr(buf, ')', len);
	if (close_paren)
		sscanf(close_paren + 1, " %*c %d", &ppid);
	free(buf);
	return ppid;
}

static void vm_info(struct ops_vm *vm, const char *dir, unsigned lines)
{
	static const char *const infos[] = { "info status", "info name", "info version", "info cpus",
					     "info block", "info network", "info counters" };
	char p[64];

	snprintf(p, sizeof(p), "/proc/%d/cmdline", vm->pid);
	{
		/* the VMM's arguments, NULs made spaces */
		void *raw;
		size_t len;
		FILE *f = open_out(dir, "vmm-cmdline.txt");
		if (f && ops_read_all(p, 16u << 20, &raw, &len) == 0) {
			for (size_t i = 0; i < len; i++)
				fputc(((char *)raw)[i] ? ((char *)raw)[i] : ' ', f);
			fputc('\n', f);
			free(raw);
		}
		if (f)
			fclose(f);
	}
	if (vm->monitor) {
		FILE *f = open_out(dir, "monitor.txt");
		for (size_t i = 0; f && i < sizeof(infos) / sizeof(infos[0]); i++) {
			int err = 0;
			char *out = ops_monitor_hmp(vm->monitor, vm->monitor_qmp, infos[i], 5000, &err);
			fprintf(f, "(qemu) %s\n%s\n", infos[i], out ? out : strerror(-err));
			if (!strcmp(infos[i], "info counters") && out) {
				FILE *m = open_out(dir, "metrics.txt");
				if (m) {
					fputs(out, m);
					fclose(m);
				}
			}
			free(out);
		}
		if (f)
			fclose(f);
	}
	if (vm->log)
		copy_tail(dir, "vm.log", vm->log, lines);
	if (vm->console_file)
		copy_tail(dir, "console.log", vm->console_file, lines);
	if (vm->console_log)
		copy_tail(dir, "console-log.log", vm->console_log, lines);
}

/* Runs `capvm health --control SOCK --prometheus -` (this same binary) into
 * dir/health.txt: the health table and the Prometheus metrics.  Killed
 * after 30 s so that a stuck monitor cannot hang the bundle. */
static void health_out(const char *dir, const char *control)
{
	char p[PATH_MAX];
	pid_t pid;
	int st;

	if (path_join(p, sizeof(p), dir, "health.txt") < 0)
		return;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		execl("/proc/self/exe", "capvm", "health", "--control", control, "--prometheus", "-",
		      (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return;
	for (int i = 0; i < 300; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return;
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* Each supervisor: status, description, its log; each VM: info, logs. */
static void systems_info(const char *control, const char *root, unsigned lines)
{
	char **socks = ops_control_sockets(control);
	int ns = 0;

	for (char **s = socks; s && *s; s++, ns++) {
		char sdir[PATH_MAX], sname[128], *c = strdup(*s);
		FILE *f;
		int err = 0;
		char *js;
		int sup_pid = 0;

		snprintf(sname, sizeof(sname), "%s", c ? basename(c) : "system");
		free(c);
		if (strlen(sname) > 5 && !strcmp(sname + strlen(sname) - 5, ".sock"))
			sname[strlen(sname) - 5] = 0;
		char sub[160];
		snprintf(sub, sizeof(sub), "system-%s", sname);
		if (path_join(sdir, sizeof(sdir), root, sub) < 0)
			continue;
		mkdir(sdir, 0700);
		f = open_out(sdir, "status.txt");
		if (f) {
			if (sup_request(*s, "status", f) < 0)
				fprintf(f, "(no supervisor answers at %s)\n", *s);
			fclose(f);
		}
		js = ops_status_json(*s, &err);
		if (!js)
			continue;
		health_out(sdir, *s);
		f = open_out(sdir, "status.json");
		if (f) {
			fputs(js, f);
			fclose(f);
		}
		/* each running VM by name (the JSON has names in quotes after "name":) */
		for (char *p = js; (p = strstr(p, "\"name\":\"")); ) {
			char name[128], vdir[PATH_MAX], e[768];
			struct ops_vm vm;
			size_t nl;
			p += 8;
			nl = strcspn(p, "\"");
			if (nl == 0 || nl >= sizeof(name) || memchr(p, '/', nl))
				continue;
			memcpy(name, p, nl);
			name[nl] = 0;
			char sub2[160];
			snprintf(sub2, sizeof(sub2), "vm-%s", name);
			if (path_join(vdir, sizeof(vdir), sdir, sub2) < 0)
				continue;
			mkdir(vdir, 0700);
			if (ops_find_vm(*s, name, &vm, e, sizeof(e)) < 0) {
				FILE *nf = open_out(vdir, "not-running.txt");
				if (nf) {
					fprintf(nf, "%s\n", e);
					fclose(nf);
				}
				ops_vm_free(&vm);
				continue;
			}
			if (!sup_pid)
				sup_pid = parent_pid(vm.pid);
			vm_info(&vm, vdir, lines);
			ops_vm_free(&vm);
		}
		free(js);
		if (sup_pid > 1)
			supervisor_files(sup_pid, sdir, lines);
	}
	ops_free_list(socks);
	if (ns == 0) {
		FILE *f = open_out(root, "no-supervisor.txt");
		if (f) {
			fprintf(f, "no supervisor control socket found%s%s\n", control ? " at " : "",
				control ? control : "");
			fclose(f);
		}
	}
}

int cmd_debug_bundle(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "control", required_argument, NULL, 'c' },
		{ "lines", required_argument, NULL, 'n' },
		{ "description", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *control = NULL, *descs[16];
	int n_descs = 0, c, fd;
	unsigned lines = 200;
	uint64_t v;
	char dest[PATH_MAX], partial[PATH_MAX + 16], tmp[] = "/tmp/capvm-debug.XXXXXX";
	char top[96], root[PATH_MAX], host[64] = "host";
	time_t now = time(NULL);
	struct tm tm;

	optind = 1;
	while ((c = getopt_long(argc, argv, "hn:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': control = optarg; break;
		case 'n':
			if (parse_uint(optarg, 1, 1000000, &v) < 0) {
				fprintf(stderr, PFX "bad --lines '%s'\n", optarg);
				return 2;
			}
			lines = (unsigned)v;
			break;
		case 'd':
			if (n_descs == 16) {
				fprintf(stderr, PFX "at most 16 --description\n");
				return 2;
			}
			descs[n_descs++] = optarg;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind > 1) {
		usage(stderr);
		return 2;
	}
	gethostname(host, sizeof(host) - 1);
	gmtime_r(&now, &tm);
	snprintf(top, sizeof(top), "capvm-debug-%.40s-%04d%02d%02dT%02d%02d%02dZ", host,
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (optind < argc)
		snprintf(dest, sizeof(dest), "%s", argv[optind]);
	else
		snprintf(dest, sizeof(dest), "%s.tar.gz", top);
	/* DEST must be writable before we collect anything */
	snprintf(partial, sizeof(partial), "%s.partial", dest);
	fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, PFX "cannot write %s: %s\n", dest, strerror(errno));
		return 1;
	}
	close(fd);
	if (!mkdtemp(tmp)) {
		fprintf(stderr, PFX "cannot create a scratch directory: %s\n", strerror(errno));
		unlink(partial);
		return 1;
	}
	path_join(root, sizeof(root), tmp, top);
	mkdir(root, 0700);
	{
		char hdir[PATH_MAX];
		path_join(hdir, sizeof(hdir), root, "host");
		mkdir(hdir, 0700);
		host_info(hdir);
	}
	{
		FILE *f = open_out(root, "capvm-version.txt");
		char self[PATH_MAX];
		ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
		self[l > 0 ? l : 0] = 0;
		if (f) {
			fprintf(f, "capvm %s (cflags: %s)\nbinary: %s\n", CAPVM_VERSION, CAPVM_CFLAGS, self);
			fclose(f);
		}
	}
	for (int i = 0; i < n_descs; i++) {
		char name[64];
		snprintf(name, sizeof(name), "description-arg-%d.camkes", i);
		copy_text(root, name, descs[i]);
	}
	systems_info(control, root, lines);

	char *tar_argv[] = { "tar", "-czf", partial, "-C", tmp, top, NULL };
	char *rm_argv[] = { "rm", "-rf", "--one-file-system", tmp, NULL };
	pid_t pid = fork();
	int st = -1;
	if (pid == 0) {
		execvp(tar_argv[0], tar_argv);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	pid = fork();
	if (pid == 0) {
		execvp(rm_argv[0], rm_argv);
		_exit(127);
	}
	if (pid > 0)
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	if (!WIFEXITED(st) || WEXITSTATUS(st) || rename(partial, dest) < 0) {
		fprintf(stderr, PFX "writing %s failed (tar status %d)\n", dest, st);
		unlink(partial);
		return 1;
	}
	printf("%s\n", dest);
	return 0;
}
