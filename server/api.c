/* api.c - the admin REST API under /api/v1/: JSON in and out (jansson),
 * bearer tokens, and every lookup scoped by the token's organization, so
 * another organization's devices and captures are simply not found.
 *
 *   GET    /api/v1/devices                 the organization's devices
 *   POST   /api/v1/devices                 enrol {name, serial[, address][, pubkey]}
 *   GET    /api/v1/devices/NAME
 *   PATCH  /api/v1/devices/NAME            {enabled}
 *   DELETE /api/v1/devices/NAME
 *   POST   /api/v1/filters/compile         {expression[, snaplen]}
 *   GET    /api/v1/captures                the organization's captures
 *   POST   /api/v1/captures                start {devices, expression, ...}
 *   GET    /api/v1/captures/ID             status, per device
 *   DELETE /api/v1/captures/ID             stop
 *   GET    /api/v1/captures/ID/pcap        merged pcapng, live
 *   GET    /api/v1/captures/ID/text        tcpdump -nn -tt lines, live
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "filter/compile.h"
#include "tunnel/identity.h"
#include "server.h"
#include "tunnel.h"

#define PREFIX "/api/v1/"

struct api {
	h2o_handler_t super;
	struct server *s;
};

int api_json(h2o_req_t *req, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	size_t len = text ? strlen(text) : 0;
	char *copy = h2o_mem_alloc_pool(&req->pool, len + 1);

	json_decref(body);
	if (text)
		memcpy(copy, text, len);
	copy[len++] = '\n';
	free(text);
	req->res.status = status;
	req->res.reason = status == 200 ? "OK" : status == 201 ? "Created" : "Error";
	req->res.content_length = len;
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       H2O_STRLIT("application/json"));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
		       H2O_STRLIT("no-store"));
	h2o_send_inline(req, copy, len);
	return 0;
}

int api_fail(h2o_req_t *req, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return api_json(req, status, json_pack("{s:s}", "error", msg));
}

/* Names of devices and interfaces: what can go in a URL and a log as is. */
static int valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return 0;
	return 1;
}

/* The request's JSON object, or NULL with a 400 sent. */
static json_t *body_json(h2o_req_t *req)
{
	json_error_t e;
	json_t *j;

	if (!req->entity.base)
		return api_fail(req, 400, "want a JSON object in the body"), NULL;
	j = json_loadb(req->entity.base, req->entity.len, 0, &e);
	if (!j)
		return api_fail(req, 400, "invalid JSON at line %d, column %d: %s", e.line, e.column,
				e.text),
		       NULL;
	if (!json_is_object(j)) {
		json_decref(j);
		return api_fail(req, 400, "want a JSON object in the body"), NULL;
	}
	return j;
}

/* Every key of o must be in keys (NULL-terminated): 0, or 400 sent. */
static int known_keys(h2o_req_t *req, json_t *o, const char *const *keys)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		const char *const *p = keys;

		while (*p && strcmp(*p, k))
			p++;
		if (!*p) {
			api_fail(req, 400, "unknown field '%s'", k);
			return -1;
		}
	}
	return 0;
}

/* An optional integer field in [min, max]: 0 (absent keeps *ret), or 400. */
static int int_field(h2o_req_t *req, json_t *o, const char *key, int64_t min, int64_t max,
		     int64_t *ret)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		api_fail(req, 400, "%s: want an integer from %lld to %lld", key, (long long)min,
			 (long long)max);
		return -1;
	}
	*ret = json_integer_value(v);
	return 0;
}

/* A string field: NULL when absent (and not required) or with a 400 sent;
 * *bad tells the two apart. */
static const char *str_field(h2o_req_t *req, json_t *o, const char *key, int required, int *bad)
{
	json_t *v = json_object_get(o, key);

	if (!v && !required)
		return NULL;
	if (!json_is_string(v)) {
		api_fail(req, 400, "%s: want a string", key);
		*bad = 1;
		return NULL;
	}
	return json_string_value(v);
}

static int devices_add(struct server *s, h2o_req_t *req, const struct reg_admin *who)
{
	static const char *const keys[] = {"name", "serial", "address", "pubkey", NULL};
	char secret[2 * REG_SECRET_LEN + 1];
	json_t *j = body_json(req);
	const char *name, *serial, *address, *pubkey;
	int bad = 0;
	h2o_url_t url;
	int64_t id;

	if (!j)
		return 0;
	if (known_keys(req, j, keys) || !(name = str_field(req, j, "name", 1, &bad)) ||
	    !(serial = str_field(req, j, "serial", 1, &bad)) ||
	    (!(address = str_field(req, j, "address", 0, &bad)) && bad) ||
	    (!(pubkey = str_field(req, j, "pubkey", 0, &bad)) && bad))
		goto out;
	if (pubkey && mtun_pubkey_check(pubkey)) {
		api_fail(req, 400, "pubkey: want an Ed25519 public key, 32 bytes in base64 "
				   "(edgecap-agent keygen prints it)");
		goto out;
	}
	if (!address && !pubkey) {
		api_fail(req, 400, "address: required unless the device has a pubkey (then "
				   "it is reached over the tunnel)");
		goto out;
	}
	if (!address)
		address = "https://tunnel:8443";
	if (!valid_name(name, REG_NAME_MAX) || !valid_name(serial, 128)) {
		api_fail(req, 400, "name and serial: 1 to 64 (128) of A-Z a-z 0-9 . _ -");
		goto out;
	}
	if (strlen(address) >= sizeof(((struct reg_device *)0)->address) ||
	    h2o_url_parse(address, strlen(address), &url) ||
	    !h2o_memis(url.path.base, url.path.len, H2O_STRLIT("/"))) {
		api_fail(req, 400, "address: want http://HOST:PORT or https://HOST:PORT");
		goto out;
	}
	id = reg_device_add(s->reg, who->org, name, serial, address, pubkey, secret);
	if (id == -EEXIST)
		api_fail(req, 409, "a device named '%s' or with serial '%s' is enrolled", name,
			 serial);
	else if (id < 0)
		api_fail(req, 500, "registry: %s", reg_errmsg(s->reg));
	else {
		json_t *d = reg_devices_json(s->reg, who->org, name), *o = json_array_get(d, 0);

		json_object_set_new(o, "secret", json_string(secret));
		json_incref(o);
		api_json(req, 201, o);
		json_decref(d);
		server_log("%s/%s enrolled device %s (%s) at %s", who->org_name, who->name, name,
			   serial, address);
	}
out:
	json_decref(j);
	return 0;
}

/* PATCH /api/v1/devices/NAME {enabled}: a disabled device cannot register
 * with the tunnel (its current registration ends) nor be captured from. */
static int devices_patch(struct server *s, h2o_req_t *req, const struct reg_admin *who,
			 const char *name)
{
	static const char *const keys[] = {"enabled", NULL};
	json_t *j = body_json(req), *v, *d;
	int r;

	if (!j)
		return 0;
	if (known_keys(req, j, keys))
		goto out;
	v = json_object_get(j, "enabled");
	if (!json_is_boolean(v)) {
		api_fail(req, 400, "enabled: want true or false");
		goto out;
	}
	r = reg_device_enable(s->reg, who->org, name, json_is_true(v));
	if (r == -ENOENT) {
		api_fail(req, 404, "no device '%s'", name);
		goto out;
	}
	if (r) {
		api_fail(req, 500, "registry: %s", reg_errmsg(s->reg));
		goto out;
	}
	if (!json_is_true(v))
		tunnel_device_gone(s, who->org, name);
	d = reg_devices_json(s->reg, who->org, name);
	json_incref(json_array_get(d, 0));
	api_json(req, 200, json_array_get(d, 0));
	json_decref(d);
	server_log("%s/%s %s device %s", who->org_name, who->name,
		   json_is_true(v) ? "enabled" : "disabled", name);
out:
	json_decref(j);
	return 0;
}

static int filter_compile(struct server *s, h2o_req_t *req)
{
	static const char *const keys[] = {"expression", "snaplen", NULL};
	struct ecap_cbpf prog = {0};
	char err[ECAP_ERRLEN], *listing;
	json_t *j = body_json(req);
	const char *expr;
	int64_t snaplen = ECAP_SNAPLEN_DEFAULT;
	int bad = 0;

	if (!j)
		return 0;
	if (known_keys(req, j, keys) || !(expr = str_field(req, j, "expression", 1, &bad)) ||
	    int_field(req, j, "snaplen", 1, ECAP_SNAPLEN_MAX, &snaplen))
		goto out;
	if (ecap_filter_compile(expr, ECAP_LINKTYPE_EN10MB, (uint32_t)snaplen, &prog, err,
				sizeof(err))) {
		api_fail(req, 400, "%s", err);
		goto out;
	}
	listing = ecap_cbpf_listing(&prog);
	api_json(req, 200,
		 json_pack("{s:s,s:i,s:s}", "expression", expr, "instructions", (int)prog.len,
			   "listing", listing ? listing : ""));
	free(listing);
out:
	ecap_cbpf_free(&prog);
	json_decref(j);
	return 0;
}

/* {"devices": [..], "expression": "..", "snaplen": N, "count": N, "duration": S,
 *  "interfaces": [..], "direction": "in|out|inout"} */
static int captures_start(struct server *s, h2o_req_t *req, const struct reg_admin *who)
{
	static const char *const keys[] = {"devices",    "expression", "snaplen",   "count",
					   "duration",   "interfaces", "direction", NULL};
	struct capture_req c = {.dir = "inout"};
	struct ecap_cbpf prog = {0};
	char err[ECAP_ERRLEN];
	json_t *j = body_json(req), *devs, *ifs, *v;
	const char *expr = "";
	int64_t snaplen = ECAP_SNAPLEN_DEFAULT, count = 0, duration = 0, id;
	size_t i;
	int bad = 0;

	if (!j)
		return 0;
	c.request = j;
	if (known_keys(req, j, keys) ||
	    (!(expr = str_field(req, j, "expression", 0, &bad)) && bad) ||
	    (!(c.dir = str_field(req, j, "direction", 0, &bad)) && bad) ||
	    int_field(req, j, "snaplen", 1, ECAP_SNAPLEN_MAX, &snaplen) ||
	    int_field(req, j, "count", 0, INT64_MAX, &count) ||
	    int_field(req, j, "duration", 0, 86400, &duration))
		goto out;
	if (!expr)
		expr = "";
	if (!c.dir)
		c.dir = "inout";
	if (strcmp(c.dir, "in") && strcmp(c.dir, "out") && strcmp(c.dir, "inout")) {
		api_fail(req, 400, "direction: in, out or inout");
		goto out;
	}
	devs = json_object_get(j, "devices");
	if (!json_is_array(devs) || !json_array_size(devs) || json_array_size(devs) > 256) {
		api_fail(req, 400, "devices: want an array of 1 to 256 device names");
		goto out;
	}
	ifs = json_object_get(j, "interfaces");
	if (ifs && (!json_is_array(ifs) || json_array_size(ifs) > 8)) {
		api_fail(req, 400, "interfaces: want an array of at most 8 names");
		goto out;
	}
	json_array_foreach(ifs, i, v) {
		size_t at = strlen(c.ifaces);

		if (!json_is_string(v) || !valid_name(json_string_value(v), 15)) {
			api_fail(req, 400, "interfaces: not an interface name");
			goto out;
		}
		snprintf(c.ifaces + at, sizeof(c.ifaces) - at, "%s%s", at ? "," : "",
			 json_string_value(v));
	}
	c.devs = calloc(json_array_size(devs), sizeof(*c.devs));
	if (!c.devs) {
		api_fail(req, 500, "out of memory");
		goto out;
	}
	json_array_foreach(devs, i, v) {
		const char *name = json_string_value(v);

		if (!name || !valid_name(name, REG_NAME_MAX) ||
		    reg_device_get(s->reg, who->org, name, &c.devs[c.ndevs])) {
			api_fail(req, 400, "devices: no device '%s'", name ? name : "(not a string)");
			goto out;
		}
		for (unsigned k = 0; k < c.ndevs; k++)
			if (c.devs[k].id == c.devs[c.ndevs].id) {
				api_fail(req, 400, "devices: '%s' twice", name);
				goto out;
			}
		if (!c.devs[c.ndevs].enabled) {
			api_fail(req, 400, "devices: '%s' is disabled", name);
			goto out;
		}
		c.ndevs++;
	}
	if (ecap_filter_compile(expr, ECAP_LINKTYPE_EN10MB, (uint32_t)snaplen, &prog, err,
				sizeof(err)) ||
	    ecap_cbpf_validate(prog.insns, prog.len, err, sizeof(err))) {
		api_fail(req, 400, "expression: %s", err);
		goto out;
	}
	c.bpf = ecap_cbpf_param(&prog);
	c.snaplen = (uint32_t)snaplen;
	c.count = (uint64_t)count;
	c.duration = (uint32_t)duration;
	id = c.bpf ? capture_start(s, who, &c, err, sizeof(err)) : -ENOMEM;
	if (id < 0) {
		api_fail(req, 500, "%s", id == -ENOMEM ? "out of memory" : err);
		goto out;
	}
	v = reg_captures_json(s->reg, who->org, id);
	if (v) {
		char link[64];

		snprintf(link, sizeof(link), PREFIX "captures/%lld", (long long)id);
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL,
			       h2o_strdup(&req->pool, link, SIZE_MAX).base, strlen(link));
	}
	api_json(req, 201, v);
out:
	free(c.bpf);
	free(c.devs);
	ecap_cbpf_free(&prog);
	json_decref(j);
	return 0;
}

/* The bearer token's administrator: 0, or the 401 is sent. */
static int authenticate(struct server *s, h2o_req_t *req, struct reg_admin *who)
{
	ssize_t at = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
	const char *why = "no Authorization header";

	if (at >= 0) {
		h2o_iovec_t v = req->headers.entries[at].value;

		why = "want Authorization: Bearer TOKEN";
		if (v.len > 7 && !strncasecmp(v.base, "Bearer ", 7)) {
			int r = reg_admin_by_token(s->reg, v.base + 7, v.len - 7, who);

			if (!r)
				return 0;
			why = r == -ENOENT ? "unknown token" : "registry unavailable";
		}
	}
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
		       H2O_STRLIT("Bearer realm=\"edgecap\""));
	api_fail(req, 401, "%s", why);
	return -1;
}

static int method(h2o_req_t *req, const char *m)
{
	return h2o_memis(req->method.base, req->method.len, m, strlen(m));
}

static int not_allowed(h2o_req_t *req, const char *allow)
{
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, allow, strlen(allow));
	return api_fail(req, 405, "method not allowed here (%s)", allow);
}

/* "123" -> 123; else 0. */
static int64_t capture_id(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	return (*end || v <= 0 || !isdigit((unsigned char)*s)) ? 0 : v;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct server *s = ((struct api *)self)->s;
	h2o_iovec_t p = req->path_normalized;
	struct reg_admin who;
	char path[256], *seg[4] = {0};
	int n = 0;

	if (p.len < sizeof(PREFIX) - 1 || memcmp(p.base, PREFIX, sizeof(PREFIX) - 1) ||
	    p.len - (sizeof(PREFIX) - 1) >= sizeof(path))
		return api_fail(req, 404, "not found");
	memcpy(path, p.base + sizeof(PREFIX) - 1, p.len - (sizeof(PREFIX) - 1));
	path[p.len - (sizeof(PREFIX) - 1)] = 0;
	for (char *save = NULL, *t = strtok_r(path, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (n == 4)
			return api_fail(req, 404, "not found");
		seg[n++] = t;
	}
	if (authenticate(s, req, &who))
		return 0;
	if (n >= 1 && !strcmp(seg[0], "devices")) {
		if (n == 1) {
			if (method(req, "GET"))
				return api_json(req, 200, reg_devices_json(s->reg, who.org, NULL));
			if (method(req, "POST"))
				return devices_add(s, req, &who);
			return not_allowed(req, "GET, POST");
		}
		if (n == 2) {
			json_t *d;

			if (method(req, "DELETE")) {
				int r = reg_device_delete(s->reg, who.org, seg[1]);

				if (!r) /* its management address may go to another device now */
					tunnel_device_gone(s, who.org, seg[1]);
				if (r == -ENOENT)
					return api_fail(req, 404, "no device '%s'", seg[1]);
				if (r == -EBUSY)
					return api_fail(req, 409, "device '%s' has captures", seg[1]);
				if (r)
					return api_fail(req, 500, "registry: %s", reg_errmsg(s->reg));
				return api_json(req, 200, json_pack("{s:s}", "deleted", seg[1]));
			}
			if (method(req, "PATCH"))
				return devices_patch(s, req, &who, seg[1]);
			if (!method(req, "GET"))
				return not_allowed(req, "GET, PATCH, DELETE");
			d = reg_devices_json(s->reg, who.org, seg[1]);
			if (!json_array_size(d)) {
				json_decref(d);
				return api_fail(req, 404, "no device '%s'", seg[1]);
			}
			tunnel_device_json(s, who.org, seg[1], json_array_get(d, 0));
			json_incref(json_array_get(d, 0));
			api_json(req, 200, json_array_get(d, 0));
			json_decref(d);
			return 0;
		}
	}
	if (n == 2 && !strcmp(seg[0], "filters") && !strcmp(seg[1], "compile"))
		return method(req, "POST") ? filter_compile(s, req) : not_allowed(req, "POST");
	if (n >= 1 && !strcmp(seg[0], "captures")) {
		int64_t id = n >= 2 ? capture_id(seg[1]) : 0;

		if (n == 1) {
			if (method(req, "GET"))
				return api_json(req, 200, reg_captures_json(s->reg, who.org, 0));
			if (method(req, "POST"))
				return s->stopping ? api_fail(req, 503, "stopping")
						   : captures_start(s, req, &who);
			return not_allowed(req, "GET, POST");
		}
		if (!id)
			return api_fail(req, 404, "no capture '%s'", seg[1]);
		if (n == 2) {
			json_t *c;

			if (method(req, "DELETE")) {
				if (capture_stop(s, who.org, id))
					return api_fail(req, 404, "no running capture %lld",
							(long long)id);
			} else if (!method(req, "GET")) {
				return not_allowed(req, "GET, DELETE");
			}
			c = reg_captures_json(s->reg, who.org, id);
			if (!c)
				return api_fail(req, 404, "no capture %lld", (long long)id);
			return api_json(req, 200, c);
		}
		if (n == 3 && (!strcmp(seg[2], "pcap") || !strcmp(seg[2], "text"))) {
			if (!method(req, "GET"))
				return not_allowed(req, "GET");
			return capture_follow(s, req, who.org, id, !strcmp(seg[2], "text"));
		}
	}
	return api_fail(req, 404, "not found");
}

void api_init(struct server *s, h2o_hostconf_t *host)
{
	h2o_pathconf_t *conf = h2o_config_register_path(host, "/", 0);
	struct api *a = (struct api *)h2o_create_handler(conf, sizeof(*a));

	a->super.on_req = on_req;
	a->s = s;
}
