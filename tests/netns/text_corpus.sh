#!/usr/bin/env bash
# text_corpus.sh EDGECAP - a corpus of real infrastructure traffic between two
# network namespaces this script creates (and always removes), captured on va
# by tcpdump and by `edgecap capture` at the same time, then printed: the
# text of `edgecap merge --text` and of a live `edgecap capture` must be
# tcpdump's, line for line, and the two captures the same packets.
#
# B's side of the veth is a port of a bridge running STP (br0 holds B's
# addresses). The traffic (corpus_traffic.py for what no installed tool
# sends): ARP, ICMP echo with record route, IPv4 fragments, ICMP timestamp,
# protocol and port unreachable, time exceeded, redirect, fragmentation
# needed (A routes 10.97.0.0/24 and fd97::/64 back to B), IPv6 echo and
# fragments, packet too big, time exceeded, ND, RS/RA,
# destination options, MLDv2 (hop-by-hop), IGMPv3, TCP, DNS, mDNS (v4, v6),
# LLMNR, DHCP (busybox udhcpd and udhcpc), DHCPv6 Solicit, NTP, SNMP, syslog,
# TFTP (busybox's client), SSDP, VXLAN devices, STP BPDUs; and, synthetic
# payloads or frames sent on the wire because the host has no such device or
# daemon: GRE, Geneve, LLDP, CDP, PPPoE discovery, 802.1Q and 802.1ad.
set -uo pipefail
ec=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
suite=txc
. "$here/lib.sh"
# the interpreter itself, not a wrapper that finds it at every start
py=$(python3 -c 'import sys; print(sys.executable)') || { echo "FAIL setup: no python3"; exit 1; }
gen=("$py" "$here/corpus_traffic.py")

for n in "$A" "$B"; do # no rate limit on the ICMP errors the corpus asks for
	ip netns exec "$n" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 \
		net.ipv4.icmp_echo_ignore_broadcasts=0
done
ina sysctl -qw net.ipv6.conf.va.accept_ra=0 # B's advertisement is printed, not used
ip -n "$B" link add br0 type bridge stp_state 1 forward_delay 200 hello_time 100 &&
	ip -n "$B" link set vb master br0 && ip -n "$B" addr del 10.98.0.2/24 dev vb &&
	ip -n "$B" addr add 10.98.0.2/24 dev br0 && ip -n "$B" link set br0 up &&
	ip -n "$A" addr add fd98::1/64 dev va nodad && ip -n "$B" addr add fd98::2/64 dev br0 nodad &&
	ip -n "$A" route add 224.0.0.0/4 dev va && ip -n "$B" route add 224.0.0.0/4 dev br0 &&
	ip -n "$A" link add vx0 type vxlan id 42 local 10.98.0.1 remote 10.98.0.2 dstport 4789 &&
	ip -n "$B" link add vx0 type vxlan id 42 local 10.98.0.2 remote 10.98.0.1 dstport 4789 &&
	ip -n "$A" addr add 10.99.0.1/24 dev vx0 && ip -n "$B" addr add 10.99.0.2/24 dev vx0 &&
	ip -n "$A" link set vx0 up && ip -n "$B" link set vx0 up &&
	ina sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 &&
	ip -n "$A" route add 10.97.0.0/24 via 10.98.0.2 mtu lock 1000 &&
	ip -n "$B" route add 10.97.0.0/24 via 10.98.0.1 && ip -n "$B" route add fd97::/64 via fd98::1 ||
	{ echo "FAIL setup of the bridge, IPv6, VXLAN and routes"; exit 1; }
va_mac=$(ina cat /sys/class/net/va/address)

# servers in A: busybox's DHCP server, the corpus servers
cat > "$tmp/udhcpd.conf" << EOF
start 10.98.0.100
end 10.98.0.120
interface va
lease_file $tmp/udhcpd.leases
pidfile $tmp/udhcpd.pid
option subnet 255.255.255.0
option router 10.98.0.1
option dns 10.98.0.1
option domain corpus.test
option lease 600
EOF
touch "$tmp/udhcpd.leases"
ina busybox udhcpd -f -a 100 "$tmp/udhcpd.conf" > "$tmp/udhcpd.log" 2>&1 &
ina "${gen[@]}" serve 10.98.0.1 va > "$tmp/serve.log" 2>&1 &
# the bridge port forwards after listening and learning (2 x 2 s); B's
# link-local address is usable after its duplicate detection
for _ in $(seq 100); do
	ip -n "$B" link show vb | grep -q 'state UP' &&
		bridge -n "$B" link show dev vb | grep -q 'state forwarding' &&
		[ -z "$(ip -n "$B" -6 addr show dev br0 tentative)" ] &&
		grep -q serving "$tmp/serve.log" && break
	sleep 0.1
done
bridge -n "$B" link show dev vb | grep -q 'state forwarding' || { echo "FAIL setup: vb does not forward"; exit 1; }
# (an IPv6 redirect names a link-local next hop: A's route goes through B's)
b_ll=$(ip -n "$B" -6 addr show dev br0 scope link | sed -n 's|.*inet6 \(fe80::[0-9a-f:]*\)/.*|\1|p')
ip -n "$A" route add fd97::/64 via "$b_ll" dev va mtu 1280 ||
	{ echo "FAIL setup: no route through B's link-local address '$b_ll'"; exit 1; }

# One round of the corpus, between two marker datagrams (UDP to port 5999,
# payloads "start" and "end") that bound what is compared.
traffic() {
	inb bash -c 'printf start > /dev/udp/10.98.0.1/5999'
	ip -n "$B" neigh flush dev br0 # ARP and neighbour discovery again
	inb busybox arping -c 1 -w 2 -I br0 10.98.0.1 > /dev/null
	inb ping -c 1 -W 2 -R 10.98.0.1 > /dev/null
	inb ping -c 1 -W 2 -s 3000 10.98.0.1 > /dev/null
	inb ping -c 1 -W 2 fd98::1 > /dev/null
	inb ping -c 1 -W 2 -s 3000 fd98::1 > /dev/null
	inb env CORPUS_SELF=10.98.0.2 "${gen[@]}" send 10.98.0.1 br0 fd98::1
	inb busybox udhcpc -i br0 -f -q -n -R -t 3 -T 1 -s /bin/true > /dev/null 2>&1
	rm -f "$tmp/got.txt"
	inb busybox tftp -g -r motd.txt -l "$tmp/got.txt" 10.98.0.1
	ina ping -c 1 -W 2 10.99.0.2 > /dev/null # over VXLAN
	inb "${gen[@]}" l2 vb "$va_mac"
	sleep 0.3
	inb bash -c 'printf end > /dev/udp/10.98.0.1/5999'
	sleep 0.2
}

# Start tcpdump and edgecap on va in A: ARGS for each, then --, the outputs
start_both() { # TD_OUT EC_OUT TD_ARGS... -- EC_ARGS...
	local tdo=$1 eco=$2 td_args=() i
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do td_args+=("$1"); shift; done
	shift
	ip netns exec "$A" tcpdump -i va "${td_args[@]}" > "$tdo" 2> "$tmp/td.err" &
	td=$!
	ip netns exec "$A" "$ec" capture -i va -Q inout "$@" > "$eco" 2> "$tmp/ec.err" &
	cap_pid=$!
	for i in $(seq 200); do
		grep -q listening "$tmp/ec.err" && grep -q listening "$tmp/td.err" && return 0
		sleep 0.05
	done
	return 1
}

# Stop both once tcpdump (in immediate mode) has the end marker; edgecap
# writes what its ring holds before it ends
stop_both() { # TD_HAS: a command that succeeds once tcpdump has the marker
	local i
	for i in $(seq 30); do
		$1 && break
		sleep 0.1
	done
	kill -INT $cap_pid 2> /dev/null
	wait_gone $cap_pid 10 || { kill -9 $cap_pid; ko "edgecap stops on SIGINT" "still running after 10 s"; }
	kill -TERM $td 2> /dev/null
	wait_gone $td 5 || kill -9 $td
}

# One packet per line as `tcpdump -r -nn -t -xx` shows it (headers and bytes),
# from the start marker to the end marker
packets() { # FILE
	tcpdump -r "$1" -nn -t -xx 2> /dev/null |
		awk '/^[^ \t]/ { if (p != "") print p; p = $0; next } { p = p " " $0 } END { if (p != "") print p }' |
		between
}
between() { sed -En '/ > 10\.98\.0\.1\.5999: UDP, length 5([[:space:]]|$)/,/ > 10\.98\.0\.1\.5999: UDP, length 3([[:space:]]|$)/p'; }
ended() { tcpdump -nn -r "$1" 2> /dev/null | grep -q ' > 10\.98\.0\.1\.5999: UDP, length 3$'; }
ended_text() { grep -q ' > 10\.98\.0\.1\.5999: UDP, length 3$' "$1"; }
# Two lists of packets (a line each) the same in order, or but for packets
# that crossed: tcpdump sees a packet arriving before edgecap's TC ingress
# hook and one leaving after its TC egress hook, so an arriving and a
# leaving packet within microseconds of each other may be in either order.
# Prints "same", "N crossed" (adjacent pairs swapped) or where they differ.
same_order() { # REF OURS
	"$py" - "$1" "$2" << 'EOF'
import sys
a = open(sys.argv[1]).read().splitlines()
b = open(sys.argv[2]).read().splitlines()
i = crossed = 0
while i < len(a) and i < len(b):
    if a[i] == b[i]:
        i += 1
    elif i + 1 < len(a) and i + 1 < len(b) and a[i] == b[i + 1] and a[i + 1] == b[i]:
        crossed += 1
        i += 2
    else:
        sys.exit("line %d: %s | %s" % (i + 1, a[i][:150], b[i][:150]))
if len(a) != len(b):
    sys.exit("%d lines, %d lines" % (len(a), len(b)))
print("%d crossed" % crossed if crossed else "same")
EOF
}
untimed() { sed -E 's/^[0-9]+\.[0-9]{6} //'; }

# What must be in the corpus: NAME|tshark display filter. Each is counted
# in tcpdump's file (check 1).
kinds=(
	"ARP|arp" "ICMP echo|icmp.type == 8" "IPv4 record route|ip.opt.type == 7"
	"IPv4 fragments|ip.flags.mf == 1" "ICMP timestamp|icmp.type == 13"
	"ICMP timestamp reply|icmp.type == 14"
	"ICMP protocol unreachable|icmp.type == 3 && icmp.code == 2"
	"ICMP port unreachable|icmp.type == 3 && icmp.code == 3"
	"ICMP fragmentation needed|icmp.type == 3 && icmp.code == 4" "ICMP redirect|icmp.type == 5"
	"ICMP time exceeded|icmp.type == 11" "ICMPv6 time exceeded|icmpv6.type == 3"
	"ICMPv6 packet too big|icmpv6.type == 2" # (no ICMPv6 redirect: Linux sends none here)
	"ICMPv6 echo|icmpv6.type == 128" "IPv6 fragments|ipv6.fraghdr"
	"ND solicitation|icmpv6.type == 135" "ND advertisement|icmpv6.type == 136"
	"router solicitation|icmpv6.type == 133" "router advertisement|icmpv6.type == 134"
	"MLDv2 report|icmpv6.type == 143" "IPv6 hop-by-hop|ipv6.hopopts"
	"IPv6 destination options|ipv6.dstopts" "ICMPv6 port unreachable|icmpv6.type == 1 && icmpv6.code == 4"
	"IGMPv3|igmp.version == 3" "TCP|tcp.flags.fin == 1" "DNS|dns && udp.port == 53"
	"mDNS|mdns" "mDNS IPv6|mdns && ipv6" "LLMNR|llmnr"
	"DHCP|dhcp.option.dhcp == 1" "DHCP offer|dhcp.option.dhcp == 2" "DHCP ack|dhcp.option.dhcp == 5"
	"DHCPv6|dhcpv6.msgtype == 1" "NTP|ntp.flags.mode == 3" "NTP server|ntp.flags.mode == 4"
	"SNMP|snmp.get_request_element" "SNMP response|snmp.get_response_element"
	"syslog|syslog" "TFTP|tftp.opcode == 1" "TFTP data|tftp.opcode == 3"
	"SSDP|ssdp" "GRE|gre" "VXLAN|vxlan" "Geneve|geneve" "STP|stp" "LLDP|lldp" "CDP|cdp"
	"PPPoE discovery|pppoed" "802.1Q|vlan && !ieee8021ad" "802.1ad|ieee8021ad"
)

# What tcpdump prints of them (check 2): NAME|extended regex on a line.
# tcpdump 4.99 has no printer for LLMNR or SSDP, nor knows TFTP's data
# blocks (they come from another port than 69): those are "UDP, length N"
# in its output as in ours, and are compared with every other line.
printed=(
	"ARP|ARP, Request who-has" "ICMP echo|ICMP echo request" "ICMP timestamp|ICMP time stamp query"
	"ICMP protocol unreachable|protocol 253 unreachable" "ICMP port unreachable|udp port 33434 unreachable"
	"ICMP time exceeded|ICMP time exceeded in-transit" "ICMP redirect|ICMP redirect 10\\.97\\.0\\.6"
	"ICMP fragmentation needed|need to frag \\(mtu 1000\\)" "ICMPv6 packet too big|ICMP6, packet too big"
	"ICMPv6 time exceeded|ICMP6, time exceeded in-transit"
	"ICMPv6 echo|ICMP6, echo request" "IPv6 fragments|frag \\(0\\|"
	"ND|ICMP6, neighbor solicitation" "RA|ICMP6, router advertisement" "RS|ICMP6, router solicitation"
	"MLD|ICMP6, multicast listener report v2" "IGMP|igmp v3 report" "TCP|Flags \\[F\\.\\]"
	"DNS|\\? gw\\.example\\.net\\." "mDNS|PTR \\(QM\\)\\? _http\\._tcp\\.local\\."
	"DHCP|BOOTP/DHCP, Request" "DHCP reply|BOOTP/DHCP, Reply" "DHCPv6|dhcp6 solicit"
	"NTP|NTPv4, Client" "NTP server|NTPv4, Server" "SNMP|GetRequest" "SNMP response|GetResponse"
	"syslog|SYSLOG daemon\\.warning" "TFTP|RRQ \"motd\\.txt\""
	"GRE|GREv0" "VXLAN|VXLAN, flags \\[I\\]" "Geneve|Geneve, Flags"
	"STP|STP 802\\.1d" "LLDP|LLDP, length" "CDP|CDPv2" "PPPoE|PPPoE PADI"
)

# Pass 1: both tools write files; the corpus is then checked in them.
test_files() {
	start_both "$tmp/td.out" "$tmp/ec.out" --immediate-mode -U -s 262144 -w "$tmp/ref.pcap" -- \
		-w "$tmp/ours.pcapng" ||
		{ ko "corpus capture" "the captures did not start: $(cat "$tmp/ec.err" "$tmp/td.err")"; stop_both true; return; }
	traffic
	stop_both "ended $tmp/ref.pcap"
	local k n i=1 missing= counts= filters=,frame stats=()
	# 1. the kinds of traffic present, counted by Wireshark in tcpdump's
	# file: one column of frames per filter (the first: all frames)
	for k in "${kinds[@]}"; do filters+=",${k#*|}"; done
	mapfile -t stats < <(tshark -r "$tmp/ref.pcap" -q -z "io,stat,0$filters" 2> /dev/null |
		awk -F'|' '/<>/ { for (i = 3; i <= NF; i += 2) if ($i ~ /[0-9]/) print $i + 0 }')
	for k in "${kinds[@]}"; do
		n=${stats[i]:-}
		i=$((i + 1))
		[ "${n:-0}" -gt 0 ] || missing+=" ${k%%|*};"
		counts+="${k%%|*} ${n:-none}, "
	done
	[ -z "$missing" ] && ok "corpus: ${stats[0]:-?} packets, ${#kinds[@]} kinds: ${counts%, }" ||
		ko "corpus" "missing:$missing (${counts%, })"

	# 2. edgecap merge --text on our file: tcpdump's lines, a packet's first
	# line after its device (the file's name here); the lines that continue
	# a packet (a tunnel's inner packet, CDP's TLVs) as they are
	(cd "$tmp" && "$ec" merge --text ours.pcapng 2> merge.err | sed 's/^ours\.pcapng //' > merge.txt)
	tcpdump -nn -tt -r "$tmp/ours.pcapng" > "$tmp/td-r.txt" 2> /dev/null
	missing=
	for k in "${printed[@]}"; do
		grep -Eq "${k#*|}" "$tmp/merge.txt" || missing+=" ${k%%|*};"
	done
	if [ -s "$tmp/td-r.txt" ] && cmp -s "$tmp/merge.txt" "$tmp/td-r.txt" && [ -z "$missing" ]; then
		ok "merge --text: $(wc -l < "$tmp/merge.txt") lines identical to tcpdump -nn -tt -r, ${#printed[@]} protocols decoded"
	else
		ko "merge --text" "missing:$missing; $(diff "$tmp/td-r.txt" "$tmp/merge.txt" | head -6 | tr '\n' '|') $(head -3 "$tmp/merge.err")"
	fi

	# 3. the same packets, byte for byte and in order, from marker to marker
	packets "$tmp/ref.pcap" > "$tmp/ref.pkts"
	packets "$tmp/ours.pcapng" > "$tmp/ours.pkts"
	# The 802.1Q and 802.1ad frames (inner addresses 10.98.100.x) arrive on
	# va with their outer tag in the skb's metadata (as from a NIC with VLAN
	# offload): tcpdump puts it back from the packet socket's auxiliary
	# data, the TC hook from the skb (docs/capture.md, "VLAN tags")
	local nv how
	nv=$(grep -c 'IP 10\.98\.100\.' "$tmp/ref.pkts")
	if [ -s "$tmp/ref.pkts" ] && [ "$nv" -ge 2 ] && how=$(same_order "$tmp/ref.pkts" "$tmp/ours.pkts" 2>&1); then
		ok "same packets: $(wc -l < "$tmp/ref.pkts") between the markers (VLAN-tagged frames among them: $nv), byte for byte as tcpdump saw them ($how)"
	else
		ko "same packets" "tcpdump $(wc -l < "$tmp/ref.pkts") ($nv tagged), edgecap $(wc -l < "$tmp/ours.pkts"): $(diff "$tmp/ref.pkts" "$tmp/ours.pkts" | cut -c1-160 | head -6 | tr '\n' '|')"
	fi
}

# Pass 2: both print live (no -w), the lines after the time compared.
test_live_text() {
	start_both "$tmp/td.txt" "$tmp/ec.txt" --immediate-mode -l -nn -tt -- -nn -tt ||
		{ ko "live text" "the captures did not start: $(cat "$tmp/ec.err" "$tmp/td.err")"; stop_both true; return; }
	traffic
	stop_both "ended_text $tmp/td.txt"
	untimed < "$tmp/td.txt" | between > "$tmp/td.live"
	untimed < "$tmp/ec.txt" | between > "$tmp/ec.live"
	local how
	if [ -s "$tmp/td.live" ] && how=$(same_order "$tmp/td.live" "$tmp/ec.live" 2>&1); then
		ok "live text: $(wc -l < "$tmp/td.live") lines between the markers, as a live tcpdump -nn -tt prints them ($how)"
	else
		ko "live text" "tcpdump $(wc -l < "$tmp/td.live"), edgecap $(wc -l < "$tmp/ec.live"): $(diff "$tmp/td.live" "$tmp/ec.live" | head -6 | tr '\n' '|') $(head -3 "$tmp/ec.err")"
	fi
}

check() { :; }
run_tests check test_files test_live_text
