#!/usr/bin/env bash
# End-to-end checks of the monitor of a running VM (issue 4), in one test
# host run: HMP over a unix and a TCP socket (`echo "info status" | nc`
# prints "VM status: running" as with QEMU), stop/cont, QMP greeting,
# capabilities negotiation, query-status with an id, events, and
# system_powerdown powering the guest off (ACPI power button) so that
# capvm exits 0.
. "$(dirname "$0")/lib.sh"
e2e_enter_kvm --timeout 400 -- "$0" "$@"

D=$E2E_TMP
ip link set lo up 2>/dev/null


port=$((20000 + RANDOM % 20000))
"$CAPVM" run --kernel "$CAPVM_VMLINUX" --initrd "$CAPVM_INITRD" --mem 128M --cpus 2 \
	--cmdline "$(e2e_guest_cmdline shell)" --console "file:$D/console" \
	--monitor "unix:$D/hmp.sock" --monitor "tcp:127.0.0.1:$port" --qmp "unix:$D/qmp.sock" \
	> "$D/capvm.log" 2>&1 &
vmm=$!
E2E_PIDS+=("$vmm")
if ! e2e_wait_for "$D/console" CAPVM-GUEST-INIT 180; then
	e2e_fail boot "$E2E_WHY; $(tail -n 3 "$D/capvm.log" | tr '\n' '|')"
	exit 1
fi
hmp_unix() { echo "$1" | timeout 10 nc -q1 -U "$D/hmp.sock" 2>&1; }
hmp_tcp() { echo "$1" | timeout 10 nc -q1 127.0.0.1 "$port" 2>&1; }

out=$(hmp_unix "info status"); E2E_WHY="$out"
e2e_check hmp-unix-info-status grep -q "^VM status: running" <<< "$out"
out=$(hmp_tcp "info status"); E2E_WHY="$out"
e2e_check hmp-tcp-info-status grep -q "^VM status: running" <<< "$out"
out=$(hmp_tcp "info cpus"); E2E_WHY="$out"
e2e_check hmp-info-cpus grep -q "CPU #1: thread_id=[0-9]" <<< "$out"
out=$(hmp_unix "info counters"); E2E_WHY="$out"
e2e_check hmp-info-counters grep -q "^vm.exits: [0-9]" <<< "$out"
out=$(hmp_unix "no_such_command"); E2E_WHY="$out"
e2e_check hmp-unknown-command grep -qi "unknown command" <<< "$out"
hmp_tcp stop > /dev/null
out=$(hmp_unix "info status"); E2E_WHY="$out"
e2e_check hmp-stop-pauses grep -q "^VM status: paused" <<< "$out"

qmp=$(printf '%s\n' '{"execute":"query-status"}' '{"execute":"qmp_capabilities"}' \
	'{"execute":"query-status","id":7}' '{"execute":"cont"}' '{"execute":"query-status"}' \
	'{"execute":"query-cpus-fast"}' '{"execute":"query-block"}' '{bad json' |
	timeout 10 nc -q1 -U "$D/qmp.sock" 2>&1)
echo "$qmp" | sed 's/^/    qmp| /'
E2E_WHY="$(echo "$qmp" | tr '\n' '|' | cut -c1-400)"
e2e_check qmp-greeting grep -q '^{"QMP": {"version"' <<< "$qmp"
e2e_check qmp-needs-capabilities grep -q '"CommandNotFound"' <<< "$qmp"
e2e_check qmp-query-status-id grep -q '"status": "paused".*"id": 7\|"id": 7.*"status": "paused"' <<< "$qmp"
e2e_check qmp-cont-resumes grep -q '"status": "running"' <<< "$qmp"
e2e_check qmp-resume-event grep -q '"event": "RESUME"' <<< "$qmp"
e2e_check qmp-query-cpus-fast grep -q '"cpu-index": 1' <<< "$qmp"
e2e_check qmp-malformed-json grep -q '"GenericError"' <<< "$qmp"
kill -0 "$vmm" 2>/dev/null && e2e_pass alive-after-malformed-input || e2e_fail alive-after-malformed-input

# an oversized HMP line gets an error, not a crash
head -c 100000 /dev/zero | tr '\0' 'x' | timeout 10 nc -q1 -U "$D/hmp.sock" > "$D/big.out" 2>&1
kill -0 "$vmm" 2>/dev/null && e2e_pass alive-after-oversized-input || e2e_fail alive-after-oversized-input

# events: a QMP client listens while HMP presses the power button
(printf '%s\n' '{"execute":"qmp_capabilities"}'; sleep 60) | timeout 70 nc -U "$D/qmp.sock" > "$D/events.txt" 2>&1 &
sleep 1
hmp_unix system_powerdown > /dev/null
for ((i = 0; i < 90; i++)); do kill -0 "$vmm" 2>/dev/null || break; sleep 1; done
wait "$vmm" 2>/dev/null
rc=$?
E2E_WHY="capvm status $rc: $(tail -n 2 "$D/capvm.log" | tr '\n' '|')"
e2e_check system-powerdown-powers-off bash -c "test $rc = 0 && grep -aq CAPVM-GUEST-POWERBUTTON '$D/console'"
sleep 1
E2E_WHY="$(tr '\n' '|' < "$D/events.txt" | cut -c1-300)"
e2e_check qmp-events-powerdown-shutdown bash -c "grep -q '\"POWERDOWN\"' '$D/events.txt' && grep -q '\"SHUTDOWN\"' '$D/events.txt'"
exit $((E2E_FAILS > 0))
