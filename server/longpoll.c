/* longpoll.c - UDP over HTTP long polling, see tunnel.h and docs/tunnel.md.
 *
 * The mapping table: client id -> the requests waiting (at most two: the
 * parked one and a newer one that completes it), a UDP socket of the
 * client's own connected to the mTunnel server (while datagrams flow: it
 * is closed after two hold times without any, and opened again when one
 * comes either way), the datagrams that came back
 * to that socket (framed as a response body already; bounded, overflow
 * counted). The request numbers seen are the registration's (tunnel.c), so
 * they outlive this entry.
 *
 * A request's datagrams are checked as a whole batch, then sent from the
 * client's socket as real datagrams. Then it waits: a newer request, or
 * datagrams to send down, complete the oldest after TUNNEL_COALESCE_MS so
 * that more datagrams ride along; a request parked TUNNEL_HOLD_MS is
 * answered empty, before proxies give up on it. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/auth.h"
#include "server.h"
#include "tunnel.h"

#define LP_HASH    4096
#define LP_WAITING 2
#define LP_IDLE_MS (5 * 60 * 1000) /* a client with no request this long leaves the table */

struct lp_client;

/* A waiting request, in one of its client's slots. Polls are HTTP/1 only:
 * h2o does not read an HTTP/1 connection while a request is in progress, so
 * it frees the request only after we answer it (HTTP/2 could reset the
 * stream under us, and a hook in the request's pool to learn of that would
 * cost a 4 KiB pool chunk per parked device). */
struct lp_wait {
	h2o_req_t *req;
	struct lp_client *c; /* NULL: the slot is free */
	h2o_timeout_entry_t hold;
};

struct lp_client {
	struct longpoll *lp;
	uint32_t id;
	int fd;
	uint16_t port;
	h2o_socket_t *sock;
	struct lp_wait *wait[LP_WAITING]; /* oldest first, in slot */
	struct lp_wait slot[LP_WAITING];
	unsigned nwait;
	uint8_t *q; /* [u16 length][datagram]... */
	size_t qlen, qcap;
	uint64_t last_req, last_dgram;
	h2o_timeout_entry_t flush;
	struct lp_client *next, *next_port;
};

struct longpoll {
	struct server *s;
	struct lp_client *tab[LP_HASH], *by_port[LP_HASH];
	h2o_timeout_t hold, coalesce, house;
	h2o_timeout_entry_t house_entry;
	struct longpoll_stats stat;
};

static struct lp_client *find(struct longpoll *lp, uint32_t id)
{
	struct lp_client *c = lp->tab[id % LP_HASH];

	while (c && c->id != id)
		c = c->next;
	return c;
}

int longpoll_owns(struct longpoll *lp, uint16_t port)
{
	struct lp_client *c = lp ? lp->by_port[port % LP_HASH] : NULL;

	while (c && c->port != port)
		c = c->next_port;
	return c != NULL;
}

/* The oldest waiting request leaves its slot (to be answered). */
static void unwait(struct lp_client *c)
{
	struct lp_wait *w = c->wait[0];

	w->c = NULL;
	if (h2o_timeout_is_linked(&w->hold))
		h2o_timeout_unlink(&w->hold);
	memmove(c->wait, c->wait + 1, (c->nwait - 1) * sizeof(c->wait[0]));
	c->nwait--;
}

static h2o_generator_t inline_gen; /* a response sent whole: nothing to proceed or stop */

/* Answer the oldest waiting request with what is queued, up to
 * TUNNEL_BODY_MAX at a datagram's end. */
static void answer(struct lp_client *c)
{
	h2o_req_t *req = c->wait[0]->req;
	size_t n = 0;
	char *body;

	while (n < c->qlen) {
		size_t len = 2 + ((size_t)c->q[n] << 8 | c->q[n + 1]);

		if (n + len > TUNNEL_BODY_MAX)
			break;
		n += len;
	}
	unwait(c);
	body = h2o_mem_alloc_pool(&req->pool, n + 1);
	memcpy(body, c->q, n);
	memmove(c->q, c->q + n, c->qlen - n);
	c->qlen -= n;
	if (!c->qlen) { /* an idle client keeps no buffer */
		free(c->q);
		c->q = NULL;
		c->qcap = 0;
	}
	req->res.status = 200;
	req->res.reason = "OK";
	req->res.content_length = n;
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       H2O_STRLIT("application/octet-stream"));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
		       H2O_STRLIT("no-store, no-transform"));
	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-accel-buffering"), 0,
			      NULL, H2O_STRLIT("no"));
	h2o_start_response(req, &inline_gen);
	h2o_send(req, &(h2o_iovec_t){body, n}, 1, H2O_SEND_STATE_FINAL);
}

/* The coalescing delay passed: a newer request completes the older ones;
 * the last one is answered too when there is something to send. */
static void on_flush(h2o_timeout_entry_t *e)
{
	struct lp_client *c = H2O_STRUCT_FROM_MEMBER(struct lp_client, flush, e);

	while (c->nwait > 1)
		answer(c);
	if (c->nwait && c->qlen)
		answer(c);
}

static void flush_soon(struct lp_client *c)
{
	if (c->nwait && (c->nwait > 1 || c->qlen) && !h2o_timeout_is_linked(&c->flush))
		h2o_timeout_link(c->lp->s->ctx.loop, &c->lp->coalesce, &c->flush);
}

static void on_hold(h2o_timeout_entry_t *e)
{
	struct lp_wait *w = H2O_STRUCT_FROM_MEMBER(struct lp_wait, hold, e);
	struct lp_client *c = w->c;

	/* answer every request up to this one (the oldest wait longest) */
	while (c && c->nwait && w->c)
		answer(c);
}

/* Datagrams from the mTunnel server to this client: queued for a response. */
static void on_socket(h2o_socket_t *sock, const char *e)
{
	struct lp_client *c = sock->data;
	uint8_t buf[MTUN_DGRAM_MAX + 1];
	ssize_t n;

	c->last_dgram = h2o_now(c->lp->s->ctx.loop);
	while ((n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		if (n > MTUN_DGRAM_MAX)
			continue;
		if (c->qlen + 2 + (size_t)n > TUNNEL_QUEUE_MAX) {
			c->lp->stat.overflow++; /* the mTunnel link sends it again */
			continue;
		}
		if (c->qlen + 2 + (size_t)n > c->qcap) {
			size_t cap = c->qcap ? 2 * c->qcap : 16384;
			uint8_t *q;

			while (cap < c->qlen + 2 + (size_t)n)
				cap *= 2;
			q = realloc(c->q, cap);
			if (!q) {
				c->lp->stat.overflow++;
				continue;
			}
			c->q = q;
			c->qcap = cap;
		}
		c->q[c->qlen] = (uint8_t)(n >> 8);
		c->q[c->qlen + 1] = (uint8_t)n;
		memcpy(c->q + c->qlen + 2, buf, (size_t)n);
		c->qlen += 2 + (size_t)n;
		c->lp->stat.datagrams_down++;
	}
	flush_soon(c);
}

/* The client's UDP socket exists while datagrams flow: an idle device costs
 * no socket (its polls alone keep its registration). Bound on the mTunnel's
 * address, connected to its port: the mTunnel server sees a UDP peer. */
static int open_socket(struct lp_client *c)
{
	const struct sockaddr_in *to = tunnel_udp_address(c->lp->s);
	struct sockaddr_in me = {.sin_family = AF_INET, .sin_addr = to->sin_addr};
	socklen_t len = sizeof(me);
	int fd;

	if (c->sock)
		return 0;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof(me)) ||
	    connect(fd, (const struct sockaddr *)to, sizeof(*to)) ||
	    getsockname(fd, (struct sockaddr *)&me, &len)) {
		if (fd >= 0)
			close(fd);
		return -EIO;
	}
	mtun_socket_buffers(fd, 4 << 20); /* a limit, not an allocation */
	c->fd = fd;
	c->port = ntohs(me.sin_port);
	c->sock = web_watch(c->lp->s->ctx.loop, fd, on_socket, c);
	c->next_port = c->lp->by_port[c->port % LP_HASH];
	c->lp->by_port[c->port % LP_HASH] = c;
	c->last_dgram = h2o_now(c->lp->s->ctx.loop);
	return 0;
}

static void close_socket(struct lp_client *c)
{
	struct lp_client **p;

	if (!c->sock)
		return;
	for (p = &c->lp->by_port[c->port % LP_HASH]; *p != c; p = &(*p)->next_port)
		;
	*p = c->next_port;
	h2o_socket_read_stop(c->sock);
	h2o_socket_close(c->sock);
	c->sock = NULL;
	c->fd = -1;
	c->port = 0;
}

static void client_free(struct lp_client *c)
{
	struct lp_client **p = &c->lp->tab[c->id % LP_HASH];

	while (c->nwait) /* answered, so the device asks again and learns */
		answer(c);
	while (*p != c)
		p = &(*p)->next;
	*p = c->next;
	if (h2o_timeout_is_linked(&c->flush))
		h2o_timeout_unlink(&c->flush);
	close_socket(c);
	free(c->q);
	free(c);
}

static struct lp_client *client_new(struct longpoll *lp, uint32_t id)
{
	struct lp_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->lp = lp;
	c->id = id;
	c->fd = -1;
	c->flush.cb = on_flush;
	c->next = lp->tab[id % LP_HASH];
	lp->tab[id % LP_HASH] = c;
	return c;
}

uint16_t longpoll_port(struct longpoll *lp, uint32_t client)
{
	struct lp_client *c = lp ? find(lp, client) : NULL;

	return c ? c->port : 0;
}

int longpoll_path(struct longpoll *lp, uint32_t client, struct sockaddr_in *ret)
{
	struct lp_client *c = lp ? find(lp, client) : NULL;

	if (!c || open_socket(c))
		return -ENOENT;
	c->last_dgram = h2o_now(lp->s->ctx.loop); /* something goes to it now: not closed under it */
	*ret = *tunnel_udp_address(lp->s);
	ret->sin_port = htons(c->port);
	return 0;
}

void longpoll_forget(struct longpoll *lp, uint32_t client)
{
	struct lp_client *c = lp ? find(lp, client) : NULL;

	if (c)
		client_free(c);
}

/* A header's value as a C string in buf, or NULL. */
static const char *header(h2o_req_t *req, const char *name, char *buf, size_t len)
{
	ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
	h2o_iovec_t v;

	if (i < 0)
		return NULL;
	v = req->headers.entries[i].value;
	if (v.len >= len)
		return NULL;
	memcpy(buf, v.base, v.len);
	buf[v.len] = 0;
	return buf;
}

int longpoll_request(struct server *s, h2o_req_t *req)
{
	struct longpoll *lp = s->longpoll;
	char idb[16], seqb[24], sigb[64], text[64], want[2 * MTUN_TAG + 1], *end;
	const char *id_s = header(req, "edgecap-client", idb, sizeof(idb)),
		   *seq_s = header(req, "edgecap-seq", seqb, sizeof(seqb)),
		   *sig_s = header(req, "edgecap-sig", sigb, sizeof(sigb)), *why = NULL;
	const uint8_t *body = (const uint8_t *)req->entity.base, *dg;
	size_t blen = req->entity.base ? req->entity.len : 0, off = 0, dglen;
	uint8_t tag[MTUN_TAG];
	unsigned long id;
	unsigned long long seq;
	struct mtun_key *key;
	struct lp_client *c;
	struct lp_wait *w;
	int r;

	lp->stat.requests++;
	if (req->version >= 0x200)
		return api_fail(req, 505, "polls are HTTP/1.x");
	if (!id_s || !seq_s || !sig_s) {
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
			       H2O_STRLIT("Edgecap-Tunnel"));
		return api_fail(req, 401, "want Edgecap-Client, Edgecap-Seq and Edgecap-Sig");
	}
	id = strtoul(id_s, &end, 16);
	if (*end || !*id_s || id > UINT32_MAX || !(seq = strtoull(seq_s, &end, 10)) || *end)
		return api_fail(req, 400, "Edgecap-Client: want 8 hex digits; Edgecap-Seq: from 1");
	key = tunnel_client_key(s, (uint32_t)id);
	if (!key) {
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
			       H2O_STRLIT("Edgecap-Tunnel"));
		return api_fail(req, 401, "unknown client %08lx: register again", id);
	}
	snprintf(text, sizeof(text), "poll\n%08lx\n%llu", id, seq);
	if (mtun_key_tag(key, text, strlen(text), tag))
		return api_fail(req, 500, "MAC failed");
	ecap_hex_encode(tag, sizeof(tag), want);
	if (strlen(sig_s) != 2 * MTUN_TAG || CRYPTO_memcmp(want, sig_s, 2 * MTUN_TAG))
		return api_fail(req, 403, "bad signature");
	c = find(lp, (uint32_t)id);
	if (!c && !(c = client_new(lp, (uint32_t)id)))
		return api_fail(req, 503, "out of memory");
	if (tunnel_poll_fresh(s, (uint32_t)id, seq))
		return api_fail(req, 403, "replayed request %llu", seq);
	c->last_req = h2o_now(s->ctx.loop);
	/* the whole batch is checked before any of it goes on */
	while ((r = mtun_batch_next(body, blen, &off, &dg, &dglen, &why)) > 0)
		if (dglen < MTUN_HDR || mtun_be32(dg + 4) != id) {
			why = "a datagram of another client";
			r = -EINVAL;
			break;
		}
	if (r < 0) {
		lp->stat.bad++;
		return api_fail(req, 400, "batch at byte %zu: %s", off, why);
	}
	if (blen && open_socket(c))
		return api_fail(req, 503, "no socket for the client");
	if (blen)
		c->last_dgram = c->last_req;
	for (off = 0; mtun_batch_next(body, blen, &off, &dg, &dglen, &why) > 0;) {
		if (send(c->fd, dg, dglen, MSG_DONTWAIT) < 0)
			break; /* the link sends it again */
		lp->stat.datagrams_up++;
	}
	if (c->nwait == LP_WAITING)
		answer(c);
	w = c->slot[0].c ? &c->slot[1] : &c->slot[0];
	*w = (struct lp_wait){.req = req, .c = c, .hold = {.cb = on_hold}};
	c->wait[c->nwait++] = w;
	h2o_timeout_link(s->ctx.loop, &lp->hold, &w->hold);
	flush_soon(c);
	return 0;
}

static void on_house(h2o_timeout_entry_t *e)
{
	struct longpoll *lp = H2O_STRUCT_FROM_MEMBER(struct longpoll, house_entry, e);
	uint64_t now = h2o_now(lp->s->ctx.loop);

	for (unsigned b = 0; b < LP_HASH; b++)
		for (struct lp_client *c = lp->tab[b], *next; c; c = next) {
			next = c->next;
			if (!c->nwait && now - c->last_req > LP_IDLE_MS)
				client_free(c);
			else if (!c->qlen && now - c->last_dgram > 2 * (uint64_t)lp->s->conf.tunnel_hold_ms)
				close_socket(c); /* quiet for two holds: until a datagram comes */
		}
	h2o_timeout_link(lp->s->ctx.loop, &lp->house, &lp->house_entry);
}

struct longpoll *longpoll_new(struct server *s)
{
	struct longpoll *lp = calloc(1, sizeof(*lp));

	if (!lp)
		return NULL;
	lp->s = s;
	h2o_timeout_init(s->ctx.loop, &lp->hold, s->conf.tunnel_hold_ms);
	h2o_timeout_init(s->ctx.loop, &lp->coalesce, TUNNEL_COALESCE_MS);
	h2o_timeout_init(s->ctx.loop, &lp->house, 1000);
	lp->house_entry.cb = on_house;
	h2o_timeout_link(s->ctx.loop, &lp->house, &lp->house_entry);
	return lp;
}

void longpoll_free(struct longpoll *lp)
{
	if (!lp)
		return;
	for (unsigned b = 0; b < LP_HASH; b++)
		while (lp->tab[b])
			client_free(lp->tab[b]);
	h2o_timeout_unlink(&lp->house_entry);
	free(lp);
}

void longpoll_stats(struct longpoll *lp, struct longpoll_stats *ret)
{
	*ret = lp ? lp->stat : (struct longpoll_stats){0};
}
