/* params.h - the query string of GET /v1/capture, parsed and checked: the
 * part of the agent that takes untrusted input apart, kept free of h2o so
 * that a fuzz target can drive it. */
#ifndef AGENT_PARAMS_H
#define AGENT_PARAMS_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "capture.h"
#include "filter/cbpf.h"

struct agent_params {
	struct ecap_cbpf prog; /* validated */
	char ifaces[ECAP_MAX_SESSION_IFACES][IF_NAMESIZE];
	unsigned nifaces; /* 0: every interface served */
	int any;	  /* iface=any (ifaces[0]): every interface served, cooked (LINUX_SLL2) */
	unsigned dirs;
	uint32_t snaplen;
	uint64_t count;
	uint32_t duration;
	int linktype; /* the DLT bpf was compiled for (ECAP_LINKTYPE_*) */
};

/* query: what follows '?', form-encoded. 0, or -EINVAL with the one line a
 * 400 says in err; -ENOMEM. On success the caller frees with
 * agent_params_free. */
int agent_params_parse(const char *query, size_t len, struct agent_params *ret, char *err,
		       size_t errlen);
void agent_params_free(struct agent_params *p);

#endif
