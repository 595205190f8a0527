/* mtun.h - the management tunnel (mTunnel) both sides share: the datagram
 * format, its authentication, the batch framing of UDP-over-HTTP, the
 * reliable in-order link over either transport, device identity and
 * registration, management addresses. docs/tunnel.md describes the wire.
 *
 * A datagram, big-endian, the same bytes by UDP or inside an HTTP batch:
 *
 *   0  u8  version (1)
 *   1  u8  type: HELLO, HELLO_ACK, DATA, ACK
 *   2  u8  direction: 0 device to server, 1 server to device (so a datagram
 *          reflected to its sender does not verify as the peer's)
 *   3  u8  flags, DATA only: MTUN_F_MORE, MTUN_F_GSO (else 0)
 *   4  u32 client id (from registration)
 *   8  u32 seq: DATA's number in its direction (from 1); ACK's and HELLO's
 *          own counters (from 1), so a replayed one is known
 *  12  u32 ack: the next DATA seq the sender expects (cumulative)
 *  16  ... payload: DATA one IP packet, or a piece of one (below); HELLO and
 *          HELLO_ACK 8 bytes echoed
 *  -16 HMAC-SHA256(session key, all bytes before), first 16 bytes
 *
 * A packet longer than MTUN_MTU (a TCP segment the sending kernel left for
 * the TUN to segment, up to 64 KiB) goes in consecutive DATA, each but the
 * last flagged MTUN_F_MORE; the link delivers them in order, so the
 * receiver just appends. A packet whose checksum or segmentation is left to
 * the receiver's kernel begins with a 10-byte offload descriptor (flagged
 * MTUN_F_GSO on its first DATA): u8 flags (1: checksum needed), u8 GSO
 * type (0 none, 1 TCPv4), u16 segment size, u16 checksum start, u16
 * checksum offset, u16 header length; virtio_net_hdr's fields, big-endian.
 */
#ifndef ECAP_MTUN_H
#define ECAP_MTUN_H

#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#define MTUN_VERSION   1
#define MTUN_HDR       16
#define MTUN_TAG       16
#define MTUN_MTU       1400 /* the TUN devices' MTU: a datagram fits 1500 with UDP/IPv4 */
#define MTUN_DGRAM_MAX (MTUN_HDR + MTUN_MTU + MTUN_TAG)
#define MTUN_PKT_MAX   65535 /* an IP packet, in one DATA or in pieces */
#define MTUN_GSO_LEN   10    /* the offload descriptor */
#define MTUN_FRAME_MAX (MTUN_GSO_LEN + MTUN_PKT_MAX)
#define MTUN_PIECES_MAX ((MTUN_FRAME_MAX + MTUN_MTU - 1) / MTUN_MTU)
#define MTUN_F_MORE    0x01 /* DATA: the packet goes on in the next DATA */
#define MTUN_F_GSO     0x02 /* DATA: a packet's first piece, with its offload descriptor */
#define MTUN_KEY_LEN   32
#define MTUN_NET       0x06000000u /* 6.0.0.0/8 */
#define MTUN_SERVER    0x06000001u /* the server's own management address */

enum { MTUN_HELLO = 1, MTUN_HELLO_ACK = 2, MTUN_DATA = 3, MTUN_ACK = 4 };
enum { MTUN_UP = 0, MTUN_DOWN = 1 }; /* device to server, server to device */

/* A big-endian u32 at p (header fields, IPv4 addresses). */
static inline uint32_t mtun_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An address (host order) as a dotted quad into ret (16 bytes). */
void mtun_addr_str(uint32_t addr, char ret[16]);

struct mtun_hdr {
	uint8_t type;
	uint32_t client, seq, ack;
	uint8_t dir, flags;
};

/* A session key's MAC state; one per client and side. */
struct mtun_key;
struct mtun_key *mtun_key_new(const uint8_t key[MTUN_KEY_LEN]);
void mtun_key_free(struct mtun_key *k);
/* The 16-byte tag of p[0..n). 0 or -EIO. */
int mtun_key_tag(struct mtun_key *k, const void *p, size_t n, uint8_t ret[MTUN_TAG]);

/* Write header, payload and tag into buf (MTUN_DGRAM_MAX): the length. */
size_t mtun_seal(struct mtun_key *k, uint8_t *buf, const struct mtun_hdr *h, const void *payload,
		 size_t len);
/* The header of a datagram without checking its tag (to find the client's
 * key): 0, or -EINVAL when it is too short or not ours. */
int mtun_peek(const uint8_t *p, size_t n, struct mtun_hdr *ret);
/* Check the tag: 0, or -EACCES. The payload is p + MTUN_HDR, n - MTUN_HDR -
 * MTUN_TAG bytes. */
int mtun_verify(struct mtun_key *k, const uint8_t *p, size_t n);

/* UDP-over-HTTP bodies: datagrams, each preceded by its length as a
 * big-endian u16 (1..MTUN_DGRAM_MAX). The next one at *off: 1 with it, 0 at
 * the end, or -EINVAL with why (a truncated length or datagram, a length of
 * 0 or past the maximum). */
int mtun_batch_next(const uint8_t *p, size_t n, size_t *off, const uint8_t **ret, size_t *ret_len,
		    const char **why);

/* The reliable link: each side numbers its DATA datagrams and keeps them
 * until the peer's cumulative ack passes them; the transport pulls them
 * when it can carry them, so a datagram's timer runs from when it really
 * left. When the oldest sent one waits a retransmission timeout, or the
 * transport changes, all unacknowledged ones are pulled again (go-back-N);
 * the receiver takes only the next number, so it sees every datagram once,
 * in order, whatever path each copy came by. */
#define MTUN_WINDOW      16384     /* datagrams not yet acknowledged */
#define MTUN_WINDOW_MAX  (4u << 20) /* and their bytes */
#define MTUN_ACK_EVERY   32        /* a pure ACK after this many, else after MTUN_ACK_DELAY */
#define MTUN_ACK_DELAY   5         /* ms */
#define MTUN_RTO_MIN     100       /* ms */
#define MTUN_RTO_MAX     4000

struct mtun_qent; /* a sealed DATA datagram kept until acknowledged */

struct mtun_link {
	uint32_t client;
	struct mtun_key *key;
	/* sending: [una, nxt) are kept, oldest first; snd is the next to pull
	 * (NULL: none). A list, so an idle link holds no memory (a server keeps
	 * one per device). */
	uint32_t una, nxt, sent_hi; /* sent_hi: past the highest ever pulled */
	uint8_t dir;      /* ours: MTUN_UP (the default) or MTUN_DOWN */
	uint32_t acks;    /* pure ACKs sent: their seq field */
	struct mtun_qent *head, *tail, *snd;
	uint32_t qlen;
	size_t qbytes;
	uint64_t rto, srtt, rto_at; /* ms; rto_at 0: no timer */
	/* receiving */
	uint32_t rcv;     /* the next seq wanted */
	uint32_t unacked; /* taken since our last ack went out */
	uint64_t ack_at;  /* ms, 0: no ack owed */
	uint8_t *rx;      /* a packet's pieces so far (NULL between packets) */
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
 * it is acknowledged or pulled again), or NULL when none waits. */
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
/* Our current ack field, for datagrams built outside the link (HELLO). */
static inline uint32_t mtun_link_rcv(const struct mtun_link *l)
{
	return l->rcv;
}

/* Identity. A device's key pair is Ed25519: private key in a PKCS#8 PEM file,
 * public key as base64 of its 32 raw bytes (44 characters). */
#define MTUN_PUBKEY_B64 45 /* with the NUL */
#define MTUN_SIG_B64    89
/* Create a key pair into path (mode 0600, never overwriting): 0 or -errno. */
int mtun_keygen(const char *path, char ret_pub[MTUN_PUBKEY_B64], char *err, size_t errlen);
/* The public key of the private key in path: 0 or -errno. */
int mtun_key_public(const char *path, char ret_pub[MTUN_PUBKEY_B64], char *err, size_t errlen);
/* Is text a public key in our form? 0 or -EINVAL. */
int mtun_pubkey_check(const char *text);

/* Registration. The device signs
 *   "edgecap-register\n" serial "\n" ts "\n" nonce "\n" dh
 * where dh is its fresh X25519 public key (base64); the server answers with
 * its own, and both derive the session key with HKDF-SHA256 from the shared
 * secret, salt "edgecap-mtun", info "client " id: the key never travels. */
#define MTUN_REGISTER_SKEW 60 /* s */
int mtun_register_sign(const char *keyfile, const char *serial, int64_t ts, const char *nonce,
		       const char *dh, char ret_sig[MTUN_SIG_B64], char *err, size_t errlen);
/* 0, or -EACCES (bad signature) / -EINVAL (malformed). */
int mtun_register_verify(const char *pubkey, const char *serial, int64_t ts, const char *nonce,
			 const char *dh, const char *sig);
/* A fresh X25519 key: its private part (EVP_PKEY *) and public part in
 * base64. NULL on failure. */
void *mtun_dh_new(char ret_pub[MTUN_PUBKEY_B64]);
void mtun_dh_free(void *dh);
/* The session key from our X25519 key and the peer's public key: 0, or
 * -EINVAL (malformed peer key) / -EIO. */
int mtun_dh_key(void *dh, const char *peer_pub, uint32_t client, uint8_t ret[MTUN_KEY_LEN]);

/* A management address for a device id (its serial or MAC): 6.x.y.z with
 * x.y.z the low 24 bits of CRC32(id), moved past the reserved 6.0.0.0,
 * 6.0.0.1 (the server) and 6.255.255.255; then + n for the n-th try when
 * it collides. Host byte order. */
uint32_t mtun_address(const char *id, uint32_t n);

/* Datagrams to send, gathered so that one sendmmsg carries many (and one
 * UDP GSO message the runs of equal ones to one peer): add them, then flush
 * before the event loop sleeps. */
#define MTUN_SENDQ 64
struct mtun_sendq {
	int fd;
	unsigned n;
	uint64_t errors; /* not sent (a full socket buffer): the link sends them again */
	int no_gso;      /* the path refused UDP GSO: one datagram a message */
	struct sockaddr_in to[MTUN_SENDQ];
	uint16_t len[MTUN_SENDQ];
	uint8_t buf[MTUN_SENDQ][MTUN_DGRAM_MAX];
};
/* Queue one datagram for to (copied); flushes when the queue is full. */
void mtun_sendq_add(struct mtun_sendq *q, const struct sockaddr_in *to, const void *dg, size_t len);
void mtun_sendq_flush(struct mtun_sendq *q);

/* Socket buffers of bytes each way: a whole window may arrive, or be sent
 * again, in one burst, and a datagram lost to a full buffer costs a
 * go-back-N round. */
void mtun_socket_buffers(int fd, int bytes);

/* A TUN device named name, up, with the address addr/prefix (host order)
 * and MTU MTUN_MTU: its non-blocking fd, or -errno with err set. It goes
 * away when the fd is closed. Each packet comes and goes with a
 * virtio_net_hdr (little-endian), and the kernel hands over TCP segments up
 * to 64 KiB with their checksum still to compute, as to a NIC with TSO: one
 * read and one write per 64 KiB instead of per 1400 bytes. */
int mtun_tun_open(const char *name, uint32_t addr, int prefix, char *err, size_t errlen);
/* One packet from the TUN into pkt (MTUN_PKT_MAX bytes) and its offload
 * header into vh: its length, or -errno (-EAGAIN: none waits). */
ssize_t mtun_tun_read(int fd, struct virtio_net_hdr *vh, uint8_t *pkt);
/* One packet to the TUN: 0 or -errno. */
int mtun_tun_write(int fd, const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len);

#endif
