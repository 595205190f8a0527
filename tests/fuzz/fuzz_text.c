/* fuzz_text.c - libFuzzer target for the text decoder, which reads packets
 * that devices sent: any bytes as an Ethernet or raw-IP frame (the first byte
 * chooses), decoded twice by one decoder (TCP conversations persist), must
 * give exactly one line each time, printable ASCII (and the tabs tcpdump
 * prints in text protocols) ending in a newline, and
 * never read outside the frame. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

static struct srv_text *t;

static void check(const struct ecap_buf *b, size_t from)
{
	if (b->err || b->len <= from || b->data[b->len - 1] != '\n')
		abort();
	for (size_t i = from; i < b->len - 1; i++)
		if ((b->data[i] < 0x20 && b->data[i] != '\t') || b->data[i] > 0x7e)
			abort();
}

/* libFuzzer calls it */
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct ecap_buf out = {0};
	uint8_t *frame;
	size_t len;

	if (!n)
		return 0;
	if (!t && !(t = srv_text_new()))
		abort();
	len = n - 1;
	frame = malloc(len ? len : 1); /* a copy of the exact size: overreads show */
	if (!frame)
		abort();
	memcpy(frame, d + 1, len);
	for (int k = 0; k < 2; k++) {
		size_t from = out.len;

		srv_text_packet(t, &out, "dev", 1700000000123456789ll, d[0] & 1 ? 101 : 1, frame,
				(uint32_t)len, (uint32_t)len + (d[0] >> 1));
		check(&out, from);
	}
	ecap_buf_free(&out);
	free(frame);
	return 0;
}
