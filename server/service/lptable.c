/* lptable.c - the UDP-over-HTTP long-poll table, see lptable.h and
 * docs/tunnel.md.
 *
 * The mapping table: client id -> the requests waiting (at most two: the
 * parked one and a newer one that completes it), a UDP socket of the
 * client's own connected to the mTunnel server (while datagrams flow: it
 * is closed after two hold times without any, and opened again when one
 * comes either way), the datagrams that came back
 * to that socket (framed as a response body already; bounded, overflow
 * counted). Requests come here authenticated (the poll endpoint checks them
 * against the tunnel's registrations, which keep the request numbers seen,
 * so those outlive this entry).
 *
 * A request's datagrams are checked as a whole batch, then sent from the
 * client's socket as real datagrams. Then it waits: a newer request, or
 * datagrams to send down, complete the oldest after SRV_LP_COALESCE_MS so
 * that more datagrams ride along; a request parked the hold time (the
 * server's, or a shorter one its device asks for) is answered empty,
 * before proxies give up on it. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/web.h"
#include "service/lptable.h"
#include "tunnel/tunio.h"

#define LP_HASH	   4096
#define LP_WAITING 2
#define LP_HOLDS   (SRV_LP_HOLD_MAX_MS / 1000) /* a device's own holds, in whole seconds */
#define HOUSE_MS   1000
#define LP_IDLE_MS (5 * 60 * 1000) /* default: a client with no request this long leaves */

struct lp_client;

/* A waiting request, in one of its client's slots. */
struct lp_wait {
	void *waiter;
	struct lp_client *c; /* NULL: the slot is free */
	h2o_timeout_entry_t hold;
};

struct lp_client {
	struct srv_lptab *lp;
	uint32_t id;
	int fd;
	uint16_t port;
	h2o_socket_t *sock;
	struct lp_wait *wait[LP_WAITING]; /* oldest first, in slot */
	struct lp_wait slot[LP_WAITING];
	unsigned nwait;
	struct ecap_buf q; /* the datagrams for it, as a response body (wire.h's batch) */
	uint64_t last_req, last_dgram;
	h2o_timeout_entry_t flush;
	struct lp_client *next, *next_port;
};

struct srv_lptab {
	h2o_loop_t *loop;
	struct sockaddr_in udp; /* the mTunnel server's: every client's socket talks to it */
	unsigned hold_ms, idle_ms;
	srv_lptab_answer_fn *answer_fn;
	struct lp_client *tab[LP_HASH], *by_port[LP_HASH];
	h2o_timeout_t hold, coalesce, house;
	h2o_timeout_t holds[LP_HOLDS]; /* [s - 1]: a device's own hold of s seconds */
	uint32_t holds_used;	       /* a bit each, those initialised */
	h2o_timeout_entry_t house_entry;
	struct srv_lptab_stats stat; /* clients and sockets: now; the rest: since the start */
};

static struct lp_client *find(struct srv_lptab *lp, uint32_t id)
{
	struct lp_client *c = lp->tab[id % LP_HASH];

	while (c && c->id != id)
		c = c->next;
	return c;
}

int srv_lptab_owns(struct srv_lptab *lp, uint16_t port)
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

/* Answer the oldest waiting request with what is queued, up to
 * SRV_LP_BODY_MAX at a datagram's end. */
static void answer(struct lp_client *c)
{
	void *waiter = c->wait[0]->waiter;
	size_t n = 0;

	while (n < c->q.len) {
		size_t len = 2 + ((size_t)c->q.data[n] << 8 | c->q.data[n + 1]);

		if (n + len > SRV_LP_BODY_MAX)
			break;
		n += len;
	}
	unwait(c);
	c->lp->answer_fn(waiter, c->q.data, n);
	if (n == c->q.len) { /* an idle client keeps no buffer */
		ecap_buf_free(&c->q);
		return;
	}
	memmove(c->q.data, c->q.data + n, c->q.len - n);
	c->q.len -= n;
}

/* The coalescing delay passed: a newer request completes the older ones;
 * the last one is answered too when there is something to send. */
static void on_flush(h2o_timeout_entry_t *e)
{
	struct lp_client *c = H2O_STRUCT_FROM_MEMBER(struct lp_client, flush, e);

	while (c->nwait > 1)
		answer(c);
	if (c->nwait && c->q.len)
		answer(c);
}

static void flush_soon(struct lp_client *c)
{
	if (c->nwait && (c->nwait > 1 || c->q.len) && !h2o_timeout_is_linked(&c->flush))
		h2o_timeout_link(c->lp->loop, &c->lp->coalesce, &c->flush);
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

	c->last_dgram = h2o_now(c->lp->loop);
	while ((n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		if (n > MTUN_DGRAM_MAX)
			continue;
		if (c->q.len + 2 + (size_t)n > SRV_LP_QUEUE_MAX ||
		    mtun_batch_put(&c->q, buf, (size_t)n)) {
			/* the mTunnel link sends it again; what was queued stays */
			c->q.err = 0;
			c->lp->stat.overflow++;
			continue;
		}
		c->lp->stat.datagrams_down++;
	}
	flush_soon(c);
}

/* The client's UDP socket exists while datagrams flow: an idle device costs
 * no socket (its polls alone keep its registration). Bound on the mTunnel's
 * address, connected to its port: the mTunnel server sees a UDP peer. */
static int open_socket(struct lp_client *c)
{
	const struct sockaddr_in *to = &c->lp->udp;
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
	c->sock = web_watch(c->lp->loop, fd, on_socket, c);
	c->lp->stat.sockets++;
	c->next_port = c->lp->by_port[c->port % LP_HASH];
	c->lp->by_port[c->port % LP_HASH] = c;
	c->last_dgram = h2o_now(c->lp->loop);
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
	c->lp->stat.sockets--;
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
	ecap_buf_free(&c->q);
	c->lp->stat.clients--;
	free(c);
}

static struct lp_client *client_new(struct srv_lptab *lp, uint32_t id)
{
	struct lp_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->lp = lp;
	c->id = id;
	c->fd = -1;
	c->flush.cb = on_flush;
	lp->stat.clients++;
	c->next = lp->tab[id % LP_HASH];
	lp->tab[id % LP_HASH] = c;
	return c;
}

uint16_t srv_lptab_port(struct srv_lptab *lp, uint32_t client)
{
	struct lp_client *c = lp ? find(lp, client) : NULL;

	return c ? c->port : 0;
}

int srv_lptab_path(struct srv_lptab *lp, uint32_t client, struct sockaddr_in *ret)
{
	struct lp_client *c = lp ? find(lp, client) : NULL;

	if (!c || open_socket(c))
		return -ENOENT;
	c->last_dgram = h2o_now(lp->loop); /* something goes to it now: not closed under it */
	*ret = lp->udp;
	ret->sin_port = htons(c->port);
	return 0;
}

void srv_lptab_forget(struct srv_lptab *lp, uint32_t client)
{
	struct lp_client *c = lp ? find(lp, client) : NULL;

	if (c)
		client_free(c);
}

/* The queue for a hold the device asked for (0: none): the server's own
 * when it asked for none or more, else its whole seconds'. */
static h2o_timeout_t *hold_queue(struct srv_lptab *lp, unsigned hold_ms)
{
	unsigned s = hold_ms / 1000;

	if (!hold_ms || hold_ms >= lp->hold_ms || !s || s > LP_HOLDS)
		return &lp->hold;
	if (!(lp->holds_used & 1u << (s - 1))) {
		h2o_timeout_init(lp->loop, &lp->holds[s - 1], s * 1000);
		lp->holds_used |= 1u << (s - 1);
	}
	return &lp->holds[s - 1];
}

int srv_lptab_poll(struct srv_lptab *lp, uint32_t client, const uint8_t *batch, size_t len,
		   unsigned hold_ms, void *waiter, char *err, size_t errlen)
{
	const char *why = NULL;
	const uint8_t *dg;
	size_t off = 0, at = 0, dglen;
	struct lp_client *c = find(lp, client);
	struct lp_wait *w;
	int r;

	lp->stat.requests++;
	/* the whole batch is checked before any of it goes on */
	while ((r = mtun_batch_next(batch, len, &off, &dg, &dglen, &why)) > 0) {
		if (dglen < MTUN_HDR || mtun_be32(dg + 4) != client) {
			why = "a datagram of another client";
			r = -EINVAL;
			break;
		}
		at = off;
	}
	if (r < 0) { /* at: where the datagram it refuses begins */
		lp->stat.bad++;
		snprintf(err, errlen, "batch at byte %zu: %s", at, why);
		return -EINVAL;
	}
	if (!c && !(c = client_new(lp, client))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->last_req = h2o_now(lp->loop);
	if (len && open_socket(c)) {
		snprintf(err, errlen, "no socket for the client");
		return -EIO;
	}
	if (len)
		c->last_dgram = c->last_req;
	for (off = 0; mtun_batch_next(batch, len, &off, &dg, &dglen, &why) > 0;) {
		if (send(c->fd, dg, dglen, MSG_DONTWAIT) < 0)
			break; /* the link sends it again */
		lp->stat.datagrams_up++;
	}
	if (c->nwait == LP_WAITING)
		answer(c);
	w = c->slot[0].c ? &c->slot[1] : &c->slot[0];
	*w = (struct lp_wait){.waiter = waiter, .c = c, .hold = {.cb = on_hold}};
	c->wait[c->nwait++] = w;
	h2o_timeout_link(lp->loop, hold_queue(lp, hold_ms), &w->hold);
	flush_soon(c);
	return 0;
}

static void on_house(h2o_timeout_entry_t *e)
{
	struct srv_lptab *lp = H2O_STRUCT_FROM_MEMBER(struct srv_lptab, house_entry, e);
	uint64_t now = h2o_now(lp->loop);

	for (unsigned b = 0; b < LP_HASH; b++)
		for (struct lp_client *c = lp->tab[b], *next; c; c = next) {
			next = c->next;
			if (!c->nwait && now - c->last_req > lp->idle_ms)
				client_free(c);
			else if (!c->q.len && now - c->last_dgram > 2 * (uint64_t)lp->hold_ms)
				close_socket(c); /* quiet for two holds: until a datagram comes */
		}
	h2o_timeout_link(lp->loop, &lp->house, &lp->house_entry);
}

struct srv_lptab *srv_lptab_new(const struct srv_lptab_conf *c)
{
	struct srv_lptab *lp = calloc(1, sizeof(*lp));

	if (!lp)
		return NULL;
	lp->loop = c->loop;
	lp->udp = c->udp;
	lp->hold_ms = c->hold_ms;
	lp->idle_ms = c->idle_ms ? c->idle_ms : LP_IDLE_MS;
	lp->answer_fn = c->answer;
	h2o_timeout_init(lp->loop, &lp->hold, lp->hold_ms);
	h2o_timeout_init(lp->loop, &lp->coalesce, SRV_LP_COALESCE_MS);
	h2o_timeout_init(lp->loop, &lp->house, HOUSE_MS);
	lp->house_entry.cb = on_house;
	h2o_timeout_link(lp->loop, &lp->house, &lp->house_entry);
	return lp;
}

void srv_lptab_free(struct srv_lptab *lp)
{
	if (!lp)
		return;
	for (unsigned b = 0; b < LP_HASH; b++)
		while (lp->tab[b])
			client_free(lp->tab[b]);
	h2o_timeout_unlink(&lp->house_entry);
	h2o_timeout_dispose(lp->loop, &lp->hold);
	for (unsigned i = 0; i < LP_HOLDS; i++)
		if (lp->holds_used & 1u << i)
			h2o_timeout_dispose(lp->loop, &lp->holds[i]);
	h2o_timeout_dispose(lp->loop, &lp->coalesce);
	h2o_timeout_dispose(lp->loop, &lp->house);
	free(lp);
}

void srv_lptab_stats(struct srv_lptab *lp, struct srv_lptab_stats *ret)
{
	*ret = lp ? lp->stat : (struct srv_lptab_stats){0};
}
