/* test_sessions.c - the generated sessions program in the kernel: records in
 * the ring buffer carry the right session, direction, lengths and bytes, as
 * whole pcapng blocks with wall clock time; a
 * packet matching several sessions reaches each; counters add up, including
 * when the ring is full (captured + dropped == matched); a VLAN tag kept out
 * of band is put back; and a capture hook tail-calls into it. */
#include <errno.h>
#include <linux/pkt_cls.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "capture.h"
#include "capture/engine.h"
#include "capture/sessions.h"
#include "filter/compile.h"

#define MAXREC 64

struct got {
	struct ecap_rec rec[MAXREC];
	uint8_t data[MAXREC][128];
	unsigned n;
};

static struct ecap_engine *eng;
static struct ecap_engine *counters_of; /* the engine whose maps are in use */
static struct ecap_session_maps maps;
static struct ecap_cbpf progs[ECAP_MAX_SESSIONS];
static uint8_t dns[80], tcp[70];

static uint64_t ts_of(const struct ecap_rec *r)
{
	return (uint64_t)r->ts_high << 32 | r->ts_low;
}

/* NULL if the record (len bytes) is a well-formed EPB for interface block
 * if_id: its header, zero padding, the epb_flags option with the direction,
 * opt_endofopt, and block_len at both ends; else what is wrong */
static const char *epb_wrong(const struct ecap_rec *r, size_t len, uint32_t if_id)
{
	const uint8_t *p = (const uint8_t *)(r + 1);
	uint32_t pad = ((r->caplen + 3) & ~3u) - r->caplen, t[4];

	if (len < sizeof(*r) || len < sizeof(*r) + r->caplen + pad + sizeof(t))
		return "short record";
	if (r->block_type != 6 || r->block_len != 28 + r->caplen + pad + 16)
		return "block type or length";
	if (r->if_id != if_id || r->pad != 0)
		return "interface block or padding of the header";
	for (uint32_t i = 0; i < pad; i++)
		if (p[r->caplen + i])
			return "padding after the data";
	memcpy(t, p + r->caplen + pad, sizeof(t));
	if (t[0] != (2 | 4u << 16) || t[1] != r->dir || t[2] != 0 || t[3] != r->block_len)
		return "options or trailing length";
	return NULL;
}

static int on_record(void *ctx, void *data, size_t len)
{
	struct got *g = ctx;
	const struct ecap_rec *r = data;
	const char *wrong = epb_wrong(r, len, ECAP_IDB_ID(0, ECAP_DIR_IN | ECAP_DIR_OUT, r->dir));

	if (wrong)
		fail_msg("record %u: %s", g->n, wrong);
	/* reservations come in size classes: less than twice the data, with
	 * the block's 16 bytes after it and 4 spare */
	assert_true(len - sizeof(*r) - 20 <= (r->caplen < 64 ? 64 : 2 * r->caplen));
	if (g->n < MAXREC) {
		g->rec[g->n] = *r;
		memcpy(g->data[g->n], r + 1, r->caplen < 128 ? r->caplen : 128);
	}
	g->n++;
	return 0;
}

static void drain(struct got *g)
{
	struct ring_buffer *rb = ring_buffer__new(maps.ring_fd, on_record, g, NULL);

	memset(g, 0, sizeof(*g));
	assert_non_null(rb);
	assert_true(ring_buffer__consume(rb) >= 0);
	ring_buffer__free(rb);
}

static struct ecap_counters counters_at(unsigned id, unsigned hook, unsigned iface)
{
	struct ecap_counters c;

	assert_int_equal(ecap_engine_counters(counters_of, id, hook, iface, &c), 0);
	return c;
}

static struct ecap_counters counters(unsigned id, unsigned hook)
{
	return counters_at(id, hook, 0);
}

static void zero_counters(void)
{
	int ncpu = libbpf_num_possible_cpus();
	struct ecap_counters *v = calloc(ncpu, sizeof(*v));

	for (__u32 key = 0; key < ECAP_COUNTERS_ENTRIES; key++)
		assert_int_equal(bpf_map_update_elem(maps.counters_fd, &key, v, BPF_ANY), 0);
	free(v);
}

static struct ecap_session session(uint8_t id, const char *expr, uint32_t snaplen)
{
	char err[ECAP_ERRLEN];

	ecap_cbpf_free(&progs[id]);
	assert_int_equal(ecap_filter_compile(expr, ECAP_LINKTYPE_EN10MB, ECAP_SNAPLEN_DEFAULT,
					     &progs[id], err, sizeof(err)),
			 0);
	return (struct ecap_session){.id = id,
				     .insns = progs[id].insns,
				     .len = progs[id].len,
				     .snaplen = snaplen,
				     .dirs = ECAP_DIR_IN | ECAP_DIR_OUT};
}

static int load(unsigned hook, enum ecap_input in, const struct ecap_session *s, unsigned n)
{
	char err[ECAP_ERRLEN];
	int fd = ecap_sessions_load(hook, in, s, n, &maps, err, sizeof(err));

	if (fd < 0)
		fail_msg("%s", err);
	return fd;
}

static uint32_t run(int fd, enum ecap_hook hook, const uint8_t *pkt, uint32_t caplen,
		    uint32_t wirelen)
{
	uint32_t ret = 0;

	assert_int_equal(ecap_prog_test_run(fd, hook, pkt, caplen, wirelen, &ret), 0);
	return ret;
}

static int setup(void **s)
{
	struct ecap_engine_opts o = {.ring_bytes = 1 << 16};
	char err[ECAP_ERRLEN];

	if (ecap_engine_open(&o, &eng, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	maps.ring_fd = ecap_engine_ring_fd(eng);
	maps.counters_fd = ecap_engine_counters_fd(eng);
	maps.clock_fd = ecap_engine_clock_fd(eng);
	counters_of = eng;
	/* IPv4 UDP 10.0.0.1:4242 -> 10.0.0.2:53, and IPv4 TCP to :80 */
	memcpy(dns,
	       "\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00\x45\x00\x00\x42"
	       "\x00\x01\x00\x00\x40\x11\x00\x00\x0a\x00\x00\x01\x0a\x00\x00\x02\x10\x92\x00\x35",
	       38);
	for (unsigned i = 38; i < sizeof(dns); i++)
		dns[i] = (uint8_t)i;
	memcpy(tcp, dns, 34);
	tcp[23] = 6;
	memcpy(tcp + 34, "\x10\x92\x00\x50", 4);
	return 0;
}

static int teardown(void **s)
{
	for (int i = 0; i < ECAP_MAX_SESSIONS; i++)
		ecap_cbpf_free(&progs[i]);
	ecap_engine_close(eng);
	return 0;
}

static void two_sessions(void **st)
{
	struct ecap_session s[2] = {session(0, "udp", 262144), session(1, "udp port 53", 50)};
	int fd = load(ECAP_HOOK_ID_XDP, ECAP_INPUT_TEST, s, 2);
	struct got g;
	uint64_t t0, t1;

	zero_counters();
	t0 = (uint64_t)ecap_now_ns(CLOCK_REALTIME);
	assert_int_equal(run(fd, ECAP_HOOK_XDP, dns, sizeof(dns), sizeof(dns)), XDP_PASS);
	assert_int_equal(run(fd, ECAP_HOOK_XDP, tcp, sizeof(tcp), sizeof(tcp)), XDP_PASS);
	/* a capture of 30 bytes of a 80-byte packet: "udp" matches, while "udp
	 * port 53" reads past the captured bytes and, as in libpcap, does not */
	assert_int_equal(run(fd, ECAP_HOOK_XDP, dns, 30, sizeof(dns)), XDP_PASS);
	t1 = (uint64_t)ecap_now_ns(CLOCK_REALTIME);
	drain(&g);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.rec[0].session, 0);
	assert_int_equal(g.rec[0].caplen, 80);
	assert_int_equal(g.rec[0].wirelen, 80);
	assert_int_equal(g.rec[0].dir, ECAP_DIR_IN);
	assert_memory_equal(g.data[0], dns, 80);
	assert_int_equal(g.rec[1].session, 1);
	assert_int_equal(g.rec[1].caplen, 50); /* its snaplen */
	assert_memory_equal(g.data[1], dns, 50);
	/* wall clock time, within the pairing's error (microseconds) */
	assert_true(ts_of(&g.rec[0]) + 1000000 >= t0 && ts_of(&g.rec[2]) <= t1 + 1000000);
	assert_true(ts_of(&g.rec[1]) >= ts_of(&g.rec[0]) && ts_of(&g.rec[2]) >= ts_of(&g.rec[1]));
	assert_int_equal(g.rec[2].session, 0);
	assert_int_equal(g.rec[2].caplen, 30); /* only what was captured */
	assert_int_equal(g.rec[2].wirelen, 80);
	assert_memory_equal(g.data[2], dns, 30);
	assert_int_equal(counters(0, ECAP_HOOK_ID_XDP).seen, 3);
	assert_int_equal(counters(0, ECAP_HOOK_ID_XDP).matched, 2);
	assert_int_equal(counters(0, ECAP_HOOK_ID_XDP).captured, 2);
	assert_int_equal(counters(1, ECAP_HOOK_ID_XDP).seen, 3);
	assert_int_equal(counters(1, ECAP_HOOK_ID_XDP).matched, 1);
	assert_int_equal(counters(1, ECAP_HOOK_ID_XDP).dropped, 0);
	close(fd);
}

static void eight_sessions_and_egress(void **st)
{
	static const char *exprs[ECAP_MAX_SESSIONS] = {
	    "udp",     "tcp", "ip", "port 53", "port 80", "ip6", "ether src 66:77:88:99:aa:bb",
	    "len > 75"};
	struct ecap_session s[ECAP_MAX_SESSIONS];
	unsigned seen_by[ECAP_MAX_SESSIONS] = {0};
	struct got g;
	int fd;

	for (uint8_t i = 0; i < ECAP_MAX_SESSIONS; i++)
		s[i] = session(i, exprs[i], 1514);
	s[2].dirs = ECAP_DIR_IN; /* not on egress */
	fd = load(ECAP_HOOK_ID_TC_OUT, ECAP_INPUT_TEST, s, ECAP_MAX_SESSIONS);
	zero_counters();
	assert_int_equal(run(fd, ECAP_HOOK_TC, dns, sizeof(dns), sizeof(dns)),
			 (uint32_t)TC_ACT_UNSPEC);
	drain(&g);
	for (unsigned i = 0; i < g.n; i++) {
		assert_int_equal(g.rec[i].dir, ECAP_DIR_OUT);
		seen_by[g.rec[i].session]++;
	}
	/* udp, port 53, ether src, len > 75: four sessions, one record each */
	assert_int_equal(g.n, 4);
	assert_int_equal(seen_by[0] + seen_by[3] + seen_by[6] + seen_by[7], 4);
	assert_int_equal(counters(2, ECAP_HOOK_ID_TC_OUT).seen, 0);
	assert_int_equal(counters(1, ECAP_HOOK_ID_TC_OUT).seen, 1);
	assert_int_equal(counters(1, ECAP_HOOK_ID_TC_OUT).matched, 0);
	close(fd);
}

/* the block of the interface at position 1, inbound, of a session on both
 * directions (ECAP_IDB_ID): 2 */
static int position_1(void *ctx, void *data, size_t len)
{
	const char *wrong = epb_wrong(data, len, 2);

	if (wrong)
		fail_msg("%s", wrong);
	++*(unsigned *)ctx;
	return 0;
}

static void interface_gate(void **st)
{
	struct ecap_session s = session(0, "", 262144);
	unsigned n = 0;
	struct ring_buffer *rb = ring_buffer__new(maps.ring_fd, position_1, &n, NULL);
	struct got g;
	int fd;

	s.nifindex = 1;
	s.ifindex[0] = 123456; /* no such interface */
	fd = load(ECAP_HOOK_ID_XDP, ECAP_INPUT_TEST, &s, 1);
	zero_counters();
	run(fd, ECAP_HOOK_XDP, dns, sizeof(dns), sizeof(dns));
	drain(&g);
	assert_int_equal(g.n, 0);
	assert_int_equal(counters(0, ECAP_HOOK_ID_XDP).seen, 0);
	close(fd);

	/* test runs arrive on loopback (ifindex 1): counted at its position */
	s.nifindex = 3;
	s.ifindex[1] = 1;
	s.ifindex[2] = 654321;
	fd = load(ECAP_HOOK_ID_XDP, ECAP_INPUT_TEST, &s, 1);
	run(fd, ECAP_HOOK_XDP, dns, sizeof(dns), sizeof(dns));
	assert_true(ring_buffer__consume(rb) >= 0);
	assert_int_equal(n, 1);
	assert_int_equal(counters_at(0, ECAP_HOOK_ID_XDP, 0).seen, 0);
	assert_int_equal(counters_at(0, ECAP_HOOK_ID_XDP, 1).seen, 1);
	assert_int_equal(counters_at(0, ECAP_HOOK_ID_XDP, 1).captured, 1);
	assert_int_equal(counters_at(0, ECAP_HOOK_ID_XDP, 2).seen, 0);
	close(fd);
	ring_buffer__free(rb);
}

static void ring_full(void **st)
{
	static uint8_t big[3000];
	struct ecap_engine_opts o = {.ring_bytes = 4096 * 4};
	struct ecap_session_maps saved = maps;
	struct ecap_engine *small;
	struct ecap_counters c;
	char err[ECAP_ERRLEN];
	struct ecap_session s;
	struct got g;
	int fd;

	assert_int_equal(ecap_engine_open(&o, &small, err, sizeof(err)), 0);
	maps.ring_fd = ecap_engine_ring_fd(small);
	maps.counters_fd = ecap_engine_counters_fd(small);
	maps.clock_fd = ecap_engine_clock_fd(small);
	counters_of = small;
	memcpy(big, dns, sizeof(dns));
	s = session(0, "udp", 262144);
	fd = load(ECAP_HOOK_ID_XDP, ECAP_INPUT_TEST, &s, 1);
	for (int i = 0; i < 20; i++) /* nobody drains the ring meanwhile */
		run(fd, ECAP_HOOK_XDP, big, sizeof(big), sizeof(big));
	c = counters(0, ECAP_HOOK_ID_XDP);
	drain(&g);
	assert_int_equal(c.matched, 20);
	assert_true(c.captured >= 1 && c.dropped >= 1);
	assert_int_equal(c.captured + c.dropped, c.matched);
	assert_int_equal(g.n, c.captured);
	close(fd);
	ecap_engine_close(small);
	maps = saved;
	counters_of = eng;
}

/* The consumer is woken when a record takes what waits in the ring to
 * wake_bytes, once, and not again for each record past it (an interrupt a
 * packet while the consumer lags). An edge-triggered epoll on the ring sees
 * each wake-up. */
static void wakes_once_at_the_threshold(void **st)
{
	const uint32_t fp =
	    (8 + sizeof(struct ecap_rec) + 64 + 20 + 7) & ~7u; /* a record in the ring */
	struct ecap_session_maps saved = maps;
	struct ecap_session s = session(0, "udp", 64);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET};
	struct got g;
	int fd, ep = epoll_create1(EPOLL_CLOEXEC);

	assert_true(ep >= 0);
	drain(&g);
	maps.wake_bytes = 4096;
	fd = load(ECAP_HOOK_ID_XDP, ECAP_INPUT_TEST, &s, 1);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, maps.ring_fd, &ev), 0);
	for (int round = 0; round < 2; round++) {
		int woken = -1;

		while (epoll_wait(ep, &ev, 1, 0) > 0) /* the drain's, if any */
			;
		for (uint32_t i = 0; i < 2 * 4096 / fp; i++) {
			run(fd, ECAP_HOOK_XDP, dns, sizeof(dns), sizeof(dns));
			if (epoll_wait(ep, &ev, 1, 0) > 0) {
				if (woken >= 0)
					fail_msg("round %d: woken again at record %u (first at %d)",
						 round, i, woken);
				woken = (int)i;
			}
		}
		/* record i (from 0) brings (i + 1) * fp bytes */
		assert_int_equal(woken, (4096 + fp - 1) / fp - 1);
		drain(&g);
		assert_int_equal(g.n, 2 * 4096 / fp);
	}
	close(fd);
	close(ep);
	maps = saved;
}

static void through_the_hook(void **st)
{
	struct ecap_session s = session(0, "udp port 53", 64);
	struct got g;
	uint32_t ret = 0;
	int fd = load(ECAP_HOOK_ID_XDP, ECAP_INPUT_LIVE, &s, 1);

	assert_int_equal(ecap_engine_set_slot(eng, ECAP_HOOK_ID_XDP, fd), 0);
	assert_int_equal(ecap_prog_test_run(ecap_engine_hook_fd(eng, ECAP_HOOK_ID_XDP),
					    ECAP_HOOK_XDP, dns, sizeof(dns), sizeof(dns), &ret),
			 0);
	assert_int_equal(ret, XDP_PASS);
	drain(&g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.rec[0].caplen, 64);
	assert_int_equal(g.rec[0].wirelen, 80);
	assert_int_equal(ecap_engine_set_slot(eng, ECAP_HOOK_ID_XDP, -1), 0);
	close(fd);
}

struct want {
	const uint8_t *pkt;
	uint32_t caplen, wirelen;
	unsigned n, good;
};

static int check_record(void *ctx, void *data, size_t len)
{
	struct want *w = ctx;
	const struct ecap_rec *r = data;

	w->n++;
	w->good += r->caplen == w->caplen && r->wirelen == w->wirelen &&
		   !epb_wrong(r, len, ECAP_IDB_ID(0, ECAP_DIR_IN | ECAP_DIR_OUT, ECAP_DIR_IN)) &&
		   !memcmp(r + 1, w->pkt, r->caplen);
	return 0;
}

/* Records hold exactly the packet's first caplen bytes, then the block's
 * padding and trailer, for every length around the copy's 8-byte words and
 * 64-byte blocks, up to past the largest copied without a helper call, and
 * for snaplens that cut anywhere. */
static void copies_every_length(void **st)
{
	static const uint32_t snaplens[] = {1,	 7,   8,   9,	63,  64,  65,  100,
					    127, 128, 200, 255, 256, 257, 300, 262144};
	static const unsigned hooks[] = {ECAP_HOOK_ID_XDP, ECAP_HOOK_ID_TC_IN};
	static uint8_t pkt[340];
	struct ring_buffer *rb;
	struct want w = {.pkt = pkt};

	memcpy(pkt, dns, sizeof(dns));
	for (unsigned i = sizeof(dns); i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 7 + 1);
	rb = ring_buffer__new(maps.ring_fd, check_record, &w, NULL);
	assert_non_null(rb);
	for (unsigned h = 0; h < 2; h++) {
		enum ecap_hook hook = hooks[h] == ECAP_HOOK_ID_XDP ? ECAP_HOOK_XDP : ECAP_HOOK_TC;

		for (unsigned k = 0; k < sizeof(snaplens) / sizeof(snaplens[0]); k++) {
			struct ecap_session s = session(0, "", snaplens[k]);
			int fd = load(hooks[h], ECAP_INPUT_TEST, &s, 1);

			for (uint32_t len = 14; len <= sizeof(pkt); len++) {
				w.wirelen = len;
				w.caplen = len < snaplens[k] ? len : snaplens[k];
				w.n = w.good = 0;
				run(fd, hook, pkt, len, len);
				assert_true(ring_buffer__consume(rb) >= 0);
				if (w.n != 1 || w.good != 1)
					fail_msg(
					    "hook %u snaplen %u length %u: %u records, %u right",
					    hooks[h], snaplens[k], len, w.n, w.good);
			}
			close(fd);
		}
	}
	ring_buffer__free(rb);
}

/* A TC packet with its VLAN tag out of band (test runs take it from
 * cb[2]): the filter sees the frame with the tag at byte 12, and the record
 * holds that frame, 4 bytes longer, for every length and snaplen as above. */
static void copies_tagged_frames(void **st)
{
	static const uint32_t snaplens[] = {1,	7,   8,	  12,  13,  15,	 16,  17,
					    64, 100, 128, 255, 256, 257, 300, 262144};
	static const uint32_t tag = 0x88a8u << 16 | 3 << 13 | 1 << 12 | 200;
	static uint8_t pkt[340], tagged[344];
	struct ring_buffer *rb;
	struct want w = {.pkt = tagged};
	uint32_t ret;

	memcpy(pkt, dns, sizeof(dns));
	for (unsigned i = sizeof(dns); i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 7 + 1);
	memcpy(tagged, pkt, 12);
	memcpy(tagged + 12, "\x88\xa8\x70\xc8", 4);
	memcpy(tagged + 16, pkt + 12, sizeof(pkt) - 12);
	rb = ring_buffer__new(maps.ring_fd, check_record, &w, NULL);
	assert_non_null(rb);
	for (unsigned k = 0; k < sizeof(snaplens) / sizeof(snaplens[0]); k++) {
		struct ecap_session s = session(0, "vlan 200 and ip", snaplens[k]);
		int fd = load(ECAP_HOOK_ID_TC_IN, ECAP_INPUT_TEST, &s, 1);

		for (uint32_t len = 14; len <= sizeof(pkt); len++) {
			w.wirelen = len + 4;
			w.caplen = len + 4 < snaplens[k] ? len + 4 : snaplens[k];
			w.n = w.good = 0;
			assert_int_equal(ecap_prog_test_run_tagged(fd, pkt, len, len, tag, &ret),
					 0);
			assert_int_equal((int32_t)ret, TC_ACT_UNSPEC);
			assert_true(ring_buffer__consume(rb) >= 0);
			if (w.n != 1 || w.good != 1)
				fail_msg("tagged, snaplen %u length %u: %u records, %u right",
					 snaplens[k], len, w.n, w.good);
			/* the same frame with its tag in the bytes: not ours to add */
			w.n = 0;
			run(fd, ECAP_HOOK_TC, pkt, len, len);
			assert_true(ring_buffer__consume(rb) >= 0);
			assert_int_equal(w.n, 0);
		}
		close(fd);
	}
	ring_buffer__free(rb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(two_sessions),	   cmocka_unit_test(eight_sessions_and_egress),
	    cmocka_unit_test(interface_gate),	   cmocka_unit_test(ring_full),
	    cmocka_unit_test(through_the_hook),	   cmocka_unit_test(wakes_once_at_the_threshold),
	    cmocka_unit_test(copies_every_length), cmocka_unit_test(copies_tagged_frames),
	};

	if (geteuid() != 0) {
		printf("SKIP: needs root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
