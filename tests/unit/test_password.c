/* test_password.c - users' passwords (server/service/password.h): argon2id
 * hashes that verify the password and nothing else, the rules a new
 * password meets, one-time passwords. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "service/password.h"

static void hashes_verify_the_password_only(void **state)
{
	char h1[SRV_PW_HASH_MAX], h2[SRV_PW_HASH_MAX];

	assert_int_equal(srv_pw_init(), 0);
	assert_int_equal(srv_pw_hash("correct horse battery", h1), 0);
	assert_int_equal(srv_pw_hash("correct horse battery", h2), 0);
	assert_non_null(strstr(h1, "$argon2id$"));
	assert_string_not_equal(h1, h2); /* salted */
	assert_int_equal(srv_pw_verify(h1, "correct horse battery"), 1);
	assert_int_equal(srv_pw_verify(h2, "correct horse battery"), 1);
	assert_int_equal(srv_pw_verify(h1, "correct horse batterY"), 0);
	assert_int_equal(srv_pw_verify(h1, ""), 0);
	assert_int_equal(srv_pw_verify("not a hash", "correct horse battery"), 0);
	srv_pw_verify_nobody("anything at all"); /* does the work, finds nothing */
}

static void weak_passwords_are_named(void **state)
{
	char big[SRV_PW_MAX + 2];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_string_equal(srv_pw_weak("short", NULL, NULL, NULL), "want at least 12 characters");
	assert_string_equal(srv_pw_weak(big, NULL, NULL, NULL), "want at most 256 characters");
	assert_string_equal(srv_pw_weak("Alice@Example.com", "alice@example.com", "alice", "acme"),
			    "is the user's own name or email");
	assert_string_equal(srv_pw_weak("acme-networks", "a@b.c", "alice", "ACME-Networks"),
			    "is the organization's name");
	assert_string_equal(srv_pw_weak("Password1234", "a@b.c", "alice", "acme"),
			    "is one of the most common passwords");
	assert_null(srv_pw_weak("tcpdump -i eth0 port 53", "a@b.c", "alice", "acme"));
}

static void onetime_passwords_are_random_and_plain(void **state)
{
	char a[SRV_PW_ONCE_LEN + 1], b[SRV_PW_ONCE_LEN + 1];

	srv_pw_onetime(a);
	srv_pw_onetime(b);
	assert_int_equal(strlen(a), SRV_PW_ONCE_LEN);
	assert_string_not_equal(a, b);
	for (int i = 0; i < SRV_PW_ONCE_LEN; i++)
		assert_null(strchr("0O1lI5S2Z8B", a[i])); /* no look-alikes */
	assert_null(srv_pw_weak(a, NULL, NULL, NULL));	  /* long enough to be kept */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(hashes_verify_the_password_only),
	    cmocka_unit_test(weak_passwords_are_named),
	    cmocka_unit_test(onetime_passwords_are_random_and_plain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
