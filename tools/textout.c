/* textout.c - see textout.h. */
#include "textout.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/buf.h"
#include "print/printer.h"

struct textout {
	pid_t pid;
	int err_fd; /* the printer's standard error */
	pthread_t thread;
	char last[256]; /* its last line there, for the error */
};

/* tcpdump -r's second line for a LINUX_SLL2 file: names come from the
 * reader's interfaces, which here are the capture's (see keep_net). */
#define SLL2_WARNING "Warning: interface names might be incorrect\n"

/* Pass the printer's standard error on, but for its banner (and the SLL2
 * warning after it). */
static void *relay_errors(void *arg)
{
	struct textout *t = arg;
	char buf[4096];
	size_t have = 0;
	ssize_t n;
	int first = 1, second = 0;

	while ((n = read(t->err_fd, buf + have, sizeof(buf) - have)) > 0 ||
	       (n < 0 && errno == EINTR)) {
		char *nl;

		if (n < 0)
			continue;
		have += (size_t)n;
		while ((nl = memchr(buf, '\n', have)) || have == sizeof(buf)) {
			size_t len = nl ? (size_t)(nl - buf) + 1 : have;

			int banner =
			    first && !strncmp(buf, SRV_PRINTER_BANNER, strlen(SRV_PRINTER_BANNER));

			if (second && len == strlen(SLL2_WARNING) &&
			    !memcmp(buf, SLL2_WARNING, len))
				banner = 1;
			second = first && banner;
			if (!banner) {
				if (ecap_write_all(STDERR_FILENO, buf, len))
					break;
				snprintf(t->last, sizeof(t->last), "%.*s", (int)(len - !!nl), buf);
			}
			first = 0;
			memmove(buf, buf + len, have - len);
			have -= len;
		}
	}
	if (have)
		ecap_write_all(STDERR_FILENO, buf, have);
	close(t->err_fd);
	return NULL;
}

struct textout *textout_start(const char *const *args, int keep_net, int *out_fd, char *err,
			      size_t errlen)
{
	struct textout *t = calloc(1, sizeof(*t));
	int in[2] = {-1, -1}, er[2] = {-1, -1};
	unsigned flags = 0;

	for (const char *const *a = args; *a; a++)
		if (!keep_net && (*a)[0] == '-' && (*a)[1] != '-' && strchr(*a, 'n'))
			flags |= SRV_PRINTER_NO_NET; /* no names: no network */
	if (!t || pipe2(in, O_CLOEXEC) || pipe2(er, O_CLOEXEC)) {
		snprintf(err, errlen, "text output: %s", t ? strerror(errno) : "out of memory");
		goto fail;
	}
	t->pid = srv_printer_spawn(args, flags, in[0], STDOUT_FILENO, er[1], err, errlen);
	if (t->pid < 0)
		goto fail;
	close(in[0]);
	close(er[1]);
	in[0] = er[1] = -1;
	t->err_fd = er[0];
	if (pthread_create(&t->thread, NULL, relay_errors, t)) {
		snprintf(err, errlen, "text output: cannot start its thread");
		close(in[1]);
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
		close(t->err_fd);
		free(t);
		return NULL;
	}
	*out_fd = in[1];
	return t;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (er[i] >= 0)
			close(er[i]);
	}
	free(t);
	return NULL;
}

int textout_finish(struct textout *t, char *err, size_t errlen)
{
	int st = 0, r = 0;

	if (!t)
		return 0;
	while (waitpid(t->pid, &st, 0) < 0 && errno == EINTR)
		;
	pthread_join(t->thread, NULL);
	/* a reader gone (SIGPIPE) is how `| head` ends; anything else is not */
	if (WIFSIGNALED(st) && WTERMSIG(st) != SIGPIPE) {
		snprintf(err, errlen, "text output: tcpdump ended by signal %d", WTERMSIG(st));
		r = -EPROTO;
	} else if (WIFEXITED(st) && WEXITSTATUS(st)) {
		snprintf(err, errlen, "text output: tcpdump failed%s%s", t->last[0] ? ": " : "",
			 t->last);
		r = -EPROTO;
	}
	free(t);
	return r;
}
