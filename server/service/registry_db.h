/* registry_db.h - what the registry's files share below registry.h (not
 * an interface: registry.h is): statements made, run and read, the same
 * on SQLite and on PostgreSQL. struct reg and struct reg_stmt are opaque
 * here, so the files over these helpers hold SQL text and row handling
 * only (docs/scale.md).
 *
 * The SQL is written once for both engines: parameters as ? or ?N (N from
 * 1, as SQLite numbers them), integers and never booleans (enabled <> 0,
 * not enabled), CASE in place of two-argument min and max, RETURNING id
 * for a new row's id, and no LIMIT -1. */
#ifndef SRV_REGISTRY_DB_H
#define SRV_REGISTRY_DB_H

#include <stddef.h>
#include <stdint.h>

struct reg;
/* A statement with its parameters bound, and the row it stands on. */
struct reg_stmt;

/* A statement with its parameters bound by types ("i" int64, "t" text,
 * "b" blob with its length after it): NULL on error. */
struct reg_stmt *reg_q(struct reg *r, const char *sql, const char *types, ...);
/* The next row: 1 a row, 0 no more, -EEXIST a constraint, -EIO (also for
 * a NULL statement). */
int reg_step(struct reg_stmt *st);
/* The current row's column col (from 0): as an integer; as text (NULL for
 * NULL), valid until the next step or reg_done; as bytes, their number in
 * len; whether it is NULL. */
int64_t reg_int(struct reg_stmt *st, int col);
const char *reg_text(struct reg_stmt *st, int col);
const void *reg_blob(struct reg_stmt *st, int col, size_t *len);
int reg_null(struct reg_stmt *st, int col);
/* Step a lookup to its one row: 0 it is there, -ENOENT it is not, -EIO
 * the storage failed (also for a NULL statement), so that a registry that
 * does not answer is never taken for a row that is not there. */
int reg_row(struct reg_stmt *st);
/* Finalize it (NULL is fine). */
void reg_done(struct reg_stmt *st);
/* Rows the last INSERT, UPDATE or DELETE changed. */
int64_t reg_changes(struct reg *r);
/* Run SQL without parameters or rows (COMMIT, ROLLBACK, savepoints): 0 or
 * -EIO. */
int reg_exec(struct reg *r, const char *sql);
/* Begin a transaction that writes: one at a time, across every server on
 * the registry (SQLite's BEGIN IMMEDIATE; a lock in PostgreSQL). */
int reg_begin(struct reg *r);
/* Step it to the end and finalize it: 0, -EEXIST (a constraint), -EIO. */
int reg_run(struct reg_stmt *st);
/* The id an INSERT ... RETURNING id gives (or the error). */
int64_t reg_insert(struct reg_stmt *st);
/* Room for one more row in a growing array: NULL when out of memory. */
void *reg_next_row(void **v, size_t *n, size_t *cap, size_t size);
/* SHA-256 of n bytes. */
void reg_sha256(const void *p, size_t n, uint8_t out[32]);
/* The columns of a device, in the order reg_device_row reads them. */
#define DEVICE_COLUMNS                                                                             \
	"id, org_id, name, serial, address, pubkey, transport, secret, enabled, "                  \
	"mgmt_address, last_seen, created"
struct reg_device;
void reg_device_row(struct reg_stmt *st, struct reg_device *d);
/* Every device a statement selects (DEVICE_COLUMNS), finalizing it: a
 * malloc'ed array (NULL when none). 0, -ENOMEM or -EIO. */
int reg_device_rows(struct reg_stmt *st, struct reg_device **ret, size_t *ret_n);
/* A text column into ret, cut to len. */
void reg_text_col(struct reg_stmt *st, int col, char *ret, size_t len);

#endif
