#!/usr/bin/env bash
# cluster.sh SERVER AGENT EDGECAP - the lab of several servers: three
# edgecap-server instances on one PostgreSQL registry (EDGECAP_TEST_DB: run
# under tests/unit/with-postgres.sh) and one data directory, and six gateways
# behind a NAT, each knowing all three (its list starting at its own), gw1-3
# by UDP, gw4-6 by HTTP (the NAT drops their UDP). What one server does for
# its devices, three do for devices spread over them: the tunnel (every
# device reached, its status asked and its settings applied by the server
# that holds it), the merged capture (the same count, order and duplicates
# through any server, and with every device on one), and the faults (a
# server killed mid-capture, its devices re-homed, UDP and HTTP alike).
#
#   A (cloud switch, bridge cb): s1 10.98.20.1, s2 .2, s3 .3, the NAT .254
#   B (NAT: masquerades 192.168.90.0/24; drops UDP from gw4-6)
#   └── bridge lan, a hub (ageing 0): gw1..gw6 192.168.90.11-16, T .50
#
# T floods UDP to port 7777 of an address nobody has: every gateway sees each
# datagram, so a capture on all six keeps each once and removes five copies.
set -uo pipefail
server=$1
agent=$2
ec=$3
suite=cls
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
[ -n "${EDGECAP_TEST_DB:-}" ] || { echo "SKIP: needs EDGECAP_TEST_DB (tests/unit/with-postgres.sh)"; exit 77; }
db=$EDGECAP_TEST_DB
S1=$ns-s1 S2=$ns-s2 S3=$ns-s3 T=$ns-t
G=() extra_ns="$S1 $S2 $S3 $T"
for i in 1 2 3 4 5 6; do G[i]=$ns-g$i extra_ns+=" ${G[i]}"; done
SRV=("" "$S1" "$S2" "$S3")

# link NS1 IF1 NS2 IF2 [ADDR on IF2]: a veth pair, IF1 enslaved to NS1's bridge BR
port() { # BR NS1 IF1 NS2 IF2 ADDR
	ip link add "$3" netns "$2" type veth peer name "$5" netns "$4" &&
		ip -n "$2" link set "$3" master "$1" up &&
		ip -n "$4" addr add "$6" dev "$5" && ip -n "$4" link set "$5" up && ip -n "$4" link set lo up
}
for n in $extra_ns; do ip netns add "$n"; done
ip -n "$A" link add cb type bridge && ip -n "$A" link set cb up &&
	ip -n "$B" link add lan type bridge ageing_time 0 && ip -n "$B" addr add 192.168.90.1/24 dev lan &&
	ip -n "$B" link set lan up &&
	port cb "$A" c1 "$S1" e0 10.98.20.1/24 && port cb "$A" c2 "$S2" e0 10.98.20.2/24 &&
	port cb "$A" c3 "$S3" e0 10.98.20.3/24 && port cb "$A" cn "$B" out 10.98.20.254/24 &&
	port lan "$B" l0 "$T" t0 192.168.90.50/24 || { echo "FAIL topology"; exit 1; }
for i in 1 2 3 4 5 6; do
	port lan "$B" "l$i" "${G[i]}" lan0 "192.168.90.1$i/24" && ip -n "${G[i]}" route add default via 192.168.90.1 ||
		{ echo "FAIL topology gw$i"; exit 1; }
done
ip netns exec "$B" sysctl -qw net.ipv4.ip_forward=1 &&
	ip -n "$T" neigh add 192.168.90.99 lladdr 02:00:00:00:00:99 dev t0 &&
	ip netns exec "$B" nft -f - <<- 'EOF' || { echo "FAIL NAT"; exit 1; }
	table ip nat {
		chain post { type nat hook postrouting priority srcnat; oifname "out" masquerade; }
	}
	table inet ecblock {
		chain forward { type filter hook forward priority 0; ip saddr 192.168.90.14-192.168.90.16 meta l4proto udp drop; }
	}
	EOF

mkdir -m 700 "$tmp/data"
"$server" --db "$db" org add acme > /dev/null &&
	token=$("$server" --db "$db" admin add acme alice) || { echo "FAIL bootstrap"; exit 1; }

start() { # N: server sN, once it serves (its devices asked for their status every 2 s)
	local log=$tmp/s$1.log
	: > "$log"
	ip netns exec "${SRV[$1]}" "$server" --db "$db" --data "$tmp/data" --plain-http --listen 0.0.0.0:8080 \
		--instance-address "http://10.98.20.$1:8080" --tunnel-udp 0.0.0.0:4789 --report-interval 2 \
		2>> "$log" &
	eval "s${1}_pid=$!"
	wait_log "$log" serving 10
}
id_of() { sed -n 's/.* as instance \([0-9a-f]*\),.*/\1/p' "$tmp/s$1.log" | tail -1; }
sql() { psql -qAtX -v ON_ERROR_STOP=1 "$db" -c "$1"; }
holder() { sql "SELECT coalesce(o.instance, '') FROM device_owner o JOIN devices d ON d.id = o.device_id WHERE d.name = '$1'"; }
api() { # N ARGS...: the CLI against server sN (from the cloud switch)
	local n=$1; shift
	ip netns exec "$A" env EDGECAP_SERVER="http://10.98.20.$n:8080" EDGECAP_TOKEN="$token" "$ec" "$@"
}
get() { # N PATH: the API's JSON from server sN
	ip netns exec "$A" curl -sS -H "Authorization: Bearer $token" "http://10.98.20.$1:8080/api/v1$2"
}
ip -n "$A" addr add 10.98.20.250/24 dev cb
# s1 first: it makes the device CA the others share (one data directory)
start 1 && start 2 && start 3 || { echo "FAIL servers: $(cat "$tmp"/s?.log)"; exit 1; }

agent_start() { # I: gwI, its list starting at s((I-1)%3+1)
	local i=$1 f=$(((($1 - 1) % 3) + 1)) list= k
	for k in 0 1 2; do list+="${list:+, }http://10.98.20.$((((f - 1 + k) % 3) + 1)):8080"; done
	printf 'tunnel = %s\nserial = SN-gw%s\nkey_file = %s\nstate_file = %s\nhello_interval = 1\nudp_wait = 1\n' \
		"$list" "$i" "$tmp/gw$i.key" "$tmp/gw$i.state" > "$tmp/gw$i.conf"
	: > "$tmp/gw$i.log"
	ip netns exec "${G[i]}" "$agent" -c "$tmp/gw$i.conf" -i lan0 --listen 0.0.0.0:8081 --plain-http \
		2>> "$tmp/gw$i.log" &
	eval "gw${i}_pid=$!"
}
for i in 1 2 3 4 5 6; do agent_start $i; done
for i in 1 2 3 4 5 6; do
	wait_log "$tmp/gw$i.log" "waiting to be claimed" 10 || { echo "FAIL gw$i: $(cat "$tmp/gw$i.log")"; exit 1; }
	code=$("$agent" identity -c "$tmp/gw$i.conf" | awk '/^claim code/ { print $3 }')
	# claimed through any server: each serves the whole registry
	api $((((i - 1) % 3) + 1)) devices claim "SN-gw$i" "$code" --name "gw$i" > /dev/null ||
		{ echo "FAIL claim gw$i"; exit 1; }
done

test_spread() {
	local bad= i want
	for i in 1 2 3 4 5 6; do
		wait_log "$tmp/gw$i.log" "registered as" 15 || bad+=" gw$i: $(tail -1 "$tmp/gw$i.log");"
	done
	for _ in $(seq 100); do # the HTTP ones first try UDP, for a second
		[ "$(api 1 devices list | awk '$1 ~ /^gw/ { print $1 $5 }' | sort | tr '\n' ' ')" = \
			"gw1udp gw2udp gw3udp gw4http gw5http gw6http " ] && break
		sleep 0.1
	done
	[ "$(api 1 devices list | awk '$1 ~ /^gw/ { print $1 $5 }' | sort | tr '\n' ' ')" = \
		"gw1udp gw2udp gw3udp gw4http gw5http gw6http " ] || bad+=" transports: $(api 1 devices list);"
	for i in 1 2 3 4 5 6; do
		want=$(id_of $((((i - 1) % 3) + 1)))
		[ "$(holder gw$i)" = "$want" ] || bad+=" gw$i held by '$(holder gw$i)', not $want;"
		# reached through its tunnel from the server that holds it
		ip netns exec "${SRV[$((((i - 1) % 3) + 1))]}" ping -c 1 -W 2 \
			"$(grep -o 'registered as [0-9.]*' "$tmp/gw$i.log" | tail -1 | cut -d' ' -f3)" > /dev/null ||
			bad+=" no ping to gw$i;"
	done
	[ -z "$bad" ] && ok "six gateways through the NAT (three by UDP, three by HTTP), two held by each server, each reached through its tunnel" ||
		ko spread "$bad"
}

# Each device's status is asked, and its settings are applied, by the server
# that holds its tunnel: every device answers, whichever server the
# administrator asks.
settled() { # N PYTHON-CONDITION on d (a device's JSON from sN): for all six, within 20 s
	for _ in $(seq 100); do
		for i in 1 2 3 4 5 6; do
			get "$1" "/devices/gw$i" | python3 -c "import json, sys
d = json.load(sys.stdin)
sys.exit(not ($2))" || continue 2
		done
		return 0
	done
	return 1
}
test_reports_and_settings() {
	local since bad= i errs=
	since=$(date -u +%Y-%m-%dT%H:%M:%S)
	settled 2 "d['state'] == 'online' and d['report_error'] is None and (d['reported_at'] or '') >= '$since'" ||
		bad+=" not all reporting: $(for i in 1 2 3 4 5 6; do get 2 /devices/gw$i | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["name"], d["state"], d["reported_at"], d["report_error"])'; done | tr '\n' ';')"
	# then three rounds of asks (every 2 s) without one failing
	for _ in $(seq 20); do
		errs+=$(sql "SELECT name || ': ' || report_error || '; ' FROM devices WHERE report_error IS NOT NULL")
		sleep 0.3
	done
	[ -z "$errs" ] || bad+=" asks failed: $(head -c 300 <<< "$errs");"
	api 3 settings set coalesce_ms=30 > /dev/null || bad+=" coalesce_ms=30 refused;"
	settled 1 "d['settings']['applied'] and d['settings']['reported']['coalesce_ms'] == 30" ||
		bad+=" not all applied: $(api 1 devices settings gw4 | tr '\n' ' ');"
	for i in 1 2 3 4 5 6; do
		grep -q 'settings from the server: .*coalesce_ms 30' "$tmp/gw$i.log" || bad+=" gw$i not told;"
	done
	api 3 settings set coalesce_ms= > /dev/null
	[ -z "$bad" ] &&
		ok "every device's status asked and its settings applied by the server that holds it, seen from any" ||
		ko "reports and settings" "$bad"
}

flood() { # COUNT: datagrams to 192.168.90.99:7777, ten a second, from T
	# shellcheck disable=SC2016
	ip netns exec "$T" bash -c 'for ((i = 1; i <= $1; i++)); do printf "lab %d" $i > /dev/udp/192.168.90.99/7777; sleep 0.1; done' flood "$1"
}
# merged N OUT [DEVICES]: a capture on all six through server sN while T
# floods 30 datagrams; its status in $tmp/merged.show
merged() {
	local st id
	(sleep 1.5; flood 30) &
	local f=$!
	api "$1" remote -d "${3:-gw1,gw2,gw3,gw4,gw5,gw6}" --duration 6 -w "$2" 'udp port 7777' 2> "$tmp/merged.err"
	st=$?
	wait $f
	id=$(sed -n 's/^capture \([0-9]*\) on.*/\1/p' "$tmp/merged.err")
	merged_id=$id
	api "$1" captures show "$id" > "$tmp/merged.show" 2>&1
	return $st
}
# parts N ID: capture ID through sN had one stream from each other server
# (two devices each, merged there), and each device's row its packets and
# the duplicates found of them, 150 in all
parts() {
	local n k lines
	lines=$(grep -c "capture $2: 2 device(s) merged by the server at" "$tmp/s$1.log")
	[ "$lines" = 2 ] || { echo "s$1 asked $lines parts"; return 1; }
	for k in 1 2 3; do
		[ "$k" = "$1" ] && continue
		grep -q "capture $2: a part of 2 device(s) here" "$tmp/s$k.log" || { echo "no part on s$k"; return 1; }
	done
	n=$(sql "SELECT count(*) || ' ' || sum(duplicates) FROM capture_devices WHERE capture_id = $2 AND packets = 30 AND state = 'done'")
	[ "$n" = "6 150" ] || { echo "devices' rows: $n"; return 1; }
}
# ordered FILE: 30 datagrams "lab 1".."lab 30" in order, timestamps rising
ordered() {
	[ "$(tshark -r "$1" -T fields -e data.text -o data.show_as_text:TRUE 2> /dev/null | tr '\n' ' ')" = \
		"$(for i in $(seq 30); do printf 'lab %d ' "$i"; done)" ] &&
		tshark -r "$1" -T fields -e frame.time_epoch 2> /dev/null | sort -c -n
}
dups() { sed -n 's/.* \([0-9]*\) duplicates removed.*/\1/p' "$tmp/merged.show"; }

test_merged_spread() {
	local bad= n
	for n in 1 3; do
		merged $n "$tmp/spread$n.pcapng" || bad+=" s$n: $(cat "$tmp/merged.err");"
		parts $n "$merged_id" > "$tmp/parts" || bad+=" s$n: $(cat "$tmp/parts");"
		ordered "$tmp/spread$n.pcapng" && [ "$(dups)" = 150 ] ||
			bad+=" s$n: $(tshark -r "$tmp/spread$n.pcapng" 2> /dev/null | wc -l) packets, $(dups) duplicates;"
	done
	[ -z "$bad" ] && ok "a capture on six devices held by three servers, through s1 and through s3: one stream from each other server, 30 datagrams once each, in order, 150 copies removed" ||
		ko "merged, spread" "$bad $(cat "$tmp/merged.show")"
}

# The same capture with every device on one server: s2 and s3 stop
# cleanly, their devices (UDP and HTTP) move to the next on their lists.
test_merged_one() {
	local bad= i
	kill -TERM "$s2_pid" "$s3_pid"
	wait_gone "$s2_pid" 10; wait_gone "$s3_pid" 10
	for _ in $(seq 300); do
		[ "$(sql "SELECT count(*) FROM device_owner WHERE instance = '$(id_of 1)'")" = 6 ] && break
		sleep 0.1
	done
	[ "$(sql "SELECT count(*) FROM device_owner WHERE instance = '$(id_of 1)'")" = 6 ] ||
		{ ko "merged, one" "not all on s1: $(sql "SELECT device_id, instance FROM device_owner")"; return; }
	merged 1 "$tmp/one.pcapng" || bad+=" $(cat "$tmp/merged.err");"
	ordered "$tmp/one.pcapng" && [ "$(dups)" = 150 ] ||
		bad+=" $(tshark -r "$tmp/one.pcapng" 2> /dev/null | wc -l) packets, $(dups) duplicates;"
	[ -z "$bad" ] && ok "the others stopped, all six moved to s1 (three by HTTP): the same capture, the same 30 in order and 150 removed" ||
		ko "merged, one" "$bad $(cat "$tmp/merged.show")"
}

# kill -9 of the server that holds them all, during a capture another
# runs: all six fail with the reason, re-home to the next on their lists
# within 30 s, and the next capture has them all.
test_kill() {
	local st t0 t1 bad=
	start 2 && start 3 || { ko kill "servers again: $(tail -2 "$tmp"/s?.log)"; return; }
	(sleep 2; kill -9 "$s1_pid") &
	api 2 remote -d gw1,gw2,gw3,gw4,gw5,gw6 --duration 5 -w "$tmp/killed.pcapng" 'udp port 7777' 2> "$tmp/killed.err"
	st=$?
	t0=$(date +%s)
	[ $st = 1 ] && [ "$(grep -c '^device gw[1-6] failed: ' "$tmp/killed.err")" = 6 ] ||
		bad+=" st=$st: $(cat "$tmp/killed.err");"
	for _ in $(seq 300); do
		[ "$(sql "SELECT count(*) FROM device_owner WHERE instance IN ('$(id_of 2)', '$(id_of 3)')")" = 6 ] && break
		sleep 0.1
	done
	t1=$(date +%s)
	[ "$(sql "SELECT count(*) FROM device_owner WHERE instance IN ('$(id_of 2)', '$(id_of 3)')")" = 6 ] ||
		{ ko kill "$bad not re-homed: $(sql "SELECT device_id, instance FROM device_owner")"; return; }
	merged 3 "$tmp/after.pcapng" || bad+=" after: $(cat "$tmp/merged.err");"
	ordered "$tmp/after.pcapng" && [ "$(dups)" = 150 ] ||
		bad+=" after: $(tshark -r "$tmp/after.pcapng" 2> /dev/null | wc -l) packets, $(dups) duplicates;"
	[ -z "$bad" ] && ok "kill -9 of the server holding all six mid-capture: six failed with the reason, re-homed to s2 and s3 in $((t1 - t0)) s, the next capture has them all (30, 150 removed)" ||
		ko kill "$bad"
}

# A capture spread over three servers, stopped by its user on another
# server than the one running it: each holder stops its part's devices
# when the runner shuts its side, and ends the part with their statistics:
# all six done (none failed), each with its 30 datagrams, in the file.
test_stop_spread() {
	local id st rows
	(sleep 1.5; flood 30) &
	local f=$!
	api 1 remote -d gw1,gw2,gw3,gw4,gw5,gw6 --duration 60 -w "$tmp/stopped.pcapng" 'udp port 7777' 2> "$tmp/stopped.err" &
	local rp=$!
	wait $f
	sleep 1
	id=$(sed -n 's/^capture \([0-9]*\) on.*/\1/p' "$tmp/stopped.err")
	api 2 captures stop "$id" > /dev/null 2>&1
	wait $rp; st=$?
	rows=$(sql "SELECT count(*) FROM capture_devices WHERE capture_id = ${id:-0} AND state = 'done' AND packets = 30")
	[ -n "$id" ] && [ "$rows" = 6 ] && [ "$(sql "SELECT ended_by FROM captures WHERE id = $id")" = stopped ] &&
		ordered "$tmp/stopped.pcapng" &&
		ok "a capture spread over three servers, stopped through another: each part ended with its devices' statistics, six done, 30 datagrams in order" ||
		ko "stopped, spread" "st=$st rows=$rows $(sql "SELECT state || ' ' || coalesce(error, '') FROM capture_devices WHERE capture_id = ${id:-0}") $(cat "$tmp/stopped.err")"
}

run_tests : test_spread test_reports_and_settings test_merged_spread test_stop_spread test_merged_one test_kill
