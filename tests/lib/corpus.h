/* corpus.h - test support that needs libpcap's headers: packets loaded from
 * capture files, and libpcap's own bpf_filter() as the reference. */
#ifndef ECAP_TEST_CORPUS_H
#define ECAP_TEST_CORPUS_H

#include <linux/filter.h>
#include <stdint.h>

struct corpus_pkt {
	uint8_t *data;
	uint32_t caplen, wirelen;
};

struct corpus {
	struct corpus_pkt *pkts;
	uint32_t n, cap;
};

/* Append every packet of a pcap/pcapng file; 0 or -errno (message printed). */
int corpus_load(struct corpus *c, const char *path);
void corpus_free(struct corpus *c);

/* libpcap's interpreter: bpf_filter(insns, pkt, wirelen, caplen). */
uint32_t corpus_ref_filter(const struct sock_filter *insns, const struct corpus_pkt *p);

/* Average ns per call of bpf_filter() over iters calls (user space). */
double corpus_ref_ns(const struct sock_filter *insns, const struct corpus_pkt *p, uint32_t iters);

#endif
