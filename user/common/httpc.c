/* httpc.c - the HTTP/1.1 client, see httpc.h.
 *
 * h2o 2.2's http1client calls on_head with h2o_http1client_error_is_eos for
 * a response that has no body (HEAD, 204, 304), and on_body with it at the
 * end of a body; a connection closed between chunks also reads as the end
 * (callers that stream know their own end, as a capture's statistics). */
#include "common/httpc.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/web.h"

#define POOL_IDLE_MS 30000 /* a kept-alive connection unused this long is closed */

/* Streaming (see httpc.h). */
#define STREAM_ROOM_MIN (64u << 10) /* less room left in a slab: the rest goes to another */
#define STREAM_TURN	(4u << 20)  /* read from one stream a turn of the loop, at most */
#define CHUNK_LINE_MAX	1024	    /* a chunk's size line, or a trailer line */

enum body_framing { BODY_CHUNKED, BODY_LENGTH, BODY_CLOSE };
enum chunk_state { CHUNK_HEAD, CHUNK_DATA, CHUNK_TRAILER, CHUNK_END };

/* A streamed body: the socket taken from h2o's client after the head, and
 * the slab being filled: [start, dend) decoded data on_body left, [dend,
 * rend) bytes read and not yet decoded. */
struct ecap_httpc_stream {
	struct ecap_httpc_call *c;
	h2o_socket_t *sock;
	h2o_timeout_entry_t timeout, resume;
	enum body_framing framing;
	enum chunk_state state;
	uint64_t left; /* of the chunk's data (chunked), or of the body (length) */
	struct ecap_slab *slab;
	size_t start, dend, rend;
	int first;   /* the first chunk's size line has no CRLF before it */
	int fresh;   /* data on_body has not seen yet */
	int paused;  /* by the caller */
	int starved; /* waiting for a slab */
	int eof;     /* the peer closed */
	int busy;    /* in on_body: a cancel there is done on the way out */
	int gone;    /* cancelled while busy */
};

void ecap_httpc_ctx_init(struct ecap_httpc_ctx *c, h2o_loop_t *loop,
			 h2o_multithread_receiver_t *getaddr, uint64_t io_timeout_ms,
			 const char *user_agent)
{
	*c = (struct ecap_httpc_ctx){.loop = loop, .getaddr = getaddr, .user_agent = user_agent};
	h2o_timeout_init(loop, &c->io_timeout, io_timeout_ms);
	h2o_timeout_init(loop, &c->soon, 0);
}

void ecap_httpc_ctx_dispose(struct ecap_httpc_ctx *c)
{
	if (c && c->loop) {
		h2o_timeout_dispose(c->loop, &c->io_timeout);
		h2o_timeout_dispose(c->loop, &c->soon);
	}
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
	} else {
		d->allow = o->allow;
		d->allow_arg = o->allow_arg;
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

static void stream_free(struct ecap_httpc_stream *st)
{
	if (st->sock)
		h2o_socket_close(st->sock);
	if (h2o_timeout_is_linked(&st->timeout))
		h2o_timeout_unlink(&st->timeout);
	if (h2o_timeout_is_linked(&st->resume))
		h2o_timeout_unlink(&st->resume);
	if (st->slab) {
		ecap_slab_pool_wait(st->slab->pool, NULL, NULL);
		ecap_slab_unref(st->slab);
	}
	if (st->c->pool)
		ecap_slab_pool_wait(st->c->pool, NULL, NULL);
	free(st);
}

/* The call is over: the caller hears of it last, and may free it then. */
static void finish(struct ecap_httpc_call *c, const char *err)
{
	c->client = NULL;
	if (c->stream) {
		stream_free(c->stream);
		c->stream = NULL;
	}
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

/* --- streamed bodies -------------------------------------------------- */

static void stream_read(h2o_socket_t *sock, const char *err);

/* on_body with what is decoded, when some of it is new; 0, or -1 when
 * the call is over (finished here, or cancelled from on_body). */
static int stream_deliver(struct ecap_httpc_stream *st)
{
	struct ecap_httpc_call *c = st->c;
	long took;

	if (st->dend == st->start || !st->fresh)
		return 0;
	st->fresh = 0;
	c->slab = st->slab;
	st->busy = 1;
	took = c->on_body(c, st->slab->data + st->start, st->dend - st->start);
	st->busy = 0;
	if (st->gone) {
		stream_free(st);
		return -1;
	}
	c->slab = NULL;
	if (took < 0) {
		finish(c, "aborted");
		return -1;
	}
	if ((size_t)took > st->dend - st->start)
		took = (long)(st->dend - st->start);
	st->start += (size_t)took;
	return 0;
}

/* n bytes of framing at dend go: the data before them moves up to what
 * follows (on_body has had its turn, so that is a partial block at most). */
static int stream_skip(struct ecap_httpc_stream *st, size_t n)
{
	if (st->dend > st->start) {
		if (stream_deliver(st))
			return -1;
		memmove(st->slab->data + st->start + n, st->slab->data + st->start,
			st->dend - st->start);
	}
	st->start += n;
	st->dend += n;
	return 0;
}

/* The length of the line at p (to its LF, included), 0 when incomplete,
 * or -1 when too long. */
static long line_len(const uint8_t *p, size_t avail)
{
	const uint8_t *lf = memchr(p, '\n', avail < CHUNK_LINE_MAX ? avail : CHUNK_LINE_MAX);

	if (lf)
		return lf - p + 1;
	return avail < CHUNK_LINE_MAX ? 0 : -1;
}

/* A chunk's size line at dend (after the CRLF ending the last chunk's
 * data): its length with *ret_size, 0 when incomplete, -1 when malformed. */
static long chunk_head(struct ecap_httpc_stream *st, uint64_t *ret_size)
{
	const uint8_t *p = st->slab->data + st->dend;
	size_t avail = st->rend - st->dend, at = 0;
	uint64_t size = 0;
	int digits = 0;
	long n;

	if (!st->first) {
		if (avail < 2)
			return 0;
		if (p[0] != '\r' || p[1] != '\n')
			return -1;
		at = 2;
	}
	n = line_len(p + at, avail - at);
	if (n <= 0)
		return n;
	for (const uint8_t *q = p + at; q < p + at + n; q++, digits++) {
		int v = *q >= '0' && *q <= '9'	 ? *q - '0'
			: *q >= 'a' && *q <= 'f' ? *q - 'a' + 10
			: *q >= 'A' && *q <= 'F' ? *q - 'A' + 10
						 : -1;

		if (v < 0)
			break;
		if (size >> 60)
			return -1;
		size = size << 4 | (uint64_t)v;
	}
	if (!digits)
		return -1;
	*ret_size = size;
	return (long)at + n;
}

/* Decode what was read, handing the data to on_body: 0 (more to come, or
 * paused), 1 at the end of the body, -1 when the call is over. */
static int stream_decode(struct ecap_httpc_stream *st)
{
	if (!st->slab) /* nothing read yet: the first slab did not come */
		return 0;
	for (;;) {
		size_t avail = st->rend - st->dend;
		uint64_t size;
		long n;

		if (st->paused)
			return 0;
		switch (st->state) {
		case CHUNK_DATA:
			if (avail > st->left)
				avail = (size_t)st->left;
			st->dend += avail;
			st->fresh |= avail > 0;
			if (st->framing != BODY_CLOSE)
				st->left -= avail;
			if (st->left)
				return stream_deliver(st);
			if (st->framing == BODY_LENGTH)
				return stream_deliver(st) ? -1 : 1;
			st->state = CHUNK_HEAD;
			st->first = 0;
			break;
		case CHUNK_HEAD:
			n = chunk_head(st, &size);
			if (n == 0)
				return stream_deliver(st);
			if (n < 0) {
				finish(st->c, "failed to parse the response (chunked)");
				return -1;
			}
			if (stream_skip(st, (size_t)n))
				return -1;
			st->left = size;
			st->state = size ? CHUNK_DATA : CHUNK_TRAILER;
			break;
		case CHUNK_TRAILER: /* lines up to an empty one, dropped */
			n = line_len(st->slab->data + st->dend, avail);
			if (n == 0)
				return stream_deliver(st);
			if (n < 0) {
				finish(st->c, "failed to parse the response (chunked)");
				return -1;
			}
			if (n <= 2 && st->slab->data[st->dend] != ' ' &&
			    (n == 1 || st->slab->data[st->dend] == '\r'))
				st->state = CHUNK_END;
			if (stream_skip(st, (size_t)n))
				return -1;
			break;
		case CHUNK_END:
			return stream_deliver(st) ? -1 : 1;
		}
	}
}

/* Reading goes on from the loop, not from the caller's stack: a slab
 * comes back, or a call is resumed, wherever the caller is (inside another
 * call's on_body, say), and on_body must not run inside itself. */
static void stream_soon(struct ecap_httpc_stream *st)
{
	if (!h2o_timeout_is_linked(&st->resume))
		h2o_timeout_link(st->c->dest->ctx->loop, &st->c->dest->ctx->soon, &st->resume);
}

static void stream_on_resume(h2o_timeout_entry_t *e)
{
	struct ecap_httpc_stream *st = H2O_STRUCT_FROM_MEMBER(struct ecap_httpc_stream, resume, e);

	if (!st->paused && !st->starved)
		stream_read(st->sock, NULL);
}

static void stream_resume(void *data)
{
	struct ecap_httpc_stream *st = data;

	st->starved = 0;
	stream_soon(st);
}

/* Room to read into: 0, 1 when there is none to be had now (a slab will
 * come back), -1 when the call is over. What on_body left, and what is
 * not decoded yet, goes to the start of the slab when nobody else holds
 * it, else to another. */
static int stream_room(struct ecap_httpc_stream *st)
{
	struct ecap_slab *s = st->slab, *n;
	size_t keep = s ? st->rend - st->start : 0;

	if (s && s->cap - st->rend >= STREAM_ROOM_MIN)
		return 0;
	if (s && s->refs == 1 && keep + STREAM_ROOM_MIN <= s->cap) {
		memmove(s->data, s->data + st->start, keep);
	} else {
		n = ecap_slab_get(st->c->pool, keep + STREAM_ROOM_MIN);
		if (!n) {
			/* (the new one is taken before the old one goes) */
			if (keep + STREAM_ROOM_MIN + (s ? s->cap : 0) >
			    ecap_slab_pool_max(st->c->pool)) {
				finish(st->c, "a block larger than the stream's buffers");
				return -1;
			}
			st->starved = 1;
			ecap_slab_pool_wait(st->c->pool, stream_resume, st);
			return 1;
		}
		if (s) {
			memcpy(n->data, s->data + st->start, keep);
			ecap_slab_unref(s);
		}
		st->slab = s = n;
	}
	st->dend -= st->start;
	st->rend = keep;
	st->start = 0;
	return 0;
}

/* The peer closed: the end of the body, or a body cut short. */
static void stream_eof(struct ecap_httpc_stream *st)
{
	if (st->framing == BODY_CLOSE || (st->framing == BODY_CHUNKED && st->state != CHUNK_DATA)) {
		if (!stream_deliver(st))
			finish(st->c, NULL);
		return;
	}
	finish(st->c, st->framing == BODY_CHUNKED ? "I/O error (body; chunked)"
						  : "I/O error (body; content-length)");
}

/* Bytes h2o holds for the socket (the head's leftover, TLS records it
 * decrypted) into the slab: 0, 1 for want of room, -1 when over. */
static int stream_take_input(struct ecap_httpc_stream *st)
{
	h2o_buffer_t **in = &st->sock->input;

	while ((*in)->size) {
		size_t n;
		int r = stream_room(st);

		if (r)
			return r;
		n = st->slab->cap - st->rend;
		if (n > (*in)->size)
			n = (*in)->size;
		memcpy(st->slab->data + st->rend, (*in)->bytes, n);
		h2o_buffer_consume(in, n);
		st->rend += n;
		r = stream_decode(st);
		if (r)
			return r < 0 ? -1 : (finish(st->c, NULL), -1);
	}
	return 0;
}

/* The socket is readable (or h2o decrypted some of it), or reading may
 * go on: read until it would block, a turn's worth, or out of room. */
static void stream_read(h2o_socket_t *sock, const char *err)
{
	struct ecap_httpc_stream *st = sock->data;
	size_t turn = STREAM_TURN;
	int r;

	if (h2o_timeout_is_linked(&st->timeout))
		h2o_timeout_unlink(&st->timeout);
	if (err && err != h2o_socket_error_closed) {
		finish(st->c, "I/O error (body)");
		return;
	}
	r = stream_take_input(st);
	if (r < 0)
		return;
	if (!r && !st->paused) { /* what was held back while paused */
		r = stream_decode(st);
		if (r) {
			if (r > 0)
				finish(st->c, NULL);
			return;
		}
	}
	if (err) {
		if (!r) {
			stream_eof(st);
			return;
		}
		st->eof = 1; /* once there is room for what h2o holds */
	}
	while (!r && !sock->ssl && !st->paused && !st->eof && turn) {
		size_t room;
		ssize_t n;

		r = stream_room(st);
		if (r)
			break;
		room = st->slab->cap - st->rend;
		n = read(h2o_socket_get_fd(sock), st->slab->data + st->rend,
			 room < turn ? room : turn);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			finish(st->c, "I/O error (body)");
			return;
		}
		if (n == 0) {
			stream_eof(st);
			return;
		}
		st->rend += (size_t)n;
		turn -= (size_t)n;
		r = stream_decode(st);
		if (r) {
			if (r > 0)
				finish(st->c, NULL);
			return;
		}
	}
	if (r < 0)
		return;
	if (st->eof && !r && !sock->input->size) {
		stream_eof(st);
		return;
	}
	if (st->paused || st->starved) {
		h2o_socket_read_stop(sock);
		return;
	}
	h2o_socket_read_start(sock, stream_read);
	h2o_timeout_link(st->c->dest->ctx->loop, &st->c->dest->ctx->io_timeout, &st->timeout);
}

static void stream_timeout(h2o_timeout_entry_t *e)
{
	struct ecap_httpc_stream *st = H2O_STRUCT_FROM_MEMBER(struct ecap_httpc_stream, timeout, e);

	finish(st->c, "I/O timeout");
}

/* After a 200's head: the socket is the call's to read from now on. 0, or
 * -1 when the call is over. */
static int stream_start(struct ecap_httpc_call *c, h2o_http1client_t *client, h2o_header_t *headers,
			size_t num_headers, int rlen)
{
	struct ecap_httpc_stream *st = calloc(1, sizeof(*st));
	enum body_framing framing = BODY_CLOSE;
	uint64_t length = 0;

	for (size_t i = 0; i < num_headers; i++) {
		const h2o_iovec_t *v = &headers[i].value;

		if (headers[i].name == &H2O_TOKEN_TRANSFER_ENCODING->buf &&
		    h2o_memis(v->base, v->len, H2O_STRLIT("chunked"))) {
			framing = BODY_CHUNKED;
		} else if (headers[i].name == &H2O_TOKEN_CONTENT_LENGTH->buf &&
			   framing != BODY_CHUNKED) {
			size_t n = h2o_strtosize(v->base, v->len);

			if (n == SIZE_MAX) {
				free(st);
				finish(c, "invalid content-length");
				return -1;
			}
			framing = BODY_LENGTH;
			length = n;
		}
	}
	if (!st) {
		finish(c, "out of memory");
		return -1;
	}
	*st = (struct ecap_httpc_stream){.c = c,
					 .framing = framing,
					 .state = framing == BODY_CHUNKED ? CHUNK_HEAD : CHUNK_DATA,
					 .left = framing == BODY_CLOSE ? UINT64_MAX : length,
					 .first = 1};
	st->timeout.cb = stream_timeout;
	st->resume.cb = stream_on_resume;
	st->sock = h2o_http1client_steal_socket(client);
	h2o_buffer_consume(&st->sock->input, (size_t)rlen);
	st->sock->data = st;
	c->client = NULL; /* h2o frees it once on_head returns */
	c->stream = st;
	if (!st->sock->ssl)
		h2o_socket_dont_read(st->sock, 1);
	if (framing == BODY_LENGTH && !length) {
		finish(c, NULL);
		return -1;
	}
	stream_read(st->sock, NULL);
	return c->stream == st ? 0 : -1;
}

void ecap_httpc_pause(struct ecap_httpc_call *c, int paused)
{
	struct ecap_httpc_stream *st = c->stream;

	if (!st || st->paused == !!paused)
		return;
	st->paused = !!paused;
	if (st->paused) {
		if (!st->busy) {
			h2o_socket_read_stop(st->sock);
			if (h2o_timeout_is_linked(&st->timeout))
				h2o_timeout_unlink(&st->timeout);
		}
	} else if (!st->starved && !st->busy) {
		stream_soon(st);
	}
}

int ecap_httpc_waiting(const struct ecap_httpc_call *c)
{
	const struct ecap_httpc_stream *st = c->stream;
	int n = 0;

	if (!st)
		return 0;
	if (st->paused || st->starved || st->sock->input->size)
		return 1;
	return !ioctl(h2o_socket_get_fd(st->sock), FIONREAD, &n) && n > 0;
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
	c->resp_headers = headers;
	c->resp_nheaders = num_headers;
	if (c->on_head && c->on_head(c) < 0) {
		c->resp_headers = NULL;
		finish(c, "aborted");
		return NULL;
	}
	c->resp_headers = NULL;
	if (errstr) { /* a response without a body */
		finish(c, NULL);
		return NULL;
	}
	if (c->pool && c->on_body && status == 200 && !c->dest->pooled) {
		stream_start(c, client, headers, num_headers, rlen);
		return NULL;
	}
	return on_body;
}

/* Refused by the destination's rule: the call ends. */
static int refused(struct ecap_httpc_call *c, const struct sockaddr *sa)
{
	char why[200], e[400];

	if (!c->dest->allow(sa, c->dest->allow_arg, why, sizeof(why)))
		return 0;
	snprintf(e, sizeof(e), "%s: %s", c->dest->url_text, why);
	finish(c, e);
	return 1;
}

static h2o_http1client_head_cb on_connect(h2o_http1client_t *client, const char *errstr,
					  h2o_iovec_t **reqbufs, size_t *reqbufcnt,
					  int *method_is_head)
{
	struct ecap_httpc_call *c = client->data;
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);

	if (errstr) {
		char e[320];

		snprintf(e, sizeof(e), "connecting to %s: %s", c->dest->url_text, errstr);
		finish(c, e);
		return NULL;
	}
	/* the name may lead elsewhere now than when it was looked up */
	if (c->dest->allow) {
		if (getpeername(h2o_socket_get_fd(client->sock), (struct sockaddr *)&peer, &len)) {
			char e[320];

			snprintf(e, sizeof(e), "connecting to %s: %s", c->dest->url_text,
				 strerror(errno));
			finish(c, e);
			return NULL;
		}
		if (refused(c, (struct sockaddr *)&peer))
			return NULL;
	}
	*reqbufs = c->bufs;
	*reqbufcnt = c->body_len ? 2 : 1;
	*method_is_head = !strcmp(c->method, "HEAD");
	return on_head;
}

static void connect_now(struct ecap_httpc_call *c)
{
	struct ecap_httpc_dest *d = c->dest;

	if (d->pooled)
		h2o_http1client_connect_with_pool(&c->client, c, &d->h2o, &d->pool, on_connect);
	else
		h2o_http1client_connect(&c->client, c, &d->h2o, d->via->host,
					h2o_url_get_port(d->via),
					d->via->scheme == &H2O_URL_SCHEME_HTTPS, on_connect);
}

static void on_lookup(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res,
		      void *data)
{
	struct ecap_httpc_call *c = data;

	(void)req;
	c->lookup = NULL;
	if (errstr) {
		char e[320];

		snprintf(e, sizeof(e), "connecting to %s: %s", c->dest->url_text, errstr);
		finish(c, e);
		return;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
		if (refused(c, ai->ai_addr))
			return;
	connect_now(c);
}

/* Every address the host has, asked before anything goes to one. */
static void lookup(struct ecap_httpc_call *c)
{
	h2o_iovec_t host = c->dest->via->host;
	char port[8];

	if (host.len > 1 && host.base[0] == '[') { /* an IPv6 literal */
		host.base++;
		host.len -= 2;
	}
	snprintf(port, sizeof(port), "%u", h2o_url_get_port(c->dest->via));
	c->lookup = h2o_hostinfo_getaddr(c->dest->ctx->getaddr, host,
					 h2o_iovec_init(port, strlen(port)), AF_UNSPEC, SOCK_STREAM,
					 IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV, on_lookup, c);
}

int ecap_httpc_start(struct ecap_httpc_dest *d, struct ecap_httpc_call *c)
{
	const h2o_url_t *u = &d->url;
	char length[48] = "";
	int n;

	if (ecap_httpc_running(c))
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
	if (d->allow && d->ctx->getaddr)
		lookup(c);
	else
		connect_now(c);
	return 0;
}

void ecap_httpc_cancel(struct ecap_httpc_call *c)
{
	if (c->lookup) {
		h2o_hostinfo_getaddr_cancel(c->lookup);
		c->lookup = NULL;
		return;
	}
	if (c->stream) {
		if (c->stream->busy)
			c->stream->gone = 1; /* freed once on_body returns */
		else
			stream_free(c->stream);
		c->stream = NULL;
		c->slab = NULL;
		return;
	}
	if (!c->client)
		return;
	h2o_http1client_cancel(c->client);
	c->client = NULL;
}

int ecap_httpc_shutdown_write(struct ecap_httpc_call *c)
{
	h2o_socket_t *sock = c->stream ? c->stream->sock : c->client ? c->client->sock : NULL;

	if (!sock)
		return -ENOTCONN;
	return shutdown(h2o_socket_get_fd(sock), SHUT_WR) ? -errno : 0;
}

void ecap_httpc_call_reset(struct ecap_httpc_call *c)
{
	free(c->head);
	c->head = NULL;
	ecap_buf_free(&c->resp);
	c->truncated = 0;
}
