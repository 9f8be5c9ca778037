#!/bin/bash
# nxcall against a real nxd on a private instance: the echo pipeline's
# answer as text and as JSON (parsed with jq), --repeat's percentiles and
# rate, an escaped answer, and the errors: an unknown pipeline and no nxd
# exit 1 with the error's name, bad arguments exit 2.
set -u
BUILD=${BUILD:-build}
BIN=$BUILD/bin
command -v jq >/dev/null || { echo "FAIL: jq not installed (scripts/install-deps.sh)"; exit 1; }
. "$(dirname "$0")/lib.sh"
nxt_setup call

# ---- no nxd: exit 1, saying so ----
expect 1 "no nxd" "$BIN/nxcall" --instance "$inst" echo hello
grep -q "ENOINST" "$tmp/err" || fail "no nxd: the error's name is not said"
grep -q "not running" "$tmp/err" || fail "no nxd: libnx's message is not said"

# ---- bad arguments: exit 2, nothing sent ----
expect 2 "no arguments" "$BIN/nxcall"
expect 2 "one argument" "$BIN/nxcall" echo
expect 2 "three arguments" "$BIN/nxcall" echo a b
expect 2 "--repeat 0" "$BIN/nxcall" --repeat 0 echo x
expect 2 "--repeat -1" "$BIN/nxcall" --repeat -1 echo x
expect 2 "--repeat 1x" "$BIN/nxcall" --repeat 1x echo x
expect 2 "--repeat huge" "$BIN/nxcall" --repeat 99999999999999999999999 echo x
expect 2 "--window 0" "$BIN/nxcall" --window 0 echo x
expect 2 "--deadline-us empty" "$BIN/nxcall" --deadline-us "" echo x
expect 2 "--timeout-ms 0" "$BIN/nxcall" --timeout-ms 0 echo x
expect 2 "unknown option" "$BIN/nxcall" --carrier-pigeon echo x
expect 2 "query over 1 KiB" "$BIN/nxcall" --instance "$inst" echo "$(head -c 1025 /dev/zero | tr '\0' a)"
grep -q "at most 1024" "$tmp/err" || fail "a long query: the bound is not said"
expect 0 "--help" "$BIN/nxcall" --help
grep -q "^usage: nxcall" "$tmp/out" || fail "--help has no usage line"
grep -q -- "--repeat N" "$tmp/out" || fail "--help does not describe --repeat"

"$BIN/nxd" --instance "$inst" --workers 1 --quiet --idle sleep 2>"$tmp/nxd.log" &
nxd_pid=$!
"$BIN/nxdemo" --instance "$inst" --wait-ready="$budget" >/dev/null || fail "nxd did not come up"

# ---- one call: the answer as text ----
expect 0 "echo" "$BIN/nxcall" --instance "$inst" echo "hello, nexus"
[ "$(cat "$tmp/out")" = "hello, nexus" ] || fail "echo's answer is not the query"
# a query of exactly 1 KiB is taken
expect 0 "a 1 KiB query" "$BIN/nxcall" --instance "$inst" echo "$(head -c 1024 /dev/zero | tr '\0' a)"
# what a terminal would act on comes out escaped
expect 0 "escaped" "$BIN/nxcall" --instance "$inst" echo "$(printf 'a\033[2Jb\\c\td')"
[ "$(cat "$tmp/out")" = 'a\x1b[2Jb\\c\td' ] || fail "the answer is not escaped: $(cat -v "$tmp/out")"
expect 0 "with a deadline" "$BIN/nxcall" --instance "$inst" --deadline-us 5000000 echo hi

# ---- --json ----
expect 0 "--json" "$BIN/nxcall" --instance "$inst" --json echo "say \"hi\""
jq -e --arg inst "$inst" '.instance == $inst and .pipeline == "echo" and .ok == true and
	.degraded == false and .answer.format == "text" and .answer.text == "say \"hi\"" and
	.answer.bytes == 8' "$tmp/out" >/dev/null || fail "--json: not the answer (jq)"

# ---- --repeat: percentiles and a rate ----
expect 0 "--repeat 1000" "$BIN/nxcall" --instance "$inst" --repeat 1000 echo ping
grep -q "^1000 calls to echo: 1000 answered" "$tmp/out" || fail "--repeat: not 1000 answered"
grep -Eq "^round trip \(us\): p50 [0-9.]+ p90 [0-9.]+ p99 [0-9.]+ p99\.9 [0-9.]+ max [0-9.]+$" \
	"$tmp/out" || fail "--repeat: no percentiles"
grep -Eq "^[0-9]+ requests/s" "$tmp/out" || fail "--repeat: no rate"
expect 0 "--repeat --window --json" "$BIN/nxcall" --instance "$inst" --repeat 1000 --window 8 --json echo ping
jq -e '.ok == true and .repeat.calls == 1000 and .repeat.answered == 1000 and .repeat.failed == 0 and
	.repeat.window == 8 and .repeat.rtt_us.p50 > 0 and .repeat.rtt_us.p50 <= .repeat.rtt_us.p90 and
	.repeat.rtt_us.p90 <= .repeat.rtt_us.p99 and .repeat.rtt_us.p99 <= .repeat.rtt_us.p99_9 and
	.repeat.rtt_us.p99_9 <= .repeat.rtt_us.max and .repeat.requests_per_s > 0' "$tmp/out" \
	>/dev/null || fail "--repeat --json: not the counts and percentiles (jq)"
expect 2 "a window over the channel" "$BIN/nxcall" --instance "$inst" --window 65536 echo x

# ---- errors from nxd: exit 1 with the error's name ----
expect 1 "unknown pipeline" "$BIN/nxcall" --instance "$inst" no-such-pipeline hello
grep -q "ENOPIPE" "$tmp/err" || fail "unknown pipeline: the error's name is not said"
grep -q "no-such-pipeline" "$tmp/err" || fail "unknown pipeline: its name is not said"
expect 1 "unknown pipeline --json" "$BIN/nxcall" --instance "$inst" --json no-such-pipeline hello
jq -e '.ok == false and .error == "ENOPIPE"' "$tmp/out" >/dev/null || fail "--json error: not said (jq)"

kill -TERM "$nxd_pid"
wait "$nxd_pid"
rc=$?
nxd_pid=
[ "$rc" = 0 ] || fail "nxd exited $rc"
echo "nxcall: answers as text and JSON, percentiles, escaping, and every error's exit status"
