#!/usr/bin/env bash
# bench/net/run.sh [ITERATIONS] [SECONDS]: network throughput of capvm's
# virtio-net against QEMU 7.2's (a benchmark, not a test).
#
# In ONE KVM environment (the test host when this machine has no real KVM):
# a network namespace capvmtest-peer holds a tap (capvmtap0, 10.77.0.1/24)
# and an iperf3 server; the VMM runs inside the namespace on that tap, so
# the guest (10.77.0.2) and the peer are the two ends of the tap and
# nothing leaves the namespace.  Both VMMs use a userspace tap backend (no
# vhost on these hosts):
#   capvm run ... --net tap=capvmtap0
#   qemu-system-x86_64 -enable-kvm -cpu host -M microvm,rtc=on ...
#     -netdev tap,id=n0,ifname=capvmtap0,script=no,downscript=no
#     -device virtio-net-device,netdev=n0
# Same guest (PVH vmlinux, 1 vCPU, 256 MiB, the default initramfs plus
# iperf3, see build-initrd.sh), booted alternately with each VMM ITERATIONS
# times (default 3); each boot runs iperf3 for SECONDS (default 8) guest ->
# peer ("tx") and peer -> guest ("rx", -R).  Reports medians per VMM and
# direction and the capvm/QEMU ratios, and KVM's exit counters (debugfs)
# over the two iperf3 runs of each boot, on stdout and in
# build/bench/net.txt.  See docs/performance.md.
# BENCH_NET_VMMS picks the variants (default "capvm qemu"):
#   capvm           virtio-net in the VMM on the tap
#   capvm-shared    `capvm backend net` on the tap (sandboxed, its own
#                   process), the VMM its vhost-user front-end with guest RAM shared
#   capvm-isolated  the same, the back-end seeing only a bounce window
#   qemu            QEMU 7.2 microvm, -netdev tap
# BENCH_TESTHOST_CPUS sets the test host's vCPUs (default 2: the VMM's I/O
# thread gets a CPU of its own, as on any real host).
. "$(dirname "$0")/../../tests/e2e/lib.sh"
E2E_NAME=bench-net
iters=${1:-${BENCH_ITERATIONS:-3}}
secs=${2:-8}
[[ $iters =~ ^[1-9][0-9]*$ && $secs =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [ITERATIONS] [SECONDS]" >&2; exit 2; }
: "${CAPVM_OUT:=$E2E_SRC/build/bench}"
: "${CAPVM_BENCH_INITRD:=$E2E_SRC/build/bench-net/initrd.cpio.gz}"
# Settings reach the test host only as CAPVM_* variables.
: "${BENCH_NET_VMMS:=${CAPVM_BENCH_NET_VMMS:-capvm qemu}}"
export CAPVM_OUT CAPVM_BENCH_INITRD CAPVM_BENCH_NET_VMMS=$BENCH_NET_VMMS
VMMS=($BENCH_NET_VMMS)
for v in "${VMMS[@]}"; do
	case $v in capvm|capvm-shared|capvm-isolated|qemu) ;;
	*) echo "$0: unknown VMM variant '$v' in BENCH_NET_VMMS" >&2; exit 2 ;;
	esac
done
if [ -z "${CAPVM_IN_TESTHOST:-}" ]; then
	mkdir -p "$CAPVM_OUT"
	"$E2E_SRC/bench/net/build-initrd.sh" "$CAPVM_BENCH_INITRD" || exit 1
fi
e2e_enter_kvm --timeout $((180 + iters * (${#VMMS[@]} * (60 + 2 * secs)))) --cpus "${BENCH_TESTHOST_CPUS:-2}" -- "$0" "$iters" "$secs"

NS=capvmtest-peer
TAP=capvmtap0
MEM_MIB=256
CMDLINE="console=ttyS0 quiet panic=-1 capvm.test=iperf capvm.iperf_t=$secs"
report=$CAPVM_OUT/net.txt
results=$E2E_TMP/results
: > "$results"

for tool in ip iperf3 qemu-system-x86_64; do
	command -v "$tool" > /dev/null || { echo "SKIP bench-net: $tool is not installed"; exit 0; }
done
cleanup_net() { ip netns del "$NS" 2>/dev/null; }
trap 'cleanup_net; e2e_cleanup' EXIT
cleanup_net
ip netns add "$NS" && ip netns exec "$NS" ip tuntap add dev "$TAP" mode tap &&
	ip netns exec "$NS" ip addr add 10.77.0.1/24 dev "$TAP" &&
	ip netns exec "$NS" ip link set "$TAP" up && ip netns exec "$NS" ip link set lo up ||
	{ echo "bench-net: cannot set up namespace $NS"; exit 1; }
# A fresh iperf3 server for each boot: a guest that dies in the middle of
# a test (a triple fault of the nested test host) leaves the server busy
# with its test, and it would refuse every later boot's client.
SERVER=
start_server() {
	ip netns exec "$NS" iperf3 -s >> "$E2E_TMP/iperf-server.log" 2>&1 &
	SERVER=$!
	E2E_PIDS+=("$SERVER")
	sleep 0.5
}
stop_server() {
	kill -TERM "$SERVER" 2>/dev/null
	wait "$SERVER" 2>/dev/null
	SERVER=
}

COUNTERS=(exits mmio_exits io_exits halt_exits irq_injections)
read_counters() {
	local c v out=()
	for c in "${COUNTERS[@]}"; do
		v=0
		[ -r "/sys/kernel/debug/kvm/$c" ] && read -r v < "/sys/kernel/debug/kvm/$c"
		out+=("$v")
	done
	echo "${out[*]}"
}

# one VMM ITER: one boot, one result line per direction, plus the KVM exits
# between the guest's CAPVM-IPERF start and end markers (both directions).
one() {
	local vmm=$1 i=$2 log=$CAPVM_OUT/net-$1-$2.log rc pid c0= c1= k
	local -a cmd a b
	local backend= sock=$E2E_TMP/net-backend.sock
	start_server
	if [[ $vmm == capvm* ]]; then
		cmd=("$CAPVM" run --kernel "$CAPVM_VMLINUX" --initrd "$CAPVM_BENCH_INITRD"
			--cmdline "$CMDLINE" --mem "${MEM_MIB}M" --cpus 1)
		if [ "$vmm" = capvm ]; then
			cmd+=(--net "tap=$TAP,mac=52:54:00:77:00:02")
		else
			rm -f "$sock"
			ip netns exec "$NS" "$CAPVM" backend net --socket "$sock" \
				--tap "$TAP,mac=52:54:00:77:00:02" > "$CAPVM_OUT/net-$vmm-$i-backend.log" 2>&1 &
			backend=$!
			E2E_PIDS+=("$backend")
			for k in $(seq 300); do [ -S "$sock" ] && break; sleep 0.1; done
			cmd+=(--net "vhost-user=$sock,mem=${vmm#capvm-}")
		fi
	else
		CAPVM_INITRD=$CAPVM_BENCH_INITRD qemu_microvm_cmd 1 "$MEM_MIB" "$CAPVM_VMLINUX" "$CMDLINE" \
			-netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no" \
			-device virtio-net-device,netdev=n0,mac=52:54:00:77:00:02
		cmd=("${QEMU_CMD[@]}")
	fi
	timeout -k 5 $((90 + 4 * secs)) ip netns exec "$NS" "${cmd[@]}" > "$log" 2>&1 < /dev/null &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		if [ -z "$c0" ] && grep -aq '^CAPVM-IPERF start' "$log"; then c0=$(read_counters); fi
		if [ -z "$c1" ] && grep -aq '^CAPVM-IPERF end' "$log"; then c1=$(read_counters); fi
		sleep 0.2
	done
	wait "$pid"; rc=$?
	stop_server
	if [ -n "$backend" ]; then
		kill -TERM "$backend" 2>/dev/null
		wait "$backend" 2>/dev/null
	fi
	local line exits=
	if [ -n "$c0" ] && [ -n "$c1" ]; then
		read -ra a <<< "$c0"; read -ra b <<< "$c1"
		for k in "${!COUNTERS[@]}"; do exits+=" ${COUNTERS[$k]}=$(( ${b[$k]} - ${a[$k]} ))"; done
	fi
	for dir in tx rx; do
		local m
		m=$(sed -n "s/^CAPVM-IPERF $dir mbits=\([0-9.]*\).*/\1/p" "$log" | head -n 1)
		if [ -n "$m" ]; then
			line="$vmm iter=$i dir=$dir mbits=$m"
			[ $dir = rx ] && line+="$exits"
			echo "$line" | tee -a "$results"
		else
			echo "$vmm iter=$i dir=$dir FAILED (status $rc): $(grep -a 'CAPVM-IPERF' "$log" | tr '\n' ' ') see $log"
		fi
	done
}

for i in $(seq 1 "$iters"); do
	for vmm in "${VMMS[@]}"; do
		one "$vmm" "$i"
	done
done

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
{
	echo "bench/net: iperf3 guest <-> peer over a userspace tap, ${secs} s per direction, $iters runs each, medians"
	echo "kernel $(uname -r) in $( [ -n "${CAPVM_IN_TESTHOST:-}" ] && echo "the test host (nested KVM under TCG)" || echo "this machine")"
	for dir in tx rx; do
		label=$([ $dir = tx ] && echo "guest->peer" || echo "peer->guest")
		line="$dir ($label):"
		q=$(awk -v d="dir=$dir" '$1 == "qemu" && $3 == d { sub("mbits=", "", $4); print $4 }' "$results" | median)
		for vmm in "${VMMS[@]}"; do
			c=$(awk -v v="$vmm" -v d="dir=$dir" '$1 == v && $3 == d { sub("mbits=", "", $4); print $4 }' "$results" | median)
			line+=" $vmm ${c} Mbit/s"
			[ "$vmm" != qemu ] && [[ " ${VMMS[*]} " == *" qemu "* ]] &&
				line+=" ($vmm/qemu $(awk -v c="$c" -v q="$q" 'BEGIN { if (q > 0) printf "%.2f", c / q; else print "n/a" }'))"
			line+=","
		done
		echo "${line%,}"
	done
	echo "KVM exits during both iperf3 runs (median; debugfs, between the guest's start/end markers):"
	for vmm in "${VMMS[@]}"; do
		line="  $vmm:"
		for c in exits mmio_exits io_exits halt_exits irq_injections; do
			line+=" $c=$(grep "^$vmm .*dir=rx" "$results" | sed -n "s/.* $c=\([0-9]*\).*/\1/p" | median)"
		done
		echo "$line"
	done
	echo "runs:"
	sed 's/^/  /' "$results"
} | tee "$report"
