/* text_line.c - appending to the decoder's line, see text_line.h. */
#include <stdarg.h>
#include <stdio.h>

#include "core/text_line.h"

void text_put(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (l->n >= sizeof(l->s) - 1)
		return;
	va_start(ap, fmt);
	k = vsnprintf(l->s + l->n, sizeof(l->s) - l->n, fmt, ap);
	va_end(ap);
	if (k > 0)
		l->n += (size_t)k < sizeof(l->s) - l->n ? (size_t)k : sizeof(l->s) - 1 - l->n;
}

void text_put_chars(struct line *l, const uint8_t *p, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (c >= 0x80) {
			c &= 0x7f;
			text_put(l, "M-");
		}
		if (c < 0x20 || c == 0x7f) {
			c ^= 0x40;
			text_put(l, "^");
		}
		text_put(l, "%c", c);
	}
}
