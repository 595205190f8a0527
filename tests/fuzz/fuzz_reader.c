/* fuzz_reader.c - libFuzzer target for the merger's stream reader: any bytes,
 * fed whole, again in pieces whose sizes come from the input, and again in
 * place (srv_pcapng_parse, the rest held by the caller as the server does),
 * must give the same events and never read out of bounds; every packet it reports lies
 * within what was fed. Packets go through the merger as well. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/merge.h"
#include "core/pcapng_reader.h"

struct run {
	uint64_t sum; /* over the events, to compare the two readings */
	unsigned n;
	struct srv_merge *m;
};

static void emit(void *ctx, const struct srv_merge_pkt *p)
{
	if (p->caplen && p->data[p->caplen - 1] == 0x5a) /* touch the copy */
		(*(unsigned *)ctx)++;
}

static int on(void *ctx, enum srv_pcapng_event ev, const void *arg)
{
	struct run *r = ctx;

	r->n++;
	r->sum = r->sum * 31 + ev;
	if (ev == SRV_PCAPNG_PACKET) {
		const struct srv_pcapng_packet *k = arg;
		uint64_t x = 0;

		for (uint32_t i = 0; i < k->caplen; i++) /* every byte must be readable */
			x += k->data[i];
		r->sum = r->sum * 31 + x + k->caplen + (uint64_t)k->ts;
		if (r->m)
			srv_merge_push(r->m, 0, k->ts, k->if_id, 1, k->flags, k->data, k->caplen,
				       k->wirelen);
	}
	return 0;
}

static int read_all(const uint8_t *d, size_t n, size_t piece, struct run *out)
{
	struct srv_pcapng_reader r;
	int e = 0;

	srv_pcapng_init(&r, on, out);
	for (size_t off = 0; off < n && !e; off += piece)
		e = srv_pcapng_feed(&r, d + off, n - off < piece ? n - off : piece);
	srv_pcapng_free(&r);
	return e;
}

/* In place: a heap buffer exactly as long as what the caller holds, so that
 * a read past it is caught. */
static int read_in_place(const uint8_t *d, size_t n, size_t piece, struct run *out)
{
	struct srv_pcapng_reader r;
	uint8_t *hold = NULL;
	size_t have = 0, used;
	int e = 0;

	srv_pcapng_init(&r, on, out);
	for (size_t off = 0; off < n && !e; off += piece) {
		size_t k = n - off < piece ? n - off : piece;
		uint8_t *h = malloc(have + k);

		if (!h)
			abort();
		if (have)
			memcpy(h, hold, have);
		memcpy(h + have, d + off, k);
		free(hold);
		hold = h;
		have += k;
		e = srv_pcapng_parse(&r, hold, have, &used);
		if (used > have)
			abort();
		memmove(hold, hold + used, have - used);
		have -= used;
	}
	free(hold);
	srv_pcapng_free(&r);
	return e;
}

/* libFuzzer calls it */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned seen = 0;
	struct run whole = {0}, pieces = {0}, in_place = {0};
	int e1, e2, e3;

	if (size < 1)
		return 0;
	whole.m = srv_merge_new(NULL, emit, &seen);
	srv_merge_add_input(whole.m);
	e1 = read_all(data + 1, size - 1, size, &whole);
	e2 = read_all(data + 1, size - 1, 1 + data[0] % 17, &pieces);
	e3 = read_in_place(data + 1, size - 1, 1 + data[0] % 13, &in_place);
	/* pieces may stop at the same block with the same error, or agree */
	if (e1 != e2 || whole.n != pieces.n || whole.sum != pieces.sum)
		abort();
	if (e1 != e3 || whole.n != in_place.n || whole.sum != in_place.sum)
		abort();
	srv_merge_flush(whole.m);
	srv_merge_free(whole.m);
	return 0;
}
