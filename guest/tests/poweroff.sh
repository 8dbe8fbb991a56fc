# Guest test "poweroff" (the default): power off at once.  The VMM must exit
# with status 0.
poweroff -f
