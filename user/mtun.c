/* mtun.c - the management tunnel's shared pieces, see mtun.h. */
#include "mtun.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* Only the key bytes: a server keeps one per device, and an HMAC context is
 * about a kilobyte. One context per process (both programs are single
 * threaded) takes each key as it is used, and keeps it while the same key
 * comes again, as it does for a batch from one device. */
struct mtun_key {
	uint8_t key[MTUN_KEY_LEN];
};

struct mtun_qent {
	struct mtun_qent *next;
	uint64_t sent; /* ms; 0 once sent again, so not an RTT sample */
	uint64_t born; /* ms, first sent; 0: not yet */
	uint32_t seq;
	uint16_t len; /* the payload's */
	uint8_t flags; /* MTUN_F_* */
	uint8_t dg[]; /* header, payload, tag: sealed at each sending */
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}


/* Sequence numbers wrap: a is before b. */
static int before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

struct mtun_key *mtun_key_new(const uint8_t key[MTUN_KEY_LEN])
{
	struct mtun_key *k = malloc(sizeof(*k));

	if (k)
		memcpy(k->key, key, MTUN_KEY_LEN);
	return k;
}

void mtun_key_free(struct mtun_key *k)
{
	if (!k)
		return;
	OPENSSL_cleanse(k->key, sizeof(k->key));
	free(k);
}

int mtun_key_tag(struct mtun_key *k, const void *p, size_t n, uint8_t ret[MTUN_TAG])
{
	static EVP_MAC_CTX *ctx;
	static uint8_t last[MTUN_KEY_LEN]; /* the key ctx holds */
	static int keyed;
	int same;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	uint8_t full[32];
	size_t len = 0;

	if (!ctx) {
		EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		EVP_MAC_CTX *c = mac ? EVP_MAC_CTX_new(mac) : NULL;

		EVP_MAC_free(mac); /* the context holds its own reference */
		if (!c || !EVP_MAC_CTX_set_params(c, params)) {
			EVP_MAC_CTX_free(c);
			return -EIO;
		}
		ctx = c;
	}
	/* the same key again (a batch from one device): no key schedule */
	same = keyed && !CRYPTO_memcmp(last, k->key, MTUN_KEY_LEN);
	if (!same)
		memcpy(last, k->key, MTUN_KEY_LEN);
	keyed = 0; /* until this init succeeds */
	if (!EVP_MAC_init(ctx, same ? NULL : k->key, same ? 0 : MTUN_KEY_LEN, NULL))
		return -EIO;
	keyed = 1;
	if (!EVP_MAC_update(ctx, p, n) ||
	    !EVP_MAC_final(ctx, full, &len, sizeof(full)) || len != sizeof(full))
		return -EIO;
	memcpy(ret, full, MTUN_TAG);
	return 0;
}

size_t mtun_seal(struct mtun_key *k, uint8_t *buf, const struct mtun_hdr *h, const void *payload,
		 size_t len)
{
	buf[0] = MTUN_VERSION;
	buf[1] = h->type;
	buf[2] = h->dir;
	buf[3] = h->flags;
	put32(buf + 4, h->client);
	put32(buf + 8, h->seq);
	put32(buf + 12, h->ack);
	if (len && payload != buf + MTUN_HDR) /* else sealed in place */
		memcpy(buf + MTUN_HDR, payload, len);
	if (mtun_key_tag(k, buf, MTUN_HDR + len, buf + MTUN_HDR + len))
		memset(buf + MTUN_HDR + len, 0, MTUN_TAG); /* fails verification: dropped, resent */
	return MTUN_HDR + len + MTUN_TAG;
}

int mtun_peek(const uint8_t *p, size_t n, struct mtun_hdr *ret)
{
	if (n < MTUN_HDR + MTUN_TAG || n > MTUN_DGRAM_MAX || p[0] != MTUN_VERSION || p[1] < MTUN_HELLO ||
	    p[1] > MTUN_ACK || p[2] > MTUN_DOWN ||
	    (p[3] && (p[1] != MTUN_DATA || p[3] & ~(MTUN_F_MORE | MTUN_F_GSO))))
		return -EINVAL;
	ret->type = p[1];
	ret->dir = p[2];
	ret->flags = p[3];
	ret->client = mtun_be32(p + 4);
	ret->seq = mtun_be32(p + 8);
	ret->ack = mtun_be32(p + 12);
	return 0;
}

int mtun_verify(struct mtun_key *k, const uint8_t *p, size_t n)
{
	uint8_t tag[MTUN_TAG];

	if (n < MTUN_HDR + MTUN_TAG || mtun_key_tag(k, p, n - MTUN_TAG, tag) ||
	    CRYPTO_memcmp(tag, p + n - MTUN_TAG, MTUN_TAG))
		return -EACCES;
	return 0;
}

int mtun_batch_next(const uint8_t *p, size_t n, size_t *off, const uint8_t **ret, size_t *ret_len,
		    const char **why)
{
	size_t o = *off, len;

	if (o == n)
		return 0;
	if (n - o < 2) {
		*why = "truncated length prefix";
		return -EINVAL;
	}
	len = (size_t)p[o] << 8 | p[o + 1];
	if (!len) {
		*why = "zero-length datagram";
		return -EINVAL;
	}
	if (len > MTUN_DGRAM_MAX) {
		*why = "datagram longer than the maximum";
		return -EINVAL;
	}
	if (n - o - 2 < len) {
		*why = "truncated datagram";
		return -EINVAL;
	}
	*ret = p + o + 2;
	*ret_len = len;
	*off = o + 2 + len;
	return 1;
}

/* The link */

void mtun_link_init(struct mtun_link *l, uint32_t client, struct mtun_key *key)
{
	*l = (struct mtun_link){.client = client, .key = key, .una = 1, .nxt = 1, .sent_hi = 1,
				.rcv = 1, .rto = 4 * MTUN_RTO_MIN};
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
	    (p[0] && (size_t)v[1] + v[2] + 2 > len) ||
	    (p[1] && (!p[0] || !v[0] || v[3] > len)))
		return -EINVAL;
	*vh = (struct virtio_net_hdr){.flags = p[0], .gso_type = p[1], .gso_size = htole16(v[0]),
				      .csum_start = htole16(v[1]), .csum_offset = htole16(v[2]),
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
		*e[i] = (struct mtun_qent){.seq = l->nxt + (uint32_t)i, .len = (uint16_t)k,
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
	/* sealed now, so it carries the current ack */
	*ret_len = mtun_seal(l->key, e->dg,
			     &(struct mtun_hdr){MTUN_DATA, l->client, e->seq, l->rcv, l->dir, e->flags},
			     e->dg + MTUN_HDR, e->len);
	l->unacked = 0;
	l->ack_at = 0;
	if (!l->rto_at)
		l->rto_at = now + l->rto;
	return e->dg;
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
	return mtun_seal(l->key, buf, &(struct mtun_hdr){MTUN_ACK, l->client, ++l->acks, l->rcv, l->dir},
			 NULL, 0);
}

unsigned mtun_link_resend(struct mtun_link *l, uint64_t now, int force)
{
	unsigned n = 0;

	if (!force && (!l->rto_at || now < l->rto_at))
		return 0;
	for (struct mtun_qent *e = l->head; e && e != l->snd; e = e->next)
		n++;
	l->snd = l->head; /* go back: all of them are pulled again */
	l->rto_at = 0;    /* armed again by the next pull */
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

/* Identity and registration */

static void b64(const uint8_t *p, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

/* base64 of exactly want bytes: 0 or -EINVAL */
static int unb64(const char *text, uint8_t *out, size_t want)
{
	size_t len = strlen(text), pad = 0;
	uint8_t buf[128];
	int n;

	if (len != 4 * ((want + 2) / 3) || len > 4 * sizeof(buf) / 3)
		return -EINVAL;
	while (pad < 2 && len > pad && text[len - 1 - pad] == '=')
		pad++;
	n = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)len);
	if (n < 0 || (size_t)n - pad != want)
		return -EINVAL;
	memcpy(out, buf, want);
	return 0;
}

static int public_b64(EVP_PKEY *k, char ret[MTUN_PUBKEY_B64])
{
	uint8_t raw[32];
	size_t len = sizeof(raw);

	if (!EVP_PKEY_get_raw_public_key(k, raw, &len) || len != 32)
		return -EIO;
	b64(raw, 32, ret);
	return 0;
}

static EVP_PKEY *load_private(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	EVP_PKEY *k;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!k || EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) {
		snprintf(err, errlen, "%s: not an Ed25519 private key in PEM", path);
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

int mtun_keygen(const char *path, char ret_pub[MTUN_PUBKEY_B64], char *err, size_t errlen)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	FILE *f = NULL;
	int fd, r = -EIO;

	if (!k) {
		snprintf(err, errlen, "Ed25519 key generation failed");
		return -EIO;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	f = fdopen(fd, "w");
	if (!f || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) || fflush(f) ||
	    public_b64(k, ret_pub)) {
		snprintf(err, errlen, "%s: writing the key failed", path);
		unlink(path);
		goto out;
	}
	r = 0;
out:
	if (f)
		fclose(f);
	else if (fd >= 0)
		close(fd);
	EVP_PKEY_free(k);
	return r;
}

int mtun_key_public(const char *path, char ret_pub[MTUN_PUBKEY_B64], char *err, size_t errlen)
{
	EVP_PKEY *k = load_private(path, err, errlen);
	int r;

	if (!k)
		return -EINVAL;
	r = public_b64(k, ret_pub);
	EVP_PKEY_free(k);
	return r;
}

int mtun_pubkey_check(const char *text)
{
	uint8_t raw[32];

	return unb64(text, raw, sizeof(raw));
}

static int proof(char *buf, size_t len, const char *serial, int64_t ts, const char *nonce,
		 const char *dh)
{
	int n = snprintf(buf, len, "edgecap-register\n%s\n%" PRId64 "\n%s\n%s", serial, ts, nonce,
			 dh);

	return n < 0 || (size_t)n >= len ? -EINVAL : n;
}

int mtun_register_sign(const char *keyfile, const char *serial, int64_t ts, const char *nonce,
		       const char *dh, char ret_sig[MTUN_SIG_B64], char *err, size_t errlen)
{
	EVP_PKEY *k = load_private(keyfile, err, errlen);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char msg[512];
	uint8_t sig[64];
	size_t siglen = sizeof(sig);
	int n = proof(msg, sizeof(msg), serial, ts, nonce, dh), r = -EIO;

	if (!k || !md || n < 0)
		goto out;
	if (EVP_DigestSignInit(md, NULL, NULL, NULL, k) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (const uint8_t *)msg, (size_t)n) != 1 || siglen != 64) {
		snprintf(err, errlen, "signing the registration failed");
		goto out;
	}
	b64(sig, 64, ret_sig);
	r = 0;
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	return r;
}

int mtun_register_verify(const char *pubkey, const char *serial, int64_t ts, const char *nonce,
			 const char *dh, const char *sig)
{
	uint8_t raw[32], s[64];
	char msg[512];
	int n = proof(msg, sizeof(msg), serial, ts, nonce, dh), r = -EACCES;
	EVP_PKEY *k = NULL;
	EVP_MD_CTX *md = NULL;

	if (n < 0 || unb64(pubkey, raw, sizeof(raw)) || unb64(sig, s, sizeof(s)))
		return -EINVAL;
	k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, sizeof(raw));
	md = EVP_MD_CTX_new();
	if (k && md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestVerify(md, s, sizeof(s), (const uint8_t *)msg, (size_t)n) == 1)
		r = 0;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	return r;
}

void *mtun_dh_new(char ret_pub[MTUN_PUBKEY_B64])
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");

	if (k && public_b64(k, ret_pub)) {
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

void mtun_dh_free(void *dh)
{
	EVP_PKEY_free(dh);
}

int mtun_dh_key(void *dh, const char *peer_pub, uint32_t client, uint8_t ret[MTUN_KEY_LEN])
{
	uint8_t raw[32], shared[32];
	size_t len = sizeof(shared);
	char info[32];
	EVP_PKEY *peer;
	EVP_PKEY_CTX *pc = NULL;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kc = NULL;
	int r = -EIO;

	if (unb64(peer_pub, raw, sizeof(raw)))
		return -EINVAL;
	peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, raw, sizeof(raw));
	if (!peer)
		return -EINVAL;
	pc = EVP_PKEY_CTX_new(dh, NULL);
	/* OpenSSL refuses a peer key of low order (an all-zero shared secret) */
	if (!pc || EVP_PKEY_derive_init(pc) != 1 || EVP_PKEY_derive_set_peer(pc, peer) != 1 ||
	    EVP_PKEY_derive(pc, shared, &len) != 1 || len != sizeof(shared))
		goto out;
	snprintf(info, sizeof(info), "client %" PRIu32, client);
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	kc = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	if (kc) {
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
			OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, shared, sizeof(shared)),
			OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, "edgecap-mtun", 12),
			OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, strlen(info)),
			OSSL_PARAM_construct_end(),
		};

		if (EVP_KDF_derive(kc, ret, MTUN_KEY_LEN, params) == 1)
			r = 0;
	}
out:
	OPENSSL_cleanse(shared, sizeof(shared));
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_free(peer);
	return r;
}

void mtun_addr_str(uint32_t a, char ret[16])
{
	snprintf(ret, 16, "%u.%u.%u.%u", a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255);
}

uint32_t mtun_address(const char *id, uint32_t n)
{
	uint32_t h = (uint32_t)crc32(0, (const Bytef *)id, (uInt)strlen(id));

	for (uint32_t i = 0;; i++) {
		uint32_t v = (h + i) & 0xffffff;

		if (v == 0 || v == 1 || v == 0xffffff)
			continue;
		if (!n--)
			return MTUN_NET | v;
	}
}
