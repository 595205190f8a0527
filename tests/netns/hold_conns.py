#!/usr/bin/env python3
"""hold_conns.py HOST PORT idle|body SECONDS SRC:COUNT... - open COUNT
connections to HOST:PORT from each source address SRC, in the order given,
and hold them for SECONDS. idle: nothing sent; body: a POST whose head is
sent with 2 bytes of a body of 100000, so the server waits for the rest
with a request in progress. One second after the last is opened, prints a
line per source:

  SRC open=N closed=M failed=K

open: still open; closed: ended by the server; failed: no connection within
2 s. Every socket is closed on exit, whatever happens."""
import select
import socket
import sys
import time

host, port, mode, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
BODY = b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nab"
start = time.monotonic()
conns = {}
failed = {}
try:
    for spec in sys.argv[5:]:
        src, count = spec.rsplit(":", 1)
        conns[src], failed[src] = [], 0
        for _ in range(int(count)):
            try:
                s = socket.create_connection((host, port), timeout=2, source_address=(src, 0))
                if mode == "body":
                    s.sendall(BODY)
                conns[src].append(s)
            except OSError:
                failed[src] += 1
    time.sleep(1)
    for src, socks in conns.items():
        closed = 0
        for s in socks:
            readable, _, _ = select.select([s], [], [], 0)
            if readable:
                try:
                    closed += s.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    closed += 1
        print("%s open=%d closed=%d failed=%d" % (src, len(socks) - closed, closed, failed[src]),
              flush=True)
    time.sleep(max(0, start + seconds - time.monotonic()))
finally:
    for socks in conns.values():
        for s in socks:
            s.close()
