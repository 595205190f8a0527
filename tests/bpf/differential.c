/* differential.c - the translated filters against libpcap's interpreter.
 *
 *   differential EXPRESSIONS_FILE CAPTURE...
 *
 * For every expression (one per line, '#' comments) and every packet of the
 * captures, in four variants (XDP and TC hooks, direct+helper and
 * helper-only access), the kernel's result (match and snap length) must
 * equal bpf_filter()'s. Packets larger than the skb test runner takes are
 * run on XDP only, and counted. Exits 0 only with zero mismatches and a
 * corpus of at least 300 expressions and 2000 packets.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corpus.h"
#include "filter/filter.h"
#include "filter/compile.h"

#define MIN_EXPRS  300
#define MIN_PKTS   2000
#define SHOW_FIRST 5

static const struct variant {
	const char *name;
	struct ecap_xlate_opts o;
} variants[] = {
    {"xdp", {ECAP_HOOK_XDP, ECAP_INPUT_TEST, ECAP_ACCESS_AUTO}},
    {"xdp-helper", {ECAP_HOOK_XDP, ECAP_INPUT_TEST, ECAP_ACCESS_HELPER}},
    {"tc", {ECAP_HOOK_TC, ECAP_INPUT_TEST, ECAP_ACCESS_AUTO}},
    {"tc-helper", {ECAP_HOOK_TC, ECAP_INPUT_TEST, ECAP_ACCESS_HELPER}},
};

struct totals {
	uint64_t runs, mismatches, matched, skipped_tc, exprs, failed_exprs;
};

/* Returns the number of mismatches for one expression and variant, or -1
 * when the program could not be built or loaded. */
static long check_variant(const char *expr, const struct ecap_cbpf *p, const struct variant *v,
			  const struct corpus *c, const uint32_t *ref, struct totals *t)
{
	char err[ECAP_ERRLEN];
	long bad = 0;
	int fd = ecap_filter_load(p->insns, p->len, &v->o, err, sizeof(err));

	if (fd < 0) {
		printf("FAIL %s [%s]: %s\n", expr, v->name, err);
		return -1;
	}
	for (uint32_t i = 0; i < c->n; i++) {
		const struct corpus_pkt *k = &c->pkts[i];
		uint32_t res;
		int r = ecap_prog_test_run(fd, v->o.hook, k->data, k->caplen, k->wirelen, &res);

		if (r == -EMSGSIZE) {
			t->skipped_tc++;
			continue;
		}
		if (r) {
			printf("FAIL %s [%s]: test run of packet %u: %s\n", expr, v->name, i,
			       strerror(-r));
			bad++;
			continue;
		}
		t->runs++;
		if (res != ref[i]) {
			if (bad < SHOW_FIRST)
				printf("MISMATCH %s [%s] packet %u (caplen %u wirelen %u): kernel "
				       "%u, libpcap %u\n",
				       expr, v->name, i, k->caplen, k->wirelen, res, ref[i]);
			bad++;
		}
	}
	close(fd);
	return bad;
}

int main(int argc, char **argv)
{
	struct corpus c = {0};
	struct totals t = {0};
	char line[1024], err[ECAP_ERRLEN];
	uint32_t *ref;
	FILE *ef;

	if (argc < 3) {
		fprintf(stderr, "usage: differential EXPRESSIONS CAPTURE...\n");
		return 2;
	}
	for (int i = 2; i < argc; i++)
		if (corpus_load(&c, argv[i]))
			return 2;
	ef = fopen(argv[1], "r");
	ref = calloc(c.n ? c.n : 1, sizeof(*ref));
	if (!ef || !ref) {
		perror(argv[1]);
		return 2;
	}
	while (fgets(line, sizeof(line), ef)) {
		struct ecap_cbpf p = {0};
		char *e = line;
		uint64_t before = t.mismatches;

		e[strcspn(e, "\n")] = '\0';
		while (*e == ' ' || *e == '\t')
			e++;
		if (!*e || *e == '#')
			continue;
		t.exprs++;
		if (ecap_filter_compile(e, ECAP_LINKTYPE_EN10MB, ECAP_SNAPLEN_DEFAULT, &p, err,
					sizeof(err)) ||
		    ecap_cbpf_validate(p.insns, p.len, err, sizeof(err))) {
			printf("FAIL %s: %s\n", e, err);
			t.failed_exprs++;
			ecap_cbpf_free(&p);
			continue;
		}
		for (uint32_t i = 0; i < c.n; i++) {
			ref[i] = corpus_ref_filter(p.insns, &c.pkts[i]);
			t.matched += ref[i] != 0;
		}
		for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
			long bad = check_variant(e, &p, &variants[v], &c, ref, &t);

			if (bad < 0)
				t.failed_exprs++;
			else
				t.mismatches += (uint64_t)bad;
		}
		if (t.mismatches != before)
			printf("FAIL %s: %llu mismatches\n", e,
			       (unsigned long long)(t.mismatches - before));
		ecap_cbpf_free(&p);
	}
	fclose(ef);

	printf("%llu expressions x %u packets x %zu variants: %llu kernel runs, %llu "
	       "mismatches, %llu expressions failed, %llu (expression, packet) matches; %llu TC "
	       "runs skipped (packet > %u bytes, run on XDP only)\n",
	       (unsigned long long)t.exprs, c.n, sizeof(variants) / sizeof(variants[0]),
	       (unsigned long long)t.runs, (unsigned long long)t.mismatches,
	       (unsigned long long)t.failed_exprs, (unsigned long long)t.matched,
	       (unsigned long long)t.skipped_tc, ECAP_TC_TEST_MAX);
	if (t.exprs < MIN_EXPRS || c.n < MIN_PKTS) {
		printf("FAIL corpus too small: need %d expressions and %d packets\n", MIN_EXPRS,
		       MIN_PKTS);
		t.failed_exprs++;
	}
	corpus_free(&c);
	free(ref);
	return t.mismatches || t.failed_exprs ? 1 : 0;
}
