#!/usr/bin/env bash
# End-to-end checks of `capvm system` (issue 4), in one test host run:
#  - the examples validate; a VM over its budget is refused (status 2) and
#    nothing starts;
#  - `system up` boots three VMs, each its own capvm process;
#  - a pattern written by VM a into the dataport a<->b is read by VM b at
#    b's own address; VM c, not named on the connection, does not see it;
#  - the vCPU threads are pinned and prioritised as described (/proc);
#  - VM c killed from outside is restarted by policy, and that is logged;
#  - `system down` powers the guests off through their monitors.
# The guests run the "shell" guest test; a small Python driver types into
# their serial consoles (unix sockets).
. "$(dirname "$0")/lib.sh"
e2e_enter_kvm --timeout 540 -- "$0" "$@"

W=$E2E_TMP
cd "$CAPVM_SRC" || exit 1

# --- validation
for f in examples/*.camkes; do
	if "$CAPVM" system check --quiet "$f" > "$W/check.out" 2>&1; then
		e2e_pass "check-$(basename "$f" .camkes)"
	else
		e2e_fail "check-$(basename "$f" .camkes)" "$(head -c 300 "$W/check.out")"
	fi
done
cat > "$W/over.camkes" <<EOF
assembly {
 composition { component VM big; }
 configuration {
  big.kernel = "$CAPVM_KERNEL"; big.ram = 512M;
  big.simple_untyped24_pool = 16;
 }
}
EOF
"$CAPVM" system up --control "$W/over.sock" "$W/over.camkes" > "$W/over.out" 2>&1
rc=$?
if [ $rc = 2 ] && grep -q "over.camkes:5:.*big needs 544 MiB.*allows 256 MiB" "$W/over.out" &&
   grep -q "nothing started" "$W/over.out" && [ ! -e "$W/over.sock" ]; then
	e2e_pass over-budget-refused
else
	e2e_fail over-budget-refused "status $rc: $(head -c 300 "$W/over.out")"
fi

# --- three VMs, a dataport between a and b
cat > "$W/sys.camkes" <<EOF
assembly {
 composition {
  component VM a; component VM b; component VM c;
  connection seL4SharedData dp(from a.win, to b.win);
 }
 configuration {
  a.kernel = "$CAPVM_KERNEL"; b.kernel = "$CAPVM_KERNEL"; c.kernel = "$CAPVM_KERNEL";
  a.initrd = "$CAPVM_INITRD"; b.initrd = "$CAPVM_INITRD"; c.initrd = "$CAPVM_INITRD";
  a.ram = 128M; b.ram = 128M; c.ram = 128M;
  a.cmdline = "console=ttyS0 quiet panic=-1 capvm.test=shell";
  b.cmdline = "console=ttyS0 quiet panic=-1 capvm.test=shell";
  c.cmdline = "console=ttyS0 quiet panic=-1 capvm.test=shell";
  a.console = "unix:$W/a.con"; b.console = "unix:$W/b.con"; c.console = "unix:$W/c.con";
  a.monitor = "unix:$W/a.mon"; b.monitor = "unix:$W/b.mon,mode=qmp"; c.monitor = "unix:$W/c.mon";
  dp.size = 2M; a.win_paddr = 0xc0000000; b.win_paddr = 0xc0200000;
  a._affinity = 0; a._priority = 200; b._priority = 50;
  a.simple_untyped24_pool = 12;
  c.restart = "on-failure"; c.restart_delay = 1s;
 }
}
EOF
"$CAPVM" system up --control "$W/ctl.sock" --stop-timeout 60 --log "$W/sup.log" \
	"$W/sys.camkes" 2> "$W/sup.err" &
SUP=$!
E2E_PIDS+=("$SUP")
for _ in $(seq 50); do [ -S "$W/ctl.sock" ] && break; sleep 0.2; done

vm_pid() { "$CAPVM" system status --control "$W/ctl.sock" | awk -v n="$1" '$1 == n { print $4 }'; }

# The console driver: waits for each guest's shell, then runs the commands.
cat > "$W/drive.py" <<'EOF'
import socket, sys, time
W, step = sys.argv[1], sys.argv[2]
def connect(name):
    s = socket.socket(socket.AF_UNIX)
    for _ in range(300):
        try:
            s.connect(f"{W}/{name}.con")
            s.settimeout(0.5)
            return s
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"no console {name}")
def run(s, cmd, wait):
    # The marker is computed by the shell, so the echo of the typed line
    # (which the terminal may redraw) never contains it.
    n = int(time.time() * 1000) % 1000000
    mark = f"DONE{n + 1}X".encode()
    s.sendall(f"{cmd}; echo DONE$(({n}+1))X\n".encode())
    out, t = b"", time.time()
    while time.time() - t < wait:
        try:
            d = s.recv(4096)
        except socket.timeout:
            continue
        if not d:
            break
        out += d
        if mark in out:
            return "|".join(l.strip() for l in out.decode(errors="replace").splitlines())
    return None
def ready(s, total=300):
    t = time.time()
    while time.time() - t < total:
        if run(s, "true", 5) is not None:
            return True
    return False
if step == "dataport":
    a, b, c = connect("a"), connect("b"), connect("c")
    for n, s in (("a", a), ("b", b), ("c", c)):
        print(f"ready {n} {ready(s)}")
    print("a:", run(a, "devmem 0xc0000000 32 0xCAFEF00D; devmem 0xc0000000 32", 30))
    print("b:", run(b, "devmem 0xc0200000 32", 30))
    print("c:", run(c, "devmem 0xc0000000 32; devmem 0xc0200000 32", 30))
elif step == "ready":
    print(f"ready {sys.argv[3]} {ready(connect(sys.argv[3]))}")
EOF

python3 "$W/drive.py" "$W" dataport > "$W/dp.out" 2>&1
cp "$W/dp.out" "$CAPVM_OUT/system-dataport.out" 2>/dev/null
if grep -q "ready a True" "$W/dp.out" && grep -q "ready b True" "$W/dp.out" &&
   grep -q "ready c True" "$W/dp.out"; then
	e2e_pass three-vms-boot
else
	e2e_fail three-vms-boot "$(tr '\n' '|' < "$W/dp.out" | cut -c1-300)"
fi
if grep "^b:" "$W/dp.out" | grep -qi "0xCAFEF00D"; then
	e2e_pass dataport-shared
else
	e2e_fail dataport-shared "b read: $(grep '^b:' "$W/dp.out" | tr '\n' '|' | cut -c1-200)"
fi
if grep -q "^c:" "$W/dp.out" && ! grep "^c:" "$W/dp.out" | grep -qi "CAFEF00D"; then
	e2e_pass dataport-invisible-to-others
else
	e2e_fail dataport-invisible-to-others "c read: $(grep '^c:' "$W/dp.out" | tr '\n' '|' | cut -c1-200)"
fi

# --- pinning and priorities of the vCPU threads
threads() { # PID -> "comm cpus nice policy" per thread
	local t
	for t in /proc/"$1"/task/*; do
		echo "$(cat "$t/comm") $(awk '/Cpus_allowed_list/ { print $2 }' "$t/status") $(awk '{ print $19, $41 }' "$t/stat")"
	done
}
PA=$(vm_pid a); PB=$(vm_pid b)
threads "$PA" > "$W/a.threads"; threads "$PB" > "$W/b.threads"
cp "$W/a.threads" "$W/b.threads" "$CAPVM_OUT/" 2>/dev/null
if grep -q '^vcpu0 0 -11 0$' "$W/a.threads" && grep -q '^vcpu0 [0-9,-]* 12 0$' "$W/b.threads"; then
	e2e_pass vcpu-pinned-and-prioritised
else
	e2e_fail vcpu-pinned-and-prioritised "a: $(tr '\n' '|' < "$W/a.threads") b: $(tr '\n' '|' < "$W/b.threads")"
fi

# --- restart by policy
PC=$(vm_pid c)
kill -KILL "$PC"
for _ in $(seq 100); do
	NC=$(vm_pid c)
	[ -n "$NC" ] && [ "$NC" != 0 ] && [ "$NC" != "$PC" ] && break
	sleep 0.2
done
if [ -n "$NC" ] && [ "$NC" != 0 ] && [ "$NC" != "$PC" ] &&
   grep -q "c supervisor: killed by signal 9 (Killed); restarting in 1000ms (restart 1, policy on-failure)" "$W/sup.log"; then
	e2e_pass restart-after-kill
else
	e2e_fail restart-after-kill "pid $PC -> ${NC:-none}; $(grep ' c supervisor' "$W/sup.log" | tail -2 | tr '\n' '|')"
fi
python3 "$W/drive.py" "$W" ready c > "$W/c2.out" 2>&1

# --- system down: ACPI power-off through the monitors
t0=$(date +%s)
"$CAPVM" system down --control "$W/ctl.sock" > "$W/down.out" 2>&1
t1=$(date +%s)
wait "$SUP"; src=$?
cp "$W/sup.log" "$CAPVM_OUT/system-supervisor.log" 2>/dev/null
n_off=$(grep -c "vm: stopping: guest powered off" "$W/sup.log")
if [ $src = 0 ] && [ "$n_off" = 3 ] && grep -q "asked the guest to power off" "$W/sup.log" &&
   [ $((t1 - t0)) -lt 30 ]; then
	e2e_pass down-powers-off
	echo "info: system down took $((t1 - t0)) s"
else
	e2e_fail down-powers-off "status $src, $n_off guests powered off, $((t1 - t0)) s: $(tail -n 4 "$W/sup.log" | tr '\n' '|' | cut -c1-300)"
fi
[ "$E2E_FAILS" = 0 ]
