# Guest test "reboot": ask for a reboot.  capvm exits with status 3.
reboot -f
