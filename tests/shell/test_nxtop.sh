#!/bin/bash
# nxtop's live screen, driven through tmux and read back with capture-pane:
# header (instance, generation), figures that move under load, the keys
# (2 stages, 3 channels, h help, p pause, d interval, s sort, q quit), and
# nxd going away and coming back: "down since", then the next generation
# and the restart log, without restarting nxtop. Every wait is bounded.
set -u
BUILD=${BUILD:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$root/$BUILD/bin
command -v tmux >/dev/null || { echo "FAIL: tmux not installed (scripts/install-deps.sh)"; exit 1; }
# unique to this run (pids are reused), and nothing left by a killed one
nonce=$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
inst="nxt-top-$$-$nonce"
# nxd's control socket and lock (what a SIGKILL leaves), where nxd puts them
if [ -n "${NX_RUNTIME_DIR:-}" ]; then rundir=$NX_RUNTIME_DIR
elif [ "$(id -u)" = 0 ] || [ -w /run/nexus ]; then rundir=/run/nexus
elif [ -n "${XDG_RUNTIME_DIR:-}" ]; then rundir=$XDG_RUNTIME_DIR/nexus
else rundir=/tmp/nexus-$(id -u); fi
rm -f "$rundir/$inst.ctl" "$rundir/$inst.lock" "/dev/shm/nx.$inst".*
sess="top"
tmp=$(mktemp -d /tmp/nxt-top.XXXXXX)
# the tmux server's socket: a path of our own, removed with $tmp
sock="$tmp/tmux.sock"
nxd_pid=
load_pid=
tmux_pid=
tm() { tmux -S "$sock" "$@"; }
cleanup() {
	[ -n "$load_pid" ] && kill -KILL "$load_pid" 2>/dev/null
	[ -n "$nxd_pid" ] && kill -KILL "$nxd_pid" 2>/dev/null
	tm kill-server 2>/dev/null
	# and by its pid, should it not answer on its socket
	[ -n "$tmux_pid" ] && kill -KILL "$tmux_pid" 2>/dev/null
	rm -f "$rundir/$inst.ctl" "$rundir/$inst.lock" "/dev/shm/nx.$inst".*   # health, and whatever else nxd keeps (--keep, SIGKILL)
	rm -rf "$tmp"
}
# interrupted or timed out: exit, and the EXIT trap cleans up
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
screen() { tm capture-pane -p -t "$sess" 2>/dev/null; }
fail() {
	echo "FAIL: $*"
	echo "---- screen"
	screen
	echo "---- nxd"
	tail -20 "$tmp"/nxd*.log 2>/dev/null
	exit 1
}
# how long to wait for what must come (seconds): never a measure of speed;
# sanitized builds run slower
budget=60
[ -n "${NX_SAN:-}" ] && budget=300
# wait_for PATTERN: until a line of the screen matches the extended regex
wait_for() {
	local deadline=$((SECONDS + budget))
	while [ "$SECONDS" -lt "$deadline" ]; do
		screen | grep -Eq -- "$1" && return 0
		sleep 0.1
	done
	return 1
}
# wait_gone PATTERN: until no line matches
wait_gone() {
	local deadline=$((SECONDS + budget))
	while [ "$SECONDS" -lt "$deadline" ]; do
		screen | grep -Eq -- "$1" || return 0
		sleep 0.1
	done
	return 1
}
# column N of the table row whose first column is $1
cell() { screen | awk -v k="$1" -v n="$2" '$1 == k && NF >= n { print $n; exit }'; }
start_nxd() {
	"$BIN/nxd" --instance "$inst" --quiet --idle sleep --keep --config "$tmp/nxd.ini" \
		2>"$tmp/nxd$1.log" &
	nxd_pid=$!
	"$BIN/nxdemo" --instance "$inst" --wait-ready="$budget" >/dev/null || fail "nxd did not come up"
}
stop_nxd() {
	kill "-$1" "$nxd_pid"
	wait "$nxd_pid" 2>/dev/null
	nxd_pid=
}

printf '[pipeline.bad]\ngraph = f\nf.stage = fail\nf.percent = 100\n' >"$tmp/nxd.ini"
start_nxd 1
# load until it is killed below
"$BIN/nxdemo" --instance "$inst" --seconds 3600 --window 4 --timeout "$budget" >/dev/null 2>&1 &
load_pid=$!
# the pane's shell records nxtop's exit status (a sanitizer's report makes it non-zero)
tm new-session -d -s "$sess" -x 160 -y 50 \
	"$BIN/nxtop --instance $inst -d 0.2 2>$tmp/nxtop.err; echo \$? >$tmp/nxtop.rc" ||
	fail "tmux did not start nxtop"
tmux_pid=$(tm display-message -p '#{pid}' 2>/dev/null)

# ---- header, and the workers table moving under load ----
wait_for "^nxtop +instance $inst +generation 1 +pid $nxd_pid +running" || fail "header"
wait_for "^health: healthy" || fail "health line"
wait_for "^W +CPU +STATE +REQ/S +BUSY% +P50 +P99 +HB AGE +ANSWERED" || fail "workers table"
moved=
first=
deadline=$((SECONDS + budget))
while [ "$SECONDS" -lt "$deadline" ]; do
	a=$(cell 0 9)
	r=$(cell 0 4)
	if [[ "$a" =~ ^[0-9]+$ ]]; then
		[ -z "$first" ] && first=$a
		if [ "$a" -gt "$first" ] && [ -n "$r" ] && [ "$r" != 0 ]; then
			moved=1
			break
		fi
	fi
	sleep 0.1
done
[ -n "$moved" ] || fail "worker 0's answered count did not move, or req/s stayed 0 (first $first)"

# ---- 2: stages ----
tm send-keys -t "$sess" 2
wait_for "^PIPELINE/SLOT +STAGE +VER +SWAPS +CALLS +CALLS/S +FAIL% +CONSEC +P99 +BREAKER +DEGR +HEALTH" ||
	fail "stages table after 2"
wait_for "^echo/echo +echo +1 +0 +[0-9]+" || fail "echo's slot in the stages table"
wait_for "^bad/f +fail +1 +0 " || fail "bad's slot in the stages table"
wait_for "sort: pipeline/slot" || fail "stages' sort column"
tm send-keys -t "$sess" s
wait_for "sort: calls/s" || fail "s did not change the sort column"

# ---- 3: channels, with nxdemo's pid ----
tm send-keys -t "$sess" 3
wait_for "^CH +PID +STATE +W +DEPTH +OUTST +REQ/S +ANSWERED +ERRORS" || fail "channels table after 3"
wait_for "^[0-9]+ +$load_pid +attached " || fail "nxdemo's channel (pid $load_pid)"

# ---- h: help, any key closes it ----
tm send-keys -t "$sess" h
wait_for "nxtop keys" || fail "help after h"
wait_for "p +pause / resume" || fail "help text"
tm send-keys -t "$sess" h
wait_gone "nxtop keys" || fail "help did not close"

# ---- p: pause freezes the figures; p again resumes ----
tm send-keys -t "$sess" p
wait_for "PAUSED" || fail "PAUSED after p"
a=$(screen | awk -v p="$load_pid" '$2 == p { print $8; exit }')
# not a wait for anything: five refresh intervals in which a figure that
# moves under load would have moved, had the pause not held it
sleep 1
b=$(screen | awk -v p="$load_pid" '$2 == p { print $8; exit }')
[ -n "$a" ] && [ "$a" = "$b" ] || fail "figures changed while paused ($a, $b)"
tm send-keys -t "$sess" p
wait_gone "PAUSED" || fail "p did not resume"
moved=
deadline=$((SECONDS + budget))
while [ "$SECONDS" -lt "$deadline" ]; do
	b=$(screen | awk -v p="$load_pid" '$2 == p { print $8; exit }')
	[[ "$b" =~ ^[0-9]+$ ]] && [ "$b" -gt "$a" ] && { moved=1; break; }
	sleep 0.1
done
[ -n "$moved" ] || fail "figures did not move after resuming"

# ---- d: a new refresh interval ----
tm send-keys -t "$sess" d
wait_for "refresh interval in seconds" || fail "prompt after d"
tm send-keys -t "$sess" 0 . 3 Enter
wait_for "every 0.3s" || fail "the interval did not become 0.3 s"
tm send-keys -t "$sess" 1
wait_for "^W +CPU +STATE" || fail "workers table after 1"

# ---- nxd stops: down since, the last generation ----
kill -TERM "$load_pid"
wait "$load_pid" 2>/dev/null
load_pid=
old_pid=$nxd_pid
stop_nxd TERM
wait_for "^health: down since [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} +last generation 1: nxd pid $old_pid is stopped" ||
	fail "down since, after SIGTERM"
tm has-session -t "$sess" 2>/dev/null || fail "nxtop exited when nxd stopped"

# ---- back: generation 2, picked up by the same nxtop ----
start_nxd 2
wait_for "^nxtop +instance $inst +generation 2 +pid $nxd_pid +running" || fail "generation 2 not picked up"
wait_for "^health: healthy" || fail "health after the restart"

# ---- killed, and restarted as a supervisor would: the restart log ----
old_pid=$nxd_pid
stop_nxd KILL
wait_for "^health: down since .* nxd pid $old_pid is gone" || fail "down since, after SIGKILL"
NX_RESTART_REASON="killed by the nxtop test" NX_RESTART_STATUS=-9 start_nxd 3
wait_for "^nxtop +instance $inst +generation 3 +pid $nxd_pid +running +up [0-9]+s +restarts 1" ||
	fail "generation 3 and one restart in the header"
wait_for "^restarts: 1" || fail "restart log heading"
wait_for "^ +[0-9-]+ [0-9:]+ +generation 3 +old pid $old_pid .*killed by the nxtop test" ||
	fail "restart log entry"

# ---- q: quit ----
tm send-keys -t "$sess" q
gone=
deadline=$((SECONDS + budget))
while [ "$SECONDS" -lt "$deadline" ]; do
	tm has-session -t "$sess" 2>/dev/null || { gone=1; break; }
	sleep 0.1
done
[ -n "$gone" ] || fail "q did not quit"
[ "$(cat "$tmp/nxtop.rc" 2>/dev/null)" = 0 ] ||
	fail "nxtop exited $(cat "$tmp/nxtop.rc" 2>/dev/null): $(head -c 2000 "$tmp/nxtop.err")"
stop_nxd TERM
echo "nxtop: screen under tmux: header, live workers, stages, channels, help, pause, interval, down since, generations 2 and 3, restart log, quit"
