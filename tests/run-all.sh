#!/usr/bin/env bash
# Runs every test and prints one summary line "N passed, N failed, N skipped".
#
# Every test reports lines "PASS name", "FAIL name[: why]" or
# "SKIP name: why" on stdout; this script runs the groups below, keeps their
# full output in build/test-logs/, and counts those lines.
#   unit   build/tests/test_*        (normal build)
#   asan   build/asan/tests/test_*   (AddressSanitizer + UBSan build)
#   fuzz   build/fuzz/fuzz_*         (each run for FUZZ_SMOKE_SECONDS)
#   e2e    tests/e2e/*.sh            (boot real guests, on the test host if needed)
# Select groups with TEST_GROUPS="unit asan" etc.  Fuzz targets run
# FUZZ_JOBS at a time (default: the number of CPUs), e2e files E2E_JOBS at a
# time (default 2 when they boot test hosts, 1 with real KVM); each test's
# lines are printed together when it ends, with its time.
set -u
cd "$(dirname "$0")/.."
logs=build/test-logs
mkdir -p "$logs"
groups=${TEST_GROUPS:-unit asan fuzz e2e}
: "${FUZZ_SMOKE_SECONDS:=15}"
all="$logs/all.txt"
: > "$all"

# run_one GROUP NAME CMD...: runs CMD with its output in $logs/GROUP-NAME.log
# and writes what report_one prints to $logs/GROUP-NAME.sum: the test's
# PASS/FAIL/SKIP lines (a program that exits non-zero without a FAIL line is a
# failure), its time, and the tail of its output if it failed.
run_one() {
	local group=$1 name=$2; shift 2
	local out="$logs/$group-$name.log" sum="$logs/$group-$name.sum" rc t0=$SECONDS
	"$@" > "$out" 2>&1
	rc=$?
	{
		echo "== $group/$name ($((SECONDS - t0)) s)"
		grep -E '^(PASS|FAIL|SKIP) ' "$out" | sed "s|^\([A-Z]*\) |\1 $group/|"
		if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
			echo "FAIL $group/$name: exited with status $rc (see $out)"
		fi
		if [ $rc -ne 0 ]; then
			tail -n 30 "$out" | sed 's/^/    | /'
		fi
	} > "$sum"
}
# report_one GROUP NAME: prints the test's summary and adds its lines to $all.
report_one() {
	local sum="$logs/$1-$2.sum"
	cat "$sum"
	grep -E '^(PASS|FAIL|SKIP) ' "$sum" >> "$all"
}

# run_pool JOBS GROUP NAME=CMD...: runs up to JOBS tests at once and reports
# each as it ends.  Each CMD is one word for bash -c.
run_pool() {
	local jobs=$1 group=$2 spec pid name
	local -A names=()
	shift 2
	for spec in "$@"; do
		while [ ${#names[@]} -ge "$jobs" ]; do
			wait -n -p pid; report_one "$group" "${names[$pid]}"; unset "names[$pid]"
		done
		name=${spec%%=*}
		run_one "$group" "$name" bash -c "${spec#*=}" &
		names[$!]=$name
	done
	while [ ${#names[@]} -gt 0 ]; do
		wait -n -p pid; report_one "$group" "${names[$pid]}"; unset "names[$pid]"
	done
}

# Where there is no real KVM, every e2e file boots its own test host: a
# single-threaded TCG QEMU, so two of them share a 2-core machine well.
# With real KVM the files run one at a time (they then share the host's
# network namespaces and devices).
ncpu=$(nproc 2>/dev/null || echo 1)
if [ -z "${E2E_JOBS:-}" ]; then
	if scripts/detect-kvm.sh -q; then E2E_JOBS=1; else E2E_JOBS=$((ncpu < 2 ? 1 : 2)); fi
fi
: "${FUZZ_JOBS:=$ncpu}"
# The longest e2e files start first, so that the pool ends evenly.
E2E_SLOW_FIRST="backend-crash vhost-user-net images vhost-user-blk acpi_stock_kernel system-devdomain watchdog_health"

t_all=$SECONDS
for g in $groups; do
	specs=()
	case $g in
	unit|asan)
		dir=build/tests; [ "$g" = asan ] && dir=build/asan/tests
		for t in "$dir"/test_*; do
			[ -x "$t" ] || continue
			run_one "$g" "$(basename "$t")" "$t"
			report_one "$g" "$(basename "$t")"
		done ;;
	fuzz)
		for f in build/fuzz/fuzz_*; do
			[ -x "$f" ] || continue
			n=$(basename "$f")
			corpus=build/fuzz/corpus/$n; mkdir -p "$corpus"
			seeds=tests/fuzz/seeds/$n; [ -d "$seeds" ] || seeds=
			specs+=("$n='$f' -max_total_time=$FUZZ_SMOKE_SECONDS -print_final_stats=1 '$corpus' $seeds && echo 'PASS $n'")
		done
		run_pool "$FUZZ_JOBS" fuzz ${specs[@]+"${specs[@]}"} ;;
	e2e)
		files=()
		for n in $E2E_SLOW_FIRST; do [ -x "tests/e2e/$n.sh" ] && files+=("tests/e2e/$n.sh"); done
		for t in tests/e2e/*.sh; do
			case " $E2E_SLOW_FIRST " in *" $(basename "$t" .sh) "*) continue ;; esac
			[ -x "$t" ] && files+=("$t")
		done
		for t in ${files[@]+"${files[@]}"}; do specs+=("$(basename "$t" .sh)='$t'"); done
		echo "(e2e: $E2E_JOBS at a time)"
		run_pool "$E2E_JOBS" e2e ${specs[@]+"${specs[@]}"} ;;
	esac
done
echo "(all groups: $((SECONDS - t_all)) s)"

p=$(grep -c '^PASS ' "$all"); f=$(grep -c '^FAIL ' "$all"); s=$(grep -c '^SKIP ' "$all")
if [ "$f" -gt 0 ]; then echo; echo "failed:"; grep '^FAIL ' "$all" | sed 's/^/  /'; fi
if [ "$s" -gt 0 ]; then echo; echo "skipped:"; grep '^SKIP ' "$all" | sed 's/^/  /'; fi
echo
echo "$p passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
