/* claim.c - serials, claim codes and the secret's box, see claim.h. */
#include "tunnel/claim.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "common/hex.h"
#include "tunnel/identity.h"

/* Crockford's base32: no I, L, O or U, so that a code read aloud or from a
 * label survives. */
static const char digits[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void base32(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		size_t bit = i * 5;
		unsigned v = (unsigned)p[bit / 8] << 8 | (bit / 8 + 1 < 32 ? p[bit / 8 + 1] : 0);

		out[i] = digits[(v >> (11 - bit % 8)) & 31];
	}
}

int mtun_default_serial(const char *pubkey, char ret[MTUN_SERIAL_LEN])
{
	uint8_t raw[32], h[32];
	char d[12];

	if (mtun_pubkey_raw(pubkey, raw))
		return -EINVAL;
	SHA256(raw, sizeof(raw), h);
	base32(h, sizeof(d), d);
	snprintf(ret, MTUN_SERIAL_LEN, "EC-%.4s-%.4s-%.4s", d, d + 4, d + 8);
	return 0;
}

int mtun_claim_code(const char *keyfile, char ret[MTUN_CODE_LEN], char *err, size_t errlen)
{
	FILE *f = fopen(keyfile, "re");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t raw[32], sig[64], h[32];
	size_t rawlen = sizeof(raw), siglen = sizeof(sig);
	char msg[80], pub[48], d[MTUN_CODE_CHARS];
	int r = -EIO;

	if (f)
		fclose(f);
	if (!k || EVP_PKEY_get_id(k) != EVP_PKEY_ED25519 ||
	    !EVP_PKEY_get_raw_public_key(k, raw, &rawlen) || rawlen != 32) {
		snprintf(err, errlen, "%s: %s", keyfile,
			 f ? "not an Ed25519 private key in PEM" : strerror(errno));
		goto out;
	}
	EVP_EncodeBlock((unsigned char *)pub, raw, 32);
	snprintf(msg, sizeof(msg), "edgecap-claim\n%s", pub);
	if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, k) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (const uint8_t *)msg, strlen(msg)) != 1) {
		snprintf(err, errlen, "signing the claim code failed");
		goto out;
	}
	SHA256(sig, siglen, h);
	base32(h, sizeof(d), d);
	snprintf(ret, MTUN_CODE_LEN, "%.4s-%.4s-%.4s-%.4s", d, d + 4, d + 8, d + 12);
	r = 0;
out:
	OPENSSL_cleanse(sig, sizeof(sig));
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	return r;
}

/* The code's ten digits as issued: 0, or -EINVAL. */
static int canonical(const char *code, char out[MTUN_CODE_CHARS + 1])
{
	size_t n = 0;

	for (const char *p = code; *p; p++) {
		char c = *p >= 'a' && *p <= 'z' ? (char)(*p - 32) : *p;

		if (c == '-' || c == ' ')
			continue;
		c = c == 'O' ? '0' : c == 'I' || c == 'L' ? '1' : c;
		if (!c || !strchr(digits, c) || n == MTUN_CODE_CHARS)
			return -EINVAL;
		out[n++] = c;
	}
	out[n] = 0;
	return n == MTUN_CODE_CHARS ? 0 : -EINVAL;
}

int mtun_claim_hash(const char *pubkey, const char *code, char ret[MTUN_CLAIM_HEX])
{
	char c[MTUN_CODE_CHARS + 1], msg[112];
	uint8_t h[32];

	if (strlen(code) > 64 || canonical(code, c) || strlen(pubkey) > 64)
		return -EINVAL;
	snprintf(msg, sizeof(msg), "edgecap-claim-code\n%s\n%s", pubkey, c);
	SHA256((const uint8_t *)msg, strlen(msg), h);
	ecap_hex_encode(h, sizeof(h), ret);
	return 0;
}

/* The box's key, apart from the link's own */
static void box_key(const uint8_t key[MTUN_KEY_LEN], uint8_t ret[32])
{
	unsigned len = 32;

	HMAC(EVP_sha256(), key, MTUN_KEY_LEN, (const uint8_t *)"edgecap secret", 14, ret, &len);
}

/* One ChaCha20-Poly1305 pass: 0, or -EACCES when opening fails to verify */
static int aead(const uint8_t key[MTUN_KEY_LEN], uint32_t client, int seal, const uint8_t nonce[12],
		const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t k[32], ad[4] = {client >> 24, client >> 16 & 255, client >> 8 & 255, client & 255};
	int n = 0, r = -EIO;

	box_key(key, k);
	if (!c || EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, k, nonce, seal) != 1 ||
	    EVP_CipherUpdate(c, NULL, &n, ad, sizeof(ad)) != 1 ||
	    EVP_CipherUpdate(c, out, &n, in, (int)len) != 1)
		goto out;
	if (seal)
		r = EVP_CipherFinal_ex(c, out + n, &n) == 1 &&
			    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1
			? 0
			: -EIO;
	else
		r = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1 &&
			    EVP_CipherFinal_ex(c, out + n, &n) == 1
			? 0
			: -EACCES;
out:
	OPENSSL_cleanse(k, sizeof(k));
	EVP_CIPHER_CTX_free(c);
	return r;
}

#define BOX_MAX 256

int mtun_box_seal(const uint8_t key[MTUN_KEY_LEN], uint32_t client, const uint8_t *plain,
		  size_t len, char *ret)
{
	uint8_t box[12 + BOX_MAX + 16];

	if (len > BOX_MAX || RAND_bytes(box, 12) != 1 ||
	    aead(key, client, 1, box, plain, len, box + 12, box + 12 + len))
		return -EIO;
	EVP_EncodeBlock((unsigned char *)ret, box, (int)(12 + len + 16));
	OPENSSL_cleanse(box, sizeof(box));
	return 0;
}

int mtun_box_open(const uint8_t key[MTUN_KEY_LEN], uint32_t client, const char *text, uint8_t *ret,
		  size_t cap)
{
	uint8_t box[4 * (12 + BOX_MAX + 16) / 3 + 4];
	size_t tlen = strlen(text), pad = 0, n;
	int d, r;

	if (!tlen || tlen % 4 || tlen > 4 * ((12 + BOX_MAX + 16 + 2) / 3))
		return -EINVAL;
	while (pad < 2 && text[tlen - 1 - pad] == '=')
		pad++;
	d = EVP_DecodeBlock(box, (const unsigned char *)text, (int)tlen);
	if (d < 0 || (size_t)d - pad < 12 + 16)
		return -EINVAL;
	n = (size_t)d - pad - 12 - 16;
	if (n > cap)
		return -ENOSPC;
	r = aead(key, client, 0, box, box + 12, n, ret, box + 12 + n);
	OPENSSL_cleanse(box, sizeof(box));
	if (r) {
		OPENSSL_cleanse(ret, n);
		return r;
	}
	return (int)n;
}

int mtun_grant_text(char ret[MTUN_GRANT_MAX], const char *serial, const char *nonce, const char *dh,
		    uint32_t client, const char *sdh, const char *address, const char *secret,
		    const char *cert, const char *via)
{
	uint8_t h[32];
	char hex[65];
	int n;

	SHA256((const uint8_t *)(cert ? cert : ""), cert ? strlen(cert) : 0, h);
	ecap_hex_encode(h, sizeof(h), hex);
	n = snprintf(ret, MTUN_GRANT_MAX, "edgecap-granted\n%s\n%s\n%s\n%u\n%s\n%s\n%s\n%s%s%s",
		     serial, nonce, dh, client, sdh, address, secret, hex,
		     via && *via ? "\nvia " : "", via && *via ? via : "");
	return n < 0 || n >= MTUN_GRANT_MAX ? -EINVAL : 0;
}

int mtun_grant_verify(const char *pubkey, const char *text, const char *sig)
{
	return mtun_ed25519_verify(pubkey, text, strlen(text), sig);
}
