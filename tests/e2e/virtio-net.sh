#!/usr/bin/env bash
# End-to-end checks of virtio-net, virtio-console and virtio-rng with the
# stock Debian guest's own drivers (issue 3), in ONE test host run:
#   - the guest's eth0 sits on a tap that lives in a network namespace
#     (capvmtest-peer) this test creates; the namespace side of the tap is
#     the peer 10.77.0.1/24 (nothing leaves the namespace).  The guest pings
#     the peer and moves 8 MiB each way with busybox nc; md5sums must match;
#   - hvc0 (--virtio-console unix:SOCK) carries a login-free shell: the test
#     types a command into the socket and reads the shell's answer back;
#   - /dev/hwrng (--rng) yields 64 bytes.
# capvm runs inside the namespace (ip netns exec) so it sees the tap there.
. "$(dirname "$0")/lib.sh"
e2e_enter_kvm --timeout 420 -- "$0" "$@"

NS=capvmtest-peer
TAP=capvmtap0
T=$E2E_TMP
OUT=$CAPVM_OUT

for tool in ip busybox md5sum nc.openbsd; do
	if ! command -v "$tool" > /dev/null; then
		e2e_skip setup "$tool is not installed"
		exit 0
	fi
done

cleanup_net() {
	ip netns del "$NS" 2>/dev/null
}
trap 'cleanup_net; e2e_cleanup' EXIT

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

# Peer side: one receiver (guest -> peer) and one sender (peer -> guest).
head -c 8388608 /dev/urandom > "$T/send.bin"
send_md5=$(md5sum < "$T/send.bin" | cut -d' ' -f1)
# (-e: the program owns the connection, so neither side sees an early EOF
# from the other's idle stdin; busybox nc exits on the first EOF it reads.)
ip netns exec "$NS" timeout 300 busybox nc -l -p 5000 -e sh -c "cat > '$T/recv.bin'" \
	< /dev/null > /dev/null 2> "$T/nc-recv.err" &
E2E_PIDS+=($!)
ip netns exec "$NS" timeout 300 busybox nc -l -p 5001 -e cat "$T/send.bin" \
	< /dev/null > /dev/null 2> "$T/nc-send.err" &
E2E_PIDS+=($!)

serial=$T/serial.txt sock=$T/hvc0.sock
: > "$serial"
ip netns exec "$NS" timeout -k 5 300 "$CAPVM" run --kernel "$CAPVM_VMLINUX" --initrd "$CAPVM_INITRD" \
	--mem 256M --cmdline "$(e2e_guest_cmdline net)" --console "file:$serial" \
	--net "tap=$TAP,mac=52:54:00:77:00:02" --virtio-console "unix:$sock" --rng \
	> "$T/capvm.log" 2>&1 &
vmpid=$!
E2E_PIDS+=($vmpid)

# hvc0's socket: connect early (output with no client is dropped), type
# the shell's commands once the guest says the shell is starting.
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
mkfifo "$T/hvc-in"
nc.openbsd -U "$sock" < "$T/hvc-in" > "$T/hvc0.out" 2>&1 &
E2E_PIDS+=($!)
exec {hvc_w}> "$T/hvc-in"
typed=0
while kill -0 "$vmpid" 2>/dev/null; do
	if [ $typed -eq 0 ] && grep -q 'CAPVM-HVC0 present' "$serial"; then
		sleep 2
		printf 'echo CAPVM-HVC0-SHELL $((6*7)) $(uname -s)\nexit\n' >&$hvc_w
		typed=1
	fi
	sleep 0.5
done
wait "$vmpid"; rc=$?
exec {hvc_w}>&-
sleep 1
cp "$serial" "$OUT/virtio-net-serial.log"; cp "$T/capvm.log" "$OUT/virtio-net-capvm.log"
cp "$T/hvc0.out" "$OUT/virtio-net-hvc0.log" 2>/dev/null
grep -a '^CAPVM-' "$serial" | sed 's/^/info: /'

E2E_WHY="capvm exit status $rc: $(tail -n 3 "$T/capvm.log" | tr '\n' '|')"
e2e_check vm-ran [ "$rc" = 0 ]
E2E_WHY="$(grep -a 'CAPVM-NET' "$serial" | head -n 3 | tr '\n' '|')"
e2e_check guest-eth0 grep -aq '^CAPVM-NET mac 52:54:00:77:00:02' "$serial"
E2E_WHY="$(grep -a 'CAPVM-NET ping' "$serial")"
e2e_check ping-peer grep -aq '^CAPVM-NET ping-ok' "$serial"
got=$(md5sum < "$T/recv.bin" | cut -d' ' -f1)
sent=$(sed -n 's/^CAPVM-NET sent-md5 \([0-9a-f]*\).*/\1/p' "$serial")
E2E_WHY="guest sent $sent, peer got $got ($(wc -c < "$T/recv.bin") bytes)"
e2e_check tcp-guest-to-peer-8MiB [ "${sent:-none}" = "$got" ]
recv=$(sed -n 's/^CAPVM-NET recv-md5 \([0-9a-f]*\).*/\1/p' "$serial")
E2E_WHY="peer sent $send_md5, guest got $recv ($(grep -a 'recv-md5' "$serial"))"
e2e_check tcp-peer-to-guest-8MiB [ "$recv" = "$send_md5" ]
E2E_WHY="$(grep -a 'CAPVM-RNG' "$serial")"
e2e_check hwrng-64-bytes grep -aq '^CAPVM-RNG bytes 64' "$serial"
E2E_WHY="hvc0 output: $(tr -d '\r' < "$T/hvc0.out" | tr '\n' '|' | cut -c1-300)"
e2e_check hvc0-output grep -aq 'CAPVM-HVC0 hello from the guest' "$T/hvc0.out"
e2e_check hvc0-shell grep -aq 'CAPVM-HVC0-SHELL 42 Linux' "$T/hvc0.out"
E2E_WHY="$(grep -a 'shell-exited' "$serial")"
e2e_check hvc0-shell-exited grep -aq 'CAPVM-HVC0 shell-exited status=0' "$serial"
[ $E2E_FAILS -eq 0 ]
