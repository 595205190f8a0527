/* registry_reports.c - what devices say of themselves, see registry.h. */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service/registry.h"
#include "service/registry_sqlite.h"

int reg_devices_due(struct reg *r, int64_t before, size_t limit, struct reg_device **ret,
		    size_t *ret_n)
{
	/* one enrolled in the last ten minutes that has not answered yet is
	 * asked again every five seconds: its agent may start after it */
	int64_t now = time(NULL);
	sqlite3_stmt *st =
	    reg_q(r,
		  "SELECT " DEVICE_COLUMNS " FROM devices WHERE enabled AND (polled < ? OR "
		  "(reported = 0 AND created > ? AND polled <= ?)) ORDER BY polled, id LIMIT ?",
		  "iiii", before, now - 600, now - 5, (int64_t)limit);
	void *v = NULL;
	size_t n = 0, cap = 0;
	int rc, e = 0;

	if (!st)
		return -EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct reg_device *d = reg_next_row(&v, &n, &cap, sizeof(*d));

		if (!d) {
			e = -ENOMEM;
			break;
		}
		reg_device_row(st, d);
	}
	sqlite3_finalize(st);
	if (!e && rc != SQLITE_DONE)
		e = -EIO;
	if (e) {
		free(v);
		return e;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

void reg_device_polled(struct reg *r, int64_t id, int64_t when)
{
	reg_run(reg_q(r, "UPDATE devices SET polled = ? WHERE id = ?", "ii", when, id));
}

void reg_device_report(struct reg *r, int64_t id, const char *json, int64_t when)
{
	reg_run(reg_q(r,
		      "UPDATE devices SET report = ?, reported = ?, report_error = NULL, "
		      "last_seen = max(coalesce(last_seen, 0), ?) WHERE id = ?",
		      "tiii", json, when, when, id));
}

void reg_device_report_error(struct reg *r, int64_t id, const char *error)
{
	reg_run(reg_q(r, "UPDATE devices SET report_error = ? WHERE id = ?", "ti", error, id));
}

static char *dup_col(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return t ? strdup((const char *)t) : NULL;
}

int reg_device_report_get(struct reg *r, int64_t id, char **json, int64_t *when, char **error)
{
	sqlite3_stmt *st =
	    reg_q(r, "SELECT report, reported, report_error FROM devices WHERE id = ?", "i", id);
	int rc, e = -ENOENT;

	if (!st)
		return -EIO;
	*json = *error = NULL;
	*when = 0;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*json = dup_col(st, 0);
		*when = sqlite3_column_int64(st, 1);
		*error = dup_col(st, 2);
		e = 0;
	} else if (rc != SQLITE_DONE) {
		e = -EIO;
	}
	sqlite3_finalize(st);
	return e;
}
