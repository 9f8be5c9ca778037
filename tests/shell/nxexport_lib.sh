# Sourced by the nxexport tests after lib.sh's nxt_setup:
#   nxe_start [nxexport options]   start nxexport on 127.0.0.1, any free port;
#                                  sets nxe_pid and url (http://127.0.0.1:PORT/)
#   nxe_stop                       SIGTERM, and it must exit 0
#   http PATH [curl options]       GET; the status in $code, the body in $tmp/body,
#                                  the headers in $tmp/headers
#   wait_for WHAT CMD...           run CMD until it succeeds, within $budget
nxe_pid=
nxe_start() {
	"$BIN/nxexport" --instance "$inst" --listen 127.0.0.1:0 "$@" >"$tmp/nxexport.out" \
		2>>"$tmp/nxexport.err" &
	nxe_pid=$!
	local deadline=$((SECONDS + budget))
	url=
	while [ "$SECONDS" -lt "$deadline" ]; do
		url=$(sed -n 's|^nxexport: instance .* on \(http://127\.0\.0\.1:[0-9]*/\)$|\1|p' "$tmp/nxexport.out")
		[ -n "$url" ] && return 0
		kill -0 "$nxe_pid" 2>/dev/null || fail "nxexport exited at start"
		sleep 0.05
	done
	fail "nxexport did not say where it listens"
}
nxe_stop() {
	local rc
	kill -TERM "$nxe_pid"
	wait "$nxe_pid"
	rc=$?
	nxe_pid=
	[ "$rc" = 0 ] || fail "nxexport exited $rc on SIGTERM, not 0"
}
nxe_cleanup() {
	[ -n "$nxe_pid" ] && kill -KILL "$nxe_pid" 2>/dev/null
	nxt_cleanup
}
http() {
	local path=$1
	shift
	code=$(curl -s -m 30 -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' "$@" "${url%/}$path")
}
wait_for() {
	local what=$1 deadline=$((SECONDS + budget))
	shift
	while [ "$SECONDS" -lt "$deadline" ]; do
		"$@" && return 0
		sleep 0.1
	done
	fail "waited ${budget}s: $what"
}
# free_port: a TCP port free on 127.0.0.1 when asked (a program that then
# fails to bind it is started again on another: see the callers)
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
