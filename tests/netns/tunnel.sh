#!/usr/bin/env bash
# tunnel.sh SERVER AGENT EDGECAP - the mTunnel between edgecap-server and
# agents it cannot reach: gw1 behind a NAT namespace whose nftables rules can
# drop all UDP, gw2 behind tinyproxy with no route to the server at all.
# Registration and its refusals, poll authentication and framing, coalescing,
# the hold timeout, keep-alive, the UDP monitor's fallback and recovery
# under a stream of 100,000 datagrams, and remote capture over the tunnel.
#
#   A (cloud: server, 10.98.0.1 on va, 10.98.1.1 on vp)
#   ├── B (NAT, 10.98.0.2; masquerades 192.168.50.0/24) ── G1 (gw1, 192.168.50.2)
#   └── P (tinyproxy, 10.98.1.2; 192.168.60.1:3128) ──── G2 (gw2, 192.168.60.2, no route out)
set -uo pipefail
server=$1
agent=$2
ec=$3
suite=tun
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
G1=$ns-g1 P=$ns-p G2=$ns-g2 AP=$ns-ap
extra_ns="$G1 $P $G2 $AP"
hold_ms=2000
tunnel_max=3
url=http://10.98.0.1:8080
db=${EDGECAP_TEST_DB:-$tmp/registry.db} # or PostgreSQL (tests/unit/with-postgres.sh)

for n in $extra_ns; do ip netns add "$n"; done
ip link add vp netns "$A" type veth peer name pc netns "$P" &&
	ip link add nl netns "$B" type veth peer name g1 netns "$G1" &&
	ip link add pl netns "$P" type veth peer name g2 netns "$G2" &&
	ip -n "$A" addr add 10.98.1.1/24 dev vp && ip -n "$P" addr add 10.98.1.2/24 dev pc &&
	ip -n "$B" addr add 192.168.50.1/24 dev nl && ip -n "$G1" addr add 192.168.50.2/24 dev g1 &&
	ip -n "$P" addr add 192.168.60.1/24 dev pl && ip -n "$G2" addr add 192.168.60.2/24 dev g2 &&
	for l in "$A vp" "$P pc" "$B nl" "$G1 g1" "$P pl" "$G2 g2" "$G1 lo" "$P lo" "$G2 lo"; do
		set -- $l
		ip -n "$1" link set "$2" up || exit 1
	done &&
	ip -n "$G1" route add default via 192.168.50.1 &&
	ip netns exec "$B" sysctl -qw net.ipv4.ip_forward=1 &&
	ip netns exec "$B" nft -f - <<- 'EOF' || { echo "FAIL topology"; exit 1; }
	table ip nat {
		chain post { type nat hook postrouting priority srcnat; oifname "vb" masquerade; }
	}
	EOF

block_udp() { # drop every UDP datagram the NAT would forward, both ways
	ip netns exec "$B" nft -f - <<- 'EOF'
	table inet ecblock {
		chain forward_udp { type filter hook forward priority 0; meta l4proto udp drop; }
	}
	EOF
}
unblock_udp() { ip netns exec "$B" nft delete table inet ecblock; }

cat > "$tmp/tinyproxy.conf" <<- EOF
	Port 3128
	Listen 192.168.60.1
	Timeout 600
	MaxClients 64
	Allow 192.168.60.0/24
	LogFile "$tmp/tinyproxy.log"
	LogLevel Connect
EOF
touch "$tmp/tinyproxy.log" && chmod 666 "$tmp/tinyproxy.log" && chmod 755 "$tmp"
ip netns exec "$P" tinyproxy -d -c "$tmp/tinyproxy.conf" 2> /dev/null &

"$server" --db "$db" org add acme > /dev/null &&
	token=$("$server" --db "$db" admin add acme alice) &&
	"$server" --db "$db" org add globex > /dev/null &&
	gtoken=$("$server" --db "$db" admin add globex gina) &&
	"$server" --db "$db" org add initech > /dev/null &&
	itoken=$("$server" --db "$db" admin add initech ivan) || { echo "FAIL bootstrap"; exit 1; }
ecl() { ina env EDGECAP_SERVER=$url EDGECAP_TOKEN="$token" "$ec" "$@"; }
glx() { ina env EDGECAP_SERVER=$url EDGECAP_TOKEN="$gtoken" "$ec" "$@"; }
itx() { ina env EDGECAP_SERVER=$url EDGECAP_TOKEN="$itoken" "$ec" "$@"; }

server_start() { # [ARGS]: plain HTTP on 8080 unless ARGS say otherwise
	local n
	n=$(grep -c serving "$tmp/server.log")
	ip netns exec "$A" "$server" --db "$db" --data "$tmp" --tunnel-udp 0.0.0.0:4789 --tunnel-hold $hold_ms \
		--tunnel-max $tunnel_max "${@:---plain-http}" 2>> "$tmp/server.log" &
	server_pid=$!
	for _ in $(seq 100); do
		[ "$(grep -c serving "$tmp/server.log")" -gt "$n" ] && return 0
		sleep 0.05
	done
	return 1
}
: > "$tmp/server.log"
server_start --plain-http --listen 0.0.0.0:8080 || { echo "FAIL server: $(cat "$tmp/server.log")"; exit 1; }

# Each device joins by claim: it announces itself with its key, and an owner
# claims it by its serial and claim code; nothing is carried to it. The
# simulated devices (mtun.py) have keys of their own; the agents make theirs
# at first start.
for d in sim sim2 other; do
	"$agent" keygen "$tmp/$d.key" > "$tmp/$d.pub" || { echo "FAIL keygen"; exit 1; }
done
claim() { # NAME SERIAL CODE
	ecl devices claim "$2" "$3" --name "$1" > /dev/null || { echo "FAIL claim $1 ($2 $3)"; exit 1; }
}
for d in sim sim2; do
	ina "$here/mtun.py" announce $url SN-$d "$tmp/$d.key" || { echo "FAIL announce $d"; exit 1; }
	claim $d SN-$d "$("$here/mtun.py" code "$tmp/$d.key")"
done

agent_start() { # NAME NS IF [CONF LINE]
	local log=$tmp/$1.log
	printf 'tunnel = %s\nserial = SN-%s\nkey_file = %s\nstate_file = %s\nhello_interval = 1\nudp_wait = 1\n%s\n' \
		"$(case $1 in gw2) echo http://10.98.1.1:8080 ;; ap1) echo http://192.168.70.1:4790 ;; *) echo $url ;; esac)" \
		"$1" "$tmp/$1.key" \
		"$tmp/$1.state" "${4:-}" > "$tmp/$1.conf"
	: > "$log"
	ip netns exec "$2" "$agent" -c "$tmp/$1.conf" -i "$3" \
		--listen 0.0.0.0:8081 --plain-http 2>> "$log" &
	eval "${1}_pid=$!"
}
count_log() { grep -c "$2" "$1"; }
mgmt() { grep -o 'registered as [0-9.]*' "$tmp/$1.log" | tail -1 | cut -d' ' -f3; }
transport() { ecl devices list | awk -v d="$1" '$1 == d { print $5 }'; }

code() { "$agent" identity -c "$tmp/$1.conf" | awk '/^claim code/ { print $3 }'; }
agent_start gw1 "$G1" g1
agent_start gw2 "$G2" g2 "proxy = http://192.168.60.1:3128"
for d in gw1 gw2; do
	wait_log "$tmp/$d.log" "waiting to be claimed" 10 || { echo "FAIL $d: $(cat "$tmp/$d.log")"; exit 1; }
	claim $d SN-$d "$(code $d)"
done

test_register() {
	local a1 a2
	wait_log "$tmp/gw1.log" "registered as" 5 && wait_log "$tmp/gw2.log" "registered as" 5 ||
		{ ko register "$(tail -n 2 "$tmp/gw1.log" "$tmp/gw2.log")"; return; }
	a1=$(mgmt gw1) a2=$(mgmt gw2)
	# the addresses the registry gave at enrolment, in 6.0.0.0/8
	[[ $a1 == 6.* && $a2 == 6.* && $a1 != "$a2" ]] &&
		ecl devices list | grep -q "^gw1 .* $a1 " || { ko register "addresses $a1 $a2"; return; }
	wait_log "$tmp/gw2.log" "udp -> http" 5 || { ko register "gw2 never gave up on UDP"; return; }
	ina ping -c 1 -W 2 "$a1" > /dev/null && ina ping -c 1 -W 2 "$a2" > /dev/null ||
		{ ko register "no ping to $a1 $a2"; return; }
	[ "$(transport gw1)" = udp ] && [ "$(transport gw2)" = http ] ||
		{ ko register "transports $(transport gw1) $(transport gw2)"; return; }
	# the device's tunnel counters in the API: the ping came through
	ina curl -sS -H "Authorization: Bearer $token" "$url/api/v1/devices/gw2" | python3 -c '
import json, sys
t = json.load(sys.stdin)["tunnel"]
sys.exit(not (t["path"] == "http" and t["received"] >= 1 and t["sent"] >= 1))' ||
		{ ko register "no tunnel counters for gw2"; return; }
	ok register
}

# While an expression keeps libpcap's optimizer busy (ended at the server's
# compile_cpu_ms, 2 s), pings over the tunnel, by UDP (gw1) and by HTTP
# polls (gw2), are all answered, as quickly as ever: the compile runs off
# the server's loop.
test_compile_pings() {
	local e cp out bad= d pids=
	e="port $(seq -s ' or port ' 1 699)"
	ina curl -sS -o /dev/null -w '%{http_code}' --max-time 60 -H "Authorization: Bearer $token" \
		-H 'Content-Type: application/json' --data-binary "{\"expression\":\"$e\"}" \
		"$url/api/v1/filters/compile" > "$tmp/slow.st" &
	cp=$!
	sleep 0.2
	for d in gw1 gw2; do
		ina ping -c 6 -i 0.2 -W 1 "$(mgmt $d)" > "$tmp/ping.$d" 2>&1 &
		pids+=" $!"
	done
	wait_gone "$cp" 30
	# shellcheck disable=SC2086
	wait $pids
	for d in gw1 gw2; do
		out=$(cat "$tmp/ping.$d")
		# every one back, the slowest well under a second (they took the
		# minute of the compile when it ran on the loop)
		grep -q ' 6 received' <<< "$out" &&
			awk -F/ '/^rtt/ { exit !($6 < 500) }' <<< "$out" || bad+=" $d: $(tail -2 <<< "$out" | tr '\n' ' ')"
	done
	[ "$(cat "$tmp/slow.st")" = 422 ] || bad+=" compile:$(cat "$tmp/slow.st")"
	[ -z "$bad" ] && ok "pings over the tunnel (UDP and HTTP) keep their latency while an expression compiles for 2 s" ||
		ko "compile pings" "$bad"
}

# Two serials whose CRC32s share their low 24 bits: the second enrolled gets
# the next address.
test_collision() {
	local a b
	ecl devices add c1 --serial SN-c19995 --address http://10.98.0.77:8081 > /dev/null &&
		ecl devices add c2 --serial SN-c206660 --address http://10.98.0.78:8081 > /dev/null ||
		{ ko collision "enrolment"; return; }
	a=$(ecl devices list | awk '$1 == "c1" { print $4 }') b=$(ecl devices list | awk '$1 == "c2" { print $4 }')
	[ "$a" = 6.36.45.241 ] && [ "$b" = 6.36.45.242 ] && ok collision || ko collision "$a $b"
	ecl devices delete c1 > /dev/null; ecl devices delete c2 > /dev/null
}

# Claims: the agent and an independent implementation make the same code
# of one key; a wrong code, a claimed serial and another organization's
# serial all get the same 404; the device goes to whoever has its code; wrong
# codes are throttled per organization.
test_claim() {
	local out st
	printf 'key_file = %s\nserial = SN-sim\n' "$tmp/sim.key" > "$tmp/sim.conf"
	[ "$(code sim)" = "$("$here/mtun.py" code "$tmp/sim.key")" ] ||
		{ ko claim "codes differ: $(code sim) $("$here/mtun.py" code "$tmp/sim.key")"; return; }
	out=$(ina "$here/mtun.py" announce $url SN-oth "$tmp/other.key") || { ko claim "$out"; return; }
	out=$(ecl devices claim SN-oth 0000-0000-0000-0000 2>&1) && { ko claim "a wrong code claimed: $out"; return; }
	grep -q "no device waits to be claimed with serial 'SN-oth' and that code" <<< "$out" ||
		{ ko claim "wrong code: $out"; return; }
	glx devices claim SN-oth "$("$here/mtun.py" code "$tmp/other.key")" --name oth > /dev/null ||
		{ ko claim "globex could not claim its device"; return; }
	# the serial is globex's now: acme's right code finds nothing, and is told so in the same words
	out=$(ecl devices claim SN-oth "$("$here/mtun.py" code "$tmp/other.key")" 2>&1) &&
		{ ko claim "claimed twice: $out"; return; }
	grep -q "no device waits to be claimed with serial 'SN-oth' and that code" <<< "$out" ||
		{ ko claim "claimed serial: $out"; return; }
	ecl devices list | grep -q "^oth " && { ko claim "acme sees globex's device"; return; }
	out=$(ina "$here/mtun.py" register $url SN-oth "$tmp/other.key") || { ko claim "after the claim: $out"; return; }
	glx devices delete oth > /dev/null
	for _ in $(seq 10); do glx devices claim SN-x 0000-0000-0000-0000 > /dev/null 2>&1; done
	out=$(glx devices claim SN-x 0000-0000-0000-0000 2>&1); st=$?
	[ $st != 0 ] && grep -q "too many wrong claim codes" <<< "$out" || { ko claim "no throttle: $out"; return; }
	out=$(ecl devices claim SN-x 0000-0000-0000-0000 2>&1)
	grep -q "no device waits" <<< "$out" || { ko claim "globex's throttle held acme: $out"; return; }
	ok "claim: one code per key, the same 404 for every miss, across organizations, throttled"
}

test_refusals() {
	local out
	out=$(ina "$here/mtun.py" refusals $url SN-sim "$tmp/sim.key" "$tmp/other.key") &&
		ok refusals || ko refusals "$out"
}

test_disabled() {
	local out
	ecl devices disable sim > /dev/null &&
		out=$(ina "$here/mtun.py" refused $url SN-sim "$tmp/sim.key" "device disabled") &&
		ecl devices enable sim > /dev/null &&
		out=$(ina "$here/mtun.py" register $url SN-sim "$tmp/sim.key") || { ko disabled "$out"; return; }
	# gw1, gw2 and sim registered: the fourth is over --tunnel-max 3
	out=$(ina "$here/mtun.py" refused $url SN-sim2 "$tmp/sim2.key" "over capacity") &&
		ok disabled || ko disabled "$out"
}

test_polls() {
	local out
	out=$(ina "$here/mtun.py" polls $url SN-sim "$tmp/sim.key" $hold_ms) && ok polls || ko polls "$out"
}

test_udp_auth() {
	local out
	out=$(ina "$here/mtun.py" udp $url SN-sim "$tmp/sim.key" 127.0.0.1:4789) && ok udp_auth ||
		ko udp_auth "$out"
}

# Remote capture of gw1 while the NAT drops all UDP: the tunnel goes by HTTP.
test_capture_udp_blocked() {
	local n
	block_udp
	n=$(count_log "$tmp/gw1.log" "udp -> http")
	for _ in $(seq 60); do
		[ "$(count_log "$tmp/gw1.log" "udp -> http")" -gt "$n" ] && break
		sleep 0.05
	done
	for _ in $(seq 30); do # the server hears it by HTTP
		[ "$(transport gw1)" = http ] && break
		sleep 0.1
	done
	[ "$(transport gw1)" = http ] || { ko capture_udp_blocked "still $(transport gw1)"; unblock_udp; return; }
	(sleep 1; ip netns exec "$G1" ping -c 4 -i 0.2 192.168.50.1 > /dev/null) &
	ecl remote -d gw1 --duration 3 -w "$tmp/blocked.pcapng" icmp 2> "$tmp/remote.err"
	unblock_udp
	n=$(tshark -r "$tmp/blocked.pcapng" 2> /dev/null | grep -c 'Echo (ping) request')
	[ "$n" = 4 ] && ok capture_udp_blocked || ko capture_udp_blocked "$n requests; $(cat "$tmp/remote.err")"
	wait_log "$tmp/gw1.log" "http -> udp" 10 || ko capture_udp_blocked "never back to UDP"
}

# Where a lost datagram may have gone: the TUN queues on both ends, the
# receiver's socket, the agent's log, the server's view of gw1's link.
stream_where() {
	echo "gw1's TUN: $(ip -n "$G1" -s -o link show ectun0 | grep -o 'TX:.*' | tr -s ' \\' ' ')"
	echo "the server's TUN: $(ina ip -s -o link show type tun | grep -o 'RX:.*TX' | tr -s ' \\' ' ')"
	echo "the receiver's namespace: $(ina nstat -az UdpRcvbufErrors UdpInErrors | grep -o 'Udp[A-Za-z]* *[0-9]*' | tr -s ' \n' ' ')"
	echo "gw1's log: $(grep 'tunnel:' "$tmp/gw1.log" | tail -n 8)"
	echo "gw1 at the server: $(ina curl -sS -H "Authorization: Bearer $token" "$url/api/v1/devices/gw1" |
		python3 -c 'import json, sys; print(json.load(sys.stdin).get("tunnel"))')"
}

# 100,000 datagrams from behind the NAT to the server's side of the tunnel,
# UDP blocked mid-stream and unblocked: all arrive, in order, once each, and
# the agent went to HTTP and came back.
test_stream() {
	local down up rx tx rate=8000
	# under emulation the HTTP path carries a few thousand a second: more
	# would only fill the device's window and overflow its TUN queue, the
	# kernel's drop before the tunnel (docs/tunnel.md), not the tunnel's
	grep -q vmtest.accel=tcg /proc/cmdline && rate=2000
	down=$(count_log "$tmp/gw1.log" "udp -> http") up=$(count_log "$tmp/gw1.log" "http -> udp")
	ina "$here/mtun.py" receive 6.0.0.1 7000 100000 20 > "$tmp/rx.out" &
	rx=$!
	wait_log "$tmp/rx.out" ready 5
	ip netns exec "$G1" "$here/mtun.py" send 6.0.0.1 7000 100000 $rate &
	tx=$!
	sleep 2; block_udp
	# with data flowing, HTTP within the wait (1 s) and the monitor's tick
	for i in $(seq 40); do
		[ "$(count_log "$tmp/gw1.log" "udp -> http")" -gt "$down" ] && break
		sleep 0.05
	done
	[ "$i" -le 30 ] || ko stream "HTTP only after $((i * 50)) ms, the wait is 1000"
	sleep 2; unblock_udp
	# a failed receiver ends the sender too: its flood would outlast the test
	wait "$rx" || { ko stream "$(cat "$tmp/rx.out"); $(stream_where)"; kill "$tx"; return; }
	[ "$(count_log "$tmp/gw1.log" "udp -> http")" -gt "$down" ] || { ko stream "never went to HTTP"; return; }
	wait_log "$tmp/gw1.log" "http -> udp" 1 && [ "$(count_log "$tmp/gw1.log" "http -> udp")" -gt "$up" ] ||
		{ ko stream "never came back to UDP"; return; }
	ok stream
}

# TCP both ways through the tunnel, 4 MiB each, byte for byte: gw1 by UDP,
# gw2 by HTTP through the proxy. The TUNs hand over TCP segments of up to
# 64 KiB (TSO) that travel in pieces: on gw1's TUN the kernel's packets
# average more than the MTU.
tun_tx() { ip netns exec "$1" cat /sys/class/net/ectun0/statistics/tx_"$2"; } # NS bytes|packets
test_bulk() {
	local d ns port=7100 want got b0 p0 avg
	head -c $((4 << 20)) /dev/urandom > "$tmp/bulk"
	want=$(sha256sum < "$tmp/bulk" | cut -d' ' -f1)
	for d in gw1:$G1:udp gw2:$G2:http; do
		IFS=: read -r d ns mode <<< "$d"
		[ "$(transport $d)" = "$mode" ] || { ko bulk "$d is by $(transport $d), not $mode"; return; }
		b0=$(tun_tx "$ns" bytes) p0=$(tun_tx "$ns" packets)
		ina timeout 60 sh -c "nc -l 6.0.0.1 $port | sha256sum" > "$tmp/up.sum" &
		sleep 0.3
		ip netns exec "$ns" timeout 60 nc -N 6.0.0.1 $port < "$tmp/bulk" ||
			{ ko bulk "$d: upload failed"; return; }
		wait $!
		got=$(cut -d' ' -f1 "$tmp/up.sum")
		[ "$got" = "$want" ] || { ko bulk "$d: upload arrived as $got"; return; }
		avg=$((($(tun_tx "$ns" bytes) - b0) / ($(tun_tx "$ns" packets) - p0)))
		[ "$d" = gw2 ] || [ "$avg" -gt 1400 ] || { ko bulk "$d: $avg bytes a TUN packet, no TSO"; return; }
		port=$((port + 1))
		ina timeout 60 nc -N -l 6.0.0.1 $port < "$tmp/bulk" &
		sleep 0.3
		got=$(ip netns exec "$ns" timeout 60 nc 6.0.0.1 $port < /dev/null | sha256sum | cut -d' ' -f1)
		wait $!
		[ "$got" = "$want" ] || { ko bulk "$d: download arrived as $got"; return; }
		port=$((port + 1))
	done
	ok bulk
}

# TCP through the HTTP path, with the hold a real server has (25 s): gw1,
# its UDP blocked, runs iperf3 to the server's side of the tunnel several
# times; each run ends and its data arrived. A poll that carried DATA used to
# be left parked at times, and the link then waited for its answer (the
# hold) instead of resending what the server had not taken: the stream
# stalled and iperf3 ended with 0 bytes received, in one run of four.
test_tcp_http() {
	local i n out bad= runs=8
	kill "$server_pid"; wait "$server_pid" 2> /dev/null
	n=$(count_log "$tmp/gw1.log" "registered as")
	server_start --plain-http --listen 0.0.0.0:8080 --tunnel-hold 25000 ||
		{ ko tcp_http "the server with a 25 s hold"; return; }
	block_udp
	for _ in $(seq 300); do # it registers again, then goes by HTTP
		[ "$(count_log "$tmp/gw1.log" "registered as")" -gt "$n" ] &&
			[ "$(transport gw1)" = http ] && break
		sleep 0.1
	done
	if [ "$(transport gw1)" = http ]; then
		ina iperf3 -s -B 6.0.0.1 -p 5299 -D -I "$tmp/iperf.pid" --logfile "$tmp/iperf.log"
		sleep 0.3
		for i in $(seq $runs); do
			out=$(ip netns exec "$G1" timeout 120 iperf3 -c 6.0.0.1 -p 5299 -t 2 -J 2> /dev/null)
			# iperf3's own race at a test's end (esnet/iperf#499: its
			# server closes the control connection on IPERF_DONE before
			# the client's FIN, and the client reads a reset): seen in
			# one run of eight in some full runs, never alone. That
			# run is made again, once.
			if [[ $out == *"unable to receive control message: Connection reset by peer"* ]]; then
				echo "(run $i: iperf3's control reset at its end: run again)"
				out=$(ip netns exec "$G1" timeout 120 iperf3 -c 6.0.0.1 -p 5299 -t 2 -J 2> /dev/null)
			fi
			python3 -c '
import json, sys
d = json.loads(sys.argv[1])
sys.exit(bool(d.get("error")) or d["end"]["sum_received"]["bytes"] <= 0)' "$out" 2> /dev/null ||
				bad+=" run $i: $(python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(d.get("error"), d["end"].get("sum_received"))' "$out" 2>&1 | tail -1)"
		done
		kill "$(cat "$tmp/iperf.pid")" 2> /dev/null
	else
		bad=" gw1 is by $(transport gw1), not http"
	fi
	unblock_udp
	kill "$server_pid"; wait "$server_pid" 2> /dev/null
	n=$(count_log "$tmp/gw1.log" "registered as")
	server_start --plain-http --listen 0.0.0.0:8080 || bad+=" the server again"
	for _ in $(seq 300); do # the next tests want gw1 by UDP again
		[ "$(count_log "$tmp/gw1.log" "registered as")" -gt "$n" ] &&
			[ "$(transport gw1)" = udp ] && break
		sleep 0.1
	done
	[ "$(transport gw1)" = udp ] || bad+=" gw1 is by $(transport gw1) after, not udp"
	[ -z "$bad" ] && ok "tcp_http: $runs iperf3 runs through the HTTP path, all with their data" ||
		ko tcp_http "$bad"
}

# gw2 has only the proxy: captures go through it, by HTTP.
test_proxy() {
	local n
	(sleep 1; ip netns exec "$G2" ping -c 3 -i 0.2 192.168.60.1 > /dev/null) &
	ecl remote -d gw2 --duration 3 -w "$tmp/proxy.pcapng" icmp 2> "$tmp/remote.err"
	n=$(tshark -r "$tmp/proxy.pcapng" 2> /dev/null | grep -c 'Echo (ping) request')
	[ "$n" = 3 ] || { ko proxy "$n requests; $(cat "$tmp/remote.err")"; return; }
	grep -q "tunnel/v1/poll" "$tmp/tinyproxy.log" && ok proxy || ko proxy "no polls in the proxy's log"
}

# A device polling quietly has no UDP socket at the server (after two hold
# times); traffic for it opens one again.
test_quiet() {
	local socks
	# gw1 is by UDP, gw2 polls quietly, the simulated devices are gone: their
	# sockets close two holds after their last datagram, checked each second
	# (given twice that: an emulated guest's clock runs slow)
	for _ in $(seq $((2 * (2 * hold_ms / 1000 + 2) * 10))); do
		socks=$(ina ss -Hun state established dst 127.0.0.1:4789 | wc -l)
		[ "$socks" = 0 ] && break
		sleep 0.1
	done
	[ "$socks" = 0 ] || { ko quiet "$socks sockets of quiet devices: $(ina ss -Hunp)"; return; }
	ina ping -c 2 -W 3 "$(mgmt gw2)" > /dev/null || { ko quiet "no ping to gw2 after its socket went"; return; }
	[ "$(ina ss -Hun state established dst 127.0.0.1:4789 | wc -l)" = 1 ] && ok quiet ||
		ko quiet "no socket for gw2's traffic"
}

# A restarted agent takes its fresh persisted state as is.
test_restart() {
	kill "$gw2_pid"; wait "$gw2_pid" 2> /dev/null
	agent_start gw2 "$G2" g2 "proxy = http://192.168.60.1:3128"
	wait_log "$tmp/gw2.log" "by http, as found in" 5 && ! grep -q "udp -> http" "$tmp/gw2.log" &&
		ina ping -c 1 -W 3 "$(mgmt gw2)" > /dev/null && ok restart || ko restart "$(cat "$tmp/gw2.log")"
}

# Settings set centrally: the organization's (hello_interval_ms,
# udp_wait_ms) and gw2's own over them (coalesce_ms, hold_ms) reach both
# agents through their tunnels, are applied, written to the settings file,
# reported back (the API's "applied"), kept across a restart before the
# server is reached, and undone the same way. gw2's polls carry its own
# hold, signed (mtun.py's polls test checks the server keeps it).
settings_applied() { # DEVICE PYTHON-CONDITION on s (the device's "settings"): within 15 s
	for _ in $(seq 75); do
		ina curl -sS -H "Authorization: Bearer $token" "$url/api/v1/devices/$1" | python3 -c "
import json, sys
s = json.load(sys.stdin)['settings']
sys.exit(not (s['applied'] and $2))" && return 0
		sleep 0.2
	done
	return 1
}
test_settings() {
	local out bad= n
	out=$(ecl settings set hello_interval_ms=2000 udp_wait_ms=120000) &&
		grep -q '^hello_interval_ms *2000$' <<< "$out" && grep -q '^udp_wait_ms *120000$' <<< "$out" ||
		bad+=" organization: $out;"
	out=$(ecl devices settings gw2 hold_ms=1000 coalesce_ms=20) &&
		grep -q '^hold_ms *1000 *1000 ' <<< "$out" && grep -q '^udp_wait_ms *- *120000 ' <<< "$out" ||
		bad+=" gw2's own: $out;"
	# refused, naming the field; another organization's device is not found
	out=$(ecl devices settings gw2 hold_ms=60000 2>&1) &&
		bad+=" hold_ms=60000 taken;"
	grep -q 'settings.hold_ms: want an integer from 1000 to 25000, a multiple of 1000, or null' <<< "$out" || bad+=" $out;"
	out=$(ecl settings set probe_ms=1 2>&1) && bad+=" probe_ms taken;"
	grep -q 'settings.probe_ms: no such setting' <<< "$out" || bad+=" $out;"
	out=$(glx devices settings gw2 hold_ms=1000 2>&1) && bad+=" globex changed gw2;"
	grep -q "no device 'gw2'" <<< "$out" || bad+=" globex: $out;"
	settings_applied gw1 "s['reported']['hello_interval_ms'] == 2000 and s['reported']['udp_wait_ms'] == 120000" ||
		bad+=" gw1 not applied: $(ecl devices settings gw1);"
	settings_applied gw2 "s['reported']['hold_ms'] == 1000 and s['reported']['coalesce_ms'] == 20 and s['reported']['hello_interval_ms'] == 2000" ||
		bad+=" gw2 not applied: $(ecl devices settings gw2);"
	grep -q 'settings from the server: hello_interval_ms 2000, udp_wait_ms 120000, coalesce_ms 20, hold_ms 1000' \
		"$tmp/gw2.log" || bad+=" gw2's log: $(grep settings "$tmp/gw2.log");"
	[ "$(sort "$tmp/gw2.key.settings" | tr '\n' ' ')" = "coalesce_ms = 20 hello_interval_ms = 2000 hold_ms = 1000 udp_wait_ms = 120000 " ] ||
		bad+=" gw2's file: $(cat "$tmp/gw2.key.settings");"
	# by HTTP with its own hold: polls signed with it go on
	ina ping -c 2 -W 3 "$(mgmt gw2)" > /dev/null || bad+=" no ping to gw2 with hold_ms 1000;"
	grep -q 'HTTP 403' "$tmp/gw2.log" && bad+=" gw2's polls refused: $(grep 403 "$tmp/gw2.log" | tail -1);"
	# a restart takes them from the file before the server is reached
	kill "$gw2_pid"; wait "$gw2_pid" 2> /dev/null
	agent_start gw2 "$G2" g2 "proxy = http://192.168.60.1:3128"
	wait_log "$tmp/gw2.log" "registered as" 10 &&
		[ "$(grep -n 'hold_ms = 1000, as the server set it' "$tmp/gw2.log" | cut -d: -f1)" -lt \
			"$(grep -n 'registered as' "$tmp/gw2.log" | head -1 | cut -d: -f1)" ] ||
		bad+=" restart: $(cat "$tmp/gw2.log");"
	# undone: each runs by its configuration file again
	ecl devices settings gw2 hold_ms= coalesce_ms= > /dev/null &&
		ecl settings set hello_interval_ms= udp_wait_ms= > /dev/null || bad+=" unset refused;"
	for n in gw1 gw2; do
		settings_applied $n "s['wanted'] == {} and s['reported']['central'] == {} and s['reported']['hello_interval_ms'] == 1000 and s['reported']['udp_wait_ms'] == 1000 and s['reported']['hold_ms'] == 0" ||
			bad+=" $n not back to its file: $(ecl devices settings $n);"
	done
	[ -s "$tmp/gw2.key.settings" ] && bad+=" gw2's file still holds: $(cat "$tmp/gw2.key.settings");"
	# a device that refuses its settings (it cannot write them) is asked
	# for its status as before, and stays online
	kill "$gw2_pid"; wait "$gw2_pid" 2> /dev/null
	agent_start gw2 "$G2" g2 "proxy = http://192.168.60.1:3128
settings_file = $tmp/no/such/dir/settings"
	wait_log "$tmp/gw2.log" "registered as" 10 || bad+=" gw2 again: $(tail -2 "$tmp/gw2.log");"
	local since
	since=$(date -u +%Y-%m-%dT%H:%M:%S)
	ecl settings set coalesce_ms=30 > /dev/null || bad+=" coalesce_ms=30 refused;"
	wait_log "$tmp/gw2.log" "saving the settings to" 10 || bad+=" gw2 was not told;"
	for _ in $(seq 50); do # then its status, at once
		ina curl -sS -H "Authorization: Bearer $token" "$url/api/v1/devices/gw2" > "$tmp/gw2.json"
		python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(not (d["reported_at"] >= sys.argv[2] and d["report_error"] is None and d["state"] == "online"
              and not d["settings"]["applied"]))' "$tmp/gw2.json" "$since" && break
		sleep 0.2
	done
	sleep 3 # and not told again and again
	[ "$(count_log "$tmp/gw2.log" "saving the settings to")" = 1 ] ||
		bad+=" gw2 told $(count_log "$tmp/gw2.log" "saving the settings to") times;"
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(not (d["reported_at"] >= sys.argv[2] and d["report_error"] is None and d["state"] == "online"))' \
		"$tmp/gw2.json" "$since" || bad+=" gw2 refusing, not reported: $(cat "$tmp/gw2.json");"
	ecl settings set coalesce_ms= > /dev/null
	kill "$gw2_pid"; wait "$gw2_pid" 2> /dev/null
	agent_start gw2 "$G2" g2 "proxy = http://192.168.60.1:3128"
	wait_log "$tmp/gw2.log" "registered as" 10 || bad+=" gw2 back: $(tail -2 "$tmp/gw2.log");"
	[ -z "$bad" ] && ok "settings: the organization's and a device's own, applied, kept, reported, undone" ||
		ko settings "$bad"
}

# A device reports a change of its interfaces at once: gw1's MTU changed is
# in its report within seconds, where the server asks each minute.
iface_field() { # DEVICE FIELD: its first interface's, as the server keeps it
	ina curl -sS -H "Authorization: Bearer $token" "$url/api/v1/devices/$1" |
		python3 -c "import json, sys; i = json.load(sys.stdin)['interfaces']; print(i[0]['$2'] if i else '')"
}
test_report_on_change() {
	local bad= m
	for _ in $(seq 75); do [ "$(iface_field gw1 mtu)" = 1500 ] && break; sleep 0.2; done
	[ "$(iface_field gw1 mtu)" = 1500 ] || bad+=" mtu $(iface_field gw1 mtu) at first;"
	for m in 1400 1500; do
		ip -n "$G1" link set g1 mtu $m
		for _ in $(seq 50); do [ "$(iface_field gw1 mtu)" = $m ] && break; sleep 0.2; done
		[ "$(iface_field gw1 mtu)" = $m ] || bad+=" mtu $(iface_field gw1 mtu) 10 s after $m;"
	done
	[ -z "$bad" ] && ok "a device reports a change of its interfaces within seconds (MTU 1400, then 1500)" ||
		ko report_on_change "$bad"
}

# The tunnel to a server on HTTPS: gw3 (in B, the NAT's namespace, which has
# no TUN of its own) checks the server's certificate against the CA, and goes
# by HTTP over TLS (its UDP port is a dead one). The server is the same
# registry on TLS for this test.
test_https() {
	local a
	cert ca && cert srv ca 10.98.0.1 && cert wrong ca 10.98.0.9 || { ko https "certificates"; return; }
	kill "$server_pid"; wait "$server_pid" 2> /dev/null
	server_start --listen 0.0.0.0:8080 --tls-cert "$tls/srv.pem" --tls-key "$tls/srv.key" ||
		{ ko https "the server on TLS: $(tail -3 "$tmp/server.log")"; return; }
	printf 'tunnel = https://10.98.0.1:8080\ntunnel_ca = %s\nserial = SN-gw3\nkey_file = %s\nstate_file = %s\nhello_interval = 1\nudp_wait = 1\ntunnel_udp_port = 9\n' \
		"$tls/ca.pem" "$tmp/gw3.key" "$tmp/gw3.state" > "$tmp/gw3.conf"
	: > "$tmp/gw3.log"
	ip netns exec "$B" "$agent" -c "$tmp/gw3.conf" -i nl \
		--listen 0.0.0.0:8082 --plain-http 2>> "$tmp/gw3.log" &
	gw3_pid=$!
	wait_log "$tmp/gw3.log" "waiting to be claimed" 6 &&
		ecl devices claim SN-gw3 "$(code gw3)" --name gw3 --server https://10.98.0.1:8080 \
			--cacert "$tls/ca.pem" > /dev/null || { ko https "claim over HTTPS: $(cat "$tmp/gw3.log")"; kill "$gw3_pid"; return; }
	wait_log "$tmp/gw3.log" "udp -> http" 12 && a=$(mgmt gw3) && ina ping -c 2 -W 3 "$a" > /dev/null ||
		{ ko https "$(cat "$tmp/gw3.log")"; kill "$gw3_pid"; return; }
	kill "$gw3_pid"; wait "$gw3_pid" 2> /dev/null
	# a server certificate for another address is refused
	kill "$server_pid"; wait "$server_pid" 2> /dev/null
	server_start --listen 0.0.0.0:8080 --tls-cert "$tls/wrong.pem" --tls-key "$tls/wrong.key" ||
		{ ko https "the server on TLS: $(tail -3 "$tmp/server.log")"; return; }
	: > "$tmp/gw3.log"
	ip netns exec "$B" "$agent" -c "$tmp/gw3.conf" -i nl \
		--listen 0.0.0.0:8082 --plain-http 2>> "$tmp/gw3.log" &
	gw3_pid=$!
	wait_log "$tmp/gw3.log" "registration failed: .*IP address mismatch" 6 && ok https ||
		ko https "a misnamed server: $(cat "$tmp/gw3.log")"
	kill "$gw3_pid"; wait "$gw3_pid" 2> /dev/null
	kill "$server_pid"; wait "$server_pid" 2> /dev/null
	server_start --plain-http --listen 0.0.0.0:8080 || ko https "the plain server again"
}

# A device with no certificate of its own serves HTTPS with the one the
# server issues at each registration (from its own device CA, made in its
# data directory, for the device's key and management address): the server
# captures from it over the tunnel, checking that certificate, and a client
# that does not trust the device CA is refused.
test_device_tls() {
	local a n st
	printf 'tunnel = http://10.98.0.1:8080\nserial = SN-gw4\nkey_file = %s\nstate_file = %s\nhello_interval = 1\nudp_wait = 1\n' \
		"$tmp/gw4.key" "$tmp/gw4.state" > "$tmp/gw4.conf"
	: > "$tmp/gw4.log"
	ip netns exec "$B" "$agent" -c "$tmp/gw4.conf" -i nl --listen 0.0.0.0:8443 2>> "$tmp/gw4.log" &
	gw4_pid=$!
	wait_log "$tmp/gw4.log" "waiting to be claimed" 6 && claim gw4 SN-gw4 "$(code gw4)" &&
		wait_log "$tmp/gw4.log" "registered as" 12 && a=$(mgmt gw4) ||
		{ ko device_tls "$(cat "$tmp/gw4.log")"; kill "$gw4_pid"; return; }
	ecl devices list | grep -q "^gw4 .*https://tunnel:8443" || { ko device_tls "$(ecl devices list)"; kill "$gw4_pid"; return; }
	(sleep 1; ip netns exec "$G1" ping -c 4 -i 0.2 192.168.50.1 > /dev/null) &
	ecl remote -d gw4 --duration 3 -w "$tmp/tls.pcapng" icmp 2> "$tmp/remote.err"; st=$?
	n=$(tshark -r "$tmp/tls.pcapng" 2> /dev/null | grep -c 'Echo (ping) request')
	# with the server's device CA the handshake is made (and the unsigned
	# request refused by the agent); without it, the certificate is not trusted
	ina curl -sS -o /dev/null -w '%{http_code}' --cacert "$tmp/device-ca.pem" \
		"https://$a:8443/v1/status" > "$tmp/tls.code" 2> "$tmp/tls.err"
	ina curl -sS -o /dev/null "https://$a:8443/v1/status" 2> "$tmp/tls2.err"
	kill "$gw4_pid"; wait "$gw4_pid" 2> /dev/null
	[ $st = 0 ] && [ "$n" = 4 ] && [ "$(cat "$tmp/tls.code")" = 401 ] &&
		grep -q "certificate" "$tmp/tls2.err" &&
		ok "device HTTPS with the server's certificate: captured over the tunnel (4 of 4), checked against the device CA" ||
		ko device_tls "st=$st $n requests; $(cat "$tmp/remote.err"); curl: $(cat "$tmp/tls.code" "$tmp/tls.err" "$tmp/tls2.err")"
	ecl devices disable gw4 > /dev/null # (its captures keep it; disabled, its session ends)
}

# The grant is signed with the server's key, which a device trusts from its
# first grant on (key_file + ".server"): gw1 keeps it; a device that trusts
# another key (as if this server posed as the one it knew) refuses the grant,
# in words, until the file goes.
test_server_pin() {
	local pinned
	pinned=$(cat "$tmp/gw1.key.server" 2> /dev/null)
	[ -n "$pinned" ] && grep -q "trusting the server's key $pinned" "$tmp/gw1.log" ||
		{ ko server_pin "gw1 trusts nothing: $(grep trusting "$tmp/gw1.log")"; return; }
	printf 'tunnel = http://10.98.0.1:8080\nserial = SN-gw5\nkey_file = %s\nstate_file = %s\nhello_interval = 1\nudp_wait = 1\n' \
		"$tmp/gw5.key" "$tmp/gw5.state" > "$tmp/gw5.conf"
	cat "$tmp/other.pub" > "$tmp/gw5.key.server" # another key than the server's
	: > "$tmp/gw5.log"
	ip netns exec "$B" "$agent" -c "$tmp/gw5.conf" -i nl --listen 0.0.0.0:8085 --plain-http 2>> "$tmp/gw5.log" &
	gw5_pid=$!
	wait_log "$tmp/gw5.log" "waiting to be claimed" 6 && claim gw5 SN-gw5 "$(code gw5)" &&
		wait_log "$tmp/gw5.log" "is not the one this device trusts" 12 &&
		! grep -q "registered as" "$tmp/gw5.log" ||
		{ ko server_pin "another key taken: $(tail -3 "$tmp/gw5.log")"; kill "$gw5_pid"; return; }
	kill "$gw5_pid"; wait "$gw5_pid" 2> /dev/null
	rm "$tmp/gw5.key.server"
	ip netns exec "$B" "$agent" -c "$tmp/gw5.conf" -i nl --listen 0.0.0.0:8085 --plain-http 2>> "$tmp/gw5.log" &
	gw5_pid=$!
	wait_log "$tmp/gw5.log" "registered as" 12 && [ "$(cat "$tmp/gw5.key.server")" = "$pinned" ] &&
		ok "the grant is signed with the server's key, trusted from the first; another key refused" ||
		ko server_pin "$(tail -3 "$tmp/gw5.log")"
	kill "$gw5_pid"; wait "$gw5_pid" 2> /dev/null
}

after() { # nothing a test did may have stopped the server or an agent
	kill -0 "$gw1_pid" "$gw2_pid" 2> /dev/null || ko "$1" "an agent died"
	kill -0 "$server_pid" 2> /dev/null || ko "$1" "the server died: $(tail -3 "$tmp/server.log")"
}

# An access point behind gw1, which is behind a NAT that drops all UDP: gw1
# relays its registration (relay = lan0), the owner claims it by serial and
# code, and its management address is reached through gw1's tunnel (by
# HTTP): the server pings it and captures on it. A device of another
# organization is refused by the relay's server, a relay header gw1 did not
# sign too, and the access point's address is taken from gw1's session only.
test_relay() {
	local bad= ap gwc out n
	ip netns exec "$G1" ip link add lan0 type veth peer name ap0 netns "$AP" &&
		ip -n "$G1" addr add 192.168.70.1/24 dev lan0 && ip -n "$AP" addr add 192.168.70.2/24 dev ap0 &&
		ip -n "$G1" link set lan0 up && ip -n "$AP" link set ap0 up && ip -n "$AP" link set lo up ||
		{ ko relay "topology"; return; }
	# room for the access point beside the devices the tests before left
	kill "$server_pid"; wait "$server_pid" 2> /dev/null
	tunnel_max=16
	server_start --plain-http --listen 0.0.0.0:8080 --metrics-listen 127.0.0.1:9102 ||
		{ ko relay "the server again"; return; }
	block_udp
	kill "$gw1_pid"; wait "$gw1_pid" 2> /dev/null
	agent_start gw1 "$G1" g1 "relay = lan0"
	wait_log "$tmp/gw1.log" "registered as" 10 && wait_log "$tmp/gw1.log" "relay: registrations of lan0" 5 ||
		{ ko relay "gw1: $(cat "$tmp/gw1.log")"; unblock_udp; return; }
	agent_start ap1 "$AP" ap0
	wait_log "$tmp/ap1.log" "waiting to be claimed" 10 || { ko relay "ap1: $(cat "$tmp/ap1.log")"; unblock_udp; return; }
	claim ap1 SN-ap1 "$(code ap1)"
	wait_log "$tmp/ap1.log" "through the gateway at" 15 || bad+=" ap1 not registered: $(tail -3 "$tmp/ap1.log");"
	ap=$(grep -o 'registered as [0-9.]* through' "$tmp/ap1.log" | tail -1 | cut -d' ' -f3)
	[ "$(transport ap1)" = relay ] || bad+=" transport $(transport ap1);"
	ina ping -c 2 -W 3 "$ap" > /dev/null || bad+=" no ping to ap1 at $ap;"
	(sleep 1; ip netns exec "$AP" ping -c 4 -i 0.2 192.168.70.1 > /dev/null) &
	local pinger=$!
	ecl remote -d ap1 --duration 4 -w "$tmp/ap1.pcapng" 'icmp and host 192.168.70.2' 2> "$tmp/ap1.err"
	wait $pinger
	n=$(tshark -r "$tmp/ap1.pcapng" 2> /dev/null | grep -c 'Echo (ping) request')
	[ "$n" = 4 ] || bad+=" captured $n requests on ap1: $(cat "$tmp/ap1.err");"
	# refusals
	"$agent" keygen "$tmp/gx.key" > /dev/null && ina "$here/mtun.py" announce $url SN-gx "$tmp/gx.key" &&
		itx devices claim SN-gx "$("$here/mtun.py" code "$tmp/gx.key")" --name gx > /dev/null ||
		bad+=" initech's gx not claimed;"
	out=$(ip netns exec "$AP" "$here/mtun.py" refused http://192.168.70.1:4790 SN-gx "$tmp/gx.key" \
		"gw1 relays only for other devices of its organization" 2>&1) || bad+=" another organization's device: $out;"
	gwc=$(grep -o 'client [0-9a-f]*' "$tmp/gw1.log" | tail -1 | cut -d' ' -f2)
	out=$(ina "$here/mtun.py" relay-forged $url SN-ap1 "$tmp/ap1.key" "$gwc" "relay: bad signature" 2>&1) ||
		bad+=" forged relay: $out;"
	# each LAN host has its share of the relay: a burst of 8, then 429
	out=$(for i in $(seq 12); do
		ip netns exec "$AP" curl -s -o /dev/null -w '%{http_code} ' -X POST --data x \
			http://192.168.70.1:4790/tunnel/v1/register
	done)
	[[ "$out" == *429* ]] && [ "$(tr ' ' '\n' <<< "$out" | grep -c 429)" -le 5 ] ||
		bad+=" no share per LAN host: $out;"
	# ap1's address from gw2's session: dropped, and counted so
	metric() { ina curl -s http://127.0.0.1:9102/metrics | awk -v k="$1" '$1 == k { print $2 }'; }
	[ "$(metric 'edgecap_server_tunnel_devices{transport="relay"}')" = 1 ] ||
		bad+=" relayed devices: $(metric 'edgecap_server_tunnel_devices{transport="relay"}');"
	n=$(metric 'edgecap_server_tunnel_refused_total{reason="spoofed"}')
	ip -n "$G2" addr add "$ap/32" dev lo &&
		ip netns exec "$G2" ping -c 2 -W 1 -I "$ap" 6.0.0.1 > /dev/null 2>&1 && bad+=" ap1's address taken from gw2;"
	ip -n "$G2" addr del "$ap/32" dev lo
	[ "$(metric 'edgecap_server_tunnel_refused_total{reason="spoofed"}')" -ge $((n + 2)) ] ||
		bad+=" gw2's packets as ap1 not counted as spoofed ($n, then $(metric 'edgecap_server_tunnel_refused_total{reason="spoofed"}'));"
	# the relay answers its LAN's hosts only
	# (from the NAT, on gw1's other side, with a route to the LAN)
	ip -n "$B" route add 192.168.70.0/24 via 192.168.50.2 &&
		out=$(ip netns exec "$B" curl -s -X POST --data x http://192.168.70.1:4790/tunnel/v1/register 2>&1)
	grep -q "network only" <<< "$out" || bad+=" the relay answered gw1's other side: $out;"
	ip -n "$B" route del 192.168.70.0/24
	ip netns exec "$AP" ping -c 1 -W 3 6.0.0.1 > /dev/null || bad+=" ap1 cannot reach the server;"
	# killed, it leaves its route and address; the next start takes them
	# away before anything else, and a clean stop leaves none
	kill -9 "$ap1_pid"; wait "$ap1_pid" 2> /dev/null
	[ -n "$(ip -n "$AP" route show 6.0.0.0/8)" ] || bad+=" no route after kill -9 (the test sees nothing);"
	agent_start ap1 "$AP" ap0
	wait_log "$tmp/ap1.log" "through the gateway at" 15 || bad+=" ap1 again: $(tail -3 "$tmp/ap1.log");"
	[ "$(ip -n "$AP" route show 6.0.0.0/8 | wc -l) $(ip -n "$AP" -4 -o addr show dev lo | grep -c ' 6\.')" = "1 1" ] ||
		bad+=" after a restart: $(ip -n "$AP" route show 6.0.0.0/8; ip -n "$AP" -4 -o addr show dev lo);"
	kill "$ap1_pid"; wait "$ap1_pid" 2> /dev/null
	[ -z "$(ip -n "$AP" route show 6.0.0.0/8)$(ip -n "$AP" -4 -o addr show dev lo | grep ' 6\.')" ] ||
		bad+=" left after a clean stop: $(ip -n "$AP" route show 6.0.0.0/8; ip -n "$AP" -4 -o addr show dev lo);"
	itx devices delete gx > /dev/null
	unblock_udp
	kill "$gw1_pid"; wait "$gw1_pid" 2> /dev/null
	agent_start gw1 "$G1" g1
	wait_log "$tmp/gw1.log" "registered as" 10 || bad+=" gw1 back: $(tail -3 "$tmp/gw1.log");"
	[ -z "$bad" ] && ok "relay: an access point behind a gateway behind a UDP-dropping NAT, claimed, pinged and captured through the gateway's tunnel; refusals" ||
		ko relay "$bad"
}

# With PostgreSQL a registration's statements wait on a coroutine: sim
# registered, its tunnel released, and its row locked for 4 s, its next
# registration waits to take it, and meanwhile the devices are listed;
# then it registers.
test_register_waits() {
	local id rp listed pending=0 st
	[ -n "${EDGECAP_TEST_DB:-}" ] || { echo "SKIP a registration waiting on the registry: PostgreSQL only"; return; }
	ina "$here/mtun.py" register $url SN-sim "$tmp/sim.key" > "$tmp/regw.out" 2>&1 ||
		{ ko "registration waits" "sim: $(cat "$tmp/regw.out")"; return; }
	id=$(psql -qAtX "$db" -c "SELECT id FROM devices WHERE name = 'sim'")
	psql -qAtX "$db" -c "UPDATE device_owner SET instance = NULL, epoch = epoch + 1 WHERE device_id = $id" > /dev/null
	row_locked device_owner "device_id = $id" 4
	ina "$here/mtun.py" register $url SN-sim "$tmp/sim.key" > "$tmp/regw.out" 2>&1 &
	rp=$!
	for _ in $(seq 50); do # its statement waits for the row
		[ "$(pg_waiting 'UPDATE device_owner')" = 1 ] && break
		sleep 0.05
	done
	listed=$(ecl devices list | awk '$1 == "sim"' | wc -l)
	# still waiting once the list is answered (on the loop, the list
	# would have waited for it)
	[ "$(pg_waiting 'UPDATE device_owner')" = 1 ] && pending=1
	wait $rp; st=$?
	wait $locker
	[ "$listed" = 1 ] && [ $pending = 1 ] && [ $st = 0 ] &&
		[ "$(psql -qAtX "$db" -c "SELECT instance IS NOT NULL FROM device_owner WHERE device_id = $id")" = t ] &&
		ok "a registration waiting on the registry holds up no other request: the devices listed meanwhile, then it registered" ||
		ko "registration waits" "listed $listed, pending $pending, registered $st: $(cat "$tmp/regw.out")"
}

run_tests after test_register test_compile_pings test_collision test_claim test_refusals test_disabled test_polls test_udp_auth \
	test_capture_udp_blocked test_stream test_bulk test_tcp_http test_proxy test_quiet test_restart test_settings test_report_on_change test_https \
	test_device_tls test_server_pin test_relay test_register_waits
st=$?
[ $st = 0 ] || tail -n 20 "$tmp/server.log" "$tmp/gw1.log" "$tmp/gw2.log"
exit $st
