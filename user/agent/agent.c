/* agent.c - edgecap-agent's life: the capture engine with its hooks on the
 * served interfaces, the streamer, the h2o server and its endpoints, the
 * metrics listener, the tunnel, signals; and the orderly end. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent/agent.h"
#include "capture/engine.h"
#include "capture/linktype.h"
#include "capture/vlan.h"

#define STOP_GRACE_MS 5000 /* for the captures' last chunks after SIGTERM */

/* Hooks on every served interface, both directions, for the agent's life:
 * a capture only swaps the programs in their slots. */
static int attach(struct agent *a, char *err, size_t errlen)
{
	for (unsigned i = 0; i < a->conf.nifaces; i++) {
		struct agent_iface *f = &a->ifaces[i];
		int hook, r;

		snprintf(f->name, sizeof(f->name), "%s", a->conf.ifaces[i]);
		if (!strcmp(f->name, "any")) {
			snprintf(err, errlen,
				 "any (every interface, as tcpdump -i any) is not served by the "
				 "agent: name the interfaces");
			return -EINVAL;
		}
		f->ifindex = (int)if_nametoindex(f->name);
		if (!f->ifindex) {
			snprintf(err, errlen, "unknown interface '%s'", f->name);
			return -ENODEV;
		}
		r = ecap_iface_linktype(f->name, &f->lt, err, errlen);
		if (r)
			return r;
		/* no link layer (RAW), or one the cooked header stands in for
		 * (LINUX_SLL: PPP, GRE): ingress on TC, where tcpdump sees the
		 * packets and their cooked header is made */
		if (f->lt.dlt != ECAP_LINKTYPE_EN10MB && a->conf.ingress == ECAP_ATTACH_XDP) {
			snprintf(err, errlen, "ingress xdp: %s is %s (captured on TC)", f->name,
				 f->lt.name);
			return -EINVAL;
		}
		if (ecap_engine_attach(a->engine, f->ifindex, ECAP_ATTACH_TC_OUT, err, errlen))
			return -EINVAL;
		hook = ecap_engine_attach_ingress(
		    a->engine, f->ifindex,
		    f->lt.dlt != ECAP_LINKTYPE_EN10MB ? ECAP_ATTACH_TC_IN : a->conf.ingress, err,
		    errlen);
		if (hook < 0)
			return hook;
		if (err[0]) /* XDP is another capture's: TC ingress */
			ecap_log(LOG_NOTICE, "%s", err);
		if (hook == ECAP_ATTACH_XDP && ecap_engine_xdp_vlan_blind(a->engine, f->ifindex))
			ecap_log(LOG_WARNING, "%s: %s; ingress = tc keeps it", f->name,
				 ECAP_VLAN_XDP_WARNING);
		f->ingress = (unsigned)hook;
		/* iface=any's cooked session runs on TC: ingress there too,
		 * where the other sessions leave XDP's packets alone */
		if (hook == ECAP_ATTACH_XDP &&
		    ecap_engine_attach(a->engine, f->ifindex, ECAP_ATTACH_TC_IN, err, errlen))
			return -EINVAL;
		if (ecap_iface_cooked(f->name, f->ifindex, &f->cooked, f->uncooked,
				      sizeof(f->uncooked))) {
			if (f->lt.dlt == ECAP_LINKTYPE_LINUX_SLL)
				return snprintf(err, errlen, "%s", f->uncooked), -EPROTONOSUPPORT;
			f->cooked.ifindex = 0;
		}
		err[0] = 0;
		a->nifaces++;
	}
	return 0;
}

/* No new connections; each capture gets its statistics and last chunk. */
static void stop(struct agent *a)
{
	if (a->stopping)
		return;
	ecap_log(LOG_INFO, "stopping: ending %d capture(s)", agent_captures_active(a));
	a->stopping = 1;
	web_site_stop(&a->site);
	agent_captures_stop_waiting(a);
	ecap_streamer_stop(a->streamer);
}

static void on_streamer(h2o_socket_t *sock, const char *e)
{
	struct agent *a = sock->data;
	char err[ECAP_ERRLEN];

	if (ecap_streamer_step(a->streamer, err, sizeof(err))) {
		ecap_log(LOG_ERR, "%s", err);
		stop(a);
	}
}

static void on_signal(h2o_socket_t *sock, const char *e)
{
	struct agent *a = sock->data;
	struct signalfd_siginfo si;

	while (read(h2o_socket_get_fd(sock), &si, sizeof(si)) == sizeof(si))
		;
	stop(a);
}

int agent_start(struct agent *a, char *err, size_t errlen)
{
	h2o_hostconf_t *host;
	sigset_t mask;
	int r;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	ecap_engine_quiet_libraries();

	if (ecap_engine_probe(err, errlen)) {
		char why[ECAP_ERRLEN];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "kernel lacks %s", why);
		return -ENOTSUP;
	}
	r = ecap_engine_open(&(struct ecap_engine_opts){.ring_bytes = a->conf.ring_bytes},
			     &a->engine, err, errlen);
	if (!r)
		r = attach(a, err, errlen);
	if (!r)
		r = ecap_streamer_new(a->engine, -1, agent_capture_end, a, &a->streamer, err,
				      errlen);
	if (r)
		return r;

	host =
	    web_site_init(&a->site, "edgecap-agent", 64 << 10 /* GET, and PUT without a body */, a);
	agent_capture_init(a, host);
	agent_status_init(a, host);
	agent_settings_init(a, host);
	agent_route_fallback(host);
	r = web_site_start(&a->site, NULL, a->conf.listen,
			   a->conf.plain_http || agent_tls_from_server(&a->conf) ? NULL
										 : a->conf.tls_cert,
			   a->conf.tls_key, err, errlen);
	if (r)
		return r;
	r = agent_metrics_start(a, err, errlen);
	if (!r)
		r = agent_loader_start(a, err, errlen);
	if (r)
		return r;
	web_watch(a->site.ctx.loop, dup(ecap_streamer_fd(a->streamer)), on_streamer, a);
	web_watch(a->site.ctx.loop, signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC), on_signal, a);
	agent_capture_start_timers(a);
	if (a->conf.tunnel[0])
		agent_settings_load(a);
	r = agent_tunnel_start(a, err, errlen);
	if (!r)
		r = agent_relay_start(a, err, errlen);
	if (!r)
		r = agent_changes_start(a, err, errlen);
	if (!r)
		r = ecap_streamer_step(a->streamer, err, errlen); /* arms the ring poll */
	if (r)
		return r;
	ecap_log(LOG_INFO, "serving %u interface(s) on %s%s", a->nifaces, a->conf.listen,
		 a->conf.plain_http ? " (plain HTTP)" : " (HTTPS)");
	return 0;
}

void agent_run(struct agent *a)
{
	while (!a->stopping)
		h2o_evloop_run(a->site.ctx.loop, INT32_MAX);
	/* the captures' last chunks, within a grace period */
	for (uint64_t until = h2o_now(a->site.ctx.loop) + STOP_GRACE_MS;
	     agent_captures_active(a) && h2o_now(a->site.ctx.loop) < until;)
		h2o_evloop_run(a->site.ctx.loop, 100);
}

void agent_free(struct agent *a)
{
	agent_changes_stop(a);
	agent_relay_stop(a);
	agent_tunnel_stop(a);
	agent_metrics_stop(a);
	agent_loader_stop(a); /* before the engine: a load uses its maps */
	ecap_streamer_free(a->streamer);
	ecap_engine_close(a->engine); /* hooks off every interface */
	if (a->site.ssl)
		SSL_CTX_free(a->site.ssl);
}
