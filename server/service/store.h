/* store.h - the data directory: the merged captures' files, and what they
 * may take.
 *
 * - Per organization at most org_max bytes: its finished captures' files,
 *   plus what its running captures may still write (each reserves its byte
 *   bound when it starts, and gets no more than is left; with less than
 *   1 MiB left, none starts).
 * - The directory: a capture starts only while reserve bytes are free
 *   there (a full disk fails the capture writing, with the reason).
 * - Retention: finished captures that ended retention days ago go, oldest
 *   first, file and rows together; an administrator may delete one sooner.
 * - At start: files no capture names are removed, captures whose file is
 *   gone are marked lost (their rows stay, their packets cannot be read). */
#ifndef SRV_STORE_H
#define SRV_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "service/registry.h"

struct srv_store {
	struct reg *reg;
	const char *dir;
	uint64_t org_max;   /* bytes; 0: no limit */
	uint64_t reserve;   /* bytes free in dir to start a capture */
	unsigned retention; /* days a finished capture is kept; 0: for ever */
};

/* What org's finished captures keep, from the registry (0 when it has no
 * limit): 0, or -EIO with err. */
int srv_store_stored(const struct srv_store *s, int64_t org, uint64_t *stored, char *err,
		     size_t errlen);
/* What a new capture of org may write, given what its finished captures
 * keep (srv_store_stored) and its running ones reserve: up to want, or
 * -EDQUOT / -ENOSPC with err naming the limit and its value (a 507). No
 * registry statement: the count and the reservation it allows can go
 * together, with nothing between. */
int64_t srv_store_room(const struct srv_store *s, uint64_t stored, uint64_t reserved, uint64_t want,
		       char *err, size_t errlen);
/* Remove one finished capture of org, file and rows: 0, or -ENOENT, -EBUSY
 * (running), -EIO. */
int srv_store_delete(const struct srv_store *s, int64_t org, int64_t id);
/* Captures past retention at now go: how many, or -EIO. */
int srv_store_expire(const struct srv_store *s, int64_t now);
/* At start: files without captures removed, captures without files marked. */
int srv_store_reconcile(const struct srv_store *s);

#endif
