#!/bin/bash
# nxexport's dashboard in a real browser: headless Chromium (Debian's)
# loads / while a client sends load to echo and to a pipeline whose stage
# always fails (its breaker opens), then the DOM it built must hold the
# instance, live figures, a breaker open and charts with points (the page
# writes data-polls and data-points once it drew them), and the screenshot
# must be a 1280x900 PNG that is not blank: the page's background, the
# charts' two line colours and the unhealthy red in it (decoded with
# python3's zlib). NXEXPORT_SCREENSHOT=FILE keeps the screenshot (the
# README's docs/dashboard.png comes from here).
set -u
BUILD=${BUILD:-build}
BIN=$BUILD/bin
CALLS=$BUILD/tests/helpers/nxt_calls
if [ -n "${NX_SAN:-}" ]; then
	echo "skip: a browser drawing the dashboard tests the integration, not memory safety (test_nxexport runs under $NX_SAN)"
	exit 0
fi
command -v chromium >/dev/null || { echo "FAIL: chromium not installed (scripts/install-deps.sh)"; exit 1; }
command -v jq >/dev/null || { echo "FAIL: jq not installed (scripts/install-deps.sh)"; exit 1; }
[ -x "$CALLS" ] || { echo "FAIL: $CALLS not built (make tests)"; exit 1; }
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nxexport_lib.sh"
nxt_setup browser
load_pid=
hold_pid=
cleanup() {
	[ -n "$load_pid" ] && kill -KILL "$load_pid" 2>/dev/null
	[ -n "$hold_pid" ] && kill -KILL "$hold_pid" 2>/dev/null
	nxe_cleanup
}
trap cleanup EXIT

cat >"$tmp/nxd.ini" <<'INI'
[pipeline.bad]
graph = f
f.stage = fail
f.percent = 100
f.breaker = count
f.breaker-window = 20
INI
"$BIN/nxd" --instance "$inst" --workers 2 --quiet --idle sleep --config "$tmp/nxd.ini" 2>"$tmp/nxd.log" &
nxd_pid=$!
"$BIN/nxdemo" --instance "$inst" --wait-ready="$budget" >/dev/null || fail "nxd did not come up"
nxe_start --interval 0.25

# a client that stays attached: a channel on the page
"$CALLS" "$inst" --hold 3600 echo:100 >"$tmp/hold.out" 2>&1 &
hold_pid=$!
# load for as long as the browser looks: small batches, paced so that the
# browser gets the CPU too
(
	while :; do
		"$CALLS" "$inst" echo:400 bad:2 >/dev/null 2>&1 || exit 1
		sleep 0.05
	done
) &
load_pid=$!
loaded() {
	http /api/snapshot && jq -e '([.stages[] | select(.pipeline == "echo") | .calls_per_s] | add) > 0 and
		([.stages[] | select(.pipeline == "bad") | .breaker] | index("open")) != null' "$tmp/body" >/dev/null
}
wait_for "echo under load and bad's breaker open" loaded
held() { http /api/snapshot && jq -e '[.channels[] | select(.answered == 100)] | length >= 1' "$tmp/body" >/dev/null; }
wait_for "the held client's channel" held

# Chromium: its profile and caches in tmp; virtual time runs the page's
# polls (the fetches themselves are real, and virtual time waits for them)
chrome() {
	HOME=$tmp timeout -k 10 "$budget" chromium --headless --disable-gpu --no-sandbox \
		--user-data-dir="$tmp/chromium" --no-first-run --disable-extensions \
		--hide-scrollbars --window-size=1280,900 --virtual-time-budget=20000 "$@" "$url"
}
chrome --screenshot="$tmp/dashboard.png" >"$tmp/chromium.out" 2>"$tmp/chromium.err" ||
	fail "chromium --screenshot"
[ -s "$tmp/dashboard.png" ] || fail "no screenshot"
chrome --dump-dom >"$tmp/dom.html" 2>>"$tmp/chromium.err" || fail "chromium --dump-dom"

# ---- the DOM: live figures and charts drawn ----
polls=$(sed -n 's/.*<body[^>]* data-polls="\([0-9]*\)".*/\1/p' "$tmp/dom.html")
points=$(sed -n 's/.*<body[^>]* data-points="\([0-9]*\)".*/\1/p' "$tmp/dom.html")
[ -n "$polls" ] && [ "$polls" -ge 3 ] || fail "the page polled '$polls' times, not 3 or more"
[ -n "$points" ] && [ "$points" -ge 20 ] || fail "the charts have '$points' points, not 20 or more"
grep -q "<span id=\"inst\">$inst</span>" "$tmp/dom.html" || fail "the page does not name the instance"
grep -q 'id="worker-0"' "$tmp/dom.html" && grep -q 'id="worker-1"' "$tmp/dom.html" || fail "no card per worker"
grep -q 'id="stage-[0-9]*-echo_echo"' "$tmp/dom.html" || fail "no card for echo's slot"
grep -q 'class="badge b-open">breaker open<' "$tmp/dom.html" || fail "bad's breaker is not shown open"
grep -q 'class="badge h-unhealthy">unhealthy<' "$tmp/dom.html" || fail "no unhealthy state shown"
grep -Eq 'calls/s <b>[1-9][0-9.]*k?</b>' "$tmp/dom.html" || fail "no stage rate above 0 on the page"
grep -Eq 'p99 <b>[0-9.]+(ns|us|ms)</b>' "$tmp/dom.html" || fail "no p99 on the page"
grep -q 'id="channel-[0-9]*-'"$hold_pid"'-' "$tmp/dom.html" || fail "no card for the held client's channel"
drawn=$(grep -Eo 'canvas class="chart rate" [^>]*data-points="[0-9]+"' "$tmp/dom.html" | grep -c 'data-points="[1-9]')
[ "$drawn" -ge 3 ] || fail "$drawn rate charts with points, not 3 or more"

# ---- the screenshot: a PNG of the window's size, with the page's colours ----
python3 - "$tmp/dashboard.png" >"$tmp/png.txt" <<'PY' || fail "the screenshot: $(cat "$tmp/png.txt")"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, ihdr = 8, b"", None
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if zlib.crc32(kind + body) != struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]:
        sys.exit("a chunk's CRC is wrong")
    if kind == b"IHDR":
        ihdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
w, h, depth, ctype, _, _, interlace = ihdr
if (w, h) != (1280, 900):
    sys.exit("%dx%d, not 1280x900" % (w, h))
if depth != 8 or ctype not in (2, 6) or interlace:
    sys.exit("unexpected PNG format: depth %d colour type %d interlace %d" % (depth, ctype, interlace))
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
colours = {}
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    if f == 1:
        for i in range(bpp, stride): line[i] = (line[i] + line[i - bpp]) & 255
    elif f == 2:
        for i in range(stride): line[i] = (line[i] + prev[i]) & 255
    elif f == 3:
        for i in range(stride): line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
    elif f == 4:
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        px = bytes(line[x:x + 3])
        colours[px] = colours.get(px, 0) + 1
    prev = line
def near(rgb, tol=24):
    return sum(n for c, n in colours.items() if all(abs(c[i] - rgb[i]) <= tol for i in range(3)))
total = w * h
bg = near((0x11, 0x14, 0x18), 4)
rate, p99, red = near((0x58, 0xa6, 0xff)), near((0xf0, 0x88, 0x3e)), near((0xf8, 0x51, 0x49))
print("%d colours; background %.0f%%; rate line %d px, p99 line %d px, unhealthy red %d px"
      % (len(colours), 100.0 * bg / total, rate, p99, red))
if len(colours) < 50: sys.exit("only %d colours: blank" % len(colours))
if not 0.2 < bg / total < 0.95: sys.exit("background on %.0f%% of the screen" % (100.0 * bg / total))
if rate < 30 or p99 < 30: sys.exit("the charts' lines are not drawn (rate %d, p99 %d px)" % (rate, p99))
if red < 10: sys.exit("no unhealthy red")
PY
[ -n "${NXEXPORT_SCREENSHOT:-}" ] && cp "$tmp/dashboard.png" "$NXEXPORT_SCREENSHOT"
kill -KILL "$load_pid"
wait "$load_pid" 2>/dev/null
load_pid=
kill -TERM "$hold_pid"
wait "$hold_pid" 2>/dev/null
hold_pid=
nxe_stop
kill -TERM "$nxd_pid"
wait "$nxd_pid" 2>/dev/null
nxd_pid=
echo "browser: chromium drew the dashboard: $polls polls, $points chart points, $drawn rate charts; $(cat "$tmp/png.txt")"
