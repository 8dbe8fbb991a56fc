#!/bin/sh
# detect-kvm.sh [-q]: says whether this machine has a /dev/kvm that can boot
# a stock Linux guest.  Real KVM means /dev/kvm exists and is usable and the
# vendor module is kvm_intel or kvm_amd.  kvm_pvm (a software, page-table
# based KVM found on some cloud VMs) cannot boot a stock kernel.
# Prints one line "real: ...", "pvm: ..." or "none: ..." (unless -q) and
# exits 0 for real KVM, 1 otherwise.
quiet=0
[ "${1:-}" = -q ] && quiet=1
say() { [ $quiet -eq 1 ] || echo "$*"; }

if [ ! -e /dev/kvm ]; then
	say "none: there is no /dev/kvm (use the test host: capvm testhost)"
	exit 1
fi
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	say "none: /dev/kvm is not readable and writable by this user"
	exit 1
fi
for m in kvm_intel kvm_amd; do
	if [ -d "/sys/module/$m" ]; then
		say "real: /dev/kvm is served by $m"
		exit 0
	fi
done
if [ -d /sys/module/kvm_pvm ]; then
	say "pvm: /dev/kvm is kvm_pvm, which cannot boot a stock Linux guest (use the test host)"
	exit 1
fi
say "none: /dev/kvm exists but neither kvm_intel nor kvm_amd is loaded (unknown KVM; use the test host)"
exit 1
