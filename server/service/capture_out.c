/* capture_out.c - a capture's output: the merged pcapng in memory as the
 * mux gives it (a ring of pieces, by reference), written to its file (or,
 * for a part, sent to the server running the capture), and read by its
 * watches while it is still in memory. See capture.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "service/capture_int.h"

void cap_wake(struct srv_capture *l)
{
	for (struct srv_capture_watch *w = l->watches, *next; w; w = next) {
		next = w->next; /* w may leave at once */
		w->wake(w);
	}
}

/* The mux's output onto the ring: 0 or -ENOMEM. */
static int take_out(struct srv_capture *l)
{
	struct srv_mux_iov v[256];
	size_t n;

	while ((n = srv_mux_take_out(l->mux, v, 256))) {
		for (size_t i = 0; i < n; i++) {
			if (l->last - l->first == l->qcap) {
				size_t cap = l->qcap ? 2 * l->qcap : 1024;
				struct piece *q = malloc(cap * sizeof(*q));

				if (!q) {
					for (; i < n; i++)
						ecap_slab_unref(v[i].slab);
					while ((n = srv_mux_take_out(l->mux, v, 256)))
						for (i = 0; i < n; i++)
							ecap_slab_unref(v[i].slab);
					return -ENOMEM;
				}
				for (uint64_t k = l->first; k < l->last; k++)
					q[k & (cap - 1)] = *cap_piece(l, k);
				free(l->q);
				l->q = q;
				l->qcap = cap;
			}
			*cap_piece(l, l->last++) = (struct piece){
			    .off = l->end, .base = v[i].base, .len = v[i].len, .slab = v[i].slab};
			l->end += v[i].len;
		}
	}
	return 0;
}

/* Let go of what the file has and no reader is still to send from memory
 * (or past RETAIN bytes of it). With the file failed, of everything. */
static void let_go(struct srv_capture *l)
{
	/* none yet: keep some for the first (a part has none to come) */
	uint64_t want = l->watches || l->part ? UINT64_MAX : 0;

	for (struct srv_capture_watch *w = l->watches; w; w = w->next)
		if (w->at < want)
			want = w->at;
	while (l->first < (l->error[0] && !l->jn ? l->last : l->writ)) {
		struct piece *p = cap_piece(l, l->first);

		if (!l->error[0] && p->off + p->len > want && l->written - p->off <= RETAIN)
			break;
		ecap_slab_unref(p->slab);
		l->first++;
	}
	if (l->error[0] && !l->jn)
		l->writ = l->sub = l->first;
}

static void on_written(struct srv_write_job *w, int err);

/* Jobs for the writer: one whenever it has none, and more while full ones
 * can be made (JOBS in flight at most). */
static void submit(struct srv_capture *l)
{
	/* a part's receiver takes one send at a time */
	unsigned most = l->part ? (l->out ? 1 : 0) : JOBS;

	while (!l->cs->closing && !l->error[0] && l->jn < most && l->sub < l->last &&
	       (!l->jn || l->end - l->queued >= JOB_MAX)) {
		struct job *j = &l->jobs[(l->jhead + l->jn) % JOBS];

		j->pieces = j->bytes = 0;
		for (; l->sub < l->last && j->pieces < JOB_PIECES && j->bytes < JOB_MAX; l->sub++) {
			struct piece *p = cap_piece(l, l->sub);

			j->v[j->pieces++] =
			    (struct iovec){.iov_base = (void *)p->base, .iov_len = p->len};
			j->bytes += p->len;
		}
		j->l = l;
		j->w = (struct srv_write_job){
		    .fd = l->fd, .off = l->queued, .iov = j->v, .n = j->pieces, .done = on_written};
		l->queued += j->bytes;
		l->jn++;
		if (l->out)
			l->out->send(l->out, j->v, j->pieces);
		else
			srv_writer_submit(l->cs->writer, &j->w);
	}
}

/* The writer did the oldest job (it does them in order). */
static void on_written(struct srv_write_job *w, int err)
{
	struct job *j = H2O_STRUCT_FROM_MEMBER(struct job, w, w);
	struct srv_capture *l = j->l;

	l->jhead = (l->jhead + 1) % JOBS;
	l->jn--;
	if (err && !l->error[0]) {
		snprintf(l->error, sizeof(l->error), "writing the capture: %s", strerror(-err));
		cap_ask_stop(l, "error", l->error);
	}
	if (!l->error[0]) {
		l->written += j->bytes;
		l->writ += j->pieces;
	}
	let_go(l);
	submit(l);
	if (l->ending && !l->done && !l->jn && (l->written == l->end || l->error[0]))
		cap_complete(l);
	else
		cap_wake(l); /* the file grew */
}

/* The mux's output to memory, and on to the file; the watches are woken. */
void cap_flush_out(struct srv_capture *l)
{
	int r = srv_mux_out(l->mux)->err;

	if (!r)
		r = take_out(l);
	if (r && !l->error[0])
		snprintf(l->error, sizeof(l->error), "writing the capture: %s", strerror(-r));
	submit(l);
	if (srv_mux_full(l->mux) == SRV_MUX_FULL_COUNT)
		cap_ask_stop(l, "count", "packet count reached");
	else if (srv_mux_full(l->mux) == SRV_MUX_FULL_BYTES)
		cap_ask_stop(l, l->by_quota ? "quota" : "bytes",
			     l->by_quota ? "the organization's storage is full" : l->cs->bytes_why);
	if (l->error[0])
		cap_ask_stop(l, "error", l->error);
	let_go(l);
	cap_wake(l);
}

void srv_capture_out_sent(struct srv_capture *c, int err)
{
	if (c->jn)
		on_written(&c->jobs[c->jhead].w, err);
}

void srv_capture_out_gone(struct srv_capture *c)
{
	c->out = NULL;
	if (!c->done && !c->error[0]) {
		snprintf(c->error, sizeof(c->error), "the server running the capture went away");
		cap_ask_stop(c, "error", c->error);
	}
	if (c->jn) /* its send will not be heard of */
		on_written(&c->jobs[c->jhead].w, -EPIPE);
}

void srv_capture_watch(struct srv_capture *c, struct srv_capture_watch *w)
{
	w->next = c->watches;
	c->watches = w;
	c->unwatched_until = 0;
}

void srv_capture_unwatch(struct srv_capture *c, struct srv_capture_watch *w)
{
	struct srv_capture_watch **pp = &c->watches;

	while (*pp && *pp != w)
		pp = &(*pp)->next;
	if (*pp)
		*pp = w->next;
	if (!c->watches && w->back_ms)
		c->unwatched_until =
		    h2o_now(c->cs->conf.loop) + w->back_ms; /* on_tick stops it then */
	else if (!c->watches)
		cap_ask_stop(c, "reader left", "its last reader went away");
	let_go(c);
}

uint64_t srv_capture_written(const struct srv_capture *c)
{
	return c->written;
}

size_t srv_capture_peek(struct srv_capture *c, uint64_t off, size_t max, h2o_iovec_t *iov,
			struct ecap_slab **pins, size_t n, size_t *ret_bytes)
{
	uint64_t lo = c->first, hi = c->last;
	size_t k = 0, bytes = 0;

	*ret_bytes = 0;
	if (c->pinned >= PIN_MAX || lo == hi || off < cap_piece(c, lo)->off || off >= c->end)
		return 0;
	if (max > PIN_MAX - c->pinned)
		max = PIN_MAX - c->pinned;
	while (hi - lo > 1) { /* the last piece starting at or before off */
		uint64_t mid = lo + (hi - lo) / 2;

		if (cap_piece(c, mid)->off <= off)
			lo = mid;
		else
			hi = mid;
	}
	for (; lo < c->last && k < n && bytes < max; lo++, k++) {
		const struct piece *p = cap_piece(c, lo);
		size_t skip = (size_t)(off - p->off), len = p->len - skip;

		if (len > max - bytes)
			len = max - bytes;
		iov[k] = h2o_iovec_init(p->base + skip, len);
		pins[k] = p->slab;
		ecap_slab_ref(p->slab);
		bytes += len;
		off += len;
	}
	c->pinned += bytes;
	*ret_bytes = bytes;
	return k;
}

void srv_capture_unpin(struct srv_capture *c, struct ecap_slab **pins, size_t n, size_t bytes)
{
	for (size_t i = 0; i < n; i++)
		ecap_slab_unref(pins[i]);
	c->pinned -= bytes;
	let_go(c); /* the reader has moved on */
}
