/* progen.c - see progen.h. */
#include "progen.h"

#include <string.h>

static const uint16_t ops[] = {
    BPF_RET | BPF_K,
    BPF_RET | BPF_A,
    BPF_LD | BPF_W | BPF_ABS,
    BPF_LD | BPF_H | BPF_ABS,
    BPF_LD | BPF_B | BPF_ABS,
    BPF_LD | BPF_W | BPF_LEN,
    BPF_LDX | BPF_W | BPF_LEN,
    BPF_LD | BPF_W | BPF_IND,
    BPF_LD | BPF_H | BPF_IND,
    BPF_LD | BPF_B | BPF_IND,
    BPF_LDX | BPF_MSH | BPF_B,
    BPF_LD | BPF_IMM,
    BPF_LDX | BPF_IMM,
    BPF_LD | BPF_MEM,
    BPF_LDX | BPF_MEM,
    BPF_ST,
    BPF_STX,
    BPF_JMP | BPF_JA,
    BPF_JMP | BPF_JGT | BPF_K,
    BPF_JMP | BPF_JGE | BPF_K,
    BPF_JMP | BPF_JEQ | BPF_K,
    BPF_JMP | BPF_JSET | BPF_K,
    BPF_JMP | BPF_JGT | BPF_X,
    BPF_JMP | BPF_JGE | BPF_X,
    BPF_JMP | BPF_JEQ | BPF_X,
    BPF_JMP | BPF_JSET | BPF_X,
    BPF_ALU | BPF_ADD | BPF_X,
    BPF_ALU | BPF_SUB | BPF_X,
    BPF_ALU | BPF_MUL | BPF_X,
    BPF_ALU | BPF_DIV | BPF_X,
    BPF_ALU | BPF_MOD | BPF_X,
    BPF_ALU | BPF_AND | BPF_X,
    BPF_ALU | BPF_OR | BPF_X,
    BPF_ALU | BPF_XOR | BPF_X,
    BPF_ALU | BPF_LSH | BPF_X,
    BPF_ALU | BPF_RSH | BPF_X,
    BPF_ALU | BPF_ADD | BPF_K,
    BPF_ALU | BPF_SUB | BPF_K,
    BPF_ALU | BPF_MUL | BPF_K,
    BPF_ALU | BPF_DIV | BPF_K,
    BPF_ALU | BPF_MOD | BPF_K,
    BPF_ALU | BPF_AND | BPF_K,
    BPF_ALU | BPF_OR | BPF_K,
    BPF_ALU | BPF_XOR | BPF_K,
    BPF_ALU | BPF_LSH | BPF_K,
    BPF_ALU | BPF_RSH | BPF_K,
    BPF_ALU | BPF_NEG,
    BPF_MISC | BPF_TAX,
    BPF_MISC | BPF_TXA,
};

uint32_t progen_decode(const uint8_t *data, size_t len, struct sock_filter *out, uint32_t max)
{
	uint32_t n = 0;

	while (len >= 8 && n + 1 < max) {
		uint8_t b[8];
		uint32_t word;
		struct sock_filter *f = &out[n];

		memcpy(b, data, 8);
		memcpy(&word, b + 4, 4);
		data += 8;
		len -= 8;
		f->code = b[0] == 0xff ? (uint16_t)(b[1] | b[2] << 8)
				       : ops[b[0] % (sizeof(ops) / sizeof(ops[0]))];
		f->jt = (b[1] & 0xe0) == 0xe0 ? b[1] : b[1] % 4;
		f->jf = (b[2] & 0xe0) == 0xe0 ? b[2] : b[2] % 4;
		switch (b[3] % 8) {
		case 0: /* header offsets and small constants */
		case 1:
		case 2:
			f->k = word % 80;
			break;
		case 3: /* scratch slots, shift counts, one past */
			f->k = word % 34;
			break;
		case 4: /* around the verifier's packet range and the MTU */
			f->k = 0xfff0 + word % 32 + (b[3] & 0x80 ? 1500 - 0xfff0 : 0);
			break;
		case 5: /* the sign bit and wrap-around */
			f->k = 0x7ffffff0u + word % 32 + (b[3] & 0x80 ? 0x80000000u : 0);
			break;
		default:
			f->k = word;
		}
		n++;
	}
	out[n++] = (struct sock_filter){BPF_RET | BPF_A, 0, 0, 0};
	return n;
}
