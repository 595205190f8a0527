/* edgecap.c - the edgecap command line: a thin dispatcher over subcommands. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

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
	    "  devices [list|add|delete]            the devices enrolled in the server\n"
	    "  captures [list|show|stop]            the server's captures\n"
	    "\n"
	    "'edgecap COMMAND --help' describes a command; 'edgecap --version' the program.\n");
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
	if (!strcmp(argv[1], "filter"))
		return cmd_filter(argc - 1, argv + 1);
	if (!strcmp(argv[1], "capture"))
		return cmd_capture(argc - 1, argv + 1);
	if (!strcmp(argv[1], "hooks"))
		return cmd_hooks(argc - 1, argv + 1);
	if (!strcmp(argv[1], "merge"))
		return cmd_merge(argc - 1, argv + 1);
	if (!strcmp(argv[1], "remote"))
		return cmd_remote(argc - 1, argv + 1);
	if (!strcmp(argv[1], "devices"))
		return cmd_devices(argc - 1, argv + 1);
	if (!strcmp(argv[1], "captures"))
		return cmd_captures(argc - 1, argv + 1);
	fprintf(stderr, "edgecap: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
