/* settings.h - the tunnel settings an administrator sets centrally, for
 * the organization and per device (docs/tunnel.md, "Settings from the
 * server"): kept as JSON objects in the registry, merged, checked, and
 * said to a device as PUT /v1/settings's query. The names and ranges are
 * tunnel/settings.h's, which the agent checks too. */
#ifndef SRV_SETTINGS_H
#define SRV_SETTINGS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "service/registry.h"

/* Apply patch (a JSON merge patch: a value sets, null removes) to the
 * settings object cur. 0, or -EINVAL with err naming the field (prefix
 * "settings."), cur then unchanged. */
int srv_settings_patch(json_t *cur, json_t *patch, char *err, size_t errlen);

/* The kept texts (reg_settings_get's; NULL: none) merged, the device's
 * over the organization's, what is not a setting left out: a new object. */
json_t *srv_settings_of(const char *of_org, const char *of_dev);

/* What a device is to run by: the organization's settings with the
 * device's own over them (device 0: the organization's alone). NULL when
 * the registry fails. */
json_t *srv_settings_wanted(struct reg *r, int64_t org, int64_t device);

/* A set as PUT /v1/settings's query ("hello_interval_ms=1000&hold_ms=5000";
 * "" for none) into buf. */
void srv_settings_query(json_t *set, char *buf, size_t len);

/* A device's words about its settings (its status's "settings"), checked
 * field by field: a new object, or NULL when it said none. */
json_t *srv_settings_reported(json_t *s);

#endif
