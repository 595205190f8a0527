/* bench_filter.c - `tools/lab bench filter`: ns per packet of translated
 * filters in the kernel (BPF_PROG_TEST_RUN, XDP, many repeats) minus the floor
 * (the translated `return snaplen` program, i.e. the test runner plus our
 * prologue), against libpcap's bpf_filter() interpreter on the same packets in
 * the same run. Also the helper-only access method, which docs/filter.md
 * compares with direct access. Prints a markdown table; medians of ROUNDS. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corpus.h"
#include "record.h"
#include "filter/filter.h"
#include "filter/compile.h"

#define REPEAT 100000
#define ROUNDS 9

static const char *exprs[] = {
    "tcp port 80",	    "host 10.0.0.1",
    "udp port 53",	    "tcp[tcpflags] & tcp-syn != 0",
    "ip6 and tcp port 443", "vlan 100 and ip",
    "icmp or arp",	    "net 192.168.0.0/16 and not port 22",
    "ip[2:2] > 576",	    "tcp portrange 8000-8100 or udp portrange 5000-5100",
};

static void put_pkt(struct corpus *c, const char *hex)
{
	struct corpus_pkt *k;
	size_t n = strlen(hex) / 2;

	c->pkts = realloc(c->pkts, (c->n + 1) * sizeof(*c->pkts));
	k = &c->pkts[c->n++];
	k->data = calloc(1, n < 60 ? 60 : n);
	for (size_t i = 0; i < n; i++)
		sscanf(hex + 2 * i, "%2hhx", &k->data[i]);
	k->caplen = k->wirelen = n < 60 ? 60 : n;
}

/* Typical frames: IPv4/TCP SYN to :80, IPv4/UDP DNS, IPv6/TCP :443,
 * 802.1Q 100 IPv4/ICMP, ARP request. */
static void packets(struct corpus *c)
{
	put_pkt(c, "00112233445566778899aabb080045000028000140004006000"
		   "00a0000010a000002"
		   "d43100500000000000000000500204000000");
	put_pkt(
	    c,
	    "00112233445566778899aabb08004500003c00014000401100000a000001c0a80101"
	    "c35000350028000012340100000100000000000003777777076578616d706c6503636f6d0000010001");
	put_pkt(c, "00112233445566778899aabb86dd6000000000140640"
		   "20010db8000000000000000000000001"
		   "20010db8000000000000000000000002"
		   "d43101bb0000000000000000500204000000");
	put_pkt(c, "00112233445566778899aabb81000064080045000054000140004001000"
		   "00a000001c0a801010800f7ff00000000");
	put_pkt(c, "ffffffffffff8899aabbccdd08060001080006040001"
		   "8899aabbccdd0a000001000000000000c0a80101");
}

/* The same frames padded to 9000 bytes: in an XDP test run, a multi-buffer
 * packet whose headers lie in its first buffer, as a jumbo frame's would. */
#define JUMBO 9000
static void jumbo(struct corpus *j, const struct corpus *c)
{
	j->pkts = calloc(c->n, sizeof(*j->pkts));
	for (uint32_t i = 0; i < c->n; i++) {
		struct corpus_pkt *k = &j->pkts[j->n++];

		k->data = calloc(1, JUMBO);
		memcpy(k->data, c->pkts[i].data, c->pkts[i].caplen);
		k->caplen = k->wirelen = JUMBO;
	}
}

static const char *jumbo_exprs[] = {"tcp port 80", "udp port 53", "ip6 and tcp port 443"};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static int load(const char *expr, enum ecap_access access)
{
	struct ecap_xlate_opts o = {ECAP_HOOK_XDP, ECAP_INPUT_LIVE, access};
	struct ecap_cbpf p = {0};
	char err[ECAP_ERRLEN];
	int fd;

	fd = ecap_filter_compile(expr, ECAP_LINKTYPE_EN10MB, ECAP_SNAPLEN_DEFAULT, &p, err,
				 sizeof(err));
	if (!fd)
		fd = ecap_filter_load(p.insns, p.len, &o, err, sizeof(err));
	if (fd < 0)
		fprintf(stderr, "%s: %s\n", expr, err);
	ecap_cbpf_free(&p);
	return fd;
}

/* Median over rounds of (program - floor), averaged over the packets. The
 * floor runs right before the program on each packet, so drift in the
 * machine's speed hits both. */
static int kernel_ns(const char *expr, enum ecap_access access, const struct corpus *c, double *ret,
		     double *ret_floor)
{
	double rounds[ROUNDS], floors[ROUNDS];
	int fd = load(expr, access), floor_fd = load("", access), r = -1;

	if (fd < 0 || floor_fd < 0)
		goto out;
	for (int k = 0; k < ROUNDS; k++) {
		double sum = 0, fsum = 0;

		for (uint32_t i = 0; i < c->n; i++) {
			const struct corpus_pkt *p = &c->pkts[i];
			double ns, fns;

			if (ecap_prog_test_time(floor_fd, ECAP_HOOK_XDP, p->data, p->caplen,
						p->wirelen, REPEAT, &fns) ||
			    ecap_prog_test_time(fd, ECAP_HOOK_XDP, p->data, p->caplen, p->wirelen,
						REPEAT, &ns))
				goto out;
			sum += ns - fns;
			fsum += fns;
		}
		rounds[k] = sum / c->n;
		floors[k] = fsum / c->n;
	}
	*ret = median(rounds, ROUNDS);
	*ret_floor = median(floors, ROUNDS);
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (floor_fd >= 0)
		close(floor_fd);
	return r;
}

static double interp_ns(const char *expr, const struct corpus *c)
{
	struct ecap_cbpf p = {0};
	char err[ECAP_ERRLEN];
	double rounds[ROUNDS];

	ecap_filter_compile(expr, ECAP_LINKTYPE_EN10MB, ECAP_SNAPLEN_DEFAULT, &p, err, sizeof(err));
	for (int r = 0; r < ROUNDS; r++) {
		double sum = 0;

		for (uint32_t i = 0; i < c->n; i++)
			sum += corpus_ref_ns(p.insns, &c->pkts[i], REPEAT);
		rounds[r] = sum / c->n;
	}
	ecap_cbpf_free(&p);
	return median(rounds, ROUNDS);
}

int main(void)
{
	struct corpus c = {0}, j = {0};
	double worst = 0, floor_d = 0, floor_h = 0;
	int misses = 0;

	if (geteuid() != 0) {
		fprintf(stderr, "bench_filter: needs root for bpf()\n");
		return 2;
	}
	packets(&c);
	printf("| expression | edgecap (direct) | edgecap (helper-only) | libpcap bpf_filter() | "
	       "ratio direct/libpcap | target <= 0.5 |\n|---|---:|---:|---:|---:|---|\n");
	for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
		double d, h, in = interp_ns(exprs[i], &c), ratio;

		if (kernel_ns(exprs[i], ECAP_ACCESS_AUTO, &c, &d, &floor_d) ||
		    kernel_ns(exprs[i], ECAP_ACCESS_HELPER, &c, &h, &floor_h))
			return 2;
		ratio = (d > 0 ? d : 0) / in; /* noise can put a tiny cost below the floor */
		if (ratio > worst)
			worst = ratio;
		misses += ratio > 0.5;
		printf("| `%s` | %.1f | %.1f | %.1f | %.2f | %s |\n", exprs[i], d, h, in, ratio,
		       ratio <= 0.5 ? "met" : "MISSED");
		bench_record(json_pack(
		    "{ss ss ss ss sf ss sf ss}", "bench", "filter", "case", exprs[i], "metric",
		    "ns/packet", "ours", "edgecap (direct)", "ours_value", d > 0 ? d : 0.0, "peer",
		    "libpcap bpf_filter()", "peer_value", in, "target", "ratio<=0.5"));
		bench_record(json_pack("{ss ss ss ss sf ss sf}", "bench", "filter", "case",
				       exprs[i], "metric", "ns/packet", "ours",
				       "edgecap (helper-only)", "ours_value", h, "peer",
				       "libpcap bpf_filter()", "peer_value", in));
	}
	printf("\nns per packet, mean over %u typical packets (IPv4 TCP SYN, IPv4 DNS query, IPv6 "
	       "TCP, 802.1Q ICMP, ARP), median of %d rounds of %d kernel runs; kernel figures are "
	       "XDP BPF_PROG_TEST_RUN minus the floor, the translated `return snaplen` measured "
	       "alongside (%.1f ns direct, %.1f ns helper-only).\n",
	       c.n, ROUNDS, REPEAT, floor_d, floor_h);
	printf("worst ratio %.2f; target met on %zu of %zu expressions\n", worst,
	       sizeof(exprs) / sizeof(exprs[0]) - misses, sizeof(exprs) / sizeof(exprs[0]));

	/* multi-buffer frames: the direct copy reads the headers in the first
	 * buffer; before it could bail out to the helper copy, such a packet
	 * always went to the helper copy */
	jumbo(&j, &c);
	printf("\n| expression, %d-byte multi-buffer frames | edgecap (direct) | edgecap "
	       "(helper-only) | libpcap bpf_filter() | ratio direct/libpcap |\n"
	       "|---|---:|---:|---:|---:|\n",
	       JUMBO);
	for (size_t i = 0; i < sizeof(jumbo_exprs) / sizeof(jumbo_exprs[0]); i++) {
		double d, h, in = interp_ns(jumbo_exprs[i], &j);
		char name[128];

		if (kernel_ns(jumbo_exprs[i], ECAP_ACCESS_AUTO, &j, &d, &floor_d) ||
		    kernel_ns(jumbo_exprs[i], ECAP_ACCESS_HELPER, &j, &h, &floor_h))
			return 2;
		printf("| `%s` | %.1f | %.1f | %.1f | %.2f |\n", jumbo_exprs[i], d, h, in,
		       (d > 0 ? d : 0) / in);
		snprintf(name, sizeof(name), "%s, %d-byte multi-buffer frames", jumbo_exprs[i],
			 JUMBO);
		bench_record(json_pack("{ss ss ss ss sf ss sf}", "bench", "filter", "case", name,
				       "metric", "ns/packet", "ours", "edgecap (direct)",
				       "ours_value", d > 0 ? d : 0.0, "peer",
				       "libpcap bpf_filter()", "peer_value", in));
	}
	corpus_free(&c);
	corpus_free(&j);
	return 0;
}
