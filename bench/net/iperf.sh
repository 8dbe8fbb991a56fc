# Guest side of bench/net (installed as /tests/iperf.sh in the bench
# initramfs, run by the guest's /init for capvm.test=iperf): configures eth0
# as 10.77.0.2/24 and runs iperf3 against the peer 10.77.0.1 for
# capvm.iperf_t=SECONDS (default 8) in each direction, guest->peer ("tx")
# then peer->guest ("rx", iperf3 -R), printing one line per direction:
#   CAPVM-IPERF tx mbits=N retr=N
# and CAPVM-IPERF start / end around both runs (the host reads KVM's exit
# counters there, while the guest lives).
PEER=10.77.0.1
secs=8
for arg in $(cat /proc/cmdline); do
	case $arg in capvm.iperf_t=*) secs=${arg#capvm.iperf_t=} ;; esac
done
ip link set lo up
ip link set eth0 up
ip addr add 10.77.0.2/24 dev eth0
ping -c 1 -W 5 $PEER > /dev/null 2>&1 || echo "CAPVM-IPERF ping-failed"
echo "CAPVM-IPERF start"
sleep 1   # the host samples KVM's counters at the markers
for dir in tx rx; do
	flag=
	[ $dir = rx ] && flag=-R
	iperf3 -c $PEER -t "$secs" $flag -f m > /tmp/iperf.txt 2>&1
	mbits=$(awk '/receiver/ { for (i = 1; i <= NF; i++) if ($i == "Mbits/sec") print $(i - 1) }' /tmp/iperf.txt)
	retr=$(awk '/sender/ { print $(NF - 1) }' /tmp/iperf.txt)
	if [ -n "$mbits" ]; then
		echo "CAPVM-IPERF $dir mbits=$mbits retr=${retr:-?}"
	else
		echo "CAPVM-IPERF $dir failed: $(tail -n 2 /tmp/iperf.txt | tr '\n' ' ')"
	fi
done
echo "CAPVM-IPERF end"
sleep 2
