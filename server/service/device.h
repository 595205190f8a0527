/* device.h - what the server's calls to devices share (capture.c,
 * reports.c). */
#ifndef SRV_DEVICE_H
#define SRV_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#include "service/registry.h"

/* The device's URL: an address whose host is "tunnel" means its management
 * address, reached over the mTunnel (*mgmt set). 0, or -EINVAL. */
int srv_device_url(const struct reg_device *d, char *ret, size_t len, uint32_t *mgmt);

struct ecap_httpc_call;
/* A refusal's reason: the agent's Edgecap-Error header, cleaned, into ret
 * (left as it is when there is none); never the body, which any service at
 * the address could have written. */
void srv_device_reason(const struct ecap_httpc_call *c, char *ret, size_t len);

/* How far the device's clock is ahead of the server's, from its last
 * report (the offset it measured, to within half the round trip): the
 * shift in ns to place its packets on the server's time line, 0 when in
 * step or unknown; note says so when not in step ("" when in step): the
 * clock unknown, or its offset and whether it passes the reorder window. */
int64_t srv_device_clock(struct reg *reg, const struct reg_device *d, int64_t window_ms, char *note,
			 size_t len);

#endif
