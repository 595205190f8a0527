/* args.c - command-line helpers shared by the subcommands. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

char *join_args(int argc, char **argv)
{
	size_t len = 1;
	char *s;

	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	s = calloc(1, len);
	for (int i = 0; s && i < argc; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

int open_output(const char *path)
{
	int fd;

	if (!path && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "edgecap: not writing binary captures to a terminal: give -w FILE "
				"or -w -\n");
		return -1;
	}
	if (!path || !strcmp(path, "-"))
		return STDOUT_FILENO;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		fprintf(stderr, "edgecap: %s: %s\n", path, strerror(errno));
	return fd;
}
