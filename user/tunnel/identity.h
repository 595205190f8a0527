/* identity.h - who a device is to the mTunnel: its Ed25519 key pair, the
 * signed registration and the X25519 exchange that gives both sides the
 * session key, and its management address in 6.0.0.0/8. */
#ifndef ECAP_MTUN_IDENTITY_H
#define ECAP_MTUN_IDENTITY_H

#include <stdint.h>

#include "tunnel/wire.h"

#define MTUN_NET	0x06000000u /* 6.0.0.0/8 */
#define MTUN_NET_PREFIX 8
#define MTUN_SERVER	0x06000001u /* the server's own management address */

/* Identity. A device's key pair is Ed25519: private key in a PKCS#8 PEM file,
 * public key as base64 of its 32 raw bytes (44 characters). */
#define MTUN_PUBKEY_B64 45 /* with the NUL */
#define MTUN_SIG_B64	89
/* Create a key pair into path (mode 0600, never overwriting): 0 or -errno. */
int mtun_keygen(const char *path, char ret_pub[MTUN_PUBKEY_B64], char *err, size_t errlen);
/* The public key of the private key in path: 0 or -errno. */
int mtun_key_public(const char *path, char ret_pub[MTUN_PUBKEY_B64], char *err, size_t errlen);
/* Is text a public key in our form? 0 or -EINVAL. Its 32 raw bytes: the
 * same. */
int mtun_pubkey_check(const char *text);
int mtun_pubkey_raw(const char *text, uint8_t ret[32]);
/* Does sig (base64 of 64 bytes) by pubkey (our form) verify over msg? 0,
 * -EACCES, -EINVAL. */
int mtun_ed25519_verify(const char *pubkey, const void *msg, size_t len, const char *sig);

/* Registration. The device signs
 *   "edgecap-register\n" serial "\n" ts "\n" nonce "\n" tail
 * where tail (mtun_register_tail) is its fresh X25519 public key (base64)
 * and every other word the registration carries, so that none can be
 * changed on the way; the server answers with its own X25519 key, and both
 * derive the session key with HKDF-SHA256 from the shared secret, salt
 * "edgecap-mtun", info "client " id: the key never travels. */
#define MTUN_REGISTER_SKEW 60 /* s */
#define MTUN_TAIL_MAX	   512
/* dh "\n" pubkey "\n" claim "\n" name "\n" agent "\n" tls ("" for each
 * absent, tls "1" or "0") into ret (MTUN_TAIL_MAX): 0 or -EINVAL (too long). */
int mtun_register_tail(char ret[MTUN_TAIL_MAX], const char *dh, const char *pubkey,
		       const char *claim, const char *name, const char *agent, int tls);
int mtun_register_sign(const char *keyfile, const char *serial, int64_t ts, const char *nonce,
		       const char *tail, char ret_sig[MTUN_SIG_B64], char *err, size_t errlen);
/* 0, or -EACCES (bad signature) / -EINVAL (malformed). */
int mtun_register_verify(const char *pubkey, const char *serial, int64_t ts, const char *nonce,
			 const char *tail, const char *sig);
/* A fresh X25519 key: its private part (EVP_PKEY *) and public part in
 * base64. NULL on failure. */
void *mtun_dh_new(char ret_pub[MTUN_PUBKEY_B64]);
void mtun_dh_free(void *dh);
/* The session key from our X25519 key and the peer's public key: 0, or
 * -EINVAL (malformed peer key) / -EIO. */
int mtun_dh_key(void *dh, const char *peer_pub, uint32_t client, uint8_t ret[MTUN_KEY_LEN]);

/* A management address for a device id (its serial or MAC): 6.x.y.z with
 * x.y.z the low 24 bits of CRC32(id), moved past the reserved 6.0.0.0,
 * 6.0.0.1 (the server) and 6.255.255.255; then + n for the n-th try when
 * it collides. Host byte order. */
uint32_t mtun_address(const char *id, uint32_t n);

/* An address (host order) as a dotted quad into ret (16 bytes). */
void mtun_addr_str(uint32_t addr, char ret[16]);

#endif
