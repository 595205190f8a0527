/* link.h - the mTunnel's reliable, ordered link over its datagrams
 * (wire.h), the same over UDP and over HTTP. */
#ifndef ECAP_MTUN_LINK_H
#define ECAP_MTUN_LINK_H

#include <linux/virtio_net.h>

#include "tunnel/wire.h"

/* The reliable link: each side numbers its DATA datagrams and keeps them
 * until the peer's cumulative ack passes them; the transport pulls them
 * when it can carry them, so a datagram's timer runs from when it really
 * left. When the oldest sent one waits a retransmission timeout, or the
 * transport changes, all unacknowledged ones are pulled again (go-back-N);
 * the receiver takes only the next number, so it sees every datagram once,
 * in order, whatever path each copy came by. */
#define MTUN_WINDOW	16384	   /* datagrams not yet acknowledged */
#define MTUN_WINDOW_MAX (4u << 20) /* and their bytes */
#define MTUN_ACK_EVERY	32	   /* a pure ACK after this many, else after MTUN_ACK_DELAY */
#define MTUN_ACK_DELAY	5	   /* ms */
#define MTUN_RTO_MIN	100	   /* ms */
#define MTUN_RTO_MAX	4000

struct mtun_qent; /* a sealed DATA datagram kept until acknowledged */

struct mtun_link {
	uint32_t client;
	struct mtun_key *key;
	/* sending: [una, nxt) are kept, oldest first; snd is the next to pull
	 * (NULL: none). A list, so an idle link holds no memory (a server keeps
	 * one per device). */
	uint32_t una, nxt, sent_hi; /* sent_hi: past the highest ever pulled */
	uint8_t dir;		    /* ours: MTUN_UP (the default) or MTUN_DOWN */
	uint32_t acks;		    /* pure ACKs sent: their seq field */
	struct mtun_qent *head, *tail, *snd;
	uint32_t qlen;
	size_t qbytes;
	uint64_t rto, srtt, rto_at; /* ms; rto_at 0: no timer */
	/* receiving */
	uint32_t rcv;	  /* the next seq wanted */
	uint32_t unacked; /* taken since our last ack went out */
	uint64_t ack_at;  /* ms, 0: no ack owed */
	uint8_t *rx;	  /* a packet's pieces so far (NULL between packets) */
	uint32_t rx_len;
	uint8_t rx_gso, rx_bad; /* its first piece's MTUN_F_GSO; dropping the rest */
	struct {
		uint64_t sent, resent, full, received, duplicate, out_of_order, bad_packets;
	} stat;
};

/* Fresh link state (ids from 1), sending MTUN_UP (set l->dir after for the
 * server's side). The key is borrowed. */
void mtun_link_init(struct mtun_link *l, uint32_t client, struct mtun_key *key);
void mtun_link_free(struct mtun_link *l);
/* Queue one IP packet (1..MTUN_PKT_MAX bytes) with its offload header (NULL
 * or zeroed: none), in as many DATA as it takes: 0, or -ENOBUFS when the
 * window has no room for all of them or the packet is too long (counted). */
int mtun_link_send(struct mtun_link *l, const struct virtio_net_hdr *vh, const void *pkt,
		   size_t len);
/* The next datagram to transmit, sealed with the current ack (valid until
 * the next pull from any link: copy it), or NULL when none waits. */
const uint8_t *mtun_link_pull(struct mtun_link *l, uint64_t now, size_t *ret_len);
static inline int mtun_link_pending(const struct mtun_link *l)
{
	return l->snd != NULL;
}
/* A verified datagram from the peer. For DATA: 1 when its payload is the
 * next in order (hand it to mtun_link_packet), 0 when not (a copy or a gap;
 * counted). */
int mtun_link_input(struct mtun_link *l, const struct mtun_hdr *h, uint64_t now);
/* The payload p[0..n) of a DATA that mtun_link_input took: 1 when it ends a
 * packet, handed to deliver with its offload header (zeroed: none); 0 when
 * the packet goes on in the next DATA; -EINVAL when the packet it ends was
 * malformed (too long, a bad descriptor: dropped, counted). */
typedef void mtun_deliver_fn(void *arg, const struct virtio_net_hdr *vh, const uint8_t *pkt,
			     size_t len);
int mtun_link_packet(struct mtun_link *l, const struct mtun_hdr *h, const uint8_t *p, size_t n,
		     mtun_deliver_fn *deliver, void *arg);
/* A pure ACK into buf when one is owed at now (or force): its length, or 0. */
size_t mtun_link_ack(struct mtun_link *l, uint8_t *buf, uint64_t now, int force);
/* At now the oldest sent datagram's timeout passed (or force: the transport
 * changed): every unacknowledged datagram is to be pulled again. The number
 * of them that had been pulled since the last rewind (0: none to send
 * again). */
unsigned mtun_link_resend(struct mtun_link *l, uint64_t now, int force);
/* Start the retransmission timer again at now, if it runs: for a transport
 * that is itself reliable (HTTP over TCP), whose carrying request is still
 * unanswered; the timeout then runs from when the peer had the data. */
void mtun_link_restart_timer(struct mtun_link *l, uint64_t now);
/* When the link next needs mtun_link_ack/resend: ms, or 0 for never. */
uint64_t mtun_link_deadline(const struct mtun_link *l);
/* When the oldest datagram not yet acknowledged was first sent (ms), or 0
 * (none, or not sent yet). */
uint64_t mtun_link_oldest(const struct mtun_link *l);
/* Room for another packet of any length? */
static inline int mtun_link_room(const struct mtun_link *l)
{
	return l->qlen + MTUN_PIECES_MAX <= MTUN_WINDOW &&
	       l->qbytes + MTUN_FRAME_MAX <= MTUN_WINDOW_MAX;
}
/* A datagram's nonce is its header (docs/tunnel.md), so no counter may come
 * round under one key: past MTUN_REKEY_AT of any, the device registers
 * again for a fresh one, and the server drops a device that has not by
 * MTUN_REKEY_LAST. */
#define MTUN_REKEY_AT	(1u << 31)
#define MTUN_REKEY_LAST (3u << 30)
static inline uint32_t mtun_link_worn(const struct mtun_link *l)
{
	uint32_t m = l->nxt > l->rcv ? l->nxt : l->rcv;

	return m > l->acks ? m : l->acks;
}

/* Our current ack field, for datagrams built outside the link (HELLO). */
static inline uint32_t mtun_link_rcv(const struct mtun_link *l)
{
	return l->rcv;
}

#endif
