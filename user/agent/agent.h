/* agent.h - edgecap-agent: the device's capture service. One thread, one h2o
 * event loop, and a thread that loads the sessions' programs (the verifier
 * can take seconds); the capture engine's hooks stay attached to the served
 * interfaces, and each HTTP capture is one session whose pcapng streams out
 * of the io_uring streamer's memory sink as a chunked response.
 * docs/remote.md describes the interface. */
#ifndef AGENT_H
#define AGENT_H

#include <net/if.h>
#include <openssl/ssl.h>
#include <jansson.h>
#include <time.h>

#include "common/auth.h"
#include "common/log.h"
#include "capture.h"
#include "filter/cbpf.h"
#include "capture/engine.h"
#include "capture/sessions.h"
#include "capture/linktype.h"
#include "capture/streamer.h"
#include "common/web.h"
#include "tunnel/claim.h"
#include "tunnel/identity.h"
#include "tunnel/settings.h"

#define AGENT_VERSION	"edgecap-agent " EDGECAP_VERSION
#define AGENT_CONF	"/etc/edgecap/agent.conf"
#define AGENT_STATE_DIR "/var/lib/edgecap-agent"
#define AGENT_KEY	AGENT_STATE_DIR "/device.key"
#define AGENT_KEY_OLD	"/etc/edgecap/device.key" /* keygen's default before claims */
/* Captures waiting for their program to load, the one loading included;
 * a request past it gets a 503. Each load verifies every running session's
 * filter with the new one, one load at a time, so the bound also bounds how
 * long the last of them waits. */
#define AGENT_LOAD_WAITING 4

struct agent_conf {
	char listen[128]; /* ADDR:PORT, [ADDR6]:PORT */
	char ifaces[ECAP_MAX_SESSION_IFACES][IF_NAMESIZE];
	unsigned nifaces;
	uint8_t secret[ECAP_AUTH_SECRET_MAX];
	size_t secret_len;
	char tls_cert[256], tls_key[256];
	int plain_http;
	uint32_t ring_bytes;
	unsigned ingress;	  /* ECAP_ATTACH_XDP or _TC_IN; 0: the cheaper for the driver */
	char device[64];	  /* a name for logs and status */
	char metrics_listen[128]; /* ADDR:PORT of /metrics; "": none */
				  /* the management tunnel (tunnel.c); off while tunnel is "" */
#define AGENT_TUNNEL_SERVERS_MAX 8
	char tunnel[1024];   /* the servers: http(s)://HOST:PORT[, ...] */
	char proxy[256];     /* an HTTP proxy for it: http://HOST:PORT */
	char tunnel_ca[256]; /* CAs for an https:// server; "": the system's */
	char serial[129];
	char key_file[256]; /* Ed25519, from edgecap-agent keygen */
	char tunnel_if[16];
	char state_file[256]; /* the last transport decided, and when */
	unsigned hello_ms, udp_wait_ms, udp_up_after, coalesce_ms;
	unsigned hold_ms;	 /* asked of the server for our polls; 0: the server's */
	char settings_file[256]; /* the server's settings (settings.c); default key_file.settings */
	char relay[IF_NAMESIZE]; /* relay registrations for this LAN's devices (relay.c) */
	unsigned relay_port;
	unsigned tunnel_udp_port; /* 0: as the server says at registration */
};

/* Defaults, then the file (a missing default file is fine). 0 or -errno,
 * err naming the file and line. */
int agent_conf_load(struct agent_conf *c, const char *path, int must_exist, char *err,
		    size_t errlen);
/* HTTPS with the device's own key and a certificate the server issues at
 * every registration (a device that joins by claim and has none of its own) */
static inline int agent_tls_from_server(const struct agent_conf *c)
{
	return !c->plain_http && !c->tls_cert[0] && c->tunnel[0];
}

/* One setting, as in the file: "key", "value". */
int agent_conf_set(struct agent_conf *c, const char *key, const char *value, char *err,
		   size_t errlen);
/* What must hold before starting: interfaces, a secret, TLS files. */
int agent_conf_check(const struct agent_conf *c, char *err, size_t errlen);

struct agent;

/* One capture: a session id, owned by an HTTP request until its pool goes. */
struct capture {
	struct agent *a;
	uint8_t id;
	int active;	 /* taken, until reaped */
	int waiting;	 /* its program is not loaded yet: the request waits */
	int on_hooks;	 /* in the hooks' session programs */
	int started;	 /* response headers given to h2o */
	int in_flight;	 /* h2o holds a batch of the stream's bytes */
	int gone;	 /* the client went away: nothing more is sent */
	int disposed;	 /* the request is freed: the slot can be reaped */
	const char *why; /* how it ended, for the log */
	h2o_req_t *req;	 /* NULL once the response is final or the request gone */
	h2o_generator_t gen;
	h2o_iovec_t pend; /* a batch handed over by the streamer, not yet sent */
	int pend_state;	  /* 0: none; else an h2o_send_state_t + 1 */
	struct ecap_cbpf prog;
	struct ecap_session sess;
	struct ecap_stream_opts opts;
	struct ecap_stream_iface ifaces[ECAP_MAX_SESSION_IFACES];
	struct ecap_cooked_if cooked[ECAP_MAX_SESSION_IFACES]; /* iface=any: the served ones */
	char peer[64];
	time_t started_at;
	uint64_t server_id; /* the server's id for the capture, 0: none given */
};

struct agent_iface {
	char name[IF_NAMESIZE];
	int ifindex;
	unsigned ingress;	 /* the ingress hook attached */
	struct ecap_linktype lt; /* as tcpdump gives it */
	/* what iface=any's LINUX_SLL2 header says of it; ifindex 0: it has
	 * none, and uncooked says why */
	struct ecap_cooked_if cooked;
	char uncooked[160];
	struct ecap_counters ended; /* the counts of the captures that ended, summed */
};

struct agent {
	struct agent_conf conf;
	struct ecap_engine *engine;
	struct ecap_streamer *streamer;
	struct agent_iface ifaces[ECAP_MAX_SESSION_IFACES];
	unsigned nifaces;
	struct capture cap[ECAP_MAX_SESSIONS];
	struct ecap_nonces nonces;
	/* the programs' loader (loader.c): the captures waiting for it, in
	 * order, and its job, if any: the sessions in it (a bit each by id) and
	 * the capture it adds (-1: none, the job drops sessions that ended) */
	struct agent_loader *loader;
	uint8_t waitq[AGENT_LOAD_WAITING];
	unsigned nwait;
	int job;
	uint32_t job_ids;
	int job_new;
	int resync;	      /* sessions went off: the programs are to be loaded without them */
	struct web_site site; /* the capture service's listener */
	h2o_timeout_t liveness;
	h2o_timeout_entry_t liveness_entry;
	h2o_timeout_entry_t reap_entry;
	struct agent_tunnel *tunnel;
	/* the tunnel's settings (settings.c), by mtun_settings' index: the
	 * configuration file's, and the server's (0: none set) */
	unsigned local[MTUN_SETTINGS], central[MTUN_SETTINGS];
	struct agent_relay *relay;     /* relay.c's listener, when relay is set */
	struct agent_changes *changes; /* changes.c's watch, with a tunnel */
	struct web_site metrics;       /* metrics.c's own listener */
	uint64_t captures_started, captures_refused, osdropped_ended;
	int stopping;
};

/* agent.c: the daemon's life. Start: 0, or -errno with err set (agent_free
 * releases what was taken either way). Run: until SIGINT or SIGTERM, then
 * the captures' last chunks. */
int agent_start(struct agent *a, char *err, size_t errlen);
void agent_run(struct agent *a);
void agent_free(struct agent *a);

/* http.c: shared by the endpoints */
/* 0 when the request is the server's; else the 401/403 is sent. */
int agent_authorize(struct agent *a, h2o_req_t *req);
/* An endpoint: runs for GET requests to exactly its path that the server
 * signed; returns 0 (it responded). */
typedef int agent_endpoint_fn(struct agent *a, h2o_req_t *req);
void agent_route(struct agent *a, h2o_hostconf_t *host, const char *path, agent_endpoint_fn *fn);
/* The same for another method than GET. */
void agent_route_method(struct agent *a, h2o_hostconf_t *host, const char *path, const char *method,
			agent_endpoint_fn *fn);
/* After the endpoints: every other path is a 404. */
void agent_route_fallback(h2o_hostconf_t *host);

/* capture.c: GET /v1/capture */
int agent_capture_init(struct agent *a, h2o_hostconf_t *host);
/* The loader's job is done: r = 0 with the programs in fds, or -errno with
 * err. Installs them, and answers the capture the job added. */
void agent_sessions_loaded(struct agent *a, int r, int fds[ECAP_LOAD_FDS], const char *err);
/* The agent stops: the captures still waiting get a 503. */
void agent_captures_stop_waiting(struct agent *a);
/* The streamer ended a session's stream (limit or stop). */
void agent_capture_end(void *ctx, uint8_t session);
int agent_captures_active(const struct agent *a);
/* The hangup check's timer, once the loop runs. */
void agent_capture_start_timers(struct agent *a);
/* "in", "out", "inout" */
const char *agent_dir_name(unsigned dirs);

/* loader.c: the thread that loads the sessions' programs. Start: 0 or
 * -errno with err. Submit: one job at a time (the answer comes to
 * agent_sessions_loaded). Stop: waits for a job under way. */
int agent_loader_start(struct agent *a, char *err, size_t errlen);
void agent_loader_submit(struct agent *a, const struct ecap_session *s, unsigned n);
void agent_loader_stop(struct agent *a);

/* claim.c: the device's key (made when key_file does not exist yet), its
 * serial (the key's unless configured: into c->serial), its claim code and
 * the code's hash. 0 or -errno with err. */
struct agent_identity {
	char pubkey[MTUN_PUBKEY_B64], code[MTUN_CODE_LEN], claim[MTUN_CLAIM_HEX];
};
int agent_identity(struct agent_conf *c, struct agent_identity *id, char *err, size_t errlen);

/* tunnel.c: the management tunnel, when configured. 0 or -errno with err. */
int agent_tunnel_start(struct agent *a, char *err, size_t errlen);
void agent_tunnel_stop(struct agent *a);
/* Its state into the status object. */
void agent_tunnel_status(struct agent *a, json_t *o);

/* status.c: GET /v1/status */
int agent_status_init(struct agent *a, h2o_hostconf_t *host);
/* Its answer to req (other endpoints answer with it too). */
int agent_status_reply(struct agent *a, h2o_req_t *req);

/* settings.c: the tunnel settings the server sets, PUT /v1/settings. Load:
 * the file's values stand in for the configuration's (before the tunnel
 * starts). Status: "settings" into o. */
void agent_settings_load(struct agent *a);
int agent_settings_init(struct agent *a, h2o_hostconf_t *host);
void agent_settings_status(struct agent *a, json_t *o);
/* tunnel.c: the settings changed: take them now */
void agent_tunnel_settings(struct agent *a);
/* tunnel.c: a device's registration passed on to the server, as the
 * gateway's word that the device is on its LAN; done gets the server's
 * answer (status 0: none, err why). 0, or -EAGAIN (not registered, or
 * relayed itself), -EBUSY (too many at once), -ENOMEM. */
typedef void agent_relay_done_fn(void *arg, int status, const void *body, size_t len,
				 const char *err);
int agent_tunnel_relay(struct agent *a, const void *body, size_t len, agent_relay_done_fn *done,
		       void *arg);
/* tunnel.c: tell the server our interfaces changed (a report is due) */
void agent_tunnel_changed(struct agent *a);
/* changes.c: watching the served interfaces, with a tunnel */
int agent_changes_start(struct agent *a, char *err, size_t errlen);
void agent_changes_stop(struct agent *a);
/* tunnel.c: our management address (host order), 0 before the first grant */
uint32_t agent_tunnel_address(struct agent *a);
/* relay.c: the gateway's relay for its LAN (relay = IFACE), when set */
int agent_relay_start(struct agent *a, char *err, size_t errlen);
void agent_relay_stop(struct agent *a);

/* metrics.c: GET /metrics on metrics_listen (Prometheus text), when set. */
int agent_metrics_start(struct agent *a, char *err, size_t errlen);
void agent_metrics_stop(struct agent *a);
/* A capture's counters per interface, added into sums indexed like
 * a->ifaces (live while it runs, final once it has ended). */
void agent_capture_counters(struct agent *a, const struct capture *c, struct ecap_counters *sums);

#endif
