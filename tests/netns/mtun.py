#!/usr/bin/env python3
"""mtun.py - an independent implementation of a device's side of the mTunnel
(docs/tunnel.md), for the tunnel suite: registration, datagrams, polls. Each
subcommand is one check; it prints what failed and exits 1, or exits 0.

  mtun.py refusals URL SERIAL KEY OTHERKEY   forged, replayed, expired, unknown, malformed
  mtun.py code KEY                           print the key's claim code
  mtun.py announce URL SERIAL KEY            expect 202: the device waits to be claimed
  mtun.py register URL SERIAL KEY            expect 200 with the secret sealed for us (prints
                                             the status and error otherwise)
  mtun.py refused URL SERIAL KEY WORDS       expect 403/503 with WORDS in the error
  mtun.py polls URL SERIAL KEY HOLD_MS       poll authentication, framing errors, coalescing,
                                             a newer request completing the parked one, the
                                             hold timeout, keep-alive and non-keep-alive
  mtun.py udp URL SERIAL KEY UDPHOST:PORT    HELLO by UDP answered; a forged or replayed one
                                             is not
  mtun.py send HOST PORT COUNT RATE          COUNT datagrams "seq N", RATE per second
  mtun.py receive ADDR PORT COUNT SECONDS    expects exactly 1..COUNT, in order, once each
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import socket
import struct
import sys
import time
import urllib.parse

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux; not in every Python

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HELLO, HELLO_ACK, DATA, ACK = 1, 2, 3, 4


def fail(msg):
    print(msg)
    sys.exit(1)


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def raw_pub(pub):
    return base64.b64encode(pub.public_bytes(serialization.Encoding.Raw,
                                             serialization.PublicFormat.Raw)).decode()


def proof(serial, ts, nonce, tail):
    return f"edgecap-register\n{serial}\n{ts}\n{nonce}\n{tail}".encode()


def conn(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def post(c, path, body, headers=None):
    h = {"Content-Type": "application/octet-stream"}
    h.update(headers or {})
    c.request("POST", path, body=body, headers=h)
    r = c.getresponse()
    return r.status, r.read(), r


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def claim_code(key):
    """Sixteen base32 digits of SHA-256 of the key's signature over its claim."""
    pub = raw_pub(key.public_key())
    h = hashlib.sha256(key.sign(f"edgecap-claim\n{pub}".encode())).digest()
    bits = int.from_bytes(h, "big")
    d = "".join(CROCKFORD[(bits >> (256 - 5 * (i + 1))) & 31] for i in range(16))
    return "-".join(d[i:i + 4] for i in range(0, 16, 4))


def claim_hash(key):
    pub = raw_pub(key.public_key())
    code = claim_code(key).replace("-", "")
    return hashlib.sha256(f"edgecap-claim-code\n{pub}\n{code}".encode()).hexdigest()


def registration(serial, key, ts=None, nonce=None, signer=None, claim=True):
    """The body, and our X25519 key. Every word in it is signed (the tail)."""
    dh = x25519.X25519PrivateKey.generate()
    dhpub = raw_pub(dh.public_key())
    ts = int(time.time()) if ts is None else ts
    nonce = nonce or os.urandom(16).hex()
    words = {"pubkey": raw_pub(key.public_key()), "claim": claim_hash(key) if claim else "",
             "agent": "http://tunnel:8081"}
    tail = f"{dhpub}\n{words['pubkey']}\n{words['claim']}\n\n{words['agent']}\n0"
    sig = base64.b64encode((signer or key).sign(proof(serial, ts, nonce, tail))).decode()
    body = {"serial": serial, "ts": ts, "nonce": nonce, "dh": dhpub, "sig": sig}
    body.update({k: v for k, v in words.items() if v})
    return json.dumps(body).encode(), dh


def register(url, serial, key, **kw):
    """(status, answer, session) with session = (client, mac key) on 200."""
    body, dh = registration(serial, key, **kw)
    c = conn(url)
    status, data, _ = post(c, "/tunnel/v1/register", body, {"Content-Type": "application/json"})
    c.close()
    answer = json.loads(data)
    if status != 200:
        return status, answer, None
    return status, answer, session(answer, dh)


def session(answer, dh):
    """(client, mac key) from a registration's answer and our X25519 key."""
    shared = dh.exchange(x25519.X25519PublicKey.from_public_bytes(base64.b64decode(answer["dh"])))
    k = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"edgecap-mtun",
             info=f"client {answer['client']}".encode()).derive(shared)
    return answer["client"], k


def open_secret(answer, k):
    """The device's secret, sealed with a key made from the session key."""
    box = base64.b64decode(answer["secret"])
    bk = hmac.new(k, b"edgecap secret", hashlib.sha256).digest()
    return ChaCha20Poly1305(bk).decrypt(box[:12], box[12:], struct.pack(">I", answer["client"]))


def datagram_key(k):
    """The datagrams' ChaCha20-Poly1305 key, made from the session key."""
    return ChaCha20Poly1305(hmac.new(k, b"edgecap datagrams", hashlib.sha256).digest())


def seal(session, typ, seq, ack, payload=b""):
    """A device's datagram: direction 0, up; the header authenticated, the
    payload encrypted, the nonce the header's bytes but the client id."""
    client, k = session
    head = struct.pack(">BBBBIII", 2, typ, 0, 0, client, seq, ack)
    return head + datagram_key(k).encrypt(head[:4] + head[8:], payload, head)


def unseal(session, dg):
    client, k = session
    if len(dg) < 32:
        return None
    head = dg[:16]
    try:
        payload = datagram_key(k).decrypt(head[:4] + head[8:], dg[16:], head)
    except Exception:  # noqa: BLE001 - any failure to open is a refusal
        return None
    v, typ, direction, _, cl, seq, ack = struct.unpack(">BBBBIII", head)
    if direction != 1:  # the server's are down
        return None
    return typ, cl, seq, ack, payload


def frame(dgs):
    return b"".join(struct.pack(">H", len(d)) + d for d in dgs)


def unframe(body):
    out, off = [], 0
    while off < len(body):
        n = struct.unpack(">H", body[off:off + 2])[0]
        out.append(body[off + 2:off + 2 + n])
        off += 2 + n
    return out


def poll_headers(session, seq, sig=None, hold=None, signed_hold=None):
    """A poll's headers; hold: the device's own hold time (ms), signed with
    the rest (signed_hold: sign another one, as a meddler would)."""
    client, k = session
    text = f"poll\n{client:08x}\n{seq}"
    if hold is not None:
        text += f"\n{signed_hold if signed_hold is not None else hold}"
    tag = hmac.new(k, text.encode(), hashlib.sha256).digest()[:16]
    h = {"Edgecap-Client": f"{client:08x}", "Edgecap-Seq": str(seq),
         "Edgecap-Sig": sig or tag.hex()}
    if hold is not None:
        h["Edgecap-Hold"] = str(hold)
    return h


def expect(what, status, data, want, words=""):
    if status != want or words.encode() not in data:
        fail(f"{what}: want {want} '{words}', got {status} {data[:200]!r}")


def cmd_refusals(url, serial, keyfile, otherfile):
    key, other = load_key(keyfile), load_key(otherfile)
    status, a, _ = register(url, serial, key, signer=other)
    expect("forged", status, json.dumps(a).encode(), 403, "bad signature")
    body, _ = registration(serial, key)
    c = conn(url)
    s1, d1, _ = post(c, "/tunnel/v1/register", body)
    s2, d2, _ = post(c, "/tunnel/v1/register", body)
    expect("first of a pair", s1, d1, 200)
    expect("replayed", s2, d2, 403, "replayed")
    status, a, _ = register(url, serial, key, ts=int(time.time()) - 120)
    expect("expired", status, json.dumps(a).encode(), 403, "expired")
    status, a, _ = register(url, serial, other)
    expect("unknown key, announced", status, json.dumps(a).encode(), 202, "unclaimed")
    body, _ = registration(serial, other, claim=False)
    s, d, _ = post(c, "/tunnel/v1/register", body)
    expect("unknown key without a claim", s, d, 403, "unknown device")
    b = json.loads(body)
    b["claim"] = "<b>" + "0" * 61
    s, d, _ = post(c, "/tunnel/v1/register", json.dumps(b).encode())
    expect("bad claim", s, d, 400, "claim: ")
    # a word changed on the way (another claim hash, another agent): the
    # signature no longer holds
    body, _ = registration(serial, other)
    for k, v in (("claim", "0" * 64), ("agent", "http://tunnel:9999"), ("name", "evil")):
        b = json.loads(body)
        b[k] = v
        s, d, _ = post(c, "/tunnel/v1/register", json.dumps(b).encode())
        expect(f"{k} changed", s, d, 403, "bad signature")
    status, a, _ = register(url, serial + "-other", key)
    expect("another serial for a claimed key", status, json.dumps(a).encode(), 403,
           f"this key was claimed as '{serial}'")
    s, d, _ = post(c, "/tunnel/v1/register", b'{"serial": 1')
    expect("malformed", s, d, 400)
    s, d, _ = post(c, "/tunnel/v1/register", b'{"serial": "x"}')
    expect("incomplete", s, d, 400, "want {serial, ts, nonce, dh, sig, pubkey")
    # the connection survived each refusal
    status, a, _ = register(url, serial, key)
    expect("after refusals", status, json.dumps(a).encode(), 200)


def grant_text(serial, reg, a):
    """What the server signs of a grant (docs/tunnel.md)."""
    cert = hashlib.sha256(a.get("cert", "").encode()).hexdigest()
    return (f"edgecap-granted\n{serial}\n{reg['nonce']}\n{reg['dh']}\n{a['client']}\n"
            f"{a['dh']}\n{a['address']}\n{a['secret']}\n{cert}").encode()


def cmd_register(url, serial, keyfile):
    body, dh = registration(serial, load_key(keyfile))
    c = conn(url)
    status, data, _ = post(c, "/tunnel/v1/register", body, {"Content-Type": "application/json"})
    c.close()
    a = json.loads(data)
    expect("register", status, data, 200)
    sess = session(a, dh)
    # the grant, signed with the server's key
    pub = ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(a["server_key"]))
    try:
        pub.verify(base64.b64decode(a["sig"]), grant_text(serial, json.loads(body), a))
    except Exception as e:  # noqa: BLE001 - any failure to verify is the finding
        fail(f"the grant's signature does not verify: {e!r}")
    try:
        secret = open_secret(a, sess[1])
    except Exception as e:  # noqa: BLE001 - any failure to open is the finding
        fail(f"the secret does not open: {e!r}")
    if len(secret) != 32:
        fail(f"a secret of {len(secret)} bytes")
    # a flipped bit in the box: it must not open
    box = bytearray(base64.b64decode(a["secret"]))
    box[20] ^= 1
    try:
        open_secret(dict(a, secret=base64.b64encode(bytes(box)).decode()), sess[1])
        fail("a tampered secret opened")
    except Exception:  # noqa: BLE001
        pass


def cmd_code(keyfile):
    print(claim_code(load_key(keyfile)))


def cmd_announce(url, serial, keyfile):
    status, a, _ = register(url, serial, load_key(keyfile))
    expect("announce", status, json.dumps(a).encode(), 202, "unclaimed")


def cmd_refused(url, serial, keyfile, words):
    status, a, _ = register(url, serial, load_key(keyfile))
    if status not in (403, 503) or words not in a.get("error", ""):
        fail(f"want a refusal with '{words}', got {status} {a}")


def cmd_relay_forged(url, serial, keyfile, client, words):
    """A registration with a gateway's relay header whose MAC is not the
    gateway's: refused with words."""
    body, _ = registration(serial, load_key(keyfile))
    c = conn(url)
    status, data, _ = post(c, "/tunnel/v1/register", body,
                           {"Content-Type": "application/json", "Edgecap-Relay": client,
                            "Edgecap-Relay-Sig": "0" * 32})
    expect("forged relay", status, data, 403, words)


def cmd_polls(url, serial, keyfile, hold_ms):
    hold = int(hold_ms) / 1000
    status, a, sess = register(url, serial, load_key(keyfile))
    expect("register", status, json.dumps(a).encode(), 200)
    path = "/tunnel/v1/poll"
    c = conn(url)
    s, d, r = post(c, path, b"")
    expect("no signature", s, d, 401)
    if r.getheader("WWW-Authenticate") != "Edgecap-Tunnel":
        fail("401 without WWW-Authenticate: Edgecap-Tunnel")
    s, d, _ = post(c, path, b"", poll_headers(sess, 1, sig="0" * 32))
    expect("bad signature", s, d, 403, "bad signature")
    s, d, _ = post(c, path, b"", poll_headers((sess[0] ^ 1, sess[1]), 1))
    expect("unknown client", s, d, 401, "register again")
    seq = 1
    hello = seal(sess, HELLO, 1, 1, b"12345678")
    for what, body, words in (
            ("truncated length prefix", frame([hello]) + b"\x00", "truncated length prefix"),
            ("oversize", struct.pack(">H", 1433) + b"x" * 1433, "longer than the maximum"),
            ("garbage", b"GET / HTTP/1.1\r\n\r\n", "longer than the maximum"),
            ("truncated datagram", struct.pack(">H", 100) + b"x" * 10, "truncated datagram"),
            ("zero length", frame([hello]) + b"\x00\x00", "zero-length datagram"),
            ("another client's", frame([seal((sess[0] ^ 1, sess[1]), HELLO, 1, 1, b"x" * 8)]),
             "another client")):
        s, d, _ = post(c, path, body, poll_headers(sess, seq))
        seq += 1
        expect(what, s, d, 400, words)
    # the session survives: a HELLO in a poll comes back answered in its response
    t0 = time.time()
    s, d, _ = post(c, path, frame([hello]), poll_headers(sess, seq))
    expect("valid after errors", s, d, 200)
    got = [unseal(sess, x) for x in unframe(d)]
    if len(got) != 1 or not got[0] or got[0][0] != HELLO_ACK or got[0][4] != b"12345678":
        fail(f"want one HELLO_ACK echoing the HELLO, got {got}")
    if time.time() - t0 > hold / 2:
        fail("a poll with an answer waiting was held")
    s, d, _ = post(c, path, b"", poll_headers(sess, seq))
    expect("replayed request", s, d, 403, "replayed")
    # coalescing and a newer request completing the parked one
    seq += 1
    parked = conn(url)
    parked.request("POST", path, body=b"", headers=poll_headers(sess, seq))
    time.sleep(0.3)
    seq += 1
    newer = conn(url)
    hellos = [seal(sess, HELLO, 10 + i, 1, struct.pack(">Q", i)) for i in range(5)]
    t0 = time.time()
    newer.request("POST", path, body=frame(hellos), headers=poll_headers(sess, seq))
    r = parked.getresponse()
    d = r.read()
    got = [unseal(sess, x) for x in unframe(d)]
    if r.status != 200 or len(got) != 5 or any(g is None or g[0] != HELLO_ACK for g in got):
        fail(f"the parked request: want the 5 answers in one response, got {r.status} {got}")
    if time.time() - t0 > hold / 2:
        fail("the parked request was not completed by the newer one")
    for h in ("Content-Length", "Cache-Control"):
        if not r.getheader(h):
            fail(f"no {h} in a poll's response")
    # the newer one is parked now: answered empty after the hold time
    r = newer.getresponse()
    d = r.read()
    took = time.time() - t0
    if r.status != 200 or d or not (hold * 0.8 < took < hold + 1.5):
        fail(f"hold: want an empty 200 after {hold} s, got {r.status} {len(d)} B after {took:.1f} s")
    # a device's own, shorter hold (its settings), signed: answered empty
    # after it, before the server's
    if hold > 1.5:
        seq += 1
        own = conn(url)
        t0 = time.time()
        s, d, _ = post(own, path, b"", poll_headers(sess, seq, hold=1000))
        took = time.time() - t0
        if s != 200 or d or not (0.8 < took < hold - 0.1):
            fail(f"own hold: want an empty 200 after 1 s, got {s} {len(d)} B after {took:.1f} s")
        for h, want, words in ((poll_headers(sess, seq + 1, hold=1000, signed_hold=5000), 403,
                                "bad signature"),
                               (poll_headers(sess, seq + 2, hold=999), 400, "Edgecap-Hold: want ms"),
                               (poll_headers(sess, seq + 3, hold="1e3"), 400, "Edgecap-Hold")):
            s, d, _ = post(own, path, b"", h)
            expect(f"hold {h['Edgecap-Hold']}", s, d, want, words)
        seq += 3
    # keep-alive: several polls on one connection
    ka = conn(url)
    socks = set()
    for i in range(3):
        seq += 1
        s, d, _ = post(ka, path, frame([seal(sess, HELLO, 20 + i, 1, b"k" * 8)]),
                       poll_headers(sess, seq))
        expect(f"keep-alive poll {i}", s, d, 200)
        socks.add(id(ka.sock))
    if len(socks) != 1 or ka.sock is None:
        fail("keep-alive: the connection was not reused")
    # without keep-alive
    seq += 1
    nk = conn(url)
    h = poll_headers(sess, seq)
    h["Connection"] = "close"
    s, d, r = post(nk, path, frame([seal(sess, HELLO, 30, 1, b"c" * 8)]), h)
    expect("non-keep-alive poll", s, d, 200)
    if (r.getheader("Connection") or "").lower() != "close":
        fail("Connection: close was not honoured")


def cmd_udp(url, serial, keyfile, udp):
    status, a, sess = register(url, serial, load_key(keyfile))
    expect("register", status, json.dumps(a).encode(), 200)
    host, port = udp.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    s.connect((host, int(port)))
    forged = bytearray(seal(sess, HELLO, 1, 1, b"forged!!"))
    forged[-1] ^= 1
    s.send(bytes(forged))
    s.send(seal(sess, HELLO, 2, 1, b"genuine!"))
    raw = s.recv(2048)
    got = unseal(sess, raw)
    if not got or got[0] != HELLO_ACK or got[2] != 2 or got[4] != b"genuine!":
        fail(f"want the genuine HELLO answered, got {got}")
    try:
        extra = s.recv(2048)
        fail(f"the forged HELLO was answered: {extra!r}")
    except socket.timeout:
        pass
    # the genuine one again (a replay), and the server's answer reflected to it
    s.send(seal(sess, HELLO, 2, 1, b"genuine!"))
    s.send(raw)
    try:
        extra = s.recv(2048)
        fail(f"a replayed HELLO or a reflected answer was answered: {extra!r}")
    except socket.timeout:
        pass


def cmd_send(host, port, count, rate):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    count, rate = int(count), float(rate)
    t0 = time.time()
    for i in range(1, count + 1):
        s.sendto(b"seq %d" % i, (host, int(port)))
        if i % 100 == 0:
            ahead = t0 + i / rate - time.time()
            if ahead > 0:
                time.sleep(ahead)


def cmd_receive(addr, port, count, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # FORCE: past rmem_max (208 KiB by default, a few hundred datagrams)
    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
    s.bind((addr, int(port)))
    s.settimeout(float(seconds))
    print("ready", flush=True)
    want, count = 1, int(count)
    try:
        while want <= count:
            n = int(s.recv(64).split()[1])
            if n != want:
                fail(f"datagram {n} arrived when {want} was due")
            want += 1
    except socket.timeout:
        fail(f"only {want - 1} of {count} datagrams arrived")
    print(f"all {count} datagrams, in order, once each")


if __name__ == "__main__":
    cmds = {"refusals": cmd_refusals, "register": cmd_register, "refused": cmd_refused,
            "code": cmd_code, "announce": cmd_announce,
            "polls": cmd_polls, "relay-forged": cmd_relay_forged, "udp": cmd_udp, "send": cmd_send, "receive": cmd_receive}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        fail(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])
