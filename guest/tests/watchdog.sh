# Guest test "watchdog": start the ib700 watchdog (ib700wdt) with busybox's
# watchdog daemon (timeout capvm.wdt_timeout=S from the kernel command line,
# default 4 s; a pet every second), let it pet for a few seconds, then kill
# the daemon with SIGKILL: the driver sees an unexpected close (no magic 'V')
# and leaves the watchdog running, so nothing pets it any more.  The host
# must act within the timeout; the guest just waits.  With capvm.wdt_pet=forever
# on the command line the daemon keeps petting (a healthy VM).
T=4 pet=5
for arg in $(cat /proc/cmdline); do
	case $arg in
	capvm.wdt_timeout=*) T=${arg#capvm.wdt_timeout=} ;;
	capvm.wdt_pet=forever) pet=forever ;;
	esac
done
if [ ! -c /dev/watchdog ]; then
	echo "CAPVM-WDT-ERROR no /dev/watchdog"
	dmesg | grep -i -e ib700 -e watchdog
	exit 1
fi
watchdog -F -T "$T" -t 1 /dev/watchdog &
pid=$!
echo "CAPVM-WDT-STARTED timeout=$T pid=$pid"
if [ "$pet" = forever ]; then
	wait "$pid"
	echo "CAPVM-WDT-ERROR the watchdog daemon ended"
	exit 1
fi
sleep 5
kill -9 "$pid"
wait "$pid" 2>/dev/null
echo "CAPVM-WDT-STOP-PETTING"
dmesg | grep -i -e ib700 -e 'watchdog' | tail -n 3 | sed 's/^/CAPVM-WDT-DMESG /'
sleep 600
echo "CAPVM-WDT-STILL-ALIVE"
