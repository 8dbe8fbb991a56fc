#!/usr/bin/env bash
# End-to-end checks of vhost-user-blk (issue 5), in one test host run:
#   - QEMU 7.2 as the front-end (microvm, guest RAM in a shared memfd,
#     -device vhost-user-blk) and `capvm backend blk` as the back-end: the
#     guest's blk test (guest/tests/blk.sh) writes a 16 MiB pattern with
#     fsync, reads it back after dropping its page cache, does O_DIRECT
#     reads; afterwards the pattern is in the back-end's image file and the
#     back-end is still alive, waiting for the next front-end.
#   - the back-end refuses a hostile front-end (bad message) by closing the
#     connection, and serves the next one.
#   - the capvm VMM as the front-end (capvm run --disk vhost-user=SOCK,
#     mem=shared: the back-end maps guest RAM and gets the KVM eventfds):
#     the same guest test against `capvm backend blk` (pattern in the raw
#     image) and against qemu-storage-daemon serving a qcow2 image
#     (`qemu-img check` clean, pattern read back with qemu-img convert);
#   - the same two with mem=isolated: the back-end maps only a bounce window
#     (its /proc/PID/maps and fds, sampled during the run, show the
#     capvm-bounce memfd and never capvm-guest-ram).
# Set CAPVM_E2E_VU_PARTS to a subset of "qemu capvm qsd hostile" to run fewer.
. "$(dirname "$0")/lib.sh"
e2e_enter_kvm --timeout 1200 -- "$0" "$@"

VM_TIMEOUT=${CAPVM_E2E_VM_TIMEOUT:-150}
PARTS=${CAPVM_E2E_VU_PARTS:-qemu capvm qsd hostile}
want() { [[ " $PARTS " == *" $1 "* ]]; }
T=$E2E_TMP
MIB=1048576
want_sum=$(yes "capvm-pattern-0123456789" | head -c $((16 * MIB)) | md5sum | cut -d' ' -f1)

if [ ! -x "$CAPVM" ]; then
	e2e_fail capvm-binary "$CAPVM does not exist (make all)"
	exit 1
fi
if ! command -v qemu-system-x86_64 > /dev/null; then
	e2e_skip qemu-frontend "qemu-system-x86_64 not installed"
	exit 0
fi

tail_of() { tail -n 4 "$1" 2>/dev/null | tr '\n' '|' | cut -c1-400; }

# ------------------------------------------- QEMU front-end, capvm back-end
fallocate -l $((64 * MIB)) "$T/disk.img" 2>/dev/null || truncate -s $((64 * MIB)) "$T/disk.img"
"$CAPVM" backend blk --socket "$T/vu.sock" --image "$T/disk.img" > "$T/backend.log" 2>&1 < /dev/null &
backend=$!
E2E_PIDS+=("$backend")
if ! e2e_wait_for "$T/backend.log" "listening on" 90; then
	e2e_fail capvm-backend-starts "$(tail_of "$T/backend.log")"
	exit 1
fi
if want qemu; then
e2e_run "$T/qemu.con" "$VM_TIMEOUT" qemu-system-x86_64 -enable-kvm -cpu host \
	-M microvm,rtc=on,memory-backend=mem0 -m 256M \
	-object memory-backend-memfd,id=mem0,size=256M,share=on \
	-chardev socket,id=vu0,path="$T/vu.sock" -device vhost-user-blk,chardev=vu0 \
	-smp 1 -nodefaults -no-user-config -nographic -no-reboot -serial stdio \
	-kernel "$CAPVM_VMLINUX" -initrd "$CAPVM_INITRD" -append "$(e2e_guest_cmdline blk)"
rc=$?
cp "$T/qemu.con" "$CAPVM_OUT/vhost-user-qemu.console.log" 2>/dev/null
cp "$T/backend.log" "$CAPVM_OUT/vhost-user-backend.log" 2>/dev/null
grep -a "^CAPVM-BLK" "$T/qemu.con" | sed 's/^/    guest| /'
E2E_WHY="qemu status $rc: $(tail_of "$T/qemu.con") backend: $(tail_of "$T/backend.log")"
e2e_check qemu-frontend-guest-sees-disk grep -aq "^CAPVM-BLK size 131072" "$T/qemu.con"
written=$(sed -n 's/^CAPVM-BLK written \([0-9a-f]*\).*/\1/p' "$T/qemu.con" | head -n1)
readback=$(sed -n 's/^CAPVM-BLK readback \([0-9a-f]*\).*/\1/p' "$T/qemu.con" | head -n1)
if grep -aq "^CAPVM-BLK pattern-ok" "$T/qemu.con" && [ "$written" = "$want_sum" ] &&
   [ "$readback" = "$want_sum" ]; then
	e2e_pass qemu-frontend-pattern-readback
else
	e2e_fail qemu-frontend-pattern-readback "wanted $want_sum, guest wrote '$written', read back '$readback'; $E2E_WHY"
fi
e2e_check qemu-frontend-direct-reads grep -aq "^CAPVM-BLK direct-read-ok" "$T/qemu.con"
host_sum=$(dd if="$T/disk.img" bs=$MIB skip=1 count=16 2>/dev/null | md5sum | cut -d' ' -f1)
if [ "$host_sum" = "$want_sum" ]; then
	e2e_pass qemu-frontend-data-in-image
else
	e2e_fail qemu-frontend-data-in-image "image bytes 1..17 MiB have md5 $host_sum, wanted $want_sum"
fi
kill -0 "$backend" 2>/dev/null && e2e_pass backend-survives-frontend-exit ||
	e2e_fail backend-survives-frontend-exit "$(tail_of "$T/backend.log")"
fi

# ------------------------------------------------- capvm VMM as front-end
# check_guest NAME: the guest test's lines in $T/NAME.con are all there.
check_guest() {
	local name=$1 written readback why=$E2E_WHY
	grep -a "^CAPVM-BLK" "$T/$name.con" | sed 's/^/    guest| /'
	E2E_WHY=$why
	e2e_check "$name-guest-sees-disk" grep -aq "^CAPVM-BLK size 131072" "$T/$name.con"
	written=$(sed -n 's/^CAPVM-BLK written \([0-9a-f]*\).*/\1/p' "$T/$name.con" | head -n1)
	readback=$(sed -n 's/^CAPVM-BLK readback \([0-9a-f]*\).*/\1/p' "$T/$name.con" | head -n1)
	if grep -aq "^CAPVM-BLK pattern-ok" "$T/$name.con" && [ "$written" = "$want_sum" ] &&
	   [ "$readback" = "$want_sum" ]; then
		e2e_pass "$name-pattern-readback"
	else
		e2e_fail "$name-pattern-readback" "wanted $want_sum, guest wrote '$written', read back '$readback'; $why"
	fi
	E2E_WHY=$why
	e2e_check "$name-direct-reads" grep -aq "^CAPVM-BLK direct-read-ok" "$T/$name.con"
}
# tree_pids PID: PID and its descendants (capvm backend serves from a child
# in its own PID namespace when sandboxed).
tree_pids() {
	local c
	echo "$1"
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree_pids "$c"; done
}
# run_capvm NAME DISK-SPEC [BACKEND-PID]: the guest's blk test under capvm;
# console in $T/NAME.con, capvm's log in $T/NAME.log.  Sets RC.  While it
# runs, the back-end's /proc/PID/maps and /proc/PID/fd are sampled: the
# memfds it holds (by name) go to $T/NAME.memfds.
run_capvm() {
	local name=$1 disk=$2 bpid=${3:-} vmm
	: > "$T/$name.memfds"
	e2e_run "$T/$name.log" "$VM_TIMEOUT" "$CAPVM" run --kernel "$CAPVM_VMLINUX" \
		--initrd "$CAPVM_INITRD" --mem 256M --cmdline "$(e2e_guest_cmdline blk)" \
		--console "file:$T/$name.con" --disk "$disk" --monitor "unix:$T/$name.hmp" &
	vmm=$!
	: > "$T/$name.counters"
	while kill -0 "$vmm" 2>/dev/null; do
		# the last answer of the monitor while the VM lived
		echo "info counters" | timeout 5 nc -q1 -U "$T/$name.hmp" > "$T/$name.counters.new" 2>/dev/null &&
			grep -q vhost_user "$T/$name.counters.new" && mv "$T/$name.counters.new" "$T/$name.counters"
		if [ -n "$bpid" ]; then
			for p in $(tree_pids "$bpid"); do
				{ grep -ao 'memfd:[^ ]*' "/proc/$p/maps"
				  ls -l "/proc/$p/fd" | grep -ao 'memfd:[^ ]*'; } >> "$T/$name.memfds" 2>/dev/null
			done
		fi
		sleep 0.5
	done
	wait "$vmm"
	RC=$?
	sort -u -o "$T/$name.memfds" "$T/$name.memfds"
	touch "$T/$name.con"
	cp "$T/$name.con" "$CAPVM_OUT/vhost-user-$name.console.log" 2>/dev/null
	cp "$T/$name.log" "$CAPVM_OUT/vhost-user-$name.capvm.log" 2>/dev/null
	E2E_WHY="capvm status $RC: $(tail_of "$T/$name.log") console: $(tail_of "$T/$name.con")"
}

# check_isolated NAME: while run NAME went on, the back-end held the bounce
# window and never guest RAM.
check_isolated() {
	local memfds
	memfds=$(tr '\n' ' ' < "$T/$1.memfds")
	E2E_WHY="back-end memfds: $memfds"
	e2e_check "$1-backend-has-bounce-window" grep -q capvm-bounce "$T/$1.memfds"
	E2E_WHY="back-end memfds: $memfds"
	e2e_check "$1-backend-never-sees-guest-ram" bash -c "! grep -q capvm-guest-ram '$T/$1.memfds'"
	# the monitor shows the relay's counters (requests went through the window)
	grep -a "vhost_user" "$T/$1.counters" | sed 's/^/    monitor| /'
	E2E_WHY="monitor: $(grep -a vhost_user "$T/$1.counters" | tr '\n' ' ')"
	e2e_check "$1-monitor-counters" bash -c "grep -aq 'blk0.vhost_user.bounce_full_waits' '$T/$1.counters' &&
		grep -aE 'blk0.vhost_user.requests[^0-9]*[1-9]' '$T/$1.counters' > /dev/null"
}

if want capvm; then
	# a fresh image for the back-end: zero it where the pattern goes
	dd if=/dev/zero of="$T/disk.img" bs=$MIB seek=1 count=16 conv=notrunc 2>/dev/null
	if ! kill -0 "$backend" 2>/dev/null; then
		e2e_fail capvm-shared-backend-alive "$(tail_of "$T/backend.log")"
	else
		run_capvm capvm-shared "vhost-user=$T/vu.sock,mem=shared" "$backend"
		why=$E2E_WHY
		check_guest capvm-shared
		[ "$RC" -eq 0 ] && e2e_pass capvm-shared-exit-status ||
			e2e_fail capvm-shared-exit-status "$why"
		host_sum=$(dd if="$T/disk.img" bs=$MIB skip=1 count=16 2>/dev/null | md5sum | cut -d' ' -f1)
		[ "$host_sum" = "$want_sum" ] && e2e_pass capvm-shared-data-in-image ||
			e2e_fail capvm-shared-data-in-image "image bytes 1..17 MiB have md5 $host_sum, wanted $want_sum"
		kill -0 "$backend" 2>/dev/null && e2e_pass capvm-shared-backend-survives ||
			e2e_fail capvm-shared-backend-survives "$(tail_of "$T/backend.log")"
		# the sampling works: in shared mode the back-end maps guest RAM
		E2E_WHY="back-end memfds: $(tr '\n' ' ' < "$T/capvm-shared.memfds")"
		e2e_check capvm-shared-backend-maps-guest-ram grep -q capvm-guest-ram "$T/capvm-shared.memfds"
	fi
	# isolated: the back-end sees only the bounce window
	dd if=/dev/zero of="$T/disk.img" bs=$MIB seek=1 count=16 conv=notrunc 2>/dev/null
	if kill -0 "$backend" 2>/dev/null; then
		run_capvm capvm-isolated "vhost-user=$T/vu.sock,mem=isolated,bounce=32M" "$backend"
		why=$E2E_WHY
		check_guest capvm-isolated
		[ "$RC" -eq 0 ] && e2e_pass capvm-isolated-exit-status ||
			e2e_fail capvm-isolated-exit-status "$why"
		host_sum=$(dd if="$T/disk.img" bs=$MIB skip=1 count=16 2>/dev/null | md5sum | cut -d' ' -f1)
		[ "$host_sum" = "$want_sum" ] && e2e_pass capvm-isolated-data-in-image ||
			e2e_fail capvm-isolated-data-in-image "image bytes 1..17 MiB have md5 $host_sum, wanted $want_sum"
		check_isolated capvm-isolated
	fi
fi

# --------------------------------- capvm VMM + qemu-storage-daemon (qcow2)
# run_qsd NAME MODE-OPTS: qemu-storage-daemon exports a fresh qcow2 image;
# capvm runs the guest test on it; then the image is checked.
run_qsd() {
	local name=$1 opts=$2 qsd img=$T/$1.qcow2 sock=$T/$1.sock
	qemu-img create -q -f qcow2 "$img" 64M
	qemu-storage-daemon --blockdev "driver=file,filename=$img,node-name=f" \
		--blockdev driver=qcow2,file=f,node-name=q \
		--export "type=vhost-user-blk,id=e,node-name=q,addr.type=unix,addr.path=$sock,writable=on" \
		> "$T/$name.qsd.log" 2>&1 < /dev/null &
	qsd=$!
	E2E_PIDS+=("$qsd")
	for ((i = 0; i < 100; i++)); do [ -S "$sock" ] && break; sleep 0.1; done
	if [ ! -S "$sock" ]; then
		e2e_fail "$name-qsd-starts" "$(tail_of "$T/$name.qsd.log")"
		return
	fi
	run_capvm "$name" "vhost-user=$sock$opts" "$qsd"
	local why=$E2E_WHY
	check_guest "$name"
	[ "$RC" -eq 0 ] && e2e_pass "$name-exit-status" || e2e_fail "$name-exit-status" "$why"
	kill "$qsd" 2>/dev/null
	wait "$qsd" 2>/dev/null
	e2e_forget_pid "$qsd"
	cp "$T/$name.qsd.log" "$CAPVM_OUT/vhost-user-$name.qsd.log" 2>/dev/null
	local check
	check=$(qemu-img check "$img" 2>&1)
	E2E_WHY=$(echo "$check" | tr '\n' '|' | cut -c1-300)
	e2e_check "$name-qcow2-check-clean" grep -q "No errors were found" <<< "$check"
	qemu-img convert -f qcow2 -O raw "$img" "$T/$name.raw"
	host_sum=$(dd if="$T/$name.raw" bs=$MIB skip=1 count=16 2>/dev/null | md5sum | cut -d' ' -f1)
	rm -f "$T/$name.raw"
	[ "$host_sum" = "$want_sum" ] && e2e_pass "$name-data-in-qcow2" ||
		e2e_fail "$name-data-in-qcow2" "qcow2 bytes 1..17 MiB have md5 $host_sum, wanted $want_sum"
	case $opts in *isolated*) check_isolated "$name" ;; esac
}
if want qsd; then
	if ! command -v qemu-storage-daemon > /dev/null; then
		e2e_skip qsd "qemu-storage-daemon not installed (Debian package qemu-system-common)"
	else
		run_qsd qsd-shared ",mem=shared"
		# (the relay's interrupt coalescing off: the other isolated runs
		# have it on, the default for disks, so both paths meet a real peer)
		run_qsd qsd-isolated ",mem=isolated,bounce=64M,coalesce=0"
	fi
fi

# ------------------------------------------------- hostile front-end
# A request with a bad version, then a memory table claiming 9 regions:
# each connection must be closed by the back-end, which stays up.
if ! want hostile; then
	:
elif command -v python3 > /dev/null; then
	out=$(python3 - "$T/vu.sock" <<'PY' 2>&1
import socket, struct, sys
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sys.argv[1])
    return s
# bad version flags
s = conn(); s.sendall(struct.pack("<III", 1, 0x2, 0)); print("version:", "closed" if s.recv(64) == b"" else "answered")
# SET_MEM_TABLE with 9 regions and no fds
s = conn(); s.sendall(struct.pack("<IIIII", 5, 1, 8, 9, 0)); print("regions:", "closed" if s.recv(64) == b"" else "answered")
# a well-formed GET_FEATURES still works
s = conn(); s.sendall(struct.pack("<III", 1, 1, 0)); r = s.recv(64); print("features:", len(r))
PY
)
	echo "$out" | sed 's/^/    hostile| /'
	E2E_WHY="$out | backend: $(tail_of "$T/backend.log")"
	e2e_check backend-closes-bad-version grep -q "version: closed" <<< "$out"
	e2e_check backend-closes-bad-mem-table grep -q "regions: closed" <<< "$out"
	e2e_check backend-serves-after-hostile grep -q "features: 20" <<< "$out"
else
	e2e_skip backend-hostile-frontend "python3 not available in the test host"
fi
kill "$backend" 2>/dev/null
wait "$backend" 2>/dev/null
cp "$T/backend.log" "$CAPVM_OUT/vhost-user-backend.log" 2>/dev/null
