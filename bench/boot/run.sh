#!/usr/bin/env bash
# bench/boot/run.sh [ITERATIONS]: boot time, KVM exits and memory overhead
# of capvm against QEMU's microvm machine (a benchmark, not a test).
#
# In ONE KVM environment (the test host when this machine has no real KVM)
# it boots the same guest (PVH vmlinux, build/guest/initrd.cpio.gz, 1 vCPU,
# 256 MiB) alternately with `capvm run` and with
# `qemu-system-x86_64 -enable-kvm -cpu host -M microvm,rtc=on`, ITERATIONS
# times each (default 5), and reports per VMM the median of:
#  - init_s: seconds from starting the VMM process to the guest's
#    CAPVM-GUEST-INIT console line;
#  - KVM exit counts (debugfs /sys/kernel/debug/kvm/*: sums over live VMs,
#    so they are read at the marker while the guest lives, minus a reading
#    taken before the start);
#  - overhead_kb: the VMM's VmRSS minus the resident part of its guest RAM
#    mapping(s) (the mappings in /proc/PID/smaps at least 90 % as large as
#    the guest RAM), also read at the marker.
# Results go to stdout and to build/bench/boot.txt.  See docs/performance.md.
. "$(dirname "$0")/../../tests/e2e/lib.sh"
E2E_NAME=bench-boot
iters=${1:-${BENCH_ITERATIONS:-5}}
[[ $iters =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [ITERATIONS]" >&2; exit 2; }
: "${CAPVM_OUT:=$E2E_SRC/build/bench}"
export CAPVM_OUT
# The load of the machine (when we are about to enter the test host), for
# the report: other jobs stretch the times a lot under TCG.
: "${CAPVM_HOST_LOAD:=$(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs}"
export CAPVM_HOST_LOAD
e2e_enter_kvm --timeout $((120 + iters * 90)) -- "$0" "$iters"

MEM_MIB=256
CMDLINE="console=ttyS0 quiet panic=-1 capvm.test=pause capvm.pause=2"
COUNTERS=(exits io_exits mmio_exits halt_exits irq_exits irq_injections pf_taken insn_emulation)
E2E_CONSOLE=$E2E_TMP/console.log
results=$E2E_TMP/results
: > "$results"
report=$CAPVM_OUT/boot.txt

read_counters() {
	local c v out=()
	for c in "${COUNTERS[@]}"; do
		v=0
		[ -r "/sys/kernel/debug/kvm/$c" ] && read -r v < "/sys/kernel/debug/kvm/$c"
		out+=("$v")
	done
	echo "${out[*]}"
}

# Called by e2e_boot_timed at the marker, while the VM is alive.
at_marker() {
	AT_COUNTERS=$(read_counters)
	AT_MEM=$(awk -v guest_kb=$((MEM_MIB * 1024)) '
		/^[0-9a-f]+-[0-9a-f]+ / { big = 0 }
		/^Size:/ { big = ($2 >= guest_kb * 0.9) }
		/^Rss:/ && big { guest += $2 }
		END { printf "%d", guest }' "/proc/$E2E_PID/smaps" 2>/dev/null)
	AT_RSS=$(awk '/^VmRSS:/ { print $2 }' "/proc/$E2E_PID/status" 2>/dev/null)
}
E2E_AT_MARKER=at_marker

# one VMM ITER: one boot, one result line.
one() {
	local vmm=$1 i=$2 before line c k
	local -a b a
	before=$(read_counters)
	AT_COUNTERS= AT_MEM= AT_RSS=
	if [ "$vmm" = capvm ]; then
		e2e_boot_timed CAPVM-GUEST-INIT 90 "$CAPVM" run --kernel "$CAPVM_VMLINUX" \
			--initrd "$CAPVM_INITRD" --cmdline "$CMDLINE" --mem "${MEM_MIB}M" --cpus 1
	else
		qemu_microvm_cmd 1 "$MEM_MIB" "$CAPVM_VMLINUX" "$CMDLINE"
		e2e_boot_timed CAPVM-GUEST-INIT 90 "${QEMU_CMD[@]}"
	fi
	cp "$E2E_CONSOLE" "$CAPVM_OUT/boot-$vmm-$i.log"
	if [ -z "$E2E_MARKER_S" ]; then
		echo "$vmm iter=$i FAILED: no CAPVM-GUEST-INIT (status $E2E_RC); console in $CAPVM_OUT/boot-$vmm-$i.log"
		return
	fi
	read -ra b <<< "$before"
	read -ra a <<< "$AT_COUNTERS"
	line="$vmm iter=$i init_s=$E2E_MARKER_S"
	for k in "${!COUNTERS[@]}"; do
		line+=" ${COUNTERS[$k]}=$(( ${a[$k]:-0} - ${b[$k]:-0} ))"
	done
	line+=" rss_kb=${AT_RSS:-0} guest_rss_kb=${AT_MEM:-0} overhead_kb=$(( ${AT_RSS:-0} - ${AT_MEM:-0} )) status=$E2E_RC"
	echo "$line" | tee -a "$results"
}

# median FIELD VMM: median of FIELD=value over the VMM's result lines.
median() {
	grep "^$2 " "$results" | tr ' ' '\n' | sed -n "s/^$1=//p" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

{
	echo "# capvm boot benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $iters boot(s) per VMM"
	echo "# kernel $(basename "$CAPVM_VMLINUX") (PVH), ${MEM_MIB} MiB, 1 vCPU, $(uname -r) host KVM" \
		"$( [ -n "${CAPVM_IN_TESTHOST:-}" ] && echo "(test host: nested kvm_amd under QEMU TCG)")"
	echo "# kvm: $("$CAPVM_SRC/scripts/detect-kvm.sh"); load average of the machine at the start: $CAPVM_HOST_LOAD"
	echo "# capvm: $("$CAPVM" version 2>/dev/null | head -n 1)"
	echo "# qemu: $(qemu-system-x86_64 --version | head -n 1)"
} | tee "$report"
# Warm the page cache so neither VMM pays for the first read of the images.
cat "$CAPVM" "$CAPVM_VMLINUX" "$CAPVM_INITRD" "$(command -v qemu-system-x86_64)" > /dev/null
for i in $(seq "$iters"); do
	one capvm "$i"
	one qemu "$i"
done | tee -a "$report"

{
	echo
	printf '%-8s %8s %8s %8s %8s %8s %8s %12s\n' VMM init_s exits io_exits mmio_exits halt_exits irq_inj overhead_kb
	for vmm in capvm qemu; do
		printf '%-8s %8s %8s %8s %8s %8s %8s %12s\n' "$vmm" "$(median init_s $vmm)" \
			"$(median exits $vmm)" "$(median io_exits $vmm)" "$(median mmio_exits $vmm)" \
			"$(median halt_exits $vmm)" "$(median irq_injections $vmm)" "$(median overhead_kb $vmm)"
	done
	c=$(median init_s capvm) q=$(median init_s qemu)
	if [ "$c" != - ] && [ "$q" != - ]; then
		echo "boot time ratio capvm/qemu (median to CAPVM-GUEST-INIT): $(awk -v c="$c" -v q="$q" 'BEGIN { printf "%.2f", c / q }')"
	fi
	echo "(medians over $iters boot(s) per VMM; overhead_kb = VmRSS - resident guest RAM, at the marker)"
} | tee -a "$report"
echo "results in $report"
