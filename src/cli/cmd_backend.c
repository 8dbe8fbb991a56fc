/*
 * capvm backend: run a device back-end outside the VMM.
 *
 *   capvm backend blk --socket PATH --image FILE[,ro][,serial=S][,cache=...]
 *   capvm backend net --socket PATH --tap NAME[,mac=MAC][,mtu=N]
 *
 * serves capvm's virtio-blk (or virtio-net) model as a vhost-user-blk (or
 * vhost-user-net) back-end on a unix socket, in shared-memory mode (the
 * front-end passes guest RAM as fds): QEMU's vhost-user-blk device or
 * -netdev vhost-user, or `capvm run --disk vhost-user=SOCKET`.
 * One front-end at a time; when it disconnects the next one may connect.
 * SIGINT/SIGTERM end the back-end.
 *
 * Sandbox (backend/sandbox.h), on unless --no-sandbox: `capvm backend`
 * forks; the child, first process of a new PID namespace, opens the image
 * or tap, listens, then enters the sandbox before serving anyone.  The
 * parent holds nothing, forwards SIGINT/SIGTERM and reports how the child
 * ended: "backend killed by seccomp (SIGSYS)" and status 159 when it made a
 * system call outside the allow-list.
 */
#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend_blk.h"
#include "backend/backend_net.h"
#include "backend/sandbox.h"
#include "virtio/virtio.h"
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
		"    --debug         log every vhost-user request\n"
		"    --no-sandbox    for debugging only: serve without the sandbox below\n"
		"usage: capvm backend net --socket PATH --tap NAME[,mac=MAC][,mtu=N]\n"
		"  Serve a tap device as a vhost-user-net back-end on the unix socket PATH\n"
		"  (capvm's virtio-net model: the back-end owns the virtio-net header and\n"
		"  the tap's offloads).  Options:\n"
		"    --socket PATH   unix socket to listen on (a stale file is replaced)\n"
		"    --tap SPEC      tap to open or create, as capvm run --net (mac= is what\n"
		"                    GET_CONFIG reports; QEMU uses its own -device mac=)\n"
		"    --debug         log every vhost-user request\n"
		"    --no-sandbox    for debugging only: serve without the sandbox below\n"
		"Sandbox (default): the back-end runs as a child in new pid, mount, net, ipc\n"
		"  and uts namespaces with an empty read-only root, as uid 65534 when started\n"
		"  as root, with no capabilities, no_new_privs, only the fds it needs, and a\n"
		"  seccomp allow-list.  A system call outside the list kills it; the parent\n"
		"  then logs \"backend killed by seccomp (SIGSYS)\" and exits with status 159\n"
		"  (after another signal N: 128+N; otherwise the child's status).\n");
}

/* vu_backend_listen's hook: the socket listens, the device is open. */
static int enter_sandbox(struct vu_backend *vb, int listen_fd, void *opaque)
{
	struct backend_sandbox_opts *o = opaque;
	char err[512];

	o->keep_fds[o->nr_keep_fds++] = listen_fd;
	if (backend_sandbox_enter(o, err, sizeof(err))) {
		log_error(o->name, "cannot enter the sandbox: %s", err);
		return -1;
	}
	return 0;
}

/*
 * Serve vb on sock until SIGINT/SIGTERM, in the sandbox o unless NULL;
 * 0 or 1.
 */
static int backend_serve_until_signal(struct vu_backend *vb, const char *sock,
				      struct backend_sandbox_opts *o)
{
	/* No SA_RESTART: a signal interrupts poll/accept so we can stop. */
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (o) {
		vb->listening = enter_sandbox;
		vb->listening_opaque = o;
	} else {
		log_warn(vb->dev->name, "running without a sandbox (--no-sandbox: for debugging only)");
	}
	return vu_backend_listen(vb, sock, &backend_stop) ? 1 : 0;
}

/*
 * With the sandbox: close inherited fds and fork (see the top); returns in
 * the child (0) or on error (1, logged).
 */
static int backend_fork(bool sandbox, const char *what, const char *sock)
{
	char err[512];

	if (!sandbox)
		return 0;
	backend_sandbox_close_inherited();
	if (backend_sandbox_fork(what, sock, err, sizeof(err))) {
		fprintf(stderr, "capvm backend: %s (--no-sandbox runs without it)\n", err);
		return 1;
	}
	return 0;
}

static int backend_net(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "tap", required_argument, NULL, 't' },
		{ "debug", no_argument, NULL, 'd' },
		{ "no-sandbox", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *sock = NULL, *tap = NULL;
	bool sandbox = true;
	struct net_options o;
	char spec[256], err[512];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:t:dh", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 't': tap = optarg; break;
		case 'd': log_set_level(LOG_DEBUG); break;
		case 'N': sandbox = false; break;
		case 'h': backend_usage(stdout); return 0;
		default: backend_usage(stderr); return 2;
		}
	}
	if (!sock || !tap || optind != argc) {
		fprintf(stderr, "capvm backend net: --socket and --tap are required\n");
		backend_usage(stderr);
		return 2;
	}
	/* --tap NAME[,opts] is capvm run's --net tap=NAME[,opts]. */
	if ((size_t)snprintf(spec, sizeof(spec), "tap=%s", tap) >= sizeof(spec)) {
		fprintf(stderr, "capvm backend net: --tap: option string too long\n");
		return 2;
	}
	if (virtio_net_parse(spec, &o, err, sizeof(err))) {
		fprintf(stderr, "capvm backend net: --tap: %s\n", err);
		return 2;
	}
	if (backend_fork(sandbox, "vu-net", sock))
		return 1;
	struct vu_backend *vb = backend_net_create(&o, err, sizeof(err));
	if (!vb) {
		fprintf(stderr, "capvm backend net: %s\n", err);
		return 1;
	}
	/* The tap fd is bound to its device and works from the new netns. */
	struct backend_sandbox_opts so = {
		.name = "vu-net", .tap = true, .namespaces = true,
		.keep_files = { "/dev/net/tun" }, .nr_keep_files = 1,
	};
	int rc = backend_serve_until_signal(vb, sock, sandbox ? &so : NULL);
	backend_net_destroy(vb);
	return rc;
}

static int backend_blk(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "image", required_argument, NULL, 'i' },
		{ "debug", no_argument, NULL, 'd' },
		{ "no-sandbox", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *sock = NULL, *image = NULL;
	bool sandbox = true;
	struct blk_options o;
	char err[512];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:i:dh", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'i': image = optarg; break;
		case 'd': log_set_level(LOG_DEBUG); break;
		case 'N': sandbox = false; break;
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
	if (backend_fork(sandbox, "vu-blk", sock))
		return 1;
	struct vu_backend *vb = backend_blk_create(&o, err, sizeof(err));
	if (!vb) {
		fprintf(stderr, "capvm backend blk: %s\n", err);
		return 1;
	}
	/* The image's fds (O_DIRECT and buffered) are the only files kept. */
	struct backend_sandbox_opts so = {
		.name = "vu-blk", .namespaces = true,
		.keep_files = { o.path }, .nr_keep_files = 1,
	};
	int rc = backend_serve_until_signal(vb, sock, sandbox ? &so : NULL);
	backend_blk_destroy(vb);
	return rc;
}

int cmd_backend(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		backend_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "blk"))
		return backend_blk(argc - 1, argv + 1);
	if (!strcmp(argv[1], "net"))
		return backend_net(argc - 1, argv + 1);
	fprintf(stderr, "capvm backend: unknown back-end '%s' (have: blk, net)\n", argv[1]);
	return 2;
}
