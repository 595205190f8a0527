/* rotate.c - see rotate.h. The rules are tcpdump 4.99's (tcpdump.c's
 * dump_packet_and_trunc), checked before each packet is written:
 * - -G: when N seconds have passed since the current file began (so a
 *   quiet capture keeps its file), the next file is named by strftime on
 *   the current time; with -W and no -C, the capture ends after N files.
 * - -C: when the current file already holds more than N * 1,000,000 bytes,
 *   the packet goes to the next file: numbers 1, 2, ... appended to the name
 *   (the first file has none), or with -W numbers 0 .. W-1 padded to the
 *   digits of W-1 and then 0 again (a ring); -G starts a new sequence.
 * - -z: CMD FILE, without a shell, at the lowest priority, in parallel. */
#include "rotate.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture/streamer.h"

static unsigned digits(unsigned w)
{
	unsigned c = 0;

	for (w = w ? w - 1 : 0; w; w /= 10)
		c++;
	return c;
}

/* tcpdump's MakeFilename: strftime with -G, then the number (none for the
 * first file without -W). */
static int make_name(const struct rotate *r, char *ret, size_t len, unsigned n, unsigned width)
{
	char base[sizeof(r->current)];
	struct tm tm;
	int k;

	if (r->g_seconds) {
		/* the user's pattern, as tcpdump's -G takes it */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		if (!localtime_r(&r->g_time, &tm) || !strftime(base, sizeof(base), r->pattern, &tm))
			return -ENAMETOOLONG;
#pragma GCC diagnostic pop
	} else {
		snprintf(base, sizeof(base), "%s", r->pattern);
	}
	if (n == 0 && width == 0)
		k = snprintf(ret, len, "%s", base);
	else
		k = snprintf(ret, len, "%s%0*u", base, (int)width, n);
	return k < 0 || (size_t)k >= len ? -ENAMETOOLONG : 0;
}

static int open_file(const char *name)
{
	int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0) {
		fd = -errno;
		fprintf(stderr, "edgecap: %s: %s\n", name, strerror(-fd));
	}
	return fd;
}

static void reap(struct rotate *r)
{
	for (unsigned i = 0; i < r->nchild;) {
		if (waitpid(r->child[i], NULL, WNOHANG) != 0)
			r->child[i] = r->child[--r->nchild];
		else
			i++;
	}
}

/* CMD FILE in a child of ours; the capture does not wait for it. The child
 * gets the signals the capture blocked or ignored back as they were. */
static void post_rotate(struct rotate *r, const char *file)
{
	sigset_t none;
	pid_t pid;

	reap(r);
	if (r->nchild == ROTATE_MAX_CHILDREN) { /* bounded: wait for the oldest */
		waitpid(r->child[0], NULL, 0);
		r->child[0] = r->child[--r->nchild];
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "edgecap: -z %s %s: fork: %s\n", r->z_cmd, file, strerror(errno));
		return;
	}
	if (pid > 0) {
		r->child[r->nchild++] = pid;
		return;
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setpriority(PRIO_PROCESS, 0, 19);
	execlp(r->z_cmd, r->z_cmd, file, (char *)NULL);
	fprintf(stderr, "edgecap: -z %s %s: %s\n", r->z_cmd, file, strerror(errno));
	_exit(127);
}

int rotate_open(struct rotate *r)
{
	int fd;

	if (!strcmp(r->pattern, "-")) {
		fprintf(stderr, "edgecap: -G, -C and -W need a file name in -w, not '-'\n");
		return -1;
	}
	r->w_chars = r->c_bytes ? digits(r->w_files) : 0;
	r->g_time = time(NULL);
	if (make_name(r, r->current, sizeof(r->current), 0, r->w_chars)) {
		fprintf(stderr, "edgecap: -w %s: file name too long\n", r->pattern);
		return -1;
	}
	fd = open_file(r->current);
	r->fd = fd < 0 ? -1 : fd;
	return r->fd;
}

int rotate_due(void *ctx, uint64_t file_bytes)
{
	struct rotate *r = ctx;
	time_t t;

	if (r->g_seconds && (t = time(NULL)) - r->g_time >= (time_t)r->g_seconds) {
		r->g_time = t;
		r->g_count++;
		if (!r->c_bytes && r->w_files && r->g_count >= r->w_files) {
			r->limit = 1;
			return ECAP_ROTATE_END;
		}
		r->c_count = 0;
		return make_name(r, r->next, sizeof(r->next), 0, r->w_chars) ? ECAP_ROTATE_END
									     : ECAP_ROTATE_NEW;
	}
	if (r->c_bytes && file_bytes > r->c_bytes) {
		r->c_count++;
		if (r->w_files && r->c_count >= r->w_files)
			r->c_count = 0;
		return make_name(r, r->next, sizeof(r->next), r->c_count, r->w_chars)
			   ? ECAP_ROTATE_END
			   : ECAP_ROTATE_NEW;
	}
	return ECAP_ROTATE_NO;
}

int rotate_next(void *ctx, int old_fd)
{
	struct rotate *r = ctx;

	close(old_fd);
	r->fd = -1;
	if (r->z_cmd)
		post_rotate(r, r->current);
	memcpy(r->current, r->next, sizeof(r->current));
	r->fd = open_file(r->current);
	return r->fd;
}

void rotate_close(struct rotate *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (r->limit) { /* once: the error path may close again */
		r->limit = 0;
		fprintf(stderr, "Maximum file limit reached: %u\n", r->w_files);
		if (r->z_cmd)
			post_rotate(r, r->current);
	}
	reap(r);
}
