/* registry_reports.c - what devices say of themselves, see registry.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service/registry.h"
#include "service/registry_db.h"

int reg_devices_due(struct reg *r, const char *instance, int64_t now, int64_t interval_s,
		    size_t per_org, size_t limit, struct reg_device **ret, size_t *ret_n)
{
	/* One that failed n times in a row waits 2^n intervals (at most 8); one
	 * enrolled in the last ten minutes that has not answered yet is asked
	 * again every five seconds: its agent may start after it. Each
	 * organization's turn is its own, per_org at most. */
	return reg_device_rows(
	    reg_q(
		r,
		"SELECT " DEVICE_COLUMNS " FROM (SELECT *, row_number() OVER "
		"(PARTITION BY org_id ORDER BY polled, id) AS turn FROM devices WHERE enabled <> "
		"0 AND "
		"(polled + ?2 * CASE WHEN poll_failures >= 3 THEN 8 WHEN poll_failures = 2 THEN 4 "
		"WHEN poll_failures = 1 THEN 2 ELSE 1 END <= ?1 OR "
		"(reported = 0 AND created > ?1 - 600 AND polled <= ?1 - 5)) AND NOT EXISTS "
		"(SELECT 1 FROM device_owner o WHERE o.device_id = devices.id AND "
		"o.instance <> ?5)) AS due "
		"WHERE turn <= ?3 ORDER BY polled, id LIMIT ?4",
		"iiiit", now, interval_s, (int64_t)per_org, (int64_t)limit, instance),
	    ret, ret_n);
}

void reg_device_polled(struct reg *r, int64_t id, int64_t when)
{
	reg_run(reg_q(r, "UPDATE devices SET polled = ? WHERE id = ?", "ii", when, id));
}

/* By id and serial: an id SQLite hands out again after a delete, a serial
 * no two devices share, so an answer to a device removed meanwhile lands
 * on no other. */
void reg_device_report(struct reg *r, int64_t id, const char *serial, const char *json,
		       int64_t when)
{
	reg_run(reg_q(r,
		      "UPDATE devices SET report = ?, reported = ?, report_error = NULL, "
		      "poll_failures = 0, "
		      "last_seen = CASE WHEN last_seen > ?3 THEN last_seen ELSE ?3 END "
		      "WHERE id = ?4 AND serial = ?5",
		      "tiiit", json, when, when, id, serial));
}

void reg_device_report_error(struct reg *r, int64_t id, const char *serial, const char *error)
{
	reg_run(reg_q(r,
		      "UPDATE devices SET report_error = ?, poll_failures = poll_failures + 1 "
		      "WHERE id = ? AND serial = ?",
		      "tit", error, id, serial));
}

static char *dup_col(struct reg_stmt *st, int col)
{
	const char *t = reg_text(st, col);

	return t ? strdup(t) : NULL;
}

/* One row of two texts and an integer (when not NULL) at columns 0, 2, 1:
 * 0, -ENOENT (no row), -EIO; the texts NULL where NULL, the caller's to
 * free. */
static int text_row(struct reg_stmt *st, char **a, char **b, int64_t *n)
{
	int rc, e = -ENOENT;

	*a = *b = NULL;
	if (n)
		*n = 0;
	if (!st)
		return -EIO;
	rc = reg_step(st);
	if (rc == 1) {
		*a = dup_col(st, 0);
		*b = dup_col(st, 2);
		if (n)
			*n = reg_int(st, 1);
		e = 0;
	} else if (rc != 0) {
		e = -EIO;
	}
	reg_done(st);
	return e;
}

int reg_device_report_get(struct reg *r, int64_t id, char **json, int64_t *when, char **error)
{
	return text_row(
	    reg_q(r, "SELECT report, reported, report_error FROM devices WHERE id = ?", "i", id),
	    json, error, when);
}

int reg_devices_said(struct reg *r, int64_t org, const char *after, size_t limit,
		     struct reg_device_said **ret, size_t *ret_n)
{
	struct reg_stmt *st =
	    reg_q(r,
		  "SELECT id, reported, report, report_error, settings FROM devices "
		  "WHERE org_id = ? AND name > ? ORDER BY name LIMIT ?",
		  "iti", org, after ? after : "", limit ? (int64_t)limit : INT64_MAX);
	struct reg_device_said *s = NULL;
	size_t n = 0, cap = 0;
	int rc = 0, e = 0;

	*ret = NULL;
	*ret_n = 0;
	if (!st)
		return -EIO;
	while (!e && (rc = reg_step(st)) == 1) {
		if (n == cap) {
			struct reg_device_said *m =
			    realloc(s, (cap = cap ? 2 * cap : 16) * sizeof(*s));

			if (!m) {
				e = -ENOMEM;
				break;
			}
			s = m;
		}
		s[n] = (struct reg_device_said){.id = reg_int(st, 0),
						.reported = reg_int(st, 1),
						.report = dup_col(st, 2),
						.error = dup_col(st, 3),
						.settings = dup_col(st, 4)};
		n++;
	}
	if (!e && rc < 0)
		e = -EIO;
	reg_done(st);
	if (e) {
		reg_devices_said_free(s, n);
		return e;
	}
	*ret = s;
	*ret_n = n;
	return 0;
}

void reg_devices_said_free(struct reg_device_said *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].report);
		free(s[i].error);
		free(s[i].settings);
	}
	free(s);
}

int reg_settings_get(struct reg *r, int64_t org, int64_t device, char **of_org, char **of_dev)
{
	return text_row(reg_q(r,
			      "SELECT o.settings, 0, (SELECT settings FROM devices WHERE id = ?2 "
			      "AND org_id = o.id) FROM orgs o WHERE o.id = ?1",
			      "ii", org, device),
			of_org, of_dev, NULL);
}

int reg_org_set_settings(struct reg *r, int64_t org, const char *json)
{
	return reg_run(reg_q(r, "UPDATE orgs SET settings = ? WHERE id = ?", "ti", json, org));
}

int reg_device_set_settings(struct reg *r, int64_t org, const char *name, const char *json)
{
	int e = reg_run(reg_q(r, "UPDATE devices SET settings = ? WHERE org_id = ? AND name = ?",
			      "tit", json, org, name));

	return !e && !reg_changes(r) ? -ENOENT : e;
}

void reg_devices_ask_soon(struct reg *r, int64_t org, const char *name)
{
	if (name)
		reg_run(reg_q(r, "UPDATE devices SET polled = 0 WHERE org_id = ? AND name = ?",
			      "it", org, name));
	else
		reg_run(reg_q(r, "UPDATE devices SET polled = 0 WHERE org_id = ?", "i", org));
}
