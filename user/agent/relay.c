/* relay.c - a gateway's relay for the devices on one of its LANs
 * (relay = IFACE; docs/tunnel.md, "Devices behind a gateway").
 *
 * It answers POST /tunnel/v1/register on IFACE's address, relay_port
 * (4790), plain HTTP, to hosts of IFACE's subnet only, each at most
 * BURST at once and then PER_S a second: the request is
 * signed by the device, the grant by the server, and the secret in it
 * sealed for the device alone. Each is passed on to the server by our own
 * path, with our word (tunnel.c, agent_tunnel_relay) that the device is on
 * our LAN, and the server's answer handed back as it came. When the server
 * grants the device a management address, that address is routed to the
 * device's LAN address and forwarding is on between IFACE and our TUN: the
 * device's management traffic goes through our tunnel. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "tunnel/route.h"
#include "tunnel/wire.h"

#define BODY_MAX (16u << 10) /* a registration is about 1 KiB */
#define ROUTED	 256	     /* devices routed to the LAN, at most */
/* each LAN host's share: a burst, then one a second (a device registers
 * once a minute, or every few seconds while it waits to be claimed) */
#define HOSTS 64
#define BURST 8
#define PER_S 1

struct agent_relay {
	struct web_site site;
	int on;			 /* started */
	uint32_t net, mask;	 /* IFACE's subnet (host order): whom we relay for */
	uint32_t routed[ROUTED]; /* the devices' addresses routed to IFACE */
	unsigned nrouted;
	struct {
		uint32_t host; /* 0: free */
		uint64_t at_ms;
		double tokens;
	} rate[HOSTS];
};

/* The LAN host's share of our requests to the server: 0, or -EBUSY. A
 * host not in the table takes the slot refilled longest ago. */
static int rate_ok(struct agent_relay *r, uint32_t host, uint64_t now)
{
	unsigned i, old = 0;

	for (i = 0; i < HOSTS && r->rate[i].host != host; i++)
		if (r->rate[i].at_ms < r->rate[old].at_ms)
			old = i;
	if (i == HOSTS) {
		i = old;
		r->rate[i].host = host;
		r->rate[i].tokens = BURST;
		r->rate[i].at_ms = now;
	}
	r->rate[i].tokens += (double)(now - r->rate[i].at_ms) * PER_S / 1000;
	if (r->rate[i].tokens > BURST)
		r->rate[i].tokens = BURST;
	r->rate[i].at_ms = now;
	if (r->rate[i].tokens < 1)
		return -EBUSY;
	r->rate[i].tokens -= 1;
	return 0;
}

/* A request waiting for the server's answer. h2o frees the request's pool
 * when the device goes away first: the hook in it unties the two. */
struct pending;
struct hook {
	struct pending *p;
};
struct pending {
	struct agent *a;
	h2o_req_t *req; /* NULL: gone */
	struct hook *hook;
	uint32_t peer; /* the device's address on the LAN (host order) */
};

static void on_dispose(void *obj)
{
	struct hook *h = obj;

	if (h->p)
		h->p->req = NULL;
}

/* The server's grant names the device's management address: routed to
 * it, through its address on our LAN (not to whoever answers for it
 * there). Never the server's address or our own. */
static void route_device(struct agent *a, uint32_t peer, const void *body, size_t len)
{
	struct agent_relay *r = a->relay;
	json_t *j = json_loadb(body, len, 0, NULL);
	const char *addr = json_string_value(json_object_get(j, "address"));
	struct in_addr in;
	uint32_t m = 0;
	unsigned i;
	int e;

	if (addr && inet_pton(AF_INET, addr, &in) == 1)
		m = ntohl(in.s_addr);
	if ((m & 0xff000000) != MTUN_NET || m == MTUN_SERVER || m == agent_tunnel_address(a)) {
		ecap_log(LOG_WARNING, "relay: the server's answer names no device address (%s)",
			 addr ? addr : "none");
		json_decref(j);
		return;
	}
	e = mtun_route_set(m, 32, peer, a->conf.relay, 0, 0, 1);
	if (!e)
		e = mtun_forwarding(a->conf.relay) ?: mtun_forwarding(a->conf.tunnel_if);
	for (i = 0; i < r->nrouted && r->routed[i] != m; i++)
		;
	if (e) {
		ecap_log(LOG_ERR, "relay: routing %s to %s: %s", addr, a->conf.relay, strerror(-e));
	} else if (i == r->nrouted && r->nrouted < ROUTED) { /* said once: it comes each minute */
		r->routed[r->nrouted++] = m;
		ecap_log(LOG_INFO, "relay: %s is on %s, through our tunnel", addr, a->conf.relay);
	}
	json_decref(j);
}

static void on_answer(void *arg, int status, const void *body, size_t len, const char *err)
{
	struct pending *p = arg;

	if (p->req) {
		p->hook->p = NULL;
		if (!status) {
			web_error(p->req, 502, "the server: %s", err ? err : "no answer");
		} else {
			char *copy = h2o_mem_alloc_pool(&p->req->pool, len + 1);

			if (status == 200)
				route_device(p->a, p->peer, body, len);
			if (len)
				memcpy(copy, body, len);
			p->req->res.status = status;
			p->req->res.reason = status == 200   ? "OK"
					     : status == 202 ? "Accepted"
					     : status < 500  ? "Refused"
							     : "Unavailable";
			p->req->res.content_length = len;
			h2o_add_header(&p->req->pool, &p->req->res.headers, H2O_TOKEN_CONTENT_TYPE,
				       NULL, H2O_STRLIT("application/json"));
			h2o_send_inline(p->req, copy, len);
		}
	}
	free(p);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct agent *a = web_site_of(self)->data;
	struct sockaddr_storage ss;
	struct pending *p;
	uint32_t peer = 0;
	int r;

	if (!h2o_memis(req->path_normalized.base, req->path_normalized.len,
		       H2O_STRLIT("/tunnel/v1/register")))
		return web_error(req, 404, "a relay: only /tunnel/v1/register");
	if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")))
		return web_error(req, 405, "POST only");
	/* only our LAN's hosts: the address is reachable from elsewhere too */
	if (req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss) &&
	    ss.ss_family == AF_INET)
		peer = ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr);
	if (!peer || (peer & a->relay->mask) != a->relay->net)
		return web_error(req, 403, "a relay for the hosts of %s's network only",
				 a->conf.relay);
	if (!req->entity.base || !req->entity.len)
		return web_error(req, 400, "want the registration as its body");
	if (rate_ok(a->relay, peer, h2o_now(a->site.ctx.loop)))
		return web_error(req, 429, "too many registrations from this host: slow down");
	p = calloc(1, sizeof(*p));
	if (!p)
		return web_error(req, 503, "out of memory");
	p->a = a;
	p->req = req;
	p->peer = peer;
	p->hook = h2o_mem_alloc_shared(&req->pool, sizeof(*p->hook), on_dispose);
	p->hook->p = p;
	r = agent_tunnel_relay(a, req->entity.base, req->entity.len, on_answer, p);
	if (r) {
		p->hook->p = NULL;
		free(p);
		return web_error(req, 503, "%s",
				 r == -EAGAIN  ? "the gateway is not registered yet: again soon"
				 : r == -EBUSY ? "too many registrations at once: again soon"
					       : "out of memory");
	}
	return 0;
}

/* IFACE's first IPv4 address, and its subnet: 0, or -EADDRNOTAVAIL. */
static int iface_addr(const char *name, char *ret, size_t len, uint32_t *net, uint32_t *mask)
{
	struct ifaddrs *all, *i;
	int e = -EADDRNOTAVAIL;

	if (getifaddrs(&all))
		return -errno;
	for (i = all; i; i = i->ifa_next)
		if (!strcmp(i->ifa_name, name) && i->ifa_addr && i->ifa_netmask &&
		    i->ifa_addr->sa_family == AF_INET) {
			struct in_addr in = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;

			inet_ntop(AF_INET, &in, ret, (socklen_t)len);
			*mask = ntohl(((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr);
			*net = ntohl(in.s_addr) & *mask;
			e = 0;
			break;
		}
	freeifaddrs(all);
	return e;
}

int agent_relay_start(struct agent *a, char *err, size_t errlen)
{
	struct agent_relay *r;
	h2o_hostconf_t *host;
	char addr[INET_ADDRSTRLEN], listen[64];

	if (!a->conf.relay[0])
		return 0;
	if (!a->conf.tunnel[0]) {
		snprintf(err, errlen, "relay: a gateway relays through its tunnel: set tunnel");
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "relay: out of memory");
		return -ENOMEM;
	}
	if (iface_addr(a->conf.relay, addr, sizeof(addr), &r->net, &r->mask)) {
		free(r);
		snprintf(err, errlen, "relay: %s has no IPv4 address to listen on", a->conf.relay);
		return -EADDRNOTAVAIL;
	}
	a->relay = r;
	host = web_site_init(&r->site, "edgecap-agent", BODY_MAX, a);
	web_site_handler(&r->site, host, "/", on_req, 0);
	r->site.conns_max = 256;
	r->site.conns_per_addr_max = 4;
	snprintf(listen, sizeof(listen), "%s:%u", addr, a->conf.relay_port);
	if (web_site_start(&r->site, a->site.ctx.loop, listen, NULL, NULL, err, errlen))
		return -EINVAL;
	r->on = 1;
	ecap_log(LOG_INFO, "relay: registrations of %s's devices on %s", a->conf.relay, listen);
	return 0;
}

void agent_relay_stop(struct agent *a)
{
	struct agent_relay *r = a->relay;

	if (!r)
		return;
	if (r->on)
		web_site_stop(&r->site);
	/* the devices are reached through us no more (forwarding stays as the
	 * host had it: it may route for more than us) */
	for (unsigned i = 0; i < r->nrouted; i++)
		mtun_route_set(r->routed[i], 32, 0, NULL, 0, 0, 0);
	r->nrouted = 0;
}
