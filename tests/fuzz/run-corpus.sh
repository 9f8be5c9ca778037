#!/bin/bash
# Every fuzz target's seed corpus and every crash it ever found, as
# regression tests: $BUILD/tests/fuzzreg/fuzz_NAME (the targets linked with
# tests/fuzz/driver.c, built by `make tests` with $CC and $SAN) over
# tests/fuzz/corpus/NAME and tests/fuzz/regressions/NAME.
#
#   BUILD=build SAN= tests/fuzz/run-corpus.sh
#
# One line per target, as tests/run.sh prints its tests, then the summary
# "N passed, N failed" (one per target); exit status 1 when any failed.
set -u
BUILD=${BUILD:-build}
SAN=${SAN:-}
TIMEOUT=${NX_TEST_TIMEOUT:-600}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 2
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
found=0
for t in tests/fuzz/fuzz_*.c; do
	name=${t#tests/fuzz/fuzz_}
	name=${name%.c}
	bin="$BUILD/tests/fuzzreg/fuzz_$name"
	log="$logdir/fuzz_$name.log"
	dirs=()
	n=0
	for d in "tests/fuzz/corpus/$name" "tests/fuzz/regressions/$name"; do
		[ -d "$d" ] || continue
		dirs+=("$d")
		n=$((n + $(find "$d" -maxdepth 1 -type f ! -name '.*' | wc -l)))
	done
	found=$((found + 1))
	start=$(date +%s%N)
	if [ ! -x "$bin" ]; then
		echo "no $bin: make fuzzreg (or make tests)" >"$log"
		rc=127
	else
		# (the braces keep bash's "Aborted" notice out of the output)
		{ timeout --kill-after=10 "$TIMEOUT" "$bin" -v "${dirs[@]}" >"$log" 2>&1; } 2>/dev/null
		rc=$?
	fi
	ms=$((($(date +%s%N) - start) / 1000000))
	secs="$((ms / 1000)).$(((ms % 1000) / 100))"
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		printf 'PASS  %-44s %4s inputs %6ss\n' "fuzz/$name" "$n" "$secs"
	else
		failed=$((failed + 1))
		failed_names+=("fuzz/$name")
		printf 'FAIL  %-44s %4s inputs rc=%s  %ss  (log: %s)\n' "fuzz/$name" "$n" "$rc" \
			"$secs" "$log"
		grep -E '^driver: running' "$log" | tail -1 | sed 's/^driver: running/      input:/'
		grep -E 'ERROR: |SUMMARY: |FUZZ CHECK FAILED|HANG|runtime error|WARNING: ThreadSanitizer|^    #[0-9] ' \
			"$log" | head -20 | sed 's/^/      /'
		# a hang's backtrace (driver.c) holds offsets into the binary
		offs=$(sed -n "s|^.*fuzz_$name(+\(0x[0-9a-f]*\)).*|\1|p" "$log" | sed -n '3,10p')
		if [ -n "$offs" ] && command -v addr2line >/dev/null; then
			# shellcheck disable=SC2086
			addr2line -f -i -s -e "$bin" $offs | paste - - | sed 's/^/        at /'
		fi
	fi
done
if [ "$found" -eq 0 ]; then
	echo "FAIL  fuzz: no tests/fuzz/fuzz_*.c"
	failed=1
fi
echo
if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
