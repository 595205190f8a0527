/* log.h - the daemons' log: one line a message on stderr, with a severity
 * (syslog's LOG_ERR .. LOG_DEBUG). Under systemd (JOURNAL_STREAM names
 * stderr) a line starts with the "<N>" prefix journald takes for the
 * priority; elsewhere with the program's name and the severity in words:
 *
 *   edgecap-server: warning: capture 12: device gw-3: HTTP 403: bad signature
 *
 * Programs log, libraries return errors; the daemons' own libraries
 * (agentd, srvd) are programs' insides and log through this. */
#ifndef ECAP_LOG_H
#define ECAP_LOG_H

#include <stddef.h>
#include <syslog.h>

/* Text from anywhere (a request's path, a peer's answer) as one printable
 * line of valid UTF-8: control bytes and bytes that are not UTF-8 become
 * \xNN. Into out (len bytes, NUL-terminated, cut short if need be); the
 * length written. Every log line goes through it, so no caller can start
 * a line of its own or set its priority. */
size_t ecap_text_clean(char *out, size_t len, const char *in);

/* The program's name for the lines; reads JOURNAL_STREAM once. */
void ecap_log_init(const char *program);
void ecap_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A daemon's last line: err (when failed != 0) or "stopped"; its exit
 * status, 2 or 0. */
int ecap_log_end(int failed, const char *err);

#endif
