/* registry_instances.c - the servers sharing the registry and which one
 * holds each device's tunnel, see registry.h and docs/scale.md. */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service/registry.h"
#include "service/registry_db.h"

int reg_instance_beat(struct reg *r, const char *id, const char *address, int64_t started,
		      int64_t now)
{
	int e = reg_run(reg_q(r, "UPDATE instances SET heartbeat = ?, address = ? WHERE id = ?",
			      "itt", now, address, id));

	if (e || reg_changes(r))
		return e;
	e = reg_run(reg_q(r,
			  "INSERT INTO instances (id, address, started, heartbeat) "
			  "VALUES (?, ?, ?, ?)",
			  "ttii", id, address, started, now));
	return e ? e : started < now;
}

/* The tunnels instances no longer there held: released, their epochs
 * moved on so that a stale holder's writes match nothing. */
static int64_t release_orphans(struct reg *r)
{
	int e = reg_run(reg_q(r,
			      "UPDATE device_owner SET instance = NULL, epoch = epoch + 1 "
			      "WHERE instance IS NOT NULL AND instance NOT IN "
			      "(SELECT id FROM instances)",
			      ""));

	return e ? e : reg_changes(r);
}

/* One statement each: of several instances reaping at once, the rows go
 * once. */
int64_t reg_instances_reap(struct reg *r, int64_t before)
{
	int e = reg_run(reg_q(r, "DELETE FROM instances WHERE heartbeat < ?", "i", before));

	if (e)
		return e;
	if (reg_changes(r)) /* what they ran ends with them */
		reg_captures_interrupted(r);
	return release_orphans(r);
}

int reg_instance_gone(struct reg *r, const char *id)
{
	int e = reg_run(reg_q(r, "DELETE FROM instances WHERE id = ?", "t", id));
	int64_t n = e ? e : release_orphans(r);

	if (!e)
		reg_captures_interrupted(r);

	return n < 0 ? (int)n : 0;
}

int reg_instances_list(struct reg *r, struct reg_instance **ret, size_t *ret_n)
{
	struct reg_stmt *st = reg_q(r,
				    "SELECT i.id, i.address, i.started, i.heartbeat, "
				    "(SELECT count(*) FROM device_owner o WHERE o.instance = i.id) "
				    "FROM instances i ORDER BY i.id",
				    "");
	struct reg_instance *v = NULL, *row;
	size_t n = 0, cap = 0;
	int rc;

	while ((rc = reg_step(st)) == 1) {
		if (!(row = reg_next_row((void **)&v, &n, &cap, sizeof(*v)))) {
			rc = -ENOMEM;
			break;
		}
		reg_text_col(st, 0, row->id, sizeof(row->id));
		reg_text_col(st, 1, row->address, sizeof(row->address));
		row->started = reg_int(st, 2);
		row->heartbeat = reg_int(st, 3);
		row->devices = reg_int(st, 4);
	}
	reg_done(st);
	if (rc) {
		free(v);
		return rc == -ENOMEM ? rc : -EIO;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int reg_instance_address(struct reg *r, const char *id, char *ret, size_t len)
{
	struct reg_stmt *st = reg_q(r, "SELECT address FROM instances WHERE id = ?", "t", id);
	int e = reg_row(st);

	if (!e)
		reg_text_col(st, 0, ret, len);
	reg_done(st);
	return e;
}

/* Of instances starting at once, one insert is kept; each reads it. */
int reg_cluster_secret(struct reg *r, uint8_t ret[REG_CLUSTER_SECRET_LEN])
{
	uint8_t fresh[REG_CLUSTER_SECRET_LEN];
	struct reg_stmt *st;
	const void *p;
	size_t n = 0;
	int e;

	if (RAND_bytes(fresh, sizeof(fresh)) != 1)
		return -EIO;
	e = reg_run(reg_q(r,
			  "INSERT INTO cluster (id, secret) VALUES (1, ?) "
			  "ON CONFLICT (id) DO NOTHING",
			  "b", fresh, (int)sizeof(fresh)));
	OPENSSL_cleanse(fresh, sizeof(fresh));
	if (e)
		return -EIO;
	st = reg_q(r, "SELECT secret FROM cluster WHERE id = 1", "");
	e = reg_row(st);
	if (!e && (p = reg_blob(st, 0, &n)) && n == REG_CLUSTER_SECRET_LEN)
		memcpy(ret, p, n);
	else
		e = -EIO;
	reg_done(st);
	return e;
}

int reg_device_owner(struct reg *r, int64_t device, char *instance, size_t len, int64_t *epoch)
{
	struct reg_stmt *st =
	    reg_q(r, "SELECT coalesce(instance, ''), epoch FROM device_owner WHERE device_id = ?",
		  "i", device);
	int e = reg_row(st);

	if (!e) {
		reg_text_col(st, 0, instance, len);
		*epoch = reg_int(st, 1);
	}
	reg_done(st);
	return e;
}

int64_t reg_device_take(struct reg *r, int64_t device, const char *instance, int64_t seen)
{
	int e;

	if (!seen) { /* the first hold: of two inserts, one meets the key */
		e = reg_run(reg_q(r,
				  "INSERT INTO device_owner (device_id, instance, epoch, since) "
				  "VALUES (?, ?, 1, ?)",
				  "iti", device, instance, (int64_t)time(NULL)));
		return e == -EEXIST ? -EBUSY : e ? e : 1;
	}
	e = reg_run(reg_q(r,
			  "UPDATE device_owner SET instance = ?, epoch = epoch + 1, since = ? "
			  "WHERE device_id = ? AND epoch = ?",
			  "tiii", instance, (int64_t)time(NULL), device, seen));
	if (e)
		return e;
	if (!reg_changes(r))
		return -EBUSY;
	/* the instance that held it drops its session now rather than at its
	 * next write about the device */
	reg_notify(r, REG_NOTICE_MOVED, device);
	return seen + 1;
}

int reg_device_heard(struct reg *r, int64_t device, const char *instance, int64_t epoch,
		     const char *transport, int64_t when)
{
	int e = reg_run(reg_q(r,
			      "UPDATE devices SET transport = ?1, last_seen = ?2 WHERE id = ?3 AND "
			      "EXISTS (SELECT 1 FROM device_owner WHERE device_id = ?3 AND "
			      "instance = ?4 AND epoch = ?5)",
			      "tiiti", transport, when, device, instance, epoch));

	return e ? e : reg_changes(r) ? 0 : -ESTALE;
}
