/* edgecap.c - the edgecap command line: a thin dispatcher over subcommands.
 *
 * `merge` runs here; the other commands live in programs of their own
 * (edgecap-capture: filter, capture, hooks; edgecap-remote: remote,
 * devices, captures), which this one execs with the same arguments. So
 * `edgecap merge --text`, whose printers start only once this program
 * has, does not load and relocate libpcap, libbpf, libxdp, liburing,
 * OpenSSL and h2o first: that start was 8.6 ms of CPU of the 8.6 + 2.6
 * it took with them (docs/performance.md, "Text"). exec keeps the pid,
 * the descriptors and the signal dispositions, so a command behaves as it
 * did when it was linked in.
 *
 * Where the helpers are (like git's exec path): EDGECAP_EXEC_DIR, relative
 * to this program's directory when meson's bindir and libexecdir are both
 * under the prefix (an installed tree moved elsewhere, or installed with
 * --destdir, still finds them), else absolute; then this program's own
 * directory, which is where the build tree has them (build/tools/). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

static const struct {
	const char *cmd, *prog;
} helpers[] = {
    {"filter", "edgecap-capture"},  {"capture", "edgecap-capture"}, {"hooks", "edgecap-capture"},
    {"remote", "edgecap-remote"},   {"devices", "edgecap-remote"},  {"captures", "edgecap-remote"},
    {"settings", "edgecap-remote"},
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: edgecap COMMAND [ARGS]\n"
	    "\n"
	    "commands:\n"
	    "  filter compile|check|translate|run   tcpdump filters as classic BPF and eBPF\n"
	    "  capture -i IF [options] [EXPR]       capture with the kernel hooks (root)\n"
	    "  hooks [IF...]                        edgecap's kernel hooks on interfaces (root)\n"
	    "  merge [-w FILE] FILE...              merge captures of several devices\n"
	    "  remote -d DEV,... [options] [EXPR]   one capture on many devices, via the server\n"
	    "  devices [list|claim|add|delete|...]  the organization's devices (--help: all)\n"
	    "  captures [list|show|stop]            the server's captures\n"
	    "  settings [show|set KEY=MS...]        the tunnel's settings for every device\n"
	    "\n"
	    "'edgecap COMMAND --help' describes a command; 'edgecap --version' the program.\n");
}

/* Try dir/prog; 0 when there is no such file (the caller tries the next
 * place), -errno when it is there and cannot be run. Returns only on
 * failure. */
static int try_exec(const char *dir, const char *prog, char **argv)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", dir, prog);

	if (n < 0 || (size_t)n >= sizeof(path))
		return 0;
	execv(path, argv);
	return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
}

/* exec the program that has argv[1]; returns only on failure, with the
 * exit status after one line on stderr. */
static int run_helper(const char *prog, char **argv)
{
	char self[PATH_MAX], exec_dir[PATH_MAX + sizeof(EDGECAP_EXEC_DIR) + 1];
	const char *dirs[2] = {EDGECAP_EXEC_DIR[0] == '/' ? EDGECAP_EXEC_DIR : NULL, NULL};
	ssize_t n;
	char *slash;
	int r = 0;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0 && (size_t)n < sizeof(self) - 1) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0'; /* "" for a program in / */
			if (!dirs[0]) {
				snprintf(exec_dir, sizeof(exec_dir), "%s/%s", self,
					 EDGECAP_EXEC_DIR);
				dirs[0] = exec_dir;
			}
			dirs[1] = self;
		}
	}
	for (size_t i = 0; i < 2 && dirs[i] && !r; i++)
		r = try_exec(dirs[i], prog, argv);
	if (r)
		fprintf(stderr, "edgecap: %s: cannot run %s: %s\n", argv[1], prog, strerror(-r));
	else
		fprintf(stderr, "edgecap: %s: %s not found in %s%s%s\n", argv[1], prog,
			dirs[0] ? dirs[0] : EDGECAP_EXEC_DIR " (no /proc/self/exe)",
			dirs[1] ? " or " : "", dirs[1] ? (dirs[1][0] ? dirs[1] : "/") : "");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("edgecap " EDGECAP_VERSION "\n");
		return 0;
	}
	if (!strcmp(argv[1], "merge"))
		return cmd_merge(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++)
		if (!strcmp(argv[1], helpers[i].cmd))
			return run_helper(helpers[i].prog, argv);
	fprintf(stderr, "edgecap: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
