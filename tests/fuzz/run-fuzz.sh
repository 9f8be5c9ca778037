#!/bin/bash
# Run the libFuzzer targets (`make fuzz` builds them first), FUZZ_JOBS at a
# time (default: one per CPU), FUZZ_SECONDS each (0: run the corpus once and
# stop).
#
#   FUZZ_DIR=build-fuzz FUZZ_SECONDS=60 [FUZZ_JOBS=2] tests/fuzz/run-fuzz.sh [NAME...]
#
# Each NAME (default: every build-fuzz/fuzz_*) runs over build-fuzz/corpus/
# NAME, where its seeds (tests/fuzz/corpus/NAME) are copied first and new
# inputs are kept between runs. (tests/fuzz/regressions/NAME is not read:
# those run in make test, tests/fuzz/run-corpus.sh; an unfixed one here
# would stop the target at once.)
# A crash, leak, timeout or out-of-memory writes its input to
# build-fuzz/crashes/NAME-*. One line per target, then "N passed, N failed"
# (one per target); exit status 1 when any target failed.
set -u
FUZZ_DIR=${FUZZ_DIR:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 2
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for b in "$FUZZ_DIR"/fuzz_*; do
		[ -x "$b" ] && names+=("${b##*/fuzz_}")
	done
fi
mkdir -p "$FUZZ_DIR/crashes" "$FUZZ_DIR/logs"
# one target: its report lines to $FUZZ_DIR/logs/NAME.out, PASS or FAIL first
fuzz_one() {
	local name=$1
	local bin work log before start rc secs runs rate rss last cov ft corp after stats art
	local -a dirs limit
	bin="$FUZZ_DIR/fuzz_$name"
	work="$FUZZ_DIR/corpus/$name"
	log="$FUZZ_DIR/logs/$name.log"
	mkdir -p "$work"
	if [ -d "tests/fuzz/corpus/$name" ]; then
		cp -n tests/fuzz/corpus/"$name"/* "$work"/ 2>/dev/null
	fi
	dirs=("$work")
	if [ "$FUZZ_SECONDS" -gt 0 ]; then
		limit=(-max_total_time="$FUZZ_SECONDS")
	else
		limit=(-runs=0)
	fi
	# inputs longer than libFuzzer's 4096 by default where a message is:
	# a command takes 16 KiB of arguments, a reply chunk 32 KiB
	case "$name" in
	ctl) limit+=(-max_len=40000) ;;
	esac
	before=$(ls "$FUZZ_DIR/crashes" | grep -c "^$name-")
	start=$(date +%s)
	if [ ! -x "$bin" ]; then
		echo "no $bin (make fuzz-build)" >"$log"
		rc=127
	else
		"$bin" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix="$FUZZ_DIR/crashes/$name-" "${dirs[@]}" >"$log" 2>&1
		rc=$?
	fi
	secs=$(($(date +%s) - start))
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
	last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
	after=$(ls "$FUZZ_DIR/crashes" | grep -c "^$name-")
	stats=$(printf '%6ss %9s runs %6s/s  cov %-5s ft %-6s corpus %-5s rss %sMB' "$secs" \
		"${runs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}")
	if [ "$rc" -eq 0 ] && [ "$after" -eq "$before" ]; then
		printf 'PASS  fuzz/%-10s %s\n' "$name" "$stats"
		return
	fi
	printf 'FAIL  fuzz/%-10s %s  rc=%s  (log: %s)\n' "$name" "$stats" "$rc" "$log"
	grep -E '^==[0-9]+==ERROR|^SUMMARY:|FUZZ CHECK FAILED|runtime error|ALARM|out-of-memory|^    #[0-9] ' \
		"$log" | head -24 | sed 's/^/      /'
	grep -o 'Test unit written to .*' "$log" | sed 's/^Test unit written to /      artifact: /'
	art=$(grep -o 'Test unit written to .*' "$log" | tail -1 | sed 's/^Test unit written to //')
	if [ -n "$art" ]; then
		echo "      reproduce:   $bin $art"
		echo "      keep it as a regression (run by make test, with gcc too):"
		echo "        mkdir -p tests/fuzz/regressions/$name && cp $art tests/fuzz/regressions/$name/"
	fi
}

# FUZZ_JOBS targets at a time (default: one per CPU); each writes only its
# own corpus, log and crashes/NAME-*, and the reports print in order
jobs_max=${FUZZ_JOBS:-$(nproc)}
if ! [[ "$jobs_max" =~ ^[1-9][0-9]{0,3}$ ]]; then
	echo "run-fuzz.sh: FUZZ_JOBS must be a number of targets at a time, 1 to 9999: '$jobs_max'" >&2
	exit 2
fi
for name in "${names[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
		wait -n
	done
	fuzz_one "$name" >"$FUZZ_DIR/logs/$name.out" &
done
wait
passed=0
failed=0
failed_names=()
for name in "${names[@]}"; do
	cat "$FUZZ_DIR/logs/$name.out"
	if head -1 "$FUZZ_DIR/logs/$name.out" | grep -q '^PASS'; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failed_names+=("$name")
	fi
done
echo
if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed: ${failed_names[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
