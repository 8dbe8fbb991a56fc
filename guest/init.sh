#!/bin/sh
# /init of the capvm guest initramfs (built by guest/build-images.sh).
#
# Mounts the kernel filesystems, loads the virtio drivers listed in
# /etc/capvm-modules, prints the markers that tests and benchmarks wait for,
#   CAPVM-GUEST-INIT
#   CAPVM-GUEST-INFO cpus=<online CPUs> mem_kb=<MemTotal>
# then runs the guest test named by capvm.test=NAME on the kernel command
# line (/tests/NAME.sh; default "poweroff") and powers the VM off.
export PATH=/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts

while read -r name path; do
	case $path in
	builtin) ;;
	missing) echo "capvm-init: module $name is not in this image, skipped" ;;
	*) insmod "$path" 2>/dev/null || echo "capvm-init: loading module $name failed, skipped" ;;
	esac
done < /etc/capvm-modules

# The ACPI power button (capvm's system_powerdown, `capvm system down`)
# reaches user space as an input event; busybox acpid turns it into a
# power-off.
mkdir -p /etc/acpi/PWRF /var/log /var/run
printf '#!/bin/sh\necho "CAPVM-GUEST-POWERBUTTON" > /dev/console\nsync\npoweroff -f\n' > /etc/acpi/PWRF/00000080
chmod +x /etc/acpi/PWRF/00000080
acpid -c /etc/acpi -l /dev/null 2>/dev/null

echo "CAPVM-GUEST-INIT"

# Online CPUs: /sys/devices/system/cpu/online is a list like "0-3,6".
cpus=0
for r in $(tr ',' ' ' < /sys/devices/system/cpu/online); do
	case $r in
	*-*) cpus=$((cpus + ${r#*-} - ${r%-*} + 1)) ;;
	*) cpus=$((cpus + 1)) ;;
	esac
done
mem_kb=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)
echo "CAPVM-GUEST-INFO cpus=$cpus mem_kb=$mem_kb"

test=poweroff
for arg in $(cat /proc/cmdline); do
	case $arg in capvm.test=*) test=${arg#capvm.test=} ;; esac
done
case $test in
''|*[!A-Za-z0-9_-]*)
	echo "CAPVM-GUEST-ERROR bad test name '$test'" ;;
*)
	if [ -f "/tests/$test.sh" ]; then
		echo "CAPVM-GUEST-TEST $test"
		sh "/tests/$test.sh"
		echo "CAPVM-GUEST-TEST-DONE $test status=$?"
	else
		echo "CAPVM-GUEST-ERROR no guest test '$test' (/tests/$test.sh)"
	fi ;;
esac
sync
poweroff -f
# poweroff should not return; never let init exit (that panics the kernel).
while :; do sleep 3600; done
