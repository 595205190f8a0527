/* gen_streams.c DIR FILES PACKETS - the merge benchmark's input: FILES pcapng
 * files of PACKETS Ethernet/IPv4/UDP frames of 128 bytes each, as devices
 * capturing at the same time would produce them (timestamps interleaved, a
 * little disorder within each file). One packet in ten of file 2k+1 is also
 * in file 2k, a hop later (TTL one less, 3 us later): two devices on one
 * segment. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/pcapng.h"

#define FRAME 128

static void frame(uint8_t *f, uint64_t id, uint8_t ttl)
{
	memset(f, 0, FRAME);
	memcpy(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00\x45\x00", 16);
	f[16] = 0;
	f[17] = FRAME - 14;
	f[22] = ttl;
	f[23] = 17;
	memcpy(f + 26, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	memcpy(f + 42, &id, sizeof(id)); /* payload: unique per packet */
}

static void flush(int fd, struct ecap_buf *b, int all)
{
	if (b->len < (all ? 1 : 1u << 20))
		return;
	if (write(fd, b->data, b->len) != (ssize_t)b->len) {
		perror("write");
		exit(1);
	}
	ecap_buf_reset(b);
}

int main(int argc, char **argv)
{
	unsigned files, n;
	uint8_t f[FRAME];

	if (argc != 4) {
		fprintf(stderr, "usage: gen_streams DIR FILES PACKETS\n");
		return 2;
	}
	files = (unsigned)atoi(argv[2]);
	n = (unsigned)atoi(argv[3]);
	for (unsigned i = 0; i < files; i++) {
		struct ecap_buf b = {0};
		char path[4096];
		int fd;

		snprintf(path, sizeof(path), "%s/dev%u.pcapng", argv[1], i);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0) {
			perror(path);
			return 1;
		}
		ecap_pcapng_shb(&b, NULL, NULL, "gen_streams");
		ecap_pcapng_idb(&b, 1, 262144, "eth0", NULL, 9);
		for (uint64_t j = 0; j < n; j++) {
			uint64_t ts = 1795000000000000000ull + j * files * 100 + i * 100;
			uint64_t id = (uint64_t)i << 32 | j;

			if (i % 2 && j % 10 == 0) { /* the even neighbour's packet, seen here too */
				id = (uint64_t)(i - 1) << 32 | j;
				ts -= 100;
				ts += 3000;
				frame(f, id, 63);
			} else {
				frame(f, id, 64);
			}
			if (j % 64 == 63) /* records from another CPU, a little late */
				ts -= 250;
			ecap_pcapng_epb(&b, 0, ts, f, FRAME, FRAME, 1);
			flush(fd, &b, 0);
		}
		flush(fd, &b, 1);
		close(fd);
		ecap_buf_free(&b);
	}
	return 0;
}
