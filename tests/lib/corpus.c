/* corpus.c - see corpus.h. */
#include <pcap/pcap.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "corpus.h"

int corpus_load(struct corpus *c, const char *path)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *p;
	int r;

	p = pcap_open_offline(path, errbuf);
	if (!p) {
		fprintf(stderr, "%s\n", errbuf);
		return -EINVAL;
	}
	while ((r = pcap_next_ex(p, &h, &data)) == 1) {
		struct corpus_pkt *k;

		if (c->n == c->cap) {
			uint32_t cap = c->cap ? 2 * c->cap : 1024;

			k = realloc(c->pkts, cap * sizeof(*k));
			if (!k)
				goto nomem;
			c->pkts = k;
			c->cap = cap;
		}
		k = &c->pkts[c->n];
		k->data = malloc(h->caplen ? h->caplen : 1);
		if (!k->data)
			goto nomem;
		memcpy(k->data, data, h->caplen);
		k->caplen = h->caplen;
		k->wirelen = h->len;
		c->n++;
	}
	if (r == -1)
		fprintf(stderr, "%s: %s\n", path, pcap_geterr(p));
	pcap_close(p);
	return r == -1 ? -EIO : 0;
nomem:
	pcap_close(p);
	return -ENOMEM;
}

void corpus_free(struct corpus *c)
{
	for (uint32_t i = 0; i < c->n; i++)
		free(c->pkts[i].data);
	free(c->pkts);
	memset(c, 0, sizeof(*c));
}

uint32_t corpus_ref_filter(const struct sock_filter *insns, const struct corpus_pkt *p)
{
	return bpf_filter((const struct bpf_insn *)insns, p->data, p->wirelen, p->caplen);
}

double corpus_ref_ns(const struct sock_filter *insns, const struct corpus_pkt *p, uint32_t iters)
{
	const struct bpf_insn *code = (const struct bpf_insn *)insns;
	struct timespec a, b;
	volatile uint32_t sink = 0;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (uint32_t i = 0; i < iters; i++)
		sink += bpf_filter(code, p->data, p->wirelen, p->caplen);
	clock_gettime(CLOCK_MONOTONIC, &b);
	(void)sink;
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / iters;
}
