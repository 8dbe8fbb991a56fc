#!/usr/bin/env bash
# blk-path benchmark: 4 KiB virtio-blk reads through capvm's device path
# (transport, virtqueue, blk model, io_uring), no KVM.  Builds the benchmark,
# runs it on the null backend, on a file, and through the isolated-memory
# relay to a real `capvm backend blk`, then counts instructions per request
# (perf stat if the CPU counters work here, else callgrind on a short run).
# Usage: bench/blk-path/run.sh [REQUESTS]   (default 2000000)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-2000000}
out=build/bench/blk-path
mkdir -p build/bench
make -s build/libcapvm.a
cc -D_GNU_SOURCE -Isrc -Itests -std=gnu11 -Wall -Wextra -Werror -O2 -g \
	-o "$out" bench/blk-path/blk_path.c build/libcapvm.a \
	-Wl,-Bstatic -luring -lseccomp -ljson-c -Wl,-Bdynamic -lpthread -lm

img=$(mktemp /tmp/capvm-blk-path-XXXXXX.img)
trap 'rm -f "$img"' EXIT
# 256 MiB of real data (not a sparse file), so reads copy pages.
dd if=/dev/urandom of="$img" bs=1M count=256 status=none

echo "== null backend, $n reads"
"$out" --backend null --requests "$n"
echo "== null backend, $n writes"
"$out" --backend null --requests "$n" --write
echo "== file backend (page cache), $((n / 4)) reads"
"$out" --backend "$img" --requests $((n / 4))
echo "== file backend (page cache), $((n / 4)) writes"
"$out" --backend "$img" --requests $((n / 4)) --write

# The isolated-memory relay (src/backend/vu_proxy_bounce.c) in front of a
# real `capvm backend blk` process on the same file: Linux-sized 128 KiB
# reads, each in 32 page-sized buffers, 32 in flight.  Reports the relay's
# and the back-end's CPU per request.
make -s build/capvm
sock=$(mktemp -u /tmp/capvm-blk-path-XXXXXX.sock)
build/capvm backend blk --socket "$sock" --image "$img" > "$img.backend.log" 2>&1 &
be=$!
trap 'kill "$be" 2>/dev/null; rm -f "$img" "$img.backend.log" "$sock"' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
echo "== isolated relay to capvm backend blk (page cache), $((n / 20)) reads of 128 KiB in 32 buffers, 32 in flight"
"$out" --vhost-user "$sock" --backend-pid "$be" --bs 131072 --depth 32 --segments 32 --requests $((n / 20))

short=200000
if perf stat -e instructions true 2>&1 | grep -Eq '^ *[0-9][0-9,.]* +instructions'; then
	echo "== instructions per request (perf stat, $short null reads, whole process)"
	perf stat -e instructions -x, "$out" --backend null --requests $short 2>&1 >/dev/null |
		awk -F, -v n=$short '/instructions/ { printf "  %.0f instructions/request\n", $1 / n }'
elif command -v valgrind >/dev/null; then
	echo "== instructions per request (callgrind, $short null reads; perf has no CPU counters here)"
	cg=$(mktemp /tmp/capvm-blk-path-cg.XXXXXX)
	# whole program, then only the device side (everything under virtio_mmio_poll)
	valgrind --tool=callgrind --callgrind-out-file="$cg" "$out" --backend null --requests $short >/dev/null 2>&1
	total=$(callgrind_annotate "$cg" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
	valgrind --tool=callgrind --callgrind-out-file="$cg.dev" --collect-atstart=no \
		--toggle-collect=virtio_mmio_poll "$out" --backend null --requests $short >/dev/null 2>&1
	dev=$(callgrind_annotate "$cg.dev" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
	awk -v t="$total" -v d="$dev" -v n=$short 'BEGIN {
		printf "  whole process: %.0f instructions/request (includes the synthetic driver and set-up)\n", t / n
		printf "  device side:   %.0f instructions/request (virtio_mmio_poll: kick, pop, parse, complete, irq)\n", d / n }'
	rm -f "$cg" "$cg.dev"
else
	echo "== instructions per request: skipped (no perf counters, no valgrind)"
fi
