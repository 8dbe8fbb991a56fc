/*
 * capvm entry point: dispatches `capvm <command> ...` to the command's file
 * in src/cli/ and prints the overview for `capvm --help`.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "run",      cmd_run,      "boot one VM (kernel, initrd, devices from flags)" },
	{ "system",   cmd_system,   "check, start, stop and inspect a system description" },
	{ "health",   cmd_health,   "is every VM of a running system healthy? (exit status; Prometheus metrics)" },
	{ "image",    cmd_image,    "back up, restore and update the disk images of a VM" },
	{ "debug-bundle", cmd_debug_bundle, "collect host, VM status, logs and metrics into a tar.gz" },
	{ "backend",  cmd_backend,  "serve a device outside the VMM (vhost-user back-end)" },
	{ "guest-check", cmd_guest_check, "check a guest kernel config against the hardening list" },
	{ "testhost", cmd_testhost, "run a script inside a test host VM with real KVM (no hardware virtualization needed)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: capvm <command> [options]\n\n"
		   "capvm runs statically partitioned Linux VMs on KVM, with virtio devices\n"
		   "served in the VMM or by isolated device domains.\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "  %-12s %s\n", "version", "print the version and build flags");
	fprintf(f, "\n`capvm <command> --help` describes each command.\n");
}

/*
 * Threads (vCPUs, device I/O, monitor, console input) need little stack.
 * glibc's default is 8 MiB, and where the host's transparent huge pages
 * are "always", touching a stack that large can pull in a whole 2 MiB page
 * per thread; 512 KiB stacks keep the VMM's own memory to what it uses.
 */
static void set_thread_stack_size(void)
{
	pthread_attr_t attr;

	if (pthread_attr_init(&attr) == 0) {
		pthread_attr_setstacksize(&attr, 512 * 1024);
		pthread_setattr_default_np(&attr);
		pthread_attr_destroy(&attr);
	}
}

int main(int argc, char **argv)
{
	set_thread_stack_size();
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("capvm %s (cflags: %s)\n", CAPVM_VERSION, CAPVM_CFLAGS);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "capvm: unknown command '%s' (see capvm --help)\n", argv[1]);
	return 2;
}
