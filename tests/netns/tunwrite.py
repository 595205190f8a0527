#!/usr/bin/env python3
"""tunwrite.py IFNAME COUNT [PAD] - attach to the tun device IFNAME (IFF_TUN,
no packet information), write COUNT IPv4 UDP datagrams 10.77.0.2:4000 ->
10.77.0.1 ports 5001 and 5002 in turn (payload "seq N" and (N * 37) % PAD
dots), which the kernel takes as received on IFNAME; then stay attached, so
the device keeps its carrier and what the kernel sends out is taken off it,
until standard input closes."""
import fcntl
import os
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def datagram(i, pad):
    payload = ("seq %d " % i).encode() + b"." * ((i * 37) % pad if pad else 0)
    src, dst = bytes([10, 77, 0, 2]), bytes([10, 77, 0, 1])
    port = 5001 + (i + 1) % 2
    udp = struct.pack("!HHHH", 4000, port, 8 + len(payload), 0) + payload
    pseudo = src + dst + struct.pack("!BBH", 0, 17, len(udp))
    c = csum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0x4000, 64, 17, 0,
                     src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + udp


def main():
    name, count = sys.argv[1], int(sys.argv[2])
    pad = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    sys.stdin.readline()  # "go"
    for i in range(1, count + 1):
        os.write(fd, datagram(i, pad))
    os.set_blocking(fd, False)
    while sys.stdin.readline():  # drain what goes out until told to end
        pass
    os.close(fd)


main()
