/* prog.c - runs loaded filters on single packets with BPF_PROG_TEST_RUN,
 * see prog.h. */
#include "filter/prog.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The kernel's test runners refuse packets shorter than an Ethernet header,
 * and (skb, 6.x) packets whose IPv4/IPv6 header is cut short. Shorter
 * captures are padded with zeros; the program reads their real length from
 * the metadata and never looks at the padding. 74 = Ethernet + the longest
 * IPv4 header, longer than Ethernet + IPv6. */
#define TEST_MIN_LEN_XDP 14
#define TEST_MIN_LEN_TC	 74

struct run {
	uint8_t *buf;
	struct xdp_md xdp;
	struct __sk_buff skb;
	struct bpf_test_run_opts opts;
};

static int run_prepare(struct run *t, enum ecap_hook hook, const void *pkt, uint32_t caplen,
		       uint32_t wirelen, uint32_t tag, uint32_t repeat)
{
	uint32_t min = hook == ECAP_HOOK_XDP ? TEST_MIN_LEN_XDP : TEST_MIN_LEN_TC;
	uint32_t len = caplen < min ? min : caplen;
	size_t meta = hook == ECAP_HOOK_XDP ? sizeof(struct ecap_test_meta) : 0;
	struct ecap_test_meta m = {.wirelen = wirelen, .caplen = caplen};

	if (hook == ECAP_HOOK_TC && len > ECAP_TC_TEST_MAX)
		return -EMSGSIZE;

	memset(t, 0, sizeof(*t));
	t->opts.sz = sizeof(t->opts);
	t->buf = calloc(1, meta + len);
	if (!t->buf)
		return -ENOMEM;
	memcpy(t->buf + meta, pkt, caplen);
	t->opts.data_in = t->buf;
	t->opts.data_size_in = meta + len;
	t->opts.repeat = repeat;
	if (hook == ECAP_HOOK_XDP) {
		memcpy(t->buf, &m, sizeof(m));
		t->xdp.data = meta;
		t->xdp.data_end = meta + len;
		t->opts.ctx_in = &t->xdp;
		t->opts.ctx_size_in = sizeof(t->xdp);
	} else {
		t->skb.cb[0] = wirelen;
		t->skb.cb[1] = caplen;
		t->skb.cb[2] = tag;
		t->opts.ctx_in = &t->skb;
		t->opts.ctx_size_in = sizeof(t->skb);
	}
	return 0;
}

/* One BPF_PROG_TEST_RUN of `repeat` runs; fills the result and duration. */
static int test_run(int prog_fd, enum ecap_hook hook, const void *pkt, uint32_t caplen,
		    uint32_t wirelen, uint32_t tag, uint32_t repeat, uint32_t *ret_result,
		    uint32_t *ret_ns)
{
	struct run t;
	int r;

	r = run_prepare(&t, hook, pkt, caplen, wirelen, tag, repeat);
	if (r)
		return r;
	r = bpf_prog_test_run_opts(prog_fd, &t.opts) ? -errno : 0;
	if (!r) {
		*ret_result = t.opts.retval;
		*ret_ns = t.opts.duration;
	}
	free(t.buf);
	return r;
}

int ecap_prog_test_run(int prog_fd, enum ecap_hook hook, const void *pkt, uint32_t caplen,
		       uint32_t wirelen, uint32_t *ret_result)
{
	uint32_t ns;

	return test_run(prog_fd, hook, pkt, caplen, wirelen, 0, 1, ret_result, &ns);
}

int ecap_prog_test_run_tagged(int prog_fd, const void *pkt, uint32_t caplen, uint32_t wirelen,
			      uint32_t tag, uint32_t *ret_result)
{
	uint32_t ns;

	return test_run(prog_fd, ECAP_HOOK_TC, pkt, caplen, wirelen, tag, 1, ret_result, &ns);
}

int ecap_prog_test_time(int prog_fd, enum ecap_hook hook, const void *pkt, uint32_t caplen,
			uint32_t wirelen, uint32_t repeat, double *ret_ns)
{
	uint32_t result, ns;
	int r = test_run(prog_fd, hook, pkt, caplen, wirelen, 0, repeat, &result, &ns);

	if (!r)
		*ret_ns = ns;
	return r;
}
