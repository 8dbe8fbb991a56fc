/*
 * `capvm image backup | restore | update`: consistent copies of a running
 * VM's disk images and atomic replacement with a boot test and automatic
 * roll-back (docs/operations.md, "images").
 *
 * Backup: the VM is paused through its monitor (`stop`: every vCPU parked,
 * so the guest issues no new request), then we wait until the block
 * counters stop moving (requests already queued complete; the blk device
 * completes a write only after the backend wrote it, and a FLUSH only
 * after fdatasync), copy each image (reflink with FICLONE where the file
 * system can, else a sparse copy_file_range copy; qcow2 through
 * `qemu-img convert`), resume (`cont`) and then write a sha256 manifest.
 * The copy holds every write the guest saw acknowledged before the pause:
 * what a power cut at that instant would leave, with nothing torn.
 *
 * Replace (restore into a VM, update): the new image is copied beside the
 * old one, the VM is paused, the old image is hard-linked to IMAGE.prev and
 * the new one renamed over IMAGE (atomic), and the VMM is killed so that
 * its supervisor starts it again on the new image.  The new VM is healthy
 * when it runs under a new pid, reaches the ready marker on its console
 * (when one is given) and then stays up for the settle time with its
 * monitor saying "running"; otherwise IMAGE.prev is renamed back, the
 * failed image is kept as IMAGE.failed, and the VM is restarted on the old
 * image.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#include "cli/commands.h"
#include "common/util.h"
#include "ops/vmref.h"

#define PFX "capvm image: "

struct image_opts {
	const char *control;
	const char *monitor;        /* explicit --monitor */
	bool monitor_qmp;
	const char *disks[OPS_MAX_DISKS]; /* explicit --disk */
	int n_disks;
	int disk_index;             /* update: which disk of the VM */
	const char *ready_marker;
	unsigned boot_timeout_s, settle_s;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: capvm image backup VM DEST [--control PATH]\n"
		"       capvm image backup --disk IMAGE [--disk IMAGE...] [--monitor ADDR|--qmp ADDR] DEST\n"
		"       capvm image restore BACKUP VM|IMAGE [--control PATH] [health options]\n"
		"       capvm image update VM NEW-IMAGE [--disk-index N] [--control PATH] [health options]\n\n"
		"backup: pause the VM, copy (reflink where possible) every disk into the\n"
		"        directory DEST with a sha256 manifest (MANIFEST.sha256), resume.\n"
		"restore: put the images of backup directory BACKUP (or one image file) back,\n"
		"        into a VM run by a supervisor (boot-tested, rolled back if unhealthy)\n"
		"        or over an image file that no VM uses.\n"
		"update: replace disk N (default 0) of VM with NEW-IMAGE, boot-test, roll back\n"
		"        if unhealthy.  The previous image is kept as IMAGE.prev.\n\n"
		"health options (restore into a VM, update):\n"
		"  --ready-marker TEXT   the new boot must print TEXT on its console (file)\n"
		"  --boot-timeout S      wait this long for the new VM and its marker (default 180)\n"
		"  --settle S            then it must stay running this long (default 10)\n\n"
		"exit status: 0 done, 1 failed (or rolled back), 2 usage\n");
}

/* ---- copying ---- */

static bool is_qcow2(const char *path)
{
	unsigned char magic[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool q = false;

	if (fd >= 0 && read(fd, magic, 4) == 4)
		q = !memcmp(magic, "QFI\xfb", 4);
	if (fd >= 0)
		close(fd);
	return q;
}

static int run_cmd(char *const argv[], bool quiet)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (quiet) {
			int n = open("/dev/null", O_WRONLY);
			if (n >= 0) {
				dup2(n, 1);
				dup2(n, 2);
			}
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Sparse copy of src to dst (already open, empty): data extents through
 * copy_file_range, holes left as holes. */
static int sparse_copy(int in, int out, off_t size)
{
	off_t pos = 0;

	while (pos < size) {
		off_t data = lseek(in, pos, SEEK_DATA), hole;
		if (data < 0) {
			if (errno == ENXIO)
				break;            /* only a hole is left */
			data = pos;           /* no SEEK_DATA: copy everything */
			hole = size;
		} else {
			hole = lseek(in, data, SEEK_HOLE);
			if (hole < 0)
				hole = size;
		}
		for (off_t o = data; o < hole;) {
			loff_t io = o, oo = o;
			size_t chunk = (size_t)(hole - o > (1 << 30) ? (1 << 30) : hole - o);
			ssize_t n = copy_file_range(in, &io, out, &oo, chunk, 0);
			if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
				      errno == EOPNOTSUPP)) {
				char buf[1 << 16];
				n = pread(in, buf, chunk < sizeof(buf) ? chunk : sizeof(buf), o);
				if (n > 0 && pwrite(out, buf, (size_t)n, o) != n)
					n = -1;
			}
			if (n <= 0)
				return n < 0 ? -errno : -EIO;
			o += n;
		}
		pos = hole;
	}
	return ftruncate(out, size) < 0 ? -errno : 0;
}

/*
 * Copies src to dst (created; must not exist).  *method says how:
 * "reflink", "copy" or "qemu-img convert".  Returns 0 or -errno with a
 * message printed.
 */
static int copy_image(const char *src, const char *dst, const char **method)
{
	struct stat st;
	int in, out, r = 0;

	if (is_qcow2(src)) {
		char *argv[] = { "qemu-img", "convert", "-U", "-f", "qcow2", "-O", "qcow2",
				 (char *)src, (char *)dst, NULL };
		*method = "qemu-img convert";
		r = run_cmd(argv, false);
		if (r) {
			fprintf(stderr, PFX "qemu-img convert %s -> %s failed (status %d)\n", src, dst, r);
			return -EIO;
		}
		return 0;
	}
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0) {
		r = -errno;
		fprintf(stderr, PFX "cannot read %s: %s\n", src, strerror(errno));
		if (in >= 0)
			close(in);
		return r;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		r = -errno;
		fprintf(stderr, PFX "cannot create %s: %s\n", dst, strerror(errno));
		close(in);
		return r;
	}
	if (S_ISREG(st.st_mode) && ioctl(out, FICLONE, in) == 0) {
		*method = "reflink";
	} else {
		*method = "copy";
		off_t size = st.st_size;
		if (S_ISBLK(st.st_mode)) {
			uint64_t bytes;
			size = ioctl(in, BLKGETSIZE64, &bytes) == 0 ? (off_t)bytes : 0;
		}
		r = sparse_copy(in, out, size);
	}
	if (r == 0 && fsync(out) < 0)
		r = -errno;
	if (r < 0) {
		fprintf(stderr, PFX "copying %s to %s failed: %s\n", src, dst, strerror(-r));
		unlink(dst);
	}
	close(out);
	close(in);
	return r;
}

static void fsync_dir_of(const char *path)
{
	char *c = strdup(path);
	int fd = c ? open(dirname(c), O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(c);
}

/* ---- pause / resume ---- */

/* Sum of the block devices' completed-work counters from `info counters`. */
static long long blk_activity(const struct ops_vm *vm)
{
	int err = 0;
	char *out = ops_monitor_hmp(vm->monitor, vm->monitor_qmp, "info counters", 5000, &err);
	long long sum = 0;

	if (!out)
		return -1;
	for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
		char *colon = strchr(l, ':');
		if (colon && (strstr(l, ".bytes_written:") || strstr(l, ".bytes_read:") ||
			      strstr(l, ".flushes:") || strstr(l, ".writes:") || strstr(l, ".kicks:")))
			sum += strtoll(colon + 1, NULL, 10);
	}
	free(out);
	return sum;
}

static int vm_pause(const struct ops_vm *vm)
{
	int err = 0;
	char *out = ops_monitor_hmp(vm->monitor, vm->monitor_qmp, "stop", 5000, &err);

	if (!out) {
		fprintf(stderr, PFX "cannot pause VM %s through its monitor %s: %s\n", vm->name,
			vm->monitor, strerror(-err));
		return -1;
	}
	free(out);
	out = ops_monitor_hmp(vm->monitor, vm->monitor_qmp, "info status", 5000, &err);
	if (!out || !strstr(out, "paused")) {
		fprintf(stderr, PFX "VM %s did not pause (monitor says: %s)\n", vm->name,
			out ? out : strerror(-err));
		free(out);
		return -1;
	}
	free(out);
	/* requests queued before the pause complete on the I/O thread: wait
	 * until the counters stand still for 300 ms (at most 10 s) */
	long long prev = blk_activity(vm);
	for (int i = 0; i < 33; i++) {
		struct timespec ts = { 0, 300 * 1000000L };
		long long cur;
		nanosleep(&ts, NULL);
		cur = blk_activity(vm);
		if (cur == prev)
			break;
		prev = cur;
	}
	return 0;
}

static void vm_resume(const struct ops_vm *vm)
{
	int err = 0;
	char *out = ops_monitor_hmp(vm->monitor, vm->monitor_qmp, "cont", 5000, &err);

	if (!out)
		fprintf(stderr, PFX "WARNING: could not resume VM %s through %s: %s; "
			"resume it with the monitor command `cont`\n", vm->name, vm->monitor,
			strerror(-err));
	free(out);
}

/* ---- backup ---- */

static int make_dest_dir(const char *dest)
{
	char probe[PATH_MAX];
	int fd;

	if (mkdir(dest, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, PFX "cannot create backup directory %s: %s\n", dest, strerror(errno));
		return -1;
	}
	snprintf(probe, sizeof(probe), "%s/MANIFEST.sha256", dest);
	if (access(probe, F_OK) == 0) {
		fprintf(stderr, PFX "%s already holds a backup (MANIFEST.sha256); choose a new "
			"directory\n", dest);
		return -1;
	}
	snprintf(probe, sizeof(probe), "%s/.capvm-write-test", dest);
	fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, PFX "cannot write to backup directory %s: %s\n", dest, strerror(errno));
		return -1;
	}
	close(fd);
	unlink(probe);
	return 0;
}

/* sha256sum of the files, in the directory, into MANIFEST.sha256. */
static int write_manifest(const char *dest, char **files, int n)
{
	char *argv[OPS_MAX_DISKS + 3];
	char path[PATH_MAX], *cwd = getcwd(NULL, 0);
	int fd, saved, r;

	snprintf(path, sizeof(path), "%s/MANIFEST.sha256", dest);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || chdir(dest) < 0) {
		fprintf(stderr, PFX "cannot write %s: %s\n", path, strerror(errno));
		free(cwd);
		return -1;
	}
	argv[0] = "sha256sum";
	for (int i = 0; i < n; i++)
		argv[i + 1] = files[i];
	argv[n + 1] = NULL;
	fflush(stdout);
	saved = dup(1);
	dup2(fd, 1);
	r = run_cmd(argv, false);
	dup2(saved, 1);
	close(saved);
	fsync(fd);
	close(fd);
	if (cwd && chdir(cwd) < 0)
		r = -1;
	free(cwd);
	if (r) {
		fprintf(stderr, PFX "sha256sum failed for the manifest\n");
		return -1;
	}
	return 0;
}

static int image_backup(struct ops_vm *vm, const char *dest)
{
	char *files[OPS_MAX_DISKS] = { 0 };
	const char *methods[OPS_MAX_DISKS] = { 0 };
	char info[PATH_MAX];
	uint64_t t0, paused_ns = 0;
	bool paused = false;
	int r = 0;
	FILE *f;

	if (vm->n_disks == 0) {
		fprintf(stderr, PFX "VM %s has no disks\n", vm->name);
		return 1;
	}
	if (make_dest_dir(dest) < 0)
		return 1;
	if (vm->monitor) {
		if (vm_pause(vm) < 0)
			return 1;
		paused = true;
	} else {
		for (int i = 0; i < vm->n_disks; i++)
			if (ops_image_in_use(vm->disks[i]) == 1) {
				fprintf(stderr, PFX "image %s is in use (locked by a running VM) and no "
					"monitor was given to pause it; give --monitor ADDR\n", vm->disks[i]);
				return 1;
			}
	}
	t0 = now_ns();
	for (int i = 0; i < vm->n_disks && r == 0; i++) {
		char *c = strdup(vm->disks[i]), dst[PATH_MAX];
		if (!c)
			return 1;
		/* disk<N>-<basename>: unique even when two images share a name */
		if (asprintf(&files[i], "disk%d-%s", i, basename(c)) < 0)
			files[i] = NULL;
		free(c);
		if (!files[i]) {
			r = -ENOMEM;
			break;
		}
		snprintf(dst, sizeof(dst), "%s/%s", dest, files[i]);
		r = copy_image(vm->disks[i], dst, &methods[i]);
	}
	if (paused) {
		paused_ns = now_ns() - t0;
		vm_resume(vm);
	}
	if (r == 0)
		r = write_manifest(dest, files, vm->n_disks);
	snprintf(info, sizeof(info), "%s/backup.info", dest);
	f = r == 0 ? fopen(info, "w") : NULL;
	if (f) {
		time_t now = time(NULL);
		fprintf(f, "vm %s\ntime %lld\npaused_ms %llu\n", vm->name[0] ? vm->name : "-",
			(long long)now, (unsigned long long)(paused_ns / 1000000));
		for (int i = 0; i < vm->n_disks; i++)
			fprintf(f, "disk %d %s %s %s\n", i, files[i], methods[i], vm->disks[i]);
		fclose(f);
	}
	if (r == 0) {
		printf("backup of %s in %s:", vm->name[0] ? vm->name : "images", dest);
		for (int i = 0; i < vm->n_disks; i++)
			printf(" %s (%s)", files[i], methods[i]);
		printf("; VM paused %llu ms; manifest MANIFEST.sha256\n",
		       (unsigned long long)(paused_ns / 1000000));
	}
	for (int i = 0; i < vm->n_disks; i++)
		free(files[i]);
	return r == 0 ? 0 : 1;
}

/* ---- replace with boot test ---- */

/* The images of a backup directory in disk order (from backup.info),
 * after checking the manifest.  Returns the count or -1. */
static int backup_images(const char *dir, char *paths[OPS_MAX_DISKS])
{
	char p[PATH_MAX], line[PATH_MAX + 64], *cwd;
	FILE *f;
	int n = 0, r;
	struct stat st;

	if (stat(dir, &st) < 0) {
		fprintf(stderr, PFX "cannot open backup %s: %s\n", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {       /* a single image file */
		paths[0] = strdup(dir);
		return paths[0] ? 1 : -1;
	}
	cwd = getcwd(NULL, 0);
	if (chdir(dir) < 0) {
		fprintf(stderr, PFX "cannot enter %s: %s\n", dir, strerror(errno));
		free(cwd);
		return -1;
	}
	char *argv[] = { "sha256sum", "--quiet", "--strict", "-c", "MANIFEST.sha256", NULL };
	r = run_cmd(argv, false);
	if (cwd && chdir(cwd) < 0)
		r = -1;
	free(cwd);
	if (r) {
		fprintf(stderr, PFX "backup %s fails its checksum manifest (MANIFEST.sha256); "
			"not restoring\n", dir);
		return -1;
	}
	snprintf(p, sizeof(p), "%s/backup.info", dir);
	f = fopen(p, "r");
	if (!f) {
		fprintf(stderr, PFX "cannot read %s: %s\n", p, strerror(errno));
		return -1;
	}
	while (n < OPS_MAX_DISKS && fgets(line, sizeof(line), f)) {
		int idx;
		char file[256];
		if (sscanf(line, "disk %d %255s", &idx, file) == 2 && idx == n && !strchr(file, '/') &&
		    asprintf(&paths[n], "%s/%s", dir, file) >= 0)
			n++;
	}
	fclose(f);
	if (n == 0)
		fprintf(stderr, PFX "%s/backup.info names no disks\n", dir);
	return n ? n : -1;
}

/* Copies src beside target as target.new; returns malloc'd path or NULL. */
static char *stage_beside(const char *src, const char *target)
{
	char *tmp;
	const char *method;

	if (asprintf(&tmp, "%s.new", target) < 0)
		return NULL;
	unlink(tmp);
	if (copy_image(src, tmp, &method) < 0) {
		free(tmp);
		return NULL;
	}
	return tmp;
}

/* target.prev := target (hard link); target := staged (atomic rename). */
static int swap_in(const char *staged, const char *target)
{
	char prev[PATH_MAX], prev_tmp[PATH_MAX];

	snprintf(prev, sizeof(prev), "%s.prev", target);
	snprintf(prev_tmp, sizeof(prev_tmp), "%s.prev.tmp", target);
	unlink(prev_tmp);
	if (link(target, prev_tmp) < 0 || rename(prev_tmp, prev) < 0) {
		fprintf(stderr, PFX "cannot keep the previous image as %s: %s\n", prev, strerror(errno));
		unlink(prev_tmp);
		return -1;
	}
	if (rename(staged, target) < 0) {
		fprintf(stderr, PFX "cannot replace %s: %s\n", target, strerror(errno));
		return -1;
	}
	fsync_dir_of(target);
	return 0;
}

/* target.failed := target; target := target.prev. */
static int roll_back(const char *target)
{
	char prev[PATH_MAX], failed[PATH_MAX];

	snprintf(prev, sizeof(prev), "%s.prev", target);
	snprintf(failed, sizeof(failed), "%s.failed", target);
	unlink(failed);
	if (link(target, failed) < 0)
		fprintf(stderr, PFX "note: could not keep the failed image as %s: %s\n", failed,
			strerror(errno));
	if (rename(prev, target) < 0) {
		fprintf(stderr, PFX "ROLL-BACK FAILED: cannot rename %s to %s: %s\n", prev, target,
			strerror(errno));
		return -1;
	}
	fsync_dir_of(target);
	return 0;
}

static off_t file_size(const char *path)
{
	struct stat st;
	return path && stat(path, &st) == 0 ? st.st_size : 0;
}

static bool file_has_after(const char *path, off_t from, const char *text)
{
	void *buf;
	size_t len;
	bool found = false;

	if (!path || read_file(path, &buf, &len) < 0)
		return false;
	if ((size_t)from < len)
		found = memmem((char *)buf + from, len - (size_t)from, text, strlen(text)) != NULL;
	else if ((size_t)from > len) /* the file was truncated (new boot): search it all */
		found = memmem(buf, len, text, strlen(text)) != NULL;
	free(buf);
	return found;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/*
 * Restarts the VM (kill; its supervisor starts it again) and judges the
 * new boot.  Returns 0 healthy, -1 not (reason printed).
 */
static int restart_and_check(struct ops_vm *vm, const struct image_opts *o, const char *stage)
{
	const char *console = vm->console_file ? vm->console_file : vm->console_log;
	off_t console_from = file_size(console);
	int old_pid = vm->pid;
	uint64_t deadline = now_ns() + (uint64_t)o->boot_timeout_s * 1000000000ULL;
	struct ops_vm now;
	char err[768];

	if (o->ready_marker && !console) {
		fprintf(stderr, PFX "VM %s has no console file (console = \"file:PATH\" or console_log) "
			"to find the ready marker in\n", vm->name);
		return -1;
	}
	printf("%s: restarting VM %s (pid %d) through its supervisor\n", stage, vm->name, old_pid);
	fflush(stdout);
	if (kill(old_pid, SIGKILL) < 0 && errno != ESRCH) {
		fprintf(stderr, PFX "cannot stop VM %s (pid %d): %s\n", vm->name, old_pid, strerror(errno));
		return -1;
	}
	/* 1. a new process */
	for (;;) {
		memset(&now, 0, sizeof(now));
		if (ops_find_vm(vm->control, vm->name, &now, err, sizeof(err)) == 0 && now.pid != old_pid)
			break;
		if (now.state[0] && (!strcmp(now.state, "failed") || !strcmp(now.state, "exited") ||
				     !strcmp(now.state, "stopped"))) {
			fprintf(stderr, PFX "%s: VM %s was not restarted by its supervisor (state %s; "
				"its restart policy must be on-failure or always)\n", stage, vm->name,
				now.state);
			ops_vm_free(&now);
			return -1;
		}
		ops_vm_free(&now);
		if (now_ns() > deadline) {
			fprintf(stderr, PFX "%s: VM %s did not come back within %u s\n", stage, vm->name,
				o->boot_timeout_s);
			return -1;
		}
		sleep_ms(250);
	}
	int new_pid = now.pid, restarts = now.restarts;
	ops_vm_free(&now);
	/* 2. the ready marker */
	if (o->ready_marker) {
		while (!file_has_after(console, console_from, o->ready_marker)) {
			if (now_ns() > deadline) {
				fprintf(stderr, PFX "%s: VM %s did not print \"%s\" on its console within "
					"%u s\n", stage, vm->name, o->ready_marker, o->boot_timeout_s);
				return -1;
			}
			memset(&now, 0, sizeof(now));
			int r = ops_find_vm(vm->control, vm->name, &now, err, sizeof(err));
			bool same = r == 0 && now.pid == new_pid;
			ops_vm_free(&now);
			if (!same) {
				fprintf(stderr, PFX "%s: VM %s ended before it was ready (%s)\n", stage,
					vm->name, r ? err : "restarted again");
				return -1;
			}
			sleep_ms(250);
		}
	}
	/* 3. stays up with the same pid, monitor says running */
	uint64_t settle_end = now_ns() + (uint64_t)o->settle_s * 1000000000ULL;
	do {
		memset(&now, 0, sizeof(now));
		int r = ops_find_vm(vm->control, vm->name, &now, err, sizeof(err));
		bool ok = r == 0 && now.pid == new_pid && now.restarts == restarts;
		if (!ok) {
			fprintf(stderr, PFX "%s: VM %s did not stay up (%s)\n", stage, vm->name,
				r ? err : "it was restarted again");
			ops_vm_free(&now);
			return -1;
		}
		ops_vm_free(&now);
		sleep_ms(500);
	} while (now_ns() < settle_end);
	if (vm->monitor) {
		int e = 0;
		char *st = NULL;
		/* the new VMM may take a moment to listen */
		for (int i = 0; i < 20 && !st; i++) {
			st = ops_monitor_hmp(vm->monitor, vm->monitor_qmp, "info status", 3000, &e);
			if (!st)
				sleep_ms(250);
		}
		if (!st || !strstr(st, "VM status: running")) {
			fprintf(stderr, PFX "%s: VM %s monitor says: %s\n", stage, vm->name,
				st ? st : strerror(-e));
			free(st);
			return -1;
		}
		free(st);
	}
	printf("%s: VM %s healthy (pid %d%s%s%s, up %u s)\n", stage, vm->name, new_pid,
	       o->ready_marker ? ", console printed \"" : "", o->ready_marker ? o->ready_marker : "",
	       o->ready_marker ? "\"" : "", o->settle_s);
	return 0;
}

/* Replaces the VM's disks idx[k] with srcs[k] (n of them), boot-tests and
 * rolls back when the new boot is not healthy. */
static int replace_in_vm(struct ops_vm *vm, const struct image_opts *o, char **srcs,
			 const int *idx, int n)
{
	char *staged[OPS_MAX_DISKS] = { 0 };
	int r = 0, swapped = 0;

	for (int k = 0; k < n; k++) {
		if (idx[k] < 0 || idx[k] >= vm->n_disks) {
			fprintf(stderr, PFX "VM %s has %d disk%s; no disk %d\n", vm->name, vm->n_disks,
				vm->n_disks == 1 ? "" : "s", idx[k]);
			r = -1;
			goto out;
		}
		staged[k] = stage_beside(srcs[k], vm->disks[idx[k]]);
		if (!staged[k]) {
			r = -1;
			goto out;
		}
	}
	if (vm->monitor && vm_pause(vm) < 0) {
		r = -1;
		goto out;
	}
	for (int k = 0; k < n && r == 0; k++) {
		r = swap_in(staged[k], vm->disks[idx[k]]);
		if (r == 0) {
			swapped++;
			printf("replaced %s (previous kept as %s.prev)\n", vm->disks[idx[k]],
			       vm->disks[idx[k]]);
		}
	}
	if (r == 0 && restart_and_check(vm, o, "boot test") == 0)
		goto out;
	/* roll back what was swapped and boot the old images again */
	fprintf(stderr, PFX "new image%s of VM %s not healthy: rolling back\n", n > 1 ? "s" : "",
		vm->name);
	for (int k = 0; k < swapped; k++)
		if (roll_back(vm->disks[idx[k]]) == 0)
			printf("rolled back %s (failed image kept as %s.failed)\n", vm->disks[idx[k]],
			       vm->disks[idx[k]]);
	{
		/* The VM may be between restarts of the failed image: wait until
		 * it runs, then restart it once more so it surely boots the old
		 * image, and judge that boot. */
		uint64_t deadline = now_ns() + (uint64_t)o->boot_timeout_s * 1000000000ULL;
		struct ops_vm cur;
		char err[768];
		int found;
		for (;;) {
			memset(&cur, 0, sizeof(cur));
			found = ops_find_vm(vm->control, vm->name, &cur, err, sizeof(err)) == 0;
			if (found || now_ns() > deadline || !strcmp(cur.state, "failed") ||
			    !strcmp(cur.state, "stopped") || !strcmp(cur.state, "exited"))
				break;
			ops_vm_free(&cur);
			sleep_ms(250);
		}
		if (found) {
			vm->pid = cur.pid;
			if (restart_and_check(vm, o, "after roll-back") < 0)
				fprintf(stderr, PFX "VM %s is not healthy after the roll-back either\n",
					vm->name);
		} else {
			/* given up by its supervisor; the old image is back in place */
			fprintf(stderr, PFX "after roll-back: %s; the previous image is back in place, "
				"start the VM again\n", err);
		}
		ops_vm_free(&cur);
	}
	r = -1;
out:
	for (int k = 0; k < n; k++) {
		if (staged[k] && k >= swapped)
			unlink(staged[k]);
		free(staged[k]);
	}
	return r == 0 ? 0 : 1;
}

/* Restore over an image file no VM uses: verify, stage, swap. */
static int replace_file(const char *src, const char *target)
{
	int u = ops_image_in_use(target);
	char *staged;

	if (u == 1) {
		fprintf(stderr, PFX "image %s is in use (locked by a running VM); stop the VM or "
			"restore into it by name\n", target);
		return 1;
	}
	if (u < 0 && u != -ENOENT) {
		fprintf(stderr, PFX "cannot open %s: %s\n", target, strerror(-u));
		return 1;
	}
	staged = stage_beside(src, target);
	if (!staged)
		return 1;
	if (u == -ENOENT) {
		if (rename(staged, target) < 0) {
			fprintf(stderr, PFX "cannot create %s: %s\n", target, strerror(errno));
			unlink(staged);
			free(staged);
			return 1;
		}
	} else if (swap_in(staged, target) < 0) {
		unlink(staged);
		free(staged);
		return 1;
	}
	free(staged);
	printf("restored %s from %s%s\n", target, src, u == 0 ? " (previous kept as .prev)" : "");
	return 0;
}

static bool looks_like_path(const char *s)
{
	return strchr(s, '/') || access(s, F_OK) == 0;
}

int cmd_image(int argc, char **argv)
{
	enum { O_CONTROL = 1, O_MONITOR, O_QMP, O_DISK, O_INDEX, O_MARKER, O_BOOT, O_SETTLE };
	static const struct option opts[] = {
		{ "control", required_argument, NULL, O_CONTROL },
		{ "monitor", required_argument, NULL, O_MONITOR },
		{ "qmp", required_argument, NULL, O_QMP },
		{ "disk", required_argument, NULL, O_DISK },
		{ "disk-index", required_argument, NULL, O_INDEX },
		{ "ready-marker", required_argument, NULL, O_MARKER },
		{ "boot-timeout", required_argument, NULL, O_BOOT },
		{ "settle", required_argument, NULL, O_SETTLE },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct image_opts o = { .boot_timeout_s = 180, .settle_s = 10 };
	struct ops_vm vm;
	char err[768];
	const char *sub;
	uint64_t v;
	int c, r;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);   /* progress lines in order with stderr */
	sub = argv[1];
	argc--;
	argv++;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case O_CONTROL: o.control = optarg; break;
		case O_MONITOR: o.monitor = optarg; break;
		case O_QMP: o.monitor = optarg; o.monitor_qmp = true; break;
		case O_DISK:
			if (o.n_disks == OPS_MAX_DISKS) {
				fprintf(stderr, PFX "at most %d --disk\n", OPS_MAX_DISKS);
				return 2;
			}
			o.disks[o.n_disks++] = optarg;
			break;
		case O_INDEX:
		case O_BOOT:
		case O_SETTLE:
			if (parse_uint(optarg, 0, c == O_INDEX ? OPS_MAX_DISKS - 1 : 86400, &v) < 0) {
				fprintf(stderr, PFX "bad number '%s' for --%s\n", optarg,
					c == O_INDEX ? "disk-index" : c == O_BOOT ? "boot-timeout" : "settle");
				return 2;
			}
			if (c == O_INDEX)
				o.disk_index = (int)v;
			else if (c == O_BOOT)
				o.boot_timeout_s = (unsigned)v;
			else
				o.settle_s = (unsigned)v;
			break;
		case O_MARKER: o.ready_marker = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	argc -= optind;
	argv += optind;
	memset(&vm, 0, sizeof(vm));

	if (!strcmp(sub, "backup")) {
		if (o.n_disks) {             /* explicit: --disk ... [--monitor] DEST */
			if (argc != 1) {
				fprintf(stderr, PFX "backup with --disk takes only DEST\n");
				return 2;
			}
			for (int i = 0; i < o.n_disks; i++)
				vm.disks[vm.n_disks++] = strdup(o.disks[i]);
			if (o.monitor)
				vm.monitor = strdup(o.monitor);
			vm.monitor_qmp = o.monitor_qmp;
			r = image_backup(&vm, argv[0]);
		} else {
			if (argc != 2) {
				fprintf(stderr, PFX "usage: capvm image backup VM DEST\n");
				return 2;
			}
			if (ops_find_vm(o.control, argv[0], &vm, err, sizeof(err)) < 0) {
				fprintf(stderr, PFX "%s\n", err);
				return 1;
			}
			if (!vm.monitor) {
				fprintf(stderr, PFX "VM %s has no monitor, so it cannot be paused for a "
					"consistent copy; give it a `monitor` attribute\n", vm.name);
				ops_vm_free(&vm);
				return 1;
			}
			r = image_backup(&vm, argv[1]);
		}
		ops_vm_free(&vm);
		return r;
	}
	if (!strcmp(sub, "restore") || !strcmp(sub, "update")) {
		bool update = !strcmp(sub, "update");
		char *srcs[OPS_MAX_DISKS] = { 0 };
		int idx[OPS_MAX_DISKS], n;
		const char *vm_name = update ? argv[0] : argv[1];
		const char *src = update ? argv[1] : argv[0];

		if (argc != 2) {
			fprintf(stderr, PFX "usage: capvm image %s\n", update ? "update VM NEW-IMAGE" :
				"restore BACKUP VM|IMAGE");
			return 2;
		}
		if (update) {
			if (access(src, R_OK) < 0) {
				fprintf(stderr, PFX "cannot read new image %s: %s\n", src, strerror(errno));
				return 1;
			}
			srcs[0] = strdup(src);
			idx[0] = o.disk_index;
			n = srcs[0] ? 1 : -1;
		} else {
			n = backup_images(src, srcs);
			for (int k = 0; k < n; k++)
				idx[k] = k;
		}
		if (n < 0)
			return 1;
		if (!update && looks_like_path(vm_name)) {
			r = n == 1 ? replace_file(srcs[0], vm_name) : 1;
			if (n != 1)
				fprintf(stderr, PFX "backup %s holds %d images; restore it into a VM, or "
					"give one image file\n", src, n);
		} else if (ops_find_vm(o.control, vm_name, &vm, err, sizeof(err)) < 0) {
			fprintf(stderr, PFX "%s\n", err);
			r = 1;
		} else {
			r = replace_in_vm(&vm, &o, srcs, idx, n);
		}
		for (int k = 0; k < n; k++)
			free(srcs[k]);
		ops_vm_free(&vm);
		return r;
	}
	fprintf(stderr, PFX "unknown subcommand '%s' (backup, restore, update)\n", sub);
	return 2;
}
