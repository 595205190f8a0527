/* test_registry.c - the registry (server/service/registry.h) on SQLite in
 * memory, no root: bootstrap and tokens, devices and their uniqueness,
 * management addresses (collisions resolved), every lookup scoped to its
 * organization, captures with their devices' parts, what a restart marks
 * done; then a file in a temporary directory: made private, tightened when
 * it was not, refused when damaged. Written against the interface alone, so
 * that a second backend can run the same suite, but for the SQLite
 * backend's migration test at the end. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "service/registry.h"
#include "service/registry_backend.h" /* the engines, for their own tests */
#include "service/registry_db.h"
#include "service/settings.h"
#include "tunnel/claim.h"
#include "tunnel/identity.h"

static struct reg *r;
static int64_t acme, globex;
/* SQLite in memory, or the PostgreSQL EDGECAP_TEST_DB names
 * (tests/unit/with-postgres.sh starts one for the test) */
static const char *where = ":memory:";

static int setup(void **state)
{
	char err[256];

	/* each test on an empty PostgreSQL database, as in a new file */
	if (reg_is_url(where)) {
		if (reg_open(where, &r, err, sizeof(err)) ||
		    reg_exec(r, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")) {
			fprintf(stderr, "%s: %s\n", where, r ? reg_errmsg(r) : err);
			reg_close(r);
			return -1;
		}
		reg_close(r);
	}
	if (reg_open(where, &r, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", where, err);
		return -1;
	}
	acme = reg_org_add(r, "acme");
	globex = reg_org_add(r, "globex");
	return acme > 0 && globex > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	reg_close(r);
	r = NULL;
	return 0;
}

static int64_t device(int64_t org, const char *name, const char *serial)
{
	char secret[2 * REG_SECRET_LEN + 1], addr[64];

	snprintf(addr, sizeof(addr), "http://10.0.0.1:%d", 8000 + (int)(strlen(name) % 100));
	return reg_device_add(r, org, name, serial, addr, NULL, secret);
}

static void schema_and_bootstrap(void **state)
{
	char token[2 * REG_TOKEN_LEN + 1];
	struct reg_user a;
	struct reg_stats st;

	assert_int_equal(reg_schema_version(r), 12);
	assert_int_equal(reg_ping(r), 0);
	assert_int_equal(reg_org_add(r, "acme"), -EEXIST);
	assert_int_equal(reg_admin_add(r, "nosuch", "alice", token), -ENOENT);
	assert_true(reg_admin_add(r, "acme", "alice", token) > 0);
	assert_int_equal(strlen(token), 2 * REG_TOKEN_LEN);
	assert_int_equal(reg_admin_add(r, "acme", "alice", token), -EEXIST);
	assert_int_equal(reg_user_by_token(r, "nope", 4, &a), -ENOENT);
	assert_true(reg_admin_add(r, "acme", "carol", token) > 0);
	assert_int_equal(reg_user_by_token(r, token, strlen(token), &a), 0);
	assert_string_equal(a.name, "carol");
	assert_string_equal(a.org_name, "acme");
	assert_int_equal(a.org, acme);
	assert_int_equal(a.role, REG_OWNER); /* an administrator is an owner */
	assert_int_equal(a.pw_change, 0);
	assert_string_equal(a.email, "");
	token[0] = token[0] == 'a' ? 'b' : 'a'; /* one digit off */
	assert_int_equal(reg_user_by_token(r, token, strlen(token), &a), -ENOENT);
	assert_int_equal(reg_stats(r, &st), 0);
	assert_int_equal(st.orgs, 2);
}

/* Users: unique names in their organization, unique emails anywhere (in
 * any case), found by email with their password hash, tokens of their
 * own; roles by name. */
static void users_emails_passwords_and_tokens(void **state)
{
	char tok1[2 * REG_TOKEN_LEN + 1], tok2[2 * REG_TOKEN_LEN + 1], hash[REG_PWHASH_MAX];
	struct reg_user u;
	int64_t alice, bob;

	assert_int_equal(reg_role_parse("operator"), REG_OPERATOR);
	assert_int_equal(reg_role_parse("Owner"), 0);
	assert_int_equal(reg_role_parse(NULL), 0);
	assert_string_equal(reg_role_name(REG_VIEWER), "viewer");
	alice = reg_user_add(r, "acme", "alice", "Alice@Example.COM", REG_OPERATOR, "$h1", 1);
	assert_true(alice > 0);
	assert_int_equal(reg_user_add(r, "nosuch", "x", "x@example.com", REG_VIEWER, NULL, 0),
			 -ENOENT);
	/* the same address in any case, in any organization: taken */
	assert_int_equal(reg_user_add(r, "globex", "al", "alice@example.com", REG_VIEWER, NULL, 0),
			 -EEXIST);
	/* the same name: taken in acme, free in globex */
	assert_int_equal(reg_user_add(r, "acme", "alice", "a2@example.com", REG_VIEWER, NULL, 0),
			 -EEXIST);
	bob = reg_user_add(r, "globex", "alice", "bob@example.com", REG_VIEWER, NULL, 0);
	assert_true(bob > 0);
	assert_int_equal(reg_user_by_email(r, "ALICE@example.com", &u, hash), 0);
	assert_int_equal(u.id, alice);
	assert_int_equal(u.org, acme);
	assert_int_equal(u.role, REG_OPERATOR);
	assert_int_equal(u.pw_change, 1);
	assert_string_equal(u.email, "alice@example.com");
	assert_string_equal(hash, "$h1");
	assert_int_equal(reg_user_by_email(r, "bob@example.com", &u, hash), 0);
	assert_string_equal(hash, ""); /* none yet */
	assert_int_equal(reg_user_by_email(r, "carol@example.com", &u, hash), -ENOENT);
	assert_int_equal(reg_user_set_password(r, alice, "$h2", 0), 0);
	assert_int_equal(reg_user_by_email(r, "alice@example.com", &u, hash), 0);
	assert_string_equal(hash, "$h2");
	assert_int_equal(u.pw_change, 0);
	/* tokens: named per user, each finding its own user */
	assert_true(reg_token_add(r, alice, "laptop", tok1) > 0);
	assert_int_equal(reg_token_add(r, alice, "laptop", tok2), -EEXIST);
	assert_true(reg_token_add(r, bob, "laptop", tok2) > 0);
	assert_int_equal(reg_user_by_token(r, tok1, strlen(tok1), &u), 0);
	assert_int_equal(u.id, alice);
	assert_int_equal(reg_user_by_token(r, tok2, strlen(tok2), &u), 0);
	assert_int_equal(u.id, bob);
	assert_int_equal(u.org, globex);
	assert_string_equal(u.org_name, "globex");
}

static void devices_are_unique_and_scoped(void **state)
{
	char secret[2 * REG_SECRET_LEN + 1];
	struct reg_device d, *list;
	size_t n;

	assert_true(device(acme, "gw1", "SN-1") > 0);
	assert_true(device(globex, "gw1", "SN-2") > 0);		/* a name per organization */
	assert_int_equal(device(acme, "gw1", "SN-3"), -EEXIST); /* taken in acme */
	assert_int_equal(device(acme, "gw9", "SN-1"), -EEXIST); /* a serial in acme */
	assert_true(device(globex, "gw9", "SN-1") > 0);		/* not anywhere */
	assert_true(reg_device_add(r, acme, "gw2", "SN-4", "https://tunnel:8443",
				   "bWFuYWdlbWVudCBrZXkgZm9yIGEgdGVzdCBkZXZpY2U=", secret) > 0);
	assert_int_equal(strlen(secret), 2 * REG_SECRET_LEN);

	assert_int_equal(reg_device_get(r, acme, "gw2", &d), 0);
	assert_string_equal(d.serial, "SN-4");
	assert_string_equal(d.address, "https://tunnel:8443");
	assert_string_equal(d.transport, "direct");
	assert_true(d.enabled);
	assert_int_equal(d.last_seen, 0);
	assert_true(d.created > 0);
	assert_string_equal(d.pubkey, "bWFuYWdlbWVudCBrZXkgZm9yIGEgdGVzdCBkZXZpY2U=");
	assert_int_equal(d.mgmt, mtun_address("SN-4", 0));
	assert_int_equal(reg_device_get(r, globex, "gw2", &d), -ENOENT);
	assert_int_equal(
	    reg_device_by_pubkey(r, "bWFuYWdlbWVudCBrZXkgZm9yIGEgdGVzdCBkZXZpY2U=", &d), 0);
	assert_int_equal(d.org, acme);
	assert_string_equal(d.name, "gw2");
	assert_int_equal(
	    reg_device_by_pubkey(r, "bm8gc3VjaCBrZXkgZm9yIGEgdGVzdCBkZXZpY2UgaGVyZQ==", &d),
	    -ENOENT);
	/* one key, one device */
	assert_int_equal(reg_device_add(r, globex, "gw3", "SN-5", "https://tunnel:8443",
					"bWFuYWdlbWVudCBrZXkgZm9yIGEgdGVzdCBkZXZpY2U=", secret),
			 -EEXIST);

	assert_int_equal(reg_devices_list(r, acme, NULL, 0, &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "gw1");
	assert_string_equal(list[1].name, "gw2");
	free(list);
	assert_int_equal(reg_devices_list(r, acme, NULL, 1, &list, &n), 0); /* a page */
	assert_int_equal(n, 1);
	assert_string_equal(list[0].name, "gw1");
	free(list);
	assert_int_equal(reg_devices_list(r, acme, "gw1", 1, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].name, "gw2");
	free(list);
	assert_int_equal(reg_devices_list(r, acme, "gw2", 1, &list, &n), 0);
	assert_int_equal(n, 0);
	free(list);

	assert_int_equal(reg_device_enable(r, globex, "gw2", 0), -ENOENT);
	assert_int_equal(reg_device_enable(r, acme, "gw2", 0), 0);
	assert_int_equal(reg_device_get(r, acme, "gw2", &d), 0);
	assert_false(d.enabled);
	assert_int_equal(reg_device_take(r, d.id, "me", 0), 1);
	assert_int_equal(reg_device_heard(r, d.id, "me", 1, "http", 1234), 0);
	assert_int_equal(reg_device_get(r, acme, "gw2", &d), 0);
	assert_string_equal(d.transport, "http");
	assert_int_equal(d.last_seen, 1234);
	assert_int_equal(reg_device_delete(r, globex, "gw2"), -ENOENT);
	assert_int_equal(reg_device_delete(r, acme, "gw2"), 0);
	assert_int_equal(reg_device_get(r, acme, "gw2", &d), -ENOENT);
}

/* A device announces itself with its claim code's hash; an owner claims it
 * by serial and code into one organization, and no one else can. */
static void devices_join_by_claim(void **state)
{
	static const char pub[] = "Y2xhaW1lZCBieSBzZXJpYWwgYW5kIGNvZGUsIHRlc3Q=",
			  other[] = "YW5vdGhlciBrZXkgd2l0aCB0aGUgc2FtZSBzZXJpYWw=";
	const struct reg_unclaimed_limits lim = {.max = 3, .per_source = 2, .expire_s = 3600};
	struct reg_unclaimed u = {.last_seen = 1000000}, got;
	struct reg_device d;
	int64_t id;

	snprintf(u.pubkey, sizeof(u.pubkey), "%s", pub);
	snprintf(u.serial, sizeof(u.serial), "EC-TEST");
	assert_int_equal(mtun_claim_hash(pub, "7KQ2-M9XD-4A7K-Q2M9", u.claim), 0);
	snprintf(u.hostname, sizeof(u.hostname), "ap-7");
	snprintf(u.agent, sizeof(u.agent), "http://tunnel:8081");
	snprintf(u.source, sizeof(u.source), "192.0.2.1");
	assert_int_equal(reg_unclaimed_announce(r, &u, &lim), 1);
	assert_int_equal(reg_unclaimed_announce(r, &u, &lim), 0); /* the same words: no write */
	/* a squatter announcing the same serial under its own key changes nothing for it */
	struct reg_unclaimed s = u;
	snprintf(s.pubkey, sizeof(s.pubkey), "%s", other);
	assert_int_equal(mtun_claim_hash(other, "0000-0000-0000-0000", s.claim), 0);
	assert_int_equal(reg_unclaimed_announce(r, &s, &lim), 1);
	/* the bounds: two from one address, three in all */
	struct reg_unclaimed x = u;
	snprintf(x.pubkey, sizeof(x.pubkey), "eXQgYW5vdGhlciBrZXkgd2l0aCB0aGUgc2FtZSBzZXJpYWw=");
	assert_int_equal(reg_unclaimed_announce(r, &x, &lim), -EMFILE);
	snprintf(x.source, sizeof(x.source), "192.0.2.2");
	assert_int_equal(reg_unclaimed_announce(r, &x, &lim), 1);
	snprintf(x.pubkey, sizeof(x.pubkey), "enQgYW5vdGhlciBrZXkgd2l0aCB0aGUgc2FtZSBzZXJpYWw=");
	snprintf(x.source, sizeof(x.source), "192.0.2.3");
	assert_int_equal(reg_unclaimed_announce(r, &x, &lim), -ENOSPC);

	/* wrong code, wrong serial, malformed code: the same answer */
	assert_int_equal(reg_device_claim(r, acme, "EC-TEST", "7KQ2-M9XD-4A7K-Q2MA", NULL, &got),
			 -ENOENT);
	assert_int_equal(reg_device_claim(r, acme, "EC-OTHER", "7KQ2-M9XD-4A7K-Q2M9", NULL, &got),
			 -ENOENT);
	assert_int_equal(reg_device_claim(r, acme, "EC-TEST", "<b>", NULL, &got), -ENOENT);
	/* the code as a person types it: case, dashes, spaces, O for 0 */
	id = reg_device_claim(r, acme, "EC-TEST", " 7kq2 m9xd 4a7k q2m9 ", NULL, &got);
	assert_true(id > 0);
	assert_int_equal(reg_device_by_pubkey(r, pub, &d), 0);
	assert_int_equal(d.id, id);
	assert_int_equal(d.org, acme);
	assert_string_equal(d.name, "ap-7"); /* its own name */
	assert_string_equal(d.serial, "EC-TEST");
	assert_string_equal(d.address, "http://tunnel:8081");
	assert_int_equal(d.mgmt, mtun_address("EC-TEST", 0));
	/* claimed once: not again, not by another */
	assert_int_equal(reg_device_claim(r, globex, "EC-TEST", "7KQ2-M9XD-4A7K-Q2M9", NULL, &got),
			 -ENOENT);
	/* the squatter's code claims the squatter's key, into its own
	 * organization, never the device already claimed */
	id = reg_device_claim(r, globex, "EC-TEST", "OOOO-OOOO-OOOO-OOOO", "mine", &got);
	assert_true(id > 0);
	assert_string_equal(got.pubkey, other);
	assert_int_equal(reg_device_by_pubkey(r, pub, &d), 0);
	assert_int_equal(d.org, acme);
	/* a name taken: refused, and the device still waits */
	snprintf(x.pubkey, sizeof(x.pubkey), "eXQgYW5vdGhlciBrZXkgd2l0aCB0aGUgc2FtZSBzZXJpYWw=");
	snprintf(x.serial, sizeof(x.serial), "EC-X");
	assert_int_equal(mtun_claim_hash(x.pubkey, "1111-1111-1111-1111", x.claim), 0);
	assert_int_equal(reg_unclaimed_announce(r, &x, &lim), 1);
	assert_int_equal(reg_device_claim(r, acme, "EC-X", "1111-1111-1111-1111", NULL, &got),
			 -EEXIST);
	assert_true(reg_device_claim(r, acme, "EC-X", "1111-1111-1111-1111", "ap-8", &got) > 0);
	/* a serial taken in the organization: refused */
	snprintf(x.pubkey, sizeof(x.pubkey), "dXQgYW5vdGhlciBrZXkgd2l0aCB0aGUgc2FtZSBzZXJpYWw=");
	assert_int_equal(mtun_claim_hash(x.pubkey, "2222-2222-2222-2222", x.claim), 0);
	assert_int_equal(reg_unclaimed_announce(r, &x, &lim), 1);
	assert_int_equal(reg_device_claim(r, acme, "EC-X", "2222-2222-2222-2222", "ap-9", &got),
			 -EEXIST);
	/* forgotten after an hour unheard: another announces an hour later */
	snprintf(x.pubkey, sizeof(x.pubkey), "ZXQgYW5vdGhlciBrZXkgd2l0aCB0aGUgc2FtZSBzZXJpYWw=");
	x.last_seen += 3601;
	assert_int_equal(reg_unclaimed_announce(r, &x, &lim), 1);
	assert_int_equal(reg_device_claim(r, globex, "EC-X", "2222-2222-2222-2222", "ap-9", &got),
			 -ENOENT);
}

/* Two serials whose first management address is the same get two. */
static void management_addresses_collide_and_resolve(void **state)
{
	static char serial[16384][16];
	static uint32_t addr[16384];
	struct reg_device a, b;
	int i, j = -1;

	/* serials that look random to CRC32 (sequential ones differ in too few
	 * bits to collide): about 5,000 of them share an address in 2^24 */
	for (i = 0; i < 16384 && j < 0; i++) {
		snprintf(serial[i], sizeof(serial[i]), "SN-%08x", (unsigned)i * 2654435761u);
		addr[i] = mtun_address(serial[i], 0);
		for (int k = 0; k < i && j < 0; k++)
			if (addr[k] == addr[i])
				j = k;
	}
	assert_true(j >= 0);
	i--;
	assert_true(device(acme, "first", serial[j]) > 0);
	assert_true(device(globex, "second", serial[i]) > 0);
	assert_int_equal(reg_device_get(r, acme, "first", &a), 0);
	assert_int_equal(reg_device_get(r, globex, "second", &b), 0);
	assert_int_equal(a.mgmt, mtun_address(serial[j], 0));
	assert_int_equal(b.mgmt, mtun_address(serial[i], 1));
	assert_int_not_equal(a.mgmt, b.mgmt);
}

static void captures_hold_their_devices(void **state)
{
	char file[64], token[2 * REG_TOKEN_LEN + 1];
	struct reg_capture *c;
	struct reg_device d1, d2;
	size_t n;
	int64_t id, other, after, alice = reg_admin_add(r, "acme", "alice", token),
				  bob = reg_admin_add(r, "globex", "bob", token);

	assert_true(device(acme, "gw1", "SN-1") > 0);
	assert_true(device(acme, "gw2", "SN-2") > 0);
	assert_int_equal(reg_device_get(r, acme, "gw1", &d1), 0);
	assert_int_equal(reg_device_get(r, acme, "gw2", &d2), 0);
	id = reg_capture_add(r, acme, alice, "{\"devices\":[\"gw1\",\"gw2\"]}", "/tmp/new", NULL);
	assert_true(id > 0);
	assert_int_equal(reg_capture_set_file(r, id, "/data/1.pcapng"), 0);
	assert_int_equal(reg_capture_device_add(r, id, d2.id), 0);
	assert_int_equal(reg_capture_device_add(r, id, d1.id), 0);
	assert_int_equal(reg_capture_device_update(
			     r, id, d1.id,
			     &(struct reg_capture_device_state){.state = "failed",
								.error = "HTTP 403: bad signature",
								.bytes = 10}),
			 0);
	/* an end is not undone (another server streaming it learns late) */
	assert_int_equal(
	    reg_capture_device_update(r, id, d1.id,
				      &(struct reg_capture_device_state){
					  .state = "done", .error = "stopped", .bytes = 11}),
	    0);
	/* but the duplicates the server running the capture finds are kept */
	assert_int_equal(reg_capture_device_update(
			     r, id, d1.id,
			     &(struct reg_capture_device_state){.keep_counts = 1, .duplicates = 4}),
			 0);
	assert_int_equal(reg_capture_update(r, id,
					    &(struct reg_capture_state){
						.state = "running", .merged = 5, .duplicates = 2}),
			 0);
	other = reg_capture_add(r, globex, bob, "{}", "/data/2.pcapng", NULL);
	assert_true(other > 0);

	assert_int_equal(reg_captures_list(r, acme, id, &c, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].state, "running");
	assert_string_equal(c[0].request, "{\"devices\":[\"gw1\",\"gw2\"]}");
	assert_int_equal(c[0].merged, 5);
	assert_int_equal(c[0].ended, 0);
	assert_int_equal(c[0].ndevs, 2);
	assert_string_equal(c[0].devs[0].device, "gw1"); /* by name */
	assert_string_equal(c[0].devs[0].state, "failed");
	assert_string_equal(c[0].devs[0].error, "HTTP 403: bad signature");
	assert_int_equal(c[0].devs[0].bytes, 10);
	assert_int_equal(c[0].devs[0].duplicates, 4);
	assert_string_equal(c[0].devs[1].state, "connecting");
	assert_null(c[0].devs[1].error);
	reg_captures_free(c, n);

	assert_int_equal(reg_captures_list(r, globex, id, &c, &n), -ENOENT);
	assert_int_equal(reg_capture_file(r, globex, id, file, sizeof(file)), -ENOENT);
	assert_int_equal(reg_capture_file(r, acme, id, file, sizeof(file)), 0);
	assert_string_equal(file, "/data/1.pcapng");
	assert_int_equal(reg_captures_list(r, acme, 0, &c, &n), 0);
	assert_int_equal(n, 1);
	reg_captures_free(c, n);
	/* a device with captures stays */
	assert_int_equal(reg_device_delete(r, acme, "gw1"), -EBUSY);

	/* the server stopped with it running: done, its streaming devices failed */
	reg_captures_interrupted(r);
	assert_int_equal(reg_captures_list(r, acme, id, &c, &n), 0);
	assert_string_equal(c[0].state, "done");
	assert_true(c[0].ended > 0);
	assert_string_equal(c[0].devs[1].state, "failed");
	assert_string_equal(c[0].devs[1].error, "server stopped");
	assert_string_equal(c[0].ended_by, "server stopped");
	reg_captures_free(c, n);

	/* pages: by id, after a cursor, the organization's only */
	for (int i = 0; i < 4; i++)
		assert_true(reg_capture_add(r, acme, alice, "{}", "/data/x.pcapng", NULL) > 0);
	assert_int_equal(reg_captures_page(r, acme, 0, 2, NULL, &c, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(c[0].id, id);
	after = c[1].id;
	reg_captures_free(c, n);
	assert_int_equal(reg_captures_page(r, acme, after, 2, NULL, &c, &n), 0);
	assert_int_equal(n, 2);
	assert_true(c[0].id > after && c[1].id > c[0].id);
	after = c[1].id;
	reg_captures_free(c, n);
	assert_int_equal(reg_captures_page(r, acme, after, 2, NULL, &c, &n), 0);
	assert_int_equal(n, 1); /* 5 in all */
	reg_captures_free(c, n);
	assert_int_equal(reg_captures_page(r, globex, 0, 100, NULL, &c, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].id, other);
	assert_string_equal(c[0].user, "bob");
	reg_captures_free(c, n);
	/* filtered: by state, device, user (name or email), time */
	{
		int64_t carol =
		    reg_user_add(r, "acme", "carol", "carol@example.com", REG_OPERATOR, NULL, 0);
		int64_t mine = reg_capture_add(r, acme, carol, "{}", "/data/c.pcapng", NULL);
		struct reg_capture_filter f = {.user = "Carol@Example.com"};

		assert_int_equal(reg_captures_page(r, acme, 0, 100, &f, &c, &n), 0);
		assert_int_equal(n, 1);
		assert_int_equal(c[0].id, mine);
		assert_string_equal(c[0].user, "carol");
		reg_captures_free(c, n);
		f = (struct reg_capture_filter){.user = "carol", .state = "done"};
		assert_int_equal(reg_captures_page(r, acme, 0, 100, &f, &c, &n), 0);
		assert_int_equal(n, 0);
		free(c);
		f = (struct reg_capture_filter){.device = "gw1"};
		assert_int_equal(reg_captures_page(r, acme, 0, 100, &f, &c, &n), 0);
		assert_int_equal(n, 1); /* the first one only */
		assert_int_equal(c[0].id, id);
		reg_captures_free(c, n);
		f = (struct reg_capture_filter){.since = time(NULL) + 3600};
		assert_int_equal(reg_captures_page(r, acme, 0, 100, &f, &c, &n), 0);
		assert_int_equal(n, 0);
		free(c);
		f = (struct reg_capture_filter){.until = time(NULL) + 3600, .state = "running"};
		assert_int_equal(reg_captures_page(r, acme, 0, 100, &f, &c, &n), 0);
		assert_int_equal(n, 5); /* the four, and carol's */
		reg_captures_free(c, n);
	}
}

/* The registry's files in a directory of their own. */
static char dir[] = "/tmp/test_registry.XXXXXX", db[64];

static int file_setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	snprintf(db, sizeof(db), "%s/registry.db", dir);
	return 0;
}

static int file_teardown(void **state)
{
	static const char *const suffix[] = {"", "-wal", "-shm"};
	char p[PATH_MAX];

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", db, suffix[i]);
		unlink(p);
	}
	rmdir(dir);
	strcpy(dir + strlen(dir) - 6, "XXXXXX");
	return 0;
}

static unsigned mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* A registry with a row in it, closed (SQLite folds the WAL into the file
 * at the last close). */
static void create_registry(void)
{
	struct reg *reg;
	char err[256];

	assert_int_equal(reg_open(db, &reg, err, sizeof(err)), 0);
	assert_true(reg_org_add(reg, "acme") > 0);
	reg_close(reg);
}

static void file_is_private(void **state)
{
	char err[256], wal[80];
	struct reg *reg;

	/* under the usual umask SQLite alone would make it 0644 */
	umask(022);
	assert_int_equal(reg_open(db, &reg, err, sizeof(err)), 0);
	assert_true(reg_org_add(reg, "acme") > 0);
	assert_int_equal(mode_of(db), 0600);
	snprintf(wal, sizeof(wal), "%s-wal", db);
	assert_int_equal(access(wal, F_OK), 0); /* a write went to the WAL */
	assert_int_equal(mode_of(wal), 0600);
	snprintf(wal, sizeof(wal), "%s-shm", db);
	assert_int_equal(mode_of(wal), 0600);
	reg_close(reg);
}

static void loose_file_is_tightened(void **state)
{
	char err[256];
	struct reg *reg;

	create_registry();
	assert_int_equal(chmod(db, 0644), 0);
	assert_int_equal(reg_open(db, &reg, err, sizeof(err)), 0);
	assert_int_equal(mode_of(db), 0600);
	reg_close(reg);
}

/* Bytes over the file at off, then open: refused as damaged, naming it. */
static void assert_refused(long off, size_t len)
{
	char junk[4096], err[512];
	struct reg *reg = NULL;
	int fd;

	memset(junk, 0xa5, sizeof(junk));
	fd = open(db, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, len, off), (ssize_t)len);
	close(fd);
	assert_int_equal(reg_open(db, &reg, err, sizeof(err)), -EUCLEAN);
	assert_null(reg);
	assert_non_null(strstr(err, db));
	assert_non_null(strstr(err, "is damaged: "));
	assert_null(strchr(err, '\n'));
}

/* A page of a table garbled: the header still reads, queries would not. */
static void damaged_page_is_refused(void **state)
{
	create_registry();
	assert_refused(4096, 4096); /* page 2: SQLite's default page is 4 KiB */
}

static void damaged_header_is_refused(void **state)
{
	create_registry();
	assert_refused(0, 100);
}

/* The SQLite backend's migration to users (schema 5): an administrator
 * of schema 4 is an owner holding its token, and its captures stay its. */
/* Schema 9 let one key be enrolled twice (by hand, in two organizations):
 * migrating keeps every device and its captures, the key with the first. */
static void keys_enrolled_twice_migrate(void **state)
{
	static const char key[] = "bWFuYWdlbWVudCBrZXkgZm9yIGEgdGVzdCBkZXZpY2U=";
	struct reg_device d;
	struct reg *reg;
	char err[256], secret[2 * REG_SECRET_LEN + 1];

	assert_int_equal(reg_sqlite_open(db, 9, &reg, err, sizeof(err)), 0);
	assert_true(reg_org_add(reg, "acme") > 0 && reg_org_add(reg, "globex") > 0);
	assert_true(reg_device_add(reg, 1, "gw1", "SN-1", "https://tunnel:8443", key, secret) > 0);
	assert_true(reg_device_add(reg, 2, "gx1", "SN-2", "https://tunnel:8443", key, secret) > 0);
	reg_close(reg);
	assert_int_equal(reg_open(db, &reg, err, sizeof(err)), 0);
	assert_int_equal(reg_schema_version(reg), 12);
	assert_int_equal(reg_device_by_pubkey(reg, key, &d), 0);
	assert_string_equal(d.name, "gw1");
	assert_int_equal(reg_device_get(reg, 2, "gx1", &d), 0);
	assert_string_equal(d.pubkey, "");
	reg_close(reg);
}

static void administrators_become_owners(void **state)
{
	const char *token = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	struct reg_capture *c = NULL;
	struct reg_user u;
	uint8_t hash[32];
	struct reg *reg;
	char err[256];
	size_t n = 0;

	assert_int_equal(reg_sqlite_open(db, 4, &reg, err, sizeof(err)), 0);
	assert_int_equal(reg_schema_version(reg), 4);
	assert_true(reg_org_add(reg, "acme") > 0);
	reg_sha256(token, strlen(token), hash);
	assert_int_equal(
	    reg_run(reg_q(reg,
			  "INSERT INTO admins (id, org_id, name, token_sha256, created) "
			  "VALUES (7, 1, 'alice', ?, 1)",
			  "b", hash, 32)),
	    0);
	assert_int_equal(reg_run(reg_q(reg,
				       "INSERT INTO captures (id, org_id, admin_id, request, file, "
				       "state, created, ended, ended_by, stored) VALUES (3, 1, 7, "
				       "'{}', '/x', 'done', 1, 2, 'count', 99)",
				       "")),
			 0);
	reg_close(reg);
	assert_int_equal(reg_open(db, &reg, err, sizeof(err)), 0);
	assert_int_equal(reg_schema_version(reg), 12);
	assert_int_equal(reg_user_by_token(reg, token, strlen(token), &u), 0);
	assert_int_equal(u.id, 7);
	assert_int_equal(u.role, REG_OWNER);
	assert_string_equal(u.name, "alice");
	assert_int_equal(reg_captures_list(reg, 1, 3, &c, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(c[0].ended_by, "count");
	assert_int_equal(c[0].stored, 99);
	reg_captures_free(c, n);
	/* the audit log: kept, paged, filtered, expired */
	{
		struct reg_audit_filter f = {.limit = 10};
		struct reg_audit *a;
		size_t na;

		assert_int_equal(
		    reg_audit_add(reg, 1, 1000, 7, "alice", "10.0.0.1", "signin", "session", NULL),
		    0);
		assert_int_equal(reg_audit_add(reg, 1, 5000, 7, "alice", "10.0.0.1",
					       "capture_started", "capture 3",
					       "{\"reason\":\"x\"}"),
				 0);
		assert_int_equal(reg_audit_page(reg, 1, &f, &a, &na), 0);
		assert_int_equal(na, 2);
		assert_string_equal(a[0].action, "capture_started"); /* newest first */
		assert_string_equal(a[0].detail, "{\"reason\":\"x\"}");
		assert_string_equal(a[1].detail, "{}");
		reg_audit_free(a, na);
		f.action = "signin";
		assert_int_equal(reg_audit_page(reg, 1, &f, &a, &na), 0);
		assert_int_equal(na, 1);
		reg_audit_free(a, na);
		assert_int_equal(reg_audit_expire(reg, 2000), 1);
		f.action = NULL;
		assert_int_equal(reg_audit_page(reg, 1, &f, &a, &na), 0);
		assert_int_equal(na, 1);
		assert_string_equal(a[0].action, "capture_started");
		reg_audit_free(a, na);
	}
	/* the rebuilt captures table still takes rows, tied to users, and never
	 * gives a deleted capture's id again */
	{
		char file[16];
		int64_t a = reg_capture_add(reg, 1, 7, "{}", "/y", NULL), b;

		assert_int_equal(a, 4);
		assert_int_equal(
		    reg_capture_update(reg, a, &(struct reg_capture_state){.state = "done"}), 0);
		assert_int_equal(reg_capture_delete(reg, 1, a, file, sizeof(file)), 0);
		b = reg_capture_add(reg, 1, 7, "{}", "/y2", NULL);
		assert_int_equal(b, 5);
	}
	assert_true(reg_capture_add(reg, 1, 99, "{}", "/z", NULL) < 0); /* no user 99 */
	reg_close(reg);
}

/* Devices asked for their status: those not asked within the interval,
 * the longest waiting first, enabled ones only; a new one never heard
 * again after five seconds; a report makes it heard; an error keeps the
 * last report. */
static void reports_are_due_and_kept(void **state)
{
	int64_t a = device(acme, "gw1", "SN-1"), b = device(acme, "gw2", "SN-2"), now = time(NULL),
		when;
	struct reg_device *due, d;
	char *json, *error;
	size_t n;

	assert_true(a > 0 && b > 0);
	assert_int_equal(reg_devices_due(r, "a", now, 60, 10, 10, &due, &n), 0);
	assert_int_equal(n, 2);
	free(due);
	/* a device whose tunnel another instance holds is that one's to ask;
	 * released, anyone's */
	assert_int_equal(reg_device_take(r, a, "b", 0), 1);
	assert_int_equal(reg_devices_due(r, "a", now, 60, 10, 10, &due, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(due[0].id, b);
	free(due);
	assert_int_equal(reg_devices_due(r, "b", now, 60, 10, 10, &due, &n), 0);
	assert_int_equal(n, 2);
	free(due);
	assert_int_equal(reg_instance_gone(r, "b"), 0);
	assert_int_equal(reg_devices_due(r, "a", now, 60, 10, 10, &due, &n), 0);
	assert_int_equal(n, 2);
	free(due);
	reg_device_polled(r, a, now);
	reg_device_polled(r, b, now - 30);
	/* both were asked within the minute; b, never heard, again after 5 s */
	assert_int_equal(reg_devices_due(r, "a", now, 60, 10, 10, &due, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(due[0].id, b);
	free(due);
	reg_device_report(r, b, "SN-2", "{\"agent\":\"edgecap-agent 0.1.0\"}", now - 29);
	assert_int_equal(reg_devices_due(r, "a", now, 60, 10, 10, &due, &n), 0);
	assert_int_equal(n, 0);
	/* b's minute is up; a, never heard, is asked every five seconds */
	assert_int_equal(reg_devices_due(r, "a", now + 30, 60, 10, 10, &due, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(due[0].id, b);
	free(due);
	assert_int_equal(reg_device_get(r, acme, "gw2", &d), 0);
	assert_int_equal(d.last_seen, now - 29);
	reg_device_report_error(r, b, "SN-9", "connection refused"); /* another serial: no */
	assert_int_equal(reg_device_report_get(r, b, &json, &when, &error), 0);
	assert_null(error);
	free(json);
	reg_device_report_error(r, b, "SN-2", "connection refused");
	assert_int_equal(reg_device_report_get(r, b, &json, &when, &error), 0);
	assert_string_equal(json, "{\"agent\":\"edgecap-agent 0.1.0\"}");
	assert_int_equal(when, now - 29);
	assert_string_equal(error, "connection refused");
	free(json);
	free(error);
	assert_int_equal(reg_device_enable(r, acme, "gw2", 0), 0); /* disabled: never asked */
	assert_int_equal(reg_devices_due(r, "a", now + 1000, 60, 10, 10, &due, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(due[0].id, a);
	free(due);
	assert_int_equal(reg_device_report_get(r, 999, &json, &when, &error), -ENOENT);
}

/* A device whose asks fail waits longer each time (2, 4, then 8
 * intervals); an answer brings it back to every interval. One
 * organization's many devices leave room for another's. */
static void reports_back_off_and_share(void **state)
{
	int64_t now = time(NULL), a = device(acme, "gw1", "SN-1"), id;
	struct reg_device *due;
	size_t n, nacme = 0;
	char name[16], serial[16];

	reg_device_polled(r, a, now);
	reg_device_report(r, a, "SN-1", "{}", now);
	for (int fails = 1; fails <= 4; fails++) {
		int64_t wait = 60 << (fails < 3 ? fails : 3);

		reg_device_report_error(r, a, "SN-1", "connection refused");
		assert_int_equal(reg_devices_due(r, "a", now + wait - 1, 60, 10, 10, &due, &n), 0);
		assert_int_equal(n, 0);
		assert_int_equal(reg_devices_due(r, "a", now + wait, 60, 10, 10, &due, &n), 0);
		assert_int_equal(n, 1);
		free(due);
	}
	reg_device_report(r, a, "SN-1", "{}", now);
	assert_int_equal(reg_devices_due(r, "a", now + 60, 60, 10, 10, &due, &n), 0);
	assert_int_equal(n, 1);
	free(due);

	/* twenty of acme's, asked long ago, and one of globex's asked later */
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "x%d", i);
		snprintf(serial, sizeof(serial), "SN-x%d", i);
		assert_true((id = device(acme, name, serial)) > 0);
		reg_device_polled(r, id, now - 1000);
	}
	assert_true((id = device(globex, "g1", "SN-g1")) > 0);
	reg_device_polled(r, id, now - 100);
	assert_int_equal(reg_devices_due(r, "a", now, 60, 8, 32, &due, &n), 0);
	assert_int_equal(n, 9);
	for (size_t i = 0; i < n; i++)
		nacme += due[i].org == acme;
	assert_int_equal(nacme, 8);
	assert_int_equal(due[8].org, globex);
	free(due);
}

/* Settings: the organization's, a device's own over them, merge-patched
 * with checks that name the field, and never another organization's. */
static void settings_merge_and_stay_in_their_organization(void **state)
{
	int64_t g1 = device(acme, "g1", "SN-1"), x1 = device(globex, "x1", "SN-2");
	json_t *cur = json_object(), *p, *w;
	char err[256], q[256], *text;

	assert_true(g1 > 0 && x1 > 0);
	p = json_pack("{s:i, s:i}", "udp_wait_ms", 120000, "hello_interval_ms", 10000);
	assert_int_equal(srv_settings_patch(cur, p, err, sizeof(err)), 0);
	json_decref(p);
	text = json_dumps(cur, JSON_COMPACT);
	assert_int_equal(reg_org_set_settings(r, acme, text), 0);
	free(text);
	/* wrong: the field and its range are named, nothing changes */
	p = json_pack("{s:i}", "udp_wait_ms", 900001);
	assert_int_equal(srv_settings_patch(cur, p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "settings.udp_wait_ms: want an integer from 100 to 900000, or null");
	json_decref(p);
	p = json_pack("{s:i, s:i}", "coalesce_ms", 20, "probe", 1);
	assert_int_equal(srv_settings_patch(cur, p, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "settings.probe: no such setting"));
	assert_null(json_object_get(cur, "coalesce_ms"));
	json_decref(p);
	json_decref(cur);
	/* the device's own over the organization's; null removes */
	assert_int_equal(reg_device_set_settings(r, acme, "g1",
						 "{\"hello_interval_ms\":2000,"
						 "\"hold_ms\":5000}"),
			 0);
	assert_int_equal(reg_device_set_settings(r, acme, "x1", "{}"), -ENOENT);
	w = srv_settings_wanted(r, acme, g1);
	srv_settings_query(w, q, sizeof(q));
	assert_string_equal(q, "hello_interval_ms=2000&udp_wait_ms=120000&hold_ms=5000");
	json_decref(w);
	/* another organization's device id takes nothing of acme's */
	w = srv_settings_wanted(r, globex, g1);
	assert_int_equal(json_object_size(w), 0);
	json_decref(w);
	w = srv_settings_wanted(r, acme, x1); /* nor acme anything of globex's device */
	srv_settings_query(w, q, sizeof(q));
	assert_string_equal(q, "hello_interval_ms=10000&udp_wait_ms=120000");
	json_decref(w);
	/* a report's settings, checked: out of range or unknown is dropped */
	p = json_loads("{\"hello_interval_ms\":2000,\"udp_wait_ms\":\"x\",\"hold_ms\":0,"
		       "\"central\":{\"hello_interval_ms\":2000,\"coalesce_ms\":99,\"z\":1}}",
		       0, NULL);
	w = srv_settings_reported(p);
	text = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text, "{\"central\":{\"hello_interval_ms\":2000},\"coalesce_ms\":null,"
				  "\"hello_interval_ms\":2000,\"hold_ms\":0,\"udp_wait_ms\":null}");
	free(text);
	json_decref(w);
	json_decref(p);
}

/* Servers sharing the registry: each beats; a device's tunnel is held by
 * one at a time, taken by epoch, so that of two that read the same epoch
 * exactly one takes it and the other's writes about it match nothing; a
 * silent one is reaped and what it held released. */
static void instances_hold_devices_by_epoch(void **state)
{
	int64_t d = device(acme, "gw1", "SN-1"), d2 = device(acme, "gw2", "SN-2"), epoch = -1;
	struct reg_instance *in;
	struct reg_device dev;
	char who[REG_INSTANCE_MAX];
	size_t n;

	assert_true(d > 0 && d2 > 0);
	assert_int_equal(reg_instance_beat(r, "a", "https://10.0.0.1:8443", 100, 100), 0);
	assert_int_equal(reg_instance_beat(r, "b", "https://10.0.0.2:8443", 100, 100), 0);
	assert_int_equal(reg_instance_beat(r, "a", "https://10.0.0.1:8443", 100, 105), 0);
	assert_int_equal(reg_device_owner(r, d, who, sizeof(who), &epoch), -ENOENT);
	/* both saw it never held: one insert meets the key */
	assert_int_equal(reg_device_take(r, d, "a", 0), 1);
	assert_int_equal(reg_device_take(r, d, "b", 0), -EBUSY);
	assert_int_equal(reg_device_owner(r, d, who, sizeof(who), &epoch), 0);
	assert_string_equal(who, "a");
	assert_int_equal(epoch, 1);
	assert_int_equal(reg_device_heard(r, d, "a", 1, "udp", 1000), 0);
	/* it moves to b; a, still at epoch 1, can neither take it back nor write */
	assert_int_equal(reg_device_take(r, d, "b", 1), 2);
	assert_int_equal(reg_device_take(r, d, "a", 1), -EBUSY);
	assert_int_equal(reg_device_heard(r, d, "a", 1, "http", 2000), -ESTALE);
	assert_int_equal(reg_device_heard(r, d, "b", 1, "http", 2000), -ESTALE);
	assert_int_equal(reg_device_get(r, acme, "gw1", &dev), 0);
	assert_string_equal(dev.transport, "udp");
	assert_int_equal(dev.last_seen, 1000);
	assert_int_equal(reg_device_heard(r, d, "b", 2, "http", 2000), 0);
	assert_int_equal(reg_device_take(r, d2, "a", 0), 1);
	assert_int_equal(reg_instances_list(r, &in, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(in[0].id, "a");
	assert_int_equal(in[0].heartbeat, 105);
	assert_int_equal(in[0].devices, 1);
	assert_string_equal(in[1].address, "https://10.0.0.2:8443");
	assert_int_equal(in[1].devices, 1);
	free(in);
	/* b falls silent: reaped, gw1 released with its epoch moved on */
	assert_int_equal(reg_instances_reap(r, 103), 1);
	assert_int_equal(reg_device_owner(r, d, who, sizeof(who), &epoch), 0);
	assert_string_equal(who, "");
	assert_int_equal(epoch, 3);
	assert_int_equal(reg_device_heard(r, d, "b", 2, "udp", 3000), -ESTALE);
	assert_int_equal(reg_instances_reap(r, 103), 0);
	/* b beats again: it learns it was taken for dead */
	assert_int_equal(reg_instance_beat(r, "b", "https://10.0.0.2:8443", 100, 110), 1);
	assert_int_equal(reg_device_take(r, d, "b", 3), 4);
	/* a ends: what it held goes with it; a deleted device's hold too */
	assert_int_equal(reg_instance_gone(r, "a"), 0);
	assert_int_equal(reg_device_owner(r, d2, who, sizeof(who), &epoch), 0);
	assert_string_equal(who, "");
	assert_int_equal(reg_device_delete(r, acme, "gw1"), 0);
	assert_int_equal(reg_device_owner(r, d, who, sizeof(who), &epoch), -ENOENT);
}

/* A capture ends with the server that runs it: not when another server
 * starts, but once it is no longer among the instances (it stopped, or
 * died and was reaped). */
static void captures_end_with_their_server(void **state)
{
	char token[2 * REG_TOKEN_LEN + 1];
	int64_t alice = reg_admin_add(r, "acme", "alice", token), a, b;
	struct reg_capture *c;
	size_t n;

	assert_true(alice > 0);
	assert_int_equal(reg_instance_beat(r, "a", "http://a", 100, 100), 0);
	assert_int_equal(reg_instance_beat(r, "b", "http://b", 150, 150), 0);
	a = reg_capture_add(r, acme, alice, "{}", "/data/a", "a");
	b = reg_capture_add(r, acme, alice, "{}", "/data/b", "b");
	assert_true(a > 0 && b > 0);
	reg_captures_interrupted(r); /* a server starting: both still run */
	assert_int_equal(reg_captures_list(r, acme, 0, &c, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(c[0].state, "running");
	assert_string_equal(c[1].state, "running");
	reg_captures_free(c, n);
	assert_int_equal(reg_instances_reap(r, 120), 0); /* a is dead */
	assert_int_equal(reg_captures_list(r, acme, a, &c, &n), 0);
	assert_string_equal(c[0].state, "done");
	assert_string_equal(c[0].ended_by, "server stopped");
	reg_captures_free(c, n);
	assert_int_equal(reg_instance_gone(r, "b"), 0); /* b stops */
	assert_int_equal(reg_captures_list(r, acme, b, &c, &n), 0);
	assert_string_equal(c[0].state, "done");
	reg_captures_free(c, n);
}

/* PostgreSQL: two servers, each its own connection, read the same epoch
 * and take the device at once: exactly one does. */
static void postgres_two_servers_take_one_device(void **state)
{
	struct reg *other = NULL;
	int64_t d = device(acme, "gw1", "SN-1"), e1, e2, epoch;
	char err[256], who[REG_INSTANCE_MAX];

	assert_int_equal(reg_open(where, &other, err, sizeof(err)), 0);
	assert_int_equal(reg_device_take(r, d, "a", 0), 1);
	assert_int_equal(reg_device_owner(other, d, who, sizeof(who), &epoch), 0);
	assert_int_equal(epoch, 1);
	e1 = reg_device_take(other, d, "b", epoch);
	e2 = reg_device_take(r, d, "c", epoch);
	assert_true((e1 == 2 && e2 == -EBUSY) || (e1 == -EBUSY && e2 == 2));
	assert_int_equal(reg_device_owner(r, d, who, sizeof(who), &epoch), 0);
	assert_string_equal(who, e1 == 2 ? "b" : "c");
	reg_close(other);
}

/* A page of devices' reports, errors and own settings in one read, in
 * the order and with the bounds of reg_devices_list. */
static void devices_said_by_page(void **state)
{
	int64_t a = device(acme, "gw1", "SN-1"), b = device(acme, "gw2", "SN-2"),
		c = device(acme, "gw3", "SN-3"), g = device(globex, "gx1", "SN-9");
	struct reg_device_said *s;
	size_t n;

	assert_true(a > 0 && b > 0 && c > 0 && g > 0);
	reg_device_report(r, b, "SN-2", "{\"agent\":\"x\"}", 77);
	reg_device_report_error(r, c, "SN-3", "connection refused");
	assert_int_equal(reg_device_set_settings(r, acme, "gw1", "{\"hold_ms\":1000}"), 0);
	assert_int_equal(reg_devices_said(r, acme, "", 0, &s, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(s[0].id, a);
	assert_string_equal(s[0].settings, "{\"hold_ms\":1000}");
	assert_null(s[0].report);
	assert_int_equal(s[1].id, b);
	assert_string_equal(s[1].report, "{\"agent\":\"x\"}");
	assert_int_equal(s[1].reported, 77);
	assert_null(s[1].error);
	assert_int_equal(s[2].id, c);
	assert_string_equal(s[2].error, "connection refused");
	reg_devices_said_free(s, n);
	/* after gw1, one */
	assert_int_equal(reg_devices_said(r, acme, "gw1", 1, &s, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(s[0].id, b);
	reg_devices_said_free(s, n);
}

/* PostgreSQL: a schema newer than the server's is refused, and so is a
 * database that is not there, each with the reason. */
static void postgres_refuses_newer_schema_and_no_database(void **state)
{
	struct reg *other = NULL;
	char err[256], url[512];
	const char *q;

	assert_int_equal(reg_exec(r, "UPDATE schema_version SET version = 99"), 0);
	assert_int_equal(reg_open(where, &other, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "schema version 99 is newer than this server's (12)"));
	assert_int_equal(reg_exec(r, "UPDATE schema_version SET version = 12"), 0);
	assert_int_equal(reg_open(where, &other, err, sizeof(err)), 0);
	reg_close(other);
	/* the same server, a database it does not have */
	q = strchr(where + strlen("postgresql://"), '?');
	snprintf(url, sizeof(url), "postgresql:///nosuchdb%s", q ? q : "");
	assert_int_equal(reg_open(url, &other, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "database \"nosuchdb\" does not exist"));
	/* and where is said without the password */
	assert_null(strstr(reg_where(r), "secret"));
}

/* PostgreSQL through a forwarder of the test's own, on 127.0.0.1: while
 * stalled it accepts nothing, so a connection completes its handshake in
 * the kernel and waits for an answer, as with a server that stopped
 * answering; cut closes the connections it carries. */
struct fwd {
	int lfd, port;
	char sock[300];
	int pairs[16][2], n;
	volatile int stalled, cut, stop;
	pthread_t th;
};

static void *forward(void *arg)
{
	struct fwd *f = arg;
	struct pollfd p[33];
	char buf[16384];

	while (!f->stop) {
		int k = 0;

		if (f->cut) {
			for (int i = 0; i < f->n; i++) {
				close(f->pairs[i][0]);
				close(f->pairs[i][1]);
			}
			f->n = 0;
			f->cut = 0;
		}
		for (int i = 0; i < f->n; i++) {
			p[k++] = (struct pollfd){.fd = f->pairs[i][0], .events = POLLIN};
			p[k++] = (struct pollfd){.fd = f->pairs[i][1], .events = POLLIN};
		}
		p[k] =
		    (struct pollfd){.fd = f->stalled || f->n == 16 ? -1 : f->lfd, .events = POLLIN};
		if (poll(p, (nfds_t)k + 1, 20) <= 0)
			continue;
		if (p[k].revents & POLLIN) {
			struct sockaddr_un un = {.sun_family = AF_UNIX};
			int a = accept(f->lfd, NULL, NULL), b = socket(AF_UNIX, SOCK_STREAM, 0);

			snprintf(un.sun_path, sizeof(un.sun_path), "%.100s", f->sock);
			if (a >= 0 && b >= 0 && !connect(b, (struct sockaddr *)&un, sizeof(un))) {
				f->pairs[f->n][0] = a;
				f->pairs[f->n++][1] = b;
			} else {
				close(a);
				close(b);
			}
		}
		for (int i = 0; i < k; i++) {
			ssize_t got;

			if (!(p[i].revents & (POLLIN | POLLHUP)))
				continue;
			got = read(p[i].fd, buf, sizeof(buf));
			if (got <= 0 ||
			    write(f->pairs[i / 2][1 - i % 2], buf, (size_t)got) != got) {
				f->cut = 1; /* (one broke: the test's connections start again) */
				break;
			}
		}
	}
	return NULL;
}

static double secs(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* PostgreSQL that stops answering: a statement that finds its connection
 * broken fails at once (the server answers 503) rather than holding the
 * loop for connect_timeout (5 s) while it connects again; the connection
 * is made on a thread, and taken by a later statement once it answers. */
static void postgres_connects_again_off_the_loop(void **state)
{
	struct fwd f = {.lfd = socket(AF_INET, SOCK_STREAM, 0)};
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(in);
	const char *host = strstr(where, "host="), *amp;
	struct reg *t = NULL;
	struct reg_stats st;
	char err[256], url[128];
	double t0, took;
	int ok = 0;

	assert_non_null(host);
	amp = strchr(host, '&');
	snprintf(f.sock, sizeof(f.sock), "%.*s/.s.PGSQL.5432", (int)(amp ? amp - host - 5 : 250),
		 host + 5);
	assert_int_equal(bind(f.lfd, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(listen(f.lfd, 16), 0);
	assert_int_equal(getsockname(f.lfd, (struct sockaddr *)&in, &len), 0);
	assert_int_equal(pthread_create(&f.th, NULL, forward, &f), 0);
	snprintf(url, sizeof(url), "postgresql://edgecap@127.0.0.1:%d/edgecap", ntohs(in.sin_port));
	assert_int_equal(reg_open(url, &t, err, sizeof(err)), 0);
	assert_int_equal(reg_stats(t, &st), 0);

	f.stalled = 1;
	f.cut = 1;
	while (f.cut)
		usleep(10000);
	for (int i = 0; i < 3; i++) { /* the first finds it broken, the others too */
		t0 = secs();
		assert_true(reg_stats(t, &st) < 0);
		took = secs() - t0;
		assert_true(took < 1.0); /* connect_timeout is 5 s */
	}
	f.stalled = 0; /* the waiting connection is taken, and answered */
	for (int i = 0; i < 200 && !ok; i++) {
		ok = !reg_stats(t, &st);
		usleep(50000);
	}
	assert_true(ok);
	reg_close(t);
	f.stop = 1;
	pthread_join(f.th, NULL);
	for (int i = 0; i < f.n; i++) {
		close(f.pairs[i][0]);
		close(f.pairs[i][1]);
	}
	close(f.lfd);
}

/* PostgreSQL: a stop asked and a device taken are signalled to every
 * listener, on its own thread, when they commit; a listener stops. */
struct heard {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char said[4][REG_NOTICE_MAX];
	int n;
};

static void on_notice(void *data, const char *payload)
{
	struct heard *h = data;

	pthread_mutex_lock(&h->mu);
	if (h->n < 4)
		snprintf(h->said[h->n++], REG_NOTICE_MAX, "%s", payload);
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

/* Wait up to 5 s for n payloads heard. */
static int heard_n(struct heard *h, int n)
{
	struct timespec until;
	int e = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&h->mu);
	while (h->n < n && !e)
		e = pthread_cond_timedwait(&h->cv, &h->mu, &until);
	n = h->n;
	pthread_mutex_unlock(&h->mu);
	return n;
}

static void postgres_signals_stops_and_moves(void **state)
{
	struct heard h = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	struct reg_listener *l = NULL;
	char token[2 * REG_TOKEN_LEN + 1];
	int64_t alice = reg_admin_add(r, "acme", "alice", token), d = device(acme, "gw1", "SN-1"),
		id;
	struct timespec settle = {0, 200 * 1000 * 1000};

	assert_int_equal(reg_listen(r, on_notice, &h, &l), 0);
	nanosleep(&settle, NULL); /* its LISTEN made */
	id = reg_capture_add(r, acme, alice, "{}", "/data/n.pcapng", "a");
	assert_true(id > 0);
	assert_int_equal(reg_capture_ask_stop(r, globex, id), -ENOENT); /* not theirs: no signal */
	assert_int_equal(reg_capture_ask_stop(r, acme, id), 0);
	assert_int_equal(reg_device_take(r, d, "a", 0), 1); /* a first hold: nobody to tell */
	assert_int_equal(reg_device_take(r, d, "b", 1), 2);
	assert_int_equal(heard_n(&h, 2), 2);
	assert_int_equal(heard_n(&h, 3), 2); /* and nothing more */
	{
		char want[2][REG_NOTICE_MAX];

		snprintf(want[0], sizeof(want[0]), "stop %lld", (long long)id);
		snprintf(want[1], sizeof(want[1]), "moved %lld", (long long)d);
		assert_string_equal(h.said[0], want[0]);
		assert_string_equal(h.said[1], want[1]);
	}
	reg_unlisten(r, l);
}

int main(void)
{
	const struct CMUnitTest postgres[] = {
	    cmocka_unit_test_setup_teardown(postgres_refuses_newer_schema_and_no_database, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(postgres_two_servers_take_one_device, setup, teardown),
	    cmocka_unit_test_setup_teardown(postgres_signals_stops_and_moves, setup, teardown),
	    cmocka_unit_test_setup_teardown(postgres_connects_again_off_the_loop, setup, teardown),
	};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(schema_and_bootstrap, setup, teardown),
	    cmocka_unit_test_setup_teardown(users_emails_passwords_and_tokens, setup, teardown),
	    cmocka_unit_test_setup_teardown(devices_are_unique_and_scoped, setup, teardown),
	    cmocka_unit_test_setup_teardown(devices_join_by_claim, setup, teardown),
	    cmocka_unit_test_setup_teardown(management_addresses_collide_and_resolve, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(captures_hold_their_devices, setup, teardown),
	    cmocka_unit_test_setup_teardown(reports_are_due_and_kept, setup, teardown),
	    cmocka_unit_test_setup_teardown(devices_said_by_page, setup, teardown),
	    cmocka_unit_test_setup_teardown(reports_back_off_and_share, setup, teardown),
	    cmocka_unit_test_setup_teardown(settings_merge_and_stay_in_their_organization, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(instances_hold_devices_by_epoch, setup, teardown),
	    cmocka_unit_test_setup_teardown(captures_end_with_their_server, setup, teardown),
	};
	const struct CMUnitTest sqlite[] = {
	    cmocka_unit_test_setup_teardown(file_is_private, file_setup, file_teardown),
	    cmocka_unit_test_setup_teardown(loose_file_is_tightened, file_setup, file_teardown),
	    cmocka_unit_test_setup_teardown(damaged_page_is_refused, file_setup, file_teardown),
	    cmocka_unit_test_setup_teardown(damaged_header_is_refused, file_setup, file_teardown),
	    cmocka_unit_test_setup_teardown(keys_enrolled_twice_migrate, file_setup, file_teardown),
	    cmocka_unit_test_setup_teardown(administrators_become_owners, file_setup,
					    file_teardown),
	};

	const char *pg = getenv("EDGECAP_TEST_DB");
	int failed;

	if (pg && *pg)
		where = pg;
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	if (reg_is_url(where))
		return failed + cmocka_run_group_tests(postgres, NULL, NULL);
	return failed + cmocka_run_group_tests(sqlite, NULL, NULL);
}
