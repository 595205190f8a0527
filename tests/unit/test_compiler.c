/* test_compiler.c - the compile service (server/service/compiler.h) on a
 * real h2o loop with real worker processes, no root: this program is its
 * own worker (main runs it for "compile-worker", as edgecap-server's does).
 * Programs and libpcap's messages as a compile on the spot gives them; an
 * expression past the CPU bound ended with -ETIME while the loop goes on,
 * its worker replaced and reaped; a cancelled job never heard of; the
 * length and queue bounds; freeing answers what is left and reaps all. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "filter/compile.h"
#include "service/compiler.h"
#include "run_until.h"

#define CPU_MS 200

struct result {
	int heard, err;
	struct ecap_cbpf prog;
	char msg[ECAP_ERRLEN];
};

static h2o_loop_t *loop;
static struct srv_compiler *comp;

static void done(void *data, int err, struct ecap_cbpf *prog, const char *msg)
{
	struct result *r = data;

	r->heard++;
	r->err = err;
	if (prog)
		r->prog = *prog;
	if (msg)
		snprintf(r->msg, sizeof(r->msg), "%s", msg);
}

/* libpcap's optimizer takes seconds over this (300 terms, 3.5 KB). */
static char *slow_expression(void)
{
	static char e[4096];
	size_t at = 0;

	for (int i = 1; i <= 300; i++)
		at += (size_t)snprintf(e + at, sizeof(e) - at, "%sport %d", i > 1 ? " or " : "", i);
	return e;
}

static int start(unsigned workers)
{
	char err[256];

	loop = loop ? loop : h2o_evloop_create();
	return srv_compiler_new(
	    &(struct srv_compiler_conf){.loop = loop, .workers = workers, .cpu_ms = CPU_MS}, &comp,
	    err, sizeof(err));
}

static int setup1(void **state)
{
	return start(1);
}

static int setup2(void **state)
{
	return start(2);
}

static int teardown(void **state)
{
	srv_compiler_free(comp);
	comp = NULL;
	/* every worker reaped: no child left, exited or not */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	return 0;
}

static void same_as_on_the_spot(void **state)
{
	struct ecap_cbpf here = {0};
	struct result a = {0}, b = {0};
	struct srv_compile *j;
	char err[ECAP_ERRLEN];

	assert_int_equal(srv_compile_submit(comp, "tcp port 80 and host 10.1.2.3",
					    ECAP_LINKTYPE_EN10MB, 65535, done, &a, &j),
			 0);
	assert_int_equal(
	    srv_compile_submit(comp, "port 99999", ECAP_LINKTYPE_EN10MB, 65535, done, &b, &j), 0);
	assert_int_equal(a.heard + b.heard, 0); /* never from inside submit */
	RUN_UNTIL(loop, a.heard && b.heard, 5000);
	assert_int_equal(a.heard, 1);
	assert_int_equal(a.err, 0);
	assert_int_equal(ecap_filter_compile("tcp port 80 and host 10.1.2.3", ECAP_LINKTYPE_EN10MB,
					     65535, &here, err, sizeof(err)),
			 0);
	assert_int_equal(a.prog.len, here.len);
	assert_memory_equal(a.prog.insns, here.insns, here.len * sizeof(*here.insns));
	assert_int_equal(b.heard, 1);
	assert_int_equal(b.err, -EINVAL);
	assert_int_equal(
	    ecap_filter_compile("port 99999", ECAP_LINKTYPE_EN10MB, 65535, &here, err, sizeof(err)),
	    -EINVAL);
	assert_string_equal(b.msg, err);
	ecap_cbpf_free(&a.prog);
	ecap_cbpf_free(&here);
}

static void past_the_cpu_bound(void **state)
{
	struct result slow = {0}, next = {0};
	struct srv_compile *j;
	uint64_t t0 = h2o_now(loop), turns = 0;

	assert_int_equal(srv_compile_submit(comp, slow_expression(), ECAP_LINKTYPE_EN10MB, 65535,
					    done, &slow, &j),
			 0);
	/* the loop goes on meanwhile */
	while (!slow.heard && h2o_now(loop) < t0 + 10000) {
		h2o_evloop_run(loop, 10);
		turns++;
	}
	assert_int_equal(slow.heard, 1);
	assert_int_equal(slow.err, -ETIME);
	assert_string_equal(slow.msg, "compiling took more than 200 ms of CPU");
	assert_true(turns >= 10);
	/* a new worker took its place, and the old one is reaped */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), 0);
	assert_int_equal(
	    srv_compile_submit(comp, "udp", ECAP_LINKTYPE_EN10MB, 65535, done, &next, &j), 0);
	RUN_UNTIL(loop, next.heard, 5000);
	assert_int_equal(next.err, 0);
	ecap_cbpf_free(&next.prog);
}

static void cancelled_jobs_are_not_heard_of(void **state)
{
	struct result running = {0}, waiting = {0}, last = {0};
	struct srv_compile *a, *b, *c;

	/* one worker: the first runs, the second waits */
	assert_int_equal(srv_compile_submit(comp, slow_expression(), ECAP_LINKTYPE_EN10MB, 65535,
					    done, &running, &a),
			 0);
	assert_int_equal(
	    srv_compile_submit(comp, "tcp", ECAP_LINKTYPE_EN10MB, 65535, done, &waiting, &b), 0);
	assert_int_equal(
	    srv_compile_submit(comp, "udp", ECAP_LINKTYPE_EN10MB, 65535, done, &last, &c), 0);
	srv_compile_cancel(b);
	srv_compile_cancel(a);
	RUN_UNTIL(loop, last.heard, 10000);
	assert_int_equal(last.heard, 1);
	assert_int_equal(last.err, 0);
	assert_int_equal(running.heard, 0);
	assert_int_equal(waiting.heard, 0);
	ecap_cbpf_free(&last.prog);
}

static void bounds_and_freeing(void **state)
{
	static struct result r[SRV_COMPILE_QUEUE_MAX + 1], over;
	char *big = malloc(SRV_COMPILE_EXPR_MAX + 2);
	struct srv_compile *j;

	memset(big, 'x', SRV_COMPILE_EXPR_MAX + 1);
	big[SRV_COMPILE_EXPR_MAX + 1] = 0;
	assert_int_equal(
	    srv_compile_submit(comp, big, ECAP_LINKTYPE_EN10MB, 65535, done, &over, &j), -E2BIG);
	free(big);
	/* one running, the queue full */
	for (unsigned i = 0; i <= SRV_COMPILE_QUEUE_MAX; i++)
		assert_int_equal(srv_compile_submit(comp, slow_expression(), ECAP_LINKTYPE_EN10MB,
						    65535, done, &r[i], &j),
				 0);
	assert_int_equal(
	    srv_compile_submit(comp, "udp", ECAP_LINKTYPE_EN10MB, 65535, done, &over, &j), -EBUSY);
	/* freed: every job heard of, once */
	srv_compiler_free(comp);
	comp = NULL;
	for (unsigned i = 0; i <= SRV_COMPILE_QUEUE_MAX; i++) {
		assert_int_equal(r[i].heard, 1);
		assert_int_equal(r[i].err, -ECANCELED);
	}
	assert_int_equal(over.heard, 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(same_as_on_the_spot, setup2, teardown),
	    cmocka_unit_test_setup_teardown(past_the_cpu_bound, setup2, teardown),
	    cmocka_unit_test_setup_teardown(cancelled_jobs_are_not_heard_of, setup1, teardown),
	    cmocka_unit_test_setup_teardown(bounds_and_freeing, setup1, teardown),
	};

	if (argc == 2 && !strcmp(argv[1], "compile-worker"))
		return srv_compiler_worker_main();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
