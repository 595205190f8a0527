/* httpc.c - the HTTP/1.1 client, see httpc.h.
 *
 * h2o 2.2's http1client calls on_head with h2o_http1client_error_is_eos for
 * a response that has no body (HEAD, 204, 304), and on_body with it at the
 * end of a body; a connection closed between chunks also reads as the end
 * (callers that stream know their own end, as a capture's statistics). */
#include "common/httpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/web.h"

#define POOL_IDLE_MS 30000 /* a kept-alive connection unused this long is closed */

void ecap_httpc_ctx_init(struct ecap_httpc_ctx *c, h2o_loop_t *loop,
			 h2o_multithread_receiver_t *getaddr, uint64_t io_timeout_ms,
			 const char *user_agent)
{
	*c = (struct ecap_httpc_ctx){.loop = loop, .getaddr = getaddr, .user_agent = user_agent};
	h2o_timeout_init(loop, &c->io_timeout, io_timeout_ms);
}

void ecap_httpc_ctx_dispose(struct ecap_httpc_ctx *c)
{
	if (c && c->loop)
		h2o_timeout_dispose(c->loop, &c->io_timeout);
}

int ecap_httpc_dest_init(struct ecap_httpc_dest *d, struct ecap_httpc_ctx *ctx, const char *url,
			 const struct ecap_httpc_dest_opts *o, char *err, size_t errlen)
{
	static const struct ecap_httpc_dest_opts none;

	if (!o)
		o = &none;
	*d = (struct ecap_httpc_dest){.ctx = ctx};
	d->url_text = strdup(url);
	d->proxy_text = o->proxy ? strdup(o->proxy) : NULL;
	if (!d->url_text || (o->proxy && !d->proxy_text)) {
		snprintf(err, errlen, "out of memory");
		ecap_httpc_dest_dispose(d);
		return -ENOMEM;
	}
	if (h2o_url_parse(d->url_text, strlen(d->url_text), &d->url)) {
		snprintf(err, errlen, "'%.200s': want http(s)://HOST[:PORT]", url);
		goto fail;
	}
	d->via = &d->url;
	if (d->proxy_text) {
		if (h2o_url_parse(d->proxy_text, strlen(d->proxy_text), &d->proxy) ||
		    d->proxy.scheme != &H2O_URL_SCHEME_HTTP) {
			snprintf(err, errlen, "proxy '%.200s': want http://HOST:PORT", o->proxy);
			goto fail;
		}
		if (d->url.scheme != &H2O_URL_SCHEME_HTTP) {
			snprintf(err, errlen, "'%.200s': through a proxy only http:// (no CONNECT)",
				 url);
			goto fail;
		}
		d->via = &d->proxy;
	}
	d->h2o = (h2o_http1client_ctx_t){
	    .loop = ctx->loop, .getaddr_receiver = ctx->getaddr, .io_timeout = &ctx->io_timeout};
	if (d->via->scheme == &H2O_URL_SCHEME_HTTPS) {
		d->ssl = web_tls_client(o->ca_store ? NULL : o->ca_file, o->ca_store, d->via->host,
					err, errlen);
		if (!d->ssl)
			goto fail;
		d->h2o.ssl_ctx = d->ssl;
	}
	if (o->keepalive) {
		h2o_socketpool_init_by_hostport(&d->pool, d->via->host, h2o_url_get_port(d->via),
						d->via->scheme == &H2O_URL_SCHEME_HTTPS,
						o->keepalive);
		h2o_socketpool_set_timeout(&d->pool, ctx->loop, POOL_IDLE_MS);
		d->pooled = 1;
	}
	return 0;
fail:
	ecap_httpc_dest_dispose(d);
	return -EINVAL;
}

void ecap_httpc_dest_dispose(struct ecap_httpc_dest *d)
{
	if (!d)
		return;
	if (d->pooled)
		h2o_socketpool_dispose(&d->pool);
	if (d->ssl)
		SSL_CTX_free(d->ssl);
	free(d->url_text);
	free(d->proxy_text);
	*d = (struct ecap_httpc_dest){0};
}

/* The call is over: the caller hears of it last, and may free it then. */
static void finish(struct ecap_httpc_call *c, const char *err)
{
	c->client = NULL;
	c->on_done(c, err);
}

static void collect(struct ecap_httpc_call *c, const uint8_t *p, size_t n)
{
	size_t room = c->resp.len < c->resp_max ? c->resp_max - c->resp.len : 0;

	if (n > room) {
		c->truncated = 1;
		n = room;
	}
	ecap_buf_put(&c->resp, p, n);
}

static int on_body(h2o_http1client_t *client, const char *errstr)
{
	struct ecap_httpc_call *c = client->data;
	h2o_buffer_t *in = client->sock->input;
	long took = (long)in->size;

	if (in->size) {
		if (c->on_body && c->status == 200)
			took = c->on_body(c, (const uint8_t *)in->bytes, in->size);
		else
			collect(c, (const uint8_t *)in->bytes, in->size);
		if (took > 0)
			h2o_buffer_consume(&client->sock->input, (size_t)took);
	}
	if (took < 0) { /* before the end: a refused last piece is no success */
		finish(c, "aborted");
		return -1;
	}
	if (errstr) {
		finish(c, errstr == h2o_http1client_error_is_eos ? NULL : errstr);
		return 0;
	}
	return 0;
}

static h2o_http1client_body_cb on_head(h2o_http1client_t *client, const char *errstr,
				       int minor_version, int status, h2o_iovec_t msg,
				       h2o_header_t *headers, size_t num_headers, int rlen)
{
	struct ecap_httpc_call *c = client->data;

	if (errstr && errstr != h2o_http1client_error_is_eos) {
		finish(c, errstr);
		return NULL;
	}
	c->status = status;
	if (c->on_head && c->on_head(c) < 0) {
		finish(c, "aborted");
		return NULL;
	}
	if (errstr) { /* a response without a body */
		finish(c, NULL);
		return NULL;
	}
	return on_body;
}

static h2o_http1client_head_cb on_connect(h2o_http1client_t *client, const char *errstr,
					  h2o_iovec_t **reqbufs, size_t *reqbufcnt,
					  int *method_is_head)
{
	struct ecap_httpc_call *c = client->data;

	if (errstr) {
		char e[320];

		snprintf(e, sizeof(e), "connecting to %s: %s", c->dest->url_text, errstr);
		finish(c, e);
		return NULL;
	}
	*reqbufs = c->bufs;
	*reqbufcnt = c->body_len ? 2 : 1;
	*method_is_head = !strcmp(c->method, "HEAD");
	return on_head;
}

int ecap_httpc_start(struct ecap_httpc_dest *d, struct ecap_httpc_call *c)
{
	const h2o_url_t *u = &d->url;
	char length[48] = "";
	int n;

	if (c->client)
		return -EBUSY;
	ecap_httpc_call_reset(c);
	c->dest = d;
	c->status = 0;
	/* a length for every request that may carry a body, 0 included: proxies
	 * refuse a POST without one (411) */
	if (c->body_len ||
	    (strcmp(c->method, "GET") && strcmp(c->method, "HEAD") && strcmp(c->method, "DELETE")))
		snprintf(length, sizeof(length), "Content-Length: %zu\r\n", c->body_len);
	/* through a proxy, the target in absolute form */
	n = asprintf(&c->head, "%s %s%.*s%s HTTP/1.1\r\nHost: %.*s\r\n%s%s%s%s%s%s\r\n", c->method,
		     d->proxy_text ? "http://" : "", d->proxy_text ? (int)u->authority.len : 0,
		     u->authority.base, c->target, (int)u->authority.len, u->authority.base,
		     d->ctx->user_agent ? "User-Agent: " : "",
		     d->ctx->user_agent ? d->ctx->user_agent : "", d->ctx->user_agent ? "\r\n" : "",
		     c->headers ? c->headers : "", length,
		     d->pooled ? "" : "Connection: close\r\n");
	if (n < 0) {
		c->head = NULL;
		return -ENOMEM;
	}
	c->bufs[0] = h2o_iovec_init(c->head, (size_t)n);
	c->bufs[1] = h2o_iovec_init(c->body, c->body_len);
	if (d->pooled)
		h2o_http1client_connect_with_pool(&c->client, c, &d->h2o, &d->pool, on_connect);
	else
		h2o_http1client_connect(&c->client, c, &d->h2o, d->via->host,
					h2o_url_get_port(d->via),
					d->via->scheme == &H2O_URL_SCHEME_HTTPS, on_connect);
	return 0;
}

void ecap_httpc_cancel(struct ecap_httpc_call *c)
{
	if (!c->client)
		return;
	h2o_http1client_cancel(c->client);
	c->client = NULL;
}

int ecap_httpc_shutdown_write(struct ecap_httpc_call *c)
{
	if (!c->client || !c->client->sock)
		return -ENOTCONN;
	return shutdown(h2o_socket_get_fd(c->client->sock), SHUT_WR) ? -errno : 0;
}

void ecap_httpc_call_reset(struct ecap_httpc_call *c)
{
	free(c->head);
	c->head = NULL;
	ecap_buf_free(&c->resp);
	c->truncated = 0;
}
