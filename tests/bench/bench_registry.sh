#!/usr/bin/env bash
# bench_registry.sh SERVER - the API on a PostgreSQL registry
# (EDGECAP_TEST_DB: run under tests/unit/with-postgres.sh, as tools/lab
# bench registry does), its routes waiting for the registry on coroutines
# (registry_connections = 8, the default) against the same server with
# every statement on the loop (registry_connections = 0), in a namespace
# this script creates and always removes (loopback only):
#
#   throughput     GET /api/v1/devices?limit=50 of N devices, C clients at
#                  once for R requests (ab): requests per second
#   held up        GET /api/v1/devices while W requests for the audit log
#                  wait on a lock another client holds on it (psql, 3 s):
#                  that request's time
#
# Environment: N (default 500), C (default 16), R (default 4000), W
# (default 4), KEEP.
set -euo pipefail
server=$1
N=${N:-500} C=${C:-16} R=${R:-4000} W=${W:-4}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/record.sh"
[ -n "${EDGECAP_TEST_DB:-}" ] || { echo "bench registry: run under tests/unit/with-postgres.sh" >&2; exit 2; }
command -v ab > /dev/null || { echo "bench registry: needs ab (apache2-utils)" >&2; exit 2; }
db=$EDGECAP_TEST_DB
NS=ecbr-$$
tmp=$(mktemp -d)
cleanup() {
	local p
	for p in $(ip netns pids $NS 2> /dev/null); do kill -9 "$p" 2> /dev/null || true; done
	ip netns del $NS 2> /dev/null || true
	[ -n "${KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add $NS
ip -n $NS link set lo up
api=http://127.0.0.1:8080/api/v1

"$server" --db "$db" org add acme > /dev/null
token=$("$server" --db "$db" admin add acme alice)
start() { # CONNS
	mkdir -p "$tmp/data$1"
	printf 'registry_connections = %s\n' "$1" > "$tmp/conf$1"
	: > "$tmp/server$1.log"
	ip netns exec $NS "$server" -c "$tmp/conf$1" --db "$db" --data "$tmp/data$1" --plain-http \
		--listen 127.0.0.1:8080 2>> "$tmp/server$1.log" &
	pid=$!
	for _ in $(seq 100); do grep -q serving "$tmp/server$1.log" && return 0; sleep 0.05; done
	cat "$tmp/server$1.log" >&2
	return 1
}
enrol() { # the devices, through the API (once)
	local i
	[ "$(psql -qAtX "$db" -c "SELECT count(*) FROM devices")" -ge "$N" ] && return 0
	for i in $(seq "$N"); do
		ip netns exec $NS curl -sS -o /dev/null -H "Authorization: Bearer $token" \
			-H 'Content-Type: application/json' \
			--data "{\"name\":\"gw$i\",\"serial\":\"SN-$i\",\"address\":\"http://10.0.0.1:8081\"}" "$api/devices"
	done
}
measure() { # CONNS -> rps, held (ms)
	local lp t i
	start "$1"
	enrol
	ip netns exec $NS ab -q -n "$R" -c "$C" -H "Authorization: Bearer $token" "$api/devices?limit=50" \
		> "$tmp/ab$1" 2>&1
	rps=$(awk '/^Requests per second/ { printf "%d", $4 }' "$tmp/ab$1")
	# (ab's "Length" failures are answers of another length than the first:
	# a device's times and states change as the run goes)
	failed=$(sed -n 's/.*(Connect: \([0-9]*\), Receive: \([0-9]*\), Length: [0-9]*, Exceptions: \([0-9]*\)).*/\1 \2 \3/p; s/^Non-2xx responses: *\([0-9]*\)/\1/p' "$tmp/ab$1" |
		awk '{ for (i = 1; i <= NF; i++) n += $i } END { print n + 0 }')
	psql -qAtX "$db" -c "BEGIN; LOCK TABLE audit IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3); COMMIT" > /dev/null &
	lp=$!
	for _ in $(seq 50); do
		[ "$(psql -qAtX "$db" -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'audit' AND l.granted AND l.mode = 'AccessExclusiveLock'")" = 1 ] && break
		sleep 0.05
	done
	local waiting=()
	for i in $(seq "$W"); do
		ip netns exec $NS curl -s -o /dev/null -H "Authorization: Bearer $token" "$api/audit" &
		waiting+=($!)
	done
	sleep 0.3
	t=$(ip netns exec $NS curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $token" "$api/devices?limit=50")
	held=$(awk -v t="$t" 'BEGIN { printf "%.1f", t * 1000 }')
	wait $lp "${waiting[@]}"
	kill -TERM "$pid"
	wait "$pid" 2> /dev/null || true
}

echo "registry on PostgreSQL, $N devices; GET /devices?limit=50: $C clients, $R requests; $W requests waiting on a lock"
measure 8
co_rps=$rps co_held=$held co_failed=$failed
measure 0
loop_rps=$rps loop_held=$held loop_failed=$failed
printf '  %-34s %12s %12s\n' "" "coroutines" "on the loop"
printf '  %-34s %12s %12s\n' "GET /devices, requests/s" "$co_rps" "$loop_rps"
printf '  %-34s %12s %12s\n' "  (failed or not 2xx)" "$co_failed" "$loop_failed"
printf '  %-34s %12s %12s\n' "GET /devices while $W wait, ms" "$co_held" "$loop_held"
record bench=registry case="GET /devices, $C clients" metric="requests/s" ours="coroutines (8 connections)" \
	ours_value="$co_rps" peer="on the loop" peer_value="$loop_rps"
record bench=registry case="GET /devices while $W requests wait on a lock" metric=ms \
	ours="coroutines (8 connections)" ours_value="$co_held" peer="on the loop" peer_value="$loop_held"
