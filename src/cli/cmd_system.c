/*
 * capvm system: check, start (supervise), inspect and stop a system of VMs
 * and device domains described in one or more CAmkES-style files.
 *   capvm system check FILE...    validate and print what each VM gets
 *   capvm system up FILE...       validate, then run the supervisor
 *   capvm system status [NAME]    ask a running supervisor
 *   capvm system down [NAME]      stop every VM, then the supervisor
 * Invalid descriptions exit with status 2 and "file:line:column: message".
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/util.h"
#include "system/supervisor.h"
#include "system/sysdesc.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: capvm system check [--quiet] FILE...\n"
		"       capvm system up [--dry-run] [--control PATH] [--log PATH]\n"
		"                       [--stop-timeout SECONDS] [--runtime-dir DIR] FILE...\n"
		"       capvm system status [--json] [--control PATH] [NAME]\n"
		"       capvm system down [--control PATH] [NAME]\n"
		"       capvm system install [--unit-dir DIR] FILE...  (systemd unit; --help)\n"
		"\n"
		"A system description declares VMs, device domains (back-end processes) and\n"
		"dataports (see docs/system-description.md).\n"
		"Several FILEs are merged in order; a later setting overrides an earlier one.\n"
		"\n"
		"  check          validate and print what each VM will get; exit 2 if invalid\n"
		"  up             validate, then start every device domain (`capvm backend`)\n"
		"                 and VM (`capvm run`) and supervise them in the foreground\n"
		"                 (docs/supervisor.md)\n"
		"  status         list each VM and device domain: state, PID, uptime, restarts\n"
		"  down           stop every VM, then the device domains (SIGTERM, then\n"
		"                 SIGKILL after the timeout)\n"
		"\n"
		"  --control PATH   control socket (default " SUP_CONTROL_DIR "/NAME.sock, or\n"
		"                   $XDG_RUNTIME_DIR/capvm/NAME.sock when not root; NAME is\n"
		"                   the first file's name without extension)\n"
		"  --log PATH       also write the supervisor's log to PATH (SIGHUP reopens)\n"
		"  --stop-timeout S seconds `down` waits before SIGKILL (default %d)\n"
		"  --runtime-dir D  where device domains' sockets go (default: the control\n"
		"                   socket's directory / NAME)\n"
		"  --dry-run        print the command line of each device domain and VM, in\n"
		"                   start order, instead of starting them\n"
		"  --json           status as JSON\n"
		"  --quiet          check: print only problems\n",
		SUP_DEFAULT_STOP_TIMEOUT_MS / 1000);
}

/* Parses and validates; prints diagnostics.  Returns 0 or 2. */
static int load(char **files, int n, struct sd_system *sys)
{
	struct sd_host host;
	struct sd_diags diags = { 0 };
	int r;

	sd_host_probe(&host);
	r = sd_load(files, n, &host, sys, &diags);
	sd_diag_print(&diags, stderr);
	if (r < 0)
		fprintf(stderr, "capvm system: %zu error%s; nothing started\n", diags.n_errors,
			diags.n_errors == 1 ? "" : "s");
	sd_diag_free(&diags);
	return r < 0 ? 2 : 0;
}

enum { OPT_CONTROL = 1, OPT_LOG, OPT_STOP_TIMEOUT, OPT_DRY_RUN, OPT_JSON, OPT_QUIET,
       OPT_RUNTIME_DIR };

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "control", required_argument, NULL, OPT_CONTROL },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR },
	{ NULL, 0, NULL, 0 },
};

/* The control socket for status/down: --control, NAME, or the only one. */
static char *find_control(const char *control, const char *name)
{
	DIR *d;
	struct dirent *e;
	char *found = NULL;
	int n = 0;

	if (control)
		return strdup(control);
	if (name)
		return sup_default_control(name);
	d = opendir(sup_control_dir());
	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l > 5 && !strcmp(e->d_name + l - 5, ".sock")) {
			n++;
			free(found);
			if (asprintf(&found, "%s/%s", sup_control_dir(), e->d_name) < 0)
				found = NULL;
		}
	}
	closedir(d);
	if (n != 1) {
		free(found);
		return NULL;
	}
	return found;
}

int cmd_system(int argc, char **argv)
{
	const char *sub, *control = NULL, *runtime_dir = NULL;
	struct sup_options opt = { .stop_timeout_ms = SUP_DEFAULT_STOP_TIMEOUT_MS };
	bool dry_run = false, json = false, quiet = false;
	uint64_t secs;
	int c, r;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	sub = argv[1];
	if (!strcmp(sub, "install"))   /* systemd unit: src/cli/cmd_system_install.c */
		return cmd_system_install(argc - 1, argv + 1);
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case OPT_CONTROL: control = optarg; break;
		case OPT_LOG: opt.log_path = optarg; break;
		case OPT_STOP_TIMEOUT:
			if (parse_uint(optarg, 0, 3600, &secs) < 0) {
				fprintf(stderr, "capvm system: --stop-timeout wants seconds (0-3600)\n");
				return 2;
			}
			opt.stop_timeout_ms = (unsigned)secs * 1000;
			break;
		case OPT_DRY_RUN: dry_run = true; break;
		case OPT_JSON: json = true; break;
		case OPT_QUIET: quiet = true; break;
		case OPT_RUNTIME_DIR: runtime_dir = optarg; break;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;

	if (!strcmp(sub, "check") || !strcmp(sub, "up")) {
		struct sd_system sys;
		if (argc < 1) {
			fprintf(stderr, "capvm system %s: no description file given\n", sub);
			return 2;
		}
		r = load(argv, argc, &sys);
		if (r) {
			sd_system_free(&sys);
			return r;
		}
		if (runtime_dir && !(sys.runtime_dir = strdup(runtime_dir)))
			abort();
		if (!strcmp(sub, "check")) {
			if (!quiet)
				sd_system_print(&sys, stdout);
		} else if (dry_run) {
			/* start order: device domains, then VMs */
			for (int pass = 0; pass < 2; pass++) {
				for (size_t i = 0; i < sys.n_vms; i++) {
					char **a;
					if ((sys.vms[i].kind == SD_KIND_DEVICE_DOMAIN) != (pass == 0))
						continue;
					a = sup_build_argv(&sys, i, NULL, opt.log_path);
					for (char **p = a; *p; p++)
						printf("%s%s", p == a ? "" : " ", *p);
					printf("\n");
					sup_free_argv(a);
				}
			}
		} else {
			opt.control_path = control;
			r = supervisor_run(&sys, &opt);
		}
		sd_system_free(&sys);
		return r;
	}
	if (!strcmp(sub, "status") || !strcmp(sub, "down")) {
		char *path = find_control(control, argc > 0 ? argv[0] : NULL);
		if (!path) {
			fprintf(stderr, "capvm system %s: no supervisor found; give NAME or --control "
				"PATH\n", sub);
			return 1;
		}
		r = sup_request(path, !strcmp(sub, "down") ? "down" : json ? "status json" : "status",
				stdout);
		if (r < 0)
			fprintf(stderr, "capvm system %s: no supervisor at %s: %s\n", sub, path,
				strerror(-r));
		free(path);
		return r < 0 ? 1 : 0;
	}
	fprintf(stderr, "capvm system: unknown subcommand '%s' (see capvm system --help)\n", sub);
	return 2;
}
