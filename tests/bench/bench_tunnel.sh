#!/usr/bin/env bash
# bench_tunnel.sh SERVER AGENT EDGECAP - the mTunnel against plain UDP, in
# one run, between two namespaces this script creates and always removes:
# C (edgecap-server, 10.97.0.1) and G (edgecap-agent, 10.97.0.2), one veth.
#
#   datagrams/s   64-byte UDP payloads flooded from G for SECONDS, counted
#                 where they arrive in C: straight to 10.97.0.1 (the peer),
#                 through the tunnel to 6.0.0.1 by UDP, and by HTTP (G's
#                 nftables drop UDP to the tunnel's port)
#   round trip    one datagram at a time to an echo server, p50 and p99
#   TCP           iperf3 over each path, SECONDS
#   idle devices  N simulated devices (tests/bench/idlepoll.py) registered and
#                 each keeping one poll parked, as idle HTTP-mode devices do:
#                 the server's memory per device (resident set plus the
#                 kernel's socket memory in C) and its CPU while they idle
#
# Targets: HTTP mode >= 50,000 datagrams/s; <= 16 KiB per idle device;
# >= 500 Mbit/s TCP over the tunnel in UDP mode.
# Environment: SECONDS_RUN (default 4), N (idle devices, default 10000),
# KEEP (keep the temporary directory).
set -euo pipefail
server=$1 agent=$2 ec=$3
SECONDS_RUN=${SECONDS_RUN:-4}
N=${N:-10000}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/record.sh"
C=ecbt-c-$$ G=ecbt-g-$$
tmp=$(mktemp -d)
pids=()

cleanup() {
	local n p
	for n in $C $G; do
		for p in $(ip netns pids $n 2> /dev/null); do kill -9 "$p" 2> /dev/null || true; done
		ip netns del $n 2> /dev/null || true
	done
	[ -n "${KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

ip netns add $C && ip netns add $G
ip link add vc netns $C type veth peer name vg netns $G
ip -n $C addr add 10.97.0.1/24 dev vc && ip -n $G addr add 10.97.0.2/24 dev vg
for n in $C $G; do ip -n $n link set lo up; done
ip -n $C link set vc up && ip -n $G link set vg up
inc() { ip netns exec $C "$@"; }
ing() { ip netns exec $G "$@"; }

# Two descriptors per HTTP-mode device in the server (its connection and its
# UDP socket), and room for the registrations' own connections while they
# close (idlepoll.py makes 128 at once): within the hard limit, which root
# without CAP_SYS_RESOURCE cannot raise.
ulimit -n "$(ulimit -Hn)"
if [ $((2 * N + 600)) -gt "$(ulimit -n)" ]; then
	echo "note: $N idle devices need $((2 * N + 600)) descriptors, the hard limit is $(ulimit -n): N = $((($(ulimit -n) - 600) / 2))"
	N=$((($(ulimit -n) - 600) / 2))
fi
db=$tmp/registry.db
"$server" --db "$db" org add bench > /dev/null
token=$("$server" --db "$db" admin add bench admin)
seed=bench-$$
# N simulated devices enrolled in one transaction (claiming each through the
# API would take a while), each with its own key (idlepoll.py's sim_key); the
# same management addresses a claim would give them
PYTHONPATH=$here python3 - "$db" "$seed" "$N" <<- 'EOF'
	import base64, os, sqlite3, sys, time, zlib
	from cryptography.hazmat.primitives import serialization
	from idlepoll import sim_key
	def pub(i):
	    raw = sim_key(sys.argv[2], i).public_key().public_bytes(
	        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
	    return base64.b64encode(raw).decode()
	db = sqlite3.connect(sys.argv[1])
	org = db.execute("SELECT id FROM orgs").fetchone()[0]
	used = {r[0] for r in db.execute("SELECT mgmt_address FROM devices")}
	def mgmt(serial):
	    h = zlib.crc32(serial.encode())
	    i = 0
	    while True:
	        v = (h + i) & 0xffffff
	        i += 1
	        if v not in (0, 1, 0xffffff) and (0x06000000 | v) not in used:
	            used.add(0x06000000 | v)
	            return 0x06000000 | v
	with db:
	    for i in range(int(sys.argv[3])):
	        db.execute("INSERT INTO devices (org_id, name, serial, address, pubkey, secret, created, "
	                   "mgmt_address) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	                   (org, f"sim{i}", f"SIM-{i}", "http://tunnel:8081", pub(i),
	                    os.urandom(32), int(time.time()), mgmt(f"SIM-{i}")))
EOF

ip netns exec $C "$server" --plain-http --listen 0.0.0.0:8080 --db "$db" --tunnel-udp 0.0.0.0:4789 \
	--tunnel-max $((N + 10)) 2> "$tmp/server.log" &
server_pid=$!
for _ in $(seq 100); do grep -q serving "$tmp/server.log" && break; sleep 0.05; done
printf 'tunnel = http://10.97.0.1:8080\nserial = SN-gw\nkey_file = %s\nstate_file = %s\nhello_interval = 1\nudp_wait = 1\n' \
	"$tmp/gw.key" "$tmp/gw.state" > "$tmp/gw.conf"
ing "$agent" -c "$tmp/gw.conf" -i vg --listen 0.0.0.0:8081 --plain-http 2> "$tmp/agent.log" &
for _ in $(seq 100); do grep -q "waiting to be claimed" "$tmp/agent.log" && break; sleep 0.05; done
inc env EDGECAP_SERVER=http://10.97.0.1:8080 EDGECAP_TOKEN="$token" "$ec" devices claim SN-gw \
	"$("$agent" identity -c "$tmp/gw.conf" | awk '/^claim code/ { print $3 }')" --name gw > /dev/null
for _ in $(seq 100); do grep -q "registered as" "$tmp/agent.log" && break; sleep 0.05; done
grep -q "registered as" "$tmp/agent.log" || { echo "the agent did not register: $(cat "$tmp/agent.log")"; exit 1; }

ip netns exec $C "$here/udpperf.py" echo 0.0.0.0 7007 > /dev/null &
echo_pid=$!
inc iperf3 -s -D --logfile "$tmp/iperf.log"
sleep 0.3

rate() { # HOST: datagrams/s that arrive
	local out=$tmp/sink.out
	: > "$out"
	inc "$here/udpperf.py" sink 0.0.0.0 9000 "$SECONDS_RUN" > "$out" &
	local sink=$!
	for _ in $(seq 50); do grep -q ready "$out" && break; sleep 0.05; done
	ing timeout $((SECONDS_RUN + 2)) "$here/udpperf.py" flood "$1" 9000 $((SECONDS_RUN + 1)) 64 || true
	wait $sink || true
	tail -1 "$out"
}
rtt() { ing "$here/udpperf.py" rtt "$1" 7007 "$2"; } # HOST COUNT: p50 p99 (ms)
tcp() { # HOST: Mbit/s
	ing iperf3 -c "$1" -t "$SECONDS_RUN" -J 2> /dev/null |
		python3 -c 'import json,sys; print("%.0f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6))'
}
row() { printf '%-22s %12s %10s %10s %10s\n' "$@"; }

# The device's path as the server has it. The direct rows flood the veth the
# tunnel shares, and a HELLO lost there (udp_wait is 1 s here) can send the
# agent to HTTP for a while: each tunnel row waits for its path first.
path() {
	inc env EDGECAP_SERVER=http://10.97.0.1:8080 EDGECAP_TOKEN="$token" "$ec" devices list 2> /dev/null |
		awk '$1 == "gw" { print $5 }'
}
wait_path() { # udp|http
	for _ in $(seq 300); do [ "$(path)" = "$1" ] && return; sleep 0.1; done
	echo "the device's path stayed $(path), not $1: $(tail -3 "$tmp/agent.log")"
	exit 1
}
declare -A R
R[direct_rate]=$(rate 10.97.0.1); read -r R[direct_p50] R[direct_p99] <<< "$(rtt 10.97.0.1 2000)"
R[direct_tcp]=$(tcp 10.97.0.1)
wait_path udp
R[udp_rate]=$(rate 6.0.0.1); read -r R[udp_p50] R[udp_p99] <<< "$(rtt 6.0.0.1 2000)"
wait_path udp
R[udp_tcp]=$(tcp 6.0.0.1)
ing nft 'add table inet ecbt; add chain inet ecbt out { type filter hook output priority 0; }; add rule inet ecbt out udp dport 4789 drop'
wait_path http
R[http_rate]=$(rate 6.0.0.1); read -r R[http_p50] R[http_p99] <<< "$(rtt 6.0.0.1 300)"
R[http_tcp]=$(tcp 6.0.0.1)
ing nft delete table inet ecbt

echo "mTunnel, $(nproc) cores, $(uname -r); ${SECONDS_RUN} s per rate and TCP row"
echo
row path datagrams/s "p50 ms" "p99 ms" "TCP Mbit/s"
row "direct UDP (peer)" "${R[direct_rate]}" "${R[direct_p50]}" "${R[direct_p99]}" "${R[direct_tcp]}"
row "tunnel, by UDP" "${R[udp_rate]}" "${R[udp_p50]}" "${R[udp_p99]}" "${R[udp_tcp]}"
row "tunnel, by HTTP" "${R[http_rate]}" "${R[http_p50]}" "${R[http_p99]}" "${R[http_tcp]}"

# Idle devices: a fresh server (so the memory the rows above used and freed
# does not hide the cost), its resident memory and the kernel's socket memory
# (pages, in C's namespace) before and after N devices park their polls.
kill "$server_pid"
wait "$server_pid" 2> /dev/null || true
# the other sockets out of the socket memory count
{ kill "$echo_pid"; wait "$echo_pid"; } 2> /dev/null || true
pkill -f "iperf3 -s -D --logfile $tmp" || true
# the simulated devices all come from one address, as from behind one NAT
printf 'connections_per_address_max = %d\n' $((N + 200)) > "$tmp/server2.conf"
ip netns exec $C "$server" -c "$tmp/server2.conf" --plain-http --listen 0.0.0.0:8080 --db "$db" \
	--tunnel-udp 0.0.0.0:4789 --tunnel-max $((N + 10)) 2> "$tmp/server2.log" &
server_pid=$!
for _ in $(seq 100); do grep -qs serving "$tmp/server2.log" && break; sleep 0.05; done
sleep 1
rss() { awk '/VmRSS/ { print $2 }' /proc/$server_pid/status; } # KiB
sockmem() { inc awk '$1 == "TCP:" || $1 == "UDP:" { for (i = 2; i < NF; i++) if ($i == "mem") s += $(i + 1) } END { print s * 4 }' /proc/net/sockstat; } # KiB
cpu() { awk '{ print $14 + $15 }' /proc/$server_pid/stat; } # ticks
rss0=$(rss) mem0=$(sockmem) t0=$(date +%s)
inc "$here/idlepoll.py" 10.97.0.1 8080 "$seed" SIM "$N" > "$tmp/idle.out" 2>&1 &
for _ in $(seq 1200); do grep -q "^parked $N$" "$tmp/idle.out" && break; sleep 0.1; done
park_s=$(($(date +%s) - t0))
grep -q "^parked $N$" "$tmp/idle.out" || { echo "the idle devices did not park: $(tail -3 "$tmp/idle.out")"; exit 1; }
sleep 1
rss1=$(rss) mem1=$(sockmem) cpu0=$(cpu)
sleep 10
cpu1=$(cpu)
# and the kernel's objects for a device's sockets, from the slab sizes
# (socket, inode, file, dentry each): its connection, and its UDP socket if
# it has one now (a quiet device's is closed)
udps=$(inc ss -Hun state established dst 127.0.0.1:4789 | wc -l)
kobj=$(awk -v u="$udps" -v n="$N" '{ z[$1] = $4 } END { f = z["sock_inode_cache"] + z["filp"] + z["dentry"]
	print int(z["TCP"] + f + u / n * (z["UDP"] + f)) }' /proc/slabinfo)
[ "$mem1" -ge "$mem0" ] || mem1=$mem0 # other sockets' buffers drained meanwhile
per=$(( ((rss1 - rss0) + (mem1 - mem0)) * 1024 / N + kobj ))
echo
echo "$N idle devices, one poll parked each (all registered and parked in $park_s s; a poll is answered"
echo "  empty after 25 s and the device polls again, as a real one does): server +$((rss1 - rss0)) KiB resident,"
echo "  +$((mem1 - mem0)) KiB socket buffers"
echo "  + $kobj B per device of kernel objects for its sockets (slab sizes; $udps of the devices have a UDP socket now)"
printf '  %d B per device in all (target <= 16384: %s); CPU while idle %.1f%% of a core\n' "$per" \
	"$([ "$per" -le 16384 ] && echo met || echo NOT met)" \
	"$(awk -v t=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" 'BEGIN { print t * 100 / hz / 10 }')"
record bench=tunnel case="idle devices, one poll parked each" metric="bytes per device" \
	ours="edgecap-server" ours_value="$per" target="<=16384"
for m in udp:"tunnel, by UDP" http:"tunnel, by HTTP"; do
	t=${m%%:*} name=${m#*:}
	record bench=tunnel case="$name" metric=datagrams/s ours="$name" ours_value="${R[${t}_rate]}" \
		peer="direct UDP" peer_value="${R[direct_rate]}" \
		target="$([ "$t" = http ] && echo ">=50000")"
	record bench=tunnel case="$name" metric="TCP Mbit/s" ours="$name" ours_value="${R[${t}_tcp]}" \
		peer="direct UDP" peer_value="${R[direct_tcp]}" target="$([ "$t" = udp ] && echo ">=500")"
	record bench=tunnel case="$name" metric="round trip p50 ms" ours="$name" \
		ours_value="${R[${t}_p50]}" peer="direct UDP" peer_value="${R[direct_p50]}"
done
echo
printf 'targets: HTTP mode %s datagrams/s (>= 50000: %s); TCP by UDP %s Mbit/s (>= 500: %s)\n' \
	"${R[http_rate]}" "$([ "${R[http_rate]}" -ge 50000 ] && echo met || echo NOT met)" \
	"${R[udp_tcp]}" "$([ "${R[udp_tcp]}" -ge 500 ] && echo met || echo NOT met)"
