/* pcapng_reader.c - see pcapng_reader.h. Reference: draft-ietf-opsawg-pcapng
 * (block and option layouts), draft-ietf-opsawg-pcap (classic pcap). */
#include "core/pcapng_reader.h"

#include <byteswap.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 1u
#define BT_ISB 5u
#define BT_EPB 6u
#define BOM    0x1A2B3C4Du

enum { FMT_UNKNOWN, FMT_PCAPNG, FMT_PCAP };

struct srv_pcapng_iface_state {
	uint32_t snaplen;
	uint8_t tsresol;  /* if_tsresol as in the file: 10^-n, or 2^-n with the top bit */
	int64_t tsoffset; /* seconds */
};

void srv_pcapng_init(struct srv_pcapng_reader *r, srv_pcapng_fn *fn, void *ctx)
{
	*r = (struct srv_pcapng_reader){.fn = fn, .ctx = ctx};
}

void srv_pcapng_free(struct srv_pcapng_reader *r)
{
	ecap_buf_free(&r->carry);
	free(r->ifs);
	r->ifs = NULL;
	r->cap_ifs = 0;
}

static uint16_t rd16(const struct srv_pcapng_reader *r, const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return r->swap ? bswap_16(v) : v;
}

static uint32_t rd32(const struct srv_pcapng_reader *r, const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return r->swap ? bswap_32(v) : v;
}

static uint64_t rd64(const struct srv_pcapng_reader *r, const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return r->swap ? bswap_64(v) : v;
}

__attribute__((format(printf, 2, 3))) static int bad(struct srv_pcapng_reader *r, const char *fmt,
						     ...)
{
	char what[120];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(r->err, sizeof(r->err), "at byte %llu: %s", (unsigned long long)r->offset, what);
	return -EINVAL;
}

/* Units of 10^-n or 2^-n seconds -> ns, saturating. */
static int64_t to_ns(uint64_t units, uint8_t tsresol, int64_t offset_s)
{
	unsigned __int128 ns;

	if (tsresol & 0x80) {
		unsigned b = tsresol & 0x7f;

		ns =
		    b >= 64
			? 0
			: ((unsigned __int128)(units >> b) * 1000000000u) +
			      (((unsigned __int128)(units & ((1ull << b) - 1)) * 1000000000u) >> b);
	} else {
		unsigned __int128 scale = 1;

		for (unsigned i = tsresol; i < 9; i++)
			scale *= 10;
		ns = (unsigned __int128)units * scale;
		for (unsigned i = 9; i < tsresol; i++)
			ns /= 10;
	}
	ns += (unsigned __int128)((__int128)offset_s * 1000000000);
	return ns > INT64_MAX ? INT64_MAX : (int64_t)ns;
}

/* Each option in [p, end) up to opt_endofopt: code, value and length; an
 * option that would overrun the block ends the walk. */
#define FOR_OPTIONS(r, p, end, code, val, olen)                                                    \
	for (const uint8_t *_o = (p);                                                              \
	     _o + 4 <= (end) && (code = rd16(r, _o)) != 0 &&                                       \
	     (olen = rd16(r, _o + 2), val = _o + 4, _o + 4 + ((olen + 3u) & ~3u) <= (end));        \
	     _o += 4 + ((olen + 3u) & ~3u))

static int section(struct srv_pcapng_reader *r, const uint8_t *p, uint32_t len)
{
	if (len < 28)
		return bad(r, "section header block too short");
	if (rd16(r, p + 12) != 1)
		return bad(r, "pcapng major version is not 1");
	r->nifaces = 0;
	if (r->sections_max && ++r->sections_seen > r->sections_max)
		return bad(r, "more than %u sections", r->sections_max);
	return r->fn(r->ctx, SRV_PCAPNG_SECTION, NULL);
}

static int add_iface(struct srv_pcapng_reader *r, uint16_t linktype, uint32_t snaplen,
		     uint8_t tsresol, int64_t tsoffset, const char *name, size_t namelen,
		     const char *comment, size_t comment_len)
{
	struct srv_pcapng_iface f = {.id = r->nifaces,
				     .linktype = linktype,
				     .snaplen = snaplen,
				     .comment = comment,
				     .comment_len = comment_len};

	/* a stream bounded above SRV_IFACES_MAX may have that many in one
	 * section (another server's part of a capture) */
	if (r->nifaces == (r->ifaces_max > SRV_IFACES_MAX ? r->ifaces_max : SRV_IFACES_MAX))
		return bad(r, "too many interfaces");
	if (r->ifaces_max && ++r->ifaces_seen > r->ifaces_max)
		return bad(r, "more than %u interfaces", r->ifaces_max);
	if (r->nifaces == r->cap_ifs) {
		uint32_t cap = r->cap_ifs ? 2 * r->cap_ifs : 16;
		struct srv_pcapng_iface_state *ifs = realloc(r->ifs, cap * sizeof(*ifs));

		if (!ifs)
			return -ENOMEM;
		r->ifs = ifs;
		r->cap_ifs = cap;
	}
	r->ifs[r->nifaces++] = (struct srv_pcapng_iface_state){snaplen, tsresol, tsoffset};
	if (namelen >= sizeof(f.name))
		namelen = sizeof(f.name) - 1;
	memcpy(f.name, name, namelen);
	f.name[strnlen(f.name, namelen)] = 0;
	return r->fn(r->ctx, SRV_PCAPNG_IFACE, &f);
}

static int idb(struct srv_pcapng_reader *r, const uint8_t *p, uint32_t len)
{
	const uint8_t *val, *end = p + len - 4;
	const char *name = "", *comment = NULL;
	uint16_t code, olen;
	uint8_t tsresol = 6;
	int64_t tsoffset = 0;
	size_t namelen = 0, comment_len = 0;

	if (len < 20)
		return bad(r, "interface description block too short");
	FOR_OPTIONS(r, p + 16, end, code, val, olen) {
		if (code == 1 && !comment) {
			comment = (const char *)val;
			comment_len = olen;
		} else if (code == 2) {
			name = (const char *)val;
			namelen = olen;
		} else if (code == 9 && olen == 1) {
			tsresol = val[0];
			if (!(tsresol & 0x80) && tsresol > 19)
				return bad(r, "if_tsresol beyond 10^-19");
		} else if (code == 14 && olen == 8) {
			tsoffset = (int64_t)rd64(r, val);
		}
	}
	return add_iface(r, rd16(r, p + 8), rd32(r, p + 12), tsresol, tsoffset, name, namelen,
			 comment, comment_len);
}

/* The EPB at p (len bytes, k its fields) is as ecap_pcapng_epb writes it. */
static int canonical(const struct srv_pcapng_reader *r, const uint8_t *p, uint32_t len,
		     const struct srv_pcapng_packet *k, const struct srv_pcapng_iface_state *f,
		     uint64_t raw)
{
	uint32_t padded = (k->caplen + 3u) & ~3u, last;
	const uint8_t *o = p + 28 + padded;

	if (r->swap || f->tsresol != 9 || f->tsoffset || raw > INT64_MAX ||
	    len != 28 + padded + (k->flags ? 12 : 0) + 4)
		return 0;
	if (k->caplen & 3) { /* the padding is zeros: the bytes of the last word past caplen */
		memcpy(&last, o - 4, 4);
		if (last >> 8 * (k->caplen & 3))
			return 0;
	}
	/* epb_flags (code 2, length 4), then opt_endofopt */
	return !k->flags || (rd16(r, o) == 2 && rd16(r, o + 2) == 4 && !rd32(r, o + 8));
}

static int epb(struct srv_pcapng_reader *r, const uint8_t *p, uint32_t len)
{
	struct srv_pcapng_packet k;
	const uint8_t *val, *end = p + len - 4;
	uint16_t code, olen;
	const struct srv_pcapng_iface_state *f;
	uint64_t raw;

	if (len < 32)
		return bad(r, "enhanced packet block too short");
	k.if_id = rd32(r, p + 8);
	k.caplen = rd32(r, p + 20);
	k.wirelen = rd32(r, p + 24);
	k.flags = 0;
	if (k.if_id >= r->nifaces)
		return bad(r, "packet for an undescribed interface");
	if (k.caplen > len - 32 || 28 + ((k.caplen + 3u) & ~3u) > len - 4)
		return bad(r, "packet data overruns its block");
	f = &r->ifs[k.if_id];
	raw = (uint64_t)rd32(r, p + 12) << 32 | rd32(r, p + 16);
	k.ts = to_ns(raw, f->tsresol, f->tsoffset);
	k.data = p + 28;
	FOR_OPTIONS(r, p + 28 + ((k.caplen + 3u) & ~3u), end, code, val, olen)
		if (code == 2 && olen == 4)
			k.flags = rd32(r, val);
	k.canonical = r->check_canonical && canonical(r, p, len, &k, f, raw);
	return r->fn(r->ctx, SRV_PCAPNG_PACKET, &k);
}

static int isb(struct srv_pcapng_reader *r, const uint8_t *p, uint32_t len)
{
	struct srv_pcapng_stats s = {0};
	const uint8_t *val, *end = p + len - 4;
	uint64_t *field[9] = {[4] = &s.ifrecv,
			      [5] = &s.ifdrop,
			      [6] = &s.filteraccept,
			      [7] = &s.osdrop,
			      [8] = &s.usrdeliv};
	uint16_t code, olen;

	if (len < 24)
		return bad(r, "interface statistics block too short");
	s.if_id = rd32(r, p + 8);
	if (s.if_id >= r->nifaces)
		return bad(r, "statistics for an undescribed interface");
	s.ts = to_ns((uint64_t)rd32(r, p + 12) << 32 | rd32(r, p + 16), r->ifs[s.if_id].tsresol,
		     r->ifs[s.if_id].tsoffset);
	FOR_OPTIONS(r, p + 20, end, code, val, olen) {
		if (code < 9 && field[code] && olen == 8) {
			*field[code] = rd64(r, val);
			s.have |= 1u << code;
		} else if (code == 1 && !s.comment) {
			s.comment = (const char *)val;
			s.comment_len = olen;
		}
	}
	return r->fn(r->ctx, SRV_PCAPNG_STATS, &s);
}

/* One pcapng block at p (avail bytes): its length, 0 if incomplete, or < 0. */
static long pcapng_block(struct srv_pcapng_reader *r, const uint8_t *p, size_t avail)
{
	uint32_t type, len;
	int e;

	if (avail < 12)
		return 0;
	memcpy(&type, p, 4);
	if (type == BT_SHB) { /* its byte-order magic sets the order of what follows */
		uint32_t bom;

		memcpy(&bom, p + 8, 4);
		if (bom != BOM && bom != bswap_32(BOM))
			return bad(r, "section header with a bad byte-order magic");
		r->swap = bom != BOM;
	} else if (!r->format) {
		return bad(r, "neither pcapng nor pcap");
	}
	type = rd32(r, p);
	len = rd32(r, p + 4);
	if (len < 12 || len % 4 || len > SRV_BLOCK_MAX)
		return bad(r, "bad block length");
	if (r->block_max && len > r->block_max)
		return bad(r, "a block of %u bytes, more than the %u this stream may send", len,
			   r->block_max);
	if (avail < len)
		return 0;
	if (rd32(r, p + len - 4) != len)
		return bad(r, "block's trailing length differs");
	r->format = FMT_PCAPNG;
	switch (type) {
	case BT_SHB:
		e = section(r, p, len);
		break;
	case BT_IDB:
		e = idb(r, p, len);
		break;
	case BT_EPB:
		e = epb(r, p, len);
		break;
	case SRV_PCAPNG_BT_MARK: {
		int64_t ts;

		if (len != SRV_PCAPNG_MARK_LEN)
			return bad(r, "mark block of %u bytes", len);
		ts = (int64_t)((uint64_t)rd32(r, p + 8) << 32 | rd32(r, p + 12));
		e = r->fn(r->ctx, SRV_PCAPNG_MARK, &ts);
		break;
	}
	case BT_ISB:
		e = isb(r, p, len);
		break;
	default:
		e = 0; /* name resolution, custom, simple packet...: not ours */
	}
	return e ? e : (long)len;
}

/* Classic pcap: the 24-byte file header, then 16-byte record headers. */
static long pcap_block(struct srv_pcapng_reader *r, const uint8_t *p, size_t avail)
{
	struct srv_pcapng_packet k = {0};
	int e;

	if (r->format == FMT_UNKNOWN) {
		uint32_t magic;

		if (avail < 24)
			return 0;
		memcpy(&magic, p, 4);
		r->swap = magic == bswap_32(0xa1b2c3d4) || magic == bswap_32(0xa1b23c4d);
		r->pcap_nsec = rd32(r, p) == 0xa1b23c4d;
		r->format = FMT_PCAP;
		e = r->fn(r->ctx, SRV_PCAPNG_SECTION, NULL);
		if (!e)
			e = add_iface(r, rd16(r, p + 20), rd32(r, p + 16), r->pcap_nsec ? 9 : 6, 0,
				      "", 0, NULL, 0);
		return e ? e : 24;
	}
	if (avail < 16)
		return 0;
	k.caplen = rd32(r, p + 8);
	k.wirelen = rd32(r, p + 12);
	if (k.caplen > SRV_BLOCK_MAX || (r->block_max && k.caplen > r->block_max))
		return bad(r, "bad record length");
	if (avail < 16 + k.caplen)
		return 0;
	k.ts =
	    to_ns((uint64_t)rd32(r, p) * (r->pcap_nsec ? 1000000000u : 1000000u) + rd32(r, p + 4),
		  r->pcap_nsec ? 9 : 6, 0);
	k.data = p + 16;
	e = r->fn(r->ctx, SRV_PCAPNG_PACKET, &k);
	return e ? e : (long)(16 + k.caplen);
}

static int is_pcap_magic(const uint8_t *p)
{
	uint32_t m;

	memcpy(&m, p, 4);
	return m == 0xa1b2c3d4 || m == 0xa1b23c4d || m == bswap_32(0xa1b2c3d4) ||
	       m == bswap_32(0xa1b23c4d);
}

/* Parse what is complete in p; *used: bytes consumed. */
static int parse(struct srv_pcapng_reader *r, const uint8_t *p, size_t n, size_t *used)
{
	size_t off = 0;

	for (;;) {
		long k;

		if (r->format == FMT_UNKNOWN && n - off >= 4 && is_pcap_magic(p + off))
			k = pcap_block(r, p + off, n - off);
		else if (r->format == FMT_PCAP)
			k = pcap_block(r, p + off, n - off);
		else
			k = pcapng_block(r, p + off, n - off);
		if (k <= 0) {
			*used = off;
			if (k < 0 && !r->err[0])
				snprintf(r->err, sizeof(r->err), "at byte %llu: %s",
					 (unsigned long long)r->offset, strerror((int)-k));
			return (int)k;
		}
		off += (size_t)k;
		r->offset += (uint64_t)k;
	}
}

int srv_pcapng_feed(struct srv_pcapng_reader *r, const void *data, size_t len)
{
	const uint8_t *d = data;
	size_t used = 0, k = 64;
	int e;

	if (r->err[0])
		return -EINVAL;
	/* a partial block kept: complete it with no more of the new bytes than
	 * twice what it lacks (doubling pieces), then go on in place, so that a
	 * stream fed in chunks is not all copied */
	while (r->carry.len && len) {
		if (k > len)
			k = len;
		if ((e = ecap_buf_put(&r->carry, d, k)))
			return e;
		d += k;
		len -= k;
		e = parse(r, r->carry.data, r->carry.len, &used);
		if (e) {
			memmove(r->carry.data, r->carry.data + used, r->carry.len - used);
			r->carry.len -= used;
			return e;
		}
		if (used && r->carry.len - used <= k) {
			/* the kept block is done, and what is left of the
			 * carry is the start of the new bytes: read those in
			 * place */
			d -= r->carry.len - used;
			len += r->carry.len - used;
			r->carry.len = 0;
			break;
		}
		memmove(r->carry.data, r->carry.data + used, r->carry.len - used);
		r->carry.len -= used;
		k *= 2;
	}
	if (!len)
		return 0;
	e = parse(r, d, len, &used); /* straight from the caller's bytes; keep the tail */
	return e ? e : ecap_buf_put(&r->carry, d + used, len - used);
}

int srv_pcapng_parse(struct srv_pcapng_reader *r, const void *data, size_t len, size_t *used)
{
	int e;

	*used = 0;
	if (r->err[0])
		return -EINVAL;
	e = parse(r, data, len, used);
	r->held = len - *used;
	return e;
}

int srv_pcapng_end(struct srv_pcapng_reader *r)
{
	if (r->err[0])
		return -EINVAL;
	return r->carry.len || r->held ? bad(r, "the stream ended inside a block") : 0;
}
