/* streamer.h - drains the capture ring buffer into one output per session,
 * pcapng (or pcap), with an io_uring loop: a poll request on the ring
 * buffer's fd, a periodic timeout for draining, batch flushes, limits and
 * clock refresh, a poll on a stop fd, and write requests for the outputs.
 * Records carry their session's id; each goes to that session's stream.
 * Kernel timestamps (CLOCK_BOOTTIME) become wall clock time through a paired
 * BOOTTIME/REALTIME reading, refreshed every second.
 *
 * Two ways to run it: ecap_streamer_run() owns the thread until every stream
 * has ended (the CLI); or another event loop watches ecap_streamer_fd() and
 * calls ecap_streamer_step() when it is readable (the agent, in h2o's loop),
 * adding and removing streams as requests come and go.
 *
 * A stream's output is a file descriptor, written by io_uring, or a memory
 * sink: its bytes are handed to a callback, and the owner releases them once
 * they are sent. A file that lags holds back the ring (the kernel counts the
 * drops); a sink that lags past its bound loses records in user space,
 * counted per interface (isb_osdrop), so one slow network reader never holds
 * back the other sessions. */
#ifndef ECAP_STREAMER_H
#define ECAP_STREAMER_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

struct ecap_engine;
struct ecap_streamer;

struct ecap_stream_iface {
	int ifindex;
	char name[IF_NAMESIZE];
	uint16_t linktype; /* its records' LINKTYPE_ value: 1 Ethernet, 101 raw IP; pcap
			    * output (one header) needs every interface's the same */
};

/* A memory sink's batch: data/len stay valid and unchanged until the owner
 * calls ecap_streamer_release(). `last`: the stream's final bytes; the
 * stream then waits for ecap_streamer_remove(). */
typedef void ecap_stream_ready_fn(void *ctx, uint8_t session, const void *data, size_t len,
				  int last);

/* File rotation (-G, -C), asked before each record of a file stream with
 * the bytes its current file holds: ECAP_ROTATE_NO writes it there,
 * ECAP_ROTATE_NEW starts a new file first (once every byte of the current
 * one is written, next_file gets its fd: it closes that one and returns the
 * next file's fd, or -errno), ECAP_ROTATE_END ends the stream before it. */
enum { ECAP_ROTATE_NO, ECAP_ROTATE_NEW, ECAP_ROTATE_END };
typedef int ecap_stream_rotate_fn(void *ctx, uint64_t file_bytes);
typedef int ecap_stream_next_file_fn(void *ctx, int old_fd);

struct ecap_stream_opts {
	int out_fd; /* -1: a memory sink, see ready */
	ecap_stream_ready_fn *ready;
	void *ready_ctx;
	size_t sink_max; /* sink: pending bytes past which records are dropped */
	int pcap;	 /* classic pcap (nanosecond) instead of pcapng */
	uint8_t session;
	uint32_t snaplen;
	unsigned dirs; /* ECAP_DIR_IN | ECAP_DIR_OUT: which interface blocks exist */
	/* In the order of the session's interface list: the kernel counts per
	 * position in it, and each interface's ISB takes its own counts. */
	const struct ecap_stream_iface *ifaces;
	unsigned nifaces;
	const char *filter;   /* the expression, for each IDB's if_filter; NULL: none */
	const char *userappl; /* the SHB's shb_userappl (NULL: "edgecap") */
	uint64_t count;	      /* stop after this many packets written; 0: no limit */
	uint32_t duration_s;  /* stop after this long; 0: no limit */
	/* file streams: a new file now and then (see ecap_stream_rotate_fn);
	 * NULL: one file */
	ecap_stream_rotate_fn *rotate;
	ecap_stream_next_file_fn *next_file;
	void *rotate_ctx;
};

struct ecap_stream_stats {
	uint64_t written;   /* packets written to the output */
	uint64_t seen;	    /* packets the hooks ran the filter on */
	uint64_t matched;   /* accepted by the filter */
	uint64_t captured;  /* put in the ring by the kernel */
	uint64_t dropped;   /* accepted but lost: ring full */
	uint64_t osdropped; /* put in the ring but lost: the sink lagged */
};

/* Called when a stream reaches a limit, before its statistics are read: the
 * owner removes the session from the hooks (ecap_engine_set_sessions with
 * the others), so the counters are final. */
typedef void ecap_stream_end_fn(void *ctx, uint8_t session);

/* stop_fd: readable means stop every stream (a signalfd); -1: none. */
int ecap_streamer_new(struct ecap_engine *e, int stop_fd, ecap_stream_end_fn *end, void *ctx,
		      struct ecap_streamer **ret, char *err, size_t errlen);
/* A stream for o->session (one per session); its header is written first. */
int ecap_streamer_add(struct ecap_streamer *st, const struct ecap_stream_opts *o, char *err,
		      size_t errlen);
/* Runs until every stream has reached a limit, the stop fd, or an error;
 * then empties the hooks' slots, drains what is left, writes each stream's
 * statistics blocks and returns 0 or -errno (err says what failed). */
int ecap_streamer_run(struct ecap_streamer *st, char *err, size_t errlen);

/* Driven by another loop: the fd to watch for readability (io_uring's). */
int ecap_streamer_fd(struct ecap_streamer *st);
/* Handle what has completed, without blocking; arms the ring poll and the
 * tick on the first call. 0 or -errno (err says what failed). */
int ecap_streamer_step(struct ecap_streamer *st, char *err, size_t errlen);
/* End every stream (as the stop fd does): each gets its end callback, the
 * records already in the ring, and its statistics. */
void ecap_streamer_stop(struct ecap_streamer *st);
/* End one stream the same way (its reader asked to stop). */
void ecap_streamer_end(struct ecap_streamer *st, uint8_t session);
/* The sink's owner is done with the bytes last handed to ready. */
void ecap_streamer_release(struct ecap_streamer *st, uint8_t session);
/* Forget a sink stream at once (its reader went away, or its last bytes are
 * sent); its owner has taken the session off the hooks. The session's id is
 * free again. -EBUSY for a file stream with a write in flight. */
int ecap_streamer_remove(struct ecap_streamer *st, uint8_t session);

/* A stream's figures: final once it has ended, live before. */
int ecap_streamer_stats(struct ecap_streamer *st, uint8_t session, struct ecap_stream_stats *ret);
/* Accepts NULL. */
void ecap_streamer_free(struct ecap_streamer *st);

#endif
