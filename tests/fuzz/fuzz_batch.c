/* fuzz_batch.c - libFuzzer target for the UDP-over-HTTP batch framing: any
 * body is walked to its end or to an error without reading outside it; the
 * offset only moves forward and stays within the body; every datagram lies
 * within the body, 1..MTUN_DGRAM_MAX bytes, right after its length; an error
 * says why and leaves the offset where the bad datagram starts. Each datagram
 * (copied to a buffer of its own size, so a read past it is caught) goes
 * through peek and verify with a fixed key; one that peek takes, sealed again
 * with that key, is the same bytes, and its tag matches when verify says so.
 * A DATA's payload goes on to a link's packet assembly, as if in order: a
 * packet it delivers is 1..MTUN_PKT_MAX bytes with an offload header the
 * receiving kernel could take; the link holds nothing between packets. */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tunnel/link.h"

/* tests/fuzz/seed/batch-two.bin is sealed with it */
static const char key_text[] = "edgecap fuzz_batch key, 32 bytes";
_Static_assert(sizeof(key_text) == MTUN_KEY_LEN + 1, "a 32-byte key");

static volatile uint8_t sink;

static void delivered(void *arg, const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len)
{
	uint8_t sum = 0;

	(void)arg;
	for (size_t i = 0; i < len; i++) /* all of it readable */
		sum += pkt[i];
	sink = sum;
	if (!len || len > MTUN_PKT_MAX || vh->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM ||
	    (vh->gso_type != VIRTIO_NET_HDR_GSO_NONE && vh->gso_type != VIRTIO_NET_HDR_GSO_TCPV4) ||
	    (vh->flags && (size_t)le16toh(vh->csum_start) + le16toh(vh->csum_offset) + 2 > len) ||
	    (vh->gso_type && (!vh->flags || !vh->gso_size || le16toh(vh->hdr_len) > len)))
		abort();
}

static void datagram(struct mtun_key *k, struct mtun_link *l, const uint8_t *dg, size_t len)
{
	uint8_t *copy = malloc(len), again[MTUN_DGRAM_MAX], plain[MTUN_DGRAM_MAX],
		back[MTUN_DGRAM_MAX];
	int verified;
	struct mtun_hdr h;

	if (!copy)
		abort();
	memcpy(copy, dg, len);
	verified = mtun_open(k, copy, len, plain) == 0;
	if (!mtun_peek(copy, len, &h)) {
		size_t n = len - MTUN_HDR - MTUN_TAG;

		if (len < MTUN_HDR + MTUN_TAG || len > MTUN_DGRAM_MAX || h.type < MTUN_HELLO ||
		    h.type > MTUN_ACK)
			abort();
		/* peek took a canonical header: what opened seals again to the
		 * same bytes; and any payload sealed opens to itself */
		if (verified &&
		    (mtun_seal(k, again, &h, plain, n) != len || memcmp(again, copy, len)))
			abort();
		if (mtun_seal(k, again, &h, copy + MTUN_HDR, n) != len ||
		    memcmp(again, copy, MTUN_HDR) || mtun_open(k, again, len, back) ||
		    memcmp(back, copy + MTUN_HDR, n))
			abort();
		if (h.type == MTUN_DATA) {
			int r = mtun_link_packet(l, &h, copy + MTUN_HDR, len - MTUN_HDR - MTUN_TAG,
						 delivered, NULL);

			if ((r != -EINVAL && r != 0 && r != 1) ||
			    (r == 0) != !!(h.flags & MTUN_F_MORE) || (r != 0 && l->rx))
				abort();
		}
	}
	free(copy);
}

/* libFuzzer calls it */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mtun_key *k;
	struct mtun_link l;
	size_t off = 0;

	if (!k && !(k = mtun_key_new((const uint8_t *)key_text)))
		abort();
	mtun_link_init(&l, 1, k);
	for (;;) {
		const uint8_t *dg = NULL;
		const char *why = NULL;
		size_t len = 0, was = off;
		int r = mtun_batch_next(data, size, &off, &dg, &len, &why);

		if (r == 0) {
			if (off != size)
				abort();
			break;
		}
		if (r < 0) {
			if (r != -EINVAL || !why || off != was)
				abort();
			break;
		}
		if (r != 1 || off <= was || off > size || len < 1 || len > MTUN_DGRAM_MAX ||
		    dg != data + was + 2 || off != was + 2 + len)
			abort();
		datagram(k, &l, dg, len);
	}
	mtun_link_free(&l);
	return 0;
}
