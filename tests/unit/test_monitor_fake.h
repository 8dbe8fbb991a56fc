/*
 * A fake VM for the monitor tests: implements struct monitor_ops with a
 * mutex-protected state, emits the events a real VMM would, and counts
 * calls.  Shared by test_monitor.c and test_monitor_socket.c.
 */
#ifndef CAPVM_TEST_MONITOR_FAKE_H
#define CAPVM_TEST_MONITOR_FAKE_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "monitor/monitor.h"

struct fake_vm {
	pthread_mutex_t lock;
	enum monitor_runstate state;
	int stops, conts, powerdowns, resets, quits;
	char resized_device[32];        /* last block_resize */
	uint64_t resized_size;
	struct monitor *mon;            /* for events; NULL in session tests */
};

static inline struct fake_vm *fake_of(void *o) { return o; }

static enum monitor_runstate fake_status(void *o)
{
	struct fake_vm *vm = fake_of(o);
	enum monitor_runstate st;

	pthread_mutex_lock(&vm->lock);
	st = vm->state;
	pthread_mutex_unlock(&vm->lock);
	return st;
}

static int fake_stop(void *o, char *err, size_t errlen)
{
	struct fake_vm *vm = fake_of(o);
	int was_running;

	pthread_mutex_lock(&vm->lock);
	vm->stops++;
	was_running = vm->state == MONITOR_RUNSTATE_RUNNING;
	if (was_running)
		vm->state = MONITOR_RUNSTATE_PAUSED;
	pthread_mutex_unlock(&vm->lock);
	if (was_running)
		monitor_emit_event(vm->mon, "STOP", NULL);
	return 0;
}

static int fake_cont(void *o, char *err, size_t errlen)
{
	struct fake_vm *vm = fake_of(o);

	pthread_mutex_lock(&vm->lock);
	vm->conts++;
	if (vm->state == MONITOR_RUNSTATE_SHUTDOWN) {
		pthread_mutex_unlock(&vm->lock);
		snprintf(err, errlen, "Resetting the Virtual Machine is required");
		return -EINVAL;
	}
	vm->state = MONITOR_RUNSTATE_RUNNING;
	pthread_mutex_unlock(&vm->lock);
	monitor_emit_event(vm->mon, "RESUME", NULL);
	return 0;
}

static int fake_powerdown(void *o, char *err, size_t errlen)
{
	struct fake_vm *vm = fake_of(o);

	pthread_mutex_lock(&vm->lock);
	vm->powerdowns++;
	pthread_mutex_unlock(&vm->lock);
	monitor_emit_event(vm->mon, "POWERDOWN", NULL);
	return 0;
}

static int fake_reset(void *o, char *err, size_t errlen)
{
	struct fake_vm *vm = fake_of(o);

	pthread_mutex_lock(&vm->lock);
	vm->resets++;
	pthread_mutex_unlock(&vm->lock);
	monitor_emit_event(vm->mon, "RESET", "{\"guest\": false, \"reason\": \"host-qmp-system-reset\"}");
	return 0;
}

static int fake_quit(void *o, char *err, size_t errlen)
{
	struct fake_vm *vm = fake_of(o);

	pthread_mutex_lock(&vm->lock);
	vm->quits++;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

static int fake_cpus(void *o, struct monitor_cpu *cpus, size_t max)
{
	for (size_t i = 0; i < 2 && i < max; i++) {
		cpus[i].index = (int)i;
		cpus[i].thread_id = 1234 + (int64_t)i;
	}
	return 2;
}

static int fake_block(void *o, struct monitor_block *b, size_t max)
{
	snprintf(b[0].device, sizeof(b[0].device), "virtio0");
	snprintf(b[0].file, sizeof(b[0].file), "/var/lib/capvm/root.img");
	b[0].size = 1ULL << 30;
	snprintf(b[0].attached_to, sizeof(b[0].attached_to), "virtio-mmio@0xd0000000");
	snprintf(b[1].device, sizeof(b[1].device), "virtio1");
	snprintf(b[1].file, sizeof(b[1].file), "/srv/seed.iso");
	b[1].read_only = true;
	b[1].direct = true;
	return 2;
}

static int fake_network(void *o, struct monitor_nic *n, size_t max)
{
	snprintf(n[0].name, sizeof(n[0].name), "net0");
	snprintf(n[0].model, sizeof(n[0].model), "virtio-net-device");
	snprintf(n[0].mac, sizeof(n[0].mac), "52:54:00:12:34:56");
	snprintf(n[0].backend_name, sizeof(n[0].backend_name), "hostnet0");
	snprintf(n[0].backend_type, sizeof(n[0].backend_type), "tap");
	snprintf(n[0].backend_info, sizeof(n[0].backend_info), "ifname=tap0");
	return 1;
}

static int fake_counters(void *o, struct monitor_counter *c, size_t max)
{
	snprintf(c[0].name, sizeof(c[0].name), "vcpu0.exits");
	c[0].value = 42;
	snprintf(c[1].name, sizeof(c[1].name), "virtio0.requests");
	c[1].value = 18446744073709551615ULL;
	return 2;
}

static int fake_block_resize(void *o, const char *device, uint64_t size, char *err, size_t errlen)
{
	struct fake_vm *vm = fake_of(o);

	if (strcmp(device, "virtio0")) {
		snprintf(err, errlen, "Device '%s' not found", device);
		return -ENODEV;
	}
	pthread_mutex_lock(&vm->lock);
	snprintf(vm->resized_device, sizeof(vm->resized_device), "%s", device);
	vm->resized_size = size;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

static const struct monitor_ops fake_ops = {
	.get_status = fake_status,
	.stop = fake_stop,
	.cont = fake_cont,
	.system_powerdown = fake_powerdown,
	.system_reset = fake_reset,
	.quit = fake_quit,
	.query_cpus = fake_cpus,
	.query_block = fake_block,
	.query_network = fake_network,
	.query_counters = fake_counters,
	.block_resize = fake_block_resize,
};

static inline void fake_init(struct fake_vm *vm)
{
	memset(vm, 0, sizeof(*vm));
	pthread_mutex_init(&vm->lock, NULL);
	vm->state = MONITOR_RUNSTATE_RUNNING;
}

static inline int fake_get(struct fake_vm *vm, int *field)
{
	int v;

	pthread_mutex_lock(&vm->lock);
	v = *field;
	pthread_mutex_unlock(&vm->lock);
	return v;
}

#endif
