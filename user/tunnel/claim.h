/* claim.h - how a device joins by claim (docs/tunnel.md, "Joining by
 * claim"): the serial it goes by unless one is configured, the claim code
 * its owner types, the hash of that code it announces, and the box in which
 * the registration's answer carries its secret. */
#ifndef ECAP_MTUN_CLAIM_H
#define ECAP_MTUN_CLAIM_H

#include <stddef.h>
#include <stdint.h>

#include "tunnel/wire.h"

#define MTUN_SERIAL_LEN 18 /* "EC-XXXX-XXXX-XXXX" and the NUL */
#define MTUN_CODE_CHARS 16 /* 80 bits in Crockford's base32 */
#define MTUN_CODE_LEN	20 /* "XXXX-XXXX-XXXX-XXXX" and the NUL */
#define MTUN_CLAIM_HEX	65 /* SHA-256 in hex and the NUL */

/* The serial of a device with this public key (base64): "EC-" and twelve
 * base32 digits of SHA-256 of its raw bytes. 0 or -EINVAL. */
int mtun_default_serial(const char *pubkey, char ret[MTUN_SERIAL_LEN]);

/* The claim code of the key in keyfile: sixteen base32 digits of SHA-256
 * of the key's (deterministic) Ed25519 signature over "edgecap-claim\n"
 * pubkey, as "XXXX-XXXX-XXXX-XXXX". Only the key's holder can make it, and
 * its 80 bits stay out of reach of a search from the announced hash. 0 or
 * -errno with err. */
int mtun_claim_code(const char *keyfile, char ret[MTUN_CODE_LEN], char *err, size_t errlen);

/* What the device announces and the server keeps: SHA-256 in hex of
 * "edgecap-claim-code\n" pubkey "\n" code, the code as typed made canonical
 * (case, dashes and spaces, O for 0, I and L for 1 ignored). 0, or -EINVAL
 * when the code is not sixteen base32 digits. */
int mtun_claim_hash(const char *pubkey, const char *code, char ret[MTUN_CLAIM_HEX]);

/* The device's secret in the registration's answer: ChaCha20-Poly1305 under
 * a key made from the session key (HMAC-SHA256(session key, "edgecap
 * secret")), the client id as associated data; base64 of nonce, ciphertext
 * and tag. seal: 0 or -EIO (ret holds 4 * (len + 28 + 2) / 3 + 1). open: the
 * length, or -EINVAL (malformed), -EACCES (does not verify), -ENOSPC. */
#define MTUN_BOX_B64(len) (4 * ((len) + 28 + 2) / 3 + 1)
int mtun_box_seal(const uint8_t key[MTUN_KEY_LEN], uint32_t client, const uint8_t *plain,
		  size_t len, char *ret);
int mtun_box_open(const uint8_t key[MTUN_KEY_LEN], uint32_t client, const char *text, uint8_t *ret,
		  size_t cap);

/* The grant, as the server signs it with its device CA's key (Ed25519):
 *   "edgecap-granted\n" serial "\n" nonce "\n" dh "\n" client "\n" sdh
 *   "\n" address "\n" secret "\n" SHA-256(cert) in hex [ "\nvia " via ]
 * (nonce and dh the device's registration's, sdh the server's half, secret
 * the sealed box, cert "" for none, via the gateway's address for a device
 * relayed by it, NULL or "" for none): the device trusts an answer only
 * from the key it trusted first. Into ret (MTUN_GRANT_MAX): 0 or -EINVAL. */
#define MTUN_GRANT_MAX 1024
int mtun_grant_text(char ret[MTUN_GRANT_MAX], const char *serial, const char *nonce, const char *dh,
		    uint32_t client, const char *sdh, const char *address, const char *secret,
		    const char *cert, const char *via);
/* Does sig (base64) by pubkey (base64 of 32 raw bytes) verify over text?
 * 0, -EACCES, -EINVAL. */
int mtun_grant_verify(const char *pubkey, const char *text, const char *sig);

#endif
