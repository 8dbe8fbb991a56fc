#!/usr/bin/env bash
# End-to-end checks of device domains in a system description (issue 5,
# item 6), in one test host run:
#  - examples/device-domain.camkes validates; a device domain whose
#    dataport is smaller than its bounce window is refused (status 2,
#    file:line:column) and nothing starts;
#  - system 1 (needs capvm run --disk vhost-user=), in isolated and in
#    shared memory mode: a device domain serves a raw image to one VM
#    through `capvm backend blk`; the guest's blk test writes a 16 MiB
#    pattern and reads it back, the pattern is in the image, the VMM's log
#    names the memory mode, and when the VM powers off the supervisor
#    stops the back-end and exits 0;
#  - system 2 (needs capvm run --net vhost-user=): a net device domain on a
#    tap in a network namespace the test creates; the guest binds
#    virtio_net to the device;
#  - system 3 (the real back-end; the VM is a stand-in process, so this
#    part does not depend on the VMM's front-end): the back-end starts
#    before the VM and its socket accepts; `system status` lists it;
#    kill -9 of the back-end -> restarted by policy, logged, ready again,
#    the VM untouched; `system down` stops the VM first, then the back-end,
#    and leaves no process and no socket behind.
. "$(dirname "$0")/lib.sh"
e2e_enter_kvm --timeout 600 -- "$0" "$@"

W=$E2E_TMP
MIB=1048576
VM_TIMEOUT=${CAPVM_E2E_VM_TIMEOUT:-240}
cd "$CAPVM_SRC" || exit 1
tail_of() { tail -n 4 "$1" 2>/dev/null | tr '\n' '|' | cut -c1-400; }

if [ ! -x "$CAPVM" ]; then
	e2e_fail capvm-binary "$CAPVM does not exist (make all)"
	exit 1
fi

# --- validation
E2E_WHY=$("$CAPVM" system check --quiet examples/device-domain.camkes 2>&1 | head -c 300)
e2e_check example-validates "$CAPVM" system check --quiet examples/device-domain.camkes
cat > "$W/small.camkes" <<EOF
assembly {
 composition {
  component VM vm0; component DeviceDomain disk0;
  connection seL4SharedData win(from disk0.dma, to vm0.vda);
 }
 configuration {
  vm0.kernel = "$CAPVM_KERNEL";
  disk0.blk_image = "null"; disk0.bounce_window = 64M;
  win.size = 2M;
 }
}
EOF
"$CAPVM" system up --control "$W/small.sock" --runtime-dir "$W/small" "$W/small.camkes" \
	> "$W/small.out" 2>&1
rc=$?
if [ $rc = 2 ] && grep -q "small.camkes:9:14: error: dataport 'win' (2048 KiB) is too small for the bounce window of disk0" "$W/small.out" &&
   grep -q "nothing started" "$W/small.out" && [ ! -e "$W/small.sock" ] && [ ! -e "$W/small" ]; then
	e2e_pass window-too-small-refused
else
	e2e_fail window-too-small-refused "status $rc: $(head -c 300 "$W/small.out")"
fi

# --- system 1: the guest's blk test on a disk served by a device domain,
# in isolated mode (bounce window) and in shared mode (guest RAM)
blk_system() { # MODE
	local m=$1 src written readback host_sum
	rm -f "$W/disk.img" "$W/vm0.con"
	fallocate -l $((64 * MIB)) "$W/disk.img" 2>/dev/null || truncate -s $((64 * MIB)) "$W/disk.img"
	cat > "$W/blk-$m.camkes" <<EOF
assembly {
 composition {
  component VM vm0; component DeviceDomain disk0;
  connection seL4SharedData win(from disk0.dma, to vm0.vda);
 }
 configuration {
  disk0.blk_image = "$W/disk.img"; disk0.memory = "$m"; disk0.bounce_window = 32M;
  disk0.restart = "on-failure";
  vm0.kernel = "$CAPVM_KERNEL"; vm0.initrd = "$CAPVM_INITRD"; vm0.ram = 256M;
  vm0.cmdline = "$(e2e_guest_cmdline blk)";
  vm0.console = "file:$W/vm0.con";
 }
}
EOF
	"$CAPVM" system up --control "$W/blk.sock" --runtime-dir "$W/run1" --log "$W/blk-$m.log" \
		"$W/blk-$m.camkes" > "$W/blk-$m.err" 2>&1 &
	SUP=$!
	E2E_PIDS+=("$SUP")
	for _ in $(seq $((VM_TIMEOUT * 5))); do kill -0 "$SUP" 2>/dev/null || break; sleep 0.2; done
	if kill -0 "$SUP" 2>/dev/null; then
		e2e_fail "blk-$m-system-ends" "the supervisor still runs after $VM_TIMEOUT s: $(tail_of "$W/blk-$m.log")"
		"$CAPVM" system down --control "$W/blk.sock" > /dev/null 2>&1
	fi
	wait "$SUP"; src=$?
	e2e_forget_pid "$SUP"
	cp "$W/vm0.con" "$CAPVM_OUT/system-devdomain-$m-vm0.console.log" 2>/dev/null
	cp "$W/blk-$m.log" "$CAPVM_OUT/system-devdomain-blk-$m.log" 2>/dev/null
	cp "$W/blk-$m.err" "$CAPVM_OUT/system-devdomain-blk-$m.err" 2>/dev/null
	grep -a "^CAPVM-BLK" "$W/vm0.con" | sed "s/^/    guest $m| /"
	written=$(sed -n 's/^CAPVM-BLK written \([0-9a-f]*\).*/\1/p' "$W/vm0.con" | head -n1)
	readback=$(sed -n 's/^CAPVM-BLK readback \([0-9a-f]*\).*/\1/p' "$W/vm0.con" | head -n1)
	E2E_WHY="console: $(tail_of "$W/vm0.con") log: $(tail_of "$W/blk-$m.log")"
	e2e_check "blk-$m-guest-sees-disk" grep -aq "^CAPVM-BLK size 131072" "$W/vm0.con"
	if grep -aq "^CAPVM-BLK pattern-ok" "$W/vm0.con" && [ "$written" = "$want_sum" ] &&
	   [ "$readback" = "$want_sum" ]; then
		e2e_pass "blk-$m-pattern-readback"
	else
		e2e_fail "blk-$m-pattern-readback" "wanted $want_sum, guest wrote '$written', read back '$readback'; $E2E_WHY"
	fi
	host_sum=$(dd if="$W/disk.img" bs=$MIB skip=1 count=16 2>/dev/null | md5sum | cut -d' ' -f1)
	if [ "$host_sum" = "$want_sum" ]; then
		e2e_pass "blk-$m-data-in-image"
	else
		e2e_fail "blk-$m-data-in-image" "image bytes 1..17 MiB have md5 $host_sum, wanted $want_sum"
	fi
	E2E_WHY=$(grep -a "vm0 blk0: vhost-user back-end" "$W/blk-$m.log" | tail -n1)
	e2e_check "blk-$m-memory-mode" grep -aq "vm0 blk0: vhost-user back-end .* running ($m memory" "$W/blk-$m.log"
	if [ "$src" = 0 ] && grep -q "disk0 supervisor: no VM uses it any more: SIGTERM" "$W/blk-$m.log"; then
		e2e_pass "blk-$m-system-ends"
	else
		e2e_fail "blk-$m-system-ends" "supervisor status $src: $(tail_of "$W/blk-$m.log")"
	fi
}
if "$CAPVM" run --help 2>&1 | grep -q 'vhost-user='; then
	want_sum=$(yes "capvm-pattern-0123456789" | head -c $((16 * MIB)) | md5sum | cut -d' ' -f1)
	blk_system isolated
	blk_system shared
else
	e2e_skip devdomain-blk-guest "capvm run has no --disk vhost-user= (the VMM's vhost-user front-end is not built yet)"
fi

# --- system 2: a net device domain on a tap inside a network namespace this
# test creates (the whole system runs in it); the guest's info test lists
# its virtio devices, and the virtio-net one must be bound to virtio_net
NS=capvmtest-ddnet
TAP=ddtap0
if ! "$CAPVM" run --help 2>&1 | grep -q -- '--net vhost-user='; then
	e2e_skip net-devdomain "capvm run has no --net vhost-user="
elif ! command -v ip > /dev/null; then
	e2e_skip net-devdomain "ip (iproute2) is not installed"
else
	trap 'e2e_cleanup; ip netns del "$NS" 2>/dev/null' EXIT
	ip netns del "$NS" 2>/dev/null
	if ip netns add "$NS" && ip netns exec "$NS" ip tuntap add dev "$TAP" mode tap &&
	   ip netns exec "$NS" ip addr add 10.78.0.1/24 dev "$TAP" &&
	   ip netns exec "$NS" ip link set "$TAP" up; then
		cat > "$W/net.camkes" <<EOF
assembly {
 composition {
  component VM vm0; component DeviceDomain net0;
  connection seL4SharedData nwin(from vm0.eth0, to net0.dma);
 }
 configuration {
  net0.net_tap = "$TAP,mac=52:54:00:12:34:99"; net0.bounce_window = 32M;
  vm0.kernel = "$CAPVM_KERNEL"; vm0.initrd = "$CAPVM_INITRD"; vm0.ram = 256M;
  vm0.cmdline = "$(e2e_guest_cmdline info)";
  vm0.console = "file:$W/net.con";
 }
}
EOF
		ip netns exec "$NS" timeout -k 5 "$VM_TIMEOUT" "$CAPVM" system up --control "$W/net.sock" \
			--runtime-dir "$W/run3" --log "$W/net.log" "$W/net.camkes" > "$W/net.err" 2>&1
		src=$?
		cp "$W/net.con" "$CAPVM_OUT/system-devdomain-net-vm0.console.log" 2>/dev/null
		cp "$W/net.log" "$CAPVM_OUT/system-devdomain-net.log" 2>/dev/null
		cp "$W/net.err" "$CAPVM_OUT/system-devdomain-net.err" 2>/dev/null
		grep -a "^CAPVM-INFO virtio" "$W/net.con" | sed 's/^/    guest net| /'
		if [ "$src" = 0 ] && grep -aq "^CAPVM-INFO virtio .* device-id=0x0001 driver=virtio_net" "$W/net.con" &&
		   grep -q "net0 supervisor: ready: " "$W/net.log" &&
		   grep -q "net0 supervisor: no VM uses it any more: SIGTERM" "$W/net.log"; then
			e2e_pass net-devdomain-guest-binds-virtio-net
		else
			e2e_fail net-devdomain-guest-binds-virtio-net "supervisor status $src; console: $(tail_of "$W/net.con") log: $(tail_of "$W/net.log")"
		fi
	else
		e2e_fail net-devdomain-setup "cannot create namespace $NS with tap $TAP"
	fi
	ip netns del "$NS" 2>/dev/null
fi

# --- system 3: start order, status, restart after kill -9, down order
cat > "$W/vmm.sh" <<EOF
#!/bin/sh
# stand-in for the VM's capvm run; back-ends run the real capvm
if [ "\$1" = run ]; then
	echo "\$\$ \$*" >> "$W/vm.starts"
	trap 'echo "\$(date +%s.%N) TERM" >> "$W/vm.term"; exit 0' TERM
	while :; do sleep 0.2; done
fi
exec "$CAPVM" "\$@"
EOF
chmod +x "$W/vmm.sh"
cat > "$W/sys.camkes" <<EOF
assembly {
 composition {
  component VM vm0; component DeviceDomain disk0;
  connection seL4SharedData win(from disk0.dma, to vm0.vda);
 }
 configuration {
  disk0.blk_image = "$W/disk2.img"; disk0.bounce_window = 64M;
  disk0.restart = "always"; disk0.restart_delay = 500ms; disk0._priority = 150;
  vm0.kernel = "$CAPVM_KERNEL"; vm0.console = "none";
 }
}
EOF
truncate -s $((64 * MIB)) "$W/disk2.img"
CAPVM_SYSTEM_VMM="$W/vmm.sh" "$CAPVM" system up --control "$W/ctl.sock" --runtime-dir "$W/run2" \
	--log "$W/sup.log" --stop-timeout 20 "$W/sys.camkes" > "$W/sup.err" 2>&1 &
SUP=$!
E2E_PIDS+=("$SUP")
status() { "$CAPVM" system status --control "$W/ctl.sock" 2>/dev/null; }
field() { status | awk -v n="$1" -v f="$2" '$1 == n { print $f }'; }   # NAME COLUMN
e2e_wait_for "$W/vm.starts" "run --name vm0" 60
DD1=$(field disk0 4)
E2E_WHY="$(status | tr '\n' '|') $(tail_of "$W/sup.log")"
l_ready=$(grep -n "disk0 supervisor: ready: $W/run2/disk0.sock accepts" "$W/sup.log" | head -n1 | cut -d: -f1)
l_vmstart=$(grep -n "vm0 supervisor: started VM" "$W/sup.log" | head -n1 | cut -d: -f1)
l_ddstart=$(grep -n "disk0 supervisor: started DeviceDomain" "$W/sup.log" | head -n1 | cut -d: -f1)
if [ -n "$DD1" ] && [ "$DD1" != 0 ] && [ -n "$l_ready" ] && [ -n "$l_vmstart" ] &&
   [ "${l_ddstart:-99999}" -lt "$l_ready" ] && [ "$l_ready" -lt "$l_vmstart" ]; then
	e2e_pass backend-ready-before-vm
else
	e2e_fail backend-ready-before-vm "$E2E_WHY"
fi
# the VM's device: a vhost-user disk on the back-end's socket, isolated, bounce 64M
e2e_check vm-gets-vhost-user-disk grep -q -- "--disk vhost-user=$W/run2/disk0.sock,mem=isolated,bounce=64M" "$W/vm.starts"
status > "$W/status.1"
cp "$W/status.1" "$CAPVM_OUT/system-devdomain-status.txt" 2>/dev/null
sed 's/^/    status| /' "$W/status.1"
E2E_WHY=$(tr '\n' '|' < "$W/status.1")
e2e_check status-lists-device-domain grep -Eq '^disk0 +DeviceDomain +running +[1-9]' "$W/status.1"
if "$CAPVM" system status --json --control "$W/ctl.sock" | grep -q "\"socket\":\"$W/run2/disk0.sock\",\"serves\":\"vm0\""; then
	e2e_pass status-json-socket
else
	e2e_fail status-json-socket "$("$CAPVM" system status --json --control "$W/ctl.sock" | head -c 300)"
fi
# the back-end process really runs capvm backend blk on that socket
if tr '\0' ' ' < "/proc/$DD1/cmdline" 2>/dev/null | grep -q "backend blk --socket $W/run2/disk0.sock --image $W/disk2.img"; then
	e2e_pass backend-command-line
else
	e2e_fail backend-command-line "pid $DD1: $(tr '\0' ' ' < "/proc/$DD1/cmdline" 2>/dev/null)"
fi

# kill -9 of the back-end: restarted by its policy, logged, ready again
VM1=$(field vm0 4)
kill -KILL "$DD1"
DD2=
for _ in $(seq 150); do
	DD2=$(field disk0 4); st=$(field disk0 3)
	[ -n "$DD2" ] && [ "$DD2" != 0 ] && [ "$DD2" != "$DD1" ] && [ "$st" = running ] && break
	sleep 0.2
done
E2E_WHY="pid $DD1 -> ${DD2:-none} ($st): $(grep ' disk0 supervisor' "$W/sup.log" | tail -3 | tr '\n' '|')"
if [ -n "$DD2" ] && [ "$DD2" != 0 ] && [ "$DD2" != "$DD1" ] && [ "$st" = running ] &&
   grep -q "disk0 supervisor: killed by signal 9 (Killed); restarting in 500ms (restart 1, policy always)" "$W/sup.log" &&
   [ "$(grep -c "disk0 supervisor: ready: " "$W/sup.log")" = 2 ]; then
	e2e_pass backend-restarted-after-kill
else
	e2e_fail backend-restarted-after-kill "$E2E_WHY"
fi
if [ "$(field vm0 4)" = "$VM1" ] && kill -0 "$VM1" 2>/dev/null && [ "$(wc -l < "$W/vm.starts")" = 1 ]; then
	e2e_pass vm-untouched-by-backend-restart
else
	e2e_fail vm-untouched-by-backend-restart "vm0 pid $VM1 -> $(field vm0 4)"
fi
status > "$W/status.2"
E2E_WHY=$(tr '\n' '|' < "$W/status.2")
e2e_check status-shows-restart grep -Eq '^disk0 +DeviceDomain +running +[0-9]+ +[0-9:]+ +1 +killed by signal 9' "$W/status.2"

# down: the VM first, then the back-end; nothing left behind
"$CAPVM" system down --control "$W/ctl.sock" > "$W/down.out" 2>&1
for _ in $(seq 150); do kill -0 "$SUP" 2>/dev/null || break; sleep 0.2; done
wait "$SUP"; src=$?
e2e_forget_pid "$SUP"
cp "$W/sup.log" "$CAPVM_OUT/system-devdomain-supervisor.log" 2>/dev/null
l_vm=$(grep -n "vm0 supervisor: stopped:" "$W/sup.log" | head -n1 | cut -d: -f1)
l_dd=$(grep -n "disk0 supervisor: no VM uses it any more: SIGTERM" "$W/sup.log" | head -n1 | cut -d: -f1)
l_ddst=$(grep -n "disk0 supervisor: stopped:" "$W/sup.log" | head -n1 | cut -d: -f1)
if [ "$src" = 0 ] && [ -n "$l_vm" ] && [ -n "$l_dd" ] && [ -n "$l_ddst" ] && [ "$l_vm" -lt "$l_dd" ] &&
   [ -s "$W/vm.term" ]; then
	e2e_pass down-stops-vm-then-backend
else
	e2e_fail down-stops-vm-then-backend "status $src, lines vm=$l_vm dd=$l_dd/$l_ddst: $(tail_of "$W/sup.log")"
fi
left=$(pgrep -f "$W/run2/disk0.sock" | tr '\n' ' ')
if [ -z "$left" ] && [ ! -e "$W/run2/disk0.sock" ] && ! kill -0 "$DD2" 2>/dev/null; then
	e2e_pass down-leaves-nothing
else
	e2e_fail down-leaves-nothing "processes: '$left'; socket: $(ls -l "$W/run2" 2>&1 | tr '\n' '|')"
fi
[ "$E2E_FAILS" = 0 ]
