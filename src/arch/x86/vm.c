/*
 * The KVM virtual machine (see vm.h).
 *
 * Threads: one per vCPU, running KVM_RUN and handling the few exits that
 * reach user space (port I/O for the UART/RTC/power registers, MMIO for
 * virtio-mmio register access); the main thread waits for an exit request
 * or a signal.  Queue kicks (ioeventfd) and interrupts (irqfd) bypass the
 * vCPU threads entirely; device work happens on the virtio I/O threads.
 *
 * Stopping: whoever decides the VM is over (a vCPU seeing power-off, the
 * monitor, a signal) calls vm_request_exit(); the first status wins.  The
 * main thread then sets immediate_exit on every vCPU and kicks each thread
 * out of KVM_RUN with SIGUSR1.  Pausing uses the same kick and parks the
 * vCPU threads on a condition variable.
 */
#include "arch/x86/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/cpu.h"
#include "arch/x86/layout.h"
#include "arch/x86/rtc.h"
#include "arch/x86/serial.h"
#include "arch/x86/watchdog.h"
#include "common/log.h"
#include "common/util.h"
#include "virtio/mmio.h"

#define PVPANIC_PANICKED 0x1
#define SLP_EN 0x20

struct vcpu {
	struct vm *vm;
	int index;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	_Atomic int tid;
	bool started;
};

struct vm {
	struct vm_config cfg;
	int kvm_fd, vm_fd;
	uint8_t *ram;
	size_t ram_map_size;
	int ram_fd;
	struct guest_mem mem;
	int nr_cpus;
	struct vcpu vcpus[VM_MAX_CPUS];
	struct kvm_cpuid2 *cpuid;
	size_t run_size;

	struct serial *serial;
	struct rtc rtc;
	pthread_mutex_t rtc_lock;
	struct watchdog wdt;          /* under wdt_lock (vCPUs write, main loop checks) */
	pthread_mutex_t wdt_lock;
	void (*wdt_hook)(void *opaque, const char *action);
	void *wdt_hook_opaque;
	bool wdt_reset;               /* ended by the watchdog, action reset */

	int nr_virtio;
	struct virtio_mmio *virtio[VIRTIO_MMIO_MAX_DEVS];
	uint32_t gsi_reserved;  /* bit per GSI named by a device */
	uint32_t gsi_used;      /* bit per GSI given to a device */

	/* exit and pause */
	_Atomic int exit_status;      /* -1 while running */
	int exit_efd;                 /* wakes the main thread: the VM ends */
	int wake_efd;                 /* wakes the main thread: watchdog state changed */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	_Atomic bool pause_requested;
	int nr_parked;

	/* Coalesced MMIO: virtio InterruptACK writes are queued here by KVM
	 * instead of exiting; drained before any other exit is handled. */
	struct kvm_coalesced_mmio_ring *coalesced_ring;
	pthread_mutex_t coalesced_lock;
	_Atomic uint64_t coalesced_writes;

	_Atomic uint64_t exits, io_exits, mmio_exits, other_exits;
	_Atomic uint32_t port_exits[0x10000]; /* per-port count, logged at debug level */
};

static const uint32_t virtio_gsis[] = { 16, 17, 18, 19, 20, 21, 22, 23, 5, 6, 7, 10, 11, 12, 13, 14 };

int vm_probe_kvm(char *desc, size_t len)
{
	struct stat st;
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		snprintf(desc, len, "cannot open /dev/kvm: %s (no KVM on this host; "
			 "`capvm testhost` runs capvm inside a VM with KVM)", strerror(errno));
		return -1;
	}
	close(fd);
	if (stat("/sys/module/kvm_pvm", &st) == 0) {
		snprintf(desc, len, "/dev/kvm is kvm_pvm (software, cannot boot a stock Linux guest); "
			 "use `capvm testhost` to run on a test host with real KVM");
		return -1;
	}
	if (stat("/sys/module/kvm_amd", &st) == 0)
		snprintf(desc, len, "hardware KVM (kvm_amd)");
	else if (stat("/sys/module/kvm_intel", &st) == 0)
		snprintf(desc, len, "hardware KVM (kvm_intel)");
	else
		snprintf(desc, len, "KVM (unknown flavour)");
	return 0;
}

/* "what[ name]: strerror(errno)" into err; returns -1. */
static int err_errno(char *err, size_t errlen, const char *what, const char *name)
{
	snprintf(err, errlen, "%s%s%s: %s", what, name ? " " : "", name ? name : "", strerror(errno));
	return -1;
}

static uint64_t host_mem_total(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long kb = 0;
	char line[128];

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

/* Guest RAM: one mapping, host address aligned to 2 MiB so that guest huge
 * pages can be backed by host huge pages (far fewer nested page faults). */
static int vm_map_ram(struct vm *vm, char *err, size_t errlen)
{
	uint64_t size = vm->cfg.mem_size;
	size_t reserve = size + 2 * MiB;
	int flags = MAP_NORESERVE;
	uint8_t *base, *aligned;
	bool huge = vm->cfg.hugepages;

	vm->ram_fd = -1;
	if (vm->cfg.mem_shared) {
		vm->ram_fd = memfd_create("capvm-guest-ram", MFD_CLOEXEC | (huge ? MFD_HUGETLB : 0));
		if (vm->ram_fd < 0 && huge) {
			log_warn("vm", "no 2 MiB hugepages reserved for guest RAM; using transparent huge pages");
			huge = false;
			vm->ram_fd = memfd_create("capvm-guest-ram", MFD_CLOEXEC);
		}
		if (vm->ram_fd < 0 || ftruncate(vm->ram_fd, (off_t)size) < 0)
			return err_errno(err, errlen, "cannot create guest RAM", NULL);
	}
	base = mmap(NULL, reserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return err_errno(err, errlen, "cannot reserve guest RAM", NULL);
	aligned = (uint8_t *)ALIGN_UP((uintptr_t)base, 2 * MiB);

	void *p = MAP_FAILED;
	if (vm->ram_fd >= 0) {
		p = mmap(aligned, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, vm->ram_fd, 0);
	} else {
		if (huge) {
			p = mmap(aligned, size, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_HUGETLB | flags, -1, 0);
			if (p == MAP_FAILED)
				log_warn("vm", "no 2 MiB hugepages reserved for guest RAM "
					 "(/proc/sys/vm/nr_hugepages); using transparent huge pages");
		}
		if (p == MAP_FAILED)
			p = mmap(aligned, size, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | flags, -1, 0);
	}
	if (p == MAP_FAILED) {
		munmap(base, reserve);
		return err_errno(err, errlen, "cannot map guest RAM", NULL);
	}
	/* give back the alignment slack around the mapping */
	if (aligned > base)
		munmap(base, (size_t)(aligned - base));
	if ((size_t)(aligned - base) + size < reserve)
		munmap(aligned + size, reserve - (size_t)(aligned - base) - size);
	madvise(aligned, size, MADV_HUGEPAGE);
	madvise(aligned, size, MADV_DONTDUMP);
	vm->ram = aligned;
	vm->ram_map_size = size;
	return 0;
}

static int vm_set_memory(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t size, void *host)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uintptr_t)host,
	};
	return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
}

static void serial_set_irq(void *opaque, int level)
{
	struct vm *vm = opaque;
	struct kvm_irq_level irq = { .irq = IRQ_COM1, .level = (uint32_t)level };

	ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
}

static void vcpu_kick_handler(int sig) { (void)sig; }

struct vm *vm_create(const struct vm_config *cfg, char *err, size_t errlen)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	char desc[256];
	int r;

	if (!vm) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	vm->cfg = *cfg;
	vm->kvm_fd = vm->vm_fd = vm->exit_efd = vm->wake_efd = vm->ram_fd = -1;
	vm->exit_status = -1;
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	pthread_mutex_init(&vm->rtc_lock, NULL);
	pthread_mutex_init(&vm->coalesced_lock, NULL);
	pthread_mutex_init(&vm->wdt_lock, NULL);
	watchdog_init(&vm->wdt, (enum watchdog_action)cfg->watchdog_action, cfg->watchdog_timeout_s);

	if (cfg->nr_cpus < 1 || cfg->nr_cpus > VM_MAX_CPUS) {
		snprintf(err, errlen, "--cpus %d: must be between 1 and %d", cfg->nr_cpus, VM_MAX_CPUS);
		goto fail;
	}
	uint64_t host_mem = host_mem_total();
	if (host_mem && cfg->mem_size > host_mem) {
		snprintf(err, errlen, "--mem %llu MiB is more than this host has (%llu MiB)",
			 (unsigned long long)(cfg->mem_size / MiB), (unsigned long long)(host_mem / MiB));
		goto fail;
	}
	if (vm_probe_kvm(desc, sizeof(desc)) < 0) {
		snprintf(err, errlen, "%s", desc);
		goto fail;
	}
	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0 || ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		snprintf(err, errlen, "/dev/kvm: unsupported KVM API");
		goto fail;
	}
	static const struct { int cap; const char *name; } caps[] = {
		{ KVM_CAP_IRQCHIP, "IRQCHIP" }, { KVM_CAP_IOEVENTFD, "IOEVENTFD" },
		{ KVM_CAP_IRQFD, "IRQFD" }, { KVM_CAP_USER_MEMORY, "USER_MEMORY" },
		{ KVM_CAP_PIT2, "PIT2" }, { KVM_CAP_EXT_CPUID, "EXT_CPUID" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(caps); i++)
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0) {
			snprintf(err, errlen, "/dev/kvm lacks KVM_CAP_%s, which capvm needs", caps[i].name);
			goto fail;
		}
	log_info("vm", "%s", desc);  /* which kind of KVM this is, once it proved usable */
	int max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max_vcpus <= 0)
		max_vcpus = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max_vcpus > 0 && cfg->nr_cpus > max_vcpus) {
		snprintf(err, errlen, "--cpus %d: KVM allows at most %d vCPUs per VM", cfg->nr_cpus,
			 max_vcpus);
		goto fail;
	}

	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		err_errno(err, errlen, "cannot create a KVM VM", NULL);
		goto fail;
	}
	fcntl(vm->vm_fd, F_SETFD, FD_CLOEXEC);
	ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL);
	uint64_t idmap = 0xfffbc000ULL;
	ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		err_errno(err, errlen, "KVM_CREATE_IRQCHIP", NULL);
		goto fail;
	}
	struct kvm_pit_config pit = { .flags = 0 };
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		err_errno(err, errlen, "KVM_CREATE_PIT2", NULL);
		goto fail;
	}

	if (vm_map_ram(vm, err, errlen) < 0)
		goto fail;
	uint64_t low = boot_low_ram_end(cfg->mem_size);
	r = vm_set_memory(vm, 0, 0, low, vm->ram);
	guest_mem_add(&vm->mem, 0, low, vm->ram);
	if (!r && cfg->mem_size > low) {
		r = vm_set_memory(vm, 1, HIGH_RAM_START, cfg->mem_size - low, vm->ram + low);
		guest_mem_add(&vm->mem, HIGH_RAM_START, cfg->mem_size - low, vm->ram + low);
	}
	if (r < 0) {
		err_errno(err, errlen, "cannot give guest RAM to KVM", NULL);
		goto fail;
	}
	for (int i = 0; i < cfg->nr_dataports; i++) {
		struct vm_dataport *d = &vm->cfg.dataports[i];
		d->host = mmap(NULL, d->size, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, 0);
		if (d->host == MAP_FAILED) {
			d->host = NULL;
			err_errno(err, errlen, "cannot map dataport", d->name);
			goto fail;
		}
		if (vm_set_memory(vm, 2 + (uint32_t)i, d->gpa, d->size, d->host) < 0) {
			err_errno(err, errlen, "cannot map dataport into the guest", d->name);
			goto fail;
		}
		guest_mem_add(&vm->mem, d->gpa, d->size, d->host);
	}

	/* CPUID as KVM supports it, then vCPUs */
	int nent = 256;
	for (;;) {
		vm->cpuid = calloc(1, sizeof(*vm->cpuid) + (size_t)nent * sizeof(vm->cpuid->entries[0]));
		if (!vm->cpuid)
			goto fail;
		vm->cpuid->nent = (uint32_t)nent;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, vm->cpuid) == 0)
			break;
		free(vm->cpuid);
		vm->cpuid = NULL;
		if (errno != E2BIG || nent > 4096) {
			err_errno(err, errlen, "KVM_GET_SUPPORTED_CPUID", NULL);
			goto fail;
		}
		nent *= 2;
	}
	/*
	 * KVM emulates the TSC-deadline timer but leaves it to user space to
	 * announce it (CPUID.1:ECX[24]).  Without it the guest programs its
	 * LAPIC timer through the initial-count register and calibrates it.
	 */
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
		for (unsigned i = 0; i < vm->cpuid->nent; i++)
			if (vm->cpuid->entries[i].function == 1)
				vm->cpuid->entries[i].ecx |= 1u << 24;
	int run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size <= 0) {
		err_errno(err, errlen, "KVM_GET_VCPU_MMAP_SIZE", NULL);
		goto fail;
	}
	vm->run_size = (size_t)run_size;
	vm->nr_cpus = cfg->nr_cpus;
	for (int i = 0; i < vm->nr_cpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		v->vm = vm;
		v->index = i;
		v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (v->fd < 0) {
			err_errno(err, errlen, "cannot create vCPU", NULL);
			goto fail;
		}
		fcntl(v->fd, F_SETFD, FD_CLOEXEC);
		v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
		if (v->run == MAP_FAILED) {
			v->run = NULL;
			err_errno(err, errlen, "cannot map vCPU state", NULL);
			goto fail;
		}
		if ((r = cpu_setup_cpuid(v->fd, vm->cpuid, i, vm->nr_cpus)) < 0 ||
		    (r = cpu_setup_lapic(v->fd)) < 0) {
			errno = -r;
			err_errno(err, errlen, "cannot set up vCPU", NULL);
			goto fail;
		}
	}

	int ring_page = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);
	if (ring_page > 0 && (size_t)ring_page * 4096 < vm->run_size)
		vm->coalesced_ring = (void *)((uint8_t *)vm->vcpus[0].run + (size_t)ring_page * 4096);

	vm->serial = serial_create(cfg->console, serial_set_irq, vm);
	if (!vm->serial)
		goto fail;
	rtc_init(&vm->rtc);
	vm->exit_efd = eventfd(0, EFD_CLOEXEC);
	vm->wake_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->exit_efd < 0 || vm->wake_efd < 0)
		goto fail;
	return vm;
fail:
	if (!err[0])
		snprintf(err, errlen, "cannot create the VM: %s", strerror(errno));
	vm_destroy(vm);
	return NULL;
}

struct guest_mem *vm_guest_mem(struct vm *vm) { return &vm->mem; }

int vm_ram_slots(struct vm *vm, struct vm_ram_slot *slots, int max, int *fd)
{
	uint64_t low = boot_low_ram_end(vm->cfg.mem_size);
	int n = 0;

	if (vm->ram_fd < 0 || max < 2)
		return -1;
	/* The same split as the KVM slots 0 and 1 in vm_create(). */
	slots[n++] = (struct vm_ram_slot){ .gpa = 0, .size = low, .fd_offset = 0 };
	if (vm->cfg.mem_size > low)
		slots[n++] = (struct vm_ram_slot){ .gpa = HIGH_RAM_START,
			.size = vm->cfg.mem_size - low, .fd_offset = low };
	*fd = vm->ram_fd;
	return n;
}
int vm_nr_cpus(struct vm *vm) { return vm->nr_cpus; }
int vm_vcpu_tid(struct vm *vm, int i) { return i >= 0 && i < vm->nr_cpus ? vm->vcpus[i].tid : 0; }

bool vm_gsi_usable(uint32_t gsi)
{
	for (size_t i = 0; i < ARRAY_SIZE(virtio_gsis); i++)
		if (virtio_gsis[i] == gsi)
			return true;
	return false;
}

int vm_reserve_gsi(struct vm *vm, uint32_t gsi)
{
	if (!vm_gsi_usable(gsi) || (vm->gsi_reserved & (1u << gsi)))
		return -1;
	vm->gsi_reserved |= 1u << gsi;
	return 0;
}

int vm_alloc_mmio_slot(struct vm *vm, uint32_t want_gsi, uint64_t *base, uint32_t *gsi)
{
	if (vm->nr_virtio >= VIRTIO_MMIO_MAX_DEVS)
		return -1;
	*base = VIRTIO_MMIO_BASE + (uint64_t)vm->nr_virtio * VIRTIO_MMIO_STRIDE;
	if (want_gsi) {
		if (!(vm->gsi_reserved & (1u << want_gsi)) || (vm->gsi_used & (1u << want_gsi)))
			return -1;
		*gsi = want_gsi;
	} else {
		size_t i = 0;
		while (i < ARRAY_SIZE(virtio_gsis) &&
		       ((vm->gsi_reserved | vm->gsi_used) & (1u << virtio_gsis[i])))
			i++;
		if (i == ARRAY_SIZE(virtio_gsis))
			return -1;
		*gsi = virtio_gsis[i];
	}
	vm->gsi_used |= 1u << *gsi;
	return 0;
}

int vm_add_virtio(struct vm *vm, struct virtio_mmio *t, char *err, size_t errlen)
{
	if (vm->nr_virtio >= VIRTIO_MMIO_MAX_DEVS) {
		snprintf(err, errlen, "too many virtio devices (at most %d)", VIRTIO_MMIO_MAX_DEVS);
		return -1;
	}
	for (int q = 0; q < t->nr_queues; q++) {
		if (t->kick_fd[q] < 0)
			continue;
		struct kvm_ioeventfd io = {
			.datamatch = (uint64_t)q, .addr = t->base + VIRTIO_MMIO_QUEUE_NOTIFY,
			.len = 4, .fd = t->kick_fd[q], .flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
		};
		if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
			return err_errno(err, errlen, "KVM_IOEVENTFD", NULL);
	}
	/*
	 * InterruptACK needs no immediate answer: let KVM queue those writes
	 * (one exit per interrupt instead of two).  InterruptStatus reads still
	 * exit; the transport then clears the status on read (see mmio.h) so
	 * a late ACK cannot swallow a newer event.
	 */
	if (vm->coalesced_ring) {
		struct kvm_coalesced_mmio_zone zone = { .addr = t->base + VIRTIO_MMIO_INTERRUPT_ACK, .size = 4 };
		if (ioctl(vm->vm_fd, KVM_REGISTER_COALESCED_MMIO, &zone) < 0)
			log_warn("vm", "cannot coalesce InterruptACK writes: %s", strerror(errno));
		else
			t->isr_read_clears = true;
	}
	struct kvm_irqfd irqfd = { .fd = (uint32_t)t->irq_fd, .gsi = t->gsi };
	if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
		return err_errno(err, errlen, "KVM_IRQFD", NULL);
	vm->virtio[vm->nr_virtio++] = t;
	return 0;
}

void vm_request_exit(struct vm *vm, int status, const char *why)
{
	int expected = -1;
	uint64_t one = 1;

	if (atomic_compare_exchange_strong(&vm->exit_status, &expected, status)) {
		log_info("vm", "stopping: %s (exit status %d)", why, status);
		if (write(vm->exit_efd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow here */
		}
	}
}

void vm_power_button(struct vm *vm)
{
	struct kvm_irq_level irq = { .irq = IRQ_GED, .level = 1 };

	ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
	irq.level = 0;
	ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
	log_info("vm", "power button pressed");
}

static void vm_kick_vcpus(struct vm *vm)
{
	for (int i = 0; i < vm->nr_cpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (!v->started)
			continue;
		v->run->immediate_exit = 1;
		pthread_kill(v->thread, SIGUSR1);
	}
}

int vm_pause(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	if (!vm->pause_requested) {
		vm->pause_requested = true;
		vm_kick_vcpus(vm);
		/* wait until every running vCPU is parked, bounded */
		for (int tries = 0; vm->nr_parked < vm->nr_cpus && vm->exit_status < 0 && tries < 500; tries++) {
			pthread_mutex_unlock(&vm->pause_lock);
			usleep(1000);
			vm_kick_vcpus(vm);
			pthread_mutex_lock(&vm->pause_lock);
		}
	}
	pthread_mutex_unlock(&vm->pause_lock);
	return 0;
}

/* Make the main loop recompute its watchdog deadline. */
static void vm_wake_main(struct vm *vm)
{
	uint64_t one = 1;

	if (write(vm->wake_efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: a wake-up is already pending */
	}
}

int vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->wdt_lock);
	if (vm->wdt.armed && vm->pause_requested)  /* a fresh countdown after a pause */
		vm->wdt.deadline_ns = now_ns() + (uint64_t)watchdog_timeout_s(&vm->wdt) * 1000000000ULL;
	pthread_mutex_unlock(&vm->wdt_lock);
	pthread_mutex_lock(&vm->pause_lock);
	vm->pause_requested = false;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	vm_wake_main(vm);
	return 0;
}

bool vm_is_paused(struct vm *vm) { return vm->pause_requested; }

void vm_get_stats(struct vm *vm, struct vm_stats *st)
{
	st->exits = vm->exits;
	st->io_exits = vm->io_exits;
	st->mmio_exits = vm->mmio_exits;
	st->other_exits = vm->other_exits;
}

/* Port I/O that reaches user space.  Unknown ports read as all-ones. */
static void vm_handle_io(struct vcpu *v, uint16_t port, uint8_t *data, unsigned size, bool out)
{
	struct vm *vm = v->vm;

	if (port >= PORT_COM1 && port < PORT_COM1 + 8 && size == 1) {
		if (out)
			serial_write(vm->serial, port - PORT_COM1, *data);
		else
			*data = serial_read(vm->serial, port - PORT_COM1);
		return;
	}
	if (watchdog_owns_port(port) && size == 1) {
		pthread_mutex_lock(&vm->wdt_lock);
		if (out)
			watchdog_io_write(&vm->wdt, port, *data, now_ns());
		else
			*data = watchdog_io_read(&vm->wdt, port);
		pthread_mutex_unlock(&vm->wdt_lock);
		if (out)
			vm_wake_main(vm);  /* started, stopped or re-timed */
		return;
	}
	switch (port) {
	case PORT_RTC_INDEX:
	case PORT_RTC_DATA:
		pthread_mutex_lock(&vm->rtc_lock);
		if (out)
			rtc_write(&vm->rtc, port - PORT_RTC_INDEX, *data);
		else
			*data = rtc_read(&vm->rtc, port - PORT_RTC_INDEX);
		pthread_mutex_unlock(&vm->rtc_lock);
		return;
	case PORT_I8042_CMD:
		if (out && *data == 0xfe)
			vm_request_exit(vm, VM_EXIT_REBOOT, "guest reset through the i8042");
		else if (!out)
			*data = 0;  /* nothing to read, ready for commands */
		return;
	case PORT_PVPANIC:
		if (out && (*data & PVPANIC_PANICKED))
			vm_request_exit(vm, VM_EXIT_PANIC, "guest kernel panicked (pvpanic)");
		else if (!out)
			*data = PVPANIC_PANICKED;  /* supported events */
		return;
	case PORT_ACPI_SLEEP_CTL:
		if (out && (*data & SLP_EN) && ((*data >> 2) & 7) == ACPI_S5_SLP_TYP)
			vm_request_exit(vm, VM_EXIT_POWEROFF, "guest powered off");
		else if (!out)
			*data = 0;
		return;
	case PORT_ACPI_SLEEP_STS:
		if (!out)
			*data = 0;
		return;
	case PORT_ACPI_RESET:
		if (out && *data == ACPI_RESET_VALUE)
			vm_request_exit(vm, VM_EXIT_REBOOT, "guest reset through the ACPI reset register");
		else if (!out)
			*data = 0;
		return;
	}
	if (!out)
		memset(data, 0xff, size);
}

static void vm_handle_mmio(struct vcpu *v, uint64_t addr, uint8_t *data, unsigned len, bool write)
{
	struct vm *vm = v->vm;

	for (int i = 0; i < vm->nr_virtio; i++) {
		struct virtio_mmio *t = vm->virtio[i];
		if (addr >= t->base && addr - t->base < VIRTIO_MMIO_SIZE) {
			if (write)
				virtio_mmio_write(t, addr - t->base, data, len);
			else
				virtio_mmio_read(t, addr - t->base, data, len);
			return;
		}
	}
	if (!write)
		memset(data, 0xff, len);
}

/* Apply the MMIO writes KVM queued in the coalesced ring, in order. */
static void vm_drain_coalesced(struct vcpu *v)
{
	struct vm *vm = v->vm;
	struct kvm_coalesced_mmio_ring *ring = vm->coalesced_ring;
	const uint32_t max = (uint32_t)((4096 - sizeof(*ring)) / sizeof(ring->coalesced_mmio[0]));

	if (!ring || __atomic_load_n(&ring->first, __ATOMIC_ACQUIRE) ==
		     __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&vm->coalesced_lock);
	while (ring->first != __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE)) {
		struct kvm_coalesced_mmio m = ring->coalesced_mmio[ring->first % max];
		if (m.len <= 8)
			vm_handle_mmio(v, m.phys_addr, m.data, m.len, true);
		vm->coalesced_writes++;
		__atomic_store_n(&ring->first, (ring->first + 1) % max, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&vm->coalesced_lock);
}

static void vcpu_park_if_paused(struct vcpu *v)
{
	struct vm *vm = v->vm;

	if (!vm->pause_requested)
		return;
	pthread_mutex_lock(&vm->pause_lock);
	vm->nr_parked++;
	while (vm->pause_requested && vm->exit_status < 0)
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->nr_parked--;
	pthread_mutex_unlock(&vm->pause_lock);
}

static void vcpu_apply_placement(struct vcpu *v)
{
	const struct vm_config *cfg = &v->vm->cfg;

	if (cfg->nr_affinity > 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		/* one CPU per vCPU when enough are listed, else all of them */
		if (cfg->nr_affinity >= v->vm->nr_cpus)
			CPU_SET(cfg->affinity[v->index], &set);
		else
			for (int i = 0; i < cfg->nr_affinity; i++)
				CPU_SET(cfg->affinity[i], &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0)
			log_warn("cpu", "vCPU %d: cannot set CPU affinity: %s", v->index, strerror(errno));
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	char name[16];

	v->tid = (int)syscall(SYS_gettid);
	snprintf(name, sizeof(name), "vcpu%d", v->index);
	pthread_setname_np(pthread_self(), name);
	vcpu_apply_placement(v);

	while (vm->exit_status < 0) {
		vcpu_park_if_paused(v);
		if (vm->exit_status >= 0)
			break;
		int r = ioctl(v->fd, KVM_RUN, 0);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				v->run->immediate_exit = 0;
				continue;
			}
			log_error("cpu", "vCPU %d: KVM_RUN failed: %s", v->index, strerror(errno));
			vm_request_exit(vm, VM_EXIT_CRASH, "KVM_RUN failed");
			break;
		}
		vm->exits++;
		vm_drain_coalesced(v);
		struct kvm_run *run = v->run;
		switch (run->exit_reason) {
		case KVM_EXIT_IO: {
			vm->io_exits++;
			vm->port_exits[run->io.port]++;
			uint8_t *p = (uint8_t *)run + run->io.data_offset;
			for (uint32_t i = 0; i < run->io.count; i++, p += run->io.size)
				vm_handle_io(v, run->io.port, p, run->io.size,
					     run->io.direction == KVM_EXIT_IO_OUT);
			break;
		}
		case KVM_EXIT_MMIO:
			vm->mmio_exits++;
			vm_handle_mmio(v, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
				       run->mmio.is_write);
			break;
		case KVM_EXIT_HLT:
			vm->other_exits++;
			break;  /* in-kernel irqchip: should not happen */
		case KVM_EXIT_SHUTDOWN:
			log_error("cpu", "vCPU %d: guest triple fault", v->index);
			cpu_dump_regs(v->fd, v->index);
			vm_request_exit(vm, VM_EXIT_CRASH, "guest triple fault");
			break;
		case KVM_EXIT_SYSTEM_EVENT:
			if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
				vm_request_exit(vm, VM_EXIT_REBOOT, "guest reset");
			else if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
				vm_request_exit(vm, VM_EXIT_POWEROFF, "guest powered off");
			else
				vm_request_exit(vm, VM_EXIT_CRASH, "guest crashed");
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			log_error("cpu", "vCPU %d: KVM internal error, suberror %u", v->index,
				  run->internal.suberror);
			cpu_dump_regs(v->fd, v->index);
			vm_request_exit(vm, VM_EXIT_CRASH, "KVM internal error");
			break;
		case KVM_EXIT_FAIL_ENTRY:
			log_error("cpu", "vCPU %d: VM entry failed, reason 0x%llx", v->index,
				  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			cpu_dump_regs(v->fd, v->index);
			vm_request_exit(vm, VM_EXIT_CRASH, "VM entry failed");
			break;
		case KVM_EXIT_INTR:
			break;
		default:
			vm->other_exits++;
			log_warn("cpu", "vCPU %d: unhandled exit reason %u", v->index, run->exit_reason);
		}
	}
	return NULL;
}

void vm_get_watchdog(struct vm *vm, struct vm_watchdog_state *st)
{
	pthread_mutex_lock(&vm->wdt_lock);
	st->armed = vm->wdt.armed;
	st->timeout_s = watchdog_timeout_s(&vm->wdt);
	st->guest_timeout_s = watchdog_code_seconds(vm->wdt.guest_code);
	st->ms_left = watchdog_ms_left(&vm->wdt, now_ns());
	st->pets = vm->wdt.pets;
	st->fires = vm->wdt.fires;
	st->action = watchdog_action_name(vm->wdt.action);
	pthread_mutex_unlock(&vm->wdt_lock);
}

void vm_set_watchdog_hook(struct vm *vm, void (*fn)(void *opaque, const char *action),
			  void *opaque)
{
	vm->wdt_hook = fn;
	vm->wdt_hook_opaque = opaque;
}

bool vm_watchdog_reset(struct vm *vm) { return vm->wdt_reset; }

/*
 * Main loop: has the watchdog run out?  Then log, tell the hook (monitor
 * event) and act.  Returns the poll timeout until the next check (ms):
 * the time left when armed and running, else -1 (no countdown); a guest
 * arming or re-timing the watchdog, and a resume, wake the loop through
 * wake_efd (the deadline itself is exact: computed from the pet's time).
 */
static int vm_check_watchdog(struct vm *vm)
{
	pthread_mutex_lock(&vm->wdt_lock);
	uint64_t now = now_ns();
	/* a paused guest cannot pet: no countdown while paused (see vm_resume) */
	bool paused = vm->pause_requested;
	bool fired = !paused && watchdog_expired(&vm->wdt, now);
	int64_t left = watchdog_ms_left(&vm->wdt, now);
	enum watchdog_action action = vm->wdt.action;
	unsigned timeout = watchdog_timeout_s(&vm->wdt);
	pthread_mutex_unlock(&vm->wdt_lock);

	if (fired) {
		log_warn("vm", "watchdog fired: the guest did not pet it for %u s; action %s",
			 timeout, watchdog_action_name(action));
		if (vm->wdt_hook)
			vm->wdt_hook(vm->wdt_hook_opaque, watchdog_action_name(action));
		switch (action) {
		case WATCHDOG_RESET:
			vm->wdt_reset = true;
			vm_request_exit(vm, VM_EXIT_REBOOT, "watchdog fired (action reset)");
			break;
		case WATCHDOG_POWEROFF:
			vm_request_exit(vm, VM_EXIT_WATCHDOG, "watchdog fired (action poweroff)");
			break;
		case WATCHDOG_RESTART:
			vm_request_exit(vm, VM_EXIT_WATCHDOG_RESTART, "watchdog fired (action restart)");
			break;
		case WATCHDOG_NONE:
			break;
		}
	}
	if (left < 0 || paused)
		return -1;
	return left < INT32_MAX ? (int)left : INT32_MAX;
}

/* Map the seL4 priority scale 0..255 onto Linux nice values (see docs/run.md). */
static void vm_apply_priority(struct vm *vm)
{
	if (vm->cfg.priority < 0)
		return;
	int nice = 19 - (vm->cfg.priority * 39) / 255;  /* 0 -> 19, 255 -> -20 */
	for (int i = 0; i < vm->nr_cpus; i++)
		if (setpriority(PRIO_PROCESS, (id_t)vm->vcpus[i].tid, nice) < 0)
			log_warn("cpu", "vCPU %d: cannot set nice %d: %s", i, nice, strerror(errno));
}

static int vm_load(struct vm *vm, char *err, size_t errlen)
{
	void *kernel = NULL, *initrd = NULL;
	size_t ksize = 0, isize = 0;
	struct acpi_config acpi = { .nr_cpus = vm->nr_cpus };
	struct boot_reserved res[VM_MAX_DATAPORTS];
	struct boot_entry entry;
	uint64_t rsdp = 0;
	int r;

	if ((r = read_file(vm->cfg.kernel_path, &kernel, &ksize)) < 0) {
		snprintf(err, errlen, "cannot read kernel %s: %s", vm->cfg.kernel_path, strerror(-r));
		return -1;
	}
	if (vm->cfg.initrd_path && (r = read_file(vm->cfg.initrd_path, &initrd, &isize)) < 0) {
		snprintf(err, errlen, "cannot read initrd %s: %s", vm->cfg.initrd_path, strerror(-r));
		free(kernel);
		return -1;
	}

	for (int i = 0; i < vm->nr_virtio; i++) {
		acpi.mmio_devs[i].base = vm->virtio[i]->base;
		acpi.mmio_devs[i].size = VIRTIO_MMIO_SIZE;
		acpi.mmio_devs[i].gsi = vm->virtio[i]->gsi;
	}
	acpi.nr_mmio_devs = vm->nr_virtio;
	if (!acpi_build(&acpi, vm->ram + ACPI_TABLES_GPA, ACPI_TABLES_GPA, ACPI_TABLES_MAX, &rsdp)) {
		snprintf(err, errlen, "cannot build ACPI tables");
		free(kernel);
		free(initrd);
		return -1;
	}
	/*
	 * The guest kernel's last-resort reboot jumps to the BIOS reset vector
	 * in real mode.  There is no BIOS: put a stub there that pulses the
	 * i8042 reset line (mov al,0xfe; out 0x64,al; hlt; jmp hlt).
	 */
	static const uint8_t reset_stub[] = { 0xb0, 0xfe, 0xe6, 0x64, 0xf4, 0xeb, 0xfd };
	memcpy(vm->ram + RESET_VECTOR_GPA, reset_stub, sizeof(reset_stub));
	for (int i = 0; i < vm->cfg.nr_dataports; i++) {
		res[i].gpa = vm->cfg.dataports[i].gpa;
		res[i].size = vm->cfg.dataports[i].size;
	}
	struct boot_image img = {
		.ram = vm->ram, .ram_size = vm->cfg.mem_size,
		.kernel = kernel, .kernel_size = ksize,
		.initrd = initrd, .initrd_size = isize,
		.cmdline = vm->cfg.cmdline, .rsdp_gpa = rsdp,
		.reserved = res, .nr_reserved = vm->cfg.nr_dataports,
	};
	char berr[200] = "";
	r = boot_load(&img, &entry, berr, sizeof(berr));
	free(kernel);
	free(initrd);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", vm->cfg.kernel_path, berr);
		return -1;
	}
	cpu_write_boot_tables(vm->ram, entry.mode);
	if ((r = cpu_setup_boot_regs(vm->vcpus[0].fd, &entry)) < 0) {
		snprintf(err, errlen, "cannot set boot registers: %s", strerror(-r));
		return -1;
	}
	log_info("vm", "booting %s as %s: %d vCPU%s, %llu MiB RAM", vm->cfg.kernel_path,
		 entry.format, vm->nr_cpus, vm->nr_cpus > 1 ? "s" : "",
		 (unsigned long long)(vm->cfg.mem_size / MiB));
	return 0;
}

int vm_boot_and_run(struct vm *vm, char *err, size_t errlen)
{
	sigset_t wait_set, old;
	struct sigaction sa = { .sa_handler = vcpu_kick_handler };
	int sfd;

	if (vm_load(vm, err, errlen) < 0)
		return VM_EXIT_ERROR;

	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&wait_set);
	sigaddset(&wait_set, SIGTERM);
	sigaddset(&wait_set, SIGINT);
	sigaddset(&wait_set, SIGHUP);
	sigaddset(&wait_set, SIGPWR);
	pthread_sigmask(SIG_BLOCK, &wait_set, &old);
	sfd = signalfd(-1, &wait_set, SFD_CLOEXEC);

	if (vm->cfg.console)
		chardev_start_input(vm->cfg.console, serial_input, vm->serial);
	for (int i = 0; i < vm->nr_cpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (pthread_create(&v->thread, NULL, vcpu_thread, v)) {
			vm_request_exit(vm, VM_EXIT_ERROR, "cannot start vCPU threads");
			break;
		}
		v->started = true;
	}
	for (int tries = 0; tries < 1000; tries++) {
		bool all = true;
		for (int i = 0; i < vm->nr_cpus; i++)
			if (vm->vcpus[i].started && !vm->vcpus[i].tid)
				all = false;
		if (all)
			break;
		usleep(100);
	}
	vm_apply_priority(vm);

	while (vm->exit_status < 0) {
		struct pollfd p[3] = { { .fd = vm->exit_efd, .events = POLLIN },
				       { .fd = sfd, .events = POLLIN },
				       { .fd = vm->wake_efd, .events = POLLIN } };
		if (poll(p, 3, vm_check_watchdog(vm)) < 0 && errno != EINTR)
			break;
		if (p[2].revents & POLLIN) {
			uint64_t n;
			if (read(vm->wake_efd, &n, sizeof(n)) < 0) {
				/* nothing pending after all */
			}
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP)
					log_reopen();
				else if (si.ssi_signo == SIGPWR)
					vm_power_button(vm);  /* the guest decides */
				else
					vm_request_exit(vm, VM_EXIT_POWEROFF,
							si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
			}
		}
	}
	/* wake paused vCPUs and kick running ones, then wait for all */
	vm_resume(vm);
	vm_kick_vcpus(vm);
	for (int i = 0; i < vm->nr_cpus; i++)
		if (vm->vcpus[i].started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].started = false;
		}
	close(sfd);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	log_info("vm", "%llu exits (%llu port I/O, %llu MMIO)", (unsigned long long)vm->exits,
		 (unsigned long long)vm->io_exits, (unsigned long long)vm->mmio_exits);
	for (unsigned port = 0; port < 0x10000; port++)
		if (vm->port_exits[port])
			log_debug("vm", "port 0x%x: %u exits", port, vm->port_exits[port]);
	return vm->exit_status;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	for (int i = 0; i < vm->nr_cpus || i < VM_MAX_CPUS; i++) {
		struct vcpu *v = &vm->vcpus[i];
		if (!v->vm)
			break;
		if (v->run)
			munmap(v->run, vm->run_size);
		if (v->fd > 0)
			close(v->fd);
	}
	for (int i = 0; i < vm->cfg.nr_dataports; i++)
		if (vm->cfg.dataports[i].host)
			munmap(vm->cfg.dataports[i].host, vm->cfg.dataports[i].size);
	serial_destroy(vm->serial);
	if (vm->ram)
		munmap(vm->ram, vm->ram_map_size);
	if (vm->ram_fd >= 0)
		close(vm->ram_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->exit_efd >= 0)
		close(vm->exit_efd);
	if (vm->wake_efd >= 0)
		close(vm->wake_efd);
	free(vm->cpuid);
	free(vm);
}
