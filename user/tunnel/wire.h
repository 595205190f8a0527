/* wire.h - the management tunnel's (mTunnel) datagrams, which both sides
 * share: their format, their authentication, and the batch framing of
 * UDP-over-HTTP bodies (a reader and a writer). docs/tunnel.md describes the
 * wire; link.h the reliable link over it, identity.h keys and registration,
 * tunio.h the TUN device and batched sends.
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
#ifndef ECAP_MTUN_WIRE_H
#define ECAP_MTUN_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define MTUN_VERSION	2
#define MTUN_HDR	16
#define MTUN_TAG	16
#define MTUN_MTU	1400 /* the TUN devices' MTU: a datagram fits 1500 with UDP/IPv4 */
#define MTUN_DGRAM_MAX	(MTUN_HDR + MTUN_MTU + MTUN_TAG)
#define MTUN_PKT_MAX	65535 /* an IP packet, in one DATA or in pieces */
#define MTUN_GSO_LEN	10    /* the offload descriptor */
#define MTUN_FRAME_MAX	(MTUN_GSO_LEN + MTUN_PKT_MAX)
#define MTUN_PIECES_MAX ((MTUN_FRAME_MAX + MTUN_MTU - 1) / MTUN_MTU)
#define MTUN_F_MORE	0x01 /* DATA: the packet goes on in the next DATA */
#define MTUN_F_GSO	0x02 /* DATA: a packet's first piece, with its offload descriptor */
#define MTUN_KEY_LEN	32

enum { MTUN_HELLO = 1, MTUN_HELLO_ACK = 2, MTUN_DATA = 3, MTUN_ACK = 4 };
enum { MTUN_UP = 0, MTUN_DOWN = 1 }; /* device to server, server to device */

/* A big-endian u32 at p (header fields, IPv4 addresses). */
static inline uint32_t mtun_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Store v big-endian at p. */
static inline void mtun_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

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

/* Write the header, the payload encrypted and the tag into buf
 * (MTUN_DGRAM_MAX): ChaCha20-Poly1305, the header authenticated with it.
 * payload may be buf + MTUN_HDR (in place). The length. */
size_t mtun_seal(struct mtun_key *k, uint8_t *buf, const struct mtun_hdr *h, const void *payload,
		 size_t len);
/* The header of a datagram without checking its tag (to find the client's
 * key): 0, or -EINVAL when it is too short or not ours. */
int mtun_peek(const uint8_t *p, size_t n, struct mtun_hdr *ret);
/* Check the tag and decrypt the payload into out (n - MTUN_HDR - MTUN_TAG
 * bytes, at most MTUN_MTU; out may be p + MTUN_HDR): 0, or -EACCES. */
int mtun_open(struct mtun_key *k, const uint8_t *p, size_t n, uint8_t *out);

/* UDP-over-HTTP bodies: datagrams, each preceded by its length as a
 * big-endian u16 (1..MTUN_DGRAM_MAX). The next one at *off: 1 with it, 0 at
 * the end, or -EINVAL with why (a truncated length or datagram, a length of
 * 0 or past the maximum). */
int mtun_batch_next(const uint8_t *p, size_t n, size_t *off, const uint8_t **ret, size_t *ret_len,
		    const char **why);
/* Append one datagram (1..MTUN_DGRAM_MAX bytes) to a batch body: 0, or
 * -EINVAL for a length out of range, -ENOMEM. */
int mtun_batch_put(struct ecap_buf *b, const void *dg, size_t len);

#endif
