/* registry_sqlite.c - the registry in one SQLite file: opening it,
 * its migrations, and registry_db.h's statements on it
 * (registry_backend.h). The only code of the registry that calls SQLite. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "service/registry.h"
#include "service/registry_backend.h"

struct sq {
	struct reg base;
	sqlite3 *db;
	char where[280];
};

struct sq_stmt {
	struct reg_stmt base;
	sqlite3_stmt *st;
};

static struct sq *sq(struct reg *r)
{
	return (struct sq *)r;
}

static sqlite3_stmt *stmt(struct reg_stmt *st)
{
	return ((struct sq_stmt *)st)->st;
}

/* Migration N takes the schema from version N to N + 1. Append only: a
 * released migration never changes. */
static const char *const migrations[] = {
    /* 1: the registry */
    "CREATE TABLE orgs ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE admins ("
    "  id INTEGER PRIMARY KEY,"
    "  org_id INTEGER NOT NULL REFERENCES orgs(id),"
    "  name TEXT NOT NULL,"
    "  token_sha256 BLOB NOT NULL UNIQUE,"
    "  created INTEGER NOT NULL,"
    "  UNIQUE (org_id, name));"
    "CREATE TABLE devices ("
    "  id INTEGER PRIMARY KEY,"
    "  org_id INTEGER NOT NULL REFERENCES orgs(id),"
    "  name TEXT NOT NULL,"
    "  serial TEXT NOT NULL UNIQUE,"
    "  pubkey TEXT,"
    "  secret BLOB NOT NULL,"
    "  address TEXT NOT NULL,"
    "  transport TEXT NOT NULL DEFAULT 'direct',"
    "  enabled INTEGER NOT NULL DEFAULT 1,"
    "  last_seen INTEGER,"
    "  created INTEGER NOT NULL,"
    "  UNIQUE (org_id, name));"
    "CREATE TABLE captures ("
    "  id INTEGER PRIMARY KEY,"
    "  org_id INTEGER NOT NULL REFERENCES orgs(id),"
    "  admin_id INTEGER NOT NULL REFERENCES admins(id),"
    "  request TEXT NOT NULL,"
    "  file TEXT NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'running',"
    "  merged INTEGER NOT NULL DEFAULT 0,"
    "  duplicates INTEGER NOT NULL DEFAULT 0,"
    "  late INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL,"
    "  ended INTEGER);"
    "CREATE INDEX captures_org ON captures (org_id, id);"
    "CREATE TABLE capture_devices ("
    "  capture_id INTEGER NOT NULL REFERENCES captures(id) ON DELETE CASCADE,"
    "  device_id INTEGER NOT NULL REFERENCES devices(id),"
    "  state TEXT NOT NULL DEFAULT 'connecting',"
    "  error TEXT,"
    "  bytes INTEGER NOT NULL DEFAULT 0,"
    "  packets INTEGER NOT NULL DEFAULT 0,"
    "  duplicates INTEGER NOT NULL DEFAULT 0,"
    "  dropped INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (capture_id, device_id));",
    /* 2: management addresses (6.0.0.0/8, host order) for the mTunnel */
    "ALTER TABLE devices ADD COLUMN mgmt_address INTEGER;"
    "CREATE UNIQUE INDEX devices_mgmt ON devices (mgmt_address);",
    /* 3: what ended a capture (a word: count, duration, bytes, ...) */
    "ALTER TABLE captures ADD COLUMN ended_by TEXT;",
    /* 4: why a capture failed; the bytes its file keeps; a file found gone */
    "ALTER TABLE captures ADD COLUMN error TEXT;"
    "ALTER TABLE captures ADD COLUMN stored INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE captures ADD COLUMN lost INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX captures_ended ON captures (state, ended);",
    /* 5: users with roles, passwords and tokens of their own, in place of
     * administrators with one token each (docs/accounts.md); each
     * administrator becomes an owner holding its token. Tables are rebuilt
     * as SQLite's ALTER TABLE documentation says (foreign keys off). A
     * capture's or a user's id is never used again once it is deleted
     * (AUTOINCREMENT): URLs and the audit log keep meaning one thing. */
    "CREATE TABLE users ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  org_id INTEGER NOT NULL REFERENCES orgs(id),"
    "  name TEXT NOT NULL,"
    "  email TEXT UNIQUE,"
    "  role TEXT NOT NULL CHECK (role IN ('owner', 'operator', 'viewer')),"
    "  pwhash TEXT,"
    "  pw_change INTEGER NOT NULL DEFAULT 0,"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL,"
    "  UNIQUE (org_id, name));"
    "INSERT INTO users (id, org_id, name, role, created)"
    "  SELECT id, org_id, name, 'owner', created FROM admins;"
    "CREATE TABLE tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  token_sha256 BLOB NOT NULL UNIQUE,"
    "  created INTEGER NOT NULL,"
    "  last_used INTEGER,"
    "  UNIQUE (user_id, name));"
    "INSERT INTO tokens (user_id, name, token_sha256, created)"
    "  SELECT id, name, token_sha256, created FROM admins;"
    "CREATE TABLE captures_new ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  org_id INTEGER NOT NULL REFERENCES orgs(id),"
    "  user_id INTEGER NOT NULL REFERENCES users(id),"
    "  request TEXT NOT NULL,"
    "  file TEXT NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'running',"
    "  merged INTEGER NOT NULL DEFAULT 0,"
    "  duplicates INTEGER NOT NULL DEFAULT 0,"
    "  late INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL,"
    "  ended INTEGER,"
    "  ended_by TEXT,"
    "  error TEXT,"
    "  stored INTEGER NOT NULL DEFAULT 0,"
    "  lost INTEGER NOT NULL DEFAULT 0);"
    "INSERT INTO captures_new (id, org_id, user_id, request, file, state, merged, duplicates,"
    "  late, created, ended, ended_by, error, stored, lost)"
    "  SELECT id, org_id, admin_id, request, file, state, merged, duplicates, late, created,"
    "  ended, ended_by, error, stored, lost FROM captures;"
    "DROP TABLE captures;"
    "ALTER TABLE captures_new RENAME TO captures;"
    "CREATE INDEX captures_org ON captures (org_id, id);"
    "CREATE INDEX captures_ended ON captures (state, ended);"
    "DROP TABLE admins;",
    /* 6: sign-in sessions (the cookie and its CSRF token kept as SHA-256
     * and as given), and failed sign-ins by account and by address, for
     * throttling shared by every server on the registry */
    "CREATE TABLE sessions ("
    "  id INTEGER PRIMARY KEY,"
    "  cookie_sha256 BLOB NOT NULL UNIQUE,"
    "  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  csrf TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL);"
    "CREATE INDEX sessions_user ON sessions (user_id);"
    "CREATE TABLE signin_failures ("
    "  key TEXT NOT NULL,"
    "  at INTEGER NOT NULL);"
    "CREATE INDEX signin_failures_key ON signin_failures (key, at);",
    /* 7: the audit log: who did what, when, from where (docs/accounts.md) */
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  org_id INTEGER NOT NULL REFERENCES orgs(id),"
    "  at_ms INTEGER NOT NULL,"
    "  user_id INTEGER,"
    "  actor TEXT NOT NULL,"
    "  address TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  detail TEXT NOT NULL);"
    "CREATE INDEX audit_org ON audit (org_id, id);",
    /* 8: whether an organization's viewers may download captures */
    "ALTER TABLE orgs ADD COLUMN viewer_downloads INTEGER NOT NULL DEFAULT 0;",
    /* 9: what each device last said of itself (its agent's status, JSON),
     * when, or why it could not be asked; when it was last asked */
    "ALTER TABLE devices ADD COLUMN report TEXT;"
    "ALTER TABLE devices ADD COLUMN reported INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE devices ADD COLUMN report_error TEXT;"
    "ALTER TABLE devices ADD COLUMN polled INTEGER NOT NULL DEFAULT 0;",
    /* 10: devices join by claim (docs/tunnel.md): a serial is unique within
     * an organization only, so that none can block or probe another's; a
     * device's key belongs to one device; how many asks for its report
     * failed in a row (they come less often); devices that announced
     * themselves and wait for their owner to claim them by serial and code
     * (the code's hash, as the device announced it) */
    "CREATE TABLE devices_new ("
    "  id INTEGER PRIMARY KEY,"
    "  org_id INTEGER NOT NULL REFERENCES orgs(id),"
    "  name TEXT NOT NULL,"
    "  serial TEXT NOT NULL,"
    "  pubkey TEXT,"
    "  secret BLOB NOT NULL,"
    "  address TEXT NOT NULL,"
    "  transport TEXT NOT NULL DEFAULT 'direct',"
    "  enabled INTEGER NOT NULL DEFAULT 1,"
    "  last_seen INTEGER,"
    "  created INTEGER NOT NULL,"
    "  mgmt_address INTEGER,"
    "  report TEXT,"
    "  reported INTEGER NOT NULL DEFAULT 0,"
    "  report_error TEXT,"
    "  polled INTEGER NOT NULL DEFAULT 0,"
    "  poll_failures INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (org_id, name),"
    "  UNIQUE (org_id, serial));"
    "INSERT INTO devices_new (id, org_id, name, serial, pubkey, secret, address, transport,"
    "  enabled, last_seen, created, mgmt_address, report, reported, report_error, polled)"
    "  SELECT id, org_id, name, serial, pubkey, secret, address, transport, enabled,"
    "  last_seen, created, mgmt_address, report, reported, report_error, polled FROM devices;"
    "DROP TABLE devices;"
    "ALTER TABLE devices_new RENAME TO devices;"
    "CREATE UNIQUE INDEX devices_mgmt ON devices (mgmt_address);"
    /* keys enrolled by hand in two places: the first enrolment keeps it,
     * the others lose it (they join again by claim) */
    "UPDATE devices SET pubkey = NULL WHERE pubkey IS NOT NULL AND id NOT IN "
    "  (SELECT min(id) FROM devices WHERE pubkey IS NOT NULL GROUP BY pubkey);"
    "CREATE UNIQUE INDEX devices_pubkey ON devices (pubkey);"
    "CREATE TABLE unclaimed ("
    "  pubkey TEXT PRIMARY KEY,"
    "  serial TEXT NOT NULL,"
    "  claim_sha256 TEXT NOT NULL,"
    "  hostname TEXT NOT NULL,"
    "  agent TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  first_seen INTEGER NOT NULL,"
    "  last_seen INTEGER NOT NULL);"
    "CREATE INDEX unclaimed_serial ON unclaimed (serial);"
    "CREATE INDEX unclaimed_source ON unclaimed (source);"
    "CREATE INDEX unclaimed_seen ON unclaimed (last_seen);"
    /* and, per device of a capture, what its clock was to the server's */
    "ALTER TABLE capture_devices ADD COLUMN clock TEXT;",
    /* 11: the tunnel settings set centrally (JSON objects), the
     * organization's and a device's own over them */
    "ALTER TABLE orgs ADD COLUMN settings TEXT;"
    "ALTER TABLE devices ADD COLUMN settings TEXT;",
    /* 12: the servers sharing the registry, each beating while it lives,
     * and which one holds each device's tunnel, fenced by an epoch
     * (docs/scale.md) */
    "CREATE TABLE instances ("
    "  id TEXT PRIMARY KEY,"
    "  address TEXT NOT NULL,"
    "  started INTEGER NOT NULL,"
    "  heartbeat INTEGER NOT NULL);"
    "CREATE TABLE device_owner ("
    "  device_id INTEGER PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,"
    "  instance TEXT,"
    "  epoch INTEGER NOT NULL,"
    "  since INTEGER NOT NULL);"
    "CREATE INDEX device_owner_instance ON device_owner (instance);"
    /* which one runs each capture */
    "ALTER TABLE captures ADD COLUMN instance TEXT;"
    /* a stop asked for on another server: the one that runs it reads it */
    "ALTER TABLE captures ADD COLUMN stop_asked INTEGER NOT NULL DEFAULT 0;"
    /* the key the instances sign their requests to each other with */
    "CREATE TABLE cluster ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  secret BLOB NOT NULL);",
};

static const struct reg_ops sqlite_ops;

static const char *errmsg(struct reg *r)
{
	return sqlite3_errmsg(sq(r)->db);
}

static int schema_version(struct reg *r)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(sq(r)->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Foreign keys are off while tables are rebuilt (a pragma that does
 * nothing inside a transaction), and checked before the commit. */
static int keys_hold(struct sq *r)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(r->db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK)
		return 0;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE;
}

static int migrate(struct sq *r, int want, char *err, size_t errlen)
{
	char *msg = NULL, pragma[48];
	int v;

	if (sqlite3_exec(r->db, "PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE", NULL, NULL, &msg) !=
	    SQLITE_OK)
		goto fail;
	v = schema_version(&r->base);
	if (v > want) {
		snprintf(err, errlen, "schema version %d is newer than this server's (%d)", v,
			 want);
		sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
		return -EPROTO;
	}
	for (; v < want; v++)
		if (sqlite3_exec(r->db, migrations[v], NULL, NULL, &msg) != SQLITE_OK)
			goto fail;
	if (!keys_hold(r)) {
		snprintf(err, errlen, "schema migration: foreign keys broken; nothing changed");
		sqlite3_exec(r->db, "ROLLBACK; PRAGMA foreign_keys = ON", NULL, NULL, NULL);
		return -EIO;
	}
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", want);
	if (sqlite3_exec(r->db, pragma, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(r->db, "COMMIT; PRAGMA foreign_keys = ON", NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "schema migration: %s", msg ? msg : sqlite3_errmsg(r->db));
	sqlite3_free(msg);
	sqlite3_exec(r->db, "ROLLBACK; PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	return -EIO;
}

/* The registry holds devices' secrets: its files are the server's alone.
 * The file is created 0600 before SQLite opens it (SQLite would create it
 * with the umask's 0644); SQLite creates -wal and -shm with the main file's
 * mode, so they follow. Files a looser setup left are tightened, one
 * warning each. Each descriptor is closed before SQLite opens the file:
 * closing one later would drop SQLite's POSIX locks on it. */
static int make_private(const char *path, char *err, size_t errlen)
{
	static const char *const suffix[] = {"", "-wal", "-shm"};
	char p[PATH_MAX];
	struct stat st;
	int fd, e;

	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		if ((size_t)snprintf(p, sizeof(p), "%s%s", path, suffix[i]) >= sizeof(p)) {
			snprintf(err, errlen, "registry %s: path too long", path);
			return -ENAMETOOLONG;
		}
		fd = open(p, O_RDWR | O_CLOEXEC | (i ? 0 : O_CREAT), 0600);
		if (fd < 0) {
			e = -errno;
			if (i && e == -ENOENT)
				continue;
			snprintf(err, errlen, "registry %s: %s", p, strerror(-e));
			return e;
		}
		e = fstat(fd, &st) ? -errno : 0;
		if (!e && (st.st_mode & 077)) {
			e = fchmod(fd, 0600) ? -errno : 0;
			if (!e)
				ecap_log(LOG_WARNING,
					 "registry %s had mode %04o: tightened to 0600", p,
					 (unsigned)(st.st_mode & 07777));
		}
		close(fd);
		if (e) {
			snprintf(err, errlen, "registry %s: %s", p, strerror(-e));
			return e;
		}
	}
	return 0;
}

static int damaged(const char *path, const char *why, char *err, size_t errlen)
{
	snprintf(err, errlen, "registry %s is damaged: %s; restore it from a backup", path, why);
	return -EUCLEAN;
}

/* The storage's last error as reg_open's: a file that is not a database or
 * is corrupt is damaged (-EUCLEAN), anything else -EIO. */
static int open_failed(struct sq *r, const char *path, char *err, size_t errlen)
{
	int rc;

	if (!r->db) {
		snprintf(err, errlen, "registry %s: out of memory", path);
		return -ENOMEM;
	}
	rc = sqlite3_errcode(r->db) & 0xff;
	if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
		return damaged(path, sqlite3_errmsg(r->db), err, errlen);
	snprintf(err, errlen, "registry %s: %s", path, sqlite3_errmsg(r->db));
	return -EIO;
}

/* A damaged registry would serve: its lookups fail as "not found", and
 * valid tokens get 401. quick_check reads every page once and checks the
 * b-trees' structure; it skips integrity_check's costlier part, that each
 * index matches its table. Its first complaint, or SQLite's error when it
 * cannot run. */
static int check(struct sq *r, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	const char *row, *nl;
	char why[256];
	int e = 0;

	if (sqlite3_prepare_v2(r->db, "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK)
		return open_failed(r, path, err, errlen);
	if (sqlite3_step(st) != SQLITE_ROW) {
		e = open_failed(r, path, err, errlen);
	} else if (strcmp((row = (const char *)sqlite3_column_text(st, 0)), "ok")) {
		/* one line: without the "*** in database main ***" line SQLite
		 * puts first, the rest's line breaks as spaces */
		if (!strncmp(row, "*** ", 4) && (nl = strchr(row, '\n')))
			row = nl + 1;
		snprintf(why, sizeof(why), "%s", row);
		for (char *c = why; *c; c++)
			if (*c == '\n')
				*c = ' ';
		e = damaged(path, why, err, errlen);
	}
	sqlite3_finalize(st);
	return e;
}

int reg_sqlite_open(const char *path, int version, struct reg **ret, char *err, size_t errlen)
{
	struct sq *r = NULL;
	int e = 0;

	if (version < 0)
		version = (int)(sizeof(migrations) / sizeof(migrations[0]));
	/* ":memory:" and "" (a temporary file) are SQLite's own */
	if (*path && strcmp(path, ":memory:"))
		e = make_private(path, err, errlen);
	if (e)
		return e;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->base.ops = &sqlite_ops;
	snprintf(r->where, sizeof(r->where), "%.255s", path);
	/* the first statement that reads the file tells one that is not a
	 * database (SQLITE_NOTADB) */
	if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
		SQLITE_OK ||
	    sqlite3_exec(r->db,
			 "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
			 "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 2000;",
			 NULL, NULL, NULL) != SQLITE_OK)
		e = open_failed(r, path, err, errlen);
	if (!e)
		e = check(r, path, err, errlen);
	if (!e)
		e = migrate(r, version, err, errlen);
	if (!e)
		e = reg_assign_mgmt(&r->base, err, errlen);
	if (e) {
		reg_close(&r->base);
		return e;
	}
	*ret = &r->base;
	return 0;
}

static void sq_close(struct reg *r)
{
	sqlite3_close(sq(r)->db);
	free(r);
}

/* Prepare and bind: 'i' int64, 't' text (NULL: SQL NULL), 'b' blob (ptr,
 * len). NULL on error. */
static struct reg_stmt *q(struct reg *r, const char *sql, const char *types, va_list ap)
{
	struct sq_stmt *s = malloc(sizeof(*s));
	sqlite3_stmt *st;
	int k = 1, rc = SQLITE_OK;

	if (!s)
		return NULL;
	if (sqlite3_prepare_v2(sq(r)->db, sql, -1, &st, NULL) != SQLITE_OK) {
		free(s);
		return NULL;
	}
	for (const char *t = types; *t && rc == SQLITE_OK; t++, k++) {
		if (*t == 'i') {
			rc = sqlite3_bind_int64(st, k, va_arg(ap, int64_t));
		} else if (*t == 't') {
			const char *v = va_arg(ap, const char *);

			rc = v ? sqlite3_bind_text(st, k, v, -1, SQLITE_TRANSIENT)
			       : sqlite3_bind_null(st, k);
		} else {
			const void *p = va_arg(ap, const void *);
			int n = va_arg(ap, int);

			rc = sqlite3_bind_blob(st, k, p, n, SQLITE_TRANSIENT);
		}
	}
	if (rc != SQLITE_OK) {
		sqlite3_finalize(st);
		free(s);
		return NULL;
	}
	*s = (struct sq_stmt){.base.ops = &sqlite_ops, .st = st};
	return &s->base;
}

static int step(struct reg_stmt *st)
{
	int rc = sqlite3_step(stmt(st));

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return (rc & 0xff) == SQLITE_CONSTRAINT ? -EEXIST : -EIO;
}

static int64_t col_int(struct reg_stmt *st, int col)
{
	return sqlite3_column_int64(stmt(st), col);
}

static const char *col_text(struct reg_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(stmt(st), col);
}

/* The blob first, then its length, as SQLite's documentation orders them. */
static const void *col_blob(struct reg_stmt *st, int col, size_t *len)
{
	const void *p = sqlite3_column_blob(stmt(st), col);

	*len = (size_t)sqlite3_column_bytes(stmt(st), col);
	return p;
}

static int col_null(struct reg_stmt *st, int col)
{
	return sqlite3_column_type(stmt(st), col) == SQLITE_NULL;
}

static void done(struct reg_stmt *st)
{
	sqlite3_finalize(stmt(st));
	free(st);
}

static int64_t changes(struct reg *r)
{
	return sqlite3_changes64(sq(r)->db);
}

static int exec(struct reg *r, const char *sql)
{
	return sqlite3_exec(sq(r)->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

/* SQLite takes its write lock at once, so that a transaction that reads
 * before it writes never finds the database changed under it. */
static int begin(struct reg *r)
{
	return exec(r, "BEGIN IMMEDIATE");
}

static const char *where(struct reg *r)
{
	return sq(r)->where;
}

static const struct reg_ops sqlite_ops = {.q = q,
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
					  .close = sq_close};
