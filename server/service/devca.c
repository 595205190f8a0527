/* devca.c - the devices' CA, see devca.h. */
#include "service/devca.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tunnel/identity.h"

struct srv_devca {
	EVP_PKEY *key;
	X509 *cert;
};

X509 *srv_devca_cert(const struct srv_devca *ca)
{
	return ca->cert;
}

void srv_devca_free(struct srv_devca *ca)
{
	if (!ca)
		return;
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	free(ca);
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;
	int ok;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = e && X509_add_ext(cert, e, -1);
	X509_EXTENSION_free(e);
	return ok ? 0 : -EIO;
}

/* A certificate's frame: a random serial number, the validity, the subject
 * name CN=cn, the key. */
static X509 *frame(EVP_PKEY *pub, const char *cn, long secs)
{
	X509 *c = X509_new();
	uint8_t sn[16];
	BIGNUM *bn = NULL;
	int ok;

	if (!c || RAND_bytes(sn, sizeof(sn)) != 1) {
		X509_free(c);
		return NULL;
	}
	sn[0] &= 0x7f; /* positive */
	bn = BN_bin2bn(sn, sizeof(sn), NULL);
	ok = bn && X509_set_version(c, X509_VERSION_3) &&
	     BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) &&
	     X509_gmtime_adj(X509_getm_notBefore(c), -3600) &&
	     X509_gmtime_adj(X509_getm_notAfter(c), secs) &&
	     X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0) &&
	     X509_set_pubkey(c, pub);
	BN_free(bn);
	if (!ok) {
		X509_free(c);
		return NULL;
	}
	return c;
}

static int make(struct srv_devca *ca, const char *keyp, const char *certp, char *err, size_t errlen)
{
	char pub[MTUN_PUBKEY_B64];
	FILE *f;
	int fd, r = mtun_keygen(keyp, pub, err, errlen); /* 0600, never over a file */

	if (r)
		return r;
	f = fopen(keyp, "re");
	ca->key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	ca->cert = ca->key ? frame(ca->key, "edgecap device CA", 20L * 365 * 86400) : NULL;
	if (!ca->cert || !X509_set_issuer_name(ca->cert, X509_get_subject_name(ca->cert)) ||
	    add_ext(ca->cert, ca->cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    add_ext(ca->cert, ca->cert, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    add_ext(ca->cert, ca->cert, NID_subject_key_identifier, "hash") ||
	    !X509_sign(ca->cert, ca->key, NULL)) {
		snprintf(err, errlen, "the device CA: making it failed");
		unlink(keyp);
		return -EIO;
	}
	fd = open(certp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f || !PEM_write_X509(f, ca->cert) || fflush(f)) {
		snprintf(err, errlen, "the device CA: %s: %s", certp,
			 strerror(errno ? errno : EIO));
		if (f)
			fclose(f);
		else if (fd >= 0)
			close(fd);
		unlink(certp);
		unlink(keyp);
		return -EIO;
	}
	fclose(f);
	return 0;
}

static int load(struct srv_devca *ca, const char *keyp, const char *certp, char *err, size_t errlen)
{
	FILE *k = fopen(keyp, "re"), *c = fopen(certp, "re");

	if (k)
		ca->key = PEM_read_PrivateKey(k, NULL, NULL, NULL);
	if (c)
		ca->cert = PEM_read_X509(c, NULL, NULL, NULL);
	if (k)
		fclose(k);
	if (c)
		fclose(c);
	if (!ca->key || !ca->cert || X509_check_private_key(ca->cert, ca->key) != 1) {
		snprintf(err, errlen, "the device CA: %s and %s: %s", keyp, certp,
			 !k || !c ? "one is missing" : "not a key and its certificate in PEM");
		return -EINVAL;
	}
	return 0;
}

int srv_devca_open(const char *dir, struct srv_devca **ret, char *err, size_t errlen)
{
	struct srv_devca *ca = calloc(1, sizeof(*ca));
	char keyp[512], certp[512];
	struct stat st;
	int r;

	if (!ca)
		return -ENOMEM;
	snprintf(keyp, sizeof(keyp), "%s/device-ca.key", dir);
	snprintf(certp, sizeof(certp), "%s/device-ca.pem", dir);
	if (stat(keyp, &st) && errno == ENOENT && stat(certp, &st) && errno == ENOENT)
		r = make(ca, keyp, certp, err, errlen);
	else
		r = load(ca, keyp, certp, err, errlen);
	if (r) {
		srv_devca_free(ca);
		return r;
	}
	*ret = ca;
	return 0;
}

int srv_devca_issue(struct srv_devca *ca, const char *pubkey, const char *serial, uint32_t mgmt,
		    unsigned days, char *ret, size_t len)
{
	uint8_t raw[32];
	char san[40], ip[16];
	EVP_PKEY *pub = NULL;
	X509 *c = NULL;
	BIO *b = NULL;
	BUF_MEM *m;
	int r = -EIO;

	if (mtun_pubkey_raw(pubkey, raw))
		return -EINVAL;
	pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);
	mtun_addr_str(mgmt, ip);
	snprintf(san, sizeof(san), "IP:%s", ip);
	c = pub ? frame(pub, serial, (long)days * 86400) : NULL;
	if (!c || !X509_set_issuer_name(c, X509_get_subject_name(ca->cert)) ||
	    add_ext(c, ca->cert, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_ext(c, ca->cert, NID_key_usage, "critical,digitalSignature") ||
	    add_ext(c, ca->cert, NID_ext_key_usage, "serverAuth") ||
	    add_ext(c, ca->cert, NID_subject_alt_name, san) ||
	    add_ext(c, ca->cert, NID_authority_key_identifier, "keyid:always") ||
	    !X509_sign(c, ca->key, NULL) || !(b = BIO_new(BIO_s_mem())) ||
	    !PEM_write_bio_X509(b, c))
		goto out;
	BIO_get_mem_ptr(b, &m);
	if (m->length >= len)
		goto out;
	memcpy(ret, m->data, m->length);
	ret[m->length] = 0;
	r = 0;
out:
	BIO_free(b);
	X509_free(c);
	EVP_PKEY_free(pub);
	return r;
}

int srv_devca_sign(struct srv_devca *ca, const char *text, char ret_sig[89], char ret_pub[45])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t sig[64], pub[32];
	size_t siglen = sizeof(sig), publen = sizeof(pub);
	int r = -EIO;

	if (md && EVP_DigestSignInit(md, NULL, NULL, NULL, ca->key) == 1 &&
	    EVP_DigestSign(md, sig, &siglen, (const uint8_t *)text, strlen(text)) == 1 &&
	    siglen == 64 && EVP_PKEY_get_raw_public_key(ca->key, pub, &publen) == 1 &&
	    publen == 32) {
		EVP_EncodeBlock((unsigned char *)ret_sig, sig, 64);
		EVP_EncodeBlock((unsigned char *)ret_pub, pub, 32);
		r = 0;
	}
	EVP_MD_CTX_free(md);
	return r;
}
