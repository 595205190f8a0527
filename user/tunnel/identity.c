/* identity.c - device keys, the registration proof, the key exchange and
 * management addresses, see identity.h. */
#include "tunnel/identity.h"

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

static void b64(const uint8_t *p, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

/* base64 of exactly want bytes: 0 or -EINVAL */
static int unb64(const char *text, uint8_t *out, size_t want)
{
	size_t len = strlen(text), pad = 0;
	uint8_t buf[128];
	char again[4 * sizeof(buf) / 3 + 4];
	int n;

	if (len != 4 * ((want + 2) / 3) || len > 4 * sizeof(buf) / 3)
		return -EINVAL;
	while (pad < 2 && len > pad && text[len - 1 - pad] == '=')
		pad++;
	n = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)len);
	if (n < 0 || (size_t)n - pad != want)
		return -EINVAL;
	/* one spelling per value: the unused low bits of the last digit are
	 * zero, so that a key compared as text is compared as a key */
	b64(buf, want, again);
	if (strcmp(again, text))
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

int mtun_pubkey_raw(const char *text, uint8_t ret[32])
{
	return unb64(text, ret, 32);
}

int mtun_ed25519_verify(const char *pubkey, const void *msg, size_t len, const char *sig)
{
	uint8_t raw[32], s[64];
	EVP_PKEY *k = NULL;
	EVP_MD_CTX *md = NULL;
	int r = -EACCES;

	if (unb64(pubkey, raw, sizeof(raw)) || unb64(sig, s, sizeof(s)))
		return -EINVAL;
	k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, sizeof(raw));
	md = EVP_MD_CTX_new();
	if (k && md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestVerify(md, s, sizeof(s), msg, len) == 1)
		r = 0;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	return r;
}

int mtun_register_tail(char ret[MTUN_TAIL_MAX], const char *dh, const char *pubkey,
		       const char *claim, const char *name, const char *agent, int tls)
{
	int n = snprintf(ret, MTUN_TAIL_MAX, "%s\n%s\n%s\n%s\n%s\n%d", dh, pubkey ? pubkey : "",
			 claim ? claim : "", name ? name : "", agent ? agent : "", !!tls);

	return n < 0 || n >= MTUN_TAIL_MAX ? -EINVAL : 0;
}

static int proof(char *buf, size_t len, const char *serial, int64_t ts, const char *nonce,
		 const char *dh)
{
	int n =
	    snprintf(buf, len, "edgecap-register\n%s\n%" PRId64 "\n%s\n%s", serial, ts, nonce, dh);

	return n < 0 || (size_t)n >= len ? -EINVAL : n;
}

int mtun_register_sign(const char *keyfile, const char *serial, int64_t ts, const char *nonce,
		       const char *dh, char ret_sig[MTUN_SIG_B64], char *err, size_t errlen)
{
	EVP_PKEY *k = load_private(keyfile, err, errlen);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char msg[1024];
	uint8_t sig[64];
	size_t siglen = sizeof(sig);
	int n = proof(msg, sizeof(msg), serial, ts, nonce, dh), r = -EIO;

	if (!k || !md || n < 0)
		goto out;
	if (EVP_DigestSignInit(md, NULL, NULL, NULL, k) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (const uint8_t *)msg, (size_t)n) != 1 ||
	    siglen != 64) {
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
	char msg[1024];
	int n = proof(msg, sizeof(msg), serial, ts, nonce, dh);

	return n < 0 ? -EINVAL : mtun_ed25519_verify(pubkey, msg, (size_t)n, sig);
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
		    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
		    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, shared, sizeof(shared)),
		    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)"edgecap-mtun",
						      12),
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
