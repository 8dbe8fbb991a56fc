#!/usr/bin/env bash
# Boots the stock Debian guest kernel on capvm's ACPI tables, without capvm:
# QEMU's software emulator (TCG, no KVM needed) runs a microvm machine with
# its own ACPI off, our tables (2 CPUs, 4 virtio-mmio devices) are loaded
# into guest RAM and named with acpi_rsdp=, and isa-debugcon devices on the
# FADT's sleep/reset ports record what the guest writes there.  Checks that
# Linux takes the tables and binds every DSDT device (serial, rtc_cmos,
# acpi-ged, pvpanic-mmio, button, virtio_mmio), that poweroff writes
# 0x80 to the sleep status and 0x34 (SLP_TYP 5 | SLP_EN) to the sleep
# control port, and that reboot=acpi writes the reset value.  See
# docs/acpi.md.
set -u
cd "$(dirname "$0")/../.."
name=acpi_stock_kernel
skip() { echo "SKIP $name: $1"; exit 0; }

kernel=build/guest/bzImage
moddir=$(ls -d build/guest/kernel/lib/modules/*/kernel 2>/dev/null | head -n1)
tool=build/tests/test_acpi
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed"
# the initramfs has no libraries: busybox must be static (ldd fails on it)
[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 \
	|| skip "no static /bin/busybox (busybox-static)"
[ -f "$kernel" ] && [ -n "$moddir" ] || skip "no guest kernel (run guest/build-images.sh)"
[ -x "$tool" ] || skip "$tool not built (make unit)"

tmp=$(mktemp -d /tmp/capvm-acpi-e2e.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
gpa=0x7000000
"$tool" --write-tables "$tmp/tables.bin" $gpa 2 4 >/dev/null || { echo "FAIL $name: cannot write tables"; exit 1; }

# initramfs: busybox, the modules that bind our devices, an /init that
# reports what bound and then powers off or reboots (mode= on the cmdline)
root=$tmp/root
mkdir -p "$root/bin" "$root/mods" "$root/proc" "$root/sys" "$root/dev" "$root/tmp"
cp /bin/busybox "$root/bin/"
for m in virtio/virtio_ring virtio/virtio virtio/virtio_mmio misc/pvpanic/pvpanic \
	 misc/pvpanic/pvpanic-mmio acpi/button; do
	f=$(ls "$moddir/drivers/$m.ko"* 2>/dev/null | head -n1)
	[ -n "$f" ] || skip "module $m not in the guest kernel"
	cp "$f" "$root/mods/"
done
cat > "$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc none /proc; mount -t sysfs none /sys; mount -t devtmpfs none /dev
for m in virtio_ring virtio virtio_mmio pvpanic pvpanic-mmio button; do
	f=$(ls /mods/$m.ko* | head -n1)
	case $f in *.xz) xz -dc $f > /tmp/m.ko; f=/tmp/m.ko ;; esac
	insmod $f || echo "MODULE-FAILED $m"
done
for d in /sys/bus/pnp/devices/* /sys/bus/platform/devices/*; do
	[ -e $d/driver ] && echo "BOUND $(basename $d) $(basename $(readlink $d/driver))"
done
grep -q "Power Button" /proc/bus/input/devices && echo "INPUT power-button"
echo "RTC $(cat /sys/class/rtc/rtc0/name 2>/dev/null)"
case $(cat /proc/cmdline) in
*mode=reboot*) reboot -f ;;
*) poweroff -f ;;
esac
sleep 1000
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip) > "$tmp/initrd.gz"

khz=$(awk '/cpu MHz/ { printf "%d", $4 * 1000; exit }' /proc/cpuinfo)
# boot MODE EXTRA-CMDLINE: QEMU stops itself on reboot (-no-reboot); after
# poweroff the guest idles (QEMU has nothing behind port 0x600), so the
# timeout ends that one.
boot() {
	local mode=$1 extra=$2
	timeout 150 qemu-system-x86_64 -accel tcg -cpu EPYC -m 512 -smp 2 \
		-M microvm,acpi=off,rtc=on -nodefaults -no-user-config -nographic \
		-serial stdio -no-reboot -device pvpanic \
		-chardev file,id=p0,path="$tmp/$mode-600.bin" -device isa-debugcon,iobase=0x600,chardev=p0 \
		-chardev file,id=p1,path="$tmp/$mode-601.bin" -device isa-debugcon,iobase=0x601,chardev=p1 \
		-chardev file,id=p2,path="$tmp/$mode-602.bin" -device isa-debugcon,iobase=0x602,chardev=p2 \
		-kernel "$kernel" -initrd "$tmp/initrd.gz" \
		-device loader,file="$tmp/tables.bin",addr=$gpa,force-raw=on \
		-append "console=ttyS0 acpi_rsdp=$gpa memmap=64K\$$gpa ${khz:+tsc_early_khz=$khz} panic=-1 mode=$mode $extra" \
		> "$tmp/$mode.log" 2>&1 &
}
# a grace period after the guest's power-off write before the timeout kills it
boot poweroff ""; p1=$!
boot reboot "reboot=acpi"; p2=$!
for _ in $(seq 150); do
	[ -s "$tmp/poweroff-600.bin" ] && break
	kill -0 $p1 2>/dev/null || break
	sleep 1
done
sleep 2
kill $p1 2>/dev/null
wait $p1 $p2

mkdir -p build/test-logs
cp "$tmp/poweroff.log" build/test-logs/e2e-acpi-poweroff-console.log
cp "$tmp/reboot.log" build/test-logs/e2e-acpi-reboot-console.log
log=$tmp/poweroff.log
fails=0
check() {  # check WHAT CONDITION...
	local what=$1; shift
	if "$@"; then echo "PASS $name/$what"; else echo "FAIL $name/$what"; fails=$((fails + 1)); fi
}
has() { grep -aq -- "$1" "$log"; }
hex() { od -An -tx1 "$1" 2>/dev/null | tr -d ' \n'; }
check tables_loaded has "ACPI: DSDT 0x0000000007000"
check madt_smp has "Using ACPI (MADT) for SMP"
check no_acpi_errors bash -c "! grep -aE 'ACPI (BIOS )?(Error|Warning)' '$log'"
check s5_supported has "supports S0 S5"
check serial_bound has "BOUND 00:00 serial"
check rtc_cmos_bound has "BOUND 00:01 rtc_cmos"
check rtc0 has "RTC rtc_cmos"
check ged_bound has "BOUND ACPI0013:00 acpi-ged"
check pvpanic_bound has "BOUND QEMU0001:00 pvpanic-mmio"
check power_button has "INPUT power-button"
check virtio_mmio_probed test "$(grep -ac 'virtio-mmio LNRO0005:0[0-3]' "$log")" -eq 4
check poweroff_sleep_status test "$(hex "$tmp/poweroff-601.bin")" = 80
check poweroff_sleep_control test "$(hex "$tmp/poweroff-600.bin")" = 34
check reboot_reset_register bash -c "[[ '$(hex "$tmp/reboot-602.bin")' == 42* ]]"
[ $fails -eq 0 ] || echo "  consoles in build/test-logs/e2e-acpi-*-console.log"
exit $((fails > 0))
