#!/usr/bin/env bash
# End-to-end checks of vhost-user-net (issue 5), in one test host run:
#   - QEMU 7.2 as the front-end (microvm, guest RAM in a shared memfd,
#     -netdev vhost-user + virtio-net-device) and `capvm backend net` as the
#     back-end, on a tap that lives in a network namespace (capvmtest-vun)
#     this test creates; the namespace side of the tap is the peer
#     10.77.0.1/24 and nothing leaves the namespace.  The guest's net test
#     (guest/tests/net.sh) pings the peer and moves 8 MiB each way over TCP
#     with busybox nc; the md5sums must match.
#   - the back-end survives the front-end's exit and serves a second QEMU
#     (reconnect: rings, memory table and tap offloads set up again), whose
#     VM is stopped and continued 12 times (HMP stop/cont) while the guest
#     pings and sends: each stop takes the rings from the back-end
#     (GET_VRING_BASE) and each cont gives them back; the receive buffers
#     the back-end held must return to the guest, or its receive ring
#     starves and the peer -> guest transfer fails.
#   - the capvm VMM as the front-end (capvm run --net vhost-user=SOCK):
#     the same guest test with mem=shared (the back-end maps guest RAM and
#     gets the KVM eventfds) and with mem=isolated (the back-end sees only a
#     bounce window); the guest's MAC is the back-end's (GET_CONFIG).
#   - the back-end closes the connection of a hostile front-end (a vring
#     index that does not exist) and stays up.
# Set CAPVM_E2E_VUN_PARTS to a subset of "qemu qemu2 capvm capvm-isolated
# hostile" to run fewer.
. "$(dirname "$0")/lib.sh"
e2e_enter_kvm --timeout 1100 -- "$0" "$@"

NS=capvmtest-vun
TAP=capvmvun0
T=$E2E_TMP
OUT=$CAPVM_OUT
VM_TIMEOUT=${CAPVM_E2E_VM_TIMEOUT:-240}
PARTS=" ${CAPVM_E2E_VUN_PARTS:-qemu qemu2 capvm capvm-isolated hostile} "
want() { [[ $PARTS == *" $1 "* ]]; }
BACKEND_MAC=52:54:00:77:00:09

if [ ! -x "$CAPVM" ]; then
	e2e_fail capvm-binary "$CAPVM does not exist (make all)"
	exit 1
fi
for tool in qemu-system-x86_64 ip busybox md5sum; do
	if ! command -v "$tool" > /dev/null; then
		e2e_skip setup "$tool is not installed"
		exit 0
	fi
done

tail_of() { tail -n 4 "$1" 2>/dev/null | tr '\n' '|' | cut -c1-400; }
cleanup_net() { ip netns del "$NS" 2>/dev/null; }
trap 'e2e_cleanup; cleanup_net' EXIT

# The namespace and its tap (created inside it, so only it sees the address).
cleanup_net
if ! ip netns add "$NS" ||
   ! ip netns exec "$NS" ip tuntap add dev "$TAP" mode tap ||
   ! ip netns exec "$NS" ip addr add 10.77.0.1/24 dev "$TAP" ||
   ! ip netns exec "$NS" ip link set "$TAP" up ||
   ! ip netns exec "$NS" ip link set lo up; then
	e2e_fail setup "cannot create namespace $NS with tap $TAP"
	exit 1
fi
e2e_pass setup

# The back-end opens the tap inside the namespace.
ip netns exec "$NS" "$CAPVM" backend net --socket "$T/vn.sock" --tap "$TAP,mac=$BACKEND_MAC" \
	> "$T/backend.log" 2>&1 < /dev/null &
backend=$!
E2E_PIDS+=("$backend")
if ! e2e_wait_for "$T/backend.log" "listening on" 20; then
	e2e_fail backend-starts "$(tail_of "$T/backend.log")"
	exit 1
fi
e2e_pass backend-starts

head -c 8388608 /dev/urandom > "$T/send.bin"
send_md5=$(md5sum < "$T/send.bin" | cut -d' ' -f1)

# stop_cont_cycles CONSOLE MONITOR N: once the guest's eth0 is up, N times
# HMP "stop", 0.3 s, "cont", 1 s; prints "stop-cont N" when done.
stop_cont_cycles() {
	python3 - "$@" <<'PY'
import socket, sys, time
con, mon, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
deadline = time.time() + 200
while time.time() < deadline:
    try:
        if b"CAPVM-NET mac" in open(con, "rb").read():
            break
    except OSError:
        pass
    time.sleep(0.2)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(mon)
s.settimeout(5)
done = 0
for _ in range(n):
    s.sendall(b"stop\n"); time.sleep(0.3)
    s.sendall(b"cont\n"); time.sleep(1.0)
    done += 1
print("stop-cont", done)
PY
}

# run_guest TAG MAC [STOPS [FRONTEND]]: one run of the guest's net test,
# with a fresh peer (receiver on :5000, sender on :5001) in the namespace.
# FRONTEND: qemu (default; with STOPS, the VM is stopped and continued that
# many times meanwhile), capvm-shared or capvm-isolated.  MAC: the address
# the guest must see.
run_guest() {
	local tag=$1 mac=$2 stops=${3:-0} fe=${4:-qemu} con=$T/vm-$1.con rc mon=() cycler=''
	rm -f "$T/recv.bin"
	# (-e: the program owns the connection, so neither side sees an early
	# EOF from the other's idle stdin; busybox nc exits on the first EOF.)
	ip netns exec "$NS" timeout 300 busybox nc -l -p 5000 -e sh -c "cat > '$T/recv.bin'" \
		< /dev/null > /dev/null 2> "$T/nc-recv.err" &
	local r1=$!
	ip netns exec "$NS" timeout 300 busybox nc -l -p 5001 -e cat "$T/send.bin" \
		< /dev/null > /dev/null 2> "$T/nc-send.err" &
	local r2=$!
	E2E_PIDS+=("$r1" "$r2")
	: > "$con"
	if [ "$stops" -gt 0 ]; then
		mon=(-monitor "unix:$T/mon-$tag.sock,server=on,wait=off")
		stop_cont_cycles "$con" "$T/mon-$tag.sock" "$stops" > "$T/stops-$tag.txt" 2>&1 &
		cycler=$!
		E2E_PIDS+=("$cycler")
	fi
	case $fe in
	qemu)
		e2e_run "$con" "$VM_TIMEOUT" qemu-system-x86_64 -enable-kvm -cpu host \
			-M microvm,rtc=on,memory-backend=mem0 -m 256M \
			-object memory-backend-memfd,id=mem0,size=256M,share=on \
			-chardev socket,id=vn0,path="$T/vn.sock" -netdev vhost-user,id=n0,chardev=vn0 \
			-device virtio-net-device,netdev=n0,mac="$mac" \
			-smp 1 -nodefaults -no-user-config -nographic -no-reboot -serial stdio "${mon[@]}" \
			-kernel "$CAPVM_VMLINUX" -initrd "$CAPVM_INITRD" -append "$(e2e_guest_cmdline net)"
		rc=$? ;;
	capvm-*)
		e2e_run "$T/vm-$tag.log" "$VM_TIMEOUT" "$CAPVM" run --kernel "$CAPVM_VMLINUX" \
			--initrd "$CAPVM_INITRD" --mem 256M --cmdline "$(e2e_guest_cmdline net)" \
			--console "file:$con" --net "vhost-user=$T/vn.sock,mem=${fe#capvm-}"
		rc=$?
		cp "$T/vm-$tag.log" "$OUT/vhost-user-net-$tag.capvm.log" 2>/dev/null ;;
	esac
	kill "$r1" "$r2" 2>/dev/null
	wait "$r1" "$r2" 2>/dev/null
	e2e_forget_pid "$r1"; e2e_forget_pid "$r2"
	if [ -n "$cycler" ]; then
		kill "$cycler" 2>/dev/null
		wait "$cycler" 2>/dev/null
		e2e_forget_pid "$cycler"
		E2E_WHY="$(tr '\n' '|' < "$T/stops-$tag.txt" | cut -c1-300)"
		e2e_check "$tag-stop-cont-$stops-times" grep -q "^stop-cont $stops" "$T/stops-$tag.txt"
		# The guest's receive "frame" errors count empty buffers handed back
		# (the fallback); with Linux's driver the back-end rewinds instead.
		local frame
		frame=$(sed -n 's/^CAPVM-NET dev *eth0:/eth0: /p' "$con" | awk '{ print $7 }')
		E2E_WHY="guest eth0 rx frame errors: '${frame:-none}'"
		e2e_check "$tag-rx-buffers-rewound-not-emptied" [ "${frame:-x}" = 0 ]
	fi
	cp "$con" "$OUT/vhost-user-net-$tag.console.log" 2>/dev/null
	grep -a '^CAPVM-NET' "$con" | sed "s/^/    guest-$tag| /"

	E2E_WHY="$fe status $rc: $(tail_of "$con") $(tail_of "$T/vm-$tag.log") backend: $(tail_of "$T/backend.log")"
	e2e_check "$tag-guest-eth0" grep -aq "^CAPVM-NET mac $mac" "$con"
	E2E_WHY="$(grep -a 'CAPVM-NET ping' "$con") backend: $(tail_of "$T/backend.log")"
	e2e_check "$tag-ping-peer" grep -aq '^CAPVM-NET ping-ok' "$con"
	local got sent recv
	got=$(md5sum < "$T/recv.bin" 2>/dev/null | cut -d' ' -f1)
	sent=$(sed -n 's/^CAPVM-NET sent-md5 \([0-9a-f]*\).*/\1/p' "$con")
	E2E_WHY="guest sent ${sent:-nothing}, peer got $got ($(wc -c < "$T/recv.bin" 2>/dev/null) bytes)"
	e2e_check "$tag-tcp-guest-to-peer-8MiB" [ "${sent:-none}" = "$got" ]
	recv=$(sed -n 's/^CAPVM-NET recv-md5 \([0-9a-f]*\).*/\1/p' "$con")
	E2E_WHY="peer sent $send_md5, guest got ${recv:-nothing} ($(grep -a 'recv-md5' "$con"))"
	e2e_check "$tag-tcp-peer-to-guest-8MiB" [ "$recv" = "$send_md5" ]
	# transfer times (guest uptime stamps), for the report
	sed -n 's/^CAPVM-NET send-done start=\([0-9.]*\) end=\([0-9.]*\).*/\1 \2/p' "$con" |
		awk -v t="$tag" '{ if ($2 > $1) printf "info: %s guest->peer 8 MiB in %.2f s (%.1f MiB/s)\n", t, $2-$1, 8/($2-$1) }'
	sed -n 's/^CAPVM-NET recv-md5 .* start=\([0-9.]*\) end=\([0-9.]*\).*/\1 \2/p' "$con" |
		awk -v t="$tag" '{ if ($2 > $1) printf "info: %s peer->guest 8 MiB in %.2f s (%.1f MiB/s)\n", t, $2-$1, 8/($2-$1) }'
}

# ------------------------------------------- QEMU front-end, capvm back-end
if want qemu; then
	run_guest qemu 52:54:00:77:00:02
	kill -0 "$backend" 2>/dev/null && e2e_pass backend-survives-frontend-exit ||
		e2e_fail backend-survives-frontend-exit "$(tail_of "$T/backend.log")"
fi

# ------------------------------------------- a second front-end (reconnect)
if ! want qemu2; then
	:
elif command -v python3 > /dev/null; then
	run_guest qemu2 52:54:00:77:00:03 12
else
	e2e_skip stop-cont "python3 not available in the test host"
	run_guest qemu2 52:54:00:77:00:03
fi

# ------------------------------------------- capvm front-end, capvm back-end
want capvm && run_guest capvm "$BACKEND_MAC" 0 capvm-shared
want capvm-isolated && run_guest capvm-isolated "$BACKEND_MAC" 0 capvm-isolated
if want capvm || want capvm-isolated; then
	kill -0 "$backend" 2>/dev/null && e2e_pass backend-survives-capvm-frontends ||
		e2e_fail backend-survives-capvm-frontends "$(tail_of "$T/backend.log")"
fi

# ------------------------------------------------- hostile front-end
# SET_VRING_NUM for ring 7 (net has rings 0 and 1): the connection is closed.
if ! want hostile; then
	:
elif command -v python3 > /dev/null; then
	out=$(python3 - "$T/vn.sock" <<'PY' 2>&1
import socket, struct, sys
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sys.argv[1])
    return s
s = conn(); s.sendall(struct.pack("<IIIII", 8, 1, 8, 7, 256)); print("ring:", "closed" if s.recv(64) == b"" else "answered")
s = conn(); s.sendall(struct.pack("<III", 1, 1, 0)); r = s.recv(64)
print("features:", len(r), hex(struct.unpack("<Q", r[12:20])[0]) if len(r) == 20 else "")
PY
)
	echo "$out" | sed 's/^/    hostile| /'
	E2E_WHY="$out | backend: $(tail_of "$T/backend.log")"
	e2e_check backend-closes-bad-ring grep -q "ring: closed" <<< "$out"
	e2e_check backend-serves-after-hostile grep -q "features: 20" <<< "$out"
else
	e2e_skip backend-hostile-frontend "python3 not available in the test host"
fi
kill "$backend" 2>/dev/null
wait "$backend" 2>/dev/null
e2e_forget_pid "$backend"
cp "$T/backend.log" "$OUT/vhost-user-net-backend.log" 2>/dev/null
grep -a "rx .* packets" "$T/backend.log" | sed 's/^/info: backend /'
[ $E2E_FAILS -eq 0 ]
