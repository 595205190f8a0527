/* buf.c - growable byte buffers, see buf.h. */
#include "common/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ecap_buf_free(struct ecap_buf *b)
{
	if (!b)
		return;
	free(b->data);
	memset(b, 0, sizeof(*b));
}

int ecap_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *at = p;

	while (n) {
		ssize_t k = write(fd, at, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		at += k;
		n -= (size_t)k;
	}
	return 0;
}

void ecap_buf_reset(struct ecap_buf *b)
{
	b->len = 0;
}

/* n more bytes at the end of b, or NULL (b->err set) */
uint8_t *ecap_buf_grow(struct ecap_buf *b, size_t n)
{
	uint8_t *p;

	if (b->err)
		return NULL;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *d;

		while (cap < b->len + n)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->data = d;
		b->cap = cap;
	}
	p = b->data + b->len;
	b->len += n;
	return p;
}

int ecap_buf_put(struct ecap_buf *b, const void *p, size_t n)
{
	uint8_t *d = ecap_buf_grow(b, n);

	if (d)
		memcpy(d, p, n);
	return b->err;
}
