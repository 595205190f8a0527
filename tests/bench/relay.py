#!/usr/bin/env python3
"""relay.py LISTEN_PORT UPSTREAM_PORT - a plain TCP relay on 127.0.0.1.

The floor of any server that passes a stream on: every byte read from one
socket into a buffer in user space and written to the other, 2 MiB at a
time, nothing parsed. The stream benchmark puts it between h2o and curl to
show what one such hop costs on the machine. Prints "ready" once listening;
serves connections until killed.
"""
import socket
import sys
import threading

BUF = 2 << 20


def pump(src, dst):
    buf = bytearray(BUF)
    view = memoryview(buf)
    try:
        while True:
            n = src.recv_into(buf)
            if not n:
                break
            dst.sendall(view[:n])
    except OSError:
        pass
    for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
        try:
            s.shutdown(how)
        except OSError:
            pass


def serve(client, port):
    with client, socket.create_connection(("127.0.0.1", port)) as up:
        back = threading.Thread(target=pump, args=(up, client))
        back.start()
        pump(client, up)
        back.join()


def main():
    listen, upstream = int(sys.argv[1]), int(sys.argv[2])
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen))
    srv.listen(16)
    print("ready", flush=True)
    while True:
        client, _ = srv.accept()
        threading.Thread(target=serve, args=(client, upstream), daemon=True).start()


if __name__ == "__main__":
    main()
