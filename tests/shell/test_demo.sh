#!/bin/bash
# make demo, shortened (NX_DEMO_SECONDS), checks its own summary: every
# request answered exactly once (none lost, none twice), the injected
# fault's breaker opened and then closed, nxd's restart happened and was
# counted by nxd and seen by the client, exit status 0, nothing left.
set -u
BUILD=${BUILD:-build}
command -v jq >/dev/null || { echo "FAIL: jq not installed (scripts/install-deps.sh)"; exit 1; }
[ -f "$BUILD/lib/retrieval.conf" ] || { echo "FAIL: $BUILD/lib/retrieval.conf not built (make)"; exit 1; }
tmp=$(mktemp -d /tmp/nxt-demo.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; echo "---- demo output"; cat "$tmp/demo.out"; exit 1; }
# how long each of the demo's waits may take: generous, for a loaded
# machine and sanitized builds; never a measure of speed
wait_s=120
[ -n "${NX_SAN:-}" ] && wait_s=300
BUILD=$BUILD NX_DEMO_SECONDS=${NX_DEMO_SECONDS:-8} NX_DEMO_WAIT=$wait_s \
	NX_DEMO_FAULT=full/fuzzy NX_DEMO_SUMMARY="$tmp/summary.json" scripts/demo.sh >"$tmp/demo.out" 2>&1
rc=$?
[ -s "$tmp/summary.json" ] || fail "no summary (exit $rc)"
check() { jq -e "$1" "$tmp/summary.json" >/dev/null || fail "$2 (jq: $1)"; }
check '.client.final == true' "the client did not finish"
check '.client.submitted > 0 and .client.submitted == .client.completed' "a request was never answered"
check '.client.duplicates == 0 and .client.unknown == 0' "a request was answered twice"
check '[.client.pipelines[] | .answers > 0] | all' "a pipeline got no answer"
check '.swap_errors == 0' "errors on the swapped pipeline"
check '.breaker_opened >= 1' "the fault's breaker did not open"
check '.fault_degraded >= 1' "no degraded answer under the fault"
check '.breaker_closed == true' "the breaker did not close after the fault"
check '.restarts >= 1 and .client.restarts_seen >= 1' "the restart was not counted"
check '.rc == 0' "the demo's own checks failed"
[ "$rc" = 0 ] || fail "the demo exited $rc"
for step in "== 1. live swap" "== 2. a fault" "== 3. nxd killed" "== 4. summary" "left behind: nothing"; do
	grep -qF -- "$step" "$tmp/demo.out" || fail "no '$step' in the output"
done
echo "demo: $(jq -r '"\(.client.completed) requests answered once each, breaker opened \(.breaker_opened) times and closed, \(.restarts) restart (gap \(.client.restart_gap_ms) ms)"' "$tmp/summary.json")"
