/* metrics.c - GET /metrics in Prometheus' text format, on its own listener
 * (metrics_listen, plain HTTP, off by default): a scraper is not the server
 * that signs captures, and what it may read differs from what it may start.
 *
 * Per interface the counts are every capture's, summed: a packet that two
 * captures ran their filters on counts twice. Ended captures' counts are
 * kept in the interface's totals, running ones are read live, so each
 * series only grows. */
#include <stddef.h>
#include <string.h>

#include "agent/agent.h"
#include "capture/engine.h"
#include "common/prom.h"

static void iface_family(struct ecap_buf *b, const struct agent *a, const struct ecap_counters *now,
			 size_t field, const char *name, const char *help)
{
	ecap_prom_family(b, name, "counter", help);
	for (unsigned k = 0; k < a->nifaces; k++)
		ecap_prom_sample(b, name, "interface", a->ifaces[k].name,
				 *(const uint64_t *)(const void *)((const char *)&now[k] + field));
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct agent *a = web_site_of(self)->data;
	struct ecap_counters now[ECAP_MAX_SESSION_IFACES] = {0};
	struct ecap_buf b = {0};
	uint64_t osdropped = a->osdropped_ended;
	if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/metrics")))
		return web_error(req, 404, "only /metrics here");
	for (unsigned k = 0; k < a->nifaces; k++)
		now[k] = a->ifaces[k].ended;
	for (unsigned i = 0; i < ECAP_MAX_SESSIONS; i++) {
		struct ecap_stream_stats s = {0};

		if (!a->cap[i].active || !a->cap[i].started)
			continue;
		agent_capture_counters(a, &a->cap[i], now);
		ecap_streamer_stats(a->streamer, a->cap[i].id, &s);
		osdropped += s.osdropped;
	}
	ecap_prom_one(&b, "edgecap_agent_sessions", "gauge", "Captures running now.",
		      (uint64_t)agent_captures_active(a));
	ecap_prom_one(&b, "edgecap_agent_sessions_max", "gauge", "Captures that can run at once.",
		      ECAP_MAX_SESSIONS);
	ecap_prom_one(&b, "edgecap_agent_captures_total", "counter", "Captures started.",
		      a->captures_started);
	iface_family(&b, a, now, offsetof(struct ecap_counters, seen),
		     "edgecap_agent_packets_seen_total",
		     "Packets a capture's filter ran on, summed over the captures.");
	iface_family(&b, a, now, offsetof(struct ecap_counters, matched),
		     "edgecap_agent_packets_matched_total", "Packets a capture's filter accepted.");
	iface_family(&b, a, now, offsetof(struct ecap_counters, captured),
		     "edgecap_agent_packets_captured_total",
		     "Packets written to the ring buffer for a capture.");
	iface_family(&b, a, now, offsetof(struct ecap_counters, dropped),
		     "edgecap_agent_ring_dropped_total",
		     "Packets accepted but lost: the ring buffer was full.");
	ecap_prom_one(&b, "edgecap_agent_reader_dropped_total", "counter",
		      "Packets lost in user space: a capture's reader was too slow.", osdropped);
	if (b.err) {
		ecap_buf_free(&b);
		return web_error(req, 500, "out of memory");
	}
	web_reply(req, ECAP_PROM_CONTENT_TYPE, b.data, b.len);
	ecap_buf_free(&b);
	return 0;
}

int agent_metrics_start(struct agent *a, char *err, size_t errlen)
{
	h2o_hostconf_t *host;

	if (!a->conf.metrics_listen[0])
		return 0;
	host = web_site_init(&a->metrics, "edgecap-agent", 0, a);
	web_site_handler(&a->metrics, host, "/", on_req, 0);
	/* a scraper or two; what it may hold comes out of the API's share */
	a->metrics.conns_max = 16;
	a->metrics.conns_per_addr_max = 8;
	/* a context of its own on the agent's loop: its listener serves only this */
	return web_site_start(&a->metrics, a->site.ctx.loop, a->conf.metrics_listen, NULL, NULL,
			      err, errlen);
}

void agent_metrics_stop(struct agent *a)
{
	web_site_stop(&a->metrics);
}
