/* prog.h - running loaded filters on single packets (BPF_PROG_TEST_RUN).
 * Kept apart from filter.h so code that includes libpcap's headers (whose
 * struct bpf_insn collides with linux/bpf.h) can use it. */
#ifndef ECAP_PROG_H
#define ECAP_PROG_H

#include <stdint.h>

enum ecap_hook {
	ECAP_HOOK_XDP, /* BPF_PROG_TYPE_XDP */
	ECAP_HOOK_TC,  /* BPF_PROG_TYPE_SCHED_CLS */
};

/* What an ECAP_INPUT_TEST program reads in front of the packet (XDP
 * metadata) or from skb->cb[0..1] (TC); a tagged one its tag from cb[2]. */
struct ecap_test_meta {
	uint32_t wirelen;
	uint32_t caplen;
};
_Static_assert(sizeof(struct ecap_test_meta) == 8, "test metadata is two u32");

/* Largest packet the kernel's skb test runner accepts (one page less the
 * skb headroom and shared info); larger ones run only as XDP, in frags. */
#define ECAP_TC_TEST_MAX 3712

/* Run a program loaded from an ECAP_INPUT_TEST translation on one packet of
 * caplen bytes and wire length wirelen; *ret_result is the filter's result
 * (the snap length, 0 = drop). Returns 0 or -errno (-EMSGSIZE: a TC run of
 * a packet longer than ECAP_TC_TEST_MAX). */
int ecap_prog_test_run(int prog_fd, enum ecap_hook hook, const void *pkt, uint32_t caplen,
		       uint32_t wirelen, uint32_t *ret_result);

/* The same for a TC program translated with opts.tagged, on a packet whose
 * outer VLAN tag the kernel would hold out of band: pkt is the frame
 * without it, caplen and wirelen its lengths without it, and tag (TPID << 16
 * | TCI) goes in skb->cb[2], where such a program reads the tag in test
 * runs (BPF_PROG_TEST_RUN cannot set the skb's own). */
int ecap_prog_test_run_tagged(int prog_fd, const void *pkt, uint32_t caplen, uint32_t wirelen,
			      uint32_t tag, uint32_t *ret_result);

/* The kernel's average ns per run over `repeat` repetitions of one packet
 * (whole ns; it leaves out time the runner spent rescheduled). */
int ecap_prog_test_time(int prog_fd, enum ecap_hook hook, const void *pkt, uint32_t caplen,
			uint32_t wirelen, uint32_t repeat, double *ret_ns);

#endif
