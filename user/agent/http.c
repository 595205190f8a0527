/* http.c - what the agent's endpoints share: request authentication,
 * routing, logging. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"

int agent_authorize(struct agent *a, h2o_req_t *req)
{
	ssize_t at = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
	struct ecap_auth auth;
	int r;

	if (at < 0 || ecap_auth_parse(req->headers.entries[at].value.base,
				      req->headers.entries[at].value.len, &auth)) {
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
			       H2O_STRLIT(ECAP_AUTH_SCHEME));
		web_error(req, 401, "%s",
			  at < 0 ? "no Authorization header"
				 : "Authorization: want " ECAP_AUTH_SCHEME
				   " ts=SECONDS,nonce=HEX,sig=HEX");
		return -1;
	}
	if (!a->conf.secret_len) { /* a tunnel device before its claim: nothing to check with */
		web_error(req, 503, "not claimed yet: no secret from the server");
		return -1;
	}
	r = ecap_auth_verify(&auth, a->conf.secret, a->conf.secret_len, req->input.method.base,
			     req->input.method.len, req->input.path.base, req->input.path.len,
			     time(NULL));
	if (!r)
		r = ecap_nonces_use(&a->nonces, &auth, time(NULL));
	switch (r) {
	case 0:
		return 0;
	case -ETIME:
		web_error(req, 403, "timestamp more than %d s off", ECAP_AUTH_SKEW);
		break;
	case -EALREADY:
		web_error(req, 403, "nonce already used");
		break;
	case -EACCES:
		web_error(req, 403, "bad signature");
		break;
	case -ENOSPC:
		web_error(req, 503, "too many requests");
		break;
	default:
		web_error(req, 500, "signature check: %s", strerror(-r));
		break;
	}
	return -1;
}

struct route {
	h2o_handler_t super;
	struct agent *a;
	const char *path, *method;
	agent_endpoint_fn *fn;
};

/* Exactly the path and method, signed by the server: then the endpoint. */
static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct route *r = (struct route *)self;

	if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, r->path,
		       strlen(r->path)))
		return -1;
	if (!h2o_memis(req->method.base, req->method.len, r->method, strlen(r->method))) {
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, r->method,
			       strlen(r->method));
		return web_error(req, 405, "%s only", r->method);
	}
	if (agent_authorize(r->a, req))
		return 0;
	return r->fn(r->a, req);
}

void agent_route(struct agent *a, h2o_hostconf_t *host, const char *path, agent_endpoint_fn *fn)
{
	agent_route_method(a, host, path, "GET", fn);
}

void agent_route_method(struct agent *a, h2o_hostconf_t *host, const char *path, const char *method,
			agent_endpoint_fn *fn)
{
	h2o_pathconf_t *conf = h2o_config_register_path(host, path, 0);
	struct route *r = (struct route *)h2o_create_handler(conf, sizeof(*r));

	r->super.on_req = on_req;
	r->a = a;
	r->path = path;
	r->method = method;
	r->fn = fn;
}

/* Every other path: a 404 that is logged like every refusal. */
static int on_unknown(h2o_handler_t *self, h2o_req_t *req)
{
	return web_error(req, 404, "no such path (have /v1/capture, /v1/status, /v1/settings)");
}

void agent_route_fallback(h2o_hostconf_t *host)
{
	h2o_handler_t *h = h2o_create_handler(h2o_config_register_path(host, "/", 0), sizeof(*h));

	h->on_req = on_unknown;
}
