/*
 * Memory cgroups for VM budgets (see cgroup.h).  Detection reads
 * /proc/self/mountinfo (where each hierarchy is mounted) and
 * /proc/self/cgroup (where this process sits in it); v2 is preferred when
 * its memory controller is available, v1 otherwise.
 */
#include "system/cgroup.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n, len = (ssize_t)strlen(val);

	if (fd < 0)
		return -errno;
	n = write(fd, val, (size_t)len);
	if (n != len) {
		int e = n < 0 ? errno : EIO;
		close(fd);
		return -e;
	}
	close(fd);
	return 0;
}

static bool file_has_word(const char *path, const char *word)
{
	char buf[1024], *tok, *save = NULL;
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		if (!strcmp(tok, word))
			return true;
	return false;
}

/* Mount point and root of the hierarchy of fstype (with option opt, if set). */
static bool find_mount(const char *fstype, const char *opt, char *mnt, size_t mnt_len,
		       char *root, size_t root_len)
{
	char line[4096];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		/* id parent maj:min root mountpoint opts... - fstype source superopts */
		char r[1024], m[1024], *dash = strstr(line, " - ");
		char fs[64], src[256], sopts[1024];
		if (!dash || sscanf(line, "%*s %*s %*s %1023s %1023s", r, m) != 2)
			continue;
		if (sscanf(dash + 3, "%63s %255s %1023s", fs, src, sopts) < 2)
			continue;
		if (strcmp(fs, fstype))
			continue;
		if (opt) {
			char *tok, *save = NULL;
			bool has = false;
			for (tok = strtok_r(sopts, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
				if (!strcmp(tok, opt))
					has = true;
			if (!has)
				continue;
		}
		snprintf(mnt, mnt_len, "%s", m);
		snprintf(root, root_len, "%s", r);
		found = true;
	}
	fclose(f);
	return found;
}

/* This process's path in the hierarchy whose /proc/self/cgroup controller
 * list contains ctrl ("" for the v2 line "0::/path"). */
static bool own_path(const char *ctrl, char *out, size_t out_len)
{
	char line[4096];
	FILE *f = fopen("/proc/self/cgroup", "re");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2, *tok, *save = NULL;
		if (!c1 || !(c2 = strchr(c1 + 1, ':')))
			continue;
		*c2 = 0;
		line[strcspn(c2 + 1, "\n") + (size_t)(c2 + 1 - line)] = 0;
		if (!*ctrl) {
			if (c1[1] == 0 && !strncmp(line, "0:", 2))
				found = true;
		} else {
			for (tok = strtok_r(c1 + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
				if (!strcmp(tok, ctrl))
					found = true;
		}
		if (found)
			snprintf(out, out_len, "%s", c2 + 1);
	}
	fclose(f);
	return found;
}

static void sanitize(char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			*s = '_';
}

/* base = mount + (own path with the mount's root taken off) + /capvm.<system> */
static int make_base(struct cg_root *root, const char *mnt, const char *mroot, const char *own,
		     const char *system)
{
	char sys[256];
	size_t rl = strlen(mroot);
	int n;

	if (strcmp(mroot, "/") && !strncmp(own, mroot, rl))
		own += rl;
	snprintf(sys, sizeof(sys), "%s", system);
	sanitize(sys);
	while (own[0] == '/')
		own++;
	n = snprintf(root->base, sizeof(root->base), "%s/%s%scapvm.%s", mnt, own,
		     own[0] && own[strlen(own) - 1] != '/' ? "/" : "", sys);
	if (n < 0 || (size_t)n >= sizeof(root->base))
		return -ENAMETOOLONG;
	if (mkdir(root->base, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int cg_setup(struct cg_root *root, const char *system, char *why, size_t why_len)
{
	char mnt[1024], mroot[1024], own[1024], path[2 * 1024 + 64];
	int r;

	memset(root, 0, sizeof(*root));
	/* v2: the unified hierarchy must offer the memory controller */
	if (find_mount("cgroup2", NULL, mnt, sizeof(mnt), mroot, sizeof(mroot)) &&
	    own_path("", own, sizeof(own))) {
		char parent[2 * 1024 + 8];
		snprintf(parent, sizeof(parent), "%s%s", mnt, own);
		snprintf(path, sizeof(path), "%s/cgroup.controllers", parent);
		if (file_has_word(path, "memory")) {
			snprintf(path, sizeof(path), "%s/cgroup.subtree_control", parent);
			write_str(path, "+memory"); /* may already be on, or refused (EBUSY) */
			r = make_base(root, mnt, mroot, own, system);
			if (r == 0) {
				snprintf(path, sizeof(path), "%s/cgroup.controllers", root->base);
				if (file_has_word(path, "memory")) {
					snprintf(path, sizeof(path), "%s/cgroup.subtree_control",
						 root->base);
					if (write_str(path, "+memory") == 0) {
						root->version = 2;
						return 0;
					}
				}
				rmdir(root->base);
			}
		}
	}
	/* v1: a hierarchy mounted with the memory controller */
	if (find_mount("cgroup", "memory", mnt, sizeof(mnt), mroot, sizeof(mroot)) &&
	    own_path("memory", own, sizeof(own))) {
		r = make_base(root, mnt, mroot, own, system);
		if (r == 0) {
			root->version = 1;
			return 0;
		}
		snprintf(why, why_len, "cannot create %s: %s", root->base, strerror(-r));
		return -1;
	}
	snprintf(why, why_len, "no memory cgroup controller is available (neither cgroup v2 "
		 "with memory in cgroup.controllers nor a v1 memory hierarchy)");
	return -1;
}

int cg_create_vm(const struct cg_root *root, const char *vm, uint64_t limit, char *out,
		 size_t out_len)
{
	char path[CG_PATH_MAX + 64], val[32];
	int n, r;

	n = snprintf(out, out_len, "%s/%s", root->base, vm);
	if (n < 0 || (size_t)n >= out_len)
		return -ENAMETOOLONG;
	if (mkdir(out, 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(val, sizeof(val), "%llu", (unsigned long long)limit);
	if (root->version == 2) {
		snprintf(path, sizeof(path), "%s/memory.max", out);
		r = write_str(path, val);
		if (r == 0) {
			/* no swapping around the budget */
			snprintf(path, sizeof(path), "%s/memory.swap.max", out);
			write_str(path, "0");
		}
	} else {
		snprintf(path, sizeof(path), "%s/memory.limit_in_bytes", out);
		r = write_str(path, val);
		if (r == 0) {
			snprintf(path, sizeof(path), "%s/memory.memsw.limit_in_bytes", out);
			write_str(path, val); /* absent without swap accounting */
		}
	}
	if (r < 0)
		rmdir(out);
	return r;
}

int cg_join(const char *path, pid_t pid)
{
	char file[CG_PATH_MAX + 64], val[24];
	int fd, len;
	ssize_t w;

	/* only async-signal-safe calls: this runs between fork and exec */
	len = snprintf(file, sizeof(file), "%s/cgroup.procs", path);
	if (len < 0 || (size_t)len >= sizeof(file))
		return -ENAMETOOLONG;
	len = snprintf(val, sizeof(val), "%d", (int)pid);
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	w = write(fd, val, (size_t)len);
	if (w != len) {
		int e = w < 0 ? errno : EIO;
		close(fd);
		return -e;
	}
	close(fd);
	return 0;
}

/*
 * Removes a VM's cgroup.  Whatever is still in it was started by that VM
 * (a child that outlived it): it is killed, so nothing of a VM outlives it,
 * and the directory removed once empty (bounded wait).
 */
void cg_remove(const char *path)
{
	char file[CG_PATH_MAX + 64], line[32];

	if (!path || !path[0])
		return;
	for (int tries = 0; tries < 100; tries++) {
		FILE *f;
		if (rmdir(path) == 0 || errno == ENOENT)
			return;
		if (errno != EBUSY)
			return;
		snprintf(file, sizeof(file), "%s/cgroup.procs", path);
		f = fopen(file, "re");
		if (f) {
			while (fgets(line, sizeof(line), f)) {
				int pid = atoi(line);
				if (pid > 0)
					kill(pid, SIGKILL);
			}
			fclose(f);
		}
		usleep(10000);
	}
}

void cg_teardown(const struct cg_root *root)
{
	if (root->version)
		rmdir(root->base);
}
