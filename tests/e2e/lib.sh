# tests/e2e/lib.sh: helpers for the end-to-end tests (sourced).
#
# An e2e test is an executable tests/e2e/NAME.sh that prints one line per
# check: "PASS NAME/check", "FAIL NAME/check: why" or "SKIP NAME/check: why".
# Its checks need a /dev/kvm that boots stock Linux guests.  A test starts
# with
#     . "$(dirname "$0")/lib.sh"
#     e2e_enter_kvm --timeout 400 -- "$0" "$@"
# which returns at once where there is real KVM (or inside the test host);
# elsewhere it re-runs the same file inside the test host (capvm testhost,
# i.e. scripts/testhost.sh), streams its output, turns a test host failure
# into a FAIL line and exits with the inner status.  Without real KVM and
# without QEMU for a test host, it prints a SKIP line and exits 0.
#
# Inside, these are set: CAPVM (capvm binary), CAPVM_KERNEL (bzImage),
# CAPVM_VMLINUX (PVH ELF), CAPVM_INITRD (guest initramfs), CAPVM_SRC (the
# repository), CAPVM_OUT (a writable directory whose contents stay on the
# host), and E2E_TMP (a scratch directory removed at exit).

E2E_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
E2E_NAME=$(basename "$0" .sh)
E2E_FAILS=0

e2e_pass() { echo "PASS $E2E_NAME/$1"; }
e2e_fail() { echo "FAIL $E2E_NAME/$1${2:+: $2}"; E2E_FAILS=$((E2E_FAILS + 1)); }
e2e_skip() { echo "SKIP $E2E_NAME/$1: $2"; }
# e2e_check NAME CMD...: PASS if CMD succeeds, else FAIL with the reason CMD
# left in E2E_WHY.
e2e_check() {
	local name=$1; shift
	if "$@"; then e2e_pass "$name"; else e2e_fail "$name" "${E2E_WHY:-}"; fi
	E2E_WHY=
}

# e2e_real_kvm: true where /dev/kvm can boot stock guests (real kvm_intel /
# kvm_amd, or the test host).
e2e_real_kvm() {
	[ -n "${CAPVM_IN_TESTHOST:-}" ] || "$E2E_SRC/scripts/detect-kvm.sh" -q
}

# e2e_enter_kvm [testhost options] -- SCRIPT [ARGS...]: see above.
e2e_enter_kvm() {
	local opts=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
	[ "${1:-}" = -- ] && shift
	if e2e_real_kvm; then
		if [ -z "${CAPVM_IN_TESTHOST:-}" ]; then
			"$E2E_SRC/guest/build-images.sh" --keep-kernel >&2 || { echo "FAIL $E2E_NAME: building the guest images failed"; exit 1; }
		fi
		: "${CAPVM_SRC:=$E2E_SRC}"
		: "${CAPVM:=$CAPVM_SRC/build/capvm}"
		: "${CAPVM_KERNEL:=$CAPVM_SRC/build/guest/bzImage}"
		: "${CAPVM_VMLINUX:=$CAPVM_SRC/build/guest/vmlinux}"
		: "${CAPVM_INITRD:=$CAPVM_SRC/build/guest/initrd.cpio.gz}"
		: "${CAPVM_OUT:=$CAPVM_SRC/build/e2e-out}"
		mkdir -p "$CAPVM_OUT"
		export CAPVM CAPVM_SRC CAPVM_KERNEL CAPVM_VMLINUX CAPVM_INITRD CAPVM_OUT
		E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/capvm-e2e.XXXXXX")
		trap 'e2e_cleanup' EXIT
		# A private copy of capvm: others may rebuild build/capvm (not
		# atomically) while the test runs.
		if [ -f "$CAPVM" ] && cp "$CAPVM" "$E2E_TMP/capvm"; then
			E2E_CAPVM_BUILT=$CAPVM
			CAPVM=$E2E_TMP/capvm
		fi
		return 0
	fi
	local why
	why=$("$E2E_SRC/scripts/detect-kvm.sh")
	if ! command -v qemu-system-x86_64 > /dev/null ||
	   ! qemu-system-x86_64 -accel help 2>/dev/null | grep -qx tcg; then
		echo "SKIP $E2E_NAME: no real KVM ($why) and no qemu-system-x86_64 with TCG for a test host"
		exit 0
	fi
	echo "$E2E_NAME: no real KVM here ($why); running in the test host" >&2
	local log rc
	log=$(mktemp "${TMPDIR:-/tmp}/capvm-e2e-$E2E_NAME.XXXXXX")
	: "${CAPVM_OUT:=$E2E_SRC/build/testhost/out-$E2E_NAME}"
	export CAPVM_OUT
	"$E2E_SRC/scripts/testhost.sh" "${opts[@]}" "$@" | tee "$log"
	rc=${PIPESTATUS[0]}
	case $rc in
	124) echo "FAIL $E2E_NAME: the test host timed out (checks without a line above did not run)" ;;
	125) echo "FAIL $E2E_NAME: the test host could not run the test" ;;
	*) if [ "$rc" -ne 0 ] && ! grep -q '^FAIL ' "$log"; then
		echo "FAIL $E2E_NAME: exited with status $rc"
	   fi ;;
	esac
	rm -f "$log"
	exit "$rc"
}

# VMMs started by e2e_boot_timed that are still running at exit are killed
# (by PID); e2e_forget_pid drops one that has been waited for.
E2E_PIDS=()
e2e_forget_pid() {
	local p keep=()
	for p in "${E2E_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	E2E_PIDS=(${keep[@]+"${keep[@]}"})
}
e2e_cleanup() {
	local p
	for p in "${E2E_PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
	done
	[ -n "${E2E_TMP:-}" ] && rm -rf "$E2E_TMP"
}

# e2e_run LOG TIMEOUT CMD...: runs CMD with a timeout, stdout+stderr to LOG;
# returns CMD's status (124 on timeout).
e2e_run() {
	local log=$1 t=$2; shift 2
	timeout -k 5 "$t" "$@" > "$log" 2>&1 < /dev/null
}

# e2e_wait_for FILE PATTERN SECONDS [COUNT]: wait until FILE has COUNT
# (default 1) lines containing PATTERN; on timeout sets E2E_WHY, returns 1.
e2e_wait_for() {
	local i c n=${4:-1}
	for ((i = 0; i < $3 * 10; i++)); do
		c=$(grep -ac -- "$2" "$1" 2>/dev/null)
		[ "${c:-0}" -ge "$n" ] && return 0
		sleep 0.1
	done
	E2E_WHY="no '$2' (x$n) in $(basename "$1") after $3 s"
	return 1
}

# e2e_guest_cmdline TEST: the kernel command line of the guest test TEST.
e2e_guest_cmdline() {
	echo "console=ttyS0 quiet panic=-1 capvm.test=$1"
}

# e2e_boot_timed MARKER TIMEOUT CMD...: starts CMD (a VMM), reads its console
# from stdout, and when a line contains MARKER runs the shell function named
# in E2E_AT_MARKER (if set) while the VM is alive.  Sets E2E_MARKER_S
# (seconds from process start to the marker, empty if never seen),
# E2E_RC (the VMM's exit status, 124 on timeout) and E2E_PID; the console
# goes to E2E_CONSOLE (a file).  Uses $EPOCHREALTIME: no forks while timing.
e2e_boot_timed() {
	local marker=$1 t=$2; shift 2
	local start line now rs fd partial= fifo=$E2E_TMP/console.fifo
	E2E_MARKER_S= E2E_RC=
	: > "$E2E_CONSOLE"
	rm -f "$fifo"; mkfifo "$fifo"
	start=$EPOCHREALTIME
	"$@" > "$fifo" 2>&1 < /dev/null &
	E2E_PID=$!
	E2E_PIDS+=("$E2E_PID")
	exec {fd}< "$fifo"
	local deadline=$((SECONDS + t))
	while [ $SECONDS -lt $deadline ]; do
		IFS= read -r -t 1 line <&"$fd"
		rs=$?
		line=$partial$line partial=
		if [ $rs -gt 128 ]; then                   # no full line yet:
			partial=$line                      # read keeps what came
			continue
		fi
		if [ $rs -ne 0 ]; then                     # end of output
			[ -n "$line" ] && echo "$line" >> "$E2E_CONSOLE"
			break
		fi
		echo "${line%$'\r'}" >> "$E2E_CONSOLE"
		if [ -z "$E2E_MARKER_S" ] && [[ $line == *"$marker"* ]]; then
			now=$EPOCHREALTIME
			E2E_MARKER_S=$(awk -v a="$start" -v b="$now" 'BEGIN { printf "%.3f", b - a }')
			[ -n "${E2E_AT_MARKER:-}" ] && "$E2E_AT_MARKER"
		fi
	done
	if kill -0 "$E2E_PID" 2>/dev/null && [ $SECONDS -ge $deadline ]; then
		kill -KILL "$E2E_PID" 2>/dev/null
		wait "$E2E_PID" 2>/dev/null
		E2E_RC=124
	else
		wait "$E2E_PID" 2>/dev/null
		E2E_RC=$?
	fi
	e2e_forget_pid "$E2E_PID"
	exec {fd}<&-
	rm -f "$fifo"
	return 0
}

# qemu_microvm_cmd CPUS MEM_MIB KERNEL CMDLINE [extra QEMU args]: sets the
# array QEMU_CMD to QEMU's microvm command line with the devices capvm gives
# a guest by default (serial console on stdio, RTC), for comparisons.
qemu_microvm_cmd() {
	local cpus=$1 mem=$2 kernel=$3 cmdline=$4; shift 4
	# debug-threads=on names the vCPU threads "CPU N/KVM": the benchmarks
	# find them by that name to pin them and to account their CPU time
	QEMU_CMD=(qemu-system-x86_64 -enable-kvm -cpu host -M microvm,rtc=on -name qemu,debug-threads=on
		-smp "$cpus" -m "$mem" -nodefaults -no-user-config -nographic
		-no-reboot -serial stdio -kernel "$kernel" -initrd "$CAPVM_INITRD"
		-append "$cmdline" "$@")
}
