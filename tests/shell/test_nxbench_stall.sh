#!/bin/bash
# nxbench's window against an nxd that stops answering mid-run (SIGSTOP):
# --op-timeout bounds the wait for an answer there as in every other mode,
# so nxbench exits 1 saying so instead of looking at the ring forever.
set -u
BUILD=${BUILD:-build}
BIN=$BUILD/bin
. "$(dirname "$0")/lib.sh"
nxt_setup benchstall
bench_pid=
stopped=
cleanup() {
	[ -n "$bench_pid" ] && kill -KILL "$bench_pid" 2>/dev/null
	[ -n "$stopped" ] && kill -CONT "$nxd_pid" 2>/dev/null
	nxt_cleanup
}
trap cleanup EXIT

"$BIN/nxd" --instance "$inst" --workers 1 --quiet --idle spin 2>"$tmp/nxd.log" &
nxd_pid=$!
"$BIN/nxdemo" --instance "$inst" --wait-ready="$budget" >/dev/null || fail "nxd did not come up"

# the answers the workers have given so far (0 when nxtop cannot say)
answered() {
	"$BIN/nxtop" --instance "$inst" --json 2>/dev/null |
		python3 -c 'import json,sys; print(sum(w["answered"] for w in json.load(sys.stdin)["workers"]))' \
			2>/dev/null || echo 0
}

for mode in nx nxbatch; do
	before=$(answered)
	# far more requests than can go before the stop: the window is running
	"$BIN/nxbench" --instance "$inst" --mode throughput --transports "$mode" --ops 4000000000 \
		--warmup 0 --op-timeout 1 --start-timeout 60 --duration 3600 >"$tmp/bench.out" 2>&1 &
	bench_pid=$!
	# until the worker has answered some of this run's requests (bounded)
	for _ in $(seq 1 $((budget * 10))); do
		[ "$(answered)" -gt "$before" ] && break
		kill -0 "$bench_pid" 2>/dev/null || break
		sleep 0.1
	done
	[ "$(answered)" -gt "$before" ] || fail "$mode: nxbench's window never got an answer"
	kill -STOP "$nxd_pid"
	stopped=1
	# the window must give up within --op-timeout; the budget is only the bound
	for _ in $(seq 1 $((budget * 10))); do
		kill -0 "$bench_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$bench_pid" 2>/dev/null; then
		fail "$mode: nxbench's window still waiting ${budget}s after nxd stopped answering"
	fi
	rc=0
	wait "$bench_pid" || rc=$?
	bench_pid=
	kill -CONT "$nxd_pid"
	stopped=
	[ "$rc" = 1 ] || { cat "$tmp/bench.out"; fail "$mode: nxbench exited $rc, not 1"; }
	grep -q "no answer within 1.0 s" "$tmp/bench.out" ||
		{ cat "$tmp/bench.out"; fail "$mode: the timeout is not said"; }
done
kill -TERM "$nxd_pid"
rc=0
wait "$nxd_pid" || rc=$?
nxd_pid=
[ "$rc" = 0 ] || fail "nxd exited $rc"
echo "nxbench: the window gives up on an nxd that stopped answering, after --op-timeout"
