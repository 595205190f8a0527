/* auth.c - request signatures, see auth.h. */
#include "common/auth.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sign(const uint8_t *secret, size_t secret_len, const char *method, size_t method_len,
		const char *target, size_t target_len, int64_t ts, const char *nonce,
		uint8_t ret[32])
{
	char tail[32 + ECAP_AUTH_NONCE_MAX];
	int n = snprintf(tail, sizeof(tail), "\n%" PRId64 "\n%s", ts, nonce);
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_end(),
	};
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *h = mac ? EVP_MAC_CTX_new(mac) : NULL;
	size_t len = 0;
	int ok;

	ok = h && EVP_MAC_init(h, secret, secret_len, params) &&
	     EVP_MAC_update(h, (const uint8_t *)method, method_len) &&
	     EVP_MAC_update(h, (const uint8_t *)"\n", 1) &&
	     EVP_MAC_update(h, (const uint8_t *)target, target_len) &&
	     EVP_MAC_update(h, (const uint8_t *)tail, (size_t)n) && EVP_MAC_final(h, ret, &len, 32);
	EVP_MAC_CTX_free(h);
	EVP_MAC_free(mac);
	return ok && len == 32 ? 0 : -EIO;
}

int ecap_auth_header(const uint8_t *secret, size_t secret_len, const char *method,
		     const char *target, size_t target_len, int64_t now, char *ret, size_t retlen)
{
	uint8_t raw[16], sig[32];
	char nonce[2 * sizeof(raw) + 1], sighex[65];
	int r;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -EIO;
	ecap_hex_encode(raw, sizeof(raw), nonce);
	r = sign(secret, secret_len, method, strlen(method), target, target_len, now, nonce, sig);
	if (r)
		return r;
	ecap_hex_encode(sig, sizeof(sig), sighex);
	r = snprintf(ret, retlen, ECAP_AUTH_SCHEME " ts=%" PRId64 ",nonce=%s,sig=%s", now, nonce,
		     sighex);
	return r < 0 || (size_t)r >= retlen ? -ENOSPC : 0;
}

int ecap_auth_parse(const char *value, size_t len, struct ecap_auth *ret)
{
	static const char scheme[] = ECAP_AUTH_SCHEME " ";
	const char *p = value, *end = value + len;
	struct ecap_auth a = {0};
	int have = 0;

	if (len < sizeof(scheme) - 1 || strncasecmp(p, scheme, sizeof(scheme) - 1))
		return -EINVAL;
	p += sizeof(scheme) - 1;
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p)), *eq;
		const char *stop = comma ? comma : end;
		size_t vlen;

		eq = memchr(p, '=', (size_t)(stop - p));
		if (!eq)
			return -EINVAL;
		vlen = (size_t)(stop - eq - 1);
		if (eq - p == 2 && !memcmp(p, "ts", 2) && !(have & 1)) {
			char num[24], *e;

			if (!vlen || vlen >= sizeof(num))
				return -EINVAL;
			memcpy(num, eq + 1, vlen);
			num[vlen] = 0;
			errno = 0;
			a.ts = strtoll(num, &e, 10);
			if (errno || *e || a.ts <= 0)
				return -EINVAL;
			have |= 1;
		} else if (eq - p == 5 && !memcmp(p, "nonce", 5) && !(have & 2)) {
			if (vlen < ECAP_AUTH_NONCE_MIN || vlen > ECAP_AUTH_NONCE_MAX)
				return -EINVAL;
			for (size_t i = 0; i < vlen; i++)
				if (ecap_hex_digit(eq[1 + i]) < 0)
					return -EINVAL;
			memcpy(a.nonce, eq + 1, vlen);
			have |= 2;
		} else if (eq - p == 3 && !memcmp(p, "sig", 3) && !(have & 4)) {
			if (ecap_hex_decode_n(eq + 1, vlen, a.sig, sizeof(a.sig)))
				return -EINVAL;
			have |= 4;
		} else {
			return -EINVAL;
		}
		p = comma ? comma + 1 : end;
	}
	if (have != 7)
		return -EINVAL;
	*ret = a;
	return 0;
}

int ecap_auth_verify(const struct ecap_auth *a, const uint8_t *secret, size_t secret_len,
		     const char *method, size_t method_len, const char *target, size_t target_len,
		     int64_t now)
{
	uint8_t want[32];
	int r =
	    sign(secret, secret_len, method, method_len, target, target_len, a->ts, a->nonce, want);

	if (r)
		return r;
	if (CRYPTO_memcmp(want, a->sig, sizeof(want)))
		return -EACCES;
	if (a->ts < now - ECAP_AUTH_SKEW || a->ts > now + ECAP_AUTH_SKEW)
		return -ETIME;
	return 0;
}

int ecap_nonces_use(struct ecap_nonces *n, const struct ecap_auth *a, int64_t now)
{
	int free_at = -1;

	for (int i = 0; i < ECAP_AUTH_NONCES; i++) {
		/* an entry is needed while its timestamp is acceptable: after
		 * that, a replay is refused as stale anyway */
		if (n->e[i].ts && n->e[i].ts + ECAP_AUTH_SKEW < now)
			n->e[i].ts = 0;
		if (!n->e[i].ts) {
			if (free_at < 0)
				free_at = i;
			continue;
		}
		if (!strcmp(n->e[i].nonce, a->nonce))
			return -EALREADY;
	}
	if (free_at < 0)
		return -ENOSPC;
	n->e[free_at].ts = a->ts;
	memcpy(n->e[free_at].nonce, a->nonce, sizeof(a->nonce));
	return 0;
}
