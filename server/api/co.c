/* co.c - see co.h. A coroutine is a ucontext with a stack of its own
 * (STACK bytes, a page below it that faults); it runs until its handler
 * ends, or until a statement of the handler's waits: then the socket of its
 * connection is watched by the loop (a dup, which the watch closes), and
 * the loop's callback switches back into it when there is an answer to
 * read. One thread: the running coroutine is a plain variable. */
#include "api/co.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "common/web.h"

#define STACK (256u << 10)
#define GUARD 4096

struct co {
	ucontext_t ctx, back; /* its own; where it goes back to when it waits or ends */
	char *stack;	      /* GUARD, then STACK */
	void *conn;	      /* its registry connection (reg_async) */
	void *local;	      /* srv_co_local */
	void (*fn)(void *);
	void *arg;
	int busy;
};

static struct {
	h2o_loop_t *loop;
	struct reg *reg;
	struct co *cos;
	unsigned n, waiting;
	uint64_t started;
	struct co *running;
	int inlined;	       /* srv_co_inline: on a coroutine's stack, as the loop */
	struct co *inlined_co; /* whose (its srv_co_local still) */
} S;

static void **slot(void *data)
{
	(void)data;
	return S.running ? &S.running->conn : NULL;
}

static void resume(struct co *c)
{
	S.running = c;
	swapcontext(&c->back, &c->ctx);
	S.running = NULL;
}

static void on_ready(h2o_socket_t *sock, const char *err)
{
	struct co *c = sock->data;

	(void)err; /* a broken connection is libpq's to say */
	h2o_socket_read_stop(sock);
	h2o_socket_close(sock);
	S.waiting--;
	resume(c);
}

static void wait_fd(void *data, int fd)
{
	struct co *c = S.running;
	int d = c ? dup(fd) : -1;

	(void)data;
	if (d < 0) { /* no descriptor left: wait here, the loop with it */
		struct pollfd p = {.fd = fd, .events = POLLIN};

		poll(&p, 1, -1);
		return;
	}
	web_watch(S.loop, d, on_ready, c);
	S.waiting++;
	swapcontext(&c->ctx, &c->back);
}

static void trampoline(void)
{
	struct co *c = S.running;

	c->fn(c->arg);
	reg_async_give(S.reg, &c->conn);
	c->busy = 0;
	swapcontext(&c->ctx, &c->back); /* not resumed again: made anew */
}

static int run(void *data, void (*fn)(void *), void *arg)
{
	(void)data;
	return srv_co_run(fn, arg);
}

int srv_co_start(h2o_loop_t *loop, struct reg *reg, unsigned n)
{
	const struct reg_async a = {.slot = slot, .wait = wait_fd, .run = run};
	int e;

	S = (typeof(S)){.loop = loop, .reg = reg};
	if (!n)
		return 0;
	S.cos = calloc(n, sizeof(*S.cos));
	if (!S.cos)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		char *m = mmap(NULL, GUARD + STACK, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

		if (m == MAP_FAILED || mprotect(m, GUARD, PROT_NONE)) {
			if (m != MAP_FAILED)
				munmap(m, GUARD + STACK);
			srv_co_stop();
			return -ENOMEM;
		}
		S.cos[S.n++].stack = m;
	}
	e = reg_async_start(reg, &a, n);
	if (e) {
		srv_co_stop();
		return e == -EOPNOTSUPP ? 0 : e;
	}
	return (int)S.n;
}

void srv_co_stop(void)
{
	/* coroutines still waiting go with the process, as their requests do */
	for (unsigned i = 0; i < S.n; i++)
		if (!S.cos[i].busy)
			munmap(S.cos[i].stack, GUARD + STACK);
	free(S.cos);
	S.cos = NULL;
	S.n = 0;
}

int srv_co_run(void (*fn)(void *), void *arg)
{
	struct co *c = NULL;

	if (S.running || S.inlined)
		return 0;
	for (unsigned i = 0; i < S.n && !c; i++)
		if (!S.cos[i].busy)
			c = &S.cos[i];
	if (!c || reg_async_take(S.reg, &c->conn))
		return 0;
	c->busy = 1;
	c->fn = fn;
	c->arg = arg;
	c->local = NULL;
	getcontext(&c->ctx);
	c->ctx.uc_stack.ss_sp = c->stack + GUARD;
	c->ctx.uc_stack.ss_size = STACK;
	c->ctx.uc_link = NULL;
	makecontext(&c->ctx, trampoline, 0);
	S.started++;
	resume(c);
	return 1;
}

void srv_co_inline(void (*fn)(void *), void *arg)
{
	struct co *c = S.running, *was = S.inlined_co;

	S.running = NULL;
	S.inlined++;
	S.inlined_co = c ? c : was;
	fn(arg);
	S.inlined_co = was;
	S.inlined--;
	S.running = c;
}

void **srv_co_local(void)
{
	struct co *c = S.running ? S.running : S.inlined_co;

	return c ? &c->local : NULL;
}

void srv_co_stats(unsigned *waiting, uint64_t *started)
{
	*waiting = S.waiting;
	*started = S.started;
}
