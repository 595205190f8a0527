/* streamer.c - see streamer.h.
 *
 * Each stream's output is double-buffered: records are appended to `fill`
 * while `out` is being written by io_uring (or held by a sink's owner). The
 * hooks wake us only when a quarter of the ring is waiting; a 10 ms tick
 * drains it otherwise. When a file stream's `fill` passes FILL_MAX with a
 * write still in flight, the ring is not drained: the kernel's ring then
 * fills and the hooks count drops, which reach the user in the ISBs and the
 * summary. (The ring is shared, so one slow file holds back the others:
 * acceptable for files and pipes.) A sink's `fill` has its own bound instead,
 * past which its records are dropped here and counted.
 *
 * A stream ends on its count (no record after the last one counts), or on
 * its duration or a stop: then its session comes off the hooks first and
 * what the ring already holds for it is still written.
 */
#include "streamer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "engine.h"
#include "filter.h"
#include "pcapng.h"

#define TICK_NS    (10 * 1000000ll) /* drain, flush and limit checks */
#define CLOCK_NS   1000000000ll     /* BOOTTIME -> REALTIME refresh */
#define FILL_MAX   (8u << 20)
#define FLUSH_AT   (256u << 10)
#define SINK_MAX   (4u << 20)
#define MAX_IDB    (2 * ECAP_MAX_SESSION_IFACES)

enum { TAG_RING = 1, TAG_TICK, TAG_STOP, TAG_WRITE }; /* TAG_WRITE | session << 8 */

struct stream {
	struct ecap_stream_opts o;
	struct ecap_stream_iface ifaces[ECAP_MAX_SESSION_IFACES];
	struct ecap_buf fill, out;
	size_t out_off; /* bytes of `out` already written */
	int writing;   /* file: a write in flight; sink: the owner holds `out` */
	int ending;    /* duration or stop: end once the ring is drained */
	int done;      /* no more records: a limit, the stop fd, or an error */
	int closed;    /* statistics appended */
	int last_sent; /* sink: the final bytes are handed over */
	int err;
	int64_t started; /* CLOCK_BOOTTIME ns */
	struct ecap_stream_stats stats;
	uint64_t idb_written[MAX_IDB], idb_osdrop[MAX_IDB];
	int idb[ECAP_MAX_SESSION_IFACES][2]; /* [iface][dir-1] -> interface id, -1 none */
};

struct ecap_streamer {
	struct ecap_engine *e;
	int stop_fd;
	ecap_stream_end_fn *end;
	void *ctx;
	struct io_uring ring;
	int ring_ok;
	struct ring_buffer *rb;
	int started, ring_armed, err;
	struct __kernel_timespec tick; /* read by the kernel at submission */
	int64_t boot_to_real;
	int64_t clock_at; /* CLOCK_BOOTTIME ns */
	struct stream *s[ECAP_MAX_SESSIONS];
};

static int64_t now(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return (int64_t)t.tv_sec * 1000000000ll + t.tv_nsec;
}

/* REALTIME - BOOTTIME from a reading bracketed by two BOOTTIME ones. */
static int64_t boot_to_real(void)
{
	int64_t b1 = now(CLOCK_BOOTTIME), r = now(CLOCK_REALTIME), b2 = now(CLOCK_BOOTTIME);

	return r - (b1 + (b2 - b1) / 2);
}

static int is_sink(const struct stream *s)
{
	return s->o.out_fd < 0;
}

static int idb_of(const struct stream *s, uint32_t ifindex, uint8_t dir)
{
	for (unsigned i = 0; i < s->o.nifaces; i++)
		if ((uint32_t)s->o.ifaces[i].ifindex == ifindex && dir >= 1 && dir <= 2)
			return s->idb[i][dir - 1];
	return -1;
}

static int on_record(void *ctx, void *data, size_t len)
{
	struct ecap_streamer *st = ctx;
	const struct ecap_rec *r = data;
	struct stream *s;
	uint64_t ts;
	int id;

	if (len < sizeof(*r) || r->caplen > len - sizeof(*r) || r->session >= ECAP_MAX_SESSIONS)
		return 0;
	s = st->s[r->session];
	if (!s || s->done)
		return 0;
	id = idb_of(s, r->ifindex, r->dir);
	if (id < 0)
		return 0; /* a hook on an interface this stream does not describe */
	if (is_sink(s) && s->fill.len >= s->o.sink_max) {
		s->idb_osdrop[id]++;
		s->stats.osdropped++;
		return 0;
	}
	ts = (uint64_t)((int64_t)r->ts_boot + st->boot_to_real);
	if (s->o.pcap)
		ecap_pcap_record(&s->fill, ts, r + 1, r->caplen, r->wirelen);
	else
		ecap_pcapng_epb(&s->fill, (uint32_t)id, ts, r + 1, r->caplen, r->wirelen,
				r->dir == ECAP_DIR_IN ? ECAP_EPB_INBOUND : ECAP_EPB_OUTBOUND);
	if (s->fill.err) {
		s->err = s->fill.err;
		s->done = 1;
		return 0;
	}
	s->idb_written[id]++;
	if (++s->stats.written == s->o.count)
		s->done = 1;
	return 0;
}

static struct io_uring_sqe *sqe(struct ecap_streamer *st)
{
	struct io_uring_sqe *q = io_uring_get_sqe(&st->ring);

	if (!q) { /* full: hand what is queued to the kernel and retry */
		io_uring_submit(&st->ring);
		q = io_uring_get_sqe(&st->ring);
	}
	return q;
}

static void arm_poll(struct ecap_streamer *st, int fd, uint64_t tag)
{
	struct io_uring_sqe *q = sqe(st);

	io_uring_prep_poll_add(q, fd, POLLIN);
	io_uring_sqe_set_data64(q, tag);
}

static void arm_tick(struct ecap_streamer *st)
{
	struct io_uring_sqe *q = sqe(st);

	io_uring_prep_timeout(q, &st->tick, 0, 0);
	io_uring_sqe_set_data64(q, TAG_TICK);
}

static void write_from(struct ecap_streamer *st, struct stream *s)
{
	struct io_uring_sqe *q = sqe(st);

	io_uring_prep_write(q, s->o.out_fd, s->out.data + s->out_off,
			    (unsigned)(s->out.len - s->out_off), (uint64_t)-1);
	io_uring_sqe_set_data64(q, TAG_WRITE | (uint64_t)s->o.session << 8);
}

static void swap(struct stream *s)
{
	struct ecap_buf t = s->out;

	s->out = s->fill;
	s->fill = t;
	ecap_buf_reset(&s->fill);
	s->out_off = 0;
	s->writing = 1;
}

/* A sink's next batch, once its owner has released the last one: what has
 * been filled, the final bytes (perhaps none) once closed, or the error. */
static void sink_flush(struct stream *s)
{
	if (s->writing || s->last_sent)
		return;
	if (s->err) {
		s->last_sent = s->writing = 1;
		s->o.ready(s->o.ready_ctx, s->o.session, NULL, 0, s->err);
		return;
	}
	if (!s->fill.len && !s->closed)
		return;
	swap(s);
	s->last_sent = s->closed;
	s->o.ready(s->o.ready_ctx, s->o.session, s->out.data, s->out.len, s->last_sent);
}

/* Start writing `fill` if nothing is in flight. */
static void flush(struct ecap_streamer *st, struct stream *s)
{
	if (is_sink(s)) {
		sink_flush(s);
		return;
	}
	if (s->writing || !s->fill.len || s->err)
		return;
	swap(s);
	write_from(st, s);
}

static void write_done(struct ecap_streamer *st, struct stream *s, int res)
{
	if (res < 0) {
		s->err = res;
		s->done = 1;
		s->writing = 0;
		return;
	}
	s->out_off += (size_t)res;
	if (s->out_off < s->out.len) /* short write: the rest */
		write_from(st, s);
	else
		s->writing = 0;
}

static void header(struct stream *s)
{
	unsigned id = 0;

	if (s->o.pcap) {
		ecap_pcap_header(&s->fill, ECAP_LINKTYPE_EN10MB, s->o.snaplen);
		for (unsigned i = 0; i < s->o.nifaces; i++)
			s->idb[i][0] = s->idb[i][1] = 0;
		return;
	}
	ecap_pcapng_shb(&s->fill, "edgecap");
	for (unsigned i = 0; i < s->o.nifaces; i++) {
		for (int d = 0; d < 2; d++) {
			s->idb[i][d] = -1;
			if (!(s->o.dirs & (1u << d)))
				continue;
			s->idb[i][d] = (int)id++;
			ecap_pcapng_idb(&s->fill, ECAP_LINKTYPE_EN10MB, s->o.snaplen,
					s->o.ifaces[i].name, 9);
		}
	}
}

/* A session's kernel counters for one interface position and direction. */
static struct ecap_counters counts(struct ecap_streamer *st, const struct stream *s, unsigned i,
				   int d)
{
	static const unsigned hooks[2][2] = {{ECAP_HOOK_ID_XDP, ECAP_HOOK_ID_TC_IN},
					     {ECAP_HOOK_ID_TC_OUT, ECAP_HOOKS}};
	struct ecap_counters sum = {0}, c;

	for (int h = 0; h < 2 && hooks[d][h] < ECAP_HOOKS; h++)
		if (!ecap_engine_counters(st->e, s->o.session, hooks[d][h], i, &c))
			ecap_counters_add(&sum, &c);
	return sum;
}

static void add_counts(struct ecap_stream_stats *t, const struct ecap_counters *c)
{
	t->seen += c->seen;
	t->matched += c->matched;
	t->captured += c->captured;
	t->dropped += c->dropped;
}

/* The counters, and one ISB per interface block with that interface's and
 * direction's counts (the kernel counts per position in the session's
 * interface list, which is the order of o.ifaces). */
static void statistics(struct ecap_streamer *st, struct stream *s)
{
	uint64_t ts = (uint64_t)(now(CLOCK_BOOTTIME) + st->boot_to_real);

	for (unsigned i = 0; i < s->o.nifaces; i++) {
		for (int d = 0; d < 2; d++) {
			struct ecap_counters sum = counts(st, s, i, d);
			int id = s->idb[i][d];

			add_counts(&s->stats, &sum);
			if (s->o.pcap || id < 0)
				continue;
			ecap_pcapng_isb(&s->fill, (uint32_t)id, ts,
					&(struct ecap_isb_counts){.ifrecv = sum.seen,
								  .ifdrop = sum.dropped,
								  .filteraccept = sum.matched,
								  .osdrop = s->idb_osdrop[id],
								  .usrdeliv = s->idb_written[id]},
					NULL);
		}
	}
	s->closed = 1;
}

int ecap_streamer_new(struct ecap_engine *e, int stop_fd, ecap_stream_end_fn *end, void *ctx,
		      struct ecap_streamer **ret, char *err, size_t errlen)
{
	struct ecap_streamer *st = calloc(1, sizeof(*st));
	int r;

	if (!st)
		return -ENOMEM;
	st->e = e;
	st->stop_fd = stop_fd;
	st->end = end;
	st->ctx = ctx;
	st->tick.tv_nsec = TICK_NS;
	st->boot_to_real = boot_to_real();
	st->clock_at = now(CLOCK_BOOTTIME);
	st->rb = ring_buffer__new(ecap_engine_ring_fd(e), on_record, st, NULL);
	if (!st->rb) {
		r = -errno;
		snprintf(err, errlen, "ring buffer: %s", strerror(-r));
		goto fail;
	}
	r = io_uring_queue_init(64, &st->ring, 0);
	if (r) {
		snprintf(err, errlen, "io_uring: %s", strerror(-r));
		goto fail;
	}
	st->ring_ok = 1;
	*ret = st;
	return 0;
fail:
	ecap_streamer_free(st);
	return r;
}

int ecap_streamer_add(struct ecap_streamer *st, const struct ecap_stream_opts *o, char *err,
		      size_t errlen)
{
	struct stream *s;

	if (o->session >= ECAP_MAX_SESSIONS || st->s[o->session] ||
	    o->nifaces > ECAP_MAX_SESSION_IFACES || (o->out_fd < 0 && !o->ready)) {
		snprintf(err, errlen,
			 "stream for session %u: taken, too many interfaces, or no output",
			 o->session);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->o = *o;
	memcpy(s->ifaces, o->ifaces, o->nifaces * sizeof(*o->ifaces));
	s->o.ifaces = s->ifaces;
	if (!s->o.sink_max)
		s->o.sink_max = SINK_MAX;
	s->started = now(CLOCK_BOOTTIME);
	header(s);
	st->s[o->session] = s;
	flush(st, s);
	return 0;
}

/* Every stream has ended and its bytes are out (sinks: handed over). */
static int all_finished(struct ecap_streamer *st)
{
	for (int i = 0; i < ECAP_MAX_SESSIONS; i++) {
		struct stream *s = st->s[i];

		if (s && !s->err && (!s->closed || s->writing || s->fill.len))
			return 0;
	}
	return 1;
}

/* A file output lags: leave the records in the kernel's ring. */
static int backlogged(struct ecap_streamer *st)
{
	for (int i = 0; i < ECAP_MAX_SESSIONS; i++)
		if (st->s[i] && !is_sink(st->s[i]) && st->s[i]->fill.len >= FILL_MAX)
			return 1;
	return 0;
}

static void drain(struct ecap_streamer *st)
{
	int r = ring_buffer__consume(st->rb);

	if (r < 0)
		st->err = r;
}

/* Streams that reached a limit: the owner takes their sessions off the hooks;
 * a stream ending on time or a stop still gets what the ring holds for it;
 * then their statistics go out. */
static void close_done(struct ecap_streamer *st)
{
	for (int i = 0; i < ECAP_MAX_SESSIONS; i++) {
		struct stream *s = st->s[i];

		if (!s || s->closed || !(s->done || s->ending))
			continue;
		if (st->end)
			st->end(st->ctx, (uint8_t)i);
		if (!s->done)
			drain(st);
		s->done = 1;
		statistics(st, s);
		flush(st, s);
	}
}

static void tick(struct ecap_streamer *st)
{
	int64_t t = now(CLOCK_BOOTTIME);

	if (t - st->clock_at >= CLOCK_NS) {
		st->boot_to_real = boot_to_real();
		st->clock_at = t;
	}
	if (!backlogged(st)) /* the hooks wake us only when the ring fills up */
		drain(st);
	for (int i = 0; i < ECAP_MAX_SESSIONS; i++) {
		struct stream *s = st->s[i];

		if (!s)
			continue;
		if (s->o.duration_s && t - s->started >= (int64_t)s->o.duration_s * CLOCK_NS)
			s->ending = 1;
		flush(st, s);
	}
}

void ecap_streamer_end(struct ecap_streamer *st, uint8_t session)
{
	if (session < ECAP_MAX_SESSIONS && st->s[session]) {
		st->s[session]->ending = 1;
		close_done(st);
	}
}

void ecap_streamer_stop(struct ecap_streamer *st)
{
	for (int i = 0; i < ECAP_MAX_SESSIONS; i++)
		if (st->s[i])
			st->s[i]->ending = 1;
	close_done(st);
}

static void completion(struct ecap_streamer *st, uint64_t tag, int res)
{
	switch (tag & 0xff) {
	case TAG_RING:
		st->ring_armed = 0;
		drain(st);
		break;
	case TAG_TICK:
		tick(st);
		arm_tick(st);
		break;
	case TAG_STOP:
		ecap_streamer_stop(st);
		break;
	case TAG_WRITE:
		if ((tag >> 8) < ECAP_MAX_SESSIONS && st->s[tag >> 8])
			write_done(st, st->s[tag >> 8], res);
		break;
	}
}

static void start(struct ecap_streamer *st)
{
	st->started = 1;
	arm_poll(st, ecap_engine_ring_fd(st->e), TAG_RING);
	st->ring_armed = 1;
	arm_tick(st);
	if (st->stop_fd >= 0)
		arm_poll(st, st->stop_fd, TAG_STOP);
}

/* What has completed, then the consequences: ended streams closed, full
 * batches flushed, the ring poll armed again unless an output lags. */
static void process(struct ecap_streamer *st)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

	io_uring_for_each_cqe(&st->ring, head, cqe)
	{
		completion(st, io_uring_cqe_get_data64(cqe), cqe->res);
		seen++;
	}
	io_uring_cq_advance(&st->ring, seen);
	close_done(st);
	for (int i = 0; i < ECAP_MAX_SESSIONS; i++)
		if (st->s[i] && st->s[i]->fill.len >= FLUSH_AT)
			flush(st, st->s[i]);
	if (!st->ring_armed && !backlogged(st)) {
		arm_poll(st, ecap_engine_ring_fd(st->e), TAG_RING);
		st->ring_armed = 1;
	}
}

int ecap_streamer_fd(struct ecap_streamer *st)
{
	return st->ring.ring_fd;
}

int ecap_streamer_step(struct ecap_streamer *st, char *err, size_t errlen)
{
	int r;

	if (!st->started)
		start(st);
	process(st);
	r = io_uring_submit(&st->ring);
	if (r < 0 && r != -EINTR && r != -EAGAIN && !st->err)
		st->err = r;
	if (st->err)
		snprintf(err, errlen, "capture streamer: %s", strerror(-st->err));
	return st->err;
}

void ecap_streamer_release(struct ecap_streamer *st, uint8_t session)
{
	struct stream *s = session < ECAP_MAX_SESSIONS ? st->s[session] : NULL;

	if (!s || !is_sink(s) || !s->writing)
		return;
	s->writing = 0;
	ecap_buf_reset(&s->out);
	flush(st, s);
}

static void stream_free(struct stream *s)
{
	ecap_buf_free(&s->fill);
	ecap_buf_free(&s->out);
	free(s);
}

int ecap_streamer_remove(struct ecap_streamer *st, uint8_t session)
{
	struct stream *s = session < ECAP_MAX_SESSIONS ? st->s[session] : NULL;

	if (!s)
		return -ENOENT;
	if (!is_sink(s) && s->writing)
		return -EBUSY;
	st->s[session] = NULL;
	stream_free(s);
	return 0;
}

int ecap_streamer_run(struct ecap_streamer *st, char *err, size_t errlen)
{
	int r;

	if (!st->started)
		start(st);
	while (!st->err && !all_finished(st)) {
		r = io_uring_submit_and_wait(&st->ring, 1);
		if (r < 0 && r != -EINTR) {
			st->err = r;
			break;
		}
		process(st);
	}

	/* On an error, no new records from here on; every stream closes with
	 * what it has. */
	ecap_engine_set_sessions(st->e, NULL, 0, err, errlen);
	for (int i = 0; i < ECAP_MAX_SESSIONS; i++) {
		struct stream *s = st->s[i];

		if (!s || s->closed)
			continue;
		s->done = 1;
		statistics(st, s);
		flush(st, s);
	}
	/* finish: wait for the file writes in flight (prepared, perhaps not
	 * yet submitted), then the rest */
	for (;;) {
		struct io_uring_cqe *cqe;
		int pending = 0;

		for (int i = 0; i < ECAP_MAX_SESSIONS; i++) {
			struct stream *s = st->s[i];

			if (!s || is_sink(s))
				continue;
			if (!s->writing)
				flush(st, s);
			pending |= s->writing;
		}
		if (!pending)
			break;
		io_uring_submit(&st->ring);
		if (io_uring_wait_cqe(&st->ring, &cqe))
			break;
		if ((io_uring_cqe_get_data64(cqe) & 0xff) == TAG_WRITE)
			completion(st, io_uring_cqe_get_data64(cqe), cqe->res);
		io_uring_cqe_seen(&st->ring, cqe);
	}
	r = st->err;
	for (int i = 0; i < ECAP_MAX_SESSIONS && !r; i++)
		if (st->s[i] && st->s[i]->err)
			r = st->s[i]->err;
	if (r)
		snprintf(err, errlen, "capture output: %s", strerror(-r));
	return r;
}

int ecap_streamer_stats(struct ecap_streamer *st, uint8_t session, struct ecap_stream_stats *ret)
{
	struct stream *s = session < ECAP_MAX_SESSIONS ? st->s[session] : NULL;
	struct ecap_stream_stats t;

	if (!s)
		return -ENOENT;
	t = s->stats;
	if (!s->closed) /* live: the kernel's counts so far */
		for (unsigned i = 0; i < s->o.nifaces; i++)
			for (int d = 0; d < 2; d++) {
				struct ecap_counters c = counts(st, s, i, d);

				add_counts(&t, &c);
			}
	*ret = t;
	return 0;
}

void ecap_streamer_free(struct ecap_streamer *st)
{
	if (!st)
		return;
	for (int i = 0; i < ECAP_MAX_SESSIONS; i++)
		if (st->s[i])
			stream_free(st->s[i]);
	if (st->ring_ok)
		io_uring_queue_exit(&st->ring);
	ring_buffer__free(st->rb);
	free(st);
}
