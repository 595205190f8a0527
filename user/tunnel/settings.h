/* settings.h - the tunnel's settings an administrator sets centrally: their
 * names, as the API, the agent's PUT /v1/settings and its settings file
 * spell them, and their ranges (docs/tunnel.md, "Settings from the
 * server"). One table for server and agent, so both check the same. */
#ifndef ECAP_MTUN_SETTINGS_H
#define ECAP_MTUN_SETTINGS_H

#include <stddef.h>

enum {
	MTUN_SET_HELLO,	   /* UDP probe interval */
	MTUN_SET_UDP_WAIT, /* no answer by UDP this long: HTTP */
	MTUN_SET_COALESCE, /* by HTTP: the wait before a second request */
	MTUN_SET_HOLD,	   /* by HTTP: how long the server holds a parked poll */
	MTUN_SETTINGS
};

struct mtun_setting {
	const char *name;	 /* "hello_interval_ms" */
	unsigned min, max, step; /* a multiple of step */
};

extern const struct mtun_setting mtun_settings[MTUN_SETTINGS];

/* Its index, or -1 for a name that is none of them (len bytes of name). */
int mtun_setting_find(const char *name, size_t len);

/* One value: 0, or -EINVAL with err "NAME: want an integer from MIN to MAX"
 * (", a multiple of STEP" where it has one). */
int mtun_setting_check(int i, long long v, char *err, size_t errlen);

#endif
