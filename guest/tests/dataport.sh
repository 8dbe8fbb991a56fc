# Guest test "dataport": share a pattern through a dataport (issue 4).
# Kernel command line: capvm.dp=ADDR (guest-physical address of the
# dataport in this VM) and capvm.role=writer|reader|prober.
#   writer  writes a pattern at ADDR and waits for the reader's ack at ADDR+64
#   reader  waits for the pattern, checks it, writes the ack
#   prober  (a VM not named on the connection) reads ADDR: no memory there
# Prints CAPVM-DP lines; tests/e2e/system.sh checks them.
dp= role=
for arg in $(cat /proc/cmdline); do
	case $arg in
	capvm.dp=*) dp=${arg#capvm.dp=} ;;
	capvm.role=*) role=${arg#capvm.role=} ;;
	esac
done
grep -i "$(printf '%x' $((dp)))" /proc/iomem | sed 's/^/CAPVM-DP iomem /'
# 16 words: 0xCA5E0000 + i
pattern_ok() {
	i=0
	while [ $i -lt 16 ]; do
		v=$(devmem $((dp + i * 4)) 32)
		[ $((v)) -eq $((0xCA5E0000 + i)) ] || return 1
		i=$((i + 1))
	done
}
case $role in
writer)
	i=0
	while [ $i -lt 16 ]; do devmem $((dp + i * 4)) 32 $((0xCA5E0000 + i)); i=$((i + 1)); done
	pattern_ok && echo "CAPVM-DP wrote"
	n=0
	while [ $n -lt 120 ]; do
		[ $(($(devmem $((dp + 64)) 32))) -eq $((0xACC0FFEE)) ] && { echo "CAPVM-DP acked"; break; }
		sleep 1; n=$((n + 1))
	done ;;
reader)
	n=0
	while [ $n -lt 120 ]; do
		if pattern_ok; then
			echo "CAPVM-DP read-ok"
			devmem $((dp + 64)) 32 $((0xACC0FFEE))
			break
		fi
		sleep 1; n=$((n + 1))
	done ;;
prober)
	echo "CAPVM-DP probe $(devmem $dp 32)" ;;
esac
