#!/usr/bin/env python3
"""text_packets.py OUT.pcap - frames for the text decoder's comparison with
tcpdump -nn -tt (tests/unit/text.sh): TCP conversations in both directions
(relative sequence numbers, options, SACK, flags, bad header lengths, cut
captures), HTTP/FTP/SMTP/SSH first lines, DNS over UDP and TCP (queries and
responses of many types, compression, EDNS, mDNS, malformed names). Each
frame is a classic pcap record; timestamps increase."""
import struct
import sys

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
A4, B4 = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
A6 = bytes.fromhex("fd000000000000000000000000000001")
B6 = bytes.fromhex("fd000000000000000000000000000002")

frames = []  # (frame bytes, caplen or None)


def ether(payload, v6=False):
    return MAC_B + MAC_A + struct.pack("!H", 0x86DD if v6 else 0x0800) + payload


def ip(src, dst, proto, payload, v6=False, total=None):
    if v6:
        hdr = struct.pack("!IHBB", 6 << 28, len(payload), proto, 64) + src + dst
    else:
        n = total if total is not None else 20 + len(payload)
        hdr = struct.pack("!BBHHHBBH", 0x45, 0, n, 1, 0x4000, 64, proto, 0) + src + dst
    return hdr + payload


def add(payload, v6=False, cap=None):
    frames.append((ether(payload, v6), cap))


def tcp(sp, dp, seq, ack, flags, opts=b"", data=b"", win=502, urg=0, doff=None):
    pad = (-len(opts)) % 4
    opts += b"\x01" * pad if opts and opts[-1:] != b"\x00" else b"\x00" * pad
    off = doff if doff is not None else (20 + len(opts)) // 4
    fl = sum({"F": 1, "S": 2, "R": 4, "P": 8, ".": 16, "U": 32, "E": 64, "W": 128}[c] for c in flags)
    return struct.pack("!HHIIBBHHH", sp, dp, seq, ack, off << 4, fl, win, 0, urg) + opts + data


def mss(v): return struct.pack("!BBH", 2, 4, v)
def ts(v, e): return struct.pack("!BBII", 8, 10, v, e)
def ws(v): return struct.pack("!BBB", 3, 3, v)


SACKOK, NOP, EOL = b"\x04\x02", b"\x01", b"\x00"


def sack(*blocks):
    return struct.pack("!BB", 5, 2 + 8 * len(blocks)) + b"".join(struct.pack("!II", s, e) for s, e in blocks)


def t4(seg, **kw): add(ip(A4, B4, 6, seg, **kw))
def t4r(seg, **kw): add(ip(B4, A4, 6, seg, **kw))


# An HTTP conversation, client port above the server's (tcpdump's "rev").
C, S = 1000000, 3000000000
syn_opts = mss(1460) + SACKOK + ts(100, 0) + NOP + ws(7)
t4(tcp(40000, 80, C, 0, "S", syn_opts, win=64240))
t4r(tcp(80, 40000, S, C + 1, "S.", syn_opts, win=65160))
t4(tcp(40000, 80, C + 1, S + 1, ".", NOP + NOP + ts(101, 200)))
req = b"GET /index.html HTTP/1.1\r\nHost: svc\r\nUser-Agent: curl/7.88.1\r\n\r\n"
t4(tcp(40000, 80, C + 1, S + 1, "P.", NOP + NOP + ts(102, 200), req))
t4r(tcp(80, 40000, S + 1, C + 1 + len(req), ".", NOP + NOP + ts(201, 102)))
resp = b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\nContent-Length: 20\r\n\r\n"
t4r(tcp(80, 40000, S + 1, C + 1 + len(req), "P.", NOP + NOP + ts(202, 102), resp))
t4r(tcp(80, 40000, S + 1 + len(resp), C + 1 + len(req), "P.", NOP + NOP + ts(203, 102), b"<html>hello</html>\r\n"))
t4(tcp(40000, 80, C + 1 + len(req), S + 1, ".", NOP + NOP + sack((S + 100, S + 200), (S + 300, S + 400))))
t4(tcp(40000, 80, C + 1 + len(req), S + 1, "P.", b"", b"GET /no-line-end"))
t4(tcp(40000, 80, C + 1 + len(req), S + 1, "P.", b"", b"GET /cr-only\rX\r\n"))
t4(tcp(40000, 80, C + 1 + len(req), S + 1, "P.", b"", b"FOO /not-a-method HTTP/1.1\r\n"))
t4(tcp(40000, 80, C + 1 + len(req), S + 1, "P.", b"", b"\x16\x03\x01binary"))
t4(tcp(40000, 80, C + 1 + len(req), S + 1, "U.", b"", b"x", urg=1))
t4(tcp(40000, 80, C + 1 + len(req), S + 1, ".EW"))
t4(tcp(40000, 80, C + 1 + len(req), S + 1, "F."))
t4r(tcp(80, 40000, S + 1, C + 2 + len(req), "R"))
t4r(tcp(80, 40000, S + 1, C + 2 + len(req), "R."))
# The same ports again: a SYN-ACK starts the numbering afresh.
t4(tcp(40000, 80, 77, 0, "S", mss(1460)))
t4r(tcp(80, 40000, 5000, 78, "S.", mss(1460)))
t4(tcp(40000, 80, 78, 5001, "P.", b"", b"HEAD / HTTP/1.0\r\n\r\n"))
# The client's port below the server's; equal ports (addresses decide).
t4(tcp(1000, 5000, 10, 20, ".", b"", b"abc"))
t4r(tcp(5000, 1000, 20, 13, "."))
t4(tcp(7000, 7000, 500, 600, "."))
t4r(tcp(7000, 7000, 600, 501, ".", b"", b"zz"))
# Options: unknown, md5, fast open, experimental, user timeout, bad, odd.
t4(tcp(2000, 3000, 1, 0, "S", struct.pack("!BBH", 99, 4, 0xABCD)))
t4(tcp(2000, 3000, 1, 0, "S", struct.pack("!BB", 19, 18) + bytes(range(16))))
t4(tcp(2000, 3000, 1, 0, "S", struct.pack("!BB", 34, 2)))
t4(tcp(2000, 3000, 1, 0, "S", struct.pack("!BB", 34, 10) + bytes(range(8))))
t4(tcp(2000, 3000, 1, 0, "S", struct.pack("!BBH", 254, 4, 0xF989)))
t4(tcp(2000, 3000, 1, 0, "S", struct.pack("!BBH", 254, 6, 0x1234) + b"ab"))
t4(tcp(2000, 3000, 1, 0, "S", struct.pack("!BBH", 28, 4, 0x8003)))
t4(tcp(2000, 3000, 1, 0, "S", struct.pack("!BBB", 2, 5, 5) + b"\x01\x01\x01"))
t4(tcp(2000, 3000, 1, 0, "S", struct.pack("!BB", 2, 1) + b"\x00\x00"))
t4(tcp(2000, 3000, 1, 0, "S", mss(1400) + EOL + b"\x02\x04\x05\xb4"))
t4(tcp(2000, 3000, 1, 0, "S", struct.pack("!BB", 5, 7) + b"12345"))
t4(tcp(2000, 3000, 1, 0, "S", struct.pack("!BB", 29, 6) + b"\x01\x02\xaa\xbb"))
t4(tcp(2000, 3000, 1, 0, "S", struct.pack("!BBH", 20, 4, 0x0107)))
t4(tcp(2000, 3000, 1, 0, "S", struct.pack("!BBI", 6, 6, 12345)))
# Header lengths the IP length cannot hold.
t4(tcp(2000, 3000, 1, 0, "S", doff=4))
t4(tcp(2000, 3000, 1, 0, "S", doff=15))
# Cut captures: inside the options, inside the header, inside a line.
frames.append((ether(ip(A4, B4, 6, tcp(2000, 3000, 1, 0, "S", syn_opts))), 14 + 20 + 26))
frames.append((ether(ip(A4, B4, 6, tcp(2000, 3000, 1, 0, "S", syn_opts))), 14 + 20 + 12))
frames.append((ether(ip(A4, B4, 6, tcp(2000, 3000, 1, 0, "S", syn_opts))), 14 + 20 + 2))
frames.append((ether(ip(A4, B4, 6, tcp(40000, 80, 5, 6, "P.", b"", req))), 14 + 20 + 20 + 10))
frames.append((ether(ip(A4, B4, 6, tcp(40000, 80, 5, 6, "P.", b"", b"GE"))), 14 + 20 + 21))
# Text protocols.
t4(tcp(50000, 22, 1, 1, "P.", b"", b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"))
t4(tcp(50000, 22, 1, 1, "P.", b"", b"\x00\x00\x01\x0c\x0a\x14binary"))
t4(tcp(50000, 22, 1, 1, "P.", b"", b"SSH-2.0-no-end"))
t4r(tcp(25, 50001, 1, 1, "P.", b"", b"220 mail.lab ESMTP Postfix\r\n"))
t4(tcp(50001, 25, 1, 1, "P.", b"", b"EHLO client\r\n"))
t4(tcp(50002, 21, 1, 1, "P.", b"", b"USER anonymous\r\n"))
t4r(tcp(21, 50002, 1, 1, "P.", b"", b"\x01binary\r\n"))
# IPv6.
t6 = lambda seg, rev=False: add(ip(B6, A6, 6, seg, True) if rev else ip(A6, B6, 6, seg, True), True)
t6(tcp(41000, 8080, 9, 0, "S", syn_opts))
t6(tcp(8080, 41000, 99, 10, "S.", syn_opts), True)
t6(tcp(41000, 8080, 10, 100, "P.", NOP + NOP + ts(5, 6), b"POST /api HTTP/1.1\r\nContent-Length: 0\r\n\r\n"))
t6(tcp(8080, 41000, 100, 52, "P.", b"", b"HTTP/1.1 404 Not Found\r\n\r\n"), True)


# DNS.
def name(n):
    if n == ".":
        return b"\x00"
    return b"".join(bytes([len(p)]) + p for p in n.encode().split(b".")) + b"\x00"


def rawname(labels):
    return b"".join(bytes([len(p)]) + p for p in labels) + b"\x00"


def dns(ident, flags, qs=(), ans=(), auth=(), add_=(), counts=None):
    body = b"".join(qs) + b"".join(ans) + b"".join(auth) + b"".join(add_)
    c = counts or (len(qs), len(ans), len(auth), len(add_))
    return struct.pack("!HHHHHH", ident, flags, *c) + body


def q(n, t=1, c=1):
    return (name(n) if isinstance(n, str) else n) + struct.pack("!HH", t, c)


def rr(n, t, data, c=1, ttl=300):
    return (name(n) if isinstance(n, str) else n) + struct.pack("!HHIH", t, c, ttl, len(data)) + data


def opt(size=1232, ext=0, do=False, options=b""):
    return b"\x00" + struct.pack("!HHBBHH", 41, size, ext, 0, 0x8000 if do else 0, len(options)) + options


def eo(code, data):
    return struct.pack("!HH", code, len(data)) + data


def udp(sp, dp, data, ulen=None):
    return struct.pack("!HHHH", sp, dp, ulen if ulen is not None else 8 + len(data), 0) + data


def u4(sp, dp, data, rev=False, **kw):
    add(ip(B4, A4, 17, udp(sp, dp, data, **kw)) if rev else ip(A4, B4, 17, udp(sp, dp, data, **kw)))


RD, RA, AA, TC, AD, CD, QR = 0x100, 0x80, 0x400, 0x200, 0x20, 0x10, 0x8000
u4(45000, 53, dns(0x1234, RD, [q("example.com")]))
u4(45000, 53, dns(2, RD, [q("example.com", 28)], add_=[opt(options=eo(10, bytes(8)))]))
for t in (15, 16, 33, 12, 65, 255, 6, 2, 99, 256, 1000):
    u4(45001, 53, dns(3 + t, RD | CD, [q("lab.example", t)]))
u4(45002, 53, dns(4, 0, [q("version.bind", 16, 3)]))
u4(45002, 53, dns(5, 0x2000 | RD, [q("zone.lab", 6)]))  # notify
u4(45002, 53, dns(6, 0x0800, [q("inv.lab")], ans=[rr("inv.lab", 1, A4)]))  # inverse query
u4(45002, 53, dns(7, RD | 0x40 | 0x3, [q("weird.lab")]))
u4(45002, 53, dns(8, RD, [q("a.lab"), q("b.lab")]))
u4(45002, 53, dns(9, RD, [], counts=(0, 0, 1, 0)))
# Responses.
ex = name("www.example.com")
ptr = lambda off: struct.pack("!H", 0xC000 | off)
u4(53, 45000, dns(0x1234, QR | RD | RA, [q(ex)], [
    rr(ptr(12), 5, name("web.example.net")),
    rr(name("web.example.net"), 1, bytes([93, 184, 216, 34])),
    rr(name("web.example.net"), 1, bytes([93, 184, 216, 35]))]), rev=True)
u4(53, 45000, dns(11, QR | RD | RA | AA | AD, [q("v6.lab", 28)], [rr(ptr(12), 28, A6)], add_=[opt(4096, do=True)]), rev=True)
u4(53, 45000, dns(12, QR | RD | RA, [q("mx.lab", 15)], [rr(ptr(12), 15, b"\x00\x0a" + name("mail.lab")), rr(ptr(12), 15, b"\x00\x14" + b"\x04mail" + ptr(12))]), rev=True)
u4(53, 45000, dns(13, QR | RD | RA, [q("txt.lab", 16)], [rr(ptr(12), 16, b"\x05hello\x0bwith \"q\" \x01\xff" + b"\x00")]), rev=True)
u4(53, 45000, dns(14, QR | RD | RA, [q("_sip._udp.lab", 33)], [rr(ptr(12), 33, struct.pack("!HHH", 10, 60, 5060) + name("sip.lab"))]), rev=True)
u4(53, 45000, dns(15, QR | RD | RA | 3, [q("nx.lab")], auth=[rr(name("lab"), 6, name("ns.lab") + name("host.lab") + bytes(20))]), rev=True)
u4(53, 45000, dns(16, QR | RD | 2, [q("fail.lab")]), rev=True)
u4(53, 45000, dns(17, QR | RD | RA | TC, [q("big.lab", 16)]), rev=True)
u4(53, 45000, dns(18, QR | RD | RA, [q("ext.lab")], add_=[opt(1232, ext=1)]), rev=True)
u4(53, 45000, dns(19, QR | RD | RA, [q("opts.lab")], add_=[opt(options=eo(10, bytes(range(24))) + eo(8, b"\x00\x01\x18\x00\x0a\x01\x02") + eo(12, bytes(5)) + eo(11, b"\x00\x96") + eo(9, b"\x00\x00\x0e\x10") + eo(14, b"\x00\x01\x00\x02") + eo(5, b"\x08\x0d\x63") + eo(6, b"\x02") + eo(7, b"\x01") + eo(3, b"ns1") + eo(200, b""))]), rev=True)
u4(53, 45000, dns(20, QR | RD | RA, [q("opts2.lab")], [rr(ptr(12), 1, A4)], add_=[opt(options=eo(10, bytes(9)) + eo(8, b"\x00\x03\x00\x00") + eo(11, b"\x01"))]), rev=True)
u4(53, 45000, dns(21, QR | RA, [], counts=(0, 0, 0, 0)), rev=True)
u4(53, 45000, dns(22, QR | RA, [q("ptr.lab", 12)], [rr(ptr(12), 12, name("host.lab")), rr(ptr(12), 2, name("ns.lab")), rr(ptr(12), 39, name("dn.lab"))]), rev=True)
u4(53, 45000, dns(23, QR | RA, [q("odd.lab", 38)], [rr(ptr(12), 38, b"\x40" + bytes(8) + name("pre.lab")), rr(ptr(12), 256, b"\x00\x01\x00\x02http://x"), rr(ptr(12), 104, b"abc"), rr(ptr(12), 99, b"xyz"), rr(ptr(12), 1, A4, c=3)]), rev=True)
u4(53, 45000, dns(24, QR | RA, [q(rawname([b"we.ird", b"\x01ctl\x7f", b"\xe9t\xe9"]))], [rr(ptr(12), 1, A4)]), rev=True)
u4(53, 45000, dns(25, QR | RA, [q("loop.lab")], [rr(ptr(40), 1, A4)]), rev=True)  # a pointer forwards
u4(53, 45000, dns(26, QR | RA, [q(b"\x85bad\x00")]), rev=True)
u4(53, 45000, dns(27, QR | RA, [q("two.lab"), q("three.lab")], [rr(ptr(12), 1, A4)]), rev=True)
u4(53, 45000, dns(28, QR | RA, [q("short.lab")], [rr(ptr(12), 1, A4)], counts=(1, 3, 0, 0)), rev=True)
u4(53, 45000, dns(29, QR | RA | 0x2800, [q("up.lab")]), rev=True)  # opcode 5, response
u4(53, 45000, dns(34, QR | RA, [q("edns.lab")], [opt(options=eo(10, bytes(range(24))) + eo(8, b"\x00\x01\x18\x00\x0a\x01\x02") + eo(12, bytes(5)) + eo(11, b"\x00\x96") + eo(9, b"\x00\x00\x0e\x10") + eo(14, b"\x00\x01\x00\x02") + eo(5, b"\x08\x0d\x63") + eo(6, b"\x02") + eo(7, b"\x01") + eo(3, b"ns1") + eo(200, b"")), opt(512, do=True, options=eo(10, bytes(9)) + eo(8, b"\x00\x03\x00\x00") + eo(11, b"\x01") + eo(14, b"\x01")), opt(options=eo(8, b"\x00\x02\x38\x00\xfd\x00\x00\x00\x00\x00\x00"))]), rev=True)
u4(53, 45000, dns(35, QR | RA, [q("bad.lab")], [rr(ptr(12), 5, ptr(200)), rr(ptr(12), 5, b"\x85abc\x00"), rr(ptr(12), 5, b"\x41\x00")]), rev=True)
u4(53, 45000, dns(36, QR | RA, [q("bad2.lab")], [rr(ptr(12), 5, b"\x45abc\x00")]), rev=True)
u4(45004, 53, dns(37, RD, [q(b"\xc0\x0c")]))
u4(53, 45000, b"\x00\x01\x02")
u4(53, 45000, dns(30, 0, [q("x.lab")]), ulen=7)
frames.append((ether(ip(B4, A4, 17, udp(53, 45000, dns(31, QR | RA, [q("cut.lab")], [rr(ptr(12), 1, A4), rr(ptr(12), 28, A6)])))), 14 + 20 + 8 + 12 + 13 + 12 + 8))
frames.append((ether(ip(B4, A4, 17, udp(53, 45000, dns(32, QR | RA, [q("cut.lab")])))), 14 + 20 + 8 + 6))
long_name = ".".join(["a" * 60] * 5)
u4(45003, 53, dns(33, RD, [q(long_name)]))
# mDNS, and DNS over IPv6 and over TCP.
u4(5353, 5353, dns(0, 0, [q("_ipp._tcp.local", 12, 0x8001), q("printer.local", 1, 1)]))
u4(5353, 5353, dns(0, QR | AA, [], [rr("printer.local", 1, A4, c=0x8001), rr("printer.local", 28, A6, c=1)]))
add(ip(A6, B6, 17, udp(45100, 53, dns(40, RD, [q("six.lab", 28)])), True), True)
dq = dns(41, RD, [q("tcp.lab", 252)])
t4(tcp(45200, 53, 1, 1, "P.", b"", struct.pack("!H", len(dq)) + dq))
t4(tcp(45200, 53, 1, 1, "P.", b"", struct.pack("!H", len(dq) + 5) + dq))
t4(tcp(45200, 53, 1, 1, "P.", b"", b"\x00"))
# Other protocols, and a later IPv4 fragment.
add(ip(A4, B4, 253, b"\x00" * 12))
add(ip(A6, B6, 253, b"\x00" * 12, True), True)
add(struct.pack("!BBHHHBBH", 0x45, 0, 28, 1, 10, 64, 17, 0) + A4 + B4 + bytes(8))

with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    for i, (fr, cap) in enumerate(frames):
        c = len(fr) if cap is None else min(cap, len(fr))
        f.write(struct.pack("<IIII", 1700000000 + i, 1000 * i, c, len(fr)) + fr[:c])
