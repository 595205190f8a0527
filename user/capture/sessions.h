/* sessions.h - generates the program a capture hook tail-calls into: every
 * active session's filter, one after the other, each matching packet written
 * to the ring buffer as a struct ecap_rec (a pcapng EPB), with per-CPU
 * counters.
 * A packet that matches two sessions is delivered to both. */
#ifndef ECAP_SESSIONS_H
#define ECAP_SESSIONS_H

#include "capture.h"
#include "filter/filter.h"

/* An interface of a cooked session: what its SLL2 or SLL header says of
 * it, and where its packets' network header starts at the TC hooks. */
struct ecap_cooked_if {
	int ifindex;
	uint16_t hatype; /* ARPHRD_* */
	uint8_t halen;	 /* link-layer address bytes (0, 4 or 6), at haddr_at in the skb */
	uint8_t haddr_at;
	uint8_t l2len;	/* link-layer header bytes: 14 (Ethernet, loopback) or 0 */
	uint8_t txvlan; /* ECAP_VLAN_TX_*: the tag types the device inserts itself */
	/* GRE and ip6gre without a remote (linktype.c): on egress, out_hdr
	 * bytes of outer IP and GRE headers before the packet; with gre4_in,
	 * on ingress the outer IPv4 and GRE headers of each packet, of the
	 * length they give */
	uint8_t out_hdr;
	uint8_t gre4_in;
};

/* Interfaces a cooked session may list. */
#define ECAP_COOKED_IFACES 64

struct ecap_session {
	uint8_t id;			 /* 0..ECAP_MAX_SESSIONS-1: counters index, in records */
	const struct sock_filter *insns; /* validated classic BPF */
	uint32_t len;
	uint32_t snaplen;		      /* 1..ECAP_SNAPLEN_MAX */
	unsigned dirs;			      /* ECAP_DIR_IN | ECAP_DIR_OUT */
	uint32_t nifindex;		      /* 0: every interface the hooks are attached to */
	int ifindex[ECAP_MAX_SESSION_IFACES]; /* counters are kept per position here */
	/* non-NULL: a cooked session, which captures as tcpdump -i any does
	 * (LINUX_SLL2: the header, then the packet from its network header) on
	 * the TC hooks of these interfaces, the others' packets left out; the
	 * program must be regenerated for an interface added to the list */
	const struct ecap_cooked_if *cooked;
	uint32_t ncooked;
	/* with cooked: LINUX_SLL (v1, 16 bytes: tcpdump -i IF on PPP, GRE,
	 * ip6tnl, ip6gre) rather than LINUX_SLL2 */
	int cooked_v1;
};

struct ecap_session_maps {
	int ring_fd, counters_fd, scratch_fd;
	int clock_fd; /* array: REALTIME - BOOTTIME, s64 ns */
	/* array of one u32: the sessions switched on, a bit each by id; a
	 * session whose bit is clear is skipped. 0: no such test */
	int on_fd;
	/* Wake the ring's consumer only once this many bytes wait in it (the
	 * consumer also drains on a timer); 0 wakes it on every record. One
	 * wakeup per record costs several microseconds at high rates. */
	uint32_t wake_bytes;
	/* XDP: the vmlinux BTF id of bpf_xdp_metadata_rx_vlan_tag (Linux 6.8),
	 * called for the tag the driver keeps out of band; the program must be
	 * loaded bound to the device (ecap_sessions_load_xdp_bound). 0: none */
	uint32_t vlan_kfunc;
	/* Interfaces whose ingress XDP captures while TC ingress is attached
	 * too (for a cooked session, which runs on TC only): at TC ingress the
	 * other sessions leave their packets out, so each is recorded once. */
	const int *xdp_in;
	uint32_t nxdp_in;
};

/* The program for hook_id (ECAP_HOOK_ID_*), running the sessions whose
 * direction that hook serves. input is ECAP_INPUT_LIVE for the hooks,
 * ECAP_INPUT_TEST for BPF_PROG_TEST_RUN. Returns 0 with a malloc'ed
 * program, or -errno with err set. */
int ecap_sessions_program(unsigned hook_id, enum ecap_input input, const struct ecap_session *s,
			  unsigned n, const struct ecap_session_maps *maps,
			  struct bpf_insn **ret_insns, uint32_t *ret_len, char *err, size_t errlen);

/* Translate and load it: the program fd, or -errno with err set. */
int ecap_sessions_load(unsigned hook_id, enum ecap_input input, const struct ecap_session *s,
		       unsigned n, const struct ecap_session_maps *maps, char *err, size_t errlen);

/* The XDP program, loaded bound to the device ifindex and named as the
 * XDP hook is (ecap_xdp): attached in its place, not tail-called. */
int ecap_sessions_load_xdp_bound(const struct ecap_session *s, unsigned n,
				 const struct ecap_session_maps *maps, int ifindex, char *err,
				 size_t errlen);

#endif
