/* slab.h - reference-counted byte buffers from pools with a limit, for
 * streams passed on by reference instead of copied at each step: a device's
 * capture stream is read into slabs, and its packets go on as pointers into
 * them (merged, written to the capture file, sent to readers), each holder
 * with a reference on the slab.
 *
 * A pool hands out slabs up to its limit, so references held somewhere hold
 * back whoever takes from it (the reader of a device's stream stops reading
 * until one comes back, and the device's data waits in the device). Slabs
 * that come back are kept, by the pool and then by its cache, which outlives
 * pools: memory once taken and touched is used again instead of being
 * returned and faulted in anew, which costs more than a copy on some
 * virtual machines.
 *
 * Single-threaded: references are taken and dropped on one thread. Another
 * thread may read the bytes of a slab while the first holds a reference for
 * it. */
#ifndef ECAP_SLAB_H
#define ECAP_SLAB_H

#include <stddef.h>
#include <stdint.h>

struct ecap_slab_pool;

struct ecap_slab {
	uint8_t *data;
	size_t cap;
	unsigned refs;
	struct ecap_slab_pool *pool;
	struct ecap_slab *next; /* free: the pool's or the cache's list */
};

/* Slabs of one size kept between pools, up to max bytes; the rest are freed. */
struct ecap_slab_cache {
	size_t size, max, kept;
	struct ecap_slab *free;
};

void ecap_slab_cache_init(struct ecap_slab_cache *c, size_t slab_size, size_t max);
/* Frees the slabs kept. */
void ecap_slab_cache_dispose(struct ecap_slab_cache *c);

/* A pool of the cache's slabs: at most max bytes of them out at once (taken
 * and not yet back). cache NULL: slabs of slab_size of its own. NULL when
 * out of memory. */
struct ecap_slab_pool *ecap_slab_pool_new(struct ecap_slab_cache *cache, size_t slab_size,
					  size_t max);
/* Slabs still referenced go when their last reference does. Accepts NULL. */
void ecap_slab_pool_free(struct ecap_slab_pool *p);
/* A slab of at least min bytes with one reference: the pool's size, or one
 * of its own when min is larger (freed when it comes back). NULL when that
 * would take the pool past its limit, or out of memory. */
struct ecap_slab *ecap_slab_get(struct ecap_slab_pool *p, size_t min);
/* Call fn(data) once, the next time a slab comes back to p (one waiter; a
 * new call replaces it, fn NULL cancels). */
void ecap_slab_pool_wait(struct ecap_slab_pool *p, void (*fn)(void *data), void *data);
/* Bytes of slabs out, and the limit. */
size_t ecap_slab_pool_out(const struct ecap_slab_pool *p);
size_t ecap_slab_pool_max(const struct ecap_slab_pool *p);

static inline void ecap_slab_ref(struct ecap_slab *s)
{
	s->refs++;
}
/* The last reference gives the slab back to its pool. */
void ecap_slab_unref(struct ecap_slab *s);

#endif
