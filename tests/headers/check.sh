#!/bin/sh
# Every public header compiles alone, and twice, as strict C11, with each
# compiler we build with. Every shared-memory and wire layout header
# (shm/abi/) does too, and is declarations only: its object defines no
# symbol, it has no function body, and it includes nothing but
# <stdint.h>, <stddef.h> and its siblings.
set -u
status=0
obj=$(mktemp /tmp/nx-headers.XXXXXX)
trap 'rm -f "$obj"' EXIT
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
	for h in shm/abi/*.h; do
		# a typedef: a translation unit may not be empty, and it defines nothing
		if ! printf '#include "%s"\n#include "%s"\ntypedef int nx_header_check_dummy;\n' "$h" "$h" |
			"$cc" -std=c11 -pedantic -Wall -Wextra -Werror -I. -x c -c -o "$obj" -; then
			echo "headers: $h does not compile alone with $cc" >&2
			status=1
			continue
		fi
		if [ -n "$(nm "$obj" 2>/dev/null)" ]; then
			echo "headers: $h defines symbols (with $cc):" >&2
			nm "$obj" >&2
			status=1
		fi
	done
done
for h in shm/abi/*.h; do
	# code, comments and strings aside: a body (a ')' then '{', on one
	# line or two), or inline
	code=$(perl -0777 -pe 's{/\*.*?\*/}{}gs; s{//[^\n]*}{}g; s{"(?:[^"\\]|\\.)*"}{""}g' "$h" |
		tr '\n' ' ')
	if printf '%s' "$code" | grep -Eq '\)[[:space:]]*\{|\binline\b'; then
		echo "headers: $h holds code; shm/abi/ is declarations only" >&2
		status=1
	fi
	bad=$(grep -E '^[[:space:]]*#[[:space:]]*include' "$h" |
		grep -vE '#[[:space:]]*include[[:space:]]*(<stdint\.h>|<stddef\.h>|"[a-z_]+\.h")')
	for inc in $(grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$h" | sed 's/.*"\(.*\)".*/\1/'); do
		[ -e "shm/abi/$inc" ] || bad="$bad $inc"
	done
	if [ -n "$bad" ]; then
		echo "headers: $h includes more than <stdint.h>, <stddef.h> and shm/abi/: $bad" >&2
		status=1
	fi
done
[ "$status" -eq 0 ] && echo "headers: every public header compiles alone (C11); shm/abi/ is declarations only"
exit "$status"
