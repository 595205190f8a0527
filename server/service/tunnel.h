/* tunnel.h - the server's end of the management tunnel (docs/tunnel.md):
 * device registration, one UDP socket that every device's datagrams reach,
 * the reliable link per device, and the TUN device at the server's
 * management address whose IP packets they carry. A device whose UDP is
 * blocked polls over HTTP instead: the long-poll table (lptable.h), which
 * the tunnel owns, turns its polls into datagrams from a socket of that
 * device's own, so the tunnel sees every device as an ordinary UDP peer.
 * The HTTP endpoints (/tunnel/v1/register and /poll) are the API room's. */
#ifndef SRV_TUNNEL_H
#define SRV_TUNNEL_H

#include <stdint.h>

#include "service/devca.h"
#include "service/lptable.h"
#include "service/registry.h"
#include "tunnel/claim.h"
#include "tunnel/identity.h"

#define SRV_TUNNEL_IDLE_MS 180000 /* a device silent this long is dropped */
/* Devices waiting to be claimed: at most this many, this many of them from
 * one address, each forgotten after an hour unheard (a running agent
 * announces itself again every few seconds) */
#define SRV_UNCLAIMED_MAX	 10000
#define SRV_UNCLAIMED_PER_SOURCE 256
#define SRV_UNCLAIMED_EXPIRE_S	 3600
#define SRV_UNCLAIMED_RETRY_S	 5 /* the device asks again after this */

struct srv_tunnel;

struct srv_tunnel_conf {
	h2o_loop_t *loop;
	struct reg *reg;
	const char *udp;    /* ADDR:PORT the devices' datagrams come to */
	const char *ifname; /* the TUN device */
	unsigned max_devices;
	unsigned hold_ms;	     /* a parked poll is answered empty after this */
	srv_lptab_answer_fn *answer; /* answers a parked poll */
	struct srv_devca *devca;     /* issues claimed devices' certificates */
	const char *instance;	     /* this server's id (service/instance.h) */
};

/* The UDP socket, the TUN device and the long-poll table: 0, or -errno with
 * err set. */
int srv_tunnel_start(const struct srv_tunnel_conf *c, struct srv_tunnel **ret, char *err,
		     size_t errlen);
/* Logs what was refused or lost on the way, then frees. Accepts NULL. */
void srv_tunnel_stop(struct srv_tunnel *t);
/* Another server signalled it took device's tunnel (instance.h): our
 * session for it, if the registry says so, goes now rather than at our
 * next write about it. */
void srv_tunnel_moved_noticed(struct srv_tunnel *t, int64_t device);
struct srv_lptab *srv_tunnel_lptab(struct srv_tunnel *t);

/* A registration: the device proves it holds its key (the signature over
 * serial, time, nonce and its half of the exchange). A claimed device's
 * grant gives it a client id, its address, the server's half of the key
 * exchange and its secret sealed with the session key. A key no device has
 * is kept as an announcement for its owner to claim (its claim code's hash
 * with it): -EAGAIN. 0, or -EINVAL (malformed), -EACCES (refused), -EBUSY
 * (over capacity), -ENOMEM, -EAGAIN; err says why. */
struct srv_tunnel_reg {
	const char *serial, *nonce, *dh, *sig, *pubkey;
	const char *claim;    /* its claim code's hash (NULL: none) */
	const char *hostname; /* what it calls itself (NULL: none) */
	const char *agent;    /* where its agent answers, through the tunnel (NULL: none) */
	const char *source;   /* the address the request came from */
	int tls;	      /* it wants a certificate for its HTTPS service */
	int64_t ts;
	/* passed on by a gateway for a device on its LAN (docs/tunnel.md,
	 * "Devices behind a gateway"): its client id and MAC over the body */
	const char *relay, *relay_sig;
	const void *body;
	size_t body_len;
};
struct srv_tunnel_grant {
	uint32_t client;
	char dh[MTUN_PUBKEY_B64];
	char address[16], server[16];
	int prefix;
	uint16_t udp_port;
	int mtu;
	char secret[MTUN_BOX_B64(REG_SECRET_LEN)]; /* the device's secret, sealed */
	char cert[SRV_DEVCA_PEM];     /* "", or its certificate (tls) from the device CA */
	char server_key[45], sig[89]; /* the device CA's key, its signature of the grant */
	char via[16];		      /* "", or the gateway's address it is reached through */
};
int srv_tunnel_register(struct srv_tunnel *t, const struct srv_tunnel_reg *in,
			struct srv_tunnel_grant *out, char *err, size_t errlen);

/* A poll's credentials: the client's MAC over "poll\n%08x\n%llu" (hex
 * digits), with "\n%u" and the hold it asks for when it asks (0: none),
 * and its request number, fresh for the registration's life (a window of
 * 64 below the highest). 0, or -ENOENT (unknown client), -EACCES (bad
 * signature), -EALREADY (a replay), -EIO. */
int srv_tunnel_poll_check(struct srv_tunnel *t, uint32_t client, uint64_t seq, unsigned hold,
			  const char *sig);

/* A registered device's tunnel state and counters: 0 or -ENOENT. */
struct srv_tunnel_device_info {
	uint32_t client;
	const char *path; /* "udp", "http", "none" */
	uint64_t sent, resent, received, duplicates, out_of_order, window_full, bad_packets;
	uint32_t unacked;
};
int srv_tunnel_device(struct srv_tunnel *t, int64_t org, const char *name,
		      struct srv_tunnel_device_info *ret);
/* A registered client says its interfaces changed: its MAC over
 * "changed\n%08x\n%lld" (client, ts) checked, ts within ECAP_AUTH_SKEW;
 * the device is asked for its report at the next round. 0, -ENOENT,
 * -EACCES, -ETIME, -EIO. */
int srv_tunnel_changed(struct srv_tunnel *t, uint32_t client, int64_t ts, const char *sig);
/* A device was disabled or deleted: its registration, if any, ends. */
void srv_tunnel_device_gone(struct srv_tunnel *t, int64_t org, const char *name);

struct srv_tunnel_stats {
	unsigned registered, by_udp, by_http, by_relay;
	uint64_t no_client, bad_tag, stale, spoofed, no_route, tun_errors, udp_send_errors;
	struct srv_lptab_stats poll;
};
void srv_tunnel_stats(struct srv_tunnel *t, struct srv_tunnel_stats *ret);

#endif
