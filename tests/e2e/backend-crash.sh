#!/usr/bin/env bash
# End-to-end check of crash survival for vhost-user back-ends (issue 5 item 4):
# `capvm backend blk` as the back-end under three front-ends, one after the
# other: QEMU 7.2 (microvm, vhost-user-blk, chardev reconnect=1, which also
# makes it use the inflight area capvm offers), capvm's VMM in shared memory
# mode (--disk vhost-user=SOCK,mem=shared,reconnect=10: it retries the
# socket, hands the kept inflight area to each new back-end and restarts the
# rings), and capvm's VMM in isolated mode (mem=isolated: the back-end sees
# only the bounce window; the VMM replays the requests it relayed and the
# dead back-end did not complete).  The guest runs a write-and-verify
# workload with flushes (guest/tests/blkcrash.sh) while this script kills
# the back-end with SIGKILL every 2 s, 5 times, restarting it at once on the
# same socket (as the supervisor would).  Checks:
#   - the guest reaches its end marker within the time bound (no hung vCPU
#     or stuck request), with no write error;
#   - the guest's read-back after dropping its caches verifies every batch;
#   - every batch the guest saw acknowledged is in the image file;
#   - the front-end reconnected after every kill; QEMU and shared mode gave
#     every back-end the inflight area (SET_INFLIGHT_FD), isolated mode
#     resumed its rings after every kill (and says how many requests it
#     replayed).
# Then capvm's VMM (shared, then isolated mode) with reconnect=3 and a
# back-end that never returns: the device goes to needs-reset after about
# 3 s with a log line, and the VMM's monitor still answers.
# A stream of 1 MiB O_DIRECT writes runs alongside, and each kill is
# preceded by CAPVM_E2E_CRASH_FREEZE_MS (default 300) of SIGSTOP, so kills
# hit requests in flight (redone by the next back-end, or replayed by the
# VMM in isolated mode).
# Prints the guest's stall after each kill (freeze to the next acknowledged
# batch) and how many requests the restarted back-ends redid (isolated: the
# VMM replayed).
. "$(dirname "$0")/lib.sh"
e2e_enter_kvm --timeout 1200 -- "$0" "$@"

VM_TIMEOUT=${CAPVM_E2E_VM_TIMEOUT:-200}
KILLS=${CAPVM_E2E_CRASH_KILLS:-5}
FREEZE_MS=${CAPVM_E2E_CRASH_FREEZE_MS:-300}
T=$E2E_TMP
MIB=1048576
BATCH=131072

if [ ! -x "$CAPVM" ]; then
	e2e_fail capvm-binary "$CAPVM does not exist (make all)"
	exit 1
fi
if ! command -v qemu-system-x86_64 > /dev/null; then
	e2e_skip qemu-frontend "qemu-system-x86_64 not installed"
	CAPVM_E2E_CRASH_FRONTENDS=${CAPVM_E2E_CRASH_FRONTENDS:-capvm-shared capvm-isolated gone-shared gone-isolated}
fi

tail_of() { tail -n 4 "$1" 2>/dev/null | tr '\n' '|' | cut -c1-400; }
acks() { grep -ac "^CAPVM-CRASH ack " "$1" 2>/dev/null; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

backend=
gen=0
start_backend() {
	gen=$((gen + 1))
	"$CAPVM" backend blk --socket "$T/vu.sock" --image "$T/disk.img" \
		> "$T/backend.$gen.log" 2>&1 < /dev/null &
	backend=$!
	E2E_PIDS+=("$backend")
}

# crash_run NAME: one guest run with front-end NAME (qemu, capvm-shared or
# capvm-isolated), the back-end killed and restarted under it; then the
# checks, named NAME-*.
crash_run() {
	local name=$1 con=$T/$1.con vmm rc kills=0 stalls=() before t0 victim stall until mode=
	rm -f "$T"/backend.*.log
	gen=0
	truncate -s 0 "$T/disk.img"
	truncate -s $((128 * MIB)) "$T/disk.img"
	: > "$con"
	start_backend
	if ! e2e_wait_for "$T/backend.1.log" "listening on" 20; then
		e2e_fail "$name-backend-starts" "$(tail_of "$T/backend.1.log")"
		return
	fi
	if [ "$name" = qemu ]; then
		timeout -k 5 "$VM_TIMEOUT" qemu-system-x86_64 -enable-kvm -cpu host \
			-M microvm,rtc=on,memory-backend=mem0 -m 256M \
			-object memory-backend-memfd,id=mem0,size=256M,share=on \
			-chardev socket,id=vu0,path="$T/vu.sock",reconnect=1 \
			-device vhost-user-blk,chardev=vu0 \
			-smp 1 -nodefaults -no-user-config -nographic -no-reboot -serial stdio \
			-kernel "$CAPVM_VMLINUX" -initrd "$CAPVM_INITRD" \
			-append "$(e2e_guest_cmdline blkcrash)" > "$con" 2>&1 < /dev/null &
	else
		mode=${name#capvm-}
		timeout -k 5 "$VM_TIMEOUT" "$CAPVM" run --kernel "$CAPVM_VMLINUX" \
			--initrd "$CAPVM_INITRD" --mem 256M --cmdline "$(e2e_guest_cmdline blkcrash)" \
			--console "file:$con" --disk "vhost-user=$T/vu.sock,mem=$mode,reconnect=10" \
			> "$T/$name.log" 2>&1 < /dev/null &
	fi
	vmm=$!
	E2E_PIDS+=("$vmm")

	# Kill the back-end while the workload runs, and measure how long the
	# guest waits for its next acknowledged batch after each kill.
	# (Deadlines by the clock: in the test host a poll loop's forks are slow.)
	local deadline=$((SECONDS + VM_TIMEOUT))
	until grep -aq "^CAPVM-CRASH ack 0" "$con" || [ $SECONDS -ge $deadline ] ||
	      ! kill -0 "$vmm" 2>/dev/null; do
		sleep 1
	done
	if grep -aq "^CAPVM-CRASH ack 0" "$con"; then
		echo "    $name: workload running; killing the back-end every 2 s"
		while [ $kills -lt "$KILLS" ] && kill -0 "$vmm" 2>/dev/null; do
			sleep 2
			grep -aq "^CAPVM-CRASH written" "$con" && break
			before=$(acks "$con")
			t0=$(now_ms)
			# The serving process: the sandboxed child of `capvm backend`
			# (its parent only reports how it ended), or the process itself.
			victim=$(cat "/proc/$backend/task/$backend/children" 2>/dev/null | cut -d' ' -f1)
			# Frozen first, so the guest's requests pile up unanswered.
			if [ "$FREEZE_MS" -gt 0 ]; then
				kill -STOP "${victim:-$backend}" 2>/dev/null
				sleep "$(printf '%d.%03d' $((FREEZE_MS / 1000)) $((FREEZE_MS % 1000)))"
			fi
			kill -KILL "${victim:-$backend}" 2>/dev/null
			wait "$backend" 2>/dev/null
			e2e_forget_pid "$backend"
			start_backend
			kills=$((kills + 1))
			# Up to 30 s for the guest to get a batch through again.
			stall=
			until=$((SECONDS + 30))
			while [ $SECONDS -lt $until ]; do
				if [ "$(acks "$con")" -gt "$before" ]; then stall=$(( $(now_ms) - t0 )); break; fi
				grep -aq "^CAPVM-CRASH written" "$con" && { stall=done; break; }
				kill -0 "$vmm" 2>/dev/null || break
				sleep 0.05
			done
			stalls+=("${stall:-none}")
			echo "    $name: kill $kills at batch $before: next batch after ${stall:-none} ms"
			cp "$con" "$CAPVM_OUT/backend-crash-$name.console.log" 2>/dev/null
		done
	else
		echo "    $name: no batch acknowledged within $VM_TIMEOUT s"
	fi
	wait "$vmm"
	rc=$?
	e2e_forget_pid "$vmm"
	kill "$backend" 2>/dev/null
	wait "$backend" 2>/dev/null

	cp "$con" "$CAPVM_OUT/backend-crash-$name.console.log" 2>/dev/null
	cat "$T"/backend.*.log > "$CAPVM_OUT/backend-crash-$name.backend.log" 2>/dev/null
	[ -f "$T/$name.log" ] && cp "$T/$name.log" "$CAPVM_OUT/backend-crash-$name.vmm.log"
	grep -a "^CAPVM-CRASH" "$con" | grep -v " ack " | sed "s/^/    $name guest| /"
	[ -f "$T/$name.log" ] && grep -a "vhost-user back-end" "$T/$name.log" | cut -c1-200 | sed "s/^/    $name vmm| /"
	local acked redone connects areas bad=() b want got resumes=0
	acked=$(acks "$con")
	if [ "$mode" = isolated ]; then
		# the VMM replays: "is back after N ms; rings resumed, M request(s) replayed"
		redone=$(sed -n 's/.*rings resumed, \([0-9]*\) request(s) replayed.*/\1/p' "$T/$name.log" |
			 awk '{ s += $1 } END { print s + 0 }')
		resumes=$(grep -ac "rings resumed, " "$T/$name.log")
	else
		redone=$(cat "$T"/backend.*.log | sed -n 's/.*: \([0-9]*\) request(s) in flight before the restart.*/\1/p' |
			 awk '{ s += $1 } END { print s + 0 }')
	fi
	connects=$(cat "$T"/backend.*.log | grep -c "front-end connected")
	areas=$(cat "$T"/backend.*.log | grep -c "inflight area:")
	echo "    $name: $kills kills; guest stall after each kill (ms): ${stalls[*]:-none}; $acked batches acknowledged; $redone request(s) $([ "$mode" = isolated ] && echo "replayed by the VMM to" || echo "redone by") restarted back-ends; $connects front-end connections"
	E2E_WHY="vmm status $rc: $(tail_of "$con") backend: $(tail_of "$T/backend.$gen.log")"

	if [ "$kills" -ge 1 ]; then
		e2e_pass "$name-backend-killed-during-workload"
	else
		e2e_fail "$name-backend-killed-during-workload" "the workload never started or ended first; $E2E_WHY"
	fi
	e2e_check "$name-guest-reaches-end" grep -aq "^CAPVM-CRASH end" "$con"
	E2E_WHY="vmm status $rc"
	e2e_check "$name-vmm-exits-cleanly" [ "$rc" -eq 0 ]
	E2E_WHY=$(grep -a "write-error" "$con" | head -n 3 | tr '\n' '|')
	e2e_check "$name-no-write-errors" [ -z "$E2E_WHY" ]
	E2E_WHY=$(grep -a "verify-" "$con" | head -n 3 | tr '\n' '|')
	e2e_check "$name-guest-verifies-all-batches" grep -aq "^CAPVM-CRASH verify-ok" "$con"
	if [ "$mode" = isolated ]; then
		# no inflight area: the VMM's own bookkeeping is the record
		E2E_WHY="$resumes resumes for $kills kills"
		e2e_check "$name-vmm-replays-after-each-kill" [ "$kills" -ge 1 -a "$resumes" -ge "$kills" ]
		# with the freeze, some kill finds the stream's requests in flight
		if [ "$FREEZE_MS" -gt 0 ]; then
			E2E_WHY="no request was in flight at any of the $kills kills"
			e2e_check "$name-vmm-replayed-requests" [ "$redone" -ge 1 ]
		fi
	else
		E2E_WHY="$areas of $gen back-ends were given an inflight area"
		e2e_check "$name-frontend-hands-back-inflight-area" [ "$areas" -ge "$gen" ]
	fi

	# Every batch the guest saw acknowledged must be in the image.
	for b in $(sed -n 's/^CAPVM-CRASH ack \([0-9]*\).*/\1/p' "$con"); do
		want=$(yes "capvm-crash-batch-$b" | head -c $BATCH | md5sum | cut -d' ' -f1)
		got=$(dd if="$T/disk.img" bs=$BATCH skip="$b" count=1 2>/dev/null | md5sum | cut -d' ' -f1)
		[ "$want" = "$got" ] || bad+=("$b")
	done
	if [ "$acked" -gt 0 ] && [ ${#bad[@]} -eq 0 ]; then
		e2e_pass "$name-acked-batches-in-image"
	else
		e2e_fail "$name-acked-batches-in-image" "$acked acknowledged, missing or wrong in the image: ${bad[*]:-none}"
	fi
	if [ "$kills" -ge 1 ] && [ "$connects" -ge $((kills + 1)) ]; then
		e2e_pass "$name-frontend-reconnects-after-each-kill"
	else
		e2e_fail "$name-frontend-reconnects-after-each-kill" "$connects connections for $kills kills"
	fi
}

# gone_run NAME: capvm's VMM (NAME gone-shared or gone-isolated: its memory
# mode) with reconnect=3 and a back-end that never comes back: after the
# bound the device must go to needs-reset with a log line naming the
# socket, while the VMM stays responsive (its monitor answers).
gone_run() {
	local name=$1 con=$T/$1.con log=$T/$1.log vmm victim t0 waited= status mode=${1#gone-}
	rm -f "$T"/backend.*.log
	gen=0
	: > "$con"
	[ -f "$T/disk.img" ] || truncate -s $((128 * MIB)) "$T/disk.img"
	start_backend
	if ! e2e_wait_for "$T/backend.1.log" "listening on" 20; then
		e2e_fail "$name-backend-starts" "$(tail_of "$T/backend.1.log")"
		return
	fi
	timeout -k 5 "$VM_TIMEOUT" "$CAPVM" run --kernel "$CAPVM_VMLINUX" \
		--initrd "$CAPVM_INITRD" --mem 256M --cmdline "$(e2e_guest_cmdline blkcrash)" \
		--console "file:$con" --disk "vhost-user=$T/vu.sock,mem=$mode,reconnect=3" \
		--monitor "unix:$T/$name.hmp" > "$log" 2>&1 < /dev/null &
	vmm=$!
	E2E_PIDS+=("$vmm")
	local deadline=$((SECONDS + VM_TIMEOUT))
	until grep -aq "^CAPVM-CRASH ack 0" "$con" || [ $SECONDS -ge $deadline ] ||
	      ! kill -0 "$vmm" 2>/dev/null; do
		sleep 1
	done
	victim=$(cat "/proc/$backend/task/$backend/children" 2>/dev/null | cut -d' ' -f1)
	kill -KILL "${victim:-$backend}" 2>/dev/null
	wait "$backend" 2>/dev/null
	e2e_forget_pid "$backend"
	t0=$(now_ms)
	deadline=$((SECONDS + 30))
	until grep -aq "did not come back within" "$log" || [ $SECONDS -ge $deadline ]; do
		sleep 0.1
	done
	grep -aq "did not come back within" "$log" && waited=$(( $(now_ms) - t0 ))
	status=$(echo "info status" | timeout 5 nc -q1 -U "$T/$name.hmp" 2>&1 | tr -d '\r' | grep -a -m1 "VM status")
	grep -a "vhost-user back-end" "$log" | cut -c1-200 | sed "s/^/    $name vmm| /"
	echo "    $name: needs-reset logged ${waited:-never} ms after the kill (bound 3 s); monitor: ${status:-no answer}"
	cp "$log" "$CAPVM_OUT/backend-crash-$name.vmm.log" 2>/dev/null
	kill "$vmm" 2>/dev/null
	wait "$vmm" 2>/dev/null
	e2e_forget_pid "$vmm"
	if [ -n "$waited" ] && [ "$waited" -ge 2500 ] && [ "$waited" -le 15000 ]; then
		e2e_pass "$name-needs-reset-after-bound"
	else
		e2e_fail "$name-needs-reset-after-bound" "logged after ${waited:-never} ms (want about 3000): $(tail_of "$log")"
	fi
	if [ -n "$status" ]; then
		e2e_pass "$name-vmm-responsive"
	else
		e2e_fail "$name-vmm-responsive" "the monitor did not answer 'info status' within 5 s"
	fi
}

for fe in ${CAPVM_E2E_CRASH_FRONTENDS:-qemu capvm-shared capvm-isolated gone-shared gone-isolated}; do
	case $fe in
	gone-*) gone_run "$fe" ;;
	*) crash_run "$fe" ;;
	esac
done
exit $((E2E_FAILS > 0))
