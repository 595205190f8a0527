/* text.c - see text.h. The formats are tcpdump 4.99's with -nn -tt, checked
 * line for line against tcpdump in tests/netns/server.sh. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "text.h"

struct line {
	char s[512];
	size_t n;
};

static void put(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (l->n >= sizeof(l->s) - 1)
		return;
	va_start(ap, fmt);
	k = vsnprintf(l->s + l->n, sizeof(l->s) - l->n, fmt, ap);
	va_end(ap);
	if (k > 0)
		l->n += (size_t)k < sizeof(l->s) - l->n ? (size_t)k : sizeof(l->s) - 1 - l->n;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void ports(struct line *l, const char *v, const char *src, const char *dst,
		  const uint8_t *p)
{
	put(l, "%s %s.%u > %s.%u: ", v, src, be16(p), dst, be16(p + 2));
}

/* The transport layer: proto, its bytes p (len of them in the packet, plen
 * by the IP header). */
static void transport(struct line *l, int v6, const char *src, const char *dst, unsigned proto,
		      const uint8_t *p, uint32_t len, uint32_t plen)
{
	const char *v = v6 ? "IP6" : "IP";

	if (proto == 17 && len >= 8) {
		ports(l, v, src, dst, p);
		put(l, "UDP, length %u", be16(p + 4) >= 8 ? be16(p + 4) - 8u : 0u);
		return;
	}
	if (proto == 6 && len >= 20) {
		static const char names[] = "FSRP.UEW"; /* bits 0..7, tcpdump's order */
		unsigned off = (p[12] >> 4) * 4u, fl = p[13];
		uint32_t data = plen > off ? plen - off : 0;
		char f[16];
		int n = 0;

		for (unsigned k = 0; k < 8; k++)
			if (fl & (1u << k))
				f[n++] = names[k];
		f[n] = 0;
		ports(l, v, src, dst, p);
		put(l, "Flags [%s], seq %u", n ? f : "none", be32(p + 4));
		if (data)
			put(l, ":%u", be32(p + 4) + data);
		if (fl & 0x10)
			put(l, ", ack %u", be32(p + 8));
		put(l, ", win %u, length %u", be16(p + 14), data);
		return;
	}
	if (proto == 1 && !v6 && len >= 8) {
		put(l, "IP %s > %s: ICMP ", src, dst);
		if (p[0] == 8 || p[0] == 0)
			put(l, "echo %s, id %u, seq %u, length %u", p[0] ? "request" : "reply",
			    be16(p + 4), be16(p + 6), plen);
		else if (p[0] == 3 && p[1] == 3 && len >= 8 + 20 &&
			 len >= 8 + (p[8] & 15) * 4u + 4 && (p[8 + 9] == 17 || p[8 + 9] == 6)) {
			char odst[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, p + 8 + 16, odst, sizeof(odst));
			put(l, "%s %s port %u unreachable, length %u", odst,
			    p[8 + 9] == 17 ? "udp" : "tcp", be16(p + 8 + (p[8] & 15) * 4u + 2), plen);
		} else
			put(l, "type-#%u, length %u", p[0], plen);
		return;
	}
	if (proto == 58 && v6 && len >= 8) {
		put(l, "IP6 %s > %s: ICMP6, ", src, dst);
		if (p[0] == 128 || p[0] == 129)
			put(l, "echo %s, id %u, seq %u, length %u", p[0] == 128 ? "request" : "reply",
			    be16(p + 4), be16(p + 6), plen);
		else if ((p[0] == 135 || p[0] == 136) && len >= 24) {
			char t[INET6_ADDRSTRLEN];

			inet_ntop(AF_INET6, p + 8, t, sizeof(t));
			put(l, p[0] == 135 ? "neighbor solicitation, who has %s, length %u"
					   : "neighbor advertisement, tgt is %s, length %u",
			    t, plen);
		} else if (p[0] == 133)
			put(l, "router solicitation, length %u", plen);
		else
			put(l, "type-#%u, length %u", p[0], plen);
		return;
	}
	put(l, "%s %s > %s: ip-proto-%u %u", v, src, dst, proto, plen);
}

static void ipv4(struct line *l, const uint8_t *p, uint32_t len)
{
	char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];
	unsigned hl = (p[0] & 15) * 4u, total;

	if (len < 20 || hl < 20 || len < hl) {
		put(l, "IP truncated-ip");
		return;
	}
	total = be16(p + 2);
	inet_ntop(AF_INET, p + 12, src, sizeof(src));
	inet_ntop(AF_INET, p + 16, dst, sizeof(dst));
	if (be16(p + 6) & 0x1fff) { /* a later fragment */
		put(l, "IP %s > %s: ip-proto-%u", src, dst, p[9]);
		return;
	}
	transport(l, 0, src, dst, p[9], p + hl, len - hl, total > hl ? total - hl : 0);
}

static void ipv6(struct line *l, const uint8_t *p, uint32_t len)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];

	if (len < 40) {
		put(l, "IP6 truncated-ip6");
		return;
	}
	inet_ntop(AF_INET6, p + 8, src, sizeof(src));
	inet_ntop(AF_INET6, p + 24, dst, sizeof(dst));
	transport(l, 1, src, dst, p[6], p + 40, len - 40, be16(p + 4));
}

static void arp(struct line *l, const uint8_t *p, uint32_t len, uint32_t wire)
{
	char spa[INET_ADDRSTRLEN], tpa[INET_ADDRSTRLEN];

	if (len < 28 || be16(p) != 1 || be16(p + 2) != 0x0800 || p[4] != 6 || p[5] != 4) {
		put(l, "ARP, length %u", wire);
		return;
	}
	inet_ntop(AF_INET, p + 14, spa, sizeof(spa));
	inet_ntop(AF_INET, p + 24, tpa, sizeof(tpa));
	if (be16(p + 6) == 1)
		put(l, "ARP, Request who-has %s tell %s, length %u", tpa, spa, wire);
	else if (be16(p + 6) == 2)
		put(l, "ARP, Reply %s is-at %02x:%02x:%02x:%02x:%02x:%02x, length %u", spa, p[8],
		    p[9], p[10], p[11], p[12], p[13], wire);
	else
		put(l, "ARP, opcode %u, length %u", be16(p + 6), wire);
}

void srv_text_packet(struct ecap_buf *out, const char *prefix, int64_t ts, uint16_t linktype,
		     const uint8_t *p, uint32_t caplen, uint32_t wirelen)
{
	struct line l = {.n = 0};
	uint32_t off = 0, type = 0;

	put(&l, "%s %" PRId64 ".%06" PRId64 " ", prefix, ts / 1000000000,
	    ts % 1000000000 / 1000);
	if (linktype == 1) {
		if (caplen < 14)
			goto unknown;
		type = be16(p + 12);
		off = 14;
		while ((type == 0x8100 || type == 0x88a8) && caplen >= off + 4) {
			type = be16(p + off + 2);
			off += 4;
		}
	} else if (linktype == 12 || linktype == 101) { /* raw IP */
		type = caplen && (p[0] >> 4) == 6 ? 0x86dd : 0x0800;
	}
	switch (type) {
	case 0x0800:
		ipv4(&l, p + off, caplen - off);
		break;
	case 0x86dd:
		ipv6(&l, p + off, caplen - off);
		break;
	case 0x0806:
		arp(&l, p + off, caplen - off, wirelen - off);
		break;
	default:
	unknown:
		put(&l, "ethertype 0x%04x, length %u", type, wirelen);
		break;
	}
	put(&l, "\n");
	ecap_buf_put(out, l.s, l.n);
}
