/* test_httpc.c - httpc's streamed bodies (common/httpc.h) on a real h2o
 * loop against a peer on loopback, no root: a thread writes a canned
 * response in pieces of odd sizes, and a consumer that takes whole 7-byte
 * records only (as the mux takes whole blocks) and holds references on
 * some slabs must see the body exactly, its taken bytes never moved:
 * chunked (sizes 1 to 97, extensions, a trailer), by length, to the close;
 * a chunked body cut inside a chunk (an error) and between chunks (the
 * end); a refusal (collected, not streamed); a record larger than the
 * pool (an error); and a call paused and resumed. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/httpc.h"

#define RECORD	 7
#define BODY_LEN (RECORD * 200000)
#define SLAB	 (128u << 10) /* (httpc reads into 64 KiB of room at least) */
#define POOL_MAX (4 * SLAB)
#define HELD_MAX 2 /* slabs the consumer holds at once */

static h2o_loop_t *loop;

/* --- the peer ------------------------------------------------------------ */

struct peer {
	int lfd, port;
	struct ecap_buf resp; /* written as it is, in pieces of 1 to 8191 bytes */
	int keep_open_ms;     /* after writing, before closing */
	int head_alone;	      /* the head in a write of its own, and a pause after it */
	pthread_t thread;
};

static void *peer_run(void *arg)
{
	struct peer *p = arg;
	int fd = accept(p->lfd, NULL, NULL), one = 1;
	char req[4096];
	size_t at = 0, step = 1;

	if (fd < 0)
		return NULL;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (read(fd, req, sizeof(req)) <= 0) { /* the request (small, one read) */
		close(fd);
		return NULL;
	}
	if (p->head_alone) {
		const char *end = memmem(p->resp.data, p->resp.len, "\r\n\r\n", 4);

		at = (size_t)(end - (const char *)p->resp.data) + 4;
		if (write(fd, p->resp.data, at) != (ssize_t)at)
			at = p->resp.len;
		usleep(100000);
	}
	while (at < p->resp.len) {
		size_t n = p->resp.len - at < step ? p->resp.len - at : step;
		ssize_t w = write(fd, p->resp.data + at, n);

		if (w <= 0)
			break;
		at += (size_t)w;
		step = (step * 37 + 11) % 8191 + 1;
		if (at % 5 == 0)
			usleep(50); /* let the client read a piece at a time now and then */
	}
	if (p->keep_open_ms)
		usleep((useconds_t)p->keep_open_ms * 1000);
	close(fd);
	return NULL;
}

static void peer_start(struct peer *p)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);

	p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(p->lfd >= 0);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(p->lfd, 1), 0);
	assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&a, &al), 0);
	p->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&p->thread, NULL, peer_run, p), 0);
}

static void peer_stop(struct peer *p)
{
	pthread_join(p->thread, NULL);
	close(p->lfd);
	ecap_buf_free(&p->resp);
}

static uint8_t body_byte(size_t i)
{
	return (uint8_t)(i * 31 % 251);
}

/* The head, then the body: chunked in sizes 1 to 97 (every fifth with an
 * extension), cut short at cut bytes of body when cut is set (inside a
 * chunk when mid), else ended with the last chunk and a trailer. */
static void chunked(struct ecap_buf *b, size_t len, size_t cut, int mid)
{
	const char *head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
			   "Content-Type: application/x-pcapng\r\n\r\n";
	size_t at = 0, size = 1;
	char line[64];

	ecap_buf_put(b, head, strlen(head));
	for (unsigned k = 0; at < len; k++, size = size % 97 + 1) {
		size_t n = len - at < size ? len - at : size;
		int ln =
		    snprintf(line, sizeof(line), "%zx%s\r\n", n, k % 5 == 4 ? ";ext=\"a b\"" : "");

		if (cut && at + n > cut) {
			if (mid) {
				ecap_buf_put(b, line, (size_t)ln);
				for (size_t i = at; i < cut; i++)
					ecap_buf_put(b, &(uint8_t){body_byte(i)}, 1);
			}
			return;
		}
		ecap_buf_put(b, line, (size_t)ln);
		for (size_t i = at; i < at + n; i++)
			ecap_buf_put(b, &(uint8_t){body_byte(i)}, 1);
		ecap_buf_put(b, "\r\n", 2);
		at += n;
	}
	if (!cut)
		ecap_buf_put(b, "0\r\nX-Trailer: 1\r\n\r\n", 20);
}

static void plain(struct ecap_buf *b, size_t len, int with_length)
{
	char head[128];
	int n = with_length
		    ? snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
			       len)
		    : snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");

	ecap_buf_put(b, head, (size_t)n);
	for (size_t i = 0; i < len; i++)
		ecap_buf_put(b, &(uint8_t){body_byte(i)}, 1);
}

/* --- the consumer ---------------------------------------------------------- */

struct held {
	struct ecap_slab *slab;
	const uint8_t *p;
	size_t len, at; /* at: where in the body */
};

struct got {
	struct ecap_buf body;
	int done, calls, take_nothing, pause_once, paused;
	unsigned hold;	     /* slabs held at once: 2, or 4 (all the pool has) until a timer */
	int release_pending; /* the timer runs */
	const char *err;
	char errbuf[256];
	struct held held[HELD_MAX];
	unsigned nheld, checked, holds; /* checked: held slabs let go, each checked */
	h2o_timeout_t resume_after;
	h2o_timeout_entry_t resume;
	struct ecap_httpc_call *call;
};

static void let_go(struct got *g, unsigned i);

/* Resume the paused call, or let go of every slab held. */
static void on_resume(h2o_timeout_entry_t *e)
{
	struct got *g = H2O_STRUCT_FROM_MEMBER(struct got, resume, e);

	if (g->release_pending) {
		g->release_pending = 0;
		for (unsigned i = 0; i < g->nheld; i++)
			let_go(g, i);
		g->nheld = 0;
		return;
	}
	g->paused = 0;
	ecap_httpc_pause(g->call, 0);
}

/* A held slab's bytes are as they were taken; it is let go. */
static void let_go(struct got *g, unsigned i)
{
	struct held *h = &g->held[i];

	for (size_t k = 0; k < h->len; k++)
		if (h->p[k] != body_byte(h->at + k))
			fail_msg("held byte %zu of the body: moved or overwritten", h->at + k);
	ecap_slab_unref(h->slab);
	g->checked++;
}

static long on_body(struct ecap_httpc_call *c, const uint8_t *p, size_t n)
{
	struct got *g = c->data;
	size_t take = g->take_nothing ? 0 : n / RECORD * RECORD, at;

	assert_non_null(c->slab);
	assert_true(p >= c->slab->data && p + n <= c->slab->data + c->slab->cap);
	assert_false(g->paused);
	g->calls++;
	at = g->body.len;
	ecap_buf_put(&g->body, p, take);
	/* every third piece taken: held, its bytes must stay as they were
	 * while it is; two at most (the oldest let go), or as many as the pool
	 * has, all let go a little later (the reader waits for a slab) */
	if (take && g->calls % 3 == 0 && !g->release_pending &&
	    (!g->nheld || g->held[g->nheld - 1].slab != c->slab)) {
		if (g->nheld == g->hold && g->hold == 2) {
			let_go(g, 0);
			memmove(g->held, g->held + 1, sizeof(*g->held));
			g->nheld--;
		}
		ecap_slab_ref(c->slab);
		g->holds++;
		g->held[g->nheld++] = (struct held){c->slab, p, take, at};
		if (g->nheld == g->hold && g->hold == HELD_MAX) {
			g->release_pending = 1;
			h2o_timeout_link(loop, &g->resume_after, &g->resume);
		}
	}
	if (g->pause_once && g->calls == 2) {
		g->pause_once = 0;
		g->paused = 1;
		ecap_httpc_pause(c, 1);
		h2o_timeout_link(loop, &g->resume_after, &g->resume);
	}
	return (long)take;
}

static void on_done(struct ecap_httpc_call *c, const char *err)
{
	struct got *g = c->data;

	g->done = 1;
	if (err) {
		snprintf(g->errbuf, sizeof(g->errbuf), "%s", err);
		g->err = g->errbuf;
	}
}

/* Run one call against a peer answering resp; the consumer's findings. */
static void call_peer(struct peer *peer, struct got *g, int pool)
{
	struct ecap_httpc_ctx ctx;
	struct ecap_httpc_dest dest;
	struct ecap_slab_pool *sp = pool ? ecap_slab_pool_new(NULL, SLAB, POOL_MAX) : NULL;
	struct ecap_httpc_call call = {.method = "GET",
				       .target = "/v1/capture",
				       .on_body = on_body,
				       .on_done = on_done,
				       .resp_max = 100,
				       .pool = sp,
				       .data = g};
	char url[64], err[256];

	peer_start(peer);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", peer->port);
	ecap_httpc_ctx_init(&ctx, loop, NULL, 5000, "test");
	assert_int_equal(ecap_httpc_dest_init(&dest, &ctx, url, NULL, err, sizeof(err)), 0);
	h2o_timeout_init(loop, &g->resume_after, 10);
	g->resume.cb = on_resume;
	g->call = &call;
	assert_int_equal(ecap_httpc_start(&dest, &call), 0);
	for (uint64_t until = h2o_now(loop) + 10000; !g->done && h2o_now(loop) < until;)
		h2o_evloop_run(loop, 10);
	assert_true(g->done);
	assert_false(ecap_httpc_running(&call));
	for (unsigned i = 0; i < g->nheld; i++) /* nothing it took was moved */
		let_go(g, i);
	if (sp)
		assert_int_equal(ecap_slab_pool_out(sp), 0);
	if (call.status != 200 || !sp) {
		ecap_buf_free(&g->body);
		ecap_buf_put(&g->body, call.resp.data, call.resp.len);
	}
	ecap_httpc_call_reset(&call);
	ecap_httpc_dest_dispose(&dest);
	ecap_slab_pool_free(sp);
	if (h2o_timeout_is_linked(&g->resume))
		h2o_timeout_unlink(&g->resume);
	h2o_timeout_dispose(loop, &g->resume_after);
	ecap_httpc_ctx_dispose(&ctx);
	peer_stop(peer);
}

static void assert_body(const struct got *g, size_t len)
{
	assert_int_equal(g->body.len, len);
	for (size_t i = 0; i < len; i++)
		if (g->body.data[i] != body_byte(i))
			fail_msg("byte %zu: %u, want %u", i, g->body.data[i], body_byte(i));
}

/* --- cases ------------------------------------------------------------------- */

static void streams_chunked(void **st)
{
	struct peer p = {0};
	struct got g = {.hold = 2};

	chunked(&p.resp, BODY_LEN, 0, 0);
	call_peer(&p, &g, 1);
	assert_null(g.err);
	assert_body(&g, BODY_LEN);
	/* each slab held was let go and its bytes checked (how many were
	 * held depends on how much each read finds) */
	assert_true(g.holds >= 1);
	assert_int_equal(g.checked, g.holds);
	ecap_buf_free(&g.body);
}

/* The head comes alone, the body a while later: nothing to decode at
 * first (no slab yet), then the body whole. */
static void head_before_the_body(void **st)
{
	struct peer p = {.head_alone = 1};
	struct got g = {.hold = 2};

	chunked(&p.resp, RECORD * 700, 0, 0);
	call_peer(&p, &g, 1);
	assert_null(g.err);
	assert_body(&g, RECORD * 700);
	ecap_buf_free(&g.body);
}

/* The consumer holds every slab of the pool for a while: reading waits for
 * one to come back, and goes on. */
static void waits_for_a_slab(void **st)
{
	struct peer p = {0};
	struct got g = {.hold = HELD_MAX};

	chunked(&p.resp, BODY_LEN, 0, 0);
	call_peer(&p, &g, 1);
	assert_null(g.err);
	assert_body(&g, BODY_LEN);
	assert_true(g.checked >= HELD_MAX);
	ecap_buf_free(&g.body);
}

static void streams_by_length_and_to_the_close(void **st)
{
	struct peer p = {0};
	struct got g = {.hold = 2}, g2 = {.hold = 2};

	plain(&p.resp, BODY_LEN, 1);
	p.keep_open_ms = 200; /* the length ends it, not the close */
	call_peer(&p, &g, 1);
	assert_null(g.err);
	assert_body(&g, BODY_LEN);
	ecap_buf_free(&g.body);

	memset(&p, 0, sizeof(p));
	plain(&p.resp, BODY_LEN, 0);
	call_peer(&p, &g2, 1);
	assert_null(g2.err);
	assert_body(&g2, BODY_LEN);
	ecap_buf_free(&g2.body);
}

static void chunked_cut_inside_a_chunk_or_between(void **st)
{
	struct peer p = {0};
	struct got g = {.hold = 2}, g2 = {.hold = 2};

	chunked(&p.resp, BODY_LEN, BODY_LEN / 2, 1);
	call_peer(&p, &g, 1);
	assert_non_null(g.err);
	assert_string_equal(g.err, "I/O error (body; chunked)");

	/* between chunks: taken for the end, as h2o's client does (a capture
	 * stream knows its own end: its statistics) */
	memset(&p, 0, sizeof(p));
	chunked(&p.resp, BODY_LEN, BODY_LEN / 2, 0);
	call_peer(&p, &g2, 1);
	assert_null(g2.err);
	assert_true(g2.body.len <= BODY_LEN / 2);
	ecap_buf_free(&g.body);
	ecap_buf_free(&g2.body);
}

static void refusal_is_collected(void **st)
{
	struct peer p = {0};
	struct got g = {0};
	const char *r = "HTTP/1.1 403 Forbidden\r\nContent-Length: 14\r\n\r\nbad signature\n";

	ecap_buf_put(&p.resp, r, strlen(r));
	call_peer(&p, &g, 1);
	assert_null(g.err);
	assert_int_equal(g.calls, 0);
	assert_int_equal(g.body.len, 14);
	assert_memory_equal(g.body.data, "bad signature\n", 14);
	ecap_buf_free(&g.body);
}

static void record_larger_than_the_pool(void **st)
{
	struct peer p = {0};
	struct got g = {.take_nothing = 1, .hold = 2};

	chunked(&p.resp, BODY_LEN, 0, 0);
	call_peer(&p, &g, 1);
	assert_non_null(g.err);
	assert_string_equal(g.err, "a block larger than the stream's buffers");
	ecap_buf_free(&g.body);
}

static void paused_and_resumed(void **st)
{
	struct peer p = {0};
	struct got g = {.pause_once = 1, .hold = 2};

	chunked(&p.resp, BODY_LEN, 0, 0);
	call_peer(&p, &g, 1);
	assert_null(g.err);
	assert_body(&g, BODY_LEN);
	ecap_buf_free(&g.body);
}

/* Without a pool, through h2o's buffers (the CLI's and the agent's calls). */
static long whole(struct ecap_httpc_call *c, const uint8_t *p, size_t n)
{
	struct got *g = c->data;

	ecap_buf_put(&g->body, p, n);
	return (long)n;
}

static void unstreamed_body(void **st)
{
	struct peer p = {0};
	struct got g = {0};
	struct ecap_httpc_ctx ctx;
	struct ecap_httpc_dest dest;
	struct ecap_httpc_call call = {
	    .method = "GET", .target = "/", .on_body = whole, .on_done = on_done, .data = &g};
	char url[64], err[256];

	chunked(&p.resp, RECORD * 300, 0, 0);
	peer_start(&p);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", p.port);
	ecap_httpc_ctx_init(&ctx, loop, NULL, 5000, "test");
	assert_int_equal(ecap_httpc_dest_init(&dest, &ctx, url, NULL, err, sizeof(err)), 0);
	assert_int_equal(ecap_httpc_start(&dest, &call), 0);
	for (uint64_t until = h2o_now(loop) + 10000; !g.done && h2o_now(loop) < until;)
		h2o_evloop_run(loop, 10);
	assert_true(g.done);
	assert_null(g.err);
	assert_body(&g, RECORD * 300);
	ecap_httpc_call_reset(&call);
	ecap_httpc_dest_dispose(&dest);
	ecap_httpc_ctx_dispose(&ctx);
	peer_stop(&p);
	ecap_buf_free(&g.body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(streams_chunked),
	    cmocka_unit_test(head_before_the_body),
	    cmocka_unit_test(waits_for_a_slab),
	    cmocka_unit_test(streams_by_length_and_to_the_close),
	    cmocka_unit_test(chunked_cut_inside_a_chunk_or_between),
	    cmocka_unit_test(refusal_is_collected),
	    cmocka_unit_test(record_larger_than_the_pool),
	    cmocka_unit_test(paused_and_resumed),
	    cmocka_unit_test(unstreamed_body),
	};

	loop = h2o_evloop_create();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
