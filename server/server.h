/* server.h - edgecap-server: the cloud side. One thread, one h2o event loop
 * serving the admin API (api.c), running captures (capture.c): one HTTP
 * connection to each device's agent through h2o's HTTP/1 client, their
 * streams merged by the mux into a pcapng file that any number of readers
 * follow live (/pcap, /text). The registry is SQLite (registry.c).
 * docs/remote.md describes the interface. */
#ifndef SERVER_H
#define SERVER_H

#include <h2o/http1client.h>
#include <jansson.h>

#include "mux.h"
#include "registry.h"
#include "common/web.h"

#define SERVER_VERSION "edgecap-server " EDGECAP_VERSION

struct server_conf {
	char listen[128];
	char db[256];
	char data[256]; /* merged captures: DATA/ID.pcapng */
	int plain_http;
	char tls_cert[256], tls_key[256];
	char ca_file[256]; /* to verify agents' certificates; "": system's */
	char tunnel_udp[128]; /* the mTunnel's UDP ADDR:PORT; "": no tunnel */
	char tunnel_if[16];   /* its TUN device */
	unsigned tunnel_max;  /* devices registered at once */
	unsigned tunnel_hold_ms; /* a parked request is answered empty after this */
};

struct tunnel;
struct longpoll;

struct live;

struct server {
	struct server_conf conf;
	struct reg *reg;
	h2o_globalconf_t config;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept_ctx;
	SSL_CTX *ssl, *client_ssl;
	h2o_multithread_receiver_t getaddr;
	h2o_socket_t *listener;
	struct live *live; /* running captures, and finished ones still read */
	h2o_timeout_t tick;
	struct tunnel *tunnel;     /* NULL: not enabled */
	struct longpoll *longpoll; /* its UDP-over-HTTP module */
	int stopping;
};

void server_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* api.c */
void api_init(struct server *s, h2o_hostconf_t *host);
/* A JSON reply (takes the reference); returns 0. */
int api_json(h2o_req_t *req, int status, json_t *body);
/* {"error": "..."} with status; returns 0. */
int api_fail(h2o_req_t *req, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* capture.c */
struct capture_req {
	json_t *request; /* as given, kept in the registry */
	struct reg_device *devs;
	unsigned ndevs;
	char *bpf;   /* the compiled filter, -ddd with commas */
	char ifaces[256];
	const char *dir;
	uint32_t snaplen, duration;
	uint64_t count;
};
/* Start a capture: its id, or -errno with err. */
int64_t capture_start(struct server *s, const struct reg_admin *who, const struct capture_req *c,
		      char *err, size_t errlen);
/* Stop one of the organization's captures: 0 or -ENOENT. */
int capture_stop(struct server *s, int64_t org, int64_t id);
/* Follow a capture's merged stream: as pcapng, or as text. 0 (replied). */
int capture_follow(struct server *s, h2o_req_t *req, int64_t org, int64_t id, int text);
void capture_init(struct server *s);
/* At shutdown: every capture ends. */
void capture_stop_all(struct server *s);
int capture_running(struct server *s);

#endif
