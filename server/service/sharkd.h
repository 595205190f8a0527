/* sharkd.h - Wireshark's dissection engine for the page's packet detail and
 * display filters: `sharkd -` (wireshark-common), one process per capture
 * at most, spoken to by JSON-RPC over its standard input and output from
 * the loop, never waited on. It parses hostile packets with every one of
 * Wireshark's dissectors, so it runs in a sandbox (bubblewrap, started as
 * an unprivileged user; sharkd.c's child() says what is in it):
 *   - user, mount, PID, network, IPC, UTS and cgroup namespaces of its own;
 *     a root of its own with /usr and the loader's cache read-only, and the
 *     capture (handed over open, fd 3): none of the server's files (data
 *     directory, registry, other captures, configuration, keys) exist
 *     there; no capabilities, no-new-privs;
 *   - a server running as root runs it as a user and group of its own
 *     (SRV_SHARKD_ID_BASE + its slot) with no supplementary groups, and
 *     lends it the capture (group-readable by its group alone); a server
 *     of another user (the systemd unit's) runs it as itself;
 *   - bounded memory, CPU time, files and processes, no core, an
 *     environment of PATH and HOME only; when it stops, its sandbox's PID
 *     namespace goes with it, and every process started in it;
 *   - at most `max` at once on the server; one idle past `idle_s` is
 *     stopped, and so is one that answers nothing for SRV_SHARKD_CALL_MS
 *     or a line longer than SRV_SHARKD_LINE_MAX. */
#ifndef SRV_SHARKD_H
#define SRV_SHARKD_H

#include <jansson.h>
#include <stdint.h>

#include "common/web.h"

#define SRV_SHARKD_ID_BASE   0x7eca0000u /* uid and gid of slot 0 */
#define SRV_SHARKD_CALL_MS   30000	 /* an answer takes at most this */
#define SRV_SHARKD_LINE_MAX  (64u << 20) /* bytes of one answer */
#define SRV_SHARKD_QUEUE_MAX 8		 /* calls waiting on one process */

struct srv_sharkd_pool;
struct srv_sharkd_call;

struct srv_sharkd_conf {
	h2o_loop_t *loop;
	unsigned max;	  /* processes at once */
	unsigned idle_s;  /* a process without calls this long is stopped */
	unsigned mem_mib; /* address space of each */
	const char *exe;  /* NULL: "sharkd" from PATH */
};

/* The answer, on the loop: result (borrowed: the callback's for the call
 * only) or err (sharkd's own message for a refused request, e.g. a display
 * filter's; or why there is no answer) with code: sharkd's negative
 * JSON-RPC code, or -ETIME, -EIO (it died), -ECANCELED (the pool is being
 * freed). */
typedef void srv_sharkd_cb(void *data, json_t *result, int code, const char *err);

/* Whether a sandboxed sharkd starts here (`sharkd -v` in the sandbox,
 * waited for: up to 10 s): 0, or -EIO with why (a line: bwrap's own
 * complaint, e.g. user namespaces refused, or the missing program). */
int srv_sharkd_probe(const struct srv_sharkd_conf *conf, char *why, size_t whylen);
struct srv_sharkd_pool *srv_sharkd_pool_new(const struct srv_sharkd_conf *conf);
/* Every process killed and reaped; pending calls answered -ECANCELED. */
void srv_sharkd_pool_free(struct srv_sharkd_pool *p);

/* Call method with params (taken) on capture key's process, started on the
 * capture's file (path, opened here) if it has none, and the file loaded
 * again first when it grew since (a running capture). 0 with cb called once
 * later from the loop, or -EBUSY (max processes, all of them in use, or
 * SRV_SHARKD_QUEUE_MAX calls waiting on this one: err
 * says so), -ENOENT (the file is gone), -EIO (sharkd could not be started;
 * err says why). */
int srv_sharkd_call(struct srv_sharkd_pool *p, uint64_t key, const char *path, const char *method,
		    json_t *params, srv_sharkd_cb *cb, void *data, struct srv_sharkd_call **ret,
		    char *err, size_t errlen);
/* Its caller is gone: cb will not be called. Only before cb ran. */
void srv_sharkd_cancel(struct srv_sharkd_call *c);
/* Processes running now (for /metrics and tests). */
unsigned srv_sharkd_running(const struct srv_sharkd_pool *p);

#endif
