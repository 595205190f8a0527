/* pcapng.h - encoders for the pcapng blocks edgecap writes (SHB, IDB, EPB,
 * ISB), appended to a growable byte buffer. Little-endian host order, as the
 * format allows; readers learn it from the SHB's byte-order magic.
 * Reference: draft-ietf-opsawg-pcapng. */
#ifndef ECAP_PCAPNG_H
#define ECAP_PCAPNG_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct ecap_isb_counts {
	uint64_t ifrecv;       /* packets the hook saw (isb_ifrecv) */
	uint64_t ifdrop;       /* dropped for lack of buffer space (isb_ifdrop) */
	uint64_t filteraccept; /* matched by the filter (isb_filteraccept) */
	uint64_t osdrop;       /* dropped in user space: the reader lagged (isb_osdrop) */
	uint64_t usrdeliv;     /* delivered to the user (isb_usrdeliv) */
};

#define ECAP_PCAPNG_FILTER_MAX 16384 /* bytes of an expression kept in if_filter */

/* All return 0 or -ENOMEM. Timestamps are in units of 10^-tsresol s. The
 * SHB's hardware, os and userappl, and the IDB's name and filter (the
 * expression, as libpcap took it), are options: NULL, none. */
int ecap_pcapng_shb(struct ecap_buf *b, const char *hardware, const char *os, const char *userappl);
int ecap_pcapng_idb(struct ecap_buf *b, uint16_t linktype, uint32_t snaplen, const char *if_name,
		    const char *filter, uint8_t tsresol);
/* The same with an opt_comment (NULL: none): what a reader should know of
 * the interface's timestamps, say. */
int ecap_pcapng_idb_comment(struct ecap_buf *b, uint16_t linktype, uint32_t snaplen,
			    const char *if_name, const char *filter, uint8_t tsresol,
			    const char *comment);
int ecap_pcapng_epb(struct ecap_buf *b, uint32_t if_id, uint64_t ts, const void *data,
		    uint32_t caplen, uint32_t wirelen, uint32_t flags);
/* The same with an opt_comment (NULL: none), for the rare annotated packet. */
int ecap_pcapng_epb_comment(struct ecap_buf *b, uint32_t if_id, uint64_t ts, const void *data,
			    uint32_t caplen, uint32_t wirelen, uint32_t flags, const char *comment);
/* c: the counters, or NULL when unknown; comment: opt_comment, or NULL */
int ecap_pcapng_isb(struct ecap_buf *b, uint32_t if_id, uint64_t ts,
		    const struct ecap_isb_counts *c, const char *comment);

/* Classic pcap with the nanosecond magic (0xa1b23c4d). */
int ecap_pcap_header(struct ecap_buf *b, uint32_t linktype, uint32_t snaplen);
int ecap_pcap_record(struct ecap_buf *b, uint64_t ts_ns, const void *data, uint32_t caplen,
		     uint32_t wirelen);
/* Its 16-byte header alone; the caller places the caplen bytes after it. */
int ecap_pcap_record_head(struct ecap_buf *b, uint64_t ts_ns, uint32_t caplen, uint32_t wirelen);

#endif
