/* validate.c - checks classic BPF that arrived over the network before we
 * translate it. Accepts exactly the instruction set of libpcap's bpf_filter()
 * interpreter, with stricter structure: forward jumps only (so the program is
 * a DAG and terminates), every reachable path ends in a return, scratch memory
 * M[0..15] is never read before some write on every path to the read, no
 * division by a constant zero, no shift by a constant >= 32 (undefined in
 * libpcap's C interpreter; libpcap's compiler refuses to emit it), and no
 * Linux-only negative offsets (SKF_AD_*, SKF_NET_OFF, SKF_LL_OFF).
 *
 * Cost: O(n) time and O(n) memory (one 16-bit written-slot mask per insn).
 */
#include "filter/cbpf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

__attribute__((format(printf, 3, 4))) static int refuse(char *err, size_t errlen, const char *fmt,
							...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* The exact opcodes libpcap's interpreter executes (it aborts on others). */
static int opcode_known(uint16_t code)
{
	switch (code) {
	case BPF_RET | BPF_K:
	case BPF_RET | BPF_A:
	case BPF_LD | BPF_W | BPF_ABS:
	case BPF_LD | BPF_H | BPF_ABS:
	case BPF_LD | BPF_B | BPF_ABS:
	case BPF_LD | BPF_W | BPF_LEN:
	case BPF_LDX | BPF_W | BPF_LEN:
	case BPF_LD | BPF_W | BPF_IND:
	case BPF_LD | BPF_H | BPF_IND:
	case BPF_LD | BPF_B | BPF_IND:
	case BPF_LDX | BPF_MSH | BPF_B:
	case BPF_LD | BPF_IMM:
	case BPF_LDX | BPF_IMM:
	case BPF_LD | BPF_MEM:
	case BPF_LDX | BPF_MEM:
	case BPF_ST:
	case BPF_STX:
	case BPF_JMP | BPF_JA:
	case BPF_JMP | BPF_JGT | BPF_K:
	case BPF_JMP | BPF_JGE | BPF_K:
	case BPF_JMP | BPF_JEQ | BPF_K:
	case BPF_JMP | BPF_JSET | BPF_K:
	case BPF_JMP | BPF_JGT | BPF_X:
	case BPF_JMP | BPF_JGE | BPF_X:
	case BPF_JMP | BPF_JEQ | BPF_X:
	case BPF_JMP | BPF_JSET | BPF_X:
	case BPF_ALU | BPF_ADD | BPF_X:
	case BPF_ALU | BPF_SUB | BPF_X:
	case BPF_ALU | BPF_MUL | BPF_X:
	case BPF_ALU | BPF_DIV | BPF_X:
	case BPF_ALU | BPF_MOD | BPF_X:
	case BPF_ALU | BPF_AND | BPF_X:
	case BPF_ALU | BPF_OR | BPF_X:
	case BPF_ALU | BPF_XOR | BPF_X:
	case BPF_ALU | BPF_LSH | BPF_X:
	case BPF_ALU | BPF_RSH | BPF_X:
	case BPF_ALU | BPF_ADD | BPF_K:
	case BPF_ALU | BPF_SUB | BPF_K:
	case BPF_ALU | BPF_MUL | BPF_K:
	case BPF_ALU | BPF_DIV | BPF_K:
	case BPF_ALU | BPF_MOD | BPF_K:
	case BPF_ALU | BPF_AND | BPF_K:
	case BPF_ALU | BPF_OR | BPF_K:
	case BPF_ALU | BPF_XOR | BPF_K:
	case BPF_ALU | BPF_LSH | BPF_K:
	case BPF_ALU | BPF_RSH | BPF_K:
	case BPF_ALU | BPF_NEG:
	case BPF_MISC | BPF_TAX:
	case BPF_MISC | BPF_TXA:
		return 1;
	default:
		return 0;
	}
}

static const char *skf_ad_name(uint32_t idx)
{
	switch (idx) {
	case SKF_AD_PROTOCOL:
		return "SKF_AD_PROTOCOL (protocol)";
	case SKF_AD_PKTTYPE:
		return "SKF_AD_PKTTYPE (packet type)";
	case SKF_AD_IFINDEX:
		return "SKF_AD_IFINDEX (ifindex)";
	case SKF_AD_NLATTR:
		return "SKF_AD_NLATTR (netlink attribute)";
	case SKF_AD_NLATTR_NEST:
		return "SKF_AD_NLATTR_NEST (nested netlink attribute)";
	case SKF_AD_MARK:
		return "SKF_AD_MARK (mark)";
	case SKF_AD_QUEUE:
		return "SKF_AD_QUEUE (queue)";
	case SKF_AD_HATYPE:
		return "SKF_AD_HATYPE (hardware type)";
	case SKF_AD_RXHASH:
		return "SKF_AD_RXHASH (rx hash)";
	case SKF_AD_CPU:
		return "SKF_AD_CPU (cpu)";
	case SKF_AD_ALU_XOR_X:
		return "SKF_AD_ALU_XOR_X";
	case SKF_AD_VLAN_TAG:
		return "SKF_AD_VLAN_TAG (vlan tag)";
	case SKF_AD_VLAN_TAG_PRESENT:
		return "SKF_AD_VLAN_TAG_PRESENT (vlan tag present)";
	case SKF_AD_PAY_OFFSET:
		return "SKF_AD_PAY_OFFSET (payload offset)";
	case SKF_AD_RANDOM:
		return "SKF_AD_RANDOM (random)";
	case SKF_AD_VLAN_TPID:
		return "SKF_AD_VLAN_TPID (vlan tpid)";
	default:
		return NULL;
	}
}

/* Packet loads with a "negative" offset mean something only to Linux. */
static int check_load_offset(uint32_t i, uint32_t k, char *err, size_t errlen)
{
	const char *name;

	if (k >= (uint32_t)SKF_AD_OFF) {
		name = skf_ad_name(k - (uint32_t)SKF_AD_OFF);
		if (name)
			return refuse(err, errlen,
				      "instruction %u: Linux ancillary load %s is not supported", i,
				      name);
		return refuse(
		    err, errlen,
		    "instruction %u: Linux ancillary load at SKF_AD_OFF+%u is not supported", i,
		    k - (uint32_t)SKF_AD_OFF);
	}
	if (k >= (uint32_t)SKF_NET_OFF)
		return refuse(err, errlen,
			      "instruction %u: Linux network-header-relative load (SKF_NET_OFF+%u) "
			      "is not supported",
			      i, k - (uint32_t)SKF_NET_OFF);
	if (k >= (uint32_t)SKF_LL_OFF)
		return refuse(err, errlen,
			      "instruction %u: Linux link-layer-relative load (SKF_LL_OFF+%u) is "
			      "not supported",
			      i, k - (uint32_t)SKF_LL_OFF);
	return 0;
}

/* Per-instruction checks that need no control flow. */
static int check_insn(const struct sock_filter *f, uint32_t i, uint32_t n, char *err, size_t errlen)
{
	uint16_t code = f->code;

	if (!opcode_known(code))
		return refuse(err, errlen, "instruction %u: unknown opcode 0x%02x", i, code);

	switch (BPF_CLASS(code)) {
	case BPF_LD:
	case BPF_LDX:
		switch (BPF_MODE(code)) {
		case BPF_ABS:
		case BPF_IND:
		case BPF_MSH:
			return check_load_offset(i, f->k, err, errlen);
		case BPF_MEM:
			if (f->k >= BPF_MEMWORDS)
				return refuse(err, errlen,
					      "instruction %u: scratch memory M[%u] out of range "
					      "(M[0]..M[15])",
					      i, f->k);
			return 0;
		default:
			return 0;
		}
	case BPF_ST:
	case BPF_STX:
		if (f->k >= BPF_MEMWORDS)
			return refuse(
			    err, errlen,
			    "instruction %u: scratch memory M[%u] out of range (M[0]..M[15])", i,
			    f->k);
		return 0;
	case BPF_ALU:
		if (BPF_SRC(code) != BPF_K)
			return 0;
		if (BPF_OP(code) == BPF_DIV && f->k == 0)
			return refuse(err, errlen, "instruction %u: division by constant zero", i);
		if (BPF_OP(code) == BPF_MOD && f->k == 0)
			return refuse(err, errlen, "instruction %u: modulo by constant zero", i);
		if ((BPF_OP(code) == BPF_LSH || BPF_OP(code) == BPF_RSH) && f->k >= 32)
			return refuse(err, errlen,
				      "instruction %u: shift by constant %u (must be below 32)", i,
				      f->k);
		return 0;
	case BPF_JMP:
		if (BPF_OP(code) == BPF_JA) {
			if ((int32_t)f->k < 0)
				return refuse(
				    err, errlen,
				    "instruction %u: backward jump (offset %d); loops are "
				    "not allowed",
				    i, (int32_t)f->k);
			if ((uint64_t)i + 1 + f->k >= n)
				return refuse(err, errlen,
					      "instruction %u: jump to %llu, past the end (%u "
					      "instructions)",
					      i, (unsigned long long)i + 1 + f->k, n);
			return 0;
		}
		if (i + 1 + f->jt >= n || i + 1 + f->jf >= n)
			return refuse(err, errlen,
				      "instruction %u: jump to %u, past the end (%u instructions)",
				      i, i + 1 + (f->jt > f->jf ? f->jt : f->jf), n);
		return 0;
	default:
		return 0;
	}
}

int ecap_cbpf_validate(const struct sock_filter *insns, uint32_t n, char *err, size_t errlen)
{
	uint16_t *written = NULL; /* slots written on every path into insn i */
	uint8_t *reach = NULL;
	int r = 0;

	if (n == 0)
		return refuse(err, errlen, "empty program");
	if (n > ECAP_CBPF_MAX_INSNS)
		return refuse(err, errlen, "program has %u instructions, more than %u", n,
			      ECAP_CBPF_MAX_INSNS);

	for (uint32_t i = 0; i < n; i++) {
		r = check_insn(&insns[i], i, n, err, errlen);
		if (r)
			return r;
	}

	written = malloc(n * sizeof(*written));
	reach = calloc(n, 1);
	if (!written || !reach) {
		r = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++)
		written[i] = 0xffff; /* top of the meet: nothing known yet */
	written[0] = 0;
	reach[0] = 1;

	/* Jumps only go forward, so one pass in index order sees every
	 * predecessor of an instruction before the instruction itself. */
	for (uint32_t i = 0; i < n; i++) {
		const struct sock_filter *f = &insns[i];
		uint16_t in = written[i], out;

		if (!reach[i])
			continue;
		if ((f->code == (BPF_LD | BPF_MEM) || f->code == (BPF_LDX | BPF_MEM)) &&
		    !(in & (1u << f->k))) {
			r = refuse(err, errlen,
				   "instruction %u: reads M[%u], which some path reaches without "
				   "writing it",
				   i, f->k);
			goto out;
		}
		out = in;
		if (f->code == BPF_ST || f->code == BPF_STX)
			out |= 1u << f->k;

		switch (BPF_CLASS(f->code)) {
		case BPF_RET:
			break;
		case BPF_JMP:
			if (BPF_OP(f->code) == BPF_JA) {
				reach[i + 1 + f->k] = 1;
				written[i + 1 + f->k] &= out;
			} else {
				reach[i + 1 + f->jt] = reach[i + 1 + f->jf] = 1;
				written[i + 1 + f->jt] &= out;
				written[i + 1 + f->jf] &= out;
			}
			break;
		default:
			if (i + 1 == n) {
				r = refuse(err, errlen,
					   "instruction %u: execution falls off the end without a "
					   "return",
					   i);
				goto out;
			}
			reach[i + 1] = 1;
			written[i + 1] &= out;
		}
	}
out:
	free(written);
	free(reach);
	return r;
}
