# Guest test "blkcrash": a write-and-verify workload for tests/e2e/backend-crash.sh,
# which kills the disk's back-end again and again while this runs.
# Expects /dev/vda of at least 80 MiB.  Writes numbered 128 KiB batches to /dev/vda (batch B at offset B*128 KiB,
# the text "capvm-crash-batch-B" repeated), each with O_DIRECT and an fsync
# (a flush request), and prints "CAPVM-CRASH ack B" once the write returned:
# the back-end has promised the batch is stable.  Stops after 400 batches or
# about 30 s, then drops the page cache, reads every batch back and prints
# "CAPVM-CRASH verify-ok N" or "CAPVM-CRASH verify-bad B", then "CAPVM-CRASH end".
[ -b /dev/vda ] || { echo "CAPVM-CRASH FAIL no /dev/vda"; poweroff -f; }
up() { cut -d. -f1 /proc/uptime; }
# Meanwhile a stream of 1 MiB O_DIRECT writes (the same 16 MiB at 64 MiB, over
# and over) keeps requests in flight, so kills hit some.
yes "capvm-crash-stream" | head -c 16777216 > /tmp/stream
rm -f /tmp/stop
( n=0; while [ ! -f /tmp/stop ]; do
	dd if=/tmp/stream of=/dev/vda bs=1M seek=64 count=16 oflag=direct 2>/dev/null ||
		echo "CAPVM-CRASH write-error stream"
	n=$((n + 1))
  done; echo "CAPVM-CRASH stream-passes $n" ) &
stream=$!
start=$(up)
echo "CAPVM-CRASH start"
b=0
while [ $b -lt 400 ] && [ $(( $(up) - start )) -lt 30 ]; do
	yes "capvm-crash-batch-$b" | head -c 131072 > /tmp/batch
	if dd if=/tmp/batch of=/dev/vda bs=131072 seek=$b count=1 oflag=direct conv=fsync 2>/dev/null; then
		echo "CAPVM-CRASH ack $b"
	else
		echo "CAPVM-CRASH write-error $b"
	fi
	b=$((b + 1))
done
echo "CAPVM-CRASH written $b"
touch /tmp/stop
wait $stream
sync
echo 3 > /proc/sys/vm/drop_caches
bad=0
i=0
while [ $i -lt $b ]; do
	want=$(yes "capvm-crash-batch-$i" | head -c 131072 | md5sum | cut -d' ' -f1)
	got=$(dd if=/dev/vda bs=131072 skip=$i count=1 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
	if [ "$want" != "$got" ]; then
		echo "CAPVM-CRASH verify-bad $i"
		bad=$((bad + 1))
	fi
	i=$((i + 1))
done
want=$(md5sum < /tmp/stream | cut -d' ' -f1)
got=$(dd if=/dev/vda bs=1M skip=64 count=16 iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1)
if [ "$want" = "$got" ]; then echo "CAPVM-CRASH stream-ok"; else echo "CAPVM-CRASH verify-bad stream"; bad=$((bad + 1)); fi
[ $bad -eq 0 ] && echo "CAPVM-CRASH verify-ok $b"
echo "CAPVM-CRASH end"
poweroff -f
