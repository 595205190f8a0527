#!/usr/bin/env bash
# text.sh EDGECAP - the text output against tcpdump -nn -tt, line for line,
# on crafted frames (tests/unit/text_packets.py: TCP conversations and
# options, text protocols, DNS over UDP and TCP, malformed and cut packets),
# read through `edgecap merge --text` (tcpdump's printers, each line put back
# with its input and in order, as the server does).
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

# Two link types in one stream: a printer each, the lines back in the
# stream's order. raw.pcap: the IP frames without their Ethernet header
# (LINKTYPE_RAW), each 0.5 ms after its twin.
python3 - "$tmp/in.pcap" "$tmp/raw.pcap" << 'EOF2'
import struct, sys
d = open(sys.argv[1], "rb").read()
out = [struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 101)]
off = 24
while off + 16 <= len(d):
    sec, usec, cap, wire = struct.unpack_from("<IIII", d, off)
    fr = d[off + 16:off + 16 + cap]
    off += 16 + cap
    if cap >= 34 and fr[12:14] in (b"\x08\x00", b"\x86\xdd"):
        out.append(struct.pack("<IIII", sec, usec + 500, cap - 14, wire - 14) + fr[14:])
open(sys.argv[2], "wb").write(b"".join(out))
EOF2
tcpdump -nn -tt -r "$tmp/raw.pcap" > "$tmp/raw.txt" 2> /dev/null
"$1" merge --text --no-dedup "$tmp/in.pcap" "$tmp/raw.pcap" > "$tmp/both.raw" 2> "$tmp/err"
if [ "$(wc -l < "$tmp/raw.txt")" -ge 90 ] &&
	[ "$(grep "^$tmp/in.pcap " "$tmp/both.raw" | cut -d' ' -f2-)" = "$(cat "$tmp/tcpdump.txt")" ] &&
	[ "$(grep "^$tmp/raw.pcap " "$tmp/both.raw" | cut -d' ' -f2-)" = "$(cat "$tmp/raw.txt")" ] &&
	cut -d' ' -f2 "$tmp/both.raw" | sort -c -g 2> /dev/null; then
	echo "PASS text: Ethernet and raw IP in one stream, each as tcpdump prints it, in time order"
else
	echo "FAIL text: two link types: $(cat "$tmp/err"; diff <(grep "^$tmp/raw.pcap " "$tmp/both.raw" | cut -d' ' -f2-) "$tmp/raw.txt" | head -5)"
	exit 1
fi

# LINUX_SLL2 (-i any) records whose interface blocks are one interface of a
# device each (DEVICE:IFACE, as the server's merged stream names them): the
# line names the interface as tcpdump -i any on the device does, where the
# reader's tcpdump prints its own name for the header's index ("?" for
# 4242, an index no interface here has). Left as tcpdump's: a block named
# "any" (the CLI's: every interface in one), a record too short for the
# header. Read as a file (one printer reads it) and as a stream of two.
python3 - "$tmp/sll2.pcapng" "$tmp/sll2.names" << 'EOF2'
import struct, sys
def block(t, body):
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", t, len(body) + 12) + body + struct.pack("<I", len(body) + 12)
def opt(code, v):
    return struct.pack("<HH", code, len(v)) + v + b"\0" * (-len(v) % 4)
ifaces = ["gw1:va", "gw2:longname0", "gw3:any", "gw1:eth1"]
out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
for n in ifaces:
    out.append(block(1, struct.pack("<HHI", 276, 0, 262144) + opt(2, n.encode()) + opt(0, b"")))
names = []
for i in range(24):
    f = i % 4
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + 4, i, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1 + f]), bytes([10, 0, 0, 9]))
    pkt = ip + struct.pack("!HHHH", 1000 + i, 5001, 12, 0) + b"seq!"
    hdr = struct.pack("!HHIHBB8s", 0x0800, 0, 4242, 1, 4 if i % 3 else 0, 6, b"\x02" * 6)
    rec = hdr + pkt
    cut = 12 if i == 5 else len(rec)
    ts = (1700000000 * 1000000 + i * 1000)
    out.append(block(6, struct.pack("<IIIII", f, ts >> 32, ts & 0xffffffff, cut, len(rec)) + rec[:cut]))
    names.append("-" if i == 5 or ifaces[f].endswith(":any") else ifaces[f].split(":")[-1])
open(sys.argv[1], "wb").write(b"".join(out))
open(sys.argv[2], "w").write("\n".join(names) + "\n")
EOF2
tcpdump -nn -tt -r "$tmp/sll2.pcapng" 2> /dev/null |
	paste -d'\t' "$tmp/sll2.names" - |
	awk -F'\t' '{ l = $2; if ($1 != "-" && sub(/^[0-9.]+ \?     /, "", l)) { split($2, t, " ")
		printf "%s %-5s %s\n", t[1], $1, l } else print $2 }' > "$tmp/sll2.want"
"$1" merge --text --no-dedup "$tmp/sll2.pcapng" > "$tmp/sll2.raw" 2> "$tmp/err"
cut -d' ' -f2- "$tmp/sll2.raw" > "$tmp/sll2.txt"
cp "$tmp/sll2.pcapng" "$tmp/sll2b.pcapng"
"$1" merge --text --no-dedup "$tmp/sll2.pcapng" "$tmp/sll2b.pcapng" 2> /dev/null |
	grep "^$tmp/sll2b.pcapng " | cut -d' ' -f2- > "$tmp/sll2b.txt"
if [ "$(wc -l < "$tmp/sll2.want")" = 24 ] && [ "$(grep -c '?     In  IP' "$tmp/sll2.want")" = 2 ] &&
	[ "$(grep -c ' longname0 Out IP 10.0.0.2.1' "$tmp/sll2.want")" = 3 ] &&
	[ "$(grep -c ' va    In  IP 10.0.0.1.1' "$tmp/sll2.want")" = 2 ] &&
	[ "$(grep -c ' \[|sll2\]$' "$tmp/sll2.want")" = 1 ] &&
	cmp -s "$tmp/sll2.want" "$tmp/sll2.txt" && cmp -s "$tmp/sll2.want" "$tmp/sll2b.txt"; then
	echo "PASS text: LINUX_SLL2 records name their interface from its block, as tcpdump -i any on the device"
else
	echo "FAIL text: LINUX_SLL2 names: $(cat "$tmp/err"; diff "$tmp/sll2.want" "$tmp/sll2.txt" | head -5; diff "$tmp/sll2.want" "$tmp/sll2b.txt" | head -5)"
	exit 1
fi

# A printer that takes a packet and never prints it is killed, and said so.
# (Root runs the printer as tcpdump's user: the stand-ins must be its to run.)
chmod 755 "$tmp"
mkdir "$tmp/bin"
printf '#!/bin/sh\nexec sleep 60\n' > "$tmp/bin/tcpdump"
chmod +x "$tmp/bin/tcpdump"
start=$SECONDS
PATH="$tmp/bin:$PATH" "$1" merge --text "$tmp/in.pcap" > /dev/null 2> "$tmp/err"
st=$?
if [ $st != 0 ] && grep -q "tcpdump ended (killed by signal 9) before it printed packet 1 " "$tmp/err" &&
	[ $((SECONDS - start)) -lt 30 ]; then
	echo "PASS text: a stuck printer is killed after 10 s and named"
else
	echo "FAIL text: stuck printer: status $st after $((SECONDS - start)) s: $(cat "$tmp/err")"
	exit 1
fi

# The printer has no network: every call that makes a socket fails (a
# stand-in for tcpdump tries them all, in the printer's confinement); and
# no privileges: root's printer runs as tcpdump's user, without capabilities.
mkdir "$tmp/bin2"
cat > "$tmp/bin2/tcpdump" << 'EOF2'
#!/usr/bin/env python3
import ctypes, errno, socket
def attempt(name, make):
    try:
        make()
        print(name, "made")
    except OSError as e:
        print(name, errno.errorcode.get(e.errno, e.errno))
attempt("inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
attempt("inet6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM))
attempt("unix", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
attempt("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))
attempt("packet", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))
attempt("pair", lambda: socket.socketpair())
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
def uring():
    if libc.syscall(425, 4, params) < 0:  # io_uring_setup: IORING_OP_SOCKET
        raise OSError(ctypes.get_errno(), "io_uring_setup")
attempt("io_uring", uring)
st = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
print("uid", st["Uid"].split()[0], "caps", st["CapEff"].strip(), "no-new-privs", st["NoNewPrivs"])
EOF2
chmod +x "$tmp/bin2/tcpdump"
PATH="$tmp/bin2:$PATH" "$1" merge --text "$tmp/in.pcap" > "$tmp/net.out" 2> "$tmp/err"
uid=$(id -u)
[ "$uid" != 0 ] || uid=$(id -u tcpdump 2> /dev/null || echo 0)
want="inet EACCES
inet6 EACCES
unix EACCES
netlink EACCES
packet EACCES
pair EACCES
io_uring EACCES
uid $uid caps 0000000000000000 no-new-privs 1"
if [ "$(cat "$tmp/net.out")" = "$want" ]; then
	echo "PASS text: the printer makes no socket (IPv4, IPv6, Unix, netlink, packet, pair, io_uring), runs as uid $uid without capabilities"
else
	echo "FAIL text: the printer's network: $(cat "$tmp/net.out" "$tmp/err")"
	exit 1
fi
