/* co.h - request handlers on coroutines of their own, so that their
 * registry statements wait without holding up the loop (registry.h's
 * reg_async). A handler started on a coroutine runs on the loop's thread
 * as before until a statement of its waits for PostgreSQL's answer; then
 * the loop goes on with other requests, and the handler goes on where it
 * was when the answer comes. Each coroutine has a stack and a registry
 * connection of its own; when every one is busy, a handler runs on the
 * loop as it always did.
 *
 * What a handler on a coroutine may do: read and write the registry and
 * answer its request. What it must not: keep a pointer to the loop's own
 * objects (captures, tunnel sessions, readers) across a statement, which
 * may find them gone. The routes that do (router.c) stay on the loop, or
 * do their statements first and then make and use those objects in
 * srv_co_inline (a capture's start). */
#ifndef SRV_CO_H
#define SRV_CO_H

#include <h2o.h>

#include "service/registry.h"

/* Coroutines with a connection each: their number (0 when the registry
 * waits for nothing: SQLite), or -errno. */
int srv_co_start(h2o_loop_t *loop, struct reg *reg, unsigned n);
void srv_co_stop(void);
/* fn(arg) on a free coroutine: 1 (it ran until it ended or waited), or 0
 * when there is none (or this is one already): run it yourself. */
int srv_co_run(void (*fn)(void *), void *arg);
/* fn(arg) as on the loop, from a coroutine or the loop: its statements
 * wait on the loop's own connection, nothing comes between them. For what
 * makes and uses the loop's objects, after a coroutine's statements. */
void srv_co_inline(void (*fn)(void *), void *arg);
/* The running coroutine's own pointer (NULL on the loop itself). */
void **srv_co_local(void);
/* Handlers waiting now, and started on coroutines since the start. */
void srv_co_stats(unsigned *waiting, uint64_t *started);

#endif
