/* merge.c - see merge.h.
 *
 * Inputs are sorted queues (a ring of packet pointers, insertion from the
 * tail: O(1) for ordered arrivals); a binary heap over the inputs orders
 * their heads. The duplicate index is a FIFO of recent keys in send order
 * with an open-addressing table over it (linear probing, backward-shift
 * deletion), so keys expire from the front as time moves on.
 */
#include "core/merge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>
#if defined(__x86_64__) || defined(__i386__)
/* libxxhash's XXH3 picks the widest vector unit at run time through these
 * (AVX2, AVX-512); the plain entry points are built for SSE2 */
#include <xxh_x86dispatch.h>
#endif

#define LINKTYPE_EN10MB 1
#define LINKTYPE_RAW	101
#define DLT_RAW		12
#define LINKTYPE_IPV4	228
#define LINKTYPE_IPV6	229
#define LINKTYPE_SLL	113 /* Linux cooked v1: 16 bytes, the protocol at 14 */
#define LINKTYPE_SLL2	276 /* v2: 20 bytes, the protocol at 0 */

/* A queued packet with its timestamp beside the pointer: ordering reads
 * the queue, not the packets, which by their turn to go have usually left
 * the cache (2 ms of slack across 8 busy inputs is some 20,000 packets). */
struct qent {
	int64_t ts;
	struct srv_merge_pkt *p;
};

struct input {
	struct qent *q; /* ring, cap a power of two */
	size_t head, n, cap;
	int64_t high;  /* the latest timestamp pushed */
	int64_t heard; /* srv_merge_heard: wall clock; INT64_MIN: never */
	int open, seen;
	int squeezed; /* srv_merge_squeeze */
	int heap_at;  /* position in the heap, -1 when empty */
	uint64_t pushed, duplicates;
};

struct key {
	XXH128_hash_t h;
	int64_t ts;
	uint32_t source; /* its input, or the source its interface was given */
};

/* A table slot: the key's low 64 bits (its home and a first comparison
 * without touching the key) and its sequence number + 1 (0: empty). */
struct slot {
	uint64_t tag, seq1;
};

/* A heap entry carries its input's head timestamp, so that sifting compares
 * entries without loading each input's head packet (with 8 inputs, a cache
 * miss per comparison). */
struct hent {
	int64_t ts;
	unsigned i;
};

/* Packets freed are kept for reuse, by size class (256 B << class), up to
 * POOL_MAX bytes: a merge frees and allocates one packet per packet sent,
 * and malloc's own free path cost more than the heap. Each class is a stack
 * of pointers, so taking one does not read the (cold) packet. */
#define POOL_CLASSES 9 /* up to 64 KiB; larger packets use malloc alone */
#define POOL_MAX     (8u << 20)

struct pool {
	void **v;
	size_t n;
};

/* De-duplication looks a packet's key up in a table of the last dedup_ns
 * of keys: at 10 million packets a second, a million keys, tens of MiB,
 * and a lookup and an expiry cost a cache miss each. So a packet sent
 * waits in a short FIFO first: on entry its key is computed and the table
 * slots it (and the next key to expire) will touch are prefetched; the
 * lookup comes DEDUP_AHEAD packets later, when they are in the cache. The
 * FIFO is emptied at the end of every run: a packet never waits for later
 * ones to come. */
#define DEDUP_AHEAD 8

struct ahead {
	struct srv_merge_pkt *p;
	XXH128_hash_t h;
};

struct srv_merge {
	struct srv_merge_opts o;
	struct ahead fifo[DEDUP_AHEAD];
	unsigned fhead, fn;
	struct pool pool[POOL_CLASSES];
	struct pool refs; /* packets pushed by reference: struct ref_pkt */
	srv_merge_emit_fn *emit;
	srv_merge_drop_fn *drop;
	void *ctx;
	struct input *in;
	unsigned nin;
	struct hent *heap; /* inputs with packets, by head timestamp */
	unsigned nheap;
	size_t bytes;
	int64_t last; /* the latest timestamp sent */
	struct srv_merge_stats st;
	/* duplicate index */
	struct key *keys; /* ring of cap_keys, sequence numbers [kfirst, kend) */
	uint64_t kfirst, kend;
	size_t cap_keys;
	struct slot *table; /* 2 * cap_keys slots */
	/* sources (srv_merge_iface_source): an interface's, plus one (0: its
	 * input's); each source's duplicates, from SRV_MERGE_INPUTS_MAX up */
	uint32_t *src_of;
	uint32_t nsrc_of;
	uint64_t *src_dups;
	uint32_t nsrc;
};

struct srv_merge *srv_merge_new(const struct srv_merge_opts *o, srv_merge_emit_fn *emit, void *ctx)
{
	struct srv_merge *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->o = (struct srv_merge_opts){.window_ns = 500000000,
				       .slack_ns = 2000000,
				       .dedup_ns = 100000000,
				       .max_bytes = 256u << 20};
	if (o) {
		if (o->window_ns)
			m->o.window_ns = o->window_ns;
		if (o->slack_ns)
			m->o.slack_ns = o->slack_ns;
		if (o->dedup_ns)
			m->o.dedup_ns = o->dedup_ns;
		if (o->max_bytes)
			m->o.max_bytes = o->max_bytes;
	}
	m->emit = emit;
	m->ctx = ctx;
	m->last = INT64_MIN;
	return m;
}

static unsigned size_class(uint32_t caplen)
{
	size_t n = sizeof(struct srv_merge_pkt) + caplen;
	unsigned c = 0;

	while (c < POOL_CLASSES && (256u << c) < n)
		c++;
	return c;
}

/* A copy's bytes follow its header; a reference's are the caller's, and
 * its header is followed by the ref (srv_merge_pkt_ref) and its key. A
 * copy's key is taken when it goes, from bytes just brought to the cache
 * (send_head prefetches them); a reference's when it comes, while the
 * caller's read has left them there: by their turn they are far out of
 * it (another device's data held back until the others caught up). */
struct ref_pkt {
	struct srv_merge_pkt p;
	void *ref;
	XXH128_hash_t key;
};

static int by_ref(const struct srv_merge_pkt *p)
{
	return p->data != (const uint8_t *)(p + 1);
}

static struct srv_merge_pkt *pkt_alloc(struct srv_merge *m, uint32_t caplen)
{
	unsigned c = size_class(caplen);
	struct pool *pl = &m->pool[c];
	struct srv_merge_pkt *p;

	if (c == POOL_CLASSES)
		p = malloc(sizeof(struct srv_merge_pkt) + caplen);
	else
		p = pl->n ? pl->v[--pl->n] : malloc(256u << c);
	return p;
}

static void pool_put(struct pool *pl, size_t size, void *p)
{
	if (pl->n == POOL_MAX / size) {
		free(p);
		return;
	}
	if (!pl->v && !(pl->v = malloc(POOL_MAX / size * sizeof(*pl->v)))) {
		free(p);
		return;
	}
	pl->v[pl->n++] = p;
}

static void pkt_free(struct srv_merge *m, struct srv_merge_pkt *p)
{
	unsigned c;

	if (by_ref(p)) {
		pool_put(&m->refs, sizeof(struct ref_pkt), p);
		return;
	}
	c = size_class(p->caplen);
	if (c == POOL_CLASSES)
		free(p);
	else
		pool_put(&m->pool[c], 256u << c, p);
}

/* A packet the merger will not emit: its caller hears of it. */
static void pkt_drop(struct srv_merge *m, struct srv_merge_pkt *p)
{
	if (by_ref(p) && m->drop)
		m->drop(m->ctx, p);
	pkt_free(m, p);
}

void srv_merge_free(struct srv_merge *m)
{
	if (!m)
		return;
	for (; m->fn; m->fn--, m->fhead = (m->fhead + 1) % DEDUP_AHEAD)
		pkt_drop(m, m->fifo[m->fhead].p);
	for (unsigned i = 0; i < m->nin; i++) {
		struct input *in = &m->in[i];

		for (size_t k = 0; k < in->n; k++)
			pkt_drop(m, in->q[(in->head + k) & (in->cap - 1)].p);
		free(in->q);
	}
	for (unsigned c = 0; c <= POOL_CLASSES; c++) {
		struct pool *pl = c < POOL_CLASSES ? &m->pool[c] : &m->refs;

		while (pl->n)
			free(pl->v[--pl->n]);
		free(pl->v);
	}
	free(m->in);
	free(m->heap);
	free(m->keys);
	free(m->table);
	free(m->src_of);
	free(m->src_dups);
	free(m);
}

int srv_merge_add_input(struct srv_merge *m)
{
	struct input *in;
	struct hent *heap;

	if (m->nin == SRV_MERGE_INPUTS_MAX)
		return -ENOSPC;
	in = realloc(m->in, (m->nin + 1) * sizeof(*in));
	if (!in)
		return -ENOMEM;
	m->in = in;
	heap = realloc(m->heap, (m->nin + 1) * sizeof(*heap));
	if (!heap)
		return -ENOMEM;
	m->heap = heap;
	m->in[m->nin] =
	    (struct input){.open = 1, .heap_at = -1, .high = INT64_MIN, .heard = INT64_MIN};
	return (int)m->nin++;
}

/* --- the heap of inputs, by head timestamp ------------------------------- */

static int before(struct hent a, struct hent b)
{
	return a.ts < b.ts || (a.ts == b.ts && a.i < b.i);
}

static void place(struct srv_merge *m, unsigned at, struct hent e)
{
	m->heap[at] = e;
	m->in[e.i].heap_at = (int)at;
}

static void sift_up(struct srv_merge *m, unsigned at)
{
	struct hent e = m->heap[at];

	while (at && before(e, m->heap[(at - 1) / 2])) {
		place(m, at, m->heap[(at - 1) / 2]);
		at = (at - 1) / 2;
	}
	place(m, at, e);
}

static void sift_down(struct srv_merge *m, unsigned at)
{
	struct hent e = m->heap[at];

	for (;;) {
		unsigned c = 2 * at + 1;

		if (c >= m->nheap)
			break;
		if (c + 1 < m->nheap && before(m->heap[c + 1], m->heap[c]))
			c++;
		if (!before(m->heap[c], e))
			break;
		place(m, at, m->heap[c]);
		at = c;
	}
	place(m, at, e);
}

/* The input's head changed (or it gained its first packet). */
static void reheap(struct srv_merge *m, unsigned i)
{
	int at = m->in[i].heap_at;
	struct hent e = {.ts = m->in[i].q[m->in[i].head].ts, .i = i};

	if (at < 0) {
		place(m, m->nheap++, e);
		sift_up(m, m->nheap - 1);
		return;
	}
	m->heap[at] = e;
	sift_up(m, (unsigned)at);
	sift_down(m, (unsigned)m->in[i].heap_at);
}

static int64_t horizon(const struct srv_merge *m, int64_t now, int squeezing);

/* --- inputs -------------------------------------------------------------- */

/* Queue p, its fields set, on its input: 0 or -ENOMEM (p freed). Inlined
 * in both pushes: a call per packet shows in `edgecap merge`. */
static inline __attribute__((always_inline)) int enqueue(struct srv_merge *m,
							 struct srv_merge_pkt *p)
{
	struct input *in = &m->in[p->input];
	int64_t ts = p->ts;
	size_t k;

	if (in->n == in->cap) {
		size_t cap = in->cap ? in->cap * 2 : 256;
		struct qent *q = malloc(cap * sizeof(*q));

		if (!q) {
			pkt_free(m, p);
			return -ENOMEM;
		}
		for (k = 0; k < in->n; k++)
			q[k] = in->q[(in->head + k) & (in->cap - 1)];
		free(in->q);
		in->q = q;
		in->head = 0;
		in->cap = cap;
	}
	/* insertion from the tail keeps the queue sorted */
	for (k = in->n; k > 0; k--) {
		struct qent prev = in->q[(in->head + k - 1) & (in->cap - 1)];

		if (prev.ts <= ts)
			break;
		in->q[(in->head + k) & (in->cap - 1)] = prev;
	}
	in->q[(in->head + k) & (in->cap - 1)] = (struct qent){.ts = ts, .p = p};
	in->n++;
	in->pushed++;
	in->seen = 1;
	if (ts > in->high)
		in->high = ts;
	m->bytes += p->caplen;
	if (k == 0) /* a new head */
		reheap(m, p->input);
	return 0;
}

static struct srv_merge_pkt pkt_of(unsigned input, int64_t ts, uint32_t iface, uint16_t linktype,
				   uint32_t flags, const uint8_t *data, uint32_t caplen,
				   uint32_t wirelen)
{
	return (struct srv_merge_pkt){.ts = ts,
				      .input = input,
				      .iface = iface,
				      .flags = flags,
				      .caplen = caplen,
				      .wirelen = wirelen,
				      .linktype = linktype,
				      .data = data};
}

int srv_merge_push(struct srv_merge *m, unsigned input, int64_t ts, uint32_t iface,
		   uint16_t linktype, uint32_t flags, const uint8_t *data, uint32_t caplen,
		   uint32_t wirelen)
{
	struct srv_merge_pkt *p;

	if (input >= m->nin || !m->in[input].open)
		return -EINVAL;
	p = pkt_alloc(m, caplen);
	if (!p)
		return -ENOMEM;
	*p = pkt_of(input, ts, iface, linktype, flags, (const uint8_t *)(p + 1), caplen, wirelen);
	memcpy(p + 1, data, caplen);
	return enqueue(m, p);
}

static XXH128_hash_t key_of(const struct srv_merge_pkt *p);

int srv_merge_push_ref(struct srv_merge *m, unsigned input, int64_t ts, uint32_t iface,
		       uint16_t linktype, uint32_t flags, const uint8_t *data, uint32_t caplen,
		       uint32_t wirelen, void *ref, uint8_t tag)
{
	struct pool *pl = &m->refs;
	struct ref_pkt *r;

	if (input >= m->nin || !m->in[input].open)
		return -EINVAL;
	r = pl->n ? pl->v[--pl->n] : malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->p = pkt_of(input, ts, iface, linktype, flags, data, caplen, wirelen);
	r->p.tag = tag;
	r->ref = ref;
	if (m->o.dedup_ns >= 0)
		r->key = key_of(&r->p);
	return enqueue(m, &r->p);
}

void srv_merge_on_drop(struct srv_merge *m, srv_merge_drop_fn *drop)
{
	m->drop = drop;
}

void srv_merge_mark(struct srv_merge *m, unsigned input, int64_t ts)
{
	if (input < m->nin) {
		m->in[input].seen = 1;
		if (ts > m->in[input].high)
			m->in[input].high = ts;
	}
}

int64_t srv_merge_horizon(const struct srv_merge *m, int64_t now_ns)
{
	return horizon(m, now_ns, 0);
}

void srv_merge_heard(struct srv_merge *m, unsigned input, int64_t now_ns)
{
	if (input < m->nin && now_ns > m->in[input].heard)
		m->in[input].heard = now_ns;
}

void srv_merge_squeeze(struct srv_merge *m, unsigned input, int on)
{
	if (input < m->nin)
		m->in[input].squeezed = on;
}

void srv_merge_close_input(struct srv_merge *m, unsigned input)
{
	if (input < m->nin)
		m->in[input].open = 0;
}

/* --- duplicates ---------------------------------------------------------- */

/* The packet's key: from the network header on, TTL/hop limit and the IPv4
 * checksum zeroed. Two one-shot hashes (the header's seeds the rest's) cost
 * less than XXH3's streaming state. */
static XXH128_hash_t key_of(const struct srv_merge_pkt *p)
{
	const uint8_t *d = p->data;
	uint32_t n = p->caplen, off = 0;
	uint8_t hdr[40];
	size_t hl = 0;

	if (p->linktype == LINKTYPE_EN10MB) {
		uint16_t et;

		off = 12;
		for (;;) {
			if (off + 2 > n)
				return XXH3_128bits(d, n); /* runt: the whole frame */
			et = (uint16_t)(d[off] << 8 | d[off + 1]);
			if (et != 0x8100 && et != 0x88a8 && et != 0x9100)
				break;
			off += 4; /* a VLAN tag */
		}
		off += 2;
		if (et != 0x0800 && et != 0x86dd) /* not IP: its type and what follows */
			return XXH3_128bits_withSeed(d + off, n - off, et);
	} else if (p->linktype == LINKTYPE_SLL || p->linktype == LINKTYPE_SLL2) {
		/* the cooked header says which device, interface and direction:
		 * not part of the packet, and unlike on another device */
		uint32_t at = p->linktype == LINKTYPE_SLL ? 14 : 0;

		off = p->linktype == LINKTYPE_SLL ? 16 : 20;
		if (off > n)
			return XXH3_128bits(d, n);
		if ((d[at] << 8 | d[at + 1]) != 0x0800 && (d[at] << 8 | d[at + 1]) != 0x86dd)
			return XXH3_128bits_withSeed(d + off, n - off,
						     (uint64_t)(d[at] << 8 | d[at + 1]));
	} else if (p->linktype != LINKTYPE_RAW && p->linktype != DLT_RAW &&
		   p->linktype != LINKTYPE_IPV4 && p->linktype != LINKTYPE_IPV6) {
		return XXH3_128bits(d, n);
	}
	if (off < n && (d[off] >> 4) == 4 && n - off >= 20) {
		hl = 20;
		memcpy(hdr, d + off, hl);
		hdr[8] = 0;	       /* TTL */
		hdr[10] = hdr[11] = 0; /* header checksum */
	} else if (off < n && (d[off] >> 4) == 6 && n - off >= 40) {
		hl = 40;
		memcpy(hdr, d + off, hl);
		hdr[7] = 0; /* hop limit */
	}
	return XXH3_128bits_withSeed(d + off + hl, n - off - hl, XXH3_64bits(hdr, hl));
}

static size_t mask_of(const struct srv_merge *m)
{
	return 2 * m->cap_keys - 1;
}

static struct key *key_at(const struct srv_merge *m, uint64_t seq)
{
	return &m->keys[seq & (m->cap_keys - 1)];
}

static void table_insert(struct srv_merge *m, uint64_t seq)
{
	uint64_t tag = key_at(m, seq)->h.low64;
	size_t mask = mask_of(m), i = tag & mask;

	while (m->table[i].seq1)
		i = (i + 1) & mask;
	m->table[i] = (struct slot){tag, seq + 1};
}

/* Remove seq (present) with backward-shift deletion: no tombstones. */
static void table_remove(struct srv_merge *m, uint64_t seq)
{
	size_t mask = mask_of(m), i = key_at(m, seq)->h.low64 & mask, j;

	while (m->table[i].seq1 != seq + 1)
		i = (i + 1) & mask;
	for (j = (i + 1) & mask; m->table[j].seq1; j = (j + 1) & mask) {
		size_t home = m->table[j].tag & mask;

		/* move j back to i unless its home lies cyclically in (i, j] */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			m->table[i] = m->table[j];
			i = j;
		}
	}
	m->table[i].seq1 = 0;
}

/* The index is looked up at random: past a few MiB, huge pages spare a
 * TLB miss per lookup (on top of the cache miss the prefetch hides). */
static void *index_alloc(size_t size)
{
	const size_t huge = 2u << 20;
	void *p;

	if (size < huge)
		return malloc(size);
	if (posix_memalign(&p, huge, (size + huge - 1) & ~(huge - 1)))
		return NULL;
	madvise(p, size, MADV_HUGEPAGE); /* a hint: without, 4 KiB pages */
	return p;
}

static int keys_grow(struct srv_merge *m)
{
	size_t cap = m->cap_keys ? m->cap_keys * 2 : 4096;
	struct key *keys = index_alloc(cap * sizeof(*keys));
	struct slot *table = index_alloc(2 * cap * sizeof(*table));

	if (!keys || !table) {
		free(keys);
		free(table);
		return -ENOMEM;
	}
	memset(table, 0, 2 * cap * sizeof(*table));
	for (uint64_t s = m->kfirst; s < m->kend; s++)
		keys[s & (cap - 1)] = *key_at(m, s);
	free(m->keys);
	free(m->table);
	m->keys = keys;
	m->table = table;
	m->cap_keys = cap;
	for (uint64_t s = m->kfirst; s < m->kend; s++)
		table_insert(m, s);
	return 0;
}

static uint32_t source_of(const struct srv_merge *m, const struct srv_merge_pkt *p)
{
	return p->iface < m->nsrc_of && m->src_of[p->iface] ? m->src_of[p->iface] - 1 : p->input;
}

/* 1 when p (its key h) repeats another source's packet within the window;
 * else its key is remembered. */
static int duplicate(struct srv_merge *m, const struct srv_merge_pkt *p, XXH128_hash_t h)
{
	uint32_t src = source_of(m, p);

	while (m->kfirst < m->kend && key_at(m, m->kfirst)->ts < p->ts - m->o.dedup_ns) {
		table_remove(m, m->kfirst);
		m->kfirst++;
	}
	if (m->cap_keys) {
		size_t mask = mask_of(m);

		for (size_t i = h.low64 & mask; m->table[i].seq1; i = (i + 1) & mask) {
			const struct key *k;

			if (m->table[i].tag != h.low64)
				continue;
			k = key_at(m, m->table[i].seq1 - 1);
			if (k->h.high64 == h.high64 && k->source != src &&
			    p->ts - k->ts <= m->o.dedup_ns && k->ts - p->ts <= m->o.dedup_ns)
				return 1;
		}
	}
	if (m->kend - m->kfirst == m->cap_keys && keys_grow(m))
		return 0; /* out of memory: keep the packet, forget its key */
	*key_at(m, m->kend) = (struct key){.h = h, .ts = p->ts, .source = src};
	table_insert(m, m->kend++);
	return 0;
}

/* --- sending ------------------------------------------------------------- */

/* The packet's turn: a duplicate is dropped, anything else emitted. */
static void settle(struct srv_merge *m, struct srv_merge_pkt *p, const XXH128_hash_t *h)
{
	if (h && duplicate(m, p, *h)) {
		uint32_t src = source_of(m, p);

		m->st.duplicates++;
		m->in[p->input].duplicates++;
		if (src >= SRV_MERGE_INPUTS_MAX)
			m->src_dups[src - SRV_MERGE_INPUTS_MAX]++;
		pkt_drop(m, p);
		return;
	}
	p->late = p->ts < m->last;
	m->st.late += p->late;
	if (p->ts > m->last)
		m->last = p->ts;
	m->st.merged++;
	m->emit(m->ctx, p);
	pkt_free(m, p);
}

static void settle_oldest(struct srv_merge *m)
{
	struct ahead *a = &m->fifo[m->fhead];

	m->fhead = (m->fhead + 1) % DEDUP_AHEAD;
	m->fn--;
	settle(m, a->p, &a->h);
}

static void drain(struct srv_merge *m)
{
	while (m->fn)
		settle_oldest(m);
}

static void send_head(struct srv_merge *m)
{
	unsigned i = m->heap[0].i;
	struct input *in = &m->in[i];
	struct srv_merge_pkt *p = in->q[in->head].p;
	struct ahead *a;

	in->head = (in->head + 1) & (in->cap - 1);
	in->n--;
	if (in->n) {
		const char *next = (const char *)in->q[in->head].p;

		m->heap[0].ts = in->q[in->head].ts;
		/* on its way to the cache while the other inputs' heads go out:
		 * its header, and the first bytes of its data (the key's and the
		 * output's) */
		for (int line = 0; line < 3; line++)
			__builtin_prefetch(next + 64 * line);
		sift_down(m, 0);
	} else {
		in->heap_at = -1;
		if (--m->nheap) {
			place(m, 0, m->heap[m->nheap]);
			sift_down(m, 0);
		}
	}
	m->bytes -= p->caplen;
	if (m->o.dedup_ns < 0) {
		settle(m, p, NULL);
		return;
	}
	if (m->fn == DEDUP_AHEAD)
		settle_oldest(m);
	a = &m->fifo[(m->fhead + m->fn++) % DEDUP_AHEAD];
	a->p = p;
	a->h = by_ref(p) ? ((struct ref_pkt *)p)->key : key_of(p);
	if (m->cap_keys) { /* where its lookup, and about then an expiry, will go */
		size_t mask = mask_of(m);

		__builtin_prefetch(&m->table[a->h.low64 & mask]);
		if (m->kend - m->kfirst > DEDUP_AHEAD)
			__builtin_prefetch(
			    &m->table[key_at(m, m->kfirst + DEDUP_AHEAD)->h.low64 & mask]);
	}
}

/* Timestamps up to which every open input has caught up, less its slack;
 * a squeezed input's own slack holds nothing back when squeezing. */
static int64_t horizon(const struct srv_merge *m, int64_t now, int squeezing)
{
	int64_t h = INT64_MAX;

	for (unsigned i = 0; i < m->nin; i++) {
		const struct input *in = &m->in[i];
		int64_t mark = in->seen ? in->high : INT64_MIN;

		if (!in->open)
			continue;
		/* silent (not heard from, its packets older than the window):
		 * hold back for the window only */
		if (now != INT64_MIN && mark < now - m->o.window_ns &&
		    (in->heard == INT64_MIN || in->heard < now - m->o.window_ns))
			mark = now - m->o.window_ns;
		if (!(squeezing && in->squeezed))
			mark = mark < INT64_MIN + m->o.slack_ns ? INT64_MIN : mark - m->o.slack_ns;
		if (mark < h)
			h = mark;
	}
	return h;
}

void srv_merge_run(struct srv_merge *m, int64_t now_ns)
{
	int64_t h0 = horizon(m, now_ns, 0), h = horizon(m, now_ns, 1);

	while (m->nheap && (m->heap[0].ts <= h || m->bytes > m->o.max_bytes)) {
		if (m->heap[0].ts > h0)
			m->st.forced++;
		send_head(m);
	}
	drain(m);
}

void srv_merge_flush(struct srv_merge *m)
{
	while (m->nheap)
		send_head(m);
	drain(m);
}

void srv_merge_stats(const struct srv_merge *m, struct srv_merge_stats *ret)
{
	*ret = m->st;
}

void srv_merge_input_stats(const struct srv_merge *m, unsigned input, uint64_t *ret_pushed,
			   uint64_t *ret_duplicates)
{
	*ret_pushed = input < m->nin ? m->in[input].pushed : 0;
	*ret_duplicates = input < m->nin ? m->in[input].duplicates : 0;
}

int srv_merge_add_source(struct srv_merge *m)
{
	uint64_t *d;

	if (m->nsrc == SRV_MERGE_SOURCES_MAX)
		return -ENOSPC;
	d = realloc(m->src_dups, (m->nsrc + 1) * sizeof(*d));
	if (!d)
		return -ENOMEM;
	m->src_dups = d;
	d[m->nsrc] = 0;
	return SRV_MERGE_INPUTS_MAX + (int)m->nsrc++;
}

int srv_merge_iface_source(struct srv_merge *m, uint32_t iface, unsigned source)
{
	if (source < SRV_MERGE_INPUTS_MAX || source - SRV_MERGE_INPUTS_MAX >= m->nsrc)
		return -EINVAL;
	if (iface >= m->nsrc_of) {
		uint32_t cap = m->nsrc_of ? m->nsrc_of : 16;
		uint32_t *s;

		while (cap <= iface)
			cap *= 2;
		if (!(s = realloc(m->src_of, cap * sizeof(*s))))
			return -ENOMEM;
		memset(s + m->nsrc_of, 0, (cap - m->nsrc_of) * sizeof(*s));
		m->src_of = s;
		m->nsrc_of = cap;
	}
	m->src_of[iface] = source + 1;
	return 0;
}

uint64_t srv_merge_source_duplicates(const struct srv_merge *m, unsigned source)
{
	return source >= SRV_MERGE_INPUTS_MAX && source - SRV_MERGE_INPUTS_MAX < m->nsrc
		   ? m->src_dups[source - SRV_MERGE_INPUTS_MAX]
		   : 0;
}
