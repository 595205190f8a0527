/* sharkd.c - see sharkd.h. */
#include "service/sharkd.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
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
#define NPROC_MAX 16   /* processes of the sandbox's user in its namespace */
#define FILE_FD	  3
/* where sharkd finds the capture, its fd 3: bound there inside the sandbox,
 * or, for a root server, through the sandbox's own /proc (see child) */
#define FILE_BOUND "/capture"
#define FILE_PROC  "/proc/self/fd/3"
#define PROBE_MS   10000

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
	int lent;	   /* the file is readable by the slot's group (a root server) */
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

/* bwrap's arguments for the top-level directories that hold programs and
 * libraries: a symbolic link (merged /usr) the same link, a directory bound
 * read-only, nothing when absent. names holds their link targets. */
static int top_dirs(char **argv, int n, char names[][64])
{
	static const char *const dirs[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};
	struct stat st;

	for (unsigned i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		ssize_t len;

		if (lstat(dirs[i], &st))
			continue;
		if (S_ISLNK(st.st_mode)) {
			len = readlink(dirs[i], names[i], 63);
			if (len <= 0)
				continue;
			names[i][len] = '\0';
			argv[n++] = (char *)"--symlink";
			argv[n++] = names[i];
		} else if (S_ISDIR(st.st_mode)) {
			argv[n++] = (char *)"--ro-bind";
			argv[n++] = (char *)dirs[i];
		} else {
			continue;
		}
		argv[n++] = (char *)dirs[i];
	}
	return n;
}

/* In the child: confine, then exec sharkd ARG in bwrap's sandbox; on
 * failure the errno goes to report. The sandbox (bubblewrap, run as an
 * unprivileged user): user, mount, PID, network, IPC, UTS and cgroup
 * namespaces of its own; a root of its own holding /usr (and the links or
 * directories /bin, /lib... point into) and the dynamic loader's cache
 * read-only, a minimal /dev, the capture at FILE_BOUND read-only, and
 * nothing else: no /proc (a new one is refused under systemd's
 * ProtectKernelTunables=, and sharkd does not need it), no data directory,
 * configuration or key of ours; no capability in it either. bwrap's init is
 * its PID 1 and dies with bwrap (--die-with-parent), so killing our child
 * kills every process started in the sandbox.
 * A root server runs it as a user and group of the slot's own
 * (SRV_SHARKD_ID_BASE + slot), so that nothing in it is root in the parent
 * namespace and RLIMIT_NPROC is not waived; a server of another user runs
 * it as itself. A root server's capture is behind a directory only root
 * may cross, which bwrap's binding of fd 3 (by its path) cannot: there the
 * sandbox gets a /proc of its own PID namespace instead, and sharkd opens
 * FILE_PROC, the file lent to the slot's group. */
static void child(const struct srv_sharkd_conf *c, unsigned slot, int in, int out, int errfd,
		  int file, int report, char *path_env, const char *arg)
{
	char home[] = "HOME=/nonexistent";
	char *const env[] = {path_env, home, NULL};
	char names[6][64], nproc[32];
	char *argv[64];
	id_t id = SRV_SHARKD_ID_BASE + slot;
	int n = 0, e;

	pid_t parent = getppid();

	snprintf(nproc, sizeof(nproc), "--nproc=%d", NPROC_MAX);
	argv[n++] = (char *)"bwrap";
	argv[n++] = (char *)"--unshare-all";
	argv[n++] = (char *)"--unshare-user";
	argv[n++] = (char *)"--die-with-parent";
	argv[n++] = (char *)"--new-session";
	argv[n++] = (char *)"--cap-drop";
	argv[n++] = (char *)"ALL";
	argv[n++] = (char *)"--ro-bind";
	argv[n++] = (char *)"/usr";
	argv[n++] = (char *)"/usr";
	n = top_dirs(argv, n, names);
	argv[n++] = (char *)"--ro-bind-try";
	argv[n++] = (char *)"/etc/ld.so.cache";
	argv[n++] = (char *)"/etc/ld.so.cache";
	argv[n++] = (char *)"--ro-bind-try"; /* times as the server shows them */
	argv[n++] = (char *)"/etc/localtime";
	argv[n++] = (char *)"/etc/localtime";
	argv[n++] = (char *)"--dev";
	argv[n++] = (char *)"/dev";
	if (geteuid()) {
		argv[n++] = (char *)"--ro-bind-fd";
		argv[n++] = (char *)"3";
		argv[n++] = (char *)FILE_BOUND;
	} else {
		argv[n++] = (char *)"--proc";
		argv[n++] = (char *)"/proc";
	}
	argv[n++] = (char *)"--chdir";
	argv[n++] = (char *)"/";
	argv[n++] = (char *)"--";
	/* RLIMIT_NPROC is set inside: set before, it would also bound the
	 * server's own processes through the new namespace's parent */
	argv[n++] = (char *)"prlimit";
	argv[n++] = nproc;
	argv[n++] = (char *)"--";
	argv[n++] = (char *)(c->exe ? c->exe : "sharkd");
	argv[n++] = (char *)arg;
	argv[n] = NULL;

	setpgid(0, 0);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0 || dup2(file, FILE_FD) < 0)
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
	limit(RLIMIT_AS, (rlim_t)c->mem_mib << 20);
	limit(RLIMIT_CPU, CPU_MAX_S);
	limit(RLIMIT_FSIZE, 0);
	limit(RLIMIT_CORE, 0);
	limit(RLIMIT_NOFILE, 64);
	if (!geteuid()) {
		if (setgroups(0, NULL) || setresgid(id, id, id) || setresuid(id, id, id))
			goto fail;
	}
	/* a change of user cleared every capability; a server of its own user
	 * may hold some in its ambient set (the systemd unit's): gone, so bwrap
	 * starts with none; the death signal is cleared by a change of user,
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
	/* bwrap's init in the sandbox dies with it (its death signal), and
	 * with that init every process of the sandbox's PID namespace */
	s->pid = 0;
	if (s->out)
		h2o_socket_close(s->out);
	s->out = NULL;
	close(s->in);
	/* the file is the server's alone again */
	if (s->lent && (fchown(s->file, (uid_t)-1, s->file_gid) || fchmod(s->file, s->file_mode)))
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

static void set_path_env(char *buf, size_t len)
{
	const char *pe = getenv("PATH");

	snprintf(buf, len, "PATH=%s", pe && *pe ? pe : "/usr/sbin:/usr/bin:/sbin:/bin");
}

int srv_sharkd_probe(const struct srv_sharkd_conf *conf, char *why, size_t whylen)
{
	int out[2] = {-1, -1}, rep[2] = {-1, -1}, in = -1, file = -1, e = 0, status = 0, r = -EIO;
	char path_env[4096], buf[2048], *line;
	size_t len = 0;
	int64_t deadline = now_ms() + PROBE_MS;
	ssize_t got;
	pid_t pid = -1;

	set_path_env(path_env, sizeof(path_env));
	in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	file = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (in < 0 || file < 0 || pipe2(out, O_CLOEXEC) || pipe2(rep, O_CLOEXEC)) {
		snprintf(why, whylen, "%s", strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		goto out;
	}
	if (!pid)
		child(conf, 0, in, out[1], out[1], file, rep[1], path_env, "-v");
	close(out[1]);
	close(rep[1]);
	out[1] = rep[1] = -1;
	while ((got = read(rep[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	if (got == sizeof(e)) {
		snprintf(why, whylen, "cannot run bwrap, its sandbox: %s%s", strerror(e),
			 e == ENOENT ? " (apt-get install bubblewrap)" : "");
		goto out;
	}
	/* its output (bwrap's complaint, or sharkd's version) until it exits */
	for (;;) {
		struct pollfd pf = {.fd = out[0], .events = POLLIN};
		int64_t left = deadline - now_ms();

		if (left <= 0 || poll(&pf, 1, (int)left) == 0) {
			snprintf(why, whylen, "its sandboxed sharkd did not answer in %d s",
				 PROBE_MS / 1000);
			goto out;
		}
		got = read(out[0], buf + len, sizeof(buf) - 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0 || (len += (size_t)got) == sizeof(buf) - 1)
			break;
	}
	buf[len] = '\0';
	if (len == sizeof(buf) - 1) /* more than a version says */
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	pid = -1;
	if (WIFEXITED(status) && !WEXITSTATUS(status) && strstr(buf, "Sharkd")) {
		r = 0;
		goto out;
	}
	/* the first line that says why: bwrap's, or the one program's that failed */
	line = strstr(buf, "bwrap: ");
	if (!line)
		line = strstr(buf, "prlimit: ");
	if (!line)
		line = buf;
	line[strcspn(line, "\n")] = '\0';
	snprintf(why, whylen, "its sandboxed sharkd did not start (%s%s)",
		 *line ? line : "no message", WIFEXITED(status) ? "" : ", killed by a signal");
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (rep[i] >= 0)
			close(rep[i]);
	}
	if (in >= 0)
		close(in);
	if (file >= 0)
		close(file);
	return r;
}

static int start(struct srv_sharkd_pool *p, unsigned slot, uint64_t key, const char *path,
		 char *err, size_t errlen)
{
	struct proc *s = &p->procs[slot];
	int in[2] = {-1, -1}, out[2] = {-1, -1}, rep[2] = {-1, -1}, e = 0, file, nul = -1;
	int lent = !geteuid();
	char path_env[4096];
	ssize_t got;
	pid_t pid;

	set_path_env(path_env, sizeof(path_env));
	file = open(path, O_RDONLY | O_CLOEXEC);
	if (file < 0)
		return -ENOENT;
	struct stat st;

	if (fstat(file, &st)) {
		close(file);
		return -EIO;
	}
	/* a root server's sandbox runs as the slot's user: the file is made
	 * readable by its group alone; the directory keeps the rest out */
	if (lent && (fchown(file, (uid_t)-1, SRV_SHARKD_ID_BASE + slot) || fchmod(file, 0640))) {
		snprintf(err, errlen, "the packet view: %s: %s", path, strerror(errno));
		close(file);
		return -EIO;
	}
	nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (nul < 0 || pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(rep, O_CLOEXEC)) {
		snprintf(err, errlen, "the packet view: %s", strerror(errno));
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "the packet view: %s", strerror(errno));
		goto fail;
	}
	if (!pid)
		child(&p->conf, slot, in[0], out[1], nul, file, rep[1], path_env, "-");
	close(nul);
	nul = -1;
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
		snprintf(err, errlen, "cannot run bwrap, the sandbox of the packet view: %s%s",
			 strerror(e), e == ENOENT ? " (apt-get install bubblewrap)" : "");
		goto fail;
	}
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	*s = (struct proc){.pid = pid,
			   .key = key,
			   .in = in[1],
			   .file = file,
			   .lent = lent,
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
	if (nul >= 0)
		close(nul);
	if (lent && (fchown(file, (uid_t)-1, st.st_gid) || fchmod(file, st.st_mode & 07777)))
		ecap_log(LOG_WARNING, "packet view: giving its capture back: %s", strerror(errno));
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
		r = send_call(s, "load",
			      json_pack("{s:s}", "file", s->lent ? FILE_PROC : FILE_BOUND), NULL,
			      NULL, NULL);
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
