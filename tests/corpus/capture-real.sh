#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# capture-real.sh - capture real traffic for the differential test corpus.
#
# Usage: capture-real.sh OUT.pcap        (as root)
#
# Builds two private network namespaces joined by a veth pair (MTU 9000)
# that carries untagged 10.77.0.0/24 and fd77::/64, 802.1Q VLAN 42
# (10.77.42.0/24, fd77:42::/64, MTU 1500) and 802.1ad QinQ 100/43
# (10.77.43.0/24, fd77:43::/64, MTU 1400), and records everything that
# crosses the veth with tcpdump while generating traffic between the
# namespaces: ARP and neighbour discovery, IGMP and MLD, small, jumbo and
# fragmented pings over IPv4 and IPv6, broadcast and multicast pings, TCP
# connections carrying data (ports 22, 80, 443, 8080), refused connections
# and UDP datagrams (port 53 and others), untagged, tagged and double-tagged.
#
# Needs ip, tc, clang (for a small tc BPF program, see below), tcpdump,
# OpenBSD nc, ping and timeout.
#
# Nothing leaves the namespaces: all addresses are in 10.77.0.0/16 and
# fd77::/16 and exist only on the veth pair.  The namespaces and every
# process started here are removed on exit, including on errors and Ctrl-C.
# Runs in a few seconds and fails unless at least MIN_PACKETS were captured.

set -Eeuo pipefail

MIN_PACKETS=300

prog=${0##*/}
out=${1:-}

die()
{
	echo "$prog: $*" >&2
	exit 1
}

if [ $# -ne 1 ] || [ -z "$out" ]; then
	echo "usage: $prog OUT.pcap" >&2
	exit 2
fi
[ "$(id -u)" -eq 0 ] || die "must run as root"
outdir=$(dirname -- "$out")
[ -d "$outdir" ] || die "no directory $outdir"
[ -w "$outdir" ] || die "cannot write to $outdir"
for cmd in ip tc clang tcpdump nc ping timeout; do
	command -v "$cmd" >/dev/null || die "$cmd not found"
done

prefix="ecapcorp-$$-"
nsa="${prefix}a" # capture side, 10.77.*.1 / fd77::1
nsb="${prefix}b" # peer, 10.77.*.2 / fd77::2
tmp=$(mktemp -d "/tmp/${prefix}XXXXXX")

# PIDs of the processes running inside our namespaces: all started by us.
ns_pids()
{
	local ns

	for ns in "$nsa" "$nsb"; do
		[ -e "/run/netns/$ns" ] && ip netns pids "$ns" 2>/dev/null
	done
	return 0
}

cleanup()
{
	local rc=$? left i

	trap - EXIT INT TERM ERR
	set +e
	mapfile -t left < <(ns_pids)
	[ ${#left[@]} -gt 0 ] && kill -TERM "${left[@]}" 2>/dev/null
	for i in $(seq 20); do
		mapfile -t left < <(ns_pids)
		[ ${#left[@]} -eq 0 ] && break
		sleep 0.05
	done
	[ ${#left[@]} -gt 0 ] && kill -KILL "${left[@]}" 2>/dev/null
	wait 2>/dev/null
	for ns in "$nsa" "$nsb"; do
		[ -e "/run/netns/$ns" ] && ip netns del "$ns"
	done
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "$prog: command failed (line $LINENO)" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

ina() { ip netns exec "$nsa" "$@"; }

# Run in the background in namespace $1 (cleanup stops it if need be).
spawn()
{
	local ns=$1

	shift
	ip netns exec "$ns" "$@" &
}

# --- VLAN tagging ----------------------------------------------------
#
# Tagged frames come from a tc BPF program rather than from VLAN devices, so
# that this also works on kernels built without 802.1Q support.  On egress
# it tags by subnet (10.77.42.0/24, fd77:42::/64: 802.1Q 42; 10.77.43.0/24,
# fd77:43::/64: 802.1ad 100 over 802.1Q 43), using the ARP target address
# and the neighbour discovery target where the destination does not tell;
# on ingress it strips the tags again.  tcpdump sees the frames after the
# egress program and before the ingress one, that is, as on the wire.

cat >"$tmp/vlan-egress.c" <<'END_OF_PROGRAM'
/* The leading fields of struct __sk_buff (stable UAPI). */
struct __sk_buff {
	unsigned int len, pkt_type, mark, queue_mapping, protocol;
	unsigned int vlan_present, vlan_tci, vlan_proto;
};

static long (*skb_vlan_push)(void *skb, unsigned short proto, unsigned short tci) = (void *)18;
static long (*skb_load_bytes)(const void *skb, unsigned int off, void *to,
			      unsigned int len) = (void *)26;

#define SEC(n)	__attribute__((section(n), used))
#define BE16(x) __builtin_bswap16(x)

char _license[] SEC("license") = "GPL";

/* 42 for VLAN 42, 43 for QinQ 100/43, 0 for untagged. */
static int vlan_of(struct __sk_buff *skb)
{
	unsigned char a[16], b[1];

	if (skb->protocol == BE16(0x0800) || skb->protocol == BE16(0x0806)) {
		/* IPv4 destination or ARP target protocol address */
		if (skb_load_bytes(skb, skb->protocol == BE16(0x0800) ? 30 : 38, a, 4))
			return 0;
		if (a[0] == 10 && a[1] == 77 && (a[2] == 42 || a[2] == 43))
			return a[2];
		return 0;
	}
	if (skb->protocol != BE16(0x86dd) || skb_load_bytes(skb, 38, a, 16))
		return 0;
	/* neighbour solicitations and advertisements: use the target */
	if (!skb_load_bytes(skb, 20, b, 1) && b[0] == 58 && !skb_load_bytes(skb, 54, b, 1) &&
	    (b[0] == 135 || b[0] == 136) && skb_load_bytes(skb, 62, a, 16))
		return 0;
	if (a[0] == 0xfd && a[1] == 0x77 && a[2] == 0 && (a[3] == 0x42 || a[3] == 0x43) &&
	    !a[4] && !a[5] && !a[6] && !a[7])
		return a[3] == 0x42 ? 42 : 43;
	return 0;
}

SEC("tc") int vlan_egress(struct __sk_buff *skb)
{
	switch (vlan_of(skb)) {
	case 42:
		skb_vlan_push(skb, BE16(0x8100), 42);
		break;
	case 43:
		skb_vlan_push(skb, BE16(0x8100), 43);
		skb_vlan_push(skb, BE16(0x88a8), 100);
		break;
	}
	return 0; /* TC_ACT_OK */
}
END_OF_PROGRAM

cat >"$tmp/vlan-ingress.c" <<'END_OF_PROGRAM'
static long (*skb_vlan_pop)(void *skb) = (void *)19;

#define SEC(n) __attribute__((section(n), used))

char _license[] SEC("license") = "GPL";

SEC("tc") int vlan_ingress(void *skb)
{
	/* outer, then inner tag; no-ops on untagged frames */
	skb_vlan_pop(skb);
	skb_vlan_pop(skb);
	return 0; /* TC_ACT_OK */
}
END_OF_PROGRAM

for dir in egress ingress; do
	clang -O2 -target bpf -c "$tmp/vlan-$dir.c" -o "$tmp/vlan-$dir.o" ||
		die "cannot build the VLAN tagging program"
done

# --- topology ---------------------------------------------------------

ip netns add "$nsa"
ip netns add "$nsb"
ip link add name veth0 netns "$nsa" type veth peer name veth0 netns "$nsb"

for side in a b; do
	if [ $side = a ]; then ns=$nsa n=1; else ns=$nsb n=2; fi
	ip -n "$ns" link set lo up
	# Keep segmentation offload below 64 KiB frames so that every
	# captured record has a wire length that fits in 16 bits.
	ip -n "$ns" link set veth0 mtu 9000 gso_max_size 32768 gro_max_size 32768
	ip -n "$ns" addr add "10.77.0.$n/24" dev veth0
	ip -n "$ns" addr add "fd77::$n/64" dev veth0 nodad
	# VLAN 42 (MTU 1500) and QinQ 100/43 (MTU 1400) are subnets with
	# their own routes on the same link; the BPF program tags them.
	ip -n "$ns" addr add "10.77.42.$n/24" dev veth0 noprefixroute
	ip -n "$ns" addr add "fd77:42::$n/64" dev veth0 nodad noprefixroute
	ip -n "$ns" addr add "10.77.43.$n/24" dev veth0 noprefixroute
	ip -n "$ns" addr add "fd77:43::$n/64" dev veth0 nodad noprefixroute
	ip netns exec "$ns" tc qdisc add dev veth0 clsact
	ip netns exec "$ns" tc filter add dev veth0 egress bpf da obj "$tmp/vlan-egress.o" sec tc
	ip netns exec "$ns" tc filter add dev veth0 ingress bpf da obj "$tmp/vlan-ingress.o" sec tc

	# Answer broadcast and multicast pings; use IGMPv2 so that reports
	# go to the group address.
	ip netns exec "$ns" sh -c 'echo 0 >/proc/sys/net/ipv4/icmp_echo_ignore_broadcasts'
	ip netns exec "$ns" sh -c 'echo 2 >/proc/sys/net/ipv4/conf/all/force_igmp_version'
done

# Routes for the tagged subnets; they need the device up.
link_up()
{
	local ns=$1 n=$2

	ip -n "$ns" link set veth0 up
	ip -n "$ns" route add 10.77.42.0/24 dev veth0 src "10.77.42.$n" mtu 1500
	ip -n "$ns" route add fd77:42::/64 dev veth0 src "fd77:42::$n" mtu 1500
	ip -n "$ns" route add 10.77.43.0/24 dev veth0 src "10.77.43.$n" mtu 1400
	ip -n "$ns" route add fd77:43::/64 dev veth0 src "fd77:43::$n" mtu 1400
}
link_up "$nsa" 1

# --- capture ----------------------------------------------------------

pcap="$tmp/real.pcap"
ip netns exec "$nsa" tcpdump -i veth0 -s 262144 -U --immediate-mode -Z root -n \
	-w "$pcap" 2>"$tmp/tcpdump.err" &
tcpdump_pid=$!

for _ in $(seq 50); do
	grep -q 'listening on' "$tmp/tcpdump.err" 2>/dev/null && break
	kill -0 "$tcpdump_pid" 2>/dev/null || die "tcpdump failed: $(cat "$tmp/tcpdump.err")"
	sleep 0.1
done
grep -q 'listening on' "$tmp/tcpdump.err" || die "tcpdump did not start"

# Carrier comes up now: router solicitations, MLD reports, DAD for the
# link-local addresses all happen while we are listening.
link_up "$nsb" 2
sleep 0.3

# --- traffic ----------------------------------------------------------

# Payloads: an HTTP request and response, a DNS query, some bulk data.
printf 'GET /index.html HTTP/1.1\r\nHost: 10.77.0.2\r\nUser-Agent: capture-real\r\n\r\n' \
	>"$tmp/http-req"
{
	printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4000\r\n\r\n'
	for i in $(seq 100); do printf 'line %04d of the response body ......\n' "$i"; done
} >"$tmp/http-resp"
printf '\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01' \
	>"$tmp/dns-query"
head -c 60000 /dev/urandom >"$tmp/bulk"
printf 'SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n' >"$tmp/ssh-banner"

# TCP listeners in B: one connection each, send a reply, close after EOF.
listen()
{
	local addr=$1 port=$2 reply=$3

	spawn "$nsb" timeout 8 nc -N -l "$addr" "$port" <"$reply" >/dev/null
}
listen 10.77.0.2 80 "$tmp/http-resp"
listen 10.77.0.2 443 "$tmp/bulk"
listen 10.77.0.2 8080 "$tmp/http-resp"
listen 10.77.0.2 22 "$tmp/ssh-banner"
listen fd77::2 80 "$tmp/http-resp"
listen fd77::2 443 "$tmp/bulk"
listen fd77::2 22 "$tmp/ssh-banner"
listen 10.77.42.2 8080 "$tmp/http-resp"
listen 10.77.42.2 80 "$tmp/bulk"
listen fd77:42::2 443 "$tmp/http-resp"
listen 10.77.43.2 22 "$tmp/ssh-banner"
listen fd77:43::2 8080 "$tmp/http-resp"
# UDP: a DNS "server" that swallows queries (other ports get ICMP errors).
spawn "$nsb" timeout 8 nc -u -k -l 10.77.0.2 53 >/dev/null
spawn "$nsb" timeout 8 nc -u -k -l 10.77.42.2 53 >/dev/null

# Pings: neighbour resolution, small, odd sizes, jumbo, fragmented.
ina ping -q -c 3 -i 0.05 10.77.0.2 >/dev/null
ina ping -q -6 -c 3 -i 0.05 fd77::2 >/dev/null
for size in 0 1 8 56 100 1000 1472 1473 2000; do
	ina ping -q -c 1 -s "$size" -W 1 10.77.0.2 >/dev/null
	ina ping -q -6 -c 1 -s "$size" -W 1 fd77::2 >/dev/null
done
ina ping -q -c 2 -i 0.05 -s 8000 10.77.0.2 >/dev/null  # jumbo, unfragmented
ina ping -q -6 -c 2 -i 0.05 -s 8000 fd77::2 >/dev/null
ina ping -q -c 2 -i 0.05 -s 12000 10.77.0.2 >/dev/null # fragments of 9000
ina ping -q -6 -c 2 -i 0.05 -s 12000 fd77::2 >/dev/null
ina ping -q -c 30 -i 0.005 -p a5 10.77.0.2 >/dev/null
ina ping -q -6 -c 30 -i 0.005 -p 5a fd77::2 >/dev/null

# The same over VLAN 42 (MTU 1500) and QinQ 100/43 (MTU 1400).
ina ping -q -c 3 -i 0.05 10.77.42.2 >/dev/null
ina ping -q -6 -c 3 -i 0.05 fd77:42::2 >/dev/null
ina ping -q -c 2 -i 0.05 -s 3000 10.77.42.2 >/dev/null
ina ping -q -6 -c 2 -i 0.05 -s 3000 fd77:42::2 >/dev/null
ina ping -q -c 3 -i 0.05 10.77.43.2 >/dev/null
ina ping -q -6 -c 3 -i 0.05 fd77:43::2 >/dev/null
ina ping -q -c 2 -i 0.05 -s 2000 10.77.43.2 >/dev/null

# Broadcast and multicast pings (replies may or may not come).
ina ping -q -b -c 2 -i 0.05 -W 1 10.77.0.255 >/dev/null 2>&1 || true
ina ping -q -b -c 2 -i 0.05 -W 1 10.77.42.255 >/dev/null 2>&1 || true
ina ping -q -c 2 -i 0.05 -W 1 -I veth0 224.0.0.1 >/dev/null 2>&1 || true
ina ping -q -6 -c 2 -i 0.05 -W 1 ff02::1%veth0 >/dev/null 2>&1 || true

# Multicast group joins and leaves: IGMPv2 and MLD reports.
ip -n "$nsa" addr add 239.77.0.1/32 dev veth0 autojoin
ip -n "$nsa" addr add ff05::77/128 dev veth0 autojoin

# TCP: request, reply, orderly close; one bulk transfer each way.
connect()
{
	local addr=$1 port=$2 data=$3

	ina timeout 5 nc -N -w 3 "$addr" "$port" <"$data" >/dev/null || true
}
connect 10.77.0.2 80 "$tmp/http-req"
connect 10.77.0.2 443 "$tmp/http-req"
connect 10.77.0.2 8080 "$tmp/http-req"
connect 10.77.0.2 22 "$tmp/ssh-banner"
connect fd77::2 80 "$tmp/http-req"
connect fd77::2 443 "$tmp/bulk"
connect fd77::2 22 "$tmp/ssh-banner"
connect 10.77.42.2 8080 "$tmp/http-req"
connect 10.77.42.2 80 "$tmp/bulk"
connect fd77:42::2 443 "$tmp/http-req"
connect 10.77.43.2 22 "$tmp/ssh-banner"
connect fd77:43::2 8080 "$tmp/http-req"

# Refused connections: SYN answered by RST.
for port in 1024 1025 8081; do
	ina timeout 2 nc -z -w 1 10.77.0.2 "$port" 2>/dev/null || true
	ina timeout 2 nc -z -w 1 fd77::2 "$port" 2>/dev/null || true
done

# UDP datagrams: DNS queries, then ports nobody listens on.
# shellcheck disable=SC2016 # expanded by the inner shell
ina bash -c '
	for addr in 10.77.0.2 10.77.42.2 fd77::2 fd77:42::2 10.77.43.2; do
		for i in 1 2 3; do
			cat "$1" >"/dev/udp/$addr/53"
		done
		for port in 1024 1026 1030 5353 9; do
			printf "datagram to %s port %s" "$addr" "$port" >"/dev/udp/$addr/$port"
		done
	done
	printf "to everyone" >/dev/udp/10.77.0.255/1027
' udp "$tmp/dns-query" 2>/dev/null || true

# Leave the groups again and let the last replies arrive.
ip -n "$nsa" addr del 239.77.0.1/32 dev veth0
ip -n "$nsa" addr del ff05::77/128 dev veth0
sleep 0.3

# --- finish -----------------------------------------------------------

kill -INT "$tcpdump_pid"
wait "$tcpdump_pid" || die "tcpdump exited with an error: $(cat "$tmp/tcpdump.err")"

count=$(tcpdump -r "$pcap" -n 2>/dev/null | wc -l)
[ "$count" -ge "$MIN_PACKETS" ] ||
	die "only $count packets captured, want at least $MIN_PACKETS"
cp "$pcap" "$out"
echo "$prog: $count packets -> $out" >&2
