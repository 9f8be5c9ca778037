#!/bin/bash
# make install into a staging directory, then build a client against the
# installed header, pkg-config file and shared library only, and run it
# against a real nxd.
set -u
if [ -n "${NX_SAN:-}" ]; then
	echo "skip: a sanitizer build installs sanitized libraries, which only sanitized clients load"
	exit 0
fi
root=$(pwd)
BUILD=${BUILD:-build}
stage=$(mktemp -d /tmp/nxt-install.XXXXXX)
# unique to this run (pids are reused), and nothing left by a killed one
inst="nxt-install-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
# nxd's control socket and lock (what a SIGKILL leaves), where nxd puts them
if [ -n "${NX_RUNTIME_DIR:-}" ]; then rundir=$NX_RUNTIME_DIR
elif [ "$(id -u)" = 0 ] || [ -w /run/nexus ]; then rundir=/run/nexus
elif [ -n "${XDG_RUNTIME_DIR:-}" ]; then rundir=$XDG_RUNTIME_DIR/nexus
else rundir=/tmp/nexus-$(id -u); fi
rm -f "$rundir/$inst.ctl" "$rundir/$inst.lock" "/dev/shm/nx.$inst.health" "/dev/shm/nx.$inst.dlq"
nxd_pid=
cleanup() {
	[ -n "$nxd_pid" ] && kill -KILL "$nxd_pid" 2>/dev/null && wait "$nxd_pid" 2>/dev/null
	nxd_pid=
	rm -rf "$stage"
	rm -f "$rundir/$inst.ctl" "$rundir/$inst.lock" "/dev/shm/nx.$inst.health" "/dev/shm/nx.$inst.dlq"
}
# interrupted or timed out: exit, and the EXIT trap cleans up
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
fail() { echo "FAIL: $*"; exit 1; }

make -s -C "$root" install BUILD="$BUILD" PREFIX=/usr/local DESTDIR="$stage" >/dev/null ||
	fail "make install"
for f in usr/local/include/nx/nx.h usr/local/include/nx/nx_stage.h usr/local/lib/libnx.so \
	 usr/local/lib/pkgconfig/nx.pc usr/local/bin/nxd usr/local/bin/nxexport \
	 usr/local/lib/systemd/system/nxexport@.service; do
	[ -e "$stage/$f" ] || fail "not installed: $f"
done
readlink "$stage/usr/local/lib/libnx.so" | grep -q 'libnx.so.1' || fail "libnx.so is not a link to its soname"

cat > "$stage/client.c" <<'CLIENT'
#include <stdio.h>
#include <string.h>
#include <nx/nx.h>
int main(int argc, char **argv)
{
	struct nx_client *c;
	char out[64];
	uint32_t len = 0;
	int echo, rc;

	if (nx_open(&c, argv[1], NULL) < 0) { fprintf(stderr, "%s\n", nx_errmsg()); return 1; }
	echo = nx_pipeline_id(c, "echo");
	rc = nx_call(c, (uint16_t)echo, "installed", 9, out, sizeof out, &len, 30000000000ull);
	nx_close(c);
	(void)argc;
	return rc == 0 && len == 9 && memcmp(out, "installed", 9) == 0 ? 0 : 2;
}
CLIENT
export PKG_CONFIG_SYSROOT_DIR="$stage" PKG_CONFIG_PATH="$stage/usr/local/lib/pkgconfig"
cflags=$(pkg-config --cflags nx) || fail "pkg-config --cflags nx"
libs=$(pkg-config --libs nx) || fail "pkg-config --libs nx"
cc -std=c11 -Wall -Werror $cflags "$stage/client.c" -o "$stage/client" $libs ||
	fail "a client does not build against the installed files"

"$stage/usr/local/bin/nxd" --instance "$inst" --quiet &
nxd_pid=$!
# until the client gets its answer: nxd may take a while to serve on a
# loaded machine (bounded: 60 s, each try's call at most 30 s)
ok=0
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
	kill -0 "$nxd_pid" 2>/dev/null || fail "the installed nxd exited"
	if LD_LIBRARY_PATH="$stage/usr/local/lib" "$stage/client" "$inst" 2>/dev/null; then ok=1; break; fi
	sleep 0.05
done
[ "$ok" = 1 ] || fail "the installed client could not call the installed nxd"
ldd "$stage/client" | grep -q "$stage/usr/local/lib/libnx.so" 2>/dev/null ||
	LD_LIBRARY_PATH="$stage/usr/local/lib" ldd "$stage/client" | grep -q libnx.so.1 ||
	fail "the client is not linked with libnx.so"
echo "install: header, pkg-config, libnx.so and nxd work from $stage"
