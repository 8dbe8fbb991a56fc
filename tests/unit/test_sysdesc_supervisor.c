/*
 * Tests of the supervisor (src/system/supervisor.c) without KVM: a small
 * shell script stands in for `capvm run` (it records each start and
 * behaves by VM name: crash* exits 3, stubborn* ignores SIGTERM, others run
 * until SIGTERM).  Checked: restart policy with delay and burst limit, the
 * status reply, CPU pinning and priorities seen from /proc and
 * getpriority/sched_getscheduler, dataport fds only in the VMs named on the
 * connection, the memory cgroup, `down` with SIGKILL after the timeout,
 * SIGTERM to the supervisor, SIGKILL of the supervisor taking its VMs
 * along, SIGHUP reopening the log.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "system/sched.h"
#include "system/supervisor.h"
#include "system/sysdesc.h"
#include "unit/test.h"

static char dir[64];
static char script[128], control[128], logpath[128];

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static int setup_dir(void)
{
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/capvm-suptest.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(script, sizeof(script), "%s/vmm.sh", dir);
	snprintf(control, sizeof(control), "%s/ctl.sock", dir);
	snprintf(logpath, sizeof(logpath), "%s/sup.log", dir);
	f = fopen(script, "w");
	if (!f)
		return -1;
	fprintf(f,
		"#!/bin/sh\n"
		"# stand-in for capvm run\n"
		"name=; prev=\n"
		"for a in \"$@\"; do [ \"$prev\" = --name ] && name=$a; prev=$a; done\n"
		"echo \"$$ $*\" >> %s/starts.$name\n"
		"case $name in\n"
		"crash*) sleep 0.1; exit 3;;\n"
		"stubborn*) trap '' TERM HUP; while :; do sleep 0.1; done;;\n"
		"*) trap 'echo \"$$ TERM\" >> %s/term.'$name'; exit 0' TERM\n"
		"   trap 'echo \"$$ HUP\" >> %s/hup.'$name HUP\n"
		"   while :; do sleep 0.1; done;;\n"
		"esac\n", dir, dir, dir);
	fclose(f);
	return chmod(script, 0755);
}

static void cleanup_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
	closedir(d);
	rmdir(dir);
}

/* Parses text into sys (host checks off). */
static int make_system(const char *name, const char *text, struct sd_doc *doc,
		       struct sd_system *sys)
{
	struct sd_host h;
	struct sd_diags diags = { 0 };
	int r;

	sd_host_probe(&h);
	h.check_files = false;
	memset(doc, 0, sizeof(*doc));
	r = sd_parse_buffer(doc, name, dir, text, strlen(text), &diags);
	if (r == 0)
		r = sd_validate(doc, &h, sys, &diags);
	if (r < 0)
		sd_diag_print(&diags, stdout);
	sd_diag_free(&diags);
	return r;
}

/* Runs the supervisor in a child process. */
static pid_t start_supervisor(const struct sd_system *sys, unsigned stop_timeout_ms)
{
	pid_t pid;

	unlink(logpath);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct sup_options o = {
			.control_path = control, .log_path = logpath, .vmm_path = script,
			.stop_timeout_ms = stop_timeout_ms,
		};
		log_set_quiet(1);
		_exit(supervisor_run(sys, &o));
	}
	/* wait for its control socket */
	for (int i = 0; i < 100; i++) {
		struct stat st;
		if (stat(control, &st) == 0)
			break;
		sleep_ms(50);
	}
	return pid;
}

/* Reply of the supervisor to request, in buf. */
static int ask(const char *request, char *buf, size_t len)
{
	FILE *f = fmemopen(buf, len, "w");
	int r;

	if (!f)
		return -1;
	r = sup_request(control, request, f);
	fclose(f);
	buf[len - 1] = 0;
	return r;
}

/* Whole file as a string (works for /proc files, whose size reads as 0). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *s = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			char *p = realloc(s, cap = len + 8192);
			if (!p) {
				free(s);
				fclose(f);
				return NULL;
			}
			s = p;
		}
		n = fread(s + len, 1, 4096, f);
		len += n;
	} while (n > 0);
	fclose(f);
	s[len] = 0;
	return s;
}

static int count_lines(const char *path)
{
	char *s = slurp(path);
	int n = 0;

	if (!s)
		return 0;
	for (char *p = s; *p; p++)
		n += *p == '\n';
	free(s);
	return n;
}

/* PID of the latest start of VM name (0 if none). */
static pid_t vm_pid(const char *name)
{
	char path[256], *s, *last;
	pid_t pid = 0;

	snprintf(path, sizeof(path), "%s/starts.%s", dir, name);
	s = slurp(path);
	if (!s)
		return 0;
	last = s;
	for (char *p = s; *p; p++)
		if (*p == '\n' && p[1])
			last = p + 1;
	pid = (pid_t)atoi(last);
	free(s);
	return pid;
}

static bool alive(pid_t pid)
{
	char path[64], st[512], *p;
	FILE *f;
	size_t n;

	if (pid <= 0 || kill(pid, 0) < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(st, 1, sizeof(st) - 1, f);
	fclose(f);
	st[n] = 0;
	p = strrchr(st, ')');
	return p && p[2] != 'Z';   /* a zombie has exited */
}

static bool has_fd_to(pid_t pid, const char *target)
{
	char path[64], link[256], full[384];
	DIR *d;
	struct dirent *e;
	bool found = false;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return false;
	while ((e = readdir(d))) {
		ssize_t n;
		snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
		n = readlink(full, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = 0;
			if (strstr(link, target))
				found = true;
		}
	}
	closedir(d);
	return found;
}

static bool log_has(const char *needle)
{
	char *s = slurp(logpath);
	bool r = s && strstr(s, needle);
	free(s);
	return r;
}

static int wait_exit(pid_t pid, int timeout_ms)
{
	int status;
	for (int t = 0; t < timeout_ms; t += 20) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		sleep_ms(20);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* ---- the main scenario: one system, several checks ---- */

#define MAIN_SYSTEM_FMT \
	"assembly {\n" \
	" composition {\n" \
	"  component VM good;\n" \
	"  component VM low;\n" \
	"  component VM other;\n" \
	"  component VM crash;\n" \
	"  component VM stubborn;\n" \
	"  connection seL4SharedData d(from good.x, to low.x);\n" \
	" }\n" \
	" configuration {\n" \
	"  good.kernel = \"/k\"; low.kernel = \"/k\"; other.kernel = \"/k\";\n" \
	"  crash.kernel = \"/k\"; stubborn.kernel = \"/k\";\n" \
	"  good.ram = 64M; low.ram = 64M; other.ram = 64M; crash.ram = 64M; stubborn.ram = 64M;\n" \
	"  good.console = \"none\"; low.console = \"none\"; other.console = \"none\";\n" \
	"  crash.console = \"none\"; stubborn.console = \"none\";\n" \
	"  d.size = 64K;\n" \
	"  good._affinity = 0; good._priority = 200;\n" \
	"  low._priority = 50; low.restart = \"always\"; low.restart_delay = 50ms;\n" \
	"  other._priority = 10; other.realtime = true;\n" \
	"  good.simple_untyped24_pool = 7;\n" \
	"  crash.restart = \"on-failure\"; crash.restart_delay = 100ms;\n" \
	"  crash.restart_burst = 3; crash.restart_interval = 10s;\n" \
	"  good.monitor = \"unix:%s/good.mon\"; low.monitor = \"unix:%s/low.mon,mode=qmp\";\n" \
	" }\n" \
	"}\n"
static int good_mon = -1, low_mon = -1;

/* A listening socket standing in for a VM's monitor: the supervisor's
 * connection waits in the backlog until the test accepts it. */
static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* What the supervisor sent to a monitor (first connection). */
static void monitor_received(int lfd, char *buf, size_t len)
{
	int fd;
	ssize_t n;

	buf[0] = 0;
	fcntl(lfd, F_SETFL, O_NONBLOCK);
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
}

static struct sd_doc mdoc;
static struct sd_system msys;
static pid_t msup;
static bool main_ok;

TEST(supervisor_starts_all)
{
	char buf[4096], text[4096], path[128];

	snprintf(text, sizeof(text), MAIN_SYSTEM_FMT, dir, dir);
	snprintf(path, sizeof(path), "%s/good.mon", dir);
	good_mon = listen_unix(path);
	snprintf(path, sizeof(path), "%s/low.mon", dir);
	low_mon = listen_unix(path);
	CHECK(good_mon >= 0 && low_mon >= 0);
	if (make_system("main.camkes", text, &mdoc, &msys) < 0)
		SKIP("test description did not validate");
	msup = start_supervisor(&msys, 3000);
	for (int i = 0; i < 100 && !(vm_pid("good") && vm_pid("low") && vm_pid("other") &&
				     vm_pid("stubborn")); i++)
		sleep_ms(50);
	CHECK(vm_pid("good") > 0);
	CHECK(vm_pid("low") > 0);
	CHECK(vm_pid("other") > 0);
	CHECK(vm_pid("stubborn") > 0);
	CHECK(ask("status", buf, sizeof(buf)) == 0);
	CHECK(strstr(buf, "NAME") && strstr(buf, "RESTARTS"));
	main_ok = !test_case_failed;
}

TEST(restart_policy_and_burst_limit)
{
	char path[256], buf[4096];

	if (!main_ok)
		SKIP("supervisor did not start");
	/* crash exits 3 after 0.1 s; restarted after 100 ms; 3 starts in 10 s is the limit */
	for (int i = 0; i < 100 && !log_has("giving up"); i++)
		sleep_ms(50);
	snprintf(path, sizeof(path), "%s/starts.crash", dir);
	CHECK_EQ(count_lines(path), 3);
	CHECK(log_has("crash supervisor: exited with status 3; restarting in 100ms (restart 1, "
		      "policy on-failure)"));
	CHECK(log_has("restart 2, policy on-failure"));
	CHECK(log_has("crash supervisor: exited with status 3; started 3 times within 10000ms "
		      "(restart_burst): giving up"));
	sleep_ms(300);
	CHECK_EQ(count_lines(path), 3);   /* and no more */
	CHECK(ask("status", buf, sizeof(buf)) == 0);
	{
		char *line = strstr(buf, "\ncrash ");
		CHECK(line && strstr(line, "failed") && strstr(line, " 2 ") &&
		      strstr(line, "exited with status 3"));
	}
}

TEST(status_lists_vms)
{
	char buf[4096], want[64];
	char *line;

	if (!main_ok)
		SKIP("supervisor did not start");
	CHECK(ask("status", buf, sizeof(buf)) == 0);
	line = strstr(buf, "\ngood ");
	snprintf(want, sizeof(want), " %d ", (int)vm_pid("good"));
	CHECK(line && strstr(line, "running") && strstr(line, want) && strstr(line, "0:00:"));
	CHECK(ask("status json", buf, sizeof(buf)) == 0);
	CHECK(strstr(buf, "\"name\":\"good\",\"kind\":\"VM\",\"state\":\"running\"") != NULL);
	CHECK(ask("bogus", buf, sizeof(buf)) == 0);
	CHECK(strstr(buf, "error: unknown request") != NULL);
}

TEST(pinning_and_priorities_observable)
{
	pid_t good = vm_pid("good"), low = vm_pid("low"), other = vm_pid("other");
	char path[64], *s;
	struct sched_param sp;

	if (!main_ok)
		SKIP("supervisor did not start");
	if (geteuid() != 0)
		SKIP("needs root for negative nice values and SCHED_FIFO");
	snprintf(path, sizeof(path), "/proc/%d/status", (int)good);
	s = slurp(path);
	if (!s || !strstr(s, "Cpus_allowed_list:\t0\n"))
		printf("  %s:\n%s\n", path, s ? s : "(unreadable)");
	CHECK(s && strstr(s, "Cpus_allowed_list:\t0\n"));
	free(s);
	errno = 0;
	CHECK_EQ(getpriority(PRIO_PROCESS, (id_t)good), -11);  /* seL4 200 */
	CHECK_EQ(getpriority(PRIO_PROCESS, (id_t)low), 12);    /* seL4 50 */
	CHECK(getpriority(PRIO_PROCESS, (id_t)good) < getpriority(PRIO_PROCESS, (id_t)low));
	CHECK_EQ(sched_getscheduler(good), SCHED_OTHER);
	CHECK_EQ(sched_getscheduler(other), SCHED_FIFO);
	CHECK(sched_getparam(other, &sp) == 0);
	CHECK_EQ(sp.sched_priority, 2);                          /* 1 + 10 * 48 / 255 */
}

TEST(dataport_only_in_named_vms)
{
	pid_t good = vm_pid("good"), low = vm_pid("low"), other = vm_pid("other");
	char path[256], *s;

	if (!main_ok)
		SKIP("supervisor did not start");
	CHECK(has_fd_to(good, "/memfd:d"));
	CHECK(has_fd_to(low, "/memfd:d"));
	CHECK(!has_fd_to(other, "/memfd:d"));
	CHECK(!has_fd_to(vm_pid("stubborn"), "/memfd:d"));
	snprintf(path, sizeof(path), "%s/starts.good", dir);
	s = slurp(path);
	CHECK(s && strstr(s, "--dataport d,gpa=0xc0000000,size=0x10000,fd="));
	free(s);
}

TEST(vm_killed_from_outside_is_restarted)
{
	pid_t old = vm_pid("low"), now_pid = 0;

	if (!main_ok)
		SKIP("supervisor did not start");
	kill(old, SIGKILL);
	for (int i = 0; i < 100; i++) {
		now_pid = vm_pid("low");
		if (now_pid != old && now_pid > 0 && has_fd_to(now_pid, "/memfd:d"))
			break;
		sleep_ms(20);
	}
	CHECK(now_pid != old && alive(now_pid));
	CHECK(log_has("low supervisor: killed by signal 9 (Killed); restarting in 50ms "
		      "(restart 1, policy always)"));
	/* the dataport outlives the restart: the new process gets the same memory */
	CHECK(has_fd_to(now_pid, "/memfd:d"));
	CHECK_EQ(getpriority(PRIO_PROCESS, (id_t)now_pid), 12);
}

TEST(memory_cgroup_applied)
{
	pid_t good = vm_pid("good");
	char path[512], *s, *line, *limit;

	if (!main_ok)
		SKIP("supervisor did not start");
	if (log_has("NOT enforced"))
		SKIP("no usable memory cgroup on this host (the supervisor said so)");
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)good);
	s = slurp(path);
	line = s ? strstr(s, "capvm.main/good") : NULL;
	if (!line)
		printf("  %s:\n%s\n", path, s ? s : "(unreadable)");
	CHECK(line != NULL);
	if (line) {
		/* find the limit file in the hierarchy that holds it */
		char *start = line;
		while (start > s && start[-1] != '\n')
			start--;
		*strchr(line, '\n') = 0;
		if (strstr(start, "::")) {
			snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.max",
				 strstr(start, "::") + 2);
			limit = slurp(path);
			if (!limit) {
				snprintf(path, sizeof(path), "/sys/fs/cgroup/unified%s/memory.max",
					 strstr(start, "::") + 2);
				limit = slurp(path);
			}
		} else {
			snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/memory.limit_in_bytes",
				 strrchr(start, ':') + 1);
			limit = slurp(path);
		}
		CHECK(limit && strtoull(limit, NULL, 10) == 7 * SD_BUDGET_UNIT);
		free(limit);
	}
	free(s);
}

TEST(sighup_reopens_log)
{
	char moved[160];

	if (!main_ok)
		SKIP("supervisor did not start");
	snprintf(moved, sizeof(moved), "%s/sup.log.1", dir);
	CHECK(rename(logpath, moved) == 0);
	kill(msup, SIGHUP);
	for (int i = 0; i < 50 && !log_has("log file reopened"); i++)
		sleep_ms(20);
	CHECK(log_has("SIGHUP: log file reopened"));
	/* passed on to the VMs, which log to the same file */
	snprintf(moved, sizeof(moved), "%s/hup.good", dir);
	for (int i = 0; i < 50 && count_lines(moved) < 1; i++)
		sleep_ms(20);
	CHECK_EQ(count_lines(moved), 1);
}

TEST(down_stops_everything)
{
	char buf[4096];
	pid_t pids[4] = { vm_pid("good"), vm_pid("low"), vm_pid("other"), vm_pid("stubborn") };
	char path[256], *s;
	uint64_t t0 = now_ns();
	int rc;

	if (!main_ok)
		SKIP("supervisor did not start");
	CHECK(ask("down", buf, sizeof(buf)) == 0);   /* returns when all have stopped */
	CHECK(strstr(buf, "stopping") != NULL);
	CHECK(strstr(buf, "\nstubborn ") && strstr(strstr(buf, "\nstubborn "), "stopped"));
	/* stubborn ignores SIGTERM: killed after the 3 s timeout */
	CHECK((now_ns() - t0) / 1000000 >= 2900);
	CHECK(log_has("stubborn supervisor: still running after 3000ms: SIGKILL"));
	rc = wait_exit(msup, 5000);
	CHECK_EQ(rc, 0);
	/* VMs with a monitor were asked to power off first (ACPI power button),
	 * then got SIGTERM at half the timeout as the stand-in ignores it */
	CHECK(log_has("good supervisor: asked the guest to power off (system_powerdown on unix:"));
	CHECK(log_has("good supervisor: guest did not power off within 1500ms: SIGTERM"));
	monitor_received(good_mon, buf, sizeof(buf));
	CHECK_STR(buf, "system_powerdown\n");
	monitor_received(low_mon, buf, sizeof(buf));
	CHECK_STR(buf, "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"system_powerdown\"}\n");
	close(good_mon);
	close(low_mon);
	for (int i = 0; i < 4; i++)
		CHECK(!alive(pids[i]));
	snprintf(path, sizeof(path), "%s/term.good", dir);
	s = slurp(path);
	CHECK(s && strstr(s, "TERM"));
	free(s);
	CHECK(access(control, F_OK) < 0);   /* socket removed */
	sd_system_free(&msys);
	sd_doc_free(&mdoc);
}

/* ---- the supervisor's own death ---- */

static const char *pair_system =
	"assembly { composition { component VM a; component VM b; }\n"
	" configuration { a.kernel = \"/k\"; b.kernel = \"/k\"; a.ram = 32M; b.ram = 32M;\n"
	" a.console = \"none\"; b.console = \"none\"; } }\n";

static void clear_starts(void)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/starts.a", dir); unlink(p);
	snprintf(p, sizeof(p), "%s/starts.b", dir); unlink(p);
	snprintf(p, sizeof(p), "%s/term.a", dir); unlink(p);
	snprintf(p, sizeof(p), "%s/term.b", dir); unlink(p);
}

TEST(killing_supervisor_kills_vms)
{
	struct sd_doc doc;
	struct sd_system sys;
	pid_t sup, a, b;
	bool gone = false;

	clear_starts();
	if (make_system("pair.camkes", pair_system, &doc, &sys) < 0)
		SKIP("test description did not validate");
	sup = start_supervisor(&sys, 1000);
	for (int i = 0; i < 100 && !(vm_pid("a") && vm_pid("b")); i++)
		sleep_ms(50);
	a = vm_pid("a");
	b = vm_pid("b");
	CHECK(alive(a) && alive(b));
	kill(sup, SIGKILL);
	waitpid(sup, NULL, 0);
	for (int i = 0; i < 100 && !gone; i++) {
		gone = !alive(a) && !alive(b);
		sleep_ms(20);
	}
	CHECK(gone);
	if (!gone) {   /* do not leave them behind */
		kill(a, SIGKILL);
		kill(b, SIGKILL);
	}
	unlink(control);
	sd_system_free(&sys);
	sd_doc_free(&doc);
}

TEST(sigterm_to_supervisor_stops_vms)
{
	struct sd_doc doc;
	struct sd_system sys;
	pid_t sup, a, b;
	char path[256];

	clear_starts();
	if (make_system("pair.camkes", pair_system, &doc, &sys) < 0)
		SKIP("test description did not validate");
	sup = start_supervisor(&sys, 3000);
	for (int i = 0; i < 100 && !(vm_pid("a") && vm_pid("b")); i++)
		sleep_ms(50);
	a = vm_pid("a");
	b = vm_pid("b");
	kill(sup, SIGTERM);
	CHECK_EQ(wait_exit(sup, 5000), 0);
	CHECK(!alive(a) && !alive(b));
	snprintf(path, sizeof(path), "%s/term.a", dir);
	CHECK_EQ(count_lines(path), 1);     /* a stopped through its own SIGTERM handler */
	CHECK(log_has("stopping all VMs (Terminated)"));
	sd_system_free(&sys);
	sd_doc_free(&doc);
}

TEST(never_policy_and_supervisor_exit)
{
	struct sd_doc doc;
	struct sd_system sys;
	pid_t sup;
	char path[256];

	if (make_system("once.camkes",
			"assembly { composition { component VM crash_once; }\n"
			" configuration { crash_once.kernel = \"/k\"; crash_once.ram = 32M;\n"
			" crash_once.console = \"none\"; } }\n", &doc, &sys) < 0)
		SKIP("test description did not validate");
	sup = start_supervisor(&sys, 1000);
	/* nothing left to supervise: the supervisor ends, with failure */
	CHECK_EQ(wait_exit(sup, 5000), 1);
	snprintf(path, sizeof(path), "%s/starts.crash_once", dir);
	CHECK_EQ(count_lines(path), 1);
	CHECK(log_has("exited with status 3; restart policy never: not restarting"));
	sd_system_free(&sys);
	sd_doc_free(&doc);
}

TEST(second_supervisor_refused)
{
	struct sd_doc doc;
	struct sd_system sys;
	pid_t sup, sup2;

	clear_starts();
	if (make_system("pair.camkes", pair_system, &doc, &sys) < 0)
		SKIP("test description did not validate");
	sup = start_supervisor(&sys, 1000);
	for (int i = 0; i < 100 && !(vm_pid("a") && vm_pid("b")); i++)
		sleep_ms(50);
	sup2 = fork();
	if (sup2 == 0) {
		struct sup_options o = { .control_path = control, .vmm_path = script,
					 .stop_timeout_ms = 1000 };
		log_set_quiet(1);
		_exit(supervisor_run(&sys, &o));
	}
	CHECK_EQ(wait_exit(sup2, 3000), 1);
	kill(sup, SIGTERM);
	CHECK_EQ(wait_exit(sup, 5000), 0);
	sd_system_free(&sys);
	sd_doc_free(&doc);
}

int main(void)
{
	if (setup_dir() < 0) {
		printf("SKIP supervisor: cannot create a temporary directory\n");
		return 0;
	}
	RUN(supervisor_starts_all);
	RUN(restart_policy_and_burst_limit);
	RUN(status_lists_vms);
	RUN(pinning_and_priorities_observable);
	RUN(dataport_only_in_named_vms);
	RUN(vm_killed_from_outside_is_restarted);
	RUN(memory_cgroup_applied);
	RUN(sighup_reopens_log);
	RUN(down_stops_everything);
	RUN(killing_supervisor_kills_vms);
	RUN(sigterm_to_supervisor_stops_vms);
	RUN(never_policy_and_supervisor_exit);
	RUN(second_supervisor_refused);
	if (msup > 0 && waitpid(msup, NULL, WNOHANG) == 0) {
		kill(msup, SIGKILL);
		waitpid(msup, NULL, 0);
	}
	cleanup_dir();
	return test_exit();
}
