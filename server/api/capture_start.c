/* capture_start.c - POST /api/v1/captures: a capture's request checked
 * (devices, each with its interfaces or the request's, checked against what
 * the device reported; direction, limits, reason), its expression compiled
 * off the loop for each link type the devices may have, then the capture
 * started (service/capture.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "common/bounds.h"
#include "filter/cbpf.h"
#include "api/co.h"
#include "filter/compile.h"

#define DEVICES_MAX	   256 /* in one capture */
#define IFNAME_MAX	   15
#define CAPTURE_REASON_MAX 512 /* bytes of why, kept in the audit log */

/* The interfaces as the agent's iface parameter into ret: 0 or -1 with the
 * 400 sent, naming field. */
static int interfaces(h2o_req_t *req, const char *field, json_t *ifs, char *ret, size_t len)
{
	json_t *v;
	size_t i;

	ret[0] = 0;
	if (ifs && (!json_is_array(ifs) || json_array_size(ifs) > ECAP_CAPTURE_IFACES_MAX)) {
		srv_fail(req, 400, "%s: want an array of at most %u names", field,
			 ECAP_CAPTURE_IFACES_MAX);
		return -1;
	}
	json_array_foreach(ifs, i, v) {
		size_t at = strlen(ret);

		if (!json_is_string(v) || !srv_valid_name(json_string_value(v), IFNAME_MAX)) {
			srv_fail(req, 400, "%s: not an interface name", field);
			return -1;
		}
		/* every interface a device serves, as tcpdump -i any: alone */
		if (!strcmp(json_string_value(v), "any") && json_array_size(ifs) > 1) {
			srv_fail(req, 400,
				 "%s: any (every interface, as tcpdump -i any) is given alone",
				 field);
			return -1;
		}
		snprintf(ret + at, len - at, "%s%s", at ? "," : "", json_string_value(v));
	}
	return 0;
}

#define IFACES_LEN (ECAP_CAPTURE_IFACES_MAX * (IFNAME_MAX + 1) + 1)

/* Does the device's last report list each of ifs ("IF,IF")? 0, or -1 with
 * the 409 sent. A device that never reported is left to refuse itself. A
 * report is up to an interval old, and an agent may have been started with
 * other interfaces since: on a mismatch the device is asked again at once,
 * and the answer says so. */
static int reported(struct srv_api *api, h2o_req_t *req, const struct reg_device *d,
		    const char *ifs)
{
	char *text = NULL, *error = NULL, *list = strdupa(ifs), *save = NULL, names[512] = "";
	json_t *r, *i;
	int64_t when;
	size_t k;
	int bad = 0;

	if (!ifs[0] || !strcmp(ifs, "any") ||
	    reg_device_report_get(api->reg, d->id, &text, &when, &error) || !text) {
		free(text);
		free(error);
		return 0;
	}
	r = json_loads(text, 0, NULL);
	json_array_foreach(json_object_get(r, "interfaces"), k, i) {
		size_t at = strlen(names);

		snprintf(names + at, sizeof(names) - at, "%s%s", at ? ", " : "",
			 json_string_value(json_object_get(i, "name")) ?: "?");
	}
	for (char *t = strtok_r(list, ",", &save);
	     t && !bad && json_is_array(json_object_get(r, "interfaces"));
	     t = strtok_r(NULL, ",", &save)) {
		int found = 0;

		json_array_foreach(json_object_get(r, "interfaces"), k, i)
			found |= !strcmp(json_string_value(json_object_get(i, "name")) ?: "", t);
		if (!found) {
			srv_fail(
			    req, 409,
			    "interfaces: %s has no interface '%s' (it reported %s, %lld s ago; "
			    "asked again now: try again in a few seconds if it has one since)",
			    d->name, t, names[0] ? names : "none", (long long)(time(NULL) - when));
			reg_device_polled(api->reg, d->id, 0); /* due at the next tick */
			bad = 1;
		}
	}
	json_decref(r);
	free(text);
	free(error);
	return bad ? -1 : 0;
}

/* The devices named, each the organization's, enabled, and once: a
 * malloc'ed array of *n, or NULL with the 400 (or 503) sent. An entry is a
 * name, or {"name", "interfaces"}: that device's own interfaces (each in
 * ifs, "" for the request's). */
static struct reg_device *devices(struct srv_api *api, h2o_req_t *req, int64_t org, json_t *devs,
				  unsigned *n, char (**ifs)[IFACES_LEN])
{
	static const char *const keys[] = {"name", "interfaces", NULL};
	struct reg_device *d;
	json_t *v;
	size_t i;

	if (!json_is_array(devs) || !json_array_size(devs) || json_array_size(devs) > DEVICES_MAX) {
		srv_fail(req, 400, "devices: want an array of 1 to %d device names", DEVICES_MAX);
		return NULL;
	}
	d = calloc(json_array_size(devs), sizeof(*d));
	*ifs = calloc(json_array_size(devs), sizeof(**ifs));
	if (!d || !*ifs) {
		srv_fail(req, 503, "out of memory");
		goto fail;
	}
	*n = 0;
	json_array_foreach(devs, i, v) {
		const char *name = json_is_object(v) ? json_string_value(json_object_get(v, "name"))
						     : json_string_value(v);
		char field[96];

		if (json_is_object(v)) {
			const char *k;
			json_t *x;

			json_object_foreach(v, k, x) {
				int known = 0;

				for (const char *const *p = keys; *p; p++)
					known |= !strcmp(k, *p);
				if (!known) {
					srv_fail(req, 400,
						 "devices: '%s' is not a device's field "
						 "(name, interfaces)",
						 k);
					goto fail;
				}
			}
		}
		if (!name || !srv_valid_name(name, REG_NAME_MAX) ||
		    reg_device_get(api->reg, org, name, &d[*n])) {
			srv_fail(req, 400, "devices: no device '%s'",
				 name ? name : "(want a name, or {name, interfaces})");
			goto fail;
		}
		for (unsigned k = 0; k < *n; k++)
			if (d[k].id == d[*n].id) {
				srv_fail(req, 400, "devices: '%s' twice", name);
				goto fail;
			}
		if (!d[*n].enabled) {
			srv_fail(req, 400, "devices: '%s' is disabled", name);
			goto fail;
		}
		snprintf(field, sizeof(field), "devices: %s: interfaces", name);
		if (json_is_object(v) && interfaces(req, field, json_object_get(v, "interfaces"),
						    (*ifs)[*n], IFACES_LEN))
			goto fail;
		(*n)++;
	}
	return d;
fail:
	free(d);
	free(*ifs);
	*ifs = NULL;
	return NULL;
}

/* A capture's start while its expression compiles: what was checked. */
struct start {
	struct srv_compiling x;
	struct reg_user who;
	json_t *j; /* the body, as the capture's request */
	struct reg_device *devs;
	unsigned ndevs;
	char ifaces[IFACES_LEN];     /* the request's */
	char (*dev_ifs)[IFACES_LEN]; /* each device's: its own, or the request's */
	const char **dev_ifaces;     /* pointers to them, for the capture */
	const char *dir, *expr;	     /* in j */
	int64_t snaplen, count, duration;
	/* the link types to compile for, in the order they are offered to a
	 * device (the first is what its interfaces most likely are: EN10MB, or
	 * LINUX_SLL2 for ["any"]), each one's program (NULL: it has no meaning
	 * there, "ether host" without a link layer), the one compiling */
	int lts[SRV_CAPTURE_LINKTYPES];
	char *bpf[SRV_CAPTURE_LINKTYPES];
	unsigned nlts, at;
};

/* A prepared capture launched (srv_co_inline) */
struct go {
	struct srv_api *api;
	struct srv_capture_prep *prep;
	const struct reg_user *who;
	const struct srv_capture_req *c;
	char *err;
	size_t errlen;
	int r;
};

static void go(void *arg)
{
	struct go *g = arg;

	g->r = srv_capture_launch(g->api->captures, g->prep, g->who, g->c, g->err, g->errlen);
}

/* Every program is there: the capture starts, on a coroutine when one is
 * free. Its registry statements wait there (srv_capture_prepare: one or
 * more for each of up to 256 devices); its loop objects are made after
 * the last of them, as on the loop (srv_capture_launch). */
static void launch(void *arg)
{
	struct start *s = arg;
	struct srv_api *api = s->x.api;
	h2o_req_t *req = s->x.req;
	char err[ECAP_ERRLEN], *text = NULL;
	struct srv_capture_req c = {.devs = s->devs,
				    .ndevs = s->ndevs,
				    .ifaces = s->ifaces,
				    .dev_ifaces = s->dev_ifaces,
				    .dir = s->dir,
				    .snaplen = (uint32_t)s->snaplen,
				    .duration = (uint32_t)s->duration,
				    .count = (uint64_t)s->count};
	struct go g = {.api = api, .who = &s->who, .c = &c, .err = err, .errlen = sizeof(err)};
	int64_t id;

	srv_http_set_who(s->x.who);
	if (api->stopping) {
		srv_fail(req, 503, "the server is stopping");
		goto out;
	}
	for (unsigned i = 0; i < s->nlts; i++)
		if (s->bpf[i])
			c.progs[c.nprogs++] = (struct srv_capture_prog){
			    .linktype = ecap_linktype_name(s->lts[i]), .bpf = s->bpf[i]};
	text = json_dumps(s->j, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text) {
		srv_fail(req, 503, "out of memory");
		goto out;
	}
	c.request = text;
	id = srv_capture_prepare(api->captures, &s->who, &c, &g.prep, err, sizeof(err));
	if (id >= 0)
		srv_co_inline(go, &g);
	srv_http_set_who(s->x.who); /* (another's, while this one waited) */
	if (id < 0 || g.r) {
		srv_fail(req,
			 id == -EUSERS					? 429
			 : id == -EDQUOT || id == -ENOSPC		? 507
			 : id == -EIO && strncmp(err, "registry: ", 10) ? 500
									: 503,
			 "%s", err);
		goto out;
	}
	{
		char link[64];

		snprintf(link, sizeof(link), "/api/v1/captures/%lld", (long long)id);
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LOCATION, NULL,
			       h2o_strdup(&req->pool, link, SIZE_MAX).base, strlen(link));
	}
	/* the request as kept, its reason with it */
	srv_capture_audit(api, req, &s->who, "capture_started", id, json_deep_copy(s->j));
	srv_capture_reply(api, req, s->who.org, id, 201);
out:
	srv_http_set_who(NULL);
	free(text);
}

static void compiled(void *data, int err, struct ecap_cbpf *prog, const char *msg);

/* The next link type compiled, or the capture started once all are. */
static void compile_next(struct start *s)
{
	while (++s->at < s->nlts)
		if (!srv_compile_submit(s->x.api->compiler, s->expr, s->lts[s->at],
					(uint32_t)s->snaplen, compiled, s, &s->x.job))
			return;
	/* (or the queue is full, the worker gone: with what there is) */
	if (!srv_co_run(launch, s))
		launch(s);
}

/* The expression compiled for another link type than the first, for
 * devices whose interfaces have it (an agent refuses a program for another
 * type, and the capture is sent to it again with this one): one that has
 * no meaning there ("ether host" without a link layer) leaves those
 * interfaces to fail with the agent's reason; the others capture all the
 * same. */
static void compiled(void *data, int err, struct ecap_cbpf *prog, const char *msg)
{
	struct start *s = data;
	char verr[ECAP_ERRLEN];

	s->x.job = NULL;
	srv_http_set_who(s->x.who);
	if (err == -ECANCELED)
		srv_fail(s->x.req, 503, "the server is stopping");
	else if (!err && !ecap_cbpf_validate(prog->insns, prog->len, verr, sizeof(verr)) &&
		 !(s->bpf[s->at] = ecap_cbpf_param(prog)))
		srv_fail(s->x.req, 503, "out of memory");
	else
		compile_next(s);
	if (!err)
		ecap_cbpf_free(prog);
	srv_http_set_who(NULL);
}

/* The expression compiled for the first link type: its errors are the
 * request's. */
static void start_done(struct srv_compiling *x, struct ecap_cbpf *prog)
{
	struct start *s = (struct start *)x;
	char err[ECAP_ERRLEN];

	if (ecap_cbpf_validate(prog->insns, prog->len, err, sizeof(err))) {
		srv_fail(x->req, 400, "expression: %s", err);
		return;
	}
	s->bpf[0] = ecap_cbpf_param(prog);
	if (!s->bpf[0]) {
		srv_fail(x->req, 503, "out of memory");
		return;
	}
	compile_next(s);
}

static void start_release(struct srv_compiling *x)
{
	struct start *s = (struct start *)x;

	json_decref(s->j);
	free(s->devs);
	free(s->dev_ifs);
	free(s->dev_ifaces);
	for (unsigned i = 0; i < SRV_CAPTURE_LINKTYPES; i++)
		free(s->bpf[i]);
}

/* {"devices": [NAME or {"name", "interfaces"}..], "expression": "..", "snaplen": N,
 *  "count": N, "duration": S, "interfaces": [..], "direction": "in|out|inout"}:
 * checked here (each device's interfaces against its last report), then the
 * expression compiled off the loop, then the capture started (start_done). */
int srv_captures_start(struct srv_api *api, h2o_req_t *req, const struct reg_user *who,
		       char **params)
{
	static const char *const keys[] = {"devices",	"expression", "snaplen",
					   "count",	"duration",   "interfaces",
					   "direction", "reason",     NULL};
	struct reg_device *devs = NULL;
	char ifaces[IFACES_LEN], (*difs)[IFACES_LEN] = NULL;
	const char **dptr = NULL;
	struct start *s;
	unsigned ndevs = 0, nany = 0;
	json_t *j;
	const char *expr, *dir, *reason;
	int64_t snaplen = ECAP_SNAPLEN_DEFAULT, count = 0, duration = api->duration;

	if (api->stopping)
		return srv_fail(req, 503, "the server is stopping");
	j = srv_body(req);
	if (!j)
		return 0;
	if (srv_known_keys(req, j, keys) || srv_str_field(req, j, "expression", 0, &expr) ||
	    srv_str_field(req, j, "direction", 0, &dir) ||
	    srv_str_field(req, j, "reason", 0, &reason) ||
	    srv_int_field(req, j, "snaplen", 1, ECAP_SNAPLEN_MAX, &snaplen) ||
	    srv_int_field(req, j, "count", 0, INT64_MAX, &count) ||
	    srv_int_field(req, j, "duration", 1, api->duration_max, &duration))
		goto fail;
	/* every capture ends: kept with the duration it runs for */
	json_object_set_new(j, "duration", json_integer(duration));
	if (!expr)
		expr = "";
	if (!dir)
		dir = "inout";
	if (reason && strlen(reason) > CAPTURE_REASON_MAX) {
		srv_fail(req, 400, "reason: at most %d bytes", CAPTURE_REASON_MAX);
		goto fail;
	}
	if (strcmp(dir, "in") && strcmp(dir, "out") && strcmp(dir, "inout")) {
		srv_fail(req, 400, "direction: in, out or inout");
		goto fail;
	}
	if (interfaces(req, "interfaces", json_object_get(j, "interfaces"), ifaces,
		       sizeof(ifaces)) ||
	    !(devs = devices(api, req, who->org, json_object_get(j, "devices"), &ndevs, &difs)))
		goto fail;
	/* each device's interfaces, its own or the request's, as it reported them */
	if (!(dptr = calloc(ndevs, sizeof(*dptr)))) {
		srv_fail(req, 503, "out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < ndevs; i++) {
		if (!difs[i][0])
			memcpy(difs[i], ifaces, sizeof(ifaces));
		dptr[i] = difs[i];
		nany += !strcmp(difs[i], "any");
		if (reported(api, req, &devs[i], difs[i]))
			goto fail;
	}
	s = (struct start *)srv_compiling_new(api, req, who, sizeof(*s));
	/* the request's from here on */
	s->who = *who;
	s->j = j;
	s->devs = devs;
	s->ndevs = ndevs;
	memcpy(s->ifaces, ifaces, sizeof(ifaces));
	s->dev_ifs = difs;
	s->dev_ifaces = dptr;
	s->dir = dir;
	s->expr = expr;
	s->snaplen = snaplen;
	s->count = count;
	s->duration = duration;
	s->x.done = start_done;
	s->x.release = start_release;
	if (nany == ndevs) { /* one link type: the cooked header */
		s->lts[s->nlts++] = ECAP_LINKTYPE_LINUX_SLL2;
	} else { /* (and the cooked one for the devices captured on any) */
		s->lts[s->nlts++] = ECAP_LINKTYPE_EN10MB;
		s->lts[s->nlts++] = ECAP_LINKTYPE_RAW;
		s->lts[s->nlts++] = ECAP_LINKTYPE_LINUX_SLL;
		if (nany)
			s->lts[s->nlts++] = ECAP_LINKTYPE_LINUX_SLL2;
	}
	s->x.linktype = s->lts[0];
	srv_compiling_start(&s->x, expr, (uint32_t)snaplen);
	return 0;
fail:
	free(devs);
	free(difs);
	free(dptr);
	json_decref(j);
	return 0;
}
