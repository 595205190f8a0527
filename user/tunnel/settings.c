/* settings.c - see settings.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tunnel/settings.h"

const struct mtun_setting mtun_settings[MTUN_SETTINGS] = {
    /* a third of the 3 minutes after which the server forgets a silent
     * device, and within what NATs keep a UDP mapping */
    [MTUN_SET_HELLO] = {"hello_interval_ms", 1000, 60000, 1},
    /* the 2 to 15 minutes some networks wait before falling back */
    [MTUN_SET_UDP_WAIT] = {"udp_wait_ms", 100, 900000, 1},
    [MTUN_SET_COALESCE] = {"coalesce_ms", 10, 50, 1},
    /* below the 30 to 60 s at which proxies cut idle requests; the server
     * holds polls for whole seconds */
    [MTUN_SET_HOLD] = {"hold_ms", 1000, 25000, 1000},
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
	const struct mtun_setting *s = &mtun_settings[i];

	if (v >= s->min && v <= s->max && v % s->step == 0)
		return 0;
	if (s->step > 1)
		snprintf(err, errlen, "%s: want an integer from %u to %u, a multiple of %u",
			 s->name, s->min, s->max, s->step);
	else
		snprintf(err, errlen, "%s: want an integer from %u to %u", s->name, s->min, s->max);
	return -EINVAL;
}
