/* fuzz_params.c - libFuzzer target for the agent's request parser: any query
 * string either parses into parameters within their limits and a program the
 * validator accepts, or fails with a message; never a crash or a leak
 * (the fuzz build has AddressSanitizer). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/params.h"
#include "common/bounds.h"

/* libFuzzer calls it */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_params p;
	char err[ECAP_ERRLEN];

	if (agent_params_parse((const char *)data, size, &p, err, sizeof(err))) {
		if (!err[0] || strlen(err) >= sizeof(err))
			abort();
		return 0;
	}
	if (!p.prog.len || ecap_cbpf_validate(p.prog.insns, p.prog.len, err, sizeof(err)) ||
	    !p.snaplen || p.snaplen > ECAP_SNAPLEN_MAX || !p.dirs || p.dirs > 3 ||
	    p.duration > ECAP_CAPTURE_DURATION_MAX || p.nifaces > ECAP_CAPTURE_IFACES_MAX)
		abort();
	for (unsigned i = 0; i < p.nifaces; i++)
		if (!p.ifaces[i][0] || strlen(p.ifaces[i]) >= IF_NAMESIZE)
			abort();
	agent_params_free(&p);
	return 0;
}
