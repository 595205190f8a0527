/* buf.h - a growable byte buffer whose first allocation failure sticks, so
 * that a writer appends without checking each step and checks once. */
#ifndef ECAP_BUF_H
#define ECAP_BUF_H

#include <stddef.h>
#include <stdint.h>

struct ecap_buf {
	uint8_t *data;
	size_t len, cap;
	int err; /* sticky -ENOMEM */
};

void ecap_buf_free(struct ecap_buf *b);
void ecap_buf_reset(struct ecap_buf *b);
/* Write all n bytes to fd (retrying short writes and EINTR): 0 or -errno. */
int ecap_write_all(int fd, const void *p, size_t n);

/* Room for n more bytes at the end (len grows by n): where they go, or
 * NULL with b->err set. */
uint8_t *ecap_buf_grow(struct ecap_buf *b, size_t n);
/* Append n bytes: 0 or -ENOMEM (sticky in b->err). */
int ecap_buf_put(struct ecap_buf *b, const void *p, size_t n);

#endif
