#!/usr/bin/env bash
# Installs the Debian 12 packages capvm needs to build, test and demo
# (only those missing).  Nothing is downloaded from anywhere but Debian.
set -eu
pkgs=(
  build-essential clang libclang-rt-14-dev   # compilers; clang for ASan/UBSan/libFuzzer
  liburing-dev        # io_uring block I/O
  libseccomp-dev      # seccomp allow-lists for backends
  libjson-c-dev       # QMP JSON
  qemu-system-x86     # the test host (TCG) and the peer in benchmarks
  qemu-utils          # qemu-img, qemu-storage-daemon
  busybox-static cpio kmod xz-utils zstd   # guest/test-host initramfs
  acpica-tools        # iasl, to check our ACPI tables
  iproute2 netcat-openbsd fio iperf3 e2fsprogs
  systemd             # systemd-analyze verify of `capvm system install` units
)
missing=()
for p in "${pkgs[@]}"; do
  case $p in \#*) continue ;; esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
