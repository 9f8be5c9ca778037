#!/bin/bash
# libnx.so exports the public API and nothing else: every symbol it
# defines dynamically is a function include/nx/nx.h declares, and every
# function nx.h declares is exported.
set -u
BUILD=${BUILD:-build}
so="$BUILD/lib/libnx.so"
hdr=include/nx/nx.h
[ -e "$so" ] || { echo "no $so: build first"; exit 1; }

# declared: a declaration starts at column 0 (comments and macro bodies
# do not), names an nx_ function and opens its parameter list
declared=$(grep -E '^[A-Za-z_].*[ *]nx_[a-z0-9_]+\(' "$hdr" | grep -v '^#' |
	grep -oE 'nx_[a-z0-9_]+\(' | tr -d '(' | sort -u)
# exported: defined dynamic symbols, without absolute ones (version nodes)
exported=$(nm -D --defined-only "$so" | awk '$2 != "A" { print $3 }' | sed 's/@.*//' | sort -u)

[ -n "$declared" ] || { echo "found no declaration in $hdr"; exit 1; }
status=0
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
if [ -n "$extra" ]; then
	echo "libnx.so exports symbols include/nx/nx.h does not declare:"
	echo "$extra" | sed 's/^/  /'
	status=1
fi
if [ -n "$missing" ]; then
	echo "include/nx/nx.h declares functions libnx.so does not export:"
	echo "$missing" | sed 's/^/  /'
	status=1
fi
# every declaration is marked for export (a new one without NX_API would
# be hidden, and this test would say so above, but say why)
unmarked=$(grep -E '^[A-Za-z_].*[ *]nx_[a-z0-9_]+\(' "$hdr" | grep -v '^#' | grep -v '^NX_API ')
if [ -n "$unmarked" ]; then
	echo "declarations in $hdr without NX_API:"
	echo "$unmarked" | sed 's/^/  /'
	status=1
fi
[ "$status" -eq 0 ] && echo "libnx.so exports the $(echo "$declared" | wc -l) functions of nx.h, nothing else"
exit "$status"
