/* settings.c - see settings.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tunnel/settings.h"

const struct mtun_setting mtun_settings[MTUN_SETTINGS] = {
    [MTUN_SET_HELLO] = {"hello_interval_ms", 1000, 600000},
    /* the 2 to 15 minutes some networks wait before falling back */
    [MTUN_SET_UDP_WAIT] = {"udp_wait_ms", 100, 900000},
    [MTUN_SET_COALESCE] = {"coalesce_ms", 10, 50},
    /* below the 30 to 60 s at which proxies cut idle requests */
    [MTUN_SET_HOLD] = {"hold_ms", 1000, 25000},
};

int mtun_setting_find(const char *name, size_t len)
{
	for (int i = 0; i < MTUN_SETTINGS; i++)
		if (strlen(mtun_settings[i].name) == len &&
		    !memcmp(mtun_settings[i].name, name, len))
			return i;
	return -1;
}

int mtun_setting_check(int i, long long v, char *err, size_t errlen)
{
	if (v >= mtun_settings[i].min && v <= mtun_settings[i].max)
		return 0;
	snprintf(err, errlen, "%s: want an integer from %u to %u", mtun_settings[i].name,
		 mtun_settings[i].min, mtun_settings[i].max);
	return -EINVAL;
}
