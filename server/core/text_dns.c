/* text_dns.c - a DNS message summarised as tcpdump 4.99 does without -v:
 *   query:    ID[op][+][%] [counts] TYPE? name. (len)
 *   response: ID[op][rcode][*][-][|][$] [q] an/ns/ar answers... (len)
 * Names follow compression pointers backwards only (a loop cannot be built),
 * every read is bounds-checked against the captured bytes, and a message that
 * ends early is marked " [|domain]" as tcpdump marks it. Offsets, never
 * pointers past the end, so that nothing is computed outside the buffer. */
#include <arpa/inet.h>
#include <string.h>

#include "core/text_int.h"

#define BAD (-1L)

enum {
	T_A = 1,
	T_NS = 2,
	T_CNAME = 5,
	T_SOA = 6,
	T_PTR = 12,
	T_MX = 15,
	T_TXT = 16,
	T_AAAA = 28,
	T_SRV = 33,
	T_A6 = 38,
	T_DNAME = 39,
	T_OPT = 41,
	T_UNSPECA = 104,
	T_TSIG = 250,
	T_URI = 256
};

struct name {
	unsigned v;
	const char *s;
};

static const struct name types[] = {
    {1, "A"},	   {2, "NS"},	   {3, "MD"},	     {4, "MF"},	       {5, "CNAME"},
    {6, "SOA"},	   {7, "MB"},	   {8, "MG"},	     {9, "MR"},	       {10, "NULL"},
    {11, "WKS"},   {12, "PTR"},	   {13, "HINFO"},    {14, "MINFO"},    {15, "MX"},
    {16, "TXT"},   {17, "RP"},	   {18, "AFSDB"},    {19, "X25"},      {20, "ISDN"},
    {21, "RT"},	   {22, "NSAP"},   {23, "NSAP_PTR"}, {24, "SIG"},      {25, "KEY"},
    {26, "PX"},	   {27, "GPOS"},   {28, "AAAA"},     {29, "LOC"},      {30, "NXT"},
    {31, "EID"},   {32, "NIMLOC"}, {33, "SRV"},	     {34, "ATMA"},     {35, "NAPTR"},
    {36, "KX"},	   {37, "CERT"},   {38, "A6"},	     {39, "DNAME"},    {40, "SINK"},
    {41, "OPT"},   {42, "APL"},	   {43, "DS"},	     {44, "SSHFP"},    {45, "IPSECKEY"},
    {46, "RRSIG"}, {47, "NSEC"},   {48, "DNSKEY"},   {99, "SPF"},      {100, "UINFO"},
    {101, "UID"},  {102, "GID"},   {103, "UNSPEC"},  {104, "UNSPECA"}, {249, "TKEY"},
    {250, "TSIG"}, {251, "IXFR"},  {252, "AXFR"},    {253, "MAILB"},   {254, "MAILA"},
    {255, "ANY"},  {256, "URI"},   {0, NULL},
};
static const struct name classes[] = {{1, "IN"}, {3, "CHAOS"}, {4, "HS"}, {255, "ANY"}, {0, NULL}};
static const struct name eopts[] = {
    {1, "LLQ"},	     {2, "UL"},		 {3, "NSID"},	     {5, "DAU"},
    {6, "DHU"},	     {7, "N3U"},	 {8, "ECS"},	     {9, "EXPIRE"},
    {10, "COOKIE"},  {11, "KEEPALIVE"},	 {12, "PADDING"},    {13, "CHAIN"},
    {14, "KEY-TAG"}, {16, "CLIENT-TAG"}, {17, "SERVER-TAG"}, {0, NULL},
};
static const struct name dau_algs[] = {
    {0, "DELETE"},
    {1, "RSAMD5"},
    {2, "DH"},
    {3, "DS"},
    {5, "RSASHA1"},
    {6, "DSA-NSEC3-SHA1"},
    {7, "RSASHA1-NSEC3-SHA1"},
    {8, "RSASHA256"},
    {10, "RSASHA512"},
    {12, "ECC-GOST"},
    {13, "ECDSAP256SHA256"},
    {14, "ECDSAP384SHA384"},
    {15, "ED25519"},
    {16, "ED448"},
    {252, "INDIRECT"},
    {253, "PRIVATEDNS"},
    {254, "PRIVATEOID"},
    {0, NULL},
};
static const struct name dhu_algs[] = {
    {1, "SHA-1"}, {2, "SHA-256"}, {3, "GOST_R_34.11-94"}, {4, "SHA-384"}, {0, NULL},
};
static const struct name n3u_algs[] = {{1, "SHA-1"}, {0, NULL}};

static const char *const opcodes[16] = {
    "",	    " inv_q",	" stat",    " op3",	 " notify",  " update",	  " op6",      " op7",
    " op8", " updateA", " updateD", " updateDA", " updateM", " updateMA", " zoneInit", " zoneRef",
};
/* tcpdump's table, quirks included (17 and 21 lack their space) */
static const char *const rcodes[] = {
    "",		 " FormErr", " ServFail", " NXDomain", " NotImp",  " Refused",
    " YXDomain", " YXRRSet", " NXRRSet",  " NotAuth",  " NotZone", " Resp11",
    " Resp12",	 " Resp13",  " Resp14",	  " NoChange", " BadVers", "Resp17",
    " Resp18",	 " Resp19",  " Resp20",	  "Resp21",    " Resp22",  " BadCookie",
};

struct dns {
	struct line *l;
	const uint8_t *m; /* the header */
	long cap;	  /* bytes of m captured */
	int mdns;
};

/* t's name for v, else v in decimal between pre and post */
static void put_name(struct line *l, const struct name *t, unsigned v, const char *pre,
		     const char *post)
{
	for (; t->s; t++)
		if (t->v == v) {
			text_put(l, "%s", t->s);
			return;
		}
	text_put(l, "%s%u%s", pre, v, post);
}

static int have(const struct dns *d, long off, long n)
{
	return off >= 0 && n >= 0 && off + n <= d->cap;
}

/* Up to n bytes at off, as far as captured: 1 when they ran out. */
static int printn(const struct dns *d, long off, unsigned long n)
{
	unsigned long k = 0;

	while (k < n && off + (long)k < d->cap)
		k++;
	text_put_chars(d->l, d->m + off, (unsigned)k);
	return k < n;
}

/* The offset after the name at off, without printing it. */
static long nskip(const struct dns *d, long off)
{
	unsigned i;

	if (!have(d, off, 1))
		return BAD;
	i = d->m[off++];
	while (i) {
		switch (i & 0xc0) {
		case 0xc0:
			return off + 1;
		case 0x40: /* bit-string label (RFC 2673) */
			if ((i & 0x3f) != 1 || !have(d, off, 1))
				return BAD;
			off += 1 + ((d->m[off] ? d->m[off] : 256) + 7) / 8;
			break;
		case 0x80:
			return BAD;
		default:
			off += i;
		}
		if (!have(d, off, 1))
			return BAD;
		i = d->m[off++];
	}
	return off;
}

static long labellen(const struct dns *d, long off)
{
	unsigned i;

	if (!have(d, off, 1))
		return BAD;
	i = d->m[off];
	switch (i & 0xc0) {
	case 0x40:
		if ((i & 0x3f) != 1) {
			text_put(d->l, "<ELT %d>", i & 0x3f);
			return BAD;
		}
		if (!have(d, off + 1, 1))
			return BAD;
		return ((d->m[off + 1] ? d->m[off + 1] : 256) + 7) / 8 + 1;
	case 0x80:
		text_put(d->l, "<BAD LABEL TYPE>");
		return BAD;
	default:
		return i;
	}
}

/* Print the name at off; the offset after it where it sits, or BAD. */
static long fqdn(const struct dns *d, long off)
{
	long l = labellen(d, off), rp = BAD, max_offset = off;
	unsigned i, chars = 0;
	int compressed = 0;

	if (l == BAD)
		return BAD;
	i = d->m[off++];
	if ((i & 0xc0) != 0xc0)
		rp = off + l;
	if (!i) {
		text_put(d->l, ".");
		return rp;
	}
	while (i && off < d->cap) {
		switch (i & 0xc0) {
		case 0xc0: {
			long to;

			if (!compressed) {
				rp = off + 1;
				compressed = 1;
			}
			if (!have(d, off, 1))
				return BAD;
			to = (long)(((i << 8) | d->m[off]) & 0x3fff);
			if (to >= max_offset) { /* pointers go backwards: no loops */
				text_put(d->l, "<BAD PTR>");
				return BAD;
			}
			max_offset = off = to;
			if (!have(d, off, 1))
				return BAD;
			i = d->m[off];
			if ((l = labellen(d, off)) == BAD)
				return BAD;
			off++;
			continue;
		}
		case 0x40: /* bit-string labels: obsolete, not decoded */
			text_put(d->l, "<ELT %u>", i & 0x3f);
			return BAD;
		case 0x80:
			text_put(d->l, "<BAD LABEL TYPE>");
			return BAD;
		default:
			if (chars + l <= 255) {
				if (printn(d, off, (unsigned long)l))
					return BAD;
			} else if (chars < 255) {
				if (printn(d, off, 255 - chars))
					return BAD;
			}
			chars += (unsigned)l;
		}
		off += l;
		if (chars <= 255)
			text_put(d->l, ".");
		chars++;
		if (!have(d, off, 1))
			return BAD;
		i = d->m[off];
		if ((l = labellen(d, off)) == BAD)
			return BAD;
		off++;
		if (!compressed)
			rp += l + 1;
	}
	if (chars > 255)
		text_put(d->l, "<DOMAIN NAME TOO LONG>");
	return rp;
}

/* A question: " TYPE[ CLASS]? name." */
static long question(const struct dns *d, long off)
{
	long at = off;
	unsigned type, cls, raw;

	off = nskip(d, off);
	if (off == BAD || !have(d, off, 4))
		return BAD;
	type = be16(d->m + off);
	raw = be16(d->m + off + 2);
	text_put(d->l, " ");
	put_name(d->l, types, type, "Type", "");
	cls = d->mdns ? raw & 0x7fff : raw;
	if (cls != 1) {
		text_put(d->l, " ");
		put_name(d->l, classes, cls, "(Class ", ")");
	}
	if (d->mdns)
		text_put(d->l, raw & 0x8000 ? " (QU)" : " (QM)");
	text_put(d->l, "? ");
	off = fqdn(d, at);
	return off == BAD ? BAD : off + 4;
}

static long eopt(const struct dns *d, long off)
{
	struct line *l = d->l;
	const uint8_t *p;
	unsigned code, n;

	if (!have(d, off, 2))
		return BAD;
	code = be16(d->m + off);
	put_name(l, eopts, code, "Opt", "");
	if (!have(d, off + 2, 2))
		return BAD;
	n = be16(d->m + off + 2);
	off += 4;
	if (!have(d, off, n))
		return BAD;
	if (!n)
		return off;
	p = d->m + off;
	text_put(l, " ");
	switch (code) {
	case 8: { /* client subnet */
		unsigned fam = n >= 4 ? be16(p) : 0, bits = fam == 1 ? 32 : fam == 2 ? 128 : 0;
		uint8_t a[16] = {0};
		char s[INET6_ADDRSTRLEN];

		if (n < 4 || !bits || n - 4 > bits / 8 || p[2] > bits || p[3] > bits ||
		    (p[2] + 7u) / 8 != n - 4) {
			text_put(l, " (invalid)");
			break;
		}
		memcpy(a, p + 4, n - 4);
		inet_ntop(fam == 1 ? AF_INET : AF_INET6, a, s, sizeof(s));
		text_put(l, "%s/%d/%d", s, p[2], p[3]);
		break;
	}
	case 10: /* cookie: client, then server */
		if (n < 8 || (n > 8 && n < 16) || n > 40) {
			text_put(l, " (invalid)");
			break;
		}
		for (unsigned k = 0; k < n; k++)
			text_put(l, k == 8 ? " %02x" : "%02x", p[k]);
		break;
	case 11:
		if (n != 2)
			text_put(l, " (invalid)");
		else
			text_put(l, "%0.1f sec", be16(p) / 10.0);
		break;
	case 9:
		if (n != 4)
			text_put(l, " (invalid)");
		else
			text_put(l, "%u sec", be32(p));
		break;
	case 12:
		text_put(l, "(%u)", n);
		break;
	case 14:
		if (n % 2) {
			text_put(l, " (invalid)");
			break;
		}
		for (unsigned k = 0; k < n; k += 2)
			text_put(l, k ? " %u" : "%u", be16(p + k));
		break;
	case 5:
	case 6:
	case 7:
		for (unsigned k = 0; k < n; k++) {
			if (k)
				text_put(l, " ");
			put_name(l,
				 code == 5   ? dau_algs
				 : code == 6 ? dhu_algs
					     : n3u_algs,
				 p[k], "Alg_", "");
		}
		break;
	default:
		for (unsigned k = 0; k < n; k++)
			text_put(l, "%02x", p[k]);
	}
	return off + n;
}

/* An answer: " TYPE data"; the offset after it, d->cap when its fixed part
 * was not captured (tcpdump's way of ending the list), or BAD. */
static long answer(const struct dns *d, long off)
{
	struct line *l = d->l;
	unsigned type, raw, cls, flags = 0, n;
	long rp;

	off = nskip(d, off);
	if (off == BAD || !have(d, off, 10))
		return d->cap;
	type = be16(d->m + off);
	raw = be16(d->m + off + 2);
	cls = d->mdns ? raw & 0x7fff : raw;
	if (cls != 1 && type != T_OPT) {
		text_put(l, " ");
		put_name(l, classes, cls, "(Class ", ")");
	}
	if (d->mdns && (raw & 0x8000))
		text_put(l, " (Cache flush)");
	if (type == T_OPT)
		flags = be16(d->m + off + 6);
	n = be16(d->m + off + 8);
	off += 10;
	rp = off + n;
	text_put(l, " ");
	put_name(l, types, type, "Type", "");
	if (rp > d->cap)
		return BAD;
	switch (type) {
	case T_A:
		if (!have(d, off, 4))
			return BAD;
		text_put(l, " %u.%u.%u.%u", d->m[off], d->m[off + 1], d->m[off + 2], d->m[off + 3]);
		break;
	case T_NS:
	case T_CNAME:
	case T_PTR:
	case T_DNAME:
		text_put(l, " ");
		if (fqdn(d, off) == BAD)
			return BAD;
		break;
	case T_MX:
		text_put(l, " ");
		if (!have(d, off, 2) || fqdn(d, off + 2) == BAD)
			return BAD;
		text_put(l, " %u", be16(d->m + off));
		break;
	case T_TXT:
		while (off < rp) {
			unsigned k = d->m[off];

			text_put(l, " \"");
			if (printn(d, off + 1, k))
				return BAD;
			text_put(l, "\"");
			off += 1 + k;
		}
		break;
	case T_SRV:
		text_put(l, " ");
		if (!have(d, off, 6) || fqdn(d, off + 6) == BAD)
			return BAD;
		text_put(l, ":%u %u %u", be16(d->m + off + 4), be16(d->m + off),
			 be16(d->m + off + 2));
		break;
	case T_AAAA: {
		char s[INET6_ADDRSTRLEN];

		if (!have(d, off, 16))
			return BAD;
		inet_ntop(AF_INET6, d->m + off, s, sizeof(s));
		text_put(l, " %s", s);
		break;
	}
	case T_A6: {
		unsigned bits, bytes;
		uint8_t a[16] = {0};
		char s[INET6_ADDRSTRLEN];

		if (!have(d, off, 1))
			return BAD;
		bits = d->m[off];
		bytes = (bits & ~7u) / 8;
		if (bits > 128) {
			text_put(l, " %u(bad plen)", bits);
			break;
		}
		if (bits < 128) {
			if (!have(d, off + 1, 16 - bytes))
				return BAD;
			memcpy(a + bytes, d->m + off + 1, 16 - bytes);
			inet_ntop(AF_INET6, a, s, sizeof(s));
			text_put(l, " %u %s", bits, s);
		}
		if (bits > 0) {
			text_put(l, " ");
			if (fqdn(d, off + 1 + 16 - bytes) == BAD)
				return BAD;
		}
		break;
	}
	case T_URI:
		if (!have(d, off, n))
			return BAD;
		text_put(l, " %u %u ", n >= 2 ? be16(d->m + off) : 0u,
			 n >= 4 ? be16(d->m + off + 2) : 0u);
		if (n < 4 || printn(d, off + 4, n - 4))
			return BAD;
		break;
	case T_OPT:
		text_put(l, " UDPsize=%u", cls);
		if (flags & 0x8000)
			text_put(l, " DO");
		if (off < rp) {
			text_put(l, " [");
			while (off < rp) {
				if ((off = eopt(d, off)) == BAD)
					return BAD;
				if (off < rp)
					text_put(l, ",");
			}
			text_put(l, "]");
		}
		break;
	case T_UNSPECA:
		if (!have(d, off, n) || printn(d, off, n))
			return BAD;
		break;
	default: /* SOA, TSIG and the rest: the type alone without -v */
		break;
	}
	return rp;
}

/* Walk the sections for the OPT record's extended rcode bits. */
static unsigned ext_rcode(const struct dns *d, unsigned qd, unsigned an_ns, unsigned ar,
			  unsigned rcode)
{
	long off = 12;

	for (unsigned k = 0; k < qd; k++) {
		if ((off = nskip(d, off)) == BAD || (off += 4) >= d->cap)
			return rcode;
	}
	for (unsigned k = 0; k < an_ns; k++) {
		if ((off = nskip(d, off)) == BAD || (off += 8) + 2 > d->cap)
			return rcode;
		off += 2 + be16(d->m + off);
		if (off >= d->cap)
			return rcode;
	}
	for (unsigned k = 0; k < ar; k++) {
		unsigned type;

		if ((off = nskip(d, off)) == BAD || off + 2 > d->cap)
			return rcode;
		type = be16(d->m + off);
		off += 4;
		if (off + 1 > d->cap)
			return rcode;
		if (type == T_OPT)
			return rcode | (unsigned)d->m[off] << 4;
		off += 4;
		if (off + 2 > d->cap)
			return rcode;
		off += 2 + be16(d->m + off);
		if (off >= d->cap)
			return rcode;
	}
	return rcode;
}

/* n records from off, each printed by one, sep between them; as tcpdump,
 * the list stops early when the capture ends. The offset after them, or
 * BAD when one was cut short or some were not reached. */
static long records(const struct dns *d, long off, unsigned n,
		    long (*one)(const struct dns *, long), const char *sep)
{
	for (unsigned k = 0; k < n; k++) {
		if (k && off >= d->cap)
			return BAD;
		if (k)
			text_put(d->l, "%s", sep);
		if ((off = one(d, off)) == BAD)
			return BAD;
	}
	return off;
}

void text_dns(struct line *l, const uint8_t *m, uint32_t len, uint32_t cap, int tcp, int mdns)
{
	struct dns d = {.l = l, .m = m, .cap = cap, .mdns = mdns};
	unsigned flags, qd, an, ns, ar;
	long off = 12;

	if (tcp) { /* a two-byte length first (RFC 1035 4.2.2) */
		if (len < 2) {
			text_put(l, " [DNS over TCP: length %u < 2] (invalid)", len);
			return;
		}
		len -= 2;
		if (cap < 2) {
			text_put(l, " [|domain]");
			return;
		}
		if (be16(m) != len) {
			text_put(l, " [prefix length(%u) != length(%u)] (invalid)", be16(m), len);
			return;
		}
		text_put(l, " ");
		d.m = m + 2;
		d.cap = cap - 2;
	}
	if (d.cap > (long)len)
		d.cap = len;
	if (len < 12) {
		text_put(l, "domain [length %u < 12] (invalid)", len);
		return;
	}
	if (d.cap < 12) {
		text_put(l, " [|domain]");
		return;
	}
	flags = be16(d.m + 2);
	qd = be16(d.m + 4);
	an = be16(d.m + 6);
	ns = be16(d.m + 8);
	ar = be16(d.m + 10);
	if (flags & 0x8000) { /* a response */
		unsigned rcode = ext_rcode(&d, qd, an + ns, ar, flags & 15);

		text_put(l, "%u%s", be16(d.m), opcodes[(flags >> 11) & 15]);
		if (rcode < sizeof(rcodes) / sizeof(rcodes[0]))
			text_put(l, "%s", rcodes[rcode]);
		else
			text_put(l, " Resp%u", rcode & 0xfff);
		text_put(l, "%s%s%s%s", flags & 0x0400 ? "*" : "", flags & 0x0080 ? "" : "-",
			 flags & 0x0200 ? "|" : "", flags & 0x0020 ? "$" : "");
		if (qd != 1)
			text_put(l, " [%uq]", qd);
		for (unsigned k = 0; k < qd; k++) {
			if (k)
				text_put(l, ",");
			if ((off = nskip(&d, off)) == BAD)
				goto trunc;
			off += 4;
		}
		text_put(l, " %u/%u/%u", an, ns, ar);
		if (records(&d, off, an, answer, ",") == BAD)
			goto trunc;
	} else { /* a query */
		unsigned op = (flags >> 11) & 15;

		text_put(l, "%u%s%s%s", be16(d.m), opcodes[op], flags & 0x0100 ? "+" : "",
			 flags & 0x0010 ? "%" : "");
		if (flags & 0x6cf)
			text_put(l, " [b2&3=0x%x]", flags);
		if (op == 1) { /* inverse query */
			if (qd)
				text_put(l, " [%uq]", qd);
			if (an != 1)
				text_put(l, " [%ua]", an);
		} else {
			if (an)
				text_put(l, " [%ua]", an);
			if (qd != 1)
				text_put(l, " [%uq]", qd);
		}
		if (ns)
			text_put(l, " [%un]", ns);
		if (ar)
			text_put(l, " [%uau]", ar);
		if (records(&d, off, qd, question, "") == BAD)
			goto trunc;
	}
	text_put(l, " (%u)", len);
	return;
trunc:
	text_put(l, " [|domain]");
}
