/* cmd.h - subcommands of the edgecap CLI. Each returns the exit status:
 * 0 success, 1 a negative answer (e.g. `filter check` on invalid code),
 * 2 an error, reported on one line on stderr. */
#ifndef ECAP_CMD_H
#define ECAP_CMD_H

int cmd_filter(int argc, char **argv);
int cmd_capture(int argc, char **argv);
int cmd_hooks(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_remote(int argc, char **argv);
int cmd_devices(int argc, char **argv);
int cmd_captures(int argc, char **argv);
int cmd_settings(int argc, char **argv);
struct cli_http;
/* `edgecap devices settings NAME [KEY=MS ...]`: argv from NAME on. */
int cli_device_settings(struct cli_http *h, int argc, char **argv);

/* The arguments joined by single spaces, as tcpdump builds its expression
 * (malloc'ed; NULL when out of memory). */
char *join_args(int argc, char **argv);

/* Where a capture goes: FILE, or standard output for "-" or NULL; NULL is
 * refused when standard output is a terminal. The fd, or -1 after one line
 * on stderr. */
int open_output(const char *path);

#endif
