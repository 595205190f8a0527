#!/usr/bin/env python3
"""labdns.py ADDR - the lab's DNS resolver: answers A queries for www.lab
with 10.10.1.53 and every other query with NXDOMAIN, on ADDR:53/udp.
labdns.py --query NAME ADDR - one A query to the resolver at ADDR."""
import os
import socket
import sys

if sys.argv[1] == "--query":
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(1)
    name = b"".join(bytes([len(x)]) + x.encode() for x in sys.argv[2].split(".")) + b"\0"
    c.sendto(os.urandom(2) + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + name + b"\x00\x01\x00\x01",
             (sys.argv[3], 53))
    c.recvfrom(512)
    sys.exit(0)

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 53))
while True:
    q, peer = s.recvfrom(512)
    if len(q) < 17:
        continue
    i = 12  # the question's name
    labels = []
    while i < len(q) and q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode(errors="replace"))
        i += 1 + q[i]
    qend = i + 5
    qtype = int.from_bytes(q[i + 1:i + 3], "big")
    found = labels == ["www", "lab"] and qtype == 1
    flags = 0x8580 if found else 0x8583  # response, AA, RD, RA; NXDOMAIN
    head = q[:2] + flags.to_bytes(2, "big") + b"\x00\x01" + (b"\x00\x01" if found else b"\x00\x00") + b"\x00\x00\x00\x00"
    answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([10, 10, 1, 53]) if found else b""
    s.sendto(head + q[12:qend] + answer, peer)
