/* text.c - see text.h. The formats are tcpdump 4.99's with -nn -tt, checked
 * line for line against tcpdump in tests/netns/server.sh. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/pcapng_reader.h"
#include "core/text.h"
#include "core/text_int.h"

struct srv_text {
	struct srv_pcapng_reader rd;
	struct ecap_buf *out; /* during a feed */
	char names[SRV_IFACES_MAX][SRV_IFNAME_MAX];
	uint16_t linktypes[SRV_IFACES_MAX];
	struct tcp_convs convs;
	struct line line;
	int prefix;		   /* lines begin with the interface's name */
	enum srv_text_time time;   /* then the time, as tcpdump's -t options say */
	int64_t first_ts, prev_ts; /* ns, for the deltas; first_ts 0: none yet */
};

void srv_text_style(struct srv_text *t, int prefix, enum srv_text_time time)
{
	t->prefix = prefix;
	t->time = time;
}

/* The time as tcpdump prints it before the packet's line. */
static void put_time(struct srv_text *t, struct line *l, int64_t ts)
{
	int64_t d, us;
	time_t sec = (time_t)(ts / 1000000000);
	struct tm tm;

	switch (t->time) {
	case SRV_TEXT_TIME_NONE:
		break;
	case SRV_TEXT_TIME_EPOCH:
		text_put(l, "%" PRId64 ".%06" PRId64 " ", ts / 1000000000, ts % 1000000000 / 1000);
		break;
	case SRV_TEXT_TIME_DELTA:
	case SRV_TEXT_TIME_SINCE_FIRST:
		if (!t->first_ts)
			t->first_ts = t->prev_ts = ts;
		d = ts - (t->time == SRV_TEXT_TIME_DELTA ? t->prev_ts : t->first_ts);
		t->prev_ts = ts;
		us = (d < 0 ? -d : d) / 1000;
		text_put(l, "%s%02" PRId64 ":%02" PRId64 ":%02" PRId64 ".%06" PRId64 " ",
			 d < 0 ? "-" : " ", us / 3600000000, us / 60000000 % 60, us / 1000000 % 60,
			 us % 1000000);
		break;
	case SRV_TEXT_TIME_DATE:
	case SRV_TEXT_TIME_CLOCK:
		localtime_r(&sec, &tm);
		if (t->time == SRV_TEXT_TIME_DATE)
			text_put(l, "%04d-%02d-%02d ", tm.tm_year + 1900, tm.tm_mon + 1,
				 tm.tm_mday);
		text_put(l, "%02d:%02d:%02d.%06" PRId64 " ", tm.tm_hour, tm.tm_min, tm.tm_sec,
			 ts % 1000000000 / 1000);
		break;
	}
}

/* UDP, and DNS over it (53, and 5353 for multicast DNS). */
static void udp(struct line *l, const struct seg *g)
{
	const uint8_t *p = g->p;
	unsigned sport = be16(p), dport = be16(p + 2), ulen = be16(p + 4);
	uint32_t len = g->len - 8;

	text_put(l, "%s %s.%u > %s.%u: ", g->v6 ? "IP6" : "IP", g->src, sport, g->dst, dport);
	if (ulen < 8) {
		text_put(l, "truncated-udplength %u", ulen);
		return;
	}
	if (ulen - 8 < len)
		len = ulen - 8;
	if (sport == 53 || dport == 53)
		text_dns(l, p + 8, len, g->cap - 8, 0, 0);
	else if (sport == 5353 || dport == 5353)
		text_dns(l, p + 8, len, g->cap - 8, 0, 1);
	else
		text_put(l, "UDP, length %u", ulen - 8);
}

/* The transport layer of g, by protocol number. */
static void transport(struct srv_text *t, struct line *l, unsigned proto, const struct seg *g)
{
	const uint8_t *p = g->p;
	uint32_t len = g->cap, plen = g->len;
	const char *src = g->src, *dst = g->dst;
	int v6 = g->v6;

	if (proto == 17 && len >= 8 && plen >= 8) {
		udp(l, g);
		return;
	}
	if (proto == 6) {
		text_tcp(&t->convs, l, g);
		return;
	}
	if (proto == 1 && !v6 && len >= 8) {
		text_put(l, "IP %s > %s: ICMP ", src, dst);
		if (p[0] == 8 || p[0] == 0)
			text_put(l, "echo %s, id %u, seq %u, length %u", p[0] ? "request" : "reply",
				 be16(p + 4), be16(p + 6), plen);
		else if (p[0] == 3 && p[1] == 3 && len >= 8 + 20 &&
			 len >= 8 + (p[8] & 15) * 4u + 4 && (p[8 + 9] == 17 || p[8 + 9] == 6)) {
			char odst[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, p + 8 + 16, odst, sizeof(odst));
			text_put(l, "%s %s port %u unreachable, length %u", odst,
				 p[8 + 9] == 17 ? "udp" : "tcp", be16(p + 8 + (p[8] & 15) * 4u + 2),
				 plen);
		} else
			text_put(l, "type-#%u, length %u", p[0], plen);
		return;
	}
	if (proto == 58 && v6 && len >= 8) {
		text_put(l, "IP6 %s > %s: ICMP6, ", src, dst);
		if (p[0] == 128 || p[0] == 129)
			text_put(l, "echo %s, id %u, seq %u, length %u",
				 p[0] == 128 ? "request" : "reply", be16(p + 4), be16(p + 6), plen);
		else if ((p[0] == 135 || p[0] == 136) && len >= 24) {
			char tgt[INET6_ADDRSTRLEN];

			inet_ntop(AF_INET6, p + 8, tgt, sizeof(tgt));
			text_put(l,
				 p[0] == 135 ? "neighbor solicitation, who has %s, length %u"
					     : "neighbor advertisement, tgt is %s, length %u",
				 tgt, plen);
		} else if (p[0] == 133)
			text_put(l, "router solicitation, length %u", plen);
		else
			text_put(l, "type-#%u, length %u", p[0], plen);
		return;
	}
	text_put(l, "%s %s > %s:  ip-proto-%u %u", v6 ? "IP6" : "IP", src, dst, proto, plen);
}

static void ipv4(struct srv_text *t, struct line *l, const uint8_t *p, uint32_t len)
{
	char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];
	struct seg g = {.saddr = p + 12, .daddr = p + 16, .src = src, .dst = dst};
	unsigned hl = len ? (p[0] & 15) * 4u : 0, total;

	if (len < 20 || hl < 20 || len < hl) {
		text_put(l, "IP truncated-ip");
		return;
	}
	total = be16(p + 2);
	inet_ntop(AF_INET, p + 12, src, sizeof(src));
	inet_ntop(AF_INET, p + 16, dst, sizeof(dst));
	if (be16(p + 6) & 0x1fff) { /* a later fragment */
		text_put(l, "IP %s > %s: ip-proto-%u", src, dst, p[9]);
		return;
	}
	g.p = p + hl;
	g.len = total > hl ? total - hl : 0;
	g.cap = len - hl < g.len ? len - hl : g.len; /* without the link's padding */
	transport(t, l, p[9], &g);
}

static void ipv6(struct srv_text *t, struct line *l, const uint8_t *p, uint32_t len)
{
	char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN];
	struct seg g = {.v6 = 1, .saddr = p + 8, .daddr = p + 24, .src = src, .dst = dst};

	if (len < 40) {
		text_put(l, "IP6 truncated-ip6");
		return;
	}
	inet_ntop(AF_INET6, p + 8, src, sizeof(src));
	inet_ntop(AF_INET6, p + 24, dst, sizeof(dst));
	g.p = p + 40;
	g.len = be16(p + 4);
	g.cap = len - 40 < g.len ? len - 40 : g.len;
	transport(t, l, p[6], &g);
}

static void arp(struct line *l, const uint8_t *p, uint32_t len, uint32_t wire)
{
	char spa[INET_ADDRSTRLEN], tpa[INET_ADDRSTRLEN];

	if (len < 28 || be16(p) != 1 || be16(p + 2) != 0x0800 || p[4] != 6 || p[5] != 4) {
		text_put(l, "ARP, length %u", wire);
		return;
	}
	inet_ntop(AF_INET, p + 14, spa, sizeof(spa));
	inet_ntop(AF_INET, p + 24, tpa, sizeof(tpa));
	if (be16(p + 6) == 1)
		text_put(l, "ARP, Request who-has %s tell %s, length %u", tpa, spa, wire);
	else if (be16(p + 6) == 2)
		text_put(l, "ARP, Reply %s is-at %02x:%02x:%02x:%02x:%02x:%02x, length %u", spa,
			 p[8], p[9], p[10], p[11], p[12], p[13], wire);
	else
		text_put(l, "ARP, opcode %u, length %u", be16(p + 6), wire);
}

void srv_text_packet(struct srv_text *t, struct ecap_buf *out, const char *prefix, int64_t ts,
		     uint16_t linktype, const uint8_t *p, uint32_t caplen, uint32_t wirelen)
{
	struct line *l = &t->line;
	uint32_t off = 0, type = 0;

	l->n = 0;
	if (t->prefix)
		text_put(l, "%s ", prefix);
	put_time(t, l, ts);
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
		ipv4(t, l, p + off, caplen - off);
		break;
	case 0x86dd:
		ipv6(t, l, p + off, caplen - off);
		break;
	case 0x0806:
		arp(l, p + off, caplen - off, wirelen - off);
		break;
	default:
	unknown:
		text_put(l, "ethertype 0x%04x, length %u", type, wirelen);
		break;
	}
	if (l->n >= sizeof(l->s) - 1)
		l->n = sizeof(l->s) - 2; /* a line that filled the buffer ends there */
	l->s[l->n++] = '\n';
	ecap_buf_put(out, l->s, l->n);
}

static int on_block(void *ctx, enum srv_pcapng_event ev, const void *arg)
{
	struct srv_text *t = ctx;

	if (ev == SRV_PCAPNG_IFACE) {
		const struct srv_pcapng_iface *f = arg;

		snprintf(t->names[f->id], SRV_IFNAME_MAX, "%.*s", (int)strcspn(f->name, ":"),
			 f->name);
		t->linktypes[f->id] = f->linktype;
	} else if (ev == SRV_PCAPNG_PACKET) {
		const struct srv_pcapng_packet *k = arg;

		srv_text_packet(t, t->out, t->names[k->if_id], k->ts, t->linktypes[k->if_id],
				k->data, k->caplen, k->wirelen);
	}
	return 0;
}

struct srv_text *srv_text_new(void)
{
	struct srv_text *t = calloc(1, sizeof(*t));

	if (t) {
		srv_pcapng_init(&t->rd, on_block, t);
		srv_text_style(t, 1, SRV_TEXT_TIME_EPOCH);
	}
	return t;
}

void srv_text_free(struct srv_text *t)
{
	if (!t)
		return;
	srv_pcapng_free(&t->rd);
	tcp_convs_free(&t->convs);
	free(t);
}

int srv_text_feed(struct srv_text *t, struct ecap_buf *out, const void *data, size_t len)
{
	int r;

	t->out = out;
	r = srv_pcapng_feed(&t->rd, data, len);
	t->out = NULL;
	return r;
}

const char *srv_text_error(const struct srv_text *t)
{
	return t->rd.err;
}
