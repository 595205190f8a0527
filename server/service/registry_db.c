/* registry_db.c - registry_db.h's statements, passed to the storage engine
 * the registry was opened on (registry_backend.h): SQLite for a file,
 * PostgreSQL for a postgresql:// or postgres:// URL. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "service/registry.h"
#include "service/registry_backend.h"
#include "service/registry_db.h"

int reg_is_url(const char *where)
{
	return !strncmp(where, "postgresql://", 13) || !strncmp(where, "postgres://", 11);
}

int reg_open(const char *where, struct reg **ret, char *err, size_t errlen)
{
	if (reg_is_url(where))
		return reg_pg_open(where, -1, ret, err, errlen);
	return reg_sqlite_open(where, -1, ret, err, errlen);
}

void reg_close(struct reg *r)
{
	if (r)
		r->ops->close(r);
}

int reg_schema_version(struct reg *r)
{
	return r->ops->schema_version(r);
}

const char *reg_errmsg(struct reg *r)
{
	return r->ops->errmsg(r);
}

int reg_ping(struct reg *r)
{
	return reg_schema_version(r) < 0 ? -EIO : 0;
}

const char *reg_where(struct reg *r)
{
	return r->ops->where(r);
}

int reg_listen(struct reg *r, reg_notice_cb *cb, void *data, struct reg_listener **ret)
{
	return r->ops->listen ? r->ops->listen(r, cb, data, ret) : -EOPNOTSUPP;
}

void reg_unlisten(struct reg *r, struct reg_listener *l)
{
	if (l)
		r->ops->unlisten(l);
}

int reg_async_start(struct reg *r, const struct reg_async *a, unsigned conns)
{
	int e = r->ops->async ? r->ops->async(r, a, conns) : -EOPNOTSUPP;

	if (!e)
		r->async = *a;
	return e;
}

int reg_async_run(struct reg *r, void (*fn)(void *), void *arg)
{
	return r->async.run ? r->async.run(r->async.data, fn, arg) : 0;
}

int reg_async_take(struct reg *r, void **slot)
{
	return r->ops->take ? r->ops->take(r, slot) : -EBUSY;
}

void reg_async_give(struct reg *r, void **slot)
{
	if (r->ops->give)
		r->ops->give(r, slot);
}

int reg_notify(struct reg *r, const char *what, int64_t id)
{
	char payload[REG_NOTICE_MAX];

	snprintf(payload, sizeof(payload), "%s %lld", what, (long long)id);
	return r->ops->notify ? r->ops->notify(r, payload) : 0;
}

struct reg_stmt *reg_q(struct reg *r, const char *sql, const char *types, ...)
{
	struct reg_stmt *st;
	va_list ap;

	va_start(ap, types);
	st = r->ops->q(r, sql, types, ap);
	va_end(ap);
	return st;
}

int reg_step(struct reg_stmt *st)
{
	return st ? st->ops->step(st) : -EIO;
}

int64_t reg_int(struct reg_stmt *st, int col)
{
	return st->ops->col_int(st, col);
}

const char *reg_text(struct reg_stmt *st, int col)
{
	return st->ops->col_text(st, col);
}

const void *reg_blob(struct reg_stmt *st, int col, size_t *len)
{
	return st->ops->col_blob(st, col, len);
}

int reg_null(struct reg_stmt *st, int col)
{
	return st->ops->col_null(st, col);
}

int reg_row(struct reg_stmt *st)
{
	int rc = reg_step(st);

	return rc == 1 ? 0 : rc == 0 ? -ENOENT : -EIO;
}

void reg_done(struct reg_stmt *st)
{
	if (st)
		st->ops->done(st);
}

int64_t reg_changes(struct reg *r)
{
	return r->ops->changes(r);
}

int reg_exec(struct reg *r, const char *sql)
{
	return r->ops->exec(r, sql);
}

int reg_begin(struct reg *r)
{
	return r->ops->begin(r);
}

/* Run a statement to its end: 0, -EEXIST on a constraint, -EIO. */
int reg_run(struct reg_stmt *st)
{
	int rc;

	while ((rc = reg_step(st)) == 1)
		;
	reg_done(st);
	return rc;
}

int64_t reg_insert(struct reg_stmt *st)
{
	int rc = reg_step(st);
	int64_t id = rc == 1 ? reg_int(st, 0) : rc ? rc : -EIO;

	reg_done(st);
	return id;
}
