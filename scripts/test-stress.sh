#!/bin/bash
# make test-stress: the whole suite, again and again, to show it does not
# depend on the scheduler. NX_REPEAT runs in a row on an idle machine
# (default 10), then NX_REPEAT_LOADED runs (default 3) with every CPU kept
# busy by stress-ng. Stops at the first failing run, keeping its logs in
# $BUILD/test-stress/run-N/. The last line: "N passed, N failed" (runs).
set -u
BUILD=${BUILD:-build}
SAN=${SAN:-}
REPEAT=${NX_REPEAT:-10}
LOADED=${NX_REPEAT_LOADED:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
out="$BUILD/test-stress"
rm -rf "$out"
mkdir -p "$out"
load_pid=
stop_load() {
	if [ -n "$load_pid" ] && kill -0 "$load_pid" 2>/dev/null; then
		kill -TERM "$load_pid"
		wait "$load_pid" 2>/dev/null
	fi
	load_pid=
}
trap stop_load EXIT INT TERM

passed=0
failed=0
run() {
	local n=$1 how=$2 start rc line
	start=$(date +%s)
	BUILD=$BUILD SAN=$SAN tests/run.sh >"$out/run-$n.log" 2>&1
	rc=$?
	line=$(tail -1 "$out/run-$n.log")
	printf 'run %2d (%s): %s  %ss\n' "$n" "$how" "$line" "$(($(date +%s) - start))"
	if [ "$rc" -ne 0 ]; then
		failed=$((failed + 1))
		mkdir -p "$out/run-$n"
		cp -r "$BUILD/test-logs/." "$out/run-$n/"
		grep -E '^FAIL' "$out/run-$n.log" | sed 's/^/    /'
		echo "    logs: $out/run-$n/"
		return 1
	fi
	passed=$((passed + 1))
}

i=0
while [ "$i" -lt "$REPEAT" ]; do
	i=$((i + 1))
	run "$i" "idle" || break
done
if [ "$failed" -eq 0 ] && [ "$LOADED" -gt 0 ]; then
	if ! command -v stress-ng >/dev/null; then
		echo "stress-ng is missing (scripts/install-deps.sh installs it)"
		failed=$((failed + 1))
	else
		stress-ng --cpu "$(nproc)" --timeout 0 --quiet &
		load_pid=$!
		j=0
		while [ "$j" -lt "$LOADED" ]; do
			j=$((j + 1))
			run "$((i + j))" "stress-ng --cpu $(nproc)" || break
		done
		stop_load
	fi
fi
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
