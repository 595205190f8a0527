/* textout.h - a capture's packets as tcpdump's lines on standard output,
 * when no -w is given: the streamer writes pcapng into a pipe that is the
 * standard input of tcpdump's own printers (core/printer.h), run with the
 * user's printing options (-n, -e, -v, -x, -A, -t, -q, -l, ...), so every
 * line and option is tcpdump's. Its banner ("reading from file -") is
 * left out: the capture prints "listening on ...". Standard output going
 * away (`| head`) ends the printer, which closes the pipe, which ends the
 * capture as a broken -w - does. */
#ifndef ECAP_TEXTOUT_H
#define ECAP_TEXTOUT_H

#include <stddef.h>

struct textout;

/* args: tcpdump's printing options, NULL-terminated; names are looked up
 * (the printer gets the network) unless they hold -n. keep_net: the
 * printer keeps the network namespace even so (LINUX_SLL2 records name
 * their interface by index, which tcpdump prints by name). *out_fd: the pipe's
 * end for the streamer to write. NULL, err set. */
struct textout *textout_start(const char *const *args, int keep_net, int *out_fd, char *err,
			      size_t errlen);
/* Once the streamer is done with (and the caller has closed) out_fd: the
 * printer prints the rest and ends. 0, or -EPROTO when it failed (err says
 * how); frees t. Accepts NULL. */
int textout_finish(struct textout *t, char *err, size_t errlen);

#endif
