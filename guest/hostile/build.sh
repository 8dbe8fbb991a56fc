#!/bin/sh
# guest/hostile/build.sh OUT: builds the hostile-guest program (hostile.c)
# as a static binary OUT for the guest initramfs, when the sources are newer.
# Called by guest/build-images.sh; the program is /bin/capvm-hostile in the
# guest (see docs/hostile-guest.md).
set -eu
dir=$(dirname "$0")
out=${1:?usage: build.sh OUT}
for src in "$dir"/*.c "$dir"/build.sh; do
	if [ ! -e "$out" ] || [ "$src" -nt "$out" ]; then
		echo "building $out" >&2
		${CC_GUEST:-gcc} -static -O2 -std=gnu11 -Wall -Wextra -Werror \
			-o "$out.tmp" "$dir"/*.c
		mv "$out.tmp" "$out"
		exit 0
	fi
done
