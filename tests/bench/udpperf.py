#!/usr/bin/env python3
"""udpperf.py - datagram rate and round trip, for bench tunnel.

  udpperf.py sink ADDR PORT SECONDS         count what arrives; print datagrams/s over the
                                            busiest SECONDS (after the first arrives)
  udpperf.py flood HOST PORT SECONDS SIZE   send SIZE-byte datagrams as fast as possible
  udpperf.py echo ADDR PORT                 send every datagram back
  udpperf.py rtt HOST PORT COUNT            one at a time; print p50 and p99 in ms
"""
import socket
import sys
import time

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux; not in every Python


def sink(addr, port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)  # past rmem_max
    s.bind((addr, int(port)))
    print("ready", flush=True)
    s.recv(2048)
    n, t0, end = 0, time.monotonic(), time.monotonic() + float(seconds)
    s.settimeout(1)
    try:
        while time.monotonic() < end:
            s.recv(2048)
            n += 1
    except socket.timeout:
        pass
    print(f"{n / (time.monotonic() - t0):.0f}")


def flood(host, port, seconds, size):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((host, int(port)))
    payload, end = b"x" * int(size), time.monotonic() + float(seconds)
    while time.monotonic() < end:
        for _ in range(256):
            try:
                s.send(payload)
            except OSError:  # a full queue or a transient route error: keep offering
                pass


def echo(addr, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    print("ready", flush=True)
    while True:
        d, peer = s.recvfrom(2048)
        s.sendto(d, peer)


def rtt(host, port, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((host, int(port)))
    s.settimeout(2)
    times = []
    for i in range(int(count)):
        t0 = time.perf_counter()
        s.send(b"%d" % i)
        try:
            while int(s.recv(64)) != i:
                pass
        except socket.timeout:
            continue
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    if not times:
        print("- -")
        return
    print(f"{times[len(times) // 2]:.3f} {times[min(len(times) - 1, len(times) * 99 // 100)]:.3f}")


if __name__ == "__main__":
    cmds = {"sink": sink, "flood": flood, "echo": echo, "rtt": rtt}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])
