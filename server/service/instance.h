/* instance.h - this server among those sharing the registry
 * (docs/scale.md): an id of its own for as long as it runs, a heartbeat
 * every SRV_INSTANCE_BEAT_S, and the instances silent for
 * SRV_INSTANCE_DEAD_S reaped, the device tunnels they held released for
 * the servers the devices register with next. One server alone on a
 * SQLite file does the same, and is the only one. */
#ifndef SRV_INSTANCE_H
#define SRV_INSTANCE_H

#include <h2o.h>
#include <stdint.h>

#include "common/auth.h"
#include "service/registry.h"

#define SRV_INSTANCE_BEAT_S 5
#define SRV_INSTANCE_DEAD_S 20

struct srv_instance {
	struct reg *reg;
	h2o_loop_t *loop;
	char id[REG_INSTANCE_MAX];
	char address[256];
	int64_t started;
	int beaten;				/* the last beat was written */
	int beating;				/* a beat waits for the registry */
	uint8_t secret[REG_CLUSTER_SECRET_LEN]; /* signs requests between instances */
	struct ecap_nonces nonces;		/* of the requests other instances signed */
	h2o_timeout_t every;
	h2o_timeout_entry_t beat;
	struct reg_listener *listener; /* what the others signal */
	h2o_multithread_receiver_t notices;
	struct srv_notice_hooks *hooks;
};

/* A fresh id, the first beat written, the next ones scheduled: 0, or
 * -errno with err set. address: where the other servers reach this one. */
int srv_instance_start(struct srv_instance *in, h2o_loop_t *loop, struct reg *reg,
		       const char *address, char *err, size_t errlen);
/* Its row removed and its tunnels released, at a clean stop. */
void srv_instance_stop(struct srv_instance *in);

/* What another instance signals (registry.h's reg_listen), on the loop: a
 * stop asked for a capture, a device's tunnel taken. Each is a hint to
 * read the registry again now, not a fact: the tables say. */
struct srv_notice_hooks {
	void (*stop)(void *data, int64_t capture);
	void (*moved)(void *data, int64_t device);
	void *data;
};
/* Listen, the hooks called on the loop of queue until srv_instance_stop:
 * 0, or -EOPNOTSUPP (SQLite: no other instance), -errno. */
int srv_instance_listen(struct srv_instance *in, h2o_multithread_queue_t *queue,
			struct srv_notice_hooks *hooks);

/* Requests between instances carry "Edgecap-Instance: AUTH", the
 * method and target signed with the key they share (common/auth.h): the
 * header line, "\r\n" ended, into ret; 0 or -errno. */
#define SRV_INSTANCE_HEADER "edgecap-instance"
int srv_instance_sign(struct srv_instance *in, const char *method, const char *target, char *ret,
		      size_t len);
/* A request's header value: 0 when another instance signed it (fresh, its
 * nonce unseen), else -EACCES with why. */
int srv_instance_check(struct srv_instance *in, const char *value, size_t value_len,
		       const char *method, size_t method_len, const char *target, size_t target_len,
		       char *why, size_t len);

/* How a device whose tunnel another instance holds is reached: that
 * instance's address into ret, 1; 0 when it is ours, nobody's or not a
 * tunnel's; -ENOENT when its holder is gone (its devices are released
 * within SRV_INSTANCE_DEAD_S, and they register again). */
int srv_instance_holder(struct srv_instance *in, int64_t device, char *ret, size_t len);

#endif
