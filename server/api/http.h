/* http.h - the API's HTTP edge: JSON replies, errors that name the field,
 * the request body's fields, and one log line per refused request. Every endpoint answers through
 * it. */
#ifndef SRV_HTTP_H
#define SRV_HTTP_H

#include <jansson.h>
#include <stdint.h>

#include "common/web.h"
#include "service/registry.h"

/* A JSON reply (takes the reference; NULL: an empty body); returns 0. */
int srv_json(h2o_req_t *req, int status, json_t *body);
/* {"error": "..."} with status, logged as one refusal line; returns 0. */
int srv_fail(h2o_req_t *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Who the request being answered is, for the refusal lines ("org/admin");
 * NULL: not known. The router sets it around each endpoint. */
void srv_http_set_who(const char *who);

/* The request's JSON object, or NULL with a 400 sent. */
json_t *srv_body(h2o_req_t *req);
/* Every key of o must be in keys (NULL-terminated): 0, or -1 with a 400
 * naming the unknown one sent. */
int srv_known_keys(h2o_req_t *req, json_t *o, const char *const *keys);
/* An optional integer field in [min, max]: 0 (absent keeps *ret), or -1
 * with a 400 sent. */
int srv_int_field(h2o_req_t *req, json_t *o, const char *key, int64_t min, int64_t max,
		  int64_t *ret);
/* A string field: 0 with *ret (NULL when absent and not required), or -1
 * with a 400 sent. */
int srv_str_field(h2o_req_t *req, json_t *o, const char *key, int required, const char **ret);
/* A list's page from the query: ?limit=N (1 to SRV_PAGE_MAX, default
 * SRV_PAGE_DEFAULT) and ?cursor=C (from the last page's Link, a name or
 * an id: what srv_valid_name allows, NUL-terminated into cursor, "" for
 * the first page). 0, or -1 with a 400 naming the parameter sent. Other
 * parameters are left to the endpoint. */
#define SRV_PAGE_DEFAULT 100
#define SRV_PAGE_MAX	 1000
#define SRV_CURSOR_MAX	 64
int srv_page(h2o_req_t *req, size_t *limit, char cursor[SRV_CURSOR_MAX + 1]);
/* A query parameter, percent-decoded, into ret (len with its NUL; longer
 * values are cut): 0, or -ENOENT when absent. */
int srv_query(h2o_req_t *req, const char *name, char *ret, size_t len);
/* A full page: a Link header to the next one, after cursor. */
void srv_page_next(h2o_req_t *req, size_t limit, const char *cursor);
/* Names of devices and interfaces: what can go in a URL and a log as is. */
int srv_valid_name(const char *s, size_t max);

#endif
