/* settings.c - the tunnel settings the server sets (docs/tunnel.md,
 * "Settings from the server").
 *
 *   PUT /v1/settings?hello_interval_ms=10000&udp_wait_ms=120000
 *
 * names the whole central set (an empty query clears it): each value
 * stands in for the configuration file's while it is set. The set is
 * written to settings_file first (a device that restarts keeps it, before it
 * has reached the server again), then applied at once; the answer is
 * GET /v1/status's, whose "settings" shows the values in force and the
 * central set. The request is signed like every other (the query is in
 * the signed target). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "tunnel/settings.h"

static unsigned *field(struct agent_conf *c, int i)
{
	switch (i) {
	case MTUN_SET_HELLO:
		return &c->hello_ms;
	case MTUN_SET_UDP_WAIT:
		return &c->udp_wait_ms;
	case MTUN_SET_COALESCE:
		return &c->coalesce_ms;
	default:
		return &c->hold_ms;
	}
}

/* The central value where one is set, else the file's. */
static void apply(struct agent *a)
{
	for (int i = 0; i < MTUN_SETTINGS; i++)
		*field(&a->conf, i) = a->central[i] ? a->central[i] : a->local[i];
}

/* "NAME=V&NAME=V" (len bytes) -> set: 0, or -EINVAL with err naming the
 * setting. */
static int parse_query(const char *q, size_t len, unsigned *set, char *err, size_t errlen)
{
	const char *end = q + len;

	memset(set, 0, MTUN_SETTINGS * sizeof(*set));
	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q)) ?: end;
		const char *eq = memchr(q, '=', (size_t)(amp - q));
		char num[16], *e;
		long long v;
		int i;

		if (amp == q) { /* "a=1&&b=2", a trailing '&' */
			q++;
			continue;
		}
		i = mtun_setting_find(q, (size_t)((eq ?: amp) - q));
		if (i >= 0 && !eq) {
			snprintf(err, errlen, "%s: want %s=VALUE", mtun_settings[i].name,
				 mtun_settings[i].name);
			return -EINVAL;
		}
		if (i < 0) {
			snprintf(err, errlen, "unknown setting '%.*s' (have %s, %s, %s, %s)",
				 (int)((eq ?: amp) - q > 64 ? 64 : (eq ?: amp) - q), q,
				 mtun_settings[0].name, mtun_settings[1].name,
				 mtun_settings[2].name, mtun_settings[3].name);
			return -EINVAL;
		}
		if (set[i]) {
			snprintf(err, errlen, "%s given twice", mtun_settings[i].name);
			return -EINVAL;
		}
		snprintf(num, sizeof(num), "%.*s", (int)(amp - eq - 1 < 15 ? amp - eq - 1 : 15),
			 eq + 1);
		v = strtoll(num, &e, 10);
		if (!num[0] || *e || amp - eq - 1 > 15)
			v = -1;
		if (mtun_setting_check(i, v, err, errlen))
			return -EINVAL;
		set[i] = (unsigned)v;
		q = amp;
	}
	return 0;
}

/* The set into the file, through a temporary one: 0 or -errno. */
static int save(const struct agent *a, const unsigned *set, char *err, size_t errlen)
{
	char tmp[300];
	FILE *f;
	int e = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", a->conf.settings_file);
	f = fopen(tmp, "we");
	if (!f)
		e = -errno;
	for (int i = 0; f && i < MTUN_SETTINGS; i++)
		if (set[i])
			fprintf(f, "%s = %u\n", mtun_settings[i].name, set[i]);
	/* on disk before it stands for the old one */
	if (f && (fflush(f) || fsync(fileno(f))))
		e = -errno;
	if (f && fclose(f) && !e)
		e = -errno;
	if (!e && rename(tmp, a->conf.settings_file))
		e = -errno;
	if (e) {
		unlink(tmp);
		snprintf(err, errlen, "saving the settings to %.120s: %s", a->conf.settings_file,
			 strerror(-e));
	}
	return e;
}

void agent_settings_load(struct agent *a)
{
	char line[128], name[64], err[160];
	unsigned set[MTUN_SETTINGS] = {0};
	FILE *f = a->conf.settings_file[0] ? fopen(a->conf.settings_file, "re") : NULL;
	unsigned lineno = 0;
	long long v;

	for (int i = 0; i < MTUN_SETTINGS; i++)
		a->local[i] = *field(&a->conf, i);
	while (f && fgets(line, sizeof(line), f)) {
		int got, i;

		lineno++;
		if (line[strspn(line, " \t\r\n")] == 0)
			continue;
		got = sscanf(line, "%63[^= \t] = %lld", name, &v);
		i = got >= 1 ? mtun_setting_find(name, strlen(name)) : -1;
		if (got < 1)
			snprintf(err, sizeof(err), "not NAME = VALUE");
		else if (i < 0)
			snprintf(err, sizeof(err), "no such setting: %s", name);
		else if (got < 2)
			snprintf(err, sizeof(err), "%s: want %s = VALUE", name, name);
		if (got < 2 || i < 0 || mtun_setting_check(i, v, err, sizeof(err))) {
			/* a damaged file must not keep a device from its server:
			 * the configuration file's values, until the server's
			 * come again */
			ecap_log(LOG_WARNING, "%s:%u: %s; the file's settings are ignored",
				 a->conf.settings_file, lineno, err);
			memset(set, 0, sizeof(set));
			break;
		}
		set[i] = (unsigned)v;
	}
	if (f)
		fclose(f);
	memcpy(a->central, set, sizeof(set));
	apply(a);
	for (int i = 0; i < MTUN_SETTINGS; i++)
		if (a->central[i])
			ecap_log(LOG_INFO, "%s = %u, as the server set it", mtun_settings[i].name,
				 a->central[i]);
}

void agent_settings_status(struct agent *a, json_t *o)
{
	json_t *s = json_object(), *central = json_object();

	for (int i = 0; i < MTUN_SETTINGS; i++) {
		json_object_set_new(s, mtun_settings[i].name, json_integer(*field(&a->conf, i)));
		if (a->central[i])
			json_object_set_new(central, mtun_settings[i].name,
					    json_integer(a->central[i]));
	}
	json_object_set_new(s, "central", central);
	json_object_set_new(o, "settings", s);
}

static int on_put(struct agent *a, h2o_req_t *req)
{
	unsigned set[MTUN_SETTINGS];
	char err[200];

	if (!a->conf.tunnel[0])
		return web_error(req, 409,
				 "no tunnel here: this agent's settings come from its file only");
	/* the bytes the signature covered (agent_authorize) */
	if (parse_query(
		req->input.query_at == SIZE_MAX ? ""
						: req->input.path.base + req->input.query_at + 1,
		req->input.query_at == SIZE_MAX ? 0 : req->input.path.len - req->input.query_at - 1,
		set, err, sizeof(err)))
		return web_error(req, 400, "%s", err);
	if (memcmp(set, a->central, sizeof(set))) {
		if (save(a, set, err, sizeof(err))) /* (logged as every refusal) */
			return web_error(req, 500, "%s", err);
		memcpy(a->central, set, sizeof(set));
		apply(a);
		agent_tunnel_settings(a);
		ecap_log(LOG_INFO,
			 "settings from the server: hello_interval_ms %u, udp_wait_ms %u, "
			 "coalesce_ms %u, hold_ms %u%s",
			 a->conf.hello_ms, a->conf.udp_wait_ms, a->conf.coalesce_ms,
			 a->conf.hold_ms, a->conf.hold_ms ? "" : " (the server's)");
	}
	return agent_status_reply(a, req);
}

int agent_settings_init(struct agent *a, h2o_hostconf_t *host)
{
	agent_route_method(a, host, "/v1/settings", "PUT", on_put);
	return 0;
}
