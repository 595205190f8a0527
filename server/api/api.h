/* api.h - edgecap-server's HTTP interface: a router over one endpoint group
 * per file (docs/remote.md lists the routes):
 *
 *   devices.c   /api/v1/devices, /api/v1/devices/{name}
 *   captures.c  /api/v1/captures, /api/v1/captures/{id}[/pcap|/text], and
 *               the readers that follow a capture live
 *   filters.c   /api/v1/filters/compile
 *   session.c   /api/v1/session[/password]: signing in and out
 *   auth.c      who a request is: its token, or its session and CSRF token
 *   audit.c     the audit log: written as endpoints act; /api/v1/audit
 *   events.c    /api/v1/captures/{id}/events, /api/v1/events/devices: state as
 *               Server-Sent Events
 *   frames.c    /api/v1/captures/{id}/frames[/{n}]: Wireshark's view (sharkd)
 *   users.c     /api/v1/users[/{name}] (owners), /api/v1/tokens[/{name}] (one's own),
 *               /api/v1/organization (its settings)
 *   tunnel.c    /tunnel/v1/register, /tunnel/v1/poll (the devices' side)
 *   health.c    /healthz, and /metrics on the metrics listener
 *   web.c       the page: every other GET path (web/, docs/web.md)
 *
 * The endpoints answer through the HTTP edge (http.h) and call the service
 * modules below; nothing below calls up. */
#ifndef SRV_API_H
#define SRV_API_H

#include "api/http.h"
#include "common/log.h"
#include "service/capture.h"
#include "service/compiler.h"
#include "service/pwwork.h"
#include "service/reach.h"
#include "service/tunnel.h"

#define SRV_VERSION    "edgecap-server " EDGECAP_VERSION
#define SRV_STATUS_MAX 600

struct srv_reader;

/* What the endpoints reach. */
struct srv_api {
	h2o_loop_t *loop;
	struct web_site *site; /* the API's listener: its connections' figures */
	struct reg *reg;
	struct srv_captures *captures;
	struct srv_tunnel *tunnel; /* NULL: not enabled */
	struct srv_compiler *compiler;
	struct srv_pwwork *pwwork; /* passwords checked off the loop */
	int64_t session_idle_s, session_max_s;
	const struct srv_reach *reach; /* where devices may be */
	const struct srv_store *store; /* what captures keep */
	int stopping;		       /* no new captures */
	unsigned duration;	       /* s: a capture that names none runs this long */
	unsigned duration_max;	       /* s: the most one may ask for */
	unsigned readers_max;	       /* of one capture at once */
	unsigned text_readers_max;     /* text readers (tcpdump printers) at once */
	unsigned text_readers;
	struct srv_reader *readers; /* captures.c: every reader */
	h2o_timeout_t reader_check;
	h2o_timeout_entry_t reader_check_entry;
	uint64_t responses[SRV_STATUS_MAX]; /* answered requests by status (health.c) */
	struct web_site metrics;	    /* health.c: the metrics listener, when configured */
	h2o_timeout_t events_tick;	    /* events.c: each stream's check */
	unsigned events_open;
	h2o_linklist_t events;		 /* events.c: every stream */
	struct srv_web *web;		 /* web.c: the page, when built */
	struct srv_sharkd_pool *sharkd;	 /* frames.c: packet detail; NULL: off */
	char sharkd_off[320];		 /* why sharkd is NULL */
	unsigned report_interval_s;	 /* devices are asked for their status this often */
	const struct srv_reach *proxies; /* whose X-Forwarded-For is believed */
	/* hop.c: streams for the other servers (parts, readers) */
	struct srv_instance *instance;
	unsigned hops;	/* readers' streams passed on now */
	unsigned parts; /* parts of captures run elsewhere, now */
	h2o_multithread_receiver_t *getaddr;
	X509_STORE *ca_store; /* devices' certificates are checked against it */
};

/* An endpoint. params: the path's {parts}, in order; who: the caller, for
 * routes that authenticate (else NULL). Returns 0 (it responded). */
typedef int srv_endpoint_fn(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
			    char **params);

enum {
	SRV_ROUTE_PUBLIC = 1,	 /* no user (the devices', the health check, signing in) */
	SRV_ROUTE_PW_CHANGE = 2, /* answered while the user's password change is due */
	SRV_ROUTE_CO = 4,	 /* on a coroutine (co.h): the registry, and its answer only */
};

struct srv_route {
	const char *method;
	const char *path; /* "/api/v1/devices/{name}" */
	srv_endpoint_fn *fn;
	unsigned flags;	    /* SRV_ROUTE_* */
	enum reg_role role; /* the least role it takes (docs/accounts.md) */
	const char *what;   /* "start captures": for the 403 */
};

/* devices.c: the organization's devices (at most SRV_DEVICES_EVENTS_MAX)
 * as GET /api/v1/devices lists them: 0 with *ret, or -1 (the registry). */
#define SRV_DEVICES_EVENTS_MAX 1000
int srv_devices_state_json(struct srv_api *api, int64_t org, json_t **ret);

/* captures.c: "123" -> 123; else 0. */
int64_t srv_capture_id(const char *s);
/* captures.c: may who read a capture's packets (download, detail)? 0, or
 * -1 with the 403 sent. */
int srv_may_download(h2o_req_t *req, const struct reg_user *who);

/* auth.c: the session cookie's name. */
#define SRV_SESSION_COOKIE "edgecap_session"
/* Who the request is: its bearer token, or its session cookie (then, for
 * anything but GET and HEAD, the session's X-CSRF-Token and an Origin of
 * this server when one is sent). SRV_BY_TOKEN or SRV_BY_SESSION, or -1
 * with the 401 or 403 (503 when the registry does not answer) sent. */
enum { SRV_BY_TOKEN, SRV_BY_SESSION };
int srv_authenticate(struct srv_api *api, h2o_req_t *req, struct reg_user *who);
/* The request's session cookie into cookie: 0, or -ENOENT. */
int srv_session_cookie(h2o_req_t *req, char cookie[2 * REG_TOKEN_LEN + 1]);

/* router.c: every route on "/" of host; requests answered are counted by
 * status in api->responses. */
void srv_api_init(struct srv_api *api, h2o_hostconf_t *host, const char *web_dir);
/* Once the loop runs. */
void srv_api_start(struct srv_api *api);
void srv_api_stop(struct srv_api *api);

/* The endpoints, by file. */
srv_endpoint_fn srv_devices_list;
srv_endpoint_fn srv_devices_add;
/* captures.c, for capture_start.c: a capture's state as the answer; its
 * audit entry */
int srv_capture_reply(struct srv_api *api, h2o_req_t *req, int64_t org, int64_t id, int status);
void srv_capture_audit(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
		       const char *action, int64_t id, json_t *detail);
srv_endpoint_fn srv_devices_claim;
srv_endpoint_fn srv_device_get;
srv_endpoint_fn srv_device_patch;
srv_endpoint_fn srv_device_delete;
srv_endpoint_fn srv_captures_list;
srv_endpoint_fn srv_captures_start;
srv_endpoint_fn srv_capture_get;
srv_endpoint_fn srv_capture_delete;
srv_endpoint_fn srv_capture_stop_ep;
srv_endpoint_fn srv_capture_pcap;
srv_endpoint_fn srv_capture_text;
srv_endpoint_fn srv_filters_compile;
srv_endpoint_fn srv_tunnel_register_ep;
srv_endpoint_fn srv_hop_part;
srv_endpoint_fn srv_hop_read_ep;
/* A capture's reading (0 pcap, 1 text, 2 packets) for who: here, or
 * through the server that runs it; internal: asked by that other server
 * (read here only, no audit). */
int srv_capture_follow(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
		       const char *ids, int text, int internal);
/* Read it through the server at url that runs it (hop.c). */
int srv_hop_read(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, int64_t id,
		 int what, const char *url);
srv_endpoint_fn srv_tunnel_poll_ep;
srv_endpoint_fn srv_tunnel_changed_ep;
srv_endpoint_fn srv_healthz;
srv_endpoint_fn srv_signin_ep;
srv_endpoint_fn srv_session_ep;
srv_endpoint_fn srv_signout_ep;
srv_endpoint_fn srv_password_ep;
srv_endpoint_fn srv_audit_list;
srv_endpoint_fn srv_users_list;
srv_endpoint_fn srv_users_add;
srv_endpoint_fn srv_user_patch;
srv_endpoint_fn srv_user_delete;
srv_endpoint_fn srv_tokens_list;
srv_endpoint_fn srv_tokens_add;
srv_endpoint_fn srv_token_delete;
srv_endpoint_fn srv_org_get;
srv_endpoint_fn srv_org_patch;
srv_endpoint_fn srv_capture_events;
srv_endpoint_fn srv_capture_rows;
/* events.c: the organization's devices as Server-Sent Events */
srv_endpoint_fn srv_devices_events;
/* frames.c */
srv_endpoint_fn srv_capture_frames;
srv_endpoint_fn srv_capture_frame;

/* events.c: how often an event stream checks its capture. */
#define EVENTS_TICK_MS 500
/* captures.c: the organization's capture as GET /api/v1/captures/{id}
 * answers it: 0, or -ENOENT / -EIO. */
int srv_capture_state_json(struct srv_api *api, int64_t org, int64_t id, json_t **ret);

/* audit.c: an entry of the audit log for what who just did (detail: a JSON
 * object, taken; NULL: none), with the client's address. */
void srv_audit(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, const char *action,
	       const char *target, json_t *detail);
/* The client's address, without its port: the peer's, or, when the peer is
 * one of trusted_proxies, the last address in X-Forwarded-For that is not
 * (each proxy appends the address it was reached from). */
void srv_client_address(struct srv_api *api, h2o_req_t *req, char *ret, size_t len);
/* ms since the epoch as ISO 8601 UTC with milliseconds (24 bytes). */
void srv_iso_time(int64_t ms, char *ret, size_t len);
/* "2026-12-06T21:30:00Z" (with .mmm or not) or "2026-12-06", in UTC: ms
 * since the epoch, or -1. */
int64_t srv_parse_time(const char *v);
/* ?since= and ?until= as srv_parse_time reads them, into *since and *until
 * (ms; left as they are when absent): 0, or -1 with the 400 naming the
 * parameter sent. */
int srv_time_range(h2o_req_t *req, int64_t *since, int64_t *until);

/* filters.c: an expression compiled for a request off the loop (the
 * compile service), which the request waits for. The endpoint takes one
 * from the request's pool with room for its own state after it, sets done
 * (and release, for what it holds besides the pool's memory) and starts
 * it. done runs once, from the loop, with the program when it compiled;
 * every refusal on the way (too long, a bad expression, past the CPU
 * bound, the queue full) is answered here instead. An HTTP/2 client may
 * reset the stream meanwhile: the request's pool then goes, and with it
 * the job, whose result is dropped. */
struct srv_compiling {
	struct srv_api *api;
	h2o_req_t *req;
	struct srv_compile *job; /* NULL: not under way */
	const char *prefix;	 /* before libpcap's message: "expression: " or "" */
	int linktype;		 /* ECAP_LINKTYPE_* to compile for; 0: EN10MB */
	void (*done)(struct srv_compiling *x, struct ecap_cbpf *prog); /* answers req */
	void (*release)(struct srv_compiling *x);		       /* NULL: nothing */
	char who[2 * REG_NAME_MAX + 2];				       /* for the log */
};
/* size bytes (at least the struct's), zeroed, from req's pool. */
struct srv_compiling *srv_compiling_new(struct srv_api *api, h2o_req_t *req,
					const struct reg_user *who, size_t size);
/* 0: done (or a refusal) follows; -1: refused now, the answer sent. */
int srv_compiling_start(struct srv_compiling *x, const char *expr, uint32_t snaplen);

/* tunnel.c: answers a parked poll (the long-poll table's callback). */
void srv_tunnel_answer(void *waiter, const uint8_t *body, size_t len);
/* captures.c: the readers' hangup check. */
void srv_readers_start(struct srv_api *api);
/* health.c: /metrics on its own listener ("": none). 0 or -errno. */
int srv_metrics_start(struct srv_api *api, const char *listen, char *err, size_t errlen);
void srv_metrics_stop(struct srv_api *api);

#endif
