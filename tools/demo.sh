#!/usr/bin/env bash
# demo.sh BUILD_DIR - the filter pipeline end to end on real traffic: capture
# ping/TCP/UDP/VLAN traffic between two network namespaces with tcpdump, then
# for a few tcpdump expressions compile (libpcap, as the server does),
# validate and translate (as the device does), run the eBPF in the kernel on
# every captured packet, and compare with tcpdump's own filtering.
set -euo pipefail
build=$1
top=$(cd "$(dirname "$0")/.." && pwd)
ec=$build/tools/edgecap
out=${EDGECAP_DEMO_DIR:-/tmp/edgecap-demo}
mkdir -p "$out"

echo "== capturing real traffic in network namespaces"
"$top/tests/corpus/capture-real.sh" "$out/traffic.pcap"
capinfos -c -u "$out/traffic.pcap" | sed 's/^/   /'

for e in 'icmp or icmp6' 'tcp port 80' 'vlan 42 and udp' 'ip[6:2] & 0x3fff != 0' \
	'tcp[tcpflags] & (tcp-syn|tcp-fin) != 0' 'ip6 and not icmp6'; do
	echo
	echo "== $e"
	"$ec" filter compile "$e" > "$out/prog.ddd"
	echo "   classic BPF: $(head -1 "$out/prog.ddd") instructions (tcpdump -ddd format, byte-identical)"
	"$ec" filter check < "$out/prog.ddd" && echo "   validated"
	echo "   eBPF (XDP): $("$ec" filter translate --ddd "$out/prog.ddd" | wc -l) instructions"
	result=$("$ec" filter run --ddd "$out/prog.ddd" -r "$out/traffic.pcap" -w "$out/match.pcap" 2>&1)
	ref=$(tcpdump -r "$out/traffic.pcap" "$e" 2>/dev/null | wc -l)
	echo "   kernel: $result; tcpdump: $ref matched"
	tcpdump -nn -r "$out/match.pcap" 2>/dev/null | head -3 | sed 's/^/     /'  || true # head closes the pipe early
done
echo
echo "captures kept in $out"
