#!/bin/bash
# The seams hold (tests/layout/check.py: core/ OS-free, no include or call
# cycle, layers one way, nx_ only for the installed headers), and the
# check sees each kind of crossing in a small tree planted with one of each.
set -u
BUILD=${BUILD:-build}
check=tests/layout/check.py

if ! python3 "$check" --obj "$BUILD/obj" --src .; then
	echo "the tree crosses a seam (above)"
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{core,platform,shm,tools,include/nx}
cat >"$tmp/include/nx/x.h" <<'C'
int nx_public(void);
C
printf '#ifndef A_H\n#define A_H\n#include "b.h"\n#endif\n' >"$tmp/core/a.h"
printf '#ifndef B_H\n#define B_H\n#include "a.h"\n#endif\n' >"$tmp/core/b.h"
cat >"$tmp/core/a.c" <<'C'
int nx__b(void);
int nx__a(void) { return nx__b(); }
C
cat >"$tmp/core/b.c" <<'C'
int nx__a(void);
int nx__b(void) { return nx__a(); }
C
cat >"$tmp/core/c.c" <<'C'
#include <stdlib.h>
#include <unistd.h>
int nx_public(void) { return getenv("X") != NULL; }
void *nx_looks_public(void) { return malloc(getpid()); }
C
cat >"$tmp/platform/p.c" <<'C'
#include "core/a.h"
int nx__a(void);
int nx__p(void) { return nx__a(); }
C
for c in core/a core/b core/c platform/p; do
	mkdir -p "$tmp/obj/$(dirname $c)"
	cc -std=gnu11 -O0 -I"$tmp" -c "$tmp/$c.c" -o "$tmp/obj/$c.o" || exit 1
done
out=$(python3 "$check" --obj "$tmp/obj" --src "$tmp")
rc=$?
echo "$out"
status=0
[ "$rc" -eq 1 ] || { echo "the planted tree passed the check"; status=1; }
for want in 'include-cycle: include cycle among core/a.h core/b.h' \
	'call-cycle: call cycle among core/a.c core/b.c' \
	'core-include: core/c.c:2: core includes <unistd.h>' \
	'core-call: core/c.c: core calls getenv' \
	'core-call: core/c.c: core calls malloc' \
	'core-call: core/c.c: core calls getpid' \
	'layer: platform/p.c:1: platform includes core/a.h' \
	'layer: platform/p.c: platform calls nx__a of core/a.c' \
	'name: core/c.c: nx_looks_public is not static and not public'; do
	if ! grep -qF "$want" <<<"$out"; then
		echo "missed: $want"
		status=1
	fi
done
grep -q 'nx_public is not' <<<"$out" && { echo "flagged the public nx_public"; status=1; }
[ "$status" -eq 0 ] && echo "layout: no seam crossed; the planted crossings are each found"
exit "$status"
