/* test_devca.c - the server's device CA: made once and kept, and the
 * certificates it issues verify for their device's address only. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "service/devca.h"
#include "tunnel/identity.h"

static char dir[] = "/tmp/test_devca.XXXXXX";

static int setup(void **s)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **s)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

/* Does pem verify against the CA for the address ip? 1 or 0. */
static int verifies(X509 *ca, const char *pem, const char *ip)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *c = PEM_read_bio_X509(b, NULL, NULL, NULL);
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	assert_non_null(c);
	X509_STORE_add_cert(st, ca);
	X509_STORE_CTX_init(ctx, st, c, NULL);
	X509_VERIFY_PARAM_set1_ip_asc(X509_STORE_CTX_get0_param(ctx), ip);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	ok = X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	X509_free(c);
	BIO_free(b);
	return ok;
}

static void made_once_and_issues_for_the_address(void **s)
{
	struct srv_devca *ca, *again;
	char path[128], pub[MTUN_PUBKEY_B64], err[256], pem[SRV_DEVCA_PEM], cn[64];
	struct stat st;
	X509 *c;
	BIO *b;

	assert_int_equal(srv_devca_open(dir, &ca, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/device-ca.key", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* opened again: the same CA */
	assert_int_equal(srv_devca_open(dir, &again, err, sizeof(err)), 0);
	assert_int_equal(X509_cmp(srv_devca_cert(ca), srv_devca_cert(again)), 0);

	snprintf(path, sizeof(path), "%s/dev.key", dir);
	assert_int_equal(mtun_keygen(path, pub, err, sizeof(err)), 0);
	assert_int_equal(srv_devca_issue(ca, pub, "SN-7", 0x06010203, 30, pem, sizeof(pem)), 0);
	/* for its address, against this CA (as reopened) */
	assert_true(verifies(srv_devca_cert(again), pem, "6.1.2.3"));
	assert_false(verifies(srv_devca_cert(again), pem, "6.1.2.4"));
	/* its key is the device's, its name the serial */
	b = BIO_new_mem_buf(pem, -1);
	c = PEM_read_bio_X509(b, NULL, NULL, NULL);
	X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "SN-7");
	assert_int_equal(X509_check_ca(c), 0);
	X509_free(c);
	BIO_free(b);
	/* another server's CA does not vouch for it */
	srv_devca_free(again);
	snprintf(path, sizeof(path), "%s/other", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(srv_devca_open(path, &again, err, sizeof(err)), 0);
	assert_false(verifies(srv_devca_cert(again), pem, "6.1.2.3"));
	srv_devca_free(again);

	assert_int_equal(srv_devca_issue(ca, "not a key", "SN-7", 0x06010203, 30, pem, sizeof(pem)),
			 -EINVAL);
	assert_int_equal(srv_devca_issue(ca, pub, "SN-7", 0x06010203, 30, pem, 100), -EIO);
	srv_devca_free(ca);

	/* one of the two files gone: refused in words, nothing made over it */
	snprintf(path, sizeof(path), "%s/device-ca.pem", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(srv_devca_open(dir, &ca, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "one is missing"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(made_once_and_issues_for_the_address, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
