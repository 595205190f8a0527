/* settings.c - see settings.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/settings.h"
#include "tunnel/settings.h"

int srv_settings_patch(json_t *cur, json_t *patch, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	if (!json_is_object(patch)) {
		snprintf(err, errlen, "settings: want an object");
		return -EINVAL;
	}
	json_object_foreach(patch, k, v) {
		int i = mtun_setting_find(k, strlen(k));
		char why[128];

		if (i < 0) {
			snprintf(err, errlen,
				 "settings.%.64s: no such setting (have %s, %s, %s, %s)", k,
				 mtun_settings[0].name, mtun_settings[1].name,
				 mtun_settings[2].name, mtun_settings[3].name);
			return -EINVAL;
		}
		if (!json_is_null(v) &&
		    (!json_is_integer(v) ||
		     mtun_setting_check(i, json_integer_value(v), why, sizeof(why)))) {
			/* the agent's words ("NAME: want ..."), or null */
			if (!json_is_integer(v))
				mtun_setting_check(i, -1, why, sizeof(why));
			snprintf(err, errlen, "settings.%s, or null", why);
			return -EINVAL;
		}
	}
	json_object_foreach(patch, k, v) {
		if (json_is_null(v))
			json_object_del(cur, k);
		else
			json_object_set(cur, k, v);
	}
	return 0;
}

/* A kept object (text) into o, key by key: what an older server wrote, or
 * a hand edit, that is not a setting is left out. */
static void merge_text(json_t *o, const char *text)
{
	json_t *j = text ? json_loads(text, 0, NULL) : NULL, *v;
	const char *k;

	json_object_foreach(j, k, v) {
		int i = mtun_setting_find(k, strlen(k));
		char why[128];

		if (i >= 0 && json_is_integer(v) &&
		    !mtun_setting_check(i, json_integer_value(v), why, sizeof(why)))
			json_object_set(o, k, v);
	}
	json_decref(j);
}

json_t *srv_settings_of(const char *of_org, const char *of_dev)
{
	json_t *o = json_object();

	merge_text(o, of_org);
	merge_text(o, of_dev);
	return o;
}

json_t *srv_settings_wanted(struct reg *r, int64_t org, int64_t device)
{
	char *of_org = NULL, *of_dev = NULL;
	json_t *o;

	if (reg_settings_get(r, org, device, &of_org, &of_dev))
		return NULL;
	o = srv_settings_of(of_org, of_dev);
	free(of_org);
	free(of_dev);
	return o;
}

void srv_settings_query(json_t *set, char *buf, size_t len)
{
	size_t at = 0;

	buf[0] = 0;
	for (int i = 0; i < MTUN_SETTINGS; i++) {
		json_t *v = json_object_get(set, mtun_settings[i].name);

		/* (four names and numbers fit well within a target) */
		if (json_is_integer(v) && at < len)
			at += (size_t)snprintf(buf + at, len - at, "%s%s=%lld", at ? "&" : "",
					       mtun_settings[i].name,
					       (long long)json_integer_value(v));
	}
}

json_t *srv_settings_reported(json_t *s)
{
	json_t *o, *central, *c = json_object_get(s, "central");

	if (!json_is_object(s))
		return NULL;
	o = json_object();
	central = json_object();
	for (int i = 0; i < MTUN_SETTINGS; i++) {
		const char *k = mtun_settings[i].name;
		json_t *v = json_object_get(s, k), *w = json_object_get(c, k);
		char why[128];

		/* in force: hold_ms 0 is "the server's" */
		json_object_set_new(o, k,
				    json_is_integer(v) && json_integer_value(v) >= 0 &&
					    json_integer_value(v) <= mtun_settings[i].max
					? json_copy(v)
					: json_null());
		if (json_is_integer(w) &&
		    !mtun_setting_check(i, json_integer_value(w), why, sizeof(why)))
			json_object_set(central, k, w);
	}
	json_object_set_new(o, "central", central);
	return o;
}
