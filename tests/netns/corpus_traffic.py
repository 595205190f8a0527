#!/usr/bin/env python3
"""Infrastructure traffic for tests/netns/text_corpus.sh, through ordinary sockets.

corpus_traffic.py serve ADDR IFACE   in the capturing namespace (A): small
    servers answering what `send` asks (DNS, NTP, SNMP, TFTP, SSDP, TCP echo)
    and sinks (syslog, DHCPv6, the test's markers on port 5999); runs until killed.
corpus_traffic.py send SERVER IFACE SERVER6  in the other namespace (B), its
    address in CORPUS_SELF: one round of requests to those servers, multicast
    queries and joins, ICMP messages the kernel answers, tunnelled payloads.
corpus_traffic.py l2 IFACE DSTMAC    link-layer frames through AF_PACKET.

Every request is a real protocol message sent on the wire through the
kernel's stack and, where a server is named, answered by one. What has no
daemon on the test machines is built here: the GRE and Geneve payloads (the
host kernel has neither device) and the LLDP, CDP, PPPoE discovery and
802.1Q/802.1ad frames of `l2` are synthetic frames sent on the wire.
"""
import logging
import logging.handlers
import os
import select
import socket
import struct
import sys
import time

TIMEOUT = 2.0


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


# --- DNS ------------------------------------------------------------------

def dns_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def dns_query(qid, name, qtype, flags=0x0100):
    return struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 0) + dns_name(name) + struct.pack("!HH", qtype, 1)


def dns_answer(query, addr):
    qid, _flags = struct.unpack("!HH", query[:4])
    end = 12
    while query[end]:
        end += query[end] + 1
    question = query[12 : end + 5]
    return (struct.pack("!HHHHHH", qid, 0x8580, 1, 1, 0, 0) + question +
            struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(addr))


# --- SNMP (BER) ------------------------------------------------------------

def ber(tag, body):
    n = len(body)
    if n < 128:
        return bytes([tag, n]) + body
    return bytes([tag, 0x81, n]) + body


def ber_int(v):
    return ber(0x02, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big"))


SYSDESCR = bytes([0x2B, 6, 1, 2, 1, 1, 1, 0])  # 1.3.6.1.2.1.1.1.0


def snmp_pdu(pdu_tag, reqid, value):
    varbind = ber(0x30, ber(0x06, SYSDESCR) + value)
    pdu = ber(pdu_tag, ber_int(reqid) + ber_int(0) + ber_int(0) + ber(0x30, varbind))
    return ber(0x30, ber_int(1) + ber(0x04, b"public") + pdu)  # v2c


def snmp_reqid(msg):
    # SEQUENCE { version, community, PDU { request-id ... } }: walk the TLVs
    i = 2 if msg[1] < 128 else 3
    for _ in range(2):  # version, community
        i += 2 + msg[i + 1]
    i += 2 if msg[i + 1] < 128 else 3  # into the PDU
    n = msg[i + 1]
    return int.from_bytes(msg[i + 2 : i + 2 + n], "big")


# --- NTP ------------------------------------------------------------------

NTP_EPOCH = 2208988800


def ntp_ts(t=None):
    t = time.time() if t is None else t
    return struct.pack("!II", int(t) + NTP_EPOCH, int((t % 1) * (1 << 32)))


def ntp_packet(mode, stratum, origin=b"\0" * 8):
    # LI 0, version 4, mode; poll 6, precision -20; root delay/dispersion; refid
    head = struct.pack("!BBbbII4s", (4 << 3) | mode, stratum, 6, -20, 0x10, 0x20,
                       b"GPS\0" if stratum == 1 else b"\0\0\0\0")
    now = ntp_ts()
    if mode == 3:
        return head + b"\0" * 24 + now
    return head + now + origin + now + ntp_ts()


# --- serve ------------------------------------------------------------------

def serve(addr, iface):
    ifindex = socket.if_nametoindex(iface)
    socks = {}

    def udp(port, family=socket.AF_INET, host=None):
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host if host is not None else ("" if family == socket.AF_INET else "::"), port))
        socks[s] = port
        return s

    for port in (53, 123, 161, 69, 514, 5999):
        udp(port)
    ssdp = udp(1900)
    mreq = socket.inet_aton("239.255.255.250") + socket.inet_aton(addr)
    ssdp.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    dhcp6 = udp(547, socket.AF_INET6)
    dhcp6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                     socket.inet_pton(socket.AF_INET6, "ff02::1:2") + struct.pack("@I", ifindex))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("", 8080))
    tcp.listen(4)
    print("serving", flush=True)
    while True:
        ready, _, _ = select.select(list(socks) + [tcp], [], [])
        for s in ready:
            if s is tcp:
                c, _ = tcp.accept()
                c.settimeout(TIMEOUT)
                try:  # answer, then close after the client did (no crossing FINs)
                    data = c.recv(1024)
                    c.sendall(b"echo " + data)
                    while c.recv(1024):
                        pass
                except OSError:
                    pass
                c.close()
                continue
            data, peer = s.recvfrom(65535)
            port = socks[s]
            if port == 53:
                s.sendto(dns_answer(data, addr), peer)
            elif port == 123 and len(data) >= 48:
                s.sendto(ntp_packet(4, 1, origin=data[40:48]), peer)
            elif port == 161:
                s.sendto(snmp_pdu(0xA2, snmp_reqid(data), ber(0x04, b"edgecap test gateway")), peer)
            elif port == 69 and data[:2] == b"\0\1":
                tftp_send(peer)
            elif port == 1900 and data.startswith(b"M-SEARCH"):
                s.sendto(b"HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: upnp:rootdevice\r\n"
                         b"USN: uuid:edgecap-test::upnp:rootdevice\r\nEXT:\r\nSERVER: Linux UPnP/1.0\r\n"
                         b"LOCATION: http://" + addr.encode() + b":8080/desc.xml\r\n\r\n", peer)


def tftp_send(peer):
    # RFC 1350: from a port of its own, 512-byte blocks, each acknowledged
    body = b"".join(b"line %03d of the test file\n" % i for i in range(28))  # 728 bytes
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT)
    for block, off in enumerate(range(0, len(body) + 1, 512), 1):
        s.sendto(struct.pack("!HH", 3, block) + body[off : off + 512], peer)
        try:
            s.recvfrom(100)
        except OSError:
            break
    s.close()


# --- send -----------------------------------------------------------------

def ask(s, msg, dest, wait=True):
    s.sendto(msg, dest)
    if wait:
        s.settimeout(TIMEOUT)
        try:
            return s.recvfrom(65535)[0]
        except OSError:
            return None


def raw4(proto, dest, payload):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, proto)
    s.sendto(payload, (dest, 0))
    s.close()


def icmp6_raw(iface, dest, payload):
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
    s.sendto(payload, (dest, 0, 0, socket.if_nametoindex(iface)))  # kernel sums it
    s.close()


def send(server, iface, server6):
    ifindex = socket.if_nametoindex(iface)
    me = socket.inet_ntoa(socket.inet_aton(os.environ.get("CORPUS_SELF", "0.0.0.0")))
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("", 0))

    # DNS, then mDNS and LLMNR queries on the link (multicast TTL 255 and 1)
    ask(u, dns_query(0x1234, "gw.example.net", 1), (server, 53))
    m = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    m.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    m.bind(("", 5353))
    m.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(me))
    m.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    m.sendto(dns_query(0, "_http._tcp.local", 12, flags=0), ("224.0.0.251", 5353))
    m.close()
    m = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    m.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(me))
    m.sendto(dns_query(0x4242, "printer", 1, flags=0), ("224.0.0.252", 5355))
    m.close()
    m6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    m6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
    m6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    m6.sendto(dns_query(0, "gw.local", 28, flags=0), ("ff02::fb", 5353, 0, ifindex))
    m6.close()

    # NTP (client mode, answered by a stratum 1 server), SNMP v2c get
    ask(u, ntp_packet(3, 0), (server, 123))
    ask(u, snmp_pdu(0xA0, 0x2A17, b"\x05\x00"), (server, 161))

    # syslog through the standard library's handler (RFC 3164 over UDP)
    log = logging.getLogger("corpus")
    h = logging.handlers.SysLogHandler(address=(server, 514), facility="daemon")
    log.addHandler(h)
    log.warning("edgecap-test: link vb up")
    log.error("edgecap-test: disk almost full")
    h.close()

    # TFTP is fetched by busybox's client (see text_corpus.sh); SSDP M-SEARCH
    m = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    m.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(me))
    m.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
    ask(m, b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\n"
        b"MX: 1\r\nST: upnp:rootdevice\r\n\r\n", ("239.255.255.250", 1900))
    m.close()

    # DHCPv6 Solicit from the link-local address to All_DHCP_Relay_Agents_and_Servers
    d6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    d6.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    d6.bind(("::", 546))
    mac = open("/sys/class/net/%s/address" % iface).read().strip()
    duid = struct.pack("!HH", 3, 1) + bytes.fromhex(mac.replace(":", ""))  # DUID-LL
    sol = (bytes([1]) + b"\x5a\x17\x01" +
           struct.pack("!HH", 1, len(duid)) + duid +                      # Client ID
           struct.pack("!HHIII", 3, 12, 0x0E0C0001, 0, 0) +               # IA_NA
           struct.pack("!HHH", 8, 2, 0) +                                 # Elapsed Time
           struct.pack("!HHHH", 6, 4, 23, 24))                            # ORO: DNS
    d6.sendto(sol, ("ff02::1:2", 547, 0, ifindex))
    d6.close()

    # TCP: a short exchange with the echo server, both sides closing
    t = socket.create_connection((server, 8080), timeout=TIMEOUT)
    t.sendall(b"GET /status\r\n")
    try:
        t.recv(1024)
    except OSError:
        pass
    t.close()

    # IGMPv3 and MLDv2 reports (the latter behind a hop-by-hop router alert):
    # joins and leaves
    g = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    g.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 socket.inet_aton("239.1.2.3") + socket.inet_aton(me))
    g6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    g6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                  socket.inet_pton(socket.AF_INET6, "ff05::1:3") + struct.pack("@I", ifindex))
    time.sleep(0.05)
    g.close()
    g6.close()

    # ICMP: timestamp request (the kernel answers), protocol unreachable
    # (an IP packet of an unused protocol), port unreachable quoting UDP
    ts = struct.pack("!BBHHHIII", 13, 0, 0, 0x77, 1, int((time.time() % 86400) * 1000), 0, 0)
    ts = ts[:2] + struct.pack("!H", csum(ts)) + ts[4:]
    raw4(socket.IPPROTO_ICMP, server, ts)
    raw4(253, server, b"experimental protocol 253")
    u.sendto(b"nobody listens", (server, 33434))

    # ICMP errors from the server as a router (its route to 10.97.0.0/24 and
    # fd97::/64 leads back to us, with an MTU of 1000 and 1280): time
    # exceeded (TTL 1), redirect, fragmentation needed / packet too big
    for fam, dest, big in ((socket.AF_INET, "10.97.0.%d", 1200), (socket.AF_INET6, "fd97::%d", 1400)):
        lvl, ttl = ((socket.IPPROTO_IP, socket.IP_TTL) if fam == socket.AF_INET
                    else (socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS))
        r = socket.socket(fam, socket.SOCK_DGRAM)
        r.setsockopt(lvl, ttl, 1)
        r.sendto(b"hop limit 1", (dest % 5, 33436))
        r.setsockopt(lvl, ttl, 64)
        r.sendto(b"the router sends me back", (dest % 6, 33437))
        if fam == socket.AF_INET:
            r.setsockopt(socket.IPPROTO_IP, 10, 2)  # IP_MTU_DISCOVER: IP_PMTUDISC_DO
        else:
            r.setsockopt(socket.IPPROTO_IPV6, 62, 1)  # IPV6_DONTFRAG
        try:  # (refused here once the first round taught us the path's MTU)
            r.sendto(b"x" * big, (dest % 7, 33438))
        except OSError:
            pass
        r.close()

    # GRE (synthetic payload: an IPv4 ICMP echo from an inner network) through
    # a raw IP socket; the receiver has no GRE device
    inner_icmp = struct.pack("!BBHHH", 8, 0, 0, 0x99, 1) + b"tunnelled"
    inner_icmp = inner_icmp[:2] + struct.pack("!H", csum(inner_icmp)) + inner_icmp[4:]
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(inner_icmp), 1, 0, 64, 1, 0,
                      socket.inet_aton("192.168.77.1"), socket.inet_aton("192.168.77.2"))
    iph = iph[:10] + struct.pack("!H", csum(iph)) + iph[12:]
    raw4(47, server, struct.pack("!HH", 0, 0x0800) + iph + inner_icmp)
    # Geneve (synthetic payload: an Ethernet frame) to UDP port 6081
    eth = bytes.fromhex("020000000002" "020000000001" "0800")
    gen = struct.pack("!BBHI", 0, 0, 0x6558, (0x00AB12 << 8)) + eth + iph + inner_icmp
    u.sendto(gen, (server, 6081))

    # ICMPv6: router solicitation and advertisement (hop limit 255), a UDP
    # datagram behind a destination options header (answered by a port
    # unreachable quoting it)
    icmp6_raw(iface, "ff02::2", struct.pack("!BBHI", 133, 0, 0, 0) +
              bytes([1, 1]) + bytes.fromhex(mac.replace(":", "")))
    ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0)
    ra += bytes([1, 1]) + bytes.fromhex(mac.replace(":", ""))             # source link-layer
    ra += struct.pack("!BBHI", 5, 1, 0, 1500)                              # MTU
    ra += struct.pack("!BBBBIII", 3, 4, 64, 0xC0, 86400, 14400, 0) + socket.inet_pton(
        socket.AF_INET6, "fd98:0:0:77::")                                   # prefix
    icmp6_raw(iface, "ff02::1", ra)
    do = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    do.setsockopt(socket.IPPROTO_IPV6, 59, b"\x00\x00\x01\x04\x00\x00\x00\x00")  # IPV6_DSTOPTS, PadN
    do.sendto(b"behind a destination options header", (server6, 33435))
    do.close()
    u.close()


# --- l2 -------------------------------------------------------------------

def tlv_lldp(t, v):
    return struct.pack("!H", (t << 9) | len(v)) + v


def l2(iface, dstmac):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    src = bytes.fromhex(open("/sys/class/net/%s/address" % iface).read().strip().replace(":", ""))
    dst = bytes.fromhex(dstmac.replace(":", ""))
    frames = []
    # LLDP to the nearest-bridge address
    lldp = (tlv_lldp(1, b"\x04" + src) + tlv_lldp(2, b"\x05" + iface.encode()) +
            tlv_lldp(3, b"\x00\x78") + tlv_lldp(5, b"gw-test") +
            tlv_lldp(7, b"\x00\x14\x00\x14") + tlv_lldp(0, b""))
    frames.append(bytes.fromhex("0180c200000e") + src + b"\x88\xcc" + lldp)
    # CDPv2 over 802.3 + LLC/SNAP (Cisco OUI, type 0x2000)
    cdp_tlvs = (struct.pack("!HH", 1, 4 + 7) + b"gw-test" +
                struct.pack("!HH", 3, 4 + len(iface)) + iface.encode() +
                struct.pack("!HHI", 4, 8, 0x28) +
                struct.pack("!HH", 6, 4 + 12) + b"Linux bridge")
    cdp = struct.pack("!BBH", 2, 180, 0) + cdp_tlvs
    cdp = cdp[:2] + struct.pack("!H", csum(cdp)) + cdp[4:]
    llc = b"\xaa\xaa\x03\x00\x00\x0c\x20\x00" + cdp
    frames.append(bytes.fromhex("01000ccccccc") + src + struct.pack("!H", len(llc)) + llc)
    # PPPoE discovery: PADI (broadcast) with Service-Name and Host-Uniq
    tags = struct.pack("!HH", 0x0101, 0) + struct.pack("!HH", 0x0103, 4) + b"\x00\x00\x12\x34"
    frames.append(b"\xff" * 6 + src + b"\x88\x63" + struct.pack("!BBHH", 0x11, 0x09, 0, len(tags)) + tags)
    # 802.1Q (VLAN 100, priority 3) and 802.1ad (S-VLAN 200, C-VLAN 100): UDP
    udp = struct.pack("!HHHH", 4000, 4001, 8 + 6, 0) + b"tagged"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 7, 0, 64, 17, 0,
                     socket.inet_aton("10.98.100.2"), socket.inet_aton("10.98.100.1"))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    frames.append(dst + src + struct.pack("!HH", 0x8100, (3 << 13) | 100) + b"\x08\x00" + ip + udp)
    frames.append(dst + src + struct.pack("!HHHH", 0x88A8, 200, 0x8100, 100) + b"\x08\x00" + ip + udp)
    for f in frames:
        s.send(f + b"\0" * max(0, 60 - len(f)))  # padded to the minimum as a NIC would
        time.sleep(0.01)
    s.close()


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "serve" and len(sys.argv) == 4:
        serve(sys.argv[2], sys.argv[3])
    elif cmd == "send" and len(sys.argv) == 5:
        send(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "l2" and len(sys.argv) == 4:
        l2(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: corpus_traffic.py serve ADDR IFACE | send SERVER IFACE SERVER6 | "
                 "l2 IFACE DSTMAC")
