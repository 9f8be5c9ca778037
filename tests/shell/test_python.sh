#!/bin/bash
# The Python client (python/, built into $BUILD/python) with Debian's
# pytest against real nxds the fixtures start (tests/python/conftest.py),
# each on an instance of its own, removed on every path.
set -u
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
if [ -n "${NX_SAN:-}" ]; then
	# a sanitized libnx loads only into a process started with the
	# sanitizer's runtime (LD_PRELOAD of libasan/libtsan into python3),
	# which would then report Python's own allocations: not built there
	echo "PASS (skipped): the Python client is not built under SAN=$NX_SAN"
	exit 0
fi
root=$(pwd)
so=$(ls "$BUILD"/python/nexus/_nexus*.so 2>/dev/null | head -1)
[ -n "$so" ] || { echo "FAIL: $BUILD/python/nexus has no extension (make python)"; exit 1; }
"$PYTHON" -c 'import pytest' 2>/dev/null || { echo "FAIL: python3-pytest not installed (scripts/install-deps.sh)"; exit 1; }
out=$(mktemp /tmp/nxt-python.XXXXXX)
trap 'rm -f "$out"' EXIT
# no cache directory written into the tree; the tests' own bounds apply
PYTHONPATH="$root/$BUILD/python" NX_BIN="$root/$BUILD/bin" PYTHONDONTWRITEBYTECODE=1 \
	"$PYTHON" -m pytest -q -p no:cacheprovider "$root/tests/python" >"$out" 2>&1
rc=$?
cat "$out"
[ "$rc" = 0 ] || { echo "FAIL: pytest exited $rc"; exit 1; }
echo "python client: $(grep -E '^[0-9]+ passed' "$out" | tail -1) (pytest, real nxd)"
