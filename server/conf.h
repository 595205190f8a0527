/* conf.h - edgecap-server's configuration: a file of "key = value" lines
 * (common/conf.h, the agent's syntax) and flags that set the same keys
 * after it.
 *
 *   listen         = 0.0.0.0:8443       (:8080 with plain_http)
 *   db             = /var/lib/edgecap/registry.db
 *   data           = /var/lib/edgecap   (merged captures; default: the db's directory)
 *   plain_http     = no                 (yes: no TLS, for labs)
 *   tls_cert       = /etc/edgecap/server.crt
 *   tls_key        = /etc/edgecap/server.key
 *   ca_file        = /etc/edgecap/ca.crt (CAs of the agents' certificates; default: system)
 *   tunnel_udp     = 0.0.0.0:4789       (the management tunnel; default: off)
 *   tunnel_if      = ectun0
 *   tunnel_max     = 65536              (devices registered at once)
 *   tunnel_hold    = 25000              (ms a parked poll waits, 1000..25000)
 *   metrics_listen = 127.0.0.1:9100     (Prometheus metrics; default: off)
 *   web_root       = /usr/share/edgecap/web (the built page; "": the API only)
 *   capture_duration     = 600          (s, a capture that names none)
 *   capture_duration_max = 86400        (s, the most a capture may ask for)
 *   capture_max_mib      = 1024         (MiB of packets a capture keeps: it stops there)
 *   org_captures_max     = 4            (captures one organization runs at once)
 *   capture_readers_max  = 16           (readers of one capture at once)
 *   text_readers_max     = 32           (text readers on the server at once: each runs
 *                                        tcpdump's printers in a process of its own)
 *   compile_cpu_ms       = 2000         (ms of CPU one expression may take to compile)
 *   compile_workers      = 2            (processes compiling expressions at once)
 *   org_storage_max_mib  = 10240        (MiB one organization's captures keep; 0: no limit)
 *   data_reserve_mib     = 64           (MiB kept free in data: no capture starts below)
 *   capture_retention_days = 30         (days a finished capture is kept; 0: for ever)
 *   trusted_proxies      =              (reverse proxies in front of the server,
 *                                        "10.0.0.5, 192.168.7.0/24": their
 *                                        X-Forwarded-For names the client)
 *   device_networks      =              (the only networks devices may be in,
 *                                        "10.0.0.0/8, 2001:db8::/32"; service/reach.h)
 *   connections_max      = 65536        (HTTP connections open at once; lowered to
 *                                        what the descriptor limit leaves)
 *   connections_per_address_max = 64    (HTTP connections open from one address)
 *   session_idle         = 1800         (s a sign-in session lasts unused)
 *   session_max          = 43200        (s a sign-in session lasts at most)
 *   password_workers     = 2            (threads hashing passwords at once, 64 MiB each)
 *   registry_connections = 8            (PostgreSQL: requests waiting for the registry at
 *                                        once without holding up the others, a
 *                                        connection each; 0: every one on the loop)
 *   audit_days           = 400          (days the audit log keeps an entry)
 *   sharkd_max           = 4            (packet views at once: Wireshark's engine, one process
 *                                        per capture looked into; 0: none)
 *   sharkd_idle          = 60           (s a packet view is kept without a request)
 *   sharkd_mem_mib       = 2048         (MiB of address space each may take)
 *   report_interval      = 60           (s between two asks of a device's status; a
 *                                        device unheard for three is offline)
 */
#ifndef SRV_CONF_H
#define SRV_CONF_H

#include <stddef.h>

#define SRV_CONF "/etc/edgecap/server.conf"

struct srv_conf {
	char listen[128];
	char instance_address[256]; /* where the other servers reach this one */
	char db[256];
	char data[256];
	int plain_http;
	char tls_cert[256], tls_key[256];
	char ca_file[256];
	char tunnel_udp[128];
	char tunnel_if[16];
	unsigned tunnel_max;
	unsigned tunnel_hold_ms;
	char metrics_listen[128];
	char web_root[256]; /* the built page (index.html, assets/); "" for the API only */
	unsigned capture_duration, capture_duration_max; /* s */
	unsigned capture_max_mib;
	unsigned org_captures_max, capture_readers_max, text_readers_max;
	unsigned compile_cpu_ms, compile_workers;
	char device_networks[1024];
	char trusted_proxies[1024];
	unsigned org_storage_max_mib, data_reserve_mib, capture_retention_days;
	unsigned connections_max, connections_per_address_max;
	unsigned session_idle_s, session_max_s, password_workers, audit_days;
	unsigned registry_connections;
	unsigned sharkd_max, sharkd_idle_s, sharkd_mem_mib;
	unsigned report_interval_s;
};

/* Defaults, then the file (a missing one is fine unless must_exist): 0, or
 * -errno with err naming the file and line. */
int srv_conf_load(struct srv_conf *c, const char *path, int must_exist, char *err, size_t errlen);
/* One setting, as in the file. */
int srv_conf_set(struct srv_conf *c, const char *key, const char *value, char *err, size_t errlen);
/* The defaults that follow from others (listen's port, data from db), and
 * what must hold to serve: 0, or -EINVAL with err set. */
int srv_conf_finish(struct srv_conf *c, char *err, size_t errlen);

#endif
