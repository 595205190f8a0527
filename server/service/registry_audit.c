/* registry_audit.c - the audit log, see registry.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/registry.h"
#include "service/registry_db.h"

int reg_audit_add(struct reg *r, int64_t org, int64_t at_ms, int64_t user, const char *actor,
		  const char *address, const char *action, const char *target, const char *detail)
{
	int64_t id = reg_insert(reg_q(
	    r,
	    "INSERT INTO audit (org_id, at_ms, user_id, actor, address, "
	    "action, target, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
	    "iiittttt", org, at_ms, user, actor, address, action, target, detail ? detail : "{}"));

	return id < 0 ? (int)id : 0;
}

int reg_audit_page(struct reg *r, int64_t org, const struct reg_audit_filter *f,
		   struct reg_audit **ret, size_t *ret_n)
{
	struct reg_stmt *st =
	    reg_q(r,
		  "SELECT id, at_ms, coalesce(user_id, 0), actor, address, action, target, detail "
		  "FROM audit WHERE org_id = ? AND (? = 0 OR id < ?) AND (? IS NULL OR action = ?) "
		  "AND (? IS NULL OR actor = ?) AND (? = 0 OR at_ms >= ?) AND (? = 0 OR at_ms < ?) "
		  "ORDER BY id DESC LIMIT ?",
		  "iiittttiiiii", org, f->before, f->before, f->action, f->action, f->actor,
		  f->actor, f->since_ms, f->since_ms, f->until_ms, f->until_ms, (int64_t)f->limit);
	struct reg_audit *v = NULL, *a;
	size_t n = 0, cap = 0;
	int rc;

	if (!st)
		return -EIO;
	while ((rc = reg_step(st)) == 1) {
		if (!(a = reg_next_row((void **)&v, &n, &cap, sizeof(*v))))
			break; /* (rc is 1, a row: a failure) */
		a->target = a->detail = NULL;
		a->id = reg_int(st, 0);
		a->at_ms = reg_int(st, 1);
		a->user = reg_int(st, 2);
		reg_text_col(st, 3, a->actor, sizeof(a->actor));
		reg_text_col(st, 4, a->address, sizeof(a->address));
		reg_text_col(st, 5, a->action, sizeof(a->action));
		a->target = strdup(reg_text(st, 6));
		a->detail = strdup(reg_text(st, 7));
		if (!a->target || !a->detail) {
			rc = -ENOMEM;
			break;
		}
	}
	reg_done(st);
	if (rc != 0) {
		reg_audit_free(v, n);
		return -EIO;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

void reg_audit_free(struct reg_audit *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(a[i].target);
		free(a[i].detail);
	}
	free(a);
}

int64_t reg_audit_expire(struct reg *r, int64_t before_ms)
{
	int e = reg_run(reg_q(r, "DELETE FROM audit WHERE at_ms < ?", "i", before_ms));

	return e ? e : reg_changes(r);
}
