/* health.c - is the server well, and its figures:
 *
 *   GET /healthz   no authentication: 200 when the registry answers, else 503
 *   GET /metrics   Prometheus text, on the metrics listener only
 *
 * The metrics add up every organization's captures and devices, so they
 * are not on the listener the organizations use: metrics_listen (off by
 * default) is for the operator's scraper. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "common/prom.h"

int srv_healthz(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	if (reg_ping(api->reg))
		return srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
	return srv_json(req, 200, json_pack("{s:s, s:s}", "status", "ok", "version", SRV_VERSION));
}

static void metrics(struct srv_api *api, struct ecap_buf *b)
{
	struct srv_captures_stats c;
	struct srv_tunnel_stats t;
	struct reg_stats r = {0};
	char code[8];

	srv_captures_stats(api->captures, &c);
	srv_tunnel_stats(api->tunnel, &t);
	reg_stats(api->reg, &r);
	ecap_prom_one(b, "edgecap_server_captures_running", "gauge", "Captures running now.",
		      c.running);
	ecap_prom_one(b, "edgecap_server_captures_total", "counter",
		      "Captures started since the server started.", c.started);
	ecap_prom_one(b, "edgecap_server_merged_packets_total", "counter",
		      "Packets in merged captures.", c.merged);
	ecap_prom_one(b, "edgecap_server_duplicates_total", "counter",
		      "Packets removed as another device's copy.", c.duplicates);
	ecap_prom_one(b, "edgecap_server_late_packets_total", "counter",
		      "Packets that came after later ones had been written.", c.late);
	ecap_prom_one(b, "edgecap_server_capture_devices_failed_total", "counter",
		      "Devices that failed in a capture that ended.", c.devices_failed);
	ecap_prom_one(b, "edgecap_server_devices", "gauge", "Devices enrolled.", r.devices);
	ecap_prom_family(b, "edgecap_server_tunnel_devices", "gauge",
			 "Devices registered with the tunnel, by the path they last came by.");
	ecap_prom_sample(b, "edgecap_server_tunnel_devices", "transport", "udp", t.by_udp);
	ecap_prom_sample(b, "edgecap_server_tunnel_devices", "transport", "http", t.by_http);
	ecap_prom_sample(b, "edgecap_server_tunnel_devices", "transport", "relay", t.by_relay);
	ecap_prom_sample(b, "edgecap_server_tunnel_devices", "transport", "none",
			 t.registered - t.by_udp - t.by_http - t.by_relay);
	ecap_prom_family(b, "edgecap_server_tunnel_refused_total", "counter",
			 "Tunnel datagrams refused or not delivered, by reason.");
	ecap_prom_sample(b, "edgecap_server_tunnel_refused_total", "reason", "unknown",
			 t.no_client);
	ecap_prom_sample(b, "edgecap_server_tunnel_refused_total", "reason", "bad_tag", t.bad_tag);
	ecap_prom_sample(b, "edgecap_server_tunnel_refused_total", "reason", "stale", t.stale);
	ecap_prom_sample(b, "edgecap_server_tunnel_refused_total", "reason", "spoofed", t.spoofed);
	ecap_prom_sample(b, "edgecap_server_tunnel_refused_total", "reason", "no_route",
			 t.no_route);
	ecap_prom_sample(b, "edgecap_server_tunnel_refused_total", "reason", "tun_write",
			 t.tun_errors);
	ecap_prom_sample(b, "edgecap_server_tunnel_refused_total", "reason", "udp_send",
			 t.udp_send_errors);
	ecap_prom_one(b, "edgecap_server_tunnel_polls_total", "counter",
		      "UDP-over-HTTP poll requests.", t.poll.requests);
	ecap_prom_family(b, "edgecap_server_tunnel_poll_datagrams_total", "counter",
			 "Datagrams carried by polls, by direction.");
	ecap_prom_sample(b, "edgecap_server_tunnel_poll_datagrams_total", "direction", "up",
			 t.poll.datagrams_up);
	ecap_prom_sample(b, "edgecap_server_tunnel_poll_datagrams_total", "direction", "down",
			 t.poll.datagrams_down);
	ecap_prom_one(b, "edgecap_server_tunnel_poll_overflow_total", "counter",
		      "Datagrams for a polling device dropped: its queue was full.",
		      t.poll.overflow);
	ecap_prom_one(b, "edgecap_server_connections", "gauge",
		      "HTTP connections open on the API's listener.", api->site->conn_stats.open);
	ecap_prom_one(b, "edgecap_server_connections_shed_total", "counter",
		      "Idle connections closed for a new one at connections_max.",
		      api->site->conn_stats.shed);
	ecap_prom_one(b, "edgecap_server_connections_refused_total", "counter",
		      "Connections closed at once: their address had connections_per_address_max.",
		      api->site->conn_stats.refused_addr);
	ecap_prom_family(b, "edgecap_server_accept_paused_total", "counter",
			 "Times the API's listener stopped accepting for a while, by reason.");
	ecap_prom_sample(b, "edgecap_server_accept_paused_total", "reason", "full",
			 api->site->conn_stats.paused_full);
	ecap_prom_sample(b, "edgecap_server_accept_paused_total", "reason", "descriptors",
			 api->site->conn_stats.paused_fds);
	ecap_prom_family(b, "edgecap_server_http_responses_total", "counter",
			 "HTTP requests answered, by status.");
	for (int st = 100; st < SRV_STATUS_MAX; st++)
		if (api->responses[st]) {
			snprintf(code, sizeof(code), "%d", st);
			ecap_prom_sample(b, "edgecap_server_http_responses_total", "code", code,
					 api->responses[st]);
		}
}

static int on_metrics(h2o_handler_t *self, h2o_req_t *req)
{
	struct srv_api *api = web_site_of(self)->data;
	struct ecap_buf b = {0};

	if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/metrics")))
		return web_error(req, 404, "only /metrics here");
	metrics(api, &b);
	return web_reply_buf(req, ECAP_PROM_CONTENT_TYPE, &b);
}

int srv_metrics_start(struct srv_api *api, const char *listen, char *err, size_t errlen)
{
	h2o_hostconf_t *host;

	if (!listen[0])
		return 0;
	host = web_site_init(&api->metrics, "edgecap-server", 0, api);
	web_site_handler(&api->metrics, host, "/", on_metrics, 0);
	/* a scraper or two; what it may hold comes out of the API's share */
	api->metrics.conns_max = 16;
	api->metrics.conns_per_addr_max = 8;
	/* a context of its own on the server's loop: its listener serves only this */
	return web_site_start(&api->metrics, api->loop, listen, NULL, NULL, err, errlen);
}

void srv_metrics_stop(struct srv_api *api)
{
	web_site_stop(&api->metrics);
}
