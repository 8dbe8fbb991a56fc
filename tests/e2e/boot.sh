#!/usr/bin/env bash
# End-to-end checks of `capvm run` booting the stock Debian guest (issue 2):
# the guest reaches its init with 1 and 2 vCPUs and sees the RAM it was given,
# bzImage and PVH vmlinux both boot, poweroff / reboot / panic give exit
# statuses 0 / 3 / 4, and bad inputs give a one-line error and a non-zero
# status.  One more check boots the same guest under QEMU's microvm to show
# that the KVM environment (usually the test host) works.
# All checks run in ONE test host boot (see tests/e2e/lib.sh).
. "$(dirname "$0")/lib.sh"
e2e_enter_kvm --timeout 720 -- "$0" "$@"

VM_TIMEOUT=${CAPVM_E2E_VM_TIMEOUT:-120}
MEM_MIB=256
E2E_CONSOLE=$E2E_TMP/console.log

# boot NAME TEST CPUS KERNEL: one `capvm run` of the guest test TEST, console
# on stdout.  Sets E2E_RC, E2E_MARKER_S; the console is in $E2E_CONSOLE and
# is kept in $CAPVM_OUT/boot-NAME.log.
boot() {
	local name=$1 test=$2 cpus=$3 kernel=$4
	e2e_boot_timed CAPVM-GUEST-INIT "$VM_TIMEOUT" \
		"$CAPVM" run --kernel "$kernel" --initrd "$CAPVM_INITRD" \
		--cmdline "$(e2e_guest_cmdline "$test")" --mem "${MEM_MIB}M" --cpus "$cpus"
	cp "$E2E_CONSOLE" "$CAPVM_OUT/boot-$name.log"
}

# info_ok CPUS: the guest reported CPUS online CPUs and a MemTotal between
# 60 % and 100 % of the RAM given (the kernel keeps some for itself).
info_ok() {
	local want=$1 line cpus mem
	line=$(grep -a -m1 '^CAPVM-GUEST-INFO ' "$E2E_CONSOLE") || { E2E_WHY="no CAPVM-GUEST-INFO line"; return 1; }
	cpus=$(sed -n 's/.*cpus=\([0-9]*\).*/\1/p' <<< "$line")
	mem=$(sed -n 's/.*mem_kb=\([0-9]*\).*/\1/p' <<< "$line")
	if [ "$cpus" != "$want" ]; then E2E_WHY="guest saw $cpus CPUs, wanted $want"; return 1; fi
	if [ "${mem:-0}" -lt $((MEM_MIB * 1024 * 60 / 100)) ] || [ "$mem" -gt $((MEM_MIB * 1024)) ]; then
		E2E_WHY="guest MemTotal $mem kB for ${MEM_MIB} MiB"; return 1
	fi
}
reached_init() {
	[ -n "$E2E_MARKER_S" ] && return 0
	E2E_WHY="no CAPVM-GUEST-INIT (status $E2E_RC): $(tail -n 3 "$E2E_CONSOLE" | tr '\n' '|' | cut -c1-300)"
	return 1
}
status_is() {
	[ "$E2E_RC" = "$1" ] && return 0
	E2E_WHY="exit status $E2E_RC, wanted $1: $(tail -n 2 "$E2E_CONSOLE" | tr '\n' '|' | cut -c1-300)"
	return 1
}

# --- The KVM environment itself: the guest under QEMU microvm.
if command -v qemu-system-x86_64 > /dev/null; then
	qemu_microvm_cmd 1 "$MEM_MIB" "$CAPVM_VMLINUX" "$(e2e_guest_cmdline poweroff)"
	e2e_boot_timed CAPVM-GUEST-INIT "$VM_TIMEOUT" "${QEMU_CMD[@]}"
	cp "$E2E_CONSOLE" "$CAPVM_OUT/boot-qemu.log"
	if reached_init && status_is 0; then
		e2e_pass qemu-microvm-boots
		echo "info: QEMU microvm reached CAPVM-GUEST-INIT in ${E2E_MARKER_S} s"
	else
		e2e_fail qemu-microvm-boots "$E2E_WHY"
	fi
else
	e2e_skip qemu-microvm-boots "qemu-system-x86_64 is not installed"
fi

if [ ! -x "$CAPVM" ]; then
	e2e_fail capvm-binary "$CAPVM does not exist (make all)"
	exit 1
fi

# --- Boots.
boot 1cpu-bzimage poweroff 1 "$CAPVM_KERNEL"
e2e_check init-1cpu reached_init
e2e_check info-1cpu info_ok 1
e2e_check poweroff-status-0 status_is 0
e2e_check bzimage-boots eval 'reached_init && status_is 0'
[ -n "$E2E_MARKER_S" ] && echo "info: capvm (bzImage, 1 vCPU) reached CAPVM-GUEST-INIT in ${E2E_MARKER_S} s"

boot 2cpu-pvh poweroff 2 "$CAPVM_VMLINUX"
e2e_check init-2cpu reached_init
e2e_check info-2cpu info_ok 2
e2e_check pvh-vmlinux-boots eval 'reached_init && status_is 0'
[ -n "$E2E_MARKER_S" ] && echo "info: capvm (PVH vmlinux, 2 vCPUs) reached CAPVM-GUEST-INIT in ${E2E_MARKER_S} s"

boot reboot reboot 1 "$CAPVM_VMLINUX"
e2e_check reboot-status-3 eval 'reached_init && status_is 3'

boot panic panic 1 "$CAPVM_VMLINUX"
e2e_check panic-status-4 eval 'reached_init && status_is 4'

# A triple fault (the guest's "reboot=triple" method) is a crash: status 5
# and the vCPU registers in the log.
e2e_boot_timed CAPVM-GUEST-INIT "$VM_TIMEOUT" \
	"$CAPVM" run --kernel "$CAPVM_VMLINUX" --initrd "$CAPVM_INITRD" \
	--cmdline "$(e2e_guest_cmdline reboot) reboot=triple" --mem "${MEM_MIB}M"
cp "$E2E_CONSOLE" "$CAPVM_OUT/boot-triple.log"
e2e_check triple-fault-status-5 eval 'reached_init && status_is 5'
E2E_WHY="no register dump in the log: $(grep -a 'cpu:' "$E2E_CONSOLE" | head -2 | tr '\n' '|')"
e2e_check triple-fault-register-dump grep -aq "vCPU 0: rip=.*rsp=" "$E2E_CONSOLE"

# SIGTERM stops a running guest cleanly: status 0.
sigterm_at_init() { kill -TERM "$E2E_PID"; }
E2E_AT_MARKER=sigterm_at_init
boot sigterm shell 1 "$CAPVM_VMLINUX"
E2E_AT_MARKER=
e2e_check sigterm-status-0 eval 'reached_init && status_is 0'

# --- Bad inputs: a one-line error, a non-zero status, and no VM.
# bad NAME ARGS...: runs capvm run with ARGS (after a valid base).
bad() {
	local name=$1; shift
	local out=$E2E_TMP/bad-$name.out err=$E2E_TMP/bad-$name.err rc lines
	timeout -k 5 30 "$CAPVM" run "$@" > "$out" 2> "$err" < /dev/null
	rc=$?
	lines=$(cat "$out" "$err" | grep -c .)
	if [ $rc -eq 0 ] || [ $rc -eq 124 ] || [ $rc -ge 126 ]; then
		e2e_fail "bad-$name" "exit status $rc: $(head -c 200 "$err")"
	elif grep -aq CAPVM-GUEST-INIT "$out"; then
		e2e_fail "bad-$name" "the guest booted"
	elif [ "$lines" -ne 1 ]; then
		e2e_fail "bad-$name" "wanted a one-line error, got $lines lines: $(head -n 3 "$err" "$out" | tr '\n' '|' | cut -c1-300)"
	else
		e2e_pass "bad-$name"
		echo "info: bad-$name (status $rc): $(cat "$err" "$out")"
	fi
}
cmd=$(e2e_guest_cmdline poweroff)
base=(--initrd "$CAPVM_INITRD" --cmdline "$cmd")
bad missing-kernel --kernel "$E2E_TMP/no-such-kernel" "${base[@]}" --mem 256M
head -c 1048576 /dev/urandom > "$E2E_TMP/not-a-kernel"
bad not-a-kernel --kernel "$E2E_TMP/not-a-kernel" "${base[@]}" --mem 256M
truncate -s 300M "$E2E_TMP/huge-initrd"
bad initrd-too-big --kernel "$CAPVM_KERNEL" --initrd "$E2E_TMP/huge-initrd" --cmdline "$cmd" --mem 256M
bad mem-1M --kernel "$CAPVM_KERNEL" "${base[@]}" --mem 1M
bad mem-100000G --kernel "$CAPVM_KERNEL" "${base[@]}" --mem 100000G
bad cpus-0 --kernel "$CAPVM_KERNEL" "${base[@]}" --mem 256M --cpus 0
bad cpus-9999 --kernel "$CAPVM_KERNEL" "${base[@]}" --mem 256M --cpus 9999
# No /dev/kvm, and a /dev/kvm that is no KVM (here /dev/null in its place),
# in a private mount namespace.
if command -v unshare > /dev/null; then
	CAPVM_REAL=$CAPVM
	CAPVM=$E2E_TMP/capvm-nokvm
	printf '#!/bin/sh\nexec unshare -m sh -c '"'"'mount -t tmpfs none /dev && exec "$0" "$@"'"'"' %s "$@"\n' "$CAPVM_REAL" > "$CAPVM"
	chmod +x "$CAPVM"
	bad no-dev-kvm --kernel "$CAPVM_KERNEL" "${base[@]}" --mem 256M
	printf '#!/bin/sh\nexec unshare -m sh -c '"'"'mount --bind /dev/null /dev/kvm && exec "$0" "$@"'"'"' %s "$@"\n' "$CAPVM_REAL" > "$CAPVM"
	bad dev-kvm-not-kvm --kernel "$CAPVM_KERNEL" "${base[@]}" --mem 256M
	CAPVM=$CAPVM_REAL
else
	e2e_skip bad-no-dev-kvm "no unshare(1) to hide /dev/kvm"
fi
long=$(head -c 102400 /dev/zero | tr '\0' 'x')
bad cmdline-100k --kernel "$CAPVM_KERNEL" --initrd "$CAPVM_INITRD" --cmdline "$long" --mem 256M

[ $E2E_FAILS -eq 0 ]
