/* devsim.c - see devsim.h.
 *
 * A capture is a request's: its state lives in the request's pool, so the
 * bytes h2o was handed stay valid until h2o frees the request, however the
 * response ended. One send is in flight at a time; the next goes out from
 * proceed, which h2o calls once the last is written, so the packet buffer
 * can be patched and sent again. A capture ends at its count or duration,
 * at devsim_stop, or when the client shuts its side of the connection (what
 * the server does to stop a capture): then its ISBs and the final chunk.
 * h2o does not read a connection while its response runs, so that hangup
 * is polled from a timer, as the agent polls it. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "devsim.h"
#include "agent/params.h"
#include "common/auth.h"
#include "common/pcapng.h"

#define LIVENESS_MS	250	   /* as the agent: a hangup is noticed within this */
#define MAX_CAPTURES	8	   /* the agent's sessions */
#define BUF_BYTES	(2u << 20) /* of EPBs a capture sends at a time */
#define LINKTYPE_EN10MB 1
#define DIR_IN		1 /* pcapng epb_flags: inbound */
#define DIR_OUT		2
#define PAYLOAD		42 /* Ethernet, IPv4 and UDP headers */
#define EPB_DATA	28 /* an EPB's packet data starts here */

struct cap {
	struct devsim *d;
	h2o_req_t *req; /* NULL once the response is final or the client gone */
	h2o_generator_t gen;
	struct cap *next;
	uint8_t *pkts; /* npkts EPBs of blk bytes */
	size_t npkts, blk;
	uint32_t caplen;
	unsigned dirs;
	struct ecap_buf head, tail; /* SHB and IDBs; ISBs */
	uint64_t limit;		    /* packets; 0: none */
	uint64_t end_at;	    /* loop ms; 0: no duration */
	uint64_t sent, bytes;
	int64_t last_ts; /* ns, the last packet's */
	int head_sent, in_flight, ending;
};

struct devsim {
	struct devsim_opts o;
	char iface[IF_NAMESIZE];
	char refuse_body[256];
	uint8_t secret[ECAP_AUTH_SECRET_MAX];
	struct ecap_nonces *nonces; /* NULL: requests are not checked */
	struct web_site site;
	h2o_timeout_t liveness;
	h2o_timeout_entry_t liveness_entry;
	int started, port, stopping;
	struct cap *caps;
	unsigned ncaps;
	struct devsim_stats st;
};

static int64_t wall_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return t.tv_sec * 1000000000ll + t.tv_nsec;
}

/* An error answer, counted. Always 0 (handled). */
static int refuse(struct devsim *d, h2o_req_t *req, int status, const char *line)
{
	d->st.refused++;
	return web_error(req, status, "%s", line);
}

/* The agent's check (user/agent/http.c): 0, or the 401/403/503 is sent. */
static int authorize(struct devsim *d, h2o_req_t *req)
{
	ssize_t at = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
	struct ecap_auth auth;
	int r;

	if (!d->nonces)
		return 0;
	if (at < 0 || ecap_auth_parse(req->headers.entries[at].value.base,
				      req->headers.entries[at].value.len, &auth)) {
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
			       H2O_STRLIT(ECAP_AUTH_SCHEME));
		refuse(d, req, 401,
		       at < 0 ? "no Authorization header"
			      : "Authorization: want " ECAP_AUTH_SCHEME
				" ts=SECONDS,nonce=HEX,sig=HEX");
		return -1;
	}
	r = ecap_auth_verify(&auth, d->secret, d->o.secret_len, req->input.method.base,
			     req->input.method.len, req->input.path.base, req->input.path.len,
			     time(NULL));
	if (!r)
		r = ecap_nonces_use(d->nonces, &auth, time(NULL));
	switch (r) {
	case 0:
		return 0;
	case -ETIME:
		refuse(d, req, 403, "timestamp more than 60 s off");
		break;
	case -EALREADY:
		refuse(d, req, 403, "nonce already used");
		break;
	case -EACCES:
		refuse(d, req, 403, "bad signature");
		break;
	default:
		refuse(d, req, 503, "too many requests");
		break;
	}
	return -1;
}

/* One frame: Ethernet, IPv4 (checksummed), UDP without a checksum, then the
 * seed, the packet number (patched per send) and filler that differs per
 * slot of the buffer. */
static void frame(uint8_t *f, uint32_t len, uint64_t seed, size_t slot)
{
	/* Ethernet; IPv4, DF, TTL 64, UDP, 10.0.0.1 > 10.0.0.2; UDP 40000 > 5001 */
	static const char hdr[PAYLOAD + 1] = "\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00"
					     "\x45\0\0\0\0\0\x40\0\x40\x11\0\0"
					     "\x0a\0\0\x01\x0a\0\0\x02"
					     "\x9c\x40\x13\x89\0\0\0\0";
	uint64_t x = seed ^ (slot + 1) * 0x9e3779b97f4a7c15ull, zero = 0;
	uint32_t sum = 0;

	memcpy(f, hdr, PAYLOAD);
	f[16] = (uint8_t)((len - 14) >> 8);
	f[17] = (uint8_t)(len - 14);
	f[38] = (uint8_t)((len - 34) >> 8);
	f[39] = (uint8_t)(len - 34);
	for (int i = 14; i < 34; i += 2)
		sum += (uint32_t)f[i] << 8 | f[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	f[24] = (uint8_t)(~sum >> 8);
	f[25] = (uint8_t)~sum;
	memcpy(f + PAYLOAD, &seed, 8);
	memcpy(f + PAYLOAD + 8, &zero, 8);
	for (uint32_t i = PAYLOAD + 16; i < len; i++) { /* xorshift64 */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		f[i] = (uint8_t)x;
	}
}

/* The header, and a buffer of n packets. 0 or -ENOMEM. */
static int cap_build(struct cap *c, size_t n, uint32_t snaplen)
{
	struct devsim *d = c->d;
	struct ecap_buf b = {0};
	uint8_t *f = malloc(d->o.len);
	int r = -ENOMEM;

	if (!f)
		goto out;
	ecap_pcapng_shb(&c->head, NULL, NULL, "edgecap");
	for (unsigned dir = DIR_IN; dir <= DIR_OUT; dir++)
		if (c->dirs & dir)
			ecap_pcapng_idb(&c->head, LINKTYPE_EN10MB, snaplen, d->iface, NULL, 9);
	c->caplen = snaplen < d->o.len ? snaplen : d->o.len;
	/* the packets go in the first interface block: inbound when it is */
	for (size_t i = 0; i < n; i++) {
		frame(f, d->o.len, d->o.seed, i);
		ecap_pcapng_epb(&b, 0, 0, f, c->caplen, d->o.len,
				c->dirs & DIR_IN ? DIR_IN : DIR_OUT);
	}
	if (c->head.err || b.err)
		goto out;
	c->pkts = b.data;
	c->npkts = n;
	c->blk = b.len / n;
	b.data = NULL;
	r = 0;
out:
	ecap_buf_free(&b);
	free(f);
	return r;
}

/* The next packets, timestamped as if captured evenly since the last ones. */
static h2o_iovec_t cap_packets(struct cap *c)
{
	size_t n = c->npkts;
	int64_t now = wall_ns(), step;

	if (c->limit && c->limit - c->sent < n)
		n = (size_t)(c->limit - c->sent);
	if (now - c->last_ts < (int64_t)n) /* timestamps only go up */
		now = c->last_ts + (int64_t)n;
	step = (now - c->last_ts) / (int64_t)n;
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = c->pkts + i * c->blk;
		uint64_t ts = (uint64_t)(c->last_ts + step * (int64_t)(i + 1));
		uint32_t hl[2] = {(uint32_t)(ts >> 32), (uint32_t)ts};
		uint64_t seq = c->sent + i;

		memcpy(p + 12, hl, sizeof(hl));
		if (c->caplen >= PAYLOAD + 16)
			memcpy(p + EPB_DATA + PAYLOAD + 8, &seq, 8);
	}
	c->last_ts += step * (int64_t)n;
	c->sent += n;
	return h2o_iovec_init(c->pkts, n * c->blk);
}

/* One ISB per interface block, as user/capture/streamer.c writes them: the
 * packets' block counts them as seen, matched and delivered; nothing was
 * dropped. */
static h2o_iovec_t cap_statistics(struct cap *c)
{
	uint64_t ts = (uint64_t)wall_ns();
	uint32_t id = 0;

	for (unsigned dir = DIR_IN; dir <= DIR_OUT; dir++) {
		uint64_t n = id == 0 ? c->sent : 0;

		if (!(c->dirs & dir))
			continue;
		ecap_pcapng_isb(
		    &c->tail, id++, ts,
		    &(struct ecap_isb_counts){.ifrecv = n, .filteraccept = n, .usrdeliv = n}, NULL);
	}
	return c->tail.err ? h2o_iovec_init(NULL, 0) : h2o_iovec_init(c->tail.data, c->tail.len);
}

/* Hand h2o the next bytes, if it can take them. */
static void pump(struct cap *c)
{
	struct devsim *d = c->d;
	h2o_send_state_t state = H2O_SEND_STATE_IN_PROGRESS;
	h2o_req_t *req = c->req;
	h2o_iovec_t iov;

	if (!req || c->in_flight)
		return;
	if (!c->head_sent) {
		c->head_sent = 1;
		iov = h2o_iovec_init(c->head.data, c->head.len);
	} else if (d->o.stall) {
		return;
	} else {
		if ((c->limit && c->sent >= c->limit) ||
		    (c->end_at && h2o_now(d->site.ctx.loop) >= c->end_at))
			c->ending = 1;
		if (c->ending) {
			iov = cap_statistics(c);
			state = iov.base ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_ERROR;
		} else {
			iov = cap_packets(c);
		}
	}
	if (d->o.break_after && c->bytes + iov.len >= d->o.break_after) {
		iov.len = (size_t)(d->o.break_after - c->bytes);
		state = H2O_SEND_STATE_ERROR;
	}
	if ((uint8_t *)iov.base == c->pkts)
		d->st.packets += iov.len / c->blk;
	c->bytes += iov.len;
	d->st.bytes += iov.len;
	if (state == H2O_SEND_STATE_IN_PROGRESS)
		c->in_flight = 1;
	else
		c->req = NULL; /* h2o frees the request after this */
	h2o_send(req, &iov, iov.len ? 1 : 0, state);
}

/* Drop a capture without its statistics. */
static void cap_drop(struct cap *c)
{
	h2o_req_t *req = c->req;

	if (!req || c->in_flight)
		return;
	c->req = NULL;
	h2o_send(req, NULL, 0, H2O_SEND_STATE_ERROR);
}

static void on_proceed(h2o_generator_t *g, h2o_req_t *req)
{
	struct cap *c = H2O_STRUCT_FROM_MEMBER(struct cap, gen, g);

	c->in_flight = 0;
	if (c->d->stopping && c->d->o.stall)
		cap_drop(c);
	else
		pump(c);
}

static void on_stop(h2o_generator_t *g, h2o_req_t *req)
{
	struct cap *c = H2O_STRUCT_FROM_MEMBER(struct cap, gen, g);

	c->req = NULL;
	c->in_flight = 0;
}

static void on_dispose(void *p)
{
	struct cap *c = p;
	struct cap **pp = &c->d->caps;

	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	c->d->ncaps--;
	free(c->pkts);
	ecap_buf_free(&c->head);
	ecap_buf_free(&c->tail);
}

/* Clients that shut their side, captures past their duration. A stalled
 * capture ignores both, as a hung device would. */
static void on_liveness(h2o_timeout_entry_t *e)
{
	struct devsim *d = H2O_STRUCT_FROM_MEMBER(struct devsim, liveness_entry, e);

	for (struct cap *c = d->caps, *next; c; c = next) {
		next = c->next; /* c may be disposed at once */
		if (!c->req || c->ending || d->o.stall)
			continue;
		if (web_client_gone(c->req) ||
		    (c->end_at && h2o_now(d->site.ctx.loop) >= c->end_at)) {
			c->ending = 1;
			pump(c);
		}
	}
	h2o_timeout_link(d->site.ctx.loop, &d->liveness, e);
}

static int start(struct devsim *d, h2o_req_t *req, const struct agent_params *p)
{
	struct cap *c = h2o_mem_alloc_shared(&req->pool, sizeof(*c), on_dispose);
	uint64_t limit = d->o.packets;
	size_t n;

	*c = (struct cap){.d = d, .dirs = p->dirs, .last_ts = wall_ns()};
	c->next = d->caps;
	d->caps = c;
	d->ncaps++;
	if (p->count && (!limit || p->count < limit))
		limit = p->count;
	c->limit = limit;
	if (p->duration)
		c->end_at = h2o_now(d->site.ctx.loop) + p->duration * 1000ull;
	n = BUF_BYTES / (d->o.len + 64);
	if (!n)
		n = 1;
	if (limit && limit < n)
		n = (size_t)limit;
	if (cap_build(c, n, p->snaplen))
		return refuse(d, req, 500, "out of memory");
	c->gen = (h2o_generator_t){on_proceed, on_stop};
	c->req = req;
	d->st.captures++;
	web_start_200(req, "application/x-pcapng", &c->gen);
	pump(c);
	return 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct devsim *d = web_site_of(self)->data;
	struct agent_params p = {0};
	char err[256];
	int r, status = 0;

	if (!h2o_memis(req->path_normalized.base, req->path_normalized.len,
		       H2O_STRLIT("/v1/capture")))
		return -1;
	if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
			       H2O_STRLIT("GET"));
		d->st.refused++;
		return web_error(req, 405, "GET only");
	}
	if (authorize(d, req))
		return 0;
	r = req->query_at == SIZE_MAX
		? agent_params_parse("", 0, &p, err, sizeof(err))
		: agent_params_parse(req->path.base + req->query_at + 1,
				     req->path.len - req->query_at - 1, &p, err, sizeof(err));
	if (r)
		status = r == -EINVAL ? 400 : 500;
	for (unsigned i = 0; i < p.nifaces && !status; i++)
		if (strcmp(p.ifaces[i], d->iface)) {
			snprintf(err, sizeof(err), "iface: '%s' is not served by this agent",
				 p.ifaces[i]);
			status = 400;
		}
	if (!status && d->stopping) {
		snprintf(err, sizeof(err), "the agent is stopping");
		status = 503;
	} else if (!status && d->ncaps == MAX_CAPTURES) {
		snprintf(err, sizeof(err), "%d captures are running already", MAX_CAPTURES);
		status = 503;
	} else if (!status && d->o.refuse) {
		snprintf(err, sizeof(err), "%s", d->refuse_body);
		status = d->o.refuse;
	}
	if (status && d->o.foreign) {
		d->st.refused++;
		h2o_send_error_generic(req, status, web_reason(status), err, 0);
	} else if (status)
		refuse(d, req, status, err);
	else
		start(d, req, &p);
	if (!r)
		agent_params_free(&p);
	return 0;
}

int devsim_new(h2o_loop_t *loop, const char *listen, const struct devsim_opts *o,
	       struct devsim **ret, char *err, size_t errlen)
{
	struct devsim *d = calloc(1, sizeof(*d));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	h2o_hostconf_t *host;
	int r = -ENOMEM;

	if (!d) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	d->o = *o;
	if (!d->o.len)
		d->o.len = 1514;
	r = -EINVAL;
	if (d->o.len < DEVSIM_LEN_MIN || d->o.len > DEVSIM_LEN_MAX) {
		snprintf(err, errlen, "frame length %u: want %d..%d", d->o.len, DEVSIM_LEN_MIN,
			 DEVSIM_LEN_MAX);
		goto fail;
	}
	if (o->secret &&
	    (o->secret_len < ECAP_AUTH_SECRET_MIN || o->secret_len > ECAP_AUTH_SECRET_MAX)) {
		snprintf(err, errlen, "secret of %zu bytes: want %d..%d", o->secret_len,
			 ECAP_AUTH_SECRET_MIN, ECAP_AUTH_SECRET_MAX);
		goto fail;
	}
	if (o->refuse && (o->refuse < 400 || o->refuse > 599)) {
		snprintf(err, errlen, "refusal status %d: want 400..599", o->refuse);
		goto fail;
	}
	snprintf(d->iface, sizeof(d->iface), "%s", o->iface ? o->iface : "eth0");
	snprintf(d->refuse_body, sizeof(d->refuse_body), "%s",
		 o->refuse_body ? o->refuse_body : "refused");
	d->o.iface = NULL;
	d->o.refuse_body = NULL;
	d->o.secret = NULL; /* copied: the caller's may go */
	if (o->secret) {
		memcpy(d->secret, o->secret, o->secret_len);
		d->nonces = calloc(1, sizeof(*d->nonces));
		if (!d->nonces) {
			r = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}

	host = web_site_init(&d->site, "edgecap-devsim", 64 << 10 /* GET only */, d);
	web_site_handler(&d->site, host, "/v1/capture", on_req, 0);
	d->started = 1;
	r = web_site_start(&d->site, loop, listen, NULL, NULL, err, errlen);
	if (r)
		goto fail;
	if (getsockname(h2o_socket_get_fd(d->site.listener), (struct sockaddr *)&ss, &sl)) {
		r = -errno;
		snprintf(err, errlen, "listen %s: %s", listen, strerror(errno));
		goto fail;
	}
	d->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						 : ((struct sockaddr_in *)&ss)->sin_port);
	h2o_timeout_init(loop, &d->liveness, LIVENESS_MS);
	d->liveness_entry.cb = on_liveness;
	h2o_timeout_link(loop, &d->liveness, &d->liveness_entry);
	*ret = d;
	return 0;
fail:
	devsim_free(d);
	return r;
}

int devsim_port(const struct devsim *d)
{
	return d->port;
}

void devsim_stop(struct devsim *d)
{
	if (d->stopping)
		return;
	d->stopping = 1;
	web_site_stop(&d->site);
	/* responses under way close their connections (h2o_context_request_shutdown
	 * would also arm HTTP/2's graceful shutdown, a timer we never use) */
	d->site.ctx.shutdown_requested = 1;
	for (struct cap *c = d->caps, *next; c; c = next) {
		next = c->next; /* c may be disposed at once */
		if (d->o.stall) {
			cap_drop(c); /* in flight: from proceed */
		} else {
			c->ending = 1;
			pump(c);
		}
	}
}

int devsim_idle(const struct devsim *d)
{
	/* h2o's list of its HTTP/1 connections; it takes no const */
	return h2o_linklist_is_empty((h2o_linklist_t *)&d->site.ctx.http1._conns);
}

void devsim_stats(const struct devsim *d, struct devsim_stats *ret)
{
	*ret = d->st;
}

void devsim_free(struct devsim *d)
{
	if (!d)
		return;
	web_site_stop(&d->site);
	if (d->liveness_entry.cb) {
		h2o_timeout_unlink(&d->liveness_entry);
		h2o_timeout_dispose(d->site.ctx.loop, &d->liveness);
	}
	if (d->started)
		web_site_dispose(&d->site);
	free(d->nonces);
	free(d);
}
