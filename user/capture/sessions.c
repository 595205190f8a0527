/* sessions.c - see sessions.h. The generated program, per session:
 *
 *   on        the session's bit in maps->on_fd is set (when there is one)
 *   gate      the packet's interface is one of the session's (if it lists any)
 *   seen++    counters[ECAP_COUNTERS_KEY(id, hook, position of the interface
 *             in the session's list)], pointer spilled to the stack
 *   filter    the translated body; w0 = its result
 *   capture   caplen = min(result, packet length, snaplen); matched++;
 *             a ring reservation of the smallest size class that holds
 *             caplen (reservations have constant sizes), the header, the
 *             data: from the linear area with loads and stores when it holds
 *             them (copy_direct), else through bpf_{xdp,skb}_load_bytes (so
 *             frags and non-linear skbs are read right), then the padding
 *             and the block's options and trailer: the record is a pcapng
 *             EPB with wall clock time, which a pcapng output writes as it
 *             is; submit: captured++; ring full: dropped++.
 *             The consumer is woken only by the record that brings what
 *             waits to maps->wake_bytes (bpf_ringbuf_query); it also
 *             drains on a timer.
 *
 * and finally XDP_PASS / TC_ACT_UNSPEC: capture never changes forwarding.
 * The packet is copied once, straight into the ring.
 *
 * On TC an skb may carry its VLAN tag out of band (__sk_buff vlan_present):
 * the receive path takes it out of the frame before TC ingress, and a VLAN
 * device with TX offload hands TC egress its tag that way. On XDP a driver
 * with receive VLAN offload keeps it in its receive metadata, which a
 * program bound to the device reads with the kfunc
 * bpf_xdp_metadata_rx_vlan_tag (maps->vlan_kfunc). Such a packet takes a
 * second copy of the sessions' code, where the frame the filters see
 * and the records hold is the packet with the tag put back at byte 12 (the
 * lengths 4 bytes longer), which is what libpcap gives tcpdump on Linux.
 *
 * A cooked session (tcpdump -i any, LINUX_SLL2) runs on the TC hooks after
 * the others, on a packet made as libpcap makes it from its packet socket's
 * sockaddr_ll: a 20-byte header (protocol, zeros, ifindex, ARPHRD type,
 * packet type, address length, the frame's source address), then the packet
 * from its network header. The header is built once on the stack (cooked_
 * header) for all cooked sessions; their filters read it through the
 * window (xlate.c), their records copy it, then the packet. An out-of-band
 * VLAN tag is left out, as libpcap leaves it out of SLL2 records.
 *
 * A LINUX_SLL (v1) session (cooked_v1: tcpdump -i IF on PPP, GRE, ip6tnl,
 * ip6gre) runs after the SLL2 ones, on the 16-byte header libpcap makes
 * from the same sockaddr_ll, moved from the SLL2 one (cooked_v1_header).
 */
#include "capture/sessions.h"

#include <errno.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <linux/pkt_cls.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "capture/vlan.h"
#include "filter/ebpf.h"

/* Stack below what filter bodies use (ECAP_XLATE_STACK). */
#define STK_COUNTERS (ECAP_XLATE_STACK - 8)  /* spilled pointer to this session's counters */
#define STK_KEY	     (ECAP_XLATE_STACK - 12) /* map lookup key */
#define STK_IF_ID    (ECAP_XLATE_STACK - 16) /* the record's interface block */
#define STK_WIRELEN  ECAP_STK_WIRELEN
#define STK_BUFLEN   ECAP_STK_BUFLEN

_Static_assert(ECAP_STK_SLL % 8 == 0 && ECAP_STK_SLL + 24 <= ECAP_STK_VLAN &&
		   ECAP_STK_VLAN + 4 <= ECAP_STK_L2LEN && ECAP_STK_L2LEN + 4 <= STK_IF_ID,
	       "the cooked header and the XDP VLAN tag below the session slots");
_Static_assert(ECAP_STK_SLL1 % 8 == 0 && ECAP_STK_SLL1 + 24 <= ECAP_STK_SLL,
	       "the SLL (v1) header below the SLL2 one");
_Static_assert(STK_IF_ID + 4 <= STK_KEY && STK_KEY + 4 <= STK_COUNTERS &&
		   STK_COUNTERS + 8 <= ECAP_XLATE_STACK,
	       "session stack slots below the filter's");

/* a two-instruction load (E_LD_MAP_FD, E_LD_MAP_VALUE) */
static void ld_imm64(struct ecap_asm *a, const struct bpf_insn ld[2])
{
	ecap_asm_emit(a, ld[0]);
	ecap_asm_emit(a, ld[1]);
}

static void ld_map(struct ecap_asm *a, uint8_t reg, int fd)
{
	ld_imm64(a, (struct bpf_insn[2]){E_LD_MAP_FD(reg, fd)});
}

/* reg = the address of the first value of an array (by fd) */
static void ld_map_value(struct ecap_asm *a, uint8_t reg, int fd)
{
	ld_imm64(a, (struct bpf_insn[2]){E_LD_MAP_VALUE(reg, fd, 0)});
}

/* r0 = lookup(map, *(u32 *)(fp + STK_KEY)); null -> goto out */
static void lookup(struct ecap_asm *a, int fd, uint32_t out)
{
	ld_map(a, BPF_REG_1, fd);
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_2, BPF_REG_10));
	ecap_asm_emit(a, E_ALU64_IMM(BPF_ADD, BPF_REG_2, STK_KEY));
	ecap_asm_emit(a, E_CALL(BPF_FUNC_map_lookup_elem));
	ecap_asm_jmp(a, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, out);
}

/* (*(u64 *)(reg + off))++ - per-CPU values, so no atomics */
static void count(struct ecap_asm *a, uint8_t reg, int16_t off)
{
	ecap_asm_emit(a, E_LDX(BPF_DW, BPF_REG_1, reg, off));
	ecap_asm_emit(a, E_ALU64_IMM(BPF_ADD, BPF_REG_1, 1));
	ecap_asm_emit(a, E_STX(BPF_DW, reg, BPF_REG_1, off));
}

/* Ring reservations have a constant size: a record takes the smallest of
 * these that holds its data (the session's snaplen caps the list), so a
 * record wastes less than its own size. 1536 and 9216 fit Ethernet and jumbo
 * frames. */
static const uint32_t size_classes[] = {64,    128,   256,   512,    1024,
					1536,  2048,  4096,  8192,   9216,
					16384, 32768, 65536, 131072, ECAP_SNAPLEN_MAX};

/* A record of size class cls: the header, cls bytes of data, the 16 bytes
 * after it and 4 more, which the verifier needs: it bounds the rounded-up
 * length by caplen + 3. */
#define REC_SIZE(cls) ((int32_t)(sizeof(struct ecap_rec) + (cls) + 20))

static int16_t ifindex_off(unsigned hook_id)
{
	return hook_id == ECAP_HOOK_ID_XDP ? offsetof(struct xdp_md, ingress_ifindex)
					   : offsetof(struct __sk_buff, ifindex);
}

/* Copy r7 = caplen bytes from the packet's linear area to the record at r9
 * with loads and stores of 8 bytes, in blocks of 64 that need one bounds
 * check each, then word by word where the linear area ends; the last bytes
 * come in a word that ends at caplen, overlapping the one before. Then goto
 * done, or goto helper when the bytes are not all in the linear area (a
 * non-linear skb, a multi-buffer frame) or caplen is above COPY_DIRECT_MAX.
 * Whole words may copy up to 7 bytes past caplen, in the packet and in the
 * reservation (size classes are multiples of 64). A helper call with its
 * memcpy costs several times as much at these sizes. */
#define COPY_DIRECT_MAX 256

/* goto fail unless the linear area (r3 = data, r4 = data_end) holds `end` bytes */
static void linear_holds(struct ecap_asm *a, uint32_t end, uint32_t fail)
{
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_2, BPF_REG_3));
	ecap_asm_emit(a, E_ALU64_IMM(BPF_ADD, BPF_REG_2, end));
	ecap_asm_jmp(a, BPF_JMP | BPF_JGT | BPF_X, BPF_REG_2, BPF_REG_4, 0, fail);
}

/* record data[off .. off + 8) = packet[off .. off + 8) */
static void copy_word(struct ecap_asm *a, uint32_t off)
{
	ecap_asm_emit(a, E_LDX(BPF_DW, BPF_REG_1, BPF_REG_3, off));
	ecap_asm_emit(a, E_STX(BPF_DW, BPF_REG_9, BPF_REG_1, sizeof(struct ecap_rec) + off));
}

static void copy_direct(struct ecap_asm *a, unsigned hook_id, uint32_t snaplen, uint32_t done,
			uint32_t helper)
{
	int xdp = hook_id == ECAP_HOOK_ID_XDP;
	uint32_t tail = ecap_asm_label(a),
		 end = snaplen < COPY_DIRECT_MAX ? snaplen : COPY_DIRECT_MAX;

	if (snaplen > COPY_DIRECT_MAX)
		ecap_asm_jmp(a, BPF_JMP32 | BPF_JGT | BPF_K, BPF_REG_7, 0, COPY_DIRECT_MAX, helper);
	/* r3 = data, r4 = data_end */
	ecap_asm_emit(
	    a, E_LDX(BPF_W, BPF_REG_3, BPF_REG_6,
		     xdp ? offsetof(struct xdp_md, data) : offsetof(struct __sk_buff, data)));
	ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_4, BPF_REG_6,
			       xdp ? offsetof(struct xdp_md, data_end)
				   : offsetof(struct __sk_buff, data_end)));
	for (uint32_t k = 0; k < end; k += 64) {
		uint32_t words = ecap_asm_label(a), next = ecap_asm_label(a);

		ecap_asm_jmp(a, BPF_JMP32 | BPF_JLE | BPF_K, BPF_REG_7, 0, (int32_t)k, done);
		linear_holds(a, k + 64, words);
		for (uint32_t w = k; w < k + 64; w += 8)
			copy_word(a, w);
		ecap_asm_goto(a, next);
		ecap_asm_bind(a, words); /* the linear area ends in this block */
		for (uint32_t w = k; w < k + 64; w += 8) {
			if (w > k)
				ecap_asm_jmp(a, BPF_JMP32 | BPF_JLE | BPF_K, BPF_REG_7, 0,
					     (int32_t)w, done);
			linear_holds(a, w + 8, tail);
			copy_word(a, w);
		}
		ecap_asm_bind(a, next);
	}
	ecap_asm_goto(a, done);
	/* fewer than 8 bytes to go: the word that ends at caplen, if the linear
	 * area holds it (r2 = caplen - 8) */
	ecap_asm_bind(a, tail);
	ecap_asm_emit(a, E_MOV32_REG(BPF_REG_2, BPF_REG_7));
	ecap_asm_jmp(a, BPF_JMP | BPF_JLT | BPF_K, BPF_REG_2, 0, 8, helper);
	ecap_asm_emit(a, E_ALU64_IMM(BPF_ADD, BPF_REG_2, -8));
	ecap_asm_emit(a, E_ALU64_REG(BPF_ADD, BPF_REG_3, BPF_REG_2));
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_5, BPF_REG_3));
	ecap_asm_emit(a, E_ALU64_IMM(BPF_ADD, BPF_REG_5, 8));
	ecap_asm_jmp(a, BPF_JMP | BPF_JGT | BPF_X, BPF_REG_5, BPF_REG_4, 0, helper);
	ecap_asm_emit(a, E_LDX(BPF_DW, BPF_REG_1, BPF_REG_3, 0));
	ecap_asm_emit(a, E_ALU64_REG(BPF_ADD, BPF_REG_2, BPF_REG_9));
	ecap_asm_emit(a, E_STX(BPF_DW, BPF_REG_2, BPF_REG_1, sizeof(struct ecap_rec)));
	ecap_asm_goto(a, done);
}

/* The record of a packet whose VLAN tag is out of band (r7 = caplen with
 * the tag, r6 = the context, r9 = the record): pkt[0..12), the tag,
 * pkt[12..caplen - 4), through bpf_{skb,xdp}_load_bytes. The tag is written whole
 * even when caplen ends inside it: every reservation has room for it, and
 * epb_trailer zeroes what lies past caplen. Then goto done, or goto fail. */
static void copy_tagged(struct ecap_asm *a, unsigned hook_id, enum ecap_input input, uint32_t done,
			uint32_t fail)
{
	const int16_t at = sizeof(struct ecap_rec);
	const int32_t load =
	    hook_id == ECAP_HOOK_ID_XDP ? BPF_FUNC_xdp_load_bytes : BPF_FUNC_skb_load_bytes;
	uint32_t head = ecap_asm_label(a);

	ecap_asm_emit(a, E_MOV32_REG(BPF_REG_4, BPF_REG_7));
	ecap_asm_jmp(a, BPF_JMP32 | BPF_JLE | BPF_K, BPF_REG_4, 0, 12, head);
	ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_4, 12));
	ecap_asm_bind(a, head);
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_1, BPF_REG_6));
	ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_2, 0));
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_3, BPF_REG_9));
	ecap_asm_emit(a, E_ALU64_IMM(BPF_ADD, BPF_REG_3, at));
	ecap_asm_emit(a, E_CALL(load));
	ecap_asm_jmp(a, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 0, fail);
	ecap_xlate_vlan_tag(a, hook_id == ECAP_HOOK_ID_XDP ? ECAP_HOOK_XDP : ECAP_HOOK_TC, input,
			    BPF_REG_9, at + 12);
	ecap_asm_jmp(a, BPF_JMP32 | BPF_JLE | BPF_K, BPF_REG_7, 0, 16, done);
	ecap_asm_emit(a, E_MOV32_REG(BPF_REG_4, BPF_REG_7));
	ecap_asm_emit(a, E_ALU32_IMM(BPF_ADD, BPF_REG_4, -16));
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_1, BPF_REG_6));
	ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_2, 12));
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_3, BPF_REG_9));
	ecap_asm_emit(a, E_ALU64_IMM(BPF_ADD, BPF_REG_3, at + 16));
	ecap_asm_emit(a, E_CALL(load));
	ecap_asm_jmp(a, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, done);
	ecap_asm_goto(a, fail);
}

/* The record of a cooked packet (r7 = caplen, r6 = the __sk_buff, r9 = the
 * record): the header from the stack (SLL2 or SLL by kind), whole (every
 * reservation has room for its 24 bytes, and epb_trailer zeroes what lies
 * past caplen), then the packet from its network header through
 * bpf_skb_load_bytes. Then goto done, or goto fail. With tag (SLL at TC
 * ingress), a tag the skb holds out of band goes between the header's
 * first 14 bytes and its protocol, as libpcap puts it back for a reader
 * (vlan_offset 14 for DLT_LINUX_SLL, pcap_handle_packet_mmap): TPID, TCI,
 * the protocol, then the packet, 20 bytes in. */
static void copy_cooked(struct ecap_asm *a, int kind, int tag, uint32_t done, uint32_t fail)
{
	const int16_t at = sizeof(struct ecap_rec);
	const int16_t hdr = kind == ECAP_COOKED_SLL ? ECAP_STK_SLL1 : ECAP_STK_SLL;
	const int32_t hlen = kind == ECAP_COOKED_SLL ? ECAP_SLL1_LEN : ECAP_SLL2_LEN;

	for (int16_t i = 0; i < 24; i += 8) {
		ecap_asm_emit(a, E_LDX(BPF_DW, BPF_REG_1, BPF_REG_10, hdr + i));
		ecap_asm_emit(a, E_STX(BPF_DW, BPF_REG_9, BPF_REG_1, at + i));
	}
	if (tag) {
		uint32_t plain = ecap_asm_label(a);

		ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_6,
				       offsetof(struct __sk_buff, vlan_present)));
		ecap_asm_jmp(a, BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_1, 0, 0, plain);
		ecap_asm_emit(a, E_LDX(BPF_H, BPF_REG_1, BPF_REG_10, hdr + 14));
		ecap_asm_emit(a, E_STX(BPF_H, BPF_REG_9, BPF_REG_1, at + 18));
		ecap_asm_emit(
		    a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_6, offsetof(struct __sk_buff, vlan_proto)));
		ecap_asm_emit(a, E_STX(BPF_H, BPF_REG_9, BPF_REG_1, at + 14));
		ecap_asm_emit(
		    a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_6, offsetof(struct __sk_buff, vlan_tci)));
		ecap_asm_emit(a, E_BE(BPF_REG_1, 16));
		ecap_asm_emit(a, E_STX(BPF_H, BPF_REG_9, BPF_REG_1, at + 16));
		ecap_asm_jmp(a, BPF_JMP32 | BPF_JLE | BPF_K, BPF_REG_7, 0, hlen + 4, done);
		ecap_asm_emit(a, E_MOV32_REG(BPF_REG_4, BPF_REG_7));
		ecap_asm_emit(a, E_ALU32_IMM(BPF_ADD, BPF_REG_4, -(hlen + 4)));
		ecap_asm_emit(a, E_MOV64_REG(BPF_REG_1, BPF_REG_6));
		ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_2, BPF_REG_10, ECAP_STK_L2LEN));
		ecap_asm_emit(a, E_MOV64_REG(BPF_REG_3, BPF_REG_9));
		ecap_asm_emit(a, E_ALU64_IMM(BPF_ADD, BPF_REG_3, at + hlen + 4));
		ecap_asm_emit(a, E_CALL(BPF_FUNC_skb_load_bytes));
		ecap_asm_jmp(a, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, done);
		ecap_asm_goto(a, fail);
		ecap_asm_bind(a, plain);
	}
	ecap_asm_jmp(a, BPF_JMP32 | BPF_JLE | BPF_K, BPF_REG_7, 0, hlen, done);
	ecap_asm_emit(a, E_MOV32_REG(BPF_REG_4, BPF_REG_7));
	ecap_asm_emit(a, E_ALU32_IMM(BPF_ADD, BPF_REG_4, -hlen));
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_1, BPF_REG_6));
	ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_2, BPF_REG_10, ECAP_STK_L2LEN));
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_3, BPF_REG_9));
	ecap_asm_emit(a, E_ALU64_IMM(BPF_ADD, BPF_REG_3, at + hlen));
	ecap_asm_emit(a, E_CALL(BPF_FUNC_skb_load_bytes));
	ecap_asm_jmp(a, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, done);
	ecap_asm_goto(a, fail);
}

/* After the data at r9 (r7 = caplen): zeros to a multiple of 4 (one word
 * at caplen, since the copy may have written past it), an epb_flags option
 * with the direction, opt_endofopt and block_len, which goes in the header
 * too. */
static void epb_trailer(struct ecap_asm *a, uint8_t dir)
{
	const int16_t at = sizeof(struct ecap_rec);

	ecap_asm_emit(a, E_MOV32_REG(BPF_REG_2, BPF_REG_7));
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_1, BPF_REG_9));
	ecap_asm_emit(a, E_ALU64_REG(BPF_ADD, BPF_REG_1, BPF_REG_2));
	ecap_asm_emit(a, E_ST(BPF_W, BPF_REG_1, at, 0));
	ecap_asm_emit(a, E_ALU32_IMM(BPF_ADD, BPF_REG_2, 3));
	ecap_asm_emit(a, E_ALU32_IMM(BPF_AND, BPF_REG_2, -4));
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_1, BPF_REG_9));
	ecap_asm_emit(a, E_ALU64_REG(BPF_ADD, BPF_REG_1, BPF_REG_2));
	ecap_asm_emit(a, E_ST(BPF_W, BPF_REG_1, at, ECAP_EPB_OPT_FLAGS | 4 << 16)); /* 4 bytes */
	ecap_asm_emit(a, E_ST(BPF_W, BPF_REG_1, at + 4, dir));
	ecap_asm_emit(a, E_ST(BPF_W, BPF_REG_1, at + 8, 0));
	ecap_asm_emit(a, E_ALU32_IMM(BPF_ADD, BPF_REG_2, 28 + 16));
	ecap_asm_emit(a, E_STX(BPF_W, BPF_REG_1, BPF_REG_2, at + 12));
	ecap_asm_emit(a, E_STX(BPF_W, BPF_REG_9, BPF_REG_2, offsetof(struct ecap_rec, block_len)));
}

static int emit_session(struct ecap_asm *a, unsigned hook_id, const struct ecap_xlate_opts *o,
			const struct ecap_session *s, const struct ecap_session_maps *m)
{
	uint8_t dir = hook_id == ECAP_HOOK_ID_TC_OUT ? ECAP_DIR_OUT : ECAP_DIR_IN;
	uint32_t next = ecap_asm_label(a), done = ecap_asm_label(a), drop = ecap_asm_label(a);
	uint32_t l1 = ecap_asm_label(a), l2 = ecap_asm_label(a);
	uint32_t sized = ecap_asm_label(a), loaded = ecap_asm_label(a), helper = ecap_asm_label(a);
	uint32_t failed = ecap_asm_label(a);
	/* LINUX_SLL at TC ingress: a tag out of band is put back (copy_cooked);
	 * egress is left as it is (such a tag there is not measured) */
	int sll_tag = o->cooked == ECAP_COOKED_SLL && hook_id == ECAP_HOOK_ID_TC_IN;
	int r;

	if (m->on_fd) { /* switched off: skipped */
		ld_map_value(a, BPF_REG_1, m->on_fd);
		ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_1, 0));
		ecap_asm_emit(a, E_ALU32_IMM(BPF_AND, BPF_REG_1, 1u << s->id));
		ecap_asm_jmp(a, BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_1, 0, 0, next);
	}
	if (hook_id == ECAP_HOOK_ID_TC_IN && !o->cooked && m->nxdp_in) { /* XDP's already */
		ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_6, ifindex_off(hook_id)));
		for (uint32_t i = 0; i < m->nxdp_in; i++)
			ecap_asm_jmp(a, BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_1, 0, m->xdp_in[i],
				     next);
	}
	if (s->nifindex) { /* gate; the key and the block name the interface's position */
		uint32_t keyed = ecap_asm_label(a), at[ECAP_MAX_SESSION_IFACES];

		ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_6, ifindex_off(hook_id)));
		for (uint32_t i = 0; i < s->nifindex; i++) {
			at[i] = ecap_asm_label(a);
			ecap_asm_jmp(a, BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_1, 0, s->ifindex[i],
				     at[i]);
		}
		ecap_asm_goto(a, next);
		for (uint32_t i = 0; i < s->nifindex; i++) {
			ecap_asm_bind(a, at[i]);
			ecap_asm_emit(a, E_ST(BPF_W, BPF_REG_10, STK_KEY,
					      ECAP_COUNTERS_KEY(s->id, hook_id, i)));
			ecap_asm_emit(
			    a, E_ST(BPF_W, BPF_REG_10, STK_IF_ID, ECAP_IDB_ID(i, s->dirs, dir)));
			ecap_asm_goto(a, keyed);
		}
		ecap_asm_bind(a, keyed);
	} else {
		ecap_asm_emit(
		    a, E_ST(BPF_W, BPF_REG_10, STK_KEY, ECAP_COUNTERS_KEY(s->id, hook_id, 0)));
		ecap_asm_emit(a, E_ST(BPF_W, BPF_REG_10, STK_IF_ID, ECAP_IDB_ID(0, s->dirs, dir)));
	}
	lookup(a, m->counters_fd, next);
	count(a, BPF_REG_0, offsetof(struct ecap_counters, seen));
	ecap_asm_emit(a, E_STX(BPF_DW, BPF_REG_10, BPF_REG_0, STK_COUNTERS));

	r = ecap_xlate_body(a, s->insns, s->len, o, done);
	if (r)
		return r;
	ecap_asm_bind(a, done);
	ecap_asm_jmp(a, BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, next);

	/* r7 = caplen = min(result, bytes present, snaplen); bytes present is
	 * the wire length but in test runs of truncated captures, and 4 more
	 * for a tag put back (copy_cooked). The constant bound comes last so
	 * the verifier knows it on every path. */
	ecap_asm_emit(a, E_MOV32_REG(BPF_REG_7, BPF_REG_0));
	ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_10, STK_BUFLEN));
	if (sll_tag) {
		ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_2, BPF_REG_6,
				       offsetof(struct __sk_buff, vlan_present)));
		ecap_asm_emit(a, E_ALU32_IMM(BPF_AND, BPF_REG_2, 1));
		ecap_asm_emit(a, E_ALU32_IMM(BPF_LSH, BPF_REG_2, 2));
		ecap_asm_emit(a, E_ALU32_REG(BPF_ADD, BPF_REG_1, BPF_REG_2));
	}
	ecap_asm_jmp(a, BPF_JMP32 | BPF_JLE | BPF_X, BPF_REG_7, BPF_REG_1, 0, l1);
	ecap_asm_emit(a, E_MOV32_REG(BPF_REG_7, BPF_REG_1));
	ecap_asm_bind(a, l1);
	ecap_asm_jmp(a, BPF_JMP32 | BPF_JLE | BPF_K, BPF_REG_7, 0, (int32_t)s->snaplen, l2);
	ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_7, s->snaplen));
	ecap_asm_bind(a, l2);
	ecap_asm_emit(a, E_LDX(BPF_DW, BPF_REG_8, BPF_REG_10, STK_COUNTERS));
	count(a, BPF_REG_8, offsetof(struct ecap_counters, matched));
	/* an empty packet is not captured; "< 1" and not "== 0", since the
	 * verifier of Linux 6.1 learns r7 >= 1 from the first only, and the
	 * load below wants a length it knows is not zero */
	ecap_asm_jmp(a, BPF_JMP32 | BPF_JLT | BPF_K, BPF_REG_7, 0, 1, next);

	/* r9 = a ring reservation for the record. Its size must be a constant:
	 * take the smallest size class that holds caplen (each path carries its
	 * own constant and its own bound on r7 to the verifier). */
	for (unsigned c = 0;; c++) {
		uint32_t cls = size_classes[c];

		if (cls >= s->snaplen || c + 1 == sizeof(size_classes) / sizeof(size_classes[0])) {
			/* a multiple of 64, like the others, for copy_direct */
			uint32_t last = (s->snaplen + 63) & ~63u;

			ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_2, REC_SIZE(last)));
			break;
		}
		ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_2, REC_SIZE(cls)));
		ecap_asm_jmp(a, BPF_JMP32 | BPF_JLE | BPF_K, BPF_REG_7, 0, (int32_t)cls, sized);
	}
	ecap_asm_bind(a, sized);
	/* the reservation's size, for the wake-up below (the key is spent) */
	ecap_asm_emit(a, E_STX(BPF_W, BPF_REG_10, BPF_REG_2, STK_KEY));
	ld_map(a, BPF_REG_1, m->ring_fd);
	ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_3, 0));
	ecap_asm_emit(a, E_CALL(BPF_FUNC_ringbuf_reserve));
	ecap_asm_jmp(a, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, drop); /* ring full */
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_9, BPF_REG_0));

	/* the time: boot time plus REALTIME - BOOTTIME, which user space keeps */
	ecap_asm_emit(a, E_CALL(BPF_FUNC_ktime_get_boot_ns));
	ld_map_value(a, BPF_REG_1, m->clock_fd);
	ecap_asm_emit(a, E_LDX(BPF_DW, BPF_REG_1, BPF_REG_1, 0));
	ecap_asm_emit(a, E_ALU64_REG(BPF_ADD, BPF_REG_0, BPF_REG_1));
	ecap_asm_emit(a, E_STX(BPF_W, BPF_REG_9, BPF_REG_0, offsetof(struct ecap_rec, ts_low)));
	ecap_asm_emit(a, E_ALU64_IMM(BPF_RSH, BPF_REG_0, 32));
	ecap_asm_emit(a, E_STX(BPF_W, BPF_REG_9, BPF_REG_0, offsetof(struct ecap_rec, ts_high)));
	/* session, dir, pad: one word */
	ecap_asm_emit(a,
		      E_ST(BPF_W, BPF_REG_9, offsetof(struct ecap_rec, session), s->id | dir << 8));
	ecap_asm_emit(a,
		      E_ST(BPF_W, BPF_REG_9, offsetof(struct ecap_rec, block_type), ECAP_EPB_TYPE));
	ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_10, STK_IF_ID));
	ecap_asm_emit(a, E_STX(BPF_W, BPF_REG_9, BPF_REG_1, offsetof(struct ecap_rec, if_id)));
	ecap_asm_emit(a, E_STX(BPF_W, BPF_REG_9, BPF_REG_7, offsetof(struct ecap_rec, caplen)));
	ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_10, STK_WIRELEN));
	if (sll_tag) {
		ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_2, BPF_REG_6,
				       offsetof(struct __sk_buff, vlan_present)));
		ecap_asm_emit(a, E_ALU32_IMM(BPF_AND, BPF_REG_2, 1));
		ecap_asm_emit(a, E_ALU32_IMM(BPF_LSH, BPF_REG_2, 2));
		ecap_asm_emit(a, E_ALU32_REG(BPF_ADD, BPF_REG_1, BPF_REG_2));
	}
	ecap_asm_emit(a, E_STX(BPF_W, BPF_REG_9, BPF_REG_1, offsetof(struct ecap_rec, wirelen)));

	if (o->cooked) {
		copy_cooked(a, o->cooked, sll_tag, loaded, failed);
	} else if (o->tagged) {
		copy_tagged(a, hook_id, o->input, loaded, failed);
	} else {
		copy_direct(a, hook_id, s->snaplen, loaded, helper);
		ecap_asm_bind(a, helper);
		ecap_asm_emit(a, E_MOV64_REG(BPF_REG_1, BPF_REG_6));
		ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_2, 0));
		ecap_asm_emit(a, E_MOV64_REG(BPF_REG_3, BPF_REG_9));
		ecap_asm_emit(a, E_ALU64_IMM(BPF_ADD, BPF_REG_3, sizeof(struct ecap_rec)));
		ecap_asm_emit(a, E_MOV32_REG(BPF_REG_4, BPF_REG_7));
		ecap_asm_emit(a, E_CALL(hook_id == ECAP_HOOK_ID_XDP ? BPF_FUNC_xdp_load_bytes
								    : BPF_FUNC_skb_load_bytes));
		ecap_asm_jmp(a, BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 0, loaded);
	}
	ecap_asm_bind(a, failed);
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_1, BPF_REG_9));
	ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_2, 0));
	ecap_asm_emit(a, E_CALL(BPF_FUNC_ringbuf_discard));
	ecap_asm_goto(a, drop);
	ecap_asm_bind(a, loaded);
	epb_trailer(a, dir);

	if (m->wake_bytes) {
		/* r2 = flags: wake the consumer when this record takes what waits
		 * to wake_bytes, not for every record past it: a consumer that
		 * lags would otherwise take an interrupt a packet (irq_work, a
		 * self-IPI, a VM exit under virtualization) until it catches up */
		uint32_t quiet = ecap_asm_label(a);

		ld_map(a, BPF_REG_1, m->ring_fd);
		ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_2, BPF_RB_AVAIL_DATA));
		ecap_asm_emit(a, E_CALL(BPF_FUNC_ringbuf_query));
		ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_2, BPF_RB_NO_WAKEUP));
		ecap_asm_jmp(a, BPF_JMP | BPF_JLT | BPF_K, BPF_REG_0, 0, (int32_t)m->wake_bytes,
			     quiet);
		/* what waited before it: minus its size with the ring's 8-byte
		 * header, rounded to 8 */
		ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_10, STK_KEY));
		ecap_asm_emit(a, E_ALU64_IMM(BPF_ADD, BPF_REG_1, 8 + 7));
		ecap_asm_emit(a, E_ALU64_IMM(BPF_AND, BPF_REG_1, -8));
		ecap_asm_emit(a, E_ALU64_REG(BPF_SUB, BPF_REG_0, BPF_REG_1));
		ecap_asm_jmp(a, BPF_JMP | BPF_JSGE | BPF_K, BPF_REG_0, 0, (int32_t)m->wake_bytes,
			     quiet);
		ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_2, BPF_RB_FORCE_WAKEUP));
		ecap_asm_bind(a, quiet);
	} else {
		ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_2, 0));
	}
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_1, BPF_REG_9));
	ecap_asm_emit(a, E_CALL(BPF_FUNC_ringbuf_submit));
	count(a, BPF_REG_8, offsetof(struct ecap_counters, captured));
	ecap_asm_goto(a, next);
	ecap_asm_bind(a, drop);
	count(a, BPF_REG_8, offsetof(struct ecap_counters, dropped));
	ecap_asm_bind(a, next);
	return 0;
}

/* The packet starts at its network header. Where skb->protocol is a VLAN
 * type, that is after the first 14 bytes: a tag still in the frame (the
 * inner one of QinQ on ingress) stays in the packet. Where it is not, but
 * the frame holds tags (a VLAN device with reorder_hdr off puts its tag in
 * the frame, on transmit and on receive), the network header comes after
 * them: past the tags at byte 12 then, up to three, each counted only
 * where the frame holds it. The type fields are read into the header's
 * last two bytes, which the window and the record take from the packet. */
static void frame_tags(struct ecap_asm *a)
{
	uint32_t done = ecap_asm_label(a);

	ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_10, ECAP_STK_L2LEN));
	ecap_asm_jmp(a, BPF_JMP32 | BPF_JNE | BPF_K, BPF_REG_1, 0, 14, done);
	ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_6, offsetof(struct __sk_buff, protocol)));
	ecap_asm_jmp(a, BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_1, 0, htons(0x8100), done);
	ecap_asm_jmp(a, BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_1, 0, htons(0x88a8), done);
	for (int i = 0; i < 3; i++) {
		uint32_t tag = ecap_asm_label(a);

		ecap_asm_emit(a, E_MOV64_REG(BPF_REG_1, BPF_REG_6));
		ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_2, 12 + 4 * i));
		ecap_asm_emit(a, E_MOV64_REG(BPF_REG_3, BPF_REG_10));
		ecap_asm_emit(a, E_ALU64_IMM(BPF_ADD, BPF_REG_3, ECAP_STK_SLL + 22));
		ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_4, 2));
		ecap_asm_emit(a, E_CALL(BPF_FUNC_skb_load_bytes));
		ecap_asm_jmp(a, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 0, done);
		ecap_asm_emit(a, E_LDX(BPF_H, BPF_REG_1, BPF_REG_10, ECAP_STK_SLL + 22));
		ecap_asm_jmp(a, BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_1, 0, htons(0x8100), tag);
		ecap_asm_jmp(a, BPF_JMP32 | BPF_JNE | BPF_K, BPF_REG_1, 0, htons(0x88a8), done);
		ecap_asm_bind(a, tag);
		ecap_asm_emit(a,
			      E_LDX(BPF_W, BPF_REG_1, BPF_REG_6, offsetof(struct __sk_buff, len)));
		ecap_asm_jmp(a, BPF_JMP32 | BPF_JLT | BPF_K, BPF_REG_1, 0, 18 + 4 * i, done);
		ecap_asm_emit(a, E_ST(BPF_W, BPF_REG_10, ECAP_STK_L2LEN, 18 + 4 * i));
		ecap_asm_emit(a, E_ALU32_IMM(BPF_ADD, BPF_REG_1, ECAP_SLL2_LEN - (18 + 4 * i)));
		ecap_asm_emit(a, E_STX(BPF_W, BPF_REG_10, BPF_REG_1, STK_WIRELEN));
		ecap_asm_emit(a, E_STX(BPF_W, BPF_REG_10, BPF_REG_1, STK_BUFLEN));
	}
	ecap_asm_bind(a, done);
}

/* The header's protocol: skb->protocol, or, for a VLAN protocol (a tag left
 * in the frame: the inner one of two, or one the stack did not take out of
 * band), the protocol behind the tags, as the packet socket gives a
 * SOCK_DGRAM reader since Linux 6.10 (vlan_get_protocol_dgram, also in the
 * stable kernels): __vlan_get_protocol from byte 12 of the frame, which
 * gives up (0) past three tags. Filters that the packet socket runs in the
 * kernel see skb->protocol (xlate.c), unless tx_tag_inserted set theirs. */
static void cooked_protocol(struct ecap_asm *a)
{
	uint32_t walk = ecap_asm_label(a), none = ecap_asm_label(a), done = ecap_asm_label(a);
	uint32_t kept = ecap_asm_label(a);

	/* kept in network order; the kernel filter's protocol too, unless
	 * cooked_header set it */
	ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_6, offsetof(struct __sk_buff, protocol)));
	ecap_asm_emit(a, E_STX(BPF_H, BPF_REG_10, BPF_REG_1, ECAP_STK_SLL));
	ecap_asm_emit(a, E_LDX(BPF_H, BPF_REG_2, BPF_REG_10, ECAP_STK_KPROTO));
	ecap_asm_jmp(a, BPF_JMP32 | BPF_JNE | BPF_K, BPF_REG_2, 0, 0, kept);
	ecap_asm_emit(a, E_STX(BPF_H, BPF_REG_10, BPF_REG_1, ECAP_STK_KPROTO));
	ecap_asm_bind(a, kept);
	ecap_asm_jmp(a, BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_1, 0, htons(0x8100), walk);
	ecap_asm_jmp(a, BPF_JMP32 | BPF_JNE | BPF_K, BPF_REG_1, 0, htons(0x88a8), done);
	ecap_asm_bind(a, walk);
	ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_10, ECAP_STK_L2LEN));
	ecap_asm_jmp(a, BPF_JMP32 | BPF_JNE | BPF_K, BPF_REG_1, 0, 14, done);
	for (int i = 0; i < 3; i++) {
		uint32_t next = ecap_asm_label(a);

		ecap_asm_emit(a, E_MOV64_REG(BPF_REG_1, BPF_REG_6));
		ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_2, 12 + 4 * i));
		ecap_asm_emit(a, E_MOV64_REG(BPF_REG_3, BPF_REG_10));
		ecap_asm_emit(a, E_ALU64_IMM(BPF_ADD, BPF_REG_3, ECAP_STK_SLL));
		ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_4, 2));
		ecap_asm_emit(a, E_CALL(BPF_FUNC_skb_load_bytes));
		ecap_asm_jmp(a, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 0, none);
		ecap_asm_emit(a, E_LDX(BPF_H, BPF_REG_1, BPF_REG_10, ECAP_STK_SLL));
		ecap_asm_jmp(a, BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_1, 0, htons(0x8100), next);
		ecap_asm_jmp(a, BPF_JMP32 | BPF_JNE | BPF_K, BPF_REG_1, 0, htons(0x88a8), done);
		ecap_asm_bind(a, next);
	}
	ecap_asm_bind(a, none);
	ecap_asm_emit(a, E_ST(BPF_H, BPF_REG_10, ECAP_STK_SLL, 0));
	ecap_asm_bind(a, done);
}

/* Egress, on a device that does not insert a tag type itself: a tag of that
 * type out of band here goes into the frame after TC (validate_xmit_vlan),
 * before the packet taps, so the kernel filter sees skb->protocol = the
 * tag's type: ECAP_STK_KPROTO = vlan_proto (network order). The header's
 * protocol is the one behind the tag (cooked_protocol's, unchanged) and
 * the packet still starts at the network header. */
static void tx_tag_inserted(struct ecap_asm *a, uint8_t txvlan)
{
	uint32_t out = ecap_asm_label(a), set = ecap_asm_label(a);

	ecap_asm_emit(a,
		      E_LDX(BPF_W, BPF_REG_1, BPF_REG_6, offsetof(struct __sk_buff, vlan_present)));
	ecap_asm_jmp(a, BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_1, 0, 0, out);
	ecap_asm_emit(a,
		      E_LDX(BPF_W, BPF_REG_1, BPF_REG_6, offsetof(struct __sk_buff, vlan_proto)));
	if (!(txvlan & ECAP_VLAN_TX_CTAG))
		ecap_asm_jmp(a, BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_1, 0, htons(0x8100), set);
	if (!(txvlan & ECAP_VLAN_TX_STAG))
		ecap_asm_jmp(a, BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_1, 0, htons(0x88a8), set);
	ecap_asm_goto(a, out);
	ecap_asm_bind(a, set);
	ecap_asm_emit(a, E_STX(BPF_H, BPF_REG_10, BPF_REG_1, ECAP_STK_KPROTO));
	ecap_asm_bind(a, out);
}

/* Received on GRE without a remote: the outer IPv4 and GRE headers lie
 * before the packet (ip_gre.c keeps them as the skb's mac header, for
 * ipgre_header_parse). Their length, as gre_parse_header found it: the IPv4
 * header's (IHL), the GRE header's 4 bytes and 4 for each of the checksum,
 * key and sequence flags, and 4 more for WCCPv2 (no flags, protocol 0x883e,
 * and a payload that does not start as IPv4 does). At ECAP_STK_L2LEN and
 * in w2; a packet too short for them goes to skip. Uses r7 and r8 and the
 * header's address bytes, which cooked_header writes after. */
static void gre4_outer(struct ecap_asm *a, uint32_t skip)
{
	const int16_t tmp = ECAP_STK_SLL + 12;
	uint32_t done = ecap_asm_label(a);

	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_1, BPF_REG_6));
	ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_2, 0));
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_3, BPF_REG_10));
	ecap_asm_emit(a, E_ALU64_IMM(BPF_ADD, BPF_REG_3, tmp));
	ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_4, 1));
	ecap_asm_emit(a, E_CALL(BPF_FUNC_skb_load_bytes));
	ecap_asm_jmp(a, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 0, skip);
	ecap_asm_emit(a, E_LDX(BPF_B, BPF_REG_7, BPF_REG_10, tmp));
	ecap_asm_emit(a, E_ALU32_IMM(BPF_AND, BPF_REG_7, 15));
	ecap_asm_emit(a, E_ALU32_IMM(BPF_LSH, BPF_REG_7, 2)); /* r7 = IHL * 4 */
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_1, BPF_REG_6));
	ecap_asm_emit(a, E_MOV32_REG(BPF_REG_2, BPF_REG_7));
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_3, BPF_REG_10));
	ecap_asm_emit(a, E_ALU64_IMM(BPF_ADD, BPF_REG_3, tmp));
	ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_4, 4));
	ecap_asm_emit(a, E_CALL(BPF_FUNC_skb_load_bytes)); /* flags, protocol */
	ecap_asm_jmp(a, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 0, skip);
	ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_8, 4));
	ecap_asm_emit(a, E_LDX(BPF_B, BPF_REG_1, BPF_REG_10, tmp));
	for (int shift = 7; shift >= 4; shift--) { /* C (0x80), K (0x20), S (0x10) */
		if (shift == 6)
			continue;
		ecap_asm_emit(a, E_MOV32_REG(BPF_REG_2, BPF_REG_1));
		ecap_asm_emit(a, E_ALU32_IMM(BPF_RSH, BPF_REG_2, shift));
		ecap_asm_emit(a, E_ALU32_IMM(BPF_AND, BPF_REG_2, 1));
		ecap_asm_emit(a, E_ALU32_IMM(BPF_LSH, BPF_REG_2, 2));
		ecap_asm_emit(a, E_ALU32_REG(BPF_ADD, BPF_REG_8, BPF_REG_2));
	}
	/* no flags and protocol 0x883e (bytes 00 00 88 3e, read as a u32 here) */
	ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_10, tmp));
	ecap_asm_jmp(a, BPF_JMP32 | BPF_JNE | BPF_K, BPF_REG_1, 0, (int32_t)htonl(0x0000883e),
		     done);
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_1, BPF_REG_6));
	ecap_asm_emit(a, E_MOV32_REG(BPF_REG_2, BPF_REG_7));
	ecap_asm_emit(a, E_ALU32_REG(BPF_ADD, BPF_REG_2, BPF_REG_8));
	ecap_asm_emit(a, E_MOV64_REG(BPF_REG_3, BPF_REG_10));
	ecap_asm_emit(a, E_ALU64_IMM(BPF_ADD, BPF_REG_3, tmp));
	ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_4, 1));
	ecap_asm_emit(a, E_CALL(BPF_FUNC_skb_load_bytes));
	ecap_asm_jmp(a, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 0, skip);
	ecap_asm_emit(a, E_LDX(BPF_B, BPF_REG_1, BPF_REG_10, tmp));
	ecap_asm_emit(a, E_ALU32_IMM(BPF_AND, BPF_REG_1, 0xf0));
	ecap_asm_jmp(a, BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_1, 0, 0x40, done);
	ecap_asm_emit(a, E_ALU32_IMM(BPF_ADD, BPF_REG_8, 4));
	ecap_asm_bind(a, done);
	ecap_asm_emit(a, E_ALU32_REG(BPF_ADD, BPF_REG_7, BPF_REG_8));
	ecap_asm_emit(a, E_STX(BPF_W, BPF_REG_10, BPF_REG_7, ECAP_STK_L2LEN));
	ecap_asm_emit(a, E_MOV32_REG(BPF_REG_2, BPF_REG_7));
}

/* The cooked header of the packet at ECAP_STK_SLL, its link-layer header's
 * length at ECAP_STK_L2LEN, and the lengths on the stack those of the
 * cooked packet (header included), for a packet on one of the cooked
 * sessions' interfaces; any other packet, or a frame shorter than its
 * link-layer header, goes to skip. As the packet socket fills sockaddr_ll:
 * protocol as cooked_protocol says, ifindex = the device's, hatype = its type,
 * pkttype = skb->pkt_type (PACKET_OUTGOING on egress, as the socket's tap
 * on transmit sets it), address = what the device's header_ops->parse
 * gives: for Ethernet and loopback the frame's source, for devices without
 * a link layer nothing. */
static void cooked_header(struct ecap_asm *a, unsigned hook_id, const struct ecap_session *s,
			  unsigned n, uint32_t skip)
{
	struct ecap_cooked_if seen[ECAP_COOKED_IFACES * ECAP_MAX_SESSIONS];
	uint32_t at[ECAP_COOKED_IFACES * ECAP_MAX_SESSIONS], join = ecap_asm_label(a);
	unsigned k = 0;

	ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_6, offsetof(struct __sk_buff, ifindex)));
	for (unsigned i = 0; i < n; i++) {
		for (uint32_t j = 0; s[i].cooked && j < s[i].ncooked; j++) {
			unsigned d = 0;

			while (d < k && seen[d].ifindex != s[i].cooked[j].ifindex)
				d++;
			if (d < k)
				continue; /* an interface is the same for every session */
			seen[k] = s[i].cooked[j];
			at[k] = ecap_asm_label(a);
			ecap_asm_jmp(a, BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_1, 0, seen[k].ifindex,
				     at[k]);
			k++;
		}
	}
	ecap_asm_goto(a, skip);
	for (unsigned d = 0; d < k; d++) {
		ecap_asm_bind(a, at[d]);
		for (int16_t i = 0; i < 24; i += 8)
			ecap_asm_emit(a, E_ST(BPF_DW, BPF_REG_10, ECAP_STK_SLL + i, 0));
		uint32_t l2 = seen[d].l2len;

		if (hook_id == ECAP_HOOK_ID_TC_OUT)
			l2 += seen[d].out_hdr;
		ecap_asm_emit(a, E_ST(BPF_H, BPF_REG_10, ECAP_STK_SLL + 8, htons(seen[d].hatype)));
		ecap_asm_emit(a, E_ST(BPF_B, BPF_REG_10, ECAP_STK_SLL + 11, seen[d].halen));
		if (hook_id == ECAP_HOOK_ID_TC_IN && seen[d].gre4_in) {
			gre4_outer(a, skip);
		} else {
			ecap_asm_emit(a, E_ST(BPF_W, BPF_REG_10, ECAP_STK_L2LEN, l2));
			ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_2, l2));
		}
		ecap_asm_emit(a,
			      E_LDX(BPF_W, BPF_REG_1, BPF_REG_6, offsetof(struct __sk_buff, len)));
		ecap_asm_jmp(a, BPF_JMP32 | BPF_JLT | BPF_X, BPF_REG_1, BPF_REG_2, 0, skip);
		ecap_asm_emit(a, E_ALU32_REG(BPF_SUB, BPF_REG_1, BPF_REG_2));
		ecap_asm_emit(a, E_ALU32_IMM(BPF_ADD, BPF_REG_1, ECAP_SLL2_LEN));
		ecap_asm_emit(a, E_STX(BPF_W, BPF_REG_10, BPF_REG_1, STK_WIRELEN));
		ecap_asm_emit(a, E_STX(BPF_W, BPF_REG_10, BPF_REG_1, STK_BUFLEN));
		if (hook_id == ECAP_HOOK_ID_TC_OUT &&
		    (seen[d].txvlan & (ECAP_VLAN_TX_CTAG | ECAP_VLAN_TX_STAG)) !=
			(ECAP_VLAN_TX_CTAG | ECAP_VLAN_TX_STAG))
			tx_tag_inserted(a, seen[d].txvlan);
		if (seen[d].halen) { /* the source address: the frame's, the outer IPv4's */
			ecap_asm_emit(a, E_MOV64_REG(BPF_REG_1, BPF_REG_6));
			ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_2, seen[d].haddr_at));
			ecap_asm_emit(a, E_MOV64_REG(BPF_REG_3, BPF_REG_10));
			ecap_asm_emit(a, E_ALU64_IMM(BPF_ADD, BPF_REG_3, ECAP_STK_SLL + 12));
			ecap_asm_emit(a, E_MOV32_IMM(BPF_REG_4, seen[d].halen));
			ecap_asm_emit(a, E_CALL(BPF_FUNC_skb_load_bytes));
			ecap_asm_jmp(a, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_0, 0, 0, skip);
		}
		ecap_asm_goto(a, join);
	}
	ecap_asm_bind(a, join);
	cooked_protocol(a);
	frame_tags(a);
	ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_6, offsetof(struct __sk_buff, ifindex)));
	ecap_asm_emit(a, E_BE(BPF_REG_1, 32));
	ecap_asm_emit(a, E_STX(BPF_W, BPF_REG_10, BPF_REG_1, ECAP_STK_SLL + 4));
	if (hook_id == ECAP_HOOK_ID_TC_OUT) {
		ecap_asm_emit(a, E_ST(BPF_B, BPF_REG_10, ECAP_STK_SLL + 10, PACKET_OUTGOING));
	} else {
		ecap_asm_emit(
		    a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_6, offsetof(struct __sk_buff, pkt_type)));
		ecap_asm_emit(a, E_STX(BPF_B, BPF_REG_10, BPF_REG_1, ECAP_STK_SLL + 10));
	}
}

/* The LINUX_SLL (v1) header at ECAP_STK_SLL1, as libpcap makes it from the
 * same sockaddr_ll as SLL2's (pcap-linux.c, pcap_handle_packet_mmap):
 * packet type (be16), ARPHRD type, address length (be16), 8 address
 * bytes, protocol; then the kernel filter's protocol. Taken from the SLL2
 * header cooked_header built; the lengths on the stack lose the 4 bytes
 * by which SLL2's is longer. The stack allows aligned accesses only: the
 * address moves two bytes at a time. */
static void cooked_v1_header(struct ecap_asm *a)
{
	static const int16_t moves[][3] = {
	    /* size, from (SLL2), to (SLL) */
	    {BPF_B, 10, 1}, {BPF_H, 8, 2},   {BPF_B, 11, 5},  {BPF_H, 12, 6},
	    {BPF_H, 14, 8}, {BPF_H, 16, 10}, {BPF_H, 18, 12}, {BPF_H, 0, 14},
	};

	for (int16_t i = 0; i < 24; i += 8)
		ecap_asm_emit(a, E_ST(BPF_DW, BPF_REG_10, ECAP_STK_SLL1 + i, 0));
	for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
		ecap_asm_emit(
		    a, E_LDX(moves[i][0], BPF_REG_1, BPF_REG_10, ECAP_STK_SLL + moves[i][1]));
		ecap_asm_emit(
		    a, E_STX(moves[i][0], BPF_REG_10, BPF_REG_1, ECAP_STK_SLL1 + moves[i][2]));
	}
	ecap_asm_emit(a, E_LDX(BPF_H, BPF_REG_1, BPF_REG_10, ECAP_STK_KPROTO));
	ecap_asm_emit(a, E_STX(BPF_H, BPF_REG_10, BPF_REG_1, ECAP_STK_SLL1 + 16));
	for (int i = 0; i < 2; i++) {
		int16_t off = i ? STK_BUFLEN : STK_WIRELEN;

		ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_10, off));
		ecap_asm_emit(a, E_ALU32_IMM(BPF_ADD, BPF_REG_1, ECAP_SLL1_LEN - ECAP_SLL2_LEN));
		ecap_asm_emit(a, E_STX(BPF_W, BPF_REG_10, BPF_REG_1, off));
	}
}

/* Every session that captures this hook's direction (the cooked ones
 * last: they change the lengths on the stack, and the SLL ones after the
 * SLL2 ones), then the return. */
static int emit_sessions(struct ecap_asm *a, unsigned hook_id, const struct ecap_xlate_opts *o,
			 const struct ecap_session *s, unsigned n,
			 const struct ecap_session_maps *maps)
{
	unsigned dir = hook_id == ECAP_HOOK_ID_TC_OUT ? ECAP_DIR_OUT : ECAP_DIR_IN;
	struct ecap_xlate_opts co = *o;
	int r = 0, cooked = 0;

	for (unsigned i = 0; i < n && !r; i++) {
		if (!(s[i].dirs & dir))
			continue;
		if (s[i].cooked)
			cooked = 1;
		else
			r = emit_session(a, hook_id, o, &s[i], maps);
	}
	if (cooked && !r && hook_id != ECAP_HOOK_ID_XDP) {
		uint32_t skip = ecap_asm_label(a);

		co.tagged = 0;
		cooked_header(a, hook_id, s, n, skip);
		for (int v1 = 0; v1 < 2; v1++) {
			int made = 0;

			co.cooked = v1 ? ECAP_COOKED_SLL : ECAP_COOKED_SLL2;
			for (unsigned i = 0; i < n && !r; i++) {
				if (!(s[i].dirs & dir) || !s[i].cooked || !s[i].cooked_v1 != !v1)
					continue;
				if (v1 && !made++)
					cooked_v1_header(a);
				r = emit_session(a, hook_id, &co, &s[i], maps);
			}
		}
		ecap_asm_bind(a, skip);
	}
	ecap_asm_emit(a, hook_id == ECAP_HOOK_ID_XDP
			     ? E_MOV32_IMM(BPF_REG_0, XDP_PASS)
			     : E_ALU64_IMM(BPF_MOV, BPF_REG_0, TC_ACT_UNSPEC));
	ecap_asm_emit(a, E_EXIT());
	return r;
}

/* A frame whose tag came out of band (on a frame with its Ethernet header,
 * so the window holds 18 bytes or more): every session's tagged copy, with
 * lengths that count the tag; the rest go on at plain. */
static int emit_tagged(struct ecap_asm *a, unsigned hook_id, struct ecap_xlate_opts *o,
		       const struct ecap_session *s, unsigned n,
		       const struct ecap_session_maps *maps, uint32_t plain)
{
	int r;

	ecap_asm_emit(a, E_LDX(BPF_W, BPF_REG_1, BPF_REG_10, STK_BUFLEN));
	ecap_asm_jmp(a, BPF_JMP32 | BPF_JLT | BPF_K, BPF_REG_1, 0, 14, plain);
	ecap_xlate_count_tag(a);
	o->tagged = 1;
	r = emit_sessions(a, hook_id, o, s, n, maps);
	o->tagged = 0;
	ecap_asm_bind(a, plain);
	return r;
}

int ecap_sessions_program(unsigned hook_id, enum ecap_input input, const struct ecap_session *s,
			  unsigned n, const struct ecap_session_maps *maps,
			  struct bpf_insn **ret_insns, uint32_t *ret_len, char *err, size_t errlen)
{
	struct ecap_xlate_opts o = {
	    .hook = hook_id == ECAP_HOOK_ID_XDP ? ECAP_HOOK_XDP : ECAP_HOOK_TC,
	    .input = input,
	    .access = ECAP_ACCESS_AUTO,
	};
	struct ecap_asm a;
	int r = 0;

	if (hook_id >= ECAP_HOOKS || n > ECAP_MAX_SESSIONS) {
		snprintf(err, errlen, "%u sessions: at most %d", n, ECAP_MAX_SESSIONS);
		return -EINVAL;
	}
	for (unsigned i = 0; i < n; i++) {
		if (s[i].id >= ECAP_MAX_SESSIONS || !s[i].snaplen ||
		    s[i].snaplen > ECAP_SNAPLEN_MAX || s[i].nifindex > ECAP_MAX_SESSION_IFACES ||
		    s[i].ncooked > ECAP_COOKED_IFACES) {
			snprintf(err, errlen, "session %u: id, snaplen or interfaces out of range",
				 s[i].id);
			return -EINVAL;
		}
		/* the cooked header's fields come from the skb of a live packet:
		 * an XDP program leaves a cooked session out (it runs at TC
		 * ingress) */
		if (s[i].cooked && input != ECAP_INPUT_LIVE) {
			snprintf(err, errlen,
				 "session %u: a cooked (LINUX_SLL2) session runs on live TC hooks "
				 "only",
				 s[i].id);
			return -EINVAL;
		}
	}
	ecap_asm_init(&a);
	ecap_xlate_prologue(&a, &o);
	if (o.hook == ECAP_HOOK_XDP && maps->vlan_kfunc) {
		/* the tag the driver took out of the frame, if any: 0 and the tag
		 * at ECAP_STK_VLAN; -ENODATA: the frame came without one;
		 * -EOPNOTSUPP: the driver cannot say (the engine uses this only
		 * where the driver says it can). Then as on TC. */
		uint32_t plain = ecap_asm_label(&a);

		ecap_asm_emit(&a, E_ST(BPF_W, BPF_REG_10, ECAP_STK_VLAN, 0));
		ecap_asm_emit(&a, E_MOV64_REG(BPF_REG_1, BPF_REG_6));
		ecap_asm_emit(&a, E_MOV64_REG(BPF_REG_2, BPF_REG_10));
		ecap_asm_emit(&a, E_ALU64_IMM(BPF_ADD, BPF_REG_2, ECAP_STK_VLAN));
		ecap_asm_emit(&a, E_MOV64_REG(BPF_REG_3, BPF_REG_10));
		ecap_asm_emit(&a, E_ALU64_IMM(BPF_ADD, BPF_REG_3, ECAP_STK_VLAN + 2));
		ecap_asm_emit(&a, ECAP_INSN(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_KFUNC_CALL, 0,
					    (int32_t)maps->vlan_kfunc));
		ecap_asm_jmp(&a, BPF_JMP32 | BPF_JNE | BPF_K, BPF_REG_0, 0, 0, plain);
		r = emit_tagged(&a, hook_id, &o, s, n, maps, plain);
	}
	if (o.hook == ECAP_HOOK_TC) {
		/* a tag out of band: emit_tagged */
		uint32_t plain = ecap_asm_label(&a);

		ecap_asm_emit(&a,
			      E_LDX(BPF_W, BPF_REG_1, BPF_REG_6,
				    input == ECAP_INPUT_TEST
					? offsetof(struct __sk_buff, cb[2]) /* the tag, if any */
					: offsetof(struct __sk_buff, vlan_present)));
		ecap_asm_jmp(&a, BPF_JMP32 | BPF_JEQ | BPF_K, BPF_REG_1, 0, 0, plain);
		r = emit_tagged(&a, hook_id, &o, s, n, maps, plain);
	}
	if (!r)
		r = emit_sessions(&a, hook_id, &o, s, n, maps);
	if (!r)
		r = ecap_asm_finish(&a);
	if (r) {
		snprintf(err, errlen, "generating the sessions program: %s", strerror(-r));
		goto out;
	}
	*ret_insns = malloc(a.len * sizeof(**ret_insns));
	if (!*ret_insns) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(*ret_insns, a.insns, a.len * sizeof(**ret_insns));
	*ret_len = a.len;
out:
	ecap_asm_free(&a);
	return r;
}

int ecap_sessions_load_xdp_bound(const struct ecap_session *s, unsigned n,
				 const struct ecap_session_maps *maps, int ifindex, char *err,
				 size_t errlen)
{
	struct bpf_insn *insns = NULL;
	uint32_t len;
	int r;

	r = ecap_sessions_program(ECAP_HOOK_ID_XDP, ECAP_INPUT_LIVE, s, n, maps, &insns, &len, err,
				  errlen);
	if (r)
		return r;
	r = ecap_prog_load_xdp_bound(insns, len, ifindex, "ecap_xdp", err, errlen);
	free(insns);
	return r;
}

int ecap_sessions_load(unsigned hook_id, enum ecap_input input, const struct ecap_session *s,
		       unsigned n, const struct ecap_session_maps *maps, char *err, size_t errlen)
{
	struct bpf_insn *insns = NULL;
	uint32_t len;
	int r;

	r = ecap_sessions_program(hook_id, input, s, n, maps, &insns, &len, err, errlen);
	if (r)
		return r;
	r = ecap_prog_load(insns, len, hook_id == ECAP_HOOK_ID_XDP ? ECAP_HOOK_XDP : ECAP_HOOK_TC,
			   err, errlen);
	free(insns);
	return r;
}
