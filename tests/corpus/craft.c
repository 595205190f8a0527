// SPDX-License-Identifier: GPL-2.0-only
/*
 * craft.c - deterministic synthetic packet corpus for the differential test.
 *
 * Usage: craft OUT.pcap [SEED]
 *
 * The differential test runs every expression of expressions.txt against
 * every packet of the corpus, once through libpcap's bpf_filter() and once
 * through the translated program in the kernel, and compares the verdicts.
 * This program writes the crafted half of that corpus: a classic pcap file
 * (nanosecond timestamps, LINKTYPE_ETHERNET, snaplen 262144) holding NPKTS
 * frames drawn from a small seeded PRNG, so that the same SEED (default 1)
 * always yields a byte-identical file.
 *
 * The frames are biased towards what the expressions look at: addresses
 * from small pools (10.0.0.1-8, 192.168.1.x, 2001:db8::1-8, fe80::1,
 * ff02::1), a handful of well-known ports, every TCP flag combination,
 * 802.1Q/QinQ/MPLS/PPPoE encapsulation, IPv4 options and fragments, IPv6
 * extension header chains, ARP/RARP, 802.3 LLC frames, jumbo frames and
 * random garbage.  Roughly a fifth of the records are cut short (caplen <
 * wirelen), some of them below the 14-byte Ethernet header.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPKTS	   2600
#define SNAPLEN	   262144u
#define MAXFRAME   65535u
#define TS_BASE	   1700000000u
#define ETH_MINLEN 60u

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PICK(a)	      ((a)[rn(ARRAY_SIZE(a))])

/* Ethertypes and IP protocol numbers used below. */
#define ET_IP	  0x0800
#define ET_ARP	  0x0806
#define ET_RARP	  0x8035
#define ET_VLAN	  0x8100
#define ET_IP6	  0x86dd
#define ET_MPLS	  0x8847
#define ET_MPLSM  0x8848
#define ET_PPPOED 0x8863
#define ET_PPPOES 0x8864
#define ET_QINQ	  0x88a8
#define ET_QINQ9  0x9100

#define P_ICMP	1
#define P_IGMP	2
#define P_TCP	6
#define P_UDP	17
#define P_GRE	47
#define P_ESP	50
#define P_AH	51
#define P_ICMP6 58
#define P_NONE6 59
#define P_OSPF	89
#define P_PIM	103
#define P_VRRP	112
#define P_SCTP	132

/* ------------------------------------------------------------------ */
/* PRNG: splitmix64.  Small, fast and good enough for test data.       */

static uint64_t rng_state;

static uint64_t rnd64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Value in [0, n); 0 when n is 0. */
static uint32_t rn(uint32_t n)
{
	return n ? (uint32_t)(rnd64() % n) : 0;
}

/* True with a probability of pct percent. */
static int chance(unsigned int pct)
{
	return rn(100) < pct;
}

/* ------------------------------------------------------------------ */
/* Frame buffer and big-endian writers.  Writes past MAXFRAME are      */
/* dropped, so a frame can never exceed the pcap wire length limit.    */

struct frame {
	uint8_t b[MAXFRAME];
	size_t len;
};

/* Payload size forced on the next TCP/UDP segment (jumbo frames). */
static size_t forced_payload;

/* Cycles through all TCP flag bytes, for some of the random segments. */
static unsigned int tcp_flag_seq;

static void put8(struct frame *f, unsigned int v)
{
	if (f->len < MAXFRAME)
		f->b[f->len++] = (uint8_t)v;
}

static void put16(struct frame *f, unsigned int v)
{
	put8(f, v >> 8);
	put8(f, v);
}

static void put32(struct frame *f, uint32_t v)
{
	put16(f, v >> 16);
	put16(f, v & 0xffff);
}

static void putmem(struct frame *f, const void *src, size_t n)
{
	const uint8_t *s = src;

	while (n--)
		put8(f, *s++);
}

static void putstr(struct frame *f, const char *s)
{
	putmem(f, s, strlen(s));
}

static void putrand(struct frame *f, size_t n)
{
	while (n--)
		put8(f, rn(256));
}

static void putzero(struct frame *f, size_t n)
{
	while (n--)
		put8(f, 0);
}

static void set16(struct frame *f, size_t off, unsigned int v)
{
	if (off + 2 <= MAXFRAME) {
		f->b[off] = (uint8_t)(v >> 8);
		f->b[off + 1] = (uint8_t)v;
	}
}

/* ------------------------------------------------------------------ */
/* Address and port pools.                                             */

static const uint8_t mac_pool[][6] = {
    {0x02, 0x00, 0x00, 0x00, 0x00, 0x01}, {0x02, 0x00, 0x00, 0x00, 0x00, 0x02},
    {0x02, 0x00, 0x00, 0x00, 0x00, 0x03}, {0x02, 0x00, 0x00, 0x00, 0x00, 0x04},
    {0x02, 0x00, 0x00, 0x00, 0x00, 0x05}, {0x02, 0x00, 0x00, 0x00, 0x00, 0x06},
    {0x02, 0x00, 0x00, 0x00, 0x00, 0x07}, {0x02, 0x00, 0x00, 0x00, 0x00, 0x08},
    {0x00, 0x11, 0x22, 0x33, 0x44, 0x55}, {0x52, 0x54, 0x00, 0x12, 0x34, 0x56},
    {0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc},
};

static const uint8_t mac_bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static const uint8_t mac_mcast_pool[][6] = {
    {0x01, 0x80, 0xc2, 0x00, 0x00, 0x00}, /* STP */
    {0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e}, /* LLDP */
    {0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xcc}, /* CDP */
    {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, {0x33, 0x33, 0x00, 0x00, 0x00, 0x01},
};

static const uint8_t ip4_mcast_pool[][4] = {
    {224, 0, 0, 1},	  {224, 0, 0, 2}, {224, 0, 0, 22},  {224, 0, 0, 251},
    {239, 255, 255, 250}, {239, 1, 2, 3}, {224, 0, 1, 129},
};

static const uint8_t ip4_bcast_pool[][4] = {
    {255, 255, 255, 255},
    {192, 168, 1, 255},
    {10, 0, 0, 255},
};

static const uint16_t port_pool[] = {
    22, 53, 80, 443, 1024, 1025, 1026, 1027, 1028, 1029, 1030, 8080,
};

static const unsigned int vlan_ids[] = {1, 10, 42, 100, 200, 300, 1000, 4094};

static const unsigned int mpls_labels[] = {0, 2, 16, 100, 200, 1000, 299776, 1048575};

static void pick_mac(uint8_t m[6])
{
	if (chance(85)) {
		memcpy(m, PICK(mac_pool), 6);
	} else {
		for (int i = 0; i < 6; i++)
			m[i] = rn(256);
		m[0] &= 0xfe;
	}
}

static void pick_ip4(uint8_t a[4])
{
	static const uint8_t lan_hosts[] = {1, 2, 3, 4, 5, 10, 100, 254};
	unsigned int r = rn(100);

	if (r < 50) {
		a[0] = 10, a[1] = 0, a[2] = 0, a[3] = 1 + rn(8);
	} else if (r < 72) {
		a[0] = 192, a[1] = 168, a[2] = 1, a[3] = PICK(lan_hosts);
	} else if (r < 78) {
		a[0] = 172, a[1] = 16, a[2] = rn(4), a[3] = 1 + rn(254);
	} else if (r < 85) {
		a[0] = 10, a[1] = rn(256), a[2] = rn(256), a[3] = 1 + rn(254);
	} else if (r < 89) {
		a[0] = 192, a[1] = 168, a[2] = rn(4), a[3] = 1 + rn(254);
	} else if (r < 91) {
		a[0] = 127, a[1] = 0, a[2] = 0, a[3] = 1;
	} else {
		a[0] = 1 + rn(223), a[1] = rn(256), a[2] = rn(256), a[3] = rn(256);
	}
}

static void set_ip6(uint8_t a[16], unsigned int hi, uint64_t lo)
{
	memset(a, 0, 16);
	a[0] = hi >> 8;
	a[1] = hi & 0xff;
	for (int i = 0; i < 8; i++)
		a[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
}

static void pick_ip6(uint8_t a[16])
{
	unsigned int r = rn(100);

	if (r < 50) {
		set_ip6(a, 0x2001, 1 + rn(8));
		a[2] = 0x0d, a[3] = 0xb8;
	} else if (r < 58) {
		set_ip6(a, 0xfe80, 1 + rn(2));
	} else if (r < 66) {
		set_ip6(a, 0xfe80, rnd64());
	} else if (r < 72) {
		set_ip6(a, 0x2001, rnd64());
		a[2] = 0x0d, a[3] = 0xb8, a[5] = 1;
	} else if (r < 74) {
		set_ip6(a, 0, 1); /* ::1 */
	} else if (r < 80) {
		unsigned int hi = 0xfd00 | rn(256);

		set_ip6(a, hi, rnd64());
	} else {
		unsigned int hi = 0x2000 | rn(0x2000);

		set_ip6(a, hi, rnd64());
		a[2] = rn(256), a[3] = rn(256);
	}
}

static void pick_ip6_mcast(uint8_t a[16])
{
	switch (rn(7)) {
	case 0:
	case 1:
		set_ip6(a, 0xff02, 1); /* all nodes */
		break;
	case 2:
		set_ip6(a, 0xff02, 2); /* all routers */
		break;
	case 3:
		set_ip6(a, 0xff02, 0x16); /* MLDv2 routers */
		break;
	case 4:
		set_ip6(a, 0xff02, 0xfb); /* mDNS */
		break;
	case 5:
		set_ip6(a, 0xff02, 0x1ff000000ull | (1 + rn(8))); /* solicited node */
		break;
	default:
		set_ip6(a, 0xff05, 0x10003); /* DHCP servers, site scope */
		break;
	}
}

static unsigned int pick_port(void)
{
	unsigned int r = rn(100);

	if (r < 70)
		return PICK(port_pool);
	if (r < 90)
		return 32768 + rn(28232);
	if (r < 95)
		return rn(1024);
	return rn(65536);
}

/* One end a service port from the pool, the other anything. */
static void pick_ports(unsigned int *sport, unsigned int *dport)
{
	unsigned int svc = PICK(port_pool), other = pick_port();

	if (chance(50)) {
		*sport = other;
		*dport = svc;
	} else {
		*sport = svc;
		*dport = other;
	}
}

/* ------------------------------------------------------------------ */
/* A flow: what an IP or ARP packet carries, decided before writing    */
/* anything so that the Ethernet addresses can follow the IP ones.     */

struct flow {
	unsigned int l3;    /* ET_IP, ET_IP6, ET_ARP or ET_RARP */
	unsigned int proto; /* upper-layer protocol */
	unsigned int sub;   /* ICMPv6/IGMP type, ARP opcode */
	uint8_t src4[4], dst4[4];
	uint8_t src6[16], dst6[16];
	uint8_t tgt6[16]; /* ND target */
	int tcp_flags;	  /* forced TCP flags, or -1 */
};

static unsigned int pick_proto4(int depth)
{
	unsigned int r = rn(100);

	if (depth > 0)
		return r < 50 ? P_TCP : r < 85 ? P_UDP : P_ICMP;
	if (r < 38)
		return P_TCP;
	if (r < 62)
		return P_UDP;
	if (r < 74)
		return P_ICMP;
	if (r < 78)
		return P_IGMP;
	if (r < 82)
		return P_GRE;
	if (r < 85)
		return P_ESP;
	if (r < 87)
		return P_AH;
	if (r < 92)
		return P_SCTP;
	if (r < 94)
		return P_PIM;
	if (r < 96)
		return P_VRRP;
	if (r < 98)
		return P_OSPF;
	return rn(256);
}

static unsigned int pick_proto6(int depth)
{
	unsigned int r = rn(100);

	if (depth > 0)
		return r < 50 ? P_TCP : r < 80 ? P_UDP : P_ICMP6;
	if (r < 35)
		return P_TCP;
	if (r < 63)
		return P_UDP;
	if (r < 90)
		return P_ICMP6;
	if (r < 93)
		return P_SCTP;
	if (r < 95)
		return P_ESP;
	if (r < 96)
		return P_GRE;
	if (r < 98)
		return P_NONE6;
	return rn(256);
}

static void make_flow(struct flow *fl, unsigned int l3, int depth)
{
	static const unsigned int icmp6_types[] = {
	    128, 128, 128, 128, 128, 128, 129, 129, 129, 129, 135, 135, 136, 136,
	    133, 134, 143, 130, 131, 132, 1,   1,   2,	 3,   4,   137, 0,   200,
	};
	static const unsigned int igmp_types[] = {0x11, 0x11, 0x16, 0x16, 0x17, 0x22, 0x22, 0x12};

	memset(fl, 0, sizeof(*fl));
	fl->l3 = l3;
	fl->tcp_flags = -1;
	pick_ip4(fl->src4);
	pick_ip4(fl->dst4);
	pick_ip6(fl->src6);
	pick_ip6(fl->dst6);
	pick_ip6(fl->tgt6);

	switch (l3) {
	case ET_IP:
		fl->proto = pick_proto4(depth);
		switch (fl->proto) {
		case P_IGMP:
			fl->sub = PICK(igmp_types);
			if (chance(85))
				memcpy(fl->dst4, PICK(ip4_mcast_pool), 4);
			break;
		case P_VRRP:
		case P_PIM:
		case P_OSPF:
			if (chance(85)) {
				uint8_t g = fl->proto == P_VRRP ? 18 : fl->proto == P_PIM ? 13 : 5;
				fl->dst4[0] = 224, fl->dst4[1] = 0, fl->dst4[2] = 0,
				fl->dst4[3] = g;
			}
			break;
		case P_UDP:
		case P_ICMP:
			if (chance(8))
				memcpy(fl->dst4, PICK(ip4_mcast_pool), 4);
			else if (chance(5))
				memcpy(fl->dst4, PICK(ip4_bcast_pool), 4);
			break;
		}
		break;
	case ET_IP6:
		fl->proto = pick_proto6(depth);
		if (fl->proto == P_ICMP6) {
			fl->sub = PICK(icmp6_types);
			switch (fl->sub) {
			case 135: /* NS to the target's solicited-node group */
				set_ip6(fl->dst6, 0xff02,
					0x1ff000000ull | fl->tgt6[13] << 16 | fl->tgt6[14] << 8 |
					    fl->tgt6[15]);
				if (chance(20))
					memset(fl->src6, 0, 16); /* DAD */
				break;
			case 133:
				set_ip6(fl->dst6, 0xff02, 2);
				break;
			case 134:
				set_ip6(fl->dst6, 0xff02, 1);
				break;
			case 143:
				set_ip6(fl->dst6, 0xff02, 0x16);
				break;
			case 130:
			case 131:
			case 132:
				pick_ip6_mcast(fl->dst6);
				break;
			case 128:
				if (chance(10))
					pick_ip6_mcast(fl->dst6);
				break;
			}
			if (fl->sub >= 130 && fl->sub <= 143 && chance(70) && fl->src6[0])
				set_ip6(fl->src6, 0xfe80, 1 + rn(2));
		} else if (fl->proto == P_UDP && chance(10)) {
			pick_ip6_mcast(fl->dst6);
		}
		break;
	case ET_ARP:
		fl->sub = chance(65) ? 1 : 2;
		break;
	case ET_RARP:
		fl->sub = chance(60) ? 3 : 4;
		break;
	}
}

/* Destination MAC matching the flow's destination, like a real stack. */
static void flow_macs(const struct flow *fl, uint8_t dst[6], uint8_t src[6])
{
	pick_mac(src);
	if (chance(1))
		src[0] |= 1; /* bogus multicast source */
	pick_mac(dst);

	if (fl->l3 == ET_IP && fl->dst4[0] >= 224 && fl->dst4[0] <= 239 && chance(92)) {
		dst[0] = 0x01, dst[1] = 0x00, dst[2] = 0x5e;
		dst[3] = fl->dst4[1] & 0x7f, dst[4] = fl->dst4[2], dst[5] = fl->dst4[3];
	} else if (fl->l3 == ET_IP && fl->dst4[3] == 255 && chance(92)) {
		memcpy(dst, mac_bcast, 6);
	} else if (fl->l3 == ET_IP6 && fl->dst6[0] == 0xff && chance(92)) {
		dst[0] = 0x33, dst[1] = 0x33;
		memcpy(dst + 2, fl->dst6 + 12, 4);
	} else if ((fl->sub == 1 || fl->sub == 3) && fl->l3 != ET_IP && fl->l3 != ET_IP6 &&
		   chance(90)) {
		memcpy(dst, mac_bcast, 6);
	} else if (chance(3)) {
		memcpy(dst, PICK(mac_mcast_pool), 6);
	}
}

/* ------------------------------------------------------------------ */
/* Transport layers.                                                   */

static void gen_ip4(struct frame *f, struct flow *fl, int depth);
static void gen_ip6(struct frame *f, struct flow *fl, int depth);

/* A small IPv4 or IPv6 packet nested inside GRE, Geneve or SNAP. */
static void gen_inner(struct frame *f, unsigned int l3)
{
	struct flow in;

	make_flow(&in, l3, 1);
	if (l3 == ET_IP6)
		gen_ip6(f, &in, 1);
	else
		gen_ip4(f, &in, 1);
}

static void put_tcp_options(struct frame *f, size_t n)
{
	size_t end = f->len + n < MAXFRAME ? f->len + n : MAXFRAME;

	while (f->len < end) {
		size_t left = end - f->len;

		switch (rn(7)) {
		case 0: /* MSS */
			if (left >= 4) {
				put8(f, 2), put8(f, 4), put16(f, chance(50) ? 1460 : 8960);
				continue;
			}
			break;
		case 1: /* SACK permitted */
			if (left >= 2) {
				put8(f, 4), put8(f, 2);
				continue;
			}
			break;
		case 2: /* timestamps */
			if (left >= 10) {
				put8(f, 8), put8(f, 10), put32(f, rnd64()), put32(f, rnd64());
				continue;
			}
			break;
		case 3: /* window scale */
			if (left >= 3) {
				put8(f, 3), put8(f, 3), put8(f, rn(15));
				continue;
			}
			break;
		case 4: /* one SACK block */
			if (left >= 10) {
				put8(f, 5), put8(f, 10), put32(f, rnd64()), put32(f, rnd64());
				continue;
			}
			break;
		case 5: /* end of list, zero padding */
			put8(f, 0);
			putzero(f, left - 1);
			continue;
		}
		put8(f, 1); /* NOP */
	}
}

static void gen_tcp(struct frame *f, const struct flow *fl)
{
	static const uint8_t common[] = {0x02, 0x12, 0x10, 0x10, 0x18, 0x18, 0x11,
					 0x04, 0x14, 0x19, 0xc2, 0x29, 0x00};
	static const unsigned int windows[] = {65535, 64240, 29200, 502, 0};
	static const char *const http_req[] = {
	    "GET / HTTP/1.1\r\nHost: 10.0.0.1\r\nUser-Agent: curl/7.88.1\r\n\r\n",
	    "GET /index.html HTTP/1.0\r\n\r\n",
	    "POST /api HTTP/1.1\r\nHost: 192.168.1.1\r\nContent-Length: 2\r\n\r\n{}",
	    "HEAD / HTTP/1.1\r\nHost: example\r\n\r\n",
	};
	unsigned int sport, dport, optwords = 0, doff, flags;

	pick_ports(&sport, &dport);
	put16(f, sport);
	put16(f, dport);
	put32(f, rnd64());
	put32(f, chance(10) ? 0 : rnd64());
	if (chance(40))
		optwords = 1 + rn(10);
	doff = 5 + optwords;
	if (chance(2))
		doff = rn(16); /* nonsense data offset */
	if (fl->tcp_flags >= 0)
		flags = fl->tcp_flags;
	else
		flags = chance(40) ? tcp_flag_seq++ & 0xff : PICK(common);
	put8(f, doff << 4 | (chance(3) ? rn(16) : 0));
	put8(f, flags);
	put16(f, chance(80) ? PICK(windows) : rn(65536));
	put16(f, rn(65536));
	put16(f, (flags & 0x20) || chance(2) ? rn(65536) : 0);
	put_tcp_options(f, optwords * 4);

	if (forced_payload) {
		putrand(f, forced_payload);
		forced_payload = 0;
	} else if ((dport == 80 || dport == 8080) && chance(50)) {
		putstr(f, PICK(http_req));
	} else if ((sport == 80 || sport == 8080) && chance(40)) {
		putstr(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	} else if ((sport == 22 || dport == 22) && chance(40)) {
		putstr(f, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
	} else if (chance(55)) {
		putrand(f, 1 + rn(chance(20) ? 1400 : 200));
	}
}

static void put_dns(struct frame *f, int response)
{
	static const uint16_t ids[] = {0x1234, 0xabcd, 0x0001};
	static const char *const names[] = {"\7example\3com", "\3www\6debian\3org", "\4test\5local",
					    "\1_\4tcp\5local"};
	static const uint16_t qtypes[] = {1, 1, 28, 15, 16, 12};
	const char *name = PICK(names);

	put16(f, chance(80) ? PICK(ids) : rn(65536));
	put16(f, response ? 0x8180 : 0x0100);
	put16(f, 1);
	put16(f, response);
	put16(f, 0);
	put16(f, 0);
	putmem(f, name, strlen(name) + 1);
	put16(f, PICK(qtypes));
	put16(f, 1);
	if (response) {
		put16(f, 0xc00c);
		put16(f, 1);
		put16(f, 1);
		put32(f, 300);
		put16(f, 4);
		put32(f, 0x0a000001);
	}
}

static void put_eth(struct frame *f, unsigned int type)
{
	uint8_t dst[6], src[6];

	pick_mac(dst);
	pick_mac(src);
	putmem(f, dst, 6);
	putmem(f, src, 6);
	put16(f, type);
}

static void put_geneve(struct frame *f)
{
	static const uint32_t vnis[] = {42, 100, 0x123456};
	unsigned int optwords = rn(3), inner = chance(65) ? 0x6558 : ET_IP;

	put8(f, optwords); /* version 0, option length */
	put8(f, chance(10) ? 0x80 : 0);
	put16(f, inner);
	put32(f, (chance(80) ? PICK(vnis) : rn(1u << 24)) << 8);
	if (optwords) {
		put16(f, 0x0102); /* option class */
		put8(f, 0x80);
		put8(f, optwords - 1);
		putrand(f, 4 * (optwords - 1));
	}
	if (inner == 0x6558)
		put_eth(f, ET_IP);
	gen_inner(f, ET_IP);
}

static void gen_udp(struct frame *f, int depth)
{
	size_t off = f->len, len;
	unsigned int sport, dport;

	pick_ports(&sport, &dport);
	if (depth == 0 && chance(4))
		dport = 6081;
	put16(f, sport);
	put16(f, dport);
	put16(f, 0);
	put16(f, chance(30) ? 0 : rn(65536));
	if (forced_payload) {
		putrand(f, forced_payload);
		forced_payload = 0;
	} else if (dport == 53 || sport == 53) {
		put_dns(f, sport == 53);
	} else if (dport == 6081) {
		put_geneve(f);
	} else {
		putrand(f, rn(chance(10) ? 1400 : 300));
	}
	len = f->len - off;
	if (chance(2))
		len = rn(65536); /* bogus length */
	set16(f, off + 4, len);
}

/* An IPv4 header plus 8 bytes of it, as quoted by ICMP errors. */
static void put_quoted_ip4(struct frame *f)
{
	uint8_t a[4];

	put8(f, 0x45);
	put8(f, 0);
	put16(f, 28 + rn(1400));
	put16(f, rn(65536));
	put16(f, 0x4000);
	put8(f, 1 + rn(64));
	put8(f, chance(50) ? P_UDP : P_TCP);
	put16(f, rn(65536));
	pick_ip4(a);
	putmem(f, a, 4);
	pick_ip4(a);
	putmem(f, a, 4);
	put16(f, pick_port());
	put16(f, pick_port());
	put32(f, rnd64());
}

/* Echo request/reply body, ICMP or ICMPv6: identifier (mostly `id`, so
 * filters on it match), sequence, payload. */
static void echo_body(struct frame *f, unsigned id)
{
	put16(f, chance(70) ? id : rn(65536));
	put16(f, rn(64));
	if (forced_payload) {
		putrand(f, forced_payload);
		forced_payload = 0;
	} else {
		putrand(f, chance(80) ? 56 : rn(1400));
	}
}
static void gen_icmp(struct frame *f)
{
	unsigned int r = rn(100), type, code = 0;

	if (r < 30)
		type = 8;
	else if (r < 55)
		type = 0;
	else if (r < 70)
		type = 3, code = rn(16);
	else if (r < 80)
		type = 11, code = rn(2);
	else if (r < 84)
		type = 5, code = rn(4);
	else if (r < 88)
		type = 13 + rn(2);
	else if (r < 92)
		type = 9 + rn(2);
	else if (r < 95)
		type = 12;
	else
		type = rn(256), code = rn(256);

	put8(f, type);
	put8(f, code);
	put16(f, rn(65536));
	switch (type) {
	case 0:
	case 8:
		echo_body(f, 0x1234);
		break;
	case 3:
	case 11:
	case 12:
		put32(f, type == 3 && code == 4 ? 1400 : type == 12 ? 20u << 24 : 0);
		put_quoted_ip4(f);
		break;
	case 5:
		put32(f, 0xc0a80101);
		put_quoted_ip4(f);
		break;
	case 13:
	case 14:
		put16(f, rn(65536));
		put16(f, rn(64));
		put32(f, rnd64());
		put32(f, rnd64());
		put32(f, rnd64());
		break;
	case 9:
		put8(f, 1);
		put8(f, 2);
		put16(f, 1800);
		put32(f, 0xc0a80101);
		put32(f, 0);
		break;
	default:
		putrand(f, 4 + rn(60));
		break;
	}
}

static void gen_igmp(struct frame *f, const struct flow *fl)
{
	put8(f, fl->sub);
	put8(f, fl->sub == 0x11 ? 100 : 0);
	put16(f, rn(65536));
	switch (fl->sub) {
	case 0x11: /* query; v3 when longer than 8 bytes */
		putmem(f, chance(50) ? fl->dst4 : (const uint8_t[4]){0}, 4);
		if (chance(50)) {
			put8(f, 2);
			put8(f, 125);
			put16(f, 0);
		}
		break;
	case 0x22: { /* v3 report */
		unsigned int nrec = 1 + rn(3);

		put16(f, 0);
		put16(f, nrec);
		for (unsigned int i = 0; i < nrec; i++) {
			unsigned int nsrc = rn(3);

			put8(f, 1 + rn(6));
			put8(f, 0);
			put16(f, nsrc);
			putmem(f, PICK(ip4_mcast_pool), 4);
			for (unsigned int s = 0; s < nsrc; s++) {
				uint8_t a[4];

				pick_ip4(a);
				putmem(f, a, 4);
			}
		}
		break;
	}
	default:
		putmem(f, fl->dst4, 4);
		break;
	}
}

static void gen_gre(struct frame *f, int depth)
{
	unsigned int flags = 0, proto, r = rn(100);

	if (r < 50)
		proto = ET_IP;
	else if (r < 70)
		proto = ET_IP6;
	else if (r < 85)
		proto = 0x6558;
	else if (r < 95)
		proto = 0x880b;
	else
		proto = rn(65536);

	if (proto == 0x880b) {
		flags = 0x2001 | (chance(50) ? 0x1000 : 0); /* enhanced GRE (PPTP) */
	} else {
		if (chance(30))
			flags |= 0x8000;
		if (chance(40))
			flags |= 0x2000;
		if (chance(30))
			flags |= 0x1000;
	}
	put16(f, flags);
	put16(f, proto);
	if (flags & 0x8000) {
		put16(f, rn(65536));
		put16(f, 0);
	}
	if (flags & 0x2000 && proto == 0x880b) {
		put16(f, rn(1500));  /* payload length */
		put16(f, rn(65536)); /* call ID */
	} else if (flags & 0x2000) {
		put32(f, rn(1000));
	}
	if (flags & 0x1000)
		put32(f, rn(100000));

	if (depth > 0) {
		putrand(f, 20 + rn(40));
		return;
	}
	switch (proto) {
	case ET_IP:
	case ET_IP6:
		gen_inner(f, proto);
		break;
	case 0x6558:
		put_eth(f, ET_IP);
		gen_inner(f, ET_IP);
		break;
	case 0x880b:
		put16(f, 0xff03);
		put16(f, 0x0021);
		gen_inner(f, ET_IP);
		break;
	default:
		putrand(f, rn(100));
		break;
	}
}

static void gen_sctp(struct frame *f)
{
	static const uint8_t chunks[] = {0, 0, 1, 2, 3, 4, 6, 7, 10};
	static const uint16_t sctp_ports[] = {80, 443, 2905, 3868, 36412, 5060};
	unsigned int nchunks = 1 + rn(2);

	put16(f, chance(60) ? PICK(sctp_ports) : pick_port());
	put16(f, chance(60) ? PICK(sctp_ports) : pick_port());
	put32(f, rnd64());
	put32(f, rnd64());
	for (unsigned int i = 0; i < nchunks; i++) {
		unsigned int n = 4 * rn(12);

		put8(f, PICK(chunks));
		put8(f, rn(8));
		put16(f, 4 + n);
		putrand(f, n);
	}
}

static void gen_pim(struct frame *f)
{
	static const uint8_t types[] = {0, 0, 1, 3, 4, 8};

	put8(f, 0x20 | PICK(types));
	put8(f, 0);
	put16(f, rn(65536));
	put16(f, 1); /* hello holdtime option */
	put16(f, 2);
	put16(f, 105);
	putrand(f, rn(32));
}

static void gen_vrrp(struct frame *f, const struct flow *fl)
{
	put8(f, chance(70) ? 0x21 : 0x31);
	put8(f, 1 + rn(255));
	put8(f, chance(50) ? 100 : 255);
	put8(f, 1);
	put8(f, 0);
	put8(f, 1);
	put16(f, rn(65536));
	putmem(f, fl->src4, 4);
	if (chance(50))
		putzero(f, 8);
}

static void gen_esp(struct frame *f)
{
	put32(f, chance(60) ? 0x1000 : rnd64());
	put32(f, 1 + rn(1000));
	putrand(f, 16 + rn(120));
}

static void gen_l4(struct frame *f, struct flow *fl, int depth);

static void gen_ah4(struct frame *f, struct flow *fl, int depth)
{
	static const unsigned int next[] = {P_TCP, P_UDP, P_ICMP};
	struct flow in = *fl;

	in.proto = PICK(next);
	put8(f, in.proto);
	put8(f, 4); /* (4 + 2) * 4 = 24 bytes: 12 fixed, 12 ICV */
	put16(f, 0);
	put32(f, chance(60) ? 0x2000 : rnd64());
	put32(f, 1 + rn(1000));
	putrand(f, 12);
	gen_l4(f, &in, depth);
}

static void put_lla_option(struct frame *f, unsigned int type)
{
	uint8_t m[6];

	pick_mac(m);
	put8(f, type);
	put8(f, 1);
	putmem(f, m, 6);
}

/* An IPv6 header plus 8 bytes of it, as quoted by ICMPv6 errors. */
static void put_quoted_ip6(struct frame *f)
{
	uint8_t a[16];

	put32(f, 0x60000000);
	put16(f, 8 + rn(1400));
	put8(f, chance(50) ? P_UDP : P_TCP);
	put8(f, 64);
	pick_ip6(a);
	putmem(f, a, 16);
	pick_ip6(a);
	putmem(f, a, 16);
	put16(f, pick_port());
	put16(f, pick_port());
	put32(f, rnd64());
}

static void gen_icmp6(struct frame *f, const struct flow *fl)
{
	unsigned int type = fl->sub, code = 0;

	if (type == 1)
		code = rn(7);
	else if (type == 3)
		code = rn(2);
	else if (type == 4)
		code = rn(3);
	else if (type == 0 || type >= 200)
		type = rn(256), code = rn(256);
	put8(f, type);
	put8(f, code);
	put16(f, rn(65536));

	switch (type) {
	case 128:
	case 129:
		echo_body(f, 0x4242);
		break;
	case 135: /* neighbour solicitation */
		put32(f, 0);
		putmem(f, fl->tgt6, 16);
		if (fl->src6[0])
			put_lla_option(f, 1);
		break;
	case 136: /* neighbour advertisement */
		put32(f, (uint32_t)(rn(8) << 29));
		putmem(f, fl->src6, 16);
		put_lla_option(f, 2);
		break;
	case 133: /* router solicitation */
		put32(f, 0);
		put_lla_option(f, 1);
		break;
	case 134: { /* router advertisement with a prefix */
		uint8_t pfx[16];

		put8(f, 64);
		put8(f, rn(4) << 6);
		put16(f, 1800);
		put32(f, 0);
		put32(f, 0);
		put_lla_option(f, 1);
		put8(f, 3);
		put8(f, 4);
		put8(f, 64);
		put8(f, 0xc0);
		put32(f, 2592000);
		put32(f, 604800);
		put32(f, 0);
		set_ip6(pfx, 0x2001, 0);
		pfx[2] = 0x0d, pfx[3] = 0xb8;
		putmem(f, pfx, 16);
		break;
	}
	case 130:
	case 131:
	case 132: /* MLDv1 */
		put16(f, type == 130 ? 10000 : 0);
		put16(f, 0);
		putmem(f, type == 130 && chance(50) ? (const uint8_t[16]){0} : fl->dst6, 16);
		break;
	case 143: { /* MLDv2 report */
		unsigned int nrec = 1 + rn(3);
		uint8_t g[16];

		put16(f, 0);
		put16(f, nrec);
		for (unsigned int i = 0; i < nrec; i++) {
			put8(f, 3 + rn(2));
			put8(f, 0);
			put16(f, 0);
			pick_ip6_mcast(g);
			putmem(f, g, 16);
		}
		break;
	}
	case 1:
	case 3:
		put32(f, 0);
		put_quoted_ip6(f);
		break;
	case 2:
		put32(f, chance(50) ? 1280 : 1500);
		put_quoted_ip6(f);
		break;
	case 4:
		put32(f, 40);
		put_quoted_ip6(f);
		break;
	case 137: /* redirect */
		put32(f, 0);
		putmem(f, fl->tgt6, 16);
		putmem(f, fl->dst6, 16);
		break;
	default:
		putrand(f, rn(64));
		break;
	}
}

static void gen_l4(struct frame *f, struct flow *fl, int depth)
{
	switch (fl->proto) {
	case P_TCP:
		gen_tcp(f, fl);
		break;
	case P_UDP:
		gen_udp(f, depth);
		break;
	case P_ICMP:
		gen_icmp(f);
		break;
	case P_ICMP6:
		gen_icmp6(f, fl);
		break;
	case P_IGMP:
		gen_igmp(f, fl);
		break;
	case P_GRE:
		gen_gre(f, depth);
		break;
	case P_ESP:
		gen_esp(f);
		break;
	case P_AH:
		gen_ah4(f, fl, depth);
		break;
	case P_SCTP:
		gen_sctp(f);
		break;
	case P_PIM:
		gen_pim(f);
		break;
	case P_VRRP:
		gen_vrrp(f, fl);
		break;
	case P_NONE6:
		break;
	default:
		putrand(f, rn(100));
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Network layers.                                                     */

/* Fill n bytes (a multiple of 4) with IPv4 options. */
static void put_ip4_opts(struct frame *f, size_t n, int router_alert)
{
	size_t end = f->len + n < MAXFRAME ? f->len + n : MAXFRAME;

	if (router_alert && n >= 4) {
		put8(f, 0x94), put8(f, 4), put16(f, 0);
	}
	while (f->len < end) {
		size_t left = end - f->len;

		switch (rn(6)) {
		case 0: /* router alert */
			if (left >= 4) {
				put8(f, 0x94), put8(f, 4), put16(f, 0);
				continue;
			}
			break;
		case 1: { /* record route */
			size_t k = ((left > 39 ? 39 : left) - 3) / 4;

			if (left >= 7) {
				put8(f, 7), put8(f, 3 + 4 * k), put8(f, 4);
				putzero(f, 4 * k);
				continue;
			}
			break;
		}
		case 2: /* timestamp */
			if (left >= 8) {
				put8(f, 0x44), put8(f, 8), put8(f, 9), put8(f, 0);
				put32(f, rnd64());
				continue;
			}
			break;
		case 3: /* loose/strict source route with one hop */
			if (left >= 7) {
				put8(f, chance(50) ? 0x83 : 0x89), put8(f, 7), put8(f, 4);
				put32(f, 0x0a000001 + rn(8));
				continue;
			}
			break;
		case 4: /* end of options */
			put8(f, 0);
			putzero(f, left - 1);
			continue;
		}
		put8(f, 1); /* NOP */
	}
}

static void ip4_checksum(struct frame *f, size_t off, size_t hlen)
{
	uint32_t sum = 0;

	if (off + hlen > f->len)
		return;
	f->b[off + 10] = f->b[off + 11] = 0;
	for (size_t i = 0; i < hlen; i += 2)
		sum += (uint32_t)f->b[off + i] << 8 | f->b[off + i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	set16(f, off + 10, ~sum & 0xffff);
}

static void gen_ip4(struct frame *f, struct flow *fl, int depth)
{
	static const uint8_t tos_pool[] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x08, 0xb8, 0x02, 0x03};
	static const uint8_t ttl_pool[] = {64, 64, 128, 255, 1, 32};
	size_t off = f->len, optlen = 0, tot;
	unsigned int frag = 0, vihl;
	int tail_only = 0;

	if (depth == 0 && chance(12))
		optlen = 4 * (1 + rn(10));
	if (fl->proto == P_IGMP && chance(70) && !optlen)
		optlen = 4;
	vihl = 0x40 | (5 + optlen / 4);
	if (chance(1) && fl->tcp_flags < 0)
		vihl = chance(50) ? 0x40 | rn(5) : 0x60 | (vihl & 0xf); /* bad IHL or version */

	if (depth == 0 && fl->tcp_flags < 0 && chance(10)) {
		switch (rn(3)) {
		case 0: /* first fragment */
			frag = 0x2000;
			break;
		case 1: /* middle fragment */
			frag = 0x2000 | (1 + rn(1000));
			tail_only = 1;
			break;
		default: /* last fragment */
			frag = 1 + rn(1000);
			tail_only = 1;
			break;
		}
	} else if (chance(50)) {
		frag = 0x4000; /* DF */
	}
	if (chance(1))
		frag |= 0x8000; /* reserved bit */

	put8(f, vihl);
	put8(f, PICK(tos_pool));
	put16(f, 0);
	put16(f, rn(65536));
	put16(f, frag);
	put8(f, fl->proto == P_IGMP || fl->proto == P_VRRP ? (fl->proto == P_IGMP ? 1 : 255)
							   : PICK(ttl_pool));
	put8(f, fl->proto);
	put16(f, 0);
	putmem(f, fl->src4, 4);
	putmem(f, fl->dst4, 4);
	put_ip4_opts(f, optlen, fl->proto == P_IGMP);

	if (tail_only) {
		if (forced_payload) {
			putrand(f, forced_payload);
			forced_payload = 0;
		} else {
			putrand(f, 8 * (1 + rn(180)));
		}
	} else {
		gen_l4(f, fl, depth);
	}

	tot = f->len - off;
	if (chance(1))
		tot = chance(50) ? tot + 1 + rn(100) : rn(tot); /* lying total length */
	set16(f, off + 2, tot > 0xffff ? 0xffff : tot);
	ip4_checksum(f, off, 20 + optlen);
}

/* Fill n bytes with IPv6 hop-by-hop/destination options. */
static void put_ip6_opts(struct frame *f, size_t n)
{
	size_t end = f->len + n < MAXFRAME ? f->len + n : MAXFRAME;

	while (f->len < end) {
		size_t left = end - f->len;
		unsigned int r = rn(4);

		if (r == 0 && left >= 4) {
			put8(f, 5), put8(f, 2), put16(f, 0); /* router alert */
		} else if (r == 1 && left >= 4) {
			put8(f, 0x1e), put8(f, 2), put16(f, rn(65536)); /* experimental */
		} else if (left >= 2) {
			put8(f, 1), put8(f, left - 2); /* PadN */
			putzero(f, left - 2);
		} else {
			put8(f, 0); /* Pad1 */
		}
	}
}

static void gen_ip6(struct frame *f, struct flow *fl, int depth)
{
	static const uint8_t ext_types[] = {0, 0, 43, 44, 44, 60, 60, 51};
	static const uint8_t hlim_pool[] = {64, 64, 255, 1, 128};
	uint8_t chain[4];
	unsigned int n = 0, vtf = 6u << 28;
	size_t off = f->len;
	int tail_only = 0;

	if (depth == 0 && chance(30)) {
		n = 1 + rn(4);
		for (unsigned int i = 0; i < n; i++) {
			chain[i] = PICK(ext_types);
			if (chain[i] == 0 && i > 0 && !chance(10))
				chain[i] = 60; /* hop-by-hop belongs first */
		}
	}
	if (chance(20))
		vtf |= rn(256) << 20;
	if (chance(40))
		vtf |= rn(1 << 20);
	if (chance(1))
		vtf = (vtf & 0x0fffffff) | 4u << 28; /* wrong version */

	put32(f, vtf);
	put16(f, 0);
	put8(f, n ? chain[0] : fl->proto);
	put8(f, fl->proto == P_ICMP6 && fl->sub >= 130 && fl->sub <= 143 ? 255 : PICK(hlim_pool));
	putmem(f, fl->src6, 16);
	putmem(f, fl->dst6, 16);

	for (unsigned int i = 0; i < n; i++) {
		unsigned int next = i + 1 < n ? chain[i + 1] : fl->proto;

		switch (chain[i]) {
		case 0:
		case 60: { /* hop-by-hop, destination options */
			unsigned int hlen = rn(3);

			put8(f, next);
			put8(f, hlen);
			put_ip6_opts(f, 6 + 8 * hlen);
			break;
		}
		case 43: { /* routing: type 0, 2 or 4, 1-2 addresses */
			static const uint8_t rtypes[] = {0, 2, 4};
			unsigned int segs = 1 + rn(2);
			uint8_t a[16];

			put8(f, next);
			put8(f, 2 * segs);
			put8(f, PICK(rtypes));
			put8(f, rn(segs + 1));
			put32(f, 0);
			for (unsigned int s = 0; s < segs; s++) {
				pick_ip6(a);
				putmem(f, a, 16);
			}
			break;
		}
		case 44: { /* fragment */
			unsigned int fo = chance(50) ? 0 : 1 + rn(1000);

			if (fl->tcp_flags >= 0)
				fo = 0; /* keep the TCP header in this fragment */

			put8(f, next);
			put8(f, 0);
			put16(f, fo << 3 | (chance(60) ? 1 : 0));
			put32(f, rnd64());
			if (fo)
				tail_only = 1;
			break;
		}
		default: /* authentication header */
			put8(f, next);
			put8(f, 4);
			put16(f, 0);
			put32(f, chance(60) ? 0x2000 : rnd64());
			put32(f, 1 + rn(1000));
			putrand(f, 12);
			break;
		}
		if (tail_only)
			break;
	}

	if (tail_only)
		putrand(f, 8 * (1 + rn(150)));
	else
		gen_l4(f, fl, depth);
	set16(f, off + 4, f->len - off - 40);
}

static void gen_arp(struct frame *f, const struct flow *fl, const uint8_t sha[6],
		    const uint8_t dst[6])
{
	unsigned int hln = 6, pln = 4;
	uint8_t spa[4], tpa[4];

	if (chance(4)) {
		/* odd hardware/protocol types and lengths */
		put16(f, chance(50) ? 6 : rn(65536));
		put16(f, chance(50) ? ET_IP6 : rn(65536));
		hln = rn(17);
		pln = rn(17);
		put8(f, hln);
		put8(f, pln);
		put16(f, fl->sub);
		putrand(f, 2 * (hln + pln));
		return;
	}
	memcpy(spa, fl->src4, 4);
	memcpy(tpa, fl->dst4, 4);
	if (fl->sub == 1 && chance(10))
		memcpy(tpa, spa, 4); /* gratuitous */
	if (fl->sub == 1 && chance(5))
		memset(spa, 0, 4); /* probe */

	put16(f, 1);
	put16(f, ET_IP);
	put8(f, hln);
	put8(f, pln);
	put16(f, fl->sub);
	putmem(f, sha, 6);
	putmem(f, spa, 4);
	if (fl->sub == 1 || fl->sub == 3)
		putzero(f, 6);
	else
		putmem(f, dst, 6);
	putmem(f, tpa, 4);
}

/* ------------------------------------------------------------------ */
/* Whole frames.                                                       */

static void put_vlan_tag(struct frame *f, unsigned int tpid)
{
	unsigned int vid = chance(85) ? PICK(vlan_ids) : rn(4096);
	unsigned int pcp = rn(8);
	unsigned int dei = chance(5);

	put16(f, tpid);
	put16(f, pcp << 13 | dei << 12 | vid);
}

static void put_mpls_stack(struct frame *f)
{
	unsigned int n = 1 + rn(3);

	for (unsigned int i = 0; i < n; i++) {
		unsigned int label = chance(85) ? PICK(mpls_labels) : rn(1 << 20);
		unsigned int tc = rn(8);
		unsigned int ttl = 1 + rn(255);

		put32(f, label << 12 | tc << 9 | (i + 1 == n ? 0x100 : 0) | ttl);
	}
}

enum encap {
	ENC_PLAIN,
	ENC_VLAN,
	ENC_QINQ,
	ENC_VLAN3,
	ENC_MPLS,
	ENC_VLAN_MPLS,
	ENC_PPPOE,
};

static void pad_frame(struct frame *f)
{
	if (f->len < ETH_MINLEN && chance(85)) {
		if (chance(70))
			putzero(f, ETH_MINLEN - f->len);
		else
			putrand(f, ETH_MINLEN - f->len);
	}
}

/*
 * IPv4, IPv6, ARP or RARP, possibly inside VLAN/QinQ/MPLS/PPPoE.  With
 * sweep >= 0, a TCP segment with flags (sweep & 0xff) instead, in plain
 * untagged IPv4 for the first 256 values of sweep.
 */
static void gen_ip_frame(struct frame *f, int sweep)
{
	static const unsigned int outer_tpids[] = {ET_QINQ, ET_QINQ, ET_VLAN, ET_QINQ9};
	unsigned int r = rn(100), l3, type, enc;
	uint8_t dst[6], src[6];
	size_t pppoe_len = 0;
	struct flow fl;

	l3 = r < 55 ? ET_IP : r < 85 ? ET_IP6 : r < 95 ? ET_ARP : ET_RARP;
	r = rn(100);
	if (r < 66)
		enc = ENC_PLAIN;
	else if (r < 79)
		enc = ENC_VLAN;
	else if (r < 87)
		enc = ENC_QINQ;
	else if (r < 89)
		enc = ENC_VLAN3;
	else if (r < 94)
		enc = ENC_MPLS;
	else if (r < 96)
		enc = ENC_VLAN_MPLS;
	else
		enc = ENC_PPPOE;
	if ((enc == ENC_MPLS || enc == ENC_VLAN_MPLS || enc == ENC_PPPOE) &&
	    (l3 == ET_ARP || l3 == ET_RARP))
		enc = ENC_VLAN;
	if (sweep >= 0 && sweep < 256)
		l3 = ET_IP, enc = ENC_PLAIN;
	else if (sweep >= 0)
		l3 = sweep & 1 ? ET_IP6 : ET_IP;

	make_flow(&fl, l3, 0);
	if (sweep >= 0) {
		fl.proto = P_TCP;
		fl.tcp_flags = sweep & 0xff;
	}
	flow_macs(&fl, dst, src);
	putmem(f, dst, 6);
	putmem(f, src, 6);

	type = l3;
	if (chance(2) && (l3 == ET_IP || l3 == ET_IP6) && sweep < 0)
		type = l3 == ET_IP ? ET_IP6 : ET_IP; /* ethertype lies */

	switch (enc) {
	case ENC_VLAN3:
		put_vlan_tag(f, ET_QINQ);
		__attribute__((fallthrough));
	case ENC_QINQ:
		put_vlan_tag(f, PICK(outer_tpids));
		__attribute__((fallthrough));
	case ENC_VLAN:
		put_vlan_tag(f, ET_VLAN);
		break;
	case ENC_VLAN_MPLS:
		put_vlan_tag(f, ET_VLAN);
		__attribute__((fallthrough));
	case ENC_MPLS:
		put16(f, chance(85) ? ET_MPLS : ET_MPLSM);
		put_mpls_stack(f);
		break;
	case ENC_PPPOE:
		put16(f, ET_PPPOES);
		put8(f, 0x11);
		put8(f, 0);
		put16(f, chance(70) ? 0x1234 : rn(65536));
		pppoe_len = f->len;
		put16(f, 0);
		put16(f, type == ET_IP ? 0x0021 : 0x0057);
		break;
	}
	if (enc != ENC_MPLS && enc != ENC_VLAN_MPLS && enc != ENC_PPPOE)
		put16(f, type);

	switch (l3) {
	case ET_IP:
		gen_ip4(f, &fl, 0);
		break;
	case ET_IP6:
		gen_ip6(f, &fl, 0);
		break;
	default:
		gen_arp(f, &fl, src, dst);
		break;
	}
	if (pppoe_len)
		set16(f, pppoe_len, f->len - pppoe_len - 2);
	pad_frame(f);
}

/* 802.3 frames with an LLC header: STP, IPX, SNAP, NetBEUI, IS-IS. */
static void gen_llc_frame(struct frame *f)
{
	static const uint8_t stp_dst[6] = {0x01, 0x80, 0xc2, 0x00, 0x00, 0x00};
	static const uint8_t isis_dst[6] = {0x01, 0x80, 0xc2, 0x00, 0x00, 0x14};
	static const uint8_t cdp_dst[6] = {0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xcc};
	uint8_t src[6];
	unsigned int kind = rn(7);
	size_t lenoff;

	pick_mac(src);
	switch (kind) {
	case 0:
	case 1:
		putmem(f, stp_dst, 6);
		break;
	case 5:
		putmem(f, isis_dst, 6);
		break;
	case 6:
		putmem(f, cdp_dst, 6);
		break;
	default:
		putmem(f, chance(50) ? mac_bcast : PICK(mac_pool), 6);
		break;
	}
	putmem(f, src, 6);
	lenoff = f->len;
	put16(f, 0);

	switch (kind) {
	case 0:
	case 1: /* STP / RSTP BPDU */
		put8(f, 0x42), put8(f, 0x42), put8(f, 0x03);
		put16(f, 0);
		put8(f, kind ? 2 : 0);
		put8(f, kind ? 2 : 0);
		put8(f, rn(256));
		put16(f, 0x8000);
		putmem(f, src, 6);
		put32(f, rn(20000));
		put16(f, 0x8000);
		putmem(f, src, 6);
		put16(f, 0x8001);
		put16(f, 0), put16(f, 20 << 8), put16(f, 2 << 8), put16(f, 15 << 8);
		if (kind)
			put8(f, 0); /* version 1 length */
		break;
	case 2: /* raw 802.3 IPX */
		put16(f, 0xffff);
		put16(f, 30);
		put8(f, 0);
		put8(f, 4);
		putrand(f, 26);
		break;
	case 3: /* SNAP carrying IPv4, which `ip' does not match on Ethernet */
		put8(f, 0xaa), put8(f, 0xaa), put8(f, 0x03);
		put8(f, 0), put8(f, 0), put8(f, 0);
		put16(f, ET_IP);
		gen_inner(f, ET_IP);
		break;
	case 4: /* NetBEUI */
		put8(f, 0xf0), put8(f, 0xf0), put8(f, 0x03);
		putrand(f, 20 + rn(40));
		break;
	case 5: /* IS-IS */
		put8(f, 0xfe), put8(f, 0xfe), put8(f, 0x03);
		put8(f, 0x83);
		putrand(f, 20 + rn(40));
		break;
	default: /* CDP over SNAP */
		put8(f, 0xaa), put8(f, 0xaa), put8(f, 0x03);
		put8(f, 0), put8(f, 0), put8(f, 0x0c);
		put16(f, 0x2000);
		putrand(f, 30 + rn(60));
		break;
	}
	set16(f, lenoff, chance(3) ? rn(1536) : f->len - lenoff - 2);
	pad_frame(f);
}

/* Other ethertypes: LLDP, PPPoE discovery, LACP, Wake-on-LAN, legacy stacks. */
static void gen_other_frame(struct frame *f)
{
	static const uint8_t lldp_dst[6] = {0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e};
	static const uint8_t slow_dst[6] = {0x01, 0x80, 0xc2, 0x00, 0x00, 0x02};
	static const unsigned int legacy[] = {0x8137, 0x809b, 0x80f3, 0x6003, 0x6004,
					      0x6001, 0x6002, 0x88e5, 0x8906, 0x9000};
	uint8_t src[6];

	pick_mac(src);
	switch (rn(7)) {
	case 0: /* LLDP */
		putmem(f, lldp_dst, 6);
		putmem(f, src, 6);
		put16(f, 0x88cc);
		put16(f, 1 << 9 | 7), put8(f, 4), putmem(f, src, 6);
		put16(f, 2 << 9 | 5), put8(f, 5), putstr(f, "eth0");
		put16(f, 3 << 9 | 2), put16(f, 120);
		put16(f, 0);
		break;
	case 1: /* PPPoE discovery: PADI */
		putmem(f, mac_bcast, 6);
		putmem(f, src, 6);
		put16(f, ET_PPPOED);
		put8(f, 0x11), put8(f, 0x09), put16(f, 0), put16(f, 4);
		put16(f, 0x0101), put16(f, 0);
		break;
	case 2: /* LACP */
		putmem(f, slow_dst, 6);
		putmem(f, src, 6);
		put16(f, 0x8809);
		put8(f, 1), put8(f, 1);
		putrand(f, 108);
		break;
	case 3: /* Wake-on-LAN */
		putmem(f, mac_bcast, 6);
		putmem(f, src, 6);
		put16(f, 0x0842);
		putmem(f, mac_bcast, 6);
		for (int i = 0; i < 16; i++)
			putmem(f, mac_pool[0], 6);
		break;
	case 4:
	case 5: /* IPX, AppleTalk, AARP, DECnet, LAT, MOP, ... */
		putmem(f, chance(50) ? mac_bcast : PICK(mac_pool), 6);
		putmem(f, src, 6);
		put16(f, PICK(legacy));
		putrand(f, 20 + rn(80));
		break;
	default: /* anything at or above 0x0600 */
		putmem(f, PICK(mac_pool), 6);
		putmem(f, src, 6);
		put16(f, 0x0600 + rn(0x10000 - 0x0600));
		putrand(f, rn(120));
		break;
	}
	pad_frame(f);
}

/* A large IPv4 or IPv6 TCP/UDP frame of about `payload' bytes. */
static void gen_big_frame(struct frame *f, size_t payload, int ipv6)
{
	uint8_t dst[6], src[6];
	struct flow fl;

	do {
		make_flow(&fl, ipv6 ? ET_IP6 : ET_IP, 1);
	} while ((fl.proto != P_TCP && fl.proto != P_UDP) || fl.dst4[0] >= 224 ||
		 (ipv6 && fl.dst6[0] == 0xff));
	flow_macs(&fl, dst, src);
	putmem(f, dst, 6);
	putmem(f, src, 6);
	put16(f, fl.l3);
	forced_payload = payload;
	if (ipv6)
		gen_ip6(f, &fl, 1);
	else
		gen_ip4(f, &fl, 1);
	forced_payload = 0;
}

/* ------------------------------------------------------------------ */
/* pcap output.                                                        */

struct pcap_file_hdr {
	uint32_t magic;
	uint16_t version_major;
	uint16_t version_minor;
	int32_t thiszone;
	uint32_t sigfigs;
	uint32_t snaplen;
	uint32_t linktype;
};

struct pcap_rec_hdr {
	uint32_t ts_sec;
	uint32_t ts_nsec;
	uint32_t caplen;
	uint32_t len;
};

static void write_or_die(FILE *out, const void *p, size_t n, const char *path)
{
	if (n && fwrite(p, n, 1, out) != 1) {
		perror(path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	static const unsigned int snaps[] = {14, 20, 34, 38, 54, 60, 64, 96, 128};
	static struct frame fr;
	struct pcap_file_hdr fh = {
	    .magic = 0xa1b23c4d, /* nanosecond resolution */
	    .version_major = 2,
	    .version_minor = 4,
	    .snaplen = SNAPLEN,
	    .linktype = 1, /* LINKTYPE_ETHERNET */
	};
	unsigned long seed = 1;
	unsigned int ntrunc = 0, ntiny = 0, tcp_sweep = 0;
	uint64_t ns = 0;
	FILE *out;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: %s OUT.pcap [SEED]\n", argv[0]);
		return 2;
	}
	if (argc == 3) {
		char *end;

		seed = strtoul(argv[2], &end, 0);
		if (*argv[2] == '\0' || *end != '\0') {
			fprintf(stderr, "%s: bad seed '%s'\n", argv[0], argv[2]);
			return 2;
		}
	}
	rng_state = seed;

	out = fopen(argv[1], "wb");
	if (!out) {
		perror(argv[1]);
		return 1;
	}
	write_or_die(out, &fh, sizeof(fh), argv[1]);

	for (unsigned int i = 0; i < NPKTS; i++) {
		struct pcap_rec_hdr rh;
		uint32_t wire, cap;
		int big = 0, whole = 0;
		unsigned int r;

		fr.len = 0;
		if (i % 400 == 200) {
			/* jumbo frame of roughly 9000 bytes */
			gen_big_frame(&fr, 8900 + rn(60), i % 800 == 200);
		} else if (i % 600 == 300) {
			/* a GSO-sized packet, only its head captured */
			gen_big_frame(&fr, 30000 + rn(35000) - 100, 0);
			big = 1;
		} else if (i % 6 == 3) {
			/* sweep through all TCP flag bytes, uncut */
			gen_ip_frame(&fr, tcp_sweep++);
			whole = 1;
		} else {
			r = rn(1000);
			if (r < 30)
				putrand(&fr, 14 + rn(187)); /* garbage */
			else if (r < 70)
				gen_llc_frame(&fr);
			else if (r < 110)
				gen_other_frame(&fr);
			else
				gen_ip_frame(&fr, -1);
		}

		wire = fr.len;
		cap = wire;
		r = rn(1000);
		if (big) {
			cap = PICK(snaps);
		} else if (whole) {
			cap = wire;
		} else if (r < 25) {
			cap = 1 + rn(13);
		} else if (r < 235 && wire > 14) {
			cap = PICK(snaps);
			if (cap >= wire)
				cap = 14 + rn(wire - 14);
		}
		if (cap < wire)
			ntrunc++;
		if (cap < 14)
			ntiny++;

		ns += 1000 + rn(2000000);
		rh.ts_sec = TS_BASE + (uint32_t)(ns / 1000000000u);
		rh.ts_nsec = (uint32_t)(ns % 1000000000u);
		rh.caplen = cap;
		rh.len = wire;
		write_or_die(out, &rh, sizeof(rh), argv[1]);
		write_or_die(out, fr.b, cap, argv[1]);
	}

	if (fclose(out) != 0) {
		perror(argv[1]);
		return 1;
	}
	fprintf(stderr, "craft: %u packets (%u truncated, %u under 14 bytes), seed %lu -> %s\n",
		NPKTS, ntrunc, ntiny, seed, argv[1]);
	return 0;
}
