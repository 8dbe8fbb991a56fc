/*
 * Device domains under the supervisor (src/system/supervisor.c), without
 * KVM: this test program also plays both processes the supervisor starts.
 * Run as `<self> backend blk --socket PATH ...` it is a fake back-end that
 * listens on PATH (a name starting with "never" never listens); run as
 * `<self> run --name NAME ...` it is a fake VMM that records whether the
 * vhost-user socket of its --disk accepts when it starts ("short*" VMs
 * power off after 300 ms).  Both record their starts and their SIGTERM
 * (with a CLOCK_MONOTONIC time) in files of the test directory.
 *
 * Checked: back-ends start first and a VM starts only once the socket
 * accepts; the VM's --disk names that socket; status (text and JSON) lists
 * the device domain; kill -9 of the back-end restarts it (logged) while the
 * VM keeps running; down stops the VM before the back-end and removes the
 * socket; a back-end whose socket never accepts is killed after the ready
 * timeout and its VM is not started; a VM that ends by itself takes its
 * back-end down with it; a VM waits while its back-end fails and restarts.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "system/supervisor.h"
#include "system/sysdesc.h"
#include "unit/test.h"

#define DIR_ENV "CAPVM_DDTEST_DIR"

static char dir[64], self[512], control[128], logpath[128];

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static unsigned long long mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

/* ---- the fake processes ---- */

static volatile sig_atomic_t got_term;

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static void record(const char *what, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.%s", getenv(DIR_ENV), what, name);
	f = fopen(path, "a");
	if (f) {
		fprintf(f, "%s\n", text);
		fclose(f);
	}
}

static const char *arg_after(int argc, char **argv, const char *opt)
{
	for (int i = 1; i + 1 < argc; i++)
		if (!strcmp(argv[i], opt))
			return argv[i + 1];
	return NULL;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r;
}

static int count_lines_in_env_dir(const char *what, const char *name)
{
	char path[256];
	int n = 0, c;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.%s", getenv(DIR_ENV), what, name);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static int fake_backend(int argc, char **argv)
{
	const char *sock = arg_after(argc, argv, "--socket");
	const char *base = sock ? strrchr(sock, '/') : NULL;
	char name[128], line[64];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!sock || !base)
		return 2;
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(base + 1, "."), base + 1);
	snprintf(line, sizeof(line), "%d", (int)getpid());
	record("starts", name, line);
	signal(SIGTERM, on_term);
	/* "flaky*": the first start fails before it listens */
	if (!strncmp(name, "flaky", 5) && count_lines_in_env_dir("starts", name) == 1)
		return 1;
	if (!strncmp(name, "never", 5)) {
		while (!got_term)
			sleep_ms(20);
		return 0;
	}
	sleep_ms(200);   /* a back-end takes a moment to open its image */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	unlink(sock);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0)
		return 3;
	while (!got_term) {
		int c = accept(fd, NULL, NULL);
		if (c >= 0)
			close(c);
		sleep_ms(20);
	}
	snprintf(line, sizeof(line), "%llu", mono_ns());
	record("term", name, line);
	return 0;
}

static int fake_vmm(int argc, char **argv)
{
	const char *name = arg_after(argc, argv, "--name");
	const char *disk = arg_after(argc, argv, "--disk");
	char line[1024], sock[256] = "";
	unsigned long long t0 = mono_ns();

	if (!name)
		return 2;
	if (disk && !strncmp(disk, "vhost-user=", 11))
		snprintf(sock, sizeof(sock), "%.*s", (int)strcspn(disk + 11, ","), disk + 11);
	snprintf(line, sizeof(line), "%d ddready=%d disk=%s", (int)getpid(),
		 sock[0] && connect_unix(sock) == 0, disk ? disk : "-");
	record("starts", name, line);
	signal(SIGTERM, on_term);
	while (!got_term) {
		sleep_ms(20);
		if (!strncmp(name, "short", 5) && mono_ns() - t0 > 300000000ULL)
			return 0;
	}
	snprintf(line, sizeof(line), "%llu", mono_ns());
	record("term", name, line);
	return 0;
}

/* ---- helpers of the tests ---- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *s;
	size_t n;

	if (!f)
		return NULL;
	s = calloc(1, 65536);
	if (s) {
		n = fread(s, 1, 65535, f);
		s[n] = 0;
	}
	fclose(f);
	return s;
}

static char *slurp_in_dir(const char *what, const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s.%s", dir, what, name);
	return slurp(path);
}

static int count_lines_of(const char *what, const char *name)
{
	char *s = slurp_in_dir(what, name);
	int n = 0;

	for (char *p = s; p && *p; p++)
		n += *p == '\n';
	free(s);
	return n;
}

/* PID in the last line of starts.NAME (0: none). */
static pid_t last_pid(const char *name)
{
	char *s = slurp_in_dir("starts", name), *last;
	pid_t pid;

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

static bool log_has(const char *text)
{
	char *s = slurp(logpath);
	bool r = s && strstr(s, text);
	free(s);
	return r;
}

/* Waits up to ms for cond (re-evaluated every 20 ms). */
#define WAIT_FOR(cond, ms) do { \
	for (int _i = 0; _i < (ms) / 20 && !(cond); _i++) \
		sleep_ms(20); \
	} while (0)

static int ask(const char *request, char *buf, size_t len)
{
	FILE *f = fmemopen(buf, len, "w");
	int r;

	if (!f)
		return -1;
	memset(buf, 0, len);
	r = sup_request(control, request, f);
	fclose(f);
	buf[len - 1] = 0;
	return r;
}

static int make_system(const char *text, struct sd_doc *doc, struct sd_system *sys)
{
	struct sd_host h;
	struct sd_diags diags = { 0 };
	int r;

	sd_host_probe(&h);
	h.check_files = false;
	memset(doc, 0, sizeof(*doc));
	r = sd_parse_buffer(doc, "dd.camkes", dir, text, strlen(text), &diags);
	if (r == 0)
		r = sd_validate(doc, &h, sys, &diags);
	if (r < 0)
		sd_diag_print(&diags, stdout);
	sd_diag_free(&diags);
	if (r == 0 && !(sys->runtime_dir = strdup(dir)))
		abort();
	return r;
}

static pid_t start_supervisor(const struct sd_system *sys, unsigned ready_timeout_ms)
{
	pid_t pid;

	unlink(logpath);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct sup_options o = {
			.control_path = control, .log_path = logpath, .vmm_path = self,
			.stop_timeout_ms = 5000, .dd_ready_timeout_ms = ready_timeout_ms,
		};
		log_set_quiet(1);
		_exit(supervisor_run(sys, &o));
	}
	return pid;
}

/* Exit status of the supervisor, waiting at most ms (-1: still running). */
static int wait_exit(pid_t pid, int ms)
{
	int status;

	for (int i = 0; i < ms / 20; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		sleep_ms(20);
	}
	return -1;
}

static void clean_dir(void)
{
	static const char *const files[] = {
		"starts.disk0", "starts.vm0", "term.disk0", "term.vm0", "starts.never0",
		"starts.short0", "term.short0", "starts.disk1", "term.disk1", "sup.log",
		"ctl.sock", "disk0.sock", "disk1.sock", "never0.sock", "starts.flaky0", "term.flaky0",
		"flaky0.sock",
	};
	char p[256];

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
		unlink(p);
	}
}

/* ---- one system with a device domain, in three steps ---- */

#define SYSTEM_DD \
	"assembly { composition { component VM vm0; component DeviceDomain disk0;\n" \
	" connection seL4SharedData win(from disk0.dma, to vm0.vda); }\n" \
	" configuration { vm0.kernel = \"/k\"; vm0.console = \"none\";\n" \
	" disk0.blk_image = \"/nonexistent.img\"; disk0.bounce_window = 32M;\n" \
	" disk0.restart = \"always\"; disk0.restart_delay = 100ms; } }"

static struct sd_doc doc_a;
static struct sd_system sys_a;
static pid_t sup_a;
static bool sup_a_up;

TEST(backend_starts_first_and_vm_waits_for_socket)
{
	char buf[4096], want[256], *s;

	if (make_system(SYSTEM_DD, &doc_a, &sys_a) < 0) {
		CHECK(!"description rejected");
		return;
	}
	sup_a = start_supervisor(&sys_a, 0);
	sup_a_up = true;
	WAIT_FOR(last_pid("vm0") > 0, 5000);
	CHECK(last_pid("disk0") > 0);
	CHECK(last_pid("vm0") > 0);
	s = slurp_in_dir("starts", "vm0");
	snprintf(want, sizeof(want), "ddready=1 disk=vhost-user=%s/disk0.sock,mem=isolated,"
		 "bounce=32M", dir);
	if (!s || !strstr(s, want))
		printf("  vm0 started as: %s  expected: %s\n", s ? s : "(not)", want);
	CHECK(s && strstr(s, want));
	free(s);
	CHECK(log_has("ready: "));
	CHECK(!log_has("dataport win:"));   /* no memfd of ours: the VMM makes the window */
	CHECK(log_has("1 VM, 1 device domain"));
	CHECK_EQ(ask("status", buf, sizeof(buf)), 0);
	CHECK(strstr(buf, "disk0") && strstr(buf, "DeviceDomain"));
	CHECK_EQ(ask("status json", buf, sizeof(buf)), 0);
	snprintf(want, sizeof(want), "\"socket\":\"%s/disk0.sock\",\"serves\":\"vm0\"", dir);
	CHECK(strstr(buf, want) != NULL);
	CHECK(strstr(buf, "\"name\":\"disk0\",\"kind\":\"DeviceDomain\",\"state\":\"running\""));
}

TEST(killed_backend_is_restarted_vm_keeps_running)
{
	pid_t dd, vm;
	char buf[4096];

	if (!sup_a_up)
		SKIP("no supervisor from the previous test");
	dd = last_pid("disk0");
	vm = last_pid("vm0");
	CHECK(dd > 0 && kill(dd, SIGKILL) == 0);
	WAIT_FOR(count_lines_of("starts", "disk0") >= 2, 5000);
	CHECK_EQ(count_lines_of("starts", "disk0"), 2);
	CHECK(last_pid("disk0") != dd);
	CHECK(log_has("killed by signal 9 (Killed); restarting in 100ms (restart 1, policy always)"));
	/* ready again: the socket accepts */
	WAIT_FOR(ask("status json", buf, sizeof(buf)) == 0 &&
		 strstr(buf, "\"name\":\"disk0\",\"kind\":\"DeviceDomain\",\"state\":\"running\""),
		 5000);
	CHECK(strstr(buf, "\"name\":\"disk0\",\"kind\":\"DeviceDomain\",\"state\":\"running\""));
	CHECK(strstr(buf, "\"restarts\":1"));
	CHECK_EQ(last_pid("vm0"), vm);
	CHECK_EQ(count_lines_of("starts", "vm0"), 1);
	CHECK(kill(vm, 0) == 0);
}

TEST(down_stops_vm_then_backend)
{
	char buf[4096], path[256];
	char *tv, *td;
	struct stat st;

	if (!sup_a_up)
		SKIP("no supervisor from the previous test");
	CHECK_EQ(ask("down", buf, sizeof(buf)), 0);
	CHECK_EQ(wait_exit(sup_a, 10000), 0);
	tv = slurp_in_dir("term", "vm0");
	td = slurp_in_dir("term", "disk0");
	CHECK(tv && td);
	if (tv && td)
		CHECK(strtoull(tv, NULL, 10) < strtoull(td, NULL, 10));
	free(tv);
	free(td);
	CHECK(log_has("no VM uses it any more: SIGTERM"));
	snprintf(path, sizeof(path), "%s/disk0.sock", dir);
	CHECK(stat(path, &st) < 0);   /* removed */
	sup_a_up = false;
	sd_system_free(&sys_a);
	sd_doc_free(&doc_a);
}

TEST(backend_never_ready_vm_not_started)
{
	struct sd_doc doc;
	struct sd_system sys;
	pid_t sup;

	clean_dir();
	if (make_system("assembly { composition { component VM vm0; component DeviceDomain never0;\n"
			" connection seL4SharedData win(from never0.dma, to vm0.vda); }\n"
			" configuration { vm0.kernel = \"/k\"; vm0.console = \"none\";\n"
			" never0.blk_image = \"/x.img\"; } }", &doc, &sys) < 0) {
		CHECK(!"description rejected");
		return;
	}
	sup = start_supervisor(&sys, 400);
	CHECK_EQ(wait_exit(sup, 10000), 1);
	CHECK(log_has("did not accept within 400 ms: killing it"));
	CHECK(log_has("not started: its device domain never0 has failed"));
	CHECK_EQ(last_pid("vm0"), 0);
	sd_system_free(&sys);
	sd_doc_free(&doc);
}

TEST(vm_end_stops_backend)
{
	struct sd_doc doc;
	struct sd_system sys;
	pid_t sup;

	clean_dir();
	if (make_system("assembly { composition { component VM short0; component DeviceDomain disk1;\n"
			" connection seL4SharedData win(from disk1.dma, to short0.vda); }\n"
			" configuration { short0.kernel = \"/k\"; short0.console = \"none\";\n"
			" disk1.blk_image = \"/x.img\"; disk1.memory = \"shared\"; } }",
			&doc, &sys) < 0) {
		CHECK(!"description rejected");
		return;
	}
	sup = start_supervisor(&sys, 0);
	CHECK_EQ(wait_exit(sup, 10000), 0);
	CHECK(count_lines_of("term", "disk1") == 1);
	CHECK(log_has("no VM uses it any more: SIGTERM"));
	{
		char *s = slurp_in_dir("starts", "short0");
		CHECK(s && strstr(s, "ddready=1") && strstr(s, "mem=shared"));
		free(s);
	}
	sd_system_free(&sys);
	sd_doc_free(&doc);
}

TEST(vm_waits_while_backend_restarts)
{
	struct sd_doc doc;
	struct sd_system sys;
	char buf[256];
	pid_t sup;

	clean_dir();
	if (make_system("assembly { composition { component VM vm0; component DeviceDomain flaky0;\n"
			" connection seL4SharedData win(from flaky0.dma, to vm0.vda); }\n"
			" configuration { vm0.kernel = \"/k\"; vm0.console = \"none\";\n"
			" flaky0.blk_image = \"/x.img\"; flaky0.restart = \"on-failure\";\n"
			" flaky0.restart_delay = 100ms; } }", &doc, &sys) < 0) {
		CHECK(!"description rejected");
		return;
	}
	sup = start_supervisor(&sys, 0);
	WAIT_FOR(last_pid("vm0") > 0, 5000);
	CHECK_EQ(count_lines_of("starts", "flaky0"), 2);
	{
		char *s = slurp_in_dir("starts", "vm0");
		CHECK(s && strstr(s, "ddready=1"));
		free(s);
	}
	CHECK(log_has("flaky0 supervisor: exited with status 1; restarting in 100ms"));
	CHECK(log_has("vm0 supervisor: waiting for its device domains"));
	CHECK_EQ(ask("down", buf, sizeof(buf)), 0);
	CHECK_EQ(wait_exit(sup, 10000), 0);
	sd_system_free(&sys);
	sd_doc_free(&doc);
}

int main(int argc, char **argv)
{
	ssize_t n;

	if (argc > 1 && !strcmp(argv[1], "backend"))
		return fake_backend(argc, argv);
	if (argc > 1 && !strcmp(argv[1], "run"))
		return fake_vmm(argc, argv);

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = 0;
	snprintf(dir, sizeof(dir), "/tmp/capvm-ddtest.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	setenv(DIR_ENV, dir, 1);
	snprintf(control, sizeof(control), "%s/ctl.sock", dir);
	snprintf(logpath, sizeof(logpath), "%s/sup.log", dir);

	RUN(backend_starts_first_and_vm_waits_for_socket);
	RUN(killed_backend_is_restarted_vm_keeps_running);
	RUN(down_stops_vm_then_backend);
	RUN(backend_never_ready_vm_not_started);
	RUN(vm_end_stops_backend);
	RUN(vm_waits_while_backend_restarts);

	if (sup_a_up) {
		kill(sup_a, SIGKILL);
		waitpid(sup_a, NULL, 0);
	}
	clean_dir();
	rmdir(dir);
	return test_exit();
}
