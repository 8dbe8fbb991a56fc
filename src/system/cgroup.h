/*
 * Memory budgets enforced with the host's memory cgroup.  capvm finds a
 * memory controller it may use -- unified (v2, "memory.max") or legacy
 * (v1, "memory.limit_in_bytes"), whichever this host has -- below the
 * supervisor's own cgroup, and creates
 *     <own cgroup>/capvm.<system>/<vm>
 * per VM.  A VM process joins its cgroup before it execs, so nothing it
 * allocates escapes the limit.
 */
#ifndef CAPVM_SYSTEM_CGROUP_H
#define CAPVM_SYSTEM_CGROUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CG_PATH_MAX 1024

struct cg_root {
	int version;             /* 1 or 2; 0: none usable */
	char base[CG_PATH_MAX];  /* directory of capvm.<system> */
};

/* Finds a usable memory controller and creates capvm.<system> (0), or
 * explains in why what is missing (-1). */
int cg_setup(struct cg_root *root, const char *system, char *why, size_t why_len);
/* Creates the VM's cgroup with its limit; its path goes to out. 0 or -errno. */
int cg_create_vm(const struct cg_root *root, const char *vm, uint64_t limit, char *out,
		 size_t out_len);
/* Moves pid into the cgroup at path (async-signal-safe: usable after fork). */
int cg_join(const char *path, pid_t pid);
/* Removes an (empty) cgroup directory; quiet if it is gone. */
void cg_remove(const char *path);
/* Removes capvm.<system> itself. */
void cg_teardown(const struct cg_root *root);

#endif
