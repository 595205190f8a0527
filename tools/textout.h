/* textout.h - a capture's packets as tcpdump's lines on standard output,
 * when no -w is given (as tcpdump prints them): the streamer writes pcapng
 * into a pipe, and a thread reads it through the server's decoder
 * (server/core/text.h) and writes the lines. Standard output going away
 * (`| head`) closes the pipe, which ends the capture as a broken -w - does. */
#ifndef ECAP_TEXTOUT_H
#define ECAP_TEXTOUT_H

#include <stddef.h>

#include "core/text.h"

struct textout;

/* *out_fd: the pipe's end for the streamer to write. NULL, err set. */
struct textout *textout_start(enum srv_text_time time, int *out_fd, char *err, size_t errlen);
/* Once the streamer is done with (and the caller has closed) out_fd: the
 * rest is printed and the thread ends. 0, or -EPROTO when the decoder
 * refused the stream (err says why); frees t. Accepts NULL. */
int textout_finish(struct textout *t, char *err, size_t errlen);

#endif
