/* http.c - see http.h. */
#define H2O_USE_LIBUV 0
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "common/conf.h"
#include "common/httpc.h"

#define CALL_TIMEOUT_MS	  30000
#define STREAM_TIMEOUT_MS (24u * 3600 * 1000) /* a live capture may be silent */
#define RESP_MAX	  (64u << 20)	      /* an answer kept whole: JSON lists */

struct cli_http {
	h2o_loop_t *loop;
	h2o_multithread_queue_t *queue;
	h2o_multithread_receiver_t getaddr;
	struct ecap_httpc_ctx calls, streams; /* their silence limits differ */
	struct ecap_httpc_dest dest, stream_dest;
	char *server, *token;
	h2o_socket_t *stop_sock;
	int pending, stopped;
};

struct priv {
	struct cli_http *h;
	struct cli_call *c;
	struct ecap_httpc_call call;
	char *headers;
};

/* ~/.config/edgecap/cli.conf: server, token, cacert */
struct cli_conf {
	char server[512], token[256], cacert[512];
};

static const struct ecap_conf_key cli_keys[] = {
    ECAP_CONF_STR_KEY("server", struct cli_conf, server),
    ECAP_CONF_STR_KEY("token", struct cli_conf, token),
    ECAP_CONF_STR_KEY("cacert", struct cli_conf, cacert),
    {0},
};

/* The file's settings, read once (a file that is not there: none). */
static const struct cli_conf *cli_conf(void)
{
	static struct cli_conf c;
	static int read;
	const char *home = getenv("HOME");
	char path[512], err[640];

	if (read++ || !home)
		return &c;
	snprintf(path, sizeof(path), "%s/.config/edgecap/cli.conf", home);
	if (ecap_conf_load(cli_keys, &c, path, 0, err, sizeof(err))) {
		fprintf(stderr, "edgecap: %s\n", err);
		c = (struct cli_conf){0};
	}
	return &c;
}

/* flag, else environment, else the file */
static char *setting(const char *flag, const char *env, const char *file)
{
	if (flag)
		return strdup(flag);
	if (getenv(env) && *getenv(env))
		return strdup(getenv(env));
	return *file ? strdup(file) : NULL;
}

struct cli_http *cli_http_new(const char *server, const char *token, const char *cacert)
{
	struct cli_http *h = calloc(1, sizeof(*h));
	char *ca = setting(cacert, "EDGECAP_CACERT", cli_conf()->cacert), err[300];
	struct ecap_httpc_dest_opts o = {.ca_file = ca};

	if (!h)
		goto fail;
	h->server = setting(server, "EDGECAP_SERVER", cli_conf()->server);
	h->token = setting(token, "EDGECAP_TOKEN", cli_conf()->token);
	if (!h->server || !h->token) {
		fprintf(stderr,
			"edgecap: no %s: give --%s, set EDGECAP_%s, or put '%s = ...' in "
			"~/.config/edgecap/cli.conf\n",
			!h->server ? "server" : "token", !h->server ? "server" : "token",
			!h->server ? "SERVER" : "TOKEN", !h->server ? "server" : "token");
		goto fail;
	}
	h->loop = h2o_evloop_create();
	h->queue = h2o_multithread_create_queue(h->loop);
	h2o_multithread_register_receiver(h->queue, &h->getaddr, h2o_hostinfo_getaddr_receiver);
	ecap_httpc_ctx_init(&h->calls, h->loop, &h->getaddr, CALL_TIMEOUT_MS, "edgecap");
	ecap_httpc_ctx_init(&h->streams, h->loop, &h->getaddr, STREAM_TIMEOUT_MS, "edgecap");
	if (ecap_httpc_dest_init(&h->dest, &h->calls, h->server, &o, err, sizeof(err)) ||
	    ecap_httpc_dest_init(&h->stream_dest, &h->streams, h->server, &o, err, sizeof(err))) {
		fprintf(stderr, "edgecap: server %s\n", err);
		goto fail;
	}
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
	ecap_httpc_dest_dispose(&h->dest);
	ecap_httpc_dest_dispose(&h->stream_dest);
	free(h->server);
	free(h->token);
	free(h);
}

static void on_done(struct ecap_httpc_call *call, const char *err)
{
	struct priv *p = call->data;
	struct cli_call *c = p->c;

	if (err && !c->err[0])
		snprintf(c->err, sizeof(c->err), "%s", !strcmp(err, "aborted") ? "stopped" : err);
	if (!err && call->truncated)
		snprintf(c->err, sizeof(c->err), "answer longer than %u bytes", RESP_MAX);
	c->status = call->status;
	/* the call owns the body now, NUL-terminated */
	if (!ecap_buf_put(&call->resp, "", 1)) {
		c->resp = (char *)call->resp.data;
		c->resp_len = call->resp.len - 1;
		call->resp = (struct ecap_buf){0};
	}
	c->done = 1;
	p->h->pending--;
}

static long on_body(struct ecap_httpc_call *call, const uint8_t *data, size_t len)
{
	struct priv *p = call->data;

	return p->c->on_body(p->c->ctx, data, len) ? -1 : (long)len;
}

void cli_http_start(struct cli_http *h, struct cli_call *c)
{
	struct priv *p = calloc(1, sizeof(*p));

	c->priv = p;
	c->status = 0;
	c->done = 0;
	c->err[0] = 0;
	if (!p || asprintf(&p->headers, "Authorization: Bearer %s\r\n%s", h->token,
			   c->body ? "Content-Type: application/json\r\n" : "") < 0)
		goto nomem;
	p->h = h;
	p->c = c;
	p->call = (struct ecap_httpc_call){.method = c->method,
					   .target = c->path,
					   .headers = p->headers,
					   .body = c->body,
					   .body_len = c->body ? strlen(c->body) : 0,
					   .on_body = c->on_body ? on_body : NULL,
					   .on_done = on_done,
					   .resp_max = RESP_MAX,
					   .data = p};
	if (ecap_httpc_start(c->on_body ? &h->stream_dest : &h->dest, &p->call))
		goto nomem;
	h->pending++;
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
		h->stop_sock =
		    h2o_evloop_socket_create(h->loop, stop_fd, H2O_SOCKET_FLAG_DONT_READ);
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
		ecap_httpc_cancel(&p->call);
		ecap_httpc_call_reset(&p->call);
		free(p->headers);
		free(p);
	}
	free(c->resp);
	c->priv = NULL;
	c->resp = NULL;
}
