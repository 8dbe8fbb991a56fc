/*
 * The monitor of `capvm run` (see run_monitor.h): the monitor_ops callbacks
 * on top of the VM (pause, resume, power button, exit requests) and its
 * devices (block list, counters).  Callbacks run on the monitor's thread;
 * the vm_* calls they use are thread-safe.
 */
#include "cli/run_monitor.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/vm.h"
#include "backend/vu_proxy.h"
#include "cli/run_devices.h"
#include "monitor/monitor.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"
#include "virtio/net.h"
#include "virtio/virtio.h"

static enum monitor_runstate rm_get_status(void *opaque)
{
	struct run_monitor *m = opaque;
	return vm_is_paused(m->vm) ? MONITOR_RUNSTATE_PAUSED : MONITOR_RUNSTATE_RUNNING;
}

static int rm_stop(void *opaque, char *err, size_t errlen)
{
	struct run_monitor *m = opaque;
	if (!vm_is_paused(m->vm)) {
		vm_pause(m->vm);
		monitor_emit_event(m->mon, "STOP", NULL);
	}
	return 0;
}

static int rm_cont(void *opaque, char *err, size_t errlen)
{
	struct run_monitor *m = opaque;
	if (vm_is_paused(m->vm)) {
		vm_resume(m->vm);
		monitor_emit_event(m->mon, "RESUME", NULL);
	}
	return 0;
}

static int rm_powerdown(void *opaque, char *err, size_t errlen)
{
	struct run_monitor *m = opaque;
	monitor_emit_event(m->mon, "POWERDOWN", NULL);
	vm_power_button(m->vm);
	return 0;
}

static int rm_reset(void *opaque, char *err, size_t errlen)
{
	struct run_monitor *m = opaque;
	m->reset_requested = true;
	vm_request_exit(m->vm, VM_EXIT_REBOOT, "system_reset from the monitor");
	return 0;
}

static int rm_quit(void *opaque, char *err, size_t errlen)
{
	struct run_monitor *m = opaque;
	m->quit_requested = true;
	vm_request_exit(m->vm, VM_EXIT_POWEROFF, "quit from the monitor");
	return 0;
}

static int rm_query_cpus(void *opaque, struct monitor_cpu *cpus, size_t max)
{
	struct run_monitor *m = opaque;
	int n = vm_nr_cpus(m->vm);

	for (int i = 0; i < n && (size_t)i < max; i++) {
		cpus[i].index = i;
		cpus[i].thread_id = vm_vcpu_tid(m->vm, i);
		cpus[i].halted = false;
	}
	return n < (int)max ? n : (int)max;
}

/* The transport of disk i (its device is named "blk<i>"), or NULL. */
static struct virtio_mmio *disk_transport(struct run_monitor *m, int i)
{
	char name[32];

	snprintf(name, sizeof(name), "blk%d", i);
	for (int t = 0; t < m->devs->nr_transports; t++) {
		struct virtio_mmio *tr = m->devs->transports[t];
		if (tr->dev && tr->dev->name && !strcmp(tr->dev->name, name))
			return tr;
	}
	return NULL;
}

static int rm_query_block(void *opaque, struct monitor_block *blocks, size_t max)
{
	struct run_monitor *m = opaque;
	int n = 0;

	for (int i = 0; i < m->devs->nr_disks && (size_t)n < max; i++, n++) {
		const struct blk_options *o = &m->devs->disks[i];
		struct monitor_block *b = &blocks[n];
		memset(b, 0, sizeof(*b));
		snprintf(b->device, sizeof(b->device), "virtio%d", i);
		snprintf(b->file, sizeof(b->file), "%s", o->null_backend ? "null" : o->path);
		snprintf(b->format, sizeof(b->format), "raw");
		b->read_only = o->readonly;
		b->direct = o->cache == BLK_CACHE_NONE;
		struct virtio_mmio *tr = disk_transport(m, i);
		if (tr)
			snprintf(b->attached_to, sizeof(b->attached_to), "virtio-mmio@0x%llx",
				 (unsigned long long)tr->base);
	}
	return n;
}

/* block_resize: device "virtioN" (as query-block names it) or "blkN" (as logs do). */
static int rm_block_resize(void *opaque, const char *device, uint64_t size, char *err, size_t errlen)
{
	struct run_monitor *m = opaque;
	struct virtio_mmio *tr;
	int i = -1, used = 0;

	if ((sscanf(device, "virtio%d%n", &i, &used) != 1 && sscanf(device, "blk%d%n", &i, &used) != 1) ||
	    device[used] || i < 0 || i >= m->devs->nr_disks) {
		snprintf(err, errlen, "Device '%s' not found", device);
		return -ENODEV;
	}
	tr = disk_transport(m, i);
	if (!tr) {
		snprintf(err, errlen, "Device '%s' not found", device);
		return -ENODEV;
	}
	if (vu_proxy_is(tr->dev)) {
		snprintf(err, errlen, "%s is served by a vhost-user back-end, which owns its image",
			 device);
		return -ENOTSUP;
	}
	return virtio_blk_resize(tr->dev, size, err, errlen) ? -EINVAL : 0;
}

static int add_counter(struct monitor_counter *c, size_t max, int n, const char *name,
		       uint64_t value)
{
	if ((size_t)n >= max)
		return n;
	snprintf(c[n].name, sizeof(c[n].name), "%s", name);
	c[n].value = value;
	return n + 1;
}

static int rm_query_counters(void *opaque, struct monitor_counter *c, size_t max)
{
	struct run_monitor *m = opaque;
	struct vm_stats st;
	char name[64];
	int n = 0;

	vm_get_stats(m->vm, &st);
	n = add_counter(c, max, n, "vm.exits", st.exits);
	n = add_counter(c, max, n, "vm.exits.io", st.io_exits);
	n = add_counter(c, max, n, "vm.exits.mmio", st.mmio_exits);
	struct vm_watchdog_state ws;
	vm_get_watchdog(m->vm, &ws);
	n = add_counter(c, max, n, "watchdog.armed", ws.armed);
	n = add_counter(c, max, n, "watchdog.timeout_s", ws.timeout_s);
	n = add_counter(c, max, n, "watchdog.pets", ws.pets);
	n = add_counter(c, max, n, "watchdog.fired", ws.fires);
	for (int t = 0; t < m->devs->nr_transports; t++) {
		struct virtio_device *d = m->devs->transports[t]->dev;
		const struct virtio_counters *vc = &d->stats;
		const char *dn = d->name ? d->name : "dev";
#define DEV_COUNTER(field) do { \
		snprintf(name, sizeof(name), "%s.%s", dn, #field); \
		n = add_counter(c, max, n, name, vc->field); } while (0)
		DEV_COUNTER(kicks);
		DEV_COUNTER(irqs);
		DEV_COUNTER(irqs_suppressed);
		DEV_COUNTER(needs_reset);
		DEV_COUNTER(resets);
#undef DEV_COUNTER
		if (vu_proxy_is(d)) {
			const struct vu_proxy_stats *ps = vu_proxy_stats(d);
#define VU_COUNTER(field) do { \
			snprintf(name, sizeof(name), "%s.vhost_user.%s", dn, #field); \
			n = add_counter(c, max, n, name, ps->field); } while (0)
			VU_COUNTER(connects);
			VU_COUNTER(disconnects);
			VU_COUNTER(requests);
			VU_COUNTER(bounce_full_waits);
			VU_COUNTER(bytes_to_backend);
			VU_COUNTER(bytes_from_backend);
			VU_COUNTER(backend_errors);
			VU_COUNTER(replayed);
			VU_COUNTER(windows);
			VU_COUNTER(window_requests);
			VU_COUNTER(idle_window_ends);
			VU_COUNTER(held_windows);
			VU_COUNTER(backend_kicks);
			VU_COUNTER(backend_calls);
			VU_COUNTER(timer_takes);
#undef VU_COUNTER
		}
		const struct virtio_blk_stats *bs =
			d->device_id == VIRTIO_ID_BLOCK ? virtio_blk_stats(d) : NULL;
		if (bs) {
#define BLK_COUNTER(field) do { \
			snprintf(name, sizeof(name), "%s.%s", dn, #field); \
			n = add_counter(c, max, n, name, bs->field); } while (0)
			BLK_COUNTER(reads);
			BLK_COUNTER(writes);
			BLK_COUNTER(flushes);
			BLK_COUNTER(discards);
			BLK_COUNTER(bytes_read);
			BLK_COUNTER(bytes_written);
			BLK_COUNTER(errors);
			BLK_COUNTER(windows);
			BLK_COUNTER(window_requests);
			BLK_COUNTER(idle_window_ends);
			BLK_COUNTER(held_windows);
#undef BLK_COUNTER
		}
		const struct virtio_net_stats *ns =
			d->device_id == VIRTIO_ID_NET ? virtio_net_stats(d) : NULL;
		if (ns) {
#define NET_COUNTER(field) do { \
			snprintf(name, sizeof(name), "%s.%s", dn, #field); \
			n = add_counter(c, max, n, name, ns->field); } while (0)
			NET_COUNTER(rx_packets);
			NET_COUNTER(rx_bytes);
			NET_COUNTER(tx_packets);
			NET_COUNTER(tx_bytes);
			NET_COUNTER(rx_dropped);
			NET_COUNTER(tx_dropped);
#undef NET_COUNTER
		}
	}
	return n;
}

static const struct monitor_ops run_monitor_ops = {
	.get_status = rm_get_status,
	.stop = rm_stop,
	.cont = rm_cont,
	.system_powerdown = rm_powerdown,
	.system_reset = rm_reset,
	.quit = rm_quit,
	.query_cpus = rm_query_cpus,
	.query_block = rm_query_block,
	.query_counters = rm_query_counters,
	.block_resize = rm_block_resize,
};

/* The watchdog fired (main thread): QEMU's WATCHDOG event. */
static void rm_watchdog_fired(void *opaque, const char *action)
{
	struct run_monitor *m = opaque;
	char data[64];

	snprintf(data, sizeof(data), "{\"action\": \"%s\"}", action);
	monitor_emit_event(m->mon, "WATCHDOG", data);
}

int run_monitor_add_address(struct run_monitor *m, const char *addr, bool qmp)
{
	if (m->nr_addrs >= 4)
		return -1;
	m->addrs[m->nr_addrs] = addr;
	m->qmp[m->nr_addrs] = qmp;
	m->nr_addrs++;
	return 0;
}

int run_monitor_start(struct run_monitor *m, struct vm *vm, struct run_devices *devs,
		      const char *vm_name, char *err, size_t errlen)
{
	m->vm = vm;
	m->devs = devs;
	if (!m->nr_addrs)
		return 0;
	m->mon = monitor_create(&run_monitor_ops, m, vm_name, err, errlen);
	if (!m->mon)
		return -1;
	for (int i = 0; i < m->nr_addrs; i++)
		if (monitor_listen(m->mon, m->addrs[i], m->qmp[i] ? MONITOR_QMP : MONITOR_HMP,
				   err, errlen) < 0)
			return -1;
	if (monitor_start(m->mon) < 0) {
		snprintf(err, errlen, "cannot start the monitor thread");
		return -1;
	}
	vm_set_watchdog_hook(vm, rm_watchdog_fired, m);
	return 0;
}

void run_monitor_finish(struct run_monitor *m, int exit_status)
{
	if (!m->mon)
		return;
	if (exit_status == VM_EXIT_REBOOT)
		monitor_emit_event(m->mon, "RESET",
				   m->reset_requested ? "{\"guest\": false, \"reason\": \"host-qmp-system-reset\"}"
						      : "{\"guest\": true, \"reason\": \"guest-reset\"}");
	else if (exit_status == VM_EXIT_WATCHDOG || exit_status == VM_EXIT_WATCHDOG_RESTART)
		monitor_emit_event(m->mon, "SHUTDOWN", "{\"guest\": false, \"reason\": \"watchdog\"}");
	else if (exit_status == VM_EXIT_PANIC)
		monitor_emit_event(m->mon, "GUEST_PANICKED", "{\"action\": \"poweroff\"}");
	else
		monitor_emit_event(m->mon, "SHUTDOWN",
				   m->quit_requested ? "{\"guest\": false, \"reason\": \"host-qmp-quit\"}"
						     : "{\"guest\": true, \"reason\": \"guest-shutdown\"}");
	monitor_destroy(m->mon);
	m->mon = NULL;
}
