/* seL4 priority -> Linux scheduling and CPU pinning (see sched.h). */
#include "system/sched.h"

#include <errno.h>
#include <sched.h>
#include <sys/resource.h>

void sd_sched_for(int priority, bool realtime, struct sd_sched *out)
{
	out->policy = SCHED_OTHER;
	out->rt_prio = 0;
	out->nice = 0;
	if (priority < 0)
		return;
	if (priority > 255)
		priority = 255;
	if (realtime) {
		out->policy = SCHED_FIFO;
		out->rt_prio = 1 + priority * 48 / 255;
		return;
	}
	/* the same formula as the VMM's per-vCPU-thread mapping (src/arch/x86/vm.c) */
	out->nice = 19 - priority * 39 / 255;
}

int sd_sched_apply(pid_t tid, const struct sd_sched *s)
{
	struct sched_param sp = { .sched_priority = s->policy == SCHED_FIFO ? s->rt_prio : 0 };

	if (sched_setscheduler(tid, s->policy, &sp) < 0)
		return -errno;
	/* On Linux the nice value is per thread: PRIO_PROCESS with a TID sets
	 * that thread, and threads created later inherit it. */
	if (s->policy == SCHED_OTHER && setpriority(PRIO_PROCESS, (id_t)tid, s->nice) < 0)
		return -errno;
	return 0;
}

int sd_affinity_apply(pid_t tid, const int *cpus, int n)
{
	cpu_set_t set;

	if (n <= 0)
		return 0;
	CPU_ZERO(&set);
	for (int i = 0; i < n; i++) {
		if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE)
			return -EINVAL;
		CPU_SET(cpus[i], &set);
	}
	if (sched_setaffinity(tid, sizeof(set), &set) < 0)
		return -errno;
	return 0;
}
