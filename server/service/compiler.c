/* compiler.c - see compiler.h. Each worker is a process spawned from the
 * server's own executable with a socketpair as its fd 3. Messages are a
 * fixed header and its bytes: to the worker {len, linktype, snaplen,
 * cpu_ms} and the expression; back {err, len} and the instructions (err 0)
 * or the error message. A worker takes one job at a time, so its socket
 * never holds more than one request: it is written whole, at once. A
 * worker's end of file (it died: of SIGPROF at its CPU bound, or otherwise)
 * answers its job, if any, and a new one is spawned in its place. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "filter/compile.h"
#include "service/compiler.h"

#define WORKERS_MAX 64

struct req_hdr {
	uint32_t len; /* of the expression that follows */
	int32_t linktype;
	uint32_t snaplen;
	uint32_t cpu_ms;
};

struct rep_hdr {
	int32_t err;  /* 0 or -errno */
	uint32_t len; /* of the instructions or the message that follows */
};

struct srv_compile {
	struct srv_compiler *c;
	h2o_linklist_t link; /* c->queue, while it waits */
	srv_compile_cb *cb;  /* NULL: cancelled */
	void *data;
	int32_t linktype;
	uint32_t snaplen;
	uint32_t len;
	char expr[];
};

struct worker {
	struct srv_compiler *c;
	pid_t pid;		 /* 0: none (spawning failed) */
	h2o_socket_t *sock;	 /* the parent's end */
	struct srv_compile *job; /* being compiled */
	struct rep_hdr hdr;
	size_t have;   /* of the header, then of the body */
	uint8_t *body; /* hdr.len bytes once the header is in */
};

struct srv_compiler {
	h2o_loop_t *loop;
	char exe[256];
	unsigned cpu_ms, nworkers;
	h2o_linklist_t queue;
	unsigned queued;
	struct worker workers[WORKERS_MAX];
};

static void on_readable(h2o_socket_t *sock, const char *e);

/* A worker in w: 0 or -errno. */
static int spawn(struct srv_compiler *c, struct worker *w)
{
	static char arg0[] = "edgecap-server", arg1[] = "compile-worker";
	char *argv[] = {arg0, arg1, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	int sv[2] = {-1, -1}, child = -1, r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	/* above SRV_COMPILER_FD, so that dup2 makes a copy without CLOEXEC */
	child = fcntl(sv[1], F_DUPFD_CLOEXEC, SRV_COMPILER_FD + 1);
	if (child < 0 || fcntl(sv[0], F_SETFL, O_NONBLOCK)) {
		r = -errno;
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, child, SRV_COMPILER_FD);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE); /* ignored here */
	sigaddset(&dfl, SIGPROF); /* its CPU bound */
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	/* its own group: a terminal's Ctrl-C is the server's to handle */
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					  POSIX_SPAWN_SETPGROUP);
	r = -posix_spawn(&w->pid, c->exe, &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	if (r) {
		w->pid = 0;
		goto out;
	}
	w->c = c;
	w->job = NULL;
	w->have = 0;
	w->sock = web_watch(c->loop, sv[0], on_readable, w);
	sv[0] = -1;
out:
	if (child >= 0)
		close(child);
	if (sv[0] >= 0)
		close(sv[0]);
	close(sv[1]);
	return r;
}

/* The worker goes: killed if need be, reaped; its wait status, or -1. */
static int reap(struct worker *w)
{
	int st = -1;

	if (!w->pid)
		return -1;
	/* at its end of file it is exiting already, its status decided */
	kill(w->pid, SIGKILL);
	while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
		;
	w->pid = 0;
	h2o_socket_read_stop(w->sock);
	h2o_socket_close(w->sock);
	w->sock = NULL;
	free(w->body);
	w->body = NULL;
	w->have = 0;
	return st;
}

static void finish(struct srv_compile *j, int err, struct ecap_cbpf *prog, const char *msg)
{
	if (j->cb)
		j->cb(j->data, err, prog, msg);
	else if (prog)
		ecap_cbpf_free(prog);
	free(j);
}

static unsigned live(struct srv_compiler *c)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->nworkers; i++)
		n += c->workers[i].pid != 0;
	return n;
}

/* Spawn in every empty slot; the workers alive. */
static unsigned respawn(struct srv_compiler *c)
{
	for (unsigned i = 0; i < c->nworkers; i++) {
		int r;

		if (c->workers[i].pid)
			continue;
		r = spawn(c, &c->workers[i]);
		if (r)
			ecap_log(LOG_ERR, "compile worker: %s: %s", c->exe, strerror(-r));
	}
	return live(c);
}

/* Waiting jobs to idle workers. A job whose request cannot be written
 * whole is the worker's all the same: the worker is killed, and its end of
 * file answers the job. */
static void dispatch(struct srv_compiler *c)
{
	for (unsigned i = 0; i < c->nworkers && !h2o_linklist_is_empty(&c->queue); i++) {
		struct worker *w = &c->workers[i];
		struct srv_compile *j;
		struct req_hdr h;
		struct iovec iov[2];
		ssize_t n;

		if (!w->pid || w->job)
			continue;
		j = H2O_STRUCT_FROM_MEMBER(struct srv_compile, link, c->queue.next);
		h2o_linklist_unlink(&j->link);
		c->queued--;
		w->job = j;
		h = (struct req_hdr){.len = j->len,
				     .linktype = j->linktype,
				     .snaplen = j->snaplen,
				     .cpu_ms = c->cpu_ms};
		iov[0] = (struct iovec){&h, sizeof(h)};
		iov[1] = (struct iovec){j->expr, j->len};
		do
			n = writev(h2o_socket_get_fd(w->sock), iov, 2);
		while (n < 0 && errno == EINTR);
		if (n != (ssize_t)(sizeof(h) + j->len))
			kill(w->pid, SIGKILL);
	}
}

/* w died: its job answered, a new worker in its place. */
static void worker_died(struct worker *w)
{
	struct srv_compiler *c = w->c;
	struct srv_compile *j = w->job;
	pid_t pid = w->pid;
	char msg[128];
	int st = reap(w);
	unsigned alive;

	w->job = NULL;
	alive = respawn(c); /* before answering: the next job finds a worker */
	if (j) {
		if (WIFSIGNALED(st) && (WTERMSIG(st) == SIGPROF || WTERMSIG(st) == SIGXCPU)) {
			snprintf(msg, sizeof(msg), "compiling took more than %u ms of CPU",
				 c->cpu_ms);
			finish(j, -ETIME, NULL, msg);
		} else {
			snprintf(msg, sizeof(msg), "the compile worker ended (status 0x%x)", st);
			finish(j, -EIO, NULL, msg);
		}
	} else {
		ecap_log(LOG_WARNING, "compile worker %d ended while idle (status 0x%x)", (int)pid,
			 st);
	}
	if (!alive) { /* nothing can compile what waits */
		while (!h2o_linklist_is_empty(&c->queue)) {
			j = H2O_STRUCT_FROM_MEMBER(struct srv_compile, link, c->queue.next);
			h2o_linklist_unlink(&j->link);
			c->queued--;
			finish(j, -EIO, NULL, "no compile worker could be started");
		}
	}
	dispatch(c);
}

/* The reply is in: its job answered. */
static void reply(struct worker *w)
{
	struct srv_compile *j = w->job;
	uint8_t *body = w->body;
	struct rep_hdr h = w->hdr;

	w->job = NULL;
	w->body = NULL;
	w->have = 0;
	if (!h.err) {
		struct ecap_cbpf prog = {.insns = (struct sock_filter *)body,
					 .len = h.len / sizeof(struct sock_filter)};

		body = NULL;
		finish(j, 0, &prog, NULL);
	} else {
		finish(j, h.err, NULL, (const char *)body);
	}
	free(body);
	dispatch(w->c);
}

static void on_readable(h2o_socket_t *sock, const char *e)
{
	struct worker *w = sock->data;
	ssize_t n;

	if (w->have < sizeof(w->hdr)) {
		n = read(h2o_socket_get_fd(sock), (uint8_t *)&w->hdr + w->have,
			 sizeof(w->hdr) - w->have);
	} else {
		n = read(h2o_socket_get_fd(sock), w->body + (w->have - sizeof(w->hdr)),
			 w->hdr.len - (w->have - sizeof(w->hdr)));
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || !w->job) { /* its end, or talking out of turn */
		worker_died(w);
		return;
	}
	w->have += (size_t)n;
	if (w->have == sizeof(w->hdr)) {
		size_t max =
		    w->hdr.err ? ECAP_ERRLEN : SRV_COMPILE_INSNS_MAX * sizeof(struct sock_filter);

		if (w->hdr.len > max || (!w->hdr.err && w->hdr.len % sizeof(struct sock_filter)) ||
		    !(w->body = malloc(w->hdr.len + 1))) {
			worker_died(w);
			return;
		}
		w->body[w->hdr.len] = 0;
	}
	if (w->have == sizeof(w->hdr) + w->hdr.len)
		reply(w);
}

int srv_compiler_new(const struct srv_compiler_conf *conf, struct srv_compiler **ret, char *err,
		     size_t errlen)
{
	struct srv_compiler *c;

	if (!conf->workers || conf->workers > WORKERS_MAX) {
		snprintf(err, errlen, "compile workers: 1 to %d", WORKERS_MAX);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->loop = conf->loop;
	snprintf(c->exe, sizeof(c->exe), "%s", conf->exe ? conf->exe : "/proc/self/exe");
	c->cpu_ms = conf->cpu_ms;
	c->nworkers = conf->workers;
	h2o_linklist_init_anchor(&c->queue);
	for (unsigned i = 0; i < c->nworkers; i++) {
		int r = spawn(c, &c->workers[i]);

		if (r) {
			snprintf(err, errlen, "compile worker %s: %s", c->exe, strerror(-r));
			srv_compiler_free(c);
			return r;
		}
	}
	*ret = c;
	return 0;
}

void srv_compiler_free(struct srv_compiler *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->nworkers; i++) {
		struct worker *w = &c->workers[i];
		struct srv_compile *j = w->job;

		w->job = NULL;
		reap(w);
		if (j)
			finish(j, -ECANCELED, NULL, "the compiler is stopping");
	}
	while (!h2o_linklist_is_empty(&c->queue)) {
		struct srv_compile *j =
		    H2O_STRUCT_FROM_MEMBER(struct srv_compile, link, c->queue.next);

		h2o_linklist_unlink(&j->link);
		finish(j, -ECANCELED, NULL, "the compiler is stopping");
	}
	free(c);
}

int srv_compile_submit(struct srv_compiler *c, const char *expr, int linktype, uint32_t snaplen,
		       srv_compile_cb *cb, void *data, struct srv_compile **ret)
{
	size_t len = strlen(expr);
	struct srv_compile *j;

	if (len > SRV_COMPILE_EXPR_MAX)
		return -E2BIG;
	if (c->queued >= SRV_COMPILE_QUEUE_MAX)
		return -EBUSY;
	if (live(c) < c->nworkers && !respawn(c))
		return -EIO;
	j = calloc(1, sizeof(*j) + len);
	if (!j)
		return -ENOMEM;
	*j = (struct srv_compile){.c = c,
				  .cb = cb,
				  .data = data,
				  .linktype = linktype,
				  .snaplen = snaplen,
				  .len = (uint32_t)len};
	memcpy(j->expr, expr, len);
	h2o_linklist_insert(&c->queue, &j->link);
	c->queued++;
	dispatch(c);
	*ret = j;
	return 0;
}

void srv_compile_cancel(struct srv_compile *j)
{
	j->cb = NULL;
	if (h2o_linklist_is_linked(&j->link)) { /* still waiting: nobody else has it */
		h2o_linklist_unlink(&j->link);
		j->c->queued--;
		free(j);
	}
}

/* The worker's side. */

static int read_full(int fd, void *p, size_t len)
{
	for (size_t at = 0; at < len;) {
		ssize_t n = read(fd, (uint8_t *)p + at, len - at);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		at += (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const struct iovec *iov, int n)
{
	struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
	size_t len = 0;

	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	/* a blocking socket: sendmsg writes it all, or fails */
	return sendmsg(fd, &m, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static void cpu_bound(uint32_t ms)
{
	struct itimerval t = {.it_value = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000}};

	setitimer(ITIMER_PROF, &t, NULL);
}

int srv_compiler_worker_main(void)
{
	static char expr[SRV_COMPILE_EXPR_MAX + 1];
	int fd = SRV_COMPILER_FD;

	/* the server gone, so is its worker, even mid-job */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPROF, SIG_DFL);
	/* the server's descriptors left without CLOEXEC are not the worker's */
	close_range(SRV_COMPILER_FD + 1, ~0u, 0);
	/* it parses what clients send: none of the server's capabilities
	 * (CAP_NET_ADMIN for the tunnel, ambient under systemd) */
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	syscall(SYS_capset, &(struct __user_cap_header_struct){_LINUX_CAPABILITY_VERSION_3, 0},
		(struct __user_cap_data_struct[2]){{0}});
	for (;;) {
		struct ecap_cbpf prog = {0};
		char err[ECAP_ERRLEN];
		struct rep_hdr rh = {0};
		struct iovec iov[2];
		struct req_hdr h;
		int r;

		if (read_full(fd, &h, sizeof(h)))
			return 0; /* the server closed its end */
		if (h.len > SRV_COMPILE_EXPR_MAX || read_full(fd, expr, h.len))
			return 1;
		expr[h.len] = 0;
		cpu_bound(h.cpu_ms); /* SIGPROF's default ends the process */
		r = ecap_filter_compile(expr, h.linktype, h.snaplen, &prog, err, sizeof(err));
		cpu_bound(0);
		if (!r && prog.len > SRV_COMPILE_INSNS_MAX) {
			snprintf(err, sizeof(err), "compiles to %u instructions, more than %u",
				 prog.len, SRV_COMPILE_INSNS_MAX);
			r = -E2BIG;
		}
		if (!r) {
			iov[1] = (struct iovec){prog.insns, prog.len * sizeof(*prog.insns)};
		} else {
			if (r != -EINVAL && r != -E2BIG)
				snprintf(err, sizeof(err), "%s", strerror(-r));
			iov[1] = (struct iovec){err, strlen(err)};
		}
		rh = (struct rep_hdr){.err = r, .len = (uint32_t)iov[1].iov_len};
		iov[0] = (struct iovec){&rh, sizeof(rh)};
		r = write_full(fd, iov, 2);
		ecap_cbpf_free(&prog);
		if (r)
			return 1;
	}
}
