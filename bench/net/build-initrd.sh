#!/usr/bin/env bash
# bench/net/build-initrd.sh OUT: the bench initramfs for bench/net: the
# default guest initramfs (build/guest/initrd.cpio.gz, kept small) with a
# second cpio archive appended (the kernel unpacks concatenated archives)
# that adds /usr/bin/iperf3 with its ldd closure and /tests/iperf.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: $0 OUT}
base=build/guest/initrd.cpio.gz
[ -f "$base" ] || guest/build-images.sh --keep-kernel
iperf=$(command -v iperf3) || { echo "bench/net: iperf3 is not installed (apt-get install iperf3)" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/tests" "$stage/lib64"
cp "$iperf" "$stage/bin/iperf3"
# ldd prints "name => /path (addr)" or "/path (addr)" for the loader.
for lib in $(ldd "$iperf" | awk '/=>/ { print $3 } !/=>/ && /^\s*\// { print $1 }'); do
	mkdir -p "$stage$(dirname "$lib")"
	cp -L "$lib" "$stage$lib"
done
cp -L /lib64/ld-linux-x86-64.so.2 "$stage/lib64/"
install -m 0644 bench/net/iperf.sh "$stage/tests/iperf.sh"
mkdir -p "$(dirname "$out")"
(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) > "$out.extra"
cat "$base" "$out.extra" > "$out"
rm -f "$out.extra"
echo "bench/net: built $out ($(stat -c %s "$out") bytes)" >&2
