/*
 * `capvm guest-check`: judges a guest kernel's configuration against the
 * hardening list of the seL4 production guide (src/ops/kconfig.c) and
 * exits 0 when every setting is met, 1 when some are not, 2 on bad input,
 * so that scripts and CI can gate guest kernels on it.
 *
 * The config comes from a .config file, or from a kernel image: its
 * embedded config (CONFIG_IKCONFIG, found between the "IKCFG_ST" and
 * "IKCFG_ED" markers, gzip-compressed; only visible in an uncompressed
 * vmlinux) or, for a Debian-style /boot/vmlinuz-VERSION, the
 * /boot/config-VERSION beside it.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "common/util.h"
#include "ops/kconfig.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: capvm guest-check --kernel-config FILE [--failures-only]\n"
		"       capvm guest-check --kernel IMAGE [--failures-only]\n\n"
		"Reports each guest kernel hardening setting (seL4 production guide list,\n"
		"marked [guide], plus common ones) as met or NOT-MET.\n\n"
		"  --kernel-config FILE  a kernel .config (Debian: /boot/config-VERSION)\n"
		"  --kernel IMAGE        a kernel image with an embedded config (CONFIG_IKCONFIG),\n"
		"                        or a vmlinuz-VERSION with config-VERSION beside it\n"
		"  --failures-only       print only the settings that are not met\n\n"
		"exit status: 0 all met, 1 some not met, 2 bad input\n");
}

/* Extracts the embedded IKCONFIG of image (gzip data between markers)
 * through `gzip -dc`.  Returns 0 with *text malloc'd, -1 if none. */
static int embedded_config(const void *img, size_t len, char **text, size_t *text_len)
{
	static const char st[] = "IKCFG_ST", ed[] = "IKCFG_ED";
	const char *start = memmem(img, len, st, sizeof(st) - 1), *end;
	char tmp[] = "/tmp/capvm-ikconfig.XXXXXX", cmd[64];
	FILE *p;
	int fd;

	if (!start)
		return -1;
	start += sizeof(st) - 1;
	end = memmem(start, len - (size_t)(start - (const char *)img), ed, sizeof(ed) - 1);
	if (!end)
		return -1;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -1;
	if (write_all(fd, start, (size_t)(end - start)) < 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	snprintf(cmd, sizeof(cmd), "gzip -dc < %s 2>/dev/null", tmp);
	p = popen(cmd, "r");
	*text = NULL;
	*text_len = 0;
	if (p) {
		FILE *m = open_memstream(text, text_len);
		char buf[65536];
		size_t n;
		while (m && (n = fread(buf, 1, sizeof(buf), p)) > 0)
			fwrite(buf, 1, n, m);
		if (m)
			fclose(m);
		pclose(p);
	}
	unlink(tmp);
	return *text && *text_len ? 0 : -1;
}

int cmd_guest_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kernel-config", required_argument, NULL, 'c' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "failures-only", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *config = NULL, *kernel = NULL;
	bool failures_only = false;
	char *text = NULL, *from = NULL;
	size_t len = 0;
	struct kconfig kc;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'k': kernel = optarg; break;
		case 'f': failures_only = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || !config == !kernel) {
		fprintf(stderr, "capvm guest-check: give exactly one of --kernel-config FILE or --kernel IMAGE\n");
		usage(stderr);
		return 2;
	}
	if (config) {
		void *buf;
		if (read_file(config, &buf, &len) < 0) {
			fprintf(stderr, "capvm guest-check: cannot read %s: %s\n", config, strerror(errno));
			return 2;
		}
		text = buf;
		from = strdup(config);
	} else {
		void *img;
		size_t img_len;
		if (read_file(kernel, &img, &img_len) < 0) {
			fprintf(stderr, "capvm guest-check: cannot read %s: %s\n", kernel, strerror(errno));
			return 2;
		}
		if (embedded_config(img, img_len, &text, &len) == 0) {
			if (asprintf(&from, "%s (embedded IKCONFIG)", kernel) < 0)
				from = NULL;
		} else {
			/* Debian layout: /boot/vmlinuz-V -> /boot/config-V */
			char *copy1 = strdup(kernel), *copy2 = strdup(kernel), *path = NULL;
			const char *base = copy2 ? basename(copy2) : "";
			void *buf;
			if (copy1 && !strncmp(base, "vmlinuz-", 8) &&
			    asprintf(&path, "%s/config-%s", dirname(copy1), base + 8) >= 0 &&
			    read_file(path, &buf, &len) == 0) {
				text = buf;
				from = path;
				path = NULL;
			}
			free(path);
			free(copy1);
			free(copy2);
		}
		free(img);
		if (!text) {
			fprintf(stderr, "capvm guest-check: %s has no embedded config (CONFIG_IKCONFIG; only "
				"an uncompressed vmlinux shows it) and no config-VERSION file beside it; "
				"use --kernel-config FILE\n", kernel);
			return 2;
		}
	}
	if (kconfig_parse(text, len, &kc) < 0) {
		fprintf(stderr, "capvm guest-check: out of memory\n");
		free(text);
		free(from);
		return 2;
	}
	free(text);
	if (kc.n_lines_seen == 0) {
		fprintf(stderr, "capvm guest-check: %s is not a kernel config (no CONFIG_ lines)\n",
			from ? from : "input");
		kconfig_free(&kc);
		free(from);
		return 2;
	}
	printf("guest kernel config: %s\n", from ? from : "?");
	size_t not_met = kc_report(&kc, stdout, failures_only);
	kconfig_free(&kc);
	free(from);
	return not_met ? 1 : 0;
}
