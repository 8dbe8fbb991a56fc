# Guest test "shell": an interactive busybox shell on the console (for the
# demo).  Leaving the shell (exit, Ctrl-D) powers the guest off.
echo "capvm guest shell: busybox sh on the console; 'exit' or Ctrl-D powers off"
# cttyhack gives the shell the console as its controlling terminal, so that
# job control and Ctrl-C work.
setsid cttyhack sh -l
