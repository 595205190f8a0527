/* devices.c - the organization's devices:
 *
 *   GET    /api/v1/devices                 list
 *   POST   /api/v1/devices                 enrol {name, serial, address}: reached directly
 *   POST   /api/v1/devices/claim           claim {serial, code[, name]}: one that announced
 *                                          itself through the tunnel (docs/tunnel.md)
 *   GET    /api/v1/devices/NAME            one, with its tunnel state
 *   PATCH  /api/v1/devices/NAME            {enabled}
 *   DELETE /api/v1/devices/NAME
 *
 * Every lookup is scoped by the caller's organization, so another
 * organization's devices are simply not found. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "service/settings.h"
#include "tunnel/claim.h"
#include "tunnel/identity.h"

/* Its tunnel settings: its own (over the organization's), what it is to
 * run by, what it said it runs by, and whether it has taken them. */
static void settings_json(const char *of_org, const char *of_dev, json_t *reported, json_t *o)
{
	json_t *wanted = srv_settings_of(of_org, of_dev);
	json_t *own = srv_settings_of(NULL, of_dev);

	json_object_set_new(
	    o, "settings",
	    json_pack("{s:o, s:o, s:O, s:b}", "own", own, "wanted", wanted ?: json_object(),
		      "reported", reported ?: json_null(), "applied",
		      wanted && reported &&
			  json_equal(wanted, json_object_get(reported, "central"))));
}

/* What the device last said of itself (service/reports.c), into o: its
 * agent, kernel, interfaces and clock, when it said so, or why it could not
 * be asked since; and its settings. */
static void said_json(const struct reg_device_said *s, const char *of_org, json_t *o)
{
	json_t *r = s->report ? json_loads(s->report, 0, NULL) : NULL;
	char at[32];
	/* what the server kept of the report (reports.c checked each field) */
	static const char *const keys[][2] = {{"agent", "agent"},
					      {"kernel", "kernel"},
					      {"interfaces", "interfaces"},
					      {"clock_offset_ms", "clock_offset_ms"},
					      {"clock_rtt_ms", "rtt_ms"}};

	srv_iso_time(s->reported * 1000, at, sizeof(at));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(r, keys[i][1]);

		json_object_set_new(o, keys[i][0], v ? json_incref(v) : json_null());
	}
	json_object_set_new(o, "reported_at", r ? json_string(at) : json_null());
	settings_json(of_org, s->settings, json_object_get(r, "settings"), o);
	json_object_set_new(o, "report_error", s->error ? json_string(s->error) : json_null());
	json_decref(r);
}

/* said, of_org: what reg_devices_said and reg_settings_get gave for it;
 * NULL: read here (one device) */
static json_t *device_json(struct srv_api *api, const struct reg_device *d,
			   const struct reg_device_said *said, const char *of_org)
{
	struct reg_device_said own = {.id = d->id};
	char *org_settings = NULL, *dev_settings = NULL;
	char mgmt[16], seen[32], created[32], since[32];
	/* offline once unheard for three report intervals, since then */
	int64_t gone = d->last_seen + 3 * (int64_t)api->report_interval_s;
	int online = d->last_seen && time(NULL) <= gone;
	json_t *o;

	if (d->mgmt)
		mtun_addr_str(d->mgmt, mgmt);
	srv_iso_time(d->last_seen * 1000, seen, sizeof(seen));
	srv_iso_time(d->created * 1000, created, sizeof(created));
	srv_iso_time(gone * 1000, since, sizeof(since));
	o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:b, s:o, s:s, s:o, s:s, s:o}", "name", d->name,
		      "serial", d->serial, "address", d->address, "transport", d->transport,
		      "mgmt_address", d->mgmt ? json_string(mgmt) : json_null(), "enabled",
		      d->enabled, "last_seen", d->last_seen ? json_string(seen) : json_null(),
		      "created", created, "pubkey",
		      d->pubkey[0] ? json_string(d->pubkey) : json_null(), "state",
		      !d->enabled    ? "disabled"
		      : online	     ? "online"
		      : d->last_seen ? "offline"
				     : "never seen",
		      "offline_since",
		      d->enabled && d->last_seen && !online ? json_string(since) : json_null());
	if (o && !said) {
		reg_device_report_get(api->reg, d->id, &own.report, &own.reported, &own.error);
		if (!reg_settings_get(api->reg, d->org, d->id, &org_settings, &dev_settings)) {
			own.settings = dev_settings;
			of_org = org_settings;
		}
		said = &own;
	}
	if (o)
		said_json(said, of_org, o);
	free(own.report);
	free(own.error);
	free(org_settings);
	free(dev_settings);
	return o;
}

/* A page of devices (reg_devices_list's, with the same org, after and
 * limit): three statements whatever its length, where each device read on
 * its own would be two more each. A device the second read does not give
 * in step (the list changed in between) is read on its own. */
static json_t *page_json(struct srv_api *api, int64_t org, const char *after, size_t limit,
			 const struct reg_device *d, size_t n)
{
	struct reg_device_said *said = NULL;
	char *of_org = NULL, *none = NULL;
	size_t ns = 0, k = 0;
	json_t *a = json_array();

	if (!reg_devices_said(api->reg, org, after, limit, &said, &ns) &&
	    reg_settings_get(api->reg, org, 0, &of_org, &none)) {
		reg_devices_said_free(said, ns);
		said = NULL;
		ns = 0;
	}
	for (size_t i = 0; i < n; i++) {
		size_t m = k;

		while (m < ns && said[m].id != d[i].id)
			m++;
		if (m < ns) {
			json_array_append_new(a, device_json(api, &d[i], &said[m], of_org));
			k = m + 1;
		} else {
			json_array_append_new(a, device_json(api, &d[i], NULL, NULL));
		}
	}
	reg_devices_said_free(said, ns);
	free(of_org);
	free(none);
	return a;
}

int srv_devices_list(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	struct reg_device *d = NULL;
	char cursor[SRV_CURSOR_MAX + 1];
	json_t *a;
	size_t n = 0, limit;

	if (srv_page(req, &limit, cursor))
		return 0;
	/* one more than the page: whether there is a next */
	if (reg_devices_list(api->reg, who->org, cursor, limit + 1, &d, &n))
		return srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
	a = page_json(api, who->org, cursor, limit, d, n < limit ? n : limit);
	if (n > limit)
		srv_page_next(req, limit, d[limit - 1].name);
	free(d);
	return srv_json(req, 200, a);
}

int srv_devices_state_json(struct srv_api *api, int64_t org, json_t **ret)
{
	struct reg_device *d = NULL;
	size_t n = 0;

	if (reg_devices_list(api->reg, org, "", SRV_DEVICES_EVENTS_MAX, &d, &n))
		return -1;
	*ret = page_json(api, org, "", SRV_DEVICES_EVENTS_MAX, d, n);
	free(d);
	return 0;
}

/* An address given as an IP literal is judged now (a name, each time the
 * server connects): 0, or -EACCES with why set. */
static int address_refused(const struct srv_api *api, const h2o_url_t *url, char *why, size_t len)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	char host[64];
	size_t n = url->host.len;
	const char *p = url->host.base;

	if (n > 1 && p[0] == '[') {
		p++;
		n -= 2;
	}
	if (n >= sizeof(host))
		return 0;
	memcpy(host, p, n);
	host[n] = 0;
	if (inet_aton(host, &s4->sin_addr)) /* 127.1 and 0x7f000001 too, as the resolver */
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		return 0;
	return srv_reach_check(api->reach, (struct sockaddr *)&ss, 0, why, len);
}

static void audit_device(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
			 const char *action, const char *name, json_t *detail)
{
	char target[80];

	snprintf(target, sizeof(target), "device %s", name);
	srv_audit(api, req, who, action, target, detail);
}

int srv_devices_add(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	static const char *const keys[] = {"name", "serial", "address", "pubkey", NULL};
	char secret[2 * REG_SECRET_LEN + 1], why[200];
	json_t *j = srv_body(req), *o;
	const char *name, *serial, *address, *pubkey;
	struct reg_device d;
	h2o_url_t url;
	int64_t id;

	if (!j)
		return 0;
	if (srv_known_keys(req, j, keys) || srv_str_field(req, j, "name", 1, &name) ||
	    srv_str_field(req, j, "serial", 1, &serial) ||
	    srv_str_field(req, j, "address", 0, &address) ||
	    srv_str_field(req, j, "pubkey", 0, &pubkey))
		goto out;
	/* a key is what the tunnel knows a device by: it comes only from the
	 * device itself, by claim, so that no organization can take another's */
	if (pubkey) {
		srv_fail(req, 400,
			 "pubkey: a device with a key joins by claim (POST /api/v1/devices/claim "
			 "{serial, code}), with what its agent prints at start");
		goto out;
	}
	if (!address) {
		srv_fail(req, 400,
			 "address: required for a device reached directly; one that reaches the "
			 "server through the tunnel joins by claim");
		goto out;
	}
	if (!srv_valid_name(name, REG_NAME_MAX) || !srv_valid_name(serial, REG_SERIAL_MAX)) {
		srv_fail(req, 400, "name and serial: 1 to %d (%d) of A-Z a-z 0-9 . _ -",
			 REG_NAME_MAX, REG_SERIAL_MAX);
		goto out;
	}
	if (strlen(address) > REG_ADDRESS_MAX || h2o_url_parse(address, strlen(address), &url) ||
	    !h2o_memis(url.path.base, url.path.len, H2O_STRLIT("/"))) {
		srv_fail(req, 400, "address: want http://HOST:PORT or https://HOST:PORT");
		goto out;
	}
	if (api->reach && address_refused(api, &url, why, sizeof(why))) {
		srv_fail(req, 400, "address: %s (not where a device may be)", why);
		goto out;
	}
	id = reg_device_add(api->reg, who->org, name, serial, address, NULL, secret);
	if (id == -EEXIST)
		srv_fail(req, 409, "a device named '%s' or with serial '%s' is enrolled here", name,
			 serial);
	else if (id < 0 || reg_device_get(api->reg, who->org, name, &d))
		srv_fail(req, 500, "registry: %s", reg_errmsg(api->reg));
	else {
		/* audited, then answered: after its answer the request is not
		 * there to read (on a coroutine, the audit's statement waits) */
		ecap_log(LOG_INFO, "%s/%s enrolled device %s (%s) at %s", who->org_name, who->name,
			 name, serial, address);
		audit_device(api, req, who, "device_enrolled", name,
			     json_pack("{s:s,s:s}", "serial", serial, "address", address));
		o = device_json(api, &d, NULL, NULL);
		json_object_set_new(o, "secret", json_string(secret));
		srv_json(req, 201, o);
	}
out:
	json_decref(j);
	return 0;
}

/* Wrong claim codes an organization may send: CLAIM_FREE in CLAIM_WINDOW_S,
 * then it waits for the window to pass. Ten tries of a 50-bit code a
 * quarter hour leave guessing hopeless. */
#define CLAIM_FREE     10
#define CLAIM_WINDOW_S 900

/* {serial, code[, name]}: the device that announced serial with this code
 * becomes the organization's. A serial nobody claimed, another's, or a
 * wrong code all answer the same 404, so that nothing is learnt of
 * serials by asking. */
int srv_devices_claim(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
		      char **params)
{
	static const char *const keys[] = {"serial", "code", "name", NULL};
	json_t *j = srv_body(req);
	const char *serial, *code, *name;
	struct reg_unclaimed u;
	struct reg_device d;
	char key[48], wait[24], hash[MTUN_CLAIM_HEX];
	int64_t now = time(NULL), id, last = 0;
	unsigned n = 0;

	if (!j)
		return 0;
	if (srv_known_keys(req, j, keys) || srv_str_field(req, j, "serial", 1, &serial) ||
	    srv_str_field(req, j, "code", 1, &code) || srv_str_field(req, j, "name", 0, &name))
		goto out;
	if (!srv_valid_name(serial, REG_SERIAL_MAX)) {
		srv_fail(req, 400, "serial: 1 to %d of A-Z a-z 0-9 . _ -", REG_SERIAL_MAX);
		goto out;
	}
	if (name && !srv_valid_name(name, REG_NAME_MAX)) {
		srv_fail(req, 400, "name: 1 to %d of A-Z a-z 0-9 . _ -", REG_NAME_MAX);
		goto out;
	}
	/* a typing slip is no guess: not counted against the organization */
	if (mtun_claim_hash("", code, hash)) {
		srv_fail(req, 400,
			 "code: want sixteen digits and letters, XXXX-XXXX-XXXX-XXXX (as the "
			 "agent prints it)");
		goto out;
	}
	snprintf(key, sizeof(key), "claim org %lld", (long long)who->org);
	if (reg_signin_failures(api->reg, key, now - CLAIM_WINDOW_S, &n, &last)) {
		srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
		goto out;
	}
	if (n >= CLAIM_FREE) {
		snprintf(wait, sizeof(wait), "%lld", (long long)(last + CLAIM_WINDOW_S - now));
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
			       h2o_strdup(&req->pool, wait, SIZE_MAX).base, strlen(wait));
		srv_fail(req, 429, "too many wrong claim codes; try again in %s s", wait);
		goto out;
	}
	id = reg_device_claim(api->reg, who->org, serial, code, name, &u);
	if (id == -ENOENT) {
		reg_signin_failed(api->reg, key, now);
		srv_fail(req, 404,
			 "code: no device waits to be claimed with serial '%s' and that code "
			 "(its agent prints both at start)",
			 serial);
	} else if (id == -EEXIST)
		srv_fail(req, 409, "a device named '%s' or with serial '%s' is enrolled here",
			 u.hostname, serial);
	else if (id == -ENAMETOOLONG)
		srv_fail(req, 400,
			 "name: required (the device announced none, and its serial is "
			 "longer than a name may be)");
	else if (id < 0 || reg_device_get(api->reg, who->org, u.hostname, &d))
		srv_fail(req, 500, "registry: %s", reg_errmsg(api->reg));
	else {
		ecap_log(LOG_INFO, "%s/%s claimed device %s (%s)", who->org_name, who->name, d.name,
			 serial);
		audit_device(api, req, who, "device_claimed", d.name,
			     json_pack("{s:s,s:s}", "serial", serial, "agent", d.address));
		srv_json(req, 201, device_json(api, &d, NULL, NULL));
	}
out:
	json_decref(j);
	return 0;
}

int srv_device_get(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	struct srv_tunnel_device_info t;
	struct reg_device d;
	json_t *o;

	if (reg_device_get(api->reg, who->org, params[0], &d))
		return srv_fail(req, 404, "no device '%s'", params[0]);
	o = device_json(api, &d, NULL, NULL);
	if (!srv_tunnel_device(api->tunnel, who->org, d.name, &t))
		json_object_set_new(
		    o, "tunnel",
		    json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "client",
			      (json_int_t)t.client, "path", t.path, "sent", (json_int_t)t.sent,
			      "resent", (json_int_t)t.resent, "received", (json_int_t)t.received,
			      "duplicates", (json_int_t)t.duplicates, "out_of_order",
			      (json_int_t)t.out_of_order, "window_full", (json_int_t)t.window_full,
			      "bad_packets", (json_int_t)t.bad_packets, "unacked",
			      (json_int_t)t.unacked));
	return srv_json(req, 200, o);
}

/* The device's own settings patched: 0, or the 4xx/5xx sent. */
static int patch_settings(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
			  const struct reg_device *d, json_t *patch)
{
	char *of_org = NULL, *of_dev = NULL, *text = NULL, err[256];
	json_t *set;
	int r;

	if (reg_settings_get(api->reg, who->org, d->id, &of_org, &of_dev))
		return srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg)), -1;
	set = srv_settings_of(NULL, of_dev);
	free(of_org);
	free(of_dev);
	if (srv_settings_patch(set, patch, err, sizeof(err))) {
		json_decref(set);
		return srv_fail(req, 400, "%s", err), -1;
	}
	if (json_object_size(set))
		text = json_dumps(set, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(set);
	r = reg_device_set_settings(api->reg, who->org, d->name, text);
	free(text);
	if (r)
		return srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg)), -1;
	reg_devices_ask_soon(api->reg, who->org, d->name); /* said to it at the next round */
	return 0;
}

/* {enabled}: a disabled device cannot register with the tunnel (its current
 * registration ends) nor be captured from; {settings}: its own tunnel
 * settings, a merge patch. */
int srv_device_patch(struct srv_api *api, h2o_req_t *req, const struct reg_user *who, char **params)
{
	static const char *const keys[] = {"enabled", "settings", NULL};
	const char *name = params[0];
	json_t *j = srv_body(req), *v, *set;
	struct reg_device d;
	int r;

	if (!j)
		return 0;
	if (srv_known_keys(req, j, keys))
		goto out;
	v = json_object_get(j, "enabled");
	set = json_object_get(j, "settings");
	if (v && !json_is_boolean(v)) {
		srv_fail(req, 400, "enabled: want true or false");
		goto out;
	}
	if (!v && !set) {
		srv_fail(req, 400, "want enabled or settings");
		goto out;
	}
	if (set && !json_is_object(set)) {
		srv_fail(req, 400, "settings: want an object");
		goto out;
	}
	if ((r = reg_device_get(api->reg, who->org, name, &d))) {
		if (r == -ENOENT)
			srv_fail(req, 404, "no device '%s'", name);
		else
			srv_fail(req, 503, "registry: %s", reg_errmsg(api->reg));
		goto out;
	}
	if (set && patch_settings(api, req, who, &d, set))
		goto out;
	if (v) {
		r = reg_device_enable(api->reg, who->org, name, json_is_true(v));
		if (r == -ENOENT) {
			srv_fail(req, 404, "no device '%s'", name);
			goto out;
		}
		if (r) {
			srv_fail(req, 500, "registry: %s", reg_errmsg(api->reg));
			goto out;
		}
		if (!json_is_true(v))
			srv_tunnel_device_gone(api->tunnel, who->org, name);
		ecap_log(LOG_INFO, "%s/%s %s device %s", who->org_name, who->name,
			 json_is_true(v) ? "enabled" : "disabled", name);
	}
	if (reg_device_get(api->reg, who->org, name, &d)) {
		srv_fail(req, 500, "registry: %s", reg_errmsg(api->reg));
		goto out;
	}
	audit_device(api, req, who, "device_changed", name, json_deep_copy(j));
	srv_json(req, 200, device_json(api, &d, NULL, NULL));
out:
	json_decref(j);
	return 0;
}

int srv_device_delete(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
		      char **params)
{
	int r = reg_device_delete(api->reg, who->org, params[0]);

	if (r == -ENOENT)
		return srv_fail(req, 404, "no device '%s'", params[0]);
	if (r == -EBUSY)
		return srv_fail(req, 409, "device '%s' has captures", params[0]);
	if (r)
		return srv_fail(req, 500, "registry: %s", reg_errmsg(api->reg));
	/* its management address may go to another device now */
	srv_tunnel_device_gone(api->tunnel, who->org, params[0]);
	ecap_log(LOG_INFO, "%s/%s deleted device %s", who->org_name, who->name, params[0]);
	audit_device(api, req, who, "device_removed", params[0], NULL);
	return srv_json(req, 200, json_pack("{s:s}", "deleted", params[0]));
}
