# Guest test "blk": exercise virtio-blk with the guest's own driver.
# Expects disk 0 (/dev/vda) writable and at least 64 MiB, disk 1 (/dev/vdb,
# optional) read-only.  Prints CAPVM-BLK lines that tests/e2e/virtio.sh checks.
ls /dev/vd* 2>/dev/null | sed 's/^/CAPVM-BLK dev /'
[ -b /dev/vda ] || { echo "CAPVM-BLK FAIL no /dev/vda"; poweroff -f; }
echo "CAPVM-BLK size $(cat /sys/block/vda/size)"
echo "CAPVM-BLK serial $(cat /sys/block/vda/serial 2>/dev/null)"
# a known pattern: 16 MiB of a repeating text, at offset 1 MiB
yes "capvm-pattern-0123456789" | head -c 16777216 > /tmp/pattern
sum_w=$(md5sum < /tmp/pattern | cut -d' ' -f1)
dd if=/tmp/pattern of=/dev/vda bs=1M seek=1 conv=fsync 2>/dev/null && echo "CAPVM-BLK written $sum_w"
sync
echo 3 > /proc/sys/vm/drop_caches
sum_r=$(dd if=/dev/vda bs=1M skip=1 count=16 2>/dev/null | md5sum | cut -d' ' -f1)
echo "CAPVM-BLK readback $sum_r"
[ "$sum_w" = "$sum_r" ] && echo "CAPVM-BLK pattern-ok" || echo "CAPVM-BLK pattern-mismatch"
# O_DIRECT reads of many 4 KiB blocks in parallel
dd if=/dev/vda of=/dev/null bs=4k count=2048 iflag=direct 2>/dev/null && echo "CAPVM-BLK direct-read-ok"
# discard the last 32 MiB (blkdiscard from busybox if present)
if command -v blkdiscard >/dev/null 2>&1; then
	sz=$(($(cat /sys/block/vda/size) * 512))
	blkdiscard -o $((sz - 33554432)) -l 33554432 /dev/vda && echo "CAPVM-BLK discard-ok"
fi
if [ -b /dev/vdb ]; then
	echo "CAPVM-BLK vdb-ro $(cat /sys/block/vdb/ro)"
	if dd if=/tmp/pattern of=/dev/vdb bs=4k count=1 oflag=direct 2>/dev/null; then
		echo "CAPVM-BLK vdb-write-accepted"
	else
		echo "CAPVM-BLK vdb-write-refused"
	fi
fi
poweroff -f
