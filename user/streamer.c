/* streamer.c - see streamer.h.
 *
 * Output is double-buffered: records are appended to `fill` while `out` is
 * being written by io_uring. When `fill` passes FILL_MAX with a write still in
 * flight, the ring buffer poll is not re-armed: the kernel's ring then fills
 * and the hooks count drops, which reach the user in the ISBs and the summary.
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
#define CLOCK_NS   1000000000ll      /* BOOTTIME -> REALTIME refresh */
#define FILL_MAX   (8u << 20)
#define FLUSH_AT   (256u << 10)
#define MAX_IDB    (2 * 64)

enum { TAG_RING = 1, TAG_TICK, TAG_STOP, TAG_WRITE };

struct st {
	const struct ecap_stream_opts *o;
	struct ecap_engine *e;
	struct io_uring ring;
	struct ring_buffer *rb;
	struct ecap_buf fill, out;
	size_t out_off;   /* bytes of `out` already written */
	int writing, ring_armed, done, err;
	int64_t boot_to_real;
	int64_t started, clock_at; /* CLOCK_BOOTTIME ns */
	uint64_t written;
	uint64_t idb_written[MAX_IDB];
	int idb[64][2]; /* [iface][dir-1] -> interface id, -1 none */
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

static int idb_of(struct st *s, uint32_t ifindex, uint8_t dir)
{
	for (unsigned i = 0; i < s->o->nifaces; i++)
		if ((uint32_t)s->o->ifaces[i].ifindex == ifindex && dir >= 1 && dir <= 2)
			return s->idb[i][dir - 1];
	return -1;
}

static int on_record(void *ctx, void *data, size_t len)
{
	struct st *s = ctx;
	const struct ecap_rec *r = data;
	uint64_t ts;
	int id;

	if (s->done || len < sizeof(*r) || r->caplen > len - sizeof(*r) ||
	    r->session != s->o->session)
		return 0;
	id = idb_of(s, r->ifindex, r->dir);
	if (id < 0)
		return 0; /* a hook on an interface this stream does not describe */
	ts = (uint64_t)((int64_t)r->ts_boot + s->boot_to_real);
	if (s->o->pcap)
		ecap_pcap_record(&s->fill, ts, r + 1, r->caplen, r->wirelen);
	else
		ecap_pcapng_epb(&s->fill, (uint32_t)id, ts, r + 1, r->caplen, r->wirelen,
				r->dir == ECAP_DIR_IN ? ECAP_EPB_INBOUND : ECAP_EPB_OUTBOUND);
	if (s->fill.err)
		return s->fill.err;
	s->idb_written[id]++;
	if (++s->written == s->o->count)
		s->done = 1;
	return 0;
}

static struct io_uring_sqe *sqe(struct st *s)
{
	struct io_uring_sqe *q = io_uring_get_sqe(&s->ring);

	if (!q) { /* full: hand what is queued to the kernel and retry */
		io_uring_submit(&s->ring);
		q = io_uring_get_sqe(&s->ring);
	}
	return q;
}

static void arm_ring(struct st *s, int ring_fd)
{
	struct io_uring_sqe *q = sqe(s);

	io_uring_prep_poll_add(q, ring_fd, POLLIN);
	io_uring_sqe_set_data64(q, TAG_RING);
	s->ring_armed = 1;
}

static void arm_fd(struct st *s, int fd, uint64_t tag)
{
	struct io_uring_sqe *q = sqe(s);

	io_uring_prep_poll_add(q, fd, POLLIN);
	io_uring_sqe_set_data64(q, tag);
}

static void arm_tick(struct st *s, struct __kernel_timespec *ts)
{
	struct io_uring_sqe *q = sqe(s);

	io_uring_prep_timeout(q, ts, 0, 0);
	io_uring_sqe_set_data64(q, TAG_TICK);
}

/* Start writing `fill` if nothing is in flight. */
static void flush(struct st *s)
{
	struct ecap_buf t;
	struct io_uring_sqe *q;

	if (s->writing || !s->fill.len)
		return;
	t = s->out;
	s->out = s->fill;
	s->fill = t;
	ecap_buf_reset(&s->fill);
	s->out_off = 0;
	q = sqe(s);
	io_uring_prep_write(q, s->o->out_fd, s->out.data, (unsigned)s->out.len, (uint64_t)-1);
	io_uring_sqe_set_data64(q, TAG_WRITE);
	s->writing = 1;
}

static void write_done(struct st *s, int res)
{
	struct io_uring_sqe *q;

	if (res < 0) {
		s->err = res;
		s->writing = 0;
		return;
	}
	s->out_off += (size_t)res;
	if (s->out_off < s->out.len) { /* short write: the rest */
		q = sqe(s);
		io_uring_prep_write(q, s->o->out_fd, s->out.data + s->out_off,
				    (unsigned)(s->out.len - s->out_off), (uint64_t)-1);
		io_uring_sqe_set_data64(q, TAG_WRITE);
		return;
	}
	s->writing = 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void header(struct st *s)
{
	unsigned id = 0;

	if (s->o->pcap) {
		ecap_pcap_header(&s->fill, ECAP_LINKTYPE_EN10MB, s->o->snaplen);
		for (unsigned i = 0; i < s->o->nifaces; i++)
			s->idb[i][0] = s->idb[i][1] = 0;
		return;
	}
	ecap_pcapng_shb(&s->fill, "edgecap");
	for (unsigned i = 0; i < s->o->nifaces; i++) {
		for (int d = 0; d < 2; d++) {
			s->idb[i][d] = -1;
			if (!(s->o->dirs & (1u << d)))
				continue;
			s->idb[i][d] = (int)id++;
			ecap_pcapng_idb(&s->fill, ECAP_LINKTYPE_EN10MB, s->o->snaplen,
					s->o->ifaces[i].name, 9);
		}
	}
}

static void add(struct ecap_counters *sum, const struct ecap_counters *c)
{
	sum->seen += c->seen;
	sum->matched += c->matched;
	sum->captured += c->captured;
	sum->dropped += c->dropped;
}

/* One ISB per interface block, with that interface's and direction's counts:
 * the session lists the interfaces in the order of o->ifaces, and the kernel
 * counts per position in that list. */
static void statistics(struct st *s, struct ecap_stream_stats *ret)
{
	static const unsigned hooks[2][2] = {{ECAP_HOOK_ID_XDP, ECAP_HOOK_ID_TC_IN},
					     {ECAP_HOOK_ID_TC_OUT, ECAP_HOOKS}};
	uint64_t ts = (uint64_t)(now(CLOCK_BOOTTIME) + s->boot_to_real);

	for (unsigned i = 0; i < s->o->nifaces; i++) {
		for (int d = 0; d < 2; d++) {
			struct ecap_counters sum = {0}, c;
			int id = s->idb[i][d];

			for (int h = 0; h < 2 && hooks[d][h] < ECAP_HOOKS; h++)
				if (!ecap_engine_counters(s->e, s->o->session, hooks[d][h], i, &c))
					add(&sum, &c);
			ret->seen += sum.seen;
			ret->matched += sum.matched;
			ret->captured += sum.captured;
			ret->dropped += sum.dropped;
			if (s->o->pcap || id < 0)
				continue;
			ecap_pcapng_isb(&s->fill, (uint32_t)id, ts,
					&(struct ecap_isb_counts){.ifrecv = sum.seen,
								  .ifdrop = sum.dropped,
								  .filteraccept = sum.matched,
								  .usrdeliv = s->idb_written[id]},
					NULL);
		}
	}
}

int ecap_stream_run(struct ecap_engine *e, const struct ecap_stream_opts *o,
		    struct ecap_stream_stats *ret, char *err, size_t errlen)
{
	struct __kernel_timespec tick = {.tv_nsec = TICK_NS};
	struct st s = {.o = o, .e = e};
	int ring_fd = ecap_engine_ring_fd(e), r;

	memset(ret, 0, sizeof(*ret));
	if (o->nifaces > 64)
		return -E2BIG;
	s.boot_to_real = boot_to_real();
	s.started = s.clock_at = now(CLOCK_BOOTTIME);
	header(&s);
	s.rb = ring_buffer__new(ring_fd, on_record, &s, NULL);
	if (!s.rb) {
		snprintf(err, errlen, "ring buffer: %s", strerror(errno));
		return -errno;
	}
	r = io_uring_queue_init(64, &s.ring, 0);
	if (r) {
		snprintf(err, errlen, "io_uring: %s", strerror(-r));
		ring_buffer__free(s.rb);
		return r;
	}
	arm_ring(&s, ring_fd);
	arm_tick(&s, &tick);
	if (o->stop_fd >= 0)
		arm_fd(&s, o->stop_fd, TAG_STOP);
	flush(&s); /* the header */

	while (!s.done && !s.err) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;

		r = io_uring_submit_and_wait(&s.ring, 1);
		if (r < 0 && r != -EINTR) {
			s.err = r;
			break;
		}
		io_uring_for_each_cqe(&s.ring, head, cqe)
		{
			switch (io_uring_cqe_get_data64(cqe)) {
			case TAG_RING:
				s.ring_armed = 0;
				r = ring_buffer__consume(s.rb);
				if (r < 0)
					s.err = r;
				break;
			case TAG_TICK:
				if (o->duration_s &&
				    now(CLOCK_BOOTTIME) - s.started >= (int64_t)o->duration_s * CLOCK_NS)
					s.done = 1;
				if (now(CLOCK_BOOTTIME) - s.clock_at >= CLOCK_NS) {
					s.boot_to_real = boot_to_real();
					s.clock_at = now(CLOCK_BOOTTIME);
				}
				/* the hooks wake us only when the ring fills up */
				if (s.fill.len < FILL_MAX) {
					r = ring_buffer__consume(s.rb);
					if (r < 0)
						s.err = r;
				}
				flush(&s);
				arm_tick(&s, &tick);
				break;
			case TAG_STOP:
				s.done = 1;
				break;
			case TAG_WRITE:
				write_done(&s, cqe->res);
				break;
			}
			seen++;
		}
		io_uring_cq_advance(&s.ring, seen);
		if (s.fill.len >= FLUSH_AT)
			flush(&s);
		/* backpressure: stop draining while the output lags */
		if (!s.ring_armed && !s.done && s.fill.len < FILL_MAX)
			arm_ring(&s, ring_fd);
	}

	/* no new records from here on; take what is already in the ring */
	ecap_engine_set_sessions(e, NULL, 0, err, errlen);
	if (!s.err && !s.done)
		ring_buffer__consume(s.rb);
	if (!s.err) {
		s.done = 1; /* keep the limit: records past it stay unwritten */
		ring_buffer__consume(s.rb);
	}
	statistics(&s, ret);
	ret->written = s.written;
	/* finish synchronously: wait for the write in flight (prepared but
	 * perhaps not yet submitted), then the rest */
	io_uring_submit(&s.ring);
	while (s.writing && !s.err) {
		struct io_uring_cqe *cqe;

		if (io_uring_wait_cqe(&s.ring, &cqe))
			break;
		if (io_uring_cqe_get_data64(cqe) == TAG_WRITE) {
			write_done(&s, cqe->res);
			io_uring_submit(&s.ring);
		}
		io_uring_cqe_seen(&s.ring, cqe);
	}
	if (!s.err && s.fill.err)
		s.err = s.fill.err;
	if (!s.err)
		s.err = write_all(o->out_fd, s.fill.data, s.fill.len);
	if (s.err)
		snprintf(err, errlen, "capture output: %s", strerror(-s.err));
	io_uring_queue_exit(&s.ring);
	ring_buffer__free(s.rb);
	ecap_buf_free(&s.fill);
	ecap_buf_free(&s.out);
	return s.err;
}
