/* reports.h - what each device says of itself: the server asks every
 * enabled device's agent for GET /v1/status (signed as a capture's request,
 * over the mTunnel for a device reached through it) every interval_s, and
 * keeps the answer in the registry with the device's clock offset, or why
 * it could not be asked. A device is heard when it answers: it is online
 * while it was heard within three intervals (docs/api.yaml, Device). */
#ifndef SRV_REPORTS_H
#define SRV_REPORTS_H

#include <h2o.h>
#include <openssl/ssl.h>

#include "service/reach.h"
#include "service/registry.h"

struct srv_reports_conf {
	h2o_loop_t *loop;
	h2o_multithread_receiver_t *getaddr;
	struct reg *reg;
	X509_STORE *ca_store;
	const struct srv_reach *reach; /* NULL: anywhere */
	const char *userappl;
	unsigned interval_s;  /* each device asked this often */
	const char *instance; /* this server's id: devices whose tunnel another
			       * holds are that one's to ask */
};

struct srv_reports;
struct srv_reports *srv_reports_new(const struct srv_reports_conf *c);
/* Calls under way are dropped. Accepts NULL. */
void srv_reports_free(struct srv_reports *rs);

#endif
