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

#endif
