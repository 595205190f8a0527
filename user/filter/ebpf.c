/* ebpf.c - the eBPF assembler and disassembler declared in ebpf.h. */
#include "filter/ebpf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void ecap_asm_init(struct ecap_asm *a)
{
	memset(a, 0, sizeof(*a));
}

void ecap_asm_free(struct ecap_asm *a)
{
	if (!a)
		return;
	free(a->insns);
	free(a->label_pos);
	free(a->label_used);
	free(a->fix);
	memset(a, 0, sizeof(*a));
}

/* Grow *buf (elements of size sz) so that it holds at least need elements. */
static int grow(void **buf, uint32_t *cap, uint32_t need, size_t sz)
{
	uint32_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	while (ncap < need)
		ncap *= 2;
	p = realloc(*buf, (size_t)ncap * sz);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = ncap;
	return 0;
}

void ecap_asm_emit(struct ecap_asm *a, struct bpf_insn insn)
{
	if (a->err)
		return;
	a->err = grow((void **)&a->insns, &a->cap, a->len + 1, sizeof(*a->insns));
	if (!a->err)
		a->insns[a->len++] = insn;
}

uint32_t ecap_asm_label(struct ecap_asm *a)
{
	uint32_t cap = a->label_cap;

	if (a->err)
		return 0;
	a->err = grow((void **)&a->label_pos, &a->label_cap, a->nlabels + 1, sizeof(*a->label_pos));
	if (!a->err)
		a->err =
		    grow((void **)&a->label_used, &cap, a->nlabels + 1, sizeof(*a->label_used));
	if (a->err)
		return 0;
	a->label_pos[a->nlabels] = -1;
	a->label_used[a->nlabels] = 0;
	return a->nlabels++;
}

void ecap_asm_bind(struct ecap_asm *a, uint32_t label)
{
	if (a->err)
		return;
	if (label >= a->nlabels || a->label_pos[label] >= 0) {
		a->err = -EINVAL;
		return;
	}
	a->label_pos[label] = (int32_t)a->len;
}

int ecap_asm_label_used(const struct ecap_asm *a, uint32_t label)
{
	return !a->err && label < a->nlabels && a->label_used[label];
}

void ecap_asm_jmp(struct ecap_asm *a, uint8_t code, uint8_t dst, uint8_t src, int32_t imm,
		  uint32_t label)
{
	if (a->err)
		return;
	if (label >= a->nlabels) {
		a->err = -EINVAL;
		return;
	}
	a->err = grow((void **)&a->fix, &a->fix_cap, a->nfix + 1, sizeof(*a->fix));
	if (a->err)
		return;
	a->fix[a->nfix++] = (struct ecap_asm_fixup){.at = a->len, .label = label};
	a->label_used[label] = 1;
	ecap_asm_emit(a, ECAP_INSN(code, dst, src, 0, imm));
}

void ecap_asm_goto(struct ecap_asm *a, uint32_t label)
{
	ecap_asm_jmp(a, BPF_JMP | BPF_JA, 0, 0, 0, label);
}

int ecap_asm_finish(struct ecap_asm *a)
{
	for (uint32_t i = 0; !a->err && i < a->nfix; i++) {
		int32_t to = a->label_pos[a->fix[i].label];
		int64_t d = (int64_t)to - (int64_t)a->fix[i].at - 1;

		if (to < 0)
			return -EINVAL;
		if (d < INT16_MIN || d > INT16_MAX)
			return -E2BIG;
		a->insns[a->fix[i].at].off = (int16_t)d;
	}
	return a->err;
}

/* --- disassembler ------------------------------------------------------- */

static const char *alu_op(uint8_t op)
{
	switch (op) {
	case BPF_ADD:
		return "+=";
	case BPF_SUB:
		return "-=";
	case BPF_MUL:
		return "*=";
	case BPF_DIV:
		return "/=";
	case BPF_OR:
		return "|=";
	case BPF_AND:
		return "&=";
	case BPF_LSH:
		return "<<=";
	case BPF_RSH:
		return ">>=";
	case BPF_MOD:
		return "%=";
	case BPF_XOR:
		return "^=";
	case BPF_MOV:
		return "=";
	case BPF_ARSH:
		return "s>>=";
	default:
		return NULL;
	}
}

static const char *jmp_op(uint8_t op)
{
	switch (op) {
	case BPF_JEQ:
		return "==";
	case BPF_JGT:
		return ">";
	case BPF_JGE:
		return ">=";
	case BPF_JSET:
		return "&";
	case BPF_JNE:
		return "!=";
	case BPF_JSGT:
		return "s>";
	case BPF_JSGE:
		return "s>=";
	case BPF_JLT:
		return "<";
	case BPF_JLE:
		return "<=";
	case BPF_JSLT:
		return "s<";
	case BPF_JSLE:
		return "s<=";
	default:
		return NULL;
	}
}

static const char *size_name(uint8_t size)
{
	switch (size) {
	case BPF_B:
		return "u8";
	case BPF_H:
		return "u16";
	case BPF_W:
		return "u32";
	default:
		return "u64";
	}
}

static const char *helper_name(int32_t id)
{
	switch (id) {
	case BPF_FUNC_skb_load_bytes:
		return "bpf_skb_load_bytes";
	case BPF_FUNC_xdp_load_bytes:
		return "bpf_xdp_load_bytes";
	case BPF_FUNC_xdp_get_buff_len:
		return "bpf_xdp_get_buff_len";
	case BPF_FUNC_ringbuf_output:
		return "bpf_ringbuf_output";
	case BPF_FUNC_ringbuf_reserve:
		return "bpf_ringbuf_reserve";
	case BPF_FUNC_ringbuf_submit:
		return "bpf_ringbuf_submit";
	case BPF_FUNC_ktime_get_ns:
		return "bpf_ktime_get_ns";
	case BPF_FUNC_map_lookup_elem:
		return "bpf_map_lookup_elem";
	case BPF_FUNC_tail_call:
		return "bpf_tail_call";
	default:
		return NULL;
	}
}

int ecap_ebpf_disasm(FILE *out, const struct bpf_insn *insns, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		const struct bpf_insn *in = &insns[i];
		uint8_t cls = BPF_CLASS(in->code), op = BPF_OP(in->code);
		int wide = cls == BPF_ALU64 || cls == BPF_JMP;
		char r = wide ? 'r' : 'w';
		const char *s;

		fprintf(out, "%5u: ", i);
		switch (cls) {
		case BPF_ALU:
		case BPF_ALU64:
			if (op == BPF_END) {
				fprintf(out, "r%u = %s%d r%u\n", in->dst_reg,
					BPF_SRC(in->code) == BPF_TO_BE ? "be" : "le", in->imm,
					in->dst_reg);
			} else if (op == BPF_NEG) {
				fprintf(out, "%c%u = -%c%u\n", r, in->dst_reg, r, in->dst_reg);
			} else if ((s = alu_op(op))) {
				if (BPF_SRC(in->code) == BPF_X)
					fprintf(out, "%c%u %s %c%u\n", r, in->dst_reg, s, r,
						in->src_reg);
				else if (wide)
					fprintf(out, "r%u %s %d\n", in->dst_reg, s, in->imm);
				else
					fprintf(out, "w%u %s %u\n", in->dst_reg, s,
						(uint32_t)in->imm);
			} else {
				fprintf(out, "(%02x) unknown alu\n", in->code);
			}
			break;
		case BPF_JMP:
		case BPF_JMP32:
			if (op == BPF_EXIT) {
				fprintf(out, "exit\n");
			} else if (op == BPF_CALL) {
				s = helper_name(in->imm);
				if (s)
					fprintf(out, "call %s#%d\n", s, in->imm);
				else
					fprintf(out, "call #%d\n", in->imm);
			} else if (op == BPF_JA) {
				fprintf(out, "goto %u\n", i + 1 + in->off);
			} else if ((s = jmp_op(op))) {
				if (BPF_SRC(in->code) == BPF_X)
					fprintf(out, "if %c%u %s %c%u goto %u\n", r, in->dst_reg, s,
						r, in->src_reg, i + 1 + in->off);
				else if (wide)
					fprintf(out, "if r%u %s %d goto %u\n", in->dst_reg, s,
						in->imm, i + 1 + in->off);
				else
					fprintf(out, "if w%u %s %u goto %u\n", in->dst_reg, s,
						(uint32_t)in->imm, i + 1 + in->off);
			} else {
				fprintf(out, "(%02x) unknown jump\n", in->code);
			}
			break;
		case BPF_LDX:
			fprintf(out, "r%u = *(%s *)(r%u %+d)\n", in->dst_reg,
				size_name(BPF_SIZE(in->code)), in->src_reg, in->off);
			break;
		case BPF_STX:
			fprintf(out, "*(%s *)(r%u %+d) = r%u\n", size_name(BPF_SIZE(in->code)),
				in->dst_reg, in->off, in->src_reg);
			break;
		case BPF_ST:
			fprintf(out, "*(%s *)(r%u %+d) = %d\n", size_name(BPF_SIZE(in->code)),
				in->dst_reg, in->off, in->imm);
			break;
		case BPF_LD:
			if (in->code == (BPF_LD | BPF_IMM | BPF_DW) && i + 1 < n) {
				uint64_t v = (uint32_t)in->imm | (uint64_t)(uint32_t)in[1].imm
								     << 32;

				if (in->src_reg == BPF_PSEUDO_MAP_FD)
					fprintf(out, "r%u = map[fd:%u] ll\n", in->dst_reg, in->imm);
				else
					fprintf(out, "r%u = 0x%llx ll\n", in->dst_reg,
						(unsigned long long)v);
				i++;
				break;
			}
			fprintf(out, "(%02x) unknown load\n", in->code);
			break;
		default:
			fprintf(out, "(%02x) unknown class\n", in->code);
		}
	}
	return ferror(out) ? -EIO : 0;
}
