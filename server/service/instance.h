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

#include "service/registry.h"

#define SRV_INSTANCE_BEAT_S 5
#define SRV_INSTANCE_DEAD_S 20

struct srv_instance {
	struct reg *reg;
	h2o_loop_t *loop;
	char id[REG_INSTANCE_MAX];
	char address[256];
	int64_t started;
	int beaten; /* the last beat was written */
	h2o_timeout_t every;
	h2o_timeout_entry_t beat;
};

/* A fresh id, the first beat written, the next ones scheduled: 0, or
 * -errno with err set. address: where the other servers reach this one. */
int srv_instance_start(struct srv_instance *in, h2o_loop_t *loop, struct reg *reg,
		       const char *address, char *err, size_t errlen);
/* Its row removed and its tunnels released, at a clean stop. */
void srv_instance_stop(struct srv_instance *in);

#endif
