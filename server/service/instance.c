/* instance.c - this server among those sharing the registry, see
 * instance.h. */
#include <errno.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hex.h"
#include "common/log.h"
#include "service/instance.h"

/* A beat, then the silent ones reaped: two statements every few seconds,
 * whatever the number of devices; on a coroutine when one is free (in
 * lives as long as the server). */
static void beat(void *arg)
{
	struct srv_instance *in = arg;
	int64_t now = time(NULL), n;
	int r = reg_instance_beat(in->reg, in->id, in->address, in->started, now);

	if (r < 0) {
		if (in->beaten)
			ecap_log(LOG_ERR, "instance %s: heartbeat: registry: %s", in->id,
				 reg_errmsg(in->reg));
		in->beaten = in->beating = 0;
		return;
	}
	if (r == 1)
		ecap_log(LOG_WARNING,
			 "instance %s: taken for dead while silent: the devices it held were "
			 "released, and register again",
			 in->id);
	in->beaten = 1;
	n = reg_instances_reap(in->reg, now - SRV_INSTANCE_DEAD_S);
	if (n > 0)
		ecap_log(LOG_NOTICE,
			 "instance %s: a server silent for %d s reaped: %lld device(s) released",
			 in->id, SRV_INSTANCE_DEAD_S, (long long)n);
	in->beating = 0;
}

static void on_beat(h2o_timeout_entry_t *e)
{
	struct srv_instance *in = H2O_STRUCT_FROM_MEMBER(struct srv_instance, beat, e);

	h2o_timeout_link(in->loop, &in->every, &in->beat);
	if (in->beating) /* (the last still waits: one at a time) */
		return;
	in->beating = 1;
	if (!reg_async_run(in->reg, beat, in))
		beat(in);
}

int srv_instance_start(struct srv_instance *in, h2o_loop_t *loop, struct reg *reg,
		       const char *address, char *err, size_t errlen)
{
	uint8_t raw[8];

	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		snprintf(err, errlen, "instance: no random bytes for its id");
		return -EIO;
	}
	*in = (struct srv_instance){.reg = reg, .loop = loop, .started = time(NULL)};
	ecap_hex_encode(raw, sizeof(raw), in->id);
	snprintf(in->address, sizeof(in->address), "%s", address);
	if (reg_cluster_secret(reg, in->secret)) {
		snprintf(err, errlen, "instance: registry: %s", reg_errmsg(reg));
		return -EIO;
	}
	if (reg_instance_beat(reg, in->id, in->address, in->started, in->started) < 0) {
		snprintf(err, errlen, "instance: registry: %s", reg_errmsg(reg));
		return -EIO;
	}
	in->beaten = 1;
	h2o_timeout_init(loop, &in->every, SRV_INSTANCE_BEAT_S * 1000);
	in->beat.cb = on_beat;
	h2o_timeout_link(loop, &in->every, &in->beat);
	return 0;
}

/* A signal heard, from the listener's thread to the loop */
struct notice {
	h2o_multithread_message_t super;
	char payload[REG_NOTICE_MAX + 1];
};

static void heard(void *data, const char *payload)
{
	struct srv_instance *in = data;
	struct notice *n = malloc(sizeof(*n));

	if (!n) /* a hint lost: the tables say it a little later */
		return;
	*n = (struct notice){.super = {{NULL, NULL}}};
	snprintf(n->payload, sizeof(n->payload), "%s", payload);
	h2o_multithread_send_message(&in->notices, &n->super);
}

static void on_notices(h2o_multithread_receiver_t *rcv, h2o_linklist_t *messages)
{
	struct srv_instance *in = H2O_STRUCT_FROM_MEMBER(struct srv_instance, notices, rcv);

	while (!h2o_linklist_is_empty(messages)) {
		struct notice *n =
		    H2O_STRUCT_FROM_MEMBER(struct notice, super.link, messages->next);
		char what[16];
		int64_t id;

		h2o_linklist_unlink(&n->super.link);
		if (sscanf(n->payload, "%15s %" SCNd64, what, &id) == 2) {
			if (!strcmp(what, REG_NOTICE_STOP) && in->hooks->stop)
				in->hooks->stop(in->hooks->data, id);
			else if (!strcmp(what, REG_NOTICE_MOVED) && in->hooks->moved)
				in->hooks->moved(in->hooks->data, id);
		}
		free(n);
	}
}

int srv_instance_listen(struct srv_instance *in, h2o_multithread_queue_t *queue,
			struct srv_notice_hooks *hooks)
{
	int e;

	in->hooks = hooks;
	h2o_multithread_register_receiver(queue, &in->notices, on_notices);
	e = reg_listen(in->reg, heard, in, &in->listener);
	if (e)
		h2o_multithread_unregister_receiver(queue, &in->notices);
	return e;
}

int srv_instance_sign(struct srv_instance *in, const char *method, const char *target, char *ret,
		      size_t len)
{
	char auth[ECAP_AUTH_HEADER_MAX];
	int e = ecap_auth_header(in->secret, sizeof(in->secret), method, target, strlen(target),
				 time(NULL), auth, sizeof(auth));

	if (e)
		return e;
	return (size_t)snprintf(ret, len, "Edgecap-Instance: %s\r\n", auth) < len ? 0 : -ENOSPC;
}

int srv_instance_check(struct srv_instance *in, const char *value, size_t value_len,
		       const char *method, size_t method_len, const char *target, size_t target_len,
		       char *why, size_t len)
{
	struct ecap_auth a;
	int64_t now = time(NULL);
	int e = ecap_auth_parse(value, value_len, &a);

	if (e) {
		snprintf(why, len, "Edgecap-Instance: malformed");
		return -EACCES;
	}
	e = ecap_auth_verify(&a, in->secret, sizeof(in->secret), method, method_len, target,
			     target_len, now);
	if (!e)
		e = ecap_nonces_use(&in->nonces, &a, now);
	if (e)
		snprintf(why, len, "Edgecap-Instance: %s",
			 e == -ETIME	  ? "timestamp off"
			 : e == -EALREADY ? "nonce already used"
			 : e == -ENOSPC	  ? "too many requests"
					  : "bad signature");
	return e ? -EACCES : 0;
}

int srv_instance_holder(struct srv_instance *in, int64_t device, char *ret, size_t len)
{
	char holder[REG_INSTANCE_MAX];
	int64_t epoch;
	int e = in->loop ? reg_device_owner(in->reg, device, holder, sizeof(holder), &epoch) : -1;

	if (e || !holder[0] || !strcmp(holder, in->id))
		return 0;
	e = reg_instance_address(in->reg, holder, ret, len);
	return e ? -ENOENT : 1;
}

void srv_instance_stop(struct srv_instance *in)
{
	if (!in->loop)
		return;
	if (in->listener) { /* its thread ended: what it sent is dropped */
		static struct srv_notice_hooks none;

		reg_unlisten(in->reg, in->listener);
		in->listener = NULL;
		in->hooks = &none;
		on_notices(&in->notices, &in->notices._messages);
		h2o_multithread_unregister_receiver(in->notices.queue, &in->notices);
	}
	if (h2o_timeout_is_linked(&in->beat))
		h2o_timeout_unlink(&in->beat);
	h2o_timeout_dispose(in->loop, &in->every);
	if (reg_instance_gone(in->reg, in->id))
		ecap_log(LOG_WARNING, "instance %s: leaving: registry: %s", in->id,
			 reg_errmsg(in->reg));
	in->loop = NULL;
}
