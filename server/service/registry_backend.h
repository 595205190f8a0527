/* registry_backend.h - what a storage engine gives the registry: the
 * calls behind registry_db.h's statements, one table per engine. Only the
 * engines (registry_sqlite.c, registry_pg.c) and the calls that pass
 * through to them (registry_db.c) see it (docs/scale.md). */
#ifndef SRV_REGISTRY_BACKEND_H
#define SRV_REGISTRY_BACKEND_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "service/registry.h"

struct reg_stmt;

struct reg_ops {
	/* prepare, bind and (PostgreSQL) run; NULL without memory */
	struct reg_stmt *(*q)(struct reg *r, const char *sql, const char *types, va_list ap);
	/* 1 a row, 0 no more, -EEXIST a constraint, -EIO */
	int (*step)(struct reg_stmt *st);
	int64_t (*col_int)(struct reg_stmt *st, int col);
	const char *(*col_text)(struct reg_stmt *st, int col);
	const void *(*col_blob)(struct reg_stmt *st, int col, size_t *len);
	int (*col_null)(struct reg_stmt *st, int col);
	void (*done)(struct reg_stmt *st);
	int64_t (*changes)(struct reg *r);
	int (*exec)(struct reg *r, const char *sql);
	/* a transaction that writes, one such at a time across every server
	 * on the registry */
	int (*begin)(struct reg *r);
	const char *(*errmsg)(struct reg *r);
	int (*schema_version)(struct reg *r);
	/* where it is, without secrets, for the log */
	const char *(*where)(struct reg *r);
	void (*close)(struct reg *r);
	/* the signals between servers (registry.h's reg_listen, reg_notify);
	 * NULL where the engine has none (SQLite: one server) */
	int (*listen)(struct reg *r, reg_notice_cb *cb, void *data, struct reg_listener **ret);
	void (*unlisten)(struct reg_listener *l);
	int (*notify)(struct reg *r, const char *payload);
	/* statements off the loop (registry.h's reg_async_start): NULL where
	 * the engine has none (SQLite: a file, no wait worth a coroutine) */
	int (*async)(struct reg *r, const struct reg_async *a, unsigned conns);
	int (*take)(struct reg *r, void **slot);
	void (*give)(struct reg *r, void **slot);
};

/* Each engine's registry and statement start with these. */
struct reg {
	const struct reg_ops *ops;
	struct reg_async async; /* once reg_async_start took it */
};

struct reg_stmt {
	const struct reg_ops *ops;
};

/* The engines' openers: migrated to version (-1: the newest). */
int reg_sqlite_open(const char *path, int version, struct reg **ret, char *err, size_t errlen);
int reg_pg_open(const char *url, int version, struct reg **ret, char *err, size_t errlen);
/* Devices enrolled before schema 2 get their management address: run by
 * each engine once it has migrated. */
int reg_assign_mgmt(struct reg *r, char *err, size_t errlen);

#endif
