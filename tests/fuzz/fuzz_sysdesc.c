/*
 * Fuzz target for the system description parser and validator: any input
 * must produce either a system or diagnostics, never a crash, a leak or
 * undefined behaviour.  The input is split at the first NUL byte into two
 * files, so merging and overriding are fuzzed too.  Valid systems are also
 * printed and turned into `capvm run` command lines.
 */
#include <stdio.h>
#include <string.h>

#include "system/supervisor.h"
#include "system/sysdesc.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static FILE *devnull;
	struct sd_host host;
	struct sd_doc doc;
	struct sd_system sys;
	struct sd_diags diags = { 0 };
	const char *text = (const char *)data;
	const char *nul = memchr(data, 0, size);
	size_t first = nul ? (size_t)(nul - text) : size;
	int r;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	memset(&host, 0, sizeof(host));
	host.n_cpus = 2;
	host.online[0] = host.online[1] = 1;
	host.mem_bytes = 4ULL << 30;
	memset(&doc, 0, sizeof(doc));
	memset(&sys, 0, sizeof(sys));

	r = sd_parse_buffer(&doc, "a.camkes", "/nonexistent", text, first, &diags);
	if (r == 0 && nul)
		r = sd_parse_buffer(&doc, "b.camkes", "/nonexistent", nul + 1, size - first - 1,
				    &diags);
	if (r == 0 && sd_validate(&doc, &host, &sys, &diags) == 0) {
		int fds[SD_MAX_DATAPORTS * SD_MAX_VMS];
		for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
			fds[i] = 3;
		if (devnull)
			sd_system_print(&sys, devnull);
		for (size_t i = 0; i < sys.n_vms; i++)
			sup_free_argv(sup_build_argv(&sys, i, sys.n_dps <= sizeof(fds) / sizeof(fds[0])
							       ? fds : NULL, NULL));
	}
	if (devnull)
		sd_diag_print(&diags, devnull);
	sd_system_free(&sys);
	sd_doc_free(&doc);
	sd_diag_free(&diags);
	return 0;
}
