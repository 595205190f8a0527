/* password.h - users' passwords: argon2id through libsodium's
 * crypto_pwhash_str (2 passes over 64 MiB, libsodium's "interactive"
 * limits: about 0.1 s here), the encoded string being what the registry
 * keeps; and the one-time passwords the bootstrap hands out.
 *
 * Hashing and verifying take the CPU and memory they are meant to: callers
 * on an event loop run them elsewhere (docs/accounts.md). */
#ifndef SRV_PASSWORD_H
#define SRV_PASSWORD_H

#include <stddef.h>

#define SRV_PW_MIN	12  /* bytes */
#define SRV_PW_MAX	256 /* bytes */
#define SRV_PW_HASH_MAX 128 /* an encoded hash with its NUL (crypto_pwhash_STRBYTES) */
#define SRV_PW_ONCE_LEN 16  /* characters of a one-time password */

/* Load libsodium: 0, or -1 (it could not start). Before any call below. */
int srv_pw_init(void);

/* Is this password acceptable for this user? NULL, or why not, in words
 * fit for "password: %s" (too short, too long, a NUL in it, the user's
 * email or name, the organization's name, a common password). */
const char *srv_pw_weak(const char *pw, const char *email, const char *name, const char *org);

/* argon2id of pw into hash (SRV_PW_HASH_MAX): 0, or -ENOMEM. */
int srv_pw_hash(const char *pw, char *hash);
/* Does pw match hash? 1 yes, 0 no (or a hash this build cannot read). */
int srv_pw_verify(const char *hash, const char *pw);
/* The same work as a failed verify, for a user that does not exist: the
 * time of an answer tells nothing. */
void srv_pw_verify_nobody(const char *pw);

/* A one-time password: SRV_PW_ONCE_LEN characters of a 51-letter alphabet
 * without look-alikes (about 90 bits), into buf (SRV_PW_ONCE_LEN + 1). */
void srv_pw_onetime(char *buf);

#endif
