#!/usr/bin/env bash
# extract-vmlinux.sh BZIMAGE OUT: writes the ELF vmlinux that a bzImage
# carries, so that VMMs can boot it through its PVH entry point (an ELF note).
#
# A bzImage is a real-mode setup part followed by a small decompressor and the
# compressed kernel.  The boot protocol header says where that compressed
# payload is: setup_sects (byte at 0x1f1; the protected-mode part starts at
# (setup_sects + 1) * 512) and payload_offset / payload_length (32-bit
# little-endian at 0x248 / 0x24c, relative to the protected-mode part).  We
# read those fields, check the magic of the payload, decompress it with the
# matching tool and check that the result is an ELF file.
set -euo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 BZIMAGE OUT" >&2
	exit 2
fi
in=$1 out=$2

# le32 FILE OFFSET / byte FILE OFFSET: unsigned little-endian fields.
le32() { od -An -t u4 -j "$2" -N 4 "$1" | tr -d ' '; }
byte() { od -An -t u1 -j "$2" -N 1 "$1" | tr -d ' '; }
hex()  { od -An -t x1 -j "$2" -N "$3" "$1" | tr -d ' \n'; }

size=$(stat -c %s "$in")
if [ "$size" -lt 1024 ] || [ "$(hex "$in" 0x202 4)" != 48647253 ]; then
	echo "$0: $in is not a bzImage (no 'HdrS' boot header)" >&2
	exit 1
fi
setup_sects=$(byte "$in" $((0x1f1)))
[ "$setup_sects" -eq 0 ] && setup_sects=4
pm_start=$(( (setup_sects + 1) * 512 ))
poff=$(le32 "$in" $((0x248)))
plen=$(le32 "$in" $((0x24c)))
start=$((pm_start + poff))
if [ "$plen" -eq 0 ] || [ $((start + plen)) -gt "$size" ]; then
	echo "$0: $in: payload $start+$plen lies outside the file ($size bytes)" >&2
	exit 1
fi

magic=$(hex "$in" "$start" 6)
case $magic in
fd377a585a00*) dec=(xz -dc --single-stream) ;;
1f8b*)         dec=(gzip -dc) ;;
28b52ffd*)     dec=(zstd -dcq) ;;
5d0000*)       dec=(xz -dc --format=lzma) ;;
425a68*)       dec=(bzip2 -dc) ;;
02214c18*)     dec=(lz4 -dc) ;;
*) echo "$0: $in: unknown payload compression (magic $magic)" >&2; exit 1 ;;
esac

tmp="$out.tmp.$$"
trap 'rm -f "$tmp" "$tmp.z"' EXIT
dd if="$in" of="$tmp.z" bs=64K skip="$start" count="$plen" \
	iflag=skip_bytes,count_bytes status=none
# The payload ends with the 4-byte uncompressed size that the kernel's build
# appends; xz/zstd stop at the end of their stream.
if ! "${dec[@]}" < "$tmp.z" > "$tmp"; then
	echo "$0: $in: cannot decompress the payload with ${dec[0]}" >&2
	exit 1
fi
if [ "$(hex "$tmp" 0 4)" != 7f454c46 ]; then
	echo "$0: $in: decompressed payload is not an ELF file" >&2
	exit 1
fi
mv "$tmp" "$out"
