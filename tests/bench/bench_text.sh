#!/usr/bin/env bash
# bench_text.sh EDGECAP - the text output's lines per second against
# `tcpdump -r FILE -nn -tt > /dev/null` on the same file, best of REPS:
#   finished file   edgecap merge --text FILE: one input, read as the server
#                   reads a finished capture's file (the printer reads the
#                   file itself; edgecap reads it too, for the packets'
#                   devices, and puts each line back with its device)
#   live stream     the same bytes through a pipe (cat FILE | edgecap merge
#                   --text --no-dedup /dev/stdin): as a running capture's text
#                   is fed (--no-dedup: the corpora repeat frames, which the
#                   merger would hash for nothing with one input)
# Corpora (generated, in a temporary directory): "mixed", the 113 crafted
# frames of tests/unit/text_packets.py (TCP conversations, HTTP, DNS, ...)
# repeated to PACKETS packets; "udp 1514", PACKETS full-size UDP frames.
# Environment: PACKETS (default 300000), REPS (default 3).
set -euo pipefail
ec=$(realpath "$1")
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/bench/record.sh"
PACKETS=${PACKETS:-300000} REPS=${REPS:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 "$top/tests/unit/text_packets.py" "$tmp/seed.pcap"
python3 - "$tmp/seed.pcap" "$tmp/mixed.pcap" "$tmp/udp.pcap" "$PACKETS" << 'EOF2'
import struct, sys
seed, mixed, udp, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
d = open(seed, "rb").read()
hdr, recs, off = d[:24], [], 24
while off + 16 <= len(d):
    cap, wire = struct.unpack_from("<II", d, off + 8)
    recs.append((d[off + 8:off + 16], d[off + 16:off + 16 + cap]))
    off += 16 + cap
def write(path, frames):
    with open(path, "wb") as f:
        f.write(hdr)
        for i in range(n):
            lens, fr = frames(i)
            f.write(struct.pack("<II", 1700000000 + i // 1000000, i % 1000000) + lens + fr)
write(mixed, lambda i: recs[i % len(recs)])
eth = bytes.fromhex("020000000002020000000001") + b"\x08\x00"
ip = struct.pack("!BBHHHBBH", 0x45, 0, 1500, 1, 0x4000, 64, 17, 0) + bytes([10, 0, 0, 1, 10, 0, 0, 2])
frame = eth + ip + struct.pack("!HHHH", 40000, 5001, 1480, 0) + bytes(1472)
write(udp, lambda i: (struct.pack("<II", len(frame), len(frame)), frame))
EOF2

ms() { best_ms "$REPS" "$@"; }
rate() { echo $(($1 * 1000 / $2)); } # LINES MS
piped() { cat "$1" | "$ec" merge --text --no-dedup /dev/stdin; }

printf '| corpus | packets | tcpdump -nn -tt lines/s | finished file lines/s | ratio | live stream lines/s | ratio |\n'
printf '|---|---:|---:|---:|---:|---:|---:|\n'
for c in mixed udp; do
	f=$tmp/$c.pcap
	lines=$("$ec" merge --text "$f" 2> /dev/null | wc -l)
	[ "$lines" = "$(tcpdump -r "$f" -nn -tt 2> /dev/null | wc -l)" ] ||
		{ echo "bench text: $c: $lines lines, not tcpdump's" >&2; exit 1; }
	td=$(ms tcpdump -r "$f" -nn -tt)
	file=$(ms "$ec" merge --text "$f")
	live=$(ms piped "$f")
	name=$([ $c = udp ] && echo "udp 1514" || echo mixed)
	printf '| %s | %d | %d | %d | %.2f | %d | %.2f |\n' "$name" "$lines" "$(rate "$lines" "$td")" \
		"$(rate "$lines" "$file")" "$(awk "BEGIN {print $td / $file}")" \
		"$(rate "$lines" "$live")" "$(awk "BEGIN {print $td / $live}")"
	record bench=text case="$name, finished file" metric=lines/s ours="edgecap text (file)" \
		ours_value="$(rate "$lines" "$file")" peer="tcpdump -r -nn -tt" \
		peer_value="$(rate "$lines" "$td")" target="ratio>=1"
	record bench=text case="$name, live stream" metric=lines/s ours="edgecap text (stream)" \
		ours_value="$(rate "$lines" "$live")" peer="tcpdump -r -nn -tt" \
		peer_value="$(rate "$lines" "$td")"
done
