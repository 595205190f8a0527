/* store.c - see store.h. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "service/store.h"

#define MIB	 (1024 * 1024)
#define ROOM_MIN MIB /* of the organization's storage left, for a capture to start */

int srv_store_stored(const struct srv_store *s, int64_t org, uint64_t *stored, char *err,
		     size_t errlen)
{
	*stored = 0;
	if (s->org_max && reg_org_stored(s->reg, org, stored)) {
		snprintf(err, errlen, "registry: %s", reg_errmsg(s->reg));
		return -EIO;
	}
	return 0;
}

int64_t srv_store_room(const struct srv_store *s, uint64_t stored, uint64_t reserved, uint64_t want,
		       char *err, size_t errlen)
{
	struct statvfs fs;
	uint64_t used, avail;

	if (s->org_max) {
		used = stored + reserved;
		if (used + ROOM_MIN > s->org_max) {
			snprintf(err, errlen,
				 "the organization's captures keep %llu MiB (%llu MiB of them "
				 "reserved by running captures), its most (org_storage_max_mib = "
				 "%llu): delete captures to make room",
				 (unsigned long long)(used / MIB),
				 (unsigned long long)(reserved / MIB),
				 (unsigned long long)(s->org_max / MIB));
			return -EDQUOT;
		}
		if (want > s->org_max - used)
			want = s->org_max - used;
	}
	if (statvfs(s->dir, &fs)) {
		snprintf(err, errlen, "data directory %s: %s", s->dir, strerror(errno));
		return -EIO;
	}
	avail = (uint64_t)fs.f_bavail * fs.f_frsize;
	if (avail < s->reserve) {
		snprintf(err, errlen,
			 "the data directory has %llu MiB free, less than it keeps free "
			 "(data_reserve_mib = %llu)",
			 (unsigned long long)(avail / MIB), (unsigned long long)(s->reserve / MIB));
		return -ENOSPC;
	}
	return want > INT64_MAX ? INT64_MAX : (int64_t)want;
}

/* A starting capture's file that a crash left: "new-XXXXXX.pcapng"
 * (capture.c; "new.pcapng" before) untouched for NEW_STALE_S. A younger one
 * may be another server's, starting in the same data directory. */
#define NEW_STALE_S 600
static int stale_new(const char *dir, const char *name)
{
	size_t n = strlen(name);
	char path[512];
	struct stat st;

	if (strcmp(name, "new.pcapng") &&
	    (n != strlen("new-XXXXXX.pcapng") || strncmp(name, "new-", 4) ||
	     strcmp(name + n - 7, ".pcapng")))
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return !stat(path, &st) && time(NULL) - st.st_mtime >= NEW_STALE_S;
}

static void remove_file(const char *file)
{
	if (unlink(file) && errno != ENOENT)
		ecap_log(LOG_WARNING, "removing %s: %s", file, strerror(errno));
}

int srv_store_delete(const struct srv_store *s, int64_t org, int64_t id)
{
	char file[512];
	int r = reg_capture_delete(s->reg, org, id, file, sizeof(file));

	if (!r)
		remove_file(file);
	return r;
}

/* Captures to remove, gathered before any goes (the registry is not
 * changed under its own query). */
struct expire {
	struct {
		int64_t id, org;
	} * v;
	size_t n, cap;
};

#define EXPIRE_TURN 1000 /* removed at a time: the rest the next time */

static int expire_one(void *arg, int64_t id, int64_t org, const char *file, int lost)
{
	struct expire *e = arg;

	(void)file;
	(void)lost;
	if (e->n == EXPIRE_TURN)
		return 1;
	if (e->n == e->cap) {
		void *v = realloc(e->v, (e->cap = e->cap ? 2 * e->cap : 64) * sizeof(*e->v));

		if (!v)
			return -ENOMEM;
		e->v = v;
	}
	e->v[e->n].id = id;
	e->v[e->n++].org = org;
	return 0;
}

int srv_store_expire(const struct srv_store *s, int64_t now)
{
	struct expire e = {0};
	int gone = 0, r;

	if (!s->retention)
		return 0;
	r = reg_captures_each(s->reg, now - (int64_t)s->retention * 86400, expire_one, &e);
	for (size_t i = 0; i < e.n; i++)
		gone += !srv_store_delete(s, e.v[i].org, e.v[i].id);
	free(e.v);
	if (gone)
		ecap_log(LOG_INFO, "retention: %d capture(s) older than %u days removed", gone,
			 s->retention);
	return r < 0 ? -EIO : gone;
}

/* The captures' ids, sorted, to look files up in. */
struct known {
	int64_t *ids;
	size_t n, cap;
	const struct srv_store *s;
	int lost;
};

static int know(void *arg, int64_t id, int64_t org, const char *file, int lost)
{
	struct known *k = arg;
	struct stat st;

	(void)org;
	if (k->n == k->cap) {
		int64_t *v = realloc(k->ids, (k->cap = k->cap ? 2 * k->cap : 256) * sizeof(*v));

		if (!v)
			return -ENOMEM;
		k->ids = v;
	}
	k->ids[k->n++] = id;
	if (lost)
		return 0;
	if (stat(file, &st)) {
		if (errno == ENOENT && !reg_capture_lost(k->s->reg, id)) {
			ecap_log(LOG_WARNING, "capture %lld: its file %s is gone", (long long)id,
				 file);
			k->lost++;
		}
	} else { /* what it keeps, as the file says (its last save may be behind) */
		reg_capture_set_stored(k->s->reg, id, (uint64_t)st.st_size);
	}
	return 0;
}

static int by_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* "ID.pcapng": ID, else 0. */
static int64_t file_id(const char *name)
{
	char *end;
	long long id;

	if (!isdigit((unsigned char)name[0]))
		return 0;
	id = strtoll(name, &end, 10);
	return strcmp(end, ".pcapng") ? 0 : id;
}

int srv_store_reconcile(const struct srv_store *s)
{
	struct known k = {.s = s};
	struct dirent *e;
	DIR *d;
	int removed = 0, r;

	r = reg_captures_each(s->reg, 0, know, &k);
	if (r) {
		free(k.ids);
		return r;
	}
	qsort(k.ids, k.n, sizeof(*k.ids), by_id);
	d = opendir(s->dir);
	while (d && (e = readdir(d))) {
		int64_t id = file_id(e->d_name);
		char path[512];

		if ((!id || bsearch(&id, k.ids, k.n, sizeof(*k.ids), by_id)) &&
		    !stale_new(s->dir, e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name);
		remove_file(path);
		removed++;
	}
	if (d)
		closedir(d);
	free(k.ids);
	if (removed || k.lost)
		ecap_log(LOG_WARNING,
			 "data directory %s: %d file(s) of no capture removed, %d capture(s) "
			 "without their file",
			 s->dir, removed, k.lost);
	return 0;
}
