/* test_xlate.c - translated programs in the kernel against libpcap's
 * interpreter: hand-written edge cases of classic BPF semantics, thousands of
 * generated programs, and the largest programs the validator accepts (which
 * need islands for their long jumps). Every accepted program must load as
 * XDP and as TC and compute bpf_filter()'s result on every packet. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "corpus.h"
#include "filter/ebpf.h"
#include "filter/filter.h"
#include "progen.h"

#define I(c, t, f, k) ((struct sock_filter){(c), (t), (f), (k)})
#define RET_K(k)      I(BPF_RET | BPF_K, 0, 0, k)
#define RET_A	      I(BPF_RET | BPF_A, 0, 0, 0)

static const struct ecap_xlate_opts variants[] = {
    {ECAP_HOOK_XDP, ECAP_INPUT_TEST, ECAP_ACCESS_AUTO},
    {ECAP_HOOK_XDP, ECAP_INPUT_TEST, ECAP_ACCESS_HELPER},
    {ECAP_HOOK_TC, ECAP_INPUT_TEST, ECAP_ACCESS_AUTO},
    {ECAP_HOOK_TC, ECAP_INPUT_TEST, ECAP_ACCESS_HELPER},
};
#define NVARIANTS (sizeof(variants) / sizeof(variants[0]))

static struct corpus pkts;
static uint64_t state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return (uint32_t)(state >> 16);
}

static void add_pkt(uint32_t caplen, uint32_t wirelen)
{
	struct corpus_pkt *k;

	pkts.pkts = realloc(pkts.pkts, (pkts.n + 1) * sizeof(*pkts.pkts));
	assert_non_null(pkts.pkts);
	k = &pkts.pkts[pkts.n++];
	k->data = malloc(caplen ? caplen : 1);
	assert_non_null(k->data);
	for (uint32_t i = 0; i < caplen; i++)
		k->data[i] = (uint8_t)rnd();
	/* an IPv4/TCP-looking header so that filters get past the first checks */
	if (caplen >= 34) {
		memcpy(k->data + 12, "\x08\x00\x45\x00", 4);
		k->data[23] = 6;
		k->data[20] = k->data[21] = 0;
	}
	k->caplen = caplen;
	k->wirelen = wirelen;
}

static int setup(void **s)
{
	static const uint32_t sizes[][2] = {
	    {60, 60},	  {64, 1514},	{0, 60},	{1, 1},	      {13, 200},
	    {14, 14},	  {54, 54},	{100, 100},	{1514, 1514}, {3712, 3712},
	    {3713, 3713}, {9000, 9000}, {65535, 65535}, {20, 65535},
	};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		add_pkt(sizes[i][0], sizes[i][1]);
	return 0;
}

static int teardown(void **s)
{
	corpus_free(&pkts);
	return 0;
}

static void dump_ddd(const struct sock_filter *p, uint32_t n)
{
	struct ecap_cbpf c = {.insns = (struct sock_filter *)p, .len = n};

	printf("program (-ddd):\n");
	ecap_cbpf_print_ddd(stdout, &c);
}

/* Translate p for every variant, load it, and compare every packet's result
 * with libpcap's. */
static void check_prog(const struct sock_filter *p, uint32_t n, const char *what)
{
	char err[ECAP_ERRLEN];

	for (size_t v = 0; v < NVARIANTS; v++) {
		struct bpf_insn *insns = NULL;
		uint32_t len;
		int fd;

		if (ecap_filter_translate(p, n, &variants[v], &insns, &len, err, sizeof(err)))
			fail_msg("%s, variant %zu: translate: %s", what, v, err);
		fd = ecap_prog_load(insns, len, variants[v].hook, err, sizeof(err));
		free(insns);
		if (fd < 0)
			dump_ddd(p, n);
		if (fd < 0)
			fail_msg("%s, variant %zu (%u eBPF insns): %s", what, v, len, err);
		for (uint32_t i = 0; i < pkts.n; i++) {
			const struct corpus_pkt *k = &pkts.pkts[i];
			uint32_t want = corpus_ref_filter(p, k), got = 0;
			int r = ecap_prog_test_run(fd, variants[v].hook, k->data, k->caplen,
						   k->wirelen, &got);

			if (r == -EMSGSIZE)
				continue;
			assert_int_equal(r, 0);
			if (got != want)
				dump_ddd(p, n);
			if (got != want)
				fail_msg(
				    "%s, variant %zu, packet %u (caplen %u wirelen %u): kernel "
				    "%u, libpcap %u",
				    what, v, i, k->caplen, k->wirelen, got, want);
		}
		close(fd);
	}
}

#define CHECK(...)                                                                                 \
	do {                                                                                       \
		struct sock_filter p_[] = {__VA_ARGS__};                                           \
		char e_[ECAP_ERRLEN];                                                              \
		assert_int_equal(                                                                  \
		    ecap_cbpf_validate(p_, sizeof(p_) / sizeof(p_[0]), e_, sizeof(e_)), 0);        \
		check_prog(p_, sizeof(p_) / sizeof(p_[0]), #__VA_ARGS__);                          \
	} while (0)

static void semantics(void **s)
{
	/* loads at and past the end of the captured bytes */
	CHECK(I(BPF_LD | BPF_W | BPF_ABS, 0, 0, 56), RET_A);
	CHECK(I(BPF_LD | BPF_H | BPF_ABS, 0, 0, 58), RET_K(7));
	CHECK(I(BPF_LD | BPF_B | BPF_ABS, 0, 0, 59), RET_K(7));
	CHECK(I(BPF_LD | BPF_B | BPF_ABS, 0, 0, 0), RET_K(7));
	CHECK(I(BPF_LD | BPF_B | BPF_ABS, 0, 0, 0xfffe), RET_K(7));
	CHECK(I(BPF_LD | BPF_B | BPF_ABS, 0, 0, 0x10000), RET_K(7));
	CHECK(I(BPF_LD | BPF_W | BPF_ABS, 0, 0, 8990), RET_A);
	CHECK(I(BPF_LD | BPF_W | BPF_ABS, 0, 0, 0x7fffffff), RET_K(1));
	CHECK(I(BPF_LDX | BPF_MSH | BPF_B, 0, 0, 14), I(BPF_MISC | BPF_TXA, 0, 0, 0), RET_A);
	CHECK(I(BPF_LDX | BPF_MSH | BPF_B, 0, 0, 9000), RET_K(1));
	/* X + k: bounds, and no 32-bit wrap */
	CHECK(I(BPF_LDX | BPF_IMM, 0, 0, 0xffffffff), I(BPF_LD | BPF_B | BPF_IND, 0, 0, 2),
	      RET_K(3));
	CHECK(I(BPF_LDX | BPF_IMM, 0, 0, 20), I(BPF_LD | BPF_H | BPF_IND, 0, 0, 38), RET_A);
	CHECK(I(BPF_LDX | BPF_IMM, 0, 0, 8000), I(BPF_LD | BPF_W | BPF_IND, 0, 0, 996), RET_A);
	CHECK(I(BPF_LDX | BPF_IMM, 0, 0, 1), I(BPF_LD | BPF_W | BPF_IND, 0, 0, 0xfffd), RET_A);
	CHECK(I(BPF_LDX | BPF_IMM, 0, 0, 1), I(BPF_LD | BPF_W | BPF_IND, 0, 0, 0x80000000), RET_A);
	/* past the linear area of a multi-buffer packet (XDP: past about 3.7 KB)
	 * after a store: the direct copy bails out and the helper copy starts
	 * again from the first instruction */
	CHECK(I(BPF_LD | BPF_B | BPF_ABS, 0, 0, 20), I(BPF_ST, 0, 0, 1),
	      I(BPF_LDX | BPF_IMM, 0, 0, 8000), I(BPF_LD | BPF_B | BPF_IND, 0, 0, 990),
	      I(BPF_LDX | BPF_MEM, 0, 0, 1), I(BPF_ALU | BPF_ADD | BPF_X, 0, 0, 0), RET_A);
	CHECK(I(BPF_LD | BPF_H | BPF_ABS, 0, 0, 12), I(BPF_JMP | BPF_JEQ | BPF_K, 0, 2, 0x0800),
	      I(BPF_LD | BPF_W | BPF_ABS, 0, 0, 5000), RET_A, RET_K(4));
	/* len is the wire length, even when the capture is shorter */
	CHECK(I(BPF_LD | BPF_W | BPF_LEN, 0, 0, 0), RET_A);
	CHECK(I(BPF_LDX | BPF_W | BPF_LEN, 0, 0, 0), I(BPF_MISC | BPF_TXA, 0, 0, 0), RET_A);
	/* division and modulo by X == 0 end the program with 0 */
	CHECK(I(BPF_LD | BPF_IMM, 0, 0, 100), I(BPF_ALU | BPF_DIV | BPF_X, 0, 0, 0), RET_K(5));
	CHECK(I(BPF_LD | BPF_IMM, 0, 0, 100), I(BPF_ALU | BPF_MOD | BPF_X, 0, 0, 0), RET_K(5));
	CHECK(I(BPF_LD | BPF_W | BPF_LEN, 0, 0, 0), I(BPF_LDX | BPF_IMM, 0, 0, 7),
	      I(BPF_ALU | BPF_MOD | BPF_X, 0, 0, 0), RET_A);
	CHECK(I(BPF_LD | BPF_IMM, 0, 0, 0xfffffff0), I(BPF_ALU | BPF_DIV | BPF_K, 0, 0, 0x80000001),
	      RET_A);
	/* shifts by X >= 32 give 0 */
	CHECK(I(BPF_LD | BPF_IMM, 0, 0, 0xff), I(BPF_LDX | BPF_IMM, 0, 0, 32),
	      I(BPF_ALU | BPF_LSH | BPF_X, 0, 0, 0), I(BPF_ALU | BPF_ADD | BPF_K, 0, 0, 1), RET_A);
	CHECK(I(BPF_LD | BPF_IMM, 0, 0, 0xff00), I(BPF_LDX | BPF_IMM, 0, 0, 0x80000004),
	      I(BPF_ALU | BPF_RSH | BPF_X, 0, 0, 0), I(BPF_ALU | BPF_ADD | BPF_K, 0, 0, 1), RET_A);
	CHECK(I(BPF_LD | BPF_IMM, 0, 0, 0xff00), I(BPF_LDX | BPF_IMM, 0, 0, 31),
	      I(BPF_ALU | BPF_RSH | BPF_X, 0, 0, 0), I(BPF_ALU | BPF_ADD | BPF_K, 0, 0, 1), RET_A);
	/* 32-bit arithmetic wraps; negation; compares with k >= 2^31 are unsigned */
	CHECK(I(BPF_LD | BPF_IMM, 0, 0, 0xfffffffe), I(BPF_ALU | BPF_ADD | BPF_K, 0, 0, 5), RET_A);
	CHECK(I(BPF_LD | BPF_IMM, 0, 0, 3), I(BPF_ALU | BPF_NEG, 0, 0, 0), RET_A);
	CHECK(I(BPF_LD | BPF_IMM, 0, 0, 0x90000000), I(BPF_JMP | BPF_JGT | BPF_K, 0, 1, 0x80000000),
	      RET_K(1), RET_K(2));
	CHECK(I(BPF_LD | BPF_IMM, 0, 0, 5), I(BPF_JMP | BPF_JGE | BPF_K, 0, 1, 0xfffffff0),
	      RET_K(1), RET_K(2));
	CHECK(I(BPF_LD | BPF_IMM, 0, 0, 0x80000000),
	      I(BPF_JMP | BPF_JSET | BPF_K, 0, 1, 0x80000000), RET_K(1), RET_K(2));
	CHECK(I(BPF_LD | BPF_IMM, 0, 0, 0xffffffff), I(BPF_LDX | BPF_IMM, 0, 0, 1),
	      I(BPF_JMP | BPF_JGT | BPF_X, 0, 1, 0), RET_K(1), RET_K(2));
	/* scratch memory and RET A with values above 2^31 */
	CHECK(I(BPF_LD | BPF_IMM, 0, 0, 0xdeadbeef), I(BPF_ST, 0, 0, 15),
	      I(BPF_LD | BPF_IMM, 0, 0, 0), I(BPF_LDX | BPF_MEM, 0, 0, 15),
	      I(BPF_MISC | BPF_TXA, 0, 0, 0), RET_A);
	/* jt == jf, jumps of 0, an unreachable tail */
	CHECK(I(BPF_LD | BPF_W | BPF_LEN, 0, 0, 0), I(BPF_JMP | BPF_JEQ | BPF_K, 1, 1, 60),
	      RET_K(1), RET_K(2));
	CHECK(I(BPF_JMP | BPF_JA, 0, 0, 0), RET_K(9), RET_K(1));
}

static void generated_programs(void **s)
{
	static struct sock_filter p[512];
	uint8_t bytes[8 * 511];
	char err[ECAP_ERRLEN], what[64];
	unsigned accepted = 0;

	for (unsigned iter = 0; iter < 3000; iter++) {
		uint32_t len = 8 * (1 + rnd() % (iter % 4 ? 12 : 60)), n;

		for (uint32_t i = 0; i < len; i++)
			bytes[i] = (uint8_t)rnd();
		n = progen_decode(bytes, len, p, 512);
		if (ecap_cbpf_validate(p, n, err, sizeof(err)))
			continue;
		accepted++;
		snprintf(what, sizeof(what), "generated program %u", iter);
		check_prog(p, n, what);
	}
	print_message("%u generated programs accepted and checked\n", accepted);
	assert_true(accepted > 300);
}

/* 4096 instructions: IND loads everywhere (the longest translation per
 * instruction), a JA over all of them that the verifier must see through, and
 * bounds checks far from the end of the program. */
static void largest_programs(void **s)
{
	static struct sock_filter p[ECAP_CBPF_MAX_INSNS];
	uint32_t n = ECAP_CBPF_MAX_INSNS;
	char err[ECAP_ERRLEN];

	p[0] = I(BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
	p[1] = I(BPF_JMP | BPF_JGT | BPF_K, 0, 1, 1000); /* long packets skip everything */
	p[2] = I(BPF_JMP | BPF_JA, 0, 0, n - 2 - 3);
	p[3] = I(BPF_LDX | BPF_MSH | BPF_B, 0, 0, 14);
	for (uint32_t i = 4; i < n - 2; i++)
		p[i] = I(BPF_LD |
			     (i % 3 == 0   ? BPF_W
			      : i % 3 == 1 ? BPF_H
					   : BPF_B) |
			     BPF_IND,
			 0, 0, i % 40);
	p[n - 2] = RET_A;
	p[n - 1] = RET_K(77);
	if (ecap_cbpf_validate(p, n, err, sizeof(err)))
		fail_msg("%s", err);
	check_prog(p, n, "4096 instructions, IND loads, long JA");

	/* straight-line ABS loads with far offsets: one block, many checks */
	for (uint32_t i = 0; i < n - 1; i++)
		p[i] = I(BPF_LD | BPF_H | BPF_ABS, 0, 0, (i * 7) % 3000);
	p[n - 1] = RET_A;
	check_prog(p, n, "4096 instructions, ABS loads");

	/* a chain of conditional jumps over IND loads: many paths for the verifier */
	for (uint32_t i = 0; i < n - 2; i++)
		p[i] = i % 2 ? I(BPF_LD | BPF_B | BPF_IND, 0, 0, i % 64)
			     : I(BPF_JMP | BPF_JGT | BPF_K, 1, 0, i % 256);
	p[n - 2] = I(BPF_LD | BPF_B | BPF_IND, 0, 0, 3);
	p[n - 1] = RET_A;
	assert_int_equal(ecap_cbpf_validate(p, n, err, sizeof(err)), 0);
	check_prog(p, n, "4096 instructions, alternating jumps and loads");

	/* as many IND loads as the verifier's branch budget allows with both
	 * copies: the direct copy is long enough to need islands, and on the
	 * multi-buffer packets (9000, 65535 bytes) the loads past the linear
	 * area bail out to the helper copy from beyond them */
	{
		uint32_t m = 1700, len;
		struct bpf_insn *insns;

		p[0] = I(BPF_LDX | BPF_MSH | BPF_B, 0, 0, 14);
		for (uint32_t i = 1; i <= m; i++)
			p[i] = I(BPF_LD | BPF_H | BPF_IND, 0, 0, (i * 37) % 8000);
		p[m + 1] = RET_A;
		assert_int_equal(ecap_cbpf_validate(p, m + 2, err, sizeof(err)), 0);
		assert_int_equal(
		    ecap_filter_translate(p, m + 2, &variants[0], &insns, &len, err, sizeof(err)),
		    0);
		free(insns);
		assert_true(len > 2 * 16384); /* both copies, the first with islands */
		check_prog(p, m + 2, "1702 instructions, IND loads, both copies");
	}
}

/* A program the verifier refuses reports the end of the verifier log. */
static void verifier_refusal(void **s)
{
	struct bpf_insn bad[] = {
	    ECAP_INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_0, BPF_REG_5, 0, 0),
	    ECAP_INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	char err[ECAP_ERRLEN] = "";

	assert_true(ecap_prog_load(bad, 2, ECAP_HOOK_XDP, err, sizeof(err)) < 0);
	if (strncmp(err, "verifier: ", 10) || !strstr(err, "R5 !read_ok") || strchr(err, '\n'))
		fail_msg("unexpected message: %s", err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(verifier_refusal),
	    cmocka_unit_test(semantics),
	    cmocka_unit_test(generated_programs),
	    cmocka_unit_test(largest_programs),
	};

	if (geteuid() != 0) {
		printf("SKIP: needs root for bpf()\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
