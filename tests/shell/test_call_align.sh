#!/bin/bash
# nx_call sits where it was measured, in every binary that has it: on a
# 64-byte boundary, with its 16-byte NOP near its top (shm/client.c says
# why: placed 64 bytes apart, the same code made a round trip between
# cores a tenth to a third slower, and unrelated code before it chose which).
set -u
BUILD=${BUILD:-build}
command -v objdump >/dev/null || { echo "FAIL: objdump not installed (binutils)"; exit 1; }
[ "$(uname -m)" = x86_64 ] || { echo "not x86_64: nothing to check"; exit 0; }
files=()
for f in "$BUILD"/bin/nxbench "$BUILD"/bin/nxcall "$BUILD"/bin/nxdemo "$BUILD"/lib/libnx.so; do
	[ -f "$f" ] || { echo "FAIL: $f not built"; exit 1; }
	files+=("$f")
done
python3 - "${files[@]}" <<'PY'
import re, subprocess, sys
bad = []
for path in sys.argv[1:]:
    out = subprocess.run(["objdump", "-d", "--insn-width=16", path], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"^([0-9a-f]+) <nx_call>:\n((?:\s+[0-9a-f]+:.*\n){1,64})", out, re.M)
    if m is None:
        bad.append("%s: no nx_call" % path)
        continue
    addr = int(m.group(1), 16)
    if addr % 64 != 0:
        bad.append("%s: nx_call at %#x, not on a 64-byte boundary" % (path, addr))
    # the pad: an 11-byte NOP, then a 5-byte one, among the first instructions
    sizes = [len(l.split("\t")[1].split()) for l in m.group(2).splitlines()
             if "nop" in l and l.count("\t") >= 2]
    if not any(a == 11 and b == 5 for a, b in zip(sizes, sizes[1:])):
        bad.append("%s: nx_call's 16-byte NOP not found near its top" % path)
if bad:
    sys.exit("FAIL:\n" + "\n".join(bad))
print("nx_call: on a 64-byte boundary with its NOP in %d binaries" % len(sys.argv[1:]))
PY
