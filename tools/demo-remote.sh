#!/usr/bin/env bash
# demo-remote.sh BUILD_DIR - remote capture end to end in network namespaces:
#
#   cloud (edgecap-server, mTunnel 6.0.0.1)
#    |-- gw1 (edgecap-agent), reached directly
#    |-- nat (masquerades, and drops all UDP) -- gw2, reached over the tunnel by HTTP
#    `-- proxy (tinyproxy) -- gw3, no route but the proxy: over the tunnel by HTTP
#   LAN A (a hub: bridge with ageing 0): gw1, gw2, client1, svc (DNS + HTTP)
#   LAN B: gw3, client2 (HTTP from gw3)
#
# gw2 and gw3 register with the server's tunnel (their own Ed25519 keys) and
# get management addresses in 6.0.0.0/8; the device list shows how each is
# reached. The clients ping, resolve names at the lab's resolver and download
# with curl. One 10-second capture on all three gateways, merged by the
# server: gw1 and gw2 see LAN A's packets twice, the server keeps each once.
# Prints the live text, then the merged pcapng (kept outside the tree) and
# its summary; removes what it created. The server's web page is forwarded to
# 127.0.0.1:8080 on this machine (socat, one process per connection entering
# the cloud namespace) with a demo owner's sign-in printed; with
# EDGECAP_DEMO_KEEP=1 (tools/lab demo --keep) the lab and its traffic stay
# until Ctrl-C, for a person to use the page.
set -euo pipefail
build=$(cd "$1" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
ec=$build/tools/edgecap
out=${EDGECAP_DEMO_DIR:-/tmp/edgecap-demo}
p=ecd$$
mkdir -p "$out"
rm -f "$out/registry.db"* "$out"/[0-9]*.pcapng

cleanup() {
	local n pid
	# the script's own background jobs (the traffic loop, the forwarder) first
	for pid in $(jobs -p); do kill "$pid" 2> /dev/null || true; done
	disown -a # their ends are expected: no "Terminated" lines
	for n in $nss; do
		for pid in $(ip netns pids "$p-$n" 2> /dev/null); do kill "$pid" 2> /dev/null || true; done
	done
	sleep 0.5
	for n in $nss; do
		for pid in $(ip netns pids "$p-$n" 2> /dev/null); do kill -9 "$pid" 2> /dev/null || true; done
		ip netns del "$p-$n" 2> /dev/null || true
	done
}
nss="cloud nat proxy gw1 gw2 gw3 lana client1 client2 svc"
trap cleanup EXIT
trap 'exit 130' INT TERM HUP # Ctrl-C (--keep) cleans up too
on() { local n=$1; shift; ip netns exec "$p-$n" "$@"; } # on NS CMD...
link() { # NS1 IF1 ADDR1 NS2 IF2 ADDR2 (ADDR "": none)
	ip link add "$2" netns "$p-$1" type veth peer name "$5" netns "$p-$4"
	[ -z "$3" ] || on "$1" ip addr add "$3" dev "$2"
	[ -z "$6" ] || on "$4" ip addr add "$6" dev "$5"
	on "$1" ip link set "$2" up
	on "$4" ip link set "$5" up
}

echo "== lab: cloud, three gateways (gw2 behind a NAT that drops UDP, gw3 behind a proxy), two LANs"
for n in $nss; do
	ip netns add "$p-$n"
	on "$n" ip link set lo up
done
link cloud m1 10.99.1.1/24 gw1 m0 10.99.1.2/24
link cloud m2 10.99.2.1/24 nat up0 10.99.2.2/24
link nat in0 192.168.2.1/24 gw2 m0 192.168.2.2/24
on gw2 ip route add default via 192.168.2.1
on nat sysctl -qw net.ipv4.ip_forward=1
on nat nft -f - << 'EOF'
table ip nat { chain post { type nat hook postrouting priority srcnat; oifname "up0" masquerade; }; }
table inet firewall { chain forward { type filter hook forward priority 0; meta l4proto udp drop; }; }
EOF
link cloud m3 10.99.3.1/24 proxy up0 10.99.3.2/24
link proxy in0 192.168.3.1/24 gw3 m0 192.168.3.2/24
printf 'Port 3128\nListen 192.168.3.1\nTimeout 600\nAllow 192.168.3.0/24\nLogLevel Warning\n' > "$out/tinyproxy.conf"
on proxy tinyproxy -d -c "$out/tinyproxy.conf" > /dev/null 2>&1 &
on lana ip link add br0 type bridge ageing_time 0 # a hub: every port sees every frame
on lana ip link set br0 up
for n in gw1 gw2 client1 svc; do
	link lana "p-$n" "" "$n" lan0 ""
	on lana ip link set "p-$n" master br0
done
on gw1 ip addr add 10.10.1.1/24 dev lan0
on gw2 ip addr add 10.10.1.2/24 dev lan0
on client1 ip addr add 10.10.1.10/24 dev lan0
on svc ip addr add 10.10.1.53/24 dev lan0
link gw3 lan0 10.10.3.1/24 client2 lan0 10.10.3.10/24

echo "== edgecap-server in the cloud namespace"
srv() { on cloud "$build/server/edgecap-server" --db "$out/registry.db" --data "$out" "$@"; }
srv org add lab > /dev/null
token=$(srv admin add lab admin)
demo_pw=$(srv user add lab demo@lab.example --role owner 2> /dev/null | sed -n 's/^one-time password: //p')
srv --plain-http --listen 0.0.0.0:8080 --tunnel-udp 0.0.0.0:4789 --web-root "$build/web" 2> "$out/server.log" &
cli() { on cloud env EDGECAP_SERVER=http://127.0.0.1:8080 EDGECAP_TOKEN="$token" "$ec" "$@"; }
for _ in $(seq 50); do grep -q serving "$out/server.log" && break; sleep 0.1; done

echo "== gw1 enrolled by its address; gw2 and gw3 behind NAT join by claim (tunnel)"
cli devices add gw1 --serial EC-0001 --address http://10.99.1.2:8080 > "$out/gw1.secret"
printf 'secret_file = %s\n' "$out/gw1.secret" > "$out/gw1.conf"
for i in 2 3; do
	# the agent makes its key at first start: nothing is carried to it
	rm -f "$out/gw$i.key" "$out/gw$i.state"
	printf 'tunnel = http://10.99.%d.1:8080\nkey_file = %s\nstate_file = %s\nudp_wait = 1\n' \
		$i "$out/gw$i.key" "$out/gw$i.state" > "$out/gw$i.conf"
done
echo "proxy = http://192.168.3.1:3128" >> "$out/gw3.conf"
for i in 1 2 3; do
	on "gw$i" "$build/user/agent/edgecap-agent" -c "$out/gw$i.conf" -i lan0 --listen 0.0.0.0:8080 \
		--plain-http 2> "$out/gw$i.log" &
done
for i in 1 2 3; do
	for _ in $(seq 50); do grep -q serving "$out/gw$i.log" && break; sleep 0.1; done
done
for i in 2 3; do # announced: claimed by the serial and code each agent printed
	for _ in $(seq 100); do grep -q "waiting to be claimed" "$out/gw$i.log" && break; sleep 0.1; done
	read -r serial code < <(sed -n 's/.*tunnel: serial \([^,]*\), claim code \(.*\)/\1 \2/p' "$out/gw$i.log" | head -1)
	echo "   gw$i: serial $serial, claim code $code"
	cli devices claim "$serial" "$code" --name "gw$i" | sed 's/^/   /'
done
for i in 2 3; do # registered, and UDP found blocked
	for _ in $(seq 100); do grep -q "udp -> http" "$out/gw$i.log" && break; sleep 0.1; done
	grep "tunnel: \(registered\|udp\|http\)" "$out/gw$i.log" | sed -E "s/^edgecap-agent: [a-z]+: /   gw$i: /"
done

echo "== services: DNS resolver and web server on LAN A, web server on gw3"
head -c 200000 /dev/urandom > "$out/file.bin"
on svc python3 "$top/tools/labdns.py" 10.10.1.53 2> "$out/labdns.log" &
on svc python3 -m http.server -b 10.10.1.53 -d "$out" 80 > /dev/null 2>&1 &
on gw3 python3 -m http.server -b 10.10.3.1 -d "$out" 80 > /dev/null 2>&1 &
sleep 1
cli devices

# the page, from this machine's loopback into the cloud namespace
web=
if ss -Hltn 'sport = :8080' | grep -q .; then
	echo "== (127.0.0.1:8080 is taken on this machine: the web page is not forwarded)"
else
	socat TCP4-LISTEN:8080,bind=127.0.0.1,reuseaddr,fork \
		EXEC:"ip netns exec $p-cloud socat STDIO TCP4\:127.0.0.1\:8080" 2> /dev/null &
	fwd=$!
	web="http://127.0.0.1:8080"
	echo "== the web page: $web  (sign in as demo@lab.example, one-time password $demo_pw)"
fi

traffic() { # ROUNDS: the clients' pings, names and downloads, a round a second
	for ((r = 1; r <= $1; r++)); do
		on client1 ping -c 2 -i 0.2 -q 10.10.1.53 > /dev/null || true
		on client1 python3 "$top/tools/labdns.py" --query www.lab 10.10.1.53 || true
		on client1 python3 "$top/tools/labdns.py" --query nosuch.lab 10.10.1.53 || true
		on client1 curl -s -o /dev/null http://10.10.1.53/file.bin || true
		on client2 ping -c 2 -i 0.2 -q 10.10.3.1 > /dev/null || true
		on client2 curl -s -o /dev/null http://10.10.3.1/file.bin || true
		sleep 1
	done
}

echo
echo "== a 10-second capture on gw1, gw2 and gw3, merged by the server, live:"
(
	sleep 1
	traffic 3
) &
traffic_pid=$!
cli remote -d gw1,gw2,gw3 --duration 10 --text 'icmp or arp or udp port 53 or (tcp port 80 and tcp[tcpflags] & (tcp-syn|tcp-fin) != 0)' \
	2> "$out/remote.err"
wait $traffic_pid || true
cat "$out/remote.err"
id=$(sed -n 's/^capture \([0-9]*\) on.*/\1/p' "$out/remote.err")

echo
echo "== the merged capture"
on cloud curl -sS -o "$out/merged.pcapng" -H "Authorization: Bearer $token" \
	"http://127.0.0.1:8080/api/v1/captures/$id/pcap"
cli captures show "$id"
echo
capinfos -c -i -u "$out/merged.pcapng" | sed 's/^/   /'
echo
echo "merged pcapng: $out/merged.pcapng"
if [ -n "${EDGECAP_DEMO_KEEP:-}" ] && [ -n "$web" ]; then
	echo
	echo "== the lab stays, with traffic, until Ctrl-C: $web (demo@lab.example, one-time password $demo_pw)"
	traffic 1000000 &
	wait "$fwd" || true
elif [ -n "$web" ]; then
	echo "(tools/lab demo --keep keeps the lab, its traffic and the page at $web until Ctrl-C)"
fi
