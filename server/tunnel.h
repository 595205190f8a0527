/* tunnel.h - the server's end of the management tunnel (docs/tunnel.md).
 *
 * tunnel.c is the mTunnel server: device registration, a UDP socket every
 * device's datagrams reach, the reliable link per device, and the TUN device
 * (6.0.0.1/8) whose packets they carry. longpoll.c is the UDP-over-HTTP
 * module: for a device whose UDP is blocked it turns HTTP POST bodies into
 * real datagrams sent to the mTunnel server from a socket of that device's
 * own, and what comes back to that socket into HTTP responses. So the
 * mTunnel server sees every device as an ordinary UDP peer. */
#ifndef SRV_TUNNEL_H
#define SRV_TUNNEL_H

#include <jansson.h>
#include <netinet/in.h>
#include <stdint.h>

#include "tunnel/link.h"
#include "tunnel/identity.h"
#include "tunnel/tunio.h"
#include "common/web.h"

struct server;

#define TUNNEL_IDLE_MS      180000 /* a device silent this long is dropped */
#define TUNNEL_HOLD_MS      25000  /* the longest a parked request waits (--tunnel-hold) */
#define TUNNEL_COALESCE_MS  10     /* before a parked request is completed */
#define TUNNEL_QUEUE_MAX    (6u << 20) /* downstream bytes held per device for HTTP: a window */
#define TUNNEL_BODY_MAX     (256u << 10) /* response body */

/* The registration and poll endpoints, under /tunnel/v1/ (before "/"). */
void tunnel_init(struct server *s, h2o_hostconf_t *host);
/* The UDP socket and the TUN device, once the loop exists: 0 or -errno. */
int tunnel_start(struct server *s, char *err, size_t errlen);
void tunnel_stop(struct server *s);
/* A registered device's tunnel state and counters, as "tunnel" in o. */
void tunnel_device_json(struct server *s, int64_t org, const char *name, json_t *o);
/* A device was disabled or deleted: its registration, if any, ends. */
void tunnel_device_gone(struct server *s, int64_t org, const char *name);
/* A poll's request number: 0 when the client has not used it (kept for the
 * registration's life, a window of 64 below the highest), -EALREADY when
 * it has, -ENOENT for an unknown client. */
int tunnel_poll_fresh(struct server *s, uint32_t client, uint64_t seq);

/* For longpoll.c: a registered client's key (NULL: unknown), and the
 * address its datagrams go to. */
struct mtun_key *tunnel_client_key(struct server *s, uint32_t client);
const struct sockaddr_in *tunnel_udp_address(struct server *s);

/* longpoll.c */
struct longpoll;
struct longpoll *longpoll_new(struct server *s);
void longpoll_free(struct longpoll *lp);
/* POST /tunnel/v1/poll: returns 0 (answered, or parked). */
int longpoll_request(struct server *s, h2o_req_t *req);
/* Is this port (at the mTunnel's address) one of the per-device sockets? */
int longpoll_owns(struct longpoll *lp, uint16_t port);
/* The client's socket's port now, 0: none. */
uint16_t longpoll_port(struct longpoll *lp, uint32_t client);
/* Where the mTunnel server reaches a polling client: its socket's address
 * (opened if it was closed for quiet), or -ENOENT when it does not poll. */
int longpoll_path(struct longpoll *lp, uint32_t client, struct sockaddr_in *ret);
/* A client's registration ended: its parked request is answered and its
 * socket closed. */
void longpoll_forget(struct longpoll *lp, uint32_t client);
struct longpoll_stats {
	uint64_t requests, datagrams_up, datagrams_down, overflow, bad;
};
void longpoll_stats(struct longpoll *lp, struct longpoll_stats *ret);

#endif
