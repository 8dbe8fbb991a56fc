#!/usr/bin/env bash
# demo.sh [--shell]: starts the default system description
# (examples/default.camkes: one VM with build/guest/bzImage and
# initrd.cpio.gz, 1 vCPU, 256 MiB) with `capvm system up` and shows the
# guest's console until it powers off.  The guest prints what it sees (CPUs, memory,
# virtio devices) and powers off; with --shell it gives an interactive busybox
# shell instead (leave it with `exit`).  Without real KVM on this machine the
# guest runs inside the test host (scripts/testhost.sh).  `make demo` builds
# capvm and the images first.
set -uo pipefail
src=$(cd "$(dirname "$0")/.." && pwd -P)
test=info here=0
for a in "$@"; do
	case $a in
	--shell) test=shell ;;
	--here) here=1 ;;      # internal: run capvm directly (used in the test host)
	-h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "usage: $0 [--shell]" >&2; exit 2 ;;
	esac
done
: "${CAPVM:=$src/build/capvm}"
: "${CAPVM_KERNEL:=$src/build/guest/bzImage}"
: "${CAPVM_INITRD:=$src/build/guest/initrd.cpio.gz}"
for f in "$CAPVM" "$CAPVM_KERNEL" "$CAPVM_INITRD"; do
	[ -e "$f" ] || { echo "demo: $f is missing: run 'make all images' first" >&2; exit 1; }
done

run_capvm() {
	# The default system description: one VM, console on this terminal.
	local desc=$src/examples/default.camkes
	if [ "$test" = shell ]; then
		sed 's/capvm.test=info/capvm.test=shell/' "$desc" > "${TMPDIR:-/tmp}/capvm-demo.camkes"
		desc=${TMPDIR:-/tmp}/capvm-demo.camkes
	fi
	echo "demo: $CAPVM system up $desc"
	(cd "$src" && "$CAPVM" system up --control "${TMPDIR:-/tmp}/capvm-demo.sock" "$desc")
	local rc=$?
	echo "demo: the system ended with status $rc"
	return $rc
}

kvm=$("$src/scripts/detect-kvm.sh"); real=$?
[ $here -eq 1 ] || echo "demo: KVM here: $kvm"
if [ $here -eq 1 ] || [ $real -eq 0 ]; then
	run_capvm
	exit
fi
if ! command -v qemu-system-x86_64 > /dev/null; then
	echo "demo: no real KVM and no qemu-system-x86_64 for a test host (scripts/install-deps.sh)" >&2
	exit 1
fi
echo "demo: booting a test host (QEMU TCG with emulated AMD SVM, ~5-15 s) to get a real KVM"
interactive=()
[ "$test" = shell ] && [ -t 0 ] && interactive=(-i)
CAPVM_OUT=${CAPVM_OUT:-$src/build/testhost/out-demo} \
	exec "$src/scripts/testhost.sh" --timeout 900 "${interactive[@]}" "$0" --here "$@"
