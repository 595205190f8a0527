/* xlate.c - classic BPF -> eBPF with exactly the semantics of libpcap's
 * bpf_filter(p, wirelen, buflen):
 *   - A and X are u32 (r7, r8, kept zero-extended: only 32-bit ALU ops,
 *     zero-extending loads), M[0..15] live on the stack;
 *   - a packet load outside [0, buflen) ends the program with 0;
 *   - division or modulo by X == 0 ends the program with 0;
 *   - shifts by X >= 32 give 0 (eBPF would mask the count);
 *   - `len` is the wire length, the result is the snap length.
 *
 * Layout of the emitted program:
 *
 *   prologue: ctx -> r6; wire length -> stack; buflen -> r9
 *   dispatch: a test run's packet padded past buflen -> helper copy
 *                                               else -> direct copy
 *   direct copy: packet read in place (data/data_end); one bounds check per
 *                basic block covers all its constant-offset loads. A load
 *                past the linear area (data_end) bails out: the helper copy
 *                runs the program again from the start, which gives the
 *                same result since the program has no side effects and
 *                never reads M[] before writing it
 *   helper copy: loads checked against buflen (multi-buffer XDP and
 *                non-linear skbs whose headers are not all in the linear
 *                area, test runs of captures shorter than the 14 bytes the
 *                kernel's test runner needs). On entry one
 *                bpf_{xdp,skb}_load_bytes copies the packet's first
 *                WINDOW bytes to the stack; loads inside them read the
 *                stack (byte by byte where unaligned: the verifier wants
 *                aligned stack access), loads past them call the helper
 *   tagged:      (opts->tagged) the packet's VLAN tag is out of band, in
 *                __sk_buff (TC) or the driver's receive metadata (XDP,
 *                read by the caller to the stack); the filter must see the frame with the tag put
 *                back at byte 12, as libpcap hands a reader the packets of a
 *                live Linux capture. The helper copy alone runs, on a
 *                spliced window: pkt[0..12), the tag, pkt[12..WINDOW-4);
 *                loads past the window read the packet 4 bytes lower (they
 *                start at WINDOW - 3 or later, past the tag)
 *   cooked:      (TC, opts->cooked) the filter reads libpcap's LINUX_SLL2
 *                or LINUX_SLL packet: the helper copy alone runs, on a
 *                window of the 20- or 16-byte header its caller built, then
 *                the packet from its network header; loads past the window
 *                read the packet at offset - the header's length + the
 *                link-layer header's length
 *
 * docs/filter.md has the measurements that chose direct access.
 *
 * eBPF jump offsets are 16 bits and 6.1 kernels have no long jump, while a
 * 4096-instruction classic program can grow past 32767 eBPF instructions.
 * So every ISLAND_SPACING instructions we may place an island (skipped by a
 * goto): the "return 0" block that bounds checks jump to, and one hop for
 * every unconditional jump still on its way to its target. Conditional
 * jumps span at most 255 classic instructions and never need a hop. Small
 * programs (all real ones) get no island at all.
 */
#include "filter/ebpf.h"
#include "filter/filter.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define R_CTX BPF_REG_6
#define R_A   BPF_REG_7
#define R_X   BPF_REG_8
#define R_PKT BPF_REG_9 /* direct copy: packet start; helper copy: buflen */
#define R_END BPF_REG_2 /* direct copy only: packet end (that copy calls nothing) */

#define STK_M(k)    (-64 + 4 * (int)(k))
#define STK_WIRELEN ECAP_STK_WIRELEN
#define STK_BUF	    (-72)
#define STK_BUFLEN  ECAP_STK_BUFLEN
#define STK_WINDOW  ECAP_XLATE_STACK /* the helper copy's first WINDOW bytes */
#define WINDOW	    ECAP_XLATE_WINDOW

_Static_assert(STK_WINDOW + WINDOW <= STK_BUFLEN && STK_WINDOW % 8 == 0 && WINDOW % 8 == 0,
	       "the window lies below the other slots, 8-aligned");

/* Highest offset the verifier lets us add to a packet pointer (MAX_PACKET_OFF). */
#define PKT_OFF_MAX 0xffff

#define ISLAND_SPACING 16384

struct hop {
	uint32_t label;	 /* where the jump currently lands */
	uint32_t target; /* classic instruction it is going to (n = end of copy) */
};

struct xl {
	const struct sock_filter *f;
	uint32_t n;
	const struct ecap_xlate_opts *o;
	struct ecap_asm *a;

	uint8_t *leader;  /* first instruction of a basic block */
	uint64_t *need;	  /* per leader: bytes its constant-offset loads need */
	uint8_t *reach;	  /* reachable in the copy being emitted */
	uint32_t *known;  /* direct copy: bytes checked present on every path to i */
	uint32_t cur;	  /* known bytes at the instruction being emitted */
	uint32_t *lab;	  /* per classic instruction: its label in this copy */
	struct hop *hops; /* pending unconditional jumps */
	uint32_t nhops, hop_cap;
	uint32_t ret0;	    /* label of the next "return 0" block */
	uint32_t bail;	    /* direct copy: the next block that bails out */
	int to_helper;	    /* the direct copy may go on in the helper copy */
	uint32_t island_at; /* position after the last island */
	int direct;	    /* emitting the direct copy */
	int reads;	    /* the program loads packet bytes */
	uint32_t done;	    /* body mode: where a return goes; NO_LABEL: exit */
};

#define NO_LABEL UINT32_MAX

/* w0 = A (from_a) or k, then leave the filter. */
static void emit_return(struct xl *x, int from_a, uint32_t k)
{
	ecap_asm_emit(x->a, from_a ? E_MOV32_REG(BPF_REG_0, R_A) : E_MOV32_IMM(BPF_REG_0, k));
	if (x->done == NO_LABEL)
		ecap_asm_emit(x->a, E_EXIT());
	else
		ecap_asm_goto(x->a, x->done);
}

static uint32_t ld_bytes(uint16_t code)
{
	switch (BPF_SIZE(code)) {
	case BPF_W:
		return 4;
	case BPF_H:
		return 2;
	default:
		return 1;
	}
}

static void emit(struct xl *x, struct bpf_insn in)
{
	ecap_asm_emit(x->a, in);
}

/* --- basic blocks ----------------------------------------------------- */

enum { NO_LOAD, LOAD_K, LOAD_X }; /* packet loads: at k (ABS, MSH), at X + k (IND) */

static int packet_load(uint16_t c)
{
	if (BPF_CLASS(c) == BPF_LD && BPF_MODE(c) == BPF_IND)
		return LOAD_X;
	if ((BPF_CLASS(c) == BPF_LD && BPF_MODE(c) == BPF_ABS) || c == (BPF_LDX | BPF_MSH | BPF_B))
		return LOAD_K;
	return NO_LOAD;
}

static void find_blocks(struct xl *x)
{
	const struct sock_filter *f = x->f;
	uint32_t n = x->n, b = 0;

	x->leader[0] = 1;
	for (uint32_t i = 0; i < n; i++) {
		if (BPF_CLASS(f[i].code) == BPF_JMP) {
			if (BPF_OP(f[i].code) == BPF_JA) {
				x->leader[i + 1 + f[i].k] = 1;
			} else {
				x->leader[i + 1 + f[i].jt] = 1;
				x->leader[i + 1 + f[i].jf] = 1;
			}
		}
		if ((BPF_CLASS(f[i].code) == BPF_JMP || BPF_CLASS(f[i].code) == BPF_RET) &&
		    i + 1 < n)
			x->leader[i + 1] = 1;
	}
	/* A block runs straight through (a load or division may end the
	 * program with 0, but nothing branches out), so if any of its loads is
	 * out of bounds the program returns 0 no matter which one fails first:
	 * one check of the farthest byte at block entry is exact. */
	for (uint32_t i = 0; i < n; i++) {
		uint16_t c = f[i].code;
		uint64_t end = 0;

		if (x->leader[i])
			b = i;
		x->reads |= packet_load(c) != NO_LOAD;
		if (BPF_CLASS(c) == BPF_LD && BPF_MODE(c) == BPF_ABS)
			end = (uint64_t)f[i].k + ld_bytes(c);
		else if (c == (BPF_LDX | BPF_MSH | BPF_B))
			end = (uint64_t)f[i].k + 1;
		if (end > x->need[b])
			x->need[b] = end;
	}
}

/* Mark t reachable from the current instruction. */
static void succ(struct xl *x, uint32_t t)
{
	x->reach[t] = 1;
	if (x->cur < x->known[t])
		x->known[t] = x->cur;
}

/* --- jumps and islands ------------------------------------------------- */

static void jump_far(struct xl *x, uint32_t target)
{
	uint32_t l = ecap_asm_label(x->a);

	if (!x->a->err && x->nhops == x->hop_cap) {
		uint32_t cap = x->hop_cap ? 2 * x->hop_cap : 16;
		struct hop *h = realloc(x->hops, cap * sizeof(*h));

		if (!h) {
			x->a->err = -ENOMEM;
			return;
		}
		x->hops = h;
		x->hop_cap = cap;
	}
	if (x->a->err)
		return;
	x->hops[x->nhops++] = (struct hop){.label = l, .target = target};
	ecap_asm_goto(x->a, l);
}

/* Bind the pending jumps that have arrived at classic instruction t. */
static void land_hops(struct xl *x, uint32_t t)
{
	for (uint32_t i = 0; i < x->nhops;) {
		if (x->hops[i].target == t) {
			ecap_asm_bind(x->a, x->hops[i].label);
			x->hops[i] = x->hops[--x->nhops];
		} else {
			i++;
		}
	}
}

/* Where a load that may lie past the packet goes: in the direct copy, past
 * the linear area is not past buflen, so the helper copy decides. */
static uint32_t out_of_bounds(struct xl *x)
{
	return x->direct ? x->bail : x->ret0;
}

/* The bail-out: r9 = buflen again, then to the helper copy, which starts
 * where this copy ends. */
static void bail_block(struct xl *x, int at_end)
{
	ecap_asm_bind(x->a, x->bail);
	x->to_helper = 1;
	emit(x, E_LDX(BPF_W, R_PKT, BPF_REG_10, STK_BUFLEN));
	if (!at_end)
		jump_far(x, x->n);
	x->bail = ecap_asm_label(x->a);
}

static void island(struct xl *x)
{
	int used = ecap_asm_label_used(x->a, x->ret0);
	int bail = x->direct && ecap_asm_label_used(x->a, x->bail);
	uint32_t after;

	x->island_at = x->a->len;
	if (!used && !bail && !x->nhops)
		return;
	after = ecap_asm_label(x->a);
	ecap_asm_goto(x->a, after);
	if (used) {
		ecap_asm_bind(x->a, x->ret0);
		emit_return(x, 0, 0);
		x->ret0 = ecap_asm_label(x->a);
	}
	if (bail)
		bail_block(x, 0);
	for (uint32_t i = 0; i < x->nhops && !x->a->err; i++) {
		uint32_t next = ecap_asm_label(x->a);

		ecap_asm_bind(x->a, x->hops[i].label);
		ecap_asm_goto(x->a, next);
		x->hops[i].label = next;
	}
	ecap_asm_bind(x->a, after);
	x->island_at = x->a->len;
}

static void ret0_block(struct xl *x)
{
	if (!ecap_asm_label_used(x->a, x->ret0))
		return; /* unused, it would be unreachable code */
	ecap_asm_bind(x->a, x->ret0);
	emit_return(x, 0, 0);
}

/* --- packet loads ------------------------------------------------------ */

static void byteswap(struct xl *x, uint8_t dst, uint32_t bytes)
{
	if (bytes > 1)
		emit(x, E_BE(dst, bytes * 8));
}

/* Helper copy, on entry (r9 = buflen): the window = the packet's first
 * min(buflen, WINDOW) bytes; an empty packet gets zeros, so that the
 * verifier sees the whole window written on every path. */
static void load_window(struct xl *x)
{
	uint32_t le = ecap_asm_label(x->a), empty = ecap_asm_label(x->a);
	uint32_t go = ecap_asm_label(x->a);

	emit(x, E_MOV64_REG(BPF_REG_4, R_PKT));
	ecap_asm_jmp(x->a, BPF_JMP | BPF_JLE | BPF_K, BPF_REG_4, 0, WINDOW, le);
	emit(x, E_MOV32_IMM(BPF_REG_4, WINDOW));
	ecap_asm_bind(x->a, le);
	/* "< 1", not "== 0": the verifier of Linux 6.1 learns the lower bound
	 * the helper's length needs from an ordering only */
	ecap_asm_jmp(x->a, BPF_JMP | BPF_JLT | BPF_K, BPF_REG_4, 0, 1, empty);
	emit(x, E_MOV64_REG(BPF_REG_1, R_CTX));
	emit(x, E_MOV32_IMM(BPF_REG_2, 0));
	emit(x, E_MOV64_REG(BPF_REG_3, BPF_REG_10));
	emit(x, E_ALU64_IMM(BPF_ADD, BPF_REG_3, STK_WINDOW));
	emit(x, E_CALL(x->o->hook == ECAP_HOOK_XDP ? BPF_FUNC_xdp_load_bytes
						   : BPF_FUNC_skb_load_bytes));
	ecap_asm_jmp(x->a, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 0, x->ret0);
	ecap_asm_goto(x->a, go);
	ecap_asm_bind(x->a, empty);
	for (int i = 0; i < WINDOW; i += 8)
		emit(x, E_ST(BPF_DW, BPF_REG_10, STK_WINDOW + i, 0));
	ecap_asm_bind(x->a, go);
}

/* Tagged helper copy, on entry (r9 = buflen with the tag, 18 or more):
 * the window = pkt[0..12), the tag, then pkt[12..) up to the window's end
 * or the packet's. */
static void load_window_tagged(struct xl *x)
{
	uint32_t le = ecap_asm_label(x->a), empty = ecap_asm_label(x->a);
	uint32_t go = ecap_asm_label(x->a);

	emit(x, E_MOV64_REG(BPF_REG_1, R_CTX));
	emit(x, E_MOV32_IMM(BPF_REG_2, 0));
	emit(x, E_MOV64_REG(BPF_REG_3, BPF_REG_10));
	emit(x, E_ALU64_IMM(BPF_ADD, BPF_REG_3, STK_WINDOW));
	emit(x, E_MOV32_IMM(BPF_REG_4, 12));
	emit(x, E_CALL(x->o->hook == ECAP_HOOK_XDP ? BPF_FUNC_xdp_load_bytes
						   : BPF_FUNC_skb_load_bytes));
	ecap_asm_jmp(x->a, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 0, x->ret0);
	ecap_xlate_vlan_tag(x->a, x->o->hook, x->o->input, BPF_REG_10, STK_WINDOW + 12);
	emit(x, E_MOV32_REG(BPF_REG_4, R_PKT));
	emit(x, E_ALU32_IMM(BPF_ADD, BPF_REG_4, -16));
	ecap_asm_jmp(x->a, BPF_JMP | BPF_JLE | BPF_K, BPF_REG_4, 0, WINDOW - 16, le);
	emit(x, E_MOV32_IMM(BPF_REG_4, WINDOW - 16));
	ecap_asm_bind(x->a, le);
	ecap_asm_jmp(x->a, BPF_JMP | BPF_JLT | BPF_K, BPF_REG_4, 0, 1, empty);
	emit(x, E_MOV64_REG(BPF_REG_1, R_CTX));
	emit(x, E_MOV32_IMM(BPF_REG_2, 12));
	emit(x, E_MOV64_REG(BPF_REG_3, BPF_REG_10));
	emit(x, E_ALU64_IMM(BPF_ADD, BPF_REG_3, STK_WINDOW + 16));
	emit(x, E_CALL(x->o->hook == ECAP_HOOK_XDP ? BPF_FUNC_xdp_load_bytes
						   : BPF_FUNC_skb_load_bytes));
	ecap_asm_jmp(x->a, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 0, x->ret0);
	ecap_asm_goto(x->a, go);
	ecap_asm_bind(x->a, empty); /* never taken: the caller makes sure of 18 bytes */
	for (int i = 16; i < WINDOW; i += 8)
		emit(x, E_ST(BPF_DW, BPF_REG_10, STK_WINDOW + i, 0));
	ecap_asm_bind(x->a, go);
}

/* The cooked header's length, and where its caller built it. */
static uint32_t cooked_len(const struct xl *x)
{
	return x->o->cooked == ECAP_COOKED_SLL ? ECAP_SLL1_LEN : ECAP_SLL2_LEN;
}

/* Does libpcap run the cooked program in the kernel (fix_offset in
 * pcap-linux.c)? It does when every packet load is past the header or at
 * a field the kernel has: for SLL2 the protocol (0), the ifindex (4) and
 * the packet type (10), for SLL the packet type (0) and the protocol (14),
 * which it maps to SKF_AD_PROTOCOL, _IFINDEX, _PKTTYPE, and the packet from
 * its network header; a load elsewhere in the header makes it filter in
 * user space, on the header it made. The two differ in the protocol of a
 * frame with a VLAN tag in it: skb->protocol in the kernel, the protocol
 * behind the tags in the header. */
static int kernel_filter(const struct xl *x)
{
	int v1 = x->o->cooked == ECAP_COOKED_SLL;

	for (uint32_t i = 0; i < x->n; i++) {
		uint32_t k = x->f[i].k;

		if (packet_load(x->f[i].code) == NO_LOAD || k == 0 || k >= cooked_len(x))
			continue;
		if (v1 ? k != 14 : k != 4 && k != 10)
			return 0;
	}
	return 1;
}

/* Cooked helper copy, on entry (r9 = buflen with the header, its length
 * or more): the window = the header at ECAP_STK_SLL or ECAP_STK_SLL1 (with
 * the kernel's protocol, ECAP_STK_KPROTO or its copy, for a filter libpcap
 * runs in the kernel), then the packet from its network header up to the
 * window's end or the packet's. */
static void load_window_cooked(struct xl *x)
{
	uint32_t le = ecap_asm_label(x->a), empty = ecap_asm_label(x->a);
	uint32_t go = ecap_asm_label(x->a);
	int v1 = x->o->cooked == ECAP_COOKED_SLL;
	int16_t hdr = v1 ? ECAP_STK_SLL1 : ECAP_STK_SLL;
	int32_t hlen = (int32_t)cooked_len(x);

	for (int i = 0; i < 24; i += 8) {
		emit(x, E_LDX(BPF_DW, BPF_REG_1, BPF_REG_10, hdr + i));
		emit(x, E_STX(BPF_DW, BPF_REG_10, BPF_REG_1, STK_WINDOW + i));
	}
	if (kernel_filter(x)) {
		emit(x, E_LDX(BPF_H, BPF_REG_1, BPF_REG_10, v1 ? hdr + 16 : ECAP_STK_KPROTO));
		emit(x, E_STX(BPF_H, BPF_REG_10, BPF_REG_1, STK_WINDOW + (v1 ? 14 : 0)));
	}
	emit(x, E_MOV32_REG(BPF_REG_4, R_PKT));
	emit(x, E_ALU32_IMM(BPF_ADD, BPF_REG_4, -hlen));
	ecap_asm_jmp(x->a, BPF_JMP | BPF_JLE | BPF_K, BPF_REG_4, 0, WINDOW - hlen, le);
	emit(x, E_MOV32_IMM(BPF_REG_4, WINDOW - hlen));
	ecap_asm_bind(x->a, le);
	ecap_asm_jmp(x->a, BPF_JMP | BPF_JLT | BPF_K, BPF_REG_4, 0, 1, empty);
	emit(x, E_MOV64_REG(BPF_REG_1, R_CTX));
	emit(x, E_LDX(BPF_W, BPF_REG_2, BPF_REG_10, ECAP_STK_L2LEN));
	emit(x, E_MOV64_REG(BPF_REG_3, BPF_REG_10));
	emit(x, E_ALU64_IMM(BPF_ADD, BPF_REG_3, STK_WINDOW + hlen));
	emit(x, E_CALL(BPF_FUNC_skb_load_bytes));
	ecap_asm_jmp(x->a, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 0, x->ret0);
	ecap_asm_goto(x->a, go);
	ecap_asm_bind(x->a, empty); /* a header and no packet */
	for (int i = 24; i < WINDOW; i += 8)
		emit(x, E_ST(BPF_DW, BPF_REG_10, STK_WINDOW + i, 0));
	ecap_asm_bind(x->a, go);
}

void ecap_xlate_vlan_tag(struct ecap_asm *a, enum ecap_hook hook, enum ecap_input input,
			 uint8_t base, int16_t off)
{
	if (hook == ECAP_HOOK_XDP) { /* the TPID in network order, the TCI not */
		ecap_asm_emit(a, E_LDX(BPF_H, BPF_REG_1, BPF_REG_10, ECAP_STK_VLAN));
		ecap_asm_emit(a, E_STX(BPF_H, base, BPF_REG_1, off));
		ecap_asm_emit(a, E_LDX(BPF_H, BPF_REG_1, BPF_REG_10, ECAP_STK_VLAN + 2));
		ecap_asm_emit(a, E_BE(BPF_REG_1, 16));
		ecap_asm_emit(a, E_STX(BPF_H, base, BPF_REG_1, (int16_t)(off + 2)));
		return;
	}
	if (input == ECAP_INPUT_TEST) { /* cb[2] = TPID << 16 | TCI */
		ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, R_CTX, offsetof(struct __sk_buff, cb[2])));
		ecap_asm_emit(a, E_ALU32_IMM(BPF_RSH, BPF_REG_1, 16));
		ecap_asm_emit(a, E_BE(BPF_REG_1, 16));
	} else {
		/* kept in network order */
		ecap_asm_emit(
		    a, E_LDX(BPF_W, BPF_REG_1, R_CTX, offsetof(struct __sk_buff, vlan_proto)));
	}
	ecap_asm_emit(a, E_STX(BPF_H, base, BPF_REG_1, off));
	ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, R_CTX,
			       input == ECAP_INPUT_TEST ? offsetof(struct __sk_buff, cb[2])
							: offsetof(struct __sk_buff, vlan_tci)));
	ecap_asm_emit(a, E_BE(BPF_REG_1, 16)); /* the low 16 bits, swapped */
	ecap_asm_emit(a, E_STX(BPF_H, base, BPF_REG_1, (int16_t)(off + 2)));
}

void ecap_xlate_count_tag(struct ecap_asm *a)
{
	ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_10, STK_BUFLEN));
	ecap_asm_emit(a, E_ALU32_IMM(BPF_ADD, BPF_REG_1, 4));
	ecap_asm_emit(a, E_STX(BPF_W, BPF_REG_10, BPF_REG_1, STK_BUFLEN));
	ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_10, STK_WIRELEN));
	ecap_asm_emit(a, E_ALU32_IMM(BPF_ADD, BPF_REG_1, 4));
	ecap_asm_emit(a, E_STX(BPF_W, BPF_REG_10, BPF_REG_1, STK_WIRELEN));
}

/* Helper copy: dst = window[k + r2 (when off_reg) .. + bytes), big-endian,
 * the bounds checked by the caller; clobbers r1 and r4. */
static void window_load(struct xl *x, uint8_t dst, int off_reg, uint32_t k, uint32_t bytes)
{
	static const uint8_t sz[5] = {0, BPF_B, BPF_H, 0, BPF_W};
	uint8_t base = BPF_REG_10;
	int16_t off = (int16_t)(STK_WINDOW + (int)k);

	if (off_reg) {
		emit(x, E_MOV64_REG(BPF_REG_1, BPF_REG_10));
		emit(x, E_ALU64_REG(BPF_ADD, BPF_REG_1, BPF_REG_2));
		base = BPF_REG_1;
	} else if (k % bytes == 0) {
		emit(x, E_LDX(sz[bytes], dst, base, off));
		byteswap(x, dst, bytes);
		return;
	}
	emit(x, E_LDX(BPF_B, dst, base, off));
	for (uint32_t i = 1; i < bytes; i++) {
		emit(x, E_ALU32_IMM(BPF_LSH, dst, 8));
		emit(x, E_LDX(BPF_B, BPF_REG_4, base, (int16_t)(off + i)));
		emit(x, E_ALU32_REG(BPF_OR, dst, BPF_REG_4));
	}
}

/* Helper copy: load `bytes` at offset (r2, or imm when off_reg is 0) into
 * dst. Bounds against buflen are checked by the caller. */
static void helper_load(struct xl *x, uint8_t dst, int off_reg, uint32_t k, uint32_t bytes)
{
	static const uint8_t sz[5] = {0, BPF_B, BPF_H, 0, BPF_W};

	_Static_assert(WINDOW >= 20, "loads past the window start past the tag");

	emit(x, E_MOV64_REG(BPF_REG_1, R_CTX));
	if (!off_reg)
		emit(x, E_MOV32_IMM(BPF_REG_2, x->o->tagged   ? k - 4
					       : x->o->cooked ? k - cooked_len(x)
							      : k));
	else if (x->o->tagged)
		emit(x, E_ALU64_IMM(BPF_ADD, BPF_REG_2, -4));
	else if (x->o->cooked)
		emit(x, E_ALU64_IMM(BPF_ADD, BPF_REG_2, -(int32_t)cooked_len(x)));
	if (x->o->cooked) { /* past the header: the packet from its network header */
		emit(x, E_LDX(BPF_W, BPF_REG_5, BPF_REG_10, ECAP_STK_L2LEN));
		emit(x, E_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_5));
	}
	emit(x, E_MOV64_REG(BPF_REG_3, BPF_REG_10));
	emit(x, E_ALU64_IMM(BPF_ADD, BPF_REG_3, STK_BUF));
	emit(x, E_MOV32_IMM(BPF_REG_4, bytes));
	emit(x, E_CALL(x->o->hook == ECAP_HOOK_XDP ? BPF_FUNC_xdp_load_bytes
						   : BPF_FUNC_skb_load_bytes));
	/* Cannot fail once the bounds check passed; checked all the same. */
	ecap_asm_jmp(x->a, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 0, x->ret0);
	emit(x, E_LDX(sz[bytes], dst, BPF_REG_10, STK_BUF));
}

/* dst = packet[k .. k+bytes) big-endian; k is covered by the block check
 * in the direct copy. */
static void load_abs(struct xl *x, uint8_t dst, uint32_t k, uint32_t bytes)
{
	static const uint8_t sz[5] = {0, BPF_B, BPF_H, 0, BPF_W};

	if (x->direct) {
		if (k <= INT16_MAX) {
			emit(x, E_LDX(sz[bytes], dst, R_PKT, (int16_t)k));
		} else {
			emit(x, E_MOV64_REG(BPF_REG_1, R_PKT));
			emit(x, E_ALU64_IMM(BPF_ADD, BPF_REG_1, k));
			emit(x, E_LDX(sz[bytes], dst, BPF_REG_1, 0));
		}
	} else {
		/* k + bytes <= 0xffe00004: no wrap in the u32 compare */
		ecap_asm_jmp(x->a, BPF_JMP32 | BPF_JLT | BPF_K, R_PKT, 0, (int32_t)(k + bytes),
			     x->ret0);
		if (k + bytes <= WINDOW) {
			window_load(x, dst, 0, k, bytes);
			return;
		}
		helper_load(x, dst, 0, k, bytes);
	}
	byteswap(x, dst, bytes);
}

/* A = packet[X + k ..]. Returns 1 when the load can never be in bounds, so
 * the rest of the block is dead. */
static int load_ind(struct xl *x, uint32_t k, uint32_t bytes)
{
	static const uint8_t sz[5] = {0, BPF_B, BPF_H, 0, BPF_W};

	if (x->direct) {
		if (k > PKT_OFF_MAX - bytes) {
			ecap_asm_goto(x->a, out_of_bounds(x));
			return 1;
		}
		emit(x, E_MOV64_REG(BPF_REG_1, R_X));
		emit(x, E_ALU64_IMM(BPF_ADD, BPF_REG_1, k));
		ecap_asm_jmp(x->a, BPF_JMP | BPF_JGT | BPF_K, BPF_REG_1, 0, PKT_OFF_MAX - bytes,
			     out_of_bounds(x));
		emit(x, E_MOV64_REG(BPF_REG_3, R_PKT));
		emit(x, E_ALU64_REG(BPF_ADD, BPF_REG_3, BPF_REG_1));
		emit(x, E_MOV64_REG(BPF_REG_1, BPF_REG_3));
		emit(x, E_ALU64_IMM(BPF_ADD, BPF_REG_1, bytes));
		ecap_asm_jmp(x->a, BPF_JMP | BPF_JGT | BPF_X, BPF_REG_1, R_END, 0,
			     out_of_bounds(x));
		emit(x, E_LDX(sz[bytes], R_A, BPF_REG_3, 0));
	} else {
		uint32_t far = ecap_asm_label(x->a), next = ecap_asm_label(x->a);

		/* r2 = X + k computed in 64 bits: libpcap refuses the wrap too */
		emit(x, E_MOV32_IMM(BPF_REG_2, k));
		emit(x, E_ALU64_REG(BPF_ADD, BPF_REG_2, R_X));
		emit(x, E_MOV64_REG(BPF_REG_3, BPF_REG_2));
		emit(x, E_ALU64_IMM(BPF_ADD, BPF_REG_3, bytes));
		ecap_asm_jmp(x->a, BPF_JMP | BPF_JGT | BPF_X, BPF_REG_3, R_PKT, 0, x->ret0);
		/* r2's own bound, which the verifier does not carry over from r3 */
		ecap_asm_jmp(x->a, BPF_JMP | BPF_JGT | BPF_K, BPF_REG_2, 0,
			     (int32_t)(WINDOW - bytes), far);
		window_load(x, R_A, 1, 0, bytes);
		ecap_asm_goto(x->a, next);
		ecap_asm_bind(x->a, far);
		helper_load(x, R_A, 1, 0, bytes);
		byteswap(x, R_A, bytes);
		ecap_asm_bind(x->a, next);
		return 0;
	}
	byteswap(x, R_A, bytes);
	return 0;
}

/* --- one classic instruction ------------------------------------------ */

/* Shift A by X with libpcap's rule: a count of 32 or more gives 0. */
static void shift_x(struct xl *x, uint8_t op)
{
	uint32_t big = ecap_asm_label(x->a), done = ecap_asm_label(x->a);

	ecap_asm_jmp(x->a, BPF_JMP | BPF_JGT | BPF_K, R_X, 0, 31, big);
	emit(x, E_ALU32_REG(op, R_A, R_X));
	ecap_asm_goto(x->a, done);
	ecap_asm_bind(x->a, big);
	emit(x, E_MOV32_IMM(R_A, 0));
	ecap_asm_bind(x->a, done);
}

/* Emits instruction i and marks its successors reachable. Returns 1 when
 * the rest of its block can never run. */
static int emit_insn(struct xl *x, uint32_t i)
{
	const struct sock_filter *f = &x->f[i];
	uint16_t c = f->code;
	uint32_t k = f->k;
	uint8_t dst = BPF_CLASS(c) == BPF_LDX ? R_X : R_A;

	switch (BPF_CLASS(c)) {
	case BPF_RET:
		emit_return(x, BPF_RVAL(c) == BPF_A, k);
		return 0;
	case BPF_JMP:
		if (BPF_OP(c) == BPF_JA) {
			succ(x, i + 1 + k);
			if (k)
				jump_far(x, i + 1 + k);
		} else {
			uint32_t t = i + 1 + f->jt, e = i + 1 + f->jf;

			succ(x, t);
			succ(x, e);
			if (t == e) {
				if (f->jt)
					ecap_asm_goto(x->a, x->lab[t]);
			} else {
				int reg = BPF_SRC(c) == BPF_X; /* imm must be 0 then */

				ecap_asm_jmp(x->a, BPF_JMP32 | BPF_OP(c) | BPF_SRC(c), R_A,
					     reg ? R_X : 0, reg ? 0 : (int32_t)k, x->lab[t]);
				if (f->jf)
					ecap_asm_goto(x->a, x->lab[e]);
			}
		}
		return 0;
	default:
		break;
	}

	switch (c) {
	case BPF_LD | BPF_W | BPF_ABS:
	case BPF_LD | BPF_H | BPF_ABS:
	case BPF_LD | BPF_B | BPF_ABS:
		load_abs(x, R_A, k, ld_bytes(c));
		break;
	case BPF_LD | BPF_W | BPF_IND:
	case BPF_LD | BPF_H | BPF_IND:
	case BPF_LD | BPF_B | BPF_IND:
		if (load_ind(x, k, ld_bytes(c)))
			return 1; /* the rest of the block, and its fall-through, never run */
		break;
	case BPF_LDX | BPF_MSH | BPF_B:
		load_abs(x, R_X, k, 1);
		emit(x, E_ALU32_IMM(BPF_AND, R_X, 0xf));
		emit(x, E_ALU32_IMM(BPF_LSH, R_X, 2));
		break;
	case BPF_LD | BPF_W | BPF_LEN: /* A or X, by class */
	case BPF_LDX | BPF_W | BPF_LEN:
		emit(x, E_LDX(BPF_W, dst, BPF_REG_10, STK_WIRELEN));
		if (x->o->cooked) /* libpcap's len leaves the header out */
			emit(x, E_ALU32_IMM(BPF_ADD, dst, -(int32_t)cooked_len(x)));
		break;
	case BPF_LD | BPF_IMM:
	case BPF_LDX | BPF_IMM:
		emit(x, E_MOV32_IMM(dst, k));
		break;
	case BPF_LD | BPF_MEM:
	case BPF_LDX | BPF_MEM:
		emit(x, E_LDX(BPF_W, dst, BPF_REG_10, STK_M(k)));
		break;
	case BPF_ST:
		emit(x, E_STX(BPF_W, BPF_REG_10, R_A, STK_M(k)));
		break;
	case BPF_STX:
		emit(x, E_STX(BPF_W, BPF_REG_10, R_X, STK_M(k)));
		break;
	case BPF_MISC | BPF_TAX:
		emit(x, E_MOV32_REG(R_X, R_A));
		break;
	case BPF_MISC | BPF_TXA:
		emit(x, E_MOV32_REG(R_A, R_X));
		break;
	case BPF_ALU | BPF_NEG:
		emit(x, ECAP_INSN(BPF_ALU | BPF_NEG, R_A, 0, 0, 0));
		break;
	case BPF_ALU | BPF_DIV | BPF_X:
	case BPF_ALU | BPF_MOD | BPF_X:
		ecap_asm_jmp(x->a, BPF_JMP | BPF_JEQ | BPF_K, R_X, 0, 0, x->ret0);
		emit(x, E_ALU32_REG(BPF_OP(c), R_A, R_X));
		break;
	case BPF_ALU | BPF_LSH | BPF_X:
	case BPF_ALU | BPF_RSH | BPF_X:
		shift_x(x, BPF_OP(c));
		break;
	default: /* the remaining ALU ops, K or X, map one to one */
		if (BPF_SRC(c) == BPF_X)
			emit(x, E_ALU32_REG(BPF_OP(c), R_A, R_X));
		else
			emit(x, E_ALU32_IMM(BPF_OP(c), R_A, k));
		break;
	}
	succ(x, i + 1); /* validated: a non-jump, non-return is never last */
	return 0;
}

/* --- copies, prologue -------------------------------------------------- */

/* Emit one copy of the program. With slow != NO_LABEL, the copy starts with
 * a jump at label slow that goes (far) past the copy's end, where the next
 * copy begins: the dispatch's way to the helper copy. */
static void emit_copy(struct xl *x, int direct, uint32_t slow)
{
	int dead = 0;

	x->direct = direct;
	memset(x->reach, 0, x->n + 1);
	x->reach[0] = 1;
	for (uint32_t i = 0; i <= x->n; i++)
		x->known[i] = UINT32_MAX; /* no path seen yet */
	x->known[0] = 0;
	for (uint32_t i = 0; i <= x->n; i++)
		x->lab[i] = ecap_asm_label(x->a);
	x->ret0 = ecap_asm_label(x->a);
	x->bail = ecap_asm_label(x->a);
	if (slow != NO_LABEL) {
		uint32_t fast = ecap_asm_label(x->a);

		ecap_asm_goto(x->a, fast);
		ecap_asm_bind(x->a, slow);
		jump_far(x, x->n);
		ecap_asm_bind(x->a, fast);
	}
	if (!direct && x->reads) {
		if (x->o->tagged)
			load_window_tagged(x);
		else if (x->o->cooked)
			load_window_cooked(x);
		else
			load_window(x);
	}
	emit(x, E_MOV32_IMM(R_A, 0)); /* classic BPF starts with A = X = 0 */
	emit(x, E_MOV32_IMM(R_X, 0));
	x->island_at = x->a->len;

	for (uint32_t i = 0; i < x->n && !x->a->err; i++) {
		if (x->leader[i])
			dead = !x->reach[i];
		if (dead)
			continue;
		if (x->a->len - x->island_at >= ISLAND_SPACING)
			island(x);
		if (x->leader[i]) {
			ecap_asm_bind(x->a, x->lab[i]);
			land_hops(x, i);
			if (direct && x->need[i] > PKT_OFF_MAX) {
				ecap_asm_goto(x->a, x->bail);
				dead = 1;
				continue;
			}
			/* a check every path has already made is left out: the
			 * verifier tracks the same range on each path */
			if (direct && x->need[i] > x->known[i]) {
				emit(x, E_MOV64_REG(BPF_REG_0, R_PKT));
				emit(x, E_ALU64_IMM(BPF_ADD, BPF_REG_0, (int32_t)x->need[i]));
				ecap_asm_jmp(x->a, BPF_JMP | BPF_JGT | BPF_X, BPF_REG_0, R_END, 0,
					     x->bail);
				x->known[i] = (uint32_t)x->need[i];
			}
		}
		x->cur = x->known[i];
		dead = emit_insn(x, i);
	}
	ret0_block(x);
	if (direct && ecap_asm_label_used(x->a, x->bail))
		bail_block(x, 1); /* falls through to the helper copy */
	/* the copy's end is where the next copy starts */
	ecap_asm_bind(x->a, x->lab[x->n]);
	land_hops(x, x->n);
}

static void test_meta(struct xl *x);

static void prologue(struct xl *x)
{
	int xdp = x->o->hook == ECAP_HOOK_XDP;

	emit(x, E_MOV64_REG(R_CTX, BPF_REG_1));
	if (xdp) {
		emit(x, E_CALL(BPF_FUNC_xdp_get_buff_len));
		emit(x, E_MOV32_REG(R_PKT, BPF_REG_0));
	} else {
		emit(x, E_LDX(BPF_W, R_PKT, R_CTX, offsetof(struct __sk_buff, len)));
	}
	emit(x, E_STX(BPF_W, BPF_REG_10, R_PKT, STK_WIRELEN));
	if (x->o->input == ECAP_INPUT_TEST)
		test_meta(x);
	emit(x, E_STX(BPF_W, BPF_REG_10, R_PKT, STK_BUFLEN));
}

/* struct ecap_test_meta {wirelen, caplen}; caplen is clamped to
 * the real packet so helper loads cannot fail. */
static void test_meta(struct xl *x)
{
	int xdp = x->o->hook == ECAP_HOOK_XDP;
	uint32_t nometa = ecap_asm_label(x->a);

	if (xdp) {
		emit(x, E_LDX(BPF_W, BPF_REG_2, R_CTX, offsetof(struct xdp_md, data_meta)));
		emit(x, E_LDX(BPF_W, BPF_REG_3, R_CTX, offsetof(struct xdp_md, data)));
		emit(x, E_MOV64_REG(BPF_REG_4, BPF_REG_2));
		emit(x, E_ALU64_IMM(BPF_ADD, BPF_REG_4, sizeof(struct ecap_test_meta)));
		ecap_asm_jmp(x->a, BPF_JMP | BPF_JGT | BPF_X, BPF_REG_4, BPF_REG_3, 0, nometa);
		emit(x, E_LDX(BPF_W, BPF_REG_4, BPF_REG_2, 0));
		emit(x, E_STX(BPF_W, BPF_REG_10, BPF_REG_4, STK_WIRELEN));
		emit(x, E_LDX(BPF_W, BPF_REG_4, BPF_REG_2, 4));
	} else {
		emit(x, E_LDX(BPF_W, BPF_REG_4, R_CTX, offsetof(struct __sk_buff, cb[0])));
		ecap_asm_jmp(x->a, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_4, 0, 0, nometa);
		emit(x, E_STX(BPF_W, BPF_REG_10, BPF_REG_4, STK_WIRELEN));
		emit(x, E_LDX(BPF_W, BPF_REG_4, R_CTX, offsetof(struct __sk_buff, cb[1])));
	}
	ecap_asm_jmp(x->a, BPF_JMP | BPF_JGT | BPF_X, BPF_REG_4, R_PKT, 0, nometa);
	emit(x, E_MOV32_REG(R_PKT, BPF_REG_4));
	ecap_asm_bind(x->a, nometa);
}

/* r9 = buflen here. The direct copy reads the linear area, bailing out to
 * the helper copy at a load past it, so it can start on any packet but a
 * test run's padded one (its data_end lies past buflen, and the direct copy
 * checks against data_end). Returns the label that goes to the helper copy,
 * or NO_LABEL when nothing here does. */
static uint32_t dispatch(struct xl *x)
{
	uint32_t slow = ecap_asm_label(x->a);
	int xdp = x->o->hook == ECAP_HOOK_XDP;
	int16_t off_data = xdp ? offsetof(struct xdp_md, data) : offsetof(struct __sk_buff, data);
	int16_t off_end =
	    xdp ? offsetof(struct xdp_md, data_end) : offsetof(struct __sk_buff, data_end);

	emit(x, E_LDX(BPF_W, BPF_REG_2, R_CTX, off_data));
	emit(x, E_LDX(BPF_W, BPF_REG_3, R_CTX, off_end));
	if (x->o->input == ECAP_INPUT_TEST) { /* direct unless data + buflen < data_end */
		ecap_asm_jmp(x->a, BPF_JMP | BPF_JGT | BPF_K, R_PKT, 0, PKT_OFF_MAX, slow);
		emit(x, E_MOV64_REG(BPF_REG_4, BPF_REG_2));
		emit(x, E_ALU64_REG(BPF_ADD, BPF_REG_4, R_PKT));
		ecap_asm_jmp(x->a, BPF_JMP | BPF_JLT | BPF_X, BPF_REG_4, BPF_REG_3, 0, slow);
		x->to_helper = 1;
	} else {
		slow = NO_LABEL;
	}
	emit(x, E_MOV64_REG(R_PKT, BPF_REG_2));
	emit(x, E_MOV64_REG(R_END, BPF_REG_3));
	return slow;
}

/* Conditional jumps on the longest path the verifier may follow through
 * both copies (direct, then a bail-out into the helper copy), counted
 * generously: each one it explores both ways stays pending until it comes
 * back to it, and it refuses a program with more than 8192 pending
 * (BPF_COMPLEXITY_LIMIT_JMP_SEQ). Only programs near the 4096-instruction
 * limit come close; they get the helper copy alone. */
#define BRANCH_BUDGET 7000

static uint32_t branches(const struct xl *x)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < x->n; i++) {
		uint16_t c = x->f[i].code;

		n += x->leader[i]; /* the direct copy's block check */
		if (BPF_CLASS(c) == BPF_JMP && BPF_OP(c) != BPF_JA)
			n += 2; /* in each copy */
		else if (packet_load(c) == LOAD_X)
			n += 5; /* direct: two checks; helper: bounds, window, result */
		else if (packet_load(c) == LOAD_K)
			n += 2; /* helper: bounds and result */
		else if (BPF_CLASS(c) == BPF_ALU && BPF_SRC(c) == BPF_X)
			n += 4; /* division by zero, shift counts: at most two each */
	}
	return n;
}

static void xl_free(struct xl *x)
{
	free(x->leader);
	free(x->need);
	free(x->reach);
	free(x->lab);
	free(x->known);
	free(x->hops);
}

void ecap_xlate_prologue(struct ecap_asm *a, const struct ecap_xlate_opts *opts)
{
	struct xl x = {.a = a, .o = opts};

	prologue(&x);
}

int ecap_xlate_body(struct ecap_asm *a, const struct sock_filter *insns, uint32_t n,
		    const struct ecap_xlate_opts *opts, uint32_t done)
{
	struct xl x = {.f = insns, .n = n, .o = opts, .a = a, .done = done};
	int r = 0;

	x.leader = calloc(n + 1, 1);
	x.need = calloc(n + 1, sizeof(*x.need));
	x.reach = calloc(n + 1, 1);
	x.lab = calloc(n + 1, sizeof(*x.lab));
	x.known = calloc(n + 1, sizeof(*x.known));
	if (!x.leader || !x.need || !x.reach || !x.lab || !x.known) {
		r = -ENOMEM;
		goto out;
	}
	find_blocks(&x);
	emit(&x, E_LDX(BPF_W, R_PKT, BPF_REG_10, STK_BUFLEN));
	if (opts->access == ECAP_ACCESS_AUTO && !opts->tagged && !opts->cooked &&
	    branches(&x) <= BRANCH_BUDGET)
		emit_copy(&x, 1, dispatch(&x));
	else
		x.to_helper = 1;
	if (x.to_helper) /* else the helper copy would be unreachable */
		emit_copy(&x, 0, NO_LABEL);
out:
	xl_free(&x);
	return r ? r : a->err;
}

int ecap_filter_translate(const struct sock_filter *insns, uint32_t n,
			  const struct ecap_xlate_opts *opts, struct bpf_insn **ret_insns,
			  uint32_t *ret_len, char *err, size_t errlen)
{
	struct ecap_asm a;
	struct bpf_insn *out;
	int r;

	ecap_asm_init(&a);
	ecap_xlate_prologue(&a, opts);
	if (opts->tagged) /* the tag is out of band; sessions.c checks that it is */
		ecap_xlate_count_tag(&a);
	r = ecap_xlate_body(&a, insns, n, opts, NO_LABEL);
	if (!r)
		r = ecap_asm_finish(&a);
	if (r == -E2BIG) {
		snprintf(err, errlen,
			 "translated program too large: a jump spans more than %d "
			 "eBPF instructions",
			 INT16_MAX);
		goto out;
	}
	if (r) {
		snprintf(err, errlen, "translation failed: %s", strerror(-r));
		goto out;
	}
	out = malloc(a.len * sizeof(*out));
	if (!out) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(out, a.insns, a.len * sizeof(*out));
	*ret_insns = out;
	*ret_len = a.len;
out:
	ecap_asm_free(&a);
	return r;
}
