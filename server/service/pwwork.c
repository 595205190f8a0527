/* pwwork.c - see pwwork.h. Jobs go on a queue under a mutex; threads take
 * them, and put them on a done list with a byte down a pipe, which the loop
 * watches. A cancelled job is freed where it is next seen. */
#include "service/pwwork.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/web.h"
#include "service/password.h"

#define THREADS_MAX 16

struct srv_pwjob {
	struct srv_pwjob *next;
	int verify;	  /* else hash */
	int ok;		  /* the answer */
	srv_pwjob_cb *cb; /* NULL: cancelled */
	void *data;
	char hash[SRV_PW_HASH_MAX];
	char pw[SRV_PW_MAX + 1];
};

struct srv_pwwork {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct srv_pwjob *queue, **queue_tail, *done;
	unsigned queued, queue_max, nthreads;
	int stop;
	int pipe[2];
	h2o_socket_t *sock;
	pthread_t threads[THREADS_MAX];
};

static void *run(void *arg)
{
	struct srv_pwwork *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct srv_pwjob *j;

		while (!w->stop && !w->queue)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		j = w->queue;
		w->queue = j->next;
		if (!w->queue)
			w->queue_tail = &w->queue;
		w->queued--;
		pthread_mutex_unlock(&w->mu);
		if (!j->verify)
			j->ok = srv_pw_hash(j->pw, j->hash);
		else if (j->hash[0])
			j->ok = srv_pw_verify(j->hash, j->pw);
		else /* no such user: the same work, no */
			srv_pw_verify_nobody(j->pw);
		sodium_memzero(j->pw, sizeof(j->pw));
		pthread_mutex_lock(&w->mu);
		j->next = w->done;
		w->done = j;
		if (write(w->pipe[1], "", 1) < 0) {
			/* full: the loop has bytes to read and will see this job */
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void on_done(h2o_socket_t *sock, const char *err)
{
	struct srv_pwwork *w = sock->data;
	struct srv_pwjob *j, *next;
	char buf[64];

	while (read(w->pipe[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&w->mu);
	j = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->mu);
	for (; j; j = next) { /* (newest first: each answers its own request) */
		next = j->next;
		if (j->cb)
			j->cb(j->data, j->ok, j->verify ? NULL : j->hash);
		free(j);
	}
}

int srv_pwwork_new(h2o_loop_t *loop, unsigned threads, unsigned queue_max, struct srv_pwwork **ret)
{
	struct srv_pwwork *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	if (srv_pw_init() || pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK)) {
		free(w);
		return -EIO;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->queue_tail = &w->queue;
	w->queue_max = queue_max;
	w->sock = web_watch(loop, w->pipe[0], on_done, w);
	for (unsigned i = 0; i < threads && i < THREADS_MAX; i++)
		if (!pthread_create(&w->threads[w->nthreads], NULL, run, w))
			w->nthreads++;
	if (!w->nthreads) {
		srv_pwwork_free(w);
		return -EAGAIN;
	}
	*ret = w;
	return 0;
}

void srv_pwwork_free(struct srv_pwwork *w)
{
	struct srv_pwjob *j, *next;

	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (unsigned i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	for (j = w->queue; j; j = next) {
		next = j->next;
		if (j->cb)
			j->cb(j->data, -ECANCELED, NULL);
		free(j);
	}
	for (j = w->done; j; j = next) {
		next = j->next;
		if (j->cb)
			j->cb(j->data, -ECANCELED, NULL);
		free(j);
	}
	if (w->sock)
		h2o_socket_close(w->sock); /* closes pipe[0] */
	close(w->pipe[1]);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

static int submit(struct srv_pwwork *w, int verify, const char *hash, const char *pw,
		  srv_pwjob_cb *cb, void *data, struct srv_pwjob **ret)
{
	struct srv_pwjob *j;

	if (strlen(pw) > SRV_PW_MAX)
		return -E2BIG;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->verify = verify;
	j->cb = cb;
	j->data = data;
	snprintf(j->hash, sizeof(j->hash), "%s", hash ? hash : "");
	snprintf(j->pw, sizeof(j->pw), "%s", pw);
	pthread_mutex_lock(&w->mu);
	if (w->queued >= w->queue_max) {
		pthread_mutex_unlock(&w->mu);
		sodium_memzero(j->pw, sizeof(j->pw));
		free(j);
		return -EBUSY;
	}
	*w->queue_tail = j;
	w->queue_tail = &j->next;
	w->queued++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	*ret = j;
	return 0;
}

int srv_pw_verify_async(struct srv_pwwork *w, const char *hash, const char *pw, srv_pwjob_cb *cb,
			void *data, struct srv_pwjob **ret)
{
	return submit(w, 1, hash, pw, cb, data, ret);
}

int srv_pw_hash_async(struct srv_pwwork *w, const char *pw, srv_pwjob_cb *cb, void *data,
		      struct srv_pwjob **ret)
{
	return submit(w, 0, NULL, pw, cb, data, ret);
}

void srv_pwjob_cancel(struct srv_pwjob *j)
{
	/* read by the loop only (callbacks run there), so no lock: the job is
	 * freed when the thread hands it back */
	j->cb = NULL;
}
