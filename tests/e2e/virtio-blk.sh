#!/usr/bin/env bash
# End-to-end checks of virtio-blk and virtio-rng with the guest's own drivers
# (issue 3), and of the hostile-guest program (guest/hostile/):
#   - a pattern written to /dev/vda and read back after a guest page-cache
#     drop has the same checksum; the data written and flushed in the guest
#     is in the host image file (checked after the guest powered off); the
#     serial is the one given; a read-only disk refuses writes and its image
#     is unchanged; a discard shrinks the image's allocated blocks;
#   - a second capvm opening an image in use is refused with a clear error
#     naming the image;
#   - the monitor's block_resize grows a disk while the guest runs: the
#     guest's driver sees the new capacity and reads the new last sector;
#     shrinking is refused;
#   - the hostile guest: every attack on an unbound virtio-blk device ends in
#     DEVICE_NEEDS_RESET (or IOERR for a bad request) and the device works
#     again after a reset; capvm keeps running and the guest powers off with
#     status 0; /dev/vda and /dev/hwrng still work; capvm logged each
#     needs-reset event once, for the attacked device only.
# All checks run in ONE test host boot (see tests/e2e/lib.sh).
. "$(dirname "$0")/lib.sh"
e2e_enter_kvm --timeout 480 -- "$0" "$@"

VM_TIMEOUT=${CAPVM_E2E_VM_TIMEOUT:-90}
MEM=256M
T=$E2E_TMP
MIB=1048576

if [ ! -x "$CAPVM" ]; then
	e2e_fail capvm-binary "$CAPVM does not exist (make all)"
	exit 1
fi

# run_vm NAME TEST EXTRA-CMDLINE CAPVM-ARGS...: one capvm run of guest test
# TEST; console in $T/NAME.con, capvm's own output in $T/NAME.log (both kept
# in $CAPVM_OUT).  Sets RC.
run_vm() {
	local name=$1 test=$2 extra=$3; shift 3
	e2e_run "$T/$name.log" "$VM_TIMEOUT" "$CAPVM" run --kernel "$CAPVM_VMLINUX" \
		--initrd "$CAPVM_INITRD" --mem "$MEM" \
		--cmdline "$(e2e_guest_cmdline "$test")${extra:+ $extra}" \
		--console "file:$T/$name.con" "$@"
	RC=$?
	touch "$T/$name.con"
	cp "$T/$name.con" "$CAPVM_OUT/$name.console.log"
	cp "$T/$name.log" "$CAPVM_OUT/$name.capvm.log"
}
# con NAME PATTERN: the console of run NAME has a line matching PATTERN.
con() { grep -aq -- "$2" "$T/$1.con"; }
tail_of() { tail -n 3 "$1" | tr '\n' '|' | cut -c1-300; }
status_ok() {
	[ "$RC" -eq 0 ] && return 0
	E2E_WHY="capvm exit status $RC: $(tail_of "$T/$1.log") console: $(tail_of "$T/$1.con")"
	return 1
}

# ---------------------------------------------------------------- block
# disk.img is fully allocated (so a discard has something to free); ro.img
# holds random bytes whose checksum must not change.
# (fallocate is much faster than writing zeros under the test host's TCG)
fallocate -l $((64 * MIB)) "$T/disk.img" 2>/dev/null || head -c $((64 * MIB)) /dev/zero > "$T/disk.img"
head -c $((4 * MIB)) /dev/urandom > "$T/ro.img"
ro_sum=$(md5sum < "$T/ro.img")
blocks_before=$(stat -c %b "$T/disk.img")
block_unit=$(stat -c %B "$T/disk.img")
want_sum=$(yes "capvm-pattern-0123456789" | head -c $((16 * MIB)) | md5sum | cut -d' ' -f1)

run_vm blk blk "" --disk "$T/disk.img,serial=SER123,discard=on" --disk "$T/ro.img,ro"
e2e_check blk-guest-runs status_ok blk
e2e_check blk-serial con blk "^CAPVM-BLK serial SER123"
written=$(sed -n 's/^CAPVM-BLK written \([0-9a-f]*\).*/\1/p' "$T/blk.con" | head -n1)
readback=$(sed -n 's/^CAPVM-BLK readback \([0-9a-f]*\).*/\1/p' "$T/blk.con" | head -n1)
if con blk "^CAPVM-BLK pattern-ok" && [ "$written" = "$want_sum" ] && [ "$readback" = "$want_sum" ]; then
	e2e_pass pattern-readback-after-cache-drop
	echo "info: pattern md5 written $written, read back after drop_caches $readback"
else
	e2e_fail pattern-readback-after-cache-drop "wanted $want_sum, guest wrote '$written', read back '$readback'"
fi
host_sum=$(dd if="$T/disk.img" bs=$MIB skip=1 count=16 2>/dev/null | md5sum | cut -d' ' -f1)
if [ "$host_sum" = "$want_sum" ]; then
	e2e_pass flushed-data-in-host-image
else
	e2e_fail flushed-data-in-host-image "host image bytes 1..17 MiB have md5 $host_sum, wanted $want_sum"
fi
if con blk "^CAPVM-BLK vdb-ro 1" && con blk "^CAPVM-BLK vdb-write-refused" &&
   [ "$(md5sum < "$T/ro.img")" = "$ro_sum" ]; then
	e2e_pass readonly-disk-refuses-writes
else
	e2e_fail readonly-disk-refuses-writes "$(grep -a '^CAPVM-BLK vdb' "$T/blk.con" | tr '\n' '|'); image changed: $([ "$(md5sum < "$T/ro.img")" = "$ro_sum" ] && echo no || echo yes)"
fi
blocks_after=$(stat -c %b "$T/disk.img")
freed=$(( (blocks_before - blocks_after) * block_unit ))
echo "info: disk.img allocated $((blocks_before * block_unit / 1024)) KiB before, $((blocks_after * block_unit / 1024)) KiB after the guest discarded its last 32 MiB"
if con blk "^CAPVM-BLK discard-ok" && [ "$freed" -ge $((28 * MIB)) ]; then
	e2e_pass discard-shrinks-image
else
	e2e_fail discard-shrinks-image "discard-ok in console: $(con blk '^CAPVM-BLK discard-ok' && echo yes || echo no), freed $freed bytes (wanted >= 28 MiB)"
fi

# -------------------------------------------------------------- resize
# The guest waits for its disk to grow; the monitor's block_resize grows
# the 16 MiB image to 24 MiB (after refusing to shrink it): the guest's driver sees the new capacity
# (configuration change interrupt) and reads the new last sector.
truncate -s $((16 * MIB)) "$T/resize.img"
"$CAPVM" run --kernel "$CAPVM_VMLINUX" --initrd "$CAPVM_INITRD" --mem "$MEM" \
	--cmdline "$(e2e_guest_cmdline resize)" --console "file:$T/resize.con" \
	--disk "$T/resize.img" --monitor "unix:$T/resize.hmp" > "$T/resize.log" 2>&1 < /dev/null &
resize_vm=$!
E2E_PIDS+=("$resize_vm")
if e2e_wait_for "$T/resize.con" "^CAPVM-RESIZE size 32768" "$VM_TIMEOUT"; then
	refused=$(echo "block_resize virtio0 8M" | timeout 10 nc -q1 -U "$T/resize.hmp" 2>&1)
	out=$(echo "block_resize virtio0 24M" | timeout 10 nc -q1 -U "$T/resize.hmp" 2>&1)
	e2e_wait_for "$T/resize.con" "^CAPVM-RESIZE last-sector" 60
fi
wait "$resize_vm"
RC=$?
cp "$T/resize.con" "$CAPVM_OUT/resize.console.log" 2>/dev/null
cp "$T/resize.log" "$CAPVM_OUT/resize.capvm.log"
E2E_WHY="status $RC, monitor said '$(tr '\r\n' '  ' <<< "${out:-}")', console: $(grep -a CAPVM-RESIZE "$T/resize.con" | tr '\n' '|')"
e2e_check resize-guest-sees-new-capacity con resize "^CAPVM-RESIZE new-size 49152"
e2e_check resize-kernel-logs-capacity-change con resize "^CAPVM-RESIZE kernel-noticed"
e2e_check resize-new-last-sector-reads con resize "^CAPVM-RESIZE last-sector-ok"
e2e_check resize-image-grown [ "$(stat -c %s "$T/resize.img")" -eq $((24 * MIB)) ]
E2E_WHY="monitor said '$(tr '\r\n' '  ' <<< "${refused:-}")'"
e2e_check resize-shrink-refused grep -q "Error: shrinking" <<< "${refused:-}"
e2e_check resize-guest-exits-cleanly [ "$RC" -eq 0 ]

# ------------------------------------------------------- second opener
# capvm #1 holds lock.img while its guest pauses; capvm #2 must be refused.
truncate -s $((16 * MIB)) "$T/lock.img"
"$CAPVM" run --kernel "$CAPVM_VMLINUX" --initrd "$CAPVM_INITRD" --mem "$MEM" \
	--cmdline "$(e2e_guest_cmdline pause) capvm.pause=120" --console "file:$T/first.con" \
	--disk "$T/lock.img" > "$T/first.log" 2>&1 < /dev/null &
first=$!
E2E_PIDS+=("$first")
for _ in $(seq 1 60); do
	grep -q "blk0: .*lock.img" "$T/first.log" 2>/dev/null && break
	kill -0 "$first" 2>/dev/null || break
	sleep 0.5
done
# second NAME SPEC: capvm #2 with disk SPEC must fail at once, naming the image.
second() {
	local name=$1 spec=$2 rc
	timeout -k 5 60 "$CAPVM" run --kernel "$CAPVM_VMLINUX" --initrd "$CAPVM_INITRD" \
		--mem "$MEM" --cmdline "$(e2e_guest_cmdline poweroff)" --console none \
		--disk "$spec" > "$T/$name.out" 2>&1 < /dev/null
	rc=$?
	cp "$T/$name.out" "$CAPVM_OUT/$name.capvm.log"
	if ! kill -0 "$first" 2>/dev/null; then
		e2e_fail "$name" "capvm #1 is not running: $(tail_of "$T/first.log")"
	elif [ $rc -eq 0 ] || [ $rc -eq 124 ] || [ $rc -ge 126 ]; then
		e2e_fail "$name" "capvm #2 exited with status $rc: $(tail_of "$T/$name.out")"
	elif ! grep -q "lock.img" "$T/$name.out"; then
		e2e_fail "$name" "the error does not name the image: $(tail_of "$T/$name.out")"
	else
		e2e_pass "$name"
		echo "info: $name (status $rc): $(grep -m1 lock.img "$T/$name.out")"
	fi
}
second second-opener-refused "$T/lock.img"
second second-opener-ro-refused "$T/lock.img,ro"
kill -TERM "$first" 2>/dev/null
for _ in $(seq 1 20); do kill -0 "$first" 2>/dev/null || break; sleep 0.5; done
kill -KILL "$first" 2>/dev/null
wait "$first" 2>/dev/null
cp "$T/first.log" "$CAPVM_OUT/first.capvm.log"

# ------------------------------------------------------- hostile guest
# disk 0: the guest's own /dev/vda; disk 1: the victim, unbound in the guest
# and attacked through /dev/mem; rng.  The guest reserves 2 MiB at 128 MiB
# for the attacker's rings (memmap=) and relaxes /dev/mem's I/O checks.
truncate -s $((32 * MIB)) "$T/data.img"
truncate -s $((16 * MIB)) "$T/victim.img"
printf 'capvm-hostile-victim sector 0' | dd of="$T/victim.img" conv=notrunc 2>/dev/null
run_vm hostile hostile 'memmap=2M$0x8000000 iomem=relaxed' \
	--disk "$T/data.img,serial=capvm-data" --disk "$T/victim.img,serial=hostile-victim" --rng

hostile_bin=$CAPVM_SRC/build/guest/capvm-hostile
# (no process substitution: the test host has no /dev/fd)
attacks=($("$hostile_bin" --list 2>/dev/null))
if [ ${#attacks[@]} -eq 0 ]; then
	e2e_fail hostile-attack-list "cannot list the attacks with $hostile_bin --list"
fi
e2e_check hostile-baseline con hostile "^CAPVM-HOSTILE baseline ok"
# One pass over the console (forks are slow under TCG): result[attack]=rest.
declare -A result
while IFS= read -r line; do
	line=${line%$'\r'}
	case $line in "CAPVM-HOSTILE "*) ;; *) continue ;; esac
	line=${line#CAPVM-HOSTILE }
	[ -z "${result[${line%% *}]+set}" ] && result[${line%% *}]=${line#* }
done < "$T/hostile.con"
for a in "${attacks[@]}"; do
	case ${result[$a]-} in
	ok) e2e_pass "hostile-$a" ;;
	'') e2e_fail "hostile-$a" "no result line (program status: $(sed -n 's/^CAPVM-HOSTILE-OTHER program-status //p' "$T/hostile.con"))" ;;
	*) e2e_fail "hostile-$a" "${result[$a]}" ;;
	esac
done
done_line=$(grep -a -m1 "^CAPVM-HOSTILE done " "$T/hostile.con" | tr -d '\r')
echo "info: ${done_line:-no CAPVM-HOSTILE done line}"
# capvm survived: the guest went on to check its other devices and powered
# off normally (exit status 0).
if status_ok hostile && con hostile "^CAPVM-HOSTILE-OTHER program-status 0"; then
	e2e_pass hostile-capvm-still-running
else
	e2e_fail hostile-capvm-still-running "${E2E_WHY:-the program did not finish with status 0}"
fi
E2E_WHY=
e2e_check hostile-other-disk-works con hostile "^CAPVM-HOSTILE-OTHER vda-ok"
e2e_check hwrng-yields-bytes con hostile "^CAPVM-HOSTILE-OTHER hwrng-ok"
# The VMM logged each needs-reset once, naming the attacked device (blk1),
# and no other device needed a reset.
want=$(sed -n 's/.*needs_reset=\([0-9]*\).*/\1/p' <<< "$done_line")
got=$(grep -c "blk1: guest driver broke the virtio protocol, device needs reset" "$T/hostile.log")
others=$(grep "device needs reset" "$T/hostile.log" | grep -vc "blk1: ")
if [ -n "$want" ] && [ "$want" -gt 0 ] && [ "$got" -eq "$want" ] && [ "$others" -eq 0 ]; then
	e2e_pass hostile-needs-reset-logged
	echo "info: capvm logged $got needs-reset events for blk1, e.g.: $(grep -m1 'device needs reset' "$T/hostile.log" | sed 's/.*needs reset: //')"
else
	e2e_fail hostile-needs-reset-logged "guest saw ${want:-?} needs-reset events, capvm logged $got for blk1 and $others for other devices"
fi

[ $E2E_FAILS -eq 0 ]
