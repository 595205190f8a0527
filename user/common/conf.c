/* conf.c - see conf.h. */
#include "common/conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

int ecap_conf_set(const struct ecap_conf_key *keys, void *conf, const char *key, const char *value,
		  char *err, size_t errlen)
{
	const struct ecap_conf_key *k = keys;
	char *at, *end;
	double v;

	while (k->key && strcmp(k->key, key))
		k++;
	if (!k->key) {
		snprintf(err, errlen, "unknown setting '%s'", key);
		return -EINVAL;
	}
	at = (char *)conf + k->off;
	switch (k->type) {
	case ECAP_CONF_STR:
		if (strlen(value) >= k->size) {
			snprintf(err, errlen, "%s: too long (at most %zu bytes)", key, k->size - 1);
			return -EINVAL;
		}
		strcpy(at, value);
		return 0;
	case ECAP_CONF_UINT:
		v = strtod(value, &end) * k->scale;
		if (*end || end == value || !(v >= k->min && v <= k->max)) { /* NaN too */
			snprintf(err, errlen, "%s: from %g to %g", key, k->min / k->scale,
				 k->max / k->scale);
			return -EINVAL;
		}
		*(unsigned *)(void *)at = (unsigned)(v + 0.5);
		return 0;
	case ECAP_CONF_BOOL:
		if (strcmp(value, "yes") && strcmp(value, "no")) {
			snprintf(err, errlen, "%s: yes or no", key);
			return -EINVAL;
		}
		*(int *)(void *)at = !strcmp(value, "yes");
		return 0;
	case ECAP_CONF_FN:
		return k->fn(conf, value, err, errlen);
	}
	return -EINVAL;
}

int ecap_conf_load(const struct ecap_conf_key *keys, void *conf, const char *path, int must_exist,
		   char *err, size_t errlen)
{
	char line[1024], sub[512];
	unsigned no = 0;
	FILE *f = fopen(path, "re");
	int r = 0;

	if (!f) {
		if (errno == ENOENT && !must_exist)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	while (!r && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '#'), *eq;

		no++;
		if (p)
			*p = 0;
		p = trim(line);
		if (!*p)
			continue;
		eq = strchr(p, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: want key = value", path, no);
			r = -EINVAL;
			break;
		}
		*eq = 0;
		r = ecap_conf_set(keys, conf, trim(p), trim(eq + 1), sub, sizeof(sub));
		if (r)
			snprintf(err, errlen, "%s:%u: %s", path, no, sub);
	}
	fclose(f);
	return r;
}
