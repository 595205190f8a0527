/* mux.c - see mux.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mux.h"
#include "core/pcapng_reader.h"

struct out_iface {
	unsigned input;
	int have; /* an ISB came for it */
	int64_t ts;
	struct ecap_isb_counts c;
};

struct mux_input {
	struct srv_mux *x;
	unsigned index;
	char *label;
	struct srv_pcapng_reader r;
	uint32_t map[SRV_IFACES_MAX]; /* the section's interface -> output id */
	uint16_t linktype[SRV_IFACES_MAX];
	struct srv_mux_input_stats st;
	int closed, stopped;
	char *lost;
	char err[200];
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
};

static void emit(void *ctx, const struct srv_merge_pkt *p)
{
	struct srv_mux *x = ctx;

	if (x->limit && x->sent == x->limit)
		return;
	x->sent++;
	if (p->ts > x->last_ts)
		x->last_ts = p->ts;
	if (p->late)
		ecap_pcapng_epb_comment(&x->out, p->iface, (uint64_t)p->ts, p->data, p->caplen,
					p->wirelen, p->flags,
					"late: older than a packet before it");
	else
		ecap_pcapng_epb(&x->out, p->iface, (uint64_t)p->ts, p->data, p->caplen, p->wirelen,
				p->flags);
}

struct srv_mux *srv_mux_new(const struct srv_merge_opts *o, const char *userappl)
{
	struct srv_mux *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->m = srv_merge_new(o, emit, x);
	if (!x->m || ecap_pcapng_shb(&x->out, userappl)) {
		srv_mux_free(x);
		return NULL;
	}
	return x;
}

void srv_mux_free(struct srv_mux *x)
{
	if (!x)
		return;
	for (unsigned i = 0; i < x->nin; i++) {
		srv_pcapng_free(&x->in[i]->r);
		free(x->in[i]->label);
		free(x->in[i]->lost);
		free(x->in[i]);
	}
	free(x->in);
	free(x->ifs);
	srv_merge_free(x->m);
	ecap_buf_free(&x->out);
	free(x);
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
	x->ifs[x->nifs] = (struct out_iface){.input = in->index};
	in->map[f->id] = x->nifs++;
	in->linktype[f->id] = f->linktype;
	in->st.ifaces++;
	snprintf(name, sizeof(name), "%s%s%s", in->label, f->name[0] ? ":" : "", f->name);
	return ecap_pcapng_idb(&x->out, f->linktype, f->snaplen, name, 9);
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

		in->st.packets++;
		return srv_merge_push(in->x->m, in->index, k->ts, in->map[k->if_id],
				      in->linktype[k->if_id], k->flags, k->data, k->caplen,
				      k->wirelen);
	}
	case SRV_PCAPNG_STATS: {
		const struct srv_pcapng_stats *s = arg;
		struct out_iface *o = &in->x->ifs[in->map[s->if_id]];

		o->have = 1;
		o->ts = s->ts;
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

void srv_mux_limit(struct srv_mux *x, uint64_t count)
{
	x->limit = count;
}

int srv_mux_full(const struct srv_mux *x)
{
	return x->limit && x->sent >= x->limit;
}

const char *srv_mux_error(const struct srv_mux *x, unsigned i)
{
	return x->in[i]->lost;
}

void srv_mux_heard(struct srv_mux *x, unsigned i, int64_t now_ns)
{
	srv_merge_heard(x->m, i, now_ns);
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
		ecap_pcapng_isb(&x->out, id, (uint64_t)(o->have ? o->ts : x->last_ts),
				o->have ? &o->c : NULL, (in->lost || !o->have) ? comment : NULL);
	}
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
