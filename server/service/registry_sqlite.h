/* registry_sqlite.h - what the SQLite backend's files share (not an
 * interface: registry.h is): the handle, and statements made and run. */
#ifndef SRV_REGISTRY_SQLITE_H
#define SRV_REGISTRY_SQLITE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct reg {
	sqlite3 *db;
};

/* A statement with its parameters bound by types ("i" int64, "t" text,
 * "b" blob with its length after it): NULL on error. */
sqlite3_stmt *reg_q(struct reg *r, const char *sql, const char *types, ...);
/* Step it to the end and finalize it: 0, -EEXIST (a constraint), -EIO. */
int reg_run(sqlite3_stmt *st);
/* reg_run, then the new row's id (or the error). */
int64_t reg_insert(struct reg *r, sqlite3_stmt *st);
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
void reg_device_row(sqlite3_stmt *st, struct reg_device *d);
/* Every device a statement selects (DEVICE_COLUMNS), finalizing it: a
 * malloc'ed array (NULL when none). 0, -ENOMEM or -EIO. */
int reg_device_rows(sqlite3_stmt *st, struct reg_device **ret, size_t *ret_n);
/* A text column into ret, cut to len. */
void reg_text_col(sqlite3_stmt *st, int col, char *ret, size_t len);

#endif
