#!/usr/bin/env bash
# testhost.sh [options] SCRIPT [ARGS...]: runs SCRIPT as root inside a test
# host, a Debian kernel booted under QEMU's software emulator (TCG) with an
# AMD CPU model whose emulated SVM gives it a real /dev/kvm (kvm_amd), and
# exits with SCRIPT's status.  `capvm testhost` execs this script.
#
# The host's root file system is shared read-only into the test host over
# virtio-9p and the job runs chrooted into it, so every host tool and this
# repository are there at their usual paths; CAPVM_OUT is a writable share.
# The test host's console is streamed to stdout.  See docs/testhost.md.
#
# Exit status: SCRIPT's, or 124 on timeout, 125 when the test host could not
# run the script (missing QEMU, boot failure), 2 on a usage error.
set -uo pipefail

usage() {
	cat <<'USAGE'
usage: capvm testhost [--timeout S] [--mem M] [--cpus N] [--out DIR] [-i]
                      SCRIPT [ARGS...]
  Runs SCRIPT as root in a test host VM with real KVM (QEMU TCG, -cpu EPYC).
  --timeout S   kill the test host after S seconds (default 600; status 124)
  --mem M       test host RAM in MiB (default 2048)
  --cpus N      test host vCPUs (default 1)
  --out DIR     writable directory shared with the job as CAPVM_OUT
                (default build/testhost/out)
  -i            interactive: the terminal's input goes to the console
In SCRIPT: CAPVM (capvm binary), CAPVM_KERNEL (bzImage), CAPVM_VMLINUX,
CAPVM_INITRD, CAPVM_SRC (repository, read-only), CAPVM_OUT; every other
CAPVM_* variable of the caller is passed on too.
USAGE
}

src=$(cd "$(dirname "$0")/.." && pwd -P)
timeout_s=600 mem=2048 cpus=1 out= interactive=0
while [ $# -gt 0 ]; do
	case $1 in
	--timeout) timeout_s=${2:-}; shift 2 || { usage >&2; exit 2; } ;;
	--mem) mem=${2:-}; shift 2 || { usage >&2; exit 2; } ;;
	--cpus) cpus=${2:-}; shift 2 || { usage >&2; exit 2; } ;;
	--out) out=${2:-}; shift 2 || { usage >&2; exit 2; } ;;
	-i|--interactive) interactive=1; shift ;;
	-h|--help) usage; exit 0 ;;
	--) shift; break ;;
	-*) echo "capvm testhost: unknown option $1" >&2; usage >&2; exit 2 ;;
	*) break ;;
	esac
done
err() { echo "capvm testhost: $*" >&2; }
num_ok() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
num_ok "$timeout_s" 1 86400 || { err "--timeout must be 1..86400 seconds"; exit 2; }
num_ok "$mem" 256 65536 || { err "--mem must be 256..65536 (MiB)"; exit 2; }
num_ok "$cpus" 1 64 || { err "--cpus must be 1..64"; exit 2; }
[ $# -ge 1 ] || { usage >&2; exit 2; }
if [ $interactive -eq 1 ] && [ ! -t 0 ]; then
	err "-i needs a terminal on standard input"; exit 2
fi
script=$(realpath -e -- "$1" 2>/dev/null) || { err "no such script: $1"; exit 2; }
shift

qemu=$(command -v qemu-system-x86_64) || { err "qemu-system-x86_64 is not installed (scripts/install-deps.sh)"; exit 125; }

# The images: build them if needed (both steps are cached).  Serialise
# concurrent builds with a lock.
mkdir -p "$src/build/testhost"
(
	flock -w 900 9 || { err "timed out waiting for build/testhost/.lock"; exit 1; }
	"$src/guest/build-images.sh" --keep-kernel && "$src/scripts/testhost-build.sh"
) 9> "$src/build/testhost/.lock" || { err "building the images failed"; exit 125; }

: "${CAPVM_SRC:=$src}"
: "${CAPVM:=$src/build/capvm}"
: "${CAPVM_KERNEL:=$src/build/guest/bzImage}"
: "${CAPVM_VMLINUX:=$src/build/guest/vmlinux}"
: "${CAPVM_INITRD:=$src/build/guest/initrd.cpio.gz}"
out=${out:-${CAPVM_OUT:-$src/build/testhost/out}}
mkdir -p "$out" || { err "cannot create $out"; exit 2; }
CAPVM_OUT=$(cd "$out" && pwd -P)
for v in CAPVM CAPVM_KERNEL CAPVM_VMLINUX CAPVM_INITRD CAPVM_SRC; do
	p=$(realpath -m -- "${!v}")
	printf -v "$v" '%s' "$p"
	[ -e "$p" ] || err "warning: $v=$p does not exist"
done
export CAPVM CAPVM_SRC CAPVM_KERNEL CAPVM_VMLINUX CAPVM_INITRD CAPVM_OUT
case $CAPVM_OUT in *[[:space:]\'\"\\]*) err "the output path must not contain spaces or quotes: $CAPVM_OUT"; exit 2 ;; esac

run=$(mktemp -d "$src/build/testhost/run.XXXXXX") || exit 125
qpid= wpid=
cleanup() {
	[ -n "$wpid" ] && kill "$wpid" 2>/dev/null
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		kill -TERM "$qpid" 2>/dev/null; sleep 1; kill -KILL "$qpid" 2>/dev/null
	fi
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# sq STRING: STRING quoted for sh/bash with single quotes.
sq() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }

# Paths the job needs that the test host's tmpfs mounts would hide.
keep=()
for p in "$CAPVM_SRC" "$CAPVM" "$CAPVM_KERNEL" "$CAPVM_VMLINUX" "$CAPVM_INITRD" "$script"; do
	case $p in /tmp/*|/var/tmp/*|/run/*)
		case $p in *[[:space:]\'\"\\]*) err "paths under /tmp must not contain spaces or quotes: $p"; exit 2 ;; esac
		keep+=("$p") ;;
	esac
done

# The job: what the test host's /init reads (job.conf, busybox sh) and runs
# chrooted (job.sh, bash).  They go into a second cpio archive joined to
# the cached initramfs (the kernel unpacks concatenated archives).
msize=${CAPVM_TESTHOST_MSIZE:-512000} cache=${CAPVM_TESTHOST_CACHE:-loose}
[[ $msize =~ ^[0-9]{4,8}$ && $cache =~ ^[a-z]{1,16}$ ]] ||
	{ err "bad CAPVM_TESTHOST_MSIZE ($msize) or CAPVM_TESTHOST_CACHE ($cache)"; exit 2; }
mkdir -p "$run/job"
{
	echo "OUT=$(sq "$CAPVM_OUT")"
	echo "KEEP=$(sq "${keep[*]-}")"
	echo "MSIZE=$msize"
	echo "CACHE=$cache"
} > "$run/job/job.conf"
{
	echo "# generated by scripts/testhost.sh"
	echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=${TERM:-dumb}"
	while IFS='=' read -r name _; do
		case $name in CAPVM*) echo "export $name=$(sq "${!name}")" ;; esac
	done < <(env | grep -E '^CAPVM[A-Z0-9_]*=' )
	echo "export CAPVM_IN_TESTHOST=1"
	echo "cd \"\$CAPVM_SRC\" || exit 125"
	if [ -x "$script" ]; then printf 'exec %s' "$(sq "$script")"; else printf 'exec bash %s' "$(sq "$script")"; fi
	for a in "$@"; do printf ' %s' "$(sq "$a")"; done
	echo
} > "$run/job/job.sh"
(cd "$run/job" && printf '%s\n' job.conf job.sh | cpio -o -H newc -R 0:0 --quiet) > "$run/job.cpio" || exit 125
# The small uncompressed archive goes first: the kernel finds the start of an
# archive that follows a gzip'd one unreliably.
cat "$run/job.cpio" "$src/build/testhost/initrd.cpio.gz" > "$run/initrd" || exit 125

# The host's TSC frequency: without it the test host's kernel sometimes hangs
# calibrating against the PIT under TCG.  tsc=reliable keeps the TSC as the
# clocksource: otherwise the watchdog compares it with jiffies, which lag
# under TCG on a loaded machine, and switches to jiffies, so that the test
# host's clock (and every time measured in it) runs slow.
khz=$(awk -F': *' '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
tsc=${khz:+tsc_early_khz=$khz}

qemu_args=(
	-accel tcg -cpu EPYC -m "$mem" -smp "$cpus"
	-M microvm,rtc=on -nodefaults -no-user-config -nographic -no-reboot
	-serial stdio
	-kernel "$src/build/guest/vmlinux" -initrd "$run/initrd"
	-append "console=ttyS0 quiet panic=-1 tsc=reliable $tsc"
	-device virtio-rng-device
	-fsdev local,id=hostroot,path=/,readonly=on,security_model=none,multidevs=remap
	-device virtio-9p-device,fsdev=hostroot,mount_tag=hostroot
	-fsdev "local,id=out,path=$CAPVM_OUT,security_model=none,multidevs=remap"
	-device virtio-9p-device,fsdev=out,mount_tag=out
)
log=$run/console.log
stdin=/dev/null
[ $interactive -eq 1 ] && stdin=/dev/tty
start=$(date +%s.%N)
echo "capvm testhost: booting (qemu TCG, ${cpus} vCPU, ${mem} MiB, timeout ${timeout_s} s): $script $*" >&2

# QEMU's warnings about CPU features TCG lacks are noise: drop them.
{ ( echo "$BASHPID" > "$run/qemu.pid"; exec "$qemu" "${qemu_args[@]}" < "$stdin" ) 2>&1 1>&3 |
	grep --line-buffered -v "TCG doesn't support requested feature" >&2; } 3>&1 |
	if [ $interactive -eq 1 ]; then tee "$log"; else sed -u 's/\r$//' | tee "$log"; fi &
pipe=$!
for _ in $(seq 300); do [ -s "$run/qemu.pid" ] && break; sleep 0.1; done
qpid=$(cat "$run/qemu.pid" 2>/dev/null)
[ -n "$qpid" ] || { err "QEMU did not start"; exit 125; }
(
	end=$((SECONDS + timeout_s))
	while [ $SECONDS -lt $end ]; do
		kill -0 "$qpid" 2>/dev/null || exit 0
		sleep 1
	done
	echo "capvm testhost: timeout after ${timeout_s} s, stopping QEMU (pid $qpid)" >&2
	touch "$run/timed-out"
	kill -TERM "$qpid" 2>/dev/null; sleep 3; kill -KILL "$qpid" 2>/dev/null
) &
wpid=$!
wait "$pipe"
kill "$wpid" 2>/dev/null; wpid=
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
cp "$log" "$CAPVM_OUT/testhost-console.log" 2>/dev/null

status=$(tr -d '\r' < "$log" | sed -n 's/^CAPVM-TESTHOST-EXIT \([0-9]*\)$/\1/p' | tail -n 1)
if [ -e "$run/timed-out" ]; then
	err "timed out after ${timeout_s} s"
	exit 124
fi
if [ -z "$status" ]; then
	err "the test host stopped without reporting the script's status (see $CAPVM_OUT/testhost-console.log)"
	exit 125
fi
echo "capvm testhost: script exited with status $status after $elapsed s" >&2
exit "$status"
