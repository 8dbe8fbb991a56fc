/*
 * Kernel .config parsing and the guest hardening rules behind
 * `capvm guest-check` (docs/operations.md, "guest hardening check").
 *
 * A .config has lines "CONFIG_NAME=value" and "# CONFIG_NAME is not set";
 * everything else is a comment.  The file is user input: lines of any
 * length, missing newlines, NUL bytes and garbage are tolerated (garbage
 * lines are ignored, a file without any option line is rejected by the
 * caller through n_lines_seen).
 */
#include "ops/kconfig.h"

#include <stdlib.h>
#include <string.h>

const struct kc_rule kc_rules[] = {
	/* the seL4 production guide's guest hardening list */
	{ "SECURITY", NULL, KC_WANT_ON, false, true, "security module framework (LSMs)" },
	{ "SECCOMP", NULL, KC_WANT_ON, false, true, "syscall filtering for guest services" },
	{ "STRICT_KERNEL_RWX", NULL, KC_WANT_ON, false, true, "kernel text read-only, data non-executable" },
	{ "HARDENED_USERCOPY", NULL, KC_WANT_ON, false, true, "bounds checks on copies to/from user space" },
	{ "MODULES", NULL, KC_WANT_OFF, false, true, "no loadable modules: the kernel cannot be extended at run time" },
	{ "KEXEC", NULL, KC_WANT_OFF, false, true, "no replacing the running kernel" },
	{ "KEXEC_FILE", NULL, KC_WANT_OFF, false, true, "no replacing the running kernel (file-based kexec)" },
	{ "HIBERNATION", NULL, KC_WANT_OFF, false, true, "no hibernation images (memory written to and read back from disk)" },
	/* other widely recommended settings */
	{ "STACKPROTECTOR_STRONG", NULL, KC_WANT_ON, false, false, "stack canaries" },
	{ "RANDOMIZE_BASE", NULL, KC_WANT_ON, false, false, "kernel address space layout randomisation (KASLR)" },
	{ "DEVMEM", NULL, KC_WANT_OFF, false, false, "no /dev/mem" },
	{ "STRICT_DEVMEM", NULL, KC_WANT_ON, false, false, "if /dev/mem exists, only device ranges" },
	{ "PROC_KCORE", NULL, KC_WANT_OFF, false, false, "no /proc/kcore view of kernel memory" },
	{ "PAGE_TABLE_ISOLATION", "MITIGATION_PAGE_TABLE_ISOLATION", KC_WANT_ON, true, false, "Meltdown mitigation (KPTI)" },
	{ "RETPOLINE", "MITIGATION_RETPOLINE", KC_WANT_ON, true, false, "Spectre v2 mitigation" },
	{ "LEGACY_VSYSCALL_NONE", NULL, KC_WANT_ON, true, false, "no fixed-address vsyscall page" },
	{ "VMAP_STACK", NULL, KC_WANT_ON, false, false, "guard pages around kernel stacks" },
	{ "SCHED_STACK_END_CHECK", NULL, KC_WANT_ON, false, false, "detect kernel stack overruns" },
	{ "INIT_ON_ALLOC_DEFAULT_ON", NULL, KC_WANT_ON, false, false, "zero memory on allocation" },
	{ "SLAB_FREELIST_HARDENED", NULL, KC_WANT_ON, false, false, "harden slab freelist metadata" },
	{ "SLAB_FREELIST_RANDOM", NULL, KC_WANT_ON, false, false, "randomise slab freelists" },
	{ "FORTIFY_SOURCE", NULL, KC_WANT_ON, false, false, "compile-time and run-time buffer checks" },
	{ "BPF_UNPRIV_DEFAULT_OFF", NULL, KC_WANT_ON, false, false, "no unprivileged BPF by default" },
	{ "SECURITY_DMESG_RESTRICT", NULL, KC_WANT_ON, false, false, "kernel log readable by root only" },
	{ "SECURITY_YAMA", NULL, KC_WANT_ON, false, false, "ptrace scope restrictions" },
};
const size_t kc_n_rules = sizeof(kc_rules) / sizeof(kc_rules[0]);

static int kc_add(struct kconfig *kc, const char *name, size_t nlen, const char *val, size_t vlen)
{
	if (kc->n == kc->cap) {
		size_t cap = kc->cap ? kc->cap * 2 : 256;
		char **n = realloc(kc->names, cap * sizeof(*n));
		if (!n)
			return -1;
		kc->names = n;
		char **v = realloc(kc->values, cap * sizeof(*v));
		if (!v)
			return -1;
		kc->values = v;
		kc->cap = cap;
	}
	kc->names[kc->n] = strndup(name, nlen);
	kc->values[kc->n] = strndup(val, vlen);
	if (!kc->names[kc->n] || !kc->values[kc->n]) {
		free(kc->names[kc->n]);
		free(kc->values[kc->n]);
		return -1;
	}
	kc->n++;
	return 0;
}

static bool is_name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

int kconfig_parse(const char *text, size_t len, struct kconfig *kc)
{
	static const char prefix[] = "CONFIG_";
	const size_t plen = sizeof(prefix) - 1;
	size_t pos = 0;

	memset(kc, 0, sizeof(*kc));
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - line) : len - pos;

		pos += ll + (nl ? 1 : 0);
		while (ll && (line[ll - 1] == '\r' || line[ll - 1] == ' '))
			ll--;
		if (ll > plen && !memcmp(line, prefix, plen)) {
			size_t n = plen;
			while (n < ll && is_name_char(line[n]))
				n++;
			if (n == plen || n >= ll || line[n] != '=')
				continue;
			if (kc_add(kc, line + plen, n - plen, line + n + 1, ll - n - 1) < 0)
				return -1;
			kc->n_lines_seen++;
		} else if (ll > 2 + plen && !memcmp(line, "# ", 2) && !memcmp(line + 2, prefix, plen)) {
			static const char notset[] = " is not set";
			if (ll >= sizeof(notset) - 1 &&
			    !memcmp(line + ll - (sizeof(notset) - 1), notset, sizeof(notset) - 1))
				kc->n_lines_seen++;
		}
	}
	return 0;
}

void kconfig_free(struct kconfig *kc)
{
	for (size_t i = 0; i < kc->n; i++) {
		free(kc->names[i]);
		free(kc->values[i]);
	}
	free(kc->names);
	free(kc->values);
	memset(kc, 0, sizeof(*kc));
}

const char *kconfig_get(const struct kconfig *kc, const char *name)
{
	/* the last assignment wins, as in Kconfig */
	for (size_t i = kc->n; i-- > 0;)
		if (!strcmp(kc->names[i], name))
			return kc->values[i];
	return NULL;
}

static bool is_on(const char *v)
{
	return v && (!strcmp(v, "y") || !strcmp(v, "m"));
}

enum kc_verdict kc_judge(const struct kconfig *kc, const struct kc_rule *rule,
			 const char **value, const char **used_name)
{
	const char *v = kconfig_get(kc, rule->name);

	*used_name = rule->name;
	if (!v && rule->alt && kconfig_get(kc, rule->alt)) {
		v = kconfig_get(kc, rule->alt);
		*used_name = rule->alt;
	}
	*value = v;
	if (rule->x86_only && !is_on(kconfig_get(kc, "X86")))
		return KC_NOT_APPLICABLE;
	if (rule->want == KC_WANT_ON)
		return v && !strcmp(v, "y") ? KC_MET : KC_NOT_MET;
	return is_on(v) ? KC_NOT_MET : KC_MET;
}

size_t kc_report(const struct kconfig *kc, FILE *out, bool only_failures)
{
	size_t met = 0, not_met = 0, na = 0;

	for (size_t i = 0; i < kc_n_rules; i++) {
		const struct kc_rule *r = &kc_rules[i];
		const char *v, *name;
		enum kc_verdict verdict = kc_judge(kc, r, &v, &name);
		char have[160], want[32];

		if (verdict == KC_MET)
			met++;
		else if (verdict == KC_NOT_MET)
			not_met++;
		else
			na++;
		if (only_failures && verdict != KC_NOT_MET)
			continue;
		snprintf(have, sizeof(have), "CONFIG_%s%s%.64s", name, v ? "=" : " ", v ? v : "not set");
		snprintf(want, sizeof(want), "want %s", r->want == KC_WANT_ON ? "=y" : "off");
		fprintf(out, "%-8s %-42s %-9s %s%s\n",
			verdict == KC_MET ? "met" : verdict == KC_NOT_MET ? "NOT-MET" : "n/a",
			have, want, r->why, r->guide ? " [guide]" : "");
	}
	fprintf(out, "summary: %zu met, %zu not met%s", met, not_met, na ? "" : "\n");
	if (na)
		fprintf(out, ", %zu not applicable (not an x86 config)\n", na);
	return not_met;
}
