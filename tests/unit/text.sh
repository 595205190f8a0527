#!/usr/bin/env bash
# text.sh EDGECAP - the text decoder against tcpdump -nn -tt, line for line,
# on crafted frames (tests/unit/text_packets.py: TCP conversations and
# options, text protocols, DNS over UDP and TCP, malformed and cut packets),
# read through `edgecap merge --text`, the server's decoder offline.
set -uo pipefail
command -v tcpdump > /dev/null || { echo "SKIP: no tcpdump"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 "$(dirname "$0")/text_packets.py" "$tmp/in.pcap" || { echo "FAIL generating frames"; exit 1; }
tcpdump -nn -tt -r "$tmp/in.pcap" > "$tmp/tcpdump.txt" 2> /dev/null
# each of our lines starts with its input's name
if ! "$1" merge --text --no-dedup "$tmp/in.pcap" > "$tmp/ours.raw" 2> "$tmp/err"; then
	echo "FAIL edgecap merge --text: $(cat "$tmp/err")"
	exit 1
fi
cut -d' ' -f2- "$tmp/ours.raw" > "$tmp/ours.txt"
n=$(wc -l < "$tmp/tcpdump.txt")
if [ "$n" -ge 100 ] && diff -u "$tmp/tcpdump.txt" "$tmp/ours.txt" > "$tmp/diff" &&
	! grep -qv "^$tmp/in.pcap " "$tmp/ours.raw"; then
	echo "PASS text: $n lines equal tcpdump -nn -tt's (TCP, HTTP/FTP/SMTP/SSH, DNS, malformed)"
else
	echo "FAIL text: $n tcpdump lines; the first differences:"
	head -30 "$tmp/diff"
	exit 1
fi
