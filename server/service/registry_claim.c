/* registry_claim.c - devices that announced themselves and wait to be
 * claimed, and the claim that makes one an organization's device; see
 * registry.h. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "service/registry.h"
#include "service/registry_db.h"
#include "tunnel/claim.h"

int reg_unclaimed_announce(struct reg *r, const struct reg_unclaimed *u,
			   const struct reg_unclaimed_limits *lim)
{
	struct reg_stmt *st;
	int64_t seen = -1, n;
	int rc;

	/* the expired go first, so that the bounds count the living */
	reg_run(reg_q(r, "DELETE FROM unclaimed WHERE last_seen < ?", "i",
		      u->last_seen - lim->expire_s));
	st = reg_q(r,
		   "SELECT last_seen FROM unclaimed WHERE pubkey = ? AND serial = ? AND "
		   "claim_sha256 = ? AND hostname = ? AND agent = ? AND source = ?",
		   "tttttt", u->pubkey, u->serial, u->claim, u->hostname, u->agent, u->source);
	if (!st)
		return -EIO;
	if ((rc = reg_step(st)) == 1)
		seen = reg_int(st, 0);
	reg_done(st);
	if (rc < 0)
		return -EIO;
	if (seen >= 0) { /* the same words again: written once a minute at most */
		if (u->last_seen - seen < 60)
			return 0;
		return reg_run(reg_q(r, "UPDATE unclaimed SET last_seen = ? WHERE pubkey = ?", "it",
				     u->last_seen, u->pubkey));
	}
	st = reg_q(r,
		   "SELECT (SELECT count(*) FROM unclaimed WHERE pubkey != ?1), "
		   "(SELECT count(*) FROM unclaimed WHERE source = ?2 AND pubkey != ?1)",
		   "tt", u->pubkey, u->source);
	if (!st || reg_step(st) != 1) {
		reg_done(st);
		return -EIO;
	}
	n = reg_int(st, 0);
	rc = n >= lim->max ? -ENOSPC : reg_int(st, 1) >= lim->per_source ? -EMFILE : 0;
	reg_done(st);
	if (rc)
		return rc;
	rc = reg_run(reg_q(r,
			   "INSERT INTO unclaimed (pubkey, serial, claim_sha256, hostname, agent, "
			   "source, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) "
			   "ON CONFLICT (pubkey) DO UPDATE SET serial = ?2, claim_sha256 = ?3, "
			   "hostname = ?4, agent = ?5, source = ?6, last_seen = ?7",
			   "tttttti", u->pubkey, u->serial, u->claim, u->hostname, u->agent,
			   u->source, u->last_seen));
	return rc ? rc : 1;
}

/* Which of the serial's announcements the code is for: its key into pubkey
 * and what it said of itself, or -ENOENT. Each is checked (however many
 * keys announced the serial: the table's bound bounds the work), in
 * constant time for the hash. */
static int match(struct reg *r, const char *serial, const char *code, struct reg_unclaimed *ret)
{
	struct reg_stmt *st = reg_q(r,
				    "SELECT pubkey, claim_sha256, hostname, agent FROM unclaimed "
				    "WHERE serial = ?",
				    "t", serial);
	char want[MTUN_CLAIM_HEX];
	int rc, found = -ENOENT;

	if (!st)
		return -EIO;
	while ((rc = reg_step(st)) == 1) {
		const char *pub = reg_text(st, 0), *have = reg_text(st, 1);

		if (!pub || !have || strlen(have) != MTUN_CLAIM_HEX - 1 ||
		    mtun_claim_hash(pub, code, want) ||
		    CRYPTO_memcmp(want, have, MTUN_CLAIM_HEX - 1) || found == 0)
			continue;
		reg_text_col(st, 0, ret->pubkey, sizeof(ret->pubkey));
		reg_text_col(st, 2, ret->hostname, sizeof(ret->hostname));
		reg_text_col(st, 3, ret->agent, sizeof(ret->agent));
		found = 0;
	}
	reg_done(st);
	return rc == 0 ? found : -EIO;
}

int64_t reg_device_claim(struct reg *r, int64_t org, const char *serial, const char *code,
			 const char *name, struct reg_unclaimed *ret)
{
	char secret[2 * REG_SECRET_LEN + 1];
	int64_t id;
	int rc;

	*ret = (struct reg_unclaimed){0};
	if (reg_begin(r))
		return -EIO;
	rc = match(r, serial, code, ret);
	if (rc) {
		id = rc;
		goto fail;
	}
	if (name && *name)
		snprintf(ret->hostname, sizeof(ret->hostname), "%s", name);
	else if (!ret->hostname[0] && strlen(serial) > REG_NAME_MAX) {
		id = -ENAMETOOLONG; /* no name of its own, and its serial is too long for one */
		goto fail;
	} else if (!ret->hostname[0])
		snprintf(ret->hostname, sizeof(ret->hostname), "%s", serial);
	id = reg_device_add(r, org, ret->hostname, serial, ret->agent, ret->pubkey, secret);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (id < 0)
		goto fail;
	if (reg_run(reg_q(r, "DELETE FROM unclaimed WHERE pubkey = ?", "t", ret->pubkey))) {
		id = -EIO;
		goto fail;
	}
	if (reg_exec(r, "COMMIT")) {
		id = -EIO;
		goto fail;
	}
	return id;
fail:
	reg_exec(r, "ROLLBACK");
	return id;
}
