/* httpc.h - edgecap's one HTTP/1.1 client: h2o's http1client behind a small
 * interface, on the caller's event loop. The CLI calls the server's API and
 * follows live captures with it, the server streams one capture from each
 * device with it, and the agent registers and polls for its tunnel with it.
 *
 * A destination is a server, set up once: its URL, TLS (the chain checked
 * against a CA file or a shared store, the certificate's name against the
 * URL's host), an optional HTTP proxy (plain http:// to the proxy with
 * absolute-form targets: no CONNECT), and optionally a pool of kept-alive
 * connections. A call is one request to a destination. A 200's body goes
 * to on_body as it arrives, which takes what it can use and sees the rest
 * again with what follows (a stream of blocks is read in place, without a
 * copy); any other status's body, and every body of a call without
 * on_body, is collected into `resp` up to resp_max. on_done ends every
 * started call exactly once, unless it is cancelled first.
 *
 * Streaming: a call given a slab pool of its own (common/slab.h) to a
 * destination without kept-alive connections reads a 200's body itself,
 * once the head is in: straight from the socket into the pool's
 * slabs (through h2o's TLS layer on https), a few MiB a turn of the loop
 * at most, so that other connections get theirs. Chunks are decoded where they lie: on_body sees
 * the data of each chunk as it comes, and what it leaves at a chunk's end is moved up to the next
 * chunk's data (a partial block, not the stream), so the bytes it takes are never moved or
 * overwritten while it holds a reference on the slab they lie in (c->slab during on_body). When the
 * pool has no slab to give, or the caller pauses the call, the socket is not read until a slab
 * comes back or the caller resumes, and the peer's data waits in the peer: the pool's limit bounds
 * what one stream holds. */
#ifndef ECAP_HTTPC_H
#define ECAP_HTTPC_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <h2o/http1client.h>
#include <openssl/ssl.h>

#include "common/buf.h"
#include "common/slab.h"

/* What calls on one loop with one silence limit share. */
struct ecap_httpc_ctx {
	h2o_loop_t *loop;
	h2o_multithread_receiver_t *getaddr; /* h2o's resolver, registered on the loop's queue */
	h2o_timeout_t io_timeout;	     /* connect, head, and every gap in a body */
	h2o_timeout_t soon;		     /* a turn of the loop: streamed bodies resume */
	const char *user_agent;
};

/* io_timeout_ms covers connecting, waiting for the head and each silence
 * within a body: longer than the longest silence expected. */
void ecap_httpc_ctx_init(struct ecap_httpc_ctx *c, h2o_loop_t *loop,
			 h2o_multithread_receiver_t *getaddr, uint64_t io_timeout_ms,
			 const char *user_agent);
/* Once no call of it runs. */
void ecap_httpc_ctx_dispose(struct ecap_httpc_ctx *c);

struct ecap_httpc_dest_opts {
	const char *proxy;    /* http://HOST:PORT to go through, NULL: none */
	const char *ca_file;  /* CAs for https (NULL: the system's) ... */
	X509_STORE *ca_store; /* ... or these, shared, not copied */
	unsigned keepalive;   /* > 0: a pool of up to this many kept-alive connections */
	/* Where connections may go (not through a proxy): each address the
	 * host resolves to is asked before connecting, and the peer once
	 * more when connected; a refusal ends the call with "URL: why". */
	int (*allow)(const struct sockaddr *sa, void *arg, char *why, size_t len);
	void *allow_arg;
};

struct ecap_httpc_dest {
	struct ecap_httpc_ctx *ctx;
	h2o_http1client_ctx_t h2o; /* ctx's, with this destination's TLS */
	char *url_text, *proxy_text;
	h2o_url_t url, proxy; /* proxy: when proxy_text is set */
	h2o_url_t *via;	      /* where connections go: &url or &proxy */
	SSL_CTX *ssl;
	h2o_socketpool_t pool;
	int pooled;
	int (*allow)(const struct sockaddr *sa, void *arg, char *why, size_t len);
	void *allow_arg;
};

/* A destination from "http(s)://HOST[:PORT]" (a path after it is ignored):
 * 0, or -EINVAL / -ENOMEM with err set. */
int ecap_httpc_dest_init(struct ecap_httpc_dest *d, struct ecap_httpc_ctx *ctx, const char *url,
			 const struct ecap_httpc_dest_opts *o, char *err, size_t errlen);
/* Once no call to it runs. Accepts a zeroed or half-built one. */
void ecap_httpc_dest_dispose(struct ecap_httpc_dest *d);

struct ecap_httpc_call;
/* The response's head came (c->status is set): 0, or < 0 to abort the call. */
typedef int ecap_httpc_head_fn(struct ecap_httpc_call *c);
/* Bytes of a 200's body: how many it took (the rest comes again, with what
 * follows, on the next call), or < 0 to abort the call. */
typedef long ecap_httpc_body_fn(struct ecap_httpc_call *c, const uint8_t *p, size_t n);
/* The call is over: err NULL when the response came whole, else why not
 * ("connecting to URL: ...", "closed before a response", h2o's reason, or
 * "aborted" after on_body refused). The call may be freed in it. */
typedef void ecap_httpc_done_fn(struct ecap_httpc_call *c, const char *err);

struct ecap_httpc_call {
	/* the request, set before ecap_httpc_start */
	const char *method;
	const char *target;  /* path and query, exactly as sent (and as signed) */
	const char *headers; /* more header lines, each ending in \r\n; NULL: none */
	const void *body;    /* NULL: none */
	size_t body_len;
	ecap_httpc_head_fn *on_head; /* NULL: none */
	ecap_httpc_body_fn *on_body; /* NULL: the body is collected */
	ecap_httpc_done_fn *on_done;
	size_t resp_max;	     /* bytes of a collected body kept; the rest is dropped */
	struct ecap_slab_pool *pool; /* streaming (see above); NULL: through h2o's buffers */
	void *data;
	/* the response */
	int status;			  /* 0 until its head came */
	const h2o_header_t *resp_headers; /* during on_head only */
	size_t resp_nheaders;
	struct ecap_buf resp;
	int truncated;		/* the collected body was longer than resp_max */
	struct ecap_slab *slab; /* streaming, during on_body: the slab p lies in */
	/* the client's own */
	struct ecap_httpc_dest *dest;
	h2o_hostinfo_getaddr_req_t *lookup; /* the host's addresses, to be allowed */
	h2o_http1client_t *client;	    /* until the head of a streamed body */
	struct ecap_httpc_stream *stream;   /* a streamed body being read */
	char *head;
	h2o_iovec_t bufs[2];
};

/* Send the request: 0, or -ENOMEM / -EBUSY (the call runs already): then
 * nothing started and on_done is not called. A connection that fails at
 * once (no socket, no route) calls on_done before this returns. */
int ecap_httpc_start(struct ecap_httpc_dest *d, struct ecap_httpc_call *c);
static inline int ecap_httpc_running(const struct ecap_httpc_call *c)
{
	return c->client != NULL || c->stream != NULL || c->lookup != NULL;
}
/* Drop a running call's connection; on_done is not called. Not from the
 * call's own on_head or on_body (return < 0 there to end it). */
void ecap_httpc_cancel(struct ecap_httpc_call *c);
/* Shut the sending side of a running call's connection (the peer sees the
 * end of the request stream and may end its response): 0 or -errno. */
int ecap_httpc_shutdown_write(struct ecap_httpc_call *c);
/* Streaming: stop reading the body (paused 1) or go on (0). */
void ecap_httpc_pause(struct ecap_httpc_call *c, int paused);
/* Streaming: the body has bytes waiting that on_body has not seen: in the
 * socket, or held back (paused, or waiting for a slab). */
int ecap_httpc_waiting(const struct ecap_httpc_call *c);
/* Free what a finished or cancelled call holds (its head and body); the
 * call can be started again. */
void ecap_httpc_call_reset(struct ecap_httpc_call *c);

#endif
