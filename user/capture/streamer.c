/* streamer.c - see streamer.h.
 *
 * Each stream's output is double-buffered: records are appended to `fill`
 * while `out` is being written by io_uring (or held by a sink's owner). The
 * hooks wake us only as what waits reaches a quarter of the ring; a 50 ms tick
 * drains it otherwise (each wake-up costs about 60 µs of CPU here, VM exits
 * included: at 10 ms an idle capture took 6 ms of CPU a second).
 *
 * Each record in the ring is a complete pcapng EPB, with wall clock time
 * (the hooks add the REALTIME - BOOTTIME offset that we refresh every
 * second). A file stream's packet bytes are never copied here: its batch is
 * a gather list of spans of the ring's memory (pcapng: the blocks as they
 * are; pcap: the packets, each after a record header of our own), written by
 * writev. So we read the ring with our own consumer
 * (libbpf's releases each record as its callback returns): the records of a
 * drain stay in the ring, the consumer position held back, until the writes
 * that reference them complete; only then is the ring drained again. A file
 * that lags therefore leaves the records in the kernel's ring, which fills,
 * and the hooks count drops, which reach the user in the ISBs and the
 * summary. (The ring is shared, so one slow file holds back the others:
 * acceptable for files and pipes.) A sink copies its records (its owner
 * holds the bytes as long as its reader takes) and has its own bound, past
 * which its records are dropped here and counted.
 *
 * A stream ends on its count (no record after the last one counts), or on
 * its duration or a stop: then its session comes off the hooks first and
 * what the ring already holds for it is still written.
 */
#include "capture/streamer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <liburing.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "capture/engine.h"
#include "filter/filter.h"
#include "common/pcapng.h"

#define TICK_NS	     (50 * 1000000ll) /* drain, flush and limit checks */
#define CLOCK_NS     1000000000ll     /* REALTIME - BOOTTIME refresh */
#define PREFETCH     2048	      /* bytes ahead in the ring, for records of up to */
#define PREFETCH_REC 256	      /* bytes; larger ones: the next record's header */
#define DRAIN_MAX    16384	      /* records per drain: bounds a batch's gather list */
#define FLUSH_AT     (256u << 10)
#define SINK_MAX     (4u << 20)
#define MAX_IDB	     (2 * ECAP_MAX_SESSION_IFACES)

enum { TAG_RING = 1, TAG_TICK, TAG_STOP, TAG_WRITE }; /* TAG_WRITE | session << 8 */

/* a pcap record's header: time, caplen, wirelen */
#define PCAP_REC_HEAD 16

/* A batch: bytes of our own (meta: block headers, trailers, whole blocks)
 * and spans of the ring's memory, in order. */
struct seg {
	const uint8_t *ext; /* NULL: meta bytes at off */
	size_t off, len;
};

struct gather {
	struct ecap_buf meta;
	struct seg *seg;
	size_t nseg, cap;
	size_t synced; /* meta bytes the segments cover */
	size_t len;    /* bytes in all */
	size_t next;   /* segments in the ring */
};

/* The BPF ring as its consumer sees it: the consumer position (ours to
 * write), the producer's, and the data, mapped twice over so that a record
 * that wraps is contiguous. */
struct ring_view {
	uint64_t *cons;
	const uint64_t *prod;
	const uint8_t *data;
	void *prod_map;
	size_t page, prod_len;
	uint64_t mask;
	uint64_t pos; /* read up to here; released up to *cons */
};

struct stream {
	struct ecap_stream_opts o;
	struct ecap_stream_iface ifaces[ECAP_MAX_SESSION_IFACES];
	struct gather fill, out;
	struct iovec *iov; /* file: `out` as writev sees it, written from iov_at */
	size_t niov, iov_at, iov_cap;
	int writing;   /* file: a write in flight; sink: the owner holds `out` */
	int ending;    /* duration or stop: end once the ring is drained */
	int done;      /* no more records: a limit, the stop fd, or an error */
	int closed;    /* statistics appended */
	int last_sent; /* sink: the final bytes are handed over */
	int rotating;  /* a new file before the next record: draining stops */
	int err;
	int64_t started; /* CLOCK_BOOTTIME ns */
	/* appended to the current file: rotation's size */
	uint64_t file_bytes;
	struct ecap_stream_stats stats;
	uint64_t idb_written[MAX_IDB], idb_osdrop[MAX_IDB];
};

struct ecap_streamer {
	struct ecap_engine *e;
	int stop_fd;
	ecap_stream_end_fn *end;
	void *ctx;
	struct io_uring ring;
	int ring_ok;
	struct ring_view rv;
	int held; /* records read but referenced by file batches: *cons stays */
	int refs; /* the drain under way referenced ring memory */
	int started, ring_armed, err;
	struct __kernel_timespec tick; /* read by the kernel at submission */
	int64_t clock_at;	       /* CLOCK_BOOTTIME ns */
	struct stream *s[ECAP_MAX_SESSIONS];
};

static inline void add_seg(struct gather *g, const uint8_t *ext, size_t off, size_t len)
{
	struct seg *last = g->nseg ? &g->seg[g->nseg - 1] : NULL;

	if (!len || g->meta.err)
		return;
	g->len += len;
	if (!ext && last && !last->ext && last->off + last->len == off) {
		last->len += len;
		return;
	}
	if (g->nseg == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 256;
		struct seg *n = realloc(g->seg, cap * sizeof(*n));

		if (!n) {
			g->meta.err = -ENOMEM;
			return;
		}
		g->seg = n;
		g->cap = cap;
	}
	g->seg[g->nseg++] = (struct seg){ext, off, len};
	g->next += ext != NULL;
}

/* Segments for the meta bytes appended since. */
static void gather_sync(struct gather *g)
{
	add_seg(g, NULL, g->synced, g->meta.len - g->synced);
	g->synced = g->meta.len;
}

/* n bytes at p (in the ring), after what is there so far. */
static void gather_ext(struct gather *g, const void *p, size_t n)
{
	if (g->meta.len != g->synced) /* pcapng: never, past the header */
		gather_sync(g);
	add_seg(g, p, 0, n);
}

/* Bytes waiting in g. */
static size_t pending(struct gather *g)
{
	gather_sync(g);
	return g->len;
}

static void gather_reset(struct gather *g)
{
	ecap_buf_reset(&g->meta);
	g->nseg = g->synced = g->len = g->next = 0;
}

static void gather_free(struct gather *g)
{
	ecap_buf_free(&g->meta);
	free(g->seg);
	memset(g, 0, sizeof(*g));
}

static int ring_open(struct ring_view *r, int fd, char *err, size_t errlen)
{
	struct bpf_map_info info = {0};
	__u32 n = sizeof(info);
	void *p;

	r->page = (size_t)sysconf(_SC_PAGESIZE);
	if (bpf_obj_get_info_by_fd(fd, &info, &n))
		goto fail;
	r->mask = info.max_entries - 1;
	p = mmap(NULL, r->page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	r->cons = p;
	r->prod_len = r->page + 2 * (size_t)info.max_entries;
	p = mmap(NULL, r->prod_len, PROT_READ, MAP_SHARED, fd, (off_t)r->page);
	if (p == MAP_FAILED) {
		munmap(r->cons, r->page);
		r->cons = NULL;
		goto fail;
	}
	r->prod_map = p;
	r->prod = p;
	r->data = (const uint8_t *)p + r->page;
	r->pos = __atomic_load_n(r->cons, __ATOMIC_ACQUIRE);
	return 0;
fail:
	snprintf(err, errlen, "ring buffer: %s", strerror(errno));
	return -errno;
}

static void ring_close(struct ring_view *r)
{
	if (r->cons)
		munmap(r->cons, r->page);
	if (r->prod_map)
		munmap(r->prod_map, r->prod_len);
}

static int is_sink(const struct stream *s)
{
	return s->o.out_fd < 0;
}

/* 1: the record is not taken, its stream starts a new file first */
static int on_record(struct ecap_streamer *st, const void *data, size_t len)
{
	const struct ecap_rec *r = data;
	const void *epb = &r->block_type;
	struct stream *s;
	uint64_t ts;
	uint32_t id;

	/* the hooks write whole blocks: anything else is not ours to write */
	if (len < sizeof(*r) || r->session >= ECAP_MAX_SESSIONS || r->block_type != ECAP_EPB_TYPE ||
	    r->caplen > len - sizeof(*r) || r->block_len != ECAP_EPB_LEN(r->caplen) ||
	    offsetof(struct ecap_rec, block_type) + r->block_len > len)
		return 0;
	s = st->s[r->session];
	if (!s || s->done)
		return 0;
	id = r->if_id;
	if (id >= ECAP_IDB_ID(s->o.nifaces, s->o.dirs, ECAP_DIR_IN)) /* how many there are */
		return 0; /* a hook on an interface this stream does not describe */
	if (is_sink(s) && pending(&s->fill) >= s->o.sink_max) {
		s->idb_osdrop[id]++;
		s->stats.osdropped++;
		return 0;
	}
	if (s->rotating)
		return 1;
	if (!is_sink(s) && s->o.rotate) {
		switch (s->o.rotate(s->o.rotate_ctx, s->file_bytes)) {
		case ECAP_ROTATE_NEW:
			s->rotating = 1;
			return 1;
		case ECAP_ROTATE_END:
			s->done = 1;
			return 0;
		}
	}
	ts = (uint64_t)r->ts_high << 32 | r->ts_low;
	if (is_sink(s) && s->o.pcap) {
		ecap_pcap_record(&s->fill.meta, ts, r + 1, r->caplen, r->wirelen);
	} else if (is_sink(s)) {
		ecap_buf_put(&s->fill.meta, epb, r->block_len);
	} else if (s->o.pcap) { /* the packet's bytes stay in the ring until written */
		ecap_pcap_record_head(&s->fill.meta, ts, r->caplen, r->wirelen);
		gather_ext(&s->fill, r + 1, r->caplen);
		st->refs = 1;
	} else {
		gather_ext(&s->fill, epb, r->block_len);
		st->refs = 1;
	}
	if (s->fill.meta.err) {
		s->err = s->fill.meta.err;
		s->done = 1;
		return 0;
	}
	s->file_bytes += s->o.pcap ? PCAP_REC_HEAD + r->caplen : r->block_len;
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
	size_t n = s->niov - s->iov_at;

	io_uring_prep_writev(q, s->o.out_fd, s->iov + s->iov_at,
			     n > IOV_MAX ? IOV_MAX : (unsigned)n, (uint64_t)-1);
	io_uring_sqe_set_data64(q, TAG_WRITE | (uint64_t)s->o.session << 8);
}

static void swap(struct stream *s)
{
	struct gather t = s->out;

	gather_sync(&s->fill);
	s->out = s->fill;
	s->fill = t;
	gather_reset(&s->fill);
	s->writing = 1;
}

/* `out` as iovecs: 0, or -ENOMEM. */
static int out_iov(struct stream *s)
{
	if (s->out.nseg > s->iov_cap) {
		struct iovec *n = realloc(s->iov, s->out.nseg * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->iov = n;
		s->iov_cap = s->out.nseg;
	}
	for (size_t i = 0; i < s->out.nseg; i++) {
		const struct seg *g = &s->out.seg[i];

		s->iov[i] =
		    (struct iovec){(void *)(g->ext ? g->ext : s->out.meta.data + g->off), g->len};
	}
	s->niov = s->out.nseg;
	s->iov_at = 0;
	return 0;
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
	if (!pending(&s->fill) && !s->closed)
		return;
	swap(s);
	s->last_sent = s->closed;
	s->o.ready(s->o.ready_ctx, s->o.session, s->out.meta.data, s->out.meta.len, s->last_sent);
}

/* Start writing `fill` if nothing is in flight. */
static void flush(struct ecap_streamer *st, struct stream *s)
{
	if (is_sink(s)) {
		sink_flush(s);
		return;
	}
	if (s->writing || !pending(&s->fill) || s->err)
		return;
	swap(s);
	if (s->out.meta.err || out_iov(s)) {
		s->err = s->out.meta.err ? s->out.meta.err : -ENOMEM;
		s->done = 1;
		s->writing = 0;
		return;
	}
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
	for (size_t n = (size_t)res; n && s->iov_at < s->niov;) {
		struct iovec *v = &s->iov[s->iov_at];

		if (n >= v->iov_len) {
			n -= v->iov_len;
			s->iov_at++;
		} else { /* short write: the rest of this one */
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= n;
			n = 0;
		}
	}
	if (s->iov_at < s->niov && res == 0) { /* no progress: give up */
		s->err = -EIO;
		s->done = 1;
		s->writing = 0;
	} else if (s->iov_at < s->niov) {
		write_from(st, s);
	} else {
		s->writing = 0;
	}
}

/* One interface block for each interface and direction, in the order the
 * hooks number them (ECAP_IDB_ID); pcap output counts by those numbers too. */
static void header(struct stream *s)
{
	size_t at = s->fill.meta.len;

	if (s->o.pcap) {
		ecap_pcap_header(&s->fill.meta, s->o.ifaces[0].linktype, s->o.snaplen);
		s->file_bytes = s->fill.meta.len - at;
		return;
	}
	/* the machine and system the packets were captured on, as tcpdump's
	 * files say them */
	struct utsname u;
	char os[2 * sizeof(u.sysname) + 2] = "";

	if (!uname(&u))
		snprintf(os, sizeof(os), "%s %s", u.sysname, u.release);
	ecap_pcapng_shb(&s->fill.meta, os[0] ? u.machine : NULL, os[0] ? os : NULL,
			s->o.userappl ? s->o.userappl : "edgecap");
	for (unsigned i = 0; i < s->o.nifaces; i++)
		for (unsigned d = 0; d < 2; d++)
			if (s->o.dirs & (1u << d))
				ecap_pcapng_idb(&s->fill.meta, s->o.ifaces[i].linktype,
						s->o.snaplen, s->o.ifaces[i].name, s->o.filter, 9);
	s->file_bytes = s->fill.meta.len - at;
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
	uint64_t ts = (uint64_t)ecap_now_ns(CLOCK_REALTIME);

	for (unsigned i = 0; i < s->o.nifaces; i++) {
		for (int d = 0; d < 2; d++) {
			struct ecap_counters sum = counts(st, s, i, d);
			uint32_t id = ECAP_IDB_ID(i, s->o.dirs, (unsigned)d + 1);

			add_counts(&s->stats, &sum);
			if (s->o.pcap || !(s->o.dirs & (1u << d)))
				continue;
			ecap_pcapng_isb(&s->fill.meta, id, ts,
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
	st->clock_at = ecap_now_ns(CLOCK_BOOTTIME);
	r = ring_open(&st->rv, ecap_engine_ring_fd(e), err, errlen);
	if (r)
		goto fail;
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
	for (unsigned i = 0; i < o->nifaces; i++)
		if (!o->ifaces[i].linktype ||
		    (o->pcap && o->ifaces[i].linktype != o->ifaces[0].linktype)) {
			snprintf(err, errlen,
				 "stream for session %u: %s has %s link type (pcap output holds "
				 "one for all)",
				 o->session, o->ifaces[i].name,
				 o->ifaces[i].linktype ? "another" : "no");
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
	s->started = ecap_now_ns(CLOCK_BOOTTIME);
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

		if (s && !s->err && (!s->closed || s->writing || pending(&s->fill)))
			return 0;
	}
	return 1;
}

/* Read what the ring holds (up to DRAIN_MAX records) into the streams.
 * Records a file batch references keep the ring's consumer position back
 * until release(); none is read meanwhile. */
static void drain(struct ecap_streamer *st)
{
	struct ring_view *r = &st->rv;
	uint64_t pos = r->pos, prod;
	unsigned n = 0;

	if (st->held)
		return;
	st->refs = 0;
	while (n < DRAIN_MAX && pos < (prod = __atomic_load_n(r->prod, __ATOMIC_ACQUIRE))) {
		while (n < DRAIN_MAX && pos < prod) {
			const uint8_t *h = r->data + (pos & r->mask);
			uint32_t len = __atomic_load_n((const uint32_t *)h, __ATOMIC_ACQUIRE);
			uint32_t size = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);

			if (len & BPF_RINGBUF_BUSY_BIT) /* still being written */
				goto out;
			uint64_t next = pos + ((size + BPF_RINGBUF_HDR_SZ + 7) & ~7u);

			/* the hooks wrote the ring on another CPU: reading a
			 * record's header was most of a drain's time (a cache
			 * miss a record). Small records: the lines 2 KB ahead,
			 * which hold the headers to come; large ones: only the
			 * next header, not lines of packet data we do not read */
			if (size <= PREFETCH_REC)
				for (uint64_t at = pos + PREFETCH; at < pos + PREFETCH + size + 8;
				     at += 64)
					__builtin_prefetch(r->data + (at & r->mask));
			else
				__builtin_prefetch(r->data + (next & r->mask));
			/* a stream that starts a new file first: the
			 * record stays in the ring until it has */
			if (!(len & BPF_RINGBUF_DISCARD_BIT) &&
			    on_record(st, h + BPF_RINGBUF_HDR_SZ, size))
				goto out;
			pos = next;
			n++;
		}
	}
out:
	r->pos = pos;
	if (st->refs)
		st->held = 1;
	else
		__atomic_store_n(r->cons, pos, __ATOMIC_RELEASE);
}

/* The ring's records go back to the kernel once no file batch refers to
 * them: nothing in flight, nothing waiting to be written (a stream that
 * failed writes nothing more). */
static void release(struct ecap_streamer *st)
{
	if (!st->held)
		return;
	for (int i = 0; i < ECAP_MAX_SESSIONS; i++) {
		struct stream *s = st->s[i];

		if (s && !is_sink(s) && !s->err && (s->writing || s->fill.next))
			return;
	}
	st->held = 0;
	__atomic_store_n(st->rv.cons, st->rv.pos, __ATOMIC_RELEASE);
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
		if (!s->done && st->held) /* what the ring holds for it: after release */
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

/* Streams starting a new file, once every byte of the current one is out:
 * the next file, its header, and the records the ring held back. */
static int rotate(struct ecap_streamer *st)
{
	int waiting = 0;

	for (int i = 0; i < ECAP_MAX_SESSIONS; i++) {
		struct stream *s = st->s[i];
		int fd;

		if (!s || !s->rotating)
			continue;
		if (s->done || s->err) {
			s->rotating = 0;
			continue;
		}
		if (s->writing || pending(&s->fill)) {
			flush(st, s);
			waiting = 1;
			continue;
		}
		fd = s->o.next_file(s->o.rotate_ctx, s->o.out_fd);
		s->rotating = 0;
		if (fd < 0) {
			s->err = fd;
			s->done = 1;
			continue;
		}
		s->o.out_fd = fd;
		header(s);
		drain(st);
	}
	return waiting;
}

static void tick(struct ecap_streamer *st)
{
	int64_t t = ecap_now_ns(CLOCK_BOOTTIME);

	if (t - st->clock_at >= CLOCK_NS) {
		ecap_engine_sync_clock(st->e); /* a failure keeps the last offset */
		st->clock_at = t;
	}
	drain(st); /* the hooks wake us only when the ring fills up */
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
	int rotating;

	io_uring_for_each_cqe(&st->ring, head, cqe)
	{
		completion(st, io_uring_cqe_get_data64(cqe), cqe->res);
		seen++;
	}
	io_uring_cq_advance(&st->ring, seen);
	release(st);
	rotating = rotate(st);
	close_done(st);
	/* a held ring waits for its file batches: those go at once */
	for (int i = 0; i < ECAP_MAX_SESSIONS; i++)
		if (st->s[i] && (st->s[i]->fill.next || pending(&st->s[i]->fill) >= FLUSH_AT))
			flush(st, st->s[i]);
	release(st);
	/* a stream waiting for its file's last write holds the ring's next
	 * record: no poll, which would find it again at once */
	if (!st->ring_armed && !st->held && !rotating) {
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
	gather_reset(&s->out);
	flush(st, s);
}

static void stream_free(struct stream *s)
{
	gather_free(&s->fill);
	gather_free(&s->out);
	free(s->iov);
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
	ring_close(&st->rv);
	free(st);
}
