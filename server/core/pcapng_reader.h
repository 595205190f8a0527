/* pcapng_reader.h - an incremental reader of capture streams as they arrive
 * over the network: pcapng (either byte order, several sections, any
 * if_tsresol and if_tsoffset) and classic pcap (micro- or nanosecond). Bytes
 * are fed in pieces of any size; each complete block becomes one event.
 * libpcap reads these formats only from a blocking FILE, which an event loop
 * cannot use, hence this. Every size read from the stream is checked. */
#ifndef SRV_PCAPNG_READER_H
#define SRV_PCAPNG_READER_H

#include <stddef.h>
#include <stdint.h>

#include "common/pcapng.h"

#define SRV_BLOCK_MAX  (16u << 20) /* larger blocks are refused */
#define SRV_IFACES_MAX 256	   /* interfaces per section, unless ifaces_max is more */
#define SRV_IFNAME_MAX 144	   /* a device's name, ':', an interface's */

enum srv_pcapng_event {
	SRV_PCAPNG_SECTION, /* a new section: interface ids start again */
	SRV_PCAPNG_IFACE,   /* struct srv_pcapng_iface */
	SRV_PCAPNG_PACKET,  /* struct srv_pcapng_packet */
	SRV_PCAPNG_STATS,   /* struct srv_pcapng_stats */
	SRV_PCAPNG_MARK,    /* const int64_t *: a mark block's timestamp */
};

/* A block of local use (pcapng: block types with the top bit set) between
 * servers: a part of a capture (mux.h) will send no packet older than its
 * timestamp, ns since the epoch on the sender's time line, high word
 * first. 20 bytes: type, length, high, low, length. */
#define SRV_PCAPNG_BT_MARK  0x80ec0001u
#define SRV_PCAPNG_MARK_LEN 20

struct srv_pcapng_iface {
	uint32_t id;
	uint16_t linktype;
	uint32_t snaplen;
	char name[SRV_IFNAME_MAX]; /* if_name, or "" */
	const char *comment;	   /* its first opt_comment, during the call; NULL: none */
	size_t comment_len;
};

struct srv_pcapng_packet {
	uint32_t if_id;
	int64_t ts; /* ns since the epoch */
	uint32_t caplen, wirelen;
	uint32_t flags; /* epb_flags, 0 when absent */
	const uint8_t *data;
	/* With the reader's check_canonical set: an EPB (its block starts
	 * SRV_PCAPNG_EPB_DATA bytes before data) that is byte for byte what
	 * ecap_pcapng_epb writes for these fields: in our byte order, in ns
	 * since the epoch, no option but epb_flags. It can be passed on as it
	 * is, with another interface id. */
	int canonical;
};

#define SRV_PCAPNG_EPB_DATA  28 /* an EPB's packet data starts here */
#define SRV_PCAPNG_EPB_IF_ID 8	/* and its interface id here */
#define SRV_PCAPNG_EPB_TS    12 /* and its timestamp, high word then low */

/* The ISB's counters that were present (mask bit 1 << option code). */
struct srv_pcapng_stats {
	uint32_t if_id;
	int64_t ts;
	uint32_t have;
	uint64_t ifrecv, ifdrop, filteraccept, osdrop, usrdeliv;
	const char *comment; /* its first opt_comment, during the call; NULL: none */
	size_t comment_len;
};

/* Return 0 to go on, or -errno to stop: srv_pcapng_feed returns it, and the
 * reader is done. */
typedef int srv_pcapng_fn(void *ctx, enum srv_pcapng_event ev, const void *arg);

struct srv_pcapng_iface_state;

struct srv_pcapng_reader {
	srv_pcapng_fn *fn;
	void *ctx;
	struct ecap_buf carry; /* a partial block, kept between feeds */
	size_t held;	       /* srv_pcapng_parse: the partial block its caller holds */
	uint64_t offset;       /* of the stream's next unparsed byte */
	int format;	       /* 0: not known yet; 1 pcapng; 2 pcap */
	int swap;	       /* the section's byte order is not ours */
	int pcap_nsec;
	int check_canonical; /* set: packets say whether they are canonical */
	uint32_t nifaces;
	struct srv_pcapng_iface_state *ifs; /* cap_ifs of them, grown */
	uint32_t cap_ifs;
	/* Bounds a caller may set (0: none but SRV_BLOCK_MAX and
	 * SRV_IFACES_MAX a section): the largest block (a partial one is
	 * refused as soon as its header says more), interfaces over the whole
	 * stream, sections. A stream past one is malformed. */
	uint32_t block_max, ifaces_max, sections_max;
	uint32_t ifaces_seen, sections_seen;
	char err[160];
};

void srv_pcapng_init(struct srv_pcapng_reader *r, srv_pcapng_fn *fn, void *ctx);
/* 0, or -errno (r->err says where and what went wrong; the reader is done):
 * -EINVAL for a malformed stream, -ENOMEM, or what a callback returned. */
int srv_pcapng_feed(struct srv_pcapng_reader *r, const void *data, size_t len);
/* The same in place, with no copy: the complete blocks at the start of data
 * become events, *used says how many bytes they took, and the caller keeps
 * the rest (a partial block) and passes it again followed by what came
 * next. One reader uses either this or srv_pcapng_feed. 0 or as feed. */
int srv_pcapng_parse(struct srv_pcapng_reader *r, const void *data, size_t len, size_t *used);
/* 0 at a block boundary; -EINVAL when the stream ended inside a block. */
int srv_pcapng_end(struct srv_pcapng_reader *r);
void srv_pcapng_free(struct srv_pcapng_reader *r);

#endif
