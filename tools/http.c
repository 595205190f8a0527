/* http.c - see http.h. */
#define H2O_USE_LIBUV 0
#include <errno.h>
#include <h2o/http1client.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "common/pcapng.h"
#include "common/web.h"

#define CALL_TIMEOUT_MS   30000
#define STREAM_TIMEOUT_MS (24u * 3600 * 1000) /* a live capture may be silent */

struct cli_http {
	h2o_loop_t *loop;
	h2o_multithread_queue_t *queue;
	h2o_multithread_receiver_t getaddr;
	h2o_timeout_t call_timeout, stream_timeout;
	h2o_http1client_ctx_t ctx, stream_ctx;
	SSL_CTX *ssl;
	h2o_url_t url;
	char *server, *token;
	h2o_socket_t *stop_sock;
	int pending, stopped;
};

struct priv {
	struct cli_http *h;
	h2o_iovec_t req;
	struct ecap_buf resp; /* kept with a NUL after it */
};

static char *conf_value(const char *key)
{
	const char *home = getenv("HOME");
	char path[512], line[1024], *v = NULL;
	FILE *f;

	if (!home)
		return NULL;
	snprintf(path, sizeof(path), "%s/.config/edgecap/cli.conf", home);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	while (!v && fgets(line, sizeof(line), f)) {
		char *k = line + strspn(line, " \t"), *eq = strchr(k, '='), *end;

		if (*k == '#' || !eq)
			continue;
		for (end = eq; end > k && (end[-1] == ' ' || end[-1] == '\t'); end--)
			;
		if ((size_t)(end - k) != strlen(key) || strncmp(k, key, strlen(key)))
			continue;
		eq += 1 + strspn(eq + 1, " \t");
		eq[strcspn(eq, "\r\n")] = 0;
		v = strdup(eq);
	}
	fclose(f);
	return v;
}

/* flag, else environment, else the file */
static char *setting(const char *flag, const char *env, const char *key)
{
	if (flag)
		return strdup(flag);
	if (getenv(env) && *getenv(env))
		return strdup(getenv(env));
	return conf_value(key);
}

struct cli_http *cli_http_new(const char *server, const char *token, const char *cacert)
{
	struct cli_http *h = calloc(1, sizeof(*h));
	char *ca = setting(cacert, "EDGECAP_CACERT", "cacert"), err[300];

	if (!h)
		goto fail;
	h->server = setting(server, "EDGECAP_SERVER", "server");
	h->token = setting(token, "EDGECAP_TOKEN", "token");
	if (!h->server || !h->token) {
		fprintf(stderr, "edgecap: no %s: give --%s, set EDGECAP_%s, or put '%s = ...' in "
				"~/.config/edgecap/cli.conf\n",
			!h->server ? "server" : "token", !h->server ? "server" : "token",
			!h->server ? "SERVER" : "TOKEN", !h->server ? "server" : "token");
		goto fail;
	}
	if (h2o_url_parse(h->server, strlen(h->server), &h->url)) {
		fprintf(stderr, "edgecap: server '%s': want http(s)://HOST[:PORT]\n", h->server);
		goto fail;
	}
	if (h->url.scheme == &H2O_URL_SCHEME_HTTPS &&
	    !(h->ssl = web_tls_client(ca, NULL, h->url.host, err, sizeof(err)))) {
		fprintf(stderr, "edgecap: %s\n", err);
		goto fail;
	}
	h->loop = h2o_evloop_create();
	h->queue = h2o_multithread_create_queue(h->loop);
	h2o_multithread_register_receiver(h->queue, &h->getaddr, h2o_hostinfo_getaddr_receiver);
	h2o_timeout_init(h->loop, &h->call_timeout, CALL_TIMEOUT_MS);
	h2o_timeout_init(h->loop, &h->stream_timeout, STREAM_TIMEOUT_MS);
	h->ctx = (h2o_http1client_ctx_t){.loop = h->loop,
					 .getaddr_receiver = &h->getaddr,
					 .io_timeout = &h->call_timeout,
					 .ssl_ctx = h->ssl};
	h->stream_ctx = h->ctx;
	h->stream_ctx.io_timeout = &h->stream_timeout;
	free(ca);
	return h;
fail:
	free(ca);
	cli_http_free(h);
	return NULL;
}

void cli_http_free(struct cli_http *h)
{
	if (!h)
		return;
	/* the loop lives until exit: h2o 2.2 has no way to destroy one */
	if (h->ssl)
		SSL_CTX_free(h->ssl);
	free(h->server);
	free(h->token);
	free(h);
}

static void done(struct cli_call *c, const char *err)
{
	struct priv *p = c->priv;

	if (err && !c->err[0])
		snprintf(c->err, sizeof(c->err), "%s", err);
	c->resp = (char *)p->resp.data;
	c->resp_len = p->resp.len;
	p->resp = (struct ecap_buf){0}; /* the call owns it now */
	c->done = 1;
	p->h->pending--;
}

static int keep(struct priv *p, const void *data, size_t len)
{
	if (ecap_buf_put(&p->resp, data, len) || ecap_buf_put(&p->resp, "", 1))
		return -1;
	p->resp.len--; /* the NUL stays, outside the length */
	return 0;
}

static int on_body(h2o_http1client_t *client, const char *errstr)
{
	struct cli_call *c = client->data;
	struct priv *p = c->priv;
	h2o_buffer_t *in = client->sock->input;
	int r = 0;

	if (in->size) {
		if (c->on_body && c->status == 200)
			r = c->on_body(c->ctx, in->bytes, in->size);
		else
			r = keep(p, in->bytes, in->size);
		h2o_buffer_consume(&client->sock->input, in->size);
	}
	if (errstr) {
		done(c, errstr == h2o_http1client_error_is_eos ? NULL : errstr);
		return 0;
	}
	if (r) {
		done(c, "stopped");
		return -1;
	}
	return 0;
}

static h2o_http1client_body_cb on_head(h2o_http1client_t *client, const char *errstr,
				       int minor_version, int status, h2o_iovec_t msg,
				       h2o_header_t *headers, size_t num_headers, int rlen)
{
	struct cli_call *c = client->data;

	if (errstr) {
		done(c, errstr == h2o_http1client_error_is_eos ? "connection closed" : errstr);
		return NULL;
	}
	c->status = status;
	return on_body;
}

static h2o_http1client_head_cb on_connect(h2o_http1client_t *client, const char *errstr,
					  h2o_iovec_t **reqbufs, size_t *reqbufcnt,
					  int *method_is_head)
{
	struct cli_call *c = client->data;
	struct priv *p = c->priv;

	if (errstr) {
		char e[256];

		snprintf(e, sizeof(e), "connecting to %s: %s", p->h->server, errstr);
		done(c, e);
		return NULL;
	}
	*reqbufs = &p->req;
	*reqbufcnt = 1;
	*method_is_head = 0;
	return on_head;
}

void cli_http_start(struct cli_http *h, struct cli_call *c)
{
	struct priv *p = calloc(1, sizeof(*p));
	char length[96] = "";
	h2o_http1client_t *client;
	int n;

	c->priv = p;
	c->status = 0;
	c->done = 0;
	c->err[0] = 0;
	if (!p)
		goto nomem;
	p->h = h;
	h->pending++;
	if (c->body)
		snprintf(length, sizeof(length),
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n",
			 strlen(c->body));
	n = asprintf(&p->req.base,
		     "%s %s HTTP/1.1\r\nHost: %.*s\r\nAuthorization: Bearer %s\r\n"
		     "User-Agent: edgecap\r\nConnection: close\r\n%s\r\n%s",
		     c->method, c->path, (int)h->url.authority.len, h->url.authority.base, h->token,
		     length, c->body ? c->body : "");
	if (n < 0) {
		h->pending--;
		goto nomem;
	}
	p->req.len = (size_t)n;
	h2o_http1client_connect(&client, c, c->on_body ? &h->stream_ctx : &h->ctx, h->url.host,
				h2o_url_get_port(&h->url), h->url.scheme == &H2O_URL_SCHEME_HTTPS,
				on_connect);
	return;
nomem:
	snprintf(c->err, sizeof(c->err), "out of memory");
	c->done = 1;
}

static void on_stop_fd(h2o_socket_t *sock, const char *err)
{
	struct cli_http *h = sock->data;
	char buf[256];

	while (read(h2o_socket_get_fd(sock), buf, sizeof(buf)) > 0)
		;
	h->stopped = 1;
}

int cli_http_run(struct cli_http *h, int stop_fd)
{
	if (stop_fd >= 0 && !h->stop_sock) {
		h->stop_sock = h2o_evloop_socket_create(h->loop, stop_fd, H2O_SOCKET_FLAG_DONT_READ);
		h->stop_sock->data = h;
		h2o_socket_read_start(h->stop_sock, on_stop_fd);
	}
	h->stopped = 0;
	while (h->pending > 0 && !h->stopped)
		h2o_evloop_run(h->loop, INT32_MAX);
	return h->stopped;
}

void cli_http_call(struct cli_http *h, struct cli_call *c)
{
	cli_http_start(h, c);
	while (!c->done)
		h2o_evloop_run(h->loop, INT32_MAX);
}

const char *cli_http_error(const struct cli_call *c)
{
	static char msg[512];
	json_t *j;

	if (c->err[0])
		return c->err;
	j = c->resp ? json_loads(c->resp, 0, NULL) : NULL;
	if (json_is_string(json_object_get(j, "error")))
		snprintf(msg, sizeof(msg), "%s", json_string_value(json_object_get(j, "error")));
	else
		snprintf(msg, sizeof(msg), "HTTP status %d", c->status);
	json_decref(j);
	return msg;
}

void cli_call_free(struct cli_call *c)
{
	struct priv *p = c->priv;

	if (p) {
		free(p->req.base);
		ecap_buf_free(&p->resp);
		free(p);
	}
	free(c->resp);
	c->priv = NULL;
	c->resp = NULL;
}
