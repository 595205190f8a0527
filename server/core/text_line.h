/* text_line.h - the line the text decoder builds (text.c, text_tcp.c,
 * text_dns.c), and the byte readers they share. */
#ifndef SRV_TEXT_LINE_H
#define SRV_TEXT_LINE_H

#include <stddef.h>
#include <stdint.h>

struct line {
	char s[16384];
	size_t n;
};

void text_put(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes as tcpdump prints names and strings: "M-" for the high bit, "^" for
 * controls. */
void text_put_chars(struct line *l, const uint8_t *p, unsigned n);

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
