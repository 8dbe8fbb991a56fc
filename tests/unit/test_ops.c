/*
 * Tests of the operations helpers (src/ops/vmref.c): reading /proc files
 * whose size is 0, finding a VMM's monitor, disks and files from its
 * command line (a stand-in process with a capvm-run-like argv), and
 * telling whether an image is locked by another open file description
 * (as capvm run's OFD lock does).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "ops/vmref.h"

TEST(read_proc_file)
{
	void *buf;
	size_t len;
	CHECK_EQ(ops_read_all("/proc/self/status", 1 << 20, &buf, &len), 0);
	CHECK(len > 0);
	CHECK(strstr(buf, "Pid:") != NULL);
	free(buf);
	CHECK_EQ(ops_read_all("/proc/self/status", 16, &buf, &len), 0);  /* capped */
	CHECK_EQ(len, 16);
	free(buf);
	CHECK(ops_read_all("/no/such/file", 100, &buf, &len) < 0);
}

TEST(vm_from_cmdline)
{
	struct ops_vm vm;
	pid_t pid = fork();
	if (pid == 0) {
		/* sh -c CMD NAME ARGS...: ARGS stay in the process's argv */
		execl("/bin/sh", "sh", "-c", "sleep 30", "capvm", "run", "--name", "vm0",
		      "--cmdline", "console=ttyS0 --disk /not/this", "--console", "file:/tmp/c.txt",
		      "--console-log", "/tmp/cl.txt", "--monitor", "unix:/tmp/m.sock",
		      "--qmp", "unix:/tmp/q.sock", "--log", "/tmp/l.txt",
		      "--disk", "/img/a.img,serial=x", "--disk", "path=/img/b.img,ro", (char *)NULL);
		_exit(127);
	}
	CHECK(pid > 0);
	usleep(200000);
	memset(&vm, 0, sizeof(vm));
	CHECK_EQ(ops_vm_from_pid(pid, &vm), 0);
	CHECK_STR(vm.monitor, "unix:/tmp/m.sock");
	CHECK(!vm.monitor_qmp);
	CHECK_EQ(vm.n_disks, 2);
	CHECK_STR(vm.disks[0], "/img/a.img");
	CHECK(!vm.disk_ro[0]);
	CHECK_STR(vm.disks[1], "/img/b.img");
	CHECK(vm.disk_ro[1]);
	CHECK_STR(vm.console_file, "/tmp/c.txt");
	CHECK_STR(vm.console_log, "/tmp/cl.txt");
	CHECK_STR(vm.log, "/tmp/l.txt");
	ops_vm_free(&vm);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

TEST(image_in_use)
{
	char path[] = "/tmp/capvm-test-ops.XXXXXX";
	int fd = mkstemp(path), holder;
	struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(ops_image_in_use(path), 0);
	holder = open(path, O_RDWR);
	CHECK(holder >= 0);
	CHECK_EQ(fcntl(holder, F_OFD_SETLK, &lk), 0);
	CHECK_EQ(ops_image_in_use(path), 1);
	close(holder);
	CHECK_EQ(ops_image_in_use(path), 0);
	CHECK(ops_image_in_use("/no/such/image") < 0);
	unlink(path);
}

TEST(unknown_vm_without_supervisor)
{
	struct ops_vm vm;
	char err[512];
	CHECK_EQ(ops_find_vm("/tmp/capvm-no-such-control.sock", "vm0", &vm, err, sizeof(err)), -1);
	CHECK(strstr(err, "no supervisor answers") != NULL);
	ops_vm_free(&vm);
}

int main(void)
{
	RUN(read_proc_file);
	RUN(vm_from_cmdline);
	RUN(image_in_use);
	RUN(unknown_vm_without_supervisor);
	return test_exit();
}
