/* http.c - what the agent's endpoints share: request authentication, error
 * replies, query parameters, logging. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"

void agent_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("edgecap-agent: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

int agent_error(h2o_req_t *req, int status, const char *reason, const char *fmt, ...)
{
	char body[ECAP_ERRLEN + 64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(body, sizeof(body) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(body) - 2)
		n = sizeof(body) - 2;
	body[n] = '\n';
	body[n + 1] = 0;
	/* h2o copies the body */
	h2o_send_error_generic(req, status, reason, body, H2O_SEND_ERROR_KEEP_HEADERS);
	return 0;
}

int agent_authorize(struct agent *a, h2o_req_t *req)
{
	ssize_t at = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
	struct ecap_auth auth;
	int r;

	if (at < 0 || ecap_auth_parse(req->headers.entries[at].value.base,
				      req->headers.entries[at].value.len, &auth)) {
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
			       H2O_STRLIT(ECAP_AUTH_SCHEME));
		agent_error(req, 401, "Unauthorized", "%s",
			    at < 0 ? "no Authorization header"
				   : "Authorization: want " ECAP_AUTH_SCHEME
				     " ts=SECONDS,nonce=HEX,sig=HEX");
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
		agent_error(req, 403, "Forbidden", "timestamp more than %d s off", ECAP_AUTH_SKEW);
		break;
	case -EALREADY:
		agent_error(req, 403, "Forbidden", "nonce already used");
		break;
	case -EACCES:
		agent_error(req, 403, "Forbidden", "bad signature");
		break;
	case -ENOSPC:
		agent_error(req, 503, "Service Unavailable", "too many requests");
		break;
	default:
		agent_error(req, 500, "Internal Server Error", "signature check: %s", strerror(-r));
		break;
	}
	return -1;
}

void agent_peer(h2o_req_t *req, char *ret, size_t len)
{
	struct sockaddr_storage ss;
	char host[INET6_ADDRSTRLEN] = "?";
	socklen_t sl = req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&ss);
	unsigned port = 0;

	if (sl && ss.ss_family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		port = ntohs(s->sin_port);
		snprintf(ret, len, "%s:%u", host, port);
	} else if (sl && ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		port = ntohs(s->sin6_port);
		snprintf(ret, len, "[%s]:%u", host, port);
	} else {
		snprintf(ret, len, "?");
	}
}

struct route {
	h2o_handler_t super;
	struct agent *a;
	const char *path;
	agent_endpoint_fn *fn;
};

/* Exactly the path, GET, signed by the server: then the endpoint. */
static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct route *r = (struct route *)self;

	if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, r->path,
		       strlen(r->path)))
		return -1;
	if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
			       H2O_STRLIT("GET"));
		return agent_error(req, 405, "Method Not Allowed", "GET only");
	}
	if (agent_authorize(r->a, req))
		return 0;
	return r->fn(r->a, req);
}

void agent_route(struct agent *a, h2o_hostconf_t *host, const char *path, agent_endpoint_fn *fn)
{
	h2o_pathconf_t *conf = h2o_config_register_path(host, path, 0);
	struct route *r = (struct route *)h2o_create_handler(conf, sizeof(*r));

	r->super.on_req = on_req;
	r->a = a;
	r->path = path;
	r->fn = fn;
}

void agent_start_200(h2o_req_t *req, const char *content_type, h2o_generator_t *gen)
{
	req->res.status = 200;
	req->res.reason = "OK";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
		       strlen(content_type));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
		       H2O_STRLIT("no-store"));
	if (gen)
		h2o_start_response(req, gen);
}
