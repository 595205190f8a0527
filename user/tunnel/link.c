/* link.c - the reliable, ordered link over datagrams, see link.h. */
#include "tunnel/link.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct mtun_qent {
	struct mtun_qent *next;
	uint64_t sent; /* ms; 0 once sent again, so not an RTT sample */
	uint64_t born; /* ms, first sent; 0: not yet */
	uint32_t seq;
	uint16_t len;  /* the payload's */
	uint8_t flags; /* MTUN_F_* */
	uint8_t dg[];  /* header, payload, tag: sealed at each sending */
};

/* Sequence numbers wrap: a is before b. */
static int before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

void mtun_link_init(struct mtun_link *l, uint32_t client, struct mtun_key *key)
{
	*l = (struct mtun_link){.client = client,
				.key = key,
				.una = 1,
				.nxt = 1,
				.sent_hi = 1,
				.rcv = 1,
				.rto = 4 * MTUN_RTO_MIN};
}

void mtun_link_free(struct mtun_link *l)
{
	while (l->head) {
		struct mtun_qent *e = l->head;

		l->head = e->next;
		free(e);
	}
	l->tail = l->snd = NULL;
	l->qlen = 0;
	l->qbytes = 0;
	free(l->rx);
	l->rx = NULL;
	l->rx_bad = 0;
}

/* The offload descriptor (mtun.h) of vh, which the TUN gives little-endian */
static void gso_put(uint8_t *p, const struct virtio_net_hdr *vh)
{
	uint16_t v[4] = {le16toh(vh->gso_size), le16toh(vh->csum_start), le16toh(vh->csum_offset),
			 le16toh(vh->hdr_len)};

	p[0] = vh->flags;
	p[1] = vh->gso_type;
	for (int i = 0; i < 4; i++) {
		p[2 + 2 * i] = (uint8_t)(v[i] >> 8);
		p[3 + 2 * i] = (uint8_t)v[i];
	}
}

/* ... and back, for an IP packet of len bytes: 0, or -EINVAL for what the
 * sending kernel would not have made (the receiving one checks again) */
static int gso_get(const uint8_t *p, size_t len, struct virtio_net_hdr *vh)
{
	uint16_t v[4];

	for (int i = 0; i < 4; i++)
		v[i] = (uint16_t)(p[2 + 2 * i] << 8 | p[3 + 2 * i]);
	if (p[0] & ~VIRTIO_NET_HDR_F_NEEDS_CSUM ||
	    (p[1] != VIRTIO_NET_HDR_GSO_NONE && p[1] != VIRTIO_NET_HDR_GSO_TCPV4) ||
	    (p[0] && (size_t)v[1] + v[2] + 2 > len) || (p[1] && (!p[0] || !v[0] || v[3] > len)))
		return -EINVAL;
	*vh = (struct virtio_net_hdr){.flags = p[0],
				      .gso_type = p[1],
				      .gso_size = htole16(v[0]),
				      .csum_start = htole16(v[1]),
				      .csum_offset = htole16(v[2]),
				      .hdr_len = htole16(v[3])};
	return 0;
}

int mtun_link_send(struct mtun_link *l, const struct virtio_net_hdr *vh, const void *pkt,
		   size_t len)
{
	struct mtun_qent *e[MTUN_PIECES_MAX];
	uint8_t gso[MTUN_GSO_LEN];
	size_t glen = vh && (vh->flags || vh->gso_type) ? MTUN_GSO_LEN : 0;
	size_t total = glen + len, n = (total + MTUN_MTU - 1) / MTUN_MTU, off = 0;

	if (!len || len > MTUN_PKT_MAX || l->qlen + n > MTUN_WINDOW ||
	    l->qbytes + total > MTUN_WINDOW_MAX)
		goto full;
	if (glen)
		gso_put(gso, vh);
	for (size_t i = 0; i < n; i++) { /* all pieces, or none */
		size_t k = total - off < MTUN_MTU ? total - off : MTUN_MTU;
		uint8_t *d;

		if (!(e[i] = malloc(sizeof(*e[i]) + MTUN_HDR + k + MTUN_TAG))) {
			while (i--)
				free(e[i]);
			goto full;
		}
		*e[i] = (struct mtun_qent){.seq = l->nxt + (uint32_t)i,
					   .len = (uint16_t)k,
					   .flags = (i + 1 < n ? MTUN_F_MORE : 0) |
						    (i == 0 && glen ? MTUN_F_GSO : 0)};
		d = e[i]->dg + MTUN_HDR;
		if (off < glen) { /* the descriptor, then the packet */
			memcpy(d, gso, glen);
			memcpy(d + glen, pkt, k - glen);
		} else {
			memcpy(d, (const uint8_t *)pkt + off - glen, k);
		}
		off += k;
		if (i)
			e[i - 1]->next = e[i];
	}
	if (l->tail)
		l->tail->next = e[0];
	else
		l->head = e[0];
	l->tail = e[n - 1];
	if (!l->snd)
		l->snd = e[0];
	l->nxt += (uint32_t)n;
	l->qlen += (uint32_t)n;
	l->qbytes += total;
	return 0;
full:
	l->stat.full++;
	return -ENOBUFS;
}

/* The datagram last pulled, sealed (both programs are single threaded, and
 * every caller copies it before the next pull) */
static uint8_t wire[MTUN_DGRAM_MAX];

const uint8_t *mtun_link_pull(struct mtun_link *l, uint64_t now, size_t *ret_len)
{
	struct mtun_qent *e = l->snd;

	if (!e)
		return NULL;
	l->snd = e->next;
	if (e->born) { /* sent before: no RTT sample from its ack */
		e->sent = 0;
		l->stat.resent++;
	} else { /* first pulls go in order */
		e->sent = e->born = now;
		l->sent_hi = e->seq + 1;
		l->stat.sent++;
	}
	/* sealed now, so it carries the current ack; into a buffer of its own,
	 * the link keeping the payload in clear to seal it again */
	*ret_len =
	    mtun_seal(l->key, wire,
		      &(struct mtun_hdr){MTUN_DATA, l->client, e->seq, l->rcv, l->dir, e->flags},
		      e->dg + MTUN_HDR, e->len);
	l->unacked = 0;
	l->ack_at = 0;
	if (!l->rto_at)
		l->rto_at = now + l->rto;
	return wire;
}

static void acked(struct mtun_link *l, uint32_t ack, uint64_t now)
{
	uint64_t sample = 0;
	int sampled = 0;

	if (!before(l->una, ack) || before(l->sent_hi, ack))
		return; /* old, or acking what was never sent */
	while (l->head && before(l->head->seq, ack)) {
		struct mtun_qent *e = l->head;

		if (e->sent) {
			sample = now - e->sent;
			sampled = 1;
		}
		if (l->snd == e) /* acked although not (re)sent yet: a copy got there */
			l->snd = e->next;
		l->head = e->next;
		l->qlen--;
		l->qbytes -= e->len;
		free(e);
	}
	if (!l->head)
		l->tail = NULL;
	l->una = ack;
	/* an ack of only datagrams sent again is no sample: it may answer either copy */
	if (sampled)
		l->srtt = l->srtt ? (7 * l->srtt + sample) / 8 : sample;
	if (l->srtt)
		l->rto = 3 * l->srtt;
	if (l->rto < MTUN_RTO_MIN)
		l->rto = MTUN_RTO_MIN;
	if (l->rto > MTUN_RTO_MAX)
		l->rto = MTUN_RTO_MAX;
	l->rto_at = l->head && l->head != l->snd ? now + l->rto : 0; /* sent, not acked */
}

int mtun_link_input(struct mtun_link *l, const struct mtun_hdr *h, uint64_t now)
{
	int next;

	acked(l, h->ack, now);
	if (h->type != MTUN_DATA)
		return 0;
	next = h->seq == l->rcv;
	if (next) {
		l->rcv++;
		l->stat.received++;
	} else if (before(h->seq, l->rcv)) {
		l->stat.duplicate++;
	} else {
		l->stat.out_of_order++;
	}
	/* copies and gaps are acked too, so a sender that lost our ack learns */
	if (++l->unacked >= MTUN_ACK_EVERY)
		l->ack_at = now;
	else if (!l->ack_at)
		l->ack_at = now + MTUN_ACK_DELAY;
	return next;
}

int mtun_link_packet(struct mtun_link *l, const struct mtun_hdr *h, const uint8_t *p, size_t n,
		     mtun_deliver_fn *deliver, void *arg)
{
	struct virtio_net_hdr vh = {0};
	uint8_t *whole = NULL;
	int gso = h->flags & MTUN_F_GSO, r = -EINVAL;

	if (l->rx || l->rx_bad || h->flags & MTUN_F_MORE) { /* a packet in pieces */
		int first = !l->rx && !l->rx_bad;

		if (first) {
			l->rx_gso = (uint8_t)gso;
			l->rx_len = 0;
			if (!(l->rx = malloc(MTUN_FRAME_MAX)))
				l->rx_bad = 1;
		}
		if (!l->rx_bad && ((gso && !first) || l->rx_len + n > MTUN_FRAME_MAX)) {
			free(l->rx); /* too long, or a second start */
			l->rx = NULL;
			l->rx_bad = 1;
		}
		if (!l->rx_bad) {
			memcpy(l->rx + l->rx_len, p, n);
			l->rx_len += (uint32_t)n;
		}
		if (h->flags & MTUN_F_MORE)
			return 0;
		if (l->rx_bad) {
			l->rx_bad = 0;
			goto bad;
		}
		/* freed once delivered: an idle link (a server keeps one per
		 * device) holds no buffer */
		whole = l->rx;
		p = whole;
		n = l->rx_len;
		gso = l->rx_gso;
		l->rx = NULL;
	}
	if (gso) {
		if (n < MTUN_GSO_LEN || gso_get(p, n - MTUN_GSO_LEN, &vh))
			goto bad;
		p += MTUN_GSO_LEN;
		n -= MTUN_GSO_LEN;
	}
	if (!n || n > MTUN_PKT_MAX)
		goto bad;
	deliver(arg, &vh, p, n);
	r = 1;
	goto out;
bad:
	l->stat.bad_packets++;
out:
	free(whole);
	return r;
}

size_t mtun_link_ack(struct mtun_link *l, uint8_t *buf, uint64_t now, int force)
{
	if (!force && (!l->ack_at || now < l->ack_at))
		return 0;
	l->ack_at = 0;
	l->unacked = 0;
	return mtun_seal(l->key, buf,
			 &(struct mtun_hdr){MTUN_ACK, l->client, ++l->acks, l->rcv, l->dir}, NULL,
			 0);
}

unsigned mtun_link_resend(struct mtun_link *l, uint64_t now, int force)
{
	unsigned n = 0;

	if (!force && (!l->rto_at || now < l->rto_at))
		return 0;
	for (struct mtun_qent *e = l->head; e && e != l->snd; e = e->next)
		n++;
	l->snd = l->head; /* go back: all of them are pulled again */
	l->rto_at = 0;	  /* armed again by the next pull */
	if (n && !force)
		l->rto = l->rto * 2 > MTUN_RTO_MAX ? MTUN_RTO_MAX : l->rto * 2;
	return n;
}

void mtun_link_restart_timer(struct mtun_link *l, uint64_t now)
{
	if (l->rto_at)
		l->rto_at = now + l->rto;
}

uint64_t mtun_link_oldest(const struct mtun_link *l)
{
	return l->head ? l->head->born : 0;
}

uint64_t mtun_link_deadline(const struct mtun_link *l)
{
	if (!l->ack_at)
		return l->rto_at;
	if (!l->rto_at)
		return l->ack_at;
	return l->ack_at < l->rto_at ? l->ack_at : l->rto_at;
}
