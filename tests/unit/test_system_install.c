/*
 * Tests of `capvm system install` (src/cli/cmd_system_install.c): the unit
 * it writes for examples/default.camkes has the supervisor's ExecStart /
 * ExecStop, Restart=always, RestartSec=10 and the hardening options, and
 * passes `systemd-analyze verify` (SKIP when systemd-analyze is missing or
 * the guest images the example names are not built); an unwritable unit
 * directory and a missing description are errors; a device domain's image
 * directory is among the unit's ReadWritePaths.
 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "cli/commands.h"
#include "common/util.h"

static char dir[] = "/tmp/capvm-test-units.XXXXXX";

static int install(const char *unit_dir, const char *file)
{
	char *argv[] = { "install", "--unit-dir", (char *)unit_dir, (char *)file, NULL };
	int r;
	fflush(stdout);
	r = cmd_system_install(4, argv);
	fflush(stdout);
	return r;
}

TEST(writes_verified_unit)
{
	char unit[256], cmd[512];
	void *buf;
	size_t len;
	const char *text;

	if (access("build/guest/bzImage", R_OK) || access("build/guest/initrd.cpio.gz", R_OK))
		SKIP("build/guest images missing (make images): the example does not validate");
	CHECK_EQ(install(dir, "examples/default.camkes"), 0);
	snprintf(unit, sizeof(unit), "%s/capvm-default.service", dir);
	if (read_file(unit, &buf, &len) < 0) {
		CHECK(!"unit file written");
		return;
	}
	text = buf;
	CHECK(strstr(text, "\nExecStart=/") && strstr(text, " system up --control "));
	CHECK(strstr(text, "/examples/default.camkes\n") != NULL);
	CHECK(strstr(text, "\nExecStop=/") && strstr(text, " system down --control "));
	CHECK(strstr(text, "\nRestart=always\n") != NULL);
	CHECK(strstr(text, "\nRestartSec=10\n") != NULL);
	CHECK(strstr(text, "\nNoNewPrivileges=yes\n") != NULL);
	CHECK(strstr(text, "\nProtectSystem=strict\n") != NULL);
	CHECK(strstr(text, "\nDeviceAllow=/dev/kvm rw\n") != NULL);
	CHECK(strstr(text, "\nDeviceAllow=/dev/net/tun rw\n") != NULL);
	/* the example's monitor socket is under /tmp: PrivateTmp must be off */
	CHECK(strstr(text, "\nPrivateTmp=no\n") != NULL);
	free(buf);
	if (system("command -v systemd-analyze > /dev/null 2>&1") != 0)
		SKIP("systemd-analyze not installed (Debian package systemd)");
	snprintf(cmd, sizeof(cmd), "systemd-analyze verify %s > %s/verify.out 2>&1", unit, dir);
	int r = system(cmd);
	if (r != 0) {
		snprintf(cmd, sizeof(cmd), "sed 's/^/    /' %s/verify.out", dir);
		if (system(cmd) != 0)
			printf("    (no output)\n");
	}
	CHECK_EQ(r, 0);
}

/* A device domain's image directory is writable for the service. */
TEST(device_domain_image_writable)
{
	char desc[256], img[256], unit[256], want[300];
	void *buf;
	size_t len;
	FILE *f;

	if (access("build/guest/bzImage", R_OK))
		SKIP("build/guest/bzImage missing (make images): the description does not validate");
	snprintf(img, sizeof(img), "%s/images/disk0.img", dir);
	snprintf(desc, sizeof(desc), "%s/dd.camkes", dir);
	snprintf(want, sizeof(want), "%s/images", dir);
	mkdir(want, 0700);
	f = fopen(img, "w");
	if (f)
		fclose(f);
	f = fopen(desc, "w");
	if (!f) {
		CHECK(!"description written");
		return;
	}
	fprintf(f, "assembly { composition { component VM vm0; component DeviceDomain disk0;\n"
		   " connection seL4SharedData w(from disk0.dma, to vm0.vda); }\n"
		   " configuration { vm0.kernel = \"%s/build/guest/bzImage\"; vm0.console = \"none\";\n"
		   " disk0.blk_image = \"%s,ro\"; } }\n", getcwd(unit, sizeof(unit)), img);
	fclose(f);
	CHECK_EQ(install(dir, desc), 0);
	snprintf(unit, sizeof(unit), "%s/capvm-dd.service", dir);
	if (read_file(unit, &buf, &len) < 0) {
		CHECK(!"unit file written");
		return;
	}
	snprintf(want, sizeof(want), "\nReadWritePaths=-%s/images\n", dir);
	CHECK(strstr(buf, want) != NULL);
	free(buf);
	unlink(unit);
	unlink(desc);
	unlink(img);
	snprintf(want, sizeof(want), "%s/images", dir);
	rmdir(want);
}

TEST(bad_inputs)
{
	CHECK_EQ(install("/proc/no-such-dir", "examples/default.camkes") != 0, 1);
	CHECK_EQ(install(dir, "/no/such/description.camkes"), 1);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		printf("FAIL setup: mkdtemp\n");
		return 1;
	}
	RUN(writes_verified_unit);
	RUN(device_domain_image_writable);
	RUN(bad_inputs);
	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			printf("  (could not remove %s)\n", dir);
	}
	return test_exit();
}
