/* registry_users.c - users, their roles, passwords and API tokens; see
 * registry.h and docs/accounts.md. */
#include <ctype.h>
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hex.h"
#include "service/registry.h"
#include "service/registry_db.h"

static const char *const role_names[] = {
    [REG_VIEWER] = "viewer", [REG_OPERATOR] = "operator", [REG_OWNER] = "owner"};

const char *reg_role_name(enum reg_role role)
{
	return role >= REG_VIEWER && role <= REG_OWNER ? role_names[role] : "none";
}

enum reg_role reg_role_parse(const char *name)
{
	for (int i = REG_VIEWER; i <= REG_OWNER; i++)
		if (name && !strcmp(name, role_names[i]))
			return (enum reg_role)i;
	return 0;
}

const char *reg_email_bad(const char *e)
{
	const char *at = strchr(e, '@');

	if (strlen(e) > REG_EMAIL_MAX)
		return "longer than 254 characters";
	for (const char *c = e; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return "spaces or control characters in it";
	if (!at || at == e || strchr(at + 1, '@') || !strchr(at + 1, '.') || at[1] == '.' ||
	    e[strlen(e) - 1] == '.')
		return "want an address such as name@example.com";
	return NULL;
}

static int64_t org_id(struct reg *r, const char *org)
{
	struct reg_stmt *st = reg_q(r, "SELECT id FROM orgs WHERE name = ?", "t", org);
	int64_t id = reg_row(st);

	if (!id)
		id = reg_int(st, 0);
	reg_done(st);
	return id;
}

int64_t reg_user_add(struct reg *r, const char *org, const char *name, const char *email,
		     enum reg_role role, const char *pwhash, int pw_change)
{
	char lower[REG_EMAIL_MAX + 1];
	int64_t o = org_id(r, org);

	if (o < 0)
		return o;
	if (email) {
		size_t i = 0;

		for (; email[i] && i < REG_EMAIL_MAX; i++)
			lower[i] = (char)tolower((unsigned char)email[i]);
		lower[i] = '\0';
	}
	return reg_insert(reg_q(r,
				"INSERT INTO users (org_id, name, email, role, pwhash, "
				"pw_change, created) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
				"ittttii", o, name, email ? lower : NULL, reg_role_name(role),
				pwhash, (int64_t) !!pw_change, (int64_t)time(NULL)));
}

int64_t reg_token_add(struct reg *r, int64_t user, const char *name, char *token_hex)
{
	uint8_t token[REG_TOKEN_LEN], hash[32];

	if (RAND_bytes(token, sizeof(token)) != 1)
		return -EIO;
	ecap_hex_encode(token, sizeof(token), token_hex);
	reg_sha256(token_hex, 2 * sizeof(token), hash);
	return reg_insert(reg_q(r,
				"INSERT INTO tokens (user_id, name, token_sha256, created) "
				"VALUES (?, ?, ?, ?) RETURNING id",
				"itbi", user, name, hash, 32, (int64_t)time(NULL)));
}

int64_t reg_admin_add(struct reg *r, const char *org, const char *name, char *token_hex)
{
	int64_t user, tok;

	if (reg_begin(r))
		return -EIO;
	user = reg_user_add(r, org, name, NULL, REG_OWNER, NULL, 0);
	tok = user < 0 ? user : reg_token_add(r, user, name, token_hex);
	if (tok < 0)
		reg_exec(r, "ROLLBACK");
	else if (reg_exec(r, "COMMIT"))
		tok = -EIO;
	return tok < 0 ? tok : user;
}

/* The user columns every lookup reads, from users u joined with orgs o;
 * a lookup's own columns follow, from U (USER_NCOLS) on. */
#define USER_COLS                                                                                  \
	"u.id, u.org_id, u.role, u.pw_change, u.name, coalesce(u.email, ''), o.name, "             \
	"o.viewer_downloads"
#define U 8

static void user_row(struct reg_stmt *st, struct reg_user *u)
{
	u->id = reg_int(st, 0);
	u->org = reg_int(st, 1);
	u->role = reg_role_parse(reg_text(st, 2));
	u->pw_change = (int)reg_int(st, 3);
	reg_text_col(st, 4, u->name, sizeof(u->name));
	reg_text_col(st, 5, u->email, sizeof(u->email));
	reg_text_col(st, 6, u->org_name, sizeof(u->org_name));
	u->viewer_downloads = (int)reg_int(st, 7);
}

int reg_user_by_token(struct reg *r, const char *token, size_t len, struct reg_user *ret)
{
	uint8_t hash[32];
	struct reg_stmt *st;
	int64_t tok = 0, used = 0, now = (int64_t)time(NULL);
	int e;

	reg_sha256(token, len, hash);
	st = reg_q(r,
		   "SELECT " USER_COLS ", t.id, coalesce(t.last_used, 0) FROM tokens t "
		   "JOIN users u ON u.id = t.user_id JOIN orgs o ON o.id = u.org_id "
		   "WHERE t.token_sha256 = ? AND u.disabled = 0",
		   "b", hash, 32);
	e = reg_row(st);
	if (!e) {
		user_row(st, ret);
		tok = reg_int(st, U);
		used = reg_int(st, U + 1);
	}
	reg_done(st);
	if (!e && now - used >= 60) /* to the minute: not a write a request */
		reg_run(reg_q(r, "UPDATE tokens SET last_used = ? WHERE id = ?", "ii", now, tok));
	return e;
}

int reg_user_by_email(struct reg *r, const char *email, struct reg_user *ret, char *pwhash)
{
	struct reg_stmt *st = reg_q(r,
				    "SELECT " USER_COLS ", coalesce(u.pwhash, '') FROM users u "
				    "JOIN orgs o ON o.id = u.org_id "
				    "WHERE u.email = lower(?) AND u.disabled = 0",
				    "t", email);
	int e = reg_row(st);

	if (!e) {
		user_row(st, ret);
		reg_text_col(st, U, pwhash, REG_PWHASH_MAX);
	}
	reg_done(st);
	return e;
}

int reg_user_set_password(struct reg *r, int64_t user, const char *pwhash, int pw_change)
{
	return reg_run(reg_q(r, "UPDATE users SET pwhash = ?, pw_change = ? WHERE id = ?", "tii",
			     pwhash, (int64_t) !!pw_change, user));
}

int reg_session_add(struct reg *r, int64_t user, int64_t now, char *cookie_hex, char *csrf_hex)
{
	uint8_t cookie[REG_TOKEN_LEN], csrf[REG_TOKEN_LEN], hash[32];

	if (RAND_bytes(cookie, sizeof(cookie)) != 1 || RAND_bytes(csrf, sizeof(csrf)) != 1)
		return -EIO;
	ecap_hex_encode(cookie, sizeof(cookie), cookie_hex);
	ecap_hex_encode(csrf, sizeof(csrf), csrf_hex);
	reg_sha256(cookie_hex, 2 * sizeof(cookie), hash);
	return (int)reg_insert(reg_q(r,
				     "INSERT INTO sessions (cookie_sha256, user_id, csrf, created, "
				     "last_seen) VALUES (?, ?, ?, ?, ?) RETURNING id",
				     "bitii", hash, 32, user, csrf_hex, now, now)) < 0
		   ? -EIO
		   : 0;
}

int reg_session_get(struct reg *r, const char *cookie, size_t len, int64_t now, int64_t idle_s,
		    int64_t max_s, struct reg_user *ret, char *csrf_hex)
{
	uint8_t hash[32];
	struct reg_stmt *st;
	int64_t id = 0, created = 0, seen = 0;
	int e;

	reg_sha256(cookie, len, hash);
	st = reg_q(r,
		   "SELECT " USER_COLS ", s.id, s.created, s.last_seen, s.csrf FROM sessions s "
		   "JOIN users u ON u.id = s.user_id JOIN orgs o ON o.id = u.org_id "
		   "WHERE s.cookie_sha256 = ? AND u.disabled = 0",
		   "b", hash, 32);
	e = reg_row(st);
	if (!e) {
		user_row(st, ret);
		id = reg_int(st, U);
		created = reg_int(st, U + 1);
		seen = reg_int(st, U + 2);
		reg_text_col(st, U + 3, csrf_hex, 2 * REG_TOKEN_LEN + 1);
	}
	reg_done(st);
	if (e)
		return e;
	if (now - seen > idle_s || now - created > max_s) {
		reg_run(reg_q(r, "DELETE FROM sessions WHERE id = ?", "i", id));
		return -ENOENT;
	}
	if (now != seen)
		reg_run(reg_q(r, "UPDATE sessions SET last_seen = ? WHERE id = ?", "ii", now, id));
	return 0;
}

int reg_session_end(struct reg *r, const char *cookie, size_t len)
{
	uint8_t hash[32];

	reg_sha256(cookie, len, hash);
	return reg_run(reg_q(r, "DELETE FROM sessions WHERE cookie_sha256 = ?", "b", hash, 32));
}

int reg_sessions_end_user(struct reg *r, int64_t user, const char *keep, size_t keep_len)
{
	uint8_t hash[32] = {0};

	if (keep)
		reg_sha256(keep, keep_len, hash);
	return reg_run(reg_q(r, "DELETE FROM sessions WHERE user_id = ? AND cookie_sha256 != ?",
			     "ib", user, hash, 32));
}

int reg_signin_failed(struct reg *r, const char *key, int64_t now)
{
	return reg_run(
	    reg_q(r, "INSERT INTO signin_failures (key, at) VALUES (?, ?)", "ti", key, now));
}

int reg_signin_failures(struct reg *r, const char *key, int64_t since, unsigned *ret_n,
			int64_t *ret_last)
{
	struct reg_stmt *st = reg_q(r,
				    "SELECT count(*), coalesce(max(at), 0) FROM signin_failures "
				    "WHERE key = ? AND at >= ?",
				    "ti", key, since);

	if (!st)
		return -EIO;
	if (reg_step(st) != 1) {
		reg_done(st);
		return -EIO;
	}
	*ret_n = (unsigned)reg_int(st, 0);
	*ret_last = reg_int(st, 1);
	reg_done(st);
	/* older ones count no more: gone */
	reg_run(reg_q(r, "DELETE FROM signin_failures WHERE key = ? AND at < ?", "ti", key, since));
	return 0;
}

int reg_signin_forget(struct reg *r, const char *key)
{
	return reg_run(reg_q(r, "DELETE FROM signin_failures WHERE key = ?", "t", key));
}

#define ROW_COLS USER_COLS ", u.disabled, u.created"

static void row_of(struct reg_stmt *st, struct reg_user_row *row)
{
	user_row(st, &row->u);
	row->disabled = (int)reg_int(st, U);
	row->created = reg_int(st, U + 1);
}

int reg_users_list(struct reg *r, int64_t org, struct reg_user_row **ret, size_t *ret_n)
{
	struct reg_stmt *st =
	    reg_q(r,
		  "SELECT " ROW_COLS " FROM users u JOIN orgs o ON o.id = u.org_id "
		  "WHERE u.org_id = ? ORDER BY u.name",
		  "i", org);
	struct reg_user_row *v = NULL, *row;
	size_t n = 0, cap = 0;
	int rc;

	if (!st)
		return -EIO;
	while ((rc = reg_step(st)) == 1 && (row = reg_next_row((void **)&v, &n, &cap, sizeof(*v))))
		row_of(st, row);
	reg_done(st);
	if (rc != 0) {
		free(v);
		return -EIO;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int reg_user_get(struct reg *r, int64_t org, const char *name, struct reg_user_row *ret)
{
	struct reg_stmt *st =
	    reg_q(r,
		  "SELECT " ROW_COLS " FROM users u JOIN orgs o ON o.id = u.org_id "
		  "WHERE u.org_id = ? AND u.name = ?",
		  "it", org, name);
	int e = reg_row(st);

	if (!e)
		row_of(st, ret);
	reg_done(st);
	return e;
}

/* Enabled owners of the organization but the named user. */
static int64_t other_owners(struct reg *r, int64_t org, const char *name)
{
	struct reg_stmt *st = reg_q(r,
				    "SELECT count(*) FROM users WHERE org_id = ? AND name != ? AND "
				    "role = 'owner' AND disabled = 0",
				    "it", org, name);
	int64_t n = -EIO;

	if (st && reg_step(st) == 1)
		n = reg_int(st, 0);
	reg_done(st);
	return n;
}

/* The end of a transaction that writes: COMMIT after e == 0, else ROLLBACK */
static int end_tx(struct reg *r, int e)
{
	if (e) {
		reg_exec(r, "ROLLBACK");
		return e;
	}
	return reg_exec(r, "COMMIT") ? -EIO : 0;
}

/* The last owner checked for and written in one transaction: of two
 * requests that would each leave one owner (on one server or two), the
 * second sees the first's change. */
static int user_update(struct reg *r, int64_t org, const char *name, enum reg_role role,
		       int disabled)
{
	struct reg_user_row u;
	int e = reg_user_get(r, org, name, &u);
	int64_t others;

	if (e)
		return e;
	if (u.u.role == REG_OWNER && ((role && role != REG_OWNER) || disabled == 1) &&
	    (others = other_owners(r, org, name)) <= 0)
		return others < 0 ? (int)others : -EPERM;
	if (role)
		e = reg_run(reg_q(r, "UPDATE users SET role = ? WHERE id = ?", "ti",
				  reg_role_name(role), u.u.id));
	if (!e && disabled >= 0)
		e = reg_run(reg_q(r, "UPDATE users SET disabled = ? WHERE id = ?", "ii",
				  (int64_t)disabled, u.u.id));
	if (!e && disabled == 1)
		e = reg_sessions_end_user(r, u.u.id, NULL, 0);
	return e;
}

int reg_user_update(struct reg *r, int64_t org, const char *name, enum reg_role role, int disabled)
{
	return reg_begin(r) ? -EIO : end_tx(r, user_update(r, org, name, role, disabled));
}

static int user_delete(struct reg *r, int64_t org, const char *name)
{
	struct reg_user_row u;
	struct reg_stmt *st;
	int e = reg_user_get(r, org, name, &u), busy;
	int64_t others;

	if (e)
		return e;
	if (u.u.role == REG_OWNER && !u.disabled && (others = other_owners(r, org, name)) <= 0)
		return others < 0 ? (int)others : -EPERM;
	st = reg_q(r, "SELECT 1 FROM captures WHERE user_id = ? LIMIT 1", "i", u.u.id);
	busy = reg_row(st);
	reg_done(st);
	if (busy != -ENOENT)
		return busy ? busy : -EBUSY;
	/* its tokens and sessions go with it (ON DELETE CASCADE) */
	return reg_run(reg_q(r, "DELETE FROM users WHERE id = ?", "i", u.u.id));
}

int reg_user_delete(struct reg *r, int64_t org, const char *name)
{
	return reg_begin(r) ? -EIO : end_tx(r, user_delete(r, org, name));
}

int reg_tokens_list(struct reg *r, int64_t user, struct reg_token_row **ret, size_t *ret_n)
{
	struct reg_stmt *st = reg_q(r,
				    "SELECT name, created, coalesce(last_used, 0) FROM tokens "
				    "WHERE user_id = ? ORDER BY name",
				    "i", user);
	struct reg_token_row *v = NULL, *row;
	size_t n = 0, cap = 0;
	int rc;

	if (!st)
		return -EIO;
	while ((rc = reg_step(st)) == 1 &&
	       (row = reg_next_row((void **)&v, &n, &cap, sizeof(*v)))) {
		reg_text_col(st, 0, row->name, sizeof(row->name));
		row->created = reg_int(st, 1);
		row->last_used = reg_int(st, 2);
	}
	reg_done(st);
	if (rc != 0) {
		free(v);
		return -EIO;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int reg_token_delete(struct reg *r, int64_t user, const char *name)
{
	int e = reg_run(
	    reg_q(r, "DELETE FROM tokens WHERE user_id = ? AND name = ?", "it", user, name));

	return e ? e : reg_changes(r) ? 0 : -ENOENT;
}

int reg_org_set_viewer_downloads(struct reg *r, int64_t org, int on)
{
	return reg_run(reg_q(r, "UPDATE orgs SET viewer_downloads = ? WHERE id = ?", "ii",
			     (int64_t) !!on, org));
}

int reg_capture_user(struct reg *r, int64_t org, int64_t capture, int64_t *ret)
{
	struct reg_stmt *st = reg_q(r, "SELECT user_id FROM captures WHERE org_id = ? AND id = ?",
				    "ii", org, capture);
	int e = reg_row(st);

	if (!e)
		*ret = reg_int(st, 0);
	reg_done(st);
	return e;
}
