/* slab.c - see slab.h. A slab's bytes are mapped with MAP_POPULATE: its
 * pages are faulted in at once, which costs less than one fault at a time
 * as the first read into it touches them. */
#include "common/slab.h"

#include <stdlib.h>
#include <sys/mman.h>

struct ecap_slab_pool {
	struct ecap_slab_cache *cache; /* &own when the pool has no shared one */
	struct ecap_slab_cache own;
	size_t max, out;
	void (*wait_fn)(void *data);
	void *wait_data;
	int dead;
};

static struct ecap_slab *slab_alloc(size_t size)
{
	struct ecap_slab *s = malloc(sizeof(*s));
	void *d;

	if (!s)
		return NULL;
	d = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1,
		 0);
	if (d == MAP_FAILED) {
		free(s);
		return NULL;
	}
	*s = (struct ecap_slab){.data = d, .cap = size};
	return s;
}

static void slab_free(struct ecap_slab *s)
{
	munmap(s->data, s->cap);
	free(s);
}

void ecap_slab_cache_init(struct ecap_slab_cache *c, size_t slab_size, size_t max)
{
	*c = (struct ecap_slab_cache){.size = slab_size, .max = max};
}

void ecap_slab_cache_dispose(struct ecap_slab_cache *c)
{
	while (c->free) {
		struct ecap_slab *s = c->free;

		c->free = s->next;
		slab_free(s);
	}
	c->kept = 0;
}

struct ecap_slab_pool *ecap_slab_pool_new(struct ecap_slab_cache *cache, size_t slab_size,
					  size_t max)
{
	struct ecap_slab_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->max = max;
	p->cache = cache ? cache : &p->own;
	if (!cache)
		ecap_slab_cache_init(&p->own, slab_size, max);
	return p;
}

static void pool_release(struct ecap_slab_pool *p)
{
	ecap_slab_cache_dispose(&p->own);
	free(p);
}

void ecap_slab_pool_free(struct ecap_slab_pool *p)
{
	if (!p)
		return;
	p->dead = 1;
	p->wait_fn = NULL;
	if (!p->out)
		pool_release(p);
}

struct ecap_slab *ecap_slab_get(struct ecap_slab_pool *p, size_t min)
{
	struct ecap_slab_cache *c = p->cache;
	size_t size = min > c->size ? min : c->size;
	struct ecap_slab *s;

	if (p->out + size > p->max)
		return NULL;
	if (size == c->size && c->free) {
		s = c->free;
		c->free = s->next;
		c->kept -= size;
	} else if (!(s = slab_alloc(size))) {
		return NULL;
	}
	s->refs = 1;
	s->pool = p;
	s->next = NULL;
	p->out += size;
	return s;
}

void ecap_slab_pool_wait(struct ecap_slab_pool *p, void (*fn)(void *data), void *data)
{
	p->wait_fn = fn;
	p->wait_data = data;
}

size_t ecap_slab_pool_out(const struct ecap_slab_pool *p)
{
	return p->out;
}

size_t ecap_slab_pool_max(const struct ecap_slab_pool *p)
{
	return p->max;
}

void ecap_slab_unref(struct ecap_slab *s)
{
	struct ecap_slab_pool *p = s->pool;
	struct ecap_slab_cache *c = p->cache;
	void (*fn)(void *data) = p->wait_fn;

	if (--s->refs)
		return;
	p->out -= s->cap;
	if (s->cap == c->size && c->kept + s->cap <= c->max) {
		s->next = c->free;
		c->free = s;
		c->kept += s->cap;
	} else {
		slab_free(s);
	}
	if (p->dead) {
		if (!p->out)
			pool_release(p);
		return;
	}
	if (fn) {
		p->wait_fn = NULL;
		fn(p->wait_data);
	}
}
