/* sharkd.c - see sharkd.h. */
#include "service/sharkd.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS	  1000
#define CPU_MAX_S 3600 /* a backstop: idle processes are stopped long before */
#define FILE_FD	  3
#define FILE_ARG  "/proc/self/fd/3"

struct srv_sharkd_call {
	struct srv_sharkd_call *next;
	uint64_t id;
	srv_sharkd_cb *cb; /* NULL: cancelled, or the load we send ourselves */
	void *data;
	int64_t deadline;
};

struct proc {
	pid_t pid; /* 0: the slot is free */
	uint64_t key;
	int in;		   /* its standard input */
	h2o_socket_t *out; /* its standard output */
	int file;	   /* the capture, its fd 3 */
	off_t loaded;	   /* the file's size at the last load */
	unsigned loads;	   /* loads so far */
	unsigned queued;   /* calls sent, not yet answered */
	size_t scanned;	   /* bytes of its output known to hold no newline */
	gid_t file_gid;	   /* the file's group and mode before it was lent */
	mode_t file_mode;
	struct srv_sharkd_call *head, *tail;
	int64_t last; /* ms: its last call */
	struct srv_sharkd_pool *pool;
};

struct srv_sharkd_pool {
	struct srv_sharkd_conf conf;
	struct proc *procs; /* conf.max slots */
	uint64_t next_id;
	h2o_timeout_t tick;
	h2o_timeout_entry_t tick_entry;
};

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void limit(int what, rlim_t v)
{
	struct rlimit l = {v, v};

	if (setrlimit(what, &l))
		_exit(126);
}

/* In the child: confine, then exec; on failure the errno goes to report. */
static void child(const struct srv_sharkd_conf *c, unsigned slot, int in, int out, int file,
		  int report, char *path_env)
{
	char home[] = "HOME=/nonexistent";
	char *const env[] = {path_env, home, NULL};
	char *const argv[] = {(char *)(c->exe ? c->exe : "sharkd"), (char *)"-", NULL};
	id_t id = SRV_SHARKD_ID_BASE + slot;
	int nul, e;

	pid_t parent = getppid();

	setpgid(0, 0);
	nul = open("/dev/null", O_WRONLY);
	if (nul < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(nul, 2) < 0 ||
	    dup2(file, FILE_FD) < 0)
		goto fail;
	for (int fd = FILE_FD + 1; fd < 1024; fd++)
		if (fd != report)
			close(fd);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	signal(SIGXFSZ, SIG_IGN); /* a write past the bound fails, no more */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (unshare(CLONE_NEWNET | CLONE_NEWIPC))
		goto fail;
	limit(RLIMIT_AS, (rlim_t)c->mem_mib << 20);
	limit(RLIMIT_CPU, CPU_MAX_S);
	limit(RLIMIT_FSIZE, 0);
	limit(RLIMIT_CORE, 0);
	limit(RLIMIT_NOFILE, 64);
	limit(RLIMIT_NPROC, 16); /* its own user's: it alone */
	if (setgroups(0, NULL) || setresgid(id, id, id) || setresuid(id, id, id))
		goto fail;
	/* root -> its own user cleared every capability; the ambient set too,
	 * for good measure; the death signal is cleared by a change of user,
	 * so it is set after, and the parent checked once it is */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		goto fail;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		goto fail;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || chdir("/"))
		goto fail;
	execvpe(argv[0], argv, env);
fail:
	e = errno;
	if (write(report, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

/* Every process of slot's user killed: sharkd and whatever it may have
 * started (the kernel lets a user kill its own processes; the helper
 * becomes that user to do it, and dies with the rest). */
static void kill_slot(unsigned slot)
{
	id_t id = SRV_SHARKD_ID_BASE + slot;
	pid_t pid = fork();

	if (pid == 0) {
		if (setresgid(id, id, id) || setresuid(id, id, id))
			_exit(1);
		kill(-1, SIGKILL);
		_exit(0);
	}
	while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

static void fail_calls(struct proc *s, int code, const char *why)
{
	struct srv_sharkd_call *c = s->head, *next;

	s->head = s->tail = NULL;
	s->queued = 0;
	for (; c; c = next) {
		next = c->next;
		if (c->cb)
			c->cb(c->data, NULL, code, why);
		free(c);
	}
}

/* Killed and reaped; its calls answered with code and why. */
static void stop(struct proc *s, int code, const char *why)
{
	if (!s->pid)
		return;
	kill(s->pid, SIGKILL);
	while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
		;
	kill_slot((unsigned)(s - s->pool->procs));
	s->pid = 0;
	if (s->out)
		h2o_socket_close(s->out);
	s->out = NULL;
	close(s->in);
	/* the file is the server's alone again */
	if (fchown(s->file, (uid_t)-1, s->file_gid) || fchmod(s->file, s->file_mode))
		ecap_log(LOG_WARNING, "packet view: giving its capture back: %s", strerror(errno));
	close(s->file);
	fail_calls(s, code, why);
}

static void on_line(struct proc *s, const char *line, size_t len)
{
	struct srv_sharkd_call *c = s->head;
	json_error_t je;
	json_t *j = json_loadb(line, len, 0, &je), *res, *e;
	json_int_t id = j ? json_integer_value(json_object_get(j, "id")) : -1;

	if (!c || !j || (uint64_t)id != c->id) {
		json_decref(j);
		stop(s, -EIO, "the packet view failed (sharkd answered out of turn)");
		return;
	}
	s->head = c->next;
	if (!s->head)
		s->tail = NULL;
	else /* the next one's time starts now: it waited for this one */
		s->head->deadline = now_ms() + SRV_SHARKD_CALL_MS;
	s->queued--;
	res = json_object_get(j, "result");
	e = json_object_get(j, "error");
	if (c->cb && res)
		c->cb(c->data, res, 0, NULL);
	else if (c->cb)
		c->cb(c->data, NULL, (int)json_integer_value(json_object_get(e, "code")) ?: -EIO,
		      json_string_value(json_object_get(e, "message"))
			  ?: "the packet view failed (no message)");
	free(c);
	json_decref(j);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
	struct proc *s = sock->data;
	h2o_buffer_t *in = sock->input;

	if (err) {
		stop(s, -EIO, "the packet view stopped (sharkd exited)");
		return;
	}
	for (;;) {
		char *nl = memchr(in->bytes + s->scanned, '\n', in->size - s->scanned);

		if (!nl) {
			s->scanned = in->size; /* the next read looks at its own bytes only */
			break;
		}
		s->scanned = 0;
		on_line(s, in->bytes, (size_t)(nl - in->bytes));
		if (!s->pid || s->out != sock) /* stopped on a bad line */
			return;
		h2o_buffer_consume(&sock->input, (size_t)(nl - in->bytes) + 1);
		in = sock->input;
	}
	if (in->size > SRV_SHARKD_LINE_MAX)
		stop(s, -EIO, "the packet view's answer is too long");
}

static void on_tick(h2o_timeout_entry_t *entry)
{
	struct srv_sharkd_pool *p =
	    (struct srv_sharkd_pool *)((char *)entry -
				       offsetof(struct srv_sharkd_pool, tick_entry));
	int64_t now = now_ms();
	unsigned alive = 0;

	for (unsigned i = 0; i < p->conf.max; i++) {
		struct proc *s = &p->procs[i];

		if (!s->pid)
			continue;
		if (s->head && now > s->head->deadline)
			stop(s, -ETIME, "the packet view took too long: stopped");
		else if (!s->head && now - s->last > (int64_t)p->conf.idle_s * 1000)
			stop(s, -ECANCELED, "idle");
		alive += !!s->pid;
	}
	if (alive)
		h2o_timeout_link(p->conf.loop, &p->tick, &p->tick_entry);
}

struct srv_sharkd_pool *srv_sharkd_pool_new(const struct srv_sharkd_conf *conf)
{
	struct srv_sharkd_pool *p = calloc(1, sizeof(*p));

	if (!p || !(p->procs = calloc(conf->max ? conf->max : 1, sizeof(*p->procs)))) {
		free(p);
		return NULL;
	}
	p->conf = *conf;
	h2o_timeout_init(conf->loop, &p->tick, TICK_MS);
	p->tick_entry.cb = on_tick;
	return p;
}

void srv_sharkd_pool_free(struct srv_sharkd_pool *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < p->conf.max; i++)
		stop(&p->procs[i], -ECANCELED, "the server is stopping");
	if (h2o_timeout_is_linked(&p->tick_entry))
		h2o_timeout_unlink(&p->tick_entry);
	h2o_timeout_dispose(p->conf.loop, &p->tick);
	free(p->procs);
	free(p);
}

static int start(struct srv_sharkd_pool *p, unsigned slot, uint64_t key, const char *path,
		 char *err, size_t errlen)
{
	struct proc *s = &p->procs[slot];
	int in[2] = {-1, -1}, out[2] = {-1, -1}, rep[2] = {-1, -1}, e = 0, file;
	const char *pe = getenv("PATH");
	char path_env[4096];
	ssize_t got;
	pid_t pid;

	snprintf(path_env, sizeof(path_env), "PATH=%s",
		 pe && *pe ? pe : "/usr/sbin:/usr/bin:/sbin:/bin");
	file = open(path, O_RDONLY | O_CLOEXEC);
	if (file < 0)
		return -ENOENT;
	struct stat st;

	if (fstat(file, &st)) {
		close(file);
		return -EIO;
	}
	kill_slot(slot); /* nothing of a former user of the slot is left */
	/* readable by this slot's group alone; the directory keeps the rest out */
	if (fchown(file, (uid_t)-1, SRV_SHARKD_ID_BASE + slot) || fchmod(file, 0640)) {
		snprintf(err, errlen, "the packet view: %s: %s", path, strerror(errno));
		close(file);
		return -EIO;
	}
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(rep, O_CLOEXEC)) {
		snprintf(err, errlen, "the packet view: %s", strerror(errno));
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "the packet view: %s", strerror(errno));
		goto fail;
	}
	if (!pid)
		child(&p->conf, slot, in[0], out[1], file, rep[1], path_env);
	close(in[0]);
	close(out[1]);
	close(rep[1]);
	in[0] = out[1] = rep[1] = -1;
	while ((got = read(rep[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(rep[0]);
	rep[0] = -1;
	if (got == sizeof(e)) { /* it never ran */
		waitpid(pid, NULL, 0);
		snprintf(err, errlen, "cannot run sharkd, which shows packets' detail: %s%s",
			 strerror(e), e == ENOENT ? " (apt-get install wireshark-common)" : "");
		goto fail;
	}
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	*s = (struct proc){.pid = pid,
			   .key = key,
			   .in = in[1],
			   .file = file,
			   .file_gid = st.st_gid,
			   .file_mode = st.st_mode & 07777,
			   .last = now_ms(),
			   .pool = p};
	s->out = h2o_evloop_socket_create(p->conf.loop, out[0], 0); /* h2o reads it */
	s->out->data = s;
	h2o_socket_read_start(s->out, on_read);
	if (!h2o_timeout_is_linked(&p->tick_entry))
		h2o_timeout_link(p->conf.loop, &p->tick, &p->tick_entry);
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (rep[i] >= 0)
			close(rep[i]);
	}
	close(file);
	return -EIO;
}

/* Queue a call and write its request (one line). */
static int send_call(struct proc *s, const char *method, json_t *params, srv_sharkd_cb *cb,
		     void *data, struct srv_sharkd_call **ret)
{
	struct srv_sharkd_call *c = calloc(1, sizeof(*c));
	json_t *req;
	char *line;
	size_t len;
	ssize_t w;

	if (!c) {
		json_decref(params);
		return -ENOMEM;
	}
	c->id = ++s->pool->next_id;
	req = json_pack("{s:s,s:I,s:s,s:o}", "jsonrpc", "2.0", "id", (json_int_t)c->id, "method",
			method, "params", params ? params : json_object());
	line = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!line) {
		free(c);
		return -ENOMEM;
	}
	len = strlen(line);
	line[len] = '\n'; /* (json_dumps leaves the NUL's byte ours) */
	w = write(s->in, line, len + 1);
	free(line);
	if (w != (ssize_t)len + 1) {
		free(c);
		return -EIO;
	}
	c->cb = cb;
	c->data = data;
	c->deadline = now_ms() + SRV_SHARKD_CALL_MS; /* again when it reaches the head */
	s->queued++;
	if (s->tail)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	s->last = now_ms();
	if (ret)
		*ret = c;
	return 0;
}

int srv_sharkd_call(struct srv_sharkd_pool *p, uint64_t key, const char *path, const char *method,
		    json_t *params, srv_sharkd_cb *cb, void *data, struct srv_sharkd_call **ret,
		    char *err, size_t errlen)
{
	struct proc *s = NULL, *idle = NULL;
	unsigned free_slot = p->conf.max;
	struct stat st;
	int r;

	for (unsigned i = 0; i < p->conf.max; i++) {
		struct proc *t = &p->procs[i];

		if (t->pid && t->key == key)
			s = t;
		else if (!t->pid && free_slot == p->conf.max)
			free_slot = i;
		else if (t->pid && !t->head && (!idle || t->last < idle->last))
			idle = t;
	}
	if (!s) {
		if (free_slot == p->conf.max && idle) { /* the longest idle makes room */
			stop(idle, -ECANCELED, "idle");
			free_slot = (unsigned)(idle - p->procs);
		}
		if (free_slot == p->conf.max) {
			json_decref(params);
			snprintf(err, errlen,
				 "every packet view is in use (%u at once, sharkd_max): try again "
				 "in a moment",
				 p->conf.max);
			return -EBUSY;
		}
		r = start(p, free_slot, key, path, err, errlen);
		if (r) {
			json_decref(params);
			return r;
		}
		s = &p->procs[free_slot];
	}
	if (s->queued >= SRV_SHARKD_QUEUE_MAX) {
		json_decref(params);
		snprintf(err, errlen, "this capture's packet view is busy (%u requests waiting)",
			 s->queued);
		return -EBUSY;
	}
	/* a running capture's file grows: load what is there now */
	if (!fstat(s->file, &st) && st.st_size != s->loaded) {
		r = send_call(s, "load", json_pack("{s:s}", "file", FILE_ARG), NULL, NULL, NULL);
		if (r) {
			json_decref(params);
			stop(s, -EIO, "the packet view failed");
			snprintf(err, errlen, "the packet view failed: %s", strerror(-r));
			return -EIO;
		}
		s->loaded = st.st_size;
		s->loads++;
	}
	/* sharkd (Wireshark 4.0) keeps a display filter's result by its text,
	 * across loads: after a load the same text would answer for the file
	 * as it was. A term true of every packet, and different at every load,
	 * makes it filter again. */
	const char *f = json_string_value(json_object_get(params, "filter"));

	if (f && !strcmp(method, "frames")) {
		char *g;

		if (asprintf(&g, "(%s) && frame.number < %u", f, 4000000000u - s->loads) < 0) {
			json_decref(params);
			snprintf(err, errlen, "the packet view: %s", strerror(ENOMEM));
			return -ENOMEM;
		}
		json_object_set_new(params, "filter", json_string(g));
		free(g);
	}
	r = send_call(s, method, params, cb, data, ret);
	if (r) {
		stop(s, -EIO, "the packet view failed");
		snprintf(err, errlen, "the packet view failed: %s", strerror(-r));
		return -EIO;
	}
	return 0;
}

void srv_sharkd_cancel(struct srv_sharkd_call *c)
{
	c->cb = NULL;
}

unsigned srv_sharkd_running(const struct srv_sharkd_pool *p)
{
	unsigned n = 0;

	for (unsigned i = 0; p && i < p->conf.max; i++)
		n += !!p->procs[i].pid;
	return n;
}
