# Guest test "net": virtio-net, virtio-console and virtio-rng with the
# guest's own drivers.  Used by tests/e2e/virtio-net.sh, which boots the
# guest with --net on a tap whose other end (10.77.0.1/24) lives in a
# network namespace of the test host, --virtio-console unix:SOCK and --rng.
#   eth0 gets 10.77.0.2/24; ping 10.77.0.1; send 8 MiB to 10.77.0.1:5000
#   and fetch a file from 10.77.0.1:5001 with busybox nc, printing md5sums;
#   read 64 bytes from /dev/hwrng; run a shell on /dev/hvc0 that takes its
#   commands from the host (through the console's unix socket).
# Prints CAPVM-NET / CAPVM-RNG / CAPVM-HVC0 lines that the e2e test checks.
PEER=10.77.0.1
ls /sys/class/net | tr '\n' ' ' | sed 's/^/CAPVM-NET interfaces /'; echo
if [ ! -d /sys/class/net/eth0 ]; then
	echo "CAPVM-NET FAIL no eth0"
else
	echo "CAPVM-NET mac $(cat /sys/class/net/eth0/address) mtu $(cat /sys/class/net/eth0/mtu)"
	ip link set lo up
	ip link set eth0 up
	ip addr add 10.77.0.2/24 dev eth0
	# the link is up at once (STATUS feature); the first ping may wait for ARP
	if ping -c 3 -W 3 $PEER > /tmp/ping.txt 2>&1; then
		echo "CAPVM-NET ping-ok $(grep -o '[0-9]* packets received' /tmp/ping.txt)"
	else
		echo "CAPVM-NET ping-failed $(tail -n 2 /tmp/ping.txt | tr '\n' ' ')"
	fi
	# guest -> peer
	dd if=/dev/urandom of=/tmp/out.bin bs=1M count=8 2>/dev/null
	echo "CAPVM-NET sent-md5 $(md5sum < /tmp/out.bin | cut -d' ' -f1)"
	t0=$(cut -d' ' -f1 /proc/uptime)
	if timeout 120 nc $PEER 5000 < /tmp/out.bin > /dev/null; then
		echo "CAPVM-NET send-done start=$t0 end=$(cut -d' ' -f1 /proc/uptime)"
	else
		echo "CAPVM-NET send-failed"
	fi
	# peer -> guest
	t0=$(cut -d' ' -f1 /proc/uptime)
	timeout 120 nc $PEER 5001 < /dev/null > /tmp/in.bin
	echo "CAPVM-NET recv-md5 $(md5sum < /tmp/in.bin | cut -d' ' -f1) size=$(wc -c < /tmp/in.bin) start=$t0 end=$(cut -d' ' -f1 /proc/uptime)"
	cat /proc/net/dev | grep eth0 | sed 's/^/CAPVM-NET dev /'
fi
rm -f /tmp/out.bin /tmp/in.bin

if [ -c /dev/hwrng ]; then
	echo "CAPVM-RNG bytes $(dd if=/dev/hwrng bs=64 count=1 2>/dev/null | wc -c) rng=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
else
	echo "CAPVM-RNG FAIL no /dev/hwrng"
fi

if [ -c /dev/hvc0 ]; then
	echo "CAPVM-HVC0 present"
	echo "CAPVM-HVC0 hello from the guest" > /dev/hvc0
	# A login-free shell on hvc0: the host types commands, reads the output.
	timeout 60 sh -i < /dev/hvc0 > /dev/hvc0 2>&1
	echo "CAPVM-HVC0 shell-exited status=$?"
else
	echo "CAPVM-HVC0 FAIL no /dev/hvc0"
fi
