/* pwwork.h - argon2id off the event loop: a few threads hash and verify
 * passwords (password.h), each answer delivered on the loop. An argon2id
 * run takes 64 MiB and a tenth of a second or more; on the loop it would
 * stall every request, so sign-ins wait here instead: at most `threads`
 * at once (their memory bound) and `queue_max` waiting (then -EBUSY, a 503
 * for the caller). */
#ifndef SRV_PWWORK_H
#define SRV_PWWORK_H

#include <h2o.h>

struct srv_pwwork;
struct srv_pwjob;

/* On the loop: verify: ok 1 (it matches) or 0; hash: ok 0 and the hash,
 * or -ENOMEM. -ECANCELED: the pool is being freed. */
typedef void srv_pwjob_cb(void *data, int ok, const char *hash);

int srv_pwwork_new(h2o_loop_t *loop, unsigned threads, unsigned queue_max, struct srv_pwwork **ret);
/* Jobs still waiting are answered -ECANCELED; running ones are waited for. */
void srv_pwwork_free(struct srv_pwwork *w);

/* Does pw match hash? hash NULL or "": no user; the same work is done and
 * the answer is 0. 0 (cb follows, unless cancelled), or -EBUSY, -ENOMEM. */
int srv_pw_verify_async(struct srv_pwwork *w, const char *hash, const char *pw, srv_pwjob_cb *cb,
			void *data, struct srv_pwjob **ret);
/* pw's hash. As srv_pw_verify_async. */
int srv_pw_hash_async(struct srv_pwwork *w, const char *pw, srv_pwjob_cb *cb, void *data,
		      struct srv_pwjob **ret);
/* Its callback will not run (the request went). */
void srv_pwjob_cancel(struct srv_pwjob *j);

#endif
