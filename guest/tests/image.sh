# Guest test "image": the guest side of tests/e2e/images.sh (capvm image
# backup / restore / update).
#
# Disk 0 (/dev/vda) is a good image when its first sector starts with
# "CAPVM-IMAGE-OK"; on any other disk the guest prints "CAPVM-IMAGE
# bad-disk" and powers off at once (how a broken image shows: the VM never
# becomes ready and keeps ending).  On a good disk:
#   - at 1 MiB lies a record "CAPVM-PATTERN <md5>" of 4 MiB of data at
#     2 MiB: if it is there, verify it (pattern-ok / pattern-bad), else write
#     the data and then the record, each flushed (conv=fsync), and print
#     pattern-written: from then on every copy of the disk must verify;
#   - print "CAPVM-IMAGE ready", then keep writing (flushed) to 8..24 MiB so
#     that the disk is busy while the host copies it.
[ -b /dev/vda ] || { echo "CAPVM-IMAGE no-disk"; poweroff -f; }
magic=$(dd if=/dev/vda bs=512 count=1 2>/dev/null | head -c 14)
if [ "$magic" != "CAPVM-IMAGE-OK" ]; then
	echo "CAPVM-IMAGE bad-disk"
	poweroff -f
fi
rec=$(dd if=/dev/vda bs=1M skip=1 count=1 2>/dev/null | head -c 46)
case $rec in
CAPVM-PATTERN\ *)
	want=${rec#CAPVM-PATTERN }
	have=$(dd if=/dev/vda bs=1M skip=2 count=4 2>/dev/null | md5sum | cut -d' ' -f1)
	if [ "$want" = "$have" ]; then echo "CAPVM-IMAGE pattern-ok $have"
	else echo "CAPVM-IMAGE pattern-bad want $want have $have"; fi
	;;
*)
	seed=$(cat /proc/sys/kernel/random/uuid)
	yes "capvm-disk-data-$seed" | head -c 4194304 > /tmp/pattern
	sum=$(md5sum < /tmp/pattern | cut -d' ' -f1)
	dd if=/tmp/pattern of=/dev/vda bs=1M seek=2 conv=fsync 2>/dev/null
	printf 'CAPVM-PATTERN %s' "$sum" | dd of=/dev/vda bs=1M seek=1 conv=fsync 2>/dev/null
	sync
	rm -f /tmp/pattern
	echo "CAPVM-IMAGE pattern-written $sum"
	;;
esac
echo "CAPVM-IMAGE ready"
i=0
while :; do
	# 1 MiB of changing data somewhere in 8..24 MiB, flushed
	yes "capvm-disk-churn-$i" | head -c 1048576 |
		dd of=/dev/vda bs=1M seek=$((8 + i % 16)) conv=fsync 2>/dev/null
	i=$((i + 1))
	[ $((i % 50)) = 0 ] && echo "CAPVM-IMAGE writing $i"
done
