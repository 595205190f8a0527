/* main_capture.c - edgecap-capture: the commands that need the kernel side
 * (libbpf, libxdp, liburing, libpcap): filter, capture and hooks. Users
 * type `edgecap COMMAND ...`; edgecap execs this program with those same
 * arguments (edgecap.c says why), so argv[1] is the command. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "filter"))
		return cmd_filter(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "capture"))
		return cmd_capture(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "hooks"))
		return cmd_hooks(argc - 1, argv + 1);
	fprintf(stderr,
		"edgecap-capture: error: a part of edgecap: run 'edgecap filter|capture|hooks "
		"...'\n");
	return 2;
}
