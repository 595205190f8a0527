/* auth.c - who a request is (docs/accounts.md): a bearer token (the CLI),
 * or the sign-in session's cookie (the page), whose state-changing
 * requests must also carry the session's CSRF token and, when the browser
 * says where it comes from, come from this server. */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/api.h"

#define CSRF_HEADER "x-csrf-token"

int srv_session_cookie(h2o_req_t *req, char cookie[2 * REG_TOKEN_LEN + 1])
{
	static const char name[] = SRV_SESSION_COOKIE "=";
	ssize_t at = -1;

	while ((at = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, at)) >= 0) {
		h2o_iovec_t v = req->headers.entries[at].value;
		const char *p = v.base, *end = v.base + v.len;

		/* "a=1; edgecap_session=HEX; b=2" */
		while (p < end) {
			const char *semi = memchr(p, ';', (size_t)(end - p)),
				   *stop = semi ? semi : end;

			while (p < stop && *p == ' ')
				p++;
			if ((size_t)(stop - p) == sizeof(name) - 1 + 2 * REG_TOKEN_LEN &&
			    !memcmp(p, name, sizeof(name) - 1)) {
				memcpy(cookie, p + sizeof(name) - 1, 2 * REG_TOKEN_LEN);
				cookie[2 * REG_TOKEN_LEN] = '\0';
				return 0;
			}
			p = stop + 1;
		}
	}
	return -ENOENT;
}

static int unsafe(h2o_req_t *req)
{
	return !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
	       !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
}

/* The page's own requests: the CSRF token, and an Origin (when sent) of
 * this server. NULL, or why not. */
static const char *forged(h2o_req_t *req, const char *csrf)
{
	ssize_t at = h2o_find_header_by_str(&req->headers, H2O_STRLIT(CSRF_HEADER), -1);

	if (at < 0)
		return "no X-CSRF-Token header (the page's own requests carry one)";
	h2o_iovec_t v = req->headers.entries[at].value;

	if (v.len != strlen(csrf) || memcmp(v.base, csrf, v.len))
		return "X-CSRF-Token is not this session's";
	at = h2o_find_header_by_str(&req->headers, H2O_STRLIT("origin"), -1);
	if (at >= 0) {
		h2o_iovec_t o = req->headers.entries[at].value;
		const char *scheme = req->scheme ? req->scheme->name.base : "http";
		size_t sl = strlen(scheme);

		/* "SCHEME://AUTHORITY", as the browser sends it */
		if (!(o.len == sl + 3 + req->authority.len && !strncasecmp(o.base, scheme, sl) &&
		      !memcmp(o.base + sl, "://", 3) &&
		      !strncasecmp(o.base + sl + 3, req->authority.base, req->authority.len)))
			return "Origin is not this server";
	}
	return NULL;
}

int srv_authenticate(struct srv_api *api, h2o_req_t *req, struct reg_user *who)
{
	ssize_t at = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
	char cookie[2 * REG_TOKEN_LEN + 1], csrf[2 * REG_TOKEN_LEN + 1];
	const char *why = "sign in, or send Authorization: Bearer TOKEN";
	int r;

	if (at >= 0) {
		h2o_iovec_t v = req->headers.entries[at].value;

		why = "want Authorization: Bearer TOKEN";
		if (v.len > 7 && !strncasecmp(v.base, "Bearer ", 7)) {
			r = reg_user_by_token(api->reg, v.base + 7, v.len - 7, who);
			if (!r)
				return SRV_BY_TOKEN;
			if (r != -ENOENT)
				goto unavailable;
			why = "unknown token";
		}
	} else if (!srv_session_cookie(req, cookie)) {
		r = reg_session_get(api->reg, cookie, strlen(cookie), (int64_t)time(NULL),
				    api->session_idle_s, api->session_max_s, who, csrf);
		if (!r) {
			if (unsafe(req) && (why = forged(req, csrf))) {
				srv_fail(req, 403, "%s", why);
				return -1;
			}
			return SRV_BY_SESSION;
		}
		if (r != -ENOENT)
			goto unavailable;
		why = "the session ended: sign in again";
	}
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
		       H2O_STRLIT("Bearer realm=\"edgecap\""));
	srv_fail(req, 401, "%s", why);
	return -1;
unavailable:
	srv_fail(req, 503, "registry unavailable");
	return -1;
}
