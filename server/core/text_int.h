/* text_int.h - what the decoder's parts (text.c, text_tcp.c, text_dns.c)
 * share: the line being built and the byte readers. */
#ifndef SRV_TEXT_INT_H
#define SRV_TEXT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/text_line.h"

/* The IP layer's view of one transport segment: its addresses (for TCP's
 * conversations), their text, the bytes captured (cap) and the length the
 * IP header gives (len). */
struct seg {
	int v6;
	const uint8_t *saddr, *daddr; /* 4 or 16 bytes */
	const char *src, *dst;
	const uint8_t *p;
	uint32_t cap, len;
};

/* TCP conversations, for relative sequence numbers. */
struct tcp_conv;
struct tcp_convs {
	struct tcp_conv *slots;
	uint32_t mask, used;
};

void text_tcp(struct tcp_convs *c, struct line *l, const struct seg *g);
void tcp_convs_free(struct tcp_convs *c);
/* A DNS message (RFC 1035) as tcpdump summarises it: m, len bytes long by
 * its transport, cap of them captured. */
void text_dns(struct line *l, const uint8_t *m, uint32_t len, uint32_t cap, int tcp, int mdns);
/* A text protocol's first line (HTTP, FTP, SMTP), tcpdump's txtproto. */
void text_txtproto(struct line *l, const char *proto, const uint8_t *p, uint32_t len, uint32_t cap,
		   int http);

#endif
