#!/bin/bash
# A real Prometheus (Debian's) scrapes nxexport: started on loopback with a
# generated configuration (any free port, its own data directory, a 1 s
# scrape interval), it must see nx_up 1 for the instance, then, after a
# client made exactly N calls, a requests counter exactly N higher than
# before them, and an increase() over the run of at least N (Prometheus
# extrapolates increase() to its range's ends: at most by 1.1 and 0.5 of a
# scrape interval, so with 6 or more intervals of samples the increase is
# below 1.5 N). Queries go through Prometheus's HTTP API.
set -u
BUILD=${BUILD:-build}
BIN=$BUILD/bin
if [ -n "${NX_SAN:-}" ]; then
	echo "skip: Prometheus scraping nxexport tests the integration, not memory safety (test_nxexport runs under $NX_SAN)"
	exit 0
fi
command -v prometheus >/dev/null || { echo "FAIL: prometheus not installed (scripts/install-deps.sh)"; exit 1; }
command -v jq >/dev/null || { echo "FAIL: jq not installed (scripts/install-deps.sh)"; exit 1; }
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nxexport_lib.sh"
nxt_setup prom
prom_pid=
cleanup() {
	[ -n "$prom_pid" ] && kill -KILL "$prom_pid" 2>/dev/null
	nxe_cleanup
}
trap cleanup EXIT
N=3000

"$BIN/nxd" --instance "$inst" --workers 1 --quiet --idle sleep 2>"$tmp/nxd.log" &
nxd_pid=$!
"$BIN/nxdemo" --instance "$inst" --wait-ready="$budget" >/dev/null || fail "nxd did not come up"
nxe_start --interval 0.2
target=${url#http://}
target=${target%/}

# ---- Prometheus, on a free port: tried again on another if it lost the port ----
mkdir -p "$tmp/prom-data"
cat >"$tmp/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: nexus
    # nxexport's samples carry the nexus instance as "instance": keep it
    # (without this Prometheus renames it exported_instance)
    honor_labels: true
    static_configs:
      - targets: ['$target']
YML
prom=
for attempt in 1 2 3 4 5; do
	port=$(free_port)
	prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prom-data" \
		--web.listen-address="127.0.0.1:$port" --log.level=warn >"$tmp/prometheus.log" 2>&1 &
	prom_pid=$!
	deadline=$((SECONDS + budget))
	while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$prom_pid" 2>/dev/null; do
		if curl -s -m 5 -o /dev/null -f "http://127.0.0.1:$port/-/ready"; then
			prom=http://127.0.0.1:$port
			break 2
		fi
		sleep 0.1
	done
	kill -KILL "$prom_pid" 2>/dev/null
	wait "$prom_pid" 2>/dev/null
	prom_pid=
done
[ -n "$prom" ] || fail "Prometheus did not start"

# q EXPR [TIME]: the value of an instant query's single result in $val ("" if none)
q() {
	local args=(--data-urlencode "query=$1")
	[ -n "${2:-}" ] && args+=(--data-urlencode "time=$2")
	curl -s -m 10 -G "$prom/api/v1/query" "${args[@]}" >"$tmp/q.json" || return 1
	val=$(jq -r 'if .status == "success" and (.data.result | length) == 1
		then .data.result[0].value[1] else "" end' "$tmp/q.json")
}
sel="{job=\"nexus\",instance=\"$inst\"}"
up1() { q "nx_up$sel" && [ "$val" = 1 ]; }
wait_for "Prometheus to scrape nx_up 1 for $inst" up1
# the target is healthy in Prometheus's own eyes too
curl -s -m 10 "$prom/api/v1/targets" | jq -e '.data.activeTargets[0].health == "up"' >/dev/null ||
	fail "Prometheus does not call the target up"
# a few scrapes before the load: the counter's flat start
scrapes() { q "count_over_time(nx_up$sel[1h])" && [ -n "$val" ] && [ "$val" -ge "$1" ]; }
wait_for "3 scrapes" scrapes 3
q "sum(nx_worker_requests_total$sel)"
[ -n "$val" ] || fail "no nx_worker_requests_total for $inst"
base=$val

expect 0 "nxcall --repeat $N" "$BIN/nxcall" --instance "$inst" --repeat "$N" echo ping
grep -q "^$N calls to echo: $N answered" "$tmp/out" || fail "the client did not make $N calls"
total() { q "sum(nx_worker_requests_total$sel)" && [ "$val" = $((base + N)) ]; }
wait_for "Prometheus to see $N more requests than $base" total
have=$(jq -r '.data.result[0].value[1]' "$tmp/q.json")
# six or more scrape intervals of samples in all, then the increase over the run
wait_for "9 scrapes" scrapes 9
now=$(date +%s)
q "sum(increase(nx_worker_requests_total$sel[1h]))" "$now"
inc=${val%.*}
[ -n "$inc" ] && [ "$inc" -ge "$N" ] && [ "$inc" -lt $((N * 3 / 2)) ] ||
	fail "increase() over the run is '$val', not N=$N to 1.5 N"
# and the rate while the load ran was not zero
q "max_over_time(sum(rate(nx_worker_requests_total$sel[5s]))[1h:1s])" "$now"
awk -v v="$val" 'BEGIN { exit !(v > 0) }' || fail "no request rate in Prometheus: '$val'"
rate=$val

nxe_stop
kill -TERM "$prom_pid"
wait "$prom_pid" 2>/dev/null
prom_pid=
kill -TERM "$nxd_pid"
wait "$nxd_pid" 2>/dev/null
nxd_pid=
echo "prometheus: scraped nx_up 1; counter $base -> $have (+$N, what the client sent); increase() $inc; peak rate $(printf '%.0f' "$rate")/s"
