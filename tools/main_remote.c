/* main_remote.c - edgecap-remote: the commands that talk to the server
 * (HTTP, TLS): remote, devices, captures and settings. Users type `edgecap COMMAND
 * ...`; edgecap execs this program with those same arguments (edgecap.c
 * says why), so argv[1] is the command. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "remote"))
		return cmd_remote(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "devices"))
		return cmd_devices(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "captures"))
		return cmd_captures(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "settings"))
		return cmd_settings(argc - 1, argv + 1);
	fprintf(stderr, "edgecap-remote: error: a part of edgecap: run 'edgecap "
			"remote|devices|captures|settings ...'\n");
	return 2;
}
