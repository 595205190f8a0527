/* textout.c - see textout.h. */
#include "textout.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"

#define CHUNK (256u << 10)

struct textout {
	int rfd;
	struct srv_text *tx;
	pthread_t thread;
	int bad; /* the decoder refused the stream */
};

static void *run(void *arg)
{
	struct textout *t = arg;
	struct ecap_buf lines = {0};
	char *buf = malloc(CHUNK);
	ssize_t n;

	while (buf && ((n = read(t->rfd, buf, CHUNK)) > 0 || (n < 0 && errno == EINTR))) {
		if (n < 0)
			continue;
		lines.len = 0;
		if (srv_text_feed(t->tx, &lines, buf, (size_t)n)) {
			t->bad = 1;
			break;
		}
		if (lines.len && ecap_write_all(STDOUT_FILENO, lines.data, lines.len))
			break; /* the reader went: so does the pipe, and the capture */
	}
	free(buf);
	ecap_buf_free(&lines);
	close(t->rfd);
	t->rfd = -1;
	return NULL;
}

struct textout *textout_start(enum srv_text_time time, int *out_fd, char *err, size_t errlen)
{
	struct textout *t = calloc(1, sizeof(*t));
	int p[2] = {-1, -1};

	if (!t || !(t->tx = srv_text_new()) || pipe2(p, O_CLOEXEC)) {
		snprintf(err, errlen, "text output: %s", t ? strerror(errno) : "out of memory");
		goto fail;
	}
	srv_text_style(t->tx, 0, time);
	t->rfd = p[0];
	if (pthread_create(&t->thread, NULL, run, t)) {
		snprintf(err, errlen, "text output: cannot start its thread");
		goto fail;
	}
	*out_fd = p[1];
	return t;
fail:
	if (p[0] >= 0) {
		close(p[0]);
		close(p[1]);
	}
	if (t)
		srv_text_free(t->tx);
	free(t);
	return NULL;
}

int textout_finish(struct textout *t, char *err, size_t errlen)
{
	int r = 0;

	if (!t)
		return 0;
	pthread_join(t->thread, NULL);
	if (t->bad) {
		snprintf(err, errlen, "text output: %s", srv_text_error(t->tx));
		r = -EPROTO;
	}
	srv_text_free(t->tx);
	free(t);
	return r;
}
