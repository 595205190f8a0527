/* lptable.h - UDP over HTTP long polling (docs/tunnel.md): the mapping table
 * from a tunnel client to its waiting poll requests, a UDP socket of its own
 * that talks to the mTunnel server as any device would, and the datagrams
 * that came back for it. For a device whose UDP is blocked, the poll
 * endpoint hands the table each authenticated poll: its batch of datagrams
 * goes on from the client's socket, and the request waits (is parked) until
 * there is something to send down, a newer request completes it, or the
 * hold time passes. So the mTunnel server sees every device as an ordinary
 * UDP peer, and the table knows nothing of the tunnel but its address.
 *
 * A parked request is opaque here (a "waiter"): the table answers it once,
 * through the callback it was made with, and then forgets it. */
#ifndef SRV_LPTABLE_H
#define SRV_LPTABLE_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "common/web.h"

#define SRV_LP_HOLD_MS	   25000	/* the longest a parked request waits, by default */
#define SRV_LP_HOLD_MAX_MS 25000	/* and at most, whatever is configured */
#define SRV_LP_COALESCE_MS 10		/* before a parked request is completed */
#define SRV_LP_QUEUE_MAX   (6u << 20)	/* downstream bytes held per client: a window */
#define SRV_LP_BODY_MAX	   (256u << 10) /* a response body */

struct srv_lptab;

/* Answer a parked request with body (len bytes of the batch format; 0: an
 * empty answer). The body is valid during the call only. */
typedef void srv_lptab_answer_fn(void *waiter, const uint8_t *body, size_t len);

struct srv_lptab_conf {
	h2o_loop_t *loop;
	struct sockaddr_in udp; /* the mTunnel server's: the clients' sockets are bound
				 * on its IP address and connected to it */
	unsigned hold_ms;	/* a parked request is answered empty after this */
	unsigned idle_ms;	/* a client without a request this long leaves (0: 5 min) */
	srv_lptab_answer_fn *answer;
};

/* NULL without memory. */
struct srv_lptab *srv_lptab_new(const struct srv_lptab_conf *c);
/* Every parked request is answered first. Accepts NULL. */
void srv_lptab_free(struct srv_lptab *t);

/* An authenticated poll of client with its batch body: the batch is checked
 * whole, its datagrams sent on, and waiter parked (the oldest of the
 * client's requests is answered when two wait already) for hold_ms (whole
 * seconds; 0, or more than the table's: the table's). 0; -EINVAL for a
 * malformed batch or another client's datagram in it, -ENOMEM, -EIO (no
 * socket): err says why, and waiter is not parked. */
int srv_lptab_poll(struct srv_lptab *t, uint32_t client, const uint8_t *batch, size_t len,
		   unsigned hold_ms, void *waiter, char *err, size_t errlen);

/* Is this port (at the mTunnel's address) one of the clients' sockets? */
int srv_lptab_owns(struct srv_lptab *t, uint16_t port);
/* The client's socket's port now, 0: none. */
uint16_t srv_lptab_port(struct srv_lptab *t, uint32_t client);
/* Where the mTunnel server reaches a polling client: its socket's address
 * (opened again if it was closed for quiet), or -ENOENT when it does not
 * poll. */
int srv_lptab_path(struct srv_lptab *t, uint32_t client, struct sockaddr_in *ret);
/* A client's registration ended: its parked requests are answered and its
 * socket closed. */
void srv_lptab_forget(struct srv_lptab *t, uint32_t client);

struct srv_lptab_stats {
	unsigned clients, sockets; /* in the table now, and of them with a socket open */
	uint64_t requests, datagrams_up, datagrams_down, overflow, bad;
};
void srv_lptab_stats(struct srv_lptab *t, struct srv_lptab_stats *ret);

#endif
