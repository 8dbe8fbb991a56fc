#!/usr/bin/env bash
# bench/blk/run.sh [--quick] [--trace|--no-trace] [ITERATIONS]: virtio-blk throughput
# and KVM exits of capvm against QEMU's microvm machine, with fio inside
# the guest (a benchmark, not a test).
#
# In ONE KVM environment (the test host when this machine has no real KVM)
# it boots the same guest (PVH vmlinux, 512 MiB, 1 vCPU, the default guest
# initramfs plus the fio part of bench/blk/build-initrd.sh) on the same raw
# image, alternately with
#   capvm run ... --disk LOOPDEV,cache=none
#   qemu-system-x86_64 -enable-kvm -cpu host -M microvm,rtc=on ... \
#     -drive id=d0,file=LOOPDEV,format=raw,if=none,cache=none,aio=io_uring \
#     -device virtio-blk-device,drive=d0
# ITERATIONS times each (default 5).  The image is a 1 GiB fully allocated
# file in the test host's tmpfs; tmpfs refuses O_DIRECT, so both VMMs open
# it through a loop device (/dev/loopN), which accepts it.
# In each boot the guest (bench/blk/guest-fio.sh) runs fio on /dev/vda with
# direct I/O and queue depth 32 (io_uring engine):
#   randread  4 KiB random reads
#   seqread   128 KiB sequential reads
# each for RUNTIME seconds (BENCH_BLK_RUNTIME, default 10; --quick: 1
# iteration of 3 s and no trace run unless --trace).  The summary gives
# medians, their ratios, and for each variant against in-VMM capvm the
# median of per-iteration ratios (boots run back to back).  BENCH_BLK_VMMS picks
# the VMM variants (see start_vmm below; default "capvm qemu"),
# BENCH_BLK_HOST_CPUS the test host's vCPUs (default 2: the VMM's I/O thread
# gets a CPU of its own, as on any real host; 1 makes it share the guest's).
# BENCH_BLK_LOOPS=N runs the guest's pair of jobs N times per boot (a soak,
# not for figures: a job's fio result is its last run's, its exit counts its
# first window's).  BENCH_BLK_DIAG=1 keeps
# evidence of a boot that crashed (triple fault, panic, oops): the test
# host's kernel messages go to its console, KVM's trace events (kvm_exit
# with the guest's rip, injections, ...) are recorded in the ftrace ring
# buffer, and for such a boot the last 20,000 events go to
# CONSOLE.ktrace next to its console log, with the back-end's log and
# the test host's dmesg; the test host's /proc/kallsyms (the same kernel
# as the guest's, which has no System.map) goes to testhost-kallsyms.
# BENCH_BLK_PIN=1 (with 2 or more test-host CPUs) pins every VMM the same
# way: the guest's vCPU thread on CPU 0, the VMM's other threads and any
# back-end process on CPU 1 (capvm: --affinity 0 --io-affinity 1 and
# taskset for the back-end; QEMU, which has no option for it: taskset on
# its threads once the guest is up, "CPU 0/KVM" on 0, the rest on 1); in a
# test host the kernel's unbound workers (the loop device's) go to CPU 1 too.
# BENCH_BLK_STRESS=1 (with 2 or more test-host CPUs) runs
# build/bench/ipi-stress (bench/tools/ipi-stress.c: threads pinned to CPU 0
# and CPU 1 ping-ponging a token through eventfds, each hop a remote
# wake-up, i.e. a reschedule IPI) in the test host during each timed boot,
# at the VMM's priority, with the options in BENCH_BLK_STRESS_OPTS (default
# "-m": also a mmap/munmap thread for TLB-shootdown IPIs); it is stopped by
# PID after the boot, and a "# stress" line gives its hop count and whether
# the guest finished, and a "# ipis" line the test host's reschedule,
# function-call and TLB-shootdown interrupts per CPU during the boot (also
# printed with BENCH_BLK_DIAG=1).  It adds the cross-CPU wake-ups of the isolated-memory
# relay next to any VMM (a test of the test host, not a benchmark: with it
# the figures mean nothing).
# BENCH_BLK_PERF=JOB (randread or seqread) samples the whole test host
# with `perf record -a -e cpu-clock` (software clock: no PMU is needed)
# over that job's window in every timed boot, and keeps a flat profile
# (CPU, command, object, symbol) next to the console log as
# CONSOLE.perf.txt: where each test-host CPU's time went.  Sampling costs
# a little CPU, so the figures of such a run are not for comparison.
# BENCH_BLK_REF=PATH names another capvm binary (e.g. built from an older
# commit); the variants NAME-ref (capvm-ref, capvm-isolated-ref, ...) run
# it, for an A/B comparison of two builds in one run.
# A guest that prints nothing for 120 s + 2 x RUNTIME is taken as hung
# (status 124, as on the overall timeout); for either, CONSOLE.hang next to
# its console log records what the VMM's threads were doing.
# Around each job the guest prints marks; at each mark this script reads
# KVM's debugfs counters (/sys/kernel/debug/kvm/*, sums over live VMs), so
# that the exits of the job's window are known while the VM is alive.
# Reported per VMM and job: medians of IOPS, bandwidth, completion latency,
# guest CPU, and of KVM exits per 1,000 I/Os (total, and mmio / io / halt /
# irq / injections), plus ratios capvm/QEMU.  Each job line also has where
# the test host's CPU time went over the job's window (host_cpu, vcpu_cpu,
# vmm_io_cpu, backend_cpu: % of one test-host CPU; host_cpu_ms_per_kio and
# vcpu_cpu_ms_per_kio: ms per 1,000 I/Os), from /proc at each mark.
# Unless --no-trace, one more boot per VMM (not timed: tracing slows it)
# counts, in the randread window (BENCH_BLK_TRACE_JOB=seqread: the seqread
# one), the exits by SVM exit code and the MMIO,
# port and MSR accesses by address (ftrace histograms of kvm:kvm_exit,
# kvm:kvm_mmio, kvm:kvm_pio, kvm:kvm_msr), to show where exits come from.
# Results go to stdout and build/bench/blk.txt.  See docs/performance.md.
. "$(dirname "$0")/../../tests/e2e/lib.sh"
E2E_NAME=bench-blk
quick=0 trace= iters=
for a in "$@"; do
	case $a in
	--quick) quick=1 ;;
	--trace) trace=1 ;;
	--no-trace) trace=0 ;;
	*) [[ $a =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [--quick] [--trace|--no-trace] [ITERATIONS]" >&2; exit 2; }
	   iters=$a ;;
	esac
done
# Settings reach the test host only as CAPVM_* variables.
: "${BENCH_BLK_VMMS:=${CAPVM_BENCH_BLK_VMMS:-capvm qemu}}"
: "${BENCH_BLK_RUNTIME:=${CAPVM_BENCH_BLK_RUNTIME:-}}"
: "${BENCH_BLK_HOST_CPUS:=${CAPVM_BENCH_BLK_HOST_CPUS:-2}}"
: "${BENCH_BLK_PIN:=${CAPVM_BENCH_BLK_PIN:-0}}"
: "${BENCH_BLK_LOOPS:=${CAPVM_BENCH_BLK_LOOPS:-1}}"
: "${BENCH_BLK_DIAG:=${CAPVM_BENCH_BLK_DIAG:-0}}"
: "${BENCH_BLK_STRESS:=${CAPVM_BENCH_BLK_STRESS:-0}}"
: "${BENCH_BLK_STRESS_OPTS:=${CAPVM_BENCH_BLK_STRESS_OPTS:--m}}"
: "${BENCH_BLK_TRACE_JOB:=${CAPVM_BENCH_BLK_TRACE_JOB:-randread}}"
: "${BENCH_BLK_REF:=${CAPVM_BENCH_BLK_REF:-}}"
: "${BENCH_BLK_PERF:=${CAPVM_BENCH_BLK_PERF:-}}"
[[ $BENCH_BLK_PERF =~ ^(|randread|seqread)$ ]] || { echo "$0: BENCH_BLK_PERF must be randread or seqread" >&2; exit 2; }
[ -z "$BENCH_BLK_REF" ] || BENCH_BLK_REF=$(realpath "$BENCH_BLK_REF")
TRACE_JOB=$BENCH_BLK_TRACE_JOB
[[ $TRACE_JOB =~ ^(randread|seqread)$ ]] || { echo "$0: BENCH_BLK_TRACE_JOB must be randread or seqread" >&2; exit 2; }
[[ $BENCH_BLK_LOOPS =~ ^[1-9][0-9]*$ ]] || { echo "$0: BENCH_BLK_LOOPS must be a number" >&2; exit 2; }
export CAPVM_BENCH_BLK_VMMS=$BENCH_BLK_VMMS CAPVM_BENCH_BLK_RUNTIME=$BENCH_BLK_RUNTIME \
	CAPVM_BENCH_BLK_HOST_CPUS=$BENCH_BLK_HOST_CPUS CAPVM_BENCH_BLK_PIN=$BENCH_BLK_PIN \
	CAPVM_BENCH_BLK_LOOPS=$BENCH_BLK_LOOPS CAPVM_BENCH_BLK_DIAG=$BENCH_BLK_DIAG \
	CAPVM_BENCH_BLK_STRESS=$BENCH_BLK_STRESS CAPVM_BENCH_BLK_STRESS_OPTS=$BENCH_BLK_STRESS_OPTS \
	CAPVM_BENCH_BLK_TRACE_JOB=$BENCH_BLK_TRACE_JOB CAPVM_BENCH_BLK_REF=$BENCH_BLK_REF \
	CAPVM_BENCH_BLK_PERF=$BENCH_BLK_PERF
if [ $quick -eq 1 ]; then
	: "${iters:=1}" "${trace:=0}"; runtime=3
else
	: "${iters:=${BENCH_ITERATIONS:-5}}" "${trace:=1}"; runtime=${BENCH_BLK_RUNTIME:-10}
fi
[[ $runtime =~ ^[1-9][0-9]*$ ]] || { echo "$0: BENCH_BLK_RUNTIME must be a number of seconds" >&2; exit 2; }

# The initramfs with fio is built outside the test host (whose view of the
# repository is read-only) and handed in through CAPVM_BLK_INITRD.
if [ -z "${CAPVM_IN_TESTHOST:-}" ]; then
	rel=$("$E2E_SRC/bench/blk/build-initrd.sh") || { echo "FAIL $E2E_NAME: building the fio initramfs failed"; exit 1; }
	export CAPVM_BLK_INITRD=$E2E_SRC/$rel
	if [ "$BENCH_BLK_STRESS" = 1 ]; then
		make -s -C "$E2E_SRC" build/bench/ipi-stress >&2 || { echo "FAIL $E2E_NAME: building build/bench/ipi-stress failed"; exit 1; }
	fi
fi
: "${CAPVM_OUT:=$E2E_SRC/build/bench}"
export CAPVM_OUT
nvmms=$(wc -w <<< "$BENCH_BLK_VMMS")
runs=$((iters * nvmms + trace * 2))
e2e_enter_kvm --mem 3072 --cpus "$BENCH_BLK_HOST_CPUS" \
	--timeout $((300 + runs * (180 + 3 * runtime + (BENCH_BLK_LOOPS - 1) * (2 * runtime + 30)))) -- "$0" "$@"

MEM_MIB=512
IMG_MIB=1024
VM_TIMEOUT=$((300 + 3 * runtime + (BENCH_BLK_LOOPS - 1) * (2 * runtime + 30)))
SILENT_S=$((120 + 2 * runtime))  # no console line for longer: a hang (see boot)
CMDLINE="console=ttyS0 quiet panic=-1 capvm.test=fio capvm.fio.runtime=$runtime capvm.fio.loops=$BENCH_BLK_LOOPS"
COUNTERS=(exits mmio_exits io_exits halt_exits irq_exits irq_window_exits irq_injections
	signal_exits request_irq_exits insn_emulation hypercalls halt_wakeup)
JOBS=(randread seqread)
TRACING=/sys/kernel/debug/tracing
T=$E2E_TMP
results=$T/results
: > "$results"
report=$CAPVM_OUT/blk.txt
[ -f "${CAPVM_BLK_INITRD:-}" ] || { echo "FAIL $E2E_NAME: no fio initramfs (CAPVM_BLK_INITRD=${CAPVM_BLK_INITRD:-})"; exit 1; }
[ -x "$CAPVM" ] || { echo "FAIL $E2E_NAME: $CAPVM does not exist (make all)"; exit 1; }
[ -r /sys/kernel/debug/kvm/exits ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null

# BENCH_BLK_DIAG (see the header): set-up, and around each boot.
KVM_EVENTS=(kvm_exit kvm_entry kvm_inj_virq kvm_inj_exception kvm_page_fault kvm_mmio kvm_pio
	kvm_msr kvm_cr kvm_userspace_exit kvm_set_irq kvm_msi_set_irq kvm_apic_accept_irq kvm_eoi
	kvm_vcpu_wakeup)
diag_setup() {
	local e
	dmesg -n 8
	cat /proc/kallsyms > "$CAPVM_OUT/testhost-kallsyms" 2>/dev/null
	echo 0 > "$TRACING/tracing_on" && echo 32768 > "$TRACING/buffer_size_kb" ||
		{ echo "# diag: no ftrace in $TRACING" >&2; return; }
	for e in "${KVM_EVENTS[@]}"; do
		[ -e "$TRACING/events/kvm/$e/enable" ] && echo 1 > "$TRACING/events/kvm/$e/enable"
	done
}
diag_begin() { echo > "$TRACING/trace"; echo 1 > "$TRACING/tracing_on"; }
diag_end() {  # diag_end CONSOLE
	echo 0 > "$TRACING/tracing_on"
	# (QEMU ends a guest's triple fault silently: a guest that did not
	# finish counts as crashed too.)
	if ! grep -aq "triple fault\|Kernel panic\|BUG:\|Oops" "$1" &&
	   grep -aq "^CAPVM-GUEST-TEST-DONE" "$1"; then
		return 0
	fi
	tail -n 20000 "$TRACING/trace" > "${1%.log}.ktrace"
	cp "$T/backend.log" "${1%.log}-backend.log" 2>/dev/null
	dmesg > "${1%.log}.dmesg"
	echo "# diag: kept ${1%.log}.ktrace" >&2
}
[ "$BENCH_BLK_DIAG" = 1 ] && diag_setup

# The image: fully allocated, behind a loop device (see above).
fallocate -l "${IMG_MIB}M" "$T/disk.img" 2>/dev/null ||
	head -c "$((IMG_MIB * 1048576))" /dev/zero > "$T/disk.img"
loopdev=$(losetup --find --show "$T/disk.img") || { echo "FAIL $E2E_NAME: losetup failed (no loop module?)"; exit 1; }
trap 'losetup -d "$loopdev" 2>/dev/null; e2e_cleanup' EXIT

read_counters() {
	local c v out=()
	for c in "${COUNTERS[@]}"; do
		v=0
		[ -r "/sys/kernel/debug/kvm/$c" ] && read -r v < "/sys/kernel/debug/kvm/$c"
		out+=("$v")
	done
	echo "${out[*]}"
}

# The disk's own counters, from capvm's monitor (info counters): kicks and
# interrupts as the device saw them, and its coalescing windows.  Empty for
# QEMU; a counter the binary does not have (an older -ref build) reads 0.
DEVC=(kicks irqs windows held_windows idle_window_ends backend_kicks backend_calls timer_takes bounce_full_waits)
dev_counters() {
	local out line k c r=()
	local -A val
	[ -S "$T/mon.sock" ] || return 0
	out=$(echo "info counters" | timeout 5 nc -q1 -U "$T/mon.sock" 2>/dev/null)
	# bash only: this runs at every mark, and each grep or sed forked per
	# counter cost the test host ~1 s of CPU as a job's window began
	while IFS= read -r line; do
		[[ ${line%$'\r'} =~ ^blk0\.(vhost_user\.)?([a-z_]+):\ *([0-9]+)$ ]] || continue
		k=${BASH_REMATCH[2]}
		[[ -v val[$k] ]] || val[$k]=${BASH_REMATCH[3]}  # the first, as grep -m1 took
	done <<< "$out"
	for c in "${DEVC[@]}"; do r+=("${val[$c]:-0}"); done
	echo "${r[*]}"
}

# Where the test host's CPU time goes (jiffies): all CPUs, idle (with
# iowait), the VMM's vCPU threads (capvm's vcpuN, QEMU's "CPU N/KVM"), its
# other threads (I/O threads, io_uring workers), the back-end process.
cpu_snap() {
	local all idle vcpu=0 other=0 be=0 t comm line
	local -a c st
	read -ra c < /proc/stat
	all=$(( c[1] + c[2] + c[3] + c[4] + c[5] + c[6] + c[7] + c[8] )) idle=$(( c[4] + c[5] ))
	# (bash builtins only: this runs at every mark, while the guest waits)
	for t in /proc/"$pid"/task/*; do
		{ read -r comm < "$t/comm" && read -r line < "$t/stat"; } 2>/dev/null || continue
		read -ra st <<< "${line##*) }"
		if [[ $comm == vcpu* || $comm == "CPU "*"/KVM" ]]; then
			vcpu=$(( vcpu + st[11] + st[12] ))
		else
			other=$(( other + st[11] + st[12] ))
		fi
	done
	[ -n "${BACKEND_PID:-}" ] && be=$(tree_cpu "$BACKEND_PID")
	echo "$all $idle $vcpu $other $be"
}
# tree_cpu PID: CPU time (jiffies) of a process and its descendants (the
# back-end serves from a sandboxed child), all their threads.
tree_cpu() {
	local sum=0 t line kid
	local -a st kids
	for t in /proc/"$1"/task/*; do
		read -r line < "$t/stat" 2>/dev/null || continue
		read -ra st <<< "${line##*) }"
		sum=$(( sum + st[11] + st[12] ))
		read -ra kids < "$t/children" 2>/dev/null
		for kid in "${kids[@]}"; do sum=$(( sum + $(tree_cpu "$kid") )); done
	done
	echo "$sum"
}

# The ftrace histograms of the trace run (see the header).
HISTS=("kvm_exit exit_reason" "kvm_mmio type,gpa" "kvm_pio rw,port" "kvm_msr write,ecx")
trace_start() {
	local h
	for h in "${HISTS[@]}"; do
		echo "hist:keys=${h#* }:sort=hitcount:size=256" > "$TRACING/events/kvm/${h%% *}/trigger" || return 1
	done
}
trace_stop() {  # trace_stop FILE-PREFIX
	local h
	for h in "${HISTS[@]}"; do
		cat "$TRACING/events/kvm/${h%% *}/hist" > "$1.${h%% *}" 2>/dev/null
		echo "!hist:keys=${h#* }:sort=hitcount:size=256" > "$TRACING/events/kvm/${h%% *}/trigger"
	done
}

# pin_qemu PID: QEMU's vCPU thread on CPU 0, all its other threads on CPU 1.
pin_qemu() {
	local t comm
	for t in /proc/"$1"/task/*; do
		comm=$(cat "$t/comm" 2>/dev/null) || continue
		if [[ $comm == "CPU "*"/KVM" ]]; then taskset -p -c 0 "${t##*/}"; else taskset -p -c 1 "${t##*/}"; fi
	done > /dev/null
}

# BENCH_BLK_PERF: perf_start at the job's begin mark, perf_stop at its end
# (SIGINT to the perf we started, by its PID), the report to $PERF_OUT.
perf_start() {
	command -v perf > /dev/null || { echo "# perf: not installed (Debian's linux-perf)" >&2; return; }
	perf record -q -a -e cpu-clock -F 997 -o "$T/perf.data" > /dev/null 2>&1 &
	PERF_PID=$!
}
perf_stop() {
	[ -n "${PERF_PID:-}" ] || return 0
	kill -INT "$PERF_PID" 2>/dev/null
	wait "$PERF_PID" 2>/dev/null
	PERF_PID=
	{
		perf report -i "$T/perf.data" --stdio --sort cpu 2>/dev/null | grep -v '^$'
		perf report -i "$T/perf.data" --stdio --sort cpu,comm --percent-limit 0.2 2>/dev/null |
			grep -v '^$'
		# threads apart (the VMM's main thread and a back-end are both "capvm")
		perf report -i "$T/perf.data" --stdio --sort cpu,pid --percent-limit 0.2 2>/dev/null |
			grep -v '^$'
		perf report -i "$T/perf.data" --stdio --sort cpu,comm,dso,sym --percent-limit 0.4 2>/dev/null |
			grep -v '^$'
	} > "$PERF_OUT"
	rm -f "$T/perf.data"
}

# at_mark NAME: called at each CAPVM-FIO-MARK line while the guest sleeps.
# (boot's $pid and one's $vmm are visible here.)
at_mark() {
	[ "$1" = idle-begin ] && [ "$PIN" = 1 ] && [ "$vmm" = qemu ] && pin_qemu "$pid"
	echo "$1 $EPOCHREALTIME $(read_counters)" >> "$MARKS"
	echo "$1 $(cpu_snap)" >> "$MARKS.cpu"
	# in the background: nc lingers a second after the reply, and the
	# console must be read on (marks lag otherwise); one() waits for it
	{ echo "$1 $(dev_counters)" >> "$MARKS.dev"; } &
	MARK_JOBS+=($!)
	if [ -n "$BENCH_BLK_PERF" ] && [ -n "${PERF_OUT:-}" ]; then
		case $1 in
		"begin-$BENCH_BLK_PERF") perf_start ;;
		"end-$BENCH_BLK_PERF") perf_stop ;;
		esac
	fi
	if [ -n "$TRACE_PREFIX" ]; then
		case $1 in
		"begin-$TRACE_JOB") trace_start || echo "# tracing: cannot set hist triggers in $TRACING" >&2 ;;
		"end-$TRACE_JOB") trace_stop "$TRACE_PREFIX" ;;
		esac
	fi
}

# hang_report PID CONSOLE SILENT-S: what a VMM that timed out was doing, in
# CONSOLE's name with .hang: KVM's counters 2 s apart (is the vCPU still
# exiting?) and each of its threads' state, wait channel and kernel stack.
hang_report() {
	local f=${2%.log}.hang t
	{
		echo "timed out; no console output for $3 s"
		echo "counters (${COUNTERS[*]}):"
		read_counters; sleep 2; read_counters
		for t in /proc/"$1"/task/*; do
			echo "== thread ${t##*/} $(cat "$t/comm" 2>/dev/null): state $(awk '{ print $3 }' "$t/stat" 2>/dev/null)," \
				"wchan $(cat "$t/wchan" 2>/dev/null), last CPU $(awk '{ print $39 }' "$t/stat" 2>/dev/null)"
			cat "$t/stack" 2>/dev/null
		done
		# what the vCPU is doing: its exits and emulated instructions (with
		# the guest's rip) for a fifth of a second
		if [ -w "$TRACING/events/kvm/kvm_exit/enable" ] && [ -z "$TRACE_PREFIX" ]; then
			echo "== KVM exits and emulated instructions, 0.2 s (ftrace)"
			echo > "$TRACING/trace"
			echo 1 > "$TRACING/events/kvm/kvm_exit/enable"
			echo 1 > "$TRACING/events/kvm/kvm_emulate_insn/enable" 2>/dev/null
			echo 1 > "$TRACING/tracing_on"
			sleep 0.2
			echo 0 > "$TRACING/events/kvm/kvm_exit/enable"
			echo 0 > "$TRACING/events/kvm/kvm_emulate_insn/enable" 2>/dev/null
			grep -v '^#' "$TRACING/trace" | tail -n 40
		fi
		echo "== test host dmesg (tail)"
		dmesg 2>/dev/null | tail -n 30
	} > "$f" 2>&1
	echo "# hang: $(basename "$2") silent for $3 s; kept $(basename "$f")" >&2
}

# boot VMM CONSOLE CMD...: runs a VMM with its console on stdout; calls
# at_mark at each mark.  Sets RC (124 on timeout; see hang_report).
boot() {
	local con=$1 line sub partial= rs fd fifo=$T/console.fifo deadline last=$SECONDS
	shift
	: > "$con"
	rm -f "$fifo"; mkfifo "$fifo"
	"$@" > "$fifo" 2>&1 < /dev/null &
	local pid=$!
	E2E_PIDS+=("$pid")
	exec {fd}< "$fifo"
	deadline=$((SECONDS + VM_TIMEOUT))
	while [ $SECONDS -lt $deadline ]; do
		# a guest that has said nothing for that long is stuck: stop waiting
		[ $((SECONDS - last)) -gt $SILENT_S ] && deadline=$SECONDS && break
		IFS= read -r -t 1 line <&"$fd"
		rs=$?
		# A timed-out read keeps what it read of the line: collect it.
		[ $rs -gt 128 ] && { partial+=$line; continue; }
		line=$partial$line partial= last=$SECONDS
		line=${line%$'\r'}
		[ $rs -ne 0 ] && { [ -n "$line" ] && echo "$line" >> "$con"; break; }
		# Two writers to the guest's console (a mark's echo, fio's
		# exec_prerun/postrun) now and then run their lines together, with
		# a carriage return or nothing between them: split them again.
		line=${line//$'\r'/$'\n'}
		line=${line//CAPVM-/$'\n'CAPVM-}
		while IFS= read -r sub; do
			[ -n "$sub" ] || continue
			echo "$sub" >> "$con"
			[[ $sub == CAPVM-FIO-MARK\ * ]] && at_mark "${sub#CAPVM-FIO-MARK }"
		done <<< "$line"
	done
	if kill -0 "$pid" 2>/dev/null && [ $SECONDS -ge $deadline ]; then
		hang_report "$pid" "$con" $((SECONDS - last))
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		RC=124
	else
		wait "$pid" 2>/dev/null
		RC=$?
	fi
	exec {fd}<&-
	rm -f "$fifo"
}

# The VMM variants (BENCH_BLK_VMMS, default "capvm qemu"):
#   capvm           virtio-blk in the VMM, default options (interrupt coalescing on)
#   capvm-hugepages the same with guest RAM on 2 MiB pages (--hugepages)
#   capvm-nocoal    the same with coalesce=0 (an interrupt for every kick)
#   capvm-coalN     the same with coalesce=N (µs)
#   capvm-shared    the VMM as vhost-user front-end, `capvm backend blk` in
#                   another process mapping all guest RAM (--mem-shared)
#   capvm-isolated  the same, the back-end seeing only a bounce window
#                   (the relay's interrupt coalescing on: the default for disks)
#   capvm-isolated-nocoal  the same with the relay's coalescing off (coalesce=0)
#   capvm-isolated-coal    the same with coalesce=200 given (= the default)
#   capvm-isolated-becoalN the same with the back-end's own coalescing at N µs
#   qemu            QEMU 7.2 microvm, virtio-blk-device, aio=io_uring
#   qemu-unpinned   the same, never pinned (with BENCH_BLK_PIN=1: QEMU has no
#                   affinity options of its own, so it runs as it would by default)
#   NAME-ref        any capvm variant run by another capvm binary, the one
#                   BENCH_BLK_REF names (e.g. a build of an older commit, for A/B)
VMMS=($BENCH_BLK_VMMS)
for v in "${VMMS[@]}"; do
	if [[ $v == capvm*-ref ]]; then
		[ -x "${BENCH_BLK_REF:-}" ] || { echo "$0: $v needs BENCH_BLK_REF=PATH of a capvm binary" >&2; exit 2; }
		v=${v%-ref}
	fi
	case $v in capvm|capvm-hugepages|capvm-nocoal|capvm-coal[1-9]*|capvm-shared|capvm-isolated|capvm-isolated-coal|capvm-isolated-nocoal|capvm-isolated-becoal[0-9]*|qemu|qemu-unpinned) ;;
	*) echo "$0: unknown VMM variant '$v' in BENCH_BLK_VMMS" >&2; exit 2 ;;
	esac
	[[ $v != capvm-coal* || ${v#capvm-coal} =~ ^[0-9]+$ ]] ||
		{ echo "$0: capvm-coalN needs a number of µs, not '$v'" >&2; exit 2; }
	[[ $v != capvm-isolated-becoal* || ${v#capvm-isolated-becoal} =~ ^[0-9]+$ ]] ||
		{ echo "$0: capvm-isolated-becoalN needs a number of µs, not '$v'" >&2; exit 2; }
done

NCPU=$(nproc) HZ=$(getconf CLK_TCK) PIN=0 PIN_CAPVM=() PIN_BACKEND=()
if [ "$BENCH_BLK_PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then
	PIN=1 PIN_CAPVM=(--affinity 0 --io-affinity 1) PIN_BACKEND=(taskset -c 1)
	# In a test host (ours to tune): the kernel's unbound workers (the
	# loop device's among them) on CPU 1 too, as on a host whose CPU 0 is
	# kept for the guest.  Not on a real host: that setting is the operator's.
	WQ_MASK=/sys/devices/virtual/workqueue/cpumask
	if [ -n "${CAPVM_IN_TESTHOST:-}" ] && [ -w "$WQ_MASK" ]; then
		echo 2 > "$WQ_MASK" && echo "# pinned: unbound kernel workers on CPU 1 ($WQ_MASK = $(cat "$WQ_MASK"))"
	fi
fi

# capvm-hugepages: 2 MiB pages reserved for its guest RAM, in a test host
# (ours to set up; on a real host reserving them is the operator's call,
# and without them --hugepages falls back to transparent huge pages).
if [[ " ${VMMS[*]} " == *" capvm-hugepages"* ]] && [ -n "${CAPVM_IN_TESTHOST:-}" ]; then
	echo $(( MEM_MIB / 2 + 4 )) > /proc/sys/vm/nr_hugepages
	echo "# capvm-hugepages: $(cat /proc/sys/vm/nr_hugepages) hugepages of 2 MiB reserved"
fi

# BENCH_BLK_STRESS (see the header): the stressor around each timed boot.
STRESS=$E2E_SRC/build/bench/ipi-stress STRESS_PID=
if [ "$BENCH_BLK_STRESS" = 1 ]; then
	[ "$(nproc)" -ge 2 ] || { echo "$0: BENCH_BLK_STRESS needs 2 or more test-host CPUs" >&2; exit 2; }
	[ -x "$STRESS" ] || { echo "FAIL $E2E_NAME: $STRESS does not exist" >&2; exit 1; }
fi
stress_start() {
	# shellcheck disable=SC2086 # options are words
	"$STRESS" $BENCH_BLK_STRESS_OPTS > "$T/stress.log" 2>&1 &
	STRESS_PID=$!
	E2E_PIDS+=("$STRESS_PID")
}
stress_stop() {  # stress_stop VMM ITER CONSOLE
	local how=finished
	kill -TERM "$STRESS_PID" 2>/dev/null
	wait "$STRESS_PID" 2>/dev/null
	e2e_forget_pid "$STRESS_PID"
	STRESS_PID=
	grep -aq "^CAPVM-GUEST-TEST-DONE fio status=0" "$3" || how="did NOT finish (status $RC)"
	grep -aq "triple fault" "$3" && how+=", triple fault"
	echo "# stress $1 iter=$2: $(tail -n 1 "$T/stress.log"); guest $how"
}

# The test host's IPI counters (/proc/interrupts RES, CAL, TLB) per CPU.
ipi_snap() {
	awk -v n="$(nproc)" '$1 ~ /^(RES|CAL|TLB):$/ { printf "%s", $1; for (i = 2; i <= n + 1; i++) printf " %s", $i; print "" }' /proc/interrupts
}
ipi_delta() {  # ipi_delta SNAPSHOT-FILE: " RES a/b CAL c/d TLB e/f" since the snapshot
	ipi_snap | awk 'NR == FNR { for (i = 2; i <= NF; i++) b[$1, i] = $i; next }
		{ printf " %s", substr($1, 1, length($1) - 1)
		  for (i = 2; i <= NF; i++) printf "%s%d", (i == 2 ? " " : "/"), $i - b[$1, i] }' "$1" -
}

# back_end_start CAPVM: `capvm backend blk` on the image, waits for its socket.
back_end_start() {  # back_end_start CAPVM [IMAGE-OPTIONS]
	local sock=$T/backend.sock i
	rm -f "$sock"
	"${PIN_BACKEND[@]}" "$1" backend blk --socket "$sock" --image "$loopdev,cache=none${2:+,$2}" > "$T/backend.log" 2>&1 &
	BACKEND_PID=$!
	E2E_PIDS+=("$BACKEND_PID")
	for i in $(seq 300); do [ -S "$sock" ] && return 0; sleep 0.1; done
	echo "# capvm backend blk did not create $sock: $(tail -n 3 "$T/backend.log" | tr '\n' '|')" >&2
	return 1
}
back_end_stop() {
	kill -TERM "$BACKEND_PID" 2>/dev/null
	wait "$BACKEND_PID" 2>/dev/null
	BACKEND_PID=
}

start_vmm() {  # start_vmm VMM CONSOLE
	local bin=$CAPVM
	if [[ $1 == capvm*-ref ]]; then bin=$BENCH_BLK_REF; set -- "${1%-ref}" "$2"; fi
	rm -f "$T/mon.sock"
	local -a run=("$bin" run --kernel "$CAPVM_VMLINUX" --initrd "$CAPVM_BLK_INITRD"
		--cmdline "$CMDLINE" --mem "${MEM_MIB}M" --cpus 1 --monitor "unix:$T/mon.sock" "${PIN_CAPVM[@]}")
	case $1 in
	capvm) boot "$2" "${run[@]}" --disk "$loopdev,cache=none" ;;
	capvm-hugepages) boot "$2" "${run[@]}" --hugepages --disk "$loopdev,cache=none" ;;
	capvm-nocoal) boot "$2" "${run[@]}" --disk "$loopdev,cache=none,coalesce=0" ;;
	capvm-coal*) boot "$2" "${run[@]}" --disk "$loopdev,cache=none,coalesce=${1#capvm-coal}" ;;
	capvm-shared|capvm-isolated|capvm-isolated-coal|capvm-isolated-nocoal|capvm-isolated-becoal*)
		local vu=mem=${1#capvm-} beopt=
		[ "$1" = capvm-isolated-coal ] && vu=mem=isolated,coalesce=200
		[ "$1" = capvm-isolated-nocoal ] && vu=mem=isolated,coalesce=0
		[[ $1 == capvm-isolated-becoal* ]] && vu=mem=isolated beopt=coalesce=${1#capvm-isolated-becoal}
		back_end_start "$bin" $beopt || { RC=1; return; }
		boot "$2" "${run[@]}" --mem-shared --disk "vhost-user=$T/backend.sock,$vu"
		back_end_stop ;;
	qemu|qemu-unpinned)
		CAPVM_INITRD=$CAPVM_BLK_INITRD qemu_microvm_cmd 1 "$MEM_MIB" "$CAPVM_VMLINUX" "$CMDLINE" \
			-drive "id=d0,file=$loopdev,format=raw,if=none,cache=none,aio=io_uring" \
			-device virtio-blk-device,drive=d0
		boot "$2" "${QEMU_CMD[@]}" ;;
	esac
}

# mark_counters NAME: the counters read at mark NAME of the current boot.
mark_counters() { sed -n "s/^$1 [0-9.]* //p" "$MARKS" | head -n 1; }
# window_s BEGIN END: seconds between two marks.
window_s() {
	awk -v b="$(sed -n "s/^$1 \([0-9.]*\) .*/\1/p" "$MARKS")" -v e="$(sed -n "s/^$2 \([0-9.]*\) .*/\1/p" "$MARKS")" \
		'BEGIN { printf "%.1f", e - b }'
}

# one VMM ITER: one boot, one result line per job (and the idle rate).
one() {
	local vmm=$1 i=$2 con job res rc f iops bw kb clat usr sys bs ios k line
	local -a b a fields
	con=$CAPVM_OUT/blk-$vmm-$i.log
	MARKS=$T/marks-$vmm-$i TRACE_PREFIX= PERF_OUT=${con%.log}.perf.txt
	: > "$MARKS"
	: > "$MARKS.dev"
	: > "$MARKS.cpu"
	[ "$BENCH_BLK_DIAG" = 1 ] && diag_begin
	[ "$BENCH_BLK_STRESS" = 1 ] && stress_start
	ipi_snap > "$T/ipis"
	local t0=$SECONDS
	MARK_JOBS=()
	start_vmm "$vmm" "$con"
	[ ${#MARK_JOBS[@]} -gt 0 ] && wait "${MARK_JOBS[@]}" 2>/dev/null
	[ "$BENCH_BLK_STRESS" = 1 ] && stress_stop "$vmm" "$i" "$con"
	[ "$BENCH_BLK_STRESS$BENCH_BLK_DIAG" != 00 ] &&
		echo "# ipis $vmm iter=$i in $((SECONDS - t0)) s, per CPU:$(ipi_delta "$T/ipis")"
	[ "$BENCH_BLK_DIAG" = 1 ] && diag_end "$con"
	read -ra b <<< "$(mark_counters idle-begin)"
	read -ra a <<< "$(mark_counters idle-end)"
	if [ ${#a[@]} -gt 0 ] && [ ${#b[@]} -gt 0 ]; then
		echo "$vmm iter=$i job=idle exits_per_s=$(awk -v d=$(( a[0] - b[0] )) -v w="$(window_s idle-begin idle-end)" 'BEGIN { printf "%.0f", (w > 0 ? d / w : -1) }')" >> "$results"
	fi
	for job in "${JOBS[@]}"; do
		res=$(grep -a "^CAPVM-FIO-RESULT $job " "$con" | tail -n 1)
		rc=$(sed -n 's/.* rc=\([0-9]*\) .*/\1/p' <<< "$res")
		IFS=';' read -ra fields <<< "${res#* rc=* }"
		read -ra b <<< "$(mark_counters "begin-$job")"
		read -ra a <<< "$(mark_counters "end-$job")"
		if [ "${rc:-x}" != 0 ] || [ "${fields[0]:-}" != 3 ] || [ ${#a[@]} -eq 0 ] || [ ${#b[@]} -eq 0 ]; then
			echo "$vmm iter=$i job=$job FAILED (status $RC, fio rc=${rc:-none}): $(grep -a 'CAPVM-FIO-ERROR\|panic\|error' "$con" | head -n 3 | tr '\n' '|' | cut -c1-300) console in $con"
			continue
		fi
		# 3;KiB read;KiB/s;IOPS;runtime ms;mean clat us;usr %;sys %
		kb=${fields[1]} bw=${fields[2]} iops=${fields[3]} clat=${fields[5]}
		usr=${fields[6]%\%} sys=${fields[7]%\%}
		case $job in randread) bs=4 ;; *) bs=128 ;; esac
		ios=$((kb / bs))
		line="$vmm iter=$i job=$job iops=$iops bw_kib=$bw clat_us=$(printf %.0f "$clat") guest_cpu=$(awk -v u="$usr" -v s="$sys" 'BEGIN { printf "%.0f", u + s }') ios=$ios window_s=$(window_s "begin-$job" "end-$job")"
		for k in "${!COUNTERS[@]}"; do
			line+=" ${COUNTERS[$k]}=$(( a[k] - b[k] ))"
		done
		line+=" exits_per_s=$(awk -v d=$(( a[0] - b[0] )) -v w="$(window_s "begin-$job" "end-$job")" 'BEGIN { printf "%.0f", (w > 0 ? d / w : -1) }')"
		for k in 0 1 2 3 4 6; do
			line+=" ${COUNTERS[$k]}_per_kio=$(per_kio $(( a[k] - b[k] )) "$ios")"
		done
		read -ra b <<< "$(sed -n "s/^begin-$job //p" "$MARKS.dev")"
		read -ra a <<< "$(sed -n "s/^end-$job //p" "$MARKS.dev")"
		if [ ${#a[@]} -eq ${#DEVC[@]} ] && [ ${#b[@]} -eq ${#DEVC[@]} ]; then
			for k in "${!DEVC[@]}"; do
				line+=" dev_${DEVC[$k]}=$(( a[k] - b[k] ))"
			done
			line+=" dev_irqs_per_kio=$(per_kio $(( a[1] - b[1] )) "$ios")"
			line+=" dev_kicks_per_kio=$(per_kio $(( a[0] - b[0] )) "$ios")"
			line+=" dev_backend_kicks_per_kio=$(per_kio $(( a[5] - b[5] )) "$ios")"
			line+=" dev_backend_calls_per_kio=$(per_kio $(( a[6] - b[6] )) "$ios")"
		fi
		read -ra b <<< "$(sed -n "s/^begin-$job //p" "$MARKS.cpu")"
		read -ra a <<< "$(sed -n "s/^end-$job //p" "$MARKS.cpu")"
		if [ ${#a[@]} -eq 5 ] && [ ${#b[@]} -eq 5 ] && [ $(( a[0] - b[0] )) -gt 0 ]; then
			# in % of one test-host CPU over the job's window
			local per_cpu=$(( (a[0] - b[0]) / NCPU ))
			line+=" host_cpu=$(( (a[0] - b[0] - a[1] + b[1]) * 100 / per_cpu ))"
			line+=" vcpu_cpu=$(( (a[2] - b[2]) * 100 / per_cpu )) vmm_io_cpu=$(( (a[3] - b[3]) * 100 / per_cpu ))"
			line+=" backend_cpu=$(( (a[4] - b[4]) * 100 / per_cpu ))"
			# test-host CPU time per 1,000 I/Os, in ms
			line+=" host_cpu_ms_per_kio=$(per_kio $(( (a[0] - b[0] - a[1] + b[1]) * 1000 / HZ )) "$ios")"
			line+=" vcpu_cpu_ms_per_kio=$(per_kio $(( (a[2] - b[2]) * 1000 / HZ )) "$ios")"
		fi
		echo "$line" | tee -a "$results"
	done
}

# per_kio COUNT IOS: COUNT per 1,000 I/Os (-1 without I/Os).
per_kio() { awk -v d="$1" -v n="$2" 'BEGIN { printf "%.0f", n ? d * 1000 / n : -1 }'; }

# median FIELD VMM JOB: median of FIELD=value over the VMM's lines for JOB.
median() {
	grep "^$2 .* job=$3 " "$results" | tr ' ' '\n' | sed -n "s/^$1=//p" | median_of_lines
}
# median_of_lines: the median of the numbers on stdin, one per line ("-" for none).
median_of_lines() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { [ "$1" = - ] || [ "$2" = - ] && { echo -; return; }; awk -v c="$1" -v q="$2" 'BEGIN { if (q == 0) print "-"; else printf "%.2f", c / q }'; }

# pair_ratios VMM BASE JOB: VMM's IOPS over BASE's in the same iteration
# (the two boots run back to back, so a slow spell of the test host tends
# to hit both), their median and the list; "-" without a complete pair.
pair_ratios() {
	local r
	r=$(awk -v v="$1" -v b="$2" -v j="$3" '
		$3 == "job=" j && $4 ~ /^iops=/ { split($2, it, "="); x[$1, it[2]] = substr($4, 6) }
		END { for (k in x) { split(k, p, SUBSEP); if (p[1] == v && x[b, p[2]] > 0) printf "%.6f\n", x[k] / x[b, p[2]] } }' \
		"$results" | sort -g)
	[ -n "$r" ] || { echo -; return; }
	printf '%.2f over %d pairs (%s)\n' "$(median_of_lines <<< "$r")" "$(wc -l <<< "$r")" \
		"$(printf '%.2f\n' $r | paste -sd ' ')"
}

# svm_exit CODE: the name of an SVM exit code (decimal, as in the hist).
svm_exit() {
	case $1 in
	96) echo INTR ;; 97) echo NMI ;; 100) echo VINTR ;; 114) echo CPUID ;; 119) echo PAUSE ;;
	120) echo HLT ;; 123) echo IOIO ;; 124) echo MSR ;; 129) echo VMMCALL ;; 141) echo XSETBV ;;
	1024) echo NPF ;; 1025) echo AVIC_IPI ;; 1026) echo AVIC_NOACCEL ;;
	*) if [ "$1" -ge 64 ] && [ "$1" -lt 96 ]; then echo "EXCP$(( $1 - 64 ))"; else echo "code$1"; fi ;;
	esac
}

# trace_report VMM PREFIX IOS: the trace run's histograms per 1,000 I/Os.
trace_report() {
	local vmm=$1 p=$2 ios=$3 code n
	echo "$vmm, $TRACE_JOB window of the trace run ($ios I/Os): per 1,000 I/Os"
	[ "$ios" -gt 0 ] || { echo "  (no $TRACE_JOB result in the trace run)"; return; }
	if [ ! -s "$p.kvm_exit" ]; then echo "  (no histogram: tracing unavailable)"; return; fi
	printf '  exits by SVM exit code:'
	sed -n 's/^{ exit_reason: *\([0-9]*\) *} hitcount: *\([0-9]*\)/\1 \2/p' "$p.kvm_exit" |
	while read -r code n; do
		printf ' %s=%s' "$(svm_exit "$code")" "$(awk -v n="$n" -v t="$ios" 'BEGIN { printf "%.0f", n * 1000 / t }')"
	done
	echo
	# kvm_mmio type: 0 read-unsatisfied (goes to the VMM), 1 read (done),
	# 2 write.  Reads show up twice (unsatisfied, then done): count type 0
	# and 2.
	printf '  MMIO accesses (VMM-visible reads, writes incl. ioeventfd) by address:'
	sed -n 's/^{ type: *\([0-9]*\), gpa: *\([0-9]*\) *} hitcount: *\([0-9]*\)/\1 \2 \3/p' "$p.kvm_mmio" |
	awk -v t="$ios" '$1 != 1 { printf " %s0x%x=%.0f", ($1 == 2 ? "w" : "r"), $2, $3 * 1000 / t }'
	echo
	printf '  port I/O by port:'
	sed -n 's/^{ rw: *\([0-9]*\), port: *\([0-9]*\) *} hitcount: *\([0-9]*\)/\1 \2 \3/p' "$p.kvm_pio" |
	awk -v t="$ios" '{ printf " %s0x%x=%.1f", ($1 ? "w" : "r"), $2, $3 * 1000 / t }'
	echo
	printf '  MSR accesses:'
	sed -n 's/^{ write: *\([0-9]*\), ecx: *\([0-9]*\) *} hitcount: *\([0-9]*\)/\1 \2 \3/p' "$p.kvm_msr" |
	awk -v t="$ios" '{ printf " %s0x%x=%.0f", ($1 ? "w" : "r"), $2, $3 * 1000 / t }'
	echo
}

{
	echo "# capvm blk benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $iters boots each, fio ${runtime} s per job"
	echo "# kernel $(basename "$CAPVM_VMLINUX") (PVH), ${MEM_MIB} MiB, 1 vCPU, image ${IMG_MIB} MiB (tmpfs file via $loopdev)," \
		"$(uname -r) host KVM $( [ -n "${CAPVM_IN_TESTHOST:-}" ] && echo "(test host: nested kvm_amd under QEMU TCG, $(nproc) vCPU)")"
	echo "# capvm: $("$CAPVM" version 2>/dev/null | head -n 1), --disk $loopdev,cache=none; variants: ${VMMS[*]}"
	[ -n "$BENCH_BLK_REF" ] && echo "# *-ref variants: $BENCH_BLK_REF, $("$BENCH_BLK_REF" version 2>/dev/null | head -n 1)"
	[ "$PIN" = 1 ] && echo "# pinned: vCPU thread on CPU 0, other VMM threads and back-ends on CPU 1"
	[ "$BENCH_BLK_STRESS" = 1 ] && echo "# STRESSED (figures not comparable): ipi-stress $BENCH_BLK_STRESS_OPTS during each timed boot"
	echo "# qemu: $(qemu-system-x86_64 --version | head -n 1), -drive cache=none,aio=io_uring -device virtio-blk-device"
	echo "# guest: fio --direct=1 --iodepth=32 --time_based --runtime=$runtime; randread --bs=4k, seqread --bs=128k"
} | tee "$report"
cat "$CAPVM" "$CAPVM_VMLINUX" "$CAPVM_BLK_INITRD" "$(command -v qemu-system-x86_64)" > /dev/null
for i in $(seq "$iters"); do
	for vmm in "${VMMS[@]}"; do
		one "$vmm" "$i"
	done
done | tee -a "$report"

{
	echo
	printf '%-14s %-8s %8s %9s %7s %5s %10s %8s %8s %8s %8s %8s\n' VMM job IOPS KiB/s clat_us cpu% exits/kio mmio/kio io/kio halt/kio irq/kio inj/kio
	for job in "${JOBS[@]}"; do
		for vmm in "${VMMS[@]}"; do
			printf '%-14s %-8s %8s %9s %7s %5s %10s %8s %8s %8s %8s %8s\n' "$vmm" "$job" \
				"$(median iops $vmm $job)" "$(median bw_kib $vmm $job)" "$(median clat_us $vmm $job)" \
				"$(median guest_cpu $vmm $job)" "$(median exits_per_kio $vmm $job)" \
				"$(median mmio_exits_per_kio $vmm $job)" "$(median io_exits_per_kio $vmm $job)" \
				"$(median halt_exits_per_kio $vmm $job)" "$(median irq_exits_per_kio $vmm $job)" \
				"$(median irq_injections_per_kio $vmm $job)"
		done
		for vmm in "${VMMS[@]}"; do
			[[ $vmm == qemu* ]] && continue
			for q in qemu qemu-unpinned; do
				[[ " ${VMMS[*]} " == *" $q "* ]] &&
					echo "$job ratio $vmm/$q: IOPS $(ratio "$(median iops $vmm $job)" "$(median iops $q $job)")," \
						"exits per I/O $(ratio "$(median exits_per_kio $vmm $job)" "$(median exits_per_kio $q $job)")"
			done
			[ "$vmm" != capvm ] && [[ " ${VMMS[*]} " == *" capvm "* ]] &&
				echo "$job ratio $vmm/capvm: IOPS $(ratio "$(median iops $vmm $job)" "$(median iops capvm $job)")" \
					"(of medians); per boot pair: $(pair_ratios "$vmm" capvm "$job")"
			echo "$job $vmm device (monitor): interrupts/kio $(median dev_irqs_per_kio "$vmm" "$job")," \
				"kicks/kio $(median dev_kicks_per_kio "$vmm" "$job")," \
				"held windows $(median dev_held_windows "$vmm" "$job"), idle ends $(median dev_idle_window_ends "$vmm" "$job")," \
				"relay to/from back-end: kicks/kio $(median dev_backend_kicks_per_kio "$vmm" "$job"), calls/kio $(median dev_backend_calls_per_kio "$vmm" "$job")"
		done
		for vmm in "${VMMS[@]}"; do
			echo "$job $vmm test-host CPU (% of one CPU): all $(median host_cpu "$vmm" "$job")," \
				"vCPU thread $(median vcpu_cpu "$vmm" "$job"), VMM's other threads $(median vmm_io_cpu "$vmm" "$job")," \
				"back-end $(median backend_cpu "$vmm" "$job");" \
				"ms per 1,000 I/Os: all $(median host_cpu_ms_per_kio "$vmm" "$job"), vCPU thread $(median vcpu_cpu_ms_per_kio "$vmm" "$job")"
		done
	done
	for vmm in "${VMMS[@]}"; do
		echo "exits/s (median) $vmm: idle guest $(median exits_per_s $vmm idle)," \
			"randread $(median exits_per_s $vmm randread), seqread $(median exits_per_s $vmm seqread)"
	done
	echo "(each job window also holds ~1 s of idle guest)"
	echo "(medians over $iters boots; /kio = KVM exits per 1,000 fio I/Os in the job's window, from debugfs kvm/*)"
} | tee -a "$report"

if [ $trace -eq 1 ]; then
	echo | tee -a "$report"
	for vmm in capvm qemu; do
		MARKS=$T/marks-$vmm-trace TRACE_PREFIX=$T/trace-$vmm PERF_OUT=
		: > "$MARKS"
		MARK_JOBS=()
		start_vmm "$vmm" "$CAPVM_OUT/blk-$vmm-trace.log"
		[ ${#MARK_JOBS[@]} -gt 0 ] && wait "${MARK_JOBS[@]}" 2>/dev/null
		kib=$(grep -a "^CAPVM-FIO-RESULT $TRACE_JOB rc=0 " "$CAPVM_OUT/blk-$vmm-trace.log" | cut -d';' -f2)
		trace_report "$vmm" "$TRACE_PREFIX" "$(( ${kib:-0} / $([ "$TRACE_JOB" = seqread ] && echo 128 || echo 4) ))" | tee -a "$report"
		for f in "$TRACE_PREFIX".*; do [ -f "$f" ] && cp "$f" "$CAPVM_OUT/blk-$vmm-trace.${f##*.}.hist"; done
	done
fi
echo "results in $report"
