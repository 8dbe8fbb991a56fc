#!/usr/bin/env bash
# End-to-end checks of the vhost-user back-end sandbox (issue 5 item 3,
# src/backend/sandbox.[ch]), in one test host run:
#   - `capvm backend blk` (sandboxed by default) forks: the serving child
#     has NoNewPrivs 1, Seccomp 2, no capabilities (effective and bounding),
#     uid 65534, only the fds it needs (stdio, the image, one socket,
#     anonymous inodes), an empty root, and pid/mount/net/ipc/uts namespaces
#     other than its parent's; the parent holds only stdio and a pipe;
#   - sandboxed, it serves QEMU 7.2's vhost-user-blk front-end: the guest's
#     blk test passes (16 MiB pattern, fsync, readback, O_DIRECT) and the
#     data is in the image; a hostile front-end is still refused cleanly;
#   - SIGTERM to the parent ends both, with status 0 and the socket removed;
#   - the test hook CAPVM_BACKEND_TEST_SYSCALL=socket makes the sandboxed
#     back-end call socket(2): it is killed, the parent logs "backend killed
#     by seccomp (SIGSYS)" and exits with status 159, and the kernel's audit
#     line names syscall 41;
#   - `capvm backend net` on a tap (in a namespace this test creates) enters
#     the sandbox too, keeping the tap fd;
#   - --no-sandbox runs without it (Seccomp 0) and says so.
. "$(dirname "$0")/lib.sh"
e2e_enter_kvm --timeout 900 -- "$0" "$@"

VM_TIMEOUT=${CAPVM_E2E_VM_TIMEOUT:-150}
T=$E2E_TMP
MIB=1048576
want_sum=$(yes "capvm-pattern-0123456789" | head -c $((16 * MIB)) | md5sum | cut -d' ' -f1)
NS=capvmtest-sbx
TAP=capvmsbx0

if [ ! -x "$CAPVM" ]; then
	e2e_fail capvm-binary "$CAPVM does not exist (make all)"
	exit 1
fi
if ! command -v qemu-system-x86_64 > /dev/null; then
	e2e_skip qemu-frontend "qemu-system-x86_64 not installed"
	exit 0
fi
cleanup_net() { ip netns del "$NS" 2>/dev/null; }
trap 'e2e_cleanup; cleanup_net' EXIT

tail_of() { tail -n 4 "$1" 2>/dev/null | tr '\n' '|' | cut -c1-400; }
# status_of PID FIELD: the value of FIELD in /proc/PID/status.
status_of() { sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status" 2>/dev/null | head -n1; }
# child_of PID: its (only) child.
child_of() { cat "/proc/$1/task/$1/children" 2>/dev/null | awk '{ print $1 }'; }

# qemu_blk SOCKET CONSOLE: the guest blk test with QEMU as the front-end.
qemu_blk() {
	e2e_run "$2" "$VM_TIMEOUT" qemu-system-x86_64 -enable-kvm -cpu host \
		-M microvm,rtc=on,memory-backend=mem0 -m 256M \
		-object memory-backend-memfd,id=mem0,size=256M,share=on \
		-chardev socket,id=vu0,path="$1" -device vhost-user-blk,chardev=vu0 \
		-smp 1 -nodefaults -no-user-config -nographic -no-reboot -serial stdio \
		-kernel "$CAPVM_VMLINUX" -initrd "$CAPVM_INITRD" -append "$(e2e_guest_cmdline blk)"
}

# ------------------------------------------------ sandboxed blk back-end
truncate -s $((64 * MIB)) "$T/disk.img"
"$CAPVM" backend blk --socket "$T/vu.sock" --image "$T/disk.img" > "$T/backend.log" 2>&1 < /dev/null &
backend=$!
E2E_PIDS+=("$backend")
if ! e2e_wait_for "$T/backend.log" "listening on" 90; then
	e2e_fail backend-starts "$(tail_of "$T/backend.log")"
	exit 1
fi
grep -a "sandbox entered" "$T/backend.log" | sed 's/^/    backend| /'
E2E_WHY=$(tail_of "$T/backend.log")
e2e_check backend-logs-sandbox grep -aq "sandbox entered: new pid/mount/net/ipc/uts namespaces" "$T/backend.log"

child=$(child_of "$backend")
if [ -z "$child" ]; then
	e2e_fail backend-child "no serving child under pid $backend"
else
	nnp=$(status_of "$child" NoNewPrivs) sec=$(status_of "$child" Seccomp)
	capeff=$(status_of "$child" CapEff) capbnd=$(status_of "$child" CapBnd)
	uid=$(status_of "$child" Uid)
	echo "    child $child: NoNewPrivs $nnp Seccomp $sec CapEff $capeff CapBnd $capbnd Uid $uid"
	[ "$nnp" = 1 ] && e2e_pass no-new-privs || e2e_fail no-new-privs "NoNewPrivs '$nnp'"
	[ "$sec" = 2 ] && e2e_pass seccomp-filter || e2e_fail seccomp-filter "Seccomp '$sec'"
	[ "$capeff" = 0000000000000000 ] && [ "$capbnd" = 0000000000000000 ] && e2e_pass no-capabilities ||
		e2e_fail no-capabilities "CapEff '$capeff' CapBnd '$capbnd'"
	[ "$(echo $uid | awk '{ print $1 }')" = 65534 ] && e2e_pass uid-nobody || e2e_fail uid-nobody "Uid '$uid'"

	# fds: stdio, the image, exactly one socket (the listening one), anon inodes.
	bad= sockets=0 listing=
	for fd in /proc/$child/fd/*; do
		n=${fd##*/} target=$(readlink "$fd")
		listing+="$n->$target "
		case $n:$target in
		[012]:*) ;;
		*:"$T/disk.img") ;;
		*:socket:*) sockets=$((sockets + 1)) ;;
		*:anon_inode:*) ;;
		*) bad+="$n->$target " ;;
		esac
	done
	echo "    child fds: $listing"
	[ -z "$bad" ] && [ "$sockets" = 1 ] && e2e_pass only-needed-fds ||
		e2e_fail only-needed-fds "unexpected: '$bad', $sockets sockets; all: $listing"

	diff_ns= same_ns=
	for ns in pid mnt net ipc uts; do
		if [ "$(readlink "/proc/$child/ns/$ns")" != "$(readlink "/proc/$backend/ns/$ns")" ]; then
			diff_ns+="$ns "
		else
			same_ns+="$ns "
		fi
	done
	[ -z "$same_ns" ] && e2e_pass own-namespaces || e2e_fail own-namespaces "shared with the parent: $same_ns"
	root_list=$(ls -A "/proc/$child/root/" 2>&1)
	[ -z "$root_list" ] && e2e_pass empty-root || e2e_fail empty-root "its / holds: $(echo $root_list | cut -c1-200)"
	# The parent holds nothing but stdio and the write end of the pipe
	# whose hang-up tells the child that its parent is gone.
	pbad= plisting=
	for fd in /proc/$backend/fd/*; do
		n=${fd##*/} target=$(readlink "$fd")
		plisting+="$n->$target "
		case $n:$target in
		[012]:*|*:pipe:*) ;;
		*) pbad+="$n->$target " ;;
		esac
	done
	[ -z "$pbad" ] && e2e_pass parent-holds-nothing || e2e_fail parent-holds-nothing "parent fds: $plisting"
fi

# ------------------------------------------- the guest's blk test, sandboxed
qemu_blk "$T/vu.sock" "$T/qemu.con"
rc=$?
cp "$T/qemu.con" "$CAPVM_OUT/backend-sandbox-qemu.console.log" 2>/dev/null
grep -a "^CAPVM-BLK" "$T/qemu.con" | sed 's/^/    guest| /'
E2E_WHY="qemu status $rc: $(tail_of "$T/qemu.con") backend: $(tail_of "$T/backend.log")"
written=$(sed -n 's/^CAPVM-BLK written \([0-9a-f]*\).*/\1/p' "$T/qemu.con" | head -n1)
readback=$(sed -n 's/^CAPVM-BLK readback \([0-9a-f]*\).*/\1/p' "$T/qemu.con" | head -n1)
if grep -aq "^CAPVM-BLK pattern-ok" "$T/qemu.con" && [ "$written" = "$want_sum" ] &&
   [ "$readback" = "$want_sum" ] && grep -aq "^CAPVM-BLK direct-read-ok" "$T/qemu.con"; then
	e2e_pass sandboxed-guest-blk-test
else
	e2e_fail sandboxed-guest-blk-test "wanted $want_sum, guest wrote '$written', read back '$readback'; $E2E_WHY"
fi
host_sum=$(dd if="$T/disk.img" bs=$MIB skip=1 count=16 2>/dev/null | md5sum | cut -d' ' -f1)
[ "$host_sum" = "$want_sum" ] && e2e_pass sandboxed-data-in-image ||
	e2e_fail sandboxed-data-in-image "image bytes 1..17 MiB have md5 $host_sum, wanted $want_sum"
kill -0 "$child" 2>/dev/null && e2e_pass sandboxed-backend-survives-frontend ||
	e2e_fail sandboxed-backend-survives-frontend "$(tail_of "$T/backend.log")"

# A hostile front-end: closed, and the next one is served (the error paths
# run inside the sandbox too).
if command -v python3 > /dev/null; then
	out=$(python3 - "$T/vu.sock" <<'PY' 2>&1
import socket, struct, sys
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sys.argv[1])
    return s
s = conn(); s.sendall(struct.pack("<III", 1, 0x2, 0)); print("version:", "closed" if s.recv(64) == b"" else "answered")
s = conn(); s.sendall(struct.pack("<IIIII", 5, 1, 8, 9, 0)); print("regions:", "closed" if s.recv(64) == b"" else "answered")
s = conn(); s.sendall(struct.pack("<III", 1, 1, 0)); r = s.recv(64); print("features:", len(r))
PY
)
	E2E_WHY="$out | backend: $(tail_of "$T/backend.log")"
	if grep -q "version: closed" <<< "$out" && grep -q "regions: closed" <<< "$out" &&
	   grep -q "features: 20" <<< "$out"; then
		e2e_pass sandboxed-hostile-frontend
	else
		e2e_fail sandboxed-hostile-frontend "$E2E_WHY"
	fi
else
	e2e_skip sandboxed-hostile-frontend "python3 not available in the test host"
fi

# SIGTERM to the parent: forwarded, both end, status 0, socket file gone.
kill -TERM "$backend" 2>/dev/null
for _ in $(seq 50); do kill -0 "$backend" 2>/dev/null || break; sleep 0.1; done
wait "$backend" 2>/dev/null
rc=$?
e2e_forget_pid "$backend"
cp "$T/backend.log" "$CAPVM_OUT/backend-sandbox-backend.log" 2>/dev/null
if [ "$rc" = 0 ] && [ ! -e "$T/vu.sock" ] && ! kill -0 "${child:-0}" 2>/dev/null; then
	e2e_pass sigterm-ends-cleanly
else
	e2e_fail sigterm-ends-cleanly "status $rc, socket $(ls "$T/vu.sock" 2>&1); $(tail_of "$T/backend.log")"
fi

# ------------------------------------------------ a forbidden system call
audit_before=$(dmesg 2>/dev/null | grep -c "type=1326.*syscall=41 ")
CAPVM_BACKEND_TEST_SYSCALL=socket "$CAPVM" backend blk --socket "$T/kill.sock" --image "$T/disk.img" \
	> "$T/kill.log" 2>&1 < /dev/null &
killed=$!
E2E_PIDS+=("$killed")
for _ in $(seq 900); do kill -0 "$killed" 2>/dev/null || break; sleep 0.1; done
wait "$killed" 2>/dev/null
rc=$?
e2e_forget_pid "$killed"
sed 's/^/    kill| /' "$T/kill.log"
if [ "$rc" = 159 ] && grep -aq "backend killed by seccomp (SIGSYS)" "$T/kill.log"; then
	e2e_pass forbidden-syscall-kills-and-logs
else
	e2e_fail forbidden-syscall-kills-and-logs "status $rc; $(tail_of "$T/kill.log")"
fi
# The kernel's audit line for the kill: "type=1326 ... sig=31 ... syscall=41".
audit_after=$(dmesg 2>/dev/null | grep -c "type=1326.*syscall=41 ")
if ! dmesg > /dev/null 2>&1; then
	e2e_skip kernel-logs-denied-call "dmesg not readable"
elif [ "${audit_after:-0}" -gt "${audit_before:-0}" ]; then
	e2e_pass kernel-logs-denied-call
	dmesg | grep "type=1326.*syscall=41 " | tail -n1 | sed 's/^/    dmesg| /'
else
	e2e_fail kernel-logs-denied-call "no new audit type=1326 line for syscall 41 in dmesg"
fi
[ ! -e "$T/kill.sock" ] && e2e_pass killed-backend-socket-removed ||
	e2e_fail killed-backend-socket-removed "$T/kill.sock is still there"

# ----------------------------------------------------- the net back-end
cleanup_net
if command -v ip > /dev/null && ip netns add "$NS" &&
   ip netns exec "$NS" ip tuntap add dev "$TAP" mode tap; then
	ip netns exec "$NS" "$CAPVM" backend net --socket "$T/vn.sock" --tap "$TAP" \
		> "$T/net.log" 2>&1 < /dev/null &
	netb=$!
	E2E_PIDS+=("$netb")
	if e2e_wait_for "$T/net.log" "listening on" 90; then
		nchild=$(child_of "$netb")
		tapfd=$(ls -l "/proc/$nchild/fd" 2>/dev/null | grep -c "/dev/net/tun")
		nsec=$(status_of "$nchild" Seccomp)
		if grep -aq "sandbox entered" "$T/net.log" && [ "$nsec" = 2 ] && [ "$tapfd" = 1 ]; then
			e2e_pass net-backend-sandboxed
		else
			e2e_fail net-backend-sandboxed "Seccomp '$nsec', $tapfd tap fds; $(tail_of "$T/net.log")"
		fi
	else
		e2e_fail net-backend-sandboxed "$E2E_WHY; $(tail_of "$T/net.log")"
	fi
	kill -TERM "$netb" 2>/dev/null
	wait "$netb" 2>/dev/null
	e2e_forget_pid "$netb"
	cleanup_net
else
	e2e_skip net-backend-sandboxed "cannot create namespace $NS with tap $TAP"
fi

# ------------------------------------------------------------ --no-sandbox
"$CAPVM" backend blk --no-sandbox --socket "$T/ns.sock" --image "$T/disk.img" > "$T/nosb.log" 2>&1 < /dev/null &
nosb=$!
E2E_PIDS+=("$nosb")
if e2e_wait_for "$T/nosb.log" "listening on" 90; then
	sec=$(status_of "$nosb" Seccomp)
	if [ "$sec" = 0 ] && grep -aq "running without a sandbox" "$T/nosb.log" && [ -z "$(child_of "$nosb")" ]; then
		e2e_pass no-sandbox-option
	else
		e2e_fail no-sandbox-option "Seccomp '$sec'; $(tail_of "$T/nosb.log")"
	fi
else
	e2e_fail no-sandbox-option "$E2E_WHY"
fi
kill -TERM "$nosb" 2>/dev/null
wait "$nosb" 2>/dev/null
e2e_forget_pid "$nosb"
exit $((E2E_FAILS > 0))
