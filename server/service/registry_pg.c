/* registry_pg.c - the registry on PostgreSQL through libpq: opening it,
 * its migrations, and registry_db.h's statements on it
 * (registry_backend.h). The only code of the registry that calls libpq.
 *
 * Statements are sent with their parameters apart (PQexecParams: int8,
 * text, and bytea in binary), their ? and ?N turned into $N as SQLite
 * numbers them, and read back as text. Each runs when it is made, so its
 * rows are there for reg_step; a statement that failed says so at its
 * first step. A connection found broken is made again once, outside a
 * transaction, before the statement is given up. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "service/registry.h"
#include "service/registry_backend.h"

/* PostgreSQL's type oids (catalog/pg_type_d.h, stable across versions) */
#define OID_INT8  20
#define OID_TEXT  25
#define OID_BYTEA 17
/* statements' parameters at most */
#define PG_PARAMS_MAX 16
/* the lock every transaction that writes takes (reg_begin) */
#define PG_WRITE_LOCK 0x65646763 /* "edgc" */

/* A connection, and what the calls made on it last left */
struct pg_conn {
	PGconn *c;
	int64_t changes;
	int in_tx;
	int taken;   /* by a coroutine (reg_async_take) */
	int on_main; /* its coroutine's transaction runs on the loop's connection */
	char err[256];
	/* made again on a thread of its own (reconnect): the loop waits for
	 * it PG_REMAKE_WAIT_MS at most */
	pthread_t remaker;
	int remaking; /* the thread runs, or ran and is not joined */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const char *url;
	PGconn *fresh; /* the thread's connection, under mu */
	int done;      /* under mu */
};

struct pg {
	struct reg base;
	struct pg_conn main; /* the loop's own */
	struct pg_conn *pool;
	unsigned npool;
	struct reg_async async;
	char *url; /* for the pool's and a listener's connections */
	char where[280];
};

struct pg_stmt {
	struct reg_stmt base;
	PGresult *res;
	int row, rows, error;
	unsigned char *blob; /* the current row's bytea, decoded */
};

static const struct reg_ops pg_ops;

static struct pg *pg(struct reg *r)
{
	return (struct pg *)r;
}

/* What the code running now calls on and keeps its results in: its
 * coroutine's connection, or the loop's. A coroutine's transaction runs on
 * the loop's connection (begin), its error and change count still kept in
 * its own (state), where it reads them. */
static struct pg_conn *state(struct pg *p)
{
	void **slot = p->npool ? p->async.slot(p->async.data) : NULL;

	return slot && *slot ? *slot : &p->main;
}

static struct pg_conn *cur(struct pg *p)
{
	struct pg_conn *k = state(p);

	return k->on_main ? &p->main : k;
}

static struct pg_stmt *pst(struct reg_stmt *st)
{
	return (struct pg_stmt *)st;
}

/* libpq's message, on one line */
static void keep_error(struct pg *p, const char *msg)
{
	char *err = state(p)->err;

	snprintf(err, sizeof(state(p)->err), "%s", msg && *msg ? msg : "PostgreSQL failed");
	for (char *c = err; *c; c++)
		if (*c == '\n')
			*c = *(c + 1) ? ' ' : '\0';
}

/* ? and ?N as $N: a bare ? takes the number after the largest so far, as
 * in SQLite. Quoted text and identifiers are left as they are. NULL
 * without memory. */
static char *dollars(const char *sql, int *nparams)
{
	size_t n = strlen(sql);
	char *out = malloc(3 * n + 1), *o = out;
	int max = 0;
	char quote = 0;

	if (!out)
		return NULL;
	for (const char *s = sql; *s; s++) {
		if (quote) {
			if (*s == quote)
				quote = 0;
			*o++ = *s;
		} else if (*s == '\'' || *s == '"') {
			quote = *s;
			*o++ = *s;
		} else if (*s == '?') {
			int k = 0;

			while (s[1] >= '0' && s[1] <= '9')
				k = 10 * k + (*++s - '0');
			if (!k)
				k = max + 1;
			if (k > max)
				max = k;
			o += sprintf(o, "$%d", k);
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
	*nparams = max;
	return out;
}

static PGconn *connect_to(const char *url);

#define PG_REMAKE_WAIT_MS 100

static void *remake(void *arg)
{
	struct pg_conn *k = arg;
	PGconn *c = connect_to(k->url);

	pthread_mutex_lock(&k->mu);
	k->fresh = c;
	k->done = 1;
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->mu);
	return NULL;
}

/* The remaking thread's connection, once it is done (NULL when it is not,
 * or failed), the thread joined. */
static PGconn *remade(struct pg_conn *k, int wait_ms)
{
	struct timespec until;
	PGconn *c;
	int done;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)wait_ms * 1000000;
	until.tv_sec += until.tv_nsec / 1000000000;
	until.tv_nsec %= 1000000000;
	pthread_mutex_lock(&k->mu);
	while (!k->done && pthread_cond_timedwait(&k->cv, &k->mu, &until) == 0)
		;
	done = k->done;
	c = k->fresh;
	k->fresh = NULL;
	pthread_mutex_unlock(&k->mu);
	if (!done)
		return NULL;
	pthread_join(k->remaker, NULL);
	k->remaking = 0;
	if (c && PQstatus(c) != CONNECTION_OK) {
		PQfinish(c);
		c = NULL;
	}
	return c;
}

/* A broken connection made again, outside a transaction: 1 when it was.
 * Connecting runs on a thread of its own, which the loop waits for
 * PG_REMAKE_WAIT_MS at most (a Unix socket, or a server that refuses,
 * answers sooner): a server that does not answer holds up the statement
 * that found the connection broken, not the loop; it fails now (503), and
 * a later one takes the connection once the thread has it. */
static int reconnect(struct pg *p, struct pg_conn *k)
{
	PGconn *c;

	if (PQstatus(k->c) != CONNECTION_BAD || k->in_tx)
		return 0;
	if (!k->remaking) {
		k->url = p->url;
		k->done = 0;
		if (pthread_create(&k->remaker, NULL, remake, k))
			return 0;
		k->remaking = 1;
	}
	if (!(c = remade(k, PG_REMAKE_WAIT_MS)))
		return 0;
	PQfinish(k->c);
	k->c = c;
	ecap_log(LOG_NOTICE, "registry %s: connected again", p->where);
	return 1;
}

static void conn_init(struct pg_conn *k)
{
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
}

static void conn_close(struct pg_conn *k)
{
	if (k->remaking) /* (its connect_timeout at most) */
		PQfinish(remade(k, 60000));
	PQfinish(k->c);
	pthread_mutex_destroy(&k->mu);
	pthread_cond_destroy(&k->cv);
}

/* A coroutine's statement, sent: its result, the loop running meanwhile
 * (the coroutine waits for the socket). The first error, or the last
 * result; NULL when the connection broke. */
static PGresult *await(struct pg *p, struct pg_conn *k)
{
	PGresult *res, *keep = NULL;

	for (;;) { /* each result waited for: PQgetResult would block for the next */
		while (PQisBusy(k->c)) {
			p->async.wait(p->async.data, PQsocket(k->c));
			if (!PQconsumeInput(k->c))
				break;
		}
		if (!(res = PQgetResult(k->c)))
			return keep;
		if (keep && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
			PQclear(res);
			continue;
		}
		PQclear(keep);
		keep = res;
	}
}

/* PQexecParams, or on a coroutine's connection the same without blocking
 * the loop (sql NULL: PQexec of text) */
static PGresult *exec_on(struct pg *p, struct pg_conn *k, const char *sql, int n, const Oid *types,
			 const char *const *values, const int *lengths, const int *formats,
			 const char *text)
{
	int sent;

	if (k == &p->main)
		return sql ? PQexecParams(k->c, sql, n, types, values, lengths, formats, 0)
			   : PQexec(k->c, text);
	sent = sql ? PQsendQueryParams(k->c, sql, n, types, values, lengths, formats, 0)
		   : PQsendQuery(k->c, text);
	return sent ? await(p, k) : NULL;
}

/* Run it: a result whose status is checked by the caller. */
static PGresult *run(struct pg *p, const char *sql, int n, const Oid *types,
		     const char *const *values, const int *lengths, const int *formats)
{
	struct pg_conn *k = cur(p);
	PGresult *res = exec_on(p, k, sql, n, types, values, lengths, formats, NULL);

	if (PQresultStatus(res) == PGRES_FATAL_ERROR && reconnect(p, k)) {
		PQclear(res);
		res = exec_on(p, k, sql, n, types, values, lengths, formats, NULL);
	}
	return res;
}

/* The result as reg_step's error: 0, -EEXIST (integrity, class 23), -EIO */
static int result_error(struct pg *p, PGresult *res)
{
	ExecStatusType s = PQresultStatus(res);
	const char *state;

	if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK)
		return 0;
	keep_error(p, res ? PQresultErrorMessage(res) : PQerrorMessage(cur(p)->c));
	state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	return state && !strncmp(state, "23", 2) ? -EEXIST : -EIO;
}

static struct reg_stmt *q(struct reg *r, const char *sql, const char *types, va_list ap)
{
	struct pg *p = pg(r);
	struct pg_stmt *st = calloc(1, sizeof(*st));
	Oid oids[PG_PARAMS_MAX];
	const char *values[PG_PARAMS_MAX];
	int lengths[PG_PARAMS_MAX], formats[PG_PARAMS_MAX], n = (int)strlen(types), used;
	char ints[PG_PARAMS_MAX][24], *text = dollars(sql, &used);

	if (!st || !text || n > PG_PARAMS_MAX) {
		free(st);
		free(text);
		return NULL;
	}
	st->base.ops = &pg_ops;
	for (int k = 0; k < n; k++) {
		lengths[k] = formats[k] = 0;
		if (types[k] == 'i') {
			oids[k] = OID_INT8;
			snprintf(ints[k], sizeof(ints[k]), "%" PRId64, va_arg(ap, int64_t));
			values[k] = ints[k];
		} else if (types[k] == 't') {
			oids[k] = OID_TEXT;
			values[k] = va_arg(ap, const char *);
		} else {
			oids[k] = OID_BYTEA;
			values[k] = va_arg(ap, const char *);
			lengths[k] = va_arg(ap, int);
			formats[k] = 1;
		}
	}
	st->res = run(p, text, n, oids, values, lengths, formats);
	free(text);
	st->error = result_error(p, st->res);
	if (!st->error) {
		const char *c = PQcmdTuples(st->res);

		st->rows = PQntuples(st->res);
		state(p)->changes = *c ? strtoll(c, NULL, 10) : 0;
	}
	st->row = -1;
	return &st->base;
}

static int step(struct reg_stmt *s)
{
	struct pg_stmt *st = pst(s);

	if (st->error)
		return st->error;
	PQfreemem(st->blob);
	st->blob = NULL;
	if (st->row < st->rows)
		st->row++;
	return st->row < st->rows;
}

/* Integers, and the booleans of expressions read as 1 and 0 */
static int64_t col_int(struct reg_stmt *s, int col)
{
	const char *v = PQgetvalue(pst(s)->res, pst(s)->row, col);

	if (!strcmp(v, "t"))
		return 1;
	return strtoll(v, NULL, 10);
}

static const char *col_text(struct reg_stmt *s, int col)
{
	struct pg_stmt *st = pst(s);

	return PQgetisnull(st->res, st->row, col) ? NULL : PQgetvalue(st->res, st->row, col);
}

static const void *col_blob(struct reg_stmt *s, int col, size_t *len)
{
	struct pg_stmt *st = pst(s);

	*len = 0;
	if (PQgetisnull(st->res, st->row, col))
		return NULL;
	PQfreemem(st->blob);
	st->blob = PQunescapeBytea((const unsigned char *)PQgetvalue(st->res, st->row, col), len);
	return st->blob;
}

static int col_null(struct reg_stmt *s, int col)
{
	return PQgetisnull(pst(s)->res, pst(s)->row, col);
}

static void done(struct reg_stmt *s)
{
	PQfreemem(pst(s)->blob);
	PQclear(pst(s)->res);
	free(s);
}

static int64_t changes(struct reg *r)
{
	return state(pg(r))->changes;
}

/* SQL of one or more statements, without parameters */
static int exec(struct reg *r, const char *sql)
{
	struct pg *p = pg(r);
	struct pg_conn *k = cur(p);
	PGresult *res = exec_on(p, k, NULL, 0, NULL, NULL, NULL, NULL, sql);
	int e;

	if (PQresultStatus(res) == PGRES_FATAL_ERROR && reconnect(p, k)) {
		PQclear(res);
		res = exec_on(p, k, NULL, 0, NULL, NULL, NULL, NULL, sql);
	}
	e = result_error(p, res);

	PQclear(res);
	if (!e && !strncmp(sql, "BEGIN", 5))
		k->in_tx = 1;
	else if (!strcmp(sql, "COMMIT") || !strcmp(sql, "ROLLBACK"))
		k->in_tx = 0;
	if (!k->in_tx && k == &p->main && p->npool) { /* a coroutine's transaction ended */
		void **slot = p->async.slot(p->async.data);

		if (slot && *slot)
			((struct pg_conn *)*slot)->on_main = 0;
	}
	return e;
}

/* BEGIN IMMEDIATE as SQLite has it: one transaction that writes at a
 * time, across every server on the registry, so that one that reads
 * before it writes never finds the rows changed under it. */
static int begin(struct reg *r)
{
	void **slot = pg(r)->npool ? pg(r)->async.slot(pg(r)->async.data) : NULL;
	char sql[96];

	/* A coroutine's transaction runs on the loop's connection, the loop
	 * waiting: one that held the lock while its coroutine waited would
	 * hold up the loop's own next transaction, which waits for it on the
	 * loop it needs to go on. Transactions are few and short. */
	if (slot && *slot)
		((struct pg_conn *)*slot)->on_main = 1;
	snprintf(sql, sizeof(sql), "BEGIN; SELECT pg_advisory_xact_lock(%d)", PG_WRITE_LOCK);
	return exec(r, sql);
}

static const char *errmsg(struct reg *r)
{
	return state(pg(r))->err;
}

static int schema_version(struct reg *r)
{
	struct pg *p = pg(r);
	PGresult *res = run(p,
			    "SELECT CASE WHEN to_regclass('schema_version') IS NULL THEN 0 "
			    "ELSE (SELECT version FROM schema_version) END",
			    0, NULL, NULL, NULL, NULL);
	int v = -1;

	if (!result_error(p, res) && PQntuples(res) == 1)
		v = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static const char *where(struct reg *r)
{
	return pg(r)->where;
}

static void pg_close(struct reg *r)
{
	struct pg *p = pg(r);

	conn_close(&p->main);
	for (unsigned i = 0; i < p->npool; i++)
		conn_close(&p->pool[i]);
	free(p->pool);
	free(p->url);
	free(r);
}

/* The schema as SQLite's migrations leave it at version PG_BASE, written
 * once: PostgreSQL registries start there. Integers are BIGINT (SQLite's
 * are 64-bit), blobs BYTEA, ids identities (never handed out again). */
#define PG_BASE 11
static const char base_schema[] =
    "CREATE TABLE orgs ("
    "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created BIGINT NOT NULL,"
    "  viewer_downloads BIGINT NOT NULL DEFAULT 0,"
    "  settings TEXT);"
    "CREATE TABLE users ("
    "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  org_id BIGINT NOT NULL REFERENCES orgs(id),"
    "  name TEXT NOT NULL,"
    "  email TEXT UNIQUE,"
    "  role TEXT NOT NULL CHECK (role IN ('owner', 'operator', 'viewer')),"
    "  pwhash TEXT,"
    "  pw_change BIGINT NOT NULL DEFAULT 0,"
    "  disabled BIGINT NOT NULL DEFAULT 0,"
    "  created BIGINT NOT NULL,"
    "  UNIQUE (org_id, name));"
    "CREATE TABLE tokens ("
    "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  token_sha256 BYTEA NOT NULL UNIQUE,"
    "  created BIGINT NOT NULL,"
    "  last_used BIGINT,"
    "  UNIQUE (user_id, name));"
    "CREATE TABLE devices ("
    "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  org_id BIGINT NOT NULL REFERENCES orgs(id),"
    "  name TEXT NOT NULL,"
    "  serial TEXT NOT NULL,"
    "  pubkey TEXT,"
    "  secret BYTEA NOT NULL,"
    "  address TEXT NOT NULL,"
    "  transport TEXT NOT NULL DEFAULT 'direct',"
    "  enabled BIGINT NOT NULL DEFAULT 1,"
    "  last_seen BIGINT,"
    "  created BIGINT NOT NULL,"
    "  mgmt_address BIGINT,"
    "  report TEXT,"
    "  reported BIGINT NOT NULL DEFAULT 0,"
    "  report_error TEXT,"
    "  polled BIGINT NOT NULL DEFAULT 0,"
    "  poll_failures BIGINT NOT NULL DEFAULT 0,"
    "  settings TEXT,"
    "  UNIQUE (org_id, name),"
    "  UNIQUE (org_id, serial));"
    "CREATE UNIQUE INDEX devices_mgmt ON devices (mgmt_address);"
    "CREATE UNIQUE INDEX devices_pubkey ON devices (pubkey);"
    "CREATE TABLE unclaimed ("
    "  pubkey TEXT PRIMARY KEY,"
    "  serial TEXT NOT NULL,"
    "  claim_sha256 TEXT NOT NULL,"
    "  hostname TEXT NOT NULL,"
    "  agent TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  first_seen BIGINT NOT NULL,"
    "  last_seen BIGINT NOT NULL);"
    "CREATE INDEX unclaimed_serial ON unclaimed (serial);"
    "CREATE INDEX unclaimed_source ON unclaimed (source);"
    "CREATE INDEX unclaimed_seen ON unclaimed (last_seen);"
    "CREATE TABLE captures ("
    "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  org_id BIGINT NOT NULL REFERENCES orgs(id),"
    "  user_id BIGINT NOT NULL REFERENCES users(id),"
    "  request TEXT NOT NULL,"
    "  file TEXT NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'running',"
    "  merged BIGINT NOT NULL DEFAULT 0,"
    "  duplicates BIGINT NOT NULL DEFAULT 0,"
    "  late BIGINT NOT NULL DEFAULT 0,"
    "  created BIGINT NOT NULL,"
    "  ended BIGINT,"
    "  ended_by TEXT,"
    "  error TEXT,"
    "  stored BIGINT NOT NULL DEFAULT 0,"
    "  lost BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX captures_org ON captures (org_id, id);"
    "CREATE INDEX captures_ended ON captures (state, ended);"
    "CREATE TABLE capture_devices ("
    "  capture_id BIGINT NOT NULL REFERENCES captures(id) ON DELETE CASCADE,"
    "  device_id BIGINT NOT NULL REFERENCES devices(id),"
    "  state TEXT NOT NULL DEFAULT 'connecting',"
    "  error TEXT,"
    "  bytes BIGINT NOT NULL DEFAULT 0,"
    "  packets BIGINT NOT NULL DEFAULT 0,"
    "  duplicates BIGINT NOT NULL DEFAULT 0,"
    "  dropped BIGINT NOT NULL DEFAULT 0,"
    "  clock TEXT,"
    "  PRIMARY KEY (capture_id, device_id));"
    "CREATE TABLE sessions ("
    "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  cookie_sha256 BYTEA NOT NULL UNIQUE,"
    "  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  csrf TEXT NOT NULL,"
    "  created BIGINT NOT NULL,"
    "  last_seen BIGINT NOT NULL);"
    "CREATE INDEX sessions_user ON sessions (user_id);"
    "CREATE TABLE signin_failures ("
    "  key TEXT NOT NULL,"
    "  at BIGINT NOT NULL);"
    "CREATE INDEX signin_failures_key ON signin_failures (key, at);"
    "CREATE TABLE audit ("
    "  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    "  org_id BIGINT NOT NULL REFERENCES orgs(id),"
    "  at_ms BIGINT NOT NULL,"
    "  user_id BIGINT,"
    "  actor TEXT NOT NULL,"
    "  address TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  detail TEXT NOT NULL);"
    "CREATE INDEX audit_org ON audit (org_id, id);";

/* Migration N (N >= PG_BASE) takes the schema from version N to N + 1, as
 * SQLite's migration N does (registry_sqlite.c). Append only, in step. */
static const char *const migrations[] = {
    /* 11 -> 12: instances and who holds each device's tunnel */
    "CREATE TABLE instances ("
    "  id TEXT PRIMARY KEY,"
    "  address TEXT NOT NULL,"
    "  started BIGINT NOT NULL,"
    "  heartbeat BIGINT NOT NULL);"
    "CREATE TABLE device_owner ("
    "  device_id BIGINT PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,"
    "  instance TEXT,"
    "  epoch BIGINT NOT NULL,"
    "  since BIGINT NOT NULL);"
    "CREATE INDEX device_owner_instance ON device_owner (instance);"
    "ALTER TABLE captures ADD COLUMN instance TEXT;"
    "ALTER TABLE captures ADD COLUMN stop_asked BIGINT NOT NULL DEFAULT 0;"
    "CREATE TABLE cluster ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  secret BYTEA NOT NULL);",
    NULL /* the end */
};

static int latest(void)
{
	int n = 0;

	while (migrations[n])
		n++;
	return PG_BASE + n;
}

/* In one transaction under the write lock, so that servers started
 * together migrate once. */
static int migrate(struct pg *p, int want, char *err, size_t errlen)
{
	char sql[96];
	int v;

	if (begin(&p->base) ||
	    exec(&p->base, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL); "
			   "INSERT INTO schema_version SELECT 0 WHERE NOT EXISTS "
			   "(SELECT 1 FROM schema_version)"))
		goto fail;
	v = schema_version(&p->base);
	if (v < 0)
		goto fail;
	if (v > want) {
		snprintf(err, errlen, "schema version %d is newer than this server's (%d)", v,
			 want);
		exec(&p->base, "ROLLBACK");
		return -EPROTO;
	}
	if (v == 0 && exec(&p->base, base_schema))
		goto fail;
	for (v = v ? v : PG_BASE; v < want; v++)
		if (exec(&p->base, migrations[v - PG_BASE]))
			goto fail;
	snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d", want);
	if (exec(&p->base, sql) || exec(&p->base, "COMMIT"))
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "registry %s: schema migration: %s", p->where, p->main.err);
	exec(&p->base, "ROLLBACK");
	return -EIO;
}

/* The URL without its password, for the log: user@host/db */
static void describe(struct pg *p)
{
	const char *host = PQhost(p->main.c);

	snprintf(p->where, sizeof(p->where), "postgresql://%.60s@%.120s/%.60s", PQuser(p->main.c),
		 host && *host == '/' ? ""
		 : host		      ? host
				      : "",
		 PQdb(p->main.c));
	if (host && *host == '/')
		snprintf(p->where + strlen(p->where), sizeof(p->where) - strlen(p->where),
			 "?host=%.100s", host);
}

/* Notices (a table that exists already) are not the log's. */
static void quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* A connection to url: a server that does not answer holds its caller 5 s
 * at most, unless the URL says otherwise (its keys come after these);
 * notices (a table that exists already) are not the log's. NULL without
 * memory; else check PQstatus. */
static PGconn *connect_to(const char *url)
{
	static const char *const keys[] = {"connect_timeout", "dbname", NULL};
	const char *const values[] = {"5", url, NULL};
	PGconn *c = PQconnectdbParams(keys, values, 1);

	if (c)
		PQsetNoticeProcessor(c, quiet, NULL);
	return c;
}

int reg_pg_open(const char *url, int version, struct reg **ret, char *err, size_t errlen)
{
	struct pg *p = calloc(1, sizeof(*p));
	int e;

	if (!p)
		return -ENOMEM;
	p->base.ops = &pg_ops;
	conn_init(&p->main);
	p->url = strdup(url);
	if (!p->url) {
		free(p);
		return -ENOMEM;
	}
	if (version < 0)
		version = latest();
	p->main.c = connect_to(url);
	if (!p->main.c || PQstatus(p->main.c) != CONNECTION_OK) {
		keep_error(p, p->main.c ? PQerrorMessage(p->main.c) : "out of memory");
		snprintf(err, errlen, "registry: PostgreSQL: %s", p->main.err);
		pg_close(&p->base);
		return -EIO;
	}
	describe(p);
	if (version < PG_BASE || version > latest()) {
		snprintf(err, errlen, "registry %s: schema version %d: PostgreSQL starts at %d",
			 p->where, version, PG_BASE);
		pg_close(&p->base);
		return -EINVAL;
	}
	e = migrate(p, version, err, errlen);
	if (!e)
		e = reg_assign_mgmt(&p->base, err, errlen);
	if (e) {
		pg_close(&p->base);
		return e;
	}
	*ret = &p->base;
	return 0;
}

/* LISTEN and NOTIFY (registry.h): the listener's thread has a connection
 * of its own, waits on its socket and on a pipe that says stop, and
 * connects again a second after it broke. */
#define PG_CHANNEL "edgecap"

struct reg_listener {
	pthread_t thread;
	int stop[2];
	char *url, where[280];
	reg_notice_cb *cb;
	void *data;
};

/* Wait ms for the pipe: 1 when it says stop. */
static int stopped(struct reg_listener *l, int ms)
{
	struct pollfd p = {.fd = l->stop[0], .events = POLLIN};

	return poll(&p, 1, ms) > 0;
}

static PGconn *listen_connect(struct reg_listener *l, int *said)
{
	PGconn *c = connect_to(l->url);
	PGresult *res = NULL;

	if (c && PQstatus(c) == CONNECTION_OK)
		res = PQexec(c, "LISTEN " PG_CHANNEL);
	if (res && PQresultStatus(res) == PGRES_COMMAND_OK && PQsetnonblocking(c, 1) == 0) {
		PQclear(res);
		if (*said)
			ecap_log(LOG_NOTICE, "registry %s: listening again", l->where);
		*said = 0;
		return c;
	}
	if (!*said)
		ecap_log(LOG_WARNING, "registry %s: cannot listen for other servers: %s", l->where,
			 c ? PQerrorMessage(c) : "out of memory");
	*said = 1;
	PQclear(res);
	PQfinish(c);
	return NULL;
}

static void *listen_run(void *arg)
{
	struct reg_listener *l = arg;
	PGconn *c = NULL;
	int said = 0;

	while (!stopped(l, 0)) {
		struct pollfd p[2] = {{.events = POLLIN}, {.fd = l->stop[0], .events = POLLIN}};
		PGnotify *n;

		if (!c && !(c = listen_connect(l, &said))) {
			if (stopped(l, 1000))
				break;
			continue;
		}
		p[0].fd = PQsocket(c);
		while (poll(p, 2, -1) >= 0 && !p[1].revents && PQconsumeInput(c)) {
			while ((n = PQnotifies(c))) {
				l->cb(l->data, n->extra);
				PQfreemem(n);
			}
		}
		if (p[1].revents)
			break;
		ecap_log(LOG_WARNING, "registry %s: listening broke off: %s", l->where,
			 PQerrorMessage(c));
		PQfinish(c);
		c = NULL;
		said = 1;
	}
	PQfinish(c);
	return NULL;
}

static void unlisten(struct reg_listener *l)
{
	if (write(l->stop[1], "", 1) < 0) {
		/* a pipe of one byte cannot be full */
	}
	pthread_join(l->thread, NULL);
	close(l->stop[0]);
	close(l->stop[1]);
	free(l->url);
	free(l);
}

static int listen_start(struct reg *r, reg_notice_cb *cb, void *data, struct reg_listener **ret)
{
	struct reg_listener *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	*l = (struct reg_listener){.url = strdup(pg(r)->url), .cb = cb, .data = data};
	snprintf(l->where, sizeof(l->where), "%s", pg(r)->where);
	if (!l->url || pipe2(l->stop, O_CLOEXEC)) {
		free(l->url);
		free(l);
		return -ENOMEM;
	}
	if (pthread_create(&l->thread, NULL, listen_run, l)) {
		close(l->stop[0]);
		close(l->stop[1]);
		free(l->url);
		free(l);
		return -EAGAIN;
	}
	*ret = l;
	return 0;
}

static int notify(struct reg *r, const char *payload)
{
	struct pg *p = pg(r);
	const Oid types[] = {OID_TEXT};
	const char *const values[] = {payload};
	PGresult *res =
	    run(p, "SELECT pg_notify('" PG_CHANNEL "', $1)", 1, types, values, NULL, NULL);
	int e = result_error(p, res);

	PQclear(res);
	return e;
}

/* Statements off the loop (registry.h): conns connections more, one for
 * each coroutine at a time. */
static int async_start(struct reg *r, const struct reg_async *a, unsigned conns)
{
	struct pg *p = pg(r);

	p->pool = calloc(conns, sizeof(*p->pool));
	if (!p->pool)
		return -ENOMEM;
	for (unsigned i = 0; i < conns; i++) {
		struct pg_conn *k = &p->pool[i];

		conn_init(k);
		k->c = connect_to(p->url);
		if (!k->c || PQstatus(k->c) != CONNECTION_OK) {
			ecap_log(LOG_ERR, "registry %s: connection %u of %u: %s", p->where, i + 1,
				 conns, k->c ? PQerrorMessage(k->c) : "out of memory");
			PQfinish(k->c);
			k->c = NULL;
			conns = i;
			break;
		}
	}
	p->async = *a;
	p->npool = conns;
	return conns ? 0 : -EIO;
}

static int take(struct reg *r, void **slot)
{
	struct pg *p = pg(r);

	for (unsigned i = 0; i < p->npool; i++)
		if (!p->pool[i].taken) {
			p->pool[i].taken = 1;
			*slot = &p->pool[i];
			return 0;
		}
	return -EBUSY;
}

static void give(struct reg *r, void **slot)
{
	struct pg_conn *k = *slot;

	(void)r;
	if (!k)
		return;
	if (k->in_tx || k->on_main) /* a transaction left open: not the next one's */
		exec(r, "ROLLBACK");
	k->taken = k->on_main = 0;
	*slot = NULL;
}

static const struct reg_ops pg_ops = {.q = q,
				      .step = step,
				      .col_int = col_int,
				      .col_text = col_text,
				      .col_blob = col_blob,
				      .col_null = col_null,
				      .done = done,
				      .changes = changes,
				      .exec = exec,
				      .begin = begin,
				      .errmsg = errmsg,
				      .schema_version = schema_version,
				      .where = where,
				      .close = pg_close,
				      .listen = listen_start,
				      .unlisten = unlisten,
				      .notify = notify,
				      .async = async_start,
				      .take = take,
				      .give = give};
