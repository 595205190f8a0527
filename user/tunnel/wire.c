/* wire.c - mTunnel datagrams: sealing, checking, and the batch framing of
 * UDP-over-HTTP bodies, see wire.h. */
#include "tunnel/wire.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

/* Only the key bytes: a server keeps one per device, and an HMAC context is
 * about a kilobyte. One context per process (both programs are single
 * threaded) takes each key as it is used, and keeps it while the same key
 * comes again, as it does for a batch from one device. The datagrams'
 * ChaCha20-Poly1305 key is made from the session key once
 * (HMAC-SHA256(key, "edgecap datagrams")), apart from the one poll tags
 * use. */
struct mtun_key {
	uint8_t key[MTUN_KEY_LEN];
	uint8_t aead[32];
};

struct mtun_key *mtun_key_new(const uint8_t key[MTUN_KEY_LEN])
{
	struct mtun_key *k = malloc(sizeof(*k));
	unsigned len = sizeof(k->aead);

	if (!k)
		return NULL;
	memcpy(k->key, key, MTUN_KEY_LEN);
	if (!HMAC(EVP_sha256(), key, MTUN_KEY_LEN, (const uint8_t *)"edgecap datagrams", 17,
		  k->aead, &len)) {
		mtun_key_free(k);
		return NULL;
	}
	return k;
}

void mtun_key_free(struct mtun_key *k)
{
	if (!k)
		return;
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

int mtun_key_tag(struct mtun_key *k, const void *p, size_t n, uint8_t ret[MTUN_TAG])
{
	static EVP_MAC_CTX *ctx;
	static uint8_t last[MTUN_KEY_LEN]; /* the key ctx holds */
	static int keyed;
	int same;
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
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
	if (!EVP_MAC_update(ctx, p, n) || !EVP_MAC_final(ctx, full, &len, sizeof(full)) ||
	    len != sizeof(full))
		return -EIO;
	memcpy(ret, full, MTUN_TAG);
	return 0;
}

/* One ChaCha20-Poly1305 pass over a datagram whose header is at hdr: the
 * header is the associated data, and its bytes but the client id the nonce
 * (version, type, direction, flags, seq, ack: never the same twice under
 * one key with other bytes, see docs/tunnel.md). in and out may be the
 * same. 0, or -EACCES when opening fails to verify, -EIO. */
static int aead(const struct mtun_key *k, int seal, const uint8_t hdr[MTUN_HDR], const uint8_t *in,
		size_t len, uint8_t *out, uint8_t tag[MTUN_TAG])
{
	static EVP_CIPHER_CTX *c;
	uint8_t nonce[12];
	int n = 0;

	if (!c && !(c = EVP_CIPHER_CTX_new()))
		return -EIO;
	memcpy(nonce, hdr, 4);
	memcpy(nonce + 4, hdr + 8, 8);
	if (EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, k->aead, nonce, seal) != 1 ||
	    EVP_CipherUpdate(c, NULL, &n, hdr, MTUN_HDR) != 1 ||
	    (len && EVP_CipherUpdate(c, out, &n, in, (int)len) != 1))
		return -EIO;
	if (seal)
		return EVP_CipherFinal_ex(c, out + len, &n) == 1 &&
			       EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, MTUN_TAG, tag) == 1
			   ? 0
			   : -EIO;
	return EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, MTUN_TAG, tag) == 1 &&
		       EVP_CipherFinal_ex(c, out + len, &n) == 1
		   ? 0
		   : -EACCES;
}

size_t mtun_seal(struct mtun_key *k, uint8_t *buf, const struct mtun_hdr *h, const void *payload,
		 size_t len)
{
	buf[0] = MTUN_VERSION;
	buf[1] = h->type;
	buf[2] = h->dir;
	buf[3] = h->flags;
	mtun_put32(buf + 4, h->client);
	mtun_put32(buf + 8, h->seq);
	mtun_put32(buf + 12, h->ack);
	/* (payload may be buf + MTUN_HDR: sealed in place) */
	if (aead(k, 1, buf, payload, len, buf + MTUN_HDR, buf + MTUN_HDR + len))
		memset(buf + MTUN_HDR + len, 0, MTUN_TAG); /* fails verification: dropped, resent */
	return MTUN_HDR + len + MTUN_TAG;
}

int mtun_peek(const uint8_t *p, size_t n, struct mtun_hdr *ret)
{
	if (n < MTUN_HDR + MTUN_TAG || n > MTUN_DGRAM_MAX || p[0] != MTUN_VERSION ||
	    p[1] < MTUN_HELLO || p[1] > MTUN_ACK || p[2] > MTUN_DOWN ||
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

int mtun_open(struct mtun_key *k, const uint8_t *p, size_t n, uint8_t *out)
{
	uint8_t tag[MTUN_TAG];

	if (n < MTUN_HDR + MTUN_TAG || n > MTUN_DGRAM_MAX)
		return -EACCES;
	memcpy(tag, p + n - MTUN_TAG, MTUN_TAG);
	if (aead(k, 0, p, p + MTUN_HDR, n - MTUN_HDR - MTUN_TAG, out, tag)) {
		OPENSSL_cleanse(out, n - MTUN_HDR - MTUN_TAG);
		return -EACCES;
	}
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

int mtun_batch_put(struct ecap_buf *b, const void *dg, size_t len)
{
	uint8_t *p;

	if (!len || len > MTUN_DGRAM_MAX)
		return -EINVAL;
	p = ecap_buf_grow(b, 2 + len); /* whole or not at all */
	if (!p)
		return b->err;
	p[0] = (uint8_t)(len >> 8);
	p[1] = (uint8_t)len;
	memcpy(p + 2, dg, len);
	return 0;
}
