#!/bin/sh
# Install the Debian packages nexus needs; do nothing when they are present.
# Usage: scripts/install-deps.sh          (called by `make demo` and `make test`)
set -eu

PKGS="build-essential pkg-config clang libclang-rt-dev libck-dev liburcu-dev libhwloc-dev \
libcmocka-dev libncurses-dev libinih-dev libsystemd-dev libelf-dev tmux jq stress-ng python3 binutils \
wordnet-base"
# the Python client (python/): built against Debian's interpreter, tested with its pytest
PKGS="$PKGS python3-dev python3-pytest"
# nxexport: its HTTP library; a real Prometheus and a browser for its tests
PKGS="$PKGS libmicrohttpd-dev prometheus chromium"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "install-deps: need root or sudo to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || echo "install-deps: apt-get update failed; trying the cached lists" >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing </dev/null
