/*
 * Unit tests of the back-end sandbox (backend/sandbox.c): the seccomp
 * filter builds; in forked children, a forbidden system call (socket,
 * executable mmap, the tap ioctl without a tap) dies with SIGSYS while the
 * serving loop's calls work; the fd check refuses an fd the back-end does
 * not need; and, as root, the whole sandbox is entered (namespaces, no
 * capabilities, no_new_privs, seccomp mode 2) as /proc shows it, the blk
 * data path works inside it, and the forking parent turns a seccomp kill
 * into status 159 and passes SIGTERM on.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <poll.h>
#include <sys/eventfd.h>

#include "backend/backend_blk.h"
#include "backend/sandbox.h"
#include "backend/vu_frontend.h"
#include "unit/test.h"
#include "virtio/virtqueue.h"

/* Exit status of a child that could not load the filter at all. */
#define CHILD_NO_SECCOMP 77

/* Run fn in a child under the filter; returns its wait status. */
static int in_filtered_child(bool tap, int (*fn)(void))
{
	char err[256];
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (backend_sandbox_load_filter(tap, err, sizeof(err)))
			_exit(CHILD_NO_SECCOMP);
		_exit(fn());
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

static bool killed_by_sigsys(int status)
{
	return status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

static bool exited_ok(int status)
{
	return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static bool no_seccomp(int status)
{
	return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == CHILD_NO_SECCOMP;
}

TEST(filter_builds)
{
	char err[256] = "";

	CHECK_EQ(backend_sandbox_filter_check(false, err, sizeof(err)), 0);
	CHECK_EQ(backend_sandbox_filter_check(true, err, sizeof(err)), 0);
	if (err[0])
		printf("  %s\n", err);
}

static int call_socket(void)
{
	return syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0) >= 0 ? 1 : 2;
}

TEST(socket_kills)
{
	int status = in_filtered_child(false, call_socket);

	if (no_seccomp(status))
		SKIP("seccomp filters cannot be loaded here");
	CHECK(killed_by_sigsys(status));
}

/* A pipe made before the filter (pipe2 is not allowed). */
static int pipe_for_allowed[2];

/* What the serving loop does: fd reads/writes, anonymous memory, clock. */
static int allowed_calls(void)
{
	char c = 'x', back;
	struct timespec ts;
	void *m;

	if (write(pipe_for_allowed[1], &c, 1) != 1 || read(pipe_for_allowed[0], &back, 1) != 1 ||
	    back != c)
		return 11;
	m = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 12;
	memset(m, 1, 65536);
	if (munmap(m, 65536))
		return 13;
	if (clock_gettime(CLOCK_MONOTONIC, &ts))
		return 14;
	/* Socket files cannot be removed, but that is an error, not a kill. */
	if (unlink("/nonexistent-capvm-test") != -1 || errno != EPERM)
		return 15;
	free(malloc(1 << 20));
	return 0;
}

TEST(allowed_calls_work)
{
	int status;

	CHECK_EQ(pipe(pipe_for_allowed), 0);
	status = in_filtered_child(false, allowed_calls);
	close(pipe_for_allowed[0]);
	close(pipe_for_allowed[1]);
	if (no_seccomp(status))
		SKIP("seccomp filters cannot be loaded here");
	if (!exited_ok(status))
		printf("  child status 0x%x\n", status);
	CHECK(exited_ok(status));
}

static int exec_mmap(void)
{
	void *m = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return m == MAP_FAILED ? 1 : 2;
}

TEST(executable_mmap_kills)
{
	int status = in_filtered_child(false, exec_mmap);

	if (no_seccomp(status))
		SKIP("seccomp filters cannot be loaded here");
	CHECK(killed_by_sigsys(status));
}

static int tap_ioctl(void)
{
	/* On no fd: EBADF when allowed, SIGSYS when not. */
	return ioctl(-1, TUNSETOFFLOAD, 0UL) == -1 && errno == EBADF ? 0 : 1;
}

TEST(tap_ioctl_only_for_net)
{
	int blk = in_filtered_child(false, tap_ioctl);
	int net = in_filtered_child(true, tap_ioctl);

	if (no_seccomp(blk))
		SKIP("seccomp filters cannot be loaded here");
	CHECK(killed_by_sigsys(blk));
	CHECK(exited_ok(net));
}

/* Close every fd above 2 but keep (a child's view: only what it opened). */
static void close_all_but(int keep_a, int keep_b)
{
	for (int fd = 3; fd < 1024; fd++)
		if (fd != keep_a && fd != keep_b)
			close(fd);
}

/* The fd check: an fd on a file nobody named is refused, before any change. */
TEST(unneeded_fd_refused)
{
	int p[2];
	int status;
	pid_t pid;

	CHECK_EQ(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		struct backend_sandbox_opts o = { .name = "test", .nr_keep_fds = 1 };
		char err[256] = "";
		o.keep_fds[0] = p[1];
		close_all_but(p[1], -1);
		int extra = open("/dev/null", O_RDONLY);
		int rc = backend_sandbox_enter(&o, err, sizeof(err));
		/* Refused, and it names the fd and its file. */
		bool ok = rc == -1 && extra >= 0 && strstr(err, "/dev/null") != NULL;
		if (write(p[1], err, strlen(err)) < 0)
			_exit(3);
		_exit(ok ? 0 : 1);
	}
	close(p[1]);
	char msg[256] = "";
	ssize_t n = read(p[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(p[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!exited_ok(status))
		printf("  child said: %s\n", msg);
	CHECK(exited_ok(status));
}

/* Read /proc/PID/status field "Name:" into out; true if found. */
static bool status_field(pid_t pid, const char *name, char *out, size_t outlen)
{
	char path[64], line[256];
	size_t len = strlen(name);
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (!strncmp(line, name, len) && line[len] == ':') {
			snprintf(out, outlen, "%s", line + len + 1 + strspn(line + len + 1, " \t"));
			out[strcspn(out, "\n")] = '\0';
			found = true;
		}
	fclose(f);
	return found;
}

static bool same_ns(pid_t a, pid_t b, const char *ns)
{
	char pa[64], pb[64], la[64] = "", lb[64] = "";

	snprintf(pa, sizeof(pa), "/proc/%d/ns/%s", (int)a, ns);
	snprintf(pb, sizeof(pb), "/proc/%d/ns/%s", (int)b, ns);
	if (readlink(pa, la, sizeof(la) - 1) < 0 || readlink(pb, lb, sizeof(lb) - 1) < 0)
		return true;
	return !strcmp(la, lb);
}

/* As root: the whole sandbox, seen from outside. */
TEST(enter_full_sandbox)
{
	int up[2], down[2], status;
	char c = 0, v[64];
	pid_t pid;

	if (geteuid() != 0)
		SKIP("needs root (namespaces, capabilities)");
	CHECK_EQ(pipe(up), 0);
	CHECK_EQ(pipe(down), 0);
	pid = fork();
	if (pid == 0) {
		struct backend_sandbox_opts o = { .name = "test", .namespaces = true, .nr_keep_fds = 2 };
		char err[256];
		o.keep_fds[0] = up[1];
		o.keep_fds[1] = down[0];
		close_all_but(up[1], down[0]);
		if (backend_sandbox_enter(&o, err, sizeof(err))) {
			fprintf(stderr, "  enter: %s\n", err);
			if (write(up[1], "F", 1) < 0)
				_exit(4);
			_exit(1);
		}
		if (write(up[1], "E", 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(2);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	if (read(up[0], &c, 1) != 1)
		c = 0;
	if (c == 'E') {
		CHECK(status_field(pid, "NoNewPrivs", v, sizeof(v)) && !strcmp(v, "1"));
		CHECK(status_field(pid, "Seccomp", v, sizeof(v)) && !strcmp(v, "2"));
		CHECK(status_field(pid, "CapEff", v, sizeof(v)) && !strcmp(v, "0000000000000000"));
		CHECK(status_field(pid, "CapBnd", v, sizeof(v)) && !strcmp(v, "0000000000000000"));
		CHECK(!same_ns(pid, getpid(), "mnt"));
		CHECK(!same_ns(pid, getpid(), "net"));
		CHECK(!same_ns(pid, getpid(), "ipc"));
		CHECK(!same_ns(pid, getpid(), "uts"));
	}
	if (write(down[1], "x", 1) < 0)
		CHECK(0);
	close(up[0]);
	close(down[1]);
	CHECK(waitpid(pid, &status, 0) == pid);
	if (c == 'F' || c == 0) {
		/* A container without the right to unshare: say so, not FAIL. */
		SKIP("could not enter the sandbox here (see the child's message)");
	}
	CHECK(exited_ok(status));
}

/*
 * The data path inside the sandbox: a forked child opens an image, enters
 * the whole sandbox and serves the vhost-user session on a socketpair; the
 * parent is the front-end (vu_frontend) with guest RAM in a memfd and
 * writes, reads and flushes through the ring.  Any system call of the
 * serving loop missing from the allow-list kills the child with SIGSYS.
 */
#define RAM_SIZE   (1u << 20)
#define RAM_GPA    0x100000ull
#define QSIZE      16
#define DESC_OFF   0x0
#define AVAIL_OFF  0x1000
#define USED_OFF   0x2000
#define HDR_OFF    0x3000
#define DATA_OFF   0x4000
#define STATUS_OFF 0x5000

/* Put request number idx (type, sector; 512 bytes at DATA_OFF) on the ring. */
static void push_request(uint8_t *ram, uint16_t idx, uint32_t type, uint64_t sector)
{
	struct virtq_desc *d = (struct virtq_desc *)(ram + DESC_OFF);
	struct virtq_avail *a = (struct virtq_avail *)(ram + AVAIL_OFF);
	uint32_t hdr[4] = { type, 0, (uint32_t)sector, (uint32_t)(sector >> 32) };
	bool data = type == 0 || type == 1;

	memcpy(ram + HDR_OFF, hdr, sizeof(hdr));
	d[0] = (struct virtq_desc){ RAM_GPA + HDR_OFF, 16, VIRTQ_DESC_F_NEXT, data ? 1 : 2 };
	d[1] = (struct virtq_desc){ RAM_GPA + DATA_OFF, 512,
				    VIRTQ_DESC_F_NEXT | (type == 0 ? VIRTQ_DESC_F_WRITE : 0), 2 };
	d[2] = (struct virtq_desc){ RAM_GPA + STATUS_OFF, 1, VIRTQ_DESC_F_WRITE, 0 };
	ram[STATUS_OFF] = 0xff;
	a->ring[idx % QSIZE] = 0;
	__atomic_store_n(&a->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

/* Kick and wait for used->idx == want and the call fd. */
static bool complete(uint8_t *ram, int kick, int call, uint16_t want)
{
	struct virtq_used *u = (struct virtq_used *)(ram + USED_OFF);
	struct pollfd pfd = { .fd = call, .events = POLLIN };
	uint64_t one = 1, calls;

	if (write(kick, &one, 8) != 8)
		return false;
	for (int i = 0; i < 500 && __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) != want; i++)
		usleep(10000);
	if (poll(&pfd, 1, 5000) == 1 && read(call, &calls, 8) < 0)
		return false;
	return u->idx == want && ram[STATUS_OFF] == 0;
}

/* The child: open, enter, serve one front-end on sock; exit status. */
static int serve_sandboxed(const char *image, int sock)
{
	struct blk_options o;
	struct vu_backend *vb;
	char err[256];
	int rc;

	close_all_but(sock, -1);
	if (virtio_blk_parse(image, &o, err, sizeof(err)) ||
	    !(vb = backend_blk_create(&o, err, sizeof(err)))) {
		fprintf(stderr, "  child: %s\n", err);
		return 3;
	}
	struct backend_sandbox_opts so = {
		.name = "test-blk", .namespaces = true, .nr_keep_fds = 1,
		.keep_files = { o.path }, .nr_keep_files = 1,
	};
	so.keep_fds[0] = sock;
	if (backend_sandbox_enter(&so, err, sizeof(err))) {
		fprintf(stderr, "  child: %s\n", err);
		return 4;
	}
	rc = vu_backend_serve(vb, sock);
	backend_blk_destroy(vb);
	return rc ? 5 : 0;
}

TEST(sandboxed_backend_serves_requests)
{
	struct vu_frontend f = { .sock = -1 };
	char image[64], err[256] = "";
	int sv[2], ram_fd, kick, call, status;
	uint8_t *ram;
	pid_t pid;

	if (geteuid() != 0)
		SKIP("needs root (namespaces, capabilities)");
	snprintf(image, sizeof(image), "/tmp/capvm-test-sandbox-%d.img", (int)getpid());
	int img = open(image, O_CREAT | O_RDWR | O_TRUNC, 0600);
	CHECK(img >= 0 && ftruncate(img, 1 << 20) == 0);
	close(img);
	ram_fd = memfd_create("ram", MFD_CLOEXEC);
	CHECK(ram_fd >= 0 && ftruncate(ram_fd, RAM_SIZE) == 0);
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, ram_fd, 0);
	CHECK(ram != MAP_FAILED);
	if (test_case_failed)
		return;
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(serve_sandboxed(image, sv[1]));
	close(sv[1]);

	CHECK_EQ(vu_frontend_attach(&f, sv[0], err, sizeof(err)), 0);
	uint64_t capacity = 0;
	CHECK_EQ(vu_frontend_get_config(&f, 0, &capacity, 8, err, sizeof(err)), 0);
	CHECK_EQ(capacity, 2048);
	CHECK_EQ(vu_frontend_set_features(&f, f.features & (1ull << 32) /* VERSION_1 */, err, sizeof(err)), 0);
	struct vhost_user_mem_region region = { RAM_GPA, RAM_SIZE, RAM_GPA, 0 };
	CHECK_EQ(vu_frontend_set_mem_table(&f, &region, &ram_fd, 1, err, sizeof(err)), 0);
	kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct vu_frontend_vring ring = { .num = QSIZE, .base = 0, .desc = RAM_GPA + DESC_OFF,
		.avail = RAM_GPA + AVAIL_OFF, .used = RAM_GPA + USED_OFF,
		.kick_fd = kick, .call_fd = call };
	CHECK_EQ(vu_frontend_start_vring(&f, 0, &ring, err, sizeof(err)), 0);

	/* write sector 7, flush, read it back into a cleared buffer */
	memset(ram + DATA_OFF, 0x5a, 512);
	push_request(ram, 0, 1 /* OUT */, 7);
	CHECK(complete(ram, kick, call, 1));
	push_request(ram, 1, 4 /* FLUSH */, 0);
	CHECK(complete(ram, kick, call, 2));
	memset(ram + DATA_OFF, 0, 512);
	push_request(ram, 2, 0 /* IN */, 7);
	CHECK(complete(ram, kick, call, 3));
	CHECK_EQ(ram[DATA_OFF], 0x5a);
	CHECK_EQ(ram[DATA_OFF + 511], 0x5a);
	uint16_t base = 0;
	CHECK_EQ(vu_frontend_stop_vring(&f, 0, &base, err, sizeof(err)), 0);
	CHECK_EQ(base, 3);
	if (test_case_failed)
		printf("  last error: %s\n", err);

	vu_frontend_close(&f);  /* EOF: the child ends its session and exits */
	CHECK(waitpid(pid, &status, 0) == pid);
	if (killed_by_sigsys(status))
		printf("  the sandboxed back-end was killed by seccomp (see dmesg: type=1326)\n");
	else if (!exited_ok(status))
		printf("  child status 0x%x\n", status);
	CHECK(exited_ok(status));
	munmap(ram, RAM_SIZE);
	close(ram_fd);
	close(kick);
	close(call);
	unlink(image);
}

/*
 * backend_sandbox_fork's parent side: a seccomp kill of the child becomes
 * exit status 159, and SIGTERM to the parent reaches the child.
 */
static void exit_on_term(int sig)
{
	(void)sig;
	_exit(7);
}

/* A process that forks like `capvm backend`; the child runs what. */
static pid_t start_forking_backend(int what, int ready_fd)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	char err[256];
	if (backend_sandbox_fork("test", NULL, err, sizeof(err))) {
		fprintf(stderr, "  fork: %s\n", err);
		_exit(2);
	}
	/* The child (pid 1 of a new pid namespace). */
	if (what == 0) {
		if (backend_sandbox_load_filter(false, err, sizeof(err)))
			_exit(3);
		syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
		_exit(4);
	}
	struct sigaction sa = { .sa_handler = exit_on_term };
	sigaction(SIGTERM, &sa, NULL);
	if (write(ready_fd, "R", 1) != 1)
		_exit(5);
	for (;;)
		pause();
}

TEST(parent_reports_seccomp_kill)
{
	int status;
	pid_t pid;

	if (geteuid() != 0)
		SKIP("needs root (pid namespace)");
	fflush(NULL);
	pid = start_forking_backend(0, -1);
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!(WIFEXITED(status) && WEXITSTATUS(status) == BACKEND_SANDBOX_EXIT_SECCOMP))
		printf("  status 0x%x\n", status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == BACKEND_SANDBOX_EXIT_SECCOMP);
}

TEST(parent_forwards_sigterm)
{
	int p[2], status;
	char c = 0;
	pid_t pid;

	if (geteuid() != 0)
		SKIP("needs root (pid namespace)");
	CHECK_EQ(pipe(p), 0);
	fflush(NULL);
	pid = start_forking_backend(1, p[1]);
	close(p[1]);
	CHECK(read(p[0], &c, 1) == 1 && c == 'R');
	close(p[0]);
	kill(pid, SIGTERM);
	CHECK(waitpid(pid, &status, 0) == pid);
	/* the child's status (7) becomes the parent's */
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
}

int main(void)
{
	unsetenv(BACKEND_SANDBOX_TEST_ENV);
	signal(SIGPIPE, SIG_IGN);  /* a dead child's pipe is a FAIL, not our death */
	RUN(filter_builds);
	RUN(socket_kills);
	RUN(allowed_calls_work);
	RUN(executable_mmap_kills);
	RUN(tap_ioctl_only_for_net);
	RUN(unneeded_fd_refused);
	RUN(enter_full_sandbox);
	RUN(sandboxed_backend_serves_requests);
	RUN(parent_reports_seccomp_kill);
	RUN(parent_forwards_sigterm);
	return test_exit();
}
