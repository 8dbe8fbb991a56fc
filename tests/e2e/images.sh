#!/usr/bin/env bash
# End-to-end checks of the operations commands (issue 6, items 4-7), in one
# test host run:
#   - `capvm image backup` of a VM run by `capvm system up` while its guest
#     keeps writing (guest test "image"), checked by the manifest, a qcow2
#     conversion + `qemu-img check`, and by restoring it into a fresh VM
#     whose guest verifies the pattern it wrote and flushed before;
#   - `capvm image update` to a broken image (the guest refuses it and
#     powers off) rolls back by itself and the VM comes back on the old one;
#   - `capvm debug-bundle` holds the listed parts and no disk contents;
#   - bad inputs: unknown VM, unwritable destination, image in use;
#   - `capvm system install` output passes `systemd-analyze verify`;
#   - `capvm guest-check` verdicts on the Debian kernel config.
. "$(dirname "$0")/lib.sh"
e2e_enter_kvm --timeout 900 -- "$0" "$@"

D=$E2E_TMP
SUP_PID=

stop_supervisor() {
	[ -n "$SUP_PID" ] || return 0
	"$CAPVM" system down --control "$D/ctl.sock" > /dev/null 2>&1
	for ((i = 0; i < 60; i++)); do kill -0 "$SUP_PID" 2>/dev/null || break; sleep 1; done
	kill -0 "$SUP_PID" 2>/dev/null && kill -KILL "$SUP_PID"
	SUP_PID=
}
trap 'stop_supervisor; e2e_cleanup' EXIT

# ---- guest-check and system install need no VM ----
config=$(ls "$CAPVM_SRC"/build/guest/kernel/boot/config-* 2>/dev/null | head -n 1)
if [ -n "$config" ]; then
	out=$("$CAPVM" guest-check --kernel-config "$config"); rc=$?
	E2E_WHY="status $rc"
	e2e_check guest-check-debian-status test "$rc" = 1
	E2E_WHY="$(grep -E 'MODULES|KEXEC=|HIBERNATION|SECCOMP|STRICT_KERNEL_RWX' <<< "$out" | tr -s ' ' | tr '\n' '|')"
	e2e_check guest-check-debian-verdicts bash -c 'grep -q "^NOT-MET  *CONFIG_MODULES=y" <<< "$1" &&
		grep -q "^NOT-MET  *CONFIG_KEXEC=y" <<< "$1" && grep -q "^NOT-MET  *CONFIG_HIBERNATION=y" <<< "$1" &&
		grep -q "^met  *CONFIG_SECCOMP=y" <<< "$1" && grep -q "^met  *CONFIG_STRICT_KERNEL_RWX=y" <<< "$1"' _ "$out"
else
	e2e_skip guest-check-debian "no build/guest/kernel/boot/config-* (make images)"
fi
"$CAPVM" guest-check --kernel-config /dev/null > /dev/null 2>&1; rc=$?
E2E_WHY="status $rc"; e2e_check guest-check-bad-input test "$rc" = 2

# ---- the system: one VM on a good image ----
# disk.img: sector 0 says CAPVM-IMAGE-OK (guest test "image" accepts it);
# broken.img: zeros (the guest refuses it and powers off)
truncate -s 64M "$D/disk.img" "$D/broken.img"
printf 'CAPVM-IMAGE-OK' | dd of="$D/disk.img" conv=notrunc status=none
cat > "$D/images.camkes" <<EOF
assembly {
    composition { component VM vm0; }
    configuration {
        vm0.kernel  = "$CAPVM_VMLINUX";
        vm0.initrd  = "$CAPVM_INITRD";
        vm0.cmdline = "$(e2e_guest_cmdline image)";
        vm0.ram     = 128M;
        vm0.cpus    = 1;
        vm0.disks   = "$D/disk.img";
        vm0.console = "file:$D/vm0.console";
        vm0.monitor = "unix:$D/vm0.hmp";
        vm0.log     = "$D/vm0.log";
        vm0.restart = "always";
        vm0.restart_delay = 1s;
        vm0.restart_burst = 0;
    }
}
EOF

if command -v systemd-analyze > /dev/null; then
	mkdir -p "$D/units"
	out=$("$CAPVM" system install --unit-dir "$D/units" "$D/images.camkes" 2>&1); rc=$?
	unit="$D/units/capvm-images.service"
	E2E_WHY="status $rc: $out"
	e2e_check system-install-writes-unit test "$rc" = 0 -a -f "$unit"
	E2E_WHY="$(grep -E '^(ExecStart|ExecStop|Restart|RestartSec|NoNewPrivileges|ProtectSystem|DeviceAllow)=' "$unit" 2>/dev/null | tr '\n' '|')"
	e2e_check system-install-unit-settings bash -c "grep -q '^ExecStart=.* system up .*images.camkes' '$unit' &&
		grep -q '^ExecStop=.* system down' '$unit' && grep -qx 'Restart=always' '$unit' &&
		grep -qx 'RestartSec=10' '$unit' && grep -qx 'NoNewPrivileges=yes' '$unit' &&
		grep -qx 'DeviceAllow=/dev/kvm rw' '$unit'"
	out=$(systemd-analyze verify "$unit" 2>&1); rc=$?
	E2E_WHY="status $rc: $(echo "$out" | tr '\n' '|' | cut -c1-300)"
	if [ $rc -ne 0 ] && grep -qi "failed to .*connect\|no such file or directory.*bus\|System has not been booted with systemd" <<< "$out"; then
		e2e_skip system-install-systemd-analyze-verify "systemd-analyze cannot run here: $E2E_WHY"
	else
		e2e_check system-install-systemd-analyze-verify test "$rc" = 0
	fi
	out=$("$CAPVM" system install --unit-dir /proc/no-such-dir "$D/images.camkes" 2>&1); rc=$?
	E2E_WHY="status $rc: $out"
	e2e_check system-install-unwritable-dir bash -c "test $rc = 1 && grep -q 'cannot write' <<< '$out'"
else
	e2e_skip system-install "systemd-analyze not installed (Debian package systemd)"
fi

"$CAPVM" system up --control "$D/ctl.sock" --log "$D/sup.log" "$D/images.camkes" > "$D/sup.out" 2>&1 &
SUP_PID=$!
if ! e2e_wait_for "$D/vm0.console" "CAPVM-IMAGE ready" 240; then
	e2e_fail boot "$E2E_WHY; $(tail -n 5 "$D/sup.out" "$D/vm0.console" 2>/dev/null | tr '\n' '|')"
	exit 1
fi
e2e_wait_for "$D/vm0.console" "CAPVM-IMAGE pattern-written" 5
written=$(grep -a "CAPVM-IMAGE pattern-written" "$D/vm0.console" | head -n 1 | awk '{print $3}' | tr -d '\r')
# the guest is now writing continuously; let it get going
e2e_wait_for "$D/vm0.console" "CAPVM-IMAGE writing" 120

# ---- bad inputs ----
out=$("$CAPVM" image backup --control "$D/ctl.sock" no_such_vm "$D/bk-x" 2>&1); rc=$?
E2E_WHY="status $rc: $out"
e2e_check backup-unknown-vm bash -c "test $rc = 1 && grep -q \"unknown VM 'no_such_vm'\" <<< \"\$1\"" _ "$out"
out=$("$CAPVM" image backup --control "$D/ctl.sock" vm0 /proc/no-such-dir/bk 2>&1); rc=$?
E2E_WHY="status $rc: $out"
e2e_check backup-unwritable-dest bash -c "test $rc = 1 && grep -q 'cannot create backup directory' <<< \"\$1\"" _ "$out"
out=$("$CAPVM" image restore "$D/broken.img" "$D/disk.img" 2>&1); rc=$?
E2E_WHY="status $rc: $out"
e2e_check restore-image-in-use bash -c "test $rc = 1 && grep -q 'is in use' <<< \"\$1\"" _ "$out"
out=$("$CAPVM" image update --control "$D/ctl.sock" no_such_vm "$D/broken.img" 2>&1); rc=$?
E2E_WHY="status $rc: $out"
e2e_check update-unknown-vm bash -c "test $rc = 1 && grep -q 'unknown VM' <<< \"\$1\"" _ "$out"
out=$("$CAPVM" debug-bundle --control "$D/ctl.sock" /proc/no-such-dir/b.tar.gz 2>&1); rc=$?
E2E_WHY="status $rc: $out"
e2e_check debug-bundle-unwritable-dest bash -c "test $rc = 1 && grep -q 'cannot write' <<< \"\$1\"" _ "$out"

# ---- backup of the running, writing VM ----
writes_before=$(echo "info counters" | timeout 10 nc -q1 -U "$D/vm0.hmp" | grep -a 'bytes_written' | head -n 1)
out=$("$CAPVM" image backup --control "$D/ctl.sock" vm0 "$D/bk" 2>&1); rc=$?
echo "$out" | sed 's/^/    backup| /'
E2E_WHY="status $rc: $out"
e2e_check backup-running-vm test "$rc" = 0
E2E_WHY="$(ls "$D/bk" 2>&1 | tr '\n' ' ')"
e2e_check backup-manifest bash -c "cd '$D/bk' && sha256sum --quiet -c MANIFEST.sha256"
status=$(echo "info status" | timeout 10 nc -q1 -U "$D/vm0.hmp" | grep -a "VM status")
E2E_WHY="$status"
e2e_check backup-vm-resumed grep -q "running" <<< "$status"
sleep 5
writes_after=$(echo "info counters" | timeout 10 nc -q1 -U "$D/vm0.hmp" | grep -a 'bytes_written' | head -n 1)
E2E_WHY="before '$writes_before' after '$writes_after'"
e2e_check backup-guest-kept-writing test "$writes_before" != "$writes_after"
bkimg=$(ls "$D"/bk/disk0-* 2>/dev/null | head -n 1)
if command -v qemu-img > /dev/null && [ -n "$bkimg" ]; then
	qemu-img convert -f raw -O qcow2 "$bkimg" "$D/bk.qcow2" > "$D/qemu-img.out" 2>&1
	qemu-img check "$D/bk.qcow2" >> "$D/qemu-img.out" 2>&1; rc=$?
	E2E_WHY="status $rc: $(tail -n 3 "$D/qemu-img.out" | tr '\n' '|')"
	e2e_check backup-qemu-img-check test "$rc" = 0
else
	e2e_skip backup-qemu-img-check "no qemu-img or no backup image"
fi

# restore into an image file for a fresh VM, which verifies the pattern
out=$("$CAPVM" image restore "$D/bk" "$D/fresh.img" 2>&1); rc=$?
E2E_WHY="status $rc: $out"
e2e_check restore-to-file test "$rc" = 0
"$CAPVM" run --kernel "$CAPVM_VMLINUX" --initrd "$CAPVM_INITRD" --mem 128M --cpus 1 \
	--cmdline "$(e2e_guest_cmdline image)" --disk "$D/fresh.img" \
	--console "file:$D/fresh.console" > "$D/fresh.log" 2>&1 &
fresh=$!
E2E_PIDS+=("$fresh")
e2e_wait_for "$D/fresh.console" "CAPVM-IMAGE pattern-" 240
line=$(grep -a "CAPVM-IMAGE pattern-" "$D/fresh.console" | head -n 1 | tr -d '\r')
E2E_WHY="fresh VM says '$line', the original wrote $written"
e2e_check restored-data-check bash -c "test -n '$written' && grep -q 'pattern-ok $written' <<< '$line'"
kill "$fresh" 2>/dev/null; wait "$fresh" 2>/dev/null; e2e_forget_pid "$fresh"

# ---- debug bundle while the system runs ----
out=$("$CAPVM" debug-bundle --control "$D/ctl.sock" "$D/bundle.tar.gz" 2>&1); rc=$?
E2E_WHY="status $rc: $out"
e2e_check debug-bundle-written test "$rc" = 0 -a -s "$D/bundle.tar.gz"
list=$(tar tzf "$D/bundle.tar.gz" 2>/dev/null)
missing=
for part in host/uname.txt host/cpuinfo.txt host/meminfo.txt host/kvm.txt host/cgroup.txt \
	capvm-version.txt system-ctl/status.json system-ctl/status.txt system-ctl/health.txt system-ctl/description-0.camkes \
	system-ctl/supervisor.log vm-vm0/monitor.txt vm-vm0/metrics.txt vm-vm0/vm.log vm-vm0/console.log; do
	grep -q "/$part\$" <<< "$list" || missing="$missing $part"
done
E2E_WHY="missing:$missing"
e2e_check debug-bundle-parts test -z "$missing"
mkdir -p "$D/bundle" && tar xzf "$D/bundle.tar.gz" -C "$D/bundle"
E2E_WHY="$(grep -ah "VM status\|block\|virtio" -r "$D/bundle" | grep -a "info\|status" | head -n 3 | tr '\n' '|')"
e2e_check debug-bundle-monitor-info bash -c "grep -rq 'VM status: running' '$D/bundle' && grep -rq 'vm.exits' '$D/bundle'"
E2E_WHY="disk data found in: $(grep -rla 'capvm-disk-data\|capvm-disk-churn' "$D/bundle" | tr '\n' ' ')"
e2e_check debug-bundle-no-disk-contents bash -c "! grep -rqa 'capvm-disk-data\|capvm-disk-churn' '$D/bundle' &&
	! zcat '$D/bundle.tar.gz' | grep -qa 'capvm-disk-data'"
bsize=$(stat -c %s "$D/bundle.tar.gz")
echo "    debug bundle: $bsize bytes, $(wc -l <<< "$list") entries"

# ---- update to a broken image: rolled back by itself ----
ready_before=$(grep -ac "CAPVM-IMAGE ready" "$D/vm0.console")
out=$("$CAPVM" image update --control "$D/ctl.sock" vm0 "$D/broken.img" \
	--ready-marker "CAPVM-IMAGE ready" --boot-timeout 240 --settle 5 2>&1); rc=$?
echo "$out" | sed 's/^/    update| /'
E2E_WHY="status $rc: $(echo "$out" | tail -n 4 | tr '\n' '|')"
e2e_check update-broken-fails test "$rc" = 1
e2e_check update-broken-rolled-back bash -c "grep -q 'rolled back' <<< \"\$1\" &&
	test \"\$(head -c 14 '$D/disk.img')\" = CAPVM-IMAGE-OK && test -f '$D/disk.img.failed'" _ "$out"
E2E_WHY="$(grep -ac 'bad-disk' "$D/vm0.console") bad-disk boots"
e2e_check update-broken-was-booted grep -aq "CAPVM-IMAGE bad-disk" "$D/vm0.console"
E2E_WHY="$(grep -a 'after roll-back' <<< "$out")"
e2e_check update-rollback-healthy bash -c "grep -q 'after roll-back: VM vm0 healthy' <<< \"\$1\"" _ "$out"
E2E_WHY="ready lines before $ready_before, now $(grep -ac 'CAPVM-IMAGE ready' "$D/vm0.console")"
e2e_check update-rollback-data grep -aq "pattern-ok $written" "$D/vm0.console"

# ---- restore the backup into the running VM: boot-tested, kept ----
ok_before=$(grep -ac "pattern-ok $written" "$D/vm0.console")
out=$("$CAPVM" image restore --control "$D/ctl.sock" "$D/bk" vm0 \
	--ready-marker "CAPVM-IMAGE ready" --boot-timeout 240 --settle 5 2>&1); rc=$?
echo "$out" | sed 's/^/    restore| /'
E2E_WHY="status $rc: $(echo "$out" | tail -n 3 | tr '\n' '|')"
e2e_check restore-into-vm-healthy bash -c "test $rc = 0 && grep -q 'boot test: VM vm0 healthy' <<< \"\$1\" &&
	test -f '$D/disk.img.prev'" _ "$out"
E2E_WHY="pattern-ok lines before $ok_before, now $(grep -ac "pattern-ok $written" "$D/vm0.console")"
e2e_check restore-into-vm-data test "$(grep -ac "pattern-ok $written" "$D/vm0.console")" -gt "$ok_before"

stop_supervisor
exit $((E2E_FAILS > 0))
