/* text.h - packets as `tcpdump -nn -tt` prints them, for the live text
 * output: Ethernet, 802.1Q, ARP, IPv4, IPv6, ICMP, ICMPv6, TCP (relative
 * sequence numbers, options; the first line of HTTP, FTP and SMTP, SSH's
 * version) and UDP, with a DNS summary over both. Each line is prefixed (the
 * device's name). Protocols beyond these are printed as tcpdump prints what
 * it has no decoder for: by length. */
#ifndef SRV_TEXT_H
#define SRV_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "common/pcapng.h"

/* A decoder for one output stream: TCP's relative numbers are counted per
 * stream, as tcpdump counts them per run. */
struct srv_text;

struct srv_text *srv_text_new(void);

/* The time before each line, as tcpdump's options print it: the clock
 * (default: HH:MM:SS.ffffff, local), none (-t), seconds since the epoch
 * (-tt), the delta from the line before (-ttt), the date and clock
 * (-tttt), the delta from the first line (-ttttt). */
enum srv_text_time {
	SRV_TEXT_TIME_CLOCK,
	SRV_TEXT_TIME_NONE,
	SRV_TEXT_TIME_EPOCH,
	SRV_TEXT_TIME_DELTA,
	SRV_TEXT_TIME_DATE,
	SRV_TEXT_TIME_SINCE_FIRST,
};
/* How lines begin: the interface's name (prefix), then the time. A new
 * decoder: the name, and -tt's time (the server's text output). */
void srv_text_style(struct srv_text *t, int prefix, enum srv_text_time time);
void srv_text_free(struct srv_text *t);

/* A capture stream (pcapng or pcap) in pieces of any size: its packets'
 * lines are appended to out, each prefixed with its interface's name up to
 * the first ':' (DEVICE, of the merged stream's DEVICE:IFACE). 0, or -errno
 * when the stream is malformed (srv_text_error says how; the decoder is
 * done). */
int srv_text_feed(struct srv_text *t, struct ecap_buf *out, const void *data, size_t len);
const char *srv_text_error(const struct srv_text *t);

/* One packet's line, with its newline, appended to out. ts: ns since the
 * epoch. */
void srv_text_packet(struct srv_text *t, struct ecap_buf *out, const char *prefix, int64_t ts,
		     uint16_t linktype, const uint8_t *p, uint32_t caplen, uint32_t wirelen);

#endif
