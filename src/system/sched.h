/*
 * Mapping of the seL4 priority scale (0..255, higher wins) onto Linux
 * scheduling, shared by the supervisor (which applies it to a VM process
 * before exec) and the VMM (which may re-apply it per vCPU thread).
 *
 *   not set                  SCHED_OTHER, nice 0
 *   _priority = P            SCHED_OTHER, nice = 19 - P * 39 / 255 (integer
 *                            division): 0 -> 19, 97 -> 5, 128 -> 0,
 *                            200 -> -11, 255 -> -20 (what capvm run's
 *                            --priority applies per vCPU thread, too)
 *   _priority = P and
 *   realtime = true          SCHED_FIFO, RT priority 1 + P * 48 / 255 (1..49),
 *                            below the kernel's own RT threads (50); the
 *                            kernel's RT throttling (sched_rt_runtime_us)
 *                            is left alone, so the host cannot lock up
 * The order is monotonic: a higher seL4 priority never gets a weaker Linux
 * setting (several seL4 values share one nice level).
 */
#ifndef CAPVM_SYSTEM_SCHED_H
#define CAPVM_SYSTEM_SCHED_H

#include <stdbool.h>
#include <sys/types.h>

struct sd_sched {
	int policy;    /* SCHED_OTHER or SCHED_FIFO */
	int rt_prio;   /* SCHED_FIFO only */
	int nice;      /* SCHED_OTHER only */
};

/* priority < 0 means "not set". */
void sd_sched_for(int priority, bool realtime, struct sd_sched *out);
/* Apply to thread tid (0: the calling thread).  Returns 0 or -errno. */
int sd_sched_apply(pid_t tid, const struct sd_sched *s);
/* Pin thread tid (0: caller) to the n CPUs in cpus.  Returns 0 or -errno. */
int sd_affinity_apply(pid_t tid, const int *cpus, int n);

#endif
