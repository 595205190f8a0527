/* text.c - see text.h. */
#include <inttypes.h>
#include <stdio.h>

#include "text.h"

void srv_text_packet(struct ecap_buf *out, const char *prefix, int64_t ts, uint16_t linktype,
		     const uint8_t *p, uint32_t caplen, uint32_t wirelen)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "%s %" PRId64 ".%06" PRId64 " length %u\n", prefix,
			 ts / 1000000000, ts % 1000000000 / 1000, wirelen);

	ecap_buf_put(out, line, (size_t)n);
}
