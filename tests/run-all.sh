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
# Select groups with TEST_GROUPS="unit asan" etc.
set -u
cd "$(dirname "$0")/.."
logs=build/test-logs
mkdir -p "$logs"
groups=${TEST_GROUPS:-unit asan fuzz e2e}
: "${FUZZ_SMOKE_SECONDS:=15}"
all="$logs/all.txt"
: > "$all"

# run_one GROUP NAME CMD...: runs CMD, copies its PASS/FAIL/SKIP lines to the
# summary; a program that exits non-zero without a FAIL line is a failure.
run_one() {
	local group=$1 name=$2; shift 2
	local out="$logs/$group-$name.log" rc
	echo "== $group/$name"
	"$@" > "$out" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL|SKIP) ' "$out" | sed "s|^\([A-Z]*\) |\1 $group/|" | tee -a "$all"
	if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
		echo "FAIL $group/$name: exited with status $rc (see $out)" | tee -a "$all"
	fi
	if [ $rc -ne 0 ]; then
		tail -n 30 "$out" | sed 's/^/    | /'
	fi
}

for g in $groups; do
	case $g in
	unit|asan)
		dir=build/tests; [ "$g" = asan ] && dir=build/asan/tests
		for t in "$dir"/test_*; do
			[ -x "$t" ] || continue
			run_one "$g" "$(basename "$t")" "$t"
		done ;;
	fuzz)
		for f in build/fuzz/fuzz_*; do
			[ -x "$f" ] || continue
			n=$(basename "$f")
			corpus=build/fuzz/corpus/$n; mkdir -p "$corpus"
			seeds=tests/fuzz/seeds/$n; [ -d "$seeds" ] || seeds=
			run_one fuzz "$n" bash -c "'$f' -max_total_time=$FUZZ_SMOKE_SECONDS -print_final_stats=1 '$corpus' $seeds && echo 'PASS $n'"
		done ;;
	e2e)
		for t in tests/e2e/*.sh; do
			[ -x "$t" ] || continue
			run_one e2e "$(basename "$t" .sh)" "$t"
		done ;;
	esac
done

p=$(grep -c '^PASS ' "$all"); f=$(grep -c '^FAIL ' "$all"); s=$(grep -c '^SKIP ' "$all")
if [ "$f" -gt 0 ]; then echo; echo "failed:"; grep '^FAIL ' "$all" | sed 's/^/  /'; fi
if [ "$s" -gt 0 ]; then echo; echo "skipped:"; grep '^SKIP ' "$all" | sed 's/^/  /'; fi
echo
echo "$p passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
