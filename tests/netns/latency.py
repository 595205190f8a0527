#!/usr/bin/env python3
"""latency.py FILE N ADDR PORT - send N one-byte UDP datagrams to ADDR:PORT,
each once FILE has stopped growing, and print how long FILE took to grow after
each (median and maximum, ms): the time from a packet on the wire to its bytes
in a capture file."""
import os
import socket
import sys
import time

path, n, addr, port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
lat = []
for i in range(n):
    size = os.path.getsize(path)
    t0 = time.monotonic()
    s.sendto(b"x", (addr, port))
    while os.path.getsize(path) == size:
        if time.monotonic() - t0 > 2:
            break
        time.sleep(0.00005)
    lat.append((time.monotonic() - t0) * 1000)
    time.sleep(0.0137 * (1 + i % 5))  # not in step with any timer
lat.sort()
print("%.2f %.2f" % (lat[len(lat) // 2], lat[-1]))
