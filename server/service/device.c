/* device.c - see device.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <h2o.h>

#include "common/httpc.h"
#include "common/log.h"
#include "service/device.h"
#include "tunnel/identity.h"

int srv_device_url(const struct reg_device *d, char *ret, size_t len, uint32_t *mgmt)
{
	char host[16];
	h2o_url_t u;

	if (h2o_url_parse(d->address, strlen(d->address), &u))
		return -EINVAL;
	if (!h2o_memis(u.host.base, u.host.len, H2O_STRLIT("tunnel"))) {
		snprintf(ret, len, "%s", d->address);
		return 0;
	}
	if (!d->mgmt)
		return -EINVAL;
	*mgmt = d->mgmt;
	mtun_addr_str(d->mgmt, host);
	snprintf(ret, len, "%.*s://%s:%u", (int)u.scheme->name.len, u.scheme->name.base, host,
		 h2o_url_get_port(&u));
	return 0;
}

void srv_device_reason(const struct ecap_httpc_call *c, char *ret, size_t len)
{
	for (size_t i = 0; i < c->resp_nheaders; i++) {
		const h2o_header_t *h = &c->resp_headers[i];
		char reason[200];

		if (h2o_lcstris(h->name->base, h->name->len, H2O_STRLIT("edgecap-error"))) {
			snprintf(reason, sizeof(reason), "%.*s", (int)h->value.len, h->value.base);
			ecap_text_clean(ret, len, reason);
			return;
		}
	}
}
