/* users.c - an organization's users, for its owners, and everyone's own
 * API tokens (docs/accounts.md):
 *
 *   GET    /api/v1/users               the organization's users
 *   POST   /api/v1/users               {email, role[, name]}: 201 with a
 *                                      one-time password, shown once
 *   PATCH  /api/v1/users/{name}        {role, disabled}
 *   DELETE /api/v1/users/{name}
 *   GET    /api/v1/tokens              one's own tokens
 *   POST   /api/v1/tokens              {name}: 201 with the token, shown once
 *   DELETE /api/v1/tokens/{name}
 *
 * An organization keeps at least one enabled owner; a user who started
 * captures is disabled, not removed (the captures and the audit log name
 * it). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "service/password.h"
#include "service/settings.h"

static json_t *user_json(const struct reg_user_row *r)
{
	char created[32];

	srv_iso_time(r->created * 1000, created, sizeof(created));
	return json_pack("{s:s,s:s?,s:s,s:b,s:b,s:s}", "name", r->u.name, "email",
			 r->u.email[0] ? r->u.email : NULL, "role", reg_role_name(r->u.role),
			 "disabled", r->disabled, "password_change", r->u.pw_change, "created",
			 created);
}

int srv_users_list(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	struct reg_user_row *v = NULL;
	size_t n = 0;
	json_t *a;

	if (reg_users_list(api->reg, who->org, &v, &n))
		return srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
	a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, user_json(&v[i]));
	free(v);
	return srv_json(req, 200, a);
}

/* A user being added while its one-time password is hashed. */
struct adding {
	struct srv_api *api;
	h2o_req_t *req;
	struct srv_pwjob *job;
	struct reg_user who;
	enum reg_role role;
	char email[REG_EMAIL_MAX + 1], name[REG_NAME_MAX + 1];
	char pw[SRV_PW_ONCE_LEN + 1];
};

static void adding_dispose(void *p)
{
	struct adding *a = p;

	if (a->job)
		srv_pwjob_cancel(a->job);
	memset(a->pw, 0, sizeof(a->pw));
}

static void on_hashed(void *data, int ok, const char *hash)
{
	struct adding *a = data;
	struct reg_user_row row;
	json_t *o;
	int64_t id;

	a->job = NULL;
	if (ok) {
		srv_fail(a->req, 503,
			 ok == -ECANCELED ? "the server is stopping" : "out of memory");
		return;
	}
	id = reg_user_add(a->api->reg, a->who.org_name, a->name, a->email, a->role, hash, 1);
	if (id == -EEXIST) {
		srv_fail(a->req, 409, "a user named '%s' or with email '%s' exists", a->name,
			 a->email);
		return;
	}
	if (id < 0 || reg_user_get(a->api->reg, a->who.org, a->name, &row)) {
		srv_fail(a->req, 503, "registry: %s", reg_errmsg(a->api->reg));
		return;
	}
	{
		char target[REG_EMAIL_MAX + 8];

		snprintf(target, sizeof(target), "user %s", row.u.email);
		srv_audit(a->api, a->req, &a->who, "user_added", target,
			  json_pack("{s:s}", "role", reg_role_name(a->role)));
	}
	o = user_json(&row);
	json_object_set_new(o, "password", json_string(a->pw)); /* once */
	srv_json(a->req, 201, o);
}

int srv_users_add(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	static const char *const keys[] = {"email", "role", "name", NULL};
	const char *email, *role, *name, *why;
	struct adding *a;
	json_t *j = srv_body(req);
	int r;

	if (!j)
		return 0;
	if (srv_known_keys(req, j, keys) || srv_str_field(req, j, "email", 1, &email) ||
	    srv_str_field(req, j, "role", 1, &role) || srv_str_field(req, j, "name", 0, &name))
		goto out;
	if ((why = reg_email_bad(email))) {
		srv_fail(req, 400, "email: %s", why);
		goto out;
	}
	if (!reg_role_parse(role)) {
		srv_fail(req, 400, "role: want owner, operator or viewer");
		goto out;
	}
	if (name && !srv_valid_name(name, REG_NAME_MAX)) {
		srv_fail(req, 400, "name: 1 to %d characters, no control characters", REG_NAME_MAX);
		goto out;
	}
	a = h2o_mem_alloc_shared(&req->pool, sizeof(*a), adding_dispose);
	memset(a, 0, sizeof(*a));
	a->api = api;
	a->req = req;
	a->who = *who;
	a->role = reg_role_parse(role);
	for (size_t i = 0; email[i] && i < REG_EMAIL_MAX; i++)
		a->email[i] = (char)tolower((unsigned char)email[i]);
	if (!name && strlen(a->email) > REG_NAME_MAX) {
		srv_fail(req, 400, "name: the email is longer than %d characters: give a name",
			 REG_NAME_MAX);
		goto out;
	}
	memcpy(a->name, name ? name : a->email, strlen(name ? name : a->email) + 1);
	srv_pw_onetime(a->pw);
	r = srv_pw_hash_async(api->pwwork, a->pw, on_hashed, a, &a->job);
	if (r)
		srv_fail(req, 503,
			 r == -EBUSY ? "too many password jobs at once; try again"
				     : "out of memory");
out:
	json_decref(j);
	return 0;
}

static void audit_user(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
		       const char *action, const char *name, json_t *detail)
{
	char target[REG_NAME_MAX + 8];

	snprintf(target, sizeof(target), "user %s", name);
	srv_audit(api, req, who, action, target, detail);
}

int srv_user_patch(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	static const char *const keys[] = {"role", "disabled", NULL};
	struct reg_user_row row;
	const char *role = NULL;
	json_t *j = srv_body(req), *dis;
	int r;

	if (!j)
		return 0;
	if (srv_known_keys(req, j, keys) || srv_str_field(req, j, "role", 0, &role))
		goto out;
	dis = json_object_get(j, "disabled");
	if (dis && !json_is_boolean(dis)) {
		srv_fail(req, 400, "disabled: want true or false");
		goto out;
	}
	if (role && !reg_role_parse(role)) {
		srv_fail(req, 400, "role: want owner, operator or viewer");
		goto out;
	}
	r = reg_user_update(api->reg, who->org, params[0], role ? reg_role_parse(role) : 0,
			    dis ? json_is_true(dis) : -1);
	if (r == -ENOENT)
		srv_fail(req, 404, "no user '%s'", params[0]);
	else if (r == -EPERM)
		srv_fail(req, 409, "the organization would have no owner left");
	else if (r || reg_user_get(api->reg, who->org, params[0], &row))
		srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
	else {
		audit_user(api, req, who, "user_changed", params[0], json_deep_copy(j));
		srv_json(req, 200, user_json(&row));
	}
out:
	json_decref(j);
	return 0;
}

int srv_user_delete(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	int r = reg_user_delete(api->reg, who->org, params[0]);

	if (r == -ENOENT)
		return srv_fail(req, 404, "no user '%s'", params[0]);
	if (r == -EPERM)
		return srv_fail(req, 409, "the organization would have no owner left");
	if (r == -EBUSY)
		return srv_fail(req, 409, "user '%s' started captures: disable it instead",
				params[0]);
	if (r)
		return srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
	audit_user(api, req, who, "user_removed", params[0], NULL);
	return srv_json(req, 200, json_pack("{s:s}", "deleted", params[0]));
}

int srv_tokens_list(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	struct reg_token_row *v = NULL;
	char created[32], used[32];
	size_t n = 0;
	json_t *a;

	if (reg_tokens_list(api->reg, who->id, &v, &n))
		return srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
	a = json_array();
	for (size_t i = 0; i < n; i++) {
		srv_iso_time(v[i].created * 1000, created, sizeof(created));
		srv_iso_time(v[i].last_used * 1000, used, sizeof(used));
		json_array_append_new(a, json_pack("{s:s,s:s,s:s?}", "name", v[i].name, "created",
						   created, "last_used",
						   v[i].last_used ? used : NULL));
	}
	free(v);
	return srv_json(req, 200, a);
}

int srv_tokens_add(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	static const char *const keys[] = {"name", NULL};
	char token[2 * REG_TOKEN_LEN + 1], target[REG_NAME_MAX + 8];
	const char *name;
	json_t *j = srv_body(req);
	int64_t id;

	if (!j)
		return 0;
	if (srv_known_keys(req, j, keys) || srv_str_field(req, j, "name", 1, &name))
		goto out;
	if (!srv_valid_name(name, REG_NAME_MAX)) {
		srv_fail(req, 400, "name: 1 to %d characters, no control characters", REG_NAME_MAX);
		goto out;
	}
	id = reg_token_add(api->reg, who->id, name, token);
	if (id == -EEXIST) {
		srv_fail(req, 409, "you have a token named '%s'", name);
		goto out;
	}
	if (id < 0) {
		srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
		goto out;
	}
	snprintf(target, sizeof(target), "token %s", name);
	srv_audit(api, req, who, "token_created", target, NULL);
	srv_json(req, 201, json_pack("{s:s,s:s}", "name", name, "token", token)); /* once */
out:
	json_decref(j);
	return 0;
}

int srv_token_delete(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	char target[REG_NAME_MAX + 8];
	int r = reg_token_delete(api->reg, who->id, params[0]);

	if (r == -ENOENT)
		return srv_fail(req, 404, "no token '%s'", params[0]);
	if (r)
		return srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
	snprintf(target, sizeof(target), "token %s", params[0]);
	srv_audit(api, req, who, "token_revoked", target, NULL);
	return srv_json(req, 200, json_pack("{s:s}", "deleted", params[0]));
}

/* The organization as the API shows it: NULL when the registry fails. */
static json_t *org_json(struct srv_api *api, const struct reg_user *who, int viewer_downloads)
{
	json_t *set = srv_settings_wanted(api->reg, who->org, 0);

	return set ? json_pack("{s:s,s:b,s:o}", "name", who->org_name, "viewer_downloads",
			       viewer_downloads, "settings", set)
		   : NULL;
}

int srv_org_get(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	json_t *o = org_json(api, who, who->viewer_downloads);

	return o ? srv_json(req, 200, o) : srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
}

int srv_org_patch(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	static const char *const keys[] = {"viewer_downloads", "settings", NULL};
	json_t *j = srv_body(req), *v, *set = NULL, *o;
	int downloads = who->viewer_downloads;
	char err[256];

	if (!j)
		return 0;
	if (srv_known_keys(req, j, keys))
		goto out;
	/* everything is checked before anything changes */
	v = json_object_get(j, "viewer_downloads");
	if (v && !json_is_boolean(v)) {
		srv_fail(req, 400, "viewer_downloads: want true or false");
		goto out;
	}
	if (!v && !json_object_get(j, "settings")) {
		srv_fail(req, 400, "want viewer_downloads or settings");
		goto out;
	}
	if (json_object_get(j, "settings")) {
		if (!(set = srv_settings_wanted(api->reg, who->org, 0))) {
			srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
			goto out;
		}
		if (srv_settings_patch(set, json_object_get(j, "settings"), err, sizeof(err))) {
			srv_fail(req, 400, "%s", err);
			goto out;
		}
	}
	if (v) {
		downloads = json_is_true(v);
		if (reg_org_set_viewer_downloads(api->reg, who->org, downloads)) {
			srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
			goto out;
		}
	}
	if (set) {
		char *text = json_dumps(set, JSON_COMPACT | JSON_SORT_KEYS);
		int r = text ? reg_org_set_settings(api->reg, who->org, text) : -ENOMEM;

		free(text);
		if (r) {
			srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
			goto out;
		}
		/* said to each device at the next round (reports.c) */
		reg_devices_ask_soon(api->reg, who->org, NULL);
	}
	srv_audit(api, req, who, "organization_changed", "organization", json_deep_copy(j));
	o = org_json(api, who, downloads);
	if (o)
		srv_json(req, 200, o);
	else
		srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
out:
	json_decref(set);
	json_decref(j);
	return 0;
}
