/* test_validate.c - the validator refuses each kind of bad program with its
 * own reason and instruction index, and accepts what libpcap produces. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "filter/compile.h"

#define I(c, t, f, k) ((struct sock_filter){(c), (t), (f), (k)})
#define RET_K(k)      I(BPF_RET | BPF_K, 0, 0, k)

static char err[ECAP_ERRLEN];

static void refused(const struct sock_filter *p, uint32_t n, const char *want)
{
	err[0] = '\0';
	assert_int_equal(ecap_cbpf_validate(p, n, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("reason \"%s\" does not contain \"%s\"", err, want);
}

static void backward_jump(void **s)
{
	struct sock_filter p[] = {RET_K(0), I(BPF_JMP | BPF_JA, 0, 0, (uint32_t)-2), RET_K(1)};

	refused(p, 3, "instruction 1: backward jump");
}

static void jump_past_end(void **s)
{
	struct sock_filter p[] = {I(BPF_LD | BPF_IMM, 0, 0, 1),
				  I(BPF_JMP | BPF_JEQ | BPF_K, 0, 5, 1), RET_K(1)};
	struct sock_filter q[] = {I(BPF_JMP | BPF_JA, 0, 0, 1), RET_K(1)};

	refused(p, 3, "instruction 1: jump to 7, past the end");
	refused(q, 2, "instruction 0: jump to 2, past the end");
}

static void no_return(void **s)
{
	struct sock_filter p[] = {I(BPF_LD | BPF_IMM, 0, 0, 1),
				  I(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 1), RET_K(1),
				  I(BPF_LD | BPF_IMM, 0, 0, 2)};

	refused(p, 4, "instruction 3: execution falls off the end");
}

static void unreachable_tail_is_fine(void **s)
{
	struct sock_filter p[] = {RET_K(1), I(BPF_LD | BPF_IMM, 0, 0, 2)};

	assert_int_equal(ecap_cbpf_validate(p, 2, err, sizeof(err)), 0);
}

static void scratch_out_of_range(void **s)
{
	struct sock_filter p[] = {I(BPF_ST, 0, 0, 16), RET_K(1)};
	struct sock_filter q[] = {I(BPF_LDX | BPF_MEM, 0, 0, 99), RET_K(1)};

	refused(p, 2, "instruction 0: scratch memory M[16] out of range");
	refused(q, 2, "instruction 0: scratch memory M[99] out of range");
}

static void scratch_read_unwritten(void **s)
{
	/* M[3] is written only on the jt path */
	struct sock_filter p[] = {I(BPF_LD | BPF_W | BPF_LEN, 0, 0, 0),
				  I(BPF_JMP | BPF_JGT | BPF_K, 0, 1, 60), I(BPF_ST, 0, 0, 3),
				  I(BPF_LD | BPF_MEM, 0, 0, 3), I(BPF_RET | BPF_A, 0, 0, 0)};
	struct sock_filter q[] = {
	    I(BPF_LD | BPF_W | BPF_LEN, 0, 0, 0),   I(BPF_ST, 0, 0, 3),
	    I(BPF_JMP | BPF_JGT | BPF_K, 0, 1, 60), I(BPF_LDX | BPF_MEM, 0, 0, 3),
	    I(BPF_LD | BPF_MEM, 0, 0, 3),	    I(BPF_RET | BPF_A, 0, 0, 0)};

	refused(p, 5, "instruction 3: reads M[3], which some path reaches without writing it");
	assert_int_equal(ecap_cbpf_validate(q, 6, err, sizeof(err)), 0);
}

static void division_by_zero(void **s)
{
	struct sock_filter p[] = {I(BPF_ALU | BPF_DIV | BPF_K, 0, 0, 0), RET_K(1)};
	struct sock_filter q[] = {I(BPF_ALU | BPF_MOD | BPF_K, 0, 0, 0), RET_K(1)};
	struct sock_filter x[] = {I(BPF_ALU | BPF_DIV | BPF_X, 0, 0, 0), RET_K(1)};

	refused(p, 2, "instruction 0: division by constant zero");
	refused(q, 2, "instruction 0: modulo by constant zero");
	/* by X is checked at run time, as libpcap does */
	assert_int_equal(ecap_cbpf_validate(x, 2, err, sizeof(err)), 0);
}

static void big_shift(void **s)
{
	struct sock_filter p[] = {I(BPF_ALU | BPF_LSH | BPF_K, 0, 0, 32), RET_K(1)};

	refused(p, 2, "instruction 0: shift by constant 32");
}

static void ancillary_loads(void **s)
{
	struct sock_filter ifx[] = {I(BPF_LD | BPF_W | BPF_ABS, 0, 0, SKF_AD_OFF + SKF_AD_IFINDEX),
				    RET_K(1)};
	struct sock_filter vlan[] = {
	    I(BPF_LD | BPF_B | BPF_ABS, 0, 0, SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT), RET_K(1)};
	struct sock_filter net[] = {I(BPF_LD | BPF_B | BPF_IND, 0, 0, SKF_NET_OFF + 9), RET_K(1)};
	struct sock_filter ll[] = {I(BPF_LDX | BPF_MSH | BPF_B, 0, 0, SKF_LL_OFF), RET_K(1)};

	refused(ifx, 2, "instruction 0: Linux ancillary load SKF_AD_IFINDEX (ifindex)");
	refused(vlan, 2, "SKF_AD_VLAN_TAG_PRESENT (vlan tag present)");
	refused(net, 2, "instruction 0: Linux network-header-relative load (SKF_NET_OFF+9)");
	refused(ll, 2, "instruction 0: Linux link-layer-relative load (SKF_LL_OFF+0)");
}

static void unknown_opcode(void **s)
{
	struct sock_filter p[] = {I(BPF_LD | BPF_IMM, 0, 0, 1), I(0xff, 0, 0, 0), RET_K(1)};
	struct sock_filter retx[] = {I(BPF_RET | BPF_X, 0, 0, 0)};

	refused(p, 3, "instruction 1: unknown opcode 0xff");
	refused(retx, 1, "instruction 0: unknown opcode 0x0e"); /* libpcap has no RET X */
}

static void oversize_and_empty(void **s)
{
	static struct sock_filter big[ECAP_CBPF_MAX_INSNS + 1];

	for (int i = 0; i <= ECAP_CBPF_MAX_INSNS; i++)
		big[i] = RET_K(1);
	refused(big, ECAP_CBPF_MAX_INSNS + 1, "program has 4097 instructions, more than 4096");
	assert_int_equal(ecap_cbpf_validate(big, ECAP_CBPF_MAX_INSNS, err, sizeof(err)), 0);
	refused(big, 0, "empty program");
}

static void accepts_compiled(void **s)
{
	static const char *exprs[] = {"tcp port 80", "vlan and ip6", "ip[2:2] > 576",
				      "arp or (icmp and len > 100)", ""};

	for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
		struct ecap_cbpf p = {0};

		assert_int_equal(ecap_filter_compile(exprs[i], ECAP_LINKTYPE_EN10MB, 262144, &p,
						     err, sizeof(err)),
				 0);
		assert_int_equal(ecap_cbpf_validate(p.insns, p.len, err, sizeof(err)), 0);
		ecap_cbpf_free(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(backward_jump),
	    cmocka_unit_test(jump_past_end),
	    cmocka_unit_test(no_return),
	    cmocka_unit_test(unreachable_tail_is_fine),
	    cmocka_unit_test(scratch_out_of_range),
	    cmocka_unit_test(scratch_read_unwritten),
	    cmocka_unit_test(division_by_zero),
	    cmocka_unit_test(big_shift),
	    cmocka_unit_test(ancillary_loads),
	    cmocka_unit_test(unknown_opcode),
	    cmocka_unit_test(oversize_and_empty),
	    cmocka_unit_test(accepts_compiled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
