#!/bin/sh
# /init of the test host (see scripts/testhost.sh and docs/testhost.md).
#
# Loads KVM (kvm-amd on the emulated EPYC CPU), mounts the host's root
# file system read-only from the 9p share "hostroot" at /host with tmpfs on
# /tmp, /run, /var/tmp, /dev/shm, kernel file systems and debugfs, mounts the
# writable 9p share "out" at the host path of CAPVM_OUT, then runs the job
# (/job.sh, appended to this initramfs by testhost.sh) chrooted into /host
# and reports its exit status on the console as "CAPVM-TESTHOST-EXIT <n>".
export PATH=/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

finish() {
	echo "CAPVM-TESTHOST-EXIT $1"
	sync
	poweroff -f
	while :; do sleep 3600; done
}
fail() { echo "capvm-testhost: error: $*"; finish 125; }

while read -r name path; do
	case $path in
	builtin) ;;
	missing) echo "capvm-testhost: module $name is not in this image, skipped" ;;
	*) insmod "$path" 2>/dev/null || echo "capvm-testhost: loading module $name failed" ;;
	esac
done < /etc/capvm-modules
[ -c /dev/kvm ] || echo "capvm-testhost: warning: no /dev/kvm (is the CPU model -cpu EPYC?)"

[ -f /job.conf ] || fail "no /job.conf: start the test host with scripts/testhost.sh"
. /job.conf     # OUT, KEEP, MSIZE, CACHE

mkdir -p /host /raw
mount -t 9p -o "trans=virtio,version=9p2000.L,ro,msize=$MSIZE,cache=$CACHE" hostroot /host ||
	fail "cannot mount the host's root (9p share hostroot)"
# /raw keeps a view of the host root without the tmpfs mounts below, to bind
# back paths the job needs that live under /tmp, /var/tmp or /run.
mount --bind /host /raw
for d in /tmp /var/tmp /run; do
	mount -t tmpfs -o mode=1777 tmpfs "/host$d" || fail "cannot mount tmpfs on $d"
done
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t debugfs debugfs /host/sys/kernel/debug
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /host/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /host/dev/shm
for p in $KEEP; do
	[ -e "/host$p" ] && continue      # already visible
	if [ -d "/raw$p" ]; then
		mkdir -p "/host$p"
	else
		mkdir -p "/host${p%/*}" && touch "/host$p"
	fi
	mount --bind "/raw$p" "/host$p" || fail "cannot bind $p"
done
mkdir -p "/host$OUT" 2>/dev/null
mount -t 9p -o "trans=virtio,version=9p2000.L,msize=$MSIZE" out "/host$OUT" ||
	fail "cannot mount the output share at $OUT"
cp /job.sh /host/run/capvm-job.sh

echo "CAPVM-TESTHOST-READY uptime=$(cut -d' ' -f1 /proc/uptime)"
# cttyhack makes the console the job's controlling terminal (Ctrl-C reaches
# it in interactive runs).
setsid cttyhack chroot /host /bin/bash /run/capvm-job.sh
rc=$?
echo "capvm-testhost: job finished with status $rc at uptime=$(cut -d' ' -f1 /proc/uptime)"
sync
umount "/host$OUT" 2>/dev/null
finish $rc
