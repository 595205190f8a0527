/* registry_captures.c - the registry's captures (registry.h): their rows,
 * their devices', and what their files keep; statements through
 * registry_sqlite.h's helpers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service/registry.h"
#include "service/registry_db.h"

int64_t reg_capture_add(struct reg *r, int64_t org, int64_t user, const char *request,
			const char *file, const char *instance)
{
	return reg_insert(reg_q(r,
				"INSERT INTO captures (org_id, user_id, request, file, created, "
				"instance) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
				"iittit", org, user, request, file, (int64_t)time(NULL), instance));
}

int reg_capture_set_file(struct reg *r, int64_t capture, const char *file)
{
	return reg_run(reg_q(r, "UPDATE captures SET file = ? WHERE id = ?", "ti", file, capture));
}

int reg_capture_device_add(struct reg *r, int64_t capture, int64_t device)
{
	return reg_run(reg_q(r, "INSERT INTO capture_devices (capture_id, device_id) VALUES (?, ?)",
			     "ii", capture, device));
}

int reg_capture_device_clock(struct reg *r, int64_t capture, int64_t device, const char *clock)
{
	return reg_run(reg_q(r,
			     "UPDATE capture_devices SET clock = ? WHERE capture_id = ? AND "
			     "device_id = ?",
			     "tii", clock, capture, device));
}

int reg_capture_device_update(struct reg *r, int64_t capture, int64_t device,
			      const struct reg_capture_device_state *s)
{
	return reg_run(reg_q(r,
			     "UPDATE capture_devices SET state = coalesce(?, state), "
			     "error = coalesce(?, error), "
			     "bytes = CASE WHEN ?3 <> 0 THEN bytes ELSE ?4 END, "
			     "packets = CASE WHEN ?3 <> 0 THEN packets ELSE ?5 END, "
			     "dropped = CASE WHEN ?3 <> 0 THEN dropped ELSE ?6 END, "
			     "duplicates = CASE WHEN ?7 <> 0 THEN duplicates ELSE ?8 END "
			     "WHERE capture_id = ?9 AND device_id = ?10 "
			     /* an end is not undone: the server running a capture
			      * may fail a device another server streams, which
			      * learns of it later */
			     "AND (?1 IS NULL OR state NOT IN ('done', 'failed')) "
			     /* a tick's write that lands after the capture's last
			      * does not undo it */
			     "AND (?11 = 0 OR EXISTS (SELECT 1 FROM captures c WHERE c.id = ?9 AND "
			     "c.state = 'running'))",
			     "ttiiiiiiiii", s->state, s->error, (int64_t)s->keep_counts,
			     (int64_t)s->bytes, (int64_t)s->packets, (int64_t)s->dropped,
			     (int64_t)s->keep_duplicates, (int64_t)s->duplicates, capture, device,
			     (int64_t)s->if_running));
}

int reg_capture_update(struct reg *r, int64_t capture, const struct reg_capture_state *s)
{
	struct reg_stmt *st = reg_q(
	    r,
	    "UPDATE captures SET state = ?, merged = ?, duplicates = ?, late = ?, "
	    "ended = nullif(?, 0), ended_by = coalesce(?, ended_by), "
	    "error = coalesce(?, error), stored = ? WHERE id = ? AND "
	    "(? = 0 OR state = 'running') RETURNING stop_asked",
	    "tiiiittiii", s->state, (int64_t)s->merged, (int64_t)s->duplicates, (int64_t)s->late,
	    s->ended, s->ended_by, s->error, (int64_t)s->stored, capture, (int64_t)s->if_running);
	int e = reg_row(st);

	if (!e)
		e = reg_int(st, 0) ? 1 : 0;
	reg_done(st);
	return e == -ENOENT ? 0 : e;
}

int reg_capture_runner(struct reg *r, int64_t org, int64_t capture, char *ret, size_t len)
{
	struct reg_stmt *st =
	    reg_q(r,
		  "SELECT coalesce(instance, '') FROM captures WHERE org_id = ? AND "
		  "id = ? AND state = 'running'",
		  "ii", org, capture);
	int e = reg_row(st);

	if (!e)
		reg_text_col(st, 0, ret, len);
	reg_done(st);
	return e;
}

int reg_capture_ask_stop(struct reg *r, int64_t org, int64_t capture)
{
	int e = reg_run(reg_q(r,
			      "UPDATE captures SET stop_asked = 1 WHERE org_id = ? AND id = ? AND "
			      "state = 'running'",
			      "ii", org, capture));

	if (!e && !reg_changes(r))
		return -ENOENT;
	if (!e) /* the server that runs it reads it now rather than within a second */
		reg_notify(r, REG_NOTICE_STOP, capture);
	return e;
}

/* A capture no running server runs */
#define ORPHAN "(instance IS NULL OR instance NOT IN (SELECT id FROM instances))"

void reg_captures_interrupted(struct reg *r)
{
	reg_run(reg_q(r,
		      "UPDATE capture_devices SET state = 'failed', error = 'server stopped' "
		      "WHERE state IN ('connecting', 'streaming') AND capture_id IN "
		      "(SELECT id FROM captures WHERE state = 'running' AND " ORPHAN ")",
		      ""));
	reg_run(reg_q(r,
		      "UPDATE captures SET state = 'done', ended = ?, "
		      "ended_by = coalesce(ended_by, 'server stopped') WHERE state = 'running' "
		      "AND " ORPHAN,
		      "i", (int64_t)time(NULL)));
}

void reg_captures_free(struct reg_capture *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++) {
		for (size_t k = 0; k < c[i].ndevs; k++) {
			free(c[i].devs[k].error);
			free(c[i].devs[k].clock);
		}
		free(c[i].devs);
		free(c[i].request);
		free(c[i].ended_by);
		free(c[i].error);
	}
	free(c);
}

/* A capture's devices, by name, into c. 0 or -errno. */
static int capture_devices(struct reg *r, struct reg_capture *c)
{
	struct reg_stmt *st = reg_q(
	    r,
	    "SELECT d.name, cd.state, cd.error, cd.bytes, cd.packets, cd.duplicates, "
	    "cd.dropped, cd.clock FROM capture_devices cd JOIN devices d ON d.id = cd.device_id "
	    "WHERE cd.capture_id = ? ORDER BY d.name",
	    "i", c->id);
	void *devs = NULL;
	size_t cap = 0;
	int rc, e = 0;

	if (!st)
		return -EIO;
	while ((rc = reg_step(st)) == 1) {
		struct reg_capture_device *d = reg_next_row(&devs, &c->ndevs, &cap, sizeof(*d));

		if (!d) {
			e = -ENOMEM;
			break;
		}
		*d = (struct reg_capture_device){.bytes = (uint64_t)reg_int(st, 3),
						 .packets = (uint64_t)reg_int(st, 4),
						 .duplicates = (uint64_t)reg_int(st, 5),
						 .dropped = (uint64_t)reg_int(st, 6)};
		reg_text_col(st, 0, d->device, sizeof(d->device));
		reg_text_col(st, 1, d->state, sizeof(d->state));
		if (!reg_null(st, 2) && !(d->error = strdup(reg_text(st, 2))))
			e = -ENOMEM;
		if (!reg_null(st, 7) && !(d->clock = strdup(reg_text(st, 7))))
			e = -ENOMEM;
	}
	reg_done(st);
	c->devs = devs;
	return e ? e : rc >= 0 ? 0 : -EIO;
}

/* Captures by id: id's alone, or those after after, limit of them. */
static int captures(struct reg *r, int64_t org, int64_t id, int64_t after, int64_t limit,
		    const struct reg_capture_filter *f, struct reg_capture **ret, size_t *ret_n)
{
	static const struct reg_capture_filter any = {0};
	struct reg_stmt *st;

	if (!f)
		f = &any;
	st = reg_q(r,
		   "SELECT c.id, c.state, c.request, c.merged, c.duplicates, c.late, c.created, "
		   "c.ended, c.ended_by, c.error, c.stored, c.lost, u.name FROM captures c "
		   "JOIN users u ON u.id = c.user_id "
		   "WHERE c.org_id = ?1 AND (?2 = 0 OR c.id = ?2) AND c.id > ?3 "
		   "AND (?5 IS NULL OR c.state = ?5) "
		   "AND (?6 IS NULL OR EXISTS (SELECT 1 FROM capture_devices cd JOIN devices d "
		   "ON d.id = cd.device_id WHERE cd.capture_id = c.id AND d.name = ?6)) "
		   "AND (?7 IS NULL OR u.name = ?7 OR u.email = lower(?7)) "
		   "AND (?8 = 0 OR c.created >= ?8) AND (?9 = 0 OR c.created < ?9) "
		   "ORDER BY c.id LIMIT ?4",
		   "iiiitttii", org, id, after, limit, f->state, f->device, f->user, f->since,
		   f->until);
	struct reg_capture *caps;
	void *v = NULL;
	size_t n = 0, cap = 0;
	int rc, e = 0;

	if (!st)
		return -EIO;
	while ((rc = reg_step(st)) == 1) {
		struct reg_capture *c = reg_next_row(&v, &n, &cap, sizeof(*c));

		if (!c) {
			e = -ENOMEM;
			break;
		}
		*c = (struct reg_capture){.id = reg_int(st, 0),
					  .merged = (uint64_t)reg_int(st, 3),
					  .duplicates = (uint64_t)reg_int(st, 4),
					  .late = (uint64_t)reg_int(st, 5),
					  .created = reg_int(st, 6),
					  .ended = reg_int(st, 7),
					  .stored = (uint64_t)reg_int(st, 10),
					  .lost = (int)reg_int(st, 11)};
		reg_text_col(st, 1, c->state, sizeof(c->state));
		reg_text_col(st, 12, c->user, sizeof(c->user));
		c->request = strdup(reg_text(st, 2));
		if (!reg_null(st, 8))
			c->ended_by = strdup(reg_text(st, 8));
		if (!reg_null(st, 9))
			c->error = strdup(reg_text(st, 9));
		if (!c->request || (!reg_null(st, 8) && !c->ended_by) ||
		    (!reg_null(st, 9) && !c->error)) {
			e = -ENOMEM;
			break;
		}
	}
	reg_done(st);
	caps = v;
	if (!e && rc != 0)
		e = -EIO;
	for (size_t i = 0; !e && i < n; i++)
		e = capture_devices(r, &caps[i]);
	if (!e && id && !n)
		e = -ENOENT;
	if (e) {
		reg_captures_free(caps, n);
		return e;
	}
	*ret = caps;
	*ret_n = n;
	return 0;
}

int reg_captures_list(struct reg *r, int64_t org, int64_t id, struct reg_capture **ret,
		      size_t *ret_n)
{
	return captures(r, org, id, 0, INT64_MAX, NULL, ret, ret_n);
}

int reg_captures_page(struct reg *r, int64_t org, int64_t after, size_t limit,
		      const struct reg_capture_filter *f, struct reg_capture **ret, size_t *ret_n)
{
	return captures(r, org, 0, after, (int64_t)limit, f, ret, ret_n);
}

/* The organization's capture's file, and whether it is done (done NULL:
 * not asked): 0, -ENOENT or -EIO. */
static int file_of(struct reg *r, int64_t org, int64_t id, char *file, size_t len, int *done)
{
	struct reg_stmt *st =
	    reg_q(r, "SELECT file, state FROM captures WHERE org_id = ? AND id = ?", "ii", org, id);
	int e = reg_row(st);

	if (!e) {
		snprintf(file, len, "%s", reg_text(st, 0));
		if (done)
			*done = !strcmp(reg_text(st, 1), "done");
	}
	reg_done(st);
	return e;
}

int reg_capture_file(struct reg *r, int64_t org, int64_t id, char *ret, size_t len)
{
	return file_of(r, org, id, ret, len, NULL);
}

int reg_org_stored(struct reg *r, int64_t org, uint64_t *ret)
{
	struct reg_stmt *st = reg_q(r,
				    "SELECT coalesce(sum(stored), 0) FROM captures "
				    "WHERE org_id = ? AND state = 'done' AND lost = 0",
				    "i", org);
	int e = -EIO;

	if (st && reg_step(st) == 1) {
		*ret = (uint64_t)reg_int(st, 0);
		e = 0;
	}
	reg_done(st);
	return e;
}

int reg_capture_delete(struct reg *r, int64_t org, int64_t id, char *file, size_t len)
{
	int done = 0, e = file_of(r, org, id, file, len, &done);

	if (e)
		return e;
	if (!done)
		return -EBUSY;
	if (reg_begin(r))
		return -EIO;
	e = reg_run(reg_q(r, "DELETE FROM capture_devices WHERE capture_id = ?", "i", id));
	if (!e)
		e = reg_run(reg_q(r, "DELETE FROM captures WHERE id = ?", "i", id));
	if (reg_exec(r, e ? "ROLLBACK" : "COMMIT") && !e)
		e = -EIO;
	return e;
}

int reg_captures_each(struct reg *r, int64_t ended_before, reg_capture_file_fn *fn, void *arg)
{
	struct reg_stmt *st = reg_q(r,
				    "SELECT id, org_id, file, lost FROM captures WHERE ?1 = 0 OR "
				    "(state = 'done' AND ended < ?1) ORDER BY ended, id",
				    "i", ended_before);
	int rc, e = 0;

	if (!st)
		return -EIO;
	while (!e && (rc = reg_step(st)) == 1)
		e = fn(arg, reg_int(st, 0), reg_int(st, 1), reg_text(st, 2), (int)reg_int(st, 3));
	if (!e && rc != 0)
		e = -EIO;
	reg_done(st);
	return e;
}

int reg_capture_set_stored(struct reg *r, int64_t id, uint64_t bytes)
{
	return reg_run(reg_q(r, "UPDATE captures SET stored = ? WHERE id = ? AND stored != ?1",
			     "ii", (int64_t)bytes, id));
}

int reg_capture_lost(struct reg *r, int64_t id)
{
	return reg_run(reg_q(r, "UPDATE captures SET lost = 1 WHERE id = ?", "i", id));
}
