/* printer.c - see printer.h. */
#include "print/printer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MEM_MAX	  (1ull << 30) /* address space: TCP's state grows with flows */
#define CPU_MAX_S 3600	       /* a backstop: readers also end with their capture */
#define BLOCK	  "262144"     /* stdio's buffers, bytes */
#define STACK	  (64u << 10)  /* the child's until exec (execvpe's path: 4 KiB) */

/* coreutils' stdbuf is this library, preloaded, and two variables: where
 * Debian, Fedora and Arch keep it. Found, tcpdump is run with it directly
 * (stdbuf's own exec is 3 ms of a printer's start); else through stdbuf. */
static const char *const stdbuf_libs[] = {
    "/usr/libexec/coreutils/libstdbuf.so",
    "/usr/lib/coreutils/libstdbuf.so",
};

/* The audit architecture of the system calls this build makes: any other
 * (x86's 32-bit int 0x80, x32) is refused outright. */
#if defined(__x86_64__)
#define NO_NET_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NO_NET_ARCH AUDIT_ARCH_AARCH64
#endif

static void limit(int what, rlim_t v)
{
	struct rlimit l = {v, v};

	if (setrlimit(what, &l))
		_exit(126);
}

/* No network: a seccomp filter that fails every call making a socket
 * (socket, socketpair, and io_uring, which can make one) with EACCES and
 * refuses every way into another process's sockets (ptrace, pidfd_getfd,
 * process_vm_writev). It outlives exec (no-new-privs is set first) and
 * costs microseconds, where a network namespace of its own costs 0.6 ms to
 * make here, up to 5 ms while other namespaces come and go, and a teardown
 * on a kernel worker after. Stricter than the namespace too: no Unix
 * socket either. 0, or -1 with errno (no filter on
 * an architecture not named above: the caller makes a namespace). */
static int deny_network(void)
{
#ifdef NO_NET_ARCH
#define DENY(nr)                                                                                   \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1),                                           \
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES)
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NO_NET_ARCH, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef __x86_64__
	    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000 /* __X32_SYSCALL_BIT */, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
#endif
	    DENY(__NR_socket),
	    DENY(__NR_socketpair),
	    DENY(__NR_io_uring_setup),
	    DENY(__NR_ptrace),
	    DENY(__NR_pidfd_getfd),
	    DENY(__NR_process_vm_writev),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
#undef DENY
#else
	errno = ENOSYS;
	return -1;
#endif
}

struct spawn {
	const char *const *argv;
	char *const *env;
	unsigned flags;
	int in, out, err_fd, report;
	uid_t uid; /* 0: tcpdump gives up root itself, or we are not root */
	gid_t gid;
};

/* Root gives up root for tcpdump's own user before the exec, which is
 * what Debian's and Fedora's tcpdump would do first (droproot), without
 * its initgroups: the name service's modules loaded, and a Unix socket
 * tried for each (1-3 ms of its start here). No supplementary groups. */
static void printer_user(struct spawn *c)
{
	struct passwd pw, *res = NULL;
	char buf[2048];

	if (geteuid() || getpwnam_r("tcpdump", &pw, buf, sizeof(buf), &res) || !res ||
	    !res->pw_uid || !res->pw_gid)
		return;
	c->uid = res->pw_uid;
	c->gid = res->pw_gid;
}

/* In the child (of clone(CLONE_VM | CLONE_VFORK): our memory, on a stack
 * of its own, so nothing but system calls): confine, then exec; on failure
 * the errno goes to report. */
static int child(void *arg)
{
	const struct spawn *c = arg;
	int e, in = c->in, out = c->out, err_fd = c->err_fd, report = c->report;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	setpgid(0, 0);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || (err_fd >= 0 && dup2(err_fd, 2) < 0))
		goto fail;
	/* ours but the three and the report pipe, which closes on exec */
	if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC))
		for (int fd = 3; fd < 1024; fd++)
			if (fd != report)
				close(fd);
	/* our handlers are our memory's: none runs here (all signals are
	 * blocked until then) */
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;

		if (!sigaction(sig, NULL, &sa) && sa.sa_handler != SIG_DFL &&
		    (sa.sa_handler != SIG_IGN || sig == SIGPIPE || sig == SIGINT || sig == SIGTERM))
			signal(sig, SIG_DFL);
	}
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	limit(RLIMIT_AS, MEM_MAX);
	limit(RLIMIT_CPU, CPU_MAX_S);
	struct stat st;
	if (fstat(1, &st) || !S_ISREG(st.st_mode))
		limit(RLIMIT_FSIZE, 0); /* it writes no file (but the output's) */
	limit(RLIMIT_CORE, 0);
	limit(RLIMIT_NOFILE, 64);
	/* none of the capabilities a service may hold (the server's unit
	 * gives CAP_NET_ADMIN) passes to it */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		goto fail;
	if (chdir("/") || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		goto fail;
	/* no filter here: a network namespace (root's own, else an
	 * unprivileged user's) */
	if ((c->flags & SRV_PRINTER_NO_NET) && deny_network() && unshare(CLONE_NEWNET) &&
	    unshare(CLONE_NEWUSER | CLONE_NEWNET))
		goto fail;
	/* the system calls themselves: glibc's setuid would ask our threads
	 * (this is our memory) to change theirs too */
	if (c->uid &&
	    (syscall(SYS_setgroups, 0, NULL) || syscall(SYS_setresgid, c->gid, c->gid, c->gid) ||
	     syscall(SYS_setresuid, c->uid, c->uid, c->uid)))
		goto fail;
	execvpe(c->argv[0], (char *const *)c->argv, c->env);
fail:
	e = errno;
	if (write(report, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

/* The printer's environment, made before the clone: ours or PATH only, and
 * stdbuf's variables when its library is preloaded directly (lib). */
static char **make_env(unsigned flags, const char *lib)
{
	const char *p = getenv("PATH"), *pre = getenv("LD_PRELOAD");
	size_t n = 0, k = 0;
	char **env, *s;
	int w;

	for (char **e = environ; !(flags & SRV_PRINTER_CLEAR_ENV) && *e; e++)
		n++;
	if (!(env = calloc(n + 5, sizeof(*env))))
		return NULL;
	if (flags & SRV_PRINTER_CLEAR_ENV) {
		w = asprintf(&s, "PATH=%s", p && *p ? p : "/usr/sbin:/usr/bin:/sbin:/bin");
		env[k++] = w < 0 ? NULL : s;
		pre = NULL;
	} else {
		for (char **e = environ; *e; e++)
			if (!lib || (strncmp(*e, "LD_PRELOAD=", 11) && strncmp(*e, "_STDBUF_", 8)))
				env[k++] = strdup(*e);
	}
	if (lib) { /* as stdbuf sets them */
		w = asprintf(&s, "LD_PRELOAD=%s%s%s", pre && *pre ? pre : "",
			     pre && *pre ? ":" : "", lib);
		env[k++] = w < 0 ? NULL : s;
		env[k++] = strdup("_STDBUF_I=" BLOCK);
		if (flags & SRV_PRINTER_BLOCKS)
			env[k++] = strdup("_STDBUF_O=" BLOCK);
	}
	for (size_t i = 0; i < k; i++)
		if (!env[i]) {
			for (size_t j = 0; j < k; j++)
				free(env[j]);
			free(env);
			return NULL;
		}
	return env;
}

static void free_env(char **env)
{
	for (char **e = env; e && *e; e++)
		free(*e);
	free(env);
}

pid_t srv_printer_spawn(const char *const *args, unsigned flags, int in_fd, int out_fd, int err_fd,
			char *err, size_t errlen)
{
	/* libpcap reads the capture through stdio, 4 KiB a read(2) by default:
	 * 256 KiB take a 64th of the calls, and a read of a pipe returns what
	 * there is, so no packet waits for more; for blocks, the output too */
	const char *argv[SRV_PRINTER_ARGS_MAX + 10] = {"stdbuf", "-i", BLOCK};
	const char *lib = NULL;
	unsigned n = 3, first = 0;
	int rep[2], e = 0;
	char **env = NULL;
	ssize_t got;
	pid_t pid;

	for (size_t i = 0; i < sizeof(stdbuf_libs) / sizeof(stdbuf_libs[0]) && !lib; i++)
		if (!access(stdbuf_libs[i], R_OK))
			lib = stdbuf_libs[i];
	if (flags & SRV_PRINTER_BLOCKS) {
		argv[n++] = "-o";
		argv[n++] = BLOCK;
	}
	if (lib) /* tcpdump itself, stdbuf's library in its environment */
		first = n;
	argv[n++] = "tcpdump";
	argv[n++] = "-r";
	argv[n++] = "-";
	for (; args && *args; args++) {
		if (n == SRV_PRINTER_ARGS_MAX + 8) {
			snprintf(err, errlen, "tcpdump: more than %d options",
				 SRV_PRINTER_ARGS_MAX);
			return -1;
		}
		argv[n++] = *args;
	}
	argv[n] = NULL;
	if (!(env = make_env(flags, lib))) {
		snprintf(err, errlen, "tcpdump: out of memory");
		return -1;
	}
	if (pipe2(rep, O_CLOEXEC)) {
		snprintf(err, errlen, "tcpdump: %s", strerror(errno));
		free_env(env);
		return -1;
	}
	/* as posix_spawn does: no copy of our page tables, and none of our
	 * pages made copy-on-write behind it (a fork of edgecap is 1 ms) */
	struct spawn c = {argv + first, env, flags, in_fd, out_fd, err_fd, rep[1], 0, 0};

	printer_user(&c);
	char *stack = malloc(STACK);

	sigset_t all, was;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &was);
	pid = stack ? clone(child, stack + STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &c) : -1;
	pthread_sigmask(SIG_SETMASK, &was, NULL);
	free(stack);
	free_env(env);
	if (pid < 0) {
		snprintf(err, errlen, "tcpdump: %s", strerror(errno));
		close(rep[0]);
		close(rep[1]);
		return -1;
	}
	close(rep[1]);
	while ((got = read(rep[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(rep[0]);
	if (got == sizeof(e)) { /* it never ran */
		waitpid(pid, NULL, 0);
		snprintf(err, errlen, "cannot run tcpdump, which prints the packets: %s%s",
			 strerror(e), e == ENOENT ? " (apt-get install tcpdump)" : "");
		return -1;
	}
	return pid;
}
