/*
 * capvm backend: run a device back-end outside the VMM.
 *
 *   capvm backend blk --socket PATH --image FILE[,ro][,serial=S][,cache=...]
 *
 * serves capvm's virtio-blk model as a vhost-user-blk back-end on a unix
 * socket, in shared-memory mode (the front-end passes guest RAM as fds):
 * QEMU's vhost-user-blk device or `capvm run --disk vhost-user=SOCKET`.
 * One front-end at a time; when it disconnects the next one may connect.
 * SIGINT/SIGTERM end the back-end.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend_blk.h"
#include "cli/commands.h"
#include "common/log.h"

static volatile int backend_stop;

static void on_signal(int sig)
{
	(void)sig;
	backend_stop = 1;
}

static void backend_usage(FILE *f)
{
	fprintf(f,
		"usage: capvm backend blk --socket PATH --image FILE[,ro][,serial=S][,cache=writeback|none]\n"
		"  Serve a disk image as a vhost-user-blk back-end on the unix socket PATH\n"
		"  (shared-memory mode: the front-end passes guest RAM).  Options:\n"
		"    --socket PATH   unix socket to listen on (a stale file is replaced)\n"
		"    --image SPEC    raw image and options, as capvm run --disk\n"
		"    --debug         log every vhost-user request\n");
}

static int backend_blk(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "image", required_argument, NULL, 'i' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *sock = NULL, *image = NULL;
	struct blk_options o;
	char err[512];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:i:dh", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'i': image = optarg; break;
		case 'd': log_set_level(LOG_DEBUG); break;
		case 'h': backend_usage(stdout); return 0;
		default: backend_usage(stderr); return 2;
		}
	}
	if (!sock || !image || optind != argc) {
		fprintf(stderr, "capvm backend blk: --socket and --image are required\n");
		backend_usage(stderr);
		return 2;
	}
	if (virtio_blk_parse(image, &o, err, sizeof(err))) {
		fprintf(stderr, "capvm backend blk: --image: %s\n", err);
		return 2;
	}
	struct vu_backend *vb = backend_blk_create(&o, err, sizeof(err));
	if (!vb) {
		fprintf(stderr, "capvm backend blk: %s\n", err);
		return 1;
	}
	/* No SA_RESTART: a signal interrupts poll/accept so we can stop. */
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	int rc = vu_backend_listen(vb, sock, &backend_stop);
	backend_blk_destroy(vb);
	return rc ? 1 : 0;
}

int cmd_backend(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		backend_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "blk"))
		return backend_blk(argc - 1, argv + 1);
	fprintf(stderr, "capvm backend: unknown back-end '%s' (have: blk)\n", argv[1]);
	return 2;
}
