#!/usr/bin/env python3
"""idlepoll.py HOST PORT SEED SERIAL_PREFIX N - N simulated devices, each
registered (serials PREFIX-0 .. PREFIX-(N-1), each with its own key:
sim_key(SEED, i), which the bench put in the registry) and then keeping one
poll parked on its own connection, as an idle device in HTTP mode does. Prints "parked N" once all are parked, then
holds them (re-parking any answered) until killed."""
import asyncio
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "netns"))
import mtun  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: E402


async def request(reader, writer, host, port, path, body, headers):
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    writer.write(head.encode() + body)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        k, _, v = line.decode().partition(":")
        if k.lower() == "content-length":
            length = int(v)
    return status, await reader.readexactly(length)


async def device(host, port, key, serial, gate, parked, total):
    async with gate:
        body, dh = mtun.registration(serial, key)
        r, w = await asyncio.open_connection(host, port)
        status, data = await request(r, w, host, port, "/tunnel/v1/register", body,
                                     {"Content-Type": "application/json"})
        w.close()
        if status != 200:
            sys.exit(f"{serial}: registration: {status} {data[:200]!r}")
        sess = mtun.session(json.loads(data), dh)
        r, w = await asyncio.open_connection(host, port)
    seq = 0
    while True:
        seq += 1
        poll = asyncio.ensure_future(request(r, w, host, port, "/tunnel/v1/poll", b"",
                                             mtun.poll_headers(sess, seq)))
        if seq == 1:
            await asyncio.sleep(0.05)  # the request is out; it waits at the server now
            parked[0] += 1
            if parked[0] == total:
                print(f"parked {total}", flush=True)
        await poll


def sim_key(seed, i):
    """The i-th simulated device's key: one per device, as the registry wants."""
    return ed25519.Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(f"{seed}-{i}".encode()).digest())


async def main(host, port, seed, prefix, n):
    gate = asyncio.Semaphore(128)
    parked = [0]
    await asyncio.gather(*(device(host, int(port), sim_key(seed, i), f"{prefix}-{i}", gate, parked,
                                  int(n)) for i in range(int(n))))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
