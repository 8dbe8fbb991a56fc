/*
 * Tests of the guest kernel hardening check (src/ops/kconfig.c): .config
 * parsing (set, "is not set", garbage, no trailing newline, CRLF, last
 * assignment wins), verdicts for options wanted on and off, renamed
 * options, the non-x86 case, and the expected verdicts on Debian's own
 * kernel config when `make images` has unpacked it.
 */
#include <glob.h>
#include <stdlib.h>

#include "test.h"
#include "common/util.h"
#include "ops/kconfig.h"

static const struct kc_rule *rule(const char *name)
{
	for (size_t i = 0; i < kc_n_rules; i++)
		if (!strcmp(kc_rules[i].name, name))
			return &kc_rules[i];
	return NULL;
}

static enum kc_verdict judge(const struct kconfig *kc, const char *name)
{
	const char *v, *used;
	const struct kc_rule *r = rule(name);
	return r ? kc_judge(kc, r, &v, &used) : (enum kc_verdict)-1;
}

TEST(parse_lines)
{
	static const char text[] = "#\n# comment\nCONFIG_A=y\r\n# CONFIG_B is not set\nCONFIG_C=\"x y\"\n"
				   "garbage line\nCONFIG_=y\nCONFIG_D\nCONFIG_A=n\nCONFIG_E=m";
	struct kconfig kc;
	CHECK_EQ(kconfig_parse(text, sizeof(text) - 1, &kc), 0);
	CHECK_STR(kconfig_get(&kc, "A"), "n");       /* last assignment wins */
	CHECK(kconfig_get(&kc, "B") == NULL);
	CHECK_STR(kconfig_get(&kc, "C"), "\"x y\"");
	CHECK(kconfig_get(&kc, "D") == NULL);
	CHECK_STR(kconfig_get(&kc, "E"), "m");        /* no trailing newline */
	CHECK_EQ(kc.n_lines_seen, 5);
	kconfig_free(&kc);
}

TEST(empty_and_binary_input)
{
	static const char bin[] = "\0\0CONFIG_\0=\n\xff\xfe";
	struct kconfig kc;
	CHECK_EQ(kconfig_parse("", 0, &kc), 0);
	CHECK_EQ(kc.n_lines_seen, 0);
	kconfig_free(&kc);
	CHECK_EQ(kconfig_parse(bin, sizeof(bin) - 1, &kc), 0);
	CHECK_EQ(kc.n_lines_seen, 0);
	kconfig_free(&kc);
}

TEST(verdicts)
{
	static const char text[] = "CONFIG_X86=y\nCONFIG_SECURITY=y\n# CONFIG_MODULES is not set\n"
				   "CONFIG_KEXEC=y\nCONFIG_SECCOMP=m\nCONFIG_MITIGATION_RETPOLINE=y\n";
	struct kconfig kc;
	const char *v, *used;
	CHECK_EQ(kconfig_parse(text, sizeof(text) - 1, &kc), 0);
	CHECK_EQ(judge(&kc, "SECURITY"), KC_MET);
	CHECK_EQ(judge(&kc, "MODULES"), KC_MET);       /* off and wanted off */
	CHECK_EQ(judge(&kc, "KEXEC"), KC_NOT_MET);
	CHECK_EQ(judge(&kc, "HIBERNATION"), KC_MET);   /* absent = off */
	CHECK_EQ(judge(&kc, "SECCOMP"), KC_NOT_MET);   /* "m" is not "y" */
	CHECK_EQ(judge(&kc, "STRICT_KERNEL_RWX"), KC_NOT_MET);
	CHECK_EQ(kc_judge(&kc, rule("RETPOLINE"), &v, &used), KC_MET);   /* renamed */
	CHECK_STR(used, "MITIGATION_RETPOLINE");
	kconfig_free(&kc);
}

TEST(non_x86)
{
	static const char text[] = "CONFIG_ARM64=y\n";
	struct kconfig kc;
	CHECK_EQ(kconfig_parse(text, sizeof(text) - 1, &kc), 0);
	CHECK_EQ(judge(&kc, "PAGE_TABLE_ISOLATION"), KC_NOT_APPLICABLE);
	CHECK_EQ(judge(&kc, "SECURITY"), KC_NOT_MET);
	kconfig_free(&kc);
}

/* Debian 12's kernel: hardened in most respects, but modular, with kexec,
 * hibernation, /dev/mem and /proc/kcore. */
TEST(debian_kernel_config)
{
	glob_t g;
	void *buf;
	size_t len;
	struct kconfig kc;
	static const char *const met[] = { "SECURITY", "SECCOMP", "STRICT_KERNEL_RWX",
		"HARDENED_USERCOPY", "STACKPROTECTOR_STRONG", "RANDOMIZE_BASE", "STRICT_DEVMEM",
		"PAGE_TABLE_ISOLATION", "RETPOLINE", "INIT_ON_ALLOC_DEFAULT_ON",
		"SLAB_FREELIST_HARDENED", "FORTIFY_SOURCE", "BPF_UNPRIV_DEFAULT_OFF" };
	static const char *const not_met[] = { "MODULES", "KEXEC", "HIBERNATION", "DEVMEM" };

	if (glob("build/guest/kernel/boot/config-*", 0, NULL, &g) != 0)
		SKIP("no build/guest/kernel/boot/config-* (run `make images`)");
	if (read_file(g.gl_pathv[0], &buf, &len) < 0) {
		globfree(&g);
		SKIP("cannot read the Debian kernel config");
	}
	globfree(&g);
	CHECK_EQ(kconfig_parse(buf, len, &kc), 0);
	free(buf);
	for (size_t i = 0; i < sizeof(met) / sizeof(met[0]); i++) {
		if (judge(&kc, met[i]) != KC_MET)
			printf("  expected met: %s\n", met[i]);
		CHECK_EQ(judge(&kc, met[i]), KC_MET);
	}
	for (size_t i = 0; i < sizeof(not_met) / sizeof(not_met[0]); i++) {
		if (judge(&kc, not_met[i]) != KC_NOT_MET)
			printf("  expected not met: %s\n", not_met[i]);
		CHECK_EQ(judge(&kc, not_met[i]), KC_NOT_MET);
	}
	FILE *devnull = fopen("/dev/null", "w");
	CHECK(devnull != NULL);
	if (devnull) {
		CHECK(kc_report(&kc, devnull, false) >= 4);
		fclose(devnull);
	}
	kconfig_free(&kc);
}

int main(void)
{
	RUN(parse_lines);
	RUN(empty_and_binary_input);
	RUN(verdicts);
	RUN(non_x86);
	RUN(debian_kernel_config);
	return test_exit();
}
