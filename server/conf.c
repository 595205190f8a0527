/* conf.c - see conf.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/conf.h"
#include "common/web.h"
#include "conf.h"
#include "service/registry.h"
#include "common/bounds.h"
#include "service/lptable.h"

#define STR(name, field) ECAP_CONF_STR_KEY(name, struct srv_conf, field)

static const struct ecap_conf_key keys[] = {
    STR("listen", listen),
    STR("db", db),
    STR("instance_address", instance_address),
    STR("data", data),
    ECAP_CONF_BOOL_KEY("plain_http", struct srv_conf, plain_http),
    STR("tls_cert", tls_cert),
    STR("tls_key", tls_key),
    STR("ca_file", ca_file),
    STR("tunnel_udp", tunnel_udp),
    STR("tunnel_if", tunnel_if),
    ECAP_CONF_UINT_KEY("tunnel_max", struct srv_conf, tunnel_max, 1, 1, 1000000),
    ECAP_CONF_UINT_KEY("tunnel_hold", struct srv_conf, tunnel_hold_ms, 1, 1000, SRV_LP_HOLD_MS),
    STR("metrics_listen", metrics_listen),
    STR("web_root", web_root),
    ECAP_CONF_UINT_KEY("capture_duration", struct srv_conf, capture_duration, 1, 1,
		       ECAP_CAPTURE_DURATION_MAX),
    ECAP_CONF_UINT_KEY("capture_duration_max", struct srv_conf, capture_duration_max, 1, 1,
		       ECAP_CAPTURE_DURATION_MAX),
    ECAP_CONF_UINT_KEY("capture_max_mib", struct srv_conf, capture_max_mib, 1, 1, 1u << 20),
    ECAP_CONF_UINT_KEY("org_captures_max", struct srv_conf, org_captures_max, 1, 1, 1000),
    ECAP_CONF_UINT_KEY("capture_readers_max", struct srv_conf, capture_readers_max, 1, 1, 1000),
    ECAP_CONF_UINT_KEY("text_readers_max", struct srv_conf, text_readers_max, 1, 1, 1000),
    ECAP_CONF_UINT_KEY("compile_cpu_ms", struct srv_conf, compile_cpu_ms, 1, 100, 600000),
    ECAP_CONF_UINT_KEY("compile_workers", struct srv_conf, compile_workers, 1, 1, 64),
    STR("device_networks", device_networks),
    STR("trusted_proxies", trusted_proxies),
    ECAP_CONF_UINT_KEY("org_storage_max_mib", struct srv_conf, org_storage_max_mib, 1, 0, 1u << 30),
    ECAP_CONF_UINT_KEY("data_reserve_mib", struct srv_conf, data_reserve_mib, 1, 0, 1u << 20),
    ECAP_CONF_UINT_KEY("capture_retention_days", struct srv_conf, capture_retention_days, 1, 0,
		       36500),
    ECAP_CONF_UINT_KEY("connections_max", struct srv_conf, connections_max, 1, 1, 1000000),
    ECAP_CONF_UINT_KEY("connections_per_address_max", struct srv_conf, connections_per_address_max,
		       1, 1, 1000000),
    ECAP_CONF_UINT_KEY("session_idle", struct srv_conf, session_idle_s, 1, 1, 7 * 86400),
    ECAP_CONF_UINT_KEY("session_max", struct srv_conf, session_max_s, 1, 1, 30 * 86400),
    ECAP_CONF_UINT_KEY("password_workers", struct srv_conf, password_workers, 1, 1, 16),
    ECAP_CONF_UINT_KEY("registry_connections", struct srv_conf, registry_connections, 1, 0, 64),
    ECAP_CONF_UINT_KEY("audit_days", struct srv_conf, audit_days, 1, 1, 36500),
    ECAP_CONF_UINT_KEY("sharkd_max", struct srv_conf, sharkd_max, 1, 0, 64),
    ECAP_CONF_UINT_KEY("sharkd_idle", struct srv_conf, sharkd_idle_s, 1, 5, 86400),
    ECAP_CONF_UINT_KEY("sharkd_mem_mib", struct srv_conf, sharkd_mem_mib, 1, 256, 1u << 20),
    ECAP_CONF_UINT_KEY("report_interval", struct srv_conf, report_interval_s, 1, 2, 3600),
    {0},
};

int srv_conf_set(struct srv_conf *c, const char *key, const char *value, char *err, size_t errlen)
{
	return ecap_conf_set(keys, c, key, value, err, errlen);
}

int srv_conf_load(struct srv_conf *c, const char *path, int must_exist, char *err, size_t errlen)
{
	*c = (struct srv_conf){.db = "/var/lib/edgecap/registry.db",
			       .tunnel_if = "ectun0",
			       .web_root = EDGECAP_WEB_DIR,
			       .tunnel_max = 65536,
			       .tunnel_hold_ms = SRV_LP_HOLD_MS,
			       .capture_duration = 600,
			       .capture_duration_max = ECAP_CAPTURE_DURATION_MAX,
			       .capture_max_mib = 1024,
			       .org_captures_max = 4,
			       .capture_readers_max = 16,
			       .text_readers_max = 32,
			       .compile_cpu_ms = 2000,
			       .compile_workers = 2,
			       .org_storage_max_mib = 10240,
			       .data_reserve_mib = 64,
			       .capture_retention_days = 30,
			       .connections_max = WEB_CONNS_MAX,
			       .connections_per_address_max = WEB_CONNS_PER_ADDR_MAX,
			       .session_idle_s = 1800,
			       .session_max_s = 43200,
			       .password_workers = 2,
			       .registry_connections = 8,
			       .audit_days = 400,
			       .sharkd_max = 4,
			       .sharkd_idle_s = 60,
			       .sharkd_mem_mib = 2048,
			       .report_interval_s = 60};
	return ecap_conf_load(keys, c, path, must_exist, err, errlen);
}

int srv_conf_finish(struct srv_conf *c, char *err, size_t errlen)
{
	if (!c->data[0] && reg_is_url(c->db)) {
		snprintf(err, errlen,
			 "data: a PostgreSQL registry has no directory: give the "
			 "captures one (--data DIR)");
		return -EINVAL;
	}
	if (!c->data[0]) {
		char *slash;

		snprintf(c->data, sizeof(c->data), "%.255s", c->db);
		slash = strrchr(c->data, '/');
		if (slash)
			*slash = 0;
		else
			snprintf(c->data, sizeof(c->data), ".");
	}
	if (!c->listen[0])
		snprintf(c->listen, sizeof(c->listen), "0.0.0.0:%s",
			 c->plain_http ? "8080" : "8443");
	if (!c->instance_address[0])
		snprintf(c->instance_address, sizeof(c->instance_address), "%s://%s",
			 c->plain_http ? "http" : "https", c->listen);
	if (c->capture_duration > c->capture_duration_max) {
		snprintf(err, errlen,
			 "capture_duration (%u s) is above capture_duration_max (%u s)",
			 c->capture_duration, c->capture_duration_max);
		return -EINVAL;
	}
	if (!c->plain_http && (!c->tls_cert[0] || !c->tls_key[0])) {
		snprintf(err, errlen,
			 "HTTPS needs tls_cert and tls_key (or plain_http = yes, for labs)");
		return -EINVAL;
	}
	return 0;
}
