/* pcapng.c - pcapng block encoders, see pcapng.h. */
#include "common/pcapng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 0x00000001u
#define BT_ISB 0x00000005u
#define BT_EPB 0x00000006u

#define OPT_COMMENT	 1
#define SHB_HARDWARE	 2
#define SHB_OS		 3
#define SHB_USERAPPL	 4
#define IF_FILTER	 11
#define IF_NAME		 2
#define IF_TSRESOL	 9
#define EPB_FLAGS	 2
#define ISB_IFRECV	 4
#define ISB_IFDROP	 5
#define ISB_FILTERACCEPT 6
#define ISB_OSDROP	 7
#define ISB_USRDELIV	 8

static void put(struct ecap_buf *b, const void *p, size_t n)
{
	ecap_buf_put(b, p, n);
}

static void put32(struct ecap_buf *b, uint32_t v)
{
	put(b, &v, 4);
}

static void pad4(struct ecap_buf *b)
{
	static const uint8_t zero[4];

	put(b, zero, (4 - (b->len & 3)) & 3);
}

static void opt(struct ecap_buf *b, uint16_t code, const void *v, uint16_t len)
{
	put(b, &code, 2);
	put(b, &len, 2);
	put(b, v, len);
	pad4(b);
}

static void opt_end(struct ecap_buf *b)
{
	put32(b, 0);
}

/* Blocks are built in place: type, a length patched at the end, body,
 * length again. */
static size_t begin(struct ecap_buf *b, uint32_t type)
{
	size_t at = b->len;

	put32(b, type);
	put32(b, 0);
	return at;
}

static int end(struct ecap_buf *b, size_t at)
{
	uint32_t total;

	put32(b, 0);
	if (b->err)
		return b->err;
	total = (uint32_t)(b->len - at);
	memcpy(b->data + at + 4, &total, 4);
	memcpy(b->data + b->len - 4, &total, 4);
	return 0;
}

int ecap_pcapng_shb(struct ecap_buf *b, const char *hardware, const char *os, const char *userappl)
{
	size_t at = begin(b, BT_SHB);
	uint16_t ver[2] = {1, 0};
	int64_t section_len = -1;

	put32(b, 0x1A2B3C4D);
	put(b, ver, sizeof(ver));
	put(b, &section_len, 8);
	if (hardware)
		opt(b, SHB_HARDWARE, hardware, (uint16_t)strnlen(hardware, 1024));
	if (os)
		opt(b, SHB_OS, os, (uint16_t)strnlen(os, 1024));
	if (userappl)
		opt(b, SHB_USERAPPL, userappl, (uint16_t)strnlen(userappl, 1024));
	opt_end(b);
	return end(b, at);
}

int ecap_pcapng_idb(struct ecap_buf *b, uint16_t linktype, uint32_t snaplen, const char *if_name,
		    const char *filter, uint8_t tsresol)
{
	return ecap_pcapng_idb_comment(b, linktype, snaplen, if_name, filter, tsresol, NULL);
}

int ecap_pcapng_idb_comment(struct ecap_buf *b, uint16_t linktype, uint32_t snaplen,
			    const char *if_name, const char *filter, uint8_t tsresol,
			    const char *comment)
{
	size_t at = begin(b, BT_IDB);
	uint16_t reserved = 0;

	put(b, &linktype, 2);
	put(b, &reserved, 2);
	put32(b, snaplen);
	if (if_name)
		opt(b, IF_NAME, if_name, (uint16_t)strlen(if_name));
	if (filter && *filter) { /* a first byte of 0: a libpcap filter string */
		char v[ECAP_PCAPNG_FILTER_MAX + 1] = {0};
		size_t n = strnlen(filter, ECAP_PCAPNG_FILTER_MAX);

		memcpy(v + 1, filter, n);
		opt(b, IF_FILTER, v, (uint16_t)(n + 1));
	}
	opt(b, IF_TSRESOL, &tsresol, 1);
	if (comment)
		opt(b, OPT_COMMENT, comment, (uint16_t)strlen(comment));
	opt_end(b);
	return end(b, at);
}

int ecap_pcapng_epb(struct ecap_buf *b, uint32_t if_id, uint64_t ts, const void *data,
		    uint32_t caplen, uint32_t wirelen, uint32_t flags)
{
	uint32_t pad = ((caplen + 3) & ~3u) - caplen;
	uint32_t total = 28 + caplen + pad + (flags ? 12 : 0) + 4;
	uint32_t head[7] = {BT_EPB,	  total,  if_id,  (uint32_t)(ts >> 32),
			    (uint32_t)ts, caplen, wirelen};
	/* padding, then epb_flags (code, length; value; opt_endofopt), then the length */
	uint32_t t[4] = {EPB_FLAGS | 4u << 16, flags, 0, total};
	uint8_t *p;

	ecap_buf_put(b, head, sizeof(head));
	ecap_buf_put(b, data, caplen);
	p = ecap_buf_grow(b, pad + (flags ? 16 : 4));
	if (!p)
		return b->err;
	memset(p, 0, pad);
	if (flags)
		memcpy(p + pad, t, sizeof(t));
	else
		memcpy(p + pad, &total, 4);
	return 0;
}

int ecap_pcapng_epb_comment(struct ecap_buf *b, uint32_t if_id, uint64_t ts, const void *data,
			    uint32_t caplen, uint32_t wirelen, uint32_t flags, const char *comment)
{
	uint32_t head[5] = {if_id, (uint32_t)(ts >> 32), (uint32_t)ts, caplen, wirelen};
	size_t at = begin(b, BT_EPB);

	put(b, head, sizeof(head));
	put(b, data, caplen);
	pad4(b);
	if (flags)
		opt(b, EPB_FLAGS, &flags, 4);
	if (comment)
		opt(b, OPT_COMMENT, comment, (uint16_t)strlen(comment));
	opt_end(b);
	return end(b, at);
}

int ecap_pcapng_isb(struct ecap_buf *b, uint32_t if_id, uint64_t ts,
		    const struct ecap_isb_counts *c, const char *comment)
{
	size_t at = begin(b, BT_ISB);

	put32(b, if_id);
	put32(b, (uint32_t)(ts >> 32));
	put32(b, (uint32_t)ts);
	if (c) {
		opt(b, ISB_IFRECV, &c->ifrecv, 8);
		opt(b, ISB_IFDROP, &c->ifdrop, 8);
		opt(b, ISB_FILTERACCEPT, &c->filteraccept, 8);
		opt(b, ISB_OSDROP, &c->osdrop, 8);
		opt(b, ISB_USRDELIV, &c->usrdeliv, 8);
	}
	if (comment)
		opt(b, OPT_COMMENT, comment, (uint16_t)strlen(comment));
	opt_end(b);
	return end(b, at);
}

int ecap_pcap_header(struct ecap_buf *b, uint32_t linktype, uint32_t snaplen)
{
	uint16_t ver[2] = {2, 4};

	put32(b, 0xa1b23c4d);
	put(b, ver, sizeof(ver));
	put32(b, 0); /* thiszone */
	put32(b, 0); /* sigfigs */
	put32(b, snaplen);
	put32(b, linktype);
	return b->err;
}

int ecap_pcap_record_head(struct ecap_buf *b, uint64_t ts_ns, uint32_t caplen, uint32_t wirelen)
{
	uint32_t head[4] = {(uint32_t)(ts_ns / 1000000000u), (uint32_t)(ts_ns % 1000000000u),
			    caplen, wirelen};

	return ecap_buf_put(b, head, sizeof(head));
}

int ecap_pcap_record(struct ecap_buf *b, uint64_t ts_ns, const void *data, uint32_t caplen,
		     uint32_t wirelen)
{
	ecap_pcap_record_head(b, ts_ns, caplen, wirelen);
	return ecap_buf_put(b, data, caplen);
}
