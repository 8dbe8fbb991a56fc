# Guest test "resize": print the size of /dev/vda in sectors, wait up to 90 s
# for the VMM to grow the disk (monitor block_resize: a configuration change
# interrupt), then print the new size, whether the kernel logged the
# capacity change, and whether the new last sector reads; then power off.
size=/sys/block/vda/size
old=$(cat "$size")
echo "CAPVM-RESIZE size $old"
new=$old
i=0
while [ "$new" = "$old" ] && [ $i -lt 900 ]; do
	sleep 0.1
	new=$(cat "$size")
	i=$((i + 1))
done
echo "CAPVM-RESIZE new-size $new"
dmesg | grep -q "vda.*capacity change" && echo "CAPVM-RESIZE kernel-noticed"
dd if=/dev/vda of=/dev/null bs=512 skip=$((new - 1)) count=1 iflag=direct 2>/dev/null &&
	echo "CAPVM-RESIZE last-sector-ok"
poweroff -f
