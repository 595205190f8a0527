/* filter.h - the filter pipeline shared by edgecap-server and edgecap-agent:
 *
 *   tcpdump expression --compile (libpcap, server)--> classic BPF
 *   classic BPF (untrusted, from the network) --validate--> accepted program
 *   accepted program --translate--> eBPF for an XDP or TC hook
 *   eBPF --load/test-run--> kernel
 *
 * The translated program computes exactly what libpcap's bpf_filter() computes
 * for (packet, wire length, captured length): 0 means drop, anything else is
 * the snap length. docs/filter.md describes the design and the measurements
 * behind it.
 *
 * Classic BPF uses the kernel's struct sock_filter, which has the same layout
 * as libpcap's struct bpf_insn; only compile.c includes pcap.h, whose
 * struct bpf_insn collides with the eBPF one in linux/bpf.h.
 */
#ifndef ECAP_FILTER_H
#define ECAP_FILTER_H

#include <linux/bpf.h>

#include "filter/cbpf.h"
#include "filter/prog.h"

/* xlate.c: classic BPF (already validated) -> eBPF. */
enum ecap_input {
	/* Lengths come from the packet itself: wire length = packet length. */
	ECAP_INPUT_LIVE,
	/* BPF_PROG_TEST_RUN with struct ecap_test_meta in front of the packet
	 * (XDP metadata) or in skb->cb[0..1] (TC): lets a replayed capture
	 * carry its original wire length and a captured length that may be
	 * shorter than the 14 bytes the kernel's test runner insists on. */
	ECAP_INPUT_TEST,
};

enum ecap_access {
	/* Direct packet access when the packet is linear, helper loads otherwise. */
	ECAP_ACCESS_AUTO,
	/* Always bpf_{xdp,skb}_load_bytes: the measured alternative. */
	ECAP_ACCESS_HELPER,
};

struct ecap_xlate_opts {
	enum ecap_hook hook;
	enum ecap_input input;
	enum ecap_access access;
	/* The packet's 802.1Q/802.1ad tag is out of band: on TC in the skb
	 * (__sk_buff vlan_present), on XDP in the driver's receive metadata,
	 * which the caller read into ECAP_STK_VLAN. The filter then sees the
	 * frame as libpcap gives it to a reader: the tag put back at byte 12.
	 * A body's caller must have counted the tag in the lengths
	 * (ecap_xlate_count_tag); ecap_filter_translate does (TC only). */
	int tagged;
	/* TC only (ECAP_COOKED_*): the filter sees the packet as libpcap's
	 * "cooked" capture gives it: LINUX_SLL2 (tcpdump -i any), the 20-byte
	 * header the caller built at ECAP_STK_SLL, or LINUX_SLL (tcpdump -i IF
	 * on PPP, GRE, ip6tnl, ip6gre), the 16-byte one at ECAP_STK_SLL1; then
	 * the packet from its network header, which starts ECAP_STK_L2LEN bytes
	 * into the skb. The lengths on the stack count the header; `len` does
	 * not, as libpcap's filter does not. */
	int cooked;
};

enum { ECAP_COOKED_NONE, ECAP_COOKED_SLL2, ECAP_COOKED_SLL };

/* Translate a validated program. Returns 0, -ENOMEM, or -E2BIG when the
 * result would exceed what eBPF jumps can span (err says so). *ret_insns
 * is malloc'ed. */
int ecap_filter_translate(const struct sock_filter *insns, uint32_t n,
			  const struct ecap_xlate_opts *opts, struct bpf_insn **ret_insns,
			  uint32_t *ret_len, char *err, size_t errlen);

/* The pieces of a translation, for programs that run several filters one
 * after another (the capture engine's session programs). The prologue sets
 * r6 = ctx and the lengths on the stack; a body runs one filter and jumps to
 * `done` with its result in w0, on every path. Bodies use r0-r9 freely (r6
 * is kept) and the stack from ECAP_XLATE_STACK up to the frame pointer. */
#define ECAP_XLATE_WINDOW 128 /* bytes of packet the helper copy keeps on the stack */
#define ECAP_XLATE_STACK  (-80 - ECAP_XLATE_WINDOW)
#define ECAP_STK_WIRELEN  (-68) /* u32: the packet's wire length */
#define ECAP_STK_BUFLEN	  (-76) /* u32: bytes of it present (captured length) */
/* Cooked bodies (opts->cooked) read these, which their caller writes; they
 * lie below ECAP_XLATE_STACK, where bodies write nothing. */
#define ECAP_STK_L2LEN (ECAP_XLATE_STACK - 20) /* u32: link-layer header bytes */
#define ECAP_STK_SLL   (ECAP_XLATE_STACK - 48) /* 24 bytes: the SLL2 header, 4 bytes */
/* u16 after the header: the protocol a filter libpcap runs in the kernel
 * sees (SKF_AD_PROTOCOL) */
#define ECAP_STK_KPROTO (ECAP_STK_SLL + 20)
#define ECAP_SLL2_LEN	20
/* 24 bytes: the SLL (v1) header, made from the SLL2 one, then the kernel
 * filter's protocol (a copy of ECAP_STK_KPROTO), then 6 bytes of zeros */
#define ECAP_STK_SLL1 (ECAP_STK_SLL - 24)
#define ECAP_SLL1_LEN 16
/* XDP, tagged: the tag as bpf_xdp_metadata_rx_vlan_tag wrote it, __be16
 * TPID then u16 TCI (host order); below the bodies' stack and the session
 * program's own slots (sessions.c) */
#define ECAP_STK_VLAN (ECAP_XLATE_STACK - 24)
struct ecap_asm;
void ecap_xlate_prologue(struct ecap_asm *a, const struct ecap_xlate_opts *opts);
int ecap_xlate_body(struct ecap_asm *a, const struct sock_filter *insns, uint32_t n,
		    const struct ecap_xlate_opts *opts, uint32_t done);
/* Store the packet's out-of-band VLAN tag (TPID, then PCP/DEI/VID) in
 * network order at base + off, 4 bytes; clobbers r1. TC: from the
 * __sk_buff (r6), or in test runs (ECAP_INPUT_TEST) from cb[2]
 * (ecap_prog_test_run_tagged); XDP: from ECAP_STK_VLAN. */
void ecap_xlate_vlan_tag(struct ecap_asm *a, enum ecap_hook hook, enum ecap_input input,
			 uint8_t base, int16_t off);
/* After the prologue, for a packet whose tag is out of band: the lengths on
 * the stack count its 4 bytes; clobbers r1. */
void ecap_xlate_count_tag(struct ecap_asm *a);

/* load.c: load into the kernel. Returns the program fd, or -errno with the
 * last lines of the verifier log in err. */
int ecap_prog_load(const struct bpf_insn *insns, uint32_t n, enum ecap_hook hook, char *err,
		   size_t errlen);

/* An XDP program bound to the device ifindex (BPF_F_XDP_DEV_BOUND_ONLY),
 * as programs that call the driver's RX metadata kfuncs must be, named
 * `name`: it can only run there, attached directly (never tail-called).
 * The program fd, or -errno with the reason in err. */
int ecap_prog_load_xdp_bound(const struct bpf_insn *insns, uint32_t n, int ifindex,
			     const char *name, char *err, size_t errlen);

/* Translate a validated program and load it: the program fd, or -errno with
 * the reason in err. */
int ecap_filter_load(const struct sock_filter *insns, uint32_t n,
		     const struct ecap_xlate_opts *opts, char *err, size_t errlen);

#endif
