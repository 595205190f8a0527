/* http.c - the API's HTTP edge, see http.h. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "api/co.h"
#include "api/http.h"
#include "common/log.h"

static const char *current_who; /* one thread: the request being answered */

void srv_http_set_who(const char *who)
{
	void **local = srv_co_local(); /* a handler on a coroutine: its own */

	if (local)
		*local = (void *)who;
	else
		current_who = who;
}

int srv_json(h2o_req_t *req, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	size_t len = text ? strlen(text) : 0;
	char *copy = h2o_mem_alloc_pool(&req->pool, len + 1);

	json_decref(body);
	if (text)
		memcpy(copy, text, len);
	copy[len++] = '\n';
	free(text);
	req->res.status = status;
	req->res.reason = web_reason(status);
	req->res.content_length = len;
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       H2O_STRLIT("application/json"));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
		       H2O_STRLIT("no-store"));
	h2o_send_inline(req, copy, len);
	return 0;
}

int srv_fail(h2o_req_t *req, int status, const char *fmt, ...)
{
	char raw[1024], msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	/* what the request sent, echoed, stays one line of valid UTF-8 */
	ecap_text_clean(msg, sizeof(msg), raw);
	web_log_refusal(req, status, srv_co_local() ? *srv_co_local() : current_who, msg);
	return srv_json(req, status, json_pack("{s:s}", "error", msg));
}

int srv_valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return 0;
	return 1;
}

json_t *srv_body(h2o_req_t *req)
{
	json_error_t e;
	json_t *j;

	if (!req->entity.base)
		return srv_fail(req, 400, "want a JSON object in the body"), NULL;
	j = json_loadb(req->entity.base, req->entity.len, 0, &e);
	if (!j)
		return srv_fail(req, 400, "invalid JSON at line %d, column %d: %s", e.line,
				e.column, e.text),
		       NULL;
	if (!json_is_object(j)) {
		json_decref(j);
		return srv_fail(req, 400, "want a JSON object in the body"), NULL;
	}
	return j;
}

int srv_known_keys(h2o_req_t *req, json_t *o, const char *const *keys)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		const char *const *p = keys;

		while (*p && strcmp(*p, k))
			p++;
		if (!*p) {
			srv_fail(req, 400, "unknown field '%s'", k);
			return -1;
		}
	}
	return 0;
}

int srv_int_field(h2o_req_t *req, json_t *o, const char *key, int64_t min, int64_t max,
		  int64_t *ret)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		srv_fail(req, 400, "%s: want an integer from %lld to %lld", key, (long long)min,
			 (long long)max);
		return -1;
	}
	*ret = json_integer_value(v);
	return 0;
}

/* The raw value of the query's parameter name: its length (value set), or
 * -1 when absent. */
static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

static long query_value(h2o_req_t *req, const char *name, const char **value)
{
	const char *q, *end = req->path.base + req->path.len;
	size_t nlen = strlen(name);

	if (req->query_at == SIZE_MAX)
		return -1;
	for (q = req->path.base + req->query_at + 1; q < end;) {
		const char *amp = memchr(q, '&', (size_t)(end - q)), *stop = amp ? amp : end;

		if ((size_t)(stop - q) >= nlen + 1 && !memcmp(q, name, nlen) && q[nlen] == '=') {
			*value = q + nlen + 1;
			return stop - *value;
		}
		q = stop + 1;
	}
	return -1;
}

int srv_query(h2o_req_t *req, const char *name, char *ret, size_t len)
{
	const char *v;
	long n = query_value(req, name, &v);
	size_t o = 0;

	if (n < 0)
		return -ENOENT;
	/* percent-decoded ("%40" is '@'), '+' a space; cut to len */
	for (long i = 0; i < n && o + 1 < len; i++) {
		int hi, lo;

		if (v[i] == '%' && i + 2 < n && (hi = hexval(v[i + 1])) >= 0 &&
		    (lo = hexval(v[i + 2])) >= 0) {
			ret[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			ret[o++] = v[i] == '+' ? ' ' : v[i];
		}
	}
	ret[o] = '\0';
	return 0;
}

int srv_page(h2o_req_t *req, size_t *limit, char cursor[SRV_CURSOR_MAX + 1])
{
	const char *v;
	long n = query_value(req, "limit", &v);

	*limit = SRV_PAGE_DEFAULT;
	if (n >= 0) {
		char buf[8], *end;
		long l;

		if (n == 0 || n >= (long)sizeof(buf))
			goto bad_limit;
		memcpy(buf, v, (size_t)n);
		buf[n] = 0;
		l = strtol(buf, &end, 10);
		if (*end || !isdigit((unsigned char)buf[0]) || l < 1 || l > SRV_PAGE_MAX)
			goto bad_limit;
		*limit = (size_t)l;
	}
	cursor[0] = 0;
	n = query_value(req, "cursor", &v);
	if (n >= 0) {
		if (n > SRV_CURSOR_MAX)
			return srv_fail(req, 400,
					"cursor: at most %d characters (from a Link header)",
					SRV_CURSOR_MAX),
			       -1;
		memcpy(cursor, v, (size_t)n);
		cursor[n] = 0;
		if (n && !srv_valid_name(cursor, SRV_CURSOR_MAX))
			return srv_fail(req, 400,
					"cursor: not one of this server's (from a Link header)"),
			       -1;
	}
	return 0;
bad_limit:
	return srv_fail(req, 400, "limit: want an integer from 1 to %d", SRV_PAGE_MAX), -1;
}

void srv_page_next(h2o_req_t *req, size_t limit, const char *cursor)
{
	char link[SRV_CURSOR_MAX + 160];
	size_t path = req->query_at == SIZE_MAX ? req->path.len : req->query_at;
	int n = snprintf(link, sizeof(link), "<%.*s?limit=%zu&cursor=%s>; rel=\"next\"",
			 (int)(path < 80 ? path : 80), req->path.base, limit, cursor);

	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("link"), 0, NULL,
			      h2o_strdup(&req->pool, link, (size_t)n).base, (size_t)n);
}

int srv_str_field(h2o_req_t *req, json_t *o, const char *key, int required, const char **ret)
{
	json_t *v = json_object_get(o, key);

	*ret = NULL;
	if (!v && !required)
		return 0;
	if (!json_is_string(v)) {
		srv_fail(req, 400, "%s: want a string", key);
		return -1;
	}
	*ret = json_string_value(v);
	return 0;
}
