# Guest test "panic": crash the kernel through sysrq.  The kernel reports the
# panic on the pvpanic device; capvm exits with status 4.
echo 1 > /proc/sys/kernel/sysrq
echo c > /proc/sysrq-trigger
