/*
 * `capvm system install FILE...`: writes a systemd unit that runs the
 * supervisor of a system description (`capvm system up FILE...`) with
 * Restart=always and the hardening options that fit a VMM
 * (docs/operations.md, "systemd").
 *
 * The description is validated first (as `system check`), so a unit is
 * only written for a system that can start.  Its files tell which paths
 * the service must be able to write (disk images, logs, consoles) under
 * ProtectSystem=strict; every other path of the host stays read-only.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "system/supervisor.h"
#include "system/sysdesc.h"

#define PFX "capvm system install: "

static void usage(FILE *f)
{
	fprintf(f,
		"usage: capvm system install [--unit-dir DIR] [--capvm PATH] [--stdout] FILE...\n\n"
		"Writes DIR/capvm-NAME.service (DIR default /etc/systemd/system) running\n"
		"`capvm system up FILE...` under systemd with Restart=always, RestartSec=10\n"
		"and hardening (NoNewPrivileges, ProtectSystem=strict, PrivateTmp, ProtectHome,\n"
		"DevicePolicy=closed with /dev/kvm and /dev/net/tun allowed).  Then:\n"
		"  systemctl daemon-reload && systemctl enable --now capvm-NAME\n");
}

/* A word for a unit file's command line or path setting: quoted when it
 * holds blanks or quotes; '%' doubled (specifier), '$' doubled. */
static void put_word(FILE *f, const char *w)
{
	bool quote = w[strcspn(w, " \t\"'\\")] != 0;

	if (quote)
		fputc('"', f);
	for (const char *p = w; *p; p++) {
		if (*p == '%' || *p == '$')
			fputc(*p, f);
		else if (quote && (*p == '"' || *p == '\\'))
			fputc('\\', f);
		fputc(*p, f);
	}
	if (quote)
		fputc('"', f);
}

/* Writable directory of path (for ReadWritePaths), or NULL. */
static char *dir_of(const char *path)
{
	char *c = strdup(path), *d, *r;

	if (!c)
		return NULL;
	d = dirname(c);
	r = d[0] == '/' ? strdup(d) : NULL;
	free(c);
	return r;
}

static bool under_tmp(const char *p)
{
	if (p && (!strncmp(p, "file:", 5) || !strncmp(p, "unix:", 5)))
		p += 5;
	return p && (!strncmp(p, "/tmp/", 5) || !strncmp(p, "/var/tmp/", 9));
}

static bool under_home(const char *p)
{
	return p && (!strncmp(p, "/home/", 6) || !strncmp(p, "/root/", 6) ||
		     !strncmp(p, "/run/user/", 10));
}

/* Adds the directory of path to rw (unique, at most max). */
static void add_rw(char **rw, int *n, int max, const char *path)
{
	char *d;

	if (!path)
		return;
	if (!strncmp(path, "file:", 5))
		path += 5;
	else if (!strncmp(path, "unix:", 5))
		path += 5;
	if (path[0] != '/' || *n >= max)
		return;
	d = dir_of(path);
	if (!d)
		return;
	for (int i = 0; i < *n; i++)
		if (!strcmp(rw[i], d)) {
			free(d);
			return;
		}
	rw[(*n)++] = d;
}

static int write_unit(FILE *f, const struct sd_system *sys, const char *capvm, char **files,
		      int n_files, const char *control)
{
	char *rw[128];
	int n_rw = 0;
	bool home = false, tmp = false;

	for (int i = 0; i < n_files; i++)
		home |= under_home(files[i]);
	for (size_t v = 0; v < sys->n_vms; v++) {
		const struct sd_vm *vm = &sys->vms[v];
		for (int d = 0; d < vm->n_devs; d++)
			if (vm->devs[d].kind == SD_DEV_DISK && vm->devs[d].spec) {
				char *img = strndup(vm->devs[d].spec, strcspn(vm->devs[d].spec, ","));
				add_rw(rw, &n_rw, 128, img);
				home |= under_home(img);
				free(img);
			}
		/* a device domain's image (its back-end opens it read-write) */
		if (vm->kind == SD_KIND_DEVICE_DOMAIN && vm->dd_image) {
			char *img = strndup(vm->dd_image, strcspn(vm->dd_image, ","));
			add_rw(rw, &n_rw, 128, img);
			home |= under_home(img);
			free(img);
		}
		add_rw(rw, &n_rw, 128, vm->log);
		add_rw(rw, &n_rw, 128, vm->console_log);
		if (vm->console && !strncmp(vm->console, "file:", 5))
			add_rw(rw, &n_rw, 128, vm->console);
		if (vm->monitor && !strncmp(vm->monitor, "unix:", 5)) {
			char *p = strndup(vm->monitor, strcspn(vm->monitor, ","));
			add_rw(rw, &n_rw, 128, p);
			free(p);
		}
		home |= under_home(vm->kernel) || under_home(vm->initrd) || under_home(vm->log);
		/* sockets and files others must reach cannot live in a private /tmp */
		tmp |= under_tmp(vm->monitor) || under_tmp(vm->console) || under_tmp(vm->console_log) ||
		       under_tmp(vm->log);
	}
	fprintf(f, "# Written by `capvm system install`; see docs/operations.md (systemd).\n"
		   "[Unit]\n"
		   "Description=capvm system %s (one VMM process per VM)\n"
		   "After=network.target\n\n"
		   "[Service]\n"
		   "Type=simple\n"
		   "ExecStart=", sys->name);
	put_word(f, capvm);
	fprintf(f, " system up --control ");
	put_word(f, control);
	for (int i = 0; i < n_files; i++) {
		fputc(' ', f);
		put_word(f, files[i]);
	}
	fprintf(f, "\nExecStop=");
	put_word(f, capvm);
	fprintf(f, " system down --control ");
	put_word(f, control);
	fprintf(f, "\n"
		   "# SIGHUP reopens the log files (logrotate)\n"
		   "ExecReload=/bin/kill -HUP $MAINPID\n"
		   "Restart=always\n"
		   "RestartSec=10\n"
		   "# `system down` waits --stop-timeout (30 s) for the guests to power off\n"
		   "TimeoutStopSec=60\n"
		   "KillMode=mixed\n"
		   "RuntimeDirectory=capvm\n"
		   "RuntimeDirectoryPreserve=yes\n"
		   "LimitMEMLOCK=infinity\n"
		   "UMask=0077\n"
		   "# hardening: a VMM needs /dev/kvm, /dev/net/tun, cgroups (memory budgets)\n"
		   "# and real-time scheduling for realtime VMs, little else\n"
		   "NoNewPrivileges=yes\n"
		   "%s"
		   "ProtectSystem=strict\n"
		   "ProtectHome=%s\n"
		   "ProtectKernelModules=yes\n"
		   "ProtectKernelLogs=yes\n"
		   "ProtectHostname=yes\n"
		   "LockPersonality=yes\n"
		   "RestrictSUIDSGID=yes\n"
		   "SystemCallArchitectures=native\n"
		   "DevicePolicy=closed\n"
		   "DeviceAllow=/dev/kvm rw\n"
		   "DeviceAllow=/dev/net/tun rw\n"
		   "DeviceAllow=/dev/vhost-net rw\n"
		   "DeviceAllow=/dev/vhost-vsock rw\n"
		   "ReadWritePaths=/run/capvm\n"
		   "ReadWritePaths=-/sys/fs/cgroup\n"
		   "ReadWritePaths=-/dev/hugepages\n",
		tmp ? "# PrivateTmp=no: the description puts monitor sockets or logs under /tmp,\n"
		      "# where `capvm image`, `health` and operators must reach them\nPrivateTmp=no\n"
		    : "PrivateTmp=yes\n",
		home ? "read-only" : "yes");
	for (int i = 0; i < n_rw; i++) {
		/* "-": a directory that does not exist yet is no start failure */
		fprintf(f, "ReadWritePaths=-");
		put_word(f, rw[i]);
		fputc('\n', f);
		free(rw[i]);
	}
	fprintf(f, "\n[Install]\nWantedBy=multi-user.target\n");
	return ferror(f) ? -1 : 0;
}

int cmd_system_install(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "unit-dir", required_argument, NULL, 'u' },
		{ "capvm", required_argument, NULL, 'c' },
		{ "stdout", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *unit_dir = "/etc/systemd/system";
	char capvm[PATH_MAX] = "", *files[64], unit[PATH_MAX], tmp[PATH_MAX + 8], *control;
	bool to_stdout = false;
	struct sd_system sys;
	struct sd_host host;
	struct sd_diags diags = { 0 };
	int c, n_files = 0, r;
	FILE *f;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': unit_dir = optarg; break;
		case 'c':
			if (!realpath(optarg, capvm)) {
				fprintf(stderr, PFX "--capvm %s: %s\n", optarg, strerror(errno));
				return 2;
			}
			break;
		case 's': to_stdout = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc || argc - optind > 64) {
		fprintf(stderr, PFX "give 1 to 64 description FILEs\n");
		usage(stderr);
		return 2;
	}
	/* the unit runs from / : absolute paths only */
	for (int i = optind; i < argc; i++) {
		files[n_files] = realpath(argv[i], NULL);
		if (!files[n_files]) {
			fprintf(stderr, PFX "cannot read description %s: %s\n", argv[i], strerror(errno));
			for (int k = 0; k < n_files; k++)
				free(files[k]);
			return 1;
		}
		n_files++;
	}
	if (!capvm[0]) {
		ssize_t l = readlink("/proc/self/exe", capvm, sizeof(capvm) - 1);
		capvm[l > 0 ? l : 0] = 0;
	}
	sd_host_probe(&host);
	r = sd_load(files, n_files, &host, &sys, &diags);
	sd_diag_print(&diags, stderr);
	sd_diag_free(&diags);
	if (r < 0) {
		fprintf(stderr, PFX "the description is invalid; no unit written\n");
		sd_system_free(&sys);
		for (int k = 0; k < n_files; k++)
			free(files[k]);
		return 1;
	}
	control = sup_default_control(sys.name);
	snprintf(unit, sizeof(unit), "%s/capvm-%s.service", unit_dir, sys.name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", unit);
	r = 0;
	if (to_stdout) {
		r = write_unit(stdout, &sys, capvm, files, n_files, control);
	} else if (!(f = fopen(tmp, "w"))) {
		fprintf(stderr, PFX "cannot write %s: %s\n", unit, strerror(errno));
		r = -1;
	} else {
		r = write_unit(f, &sys, capvm, files, n_files, control);
		if (fflush(f) != 0 || fsync(fileno(f)) < 0)
			r = -1;
		if (fclose(f) != 0)
			r = -1;
		if (r == 0 && (chmod(tmp, 0644) < 0 || rename(tmp, unit) < 0))
			r = -1;
		if (r < 0) {
			fprintf(stderr, PFX "cannot write %s: %s\n", unit, strerror(errno));
			unlink(tmp);
		} else {
			printf("wrote %s\nenable it with: systemctl daemon-reload && systemctl enable "
			       "--now capvm-%s\n", unit, sys.name);
		}
	}
	free(control);
	sd_system_free(&sys);
	for (int k = 0; k < n_files; k++)
		free(files[k]);
	return r < 0 ? 1 : 0;
}
