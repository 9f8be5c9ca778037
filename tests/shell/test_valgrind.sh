#!/bin/bash
# The tools under valgrind (memcheck): no error, no leak, on a short real run.
# nxtop's live screen is left out (it needs a terminal); its batch modes go
# through the same reader and snapshot code.
set -u
BUILD=${BUILD:-build}
BIN=$BUILD/bin
if [ -n "${NX_SAN:-}" ]; then echo "skip: sanitizer build (valgrind cannot run it)"; exit 0; fi
command -v valgrind >/dev/null || { echo "FAIL: valgrind not installed"; exit 1; }
# unique to this run (pids are reused), and nothing left by a killed one
inst="nxt-vg-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
# nxd's control socket and lock (what a SIGKILL leaves), where nxd puts them
if [ -n "${NX_RUNTIME_DIR:-}" ]; then rundir=$NX_RUNTIME_DIR
elif [ "$(id -u)" = 0 ] || [ -w /run/nexus ]; then rundir=/run/nexus
elif [ -n "${XDG_RUNTIME_DIR:-}" ]; then rundir=$XDG_RUNTIME_DIR/nexus
else rundir=/tmp/nexus-$(id -u); fi
rm -f "$rundir/$inst.ctl" "$rundir/$inst.lock" "/dev/shm/nx.$inst.health" "/dev/shm/nx.$inst.dlq"
logdir=$(mktemp -d /tmp/nxt-vg.XXXXXX)
vg="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect"
# how long to wait for what must come: valgrind runs everything many times
# slower, and the machine may be loaded; never a measure of speed
wait_s=120
nxd_pid=
cleanup() {
	[ -n "$nxd_pid" ] && kill -KILL "$nxd_pid" 2>/dev/null && wait "$nxd_pid" 2>/dev/null
	nxd_pid=
	rm -f "$rundir/$inst.ctl" "$rundir/$inst.lock" "/dev/shm/nx.$inst.health" "/dev/shm/nx.$inst.dlq"
	rm -rf "$logdir"
}
# interrupted or timed out: exit, and the EXIT trap cleans up
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
fail() { echo "FAIL: $*"; for f in "$logdir"/*; do echo "---- $f"; tail -30 "$f"; done; exit 1; }
# wait_log FILE TEXT: until a line of FILE holds TEXT (bounded)
wait_log() {
	local deadline=$((SECONDS + wait_s))
	until grep -q -- "$2" "$1" 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

$vg "$BIN/nxd" --help >/dev/null 2>"$logdir/help.log" || fail "nxd --help"
$vg "$BIN/nxd" --print-placement >/dev/null 2>"$logdir/place.log" || fail "nxd --print-placement"
$vg "$BIN/nxd" --ring-size 100 >/dev/null 2>"$logdir/bad.log"; [ $? = 2 ] || fail "nxd bad option"
$vg "$BIN/nxbench" --help >/dev/null 2>"$logdir/bench.log" || fail "nxbench --help"

# valgrind runs one thread at a time: a sleeping worker lets the control thread in
$vg "$BIN/nxd" --instance "$inst" --idle sleep --quiet 2>"$logdir/nxd.log" &
nxd_pid=$!
"$BIN/nxdemo" --instance "$inst" --wait-ready="$wait_s" || fail "nxd under valgrind did not come up"
$vg "$BIN/nxdemo" --instance "$inst" --seconds 1 --window 4 --timeout "$wait_s" >/dev/null \
	2>"$logdir/demo.log" || fail "nxdemo under valgrind"
$vg "$BIN/nxtop" --instance "$inst" --once --json -d 0.2 >/dev/null 2>"$logdir/top.log" ||
	fail "nxtop --once --json under valgrind"
$vg "$BIN/nxtop" --instance "$inst" --prometheus >/dev/null 2>"$logdir/topp.log" ||
	fail "nxtop --prometheus under valgrind"
$vg "$BIN/nxctl" --instance "$inst" list >/dev/null 2>"$logdir/ctl.log" || fail "nxctl list under valgrind"
$vg "$BIN/nxctl" --instance "$inst" --json dlq list >/dev/null 2>"$logdir/ctldlq.log" ||
	fail "nxctl dlq list under valgrind"
$vg "$BIN/nxctl" --instance "$inst" swap nosuch 0 echo >/dev/null 2>"$logdir/ctlbad.log"
[ $? != 0 ] && grep -q "ERROR SUMMARY: 0 errors" "$logdir/ctlbad.log" || fail "nxctl refusal under valgrind"
kill -TERM "$nxd_pid"
wait "$nxd_pid"
rc=$?
nxd_pid=
[ "$rc" = 0 ] || fail "nxd under valgrind exited $rc"
grep -q "ERROR SUMMARY: 0 errors" "$logdir/nxd.log" || fail "nxd: valgrind errors"
# nxwd: its options, then a restart of the nxd it supervises, then SIGTERM
$vg "$BIN/nxwd" --help >/dev/null 2>"$logdir/wdhelp.log" || fail "nxwd --help"
$vg "$BIN/nxwd" --stall-ms x -- "$BIN/nxd" >/dev/null 2>"$logdir/wdbad.log"; [ $? = 2 ] || fail "nxwd bad option"
# stalls are not under test: a preempted worker must not be aborted (restart 1
# must be the kill below)
$vg "$BIN/nxwd" --restart-min 0 --stall-ms 0 -- "$BIN/nxd" --instance "$inst" --idle sleep --quiet \
	2>"$logdir/nxwd.log" &
wd_pid=$!
nxd_pid=$wd_pid # the cleanup kills nxwd, and nxd with it
"$BIN/nxdemo" --instance "$inst" --wait-ready="$wait_s" || fail "nxd under nxwd under valgrind did not come up"
# the serving nxd (nxwd may have a standby nxd beside it by now)
serving=$("$BIN/nxtop" --instance "$inst" --once --json | jq -r .pid)
[ -n "$serving" ] && kill -KILL "$serving" || fail "no nxd under nxwd"
wait_log "$logdir/nxwd.log" "serves generation" || fail "nxwd did not say the restarted nxd serves"
grep -q "killed by signal 9; restart 1" "$logdir/nxwd.log" || fail "nxwd did not restart nxd"
"$BIN/nxdemo" --instance "$inst" --wait-ready="$wait_s" || fail "no service after the restart"
"$BIN/nxdemo" --instance "$inst" --seconds 1 --timeout "$wait_s" >/dev/null || fail "no service after the restart"
kill -TERM "$wd_pid"
wait "$wd_pid"
rc=$?
nxd_pid=
[ "$rc" = 0 ] || fail "nxwd under valgrind exited $rc"
grep -q "ERROR SUMMARY: 0 errors" "$logdir/nxwd.log" || fail "nxwd: valgrind errors"
echo "valgrind: nxd, nxdemo, nxbench, nxtop, nxctl and nxwd ran without errors or leaks"
