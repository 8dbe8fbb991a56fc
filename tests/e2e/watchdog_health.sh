#!/usr/bin/env bash
# End-to-end checks of the watchdog, `capvm health` and the metrics (issue 6
# items 1-3), in one test host run:
#  - capvm run --watchdog poweroff: the guest (guest test "watchdog") starts
#    /dev/watchdog with busybox's watchdog daemon at a 4 s timeout of its own
#    choosing (ib700 code 13), pets it, then kills the daemon; capvm must exit
#    with status 6 within the timeout plus a margin, log it, and send QMP
#    WATCHDOG {"action": "poweroff"};
#  - --watchdog reset with --watchdog-timeout 2 (overriding the guest's 4 s):
#    the VM restarts in the same process and the guest boots again;
#  - capvm system up with three VMs: h pets its watchdog forever (healthy),
#    f (restart never) is killed from outside (failed), r has
#    watchdog_action = "restart" and stops petting (restarting, the
#    watchdog counted as a failure); `capvm health` exit statuses for each,
#    for all, for an unknown VM and without a supervisor; the on_failure hook
#    ran with name and reason; a paused VM is not healthy; the Prometheus file and the loopback endpoint
#    carry the expected metric names.
. "$(dirname "$0")/lib.sh"
e2e_enter_kvm --timeout 420 -- "$0" "$@"

D=$E2E_TMP
ip link set lo up 2>/dev/null

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# ---- 1. watchdog, action poweroff, guest-chosen timeout 4 s
"$CAPVM" run --kernel "$CAPVM_VMLINUX" --initrd "$CAPVM_INITRD" --mem 128M \
	--cmdline "$(e2e_guest_cmdline watchdog) capvm.wdt_timeout=4" --console "file:$D/wd.console" \
	--qmp "unix:$D/wd.qmp" --watchdog poweroff > "$D/wd.log" 2>&1 &
vmm=$!
E2E_PIDS+=("$vmm")
for _ in $(seq 50); do [ -S "$D/wd.qmp" ] && break; sleep 0.1; done
(printf '%s\n' '{"execute":"qmp_capabilities"}'; sleep 240) | timeout 250 nc -U "$D/wd.qmp" > "$D/wd.events" 2>&1 &
if e2e_wait_for "$D/wd.console" CAPVM-WDT-STOP-PETTING 200; then
	t0=$EPOCHREALTIME
	for ((i = 0; i < 300; i++)); do kill -0 "$vmm" 2>/dev/null || break; sleep 0.1; done
	t1=$EPOCHREALTIME
	wait "$vmm"; rc=$?
	e2e_forget_pid "$vmm"
	took=$(secs "$t0" "$t1")
	echo "    watchdog: guest stopped petting -> capvm exited after $took s (timeout 4 s; last pet <= 1 s before the marker)"
	E2E_WHY="status $rc after $took s: $(grep -a watchdog "$D/wd.log" | tail -n 2 | tr '\n' '|')"
	e2e_check watchdog-poweroff-status-6 test "$rc" = 6
	e2e_check watchdog-acted-within-timeout awk -v t="$took" 'BEGIN { exit !(t >= 2.5 && t <= 4 + 3) }'
	E2E_WHY="$(grep -a watchdog "$D/wd.log" | tr '\n' '|')"
	e2e_check watchdog-logged grep -aq "watchdog fired: the guest did not pet it for 4 s; action poweroff" "$D/wd.log"
	sleep 0.5
	E2E_WHY="$(tr '\n' '|' < "$D/wd.events" | cut -c1-300)"
	e2e_check qmp-watchdog-event grep -q '"event": "WATCHDOG".*"action": "poweroff"' "$D/wd.events"
else
	e2e_fail watchdog-guest "$E2E_WHY; $(grep -a CAPVM-WDT "$D/wd.console" | tr '\n' '|'); $(tail -n 3 "$D/wd.log" | tr '\n' '|')"
fi
grep -a "CAPVM-WDT" "$D/wd.console" | sed 's/^/    guest| /'

# ---- 1b. action reset, host timeout 2 s: the same process boots the guest again
"$CAPVM" run --kernel "$CAPVM_VMLINUX" --initrd "$CAPVM_INITRD" --mem 128M \
	--cmdline "$(e2e_guest_cmdline watchdog) capvm.wdt_timeout=4" --console "file:$D/rs.console" \
	--watchdog reset --watchdog-timeout 2 > "$D/rs.log" 2>&1 &
vmm=$!
E2E_PIDS+=("$vmm")
if e2e_wait_for "$D/rs.console" CAPVM-WDT-STOP-PETTING 200; then
	for ((i = 0; i < 2400; i++)); do
		[ "$(grep -ac CAPVM-WDT-STARTED "$D/rs.console")" -ge 2 ] && break
		kill -0 "$vmm" 2>/dev/null || break
		sleep 0.1
	done
	E2E_WHY="$(grep -a -e watchdog -e stopping "$D/rs.log" | tr '\n' '|' | cut -c1-400)"
	e2e_check watchdog-reset-reboots bash -c "grep -aq 'did not pet it for 2 s; action reset' '$D/rs.log' &&
		grep -aq 'restarting (--watchdog reset)' '$D/rs.log' && kill -0 $vmm &&
		[ \$(grep -ac CAPVM-WDT-STARTED '$D/rs.console') -ge 2 ]"
else
	e2e_fail watchdog-reset-reboots "$E2E_WHY; $(tail -n 3 "$D/rs.log" | tr '\n' '|')"
fi
kill -KILL "$vmm" 2>/dev/null; wait "$vmm" 2>/dev/null; e2e_forget_pid "$vmm"

# ---- 2. a supervised system: healthy, failed, restarting
G="console=ttyS0 quiet panic=-1 capvm.test=watchdog"
cat > "$D/sys.camkes" <<EOF
assembly {
 composition { component VM h; component VM f; component VM r; }
 configuration {
  h.kernel = "$CAPVM_VMLINUX"; f.kernel = "$CAPVM_VMLINUX"; r.kernel = "$CAPVM_VMLINUX";
  h.initrd = "$CAPVM_INITRD"; f.initrd = "$CAPVM_INITRD"; r.initrd = "$CAPVM_INITRD";
  h.ram = 128M; f.ram = 128M; r.ram = 128M;
  h.cmdline = "$G capvm.wdt_pet=forever"; f.cmdline = "$G capvm.wdt_pet=forever";
  r.cmdline = "$G capvm.wdt_timeout=20";
  h.console = "file:$D/h.console"; f.console = "file:$D/f.console"; r.console = "file:$D/r.console";
  h.monitor = "unix:$D/h.mon"; r.monitor = "unix:$D/r.mon,mode=qmp";
  h.rng = true;
  h.watchdog_action = "reset";
  r.watchdog_action = "restart"; r.watchdog_timeout = 3s;
  r.restart = "on-failure"; r.restart_delay = 1h;
  f.on_failure = "echo \"\$CAPVM_VM|\$CAPVM_REASON|\$1\" >> $D/hook.out";
  r.on_failure = "echo \"\$CAPVM_VM|\$CAPVM_REASON|\$1\" >> $D/hook.out";
 }
}
EOF
"$CAPVM" system up --control "$D/ctl.sock" --stop-timeout 30 --log "$D/sup.log" \
	"$D/sys.camkes" 2> "$D/sup.err" &
SUP=$!
E2E_PIDS+=("$SUP")
for _ in $(seq 100); do [ -S "$D/ctl.sock" ] && break; sleep 0.1; done
health() { "$CAPVM" health --control "$D/ctl.sock" "$@"; }
vm_pid() { "$CAPVM" system status --control "$D/ctl.sock" | awk -v n="$1" '$1 == n { print $4 }'; }

ok=1
for v in h f r; do
	e2e_wait_for "$D/$v.console" CAPVM-WDT-STARTED 240 || { ok=0; e2e_fail "boot-$v" "$E2E_WHY; $(tail -n 3 "$D/sup.log" | tr '\n' '|')"; }
done
if [ $ok = 1 ]; then
	sleep 1
	out=$(health h 2>&1); rc=$?
	echo "$out" | sed 's/^/    health| /'
	E2E_WHY="status $rc: $out"
	e2e_check health-healthy-exit-0 test "$rc" = 0
	e2e_check health-shows-watchdog-armed grep -q "^h  *running .*armed" <<< "$out"

	# paused (monitor stop) is not healthy; cont makes it healthy again
	echo stop | timeout 10 nc -q1 -U "$D/h.mon" > /dev/null 2>&1
	out=$(health h 2>&1); rc=$?
	echo "$out" | sed 's/^/    health| /'
	echo cont | timeout 10 nc -q1 -U "$D/h.mon" > /dev/null 2>&1
	health h > /dev/null 2>&1; rc2=$?
	E2E_WHY="status $rc then $rc2: $out"
	e2e_check health-paused-exit-1 bash -c "test $rc = 1 && test $rc2 = 0 && grep -q '^h  *paused .*NOT OK' <<< '$out'"

	kill -KILL "$(vm_pid f)"
	for _ in $(seq 50); do health f > /dev/null 2>&1; [ $? = 1 ] && break; sleep 0.2; done
	out=$(health f 2>&1); rc=$?
	echo "$out" | sed 's/^/    health| /'
	E2E_WHY="status $rc: $out"
	e2e_check health-failed-exit-1 bash -c "test $rc = 1 && grep -q '^f  *failed .*NOT OK' <<< '$out'"

	# r stopped petting when its guest test killed the daemon: 3 s later
	# (host timeout) capvm exits 7 and the supervisor schedules a restart
	e2e_wait_for "$D/r.console" CAPVM-WDT-STOP-PETTING 60
	for _ in $(seq 100); do health r > /dev/null 2>&1; [ $? = 1 ] && break; sleep 0.2; done
	out=$(health r 2>&1); rc=$?
	echo "$out" | sed 's/^/    health| /'
	E2E_WHY="status $rc: $out"
	e2e_check health-restarting-exit-1 bash -c "test $rc = 1 && grep -q '^r  *restarting .*watchdog fired (restart)' <<< '$out'"

	out=$(health 2>&1); rc=$?
	E2E_WHY="status $rc: $out"
	e2e_check health-all-exit-1 test "$rc" = 1
	health nosuchvm > /dev/null 2>&1; rc=$?
	E2E_WHY="status $rc"
	e2e_check health-unknown-vm-exit-4 test "$rc" = 4
	"$CAPVM" health --control "$D/none.sock" > /dev/null 2>&1; rc=$?
	E2E_WHY="status $rc"
	e2e_check health-no-supervisor-exit-3 test "$rc" = 3

	sleep 0.5
	sed 's/^/    hook| /' "$D/hook.out" 2>/dev/null
	E2E_WHY="$(tr '\n' '|' < "$D/hook.out" 2>/dev/null)"
	e2e_check on-failure-hook-failed grep -q "^f|killed by signal 9 (Killed)|f$" "$D/hook.out"
	e2e_check on-failure-hook-watchdog grep -q "^r|watchdog fired (restart)|r$" "$D/hook.out"

	health --prometheus "$D/metrics.prom" h f r > /dev/null 2>&1
	missing=
	for m in 'capvm_vm_up{vm="h"} 1' 'capvm_vm_up{vm="f"} 0' 'capvm_vm_state{vm="r",state="restarting"} 1' \
		 'capvm_vm_restarts_total{vm="r"} 1' 'capvm_vm_uptime_seconds{vm="h"}' 'capvm_vm_exits_total{vm="h"}' \
		 'capvm_watchdog_armed{vm="h"} 1' 'capvm_watchdog_fired_total{vm="h"} 0' \
		 'capvm_device_kicks_total{vm="h",device="rng' 'capvm_device_needs_reset_total{vm="h"'; do
		grep -qF "$m" "$D/metrics.prom" || missing+="[$m] "
	done
	E2E_WHY="missing: $missing"
	e2e_check prometheus-file test -z "$missing"
	grep -E '^capvm_(vm_up|vm_exits_total|watchdog|device_kicks)' "$D/metrics.prom" | head -n 8 | sed 's/^/    prom| /'

	port=$((20000 + RANDOM % 20000))
	"$CAPVM" health --control "$D/ctl.sock" --serve "127.0.0.1:$port" 2> "$D/serve.err" &
	srv=$!
	E2E_PIDS+=("$srv")
	for _ in $(seq 30); do
		printf 'GET /metrics HTTP/1.0\r\n\r\n' | timeout 10 nc -q1 127.0.0.1 "$port" > "$D/http.out" 2>/dev/null
		grep -q capvm_vm_up "$D/http.out" && break
		sleep 0.2
	done
	E2E_WHY="$(head -c 200 "$D/http.out" | tr '\r\n' '||')"
	e2e_check prometheus-endpoint bash -c "grep -q '^HTTP/1.0 200' '$D/http.out' && grep -q 'capvm_vm_up{vm=\"h\"} 1' '$D/http.out'"
	kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null; e2e_forget_pid "$srv"
fi

"$CAPVM" system down --control "$D/ctl.sock" > /dev/null 2>&1
for _ in $(seq 300); do kill -0 "$SUP" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SUP" 2>/dev/null && kill -TERM "$SUP"
wait "$SUP" 2>/dev/null
e2e_forget_pid "$SUP"
exit $((E2E_FAILS > 0))
