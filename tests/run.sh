#!/bin/bash
# Run every test binary under $BUILD/tests with a timeout and sum up.
# The last line is the summary: "N passed, N failed".
set -u
BUILD=${BUILD:-build}
SAN=${SAN:-}
TIMEOUT=${NX_TEST_TIMEOUT:-600}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
export NX_BIN="$root/$BUILD/bin"
export NX_TESTS="$root/$BUILD/tests"
export NX_SAN="$SAN"
export CMOCKA_MESSAGE_OUTPUT=stdout
case "$SAN" in
asan) export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} ;;
tsan) export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} ;;
esac
logdir="$root/$BUILD/test-logs"
mkdir -p "$logdir"

passed=0
failed=0
failed_names=()
skipped_names=()
for kind in unit stress integration hostile; do
	for t in "$BUILD"/tests/$kind/test_*; do
		[ -x "$t" ] || continue
		name="$kind/$(basename "$t")"
		log="$logdir/$(basename "$t").log"
		start=$(date +%s%N)
		timeout --kill-after=10 "$TIMEOUT" "$t" >"$log" 2>&1
		rc=$?
		ms=$((($(date +%s%N) - start) / 1000000))
		secs="$((ms / 1000)).$(((ms % 1000) / 100))"
		p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$log" | tail -1)
		f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$log" | tail -1)
		sk=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test(s), listed below:/\1/p' "$log" | tail -1)
		p=${p:-0}
		f=${f:-0}
		[ -z "$sk" ] || skipped_names+=("$name ($sk: $(sed -n 's/^\[  SKIPPED \] \([^ ]*\)$/\1/p' "$log" | sort -u | tr '\n' ' ')log: $log)")
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			f=1 # crashed, timed out, or a sanitizer stopped it
		fi
		passed=$((passed + p))
		failed=$((failed + f))
		if [ "$rc" -eq 0 ] && [ "$f" -eq 0 ]; then
			printf 'PASS  %-44s %4s tests  %6ss%s\n' "$name" "$p" "$secs" \
				"${sk:+  ($sk skipped, named below)}"
		else
			printf 'FAIL  %-44s %4s passed %s failed  rc=%s  %ss  (log: %s)\n' \
				"$name" "$p" "$f" "$rc" "$secs" "$log"
			grep -E '^\[  (FAILED|ERROR)  \]|^\[ +FAILED +\]|ERROR: |SUMMARY: |panic|Assertion|error:' \
				"$log" | head -20 | sed 's/^/      /'
			failed_names+=("$name")
		fi
	done
done
# every fuzz target over its seed corpus and every crash it ever found
# (tests/fuzz): one line per target, counted as one test each
fz_log="$logdir/fuzz-corpus.log"
BUILD=$BUILD SAN=$SAN tests/fuzz/run-corpus.sh >"$fz_log" 2>&1
fz_rc=$?
grep -E '^(PASS|FAIL|      )' "$fz_log"
fz_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$fz_log" | tail -1)
if [ -n "$fz_line" ]; then
	passed=$((passed + ${fz_line%% passed*}))
	fz_f=${fz_line#*, }
	failed=$((failed + ${fz_f%% failed*}))
	[ "${fz_f%% failed*}" -eq 0 ] || failed_names+=("fuzz")
fi
if [ -z "$fz_line" ] || { [ "$fz_rc" -ne 0 ] && [ "${fz_f%% failed*}" -eq 0 ]; }; then
	failed=$((failed + 1))
	failed_names+=("fuzz (log: $fz_log)")
fi

# shell tests: one test each, exit status says
for t in tests/shell/test_*.sh; do
	[ -x "$t" ] || continue
	name="shell/$(basename "$t" .sh)"
	log="$logdir/$(basename "$t" .sh).log"
	start=$(date +%s%N)
	BUILD=$BUILD timeout --kill-after=10 "$TIMEOUT" "$t" >"$log" 2>&1
	rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	secs="$((ms / 1000)).$(((ms % 1000) / 100))"
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		printf 'PASS  %-44s %4s tests  %6ss  %s\n' "$name" 1 "$secs" "$(tail -1 "$log")"
	else
		failed=$((failed + 1))
		failed_names+=("$name")
		printf 'FAIL  %-44s rc=%s  %ss  (log: %s)\n' "$name" "$rc" "$secs" "$log"
		tail -20 "$log" | sed 's/^/      /'
	fi
done

echo
if [ ${#skipped_names[@]} -gt 0 ]; then
	echo "skipped: ${skipped_names[*]}"
fi
if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
