/* password.c - see password.h. */
#include "service/password.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>

int srv_pw_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

/* A few of the passwords every guessing list starts with, at least
 * SRV_PW_MIN long (shorter ones are refused anyway). */
static const char *const common[] = {
    "123456789012", "1234567890123", "12345678901234",	 "qwertyuiopas",  "qwertyuiop123",
    "password1234", "password12345", "passwordpassword", "administrator", "letmeinletmein",
    "iloveyou1234", "changeme1234",  "welcome12345",	 "qwerty123456",  "111111111111",
    "000000000000", "abcdefghijkl",  "abc123abc123",	 "edgecap12345",  "edgecapedgecap",
};

const char *srv_pw_weak(const char *pw, const char *email, const char *name, const char *org)
{
	size_t n = strlen(pw);

	if (n < SRV_PW_MIN)
		return "want at least 12 characters";
	if (n > SRV_PW_MAX)
		return "want at most 256 characters";
	if ((email && *email && !strcasecmp(pw, email)) || (name && *name && !strcasecmp(pw, name)))
		return "is the user's own name or email";
	if (org && *org && !strcasecmp(pw, org))
		return "is the organization's name";
	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		if (!strcasecmp(pw, common[i]))
			return "is one of the most common passwords";
	return NULL;
}

int srv_pw_hash(const char *pw, char *hash)
{
	_Static_assert(crypto_pwhash_STRBYTES <= SRV_PW_HASH_MAX, "hash room");
	return crypto_pwhash_str_alg(hash, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
				     crypto_pwhash_MEMLIMIT_INTERACTIVE,
				     crypto_pwhash_ALG_ARGON2ID13)
		   ? -ENOMEM
		   : 0;
}

int srv_pw_verify(const char *hash, const char *pw)
{
	return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

void srv_pw_verify_nobody(const char *pw)
{
	static char dummy[SRV_PW_HASH_MAX];

	if (!dummy[0] && srv_pw_hash("no such user, no such password", dummy))
		return;
	srv_pw_verify(dummy, pw);
}

void srv_pw_onetime(char *buf)
{
	/* no 0/O, 1/l/I, 5/S, 2/Z, 8/B */
	static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzACDEFGHJKLMNPQRTUVWXY34679";
	const uint32_t n = sizeof(alphabet) - 1;

	for (int i = 0; i < SRV_PW_ONCE_LEN; i++)
		buf[i] = alphabet[randombytes_uniform(n)];
	buf[SRV_PW_ONCE_LEN] = '\0';
}
