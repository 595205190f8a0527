/* xdpgen.c - the capture benchmark's packet generator: UDP frames sent
 * through a veth from inside the kernel, at a set rate or as fast as one CPU
 * can.
 *
 *   xdpgen IFNAME FRAME_BYTES COUNT [PPS]
 *
 * It runs a two-instruction XDP program (return XDP_TX) with
 * BPF_PROG_TEST_RUN in live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES, Linux
 * 5.18): the kernel builds each frame from the one given and transmits it out
 * of IFNAME, here into the veth peer's receive queue (which needs NAPI on the
 * peer: GRO on, or an XDP program). The receive path then runs on this CPU as
 * for any frame from a NIC: the peer's XDP program, an skb, GRO, taps, TC.
 * About 0.4 us a packet here, against trafgen's 2.2 us through AF_PACKET,
 * so the generator adds less of its own noise to what the benchmark measures.
 *
 * A test run with repeat > 1 registers its program with the XDP dispatcher
 * and unregisters it after, an RCU grace period each (16-30 ms here). The
 * program is attached to lo (generic mode, lo down: it never runs there) for
 * as long as we run, so it stays registered and a call costs ~20 us.
 *
 * With PPS, one call each millisecond sends what is due by then: bursts of
 * PPS/1000 frames. Without, calls of 65536 until COUNT. The frame: 02:..:01 to
 * 02:..:99 (not the receiver's address: its stack drops the frame early),
 * 10.99.0.1:40000 to 10.99.0.2:5001, UDP, payload 'A's. */
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK 65536

static void frame(uint8_t *p, unsigned len)
{
	static const uint8_t head[42] = {
	    0x02, 0,	0,    0,    0, 0x99, 0x02, 0, 0,  0,  0, 0x01, 0x08, 0x00, /* ethernet */
	    0x45, 0,	0,    0,    0, 1,    0x40, 0, 64, 17, 0, 0,    10,   99,
	    0,	  1,	10,   99,   0, 2,	     /* IPv4 */
	    0x9c, 0x40, 0x13, 0x89, 0, 0,    0,	   0 /* UDP 40000 -> 5001, no checksum */
	};
	uint32_t sum = 0;

	memset(p, 'A', len);
	memcpy(p, head, sizeof(head));
	p[16] = (len - 14) >> 8, p[17] = (len - 14) & 0xff;
	p[38] = (len - 34) >> 8, p[39] = (len - 34) & 0xff;
	for (int i = 14; i < 34; i += 2)
		sum += p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	p[24] = ~sum >> 8, p[25] = ~sum & 0xff;
}

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int send_frames(int prog, const uint8_t *pkt, unsigned len, struct xdp_md *ctx, uint32_t n)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = len, .ctx_in = ctx,
		    .ctx_size_in = sizeof(*ctx), .repeat = n, .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		    .batch_size = 64);

	return bpf_prog_test_run_opts(prog, &o);
}

int main(int argc, char **argv)
{
	static const struct bpf_insn tx[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_TX},
	    {.code = BPF_JMP | BPF_EXIT},
	};
	static uint8_t pkt[9000];
	unsigned len, ifindex;
	uint64_t count, pps = 0, sent = 0;
	int prog, link;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: xdpgen IFNAME FRAME_BYTES COUNT [PPS]\n");
		return 2;
	}
	ifindex = if_nametoindex(argv[1]);
	len = strtoul(argv[2], NULL, 10);
	count = strtoull(argv[3], NULL, 10);
	if (argc == 5)
		pps = strtoull(argv[4], NULL, 10);
	if (!ifindex || len < 60 || len > sizeof(pkt)) {
		fprintf(stderr, "xdpgen: no interface '%s' or frame size not in 60..%zu\n", argv[1],
			sizeof(pkt));
		return 2;
	}
	frame(pkt, len);
	prog = bpf_prog_load(BPF_PROG_TYPE_XDP, "xdpgen", "GPL", tx, 2, NULL);
	if (prog < 0) {
		fprintf(stderr, "xdpgen: loading the XDP program: %s\n", strerror(errno));
		return 2;
	}
	LIBBPF_OPTS(bpf_link_create_opts, lo_opts, .flags = XDP_FLAGS_SKB_MODE);
	link = bpf_link_create(prog, if_nametoindex("lo"), BPF_XDP, &lo_opts);
	if (link < 0) {
		fprintf(stderr, "xdpgen: attaching to lo: %s\n", strerror(errno));
		return 2;
	}
	struct xdp_md ctx = {.data_end = len, .ingress_ifindex = ifindex};
	int64_t t0 = now_ns();

	/* paced: each millisecond's frames at its start, then sleep to the next */
	for (uint64_t ms = 1; sent < count; ms++) {
		uint64_t n = pps ? pps * ms / 1000 : sent + CHUNK;

		n = (n < count ? n : count) - sent;
		if (n && send_frames(prog, pkt, len, &ctx, n)) {
			fprintf(stderr, "xdpgen: live-frames test run on %s: %s\n", argv[1],
				strerror(errno));
			return 2;
		}
		sent += n;
		if (pps) {
			int64_t next = t0 + (int64_t)ms * 1000000;
			struct timespec tick = {next / 1000000000, next % 1000000000};

			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, NULL);
		}
	}
	return 0;
}
