/* ebpf.h - a tiny eBPF assembler: instruction builders, forward labels, and a
 * disassembler that prints one readable instruction per line.
 *
 * libbpf 1.1 ships no instruction-building macros, so these are our own. The
 * assembler grows a buffer of struct bpf_insn; jumps name labels that are
 * bound later and resolved in ecap_asm_finish(), which refuses a program whose
 * jump distance does not fit the 16-bit offset field.
 */
#ifndef ECAP_EBPF_H
#define ECAP_EBPF_H

#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>

#define ECAP_INSN(CODE, DST, SRC, OFF, IMM)                                                        \
	((struct bpf_insn){                                                                        \
	    .code = (CODE), .dst_reg = (DST), .src_reg = (SRC), .off = (OFF), .imm = (IMM)})

/* dst = src (64 bit) */
#define E_MOV64_REG(DST, SRC) ECAP_INSN(BPF_ALU64 | BPF_MOV | BPF_X, DST, SRC, 0, 0)
/* dst = (u32)imm, upper half zeroed */
#define E_MOV32_IMM(DST, IMM)	  ECAP_INSN(BPF_ALU | BPF_MOV | BPF_K, DST, 0, 0, (int32_t)(IMM))
#define E_MOV32_REG(DST, SRC)	  ECAP_INSN(BPF_ALU | BPF_MOV | BPF_X, DST, SRC, 0, 0)
#define E_ALU32_IMM(OP, DST, IMM) ECAP_INSN(BPF_ALU | (OP) | BPF_K, DST, 0, 0, (int32_t)(IMM))
#define E_ALU32_REG(OP, DST, SRC) ECAP_INSN(BPF_ALU | (OP) | BPF_X, DST, SRC, 0, 0)
#define E_ALU64_IMM(OP, DST, IMM) ECAP_INSN(BPF_ALU64 | (OP) | BPF_K, DST, 0, 0, (int32_t)(IMM))
#define E_ALU64_REG(OP, DST, SRC) ECAP_INSN(BPF_ALU64 | (OP) | BPF_X, DST, SRC, 0, 0)
/* dst = htobe{16,32}(dst), zero-extended */
#define E_BE(DST, BITS)		   ECAP_INSN(BPF_ALU | BPF_END | BPF_TO_BE, DST, 0, 0, BITS)
#define E_LDX(SIZE, DST, SRC, OFF) ECAP_INSN(BPF_LDX | BPF_MEM | (SIZE), DST, SRC, OFF, 0)
#define E_STX(SIZE, DST, SRC, OFF) ECAP_INSN(BPF_STX | BPF_MEM | (SIZE), DST, SRC, OFF, 0)
#define E_ST(SIZE, DST, OFF, IMM)  ECAP_INSN(BPF_ST | BPF_MEM | (SIZE), DST, 0, OFF, IMM)
/* dst = map (by fd): two instructions */
#define E_LD_MAP_FD(DST, FD)                                                                       \
	ECAP_INSN(BPF_LD | BPF_DW | BPF_IMM, DST, BPF_PSEUDO_MAP_FD, 0, FD),                       \
	    ECAP_INSN(0, 0, 0, 0, 0)
/* dst = address of a map's value (by fd; an array's first), plus off */
#define E_LD_MAP_VALUE(DST, FD, OFF)                                                               \
	ECAP_INSN(BPF_LD | BPF_DW | BPF_IMM, DST, BPF_PSEUDO_MAP_VALUE, 0, FD),                    \
	    ECAP_INSN(0, 0, 0, 0, OFF)
#define E_CALL(FN) ECAP_INSN(BPF_JMP | BPF_CALL, 0, 0, 0, FN)
#define E_EXIT()   ECAP_INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

struct ecap_asm_fixup {
	uint32_t at;	/* index of the jump instruction */
	uint32_t label; /* label it targets */
};

struct ecap_asm {
	struct bpf_insn *insns;
	uint32_t len, cap;
	int32_t *label_pos; /* -1 while unbound */
	uint32_t nlabels, label_cap;
	struct ecap_asm_fixup *fix;
	uint32_t nfix, fix_cap;
	uint8_t *label_used;
	int err; /* sticky: first -errno seen while emitting */
};

void ecap_asm_init(struct ecap_asm *a);
void ecap_asm_free(struct ecap_asm *a);

/* Append one instruction. Errors are sticky and reported by ecap_asm_finish(). */
void ecap_asm_emit(struct ecap_asm *a, struct bpf_insn insn);

/* A new, unbound label; returns its id. */
uint32_t ecap_asm_label(struct ecap_asm *a);
/* Bind a label to the position of the next emitted instruction. */
void ecap_asm_bind(struct ecap_asm *a, uint32_t label);
/* Has any jump targeted this label so far? */
int ecap_asm_label_used(const struct ecap_asm *a, uint32_t label);

/* Conditional jump: code is BPF_JMP or BPF_JMP32 | op | BPF_K or BPF_X. */
void ecap_asm_jmp(struct ecap_asm *a, uint8_t code, uint8_t dst, uint8_t src, int32_t imm,
		  uint32_t label);
void ecap_asm_goto(struct ecap_asm *a, uint32_t label);

/* Resolve every jump. Returns 0, -ENOMEM, -EINVAL (unbound label) or -E2BIG
 * (a jump distance does not fit in 16 bits). */
int ecap_asm_finish(struct ecap_asm *a);

/* Print one instruction per line, kernel verifier-log style:
 * "   12: r7 = *(u8 *)(r9 +23)". Returns 0 or -errno from the stream. */
int ecap_ebpf_disasm(FILE *out, const struct bpf_insn *insns, uint32_t n);

#endif
