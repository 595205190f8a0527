/* registry_sqlite.c - the registry in one SQLite file, see registry.h.
 * The backend (opening, migrations, statements and their rows) comes
 * first and is the only code of the registry that calls SQLite; the rest,
 * from reg_sha256 on, goes through registry_sqlite.h's helpers as the
 * other registry_*.c files do. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/log.h"
#include "service/registry.h"
#include "service/registry_sqlite.h"
#include "tunnel/identity.h"

struct reg {
	sqlite3 *db;
};

/* For SQLite a struct reg_stmt is its sqlite3_stmt: the pointer is passed
 * through as it is, never dereferenced as a struct reg_stmt. */
static sqlite3_stmt *stmt(struct reg_stmt *st)
{
	return (sqlite3_stmt *)st;
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
};

const char *reg_errmsg(struct reg *r)
{
	return sqlite3_errmsg(r->db);
}

int reg_schema_version(struct reg *r)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(r->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

int reg_ping(struct reg *r)
{
	return reg_schema_version(r) < 0 ? -EIO : 0;
}

/* Foreign keys are off while tables are rebuilt (a pragma that does
 * nothing inside a transaction), and checked before the commit. */
static int keys_hold(struct reg *r)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(r->db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK)
		return 0;
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE;
}

static int migrate(struct reg *r, int want, char *err, size_t errlen)
{
	char *msg = NULL, pragma[48];
	int v;

	if (sqlite3_exec(r->db, "PRAGMA foreign_keys = OFF; BEGIN IMMEDIATE", NULL, NULL, &msg) !=
	    SQLITE_OK)
		goto fail;
	v = reg_schema_version(r);
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

static int assign_mgmt(struct reg *r, char *err, size_t errlen);

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
static int open_failed(struct reg *r, const char *path, char *err, size_t errlen)
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
static int check(struct reg *r, const char *path, char *err, size_t errlen)
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

int reg_open(const char *path, struct reg **ret, char *err, size_t errlen)
{
	return reg_sqlite_open(path, (int)(sizeof(migrations) / sizeof(migrations[0])), ret, err,
			       errlen);
}

int reg_sqlite_open(const char *path, int version, struct reg **ret, char *err, size_t errlen)
{
	struct reg *r = NULL;
	int e = 0;

	/* ":memory:" and "" (a temporary file) are SQLite's own */
	if (*path && strcmp(path, ":memory:"))
		e = make_private(path, err, errlen);
	if (e)
		return e;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
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
		e = assign_mgmt(r, err, errlen);
	if (e) {
		reg_close(r);
		return e;
	}
	*ret = r;
	return 0;
}

void reg_close(struct reg *r)
{
	if (!r)
		return;
	sqlite3_close(r->db);
	free(r);
}

/* Prepare and bind: 'i' int64, 't' text (NULL: SQL NULL), 'b' blob (ptr,
 * len). NULL on error. */
struct reg_stmt *reg_q(struct reg *r, const char *sql, const char *types, ...)
{
	sqlite3_stmt *st;
	va_list ap;
	int k = 1, rc = SQLITE_OK;

	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	va_start(ap, types);
	for (const char *t = types; *t && rc == SQLITE_OK; t++, k++) {
		if (*t == 'i') {
			rc = sqlite3_bind_int64(st, k, va_arg(ap, int64_t));
		} else if (*t == 't') {
			const char *s = va_arg(ap, const char *);

			rc = s ? sqlite3_bind_text(st, k, s, -1, SQLITE_TRANSIENT)
			       : sqlite3_bind_null(st, k);
		} else {
			const void *p = va_arg(ap, const void *);
			int n = va_arg(ap, int);

			rc = sqlite3_bind_blob(st, k, p, n, SQLITE_TRANSIENT);
		}
	}
	va_end(ap);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(st);
		return NULL;
	}
	return (struct reg_stmt *)st;
}

/* Run a statement that returns no rows: 0, -EEXIST on a constraint, -EIO. */
int reg_run(struct reg_stmt *st)
{
	int rc;

	if (!st)
		return -EIO;
	rc = sqlite3_step(stmt(st));
	sqlite3_finalize(stmt(st));
	if (rc == SQLITE_DONE)
		return 0;
	return rc == SQLITE_CONSTRAINT ? -EEXIST : -EIO;
}

int64_t reg_insert(struct reg *r, struct reg_stmt *st)
{
	int e = reg_run(st);

	return e ? e : sqlite3_last_insert_rowid(r->db);
}

int reg_step(struct reg_stmt *st)
{
	int rc;

	if (!st)
		return -EIO;
	rc = sqlite3_step(stmt(st));
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -EIO;
}

int64_t reg_int(struct reg_stmt *st, int col)
{
	return sqlite3_column_int64(stmt(st), col);
}

const char *reg_text(struct reg_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(stmt(st), col);
}

/* The blob first, then its length, as SQLite's documentation orders them. */
const void *reg_blob(struct reg_stmt *st, int col, size_t *len)
{
	const void *p = sqlite3_column_blob(stmt(st), col);

	*len = (size_t)sqlite3_column_bytes(stmt(st), col);
	return p;
}

int reg_null(struct reg_stmt *st, int col)
{
	return sqlite3_column_type(stmt(st), col) == SQLITE_NULL;
}

void reg_done(struct reg_stmt *st)
{
	sqlite3_finalize(stmt(st));
}

int64_t reg_changes(struct reg *r)
{
	return sqlite3_changes64(r->db);
}

int reg_exec(struct reg *r, const char *sql)
{
	return sqlite3_exec(r->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

void reg_sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned len = 32;

	EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

int64_t reg_org_add(struct reg *r, const char *name)
{
	return reg_insert(r, reg_q(r, "INSERT INTO orgs (name, created) VALUES (?, ?)", "ti", name,
				   (int64_t)time(NULL)));
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
static int assign_mgmt(struct reg *r, char *err, size_t errlen)
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
	    r, reg_q(r,
		     "INSERT INTO devices (org_id, name, serial, address, pubkey, secret, "
		     "created, mgmt_address) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
	int rc, e;

	if (!st)
		return -EIO;
	rc = reg_step(st);
	e = rc == 1 ? 0 : rc == 0 ? -ENOENT : -EIO;
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
				     limit ? (int64_t)limit : (int64_t)-1),
			       ret, ret_n);
}

int reg_device_enable(struct reg *r, int64_t org, const char *name, int enabled)
{
	int e = reg_run(reg_q(r, "UPDATE devices SET enabled = ? WHERE org_id = ? AND name = ?",
			      "iit", (int64_t)enabled, org, name));

	return !e && !reg_changes(r) ? -ENOENT : e;
}

void reg_device_transport(struct reg *r, int64_t id, const char *transport, int64_t when)
{
	reg_run(reg_q(r, "UPDATE devices SET transport = ?, last_seen = ? WHERE id = ?", "tii",
		      transport, when, id));
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
