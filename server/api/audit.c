/* audit.c - the audit log's entries, written by the endpoints as they act,
 * and GET /api/v1/audit for owners (docs/accounts.md):
 * ?action=&actor=&since=&until=&limit=&cursor=, newest first. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "api/api.h"

static int64_t now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* "1.2.3.4:5" -> "1.2.3.4", "[::1]:5" -> "::1", in place. */
static char *host_of(char *peer)
{
	char *colon = strrchr(peer, ':');

	if (colon)
		*colon = '\0';
	if (peer[0] == '[') {
		peer[strlen(peer) - 1] = '\0';
		peer++;
	}
	return peer;
}

/* The hop before *end in a list "a, b, c" (moving *end before it): its text
 * in hop (cut to len), or 0 when there is none. */
static int prev_hop(const char *base, const char **end, char *hop, size_t len)
{
	const char *e = *end, *b;

	while (e > base && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == ','))
		e--;
	if (e == base)
		return 0;
	for (b = e; b > base && b[-1] != ',' && b[-1] != ' ' && b[-1] != '\t'; b--)
		;
	*end = b;
	snprintf(hop, len, "%.*s", (int)(e - b), b);
	return 1;
}

static int ip_text(const char *s)
{
	uint8_t a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

void srv_client_address(struct srv_api *api, h2o_req_t *req, char *ret, size_t len)
{
	char peer[80], hop[64];
	const char *who;
	ssize_t at[16];
	int n = 0;

	web_peer(req, peer, sizeof(peer));
	who = host_of(peer);
	if (!api->proxies || !api->proxies->n || !srv_reach_listed(api->proxies, who)) {
		snprintf(ret, len, "%s", who);
		return;
	}
	/* every X-Forwarded-For line, in order: one list, read from its end;
	 * the first hop no trusted proxy owns is the client, if it is an
	 * address (else the proxy stands for it) */
	for (ssize_t i = -1; n < 16 && (i = h2o_find_header_by_str(
					    &req->headers, H2O_STRLIT("x-forwarded-for"), i)) >= 0;)
		at[n++] = i;
	while (n--) {
		h2o_iovec_t v = req->headers.entries[at[n]].value;
		const char *end = v.base + v.len;

		while (prev_hop(v.base, &end, hop, sizeof(hop))) {
			if (srv_reach_listed(api->proxies, hop))
				continue;
			snprintf(ret, len, "%s", ip_text(hop) ? hop : who);
			return;
		}
	}
	snprintf(ret, len, "%s", who);
}

void srv_audit(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, const char *action,
	       const char *target, json_t *detail)
{
	char addr[64], *text = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	srv_client_address(api, req, addr, sizeof(addr));
	if (reg_audit_add(api->reg, who->org, now_ms(), who->id,
			  who->email[0] ? who->email : who->name, addr, action, target,
			  text ? text : "{}"))
		ecap_log(LOG_ERR, "audit %s %s by %s/%s: registry: %s", action, target,
			 who->org_name, who->name, reg_errmsg(api->reg));
	free(text);
	json_decref(detail);
}

void srv_iso_time(int64_t ms, char *ret, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(ret, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

int64_t srv_parse_time(const char *v)
{
	struct tm tm = {0};
	const char *end;
	int ms = 0;

	end = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(v, "%Y-%m-%d", &tm);
		if (!end || *end)
			return -1;
		return (int64_t)timegm(&tm) * 1000;
	}
	if (*end == '.') {
		if (end[1] < '0' || end[1] > '9' || end[2] < '0' || end[2] > '9' || end[3] < '0' ||
		    end[3] > '9')
			return -1;
		ms = (end[1] - '0') * 100 + (end[2] - '0') * 10 + (end[3] - '0');
		end += 4;
	}
	if (strcmp(end, "Z"))
		return -1;
	return (int64_t)timegm(&tm) * 1000 + ms;
}

int srv_time_range(h2o_req_t *req, int64_t *since, int64_t *until)
{
	char t[40];

	if (!srv_query(req, "since", t, sizeof(t)) && (*since = srv_parse_time(t)) < 0)
		return srv_fail(req, 400, "since: want a time such as 2026-12-06T21:30:00Z"), -1;
	if (!srv_query(req, "until", t, sizeof(t)) && (*until = srv_parse_time(t)) < 0)
		return srv_fail(req, 400, "until: want a time such as 2026-12-06T21:30:00Z"), -1;
	return 0;
}

int srv_audit_list(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	struct reg_audit_filter f = {0};
	struct reg_audit *a = NULL;
	char cursor[SRV_CURSOR_MAX + 1], action[32], actor[REG_EMAIL_MAX + 1], when[32];
	size_t n = 0;
	json_t *arr;
	char *end;

	if (srv_page(req, &f.limit, cursor))
		return 0;
	if (cursor[0] && ((f.before = strtoll(cursor, &end, 10)) <= 0 || *end))
		return srv_fail(req, 400, "cursor: not one of this server's (from a Link header)");
	if (!srv_query(req, "action", action, sizeof(action)))
		f.action = action;
	if (!srv_query(req, "actor", actor, sizeof(actor)))
		f.actor = actor;
	if (srv_time_range(req, &f.since_ms, &f.until_ms))
		return 0;
	f.limit++; /* one more: whether there is a next page */
	if (reg_audit_page(api->reg, who->org, &f, &a, &n))
		return srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
	f.limit--;
	arr = json_array();
	for (size_t i = 0; i < n && i < f.limit; i++) {
		json_t *detail = json_loads(a[i].detail, 0, NULL);

		srv_iso_time(a[i].at_ms, when, sizeof(when));
		json_array_append_new(arr, json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:o}", "id",
						     (json_int_t)a[i].id, "time", when, "actor",
						     a[i].actor, "address", a[i].address, "action",
						     a[i].action, "target", a[i].target, "detail",
						     detail ? detail : json_object()));
	}
	if (n > f.limit) {
		snprintf(cursor, sizeof(cursor), "%lld", (long long)a[f.limit - 1].id);
		srv_page_next(req, f.limit, cursor);
	}
	reg_audit_free(a, n);
	return srv_json(req, 200, arr);
}
