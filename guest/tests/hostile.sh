# Guest test "hostile": attack a virtio-blk device with malformed virtqueues
# (/bin/capvm-hostile, guest/hostile/hostile.c), then check that the guest's
# other virtio devices still work.  See docs/hostile-guest.md.
#
# Expects from the VMM and the kernel command line:
#   - a disk with serial "hostile-victim" (the device attacked; this script
#     unbinds it from the kernel's virtio-mmio driver first), whose sector 0
#     starts with "capvm-hostile-victim";
#   - a writable disk /dev/vda of at least 32 MiB (the "other" block device);
#   - --rng (/dev/hwrng);
#   - memmap=2M$0x8000000 iomem=relaxed: 2 MiB of RAM at 128 MiB kept from
#     the kernel for the attacker's rings, and /dev/mem access to the device.
# Prints CAPVM-HOSTILE lines (the program's) and CAPVM-HOSTILE-OTHER lines
# that tests/e2e/virtio-blk.sh checks.
SCRATCH=0x8000000,0x200000
SERIAL=hostile-victim

say() { echo "CAPVM-HOSTILE-OTHER $*"; }

victim=
for d in /sys/block/vd*; do
	[ "$(cat "$d/serial" 2>/dev/null)" = "$SERIAL" ] && victim=${d##*/}
done
[ -n "$victim" ] || { say "FAIL no disk with serial $SERIAL"; poweroff -f; }
# The kernel's driver sees the image first: its sector 0 is what the attacker
# expects to read back after each reset.
say "victim /dev/$victim sector0 $(head -c 20 /dev/$victim)"

# /sys/block/vdX/device -> .../LNRO0005:NN/virtioN: the platform device.
pdev=$(basename "$(dirname "$(readlink -f /sys/block/$victim/device)")")
range=$(grep -m1 " : $pdev\$" /proc/iomem | sed 's/^ *//; s/ .*//')
base=0x${range%-*}
say "victim device $pdev at $range"
case $range in ?*-?*) ;; *) say "FAIL no MMIO range for $pdev in /proc/iomem"; cat /proc/iomem; poweroff -f ;; esac
grep -i "^ *0*8000000-0*81fffff " /proc/iomem | sed 's/^ */CAPVM-HOSTILE-OTHER scratch /'

# Take the device away from the guest's virtio-mmio driver (which resets it).
echo "$pdev" > /sys/bus/platform/drivers/virtio-mmio/unbind
if [ -e /sys/block/$victim ]; then
	say "FAIL /dev/$victim still present after unbinding $pdev"
else
	say "unbound $pdev"
fi

capvm-hostile --base "$base" --scratch "$SCRATCH" --serial "$SERIAL" --sector0 capvm-hostile-victim
say "program-status $?"

# The other devices: /dev/vda round trip through the device (no page cache).
yes "capvm-hostile-other-disk" | head -c 8388608 > /tmp/other
sum_w=$(md5sum < /tmp/other | cut -d' ' -f1)
if dd if=/tmp/other of=/dev/vda bs=1M seek=2 conv=fsync 2>/dev/null; then
	sync
	echo 3 > /proc/sys/vm/drop_caches
	sum_r=$(dd if=/dev/vda bs=1M skip=2 count=8 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
	if [ "$sum_w" = "$sum_r" ]; then say "vda-ok $sum_r"; else say "FAIL vda wrote $sum_w read $sum_r"; fi
else
	say "FAIL vda write failed"
fi
# /dev/hwrng: 64 bytes, not all zero.
dd if=/dev/hwrng of=/tmp/rng bs=64 count=1 2>/dev/null
od -An -v -tx1 /tmp/rng | tr -s ' ' '\n' | grep . > /tmp/rng.hex
n=$(grep -c . /tmp/rng.hex)
nz=$(grep -vc '^00$' /tmp/rng.hex)
if [ "$n" -eq 64 ] && [ "$nz" -gt 0 ]; then
	say "hwrng-ok $n bytes from $(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
else
	say "FAIL hwrng gave $n bytes ($nz non-zero)"
fi
sync
poweroff -f
