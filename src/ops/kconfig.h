/*
 * Guest kernel hardening check (`capvm guest-check`): parses a Linux
 * kernel .config and judges it against the hardening list of the seL4
 * production guide plus a few widely recommended options.  Kept apart
 * from the CLI so that unit tests can feed it configs directly.
 */
#ifndef CAPVM_OPS_KCONFIG_H
#define CAPVM_OPS_KCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* What a hardening rule wants of an option. */
enum kc_want { KC_WANT_ON, KC_WANT_OFF };

enum kc_verdict { KC_MET, KC_NOT_MET, KC_NOT_APPLICABLE };

struct kc_rule {
	const char *name;      /* option without CONFIG_ */
	const char *alt;       /* newer/older name of the same option, or NULL */
	enum kc_want want;
	bool x86_only;         /* judged only for x86 configs */
	bool guide;            /* on the seL4 production guide's list */
	const char *why;
};

/* The rules, in report order. */
extern const struct kc_rule kc_rules[];
extern const size_t kc_n_rules;

/* A parsed .config: option name (without CONFIG_) -> value ("y", "m",
 * "\"str\"", number); options "is not set" are simply absent. */
struct kconfig {
	char **names, **values;
	size_t n, cap;
	size_t n_lines_seen;   /* CONFIG_ lines and "# CONFIG_... is not set" lines */
};

/* Parses text (need not be NUL-terminated).  Returns 0, or -1 (ENOMEM). */
int kconfig_parse(const char *text, size_t len, struct kconfig *kc);
void kconfig_free(struct kconfig *kc);
/* Value of NAME (without CONFIG_), or NULL when not set. */
const char *kconfig_get(const struct kconfig *kc, const char *name);

/* Judges one rule; *value gets the option's value (NULL: not set) and
 * *used_name the name that was found (rule->name or rule->alt). */
enum kc_verdict kc_judge(const struct kconfig *kc, const struct kc_rule *rule,
			 const char **value, const char **used_name);

/* Prints one line per rule and a summary; returns the number not met. */
size_t kc_report(const struct kconfig *kc, FILE *out, bool only_failures);

#endif
