/*
 * capvm testhost: runs a script inside a test host VM that has real KVM
 * (see docs/testhost.md).  The work is done by scripts/testhost.sh of the
 * source tree this binary was built from: we find it relative to the binary
 * (build/capvm -> ../scripts, build/asan/capvm -> ../../scripts), export
 * CAPVM (this binary) and CAPVM_SRC (the tree), and exec it with our
 * arguments.  A shell script is the simplest robust way to drive QEMU,
 * cpio and the console streaming.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"

static const char *const script_candidates[] = {
	"/../scripts/testhost.sh",
	"/../../scripts/testhost.sh",
};

int cmd_testhost(int argc, char **argv)
{
	char exe[PATH_MAX], dir[PATH_MAX], script[PATH_MAX], src[PATH_MAX];

	if (!realpath("/proc/self/exe", exe)) {
		fprintf(stderr, "capvm testhost: cannot resolve /proc/self/exe: %s\n", strerror(errno));
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s", exe);
	dirname(dir);

	for (size_t i = 0; i < sizeof(script_candidates) / sizeof(script_candidates[0]); i++) {
		int n = snprintf(script, sizeof(script), "%s%s", dir, script_candidates[i]);
		if (n < 0 || (size_t)n >= sizeof(script) || access(script, X_OK) != 0)
			continue;
		if (!realpath(script, src))
			continue;
		/* src = the tree: strip "/scripts/testhost.sh". */
		dirname(src);
		dirname(src);
		if (setenv("CAPVM", exe, 0) != 0 || setenv("CAPVM_SRC", src, 0) != 0) {
			fprintf(stderr, "capvm testhost: setenv: %s\n", strerror(errno));
			return 1;
		}
		argv[0] = script;
		execv(script, argv);
		fprintf(stderr, "capvm testhost: cannot run %s: %s\n", script, strerror(errno));
		return 1;
	}
	(void)argc;
	fprintf(stderr, "capvm testhost: scripts/testhost.sh not found next to %s "
		"(run capvm from its source tree's build directory)\n", exe);
	return 1;
}
