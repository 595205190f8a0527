/* fuzz_xlate.c - libFuzzer target for the untrusted-bytecode path.
 *
 * The input is read twice: as raw classic BPF (the validator must never
 * crash on any bytes), and through progen_decode() as a mostly valid program.
 * Every program the validator accepts must translate, be accepted by the
 * kernel verifier as XDP and as TC, and compute libpcap's result on a few
 * packets; anything else aborts. Needs root (bpf()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corpus.h"
#include "filter/filter.h"
#include "progen.h"

static struct corpus pkts;

static void add_pkt(uint32_t caplen, uint32_t wirelen, uint8_t seed)
{
	struct corpus_pkt *k;

	pkts.pkts = realloc(pkts.pkts, (pkts.n + 1) * sizeof(*pkts.pkts));
	k = &pkts.pkts[pkts.n++];
	k->data = malloc(caplen);
	for (uint32_t i = 0; i < caplen; i++)
		k->data[i] = (uint8_t)(seed + i * 37);
	if (caplen >= 24)
		memcpy(k->data + 12, "\x08\x00\x45\x00", 4);
	k->caplen = caplen;
	k->wirelen = wirelen;
}

/* libFuzzer calls it */
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	add_pkt(60, 60, 1);
	add_pkt(20, 1500, 2);
	add_pkt(5000, 5000, 3);
	return 0;
}

static void check(const struct sock_filter *p, uint32_t n, const struct ecap_xlate_opts *o)
{
	char err[ECAP_ERRLEN];
	struct bpf_insn *insns;
	uint32_t len;
	int fd;

	if (ecap_filter_translate(p, n, o, &insns, &len, err, sizeof(err))) {
		fprintf(stderr, "accepted program failed to translate: %s\n", err);
		abort();
	}
	fd = ecap_prog_load(insns, len, o->hook, err, sizeof(err));
	free(insns);
	if (fd < 0) {
		fprintf(stderr, "accepted program refused by the kernel (hook %d): %s\n", o->hook,
			err);
		abort();
	}
	for (uint32_t i = 0; i < pkts.n; i++) {
		uint32_t got, want = corpus_ref_filter(p, &pkts.pkts[i]);
		int r = ecap_prog_test_run(fd, o->hook, pkts.pkts[i].data, pkts.pkts[i].caplen,
					   pkts.pkts[i].wirelen, &got);

		if (r == -EMSGSIZE)
			continue;
		if (r || got != want) {
			fprintf(stderr, "packet %u: kernel %u (run %d), libpcap %u\n", i, got, r,
				want);
			abort();
		}
	}
	close(fd);
}

/* libFuzzer calls it */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sock_filter p[ECAP_CBPF_MAX_INSNS];
	static const struct ecap_xlate_opts opts[] = {
	    {ECAP_HOOK_XDP, ECAP_INPUT_TEST, ECAP_ACCESS_AUTO},
	    {ECAP_HOOK_TC, ECAP_INPUT_TEST, ECAP_ACCESS_AUTO},
	    {ECAP_HOOK_XDP, ECAP_INPUT_TEST, ECAP_ACCESS_HELPER},
	};
	char err[ECAP_ERRLEN];
	uint32_t n = (uint32_t)(size / sizeof(*p));

	if (n > ECAP_CBPF_MAX_INSNS)
		n = ECAP_CBPF_MAX_INSNS;
	memcpy(p, data, n * sizeof(*p));
	if (n && !ecap_cbpf_validate(p, n, err, sizeof(err)))
		check(p, n, &opts[0]);

	n = progen_decode(data, size, p, ECAP_CBPF_MAX_INSNS);
	if (ecap_cbpf_validate(p, n, err, sizeof(err)))
		return 0;
	for (size_t v = 0; v < sizeof(opts) / sizeof(opts[0]); v++)
		check(p, n, &opts[v]);
	return 0;
}
