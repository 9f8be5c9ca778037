#!/bin/bash
# nxbench runs every transport briefly and says what it measured, in
# JSON with the promised keys and as a table with its ratios.
set -u
BUILD=${BUILD:-build}
BIN=$BUILD/bin
fail() { echo "FAIL: $*"; exit 1; }
out=$(mktemp)
# interrupted or timed out: exit, and the EXIT trap cleans up (nxbench's
# own children die with it)
trap 'rm -f "$out"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
# What is checked is what was measured, never how fast: on a loaded machine
# the private nxds may take long to start and answers to come, and a run
# stops at --ops, not at a --duration a slow machine could reach.
bounds="--start-timeout 60 --op-timeout 60 --duration 600"

"$BIN/nxbench" $bounds --ops 3000 --warmup 300 --json \
	--transports nx,nxbatch,nx3,nxswap,floor,ck,uds,futex,nxsleep,memcpy >"$out" 2>&1 || { cat "$out"; fail "nxbench --json"; }
python3 - "$out" <<'PY' || exit 1
import json, sys
need = {"transport", "mode", "payload", "ops", "min_ns", "p50_ns", "p90_ns", "p99_ns",
        "p999_ns", "p9999_ns", "max_ns", "ops_per_s", "client_cpu", "server_cpu"}
seen = set()
for line in open(sys.argv[1]):
    d = json.loads(line)
    missing = need - d.keys()
    if missing:
        sys.exit("FAIL: %s %s lacks %s" % (d.get("transport"), d.get("mode"), sorted(missing)))
    if d["ops"] <= 0 or d["ops_per_s"] <= 0:
        sys.exit("FAIL: %s %s measured nothing" % (d["transport"], d["mode"]))
    if d["mode"] not in ("stream", "window", "copy") and not (0 < d["min_ns"] <= d["p50_ns"] <= d["p99_ns"] <= d["max_ns"]):
        sys.exit("FAIL: %s %s percentiles out of order: %s" % (d["transport"], d["mode"], d))
    seen.add((d["transport"], d["mode"]))
want = {("nx", "pingpong"), ("nx", "window"), ("nxbatch", "window"), ("memcpy", "copy"),
        ("nx3", "pingpong"), ("nxswap", "pingpong"),
        ("floor", "pingpong"), ("floor", "window"), ("ck", "pingpong"), ("ck", "stream"), ("uds", "pingpong"),
        ("futex", "wakeup"), ("nxsleep", "wakeup")}
if want - seen:
    sys.exit("FAIL: not measured: %s" % sorted(want - seen))
PY
"$BIN/nxbench" $bounds --ops 3000 --warmup 300 --transports nx,ck,uds >"$out" 2>&1 ||
	{ cat "$out"; fail "nxbench table"; }
grep -q "client pinned to CPU" "$out" || fail "no line saying where client and server are pinned"
grep -q "nx        pingpong" "$out" || fail "no nx row"
# what the machine's waiting and timing cost, measured on the client's CPU
machine='^machine, on CPU [0-9]+: PAUSE [0-9.]+ ns, TSC read [0-9.]+ ns \(it steps by [0-9.]+ ns\), clock read [0-9.]+ ns$'
grep -Eq "$machine" "$out" || { cat "$out"; fail "no machine line"; }
grep -q "x ck; below 1 is faster" "$out" || fail "no ratios against ck"
grep -q "throughput: nx window / ck stream = " "$out" || fail "no throughput ratio"
# the regime, read off the floor; batches against ck's stream; the floor's
# window; ratios paired round by round; what a pipe gets
"$BIN/nxbench" $bounds --ops 3000 --warmup 300 --rounds 2 --transports nx,nxbatch,floor,ck >"$out" 2>&1 ||
	{ cat "$out"; fail "nxbench with the floor"; }
grep -Eq "^regime: floor p50 [0-9.]+ us: the two vCPUs (share|are on separate)" "$out" ||
	fail "no regime line"
grep -q "nx pingpong against the floor: " "$out" || fail "no ratio against the floor"
grep -Eq "^  round by round: [0-2] of 2 rounds sharing a core" "$out" || fail "no regime round by round"
grep -q "throughput: nxbatch window / ck stream = " "$out" || fail "no batch throughput ratio"
grep -q "throughput: floor window / ck stream = " "$out" || fail "no floor window against ck's stream"
grep -q "throughput: nx window / floor window = " "$out" || fail "no nx window against the floor's"
for what in "nx p50 / ck p50" "nx p50 / floor p50" "nx window / ck stream" "nx window / floor window"; do
	grep -Eq "^  $what, round by round: median [0-9.]+x \([0-9.]+x to [0-9.]+x over 2 rounds\)$" "$out" ||
		{ cat "$out"; fail "no paired round ratio for $what"; }
done
grep -q "round 1 of" "$out" && fail "progress written into a pipe"
# the floor with its flag beside the payload: two lines at 64 bytes, its
# own echo checked, and nx against it
"$BIN/nxbench" $bounds --ops 3000 --warmup 300 --rounds 2 --mode pingpong \
	--transports nx,floor,floorhdr >"$out" 2>&1 || { cat "$out"; fail "nxbench with floorhdr"; }
grep -q "^floorhdr  pingpong" "$out" || { cat "$out"; fail "no floorhdr row"; }
grep -q "floorhdr (flag beside the payload) against the floor: " "$out" || fail "no floorhdr against the floor"
grep -q "^nx pingpong against floorhdr: " "$out" || fail "no nx against floorhdr"
for what in "floorhdr p50 / floor p50" "nx p50 / floorhdr p50"; do
	grep -Eq "^  $what, round by round: median [0-9.]+x \([0-9.]+x to [0-9.]+x over 2 rounds\)$" "$out" ||
		{ cat "$out"; fail "no paired round ratio for $what"; }
done
# the payload sweep: every size, its memcpy, a row each
"$BIN/nxbench" $bounds --sweep --ops 300 --warmup 30 >"$out" 2>&1 || { cat "$out"; fail "nxbench --sweep"; }
grep -Eq "$machine" "$out" || { cat "$out"; fail "--sweep: no machine line"; }
for size in 56 64 256 1024 4096 65536; do
	grep -Eq "^ +$size +[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+%$" "$out" ||
		{ cat "$out"; fail "--sweep: no row for $size bytes"; }
done
# crash recovery under nxwd: three kills, each figure said, and the kills
# a vCPU was taken away during counted apart (or said unreadable). A run
# that fails keeps nxwd's log under its pid: shown, then removed.
restart() {
	"$BIN/nxbench" $bounds --restart "$@" >"$out" 2>&1 &
	local bench=$! rc=0
	wait $bench || rc=$?
	if [ $rc != 0 ]; then
		cat "$out" "/tmp/nxbench-restart-$bench.nxwd.log" 2>/dev/null
		rm -f "/tmp/nxbench-restart-$bench.nxwd.log"
		fail "nxbench --restart $* ($rc)"
	fi
}
restart --kills 3
for what in "kill to nxwd noticing:" "kill to first answer:" "noticing to nxd serving:"; do
	grep -q "^  $what  *p50 " "$out" || { cat "$out"; fail "--restart: no '$what'"; }
done
grep -Eq "^  ([0-3] of 3 kills had a vCPU taken away|every kill had a vCPU taken away|vCPU steal: not readable)" "$out" ||
	{ cat "$out"; fail "--restart: nothing said of the vCPU's steal"; }
restart --kills 2 --json
python3 - "$out" <<'PY' || exit 1
import json, sys
d = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
for k in ("kills", "kill_to_notice_p99_ns", "kill_to_answer_p99_ns", "notice_to_serve_p99_ns"):
    if k not in d:
        sys.exit("FAIL: --restart --json lacks %s" % k)
if d["kills"] != 2:
    sys.exit("FAIL: --restart --json: %s kills" % d["kills"])
if "kills_with_steal" in d and not 0 <= d["kills_with_steal"] <= 2:
    sys.exit("FAIL: --restart --json: kills_with_steal %s" % d["kills_with_steal"])
PY
"$BIN/nxbench" --payload 0 >/dev/null 2>&1; [ $? = 2 ] || fail "--payload 0 accepted"
"$BIN/nxbench" --start-timeout 0 >/dev/null 2>&1; [ $? = 2 ] || fail "--start-timeout 0 accepted"
"$BIN/nxbench" --transports carrier-pigeon >/dev/null 2>&1; [ $? = 2 ] || fail "unknown transport accepted"
echo "nxbench: every transport measured, JSON keys and table present, the machine and the regime said, ratios by round, the payload sweep, recovery"
