#!/usr/bin/env bash
# build-images.sh [--force] [--keep-kernel]: builds the guest images into build/guest/
#   bzImage          Debian's kernel (the package linux-image-amd64 depends on)
#   vmlinux          the same kernel as an ELF file (PVH entry), extracted
#                    from the bzImage by guest/extract-vmlinux.sh
#   modules/         that kernel's modules (lib/modules/<version>, depmod'ed)
#   initrd.cpio.gz   busybox-static initramfs: guest/init.sh as /init, the
#                    modules of guest/modules.list, guest/tests/*.sh as
#                    /tests/*.sh, plus guest/initramfs-extra/ (copied as is)
#                    and the files named in guest/initramfs-extra.list
# Each step is skipped when its inputs have not changed.  See
# docs/guest-images.md.  Called by `make images` and `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
. guest/initramfs-lib.sh

# One build at a time (make images, test hosts and e2e tests may race).
if [ -z "${CAPVM_IMAGES_LOCKED:-}" ]; then
	mkdir -p build/guest
	CAPVM_IMAGES_LOCKED=1 exec flock -w 900 build/guest/.lock "$0" "$@"
fi

# --force rebuilds everything; --keep-kernel reuses an unpacked kernel
# without asking apt which version is current (apt-cache takes seconds; the
# test host and e2e tests use it).
force=0 keep_kernel=0
for a in "$@"; do
	case $a in
	--force) force=1 ;;
	--keep-kernel) keep_kernel=1 ;;
	*) echo "usage: $0 [--force] [--keep-kernel]" >&2; exit 2 ;;
	esac
done
out=build/guest
mkdir -p "$out"
[ $force -eq 1 ] && rm -f "$out/.initrd.inputs" "$out/kernel.pkg"

if [ $keep_kernel -eq 0 ] || [ ! -f "$out/kernel.version" ] || [ ! -f "$out/kernel.pkg" ]; then
	kernel_fetch "$out"
fi
ver=$(cat "$out/kernel.version")
kdir=$out/kernel

# The kernel images.
if [ ! -f "$out/bzImage" ] || ! cmp -s "$kdir/boot/vmlinuz-$ver" "$out/bzImage"; then
	cp "$kdir/boot/vmlinuz-$ver" "$out/bzImage.tmp" && mv "$out/bzImage.tmp" "$out/bzImage"
	rm -f "$out/vmlinux"
fi
if [ ! -f "$out/vmlinux" ] || [ "$out/vmlinux" -ot "$out/bzImage" ]; then
	log "extracting vmlinux"
	guest/extract-vmlinux.sh "$out/bzImage" "$out/vmlinux"
fi
ln -sfn "kernel/lib/modules/$ver" "$out/modules"

# Static guest programs built from this repository: the hostile virtio
# driver (guest/hostile/, docs/hostile-guest.md), listed in $extra_list.
guest/hostile/build.sh "$out/capvm-hostile"

# The extra files later issues add: "SRC [DEST]" per line, SRC relative to
# the repository root (or absolute), DEST inside the image (default
# /bin/<basename of SRC>).
extra_list=guest/initramfs-extra.list
extra_srcs=()
if [ -f "$extra_list" ]; then
	while read -r src dest; do
		case $src in ''|'#'*) continue ;; esac
		[ -e "$src" ] || die "$extra_list: $src does not exist (build it first)"
		extra_srcs+=("$src")
	done < "$extra_list"
fi

inputs=$(inputs_hash guest/build-images.sh guest/initramfs-lib.sh guest/init.sh \
	guest/modules.list guest/tests guest/initramfs-extra "$extra_list" \
	"$(command -v busybox)" "$out/kernel.pkg" ${extra_srcs[@]+"${extra_srcs[@]}"})
if [ -f "$out/initrd.cpio.gz" ] && [ "$(cat "$out/.initrd.inputs" 2>/dev/null)" = "$inputs" ]; then
	log "build/guest is up to date (kernel $ver)"
	exit 0
fi

log "building initrd.cpio.gz"
root=$(mktemp -d "$out/.root.XXXXXX")
trap 'rm -rf "$root"' EXIT
initramfs_base "$root"
initramfs_modules "$root" "$kdir" "$ver" guest/modules.list
install -m 0755 guest/init.sh "$root/init"
mkdir -p "$root/tests"
cp guest/tests/*.sh "$root/tests/"
if [ -d guest/initramfs-extra ]; then
	cp -a guest/initramfs-extra/. "$root/"
fi
if [ -f "$extra_list" ]; then
	while read -r src dest; do
		case $src in ''|'#'*) continue ;; esac
		dest=${dest:-/bin/$(basename "$src")}
		mkdir -p "$root$(dirname "$dest")"
		cp -a "$src" "$root$dest"
	done < "$extra_list"
fi
initramfs_pack "$root" "$out/initrd.cpio.gz"
echo "$inputs" > "$out/.initrd.inputs"
log "built $out/initrd.cpio.gz ($(stat -c %s "$out/initrd.cpio.gz") bytes, kernel $ver)"
