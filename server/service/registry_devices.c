/* registry_devices.c - organizations and devices, see registry.h; the
 * same on every storage engine (registry_db.h). */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hex.h"
#include "service/registry.h"
#include "service/registry_backend.h"
#include "service/registry_db.h"
#include "tunnel/identity.h"

void reg_sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned len = 32;

	EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

int64_t reg_org_add(struct reg *r, const char *name)
{
	return reg_insert(reg_q(r, "INSERT INTO orgs (name, created) VALUES (?, ?) RETURNING id",
				"ti", name, (int64_t)time(NULL)));
}

/* The first free management address for a serial (CRC32, then the next
 * ones on collision), or 0 on error. */
static uint32_t free_mgmt(struct reg *r, const char *serial)
{
	for (uint32_t n = 0; n < 1024; n++) {
		uint32_t a = mtun_address(serial, n);
		struct reg_stmt *st =
		    reg_q(r, "SELECT 1 FROM devices WHERE mgmt_address = ?", "i", (int64_t)a);
		int rc = reg_step(st);

		reg_done(st);
		if (rc == 0)
			return a;
		if (rc != 1)
			return 0;
	}
	return 0;
}

/* Devices enrolled before schema 2 get their management address. */
int reg_assign_mgmt(struct reg *r, char *err, size_t errlen)
{
	for (;;) {
		struct reg_stmt *st =
		    reg_q(r,
			  "SELECT id, serial FROM devices WHERE mgmt_address IS NULL "
			  "LIMIT 1",
			  "");
		int64_t id;
		char serial[256];
		uint32_t a;

		if (!st || reg_step(st) != 1) {
			reg_done(st);
			break;
		}
		id = reg_int(st, 0);
		snprintf(serial, sizeof(serial), "%s", reg_text(st, 1));
		reg_done(st);
		a = free_mgmt(r, serial);
		if (!a || reg_run(reg_q(r, "UPDATE devices SET mgmt_address = ? WHERE id = ?", "ii",
					(int64_t)a, id))) {
			snprintf(err, errlen, "assigning management addresses: %s", reg_errmsg(r));
			return -EIO;
		}
	}
	return 0;
}

int64_t reg_device_add(struct reg *r, int64_t org, const char *name, const char *serial,
		       const char *address, const char *pubkey, char *secret_hex)
{
	uint8_t secret[REG_SECRET_LEN];
	uint32_t mgmt = free_mgmt(r, serial);

	if (!mgmt || RAND_bytes(secret, sizeof(secret)) != 1)
		return -EIO;
	ecap_hex_encode(secret, sizeof(secret), secret_hex);
	return reg_insert(
	    reg_q(r,
		  "INSERT INTO devices (org_id, name, serial, address, pubkey, secret, "
		  "created, mgmt_address) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
		  "ittttbii", org, name, serial, address, pubkey, secret, (int)sizeof(secret),
		  (int64_t)time(NULL), (int64_t)mgmt));
}

/* The next element of an array that grows as rows come: *n of it used,
 * room for *cap (doubled as needed). Its address, or NULL without memory
 * (the array as it was). */
void *reg_next_row(void **v, size_t *n, size_t *cap, size_t size)
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 16;
		void *nv = realloc(*v, c * size);

		if (!nv)
			return NULL;
		*v = nv;
		*cap = c;
	}
	return (char *)*v + (*n)++ * size;
}

/* Every column of a device, in the order device_row reads them. */
void reg_text_col(struct reg_stmt *st, int col, char *ret, size_t len)
{
	const char *t = reg_text(st, col);

	snprintf(ret, len, "%s", t ? t : "");
}

void reg_device_row(struct reg_stmt *st, struct reg_device *d)
{
	const void *secret;
	size_t len;

	*d = (struct reg_device){.id = reg_int(st, 0),
				 .org = reg_int(st, 1),
				 .enabled = (int)reg_int(st, 8),
				 .mgmt = (uint32_t)reg_int(st, 9),
				 .last_seen = reg_int(st, 10),
				 .created = reg_int(st, 11)};
	reg_text_col(st, 2, d->name, sizeof(d->name));
	reg_text_col(st, 3, d->serial, sizeof(d->serial));
	reg_text_col(st, 4, d->address, sizeof(d->address));
	reg_text_col(st, 5, d->pubkey, sizeof(d->pubkey));
	reg_text_col(st, 6, d->transport, sizeof(d->transport));
	secret = reg_blob(st, 7, &len);
	if (len == REG_SECRET_LEN)
		memcpy(d->secret, secret, REG_SECRET_LEN);
}

/* The one device a statement selects (DEVICE_COLUMNS): 0, -ENOENT or -EIO. */
static int one_device(struct reg_stmt *st, struct reg_device *ret)
{
	int e = reg_row(st);

	if (!e)
		reg_device_row(st, ret);
	reg_done(st);
	return e;
}

int reg_device_get(struct reg *r, int64_t org, const char *name, struct reg_device *ret)
{
	return one_device(
	    reg_q(r, "SELECT " DEVICE_COLUMNS " FROM devices WHERE org_id = ? AND name = ?", "it",
		  org, name),
	    ret);
}

int reg_device_by_id(struct reg *r, int64_t id, struct reg_device *ret)
{
	return one_device(reg_q(r, "SELECT " DEVICE_COLUMNS " FROM devices WHERE id = ?", "i", id),
			  ret);
}

int reg_device_by_pubkey(struct reg *r, const char *pubkey, struct reg_device *ret)
{
	return one_device(
	    reg_q(r, "SELECT " DEVICE_COLUMNS " FROM devices WHERE pubkey = ?", "t", pubkey), ret);
}

int reg_device_rows(struct reg_stmt *st, struct reg_device **ret, size_t *ret_n)
{
	void *v = NULL;
	size_t n = 0, cap = 0;
	int rc, e = 0;

	if (!st)
		return -EIO;
	while ((rc = reg_step(st)) == 1) {
		struct reg_device *d = reg_next_row(&v, &n, &cap, sizeof(*d));

		if (!d) {
			e = -ENOMEM;
			break;
		}
		reg_device_row(st, d);
	}
	reg_done(st);
	if (!e && rc != 0)
		e = -EIO;
	if (e) {
		free(v);
		return e;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int reg_devices_list(struct reg *r, int64_t org, const char *after, size_t limit,
		     struct reg_device **ret, size_t *ret_n)
{
	return reg_device_rows(reg_q(r,
				     "SELECT " DEVICE_COLUMNS " FROM devices WHERE org_id = ? AND "
				     "name > ? ORDER BY name LIMIT ?",
				     "iti", org, after ? after : "",
				     limit ? (int64_t)limit : INT64_MAX),
			       ret, ret_n);
}

int reg_device_enable(struct reg *r, int64_t org, const char *name, int enabled)
{
	int e = reg_run(reg_q(r, "UPDATE devices SET enabled = ? WHERE org_id = ? AND name = ?",
			      "iit", (int64_t)enabled, org, name));

	return !e && !reg_changes(r) ? -ENOENT : e;
}

int reg_device_delete(struct reg *r, int64_t org, const char *name)
{
	struct reg_stmt *st =
	    reg_q(r, "DELETE FROM devices WHERE org_id = ? AND name = ?", "it", org, name);
	int e = reg_run(st);

	if (!e && !reg_changes(r))
		return -ENOENT;
	return e == -EEXIST ? -EBUSY : e; /* captures refer to it */
}

void reg_device_seen(struct reg *r, int64_t id, int64_t when)
{
	reg_run(reg_q(r, "UPDATE devices SET last_seen = ? WHERE id = ?", "ii", when, id));
}

int reg_stats(struct reg *r, struct reg_stats *ret)
{
	struct reg_stmt *st =
	    reg_q(r,
		  "SELECT (SELECT count(*) FROM orgs), (SELECT count(*) FROM devices), "
		  "(SELECT count(*) FROM captures)",
		  "");
	int e = -EIO;

	if (st && reg_step(st) == 1) {
		*ret = (struct reg_stats){.orgs = (uint64_t)reg_int(st, 0),
					  .devices = (uint64_t)reg_int(st, 1),
					  .captures = (uint64_t)reg_int(st, 2)};
		e = 0;
	}
	reg_done(st);
	return e;
}
