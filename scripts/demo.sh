#!/bin/bash
# make demo: the retrieval service of examples/retrieval.conf, start to
# finish, in about a minute, with no terminal needed:
#   nxwd supervising nxd on a private instance; a client (nxdemo
#   --retrieval) sending a mix of WordNet queries to every pipeline the
#   whole time; then, each as a titled step with what was measured:
#   1. a live swap of `rerank` in `maximum`;
#   2. a fault injected into one engine: its breaker opens, answers come
#      back degraded, dead letters; the fault lifted, the breaker closed;
#   3. nxd killed with SIGKILL under the traffic: nxwd restarts it, every
#      request gets exactly one completion, the gap;
#   4. the summary per pipeline against the seed targets, and nxtop's view.
# Everything it starts it stops (by pid), everything it creates it removes.
# Every wait is for a condition, and bounded.
#
# Environment: NX_DEMO_SECONDS (traffic, default 42), NX_DEMO_RATE
# (requests/s, default 2000), NX_DEMO_CONF (default $BUILD/lib/retrieval.conf),
# NX_DEMO_WAIT (the bound on each wait, s, default 60), NX_DEMO_SUMMARY (a
# file: the run's checks as JSON, for tests/shell/test_demo.sh),
# NX_DEMO_NXD_ARGS (more nxd options), NX_DEMO_FAULT (PIPELINE/SLOT, default
# full/bm25: its degraded mode answers from its cache when it can, and a
# request it cannot answer fails and is kept as a dead letter; full/fuzzy
# falls back to BM25 and every request is answered), NX_DEMO_SWAP (PIPELINE/SLOT, default maximum/rerank).
# `scripts/demo.sh --measure [N]` measures the latency table instead (below).
set -u
BUILD=${BUILD:-build}
BIN=$BUILD/bin
traffic_s=${NX_DEMO_SECONDS:-42}
rate=${NX_DEMO_RATE:-2000}
conf=${NX_DEMO_CONF:-$BUILD/lib/retrieval.conf}
wait_s=${NX_DEMO_WAIT:-60}
summary=${NX_DEMO_SUMMARY:-}
fault=${NX_DEMO_FAULT:-full/bm25}
swap=${NX_DEMO_SWAP:-maximum/rerank}
# each step lets the traffic run this long around what it does
dwell=$((traffic_s / 7))
[ "$dwell" -ge 1 ] || dwell=1

for t in nxd nxwd nxctl nxtop nxdemo; do
	[ -x "$BIN/$t" ] || { echo "demo: $BIN/$t not built (make)"; exit 1; }
done
command -v jq >/dev/null || { echo "demo: jq not installed (scripts/install-deps.sh)"; exit 1; }
[ -f "$conf" ] || { echo "demo: no configuration $conf (make builds it)"; exit 1; }
conf=$(realpath "$conf")

# unique to this run (pids are reused); a private runtime directory for
# nxd's control socket and lock
inst="demo-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
tmp=$(mktemp -d /tmp/nxdemo.XXXXXX) || exit 1
export NX_RUNTIME_DIR=$tmp/run
mkdir -m 0700 "$NX_RUNTIME_DIR" || exit 1
status=$tmp/status.json

wd_pid=
client_pid=
cleanup() {
	[ -n "$client_pid" ] && kill -KILL "$client_pid" 2>/dev/null && wait "$client_pid" 2>/dev/null
	# nxwd forwards SIGTERM to nxd and its standby and waits for them
	if [ -n "$wd_pid" ] && kill -TERM "$wd_pid" 2>/dev/null; then
		local deadline=$((SECONDS + wait_s))
		while kill -0 "$wd_pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
		kill -KILL "$wd_pid" 2>/dev/null
		wait "$wd_pid" 2>/dev/null
	fi
	rm -f "/dev/shm/nx.$inst".*
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
	echo "demo: FAILED: $*"
	for f in "$tmp"/*.log; do [ -s "$f" ] && { echo "---- $(basename "$f")"; tail -25 "$f"; }; done
	write_summary 1
	exit 1
}
ms_now() { echo $(($(date +%s%N) / 1000000)); }
# Progress where a person waits: on a terminal, one line rewritten in
# place while a step waits, wiped when it ends; nothing at all when stdout
# is a pipe or a file (tests/shell/test_demo.sh parses it).
if [ -t 1 ]; then tty_out=1; else tty_out=; fi
progress() { [ -n "$tty_out" ] && printf '\r\033[K%s' "$*"; }
progress_clear() { [ -n "$tty_out" ] && printf '\r\033[K'; return 0; }
# wait_until WHAT CMD...: poll CMD until it succeeds, at most wait_s seconds
wait_until() {
	local what=$1 deadline=$((SECONDS + wait_s)) start=$SECONDS n=0 done
	shift
	until "$@"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			progress_clear
			fail "waited $wait_s s for $what"
		fi
		if [ -n "$tty_out" ] && [ $((n++ % 5)) = 0 ]; then
			done=$(st '.completed // empty')
			progress "   ... $what: $((SECONDS - start)) s${done:+, $done answers so far}"
		fi
		sleep 0.05
	done
	progress_clear
}
# the client's counts (its status file, renamed into place every 100 ms)
st() { jq -r "$1" "$status" 2>/dev/null; }
top_json() { "$BIN/nxtop" --instance "$inst" --json -d 0.1 >"$tmp/top.json" 2>/dev/null; }
top() { jq -r "$1" "$tmp/top.json"; }
slot_json() { top ".stages[] | select(.pipeline == \"$1\" and .slot == \"$2\") | $3"; }
# the client has answered N more requests of pipeline P since the mark,
# and the step has run at least the dwell
progressed() { # P N MARK_ANSWERS MARK_TIME
	[ "$(st ".pipelines[\"$1\"].answers // 0")" -ge $(($3 + $2)) ] && [ "$SECONDS" -ge "$4" ]
}
ctl() { "$BIN/nxctl" --instance "$inst" "$@"; }
# errors of pipeline P by name since the reading SNAP: "EEXPIRED 3, ..." or "none"
errs_since() { # P SNAP
	jq -r --argjson was "$2" --arg p "$1" '.pipelines[$p].err as $now | ($was.pipelines[$p].err // {}) as $old |
		[$now | to_entries[] | select(.value > ($old[.key] // 0)) | "\(.key) \(.value - ($old[.key] // 0))"] |
		if length > 0 then join(", ") else "none" end' "$status"
}
# errors of pipeline P since SNAP other than deadlines missed (a loaded
# machine's, not the step's)
errs_not_deadline() { # P SNAP
	jq -r --argjson was "$2" --arg p "$1" '.pipelines[$p].err as $now | ($was.pipelines[$p].err // {}) as $old |
		[$now | to_entries[] | select(.key != "EEXPIRED") | .value - ($old[.key] // 0)] | add // 0' "$status"
}

write_summary() { # RC
	[ -n "$summary" ] || return 0
	jq -n --argjson rc "$1" --argjson opened "${brk_opened:-0}" \
		--arg closed "${brk_closed:-}" --argjson degraded "${fault_degraded:-0}" \
		--argjson dlq "${dlq_n:-0}" --argjson restarts "${restarts:-0}" \
		--argjson down_ms "${down_ms:-null}" --argjson swap_errors "${swap_errors:-null}" \
		--argjson client "$(cat "$status" 2>/dev/null || echo null)" \
		'{rc: $rc, breaker_opened: $opened, breaker_closed: ($closed == "yes"),
		  fault_degraded: $degraded, dead_letters: $dlq, restarts: $restarts,
		  restart_down_ms: $down_ms, swap_errors: $swap_errors, client: $client}' >"$summary"
}

# scripts/demo.sh --measure [N]: the README's latency table instead of the
# story: nxd alone with the configuration, the client pinned to CPU 0
# (nxd's worker is on the other), each pipeline N requests (default 20000)
# one at a time, then N with 16 in flight
if [ "${1:-}" = --measure ]; then
	"$BIN/nxd" --instance "$inst" --config "$conf" --quiet ${NX_DEMO_NXD_ARGS:-} 2>"$tmp/nxd.log" &
	wd_pid=$! # the cleanup stops it
	"$BIN/nxdemo" --instance "$inst" --wait-ready="$wait_s" || fail "nxd did not come up"
	echo "nxd $("$BIN/nxd" --print-placement | sed -n 1p); client on cpu 0"
	taskset -c 0 "$BIN/nxdemo" --measure --instance "$inst" --requests "${2:-20000}" --window 16
	exit $?
fi

echo "== nexus demo: a text-retrieval service over WordNet, instance '$inst'"
echo "   configuration $conf"
echo

# ---- start ----
"$BIN/nxwd" --restart-min 0 --stall-ms "${NX_DEMO_STALL_MS:-2000}" -- "$BIN/nxd" --instance "$inst" \
	--config "$conf" --quiet ${NX_DEMO_NXD_ARGS:-} 2>"$tmp/nxwd.log" &
wd_pid=$!
t0=$(ms_now)
"$BIN/nxdemo" --instance "$inst" --wait-ready="$wait_s" 2>"$tmp/ready.log" ||
	fail "nxd did not come up"
echo "nxwd (pid $wd_pid) started nxd; it serves after $(($(ms_now) - t0)) ms (the corpus loaded and indexed)"
ctl --json list >"$tmp/list.json" || fail "nxctl list"
for p in cache-only smart full maximum adaptive; do
	jq -e ".pipelines[] | select(.name == \"$p\")" "$tmp/list.json" >/dev/null ||
		fail "no pipeline '$p' in $conf"
done
echo "pipelines:"
jq -r '.pipelines[] | select(.name | IN("cache-only","smart","full","maximum","adaptive")) |
	"  \(.name | .+ " " * (11 - length)) \(.graph)"' "$tmp/list.json"
for ps in "$fault" "$swap"; do
	jq -e ".pipelines[] | select(.name == \"${ps%/*}\") | .slots[] | select(.slot == \"${ps#*/}\")" \
		"$tmp/list.json" >/dev/null || fail "no slot $ps"
done

# ---- traffic ----
"$BIN/nxdemo" --retrieval --instance "$inst" --rate "$rate" --window 16 --sleep \
	--seconds $((traffic_s * 10 + 600)) --timeout "$wait_s" --status "$status" \
	>"$tmp/client.log" 2>&1 &
client_pid=$!
client_answered() { [ "$(st '.completed // 0')" -gt 0 ] 2>/dev/null; }
wait_until "the client's first answers" client_answered
echo
echo "== traffic: $rate queries/s from one client to the five pipelines in turn, at most"
echo "   16 in flight, each idempotent with its pipeline's seed target as deadline;"
echo "   single words, keywords, quoted phrases, misspellings, questions, repeats"
mark=$((SECONDS + dwell))
wait_until "warm-up traffic" progressed full 100 0 "$mark"
echo "   warm-up: $(st .completed) answers in $(st .t_s) s"

# ---- 1. live swap ----
sp=${swap%/*}
ss=${swap#*/}
echo
echo "== 1. live swap: $ss in $sp to a new version, under the traffic"
stage=$(jq -r ".pipelines[] | select(.name == \"$sp\") | .slots[] | select(.slot == \"$ss\") | .stage" "$tmp/list.json")
plugin=$(jq -r ".pipelines[] | select(.name == \"$sp\") | .slots[] | select(.slot == \"$ss\") | .plugin" "$tmp/list.json")
was=$(cat "$status")
a0=$(jq -r ".pipelines[\"$sp\"].answers" <<<"$was")
set -- swap "$sp" "$ss" "$stage"
[ -n "$plugin" ] && set -- "$@" --plugin "$plugin"
t1=$(ms_now)
ctl "$@" >"$tmp/swap.log" 2>&1 || fail "the swap was refused"
t2=$(ms_now)
echo "   $(cat "$tmp/swap.log")  ($((t2 - t1)) ms, nxctl's round trip)"
mark=$((SECONDS + dwell))
wait_until "traffic after the swap" progressed "$sp" 200 "$a0" "$mark"
swap_errors=$(errs_not_deadline "$sp" "$was")
echo "   measured: $sp answered $(($(st ".pipelines[\"$sp\"].answers") - a0)) requests since; errors: $(errs_since "$sp" "$was")"
echo "   (a deadline missed is the load's: $swap_errors errors of any other kind);"
# one reading of the counts (the file is rewritten under us)
snap=$(cat "$status")
sn() { jq -r "$1" <<<"$snap"; }
echo "   every request so far answered once or in flight: submitted $(sn .submitted) = answered $(sn .completed) + in flight $(sn .outstanding), $(sn .duplicates) answered twice"
[ "$(sn .duplicates)" = 0 ] && [ "$(sn .unknown)" = 0 ] &&
	[ "$(sn .submitted)" = "$(($(sn .completed) + $(sn .outstanding)))" ] || fail "a request lost or answered twice"

# ---- 2. fault ----
fp=${fault%/*}
fs=${fault#*/}
echo
echo "== 2. a fault in one engine: $fs in $fp swapped for the built-in 'fail' stage (every call fails)"
ctl dlq drain >/dev/null 2>&1
was=$(cat "$status")
a0=$(jq -r ".pipelines[\"$fp\"].answers" <<<"$was")
d0=$(jq -r ".pipelines[\"$fp\"].degraded" <<<"$was")
ctl swap "$fp" "$fs" fail --set percent=100 >"$tmp/fault.log" 2>&1 || fail "the fault's swap was refused"
echo "   $(cat "$tmp/fault.log")"
t1=$(ms_now)
brk_open() { top_json && [ "$(slot_json "$fp" "$fs" .breaker_opened)" -ge 1 ]; }
wait_until "the breaker to open" brk_open
echo "   breaker open after $(($(ms_now) - t1)) ms: $(slot_json "$fp" "$fs" '"\(.failures) failures, opened \(.breaker_opened) times, half-open \(.breaker_half_opened), \(.breaker_rejected) calls refused, \(.degraded) degraded answers"')"
mark=$((SECONDS + dwell))
wait_until "traffic under the fault" progressed "$fp" 200 "$a0" "$mark"
top_json
brk_opened=$(slot_json "$fp" "$fs" .breaker_opened)
fault_degraded=$(($(st ".pipelines[\"$fp\"].degraded") - d0))
ctl --json dlq list >"$tmp/dlq.json" 2>/dev/null
dlq_n=$(jq '.entries | length' "$tmp/dlq.json" 2>/dev/null || echo 0)
echo "   measured: $fp answered $(($(st ".pipelines[\"$fp\"].answers") - a0)) requests, $fault_degraded of them degraded"
echo "   (NX_COMP_DEGRADED: the slot's degraded strategy answered); errors: $(errs_since "$fp" "$was");"
echo "   breaker: $(slot_json "$fp" "$fs" '"\(.breaker), opened \(.breaker_opened) times, half-open \(.breaker_half_opened) times (a probe that fails reopens it), \(.breaker_rejected) calls refused"');"
echo "   dead letters held (nxctl dlq list): $dlq_n $(jq -r '[.entries[] | "\(.pipeline) \(.status)"] | group_by(.) | map("\(.[0]) \(length)") | if length > 0 then "(" + join(", ") + ")" else "" end' "$tmp/dlq.json" 2>/dev/null)"
ctl rollback "$fp" "$fs" >"$tmp/lift.log" 2>&1 || fail "the rollback was refused"
t1=$(ms_now)
echo "   fault lifted: $(cat "$tmp/lift.log") (a stage put in a slot starts with its breaker closed)"
a0=$(st ".pipelines[\"$fp\"].answers")
d0=$(st ".pipelines[\"$fp\"].degraded")
brk_shut() { top_json && [ "$(slot_json "$fp" "$fs" .breaker)" = closed ] && [ "$(slot_json "$fp" "$fs" .calls)" -gt 0 ]; }
wait_until "the breaker to close" brk_shut
brk_closed=yes
mark=$((SECONDS + 1))
wait_until "traffic after the fault" progressed "$fp" 100 "$a0" "$mark"
echo "   measured: breaker closed after $(($(ms_now) - t1)) ms; since: $(($(st ".pipelines[\"$fp\"].answers") - a0)) answers, $(($(st ".pipelines[\"$fp\"].degraded") - d0)) degraded"

# ---- 3. kill ----
echo
echo "== 3. nxd killed with SIGKILL in the middle of the traffic"
top_json
pid=$(top .pid)
gen=$(top .generation)
r0=$(top .restarts)
[ -n "$pid" ] && [ "$pid" != null ] || fail "no serving nxd"
was=$(cat "$status")
c0=$(jq -r .completed <<<"$was")
kill -KILL "$pid" || fail "kill $pid"
echo "   kill -9 $pid (generation $gen), $(st .outstanding) requests in flight"
restarted() { grep -q "serves generation $((gen + 1))" "$tmp/nxwd.log"; }
wait_until "nxwd to restart nxd" restarted
answered_new() { [ "$(st .generation)" -gt "$gen" ] && [ "$(st .completed)" -gt "$c0" ]; }
wait_until "answers from the new nxd" answered_new
top_json
restarts=$(($(top .restarts) - r0))
down_ms=$(top '.restart_log[-1].down_ns / 1e6 | . * 100 | round / 100')
echo "   $(grep -m1 'killed by signal 9' "$tmp/nxwd.log")"
echo "   measured: generation $(top .generation), restarts $restarts; down $down_ms ms by nxd's restart log;"
echo "   the client's longest time without an answer around the restart: $(st .restart_gap_ms) ms"
mark=$((SECONDS + dwell))
wait_until "traffic after the restart" progressed full 200 "$(st '.pipelines.full.answers')" "$mark"
echo "   errors since the kill: $(for p in cache-only smart full maximum adaptive; do printf '%s: %s; ' "$p" "$(errs_since "$p" "$was")"; done)"
echo "   (requests that waited in the ring past their deadline while nxd was down are answered EEXPIRED)"

# ---- 4. summary ----
echo
echo "== 4. summary: the client stopped, every request waited for"
kill -TERM "$client_pid"
wait "$client_pid"
client_rc=$?
client_pid=
sed -n '/^pipeline /,$p' "$tmp/client.log" | sed 's/^/   /'
echo "   (target: the seeds' figure for the pipeline. This client is paced and sleeps between"
echo "   requests, so its percentiles include its own wake-up on this machine: the pipelines'"
echo "   own round trips, against the goal of a p99 100x under target, are scripts/demo.sh --measure)"
echo
echo "== nxtop --json, as a table"
top_json
top '"instance \(.instance)  generation \(.generation)  pid \(.pid)  \(.state)  up \(.uptime_s)s  restarts \(.restarts)  health \(.health) \(.why)"' | sed 's/^/   /'
top '.workers[] | "worker \(.worker)  cpu \(.cpu)  \(.state)  req/s \(.req_per_s)  busy \(.busy_pct)%  p50 \(.p50_ns) ns  p99 \(.p99_ns) ns  answered \(.answered)"' | sed 's/^/   /'
printf '   %-22s %-10s %4s %5s %9s %8s %8s %8s %9s\n' PIPELINE/SLOT STAGE VER SWAPS CALLS FAIL P99 BREAKER DEGRADED
top '.stages[] | select(.pipeline | IN("cache-only","smart","full","maximum","adaptive")) |
	[(.pipeline + "/" + .slot), .stage, .version, .swaps, .calls, .failures, .p99_ns, .breaker, .degraded] | @tsv' |
	while IFS=$'\t' read -r ps stg ver sw calls fl p99 brk dg; do
		printf '   %-22s %-10s %4s %5s %9s %8s %8s %8s %9s\n' "$ps" "$stg" "$ver" "$sw" "$calls" "$fl" "${p99}ns" "$brk" "$dg"
	done
top '.restart_log[] | "restart: generation \(.generation) after pid \(.old_pid), down \(.down_ns / 1e4 | round / 100) ms: \(.reason)"' | sed 's/^/   /'

# ---- stop ----
echo
echo "== stopping nxwd (SIGTERM: it stops nxd and its standby)"
kill -TERM "$wd_pid"
wait "$wd_pid"
wd_rc=$?
wd_pid=
left=$(ls /dev/shm | grep -F "nx.$inst." ; ls "$NX_RUNTIME_DIR")
echo "   nxwd exited with $wd_rc; left behind: ${left:-nothing}"
rc=0
[ "$client_rc" = 0 ] || { echo "demo: the client says a request was lost or answered twice (exit $client_rc)"; rc=1; }
[ "$wd_rc" = 0 ] || { echo "demo: nxwd exited $wd_rc"; rc=1; }
[ -z "$left" ] || { echo "demo: left behind: $left"; rc=1; }
[ "$restarts" -ge 1 ] || { echo "demo: no restart counted"; rc=1; }
write_summary "$rc"
exit "$rc"
