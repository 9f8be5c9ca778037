#!/bin/bash
# nxexport against a real nxd on a private instance: /health follows the
# instance (503 before nxd, 200 serving, 429 degraded, 503 unhealthy, 503
# when nxd stops, with why), /metrics and /api/snapshot count exactly the
# requests a client made, HEAD, 404, 405, a long URL, many connections at
# once, bad options, and a clean exit on SIGTERM.
set -u
BUILD=${BUILD:-build}
BIN=$BUILD/bin
CALLS=$BUILD/tests/helpers/nxt_calls
command -v jq >/dev/null || { echo "FAIL: jq not installed (scripts/install-deps.sh)"; exit 1; }
command -v curl >/dev/null || { echo "FAIL: curl not installed"; exit 1; }
[ -x "$CALLS" ] || { echo "FAIL: $CALLS not built (make tests)"; exit 1; }
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nxexport_lib.sh"
nxt_setup export
trap nxe_cleanup EXIT
N=2000

# ---- bad usage: exit 2 ----
expect 2 "--listen without a port" "$BIN/nxexport" --listen 127.0.0.1
expect 2 "--listen a name" "$BIN/nxexport" --listen localhost:9464
expect 2 "--listen port 65536" "$BIN/nxexport" --listen 127.0.0.1:65536
expect 2 "--listen IPv6 without brackets" "$BIN/nxexport" --listen ::1:9464
expect 2 "--interval 0" "$BIN/nxexport" --interval 0
expect 2 "--max-connections 0" "$BIN/nxexport" --max-connections 0
expect 2 "an argument" "$BIN/nxexport" extra
expect 2 "a bad instance name" "$BIN/nxexport" --instance "../../etc/passwd" --listen 127.0.0.1:0
expect 0 "--help" "$BIN/nxexport" --help
grep -q "^usage: nxexport" "$tmp/out" || fail "--help has no usage line"

# ---- before nxd: down, 503, nx_up 0 ----
nxe_start --interval 0.1
http /health
[ "$code" = 503 ] || fail "/health before nxd: $code, not 503"
jq -e '.health == "down" and .up == false and (.why | test("no nxd"))' "$tmp/body" >/dev/null ||
	fail "/health before nxd does not say down and why"
http /metrics
[ "$code" = 200 ] && grep -qx "nx_up{instance=\"$inst\"} 0" "$tmp/body" || fail "/metrics before nxd: not nx_up 0"

# ---- nxd comes: 200 ----
printf '[pipeline.bad]\ngraph = f\nf.stage = fail\nf.percent = 100\n' >"$tmp/nxd.ini"
"$BIN/nxd" --instance "$inst" --workers 1 --quiet --idle sleep --config "$tmp/nxd.ini" 2>"$tmp/nxd.log" &
nxd_pid=$!
"$BIN/nxdemo" --instance "$inst" --wait-ready="$budget" >/dev/null || fail "nxd did not come up"
healthy() { http /health && [ "$code" = 200 ]; }
wait_for "/health 200 once nxd serves" healthy
jq -e ".health == \"healthy\" and .up == true and .pid == $nxd_pid and .problems == []" "$tmp/body" \
	>/dev/null || fail "/health 200 without healthy, up and nxd's pid"
grep -qi '^content-type: application/json' "$tmp/headers" || fail "/health is not application/json"

# ---- exact counts: /metrics and /api/snapshot say what the client sent ----
msum() { awk -v f="$1{" 'index($0, f) == 1 { s += $NF } END { printf "%d\n", s }' "$tmp/body"; }
http /metrics
base=$(msum nx_worker_requests_total)
expect 0 "nxcall --repeat $N" "$BIN/nxcall" --instance "$inst" --repeat "$N" echo ping
grep -q "^$N calls to echo: $N answered" "$tmp/out" || fail "the client did not make $N calls"
counted() { http /metrics && [ "$(msum nx_worker_requests_total)" = $((base + N)) ]; }
wait_for "/metrics counting $N requests more than $base" counted
grep -qi '^content-type: text/plain; version=0.0.4' "$tmp/headers" || fail "/metrics: not the exposition format's type"
for fam in nx_up nx_generation nx_restarts_total nx_health nx_worker_requests_total \
	nx_worker_service_seconds nx_stage_calls_total nx_stage_breaker_state nx_stage_seconds \
	nx_channel_requests_total nx_pipeline_version; do
	grep -q "^# TYPE $fam " "$tmp/body" || fail "/metrics has no family $fam"
done
# the same families, in the same order, as nxtop --prometheus
"$BIN/nxtop" --instance "$inst" --prometheus | grep '^# TYPE' >"$tmp/top.types"
grep '^# TYPE' "$tmp/body" | diff - "$tmp/top.types" >/dev/null || fail "/metrics's families are not nxtop's"
http /api/snapshot
[ "$code" = 200 ] || fail "/api/snapshot: $code"
jq -e --arg i "$inst" ".instance == \$i and .up == true and .state == \"running\" and
	([.workers[].answered] | add) == $((base + N)) and
	(.stages | map(select(.pipeline == \"echo\")) | length) == 1" "$tmp/body" >/dev/null ||
	fail "/api/snapshot does not count $N more requests ($((base + N)))"

# ---- HTTP: HEAD, query strings, 404, 405, long URLs ----
# (with -I, curl writes the headers where the body would go: nothing else may come)
http /metrics -I
[ "$code" = 200 ] && cmp -s "$tmp/body" "$tmp/headers" || fail "HEAD /metrics: $code, or a body"
grep -qi '^content-length: [1-9]' "$tmp/headers" || fail "HEAD /metrics: no length of the GET's body"
http "/health?verbose=1"
[ "$code" = 200 ] || fail "a query string: $code"
for p in /nope /metrics/ /api /api/snapshot/x /..%2f..%2fetc/passwd /index.htm; do
	http "$p" --path-as-is
	[ "$code" = 404 ] || fail "GET $p: $code, not 404"
done
http /../../etc/passwd --path-as-is
[ "$code" = 404 ] || [ "$code" = 400 ] || fail "GET /../../etc/passwd: $code"
for m in POST PUT DELETE PATCH OPTIONS TRACE; do
	http /metrics -X "$m" --data x
	[ "$code" = 405 ] || fail "$m /metrics: $code, not 405"
	grep -qi '^allow: GET, HEAD' "$tmp/headers" || fail "$m: 405 without Allow"
done
# on loopback, only requests addressed to loopback (DNS rebinding)
http /api/snapshot -H "Host: attacker.example"
[ "$code" = 421 ] || fail "Host attacker.example on loopback: $code, not 421"
http /metrics -H "Host: 127.0.0.1.attacker.example:80"
[ "$code" = 421 ] || fail "a Host that starts like 127.0.0.1: $code, not 421"
for h in localhost "localhost:9" 127.0.0.1 "127.0.0.1:1"; do
	http /health -H "Host: $h"
	[ "$code" != 421 ] || fail "Host $h refused"
done
http "/$(head -c 100000 /dev/zero | tr '\0' a)"
[ "$code" = 414 ] || fail "a 100 kB URL: $code, not 414"
http / -H "X-Junk: $(head -c 100000 /dev/zero | tr '\0' a)"
case "$code" in 413|431|400) ;; *) fail "a 100 kB header: $code, not 431" ;; esac
http /
[ "$code" = 200 ] && grep -q '<canvas\|canvas' "$tmp/body" || fail "GET /: $code, or no page"
grep -qi "^content-security-policy: default-src 'none'" "$tmp/headers" || fail "the page has no CSP"
if grep -Eq '(src|href)="?(https?:)?//' "$tmp/body"; then fail "the page fetches from outside"; fi

# ---- many connections at once: the limit holds, nxexport serves after ----
python3 - "${url#http://}" <<'PY' || fail "many connections"
import socket, sys
host, port = sys.argv[1].rstrip("/").split(":")
socks = []
for _ in range(300):
    try:
        s = socket.create_connection((host, int(port)), timeout=5)
        s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
        socks.append(s)
    except OSError:
        break
for s in socks:
    s.close()
PY
kill -0 "$nxe_pid" 2>/dev/null || fail "nxexport died under many connections"
wait_for "/health answered after many connections" healthy

# ---- degraded (429): 3 failures in a row; unhealthy (503): 10 ----
expect 0 "3 failing calls" "$CALLS" "$inst" bad:3
degraded() { http /health && [ "$code" = 429 ]; }
wait_for "/health 429 after 3 failures in a row" degraded
jq -e '.health == "degraded" and ([.problems[] | select(.kind == "stage" and .pipeline == "bad")] | length) == 1' \
	"$tmp/body" >/dev/null || fail "/health 429 does not name bad's slot"
expect 0 "10 failing calls" "$CALLS" "$inst" bad:10
unhealthy() { http /health && [ "$code" = 503 ] && jq -e '.health == "unhealthy"' "$tmp/body" >/dev/null; }
wait_for "/health 503 unhealthy after 13 failures in a row" unhealthy

# ---- nxd stops: 503 down, nx_up 0, nxexport still serving ----
kill -TERM "$nxd_pid"
wait "$nxd_pid"
nxd_pid=
down() { http /health && [ "$code" = 503 ] && jq -e '.health == "down" and .up == false' "$tmp/body" >/dev/null; }
wait_for "/health 503 down once nxd stopped" down
http /metrics
grep -qx "nx_up{instance=\"$inst\"} 0" "$tmp/body" || fail "/metrics with nxd stopped: not nx_up 0"
http /api/snapshot
jq -e '.up == false and .health == "down"' "$tmp/body" >/dev/null || fail "/api/snapshot with nxd stopped"

# ---- SIGTERM: exit 0; the port is free again ----
nxe_stop
if curl -s -m 5 -o /dev/null "$url"; then fail "something still answers on $url"; fi
echo "nxexport: /health 503 down, 200, 429, 503 unhealthy, 503 down; $N requests counted; HEAD, 404, 405, 421 for another Host, 414, 431; 300 connections; SIGTERM exits 0"
