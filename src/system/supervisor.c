/*
 * The supervisor (see supervisor.h and docs/supervisor.md).
 *
 * One process, one thread, one poll loop over: a signalfd (SIGCHLD, SIGTERM,
 * SIGINT, SIGHUP), the control socket, and timers (pending restarts, the
 * stop deadline, readiness probes of device domains).  It never maps guest
 * memory: dataports are memfds that it creates, sizes and seals, and passes
 * by fd inheritance to the two VM processes named on the connection (every
 * other fd is close-on-exec).
 *
 * Device domains are `capvm backend` processes managed like VMs (same
 * restart policies, cgroups, pinning).  They start first; a VM they serve
 * starts once their vhost-user sockets accept, and gets `--disk/--net
 * vhost-user=SOCKET`; on the way down the VMs stop first.  A device
 * domain's bounce window is made by the VMM, not here.
 *
 * Between fork and exec the child, in this order: asks for SIGKILL when the
 * supervisor dies (PR_SET_PDEATHSIG), unblocks signals, joins its memory
 * cgroup, pins itself to its CPUs and takes its scheduling class; the VMM's
 * vCPU threads inherit all of that.
 */
#include "system/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "system/cgroup.h"
#include "system/sched.h"

#define COMP "supervisor"
#define MAX_CLIENTS 8
#define REQUEST_MAX 64

/* ST_STARTING: a device domain whose socket does not accept yet;
 * ST_WAITING: a VM waiting for its device domains to be ready */
enum vm_state { ST_RUNNING, ST_RESTARTING, ST_STOPPING, ST_STOPPED, ST_EXITED, ST_FAILED,
		ST_STARTING, ST_WAITING };

static const char *const state_names[] = {
	"running", "restarting", "stopping", "stopped", "exited", "failed", "starting", "waiting",
};

#define DD_PROBE_INTERVAL_NS (50ULL * 1000000)

struct vm_proc {
	const struct sd_vm *vm;
	enum vm_state state;
	pid_t pid;
	uint64_t started_ns;
	uint64_t restart_at_ns;
	int restarts;
	uint64_t *starts;        /* start times within restart_interval (ring) */
	int n_starts;
	char last_exit[64];
	bool last_ok;
	bool term_sent;          /* stopping: SIGTERM already sent */
	char cgroup[CG_PATH_MAX + 128];
	/* device domains: the back-end's socket and its readiness */
	char *socket;
	uint64_t ready_deadline_ns, next_probe_ns;
	bool not_ready_killed;   /* killed because its socket never accepted */
};

struct sup {
	const struct sd_system *sys;
	const struct sup_options *opt;
	const char *vmm;
	struct vm_proc *procs;
	int *dp_fds;
	struct cg_root cg;
	int sfd, lfd;
	char control[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool stopping;
	uint64_t stop_term_ns;     /* SIGTERM to VMs that have not powered off */
	uint64_t stop_deadline_ns; /* SIGKILL */
	bool killed_all;
	bool dd_term_sent;         /* stopping: the device domains got SIGTERM */
	bool ended_by_itself;      /* stopping because no VM was left */
	int down_clients[MAX_CLIENTS];
	int n_down_clients;
};

/* ---- logging with the VM's name in the VM field ---- */

static void vlog(enum log_level lvl, const struct vm_proc *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void vlog(enum log_level lvl, const struct vm_proc *p, const char *fmt, ...)
{
	va_list ap;

	log_set_vm(p ? p->vm->name : "-");
	va_start(ap, fmt);
	log_vmsg(lvl, COMP, fmt, ap);
	va_end(ap);
	log_set_vm("-");
}

/* ---- the command line of a VM process ---- */

struct argv_buf {
	char **v;
	size_t n, cap;
};

static void arg_add(struct argv_buf *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg_add(struct argv_buf *a, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (a->n + 2 > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 32;
		char **v = realloc(a->v, cap * sizeof(*v));
		if (!v)
			abort();
		a->v = v;
		a->cap = cap;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

char *sup_runtime_dir(const struct sd_system *sys)
{
	char *s;

	if (sys->runtime_dir)
		s = strdup(sys->runtime_dir);
	else if (asprintf(&s, "%s/%s", sup_control_dir(), sys->name) < 0)
		s = NULL;
	if (!s)
		abort();
	return s;
}

char *sup_dd_socket(const struct sd_system *sys, size_t i)
{
	char *dir = sup_runtime_dir(sys), *s;

	if (asprintf(&s, "%s/%s.sock", dir, sys->vms[i].name) < 0)
		abort();
	free(dir);
	return s;
}

/* "64M" for whole MiB, else "NK" (bounce windows are 4 KiB multiples). */
static void size_text(uint64_t bytes, char *buf, size_t len)
{
	if (bytes % (1ULL << 20) == 0)
		snprintf(buf, len, "%" PRIu64 "M", bytes >> 20);
	else
		snprintf(buf, len, "%" PRIu64 "K", bytes >> 10);
}

/* The back-end process of device domain i: `capvm backend blk|net ...`. */
static char **backend_argv(const struct sd_system *sys, size_t i)
{
	const struct sd_vm *dd = &sys->vms[i];
	struct argv_buf a = { 0 };
	char *sock = sup_dd_socket(sys, i);

	arg_add(&a, "capvm");
	arg_add(&a, "backend");
	arg_add(&a, "%s", sd_dd_kind_name(dd->dd_kind));
	arg_add(&a, "--socket"); arg_add(&a, "%s", sock);
	if (dd->dd_kind == SD_DD_BLK) {
		arg_add(&a, "--image"); arg_add(&a, "%s", dd->dd_image ? dd->dd_image : "");
	} else {
		arg_add(&a, "--tap"); arg_add(&a, "%s", dd->dd_tap ? dd->dd_tap : "");
	}
	free(sock);
	return a.v;
}

/* The option string of a VM's device served by device domain dev->dd. */
static void add_vhost_user_device(struct argv_buf *a, const struct sd_system *sys,
				  const struct sd_device *dev)
{
	const struct sd_vm *dd = &sys->vms[dev->dd];
	char *sock = sup_dd_socket(sys, (size_t)dev->dd), bounce[32], irq[16] = "";

	if (!dev->irq_auto)
		snprintf(irq, sizeof(irq), ",irq=%d", dev->irq);
	if (dd->dd_shared) {
		arg_add(a, "vhost-user=%s,mem=shared%s", sock, irq);
	} else {
		size_text(dd->bounce, bounce, sizeof(bounce));
		arg_add(a, "vhost-user=%s,mem=isolated,bounce=%s%s", sock, bounce, irq);
	}
	free(sock);
}

char **sup_build_argv(const struct sd_system *sys, size_t i, const int *dp_fds,
		      const char *default_log)
{
	const struct sd_vm *vm = &sys->vms[i];
	struct argv_buf a = { 0 };
	bool mem_shared = false;

	if (vm->kind == SD_KIND_DEVICE_DOMAIN)
		return backend_argv(sys, i);
	arg_add(&a, "capvm");
	arg_add(&a, "run");
	arg_add(&a, "--name"); arg_add(&a, "%s", vm->name);
	arg_add(&a, "--kernel"); arg_add(&a, "%s", vm->kernel ? vm->kernel : "");
	if (vm->initrd) {
		arg_add(&a, "--initrd"); arg_add(&a, "%s", vm->initrd);
	}
	arg_add(&a, "--cmdline"); arg_add(&a, "%s", vm->cmdline);
	arg_add(&a, "--mem"); arg_add(&a, "%" PRIu64 "M", vm->ram >> 20);
	arg_add(&a, "--cpus"); arg_add(&a, "%d", vm->cpus);
	if (vm->large_pages)
		arg_add(&a, "--hugepages");
	/* a back-end in shared mode maps guest RAM: it must be a memfd */
	for (int d = 0; d < vm->n_devs; d++)
		if (vm->devs[d].dd >= 0 && sys->vms[vm->devs[d].dd].dd_shared)
			mem_shared = true;
	if (mem_shared)
		arg_add(&a, "--mem-shared");
	arg_add(&a, "--console"); arg_add(&a, "%s", vm->console);
	if (vm->console_log) {
		arg_add(&a, "--console-log"); arg_add(&a, "%s", vm->console_log);
	}
	if (vm->monitor) {
		arg_add(&a, "--monitor"); arg_add(&a, "%s", vm->monitor);
	}
	if (vm->log || default_log) {
		arg_add(&a, "--log"); arg_add(&a, "%s", vm->log ? vm->log : default_log);
	}
	if (vm->watchdog_action) {
		arg_add(&a, "--watchdog"); arg_add(&a, "%s", vm->watchdog_action);
	}
	if (vm->watchdog_timeout_s) {
		arg_add(&a, "--watchdog-timeout"); arg_add(&a, "%u", vm->watchdog_timeout_s);
	}
	for (int d = 0; d < vm->n_devs; d++) {
		const struct sd_device *dev = &vm->devs[d];
		switch (dev->kind) {
		case SD_DEV_RNG:
			arg_add(&a, "--rng");
			continue;
		case SD_DEV_VCONSOLE:
			arg_add(&a, "--virtio-console");
			break;
		case SD_DEV_DISK:
			arg_add(&a, "--disk");
			break;
		case SD_DEV_NET:
			arg_add(&a, "--net");
			break;
		}
		/* capvm run gives lines in attach order (what the description's
		 * assignment mirrors); a line named in the description is passed on */
		if (dev->dd >= 0)
			add_vhost_user_device(&a, sys, dev);
		else if (dev->irq_auto)
			arg_add(&a, "%s", dev->spec);
		else
			arg_add(&a, "%s,irq=%d", dev->spec, dev->irq);
	}
	for (int d = 0; d < vm->n_dps; d++) {
		const struct sd_dataport *dp = vm->dps[d].dp;
		size_t idx = (size_t)(dp - sys->dps);
		if (dp->bounce)
			continue;   /* the VMM creates the bounce window itself */
		arg_add(&a, "--dataport");
		if (dp_fds && dp_fds[idx] >= 0)
			arg_add(&a, "%s,gpa=0x%" PRIx64 ",size=0x%" PRIx64 ",fd=%d", dp->name,
				vm->dps[d].gpa, dp->size, dp_fds[idx]);
		else
			arg_add(&a, "%s,gpa=0x%" PRIx64 ",size=0x%" PRIx64 ",fd=N", dp->name,
				vm->dps[d].gpa, dp->size);
	}
	if (vm->n_affinity) {
		char list[SD_MAX_CPUS * 5] = "";
		size_t len = 0;
		for (int c = 0; c < vm->n_affinity && len + 8 < sizeof(list); c++)
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%d", c ? "," : "",
						vm->affinity[c]);
		arg_add(&a, "--affinity"); arg_add(&a, "%s", list);
	}
	/* a real-time VM inherits SCHED_FIFO from the process set-up before
	 * exec; --priority (a nice value per vCPU thread) is for the others */
	if (vm->priority >= 0 && !vm->realtime) {
		arg_add(&a, "--priority"); arg_add(&a, "%d", vm->priority);
	}
	return a.v;
}

void sup_free_argv(char **argv)
{
	if (!argv)
		return;
	for (char **p = argv; *p; p++)
		free(*p);
	free(argv);
}

const char *sup_control_dir(void)
{
	static char dir[512];
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	/* root: /run/capvm; anyone else: their runtime directory, if any */
	if (geteuid() != 0 && xdg && xdg[0] == '/' && strlen(xdg) < sizeof(dir) - 8) {
		snprintf(dir, sizeof(dir), "%s/capvm", xdg);
		return dir;
	}
	return SUP_CONTROL_DIR;
}

char *sup_default_control(const char *system_name)
{
	char *s;

	if (asprintf(&s, "%s/%s.sock", sup_control_dir(), system_name) < 0)
		abort();
	return s;
}

/* ---- starting and stopping VM processes ---- */

static void describe_status(int status, char *buf, size_t len, bool *ok)
{
	/* capvm run's watchdog statuses (arch/x86/vm.h) */
	if (WIFEXITED(status) && (WEXITSTATUS(status) == 6 || WEXITSTATUS(status) == 7)) {
		snprintf(buf, len, "watchdog fired (%s)", WEXITSTATUS(status) == 6 ? "poweroff" : "restart");
		*ok = false;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGSYS) {
		/* capvm backend's parent reports its sandboxed child's seccomp kill so */
		snprintf(buf, len, "killed by seccomp (status 159)");
		*ok = false;
	} else if (WIFEXITED(status)) {
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
		*ok = WEXITSTATUS(status) == 0;
	} else if (WIFSIGNALED(status)) {
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
		*ok = false;
	} else {
		snprintf(buf, len, "status 0x%x", status);
		*ok = false;
	}
}

static unsigned ready_timeout_ms(const struct sup *s)
{
	return s->opt->dd_ready_timeout_ms ? s->opt->dd_ready_timeout_ms : SD_DD_READY_TIMEOUT_MS;
}

/*
 * Whether the device domains of VM p are ready (their sockets accept).
 * A device domain that has ended for good makes the VM fail: *dead names it.
 */
static bool dds_ready(const struct sup *s, const struct vm_proc *p, const struct vm_proc **dead)
{
	bool ready = true;

	*dead = NULL;
	for (int d = 0; d < p->vm->n_devs; d++) {
		const struct vm_proc *dd;
		if (p->vm->devs[d].dd < 0)
			continue;
		dd = &s->procs[p->vm->devs[d].dd];
		if (dd->state == ST_FAILED || dd->state == ST_EXITED || dd->state == ST_STOPPED) {
			*dead = dd;
			return false;
		}
		if (dd->state != ST_RUNNING)
			ready = false;
	}
	return ready;
}

static void start_vm(struct sup *s, struct vm_proc *p)
{
	const struct sd_vm *vm = p->vm;
	size_t idx = (size_t)(vm - s->sys->vms);
	bool is_dd = vm->kind == SD_KIND_DEVICE_DOMAIN;
	const struct vm_proc *dead;
	char **argv;
	struct sd_sched sc;
	pid_t parent = getpid(), pid;
	uint64_t now = now_ns();

	if (!is_dd && !dds_ready(s, p, &dead)) {
		if (dead) {
			p->state = ST_FAILED;
			snprintf(p->last_exit, sizeof(p->last_exit), "device domain %.32s %s",
				 dead->vm->name, state_names[dead->state]);
			p->last_ok = false;
			vlog(LOG_ERROR, p, "not started: its device domain %s has %s", dead->vm->name,
			     state_names[dead->state]);
		} else if (p->state != ST_WAITING) {
			p->state = ST_WAITING;
			vlog(LOG_INFO, p, "waiting for its device domains to accept connections");
		}
		return;
	}
	if (is_dd)
		unlink(p->socket);  /* a socket file left by its previous run */
	argv = sup_build_argv(s->sys, idx, s->dp_fds, s->opt->log_path);

	sd_sched_for(vm->priority, vm->realtime, &sc);
	pid = fork();
	if (pid < 0) {
		vlog(LOG_ERROR, p, "fork failed: %s", strerror(errno));
		p->state = ST_FAILED;
		snprintf(p->last_exit, sizeof(p->last_exit), "fork failed");
		sup_free_argv(argv);
		return;
	}
	if (pid == 0) {
		sigset_t none;
		int r;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126); /* the supervisor died before we got here */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		/* Keep Ctrl-C for the supervisor (which stops VMs in order), except
		 * for a VM whose console is the terminal. */
		if (is_dd || strcmp(vm->console, "stdio"))
			setpgid(0, 0);
		/* a back-end has no --log: its log attribute takes its output */
		if (is_dd && vm->log) {
			int lfd = open(vm->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
			if (lfd >= 0) {
				dup2(lfd, STDOUT_FILENO);
				dup2(lfd, STDERR_FILENO);
			}
		}
		if (p->cgroup[0] && (r = cg_join(p->cgroup, getpid())) < 0)
			log_warn(COMP, "%s: cannot join memory cgroup %s: %s", vm->name, p->cgroup,
				 strerror(-r));
		if ((r = sd_affinity_apply(0, vm->affinity, vm->n_affinity)) < 0)
			log_warn(COMP, "%s: cannot pin to CPUs: %s", vm->name, strerror(-r));
		if ((r = sd_sched_apply(0, &sc)) < 0)
			log_warn(COMP, "%s: cannot set scheduling (policy %d, nice %d): %s",
				 vm->name, sc.policy, sc.nice, strerror(-r));
		/* only this VM's dataports cross exec */
		for (int d = 0; d < vm->n_dps; d++) {
			int fd = s->dp_fds[vm->dps[d].dp - s->sys->dps];
			if (fd >= 0)
				fcntl(fd, F_SETFD, 0);
		}
		execv(s->vmm, argv);
		log_error(COMP, "%s: cannot exec %s: %s", vm->name, s->vmm, strerror(errno));
		_exit(127);
	}
	sup_free_argv(argv);
	p->pid = pid;
	p->state = is_dd ? ST_STARTING : ST_RUNNING;
	p->started_ns = now;
	if (p->starts && vm->restart_burst > 0)
		p->starts[p->n_starts++ % vm->restart_burst] = now;
	vlog(LOG_INFO, p, "started %s, pid %d%s", sd_kind_name(vm->kind), (int)pid,
	     p->restarts ? "" : " (first start)");
	if (is_dd) {
		p->not_ready_killed = false;
		p->ready_deadline_ns = now + ready_timeout_ms(s) * 1000000ULL;
		p->next_probe_ns = now;
		vlog(LOG_INFO, p, "serves %s %s for %s; waiting for %s to accept",
		     sd_dd_kind_name(vm->dd_kind), vm->dd_shared ? "(shared memory)"
		     : "(isolated: bounce window only)", s->sys->vms[vm->dd_vm].name, p->socket);
	}
}

/*
 * A starting device domain is ready when its socket accepts a connection
 * (the probe connection is closed at once; the back-end then waits for the
 * next front-end).  Not ready within SD_DD_READY_TIMEOUT_MS: it is killed,
 * and its restart policy decides.
 */
static void probe_dd(struct sup *s, struct vm_proc *p, uint64_t now)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	p->next_probe_ns = now + DD_PROBE_INTERVAL_NS;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p->socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0) {
		p->state = ST_RUNNING;
		vlog(LOG_INFO, p, "ready: %s accepts (%" PRIu64 " ms after start)", p->socket,
		     (now - p->started_ns) / 1000000);
		return;
	}
	if (now >= p->ready_deadline_ns) {
		vlog(LOG_ERROR, p, "%s did not accept within %u ms: killing it", p->socket,
		     ready_timeout_ms(s));
		p->not_ready_killed = true;
		kill(p->pid, SIGKILL);
		p->ready_deadline_ns = UINT64_MAX;
	}
}

/* VMs waiting for device domains: start those whose back-ends are ready. */
static void start_waiting_vms(struct sup *s)
{
	for (size_t i = 0; i < s->sys->n_vms && !s->stopping; i++)
		if (s->procs[i].state == ST_WAITING)
			start_vm(s, &s->procs[i]);
}

/* Starts within the last restart_interval, for the burst limit. */
static int recent_starts(const struct vm_proc *p, uint64_t now)
{
	int n = 0, len = p->n_starts < p->vm->restart_burst ? p->n_starts : p->vm->restart_burst;

	for (int i = 0; i < len; i++)
		if (now - p->starts[i] < p->vm->restart_interval_ms * 1000000ULL)
			n++;
	return n;
}

/*
 * The VM's on_failure command: `sh -c COMMAND capvm-on-failure NAME REASON`
 * with CAPVM_VM=NAME and CAPVM_REASON=REASON in its environment, not waited
 * for (reap() collects it).  See docs/operations.md.
 */
static void run_on_failure(const struct vm_proc *p)
{
	const char *cmd = p->vm->on_failure;
	pid_t pid;

	if (!cmd)
		return;
	pid = fork();
	if (pid < 0) {
		vlog(LOG_ERROR, p, "cannot run on_failure: fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		setpgid(0, 0);
		setenv("CAPVM_VM", p->vm->name, 1);
		setenv("CAPVM_REASON", p->last_exit, 1);
		execl("/bin/sh", "sh", "-c", cmd, "capvm-on-failure", p->vm->name, p->last_exit,
		      (char *)NULL);
		_exit(127);
	}
	vlog(LOG_INFO, p, "on_failure started (pid %d): %s", (int)pid, p->last_exit);
}

static void vm_exited(struct sup *s, struct vm_proc *p, int status)
{
	const struct sd_vm *vm = p->vm;
	uint64_t now = now_ns();
	bool restart;

	describe_status(status, p->last_exit, sizeof(p->last_exit), &p->last_ok);
	if (p->not_ready_killed)
		snprintf(p->last_exit, sizeof(p->last_exit), "socket not ready within %u ms",
			 ready_timeout_ms(s));
	/* A back-end leads its own process group: whatever it left behind
	 * (its sandboxed child, which may have lost its parent-death signal
	 * when it changed credentials) goes with it, or it would keep the
	 * image locked against the restarted back-end. */
	if (vm->kind == SD_KIND_DEVICE_DOMAIN && kill(-p->pid, SIGKILL) == 0)
		vlog(LOG_WARN, p, "killed what was left of its process group");
	p->pid = 0;
	if (s->stopping || p->state == ST_STOPPING) {
		p->state = ST_STOPPED;
		vlog(LOG_INFO, p, "stopped: %s", p->last_exit);
		return;
	}
	if (!p->last_ok)
		run_on_failure(p);
	restart = vm->restart == SD_RESTART_ALWAYS ||
		  (vm->restart == SD_RESTART_ON_FAILURE && !p->last_ok);
	/* watchdog action poweroff: the VM stays off whatever the policy */
	if (WIFEXITED(status) && WEXITSTATUS(status) == 6)
		restart = false;
	if (!restart) {
		p->state = p->last_ok ? ST_EXITED : ST_FAILED;
		vlog(p->last_ok ? LOG_INFO : LOG_WARN, p, "%s; restart policy %s: not restarting",
		     p->last_exit, sd_restart_name(vm->restart));
		return;
	}
	if (vm->restart_burst > 0 && recent_starts(p, now) >= vm->restart_burst) {
		p->state = ST_FAILED;
		vlog(LOG_ERROR, p, "%s; started %d times within %" PRIu64 "ms (restart_burst): "
		     "giving up", p->last_exit, vm->restart_burst, vm->restart_interval_ms);
		return;
	}
	p->state = ST_RESTARTING;
	p->restart_at_ns = now + vm->restart_delay_ms * 1000000ULL;
	p->restarts++;
	vlog(LOG_WARN, p, "%s; restarting in %" PRIu64 "ms (restart %d, policy %s)", p->last_exit,
	     vm->restart_delay_ms, p->restarts, sd_restart_name(vm->restart));
}

static void reap(struct sup *s)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			return;
		for (size_t i = 0; i < s->sys->n_vms; i++)
			if (s->procs[i].pid == pid)
				vm_exited(s, &s->procs[i], status);
	}
}

/*
 * Asks the guest to power off through the VM's monitor: HMP
 * "system_powerdown", or on a QMP socket the capabilities handshake and
 * {"execute":"system_powerdown"} -- the ACPI power button, so the guest
 * shuts down by itself.  Waits at most ~1 s in all.  Returns 0 when the
 * request was delivered.
 */
static int monitor_powerdown(const char *address)
{
	static const char hmp[] = "system_powerdown\n";
	static const char qmp[] = "{\"execute\":\"qmp_capabilities\"}\n"
				  "{\"execute\":\"system_powerdown\"}\n";
	struct sd_monitor_addr a;
	struct pollfd pfd;
	char buf[512];
	int fd = -1, r;

	if (sd_monitor_parse(address, &a) < 0)
		return -EINVAL;
	fd = sd_monitor_connect(&a, 500);
	if (fd < 0)
		return fd;
	r = a.qmp ? write_all(fd, qmp, sizeof(qmp) - 1) : write_all(fd, hmp, sizeof(hmp) - 1);
	/* read whatever answers (greeting, prompt, reply) for a moment, so the
	 * monitor has handled the command before we hang up */
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (int i = 0; r == 0 && i < 5 && poll(&pfd, 1, 100) == 1; i++)
		if (read(fd, buf, sizeof(buf)) <= 0)
			break;
	close(fd);
	return r;
}

/*
 * system down, in three steps per VM, latest-started first:
 *   1. ask the guest to power off (monitor), or SIGTERM when it has no
 *      monitor (the VMM turns SIGTERM into an orderly stop);
 *   2. at half the stop timeout, SIGTERM to those still running;
 *   3. at the stop timeout, SIGKILL.
 * Pending restarts are cancelled.
 */
static void begin_stop(struct sup *s, const char *why)
{
	uint64_t now = now_ns();

	if (s->stopping)
		return;
	s->stopping = true;
	s->stop_term_ns = now + (uint64_t)s->opt->stop_timeout_ms * 1000000ULL / 2;
	s->stop_deadline_ns = now + (uint64_t)s->opt->stop_timeout_ms * 1000000ULL;
	log_info(COMP, "stopping all VMs (%s); SIGKILL after %ums", why, s->opt->stop_timeout_ms);
	for (size_t k = s->sys->n_vms; k-- > 0;) {
		struct vm_proc *p = &s->procs[k];
		if (p->vm->kind == SD_KIND_DEVICE_DOMAIN) {
			/* back-ends stop after the VMs (stop_device_domains) */
			if (p->state == ST_RESTARTING)
				p->state = ST_STOPPED;
			continue;
		}
		if (p->state == ST_WAITING) {
			p->state = ST_STOPPED;
		} else if (p->state == ST_RUNNING) {
			p->state = ST_STOPPING;
			p->term_sent = false;
			if (p->vm->monitor) {
				int r = monitor_powerdown(p->vm->monitor);
				if (r == 0) {
					vlog(LOG_INFO, p, "asked the guest to power off (system_powerdown "
					     "on %s)", p->vm->monitor);
					continue;
				}
				vlog(LOG_WARN, p, "monitor %s: %s; using SIGTERM", p->vm->monitor,
				     strerror(-r));
			}
			kill(p->pid, SIGTERM);
			p->term_sent = true;
		} else if (p->state == ST_RESTARTING) {
			p->state = ST_STOPPED;
		}
	}
}

/* Once no VM runs any more: SIGTERM to the device domains' back-ends. */
static void stop_device_domains(struct sup *s)
{
	s->dd_term_sent = true;
	for (size_t k = s->sys->n_vms; k-- > 0;) {
		struct vm_proc *p = &s->procs[k];
		if (p->vm->kind != SD_KIND_DEVICE_DOMAIN)
			continue;
		if (p->pid > 0) {
			vlog(LOG_INFO, p, "no VM uses it any more: SIGTERM");
			kill(p->pid, SIGTERM);
			p->state = ST_STOPPING;
			p->term_sent = true;
		} else if (p->state == ST_RESTARTING) {
			p->state = ST_STOPPED;
		}
	}
}

/* Step 2 of begin_stop(). */
static void term_stragglers(struct sup *s)
{
	for (size_t k = s->sys->n_vms; k-- > 0;) {
		struct vm_proc *p = &s->procs[k];
		if (p->vm->kind == SD_KIND_DEVICE_DOMAIN)
			continue;
		if (p->pid > 0 && !p->term_sent) {
			vlog(LOG_WARN, p, "guest did not power off within %ums: SIGTERM",
			     s->opt->stop_timeout_ms / 2);
			kill(p->pid, SIGTERM);
			p->term_sent = true;
		}
	}
}

static void kill_all(struct sup *s)
{
	for (size_t k = 0; k < s->sys->n_vms; k++) {
		struct vm_proc *p = &s->procs[k];
		if (p->pid > 0) {
			vlog(LOG_WARN, p, "still running after %ums: SIGKILL", s->opt->stop_timeout_ms);
			kill(p->pid, SIGKILL);
		}
	}
	s->killed_all = true;
}

/* ---- control socket ---- */

static void format_uptime(uint64_t ns, char *buf, size_t len)
{
	uint64_t sec = ns / 1000000000ULL;
	snprintf(buf, len, "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64, sec / 3600, sec / 60 % 60,
		 sec % 60);
}

/* A string for a JSON value: quotes, backslashes and control characters escaped. */
static const char *json_escaped(const char *in, char *out, size_t len)
{
	size_t n = 0;

	for (; *in && n + 7 < len; in++) {
		unsigned char c = (unsigned char)*in;
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20) {
			n += (size_t)snprintf(out + n, len - n, "\\u%04x", c);
		} else {
			out[n++] = (char)c;
		}
	}
	out[n] = '\0';
	return out;
}

static void write_status(struct sup *s, int fd, bool json)
{
	char line[1024];
	uint64_t now = now_ns();

	if (!json) {
		snprintf(line, sizeof(line), "%-16s %-12s %-10s %-8s %-10s %-8s %s\n", "NAME", "KIND",
			 "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT");
		write_all(fd, line, strlen(line));
	} else {
		write_all(fd, "[", 1);
	}
	for (size_t i = 0; i < s->sys->n_vms; i++) {
		const struct vm_proc *p = &s->procs[i];
		char up[32] = "-", mon[600], sock[600] = "";
		int n;
		if (p->pid > 0)
			format_uptime(now - p->started_ns, up, sizeof(up));
		if (json && p->socket) {
			char esc[520];
			snprintf(sock, sizeof(sock), ",\"socket\":\"%s\",\"serves\":\"%s\"",
				 json_escaped(p->socket, esc, sizeof(esc)),
				 s->sys->vms[p->vm->dd_vm].name);
		}
		if (json)
			n = snprintf(line, sizeof(line),
				     "%s{\"name\":\"%s\",\"kind\":\"%s\",\"state\":\"%s\",\"pid\":%d,"
				     "\"uptime_ms\":%" PRIu64 ",\"restarts\":%d,\"last_exit\":\"%s\","
				     "\"monitor\":\"%s\",\"watchdog_action\":\"%s\"%s}",
				     i ? "," : "", p->vm->name, sd_kind_name(p->vm->kind),
				     state_names[p->state], (int)p->pid,
				     p->pid > 0 ? (now - p->started_ns) / 1000000 : 0, p->restarts,
				     p->last_exit,
				     json_escaped(p->vm->monitor ? p->vm->monitor : "", mon, sizeof(mon)),
				     p->vm->watchdog_action ? p->vm->watchdog_action : "", sock);
		else
			n = snprintf(line, sizeof(line), "%-16s %-12s %-10s %-8d %-10s %-8d %s\n",
				     p->vm->name, sd_kind_name(p->vm->kind), state_names[p->state],
				     (int)p->pid, up, p->restarts,
				     p->last_exit[0] ? p->last_exit : "-");
		if (n > 0)
			write_all(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	}
	if (json)
		write_all(fd, "]\n", 2);
}

static void handle_client(struct sup *s)
{
	char req[REQUEST_MAX + 1];
	size_t len = 0;
	int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	struct pollfd pfd;

	if (fd < 0)
		return;
	/* one short request line; give the client a second to send it */
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (len < REQUEST_MAX && poll(&pfd, 1, 1000) == 1) {
		ssize_t n = read(fd, req + len, REQUEST_MAX - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (memchr(req, '\n', len))
			break;
	}
	req[len] = 0;
	req[strcspn(req, "\r\n")] = 0;
	if (!strcmp(req, "status")) {
		write_status(s, fd, false);
	} else if (!strcmp(req, "status json")) {
		write_status(s, fd, true);
	} else if (!strcmp(req, "down")) {
		if (s->n_down_clients < MAX_CLIENTS) {
			write_all(fd, "stopping\n", 9);
			s->down_clients[s->n_down_clients++] = fd;
			begin_stop(s, "system down");
			return; /* answered when everything has stopped */
		}
		write_all(fd, "error: busy\n", 12);
	} else {
		const char *msg = "error: unknown request (status, status json, down)\n";
		write_all(fd, msg, strlen(msg));
	}
	close(fd);
}

static int listen_control(struct sup *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(s->control) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, s->control, strlen(s->control) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* a socket file left by a supervisor that died: take it over; a live
	 * one: refuse */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		return -EADDRINUSE;
	}
	unlink(s->control);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(s->control, 0600) < 0 ||
	    listen(fd, 8) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	s->lfd = fd;
	return 0;
}

/* ---- set-up and the loop ---- */

static int make_dataports(struct sup *s)
{
	for (size_t d = 0; d < s->sys->n_dps; d++) {
		const struct sd_dataport *dp = &s->sys->dps[d];
		int fd;
		if (dp->bounce)
			continue;   /* a device domain's window: the VMM creates it */
		fd = memfd_create(dp->name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0 || ftruncate(fd, (off_t)dp->size) < 0 ||
		    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
			log_error(COMP, "dataport %s: cannot create shared memory: %s", dp->name,
				  strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		s->dp_fds[d] = fd;
		log_info(COMP, "dataport %s: %" PRIu64 " KiB shared memory (memfd %d) for %s and %s",
			 dp->name, dp->size >> 10, fd, s->sys->vms[dp->vm[0]].name,
			 s->sys->vms[dp->vm[1]].name);
	}
	return 0;
}

/* mkdir -p with mode for the directories it creates; 0 or -1 (errno). */
static int mkdir_p(const char *path, mode_t mode)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	for (char *c = buf + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -1;
		*c = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/*
 * The directory of the device domains' sockets (mode 0700: only the
 * supervisor's user may connect to a back-end).  Socket paths must fit a
 * unix address.
 */
static int make_runtime_dir(struct sup *s)
{
	struct sockaddr_un sa;
	char *dir;
	int r = 0;

	for (size_t i = 0; i < s->sys->n_vms; i++) {
		if (!s->procs[i].socket)
			continue;
		if (strlen(s->procs[i].socket) >= sizeof(sa.sun_path)) {
			vlog(LOG_ERROR, &s->procs[i], "socket path %s is too long for a unix socket "
			     "(limit %zu bytes); choose a shorter runtime directory",
			     s->procs[i].socket, sizeof(sa.sun_path) - 1);
			return -1;
		}
		if (r == 0) {
			dir = sup_runtime_dir(s->sys);
			if (mkdir_p(dir, 0700) < 0) {
				log_error(COMP, "runtime directory %s: %s", dir, strerror(errno));
				free(dir);
				return -1;
			}
			free(dir);
			r = 1;
		}
	}
	return 0;
}

static void make_cgroups(struct sup *s)
{
	char why[512];

	if (cg_setup(&s->cg, s->sys->name, why, sizeof(why)) < 0) {
		log_warn(COMP, "memory budgets are NOT enforced: %s", why);
		return;
	}
	for (size_t i = 0; i < s->sys->n_vms; i++) {
		struct vm_proc *p = &s->procs[i];
		int r = cg_create_vm(&s->cg, p->vm->name, p->vm->budget, p->cgroup,
				     sizeof(p->cgroup));
		if (r < 0) {
			vlog(LOG_WARN, p, "memory budget NOT enforced: cannot create cgroup: %s",
			     strerror(-r));
			p->cgroup[0] = 0;
		} else {
			vlog(LOG_INFO, p, "memory budget %" PRIu64 " MiB in cgroup v%d %s",
			     p->vm->budget >> 20, s->cg.version, p->cgroup);
		}
	}
}

/* Nothing runs and nothing waits to be restarted. */
static bool all_done(const struct sup *s)
{
	for (size_t i = 0; i < s->sys->n_vms; i++)
		if (s->procs[i].pid > 0 || s->procs[i].state == ST_RESTARTING)
			return false;
	return true;
}

/* Some VM (not device domain) runs, waits for a restart or for its back-ends. */
static bool vms_active(const struct sup *s)
{
	for (size_t i = 0; i < s->sys->n_vms; i++) {
		const struct vm_proc *p = &s->procs[i];
		if (p->vm->kind == SD_KIND_VM && (p->pid > 0 || p->state == ST_RESTARTING ||
						  p->state == ST_WAITING))
			return true;
	}
	return false;
}

static bool any_alive(const struct sup *s, enum sd_kind kind)
{
	for (size_t i = 0; i < s->sys->n_vms; i++)
		if (s->procs[i].vm->kind == kind && s->procs[i].pid > 0)
			return true;
	return false;
}

static int poll_timeout(const struct sup *s)
{
	uint64_t now = now_ns(), next = UINT64_MAX;

	for (size_t i = 0; i < s->sys->n_vms; i++) {
		if (s->procs[i].state == ST_RESTARTING && s->procs[i].restart_at_ns < next)
			next = s->procs[i].restart_at_ns;
		if (s->procs[i].state == ST_STARTING && s->procs[i].next_probe_ns < next)
			next = s->procs[i].next_probe_ns;
	}
	if (s->stopping && !s->killed_all && s->stop_deadline_ns < next)
		next = s->stop_deadline_ns;
	if (s->stopping && s->stop_term_ns > now && s->stop_term_ns < next)
		next = s->stop_term_ns;
	if (next == UINT64_MAX)
		return -1;
	if (next <= now)
		return 0;
	return (int)((next - now) / 1000000ULL + 1);
}

static void handle_signals(struct sup *s)
{
	struct signalfd_siginfo si;

	while (read(s->sfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(s);
			break;
		case SIGHUP:
			log_reopen();
			log_info(COMP, "SIGHUP: log file reopened");
			/* the VMs that write a log file reopen theirs too */
			for (size_t i = 0; i < s->sys->n_vms; i++)
				if (s->procs[i].pid > 0 && s->procs[i].vm->kind == SD_KIND_VM &&
				    (s->procs[i].vm->log || s->opt->log_path))
					kill(s->procs[i].pid, SIGHUP);
			break;
		case SIGTERM:
		case SIGINT:
			if (s->stopping && !s->killed_all) {
				log_warn(COMP, "second %s: killing VMs now", strsignal((int)si.ssi_signo));
				kill_all(s);
			}
			begin_stop(s, strsignal((int)si.ssi_signo));
			break;
		}
	}
}

int supervisor_run(const struct sd_system *sys, const struct sup_options *opt)
{
	struct sup sv, *s = &sv;
	sigset_t mask;
	int rc = 0, r;
	char *ctl = NULL;
	size_t n_dd = 0;

	memset(s, 0, sizeof(*s));
	s->sys = sys;
	s->opt = opt;
	s->lfd = -1;
	s->vmm = opt->vmm_path ? opt->vmm_path
	       : getenv(SUP_VMM_ENV) && *getenv(SUP_VMM_ENV) ? getenv(SUP_VMM_ENV)
	       : "/proc/self/exe";
	if (opt->log_path && (r = log_set_file(opt->log_path)) < 0) {
		log_error(COMP, "cannot open log file %s: %s", opt->log_path, strerror(-r));
		return 1;
	}
	if (!opt->control_path) {
		mkdir(sup_control_dir(), 0700);
		ctl = sup_default_control(sys->name);
	}
	snprintf(s->control, sizeof(s->control), "%s", opt->control_path ? opt->control_path : ctl);
	free(ctl);

	s->procs = calloc(sys->n_vms, sizeof(*s->procs));
	s->dp_fds = calloc(sys->n_dps + 1, sizeof(int));
	if (!s->procs || !s->dp_fds)
		abort();
	for (size_t d = 0; d < sys->n_dps; d++)
		s->dp_fds[d] = -1;
	for (size_t i = 0; i < sys->n_vms; i++) {
		s->procs[i].vm = &sys->vms[i];
		s->procs[i].state = ST_STOPPED;
		if (sys->vms[i].kind == SD_KIND_DEVICE_DOMAIN)
			s->procs[i].socket = sup_dd_socket(sys, i);
		if (sys->vms[i].restart_burst > 0) {
			s->procs[i].starts = calloc((size_t)sys->vms[i].restart_burst, sizeof(uint64_t));
			if (!s->procs[i].starts)
				abort();
		}
	}

	/* signals arrive through the signalfd only */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	s->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sfd < 0) {
		log_error(COMP, "signalfd: %s", strerror(errno));
		rc = 1;
		goto out;
	}
	r = listen_control(s);
	if (r < 0) {
		log_error(COMP, "control socket %s: %s", s->control,
			  r == -EADDRINUSE ? "another supervisor is running there" : strerror(-r));
		rc = 1;
		goto out;
	}
	if (make_dataports(s) < 0 || make_runtime_dir(s) < 0) {
		rc = 1;
		goto out;
	}
	make_cgroups(s);
	for (size_t i = 0; i < sys->n_vms; i++)
		n_dd += sys->vms[i].kind == SD_KIND_DEVICE_DOMAIN;
	log_info(COMP, "system %s: %zu VM%s, %zu device domain%s, control socket %s, VMM %s",
		 sys->name, sys->n_vms - n_dd, sys->n_vms - n_dd == 1 ? "" : "s", n_dd,
		 n_dd == 1 ? "" : "s", s->control, s->vmm);

	/* device domains first, then the VMs, each in declaration order; a VM
	 * waits until the sockets of its device domains accept */
	for (int pass = 0; pass < 2; pass++) {
		enum sd_kind kind = pass == 0 ? SD_KIND_DEVICE_DOMAIN : SD_KIND_VM;
		for (size_t i = 0; i < sys->n_vms && !s->stopping; i++) {
			if (sys->vms[i].kind != kind)
				continue;
			start_vm(s, &s->procs[i]);
			handle_signals(s);
		}
	}

	for (;;) {
		struct pollfd pfd[2] = { { s->sfd, POLLIN, 0 }, { s->lfd, POLLIN, 0 } };
		uint64_t now;

		/* no VM left (and none to restart): stop the back-ends, then end */
		if (!s->stopping && !vms_active(s)) {
			if (!any_alive(s, SD_KIND_DEVICE_DOMAIN))
				break;
			s->ended_by_itself = true;
			begin_stop(s, "no VM is left");
		}
		if (s->stopping && !s->dd_term_sent && !any_alive(s, SD_KIND_VM))
			stop_device_domains(s);
		if (s->stopping && all_done(s))
			break;
		r = poll(pfd, 2, poll_timeout(s));
		if (r < 0 && errno != EINTR) {
			log_error(COMP, "poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents)
			handle_signals(s);
		if (pfd[1].revents)
			handle_client(s);
		now = now_ns();
		for (size_t i = 0; i < sys->n_vms; i++) {
			struct vm_proc *p = &s->procs[i];
			if (p->state == ST_RESTARTING && p->restart_at_ns <= now && !s->stopping)
				start_vm(s, p);
			if (p->state == ST_STARTING && p->pid > 0 && p->next_probe_ns <= now)
				probe_dd(s, p, now);
		}
		start_waiting_vms(s);
		if (s->stopping && now >= s->stop_term_ns)
			term_stragglers(s);
		if (s->stopping && !s->killed_all && now >= s->stop_deadline_ns)
			kill_all(s);
	}

	/* stopped on request: success; ended on its own: did every VM end well? */
	for (size_t i = 0; i < sys->n_vms && (!s->stopping || s->ended_by_itself); i++)
		if (sys->vms[i].kind == SD_KIND_VM && !s->procs[i].last_ok)
			rc = 1;
	log_info(COMP, "all VMs have stopped");
out:
	/* make sure no VM outlives us (only reached on errors with VMs up) */
	for (size_t i = 0; i < sys->n_vms; i++) {
		if (s->procs[i].pid > 0) {
			kill(s->procs[i].pid, SIGKILL);
			waitpid(s->procs[i].pid, NULL, 0);
		}
		cg_remove(s->procs[i].cgroup);
		free(s->procs[i].starts);
		if (s->procs[i].socket) {
			unlink(s->procs[i].socket);
			free(s->procs[i].socket);
		}
	}
	cg_teardown(&s->cg);
	for (int c = 0; c < s->n_down_clients; c++) {
		write_status(s, s->down_clients[c], false);
		close(s->down_clients[c]);
	}
	if (s->lfd >= 0) {
		close(s->lfd);
		unlink(s->control);
	}
	for (size_t d = 0; d < sys->n_dps; d++)
		if (s->dp_fds[d] >= 0)
			close(s->dp_fds[d]);
	if (s->sfd >= 0)
		close(s->sfd);
	sigprocmask(SIG_UNBLOCK, &mask, NULL);
	free(s->procs);
	free(s->dp_fds);
	return rc;
}

/* ---- client side ---- */

int sup_request(const char *control_path, const char *request, FILE *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[4096];
	int fd;
	ssize_t n;

	if (strlen(control_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, control_path, strlen(control_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	snprintf(buf, sizeof(buf), "%s\n", request);
	if (write_all(fd, buf, strlen(buf)) < 0) {
		close(fd);
		return -EIO;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, out);
	fflush(out);
	close(fd);
	return 0;
}
