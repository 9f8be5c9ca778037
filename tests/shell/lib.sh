# Sourced by the shell tests that start their own nxd:
#   . "$(dirname "$0")/lib.sh"; nxt_setup NAME
# sets inst (unique to this run: pids are reused), rundir (where nxd puts
# its control socket and lock), tmp (a private directory) and budget (how
# long to wait for what must come, in seconds: never a measure of speed;
# sanitized builds run slower); at exit, kills nxd_pid and removes what
# nxd and the test made. fail prints its reason and every file in tmp;
# expect STATUS WHAT CMD... runs CMD and fails unless it exits STATUS.
nxt_setup() {
	inst="nxt-$1-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
	if [ -n "${NX_RUNTIME_DIR:-}" ]; then rundir=$NX_RUNTIME_DIR
	elif [ "$(id -u)" = 0 ] || [ -w /run/nexus ]; then rundir=/run/nexus
	elif [ -n "${XDG_RUNTIME_DIR:-}" ]; then rundir=$XDG_RUNTIME_DIR/nexus
	else rundir=/tmp/nexus-$(id -u); fi
	rm -f "$rundir/$inst.ctl" "$rundir/$inst.lock" "/dev/shm/nx.$inst".*
	tmp=$(mktemp -d "/tmp/nxt-$1.XXXXXX")
	budget=60
	[ -n "${NX_SAN:-}" ] && budget=300
	nxd_pid=
	trap nxt_cleanup EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

nxt_cleanup() {
	[ -n "$nxd_pid" ] && kill -KILL "$nxd_pid" 2>/dev/null
	rm -f "$rundir/$inst.ctl" "$rundir/$inst.lock" "/dev/shm/nx.$inst".*
	rm -rf "$tmp"
}

fail() {
	echo "FAIL: $*"
	for f in "$tmp"/*; do echo "---- $f"; head -c 3000 "$f"; echo; done
	exit 1
}

# expect STATUS WHAT CMD...: CMD exits STATUS (its output in $tmp/out, $tmp/err)
expect() {
	local want=$1 what=$2 rc
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$rc" = "$want" ] || fail "$what: exit $rc, not $want"
}
