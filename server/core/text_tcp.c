/* text_tcp.c - TCP segments as tcpdump 4.99 prints them with -nn:
 *   Flags [S.], seq 1:101, ack 1, win 502, options [nop,nop,TS val 1 ecr 2], length 100
 * Sequence numbers are relative to the conversation's first segment with ACK
 * set, as tcpdump's are (one entry for both directions, reset by a SYN); the
 * payload of a few well-known ports is summarised: HTTP (80, 8080), FTP (21),
 * SMTP (25), SSH (22, its version line) and DNS (53). */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/text_int.h"

#define CONVS_MIN 256u
#define CONVS_MAX (1u << 16) /* more live conversations: the table starts again */

struct conv_key {
	uint8_t v6, pad[3];
	uint32_t ports;
	uint8_t a[16], b[16];
};

struct tcp_conv {
	struct conv_key k;
	uint32_t seq, ack;
	uint8_t used;
};

void tcp_convs_free(struct tcp_convs *c)
{
	free(c->slots);
	*c = (struct tcp_convs){0};
}

static struct tcp_conv *conv_slot(struct tcp_conv *slots, uint32_t mask, const struct conv_key *k)
{
	uint32_t i = (uint32_t)XXH3_64bits(k, sizeof(*k)) & mask;

	while (slots[i].used && memcmp(&slots[i].k, k, sizeof(*k)))
		i = (i + 1) & mask;
	return &slots[i];
}

/* The conversation's entry, new ones zeroed; NULL without memory. */
static struct tcp_conv *conv_get(struct tcp_convs *c, const struct conv_key *k, int *fresh)
{
	struct tcp_conv *e;

	if (!c->slots || c->used + 1 > (c->mask + 1) / 2) {
		uint32_t size = c->slots ? (c->mask + 1) * 2 : CONVS_MIN;
		struct tcp_conv *n;

		if (size > CONVS_MAX * 2) { /* bounded: forget them all */
			memset(c->slots, 0, (c->mask + 1) * sizeof(*c->slots));
			c->used = 0;
		} else {
			if (!(n = calloc(size, sizeof(*n))))
				return NULL;
			for (uint32_t i = 0; c->slots && i <= c->mask; i++)
				if (c->slots[i].used)
					*conv_slot(n, size - 1, &c->slots[i].k) = c->slots[i];
			free(c->slots);
			c->slots = n;
			c->mask = size - 1;
		}
	}
	e = conv_slot(c->slots, c->mask, k);
	*fresh = !e->used;
	if (!e->used) {
		e->k = *k;
		e->used = 1;
		c->used++;
	}
	return e;
}

/* Text protocols: the first line of a request or response. */
static const char *const http_cmds[] = {
    "GET",
    "PUT",
    "COPY",
    "HEAD",
    "LOCK",
    "MOVE",
    "POLL",
    "POST",
    "BCOPY",
    "BMOVE",
    "MKCOL",
    "TRACE",
    "LABEL",
    "MERGE",
    "DELETE",
    "SEARCH",
    "UNLOCK",
    "REPORT",
    "UPDATE",
    "NOTIFY",
    "BDELETE",
    "CONNECT",
    "OPTIONS",
    "CHECKIN",
    "PROPFIND",
    "CHECKOUT",
    "CCM_POST",
    "SUBSCRIBE",
    "PROPPATCH",
    "BPROPFIND",
    "BPROPPATCH",
    "UNCHECKOUT",
    "MKACTIVITY",
    "MKWORKSPACE",
    "UNSUBSCRIBE",
    "RPC_CONNECT",
    "VERSION-CONTROL",
    "BASELINE-CONTROL",
    NULL,
};

static int printable(uint8_t c)
{
	return c >= 0x20 && c < 0x7f;
}

/* A token at i of the n bytes captured of len: its end past trailing blanks
 * (0: none); tok gets it. */
static uint32_t token(const uint8_t *p, uint32_t i, uint32_t n, uint32_t len, char *tok,
		      size_t size)
{
	size_t k = 0;

	for (; i < n; i++) {
		uint8_t c = p[i];

		if (c >= 0x80)
			return 0;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			break;
		if (!printable(c) || k + 2 > size)
			return 0;
		tok[k++] = (char)c;
	}
	if (!k || (i == n && n < len)) /* none, or cut short by the capture */
		return 0;
	tok[k] = 0;
	for (; i < n; i++) {
		uint8_t c = p[i];

		if (c == '\r' || c == '\n' || !printable(c) || (c != ' ' && c != '\t'))
			break;
	}
	return i;
}

/* The line at the start of a segment (len bytes, cap of them captured), as
 * tcpdump finds it: LINE with its length in *n, OPEN when it has no end in
 * the segment, CUT when the capture ends inside it, NONE when a byte is not
 * text (tabs allowed where tabs is set). */
enum { NONE, LINE, OPEN, CUT };

static int first_line(const uint8_t *p, uint32_t len, uint32_t cap, int tabs, uint32_t *n)
{
	uint32_t i;

	for (i = 0; i < len; i++) {
		if (i >= cap)
			return CUT;
		if (p[i] == '\n')
			break;
		if (p[i] == '\r') {
			if (i + 1 >= len)
				return NONE;
			if (i + 1 >= cap)
				return CUT;
			if (p[i + 1] != '\n')
				return NONE;
			break;
		}
		if (!printable(p[i]) && !(tabs && p[i] == '\t'))
			return NONE;
	}
	*n = i;
	return i < len ? LINE : OPEN;
}

void text_txtproto(struct line *l, const char *proto, const uint8_t *p, uint32_t len, uint32_t cap,
		   int http)
{
	uint32_t n = len < cap ? len : cap, i;
	int show = !http;
	char tok[129];

	if (http && (i = token(p, 0, n, len, tok, sizeof(tok)))) {
		for (const char *const *c = http_cmds; *c && !show; c++)
			show = !strcasecmp(tok, *c);
		i = token(p, i, n, len, tok, sizeof(tok)); /* a response's code is second */
		if (i && tok[0] >= '0' && tok[0] <= '9' && tok[1] >= '0' && tok[1] <= '9' &&
		    tok[2] >= '0' && tok[2] <= '9' && !tok[3])
			show = 1;
	}
	for (const char *s = proto; *s; s++)
		text_put(l, "%c", *s >= 'a' && *s <= 'z' ? *s - 32 : *s);
	if (!show)
		return;
	switch (first_line(p, len, cap, 1, &i)) {
	case CUT:
		text_put(l, " [|%s]", proto);
		break;
	case LINE:
		text_put(l, ": %.*s", (int)i, (const char *)p);
		break;
	case OPEN: /* no end of line in this segment */
		text_put(l, ": %.*s [|%s]", (int)i, (const char *)p, proto);
		break;
	}
}

/* SSH: the version line, when the segment starts with one. */
static void ssh(struct line *l, const uint8_t *p, uint32_t len, uint32_t cap)
{
	uint32_t i;

	for (i = 0; i < 4; i++)
		if (i >= cap) {
			text_put(l, " [|ssh]");
			return;
		} else if (p[i] != "SSH-"[i])
			return;
	switch (first_line(p, len, cap, 0, &i)) {
	case CUT:
		text_put(l, " [|ssh]");
		break;
	case LINE:
		text_put(l, ": SSH: %.*s", (int)i, (const char *)p);
		break;
	}
}

static void payload(struct line *l, unsigned sport, unsigned dport, const uint8_t *p, uint32_t len,
		    uint32_t cap)
{
#define PORT(n) (sport == (n) || dport == (n))
	if (PORT(22))
		ssh(l, p, len, cap);
	else if (PORT(25)) {
		text_put(l, ": ");
		text_txtproto(l, "smtp", p, len, cap, 0);
	} else if (PORT(21)) {
		text_put(l, ": ");
		text_txtproto(l, "ftp", p, len, cap, 0);
	} else if (PORT(80) || PORT(8080)) {
		text_put(l, ": ");
		text_txtproto(l, "http", p, len, cap, 1);
	} else if (PORT(53))
		text_dns(l, p, len, cap, 1, 0);
#undef PORT
}

/* Options; 0 when the line is complete without the length (a bad or cut
 * option ends it, as it ends tcpdump's). */
static int options(struct line *l, const uint8_t *p, uint32_t cap, uint32_t hlen, int rev,
		   uint32_t thseq, uint32_t thack)
{
	static const char *const names[256] = {
	    [0] = "eol",     [1] = "nop",    [2] = "mss",	[3] = "wscale", [4] = "sackOK",
	    [5] = "sack",    [6] = "echo",   [7] = "echoreply", [8] = "TS",	[11] = "cc",
	    [12] = "ccnew",  [13] = "",	     [19] = "md5",	[20] = "scps",	[28] = "uto",
	    [29] = "tcp-ao", [30] = "mptcp", [34] = "tfo",	[254] = "exp",
	};
	uint32_t cp = 20, i;
	char ch = 0;

	hlen -= 20;
	text_put(l, ", options [");
#define GET(n)                                                                                     \
	do {                                                                                       \
		if (cp + (n) > cap)                                                                \
			goto cut;                                                                  \
	} while (0)
#define LENCHECK(n)                                                                                \
	do {                                                                                       \
		if ((n) > hlen)                                                                    \
			goto bad;                                                                  \
		if (cp + (n) > cap)                                                                \
			goto trunc;                                                                \
	} while (0)
	while (hlen > 0) {
		unsigned opt, len, datalen = 0;

		if (ch)
			text_put(l, "%c", ch);
		GET(1);
		opt = p[cp++];
		if (opt <= 1)
			len = 1;
		else {
			GET(1);
			len = p[cp++];
			if (len < 2 || len > hlen)
				goto bad;
			hlen--;
		}
		hlen--;
		if (names[opt])
			text_put(l, "%s", names[opt]);
		else
			text_put(l, "unknown-%u", opt);
		switch (opt) {
		case 0:
		case 1:
		case 4:
			break;
		case 2:
			LENCHECK(datalen = 2);
			text_put(l, " %u", be16(p + cp));
			break;
		case 3:
			LENCHECK(datalen = 1);
			text_put(l, " %u", p[cp]);
			break;
		case 5:
			datalen = len - 2;
			if (datalen % 8) {
				text_put(l, " invalid sack");
				break;
			}
			text_put(l, " %u ", datalen / 8);
			for (i = 0; i < datalen; i += 8) {
				uint32_t s, e;

				LENCHECK(i + 8);
				s = be32(p + cp + i) - (rev ? thseq : thack);
				e = be32(p + cp + i + 4) - (rev ? thseq : thack);
				text_put(l, "{%u:%u}", s, e);
			}
			break;
		case 6:
		case 7:
		case 11:
		case 12:
		case 13:
			LENCHECK(datalen = 4);
			text_put(l, " %u", be32(p + cp));
			break;
		case 8:
			LENCHECK(datalen = 8);
			text_put(l, " val %u ecr %u", be32(p + cp), be32(p + cp + 4));
			break;
		case 19: /* no key to check it with */
			LENCHECK(datalen = 16);
			text_put(l, " shared secret not supplied with -M, can't check - ");
			for (i = 0; i < 16; i++)
				text_put(l, "%02x", p[cp + i]);
			break;
		case 20:
			LENCHECK(datalen = 2);
			text_put(l, " cap %02x id %u", p[cp], p[cp + 1]);
			break;
		case 28: {
			unsigned v;

			LENCHECK(datalen = 2);
			v = be16(p + cp);
			text_put(l, " 0x%x %u", v, v & 1 ? (v >> 1) * 60 : v >> 1);
			break;
		}
		case 29:
			datalen = len - 2;
			if (datalen < 2) {
				text_put(l, " (invalid)");
				break;
			}
			LENCHECK(1);
			text_put(l, " keyid %u", p[cp]);
			LENCHECK(2);
			text_put(l, " rnextkeyid %u", p[cp + 1]);
			if (datalen > 2) {
				text_put(l, " mac 0x");
				for (i = 2; i < datalen; i++) {
					LENCHECK(i + 1);
					text_put(l, "%02x", p[cp + i]);
				}
			}
			break;
		case 34:
		case 254: {
			uint32_t at = cp, n;

			datalen = len - 2;
			LENCHECK(datalen);
			if (opt == 254) {
				if (datalen < 2)
					goto bad;
				text_put(l, "-");
				if (be16(p + cp) != 0xf989) {
					text_put(l, "%04x", be16(p + cp));
					break;
				}
				text_put(l, "tfo");
				at += 2;
				n = datalen - 2;
			} else {
				text_put(l, " ");
				n = datalen;
			}
			if (!n)
				text_put(l, " cookiereq");
			else if (n % 2 || n < 4 || n > 16)
				text_put(l, " (invalid)");
			else {
				text_put(l, " cookie ");
				for (i = 0; i < n; i++)
					text_put(l, "%02x", p[at + i]);
			}
			break;
		}
		default: /* unknown ones, and mptcp, undecoded */
			datalen = len - 2;
			if (datalen)
				text_put(l, " 0x");
			for (i = 0; i < datalen; i++) {
				LENCHECK(i + 1);
				text_put(l, "%02x", p[cp + i]);
			}
		}
		cp += datalen;
		hlen -= datalen;
		datalen += opt <= 1 ? 1 : 2;
		if (datalen != len)
			text_put(l, "[len %u]", len);
		ch = ',';
		if (opt == 0)
			break;
	}
	text_put(l, "]");
	return 1;
bad:
	text_put(l, "[bad opt]%s", ch ? "]" : "");
	return 0;
trunc:
	text_put(l, " [|tcp]%s", ch ? ">" : "");
	return 0;
cut:
	text_put(l, " [|tcp]");
	return 0;
#undef GET
#undef LENCHECK
}

void text_tcp(struct tcp_convs *c, struct line *l, const struct seg *g)
{
	static const char names[] = "FSRP.UEW"; /* bits 0..7, tcpdump's order */
	const uint8_t *p = g->p;
	const char *v = g->v6 ? "IP6" : "IP";
	unsigned sport, dport, hlen, fl;
	uint32_t seq, ack, thseq = 0, thack = 0, length = g->len;
	int rev = 0, n = 0;
	char f[16];

	if (g->cap < 4) {
		text_put(l, "%s %s > %s: [|tcp]", v, g->src, g->dst);
		return;
	}
	sport = be16(p);
	dport = be16(p + 2);
	text_put(l, "%s %s.%u > %s.%u: ", v, g->src, sport, g->dst, dport);
	if (g->cap < 20) {
		text_put(l, " [|tcp]");
		return;
	}
	hlen = (p[12] >> 4) * 4u;
	if (hlen < 20) {
		text_put(l, " tcp %u [bad hdr length %u - too short, < 20]", length - hlen, hlen);
		return;
	}
	seq = be32(p + 4);
	ack = be32(p + 8);
	fl = p[13];
	for (unsigned k = 0; k < 8; k++)
		if (fl & (1u << k))
			f[n++] = names[k];
	f[n] = 0;
	text_put(l, "Flags [%s]", n ? f : "none");
	if (fl & 0x10) { /* relative numbers, one entry per conversation */
		struct conv_key k = {.v6 = (uint8_t)g->v6};
		unsigned alen = g->v6 ? 16 : 4;
		struct tcp_conv *e;
		int fresh;

		rev = sport > dport || (sport == dport && memcmp(g->saddr, g->daddr, alen) > 0);
		memcpy(k.a, rev ? g->daddr : g->saddr, alen);
		memcpy(k.b, rev ? g->saddr : g->daddr, alen);
		k.ports = rev ? dport << 16 | sport : sport << 16 | dport;
		e = conv_get(c, &k, &fresh);
		if (!e) {
			/* out of memory: absolute numbers */
		} else if (fresh || (fl & 0x02)) {
			e->seq = rev ? ack - 1 : seq;
			e->ack = rev ? seq : ack - 1;
		} else {
			seq -= rev ? e->ack : e->seq;
			ack -= rev ? e->seq : e->ack;
		}
		if (e) {
			thseq = e->seq;
			thack = e->ack;
		}
	}
	if (hlen > length) {
		text_put(l, " [bad hdr length %u - too long, > %u]", hlen, length);
		return;
	}
	length -= hlen;
	if (length > 0 || (fl & 0x07)) {
		text_put(l, ", seq %u", seq);
		if (length > 0)
			text_put(l, ":%u", seq + length);
	}
	if (fl & 0x10)
		text_put(l, ", ack %u", ack);
	text_put(l, ", win %u", be16(p + 14));
	if (fl & 0x20)
		text_put(l, ", urg %u", be16(p + 18));
	if (hlen > 20 && !options(l, p, g->cap, hlen, rev, thseq, thack))
		return;
	text_put(l, ", length %u", length);
	if (!length)
		return;
	if (g->cap < hlen) {
		text_put(l, " [remaining caplen(%u) < header length(%u)] [|tcp]", g->cap, hlen);
		return;
	}
	payload(l, sport, dport, p + hlen, length, g->cap - hlen);
}
