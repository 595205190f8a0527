/* device.c - see device.h. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
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

int64_t srv_device_clock(struct reg *reg, const struct reg_device *d, int64_t window_ms, char *note,
			 size_t len)
{
	char *text = NULL, *error = NULL;
	json_t *r = NULL, *off, *rtt;
	int64_t when = 0, shift = 0;

	note[0] = 0;
	if (!reg_device_report_get(reg, d->id, &text, &when, &error) && text)
		r = json_loads(text, 0, NULL);
	off = json_object_get(r, "clock_offset_ms");
	rtt = json_object_get(r, "rtt_ms");
	if (!json_is_integer(off)) {
		snprintf(note, len,
			 "clock unknown (the device has not reported it): its packets carry its "
			 "own time, which may be off the server's and the other devices'");
	} else {
		int64_t o = json_integer_value(off),
			half = json_is_integer(rtt) ? json_integer_value(rtt) / 2 : 0;

		/* within what the measure can tell: in step */
		if (llabs(o) > half + 1) {
			shift = o * 1000000;
			snprintf(
			    note, len,
			    "clock %+lld ms off the server's (to within %lld ms)%s: its packets "
			    "are placed on the server's time line",
			    (long long)o, (long long)half + 1,
			    llabs(o) > window_ms ? ", past the merger's reorder window" : "");
		}
	}
	json_decref(r);
	free(text);
	free(error);
	return shift;
}
