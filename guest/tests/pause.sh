# Guest test "pause": stay up for capvm.pause=SECONDS (default 3) and power
# off.  Benchmarks use it to read the VMM's counters while the VM lives.
secs=3
for arg in $(cat /proc/cmdline); do
	case $arg in capvm.pause=*) secs=${arg#capvm.pause=} ;; esac
done
case $secs in ''|*[!0-9]*) secs=3 ;; esac
sleep "$secs"
poweroff -f
