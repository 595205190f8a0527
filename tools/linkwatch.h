/* linkwatch.h - ends a capture when one of its interfaces goes down or
 * disappears, as tcpdump's does ("The interface went down"): a thread
 * reads the kernel's link notifications (rtnetlink) and, at the first such
 * change to one of the interfaces, keeps the reason and sends the process
 * SIGTERM, which the capture's signalfd takes as a stop. Start it with
 * SIGTERM blocked, so that the thread never takes the signal itself. */
#ifndef ECAP_LINKWATCH_H
#define ECAP_LINKWATCH_H

#include <stddef.h>

struct linkwatch;

/* names[i] is the interface with index ifindex[i]: a watcher, or NULL with
 * err set. */
struct linkwatch *linkwatch_start(const int *ifindex, const char *const *names, unsigned n,
				  char *err, size_t errlen);
/* For -i any, which no interface's going ends: fn(ctx) from the watcher's
 * thread at every notification of a new or changed link. */
typedef void linkwatch_new_fn(void *ctx);
struct linkwatch *linkwatch_start_any(linkwatch_new_fn *fn, void *ctx, char *err, size_t errlen);
/* "IF: The interface went down" / "IF: The interface disappeared", or NULL. */
const char *linkwatch_why(struct linkwatch *w);
/* Stops the thread and frees the watcher; accepts NULL. */
void linkwatch_stop(struct linkwatch *w);

#endif
