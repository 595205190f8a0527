/* run_until.h - for tests that drive an h2o loop of their own. */
#ifndef TESTS_RUN_UNTIL_H
#define TESTS_RUN_UNTIL_H

#include <stdint.h>

#include <h2o.h>

/* Run loop until cond holds or ms pass (the caller checks cond after). */
#define RUN_UNTIL(loop, cond, ms)                                                                  \
	do {                                                                                       \
		uint64_t until_ = h2o_now(loop) + (ms);                                            \
		while (!(cond) && h2o_now(loop) < until_)                                          \
			h2o_evloop_run(loop, 10);                                                  \
	} while (0)

#endif
