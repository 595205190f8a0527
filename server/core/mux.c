/* mux.c - see mux.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mux.h"
#include "core/pcapng_reader.h"

struct out_iface {
	unsigned input;
	int have;      /* an ISB came for it */
	int counted;   /* with counters */
	char *comment; /* a part's: the ISB's comment, as it came */
	int64_t ts;
	struct ecap_isb_counts c;
};

struct mux_input {
	struct srv_mux *x;
	unsigned index;
	char *label;
	struct srv_pcapng_reader r;
	struct ecap_slab *slab; /* srv_mux_take_slab: the bytes being parsed */
	uint32_t *map;		/* the section's interface -> output id */
	uint16_t *linktype;
	uint32_t nmap;
	struct srv_mux_input_stats st;
	int closed, stopped;
	char *lost;
	char err[200];
	int64_t shift; /* ns: its clock's offset, taken off its timestamps */
	char *note;    /* on its interfaces' IDBs (NULL: none) */
	/* a part (srv_mux_add_part): its devices' names and sources */
	char **devs;
	unsigned *src;
	unsigned ndevs;
};

struct srv_mux {
	struct srv_merge *m;
	struct ecap_buf out;
	struct mux_input **in;
	unsigned nin;
	struct out_iface *ifs;
	uint32_t nifs, cap_ifs;
	int64_t last_ts; /* of the newest packet sent */
	uint64_t sent, limit;
	uint64_t bytes, bytes_max; /* of packet blocks sent, and the most to send */
	int full;		   /* a limit was reached (SRV_MUX_FULL_*) */
	/* by reference: the output's pieces [ihead, niov), and the slab of
	 * gen the mux writes into (gslab, gused bytes of it used) */
	struct ecap_slab_pool *gen;
	struct srv_mux_iov *iov;
	size_t ihead, niov, cap_iov;
	struct ecap_slab *gslab;
	size_t gused;
};

/* A piece of output: s's reference goes with it (to the last piece when
 * this one continues it). */
static void out_piece(struct srv_mux *x, struct ecap_slab *s, const uint8_t *p, size_t len)
{
	struct srv_mux_iov *last = x->niov > x->ihead ? &x->iov[x->niov - 1] : NULL;

	if (last && last->slab == s && last->base + last->len == p) {
		last->len += len;
		ecap_slab_unref(s);
		return;
	}
	if (x->niov == x->cap_iov) {
		size_t cap = x->cap_iov ? 2 * x->cap_iov : 256;
		struct srv_mux_iov *v = realloc(x->iov, cap * sizeof(*v));

		if (!v) {
			x->out.err = -ENOMEM;
			ecap_slab_unref(s);
			return;
		}
		x->iov = v;
		x->cap_iov = cap;
	}
	x->iov[x->niov++] = (struct srv_mux_iov){.base = p, .len = len, .slab = s};
}

/* By reference: what the mux wrote itself (in x->out) goes to its slabs,
 * as pieces. */
static void seal(struct srv_mux *x)
{
	size_t at = 0;

	while (at < x->out.len && !x->out.err) {
		size_t n = x->out.len - at;

		if (!x->gslab || x->gused == x->gslab->cap) {
			if (x->gslab)
				ecap_slab_unref(x->gslab);
			x->gused = 0;
			x->gslab = ecap_slab_get(x->gen, 0);
			if (!x->gslab) {
				x->out.err = -ENOMEM;
				break;
			}
		}
		if (n > x->gslab->cap - x->gused)
			n = x->gslab->cap - x->gused;
		memcpy(x->gslab->data + x->gused, x->out.data + at, n);
		ecap_slab_ref(x->gslab);
		out_piece(x, x->gslab, x->gslab->data + x->gused, n);
		x->gused += n;
		at += n;
	}
	x->out.len = 0;
}

static void emit(void *ctx, const struct srv_merge_pkt *p)
{
	struct srv_mux *x = ctx;
	struct ecap_slab *s = srv_merge_pkt_ref(p);

	/* the block's size as the agent writes it (a late one's comment aside) */
	uint64_t size = SRV_PCAPNG_EPB_DATA + ((p->caplen + 3u) & ~3u) + (p->flags ? 12 : 0) + 4;

	if (!x->full && x->bytes_max && x->bytes + size > x->bytes_max)
		x->full = SRV_MUX_FULL_BYTES;
	if (x->full) {
		if (s)
			ecap_slab_unref(s);
		return;
	}
	x->sent++;
	x->bytes += size;
	if (x->limit && x->sent == x->limit)
		x->full = SRV_MUX_FULL_COUNT;
	if (p->ts > x->last_ts)
		x->last_ts = p->ts;
	if (s && p->tag && !p->late) { /* the block as it came, renumbered as it came */
		uint8_t *blk = (uint8_t *)p->data - SRV_PCAPNG_EPB_DATA;

		if (x->out.len)
			seal(x);
		out_piece(x, s, blk,
			  SRV_PCAPNG_EPB_DATA + ((p->caplen + 3u) & ~3u) + (p->flags ? 12 : 0) + 4);
		return;
	}
	if (p->late)
		ecap_pcapng_epb_comment(&x->out, p->iface, (uint64_t)p->ts, p->data, p->caplen,
					p->wirelen, p->flags,
					"late: older than a packet before it");
	else
		ecap_pcapng_epb(&x->out, p->iface, (uint64_t)p->ts, p->data, p->caplen, p->wirelen,
				p->flags);
	if (s)
		ecap_slab_unref(s);
}

static void drop(void *ctx, const struct srv_merge_pkt *p)
{
	ecap_slab_unref(srv_merge_pkt_ref(p));
}

struct srv_mux *srv_mux_new(const struct srv_merge_opts *o, const char *userappl)
{
	struct srv_mux *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->m = srv_merge_new(o, emit, x);
	if (!x->m || ecap_pcapng_shb(&x->out, NULL, NULL, userappl)) {
		srv_mux_free(x);
		return NULL;
	}
	srv_merge_on_drop(x->m, drop);
	return x;
}

void srv_mux_by_ref(struct srv_mux *x, struct ecap_slab_pool *gen)
{
	x->gen = gen;
}

size_t srv_mux_take_out(struct srv_mux *x, struct srv_mux_iov *ret, size_t n)
{
	if (x->out.len)
		seal(x);
	if (n > x->niov - x->ihead)
		n = x->niov - x->ihead;
	memcpy(ret, x->iov + x->ihead, n * sizeof(*ret));
	x->ihead += n;
	if (x->ihead == x->niov)
		x->ihead = x->niov = 0;
	return n;
}

void srv_mux_free(struct srv_mux *x)
{
	if (!x)
		return;
	for (unsigned i = 0; i < x->nin; i++) {
		srv_pcapng_free(&x->in[i]->r);
		free(x->in[i]->map);
		free(x->in[i]->linktype);
		free(x->in[i]->label);
		free(x->in[i]->lost);
		free(x->in[i]->note);
		for (unsigned k = 0; k < x->in[i]->ndevs; k++)
			free(x->in[i]->devs[k]);
		free(x->in[i]->devs);
		free(x->in[i]->src);
		free(x->in[i]);
	}
	for (uint32_t id = 0; id < x->nifs; id++)
		free(x->ifs[id].comment);
	srv_merge_free(x->m); /* its packets' references go */
	free(x->in);
	free(x->ifs);
	for (size_t i = x->ihead; i < x->niov; i++)
		ecap_slab_unref(x->iov[i].slab);
	free(x->iov);
	if (x->gslab)
		ecap_slab_unref(x->gslab);
	ecap_buf_free(&x->out);
	free(x);
}

/* A part's interface is one of its devices' (NAME:IFACE, as the part's
 * own mux named it): its name and comment stay, its packets are that
 * device's source. */
static int part_iface(struct mux_input *in, const struct srv_pcapng_iface *f, uint32_t id)
{
	size_t len = strcspn(f->name, ":");
	char comment[512];

	for (unsigned k = 0; k < in->ndevs; k++) {
		if (strlen(in->devs[k]) != len || strncmp(in->devs[k], f->name, len))
			continue;
		if (srv_merge_iface_source(in->x->m, id, in->src[k]))
			return -ENOMEM;
		snprintf(
		    comment, sizeof(comment), "%.*s",
		    (int)(f->comment_len < sizeof(comment) ? f->comment_len : sizeof(comment) - 1),
		    f->comment ? f->comment : "");
		return ecap_pcapng_idb_comment(&in->x->out, f->linktype, f->snaplen, f->name, NULL,
					       9, f->comment ? comment : NULL);
	}
	snprintf(in->r.err, sizeof(in->r.err), "interface %.100s is none of the part's devices'",
		 f->name);
	return -EINVAL;
}

static int new_iface(struct mux_input *in, const struct srv_pcapng_iface *f)
{
	struct srv_mux *x = in->x;
	char name[SRV_IFNAME_MAX + 200];

	if (x->nifs == x->cap_ifs) {
		uint32_t cap = x->cap_ifs ? 2 * x->cap_ifs : 16;
		struct out_iface *ifs = realloc(x->ifs, cap * sizeof(*ifs));

		if (!ifs)
			return -ENOMEM;
		x->ifs = ifs;
		x->cap_ifs = cap;
	}
	if (f->id >= in->nmap) { /* (the reader numbers them from 0, one by one) */
		uint32_t n = in->nmap ? 2 * in->nmap : 16;
		uint32_t *map = realloc(in->map, n * sizeof(*map));
		uint16_t *lt = map ? realloc(in->linktype, n * sizeof(*lt)) : NULL;

		if (map)
			in->map = map;
		if (!lt)
			return -ENOMEM;
		in->linktype = lt;
		in->nmap = n;
	}
	x->ifs[x->nifs] = (struct out_iface){.input = in->index};
	in->map[f->id] = x->nifs++;
	in->linktype[f->id] = f->linktype;
	in->st.ifaces++;
	if (in->devs)
		return part_iface(in, f, in->map[f->id]);
	snprintf(name, sizeof(name), "%s%s%s", in->label, f->name[0] ? ":" : "", f->name);
	return ecap_pcapng_idb_comment(&x->out, f->linktype, f->snaplen, name, NULL, 9, in->note);
}

static int on_block(void *ctx, enum srv_pcapng_event ev, const void *arg)
{
	struct mux_input *in = ctx;

	switch (ev) {
	case SRV_PCAPNG_SECTION:
		return 0;
	case SRV_PCAPNG_IFACE:
		return new_iface(in, arg);
	case SRV_PCAPNG_PACKET: {
		const struct srv_pcapng_packet *k = arg;
		int64_t ts = k->ts - in->shift; /* on the server's time line */

		in->st.packets++;
		if (in->slab) {
			uint32_t id = in->map[k->if_id];
			int r;

			/* renumbered now, while the block is in the cache: it goes
			 * out as it is, or is written anew from the fields */
			if (k->canonical) {
				uint8_t *b = (uint8_t *)k->data - SRV_PCAPNG_EPB_DATA;
				uint32_t t[2] = {(uint32_t)((uint64_t)ts >> 32), (uint32_t)ts};

				memcpy(b + SRV_PCAPNG_EPB_IF_ID, &id, 4);
				if (in->shift)
					memcpy(b + SRV_PCAPNG_EPB_TS, t, 8);
			}
			r = srv_merge_push_ref(in->x->m, in->index, ts, id, in->linktype[k->if_id],
					       k->flags, k->data, k->caplen, k->wirelen, in->slab,
					       (uint8_t)k->canonical);

			if (!r)
				ecap_slab_ref(in->slab);
			return r;
		}
		return srv_merge_push(in->x->m, in->index, ts, in->map[k->if_id],
				      in->linktype[k->if_id], k->flags, k->data, k->caplen,
				      k->wirelen);
	}
	case SRV_PCAPNG_MARK:
		/* a part's (on this server's time line); a device sends none */
		if (in->devs)
			srv_merge_mark(in->x->m, in->index, *(const int64_t *)arg);
		return 0;
	case SRV_PCAPNG_STATS: {
		const struct srv_pcapng_stats *s = arg;
		struct out_iface *o = &in->x->ifs[in->map[s->if_id]];

		o->have = 1;
		o->counted = s->have != 0;
		if (in->devs && s->comment && !o->comment)
			o->comment = strndup(s->comment, s->comment_len);
		o->ts = s->ts - in->shift;
		o->c = (struct ecap_isb_counts){.ifrecv = s->ifrecv,
						.ifdrop = s->ifdrop,
						.filteraccept = s->filteraccept,
						.osdrop = s->osdrop,
						.usrdeliv = s->usrdeliv};
		in->st.ifdrop += s->ifdrop;
		in->st.osdrop += s->osdrop;
		in->st.stats_seen = 1;
		return 0;
	}
	}
	return 0;
}

int srv_mux_clock(struct srv_mux *x, unsigned in, int64_t shift_ns, const char *note)
{
	if (in >= x->nin)
		return -EINVAL;
	free(x->in[in]->note);
	x->in[in]->shift = shift_ns;
	x->in[in]->note = note ? strdup(note) : NULL;
	return note && !x->in[in]->note ? -ENOMEM : 0;
}

int srv_mux_add(struct srv_mux *x, const char *label)
{
	struct mux_input *in, **ins;
	int i;

	if (x->nin == SRV_MERGE_INPUTS_MAX)
		return -ENOSPC;
	ins = realloc(x->in, (x->nin + 1) * sizeof(*ins));
	if (!ins)
		return -ENOMEM;
	x->in = ins;
	in = calloc(1, sizeof(*in));
	if (!in || !(in->label = strdup(label))) {
		free(in);
		return -ENOMEM;
	}
	i = srv_merge_add_input(x->m);
	if (i < 0) {
		free(in->label);
		free(in);
		return i;
	}
	in->x = x;
	in->index = (unsigned)i;
	srv_pcapng_init(&in->r, on_block, in);
	x->in[x->nin++] = in;
	return i;
}

int srv_mux_add_part(struct srv_mux *x, const char *label, const char *const *devs, unsigned n)
{
	int i = srv_mux_add(x, label);
	struct mux_input *in;

	if (i < 0)
		return i;
	in = x->in[x->nin - 1];
	in->devs = calloc(n ? n : 1, sizeof(*in->devs));
	in->src = calloc(n ? n : 1, sizeof(*in->src));
	for (int src; in->devs && in->src && in->ndevs < n; in->ndevs++) {
		if ((src = srv_merge_add_source(x->m)) < 0 ||
		    !(in->devs[in->ndevs] = strdup(devs[in->ndevs])))
			break;
		in->src[in->ndevs] = (unsigned)src;
	}
	if (in->ndevs < n || !in->devs || !in->src) { /* (freed with the mux) */
		srv_mux_stop(x, (unsigned)i);	      /* holds nothing back */
		return -ENOMEM;
	}
	return i;
}

uint64_t srv_mux_part_duplicates(const struct srv_mux *x, unsigned in, unsigned k)
{
	return k < x->in[in]->ndevs ? srv_merge_source_duplicates(x->m, x->in[in]->src[k]) : 0;
}

void srv_mux_bound(struct srv_mux *x, unsigned in, uint32_t block_max, uint32_t ifaces_max,
		   uint32_t sections_max)
{
	struct srv_pcapng_reader *r = &x->in[in]->r;

	r->block_max = block_max;
	r->ifaces_max = ifaces_max;
	r->sections_max = sections_max;
}

/* After the reader's result r: an error closes the input with its reason. */
static int fed(struct srv_mux *x, unsigned i, int r)
{
	struct mux_input *in = x->in[i];

	if (r) {
		snprintf(in->err, sizeof(in->err), "%s",
			 r == -ENOMEM ? "out of memory" : in->r.err);
		srv_mux_close(x, i, in->err);
	}
	return r;
}

int srv_mux_feed(struct srv_mux *x, unsigned i, const void *data, size_t len)
{
	struct mux_input *in = x->in[i];

	if (in->closed)
		return -EINVAL;
	in->st.bytes += len;
	return fed(x, i, srv_pcapng_feed(&in->r, data, len));
}

long srv_mux_take(struct srv_mux *x, unsigned i, const void *data, size_t len)
{
	struct mux_input *in = x->in[i];
	size_t used;
	int r;

	if (in->closed)
		return -EINVAL;
	r = fed(x, i, srv_pcapng_parse(&in->r, data, len, &used));
	in->st.bytes += used;
	return r ? r : (long)used;
}

long srv_mux_take_slab(struct srv_mux *x, unsigned i, struct ecap_slab *s, const void *data,
		       size_t len)
{
	long r;

	if (!x->gen)
		return -EINVAL;
	x->in[i]->r.check_canonical = 1;
	x->in[i]->slab = s;
	r = srv_mux_take(x, i, data, len);
	x->in[i]->slab = NULL;
	return r;
}

int srv_mux_close(struct srv_mux *x, unsigned i, const char *lost)
{
	struct mux_input *in = x->in[i];
	int r = 0;

	if (in->closed) { /* a stream found cut short after its end */
		if (lost && !in->lost)
			in->lost = strdup(lost);
		return 0;
	}
	in->closed = 1;
	srv_merge_close_input(x->m, i);
	if (!lost && srv_pcapng_end(&in->r)) {
		snprintf(in->err, sizeof(in->err), "%s", in->r.err);
		lost = in->err;
		r = -EINVAL;
	}
	if (lost)
		in->lost = strdup(lost);
	return r;
}

void srv_mux_stop(struct srv_mux *x, unsigned i)
{
	x->in[i]->stopped = 1;
	if (!x->in[i]->closed) {
		x->in[i]->closed = 1;
		srv_merge_close_input(x->m, i);
	}
}

void srv_mux_limit(struct srv_mux *x, uint64_t count, uint64_t bytes)
{
	x->limit = count;
	x->bytes_max = bytes;
}

int srv_mux_full(const struct srv_mux *x)
{
	return x->full;
}

const char *srv_mux_error(const struct srv_mux *x, unsigned i)
{
	return x->in[i]->lost;
}

void srv_mux_heard(struct srv_mux *x, unsigned i, int64_t now_ns)
{
	srv_merge_heard(x->m, i, now_ns);
}

void srv_mux_squeeze(struct srv_mux *x, unsigned i, int on)
{
	srv_merge_squeeze(x->m, i, on);
}

void srv_mux_run(struct srv_mux *x, int64_t now_ns)
{
	srv_merge_run(x->m, now_ns);
}

void srv_mux_finish(struct srv_mux *x)
{
	srv_merge_flush(x->m);
	for (uint32_t id = 0; id < x->nifs; id++) {
		struct out_iface *o = &x->ifs[id];
		const struct mux_input *in = x->in[o->input];
		char comment[256];

		if (in->lost)
			snprintf(comment, sizeof(comment), "stream lost: %s", in->lost);
		else if (!o->have && in->stopped)
			snprintf(comment, sizeof(comment),
				 "capture stopped before the device sent its statistics");
		else if (!o->have)
			continue;
		else /* a part's device's as it came (its own mux's words) */
			snprintf(comment, sizeof(comment), "%s", o->comment ? o->comment : "");
		ecap_pcapng_isb(&x->out, id, (uint64_t)(o->have ? o->ts : x->last_ts),
				o->have && o->counted ? &o->c : NULL,
				(in->lost || !o->have || o->comment) ? comment : NULL);
	}
}

int64_t srv_mux_mark(struct srv_mux *x, int64_t now_ns)
{
	int64_t h = srv_merge_horizon(x->m, now_ns);
	uint32_t b[5] = {SRV_PCAPNG_BT_MARK, SRV_PCAPNG_MARK_LEN, (uint32_t)((uint64_t)h >> 32),
			 (uint32_t)h, SRV_PCAPNG_MARK_LEN};

	/* (again when it did not move: that says the part is heard from, as
	 * its devices are, though one that is heard holds the horizon back) */
	if (h == INT64_MIN || h == INT64_MAX)
		return h;
	ecap_buf_put(&x->out, b, sizeof(b));
	return h;
}

struct ecap_buf *srv_mux_out(struct srv_mux *x)
{
	return &x->out;
}

void srv_mux_stats(const struct srv_mux *x, struct srv_merge_stats *ret)
{
	srv_merge_stats(x->m, ret);
	ret->merged = x->sent; /* within the limit */
}

void srv_mux_input_stats(const struct srv_mux *x, unsigned i, struct srv_mux_input_stats *ret)
{
	uint64_t pushed;

	*ret = x->in[i]->st;
	srv_merge_input_stats(x->m, i, &pushed, &ret->duplicates);
}
