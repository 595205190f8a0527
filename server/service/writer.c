/* writer.c - see writer.h. One thread takes jobs from a queue under a
 * mutex and puts them, written, on a done list; an eventfd the loop
 * watches says when that list has something. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "service/writer.h"

struct srv_writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct srv_write_job *queue, **queue_tail; /* to write, in order */
	struct srv_write_job *done, **done_tail;
	int stop, efd;
	size_t pending; /* given and not yet heard of (the loop's) */
	h2o_socket_t *watch;
};

/* All of j's bytes at its offset: 0 or -errno. */
static int write_job(struct srv_write_job *j)
{
	struct iovec iov[IOV_MAX];
	uint64_t off = j->off;
	size_t at = 0, skip = 0;

	while (at < j->n) {
		size_t k;
		ssize_t w;

		for (k = 0; k < j->n - at && k < IOV_MAX; k++)
			iov[k] = j->iov[at + k];
		iov[0].iov_base = (uint8_t *)iov[0].iov_base + skip;
		iov[0].iov_len -= skip;
		w = pwritev(j->fd, iov, (int)k, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		off += (uint64_t)w;
		/* past what was written: whole pieces, then into the next */
		for (w += (ssize_t)skip, skip = 0; at < j->n && (size_t)w >= j->iov[at].iov_len;
		     at++)
			w -= (ssize_t)j->iov[at].iov_len;
		skip = (size_t)w;
	}
	return 0;
}

static void *run(void *arg)
{
	struct srv_writer *w = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct srv_write_job *j;

		while (!w->queue && !w->stop)
			pthread_cond_wait(&w->more, &w->lock);
		if (!w->queue)
			break;
		j = w->queue;
		w->queue = j->next;
		if (!w->queue)
			w->queue_tail = &w->queue;
		pthread_mutex_unlock(&w->lock);
		j->err = write_job(j);
		j->next = NULL;
		pthread_mutex_lock(&w->lock);
		*w->done_tail = j;
		w->done_tail = &j->next;
		if (write(w->efd, &one, sizeof(one)) < 0) {
			/* the counter is past 2^64 - 2: the loop has been told */
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Hear of the jobs written so far. */
static void collect(struct srv_writer *w)
{
	struct srv_write_job *j;

	pthread_mutex_lock(&w->lock);
	j = w->done;
	w->done = NULL;
	w->done_tail = &w->done;
	pthread_mutex_unlock(&w->lock);
	while (j) {
		struct srv_write_job *next = j->next;

		w->pending--;
		j->done(j, j->err);
		j = next;
	}
}

static void on_done(h2o_socket_t *sock, const char *err)
{
	struct srv_writer *w = sock->data;
	uint64_t n;

	if (read(w->efd, &n, sizeof(n)) < 0) {
		/* EAGAIN: another turn took it */
	}
	collect(w);
}

struct srv_writer *srv_writer_new(h2o_loop_t *loop)
{
	struct srv_writer *w = calloc(1, sizeof(*w));
	int fd;

	if (!w)
		return NULL;
	w->queue_tail = &w->queue;
	w->done_tail = &w->done;
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	fd = w->efd >= 0 ? dup(w->efd) : -1; /* h2o closes the one it watches */
	if (fd < 0 || pthread_mutex_init(&w->lock, NULL) || pthread_cond_init(&w->more, NULL) ||
	    pthread_create(&w->thread, NULL, run, w)) {
		if (fd >= 0)
			close(fd);
		if (w->efd >= 0)
			close(w->efd);
		free(w);
		return NULL;
	}
	w->watch = web_watch(loop, fd, on_done, w);
	return w;
}

void srv_writer_submit(struct srv_writer *w, struct srv_write_job *j)
{
	j->next = NULL;
	w->pending++;
	pthread_mutex_lock(&w->lock);
	*w->queue_tail = j;
	w->queue_tail = &j->next;
	pthread_cond_signal(&w->more);
	pthread_mutex_unlock(&w->lock);
}

void srv_writer_free(struct srv_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_cond_signal(&w->more);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	while (w->pending)
		collect(w);
	h2o_socket_read_stop(w->watch);
	h2o_socket_close(w->watch);
	close(w->efd);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->more);
	free(w);
}
