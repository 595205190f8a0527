/* bench_hook.c - `tools/lab bench capture` (hook part): ns per packet of the
 * XDP capture hook under BPF_PROG_TEST_RUN with 0, 1, 4 and 8 sessions
 * installed, against a bare XDP_PASS program measured in the same run. The
 * sessions' filters ("udp port 5000+i") do not match the packet (a TCP SYN),
 * which is the common case for a capture; a last row has one matching
 * session, so a record is written (the ring is drained between rounds).
 * Target: with no session, at most 5 ns over bare XDP_PASS. */
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "filter/ebpf.h"
#include "capture/engine.h"
#include "record.h"
#include "capture/sessions.h"
#include "filter/compile.h"

#define REPEAT 200000
#define ROUNDS 9

static const uint8_t syn[60] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99,
				0xaa, 0xbb, 0x08, 0x00, 0x45, 0x00, 0x00, 0x28, 0x00, 0x01,
				0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01,
				0x0a, 0x00, 0x00, 0x02, 0xd4, 0x31, 0x00, 0x50, 0,    0,
				0,    0,    0,	  0,	0,    0,    0x50, 0x02, 0x04, 0x00};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int discard(void *ctx, void *data, size_t len)
{
	return 0;
}

/* Median over rounds of (fd's ns - bare's ns), measured back to back. */
static double over_bare(int fd, int bare, struct ring_buffer *rb, double *ret_bare)
{
	double d[ROUNDS], b[ROUNDS];

	for (int r = 0; r < ROUNDS; r++) {
		double ns = 0, bns = 0;

		ecap_prog_test_time(bare, ECAP_HOOK_XDP, syn, sizeof(syn), sizeof(syn), REPEAT,
				    &bns);
		ecap_prog_test_time(fd, ECAP_HOOK_XDP, syn, sizeof(syn), sizeof(syn), REPEAT, &ns);
		ring_buffer__consume(rb);
		d[r] = ns - bns;
		b[r] = bns;
	}
	qsort(d, ROUNDS, sizeof(*d), cmp_double);
	qsort(b, ROUNDS, sizeof(*b), cmp_double);
	*ret_bare = b[ROUNDS / 2];
	return d[ROUNDS / 2];
}

int main(void)
{
	struct bpf_insn pass[] = {E_MOV32_IMM(BPF_REG_0, XDP_PASS), E_EXIT()};
	/* 64 MiB: a round of REPEAT records (about 104 bytes each) never fills it */
	struct ecap_engine_opts eo = {.ring_bytes = 1 << 26};
	struct ecap_cbpf progs[ECAP_MAX_SESSIONS] = {{0}};
	struct ecap_session s[ECAP_MAX_SESSIONS];
	static const unsigned counts[] = {0, 1, 4, 8};
	struct ecap_session_maps maps;
	struct ecap_engine *e;
	struct ring_buffer *rb;
	char err[ECAP_ERRLEN], expr[48];
	double bare_ns = 0, d;
	int bare, hook;

	if (geteuid() != 0) {
		fprintf(stderr, "bench_hook: needs root for bpf()\n");
		return 2;
	}
	if (ecap_engine_open(&eo, &e, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	maps = (struct ecap_session_maps){.ring_fd = ecap_engine_ring_fd(e),
					  .counters_fd = ecap_engine_counters_fd(e),
					  .clock_fd = ecap_engine_clock_fd(e)};
	rb = ring_buffer__new(maps.ring_fd, discard, NULL, NULL);
	bare = ecap_prog_load(pass, 2, ECAP_HOOK_XDP, err, sizeof(err));
	hook = ecap_engine_hook_fd(e, ECAP_HOOK_ID_XDP);
	if (bare < 0 || !rb) {
		fprintf(stderr, "bench_hook: %s\n", err);
		return 2;
	}
	for (uint8_t i = 0; i < ECAP_MAX_SESSIONS; i++) {
		snprintf(expr, sizeof(expr), "udp port %d", 5000 + i);
		if (ecap_filter_compile(expr, ECAP_LINKTYPE_EN10MB, ECAP_SNAPLEN_DEFAULT, &progs[i],
					err, sizeof(err)))
			return 2;
		s[i] = (struct ecap_session){.id = i,
					     .insns = progs[i].insns,
					     .len = progs[i].len,
					     .snaplen = 262144,
					     .dirs = ECAP_DIR_IN};
	}

	printf("| sessions installed | XDP hook, ns/packet over bare XDP_PASS |\n|---:|---:|\n");
	for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
		int fd = -1;

		if (counts[k]) {
			fd = ecap_sessions_load(ECAP_HOOK_ID_XDP, ECAP_INPUT_LIVE, s, counts[k],
						&maps, err, sizeof(err));
			if (fd < 0 || ecap_engine_set_slot(e, ECAP_HOOK_ID_XDP, fd)) {
				fprintf(stderr, "bench_hook: %s\n", err);
				return 2;
			}
		}
		d = over_bare(hook, bare, rb, &bare_ns);
		printf("| %u (none matching) | %.1f |\n", counts[k], d);
		snprintf(expr, sizeof(expr), "%u sessions, none matching", counts[k]);
		bench_record(json_pack("{ss ss ss ss sf ss?}", "bench", "capture", "case", expr,
				       "metric", "hook ns/packet over bare XDP_PASS", "ours",
				       "XDP hook", "ours_value", d, "target",
				       counts[k] ? NULL : "<=5"));
		if (fd >= 0)
			close(fd);
	}
	/* one session that matches: the cost of writing a 60-byte record */
	ecap_cbpf_free(&progs[0]);
	ecap_filter_compile("tcp", ECAP_LINKTYPE_EN10MB, ECAP_SNAPLEN_DEFAULT, &progs[0], err,
			    sizeof(err));
	s[0].insns = progs[0].insns;
	s[0].len = progs[0].len;
	{
		int fd = ecap_sessions_load(ECAP_HOOK_ID_XDP, ECAP_INPUT_LIVE, s, 1, &maps, err,
					    sizeof(err));

		if (fd < 0 || ecap_engine_set_slot(e, ECAP_HOOK_ID_XDP, fd))
			return 2;
		d = over_bare(hook, bare, rb, &bare_ns);
		printf("| 1 (matching: record written) | %.1f |\n", d);
		bench_record(json_pack("{ss ss ss ss sf}", "bench", "capture", "case",
				       "1 session, matching: record written", "metric",
				       "hook ns/packet over bare XDP_PASS", "ours", "XDP hook",
				       "ours_value", d));
		close(fd);
	}
	printf("\nbare XDP_PASS: %.1f ns per run (the test runner's own cost); median of %d "
	       "rounds of %d runs on a 60-byte TCP SYN\n",
	       bare_ns, ROUNDS, REPEAT);
	ring_buffer__free(rb);
	for (int i = 0; i < ECAP_MAX_SESSIONS; i++)
		ecap_cbpf_free(&progs[i]);
	close(bare);
	ecap_engine_close(e);
	return 0;
}
