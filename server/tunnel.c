/* tunnel.c - the mTunnel server, see tunnel.h: registration, one UDP
 * socket for every device's datagrams, a reliable link per device, and the
 * TUN device 6.0.0.1/8 whose IP packets they carry. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/ip.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "common/auth.h"
#include "server.h"
#include "tunnel.h"

#define HASH_BITS  16
#define HASH_SIZE  (1u << HASH_BITS)
#define UDP_BATCH  64
#define TUN_BATCH  256 /* packets read per loop turn, so UDP is not starved */
#define SEEN_EVERY 30  /* s between last_seen writes while nothing changes */

struct tunnel;

struct client {
	struct tunnel *t;
	uint32_t id, addr; /* addr: management address, host order */
	int64_t device, org;
	char name[REG_NAME_MAX + 1];
	struct mtun_key *key;
	struct mtun_link link;
	struct sockaddr_in peer; /* where its last datagram came from; port 0: none yet */
	uint64_t last_rx;        /* ms */
	int64_t seen_saved;      /* s, last registry write */
	const char *transport;   /* "udp", "http" as last saved */
	uint32_t hello_hi, ack_hi; /* the last fresh HELLO's and ACK's numbers */
	int64_t reg_ts;            /* the registration's proof: a replay of it is refused */
	uint64_t reg_nonce;        /* (a hash of its nonce) */
	uint64_t poll_max, poll_seen; /* poll request numbers: the highest, and the 64 below */
	struct client *next_id, *next_addr, *next_active;
	int active; /* on the timer list */
};

struct tunnel {
	struct server *s;
	int udp_fd, tun_fd;
	h2o_socket_t *udp_sock, *tun_sock;
	struct sockaddr_in udp_addr; /* for longpoll's sockets: loopback, our port */
	struct client *by_id[HASH_SIZE], *by_addr[HASH_SIZE];
	struct client *active;
	unsigned nclients;
	h2o_timeout_t tick, house;
	h2o_timeout_entry_t tick_entry, house_entry, flush_entry;
	struct mtun_sendq *sendq; /* flushed before the loop sleeps */
	struct {
		uint64_t no_client, bad_tag, stale, spoofed, no_route, tun_errors;
	} stat;
};

static inline struct tunnel *T(struct server *s)
{
	return s->tunnel;
}

static const char http_path[] = "http";

static unsigned hash32(uint32_t v)
{
	return (v * 2654435761u) >> (32 - HASH_BITS);
}

static struct client *by_id(struct tunnel *t, uint32_t id)
{
	struct client *c = t->by_id[hash32(id)];

	while (c && c->id != id)
		c = c->next_id;
	return c;
}

static struct client *by_addr(struct tunnel *t, uint32_t addr)
{
	struct client *c = t->by_addr[hash32(addr)];

	while (c && c->addr != addr)
		c = c->next_addr;
	return c;
}

struct mtun_key *tunnel_client_key(struct server *s, uint32_t client)
{
	struct client *c = T(s) ? by_id(T(s), client) : NULL;

	return c ? c->key : NULL;
}

const struct sockaddr_in *tunnel_udp_address(struct server *s)
{
	return &T(s)->udp_addr;
}

static uint64_t now_ms(struct tunnel *t)
{
	return h2o_now(t->s->ctx.loop);
}

static void schedule(struct tunnel *t, struct client *c)
{
	if (!c->active && mtun_link_deadline(&c->link)) {
		c->active = 1;
		c->next_active = t->active;
		t->active = c;
	}
	if (t->active && !h2o_timeout_is_linked(&t->tick_entry))
		h2o_timeout_link(t->s->ctx.loop, &t->tick, &t->tick_entry);
}

static void on_flush(h2o_timeout_entry_t *e)
{
	struct tunnel *t = H2O_STRUCT_FROM_MEMBER(struct tunnel, flush_entry, e);

	mtun_sendq_flush(t->sendq);
}

static void send_to(struct tunnel *t, const struct sockaddr_in *to, const uint8_t *dg, size_t len)
{
	mtun_sendq_add(t->sendq, to, dg, len);
	if (!h2o_timeout_is_linked(&t->flush_entry))
		h2o_timeout_link(t->s->ctx.loop, &t->s->ctx.zero_timeout, &t->flush_entry);
}

/* Can we reach the client? Its last path; for a polling device whose socket
 * was closed for quiet, its socket again. */
static int reachable(struct tunnel *t, struct client *c)
{
	if (!c->peer.sin_port)
		return 0;
	/* its own socket, not a port another device's new socket took since */
	if (c->transport == http_path && longpoll_port(t->s->longpoll, c->id) != ntohs(c->peer.sin_port))
		return !longpoll_path(t->s->longpoll, c->id, &c->peer);
	return 1;
}

/* What the client's link has to send goes by its last path (or waits in
 * the link while there is none). */
static void push(struct tunnel *t, struct client *c)
{
	const uint8_t *dg;
	size_t len;

	if (!reachable(t, c))
		return;
	while ((dg = mtun_link_pull(&c->link, now_ms(t), &len)))
		send_to(t, &c->peer, dg, len);
}

static void remove_client(struct tunnel *t, struct client *c)
{
	struct client **p;

	for (p = &t->by_id[hash32(c->id)]; *p != c; p = &(*p)->next_id)
		;
	*p = c->next_id;
	for (p = &t->by_addr[hash32(c->addr)]; *p != c; p = &(*p)->next_addr)
		;
	*p = c->next_addr;
	if (c->active) {
		for (p = &t->active; *p != c; p = &(*p)->next_active)
			;
		*p = c->next_active;
	}
	longpoll_forget(t->s->longpoll, c->id);
	mtun_link_free(&c->link);
	mtun_key_free(c->key);
	t->nclients--;
	free(c);
}

/* A fresh datagram (see on_datagram) came from here: replies take this
 * path from now on. A new path gets what may have been lost on the old. */
static void heard(struct tunnel *t, struct client *c, const struct sockaddr_in *from)
{
	const char *tr = from->sin_addr.s_addr == t->udp_addr.sin_addr.s_addr &&
					 longpoll_owns(t->s->longpoll, ntohs(from->sin_port))
				 ? http_path
				 : "udp";
	int64_t now = time(NULL);

	const char *was = c->transport;
	int moved = c->peer.sin_port && (c->peer.sin_port != from->sin_port ||
					 c->peer.sin_addr.s_addr != from->sin_addr.s_addr);

	c->peer = *from;
	c->transport = tr; /* before the resend: push() goes by the new path */
	if (moved && mtun_link_resend(&c->link, now_ms(t), 1))
		push(t, c);
	if (tr != was || now - c->seen_saved >= SEEN_EVERY) {
		if (tr != was && was)
			server_log("tunnel: %s now by %s", c->name, tr);
		c->seen_saved = now;
		reg_device_transport(t->s->reg, c->device, tr, now);
	}
}

/* A whole packet from a device: it sends only from its own address, and only
 * to ours. */
static void to_tun(void *arg, const struct virtio_net_hdr *vh, const uint8_t *ip, size_t len)
{
	struct client *c = arg;
	struct tunnel *t = c->t;

	if (len < 20 || ip[0] >> 4 != 4 || mtun_be32(ip + 12) != c->addr ||
	    mtun_be32(ip + 16) != MTUN_SERVER)
		t->stat.spoofed++;
	else if (mtun_tun_write(t->tun_fd, vh, ip, len))
		t->stat.tun_errors++;
}

/* A datagram from a device. Only fresh ones count: a DATA taken in order,
 * an ACK or a HELLO numbered past the last; a copy replayed from anywhere
 * moves nothing. A HELLO is answered by the path it came (that is what it
 * probes) but does not change the client's path. */
static void on_datagram(struct tunnel *t, const uint8_t *p, size_t n,
			const struct sockaddr_in *from)
{
	const uint8_t *ip = p + MTUN_HDR;
	size_t len = n - MTUN_HDR - MTUN_TAG;
	uint8_t reply[MTUN_DGRAM_MAX];
	struct mtun_hdr h;
	struct client *c;
	uint64_t now = now_ms(t);

	if (mtun_peek(p, n, &h) || h.dir != MTUN_UP || !(c = by_id(t, h.client))) {
		t->stat.no_client++;
		return;
	}
	if (mtun_verify(c->key, p, n)) {
		t->stat.bad_tag++;
		return;
	}
	switch (h.type) {
	case MTUN_HELLO:
		if (h.seq <= c->hello_hi)
			goto stale;
		c->hello_hi = h.seq;
		c->last_rx = now;
		send_to(t, from, reply,
			mtun_seal(c->key, reply,
				  &(struct mtun_hdr){MTUN_HELLO_ACK, c->id, h.seq,
						     mtun_link_rcv(&c->link), MTUN_DOWN},
				  ip, len));
		break;
	case MTUN_ACK:
		if (h.seq <= c->ack_hi)
			goto stale;
		c->ack_hi = h.seq;
		c->last_rx = now;
		heard(t, c, from);
		mtun_link_input(&c->link, &h, now);
		break;
	case MTUN_DATA:
		if (mtun_link_input(&c->link, &h, now) != 1)
			break; /* a copy: acked (the link owes one), nothing else */
		c->last_rx = now;
		heard(t, c, from);
		mtun_link_packet(&c->link, &h, ip, len, to_tun, c); /* a malformed one counted there */
		break;
	default:
		t->stat.no_client++;
		return;
	}
	schedule(t, c);
	return;
stale:
	t->stat.stale++;
}

static void on_udp(h2o_socket_t *sock, const char *e)
{
	struct tunnel *t = sock->data;
	static uint8_t bufs[UDP_BATCH][MTUN_DGRAM_MAX + 1];
	struct mmsghdr m[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	struct sockaddr_in from[UDP_BATCH];
	int n;

	for (int i = 0; i < UDP_BATCH; i++) {
		iov[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
		m[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &from[i],
						    .msg_namelen = sizeof(from[i]),
						    .msg_iov = &iov[i],
						    .msg_iovlen = 1}};
	}
	n = recvmmsg(t->udp_fd, m, UDP_BATCH, MSG_DONTWAIT, NULL);
	for (int i = 0; i < n; i++)
		if (from[i].sin_family == AF_INET)
			on_datagram(t, bufs[i], m[i].msg_len, &from[i]);
}

/* IP packets from the server's side to the devices. */
static void on_tun(h2o_socket_t *sock, const char *e)
{
	struct tunnel *t = sock->data;
	static uint8_t pkt[MTUN_PKT_MAX];

	for (int i = 0; i < TUN_BATCH; i++) {
		struct virtio_net_hdr vh;
		ssize_t n = mtun_tun_read(t->tun_fd, &vh, pkt);
		struct client *c;

		if (n <= 0)
			break;
		if (n < 20 || pkt[0] >> 4 != 4) /* IPv4 only in 6.0.0.0/8 */
			continue;
		c = by_addr(t, mtun_be32(pkt + 16));
		if (!c || !c->peer.sin_port) {
			t->stat.no_route++;
			continue;
		}
		/* a full window drops it, counted by the link */
		if (!mtun_link_send(&c->link, &vh, pkt, (size_t)n))
			push(t, c);
		schedule(t, c);
	}
}

/* Owed acks and due retransmissions of the clients that have any. */
static void on_tick(h2o_timeout_entry_t *entry)
{
	struct tunnel *t = H2O_STRUCT_FROM_MEMBER(struct tunnel, tick_entry, entry);
	uint64_t now = now_ms(t);
	uint8_t buf[MTUN_DGRAM_MAX];

	for (struct client **p = &t->active; *p;) {
		struct client *c = *p;
		size_t n = mtun_link_ack(&c->link, buf, now, 0);

		if (n && reachable(t, c)) /* else lost: a later ack covers it */
			send_to(t, &c->peer, buf, n);
		if (c->peer.sin_port && mtun_link_resend(&c->link, now, 0))
			push(t, c);
		if (!mtun_link_deadline(&c->link)) {
			c->active = 0;
			*p = c->next_active;
		} else {
			p = &c->next_active;
		}
	}
	if (t->active)
		h2o_timeout_link(t->s->ctx.loop, &t->tick, &t->tick_entry);
}

/* Clients silent past TUNNEL_IDLE_MS go. */
static void on_house(h2o_timeout_entry_t *entry)
{
	struct tunnel *t = H2O_STRUCT_FROM_MEMBER(struct tunnel, house_entry, entry);
	uint64_t now = now_ms(t);

	for (unsigned b = 0; b < HASH_SIZE; b++)
		for (struct client *c = t->by_id[b], *next; c; c = next) {
			next = c->next_id;
			if (now - c->last_rx > TUNNEL_IDLE_MS) {
				server_log("tunnel: %s silent for %d s, dropped", c->name,
					   TUNNEL_IDLE_MS / 1000);
				remove_client(t, c);
			}
		}
	h2o_timeout_link(t->s->ctx.loop, &t->house, &t->house_entry);
}

static uint32_t new_id(struct tunnel *t)
{
	uint32_t id;

	do {
		if (RAND_bytes((uint8_t *)&id, sizeof(id)) != 1)
			return 0;
	} while (!id || by_id(t, id));
	return id;
}

/* POST /tunnel/v1/register {serial, ts, nonce, dh, sig}: the device proves
 * it holds its enrolled key; the answer gives it a client id, its address,
 * and the server's half of the key exchange. */
static int registration(struct tunnel *t, h2o_req_t *req)
{
	const char *serial, *nonce, *dh, *sig;
	char sdh[MTUN_PUBKEY_B64], addr[16];
	struct reg_tunnel_device d;
	uint8_t key[MTUN_KEY_LEN];
	json_int_t ts;
	json_error_t e;
	struct client *c = NULL, *old;
	void *mine = NULL;
	int64_t now = time(NULL);
	json_t *j = req->entity.base ? json_loadb(req->entity.base, req->entity.len, 0, &e) : NULL;

	if (!j || json_unpack_ex(j, &e, JSON_STRICT, "{s:s, s:I, s:s, s:s, s:s}", "serial", &serial,
				 "ts", &ts, "nonce", &nonce, "dh", &dh, "sig", &sig)) {
		api_fail(req, 400, "want {serial, ts, nonce, dh, sig}%s%s", j ? ": " : "",
			 j ? e.text : "");
		goto out;
	}
	if (strlen(nonce) < ECAP_AUTH_NONCE_MIN || strlen(nonce) > ECAP_AUTH_NONCE_MAX ||
	    strspn(nonce, "0123456789abcdef") != strlen(nonce)) {
		api_fail(req, 400, "nonce: want %d to %d lowercase hex digits", ECAP_AUTH_NONCE_MIN,
			 ECAP_AUTH_NONCE_MAX);
		goto out;
	}
	if (ts < now - MTUN_REGISTER_SKEW || ts > now + MTUN_REGISTER_SKEW) {
		api_fail(req, 403, "expired: timestamp %lld is more than %d s off", (long long)ts,
			 MTUN_REGISTER_SKEW);
		goto out;
	}
	if (reg_device_by_serial(t->s->reg, serial, &d) || !d.pubkey[0]) {
		api_fail(req, 403, "unknown device: no key enrolled for serial '%.128s'", serial);
		goto out;
	}
	if (mtun_register_verify(d.pubkey, serial, ts, nonce, dh, sig)) {
		api_fail(req, 403, "bad signature");
		goto out;
	}
	/* A replay can only replace the device's session with one nobody can
	 * use (the X25519 half it answers is the device's): refused while the
	 * device's current session is that registration or newer. Without a
	 * session there is nothing to disturb. */
	old = by_addr(t, d.mgmt);
	if (old && (ts < old->reg_ts ||
		    (ts == old->reg_ts && XXH3_64bits(nonce, strlen(nonce)) == old->reg_nonce))) {
		api_fail(req, 403, "replayed registration");
		goto out;
	}
	if (!d.enabled) {
		api_fail(req, 403, "device disabled");
		goto out;
	}
	if (!old && t->nclients >= t->s->conf.tunnel_max) {
		api_fail(req, 503, "over capacity: %u devices connected", t->nclients);
		goto out;
	}
	c = calloc(1, sizeof(*c));
	mine = mtun_dh_new(sdh);
	if (!c || !mine || !(c->id = new_id(t))) {
		api_fail(req, 500, "out of resources");
		goto out;
	}
	if (mtun_dh_key(mine, dh, c->id, key) || !(c->key = mtun_key_new(key))) {
		api_fail(req, 400, "dh: not an X25519 public key");
		goto out;
	}
	OPENSSL_cleanse(key, sizeof(key));
	if (old) /* the device again: its earlier session ends */
		remove_client(t, old);
	c->t = t;
	c->addr = d.mgmt;
	c->device = d.id;
	c->org = d.org;
	snprintf(c->name, sizeof(c->name), "%s", d.name);
	c->last_rx = now_ms(t);
	c->reg_ts = ts;
	c->reg_nonce = XXH3_64bits(nonce, strlen(nonce));
	mtun_link_init(&c->link, c->id, c->key);
	c->link.dir = MTUN_DOWN;
	c->next_id = t->by_id[hash32(c->id)];
	t->by_id[hash32(c->id)] = c;
	c->next_addr = t->by_addr[hash32(c->addr)];
	t->by_addr[hash32(c->addr)] = c;
	t->nclients++;
	mtun_addr_str(c->addr, addr);
	server_log("tunnel: %s (%s) registered as %s, client %08x", d.name, serial, addr, c->id);
	api_json(req, 200,
		 json_pack("{s:I, s:s, s:s, s:s, s:i, s:i, s:i}", "client", (json_int_t)c->id, "dh",
			   sdh, "address", addr, "server", "6.0.0.1", "prefix", 8, "udp_port",
			   ntohs(t->udp_addr.sin_port), "mtu", MTUN_MTU));
	c = NULL;
out:
	if (c) {
		mtun_key_free(c->key);
		free(c);
	}
	mtun_dh_free(mine);
	json_decref(j);
	return 0;
}

int tunnel_poll_fresh(struct server *s, uint32_t client, uint64_t seq)
{
	struct client *c = T(s) ? by_id(T(s), client) : NULL;
	uint64_t shift;

	if (!c)
		return -ENOENT;
	if (seq > c->poll_max) {
		shift = seq - c->poll_max;
		c->poll_seen = shift >= 64 ? 0 : c->poll_seen << shift;
		c->poll_seen |= shift <= 64 ? 1ull << (shift - 1) : 0; /* the old highest */
		c->poll_max = seq;
	} else if (seq == c->poll_max || c->poll_max - seq > 64 ||
		   (c->poll_seen & (1ull << (c->poll_max - seq - 1)))) {
		return -EALREADY;
	} else {
		c->poll_seen |= 1ull << (c->poll_max - seq - 1);
	}
	c->last_rx = now_ms(T(s)); /* a fresh poll, even empty, is the device alive */
	return 0;
}

void tunnel_device_json(struct server *s, int64_t org, const char *name, json_t *o)
{
	struct tunnel *t = T(s);

	for (unsigned b = 0; t && b < HASH_SIZE; b++)
		for (struct client *c = t->by_id[b]; c; c = c->next_id)
			if (c->org == org && !strcmp(c->name, name)) {
				const struct mtun_link *l = &c->link;

				json_object_set_new(
					o, "tunnel",
					json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
						  "client", (json_int_t)c->id, "path",
						  c->transport ? c->transport : "none", "sent",
						  (json_int_t)l->stat.sent, "resent",
						  (json_int_t)l->stat.resent, "received",
						  (json_int_t)l->stat.received, "duplicates",
						  (json_int_t)l->stat.duplicate, "out_of_order",
						  (json_int_t)l->stat.out_of_order, "window_full",
						  (json_int_t)l->stat.full, "bad_packets",
						  (json_int_t)l->stat.bad_packets, "unacked",
						  (json_int_t)l->qlen));
				return;
			}
}

void tunnel_device_gone(struct server *s, int64_t org, const char *name)
{
	struct tunnel *t = T(s);

	for (unsigned b = 0; t && b < HASH_SIZE; b++)
		for (struct client *c = t->by_id[b], *next; c; c = next) {
			next = c->next_id;
			if (c->org == org && !strcmp(c->name, name)) {
				server_log("tunnel: %s disabled or deleted, its registration ends", name);
				remove_client(t, c);
			}
		}
}

struct tunnel_handler {
	h2o_handler_t super;
	struct server *s;
};

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct server *s = ((struct tunnel_handler *)self)->s;
	h2o_iovec_t p = req->path_normalized;

	if (!T(s))
		return api_fail(req, 404, "the tunnel is not enabled on this server");
	if (h2o_memis(p.base, p.len, H2O_STRLIT("/tunnel/v1/register")))
		return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))
			       ? registration(T(s), req)
			       : api_fail(req, 405, "want POST");
	if (h2o_memis(p.base, p.len, H2O_STRLIT("/tunnel/v1/poll")))
		return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))
			       ? longpoll_request(s, req)
			       : api_fail(req, 405, "want POST");
	return api_fail(req, 404, "not found");
}

void tunnel_init(struct server *s, h2o_hostconf_t *host)
{
	h2o_pathconf_t *conf = h2o_config_register_path(host, "/tunnel/v1/", 0);
	struct tunnel_handler *h = (struct tunnel_handler *)h2o_create_handler(conf, sizeof(*h));

	h->super.on_req = on_req;
	h->s = s;
}

/* "IPV4:PORT" -> a bound UDP socket and its address. */
static int udp_bind(const char *spec, struct sockaddr_in *ret, char *err, size_t errlen)
{
	char sub[256];
	socklen_t len = sizeof(*ret);
	int fd = web_bind(spec, SOCK_DGRAM, sub, sizeof(sub));

	if (fd < 0 || getsockname(fd, (struct sockaddr *)ret, &len) || ret->sin_family != AF_INET) {
		snprintf(err, errlen, "tunnel UDP: %s", fd < 0 ? sub : "want IPV4:PORT");
		if (fd >= 0)
			close(fd);
		return fd < 0 ? fd : -EINVAL;
	}
	/* every device's bursts: a poll hands over up to 256 KiB of datagrams at once */
	mtun_socket_buffers(fd, 64 << 20);
	return fd;
}

int tunnel_start(struct server *s, char *err, size_t errlen)
{
	struct tunnel *t;

	if (!s->conf.tunnel_udp[0])
		return 0;
	t = calloc(1, sizeof(*t));
	if (!t || !(t->sendq = calloc(1, sizeof(*t->sendq)))) {
		free(t);
		return -ENOMEM;
	}
	t->s = s;
	t->flush_entry.cb = on_flush;
	t->udp_fd = udp_bind(s->conf.tunnel_udp, &t->udp_addr, err, errlen);
	if (t->udp_fd < 0) {
		free(t->sendq);
		free(t);
		return -EINVAL;
	}
	t->sendq->fd = t->udp_fd;
	if (t->udp_addr.sin_addr.s_addr == htonl(INADDR_ANY))
		t->udp_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t->tun_fd = mtun_tun_open(s->conf.tunnel_if, MTUN_SERVER, 8, err, errlen);
	if (t->tun_fd < 0) {
		close(t->udp_fd);
		free(t->sendq);
		free(t);
		return -EINVAL;
	}
	s->longpoll = longpoll_new(s);
	s->tunnel = t;
	t->udp_sock = web_watch(s->ctx.loop, t->udp_fd, on_udp, t);
	t->tun_sock = web_watch(s->ctx.loop, t->tun_fd, on_tun, t);
	h2o_timeout_init(s->ctx.loop, &t->tick, MTUN_ACK_DELAY);
	h2o_timeout_init(s->ctx.loop, &t->house, 5000);
	t->tick_entry.cb = on_tick;
	t->house_entry.cb = on_house;
	h2o_timeout_link(s->ctx.loop, &t->house, &t->house_entry);
	return 0;
}

void tunnel_stop(struct server *s)
{
	struct tunnel *t = T(s);
	struct longpoll_stats lp;

	if (!t)
		return;
	longpoll_stats(s->longpoll, &lp);
	/* what was refused or lost on the way, for whoever reads the log */
	server_log("tunnel: %u registered; datagrams refused: %llu unknown or malformed, %llu bad "
		   "tag, %llu stale, %llu spoofed, %llu without a path, %llu not written to the TUN; "
		   "polls: %llu, %llu bad, %llu datagrams up, %llu down, %llu dropped for a full queue",
		   t->nclients, (unsigned long long)t->stat.no_client,
		   (unsigned long long)t->stat.bad_tag, (unsigned long long)t->stat.stale,
		   (unsigned long long)t->stat.spoofed, (unsigned long long)t->stat.no_route,
		   (unsigned long long)t->stat.tun_errors,
		   (unsigned long long)lp.requests, (unsigned long long)lp.bad,
		   (unsigned long long)lp.datagrams_up, (unsigned long long)lp.datagrams_down,
		   (unsigned long long)lp.overflow);
	for (unsigned b = 0; b < HASH_SIZE; b++)
		while (t->by_id[b])
			remove_client(t, t->by_id[b]);
	if (h2o_timeout_is_linked(&t->tick_entry))
		h2o_timeout_unlink(&t->tick_entry);
	if (h2o_timeout_is_linked(&t->flush_entry))
		h2o_timeout_unlink(&t->flush_entry);
	h2o_timeout_unlink(&t->house_entry);
	h2o_socket_read_stop(t->udp_sock);
	h2o_socket_close(t->udp_sock);
	h2o_socket_read_stop(t->tun_sock);
	h2o_socket_close(t->tun_sock);
	longpoll_free(s->longpoll);
	s->longpoll = NULL;
	s->tunnel = NULL;
	free(t->sendq);
	free(t);
}
