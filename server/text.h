/* text.h - packets as `tcpdump -nn -tt` prints them, for the live text
 * output: Ethernet, 802.1Q, ARP, IPv4, IPv6, ICMP, ICMPv6, TCP, UDP and a
 * DNS summary, each line prefixed (the device's name). Protocols beyond
 * these are printed as tcpdump prints an unknown payload: by length. */
#ifndef SRV_TEXT_H
#define SRV_TEXT_H

#include <stdint.h>

#include "pcapng.h"

/* One line, with its newline, appended to out. ts: ns since the epoch. */
void srv_text_packet(struct ecap_buf *out, const char *prefix, int64_t ts, uint16_t linktype,
		     const uint8_t *p, uint32_t caplen, uint32_t wirelen);

#endif
