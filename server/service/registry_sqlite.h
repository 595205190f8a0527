/* registry_sqlite.h - what the registry's files share below registry.h
 * (not an interface: registry.h is): statements made, run and read. Only
 * registry_sqlite.c's backend part knows the storage engine; struct reg
 * and struct reg_stmt are opaque here, so the files over these helpers
 * hold SQL text and row handling only (docs/scale.md). */
#ifndef SRV_REGISTRY_SQLITE_H
#define SRV_REGISTRY_SQLITE_H

#include <stddef.h>
#include <stdint.h>

struct reg;
/* A statement with its parameters bound, and the row it stands on. */
struct reg_stmt;

/* A statement with its parameters bound by types ("i" int64, "t" text,
 * "b" blob with its length after it): NULL on error. */
struct reg_stmt *reg_q(struct reg *r, const char *sql, const char *types, ...);
/* The next row: 1 a row, 0 no more, -EIO (also for a NULL statement). */
int reg_step(struct reg_stmt *st);
/* The current row's column col (from 0): as an integer; as text (NULL for
 * NULL), valid until the next step or reg_done; as bytes, their number in
 * len; whether it is NULL. */
int64_t reg_int(struct reg_stmt *st, int col);
const char *reg_text(struct reg_stmt *st, int col);
const void *reg_blob(struct reg_stmt *st, int col, size_t *len);
int reg_null(struct reg_stmt *st, int col);
/* Finalize it (NULL is fine). */
void reg_done(struct reg_stmt *st);
/* Rows the last INSERT, UPDATE or DELETE changed. */
int64_t reg_changes(struct reg *r);
/* Run SQL without parameters or rows (BEGIN, COMMIT, ROLLBACK, savepoints):
 * 0 or -EIO. */
int reg_exec(struct reg *r, const char *sql);
/* Step it to the end and finalize it: 0, -EEXIST (a constraint), -EIO. */
int reg_run(struct reg_stmt *st);
/* reg_run, then the new row's id (or the error). */
int64_t reg_insert(struct reg *r, struct reg_stmt *st);
/* Room for one more row in a growing array: NULL when out of memory. */
void *reg_next_row(void **v, size_t *n, size_t *cap, size_t size);
/* SHA-256 of n bytes. */
void reg_sha256(const void *p, size_t n, uint8_t out[32]);
/* reg_open, migrating only to schema version (for the tests of the
 * migrations). */
int reg_sqlite_open(const char *path, int version, struct reg **ret, char *err, size_t errlen);
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
