#!/usr/bin/env python3
"""vlan_frames.py IFACE DST_MAC COUNT TAGS PAYLOAD [PAD] - send COUNT Ethernet
frames out of IFACE through an AF_PACKET socket, carrying IPv4/UDP from
10.98.0.2 to 10.98.0.1 port 5555 with payload "PAYLOAD N" (with PAD: that
in 16 bytes, then the bytes 0, 1, ... PAD - 1), behind the VLAN tags TAGS: a
comma-separated list, outer first, of TPID:VID:PCP:DEI in hex:decimal (e.g.
"88a8:200:3:0,8100:100:5:1"), or "-" for none. The kernel gets the tags in the
frame; a receiving stack takes the outer one out of band."""
import socket
import struct
import sys


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def main():
    if len(sys.argv) not in (6, 7):
        sys.exit("usage: vlan_frames.py IFACE DST_MAC COUNT TAGS PAYLOAD [PAD]")
    iface, dst, count, tags, word = sys.argv[1:6]
    pad = int(sys.argv[6]) if len(sys.argv) == 7 else None
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    src = s.getsockname()[4]
    hdr = bytes.fromhex(dst.replace(":", "")) + src
    for t in [] if tags == "-" else tags.split(","):
        tpid, vid, pcp, dei = t.split(":")
        hdr += struct.pack("!HH", int(tpid, 16), int(pcp) << 13 | int(dei) << 12 | int(vid))
    hdr += b"\x08\x00"
    for i in range(1, int(count) + 1):
        data = ("%s %d" % (word, i)).encode()
        if pad is not None:
            data = data.ljust(16) + bytes(range(pad))
        udp = struct.pack("!HHHH", 40000, 5555, 8 + len(data), 0) + data
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i, 0, 64, 17, 0,
                         socket.inet_aton("10.98.0.2"), socket.inet_aton("10.98.0.1"))
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        s.send(hdr + ip + udp)


if __name__ == "__main__":
    main()
