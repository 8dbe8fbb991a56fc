# Guest test "fio" of bench/blk (installed as /tests/fio.sh by
# bench/blk/build-initrd.sh, in the benchmark's own initramfs part): runs
# fio on /dev/vda, direct I/O, and prints lines that bench/blk/run.sh parses:
#   CAPVM-FIO version fio-3.33 engine=io_uring
#   CAPVM-FIO-MARK NAME        the host reads KVM's counters at each mark
#   CAPVM-FIO-RESULT NAME rc=N 3;KiB;KiB/s;IOPS;ms;clat_us;usr%;sys%
# Marks come in pairs around a window: idle-begin/idle-end (2 s of an idle
# guest, to show the background exit rate) and begin-JOB/end-JOB around
# each fio job's I/O.  After a mark the guest sleeps 1 s before doing
# anything else, so that the host has read the counters before the window's
# work starts and no console output falls into a window (each job window
# thus holds ~1 s of idle guest before the I/O).
# Kernel command line: capvm.fio.runtime=SECONDS (default 10) per job;
# capvm.fio.loops=N (default 1) runs the pair of jobs N times (a soak: many
# fio starts and exits per boot; the host reads the first window's marks).
runtime=10 loops=1
for arg in $(cat /proc/cmdline); do
	case $arg in
	capvm.fio.runtime=*) runtime=${arg#capvm.fio.runtime=} ;;
	capvm.fio.loops=*) loops=${arg#capvm.fio.loops=} ;;
	esac
done
case $runtime in ''|*[!0-9]*|0) runtime=10 ;; esac
case $loops in ''|*[!0-9]*|0) loops=1 ;; esac

mark() { echo "CAPVM-FIO-MARK $1"; sleep 1; }

if ! fio --version > /tmp/fio-version 2>&1; then
	echo "CAPVM-FIO-ERROR fio does not run: $(head -c 300 /tmp/fio-version | tr '\n' ' ')"
	exit 1
fi
[ -b /dev/vda ] || { echo "CAPVM-FIO-ERROR no /dev/vda"; exit 1; }

# The engine: io_uring, else libaio; else psync with 32 jobs (one request
# in flight per job) standing in for queue depth 32.
engine=
for e in io_uring libaio; do
	if fio --name=probe --filename=/dev/vda --direct=1 --rw=read --bs=4k --size=64k \
		--ioengine=$e --output-format=terse > /tmp/probe 2>&1; then
		engine=$e
		break
	fi
done
if [ -n "$engine" ]; then
	qd="--ioengine=$engine --iodepth=32"
else
	engine=psync
	qd="--ioengine=psync --numjobs=32 --group_reporting"
fi
echo "CAPVM-FIO version $(cat /tmp/fio-version) engine=$engine runtime=$runtime"

mark idle-begin
sleep 1
mark idle-end

# job NAME FIO-OPTIONS...: one fio job on /dev/vda between two marks.
# fio prints them itself (exec_prerun/exec_postrun run just before and
# after the job's I/O), so that its start-up (loading ~80 MB of libraries)
# stays out of the window.
job() {
	local name=$1 rc
	shift
	fio --name="$name" --filename=/dev/vda --direct=1 $qd --time_based \
		--runtime="$runtime" --output-format=terse --terse-version=3 \
		--exec_prerun="echo CAPVM-FIO-MARK begin-$name > /dev/console; sleep 1" \
		--exec_postrun="echo CAPVM-FIO-MARK end-$name > /dev/console; sleep 1" \
		"$@" > "/tmp/$name.out" 2> "/tmp/$name.err"
	rc=$?
	# Of fio's terse v3 line only: version, read KiB, KiB/s, IOPS, runtime
	# (ms), mean completion latency (us), user and system CPU (%).
	echo "CAPVM-FIO-RESULT $name rc=$rc $(grep '^3;' "/tmp/$name.out" | tail -n 1 | cut -d';' -f1,6-9,16,88,89)"
	[ $rc -eq 0 ] || echo "CAPVM-FIO-ERROR $name: $(head -c 300 "/tmp/$name.err" | tr '\n' ' ')"
}
i=0
while [ $i -lt "$loops" ]; do
	job randread --rw=randread --bs=4k --norandommap --randrepeat=0
	job seqread --rw=read --bs=128k
	i=$((i + 1))
done
