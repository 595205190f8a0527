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
