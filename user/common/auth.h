/* auth.h - how edgecap-server authenticates its requests to edgecap-agent.
 *
 *   Authorization: Edgecap-HMAC ts=<unix seconds>,nonce=<hex>,sig=<hex>
 *   sig = hex(HMAC-SHA256(secret, METHOD "\n" TARGET "\n" ts "\n" nonce))
 *
 * TARGET is the request target exactly as sent (path and query). The agent
 * refuses a timestamp more than ECAP_AUTH_SKEW seconds off its clock, and a
 * nonce it has already seen while that timestamp is acceptable. The secret
 * is the device's, from enrolment. */
#ifndef ECAP_AUTH_H
#define ECAP_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common/hex.h"

#define ECAP_AUTH_SCHEME     "Edgecap-HMAC"
#define ECAP_AUTH_SKEW	     60
#define ECAP_AUTH_SECRET_MIN 16
#define ECAP_AUTH_SECRET_MAX 64
#define ECAP_AUTH_NONCE_MIN  16 /* hex digits */
#define ECAP_AUTH_NONCE_MAX  64
#define ECAP_AUTH_HEADER_MAX 256

struct ecap_auth {
	int64_t ts;
	char nonce[ECAP_AUTH_NONCE_MAX + 1];
	uint8_t sig[32];
};

/* The header value for a request, with a fresh random nonce; 0 or -errno. */
int ecap_auth_header(const uint8_t *secret, size_t secret_len, const char *method,
		     const char *target, size_t target_len, int64_t now, char *ret, size_t retlen);

/* Parse a header value: 0, or -EINVAL when it is not ours or malformed. */
int ecap_auth_parse(const char *value, size_t len, struct ecap_auth *ret);

/* 0 when the signature is right and the timestamp fresh; -EACCES for a
 * wrong signature, -ETIME for a stale or future timestamp. */
int ecap_auth_verify(const struct ecap_auth *a, const uint8_t *secret, size_t secret_len,
		     const char *method, size_t method_len, const char *target, size_t target_len,
		     int64_t now);

/* Nonces seen within the acceptance window, a bounded table: a peer that
 * signs more than ECAP_AUTH_NONCES requests per 2 * ECAP_AUTH_SKEW seconds
 * is refused until entries expire. */
#define ECAP_AUTH_NONCES 1024
struct ecap_nonces {
	struct {
		int64_t ts; /* 0: free */
		char nonce[ECAP_AUTH_NONCE_MAX + 1];
	} e[ECAP_AUTH_NONCES];
};

/* Record a's nonce: 0, -EALREADY for a replay, -ENOSPC when the table is
 * full of live entries. */
int ecap_nonces_use(struct ecap_nonces *n, const struct ecap_auth *a, int64_t now);

#endif
