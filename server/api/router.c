/* router.c - the one handler on "/": the path as sent, split and decoded
 * segment by segment (path.h), matched exactly against the route table
 * ({name} takes any one segment, as decoded), then the method (405 with
 * Allow when the path is known but the method is not), then who it is (a
 * token or a session, auth.c) and whether that user's role may. A logger counts every answered
 * request by status, streams and parked polls included, when it ends. */
#include <errno.h>
#include <string.h>

#include "api/api.h"
#include "api/co.h"
#include "api/path.h"
#include "api/web.h"

#define PATH_MAX_LEN 512

#define PUBLIC SRV_ROUTE_PUBLIC
#define OWN    SRV_ROUTE_PW_CHANGE
#define CO     SRV_ROUTE_CO

/* The routes, with the least role each takes (docs/accounts.md). CO: on a
 * coroutine (co.h), for routes that keep no pointer to the loop's own
 * objects across a statement. */
static const struct srv_route routes[] = {
    {"GET", "/api/v1/devices", srv_devices_list, CO, REG_VIEWER, "list devices"},
    {"POST", "/api/v1/devices", srv_devices_add, CO, REG_OWNER, "enrol devices"},
    {"POST", "/api/v1/devices/claim", srv_devices_claim, 0, REG_OWNER, "claim devices"},
    {"GET", "/api/v1/devices/{name}", srv_device_get, CO, REG_VIEWER, "see devices"},
    {"PATCH", "/api/v1/devices/{name}", srv_device_patch, 0, REG_OWNER, "change devices"},
    {"DELETE", "/api/v1/devices/{name}", srv_device_delete, CO, REG_OWNER, "remove devices"},
    {"POST", "/api/v1/filters/compile", srv_filters_compile, 0, REG_VIEWER, "compile filters"},
    {"GET", "/api/v1/captures", srv_captures_list, CO, REG_VIEWER, "list captures"},
    {"POST", "/api/v1/captures", srv_captures_start, CO, REG_OPERATOR, "start captures"},
    {"GET", "/api/v1/captures/{id}", srv_capture_get, CO, REG_VIEWER, "see captures"},
    {"DELETE", "/api/v1/captures/{id}", srv_capture_delete, CO, REG_OPERATOR, "delete captures"},
    {"POST", "/api/v1/captures/{id}/stop", srv_capture_stop_ep, CO, REG_OPERATOR, "stop captures"},
    {"GET", "/api/v1/captures/{id}/pcap", srv_capture_pcap, CO, REG_VIEWER, "download captures"},
    {"GET", "/api/v1/captures/{id}/events", srv_capture_events, 0, REG_VIEWER, "follow captures"},
    {"GET", "/api/v1/events/devices", srv_devices_events, 0, REG_VIEWER, "follow devices"},
    {"GET", "/api/v1/captures/{id}/packets", srv_capture_rows, CO, REG_VIEWER,
     "read captures' packets"},
    {"GET", "/api/v1/captures/{id}/text", srv_capture_text, CO, REG_VIEWER, "read captures' text"},
    {"GET", "/api/v1/captures/{id}/frames", srv_capture_frames, 0, REG_VIEWER,
     "filter captures' packets"},
    {"GET", "/api/v1/captures/{id}/frames/{n}", srv_capture_frame, 0, REG_VIEWER,
     "see captures' packets"},
    {"GET", "/api/v1/audit", srv_audit_list, CO, REG_OWNER, "read the audit log"},
    {"GET", "/api/v1/users", srv_users_list, CO, REG_OWNER, "list users"},
    {"POST", "/api/v1/users", srv_users_add, 0, REG_OWNER, "add users"},
    {"PATCH", "/api/v1/users/{name}", srv_user_patch, CO, REG_OWNER, "change users"},
    {"DELETE", "/api/v1/users/{name}", srv_user_delete, CO, REG_OWNER, "remove users"},
    {"GET", "/api/v1/organization", srv_org_get, CO, REG_VIEWER, NULL},
    {"PATCH", "/api/v1/organization", srv_org_patch, 0, REG_OWNER, "change the organization"},
    {"GET", "/api/v1/tokens", srv_tokens_list, CO, REG_VIEWER, NULL},
    {"POST", "/api/v1/tokens", srv_tokens_add, CO, REG_VIEWER, NULL},
    {"DELETE", "/api/v1/tokens/{name}", srv_token_delete, CO, REG_VIEWER, NULL},
    {"POST", "/api/v1/session", srv_signin_ep, PUBLIC, 0, NULL},
    {"GET", "/api/v1/session", srv_session_ep, OWN | CO, REG_VIEWER, NULL},
    {"DELETE", "/api/v1/session", srv_signout_ep, OWN | CO, REG_VIEWER, NULL},
    {"POST", "/api/v1/session/password", srv_password_ep, OWN, REG_VIEWER, NULL},
    {"POST", "/tunnel/v1/register", srv_tunnel_register_ep, PUBLIC | CO, 0, NULL},
    {"POST", "/tunnel/v1/poll", srv_tunnel_poll_ep, PUBLIC, 0, NULL},
    {"POST", "/tunnel/v1/changed", srv_tunnel_changed_ep, PUBLIC, 0, NULL},
    {"GET", "/healthz", srv_healthz, PUBLIC | CO, 0, NULL},
    /* between servers on one registry, signed with their shared key */
    {"POST", "/internal/v1/captures/{id}/part", srv_hop_part, PUBLIC, 0, NULL},
    {"GET", "/internal/v1/captures/{id}/{what}", srv_hop_read_ep, PUBLIC, 0, NULL},
};

struct router {
	h2o_handler_t super;
	struct srv_api *api;
};

struct counter {
	h2o_logger_t super;
	struct srv_api *api;
};

/* A route's "/a/b/c" -> its segments, in place: the count, or -1 for too
 * many. */
static int split(char *path, char **seg)
{
	int n = 0;

	for (char *save = NULL, *t = strtok_r(path, "/", &save); t;
	     t = strtok_r(NULL, "/", &save)) {
		if (n == SRV_PATH_SEGS_MAX)
			return -1;
		seg[n++] = t;
	}
	return n;
}

/* Does the route's path match the segments? Its {parts} into params. */
static int match(const char *pattern, char **seg, int n, char **params)
{
	char buf[128], *pseg[SRV_PATH_SEGS_MAX];
	int pn, k = 0;

	snprintf(buf, sizeof(buf), "%s", pattern);
	pn = split(buf, pseg);
	if (pn != n)
		return 0;
	for (int i = 0; i < n; i++) {
		if (pseg[i][0] == '{')
			params[k++] = seg[i];
		else if (strcmp(pseg[i], seg[i]))
			return 0;
	}
	return 1;
}

/* Does the path start where some route does ("api", "tunnel", "healthz")?
 * Everything else is the page's. */
static int api_prefix(char **seg, int n)
{
	size_t l;

	if (!n)
		return 0;
	l = strlen(seg[0]);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (!strncmp(routes[i].path + 1, seg[0], l) &&
		    (routes[i].path[1 + l] == '/' || !routes[i].path[1 + l]))
			return 1;
	return 0;
}

/* Who it is, whether they may, and the route's answer; 0 */
static int answer(struct srv_api *api, h2o_req_t *req, const struct srv_route *found, int private,
		  const char *allow, char **params)
{
	struct reg_user who;
	char whoname[2 * REG_NAME_MAX + 2];
	int r, by = -1;

	if (found && (found->flags & SRV_ROUTE_PUBLIC))
		return found->fn(api, req, NULL, params);
	/* a path of users' routes tells its methods to users only */
	if (private && (by = srv_authenticate(api, req, &who)) < 0)
		return 0;
	if (private) {
		snprintf(whoname, sizeof(whoname), "%s/%s", who.org_name, who.name);
		srv_http_set_who(whoname);
	}
	if (!found) {
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
			       h2o_strdup(&req->pool, allow, SIZE_MAX).base, strlen(allow));
		r = srv_fail(req, 405, "method not allowed here (%s)", allow);
	} else if (by == SRV_BY_SESSION && who.pw_change && !(found->flags & SRV_ROUTE_PW_CHANGE))
		/* a one-time password signs in to replace itself, nothing more
		 * (a token made with it is the owner's to use) */
		r = srv_fail(req, 403,
			     "password change required: POST /api/v1/session/password first");
	else if (who.role < found->role)
		r = srv_fail(req, 403, "your role (%s) may not %s", reg_role_name(who.role),
			     found->what);
	else
		r = found->fn(api, req, &who, params);
	srv_http_set_who(NULL);
	return r;
}

/* A route's answer on a coroutine: what on_req had on its stack, kept in
 * the request's pool (an HTTP/1 request lives until it is answered) */
struct job {
	struct srv_api *api;
	h2o_req_t *req;
	const struct srv_route *found;
	int private;
	char path[PATH_MAX_LEN];
	char *params[SRV_PATH_SEGS_MAX];
};

static void run_job(void *arg)
{
	struct job *j = arg;

	answer(j->api, j->req, j->found, j->private, "", j->params);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct srv_api *api = ((struct router *)self)->api;
	/* the raw path, not h2o's path_normalized (see path.c); the query is
	 * cut at the first '?', as h2o and the log do */
	const char *q = memchr(req->path.base, '?', req->path.len);
	size_t plen = q ? (size_t)(q - req->path.base) : req->path.len;
	char path[PATH_MAX_LEN], *seg[SRV_PATH_SEGS_MAX], *params[SRV_PATH_SEGS_MAX] = {0};
	char allow[64] = "", err[512];
	const struct srv_route *found = NULL, *known = NULL;
	int n, private = 0;

	n = srv_path_split(req->path.base, plen, path, sizeof(path), seg, err, sizeof(err));
	if (n == -EINVAL)
		return srv_fail(req, 400, "%s", err);
	if (n < 0)
		return srv_fail(req, 404, "not found: %s", err);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!match(routes[i].path, seg, n, params))
			continue;
		known = &routes[i];
		private |= !(routes[i].flags & SRV_ROUTE_PUBLIC);
		snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
			 allow[0] ? ", " : "", routes[i].method);
		if (h2o_memis(req->method.base, req->method.len, routes[i].method,
			      strlen(routes[i].method)))
			found = &routes[i];
	}
	if (!known && api->web && !api_prefix(seg, n))
		return -1; /* the page's (web.c) */
	if (!known)
		return srv_fail(req, 404, "not found");
	if (found && (found->flags & SRV_ROUTE_CO)) {
		struct job *j = h2o_mem_alloc_pool(&req->pool, sizeof(*j));

		*j = (struct job){.api = api, .req = req, .found = found, .private = private};
		memcpy(j->path, path, sizeof(path));
		for (int i = 0; i < SRV_PATH_SEGS_MAX; i++) /* the same places in the copy */
			j->params[i] = params[i] ? j->path + (params[i] - path) : NULL;
		if (srv_co_run(run_job, j))
			return 0;
	}
	return answer(api, req, found, private, allow, params);
}

static void on_log(h2o_logger_t *self, h2o_req_t *req)
{
	struct srv_api *api = ((struct counter *)self)->api;
	int st = req->res.status;

	if (st > 0 && st < SRV_STATUS_MAX)
		api->responses[st]++;
}

void srv_api_init(struct srv_api *api, h2o_hostconf_t *host, const char *web_dir)
{
	h2o_pathconf_t *conf = h2o_config_register_path(host, "/", 0);
	struct router *r = (struct router *)h2o_create_handler(conf, sizeof(*r));
	struct counter *c = (struct counter *)h2o_create_logger(conf, sizeof(*c));

	r->super.on_req = on_req;
	r->api = api;
	h2o_linklist_init_anchor(&api->events);
	c->super.log_access = on_log;
	c->api = api;
	if (web_dir && web_dir[0]) {
		char err[512];

		api->web = srv_web_register(conf, web_dir, err, sizeof(err));
		if (!api->web)
			ecap_log(LOG_INFO, "%s", err);
	}
}

void srv_api_start(struct srv_api *api)
{
	srv_readers_start(api);
	h2o_timeout_init(api->loop, &api->events_tick, EVENTS_TICK_MS);
}

void srv_api_stop(struct srv_api *api)
{
	if (h2o_timeout_is_linked(&api->reader_check_entry))
		h2o_timeout_unlink(&api->reader_check_entry);
	srv_metrics_stop(api);
}
