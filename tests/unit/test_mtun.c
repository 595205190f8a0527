/* test_mtun.c - the management tunnel's shared pieces: sealed datagrams (the
 * tag against OpenSSL's one-shot HMAC), the batch framing, the go-back-N link
 * carrying 20000 packets over a lossy channel on a fake clock, Ed25519 keys
 * and registration proofs, the X25519 session key, management addresses
 * (against zlib's CRC32). */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <zlib.h>

#include "tunnel/claim.h"
#include "tunnel/link.h"
#include "tunnel/identity.h"

static uint64_t rng;

static void seed(uint64_t s)
{
	rng = s;
}

/* xorshift64*: the same sequence on every run */
static uint32_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 32);
}

static void key_bytes(uint8_t ret[MTUN_KEY_LEN], uint8_t first)
{
	for (int i = 0; i < MTUN_KEY_LEN; i++)
		ret[i] = (uint8_t)(first + 7 * i);
}

static struct mtun_key *key(uint8_t first)
{
	uint8_t b[MTUN_KEY_LEN];
	struct mtun_key *k;

	key_bytes(b, first);
	k = mtun_key_new(b);
	assert_non_null(k);
	return k;
}

static void b64(const void *p, size_t n, char *ret)
{
	EVP_EncodeBlock((unsigned char *)ret, p, (int)n);
}

/* Datagrams */

/* Open a datagram, its payload into a buffer of its own (and, when want is
 * given, compared with it): mtun_open's answer. */
static int verify_as(struct mtun_key *k, const uint8_t *p, size_t n, const void *want)
{
	uint8_t out[MTUN_DGRAM_MAX];
	int r = mtun_open(k, p, n, out);

	if (!r && want)
		assert_memory_equal(out, want, n - MTUN_HDR - MTUN_TAG);
	return r;
}

static int verify(struct mtun_key *k, const uint8_t *p, size_t n)
{
	return verify_as(k, p, n, NULL);
}

static void seal_then_peek_and_verify(void **s)
{
	/* version, type, reserved; client, seq, ack */
	static const uint8_t head[MTUN_HDR] = {2, MTUN_DATA, 0, 0, 1, 2,  3,  4,
					       5, 6,	     7, 8, 9, 10, 11, 12};
	struct mtun_key *k = key(1);
	uint8_t buf[MTUN_DGRAM_MAX], big[MTUN_MTU];
	struct mtun_hdr h = {0};
	size_t n;

	n = mtun_seal(k, buf, &(struct mtun_hdr){MTUN_DATA, 0x01020304, 0x05060708, 0x090a0b0c},
		      "hello", 5);
	assert_int_equal(n, MTUN_HDR + 5 + MTUN_TAG);
	assert_memory_equal(buf, head, MTUN_HDR); /* big-endian, reserved zero */
	/* the payload is not in clear; it opens to what was sealed */
	assert_memory_not_equal(buf + MTUN_HDR, "hello", 5);
	assert_int_equal(verify_as(k, buf, n, "hello"), 0);
	assert_int_equal(mtun_peek(buf, n, &h), 0);
	assert_int_equal(h.type, MTUN_DATA);
	assert_int_equal(h.client, 0x01020304);
	assert_int_equal(h.seq, 0x05060708);
	assert_int_equal(h.ack, 0x090a0b0c);
	assert_int_equal(verify(k, buf, n), 0);

	/* no payload: a pure ACK */
	n = mtun_seal(k, buf, &(struct mtun_hdr){MTUN_ACK, 7, 0, 42}, NULL, 0);
	assert_int_equal(n, MTUN_HDR + MTUN_TAG);
	assert_int_equal(mtun_peek(buf, n, &h), 0);
	assert_int_equal(h.type, MTUN_ACK);
	assert_int_equal(h.client, 7);
	assert_int_equal(h.ack, 42);
	assert_int_equal(verify(k, buf, n), 0);

	/* a full MTU: the largest datagram */
	memset(big, 0xa5, sizeof(big));
	n = mtun_seal(k, buf, &(struct mtun_hdr){MTUN_DATA, 7, 1, 1}, big, sizeof(big));
	assert_int_equal(n, MTUN_DGRAM_MAX);
	assert_int_equal(mtun_peek(buf, n, &h), 0);
	assert_int_equal(verify_as(k, buf, n, big), 0);
	/* the same payload under another seq or ack: another ciphertext (a
	 * nonce of its own) */
	{
		uint8_t again[MTUN_DGRAM_MAX];

		mtun_seal(k, again, &(struct mtun_hdr){MTUN_DATA, 7, 1, 2}, big, sizeof(big));
		assert_memory_not_equal(again + MTUN_HDR, buf + MTUN_HDR, 64);
		mtun_seal(k, again, &(struct mtun_hdr){MTUN_DATA, 7, 2, 1}, big, sizeof(big));
		assert_memory_not_equal(again + MTUN_HDR, buf + MTUN_HDR, 64);
	}
	mtun_key_free(k);
}

static void any_flipped_bit_fails(void **s)
{
	struct mtun_key *k = key(1);
	uint8_t buf[MTUN_DGRAM_MAX];
	size_t n = mtun_seal(k, buf, &(struct mtun_hdr){MTUN_DATA, 0x11, 0x22, 0x33}, "payload", 7);

	/* header, payload and tag alike */
	for (size_t i = 0; i < 8 * n; i++) {
		buf[i / 8] ^= (uint8_t)(1 << i % 8);
		if (verify(k, buf, n) != -EACCES)
			fail_msg("bit %zu of %zu flipped and the datagram still verifies", i,
				 8 * n);
		buf[i / 8] ^= (uint8_t)(1 << i % 8);
	}
	assert_int_equal(verify(k, buf, n), 0);
	/* cut short, or too short to hold a tag */
	assert_int_equal(verify(k, buf, n - 1), -EACCES);
	assert_int_equal(verify(k, buf, MTUN_HDR + MTUN_TAG - 1), -EACCES);
	assert_int_equal(verify(k, buf, 0), -EACCES);
	mtun_key_free(k);
}

/* The direction byte: under the tag, carried by a link's datagrams; pure
 * ACKs are numbered, so a replayed one is known. */
static void direction_and_ack_numbers(void **s)
{
	struct mtun_key *k = key(1);
	uint8_t buf[MTUN_DGRAM_MAX];
	const uint8_t *dg;
	struct mtun_link l;
	struct mtun_hdr h;
	size_t n = mtun_seal(k, buf, &(struct mtun_hdr){MTUN_DATA, 5, 6, 7, MTUN_DOWN}, "x", 1);

	assert_int_equal(buf[2], MTUN_DOWN);
	assert_int_equal(mtun_peek(buf, n, &h), 0);
	assert_int_equal(h.dir, MTUN_DOWN);
	buf[2] = MTUN_UP; /* reflected as if it were the peer's */
	assert_int_equal(verify(k, buf, n), -EACCES);

	mtun_link_init(&l, 9, k);
	assert_int_equal(l.dir, MTUN_UP);
	l.dir = MTUN_DOWN;
	assert_int_equal(mtun_link_send(&l, NULL, "abc", 3), 0);
	dg = mtun_link_pull(&l, 1000, &n);
	assert_non_null(dg);
	assert_int_equal(mtun_peek(dg, n, &h), 0);
	assert_int_equal(h.dir, MTUN_DOWN);
	assert_int_equal(verify(k, dg, n), 0);
	for (uint32_t i = 1; i <= 3; i++) {
		n = mtun_link_ack(&l, buf, 1000, 1);
		assert_int_equal(mtun_peek(buf, n, &h), 0);
		assert_int_equal(h.type, MTUN_ACK);
		assert_int_equal(h.dir, MTUN_DOWN);
		assert_int_equal(h.seq, i);
	}
	mtun_link_free(&l);
	mtun_key_free(k);
}

static void another_key_fails(void **s)
{
	uint8_t b[MTUN_KEY_LEN], buf[MTUN_DGRAM_MAX];
	struct mtun_key *k = key(1), *other;
	size_t n;

	key_bytes(b, 1);
	b[MTUN_KEY_LEN - 1] ^= 1; /* one bit apart */
	other = mtun_key_new(b);
	assert_non_null(other);
	n = mtun_seal(k, buf, &(struct mtun_hdr){MTUN_DATA, 1, 1, 1}, "x", 1);
	assert_int_equal(verify(other, buf, n), -EACCES);
	assert_int_equal(verify(k, buf, n), 0);
	n = mtun_seal(other, buf, &(struct mtun_hdr){MTUN_DATA, 1, 1, 1}, "x", 1);
	assert_int_equal(verify(k, buf, n), -EACCES);
	assert_int_equal(verify(other, buf, n), 0);
	mtun_key_free(other);
	mtun_key_free(k);
}

static void peek_refuses_what_is_not_ours(void **s)
{
	static const struct {
		size_t at;
		uint8_t v;
	} bad[] = {
	    /* version */
	    {0, 0},
	    {0, 1}, /* the one before datagrams were encrypted */
	    {0, 3},
	    {0, 0xff},
	    /* type */
	    {1, 0},
	    {1, MTUN_ACK + 1},
	    {1, 0xff},
	    /* direction (0 up, 1 down), reserved */
	    {2, 2},
	    {2, 0xff},
	    {3, 0x80},
	};
	static const char http[] = "GET / HTTP/1.1\r\nHost: 6.0.0.1\r\nAccept: */*\r\n\r\n";
	struct mtun_key *k = key(1);
	uint8_t buf[MTUN_DGRAM_MAX + 1] = {0}, copy[MTUN_DGRAM_MAX + 1];
	struct mtun_hdr h;
	size_t n = mtun_seal(k, buf, &(struct mtun_hdr){MTUN_DATA, 5, 6, 7}, "0123456789", 10);

	assert_int_equal(mtun_peek(buf, n, &h), 0);
	/* sizes: from an empty payload to a full one */
	assert_int_equal(mtun_peek(buf, 0, &h), -EINVAL);
	assert_int_equal(mtun_peek(buf, MTUN_HDR + MTUN_TAG - 1, &h), -EINVAL);
	assert_int_equal(mtun_peek(buf, MTUN_HDR + MTUN_TAG, &h), 0);
	assert_int_equal(mtun_peek(buf, MTUN_DGRAM_MAX, &h), 0);
	assert_int_equal(mtun_peek(buf, MTUN_DGRAM_MAX + 1, &h), -EINVAL);
	/* header fields */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(copy, buf, n);
		copy[bad[i].at] = bad[i].v;
		if (mtun_peek(copy, n, &h) != -EINVAL)
			fail_msg("byte %zu = %#x taken", bad[i].at, bad[i].v);
	}
	for (uint8_t t = MTUN_HELLO; t <= MTUN_ACK; t++) {
		memcpy(copy, buf, n);
		copy[1] = t;
		assert_int_equal(mtun_peek(copy, n, &h), 0);
		assert_int_equal(h.type, t);
	}
	/* the tag is not peek's business */
	memcpy(copy, buf, n);
	copy[n - 1] ^= 0xff;
	assert_int_equal(mtun_peek(copy, n, &h), 0);
	assert_int_equal(h.client, 5);
	/* garbage */
	assert_int_equal(mtun_peek((const uint8_t *)http, strlen(http), &h), -EINVAL);
	memset(copy, 0xff, sizeof(copy));
	assert_int_equal(mtun_peek(copy, 100, &h), -EINVAL);
	mtun_key_free(k);
}

/* One context per key restarted with EVP_MAC_init(ctx, NULL, ...) for each
 * datagram must give what a fresh HMAC gives, however many came before and
 * whatever their lengths; two keys interleaved, to see no state is shared. */
/* Each datagram is ChaCha20-Poly1305 as the documentation says, computed
 * here with OpenSSL directly: the key HMAC-SHA256(session key, "edgecap
 * datagrams"), the nonce the header's bytes but the client id, the header
 * the associated data. */
static void datagram_is_chacha20_poly1305(void **s)
{
	uint8_t kb[2][MTUN_KEY_LEN], buf[MTUN_DGRAM_MAX], pl[MTUN_MTU], ct[MTUN_MTU], ak[32],
	    nonce[12], tag[MTUN_TAG];
	struct mtun_key *k[2];
	unsigned aklen = sizeof(ak);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int outl;

	for (int j = 0; j < 2; j++) {
		key_bytes(kb[j], (uint8_t)(0x40 + j));
		k[j] = mtun_key_new(kb[j]);
		assert_non_null(k[j]);
	}
	seed(1);
	for (int i = 0; i < 3000; i++) {
		int j = i % 3 == 2;
		size_t len = rnd() % (MTUN_MTU + 1), n;

		for (size_t b = 0; b < len; b++)
			pl[b] = (uint8_t)rnd();
		n = mtun_seal(
		    k[j], buf,
		    &(struct mtun_hdr){(uint8_t)(MTUN_HELLO + rnd() % 4), rnd(), rnd(), rnd()}, pl,
		    len);
		assert_int_equal(n, MTUN_HDR + len + MTUN_TAG);
		assert_non_null(HMAC(EVP_sha256(), kb[j], MTUN_KEY_LEN,
				     (const uint8_t *)"edgecap datagrams", 17, ak, &aklen));
		memcpy(nonce, buf, 4);
		memcpy(nonce + 4, buf + 8, 8);
		assert_int_equal(EVP_EncryptInit_ex(c, EVP_chacha20_poly1305(), NULL, ak, nonce),
				 1);
		assert_int_equal(EVP_EncryptUpdate(c, NULL, &outl, buf, MTUN_HDR), 1);
		assert_int_equal(EVP_EncryptUpdate(c, ct, &outl, pl, (int)len), 1);
		assert_int_equal(EVP_EncryptFinal_ex(c, ct + len, &outl), 1);
		assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, MTUN_TAG, tag), 1);
		if (memcmp(buf + MTUN_HDR, ct, len) || memcmp(buf + n - MTUN_TAG, tag, MTUN_TAG))
			fail_msg("datagram %d (%zu bytes, key %d): not ChaCha20-Poly1305", i, n, j);
		if (i % 7 == 0)
			assert_int_equal(verify(k[!j], buf, n), -EACCES);
		else if (i % 7 == 1)
			assert_int_equal(verify_as(k[j], buf, n, pl), 0);
	}
	EVP_CIPHER_CTX_free(c);
	mtun_key_free(k[0]);
	mtun_key_free(k[1]);
}

/* The batch framing */

static size_t frame(uint8_t *p, const void *dg, size_t len)
{
	p[0] = (uint8_t)(len >> 8);
	p[1] = (uint8_t)len;
	memcpy(p + 2, dg, len);
	return 2 + len;
}

static void batch_empty_body(void **s)
{
	const uint8_t *dg = NULL;
	const char *why = NULL;
	size_t off = 0, len = 0;

	assert_int_equal(mtun_batch_next((const uint8_t *)"", 0, &off, &dg, &len, &why), 0);
	assert_int_equal(off, 0);
	assert_null(dg);
	assert_null(why);
}

/* Written by mtun_batch_put, read back by mtun_batch_next: each datagram
 * where the framing says, the bytes as given. */
static void batch_of_several(void **s)
{
	static uint8_t big[MTUN_DGRAM_MAX + 1];
	struct mtun_key *k = key(2);
	struct ecap_buf b = {0};
	uint8_t dg0[MTUN_DGRAM_MAX], *body;
	const uint8_t *want[3], *dg;
	size_t wlen[3], n = 0, off = 0, len, at[3];
	const char *why = NULL;

	memset(big, 0x5a, sizeof(big));
	wlen[0] = mtun_seal(k, dg0, &(struct mtun_hdr){MTUN_DATA, 1, 1, 1}, "abc", 3);
	want[0] = dg0;
	want[1] = (const uint8_t *)"z";
	wlen[1] = 1;
	want[2] = big;
	wlen[2] = MTUN_DGRAM_MAX;
	for (int i = 0; i < 3; i++) {
		at[i] = b.len + 2;
		assert_int_equal(mtun_batch_put(&b, want[i], wlen[i]), 0);
	}
	/* what does not fit the framing is refused, and leaves the body whole */
	assert_int_equal(mtun_batch_put(&b, big, 0), -EINVAL);
	assert_int_equal(mtun_batch_put(&b, big, MTUN_DGRAM_MAX + 1), -EINVAL);
	body = b.data;
	n = b.len;
	assert_int_equal(n, 3 * 2 + wlen[0] + 1 + MTUN_DGRAM_MAX);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(mtun_batch_next(body, n, &off, &dg, &len, &why), 1);
		assert_ptr_equal(dg, body + at[i]);
		assert_int_equal(len, wlen[i]);
		assert_memory_equal(dg, want[i], len);
		assert_int_equal(off, at[i] + wlen[i]);
	}
	assert_int_equal(mtun_batch_next(body, n, &off, &dg, &len, &why), 0);
	assert_int_equal(mtun_batch_next(body, n, &off, &dg, &len, &why), 0);
	assert_int_equal(off, n);
	assert_null(why);
	ecap_buf_free(&b);
	mtun_key_free(k);
}

static void batch_malformed(void **s)
{
	static const struct {
		const char *what;
		uint16_t len; /* the length prefix */
		size_t have;  /* the bytes after it */
		int cut;      /* the body ends 1 byte into the prefix */
		const char *why;
	} bad[] = {
	    {"1 byte of a length", 0, 0, 1, "truncated length prefix"},
	    {"length 0", 0, 10, 0, "zero-length"},
	    {"length past the maximum", MTUN_DGRAM_MAX + 1, MTUN_DGRAM_MAX + 1, 0, "maximum"},
	    {"length 65535", 0xffff, 0xffff, 0, "maximum"},
	    {"10 bytes promised, 9 there", 10, 9, 0, "truncated datagram"},
	    {"10 bytes promised, none there", 10, 0, 0, "truncated datagram"},
	    {"the maximum promised, 1 short", MTUN_DGRAM_MAX, MTUN_DGRAM_MAX - 1, 0,
	     "truncated datagram"},
	};
	static uint8_t body[8 + 2 + 0xffff];

	/* each after a good datagram, and alone */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (size_t first = 0; first <= 7; first += 7) {
			size_t n = first ? frame(body, "hello", 5) : 0, off = 0, len = 0;
			const uint8_t *dg = NULL;
			const char *why = NULL;

			body[n] = (uint8_t)(bad[i].len >> 8);
			body[n + 1] = (uint8_t)bad[i].len;
			memset(body + n + 2, 0x77, bad[i].have);
			n += bad[i].cut ? 1 : 2 + bad[i].have;
			if (first)
				assert_int_equal(mtun_batch_next(body, n, &off, &dg, &len, &why),
						 1);
			assert_int_equal(off, first);
			if (mtun_batch_next(body, n, &off, &dg, &len, &why) != -EINVAL)
				fail_msg("%s: not refused", bad[i].what);
			if (!why || !strstr(why, bad[i].why))
				fail_msg("%s: why \"%s\", wanted \"%s\"", bad[i].what,
					 why ? why : "(null)", bad[i].why);
			if (off != first)
				fail_msg("%s: the offset moved to %zu", bad[i].what, off);
		}
	}
}

/* The link over a lossy channel */

#define DELAY	  10 /* ms each way */
#define IN_FLIGHT 64 /* what the test's application keeps queued, at most */
#define SETUP	  30 /* ms a new transport takes to come up */

struct pkt {
	struct pkt *next;
	uint64_t at; /* delivered at */
	size_t len;
	uint8_t dg[MTUN_DGRAM_MAX];
};

/* One direction: first in first out after DELAY, except the ~10% it drops,
 * the 2% it sends twice, the 1% it corrupts and the 5% it swaps with the one
 * before. */
struct wire {
	struct pkt *head, *tail;
	unsigned put, dropped, duplicated, corrupted, reordered;
};

static void wire_put(struct wire *w, const uint8_t *dg, size_t len, uint64_t now)
{
	unsigned r = rnd() % 1000, copies = r >= 100 && r < 120 ? 2 : 1;

	w->put++;
	if (r < 100) {
		w->dropped++;
		return;
	}
	w->duplicated += copies - 1;
	for (unsigned c = 0; c < copies; c++) {
		struct pkt *p = malloc(sizeof(*p));

		assert_non_null(p);
		p->next = NULL;
		p->at = now + DELAY;
		p->len = len;
		memcpy(p->dg, dg, len);
		if (rnd() % 100 == 0) {
			p->dg[rnd() % len] ^= (uint8_t)(1 << rnd() % 8);
			w->corrupted++;
		}
		if (w->tail && rnd() % 100 < 5) { /* it overtakes the one before */
			static uint8_t t[MTUN_DGRAM_MAX];
			size_t tl = w->tail->len;

			memcpy(t, w->tail->dg, tl);
			memcpy(w->tail->dg, p->dg, p->len);
			w->tail->len = p->len;
			memcpy(p->dg, t, tl);
			p->len = tl;
			w->reordered++;
		}
		if (w->tail)
			w->tail->next = p;
		else
			w->head = p;
		w->tail = p;
	}
}

static struct pkt *wire_take(struct wire *w, uint64_t now)
{
	struct pkt *p = w->head;

	if (!p || p->at > now)
		return NULL;
	w->head = p->next;
	if (!w->head)
		w->tail = NULL;
	return p;
}

static void wire_free(struct wire *w)
{
	struct pkt *p;

	while ((p = wire_take(w, UINT64_MAX)))
		free(p);
}

/* A side: its link, its application's packets, what it was given, and what
 * its transport carried. */
struct end {
	struct mtun_link link;
	struct wire *out;
	uint64_t now;
	/* its transport: how many datagrams it carries each turn (0: any
	 * number); every so many ms it changes (0: never), and the new one
	 * carries nothing for SETUP ms */
	unsigned budget, room;
	uint64_t every, change_at, down_until;
	uint32_t total, sent; /* packets to send, queued */
	uint32_t want, got;   /* packets to get from the peer, got */
	uint32_t pieces;      /* the DATA its packets took */
	uint32_t rejected;    /* datagrams that failed peek or verify */
	uint32_t last;	      /* the seq pulled last */
	int rewound;	      /* the link went back since: the next pull is the oldest */
	uint32_t pulled, timeouts, changes, skipped;
};

/* Packet i: its number, big-endian, then bytes that depend on it: i % 61
 * of them, or for every 250th up to 64 KiB, in pieces; every 500th with an
 * offload header that depends on it too. */
static size_t packet(uint8_t *p, uint32_t i, struct virtio_net_hdr *vh)
{
	size_t len = i % 250 ? 4 + i % 61 : MTUN_PKT_MAX - (i * 7919) % 60000;

	*vh = (struct virtio_net_hdr){0};
	if (i % 500 == 0)
		*vh = (struct virtio_net_hdr){.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					      .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
					      .gso_size = htole16((uint16_t)(500 + i % 900)),
					      .csum_start = htole16(20),
					      .csum_offset = htole16(16),
					      .hdr_len = htole16(40)};

	p[0] = (uint8_t)(i >> 24);
	p[1] = (uint8_t)(i >> 16);
	p[2] = (uint8_t)(i >> 8);
	p[3] = (uint8_t)i;
	for (size_t j = 4; j < len; j++)
		p[j] = (uint8_t)(i * 7 + j);
	return len;
}

/* Sending only queues: nothing leaves, nothing is counted sent. */
static void app_send(struct end *e)
{
	uint64_t sent = e->link.stat.sent;
	static uint8_t pkt[MTUN_PKT_MAX];
	struct virtio_net_hdr vh;

	while (e->sent < e->total && e->link.qlen < IN_FLIGHT) {
		uint32_t q = e->link.qlen;

		assert_int_equal(mtun_link_send(&e->link, &vh, pkt, packet(pkt, e->sent, &vh)), 0);
		assert_true(mtun_link_pending(&e->link));
		e->pieces += e->link.qlen - q;
		e->sent++;
	}
	assert_int_equal(e->link.stat.sent, sent);
}

/* The transport takes what the link has pending, as much as it can carry
 * this turn. Each datagram is the one after the last pulled, or after a
 * rewind the oldest unacknowledged; sealed at this pull, with the ack of
 * this moment; and the timer runs. */
static void pull_all(struct end *e)
{
	const uint8_t *dg;
	struct mtun_hdr h;
	size_t len;

	if (e->now < e->down_until)
		return;
	for (; !e->budget || e->room; e->room -= !!e->budget) {
		uint32_t want = e->rewound ? e->link.una : e->last + 1;
		uint32_t rcv = mtun_link_rcv(&e->link);
		uint64_t sent = e->link.stat.sent + e->link.stat.resent;
		int pending = mtun_link_pending(&e->link);

		dg = mtun_link_pull(&e->link, e->now, &len);
		if (!dg) {
			assert_false(pending);
			return;
		}
		assert_true(pending);
		assert_int_equal(mtun_peek(dg, len, &h), 0);
		assert_int_equal(verify(e->link.key, dg, len), 0);
		assert_int_equal(h.type, MTUN_DATA);
		if (h.seq != want || h.ack != rcv)
			fail_msg("pulled seq %u ack %u where seq %u ack %u was due", h.seq, h.ack,
				 want, rcv);
		assert_int_equal(e->link.stat.sent + e->link.stat.resent, sent + 1);
		/* the ack rode along; a timer runs */
		assert_int_equal(e->link.ack_at, 0);
		assert_in_range(mtun_link_deadline(&e->link), 1, e->now + MTUN_RTO_MAX);
		e->last = h.seq;
		e->rewound = 0;
		e->pulled++;
		wire_put(e->out, dg, len, e->now);
	}
}

/* the next packet, whole, with its offload header; so each once and in order */
static void delivered(void *arg, const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len)
{
	struct end *e = arg;
	static uint8_t want[MTUN_PKT_MAX];
	struct virtio_net_hdr wvh;

	assert_true(e->got < e->want);
	if (len != packet(want, e->got, &wvh) || memcmp(pkt, want, len) ||
	    memcmp(vh, &wvh, sizeof(wvh)))
		fail_msg("delivered %zu bytes where packet %u was due", len, e->got);
	e->got++;
}

/* As the agent and the server do: peek, verify, hand to the link, deliver. */
static void receive(struct end *e, const struct pkt *p)
{
	struct mtun_hdr h;
	const struct mtun_qent *snd = e->link.snd;
	uint8_t plain[MTUN_MTU];
	int r;

	if (mtun_peek(p->dg, p->len, &h) || mtun_open(e->link.key, p->dg, p->len, plain)) {
		e->rejected++;
		return;
	}
	assert_int_equal(h.client, e->link.client);
	r = mtun_link_input(&e->link, &h, e->now);
	if (e->link.snd != snd) { /* acked while waiting to be pulled again */
		assert_non_null(snd);
		assert_ptr_equal(e->link.snd, e->link.head); /* the oldest unacknowledged */
		e->rewound = 1;
		e->skipped++;
	}
	if (r != 1) {
		assert_int_equal(r, 0);
		return;
	}
	assert_int_equal(h.type, MTUN_DATA);
	r = mtun_link_packet(&e->link, &h, plain, p->len - MTUN_HDR - MTUN_TAG, delivered, e);
	assert_int_equal(r, !(h.flags & MTUN_F_MORE));
}

/* The timer: an owed ack, a due retransmission (pulled after). And when
 * the transport changes (the agent moving between UDP and HTTP), everything
 * unacknowledged goes again by the new one at once. */
static void tick(struct end *e)
{
	uint64_t d = mtun_link_deadline(&e->link);
	uint8_t buf[MTUN_DGRAM_MAX];
	size_t n;

	if (e->every && e->now >= e->change_at) {
		e->change_at = e->now + e->every;
		e->down_until = e->now + SETUP;
		if (mtun_link_resend(&e->link, e->now, 1)) {
			e->rewound = 1;
			e->changes++;
		}
	}
	if (!d || d > e->now)
		return;
	n = mtun_link_ack(&e->link, buf, e->now, 0);
	if (n)
		wire_put(e->out, buf, n, e->now);
	if (mtun_link_resend(&e->link, e->now, 0)) {
		assert_true(mtun_link_pending(&e->link));
		e->rewound = 1;
		e->timeouts++;
	}
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

/* When the transport can next take what is pending: 0, none pending. */
static uint64_t carries_at(const struct end *e)
{
	if (!mtun_link_pending(&e->link))
		return 0;
	return e->now < e->down_until ? e->down_until : e->now + 1;
}

static int done(const struct end *a, const struct end *b)
{
	return a->got == a->want && b->got == b->want && a->link.una == a->link.nxt &&
	       b->link.una == b->link.nxt;
}

/* A sends 20000 packets and B 2000 the other way, over the channel above,
 * driven as the agent's and the server's event loops drive them: datagrams
 * in, the application's packets queued while it has fewer than IN_FLIGHT,
 * what is pending pulled into the channel, the timers when
 * mtun_link_deadline says and what they rewound pulled, then the clock
 * jumps to the next event. A's transport carries any number at once (UDP)
 * and changes every second; B's carries 4 a millisecond (as HTTP batches
 * do) and changes every 1.3 s. A change sends everything unacknowledged
 * again once the new transport is up, so acks of the first copies come in
 * while those wait to be pulled again. Every loss costs a retransmission
 * timeout (go-back-N), so the timeout must come back down after each:
 * about 500 s of fake time; stuck at MTUN_RTO_MAX it takes hours. */
static void link_over_lossy_channel(void **s)
{
	struct mtun_key *ka = key(3), *kb = key(3); /* one session key, each side its own state */
	struct wire ab = {0}, ba = {0};
	struct end a = {.out = &ab, .every = 1000, .total = 20000, .want = 2000},
		   b = {.out = &ba, .budget = 4, .every = 1300, .total = 2000, .want = 20000};
	uint64_t now = 1000000, give_up = now + 3600 * 1000;
	struct pkt *p;

	seed(42);
	mtun_link_init(&a.link, 77, ka);
	mtun_link_init(&b.link, 77, kb);
	a.change_at = now + a.every;
	b.change_at = now + b.every;
	for (;;) {
		uint64_t next;

		a.now = b.now = now;
		a.room = a.budget;
		b.room = b.budget;
		while ((p = wire_take(&ab, now))) {
			receive(&b, p);
			free(p);
		}
		while ((p = wire_take(&ba, now))) {
			receive(&a, p);
			free(p);
		}
		app_send(&a);
		app_send(&b);
		pull_all(&a);
		pull_all(&b);
		tick(&a);
		tick(&b);
		pull_all(&a);
		pull_all(&b);
		if (done(&a, &b))
			break;
		next = earliest(earliest(ab.head ? ab.head->at : 0, ba.head ? ba.head->at : 0),
				earliest(mtun_link_deadline(&a.link), mtun_link_deadline(&b.link)));
		next = earliest(next, earliest(carries_at(&a), carries_at(&b)));
		if (next <= now)
			fail_msg("at %" PRIu64 " ms nothing is ahead (next %" PRIu64
				 "): A sent %u, "
				 "B got %u, A's una %u nxt %u",
				 now, next, a.sent, b.got, a.link.una, a.link.nxt);
		now = next;
		if (now > give_up)
			fail_msg("an hour on: B got %u of %u, A got %u of %u", b.got, a.total,
				 a.got, b.total);
	}
	/* both ways, every packet once and in order */
	assert_int_equal(b.got, a.total);
	assert_int_equal(a.got, b.total);
	assert_int_equal(b.link.stat.received, a.pieces);
	assert_int_equal(a.link.stat.received, b.pieces);
	assert_true(a.pieces > a.total + 80 * 3 && b.pieces > b.total + 8 * 3); /* some in pieces */
	assert_int_equal(a.link.stat.bad_packets + b.link.stat.bad_packets, 0);
	/* each pulled first once; every pull counted */
	assert_int_equal(a.link.stat.sent, a.pieces);
	assert_int_equal(b.link.stat.sent, b.pieces);
	assert_int_equal(a.link.stat.sent + a.link.stat.resent, a.pulled);
	assert_int_equal(b.link.stat.sent + b.link.stat.resent, b.pulled);
	/* and nothing left queued */
	assert_int_equal(a.link.qlen, 0);
	assert_int_equal(a.link.qbytes, 0);
	assert_int_equal(mtun_link_oldest(&a.link), 0);
	assert_false(mtun_link_pending(&a.link));
	assert_int_equal(b.link.qlen, 0);
	assert_false(mtun_link_pending(&b.link));
	/* the channel did what it says, in both directions */
	assert_in_range(ab.dropped, ab.put / 12, ab.put / 8);
	assert_in_range(ba.dropped, ba.put / 12, ba.put / 8);
	assert_true(ab.duplicated && ba.duplicated && ab.reordered && ba.reordered);
	assert_true(ab.corrupted && ba.corrupted && a.rejected && b.rejected);
	assert_true(b.link.stat.duplicate && b.link.stat.out_of_order);
	/* and the link went back for each reason, and found acked ones waiting */
	assert_true(a.timeouts && b.timeouts && a.changes && b.changes);
	assert_true(a.link.stat.resent && b.link.stat.resent);
	assert_true(a.skipped && b.skipped);
	print_message("%" PRIu64 " s of fake time; A->B %u datagrams, B->A %u; rewinds (timeouts, "
		      "changes) A %u, %u, B %u, %u; resent A %" PRIu64 ", B %" PRIu64
		      "; skipped as acked A %u, B %u\n",
		      (now - 1000000) / 1000, ab.put, ba.put, a.timeouts, a.changes, b.timeouts,
		      b.changes, a.link.stat.resent, b.link.stat.resent, a.skipped, b.skipped);
	wire_free(&ab);
	wire_free(&ba);
	mtun_link_free(&a.link);
	mtun_link_free(&b.link);
	mtun_key_free(ka);
	mtun_key_free(kb);
}

static int input(struct mtun_link *l, uint8_t type, uint32_t seq, uint32_t ack, uint64_t now)
{
	return mtun_link_input(l, &(struct mtun_hdr){type, l->client, seq, ack}, now);
}

/* The next datagram pulled at now is l's DATA seq, sealed with ack, carrying
 * payload. */
static void pulls(struct mtun_link *l, uint64_t now, uint32_t seq, uint32_t ack,
		  const char *payload)
{
	size_t len = 0, plen = strlen(payload);
	const uint8_t *dg;
	struct mtun_hdr h;

	assert_true(mtun_link_pending(l));
	dg = mtun_link_pull(l, now, &len);
	assert_non_null(dg);
	assert_int_equal(len, MTUN_HDR + plen + MTUN_TAG);
	assert_int_equal(mtun_peek(dg, len, &h), 0);
	assert_int_equal(verify_as(l->key, dg, len, payload), 0);
	assert_int_equal(h.type, MTUN_DATA);
	assert_int_equal(h.client, l->client);
	if (h.seq != seq || h.ack != ack)
		fail_msg("pulled seq %u ack %u, wanted seq %u ack %u", h.seq, h.ack, seq, ack);
}

/* Nothing waits to be pulled. */
static void pulls_nothing(struct mtun_link *l, uint64_t now)
{
	size_t len = 0;

	assert_false(mtun_link_pending(l));
	assert_null(mtun_link_pull(l, now, &len));
}

static void nothing_leaves_until_pulled(void **s)
{
	struct mtun_key *k = key(10);
	struct mtun_link l;
	uint8_t buf[MTUN_DGRAM_MAX];

	mtun_link_init(&l, 9, k);
	pulls_nothing(&l, 1000);
	/* queued: numbered, but not sent, not timed, not counted */
	assert_int_equal(mtun_link_send(&l, NULL, "a", 1), 0);
	assert_true(mtun_link_pending(&l));
	assert_int_equal(mtun_link_send(&l, NULL, "bb", 2), 0);
	assert_int_equal(mtun_link_send(&l, NULL, "ccc", 3), 0);
	assert_int_equal(l.qlen, 3);
	assert_int_equal(l.qbytes, 6);
	assert_int_equal(l.nxt, 4);
	assert_int_equal(l.stat.sent, 0);
	assert_int_equal(mtun_link_deadline(&l), 0);
	assert_int_equal(mtun_link_oldest(&l), 0);
	/* so there is nothing to send again, however late, even forced */
	assert_int_equal(mtun_link_resend(&l, 1000000, 0), 0);
	assert_int_equal(mtun_link_resend(&l, 1000000, 1), 0);
	assert_int_equal(l.rto, 4 * MTUN_RTO_MIN);
	assert_int_equal(l.stat.resent, 0);

	/* pulled one by one, in order, each sealed when pulled */
	pulls(&l, 1000, 1, 1, "a");
	assert_true(mtun_link_pending(&l));
	assert_int_equal(l.stat.sent, 1);
	assert_int_equal(mtun_link_oldest(&l), 1000);
	assert_int_equal(mtun_link_deadline(&l), 1000 + 4 * MTUN_RTO_MIN);
	/* the peer's DATA in between: the next one pulled carries its ack */
	assert_int_equal(input(&l, MTUN_DATA, 1, 1, 1005), 1);
	assert_int_equal(mtun_link_deadline(&l), 1005 + MTUN_ACK_DELAY);
	pulls(&l, 1006, 2, 2, "bb");
	/* so no pure ACK is owed; the timer still runs from the first pull */
	assert_int_equal(mtun_link_deadline(&l), 1000 + 4 * MTUN_RTO_MIN);
	assert_int_equal(mtun_link_ack(&l, buf, 1010, 0), 0);
	pulls(&l, 1007, 3, 2, "ccc");
	pulls_nothing(&l, 1008);
	assert_int_equal(l.stat.sent, 3);
	assert_int_equal(l.stat.resent, 0);
	assert_int_equal(mtun_link_oldest(&l), 1000);
	/* what is queued next goes next */
	assert_int_equal(mtun_link_send(&l, NULL, "dddd", 4), 0);
	pulls(&l, 1009, 4, 2, "dddd");
	pulls_nothing(&l, 1009);
	mtun_link_free(&l);
	pulls_nothing(&l, 1010);
	mtun_key_free(k);
}

static void timer_runs_from_the_pull(void **s)
{
	struct mtun_key *k = key(11);
	struct mtun_link l;

	mtun_link_init(&l, 9, k);
	/* queued at 1000, the transport busy until 5000: no timeout meanwhile */
	assert_int_equal(mtun_link_send(&l, NULL, "a", 1), 0);
	for (uint64_t now = 1000; now < 5000; now += 50) {
		assert_int_equal(mtun_link_deadline(&l), 0);
		assert_int_equal(mtun_link_resend(&l, now, 0), 0);
	}
	assert_int_equal(l.rto, 4 * MTUN_RTO_MIN);
	pulls(&l, 5000, 1, 1, "a");
	assert_int_equal(mtun_link_deadline(&l), 5000 + 4 * MTUN_RTO_MIN);
	assert_int_equal(mtun_link_resend(&l, 5000 + 4 * MTUN_RTO_MIN - 1, 0), 0);
	pulls_nothing(&l, 5001);
	assert_int_equal(mtun_link_resend(&l, 5000 + 4 * MTUN_RTO_MIN, 0), 1);
	assert_true(mtun_link_pending(&l));
	assert_int_equal(l.rto, 8 * MTUN_RTO_MIN);
	/* rewound, not pulled again yet: no timer, the next from its pull */
	assert_int_equal(mtun_link_deadline(&l), 0);
	assert_int_equal(mtun_link_resend(&l, 9000, 0), 0);
	assert_int_equal(l.rto, 8 * MTUN_RTO_MIN);
	pulls(&l, 9000, 1, 1, "a");
	assert_int_equal(l.stat.sent, 1);
	assert_int_equal(l.stat.resent, 1);
	assert_int_equal(mtun_link_deadline(&l), 9000 + 8 * MTUN_RTO_MIN);
	assert_int_equal(mtun_link_oldest(&l), 5000);

	/* after progress, a timer only while a pulled one waits for its ack */
	assert_int_equal(mtun_link_send(&l, NULL, "b", 1), 0);
	input(&l, MTUN_ACK, 0, 2, 9100);
	assert_int_equal(l.una, 2);
	assert_int_equal(mtun_link_deadline(&l), 0);
	assert_int_equal(mtun_link_oldest(&l), 0);
	assert_int_equal(l.srtt, 0); /* it went twice: no sample */
	pulls(&l, 9200, 2, 1, "b");
	assert_int_equal(mtun_link_deadline(&l), 9200 + 8 * MTUN_RTO_MIN);
	assert_int_equal(mtun_link_send(&l, NULL, "c", 1), 0);
	input(&l, MTUN_ACK, 0, 3, 9300);
	assert_int_equal(l.srtt, 100);
	assert_int_equal(l.rto, 300);
	assert_int_equal(mtun_link_deadline(&l), 0);
	pulls(&l, 9400, 3, 1, "c");
	assert_int_equal(mtun_link_deadline(&l), 9700);
	assert_int_equal(mtun_link_send(&l, NULL, "d", 1), 0);
	pulls(&l, 9500, 4, 1, "d");
	input(&l, MTUN_ACK, 0, 4, 9600);
	assert_int_equal(mtun_link_deadline(&l), 9600 + l.rto); /* 4 waits */
	mtun_link_free(&l);
	mtun_key_free(k);
}

/* A reliable transport still carrying the data holds the timer off; an idle
 * link has none to restart. */
static void timer_restarts_while_the_transport_carries(void **s)
{
	struct mtun_key *k = key(12);
	struct mtun_link l;

	mtun_link_init(&l, 9, k);
	mtun_link_restart_timer(&l, 1000);
	assert_int_equal(mtun_link_deadline(&l), 0);
	assert_int_equal(mtun_link_send(&l, NULL, "a", 1), 0);
	pulls(&l, 1000, 1, 1, "a");
	assert_int_equal(mtun_link_deadline(&l), 1000 + 4 * MTUN_RTO_MIN);
	for (uint64_t now = 1000; now < 9000; now += 50) { /* the request is slow */
		mtun_link_restart_timer(&l, now);
		assert_int_equal(mtun_link_resend(&l, now, 0), 0);
	}
	/* answered at 9000: a timeout from then, with the rto unchanged */
	mtun_link_restart_timer(&l, 9000);
	assert_int_equal(mtun_link_resend(&l, 9000 + 4 * MTUN_RTO_MIN - 1, 0), 0);
	assert_int_equal(mtun_link_resend(&l, 9000 + 4 * MTUN_RTO_MIN, 0), 1);
	assert_int_equal(l.stat.resent, 0);
	pulls(&l, 9500, 1, 1, "a");
	assert_int_equal(l.stat.resent, 1);
	input(&l, MTUN_ACK, 0, 2, 9600);
	assert_int_equal(mtun_link_deadline(&l), 0);
	mtun_link_restart_timer(&l, 9700); /* all acked: still no timer */
	assert_int_equal(mtun_link_deadline(&l), 0);
	mtun_link_free(&l);
	mtun_key_free(k);
}

static void resend_pulls_the_same_again_with_a_fresher_ack(void **s)
{
	static const char *const payload[] = {"", "a", "b", "c", "d", "e"};
	struct mtun_key *k = key(12);
	struct mtun_link l;

	mtun_link_init(&l, 9, k);
	for (uint32_t i = 1; i <= 5; i++)
		assert_int_equal(mtun_link_send(&l, NULL, payload[i], 1), 0);
	for (uint32_t i = 1; i <= 5; i++)
		pulls(&l, 1000, i, 1, payload[i]);
	/* the peer's DATA 1 and 2, then its ack of our 1 and 2 */
	assert_int_equal(input(&l, MTUN_DATA, 1, 1, 1010), 1);
	assert_int_equal(input(&l, MTUN_DATA, 2, 1, 1010), 1);
	input(&l, MTUN_ACK, 0, 3, 1020);
	assert_int_equal(l.una, 3);
	assert_int_equal(l.srtt, 20);
	assert_int_equal(l.rto, MTUN_RTO_MIN);

	/* the transport changed: the unacknowledged again, in order, with our
	 * ack as it is now */
	assert_int_equal(mtun_link_resend(&l, 1030, 1), 3);
	assert_true(mtun_link_pending(&l));
	assert_int_equal(l.rto, MTUN_RTO_MIN); /* forced: no backoff */
	assert_int_equal(l.stat.resent, 0);    /* counted when pulled */
	for (uint32_t i = 3; i <= 5; i++)
		pulls(&l, 1040, i, 3, payload[i]);
	pulls_nothing(&l, 1040);
	assert_int_equal(l.stat.sent, 5);
	assert_int_equal(l.stat.resent, 3);
	assert_int_equal(mtun_link_oldest(&l), 1000);
	assert_int_equal(mtun_link_deadline(&l), 1040 + MTUN_RTO_MIN);

	/* a timeout: the same again, each with the ack of its own pull */
	assert_int_equal(mtun_link_resend(&l, 1040 + MTUN_RTO_MIN - 1, 0), 0);
	assert_int_equal(mtun_link_resend(&l, 1040 + MTUN_RTO_MIN, 0), 3);
	assert_int_equal(l.rto, 2 * MTUN_RTO_MIN);
	pulls(&l, 1150, 3, 3, "c");
	assert_int_equal(input(&l, MTUN_DATA, 3, 1, 1151), 1);
	pulls(&l, 1152, 4, 4, "d");
	assert_int_equal(input(&l, MTUN_DATA, 4, 1, 1153), 1);
	assert_int_equal(input(&l, MTUN_DATA, 5, 1, 1153), 1);
	pulls(&l, 1154, 5, 6, "e");
	pulls_nothing(&l, 1155);
	assert_int_equal(l.stat.resent, 6);
	assert_int_equal(mtun_link_deadline(&l), 1150 + 2 * MTUN_RTO_MIN);

	/* rewound halfway through a round: from the oldest again */
	assert_int_not_equal(mtun_link_resend(&l, 1160, 1), 0);
	pulls(&l, 1161, 3, 6, "c");
	assert_int_not_equal(mtun_link_resend(&l, 1162, 1), 0);
	for (uint32_t i = 3; i <= 5; i++)
		pulls(&l, 1163, i, 6, payload[i]);
	pulls_nothing(&l, 1163);
	assert_int_equal(l.stat.sent, 5);
	assert_int_equal(l.stat.resent, 10);
	/* acked at last: each went more than once, so no sample */
	input(&l, MTUN_ACK, 0, 6, 1170);
	assert_int_equal(l.qlen, 0);
	assert_int_equal(l.srtt, 20);
	assert_int_equal(mtun_link_deadline(&l), 0);
	assert_int_equal(mtun_link_resend(&l, 1170, 1), 0);
	pulls_nothing(&l, 1170);
	mtun_link_free(&l);
	mtun_key_free(k);
}

static void acked_while_waiting_to_be_pulled_again_is_skipped(void **s)
{
	static const char *const payload[] = {"", "a", "b", "c", "d"};
	struct mtun_key *k = key(13);
	struct mtun_link l;

	mtun_link_init(&l, 9, k);
	for (uint32_t i = 1; i <= 4; i++)
		assert_int_equal(mtun_link_send(&l, NULL, payload[i], 1), 0);
	for (uint32_t i = 1; i <= 4; i++)
		pulls(&l, 1000, i, 1, payload[i]);
	assert_int_equal(mtun_link_resend(&l, 1100, 1), 4);
	pulls(&l, 1110, 1, 1, "a");
	/* the first copies of 1 and 2 got there: 2 is not pulled again */
	input(&l, MTUN_ACK, 0, 3, 1120);
	assert_int_equal(l.una, 3);
	assert_int_equal(l.qlen, 2);
	assert_true(mtun_link_pending(&l));
	assert_ptr_equal(l.snd, l.head); /* 3, the oldest left */
	/* 2 went once: its ack is a sample (1 went twice, no sample) */
	assert_int_equal(l.srtt, 120);
	assert_int_equal(l.rto, 360);
	/* nothing pulled since the rewind waits for an ack: no timer */
	assert_int_equal(mtun_link_deadline(&l), 0);
	pulls(&l, 1130, 3, 1, "c");
	assert_int_equal(mtun_link_deadline(&l), 1130 + 360);
	/* all of what waits acked: nothing left to pull */
	input(&l, MTUN_ACK, 0, 5, 1140);
	pulls_nothing(&l, 1140);
	assert_int_equal(l.qlen, 0);
	assert_int_equal(l.qbytes, 0);
	assert_null(l.head);
	assert_int_equal(mtun_link_deadline(&l), 0);
	assert_int_equal(l.srtt, (7 * 120 + 140) / 8); /* from 4, which went once */
	assert_int_equal(l.stat.sent, 4);
	assert_int_equal(l.stat.resent, 2);
	/* the next one queued is the next pulled */
	assert_int_equal(mtun_link_send(&l, NULL, "e", 1), 0);
	pulls(&l, 1150, 5, 1, "e");
	pulls_nothing(&l, 1150);
	mtun_link_free(&l);
	mtun_key_free(k);
}

static void full_window_refuses_and_counts(void **s)
{
	static uint8_t pkt[MTUN_MTU + 1];
	struct mtun_key *k = key(4);
	struct mtun_link l;
	unsigned fit = MTUN_WINDOW_MAX / MTUN_MTU;
	uint32_t n = 0;
	size_t len;

	/* by count, whether pulled or not */
	mtun_link_init(&l, 9, k);
	for (uint32_t i = 0; i < MTUN_WINDOW; i++) {
		/* room: for a packet of any length */
		assert_int_equal(mtun_link_room(&l), i + MTUN_PIECES_MAX <= MTUN_WINDOW);
		assert_int_equal(mtun_link_send(&l, NULL, pkt, 1), 0);
	}
	assert_false(mtun_link_room(&l));
	assert_int_equal(mtun_link_send(&l, NULL, pkt, 1), -ENOBUFS);
	assert_int_equal(l.stat.full, 1);
	assert_int_equal(l.nxt, 1 + MTUN_WINDOW); /* the refused one took no number */
	while (mtun_link_pull(&l, 1000, &len))
		n++;
	assert_int_equal(n, MTUN_WINDOW);
	assert_int_equal(l.stat.sent, MTUN_WINDOW);
	assert_int_equal(mtun_link_send(&l, NULL, pkt, 1), -ENOBUFS);
	assert_int_equal(l.stat.full, 2);
	/* an ack makes room */
	input(&l, MTUN_ACK, 0, 2, 1100);
	assert_int_equal(l.qlen, MTUN_WINDOW - 1);
	assert_false(mtun_link_room(&l));
	assert_int_equal(mtun_link_send(&l, NULL, pkt, MTUN_MTU + 1), -ENOBUFS); /* two pieces */
	assert_int_equal(l.stat.full, 3);
	assert_int_equal(mtun_link_send(&l, NULL, pkt, 1), 0); /* one fits */
	assert_int_equal(l.stat.full, 3);
	assert_non_null(mtun_link_pull(&l, 1100, &len));
	assert_int_equal(len, MTUN_HDR + 1 + MTUN_TAG);
	pulls_nothing(&l, 1100);
	mtun_link_free(&l);

	/* by bytes */
	mtun_link_init(&l, 9, k);
	for (unsigned i = 0; i < fit; i++)
		assert_int_equal(mtun_link_send(&l, NULL, pkt, MTUN_MTU), 0);
	assert_int_equal(l.qbytes, (size_t)fit * MTUN_MTU);
	assert_false(mtun_link_room(&l));
	assert_int_equal(mtun_link_send(&l, NULL, pkt, MTUN_MTU), -ENOBUFS);
	assert_int_equal(l.stat.full, 1);
	mtun_link_free(&l);

	/* longer than an IP packet can be, or empty */
	mtun_link_init(&l, 9, k);
	assert_int_equal(mtun_link_send(&l, NULL, pkt, MTUN_PKT_MAX + 1), -ENOBUFS);
	assert_int_equal(mtun_link_send(&l, NULL, pkt, 0), -ENOBUFS);
	assert_int_equal(l.stat.full, 2);
	assert_int_equal(l.nxt, 1);
	pulls_nothing(&l, 1000);
	mtun_link_free(&l);
	mtun_key_free(k);
}

/* Packets past the MTU go in pieces: MORE on all but the last, GSO on the
 * first of one with an offload header; the receiver gets them back whole. */
struct got {
	uint8_t pkt[MTUN_PKT_MAX];
	size_t len;
	struct virtio_net_hdr vh;
	unsigned n;
};

static void keep(void *arg, const struct virtio_net_hdr *vh, const uint8_t *pkt, size_t len)
{
	struct got *g = arg;

	memcpy(g->pkt, pkt, len);
	g->len = len;
	g->vh = *vh;
	g->n++;
}

static void packets_in_pieces(void **s)
{
	static uint8_t pkt[MTUN_PKT_MAX];
	static struct got g;
	struct mtun_key *ka = key(5), *kb = key(5);
	struct mtun_link a, b;
	const struct virtio_net_hdr tso = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					   .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
					   .gso_size = htole16(1348),
					   .csum_start = htole16(20),
					   .csum_offset = htole16(16),
					   .hdr_len = htole16(52)},
				    csum = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					    .csum_start = htole16(20),
					    .csum_offset = htole16(6)},
				    none = {0};
	struct {
		size_t len;
		const struct virtio_net_hdr *vh;
		unsigned pieces;
	} c[] = {
	    {1, NULL, 1},
	    {MTUN_MTU, NULL, 1},
	    {MTUN_MTU, &none, 1}, /* a zeroed header is none */
	    {MTUN_MTU + 1, NULL, 2},
	    {MTUN_MTU - MTUN_GSO_LEN, &csum, 1},
	    {MTUN_MTU - MTUN_GSO_LEN + 1, &csum, 2},
	    {MTUN_PKT_MAX, &tso, MTUN_PIECES_MAX},
	    {MTUN_PKT_MAX, NULL, (MTUN_PKT_MAX + MTUN_MTU - 1) / MTUN_MTU},
	    {3000, &tso, 3},
	};

	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 31 + i / 256);
	mtun_link_init(&a, 7, ka);
	mtun_link_init(&b, 7, kb);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		const uint8_t *dg;
		uint8_t plain[MTUN_MTU];
		struct mtun_hdr h;
		size_t len;
		unsigned n = 0;

		assert_int_equal(mtun_link_send(&a, c[i].vh, pkt + i, c[i].len), 0);
		assert_int_equal(a.qlen, c[i].pieces);
		g.n = 0;
		while ((dg = mtun_link_pull(&a, 1000, &len))) {
			int last = ++n == c[i].pieces;

			assert_true(len <= MTUN_DGRAM_MAX);
			assert_int_equal(mtun_peek(dg, len, &h), 0);
			assert_int_equal(mtun_open(kb, dg, len, plain), 0);
			assert_int_equal(h.flags & MTUN_F_MORE, last ? 0 : MTUN_F_MORE);
			assert_int_equal(h.flags & MTUN_F_GSO,
					 n == 1 && c[i].vh && c[i].vh != &none ? MTUN_F_GSO : 0);
			assert_int_equal(mtun_link_input(&b, &h, 1000), 1);
			assert_int_equal(
			    mtun_link_packet(&b, &h, plain, len - MTUN_HDR - MTUN_TAG, keep, &g),
			    last);
			assert_int_equal(g.n, last);
		}
		assert_int_equal(n, c[i].pieces);
		assert_int_equal(g.len, c[i].len);
		assert_memory_equal(g.pkt, pkt + i, c[i].len);
		assert_memory_equal(&g.vh, c[i].vh ? c[i].vh : &none, sizeof(g.vh));
		assert_null(b.rx); /* nothing held between packets */
		input(&a, MTUN_ACK, 0, b.rcv, 1001);
		assert_int_equal(a.qlen, 0);
	}
	assert_int_equal(b.stat.bad_packets, 0);
	mtun_link_free(&a);
	mtun_link_free(&b);
	mtun_key_free(ka);
	mtun_key_free(kb);
}

/* DATA as the link takes it, and its payload to mtun_link_packet. */
static int piece(struct mtun_link *l, uint8_t flags, const uint8_t *p, size_t n, struct got *g)
{
	struct mtun_hdr h = {MTUN_DATA, l->client, l->rcv, 1, MTUN_UP, flags};

	assert_int_equal(mtun_link_input(l, &h, 1000), 1);
	return mtun_link_packet(l, &h, p, n, keep, g);
}

static void malformed_packets_are_dropped_and_counted(void **s)
{
	static uint8_t p[MTUN_MTU];
	static struct got g;
	struct mtun_key *k = key(6);
	struct mtun_link l;
	/* a descriptor: flags, type, size, start, offset, header length */
	const uint8_t good[MTUN_GSO_LEN] = {1, 1, 0x05, 0x44, 0, 20, 0, 16, 0, 52};
	struct {
		const char *why;
		uint8_t d[MTUN_GSO_LEN];
	} bad[] = {
	    {"unknown flag", {3, 0, 0, 0, 0, 20, 0, 16, 0, 0}},
	    {"unknown GSO type", {1, 5, 0x05, 0x44, 0, 20, 0, 16, 0, 52}},
	    {"GSO without a checksum", {0, 1, 0x05, 0x44, 0, 0, 0, 0, 0, 52}},
	    {"GSO without a segment size", {1, 1, 0, 0, 0, 20, 0, 16, 0, 52}},
	    {"checksum past the packet", {1, 0, 0, 0, 0x05, 0x70, 0, 16, 0, 0}},
	    {"header past the packet", {1, 1, 0x05, 0x44, 0, 20, 0, 16, 0x05, 0x80}},
	};
	uint64_t nbad = 0;

	memset(p, 0x45, sizeof(p));
	mtun_link_init(&l, 7, k);
	g.n = 0;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) { /* in one DATA of 1400 */
		memcpy(p, bad[i].d, MTUN_GSO_LEN);
		if (piece(&l, MTUN_F_GSO, p, sizeof(p), &g) != -EINVAL)
			fail_msg("%s: taken", bad[i].why);
		assert_int_equal(l.stat.bad_packets, ++nbad);
	}
	memcpy(p, good, MTUN_GSO_LEN);
	assert_int_equal(piece(&l, MTUN_F_GSO, p, sizeof(p), &g), 1);
	assert_int_equal(g.len, sizeof(p) - MTUN_GSO_LEN);
	/* shorter than a descriptor */
	assert_int_equal(piece(&l, MTUN_F_GSO, p, MTUN_GSO_LEN - 1, &g), -EINVAL);
	assert_int_equal(piece(&l, MTUN_F_GSO, p, MTUN_GSO_LEN, &g), -EINVAL); /* and no packet */
	nbad += 2;
	/* longer than a packet can be: dropped at its last piece */
	for (unsigned i = 0; i < MTUN_PIECES_MAX; i++)
		assert_int_equal(piece(&l, MTUN_F_MORE, p, sizeof(p), &g), 0);
	assert_int_equal(piece(&l, 0, p, 100, &g), -EINVAL);
	assert_int_equal(l.stat.bad_packets, ++nbad);
	assert_null(l.rx);
	/* a second start inside a packet */
	assert_int_equal(piece(&l, MTUN_F_GSO | MTUN_F_MORE, p, sizeof(p), &g), 0);
	assert_int_equal(piece(&l, MTUN_F_GSO | MTUN_F_MORE, p, sizeof(p), &g), 0);
	assert_int_equal(piece(&l, 0, p, 100, &g), -EINVAL);
	assert_int_equal(l.stat.bad_packets, ++nbad);
	/* and the next packet is whole again */
	g.n = 0;
	assert_int_equal(piece(&l, MTUN_F_MORE, p, sizeof(p), &g), 0);
	assert_int_equal(piece(&l, 0, p, 5, &g), 1);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.len, sizeof(p) + 5);
	assert_memory_equal(&g.vh, &(struct virtio_net_hdr){0}, sizeof(g.vh));
	/* flags only on DATA, only the known ones */
	{
		uint8_t dg[MTUN_DGRAM_MAX];
		struct mtun_hdr h;
		size_t n = mtun_seal(
		    k, dg, &(struct mtun_hdr){MTUN_ACK, 7, 1, 1, MTUN_UP, MTUN_F_MORE}, NULL, 0);

		assert_int_equal(mtun_peek(dg, n, &h), -EINVAL);
		n = mtun_seal(k, dg, &(struct mtun_hdr){MTUN_DATA, 7, 1, 1, MTUN_UP, 4}, "x", 1);
		assert_int_equal(mtun_peek(dg, n, &h), -EINVAL);
		n = mtun_seal(k, dg, &(struct mtun_hdr){MTUN_DATA, 7, 1, 1, MTUN_UP, 3}, "x", 1);
		assert_int_equal(mtun_peek(dg, n, &h), 0);
		assert_int_equal(h.flags, MTUN_F_MORE | MTUN_F_GSO);
	}
	mtun_link_free(&l);
	mtun_key_free(k);
}

static void acks_outside_the_window_are_ignored(void **s)
{
	static const uint32_t never[] = {5, 100, 0x80000000u, 0xffffffffu};
	struct mtun_key *k = key(5);
	struct mtun_link l;

	mtun_link_init(&l, 9, k);
	for (uint32_t i = 1; i <= 3; i++) {
		assert_int_equal(mtun_link_send(&l, NULL, "abc", 3), 0);
		pulls(&l, 1000, i, 1, "abc");
	}
	assert_int_equal(l.una, 1);
	assert_int_equal(l.nxt, 4);
	/* for what was never sent */
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		assert_int_equal(input(&l, MTUN_ACK, 0, never[i], 1050), 0);
		assert_int_equal(l.una, 1);
		assert_int_equal(l.qlen, 3);
	}
	/* riding on DATA too: the DATA is taken, its ack not */
	assert_int_equal(input(&l, MTUN_DATA, 1, 50, 1050), 1);
	assert_int_equal(l.qlen, 3);
	/* old ones change nothing */
	assert_int_equal(input(&l, MTUN_ACK, 0, 0, 1050), 0);
	assert_int_equal(input(&l, MTUN_ACK, 0, 1, 1050), 0);
	assert_int_equal(l.qlen, 3);
	assert_int_equal(mtun_link_deadline(&l), 1050 + MTUN_ACK_DELAY); /* for the DATA */
	/* the real ones */
	input(&l, MTUN_ACK, 0, 3, 1100);
	assert_int_equal(l.una, 3);
	assert_int_equal(l.qlen, 1);
	assert_int_equal(l.qbytes, 3);
	input(&l, MTUN_ACK, 0, 2, 1100);
	assert_int_equal(l.una, 3);
	assert_int_equal(l.qlen, 1);
	input(&l, MTUN_ACK, 0, 4, 1100);
	assert_int_equal(l.una, 4);
	assert_int_equal(l.qlen, 0);
	assert_int_equal(l.qbytes, 0);
	assert_null(l.head);
	assert_int_equal(l.rto_at, 0); /* no timer with nothing queued */
	pulls_nothing(&l, 1100);
	mtun_link_free(&l);
	mtun_key_free(k);
}

static void oldest_is_the_first_sending_of_the_oldest_queued(void **s)
{
	struct mtun_key *k = key(6);
	struct mtun_link l;

	mtun_link_init(&l, 9, k);
	assert_int_equal(mtun_link_oldest(&l), 0);
	mtun_link_send(&l, NULL, "a", 1);
	mtun_link_send(&l, NULL, "b", 1);
	mtun_link_send(&l, NULL, "c", 1);
	assert_int_equal(mtun_link_oldest(&l), 0); /* queued is not sent */
	pulls(&l, 1000, 1, 1, "a");
	assert_int_equal(mtun_link_oldest(&l), 1000);
	pulls(&l, 1200, 2, 1, "b");
	pulls(&l, 1500, 3, 1, "c");
	assert_int_equal(mtun_link_oldest(&l), 1000);
	/* sending again is not sending first */
	assert_int_equal(mtun_link_resend(&l, 1600, 1), 3);
	assert_int_equal(mtun_link_oldest(&l), 1000);
	pulls(&l, 1650, 1, 1, "a");
	pulls(&l, 1650, 2, 1, "b");
	pulls(&l, 1650, 3, 1, "c");
	assert_int_equal(mtun_link_oldest(&l), 1000);
	input(&l, MTUN_ACK, 0, 2, 1700);
	assert_int_equal(mtun_link_oldest(&l), 1200);
	/* the oldest left not pulled yet */
	mtun_link_send(&l, NULL, "d", 1);
	input(&l, MTUN_ACK, 0, 4, 1700);
	assert_int_equal(mtun_link_oldest(&l), 0);
	pulls(&l, 1800, 4, 1, "d");
	assert_int_equal(mtun_link_oldest(&l), 1800);
	input(&l, MTUN_ACK, 0, 5, 1900);
	assert_int_equal(mtun_link_oldest(&l), 0);
	mtun_link_free(&l);
	mtun_key_free(k);
}

static void receiver_takes_only_the_next(void **s)
{
	struct mtun_key *k = key(7);
	struct mtun_link l;
	uint8_t buf[MTUN_DGRAM_MAX];
	struct mtun_hdr h;
	size_t n;

	mtun_link_init(&l, 9, k);
	assert_int_equal(mtun_link_deadline(&l), 0);
	assert_int_equal(mtun_link_ack(&l, buf, 1000, 0), 0); /* none owed */
	assert_int_equal(input(&l, MTUN_DATA, 1, 1, 1000), 1);
	assert_int_equal(mtun_link_rcv(&l), 2);
	/* an ack owed shortly */
	assert_int_equal(mtun_link_deadline(&l), 1000 + MTUN_ACK_DELAY);
	assert_int_equal(mtun_link_ack(&l, buf, 1000 + MTUN_ACK_DELAY - 1, 0), 0);
	n = mtun_link_ack(&l, buf, 1000 + MTUN_ACK_DELAY, 0);
	assert_int_equal(n, MTUN_HDR + MTUN_TAG);
	assert_int_equal(mtun_peek(buf, n, &h), 0);
	assert_int_equal(h.type, MTUN_ACK);
	assert_int_equal(h.client, 9);
	assert_int_equal(h.ack, 2);
	assert_int_equal(verify(k, buf, n), 0);
	assert_int_equal(mtun_link_deadline(&l), 0);
	/* a copy, a gap, then the gap filled */
	assert_int_equal(input(&l, MTUN_DATA, 1, 1, 1010), 0);
	assert_int_equal(l.stat.duplicate, 1);
	assert_int_equal(input(&l, MTUN_DATA, 3, 1, 1010), 0);
	assert_int_equal(l.stat.out_of_order, 1);
	assert_int_equal(input(&l, MTUN_DATA, 2, 1, 1010), 1);
	assert_int_equal(input(&l, MTUN_DATA, 3, 1, 1010), 1);
	assert_int_equal(l.stat.received, 3);
	assert_int_equal(mtun_link_rcv(&l), 4);
	/* copies and gaps are acked too */
	assert_int_equal(mtun_link_deadline(&l), 1010 + MTUN_ACK_DELAY);
	/* HELLO carries an ack but no data */
	assert_int_equal(input(&l, MTUN_HELLO, 4, 1, 1010), 0);
	assert_int_equal(mtun_link_rcv(&l), 4);
	/* queuing our DATA does not pay the ack; pulling it does */
	assert_int_equal(mtun_link_send(&l, NULL, "x", 1), 0);
	assert_int_equal(mtun_link_deadline(&l), 1010 + MTUN_ACK_DELAY);
	pulls(&l, 1011, 1, 4, "x");
	assert_int_equal(mtun_link_deadline(&l), 1011 + 4 * MTUN_RTO_MIN); /* the RTO alone */
	assert_int_equal(mtun_link_ack(&l, buf, 1011 + MTUN_ACK_DELAY, 0), 0);
	/* every MTUN_ACK_EVERY datagrams an ack at once */
	for (uint32_t i = 0; i < MTUN_ACK_EVERY - 1; i++)
		input(&l, MTUN_DATA, 4 + i, 1, 1020);
	assert_int_equal(mtun_link_deadline(&l), 1020 + MTUN_ACK_DELAY);
	input(&l, MTUN_DATA, 4 + MTUN_ACK_EVERY - 1, 1, 1021);
	assert_int_equal(mtun_link_deadline(&l), 1021);
	/* forced: whether owed or not */
	assert_int_not_equal(mtun_link_ack(&l, buf, 1021, 0), 0);
	assert_int_equal(mtun_link_ack(&l, buf, 1021, 0), 0);
	assert_int_equal(mtun_link_ack(&l, buf, 1021, 1), MTUN_HDR + MTUN_TAG);
	mtun_link_free(&l);
	mtun_key_free(k);
}

static void rtt_and_timeouts(void **s)
{
	struct mtun_key *k = key(8);
	struct mtun_link l;

	mtun_link_init(&l, 9, k);
	mtun_link_send(&l, NULL, "a", 1);
	pulls(&l, 1000, 1, 1, "a");
	assert_int_equal(mtun_link_deadline(&l), 1000 + 4 * MTUN_RTO_MIN);
	input(&l, MTUN_ACK, 0, 2, 1200);
	assert_int_equal(l.srtt, 200);
	assert_int_equal(l.rto, 600);
	assert_int_equal(mtun_link_deadline(&l), 0);

	/* a timeout: everything again, the RTO doubled */
	mtun_link_send(&l, NULL, "b", 1);
	pulls(&l, 2000, 2, 1, "b");
	assert_int_equal(mtun_link_deadline(&l), 2600);
	assert_int_equal(mtun_link_resend(&l, 2599, 0), 0);
	assert_false(mtun_link_pending(&l));
	assert_int_equal(mtun_link_resend(&l, 2600, 0), 1);
	assert_int_equal(l.rto, 1200);
	assert_int_equal(l.stat.resent, 0);
	pulls(&l, 2600, 2, 1, "b");
	assert_int_equal(l.stat.resent, 1);
	assert_int_equal(mtun_link_deadline(&l), 3800);
	/* its ack may answer either copy: no RTT sample (Karn), but progress
	 * ends the backoff */
	input(&l, MTUN_ACK, 0, 3, 2650);
	assert_int_equal(l.srtt, 200);
	assert_int_equal(l.rto, 600);
	/* a fresh one is */
	mtun_link_send(&l, NULL, "c", 1);
	pulls(&l, 3000, 3, 1, "c");
	input(&l, MTUN_ACK, 0, 4, 3300);
	assert_int_equal(l.srtt, (7 * 200 + 300) / 8);
	assert_int_equal(l.rto, 3 * ((7 * 200 + 300) / 8));

	/* a forced resend (the transport changed) does not back off; timeouts
	 * do, up to MTUN_RTO_MAX; each timer from the pull after */
	mtun_link_send(&l, NULL, "d", 1);
	pulls(&l, 4000, 4, 1, "d");
	assert_int_equal(mtun_link_resend(&l, 4100, 1), 1);
	assert_int_equal(l.rto, 636);
	assert_int_equal(mtun_link_deadline(&l), 0);
	pulls(&l, 4100, 4, 1, "d");
	assert_int_equal(mtun_link_deadline(&l), 4736);
	for (uint64_t want = 1272, now = 4736; want; want = want == MTUN_RTO_MAX ? 0 : want * 2) {
		if (want > MTUN_RTO_MAX)
			want = MTUN_RTO_MAX;
		assert_int_equal(mtun_link_resend(&l, now, 0), 1);
		assert_int_equal(l.rto, want);
		assert_int_equal(mtun_link_deadline(&l), 0);
		pulls(&l, now, 4, 1, "d");
		assert_int_equal(mtun_link_deadline(&l), now + want);
		now += want;
	}
	assert_int_equal(mtun_link_resend(&l, 50000, 0), 1);
	assert_int_equal(l.rto, MTUN_RTO_MAX);
	mtun_link_free(&l);

	/* a fast link still waits MTUN_RTO_MIN */
	mtun_link_init(&l, 9, k);
	mtun_link_send(&l, NULL, "a", 1);
	mtun_link_send(&l, NULL, "b", 1);
	pulls(&l, 1000, 1, 1, "a");
	pulls(&l, 1000, 2, 1, "b");
	input(&l, MTUN_ACK, 0, 2, 1001);
	assert_int_equal(l.srtt, 1);
	assert_int_equal(l.rto, MTUN_RTO_MIN);
	assert_int_equal(mtun_link_deadline(&l), 1001 + MTUN_RTO_MIN);
	mtun_link_free(&l);
	mtun_key_free(k);
}

/* Identity and registration: files in a directory of our own */

static char dir[256];

static int make_dir(void **s)
{
	const char *t = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/test_mtun.XXXXXX", t && *t ? t : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **s)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	while (d && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
	}
	if (d)
		closedir(d);
	return rmdir(dir);
}

static void in_dir(char ret[512], const char *name)
{
	snprintf(ret, 512, "%s/%s", dir, name);
}

static size_t slurp(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	return n;
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void keygen_writes_a_private_key_once(void **s)
{
	char p[512], pub[MTUN_PUBKEY_B64], pub2[MTUN_PUBKEY_B64], err[600] = "", before[1024],
								  after[1024];
	size_t n;
	struct stat st;

	in_dir(p, "device.key");
	assert_int_equal(mtun_keygen(p, pub, err, sizeof(err)), 0);
	assert_int_equal(strlen(pub), MTUN_PUBKEY_B64 - 1);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	n = slurp(p, before, sizeof(before));
	assert_non_null(strstr(before, "-----BEGIN PRIVATE KEY-----"));
	assert_int_equal(mtun_key_public(p, pub2, err, sizeof(err)), 0);
	assert_string_equal(pub2, pub);
	assert_int_equal(mtun_pubkey_check(pub), 0);

	/* never over an existing file */
	err[0] = '\0';
	assert_int_equal(mtun_keygen(p, pub2, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, p));
	assert_int_equal(slurp(p, after, sizeof(after)), n);
	assert_string_equal(after, before);
	assert_int_equal(mtun_key_public(p, pub2, err, sizeof(err)), 0);
	assert_string_equal(pub2, pub);

	/* another key is another key */
	in_dir(p, "other.key");
	assert_int_equal(mtun_keygen(p, pub2, err, sizeof(err)), 0);
	assert_string_not_equal(pub2, pub);
	in_dir(p, "no/such/dir.key");
	assert_int_equal(mtun_keygen(p, pub2, err, sizeof(err)), -ENOENT);
}

/* The serial and claim code of a key: stable, of their form, different for
 * another key; the code's hash ignores how a person types it. */
static void claim_code_and_serial_come_from_the_key(void **s)
{
	char p[512], q[512], pub[MTUN_PUBKEY_B64], pub2[MTUN_PUBKEY_B64], err[600];
	char serial[MTUN_SERIAL_LEN], serial2[MTUN_SERIAL_LEN], code[MTUN_CODE_LEN],
	    code2[MTUN_CODE_LEN], h[MTUN_CLAIM_HEX], h2[MTUN_CLAIM_HEX], typed[32];

	in_dir(p, "claim.key");
	in_dir(q, "claim2.key");
	assert_int_equal(mtun_keygen(p, pub, err, sizeof(err)), 0);
	assert_int_equal(mtun_keygen(q, pub2, err, sizeof(err)), 0);
	assert_int_equal(mtun_default_serial(pub, serial), 0);
	assert_int_equal(strlen(serial), MTUN_SERIAL_LEN - 1);
	assert_int_equal(strncmp(serial, "EC-", 3), 0);
	assert_true(serial[7] == '-' && serial[12] == '-');
	assert_int_equal(mtun_default_serial(pub2, serial2), 0);
	assert_string_not_equal(serial, serial2);
	assert_int_equal(mtun_default_serial("not a key", serial2), -EINVAL);
	/* a key has one spelling: another choice of the last digit's unused
	 * bits is refused, so that the same key is never two texts */
	{
		char odd[MTUN_PUBKEY_B64];
		const char *digits =
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		int v = (int)(strchr(digits, pub[42]) - digits);

		memcpy(odd, pub, sizeof(odd));
		odd[42] = digits[v ^ 1];
		assert_int_equal(mtun_pubkey_check(pub), 0);
		assert_int_equal(mtun_pubkey_check(odd), -EINVAL);
		assert_int_equal(mtun_default_serial(odd, serial2), -EINVAL);
	}

	assert_int_equal(mtun_claim_code(p, code, err, sizeof(err)), 0);
	assert_int_equal(strlen(code), MTUN_CODE_LEN - 1);
	assert_true(code[4] == '-' && code[9] == '-' && code[14] == '-');
	assert_int_equal(strspn(code, "0123456789ABCDEFGHJKMNPQRSTVWXYZ-"), strlen(code));
	assert_int_equal(mtun_claim_code(p, code2, err, sizeof(err)), 0);
	assert_string_equal(code, code2); /* the same every start */
	assert_int_equal(mtun_claim_code(q, code2, err, sizeof(err)), 0);
	assert_string_not_equal(code, code2);
	in_dir(q, "no-such.key");
	assert_int_equal(mtun_claim_code(q, code2, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "no-such.key"));

	assert_int_equal(mtun_claim_hash(pub, code, h), 0);
	assert_int_equal(strlen(h), 64);
	/* lower case, no dash, spaces: the same hash */
	snprintf(typed, sizeof(typed), " %.9s %.9s ", code, code + 10);
	for (char *c = typed; *c; c++)
		*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
	assert_int_equal(mtun_claim_hash(pub, typed, h2), 0);
	assert_string_equal(h, h2);
	/* another key's hash of the same code differs */
	assert_int_equal(mtun_claim_hash(pub2, code, h2), 0);
	assert_string_not_equal(h, h2);
	assert_int_equal(mtun_claim_hash(pub, "ABCD", h2), -EINVAL);		     /* too short */
	assert_int_equal(mtun_claim_hash(pub, "ABCD-EFGH-JKMN-PQRST", h2), -EINVAL); /* too long */
	assert_int_equal(mtun_claim_hash(pub, "ABCD-EFGH-JKMN-PQRU", h2), -EINVAL);  /* U is none */
}

/* The secret's box opens with the session key and client it was sealed for,
 * and with nothing else. */
static void secret_box_opens_only_for_its_session(void **s)
{
	uint8_t key[MTUN_KEY_LEN], other[MTUN_KEY_LEN], secret[32], out[64];
	char box[MTUN_BOX_B64(32)], copy[MTUN_BOX_B64(32)];

	memset(key, 7, sizeof(key));
	memset(other, 8, sizeof(other));
	for (int i = 0; i < 32; i++)
		secret[i] = (uint8_t)(i * 37);
	assert_int_equal(mtun_box_seal(key, 42, secret, sizeof(secret), box), 0);
	assert_int_equal(mtun_box_open(key, 42, box, out, sizeof(out)), 32);
	assert_memory_equal(out, secret, 32);
	assert_int_equal(mtun_box_open(other, 42, box, out, sizeof(out)), -EACCES);
	assert_int_equal(mtun_box_open(key, 43, box, out, sizeof(out)), -EACCES);
	assert_int_equal(mtun_box_open(key, 42, box, out, 16), -ENOSPC);
	memcpy(copy, box, sizeof(copy));
	copy[30] = copy[30] == 'A' ? 'B' : 'A';
	assert_int_equal(mtun_box_open(key, 42, copy, out, sizeof(out)), -EACCES);
	assert_int_equal(mtun_box_open(key, 42, "", out, sizeof(out)), -EINVAL);
	assert_int_equal(mtun_box_open(key, 42, "QUJD", out, sizeof(out)), -EINVAL);
	/* a fresh nonce each time */
	assert_int_equal(mtun_box_seal(key, 42, secret, sizeof(secret), copy), 0);
	assert_string_not_equal(copy, box);
}

static void key_public_refuses_what_is_not_an_ed25519_key(void **s)
{
	char p[512], pub[MTUN_PUBKEY_B64], err[600];
	void *x = mtun_dh_new(pub);
	FILE *f;

	in_dir(p, "junk.key");
	spit(p, "not a key\n");
	err[0] = '\0';
	assert_true(mtun_key_public(p, pub, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, p));
	/* a private key, but X25519 */
	in_dir(p, "x25519.key");
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, x, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	err[0] = '\0';
	assert_true(mtun_key_public(p, pub, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "Ed25519"));
	in_dir(p, "missing.key");
	assert_true(mtun_key_public(p, pub, err, sizeof(err)) < 0);
	mtun_dh_free(x);
}

static void pubkey_check_takes_only_32_bytes_in_base64(void **s)
{
	uint8_t raw[33];
	char good[MTUN_PUBKEY_B64], text[128];

	for (int i = 0; i < 33; i++)
		raw[i] = (uint8_t)(0xc0 + i);
	b64(raw, 32, good);
	assert_int_equal(mtun_pubkey_check(good), 0);
	assert_int_equal(mtun_pubkey_check(""), -EINVAL);
	assert_int_equal(mtun_pubkey_check("abc"), -EINVAL);
	assert_int_equal(mtun_pubkey_check("not base64 at all, yet 44 characters long!!!"),
			 -EINVAL);
	snprintf(text, sizeof(text), "%.43s", good); /* one short */
	assert_int_equal(mtun_pubkey_check(text), -EINVAL);
	snprintf(text, sizeof(text), "%sA", good); /* one over */
	assert_int_equal(mtun_pubkey_check(text), -EINVAL);
	snprintf(text, sizeof(text), "%s", good);
	text[10] = '*';
	assert_int_equal(mtun_pubkey_check(text), -EINVAL);
	snprintf(text, sizeof(text), " %.43s", good);
	assert_int_equal(mtun_pubkey_check(text), -EINVAL);
	snprintf(text, sizeof(text), "%.43s\n", good);
	assert_int_equal(mtun_pubkey_check(text), -EINVAL);
	b64(raw, 31, text); /* 44 characters, 31 bytes */
	assert_int_equal(strlen(text), 44);
	assert_int_equal(mtun_pubkey_check(text), -EINVAL);
	b64(raw, 33, text); /* 44 characters, 33 bytes */
	assert_int_equal(strlen(text), 44);
	assert_int_equal(mtun_pubkey_check(text), -EINVAL);
}

static void registration_proof(void **s)
{
	static const char serial[] = "EC-0001", nonce[] = "00112233445566778899aabbccddeeff";
	const int64_t ts = 1795000000;
	char ka[512], kb[512], pa[MTUN_PUBKEY_B64], pb[MTUN_PUBKEY_B64], dh[MTUN_PUBKEY_B64],
	    dh2[MTUN_PUBKEY_B64], sig[MTUN_SIG_B64], sig2[MTUN_SIG_B64], err[600];
	uint8_t raw[66];
	void *x = mtun_dh_new(dh), *y = mtun_dh_new(dh2);

	assert_non_null(x);
	assert_non_null(y);
	in_dir(ka, "a.key");
	in_dir(kb, "b.key");
	assert_int_equal(mtun_keygen(ka, pa, err, sizeof(err)), 0);
	assert_int_equal(mtun_keygen(kb, pb, err, sizeof(err)), 0);
	assert_int_equal(mtun_register_sign(ka, serial, ts, nonce, dh, sig, err, sizeof(err)), 0);
	assert_int_equal(strlen(sig), MTUN_SIG_B64 - 1);
	assert_int_equal(mtun_register_verify(pa, serial, ts, nonce, dh, sig), 0);

	/* each field is covered */
	assert_int_equal(mtun_register_verify(pa, "EC-0002", ts, nonce, dh, sig), -EACCES);
	assert_int_equal(mtun_register_verify(pa, "EC-0001 ", ts, nonce, dh, sig), -EACCES);
	assert_int_equal(mtun_register_verify(pa, serial, ts + 1, nonce, dh, sig), -EACCES);
	assert_int_equal(mtun_register_verify(pa, serial, -ts, nonce, dh, sig), -EACCES);
	assert_int_equal(
	    mtun_register_verify(pa, serial, ts, "00112233445566778899aabbccddeefe", dh, sig),
	    -EACCES);
	assert_int_equal(mtun_register_verify(pa, serial, ts, nonce, dh2, sig), -EACCES);
	/* by that key only */
	assert_int_equal(mtun_register_verify(pb, serial, ts, nonce, dh, sig), -EACCES);
	assert_int_equal(mtun_register_sign(kb, serial, ts, nonce, dh, sig2, err, sizeof(err)), 0);
	assert_int_equal(mtun_register_verify(pb, serial, ts, nonce, dh, sig2), 0);
	assert_int_equal(mtun_register_verify(pa, serial, ts, nonce, dh, sig2), -EACCES);

	/* every bit of the signature */
	assert_int_equal(EVP_DecodeBlock(raw, (const unsigned char *)sig, (int)strlen(sig)), 66);
	for (int i = 0; i < 8 * 64; i++) {
		raw[i / 8] ^= (uint8_t)(1 << i % 8);
		b64(raw, 64, sig2);
		if (mtun_register_verify(pa, serial, ts, nonce, dh, sig2) != -EACCES)
			fail_msg("signature bit %d flipped and it still verifies", i);
		raw[i / 8] ^= (uint8_t)(1 << i % 8);
	}
	b64(raw, 64, sig2);
	assert_string_equal(sig2, sig);

	/* malformed */
	memset(sig2, '!', MTUN_SIG_B64 - 1);
	sig2[MTUN_SIG_B64 - 1] = '\0';
	assert_int_equal(mtun_register_verify(pa, serial, ts, nonce, dh, sig2), -EINVAL);
	snprintf(sig2, sizeof(sig2), "%.87s", sig);
	assert_int_equal(mtun_register_verify(pa, serial, ts, nonce, dh, sig2), -EINVAL);
	assert_int_equal(mtun_register_verify(pa, serial, ts, nonce, dh, ""), -EINVAL);
	assert_int_equal(mtun_register_verify(pa, serial, ts, nonce, dh, pa), -EINVAL);
	assert_int_equal(mtun_register_verify("", serial, ts, nonce, dh, sig), -EINVAL);
	assert_int_equal(mtun_register_verify(sig, serial, ts, nonce, dh, sig), -EINVAL);
	memcpy(pb, pa, sizeof(pb));
	pb[5] = '*';
	assert_int_equal(mtun_register_verify(pb, serial, ts, nonce, dh, sig), -EINVAL);

	/* no key to sign with */
	in_dir(kb, "none.key");
	err[0] = '\0';
	assert_true(mtun_register_sign(kb, serial, ts, nonce, dh, sig2, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, kb));
	mtun_dh_free(x);
	mtun_dh_free(y);
}

/* HKDF-SHA256 (RFC 5869) written out with HMAC, one block: what both sides
 * must derive. */
static void hkdf(const uint8_t *secret, size_t n, const char *info, uint8_t ret[32])
{
	uint8_t prk[32], in[64];
	unsigned len = 0;
	size_t il = strlen(info);

	assert_non_null(HMAC(EVP_sha256(), "edgecap-mtun", 12, secret, n, prk, &len));
	memcpy(in, info, il);
	in[il] = 1;
	assert_non_null(HMAC(EVP_sha256(), prk, sizeof(prk), in, il + 1, ret, &len));
}

static void dh_agrees_per_client(void **s)
{
	char pa[MTUN_PUBKEY_B64], pb[MTUN_PUBKEY_B64], pc[MTUN_PUBKEY_B64], text[128];
	uint8_t ka[32], kb[32], kc[32], shared[32], want[32], buf[MTUN_DGRAM_MAX], low[32] = {0};
	void *a = mtun_dh_new(pa), *b = mtun_dh_new(pb), *c = mtun_dh_new(pc);
	size_t sl = sizeof(shared), n;
	struct mtun_key *x, *y;
	EVP_PKEY_CTX *ctx;

	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_int_equal(mtun_pubkey_check(pa), 0);
	assert_string_not_equal(pa, pb);
	assert_int_equal(mtun_dh_key(a, pb, 7, ka), 0);
	assert_int_equal(mtun_dh_key(b, pa, 7, kb), 0);
	assert_memory_equal(ka, kb, 32);
	/* as written out */
	ctx = EVP_PKEY_CTX_new(a, NULL);
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_derive_init(ctx), 1);
	assert_int_equal(EVP_PKEY_derive_set_peer(ctx, b), 1);
	assert_int_equal(EVP_PKEY_derive(ctx, shared, &sl), 1);
	EVP_PKEY_CTX_free(ctx);
	hkdf(shared, sl, "client 7", want);
	assert_memory_equal(ka, want, 32);
	/* another client, another key; another peer, another key */
	assert_int_equal(mtun_dh_key(a, pb, 8, kc), 0);
	assert_memory_not_equal(ka, kc, 32);
	assert_int_equal(mtun_dh_key(b, pa, 8, kb), 0);
	assert_memory_equal(kb, kc, 32);
	assert_int_equal(mtun_dh_key(a, pc, 7, kc), 0);
	assert_memory_not_equal(ka, kc, 32);
	/* one side's datagrams verify on the other */
	assert_int_equal(mtun_dh_key(b, pa, 7, kb), 0);
	x = mtun_key_new(ka);
	y = mtun_key_new(kb);
	n = mtun_seal(x, buf, &(struct mtun_hdr){MTUN_HELLO, 7, 1, 1}, "12345678", 8);
	assert_int_equal(verify(y, buf, n), 0);
	mtun_key_free(x);
	mtun_key_free(y);

	/* malformed peer keys */
	assert_int_equal(mtun_dh_key(a, "", 7, kc), -EINVAL);
	assert_int_equal(mtun_dh_key(a, "short", 7, kc), -EINVAL);
	snprintf(text, sizeof(text), "%.43s", pb);
	assert_int_equal(mtun_dh_key(a, text, 7, kc), -EINVAL);
	snprintf(text, sizeof(text), "%s", pb);
	text[0] = '!';
	assert_int_equal(mtun_dh_key(a, text, 7, kc), -EINVAL);
	/* points of low order: all-zero u, and u = 1 */
	b64(low, 32, text);
	assert_true(mtun_dh_key(a, text, 7, kc) < 0);
	low[0] = 1;
	b64(low, 32, text);
	assert_true(mtun_dh_key(a, text, 7, kc) < 0);
	mtun_dh_free(a);
	mtun_dh_free(b);
	mtun_dh_free(c);
}

/* Addresses */

static uint32_t next_address(uint32_t a)
{
	uint32_t v = a & 0xffffff;

	do
		v = (v + 1) & 0xffffff;
	while (v == 0 || v == 1 || v == 0xffffff);
	return MTUN_NET | v;
}

static uint32_t crc(const char *id)
{
	return (uint32_t)crc32(0, (const Bytef *)id, (uInt)strlen(id));
}

static void addresses(void **s)
{
	/* ids whose CRC32 falls on or next to the reserved values (found by
	 * search); what zlib says of them is checked here too */
	static const struct {
		const char *id;
		uint32_t crc, first, second;
	} edge[] = {
	    {"", 0x00000000, 0x06000002, 0x06000003},
	    {"EC10178347", 0x51000000, 0x06000002, 0x06000003},
	    {"EC27975398", 0x21000001, 0x06000002, 0x06000003},
	    {"EC39418319", 0xc3ffffff, 0x06000002, 0x06000003},
	    {"EC04365383", 0x40fffffe, 0x06fffffe, 0x06000002},
	};
	char id[32];

	/* the low 24 bits of zlib's CRC32 */
	assert_int_equal(crc("EC-0001"), 0x611a3d2f);		  /* Python's zlib.crc32 agrees */
	assert_int_equal(mtun_address("EC-0001", 0), 0x061a3d2f); /* 6.26.61.47 */
	assert_int_equal(mtun_address("EC-0001", 1), 0x061a3d30);
	assert_int_equal(mtun_address("EC-0001", 2), 0x061a3d31);
	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
		assert_int_equal(crc(edge[i].id), edge[i].crc);
		assert_int_equal(mtun_address(edge[i].id, 0), edge[i].first);
		assert_int_equal(mtun_address(edge[i].id, 1), edge[i].second);
	}
	/* many ids: in 6.0.0.0/8, never reserved, the same each time, each
	 * alternative the next address */
	for (int i = 0; i < 20000; i++) {
		uint32_t a[3];

		snprintf(id, sizeof(id), "dev-%d", i);
		for (uint32_t n = 0; n < 3; n++)
			a[n] = mtun_address(id, n);
		assert_int_equal(a[0] & 0xff000000, MTUN_NET);
		assert_int_equal(a[0] & 0xffffff,
				 next_address((crc(id) - 1) & 0xffffff) & 0xffffff);
		assert_int_not_equal(a[0], MTUN_NET);
		assert_int_not_equal(a[0], MTUN_SERVER);
		assert_int_not_equal(a[0], MTUN_NET | 0xffffff);
		assert_int_equal(a[1], next_address(a[0]));
		assert_int_equal(a[2], next_address(a[1]));
		assert_int_equal(mtun_address(id, 0), a[0]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(seal_then_peek_and_verify),
	    cmocka_unit_test(any_flipped_bit_fails),
	    cmocka_unit_test(another_key_fails),
	    cmocka_unit_test(peek_refuses_what_is_not_ours),
	    cmocka_unit_test(direction_and_ack_numbers),
	    cmocka_unit_test(datagram_is_chacha20_poly1305),
	    cmocka_unit_test(batch_empty_body),
	    cmocka_unit_test(batch_of_several),
	    cmocka_unit_test(batch_malformed),
	    cmocka_unit_test(link_over_lossy_channel),
	    cmocka_unit_test(nothing_leaves_until_pulled),
	    cmocka_unit_test(timer_runs_from_the_pull),
	    cmocka_unit_test(timer_restarts_while_the_transport_carries),
	    cmocka_unit_test(resend_pulls_the_same_again_with_a_fresher_ack),
	    cmocka_unit_test(acked_while_waiting_to_be_pulled_again_is_skipped),
	    cmocka_unit_test(full_window_refuses_and_counts),
	    cmocka_unit_test(packets_in_pieces),
	    cmocka_unit_test(malformed_packets_are_dropped_and_counted),
	    cmocka_unit_test(acks_outside_the_window_are_ignored),
	    cmocka_unit_test(oldest_is_the_first_sending_of_the_oldest_queued),
	    cmocka_unit_test(receiver_takes_only_the_next),
	    cmocka_unit_test(rtt_and_timeouts),
	    cmocka_unit_test(keygen_writes_a_private_key_once),
	    cmocka_unit_test(claim_code_and_serial_come_from_the_key),
	    cmocka_unit_test(secret_box_opens_only_for_its_session),
	    cmocka_unit_test(key_public_refuses_what_is_not_an_ed25519_key),
	    cmocka_unit_test(pubkey_check_takes_only_32_bytes_in_base64),
	    cmocka_unit_test(registration_proof),
	    cmocka_unit_test(dh_agrees_per_client),
	    cmocka_unit_test(addresses),
	};

	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
