/* test_auth.c - request signatures: a vector computed with Python's hmac,
 * header parsing, the clock window, the nonce table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/auth.h"

static const uint8_t secret[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const char target[] = "/v1/capture?bpf=1,6%200%200%2065535";
/* tests/netns/sign.py 000102030405060708090a0b0c0d0e0f GET TARGET 1795000000
 *   00112233445566778899aabbccddeeff */
static const char vector[] = "Edgecap-HMAC ts=1795000000,nonce=00112233445566778899aabbccddeeff,"
			     "sig=15f6aee65e1d49d558a32ffad01ca0f255a61b2cb03f16b84a39dc4439bf3b02";

static int verify(const char *header, const char *method, const char *t, int64_t now)
{
	struct ecap_auth a;
	int r = ecap_auth_parse(header, strlen(header), &a);

	return r ? r
		 : ecap_auth_verify(&a, secret, sizeof(secret), method, strlen(method), t,
				    strlen(t), now);
}

static void python_vector_verifies(void **s)
{
	assert_int_equal(verify(vector, "GET", target, 1795000000), 0);
	assert_int_equal(verify(vector, "GET", target, 1795000000 + ECAP_AUTH_SKEW), 0);
	assert_int_equal(verify(vector, "POST", target, 1795000000), -EACCES);
	assert_int_equal(verify(vector, "GET", "/v1/capture?bpf=1,6%200%200%2065534", 1795000000),
			 -EACCES);
}

static void clock_window(void **s)
{
	assert_int_equal(verify(vector, "GET", target, 1795000000 + ECAP_AUTH_SKEW + 1), -ETIME);
	assert_int_equal(verify(vector, "GET", target, 1795000000 - ECAP_AUTH_SKEW - 1), -ETIME);
}

static void own_header_round_trips(void **s)
{
	char h[ECAP_AUTH_HEADER_MAX], h2[ECAP_AUTH_HEADER_MAX];

	assert_int_equal(ecap_auth_header(secret, sizeof(secret), "GET", target, strlen(target),
					  1795000123, h, sizeof(h)),
			 0);
	assert_int_equal(verify(h, "GET", target, 1795000123), 0);
	assert_int_equal(ecap_auth_header(secret, sizeof(secret), "GET", target, strlen(target),
					  1795000123, h2, sizeof(h2)),
			 0);
	assert_string_not_equal(h, h2); /* a fresh nonce each time */
	assert_int_equal(ecap_auth_header(secret, sizeof(secret), "GET", target, strlen(target),
					  1795000123, h, 40),
			 -ENOSPC);
}

static void malformed_headers(void **s)
{
	static const char *const bad[] = {
	    "",
	    "Bearer abc",
	    "Edgecap-HMAC",
	    "Edgecap-HMAC ts=1795000000",
	    "Edgecap-HMAC ts=1795000000,nonce=00112233445566778899aabbccddeeff",
	    "Edgecap-HMAC ts=x,nonce=00112233445566778899aabbccddeeff,sig=" /* bad ts */
	    "15f6aee65e1d49d558a32ffad01ca0f255a61b2cb03f16b84a39dc4439bf3b02",
	    "Edgecap-HMAC ts=1795000000,nonce=0011,sig=" /* short nonce */
	    "15f6aee65e1d49d558a32ffad01ca0f255a61b2cb03f16b84a39dc4439bf3b02",
	    "Edgecap-HMAC ts=1795000000,nonce=00112233445566778899aabbccddeeff,sig=15f6",
	    "Edgecap-HMAC ts=1795000000,nonce=0011223344556677889zaabbccddeeff,sig="
	    "15f6aee65e1d49d558a32ffad01ca0f255a61b2cb03f16b84a39dc4439bf3b02",
	    "Edgecap-HMAC ts=1,ts=2,nonce=00112233445566778899aabbccddeeff,sig="
	    "15f6aee65e1d49d558a32ffad01ca0f255a61b2cb03f16b84a39dc4439bf3b02",
	    "Edgecap-HMAC ts=1795000000,nonce=00112233445566778899aabbccddeeff,sig="
	    "15f6aee65e1d49d558a32ffad01ca0f255a61b2cb03f16b84a39dc4439bf3b02,extra=1",
	};
	struct ecap_auth a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ecap_auth_parse(bad[i], strlen(bad[i]), &a), -EINVAL);
}

static void nonces_refuse_replays_and_expire(void **s)
{
	static struct ecap_nonces n;
	struct ecap_auth a = {.ts = 1000};

	strcpy(a.nonce, "00112233445566778899aabbccddeeff");
	assert_int_equal(ecap_nonces_use(&n, &a, 1000), 0);
	assert_int_equal(ecap_nonces_use(&n, &a, 1010), -EALREADY);
	/* once its timestamp is out of the window the entry may go */
	assert_int_equal(ecap_nonces_use(&n, &a, 1000 + ECAP_AUTH_SKEW + 1), 0);
}

static void nonce_table_is_bounded(void **s)
{
	static struct ecap_nonces n;
	struct ecap_auth a = {.ts = 5000};

	for (int i = 0; i < ECAP_AUTH_NONCES; i++) {
		snprintf(a.nonce, sizeof(a.nonce), "%032x", i);
		assert_int_equal(ecap_nonces_use(&n, &a, 5000), 0);
	}
	snprintf(a.nonce, sizeof(a.nonce), "%032x", ECAP_AUTH_NONCES);
	assert_int_equal(ecap_nonces_use(&n, &a, 5000), -ENOSPC);
	assert_int_equal(ecap_nonces_use(&n, &a, 5000 + ECAP_AUTH_SKEW + 1), 0);
}

static void hex_secrets(void **s)
{
	uint8_t b[4];

	assert_int_equal(ecap_hex_decode(" 0a0B ff\n", b, sizeof(b)), -EINVAL); /* inner space */
	assert_int_equal(ecap_hex_decode(" 0a0Bff\n", b, sizeof(b)), 3);
	assert_int_equal(b[1], 0x0b);
	assert_int_equal(ecap_hex_decode("0a0b0c0d0e", b, sizeof(b)), -EINVAL);
	assert_int_equal(ecap_hex_decode("abc", b, sizeof(b)), -EINVAL);
	assert_int_equal(ecap_hex_decode("", b, sizeof(b)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(python_vector_verifies),
	    cmocka_unit_test(clock_window),
	    cmocka_unit_test(own_header_round_trips),
	    cmocka_unit_test(malformed_headers),
	    cmocka_unit_test(nonces_refuse_replays_and_expire),
	    cmocka_unit_test(nonce_table_is_bounded),
	    cmocka_unit_test(hex_secrets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
