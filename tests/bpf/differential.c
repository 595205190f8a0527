/* differential.c - the translated filters against libpcap's interpreter.
 *
 *   differential EXPRESSIONS_FILE CAPTURE...
 *
 * For every expression (one per line, '#' comments) and every packet of the
 * captures, in four variants (XDP and TC hooks, direct+helper and
 * helper-only access), the kernel's result (match and snap length) must
 * equal bpf_filter()'s. Packets larger than the skb test runner takes are
 * run on XDP only, and counted. A fifth variant, tc-tagged, runs TC with the
 * packet's VLAN tag out of band: each packet of 14 bytes or more gets an
 * outer tag (802.1Q VLAN 100 with PCP 5 and DEI, or 802.1ad VLAN 200, in
 * turn) that libpcap sees in the frame and the program gets beside it, as
 * from an skb with vlan_present. Exits 0 only with zero mismatches and a
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

static const struct ecap_xlate_opts tagged_opts = {ECAP_HOOK_TC, ECAP_INPUT_TEST, ECAP_ACCESS_AUTO,
						   1};

/* The corpus with an outer tag put in at byte 12 (what libpcap gets), and
 * the tags; packets shorter than an Ethernet header are left out (sessions.c
 * takes those without the tag). */
struct tagged {
	struct corpus c;
	uint32_t *tag;	/* TPID << 16 | TCI */
	uint32_t *orig; /* index of the packet in the corpus */
};

static int tag_corpus(const struct corpus *c, struct tagged *t)
{
	t->c.pkts = calloc(c->n ? c->n : 1, sizeof(*t->c.pkts));
	t->tag = calloc(c->n ? c->n : 1, sizeof(*t->tag));
	t->orig = calloc(c->n ? c->n : 1, sizeof(*t->orig));
	if (!t->c.pkts || !t->tag || !t->orig)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->n; i++) {
		const struct corpus_pkt *k = &c->pkts[i];
		struct corpus_pkt *d = &t->c.pkts[t->c.n];
		uint32_t tag =
		    i % 2 ? 0x8100u << 16 | 5 << 13 | 1 << 12 | 100 : 0x88a8u << 16 | 3 << 13 | 200;

		if (k->caplen < 14)
			continue;
		d->data = malloc(k->caplen + 4);
		if (!d->data)
			return -ENOMEM;
		memcpy(d->data, k->data, 12);
		d->data[12] = tag >> 24;
		d->data[13] = tag >> 16;
		d->data[14] = tag >> 8;
		d->data[15] = tag;
		memcpy(d->data + 16, k->data + 12, k->caplen - 12);
		d->caplen = k->caplen + 4;
		d->wirelen = k->wirelen + 4;
		t->tag[t->c.n] = tag;
		t->orig[t->c.n++] = i;
	}
	t->c.cap = t->c.n;
	return 0;
}

/* tc-tagged: the mismatches, or -1 when the program could not be loaded. */
static long check_tagged(const char *expr, const struct ecap_cbpf *p, const struct corpus *c,
			 const struct tagged *tg, struct totals *t)
{
	char err[ECAP_ERRLEN];
	long bad = 0;
	int fd = ecap_filter_load(p->insns, p->len, &tagged_opts, err, sizeof(err));

	if (fd < 0) {
		printf("FAIL %s [tc-tagged]: %s\n", expr, err);
		return -1;
	}
	for (uint32_t i = 0; i < tg->c.n; i++) {
		const struct corpus_pkt *k = &c->pkts[tg->orig[i]];
		uint32_t res, ref = corpus_ref_filter(p->insns, &tg->c.pkts[i]);
		int r =
		    ecap_prog_test_run_tagged(fd, k->data, k->caplen, k->wirelen, tg->tag[i], &res);

		if (r == -EMSGSIZE) {
			t->skipped_tc++;
			continue;
		}
		if (r) {
			printf("FAIL %s [tc-tagged]: test run of packet %u: %s\n", expr,
			       tg->orig[i], strerror(-r));
			bad++;
			continue;
		}
		t->runs++;
		t->matched += ref != 0;
		if (res != ref) {
			if (bad < SHOW_FIRST)
				printf(
				    "MISMATCH %s [tc-tagged] packet %u (caplen %u wirelen %u, tag "
				    "%08x): kernel %u, libpcap %u\n",
				    expr, tg->orig[i], k->caplen, k->wirelen, tg->tag[i], res, ref);
			bad++;
		}
	}
	close(fd);
	return bad;
}

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
	struct tagged tg = {0};
	struct totals t = {0};
	long bad;
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
	if (tag_corpus(&c, &tg)) {
		perror("tagged corpus");
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
			bad = check_variant(e, &p, &variants[v], &c, ref, &t);
			if (bad < 0)
				t.failed_exprs++;
			else
				t.mismatches += (uint64_t)bad;
		}
		bad = check_tagged(e, &p, &c, &tg, &t);
		if (bad < 0)
			t.failed_exprs++;
		else
			t.mismatches += (uint64_t)bad;
		if (t.mismatches != before)
			printf("FAIL %s: %llu mismatches\n", e,
			       (unsigned long long)(t.mismatches - before));
		ecap_cbpf_free(&p);
	}
	fclose(ef);

	printf("%llu expressions x %u packets x %zu variants (and %u tagged packets x "
	       "tc-tagged): %llu kernel runs, %llu "
	       "mismatches, %llu expressions failed, %llu (expression, packet) matches; %llu TC "
	       "runs skipped (packet > %u bytes, run on XDP only)\n",
	       (unsigned long long)t.exprs, c.n, sizeof(variants) / sizeof(variants[0]), tg.c.n,
	       (unsigned long long)t.runs, (unsigned long long)t.mismatches,
	       (unsigned long long)t.failed_exprs, (unsigned long long)t.matched,
	       (unsigned long long)t.skipped_tc, ECAP_TC_TEST_MAX);
	if (t.exprs < MIN_EXPRS || c.n < MIN_PKTS) {
		printf("FAIL corpus too small: need %d expressions and %d packets\n", MIN_EXPRS,
		       MIN_PKTS);
		t.failed_exprs++;
	}
	corpus_free(&c);
	corpus_free(&tg.c);
	free(tg.tag);
	free(tg.orig);
	free(ref);
	return t.mismatches || t.failed_exprs ? 1 : 0;
}
