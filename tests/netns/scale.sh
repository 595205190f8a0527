#!/usr/bin/env bash
# scale.sh SERVER AGENT EDGECAP - two edgecap-server instances sharing one
# PostgreSQL registry (EDGECAP_TEST_DB: run under tests/unit/with-postgres.sh)
# and one data directory, and gateways that know both: instances and their
# heartbeats, the device's tunnel held by one instance, kill -9 of that
# instance, the device re-homed to the other within the bound, the dead
# instance reaped, a capture through the one that holds the device now and
# through the other (its part merged where it is held), and kill -9 of a
# server mid-capture.
#
#   A (s1: 10.98.3.1 on sa) ─── G (gw1: 10.98.3.2 on ga, 10.98.4.2 on gab) ─── B (s2: 10.98.4.1 on sab)
#   A (10.98.5.1 on s2a) ─── G2 (gw2: 10.98.5.2 on ha, 10.98.6.2 on hab) ─── B (10.98.6.1 on s2ab)
#   A and B reach each other on va, vb (10.98.0.1, 10.98.0.2): the servers' own network
set -uo pipefail
server=$1
agent=$2
ec=$3
suite=scl
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
[ -n "${EDGECAP_TEST_DB:-}" ] || { echo "SKIP: needs EDGECAP_TEST_DB (tests/unit/with-postgres.sh)"; exit 77; }
db=$EDGECAP_TEST_DB
G=$ns-g G2=$ns-g2
extra_ns="$G $G2"
# link NS IA IG NA NB: NS joined to A (IA 10.98.NA.1, IG 10.98.NA.2) and
# to B (IA's and IG's names with b, 10.98.NB.x)
link() {
	ip netns add "$1" &&
		ip link add "$2" netns "$A" type veth peer name "$3" netns "$1" &&
		ip link add "${2}b" netns "$B" type veth peer name "${3}b" netns "$1" &&
		ip -n "$A" addr add "10.98.$4.1/24" dev "$2" && ip -n "$1" addr add "10.98.$4.2/24" dev "$3" &&
		ip -n "$B" addr add "10.98.$5.1/24" dev "${2}b" && ip -n "$1" addr add "10.98.$5.2/24" dev "${3}b" &&
		ip -n "$A" link set "$2" up && ip -n "$B" link set "${2}b" up &&
		ip -n "$1" link set "$3" up && ip -n "$1" link set "${3}b" up && ip -n "$1" link set lo up
}
link "$G" sa ga 3 4 && link "$G2" s2a ha 5 6 || { echo "FAIL topology"; exit 1; }

mkdir -m 700 "$tmp/data"
"$server" --db "$db" org add acme > /dev/null &&
	token=$("$server" --db "$db" admin add acme alice) || { echo "FAIL bootstrap"; exit 1; }

start() { # NAME NS ADDR: an instance, the others reach it at ADDR:8080, once it serves
	local log=$tmp/$1.log
	: > "$log"
	ip netns exec "$2" "$server" --db "$db" --data "$tmp/data" --plain-http --listen 0.0.0.0:8080 \
		--instance-address "http://$3:8080" --tunnel-udp 0.0.0.0:4789 2>> "$log" &
	eval "${1}_pid=$!"
	wait_log "$log" serving 10
}
id_of() { sed -n 's/.* as instance \([0-9a-f]*\),.*/\1/p' "$tmp/$1.log" | tail -1; }
sql() { psql -qAtX -v ON_ERROR_STOP=1 "$db" -c "$1"; }
owner() { sql "SELECT coalesce(o.instance, '') || ' ' || o.epoch FROM device_owner o JOIN devices d ON d.id = o.device_id WHERE d.name = '$1'"; }
api() { # NS ADDR ARGS...: the CLI against the instance at ADDR
	local n=$1 a=$2; shift 2
	ip netns exec "$n" env EDGECAP_SERVER="http://$a:8080" EDGECAP_TOKEN="$token" "$ec" "$@"
}

# s1 first: it makes the device CA both use (the data directory is shared)
start s1 "$A" 10.98.0.1 && start s2 "$B" 10.98.0.2 || { echo "FAIL servers: $(cat "$tmp"/s?.log)"; exit 1; }

# gw1 knows both, s1 first; probes every 2 s, and gives UDP 1 s
printf 'tunnel = http://10.98.3.1:8080, http://10.98.4.1:8080\nserial = SN-gw1\nkey_file = %s\nstate_file = %s\nhello_interval = 2\nudp_wait = 1\n' \
	"$tmp/gw1.key" "$tmp/gw1.state" > "$tmp/gw1.conf"
: > "$tmp/gw1.log"
ip netns exec "$G" "$agent" -c "$tmp/gw1.conf" -i ga --listen 0.0.0.0:8081 --plain-http 2>> "$tmp/gw1.log" &
gw1_pid=$!
wait_log "$tmp/gw1.log" "waiting to be claimed" 10 || { echo "FAIL gw1: $(cat "$tmp/gw1.log")"; exit 1; }
code=$("$agent" identity -c "$tmp/gw1.conf" | awk '/^claim code/ { print $3 }')
# claimed through s2: any instance serves the whole registry
api "$B" 10.98.4.1 devices claim SN-gw1 "$code" --name gw1 > /dev/null || { echo "FAIL claim"; exit 1; }

test_instances() {
	local s1 s2 rows
	s1=$(id_of s1) s2=$(id_of s2)
	rows=$(sql "SELECT id || ' ' || address FROM instances ORDER BY address")
	[ -n "$s1" ] && [ -n "$s2" ] && [ "$s1" != "$s2" ] &&
		[ "$rows" = "$s1 http://10.98.0.1:8080"$'\n'"$s2 http://10.98.0.2:8080" ] &&
		ok "instances: each has its id and address in the registry" ||
		ko "instances" "$s1 $s2: $rows"
}

test_held_by_first() {
	local a
	wait_log "$tmp/gw1.log" "registered as" 10 || { ko "held" "$(tail -3 "$tmp/gw1.log")"; return; }
	a=$(grep -o 'registered as [0-9.]*' "$tmp/gw1.log" | tail -1 | cut -d' ' -f3)
	[ "$(owner gw1)" = "$(id_of s1) 1" ] && grep -q "tunnel: gw1 (SN-gw1) registered" "$tmp/s1.log" &&
		ip netns exec "$A" ping -c 1 -W 2 "$a" > /dev/null &&
		ok "the device's tunnel: held by the first server on its list (epoch 1), pinged through it" ||
		ko "held" "owner $(owner gw1); $(tail -3 "$tmp/s1.log")"
}

test_rehome() {
	local t0 t1 n
	n=$(grep -c "registered as" "$tmp/gw1.log")
	t0=$(date +%s.%N)
	kill -9 "$s1_pid"
	for _ in $(seq 600); do
		[ "$(grep -c "registered as" "$tmp/gw1.log")" -gt "$n" ] && break
		sleep 0.05
	done
	t1=$(date +%s.%N)
	[ "$(grep -c "registered as" "$tmp/gw1.log")" -gt "$n" ] &&
		[ "$(owner gw1)" = "$(id_of s2) 2" ] &&
		grep -q "tunnel: gw1 comes from server $(id_of s1)" "$tmp/s2.log" &&
		ok "kill -9 of its server: the device re-homed to the other in $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s (epoch 2)" ||
		ko "re-home" "owner $(owner gw1); $(tail -5 "$tmp/gw1.log")"
}

test_capture_after() {
	local out=$tmp/after.pcapng st n
	(sleep 1.5; ip netns exec "$A" ping -c 4 -i 0.2 10.98.3.2 > /dev/null) &
	local pinger=$!
	api "$B" 10.98.4.1 remote -d gw1 --duration 4 -w "$out" icmp 2> "$tmp/remote.err"; st=$?
	wait $pinger
	n=$(tshark -r "$out" 2> /dev/null | wc -l)
	[ $st = 0 ] && [ "$n" = 8 ] &&
		ok "a capture through the server that holds it now: 8 of 8 packets" ||
		ko "capture after" "st=$st $n packets; $(cat "$tmp/remote.err")"
}

test_reaped() {
	for _ in $(seq 30); do
		[ "$(sql "SELECT id FROM instances")" = "$(id_of s2)" ] && break
		sleep 1
	done
	[ "$(sql "SELECT id FROM instances")" = "$(id_of s2)" ] &&
		ok "the dead server reaped by the live one within 30 s, its row gone" ||
		ko "reaped" "$(sql "SELECT id FROM instances"); $(tail -3 "$tmp/s2.log")"
}

test_clean_stop() {
	local n
	start s1 "$A" 10.98.0.1 || { ko "s1 again" "$(cat "$tmp/s1.log")"; return; }
	n=$(grep -c "registered as" "$tmp/gw1.log")
	kill -TERM "$s2_pid"; wait_gone "$s2_pid" 10
	# its row goes at once, and the device's tunnel with it
	[ "$(sql "SELECT count(*) FROM instances WHERE id = '$(id_of s2)'")" = 0 ] &&
		[ "$(owner gw1)" = " 3" ] || { ko "clean stop" "owner $(owner gw1)"; return; }
	for _ in $(seq 600); do
		[ "$(grep -c "registered as" "$tmp/gw1.log")" -gt "$n" ] && break
		sleep 0.05
	done
	[ "$(owner gw1)" = "$(id_of s1) 4" ] &&
		ok "a clean stop: its row and hold released at once; the device back on the first server (epoch 4)" ||
		ko "clean stop" "owner $(owner gw1); $(tail -3 "$tmp/gw1.log")"
}

# A capture on a server that does not hold the device: it reaches the
# device through the server that does (its part, signed between them); the
# same packets as a capture on that server. A request not signed by a
# server of the registry is refused there.
test_hop() {
	local out=$tmp/hop.pcapng direct=$tmp/direct.pcapng st st2 n n2 forged
	start s2 "$B" 10.98.0.2 || { ko "s2 again" "$(cat "$tmp/s2.log")"; return; }
	[ "$(owner gw1)" = "$(id_of s1) 4" ] || { ko "hop" "owner $(owner gw1)"; return; }
	(sleep 1.5; ip netns exec "$A" ping -c 4 -i 0.2 10.98.3.2 > /dev/null) &
	local pinger=$!
	api "$B" 10.98.4.1 remote -d gw1 --duration 4 -w "$out" icmp 2> "$tmp/remote.err"; st=$?
	wait $pinger
	(sleep 1.5; ip netns exec "$A" ping -c 4 -i 0.2 10.98.3.2 > /dev/null) &
	pinger=$!
	api "$A" 10.98.3.1 remote -d gw1 --duration 4 -w "$direct" icmp 2> "$tmp/direct.err"; st2=$?
	wait $pinger
	n=$(tshark -r "$out" 2> /dev/null | wc -l) n2=$(tshark -r "$direct" 2> /dev/null | wc -l)
	[ $st = 0 ] && [ "$n" = 8 ] && [ $st2 = 0 ] && [ "$n2" = 8 ] &&
		[ "$(capinfos -T -m "$out" | tail -1 | cut -d, -f2-5)" = "$(capinfos -T -m "$direct" | tail -1 | cut -d, -f2-5)" ] &&
		ok "a capture on the other server: through the one that holds the device, 8 of 8, as on that one" ||
		ko "hop" "st=$st/$st2 $n/$n2 packets; $(cat "$tmp/remote.err" "$tmp/direct.err")"
	grep -q "device(s) merged by the server at http://10.98.0.1:8080" "$tmp/s2.log" &&
		grep -q "a part of 1 device(s) here" "$tmp/s1.log" &&
		ok "the device's part merged by the server holding it, one stream to the other" ||
		ko "part" "$(grep -h "part\|merged by" "$tmp/s1.log" "$tmp/s2.log")"
	forged=$(ip netns exec "$G" curl -s -o "$tmp/forged" -w '%{http_code}' -d '{}' \
		-H "Edgecap-Instance: Edgecap-HMAC ts=$(date +%s),nonce=$(openssl rand -hex 16),sig=$(openssl rand -hex 32)" \
		"http://10.98.3.1:8080/internal/v1/captures/1/part?sha256=x")
	[ "$forged" = 403 ] && grep -q "bad signature" "$tmp/forged" && ok "a part not signed by a server of the registry: 403 ($(cat "$tmp/forged" | tr -d '\n '))" ||
		ko "forged part" "$forged $(cat "$tmp/forged")"
	test_part_refused
}

# signed ADDR ID BODY SIGNED: POST a part of capture ID (BODY, a file) to
# the server at ADDR, signed with the servers' key over the digest of
# SIGNED's
signed() {
	local key ts nonce sig target
	key=$(sql "SELECT encode(secret, 'hex') FROM cluster WHERE id = 1")
	target="/internal/v1/captures/$2/part?sha256=$(sha256sum < "$4" | cut -d' ' -f1)"
	ts=$(date +%s) nonce=$(openssl rand -hex 16)
	sig=$(printf 'POST\n%s\n%s\n%s' "$target" "$ts" "$nonce" |
		openssl dgst -sha256 -mac HMAC -macopt "hexkey:$key" -r | cut -d' ' -f1)
	ip netns exec "$G" curl -s -o "$tmp/signed" -w '%{http_code}' --data-binary "@$3" \
		-H "Edgecap-Instance: Edgecap-HMAC ts=$ts,nonce=$nonce,sig=$sig" "http://$1:8080$target"
}

# A part's request signed by a server, but for another body, a capture of
# another organization or none, or a device another server holds: refused,
# each with its reason.
test_part_refused() {
	local acme other dev id rp body=$tmp/part.json b2=$tmp/part2.json b3=$tmp/part3.json st bad=
	"$server" --db "$db" org add other > /dev/null
	acme=$(sql "SELECT id FROM orgs WHERE name = 'acme'") other=$(sql "SELECT id FROM orgs WHERE name = 'other'")
	dev=$(sql "SELECT id FROM devices WHERE name = 'gw1'")
	api "$A" 10.98.3.1 remote -d gw1 --duration 6 -w /dev/null icmp 2> "$tmp/refused.err" &
	rp=$!
	for _ in $(seq 50); do grep -q "^capture [0-9]* on" "$tmp/refused.err" && break; sleep 0.1; done
	id=$(sed -n 's/^capture \([0-9]*\) on.*/\1/p' "$tmp/refused.err")
	part() { printf '{"org":%s,"devices":[{"id":%s,"ifaces":""}],"progs":[{"linktype":"EN10MB","bpf":"1,6%%200%%200%%200"}],"dir":"inout","snaplen":%s}' "$@"; }
	part "$acme" "$dev" 100 > "$body"
	part "$acme" "$dev" 200 > "$b2"
	part "$other" "$dev" 100 > "$b3"
	st=$(signed 10.98.3.1 "$id" "$b2" "$body")
	[ "$st" = 403 ] && grep -q "not the one signed" "$tmp/signed" || bad+=" another body: $st $(cat "$tmp/signed");"
	st=$(signed 10.98.3.1 "$id" "$b3" "$b3")
	[ "$st" = 404 ] && grep -q "no such capture running in the organization" "$tmp/signed" || bad+=" another organization: $st $(cat "$tmp/signed");"
	st=$(signed 10.98.3.1 999999 "$body" "$body")
	[ "$st" = 404 ] || bad+=" no such capture: $st $(cat "$tmp/signed");"
	sed 's/"snaplen":100/"snaplen":100,"duration":999999/' "$body" > "$b2"
	st=$(signed 10.98.3.1 "$id" "$b2" "$b2")
	[ "$st" = 400 ] && grep -q "duration: want 0 to 86400 s" "$tmp/signed" || bad+=" bad duration: $st $(cat "$tmp/signed");"
	st=$(signed 10.98.4.1 "$id" "$body" "$body")
	[ "$st" = 409 ] && grep -q "held by this server" "$tmp/signed" || bad+=" not its holder: $st $(cat "$tmp/signed");"
	wait $rp
	[ -n "$id" ] && [ -z "$bad" ] &&
		ok "a signed part for another body: 403; for another organization's capture, or none: 404; past the longest duration: 400; to a server not holding its device: 409" ||
		ko "part refused" "id=$id$bad"
}

# kill -9 of a server during a capture on another: the devices it held
# are reported failed with the reason, the capture goes on with the rest;
# they re-home, and the next capture has them all. gw2 knows s2 first.
test_kill_during_capture() {
	local out=$tmp/fault.pcapng st code n1 n2 id
	printf 'tunnel = http://10.98.6.1:8080, http://10.98.5.1:8080\nserial = SN-gw2\nkey_file = %s\nstate_file = %s\nhello_interval = 2\nudp_wait = 1\n' \
		"$tmp/gw2.key" "$tmp/gw2.state" > "$tmp/gw2.conf"
	: > "$tmp/gw2.log"
	ip netns exec "$G2" "$agent" -c "$tmp/gw2.conf" -i ha --listen 0.0.0.0:8081 --plain-http 2>> "$tmp/gw2.log" &
	wait_log "$tmp/gw2.log" "waiting to be claimed" 10 || { ko "gw2" "$(cat "$tmp/gw2.log")"; return; }
	code=$("$agent" identity -c "$tmp/gw2.conf" | awk '/^claim code/ { print $3 }')
	api "$A" 10.98.0.1 devices claim SN-gw2 "$code" --name gw2 > /dev/null &&
		wait_log "$tmp/gw2.log" "registered as" 10 && [ "$(owner gw2)" = "$(id_of s2) 1" ] ||
		{ ko "gw2 on s2" "owner $(owner gw2); $(tail -3 "$tmp/gw2.log")"; return; }
	# on s1: gw1 its own, gw2 through s2, which dies 3 s in
	(sleep 1.5; for i in $(seq 12); do
		ip netns exec "$A" ping -c 1 -W 1 10.98.3.2 > /dev/null
		ip netns exec "$A" ping -c 1 -W 1 10.98.5.2 > /dev/null
		[ "$i" = 4 ] && kill -9 "$s2_pid"
		sleep 0.4
	done) &
	local pinger=$!
	api "$A" 10.98.0.1 remote -d gw1,gw2 --duration 8 -w "$out" icmp 2> "$tmp/remote.err"; st=$?
	wait $pinger
	id=$(sed -n 's/^capture \([0-9]*\) on.*/\1/p' "$tmp/remote.err")
	api "$A" 10.98.0.1 captures show "$id" > "$tmp/fault.show" 2>&1
	n1=$(tshark -r "$out" -Y "ip.addr == 10.98.3.2" 2> /dev/null | wc -l)
	n2=$(tshark -r "$out" -Y "ip.addr == 10.98.5.2" 2> /dev/null | wc -l)
	[ $st = 1 ] && grep -q "^device gw2 failed: " "$tmp/remote.err" && [ "$n1" = 24 ] &&
		[ "$n2" -ge 2 ] && [ "$n2" -lt 24 ] &&
		ok "kill -9 of the server holding gw2 mid-capture: gw2 failed ($(sed -n 's/^device gw2 failed: //p' "$tmp/remote.err")), gw1 24 of 24" ||
		ko "fault" "st=$st gw1 $n1 gw2 $n2; $(cat "$tmp/remote.err")"
	# gw2 re-homes to s1, and the next capture has both
	for _ in $(seq 200); do [ "$(owner gw2)" = "$(id_of s1) 2" ] && break; sleep 0.1; done
	(sleep 1.5; ip netns exec "$A" ping -c 4 -i 0.2 10.98.3.2 > /dev/null; ip netns exec "$A" ping -c 4 -i 0.2 10.98.5.2 > /dev/null) &
	pinger=$!
	api "$A" 10.98.0.1 remote -d gw1,gw2 --duration 5 -w "$out" icmp 2> "$tmp/remote.err"; st=$?
	wait $pinger
	[ $st = 0 ] && [ "$(owner gw2)" = "$(id_of s1) 2" ] && [ "$(tshark -r "$out" 2> /dev/null | wc -l)" = 16 ] &&
		ok "gw2 re-homed to s1; the next capture has both (16 of 16)" ||
		ko "after the fault" "st=$st owner $(owner gw2) $(tshark -r "$out" 2> /dev/null | wc -l); $(cat "$tmp/remote.err")"
}

# A server that starts while another runs a capture leaves its row
# running (each ends only the captures of servers no longer there).
test_start_during_capture() {
	local out=$tmp/during.pcapng st id s3
	: > "$tmp/s3.log"
	(sleep 1; ip netns exec "$A" "$server" --db "$db" --data "$tmp/data" --plain-http \
		--listen 0.0.0.0:8090 --instance-address http://10.98.0.1:8090 2> "$tmp/s3.log") &
	s3=$!
	(sleep 1.5; ip netns exec "$A" ping -c 4 -i 0.2 10.98.3.2 > /dev/null) &
	local pinger=$!
	api "$A" 10.98.0.1 remote -d gw1 --duration 4 -w "$out" icmp 2> "$tmp/remote.err" &
	local rp=$!
	wait_log "$tmp/s3.log" serving 10
	sleep 0.5
	id=$(sed -n 's/^capture \([0-9]*\) on.*/\1/p' "$tmp/remote.err")
	sql "SELECT c.id || ': ' || c.state || ', gw1 ' || d.state || coalesce(' ' || d.error, '')
		FROM captures c JOIN capture_devices d ON d.capture_id = c.id WHERE c.id = $id" > "$tmp/during.mid" 2>&1
	wait $rp; st=$?
	wait $pinger
	api "$A" 10.98.0.1 captures show "$id" > "$tmp/during.show" 2>&1
	grep -q "^$id: running, gw1 streaming$" "$tmp/during.mid" && [ $st = 0 ] &&
		[ "$(tshark -r "$out" 2> /dev/null | wc -l)" = 8 ] &&
		grep -q "ended by duration" "$tmp/during.show" &&
		ok "a server starting during another's capture leaves it running (8 of 8, ended by duration)" ||
		ko "start during capture" "st=$st $(cat "$tmp/during.mid" "$tmp/during.show" "$tmp/s3.log")"
	pkill -TERM -P "$s3" 2> /dev/null; kill -TERM "$s3" 2> /dev/null; wait "$s3" 2> /dev/null
}

# Stopped on another server than the one that runs it: asked through the
# registry (202), it stops within a second or two, ended by "stopped".
test_stop_elsewhere() {
	local st id t0
	start s2 "$B" 10.98.0.2 || { ko "s2 again" "$(cat "$tmp/s2.log")"; return; }
	api "$A" 10.98.0.1 remote -d gw1 --duration 60 -w "$tmp/stop.pcapng" icmp 2> "$tmp/remote.err" &
	local rp=$!
	for _ in $(seq 50); do grep -q "^capture [0-9]* on" "$tmp/remote.err" && break; sleep 0.1; done
	id=$(sed -n 's/^capture \([0-9]*\) on.*/\1/p' "$tmp/remote.err")
	sleep 0.5
	t0=$(date +%s)
	st=$(ip netns exec "$B" curl -s -o "$tmp/body" -w '%{http_code}' -X POST \
		-H "Authorization: Bearer $token" "http://10.98.0.2:8080/api/v1/captures/$id/stop")
	wait $rp
	[ "$st" = 202 ] && [ $(($(date +%s) - t0)) -le 5 ] &&
		[ "$(sql "SELECT state || ' ' || ended_by FROM captures WHERE id = $id")" = "done stopped" ] &&
		grep -q "capture $id: another server signalled a stop" "$tmp/s1.log" &&
		ok "stopped on the other server: 202, signalled to the one running it, ended by 'stopped' within $(($(date +%s) - t0)) s" ||
		ko "stop elsewhere" "$st $(cat "$tmp/body") $(sql "SELECT state || ' ' || coalesce(ended_by, '') FROM captures WHERE id = $id")"
}

# Read live on another server than the one that runs the capture (one
# hop): the pcapng and the text as they come, ending with the capture;
# once done, its file from either (the data directory is shared).
test_read_elsewhere() {
	local id st live=$tmp/live.pcapng after=$tmp/after2.pcapng
	api "$A" 10.98.0.1 remote -d gw1 --duration 5 -w /dev/null icmp 2> "$tmp/remote.err" &
	local rp=$!
	for _ in $(seq 50); do grep -q "^capture [0-9]* on" "$tmp/remote.err" && break; sleep 0.1; done
	id=$(sed -n 's/^capture \([0-9]*\) on.*/\1/p' "$tmp/remote.err")
	ip netns exec "$B" curl -sS -N -H "Authorization: Bearer $token" -o "$live" \
		"http://10.98.0.2:8080/api/v1/captures/$id/pcap" &
	local reader=$!
	ip netns exec "$B" curl -sS -N -H "Authorization: Bearer $token" -o "$tmp/live.txt" \
		"http://10.98.0.2:8080/api/v1/captures/$id/text" &
	local texter=$!
	sleep 1
	ip netns exec "$A" ping -c 4 -i 0.2 10.98.3.2 > /dev/null
	wait $rp; st=$?
	wait $reader; wait $texter
	ip netns exec "$B" curl -sS -H "Authorization: Bearer $token" -o "$after" \
		"http://10.98.0.2:8080/api/v1/captures/$id/pcap"
	[ $st = 0 ] && [ "$(tshark -r "$live" 2> /dev/null | wc -l)" = 8 ] &&
		[ "$(grep -c ICMP "$tmp/live.txt")" = 8 ] && cmp -s "$live" "$after" &&
		cmp -s "$after" "$tmp/data/$id.pcapng" &&
		ok "read live through the other server: pcapng and text (8 of 8), ending with the capture; its file the same from either" ||
		ko "read elsewhere" "st=$st $(tshark -r "$live" 2> /dev/null | wc -l) $(grep -c ICMP "$tmp/live.txt") $(head -c 300 "$tmp/live.txt")"
}

# The device loses its path to the server that holds it (connections
# refused from its address: a partition, the server still running) and
# registers with the other, which signals the take; the first drops its
# session at once, where it would otherwise keep it until the device's
# silence ended it.
test_moved_signalled() {
	local holder n
	holder=$(owner gw1)
	[ "${holder% *}" = "$(id_of s1)" ] || { ko "moved" "gw1 held by $holder, not s1"; return; }
	n=$(grep -c "registered as" "$tmp/gw1.log")
	ip netns exec "$A" nft -f - <<- 'EOF'
	table inet ecpart {
		chain input { type filter hook input priority 0; ip saddr 10.98.3.2 meta l4proto tcp reject with tcp reset; ip saddr 10.98.3.2 reject; }
	}
	EOF
	for _ in $(seq 300); do
		[ "$(grep -c "registered as" "$tmp/gw1.log")" -gt "$n" ] && break
		sleep 0.05
	done
	[ "$(owner gw1)" = "$(id_of s2) $((${holder#* } + 1))" ] &&
		wait_log "$tmp/s1.log" "tunnel: gw1 is held by another server now (signalled), dropped" 5 &&
		ok "cut off from its server, the device moved to the other (epoch $(owner gw1 | cut -d' ' -f2)), which signalled it: the first dropped its session at once" ||
		ko "moved" "owner $(owner gw1); $(tail -3 "$tmp/s1.log")"
	ip netns exec "$A" nft delete table inet ecpart
}

# A server that stalls rather than dies (SIGSTOP: its kernel still takes
# connections, nothing answers) is left within 30 s. stalled NAME SERVER
# NEXT: SERVER (sN) stopped while it holds gw1, which moves to NEXT; "took"
# says in how many seconds.
stalled() {
	local t0 t1 pid
	[ "$(owner gw1 | cut -d' ' -f1)" = "$(id_of "$2")" ] || { echo "gw1 held by $(owner gw1), not $2"; return 1; }
	eval "pid=\$${2}_pid"
	t0=$(date +%s.%N)
	kill -STOP "$pid"
	for _ in $(seq 450); do
		[ "$(owner gw1 | cut -d' ' -f1)" = "$(id_of "$3")" ] && break
		sleep 0.1
	done
	t1=$(date +%s.%N)
	kill -CONT "$pid"
	took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	[ "$(owner gw1 | cut -d' ' -f1)" = "$(id_of "$3")" ] || { echo "owner $(owner gw1) after $took s; $(tail -3 "$tmp/gw1.log")"; return 1; }
}

# gw1's transport, as its last switch said (none: UDP)
mode_of() {
	grep -oE "tunnel: ([a-z]+ -> [a-z]+|by [a-z]+, as found)" "$tmp/gw1.log" | tail -1 |
		awk '{ print $2 == "by" ? substr($3, 1, length($3) - 1) : $4 }'
}

# By UDP: its HELLO unanswered (hello_interval 2 s, udp_wait 1 s here), the
# device switches to HTTP on the same server (UDP alone may be blocked);
# a live server answers the switch's first poll at once, a stalled one
# does not within 5 s: the next server.
test_stalled_udp() {
	local took n
	for _ in $(seq 150); do [ "$(mode_of)" = http ] || break; sleep 0.1; done
	n=$(grep -c "tunnel: udp -> http" "$tmp/gw1.log")
	stalled udp s2 s1 > "$tmp/stalled" && awk -v t="$took" 'BEGIN { exit !(t <= 15) }' &&
		[ "$(grep -c "tunnel: udp -> http" "$tmp/gw1.log")" -gt "$n" ] &&
		ok "its server stalled (SIGSTOP), the device by UDP went to HTTP, heard nothing there, and moved to the other in $took s" ||
		ko "stalled, by UDP" "after ${took:-?} s: $(cat "$tmp/stalled")"
}

# By HTTP (its UDP dropped): the server that answers keeps it; one that
# says nothing past the longest hold (25 s) loses it.
test_stalled_http() {
	local took
	for _ in $(seq 150); do [ "$(mode_of)" = http ] || break; sleep 0.1; done
	ip netns exec "$A" nft -f - <<- 'EOF'
	table inet ecstall {
		chain input { type filter hook input priority 0; ip saddr 10.98.3.2 udp dport 4789 drop; }
	}
	EOF
	for _ in $(seq 100); do [ "$(mode_of)" = http ] && break; sleep 0.1; done
	# the live server answers the switch's poll: past HTTP_PROOF (5 s) the
	# device is still there, by HTTP
	if [ "$(mode_of)" = http ] && sleep 6 && [ "$(owner gw1 | cut -d' ' -f1)" = "$(id_of s1)" ] &&
		stalled http s1 s2 > "$tmp/stalled" && awk -v t="$took" 'BEGIN { exit !(t <= 30) }'; then
		ok "by HTTP (its UDP dropped) it stays with its live server; that server stalled (SIGSTOP), it moved to the other in $took s"
	else
		ko "stalled, by HTTP" "after ${took:-?} s: $(cat "$tmp/stalled")"
	fi
	ip netns exec "$A" nft delete table inet ecstall
}

# With the agent's default intervals (a HELLO every 15 s, udp_wait 5 s),
# its server stalled just after it answered a HELLO, the worst case: the
# next HELLO goes out 15 s later, is unanswered 5 s after, HTTP hears
# nothing for 5 s more: the device is on the other server within 30 s. It
# starts afresh (no state file), by UDP.
test_stalled_defaults() {
	local took
	kill "$gw1_pid" && wait "$gw1_pid"
	grep -v '^hello_interval\|^udp_wait' "$tmp/gw1.conf" > "$tmp/gw1d.conf"
	rm -f "$tmp/gw1.state"
	mv "$tmp/gw1.log" "$tmp/gw1-short.log" && : > "$tmp/gw1.log"
	ip netns exec "$G" "$agent" -c "$tmp/gw1d.conf" -i ga --listen 0.0.0.0:8081 --plain-http 2>> "$tmp/gw1.log" &
	gw1_pid=$!
	wait_log "$tmp/gw1.log" "registered as" 10 && [ "$(owner gw1 | cut -d' ' -f1)" = "$(id_of s1)" ] ||
		{ ko "stalled, default intervals" "not back on s1: owner $(owner gw1); $(tail -3 "$tmp/gw1.log")"; return; }
	# a datagram from the server's tunnel port: the answer to a HELLO
	timeout 20 ip netns exec "$G" tcpdump -c 1 -n --immediate-mode -i ga 'udp src port 4789' > /dev/null 2>&1 ||
		{ ko "stalled, default intervals" "no HELLO answered in 20 s"; return; }
	stalled udp s1 s2 > "$tmp/stalled" && grep -q "tunnel: udp -> http" "$tmp/gw1.log" && awk -v t="$took" 'BEGIN { exit !(t <= 30) }' &&
		ok "with the default intervals, its server stalled just after answering a HELLO: the device moved to the other in $took s" ||
		ko "stalled, default intervals" "after ${took:-?} s: $(cat "$tmp/stalled"); $(tail -3 "$tmp/gw1.log")"
}

run_tests : test_instances test_held_by_first test_rehome test_capture_after test_reaped test_clean_stop test_hop \
	test_kill_during_capture test_start_during_capture test_stop_elsewhere \
	test_read_elsewhere test_moved_signalled test_stalled_udp test_stalled_http test_stalled_defaults
