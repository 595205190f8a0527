/* compiler.h - compiles tcpdump expressions off the loop. libpcap's
 * optimizer is far from linear: `port 1 or port 2 or ... or port 300`
 * (3.5 KB) takes seconds, 700 terms close to a minute, and on the loop's
 * thread every other organization's request would wait that long. So
 * expressions are compiled by a small pool of worker processes
 * ("edgecap-server compile-worker", the same executable), each bounding
 * its own CPU time per job: a worker past the bound dies of SIGPROF, its
 * job is answered -ETIME and a new worker takes its place. Jobs wait in a
 * bounded queue while every worker is busy. */
#ifndef SRV_COMPILER_H
#define SRV_COMPILER_H

#include <stdint.h>

#include "common/web.h"
#include "filter/cbpf.h"

/* The longest expression taken, in bytes. It does not protect the loop: the
 * CPU bound does (300 terms, a tenth of this, already take seconds). It
 * bounds what a job holds and sends, and what a capture's request keeps in
 * the registry, well above any filter written by hand. */
#define SRV_COMPILE_EXPR_MAX 16384u
/* Jobs waiting for a worker, past which submitting fails with -EBUSY. */
#define SRV_COMPILE_QUEUE_MAX 64u
/* Instructions a worker sends back, past which the job fails with -E2BIG
 * (16 times the kernel's limit; a program that long is listed, never run). */
#define SRV_COMPILE_INSNS_MAX 65536u
/* The worker's end of its socket, as the worker finds it. */
#define SRV_COMPILER_FD 3

struct srv_compiler;
struct srv_compile;

struct srv_compiler_conf {
	h2o_loop_t *loop;
	const char *exe;  /* run as "EXE compile-worker"; NULL: /proc/self/exe */
	unsigned workers; /* at once, each one compile at a time */
	unsigned cpu_ms;  /* of CPU a job may take */
};

/* What a job came to, on the loop's thread: err 0 and the program (the
 * callback's to ecap_cbpf_free), or err with msg: -EINVAL libpcap's message,
 * -ETIME past the CPU bound, -E2BIG too many instructions, -EIO the worker
 * failed otherwise, -ECANCELED the compiler is being freed. */
typedef void srv_compile_cb(void *data, int err, struct ecap_cbpf *prog, const char *msg);

/* The workers started: 0 with *ret, or -errno with err set. */
int srv_compiler_new(const struct srv_compiler_conf *conf, struct srv_compiler **ret, char *err,
		     size_t errlen);
/* Workers killed and reaped; every job not yet heard of is, with
 * -ECANCELED. Accepts NULL. */
void srv_compiler_free(struct srv_compiler *c);
/* Compile expr (copied) for linktype and snaplen: 0 with *ret, cb called
 * once later from the loop (never from inside this call), or -E2BIG
 * (longer than SRV_COMPILE_EXPR_MAX), -EBUSY (the queue is full), -EIO (no
 * worker could be started), -ENOMEM. */
int srv_compile_submit(struct srv_compiler *c, const char *expr, int linktype, uint32_t snaplen,
		       srv_compile_cb *cb, void *data, struct srv_compile **ret);
/* Its caller is gone: cb will not be called. Only before cb ran. */
void srv_compile_cancel(struct srv_compile *j);

/* The worker: jobs from SRV_COMPILER_FD until it closes; main() runs it for
 * "compile-worker" before anything else. Returns the exit status. */
int srv_compiler_worker_main(void);

#endif
