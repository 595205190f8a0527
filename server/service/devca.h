/* devca.h - the server's own CA for its devices' HTTPS (docs/tunnel.md,
 * "Certificates"): an Ed25519 key and certificate made in the data
 * directory at first start, and a certificate it issues a claimed device at
 * every registration, for the device's own key and its management address.
 * The server trusts it beside --ca-file (or the system's CAs). */
#ifndef SRV_DEVCA_H
#define SRV_DEVCA_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#define SRV_DEVCA_DAYS 30 /* a device certificate's life; each registration renews it */
#define SRV_DEVCA_PEM  2048

struct srv_devca;

/* DIR/device-ca.key (0600) and DIR/device-ca.pem: loaded, or made when
 * neither exists. 0, or -errno with err. */
int srv_devca_open(const char *dir, struct srv_devca **ret, char *err, size_t errlen);
void srv_devca_free(struct srv_devca *ca);
X509 *srv_devca_cert(const struct srv_devca *ca);

/* A certificate for the Ed25519 public key pubkey (base64), named serial,
 * for the address mgmt (host order; its only subject name), valid from an
 * hour ago for days: PEM into ret (SRV_DEVCA_PEM). 0, -EINVAL, -EIO. */
int srv_devca_issue(struct srv_devca *ca, const char *pubkey, const char *serial, uint32_t mgmt,
		    unsigned days, char *ret, size_t len);

/* Its key signs the tunnel's grants too (mtun_grant_text: a text no
 * certificate's DER can be): the signature and the public key, base64, into
 * ret_sig (89) and ret_pub (45). 0 or -EIO. */
int srv_devca_sign(struct srv_devca *ca, const char *text, char ret_sig[89], char ret_pub[45]);

#endif
