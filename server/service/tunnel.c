/* tunnel.c - the mTunnel server, see tunnel.h: registration, one UDP
 * socket for every device's datagrams, a reliable link per device, and the
 * TUN device at the server's management address whose IP packets they
 * carry. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/ip.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "common/auth.h"
#include "common/log.h"
#include "service/tunnel.h"
#include "tunnel/identity.h"
#include "tunnel/link.h"
#include "tunnel/tunio.h"

#define HASH_BITS  16
#define HASH_SIZE  (1u << HASH_BITS)
#define UDP_BATCH  64
#define TUN_BATCH  256 /* packets read per loop turn, so UDP is not starved */
#define SEEN_EVERY 30  /* s between last_seen writes while nothing changes */
#define HOUSE_MS   5000

struct client {
	struct srv_tunnel *t;
	uint32_t id, addr; /* addr: management address, host order */
	int64_t device, org;
	char name[REG_NAME_MAX + 1];
	struct mtun_key *key;
	struct mtun_link link;
	struct sockaddr_in peer;      /* where its last datagram came from; port 0: none yet */
	uint64_t last_rx;	      /* ms */
	int64_t seen_saved;	      /* s, last registry write */
	int64_t epoch;		      /* of our hold on its tunnel (registry.h) */
	int moved;		      /* another server holds it now: goes at the next round */
	const char *transport;	      /* "udp", "http", "relay" as last saved */
	uint32_t via;		      /* relayed: its gateway's address (its packets go in
				       * that client's session); 0: its own session */
	int64_t via_device;	      /* and that gateway's device: an address handed out
				       * again is another device, which relays nothing */
	uint32_t hello_hi, ack_hi;    /* the last fresh HELLO's and ACK's numbers */
	int64_t reg_ts;		      /* the registration's proof: a replay of it is refused */
	uint64_t reg_nonce;	      /* (a hash of its nonce) */
	uint64_t poll_max, poll_seen; /* poll request numbers: the highest, and the 64 below */
	struct client *next_id, *next_addr, *next_active;
	int active; /* on the timer list */
};

#define RATE_SLOTS 1024
#define RATE_BURST 64
#define RATE_PER_S 4

struct srv_tunnel {
	h2o_loop_t *loop;
	struct reg *reg;
	const char *instance; /* this server's id among those sharing the registry */
	unsigned max_devices;
	struct srv_devca *devca;
	struct srv_lptab *lp;
	int udp_fd, tun_fd;
	h2o_socket_t *udp_sock, *tun_sock;
	struct sockaddr_in udp_addr; /* for the long-poll table's sockets: loopback, our port */
	struct client *by_id[HASH_SIZE], *by_addr[HASH_SIZE];
	struct client *active;
	unsigned nclients;
	unsigned registering; /* between session_check and the session (a seat each) */
	h2o_timeout_t tick, house, zero;
	h2o_timeout_entry_t tick_entry, house_entry, flush_entry;
	struct mtun_sendq *sendq; /* flushed before the loop sleeps */
	struct {
		uint64_t no_client, bad_tag, stale, spoofed, no_route, tun_errors, slowed;
	} stat;
	/* announcements per source (an IPv6 /64 counts as one), before
	 * anything is written: a token bucket each */
	struct {
		uint64_t key, at_ms;
		double tokens;
	} rate[RATE_SLOTS];
};

static const char http_path[] = "http";

/* The source's share of announcements (keys no device has, which the
 * registry keeps): 0, or -EBUSY past RATE_PER_S a second after a burst of
 * RATE_BURST (a device announces itself every few seconds only while it
 * waits to be claimed). */
static int rate_ok(struct srv_tunnel *t, const char *source)
{
	uint64_t key = XXH3_64bits(source, strlen(source)), now = h2o_now(t->loop);
	unsigned slot;

	slot = (unsigned)(key % RATE_SLOTS);
	if (t->rate[slot].key != key)
		t->rate[slot].key = key, t->rate[slot].tokens = RATE_BURST,
		t->rate[slot].at_ms = now;
	t->rate[slot].tokens += (double)(now - t->rate[slot].at_ms) * RATE_PER_S / 1000;
	if (t->rate[slot].tokens > RATE_BURST)
		t->rate[slot].tokens = RATE_BURST;
	t->rate[slot].at_ms = now;
	if (t->rate[slot].tokens < 1) {
		t->stat.slowed++;
		return -EBUSY;
	}
	t->rate[slot].tokens -= 1;
	return 0;
}

static unsigned hash32(uint32_t v)
{
	return (v * 2654435761u) >> (32 - HASH_BITS);
}

static struct client *by_id(struct srv_tunnel *t, uint32_t id)
{
	struct client *c = t->by_id[hash32(id)];

	while (c && c->id != id)
		c = c->next_id;
	return c;
}

static struct client *by_addr(struct srv_tunnel *t, uint32_t addr)
{
	struct client *c = t->by_addr[hash32(addr)];

	while (c && c->addr != addr)
		c = c->next_addr;
	return c;
}

static uint64_t now_ms(struct srv_tunnel *t)
{
	return h2o_now(t->loop);
}

static void schedule(struct srv_tunnel *t, struct client *c)
{
	if (!c->active && mtun_link_deadline(&c->link)) {
		c->active = 1;
		c->next_active = t->active;
		t->active = c;
	}
	if (t->active && !h2o_timeout_is_linked(&t->tick_entry))
		h2o_timeout_link(t->loop, &t->tick, &t->tick_entry);
}

static void on_flush(h2o_timeout_entry_t *e)
{
	struct srv_tunnel *t = H2O_STRUCT_FROM_MEMBER(struct srv_tunnel, flush_entry, e);

	mtun_sendq_flush(t->sendq);
}

static void send_to(struct srv_tunnel *t, const struct sockaddr_in *to, const uint8_t *dg,
		    size_t len)
{
	mtun_sendq_add(t->sendq, to, dg, len);
	if (!h2o_timeout_is_linked(&t->flush_entry))
		h2o_timeout_link(t->loop, &t->zero, &t->flush_entry);
}

/* Can we reach the client? Its last path; for a polling device whose socket
 * was closed for quiet, its socket again. */
static int reachable(struct srv_tunnel *t, struct client *c)
{
	if (!c->peer.sin_port)
		return 0;
	/* its own socket, not a port another device's new socket took since */
	if (c->transport == http_path && srv_lptab_port(t->lp, c->id) != ntohs(c->peer.sin_port))
		return !srv_lptab_path(t->lp, c->id, &c->peer);
	return 1;
}

/* What the client's link has to send goes by its last path (or waits in
 * the link while there is none). */
static void push(struct srv_tunnel *t, struct client *c)
{
	const uint8_t *dg;
	size_t len;

	if (!reachable(t, c))
		return;
	while ((dg = mtun_link_pull(&c->link, now_ms(t), &len)))
		send_to(t, &c->peer, dg, len);
}

static void remove_client(struct srv_tunnel *t, struct client *c)
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
	srv_lptab_forget(t->lp, c->id);
	mtun_link_free(&c->link);
	mtun_key_free(c->key);
	t->nclients--;
	free(c);
}

/* A fresh datagram (see on_datagram) came from here: replies take this
 * path from now on. A new path gets what may have been lost on the old. */
static void heard(struct srv_tunnel *t, struct client *c, const struct sockaddr_in *from)
{
	const char *tr = from->sin_addr.s_addr == t->udp_addr.sin_addr.s_addr &&
				 srv_lptab_owns(t->lp, ntohs(from->sin_port))
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
			ecap_log(LOG_NOTICE, "tunnel: %s now by %s", c->name, tr);
		c->seen_saved = now;
		if (reg_device_heard(t->reg, c->device, t->instance, c->epoch, tr, now) == -ESTALE)
			c->moved = 1;
	}
}

/* A whole packet from a device: it sends only from its own address, and only
 * to ours. */
static void to_tun(void *arg, const struct virtio_net_hdr *vh, const uint8_t *ip, size_t len)
{
	struct client *c = arg, *from;
	struct srv_tunnel *t = c->t;

	if (len < 20 || ip[0] >> 4 != 4 || mtun_be32(ip + 16) != MTUN_SERVER) {
		t->stat.spoofed++;
		return;
	}
	/* or from a device this one relays for, which is heard so */
	from = mtun_be32(ip + 12) == c->addr ? c : by_addr(t, mtun_be32(ip + 12));
	if (!from || (from != c && (from->via != c->addr || from->via_device != c->device))) {
		t->stat.spoofed++;
		return;
	}
	/* (a relayed device lives by its registrations, not by what comes
	 * from its address: another host on the gateway's LAN could send
	 * that) */
	if (mtun_tun_write(t->tun_fd, vh, ip, len))
		t->stat.tun_errors++;
}

/* A datagram from a device. Only fresh ones count: a DATA taken in order,
 * an ACK or a HELLO numbered past the last; a copy replayed from anywhere
 * moves nothing. A HELLO is answered by the path it came (that is what it
 * probes) but does not change the client's path. */
static void on_datagram(struct srv_tunnel *t, const uint8_t *p, size_t n,
			const struct sockaddr_in *from)
{
	uint8_t ip[MTUN_MTU]; /* the payload, decrypted */
	size_t len = n - MTUN_HDR - MTUN_TAG;
	uint8_t reply[MTUN_DGRAM_MAX];
	struct mtun_hdr h;
	struct client *c;
	uint64_t now = now_ms(t);

	if (mtun_peek(p, n, &h) || h.dir != MTUN_UP || !(c = by_id(t, h.client))) {
		t->stat.no_client++;
		return;
	}
	if (mtun_open(c->key, p, n, ip)) {
		t->stat.bad_tag++;
		return;
	}
	/* a device that has not taken a fresh key in time (its counters, the
	 * nonces, would come round): dropped, it registers again */
	if (mtun_link_worn(&c->link) >= MTUN_REKEY_LAST || h.seq >= MTUN_REKEY_LAST) {
		ecap_log(LOG_WARNING, "tunnel: %s: too many datagrams under one key: dropped",
			 c->name);
		remove_client(t, c);
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
		mtun_link_packet(&c->link, &h, ip, len, to_tun,
				 c); /* a malformed one counted there */
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
	struct srv_tunnel *t = sock->data;
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
	struct srv_tunnel *t = sock->data;
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
		if (c && c->via) { /* relayed: through its gateway's session */
			struct client *gw = by_addr(t, c->via);

			c = gw && gw->device == c->via_device ? gw : NULL;
		}
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
	struct srv_tunnel *t = H2O_STRUCT_FROM_MEMBER(struct srv_tunnel, tick_entry, entry);
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
		h2o_timeout_link(t->loop, &t->tick, &t->tick_entry);
}

/* Clients silent past SRV_TUNNEL_IDLE_MS go. */
static void on_house(h2o_timeout_entry_t *entry)
{
	struct srv_tunnel *t = H2O_STRUCT_FROM_MEMBER(struct srv_tunnel, house_entry, entry);
	uint64_t now = now_ms(t);

	for (unsigned b = 0; b < HASH_SIZE; b++)
		for (struct client *c = t->by_id[b], *next; c; c = next) {
			next = c->next_id;
			if (now - c->last_rx > SRV_TUNNEL_IDLE_MS) {
				ecap_log(LOG_NOTICE, "tunnel: %s silent for %d s, dropped", c->name,
					 SRV_TUNNEL_IDLE_MS / 1000);
				remove_client(t, c);
			} else if (c->moved) {
				ecap_log(LOG_NOTICE,
					 "tunnel: %s is held by another server now, dropped",
					 c->name);
				remove_client(t, c);
			}
		}
	h2o_timeout_link(t->loop, &t->house, &t->house_entry);
}

void srv_tunnel_moved_noticed(struct srv_tunnel *t, int64_t device)
{
	char holder[REG_INSTANCE_MAX];
	int64_t epoch;

	for (unsigned b = 0; t && b < HASH_SIZE; b++)
		for (struct client *c = t->by_id[b], *next; c; c = next) {
			next = c->next_id;
			if (c->device != device ||
			    reg_device_owner(t->reg, device, holder, sizeof(holder), &epoch) ||
			    (!strcmp(holder, t->instance) && epoch == c->epoch))
				continue;
			ecap_log(LOG_NOTICE,
				 "tunnel: %s is held by another server now (signalled), dropped",
				 c->name);
			remove_client(t, c);
		}
}

static uint32_t new_id(struct srv_tunnel *t)
{
	uint32_t id;

	do {
		if (RAND_bytes((uint8_t *)&id, sizeof(id)) != 1)
			return 0;
	} while (!id || by_id(t, id));
	return id;
}

/* A key no device has: kept for its owner to claim (registry_claim.c),
 * within bounds that no one sender can exhaust alone. */
static int announce(struct srv_tunnel *t, const struct srv_tunnel_reg *in, char *err, size_t errlen)
{
	static const struct reg_unclaimed_limits lim = {
	    .max = SRV_UNCLAIMED_MAX,
	    .per_source = SRV_UNCLAIMED_PER_SOURCE,
	    .expire_s = SRV_UNCLAIMED_EXPIRE_S,
	};
	struct reg_unclaimed u = {.last_seen = time(NULL)};
	struct in6_addr a6;
	int r;

	if (!in->claim) {
		snprintf(err, errlen,
			 "unknown device: no device has this key, and no claim code came with it");
		return -EACCES;
	}
	snprintf(u.source, sizeof(u.source), "%s", in->source ? in->source : "");
	if (inet_pton(AF_INET6, u.source, &a6) == 1) { /* a /64 is one source */
		memset(a6.s6_addr + 8, 0, 8);
		inet_ntop(AF_INET6, &a6, u.source, sizeof(u.source) - 4);
		strcat(u.source, "/64");
	}
	/* what writes to the registry for anyone who asks: a share per source */
	if (rate_ok(t, u.source)) {
		snprintf(err, errlen, "too many announcements from %s: slow down", u.source);
		return -EBUSY;
	}
	snprintf(u.pubkey, sizeof(u.pubkey), "%s", in->pubkey);
	snprintf(u.serial, sizeof(u.serial), "%s", in->serial);
	snprintf(u.claim, sizeof(u.claim), "%s", in->claim);
	snprintf(u.hostname, sizeof(u.hostname), "%s", in->hostname ? in->hostname : "");
	snprintf(u.agent, sizeof(u.agent), "%s", in->agent ? in->agent : "https://tunnel:8443");
	r = reg_unclaimed_announce(t->reg, &u, &lim);
	if (r == -ENOSPC || r == -EMFILE) {
		snprintf(err, errlen, "over capacity: %d devices%s%s wait to be claimed",
			 r == -ENOSPC ? SRV_UNCLAIMED_MAX : SRV_UNCLAIMED_PER_SOURCE,
			 r == -ENOSPC ? "" : " from ", r == -ENOSPC ? "" : u.source);
		return -EBUSY;
	}
	if (r < 0) {
		snprintf(err, errlen, "registry: %s", reg_errmsg(t->reg));
		return -EBUSY;
	}
	if (r)
		ecap_log(LOG_INFO, "tunnel: serial %s (%s) from %s waits to be claimed", u.serial,
			 u.hostname[0] ? u.hostname : "no name", u.source);
	snprintf(err, errlen, "not claimed yet: serial %s", u.serial);
	return -EAGAIN;
}

/* A registration a gateway passes on for a device on its LAN: the
 * gateway's client, and its MAC over "relay\n" client "\n" and the body's
 * SHA-256 in hex (its word that the device sits behind it). 0 with *ret a
 * copy of what the registration needs of the gateway (its client is found
 * again after the registry's statements), or -EACCES with err. */
struct relay_gw {
	uint32_t id, addr;
	int64_t org, device;
	char name[sizeof(((struct client *)0)->name)];
};

static int relay_check(struct srv_tunnel *t, const struct srv_tunnel_reg *in, struct relay_gw *ret,
		       char *err, size_t errlen)
{
	char text[128], hex[2 * MTUN_TAG + 1], *end;
	uint8_t sum[32], tag[MTUN_TAG];
	unsigned long id = strtoul(in->relay, &end, 16);
	struct client *gw = *end || !*in->relay || id > UINT32_MAX ? NULL : by_id(t, (uint32_t)id);
	int n;

	if (!gw) {
		snprintf(err, errlen, "relay: no gateway has client %.8s: it registers again",
			 in->relay);
		return -EACCES;
	}
	SHA256(in->body, in->body_len, sum);
	n = snprintf(text, sizeof(text), "relay\n%08lx\n", id);
	ecap_hex_encode(sum, sizeof(sum), text + n);
	if (mtun_key_tag(gw->key, text, strlen(text), tag))
		return snprintf(err, errlen, "out of resources"), -EACCES;
	ecap_hex_encode(tag, sizeof(tag), hex);
	if (!in->relay_sig || strlen(in->relay_sig) != 2 * MTUN_TAG ||
	    CRYPTO_memcmp(hex, in->relay_sig, 2 * MTUN_TAG)) {
		snprintf(err, errlen, "relay: bad signature");
		return -EACCES;
	}
	if (gw->via) {
		snprintf(err, errlen, "relay: %s is itself relayed: it relays for no one",
			 gw->name);
		return -EACCES;
	}
	*ret =
	    (struct relay_gw){.id = gw->id, .addr = gw->addr, .org = gw->org, .device = gw->device};
	snprintf(ret->name, sizeof(ret->name), "%s", gw->name);
	return 0;
}

/* Refused before the session is made: a replay of the device's current
 * session's registration or an older one (it can only replace the session
 * with one nobody can use: the X25519 half it answers is the device's;
 * without a session there is nothing to disturb), or a new device past
 * max_devices. 0, or -EACCES / -EBUSY with err. */
static int session_check(struct srv_tunnel *t, uint32_t mgmt, const struct srv_tunnel_reg *in,
			 char *err, size_t errlen)
{
	struct client *old = by_addr(t, mgmt);
	size_t nlen = strlen(in->nonce);

	if (old && (in->ts < old->reg_ts ||
		    (in->ts == old->reg_ts && XXH3_64bits(in->nonce, nlen) == old->reg_nonce))) {
		snprintf(err, errlen, "replayed registration");
		return -EACCES;
	}
	if (!old && t->nclients + t->registering >= t->max_devices) {
		snprintf(err, errlen, "over capacity: %u devices connected", t->nclients);
		return -EBUSY;
	}
	return 0;
}

/* The device's tunnel held by this server: kept when it is already, else
 * taken at the epoch read (from another server, or released). Of two
 * servers taking it at once one does; the other refuses the registration
 * and the device registers again. */
static int hold(struct srv_tunnel *t, const struct reg_device *d, int64_t *epoch, char *err,
		size_t errlen)
{
	char holder[REG_INSTANCE_MAX];
	int64_t seen = 0, e;
	int r = reg_device_owner(t->reg, d->id, holder, sizeof(holder), &seen);

	if (!r && !strcmp(holder, t->instance)) {
		*epoch = seen;
		return 0;
	}
	if (r && r != -ENOENT) {
		snprintf(err, errlen, "registry: %s", reg_errmsg(t->reg));
		return -EBUSY;
	}
	e = reg_device_take(t->reg, d->id, t->instance, r ? 0 : seen);
	if (e == -EBUSY) {
		snprintf(err, errlen, "another server took this device at the same moment");
		return -EBUSY;
	}
	if (e < 0) {
		snprintf(err, errlen, "registry: %s", reg_errmsg(t->reg));
		return -EBUSY;
	}
	if (!r && *holder)
		ecap_log(LOG_NOTICE, "tunnel: %s comes from server %s", d->name, holder);
	*epoch = e;
	return 0;
}

int srv_tunnel_register(struct srv_tunnel *t, const struct srv_tunnel_reg *in,
			struct srv_tunnel_grant *out, char *err, size_t errlen)
{
	struct reg_device d;
	uint8_t key[MTUN_KEY_LEN];
	struct client *c = NULL, *old;
	struct relay_gw gw = {0};
	void *mine = NULL;
	int64_t now = time(NULL), epoch = 0;
	size_t nlen = strlen(in->nonce);
	char tail[MTUN_TAIL_MAX], grant[MTUN_GRANT_MAX];
	int r;

	if (nlen < ECAP_AUTH_NONCE_MIN || nlen > ECAP_AUTH_NONCE_MAX ||
	    strspn(in->nonce, "0123456789abcdef") != nlen) {
		snprintf(err, errlen, "nonce: want %d to %d lowercase hex digits",
			 ECAP_AUTH_NONCE_MIN, ECAP_AUTH_NONCE_MAX);
		return -EINVAL;
	}
	if (in->ts < now - MTUN_REGISTER_SKEW || in->ts > now + MTUN_REGISTER_SKEW) {
		snprintf(err, errlen, "expired: timestamp %lld is more than %d s off",
			 (long long)in->ts, MTUN_REGISTER_SKEW);
		return -EACCES;
	}
	if (mtun_pubkey_check(in->pubkey)) {
		snprintf(err, errlen, "pubkey: want an Ed25519 public key, 32 bytes in base64");
		return -EINVAL;
	}
	/* the signature covers every word the request carries */
	if (mtun_register_tail(tail, in->dh, in->pubkey, in->claim, in->hostname, in->agent,
			       in->tls)) {
		snprintf(err, errlen, "registration: its words are too long");
		return -EINVAL;
	}
	if (mtun_register_verify(in->pubkey, in->serial, in->ts, in->nonce, tail, in->sig)) {
		snprintf(err, errlen, "bad signature");
		return -EACCES;
	}
	if (in->relay && (r = relay_check(t, in, &gw, err, errlen)))
		return r;
	/* The registry's statements, which may wait (on a coroutine, api/co.h):
	 * no pointer to a session is kept across them, and what was checked of
	 * the sessions before is checked again after the last one. */
	r = reg_device_by_pubkey(t->reg, in->pubkey, &d);
	if (r == -ENOENT)
		return announce(t, in, err, errlen);
	if (r) {
		snprintf(err, errlen, "registry: %s", reg_errmsg(t->reg));
		return -EBUSY;
	}
	/* first: a gateway learns nothing of another organization's device */
	if (gw.id && (gw.org != d.org || gw.device == d.id)) {
		OPENSSL_cleanse(&d.secret, sizeof(d.secret));
		snprintf(err, errlen, "relay: %s relays only for other devices of its organization",
			 gw.name);
		return -EACCES;
	}
	if (strcmp(d.serial, in->serial)) {
		OPENSSL_cleanse(&d.secret, sizeof(d.secret));
		snprintf(err, errlen, "serial: this key was claimed as '%s'", d.serial);
		return -EACCES;
	}
	if (!d.enabled) {
		OPENSSL_cleanse(&d.secret, sizeof(d.secret));
		snprintf(err, errlen, "device disabled");
		return -EACCES;
	}
	/* before the device's tunnel is taken from another server, and again
	 * after: a replay moves nothing */
	if (!(r = session_check(t, d.mgmt, in, err, errlen))) {
		t->registering++; /* its seat, while it takes the device from another server */
		r = hold(t, &d, &epoch, err, errlen);
		t->registering--;
	}
	if (r || (r = session_check(t, d.mgmt, in, err, errlen))) {
		OPENSSL_cleanse(&d.secret, sizeof(d.secret));
		return r;
	}
	/* from here to the session made, nothing waits */
	if (gw.id && !by_id(t, gw.id)) {
		OPENSSL_cleanse(&d.secret, sizeof(d.secret));
		snprintf(err, errlen, "relay: no gateway has client %08x: it registers again",
			 gw.id);
		return -EACCES;
	}
	old = by_addr(t, d.mgmt);
	c = calloc(1, sizeof(*c));
	mine = mtun_dh_new(out->dh);
	if (!c || !mine || !(c->id = new_id(t))) {
		snprintf(err, errlen, "out of resources");
		r = -ENOMEM;
		goto out;
	}
	if (mtun_dh_key(mine, in->dh, c->id, key) || !(c->key = mtun_key_new(key))) {
		snprintf(err, errlen, "dh: not an X25519 public key");
		r = -EINVAL;
		goto out;
	}
	/* what may fail, before anything is changed: the secret sealed, and
	 * a fresh certificate at every registration (renewal is registering) */
	out->cert[0] = 0;
	if (mtun_box_seal(key, c->id, d.secret, sizeof(d.secret), out->secret) ||
	    (in->tls && t->devca &&
	     srv_devca_issue(t->devca, d.pubkey, d.serial, d.mgmt, SRV_DEVCA_DAYS, out->cert,
			     sizeof(out->cert)))) {
		snprintf(err, errlen,
			 "out of resources: sealing its secret or issuing its certificate");
		r = -ENOMEM;
		goto out;
	}
	/* the whole grant signed with the device CA's key, which the device
	 * trusts from its first grant on (a server posing as this one over
	 * plain HTTP cannot sign) */
	mtun_addr_str(d.mgmt, out->address);
	out->via[0] = 0;
	if (gw.id) /* the way to it is signed too */
		mtun_addr_str(gw.addr, out->via);
	out->sig[0] = out->server_key[0] = 0;
	if (t->devca && (mtun_grant_text(grant, in->serial, in->nonce, in->dh, c->id, out->dh,
					 out->address, out->secret, out->cert, out->via) ||
			 srv_devca_sign(t->devca, grant, out->sig, out->server_key))) {
		snprintf(err, errlen, "out of resources: signing the grant");
		r = -ENOMEM;
		goto out;
	}
	if (old) /* the device again: its earlier session ends */
		remove_client(t, old);
	c->t = t;
	c->addr = d.mgmt;
	c->via = gw.id ? gw.addr : 0;
	c->via_device = gw.id ? gw.device : 0;
	c->device = d.id;
	c->epoch = epoch;
	c->org = d.org;
	snprintf(c->name, sizeof(c->name), "%s", d.name);
	c->last_rx = now_ms(t);
	c->reg_ts = in->ts;
	c->reg_nonce = XXH3_64bits(in->nonce, nlen);
	mtun_link_init(&c->link, c->id, c->key);
	c->link.dir = MTUN_DOWN;
	c->next_id = t->by_id[hash32(c->id)];
	t->by_id[hash32(c->id)] = c;
	c->next_addr = t->by_addr[hash32(c->addr)];
	t->by_addr[hash32(c->addr)] = c;
	t->nclients++;
	out->client = c->id;
	mtun_addr_str(c->addr, out->address);
	mtun_addr_str(MTUN_SERVER, out->server);
	out->prefix = MTUN_NET_PREFIX;
	out->udp_port = ntohs(t->udp_addr.sin_port);
	out->mtu = MTUN_MTU;
	if (gw.id) {
		c->transport = "relay";
		c->seen_saved = now;
	}
	ecap_log(LOG_INFO, "tunnel: %s (%s) registered as %s, client %08x%s%s", d.name, in->serial,
		 out->address, c->id, gw.id ? ", through " : "", gw.id ? gw.name : "");
	c = NULL;
	r = 0;
	/* (the session may go while this waits: nothing of it is used after) */
	if (gw.id)
		reg_device_heard(t->reg, d.id, t->instance, epoch, "relay", now);
out:
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(&d.secret, sizeof(d.secret));
	if (c) {
		mtun_key_free(c->key);
		free(c);
	}
	mtun_dh_free(mine);
	return r;
}

int srv_tunnel_changed(struct srv_tunnel *t, uint32_t client, int64_t ts, const char *sig)
{
	struct client *c = by_id(t, client);
	char text[64], want[2 * MTUN_TAG + 1];
	uint8_t tag[MTUN_TAG];

	if (!c)
		return -ENOENT;
	snprintf(text, sizeof(text), "changed\n%08x\n%lld", client, (long long)ts);
	if (mtun_key_tag(c->key, text, strlen(text), tag))
		return -EIO;
	ecap_hex_encode(tag, sizeof(tag), want);
	if (strlen(sig) != 2 * MTUN_TAG || CRYPTO_memcmp(want, sig, 2 * MTUN_TAG))
		return -EACCES;
	if (llabs(ts - (int64_t)time(NULL)) > ECAP_AUTH_SKEW)
		return -ETIME;
	/* (a copy replayed within the skew asks once more: the round asks a
	 * device once at a time whatever comes) */
	reg_devices_ask_soon(t->reg, c->org, c->name);
	return 0;
}

int srv_tunnel_poll_check(struct srv_tunnel *t, uint32_t client, uint64_t seq, unsigned hold,
			  const char *sig)
{
	struct client *c = by_id(t, client);
	char text[64], want[2 * MTUN_TAG + 1];
	uint8_t tag[MTUN_TAG];
	uint64_t shift;
	int n;

	if (!c)
		return -ENOENT;
	n = snprintf(text, sizeof(text), "poll\n%08x\n%llu", client, (unsigned long long)seq);
	if (hold)
		snprintf(text + n, sizeof(text) - (size_t)n, "\n%u", hold);
	if (mtun_key_tag(c->key, text, strlen(text), tag))
		return -EIO;
	ecap_hex_encode(tag, sizeof(tag), want);
	if (strlen(sig) != 2 * MTUN_TAG || CRYPTO_memcmp(want, sig, 2 * MTUN_TAG))
		return -EACCES;
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
	c->last_rx = now_ms(t); /* a fresh poll, even empty, is the device alive */
	return 0;
}

int srv_tunnel_device(struct srv_tunnel *t, int64_t org, const char *name,
		      struct srv_tunnel_device_info *ret)
{
	for (unsigned b = 0; t && b < HASH_SIZE; b++)
		for (struct client *c = t->by_id[b]; c; c = c->next_id)
			if (c->org == org && !strcmp(c->name, name)) {
				const struct mtun_link *l = &c->link;

				*ret = (struct srv_tunnel_device_info){
				    .client = c->id,
				    .path = c->transport ? c->transport : "none",
				    .sent = l->stat.sent,
				    .resent = l->stat.resent,
				    .received = l->stat.received,
				    .duplicates = l->stat.duplicate,
				    .out_of_order = l->stat.out_of_order,
				    .window_full = l->stat.full,
				    .bad_packets = l->stat.bad_packets,
				    .unacked = l->qlen,
				};
				return 0;
			}
	return -ENOENT;
}

void srv_tunnel_device_gone(struct srv_tunnel *t, int64_t org, const char *name)
{
	for (unsigned b = 0; t && b < HASH_SIZE; b++)
		for (struct client *c = t->by_id[b], *next; c; c = next) {
			next = c->next_id;
			if (c->org == org && !strcmp(c->name, name)) {
				ecap_log(LOG_NOTICE,
					 "tunnel: %s disabled or deleted, its registration ends",
					 name);
				remove_client(t, c);
			}
		}
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

int srv_tunnel_start(const struct srv_tunnel_conf *conf, struct srv_tunnel **ret, char *err,
		     size_t errlen)
{
	struct srv_tunnel *t = calloc(1, sizeof(*t));

	if (!t || !(t->sendq = calloc(1, sizeof(*t->sendq)))) {
		free(t);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	t->loop = conf->loop;
	t->reg = conf->reg;
	t->instance = conf->instance;
	t->max_devices = conf->max_devices;
	t->devca = conf->devca;
	t->tun_fd = -1;
	t->flush_entry.cb = on_flush;
	t->udp_fd = udp_bind(conf->udp, &t->udp_addr, err, errlen);
	if (t->udp_fd < 0)
		goto fail;
	t->sendq->fd = t->udp_fd;
	if (t->udp_addr.sin_addr.s_addr == htonl(INADDR_ANY))
		t->udp_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t->tun_fd = mtun_tun_open(conf->ifname, MTUN_SERVER, MTUN_NET_PREFIX, err, errlen);
	if (t->tun_fd < 0)
		goto fail;
	t->lp = srv_lptab_new(&(struct srv_lptab_conf){
	    .loop = t->loop, .udp = t->udp_addr, .hold_ms = conf->hold_ms, .answer = conf->answer});
	if (!t->lp) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	t->udp_sock = web_watch(t->loop, t->udp_fd, on_udp, t);
	t->tun_sock = web_watch(t->loop, t->tun_fd, on_tun, t);
	h2o_timeout_init(t->loop, &t->tick, MTUN_ACK_DELAY);
	h2o_timeout_init(t->loop, &t->house, HOUSE_MS);
	h2o_timeout_init(t->loop, &t->zero, 0);
	t->tick_entry.cb = on_tick;
	t->house_entry.cb = on_house;
	h2o_timeout_link(t->loop, &t->house, &t->house_entry);
	*ret = t;
	return 0;
fail:
	if (t->tun_fd >= 0)
		close(t->tun_fd);
	if (t->udp_fd >= 0)
		close(t->udp_fd);
	free(t->sendq);
	free(t);
	return -EINVAL;
}

void srv_tunnel_stats(struct srv_tunnel *t, struct srv_tunnel_stats *ret)
{
	*ret = (struct srv_tunnel_stats){0};
	if (!t)
		return;
	ret->registered = t->nclients;
	ret->no_client = t->stat.no_client;
	ret->bad_tag = t->stat.bad_tag;
	ret->stale = t->stat.stale;
	ret->spoofed = t->stat.spoofed;
	ret->no_route = t->stat.no_route;
	ret->tun_errors = t->stat.tun_errors;
	ret->udp_send_errors = t->sendq->errors;
	for (unsigned b = 0; b < HASH_SIZE; b++)
		for (struct client *c = t->by_id[b]; c; c = c->next_id) {
			ret->by_relay += c->via != 0;
			ret->by_udp += !c->via && c->transport && c->transport != http_path;
			ret->by_http += !c->via && c->transport == http_path;
		}
	srv_lptab_stats(t->lp, &ret->poll);
}

struct srv_lptab *srv_tunnel_lptab(struct srv_tunnel *t)
{
	return t ? t->lp : NULL;
}

void srv_tunnel_stop(struct srv_tunnel *t)
{
	struct srv_tunnel_stats st;

	if (!t)
		return;
	srv_tunnel_stats(t, &st);
	/* what was refused or lost on the way, for whoever reads the log */
	ecap_log(
	    LOG_INFO,
	    "tunnel: %u registered; datagrams refused: %llu unknown or malformed, %llu bad "
	    "tag, %llu stale, %llu spoofed, %llu without a path, %llu not written to the TUN; "
	    "polls: %llu, %llu bad, %llu datagrams up, %llu down, %llu dropped for a full queue",
	    t->nclients, (unsigned long long)st.no_client, (unsigned long long)st.bad_tag,
	    (unsigned long long)st.stale, (unsigned long long)st.spoofed,
	    (unsigned long long)st.no_route, (unsigned long long)st.tun_errors,
	    (unsigned long long)st.poll.requests, (unsigned long long)st.poll.bad,
	    (unsigned long long)st.poll.datagrams_up, (unsigned long long)st.poll.datagrams_down,
	    (unsigned long long)st.poll.overflow);
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
	srv_lptab_free(t->lp);
	h2o_timeout_dispose(t->loop, &t->tick);
	h2o_timeout_dispose(t->loop, &t->house);
	h2o_timeout_dispose(t->loop, &t->zero);
	free(t->sendq);
	free(t);
}
