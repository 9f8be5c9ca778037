#!/bin/bash
# nxtop's batch output against counts this test produced: exactly N calls on
# echo and M on a pipeline whose stage always fails, from one client; then
# --once --json (parsed with jq) and --prometheus must say N, M, N+M on the
# channel, with HELP and TYPE for every family; rates while load runs; the
# output when nxd is down and when there is no segment; bad options.
set -u
BUILD=${BUILD:-build}
BIN=$BUILD/bin
CALLS=$BUILD/tests/helpers/nxt_calls
command -v jq >/dev/null || { echo "FAIL: jq not installed (scripts/install-deps.sh)"; exit 1; }
[ -x "$CALLS" ] || { echo "FAIL: $CALLS not built (make tests)"; exit 1; }
# unique to this run (pids are reused), and nothing left by a killed one
inst="nxt-topx-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
# nxd's control socket and lock (what a SIGKILL leaves), where nxd puts them
if [ -n "${NX_RUNTIME_DIR:-}" ]; then rundir=$NX_RUNTIME_DIR
elif [ "$(id -u)" = 0 ] || [ -w /run/nexus ]; then rundir=/run/nexus
elif [ -n "${XDG_RUNTIME_DIR:-}" ]; then rundir=$XDG_RUNTIME_DIR/nexus
else rundir=/tmp/nexus-$(id -u); fi
rm -f "$rundir/$inst.ctl" "$rundir/$inst.lock" "/dev/shm/nx.$inst".*
N=1500
M=37
tmp=$(mktemp -d /tmp/nxt-topx.XXXXXX)
# how long to wait for what must come (seconds): never a measure of speed;
# sanitized builds run slower
budget=60
[ -n "${NX_SAN:-}" ] && budget=300
nxd_pid=
calls_pid=
load_pid=
cleanup() {
	[ -n "$load_pid" ] && kill -KILL "$load_pid" 2>/dev/null
	[ -n "$calls_pid" ] && kill -KILL "$calls_pid" 2>/dev/null
	[ -n "$nxd_pid" ] && kill -KILL "$nxd_pid" 2>/dev/null
	rm -f "$rundir/$inst.ctl" "$rundir/$inst.lock" "/dev/shm/nx.$inst".*   # health, and whatever else nxd keeps (--keep, SIGKILL)
	rm -rf "$tmp"
}
# interrupted or timed out: exit, and the EXIT trap cleans up
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
fail() {
	echo "FAIL: $*"
	for f in "$tmp"/*; do echo "---- $f"; head -c 3000 "$f"; echo; done
	exit 1
}
# jqcheck FILE EXPR WHAT: EXPR must be true of FILE (with quiet set, only
# note that it is not, in check_failed: for a poll)
quiet=
check_failed=
jqcheck() {
	jq -e "$2" "$1" >/dev/null && return 0
	[ -n "$quiet" ] || fail "$3 (jq: $2)"
	check_failed=1
}
# promval FILE SAMPLE-PREFIX: the value of the one sample line starting so
promval() { grep -F -- "$2} " "$1" | awk '{ print $NF }'; }

printf '[pipeline.bad]\ngraph = f\nf.stage = fail\nf.percent = 100\n' >"$tmp/nxd.ini"
"$BIN/nxd" --instance "$inst" --quiet --idle sleep --keep --config "$tmp/nxd.ini" 2>"$tmp/nxd.log" &
nxd_pid=$!
"$BIN/nxdemo" --instance "$inst" --wait-ready="$budget" >/dev/null || fail "nxd did not come up"

# ---- exact counts, the client still attached (until it is killed below) ----
"$CALLS" "$inst" --hold 3600 "echo:$N" "bad:$M" >"$tmp/calls.out" 2>"$tmp/calls.err" &
calls_pid=$!
deadline=$((SECONDS + budget))
while [ "$SECONDS" -lt "$deadline" ]; do
	[ -s "$tmp/calls.out" ] && break
	kill -0 "$calls_pid" 2>/dev/null || fail "the client exited early"
	sleep 0.1
done
grep -qx "ok $N failed $M" "$tmp/calls.out" || fail "the client did not make its calls"

# every figure below as nxtop reads it from the health segment
top_checks() {
check_failed=
jqcheck "$tmp/top.json" ".instance == \"$inst\" and .up == true and .segment == true and
	.generation == 1 and .pid == $nxd_pid and .state == \"running\" and .interval_s == 0.2" \
	"header fields"
jqcheck "$tmp/top.json" '.restarts == 0 and .restart_log == [] and .uptime_s > 0' "restarts, uptime"
jqcheck "$tmp/top.json" ".stages[] | select(.pipeline == \"echo\" and .slot == \"echo\") |
	.stage == \"echo\" and .calls == $N and .failures == 0 and .health == \"healthy\"" \
	"echo's slot: $N calls, no failure"
jqcheck "$tmp/top.json" ".stages[] | select(.pipeline == \"bad\" and .slot == \"f\") |
	.stage == \"fail\" and .calls == $M and .failures == $M and .consec_failures == $M and
	.health == \"unhealthy\"" "bad's slot: $M calls, all failed"
jqcheck "$tmp/top.json" "[.stages[] | select(.pipeline == \"echo\" or .pipeline == \"bad\")] |
	length == 2" "one slot each for echo and bad"
jqcheck "$tmp/top.json" '.health == "unhealthy" and (.why | test("^bad/f: "))' \
	"overall health says why: bad/f"
jqcheck "$tmp/top.json" "[.channels[] | select(.pid == $calls_pid)] | length == 1" \
	"the client's channel, by pid"
jqcheck "$tmp/top.json" ".channels[] | select(.pid == $calls_pid) | .state == \"attached\" and
	.taken == $((N + M)) and .answered == $((N + M)) and .errors == $M and
	.outstanding == 0 and .depth == 0" "the client's channel counts"
jqcheck "$tmp/top.json" "([.workers[].answered] | add) == $((N + M)) and
	([.workers[].errors.stage] | add) == $M and ([.workers[].errors.nopipe] | add) == 0" \
	"workers: answered and stage errors"
jqcheck "$tmp/top.json" '.workers | length >= 1 and all(.[]; .health == "healthy" and
	(.state | IN("running", "idle", "sleeping")) and .cpu >= 0)' "workers' state"
jqcheck "$tmp/top.json" '[.pipelines[].name] | contains(["echo", "checksum", "noop3", "bad"])' \
	"pipelines"
[ -z "$check_failed" ]
}
# The worker publishes its counters a moment after answering, and the
# channel's depth and outstanding at its next heartbeat; a worker's
# heartbeat may lag on a loaded machine (health then degraded for a
# moment): read until every figure is in (bounded), then check each.
deadline=$((SECONDS + budget))
while :; do
	"$BIN/nxtop" --instance "$inst" --once --json -d 0.2 >"$tmp/top.json" 2>"$tmp/top.err" ||
		fail "nxtop --once --json exited $?"
	quiet=1
	top_checks && break
	[ "$SECONDS" -lt "$deadline" ] || break
	sleep 0.1
done
quiet=
[ "$(wc -l <"$tmp/top.json")" = 1 ] || fail "--json is not one line"
top_checks

"$BIN/nxtop" --instance "$inst" --prometheus >"$tmp/top.prom" 2>"$tmp/prom.err" ||
	fail "nxtop --prometheus exited $?"
p="{instance=\"$inst\""
# every sample is name{labels} value, and its family has HELP and TYPE first
awk '
	/^# HELP / { help[$3] = 1; next }
	/^# TYPE / { if (!($3 in help)) { print "TYPE before HELP: " $3; bad = 1 }
		     if ($4 != "counter" && $4 != "gauge") { print "type: " $0; bad = 1 }
		     type[$3] = $4; next }
	/^#/ { print "comment: " $0; bad = 1; next }
	!/^[a-zA-Z_:][a-zA-Z0-9_:]*\{[^}]*\} -?[0-9.e+-]+$/ { print "sample: " $0; bad = 1; next }
	{ name = $0; sub(/\{.*/, "", name)
	  if (!(name in type)) { print "no TYPE: " name; bad = 1 }
	  if (type[name] == "counter" && name !~ /_total$/) { print "counter name: " name; bad = 1 } }
	END { exit bad }' "$tmp/top.prom" >"$tmp/prom.check" || fail "exposition format"
for fam in nx_up nx_generation nx_restarts_total nx_health nx_worker_requests_total \
	nx_worker_heartbeat_age_seconds nx_stage_calls_total nx_stage_failures_total \
	nx_stage_health nx_channel_depth nx_channel_outstanding nx_channel_errors_total; do
	grep -qx "# HELP $fam .*" "$tmp/top.prom" || fail "no HELP for $fam"
	grep -qx "# TYPE $fam \(counter\|gauge\)" "$tmp/top.prom" || fail "no TYPE for $fam"
done
[ "$(promval "$tmp/top.prom" "nx_up$p")" = 1 ] || fail "nx_up is not 1"
[ "$(promval "$tmp/top.prom" "nx_generation$p")" = 1 ] || fail "nx_generation is not 1"
[ "$(promval "$tmp/top.prom" "nx_restarts_total$p")" = 0 ] || fail "nx_restarts_total"
[ "$(promval "$tmp/top.prom" "nx_health$p")" = 2 ] || fail "nx_health is not 2 (unhealthy)"
[ "$(promval "$tmp/top.prom" "nx_stage_calls_total$p,pipeline=\"echo\",slot=\"echo\",stage=\"echo\"")" = "$N" ] ||
	fail "nx_stage_calls_total of echo is not $N"
[ "$(promval "$tmp/top.prom" "nx_stage_failures_total$p,pipeline=\"echo\",slot=\"echo\",stage=\"echo\"")" = 0 ] ||
	fail "nx_stage_failures_total of echo is not 0"
[ "$(promval "$tmp/top.prom" "nx_stage_calls_total$p,pipeline=\"bad\",slot=\"f\",stage=\"fail\"")" = "$M" ] ||
	fail "nx_stage_calls_total of bad is not $M"
[ "$(promval "$tmp/top.prom" "nx_stage_failures_total$p,pipeline=\"bad\",slot=\"f\",stage=\"fail\"")" = "$M" ] ||
	fail "nx_stage_failures_total of bad is not $M"
chan=$(jq -r ".channels[] | select(.pid == $calls_pid) | .channel" "$tmp/top.json")
cl="$p,channel=\"$chan\",pid=\"$calls_pid\",state=\"attached\""
[ "$(promval "$tmp/top.prom" "nx_channel_requests_total$cl")" = $((N + M)) ] ||
	fail "nx_channel_requests_total is not $((N + M))"
[ "$(promval "$tmp/top.prom" "nx_channel_errors_total$cl")" = "$M" ] || fail "nx_channel_errors_total"
[ "$(promval "$tmp/top.prom" "nx_channel_outstanding$cl")" = 0 ] || fail "nx_channel_outstanding"
[ "$(grep "^nx_worker_requests_total$p," "$tmp/top.prom" | awk '{ s += $NF } END { print s }')" = $((N + M)) ] ||
	fail "nx_worker_requests_total does not add up to $((N + M))"

# ---- rates are taken between two snapshots: non-zero while load runs ----
# (load until it is killed below)
"$BIN/nxdemo" --instance "$inst" --seconds 3600 --window 4 --timeout "$budget" >/dev/null 2>&1 &
load_pid=$!
ok=
deadline=$((SECONDS + budget))
while [ "$SECONDS" -lt "$deadline" ]; do
	"$BIN/nxtop" --instance "$inst" --json -d 0.3 >"$tmp/load.json" || fail "nxtop --json under load"
	if jq -e '([.workers[].req_per_s] | add) > 0 and ([.channels[].req_per_s] | add) > 0 and
		any(.stages[]; .pipeline == "echo" and .calls_per_s > 0)' "$tmp/load.json" >/dev/null; then
		ok=1
		break
	fi
	kill -0 "$load_pid" 2>/dev/null || fail "nxdemo exited early"
done
[ -n "$ok" ] || fail "no rate above 0 while nxdemo ran"
kill -TERM "$load_pid" "$calls_pid"
wait "$load_pid" "$calls_pid" 2>/dev/null
load_pid=
calls_pid=

# ---- down: the segment kept (--keep), nxd stopped ----
kill -TERM "$nxd_pid"
wait "$nxd_pid"
rc=$?
nxd_pid=
[ "$rc" = 0 ] || fail "nxd exited $rc"
"$BIN/nxtop" --instance "$inst" --once --json -d 0.1 >"$tmp/down.json" 2>"$tmp/down.err" ||
	fail "nxtop --json with nxd down exited $?"
jqcheck "$tmp/down.json" '.up == false and .segment == true and .state == "stopped" and
	.health == "down" and .generation == 1 and (.down_since | type) == "string" and
	.down_since_wall_ns > 0' "down, segment kept"
"$BIN/nxtop" --instance "$inst" --prometheus >"$tmp/down.prom" || fail "--prometheus with nxd down exited $?"
[ "$(promval "$tmp/down.prom" "nx_up$p")" = 0 ] || fail "nx_up is not 0 with nxd down"
[ "$(promval "$tmp/down.prom" "nx_health$p")" = 3 ] || fail "nx_health is not 3 with nxd down"
[ "$(promval "$tmp/down.prom" "nx_generation$p")" = 1 ] || fail "nx_generation with nxd down"

# ---- no segment at all: valid output, a note on stderr, exit 0 ----
rm -f "$rundir/$inst.ctl" "$rundir/$inst.lock" "/dev/shm/nx.$inst.health"
"$BIN/nxtop" --instance "$inst" --json -d 0.1 >"$tmp/none.json" 2>"$tmp/none.err" ||
	fail "nxtop --json without a segment exited $?"
jqcheck "$tmp/none.json" '.up == false and .segment == false and .state == "absent" and .health == "down" and
	.workers == [] and .down_since == null' "no segment"
grep -q "has no health segment" "$tmp/none.err" || fail "no note on stderr without a segment"
"$BIN/nxtop" --instance "$inst" --prometheus >"$tmp/none.prom" 2>/dev/null || fail "--prometheus without a segment"
[ "$(promval "$tmp/none.prom" "nx_up$p")" = 0 ] || fail "nx_up is not 0 without a segment"

# ---- usage ----
"$BIN/nxtop" --help >"$tmp/help.out" || fail "--help exited $?"
for w in --instance --delay --once --json --prometheus "exit status"; do
	grep -q -- "$w" "$tmp/help.out" || fail "--help does not document $w"
done
expect2() {
	"$BIN/nxtop" "$@" </dev/null >/dev/null 2>"$tmp/usage.err"
	rc=$?
	[ "$rc" = 2 ] || fail "nxtop $* exited $rc, not 2"
	grep -q "nxtop: " "$tmp/usage.err" || fail "nxtop $*: no message"
}
expect2 --bogus
expect2 -d abc --json
expect2 -d 0 --json
expect2 --json --prometheus
expect2 --once
expect2 --instance 'no/such' --json
expect2 extra-argument
expect2 --instance "$inst"   # the screen needs a terminal
echo "nxtop: JSON and Prometheus say $N echo calls, $M failures, $((N + M)) on the channel; down and absent; usage"
