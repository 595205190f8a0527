/* printer.c - see printer.h. */
#include "print/printer.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
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

static void limit(int what, rlim_t v)
{
	struct rlimit l = {v, v};

	if (setrlimit(what, &l))
		_exit(126);
}

/* In the child: confine, then exec; on failure the errno goes to report. */
static void child(const char *const *argv, unsigned flags, int in, int out, int err_fd, int report,
		  char *path)
{
	char *const env[] = {path, NULL};
	int e;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	setpgid(0, 0);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || (err_fd >= 0 && dup2(err_fd, 2) < 0))
		goto fail;
	/* ours but the three and the report pipe, which closes on exec */
	for (int fd = 3; fd < 1024; fd++)
		if (fd != report)
			close(fd);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (flags & SRV_PRINTER_NO_NET) {
		/* root's own namespace; else an unprivileged user's */
		if (unshare(CLONE_NEWNET) && unshare(CLONE_NEWUSER | CLONE_NEWNET))
			goto fail;
	}
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
	if (flags & SRV_PRINTER_CLEAR_ENV)
		execvpe(argv[0], (char *const *)argv, env);
	else
		execvp(argv[0], (char *const *)argv);
fail:
	e = errno;
	if (write(report, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

pid_t srv_printer_spawn(const char *const *args, unsigned flags, int in_fd, int out_fd, int err_fd,
			char *err, size_t errlen)
{
	/* coreutils' stdbuf sets the buffers of its standard input (libpcap
	 * reads the capture through stdio, 4 KiB a read(2) by default: 256 KiB
	 * take a 64th of the calls, and a read of a pipe returns what there is,
	 * so no packet waits for more) and, for blocks, of its output */
	const char *argv[SRV_PRINTER_ARGS_MAX + 10] = {"stdbuf", "-i", "262144"};
	unsigned n = 3;

	if (flags & SRV_PRINTER_BLOCKS) {
		argv[n++] = "-o";
		argv[n++] = "262144";
	}
	argv[n++] = "tcpdump";
	argv[n++] = "-r";
	argv[n++] = "-";
	int rep[2], e = 0;
	ssize_t got;
	pid_t pid;

	for (; args && *args; args++) {
		if (n == SRV_PRINTER_ARGS_MAX + 8) {
			snprintf(err, errlen, "tcpdump: more than %d options",
				 SRV_PRINTER_ARGS_MAX);
			return -1;
		}
		argv[n++] = *args;
	}
	argv[n] = NULL;
	/* the environment of PATH only: ours (where tcpdump is looked for, by
	 * stdbuf too), made before fork */
	const char *p = getenv("PATH");
	char path[4096];

	snprintf(path, sizeof(path), "PATH=%s", p && *p ? p : "/usr/sbin:/usr/bin:/sbin:/bin");
	if (pipe2(rep, O_CLOEXEC)) {
		snprintf(err, errlen, "tcpdump: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "tcpdump: %s", strerror(errno));
		close(rep[0]);
		close(rep[1]);
		return -1;
	}
	if (!pid)
		child(argv, flags, in_fd, out_fd, err_fd, rep[1], path);
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
