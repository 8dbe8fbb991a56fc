# Guest test "info": print what the guest sees, then power off.
echo "CAPVM-INFO kernel $(uname -r)"
echo "CAPVM-INFO cmdline $(cat /proc/cmdline)"
echo "CAPVM-INFO cpus $(grep -c ^processor /proc/cpuinfo) online=$(cat /sys/devices/system/cpu/online)"
grep -E '^(MemTotal|MemFree):' /proc/meminfo | sed 's/^/CAPVM-INFO /'
for d in /sys/bus/virtio/devices/*; do
	[ -e "$d/device" ] || continue
	echo "CAPVM-INFO virtio $(basename "$d") device-id=$(cat "$d/device") driver=$(basename "$(readlink "$d/driver" 2>/dev/null)" 2>/dev/null)"
done
echo "CAPVM-INFO modules $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
dmesg | grep -iE 'hypervisor detected|clocksource: Switched|ACPI: .*tables' | sed 's/^/CAPVM-INFO dmesg /'
poweroff -f
