/* writer.h - writes to files on a thread of its own, so that the loop's
 * thread does not wait on the page cache: a capture file's first writes
 * fault in fresh pages, which on some virtual machines costs more than
 * everything else the server does with the bytes. The loop hands over a
 * job (a gather list at a file offset) and hears of it when it is written,
 * on its own thread, from the loop; the bytes stay the caller's, and must
 * stay put, until then. Jobs run in the order given. */
#ifndef SRV_WRITER_H
#define SRV_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/web.h"

struct srv_writer;

struct srv_write_job {
	int fd;
	uint64_t off;
	const struct iovec *iov; /* the caller's, as the bytes */
	size_t n;
	/* On the loop's thread: err 0, or the first -errno of the writes. */
	void (*done)(struct srv_write_job *j, int err);
	/* the writer's own */
	int err;
	struct srv_write_job *next;
};

/* A writer whose jobs are heard of on loop, or NULL (errno set). */
struct srv_writer *srv_writer_new(h2o_loop_t *loop);
/* Every job given is written and heard of first. Accepts NULL. */
void srv_writer_free(struct srv_writer *w);
void srv_writer_submit(struct srv_writer *w, struct srv_write_job *j);

#endif
