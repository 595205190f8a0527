/* loader.c - the sessions' programs are loaded on a thread of their own: the
 * kernel's verifier can take seconds over a large filter (a few thousand
 * classic instructions with many paths), and the event loop must go on
 * serving the status, the other captures' streams and the tunnel meanwhile.
 *
 * One job at a time: the loop hands over the sessions to load, the thread
 * loads the program of every hook (ecap_engine_load_sessions) and signals
 * an eventfd the loop watches; the loop then installs the programs. The
 * sessions' filters stay owned by their captures, which are not freed while
 * a job holds them (capture.c). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "agent/agent.h"
#include "capture/engine.h"

struct agent_loader {
	struct agent *a;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int efd;
	int quit;
	int handed; /* a job is handed over and not loaded yet */
	/* the job, written by the loop while the thread waits */
	struct ecap_session s[ECAP_MAX_SESSIONS];
	unsigned n;
	/* its result, read by the loop once the eventfd says so */
	int fds[ECAP_LOAD_FDS];
	int r;
	char err[ECAP_ERRLEN];
};

static void *run(void *arg)
{
	struct agent_loader *l = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (!l->handed && !l->quit)
			pthread_cond_wait(&l->cv, &l->mu);
		if (l->quit)
			break;
		pthread_mutex_unlock(&l->mu);
		l->r = ecap_engine_load_sessions(l->a->engine, l->s, l->n, l->fds, l->err,
						 sizeof(l->err));
		pthread_mutex_lock(&l->mu);
		l->handed = 0;
		if (write(l->efd, &one, sizeof(one)) != sizeof(one))
			abort(); /* an eventfd's counter cannot overflow here */
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

static void on_done(h2o_socket_t *sock, const char *e)
{
	struct agent_loader *l = sock->data;
	int r, fds[ECAP_LOAD_FDS];
	char err[ECAP_ERRLEN];
	uint64_t n;

	if (read(h2o_socket_get_fd(sock), &n, sizeof(n)) != sizeof(n))
		return;
	pthread_mutex_lock(&l->mu);
	r = l->r;
	memcpy(fds, l->fds, sizeof(fds));
	memcpy(err, l->err, sizeof(err));
	pthread_mutex_unlock(&l->mu);
	agent_sessions_loaded(l->a, r, fds, err);
}

int agent_loader_start(struct agent *a, char *err, size_t errlen)
{
	struct agent_loader *l = calloc(1, sizeof(*l));
	int r, watched;

	if (!l)
		return -ENOMEM;
	l->a = a;
	l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->efd < 0) {
		r = -errno;
		free(l);
		snprintf(err, errlen, "eventfd: %s", strerror(-r));
		return r;
	}
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	r = -pthread_create(&l->thread, NULL, run, l);
	if (r) {
		close(l->efd);
		free(l);
		snprintf(err, errlen, "the loader thread: %s", strerror(-r));
		return r;
	}
	watched = dup(l->efd); /* h2o closes its own */
	if (watched < 0) {
		r = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(-r));
		a->loader = l;
		agent_loader_stop(a);
		return r;
	}
	a->loader = l;
	web_watch(a->site.ctx.loop, watched, on_done, l);
	return 0;
}

void agent_loader_submit(struct agent *a, const struct ecap_session *s, unsigned n)
{
	struct agent_loader *l = a->loader;

	pthread_mutex_lock(&l->mu);
	memcpy(l->s, s, n * sizeof(*s));
	l->n = n;
	l->handed = 1;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

/* After the loop has stopped: a job under way is waited for, its
 * programs closed. */
void agent_loader_stop(struct agent *a)
{
	struct agent_loader *l = a->loader;
	uint64_t n;

	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->quit = 1;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thread, NULL);
	if (read(l->efd, &n, sizeof(n)) == sizeof(n) && !l->r)
		for (int h = 0; h < ECAP_LOAD_FDS; h++)
			if (l->fds[h] >= 0)
				close(l->fds[h]);
	close(l->efd);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l);
	a->loader = NULL;
}
