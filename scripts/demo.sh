#!/bin/bash
# make demo: start nxd on a private demo instance, drive it from a client
# for ten seconds, say what happened, stop nxd, check its segments are gone.
set -u
BUILD=${BUILD:-build}
BIN=$BUILD/bin
SECONDS_RUN=${NX_DEMO_SECONDS:-10}
inst="demo-$$"
ncpu=$(nproc)

echo "== nexus demo: instance '$inst' on $ncpu CPUs"
echo
echo "== where nxd will run (nxd --print-placement)"
"$BIN/nxd" --print-placement || exit 1
worker_cpu=$("$BIN/nxd" --print-placement | awk '$1 == "worker" && $2 == "0" { print $4; exit }')
client_cpu=0
if [ "$ncpu" -gt 1 ] && [ "${worker_cpu:-0}" = 0 ]; then client_cpu=1; fi

log=$(mktemp /tmp/nxdemo-nxd.XXXXXX)
"$BIN/nxd" --instance "$inst" >"$log" 2>&1 &
nxd=$!
cleanup() {
	if kill -0 "$nxd" 2>/dev/null; then kill -TERM "$nxd"; wait "$nxd"; fi
	# nxd's control socket and lock (what a SIGKILL leaves), where nxd puts them
	if [ -n "${NX_RUNTIME_DIR:-}" ]; then rundir=$NX_RUNTIME_DIR
	elif [ "$(id -u)" = 0 ] || [ -w /run/nexus ]; then rundir=/run/nexus
	elif [ -n "${XDG_RUNTIME_DIR:-}" ]; then rundir=$XDG_RUNTIME_DIR/nexus
	else rundir=/tmp/nexus-$(id -u); fi
	rm -f "$rundir/$inst.ctl" "$rundir/$inst.lock" "/dev/shm/nx.$inst.health" "/dev/shm/nx.$inst.dlq" "$log"
}
trap cleanup EXIT

if ! "$BIN/nxdemo" --instance "$inst" --wait-ready; then
	echo "nxd did not come up:"; cat "$log"; exit 1
fi
echo
echo "== client pinned to cpu $client_cpu, worker on cpu ${worker_cpu:-?}: $SECONDS_RUN s of requests"
taskset -c "$client_cpu" "$BIN/nxdemo" --instance "$inst" --seconds "$SECONDS_RUN" --window 8
demo_rc=$?

echo
echo "== stopping nxd (SIGTERM)"
kill -TERM "$nxd"
wait "$nxd"
nxd_rc=$?
sed 's/^/  nxd: /' "$log"
for seg in health dlq; do
	if [ -e "/dev/shm/nx.$inst.$seg" ]; then
		echo "segments left behind: /dev/shm/nx.$inst.$seg"; exit 1
	fi
done
echo "nxd exited with $nxd_rc; its segments are gone"
[ "$demo_rc" -eq 0 ] && [ "$nxd_rc" -eq 0 ]
