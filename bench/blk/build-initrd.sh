#!/usr/bin/env bash
# bench/blk/build-initrd.sh: builds the guest initramfs of the blk benchmark.
#
# fio does not belong in the default guest initramfs (its shared-library
# closure is ~80 MB), so the benchmark adds it as a second, uncompressed
# cpio archive that the kernel unpacks over the first one:
#   build/bench/fio.cpio        /bin/fio (= /usr/bin/fio in the guest, whose
#                               /usr/bin links to /bin), every library of
#                               its `ldd` closure in /lib/x86_64-linux-gnu/,
#                               the dynamic loader at its ELF interpreter
#                               path, and bench/blk/guest-fio.sh as the
#                               guest test /tests/fio.sh
#   build/bench/blk-initrd.img  build/guest/initrd.cpio.gz, zero bytes up to
#                               a 4-byte boundary (the kernel looks for the
#                               next archive's "070701" magic only at
#                               4-byte aligned offsets), then fio.cpio
# Both VMMs get blk-initrd.img as their initrd.  Rebuilt only when an input
# changed.  Prints the path of blk-initrd.img.
set -euo pipefail
cd "$(dirname "$0")/../.."
. guest/initramfs-lib.sh
out=build/bench
mkdir -p "$out"

guest/build-images.sh --keep-kernel >&2 || die "building the guest images failed"
base=build/guest/initrd.cpio.gz
fio=$(command -v fio) || die "fio is not installed (apt-get install fio)"

inputs=$(inputs_hash bench/blk/build-initrd.sh bench/blk/guest-fio.sh "$fio" "$base")
if [ -f "$out/blk-initrd.img" ] && [ "$(cat "$out/.blk-initrd.inputs" 2>/dev/null)" = "$inputs" ]; then
	echo "$out/blk-initrd.img"
	exit 0
fi

log "building $out/fio.cpio (fio and its ldd closure)"
root=$(mktemp -d "$out/.fio-root.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/lib/x86_64-linux-gnu" "$root/tests"
cp "$fio" "$root/bin/fio"
# Libraries by their soname, all in one directory of the loader's default
# search path (the guest has no ld.so.cache; RUNPATHs such as ceph's
# /usr/lib/x86_64-linux-gnu/ceph fall back to the default path).
while read -r name arrow path _; do
	[ "$arrow" = "=>" ] && [ -f "$path" ] || continue
	cp -L "$path" "$root/lib/x86_64-linux-gnu/$name"
done < <(ldd "$fio")
interp=$(LC_ALL=C readelf -l "$fio" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
[ -n "$interp" ] && [ -f "$interp" ] || die "cannot find fio's ELF interpreter"
mkdir -p "$root$(dirname "$interp")"
cp -L "$interp" "$root$interp"
install -m 0644 bench/blk/guest-fio.sh "$root/tests/fio.sh"
# Only entries that do not exist in the default image as something else:
# leave /bin, /lib and /tests themselves out (they are directories there).
(cd "$root" && find . -mindepth 1 ! -path ./bin ! -path ./lib ! -path ./tests |
	LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$out/fio.cpio.tmp" || die "cpio failed"
mv "$out/fio.cpio.tmp" "$out/fio.cpio"

size=$(stat -c %s "$base")
{
	cat "$base"
	head -c $(( (4 - size % 4) % 4 )) /dev/zero
	cat "$out/fio.cpio"
} > "$out/blk-initrd.img.tmp"
mv "$out/blk-initrd.img.tmp" "$out/blk-initrd.img"
echo "$inputs" > "$out/.blk-initrd.inputs"
log "built $out/blk-initrd.img ($(stat -c %s "$out/blk-initrd.img") bytes)"
echo "$out/blk-initrd.img"
