#!/usr/bin/env bash
# testhost-build.sh: builds the test host's initramfs,
# build/testhost/initrd.cpio.gz: busybox-static, scripts/testhost-init.sh as
# /init and the modules of scripts/testhost-modules.list from the guest
# kernel package (the test host runs the same Debian kernel as the guests).
# Rebuilt only when its inputs change.  Needs guest/build-images.sh to have
# run (it unpacks the kernel).
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_NAME=testhost-build
. guest/initramfs-lib.sh

out=build/testhost
mkdir -p "$out"
[ -f build/guest/kernel.version ] || die "run guest/build-images.sh first"
ver=$(cat build/guest/kernel.version)
inputs=$(inputs_hash scripts/testhost-build.sh guest/initramfs-lib.sh \
	scripts/testhost-init.sh scripts/testhost-modules.list \
	"$(command -v busybox)" build/guest/kernel.pkg)
if [ -f "$out/initrd.cpio.gz" ] && [ "$(cat "$out/.initrd.inputs" 2>/dev/null)" = "$inputs" ]; then
	exit 0
fi
log "building the test host initramfs"
root=$(mktemp -d "$out/.root.XXXXXX")
trap 'rm -rf "$root"' EXIT
initramfs_base "$root"
initramfs_modules "$root" build/guest/kernel "$ver" scripts/testhost-modules.list
install -m 0755 scripts/testhost-init.sh "$root/init"
initramfs_pack "$root" "$out/initrd.cpio.gz"
echo "$inputs" > "$out/.initrd.inputs"
log "built $out/initrd.cpio.gz ($(stat -c %s "$out/initrd.cpio.gz") bytes)"
