/* session.c - signing in and out, and one's own password
 * (docs/accounts.md):
 *
 *   POST   /api/v1/session           {email, password}: a session cookie
 *                                    (srv_signin_ep, the one public route)
 *   GET    /api/v1/session           who is signed in, and the CSRF token
 *   DELETE /api/v1/session           sign out
 *   POST   /api/v1/session/password  {password, new_password}
 *
 * Passwords are checked and hashed off the loop (service/pwwork.h); a
 * request that goes meanwhile cancels its job. Failed sign-ins are counted
 * in the registry per account and per address, and past a bound refused
 * before any password is checked. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "service/password.h"

#define ACCOUNT_FREE   5   /* failures an account may have in the window */
#define ACCOUNT_WAIT_S 30  /* then a wait, doubling with each further one */
#define ADDRESS_FREE   20  /* failures from one address in the window */
#define WINDOW_S       900 /* the window, and the longest wait */
#define KEY_MAX	       (REG_EMAIL_MAX + 16)

struct signing {
	struct srv_api *api;
	h2o_req_t *req;
	struct srv_pwjob *job; /* NULL: none under way */
	json_t *body;
	struct reg_user u;
	int found;			    /* u is a user */
	char account[KEY_MAX];		    /* its failures' key */
	char address[96];		    /* the client's */
	char cookie[2 * REG_TOKEN_LEN + 1]; /* the caller's session ("": a token) */
	const char *new_pw;		    /* password change: the new one */
	char who[2 * REG_NAME_MAX + 2];
};

/* The request went (answered, or reset): its job's answer is dropped. */
static void on_dispose(void *p)
{
	struct signing *s = p;

	if (s->job)
		srv_pwjob_cancel(s->job);
	json_decref(s->body);
}

static struct signing *signing_new(struct srv_api *api, h2o_req_t *req, json_t *body)
{
	struct signing *s = h2o_mem_alloc_shared(&req->pool, sizeof(*s), on_dispose);

	memset(s, 0, sizeof(*s));
	s->api = api;
	s->req = req;
	s->body = body;
	return s;
}

static json_t *user_json(const struct reg_user *u)
{
	return json_pack("{s:s,s:s?,s:s,s:s,s:b}", "name", u->name, "email",
			 u->email[0] ? u->email : NULL, "role", reg_role_name(u->role),
			 "organization", u->org_name, "password_change", u->pw_change);
}

/* Seconds to wait before key may try again (0: now): an account after
 * ACCOUNT_FREE failures waits ACCOUNT_WAIT_S, doubling up to WINDOW_S; an
 * address after ADDRESS_FREE waits WINDOW_S. -1: the registry failed. */
static int64_t wait_for(struct reg *reg, const char *key, int account, int64_t now)
{
	unsigned n = 0;
	int64_t last = 0, wait;

	if (reg_signin_failures(reg, key, now - WINDOW_S, &n, &last))
		return -1;
	if (account ? n < ACCOUNT_FREE : n < ADDRESS_FREE)
		return 0;
	wait = account ? (int64_t)ACCOUNT_WAIT_S << (n - ACCOUNT_FREE < 5 ? n - ACCOUNT_FREE : 5)
		       : WINDOW_S;
	if (wait > WINDOW_S)
		wait = WINDOW_S;
	return last + wait > now ? last + wait - now : 0;
}

static int too_many(h2o_req_t *req, int64_t wait, const char *whose)
{
	char v[24];
	int n = snprintf(v, sizeof(v), "%lld", (long long)wait);

	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
		       h2o_strdup(&req->pool, v, (size_t)n).base, (size_t)n);
	return srv_fail(req, 429, "too many failed sign-ins %s; try again in %lld s", whose,
			(long long)wait);
}

static void set_cookie(h2o_req_t *req, const char *value, int end)
{
	char c[256];
	int n = snprintf(
	    c, sizeof(c), SRV_SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict%s%s", value,
	    end ? "; Max-Age=0" : "", req->scheme == &H2O_URL_SCHEME_HTTPS ? "; Secure" : "");

	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, NULL,
		       h2o_strdup(&req->pool, c, (size_t)n).base, (size_t)n);
}

static void on_verified(void *data, int ok, const char *hash)
{
	struct signing *s = data;
	struct reg *reg = s->api->reg;
	char cookie[2 * REG_TOKEN_LEN + 1], csrf[2 * REG_TOKEN_LEN + 1];
	int64_t now = (int64_t)time(NULL);
	json_t *j;

	s->job = NULL;
	if (ok == -ECANCELED) {
		srv_fail(s->req, 503, "the server is stopping");
		return;
	}
	if (ok != 1 || !s->found) {
		if (reg_signin_failed(reg, s->account, now) ||
		    reg_signin_failed(reg, s->address, now))
			ecap_log(LOG_ERR, "registry: %s", reg_errmsg(reg));
		if (s->found) /* an account of an organization: its owners see it */
			srv_audit(s->api, s->req, &s->u, "signin_failed", "session", NULL);
		srv_fail(s->req, 401, "wrong email or password");
		return;
	}
	reg_signin_forget(reg, s->account);
	if (reg_session_add(reg, s->u.id, now, cookie, csrf)) {
		srv_fail(s->req, 503, "registry unavailable");
		return;
	}
	set_cookie(s->req, cookie, 0);
	srv_audit(s->api, s->req, &s->u, "signin", "session", NULL);
	j = json_pack("{s:o,s:s}", "user", user_json(&s->u), "csrf", csrf);
	srv_json(s->req, 201, j);
}

static int submit_failed(h2o_req_t *req, int r)
{
	if (r == -EBUSY)
		return srv_fail(req, 503, "too many sign-ins at once; try again");
	return srv_fail(req, 503, "out of memory");
}

static int sign_in(struct srv_api *api, h2o_req_t *req)
{
	static const char *const keys[] = {"email", "password", NULL};
	char hash[REG_PWHASH_MAX] = "";
	const char *email, *pw;
	int64_t now = (int64_t)time(NULL), wait;
	struct signing *s;
	json_t *j = srv_body(req);
	int r;

	if (!j)
		return 0;
	if (srv_known_keys(req, j, keys) || srv_str_field(req, j, "email", 1, &email) ||
	    srv_str_field(req, j, "password", 1, &pw)) {
		json_decref(j);
		return 0;
	}
	s = signing_new(api, req, j);
	if (strlen(email) > REG_EMAIL_MAX)
		return srv_fail(req, 400, "email: longer than %d characters", REG_EMAIL_MAX);
	if (strlen(pw) > SRV_PW_MAX)
		return srv_fail(req, 400, "password: longer than %d bytes", SRV_PW_MAX);
	snprintf(s->account, sizeof(s->account), "account %s", email);
	for (char *c = s->account; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	{ /* the key its failures are counted by */
		char addr[64];

		srv_client_address(api, req, addr, sizeof(addr));
		snprintf(s->address, sizeof(s->address), "address %s", addr);
	}
	if ((wait = wait_for(api->reg, s->account, 1, now)) > 0)
		return too_many(req, wait, "for this account");
	if (wait == 0 && (wait = wait_for(api->reg, s->address, 0, now)) > 0)
		return too_many(req, wait, "from this address");
	if (wait < 0)
		return srv_fail(req, 503, "registry unavailable");
	r = reg_user_by_email(api->reg, email, &s->u, hash);
	if (r && r != -ENOENT)
		return srv_fail(req, 503, "registry unavailable");
	s->found = !r && hash[0];
	r = srv_pw_verify_async(api->pwwork, s->found ? hash : NULL, pw, on_verified, s, &s->job);
	return r ? submit_failed(req, r) : 0;
}

/* The new password's hash: kept, the other sessions ended. */
static void on_hashed(void *data, int ok, const char *hash)
{
	struct signing *s = data;
	struct reg *reg = s->api->reg;

	s->job = NULL;
	if (ok) {
		srv_fail(s->req, 503,
			 ok == -ECANCELED ? "the server is stopping" : "out of memory");
		return;
	}
	if (reg_user_set_password(reg, s->u.id, hash, 0) ||
	    reg_sessions_end_user(reg, s->u.id, s->cookie[0] ? s->cookie : NULL,
				  strlen(s->cookie))) {
		srv_fail(s->req, 503, "registry unavailable");
		return;
	}
	s->u.pw_change = 0;
	srv_audit(s->api, s->req, &s->u, "password_changed", "session", NULL);
	srv_json(s->req, 200, json_pack("{s:o}", "user", user_json(&s->u)));
}

/* The current password checked: the new one hashed. */
static void on_current(void *data, int ok, const char *unused)
{
	struct signing *s = data;
	int r;

	s->job = NULL;
	if (ok == -ECANCELED) {
		srv_fail(s->req, 503, "the server is stopping");
		return;
	}
	if (ok != 1) { /* a guess like any other: counted, and throttled */
		if (reg_signin_failed(s->api->reg, s->account, (int64_t)time(NULL)))
			ecap_log(LOG_ERR, "registry: %s", reg_errmsg(s->api->reg));
		srv_fail(s->req, 403, "password: not your current password");
		return;
	}
	r = srv_pw_hash_async(s->api->pwwork, s->new_pw, on_hashed, s, &s->job);
	if (r)
		submit_failed(s->req, r);
}

static int change_password(struct srv_api *api, h2o_req_t *req, const struct reg_user *who)
{
	static const char *const keys[] = {"password", "new_password", NULL};
	char hash[REG_PWHASH_MAX] = "";
	const char *pw, *new_pw, *weak;
	struct reg_user u;
	struct signing *s;
	json_t *j = srv_body(req);
	int64_t wait;
	int r;

	if (!j)
		return 0;
	if (srv_known_keys(req, j, keys) || srv_str_field(req, j, "password", 1, &pw) ||
	    srv_str_field(req, j, "new_password", 1, &new_pw)) {
		json_decref(j);
		return 0;
	}
	s = signing_new(api, req, j);
	if ((weak = srv_pw_weak(new_pw, who->email, who->name, who->org_name)))
		return srv_fail(req, 400, "new_password: %s", weak);
	if (!strcmp(pw, new_pw))
		return srv_fail(req, 400, "new_password: the same as the current one");
	if (!who->email[0] || (r = reg_user_by_email(api->reg, who->email, &u, hash)) ||
	    u.id != who->id || !hash[0])
		return srv_fail(req, 409, "password: this user signs in with tokens only");
	s->u = *who;
	s->new_pw = new_pw;
	snprintf(s->account, sizeof(s->account), "account %s", who->email);
	if ((wait = wait_for(api->reg, s->account, 1, (int64_t)time(NULL))) > 0)
		return too_many(req, wait, "for this account");
	if (wait < 0)
		return srv_fail(req, 503, "registry unavailable");
	if (srv_session_cookie(req, s->cookie))
		s->cookie[0] = '\0';
	r = srv_pw_verify_async(api->pwwork, hash, pw, on_current, s, &s->job);
	return r ? submit_failed(req, r) : 0;
}

int srv_signin_ep(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	return sign_in(api, req);
}

int srv_session_ep(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	char cookie[2 * REG_TOKEN_LEN + 1], csrf[2 * REG_TOKEN_LEN + 1];
	struct reg_user u;
	json_t *j = json_pack("{s:o}", "user", user_json(who));

	/* and the session's CSRF token (none for a token) */
	if (!srv_session_cookie(req, cookie) &&
	    !reg_session_get(api->reg, cookie, strlen(cookie), (int64_t)time(NULL),
			     api->session_idle_s, api->session_max_s, &u, csrf))
		json_object_set_new(j, "csrf", json_string(csrf));
	return srv_json(req, 200, j);
}

int srv_signout_ep(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	char cookie[2 * REG_TOKEN_LEN + 1];

	if (!srv_session_cookie(req, cookie) && reg_session_end(api->reg, cookie, strlen(cookie)))
		return srv_fail(req, 503, "registry unavailable");
	set_cookie(req, "", 1);
	srv_audit(api, req, who, "signout", "session", NULL);
	req->res.status = 204;
	req->res.reason = web_reason(204);
	h2o_send_inline(req, "", 0);
	return 0;
}

int srv_password_ep(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	return change_password(api, req, who);
}
