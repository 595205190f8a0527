/* tunnel.c - the agent's end of the management tunnel (docs/tunnel.md).
 *
 * It registers with the server (a signed proof, an X25519 exchange), brings
 * up the TUN device at its management address, and carries that device's
 * IP packets in mTunnel datagrams: by UDP while the server answers there,
 * else in HTTP POST bodies with one request always parked at the server for
 * the way down. The UDP monitor decides: a HELLO every hello_interval; no
 * answer (or no ack for data) within udp_wait switches to HTTP; in HTTP mode
 * the probes go on and udp_up_after answers in a row switch back. The
 * reliable link (mtun.h) makes both paths one ordered stream. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <ifaddrs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "tunnel/claim.h"
#include "tunnel/link.h"
#include "tunnel/identity.h"
#include "tunnel/route.h"
#include "tunnel/tunio.h"
#include "common/httpc.h"

#define MONITOR_MS    100
#define RETRY_MS      500  /* after a failed poll */
#define REG_RETRY_MS  2000 /* first retry of a failed registration, doubling */
#define REG_RETRY_MAX 60000
#define BODY_MAX      (256u << 10)
#define RESP_MAX      (512u << 10)
#define IO_TIMEOUT    40000 /* above the server's 25 s hold */
/* By HTTP a parked poll is answered within the server's hold, 25 s at
 * most (SRV_LP_HOLD_MAX_MS), and the next is parked at once: a server
 * silent for longer has stalled or gone, and the next on the list is
 * tried, within 30 s of the stall with a registration. */
#define HTTP_SILENCE 28000
/* After a switch to HTTP, the first answer comes within this, or the
 * server has stalled. */
#define HTTP_PROOF    5000
#define CERT_RENEW_S  (10 * 86400)
#define RELAYS	      16    /* registrations passed on for the LAN at once */
#define RELAYED_EVERY 60000 /* a relayed device registers again (its keep-alive) */

enum { MODE_UDP, MODE_HTTP };

struct exchange;

struct agent_tunnel {
	struct agent *a;
	h2o_loop_t *loop;
	const struct agent_conf *conf;
	struct ecap_httpc_ctx http;
	/* the servers (tunnel = URL, URL, ...), each through the proxy if
	 * one is set; the one in use */
	struct ecap_httpc_dest dests[AGENT_TUNNEL_SERVERS_MAX];
	unsigned ndests, cur;
	/* the registration */
	unsigned gen; /* counts registrations; answers to an older one are ignored */
	int registered;
	uint32_t client, addr;
	struct mtun_key *key;
	struct mtun_link link;
	uint64_t http_seq;
	struct exchange *reg_x;
	uint64_t reg_retry;
	/* joining by claim: what we announce, and whether the server said it
	 * waits for our owner (said once in the log until that changes) */
	char pubkey[MTUN_PUBKEY_B64], claim[MTUN_CLAIM_HEX], code[MTUN_CODE_LEN], agent_url[64];
	int unclaimed;
	time_t cert_until; /* our HTTPS certificate's end (0: none from the server) */
	/* behind a gateway: our address on lo, 6.0.0.0/8 through it (relayed:
	 * the gateway's address, host order; 0: our own tunnel) */
	uint32_t relayed, relayed_addr;
	struct exchange *relays[RELAYS]; /* registrations we pass on for our LAN, and
					  * notices that our interfaces changed */
	/* paths */
	int mode;
	int udp_fd, tun_fd;
	h2o_socket_t *udp_sock, *tun_sock;
	int tun_stopped; /* the window is full: the kernel queues, then drops */
	struct sockaddr_in server_udp;
	/* the monitor */
	uint32_t hello_seq;
	int udp_ok; /* the server's UDP address is known */
	/* by HTTP: until a poll carrying an ACK is answered, every poll carries
	 * one (the server takes our path from a fresh ACK or DATA) */
	int path_unsure;
	int hello_pending;
	unsigned answers;
	uint64_t hello_sent, hello_next, last_rx, state_saved;
	uint64_t http_since; /* ms: the last switch to HTTP */
	/* HTTP */
	h2o_multithread_receiver_t getaddr;
	struct exchange *polls[2]; /* the parked one, and a newer one */
	unsigned npolls;
	struct ecap_buf out;
	uint64_t retry_at;
	struct mtun_sendq *sendq; /* UDP, flushed before the loop sleeps */
	/* timers */
	h2o_timeout_t tick_q, coalesce_q, monitor_q;
	h2o_timeout_entry_t tick, coalesce, monitor, flush;
	struct {
		uint64_t switches, polls, poll_errors, bad;
		uint64_t tun_stops; /* the window was full: TUN reading paused */
	} stat;
};

/* One HTTP request of ours: a registration or a poll. */
struct exchange {
	struct agent_tunnel *t;
	unsigned gen;
	int is_poll;
	struct ecap_httpc_call call;
	char headers[256];
	struct ecap_buf body;
	void *dh;				 /* a registration's X25519 key */
	char nonce[33], dh_pub[MTUN_PUBKEY_B64]; /* and what it said: the grant names them */
	int tells_path;				 /* a poll with an ACK in it */
	int carries;				 /* a poll with the link's DATA in it */
	agent_relay_done_fn *done;		 /* a registration passed on: its answer */
	void *done_arg;
};

static uint64_t now_ms(struct agent_tunnel *t)
{
	return h2o_now(t->loop);
}

static void save_state(struct agent_tunnel *t)
{
	char tmp[300];
	FILE *f;

	if (!t->conf->state_file[0])
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", t->conf->state_file);
	f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "%s %lld\n", t->mode == MODE_UDP ? "udp" : "http", (long long)time(NULL));
	if (fclose(f) == 0)
		rename(tmp, t->conf->state_file);
	t->state_saved = now_ms(t);
}

/* The persisted mode when it is younger than three hello intervals: 1 (ret
 * set) or 0. */
static int load_state(struct agent_tunnel *t, int *ret)
{
	char mode[8];
	long long ts;
	FILE *f = t->conf->state_file[0] ? fopen(t->conf->state_file, "re") : NULL;
	int ok;

	if (!f)
		return 0;
	ok = fscanf(f, "%7s %lld", mode, &ts) == 2 &&
	     time(NULL) - ts < 3 * (long long)t->conf->hello_ms / 1000 && time(NULL) >= ts &&
	     (!strcmp(mode, "udp") || !strcmp(mode, "http"));
	fclose(f);
	if (ok)
		*ret = !strcmp(mode, "udp") ? MODE_UDP : MODE_HTTP;
	return ok;
}

/* Exchanges */

static void exchange_free(struct exchange *x)
{
	mtun_dh_free(x->dh);
	ecap_buf_free(&x->body);
	ecap_httpc_call_reset(&x->call);
	free(x);
}

static void on_registered(struct exchange *x, const char *err);
static void on_polled(struct exchange *x, const char *err);
static void next_server(struct agent_tunnel *t);
static void on_relayed(struct exchange *x, const char *err);

static void exchange_done(struct ecap_httpc_call *c, const char *err)
{
	struct exchange *x = c->data;

	if (!err && (c->truncated || c->resp.err))
		err = c->truncated ? "response too long" : "out of memory";
	if (x->done)
		on_relayed(x, err);
	else if (x->is_poll)
		on_polled(x, err);
	else
		on_registered(x, err);
}

/* POST path with the body in x->body and extra header lines. */
static void exchange_start(struct agent_tunnel *t, struct exchange *x, const char *path,
			   const char *type, const char *extra)
{
	x->t = t;
	x->gen = t->gen;
	snprintf(x->headers, sizeof(x->headers),
		 "Content-Type: %s\r\nCache-Control: no-store\r\n%s", type, extra);
	x->call = (struct ecap_httpc_call){.method = "POST",
					   .target = path,
					   .headers = x->headers,
					   .body = x->body.data,
					   .body_len = x->body.len,
					   .on_done = exchange_done,
					   .resp_max = RESP_MAX,
					   .data = x};
	if (ecap_httpc_start(&t->dests[t->cur], &x->call))
		exchange_done(&x->call, "out of memory");
}

/* Sending */

static void on_flush(h2o_timeout_entry_t *e)
{
	struct agent_tunnel *t = H2O_STRUCT_FROM_MEMBER(struct agent_tunnel, flush, e);

	mtun_sendq_flush(t->sendq);
}

static void udp_send(struct agent_tunnel *t, const uint8_t *dg, size_t len)
{
	mtun_sendq_add(t->sendq, &t->server_udp, dg, len);
	if (!h2o_timeout_is_linked(&t->flush))
		h2o_timeout_link(t->loop, &t->a->site.ctx.zero_timeout, &t->flush);
}

static void http_pump(struct agent_tunnel *t);

static void transmit(struct agent_tunnel *t, const uint8_t *dg, size_t len)
{
	if (t->mode == MODE_UDP) { /* lost: the link sends it again */
		udp_send(t, dg, len);
		return;
	}
	mtun_batch_put(&t->out, dg, len); /* control datagrams only: a few */
	http_pump(t);
}

/* What the link has to send: by UDP at once, or by the next poll. */
static void push(struct agent_tunnel *t)
{
	const uint8_t *dg;
	size_t len;

	if (t->mode == MODE_HTTP) {
		http_pump(t);
		return;
	}
	while ((dg = mtun_link_pull(&t->link, now_ms(t), &len)))
		udp_send(t, dg, len);
}

static void schedule(struct agent_tunnel *t)
{
	if (mtun_link_deadline(&t->link) && !h2o_timeout_is_linked(&t->tick))
		h2o_timeout_link(t->loop, &t->tick_q, &t->tick);
}

static void send_ack(struct agent_tunnel *t, int force)
{
	uint8_t buf[MTUN_DGRAM_MAX];
	size_t n = mtun_link_ack(&t->link, buf, now_ms(t), force);

	if (n)
		transmit(t, buf, n);
}

/* A poll carrying DATA is unanswered: TCP still has it, nothing is lost. */
static int data_in_flight(const struct agent_tunnel *t)
{
	for (unsigned i = 0; i < t->npolls; i++)
		if (t->polls[i]->carries)
			return 1;
	return 0;
}

static void on_tick(h2o_timeout_entry_t *e)
{
	struct agent_tunnel *t = H2O_STRUCT_FROM_MEMBER(struct agent_tunnel, tick, e);

	if (!t->registered)
		return;
	send_ack(t, 0);
	/* by HTTP the timeout runs from the answer: a slow request is no loss,
	 * and resending the window behind it only slows it more */
	if (t->mode == MODE_HTTP && data_in_flight(t))
		mtun_link_restart_timer(&t->link, now_ms(t));
	else
		mtun_link_resend(&t->link, now_ms(t), 0);
	push(t);
	schedule(t);
}

static void send_hello(struct agent_tunnel *t)
{
	uint8_t buf[MTUN_DGRAM_MAX], stamp[8];
	uint64_t now = now_ms(t);

	if (!t->udp_ok)
		return;
	for (int i = 0; i < 8; i++)
		stamp[i] = (uint8_t)(now >> (56 - 8 * i));
	t->hello_seq++;
	t->hello_pending = 1;
	t->hello_sent = now;
	/* probes always go by UDP: that is what they test */
	udp_send(t, buf,
		 mtun_seal(t->key, buf,
			   &(struct mtun_hdr){MTUN_HELLO, t->client, t->hello_seq,
					      mtun_link_rcv(&t->link)},
			   stamp, sizeof(stamp)));
}

static void cancel_polls(struct agent_tunnel *t)
{
	while (t->npolls) {
		struct exchange *x = t->polls[--t->npolls];

		ecap_httpc_cancel(&x->call);
		exchange_free(x);
	}
}

static void on_coalesce(h2o_timeout_entry_t *e);

static void switch_to(struct agent_tunnel *t, int mode, const char *why)
{
	ecap_log(LOG_NOTICE, "tunnel: %s -> %s: %s", t->mode == MODE_UDP ? "udp" : "http",
		 mode == MODE_UDP ? "udp" : "http", why);
	t->mode = mode;
	t->path_unsure = mode == MODE_HTTP;
	t->http_since = mode == MODE_HTTP ? now_ms(t) : t->http_since;
	t->answers = 0;
	t->hello_pending = 0;
	t->hello_next = now_ms(t) + t->conf->hello_ms;
	t->stat.switches++;
	save_state(t);
	ecap_buf_reset(&t->out);
	if (mode == MODE_UDP)
		cancel_polls(t);
	/* what the old path may have lost goes again by the new one */
	mtun_link_resend(&t->link, now_ms(t), 1);
	send_ack(t, 1);
	push(t);
	/* by HTTP, a second request at once: the server answers the parked
	 * one, and so says it lives (HTTP_PROOF) */
	if (mode == MODE_HTTP && t->npolls == 1)
		on_coalesce(&t->coalesce);
	schedule(t);
}

/* Receiving */

static void on_tun(h2o_socket_t *sock, const char *e);

static void to_tun(void *arg, const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len)
{
	struct agent_tunnel *t = arg;

	if (mtun_tun_write(t->tun_fd, vh, pkt, len))
		t->stat.bad++;
}

static void on_datagram(struct agent_tunnel *t, const uint8_t *p, size_t n, int by_udp)
{
	uint8_t plain[MTUN_MTU];
	struct mtun_hdr h;
	uint64_t now = now_ms(t);

	if (mtun_peek(p, n, &h) || h.dir != MTUN_DOWN || h.client != t->client ||
	    mtun_open(t->key, p, n, plain)) {
		t->stat.bad++;
		return;
	}
	t->last_rx = now;
	if (h.type == MTUN_HELLO_ACK && by_udp && t->hello_pending && h.seq == t->hello_seq) {
		t->hello_pending = 0;
		if (t->mode == MODE_HTTP && ++t->answers >= t->conf->udp_up_after)
			switch_to(t, MODE_UDP, "the server answers by UDP again");
		else if (t->mode == MODE_UDP && now - t->state_saved >= t->conf->hello_ms)
			save_state(t);
	}
	if (mtun_link_input(&t->link, &h, now) == 1) /* a malformed packet is counted there */
		mtun_link_packet(&t->link, &h, plain, n - MTUN_HDR - MTUN_TAG, to_tun, t);
	if (t->tun_stopped && mtun_link_room(&t->link)) {
		t->tun_stopped = 0;
		h2o_socket_read_start(t->tun_sock, on_tun);
	}
	schedule(t);
}

static void on_udp(h2o_socket_t *sock, const char *e)
{
	struct agent_tunnel *t = sock->data;
	uint8_t buf[MTUN_DGRAM_MAX + 1];
	ssize_t n;

	/* not connected (a route may come later): any source, but the tag decides */
	for (int i = 0; i < 256 && (n = recv(t->udp_fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0; i++)
		if (t->registered)
			on_datagram(t, buf, (size_t)n, 1);
}

static void on_tun(h2o_socket_t *sock, const char *e)
{
	struct agent_tunnel *t = sock->data;
	static uint8_t pkt[MTUN_PKT_MAX];

	for (int i = 0; i < 256; i++) {
		struct virtio_net_hdr vh;
		ssize_t n;

		if (!mtun_link_room(&t->link)) { /* back-pressure: the kernel's queue holds */
			t->tun_stopped = 1;
			t->stat.tun_stops++;
			h2o_socket_read_stop(sock);
			break;
		}
		n = mtun_tun_read(t->tun_fd, &vh, pkt);
		if (n <= 0)
			break;
		if (pkt[0] >> 4 == 4 && t->registered) /* IPv4 only */
			mtun_link_send(&t->link, &vh, pkt, (size_t)n);
	}
	if (t->registered)
		push(t);
	schedule(t);
}

/* HTTP polls */

static void on_coalesce(h2o_timeout_entry_t *e)
{
	struct agent_tunnel *t = H2O_STRUCT_FROM_MEMBER(struct agent_tunnel, coalesce, e);
	struct exchange *x;
	char extra[256], text[64], sig[2 * MTUN_TAG + 1];
	uint8_t tag[MTUN_TAG];
	size_t n = 0, at;

	if (t->mode != MODE_HTTP || !t->registered || t->npolls == 2)
		return;
	x = calloc(1, sizeof(*x));
	if (!x)
		return;
	x->is_poll = 1;
	if (t->path_unsure) {
		uint8_t ack[MTUN_DGRAM_MAX];

		mtun_batch_put(&x->body, ack, mtun_link_ack(&t->link, ack, now_ms(t), 1));
		x->tells_path = 1;
	}
	while (n < t->out.len) { /* acks first: whole datagrams, up to BODY_MAX */
		size_t len = 2 + ((size_t)t->out.data[n] << 8 | t->out.data[n + 1]);

		if (n + len > BODY_MAX)
			break;
		n += len;
	}
	ecap_buf_put(&x->body, t->out.data, n);
	memmove(t->out.data, t->out.data + n, t->out.len - n);
	t->out.len -= n;
	while (x->body.len + 2 + MTUN_DGRAM_MAX <= BODY_MAX) { /* then the link's data */
		size_t len;
		const uint8_t *dg = mtun_link_pull(&t->link, now_ms(t), &len);

		if (!dg)
			break;
		mtun_batch_put(&x->body, dg, len);
		x->carries = 1;
	}
	schedule(t);
	t->http_seq++;
	/* a hold of our own (the server's settings) is signed with the rest */
	at = (size_t)snprintf(text, sizeof(text), "poll\n%08" PRIx32 "\n%" PRIu64, t->client,
			      t->http_seq);
	if (t->conf->hold_ms)
		snprintf(text + at, sizeof(text) - at, "\n%u", t->conf->hold_ms);
	mtun_key_tag(t->key, text, strlen(text), tag);
	ecap_hex_encode(tag, sizeof(tag), sig);
	at = (size_t)snprintf(extra, sizeof(extra),
			      "Edgecap-Client: %08" PRIx32 "\r\nEdgecap-Seq: %" PRIu64
			      "\r\nEdgecap-Sig: %s\r\n",
			      t->client, t->http_seq, sig);
	if (t->conf->hold_ms)
		snprintf(extra + at, sizeof(extra) - at, "Edgecap-Hold: %u\r\n", t->conf->hold_ms);
	t->polls[t->npolls++] = x;
	t->stat.polls++;
	exchange_start(t, x, "/tunnel/v1/poll", "application/octet-stream", extra);
}

/* Keep one request parked; send what waits, after the coalescing delay,
 * in a second one (the server then completes the first). The parked one
 * never carries DATA for long: the server took its datagrams on arrival,
 * but while it waits the retransmission timer stands still (on_tick), so a
 * datagram the server could not take (dropped, or overtaken by a request
 * on another connection) would wait for the parked request's answer,
 * which may be the hold time away. A second request completes it. */
static void http_pump(struct agent_tunnel *t)
{
	if (t->mode != MODE_HTTP || !t->registered || now_ms(t) < t->retry_at ||
	    h2o_timeout_is_linked(&t->coalesce))
		return;
	if (!t->npolls)
		on_coalesce(&t->coalesce); /* nothing parked: park one now */
	if (t->npolls == 1 && (t->out.len || mtun_link_pending(&t->link) || t->polls[0]->carries))
		h2o_timeout_link(t->loop, &t->coalesce_q, &t->coalesce);
}

static void start_registration(struct agent_tunnel *t);

static void on_polled(struct exchange *x, const char *err)
{
	struct agent_tunnel *t = x->t;
	const uint8_t *dg;
	const char *why;
	size_t off = 0, len;
	unsigned i;

	for (i = 0; i < t->npolls && t->polls[i] != x; i++)
		;
	if (i < t->npolls) {
		memmove(t->polls + i, t->polls + i + 1, (t->npolls - i - 1) * sizeof(t->polls[0]));
		t->npolls--;
	}
	if (x->gen != t->gen || t->mode != MODE_HTTP) {
		exchange_free(x);
		return;
	}
	if (!err && x->call.status == 200) {
		int r;

		t->last_rx = now_ms(t); /* an answer, even empty, is the server alive */
		if (x->tells_path)
			t->path_unsure = 0;
		if (x->carries) /* the server has them: their ack is due within a timeout */
			mtun_link_restart_timer(&t->link, now_ms(t));
		while ((r = mtun_batch_next(x->call.resp.data, x->call.resp.len, &off, &dg, &len,
					    &why)) > 0)
			on_datagram(t, dg, len, 0);
		if (r < 0)
			t->stat.bad++;
	} else if (!err && x->call.status == 401) {
		ecap_log(LOG_WARNING, "tunnel: the server does not know client %08" PRIx32 ": %.*s",
			 t->client, (int)x->call.resp.len, (const char *)x->call.resp.data);
		exchange_free(x);
		start_registration(t);
		return;
	} else if (err && t->ndests > 1) {
		/* our server cannot be reached: another serves us as well */
		ecap_log(LOG_WARNING, "tunnel: poll failed: %s", err);
		exchange_free(x);
		next_server(t);
		start_registration(t);
		return;
	} else {
		t->stat.poll_errors++;
		if (t->stat.poll_errors < 10 || t->stat.poll_errors % 100 == 0)
			ecap_log(LOG_WARNING, "tunnel: poll failed: %s%.*s",
				 err ? err : "HTTP status ", err ? 0 : (int)x->call.resp.len,
				 (const char *)x->call.resp.data);
		/* its datagrams may be lost: they go again after a pause */
		t->retry_at = now_ms(t) + RETRY_MS;
		mtun_link_resend(&t->link, now_ms(t), 1);
	}
	exchange_free(x);
	http_pump(t);
}

/* Registration */

static void close_tun(struct agent_tunnel *t)
{
	if (t->tun_fd < 0)
		return;
	if (!t->tun_stopped)
		h2o_socket_read_stop(t->tun_sock);
	h2o_socket_close(t->tun_sock);
	t->tun_sock = NULL;
	t->tun_fd = -1;
	t->tun_stopped = 0;
}

/* What an earlier run left when it ended unclean while relayed: our route
 * to the management network (marked as ours) and management addresses on
 * lo (that network is the tunnel's alone). */
static void relayed_clean(void)
{
	struct ifaddrs *all, *i;

	mtun_route_set(MTUN_NET, MTUN_NET_PREFIX, 0, NULL, 0, 0, 0);
	if (getifaddrs(&all))
		return;
	for (i = all; i; i = i->ifa_next)
		if (!strcmp(i->ifa_name, "lo") && i->ifa_addr &&
		    i->ifa_addr->sa_family == AF_INET) {
			uint32_t a = ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);

			if ((a & 0xff000000) == MTUN_NET)
				mtun_addr_set("lo", a, 32, 0);
		}
	freeifaddrs(all);
}

static void relayed_down(struct agent_tunnel *t)
{
	if (!t->relayed)
		return;
	mtun_route_set(MTUN_NET, MTUN_NET_PREFIX, 0, NULL, 0, 0, 0);
	mtun_addr_set("lo", t->relayed_addr, 32, 0);
	t->relayed = 0;
}

/* Behind a gateway (via: its address, as the grant says): our management
 * address on lo, the management network through the gateway we registered
 * through (our tunnel's host) at the tunnel's MTU, and no TUN of our own.
 * 0 then; else -1, with err "" when the grant names no gateway (what an
 * earlier relayed registration set is undone), or why. */
static int relayed_up(struct agent_tunnel *t, const char *via, char *err, size_t errlen)
{
	struct in_addr v, gw;
	char host[64];
	int e;

	err[0] = 0;
	if (!via) {
		relayed_down(t);
		return -1;
	}
	snprintf(host, sizeof(host), "%.*s", (int)t->dests[t->cur].url.host.len,
		 t->dests[t->cur].url.host.base);
	if (inet_pton(AF_INET, via, &v) != 1 || inet_pton(AF_INET, host, &gw) != 1) {
		snprintf(err, errlen,
			 "relayed: the gateway's relay must be an IPv4 address in tunnel (have %s)",
			 host);
		return -1;
	}
	close_tun(t);
	if (t->relayed && t->relayed_addr != t->addr)
		relayed_down(t);
	if ((e = mtun_addr_set("lo", t->addr, 32, 1)) ||
	    (e = mtun_route_set(MTUN_NET, MTUN_NET_PREFIX, ntohl(gw.s_addr), NULL, t->addr,
				MTUN_MTU, 1))) {
		snprintf(err, errlen, "relayed: our management address and route: %s",
			 strerror(-e));
		return -1;
	}
	t->relayed = ntohl(v.s_addr);
	t->relayed_addr = t->addr;
	return 0;
}

static int open_tun(struct agent_tunnel *t, char *err, size_t errlen)
{
	if (t->tun_fd >= 0)
		return 0;
	t->tun_fd = mtun_tun_open(t->conf->tunnel_if, t->addr, 8, err, errlen);
	if (t->tun_fd < 0)
		return t->tun_fd;
	t->tun_sock = web_watch(t->loop, t->tun_fd, on_tun, t);
	return 0;
}

/* Our server went away or refused us: the next one on the list, if there
 * is another (any of them serves every device: they share the registry). */
static void next_server(struct agent_tunnel *t)
{
	const struct ecap_httpc_dest *d;

	if (t->ndests < 2)
		return;
	t->cur = (t->cur + 1) % t->ndests;
	d = &t->dests[t->cur];
	ecap_log(LOG_NOTICE, "tunnel: trying the next server, %.*s:%u", (int)d->url.host.len,
		 d->url.host.base, (unsigned)h2o_url_get_port(&d->url));
}

/* The server's UDP address, looked up at each registration (it may move);
 * without it the tunnel goes by HTTP alone. 0 or -EINVAL. */
static int resolve_udp(struct agent_tunnel *t, uint16_t port)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM}, *ai = NULL;
	char host[256];
	int r;

	snprintf(host, sizeof(host), "%.*s", (int)t->dests[t->cur].url.host.len,
		 t->dests[t->cur].url.host.base);
	r = getaddrinfo(host, NULL, &hints, &ai);
	if (r) {
		ecap_log(LOG_WARNING, "tunnel: %s: %s: by HTTP alone", host, gai_strerror(r));
		t->udp_ok = 0;
		return -EINVAL;
	}
	t->server_udp = *(struct sockaddr_in *)ai->ai_addr;
	t->server_udp.sin_port =
	    htons(t->conf->tunnel_udp_port ? (uint16_t)t->conf->tunnel_udp_port : port);
	freeaddrinfo(ai);
	t->udp_ok = 1;
	return 0;
}

/* Is the grant signed by the server's key, the one we trusted at our first
 * grant (kept in key_file + ".server"; trusted now when there is none)?
 * Over plain HTTP this is what tells the server from one posing as it.
 * 0, or -EACCES with why. */
static int trusted_grant(struct agent_tunnel *t, const struct exchange *x, json_t *j,
			 uint32_t client, const char *sdh, const char *addr, const char *secret,
			 char *why, size_t len)
{
	const char *pub = json_string_value(json_object_get(j, "server_key")),
		   *sig = json_string_value(json_object_get(j, "sig")),
		   *cert = json_string_value(json_object_get(j, "cert"));
	char text[MTUN_GRANT_MAX], path[300], pinned[MTUN_PUBKEY_B64 + 2] = "";
	FILE *f;

	if (!pub || !sig ||
	    mtun_grant_text(text, t->conf->serial, x->nonce, x->dh_pub, client, sdh, addr, secret,
			    cert, json_string_value(json_object_get(j, "via"))) ||
	    mtun_grant_verify(pub, text, sig)) {
		snprintf(why, len, "the grant is not signed by the server's key");
		return -EACCES;
	}
	snprintf(path, sizeof(path), "%s.server", t->conf->key_file);
	if ((f = fopen(path, "re"))) {
		if (!fgets(pinned, sizeof(pinned), f))
			pinned[0] = 0;
		fclose(f);
		pinned[strcspn(pinned, "\n")] = 0;
		if (strcmp(pinned, pub)) {
			snprintf(why, len,
				 "the server's key %s is not the one this device trusts (%s); if "
				 "the server was set up anew, delete %s",
				 pub, pinned, path);
			return -EACCES;
		}
		return 0;
	}
	f = fopen(path, "wxe");
	if (!f || (fprintf(f, "%s\n", pub) < 0) | (fclose(f) != 0)) {
		snprintf(why, len, "%s: %s", path, strerror(errno));
		return -EACCES;
	}
	ecap_log(LOG_NOTICE, "tunnel: trusting the server's key %s from now on (%s)", pub, path);
	return 0;
}

/* Seconds from now to the end of a certificate in PEM (0: unreadable). */
static long cert_life(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *c = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	int days = 0, secs = 0;

	if (c && !ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(c)))
		days = secs = 0;
	X509_free(c);
	BIO_free(b);
	return (long)days * 86400 + secs;
}

static void on_registered(struct exchange *x, const char *err)
{
	struct agent_tunnel *t = x->t;
	json_t *j = NULL;
	json_error_t je;
	const char *dh, *addr, *secret;
	json_int_t client, port;
	uint8_t key[MTUN_KEY_LEN], sealed[ECAP_AUTH_SECRET_MAX];
	int n;
	struct in_addr in;
	char e[ECAP_ERRLEN];
	int mode, was_relayed;
	void *mine = x->dh;

	t->reg_x = NULL;
	if (!err && x->call.status == 202) { /* known, not claimed yet: ask again soon */
		json_int_t again = 5;

		j = json_loadb((const char *)x->call.resp.data, x->call.resp.len, 0, &je);
		json_unpack(j, "{s:I}", "retry", &again);
		if (!t->unclaimed)
			ecap_log(LOG_NOTICE,
				 "tunnel: waiting to be claimed: serial %s, claim code %s "
				 "(edgecap devices claim %s %s)",
				 t->conf->serial, t->code, t->conf->serial, t->code);
		t->unclaimed = 1;
		t->registered = 0;
		/* not ours any more (removed, or claimed anew): nothing we held
		 * signs for it */
		OPENSSL_cleanse(t->a->conf.secret, sizeof(t->a->conf.secret));
		t->a->conf.secret_len = 0;
		h2o_timeout_unlink(&t->monitor);
		t->hello_next = now_ms(t) + 1000 * (uint64_t)(again < 1	   ? 1
							      : again > 60 ? 60
									   : again);
		h2o_timeout_link(t->loop, &t->monitor_q, &t->monitor);
		goto out;
	}
	if (err || x->call.status != 200) {
		ecap_log(LOG_WARNING, "tunnel: registration failed: %s%.*s; again in %llu s",
			 err ? err : "", err ? 0 : (int)x->call.resp.len,
			 (const char *)x->call.resp.data, (unsigned long long)t->reg_retry / 1000);
		/* a server that does not answer, or cannot now: try another */
		if (err || x->call.status >= 500)
			next_server(t);
		goto retry;
	}
	j = json_loadb((const char *)x->call.resp.data, x->call.resp.len, 0, &je);
	/* the address goes on our TUN as a /8: only one of the management network's */
	if (!j ||
	    json_unpack(j, "{s:I, s:s, s:s, s:I, s:s}", "client", &client, "dh", &dh, "address",
			&addr, "udp_port", &port, "secret", &secret) ||
	    inet_pton(AF_INET, addr, &in) != 1 || (ntohl(in.s_addr) & 0xff000000) != MTUN_NET ||
	    ntohl(in.s_addr) == MTUN_SERVER || !(ntohl(in.s_addr) & 0xffffff) ||
	    (ntohl(in.s_addr) & 0xffffff) == 0xffffff || port < 1 || port > 65535 ||
	    mtun_dh_key(mine, dh, (uint32_t)client, key)) {
		ecap_log(LOG_WARNING, "tunnel: registration: a malformed answer");
		goto retry;
	}
	/* the server's, signed by the key we trusted first */
	if (trusted_grant(t, x, j, (uint32_t)client, dh, addr, secret, e, sizeof(e))) {
		ecap_log(LOG_WARNING, "tunnel: registration: %s", e);
		OPENSSL_cleanse(key, sizeof(key));
		goto retry;
	}
	/* the secret the server signs our captures with, sealed under the
	 * session key: only the two ends of the exchange can read it */
	n = mtun_box_open(key, (uint32_t)client, secret, sealed, sizeof(sealed));
	if (n < ECAP_AUTH_SECRET_MIN || n > ECAP_AUTH_SECRET_MAX) {
		ecap_log(LOG_WARNING, "tunnel: registration: the secret does not open");
		OPENSSL_cleanse(key, sizeof(key));
		goto retry;
	}
	memcpy(t->a->conf.secret, sealed, (size_t)n);
	t->a->conf.secret_len = (size_t)n;
	/* our HTTPS certificate, for our management address, renewed by each
	 * registration */
	if (agent_tls_from_server(t->conf)) {
		const char *pem = json_string_value(json_object_get(j, "cert"));

		if (!pem || web_tls_server_cert(t->a->site.ssl, pem, e, sizeof(e)))
			ecap_log(LOG_WARNING, "tunnel: registration: %s",
				 pem ? e : "no certificate came for our HTTPS");
		else
			t->cert_until = time(NULL) + cert_life(pem);
	}
	OPENSSL_cleanse(sealed, sizeof(sealed));
	if (t->unclaimed)
		ecap_log(LOG_NOTICE, "tunnel: claimed as serial %s", t->conf->serial);
	t->unclaimed = 0;
	mtun_link_free(&t->link);
	mtun_key_free(t->key);
	t->key = mtun_key_new(key);
	OPENSSL_cleanse(key, sizeof(key));
	if (!t->key)
		goto retry;
	if (ntohl(in.s_addr) != t->addr) /* a new address: a new device */
		close_tun(t);
	t->client = (uint32_t)client;
	t->addr = ntohl(in.s_addr);
	was_relayed = t->relayed && t->relayed_addr == t->addr;
	if (!relayed_up(t, json_string_value(json_object_get(j, "via")), e, sizeof(e))) {
		if (!was_relayed) /* (it registers again each minute: said once) */
			ecap_log(LOG_INFO, "tunnel: registered as %s through the gateway at %s",
				 addr, json_string_value(json_object_get(j, "via")));
		t->registered = 1;
		t->reg_retry = REG_RETRY_MS;
		t->last_rx = now_ms(t);
		goto out;
	} else if (e[0]) {
		ecap_log(LOG_ERR, "tunnel: %s", e);
		goto retry;
	}
	mtun_link_init(&t->link, t->client, t->key);
	ecap_buf_reset(&t->out); /* an older registration's acks would spoil a batch */
	t->http_seq = 0;
	t->hello_seq = 0;
	if (open_tun(t, e, sizeof(e))) {
		ecap_log(LOG_ERR, "%s", e);
		goto retry;
	}
	if (t->tun_stopped) { /* the window that stopped it is gone */
		t->tun_stopped = 0;
		h2o_socket_read_start(t->tun_sock, on_tun);
	}
	resolve_udp(t, (uint16_t)port);
	t->registered = 1;
	t->reg_retry = REG_RETRY_MS;
	t->last_rx = now_ms(t);
	ecap_log(LOG_INFO, "tunnel: registered as %s (client %08" PRIx32 ")", addr, t->client);
	/* a fresh persisted state is taken as is; else UDP is probed at once */
	if (!t->udp_ok) {
		t->mode = MODE_HTTP;
		t->hello_next = now_ms(t) + t->conf->hello_ms;
	} else if (load_state(t, &mode)) {
		t->mode = mode;
		t->hello_next = now_ms(t) + t->conf->hello_ms;
		ecap_log(LOG_INFO, "tunnel: by %s, as found in %s",
			 mode == MODE_UDP ? "udp" : "http", t->conf->state_file);
	} else {
		t->mode = MODE_UDP;
		t->hello_next = now_ms(t);
	}
	t->path_unsure = t->mode == MODE_HTTP;
	send_ack(t, 1); /* the server learns our path at once */
	http_pump(t);
	goto out;
retry:
	t->registered = 0;
	h2o_timeout_unlink(&t->monitor);
	t->hello_next = now_ms(t) + t->reg_retry; /* the monitor registers again then */
	h2o_timeout_link(t->loop, &t->monitor_q, &t->monitor);
	t->reg_retry = t->reg_retry * 2 > REG_RETRY_MAX ? REG_RETRY_MAX : t->reg_retry * 2;
out:
	json_decref(j);
	exchange_free(x);
}

/* Is our host name one the server keeps (it becomes the device's name)? */
static int name_ok(const char *s)
{
	size_t n = strlen(s);

	return n && n <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static void start_registration(struct agent_tunnel *t)
{
	char tail[MTUN_TAIL_MAX];
	const char *name;
	char nonce[33], sig[MTUN_SIG_B64], dh[MTUN_PUBKEY_B64], e[ECAP_ERRLEN] = "";
	uint8_t raw[16];
	int64_t ts = time(NULL);
	struct exchange *x;
	void *mine;
	json_t *j;
	char *text;

	cancel_polls(t);
	t->gen++;
	t->registered = 0;
	if (t->reg_x)
		return;
	x = calloc(1, sizeof(*x));
	mine = mtun_dh_new(dh);
	/* a local failure (no key file, ...) is tried again as a refusal is */
	t->hello_next = now_ms(t) + t->reg_retry;
	if (!x || !mine || RAND_bytes(raw, sizeof(raw)) != 1) {
		free(x);
		mtun_dh_free(mine);
		return;
	}
	ecap_hex_encode(raw, sizeof(raw), nonce);
	name = name_ok(t->conf->device) ? t->conf->device : NULL;
	/* every word we send is signed: none can be changed on the way */
	if (mtun_register_tail(tail, dh, t->pubkey, t->claim, name, t->agent_url,
			       agent_tls_from_server(t->conf)))
		snprintf(e, sizeof(e), "registration: words too long to sign");
	if (e[0] || mtun_register_sign(t->conf->key_file, t->conf->serial, ts, nonce, tail, sig, e,
				       sizeof(e))) {
		ecap_log(LOG_WARNING, "tunnel: %s; again in %llu s", e,
			 (unsigned long long)t->reg_retry / 1000);
		t->reg_retry = t->reg_retry * 2 > REG_RETRY_MAX ? REG_RETRY_MAX : t->reg_retry * 2;
		free(x);
		mtun_dh_free(mine);
		return;
	}
	j = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s*, s:s, s:b}", "serial",
		      t->conf->serial, "ts", (json_int_t)ts, "nonce", nonce, "dh", dh, "sig", sig,
		      "pubkey", t->pubkey, "claim", t->claim, "name", name, "agent", t->agent_url,
		      "tls", agent_tls_from_server(t->conf));
	text = json_dumps(j, JSON_COMPACT);
	ecap_buf_put(&x->body, text, strlen(text));
	free(text);
	json_decref(j);
	x->dh = mine;
	memcpy(x->nonce, nonce, sizeof(x->nonce));
	memcpy(x->dh_pub, dh, sizeof(x->dh_pub));
	t->reg_x = x;
	exchange_start(t, x, "/tunnel/v1/register", "application/json", "");
}

/* The monitor: registration retries, the server's silence, UDP probes and
 * the mode they decide, keep-alives. */
static void on_monitor(h2o_timeout_entry_t *e)
{
	struct agent_tunnel *t = H2O_STRUCT_FROM_MEMBER(struct agent_tunnel, monitor, e);
	const struct agent_conf *c = t->conf;
	uint64_t now = now_ms(t), oldest = mtun_link_oldest(&t->link);
	uint64_t quiet = 3 * (uint64_t)c->hello_ms + c->udp_wait_ms;
	char why[96];

	h2o_timeout_link(t->loop, &t->monitor_q, &t->monitor);
	if (!t->registered) {
		if (!t->reg_x && now >= t->hello_next)
			start_registration(t);
		return;
	}
	/* behind a gateway: registering again keeps our session at the server
	 * (and renews the certificate, and finds a server that restarted) */
	if (t->relayed) {
		if (!t->reg_x && now - t->last_rx >= RELAYED_EVERY)
			start_registration(t);
		return;
	}
	/* a fresh key long before any datagram counter comes round */
	if (mtun_link_worn(&t->link) >= MTUN_REKEY_AT || t->hello_seq >= MTUN_REKEY_AT) {
		ecap_log(LOG_INFO, "tunnel: 2^31 datagrams under one key: registering again");
		start_registration(t);
		return;
	}
	/* registering again renews our certificate, a third of its life early */
	if (t->cert_until && time(NULL) > t->cert_until - CERT_RENEW_S) {
		ecap_log(LOG_INFO, "tunnel: our certificate ends within %d days: registering again",
			 CERT_RENEW_S / 86400);
		t->cert_until = 0;
		start_registration(t);
		return;
	}
	/* by HTTP the parked poll is the server's sign of life, and the server
	 * holds it up to 25 s when it has nothing for us; by UDP, the HELLOs'
	 * answers. Just after a switch to HTTP the first poll carries an ACK,
	 * and a second request has the server answer it at once: a server
	 * silent by HTTP too has stalled (UDP alone may only be blocked). */
	if (t->mode == MODE_HTTP && t->http_since > t->last_rx
		? now - t->http_since > HTTP_PROOF
		: now - t->last_rx > (t->mode == MODE_HTTP ? HTTP_SILENCE : quiet)) {
		ecap_log(LOG_WARNING,
			 "tunnel: nothing from the server for %llu s: registering again",
			 (unsigned long long)(now - t->last_rx) / 1000);
		next_server(t);
		start_registration(t);
		return;
	}
	if (t->mode == MODE_UDP) {
		if (t->hello_pending && now - t->hello_sent > c->udp_wait_ms) {
			snprintf(why, sizeof(why), "no answer by UDP within %u ms", c->udp_wait_ms);
			switch_to(t, MODE_HTTP, why);
		} else if (oldest && now - oldest > c->udp_wait_ms) { /* the oldest not acked */
			snprintf(why, sizeof(why), "data not acknowledged by UDP within %u ms",
				 c->udp_wait_ms);
			switch_to(t, MODE_HTTP, why);
		}
	}
	if (t->mode == MODE_HTTP && !t->npolls)
		http_pump(t); /* after a failed poll's pause: park one again */
	if (now >= t->hello_next) {
		/* (in HTTP mode the polls themselves tell the server we live) */
		if (t->mode == MODE_HTTP && t->hello_pending) { /* the last probe went unanswered */
			t->answers = 0;
			save_state(t);
		}
		send_hello(t);
		if (t->mode ==
		    MODE_UDP) /* the server's path for us, again: one lost ACK is no harm */
			send_ack(t, 1);
		t->hello_next = now + c->hello_ms;
	}
}

/* Who we are to the server: the key (made at first start), the serial, the
 * claim code to print and its hash to announce, and where our agent answers
 * through the tunnel. */
static int identity(struct agent_tunnel *t, char *err, size_t errlen)
{
	struct agent_identity id;
	const char *port = strrchr(t->conf->listen, ':');
	char why[ECAP_ERRLEN];
	int e = agent_identity(&t->a->conf, &id, why, sizeof(why));

	if (e) {
		snprintf(err, errlen, "tunnel: the device's key: %s", why);
		return e;
	}
	memcpy(t->pubkey, id.pubkey, sizeof(t->pubkey));
	memcpy(t->code, id.code, sizeof(t->code));
	memcpy(t->claim, id.claim, sizeof(t->claim));
	snprintf(t->agent_url, sizeof(t->agent_url), "%s://tunnel:%s",
		 t->conf->plain_http ? "http" : "https", port ? port + 1 : "8443");
	ecap_log(LOG_NOTICE, "tunnel: serial %s, claim code %s", t->conf->serial, t->code);
	/* HTTPS with our key; the certificate comes with each registration */
	if (agent_tls_from_server(t->conf)) {
		SSL_CTX *ssl = web_tls_server_key(t->conf->key_file, why, sizeof(why));

		if (!ssl) {
			snprintf(err, errlen, "%s", why);
			return -EINVAL;
		}
		t->a->site.ssl = ssl;
		t->a->site.accept_ctx.ssl_ctx = ssl;
	}
	return 0;
}

/* tunnel = URL[, URL...]: each server, its URL checked. 0, or -EINVAL
 * with err naming the one refused. */
static int servers(struct agent_tunnel *t, char *err, size_t errlen)
{
	const struct agent_conf *c = t->conf;
	char list[sizeof(c->tunnel)], *save = NULL, why[ECAP_ERRLEN];

	snprintf(list, sizeof(list), "%s", c->tunnel);
	for (char *u = strtok_r(list, ", ", &save); u; u = strtok_r(NULL, ", ", &save)) {
		if (t->ndests == AGENT_TUNNEL_SERVERS_MAX) {
			snprintf(err, errlen, "tunnel: more than %d servers",
				 AGENT_TUNNEL_SERVERS_MAX);
			return -EINVAL;
		}
		if (ecap_httpc_dest_init(&t->dests[t->ndests], &t->http, u,
					 &(struct ecap_httpc_dest_opts){
					     .proxy = c->proxy[0] ? c->proxy : NULL,
					     .ca_file = c->tunnel_ca[0] ? c->tunnel_ca : NULL,
					     .keepalive = 4,
					 },
					 why, sizeof(why))) {
			snprintf(err, errlen, "tunnel: %s", why);
			return -EINVAL;
		}
		t->ndests++;
	}
	if (!t->ndests) {
		snprintf(err, errlen, "tunnel: no server in '%s'", c->tunnel);
		return -EINVAL;
	}
	return 0;
}

int agent_tunnel_start(struct agent *a, char *err, size_t errlen)
{
	const struct agent_conf *c = &a->conf;
	struct agent_tunnel *t;
	int e;

	if (!c->tunnel[0])
		return 0;
	t = calloc(1, sizeof(*t));
	if (!t || !(t->sendq = calloc(1, sizeof(*t->sendq)))) {
		free(t);
		return -ENOMEM;
	}
	t->a = a;
	t->conf = c;
	if ((e = identity(t, err, errlen))) {
		free(t->sendq);
		free(t);
		return e;
	}
	t->loop = a->site.ctx.loop;
	t->tun_fd = -1;
	t->reg_retry = REG_RETRY_MS;
	relayed_clean();
	h2o_multithread_register_receiver(a->site.ctx.queue, &t->getaddr,
					  h2o_hostinfo_getaddr_receiver);
	ecap_httpc_ctx_init(&t->http, t->loop, &t->getaddr, IO_TIMEOUT, AGENT_VERSION);
	if (servers(t, err, errlen)) {
		for (unsigned i = 0; i < t->ndests; i++)
			ecap_httpc_dest_dispose(&t->dests[i]);
		ecap_httpc_ctx_dispose(&t->http);
		free(t->sendq);
		free(t);
		return -EINVAL;
	}
	t->udp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->udp_fd < 0) {
		e = errno;
		snprintf(err, errlen, "tunnel UDP: %s", strerror(e));
		for (unsigned i = 0; i < t->ndests; i++)
			ecap_httpc_dest_dispose(&t->dests[i]);
		ecap_httpc_ctx_dispose(&t->http);
		free(t->sendq);
		free(t);
		return -e;
	}
	/* a window's burst, sent again at once */
	mtun_socket_buffers(t->udp_fd, 8 << 20);
	t->sendq->fd = t->udp_fd;
	t->udp_sock = web_watch(t->loop, t->udp_fd, on_udp, t);
	h2o_timeout_init(t->loop, &t->tick_q, MTUN_ACK_DELAY);
	h2o_timeout_init(t->loop, &t->coalesce_q, c->coalesce_ms);
	h2o_timeout_init(t->loop, &t->monitor_q, MONITOR_MS);
	t->tick.cb = on_tick;
	t->coalesce.cb = on_coalesce;
	t->monitor.cb = on_monitor;
	t->flush.cb = on_flush;
	h2o_timeout_link(t->loop, &t->monitor_q, &t->monitor);
	a->tunnel = t;
	start_registration(t);
	return 0;
}

void agent_tunnel_stop(struct agent *a)
{
	struct agent_tunnel *t = a->tunnel;
	h2o_timeout_entry_t *entries[4];

	if (!t)
		return;
	cancel_polls(t);
	if (t->reg_x) {
		ecap_httpc_cancel(&t->reg_x->call);
		exchange_free(t->reg_x);
	}
	for (unsigned i = 0; i < RELAYS; i++)
		if (t->relays[i]) {
			ecap_httpc_cancel(&t->relays[i]->call);
			t->relays[i]->done(t->relays[i]->done_arg, 0, NULL, 0, "the agent stops");
			exchange_free(t->relays[i]);
		}
	relayed_down(t);
	entries[0] = &t->tick;
	entries[1] = &t->coalesce;
	entries[2] = &t->monitor;
	entries[3] = &t->flush;
	for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++)
		if (h2o_timeout_is_linked(entries[i]))
			h2o_timeout_unlink(entries[i]);
	h2o_timeout_dispose(t->loop, &t->tick_q);
	h2o_timeout_dispose(t->loop, &t->coalesce_q);
	h2o_timeout_dispose(t->loop, &t->monitor_q);
	if (t->udp_sock) {
		h2o_socket_read_stop(t->udp_sock);
		h2o_socket_close(t->udp_sock);
	}
	if (t->tun_sock) {
		if (!t->tun_stopped)
			h2o_socket_read_stop(t->tun_sock);
		h2o_socket_close(t->tun_sock);
	}
	mtun_link_free(&t->link);
	mtun_key_free(t->key);
	ecap_buf_free(&t->out);
	free(t->sendq);
	for (unsigned i = 0; i < t->ndests; i++)
		ecap_httpc_dest_dispose(&t->dests[i]);
	ecap_httpc_ctx_dispose(&t->http);
	a->tunnel = NULL;
	free(t);
}

static void on_told(void *arg, int status, const void *body, size_t len, const char *err)
{
	if (status != 204)
		ecap_log(LOG_NOTICE, "tunnel: telling the server our interfaces changed: %s%.*s",
			 err ? err : "", err ? 0 : (int)len, (const char *)body);
}

void agent_tunnel_changed(struct agent *a)
{
	struct agent_tunnel *t = a->tunnel;
	char text[64], extra[160], sig[2 * MTUN_TAG + 1];
	uint8_t tag[MTUN_TAG];
	struct exchange *x;
	long long now = time(NULL);
	unsigned slot;

	/* (a relayed device's relay passes registrations only: the server
	 * asks it at its minute) */
	if (!t || !t->registered || t->relayed)
		return;
	/* kept with the registrations we pass on: a stop cancels them all */
	for (slot = 0; slot < RELAYS && t->relays[slot]; slot++)
		;
	if (slot == RELAYS || !(x = calloc(1, sizeof(*x))))
		return;
	t->relays[slot] = x;
	snprintf(text, sizeof(text), "changed\n%08" PRIx32 "\n%lld", t->client, now);
	mtun_key_tag(t->key, text, strlen(text), tag);
	ecap_hex_encode(tag, sizeof(tag), sig);
	snprintf(extra, sizeof(extra),
		 "Edgecap-Client: %08" PRIx32 "\r\nEdgecap-Time: %lld\r\nEdgecap-Sig: %s\r\n",
		 t->client, now, sig);
	x->done = on_told;
	exchange_start(t, x, "/tunnel/v1/changed", "application/octet-stream", extra);
}

uint32_t agent_tunnel_address(struct agent *a)
{
	return a->tunnel ? a->tunnel->addr : 0;
}

/* A registration passed on: its answer to whoever asked. */
static void on_relayed(struct exchange *x, const char *err)
{
	struct agent_tunnel *t = x->t;

	for (unsigned i = 0; i < RELAYS; i++)
		if (t->relays[i] == x)
			t->relays[i] = NULL;
	x->done(x->done_arg, err ? 0 : x->call.status, x->call.resp.data, x->call.resp.len, err);
	exchange_free(x);
}

int agent_tunnel_relay(struct agent *a, const void *body, size_t len, agent_relay_done_fn *done,
		       void *arg)
{
	struct agent_tunnel *t = a->tunnel;
	char text[128], extra[160], sig[2 * MTUN_TAG + 1];
	uint8_t sum[32], tag[MTUN_TAG];
	struct exchange *x;
	unsigned slot;
	int n;

	if (!t || !t->registered || t->relayed)
		return -EAGAIN;
	for (slot = 0; slot < RELAYS && t->relays[slot]; slot++)
		;
	if (slot == RELAYS)
		return -EBUSY;
	x = calloc(1, sizeof(*x));
	if (!x || ecap_buf_put(&x->body, body, len)) {
		free(x);
		return -ENOMEM;
	}
	/* our word that the device is on our LAN, under our session key */
	SHA256(body, len, sum);
	n = snprintf(text, sizeof(text), "relay\n%08" PRIx32 "\n", t->client);
	ecap_hex_encode(sum, sizeof(sum), text + n);
	mtun_key_tag(t->key, text, strlen(text), tag);
	ecap_hex_encode(tag, sizeof(tag), sig);
	snprintf(extra, sizeof(extra), "Edgecap-Relay: %08" PRIx32 "\r\nEdgecap-Relay-Sig: %s\r\n",
		 t->client, sig);
	x->done = done;
	x->done_arg = arg;
	t->relays[slot] = x;
	exchange_start(t, x, "/tunnel/v1/register", "application/json", extra);
	return 0;
}

void agent_tunnel_settings(struct agent *a)
{
	struct agent_tunnel *t = a->tunnel;
	int linked;

	if (!t)
		return;
	/* an h2o timeout has one duration: a new one for the new delay */
	linked = h2o_timeout_is_linked(&t->coalesce);
	if (linked)
		h2o_timeout_unlink(&t->coalesce);
	h2o_timeout_dispose(t->loop, &t->coalesce_q);
	h2o_timeout_init(t->loop, &t->coalesce_q, t->conf->coalesce_ms);
	if (linked)
		h2o_timeout_link(t->loop, &t->coalesce_q, &t->coalesce);
	/* a shorter probe interval from now, a longer one from the next probe */
	if (t->hello_next > now_ms(t) + t->conf->hello_ms)
		t->hello_next = now_ms(t) + t->conf->hello_ms;
}

void agent_tunnel_status(struct agent *a, json_t *o)
{
	struct agent_tunnel *t = a->tunnel;
	char addr[16];

	if (!t)
		return;
	mtun_addr_str(t->addr, addr);
	json_object_set_new(
	    o, "tunnel",
	    json_pack("{s:b, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		      "registered", t->registered, "address", addr, "transport",
		      t->relayed	    ? "relay"
		      : t->mode == MODE_UDP ? "udp"
					    : "http",
		      "switches", (json_int_t)t->stat.switches, "polls", (json_int_t)t->stat.polls,
		      "poll_errors", (json_int_t)t->stat.poll_errors, "sent",
		      (json_int_t)t->link.stat.sent, "resent", (json_int_t)t->link.stat.resent,
		      "received", (json_int_t)t->link.stat.received, "duplicates",
		      (json_int_t)t->link.stat.duplicate, "window_full",
		      (json_int_t)t->link.stat.full, "bad_packets",
		      (json_int_t)t->link.stat.bad_packets, "tun_stops",
		      (json_int_t)t->stat.tun_stops));
}
