/* streamer.h - drains the capture ring buffer into pcapng (or pcap) with an
 * io_uring loop: a poll request on the ring buffer's fd, a periodic timeout
 * for batch flushes, limits and clock refresh, a poll on a stop fd, and write
 * requests for the output. Kernel timestamps (CLOCK_BOOTTIME) become wall
 * clock time through a paired BOOTTIME/REALTIME reading, refreshed every
 * second. */
#ifndef ECAP_STREAMER_H
#define ECAP_STREAMER_H

#include <net/if.h>
#include <stdint.h>

struct ecap_engine;

struct ecap_stream_iface {
	int ifindex;
	char name[IF_NAMESIZE];
};

struct ecap_stream_opts {
	int out_fd;
	int pcap; /* classic pcap (nanosecond) instead of pcapng */
	uint8_t session;
	uint32_t snaplen;
	unsigned dirs; /* ECAP_DIR_IN | ECAP_DIR_OUT: which interface blocks exist */
	const struct ecap_stream_iface *ifaces;
	unsigned nifaces;
	uint64_t count;      /* stop after this many packets written; 0: no limit */
	uint32_t duration_s; /* stop after this long; 0: no limit */
	int stop_fd;         /* readable means stop (a signalfd); -1: none */
};

struct ecap_stream_stats {
	uint64_t written;  /* packets written to the output */
	uint64_t seen;     /* packets the hooks ran the filter on */
	uint64_t matched;  /* accepted by the filter */
	uint64_t captured; /* put in the ring by the kernel */
	uint64_t dropped;  /* accepted but lost: ring full */
};

/* Runs until a limit, the stop fd, or an error; then empties the session's
 * slots, drains what is left, writes the statistics blocks and returns 0 or
 * -errno (err says what failed). */
int ecap_stream_run(struct ecap_engine *e, const struct ecap_stream_opts *o,
		    struct ecap_stream_stats *ret, char *err, size_t errlen);

#endif
