#!/bin/bash
# The reference retrieval service end to end: a real nxd with
# build/lib/retrieval.conf (the nx-retrieval plugin over WordNet), each
# pipeline called through nxcall --json and its answer checked against
# what the corpus holds: "domestic dog" is the synset "dog, domestic dog,
# Canis familiaris" at rank 1 in smart, full, maximum and adaptive; full
# fuses, maximum also reranks; a misspelling is found by full's fuzzy
# engine; cache-only misses until another pipeline has answered the
# query, then answers from the cache; hostile queries get an answer or
# an error, never a dead nxd.
set -u
BUILD=${BUILD:-build}
BIN=$BUILD/bin
command -v jq >/dev/null || { echo "FAIL: jq not installed (scripts/install-deps.sh)"; exit 1; }
. "$(dirname "$0")/lib.sh"
nxt_setup retr


[ -r /usr/share/wordnet/data.noun ] || fail "no WordNet (scripts/install-deps.sh installs wordnet-base)"
"$BIN/nxd" --instance "$inst" --workers 1 --quiet --config "$BUILD/lib/retrieval.conf" 2>"$tmp/nxd.log" &
nxd_pid=$!
"$BIN/nxdemo" --instance "$inst" --wait-ready="$budget" >/dev/null || fail "nxd did not come up"

call() { # PIPELINE QUERY: the answer as JSON in $tmp/out
	"$BIN/nxcall" --instance "$inst" --json --timeout-ms $((budget * 1000)) "$1" "$2" \
		>"$tmp/out" 2>"$tmp/err" || fail "nxcall $1 '$2' failed"
}
first_title() { jq -r '.answer.hits[0].title // ""' "$tmp/out"; }

# cache-only before anyone answered: no cached answer
call cache-only "domestic dog"
[ "$(jq -r '.answer.miss' "$tmp/out")" = true ] || fail "cache-only: not a miss at first"
for p in smart full maximum adaptive; do
	call "$p" "domestic dog"
	[ "$(jq -r '.ok' "$tmp/out")" = true ] || fail "$p: not ok"
	[ "$(jq -r '.answer.kind' "$tmp/out")" = answer ] || fail "$p: not an answer"
	case "$(first_title)" in
	"dog, domestic dog, Canis familiaris"*) ;;
	*) fail "$p: rank 1 is '$(first_title)', not the domestic dog" ;;
	esac
done
# what smart stored, cache-only answers (the same table), and says so
call cache-only "domestic dog"
[ "$(jq -r '.answer.cached' "$tmp/out")" = true ] || fail "cache-only: not from the cache"
case "$(first_title)" in "dog, domestic dog"*) ;; *) fail "cache-only: wrong cached answer" ;; esac
# full fuses its four engines; maximum reranks too (a query no cache holds)
call full "wolf of north america"
[ "$(jq -r '.answer.fused' "$tmp/out")" = true ] || fail "full: not fused"
call maximum "common wolf of north america"
[ "$(jq -r '.answer.reranked' "$tmp/out")" = true ] || fail "maximum: not reranked"
# a misspelling: full's fuzzy engine finds the word
call full "domestc"
jq -r '.answer.hits[].title' "$tmp/out" | grep -qi "domestic" || fail "full: 'domestc' found nothing domestic"
# hostile queries: an answer or an error each, and nxd still serves
for q in "" "'\"\"\"" "$(head -c 900 /dev/urandom | tr -d '\0' | head -c 900)" \
	"$(printf 'a%.0s' $(seq 1 1000))" "NXR1garbage"; do
	for p in cache-only smart full maximum adaptive; do
		"$BIN/nxcall" --instance "$inst" --timeout-ms $((budget * 1000)) "$p" "$q" >/dev/null 2>&1
		[ $? -le 1 ] || fail "$p: hostile query: nxcall crashed"
	done
done
kill -0 "$nxd_pid" 2>/dev/null || fail "nxd died on a hostile query"
call smart "domestic dog"
case "$(first_title)" in "dog, domestic dog"*) ;; *) fail "smart after hostile queries" ;; esac

kill -TERM "$nxd_pid"
wait "$nxd_pid"
rc=$?
nxd_pid=
[ "$rc" = 0 ] || fail "nxd exited $rc"
echo "retrieval: five pipelines answer from WordNet through a real nxd, cache shared, hostile queries survived"
