#!/bin/sh
# Every public header compiles alone, and twice, as strict C11, with each
# compiler we build with.
set -u
status=0
for cc in ${CHECK_CC:-gcc clang}; do
	command -v "$cc" >/dev/null 2>&1 || continue
	for h in include/nx/*.h; do
		b=$(basename "$h")
		if ! printf '#include <nx/%s>\n#include <nx/%s>\nint nx_header_check_dummy;\n' "$b" "$b" |
			"$cc" -std=c11 -pedantic -Wall -Wextra -Werror -Iinclude -x c -c -o /dev/null -; then
			echo "headers: $h does not compile alone with $cc" >&2
			status=1
		fi
	done
done
[ "$status" -eq 0 ] && echo "headers: every public header compiles alone (C11)"
exit "$status"
